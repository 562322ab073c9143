//! The hub: one upstream, many readers.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use parking_lot::Mutex;

use crate::codec::{self, ParamSets};
use crate::media::{Codec, FLAG_KEY, Packet, StreamInfo};
use crate::queue::{CloseReason, Frame, FrameRef, MAX_TRACKS, Pushed, QueueConfig, ReaderQueue};
use crate::rewrite::TrackRewriter;

/// At most this many tasks wait for a hub's state at once before all are
/// woken to re-check.
const MAX_STATE_WAKERS: usize = 1024;

/// A reader is woken at the latest when this many packets wait.
const WAKE_BATCH: usize = 32;

/// Random SSRCs from the standard library's per-process random hash keys
/// (no I/O here: the keys are drawn once per process by `std`).
fn random_ssrcs() -> [u32; MAX_TRACKS] {
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    let mut out = [0u32; MAX_TRACKS];
    for (i, s) in out.iter_mut().enumerate() {
        *s = state.hash_one(i) as u32;
    }
    out
}

/// Limits of a hub.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    pub queue: QueueConfig,
    /// The GOP cache holds at most this many packets; a longer GOP is not
    /// cached (new readers then wait for the next keyframe).
    pub gop_max_packets: usize,
    pub gop_max_bytes: usize,
    /// At most this many readers at once; more are refused.
    pub max_readers: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            queue: QueueConfig::default(),
            gop_max_packets: 4096,
            gop_max_bytes: 6 << 20,
            max_readers: 10_000,
        }
    }
}

/// Counters a hub keeps; read by the metrics scrape. Each is updated with a
/// single relaxed atomic add on the paths that change it.
#[derive(Debug, Default)]
pub struct HubStats {
    pub packets_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub keyframes: AtomicU64,
    /// Video frames (access units) received.
    pub frames: AtomicU64,
    /// Upstream connections that started (the first and every reconnect).
    pub epochs: AtomicU64,
    /// Packets not delivered to some reader because it was behind.
    pub reader_discards: AtomicU64,
    /// Times a reader's queue overflowed.
    pub reader_overflows: AtomicU64,
    /// Readers closed for not draining within the write timeout.
    pub reader_timeouts: AtomicU64,
    pub readers_added: AtomicU64,
}

/// A point-in-time view of a hub for status pages and metrics.
#[derive(Debug, Clone)]
pub struct HubSnapshot {
    pub readers: usize,
    pub upstream_up: bool,
    pub info: Option<Arc<StreamInfo>>,
    pub gop_packets: usize,
    pub last_packet: Option<Instant>,
    pub ended: bool,
}

pub(crate) struct ReaderShared {
    q: Mutex<ReaderQueue>,
}

struct Core {
    info: Option<Arc<StreamInfo>>,
    info_version: u64,
    codecs: Vec<Codec>,
    clock_rates: Vec<u32>,
    video: Option<usize>,
    rewriters: Vec<TrackRewriter>,
    params: ParamSets,
    gop: VecDeque<Packet>,
    gop_bytes: usize,
    gop_valid: bool,
    /// Timestamp of the access unit already marked as keyframe start.
    key_ts: Option<u32>,
    /// The camera sets the RTP marker bit at the end of frames.
    markers_seen: bool,
    last_video_ts: Option<u32>,
    readers: Vec<Arc<ReaderShared>>,
    /// Packets of the frame being received, handed to readers together when
    /// it is complete.
    pending: Vec<Packet>,
    /// How many of the last packets in `gop` are also in `pending`.
    pending_in_gop: usize,
    state_wakers: Vec<Waker>,
    upstream_up: bool,
    ended: bool,
    last_packet: Option<Instant>,
}

