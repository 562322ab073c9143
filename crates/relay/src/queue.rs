//! One reader's bounded queue and its slow-reader policy.
//!
//! The queue holds shared packets (no payload copies). When it is full, it is
//! emptied and the reader waits for the next keyframe: a decoder can start
//! cleanly there, whereas dropping single packets would corrupt every frame
//! until the next keyframe anyway. Sequence numbers stay continuous for the
//! reader: what it skipped is subtracted per track. A reader whose queue has
//! not been drained for `write_timeout` while packets wait is closed.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::media::Packet;

/// Limits of one reader's queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueConfig {
    /// At most this many packets wait.
    pub max_packets: usize,
    /// At most this many payload bytes wait.
    pub max_bytes: usize,
    /// A reader with waiting packets that has not drained for this long is
    /// closed.
    pub write_timeout: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_packets: 8192,
            max_bytes: 8 << 20,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a reader was closed by the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// It did not drain its queue within the write timeout.
    WriteTimeout,
    /// The stream ended (camera removed, gateway shutting down).
    StreamEnded,
}

/// Tracks a stream may have for the per-track state kept per reader.
pub const MAX_TRACKS: usize = 8;

/// Largest RTP payload that fits one interleaved frame with its 12-byte RTP
/// header. Larger packets are not written to TCP readers.
pub const MAX_INTERLEAVED_PAYLOAD: usize = 65535 - 12;

/// How readers that share a frame's wire image receive each track: track `i`
/// on interleaved channel `2 × i`, with this SSRC and payload type. Every
/// reader of a hub that set up its tracks this way (the usual case) has the
/// same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireKey {
    pub ssrc: [u32; MAX_TRACKS],
    pub payload_type: [u8; MAX_TRACKS],
}

/// Packets published together, shared by every reader: one video frame and
/// the audio that arrived with it (or a run of packets of a stream without
/// markers, or the GOP cache handed to a new reader).
#[derive(Debug)]
pub struct Frame {
    pub(crate) packets: Vec<Packet>,
    /// Bit i set: some packet of track i is here.
    tracks: u64,
    bytes: usize,
    /// Worth a shared wire image: offered to several readers at once.
    shareable: bool,
    /// The frame as TCP readers get it (interleaved and RTP headers written
    /// once, payloads copied once), built by the first writer that asks.
    wire: OnceLock<(WireKey, Box<[u8]>)>,
}

impl Frame {
    pub(crate) fn new(packets: Vec<Packet>, shareable: bool) -> Frame {
        let mut tracks = 0u64;
        let mut bytes = 0;
        let mut small = true;
        for p in &packets {
            tracks |= 1u64 << (p.track & 63);
            bytes += p.payload.len();
            small &= usize::from(p.track) < MAX_TRACKS;
        }
        Frame {
            packets,
            tracks,
            bytes,
            shareable: shareable && small,
            wire: OnceLock::new(),
        }
    }

    /// Every packet of tracks below [`MAX_TRACKS`] as interleaved frames
    /// (RFC 2326 §10.12) carrying RTP packets (RFC 3550 §5.1), numbered as
    /// the hub numbered them.
    fn build_wire(&self, key: &WireKey) -> Box<[u8]> {
        let mut out = Vec::with_capacity(self.bytes + 16 * self.packets.len());
        for p in &self.packets {
            let t = usize::from(p.track);
            if t >= MAX_TRACKS || p.payload.len() > MAX_INTERLEAVED_PAYLOAD {
                continue;
            }
            out.extend_from_slice(&p.interleaved_header(
                p.track * 2,
                p.seq,
                key.payload_type[t],
                key.ssrc[t],
            ));
            out.extend_from_slice(&p.payload);
        }
        out.into_boxed_slice()
    }
}

/// One reader's share of a [`Frame`]: its packets from `from` on, of the
/// tracks it receives, numbered in its own sequence (what it skipped is
/// taken out).
#[derive(Debug, Clone)]
pub struct FrameRef {
    frame: Arc<Frame>,
    from: usize,
    mask: u64,
    seq_adj: [u16; MAX_TRACKS],
}

impl FrameRef {
    /// All of `packets`, numbered as they are (tools and tests).
    pub fn whole(packets: Vec<Packet>) -> FrameRef {
        FrameRef {
            frame: Arc::new(Frame::new(packets, true)),
            from: 0,
            mask: u64::MAX,
            seq_adj: [0; MAX_TRACKS],
        }
    }

