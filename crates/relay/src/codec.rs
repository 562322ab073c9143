//! Looking into H.264 (RFC 6184) and H.265 (RFC 7798) RTP payloads: where
//! keyframes start and which parameter sets go by. Only headers are read; no
//! payload is copied except parameter sets, which are small and rare.

use base64::Engine as _;
use bytes::Bytes;

use crate::media::Codec;

/// Parameter sets seen in a packet.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ParamSets {
    pub vps: Option<Bytes>,
    pub sps: Option<Bytes>,
    pub pps: Option<Bytes>,
}

/// What one video packet holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inspect {
    /// It holds the start of a random access point (SPS/VPS or IDR/IRAP).
    pub key: bool,
    /// Parameter sets carried whole in it.
    pub params: ParamSets,
}

const MAX_PARAM_SET: usize = 1024;

/// Inspects one RTP payload of `codec`. Never panics on any input.
pub fn inspect(codec: Codec, payload: &Bytes) -> Inspect {
    let mut out = Inspect::default();
    match codec {
        Codec::H264 => inspect_h264(payload, &mut out),
        Codec::H265 => inspect_h265(payload, &mut out),
        _ => {}
    }
    out
}

fn h264_nal(nal: Bytes, out: &mut Inspect) {
    let Some(&h) = nal.first() else { return };
    match h & 0x1f {
        5 => out.key = true,
        7 => {
            out.key = true;
            if nal.len() <= MAX_PARAM_SET {
                out.params.sps = Some(nal);
            }
        }
        8 if nal.len() <= MAX_PARAM_SET => out.params.pps = Some(nal),
        _ => {}
    }
}

fn inspect_h264(p: &Bytes, out: &mut Inspect) {
    let Some(&h) = p.first() else { return };
    match h & 0x1f {
        1..=23 => h264_nal(p.clone(), out),
        // STAP-A: 16-bit sizes after a one-byte header.
        24 => each_aggregated(p, 1, |n| h264_nal(n, out)),
        // FU-A: the start fragment carries the original type.
        28 => {
            if let Some(&fu) = p.get(1)
                && fu & 0x80 != 0
                && fu & 0x1f == 5
            {
                out.key = true;
            }
        }
        _ => {}
    }
}

fn h265_nal(nal: Bytes, out: &mut Inspect) {
    let Some(&h) = nal.first() else { return };
    let t = (h >> 1) & 0x3f;
    match t {
        16..=21 => out.key = true,
        32 => {
            out.key = true;
            if nal.len() <= MAX_PARAM_SET {
                out.params.vps = Some(nal);
            }
        }
        33 => {
            out.key = true;
            if nal.len() <= MAX_PARAM_SET {
                out.params.sps = Some(nal);
            }
        }
        34 if nal.len() <= MAX_PARAM_SET => out.params.pps = Some(nal),
        _ => {}
    }
}

fn inspect_h265(p: &Bytes, out: &mut Inspect) {
    if p.len() < 2 {
        return;
    }
    let t = (p[0] >> 1) & 0x3f;
    match t {
        0..=47 => h265_nal(p.clone(), out),
        // Aggregation packet: two-byte header, then 16-bit sizes.
        48 => each_aggregated(p, 2, |n| h265_nal(n, out)),
        // Fragmentation unit: the FU header follows the two-byte header.
        49 => {
            if let Some(&fu) = p.get(2) {
                let ft = fu & 0x3f;
                if fu & 0x80 != 0 && (16..=21).contains(&ft) {
                    out.key = true;
                }
            }
        }
        _ => {}
    }
}

fn each_aggregated(p: &Bytes, header: usize, mut f: impl FnMut(Bytes)) {
    let mut i = header;
    while i + 2 <= p.len() {
        let n = usize::from(u16::from_be_bytes([p[i], p[i + 1]]));
        i += 2;
        if n == 0 || i + n > p.len() {
            return;
        }
        f(p.slice(i..i + n));
        i += n;
    }
}

/// Fills in or replaces the parameter sets in an fmtp line (`sprop-...`),
/// keeping every other parameter as it was. Returns the new line.
pub fn fmtp_with_params(codec: Codec, fmtp: Option<&str>, ps: &ParamSets) -> Option<String> {
    let b64 = |b: &Bytes| base64::engine::general_purpose::STANDARD.encode(b);
    let mut keep: Vec<String> = fmtp
        .unwrap_or("")
        .split(';')
        .map(str::trim)
        .filter(|kv| !kv.is_empty())
        .filter(|kv| {
            let k = kv
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            !(k.starts_with("sprop-") || (codec == Codec::H264 && k == "profile-level-id"))
        })
        .map(str::to_owned)
        .collect();
    match codec {
        Codec::H264 => {
            let (sps, pps) = (ps.sps.as_ref()?, ps.pps.as_ref()?);
            if sps.len() >= 4 {
                keep.push(format!(
                    "profile-level-id={:02X}{:02X}{:02X}",
                    sps[1], sps[2], sps[3]
                ));
            }
            if !keep.iter().any(|k| k.starts_with("packetization-mode")) {
                keep.push("packetization-mode=1".into());
            }
            keep.push(format!("sprop-parameter-sets={},{}", b64(sps), b64(pps)));
        }
        Codec::H265 => {
            let (vps, sps, pps) = (ps.vps.as_ref()?, ps.sps.as_ref()?, ps.pps.as_ref()?);
            keep.push(format!("sprop-vps={}", b64(vps)));
            keep.push(format!("sprop-sps={}", b64(sps)));
            keep.push(format!("sprop-pps={}", b64(pps)));
        }
        _ => return fmtp.map(str::to_owned),
    }
    Some(keep.join(";"))
}

