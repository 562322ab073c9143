//! Health metrics of the gateway in the Prometheus text exposition format.
//!
//! What it does: at scrape time it asks a [`Sampler`] (implemented by the
//! binary) for plain numbers — per camera, per gateway — and renders them:
//! per-camera series labelled only by `camera_id`, the camera's place in the
//! five-level tree in one `xlgw_camera_info` series, per-area totals and
//! online counts aggregated here (down to a configurable level), gateway-wide
//! counters, build info, and process metrics from the `prometheus` crate's
//! process collector. Rates (frames per second, bitrate, keyframe interval)
//! are computed from the difference to the previous scrape.
//!
//! What it must not do: sit on the packet path. The relay and ingest keep
//! relaxed atomic counters; all aggregation and formatting happens here, on
//! the scrape. It never sees credentials or source URLs: the sample types
//! have no field for them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use xlgw_model::{AreaCode, Level};

/// One camera's numbers at scrape time.
#[derive(Debug, Clone, Default)]
pub struct CameraSample {
    pub id: String,
    pub name: String,
    pub area: Option<AreaCode>,
    pub mode: &'static str,
    pub transport: &'static str,
    /// `online`, `connecting`, `offline` or `idle`.
    pub state: &'static str,
    pub up: bool,
    pub reconnects: u64,
    /// Seconds since the last packet; `None` if none arrived yet.
    pub last_frame_age: Option<f64>,
    pub bytes: u64,
    pub packets: u64,
    pub lost: u64,
    pub jitter_seconds: f64,
    pub frames: u64,
    pub keyframes: u64,
    pub readers: u64,
    pub reader_discards: u64,
    pub reader_timeouts: u64,
}

/// Gateway-wide numbers at scrape time.
#[derive(Debug, Clone, Default)]
pub struct GatewaySample {
    pub rtsp_connections: i64,
    pub rtsp_connections_total: u64,
    pub rtsp_connections_refused: u64,
    pub rtsp_sessions: i64,
    pub rtsp_sessions_playing: i64,
    pub rtsp_sessions_total: u64,
    pub sent_bytes: u64,
    pub sent_packets: u64,
    /// (method, status, count)
    pub requests: Vec<(&'static str, u16, u64)>,
    pub directory_cameras: u64,
}

/// What the binary provides to the scrape.
pub trait Sampler: Send + Sync + 'static {
    fn cameras(&self, out: &mut Vec<CameraSample>);
    fn gateway(&self) -> GatewaySample;
}

/// Settings of the metrics output.
#[derive(Debug, Clone, Copy)]
pub struct MetricsConfig {
    /// Per-area totals are exported for areas down to this level.
    pub area_depth: Level,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            area_depth: Level::County,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Prev {
    at: Instant,
    frames: u64,
    bytes: u64,
    keyframes: u64,
    fps: f64,
    bps: f64,
    gop_seconds: f64,
}

/// The metrics endpoint's state.
pub struct Metrics {
    sampler: Arc<dyn Sampler>,
    cfg: MetricsConfig,
    registry: prometheus::Registry,
    prev: Mutex<HashMap<String, Prev>>,
    scratch: Mutex<Vec<CameraSample>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Escapes a label value for the text format.
fn esc(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

impl Metrics {
    pub fn new(sampler: Arc<dyn Sampler>, cfg: MetricsConfig, version: &str) -> Metrics {
        let registry = prometheus::Registry::new();
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            let _ = registry.register(Box::new(pc));
        }
        if let Ok(g) = prometheus::IntGaugeVec::new(
            prometheus::Opts::new("xlgw_build_info", "Build of the running gateway; always 1."),
            &["version"],
        ) {
            g.with_label_values(&[version]).set(1);
            let _ = registry.register(Box::new(g));
        }
        Metrics {
            sampler,
            cfg,
            registry,
            prev: Mutex::new(HashMap::new()),
            scratch: Mutex::new(Vec::new()),
        }
    }

    /// The whole exposition, as served at `/metrics`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        let enc = prometheus::TextEncoder::new();
        let _ = enc.encode_utf8(&self.registry.gather(), &mut out);
        self.render_gateway(&mut out);
        self.render_cameras(&mut out);
        out
    }

