//! `suite`: runs each scenario against the gateway (`xlgw`), the peer and
//! the floor, each relay, camera and reader set in its own process, and
//! prints one table with the CPU ratios; writes the results as JSON and
//! markdown, and checks the floors of issue 5.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::readers::Summary;

/// Relay under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Xlgw,
    Peer,
    Floor,
    /// No relay: readers on the bench camera itself (the camera's own
    /// delay and cost; not in the default set).
    Direct,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Xlgw => "xlgw",
            Target::Peer => "peer",
            Target::Floor => "floor",
            Target::Direct => "direct",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct SuiteArgs {
    /// A few short scenarios (CI smoke test, under 3 minutes).
    #[arg(long)]
    quick: bool,
    /// Only these scenarios (comma-separated names; a trailing `*` matches
    /// a prefix, e.g. `fanout*`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Relays to run.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "xlgw,peer,floor"
    )]
    targets: Vec<Target>,
    /// Seconds of each measurement window (default 30, quick 8).
    #[arg(long)]
    window: Option<f64>,
    /// Seconds of warm-up after the ramp (default 5, quick 2).
    #[arg(long)]
    warmup: Option<f64>,
    /// Seconds of the churn scenario's window (default 60).
    #[arg(long)]
    churn_secs: Option<f64>,
    /// Readers started per second.
    #[arg(long, default_value_t = 200.0)]
    ramp: f64,
    /// Where results (JSON, markdown, logs) go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// The gateway binary (default: `xlgw` next to this binary).
    #[arg(long)]
    xlgw: Option<PathBuf>,
    /// The test-streams directory.
    #[arg(long)]
    streams_dir: Option<PathBuf>,
    /// A relay process (or camera) using more memory than this is killed
    /// and its run fails (default: a quarter of the machine's memory).
    #[arg(long)]
    rss_cap_mib: Option<u64>,
    /// Run the gateway with `/metrics` on (default) or off (`[metrics]
    /// enabled = false`), to measure what metrics cost the relay.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    xlgw_metrics: bool,
    /// While the readers run, fetch the gateway's `/metrics` every this many
    /// seconds (as Prometheus would, but more often).
    #[arg(long)]
    scrape_every: Option<f64>,
    /// A note stored with the results (e.g. what else ran on the machine).
    #[arg(long, default_value = "")]
    note: String,
}

/// One scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub clip: String,
    pub cameras: usize,
    pub readers: usize,
    pub udp: bool,
    /// Readers joining (and leaving) per second during the window.
    pub churn_rate: f64,
    pub churn_life_s: f64,
    pub window_s: f64,
    pub warmup_s: f64,
}

const CLIP_4M: &str = "h264-aac-1080p";
const CLIP_1M: &str = "h264-aac-720p";

fn scenarios(a: &SuiteArgs) -> Vec<Scenario> {
    let window = a.window.unwrap_or(if a.quick { 8.0 } else { 30.0 });
    let warmup = a.warmup.unwrap_or(if a.quick { 2.0 } else { 5.0 });
    let s = |name: String, clip: &str, cameras: usize, readers: usize, udp: bool| Scenario {
        name,
        clip: clip.into(),
        cameras,
        readers,
        udp,
        churn_rate: 0.0,
        churn_life_s: 0.0,
        window_s: window,
        warmup_s: warmup,
    };
    let mut v = Vec::new();
    if a.quick {
        v.push(s("fanout-1".into(), CLIP_4M, 1, 1, false));
        v.push(s("fanout-100".into(), CLIP_4M, 1, 100, false));
        v.push(s("ingest-10".into(), CLIP_1M, 10, 10, false));
    } else {
        for n in [1, 100, 500, 1000, 2000] {
            v.push(s(format!("fanout-{n}"), CLIP_4M, 1, n, false));
        }
        v.push(s("fanout-500-udp".into(), CLIP_4M, 1, 500, true));
        for n in [100, 500, 1000] {
            v.push(s(format!("ingest-{n}"), CLIP_1M, n, n, false));
        }
        let mut c = s("churn".into(), CLIP_4M, 1, 500, false);
        c.churn_rate = 100.0;
        c.churn_life_s = 3.0;
        c.window_s = a.churn_secs.unwrap_or(60.0);
        // Churn readers start with the warm-up: the window sees a steady
        // population.
        c.warmup_s = c.warmup_s.max(c.churn_life_s + 2.0);
        v.push(c);
    }
    if !a.only.is_empty() {
        v.retain(|s| {
            a.only.iter().any(|o| match o.strip_suffix('*') {
                Some(prefix) => s.name.starts_with(prefix),
                None => s.name == *o,
            })
        });
    }
    v
}

