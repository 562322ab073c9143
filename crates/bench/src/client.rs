//! A minimal RTSP/1.0 client for the readers: DESCRIBE, SETUP (TCP
//! interleaved or UDP) and PLAY of the first video track, keepalives and
//! TEARDOWN. Everything read from the network is bounded and checked.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use xlgw_clip::VideoCodec;

/// Largest RTSP response (headers and body) accepted.
const MAX_RESPONSE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out in {0}")]
    Timeout(&'static str),
    #[error("{method} answered {status}")]
    Status { method: &'static str, status: u16 },
    #[error("bad response: {0}")]
    Bad(&'static str),
    #[error("connection closed by the server")]
    Closed,
    #[error("no video track in the SDP")]
    NoVideo,
    #[error("unsupported video encoding {0}")]
    Codec(String),
    #[error("bad URL {0}")]
    Url(String),
}

impl ClientError {
    /// Worth trying again a little later (stream not up yet, server busy).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ClientError::Connect(..)
                | ClientError::Timeout(_)
                | ClientError::Closed
                | ClientError::Status {
                    status: 404 | 454 | 503,
                    ..
                }
        )
    }

    /// A short label for counting errors of many readers.
    pub fn kind(&self) -> String {
        match self {
            ClientError::Connect(_, e) => format!("connect: {}", e.kind()),
            ClientError::Io(e) => format!("i/o: {}", e.kind()),
            other => other.to_string(),
        }
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Splits one RTSP message off the front of `buf`: `Ok(None)` if more bytes
/// are needed. Interleaved frames and requests from the server in front of
/// it are skipped (reported as `Some(None)`).
fn split_response(buf: &[u8]) -> Result<Option<(Option<Response>, usize)>, ClientError> {
    if buf.first() == Some(&b'$') {
        if buf.len() < 4 {
            return Ok(None);
        }
        let n = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        return Ok((buf.len() >= n).then_some((None, n)));
    }
    let window = &buf[..buf.len().min(MAX_RESPONSE)];
    let Some(end) = find(window, b"\r\n\r\n") else {
        if buf.len() >= MAX_RESPONSE {
            return Err(ClientError::Bad("response too large"));
        }
        return Ok(None);
    };
    let head =
        std::str::from_utf8(&buf[..end]).map_err(|_| ClientError::Bad("response not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut headers = Vec::new();
    let mut body_len = 0usize;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                body_len = v.parse().map_err(|_| ClientError::Bad("Content-Length"))?;
            }
            headers.push((k.to_owned(), v.to_owned()));
        }
    }
    if body_len > MAX_RESPONSE {
        return Err(ClientError::Bad("body too large"));
    }
    let total = end + 4 + body_len;
    if buf.len() < total {
        return Ok(None);
    }
    let Some(rest) = first.strip_prefix("RTSP/1.0 ") else {
        // A request from the server (some send OPTIONS or GET_PARAMETER).
        return Ok(Some((None, total)));
    };
    let status = rest
        .get(..3)
        .and_then(|s| s.parse().ok())
        .ok_or(ClientError::Bad("status line"))?;
    Ok(Some((
        Some(Response {
            status,
            headers,
            body: buf[end + 4..total].to_vec(),
        }),
        total,
    )))
}

/// The video track found in an SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    pub control: String,
    pub codec: VideoCodec,
}

/// First video track of an SDP: its control URL (as written) and codec.
pub fn parse_sdp(sdp: &str) -> Result<VideoTrack, ClientError> {
    let mut in_video = false;
    let mut found = false;
    let mut control = None;
    let mut encoding = None;
    for l in sdp.lines().map(str::trim) {
        if l.starts_with("m=") {
            if found {
                break;
            }
            in_video = l.starts_with("m=video");
            found = in_video;
            continue;
        }
        if !in_video {
            continue;
        }
        if let Some(c) = l.strip_prefix("a=control:") {
            control = Some(c.trim().to_owned());
        } else if let Some(m) = l.strip_prefix("a=rtpmap:") {
            encoding = m
                .split_whitespace()
                .nth(1)
                .and_then(|e| e.split('/').next())
                .map(str::to_ascii_uppercase);
        }
    }
    if !found {
        return Err(ClientError::NoVideo);
    }
    let codec = match encoding.as_deref() {
        Some("H264") => VideoCodec::H264,
        Some("H265" | "HEVC") => VideoCodec::H265,
        other => return Err(ClientError::Codec(other.unwrap_or("(none)").to_owned())),
    };
    Ok(VideoTrack {
        control: control.unwrap_or_default(),
        codec,
    })
}

