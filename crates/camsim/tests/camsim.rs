//! End-to-end tests of the `xlgw-camsim` binary with real ffprobe/ffmpeg
//! clients. They fail (not skip) when ffmpeg/ffprobe are missing.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn clip_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-streams")
        .join(name)
}

/// A running camsim; killed when dropped.
struct Camsim {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// `rtsp://ADDR/PATH` per mount, from the READY lines.
    urls: Vec<String>,
}

impl Camsim {
    fn start(listen: &str, mounts: &[(&str, &str)], extra: &[&str]) -> Camsim {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xlgw-camsim"));
        cmd.arg("--listen").arg(listen);
        for (path, clip) in mounts {
            cmd.arg("--mount")
                .arg(format!("{path}={}", clip_dir(clip).display()));
        }
        cmd.args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start xlgw-camsim");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut cam = Camsim {
            child,
            lines,
            urls: Vec::new(),
        };
        while cam.urls.len() < mounts.len() {
            let line = cam.expect_line("READY", Duration::from_secs(30));
            let url = line
                .strip_prefix("READY ")
                .unwrap_or_else(|| panic!("bad READY line: {line}"));
            cam.urls.push(url.to_owned());
        }
        cam
    }

    /// Waits for the next stdout line starting with `prefix`.
    fn expect_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(e) => {
                    let status = self.child.try_wait();
                    panic!("no '{prefix}' line from camsim ({e}); process status {status:?}");
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        self.urls
            .iter()
            .find(|u| u.ends_with(path))
            .unwrap_or_else(|| panic!("no mount {path} in {:?}", self.urls))
            .clone()
    }

    /// `host:port` the camera listens on.
    fn addr(&self) -> String {
        let url = &self.urls[0];
        let rest = url.strip_prefix("rtsp://").expect("rtsp URL");
        rest.split('/').next().expect("authority").to_owned()
    }
}

impl Drop for Camsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command with a time limit; panics if it cannot start or hangs.
fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let program = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn ffprobe(url: &str, transport: &str) -> Output {
    run(
        Command::new("ffprobe").args([
            "-v",
            "error",
            "-rtsp_transport",
            transport,
            "-show_entries",
            "stream=codec_type,codec_name,width,height,sample_rate,channels",
            "-of",
            "json",
            url,
        ]),
        Duration::from_secs(30),
    )
}

