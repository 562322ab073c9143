//! `xlgw-bench`: end-to-end benchmark of the gateway's relay against a peer
//! built with the standard toolkit and against the physical floor of the
//! machine, in one run.
//!
//! Modes (each its own process, so CPU and memory are attributable):
//! - `camera`: light RTSP camera(s) serving a committed clip in a loop at its
//!   real rate, every access unit stamped with its send time in an SEI NAL
//!   unit (so delay through any relay is measured without RTP numbers);
//! - `readers`: thousands of light RTSP readers (TCP interleaved or UDP) in
//!   one process: throughput, loss (RTP sequence and stamp frame gaps), time
//!   to first keyframe, added delay; samples the relay's CPU and RSS;
//! - `floor`: the same bytes written to as many loopback sockets with no
//!   protocol (one shared buffer per frame, one write per frame per socket);
//! - `peer`: a gst-rtsp-server relay (shared media, rtspsrc → depay → pay);
//! - `suite`: runs every scenario against the gateway (`xlgw`), the peer and
//!   the floor and prints one table with the ratios (`--quick` for CI).
//!
//! What it must not do: be used as a production component, talk to anything
//! but loopback processes it started or was pointed at, or judge timing in
//! the quick CI mode (it checks completion and sanity only). It never
//! unwraps on network input; malformed input ends that reader with an error
//! that is counted.

mod camera;
mod client;
mod floor;
mod hist;
mod peer;
mod procstat;
mod readers;
mod rtp;
mod sei;
mod suite;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use xlgw_clip::VideoCodec;

/// End-to-end benchmark of the Xueliang Gateway relay.
#[derive(Debug, Parser)]
#[command(name = "xlgw-bench", version)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CodecArg {
    H264,
    H265,
}

impl From<CodecArg> for VideoCodec {
    fn from(c: CodecArg) -> VideoCodec {
        match c {
            CodecArg::H264 => VideoCodec::H264,
            CodecArg::H265 => VideoCodec::H265,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Serve a clip in a loop at its real rate with SEI send-time stamps.
    /// Prints `READY rtsp://ADDR/camN` per mount.
    Camera {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Clip directory (test-streams layout).
        #[arg(long)]
        clip: PathBuf,
        /// Number of mounts (/cam0, /cam1, ...), each its own camera.
        #[arg(long, default_value_t = 1)]
        cameras: usize,
        /// Keep the clip's audio track (default: video only).
        #[arg(long)]
        audio: bool,
        /// Tokio worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Many light readers; prints a summary (JSON with --json).
    Readers {
        /// Stream URL: rtsp://..., or tcp://ADDR / udp://ADDR of a floor.
        /// Reader i reads URL i mod (number of URLs).
        #[arg(long = "url")]
        urls: Vec<String>,
        /// File with one URL per line (added to --url).
        #[arg(long)]
        url_file: Option<PathBuf>,
        /// Number of readers.
        #[arg(short = 'n', long, default_value_t = 1)]
        readers: usize,
        /// RTSP lower transport.
        #[arg(long, value_enum, default_value = "tcp")]
        transport: readers::Transport,
        /// Codec of tcp:// / udp:// floor streams.
        #[arg(long, value_enum, default_value = "h264")]
        codec: CodecArg,
        /// Readers started per second.
        #[arg(long, default_value_t = 200.0)]
        ramp: f64,
        /// Seconds between the last reader starting and the window.
        #[arg(long, default_value_t = 5.0)]
        warmup: f64,
        /// Seconds of the measurement window.
        #[arg(long, default_value_t = 30.0)]
        duration: f64,
        /// Extra readers joining per second during the window (each leaves
        /// after --churn-life seconds).
        #[arg(long, default_value_t = 0.0)]
        churn: f64,
        #[arg(long, default_value_t = 3.0)]
        churn_life: f64,
        /// Relay process to sample for CPU and RSS.
        #[arg(long)]
        watch_pid: Option<u32>,
        /// Seconds a reader keeps trying to start (and the streams to answer).
        #[arg(long, default_value_t = 30.0)]
        connect_timeout: f64,
        /// Before starting, only check that the server accepts connections
        /// (default: every URL must answer DESCRIBE).
        #[arg(long)]
        no_describe_probe: bool,
        #[arg(long, default_value = "readers")]
        label: String,
        /// Print the summary as one JSON line.
        #[arg(long)]
        json: bool,
        /// Tokio worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// The physical floor: the clip's bytes to every connected socket.
    /// Prints `READY tcp://ADDR` (and `READY udp://ADDR` with --udp).
    Floor {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long)]
        clip: PathBuf,
        /// Independent streams; connection k gets stream k mod streams.
        #[arg(long, default_value_t = 1)]
        streams: usize,
        /// Also serve UDP readers.
        #[arg(long)]
        udp: bool,
    },
    /// A gst-rtsp-server relay of upstream cameras (shared media).
    /// Prints `READY rtsp://ADDR/PATH` per mount.
    Peer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// `/PATH=rtsp://...` (repeatable).
        #[arg(long = "upstream")]
        upstreams: Vec<String>,
        /// File with one `/PATH URL` per line.
        #[arg(long)]
        upstream_file: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "h264")]
        codec: CodecArg,
        /// gst-rtsp-server client threads (its default: 1).
        #[arg(long)]
        client_threads: Option<i32>,
        /// Own launch line, `{url}` standing for the upstream URL.
        #[arg(long)]
        launch: Option<String>,
    },
    /// Every scenario against xlgw, the peer and the floor; one table.
    Suite(suite::SuiteArgs),
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

