//! Keeps each track's RTP sequence numbers and timestamps continuous across
//! upstream reconnects, so readers never need a new SETUP.
//!
//! Within one upstream connection (an epoch) numbers pass through with a
//! fixed offset, so real upstream gaps stay visible to readers. When a new
//! epoch begins, the offsets are chosen so the first new packet follows the
//! last old one: sequence number +1, timestamp advanced by the wall time
//! that passed (at the track's clock rate).

use std::time::Instant;

#[derive(Debug, Clone)]
pub(crate) struct TrackRewriter {
    clock_rate: u32,
    seq_offset: u16,
    ts_offset: u32,
    last: Option<(u16, u32, Instant)>,
    reanchor: bool,
}

impl TrackRewriter {
    pub(crate) fn new(clock_rate: u32) -> TrackRewriter {
        TrackRewriter {
            clock_rate: clock_rate.max(1),
            seq_offset: 0,
            ts_offset: 0,
            last: None,
            reanchor: true,
        }
    }

    /// The next packet starts a new upstream connection.
    pub(crate) fn new_epoch(&mut self, clock_rate: u32) {
        self.clock_rate = clock_rate.max(1);
        self.reanchor = true;
    }

    /// Maps an upstream (seq, timestamp) to the one readers see.
    pub(crate) fn rewrite(&mut self, seq: u16, ts: u32, now: Instant) -> (u16, u32) {
        if self.reanchor {
            self.reanchor = false;
            if let Some((lseq, lts, lat)) = self.last {
                let elapsed = now.saturating_duration_since(lat);
                let ticks = (elapsed.as_secs_f64() * f64::from(self.clock_rate)).round();
                // At least one tick so timestamps never go backwards; at most
                // about a day so the arithmetic stays well inside u32.
                let ticks = ticks.clamp(1.0, f64::from(self.clock_rate) * 86_400.0) as u64;
                let new_ts = lts.wrapping_add(ticks as u32);
                self.ts_offset = new_ts.wrapping_sub(ts);
                self.seq_offset = lseq.wrapping_add(1).wrapping_sub(seq);
            }
        }
        let out = (
            seq.wrapping_add(self.seq_offset),
            ts.wrapping_add(self.ts_offset),
        );
        self.last = Some((out.0, out.1, now));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn passes_through_then_continues_after_reconnect() {
        let t0 = Instant::now();
        let mut r = TrackRewriter::new(90_000);
        assert_eq!(r.rewrite(100, 5000, t0), (100, 5000));
        assert_eq!(r.rewrite(101, 8600, t0), (101, 8600));
        // An upstream gap stays a gap.
        assert_eq!(r.rewrite(103, 12200, t0), (103, 12200));
        // Reconnect one second later with new random numbers.
        r.new_epoch(90_000);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(r.rewrite(40_000, 77, t1), (104, 12200 + 90_000));
        assert_eq!(r.rewrite(40_001, 77 + 3600, t1), (105, 12200 + 93_600));
    }

    #[test]
    fn wraps_around() {
        let t0 = Instant::now();
        let mut r = TrackRewriter::new(8000);
        assert_eq!(r.rewrite(65535, u32::MAX, t0), (65535, u32::MAX));
        r.new_epoch(8000);
        assert_eq!(r.rewrite(7, 7, t0), (0, 0));
    }
}
