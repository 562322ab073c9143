//! Cost and size of a /metrics scrape with 10,000 cameras spread over the
//! real villages of Guangxi (assets/divisions-45-guangxi.csv).

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use xlgw_health::{CameraSample, GatewaySample, Metrics, MetricsConfig, Sampler};
use xlgw_model::AreaCode;

struct Synthetic(Vec<CameraSample>);

impl Sampler for Synthetic {
    fn cameras(&self, out: &mut Vec<CameraSample>) {
        out.extend(self.0.iter().cloned());
    }
    fn gateway(&self) -> GatewaySample {
        GatewaySample {
            requests: vec![("DESCRIBE", 200, 10), ("SETUP", 200, 20), ("PLAY", 200, 10)],
            directory_cameras: self.0.len() as u64,
            ..Default::default()
        }
    }
}

fn cameras(n: usize) -> Vec<CameraSample> {
    let csv = include_str!("../../../assets/divisions-45-guangxi.csv");
    let villages: Vec<AreaCode> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .filter(|c| c.len() == 12)
        .filter_map(|c| AreaCode::parse(c).ok())
        .collect();
    (0..n)
        .map(|i| {
            let area = villages[i * 7919 % villages.len()];
            CameraSample {
                id: format!("{}00001320{:06}", area.county6(), i),
                name: format!("摄像机 {i}"),
                area: Some(area),
                mode: "always",
                transport: "tcp",
                state: if i % 17 == 0 { "offline" } else { "online" },
                up: i % 17 != 0,
                reconnects: (i % 5) as u64,
                last_frame_age: Some(0.04),
                bytes: 1_000_000 * i as u64,
                packets: 1000 * i as u64,
                frames: 25 * i as u64,
                keyframes: i as u64,
                readers: (i % 3) as u64,
                ..Default::default()
            }
        })
        .collect()
}

fn scrape(c: &mut Criterion) {
    let m = Metrics::new(
        Arc::new(Synthetic(cameras(10_000))),
        MetricsConfig::default(),
        "bench",
    );
    let body = m.render();
    let lines = body.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!(
        "scrape of 10,000 cameras: {} bytes, {} samples",
        body.len(),
        lines
    );
    if let Ok(p) = std::env::var("XLGW_SCRAPE_DUMP") {
        let _ = std::fs::write(p, &body);
    }
    c.bench_function("scrape_10000_cameras", |b| b.iter(|| m.render().len()));
}

criterion_group!(benches, scrape);
criterion_main!(benches);