/// One stream's relay. Shared as `Arc<Hub>` between its upstream (which calls
/// [`Hub::publish`]) and its readers.
pub struct Hub {
    core: Mutex<Core>,
    cfg: HubConfig,
    stats: HubStats,
    /// SSRC of each track towards readers: one per hub, the same for every
    /// reader (each reader is its own RTP session) and kept across upstream
    /// reconnects, like the sequence numbers and timestamps.
    ssrc: [u32; MAX_TRACKS],
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    pub fn new(cfg: HubConfig) -> Arc<Hub> {
        Arc::new(Hub {
            core: Mutex::new(Core {
                info: None,
                info_version: 0,
                codecs: Vec::new(),
                clock_rates: Vec::new(),
                video: None,
                rewriters: Vec::new(),
                params: ParamSets::default(),
                gop: VecDeque::new(),
                gop_bytes: 0,
                gop_valid: false,
                key_ts: None,
                markers_seen: false,
                last_video_ts: None,
                readers: Vec::new(),
                pending: Vec::new(),
                pending_in_gop: 0,
                state_wakers: Vec::new(),
                upstream_up: false,
                ended: false,
                last_packet: None,
            }),
            cfg,
            stats: HubStats::default(),
            ssrc: random_ssrcs(),
        })
    }

    /// The SSRC readers see on `track` (RFC 3550 §8: chosen at random).
    pub fn track_ssrc(&self, track: usize) -> u32 {
        self.ssrc
            .get(track)
            .copied()
            .unwrap_or(self.ssrc[0] ^ track as u32)
    }

    pub fn stats(&self) -> &HubStats {
        &self.stats
    }

    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    /// The upstream connected and described its stream. Readers already
    /// attached continue seamlessly when the tracks are the same kind;
    /// otherwise they are closed (they must DESCRIBE again).
    pub fn upstream_started(&self, mut info: StreamInfo, _now: Instant) {
        info.tracks.truncate(MAX_TRACKS);
        let mut c = self.core.lock();
        let codecs: Vec<Codec> = info.tracks.iter().map(|t| t.codec()).collect();
        let compatible = c.info.as_ref().is_some_and(|old| {
            old.tracks.len() == info.tracks.len()
                && old.tracks.iter().zip(&info.tracks).all(|(a, b)| {
                    a.codec() == b.codec() && a.kind == b.kind && a.clock_rate == b.clock_rate
                })
        });
        if !compatible {
            close_all(&mut c, CloseReason::StreamEnded);
            c.rewriters = info
                .tracks
                .iter()
                .map(|t| TrackRewriter::new(t.clock_rate))
                .collect();
            c.params = ParamSets::default();
        } else {
            for (r, t) in c.rewriters.iter_mut().zip(&info.tracks) {
                r.new_epoch(t.clock_rate);
            }
        }
        c.video = info.video_track();
        if let Some(v) = c.video {
            let t = &mut info.tracks[v];
            let from_sdp = codec::params_from_fmtp(t.codec(), t.fmtp.as_deref().unwrap_or(""));
            merge_params(&mut c.params, from_sdp);
            if let Some(f) = codec::fmtp_with_params(t.codec(), t.fmtp.as_deref(), &c.params) {
                t.fmtp = Some(f);
            }
        }
        c.codecs = codecs;
        c.clock_rates = info.tracks.iter().map(|t| t.clock_rate).collect();
        c.info = Some(Arc::new(info));
        c.info_version += 1;
        c.gop.clear();
        c.gop_bytes = 0;
        c.gop_valid = false;
        c.pending.clear();
        c.pending_in_gop = 0;
        c.key_ts = None;
        c.last_video_ts = None;
        c.upstream_up = true;
        c.ended = false;
        self.stats.epochs.fetch_add(1, Ordering::Relaxed);
        wake_state(&mut c);
    }

    /// The upstream connection was lost. Readers stay attached and resume
    /// when it comes back.
    pub fn upstream_lost(&self) {
        let mut c = self.core.lock();
        c.upstream_up = false;
        c.gop.clear();
        c.gop_bytes = 0;
        c.gop_valid = false;
        c.pending.clear();
        c.pending_in_gop = 0;
        wake_state(&mut c);
    }

