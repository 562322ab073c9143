//! One task per camera: connects, feeds the hub, watches for stalls,
//! reconnects with backoff, falls back from UDP to TCP, and (on-demand
//! cameras) connects only while someone watches.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::{FutureExt as _, StreamExt as _};
use rand::Rng as _;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use xlgw_model::{Camera, DeviceId, Mode, Transport};
use xlgw_relay::{Hub, MediaKind};

use crate::IngestError;
use crate::error::{Scrubber, display_url};
use crate::opener::{OpenTransport, Opened, Opener};
use crate::stats::{IngestStats, SessionMeter};

/// Packets handled in a row before the supervisor looks at its timers and
/// its stop signal again.
const MAX_BATCH: usize = 64;

/// Timeouts and retry policy of the supervisors.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    /// Longest DESCRIBE → PLAY.
    pub connect_timeout: Duration,
    /// Longest wait for the first packet after PLAY.
    pub first_frame_timeout: Duration,
    /// A session without a packet for this long is dropped and reconnected.
    pub stall_timeout: Duration,
    /// First delay between attempts; doubled after each failure…
    pub backoff_initial: Duration,
    /// …up to this.
    pub backoff_max: Duration,
    /// Each delay is multiplied by a random factor in `1 ± backoff_jitter`.
    pub backoff_jitter: f64,
    /// A session that delivered packets this long resets the delay to
    /// `backoff_initial`.
    pub backoff_reset_after: Duration,
    /// Transport `auto`: with no UDP packet this long after PLAY, the camera
    /// switches to TCP for good.
    pub udp_fallback: Duration,
    /// On-demand: the session is closed this long after the last reader left
    /// (or after a demand that no reader followed).
    pub idle_close: Duration,
    /// On-demand: how long the RTSP server waits for the stream to become
    /// ready after [`CameraHandle::demand`]. Not used by ingest itself.
    pub start_timeout: Duration,
    /// On-demand: how often the reader count is looked at.
    pub reader_poll: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            connect_timeout: Duration::from_secs(10),
            first_frame_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            backoff_jitter: 0.2,
            backoff_reset_after: Duration::from_secs(30),
            udp_fallback: Duration::from_secs(3),
            idle_close: Duration::from_secs(10),
            start_timeout: Duration::from_secs(10),
            reader_poll: Duration::from_millis(250),
        }
    }
}

/// Where a camera's ingest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CameraState {
    /// On-demand and nobody watching: not connected.
    Idle,
    /// DESCRIBE … PLAY under way.
    Connecting,
    /// Playing.
    Online,
    /// The last attempt failed; waiting to retry.
    Offline,
}

impl CameraState {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Idle => "idle",
            CameraState::Connecting => "connecting",
            CameraState::Online => "online",
            CameraState::Offline => "offline",
        }
    }
}

impl fmt::Display for CameraState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A camera's ingest status for status pages and the API. Holds no
/// credentials: `last_error` is scrubbed.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraStatus {
    pub state: CameraState,
    /// When `state` was entered.
    pub since: SystemTime,
    /// The last failure, one line, credential-free.
    pub last_error: Option<String>,
    /// The transport of the current (or last) session.
    pub transport: Option<OpenTransport>,
    /// Reconnect attempts so far.
    pub reconnects: u64,
}

/// The delays between attempts: `initial`, doubled up to `max`, each with
/// random jitter.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    initial: Duration,
    max: Duration,
    jitter: f64,
}

impl Backoff {
    pub fn new(cfg: &IngestConfig) -> Backoff {
        Backoff {
            next: cfg.backoff_initial,
            initial: cfg.backoff_initial,
            max: cfg.backoff_max.max(cfg.backoff_initial),
            jitter: cfg.backoff_jitter.clamp(0.0, 1.0),
        }
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
    }

    /// The next delay (jittered), advancing the sequence.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(self.max);
        if self.jitter > 0.0 {
            let f = rand::rng().random_range(1.0 - self.jitter..=1.0 + self.jitter);
            base.mul_f64(f)
        } else {
            base
        }
    }
}

struct Shared {
    id: DeviceId,
    status: Mutex<CameraStatus>,
    stats: Arc<IngestStats>,
    demand_seq: AtomicU64,
    demand: Notify,
}

impl Shared {
    fn status(&self) -> std::sync::MutexGuard<'_, CameraStatus> {
        match self.status.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The handle of one camera's supervisor task. Dropping it stops the task
/// (like [`CameraHandle::shutdown`], without waiting).
pub struct CameraHandle {
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for CameraHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CameraHandle")
            .field("id", &self.shared.id)
            .field("status", &*self.shared.status())
            .finish_non_exhaustive()
    }
}

