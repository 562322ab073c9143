//! Per-camera counters, updated with relaxed atomic adds on the packet path
//! and read by the metrics scrape.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Health counters of one camera's ingest. Totals over the camera's life
/// (all sessions).
#[derive(Debug)]
pub struct IngestStats {
    /// RTP packets received.
    pub packets: AtomicU64,
    /// RTP payload bytes received.
    pub bytes: AtomicU64,
    /// Packets missing from the RTP sequence numbers (all tracks).
    pub lost: AtomicU64,
    /// Reconnect attempts (each attempt after a failed or lost session).
    pub reconnects: AtomicU64,
    /// RFC 3550 interarrival jitter of the video track, seconds, as `f64`
    /// bits (0 until measured).
    jitter_bits: AtomicU64,
    /// Microseconds after `base` of the last packet, plus one (0: never).
    last_packet_us: AtomicU64,
    base_wall: SystemTime,
    base: tokio::time::Instant,
}

impl IngestStats {
    pub(crate) fn new() -> IngestStats {
        IngestStats {
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            jitter_bits: AtomicU64::new(0f64.to_bits()),
            last_packet_us: AtomicU64::new(0),
            base_wall: SystemTime::now(),
            base: tokio::time::Instant::now(),
        }
    }

    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Interarrival jitter of the video track in seconds.
    pub fn jitter_seconds(&self) -> f64 {
        f64::from_bits(self.jitter_bits.load(Ordering::Relaxed))
    }

    /// Wall-clock time of the last packet, if any came.
    pub fn last_packet(&self) -> Option<SystemTime> {
        match self.last_packet_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(self.base_wall + Duration::from_micros(us - 1)),
        }
    }

    /// Time since the last packet, on the runtime's clock.
    pub fn since_last_packet(&self) -> Option<Duration> {
        match self.last_packet_us.load(Ordering::Relaxed) {
            0 => None,
            us => {
                let at = self.base + Duration::from_micros(us - 1);
                Some(tokio::time::Instant::now().saturating_duration_since(at))
            }
        }
    }

    pub(crate) fn on_packet(&self, bytes: usize, now: tokio::time::Instant) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let us = now.saturating_duration_since(self.base).as_micros() as u64;
        self.last_packet_us.store(us + 1, Ordering::Relaxed);
    }

    pub(crate) fn set_jitter(&self, seconds: f64) {
        self.jitter_bits.store(seconds.to_bits(), Ordering::Relaxed);
    }
}

/// Sequence gaps and jitter within one session, kept by the supervisor
/// task (not shared).
#[derive(Debug)]
pub(crate) struct SessionMeter {
    next_seq: Vec<Option<u16>>,
    video: Option<(usize, u32)>,
    /// Previous transit time of the video track, in clock units.
    transit: Option<f64>,
    jitter: f64,
    start: tokio::time::Instant,
}

impl SessionMeter {
    /// `video`: index and clock rate of the track to measure jitter on.
    pub fn new(tracks: usize, video: Option<(usize, u32)>, start: tokio::time::Instant) -> Self {
        SessionMeter {
            next_seq: vec![None; tracks],
            video,
            transit: None,
            jitter: 0.0,
            start,
        }
    }

    /// Counts a packet; returns how many packets were lost before it.
    pub fn seq(&mut self, track: usize, seq: u16) -> u64 {
        let Some(slot) = self.next_seq.get_mut(track) else {
            return 0;
        };
        let Some(expected) = *slot else {
            *slot = Some(seq.wrapping_add(1));
            return 0;
        };
        // As RFC 3550 A.1: a modest step forward skipped lost packets; a
        // packet a little behind is late or duplicate (the expectation
        // stays); any bigger jump is the sender renumbering, followed from
        // here without counting loss.
        const MAX_DROPOUT: u16 = 3000;
        const MAX_MISORDER: u16 = 100;
        let ahead = seq.wrapping_sub(expected);
        if ahead < MAX_DROPOUT {
            *slot = Some(seq.wrapping_add(1));
            return u64::from(ahead);
        }
        if expected.wrapping_sub(seq) > MAX_MISORDER {
            *slot = Some(seq.wrapping_add(1));
        }
        0
    }

    /// Updates the jitter estimate (RFC 3550 §6.4.1, A.8) with a packet of
    /// `track` stamped `ts` that arrived at `now`; returns it in seconds.
    pub fn jitter(&mut self, track: usize, ts: u32, now: tokio::time::Instant) -> Option<f64> {
        let (v, rate) = self.video?;
        if v != track || rate == 0 {
            return None;
        }
        let arrival = now.saturating_duration_since(self.start).as_secs_f64() * f64::from(rate);
        let transit = arrival - f64::from(ts);
        if let Some(prev) = self.transit {
            let mut d = transit - prev;
            // RTP timestamps wrap at 2^32.
            let wrap = 4_294_967_296.0;
            if d > wrap / 2.0 {
                d -= wrap;
            } else if d < -wrap / 2.0 {
                d += wrap;
            }
            self.jitter += (d.abs() - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
        Some(self.jitter / f64::from(rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_gaps() {
        let t = tokio::time::Instant::now();
        let mut m = SessionMeter::new(2, None, t);
        assert_eq!(m.seq(0, 65534), 0);
        assert_eq!(m.seq(0, 65535), 0);
        assert_eq!(m.seq(0, 0), 0);
        assert_eq!(m.seq(0, 3), 2);
        // Late duplicate: no loss, expectation kept.
        assert_eq!(m.seq(0, 2), 0);
        assert_eq!(m.seq(0, 4), 0);
        // Renumbering far back is followed.
        assert_eq!(m.seq(0, 30000), 0);
        assert_eq!(m.seq(0, 30002), 1);
        assert_eq!(m.seq(0, 7), 0);
        assert_eq!(m.seq(0, 8), 0);
        assert_eq!(m.seq(1, 100), 0);
        assert_eq!(m.seq(5, 1), 0);
    }

    #[test]
    fn jitter_is_zero_for_perfect_pacing_and_grows_with_variation() {
        let t = tokio::time::Instant::now();
        let mut m = SessionMeter::new(1, Some((0, 90_000)), t);
        for i in 0..50u32 {
            let now = t + Duration::from_millis(40 * u64::from(i));
            m.jitter(0, 1000 + i * 3600, now);
        }
        assert!(
            m.jitter(0, 1000 + 50 * 3600, t + Duration::from_millis(2000))
                .unwrap()
                < 1e-6
        );
        let mut m = SessionMeter::new(1, Some((0, 90_000)), t);
        let mut j = 0.0;
        for i in 0..200u32 {
            let wobble = if i % 2 == 0 { 0 } else { 10 };
            let now = t + Duration::from_millis(40 * u64::from(i) + wobble);
            j = m.jitter(0, i * 3600, now).unwrap();
        }
        // Alternating 10 ms late: |D| = 10 ms each packet, J converges to it.
        assert!((j - 0.010).abs() < 0.001, "{j}");
        assert!(m.jitter(1, 0, t).is_none());
    }
}