    /// The stream is gone for good (camera deleted, shutdown): every reader
    /// is closed and no new one is accepted until the upstream starts again.
    pub fn end(&self) {
        let mut c = self.core.lock();
        c.ended = true;
        c.upstream_up = false;
        c.info = None;
        c.gop.clear();
        c.gop_bytes = 0;
        c.gop_valid = false;
        c.pending.clear();
        c.pending_in_gop = 0;
        close_all(&mut c, CloseReason::StreamEnded);
        wake_state(&mut c);
    }

    /// Hands one upstream packet to every reader. `now` is its arrival time.
    pub fn publish(&self, mut p: Packet, now: Instant) {
        self.stats.packets_in.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes_in
            .fetch_add(p.payload.len() as u64, Ordering::Relaxed);
        let mut c = self.core.lock();
        let track = usize::from(p.track);
        if track >= c.rewriters.len() {
            return;
        }
        c.last_packet = Some(now);
        let (seq, ts) = c.rewriters[track].rewrite(p.seq, p.timestamp, now);
        p.seq = seq;
        p.timestamp = ts;

        // Readers are woken once per frame, not per packet: at the end of a
        // video frame (marker bit, or the next frame's first packet for
        // cameras that never set it), or when enough packets are waiting.
        // Audio rides along with the next video frame.
        let flush;
        match c.video {
            Some(v) if v == track => {
                c.markers_seen |= p.marker();
                flush = p.marker() || (!c.markers_seen && c.last_video_ts != Some(p.timestamp));
                if flush {
                    self.stats.frames.fetch_add(1, Ordering::Relaxed);
                }
                c.last_video_ts = Some(p.timestamp);
                let insp = codec::inspect(c.codecs[track], &p.payload);
                if insp.key && c.key_ts != Some(p.timestamp) {
                    c.key_ts = Some(p.timestamp);
                    p.flags |= FLAG_KEY;
                }
                if insp.params != ParamSets::default() {
                    self.learn_params(&mut c, v, insp.params);
                }
            }
            // Without video every packet is a place to start.
            None => {
                p.flags |= FLAG_KEY;
                flush = true;
            }
            Some(_) => flush = false,
        }

        if p.is_key() {
            self.stats.keyframes.fetch_add(1, Ordering::Relaxed);
            c.gop.clear();
            c.gop_bytes = 0;
            c.pending_in_gop = 0;
            let was_valid = c.gop_valid;
            c.gop_valid = true;
            if !was_valid {
                wake_state(&mut c);
            }
        }
        if c.gop_valid {
            if c.gop.len() >= self.cfg.gop_max_packets
                || c.gop_bytes + p.payload.len() > self.cfg.gop_max_bytes
            {
                c.gop.clear();
                c.gop_bytes = 0;
                c.gop_valid = false;
                c.pending_in_gop = 0;
            } else {
                c.gop_bytes += p.payload.len();
                c.gop.push_back(p.clone());
                c.pending_in_gop += 1;
            }
        }
        c.pending.push(p);
        if flush || c.pending.len() >= WAKE_BATCH {
            self.flush(&mut c, now);
        }
    }

