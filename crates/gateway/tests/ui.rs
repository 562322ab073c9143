//! The operator web UI in a real browser: the demo gateway, Debian's
//! headless Chromium driven over WebDriver by chromedriver (a tiny std-only
//! HTTP client, no extra crates). The test walks the area tree from region
//! to village, sees the village camera go from idle to online once a real
//! RTSP client (ffprobe, then ffmpeg) plays it, opens the camera page, reads
//! the RTSP URL and saves screenshots under target/ui-screenshots/.
//!
//! Needs `chromium`, `chromium-driver` (Debian packages), `ffmpeg`; missing
//! ones fail the test. `XLGW_CHROMIUM` / `XLGW_CHROMEDRIVER` override the
//! paths.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The demo's village camera (on-demand) and region camera (always pulled).
const VILLAGE_CAM: &str = "45010200001320000001";
const VILLAGE_CAM_NAME: &str = "兴宁社区 东门";
const REGION_CAM: &str = "45000000001320000001";
/// region → city → county → township → village.
const WALK: [&str; 5] = ["45", "4501", "450102", "450102001", "450102001003"];

const W3C_ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn screenshot_dir() -> PathBuf {
    let d = root().join("target/ui-screenshots");
    std::fs::create_dir_all(&d).expect("create target/ui-screenshots");
    d.canonicalize().unwrap_or(d)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A program the test needs: fails (never skips) when it is missing.
fn need(env: &str, default: &str, version_flag: &str, package: &str) -> String {
    let prog = std::env::var(env).unwrap_or_else(|_| default.to_owned());
    let ok = Command::new(&prog)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{prog} {version_flag}` failed: the UI test needs it (Debian package `{package}`, \
         see scripts/install-deps.sh; or set {env})"
    );
    prog
}

// ---------------------------------------------------------------- processes

/// A child process killed when dropped, its output collected.
struct Proc {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let out = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let o = out.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(stream).lines().map_while(Result::ok) {
                    o.lock().unwrap().push(l);
                }
            });
        }
        Proc { child, out }
    }

    fn wait_line(&mut self, needle: &str, within: Duration) {
        let t = Instant::now();
        while t.elapsed() < within {
            if self.out.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("exited ({st}) before printing {needle:?}:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no {needle:?} within {within:?}:\n{}", self.text());
    }

    fn text(&self) -> String {
        let lines = self.out.lock().unwrap();
        let skip = lines.len().saturating_sub(40);
        lines[skip..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to its end within `within`; returns (success, output).
fn run(mut cmd: Command, within: Duration) -> (bool, String) {
    let mut p = Proc::spawn(std::mem::replace(&mut cmd, Command::new("true")));
    let t = Instant::now();
    loop {
        if let Some(st) = p.child.try_wait().expect("wait") {
            std::thread::sleep(Duration::from_millis(50)); // let the readers drain
            return (st.success(), p.text());
        }
        if t.elapsed() > within {
            return (false, format!("timed out after {within:?}\n{}", p.text()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------- HTTP

/// One HTTP/1.1 request (`Connection: close`); returns status and body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Vec<u8>), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(90)))
        .map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body.as_bytes()))
        .map_err(|e| format!("{method} {path}: {e}"))?;
    // Read by Content-Length or chunks: chromedriver keeps connections open.
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = r
            .read_line(&mut line)
            .map_err(|e| format!("{method} {path}: read: {e}"))?;
        if n == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: bad status line {head:?}"))?;
    let lower = head.to_ascii_lowercase();
    let header = |name: &str| {
        lower
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    let mut payload = Vec::new();
    let read_err = |e: std::io::Error| format!("{method} {path}: read body: {e}");
    if let Some(len) = header("content-length:").and_then(|v| v.parse::<usize>().ok()) {
        payload.resize(len, 0);
        r.read_exact(&mut payload).map_err(read_err)?;
    } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut line = String::new();
            r.read_line(&mut line).map_err(read_err)?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|e| format!("{method} {path}: bad chunk size {line:?}: {e}"))?;
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).map_err(read_err)?;
            if size == 0 {
                break;
            }
            payload.extend_from_slice(&chunk[..size]);
        }
    } else {
        r.read_to_end(&mut payload).map_err(read_err)?;
    }
    Ok((status, payload))
}

fn get_json(addr: &str, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path, None).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        status == 200,
        "GET {path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

// ---------------------------------------------------------------- WebDriver

/// Headless Chromium behind chromedriver, one WebDriver session.
struct Browser {
    addr: String,
    session: String,
    _driver: Proc,
    _profile: tempfile::TempDir,
    /// Screenshot written if the test panics while the session is open.
    on_failure: PathBuf,
}

impl Browser {
    fn start(chromium: &str, chromedriver: &str) -> Browser {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(chromedriver);
        cmd.arg(format!("--port={port}"));
        let driver = Proc::spawn(cmd);
        let t = Instant::now();
        loop {
            let ready = http(&addr, "GET", "/status", None)
                .ok()
                .and_then(|(_, b)| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|v| v["value"]["ready"] == json!(true));
            if ready {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "chromedriver not ready within 20 s:\n{}",
                driver.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1400,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let (status, body) = http(&addr, "POST", "/session", Some(&caps))
            .unwrap_or_else(|e| panic!("new session: {e}\n{}", driver.text()));
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| {
                panic!(
                    "chromedriver could not start {chromium} ({status}): {}\n{}",
                    String::from_utf8_lossy(&body),
                    driver.text()
                )
            })
            .to_owned();
        let b = Browser {
            addr,
            session,
            _driver: driver,
            _profile: profile,
            on_failure: screenshot_dir().join("walk-failure.png"),
        };
        // A roomy viewport for readable screenshots.
        b.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": 1400, "height": 1000})),
        )
        .unwrap_or_else(|e| panic!("window size: {e}"));
        b
    }

    /// One WebDriver command on the session; returns its `value`.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let full = format!("/session/{}{path}", self.session);
        let body = body.or_else(|| (method == "POST").then(|| json!({})));
        let (status, raw) = http(&self.addr, method, &full, body.as_ref())?;
        let v: Value = serde_json::from_slice(&raw)
            .map_err(|e| format!("{method} {path}: {status}, not JSON ({e})"))?;
        if status != 200 {
            return Err(format!(
                "{method} {path}: {status} {}: {}",
                v["value"]["error"],
                v["value"]["message"].as_str().unwrap_or_default()
            ));
        }
        Ok(v["value"].clone())
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    fn back(&self) {
        self.cmd("POST", "/back", None)
            .unwrap_or_else(|e| panic!("back: {e}"));
    }

    fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Text of the element with this `data-testid` (None: not in the page).
    fn text(&self, testid: &str) -> Option<String> {
        self.js(
            "const e = document.querySelector(`[data-testid=\"${arguments[0]}\"]`);\
             return e ? e.textContent.trim() : null;",
            json!([testid]),
        )
        .as_str()
        .map(str::to_owned)
    }

    /// Whether the element is in the page and rendered (not hidden).
    fn visible(&self, testid: &str) -> bool {
        self.js(
            "const e = document.querySelector(`[data-testid=\"${arguments[0]}\"]`);\
             return !!e && e.getClientRects().length > 0;",
            json!([testid]),
        ) == json!(true)
    }

    /// Clicks the element with this `data-testid` like a user: WebDriver
    /// scrolls it into view and fails if something else would get the click.
    fn click(&self, testid: &str) {
        let css = format!("[data-testid=\"{testid}\"]");
        let found = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        let id = found[W3C_ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("find {css}: {found}"));
        self.cmd("POST", &format!("/element/{id}/click"), None)
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Polls `f` until it gives Some; panics with `what` and the last
    /// observation after `within`.
    fn wait<T>(
        &self,
        what: &str,
        within: Duration,
        mut f: impl FnMut(&Browser) -> Result<T, String>,
    ) -> T {
        let t = Instant::now();
        loop {
            match f(self) {
                Ok(v) => return v,
                Err(last) if t.elapsed() > within => {
                    panic!("timed out after {within:?} waiting for {what}; last seen: {last}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(150)),
            }
        }
    }

    fn screenshot(&self, path: &Path) {
        let v = self
            .cmd("GET", "/screenshot", None)
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        let png = base64_decode(v.as_str().expect("base64 screenshot"));
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        println!("screenshot: {}", path.display());
    }

    /// The browser console since the last call (level, message).
    fn console(&self) -> Vec<(String, String)> {
        match self.cmd("POST", "/se/log", Some(json!({"type": "browser"}))) {
            Ok(Value::Array(entries)) => entries
                .iter()
                .map(|e| {
                    (
                        e["level"].as_str().unwrap_or_default().to_owned(),
                        e["message"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(Value::String(b64)) = self.cmd("GET", "/screenshot", None)
        {
            let _ = std::fs::write(&self.on_failure, base64_decode(&b64));
            eprintln!("failure screenshot: {}", self.on_failure.display());
        }
        let _ = self.cmd("DELETE", "", None);
    }
}

// ---------------------------------------------------------------- the walk

/// The status badge of a camera row, as (data-status, text).
fn row_status(b: &Browser, id: &str) -> Result<(String, String), String> {
    let v = b.js(
        "const r = document.querySelector(`[data-testid=\"camera-row-${arguments[0]}\"]`);\
         const s = r && r.querySelector('[data-testid=\"row-status\"]');\
         return s ? [s.dataset.status || '', s.textContent.trim()] : null;",
        json!([id]),
    );
    match v.as_array() {
        Some(a) => Ok((
            a[0].as_str().unwrap_or_default().to_owned(),
            a[1].as_str().unwrap_or_default().to_owned(),
        )),
        None => Err(format!("no row camera-row-{id}")),
    }
}

fn wait_row_status(b: &Browser, id: &str, want: &str, within: Duration) {
    b.wait(&format!("camera {id} shown {want:?}"), within, |b| {
        let (status, text) = row_status(b, id)?;
        if status == want && text.split_whitespace().next() == Some(want) {
            Ok(())
        } else {
            Err(format!("status {status:?}, badge text {text:?}"))
        }
    });
}

/// The area codes of the camera rows shown.
fn row_areas(b: &Browser) -> Vec<String> {
    let v = b.js(
        "return [...document.querySelectorAll('[data-testid^=\"camera-row-\"]')]\
         .map(r => r.querySelector('.area .sub').textContent.trim());",
        json!([]),
    );
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn operator_walks_region_to_village_and_sees_camera_status() {
    let chromium = need(
        "XLGW_CHROMIUM",
        "/usr/bin/chromium",
        "--version",
        "chromium",
    );
    let chromedriver = need(
        "XLGW_CHROMEDRIVER",
        "chromedriver",
        "--version",
        "chromium-driver",
    );
    let ffprobe = need("XLGW_FFPROBE", "ffprobe", "-version", "ffmpeg");
    let ffmpeg = need("XLGW_FFMPEG", "ffmpeg", "-version", "ffmpeg");

    // The demo gateway: five cameras at the five levels of Guangxi.
    let data = tempfile::tempdir().expect("data dir");
    let (rtsp, web) = (free_port(), free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xlgw"));
    cmd.arg("--rtsp-listen")
        .arg(format!("127.0.0.1:{rtsp}"))
        .arg("--http-listen")
        .arg(format!("127.0.0.1:{web}"))
        .arg("--data-dir")
        .arg(data.path());
    let mut gw = Proc::spawn(cmd);
    gw.wait_line("RTSP on", Duration::from_secs(30));
    let api = format!("127.0.0.1:{web}");
    let base = format!("http://{api}/");

    let t = Instant::now();
    while !matches!(http(&api, "GET", "/healthz", None), Ok((200, _))) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no /healthz on {api}:\n{}",
            gw.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The page and its assets come from the gateway itself.
    for (path, ctype) in [
        ("/", "text/html"),
        ("/ui/app.js", "javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let mut s = TcpStream::connect(&api).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut head = String::new();
        BufReader::new(s).read_to_string(&mut head).unwrap();
        let head = head
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            head.split_whitespace().nth(1) == Some("200"),
            "GET {path}: {head}"
        );
        assert!(
            head.lines()
                .any(|l| l.starts_with("content-type:") && l.contains(ctype)),
            "GET {path}: content type should be {ctype}: {head}"
        );
    }

    let b = Browser::start(&chromium, &chromedriver);
    b.goto(&base);
    b.wait(
        "the page and its stylesheet",
        Duration::from_secs(20),
        |b| {
            let bg = b.js(
                "return getComputedStyle(document.body).backgroundColor;",
                json!([]),
            );
            if bg == json!("rgb(11, 15, 20)") && b.visible("tree-node-45") {
                Ok(())
            } else {
                Err(format!(
                    "body background {bg}, tree-node-45 visible: {}",
                    b.visible("tree-node-45")
                ))
            }
        },
    );

    let names: Vec<String> = WALK.iter().map(|c| get_name(&api, c)).collect();
    // region → city → county → township → village, one click each.
    for (i, code) in WALK.iter().enumerate() {
        let node = format!("tree-node-{code}");
        b.wait(&format!("{node} shown"), Duration::from_secs(20), |b| {
            if b.visible(&node) {
                Ok(())
            } else {
                Err("not visible".into())
            }
        });
        b.click(&node);
        let name = &names[i];
        b.wait(
            &format!("area {code} {name} selected"),
            Duration::from_secs(20),
            |b| {
                let selected = b.js(
                    "const e = document.querySelector(`[data-testid=\"${arguments[0]}\"]`);\
                 return !!e && e.classList.contains('selected');",
                    json!([node]),
                );
                let title = b.text("area-title").unwrap_or_default();
                let crumbs = b.text("breadcrumb").unwrap_or_default();
                let hash = b.js("return location.hash;", json!([]));
                let ancestors_shown = names[..i].iter().all(|n| crumbs.contains(n.as_str()));
                if selected == json!(true)
                    && title == *name
                    && crumbs.ends_with(name.as_str())
                    && ancestors_shown
                    && hash == json!(format!("#/area/{code}"))
                {
                    Ok(())
                } else {
                    Err(format!(
                        "selected {selected}, title {title:?}, breadcrumb {crumbs:?}, hash {hash}"
                    ))
                }
            },
        );
        if let Some(next) = WALK.get(i + 1) {
            b.wait(
                &format!("child {next} listed under {code}"),
                Duration::from_secs(20),
                |b| {
                    if b.visible(&format!("tree-node-{next}")) {
                        Ok(())
                    } else {
                        Err("not visible".into())
                    }
                },
            );
        }
        // The tree shows online/total of the node's subtree, like the API.
        b.wait(&format!("counts of {code}"), Duration::from_secs(20), |b| {
            let c = &get_json(&api, &format!("/api/v1/areas/{code}"))["cameras"];
            let want = format!("{}/{}", c["online"], c["total"]);
            let shown = b.text(&format!("tree-count-{code}")).unwrap_or_default();
            if shown == want {
                Ok(())
            } else {
                Err(format!("shown {shown:?}, API {want:?}"))
            }
        });
        if *code == "45" {
            // The region camera is pulled all the time.
            wait_row_status(&b, REGION_CAM, "online", Duration::from_secs(30));
        }
        // The list holds the cameras of the selected subtree only.
        let code_s = code.to_string();
        b.wait(
            &format!("camera list of {code}"),
            Duration::from_secs(20),
            |b| {
                let areas = row_areas(b);
                let mine = row_status(b, VILLAGE_CAM).is_ok();
                if mine && !areas.is_empty() && areas.iter().all(|a| a.starts_with(&code_s)) {
                    Ok(())
                } else {
                    Err(format!(
                        "rows in areas {areas:?}, village camera shown: {mine}"
                    ))
                }
            },
        );
    }

    // At the village: the on-demand camera is idle until someone plays it.
    wait_row_status(&b, VILLAGE_CAM, "idle", Duration::from_secs(20));
    let url = format!("rtsp://127.0.0.1:{rtsp}/{VILLAGE_CAM}");
    let mut probe = Command::new(&ffprobe);
    probe.args([
        "-v",
        "error",
        "-rtsp_transport",
        "tcp",
        "-show_entries",
        "stream=codec_name",
        "-of",
        "csv=p=0",
        &url,
    ]);
    let (ok, out) = run(probe, Duration::from_secs(40));
    assert!(
        ok && out.contains("h264"),
        "ffprobe {url}: {out}\ngateway:\n{}",
        gw.text()
    );
    // A reader that stays, so the camera stays online while we look.
    let mut reader = Command::new(&ffmpeg);
    reader.args([
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-rtsp_transport",
        "tcp",
        "-i",
        &url,
        "-map",
        "0",
        "-c",
        "copy",
        "-f",
        "null",
        "-",
    ]);
    let _reader = Proc::spawn(reader);
    wait_row_status(&b, VILLAGE_CAM, "online", Duration::from_secs(20));
    b.wait(
        "village counts follow the camera",
        Duration::from_secs(20),
        |b| {
            let c = &get_json(&api, "/api/v1/areas/450102001003")["cameras"];
            let want = format!("{}/{}", c["online"], c["total"]);
            let shown = b.text("tree-count-450102001003").unwrap_or_default();
            if shown == want && c["online"].as_u64() >= Some(1) {
                Ok(())
            } else {
                Err(format!("shown {shown:?}, API {want:?}"))
            }
        },
    );
    // Status filter: Online keeps the camera, Idle drops it.
    b.click("filter-idle");
    b.wait(
        "idle filter hides the playing camera",
        Duration::from_secs(20),
        |b| {
            let hash = b.js("return location.hash;", json!([]));
            match row_status(b, VILLAGE_CAM) {
                Err(_) if hash == json!("#/area/450102001003?status=idle") => Ok(()),
                other => Err(format!("hash {hash}, row {other:?}")),
            }
        },
    );
    b.click("filter-online");
    wait_row_status(&b, VILLAGE_CAM, "online", Duration::from_secs(20));
    b.screenshot(&screenshot_dir().join("walk-list.png"));

    // The camera page: live state and the RTSP URL.
    b.click(&format!("camera-link-{VILLAGE_CAM}"));
    b.wait("camera page", Duration::from_secs(20), |b| {
        let hash = b.js("return location.hash;", json!([]));
        let name = b.text("camera-name").unwrap_or_default();
        let status = b.js(
            "return document.querySelector('[data-testid=\"camera-status\"]').dataset.status || '';",
            json!([]),
        );
        if b.visible("camera-view")
            && !b.visible("list-view")
            && hash == json!(format!("#/camera/{VILLAGE_CAM}"))
            && name == VILLAGE_CAM_NAME
            && status == json!("online")
            && b.text("camera-status").unwrap_or_default().starts_with("online")
        {
            Ok(())
        } else {
            Err(format!("hash {hash}, name {name:?}, status {status}"))
        }
    });
    let shown_url = b.text("rtsp-url").unwrap_or_default();
    assert_eq!(shown_url, url, "RTSP URL on the camera page");
    let cam = get_json(&api, &format!("/api/v1/cameras/{VILLAGE_CAM}"));
    assert_eq!(cam["rtsp_url"], json!(url), "the API's rtsp_url");
    b.wait(
        "live state of the playing camera",
        Duration::from_secs(20),
        |b| {
            let readers: u64 = b
                .text("cam-readers")
                .unwrap_or_default()
                .parse()
                .unwrap_or(0);
            let codec = b.text("cam-codec").unwrap_or_default();
            let crumbs = b.text("breadcrumb").unwrap_or_default();
            if readers >= 1
                && codec.to_ascii_lowercase().contains("264")
                && crumbs.ends_with(VILLAGE_CAM_NAME)
            {
                Ok(())
            } else {
                Err(format!(
                    "readers {readers}, codec {codec:?}, breadcrumb {crumbs:?}"
                ))
            }
        },
    );
    b.click("copy-url");
    // Copied to the clipboard, or (where the headless browser grants no
    // clipboard) the URL selected for Ctrl+C: either way the RTSP URL.
    b.wait("copy feedback", Duration::from_secs(10), |b| {
        let t = b.text("copy-status").unwrap_or_default();
        let url = b.text("rtsp-url").unwrap_or_default();
        let selected = b.js("return String(window.getSelection());", json!([]));
        let copied = t.starts_with("Copied");
        let selected_url = t.starts_with("Selected") && selected == json!(url);
        if url.starts_with("rtsp://") && (copied || selected_url) {
            Ok(())
        } else {
            Err(format!("status {t:?}, url {url:?}, selection {selected}"))
        }
    });
    b.screenshot(&screenshot_dir().join("walk.png"));

    // No script errors, no failed requests so far.
    let severe: Vec<_> = b
        .console()
        .into_iter()
        .filter(|(l, _)| l == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "browser console errors: {severe:?}");

    // Back returns to the filtered village list (hash routing).
    b.back();
    b.wait("back to the list", Duration::from_secs(20), |b| {
        let hash = b.js("return location.hash;", json!([]));
        if b.visible("list-view") && hash == json!("#/area/450102001003?status=online") {
            row_status(b, VILLAGE_CAM).map(|_| ())
        } else {
            Err(format!("hash {hash}"))
        }
    });

    // An API error is shown, not swallowed.
    b.goto(&format!("{base}#/camera/45010200001320009999"));
    b.wait(
        "error banner for an unknown camera",
        Duration::from_secs(20),
        |b| {
            let t = b.text("error-text").unwrap_or_default();
            if b.visible("error-banner") && t.contains("45010200001320009999") && t.contains("404")
            {
                Ok(())
            } else {
                Err(format!("banner {t:?}"))
            }
        },
    );
}

fn get_name(api: &str, code: &str) -> String {
    get_json(api, &format!("/api/v1/areas/{code}"))["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
