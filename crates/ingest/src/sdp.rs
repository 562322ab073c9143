//! What retina does not keep of the camera's SDP: the raw `a=fmtp` and
//! `a=rtpmap` values (retina lowercases the encoding name and drops fmtp),
//! and the direction attributes. A small tolerant line scanner, plus the
//! fmtp lines rebuilt from parsed parameters when the SDP had none.

use base64::Engine as _;

/// Direction attribute of a media section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// One `m=` section as written by the camera.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct MediaSection {
    pub media: String,
    pub fmts: Vec<String>,
    /// `(payload type, value after it)` of each `a=rtpmap`.
    pub rtpmaps: Vec<(String, String)>,
    /// `(payload type, value after it)` of each `a=fmtp`.
    pub fmtps: Vec<(String, String)>,
    pub control: Option<String>,
    pub direction: Option<Direction>,
}

impl MediaSection {
    /// The first payload type (what retina and most clients use).
    pub fn first_pt(&self) -> Option<&str> {
        self.fmts.first().map(String::as_str)
    }

    /// The fmtp of `pt`. When the section has a single payload type and a
    /// single fmtp whose payload type differs (a known camera bug), that one.
    pub fn fmtp_for(&self, pt: &str) -> Option<&str> {
        let found = self
            .fmtps
            .iter()
            .find(|(p, _)| p == pt)
            .map(|(_, v)| v.as_str());
        let v = match found {
            Some(v) => Some(v),
            None if self.fmts.len() == 1 && self.fmtps.len() == 1 => Some(self.fmtps[0].1.as_str()),
            None => None,
        };
        v.map(str::trim).filter(|v| !v.is_empty())
    }

    /// The encoding name of `pt` as the camera wrote it.
    pub fn encoding_for(&self, pt: &str) -> Option<&str> {
        self.rtpmaps
            .iter()
            .find(|(p, _)| p == pt)
            .and_then(|(_, v)| v.split('/').next())
            .map(str::trim)
            .filter(|e| !e.is_empty())
    }
}

/// Splits an SDP into its media sections. Never fails: lines that do not
/// parse are skipped.
pub(crate) fn media_sections(sdp: &[u8]) -> Vec<MediaSection> {
    let text = String::from_utf8_lossy(sdp);
    let mut out: Vec<MediaSection> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if let Some(m) = line.strip_prefix("m=") {
            let mut parts = m.split_ascii_whitespace();
            let media = parts.next().unwrap_or("").to_string();
            let _port = parts.next();
            let _proto = parts.next();
            out.push(MediaSection {
                media,
                fmts: parts.map(str::to_string).collect(),
                ..MediaSection::default()
            });
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        let Some(attr) = line.strip_prefix("a=") else {
            continue;
        };
        let (name, value) = match attr.split_once(':') {
            Some((n, v)) => (n.trim(), Some(v)),
            None => (attr.trim(), None),
        };
        match (name, value) {
            ("rtpmap", Some(v)) => {
                if let Some((pt, rest)) = v.trim().split_once(' ') {
                    cur.rtpmaps.push((pt.to_string(), rest.trim().to_string()));
                }
            }
            ("fmtp", Some(v)) => {
                let v = v.trim_start();
                match v.split_once(' ') {
                    Some((pt, rest)) => cur.fmtps.push((pt.to_string(), rest.to_string())),
                    None => cur.fmtps.push((v.trim().to_string(), String::new())),
                }
            }
            ("control", Some(v)) => cur.control = Some(v.trim().to_string()),
            ("sendrecv", None) => cur.direction = Some(Direction::SendRecv),
            ("sendonly", None) => cur.direction = Some(Direction::SendOnly),
            ("recvonly", None) => cur.direction = Some(Direction::RecvOnly),
            ("inactive", None) => cur.direction = Some(Direction::Inactive),
            _ => {}
        }
    }
    out
}