impl CameraHandle {
    pub fn id(&self) -> DeviceId {
        self.shared.id
    }

    pub fn status(&self) -> CameraStatus {
        self.shared.status().clone()
    }

    /// The state alone, without copying the status (cheap enough to call for
    /// every camera of a large catalogue).
    pub fn state(&self) -> CameraState {
        self.shared.status().state
    }

    /// Online, or idle on demand with no error from its last session.
    pub fn is_up(&self) -> bool {
        let s = self.shared.status();
        match s.state {
            CameraState::Online => true,
            CameraState::Idle => s.last_error.is_none(),
            _ => false,
        }
    }

    pub fn stats(&self) -> Arc<IngestStats> {
        self.shared.stats.clone()
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Someone wants to watch (an RTSP DESCRIBE arrived): an idle on-demand
    /// camera starts pulling, and a running one counts it as interest, so
    /// it is not closed before the reader attaches. No effect on `always`
    /// cameras.
    pub fn demand(&self) {
        self.shared.demand_seq.fetch_add(1, Ordering::Relaxed);
        self.shared.demand.notify_one();
    }

    /// Stops the task (closing any session) and ends the hub.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.hub.end();
    }
}

impl Drop for CameraHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts the supervisor of `camera`, feeding `hub`. Must be called inside a
/// tokio runtime.
pub fn spawn(
    camera: Camera,
    hub: Arc<Hub>,
    opener: Arc<dyn Opener>,
    cfg: IngestConfig,
) -> CameraHandle {
    let initial = match camera.mode {
        Mode::OnDemand => CameraState::Idle,
        Mode::Always => CameraState::Connecting,
    };
    let shared = Arc::new(Shared {
        id: camera.id,
        status: Mutex::new(CameraStatus {
            state: initial,
            since: SystemTime::now(),
            last_error: None,
            transport: None,
            reconnects: 0,
        }),
        stats: Arc::new(IngestStats::new()),
        demand_seq: AtomicU64::new(0),
        demand: Notify::new(),
    });
    let (stop, stop_rx) = watch::channel(false);
    let sup = Supervisor {
        url: display_url(&camera.url),
        scrubber: Scrubber::new(camera.credentials.as_ref()),
        camera,
        hub: hub.clone(),
        opener,
        backoff: Backoff::new(&cfg),
        cfg,
        shared: shared.clone(),
        stop: stop_rx,
        tcp_only: false,
        demand_seen: 0,
        last_wanted: Instant::now(),
    };
    let task = tokio::spawn(sup.run());
    CameraHandle {
        shared,
        hub,
        stop,
        task: Some(task),
    }
}

/// How a session (or an attempt at one) ended.
enum End {
    /// Shutdown asked.
    Stopped,
    /// On-demand and nobody watching any more.
    Idle,
    /// Failed; `delivered` is how long it delivered packets.
    Failed {
        error: IngestError,
        delivered: Duration,
    },
}

struct Supervisor {
    camera: Camera,
    url: String,
    scrubber: Scrubber,
    hub: Arc<Hub>,
    opener: Arc<dyn Opener>,
    cfg: IngestConfig,
    backoff: Backoff,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    /// Transport `auto` fell back to TCP.
    tcp_only: bool,
    demand_seen: u64,
    /// On-demand: the last time someone watched or asked to.
    last_wanted: Instant,
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    // An error means the handle is gone: stop as well.
    let _ = rx.wait_for(|s| *s).await;
}

impl Supervisor {
    fn on_demand(&self) -> bool {
        self.camera.mode == Mode::OnDemand
    }

    fn transport(&self) -> OpenTransport {
        match self.camera.transport {
            Transport::Tcp => OpenTransport::Tcp,
            Transport::Udp => OpenTransport::Udp,
            Transport::Auto if self.tcp_only => OpenTransport::Tcp,
            Transport::Auto => OpenTransport::Udp,
        }
    }

    fn set_state(&self, state: CameraState, f: impl FnOnce(&mut CameraStatus)) {
        let mut s = self.shared.status();
        if s.state != state {
            s.state = state;
            s.since = SystemTime::now();
        }
        f(&mut s);
    }

