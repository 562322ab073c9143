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

/// An instant query, URL-encoded properly: (status, result array).
fn prom_eval(port: u16, q: &str) -> (String, Vec<serde_json::Value>) {
    let (_, out, _) = run(
        Command::new("curl").args([
            "-sS",
            "--max-time",
            "5",
            "-G",
            &format!("http://127.0.0.1:{port}/api/v1/query"),
            "--data-urlencode",
            &format!("query={q}"),
        ]),
        Duration::from_secs(10),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let status = v["status"].as_str().unwrap_or("no answer").to_owned();
    let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
    if status != "success" {
        return (format!("{status}: {}", v["error"]), result);
    }
    (status, result)
}

/// Metric names (`xlgw_…`, `process_…`) an expression refers to.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let starts = (expr[i..].starts_with("xlgw_") || expr[i..].starts_with("process_"))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'));
        if starts {
            let end = expr[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(b.len(), |n| i + n);
            out.push(expr[i..end].to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Every query of the Grafana dashboard (panels and variables) and every
/// alert rule, run against the real Prometheus that scrapes the gateway:
/// each is valid PromQL, names only metrics the gateway exports, and the
/// dashboard's plain series queries return data.
fn check_dashboard_and_rules(prom: u16, http: u16, rtsp: u16) {
    // RTSP requests, one answered 200 and one 404, so the request panels
    // have series to show.
    for (path, want) in [
        (CAM, "RTSP/1.0 200"),
        ("45010200001320009999", "RTSP/1.0 404"),
    ] {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", rtsp)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "DESCRIBE rtsp://127.0.0.1:{rtsp}/{path} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n"
        )
        .unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with(want), "DESCRIBE {path}: {head}");
    }
    let live = http_get(&format!("http://127.0.0.1:{http}/metrics"));
    let exported: std::collections::HashSet<&str> = live
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();

    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/xlgw-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut exprs: Vec<String> = Vec::new();
    fn walk(p: &serde_json::Value, out: &mut Vec<String>) {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push(e.to_owned());
            }
        }
        for c in p["panels"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    for p in dash["panels"].as_array().unwrap() {
        walk(p, &mut exprs);
    }
    let panel_exprs = exprs.len();
    // Variables: `label_values(SELECTOR, label)` queries SELECTOR.
    for v in dash["templating"]["list"].as_array().unwrap() {
        let q = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .unwrap_or("");
        if let Some(inner) = q.strip_prefix("label_values(")
            && let Some((sel, _label)) = inner.trim_end_matches(')').rsplit_once(',')
        {
            exprs.push(sel.trim().to_owned());
        }
    }
    assert!(panel_exprs >= 20, "only {panel_exprs} panel queries");
    assert!(exprs.len() > panel_exprs, "no variable queries found");

    // rate() needs two samples in its window: let a few more scrapes land.
    std::thread::sleep(Duration::from_secs(4));
    let mut problems = Vec::new();
    for e in &exprs {
        for name in metric_names(e) {
            let known = exported.contains(name.as_str())
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name.strip_suffix(s).is_some_and(|b| exported.contains(b)));
            if !known {
                problems.push(format!("{name} is not exported (in {e})"));
            }
        }
        let q = e
            .replace("${city:regex}", "4501")
            .replace("$instance", ".*")
            .replace("$city", ".*")
            .replace("$camera_id", CAM)
            .replace("$__rate_interval", "1m")
            .replace("$__range", "5m");
        let (status, result) = prom_eval(prom, &q);
        if status != "success" {
            problems.push(format!("{status} for {q}"));
            continue;
        }
        // Filters (`== 0`, `> n`, `and …`) may rightly select nothing;
        // plain series and their arithmetic must have data.
        let filtering = ["==", " > ", " < ", " and ", "topk"]
            .iter()
            .any(|f| q.contains(f));
        if result.is_empty() && !filtering {
            problems.push(format!("no data for {q}"));
        }
    }

    // The rules Prometheus loaded from deploy/prometheus/alerts.yml
    // evaluate without error and use exported metrics.
    let rules: serde_json::Value =
        serde_json::from_str(&http_get(&format!("http://127.0.0.1:{prom}/api/v1/rules"))).unwrap();
    let mut n_rules = 0;
    for g in rules["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            n_rules += 1;
            let q = r["query"].as_str().unwrap_or("");
            if r["health"] != "ok" {
                problems.push(format!(
                    "rule {} health {} {}",
                    r["name"], r["health"], r["lastError"]
                ));
            }
            for name in metric_names(q) {
                if !exported.contains(name.as_str()) {
                    problems.push(format!("rule {}: {name} is not exported", r["name"]));
                }
            }
        }
    }
    assert!(
        n_rules >= 5,
        "Prometheus loaded only {n_rules} rules: {rules}"
    );
    assert!(
        problems.is_empty(),
        "dashboard / rules against the live gateway:\n  {}",
        problems.join("\n  ")
    );
}