    /// This reader's packets, each with the sequence number it must carry.
    pub fn iter(&self) -> impl Iterator<Item = (&Packet, u16)> + '_ {
        self.frame.packets[self.from..]
            .iter()
            .filter(|p| wants(self.mask, p.track))
            .map(|p| {
                let adj = self.seq_adj.get(usize::from(p.track)).copied().unwrap_or(0);
                (p, p.seq.wrapping_sub(adj))
            })
    }

    /// This share as bytes ready for a TCP reader whose tracks are set up as
    /// `key` says, shared with every other such reader: `None` when this
    /// reader's share differs from the frame as published (it starts inside
    /// the frame, skipped packets earlier, or does not take every track the
    /// frame carries), when the frame goes to a single reader, or when the
    /// image was built for another key. The caller then writes the packets
    /// from [`FrameRef::iter`].
    pub fn wire_image(&self, key: &WireKey) -> Option<&[u8]> {
        let f = &*self.frame;
        if !f.shareable || self.from != 0 || f.tracks & !self.mask != 0 {
            return None;
        }
        for (t, adj) in self.seq_adj.iter().enumerate() {
            if *adj != 0 && f.tracks & (1 << t) != 0 {
                return None;
            }
        }
        let (k, image) = f.wire.get_or_init(|| (*key, f.build_wire(key)));
        (k == key).then_some(&**image)
    }

    /// The same packets as owned copies with the reader's sequence numbers.
    pub fn packets(&self) -> impl Iterator<Item = Packet> + '_ {
        self.iter().map(|(p, seq)| {
            let mut q = p.clone();
            q.seq = seq;
            q
        })
    }

    /// Packets of this share (for accounting).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn wants(mask: u64, track: u8) -> bool {
    track < 64 && mask & (1u64 << track) != 0
}

#[derive(Debug)]
pub(crate) struct ReaderQueue {
    pub(crate) queue: VecDeque<FrameRef>,
    packets: usize,
    bytes: usize,
    pub(crate) waker: Option<Waker>,
    pub(crate) closed: Option<CloseReason>,
    need_key: bool,
    pending_since: Option<Instant>,
    /// Packets skipped per track, subtracted from sequence numbers.
    pub(crate) skipped: [u16; MAX_TRACKS],
    /// Which tracks this reader receives.
    track_mask: u64,
    pub(crate) discarded: u64,
    pub(crate) overflows: u64,
    pub(crate) delivered: u64,
    cfg: QueueConfig,
}

/// What a push did, for the hub's bookkeeping.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; this many of its packets (or of dropped frames) skipped.
    Queued(u64),
    /// This many packets were skipped (the reader waits for a keyframe).
    Discarded(u64),
    Ignored,
    Closed,
}

impl ReaderQueue {
    pub(crate) fn new(cfg: QueueConfig, track_mask: u64) -> ReaderQueue {
        ReaderQueue {
            queue: VecDeque::new(),
            packets: 0,
            bytes: 0,
            waker: None,
            closed: None,
            need_key: true,
            pending_since: None,
            skipped: [0; MAX_TRACKS],
            track_mask,
            discarded: 0,
            overflows: 0,
            delivered: 0,
            cfg,
        }
    }

    /// Counts the wanted packets of `ps` as skipped; returns how many.
    fn skip_all(&mut self, ps: &[Packet]) -> u64 {
        let mut n = 0;
        for p in ps {
            if wants(self.track_mask, p.track) {
                if let Some(s) = self.skipped.get_mut(usize::from(p.track)) {
                    *s = s.wrapping_add(1);
                }
                n += 1;
            }
        }
        self.discarded += n;
        n
    }

    /// Index of the first wanted keyframe packet of `ps`.
    fn first_key(&self, ps: &[Packet]) -> Option<usize> {
        ps.iter()
            .position(|p| p.is_key() && wants(self.track_mask, p.track))
    }

    /// Wanted packets and their bytes in `f` from `from` on.
    fn size(&self, f: &Frame, from: usize) -> (usize, usize) {
        if from == 0 && f.tracks & !self.track_mask == 0 {
            return (f.packets.len(), f.bytes);
        }
        f.packets[from..]
            .iter()
            .filter(|p| wants(self.track_mask, p.track))
            .fold((0, 0), |(n, b), p| (n + 1, b + p.payload.len()))
    }