    /// Hands the pending packets to every reader as one shared frame: one
    /// lock, one reference count and one wake per reader per frame.
    fn flush(&self, c: &mut Core, now: Instant) {
        let cap = c.pending.len().next_power_of_two();
        let packets = std::mem::replace(&mut c.pending, Vec::with_capacity(cap));
        c.pending_in_gop = 0;
        // A frame for one reader is written from its packets; a copy into a
        // shared wire image pays off from two readers on.
        let frame = Arc::new(Frame::new(packets, c.readers.len() >= 2));

        let mut any_closed = false;
        let mut discards = 0u64;
        for r in &c.readers {
            let mut q = r.q.lock();
            let res = q.push(&frame, now);
            let waker = match res {
                Pushed::Queued(n) => {
                    discards += n;
                    q.waker.take()
                }
                Pushed::Closed => {
                    any_closed = true;
                    q.waker.take()
                }
                Pushed::Discarded(n) => {
                    discards += n;
                    None
                }
                Pushed::Ignored => None,
            };
            drop(q);
            if let Some(w) = waker {
                w.wake();
            }
        }
        if discards > 0 {
            self.stats
                .reader_discards
                .fetch_add(discards, Ordering::Relaxed);
        }
        if any_closed {
            let before = c.readers.len();
            c.readers.retain(|r| r.q.lock().closed.is_none());
            let n = (before - c.readers.len()) as u64;
            self.stats.reader_timeouts.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn learn_params(&self, c: &mut Core, v: usize, seen: ParamSets) {
        let mut merged = c.params.clone();
        merge_params(&mut merged, seen);
        if merged == c.params {
            return;
        }
        c.params = merged;
        let Some(info) = c.info.as_ref() else { return };
        let t = &info.tracks[v];
        if let Some(f) = codec::fmtp_with_params(t.codec(), t.fmtp.as_deref(), &c.params)
            && t.fmtp.as_deref() != Some(f.as_str())
        {
            let mut new = (**info).clone();
            new.tracks[v].fmtp = Some(f);
            c.info = Some(Arc::new(new));
            c.info_version += 1;
            wake_state(c);
        }
    }

    /// Attaches a reader that receives the tracks in `track_mask` (bit i =
    /// track i). It first gets the GOP cache, then live packets. `None` when
    /// the hub has no stream or is at its reader limit.
    pub fn add_reader(self: &Arc<Self>, track_mask: u64, now: Instant) -> Option<Reader> {
        let mut c = self.core.lock();
        if c.ended || c.info.is_none() || c.readers.len() >= self.cfg.max_readers {
            return None;
        }
        let mut q = ReaderQueue::new(self.cfg.queue, track_mask);
        // The cached GOP up to the frame in progress (that one reaches the
        // new reader with everyone else's).
        let cached = c.gop.len() - c.pending_in_gop.min(c.gop.len());
        if cached > 0 {
            let frame = Frame::new(c.gop.iter().take(cached).cloned().collect(), false);
            q.push(&Arc::new(frame), now);
        }
        let shared = Arc::new(ReaderShared { q: Mutex::new(q) });
        c.readers.push(shared.clone());
        self.stats.readers_added.fetch_add(1, Ordering::Relaxed);
        Some(Reader {
            hub: self.clone(),
            shared,
        })
    }

    pub fn reader_count(&self) -> usize {
        self.core.lock().readers.len()
    }

    /// The stream as readers should see it, and a version that changes
    /// whenever it does.
    pub fn info(&self) -> Option<(Arc<StreamInfo>, u64)> {
        let c = self.core.lock();
        c.info.clone().map(|i| (i, c.info_version))
    }

    /// True when a new reader would get a picture at once: the upstream is
    /// up and (for video) a keyframe is cached.
    pub fn is_ready(&self) -> bool {
        let c = self.core.lock();
        ready(&c)
    }

    /// Resolves when [`Hub::is_ready`] becomes true.
    pub fn ready(&self) -> Ready<'_> {
        Ready { hub: self }
    }

    pub fn snapshot(&self) -> HubSnapshot {
        let c = self.core.lock();
        HubSnapshot {
            readers: c.readers.len(),
            upstream_up: c.upstream_up,
            info: c.info.clone(),
            gop_packets: c.gop.len(),
            last_packet: c.last_packet,
            ended: c.ended,
        }
    }

    fn remove(&self, r: &Arc<ReaderShared>) {
        let mut c = self.core.lock();
        c.readers.retain(|x| !Arc::ptr_eq(x, r));
    }
}

fn ready(c: &Core) -> bool {
    c.upstream_up && c.info.is_some() && (c.video.is_none() || c.gop_valid)
}

fn merge_params(into: &mut ParamSets, from: ParamSets) {
    if from.vps.is_some() {
        into.vps = from.vps;
    }
    if from.sps.is_some() {
        into.sps = from.sps;
    }
    if from.pps.is_some() {
        into.pps = from.pps;
    }
}

fn wake_state(c: &mut Core) {
    for w in c.state_wakers.drain(..) {
        w.wake();
    }
}

fn close_all(c: &mut Core, why: CloseReason) {
    for r in c.readers.drain(..) {
        let mut q = r.q.lock();
        q.closed = Some(why);
        if let Some(w) = q.waker.take() {
            drop(q);
            w.wake();
        }
    }
}

/// Future of [`Hub::ready`].
pub struct Ready<'a> {
    hub: &'a Hub,
}