/// The value of `name{camera_id="<camera>"...}` in a /metrics text.
fn metric(text: &str, name: &str, camera: &str) -> Option<f64> {
    let label = format!("camera_id=\"{camera}\"");
    text.lines().find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let rest = series.strip_prefix(name)?.strip_prefix('{')?;
        rest.split(',')
            .any(|kv| kv.trim_end_matches('}') == label)
            .then(|| value.parse().ok())?
    })
}

/// A camsim serving the 720p clip and a gateway (with `extra` config)
/// pulling it as `CAM`, always on, over TCP.
fn live_camera(extra: &str) -> (Proc, Gw) {
    let cam_port = free_port();
    let cam = camsim(cam_port, &[("a", "h264-aac-720p")]);
    let gw = gateway(
        extra,
        &camera_toml(
            CAM,
            &format!("rtsp://127.0.0.1:{cam_port}/a"),
            "always",
            "tcp",
        ),
    );
    (cam, gw)
}

/// Per-camera series carry what the camera really sends: the 720p test
/// clip is 25 fps, one keyframe every 2 s, about 1.09 Mbit/s (video and
/// audio); one ffmpeg reader is counted while it plays.
#[test]
fn camera_metrics_carry_live_values() {
    let (_cam, gw) = live_camera("");
    let url = format!("http://127.0.0.1:{}/metrics", gw.http);
    wait_until("the camera up", Duration::from_secs(30), || {
        metric(&http_get(&url), "xlgw_camera_up", CAM) == Some(1.0)
    });
    let mut reader = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
        ])
        .arg(gw.url(CAM))
        .args(["-t", "30", "-c", "copy", "-f", "null", "-"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg");
    wait_until("the reader counted", Duration::from_secs(20), || {
        metric(&http_get(&url), "xlgw_camera_readers", CAM) == Some(1.0)
    });
    // Rates come from the difference between scrapes: two, 4 s apart.
    let first = http_get(&url);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let m = http_get(&url);
    let dt = t0.elapsed().as_secs_f64();
    let _ = reader.kill();
    let _ = reader.wait();
    let get = |name: &str| metric(&m, name, CAM).unwrap_or_else(|| panic!("{name} missing:\n{m}"));
    let fps = get("xlgw_camera_frames_per_second");
    assert!((20.0..=30.0).contains(&fps), "fps {fps}");
    let gop = get("xlgw_camera_keyframe_interval_seconds");
    assert!((1.5..=2.5).contains(&gop), "keyframe interval {gop}");
    let rate = get("xlgw_camera_bitrate_bytes_per_second");
    assert!((70_000.0..=250_000.0).contains(&rate), "bitrate {rate} B/s");
    let bytes = get("xlgw_camera_received_bytes_total")
        - metric(&first, "xlgw_camera_received_bytes_total", CAM).unwrap_or(0.0);
    let per_s = bytes / dt;
    assert!(
        (70_000.0..=250_000.0).contains(&per_s),
        "received {per_s} B/s"
    );
    let packets = get("xlgw_camera_received_packets_total")
        - metric(&first, "xlgw_camera_received_packets_total", CAM).unwrap_or(0.0);
    assert!(packets > 100.0 * dt, "{packets} packets in {dt} s");
    assert_eq!(get("xlgw_camera_readers"), 1.0);
    assert_eq!(
        get("xlgw_camera_rtp_lost_packets_total"),
        0.0,
        "loss on loopback"
    );
    assert_eq!(get("xlgw_camera_reader_discards_total"), 0.0);
    assert_eq!(get("xlgw_camera_reconnects_total"), 0.0);
    let age = get("xlgw_camera_last_frame_age_seconds");
    assert!((0.0..1.0).contains(&age), "last frame age {age}");
    let jitter = get("xlgw_camera_jitter_seconds");
    assert!((0.0..0.1).contains(&jitter), "jitter {jitter}");
    // The camera's place in the tree, joined on camera_id.
    let info = m
        .lines()
        .find(|l| l.starts_with("xlgw_camera_info{") && l.contains(CAM))
        .expect("xlgw_camera_info");
    for want in [
        "area=\"450102001003\"",
        "level=\"village\"",
        "city=\"4501\"",
        "county=\"450102\"",
    ] {
        assert!(info.contains(want), "{want} not in {info}");
    }
    // The reader's PLAY is counted by method and status.
    assert!(
        m.contains("xlgw_rtsp_requests_total{method=\"PLAY\",status=\"200\"}"),
        "PLAY 200 counted"
    );
}

#[test]
fn prometheus_sees_camera_go_down_and_alerts() {
    let (mut cam, gw) = live_camera("[ingest]\nstall_timeout_secs = 2.0\n");

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

    check_dashboard_and_rules(prom_port, gw.http, gw.rtsp);

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

    let (_cam, gw) = live_camera("");
    // Checked on the output of a camera that is up (every family filled).
    let metrics_url = format!("http://127.0.0.1:{}/metrics", gw.http);
    wait_until("the camera up in /metrics", Duration::from_secs(30), || {
        metric(&http_get(&metrics_url), "xlgw_camera_up", CAM) == Some(1.0)
    });
    let metrics = http_get(&metrics_url);
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

    // gzip as Prometheus asks for it: the same families, far fewer bytes;
    // a client that refuses gzip gets plain text.
    let families = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("# TYPE "))
            .map(str::to_owned)
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    for (accept, want_gzip) in [("gzip", true), ("gzip;q=0, identity", false)] {
        let body = dir.path().join("body");
        let head = dir.path().join("head");
        let (ok, _, err) = run(
            Command::new("curl")
                .args(["-sS", "--max-time", "10", "-H"])
                .arg(format!("Accept-Encoding: {accept}"))
                .arg("-D")
                .arg(&head)
                .arg("-o")
                .arg(&body)
                .arg(&metrics_url),
            Duration::from_secs(15),
        );
        assert!(ok, "curl: {err}");
        let head = std::fs::read_to_string(&head).unwrap().to_ascii_lowercase();
        let raw = std::fs::read(&body).unwrap();
        let text = if want_gzip {
            assert!(head.contains("content-encoding: gzip"), "{accept}: {head}");
            assert!(
                raw.len() * 2 < metrics.len(),
                "gzip {} of {}",
                raw.len(),
                metrics.len()
            );
            let (ok, out, err) = run(
                Command::new("gzip").arg("-dc").arg(&body),
                Duration::from_secs(15),
            );
            assert!(ok, "gzip -dc: {err}");
            out
        } else {
            assert!(!head.contains("content-encoding"), "{accept}: {head}");
            String::from_utf8(raw).unwrap()
        };
        assert_eq!(families(&text), families(&metrics), "{accept}");
    }
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
    // A camera registered through the API with the same credentials: the
    // answers say only that credentials are set.
    const API_CAM: &str = "45010200001320000003";
    let one = format!("{api}/{API_CAM}");
    let body = serde_json::json!({
        "id": API_CAM, "name": "API camera", "area": "450102001003",
        "url": format!("rtsp://127.0.0.1:{cam_port}/a"), "mode": "always",
        "transport": "tcp", "username": "admin", "password": PASSWORD,
    });
    let (code, created) = http(
        "POST",
        &api,
        Some("application/json"),
        Some(body.to_string().as_bytes()),
    );
    assert_eq!(code, 201, "{created}");
    let online = |what: &str| {
        wait_until(what, Duration::from_secs(30), || {
            let v: serde_json::Value = serde_json::from_str(&http_get(&one)).unwrap_or_default();
            v["state"]["status"] == "online"
        })
    };
    online("the API camera online with its credentials");
    // Sent back as read (no credentials in it): the stored ones are kept,
    // so the restarted pull still gets in.
    let back: serde_json::Value = serde_json::from_str(&http_get(&one)).expect("camera json");
    assert_eq!(back["has_credentials"], true, "{back}");
    assert!(
        back.get("username").is_none() && back.get("password").is_none(),
        "{back}"
    );
    let put: serde_json::Value = serde_json::json!({
        "name": "API camera, renamed", "area": back["area"], "url": back["url"],
        "mode": back["mode"], "transport": back["transport"],
    });
    let (code, replaced) = http(
        "PUT",
        &one,
        Some("application/json"),
        Some(put.to_string().as_bytes()),
    );
    assert_eq!(code, 200, "{replaced}");
    wait_until(
        "the renamed camera pulled again",
        Duration::from_secs(30),
        || {
            let v: serde_json::Value = serde_json::from_str(&http_get(&one)).unwrap_or_default();
            v["name"] == "API camera, renamed" && v["state"]["status"] == "online"
        },
    );
    // Bulk CSV with a password, for the logs and answers below.
    let csv = format!(
        "id,name,area,url,username,password,transport,mode,tags,latitude,longitude\n\
         45010200001320000004,bulk,450102001003,rtsp://127.0.0.1:{cam_port}/a,admin,{PASSWORD},tcp,on-demand,,,\n"
    );
    let (code, bulk) = http(
        "POST",
        &format!("{api}:bulk"),
        Some("text/csv"),
        Some(csv.as_bytes()),
    );
    assert_eq!(code, 200, "{bulk}");
    // `"username": ""` clears them: the camera now fails on authentication.
    let cleared = serde_json::json!({
        "name": "API camera, renamed", "area": "450102001003",
        "url": format!("rtsp://127.0.0.1:{cam_port}/a"), "mode": "always",
        "transport": "tcp", "username": "",
    });
    let (code, after_clear) = http(
        "PUT",
        &one,
        Some("application/json"),
        Some(cleared.to_string().as_bytes()),
    );
    assert_eq!(code, 200, "{after_clear}");
    wait_until(
        "the camera without credentials refused",
        Duration::from_secs(30),
        || {
            let v: serde_json::Value = serde_json::from_str(&http_get(&one)).unwrap_or_default();
            v["has_credentials"] == false
                && v["state"]["status"] != "online"
                && v["state"]["last_error"].is_string()
        },
    );

    let metrics = http_get(&format!("http://127.0.0.1:{}/metrics", gw.http));
    let cameras = http_get(&api);
    let failing = http_get(&format!("{api}/45010200001320000002"));
    for (what, text) in [
        ("metrics", &metrics),
        ("api list", &cameras),
        ("api camera with a wrong password", &failing),
        ("api create", &created),
        ("api replace", &replaced),
        ("api bulk", &bulk),
        ("logs", &gw.proc.stderr_text()),
    ] {
        assert!(!text.contains("s3cr3t"), "password in {what}");
        assert!(!text.contains("admin:"), "user:password in {what}");
    }
    for (what, text) in [
        ("api list", &cameras),
        ("api create", &created),
        ("api replace", &replaced),
    ] {
        assert!(!text.contains("\"username\""), "username in {what}: {text}");
    }
    assert!(!metrics.contains("rtsp://"), "source URL in metrics");
    // The failing camera's error is there (and was checked above for the
    // password): operators see why it is down.
    let v: serde_json::Value = serde_json::from_str(&failing).expect("camera json");
    let err = v["state"]["last_error"].as_str().unwrap_or_default();
    assert!(!err.is_empty() && v["state"]["status"] != "online", "{v}");
}

#[test]
fn metrics_can_be_switched_off() {
    let (_cam, gw) = live_camera("[metrics]\nenabled = false\n");
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
    let (code, _) = get_path(gw.http, "/metrics");
    assert_eq!(code, 404, "/metrics must be off");
    let (code, _) = get_path(gw.http, "/healthz");
    assert_eq!(code, 200);
}