    fn render_gateway(&self, out: &mut String) {
        let g = self.sampler.gateway();
        let simple: [(&str, &str, &str, f64); 9] = [
            (
                "xlgw_rtsp_connections",
                "gauge",
                "Open RTSP connections.",
                g.rtsp_connections as f64,
            ),
            (
                "xlgw_rtsp_connections_total",
                "counter",
                "RTSP connections accepted.",
                g.rtsp_connections_total as f64,
            ),
            (
                "xlgw_rtsp_connections_refused_total",
                "counter",
                "RTSP connections refused at the connection limit.",
                g.rtsp_connections_refused as f64,
            ),
            (
                "xlgw_rtsp_sessions",
                "gauge",
                "RTSP sessions set up.",
                g.rtsp_sessions as f64,
            ),
            (
                "xlgw_rtsp_sessions_playing",
                "gauge",
                "RTSP sessions playing.",
                g.rtsp_sessions_playing as f64,
            ),
            (
                "xlgw_rtsp_sessions_total",
                "counter",
                "RTSP sessions created.",
                g.rtsp_sessions_total as f64,
            ),
            (
                "xlgw_sent_bytes_total",
                "counter",
                "Bytes sent to readers (RTP headers and payload).",
                g.sent_bytes as f64,
            ),
            (
                "xlgw_sent_packets_total",
                "counter",
                "RTP packets sent to readers.",
                g.sent_packets as f64,
            ),
            (
                "xlgw_directory_cameras",
                "gauge",
                "Cameras in the directory.",
                g.directory_cameras as f64,
            ),
        ];
        for (name, kind, help, v) in simple {
            family(out, name, kind, help);
            let _ = writeln!(out, "{name} {}", num(v));
        }
        family(
            out,
            "xlgw_rtsp_requests_total",
            "counter",
            "RTSP requests answered, by method and status code.",
        );
        for (m, s, n) in &g.requests {
            let _ = writeln!(
                out,
                "xlgw_rtsp_requests_total{{method=\"{m}\",status=\"{s}\"}} {n}"
            );
        }
    }