impl Future for Ready<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut c = self.hub.core.lock();
        if ready(&c) {
            return Poll::Ready(());
        }
        if !c.state_wakers.iter().any(|w| w.will_wake(cx.waker())) {
            // A waiter that gave up (a DESCRIBE that timed out) leaves its
            // waker here until the next state change. Bound the list: wake
            // everyone (they re-check and re-register if still waiting).
            if c.state_wakers.len() >= MAX_STATE_WAKERS {
                wake_state(&mut c);
            }
            c.state_wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Delivery counters of one reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReaderStats {
    pub delivered: u64,
    pub discarded: u64,
    pub overflows: u64,
}

/// One reader's end of a hub. Dropping it detaches the reader.
pub struct Reader {
    hub: Arc<Hub>,
    shared: Arc<ReaderShared>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl Reader {
    /// Moves every waiting frame into `out` (which must be empty; its
    /// allocation is reused), or registers the waker. Returns the packets
    /// moved. Errors once the relay closed this reader.
    pub fn poll_recv_frames(
        &self,
        cx: &mut Context<'_>,
        out: &mut VecDeque<FrameRef>,
    ) -> Poll<Result<usize, CloseReason>> {
        let mut q = self.shared.q.lock();
        if let Some(why) = q.closed {
            return Poll::Ready(Err(why));
        }
        if !q.queue.is_empty() {
            return Poll::Ready(Ok(q.drain_into(out)));
        }
        match &q.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => q.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Takes the waiting frames without waiting.
    pub fn try_recv_frames(&self, out: &mut VecDeque<FrameRef>) -> Result<usize, CloseReason> {
        let mut q = self.shared.q.lock();
        if let Some(why) = q.closed {
            return Err(why);
        }
        Ok(q.drain_into(out))
    }

    /// Waits for frames and moves them into `out` (which must be empty).
    pub fn recv_frames<'a>(&'a self, out: &'a mut VecDeque<FrameRef>) -> RecvFrames<'a> {
        RecvFrames { reader: self, out }
    }

    /// Like [`Reader::poll_recv_frames`], one packet at a time (owned
    /// copies with this reader's sequence numbers appended to `out`).
    pub fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        out: &mut VecDeque<Packet>,
    ) -> Poll<Result<usize, CloseReason>> {
        let mut frames = VecDeque::new();
        self.poll_recv_frames(cx, &mut frames).map_ok(|n| {
            out.extend(frames.iter().flat_map(|f| f.packets()));
            n
        })
    }

    /// Takes what is waiting without waiting, one packet at a time.
    pub fn try_recv(&self, out: &mut VecDeque<Packet>) -> Result<usize, CloseReason> {
        let mut frames = VecDeque::new();
        let n = {
            let mut q = self.shared.q.lock();
            if let Some(why) = q.closed {
                return Err(why);
            }
            q.drain_into(&mut frames)
        };
        out.extend(frames.iter().flat_map(|f| f.packets()));
        Ok(n)
    }

    /// Waits for packets and appends them to `out`, one at a time.
    pub fn recv<'a>(&'a self, out: &'a mut VecDeque<Packet>) -> RecvBatch<'a> {
        RecvBatch { reader: self, out }
    }

    pub fn stats(&self) -> ReaderStats {
        let q = self.shared.q.lock();
        ReaderStats {
            delivered: q.delivered,
            discarded: q.discarded,
            overflows: q.overflows,
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.hub.remove(&self.shared);
    }
}

/// Future of [`Reader::recv_frames`].
pub struct RecvFrames<'a> {
    reader: &'a Reader,
    out: &'a mut VecDeque<FrameRef>,
}

impl Future for RecvFrames<'_> {
    type Output = Result<usize, CloseReason>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.reader.poll_recv_frames(cx, this.out)
    }
}