/// (video codec, width, height, audio codec, audio rate) reported by ffprobe.
fn probe_streams(url: &str, transport: &str) -> (String, u64, u64, String, String) {
    let out = ffprobe(url, transport);
    assert!(
        out.status.success(),
        "ffprobe {transport} {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let streams = json["streams"].as_array().expect("streams array");
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video stream");
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("audio stream");
    (
        video["codec_name"].as_str().unwrap_or_default().to_owned(),
        video["width"].as_u64().unwrap_or_default(),
        video["height"].as_u64().unwrap_or_default(),
        audio["codec_name"].as_str().unwrap_or_default().to_owned(),
        audio["sample_rate"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Decodes `secs` seconds over TCP; returns the number of decoded video frames.
fn decode(url: &str, secs: u32) -> u64 {
    let out = run(
        Command::new("ffmpeg").args([
            "-hide_banner",
            "-nostdin",
            "-rtsp_transport",
            "tcp",
            "-i",
            url,
            "-t",
            &secs.to_string(),
            "-f",
            "null",
            "-",
        ]),
        Duration::from_secs(u64::from(secs) + 30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg {url} failed: {stderr}");
    last_frame_count(&stderr).unwrap_or_else(|| panic!("no frame= in ffmpeg output: {stderr}"))
}

/// The last `frame=  N` in ffmpeg's progress output.
fn last_frame_count(stderr: &str) -> Option<u64> {
    stderr
        .rmatch_indices("frame=")
        .filter_map(|(i, m)| {
            let digits: String = stderr[i + m.len()..]
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .next()
}

const MOUNTS: [(&str, &str); 2] = [("/h264", "h264-aac-720p"), ("/h265", "h265-pcma-720p")];

#[test]
fn ffprobe_sees_codecs_over_tcp_and_udp() {
    let cam = Camsim::start("127.0.0.1:0", &MOUNTS, &[]);
    for transport in ["tcp", "udp"] {
        let h264 = probe_streams(&cam.url("/h264"), transport);
        assert_eq!(
            h264,
            ("h264".into(), 1280, 720, "aac".into(), "48000".into()),
            "{transport}"
        );
        let h265 = probe_streams(&cam.url("/h265"), transport);
        assert_eq!(
            h265,
            ("hevc".into(), 1280, 720, "pcm_alaw".into(), "8000".into()),
            "{transport}"
        );
    }
}

#[test]
fn ffmpeg_decodes_in_real_time() {
    let cam = Camsim::start("127.0.0.1:0", &MOUNTS, &[]);
    for path in ["/h264", "/h265"] {
        let started = Instant::now();
        let frames = decode(&cam.url(path), 3);
        // 3 s at 25 fps; allow for a late first keyframe.
        assert!((50..=80).contains(&frames), "{path}: {frames} frames");
        // Real-time pacing: 3 s of media cannot arrive much faster than 3 s.
        assert!(
            started.elapsed() >= Duration::from_millis(2500),
            "{path} too fast"
        );
    }
}

#[test]
fn digest_authentication() {
    let cam = Camsim::start(
        "127.0.0.1:0",
        &MOUNTS[..1],
        &["--user", "u", "--password", "p"],
    );
    let url = cam.url("/h264");
    let plain = ffprobe(&url, "tcp");
    assert!(
        !plain.status.success(),
        "ffprobe without credentials succeeded"
    );
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(stderr.contains("401"), "expected 401, got: {stderr}");
    let wrong = ffprobe(&url.replacen("rtsp://", "rtsp://u:wrong@", 1), "tcp");
    assert!(
        !wrong.status.success(),
        "ffprobe with a wrong password succeeded"
    );
    let with_creds = url.replacen("rtsp://", "rtsp://u:p@", 1);
    for transport in ["tcp", "udp"] {
        let (vcodec, w, h, acodec, _) = probe_streams(&with_creds, transport);
        assert_eq!(
            (vcodec.as_str(), w, h, acodec.as_str()),
            ("h264", 1280, 720, "aac")
        );
    }
}

#[test]
fn restart_on_same_port_and_clean_sigterm() {
    let mut cam = Camsim::start("127.0.0.1:0", &MOUNTS[..1], &[]);
    let addr = cam.addr();
    // A client is connected and playing when the camera is killed.
    let mut client = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
        ])
        .arg(cam.url("/h264"))
        .args(["-t", "20", "-f", "null", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ffmpeg (is it installed?)");
    std::thread::sleep(Duration::from_secs(2));
    cam.child.kill().expect("kill camsim");
    cam.child.wait().expect("wait camsim");
    drop(cam);

    // The port is reusable at once.
    let mut cam = Camsim::start(&addr, &MOUNTS[..1], &[]);
    assert_eq!(cam.addr(), addr);
    let (vcodec, ..) = probe_streams(&cam.url("/h264"), "tcp");
    assert_eq!(vcodec, "h264");
    let _ = client.kill();
    let _ = client.wait();

    let pid = cam.child.id().to_string();
    let status = run(
        Command::new("kill").args(["-TERM", &pid]),
        Duration::from_secs(5),
    )
    .status;
    assert!(status.success(), "kill -TERM failed");
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = cam.child.try_wait().expect("wait camsim") {
            break s;
        }
        assert!(Instant::now() < deadline, "camsim ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "camsim exit status after SIGTERM: {exit}");
}

#[test]
fn flap_drops_clients_and_comes_back() {
    let mut cam = Camsim::start("127.0.0.1:0", &MOUNTS[..1], &["--flap", "4:2"]);
    let addr = cam.addr();
    let started = Instant::now();
    let mut client = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
        ])
        .arg(cam.url("/h264"))
        .args(["-t", "30", "-f", "null", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ffmpeg (is it installed?)");

    cam.expect_line("DOWN", Duration::from_secs(10));
    assert!(
        TcpStream::connect(&addr).is_err(),
        "camera still accepts connections while down"
    );
    // The playing client was disconnected: ffmpeg ends long before its 30 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.try_wait().expect("wait ffmpeg").is_none() {
        if Instant::now() > deadline {
            let _ = client.kill();
            let _ = client.wait();
            panic!("client was not disconnected by the flap");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(started.elapsed() < Duration::from_secs(20));

    cam.expect_line("UP", Duration::from_secs(10));
    let (vcodec, ..) = probe_streams(&cam.url("/h264"), "tcp");
    assert_eq!(vcodec, "h264");
}

#[test]
fn rejects_bad_arguments() {
    let bin = env!("CARGO_BIN_EXE_xlgw-camsim");
    let missing_clip = run(
        Command::new(bin).args(["--listen", "127.0.0.1:0", "--mount", "/x=/nonexistent/clip"]),
        Duration::from_secs(10),
    );
    assert!(!missing_clip.status.success());
    assert!(String::from_utf8_lossy(&missing_clip.stderr).contains("/nonexistent/clip"));
    let no_mount = run(
        Command::new(bin).args(["--listen", "127.0.0.1:0"]),
        Duration::from_secs(10),
    );
    assert!(!no_mount.status.success());
}
