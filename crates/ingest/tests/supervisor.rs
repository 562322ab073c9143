//! Supervisor logic with an injected opener on tokio's paused clock:
//! backoff, timeouts, UDP→TCP fallback, on-demand lifecycle, shutdown,
//! counters and credential scrubbing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::time::Instant;
use xlgw_ingest::{CameraState, IngestConfig, IngestError, OpenTransport, Opened, Opener, spawn};
use xlgw_model::{AreaCode, Camera, Credentials, DeviceId, Mode, Transport};
use xlgw_relay::{Hub, HubConfig, MediaKind, Packet, StreamInfo, Track};

const PASSWORD: &str = "Zebra-Quartz-9917";

fn camera(mode: Mode, transport: Transport) -> Camera {
    Camera {
        id: DeviceId::parse("45010200001320000001").expect("id"),
        name: "test".into(),
        area: AreaCode::parse("450102").expect("area"),
        url: "rtsp://192.0.2.10:554/live".into(),
        credentials: Some(Credentials {
            username: "admin".into(),
            password: PASSWORD.into(),
        }),
        transport,
        mode,
    }
}

fn info() -> StreamInfo {
    StreamInfo {
        tracks: vec![
            Track {
                kind: MediaKind::Video,
                encoding: "H264".into(),
                clock_rate: 90_000,
                channels: None,
                payload_type: 96,
                fmtp: Some("packetization-mode=1".into()),
                framerate: None,
            },
            Track {
                kind: MediaKind::Audio,
                encoding: "PCMA".into(),
                clock_rate: 8000,
                channels: Some(1),
                payload_type: 8,
                fmtp: None,
                framerate: None,
            },
        ],
    }
}

/// What one `open` call does.
enum Script {
    /// Fails at once.
    Fail(IngestError),
    /// Never answers.
    Hang,
    /// Plays: `count` video packets every `every`, then `after`.
    Play {
        count: usize,
        every: Duration,
        after: After,
        /// Sequence numbers skipped after every 10th packet.
        skip: u16,
    },
}

#[derive(Clone, Copy)]
enum After {
    Silence,
    End,
}

/// Counts live sessions: decremented when the packet stream is dropped.
struct Live(Arc<AtomicUsize>);
impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Log {
    calls: Vec<(Instant, OpenTransport)>,
}

struct ScriptOpener {
    script: Mutex<VecDeque<Script>>,
    /// Used when the script runs out.
    default_fail: bool,
    log: Arc<Mutex<Log>>,
    live: Arc<AtomicUsize>,
}

impl ScriptOpener {
    fn new(script: Vec<Script>) -> Arc<ScriptOpener> {
        Self::with_default(script, true)
    }

    /// `default_fail`: what happens after the script: fail at once, or hang.
    fn with_default(script: Vec<Script>, default_fail: bool) -> Arc<ScriptOpener> {
        Arc::new(ScriptOpener {
            script: Mutex::new(script.into()),
            default_fail,
            log: Arc::default(),
            live: Arc::default(),
        })
    }

    fn calls(&self) -> Vec<(Instant, OpenTransport)> {
        self.log.lock().expect("log").calls.clone()
    }

    fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

fn packets(
    count: usize,
    every: Duration,
    after: After,
    skip: u16,
    live: Live,
) -> BoxStream<'static, Result<Packet, IngestError>> {
    futures::stream::unfold((0usize, 1000u16, live), move |(i, seq, live)| async move {
        if i < count {
            tokio::time::sleep(every).await;
            let nal: &'static [u8] = if i % 25 == 0 {
                &[0x65, 1, 2]
            } else {
                &[0x41, 1, 2]
            };
            let p = Packet::new(0, seq, (i as u32) * 3600, true, Bytes::from_static(nal));
            let next = if (i + 1) % 10 == 0 {
                seq.wrapping_add(1 + skip)
            } else {
                seq.wrapping_add(1)
            };
            Some((Ok(p), (i + 1, next, live)))
        } else {
            match after {
                After::Silence => {
                    futures::future::pending::<()>().await;
                    None
                }
                After::End => None,
            }
        }
    })
    .boxed()
}

