//! Robustness of the RTSP server against broken and hostile clients.
//!
//! Every test runs a real server on loopback with one camera fed from a test
//! clip in real time, keeps a well-behaved reader playing over TCP while the
//! attack goes on, and checks at the end that this reader lost nothing: its
//! video sequence numbers have no gap, every frame is there, and packets kept
//! arriving during the attack.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use xlgw_clip::Clip;
use xlgw_relay::{Hub, HubConfig, QueueConfig};
use xlgw_rtsp::{
    FrameParser, InterleavedFrame, Resolved, Server, ServerConfig, ServerStats, StreamError,
    Streams,
};
use xlgw_source::{Packetizer, paced, stream_info};

const CAMERA: &str = "45010200001320000001";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// The clip's frame duration on the 90 kHz clock (25 fps).
const FRAME_TICKS: u32 = 3600;

// ---------------------------------------------------------------------------
// The server under test

fn clip() -> Arc<Clip> {
    static CLIP: OnceLock<Arc<Clip>> = OnceLock::new();
    CLIP.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../test-streams/h264-aac-720p");
        Arc::new(Clip::load(&dir).expect("test clip loads"))
    })
    .clone()
}

struct OneCamera {
    hub: Arc<Hub>,
}

impl Streams for OneCamera {
    fn open(&self, path: &str) -> BoxFuture<'static, Result<Resolved, StreamError>> {
        let found = (path == CAMERA).then(|| Resolved {
            hub: self.hub.clone(),
            name: "robustness camera".into(),
        });
        Box::pin(async move {
            let r = found.ok_or(StreamError::NotFound)?;
            r.hub.ready().await;
            Ok(r)
        })
    }
}

struct Harness {
    addr: SocketAddr,
    hub: Arc<Hub>,
    stats: Arc<ServerStats>,
    _stop: oneshot::Sender<()>,
    feeder: JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.feeder.abort();
    }
}

impl Harness {
    async fn start() -> Harness {
        Harness::start_with(Duration::from_secs(30)).await
    }

    async fn start_with(session_timeout: Duration) -> Harness {
        let hub = Hub::new(HubConfig {
            queue: QueueConfig {
                write_timeout: WRITE_TIMEOUT,
                ..QueueConfig::default()
            },
            ..HubConfig::default()
        });
        let clip = clip();
        hub.upstream_started(stream_info(&clip), Instant::now());
        // Start the sequence numbers near the wrap, so continuity checks
        // cross it.
        let packets = paced(Packetizer::new(clip, [4_000_000_000, 7], [65_000, 65_500]));
        let feed_hub = hub.clone();
        let feeder = tokio::spawn(async move {
            let mut packets = std::pin::pin!(packets);
            while let Some(p) = packets.next().await {
                feed_hub.publish(p, Instant::now());
            }
        });
        let cfg = ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            udp_rtp_port: Some(0),
            max_connections: 1000,
            session_timeout,
            request_timeout: REQUEST_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
        };
        let server = Server::bind(cfg, Arc::new(OneCamera { hub: hub.clone() }))
            .await
            .expect("server binds");
        let addr = server.local_addr().expect("local addr");
        let stats = server.stats();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        tokio::time::timeout(Duration::from_secs(5), hub.ready())
            .await
            .expect("the clip source reaches a keyframe");
        Harness {
            addr,
            hub,
            stats,
            _stop: stop,
            feeder,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("rtsp://{}/{path}", self.addr)
    }

    fn camera(&self) -> String {
        self.url(CAMERA)
    }