    fn render_cameras(&self, out: &mut String) {
        let mut cams = self.scratch.lock();
        cams.clear();
        self.sampler.cameras(&mut cams);
        cams.sort_by(|a, b| a.id.cmp(&b.id));
        let now = Instant::now();

        // Rates from the previous scrape.
        let mut prev = self.prev.lock();
        let mut rates: Vec<(f64, f64, f64)> = Vec::with_capacity(cams.len());
        for c in cams.iter() {
            let p = prev.get(&c.id).copied();
            let r = match p {
                Some(p) if now.duration_since(p.at).as_secs_f64() >= 1.0 => {
                    let dt = now.duration_since(p.at).as_secs_f64();
                    let df = c.frames.saturating_sub(p.frames) as f64;
                    let dk = c.keyframes.saturating_sub(p.keyframes) as f64;
                    let fps = df / dt;
                    let bps = c.bytes.saturating_sub(p.bytes) as f64 * 8.0 / dt;
                    let gop = if dk > 0.0 { dt / dk } else { p.gop_seconds };
                    prev.insert(
                        c.id.clone(),
                        Prev {
                            at: now,
                            frames: c.frames,
                            bytes: c.bytes,
                            keyframes: c.keyframes,
                            fps,
                            bps,
                            gop_seconds: gop,
                        },
                    );
                    (fps, bps, gop)
                }
                Some(p) => (p.fps, p.bps, p.gop_seconds),
                None => {
                    prev.insert(
                        c.id.clone(),
                        Prev {
                            at: now,
                            frames: c.frames,
                            bytes: c.bytes,
                            keyframes: c.keyframes,
                            fps: 0.0,
                            bps: 0.0,
                            gop_seconds: 0.0,
                        },
                    );
                    (0.0, 0.0, 0.0)
                }
            };
            rates.push(r);
        }
        if prev.len() > cams.len() * 2 + 16 {
            let live: std::collections::HashSet<&str> =
                cams.iter().map(|c| c.id.as_str()).collect();
            prev.retain(|k, _| live.contains(k.as_str()));
        }
        drop(prev);

        family(
            out,
            "xlgw_camera_info",
            "gauge",
            "A camera's place in the five-level tree; always 1. Join on camera_id.",
        );
        for c in cams.iter() {
            let (area, level) = c
                .area
                .map_or((String::new(), ""), |a| (a.to_string(), a.level().as_str()));
            let anc = |l: Level| {
                c.area
                    .filter(|a| a.level() >= l)
                    .map(|a| a.truncate(l).to_string())
                    .unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "xlgw_camera_info{{camera_id=\"{}\",name=\"{}\",area=\"{}\",level=\"{}\",city=\"{}\",county=\"{}\",mode=\"{}\",transport=\"{}\"}} 1",
                esc(&c.id),
                esc(&c.name),
                area,
                level,
                anc(Level::City),
                anc(Level::County),
                c.mode,
                c.transport
            );
        }
        family(
            out,
            "xlgw_camera_state",
            "gauge",
            "The camera's ingest state (online, connecting, offline, idle); 1 for the current one.",
        );
        for c in cams.iter() {
            let _ = writeln!(
                out,
                "xlgw_camera_state{{camera_id=\"{}\",state=\"{}\"}} 1",
                esc(&c.id),
                c.state
            );
        }
        type Get = fn(&CameraSample, (f64, f64, f64)) -> Option<f64>;
        let series: [(&str, &str, &str, Get); 15] = [
            (
                "xlgw_camera_up",
                "gauge",
                "1 when the camera delivers (or, on demand and idle, last ended without error), else 0.",
                |c, _| Some(if c.up { 1.0 } else { 0.0 }),
            ),
            (
                "xlgw_camera_reconnects_total",
                "counter",
                "Reconnect attempts to the camera.",
                |c, _| Some(c.reconnects as f64),
            ),
            (
                "xlgw_camera_last_frame_age_seconds",
                "gauge",
                "Seconds since the camera's last packet.",
                |c, _| c.last_frame_age,
            ),
            (
                "xlgw_camera_received_bytes_total",
                "counter",
                "RTP payload bytes received from the camera.",
                |c, _| Some(c.bytes as f64),
            ),
            (
                "xlgw_camera_received_packets_total",
                "counter",
                "RTP packets received from the camera.",
                |c, _| Some(c.packets as f64),
            ),
            (
                "xlgw_camera_rtp_lost_packets_total",
                "counter",
                "RTP packets lost upstream (sequence number gaps).",
                |c, _| Some(c.lost as f64),
            ),
            (
                "xlgw_camera_jitter_seconds",
                "gauge",
                "Interarrival jitter of the camera's video (RFC 3550 estimate).",
                |c, _| Some(c.jitter_seconds),
            ),
            (
                "xlgw_camera_frames_total",
                "counter",
                "Video frames received from the camera.",
                |c, _| Some(c.frames as f64),
            ),
            (
                "xlgw_camera_frames_per_second",
                "gauge",
                "Video frames per second since the previous scrape.",
                |_, r| Some(r.0),
            ),
            (
                "xlgw_camera_bitrate_bytes_per_second",
                "gauge",
                "Received payload rate since the previous scrape, in bytes per second.",
                |_, r| Some(r.1 / 8.0),
            ),
            (
                "xlgw_camera_keyframe_interval_seconds",
                "gauge",
                "Seconds between keyframes, measured between scrapes.",
                |_, r| Some(r.2),
            ),
            (
                "xlgw_camera_keyframes_total",
                "counter",
                "Keyframes received from the camera.",
                |c, _| Some(c.keyframes as f64),
            ),
            (
                "xlgw_camera_readers",
                "gauge",
                "Readers playing the camera now.",
                |c, _| Some(c.readers as f64),
            ),
            (
                "xlgw_camera_reader_discards_total",
                "counter",
                "Packets not delivered to a reader that fell behind (relay queue drops).",
                |c, _| Some(c.reader_discards as f64),
            ),
            (
                "xlgw_camera_reader_timeouts_total",
                "counter",
                "Readers disconnected for not reading within the write timeout.",
                |c, _| Some(c.reader_timeouts as f64),
            ),
        ];
        for (name, kind, help, get) in series {
            family(out, name, kind, help);
            for (c, r) in cams.iter().zip(&rates) {
                if let Some(v) = get(c, *r) {
                    let _ = writeln!(out, "{name}{{camera_id=\"{}\"}} {}", esc(&c.id), num(v));
                }
            }
        }
        let drops: u64 = cams.iter().map(|c| c.reader_discards).sum();
        family(
            out,
            "xlgw_relay_queue_drops_total",
            "counter",
            "Packets dropped from reader queues, all cameras.",
        );
        let _ = writeln!(out, "xlgw_relay_queue_drops_total {drops}");
        let recv: u64 = cams.iter().map(|c| c.bytes).sum();
        family(
            out,
            "xlgw_received_bytes_total",
            "counter",
            "RTP payload bytes received from all cameras.",
        );
        let _ = writeln!(out, "xlgw_received_bytes_total {recv}");

        // Per-area totals, down to the configured depth.
        let mut areas: BTreeMap<AreaCode, (u64, u64)> = BTreeMap::new();
        for c in cams.iter() {
            let Some(a) = c.area else { continue };
            for l in Level::ALL {
                if l > self.cfg.area_depth || l > a.level() {
                    break;
                }
                let e = areas.entry(a.truncate(l)).or_default();
                e.0 += 1;
                if c.up {
                    e.1 += 1;
                }
            }
        }
        family(
            out,
            "xlgw_area_cameras",
            "gauge",
            "Cameras in an area and everything below it.",
        );
        for (a, (t, _)) in &areas {
            let _ = writeln!(
                out,
                "xlgw_area_cameras{{area=\"{a}\",level=\"{}\"}} {t}",
                a.level()
            );
        }
        family(
            out,
            "xlgw_area_cameras_online",
            "gauge",
            "Cameras up in an area and everything below it.",
        );
        for (a, (_, o)) in &areas {
            let _ = writeln!(
                out,
                "xlgw_area_cameras_online{{area=\"{a}\",level=\"{}\"}} {o}",
                a.level()
            );
        }
    }
}

#[cfg(test)]
mod tests;
