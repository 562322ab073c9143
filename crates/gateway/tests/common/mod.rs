//! Shared pieces of the end-to-end tests: real processes (the gateway, the
//! GStreamer camera simulator), free ports, and a small RTSP reader that
//! checks what it receives.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use xlgw_relay::Codec;
use xlgw_rtsp::{FrameParser, InterleavedFrame};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn clip(name: &str) -> PathBuf {
    root().join("test-streams").join(name)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A child process killed when dropped, with its output lines collected.
pub struct Proc {
    pub child: Child,
    pub out: Arc<Mutex<Vec<String>>>,
    pub err: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let so = child.stdout.take().expect("stdout");
        let se = child.stderr.take().expect("stderr");
        let o = out.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(so).lines().map_while(Result::ok) {
                o.lock().unwrap().push(l);
            }
        });
        let e = err.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(se).lines().map_while(Result::ok) {
                e.lock().unwrap().push(l);
            }
        });
        Proc { child, out, err }
    }

    /// Waits until a stdout line contains `needle`.
    pub fn wait_stdout(&self, needle: &str, within: Duration) {
        let t = Instant::now();
        while t.elapsed() < within {
            if self.out.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no {needle:?} on stdout within {within:?}\nstdout: {:?}\nstderr: {:?}",
            self.out.lock().unwrap(),
            self.err
                .lock()
                .unwrap()
                .iter()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
        );
    }

    pub fn stderr_text(&self) -> String {
        self.err.lock().unwrap().join("\n")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The camera simulator binary (built by `cargo build --workspace --bins`,
/// or here on first use).
pub fn camsim_bin() -> PathBuf {
    if let Ok(p) = std::env::var("XLGW_CAMSIM") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("exe");
    // target/debug/deps/e2e-xxxx → target/debug/xlgw-camsim
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("xlgw-camsim");
    if !bin.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-p", "xlgw-camsim"])
            .current_dir(root())
            .status()
            .expect("cargo build camsim");
        assert!(st.success(), "building xlgw-camsim failed");
    }
    bin
}

/// Starts a camera simulator serving `mounts` (path, clip name).
pub fn camsim(port: u16, mounts: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(camsim_bin());
    cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
    for (path, clipname) in mounts {
        cmd.arg("--mount")
            .arg(format!("/{path}={}", clip(clipname).display()));
    }
    let p = Proc::spawn(cmd);
    p.wait_stdout("READY", Duration::from_secs(20));
    p
}

pub struct Gw {
    pub proc: Proc,
    pub rtsp: u16,
    pub http: u16,
    pub dir: tempfile::TempDir,
}

impl Gw {
    pub fn url(&self, id: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{id}", self.rtsp)
    }
}

/// Starts the gateway with `cameras` (TOML `[[cameras]]` blocks) and extra
/// top-level sections.
pub fn gateway(extra: &str, cameras: &str) -> Gw {
    gateway_in(tempfile::tempdir().expect("tempdir"), extra, cameras)
}

/// Like [`gateway`], in a given directory (its data dir persists across
/// restarts when the same directory is passed again).
pub fn gateway_in(dir: tempfile::TempDir, extra: &str, cameras: &str) -> Gw {
    let rtsp = free_port();
    let http = free_port();
    let udp = free_port();
    let cfg = format!(
        "[server]\nrtsp_listen = \"127.0.0.1:{rtsp}\"\nhttp_listen = \"127.0.0.1:{http}\"\ndata_dir = \"{}\"\nudp_rtp_port = 0\n{extra}\n{cameras}\n",
        dir.path().join("data").display()
    );
    let _ = udp;
    let path = dir.path().join("xlgw.toml");
    std::fs::write(&path, cfg).expect("write config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xlgw"));
    cmd.arg("--config").arg(&path);
    cmd.env("RUST_LOG", "info,xlgw_ingest=debug,xlgw_rtsp=debug");
    let proc = Proc::spawn(cmd);
    proc.wait_stdout("RTSP on", Duration::from_secs(20));
    Gw {
        proc,
        rtsp,
        http,
        dir,
    }
}

pub fn camera_toml(id: &str, url: &str, mode: &str, transport: &str) -> String {
    format!(
        "[[cameras]]\nid = \"{id}\"\nname = \"测试 {id}\"\narea = \"450102001003\"\nurl = \"{url}\"\nmode = \"{mode}\"\ntransport = \"{transport}\"\n"
    )
}