/// Reads the parameter sets an fmtp line carries, if it carries usable ones.
pub fn params_from_fmtp(codec: Codec, fmtp: &str) -> ParamSets {
    let mut ps = ParamSets::default();
    let dec = |v: &str| -> Option<Bytes> {
        let v = v.trim();
        let b = base64::engine::general_purpose::STANDARD
            .decode(v)
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(v.trim_end_matches('='))
            })
            .ok()?;
        (!b.is_empty() && b.len() <= MAX_PARAM_SET).then(|| Bytes::from(b))
    };
    for kv in fmtp.split(';') {
        let mut it = kv.splitn(2, '=');
        let k = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let v = it.next().unwrap_or("");
        match (codec, k.as_str()) {
            (Codec::H264, "sprop-parameter-sets") => {
                for part in v.split(',') {
                    let Some(n) = dec(part) else { continue };
                    match n[0] & 0x1f {
                        7 => ps.sps = Some(n),
                        8 => ps.pps = Some(n),
                        _ => {}
                    }
                }
            }
            (Codec::H265, "sprop-vps") => ps.vps = dec(v.split(',').next().unwrap_or("")),
            (Codec::H265, "sprop-sps") => ps.sps = dec(v.split(',').next().unwrap_or("")),
            (Codec::H265, "sprop-pps") => ps.pps = dec(v.split(',').next().unwrap_or("")),
            _ => {}
        }
    }
    ps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[u8]) -> Bytes {
        Bytes::copy_from_slice(v)
    }

    #[test]
    fn h264_keys() {
        assert!(inspect(Codec::H264, &b(&[0x65, 1, 2])).key);
        assert!(!inspect(Codec::H264, &b(&[0x41, 1, 2])).key);
        // FU-A start of IDR
        assert!(inspect(Codec::H264, &b(&[0x7c, 0x85, 0])).key);
        // FU-A middle of IDR
        assert!(!inspect(Codec::H264, &b(&[0x7c, 0x05, 0])).key);
        // STAP-A with SPS and PPS
        let stap = b(&[0x78, 0, 4, 0x67, 0x42, 0, 0x1f, 0, 2, 0x68, 0xce]);
        let i = inspect(Codec::H264, &stap);
        assert!(i.key);
        assert_eq!(i.params.sps.as_deref(), Some(&[0x67, 0x42, 0, 0x1f][..]));
        assert_eq!(i.params.pps.as_deref(), Some(&[0x68, 0xce][..]));
    }

    #[test]
    fn h265_keys() {
        // IDR_W_RADL = 19
        assert!(inspect(Codec::H265, &b(&[19 << 1, 1, 0])).key);
        // TRAIL_R = 1
        assert!(!inspect(Codec::H265, &b(&[1 << 1, 1, 0])).key);
        // FU start with type 19
        assert!(inspect(Codec::H265, &b(&[49 << 1, 1, 0x80 | 19])).key);
        let i = inspect(Codec::H265, &b(&[32 << 1, 1, 9]));
        assert!(i.key && i.params.vps.is_some());
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64usize {
            for seed in 0..64u8 {
                let v: Vec<u8> = (0..len)
                    .map(|i| {
                        seed.wrapping_mul(31)
                            .wrapping_add((i as u8).wrapping_mul(7))
                    })
                    .collect();
                let _ = inspect(Codec::H264, &Bytes::from(v.clone()));
                let _ = inspect(Codec::H265, &Bytes::from(v));
            }
        }
        let _ = inspect(Codec::H264, &b(&[24, 0xff, 0xff, 1]));
        let _ = inspect(Codec::H265, &b(&[96, 1, 0xff, 0xff]));
    }

    #[test]
    fn fmtp_round_trip() {
        let ps = ParamSets {
            vps: None,
            sps: Some(b(&[0x67, 0x64, 0x00, 0x28, 0xac])),
            pps: Some(b(&[0x68, 0xee, 0x3c, 0x80])),
        };
        let f = fmtp_with_params(
            Codec::H264,
            Some("packetization-mode=1; profile-level-id=420029; sprop-parameter-sets=,"),
            &ps,
        )
        .unwrap();
        assert!(f.contains("profile-level-id=640028"));
        assert_eq!(f.matches("sprop-parameter-sets").count(), 1);
        assert_eq!(params_from_fmtp(Codec::H264, &f), ps);
        // Broken base64 yields nothing rather than garbage.
        assert_eq!(
            params_from_fmtp(Codec::H264, "sprop-parameter-sets=!!!,@@@"),
            ParamSets::default()
        );
    }
}