impl Opener for ScriptOpener {
    fn open(
        &self,
        _camera: &Camera,
        transport: OpenTransport,
    ) -> BoxFuture<'static, Result<Opened, IngestError>> {
        self.log
            .lock()
            .expect("log")
            .calls
            .push((Instant::now(), transport));
        let step = self.script.lock().expect("script").pop_front();
        let step = match step {
            Some(s) => s,
            None if self.default_fail => {
                Script::Fail(IngestError::Other("connection refused".into()))
            }
            None => Script::Hang,
        };
        let live = self.live.clone();
        Box::pin(async move {
            match step {
                Script::Fail(e) => Err(e),
                Script::Hang => {
                    futures::future::pending::<()>().await;
                    Err(IngestError::Closed)
                }
                Script::Play {
                    count,
                    every,
                    after,
                    skip,
                } => {
                    live.fetch_add(1, Ordering::SeqCst);
                    Ok(Opened {
                        info: info(),
                        packets: packets(count, every, after, skip, Live(live)),
                    })
                }
            }
        })
    }
}

/// Sleeps (on the paused clock) until `cond` or `limit` passes.
async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

fn gaps(calls: &[(Instant, OpenTransport)]) -> Vec<f64> {
    calls
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_secs_f64())
        .collect()
}

fn play(count: usize, after: After) -> Script {
    Script::Play {
        count,
        every: Duration::from_millis(40),
        after,
        skip: 0,
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_to_30s_with_jitter_and_retries_forever() {
    let opener = ScriptOpener::new(vec![]);
    let hub = Hub::new(HubConfig::default());
    let h = spawn(
        camera(Mode::Always, Transport::Tcp),
        hub.clone(),
        opener.clone(),
        IngestConfig::default(),
    );
    assert!(wait_until(Duration::from_secs(400), || opener.calls().len() >= 10).await);
    let g = gaps(&opener.calls());
    let bases = [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0];
    for (gap, base) in g.iter().zip(bases) {
        assert!(
            *gap >= base * 0.8 - 0.01 && *gap <= base * 1.2 + 0.01,
            "gap {gap} for base {base}: {g:?}"
        );
    }
    let st = h.status();
    assert_eq!(st.state, CameraState::Offline);
    assert!(st.reconnects >= 9, "{st:?}");
    assert_eq!(h.stats().reconnects(), st.reconnects);
    assert!(
        st.last_error
            .as_deref()
            .unwrap_or("")
            .contains("connection refused")
    );
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn stall_triggers_reconnect_and_long_session_resets_backoff() {
    let opener = ScriptOpener::new(vec![
        Script::Fail(IngestError::Other("refused".into())),
        Script::Fail(IngestError::Other("refused".into())),
        Script::Fail(IngestError::Other("refused".into())),
        // 40 s of packets, then silence: a stall.
        play(1000, After::Silence),
        // 2 s of packets, then silence.
        play(50, After::Silence),
    ]);
    let hub = Hub::new(HubConfig::default());
    let h = spawn(
        camera(Mode::Always, Transport::Tcp),
        hub.clone(),
        opener.clone(),
        IngestConfig::default(),
    );
    assert!(wait_until(Duration::from_secs(200), || opener.calls().len() >= 6).await);
    let calls = opener.calls();
    let g = gaps(&calls);
    // 1, 2, 4 s backoff, then the 40 s session + 5 s stall + 1 s (reset).
    assert!(g[2] >= 3.2 && g[2] <= 4.8, "{g:?}");
    assert!(
        g[3] >= 40.0 + 5.0 + 0.8 - 0.1 && g[3] <= 40.0 + 5.0 + 1.2 + 0.1,
        "{g:?}"
    );
    // A 2 s session does not reset: 2 s + 5 s stall + 2 s.
    assert!(
        g[4] >= 2.0 + 5.0 + 1.6 - 0.1 && g[4] <= 2.0 + 5.0 + 2.4 + 0.1,
        "{g:?}"
    );
    let st = h.status();
    assert!(st.last_error.is_some());
    assert_eq!(h.stats().packets(), 1050);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn first_frame_and_connect_timeouts() {
    let opener = ScriptOpener::with_default(vec![play(0, After::Silence)], false);
    let hub = Hub::new(HubConfig::default());
    let h = spawn(
        camera(Mode::Always, Transport::Udp),
        hub.clone(),
        opener.clone(),
        IngestConfig::default(),
    );
    assert!(wait_until(Duration::from_secs(60), || opener.calls().len() >= 2).await);
    let status = h.status();
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("no packet within 10s"),
        "{status:?}"
    );
    assert_eq!(opener.live(), 0, "the silent session was dropped");
    assert!(wait_until(Duration::from_secs(60), || opener.calls().len() >= 3).await);
    let g = gaps(&opener.calls());
    assert!(g[0] >= 10.8 - 0.01 && g[0] <= 11.2 + 0.01, "{g:?}");
    // Connect timeout 10 s, then 2 s ± 20 %.
    assert!(g[1] >= 11.6 - 0.01 && g[1] <= 12.4 + 0.01, "{g:?}");
    assert!(
        h.status()
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("DESCRIBE to PLAY")
    );
    assert!(opener.calls().iter().all(|c| c.1 == OpenTransport::Udp));
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn auto_falls_back_to_tcp_and_stays() {
    let opener = ScriptOpener::new(vec![
        // UDP: PLAY works but no packet comes.
        play(0, After::Silence),
        // TCP: packets, then the camera closes.
        play(100, After::End),
        play(100, After::End),
    ]);
    let hub = Hub::new(HubConfig::default());
    let h = spawn(
        camera(Mode::Always, Transport::Auto),
        hub.clone(),
        opener.clone(),
        IngestConfig::default(),
    );
    assert!(wait_until(Duration::from_secs(60), || opener.calls().len() >= 4).await);
    let calls = opener.calls();
    assert_eq!(calls[0].1, OpenTransport::Udp);
    assert!(
        calls[1..].iter().all(|c| c.1 == OpenTransport::Tcp),
        "stays on TCP"
    );
    let g = gaps(&calls);
    // Switched after 3 s without a packet, at once.
    assert!((g[0] - 3.0).abs() < 0.01, "{g:?}");
    assert_eq!(h.status().transport, Some(OpenTransport::Tcp));
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn auto_falls_back_when_udp_setup_fails() {
    let opener = ScriptOpener::new(vec![
        Script::Fail(IngestError::Rtsp {
            stage: xlgw_ingest::Stage::Setup,
            status: Some(461),
            message: "Unsupported transport".into(),
        }),
        play(10, After::Silence),
    ]);
    let hub = Hub::new(HubConfig::default());
    let h = spawn(
        camera(Mode::Always, Transport::Auto),
        hub.clone(),
        opener.clone(),
        IngestConfig::default(),
    );
    assert!(wait_until(Duration::from_secs(5), || opener.calls().len() >= 2).await);
    let calls = opener.calls();
    assert_eq!(calls[0].1, OpenTransport::Udp);
    assert_eq!(calls[1].1, OpenTransport::Tcp);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn packets_reach_the_hub_and_are_counted() {
    let opener = ScriptOpener::new(vec![Script::Play {
        count: 100,
        every: Duration::from_millis(40),
        after: After::Silence,
        skip: 2,
    }]);
    let hub = Hub::new(HubConfig::default());
    let h = spawn(
        camera(Mode::Always, Transport::Tcp),
        hub.clone(),
        opener.clone(),
        IngestConfig::default(),
    );
    assert!(wait_until(Duration::from_secs(2), || hub.is_ready()).await);
    assert_eq!(h.status().state, CameraState::Online);
    let reader = hub
        .add_reader(u64::MAX, std::time::Instant::now())
        .expect("reader");
    let mut got = VecDeque::new();
    assert!(wait_until(Duration::from_secs(5), || h.stats().packets() == 100).await);
    reader.try_recv(&mut got).expect("recv");
    assert!(!got.is_empty());
    let stats = h.stats();
    // 2 skipped after each of packets 10, 20, ..., 90 (100 is last).
    assert_eq!(stats.lost(), 18);
    assert_eq!(stats.bytes(), 300);
    assert!(stats.last_packet().is_some());
    // Perfectly paced: (almost) no jitter.
    assert!(stats.jitter_seconds() < 0.001, "{}", stats.jitter_seconds());
    h.shutdown().await;
    assert!(
        hub.add_reader(1, std::time::Instant::now()).is_none(),
        "hub ended"
    );
    let mut out = VecDeque::new();
    assert!(reader.try_recv(&mut out).is_err(), "reader closed by end()");
    assert_eq!(opener.live(), 0);
}

#[tokio::test(start_paused = true)]
async fn on_demand_connects_on_demand_and_closes_when_idle() {
    let opener = ScriptOpener::new(vec![
        play(100_000, After::Silence),
        play(100_000, After::Silence),
    ]);
    let hub = Hub::new(HubConfig::default());
    let cfg = IngestConfig::default();
    let h = spawn(
        camera(Mode::OnDemand, Transport::Tcp),
        hub.clone(),
        opener.clone(),
        cfg.clone(),
    );
    // Nobody asked: no connection.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(opener.calls().is_empty());
    assert_eq!(h.status().state, CameraState::Idle);

    h.demand();
    assert!(wait_until(Duration::from_secs(2), || hub.is_ready()).await);
    assert_eq!(opener.calls().len(), 1);
    let reader = hub
        .add_reader(u64::MAX, std::time::Instant::now())
        .expect("reader");
    // A reader that keeps up (one that does not drain is dropped by the hub).
    let reader = tokio::spawn(async move {
        let mut got = VecDeque::new();
        while reader.recv(&mut got).await.is_ok() {
            got.clear();
        }
    });
    // Watched for a minute: stays up.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(opener.live(), 1);
    assert_eq!(h.status().state, CameraState::Online);
    let left = Instant::now();
    reader.abort();
    assert!(wait_until(Duration::from_secs(30), || opener.live() == 0).await);
    let closed_after = Instant::now() - left;
    assert!(
        closed_after >= cfg.idle_close - cfg.reader_poll
            && closed_after <= cfg.idle_close + Duration::from_secs(1),
        "{closed_after:?}"
    );
    assert_eq!(h.status().state, CameraState::Idle);
    assert_eq!(h.status().reconnects, 0);

    // A demand that no reader follows: closed after idle_close as well.
    let asked = Instant::now();
    h.demand();
    assert!(wait_until(Duration::from_secs(2), || opener.live() == 1).await);
    assert!(wait_until(Duration::from_secs(30), || opener.live() == 0).await);
    let lived = Instant::now() - asked;
    assert!(
        lived >= cfg.idle_close && lived <= cfg.idle_close + Duration::from_secs(1),
        "{lived:?}"
    );
    assert_eq!(opener.calls().len(), 2);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn on_demand_stops_retrying_when_nobody_waits() {
    let opener = ScriptOpener::new(vec![]);
    let hub = Hub::new(HubConfig::default());
    let h = spawn(
        camera(Mode::OnDemand, Transport::Tcp),
        hub.clone(),
        opener.clone(),
        IngestConfig::default(),
    );
    h.demand();
    tokio::time::sleep(Duration::from_secs(120)).await;
    // Attempts at 0, 1, 3, 7 s; the one due at 15 s is after idle_close.
    assert_eq!(opener.calls().len(), 4, "{:?}", gaps(&opener.calls()));
    assert_eq!(h.status().state, CameraState::Idle);
    assert!(h.status().last_error.is_some());
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_while_connecting_and_while_playing() {
    let opener = ScriptOpener::new(vec![Script::Hang]);
    let hub = Hub::new(HubConfig::default());
    let h = spawn(
        camera(Mode::Always, Transport::Tcp),
        hub.clone(),
        opener.clone(),
        IngestConfig::default(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.status().state, CameraState::Connecting);
    h.shutdown().await;

    let opener = ScriptOpener::new(vec![play(1000, After::Silence)]);
    let h = spawn(
        camera(Mode::Always, Transport::Tcp),
        hub.clone(),
        opener.clone(),
        IngestConfig::default(),
    );
    assert!(wait_until(Duration::from_secs(2), || opener.live() == 1).await);
    // Dropping the handle stops the task too.
    drop(h);
    assert!(wait_until(Duration::from_secs(1), || opener.live() == 0).await);
    assert!(hub.snapshot().ended);
}

/// Captures log output of the current thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// All log output of this test binary (a global subscriber: a per-thread
/// one can miss events whose interest was cached by another thread).
fn captured_logs() -> Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        logs
    })
    .clone()
}

#[tokio::test(start_paused = true)]
async fn credentials_never_reach_status_or_logs() {
    let logs = captured_logs();
    // An opener that (badly) puts the password and a URL with userinfo into
    // its error text.
    let leaky = || {
        Script::Fail(IngestError::Other(format!(
            "401 for rtsp://admin:{PASSWORD}@192.0.2.10/live (password {PASSWORD})"
        )))
    };
    let opener = ScriptOpener::new(vec![leaky(), leaky(), leaky(), leaky()]);
    let hub = Hub::new(HubConfig::default());
    let h = spawn(
        camera(Mode::Always, Transport::Tcp),
        hub.clone(),
        opener.clone(),
        IngestConfig::default(),
    );
    assert!(wait_until(Duration::from_secs(10), || opener.calls().len() >= 3).await);
    let st = h.status();
    let text = format!("{st:?} {h:?}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(
        st.last_error
            .as_deref()
            .unwrap_or("")
            .contains("rtsp://192.0.2.10/live")
    );
    h.shutdown().await;
    let logged = String::from_utf8_lossy(&logs.0.lock().expect("log")).to_string();
    assert!(logged.contains("reconnecting"), "{logged}");
    assert!(logged.contains("45010200001320000001"), "{logged}");
    assert!(logged.contains("delay"), "{logged}");
    assert!(!logged.contains(PASSWORD), "{logged}");
}
