//! The gateway's [`xlgw_health::Sampler`]: reads the relay's, ingest's and
//! the RTSP server's counters at scrape time.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use xlgw_health::{CameraSample, GatewaySample, Sampler};
use xlgw_ingest::CameraState;

use crate::app::Registry;

pub struct GatewaySampler {
    pub reg: Arc<Registry>,
    pub rtsp: Arc<xlgw_rtsp::ServerStats>,
}

impl Sampler for GatewaySampler {
    fn cameras(&self, out: &mut Vec<CameraSample>) {
        for s in self.reg.cameras.values() {
            let st = s.handle.status();
            let is = s.handle.stats();
            let hs = s.hub.stats();
            let state = st.state.as_str();
            let up = match st.state {
                CameraState::Online => true,
                CameraState::Idle => st.last_error.is_none(),
                _ => false,
            };
            out.push(CameraSample {
                id: s.camera.id.to_string(),
                name: s.camera.name.clone(),
                area: Some(s.camera.area),
                mode: s.camera.mode.as_str(),
                transport: s.camera.transport.as_str(),
                state,
                up,
                reconnects: is.reconnects(),
                last_frame_age: is.since_last_packet().map(|d| d.as_secs_f64()),
                bytes: is.bytes(),
                packets: is.packets(),
                lost: is.lost(),
                jitter_seconds: is.jitter_seconds(),
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
            directory_cameras: self.reg.cameras.len() as u64,
        }
    }
}