/// Picture size and codec facts read from a sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureSize {
    pub width: u32,
    pub height: u32,
}

/// Bit reader over an RBSP (emulation prevention bytes removed).
struct Bits {
    data: Vec<u8>,
    pos: usize,
}

impl Bits {
    fn new(nal_payload: &[u8]) -> Bits {
        let mut data = Vec::with_capacity(nal_payload.len());
        let mut zeros = 0;
        for &b in nal_payload {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            data.push(b);
        }
        Bits { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let b = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(u32::from(b))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.pos += n;
        (self.pos <= self.data.len() * 8).then_some(())
    }

    /// Exp-Golomb unsigned; bounded to 31 leading zeros.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        if zeros == 0 {
            return Some(0);
        }
        let rest = self.bits(zeros)?;
        Some(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        Some(if k % 2 == 1 {
            (k / 2 + 1) as i32
        } else {
            -((k / 2) as i32)
        })
    }
}

/// Width and height from an H.264 SPS NAL unit (with its header byte).
pub fn h264_sps_size(sps: &[u8]) -> Option<PictureSize> {
    let mut r = Bits::new(sps.get(1..)?);
    let profile = r.bits(8)?;
    r.skip(16)?; // constraint flags, level
    r.ue()?; // sps id
    let mut chroma = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma = r.ue()?;
        if chroma == 3 {
            r.skip(1)?;
        }
        r.ue()?;
        r.ue()?;
        r.skip(1)?;
        if r.bit()? == 1 {
            let lists = if chroma == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.skip(1)?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return None;
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.skip(1)?;
    let w_mbs = r.ue()?.checked_add(1)?;
    let h_units = r.ue()?.checked_add(1)?;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.skip(1)?;
    }
    r.skip(1)?;
    let (mut cl, mut cr, mut ct, mut cb) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        cl = r.ue()?;
        cr = r.ue()?;
        ct = r.ue()?;
        cb = r.ue()?;
    }
    let (sub_w, sub_h) = match chroma {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let crop_x = sub_w;
    let crop_y = sub_h * (2 - frame_mbs_only);
    let width = (w_mbs * 16).checked_sub((cl + cr).checked_mul(crop_x)?)?;
    let height =
        ((2 - frame_mbs_only) * h_units * 16).checked_sub((ct + cb).checked_mul(crop_y)?)?;
    (width > 0 && height > 0 && width <= 16384 && height <= 16384)
        .then_some(PictureSize { width, height })
}

/// Width and height from an H.265 SPS NAL unit (with its two header bytes).
pub fn h265_sps_size(sps: &[u8]) -> Option<PictureSize> {
    let mut r = Bits::new(sps.get(2..)?);
    r.skip(4)?; // vps id
    let max_sub_layers = r.bits(3)?;
    r.skip(1)?;
    // profile_tier_level: general part is 88 bits, then the level.
    r.skip(88)?;
    r.skip(8)?;
    let mut profile_present = [0u32; 8];
    let mut level_present = [0u32; 8];
    for i in 0..max_sub_layers as usize {
        profile_present[i] = r.bit()?;
        level_present[i] = r.bit()?;
    }
    if max_sub_layers > 0 {
        r.skip(2 * (8 - max_sub_layers as usize))?;
    }
    for i in 0..max_sub_layers as usize {
        if profile_present[i] == 1 {
            r.skip(88)?;
        }
        if level_present[i] == 1 {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps id
    let chroma = r.ue()?;
    if chroma == 3 {
        r.skip(1)?;
    }
    let mut width = r.ue()?;
    let mut height = r.ue()?;
    if r.bit()? == 1 {
        let (sub_w, sub_h) = match chroma {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let (l, rr, t, b) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        width = width.checked_sub((l + rr).checked_mul(sub_w)?)?;
        height = height.checked_sub((t + b).checked_mul(sub_h)?)?;
    }
    (width > 0 && height > 0 && width <= 16384 && height <= 16384)
        .then_some(PictureSize { width, height })
}

#[cfg(test)]
mod sps_tests {
    use super::*;

    #[test]
    fn h264_sizes() {
        // 1280x720 High profile, from an x264 stream.
        let sps = base64::engine::general_purpose::STANDARD
            .decode("Z2QAH6zZQFAFuwEQAAADABAAAAMDIPGDGWA=")
            .unwrap();
        assert_eq!(
            h264_sps_size(&sps),
            Some(PictureSize {
                width: 1280,
                height: 720
            })
        );
    }

    #[test]
    fn garbage_gives_none_not_panic() {
        for n in 0..40usize {
            let v: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            let _ = h264_sps_size(&v);
            let _ = h265_sps_size(&v);
        }
        assert_eq!(h264_sps_size(&[0x67]), None);
    }
}