fn runtime(threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        b.worker_threads(n.max(1));
    }
    b.enable_all().build().context("starting the runtime")
}

fn secs(v: f64, what: &str) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        v.is_finite() && (0.0..=86_400.0).contains(&v),
        "{what} must be between 0 and 86400 seconds"
    );
    Ok(Duration::from_secs_f64(v))
}

fn read_lines(p: &PathBuf) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.mode {
        Mode::Camera {
            listen,
            clip,
            cameras,
            audio,
            threads,
        } => runtime(threads)?.block_on(camera::run(camera::CameraOpts {
            listen,
            clip,
            cameras,
            audio,
        })),
        Mode::Readers {
            mut urls,
            url_file,
            readers,
            transport,
            codec,
            ramp,
            warmup,
            duration,
            churn,
            churn_life,
            watch_pid,
            connect_timeout,
            no_describe_probe,
            label,
            json,
            threads,
        } => {
            if let Some(f) = &url_file {
                urls.extend(read_lines(f)?);
            }
            let o = readers::ReadersOpts {
                urls,
                readers,
                transport,
                raw_codec: codec.into(),
                ramp,
                warmup: secs(warmup, "--warmup")?,
                duration: secs(duration, "--duration")?,
                churn_rate: churn,
                churn_life: secs(churn_life, "--churn-life")?,
                watch_pid,
                connect_timeout: secs(connect_timeout, "--connect-timeout")?,
                probe_describe: !no_describe_probe,
                label,
            };
            let s = runtime(threads)?.block_on(readers::run(o))?;
            if json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                readers::print_text(&s);
            }
            Ok(())
        }
        Mode::Floor {
            listen,
            clip,
            streams,
            udp,
        } => floor::run(floor::FloorOpts {
            listen,
            clip,
            streams,
            udp,
        }),
        Mode::Peer {
            listen,
            upstreams,
            upstream_file,
            codec,
            client_threads,
            launch,
        } => {
            let mut ups = Vec::new();
            for u in &upstreams {
                let (p, url) = u
                    .split_once('=')
                    .with_context(|| format!("--upstream {u}: expected /PATH=URL"))?;
                ups.push((p.to_owned(), url.to_owned()));
            }
            if let Some(f) = &upstream_file {
                for l in read_lines(f)? {
                    let (p, url) = l
                        .split_once(char::is_whitespace)
                        .with_context(|| format!("{}: expected `/PATH URL`", f.display()))?;
                    ups.push((p.to_owned(), url.trim().to_owned()));
                }
            }
            anyhow::ensure!(!ups.is_empty(), "no upstream given");
            peer::run(peer::PeerOpts {
                listen,
                upstreams: ups,
                codec: codec.into(),
                client_threads,
                launch,
            })
        }
        Mode::Suite(a) => suite::run(a),
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xlgw-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
