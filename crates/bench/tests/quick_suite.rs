//! CI smoke test: the quick suite runs against the gateway, the GStreamer
//! peer and the floor with the binaries of this build (debug in CI) and
//! completes with sane numbers. No timing assertions: the machine running
//! CI is shared and debug builds are slow.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The gateway binary next to ours (built by `cargo build --workspace
/// --bins`, or here on first use).
fn xlgw_bin() -> PathBuf {
    if let Ok(p) = std::env::var("XLGW_BIN") {
        return PathBuf::from(p);
    }
    let bench = Path::new(env!("CARGO_BIN_EXE_xlgw-bench"));
    let bin = bench.with_file_name("xlgw");
    if !bin.exists() {
        let release = bench
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "release");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "xlgw"]).current_dir(root());
        if release {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("cargo build xlgw");
        assert!(st.success(), "building xlgw failed");
    }
    bin
}

#[test]
fn quick_suite_completes_with_sane_numbers() {
    let out = tempfile::tempdir().expect("tempdir");
    let st = Command::new(env!("CARGO_BIN_EXE_xlgw-bench"))
        .args(["suite", "--quick", "--out"])
        .arg(out.path())
        .arg("--xlgw")
        .arg(xlgw_bin())
        .arg("--streams-dir")
        .arg(root().join("test-streams"))
        .status()
        .expect("run xlgw-bench suite");
    assert!(st.success(), "suite failed: {st}");
    let text = std::fs::read_to_string(out.path().join("latest.json")).expect("results");
    let res: serde_json::Value = serde_json::from_str(&text).expect("results JSON");
    let runs = res["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 9, "3 scenarios × 3 relays");
    for r in runs {
        let name = format!("{} / {}", r["scenario"]["name"], r["target"]);
        assert!(r["error"].is_null(), "{name}: {}", r["error"]);
        let s = &r["summary"];
        let readers = s["readers"].as_u64().expect("readers");
        assert_eq!(s["readers_ok"].as_u64(), Some(readers), "{name}: {s}");
        assert!(
            s["bytes"].as_u64().unwrap_or(0) > 0,
            "{name}: nothing delivered"
        );
        assert!(s["frames"].as_u64().unwrap_or(0) > 0, "{name}: no frames");
        assert!(
            s["stamps"].as_u64().unwrap_or(0) > 0,
            "{name}: no SEI stamps"
        );
        assert_eq!(
            s["no_keyframe"].as_u64(),
            Some(0),
            "{name}: a reader got no keyframe"
        );
        for q in ["p50_ms", "p99_ms", "max_ms"] {
            let v = s["delay"][q].as_f64().expect("delay");
            assert!(v.is_finite() && v >= 0.0, "{name}: delay {q} = {v}");
        }
        assert!(
            s["delay"]["count"].as_u64().unwrap_or(0) > 0,
            "{name}: no delay sample"
        );
        let relay = &s["relay"];
        assert!(relay["cpu_s"].as_f64().is_some_and(|v| v >= 0.0), "{name}");
        assert!(relay["rss_end_kib"].as_u64().unwrap_or(0) > 0, "{name}");
        if r["target"] == "xlgw" {
            assert_eq!(s["lost_packets_total"].as_u64(), Some(0), "{name}: {s}");
            assert_eq!(s["lost_frames_total"].as_u64(), Some(0), "{name}: {s}");
            assert_eq!(s["ended_early"].as_u64(), Some(0), "{name}: {s}");
        }
    }
}