    /// Offers a frame. `now` is the time its last packet arrived.
    pub(crate) fn push(&mut self, f: &Arc<Frame>, now: Instant) -> Pushed {
        if self.closed.is_some() {
            return Pushed::Closed;
        }
        if f.tracks & self.track_mask == 0 {
            return Pushed::Ignored;
        }
        if let Some(since) = self.pending_since
            && now.saturating_duration_since(since) >= self.cfg.write_timeout
        {
            self.closed = Some(CloseReason::WriteTimeout);
            return Pushed::Closed;
        }
        let mut skipped = 0;
        let mut from = 0;
        if self.need_key {
            let Some(k) = self.first_key(&f.packets) else {
                return Pushed::Discarded(self.skip_all(&f.packets));
            };
            skipped += self.skip_all(&f.packets[..k]);
            from = k;
            self.need_key = false;
        }
        let (mut n, mut b) = self.size(f, from);
        if n == 0 {
            return Pushed::Ignored;
        }
        if self.packets + n > self.cfg.max_packets || self.bytes + b > self.cfg.max_bytes {
            self.overflows += 1;
            let dropped: Vec<FrameRef> = self.queue.drain(..).collect();
            for d in &dropped {
                skipped += self.skip_all(&d.frame.packets[d.from..]);
            }
            self.packets = 0;
            self.bytes = 0;
            // Start again at a keyframe: this frame's, or a later one.
            match self.first_key(&f.packets[from..]) {
                Some(k) => {
                    skipped += self.skip_all(&f.packets[from..from + k]);
                    from += k;
                    (n, b) = self.size(f, from);
                }
                None => {
                    self.need_key = true;
                    skipped += self.skip_all(&f.packets[from..]);
                    return Pushed::Discarded(skipped);
                }
            }
        }
        if self.queue.is_empty() {
            self.pending_since = Some(now);
        }
        self.queue.push_back(FrameRef {
            frame: f.clone(),
            from,
            mask: self.track_mask,
            seq_adj: self.skipped,
        });
        self.packets += n;
        self.bytes += b;
        Pushed::Queued(skipped)
    }

