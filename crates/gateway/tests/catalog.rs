//! The catalogue through the API of the real binary: persistence across
//! restarts (SQLite), the five-level tree, deletion stopping the pull, bulk
//! registration, and bad input answered with clear 4xx and nothing stored.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn api(gw: &Gw, path: &str) -> String {
    format!("http://127.0.0.1:{}/api/v1{path}", gw.http)
}

fn get_json(url: &str) -> (u16, Value) {
    let (s, b) = http("GET", url, None, None);
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

fn send_json(method: &str, url: &str, v: &Value) -> (u16, Value) {
    let (s, b) = http(
        method,
        url,
        Some("application/json"),
        Some(v.to_string().as_bytes()),
    );
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

fn counts(gw: &Gw, area: &str, child: &str) -> (u64, u64) {
    let (s, v) = get_json(&api(gw, &format!("/areas/{area}")));
    assert_eq!(s, 200, "{v}");
    let c = v["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == child)
        .cloned()
        .unwrap();
    (
        c["cameras"]["total"].as_u64().unwrap(),
        c["cameras"]["online"].as_u64().unwrap(),
    )
}

#[test]
fn api_camera_survives_restart_and_delete_stops_its_pull() {
    let cam_port = free_port();
    let _cam = camsim(cam_port, &[("a", "h264-aac-720p")]);
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().to_owned();
    let gw = gateway_in(dir, "", "");

    // The tree has all five levels of Guangxi and no camera yet.
    assert_eq!(counts(&gw, "450102001", "450102001003"), (0, 0));
    let (s, v) = send_json(
        "POST",
        &api(&gw, "/cameras"),
        &json!({"name": "兴宁社区 东门", "area": "450102001003", "url": format!("rtsp://127.0.0.1:{cam_port}/a"),
                "tags": ["gate"], "latitude": 22.82, "longitude": 108.37}),
    );
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("450102"), "id assigned from the area: {id}");
    assert_eq!(v["source"], "api");
    let t = Instant::now();
    while counts(&gw, "450102001", "450102001003") != (1, 1) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "camera never online in the tree"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Up the tree too.
    assert_eq!(counts(&gw, "4501", "450102"), (1, 1));
    let (_, one) = get_json(&api(&gw, &format!("/cameras/{id}")));
    assert_eq!(one["state"]["codec"], "H264");
    assert_eq!(one["state"]["width"], 1280);

    // Restart on the same data dir.
    let dir = gw.dir;
    let mut proc = gw.proc;
    proc.kill();
    let _ = keep;
    let gw = gateway_in(dir, "", "");
    let (s, v) = get_json(&api(&gw, &format!("/cameras/{id}")));
    assert_eq!(s, 200, "camera lost across restart: {v}");
    assert_eq!(v["name"], "兴宁社区 东门");
    assert_eq!(v["tags"][0], "gate");
    let t = Instant::now();
    while counts(&gw, "450102001", "450102001003") != (1, 1) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "camera not back online after restart"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(connections_to(cam_port), 1);

    // Delete: gone from the tree, the pull stops.
    let (s, _) = http("DELETE", &api(&gw, &format!("/cameras/{id}")), None, None);
    assert_eq!(s, 204);
    assert_eq!(counts(&gw, "450102001", "450102001003"), (0, 0));
    assert_eq!(get_json(&api(&gw, &format!("/cameras/{id}"))).0, 404);
    let t = Instant::now();
    while connections_to(cam_port) > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "pull still open after delete"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bulk_is_idempotent_and_all_or_nothing() {
    let gw = gateway("", "");
    let cams: Vec<Value> = (1..=20)
        .map(|i| {
            json!({"id": format!("450102000013200{i:05}"), "name": format!("摄像机 {i}"),
                   "area": "450102001003", "url": "clip:h264-aac-720p", "mode": "on-demand"})
        })
        .collect();
    let (s, v) = send_json(
        "POST",
        &api(&gw, "/cameras:bulk"),
        &Value::Array(cams.clone()),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["inserted"], 20);
    let (s, v) = send_json(
        "POST",
        &api(&gw, "/cameras:bulk"),
        &Value::Array(cams.clone()),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["inserted"], 0, "idempotent: {v}");
    assert_eq!(v["unchanged"], 20);

    // One bad row among good new ones: nothing stored, the row named.
    let mut mixed: Vec<Value> = (21..=25)
        .map(|i| json!({"id": format!("450102000013200{i:05}"), "name": "x", "area": "450102001003", "url": "clip:h264-aac-720p"}))
        .collect();
    mixed.push(json!({"name": "bad", "area": "450199", "url": "clip:h264-aac-720p"}));
    let (s, v) = send_json("POST", &api(&gw, "/cameras:bulk"), &Value::Array(mixed));
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "rows");
    assert_eq!(v["error"]["rows"][0]["row"], 5);
    assert_eq!(v["error"]["rows"][0]["field"], "area");
    let (_, list) = get_json(&api(&gw, "/cameras?area=450102001003&limit=1000"));
    assert_eq!(list["total"], 20, "partially stored: {list}");

    // CSV with a broken row: nothing stored.
    let csv = "id,name,area,url,username,password,transport,mode,tags,latitude,longitude\n\
               45010200001320000031,a,450102001003,clip:h264-aac-720p,,,tcp,on-demand,,,\n\
               4501020000132000003,short id,450102001003,clip:h264-aac-720p,,,tcp,on-demand,,,\n\
               45010200001320000033,c,450102001003,ftp://x,,,tcp,on-demand,,,\n";
    let (s, b) = http(
        "POST",
        &api(&gw, "/cameras:bulk"),
        Some("text/csv"),
        Some(csv.as_bytes()),
    );
    assert_eq!(s, 422, "{b}");
    let (_, list) = get_json(&api(&gw, "/cameras?area=450102001003&limit=1000"));
    assert_eq!(list["total"], 20);
    // A good CSV goes in whole.
    let good = "id,name,area,url,username,password,transport,mode,tags,latitude,longitude\n\
                45010200001320000031,a,450102001003,clip:h264-aac-720p,,,tcp,on-demand,x|y,22.8,108.3\n\
                ,assigned id,450102001,clip:h264-aac-720p,,,tcp,on-demand,,,\n";
    let (s, b) = http(
        "POST",
        &api(&gw, "/cameras:bulk"),
        Some("text/csv"),
        Some(good.as_bytes()),
    );
    assert_eq!(s, 200, "{b}");
    let (_, list) = get_json(&api(&gw, "/cameras?area=450102001&limit=1000"));
    assert_eq!(list["total"], 22);

    // Pagination walks everything exactly once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = get_json(&api(
            &gw,
            &format!("/cameras?area=450102&limit=7&cursor={cursor}"),
        ));
        assert_eq!(s, 200, "{page}");
        for c in page["items"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let mut dedup = seen.clone();
    dedup.dedup();
    assert_eq!(seen.len(), 22);
    assert_eq!(dedup.len(), 22);
    // Filters.
    let (_, v) = get_json(&api(&gw, "/cameras?level=township"));
    assert_eq!(v["total"], 1);
    let (_, v) = get_json(&api(&gw, "/cameras?q=%E6%91%84%E5%83%8F%E6%9C%BA%2012"));
    assert_eq!(v["total"], 1, "{v}");
}

#[test]
fn bad_input_gets_clear_4xx_and_nothing_stored() {
    let gw = gateway("", "");
    let post = |body: &[u8], ct: &str| http("POST", &api(&gw, "/cameras"), Some(ct), Some(body));
    let code =
        |b: &str| serde_json::from_str::<Value>(b).unwrap_or(Value::Null)["error"]["code"].clone();

    let (s, b) = post(b"{\"name\": \"x\", ", "application/json");
    assert_eq!((s, code(&b)), (400, json!("bad_request")), "{b}");
    let (s, b) = post(
        br#"{"id": "123", "name": "x", "area": "450102", "url": "rtsp://192.0.2.1/"}"#,
        "application/json",
    );
    assert_eq!((s, code(&b)), (400, json!("invalid_id")), "{b}");
    let (s, b) = post(br#"{"id": "450102000011100000001", "name": "x", "area": "450102", "url": "rtsp://192.0.2.1/"}"#, "application/json");
    assert_eq!((s, code(&b)), (400, json!("invalid_id")), "{b}");
    let (s, b) = post(
        br#"{"name": "x", "area": "450199", "url": "rtsp://192.0.2.1/"}"#,
        "application/json",
    );
    assert_eq!((s, code(&b)), (422, json!("unknown_area")), "{b}");
    let (s, b) = post(
        br#"{"name": "x", "area": "4501x", "url": "rtsp://192.0.2.1/"}"#,
        "application/json",
    );
    assert_eq!((s, code(&b)), (400, json!("invalid_area")), "{b}");
    let (s, b) = post(
        br#"{"name": "x", "area": "450102", "url": "rtsp://u:p@192.0.2.1/"}"#,
        "application/json",
    );
    assert_eq!(s, 400, "{b}");
    let (s, b) = post(
        br#"{"name": "x", "area": "450102", "url": "rtsp://192.0.2.1/", "colour": "red"}"#,
        "application/json",
    );
    assert_eq!(s, 400, "unknown field: {b}");
    // 10 MB body.
    let big = vec![b' '; 10 << 20];
    let (s, b) = post(&big, "application/json");
    assert_eq!((s, code(&b)), (413, json!("too_large")), "{b}");
    let (s, b) = http(
        "POST",
        &api(&gw, "/cameras:bulk"),
        Some("text/plain"),
        Some(b"hello"),
    );
    assert_eq!((s, code(&b)), (415, json!("unsupported_media_type")), "{b}");
    // Paths and queries.
    assert_eq!(get_json(&api(&gw, "/areas/4501029")).0, 400);
    assert_eq!(get_json(&api(&gw, "/areas/459999")).0, 404);
    assert_eq!(get_json(&api(&gw, "/cameras/abc")).0, 400);
    assert_eq!(get_json(&api(&gw, "/cameras/45010200001320009999")).0, 404);
    assert_eq!(get_json(&api(&gw, "/cameras?limit=0")).0, 400);
    assert_eq!(get_json(&api(&gw, "/cameras?status=sleeping")).0, 400);
    assert_eq!(get_json(&api(&gw, "/cameras?bogus=1")).0, 400);
    assert_eq!(get_json(&api(&gw, "/nothing")).0, 404);
    // Nothing was stored by any of it.
    let (_, v) = get_json(&api(&gw, "/cameras"));
    assert_eq!(v["total"], 0, "{v}");
}

#[test]
fn config_cameras_show_their_source_and_are_read_only() {
    let gw = gateway(
        "",
        &camera_toml(
            "45010200001320000001",
            "clip:h264-aac-720p",
            "on-demand",
            "tcp",
        ),
    );
    let (s, v) = get_json(&api(&gw, "/cameras/45010200001320000001"));
    assert_eq!(s, 200);
    assert_eq!(v["source"], "config");
    let (s, v) = http(
        "DELETE",
        &api(&gw, "/cameras/45010200001320000001"),
        None,
        None,
    );
    assert_eq!(s, 409, "{v}");
    let (s, v) = send_json(
        "PUT",
        &api(&gw, "/cameras/45010200001320000001"),
        &json!({"name": "x", "area": "450102001003", "url": "clip:h264-aac-720p"}),
    );
    assert_eq!(s, 409, "{v}");
    // An API camera next to it.
    let (s, v) = send_json(
        "PUT",
        &api(&gw, "/cameras/45010200001320000002"),
        &json!({"name": "api cam", "area": "450102001003", "url": "clip:h264-aac-720p", "mode": "on-demand"}),
    );
    assert_eq!(s, 201, "{v}");
    let (_, v) = get_json(&api(&gw, "/cameras?area=450102001003"));
    let sources: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, vec!["config", "api"]);
}