/// One scenario against one relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub scenario: Scenario,
    pub target: Target,
    pub summary: Option<Summary>,
    pub error: Option<String>,
    pub wall_s: f64,
}

/// What the suite writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub started_unix: u64,
    pub quick: bool,
    pub machine: Machine,
    pub note: String,
    pub runs: Vec<Run>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cpus: usize,
    pub mem_mib: u64,
    pub kernel: String,
    pub load1_before: f64,
    pub load1_after: f64,
    pub profile: String,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Machine {
        cpu: cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        mem_mib: meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |k| k / 1024),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        load1_before: crate::procstat::loadavg(),
        load1_after: 0.0,
        profile: if cfg!(debug_assertions) {
            "debug".into()
        } else {
            "release".into()
        },
    }
}

/// A child process, killed (by its pid) when dropped; stdout lines arrive
/// on a channel, stderr goes to a log file.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    name: String,
}

impl Proc {
    fn spawn(mut cmd: Command, name: &str, log: &Path) -> anyhow::Result<Proc> {
        let err =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        let out = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        Ok(Proc {
            child,
            lines: rx,
            name: name.to_owned(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Collects stdout lines starting with `prefix` until `n` arrived.
    fn wait_lines(
        &mut self,
        prefix: &str,
        n: usize,
        within: Duration,
    ) -> anyhow::Result<Vec<String>> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(l) => {
                    if let Some(rest) = l.strip_prefix(prefix) {
                        got.push(rest.trim().to_owned());
                    }
                }
                Err(_) => {
                    let status = self.child.try_wait().ok().flatten();
                    bail!(
                        "{}: {} of {n} `{prefix}` lines within {within:?} (exit status {status:?})",
                        self.name,
                        got.len()
                    );
                }
            }
        }
        Ok(got)
    }

    /// Waits for exit; all stdout lines. `check` runs about once a second
    /// and aborts the wait (killing this process) with its error.
    fn finish(
        mut self,
        within: Duration,
        mut check: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<String>> {
        let deadline = Instant::now() + within;
        let mut next_check = Instant::now();
        loop {
            if Instant::now() >= next_check {
                check()?;
                next_check += Duration::from_secs(1);
            }
            if let Some(st) = self.child.try_wait()? {
                let lines: Vec<String> = self.lines.try_iter().collect();
                // The reading thread may still hold the last lines.
                let mut lines = lines;
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    lines.push(l);
                }
                if !st.success() {
                    bail!("{} exited with {st}", self.name);
                }
                return Ok(lines);
            }
            if Instant::now() > deadline {
                bail!("{} did not finish within {within:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Ctx {
    rss_cap_mib: u64,
    exe: PathBuf,
    xlgw: PathBuf,
    streams: PathBuf,
    work: PathBuf,
    ramp: f64,
    xlgw_metrics: bool,
    scrape_every: Option<Duration>,
}

/// GB/T 28181 id of bench camera `i`: county 450102, type 132.
fn camera_id(i: usize) -> String {
    format!("45010200001320{:06}", i + 1)
}

fn xlgw_config(cam_urls: &[String], data_dir: &Path, metrics: bool) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "[server]\nrtsp_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nudp_rtp_port = 0\nmax_connections = 20000\n\n[metrics]\nenabled = {metrics}\n\n",
        data_dir.display()
    );
    for (i, u) in cam_urls.iter().enumerate() {
        let _ = write!(
            s,
            "[[cameras]]\nid = \"{}\"\nname = \"bench {i}\"\narea = \"450102\"\nurl = \"{u}\"\ntransport = \"tcp\"\nmode = \"always\"\n\n",
            camera_id(i)
        );
    }
    s
}

fn run_one(ctx: &Ctx, sc: &Scenario, target: Target) -> anyhow::Result<Summary> {
    let tag = format!("{}-{}", sc.name, target.name());
    let log = |what: &str| ctx.work.join(format!("{tag}-{what}.log"));
    let clip = ctx.streams.join(&sc.clip);
    let start_wait = Duration::from_secs(60 + sc.cameras as u64 / 10);
    let mut keep = Vec::new();
    let mut scraper: Option<Scraper> = None;
    let (urls, relay_pid) = match target {
        Target::Floor => {
            let mut cmd = Command::new(&ctx.exe);
            cmd.args(["floor", "--listen", "127.0.0.1:0", "--clip"])
                .arg(&clip)
                .args(["--streams", &sc.cameras.to_string()])
                .env("RUST_LOG", "info");
            if sc.udp {
                cmd.arg("--udp");
            }
            let mut p = Proc::spawn(cmd, "floor", &log("floor"))?;
            let ready = p.wait_lines("READY ", 1 + usize::from(sc.udp), start_wait)?;
            let url = if sc.udp {
                ready.iter().find(|u| u.starts_with("udp://"))
            } else {
                ready.iter().find(|u| u.starts_with("tcp://"))
            }
            .context("floor printed no URL")?
            .clone();
            let pid = p.pid();
            keep.push(p);
            (vec![url], pid)
        }
        Target::Xlgw | Target::Peer | Target::Direct => {
            let mut cmd = Command::new(&ctx.exe);
            cmd.args(["camera", "--listen", "127.0.0.1:0", "--clip"])
                .arg(&clip)
                .args(["--cameras", &sc.cameras.to_string()]);
            let mut cam = Proc::spawn(cmd, "camera", &log("camera"))?;
            let cams = cam.wait_lines("READY ", sc.cameras, start_wait)?;
            let cam_pid = cam.pid();
            keep.push(cam);
            if target == Target::Direct {
                (cams, cam_pid)
            } else if target == Target::Xlgw {
                anyhow::ensure!(
                    ctx.xlgw.exists(),
                    "gateway binary {} not found (build it with cargo build --release -p xlgw, or pass --xlgw)",
                    ctx.xlgw.display()
                );
                let data = ctx.work.join(format!("{tag}-data"));
                std::fs::create_dir_all(&data)?;
                let cfg = ctx.work.join(format!("{tag}.toml"));
                std::fs::write(&cfg, xlgw_config(&cams, &data, ctx.xlgw_metrics))?;
                let mut cmd = Command::new(&ctx.xlgw);
                cmd.arg("--config").arg(&cfg).env_remove("RUST_LOG");
                let mut gw = Proc::spawn(cmd, "xlgw", &log("xlgw"))?;
                let line = gw.wait_lines("xlgw ", 1, start_wait)?;
                let addr = line[0]
                    .split("RTSP on ")
                    .nth(1)
                    .and_then(|r| r.split(',').next())
                    .context("no `RTSP on ADDR` in the gateway's first line")?
                    .trim()
                    .to_owned();
                if let Some(every) = ctx.scrape_every {
                    let http = line[0]
                        .split("HTTP on ")
                        .nth(1)
                        .and_then(|r| r.split_whitespace().next())
                        .context("no `HTTP on ADDR` in the gateway's first line")?
                        .trim_end_matches(',')
                        .to_owned();
                    scraper = Some(Scraper::start(http, every, log("scrape")));
                }
                let urls = (0..sc.cameras)
                    .map(|i| format!("rtsp://{addr}/{}", camera_id(i)))
                    .collect();
                let pid = gw.pid();
                keep.push(gw);
                (urls, pid)
            } else {
                let ups = ctx.work.join(format!("{tag}-upstreams.txt"));
                let mut text = String::new();
                for (i, u) in cams.iter().enumerate() {
                    let _ = writeln!(text, "/{} {u}", crate::camera::mount_path(i));
                }
                std::fs::write(&ups, text)?;
                let mut cmd = Command::new(&ctx.exe);
                cmd.args(["peer", "--listen", "127.0.0.1:0", "--upstream-file"])
                    .arg(&ups)
                    .args([
                        "--codec",
                        if sc.clip.starts_with("h265") {
                            "h265"
                        } else {
                            "h264"
                        },
                    ]);
                let mut peer = Proc::spawn(cmd, "peer", &log("peer"))?;
                let urls = peer.wait_lines("READY ", sc.cameras, start_wait)?;
                let pid = peer.pid();
                keep.push(peer);
                (urls, pid)
            }
        }
    };
    let url_file = ctx.work.join(format!("{tag}-urls.txt"));
    std::fs::write(&url_file, urls.join("\n"))?;
    let mut cmd = Command::new(&ctx.exe);
    cmd.arg("readers")
        .arg("--url-file")
        .arg(&url_file)
        .args(["-n", &sc.readers.to_string()])
        .args(["--transport", if sc.udp { "udp" } else { "tcp" }])
        .args(["--ramp", &ctx.ramp.to_string()])
        .args(["--warmup", &sc.warmup_s.to_string()])
        .args(["--duration", &sc.window_s.to_string()])
        .args(["--watch-pid", &relay_pid.to_string()])
        .args([
            "--connect-timeout",
            &(60.0 + 0.3 * sc.cameras as f64).to_string(),
        ])
        .args(["--label", &tag])
        .arg("--json")
        .env("RUST_LOG", "info");
    if target == Target::Peer {
        // A DESCRIBE without PLAY leaves gst-rtsp-server with a prepared
        // shared media that buffers what nobody plays: probe by connecting.
        cmd.arg("--no-describe-probe");
    }
    if sc.churn_rate > 0.0 {
        cmd.args(["--churn", &sc.churn_rate.to_string()])
            .args(["--churn-life", &sc.churn_life_s.to_string()]);
    }
    let rd = Proc::spawn(cmd, "readers", &log("readers"))?;
    let budget = Duration::from_secs_f64(
        sc.readers as f64 / ctx.ramp
            + 2.0 * (60.0 + 0.3 * sc.cameras as f64)
            + sc.warmup_s
            + sc.window_s
            + 60.0,
    );
    let cap_kib = ctx.rss_cap_mib.saturating_mul(1024);
    let lines = rd.finish(budget, || {
        // A relay that balloons must not take the machine down with it.
        for p in keep.iter_mut() {
            if let Ok(s) = crate::procstat::sample(p.pid())
                && s.rss_kib > cap_kib
            {
                let _ = p.child.kill();
                bail!(
                    "{} grew past the RSS cap of {} MiB ({} MiB) and was killed",
                    p.name,
                    ctx.rss_cap_mib,
                    s.rss_kib / 1024
                );
            }
        }
        Ok(())
    })?;
    // The relay must still be alive: a crash would make the numbers meaningless.
    for p in &mut keep {
        if let Ok(Some(st)) = p.child.try_wait() {
            bail!("{} exited during the run with {st}", p.name);
        }
    }
    let json = lines
        .iter()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("readers printed no JSON summary")?;
    let s: Summary = serde_json::from_str(json).context("parsing the readers' summary")?;
    if let Some(sc) = scraper.take() {
        sc.stop()?;
    }
    drop(keep);
    Ok(s)
}

/// Fetches `/metrics` at a fixed interval on its own thread, with a plain
/// HTTP/1.1 request per scrape, and logs what each scrape cost.
struct Scraper {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<anyhow::Result<(u64, u64)>>,
    log: PathBuf,
}

impl Scraper {
    fn start(addr: String, every: Duration, log: PathBuf) -> Scraper {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut n, mut bytes) = (0u64, 0u64);
            let mut next = Instant::now();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if Instant::now() >= next {
                    next += every;
                    bytes += scrape_once(&addr)?;
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok((n, bytes))
        });
        Scraper { stop, thread, log }
    }

    fn stop(self) -> anyhow::Result<()> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (n, bytes) = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("scraper thread panicked"))??;
        std::fs::write(&self.log, format!("scrapes {n} bytes {bytes}\n"))?;
        anyhow::ensure!(n > 0, "no /metrics scrape completed");
        Ok(())
    }
}

