//! The send-time stamp carried in each video access unit: an SEI
//! `user_data_unregistered` message (payloadType 5) with our own UUID.
//!
//! H.264: NAL unit type 6. H.265: prefix SEI, NAL unit type 39. Payload after
//! the UUID: send time (ns since the UNIX epoch, CLOCK_REALTIME, big endian),
//! frame number and stream number. Emulation prevention bytes are inserted
//! on build and removed on parse, so the NAL unit is valid in any stream.

use bytes::Bytes;
use xlgw_clip::VideoCodec;

/// UUID of our SEI messages (16 ASCII bytes, no zero byte).
pub const UUID: [u8; 16] = *b"xlgw-bench-stamp";
/// SEI payloadType user_data_unregistered.
const USER_DATA_UNREGISTERED: u8 = 5;
/// Bytes of our payload: UUID, send time, frame number, stream number.
const PAYLOAD_LEN: usize = 16 + 8 + 8 + 4;

/// What a stamp says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Wall-clock send time in ns since the UNIX epoch.
    pub sent_ns: u64,
    /// Frame number within the stream, counting from 1.
    pub frame: u64,
    /// Which stream (camera) sent it.
    pub stream: u32,
}

/// Current wall-clock time in ns since the UNIX epoch.
pub fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// True for the NAL unit types that carry SEI.
pub fn is_sei_type(codec: VideoCodec, nal: &[u8]) -> bool {
    match codec {
        VideoCodec::H264 => nal.first().is_some_and(|h| h & 0x1f == 6),
        VideoCodec::H265 => nal.first().is_some_and(|h| (h >> 1) & 0x3f == 39),
    }
}

fn header_len(codec: VideoCodec) -> usize {
    match codec {
        VideoCodec::H264 => 1,
        VideoCodec::H265 => 2,
    }
}

/// The SEI NAL unit (without start code) carrying `s`.
pub fn build(codec: VideoCodec, s: Stamp) -> Bytes {
    let mut rbsp = Vec::with_capacity(PAYLOAD_LEN + 3);
    rbsp.push(USER_DATA_UNREGISTERED);
    rbsp.push(PAYLOAD_LEN as u8);
    rbsp.extend_from_slice(&UUID);
    rbsp.extend_from_slice(&s.sent_ns.to_be_bytes());
    rbsp.extend_from_slice(&s.frame.to_be_bytes());
    rbsp.extend_from_slice(&s.stream.to_be_bytes());
    rbsp.push(0x80); // rbsp_trailing_bits
    let mut nal = Vec::with_capacity(rbsp.len() + 8);
    match codec {
        VideoCodec::H264 => nal.push(0x06),
        // forbidden_zero 0, type 39, layer 0, tid 1.
        VideoCodec::H265 => nal.extend_from_slice(&[39 << 1, 0x01]),
    }
    escape_into(&rbsp, &mut nal);
    Bytes::from(nal)
}

/// Inserts emulation prevention bytes (00 00 0x → 00 00 03 0x for x ≤ 3).
fn escape_into(rbsp: &[u8], out: &mut Vec<u8>) {
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
}

/// Removes emulation prevention bytes.
fn unescape(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0;
    for &b in ebsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// Reads an SEI varint-like value (a run of 0xFF bytes plus a last byte).
fn read_ff_coded(b: &[u8], i: &mut usize) -> Option<usize> {
    let mut v = 0usize;
    loop {
        let x = *b.get(*i)?;
        *i += 1;
        v = v.checked_add(usize::from(x))?;
        if x != 0xff {
            return Some(v);
        }
    }
}

/// Our stamp, if `nal` (a whole SEI NAL unit with its header) carries one.
/// Any other SEI (e.g. the encoder's own) gives `None`. Never panics.
pub fn parse(codec: VideoCodec, nal: &[u8]) -> Option<Stamp> {
    if !is_sei_type(codec, nal) {
        return None;
    }
    let body = nal.get(header_len(codec)..)?;
    // Cheap rejection before copying: our message is the first one and
    // its type and size fit in one byte each, and the UUID has no zeros.
    if body.len() < 2 + PAYLOAD_LEN {
        return None;
    }
    if body[0] == USER_DATA_UNREGISTERED
        && usize::from(body[1]) == PAYLOAD_LEN
        && body[2..18] != UUID
    {
        return None;
    }
    let rbsp = unescape(body);
    let mut i = 0;
    while i < rbsp.len() && !(i + 1 == rbsp.len() && rbsp[i] == 0x80) {
        let typ = read_ff_coded(&rbsp, &mut i)?;
        let size = read_ff_coded(&rbsp, &mut i)?;
        let end = i.checked_add(size)?;
        let p = rbsp.get(i..end)?;
        if typ == usize::from(USER_DATA_UNREGISTERED) && size >= PAYLOAD_LEN && p[..16] == UUID {
            let u64_at = |o: usize| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&p[o..o + 8]);
                u64::from_be_bytes(a)
            };
            let mut s = [0u8; 4];
            s.copy_from_slice(&p[32..36]);
            return Some(Stamp {
                sent_ns: u64_at(16),
                frame: u64_at(24),
                stream: u32::from_be_bytes(s),
            });
        }
        i = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_emulation_prevention() {
        for codec in [VideoCodec::H264, VideoCodec::H265] {
            for s in [
                Stamp {
                    sent_ns: 0,
                    frame: 0,
                    stream: 0,
                },
                Stamp {
                    sent_ns: 1_700_000_000_000_000_000,
                    frame: 1,
                    stream: 3,
                },
                Stamp {
                    sent_ns: 0x0000_0001_0000_0302,
                    frame: 0x0300_0000_0000_0001,
                    stream: u32::MAX,
                },
            ] {
                let nal = build(codec, s);
                assert!(is_sei_type(codec, &nal));
                // No start code emulation inside the NAL unit.
                assert!(!nal.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
                assert_eq!(parse(codec, &nal), Some(s), "{codec:?} {s:?}");
            }
        }
    }

    #[test]
    fn other_sei_and_garbage_are_ignored() {
        // An x264-style SEI: type 5, size 300 (0xFF 0x2D), another UUID.
        let mut nal = vec![0x06, 5, 0xff, 0x2d];
        nal.extend(std::iter::repeat_n(0x41, 300));
        nal.push(0x80);
        assert_eq!(parse(VideoCodec::H264, &nal), None);
        // Another SEI first, then ours: found.
        let s = Stamp {
            sent_ns: 42,
            frame: 7,
            stream: 1,
        };
        let ours = build(VideoCodec::H264, s);
        let mut two = vec![0x06, 1, 2, 0xaa, 0xbb];
        two.extend_from_slice(&ours[1..]);
        assert_eq!(parse(VideoCodec::H264, &two), Some(s));
        // Truncations never panic.
        for n in 0..ours.len() {
            let _ = parse(VideoCodec::H264, &ours[..n]);
        }
        assert_eq!(parse(VideoCodec::H264, &[0x65, 1, 2]), None);
        assert_eq!(parse(VideoCodec::H265, &[0x4e]), None);
    }
}
