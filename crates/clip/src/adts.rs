//! ADTS (Audio Data Transport Stream) parsing for AAC.
//!
//! Every read is bounds-checked: truncated or garbage input gives an
//! [`AdtsError`], never a panic.

use bytes::Bytes;

/// ADTS fixed + variable header length without CRC.
pub const HEADER_LEN: usize = 7;
/// ADTS header length when a CRC follows the header.
pub const HEADER_LEN_WITH_CRC: usize = 9;
/// Samples per channel in one AAC-LC access unit.
pub const SAMPLES_PER_FRAME: u64 = 1024;

/// Sampling frequencies by `sampling_frequency_index` (ISO/IEC 14496-3).
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Why an ADTS stream could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdtsError {
    /// The input holds no bytes at all.
    #[error("the AAC stream is empty")]
    Empty,
    /// Fewer bytes than the header or the frame needs.
    #[error("ADTS frame at byte {offset} is truncated: needs {needed} bytes, {available} left")]
    Truncated {
        /// Offset of the frame in the stream.
        offset: usize,
        /// Bytes the header or frame needs.
        needed: usize,
        /// Bytes actually left.
        available: usize,
    },
    /// The 12-bit syncword `0xFFF` is missing.
    #[error("no ADTS syncword at byte {offset}")]
    BadSync {
        /// Offset where a frame was expected.
        offset: usize,
    },
    /// The layer field must be 0.
    #[error("ADTS frame at byte {offset} has layer {layer}, expected 0")]
    BadLayer {
        /// Offset of the frame.
        offset: usize,
        /// The layer value found.
        layer: u8,
    },
    /// Sampling frequency index 13..=15 (reserved or explicit, unsupported in ADTS).
    #[error("ADTS frame at byte {offset} has invalid sampling frequency index {index}")]
    BadSampleRate {
        /// Offset of the frame.
        offset: usize,
        /// The index found.
        index: u8,
    },
    /// Channel configuration 0 (defined in-band by a PCE) is not supported.
    #[error("ADTS frame at byte {offset} has channel configuration 0 (PCE), unsupported")]
    UnsupportedChannelConfig {
        /// Offset of the frame.
        offset: usize,
    },
    /// More than one raw data block per ADTS frame is not supported.
    #[error("ADTS frame at byte {offset} carries {blocks} raw data blocks, only 1 is supported")]
    MultipleRawBlocks {
        /// Offset of the frame.
        offset: usize,
        /// Number of raw data blocks in the frame.
        blocks: u8,
    },
    /// `frame_length` is smaller than the header itself.
    #[error("ADTS frame at byte {offset} has frame_length {frame_length}, less than its header")]
    BadFrameLength {
        /// Offset of the frame.
        offset: usize,
        /// The frame length found.
        frame_length: usize,
    },
    /// Profile, sample rate or channels differ from the first frame's.
    #[error("ADTS frame at byte {offset} changes the audio configuration")]
    ConfigChanged {
        /// Offset of the frame.
        offset: usize,
    },
}

/// The fields of one ADTS header that matter to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// MPEG-4 audio object type (ADTS profile + 1; 2 = AAC-LC).
    pub object_type: u8,
    /// `sampling_frequency_index`.
    pub sample_rate_index: u8,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// `channel_configuration` (1 = mono, 2 = stereo, ...).
    pub channel_config: u8,
    /// Header length: 7, or 9 with CRC.
    pub header_len: usize,
    /// Whole frame length including the header.
    pub frame_len: usize,
}