/// One `GET /metrics` (uncompressed, like a plain scraper); the body size.
fn scrape_once(addr: &str) -> anyhow::Result<u64> {
    use std::io::{Read as _, Write as _};
    let mut s =
        std::net::TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    anyhow::ensure!(
        buf.starts_with(b"HTTP/1.1 200"),
        "/metrics did not answer 200"
    );
    Ok(buf.len() as u64)
}

/// One floor of issue 5, checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub what: String,
    /// `Some(true)` holds, `Some(false)` fails, `None` not measured.
    pub pass: Option<bool>,
    pub detail: String,
}

fn find<'a>(runs: &'a [Run], scenario: &str, t: Target) -> Option<&'a Summary> {
    runs.iter()
        .find(|r| r.scenario.name == scenario && r.target == t)
        .and_then(|r| r.summary.as_ref())
}

fn cpu_per_gb(s: &Summary) -> Option<f64> {
    s.relay
        .as_ref()
        .map(|r| r.cpu_s_per_gb)
        .filter(|v| *v > 0.0)
}

fn checks(runs: &[Run]) -> Vec<Check> {
    let mut c = Vec::new();
    let k = "fanout-1000";
    let x = find(runs, k, Target::Xlgw);
    c.push(Check {
        what: "1,000 TCP readers: no loss, every first frame within 1 s".into(),
        pass: x.map(|s| {
            s.readers_ok == s.readers
                && s.lost_packets_total == 0
                && s.lost_frames_total == 0
                && s.ended_early == 0
                && s.no_keyframe == 0
                && s.ttff.max_ms <= 1000.0
        }),
        detail: x.map_or("not run".into(), |s| {
            format!(
                "{} of {} readers, lost {} packets / {} frames, first frame max {:.0} ms",
                s.readers_ok, s.readers, s.lost_packets_total, s.lost_frames_total, s.ttff.max_ms
            )
        }),
    });
    let f = find(runs, k, Target::Floor);
    let ratio = x.and_then(cpu_per_gb).zip(f.and_then(cpu_per_gb));
    c.push(Check {
        what: "1,000 readers: gateway CPU per delivered GB within 1.5× the floor's".into(),
        pass: ratio.map(|(a, b)| a <= 1.5 * b),
        detail: ratio.map_or("not run".into(), |(a, b)| {
            format!("{a:.3} vs {b:.3} CPU-s/GB = {:.2}×", a / b)
        }),
    });
    let d = find(runs, "fanout-500", Target::Xlgw);
    c.push(Check {
        what: "500 readers: added delay p99 under 5 ms".into(),
        pass: d.map(|s| s.delay.count > 0 && s.delay.p99_ms < 5.0),
        detail: d.map_or("not run".into(), |s| {
            format!(
                "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                s.delay.p50_ms, s.delay.p99_ms, s.delay.max_ms
            )
        }),
    });
    let r = x.and_then(|s| s.relay.as_ref());
    c.push(Check {
        what: "RSS per reader under 64 KiB (1,000 readers)".into(),
        pass: r.map(|r| r.rss_per_reader_kib < 64.0),
        detail: r.map_or("not run".into(), |r| {
            format!(
                "{:.1} KiB per reader ({} → {} KiB)",
                r.rss_per_reader_kib, r.rss_base_kib, r.rss_end_kib
            )
        }),
    });
    let ch = find(runs, "churn", Target::Xlgw);
    let chr = ch.and_then(|s| s.relay.as_ref().map(|r| (s, r)));
    c.push(Check {
        what: "churn: no RSS growth".into(),
        pass: chr.map(|(s, r)| {
            let grown = r.rss_growth_kib_per_min * s.window_s / 60.0;
            grown < (r.rss_end_kib as f64 * 0.02).max(2048.0)
        }),
        detail: chr.map_or("not run".into(), |(s, r)| {
            format!(
                "{:+.0} KiB/min over {:.0} s (RSS {} → {} KiB, max {})",
                r.rss_growth_kib_per_min, s.window_s, r.rss_start_kib, r.rss_end_kib, r.rss_max_kib
            )
        }),
    });
    c
}

fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// The results table (markdown).
pub fn table(runs: &[Run]) -> String {
    let mut t = String::new();
    t.push_str("| scenario | relay | readers ok | Mbit/s | loss % | CPU-s/GB | CPU % | RSS MiB | RSS KiB/unit | 1st frame p50/max ms | delay p50/p99/max ms | ×floor | ×peer |\n");
    t.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in runs {
        let sc = &r.scenario;
        let Some(s) = &r.summary else {
            let _ = writeln!(
                t,
                "| {} | {} | failed: {} | | | | | | | | | | |",
                sc.name,
                r.target.name(),
                r.error.as_deref().unwrap_or("?").replace('|', "/")
            );
            continue;
        };
        let rel = s.relay.as_ref();
        let cpu_gb = cpu_per_gb(s);
        let ratio = |t: Target| {
            if r.target != Target::Xlgw {
                return String::new();
            }
            find(runs, &sc.name, t)
                .and_then(cpu_per_gb)
                .zip(cpu_gb)
                .map_or(String::new(), |(o, x)| format!("{:.2}", x / o))
        };
        let unit = if sc.name.starts_with("ingest") {
            rel.map_or(String::new(), |r| {
                format!("{:.0}/cam", r.rss_end_kib as f64 / sc.cameras.max(1) as f64)
            })
        } else {
            rel.map_or(String::new(), |r| format!("{:.1}", r.rss_per_reader_kib))
        };
        let _ = writeln!(
            t,
            "| {} | {} | {}/{} | {} | {:.3} | {} | {} | {} | {} | {:.0}/{:.0} | {:.2}/{:.2}/{:.1} | {} | {} |",
            sc.name,
            r.target.name(),
            s.readers_ok,
            s.readers,
            f1(s.mbit_s),
            s.loss_pct,
            cpu_gb.map_or("-".into(), |v| format!("{v:.3}")),
            rel.map_or("-".into(), |r| f1(r.cpu_pct)),
            rel.map_or("-".into(), |r| f1(r.rss_end_kib as f64 / 1024.0)),
            unit,
            s.ttff.p50_ms,
            s.ttff.max_ms,
            s.delay.p50_ms,
            s.delay.p99_ms,
            s.delay.max_ms,
            ratio(Target::Floor),
            ratio(Target::Peer),
        );
    }
    t
}

