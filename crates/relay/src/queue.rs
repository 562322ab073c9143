//! One reader's bounded queue and its slow-reader policy.
//!
//! The queue holds shared packets (no payload copies). When it is full, it is
//! emptied and the reader waits for the next keyframe: a decoder can start
//! cleanly there, whereas dropping single packets would corrupt every frame
//! until the next keyframe anyway. Sequence numbers stay continuous for the
//! reader: what it skipped is subtracted per track. A reader whose queue has
//! not been drained for `write_timeout` while packets wait is closed.

use std::collections::VecDeque;
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

pub(crate) const MAX_TRACKS: usize = 8;

#[derive(Debug)]
pub(crate) struct ReaderQueue {
    pub(crate) queue: VecDeque<Packet>,
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
    Queued,
    Discarded,
    Ignored,
    Closed,
}

impl ReaderQueue {
    pub(crate) fn new(cfg: QueueConfig, track_mask: u64) -> ReaderQueue {
        ReaderQueue {
            queue: VecDeque::new(),
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

    pub(crate) fn wants(&self, track: u8) -> bool {
        track < 64 && self.track_mask & (1u64 << track) != 0
    }

    fn skip(&mut self, track: u8) {
        if let Some(s) = self.skipped.get_mut(usize::from(track)) {
            *s = s.wrapping_add(1);
        }
        self.discarded += 1;
    }

    /// Offers a packet. `now` is the time it arrived.
    pub(crate) fn push(&mut self, p: &Packet, now: Instant) -> Pushed {
        if self.closed.is_some() {
            return Pushed::Closed;
        }
        if !self.wants(p.track) {
            return Pushed::Ignored;
        }
        if let Some(since) = self.pending_since
            && now.saturating_duration_since(since) >= self.cfg.write_timeout
        {
            self.closed = Some(CloseReason::WriteTimeout);
            return Pushed::Closed;
        }
        if self.need_key {
            if !p.is_key() {
                self.skip(p.track);
                return Pushed::Discarded;
            }
            self.need_key = false;
        }
        if self.queue.len() >= self.cfg.max_packets
            || self.bytes + p.payload.len() > self.cfg.max_bytes
        {
            self.overflows += 1;
            let dropped: Vec<u8> = self.queue.drain(..).map(|q| q.track).collect();
            for t in dropped {
                self.skip(t);
            }
            self.bytes = 0;
            if !p.is_key() {
                self.need_key = true;
                self.skip(p.track);
                return Pushed::Discarded;
            }
        }
        if self.queue.is_empty() {
            self.pending_since = Some(now);
        }
        let mut q = p.clone();
        if let Some(&s) = self.skipped.get(usize::from(p.track)) {
            q.seq = q.seq.wrapping_sub(s);
        }
        self.bytes += q.payload.len();
        self.queue.push_back(q);
        Pushed::Queued
    }

    /// Moves every waiting packet into `out` (which must be empty; its
    /// allocation is reused for the next packets).
    pub(crate) fn drain_into(&mut self, out: &mut VecDeque<Packet>) -> usize {
        debug_assert!(out.is_empty());
        std::mem::swap(&mut self.queue, out);
        self.bytes = 0;
        self.pending_since = None;
        let n = out.len();
        self.delivered += n as u64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::FLAG_KEY;
    use bytes::Bytes;

    fn pkt(seq: u16, key: bool) -> Packet {
        let mut p = Packet::new(0, seq, 0, false, Bytes::from_static(&[0; 100]));
        if key {
            p.flags |= FLAG_KEY;
        }
        p
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
        assert_eq!(q.push(&pkt(1, false), t), Pushed::Discarded);
        assert_eq!(q.push(&pkt(2, true), t), Pushed::Queued);
        assert_eq!(q.push(&pkt(3, false), t), Pushed::Queued);
        let mut out = VecDeque::new();
        q.drain_into(&mut out);
        // The skipped packet is taken out of the numbering.
        assert_eq!(out.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn overflow_skips_to_next_keyframe_with_continuous_seq() {
        let t = Instant::now();
        let mut q = ReaderQueue::new(cfg(), 1);
        q.push(&pkt(10, true), t);
        for s in 11..14 {
            q.push(&pkt(s, false), t);
        }
        // Full: the fifth packet overflows.
        assert_eq!(q.push(&pkt(14, false), t), Pushed::Discarded);
        assert_eq!(q.overflows, 1);
        assert_eq!(q.push(&pkt(15, false), t), Pushed::Discarded);
        assert_eq!(q.push(&pkt(16, true), t), Pushed::Queued);
        assert_eq!(q.discarded, 6);
        let mut out = VecDeque::new();
        q.drain_into(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].seq, 10);
    }

    #[test]
    fn stalled_reader_times_out() {
        let t = Instant::now();
        let mut q = ReaderQueue::new(cfg(), 1);
        q.push(&pkt(1, true), t);
        assert_eq!(
            q.push(&pkt(2, false), t + Duration::from_secs(4)),
            Pushed::Queued
        );
        assert_eq!(
            q.push(&pkt(3, false), t + Duration::from_secs(5)),
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
            assert_eq!(q.push(&pkt(s, s == 0), now), Pushed::Queued);
            out.clear();
            q.drain_into(&mut out);
        }
    }

    #[test]
    fn unwanted_tracks_are_ignored() {
        let t = Instant::now();
        let mut q = ReaderQueue::new(cfg(), 0b10);
        assert_eq!(q.push(&pkt(1, true), t), Pushed::Ignored);
        assert_eq!(q.discarded, 0);
    }
}
