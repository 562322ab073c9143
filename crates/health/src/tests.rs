use super::*;

struct Fixed(Vec<CameraSample>);

impl Sampler for Fixed {
    fn cameras(&self, out: &mut Vec<CameraSample>) {
        out.extend(self.0.iter().cloned());
    }
    fn gateway(&self) -> GatewaySample {
        GatewaySample {
            requests: vec![("DESCRIBE", 200, 3), ("SETUP", 461, 1)],
            directory_cameras: self.0.len() as u64,
            ..Default::default()
        }
    }
}

fn cam(id: &str, area: &str, up: bool) -> CameraSample {
    CameraSample {
        id: id.into(),
        name: "东门 \"A\"".into(),
        area: Some(AreaCode::parse(area).unwrap()),
        mode: "always",
        transport: "tcp",
        state: if up { "online" } else { "offline" },
        up,
        bytes: 1000,
        ..Default::default()
    }
}

#[test]
fn renders_families_and_area_totals() {
    let m = Metrics::new(
        Arc::new(Fixed(vec![
            cam("45010200001320000001", "450102001003", true),
            cam("45010200001320000002", "450102001003", false),
            cam("45020000001320000001", "4502", true),
        ])),
        MetricsConfig::default(),
        "0.1.0",
    );
    let t = m.render();
    // Every family has HELP and TYPE, counters end in _total.
    for line in t.lines().filter(|l| l.starts_with("# TYPE")) {
        let mut it = line.split_whitespace().skip(2);
        let (name, kind) = (it.next().unwrap(), it.next().unwrap());
        assert!(t.contains(&format!("# HELP {name} ")), "{name} has no HELP");
        if kind == "counter" {
            assert!(name.ends_with("_total"), "{name}");
        }
    }
    assert!(t.contains("xlgw_camera_up{camera_id=\"45010200001320000002\"} 0"));
    assert!(t.contains("xlgw_area_cameras{area=\"45\",level=\"region\"} 3"));
    assert!(t.contains("xlgw_area_cameras_online{area=\"45\",level=\"region\"} 2"));
    assert!(t.contains("xlgw_area_cameras{area=\"450102\",level=\"county\"} 2"));
    assert!(t.contains("xlgw_area_cameras_online{area=\"450102\",level=\"county\"} 1"));
    // Township is below the default depth.
    assert!(!t.contains("area=\"450102001\""));
    assert!(t.contains("name=\"东门 \\\"A\\\"\""));
    assert!(t.contains("xlgw_rtsp_requests_total{method=\"SETUP\",status=\"461\"} 1"));
    assert!(t.contains("xlgw_build_info{version=\"0.1.0\"} 1"));
    assert!(t.contains("process_resident_memory_bytes"));
}

#[test]
fn depth_is_configurable() {
    let m = Metrics::new(
        Arc::new(Fixed(vec![cam(
            "45010200001320000001",
            "450102001003",
            true,
        )])),
        MetricsConfig {
            area_depth: Level::Village,
        },
        "x",
    );
    let t = m.render();
    assert!(t.contains("xlgw_area_cameras{area=\"450102001003\",level=\"village\"} 1"));
}