impl AdtsHeader {
    /// Parses the ADTS header at the start of `data`; `offset` is used in errors only.
    pub fn parse(data: &[u8], offset: usize) -> Result<AdtsHeader, AdtsError> {
        let Some(h) = data.get(..HEADER_LEN) else {
            return Err(AdtsError::Truncated {
                offset,
                needed: HEADER_LEN,
                available: data.len(),
            });
        };
        if h[0] != 0xff || h[1] & 0xf0 != 0xf0 {
            return Err(AdtsError::BadSync { offset });
        }
        let layer = (h[1] >> 1) & 0x03;
        if layer != 0 {
            return Err(AdtsError::BadLayer { offset, layer });
        }
        let protection_absent = h[1] & 0x01 == 1;
        let object_type = (h[2] >> 6) + 1;
        let sample_rate_index = (h[2] >> 2) & 0x0f;
        let Some(&sample_rate) = SAMPLE_RATES.get(usize::from(sample_rate_index)) else {
            return Err(AdtsError::BadSampleRate {
                offset,
                index: sample_rate_index,
            });
        };
        let channel_config = ((h[2] & 0x01) << 2) | (h[3] >> 6);
        if channel_config == 0 {
            return Err(AdtsError::UnsupportedChannelConfig { offset });
        }
        let frame_len =
            (usize::from(h[3] & 0x03) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        let blocks = (h[6] & 0x03) + 1;
        if blocks != 1 {
            return Err(AdtsError::MultipleRawBlocks { offset, blocks });
        }
        let header_len = if protection_absent {
            HEADER_LEN
        } else {
            HEADER_LEN_WITH_CRC
        };
        if frame_len < header_len {
            return Err(AdtsError::BadFrameLength {
                offset,
                frame_length: frame_len,
            });
        }
        Ok(AdtsHeader {
            object_type,
            sample_rate_index,
            sample_rate,
            channel_config,
            header_len,
            frame_len,
        })
    }

    /// The 2-byte MPEG-4 AudioSpecificConfig for this stream
    /// (object type, sampling index, channel configuration, GASpecificConfig zeros).
    pub fn audio_specific_config(&self) -> [u8; 2] {
        let ot = self.object_type & 0x1f;
        let sr = self.sample_rate_index & 0x0f;
        let ch = self.channel_config & 0x0f;
        [(ot << 3) | (sr >> 1), ((sr & 0x01) << 7) | (ch << 3)]
    }

    fn same_config(&self, other: &AdtsHeader) -> bool {
        self.object_type == other.object_type
            && self.sample_rate_index == other.sample_rate_index
            && self.channel_config == other.channel_config
    }
}

/// Splits an ADTS stream into raw AAC access units (headers and CRC removed).
///
/// Returns the first frame's header and the access units; all frames must
/// share the first frame's configuration. The returned [`Bytes`] share
/// `data`'s buffer.
pub fn split_frames(data: &Bytes) -> Result<(AdtsHeader, Vec<Bytes>), AdtsError> {
    if data.is_empty() {
        return Err(AdtsError::Empty);
    }
    let mut first: Option<AdtsHeader> = None;
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let rest = &data[offset..];
        let h = AdtsHeader::parse(rest, offset)?;
        if rest.len() < h.frame_len {
            return Err(AdtsError::Truncated {
                offset,
                needed: h.frame_len,
                available: rest.len(),
            });
        }
        match &first {
            None => first = Some(h),
            Some(f) if !f.same_config(&h) => return Err(AdtsError::ConfigChanged { offset }),
            Some(_) => {}
        }
        frames.push(data.slice(offset + h.header_len..offset + h.frame_len));
        offset += h.frame_len;
    }
    let first = first.ok_or(AdtsError::Empty)?;
    Ok((first, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an ADTS header (no CRC) for AAC-LC with the given fields.
    fn header(sr_index: u8, channels: u8, frame_len: usize) -> [u8; 7] {
        let profile = 1u8; // LC
        let fl = frame_len as u32;
        [
            0xff,
            0xf1,
            (profile << 6) | (sr_index << 2) | (channels >> 2),
            ((channels & 0x03) << 6) | ((fl >> 11) as u8 & 0x03),
            (fl >> 3) as u8,
            (((fl & 0x07) as u8) << 5) | 0x1f,
            0xfc,
        ]
    }

    fn frame(sr_index: u8, channels: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = header(sr_index, channels, HEADER_LEN + payload.len()).to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn parses_header_and_config() {
        let h = AdtsHeader::parse(&header(3, 1, 100), 0).expect("valid header");
        assert_eq!(h.object_type, 2);
        assert_eq!(h.sample_rate, 48000);
        assert_eq!(h.channel_config, 1);
        assert_eq!(h.frame_len, 100);
        assert_eq!(h.header_len, 7);
        // AAC-LC, 48 kHz, mono.
        assert_eq!(h.audio_specific_config(), [0x11, 0x88]);
        let h = AdtsHeader::parse(&header(4, 2, 7), 0).expect("valid header");
        // AAC-LC, 44.1 kHz, stereo.
        assert_eq!(h.audio_specific_config(), [0x12, 0x10]);
    }

    #[test]
    fn splits_frames() {
        let mut data = frame(3, 1, &[1, 2, 3]);
        data.extend(frame(3, 1, &[]));
        data.extend(frame(3, 1, &[4]));
        let (h, frames) = split_frames(&Bytes::from(data)).expect("valid stream");
        assert_eq!(h.sample_rate, 48000);
        let frames: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
        assert_eq!(frames, vec![vec![1, 2, 3], vec![], vec![4]]);
    }

    #[test]
    fn skips_crc() {
        let mut data = frame(3, 1, &[0xaa, 0xbb, 9, 8]);
        data[1] &= 0xfe; // protection_absent = 0: 2 CRC bytes follow the header
        let (h, frames) = split_frames(&Bytes::from(data)).expect("valid stream");
        assert_eq!(h.header_len, 9);
        assert_eq!(&frames[0][..], &[9, 8]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(split_frames(&Bytes::new()), Err(AdtsError::Empty));
        let good = frame(3, 1, &[1, 2, 3, 4]);
        for cut in 1..good.len() {
            let err = split_frames(&Bytes::copy_from_slice(&good[..cut])).expect_err("truncated");
            assert!(
                matches!(err, AdtsError::Truncated { offset: 0, .. }),
                "{err}"
            );
        }
        let mut two = good.clone();
        two.extend_from_slice(&good[..5]);
        assert!(matches!(
            split_frames(&Bytes::from(two)),
            Err(AdtsError::Truncated { offset: 11, .. })
        ));
        let mut bad = good.clone();
        bad[0] = 0xfe;
        assert_eq!(
            split_frames(&Bytes::from(bad)),
            Err(AdtsError::BadSync { offset: 0 })
        );
        let mut bad = good.clone();
        bad[1] |= 0x02;
        assert!(matches!(
            split_frames(&Bytes::from(bad)),
            Err(AdtsError::BadLayer { .. })
        ));
        let bad = frame(13, 1, &[1]);
        assert!(matches!(
            split_frames(&Bytes::from(bad)),
            Err(AdtsError::BadSampleRate { index: 13, .. })
        ));
        let bad = frame(3, 0, &[1]);
        assert!(matches!(
            split_frames(&Bytes::from(bad)),
            Err(AdtsError::UnsupportedChannelConfig { .. })
        ));
        let bad = header(3, 1, 3);
        assert!(matches!(
            split_frames(&Bytes::copy_from_slice(&bad)),
            Err(AdtsError::BadFrameLength {
                frame_length: 3,
                ..
            })
        ));
        let mut bad = good.clone();
        bad[6] |= 0x01;
        assert!(matches!(
            split_frames(&Bytes::from(bad)),
            Err(AdtsError::MultipleRawBlocks { blocks: 2, .. })
        ));
        let mut changed = good.clone();
        changed.extend(frame(4, 1, &[1]));
        assert_eq!(
            split_frames(&Bytes::from(changed)),
            Err(AdtsError::ConfigChanged { offset: 11 })
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..5000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let mut v: Vec<u8> = state
                .to_le_bytes()
                .iter()
                .cycle()
                .take(len)
                .copied()
                .collect();
            if let Some(b) = v.get_mut(0) {
                *b = 0xff;
            }
            if let Some(b) = v.get_mut(1) {
                *b |= 0xf0;
            }
            let _ = split_frames(&Bytes::from(v));
        }
    }
}