/// Runs a command with a timeout; returns (success, stdout, stderr).
pub fn run(cmd: &mut Command, timeout: Duration) -> (bool, String, String) {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            return (
                st.success(),
                String::from_utf8_lossy(&out.stdout).into(),
                String::from_utf8_lossy(&out.stderr).into(),
            );
        }
        if t.elapsed() > timeout {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            return (
                false,
                String::from_utf8_lossy(&out.stdout).into(),
                format!(
                    "TIMEOUT after {timeout:?}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An RTSP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}

/// What a reader saw on one track.
#[derive(Debug, Default, Clone)]
pub struct TrackLog {
    pub packets: u64,
    pub bytes: u64,
    pub gaps: u64,
    pub last_seq: Option<u16>,
    pub first_key: Option<bool>,
    pub first_at: Option<Instant>,
}

/// A minimal RTSP reader over TCP interleaved.
pub struct Reader {
    pub sock: TcpStream,
    buf: BytesMut,
    cseq: u32,
    pub session: Option<String>,
    pub url: String,
    pub tracks: Vec<TrackLog>,
    pub codecs: Vec<Codec>,
    pub played_at: Option<Instant>,
}

impl Reader {
    pub async fn connect(url: &str) -> std::io::Result<Reader> {
        let u = url::Url::parse(url).expect("url");
        let addr: SocketAddr = format!(
            "{}:{}",
            u.host_str().unwrap_or("127.0.0.1"),
            u.port().unwrap_or(554)
        )
        .parse()
        .expect("addr");
        let sock = TcpStream::connect(addr).await?;
        Ok(Reader {
            sock,
            buf: BytesMut::with_capacity(1 << 16),
            cseq: 0,
            session: None,
            url: url.to_owned(),
            tracks: Vec::new(),
            codecs: Vec::new(),
            played_at: None,
        })
    }

    pub fn from_stream(sock: TcpStream, url: &str) -> Reader {
        Reader {
            sock,
            buf: BytesMut::with_capacity(1 << 16),
            cseq: 0,
            session: None,
            url: url.to_owned(),
            tracks: Vec::new(),
            codecs: Vec::new(),
            played_at: None,
        }
    }

    pub async fn request(
        &mut self,
        method: &str,
        url: &str,
        extra: &[(&str, &str)],
    ) -> std::io::Result<Resp> {
        self.cseq += 1;
        let mut req = format!(
            "{method} {url} RTSP/1.0\r\nCSeq: {}\r\nUser-Agent: xlgw-test\r\n",
            self.cseq
        );
        if let Some(s) = &self.session {
            req.push_str(&format!("Session: {s}\r\n"));
        }
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.sock.write_all(req.as_bytes()).await?;
        loop {
            if let Some(r) = self.take_response()? {
                return Ok(r);
            }
            if self.sock.read_buf(&mut self.buf).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    fn take_response(&mut self) -> std::io::Result<Option<Resp>> {
        loop {
            let parsed =
                FrameParser::next(&self.buf).map_err(|_| std::io::Error::other("bad stream"))?;
            let Some((frame, n)) = parsed else {
                return Ok(None);
            };
            match frame {
                InterleavedFrame::Data(ch, pkt) => {
                    let pkt = pkt.to_vec();
                    self.buf.advance(n);
                    self.on_rtp(ch, &pkt);
                }
                InterleavedFrame::Rtsp(text) => {
                    let text = String::from_utf8_lossy(text).into_owned();
                    self.buf.advance(n);
                    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
                    let mut lines = head.split("\r\n");
                    let status = lines
                        .next()
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let headers = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                        .collect();
                    return Ok(Some(Resp {
                        status,
                        headers,
                        body: body.to_owned(),
                    }));
                }
            }
        }
    }

    /// DESCRIBE, SETUP every track (interleaved 2i/2i+1), PLAY.
    pub async fn play(&mut self) -> std::io::Result<Resp> {
        let url = self.url.clone();
        let d = self
            .request("DESCRIBE", &url, &[("Accept", "application/sdp")])
            .await?;
        if d.status != 200 {
            return Ok(d);
        }
        let mut n = 0;
        for l in d.body.lines() {
            if let Some(rest) = l.strip_prefix("a=rtpmap:") {
                let enc = rest
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .split('/')
                    .next()
                    .unwrap_or("");
                self.codecs.push(Codec::from_encoding(enc));
                n += 1;
            }
        }
        self.tracks = vec![TrackLog::default(); n];
        for i in 0..n {
            let t = format!("RTP/AVP/TCP;unicast;interleaved={}-{}", 2 * i, 2 * i + 1);
            let r = self
                .request("SETUP", &format!("{url}/trackID={i}"), &[("Transport", &t)])
                .await?;
            if r.status != 200 {
                return Ok(r);
            }
            if self.session.is_none() {
                self.session = r
                    .header("Session")
                    .map(|s| s.split(';').next().unwrap_or("").to_owned());
            }
        }
        let r = self
            .request("PLAY", &url, &[("Range", "npt=0.000-")])
            .await?;
        self.played_at = Some(Instant::now());
        Ok(r)
    }

    fn on_rtp(&mut self, ch: u8, pkt: &[u8]) {
        if ch % 2 == 1 || pkt.len() < 12 {
            return;
        }
        let Some(t) = self.tracks.get_mut(usize::from(ch / 2)) else {
            return;
        };
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        if let Some(l) = t.last_seq
            && seq != l.wrapping_add(1)
        {
            t.gaps += 1;
        }
        if t.first_key.is_none() {
            let codec = self
                .codecs
                .get(usize::from(ch / 2))
                .copied()
                .unwrap_or(Codec::Other);
            let cc = usize::from(pkt[0] & 0x0f);
            let payload = bytes::Bytes::copy_from_slice(pkt.get(12 + 4 * cc..).unwrap_or(&[]));
            t.first_key =
                Some(!codec.is_video() || xlgw_relay::codec::inspect(codec, &payload).key);
            t.first_at = Some(Instant::now());
        }
        t.last_seq = Some(seq);
        t.packets += 1;
        t.bytes += pkt.len() as u64;
    }

    /// Reads and accounts packets for `d`. Errors if the connection ends.
    pub async fn read_for(&mut self, d: Duration) -> std::io::Result<()> {
        let end = tokio::time::Instant::now() + d;
        loop {
            while let Some(r) = self.take_response()? {
                // A response arriving here is unexpected but harmless.
                let _ = r;
            }
            match tokio::time::timeout_at(end, self.sock.read_buf(&mut self.buf)).await {
                Err(_) => return Ok(()),
                Ok(Ok(0)) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
            }
        }
    }
}

/// An HTTP request with curl: (status, body).
pub fn http(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "20",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
        url,
    ]);
    let tmp = tempfile::NamedTempFile::new().expect("tmp");
    if let Some(b) = body {
        std::fs::write(tmp.path(), b).expect("write body");
        cmd.arg("--data-binary")
            .arg(format!("@{}", tmp.path().display()));
    }
    if let Some(ct) = content_type {
        cmd.args(["-H", &format!("Content-Type: {ct}")]);
    }
    let (ok, out, err) = run(&mut cmd, Duration::from_secs(30));
    assert!(ok, "curl {method} {url}: {err}");
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// GET `path` on a local HTTP port: (status, body).
pub fn get_path(port: u16, path: &str) -> (u16, String) {
    http("GET", &format!("http://127.0.0.1:{port}{path}"), None, None)
}

/// HTTP GET with curl; returns the body.
pub fn http_get(url: &str) -> String {
    let (ok, out, err) = run(
        Command::new("curl").args(["-sS", "--max-time", "10", url]),
        Duration::from_secs(15),
    );
    assert!(ok, "curl {url}: {err}");
    out
}

/// Starts a camera simulator with digest authentication.
pub fn camsim_auth(port: u16, mounts: &[(&str, &str)], user: &str, password: &str) -> Proc {
    let mut cmd = Command::new(camsim_bin());
    cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
    for (path, clipname) in mounts {
        cmd.arg("--mount")
            .arg(format!("/{path}={}", clip(clipname).display()));
    }
    cmd.args(["--user", user, "--password", password]);
    let p = Proc::spawn(cmd);
    p.wait_stdout("READY", Duration::from_secs(20));
    p
}

/// Established TCP connections to `port` on loopback, from `ss`.
pub fn connections_to(port: u16) -> usize {
    let out = Command::new("ss")
        .args([
            "-Htn",
            "state",
            "established",
            &format!("( dport = :{port} )"),
        ])
        .output()
        .expect("ss (iproute2) must be installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}
