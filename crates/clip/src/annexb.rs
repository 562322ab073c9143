//! Annex-B byte stream parsing: start codes, NAL unit headers and grouping of
//! NAL units into access units (one coded picture each).

use bytes::Bytes;

use crate::VideoCodec;

/// Why an Annex-B stream could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnexBError {
    /// The input holds no bytes at all.
    #[error("the video stream is empty")]
    Empty,
    /// No `00 00 01` start code anywhere in the input.
    #[error("no Annex-B start code found")]
    NoStartCode,
    /// Non-zero bytes before the first start code.
    #[error("{len} bytes of non-zero data before the first start code")]
    GarbageBeforeStartCode {
        /// Number of bytes before the first start code.
        len: usize,
    },
    /// A NAL unit is shorter than its header (or the slice header bits we read).
    #[error("NAL unit at byte {offset} is too short ({len} bytes)")]
    NalTooShort {
        /// Offset of the NAL unit's first byte in the stream.
        offset: usize,
        /// Length of the NAL unit.
        len: usize,
    },
    /// The NAL header's forbidden_zero_bit is set: not a valid stream.
    #[error("NAL unit at byte {offset} has forbidden_zero_bit set")]
    ForbiddenBit {
        /// Offset of the NAL unit's first byte in the stream.
        offset: usize,
    },
    /// The stream holds parameter sets or SEI but no coded picture.
    #[error("the video stream contains no coded picture")]
    NoPictures,
}

/// One NAL unit found in a byte stream, without its start code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NalUnit {
    /// Offset of the first byte (the NAL header) in the input.
    pub offset: usize,
    /// The NAL unit bytes (header included, emulation prevention kept).
    pub data: Bytes,
}

/// One access unit: the NAL units of one coded picture, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// True when the picture is an IDR (H.264) or IRAP (H.265) picture.
    pub keyframe: bool,
    /// The NAL units, without start codes.
    pub nalus: Vec<Bytes>,
}

/// Splits an Annex-B byte stream into NAL units.
///
/// Accepts 3- and 4-byte start codes; leading and trailing zero bytes around
/// NAL units (`leading_zero_8bits`, `trailing_zero_8bits`) are dropped, as are
/// empty NAL units. The returned [`Bytes`] share `data`'s buffer.
pub fn split_nal_units(data: &Bytes) -> Result<Vec<NalUnit>, AnnexBError> {
    if data.is_empty() {
        return Err(AnnexBError::Empty);
    }
    let starts = find_start_codes(data);
    let Some(&(first, _)) = starts.first() else {
        return Err(AnnexBError::NoStartCode);
    };
    if data[..first].iter().any(|&b| b != 0) {
        return Err(AnnexBError::GarbageBeforeStartCode { len: first });
    }
    let mut out = Vec::with_capacity(starts.len());
    for (i, &(_, payload_start)) in starts.iter().enumerate() {
        let next = starts.get(i + 1).map_or(data.len(), |&(s, _)| s);
        let mut end = next;
        while end > payload_start && data[end - 1] == 0 {
            end -= 1;
        }
        if end > payload_start {
            out.push(NalUnit {
                offset: payload_start,
                data: data.slice(payload_start..end),
            });
        }
    }
    Ok(out)
}

