//! Just enough RTP and depacketization to follow a video stream: the fixed
//! header, keyframe starts, and our SEI stamps (RFC 6184 single NAL unit,
//! STAP-A and FU-A; RFC 7798 single, AP and FU). Payloads are never copied.

use xlgw_clip::VideoCodec;

use crate::sei::{self, Stamp};

/// The fields of an RTP packet we look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    /// Offset and end of the payload within the packet.
    pub payload: (usize, usize),
}

/// Parses the RTP fixed header, CSRCs, extension and padding. `None` if the
/// packet is not RTP version 2 or its lengths do not fit.
pub fn parse_header(p: &[u8]) -> Option<RtpHeader> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(p[0] & 0x0f);
    let mut off = 12 + 4 * cc;
    if p[0] & 0x10 != 0 {
        let ext = p.get(off + 2..off + 4)?;
        off += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    let mut end = p.len();
    if p[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*p.last()?))?;
    }
    if off > end {
        return None;
    }
    Some(RtpHeader {
        marker: p[1] & 0x80 != 0,
        seq: u16::from_be_bytes([p[2], p[3]]),
        timestamp: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        payload: (off, end),
    })
}

/// What one RTP payload holds that we care about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// Holds the start of a keyframe slice (IDR / IRAP).
    pub key: bool,
    /// Our stamp, if the payload has a whole SEI NAL unit carrying one.
    pub stamp: Option<Stamp>,
}

fn nal_h264(n: &[u8], s: &mut Seen) {
    match n.first().map(|h| h & 0x1f) {
        Some(5) => s.key = true,
        Some(6) if s.stamp.is_none() => s.stamp = sei::parse(VideoCodec::H264, n),
        _ => {}
    }
}

fn nal_h265(n: &[u8], s: &mut Seen) {
    match n.first().map(|h| (h >> 1) & 0x3f) {
        Some(16..=21) => s.key = true,
        Some(39) if s.stamp.is_none() => s.stamp = sei::parse(VideoCodec::H265, n),
        _ => {}
    }
}

/// Walks the NAL units of an aggregation packet: 16-bit size, unit, ...
fn aggregated(mut b: &[u8], mut f: impl FnMut(&[u8])) {
    while b.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
        let Some(unit) = b.get(2..2 + n) else { return };
        f(unit);
        b = &b[2 + n..];
    }
}

/// Looks into one RTP payload of a video track.
pub fn inspect(codec: VideoCodec, p: &[u8]) -> Seen {
    let mut s = Seen::default();
    let Some(&h) = p.first() else { return s };
    match codec {
        VideoCodec::H264 => match h & 0x1f {
            1..=23 => nal_h264(p, &mut s),
            24 => aggregated(&p[1..], |n| nal_h264(n, &mut s)),
            28 => {
                if let Some(&fu) = p.get(1)
                    && fu & 0x80 != 0
                    && fu & 0x1f == 5
                {
                    s.key = true;
                }
            }
            _ => {}
        },
        VideoCodec::H265 => match (h >> 1) & 0x3f {
            0..=47 => nal_h265(p, &mut s),
            48 => {
                if let Some(rest) = p.get(2..) {
                    aggregated(rest, |n| nal_h265(n, &mut s));
                }
            }
            49 => {
                if let Some(&fu) = p.get(2)
                    && fu & 0x80 != 0
                    && (16..=21).contains(&(fu & 0x3f))
                {
                    s.key = true;
                }
            }
            _ => {}
        },
    }
    s
}

/// Writes a 12-byte RTP header.
pub fn write_header(out: &mut Vec<u8>, pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) {
    out.push(0x80);
    out.push((pt & 0x7f) | if marker { 0x80 } else { 0 });
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_and_bounds() {
        let mut p = Vec::new();
        write_header(&mut p, 96, true, 0xfffe, 90_000, 7);
        p.extend_from_slice(&[0x65, 1, 2]);
        let h = parse_header(&p).unwrap();
        assert!(h.marker);
        assert_eq!((h.seq, h.timestamp, h.payload), (0xfffe, 90_000, (12, 15)));
        // Padding longer than the packet, bad version, short: rejected.
        let mut bad = p.clone();
        bad[0] |= 0x20;
        *bad.last_mut().unwrap() = 200;
        assert_eq!(parse_header(&bad), None);
        assert_eq!(parse_header(&[0x40; 12]), None);
        assert_eq!(parse_header(&p[..11]), None);
        // Extension header running past the end.
        let mut ext = p.clone();
        ext[0] |= 0x10;
        assert_eq!(parse_header(&ext), None);
    }

    #[test]
    fn finds_keyframes_and_stamps() {
        let s = Stamp {
            sent_ns: 5,
            frame: 6,
            stream: 7,
        };
        let sei = sei::build(VideoCodec::H264, s);
        assert_eq!(inspect(VideoCodec::H264, &sei).stamp, Some(s));
        assert!(inspect(VideoCodec::H264, &[0x65, 0x88]).key);
        assert!(inspect(VideoCodec::H264, &[0x7c, 0x85, 0]).key);
        assert!(!inspect(VideoCodec::H264, &[0x7c, 0x05, 0]).key);
        // STAP-A with SPS, SEI and IDR.
        let mut stap = vec![0x78];
        for n in [&[0x67u8, 1, 2][..], &sei[..], &[0x65, 9][..]] {
            stap.extend_from_slice(&(n.len() as u16).to_be_bytes());
            stap.extend_from_slice(n);
        }
        let seen = inspect(VideoCodec::H264, &stap);
        assert!(seen.key);
        assert_eq!(seen.stamp, Some(s));
        // Truncated aggregation: no panic, partial result.
        for n in 0..stap.len() {
            let _ = inspect(VideoCodec::H264, &stap[..n]);
        }
        let sei5 = sei::build(VideoCodec::H265, s);
        assert_eq!(inspect(VideoCodec::H265, &sei5).stamp, Some(s));
        assert!(inspect(VideoCodec::H265, &[19 << 1, 1, 0]).key);
        assert!(inspect(VideoCodec::H265, &[49 << 1, 1, 0x80 | 19]).key);
        assert!(!inspect(VideoCodec::H265, &[1 << 1, 1]).key);
    }
}