    /// On-demand: notes readers and demands; true while someone wants the
    /// stream (or did within `idle_close`).
    fn wanted(&mut self, now: Instant) -> bool {
        let seq = self.shared.demand_seq.load(Ordering::Relaxed);
        if seq != self.demand_seen || self.hub.reader_count() > 0 {
            self.demand_seen = seq;
            self.last_wanted = now;
        }
        now.saturating_duration_since(self.last_wanted) < self.cfg.idle_close
    }

    async fn run(mut self) {
        let mut stop = self.stop.clone();
        let mut active = !self.on_demand();
        let mut failing = false;
        loop {
            if !active {
                self.set_state(CameraState::Idle, |_| {});
                if !self.wait_for_demand().await {
                    break;
                }
                active = true;
                failing = false;
                self.backoff.reset();
                self.last_wanted = Instant::now();
            }

            let transport = self.transport();
            if failing {
                self.shared.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            self.set_state(CameraState::Connecting, |s| {
                s.transport = Some(transport);
                if failing {
                    s.reconnects += 1;
                }
            });

            let open = self.opener.open(&self.camera, transport);
            let opened = tokio::select! {
                r = Box::pin(tokio::time::timeout(self.cfg.connect_timeout, open)) => r,
                _ = stopped(&mut stop) => break,
            };
            let end = match opened {
                Err(_) => End::Failed {
                    error: IngestError::ConnectTimeout(self.cfg.connect_timeout),
                    delivered: Duration::ZERO,
                },
                Ok(Err(error)) => End::Failed {
                    error,
                    delivered: Duration::ZERO,
                },
                // Boxed: a live session's state lives on the heap only while
                // it runs, so an idle supervisor stays small.
                Ok(Ok(opened)) => Box::pin(self.play(opened, transport)).await,
            };

            match end {
                End::Stopped => break,
                End::Idle => {
                    tracing::info!(camera = %self.camera.id, url = %self.url, "no readers: closing on-demand session");
                    active = false;
                }
                End::Failed { error, delivered } => {
                    failing = true;
                    let error = self.scrubber.error(error);
                    let text = self.scrubber.scrub(&error.to_string());
                    let fall_back = self.camera.transport == Transport::Auto
                        && transport == OpenTransport::Udp
                        && matches!(
                            error,
                            IngestError::UdpFallback(_)
                                | IngestError::NoTracks(_)
                                | IngestError::Rtsp {
                                    stage: crate::Stage::Setup,
                                    ..
                                }
                        );
                    if delivered >= self.cfg.backoff_reset_after {
                        self.backoff.reset();
                    }
                    let delay = if fall_back {
                        self.tcp_only = true;
                        Duration::ZERO
                    } else {
                        self.backoff.next_delay()
                    };
                    tracing::warn!(
                        camera = %self.camera.id,
                        url = %self.url,
                        transport = %transport,
                        error = %text,
                        delay = ?delay,
                        fallback_to_tcp = fall_back,
                        "camera session failed; reconnecting"
                    );
                    self.set_state(CameraState::Offline, |s| s.last_error = Some(text));
                    if !delay.is_zero() {
                        match Box::pin(self.wait_backoff(delay)).await {
                            Some(true) => {}
                            Some(false) => {
                                active = false;
                            }
                            None => break,
                        }
                    }
                }
            }
        }
        self.hub.upstream_lost();
        self.hub.end();
    }

    /// Idle until `demand()`. False when stopped.
    async fn wait_for_demand(&mut self) -> bool {
        let mut stop = self.stop.clone();
        loop {
            let seq = self.shared.demand_seq.load(Ordering::Relaxed);
            if seq != self.demand_seen {
                self.demand_seen = seq;
                return true;
            }
            let shared = self.shared.clone();
            tokio::select! {
                _ = shared.demand.notified() => {}
                _ = stopped(&mut stop) => return false,
            }
        }
    }

    /// Sleeps `delay`. `Some(true)` to retry, `Some(false)` when an
    /// on-demand camera lost its audience meanwhile, `None` when stopped.
    async fn wait_backoff(&mut self, delay: Duration) -> Option<bool> {
        let until = Instant::now() + delay;
        let mut stop = self.stop.clone();
        loop {
            let step = if self.on_demand() {
                until.min(Instant::now() + self.cfg.reader_poll)
            } else {
                until
            };
            tokio::select! {
                _ = tokio::time::sleep_until(step) => {}
                _ = stopped(&mut stop) => return None,
            }
            let now = Instant::now();
            if self.on_demand() && !self.wanted(now) {
                return Some(false);
            }
            if now >= until {
                return Some(true);
            }
        }
    }

    /// Runs a playing session until it ends.
    async fn play(&mut self, opened: Opened, transport: OpenTransport) -> End {
        let Opened { info, mut packets } = opened;
        let mut stop = self.stop.clone();
        let started = Instant::now();
        let video = info
            .tracks
            .iter()
            .position(|t| t.kind == MediaKind::Video)
            .map(|i| (i, info.tracks[i].clock_rate));
        let ntracks = info.tracks.len();
        tracing::info!(
            camera = %self.camera.id,
            url = %self.url,
            transport = %transport,
            tracks = ntracks,
            "camera playing"
        );
        self.hub.upstream_started(info, started.into_std());
        self.set_state(CameraState::Online, |_| {});

        let auto_udp = self.camera.transport == Transport::Auto && transport == OpenTransport::Udp;
        let first_wait = if auto_udp {
            self.cfg.udp_fallback
        } else {
            self.cfg.first_frame_timeout
        };
        let mut meter = SessionMeter::new(ntracks, video, started);
        let stats = self.shared.stats.clone();
        let hub = self.hub.clone();
        let mut first: Option<Instant> = None;
        let mut last = started;
        let on_demand = self.on_demand();
        let mut poll = tokio::time::interval(self.cfg.reader_poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The deadline timer is not reset per packet: when it fires, it is
        // moved to the last packet's time plus the stall timeout.
        let deadline = tokio::time::sleep_until(started + first_wait);
        tokio::pin!(deadline);

        let end = 'session: loop {
            tokio::select! {
                biased;
                _ = stopped(&mut stop) => break End::Stopped,
                item = packets.next() => {
                    // Take what is already waiting too (bounded), without a
                    // round through select! per packet.
                    let mut item = item;
                    let mut batch = 0;
                    loop {
                        match item {
                            Some(Ok(p)) => {
                                let now = Instant::now();
                                let track = usize::from(p.track);
                                if track < ntracks {
                                    stats.on_packet(p.payload.len(), now);
                                    let lost = meter.seq(track, p.seq);
                                    if lost > 0 {
                                        stats.lost.fetch_add(lost, Ordering::Relaxed);
                                    }
                                    if let Some(j) = meter.jitter(track, p.timestamp, now) {
                                        stats.set_jitter(j);
                                    }
                                    hub.publish(p, now.into_std());
                                    if first.is_none() {
                                        first = Some(now);
                                        deadline.as_mut().reset(now + self.cfg.stall_timeout);
                                    }
                                    last = now;
                                }
                            }
                            Some(Err(e)) => break 'session self.failed(e, first, last),
                            None => break 'session self.failed(IngestError::Closed, first, last),
                        }
                        batch += 1;
                        if batch == MAX_BATCH {
                            break;
                        }
                        match packets.next().now_or_never() {
                            Some(next) => item = next,
                            None => break,
                        }
                    }
                }
                _ = &mut deadline => {
                    let now = Instant::now();
                    match first {
                        None => {
                            let e = if auto_udp {
                                IngestError::UdpFallback(first_wait)
                            } else {
                                IngestError::FirstFrameTimeout(first_wait)
                            };
                            break self.failed(e, first, last);
                        }
                        Some(_) if now >= last + self.cfg.stall_timeout => {
                            break self.failed(IngestError::Stalled(self.cfg.stall_timeout), first, last);
                        }
                        Some(_) => deadline.as_mut().reset(last + self.cfg.stall_timeout),
                    }
                }
                _ = poll.tick(), if on_demand => {
                    if !self.wanted(Instant::now()) {
                        break End::Idle;
                    }
                }
            }
        };
        drop(packets);
        self.hub.upstream_lost();
        end
    }

    fn failed(&self, error: IngestError, first: Option<Instant>, last: Instant) -> End {
        End::Failed {
            error,
            delivered: first.map_or(Duration::ZERO, |f| last.saturating_duration_since(f)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_max_with_jitter_bounds() {
        let cfg = IngestConfig::default();
        let mut b = Backoff::new(&cfg);
        let bases = [1u64, 2, 4, 8, 16, 30, 30, 30];
        for base in bases {
            let d = b.next_delay().as_secs_f64();
            let base = base as f64;
            assert!(
                d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9,
                "{d} vs {base}"
            );
        }
        b.reset();
        let d = b.next_delay().as_secs_f64();
        assert!((0.8..=1.2).contains(&d));
        let mut exact = Backoff::new(&IngestConfig {
            backoff_jitter: 0.0,
            ..IngestConfig::default()
        });
        let got: Vec<u64> = (0..7).map(|_| exact.next_delay().as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 30, 30]);
    }
}
