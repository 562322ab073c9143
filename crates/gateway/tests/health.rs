//! Health: a real Prometheus server scrapes a test gateway with the
//! project's deploy/prometheus.yml and alert rules; promtool checks the
//! rules and a live /metrics; credentials never reach /metrics or the API.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const CAM: &str = "45010200001320000001";

fn prom_query(port: u16, q: &str) -> serde_json::Value {
    let url = format!(
        "http://127.0.0.1:{port}/api/v1/query?query={}",
        q.replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
            .replace('=', "%3D")
    );
    // Prometheus may not listen yet: an error is just "no answer".
    let (_, out, _) = run(
        Command::new("curl").args(["-sS", "--max-time", "5", &url]),
        Duration::from_secs(10),
    );
    serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
}

fn sample(v: &serde_json::Value) -> Option<f64> {
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
}

fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn prometheus_sees_camera_go_down_and_alerts() {
    let cam_port = free_port();
    let mut cam = camsim(cam_port, &[("a", "h264-aac-720p")]);
    let gw = gateway(
        "[ingest]\nstall_timeout_secs = 2.0\n",
        &camera_toml(
            CAM,
            &format!("rtsp://127.0.0.1:{cam_port}/a"),
            "always",
            "tcp",
        ),
    );

    // The project's own Prometheus config and rules, pointed at the test
    // gateway and sped up.
    let dir = tempfile::tempdir().unwrap();
    let deploy = root().join("deploy/prometheus");
    let cfg = std::fs::read_to_string(deploy.join("prometheus.yml"))
        .unwrap()
        .replace("localhost:8080", &format!("127.0.0.1:{}", gw.http))
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
        .replace("scrape_timeout: 10s", "scrape_timeout: 1s");
    std::fs::write(dir.path().join("prometheus.yml"), cfg).unwrap();
    std::fs::copy(deploy.join("alerts.yml"), dir.path().join("alerts.yml")).unwrap();
    let prom_port = free_port();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!(
        "--config.file={}",
        dir.path().join("prometheus.yml").display()
    ))
    .arg(format!(
        "--storage.tsdb.path={}",
        dir.path().join("tsdb").display()
    ))
    .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    let _prom = Proc::spawn(cmd);

    let up = format!("xlgw_camera_up{{camera_id=\"{CAM}\"}}");
    wait_until(
        "xlgw_camera_up == 1 in Prometheus",
        Duration::from_secs(60),
        || sample(&prom_query(prom_port, &up)) == Some(1.0),
    );
    // The scrape of the gateway itself is healthy.
    assert_eq!(
        sample(&prom_query(prom_port, "up{job=\"xlgw\"}")),
        Some(1.0)
    );
    let online = prom_query(prom_port, "xlgw_area_cameras_online{area=\"450102\"}");
    assert_eq!(sample(&online), Some(1.0), "{online}");

    cam.kill();
    wait_until(
        "xlgw_camera_up == 0 after the camera died",
        Duration::from_secs(60),
        || sample(&prom_query(prom_port, &up)) == Some(0.0),
    );
    wait_until(
        "XlgwCameraDown pending or firing",
        Duration::from_secs(60),
        || {
            let a: serde_json::Value = serde_json::from_str(
                &run(
                    Command::new("curl").args([
                        "-sS",
                        &format!("http://127.0.0.1:{prom_port}/api/v1/alerts"),
                    ]),
                    Duration::from_secs(10),
                )
                .1,
            )
            .unwrap_or_default();
            a["data"]["alerts"].as_array().is_some_and(|v| {
                v.iter().any(|x| {
                    x["labels"]["alertname"] == "XlgwCameraDown"
                        && x["labels"]["camera_id"] == CAM
                        && (x["state"] == "pending" || x["state"] == "firing")
                })
            })
        },
    );
}