/// For each retina stream `(media, payload type)`, the index of its SDP
/// section. Retina keeps the sections it could parse, in order, so an
/// in-order match on media and payload type finds them.
pub(crate) fn match_sections(
    sections: &[MediaSection],
    streams: &[(String, u8)],
) -> Vec<Option<usize>> {
    let mut cursor = 0;
    streams
        .iter()
        .map(|(media, pt)| {
            let pt = pt.to_string();
            let found = sections[cursor.min(sections.len())..]
                .iter()
                .position(|s| s.media.eq_ignore_ascii_case(media) && s.first_pt() == Some(&pt))
                .map(|i| i + cursor);
            if let Some(i) = found {
                cursor = i + 1;
            }
            found
        })
        .collect()
}

/// True when section `i` is one the camera receives rather than sends (an
/// ONVIF audio back channel): it is `sendonly` while the camera marks its own
/// streams `recvonly` (ONVIF writes directions from the client's side).
pub(crate) fn is_back_channel(sections: &[MediaSection], i: usize) -> bool {
    sections.get(i).and_then(|s| s.direction) == Some(Direction::SendOnly)
        && sections
            .iter()
            .any(|s| s.direction == Some(Direction::RecvOnly))
}

/// Decodes one parameter set as cameras write it: base64 (padded or not),
/// maybe in quotes, maybe with Annex-B start codes around the NAL unit.
fn decode_param_set(v: &str) -> Option<Vec<u8>> {
    let v = v.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if v.is_empty() {
        return None;
    }
    let e = &base64::engine::general_purpose::STANDARD;
    let n = &base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut b = e
        .decode(v)
        .or_else(|_| n.decode(v.trim_end_matches('=')))
        .ok()?;
    // Leading start code (00 00 01 or 00 00 00 01).
    while let Some(i) = [&[0u8, 0, 0, 1][..], &[0, 0, 1][..]]
        .iter()
        .find(|sc| b.starts_with(sc))
        .map(|sc| sc.len())
    {
        b.drain(..i);
    }
    // A trailing start code, or trailing zero bytes.
    if b.ends_with(&[0, 0, 0, 1]) {
        b.truncate(b.len() - 4);
    } else if b.ends_with(&[0, 0, 1]) {
        b.truncate(b.len() - 3);
    }
    while b.last() == Some(&0) {
        b.pop();
    }
    (!b.is_empty() && b.len() <= 1024).then_some(b)
}

fn h264_type(nal: &[u8]) -> Option<u8> {
    let h = *nal.first()?;
    (h & 0x80 == 0).then_some(h & 0x1f)
}

fn h265_type(nal: &[u8]) -> Option<u8> {
    let h = *nal.first()?;
    (nal.len() >= 2 && h & 0x80 == 0).then_some((h >> 1) & 0x3f)
}

