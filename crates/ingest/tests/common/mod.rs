//! A scripted RTSP server for tests: replays recorded camera replies
//! (DESCRIBE, SETUP, PLAY) on 127.0.0.1 and then sends RTP packets
//! interleaved on the TCP connection.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the server answers.
#[derive(Clone, Default)]
pub struct Script {
    /// The full DESCRIBE reply as recorded (status line, headers, body).
    pub describe: Vec<u8>,
    /// Recorded SETUP replies, in SETUP order; later SETUPs get a generic
    /// reply with the first one's session id.
    pub setups: Vec<Vec<u8>>,
    /// Answer every DESCRIBE with 401 and a digest challenge.
    pub reject_auth: bool,
    /// RTP packets sent per track after PLAY (every 20 ms, one per track).
    pub packets_per_track: usize,
}

/// What the server saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub requests: Vec<String>,
    pub connections: usize,
}

pub struct ScriptServer {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptServer {
    pub async fn start(script: Script) -> ScriptServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let seen2 = seen.clone();
        let script = Arc::new(script);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                seen2.lock().expect("seen").connections += 1;
                let script = script.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, &script, &seen).await;
                });
            }
        });
        ScriptServer { addr, seen, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("rtsp://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().expect("seen").clone()
    }
}

struct Request {
    method: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request (skipping interleaved frames). `None` on EOF.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<Request>> {
    loop {
        // Interleaved data from the client: skip.
        if buf.first() == Some(&b'$') && buf.len() >= 4 {
            let n = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if buf.len() >= n {
                buf.drain(..n);
                continue;
            }
        } else if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let mut lines = head.split("\r\n");
            let first = lines.next().unwrap_or("");
            let method = first.split(' ').next().unwrap_or("").to_string();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            let body_len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + body_len {
                buf.drain(..end + 4 + body_len);
                return Ok(Some(Request { method, headers }));
            }
        }
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A recorded reply with its CSeq header(s) set to `cseq` (keeping the
/// header's own spelling) and, optionally, its Transport header replaced.
fn replay(recorded: &[u8], cseq: &str, transport: Option<&str>) -> Vec<u8> {
    let split = find(recorded, b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| find(recorded, b"\n\n").map(|i| (i, 2)));
    let (head, body) = match split {
        Some((i, n)) => (&recorded[..i], &recorded[i + n..]),
        None => (recorded, &b""[..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in head.split("\r\n") {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("cseq") {
            out.push_str(&format!("{name}: {cseq}\r\n"));
        } else if name.eq_ignore_ascii_case("transport") && transport.is_some() {
            out.push_str(&format!("{name}: {}\r\n", transport.unwrap_or("")));
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    let mut v = out.into_bytes();
    v.extend_from_slice(body);
    v
}

fn header_of(recorded: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(recorded);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
}

fn param<'a>(transport: &'a str, key: &str) -> Option<&'a str> {
    transport
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

struct Channel {
    rtp: u8,
    ssrc: u32,
    seq: u16,
}

async fn serve(mut sock: TcpStream, script: &Script, seen: &Mutex<Seen>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut channels: Vec<Channel> = Vec::new();
    let mut session: Option<String> = None;
    let mut playing = false;
    let mut sent = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        let req = tokio::select! {
            r = read_request(&mut sock, &mut buf) => match r? {
                Some(r) => r,
                None => return Ok(()),
            },
            _ = tick.tick(), if playing && sent < script.packets_per_track => {
                for (i, c) in channels.iter_mut().enumerate() {
                    let payload: &[u8] = if i == 0 { &[0x65, 0x88, 0x84, 0x00] } else { &[0xd5; 16] };
                    let mut rtp = vec![0x80, 96 | 0x80];
                    rtp.extend_from_slice(&c.seq.to_be_bytes());
                    rtp.extend_from_slice(&((sent as u32) * 3600).to_be_bytes());
                    rtp.extend_from_slice(&c.ssrc.to_be_bytes());
                    rtp.extend_from_slice(payload);
                    let mut frame = vec![b'$', c.rtp];
                    frame.extend_from_slice(&(rtp.len() as u16).to_be_bytes());
                    frame.extend_from_slice(&rtp);
                    sock.write_all(&frame).await?;
                    c.seq = c.seq.wrapping_add(1);
                }
                sent += 1;
                continue;
            }
        };
        let cseq = req.header("CSeq").unwrap_or("0").to_string();
        seen.lock().expect("seen").requests.push(format!(
            "{} auth={}",
            req.method,
            req.header("Authorization").is_some()
        ));
        let reply: Vec<u8> = match req.method.as_str() {
            "OPTIONS" => format!(
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n\r\n"
            )
            .into_bytes(),
            "DESCRIBE" if script.reject_auth => format!(
                "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Digest realm=\"xlgw-test\", nonce=\"{:032x}\"\r\n\r\n",
                rand_u32()
            )
            .into_bytes(),
            "DESCRIBE" => replay(&script.describe, &cseq, None),
            "SETUP" => {
                let asked = req.header("Transport").unwrap_or("").to_string();
                let next = channels.len() as u8 * 2;
                let asked_il = param(&asked, "interleaved").unwrap_or("").to_string();
                let default_il = if asked_il.is_empty() { format!("{next}-{}", next + 1) } else { asked_il };
                let idx = channels.len();
                match script.setups.get(idx) {
                    Some(rec) => {
                        let rec_transport = header_of(rec, "Transport");
                        // Keep a recorded interleaved transport verbatim; turn
                        // a recorded UDP one into interleaved (keeping its
                        // ssrc); keep a missing one missing.
                        let transport = match &rec_transport {
                            Some(t) if t.contains("interleaved=") => None,
                            Some(t) => {
                                let mut v = format!("RTP/AVP/TCP;unicast;interleaved={default_il}");
                                if let Some(s) = param(t, "ssrc") {
                                    v.push_str(&format!(";ssrc={s}"));
                                }
                                Some(v)
                            }
                            None => None,
                        };
                        let used = transport.clone().or(rec_transport.clone()).unwrap_or_default();
                        let rtp = param(&used, "interleaved")
                            .and_then(|il| il.split('-').next())
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(next);
                        let ssrc = param(&used, "ssrc")
                            .map(str::trim)
                            .filter(|s| s.len() > 4)
                            .and_then(|s| u32::from_str_radix(s, 16).ok())
                            .unwrap_or_else(rand_u32);
                        channels.push(Channel { rtp, ssrc, seq: 1000 });
                        if session.is_none() {
                            session = header_of(rec, "Session");
                        }
                        replay(rec, &cseq, transport.as_deref())
                    }
                    None => {
                        let id = session
                            .get_or_insert_with(|| "5F3A12C7;timeout=60".to_string())
                            .clone();
                        let ssrc = rand_u32();
                        let rtp = default_il.split('-').next().and_then(|n| n.parse().ok()).unwrap_or(next);
                        channels.push(Channel { rtp, ssrc, seq: 2000 });
                        format!(
                            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: {id}\r\nTransport: RTP/AVP/TCP;unicast;interleaved={default_il};ssrc={ssrc:08X}\r\n\r\n"
                        )
                        .into_bytes()
                    }
                }
            }
            "PLAY" => {
                playing = true;
                let id = session.clone().unwrap_or_default();
                let id = id.split(';').next().unwrap_or("").trim().to_string();
                format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: {id}\r\nRange: npt=0.000-\r\n\r\n")
                    .into_bytes()
            }
            "TEARDOWN" => {
                let r = format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\r\n");
                sock.write_all(r.as_bytes()).await?;
                return Ok(());
            }
            _ => format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\r\n").into_bytes(),
        };
        sock.write_all(&reply).await?;
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    (h.finish() as u32) | 0x1000_0000
}