#[test]
fn promtool_accepts_rules_config_and_live_metrics() {
    let deploy = root().join("deploy/prometheus");
    let (ok, out, err) = run(
        Command::new("promtool")
            .arg("check")
            .arg("rules")
            .arg(deploy.join("alerts.yml")),
        Duration::from_secs(30),
    );
    assert!(ok, "promtool check rules: {out}{err}");
    let (ok, out, err) = run(
        Command::new("promtool")
            .arg("check")
            .arg("config")
            .arg(deploy.join("prometheus.yml")),
        Duration::from_secs(30),
    );
    assert!(ok, "promtool check config: {out}{err}");

    let cam_port = free_port();
    let _cam = camsim(cam_port, &[("a", "h264-aac-720p")]);
    let gw = gateway(
        "",
        &camera_toml(
            CAM,
            &format!("rtsp://127.0.0.1:{cam_port}/a"),
            "always",
            "tcp",
        ),
    );
    std::thread::sleep(Duration::from_secs(2));
    let metrics = http_get(&format!("http://127.0.0.1:{}/metrics", gw.http));
    assert!(metrics.contains("xlgw_camera_up{camera_id=\"45010200001320000001\"}"));
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), &metrics).unwrap();
    let (ok, out, err) = run(
        Command::new("sh").arg("-c").arg(format!(
            "promtool check metrics < {}",
            path.path().display()
        )),
        Duration::from_secs(30),
    );
    assert!(
        ok && out.trim().is_empty() && err.trim().is_empty(),
        "promtool check metrics:\n{out}{err}"
    );
}

#[test]
fn credentials_never_reach_metrics_or_api() {
    const PASSWORD: &str = "Zq9-s3cr3t-Pw";
    let cam_port = free_port();
    let _cam = camsim_auth(cam_port, &[("a", "h264-aac-720p")], "admin", PASSWORD);
    let good = camera_toml(
        CAM,
        &format!("rtsp://127.0.0.1:{cam_port}/a"),
        "always",
        "tcp",
    ) + "username = \"admin\"\n"
        + &format!("password = \"{PASSWORD}\"\n");
    // A second camera with a wrong password, so errors are produced too.
    let bad = camera_toml(
        "45010200001320000002",
        &format!("rtsp://127.0.0.1:{cam_port}/a"),
        "always",
        "tcp",
    ) + "username = \"admin\"\n"
        + &format!("password = \"{PASSWORD}-wrong\"\n");
    let gw = gateway("", &(good + &bad));
    let api = format!("http://127.0.0.1:{}/api/v1/cameras", gw.http);
    wait_until(
        "the camera with good credentials online",
        Duration::from_secs(30),
        || {
            let v: serde_json::Value = serde_json::from_str(&http_get(&api)).unwrap_or_default();
            v["items"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|c| c["id"] == CAM && c["state"]["status"] == "online")
            })
        },
    );
    wait_until(
        "the camera with a wrong password reports an error",
        Duration::from_secs(30),
        || {
            let v: serde_json::Value = serde_json::from_str(&http_get(&api)).unwrap_or_default();
            v["items"].as_array().is_some_and(|a| {
                a.iter().any(|c| {
                    c["id"] == "45010200001320000002" && c["state"]["last_error"].is_string()
                })
            })
        },
    );
    let metrics = http_get(&format!("http://127.0.0.1:{}/metrics", gw.http));
    let cameras = http_get(&api);
    let page = http_get(&format!("http://127.0.0.1:{}/", gw.http));
    for (what, text) in [
        ("metrics", &metrics),
        ("api", &cameras),
        ("page", &page),
        ("logs", &gw.proc.stderr_text()),
    ] {
        assert!(!text.contains("s3cr3t"), "password in {what}");
    }
    assert!(!metrics.contains("rtsp://"), "source URL in metrics");
    // The failing camera's error is visible, scrubbed.
    assert!(cameras.contains("45010200001320000002"));
}

#[test]
fn metrics_can_be_switched_off() {
    let cam_port = free_port();
    let _cam = camsim(cam_port, &[("a", "h264-aac-720p")]);
    let gw = gateway(
        "[metrics]\nenabled = false\n",
        &camera_toml(
            CAM,
            &format!("rtsp://127.0.0.1:{cam_port}/a"),
            "always",
            "tcp",
        ),
    );
    let api = format!("http://127.0.0.1:{}/api/v1/cameras/{CAM}", gw.http);
    // The camera is pulled and its counters still feed the API.
    wait_until(
        "the camera online with frames counted",
        Duration::from_secs(30),
        || {
            let v: serde_json::Value = serde_json::from_str(&http_get(&api)).unwrap_or_default();
            v["state"]["status"] == "online" && v["state"]["fps"].as_f64().is_some_and(|f| f > 0.0)
        },
    );
    let (code, _) = http(
        "GET",
        &format!("http://127.0.0.1:{}/metrics", gw.http),
        None,
        None,
    );
    assert_eq!(code, 404, "/metrics must be off");
    let (code, _) = http(
        "GET",
        &format!("http://127.0.0.1:{}/healthz", gw.http),
        None,
        None,
    );
    assert_eq!(code, 200);
}