/// An fmtp line as readers should get it: `key=value` pairs joined by `;`
/// (empty and value-less parameters dropped), and for H.264/H.265 the
/// parameter sets kept only when they decode to the right NAL unit types
/// (re-encoded cleanly), with `profile-level-id` taken from a good SPS.
/// `None` when nothing is left.
pub(crate) fn clean_fmtp(encoding: &str, raw: &str) -> Option<String> {
    let enc = encoding.to_ascii_uppercase();
    let mut out: Vec<String> = Vec::new();
    let mut sprop_h264: Option<&str> = None;
    let (mut vps, mut sps, mut pps) = (None, None, None);
    let mut profile_level_id: Option<String> = None;
    for kv in raw.split(';') {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            continue;
        }
        let lk = k.to_ascii_lowercase();
        match (enc.as_str(), lk.as_str()) {
            ("H264", "sprop-parameter-sets") => sprop_h264 = Some(v),
            ("H264", "profile-level-id") => profile_level_id = Some(v.to_string()),
            ("H265" | "HEVC", "sprop-vps") => vps = Some(v),
            ("H265" | "HEVC", "sprop-sps") => sps = Some(v),
            ("H265" | "HEVC", "sprop-pps") => pps = Some(v),
            _ => out.push(format!("{k}={v}")),
        }
    }
    match enc.as_str() {
        "H264" => {
            let mut good_sps = None;
            let mut good_pps = None;
            for part in sprop_h264.unwrap_or("").split(',') {
                let Some(nal) = decode_param_set(part) else {
                    continue;
                };
                match h264_type(&nal) {
                    Some(7) if good_sps.is_none() && nal.len() >= 4 => good_sps = Some(nal),
                    Some(8) if good_pps.is_none() => good_pps = Some(nal),
                    _ => {}
                }
            }
            let plid = match &good_sps {
                Some(s) => Some(format!("{:02X}{:02X}{:02X}", s[1], s[2], s[3])),
                None => profile_level_id
                    .filter(|p| p.len() == 6 && p.bytes().all(|b| b.is_ascii_hexdigit())),
            };
            if let Some(p) = plid {
                out.push(format!("profile-level-id={p}"));
            }
            if let (Some(s), Some(p)) = (good_sps, good_pps) {
                out.push(format!("sprop-parameter-sets={},{}", b64(&s), b64(&p)));
            }
        }
        "H265" | "HEVC" => {
            let get = |v: Option<&str>, t: u8| {
                v.and_then(|v| decode_param_set(v.split(',').next().unwrap_or("")))
                    .filter(|n| h265_type(n) == Some(t))
            };
            if let (Some(v), Some(s), Some(p)) = (get(vps, 32), get(sps, 33), get(pps, 34)) {
                out.push(format!("sprop-vps={}", b64(&v)));
                out.push(format!("sprop-sps={}", b64(&s)));
                out.push(format!("sprop-pps={}", b64(&p)));
            }
        }
        _ => {}
    }
    (!out.is_empty()).then(|| out.join(";"))
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// H.264 fmtp from parsed parameter sets (RFC 6184).
pub(crate) fn h264_fmtp(sps: Option<&[u8]>, pps: Option<&[u8]>) -> String {
    let mut f = String::from("packetization-mode=1");
    if let Some(sps) = sps {
        if sps.len() >= 4 {
            f.push_str(&format!(
                ";profile-level-id={:02X}{:02X}{:02X}",
                sps[1], sps[2], sps[3]
            ));
        }
        if let Some(pps) = pps {
            f.push_str(&format!(";sprop-parameter-sets={},{}", b64(sps), b64(pps)));
        }
    }
    f
}

/// H.265 fmtp from parsed parameter sets (RFC 7798); `None` when unknown.
pub(crate) fn h265_fmtp(vps: &[u8], sps: &[u8], pps: &[u8]) -> Option<String> {
    if vps.is_empty() || sps.is_empty() || pps.is_empty() {
        return None;
    }
    Some(format!(
        "sprop-vps={};sprop-sps={};sprop-pps={}",
        b64(vps),
        b64(sps),
        b64(pps)
    ))
}