    /// Moves every waiting frame into `out` (which must be empty; its
    /// allocation is reused for the next ones). Returns the packets moved.
    pub(crate) fn drain_into(&mut self, out: &mut VecDeque<FrameRef>) -> usize {
        debug_assert!(out.is_empty());
        std::mem::swap(&mut self.queue, out);
        let n = self.packets;
        self.packets = 0;
        self.bytes = 0;
        self.pending_since = None;
        self.delivered += n as u64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::FLAG_KEY;
    use bytes::Bytes;

    fn pkt_on(track: u8, seq: u16, key: bool) -> Packet {
        let mut p = Packet::new(track, seq, 0, false, Bytes::from_static(&[0; 100]));
        if key {
            p.flags |= FLAG_KEY;
        }
        p
    }

    /// A frame of one video packet.
    fn one(seq: u16, key: bool) -> Arc<Frame> {
        Arc::new(Frame::new(vec![pkt_on(0, seq, key)], true))
    }

    fn seqs(out: &VecDeque<FrameRef>) -> Vec<u16> {
        out.iter()
            .flat_map(|f| f.packets())
            .map(|p| p.seq)
            .collect()
    }

    fn cfg() -> QueueConfig {
        QueueConfig {
            max_packets: 4,
            max_bytes: 1 << 20,
            write_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn starts_at_keyframe() {
        let t = Instant::now();
        let mut q = ReaderQueue::new(cfg(), 1);
        assert_eq!(q.push(&one(1, false), t), Pushed::Discarded(1));
        assert_eq!(q.push(&one(2, true), t), Pushed::Queued(0));
        assert_eq!(q.push(&one(3, false), t), Pushed::Queued(0));
        let mut out = VecDeque::new();
        assert_eq!(q.drain_into(&mut out), 2);
        // The skipped packet is taken out of the numbering.
        assert_eq!(seqs(&out), vec![1, 2]);
    }

    #[test]
    fn starts_at_the_keyframe_inside_a_frame() {
        let t = Instant::now();
        // Audio (track 1) that arrived before the keyframe's first packet.
        let f = Arc::new(Frame::new(
            vec![
                pkt_on(1, 50, false),
                pkt_on(0, 7, true),
                pkt_on(1, 51, false),
                pkt_on(0, 8, false),
            ],
            true,
        ));
        let mut q = ReaderQueue::new(cfg(), 0b11);
        assert_eq!(q.push(&f, t), Pushed::Queued(1));
        let mut out = VecDeque::new();
        assert_eq!(q.drain_into(&mut out), 3);
        let got: Vec<(u8, u16)> = out[0].packets().map(|p| (p.track, p.seq)).collect();
        assert_eq!(got, vec![(0, 7), (1, 50), (0, 8)]);
    }

    #[test]
    fn overflow_skips_to_next_keyframe_with_continuous_seq() {
        let t = Instant::now();
        let mut q = ReaderQueue::new(cfg(), 1);
        assert_eq!(q.push(&one(10, true), t), Pushed::Queued(0));
        for s in 11..14 {
            q.push(&one(s, false), t);
        }
        // Full: the fifth packet overflows; the four queued go with it.
        assert_eq!(q.push(&one(14, false), t), Pushed::Discarded(5));
        assert_eq!(q.overflows, 1);
        assert_eq!(q.push(&one(15, false), t), Pushed::Discarded(1));
        assert_eq!(q.push(&one(16, true), t), Pushed::Queued(0));
        assert_eq!(q.discarded, 6);
        let mut out = VecDeque::new();
        q.drain_into(&mut out);
        assert_eq!(seqs(&out), vec![10]);
    }

    #[test]
    fn overflow_restarts_at_a_keyframe_frame() {
        let t = Instant::now();
        let mut q = ReaderQueue::new(cfg(), 1);
        q.push(&one(1, true), t);
        for s in 2..5 {
            q.push(&one(s, false), t);
        }
        // Full, but the frame that overflows starts a keyframe: kept.
        assert_eq!(q.push(&one(5, true), t), Pushed::Queued(4));
        let mut out = VecDeque::new();
        q.drain_into(&mut out);
        assert_eq!(seqs(&out), vec![1]);
    }

    #[test]
    fn stalled_reader_times_out() {
        let t = Instant::now();
        let mut q = ReaderQueue::new(cfg(), 1);
        q.push(&one(1, true), t);
        assert_eq!(
            q.push(&one(2, false), t + Duration::from_secs(4)),
            Pushed::Queued(0)
        );
        assert_eq!(
            q.push(&one(3, false), t + Duration::from_secs(5)),
            Pushed::Closed
        );
        assert_eq!(q.closed, Some(CloseReason::WriteTimeout));
    }

    #[test]
    fn draining_reader_never_times_out() {
        let t = Instant::now();
        let mut q = ReaderQueue::new(cfg(), 1);
        let mut out = VecDeque::new();
        for s in 0..100u16 {
            let now = t + Duration::from_secs(u64::from(s));
            assert_eq!(q.push(&one(s, s == 0), now), Pushed::Queued(0));
            out.clear();
            q.drain_into(&mut out);
        }
    }

    const KEY: WireKey = WireKey {
        ssrc: [1; MAX_TRACKS],
        payload_type: [96; MAX_TRACKS],
    };

    #[test]
    fn wire_image_only_for_shares_equal_to_the_frame() {
        let t = Instant::now();
        let mut out = VecDeque::new();

        // A reader that skipped nothing shares the image.
        let mut q = ReaderQueue::new(cfg(), 1);
        q.push(&one(1, true), t);
        q.drain_into(&mut out);
        let img = out[0].wire_image(&KEY).unwrap();
        assert_eq!(img.len(), 16 + 100);
        assert_eq!(&img[..4], &[b'$', 0, 0, 112]);
        assert_eq!(&img[6..8], &1u16.to_be_bytes());

        // One that skipped a packet of the track numbers its own.
        let mut q = ReaderQueue::new(cfg(), 1);
        q.push(&one(1, false), t);
        q.push(&one(2, true), t);
        out.clear();
        q.drain_into(&mut out);
        assert!(out[0].wire_image(&KEY).is_none());
        assert_eq!(seqs(&out), vec![1]);

        // Starting inside a frame, or not taking every track of the frame.
        let av = Arc::new(Frame::new(
            vec![pkt_on(1, 50, false), pkt_on(0, 7, true)],
            true,
        ));
        let mut q = ReaderQueue::new(cfg(), 0b11);
        q.push(&av, t);
        out.clear();
        q.drain_into(&mut out);
        assert!(out[0].wire_image(&KEY).is_none());
        let mut q = ReaderQueue::new(cfg(), 0b01);
        q.push(&one(3, true), t);
        q.push(&av, t);
        out.clear();
        q.drain_into(&mut out);
        assert!(out[0].wire_image(&KEY).is_some());
        assert!(out[1].wire_image(&KEY).is_none());

        // A frame meant for one reader is never copied.
        let single = Arc::new(Frame::new(vec![pkt_on(0, 9, true)], false));
        let mut q = ReaderQueue::new(cfg(), 1);
        q.push(&single, t);
        out.clear();
        q.drain_into(&mut out);
        assert!(out[0].wire_image(&KEY).is_none());
    }

    #[test]
    fn unwanted_tracks_are_ignored() {
        let t = Instant::now();
        let mut q = ReaderQueue::new(cfg(), 0b10);
        assert_eq!(q.push(&one(1, true), t), Pushed::Ignored);
        assert_eq!(q.discarded, 0);
    }
}
