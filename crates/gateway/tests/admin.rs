//! `xlgw areas import` and `xlgw cameras import` on the gateway's own store:
//! another province's tree is loaded beside Guangxi's, cameras are imported
//! all or nothing with the API's checks (unknown area, config-file camera,
//! broken rows reported by file line), idempotently by id, and the gateway
//! serves all of it at its next start.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::{camera_toml, gateway_in, http, run};

const CONFIG_CAMERA: &str = "45010200001320000951";
const VILLAGE: &str = "440103001001";

const GUANGDONG: &str = "code,name,level,parent\n\
44,广东省,1,\n\
4401,广州市,2,44\n\
440103,荔湾区,3,4401\n\
440103001,沙面街道,4,440103\n\
440103001001,沙面社区,5,440103001\n";

/// Runs `xlgw --config CFG ARGS…`: (success, stdout, stderr).
fn xlgw(cfg: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xlgw"));
    cmd.arg("--config").arg(cfg).args(args);
    run(&mut cmd, Duration::from_secs(60))
}

fn get(port: u16, path: &str) -> Value {
    let (code, body) = http("GET", &format!("http://127.0.0.1:{port}{path}"), None, None);
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

#[test]
fn cli_imports_areas_and_cameras_into_the_gateways_store() {
    let cameras = camera_toml(CONFIG_CAMERA, "clip:h264-aac-720p", "on-demand", "tcp");
    // First start: the Guangxi tree and the config camera are stored.
    let gw = gateway_in(tempfile::tempdir().expect("tempdir"), "", &cameras);
    let before = get(gw.http, "/api/v1/cameras?limit=1")["total"].clone();
    let mut proc = gw.proc;
    proc.kill();
    let dir = gw.dir;
    let cfg = dir.path().join("xlgw.toml");

    let areas = dir.path().join("guangdong.csv");
    std::fs::write(&areas, GUANGDONG).expect("write areas");
    let (ok, out, err) = xlgw(&cfg, &["areas", "import", &areas.to_string_lossy()]);
    assert!(ok, "areas import: {out}\n{err}");
    assert!(out.contains("5 areas imported"), "{out}");

    // A broken tree is refused as a whole.
    let broken = dir.path().join("broken-areas.csv");
    std::fs::write(
        &broken,
        "code,name,level,parent\n46,海南省,1,\n4601,海口市,9,46\n",
    )
    .expect("write");
    let (ok, out, err) = xlgw(&cfg, &["areas", "import", &broken.to_string_lossy()]);
    assert!(!ok, "a bad level was accepted: {out}");
    assert!(!err.is_empty(), "no message for a bad tree");

    // Bad rows: a short id, an unknown area, the config file's camera, a
    // row with too few columns. None of the good rows may land either.
    let bad = dir.path().join("bad.csv");
    let header = "id,name,area,url,username,password,transport,mode,tags,latitude,longitude";
    std::fs::write(
        &bad,
        format!(
            "{header}\n\
             44010300001320000001,good,{VILLAGE},rtsp://192.0.2.1/a,,,tcp,on-demand,,,\n\
             4401030000132000000,short id,{VILLAGE},rtsp://192.0.2.1/b,,,tcp,on-demand,,,\n\
             44010300001320000003,nowhere,440103001999,rtsp://192.0.2.1/c,,,tcp,on-demand,,,\n\
             {CONFIG_CAMERA},mine now,450102001003,rtsp://192.0.2.1/d,,,tcp,on-demand,,,\n\
             44010300001320000005,short row\n"
        ),
    )
    .expect("write");
    let (ok, out, err) = xlgw(&cfg, &["cameras", "import", &bad.to_string_lossy()]);
    assert!(!ok, "bad rows were accepted: {out}");
    for needle in [
        "line 3",
        "line 4 (44010300001320000003): area",
        &format!("line 5 ({CONFIG_CAMERA}): id"),
        "line 6",
        "4 bad row(s)",
        "nothing was stored",
    ] {
        assert!(err.contains(needle), "no {needle:?} in:\n{err}");
    }

    // Good rows: two with ids (one with credentials), one assigned.
    let good = dir.path().join("good.csv");
    let with_ids = format!(
        "{header}\n\
         44010300001320000001,沙面 北门,{VILLAGE},rtsp://192.0.2.1/a,admin,s3cret-import,tcp,on-demand,gate,23.11,113.24\n\
         44010300001320000002,沙面 南门,{VILLAGE},rtsp://192.0.2.1/b,,,udp,on-demand,,,\n"
    );
    std::fs::write(
        &good,
        format!("{with_ids},沙面 码头,{VILLAGE},rtsp://192.0.2.1/c,,,auto,on-demand,,,\n"),
    )
    .expect("write");
    let (ok, out, err) = xlgw(&cfg, &["cameras", "import", &good.to_string_lossy()]);
    assert!(ok, "cameras import: {out}\n{err}");
    assert!(
        out.contains("3 cameras: 3 inserted, 0 updated, 0 unchanged"),
        "{out}"
    );
    assert!(
        !out.contains("s3cret") && !err.contains("s3cret"),
        "{out}{err}"
    );

    // Again, by id: nothing changes.
    std::fs::write(&good, &with_ids).expect("write");
    let (ok, out, err) = xlgw(&cfg, &["cameras", "import", &good.to_string_lossy()]);
    assert!(ok, "re-import: {out}\n{err}");
    assert!(
        out.contains("2 cameras: 0 inserted, 0 updated, 2 unchanged"),
        "{out}"
    );

    // The gateway serves both provinces and the imported cameras.
    let gw = gateway_in(dir, "", &cameras);
    let roots = get(gw.http, "/api/v1/areas");
    let codes: Vec<&str> = roots["children"]
        .as_array()
        .unwrap_or_else(|| panic!("roots: {roots}"))
        .iter()
        .filter_map(|a| a["code"].as_str())
        .collect();
    assert!(codes.contains(&"44") && codes.contains(&"45"), "{roots}");
    let gd = get(gw.http, "/api/v1/areas/44");
    assert_eq!(gd["name"], "广东省", "{gd}");
    assert_eq!(gd["cameras"]["total"], 3, "{gd}");
    let village = get(gw.http, &format!("/api/v1/areas/{VILLAGE}"));
    assert_eq!(village["level"], "village", "{village}");
    let path: Vec<&str> = village["path"]
        .as_array()
        .expect("path")
        .iter()
        .filter_map(|a| a["code"].as_str())
        .collect();
    assert_eq!(path, ["44", "4401", "440103", "440103001"], "{village}");

    let list = get(gw.http, &format!("/api/v1/cameras?area={VILLAGE}"));
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "{list}");
    for c in items {
        assert_eq!(c["source"], "api", "{c}");
        assert!(
            c["id"].as_str().is_some_and(|i| i.starts_with("440103")),
            "{c}"
        );
    }
    let north = items
        .iter()
        .find(|c| c["id"] == "44010300001320000001")
        .expect("imported id");
    assert_eq!(north["has_credentials"], true, "{north}");
    assert!(!list.to_string().contains("s3cret"), "{list}");

    // The config camera is untouched and Guangxi's cameras are all there.
    let cfg_cam = get(gw.http, &format!("/api/v1/cameras/{CONFIG_CAMERA}"));
    assert_eq!(cfg_cam["source"], "config", "{cfg_cam}");
    assert_ne!(cfg_cam["name"], "mine now", "{cfg_cam}");
    let after = get(gw.http, "/api/v1/cameras?limit=1")["total"].clone();
    assert_eq!(
        after.as_u64().unwrap_or(0),
        before.as_u64().unwrap_or(0) + 3,
        "before {before}, after {after}"
    );
}
