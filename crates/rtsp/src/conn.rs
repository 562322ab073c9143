//! One client connection: requests in, responses and packets out.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use rtsp_types::{Method, Request, Version, headers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use xlgw_relay::{FrameRef, MAX_TRACKS, Reader, WireKey};

use crate::request::{MAX_REQUEST_BYTES, Next, next_message, parse_path};
use crate::server::{Resolved, Shared, StreamError};
use crate::transport::{TransportSpec, parse_transport};
use crate::write::{TcpWriter, TrackOut, write_udp};

const PUBLIC: &str =
    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";
const SERVER: &str = concat!("xlgw/", env!("CARGO_PKG_VERSION"));

/// Answers a connection over the limit and closes it.
pub(crate) async fn refuse(mut sock: TcpStream) {
    let msg = format!(
        "RTSP/1.0 503 Service Unavailable\r\nServer: {SERVER}\r\nContent-Length: 0\r\n\r\n"
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), sock.write_all(msg.as_bytes())).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
}

struct Session {
    id: String,
    path: String,
    resolved: Resolved,
    kind: Kind,
    /// Per track: how it goes out (TCP channel or UDP destination).
    tcp_tracks: Vec<Option<TrackOut>>,
    udp_tracks: Vec<Option<(TrackOut, SocketAddr)>>,
    reader: Option<Reader>,
    /// Set at PLAY when every TCP track is set up the usual way (track `i`
    /// on channel `2i`, the hub's SSRC and payload type): frames then go out
    /// as the wire image shared by all such readers.
    wire: Option<WireKey>,
    udp_activity: Vec<(SocketAddr, Arc<AtomicU64>)>,
}

struct Response {
    status: u16,
    headers: String,
    body: Vec<u8>,
    close: bool,
}

impl Response {
    fn new(status: u16) -> Response {
        Response {
            status,
            headers: String::new(),
            body: Vec::new(),
            close: false,
        }
    }
    fn header(mut self, k: &str, v: &str) -> Response {
        // Values come from us or are sanitised; never let a CR/LF through.
        let v: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        let _ = write!(self.headers, "{k}: {v}\r\n");
        self
    }
    fn closing(mut self) -> Response {
        self.close = true;
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        459 => "Aggregate Operation Not Allowed",
        461 => "Unsupported Transport",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "RTSP Version Not Supported",
        551 => "Option not supported",
        _ => "Error",
    }
}

fn method_name(m: &Method) -> &'static str {
    match m {
        Method::Options => "OPTIONS",
        Method::Describe => "DESCRIBE",
        Method::Setup => "SETUP",
        Method::Play => "PLAY",
        Method::Pause => "PAUSE",
        Method::Teardown => "TEARDOWN",
        Method::GetParameter => "GET_PARAMETER",
        Method::SetParameter => "SET_PARAMETER",
        Method::Announce => "ANNOUNCE",
        Method::Record => "RECORD",
        Method::Redirect => "REDIRECT",
        _ => "OTHER",
    }
}

struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    local: SocketAddr,
    session: Option<Session>,
    last_request: Instant,
}

/// Serves one connection until the client leaves, misbehaves or times out.
pub(crate) async fn serve(shared: Arc<Shared>, mut sock: TcpStream, peer: SocketAddr) {
    let stats = shared.stats.clone();
    stats.connections_total.fetch_add(1, Ordering::Relaxed);
    stats.connections_open.fetch_add(1, Ordering::Relaxed);
    let _ = sock.set_nodelay(true);
    // The send buffer is left to the kernel's autotuning: a reader that stops
    // reading advertises a zero window, so the buffer stays small on real
    // networks and the write timeout notices the stall within seconds.
    let local = sock.local_addr().unwrap_or(shared.cfg.listen);
    let mut conn = Conn {
        shared,
        peer,
        local,
        session: None,
        last_request: Instant::now(),
    };
    let why = conn.run(&mut sock).await;
    tracing::debug!(%peer, why, "rtsp connection closed");
    conn.end_session();
    stats.connections_open.fetch_sub(1, Ordering::Relaxed);
}

