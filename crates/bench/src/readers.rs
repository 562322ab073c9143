//! `readers`: many light RTSP readers in one process (one tokio task each).
//!
//! Each reader DESCRIBEs, SETUPs the first video track (TCP interleaved or
//! UDP) and PLAYs it, then counts bytes and packets, detects RTP sequence
//! gaps and gaps in the frame numbers of our SEI stamps (a relay may rewrite
//! RTP numbers but not the stamps), records the time from the PLAY response
//! to the first complete keyframe, and the delay of each live frame
//! (receive time − send time in its stamp). `tcp://` and `udp://` URLs read
//! the protocol-less stream of the `floor` mode instead.
//!
//! Timeline: wait until every stream answers, ramp readers up at `--ramp`
//! per second, warm up, then a measurement window of `--duration` during
//! which the optional `--churn` readers join and leave, and the relay
//! process `--watch-pid` is sampled for CPU and memory.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::time::Instant;
use xlgw_clip::VideoCodec;

use crate::client::{Client, ClientError, Setup, host_port, timed};
use crate::hist::{Hist, Quantiles};
use crate::procstat;
use crate::rtp;
use crate::sei::wall_ns;

/// Read buffer of one TCP reader: room for the largest interleaved frame.
const READ_BUF: usize = 128 * 1024;
/// Receive buffer asked for each UDP socket.
const UDP_RCVBUF: usize = 2 << 20;
/// First local port tried for UDP reader socket pairs.
const UDP_BASE_PORT: u16 = 20_000;

/// RTSP over TCP interleaved or over UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
}

/// Options of the `readers` mode.
#[derive(Debug, Clone)]
pub struct ReadersOpts {
    pub urls: Vec<String>,
    pub readers: usize,
    pub transport: Transport,
    /// Codec of `tcp://`/`udp://` floor streams (RTSP streams say in SDP).
    pub raw_codec: VideoCodec,
    pub ramp: f64,
    pub warmup: Duration,
    pub duration: Duration,
    pub churn_rate: f64,
    pub churn_life: Duration,
    pub watch_pid: Option<u32>,
    pub connect_timeout: Duration,
    /// Check readiness with DESCRIBE (else only a TCP connection).
    pub probe_describe: bool,
    pub label: String,
}

#[derive(Debug)]
struct Ctl {
    measuring: AtomicBool,
    ok: AtomicUsize,
    failed: AtomicUsize,
    next_udp_port: AtomicU16,
    raw_codec: VideoCodec,
    transport: Transport,
    connect_timeout: Duration,
}

/// Per-reader counters.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    bytes: u64,
    packets: u64,
    lost_packets: u64,
    frames: u64,
    lost_frames: u64,
}

/// State of one reader's video track.
#[derive(Debug)]
struct Track {
    codec: VideoCodec,
    /// Stamps older than this (wall ns) are from the relay's GOP cache.
    live_from_ns: u64,
    play_at: Instant,
    ttff: Option<Duration>,
    last_seq: Option<u16>,
    last_frame: Option<u64>,
    cur_ts: Option<u32>,
    au_key: bool,
    au_gap: bool,
    win: Counters,
    total: Counters,
    delay: Hist,
    stamps: u64,
    cached_frames: u64,
}

impl Track {
    fn new(codec: VideoCodec, live_from_ns: u64, play_at: Instant) -> Track {
        Track {
            codec,
            live_from_ns,
            play_at,
            ttff: None,
            last_seq: None,
            last_frame: None,
            cur_ts: None,
            au_key: false,
            au_gap: false,
            win: Counters::default(),
            total: Counters::default(),
            delay: Hist::default(),
            stamps: 0,
            cached_frames: 0,
        }
    }

    fn add_bytes(&mut self, n: usize, measuring: bool) {
        self.total.bytes += n as u64;
        if measuring {
            self.win.bytes += n as u64;
        }
    }