/// AAC (mpeg4-generic, RFC 3640 AAC-hbr) fmtp from an AudioSpecificConfig.
pub(crate) fn aac_fmtp(audio_specific_config: &[u8]) -> Option<String> {
    if audio_specific_config.is_empty() {
        return None;
    }
    let hex: String = audio_specific_config
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(format!(
        "streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config={hex}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\na=control:*\r\n\
m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000 \r\na=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0IA,aM4=\r\na=control:trackID=0\r\na=recvonly\r\n\
m=application/TP-LINK 0 RTP/AVP smart/1/90000\r\na=rtpmap:95 TP-LINK/90000\r\n\
m=audio 0 RTP/AVP 8\r\na=control:trackID=1\r\na=recvonly\r\n\
m=video 0 RTP/AVP 98\nA=bogus\na=fmtp:62 sprop-vps=AA\na=rtpmap:98 H265/90000\n\
m=audio 0 RTP/AVP 0 8\na=rtpmap:0 PCMU/8000\na=sendonly\n";

    #[test]
    fn sections_and_matching() {
        let s = media_sections(SDP.as_bytes());
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].encoding_for("96"), Some("H264"));
        assert_eq!(
            s[0].fmtp_for("96"),
            Some("packetization-mode=1; sprop-parameter-sets=Z0IA,aM4=")
        );
        assert_eq!(s[0].control.as_deref(), Some("trackID=0"));
        // fmtp under the wrong payload type is still taken.
        assert_eq!(s[3].fmtp_for("98"), Some("sprop-vps=AA"));
        assert_eq!(s[4].fmtp_for("0"), None);
        let streams = vec![
            ("video".to_string(), 96u8),
            ("audio".to_string(), 8),
            ("video".to_string(), 98),
            ("audio".to_string(), 0),
            ("audio".to_string(), 0),
        ];
        assert_eq!(
            match_sections(&s, &streams),
            vec![Some(0), Some(2), Some(3), Some(4), None]
        );
        assert!(is_back_channel(&s, 4));
        assert!(!is_back_channel(&s, 0));
        assert!(media_sections(b"\xff\xfe garbage").is_empty());
    }

    #[test]
    fn cleaned_fmtp() {
        // Quoted parameter sets, spaces, Baseline claimed for a High SPS.
        assert_eq!(
            clean_fmtp(
                "H264",
                "profile-level-id=676400; sprop-parameter-sets=Z2QAKqwsaoHgCJ+WbgICAgQ=\",\"aO4xshs=; packetization-mode=1"
            )
            .as_deref(),
            Some("packetization-mode=1;profile-level-id=64002A;sprop-parameter-sets=Z2QAKqwsaoHgCJ+WbgICAgQ=,aO4xshs=")
        );
        // Start codes inside the base64 are removed.
        let f = clean_fmtp(
            "h264",
            "packetization-mode=1;profile-level-id=5046314;sprop-parameter-sets=Z00AKpWoHgCJ+WbgICAgQAAAAAE=,aO48gAAAAAE=",
        )
        .unwrap();
        assert!(
            f.contains("sprop-parameter-sets=Z00AKpWoHgCJ+WbgICAgQA==,aO48gA=="),
            "{f}"
        );
        assert!(f.contains("profile-level-id=4D002A"), "{f}");
        // Garbage and SPS-only: no sprop; a well-formed profile-level-id stays.
        assert_eq!(
            clean_fmtp("H264", "packetization-mode=1;profile-level-id=00f004;sprop-parameter-sets=6QDwBE/LCAAAH0gAB1TgIAAAAAA=,AAAAAA==").as_deref(),
            Some("packetization-mode=1;profile-level-id=00f004")
        );
        assert_eq!(
            clean_fmtp(
                "H264",
                "sprop-parameter-sets=Z0IAKeKQFAe2AtwEBAaQeJEV,;packetization-mode=1"
            )
            .as_deref(),
            Some("packetization-mode=1;profile-level-id=420029")
        );
        // H.265: trailing ';', extra sprop-sei kept as a plain parameter.
        let f = clean_fmtp(
            "H265",
            "profile-id=010101;sprop-pps=RAHA8rA7NA==;sprop-sps=QgEBAWAAAAMAsAAAAwAAAwB7oAPAgBDlja7ky/NwEBAQQAAAAwBAAAAGaEA=;sprop-vps=QAEMAf//AWAAAAMAsAAAAwAAAwB7rAwAAAMABAAAAwBmqA==;sprop-sei=TgHlBMbLAACA;",
        )
        .unwrap();
        assert!(
            f.starts_with("profile-id=010101;sprop-sei=TgHlBMbLAACA;sprop-vps=QAEM"),
            "{f}"
        );
        assert!(f.contains(";sprop-pps=RAHA8rA7NA=="), "{f}");
        assert_eq!(clean_fmtp("PCMA", ""), None);
        assert_eq!(
            clean_fmtp("PCMU", "vad=no; ;junk").as_deref(),
            Some("vad=no")
        );
    }

    #[test]
    fn rebuilt_fmtp() {
        let sps = [0x67, 0x64, 0x00, 0x1f, 0xac];
        let pps = [0x68, 0xeb];
        assert_eq!(
            h264_fmtp(Some(&sps), Some(&pps)),
            "packetization-mode=1;profile-level-id=64001F;sprop-parameter-sets=Z2QAH6w=,aOs="
        );
        assert_eq!(h264_fmtp(None, None), "packetization-mode=1");
        assert_eq!(
            h265_fmtp(&[0x40], &[0x42], &[0x44]).as_deref(),
            Some("sprop-vps=QA==;sprop-sps=Qg==;sprop-pps=RA==")
        );
        assert_eq!(h265_fmtp(&[], &[0x42], &[0x44]), None);
        assert_eq!(
            aac_fmtp(&[0x11, 0x90]).as_deref(),
            Some(
                "streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1190"
            )
        );
    }
}
