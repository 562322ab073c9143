//! The gateway's [`xlgw_health::Sampler`]: reads the relay's, ingest's and
//! the RTSP server's counters at scrape time.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::catalog::Catalog;
use xlgw_health::{CameraSample, GatewaySample, Sampler};

pub struct GatewaySampler {
    pub catalog: Arc<Catalog>,
    pub rtsp: Arc<xlgw_rtsp::ServerStats>,
}

impl Sampler for GatewaySampler {
    fn cameras(&self, out: &mut Vec<CameraSample>) {
        let cams = self.catalog.cameras.read();
        for s in cams.values() {
            let (state, reconnects, up) = match s.status() {
                Some(st) => {
                    let up = match st.state {
                        xlgw_ingest::CameraState::Online => true,
                        xlgw_ingest::CameraState::Idle => st.last_error.is_none(),
                        _ => false,
                    };
                    (st.state.as_str(), st.reconnects, up)
                }
                None => ("offline", 0, false),
            };
            let hs = s.hub.stats();
            let is = s.stats();
            let c = &s.record.camera;
            out.push(CameraSample {
                id: c.id.to_string(),
                name: c.name.clone(),
                area: Some(c.area),
                mode: c.mode.as_str(),
                transport: c.transport.as_str(),
                state,
                up,
                reconnects,
                last_frame_age: is
                    .as_ref()
                    .and_then(|i| i.since_last_packet())
                    .map(|d| d.as_secs_f64()),
                bytes: is.as_ref().map_or(0, |i| i.bytes()),
                packets: is.as_ref().map_or(0, |i| i.packets()),
                lost: is.as_ref().map_or(0, |i| i.lost()),
                jitter_seconds: is.as_ref().map_or(0.0, |i| i.jitter_seconds()),
                frames: hs.frames.load(Ordering::Relaxed),
                keyframes: hs.keyframes.load(Ordering::Relaxed),
                readers: s.hub.reader_count() as u64,
                reader_discards: hs.reader_discards.load(Ordering::Relaxed),
                reader_timeouts: hs.reader_timeouts.load(Ordering::Relaxed),
            });
        }
    }

    fn gateway(&self) -> GatewaySample {
        let r = &self.rtsp;
        GatewaySample {
            rtsp_connections: r.connections_open.load(Ordering::Relaxed),
            rtsp_connections_total: r.connections_total.load(Ordering::Relaxed),
            rtsp_connections_refused: r.connections_refused.load(Ordering::Relaxed),
            rtsp_sessions: r.sessions_open.load(Ordering::Relaxed),
            rtsp_sessions_playing: r.sessions_playing.load(Ordering::Relaxed),
            rtsp_sessions_total: r.sessions_total.load(Ordering::Relaxed),
            sent_bytes: r.bytes_out.load(Ordering::Relaxed),
            sent_packets: r.packets_out.load(Ordering::Relaxed),
            requests: r.requests(),
            directory_cameras: self.catalog.cameras.read().len() as u64,
        }
    }
}
