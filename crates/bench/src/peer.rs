//! `peer`: the relay a user would build with the standard toolkit —
//! GStreamer's gst-rtsp-server with one shared media per upstream camera,
//! `rtspsrc ! depay ! pay`, so all readers of a mount share one upstream
//! connection. Defaults are kept except the listen backlog (raised so a
//! ramp of connections is not refused) and, optionally, the client thread
//! pool size.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use gstreamer as gst;
use gstreamer::glib;
use gstreamer_rtsp as gst_rtsp;
use gstreamer_rtsp_server as rtsp_server;
use rtsp_server::prelude::*;
use xlgw_clip::VideoCodec;

#[derive(Debug, Clone)]
pub struct PeerOpts {
    pub listen: SocketAddr,
    /// (mount path starting with `/`, upstream URL).
    pub upstreams: Vec<(String, String)>,
    pub codec: VideoCodec,
    /// Client threads of gst-rtsp-server (its default is 1).
    pub client_threads: Option<i32>,
    /// Launch line with `{url}` for the upstream (default: [`launch_line`]).
    pub launch: Option<String>,
}

/// The launch line of one relayed mount.
pub fn launch_line(url: &str, codec: VideoCodec) -> String {
    let c = match codec {
        VideoCodec::H264 => "h264",
        VideoCodec::H265 => "h265",
    };
    let url: String = url.chars().filter(|c| !matches!(c, '"' | '\\')).collect();
    format!(
        "( rtspsrc location=\"{url}\" latency=0 protocols=tcp ! rtp{c}depay ! rtp{c}pay name=pay0 pt=96 )"
    )
}

/// Serves until killed.
pub fn run(o: PeerOpts) -> anyhow::Result<()> {
    gst::init().context("initialising GStreamer")?;
    let server = rtsp_server::RTSPServer::new();
    server.set_address(&o.listen.ip().to_string());
    server.set_service(&o.listen.port().to_string());
    server.set_backlog(1024);
    if let (Some(n), Some(pool)) = (o.client_threads, server.thread_pool()) {
        pool.set_max_threads(n);
    }
    let mounts = server
        .mount_points()
        .context("RTSP server has no mount points")?;
    for (path, url) in &o.upstreams {
        anyhow::ensure!(path.starts_with('/'), "mount path {path} must start with /");
        let f = rtsp_server::RTSPMediaFactory::new();
        let line = match &o.launch {
            Some(t) => t.replace("{url}", url),
            None => launch_line(url, o.codec),
        };
        f.set_launch(&line);
        f.set_shared(true);
        f.set_protocols(gst_rtsp::RTSPLowerTrans::TCP | gst_rtsp::RTSPLowerTrans::UDP);
        mounts.add_factory(path, f);
    }
    let _source = server
        .attach(None)
        .with_context(|| format!("cannot listen on {}", o.listen))?;
    let port = server.bound_port();
    anyhow::ensure!(port > 0, "RTSP server reports no bound port");
    {
        let mut out = std::io::stdout().lock();
        for (path, _) in &o.upstreams {
            writeln!(out, "READY rtsp://{}:{port}{path}", o.listen.ip())?;
        }
        out.flush()?;
    }
    let main_loop = glib::MainLoop::new(None, false);
    main_loop.run();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_lines() {
        assert_eq!(
            launch_line("rtsp://127.0.0.1:1/cam0", VideoCodec::H264),
            "( rtspsrc location=\"rtsp://127.0.0.1:1/cam0\" latency=0 protocols=tcp ! rtph264depay ! rtph264pay name=pay0 pt=96 )"
        );
        assert!(launch_line("rtsp://x/\"a", VideoCodec::H265).contains("rtph265pay"));
        assert!(!launch_line("rtsp://x/\"a", VideoCodec::H265).contains("\"a"));
    }
}