    /// Waits until `f` holds, for at most `within`; returns how long it took.
    async fn until(&self, within: Duration, mut f: impl FnMut(&Harness) -> bool) -> Duration {
        let t0 = Instant::now();
        while !f(self) {
            assert!(
                t0.elapsed() < within,
                "condition not reached within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        t0.elapsed()
    }
}

// ---------------------------------------------------------------------------
// A small RTSP client over TCP

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn parse(text: &[u8]) -> Reply {
        let text = std::str::from_utf8(text).expect("response is UTF-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("response has a head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(
            parts.next(),
            Some("RTSP/1.0"),
            "status line {status_line:?}"
        );
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Reply {
            status,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One RTP packet as a reader saw it.
#[derive(Debug, Clone, Copy)]
struct Rtp {
    channel: u8,
    seq: u16,
    ts: u32,
    at: Instant,
}

fn parse_rtp(channel: u8, pkt: &[u8], at: Instant) -> Option<Rtp> {
    if pkt.len() < 12 || pkt[0] >> 6 != 2 {
        return None;
    }
    Some(Rtp {
        channel,
        seq: u16::from_be_bytes([pkt[2], pkt[3]]),
        ts: u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]),
        at,
    })
}

enum Frame {
    Rtsp(Reply),
    Data(u8, Vec<u8>),
}

struct Client {
    sock: TcpStream,
    buf: Vec<u8>,
    cseq: u32,
    session: Option<String>,
    /// RTP received while waiting for responses.
    rtp: Vec<Rtp>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let sock = TcpStream::connect(addr).await.expect("connect");
        Client::over(sock)
    }

    fn over(sock: TcpStream) -> Client {
        Client {
            sock,
            buf: Vec::new(),
            cseq: 0,
            session: None,
            rtp: Vec::new(),
        }
    }

    /// The next frame, or `None` once the server closed the connection.
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            match FrameParser::next(&self.buf).expect("server speaks RTSP") {
                Some((f, n)) => {
                    let f = match f {
                        InterleavedFrame::Data(ch, d) => Frame::Data(ch, d.to_vec()),
                        InterleavedFrame::Rtsp(t) => Frame::Rtsp(Reply::parse(t)),
                    };
                    self.buf.drain(..n);
                    return Some(f);
                }
                None => {
                    self.buf.reserve(64 * 1024);
                    match self.sock.read_buf(&mut self.buf).await {
                        Ok(0) | Err(_) => return None,
                        Ok(_) => {}
                    }
                }
            }
        }
    }

