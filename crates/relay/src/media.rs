//! Stream description and the packet that moves through the relay.

use bytes::Bytes;

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Video,
    Audio,
    Application,
}

impl MediaKind {
    /// The SDP media name (`m=` line).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Application => "application",
        }
    }
}

/// The codecs the relay knows something about. Others pass through as
/// `Other` with their SDP attributes intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    H264,
    H265,
    Aac,
    Pcma,
    Pcmu,
    Other,
}

impl Codec {
    /// From an `a=rtpmap` encoding name (case-insensitive).
    pub fn from_encoding(name: &str) -> Codec {
        match name.to_ascii_uppercase().as_str() {
            "H264" => Codec::H264,
            "H265" | "HEVC" => Codec::H265,
            "MPEG4-GENERIC" | "MP4A-LATM" => Codec::Aac,
            "PCMA" => Codec::Pcma,
            "PCMU" => Codec::Pcmu,
            _ => Codec::Other,
        }
    }

    pub fn is_video(self) -> bool {
        matches!(self, Codec::H264 | Codec::H265)
    }
}

/// One media track of a stream, as readers will see it in the SDP.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub kind: MediaKind,
    /// Encoding name for `a=rtpmap` (e.g. `H264`, `MPEG4-GENERIC`, `PCMA`).
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
    pub payload_type: u8,
    /// The `a=fmtp` parameters (without the `a=fmtp:PT ` prefix).
    pub fmtp: Option<String>,
    /// Frames per second, when the camera said so.
    pub framerate: Option<f64>,
}

impl Track {
    pub fn codec(&self) -> Codec {
        Codec::from_encoding(&self.encoding)
    }
}

/// All tracks of a stream. Track `i` is addressed as `trackID=i` by readers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamInfo {
    pub tracks: Vec<Track>,
}

impl StreamInfo {
    /// Index of the first video track, if any.
    pub fn video_track(&self) -> Option<usize> {
        self.tracks.iter().position(|t| t.kind == MediaKind::Video)
    }

    /// Renders an SDP for readers. `origin_addr` goes into `o=`, `name` into
    /// `s=`. Tracks are addressed by relative control URLs `trackID=N`.
    pub fn to_sdp(&self, session_id: u64, origin_addr: &str, name: &str) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(512);
        let ip_ver = if origin_addr.contains(':') {
            "IP6"
        } else {
            "IP4"
        };
        let _ = write!(
            s,
            "v=0\r\no=- {session_id} 1 IN {ip_ver} {origin_addr}\r\ns={}\r\nc=IN {ip_ver} {}\r\nt=0 0\r\na=tool:xlgw\r\na=control:*\r\na=range:npt=0-\r\n",
            sanitize_line(name),
            if ip_ver == "IP6" { "::" } else { "0.0.0.0" }
        );
        for (i, t) in self.tracks.iter().enumerate() {
            let _ = write!(s, "m={} 0 RTP/AVP {}\r\n", t.kind.as_str(), t.payload_type);
            let _ = write!(
                s,
                "a=rtpmap:{} {}/{}",
                t.payload_type,
                sanitize_line(&t.encoding),
                t.clock_rate
            );
            if let Some(ch) = t.channels {
                let _ = write!(s, "/{ch}");
            }
            s.push_str("\r\n");
            if let Some(f) = &t.fmtp {
                let _ = write!(s, "a=fmtp:{} {}\r\n", t.payload_type, sanitize_line(f));
            }
            if let Some(fr) = t.framerate
                && fr.is_finite()
                && fr > 0.0
            {
                let _ = write!(s, "a=framerate:{fr}\r\n");
            }
            let _ = write!(s, "a=control:trackID={i}\r\n");
        }
        s
    }
}

/// Strips CR/LF so a value from a camera can never inject SDP lines.
fn sanitize_line(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

/// Flag: the RTP marker bit.
pub(crate) const FLAG_MARKER: u8 = 1;
/// Flag: this packet starts a keyframe (a reader may begin here).
pub(crate) const FLAG_KEY: u8 = 2;

/// One RTP packet as the relay moves it: the payload (without RTP header) is
/// shared by every reader; the header fields are kept apart so each reader
/// can write its own header.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    pub payload: Bytes,
    pub timestamp: u32,
    pub seq: u16,
    pub track: u8,
    pub(crate) flags: u8,
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("track", &self.track)
            .field("seq", &self.seq)
            .field("ts", &self.timestamp)
            .field("marker", &self.marker())
            .field("key", &self.is_key())
            .field("len", &self.payload.len())
            .finish()
    }
}

impl Packet {
    /// A packet as received from upstream.
    pub fn new(track: u8, seq: u16, timestamp: u32, marker: bool, payload: Bytes) -> Packet {
        Packet {
            payload,
            timestamp,
            seq,
            track,
            flags: if marker { FLAG_MARKER } else { 0 },
        }
    }

    pub fn marker(&self) -> bool {
        self.flags & FLAG_MARKER != 0
    }

    /// The RTP fixed header (RFC 3550 §5.1) of this packet as a reader gets
    /// it: `seq` is the reader's sequence number, `payload_type` and `ssrc`
    /// those of its session.
    pub fn rtp_header(&self, seq: u16, payload_type: u8, ssrc: u32) -> [u8; 12] {
        let mut h = [0u8; 12];
        h[0] = 0x80;
        h[1] = (payload_type & 0x7f) | if self.marker() { 0x80 } else { 0 };
        h[2..4].copy_from_slice(&seq.to_be_bytes());
        h[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        h[8..12].copy_from_slice(&ssrc.to_be_bytes());
        h
    }

    /// The interleaved frame header (RFC 2326 §10.12) and RTP header of this
    /// packet on `channel`. The payload must fit one interleaved frame
    /// (`MAX_INTERLEAVED_PAYLOAD`); callers skip larger ones.
    pub fn interleaved_header(
        &self,
        channel: u8,
        seq: u16,
        payload_type: u8,
        ssrc: u32,
    ) -> [u8; 16] {
        let len = (12 + self.payload.len()) as u16;
        let mut h = [0u8; 16];
        h[0] = b'$';
        h[1] = channel;
        h[2..4].copy_from_slice(&len.to_be_bytes());
        h[4..].copy_from_slice(&self.rtp_header(seq, payload_type, ssrc));
        h
    }

    /// True when a reader may start at this packet.
    pub fn is_key(&self) -> bool {
        self.flags & FLAG_KEY != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_has_tracks_and_no_injection() {
        let info = StreamInfo {
            tracks: vec![
                Track {
                    kind: MediaKind::Video,
                    encoding: "H264".into(),
                    clock_rate: 90000,
                    channels: None,
                    payload_type: 96,
                    fmtp: Some("packetization-mode=1\r\na=evil".into()),
                    framerate: Some(25.0),
                },
                Track {
                    kind: MediaKind::Audio,
                    encoding: "PCMA".into(),
                    clock_rate: 8000,
                    channels: Some(1),
                    payload_type: 8,
                    fmtp: None,
                    framerate: None,
                },
            ],
        };
        let sdp = info.to_sdp(7, "127.0.0.1", "cam");
        assert!(sdp.contains("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"));
        assert!(sdp.contains("a=fmtp:96 packetization-mode=1a=evil\r\n"));
        assert!(sdp.contains("a=rtpmap:8 PCMA/8000/1\r\n"));
        assert!(sdp.contains("a=control:trackID=1\r\n"));
        assert_eq!(info.video_track(), Some(0));
    }
}