    /// One RTP packet of the video track, received at `now`.
    fn on_rtp(&mut self, pkt: &[u8], now_ns: u64, now: Instant, measuring: bool) {
        let Some(h) = rtp::parse_header(pkt) else {
            return;
        };
        self.total.packets += 1;
        if measuring {
            self.win.packets += 1;
        }
        if let Some(last) = self.last_seq {
            let gap = h.seq.wrapping_sub(last).wrapping_sub(1);
            if gap != 0 && gap < 0x8000 {
                self.total.lost_packets += u64::from(gap);
                if measuring {
                    self.win.lost_packets += u64::from(gap);
                }
                self.au_gap = true;
            }
        }
        self.last_seq = Some(h.seq);
        if self.cur_ts != Some(h.timestamp) {
            self.cur_ts = Some(h.timestamp);
            self.au_key = false;
            self.au_gap = false;
        }
        let seen = rtp::inspect(self.codec, &pkt[h.payload.0..h.payload.1]);
        self.au_key |= seen.key;
        if let Some(s) = seen.stamp {
            self.stamps += 1;
            if let Some(last) = self.last_frame
                && s.frame > last + 1
            {
                let n = s.frame - last - 1;
                self.total.lost_frames += n;
                if measuring {
                    self.win.lost_frames += n;
                }
            }
            if self.last_frame.is_none_or(|l| s.frame > l) {
                self.last_frame = Some(s.frame);
            }
            if s.sent_ns < self.live_from_ns {
                self.cached_frames += 1;
            } else if measuring {
                self.delay.record(now_ns.saturating_sub(s.sent_ns) / 1000);
            }
        }
        if h.marker {
            self.total.frames += 1;
            if measuring {
                self.win.frames += 1;
            }
            if self.au_key && !self.au_gap && self.ttff.is_none() {
                self.ttff = Some(now.saturating_duration_since(self.play_at));
            }
            self.au_key = false;
            self.au_gap = false;
            self.cur_ts = None;
        }
    }
}

/// What one reader reports at the end.
#[derive(Debug, Default)]
struct ReaderOut {
    churn: bool,
    ok: bool,
    error: Option<String>,
    /// The server ended the stream before we stopped.
    ended_early: Option<String>,
    ttff: Option<Duration>,
    win: Counters,
    total: Counters,
    delay: Hist,
    stamps: u64,
    cached_frames: u64,
}

impl ReaderOut {
    fn absorb(&mut self, t: Track) {
        self.ttff = t.ttff;
        self.win = t.win;
        self.total = t.total;
        self.delay = t.delay;
        self.stamps = t.stamps;
        self.cached_frames = t.cached_frames;
    }
}

/// How a reader's data phase ended.
enum End {
    Stopped,
    Lifetime,
    Server(String),
}

