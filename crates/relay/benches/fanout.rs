//! Relay core fan-out cost: one upstream, N readers, packets published and
//! drained the way the RTSP writers do (one drain per frame, every packet's
//! header fields read). The figure to
//! read is time per packet per reader: divide the reported time per frame by
//! `packets per frame * readers`.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use xlgw_relay::{FrameRef, Hub, HubConfig, MediaKind, Packet, StreamInfo, Track};

const PACKETS_PER_FRAME: u16 = 10;

fn info() -> StreamInfo {
    StreamInfo {
        tracks: vec![Track {
            kind: MediaKind::Video,
            encoding: "H264".into(),
            clock_rate: 90000,
            channels: None,
            payload_type: 96,
            fmtp: Some("packetization-mode=1".into()),
            framerate: Some(25.0),
        }],
    }
}

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    for readers in [1usize, 100, 1000] {
        let hub = Hub::new(HubConfig::default());
        let t0 = Instant::now();
        hub.upstream_started(info(), t0);
        let payload = Bytes::from(vec![0x41u8; 1400]);
        let key = Bytes::from(vec![0x65u8; 1400]);
        let mut seq = 0u16;
        let mut ts = 0u32;
        hub.publish(Packet::new(0, seq, ts, true, key.clone()), t0);
        let rs: Vec<_> = (0..readers)
            .map(|_| hub.add_reader(1, t0).expect("reader"))
            .collect();
        let mut bufs: Vec<VecDeque<FrameRef>> = (0..readers).map(|_| VecDeque::new()).collect();
        g.throughput(Throughput::Elements(
            u64::from(PACKETS_PER_FRAME) * readers as u64,
        ));
        g.bench_with_input(
            BenchmarkId::new("frame_to_readers", readers),
            &readers,
            |b, _| {
                b.iter(|| {
                    ts = ts.wrapping_add(3600);
                    for i in 0..PACKETS_PER_FRAME {
                        seq = seq.wrapping_add(1);
                        hub.publish(
                            Packet::new(0, seq, ts, i + 1 == PACKETS_PER_FRAME, payload.clone()),
                            t0,
                        );
                    }
                    for (r, buf) in rs.iter().zip(bufs.iter_mut()) {
                        buf.clear();
                        let _ = r.try_recv_frames(buf);
                        // What a writer reads of each packet.
                        for f in buf.iter() {
                            for (p, seq) in f.iter() {
                                std::hint::black_box((p.payload.len(), seq));
                            }
                        }
                    }
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