/// Future of [`Reader::recv`].
pub struct RecvBatch<'a> {
    reader: &'a Reader,
    out: &'a mut VecDeque<Packet>,
}

impl Future for RecvBatch<'_> {
    type Output = Result<usize, CloseReason>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.reader.poll_recv(cx, this.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{MediaKind, Track};
    use bytes::Bytes;
    use std::time::Duration;

    fn info() -> StreamInfo {
        StreamInfo {
            tracks: vec![
                Track {
                    kind: MediaKind::Video,
                    encoding: "H264".into(),
                    clock_rate: 90000,
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

    const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
    const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb];

    /// Feeds one GOP: SPS, PPS, IDR (2 packets), then `n` P frames, plus an
    /// audio packet per frame. Returns the next sequence number.
    fn gop(hub: &Hub, seq: &mut u16, ts: &mut u32, n: usize, now: Instant) {
        let v = |hub: &Hub, seq: &mut u16, ts: u32, m: bool, b: &[u8]| {
            hub.publish(Packet::new(0, *seq, ts, m, Bytes::copy_from_slice(b)), now);
            *seq = seq.wrapping_add(1);
        };
        v(hub, seq, *ts, false, SPS);
        v(hub, seq, *ts, false, PPS);
        v(hub, seq, *ts, false, &[0x7c, 0x85, 1, 2, 3]);
        v(hub, seq, *ts, true, &[0x7c, 0x45, 4, 5, 6]);
        hub.publish(
            Packet::new(1, 0, *ts / 11, true, Bytes::from_static(&[0xd5; 160])),
            now,
        );
        for _ in 0..n {
            *ts = ts.wrapping_add(3600);
            v(hub, seq, *ts, true, &[0x41, 9, 9, 9]);
        }
        *ts = ts.wrapping_add(3600);
    }

    #[test]
    fn learns_parameter_sets_in_band() {
        let hub = Hub::new(HubConfig::default());
        let t = Instant::now();
        hub.upstream_started(info(), t);
        assert!(!hub.is_ready());
        let (mut seq, mut ts) = (0u16, 0u32);
        gop(&hub, &mut seq, &mut ts, 3, t);
        assert!(hub.is_ready());
        let (i, ver) = hub.info().unwrap();
        assert!(ver >= 2);
        let f = i.tracks[0].fmtp.clone().unwrap();
        assert!(f.contains("sprop-parameter-sets=Z2QAH6zZ,aOvjyw=="), "{f}");
        assert!(f.contains("profile-level-id=64001F"), "{f}");
    }

    #[test]
    fn new_reader_starts_with_gop_then_live() {
        let hub = Hub::new(HubConfig::default());
        let t = Instant::now();
        hub.upstream_started(info(), t);
        let (mut seq, mut ts) = (0u16, 0u32);
        gop(&hub, &mut seq, &mut ts, 2, t);
        gop(&hub, &mut seq, &mut ts, 2, t);
        let r = hub.add_reader(0b11, t).unwrap();
        let mut out = VecDeque::new();
        assert_eq!(r.try_recv(&mut out), Ok(7));
        assert!(out[0].is_key());
        assert_eq!(&out[0].payload[..], SPS);
        // Only one packet of the AU is marked.
        assert_eq!(out.iter().filter(|p| p.is_key()).count(), 1);
        out.clear();
        hub.publish(
            Packet::new(0, seq, ts, true, Bytes::from_static(&[0x41, 1])),
            t,
        );
        assert_eq!(r.try_recv(&mut out), Ok(1));
        assert_eq!(hub.reader_count(), 1);
        drop(r);
        assert_eq!(hub.reader_count(), 0);
    }

    #[test]
    fn reader_joining_mid_frame_gets_each_packet_once() {
        let hub = Hub::new(HubConfig::default());
        let t = Instant::now();
        hub.upstream_started(info(), t);
        let (mut seq, mut ts) = (0u16, 0u32);
        gop(&hub, &mut seq, &mut ts, 2, t);
        // First half of a P frame: not handed out yet.
        let p = |seq: u16, m: bool| Packet::new(0, seq, ts, m, Bytes::from_static(&[0x41, 7]));
        hub.publish(p(seq, false), t);
        let r = hub.add_reader(0b11, t).unwrap();
        let mut out = VecDeque::new();
        // The cached GOP only: SPS, PPS, IDR x2, audio, P, P.
        assert_eq!(r.try_recv(&mut out), Ok(7));
        hub.publish(p(seq.wrapping_add(1), true), t);
        // Then the whole frame in progress, once.
        assert_eq!(r.try_recv(&mut out), Ok(2));
        let seqs: Vec<u16> = out.iter().filter(|p| p.track == 0).map(|p| p.seq).collect();
        assert_eq!(seqs, (0..8).collect::<Vec<u16>>());
    }

    #[test]
    fn reader_joining_inside_a_keyframe_starts_there() {
        let hub = Hub::new(HubConfig::default());
        let t = Instant::now();
        hub.upstream_started(info(), t);
        let (mut seq, mut ts) = (0u16, 0u32);
        gop(&hub, &mut seq, &mut ts, 2, t);
        // SPS and PPS of the next keyframe arrived; its IDR has not.
        let v =
            |seq: u16, m: bool, b: &'static [u8]| Packet::new(0, seq, ts, m, Bytes::from_static(b));
        hub.publish(v(seq, false, SPS), t);
        hub.publish(v(seq + 1, false, PPS), t);
        let r = hub.add_reader(0b01, t).unwrap();
        let mut out = VecDeque::new();
        // Nothing cached before the keyframe in progress.
        assert_eq!(r.try_recv(&mut out), Ok(0));
        hub.publish(v(seq + 2, true, &[0x65, 1]), t);
        assert_eq!(r.try_recv(&mut out), Ok(3));
        assert!(out[0].is_key());
        assert_eq!(&out[0].payload[..], SPS);
    }

    #[test]
    fn slow_reader_skips_and_others_unaffected() {
        let cfg = HubConfig {
            queue: QueueConfig {
                max_packets: 16,
                max_bytes: 1 << 20,
                write_timeout: Duration::from_secs(5),
            },
            ..HubConfig::default()
        };
        let hub = Hub::new(cfg);
        let t = Instant::now();
        hub.upstream_started(info(), t);
        let (mut seq, mut ts) = (0u16, 0u32);
        gop(&hub, &mut seq, &mut ts, 1, t);
        let slow = hub.add_reader(0b11, t).unwrap();
        let fast = hub.add_reader(0b11, t).unwrap();
        let mut out = VecDeque::new();
        let mut fast_seqs = Vec::new();
        // 6 cached + 4 GOPs of 10 packets through a 16-packet queue: it
        // overflows twice and ends holding the last GOP from its keyframe.
        for _ in 0..4 {
            gop(&hub, &mut seq, &mut ts, 5, t);
            fast.try_recv(&mut out).unwrap();
            fast_seqs.extend(out.drain(..).filter(|p| p.track == 0).map(|p| p.seq));
        }
        // The fast reader got every video packet, in order, no gap.
        assert!(fast_seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        assert_eq!(fast.stats().discarded, 0);
        // The slow one overflowed, skipped to a keyframe and its numbering
        // stayed continuous.
        slow.try_recv(&mut out).unwrap();
        assert_eq!(slow.stats().overflows, 2);
        assert_eq!(out.len(), 10);
        assert!(out[0].is_key(), "{out:?}");
        let v: Vec<u16> = out.iter().filter(|p| p.track == 0).map(|p| p.seq).collect();
        assert!(v.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        assert!(hub.stats().reader_discards.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn stalled_reader_is_dropped_after_timeout() {
        let hub = Hub::new(HubConfig::default());
        let t = Instant::now();
        hub.upstream_started(info(), t);
        let (mut seq, mut ts) = (0u16, 0u32);
        gop(&hub, &mut seq, &mut ts, 1, t);
        let stalled = hub.add_reader(1, t).unwrap();
        let live = hub.add_reader(1, t).unwrap();
        let mut out = VecDeque::new();
        for s in 1..=12u64 {
            gop(&hub, &mut seq, &mut ts, 1, t + Duration::from_secs(s));
            out.clear();
            live.try_recv(&mut out).unwrap();
        }
        out.clear();
        assert_eq!(stalled.try_recv(&mut out), Err(CloseReason::WriteTimeout));
        assert_eq!(hub.reader_count(), 1);
        assert!(live.try_recv(&mut out).is_ok());
    }

    #[test]
    fn reconnect_keeps_readers_and_numbering() {
        let hub = Hub::new(HubConfig::default());
        let t = Instant::now();
        hub.upstream_started(info(), t);
        let (mut seq, mut ts) = (100u16, 1000u32);
        gop(&hub, &mut seq, &mut ts, 2, t);
        let r = hub.add_reader(1, t).unwrap();
        let mut out = VecDeque::new();
        r.try_recv(&mut out).unwrap();
        let last = out.back().cloned().unwrap();
        out.clear();
        hub.upstream_lost();
        assert!(!hub.is_ready());
        let t2 = t + Duration::from_secs(2);
        hub.upstream_started(info(), t2);
        let (mut seq2, mut ts2) = (9000u16, 77u32);
        gop(&hub, &mut seq2, &mut ts2, 1, t2);
        r.try_recv(&mut out).unwrap();
        assert_eq!(out[0].seq, last.seq.wrapping_add(1));
        assert!(out[0].timestamp.wrapping_sub(last.timestamp) >= 180_000);
        assert!(out[0].is_key());
    }

    #[test]
    fn changed_tracks_close_readers_and_end_closes_all() {
        let hub = Hub::new(HubConfig::default());
        let t = Instant::now();
        hub.upstream_started(info(), t);
        let (mut seq, mut ts) = (0u16, 0u32);
        gop(&hub, &mut seq, &mut ts, 1, t);
        let r = hub.add_reader(1, t).unwrap();
        let mut i2 = info();
        i2.tracks.pop();
        hub.upstream_started(i2, t);
        let mut out = VecDeque::new();
        assert_eq!(r.try_recv(&mut out), Err(CloseReason::StreamEnded));
        gop(&hub, &mut seq, &mut ts, 1, t);
        let r2 = hub.add_reader(1, t).unwrap();
        hub.end();
        assert_eq!(r2.try_recv(&mut out), Err(CloseReason::StreamEnded));
        assert!(hub.add_reader(1, t).is_none());
    }

    #[test]
    fn abandoned_ready_waiters_stay_bounded() {
        let hub = Hub::new(HubConfig::default());
        hub.upstream_started(info(), Instant::now());
        for _ in 0..10 * MAX_STATE_WAKERS {
            // A distinct task each time, giving up after one poll.
            let waker = futures::task::waker(std::sync::Arc::new(Nop));
            let mut cx = Context::from_waker(&waker);
            let mut fut = Box::pin(hub.ready());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
        assert!(hub.core.lock().state_wakers.len() <= MAX_STATE_WAKERS);
    }

    struct Nop;
    impl futures::task::ArcWake for Nop {
        fn wake_by_ref(_: &std::sync::Arc<Self>) {}
    }

    #[test]
    fn ready_future_wakes() {
        let hub = Hub::new(HubConfig::default());
        let t = Instant::now();
        hub.upstream_started(info(), t);
        let mut fut = Box::pin(hub.ready());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let (mut seq, mut ts) = (0u16, 0u32);
        gop(&hub, &mut seq, &mut ts, 1, t);
        assert!(fut.as_mut().poll(&mut cx).is_ready());
    }
}