/// Runs one reader until stopped (or its lifetime ends).
async fn reader(
    ctl: Arc<Ctl>,
    url: String,
    life: Option<Duration>,
    stop: watch::Receiver<bool>,
) -> ReaderOut {
    let mut out = ReaderOut {
        churn: life.is_some(),
        ..ReaderOut::default()
    };
    let r = if url.starts_with("tcp://") {
        raw_tcp(&ctl, &url, life, stop, &mut out).await
    } else if url.starts_with("udp://") {
        raw_udp(&ctl, &url, life, stop, &mut out).await
    } else {
        rtsp(&ctl, &url, life, stop, &mut out).await
    };
    match r {
        Ok(End::Stopped | End::Lifetime) => {}
        Ok(End::Server(why)) => out.ended_early = Some(why),
        Err(e) => {
            if out.ok {
                out.ended_early = Some(e.kind());
            } else {
                out.error = Some(e.kind());
                ctl.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    out
}

fn mark_ok(ctl: &Ctl, out: &mut ReaderOut) {
    out.ok = true;
    ctl.ok.fetch_add(1, Ordering::Relaxed);
}

/// DESCRIBE, SETUP, PLAY with retries while the failure is transient.
async fn open_rtsp(
    ctl: &Ctl,
    url: &str,
    udp: Option<(u16, u16)>,
) -> Result<(Client, Setup, VideoCodec, String, u64, Instant), ClientError> {
    let deadline = Instant::now() + ctl.connect_timeout;
    loop {
        let attempt = async {
            let mut c = Client::connect(url).await?;
            let (track, setup_url) = c.describe(url).await?;
            let s = c.setup(&setup_url, udp).await?;
            let live_from = wall_ns();
            c.play(url, &s.session).await?;
            Ok::<_, ClientError>((c, s, track.codec, setup_url, live_from, Instant::now()))
        };
        let left = deadline.saturating_duration_since(Instant::now());
        match timed(left.max(Duration::from_millis(1)), "RTSP setup", attempt).await {
            Ok(x) => return Ok(x),
            Err(e)
                if e.is_transient() && Instant::now() + Duration::from_millis(300) < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn rtsp(
    ctl: &Ctl,
    url: &str,
    life: Option<Duration>,
    stop: watch::Receiver<bool>,
    out: &mut ReaderOut,
) -> Result<End, ClientError> {
    match ctl.transport {
        Transport::Tcp => {
            let (mut c, s, codec, _, live_from, play_at) = open_rtsp(ctl, url, None).await?;
            mark_ok(ctl, out);
            let mut t = Track::new(codec, live_from, play_at);
            let keep = Keepalive {
                url: url.to_owned(),
                session: s.session.clone(),
                every: keepalive_period(&s),
            };
            let leftover = std::mem::take(&mut c.buf);
            let end = tcp_data(
                ctl,
                &mut c.stream,
                leftover,
                s.channel.unwrap_or(0),
                &mut t,
                Some(&keep),
                life,
                stop,
            )
            .await;
            out.absorb(t);
            if matches!(end, Ok(End::Stopped | End::Lifetime)) {
                let _ = teardown(&mut c.stream, &keep).await;
            }
            end
        }
        Transport::Udp => {
            let (rtp_sock, rtcp_sock, ports) = bind_udp_pair(ctl)?;
            let (mut c, s, codec, _, live_from, play_at) = open_rtsp(ctl, url, Some(ports)).await?;
            mark_ok(ctl, out);
            let mut t = Track::new(codec, live_from, play_at);
            let keep = Keepalive {
                url: url.to_owned(),
                session: s.session.clone(),
                every: keepalive_period(&s),
            };
            let rtcp_dest = s.server_rtcp_port.map(|p| SocketAddr::new(c.peer.ip(), p));
            let end = udp_data(
                ctl,
                &rtp_sock,
                &rtcp_sock,
                rtcp_dest,
                Some((&mut c.stream, &keep)),
                &mut t,
                life,
                stop,
            )
            .await;
            out.absorb(t);
            if matches!(end, Ok(End::Stopped | End::Lifetime)) {
                let _ = teardown(&mut c.stream, &keep).await;
            }
            end
        }
    }
}

struct Keepalive {
    url: String,
    session: String,
    every: Duration,
}

fn keepalive_period(s: &Setup) -> Duration {
    (s.timeout.unwrap_or(Duration::from_secs(60)) / 3).max(Duration::from_secs(1))
}

async fn keepalive(
    w: &mut (impl AsyncWriteExt + Unpin),
    k: &Keepalive,
    cseq: u32,
) -> std::io::Result<()> {
    let req = format!(
        "GET_PARAMETER {} RTSP/1.0\r\nCSeq: {}\r\nSession: {}\r\nUser-Agent: xlgw-bench\r\n\r\n",
        k.url,
        1000 + cseq,
        k.session
    );
    w.write_all(req.as_bytes()).await
}

async fn teardown(s: &mut TcpStream, k: &Keepalive) -> std::io::Result<()> {
    let req = format!(
        "TEARDOWN {} RTSP/1.0\r\nCSeq: 999999\r\nSession: {}\r\nUser-Agent: xlgw-bench\r\n\r\n",
        k.url, k.session
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), s.write_all(req.as_bytes())).await;
    Ok(())
}

fn deadline_of(life: Option<Duration>) -> Instant {
    Instant::now() + life.unwrap_or(Duration::from_secs(365 * 86_400))
}

/// The data phase of a TCP connection: interleaved frames (RTSP) or the
/// floor's protocol-less byte stream, which has the same framing.
#[allow(clippy::too_many_arguments)]
async fn tcp_data(
    ctl: &Ctl,
    stream: &mut TcpStream,
    leftover: Vec<u8>,
    channel: u8,
    t: &mut Track,
    keep: Option<&Keepalive>,
    life: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) -> Result<End, ClientError> {
    let mut buf = vec![0u8; READ_BUF];
    let mut end = leftover.len().min(READ_BUF);
    buf[..end].copy_from_slice(&leftover[..end]);
    let mut start = 0usize;
    let (mut rd, mut wr) = stream.split();
    let deadline = deadline_of(life);
    let ka_every = keep.map_or(Duration::from_secs(3600), |k| k.every);
    let mut ka = tokio::time::interval_at(Instant::now() + ka_every, ka_every);
    let mut cseq = 0u32;
    let mut first = end > 0;
    loop {
        if !first {
            tokio::select! {
                r = rd.read(&mut buf[end..]) => {
                    let n = r?;
                    if n == 0 {
                        return Ok(End::Server("closed".into()));
                    }
                    t.add_bytes(n, ctl.measuring.load(Ordering::Relaxed));
                    end += n;
                }
                _ = ka.tick(), if keep.is_some() => {
                    if let Some(k) = keep {
                        cseq += 1;
                        keepalive(&mut wr, k, cseq).await?;
                    }
                    continue;
                }
                _ = stop.changed() => return Ok(End::Stopped),
                _ = tokio::time::sleep_until(deadline) => return Ok(End::Lifetime),
            }
        }
        first = false;
        let measuring = ctl.measuring.load(Ordering::Relaxed);
        let now_ns = wall_ns();
        let now = Instant::now();
        while end - start >= 4 {
            let b = &buf[start..end];
            if b[0] == b'$' {
                let n = 4 + usize::from(u16::from_be_bytes([b[2], b[3]]));
                if b.len() < n {
                    break;
                }
                if b[1] == channel {
                    t.on_rtp(&b[4..n], now_ns, now, measuring);
                }
                start += n;
            } else {
                match xlgw_rtsp::FrameParser::next(b) {
                    Ok(Some((_, n))) => start += n,
                    Ok(None) => break,
                    Err(()) => return Err(ClientError::Bad("stream out of sync")),
                }
            }
        }
        if start == end {
            start = 0;
            end = 0;
        } else if start > 0 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if end == buf.len() {
            return Err(ClientError::Bad("frame larger than the read buffer"));
        }
    }
}

/// Binds an even/odd pair of UDP ports on 127.0.0.1.
fn bind_udp_pair(ctl: &Ctl) -> Result<(UdpSocket, UdpSocket, (u16, u16)), ClientError> {
    for _ in 0..4000 {
        let p = ctl.next_udp_port.fetch_add(2, Ordering::Relaxed);
        if !(UDP_BASE_PORT..=60_000).contains(&p) {
            ctl.next_udp_port.store(UDP_BASE_PORT, Ordering::Relaxed);
            continue;
        }
        let Ok(a) = bind_udp(p) else { continue };
        let Ok(b) = bind_udp(p + 1) else { continue };
        return Ok((a, b, (p, p + 1)));
    }
    Err(ClientError::Bad("no free UDP port pair"))
}

fn bind_udp(port: u16) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    let _ = s.set_recv_buffer_size(UDP_RCVBUF);
    s.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// The data phase over UDP: RTP on `rtp_sock`, RTCP receiver reports (to
/// keep the session alive) from `rtcp_sock`, and the RTSP control
/// connection (keepalives, answers discarded) when there is one.
#[allow(clippy::too_many_arguments)]
async fn udp_data(
    ctl: &Ctl,
    rtp_sock: &UdpSocket,
    rtcp_sock: &UdpSocket,
    rtcp_dest: Option<SocketAddr>,
    control: Option<(&mut TcpStream, &Keepalive)>,
    t: &mut Track,
    life: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) -> Result<End, ClientError> {
    let mut buf = vec![0u8; 65_536];
    let mut cbuf = vec![0u8; 4096];
    let deadline = deadline_of(life);
    let (mut stream, keep) = match control {
        Some((s, k)) => (Some(s), Some(k)),
        None => (None, None),
    };
    let ka_every = keep.map_or(Duration::from_secs(5), |k| {
        k.every.min(Duration::from_secs(5))
    });
    let mut ka = tokio::time::interval_at(Instant::now() + ka_every, ka_every);
    let ssrc: u32 = rand::random();
    let mut cseq = 0u32;
    loop {
        tokio::select! {
            r = rtp_sock.recv(&mut buf) => {
                let n = r?;
                let measuring = ctl.measuring.load(Ordering::Relaxed);
                t.add_bytes(n, measuring);
                t.on_rtp(&buf[..n], wall_ns(), Instant::now(), measuring);
            }
            r = async {
                match stream.as_mut() {
                    Some(s) => s.read(&mut cbuf).await,
                    None => std::future::pending().await,
                }
            } => {
                if r? == 0 {
                    return Ok(End::Server("control connection closed".into()));
                }
            }
            _ = ka.tick() => {
                if let Some(dest) = rtcp_dest {
                    // RTCP receiver report without report blocks.
                    let mut rr = vec![0x80, 201, 0, 1];
                    rr.extend_from_slice(&ssrc.to_be_bytes());
                    let _ = rtcp_sock.send_to(&rr, dest).await;
                }
                if let (Some(s), Some(k)) = (stream.as_mut(), keep) {
                    cseq += 1;
                    keepalive(*s, k, cseq).await?;
                }
            }
            _ = stop.changed() => return Ok(End::Stopped),
            _ = tokio::time::sleep_until(deadline) => return Ok(End::Lifetime),
        }
    }
}

async fn raw_tcp(
    ctl: &Ctl,
    url: &str,
    life: Option<Duration>,
    stop: watch::Receiver<bool>,
    out: &mut ReaderOut,
) -> Result<End, ClientError> {
    let hp = host_port(url)?;
    let mut s = timed(ctl.connect_timeout, "connect", async {
        TcpStream::connect(&hp)
            .await
            .map_err(|e| ClientError::Connect(hp.clone(), e))
    })
    .await?;
    let _ = s.set_nodelay(true);
    mark_ok(ctl, out);
    let mut t = Track::new(ctl.raw_codec, wall_ns(), Instant::now());
    let end = tcp_data(ctl, &mut s, Vec::new(), 0, &mut t, None, life, stop).await;
    out.absorb(t);
    end
}

async fn raw_udp(
    ctl: &Ctl,
    url: &str,
    life: Option<Duration>,
    stop: watch::Receiver<bool>,
    out: &mut ReaderOut,
) -> Result<End, ClientError> {
    let hp = host_port(url)?;
    let dest: SocketAddr = hp.parse().map_err(|_| ClientError::Url(url.to_owned()))?;
    let (rtp_sock, rtcp_sock, _) = bind_udp_pair(ctl)?;
    rtp_sock.send_to(b"hello", dest).await?;
    mark_ok(ctl, out);
    let mut t = Track::new(ctl.raw_codec, wall_ns(), Instant::now());
    let end = udp_data(ctl, &rtp_sock, &rtcp_sock, None, None, &mut t, life, stop).await;
    let _ = rtp_sock.send_to(b"bye", dest).await;
    out.absorb(t);
    end
}

/// Waits until every RTSP URL answers DESCRIBE (only accepts a connection
/// with `describe` false: a DESCRIBE alone makes some servers prepare a
/// media that nobody plays), or every floor URL accepts a connection.
async fn wait_ready(urls: &[String], within: Duration, describe: bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for u in urls {
        let u = u.clone();
        let sem = sem.clone();
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            loop {
                let r = async {
                    if u.starts_with("udp://") {
                        return Ok(());
                    }
                    if u.starts_with("tcp://") || !describe {
                        TcpStream::connect(host_port(&u)?)
                            .await
                            .map_err(|e| ClientError::Connect(u.clone(), e))?;
                        return Ok(());
                    }
                    let mut c = Client::connect(&u).await?;
                    c.describe(&u).await.map(|_| ())
                };
                let left = deadline.saturating_duration_since(Instant::now());
                match timed(left.max(Duration::from_secs(1)), "readiness check", r).await {
                    Ok(()) => return Ok(()),
                    Err(e) if Instant::now() < deadline => {
                        tracing::debug!(url = %u, error = %e, "not ready yet");
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    Err(e) => return Err(anyhow::anyhow!("{u} not ready: {e}")),
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

/// Churn readers' results.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChurnSummary {
    pub joined: usize,
    pub ok: usize,
    pub failed: usize,
    pub ttff: Quantiles,
    pub no_keyframe: usize,
}

/// The relay process during the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RelaySummary {
    pub pid: u32,
    pub cpu_s: f64,
    pub cpu_pct: f64,
    pub cpu_s_per_gb: f64,
    /// RSS before the first reader (streams up, no reader).
    pub rss_base_kib: u64,
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
    pub rss_max_kib: u64,
    /// (RSS at the end of the window − base) / steady readers.
    pub rss_per_reader_kib: f64,
    /// RSS growth over the window (last minus first sample), KiB per minute.
    pub rss_growth_kib_per_min: f64,
    pub threads: u64,
    /// RSS once a second through the window.
    pub rss_series_kib: Vec<u64>,
}

/// The machine during the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SystemSummary {
    pub cpus: usize,
    /// All CPUs busy, in % of one CPU (so up to 100 × cpus).
    pub busy_pct: f64,
    pub load1_start: f64,
    pub load1_end: f64,
    pub readers_cpu_s: f64,
}

/// Everything a `readers` run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub label: String,
    pub transport: String,
    pub streams: usize,
    pub readers: usize,
    pub readers_ok: usize,
    pub readers_failed: usize,
    pub errors: Vec<(String, usize)>,
    pub ended_early: usize,
    pub ramp_s: f64,
    pub window_s: f64,
    pub bytes: u64,
    pub packets: u64,
    pub frames: u64,
    pub mbit_s: f64,
    pub min_reader_mbit_s: f64,
    pub lost_packets: u64,
    pub lost_frames: u64,
    pub lost_packets_total: u64,
    pub lost_frames_total: u64,
    /// Lost packets and frames in the window, % of expected.
    pub loss_pct: f64,
    pub ttff: Quantiles,
    pub no_keyframe: usize,
    pub delay: Quantiles,
    pub stamps: u64,
    pub churn: Option<ChurnSummary>,
    pub relay: Option<RelaySummary>,
    pub system: SystemSummary,
}

/// Runs the readers and returns what they measured.
pub async fn run(o: ReadersOpts) -> anyhow::Result<Summary> {
    anyhow::ensure!(!o.urls.is_empty(), "no URL given");
    anyhow::ensure!(o.ramp > 0.0, "--ramp must be above 0");
    let ctl = Arc::new(Ctl {
        measuring: AtomicBool::new(false),
        ok: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        next_udp_port: AtomicU16::new(UDP_BASE_PORT),
        raw_codec: o.raw_codec,
        transport: o.transport,
        connect_timeout: o.connect_timeout,
    });
    let mut distinct = o.urls.clone();
    distinct.sort();
    distinct.dedup();
    wait_ready(
        &distinct,
        o.connect_timeout.max(Duration::from_secs(30)),
        o.probe_describe,
    )
    .await?;
    // Let the relay settle after the readiness checks' connections.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = o.watch_pid.and_then(|p| procstat::sample(p).ok());

    let (stop_tx, stop_rx) = watch::channel(false);
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(o.readers);
    for i in 0..o.readers {
        let due = t0 + Duration::from_secs_f64(i as f64 / o.ramp);
        tokio::time::sleep_until(due).await;
        let url = o.urls[i % o.urls.len()].clone();
        handles.push(tokio::spawn(reader(
            ctl.clone(),
            url,
            None,
            stop_rx.clone(),
        )));
    }
    // All handshakes done (or failed).
    let hs_deadline = Instant::now() + o.connect_timeout + Duration::from_secs(5);
    while ctl.ok.load(Ordering::Relaxed) + ctl.failed.load(Ordering::Relaxed) < o.readers
        && Instant::now() < hs_deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ramp_s = t0.elapsed().as_secs_f64();
    tracing::info!(
        ok = ctl.ok.load(Ordering::Relaxed),
        failed = ctl.failed.load(Ordering::Relaxed),
        ramp_s,
        "readers started"
    );
    // Warm-up, then the measurement window. Churn readers start with the
    // warm-up, so the window sees a steady population.
    let win_start = Instant::now() + o.warmup;
    let win_end = win_start + o.duration;
    let mut window: Option<(
        procstat::SysSample,
        f64,
        Option<procstat::ProcSample>,
        Option<procstat::ProcSample>,
    )> = None;
    let mut series = Vec::new();
    let mut next_sample = win_start;
    let mut churn_handles = Vec::new();
    let mut next_churn = Instant::now();
    let churn_every = (o.churn_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / o.churn_rate));
    loop {
        let now = Instant::now();
        if now >= win_end {
            break;
        }
        if window.is_none() && now >= win_start {
            window = Some((
                procstat::sys_sample(),
                procstat::loadavg(),
                o.watch_pid.and_then(|p| procstat::sample(p).ok()),
                procstat::sample(std::process::id()).ok(),
            ));
            ctl.measuring.store(true, Ordering::Relaxed);
        }
        if window.is_some() && now >= next_sample {
            if let Some(s) = o.watch_pid.and_then(|p| procstat::sample(p).ok()) {
                series.push(s.rss_kib);
            }
            next_sample += Duration::from_secs(1);
        }
        if let Some(every) = churn_every {
            while next_churn <= now {
                let k = churn_handles.len();
                let url = o.urls[k % o.urls.len()].clone();
                churn_handles.push(tokio::spawn(reader(
                    ctl.clone(),
                    url,
                    Some(o.churn_life),
                    stop_rx.clone(),
                )));
                next_churn += every;
            }
        }
        let mut wake = if window.is_some() {
            next_sample.min(win_end)
        } else {
            win_start
        };
        if churn_every.is_some() {
            wake = wake.min(next_churn);
        }
        tokio::time::sleep_until(wake).await;
    }
    let (sys0, load0, w0, own0) = match window {
        Some(w) => w,
        None => (procstat::sys_sample(), procstat::loadavg(), None, None),
    };
    ctl.measuring.store(false, Ordering::Relaxed);
    let window_s = Instant::now()
        .saturating_duration_since(win_start)
        .as_secs_f64();
    let w1 = o.watch_pid.and_then(|p| procstat::sample(p).ok());
    let own1 = procstat::sample(std::process::id()).ok();
    let sys1 = procstat::sys_sample();
    let load1 = procstat::loadavg();

    let _ = stop_tx.send(true);
    let mut outs = Vec::with_capacity(handles.len() + churn_handles.len());
    for h in handles.into_iter().chain(churn_handles) {
        match tokio::time::timeout(Duration::from_secs(20), h).await {
            Ok(Ok(r)) => outs.push(r),
            Ok(Err(e)) => tracing::warn!(error = %e, "reader task failed"),
            Err(_) => tracing::warn!("reader did not stop in time"),
        }
    }

    let mut s = aggregate(&o, &outs, window_s);
    s.ramp_s = ramp_s;
    s.system = SystemSummary {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        busy_pct: sys1.busy_pct_since(&sys0),
        load1_start: load0,
        load1_end: load1,
        readers_cpu_s: match (own0, own1) {
            (Some(a), Some(b)) => b.cpu_s - a.cpu_s,
            _ => 0.0,
        },
    };
    if let (Some(pid), Some(a), Some(b)) = (o.watch_pid, w0, w1) {
        let cpu_s = b.cpu_s - a.cpu_s;
        let gb = s.bytes as f64 / 1e9;
        let base_kib = base.map_or(a.rss_kib, |x| x.rss_kib);
        let steady = outs.iter().filter(|r| r.ok && !r.churn).count().max(1);
        let growth = slope_per_min(&series);
        s.relay = Some(RelaySummary {
            pid,
            cpu_s,
            cpu_pct: cpu_s / window_s.max(1e-9) * 100.0,
            cpu_s_per_gb: if gb > 0.0 { cpu_s / gb } else { 0.0 },
            rss_base_kib: base_kib,
            rss_start_kib: a.rss_kib,
            rss_end_kib: b.rss_kib,
            rss_max_kib: series
                .iter()
                .copied()
                .max()
                .unwrap_or(b.rss_kib)
                .max(b.rss_kib),
            rss_per_reader_kib: (b.rss_kib as f64 - base_kib as f64) / steady as f64,
            rss_growth_kib_per_min: growth,
            threads: b.threads,
            rss_series_kib: series,
        });
    }
    Ok(s)
}

/// Least-squares slope of once-a-second samples, per minute.
fn slope_per_min(series: &[u64]) -> f64 {
    let n = series.len() as f64;
    if series.len() < 2 {
        return 0.0;
    }
    let mx = (n - 1.0) / 2.0;
    let my = series.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, &v) in series.iter().enumerate() {
        let dx = i as f64 - mx;
        sxy += dx * (v as f64 - my);
        sxx += dx * dx;
    }
    sxy / sxx * 60.0
}

fn aggregate(o: &ReadersOpts, outs: &[ReaderOut], window_s: f64) -> Summary {
    let mut s = Summary {
        label: o.label.clone(),
        transport: if o.urls[0].starts_with("tcp://") {
            "raw-tcp".into()
        } else if o.urls[0].starts_with("udp://") {
            "raw-udp".into()
        } else {
            format!("{:?}", o.transport).to_lowercase()
        },
        streams: {
            let mut u = o.urls.clone();
            u.sort();
            u.dedup();
            u.len()
        },
        readers: o.readers,
        window_s,
        ..Summary::default()
    };
    let mut delay = Hist::default();
    let mut ttff = Hist::default();
    let mut churn_ttff = Hist::default();
    let mut errors: HashMap<String, usize> = HashMap::new();
    let mut churn = ChurnSummary::default();
    let mut min_mbit = f64::INFINITY;
    for r in outs {
        if r.churn {
            churn.joined += 1;
        }
        if let Some(e) = &r.error {
            *errors.entry(e.clone()).or_default() += 1;
        }
        if !r.ok {
            if r.churn {
                churn.failed += 1;
            } else {
                s.readers_failed += 1;
            }
            continue;
        }
        if r.churn {
            churn.ok += 1;
        } else {
            s.readers_ok += 1;
        }
        if let Some(e) = &r.ended_early {
            s.ended_early += 1;
            *errors.entry(format!("ended early: {e}")).or_default() += 1;
        }
        s.bytes += r.win.bytes;
        s.packets += r.win.packets;
        s.frames += r.win.frames;
        s.lost_packets += r.win.lost_packets;
        s.lost_frames += r.win.lost_frames;
        s.lost_packets_total += r.total.lost_packets;
        s.lost_frames_total += r.total.lost_frames;
        s.stamps += r.stamps;
        delay.merge(&r.delay);
        let (h, nk) = if r.churn {
            (&mut churn_ttff, &mut churn.no_keyframe)
        } else {
            (&mut ttff, &mut s.no_keyframe)
        };
        match r.ttff {
            Some(d) => h.record(d.as_micros() as u64),
            None => *nk += 1,
        }
        if !r.churn {
            min_mbit = min_mbit.min(r.win.bytes as f64 * 8.0 / window_s.max(1e-9) / 1e6);
        }
    }
    s.mbit_s = s.bytes as f64 * 8.0 / window_s.max(1e-9) / 1e6;
    s.min_reader_mbit_s = if min_mbit.is_finite() { min_mbit } else { 0.0 };
    let expected = (s.packets + s.lost_packets).max(1) as f64;
    let expected_frames = (s.frames + s.lost_frames).max(1) as f64;
    s.loss_pct =
        (s.lost_packets as f64 / expected).max(s.lost_frames as f64 / expected_frames) * 100.0;
    s.ttff = ttff.quantiles();
    s.delay = delay.quantiles();
    let mut e: Vec<(String, usize)> = errors.into_iter().collect();
    e.sort_by_key(|x| std::cmp::Reverse(x.1));
    e.truncate(8);
    s.errors = e;
    if churn.joined > 0 || o.churn_rate > 0.0 {
        churn.ttff = churn_ttff.quantiles();
        s.churn = Some(churn);
    }
    s
}

/// The summary as text for a person.
pub fn print_text(s: &Summary) {
    println!(
        "{}: {} {} readers on {} stream(s): {} ok, {} failed, {} ended early (ramp {:.1} s)",
        s.label,
        s.readers,
        s.transport,
        s.streams,
        s.readers_ok,
        s.readers_failed,
        s.ended_early,
        s.ramp_s
    );
    println!(
        "  window {:.1} s: {:.1} Mbit/s delivered (slowest reader {:.2}), {} packets, {} frames",
        s.window_s, s.mbit_s, s.min_reader_mbit_s, s.packets, s.frames
    );
    println!(
        "  loss: {} packets, {} frames in the window ({:.4} %); {} / {} over the whole run",
        s.lost_packets, s.lost_frames, s.loss_pct, s.lost_packets_total, s.lost_frames_total
    );
    println!(
        "  first keyframe after PLAY: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} readers without one)",
        s.ttff.p50_ms, s.ttff.p99_ms, s.ttff.max_ms, s.no_keyframe
    );
    println!(
        "  added delay: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} live frames",
        s.delay.p50_ms, s.delay.p99_ms, s.delay.max_ms, s.delay.count
    );
    if let Some(c) = &s.churn {
        println!(
            "  churn: {} joined ({} ok, {} failed), first keyframe p50 {:.1} ms, max {:.1} ms",
            c.joined, c.ok, c.failed, c.ttff.p50_ms, c.ttff.max_ms
        );
    }
    if let Some(r) = &s.relay {
        println!(
            "  relay pid {}: {:.2} CPU-s ({:.1} %), {:.3} CPU-s/GB, RSS {} → {} KiB (base {}, max {}, {:.1} KiB/reader, {:+.0} KiB/min), {} threads",
            r.pid,
            r.cpu_s,
            r.cpu_pct,
            r.cpu_s_per_gb,
            r.rss_start_kib,
            r.rss_end_kib,
            r.rss_base_kib,
            r.rss_max_kib,
            r.rss_per_reader_kib,
            r.rss_growth_kib_per_min,
            r.threads
        );
    }
    println!(
        "  machine: {} CPUs {:.0} % busy, load {:.2} → {:.2}; readers used {:.2} CPU-s",
        s.system.cpus,
        s.system.busy_pct,
        s.system.load1_start,
        s.system.load1_end,
        s.system.readers_cpu_s
    );
    for (e, n) in &s.errors {
        println!("  error ×{n}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sei::{self, Stamp};

    fn pkt(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        rtp::write_header(&mut p, 96, marker, seq, ts, 1);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn track_counts_gaps_keyframes_and_delay() {
        let t0 = Instant::now();
        let mut t = Track::new(VideoCodec::H264, 1_000, t0);
        let sei = |f, ns| {
            sei::build(
                VideoCodec::H264,
                Stamp {
                    sent_ns: ns,
                    frame: f,
                    stream: 0,
                },
            )
        };
        // A cached keyframe (stamp before live_from): no delay recorded.
        t.on_rtp(&pkt(10, 0, false, &sei(1, 500)), 2_000_000, t0, true);
        t.on_rtp(&pkt(11, 0, true, &[0x65, 1]), 2_000_000, t0, true);
        assert!(t.ttff.is_some());
        assert_eq!(t.cached_frames, 1);
        assert_eq!(t.delay.quantiles().count, 0);
        // Live frame 2, then frame 4 after a sequence gap.
        t.on_rtp(&pkt(12, 3600, false, &sei(2, 5_000)), 3_005_000, t0, true);
        t.on_rtp(&pkt(13, 3600, true, &[0x41, 1]), 3_005_000, t0, true);
        t.on_rtp(&pkt(16, 10800, false, &sei(4, 6_000)), 9_006_000, t0, true);
        t.on_rtp(&pkt(17, 10800, true, &[0x41, 1]), 9_006_000, t0, true);
        assert_eq!(t.win.lost_packets, 2);
        assert_eq!(t.win.lost_frames, 1);
        assert_eq!(t.win.frames, 3);
        assert_eq!(t.delay.quantiles().count, 2);
        assert_eq!(t.delay.quantiles().max_ms, 9.0);
        // Outside the window nothing is added to the window counters.
        t.on_rtp(&pkt(18, 14400, true, &[0x41]), 0, t0, false);
        assert_eq!(t.win.packets, 6);
        assert_eq!(t.total.packets, 7);
    }

    #[test]
    fn slope() {
        assert_eq!(slope_per_min(&[5]), 0.0);
        assert!((slope_per_min(&[10, 11, 12, 13]) - 60.0).abs() < 1e-9);
        assert!(slope_per_min(&[10, 10, 10]).abs() < 1e-9);
    }

    #[test]
    fn keyframe_with_a_gap_is_not_the_first_frame() {
        let t0 = Instant::now();
        let mut t = Track::new(VideoCodec::H264, 0, t0);
        t.on_rtp(&pkt(1, 0, false, &[0x7c, 0x85, 0]), 0, t0, false);
        t.on_rtp(&pkt(3, 0, true, &[0x7c, 0x45, 0]), 0, t0, false);
        assert!(t.ttff.is_none());
        t.on_rtp(&pkt(4, 3600, false, &[0x7c, 0x85, 0]), 0, t0, false);
        t.on_rtp(&pkt(5, 3600, true, &[0x7c, 0x45, 0]), 0, t0, false);
        assert!(t.ttff.is_some());
    }
}