impl Conn {
    async fn run(&mut self, sock: &mut TcpStream) -> &'static str {
        let cfg = self.shared.cfg.clone();
        let (mut rd, mut wr) = sock.split();
        let mut buf = BytesMut::with_capacity(4096);
        let mut batch: VecDeque<FrameRef> = VecDeque::new();
        let mut writer = TcpWriter::default();
        let mut partial_since: Option<Instant> = None;
        // One timer for the connection's own deadlines, re-armed only while
        // one applies: a TCP reader that plays has none (its writes carry
        // their own timeout), so frames do not touch the timer wheel.
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        loop {
            let playing = self.session.as_ref().is_some_and(|s| s.reader.is_some());
            let tcp_playing = playing && self.session.as_ref().is_some_and(|s| s.kind == Kind::Tcp);
            let timed = !tcp_playing || partial_since.is_some();
            if timed {
                let deadline = self.deadline(partial_since, playing);
                // Moved only when due earlier, or after it fired: one that
                // fires early finds nothing to do and is re-armed.
                if sleep.is_elapsed() || deadline < sleep.deadline() {
                    sleep.as_mut().reset(deadline);
                }
            }
            tokio::select! {
                r = rd.read_buf(&mut buf) => {
                    match r {
                        Ok(0) | Err(_) => return "client closed",
                        Ok(_) => {}
                    }
                    // Handle every complete message in the buffer.
                    loop {
                        match next_message(&buf) {
                            Next::Incomplete => break,
                            Next::Interleaved { consumed, .. } | Next::Response(consumed) | Next::Skip(consumed) => {
                                buf.advance(consumed);
                                self.last_request = Instant::now();
                            }
                            Next::Request(req, consumed) => {
                                buf.advance(consumed);
                                self.last_request = Instant::now();
                                let resp = self.handle(&req).await;
                                let close = resp.close;
                                let out = render(&req, resp, self.session.as_ref().map(|s| s.id.as_str()), &self.shared);
                                if timeout(cfg.write_timeout, wr.write_all(out.as_bytes())).await.is_err() {
                                    return "write failed";
                                }
                                if close {
                                    return "closed after error";
                                }
                            }
                            Next::TooLarge => {
                                self.shared.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
                                self.shared.stats.request("OTHER", 413);
                                let _ = timeout(cfg.write_timeout, wr.write_all(bare(413).as_bytes())).await;
                                return "request too large";
                            }
                            Next::Invalid => {
                                self.shared.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
                                self.shared.stats.request("OTHER", 400);
                                let _ = timeout(cfg.write_timeout, wr.write_all(bare(400).as_bytes())).await;
                                return "malformed request";
                            }
                        }
                    }
                    partial_since = if buf.is_empty() { None } else { partial_since.or(Some(Instant::now())) };
                    if buf.capacity() > 4 * MAX_REQUEST_BYTES && buf.is_empty() {
                        buf = BytesMut::with_capacity(4096);
                    }
                }
                res = recv(self.session.as_ref().and_then(|s| s.reader.as_ref()), &mut batch), if playing => {
                    let Ok(n) = res else {
                        return "relay closed the reader";
                    };
                    let Some(s) = self.session.as_ref() else { return "no session" };
                    let n = n as u64;
                    let sent = match s.kind {
                        Kind::Tcp => match timeout(cfg.write_timeout, writer.write(&mut wr, &batch, &s.tcp_tracks, s.wire.as_ref())).await {
                            Ok(n) => n as u64,
                            Err(()) => return "write timeout",
                        },
                        Kind::Udp => match self.shared.udp.as_ref() {
                            Some(u) => write_udp(&u.rtp, &batch, &s.udp_tracks).await,
                            None => 0,
                        },
                    };
                    batch.clear();
                    self.shared.stats.bytes_out.fetch_add(sent, Ordering::Relaxed);
                    self.shared.stats.packets_out.fetch_add(n, Ordering::Relaxed);
                }
                _ = &mut sleep, if timed => {
                    let now = Instant::now();
                    if partial_since.is_some_and(|t| now - t >= cfg.request_timeout) {
                        self.shared.stats.request("OTHER", 408);
                        let _ = timeout(cfg.write_timeout, wr.write_all(bare(408).as_bytes())).await;
                        return "request timeout";
                    }
                    if !playing && now - self.last_request >= cfg.idle_timeout {
                        return "idle";
                    }
                    if playing && self.udp_dead(now) {
                        return "udp session timeout";
                    }
                }
            }
        }
    }

    fn deadline(&self, partial_since: Option<Instant>, playing: bool) -> Instant {
        let cfg = &self.shared.cfg;
        let now = Instant::now();
        let udp = self.session.as_ref().is_some_and(|s| s.kind == Kind::Udp);
        // A TCP reader that plays is alive while its connection is: only
        // the write timeout (enforced on each write) applies. Far future.
        let mut d = now + Duration::from_secs(3600);
        if !playing {
            d = self.last_request + cfg.idle_timeout;
        } else if udp {
            // UDP liveness comes from requests or RTCP: look again when the
            // last request would expire, at most 5 s and at least 1 s from
            // now (a session kept alive by RTCP alone has its request
            // deadline in the past: checking it every 10 ms would spin).
            d = (self.last_request + cfg.session_timeout)
                .min(now + Duration::from_secs(5))
                .max(now + Duration::from_secs(1));
        }
        if let Some(p) = partial_since {
            d = d.min(p + cfg.request_timeout);
        }
        // Never a deadline in the past without a reason to act on it.
        d.max(now + Duration::from_millis(10))
    }

    /// A UDP session is alive while requests or RTCP keep coming.
    fn udp_dead(&self, now: Instant) -> bool {
        let Some(s) = &self.session else { return false };
        if s.kind != Kind::Udp {
            return false;
        }
        let timeout = self.shared.cfg.session_timeout;
        if now - self.last_request < timeout {
            return false;
        }
        let elapsed = self.shared.started.elapsed().as_secs();
        !s.udp_activity
            .iter()
            .any(|(_, a)| elapsed.saturating_sub(a.load(Ordering::Relaxed)) < timeout.as_secs())
    }

    fn end_session(&mut self) {
        if let Some(s) = self.session.take() {
            if s.reader.is_some() {
                self.shared
                    .stats
                    .sessions_playing
                    .fetch_sub(1, Ordering::Relaxed);
            }
            self.shared
                .stats
                .sessions_open
                .fetch_sub(1, Ordering::Relaxed);
            if let Some(u) = &self.shared.udp {
                let mut act = u.activity.lock();
                for (addr, _) in &s.udp_activity {
                    act.remove(addr);
                }
            }
        }
    }

    async fn handle(&mut self, req: &Request<Vec<u8>>) -> Response {
        let method = method_name(req.method());
        let resp = self.dispatch(req).await;
        if resp.status >= 400 {
            self.shared
                .stats
                .bad_requests
                .fetch_add(1, Ordering::Relaxed);
        }
        self.shared.stats.request(method, resp.status);
        resp
    }

    async fn dispatch(&mut self, req: &Request<Vec<u8>>) -> Response {
        if req.version() != Version::V1_0 {
            return Response::new(505).closing();
        }
        if req.header(&headers::CSEQ).is_none() {
            return Response::new(400);
        }
        if req.header(&headers::REQUIRE).is_some() {
            let v = req
                .header(&headers::REQUIRE)
                .map(|v| v.as_str())
                .unwrap_or("");
            return Response::new(551).header("Unsupported", v);
        }
        // A request naming a session must name ours.
        if let Some(sid) = req.header(&headers::SESSION) {
            let sid = sid.as_str().split(';').next().unwrap_or("").trim();
            let ours = self.session.as_ref().is_some_and(|s| s.id == sid);
            if !ours {
                return Response::new(454);
            }
        }
        match req.method() {
            Method::Options => Response::new(200).header("Public", PUBLIC),
            Method::Describe => self.describe(req).await,
            Method::Setup => self.setup(req).await,
            Method::Play => self.play(req),
            Method::Pause => self.pause(req),
            Method::Teardown => {
                if req.header(&headers::SESSION).is_none() {
                    return Response::new(454);
                }
                self.end_session();
                Response::new(200)
            }
            Method::GetParameter | Method::SetParameter => Response::new(200),
            Method::Announce | Method::Record => Response::new(405).header("Allow", PUBLIC),
            _ => Response::new(501),
        }
    }

    async fn open(&self, path: &str) -> Result<Resolved, Response> {
        match self.shared.streams.open(path).await {
            Ok(r) => Ok(r),
            Err(StreamError::NotFound) => Err(Response::new(404)),
            Err(StreamError::Unavailable(why)) => {
                tracing::info!(path, %why, "stream unavailable");
                Err(Response::new(503))
            }
        }
    }

    async fn describe(&mut self, req: &Request<Vec<u8>>) -> Response {
        let Some(uri) = req.request_uri() else {
            return Response::new(400);
        };
        let Some((path, None)) = parse_path(uri) else {
            return Response::new(404);
        };
        let resolved = match self.open(&path).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let Some((info, _)) = resolved.hub.info() else {
            return Response::new(503);
        };
        let sid: u64 = rand::random::<u32>().into();
        let sdp = info.to_sdp(sid, &self.local.ip().to_string(), &resolved.name);
        let base = format!("rtsp://{}/{}/", host_of(uri, self.local), path);
        let mut r = Response::new(200)
            .header("Content-Base", &base)
            .header("Content-Type", "application/sdp");
        r.body = sdp.into_bytes();
        r
    }

    async fn setup(&mut self, req: &Request<Vec<u8>>) -> Response {
        let Some(uri) = req.request_uri() else {
            return Response::new(400);
        };
        let Some((path, track)) = parse_path(uri) else {
            return Response::new(404);
        };
        let Some(spec) = req
            .header(&headers::TRANSPORT)
            .and_then(|t| parse_transport(t.as_str()))
        else {
            return Response::new(461);
        };
        if let Some(s) = &self.session {
            if s.path != path {
                return Response::new(459);
            }
            if s.reader.is_some() {
                return Response::new(455);
            }
        }
        let resolved = match &self.session {
            Some(s) => s.resolved.clone(),
            None => match self.open(&path).await {
                Ok(r) => r,
                Err(resp) => return resp,
            },
        };
        let Some((info, _)) = resolved.hub.info() else {
            return Response::new(503);
        };
        let ntracks = info.tracks.len();
        let track = match track {
            Some(t) if t < ntracks => t,
            Some(_) => return Response::new(404),
            None if ntracks == 1 => 0,
            None => return Response::new(459),
        };
        let kind = match spec {
            TransportSpec::Interleaved { .. } => Kind::Tcp,
            TransportSpec::Udp { .. } => Kind::Udp,
        };
        if self.session.as_ref().is_some_and(|s| s.kind != kind) {
            return Response::new(461);
        }
        let udp = match (kind, &self.shared.udp) {
            (Kind::Udp, None) => return Response::new(461),
            (_, u) => u.clone(),
        };
        // TCP readers share the stream's SSRC (so they can share its wire
        // image); a UDP reader gets its own, so that knowing one viewer's
        // SSRC does not help spoof RTP into another viewer's UDP session.
        let ssrc = match kind {
            Kind::Tcp => resolved.hub.track_ssrc(track),
            Kind::Udp => rand::random(),
        };
        if self.session.is_none() {
            self.shared
                .stats
                .sessions_total
                .fetch_add(1, Ordering::Relaxed);
            self.shared
                .stats
                .sessions_open
                .fetch_add(1, Ordering::Relaxed);
            self.session = Some(Session {
                id: format!("{:016X}", rand::random::<u64>()),
                path,
                resolved,
                kind,
                tcp_tracks: vec![None; ntracks],
                udp_tracks: vec![None; ntracks],
                reader: None,
                wire: None,
                udp_activity: Vec::new(),
            });
        }
        let Some(s) = self.session.as_mut() else {
            return Response::new(500);
        };
        let out = TrackOut {
            channel: 0,
            ssrc,
            payload_type: info.tracks[track].payload_type,
        };
        let transport = match spec {
            TransportSpec::Interleaved { rtp, rtcp } => {
                s.tcp_tracks[track] = Some(TrackOut {
                    channel: rtp,
                    ..out
                });
                format!(
                    "RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp};ssrc={:08X};mode=\"PLAY\"",
                    out.ssrc
                )
            }
            TransportSpec::Udp {
                rtp_port,
                rtcp_port,
            } => {
                let Some(u) = udp else {
                    return Response::new(461);
                };
                let dest = SocketAddr::new(self.peer.ip(), rtp_port);
                let rtcp_from = SocketAddr::new(self.peer.ip(), rtcp_port);
                s.udp_tracks[track] = Some((out, dest));
                let act = Arc::new(AtomicU64::new(self.shared.started.elapsed().as_secs()));
                u.activity.lock().insert(rtcp_from, act.clone());
                s.udp_activity.push((rtcp_from, act));
                format!(
                    "RTP/AVP;unicast;client_port={rtp_port}-{rtcp_port};server_port={}-{};ssrc={:08X};mode=\"PLAY\"",
                    u.rtp_port, u.rtcp_port, out.ssrc
                )
            }
        };
        Response::new(200).header("Transport", &transport)
    }

    fn play(&mut self, req: &Request<Vec<u8>>) -> Response {
        if req.header(&headers::SESSION).is_none() {
            return Response::new(454);
        }
        let Some(s) = self.session.as_mut() else {
            return Response::new(454);
        };
        if s.reader.is_some() {
            return Response::new(200).header("Range", "npt=0.000-");
        }
        let mut mask = 0u64;
        for (i, t) in s.tcp_tracks.iter().enumerate() {
            if t.is_some() || s.udp_tracks[i].is_some() {
                mask |= 1 << i;
            }
        }
        if mask == 0 {
            return Response::new(455);
        }
        let Some(reader) = s.resolved.hub.add_reader(mask, Instant::now().into_std()) else {
            return Response::new(503);
        };
        s.wire = s.resolved.hub.info().and_then(|(info, _)| {
            wire_key(
                &s.tcp_tracks,
                |t| s.resolved.hub.track_ssrc(t),
                |t| info.tracks.get(t).map(|x| x.payload_type),
            )
        });
        s.reader = Some(reader);
        self.shared
            .stats
            .sessions_playing
            .fetch_add(1, Ordering::Relaxed);
        Response::new(200).header("Range", "npt=0.000-")
    }

    fn pause(&mut self, req: &Request<Vec<u8>>) -> Response {
        if req.header(&headers::SESSION).is_none() {
            return Response::new(454);
        }
        let Some(s) = self.session.as_mut() else {
            return Response::new(454);
        };
        if s.reader.take().is_some() {
            self.shared
                .stats
                .sessions_playing
                .fetch_sub(1, Ordering::Relaxed);
        }
        Response::new(200)
    }
}