fn checks_text(c: &[Check]) -> String {
    let mut t = String::new();
    for x in c {
        let v = match x.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "n/a ",
        };
        let _ = writeln!(t, "- {v} {}: {}", x.what, x.detail);
    }
    t
}

fn default_streams_dir() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-streams");
    if built.is_dir() {
        built
    } else {
        PathBuf::from("test-streams")
    }
}

pub fn run(a: SuiteArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let xlgw = a.xlgw.clone().unwrap_or_else(|| exe.with_file_name("xlgw"));
    let streams = a.streams_dir.clone().unwrap_or_else(default_streams_dir);
    anyhow::ensure!(
        streams.join(CLIP_4M).is_dir(),
        "no clips in {} (pass --streams-dir)",
        streams.display()
    );
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let work = a.out.join(format!("run-{started_unix}"));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let m0 = machine();
    let ctx = Ctx {
        rss_cap_mib: a.rss_cap_mib.unwrap_or((m0.mem_mib / 4).max(1024)),
        exe,
        xlgw,
        streams,
        work: work.clone(),
        ramp: a.ramp,
        xlgw_metrics: a.xlgw_metrics,
        scrape_every: a.scrape_every.map(Duration::from_secs_f64),
    };
    let mut m = m0;
    let list = scenarios(&a);
    anyhow::ensure!(!list.is_empty(), "no scenario selected");
    let mut runs = Vec::new();
    for sc in &list {
        for &t in &a.targets {
            let t0 = Instant::now();
            eprintln!(
                "== {} against {} ({} camera(s), {} {} reader(s), {:.0} s window)",
                sc.name,
                t.name(),
                sc.cameras,
                sc.readers,
                if sc.udp { "UDP" } else { "TCP" },
                sc.window_s
            );
            let r = run_one(&ctx, sc, t);
            let run = match r {
                Ok(s) => {
                    crate::readers::print_text(&s);
                    Run {
                        scenario: sc.clone(),
                        target: t,
                        summary: Some(s),
                        error: None,
                        wall_s: t0.elapsed().as_secs_f64(),
                    }
                }
                Err(e) => {
                    eprintln!("   failed: {e:#}");
                    Run {
                        scenario: sc.clone(),
                        target: t,
                        summary: None,
                        error: Some(format!("{e:#}")),
                        wall_s: t0.elapsed().as_secs_f64(),
                    }
                }
            };
            runs.push(run);
            // Let sockets in TIME_WAIT and the machine settle between runs.
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    m.load1_after = crate::procstat::loadavg();
    let checks = checks(&runs);
    let res = Results {
        started_unix,
        quick: a.quick,
        machine: m,
        note: a.note.clone(),
        runs,
        checks,
    };
    let table = table(&res.runs);
    let checks_md = checks_text(&res.checks);
    println!("\n{table}\n{checks_md}");
    let json = serde_json::to_string_pretty(&res)?;
    let md = format!(
        "# xlgw-bench results\n\nMachine: {} × {}, {} MiB, Linux {}, {} build; load {:.2} before, {:.2} after.{}\n\n{table}\n{checks_md}",
        res.machine.cpus,
        res.machine.cpu,
        res.machine.mem_mib,
        res.machine.kernel,
        res.machine.profile,
        res.machine.load1_before,
        res.machine.load1_after,
        if res.note.is_empty() {
            String::new()
        } else {
            format!(" {}", res.note)
        }
    );
    for (name, text) in [
        (format!("results-{started_unix}.json"), &json),
        (format!("results-{started_unix}.md"), &md),
        ("latest.json".to_owned(), &json),
        ("latest.md".to_owned(), &md),
    ] {
        std::fs::write(a.out.join(&name), text)
            .with_context(|| format!("writing {}", a.out.join(&name).display()))?;
    }
    eprintln!(
        "results in {}",
        a.out.join(format!("results-{started_unix}.md")).display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_cameras_and_config_is_toml() {
        let id = camera_id(999);
        assert_eq!(id.len(), 20);
        assert_eq!(&id[10..13], "132");
        let c = xlgw_config(
            &["rtsp://127.0.0.1:1/cam0".into()],
            Path::new("/tmp/x"),
            false,
        );
        assert!(c.contains("id = \"45010200001320000001\""));
        assert!(c.contains("mode = \"always\""));
        assert!(c.contains("[metrics]\nenabled = false"));
    }
}