/// Returns `(start_code_offset, payload_offset)` for every `00 00 01`.
fn find_start_codes(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        let b2 = data[i + 2];
        if b2 > 1 {
            // No start code can begin at i, i+1 or i+2 ending here.
            i += 3;
        } else if b2 == 1 && data[i] == 0 && data[i + 1] == 0 {
            out.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// The NAL unit type of an H.264 or H.265 NAL unit (0 for an empty slice).
pub fn nal_type(codec: VideoCodec, nal: &[u8]) -> u8 {
    match (codec, nal.first()) {
        (_, None) => 0,
        (VideoCodec::H264, Some(b)) => b & 0x1f,
        (VideoCodec::H265, Some(b)) => (b >> 1) & 0x3f,
    }
}

/// What the access-unit splitter needs to know about one NAL unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NalClass {
    /// Carries slice data of a coded picture.
    vcl: bool,
    /// Is the first slice of a picture (only meaningful when `vcl`).
    first_slice: bool,
    /// A non-VCL type that can only appear before the first slice of an
    /// access unit (so it starts a new AU if the current one has a picture).
    au_prefix: bool,
    /// An IDR (H.264) / IRAP (H.265) slice.
    key: bool,
}

fn classify(codec: VideoCodec, nal: &NalUnit) -> Result<NalClass, AnnexBError> {
    let d = &nal.data;
    let header_len = match codec {
        VideoCodec::H264 => 1,
        VideoCodec::H265 => 2,
    };
    let too_short = || AnnexBError::NalTooShort {
        offset: nal.offset,
        len: d.len(),
    };
    if d.len() < header_len {
        return Err(too_short());
    }
    if d[0] & 0x80 != 0 {
        return Err(AnnexBError::ForbiddenBit { offset: nal.offset });
    }
    let t = nal_type(codec, d);
    let mut class = NalClass {
        vcl: false,
        first_slice: false,
        au_prefix: false,
        key: false,
    };
    match codec {
        VideoCodec::H264 => match t {
            1..=5 => {
                class.vcl = true;
                class.key = t == 5;
                // Partitions B and C (3, 4) start with slice_id, never a new picture.
                if matches!(t, 1 | 2 | 5) {
                    // first_mb_in_slice is ue(v): value 0 is coded as the single bit '1'.
                    let b = *d.get(1).ok_or_else(too_short)?;
                    class.first_slice = b & 0x80 != 0;
                }
            }
            // SEI, SPS, PPS, AUD, and types 14..=18 (prefix NAL, subset SPS, ...).
            6..=9 | 14..=18 => class.au_prefix = true,
            _ => {}
        },
        VideoCodec::H265 => match t {
            0..=31 => {
                class.vcl = true;
                class.key = (16..=21).contains(&t);
                // first_slice_segment_in_pic_flag is the first bit after the header.
                let b = *d.get(2).ok_or_else(too_short)?;
                class.first_slice = b & 0x80 != 0;
            }
            // VPS, SPS, PPS, AUD, prefix SEI, reserved 41..=44, unspecified 48..=55.
            32..=35 | 39 | 41..=44 | 48..=55 => class.au_prefix = true,
            _ => {}
        },
    }
    Ok(class)
}

/// Groups NAL units into access units.
///
/// A new access unit starts, once the current one holds a picture, at a
/// parameter set, AUD, (prefix) SEI or at the first slice of a picture.
/// Keyframe = the AU holds an IDR (H.264 type 5) / IRAP (H.265 types 16..=21)
/// slice. Trailing NAL units that belong to no picture are dropped.
pub fn group_access_units(
    codec: VideoCodec,
    nalus: Vec<NalUnit>,
) -> Result<Vec<AccessUnit>, AnnexBError> {
    let mut out = Vec::new();
    let mut cur: Vec<Bytes> = Vec::new();
    let mut cur_has_vcl = false;
    let mut cur_key = false;
    for nal in nalus {
        let class = classify(codec, &nal)?;
        let starts_new = class.au_prefix || (class.vcl && class.first_slice);
        if cur_has_vcl && starts_new {
            out.push(AccessUnit {
                keyframe: cur_key,
                nalus: std::mem::take(&mut cur),
            });
            cur_has_vcl = false;
            cur_key = false;
        }
        cur_has_vcl |= class.vcl;
        cur_key |= class.key;
        cur.push(nal.data);
    }
    if cur_has_vcl {
        out.push(AccessUnit {
            keyframe: cur_key,
            nalus: cur,
        });
    } else if !cur.is_empty() {
        tracing::warn!(
            count = cur.len(),
            "dropping NAL units after the last coded picture"
        );
    }
    if out.is_empty() {
        return Err(AnnexBError::NoPictures);
    }
    Ok(out)
}

/// Splits an Annex-B stream into access units (see [`split_nal_units`] and
/// [`group_access_units`]).
pub fn parse_access_units(codec: VideoCodec, data: &Bytes) -> Result<Vec<AccessUnit>, AnnexBError> {
    group_access_units(codec, split_nal_units(data)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nal_bytes(v: &[NalUnit]) -> Vec<Vec<u8>> {
        v.iter().map(|n| n.data.to_vec()).collect()
    }

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let data = Bytes::from_static(&[
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 0x88, 4,
        ]);
        let nalus = split_nal_units(&data).expect("valid stream");
        assert_eq!(
            nal_bytes(&nalus),
            vec![vec![0x67, 1, 2], vec![0x68, 3], vec![0x65, 0x88, 4]]
        );
        assert_eq!(nalus[0].offset, 4);
        assert_eq!(nalus[1].offset, 10);
        assert_eq!(nalus[2].offset, 17);
    }

    #[test]
    fn skips_empty_nal_units_and_trailing_zeros() {
        let data = Bytes::from_static(&[0, 0, 1, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 0]);
        let nalus = split_nal_units(&data).expect("valid stream");
        assert_eq!(nal_bytes(&nalus), vec![vec![0x09, 0xf0]]);
    }

    #[test]
    fn rejects_bad_streams() {
        assert_eq!(split_nal_units(&Bytes::new()), Err(AnnexBError::Empty));
        assert_eq!(
            split_nal_units(&Bytes::from_static(&[1, 2, 3, 4])),
            Err(AnnexBError::NoStartCode)
        );
        assert_eq!(
            split_nal_units(&Bytes::from_static(&[0, 7, 0, 0, 1, 0x67])),
            Err(AnnexBError::GarbageBeforeStartCode { len: 2 })
        );
        // A start code with nothing after it: no NAL units, so no pictures.
        assert_eq!(
            parse_access_units(VideoCodec::H264, &Bytes::from_static(&[0, 0, 1])),
            Err(AnnexBError::NoPictures)
        );
        assert_eq!(
            parse_access_units(
                VideoCodec::H264,
                &Bytes::from_static(&[0, 0, 1, 0xe5, 0x88])
            ),
            Err(AnnexBError::ForbiddenBit { offset: 3 })
        );
        assert_eq!(
            parse_access_units(VideoCodec::H264, &Bytes::from_static(&[0, 0, 1, 0x65])),
            Err(AnnexBError::NalTooShort { offset: 3, len: 1 })
        );
        assert_eq!(
            parse_access_units(
                VideoCodec::H265,
                &Bytes::from_static(&[0, 0, 1, 0x26, 0x01])
            ),
            Err(AnnexBError::NalTooShort { offset: 3, len: 2 })
        );
    }

    fn annexb(nalus: &[&[u8]]) -> Bytes {
        let mut v = Vec::new();
        for n in nalus {
            v.extend_from_slice(&[0, 0, 0, 1]);
            v.extend_from_slice(n);
        }
        Bytes::from(v)
    }

    #[test]
    fn groups_h264_access_units() {
        let aud: &[u8] = &[0x09, 0x10];
        let sps: &[u8] = &[0x67, 0x64, 0x00, 0x28];
        let pps: &[u8] = &[0x68, 0xee];
        let sei: &[u8] = &[0x06, 0x05, 0x01];
        let idr_first: &[u8] = &[0x65, 0x88, 0x01];
        let idr_second_slice: &[u8] = &[0x65, 0x40, 0x02]; // first_mb != 0
        let p_first: &[u8] = &[0x41, 0x9a, 0x03];
        let p_no_aud: &[u8] = &[0x41, 0x9b, 0x04];
        let data = annexb(&[
            aud,
            sps,
            pps,
            sei,
            idr_first,
            idr_second_slice,
            aud,
            p_first,
            p_no_aud,
        ]);
        let aus = parse_access_units(VideoCodec::H264, &data).expect("valid stream");
        assert_eq!(aus.len(), 3);
        assert!(aus[0].keyframe);
        assert_eq!(aus[0].nalus.len(), 6);
        assert_eq!(&aus[0].nalus[1][..], sps);
        assert!(!aus[1].keyframe);
        assert_eq!(aus[1].nalus.len(), 2);
        assert_eq!(aus[2].nalus.len(), 1);
        assert_eq!(&aus[2].nalus[0][..], p_no_aud);
    }

    #[test]
    fn groups_h265_access_units() {
        let aud: &[u8] = &[0x46, 0x01, 0x10];
        let vps: &[u8] = &[0x40, 0x01, 0x0c];
        let sps: &[u8] = &[0x42, 0x01, 0x01];
        let pps: &[u8] = &[0x44, 0x01, 0xc1];
        let idr: &[u8] = &[0x26, 0x01, 0xaf]; // IDR_W_RADL (19), first slice
        let idr2: &[u8] = &[0x26, 0x01, 0x2f]; // second slice segment
        let suffix_sei: &[u8] = &[0x50, 0x01, 0x05];
        let trail: &[u8] = &[0x02, 0x01, 0xd0]; // TRAIL_R, first slice
        let data = annexb(&[aud, vps, sps, pps, idr, idr2, suffix_sei, trail, trail]);
        let aus = parse_access_units(VideoCodec::H265, &data).expect("valid stream");
        assert_eq!(aus.len(), 3);
        assert!(aus[0].keyframe);
        assert_eq!(aus[0].nalus.len(), 7);
        assert!(!aus[1].keyframe);
        assert!(!aus[2].keyframe);
        assert_eq!(nal_type(VideoCodec::H265, &aus[0].nalus[1]), 32);
    }

    #[test]
    fn drops_trailing_parameter_sets() {
        let data = annexb(&[&[0x65, 0x88], &[0x67, 0x64]]);
        let aus = parse_access_units(VideoCodec::H264, &data).expect("valid stream");
        assert_eq!(aus.len(), 1);
        assert_eq!(aus[0].nalus.len(), 1);
    }

    /// Small deterministic generator so the garbage test needs no dependency.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn garbage_and_truncation_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for round in 0..2000 {
            let len = (xorshift(&mut seed) % 64) as usize;
            let mut v: Vec<u8> = (0..len)
                .map(|_| {
                    // Bias towards 0 and 1 so start codes actually occur.
                    match xorshift(&mut seed) % 4 {
                        0 | 1 => 0,
                        2 => 1,
                        _ => xorshift(&mut seed) as u8,
                    }
                })
                .collect();
            if round % 2 == 0 {
                v.splice(0..0, [0, 0, 1]);
            }
            let data = Bytes::from(v);
            for codec in [VideoCodec::H264, VideoCodec::H265] {
                for cut in 0..=data.len() {
                    let _ = parse_access_units(codec, &data.slice(..cut));
                }
            }
        }
    }
}