/// The shared wire-image key for a reader whose TCP tracks are `tracks`, if
/// each track it set up is on channel `2 × track` with the hub's SSRC and the
/// stream's payload type.
fn wire_key(
    tracks: &[Option<TrackOut>],
    ssrc: impl Fn(usize) -> u32,
    payload_type: impl Fn(usize) -> Option<u8>,
) -> Option<WireKey> {
    if tracks.is_empty() || tracks.len() > MAX_TRACKS || tracks.iter().all(Option::is_none) {
        return None;
    }
    let mut key = WireKey {
        ssrc: [0; MAX_TRACKS],
        payload_type: [0; MAX_TRACKS],
    };
    for i in 0..MAX_TRACKS {
        key.ssrc[i] = ssrc(i);
        key.payload_type[i] = payload_type(i).unwrap_or(0);
    }
    for (i, t) in tracks.iter().enumerate() {
        if let Some(t) = t
            && (usize::from(t.channel) != 2 * i
                || t.ssrc != key.ssrc[i]
                || t.payload_type != key.payload_type[i])
        {
            return None;
        }
    }
    Some(key)
}

async fn recv(reader: Option<&Reader>, out: &mut VecDeque<FrameRef>) -> Result<usize, ()> {
    match reader {
        Some(r) => r.recv_frames(out).await.map_err(|_| ()),
        None => std::future::pending().await,
    }
}