    async fn reply(&mut self) -> Option<Reply> {
        let fut = async {
            loop {
                match self.frame().await? {
                    Frame::Rtsp(r) => return Some(r),
                    Frame::Data(ch, d) => {
                        if let Some(p) = parse_rtp(ch, &d, Instant::now()) {
                            self.rtp.push(p);
                        }
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), fut)
            .await
            .expect("a reply within 10 s")
    }

    /// Sends a request with CSeq (and our session, if any) and waits for
    /// the reply to it.
    async fn request(&mut self, method: &str, uri: &str, headers: &[(&str, &str)]) -> Reply {
        self.cseq += 1;
        let mut req = format!("{method} {uri} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        if let Some(s) = &self.session {
            req.push_str(&format!("Session: {s}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let r = self.raw(req.as_bytes()).await.expect("server answers");
        assert_eq!(
            r.header("CSeq"),
            Some(self.cseq.to_string().as_str()),
            "CSeq echoed for {method}"
        );
        if let Some(s) = r.header("Session") {
            let id = s.split(';').next().unwrap_or("").trim().to_owned();
            self.session = Some(id);
        }
        r
    }

    /// Sends raw bytes and waits for a reply (`None`: the server closed).
    async fn raw(&mut self, bytes: &[u8]) -> Option<Reply> {
        self.sock.write_all(bytes).await.ok()?;
        self.reply().await
    }

    /// OPTIONS, DESCRIBE, SETUP of both tracks over TCP, PLAY.
    async fn play_tcp(&mut self, h: &Harness) {
        let uri = h.camera();
        assert_eq!(self.request("OPTIONS", &uri, &[]).await.status, 200);
        let d = self
            .request("DESCRIBE", &uri, &[("Accept", "application/sdp")])
            .await;
        assert_eq!(d.status, 200);
        let sdp = String::from_utf8(d.body.clone()).expect("SDP is text");
        assert!(sdp.contains("m=video"), "{sdp}");
        assert!(sdp.contains("m=audio"), "{sdp}");
        let base = d.header("Content-Base").expect("Content-Base").to_owned();
        for (track, channels) in [(0, "0-1"), (1, "2-3")] {
            let t = format!("RTP/AVP/TCP;unicast;interleaved={channels}");
            let r = self
                .request(
                    "SETUP",
                    &format!("{base}trackID={track}"),
                    &[("Transport", &t)],
                )
                .await;
            assert_eq!(r.status, 200, "SETUP trackID={track}");
            let tr = r.header("Transport").expect("Transport");
            assert!(tr.contains(&format!("interleaved={channels}")), "{tr}");
        }
        let r = self
            .request("PLAY", &base, &[("Range", "npt=0.000-")])
            .await;
        assert_eq!(r.status, 200);
    }
}

// ---------------------------------------------------------------------------
// The legitimate reader

struct Legit {
    video: Arc<AtomicUsize>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<Rtp>>,
}

impl Legit {
    /// Connects, starts playing, and waits until video flows.
    async fn start(h: &Harness) -> Legit {
        let mut c = Client::connect(h.addr).await;
        c.play_tcp(h).await;
        let video = Arc::new(AtomicUsize::new(0));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let counter = video.clone();
        let task = tokio::spawn(async move {
            let mut got = std::mem::take(&mut c.rtp);
            counter.fetch_add(
                got.iter().filter(|p| p.channel == 0).count(),
                Ordering::Relaxed,
            );
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    f = c.frame() => match f {
                        Some(Frame::Data(ch, d)) => {
                            let p = parse_rtp(ch, &d, Instant::now()).expect("valid RTP");
                            if ch == 0 {
                                counter.fetch_add(1, Ordering::Relaxed);
                            }
                            got.push(p);
                        }
                        Some(Frame::Rtsp(r)) => panic!("unexpected RTSP message {r:?}"),
                        None => panic!("the server closed the legit reader"),
                    },
                }
            }
            got
        });
        let l = Legit { video, stop, task };
        let t0 = Instant::now();
        while l.video.load(Ordering::Relaxed) < 50 {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "legit reader gets no video"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        l
    }

    /// Stops reading and checks that nothing was lost and that video kept
    /// arriving between `from` and the end.
    async fn finish(self, from: Instant) {
        // Keep playing a little after the attack.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let end = Instant::now();
        let _ = self.stop.send(());
        let got = self.task.await.expect("legit reader task");
        let video: Vec<&Rtp> = got.iter().filter(|p| p.channel == 0).collect();
        let audio: Vec<&Rtp> = got.iter().filter(|p| p.channel == 2).collect();
        assert!(video.len() > 100, "only {} video packets", video.len());
        assert!(!audio.is_empty(), "no audio");
        for (name, pkts) in [("video", &video), ("audio", &audio)] {
            for w in pkts.windows(2) {
                assert_eq!(
                    w[1].seq,
                    w[0].seq.wrapping_add(1),
                    "{name} sequence gap after {} ({} packets in)",
                    w[0].seq,
                    pkts.len()
                );
            }
        }
        // Every frame is there: consecutive frames are one frame apart.
        let mut frames: Vec<u32> = video.iter().map(|p| p.ts).collect();
        frames.dedup();
        for w in frames.windows(2) {
            assert_eq!(
                w[1].wrapping_sub(w[0]),
                FRAME_TICKS,
                "video frames missing between timestamps {} and {}",
                w[0],
                w[1]
            );
        }
        // Kept arriving: no pause longer than a few frames during the
        // attack, and about the real-time number of frames.
        let during: Vec<Instant> = video.iter().map(|p| p.at).filter(|&t| t >= from).collect();
        let mut last = from;
        let mut worst = Duration::ZERO;
        for &t in during.iter().chain(std::iter::once(&end)) {
            worst = worst.max(t.saturating_duration_since(last));
            last = t;
        }
        assert!(
            worst < Duration::from_millis(1000),
            "video stalled for {worst:?} during the attack"
        );
        let frames_during = {
            let mut ts: Vec<u32> = video
                .iter()
                .filter(|p| p.at >= from)
                .map(|p| p.ts)
                .collect();
            ts.dedup();
            ts.len()
        };
        let expected = (end - from).as_secs_f64() * 25.0;
        assert!(
            frames_during as f64 >= expected * 0.8,
            "{frames_during} frames during {:?}, expected about {expected:.0}",
            end - from
        );
    }
}

// ---------------------------------------------------------------------------
// Raw connections for the attacks

/// What a raw connection got back: the statuses of the responses it read
/// and whether the server closed it (EOF or reset) within the wait.
#[derive(Debug)]
struct Outcome {
    statuses: Vec<u16>,
    bytes: usize,
    closed: bool,
    after: Duration,
}

/// Reads until the server closes the connection or `within` passes.
async fn outcome<R: tokio::io::AsyncRead + Unpin>(rd: &mut R, within: Duration) -> Outcome {
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let mut closed = false;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        buf.reserve(4096);
        match tokio::time::timeout_at(deadline, rd.read_buf(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {}
        }
    }
    let after = t0.elapsed();
    let mut statuses = Vec::new();
    let mut rest = &buf[..];
    while let Ok(Some((f, n))) = FrameParser::next(rest) {
        if let InterleavedFrame::Rtsp(t) = f {
            statuses.push(Reply::parse(t).status);
        }
        rest = &rest[n..];
    }
    Outcome {
        statuses,
        bytes: buf.len(),
        closed,
        after,
    }
}

/// Sends `bytes` on a new connection (ignoring write errors: the server may
/// close early) and returns what came back.
async fn send_raw(addr: SocketAddr, bytes: Vec<u8>, within: Duration) -> Outcome {
    let sock = TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = sock.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&bytes).await;
        // Keep the write half open so that only the server closes.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(wr);
    });
    let o = outcome(&mut rd, within).await;
    writer.abort();
    o
}

/// The server still serves newcomers quickly.
async fn still_serves(h: &Harness) {
    let t0 = Instant::now();
    let mut c = Client::connect(h.addr).await;
    assert_eq!(c.request("OPTIONS", &h.camera(), &[]).await.status, 200);
    assert_eq!(c.request("DESCRIBE", &h.camera(), &[]).await.status, 200);
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "a new client waited {:?}",
        t0.elapsed()
    );
}

