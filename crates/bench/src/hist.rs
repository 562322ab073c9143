//! A small log-linear histogram of microsecond values: exact below 128 µs,
//! then 64 buckets per power of two (under 1.6 % error), max kept exactly.

use serde::{Deserialize, Serialize};

const SUB: u64 = 64;

/// Counts of values in microseconds.
#[derive(Debug, Clone, Default)]
pub struct Hist {
    counts: Vec<u64>,
    n: u64,
    max: u64,
    sum: u128,
}

fn index(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let p = 63 - u64::from(v.leading_zeros());
    let shift = p - 6;
    (shift * SUB + (v >> shift)) as usize
}

/// Midpoint of bucket `i`.
fn value(i: usize) -> u64 {
    let i = i as u64;
    if i < 2 * SUB {
        return i;
    }
    let shift = i / SUB - 1;
    let sub = i % SUB + SUB;
    (sub << shift) + ((1u64 << shift) >> 1)
}

/// Quantiles of a distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Quantiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Hist {
    pub fn record(&mut self, us: u64) {
        let i = index(us);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.n += 1;
        self.max = self.max.max(us);
        self.sum += u128::from(us);
    }

    pub fn merge(&mut self, o: &Hist) {
        if o.counts.len() > self.counts.len() {
            self.counts.resize(o.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
        self.max = self.max.max(o.max);
        self.sum += o.sum;
    }

    /// The value at quantile `q` (0..=1), in microseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return value(i).min(self.max);
            }
        }
        self.max
    }

    pub fn quantiles(&self) -> Quantiles {
        let ms = |us: u64| us as f64 / 1000.0;
        Quantiles {
            count: self.n,
            p50_ms: ms(self.quantile(0.5)),
            p99_ms: ms(self.quantile(0.99)),
            max_ms: ms(self.max),
            mean_ms: if self.n == 0 {
                0.0
            } else {
                self.sum as f64 / self.n as f64 / 1000.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_close() {
        let mut last = 0;
        for v in (0..2_000_000u64).step_by(37) {
            let i = index(v);
            assert!(i >= last);
            last = i;
            let m = value(i);
            let err = m.abs_diff(v) as f64 / v.max(1) as f64;
            assert!(err <= 0.016, "{v} -> {m}");
        }
        assert!(index(u64::MAX) < 4096);
    }

    #[test]
    fn quantiles() {
        let mut h = Hist::default();
        for v in 1..=1000 {
            h.record(v);
        }
        let mut h2 = Hist::default();
        h2.record(1_000_000);
        h.merge(&h2);
        assert_eq!(h.quantiles().count, 1001);
        let q = h.quantiles();
        assert!((q.p50_ms - 0.5).abs() < 0.01, "{q:?}");
        assert!((q.p99_ms - 0.99).abs() < 0.02, "{q:?}");
        assert_eq!(q.max_ms, 1000.0);
        assert_eq!(Hist::default().quantiles().count, 0);
    }
}
