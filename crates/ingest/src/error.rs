//! Errors of ingest, and keeping credentials out of every text we produce.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use xlgw_model::Credentials;

/// The RTSP step that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Describe,
    Setup,
    Play,
    Stream,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Describe => "DESCRIBE",
            Stage::Setup => "SETUP",
            Stage::Play => "PLAY",
            Stage::Stream => "streaming",
        })
    }
}

/// Why pulling a camera failed. Every text in here has been scrubbed of the
/// camera's credentials and shows URLs without userinfo.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    /// The source URL is not `rtsp://` (e.g. `rtsps://` or a built-in
    /// `clip:` source, which ingest does not pull).
    #[error("unsupported source URL {0}: ingest pulls rtsp:// only")]
    UnsupportedUrl(String),
    #[error("invalid source URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The camera refused our credentials (or asked for some and we had none).
    #[error("authentication failed at {stage}: {message}")]
    Unauthorized { stage: Stage, message: String },
    /// An RTSP request failed or its answer could not be used.
    #[error("RTSP {stage} failed{}: {message}", status.map(|s| format!(" with status {s}")).unwrap_or_default())]
    Rtsp {
        stage: Stage,
        status: Option<u16>,
        message: String,
    },
    /// DESCRIBE worked, but not one track could be set up.
    #[error("no track could be set up: {0}")]
    NoTracks(String),
    #[error("DESCRIBE to PLAY took longer than {0:?}")]
    ConnectTimeout(Duration),
    #[error("no packet within {0:?} after PLAY")]
    FirstFrameTimeout(Duration),
    #[error("no packet for {0:?}: the session stalled")]
    Stalled(Duration),
    /// No UDP packet arrived in time with transport `auto`; the camera is
    /// switched to TCP.
    #[error("no UDP packet within {0:?} after PLAY: falling back to TCP")]
    UdpFallback(Duration),
    #[error("the camera closed the session")]
    Closed,
    /// Anything else from an injected opener.
    #[error("{0}")]
    Other(String),
}

/// Removes secrets from texts: the password (also as it would appear
/// percent-encoded or inside an HTTP Basic token) becomes `***`, and the
/// userinfo of any URL in the text is dropped.
#[derive(Clone, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Scrubber {
    pub fn new(creds: Option<&Credentials>) -> Scrubber {
        let mut secrets = Vec::new();
        if let Some(c) = creds.filter(|c| !c.password.is_empty()) {
            secrets.push(c.password.clone());
            let enc = percent_encode(&c.password);
            if enc != c.password {
                secrets.push(enc);
            }
            secrets.push(
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.username, c.password)),
            );
        }
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Scrubber { secrets }
    }

    /// The text without secrets and without URL userinfo.
    pub fn scrub(&self, text: &str) -> String {
        let mut s = strip_userinfo(text);
        for secret in &self.secrets {
            if s.contains(secret.as_str()) {
                s = s.replace(secret.as_str(), "***");
            }
        }
        s
    }

    /// The error with every text in it scrubbed.
    pub fn error(&self, e: IngestError) -> IngestError {
        use IngestError::*;
        match e {
            UnsupportedUrl(u) => UnsupportedUrl(self.scrub(&u)),
            InvalidUrl { url, reason } => InvalidUrl {
                url: self.scrub(&url),
                reason: self.scrub(&reason),
            },
            Unauthorized { stage, message } => Unauthorized {
                stage,
                message: self.scrub(&message),
            },
            Rtsp {
                stage,
                status,
                message,
            } => Rtsp {
                stage,
                status,
                message: self.scrub(&message),
            },
            NoTracks(m) => NoTracks(self.scrub(&m)),
            Other(m) => Other(self.scrub(&m)),
            e @ (ConnectTimeout(_) | FirstFrameTimeout(_) | Stalled(_) | UdpFallback(_)
            | Closed) => e,
        }
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Drops `user:pass@` from every `scheme://user:pass@host` in `text`.
pub fn strip_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first of these; userinfo ends at its
        // last '@'.
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#')
                    || c.is_whitespace()
                    || c == '"'
                    || c == '\''
                    || c == '>'
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => out.push_str(&authority[at + 1..]),
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A URL as it may be shown: without userinfo.
pub fn display_url(url: &str) -> String {
    strip_userinfo(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_password_forms_and_userinfo() {
        let c = Credentials {
            username: "admin".into(),
            password: "Pa ss@w0rd!".into(),
        };
        let s = Scrubber::new(Some(&c));
        let basic = base64::engine::general_purpose::STANDARD.encode("admin:Pa ss@w0rd!");
        let text = format!(
            "failed rtsp://admin:Pa%20ss%40w0rd%21@10.0.0.1:554/x with Pa ss@w0rd! and Basic {basic}"
        );
        let out = s.scrub(&text);
        assert!(!out.contains("w0rd"), "{out}");
        assert!(!out.contains(&basic), "{out}");
        assert!(out.contains("rtsp://10.0.0.1:554/x"), "{out}");
        let e = s.error(IngestError::Rtsp {
            stage: Stage::Describe,
            status: Some(401),
            message: "user admin password Pa ss@w0rd!".into(),
        });
        assert!(!format!("{e} {e:?}").contains("w0rd"));
    }

    #[test]
    fn userinfo_stripping_leaves_other_text() {
        assert_eq!(strip_userinfo("no urls here"), "no urls here");
        assert_eq!(
            strip_userinfo("a rtsp://h/p@q b rtsp://u:p@h:1/ c"),
            "a rtsp://h/p@q b rtsp://h:1/ c"
        );
        assert_eq!(strip_userinfo("x://"), "x://");
        assert_eq!(display_url("rtsp://u@[::1]:554"), "rtsp://[::1]:554");
    }
}