/// The URL to SETUP for a track control attribute.
pub fn resolve_control(base: &str, control: &str) -> String {
    if control.is_empty() || control == "*" {
        return base.to_owned();
    }
    if control.starts_with("rtsp://") || control.starts_with("rtsps://") {
        return control.to_owned();
    }
    if base.ends_with('/') {
        format!("{base}{control}")
    } else {
        format!("{base}/{control}")
    }
}

/// `host:port` of an `rtsp://` URL (default port 554).
pub fn host_port(url: &str) -> Result<String, ClientError> {
    let rest = url
        .strip_prefix("rtsp://")
        .or_else(|| url.strip_prefix("tcp://"))
        .or_else(|| url.strip_prefix("udp://"))
        .ok_or_else(|| ClientError::Url(url.to_owned()))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains('@') {
        return Err(ClientError::Url(url.to_owned()));
    }
    Ok(if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:554")
    })
}

/// What SETUP negotiated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    pub session: String,
    pub timeout: Option<Duration>,
    /// TCP: the RTP channel.
    pub channel: Option<u8>,
    /// UDP: the server's RTCP port.
    pub server_rtcp_port: Option<u16>,
}

fn parse_setup(r: &Response) -> Result<Setup, ClientError> {
    let s = r.header("Session").ok_or(ClientError::Bad("no Session"))?;
    let mut parts = s.split(';');
    let session = parts.next().unwrap_or("").trim().to_owned();
    if session.is_empty() {
        return Err(ClientError::Bad("empty Session"));
    }
    let timeout = parts
        .filter_map(|p| p.trim().strip_prefix("timeout="))
        .find_map(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut out = Setup {
        session,
        timeout,
        ..Setup::default()
    };
    if let Some(t) = r.header("Transport") {
        for p in t.split(';') {
            let p = p.trim();
            if let Some(v) = p.strip_prefix("interleaved=") {
                out.channel = v.split('-').next().and_then(|c| c.parse().ok());
            } else if let Some(v) = p.strip_prefix("server_port=") {
                let mut it = v.split('-').filter_map(|x| x.parse::<u16>().ok());
                let rtp = it.next();
                out.server_rtcp_port = it.next().or(rtp.map(|p| p.wrapping_add(1)));
            }
        }
    }
    Ok(out)
}

/// An RTSP control connection.
#[derive(Debug)]
pub struct Client {
    pub stream: TcpStream,
    /// Bytes read past the last response (e.g. media after PLAY).
    pub buf: Vec<u8>,
    cseq: u32,
    pub peer: SocketAddr,
}

impl Client {
    pub async fn connect(url: &str) -> Result<Client, ClientError> {
        let hp = host_port(url)?;
        let stream = TcpStream::connect(&hp)
            .await
            .map_err(|e| ClientError::Connect(hp.clone(), e))?;
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr()?;
        Ok(Client {
            stream,
            buf: Vec::with_capacity(4096),
            cseq: 0,
            peer,
        })
    }

    /// Writes a request without waiting for the answer.
    pub async fn send(
        &mut self,
        method: &'static str,
        url: &str,
        extra: &str,
    ) -> Result<(), ClientError> {
        self.cseq += 1;
        let req = format!(
            "{method} {url} RTSP/1.0\r\nCSeq: {}\r\nUser-Agent: xlgw-bench\r\n{extra}\r\n",
            self.cseq
        );
        self.stream.write_all(req.as_bytes()).await?;
        Ok(())
    }

    /// Sends a request and reads its response; a status other than 200 is
    /// an error.
    pub async fn request(
        &mut self,
        method: &'static str,
        url: &str,
        extra: &str,
    ) -> Result<Response, ClientError> {
        self.send(method, url, extra).await?;
        loop {
            while let Some((resp, n)) = split_response(&self.buf)? {
                self.buf.drain(..n);
                if let Some(r) = resp {
                    if r.status != 200 {
                        return Err(ClientError::Status {
                            method,
                            status: r.status,
                        });
                    }
                    return Ok(r);
                }
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// DESCRIBE: the video track and the URL to SETUP it with.
    pub async fn describe(&mut self, url: &str) -> Result<(VideoTrack, String), ClientError> {
        let r = self
            .request("DESCRIBE", url, "Accept: application/sdp\r\n")
            .await?;
        let sdp = std::str::from_utf8(&r.body).map_err(|_| ClientError::Bad("SDP not UTF-8"))?;
        let track = parse_sdp(sdp)?;
        let base = r
            .header("Content-Base")
            .or_else(|| r.header("Content-Location"))
            .unwrap_or(url);
        let setup_url = resolve_control(base, &track.control);
        Ok((track, setup_url))
    }

    /// SETUP over TCP interleaved (`udp_ports: None`) or UDP.
    pub async fn setup(
        &mut self,
        url: &str,
        udp_ports: Option<(u16, u16)>,
    ) -> Result<Setup, ClientError> {
        let transport = match udp_ports {
            None => "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n".to_owned(),
            Some((a, b)) => format!("Transport: RTP/AVP;unicast;client_port={a}-{b}\r\n"),
        };
        let r = self.request("SETUP", url, &transport).await?;
        let mut s = parse_setup(&r)?;
        if udp_ports.is_none() && s.channel.is_none() {
            s.channel = Some(0);
        }
        Ok(s)
    }

    pub async fn play(&mut self, url: &str, session: &str) -> Result<(), ClientError> {
        self.request(
            "PLAY",
            url,
            &format!("Session: {session}\r\nRange: npt=0.000-\r\n"),
        )
        .await?;
        Ok(())
    }
}

/// Runs `f` with a time limit, naming the step on timeout.
pub async fn timed<T>(
    d: Duration,
    what: &'static str,
    f: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(d, f)
        .await
        .map_err(|_| ClientError::Timeout(what))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_and_controls() {
        let sdp = "v=0\r\ns=x\r\na=control:*\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000\r\na=control:trackID=1\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:stream=0\r\nm=video 0 RTP/AVP 98\r\na=rtpmap:98 H265/90000\r\n";
        let t = parse_sdp(sdp).unwrap();
        assert_eq!(t.codec, VideoCodec::H264);
        assert_eq!(t.control, "stream=0");
        assert!(matches!(
            parse_sdp("m=audio 0 RTP/AVP 0\r\n"),
            Err(ClientError::NoVideo)
        ));
        assert!(matches!(
            parse_sdp("m=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\n"),
            Err(ClientError::Codec(_))
        ));
        assert_eq!(
            resolve_control("rtsp://h:1/a/", "trackID=0"),
            "rtsp://h:1/a/trackID=0"
        );
        assert_eq!(
            resolve_control("rtsp://h:1/a", "trackID=0"),
            "rtsp://h:1/a/trackID=0"
        );
        assert_eq!(resolve_control("rtsp://h:1/a", "rtsp://x/y"), "rtsp://x/y");
        assert_eq!(resolve_control("rtsp://h:1/a", "*"), "rtsp://h:1/a");
        assert_eq!(
            host_port("rtsp://127.0.0.1:8554/x").unwrap(),
            "127.0.0.1:8554"
        );
        assert_eq!(host_port("rtsp://cam/x").unwrap(), "cam:554");
        assert!(host_port("http://x/").is_err());
        assert!(host_port("rtsp://u:p@h/").is_err());
    }

    #[test]
    fn responses_split_and_setup_parsed() {
        let mut buf = b"$\x01\x00\x02ab".to_vec();
        buf.extend_from_slice(b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: ABC;timeout=30\r\nTransport: RTP/AVP/TCP;unicast;interleaved=2-3\r\nContent-Length: 2\r\n\r\nhi$");
        let (r, n) = split_response(&buf).unwrap().unwrap();
        assert!(r.is_none());
        let (r, m) = split_response(&buf[n..]).unwrap().unwrap();
        let r = r.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hi");
        assert_eq!(n + m + 1, buf.len());
        let s = parse_setup(&r).unwrap();
        assert_eq!(s.session, "ABC");
        assert_eq!(s.timeout, Some(Duration::from_secs(30)));
        assert_eq!(s.channel, Some(2));
        assert!(
            split_response(b"RTSP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nab")
                .unwrap()
                .is_none()
        );
        assert!(split_response(b"RTSP/1.0 2x\r\n\r\n").is_err());
        let big = vec![b'a'; MAX_RESPONSE + 1];
        assert!(split_response(&big).is_err());
        let udp = Response {
            status: 200,
            headers: vec![
                ("session".into(), "S1".into()),
                (
                    "Transport".into(),
                    "RTP/AVP;unicast;client_port=5000-5001;server_port=6000-6001".into(),
                ),
            ],
            body: vec![],
        };
        let s = parse_setup(&udp).unwrap();
        assert_eq!(s.server_rtcp_port, Some(6001));
        assert_eq!(s.timeout, None);
    }
}
