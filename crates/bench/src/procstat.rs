//! CPU time and memory of a process, and of the whole machine, from /proc.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("reading /proc/{pid}: {source}")]
    Io { pid: u32, source: std::io::Error },
    #[error("unexpected format of /proc/{pid}/{file}")]
    Format { pid: u32, file: &'static str },
}

/// One look at a process.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ProcSample {
    /// User + system CPU seconds of all its threads so far.
    pub cpu_s: f64,
    /// Resident set size in KiB.
    pub rss_kib: u64,
    pub threads: u64,
}

/// Clock ticks per second of /proc/PID/stat times.
fn clk_tck() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|&t| t > 0.0)
            .unwrap_or(100.0)
    })
}

pub fn sample(pid: u32) -> Result<ProcSample, ProcError> {
    let io = |source| ProcError::Io { pid, source };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(io)?;
    // Fields after the command name (which may hold spaces and parens).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or(ProcError::Format { pid, file: "stat" })?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15, threads 20.
    let num = |i: usize| -> Result<u64, ProcError> {
        f.get(i)
            .and_then(|s| s.parse().ok())
            .ok_or(ProcError::Format { pid, file: "stat" })
    };
    let ticks = num(11)? + num(12)?;
    let threads = num(17)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(io)?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(ProcSample {
        cpu_s: ticks as f64 / clk_tck(),
        rss_kib,
        threads,
    })
}

/// Busy and total jiffies of all CPUs (from /proc/stat).
#[derive(Debug, Clone, Copy, Default)]
pub struct SysSample {
    busy: u64,
    total: u64,
}

pub fn sys_sample() -> SysSample {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return SysSample::default();
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    SysSample {
        busy: total.saturating_sub(idle),
        total,
    }
}

impl SysSample {
    /// Share of all CPUs busy between `self` and a later sample, in percent
    /// of one CPU times the number of CPUs (200 % = both cores of two busy).
    pub fn busy_pct_since(&self, earlier: &SysSample) -> f64 {
        let t = self.total.saturating_sub(earlier.total);
        if t == 0 {
            return 0.0;
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        self.busy.saturating_sub(earlier.busy) as f64 / t as f64 * 100.0 * cpus
    }
}

/// The 1-minute load average.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_itself() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_kib > 0);
        assert!(s.threads >= 1);
        let a = sys_sample();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let b = sys_sample();
        assert!(b.busy_pct_since(&a) >= 0.0);
        assert!(sample(u32::MAX).is_err());
    }
}
