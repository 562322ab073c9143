//! Splitting the bytes a client sends into requests and interleaved frames,
//! within bounds.

use rtsp_types::{Message, ParseError, Request};

/// A request (headers and body together) larger than this is refused.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// What the front of the input holds.
#[derive(Debug)]
pub enum Next {
    /// A complete request and how many bytes it took.
    Request(Box<Request<Vec<u8>>>, usize),
    /// An interleaved binary frame (`$`, channel, length): RTCP from the
    /// client. Only its length matters; it is skipped.
    Interleaved { channel: u8, consumed: usize },
    /// A response from the client (some send one to our keepalive); ignored.
    Response(usize),
    /// Bytes to skip: empty lines between messages (CRLF keepalives).
    Skip(usize),
    /// More bytes are needed.
    Incomplete,
    /// The request is larger than [`MAX_REQUEST_BYTES`].
    TooLarge,
    /// Not RTSP: the connection gets 400 and is closed.
    Invalid,
}

/// Looks at the front of `buf`. Never panics; bounded work.
pub fn next_message(buf: &[u8]) -> Next {
    if buf.is_empty() {
        return Next::Incomplete;
    }
    let blank = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if blank > 0 {
        return Next::Skip(blank);
    }
    if buf[0] == b'$' {
        if buf.len() < 4 {
            return Next::Incomplete;
        }
        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if buf.len() < 4 + len {
            return Next::Incomplete;
        }
        return Next::Interleaved {
            channel: buf[1],
            consumed: 4 + len,
        };
    }
    // Only look at a bounded window, so a client cannot make us parse
    // megabytes again and again.
    let window = &buf[..buf.len().min(MAX_REQUEST_BYTES + 1)];
    // Reject early anything that does not start like a request line.
    if !window[0].is_ascii_alphabetic() {
        return Next::Invalid;
    }
    match Message::<Vec<u8>>::parse(window) {
        Ok((Message::Request(r), n)) => Next::Request(Box::new(r), n),
        Ok((Message::Response(_), n)) => Next::Response(n),
        Ok((Message::Data(_), n)) => Next::Interleaved {
            channel: 0,
            consumed: n,
        },
        Err(ParseError::Incomplete(_)) => {
            if window.len() > MAX_REQUEST_BYTES || declared_too_large(window) {
                Next::TooLarge
            } else {
                Next::Incomplete
            }
        }
        Err(ParseError::Error) => {
            if window.len() > MAX_REQUEST_BYTES {
                Next::TooLarge
            } else {
                Next::Invalid
            }
        }
    }
}

/// True when the headers are complete and announce a body that would exceed
/// the limit, so we can refuse before waiting for it.
fn declared_too_large(buf: &[u8]) -> bool {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    head.lines().any(|l| {
        let mut kv = l.splitn(2, ':');
        let k = kv.next().unwrap_or("").trim();
        let v = kv.next().unwrap_or("").trim();
        k.eq_ignore_ascii_case("content-length")
            && v.parse::<u64>().map_or(true, |n| {
                n.saturating_add(end as u64 + 4) > MAX_REQUEST_BYTES as u64
            })
    })
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// The stream path and the track of a request URI:
/// `rtsp://host:port/<path>[/trackID=N]` → (`path`, `Some(N)`).
/// The path is the first segment; query strings are ignored.
pub fn parse_path(uri: &url::Url) -> Option<(String, Option<usize>)> {
    let mut segs = uri.path_segments()?.filter(|s| !s.is_empty());
    let path = segs.next()?.to_owned();
    let mut track = None;
    for s in segs {
        if let Some(n) = s.strip_prefix("trackID=") {
            track = Some(n.parse().ok()?);
        } else {
            return None;
        }
    }
    Some((path, track))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_requests_and_frames() {
        let req = b"OPTIONS rtsp://h/a RTSP/1.0\r\nCSeq: 1\r\n\r\n";
        match next_message(req) {
            Next::Request(r, n) => {
                assert_eq!(n, req.len());
                assert_eq!(r.method(), &rtsp_types::Method::Options);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(next_message(&req[..10]), Next::Incomplete));
        let frame = [b'$', 1, 0, 2, 9, 9, b'O'];
        assert!(matches!(
            next_message(&frame),
            Next::Interleaved {
                channel: 1,
                consumed: 6
            }
        ));
        assert!(matches!(next_message(&frame[..5]), Next::Incomplete));
        assert!(matches!(
            next_message(b"\x16\x03\x01garbage"),
            Next::Invalid
        ));
    }

    #[test]
    fn bounds_size() {
        let mut big = b"DESCRIBE rtsp://h/a RTSP/1.0\r\nCSeq: 1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_REQUEST_BYTES));
        assert!(matches!(next_message(&big), Next::TooLarge));
        let body =
            b"SET_PARAMETER rtsp://h/a RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 999999\r\n\r\n";
        assert!(matches!(next_message(body), Next::TooLarge));
        let huge = format!(
            "SET_PARAMETER rtsp://h/a RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {}\r\n\r\n",
            u64::MAX
        );
        assert!(matches!(next_message(huge.as_bytes()), Next::TooLarge));
    }

    #[test]
    fn paths() {
        let u = url::Url::parse("rtsp://h:8554/45010200001320000001/trackID=1").unwrap();
        assert_eq!(
            parse_path(&u),
            Some(("45010200001320000001".into(), Some(1)))
        );
        let u = url::Url::parse("rtsp://h:8554/45010200001320000001/?x=1").unwrap();
        assert_eq!(parse_path(&u), Some(("45010200001320000001".into(), None)));
        let u = url::Url::parse("rtsp://h:8554/").unwrap();
        assert_eq!(parse_path(&u), None);
        let u = url::Url::parse("rtsp://h/a/b").unwrap();
        assert_eq!(parse_path(&u), None);
    }
}