/// `f` within `d`. Most writes complete at once (the socket buffer has
/// room): the timer is armed only for one that has to wait, so the hot path
/// does not touch the timer wheel per frame.
async fn timeout<T, E>(
    d: Duration,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ()> {
    let mut f = std::pin::pin!(f);
    if let std::task::Poll::Ready(r) = futures::poll!(f.as_mut()) {
        return r.map_err(|_| ());
    }
    match tokio::time::timeout(d, f).await {
        Ok(Ok(v)) => Ok(v),
        _ => Err(()),
    }
}

/// The host:port part for Content-Base: as the client addressed us, or our
/// own address when the URI has no host.
fn host_of(uri: &url::Url, local: SocketAddr) -> String {
    match (uri.host_str(), uri.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => local.to_string(),
    }
}

fn bare(status: u16) -> String {
    format!(
        "RTSP/1.0 {status} {}\r\nServer: {SERVER}\r\nContent-Length: 0\r\n\r\n",
        reason(status)
    )
}

fn render(req: &Request<Vec<u8>>, r: Response, session: Option<&str>, shared: &Shared) -> String {
    let mut s = String::with_capacity(256 + r.body.len());
    let _ = write!(s, "RTSP/1.0 {} {}\r\n", r.status, reason(r.status));
    if let Some(c) = req.header(&headers::CSEQ) {
        let c: String = c
            .as_str()
            .chars()
            .filter(|c| c.is_ascii_digit())
            .take(10)
            .collect();
        let _ = write!(s, "CSeq: {c}\r\n");
    }
    let _ = write!(s, "Server: {SERVER}\r\n");
    if let (Some(id), true) = (session, r.status < 400 || r.status == 455)
        && !matches!(req.method(), Method::Teardown)
    {
        let _ = write!(
            s,
            "Session: {id};timeout={}\r\n",
            shared.cfg.session_timeout.as_secs()
        );
    }
    s.push_str(&r.headers);
    let _ = write!(s, "Content-Length: {}\r\n\r\n", r.body.len());
    s.push_str(&String::from_utf8_lossy(&r.body));
    s
}

#[cfg(test)]
mod tests {
    use super::{TrackOut, wire_key};

    const SSRC: [u32; 2] = [0x1111_1111, 0x2222_2222];
    const PT: [u8; 2] = [96, 97];

    fn key(tracks: &[Option<TrackOut>]) -> Option<xlgw_relay::WireKey> {
        wire_key(
            tracks,
            |t| SSRC.get(t).copied().unwrap_or(0),
            |t| PT.get(t).copied(),
        )
    }

    fn out(channel: u8, track: usize) -> TrackOut {
        TrackOut {
            channel,
            ssrc: SSRC[track],
            payload_type: PT[track],
        }
    }

    #[test]
    fn usual_layout_shares_the_wire_image() {
        let k = key(&[Some(out(0, 0)), Some(out(2, 1))]).expect("usual layout");
        assert_eq!(&k.ssrc[..2], &SSRC);
        assert_eq!(&k.payload_type[..2], &PT);
        // Only the video track set up: still the usual layout.
        assert!(key(&[Some(out(0, 0)), None]).is_some());
        // Only the second track, on its usual channel.
        assert!(key(&[None, Some(out(2, 1))]).is_some());
    }

    #[test]
    fn other_layouts_get_their_own_headers() {
        // Both tracks on channels a client chose.
        assert!(key(&[Some(out(4, 0)), Some(out(6, 1))]).is_none());
        // The second track on channel 0 (a client that always asks 0-1).
        assert!(key(&[None, Some(out(0, 1))]).is_none());
        // A different SSRC or payload type than the stream's.
        let mut o = out(0, 0);
        o.ssrc ^= 1;
        assert!(key(&[Some(o)]).is_none());
        let mut o = out(0, 0);
        o.payload_type = 100;
        assert!(key(&[Some(o)]).is_none());
        // Nothing set up, or more tracks than the image covers.
        assert!(key(&[None, None]).is_none());
        assert!(key(&[]).is_none());
        let many = vec![Some(out(0, 0)); xlgw_relay::MAX_TRACKS + 1];
        assert!(key(&many).is_none());
    }
}
