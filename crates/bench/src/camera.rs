//! `camera`: a light RTSP camera built from the gateway's own pieces. Each
//! mount plays a clip in a loop at its real rate (the packetizer of
//! `xlgw-source`, a relay hub, the RTSP server of `xlgw-rtsp`) and stamps
//! every access unit with its send time in an SEI NAL unit, written at the
//! moment the frame is handed to the server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use xlgw_clip::Clip;
use xlgw_relay::{Hub, HubConfig};
use xlgw_rtsp::{Resolved, Server, ServerConfig, StreamError, Streams};
use xlgw_source::{Packetizer, stream_info};

use crate::sei::{self, Stamp};

/// Loads a clip; without `audio`, its audio is dropped (video-only stream).
pub fn load_clip(dir: &Path, audio: bool) -> anyhow::Result<Arc<Clip>> {
    let mut clip = Clip::load(dir).with_context(|| format!("loading clip {}", dir.display()))?;
    if !audio {
        clip.audio.clear();
        clip.info.audio = None;
        clip.audio_duration = 0;
    }
    Ok(Arc::new(clip))
}

/// Options of the `camera` mode.
#[derive(Debug, Clone)]
pub struct CameraOpts {
    pub listen: SocketAddr,
    pub clip: std::path::PathBuf,
    pub cameras: usize,
    pub audio: bool,
}

struct Mounts(HashMap<String, Arc<Hub>>);

impl Streams for Mounts {
    fn open(&self, path: &str) -> BoxFuture<'static, Result<Resolved, StreamError>> {
        let hub = self.0.get(path).cloned();
        let name = path.to_owned();
        Box::pin(async move {
            let hub = hub.ok_or(StreamError::NotFound)?;
            tokio::time::timeout(Duration::from_secs(10), hub.ready())
                .await
                .map_err(|_| StreamError::Unavailable("no keyframe yet".into()))?;
            Ok(Resolved { hub, name })
        })
    }
}

/// Mount path of camera `i`.
pub fn mount_path(i: usize) -> String {
    format!("cam{i}")
}

/// Serves until SIGINT/SIGTERM.
pub async fn run(o: CameraOpts) -> anyhow::Result<()> {
    let clip = load_clip(&o.clip, o.audio)?;
    let n = o.cameras.max(1);
    let info = stream_info(&clip);
    let frame = Duration::from_secs(1) / clip.info.fps.max(1);
    let mut hubs = HashMap::new();
    for i in 0..n {
        let hub = Hub::new(HubConfig::default());
        hub.upstream_started(info.clone(), std::time::Instant::now());
        // Cameras are not in phase: spread their frame times over one frame.
        let offset = frame * u32::try_from(i).unwrap_or(0) / u32::try_from(n).unwrap_or(1);
        tokio::spawn(pace(hub.clone(), clip.clone(), i, offset));
        hubs.insert(mount_path(i), hub);
    }
    let cfg = ServerConfig {
        listen: o.listen,
        udp_rtp_port: Some(0),
        max_connections: 20_000,
        ..ServerConfig::default()
    };
    let server = Server::bind(cfg, Arc::new(Mounts(hubs)))
        .await
        .with_context(|| format!("binding {}", o.listen))?;
    let addr = server.local_addr()?;
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        for i in 0..n {
            writeln!(out, "READY rtsp://{addr}/{}", mount_path(i))?;
        }
        out.flush()?;
    }
    server.run(crate::shutdown_signal()).await;
    Ok(())
}

/// Plays `clip` into `hub` forever, starting `offset` from now.
async fn pace(hub: Arc<Hub>, clip: Arc<Clip>, index: usize, offset: Duration) {
    let codec = clip.info.video_codec;
    let stream = u32::try_from(index).unwrap_or(u32::MAX);
    let mut frame = 0u64;
    let mut p = Packetizer::new(
        clip,
        [rand::random(), rand::random()],
        [rand::random(), rand::random()],
    )
    .with_stamp(move |_| {
        frame += 1;
        // The time is filled in when the frame is actually sent.
        Some(sei::build(
            codec,
            Stamp {
                sent_ns: 0,
                frame,
                stream,
            },
        ))
    });
    let start = tokio::time::Instant::now() + offset;
    while let Some(t) = p.next_packet() {
        let due = start + t.at;
        if due > tokio::time::Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let mut pkt = t.packet;
        if pkt.track == 0
            && sei::is_sei_type(codec, &pkt.payload)
            && let Some(mut s) = sei::parse(codec, &pkt.payload)
        {
            s.sent_ns = sei::wall_ns();
            pkt.payload = sei::build(codec, s);
        }
        hub.publish(pkt, std::time::Instant::now());
    }
}