// ---------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_get_400_and_close_only_that_connection() {
    let h = Harness::start().await;
    let legit = Legit::start(&h).await;
    let from = Instant::now();
    let bad_before = h.stats.bad_requests.load(Ordering::Relaxed);

    // A TLS ClientHello (someone pointed an rtsps:// client at us).
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
    ];
    hello.extend((0u8..32).map(|i| i.wrapping_mul(37)));
    hello.extend_from_slice(&[0x00, 0x02, 0x13, 0x01, 0x01, 0x00]);
    // Random binary, not starting like a request line.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut randoms = Vec::new();
    for len in [1usize, 7, 512, 8192] {
        let mut v: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        v[0] |= 0x80;
        randoms.push(v);
    }
    let cases: Vec<(&str, Vec<u8>)> = [
        ("tls client hello", hello),
        (
            "http request",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "control bytes in headers",
            b"OPTIONS rtsp://x/y RTSP/1.0\r\nCSeq: 1\r\n\x00\x01\x02\r\n\r\n".to_vec(),
        ),
        (
            "bad request line",
            b"OPTIONS  rtsp://x/y  RTSP/1.0\r\nCSeq: 1\r\n\r\n".to_vec(),
        ),
        // Blank lines between messages are skipped (CRLF keepalives); what
        // follows them is judged on its own.
        (
            "leading crlf then garbage",
            b"\r\n\r\n\x16\x03\x01garbage".to_vec(),
        ),
    ]
    .into_iter()
    .chain(randoms.into_iter().map(|v| ("random binary", v)))
    .collect();
    let ncases = cases.len() as u64;
    let runs = cases.into_iter().map(|(name, bytes)| async move {
        let o = send_raw(h.addr, bytes, Duration::from_secs(5)).await;
        (name, o)
    });
    for (name, o) in futures::future::join_all(runs).await {
        assert_eq!(o.statuses, vec![400], "{name}: {o:?}");
        assert!(o.closed, "{name}: not closed: {o:?}");
        assert!(o.after < Duration::from_secs(1), "{name}: {o:?}");
    }
    assert_eq!(
        h.stats.bad_requests.load(Ordering::Relaxed) - bad_before,
        ncases
    );

    // Random bytes that start like interleaved data or a word: the server
    // may wait for more, but closes within the request timeout.
    let mut runs = Vec::new();
    for seed in 0..8u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut v: Vec<u8> = (0..2000).map(|_| rng.random()).collect();
        v[0] = if seed % 2 == 0 { b'$' } else { b'P' };
        runs.push(send_raw(
            h.addr,
            v,
            REQUEST_TIMEOUT + Duration::from_secs(3),
        ));
    }
    for o in futures::future::join_all(runs).await {
        assert!(o.closed, "not closed: {o:?}");
        assert!(
            o.statuses.iter().all(|s| [400, 408, 413].contains(s)) && o.statuses.len() <= 1,
            "{o:?}"
        );
    }

    still_serves(&h).await;
    legit.finish(from).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_get_413() {
    let h = Harness::start().await;
    let legit = Legit::start(&h).await;
    let from = Instant::now();
    let cam = h.camera();

    let mut long_line = format!("DESCRIBE {cam} RTSP/1.0\r\nCSeq: 1\r\nX-Big: ").into_bytes();
    long_line.extend(std::iter::repeat_n(b'a', 100 * 1024));
    long_line.extend_from_slice(b"\r\n\r\n");

    let mut many_headers = format!("DESCRIBE {cam} RTSP/1.0\r\nCSeq: 1\r\n").into_bytes();
    for i in 0..2000 {
        many_headers.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    many_headers.extend_from_slice(b"\r\n");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("100 KB header line", long_line),
        ("2000 headers", many_headers),
        (
            "declared body of 1 MB",
            format!("SET_PARAMETER {cam} RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 1000000\r\n\r\n")
                .into_bytes(),
        ),
        (
            "declared body just over the limit",
            format!(
                "SET_PARAMETER {cam} RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {}\r\n\r\n",
                xlgw_rtsp::MAX_REQUEST_BYTES
            )
            .into_bytes(),
        ),
        (
            "declared body of u64::MAX",
            format!(
                "SET_PARAMETER {cam} RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {}\r\n\r\n",
                u64::MAX
            )
            .into_bytes(),
        ),
    ];
    for (name, bytes) in cases {
        let o = send_raw(h.addr, bytes, Duration::from_secs(5)).await;
        assert_eq!(o.statuses, vec![413], "{name}: {o:?}");
        assert!(o.closed, "{name}: not closed: {o:?}");
        assert!(o.after < Duration::from_secs(1), "{name}: {o:?}");
    }

    // A body within the limit is fine.
    let mut c = Client::connect(h.addr).await;
    let body = "x".repeat(1000);
    let req = format!(
        "SET_PARAMETER {cam} RTSP/1.0\r\nCSeq: 7\r\nContent-Type: text/parameters\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = c.raw(req.as_bytes()).await.expect("reply");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("CSeq"), Some("7"));

    still_serves(&h).await;
    legit.finish(from).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_get_408_after_request_timeout() {
    let h = Harness::start().await;
    let legit = Legit::start(&h).await;
    let from = Instant::now();
    const N: usize = 200;
    let t0 = Instant::now();
    let mut socks = Vec::with_capacity(N);
    for _ in 0..N {
        let mut s = TcpStream::connect(h.addr).await.expect("connect");
        s.write_all(format!("DESCRIBE {} RTSP/1.0\r\nCSeq: 1\r\n", h.camera()).as_bytes())
            .await
            .expect("write");
        socks.push(s);
    }
    let sent = t0.elapsed();
    // While they hang, a newcomer is served at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    still_serves(&h).await;
    assert!(h.stats.connections_open.load(Ordering::Relaxed) > N as i64);

    let waits = socks.iter_mut().map(|s| outcome(s, Duration::from_secs(8)));
    let outcomes = futures::future::join_all(waits).await;
    for o in &outcomes {
        assert_eq!(o.statuses, vec![408], "{o:?}");
        assert!(o.closed, "{o:?}");
    }
    let slowest = outcomes.iter().map(|o| o.after).max().unwrap_or_default();
    let fastest = outcomes.iter().map(|o| o.after).min().unwrap_or_default();
    // Waits were measured from after all were sent and 300 ms + a newcomer
    // later; the 408 comes `REQUEST_TIMEOUT` after each request started.
    assert!(
        slowest <= REQUEST_TIMEOUT + Duration::from_secs(1),
        "slowest 408 after {slowest:?} (+{sent:?} to send)"
    );
    assert!(
        fastest + sent + Duration::from_millis(300) >= REQUEST_TIMEOUT - Duration::from_millis(600),
        "408 too early: {fastest:?}"
    );
    // Only the legit reader is left.
    h.until(Duration::from_secs(2), |h| {
        h.stats.connections_open.load(Ordering::Relaxed) == 1
    })
    .await;
    still_serves(&h).await;
    legit.finish(from).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_connections_are_closed() {
    let h = Harness::start().await;
    let legit = Legit::start(&h).await;
    let from = Instant::now();

    let slow = async {
        let req = format!(
            "OPTIONS {} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: slowloris\r\n\r\n",
            h.camera()
        );
        let sock = TcpStream::connect(h.addr).await.expect("connect");
        let (mut rd, mut wr) = sock.into_split();
        let t0 = Instant::now();
        let mut sent = 0usize;
        let dripping = async {
            for b in req.bytes() {
                if wr.write_all(&[b]).await.is_err() {
                    break;
                }
                sent += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            // Sent all of it: the server never cut us off.
            tokio::time::sleep(Duration::from_secs(60)).await;
        };
        let mut got = Vec::new();
        let closed = async {
            loop {
                got.reserve(1024);
                match rd.read_buf(&mut got).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        tokio::select! {
            _ = dripping => panic!("slowloris was never cut off"),
            _ = closed => {}
        }
        let after = t0.elapsed();
        assert!(
            after >= REQUEST_TIMEOUT - Duration::from_millis(100)
                && after <= REQUEST_TIMEOUT + Duration::from_millis(1500),
            "slowloris closed after {after:?}"
        );
        assert!(sent <= 8, "slowloris sent {sent} bytes before being cut");
        let (f, _) = FrameParser::next(&got)
            .expect("RTSP")
            .expect("a response before closing");
        let InterleavedFrame::Rtsp(t) = f else {
            panic!("data frame")
        };
        assert_eq!(Reply::parse(t).status, 408);
    };

    let idle = async {
        let mut sock = TcpStream::connect(h.addr).await.expect("connect");
        let o = outcome(&mut sock, IDLE_TIMEOUT + Duration::from_secs(3)).await;
        assert!(o.closed, "idle connection kept: {o:?}");
        assert!(o.statuses.is_empty(), "{o:?}");
        assert!(
            o.after >= IDLE_TIMEOUT - Duration::from_millis(100)
                && o.after <= IDLE_TIMEOUT + Duration::from_secs(1),
            "idle connection closed after {:?}",
            o.after
        );
    };

    // An idle connection that completed a request earlier is closed
    // `IDLE_TIMEOUT` after that request, not kept forever.
    let idle_after_request = async {
        let mut c = Client::connect(h.addr).await;
        assert_eq!(c.request("OPTIONS", &h.camera(), &[]).await.status, 200);
        let o = outcome(&mut c.sock, IDLE_TIMEOUT + Duration::from_secs(3)).await;
        assert!(o.closed && o.statuses.is_empty(), "{o:?}");
    };

    tokio::join!(slow, idle, idle_after_request);
    still_serves(&h).await;
    legit.finish(from).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_misuse_gets_exact_status_codes() {
    let h = Harness::start().await;
    let legit = Legit::start(&h).await;
    let from = Instant::now();
    let cam = h.camera();
    let track = |n: u32| format!("{cam}/trackID={n}");
    let tcp = [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")];

    let mut c = Client::connect(h.addr).await;
    // Missing CSeq: 400, and the connection stays usable.
    let r = c
        .raw(format!("OPTIONS {cam} RTSP/1.0\r\nUser-Agent: x\r\n\r\n").as_bytes())
        .await
        .expect("reply");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("CSeq"), None);

    assert_eq!(c.request("FOO", &cam, &[]).await.status, 501);
    let r = c.request("RECORD", &cam, &[]).await;
    assert_eq!(r.status, 405);
    assert!(r.header("Allow").is_some_and(|a| a.contains("PLAY")));
    assert_eq!(c.request("ANNOUNCE", &cam, &[]).await.status, 405);
    assert_eq!(
        c.request("DESCRIBE", &h.url("45010200001320009999"), &[])
            .await
            .status,
        404
    );
    assert_eq!(c.request("DESCRIBE", &h.url(""), &[]).await.status, 404);
    assert_eq!(
        c.request("DESCRIBE", &h.url("a/b/c"), &[]).await.status,
        404
    );
    assert_eq!(c.request("DESCRIBE", "*", &[]).await.status, 400);
    let r = c.request("DESCRIBE", &cam, &[("Require", "foo")]).await;
    assert_eq!(r.status, 551);
    assert_eq!(r.header("Unsupported"), Some("foo"));

    assert_eq!(c.request("PLAY", &cam, &[]).await.status, 454);
    assert_eq!(
        c.request("PLAY", &cam, &[("Session", "DEADBEEF")])
            .await
            .status,
        454
    );
    assert_eq!(c.request("PAUSE", &cam, &[]).await.status, 454);
    assert_eq!(c.request("TEARDOWN", &cam, &[]).await.status, 454);
    for t in [
        "RTP/AVP;multicast;destination=224.2.0.1;port=5000-5001",
        "RTP/SAVP;unicast;client_port=5000-5001",
        "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record",
        "RTP/AVP;unicast",
        "RAW/RAW/UDP;unicast;client_port=5000-5001",
    ] {
        let r = c.request("SETUP", &track(0), &[("Transport", t)]).await;
        assert_eq!(r.status, 461, "{t}");
    }
    assert_eq!(c.request("SETUP", &track(0), &[]).await.status, 461);
    assert_eq!(c.request("SETUP", &track(9), &tcp).await.status, 404);
    assert_eq!(c.request("SETUP", &cam, &tcp).await.status, 459);
    assert!(c.session.is_none(), "no session from failed SETUPs");

    // A real SETUP, then a second track over UDP: one kind per session.
    let r = c.request("SETUP", &track(0), &tcp).await;
    assert_eq!(r.status, 200);
    assert!(c.session.is_some());
    let r = c
        .request(
            "SETUP",
            &track(1),
            &[("Transport", "RTP/AVP;unicast;client_port=5000-5001")],
        )
        .await;
    assert_eq!(r.status, 461);
    // Another stream in the same session.
    assert_eq!(
        c.request("SETUP", &format!("{}/trackID=0", h.url("other")), &tcp)
            .await
            .status,
        459
    );
    // The session survives all of that and plays.
    assert_eq!(c.request("OPTIONS", &cam, &[]).await.status, 200);
    assert_eq!(c.request("PLAY", &cam, &[]).await.status, 200);
    assert_eq!(h.hub.reader_count(), 2);
    // SETUP while playing is not allowed here.
    assert_eq!(c.request("SETUP", &track(1), &tcp).await.status, 455);
    assert_eq!(c.request("TEARDOWN", &cam, &[]).await.status, 200);
    h.until(Duration::from_secs(2), |h| h.hub.reader_count() == 1)
        .await;

    // RTSP/2.0: 505, and the connection is closed.
    let mut c = Client::connect(h.addr).await;
    let r = c
        .raw(format!("OPTIONS {cam} RTSP/2.0\r\nCSeq: 1\r\n\r\n").as_bytes())
        .await
        .expect("reply");
    assert_eq!(r.status, 505);
    let o = outcome(&mut c.sock, Duration::from_secs(2)).await;
    assert!(o.closed, "{o:?}");

    let stats = h.stats.requests();
    let count = |m: &str, s: u16| {
        stats
            .iter()
            .find(|(mm, ss, _)| *mm == m && *ss == s)
            .map_or(0, |x| x.2)
    };
    assert!(count("SETUP", 461) >= 7, "{stats:?}");
    assert!(count("PLAY", 454) >= 2, "{stats:?}");

    still_serves(&h).await;
    legit.finish(from).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_reader_is_dropped_after_write_timeout() {
    let h = Harness::start().await;
    let legit = Legit::start(&h).await;
    let from = Instant::now();

    let sock = TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(1024).expect("SO_RCVBUF");
    // A network-sized segment: with loopback's 64 KiB MSS the kernel grows
    // the server's send buffer to megabytes, which hides the stall for
    // many seconds.
    socket2::SockRef::from(&sock)
        .set_mss(1400)
        .expect("TCP_MAXSEG");
    let stream = sock.connect(h.addr).await.expect("connect");
    let mut c = Client::over(stream);
    c.play_tcp(&h).await;
    assert_eq!(h.hub.reader_count(), 2);
    assert_eq!(h.stats.sessions_playing.load(Ordering::Relaxed), 2);
    let played = Instant::now();
    // Never read again. The server must drop it, the relay must forget it.
    let took = h
        .until(Duration::from_secs(20), |h| h.hub.reader_count() == 1)
        .await;
    eprintln!("stalled reader dropped {took:?} after PLAY");
    assert!(
        took >= WRITE_TIMEOUT - Duration::from_millis(100),
        "dropped after only {took:?}"
    );
    assert!(
        took <= WRITE_TIMEOUT + Duration::from_secs(2),
        "stalled reader kept for {took:?}"
    );
    h.until(Duration::from_secs(2), |h| {
        h.stats.sessions_playing.load(Ordering::Relaxed) == 1
    })
    .await;
    // Its connection is closed: reading drains what was buffered and ends.
    let o = outcome(&mut c.sock, Duration::from_secs(5)).await;
    assert!(o.closed, "stalled reader's connection left open: {o:?}");
    eprintln!("stalled reader had {} bytes in flight", o.bytes);
    assert!(played.elapsed() < Duration::from_secs(30));

    still_serves(&h).await;
    legit.finish(from).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_reader_gets_continuous_rtp() {
    let h = Harness::start().await;
    let legit = Legit::start(&h).await;
    let from = Instant::now();

    let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    // Room for the GOP burst at start.
    let _ = socket2::SockRef::from(&rtp).set_recv_buffer_size(4 << 20);
    let port = rtp.local_addr().expect("addr").port();
    let mut c = Client::connect(h.addr).await;
    let cam = h.camera();
    let t = format!("RTP/AVP;unicast;client_port={port}-{}", port + 1);
    let r = c
        .request("SETUP", &format!("{cam}/trackID=0"), &[("Transport", &t)])
        .await;
    assert_eq!(r.status, 200);
    let tr = r.header("Transport").expect("Transport").to_owned();
    assert!(
        tr.contains(&format!("client_port={port}-{}", port + 1)),
        "{tr}"
    );
    let server_port: u16 = tr
        .split(';')
        .find_map(|p| p.strip_prefix("server_port="))
        .and_then(|p| p.split('-').next())
        .and_then(|p| p.parse().ok())
        .expect("server_port");
    let ssrc = tr
        .split(';')
        .find_map(|p| p.strip_prefix("ssrc="))
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .expect("ssrc");
    assert_eq!(c.request("PLAY", &cam, &[]).await.status, 200);

    let mut got: Vec<Rtp> = Vec::new();
    let mut buf = vec![0u8; 65536];
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        let Ok(r) = tokio::time::timeout(Duration::from_secs(1), rtp.recv_from(&mut buf)).await
        else {
            panic!("UDP RTP stalled after {} packets", got.len());
        };
        let (n, src) = r.expect("recv");
        assert_eq!(src.port(), server_port, "RTP from the announced port");
        let pkt = &buf[..n];
        let p = parse_rtp(0, pkt, Instant::now()).expect("RTP v2");
        assert_eq!(pkt[1] & 0x7f, 96, "payload type");
        assert_eq!(u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]), ssrc);
        got.push(p);
    }
    assert!(got.len() > 100, "only {} UDP packets", got.len());
    for w in got.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "UDP sequence gap after {} packets",
            got.len()
        );
    }
    let mut frames: Vec<u32> = got.iter().map(|p| p.ts).collect();
    frames.dedup();
    assert!(
        frames.len() >= 60,
        "{} frames in 3 s over UDP",
        frames.len()
    );
    for w in frames.windows(2) {
        assert_eq!(w[1].wrapping_sub(w[0]), FRAME_TICKS);
    }

    // TEARDOWN stops the flow.
    assert_eq!(c.request("TEARDOWN", &cam, &[]).await.status, 200);
    h.until(Duration::from_secs(2), |h| h.hub.reader_count() == 1)
        .await;
    while rtp.try_recv(&mut buf).is_ok() {}
    let late = tokio::time::timeout(Duration::from_millis(500), rtp.recv(&mut buf)).await;
    assert!(late.is_err(), "RTP still sent after TEARDOWN");

    legit.finish(from).await;
}

/// CPU time this thread has used (utime + stime, in clock ticks of
/// normally 10 ms).
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    let after_name = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of stat(5); `f[0]` is field 3.
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

/// A TCP reader that plays for longer than the session timeout without
/// sending any request is legitimate (the TCP connection itself shows it is
/// alive), and must cost no more CPU than before. Everything runs on this
/// one thread so that its CPU time is the server's.
#[tokio::test(flavor = "current_thread")]
async fn quiet_tcp_reader_past_session_timeout_costs_no_cpu() {
    let session_timeout = Duration::from_secs(1);
    let h = Harness::start_with(session_timeout).await;
    let legit = Legit::start(&h).await;
    let from = Instant::now();
    // Before the session timeout: the baseline.
    let c0 = thread_cpu_ticks();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = thread_cpu_ticks() - c0;
    // Well past it.
    tokio::time::sleep(session_timeout).await;
    let c1 = thread_cpu_ticks();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = thread_cpu_ticks() - c1;
    eprintln!("CPU ticks: {before} in 0.8 s before, {after} in 2 s after the session timeout");
    assert!(
        after <= 60,
        "{after} ticks of CPU in 2 s after the session timeout ({before} in 0.8 s before)"
    );
    assert_eq!(h.hub.reader_count(), 1, "the TCP reader is still served");
    legit.finish(from).await;
}
