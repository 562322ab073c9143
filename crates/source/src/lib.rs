//! In-process looping camera sources made from test clips: the access units
//! of an [`xlgw_clip::Clip`] cut into RTP payloads (RFC 6184 H.264, RFC 7798
//! H.265, RFC 3640 AAC-hbr, RFC 3551 G.711) and paced at the clip's real
//! rate, endlessly, with continuous timestamps across loops.
//!
//! Used by the demo gateway (no external camera needed) and the benchmark's
//! camera. It must not open sockets: it yields packets; whoever uses them
//! decides where they go. The packetizer ([`Packetizer`]) is pure and
//! deterministic; only [`paced`] reads the clock.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::Stream;
use xlgw_clip::{AudioCodec, Clip, VideoCodec};
use xlgw_relay::{MediaKind, Packet, StreamInfo, Track};

/// Largest RTP payload produced.
pub const MTU_PAYLOAD: usize = 1400;

/// Track layout of every clip source: video is track 0, audio (if any) 1.
pub fn stream_info(clip: &Clip) -> StreamInfo {
    use base64::Engine as _;
    let b64 = |b: &Bytes| base64::engine::general_purpose::STANDARD.encode(b);
    let mut tracks = Vec::new();
    let (enc, fmtp) = match clip.info.video_codec {
        VideoCodec::H264 => {
            let mut f = String::from("packetization-mode=1");
            if let (Some(sps), Some(pps)) = (&clip.sps, &clip.pps) {
                if sps.len() >= 4 {
                    f.push_str(&format!(
                        ";profile-level-id={:02X}{:02X}{:02X}",
                        sps[1], sps[2], sps[3]
                    ));
                }
                f.push_str(&format!(";sprop-parameter-sets={},{}", b64(sps), b64(pps)));
            }
            ("H264", f)
        }
        VideoCodec::H265 => {
            let mut f = Vec::new();
            if let (Some(vps), Some(sps), Some(pps)) = (&clip.vps, &clip.sps, &clip.pps) {
                f.push(format!("sprop-vps={}", b64(vps)));
                f.push(format!("sprop-sps={}", b64(sps)));
                f.push(format!("sprop-pps={}", b64(pps)));
            }
            ("H265", f.join(";"))
        }
    };
    tracks.push(Track {
        kind: MediaKind::Video,
        encoding: enc.into(),
        clock_rate: 90_000,
        channels: None,
        payload_type: 96,
        fmtp: (!fmtp.is_empty()).then_some(fmtp),
        framerate: Some(f64::from(clip.info.fps)),
    });
    if let Some(a) = &clip.info.audio {
        let t = match a.codec {
            AudioCodec::Aac => Track {
                kind: MediaKind::Audio,
                encoding: "MPEG4-GENERIC".into(),
                clock_rate: a.sample_rate,
                channels: Some(a.channels),
                payload_type: 97,
                fmtp: Some(format!(
                    "streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config={}",
                    clip.aac_config
                        .as_deref()
                        .unwrap_or(&[])
                        .iter()
                        .map(|b| format!("{b:02X}"))
                        .collect::<String>()
                )),
                framerate: None,
            },
            AudioCodec::Pcma | AudioCodec::Pcmu => Track {
                kind: MediaKind::Audio,
                encoding: if a.codec == AudioCodec::Pcma {
                    "PCMA"
                } else {
                    "PCMU"
                }
                .into(),
                clock_rate: a.sample_rate,
                channels: Some(a.channels),
                payload_type: if a.codec == AudioCodec::Pcma { 8 } else { 0 },
                fmtp: None,
                framerate: None,
            },
        };
        tracks.push(t);
    }
    StreamInfo { tracks }
}

/// Cuts one video access unit (NAL units without start codes) into RTP
/// payloads; the marker goes on the last one.
pub fn packetize_video(codec: VideoCodec, nalus: &[Bytes], out: &mut Vec<(Bytes, bool)>) {
    let start = out.len();
    for nal in nalus {
        if nal.is_empty() {
            continue;
        }
        if nal.len() <= MTU_PAYLOAD {
            out.push((nal.clone(), false));
            continue;
        }
        match codec {
            VideoCodec::H264 => {
                let h = nal[0];
                let fu_ind = (h & 0xe0) | 28;
                let typ = h & 0x1f;
                let body = nal.slice(1..);
                fragment(&body, MTU_PAYLOAD - 2, out, |first, last, chunk| {
                    let mut b = BytesMut::with_capacity(chunk.len() + 2);
                    b.put_u8(fu_ind);
                    b.put_u8(typ | if first { 0x80 } else { 0 } | if last { 0x40 } else { 0 });
                    b.extend_from_slice(chunk);
                    b.freeze()
                });
            }
            VideoCodec::H265 => {
                if nal.len() < 3 {
                    out.push((nal.clone(), false));
                    continue;
                }
                let typ = (nal[0] >> 1) & 0x3f;
                let ph0 = (nal[0] & 0x81) | (49 << 1);
                let ph1 = nal[1];
                let body = nal.slice(2..);
                fragment(&body, MTU_PAYLOAD - 3, out, |first, last, chunk| {
                    let mut b = BytesMut::with_capacity(chunk.len() + 3);
                    b.put_u8(ph0);
                    b.put_u8(ph1);
                    b.put_u8(typ | if first { 0x80 } else { 0 } | if last { 0x40 } else { 0 });
                    b.extend_from_slice(chunk);
                    b.freeze()
                });
            }
        }
    }
    if out.len() > start
        && let Some(last) = out.last_mut()
    {
        last.1 = true;
    }
}

fn fragment(
    body: &Bytes,
    max: usize,
    out: &mut Vec<(Bytes, bool)>,
    mut make: impl FnMut(bool, bool, &[u8]) -> Bytes,
) {
    let n = body.len().div_ceil(max).max(1);
    for (i, chunk) in body.chunks(max).enumerate() {
        out.push((make(i == 0, i + 1 == n, chunk), false));
    }
}

/// One AAC access unit as an RFC 3640 AAC-hbr payload (one AU header).
pub fn packetize_aac(au: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(au.len() + 4);
    b.put_u16(16);
    b.put_u16(((au.len() as u16) & 0x1fff) << 3);
    b.extend_from_slice(au);
    b.freeze()
}

/// One timed packet of a source, before it reaches the relay.
#[derive(Debug, Clone)]
pub struct Timed {
    /// When it is due, from the start of the source.
    pub at: Duration,
    pub packet: Packet,
}

/// Turns a clip into an endless sequence of timed RTP packets.
pub struct Packetizer {
    clip: Arc<Clip>,
    base_ts: [u32; 2],
    seq: [u16; 2],
    loop_no: u64,
    vi: usize,
    ai: usize,
    pending: std::collections::VecDeque<Timed>,
    scratch: Vec<(Bytes, bool)>,
    /// Optional hook that may add NAL units to a frame before it is cut
    /// (the benchmark stamps send times this way).
    stamp: Option<Box<dyn FnMut(Duration) -> Option<Bytes> + Send>>,
}

impl std::fmt::Debug for Packetizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packetizer")
            .field("loop_no", &self.loop_no)
            .finish_non_exhaustive()
    }
}

impl Packetizer {
    pub fn new(clip: Arc<Clip>, base_ts: [u32; 2], seq: [u16; 2]) -> Packetizer {
        Packetizer {
            clip,
            base_ts,
            seq,
            loop_no: 0,
            vi: 0,
            ai: 0,
            pending: Default::default(),
            scratch: Vec::new(),
            stamp: None,
        }
    }

    /// Adds a NAL unit from `f(due time)` in front of each video frame's
    /// slices (after parameter sets).
    pub fn with_stamp(mut self, f: impl FnMut(Duration) -> Option<Bytes> + Send + 'static) -> Self {
        self.stamp = Some(Box::new(f));
        self
    }

    fn loop_len(&self) -> Duration {
        Duration::from_nanos(self.clip.duration_90k * 1_000_000_000 / 90_000)
    }

    /// The next packet in time order.
    pub fn next_packet(&mut self) -> Option<Timed> {
        if self.clip.video.is_empty() {
            return None;
        }
        while self.pending.is_empty() {
            self.fill();
        }
        self.pending.pop_front()
    }

    fn fill(&mut self) {
        let clip = self.clip.clone();
        let loop_len = self.loop_len();
        let loop_start = loop_len * self.loop_no as u32;
        let rate = clip
            .info
            .audio
            .as_ref()
            .map_or(8000, |a| u64::from(a.sample_rate));
        let vdue = self
            .clip
            .video
            .get(self.vi)
            .map(|f| loop_start + Duration::from_nanos(f.pts * 1_000_000_000 / 90_000));
        let adue = clip.audio.get(self.ai).and_then(|f| {
            let d = Duration::from_nanos(f.pts * 1_000_000_000 / rate);
            (d < loop_len).then_some(loop_start + d)
        });
        match (vdue, adue) {
            (None, None) => {
                self.loop_no += 1;
                self.vi = 0;
                self.ai = 0;
            }
            (Some(v), a) if a.is_none_or(|a| v <= a) => {
                let f = &clip.video[self.vi];
                self.vi += 1;
                let ts =
                    self.base_ts[0].wrapping_add((self.loop_no * clip.duration_90k + f.pts) as u32);
                self.scratch.clear();
                let extra = self.stamp.as_mut().and_then(|s| s(v));
                match extra {
                    Some(nal) => {
                        let mut nalus: Vec<Bytes> = Vec::with_capacity(f.nalus.len() + 1);
                        let is_ps = |n: &Bytes| {
                            let t = match clip.info.video_codec {
                                VideoCodec::H264 => n.first().map(|h| h & 0x1f),
                                VideoCodec::H265 => n.first().map(|h| (h >> 1) & 0x3f),
                            };
                            matches!(
                                (clip.info.video_codec, t),
                                (VideoCodec::H264, Some(7..=9)) | (VideoCodec::H265, Some(32..=35))
                            )
                        };
                        let split = f.nalus.iter().take_while(|n| is_ps(n)).count();
                        nalus.extend(f.nalus[..split].iter().cloned());
                        nalus.push(nal);
                        nalus.extend(f.nalus[split..].iter().cloned());
                        packetize_video(clip.info.video_codec, &nalus, &mut self.scratch);
                    }
                    None => packetize_video(clip.info.video_codec, &f.nalus, &mut self.scratch),
                }
                for (payload, marker) in self.scratch.drain(..) {
                    let seq = self.seq[0];
                    self.seq[0] = seq.wrapping_add(1);
                    self.pending.push_back(Timed {
                        at: v,
                        packet: Packet::new(0, seq, ts, marker, payload),
                    });
                }
            }
            (Some(_), None) => {}
            (_, Some(a)) => {
                let f = &clip.audio[self.ai];
                self.ai += 1;
                let loop_ticks = loop_len.as_nanos() as u64 * rate / 1_000_000_000;
                let ts = self.base_ts[1].wrapping_add((self.loop_no * loop_ticks + f.pts) as u32);
                let (payload, marker) = match clip.info.audio.as_ref().map(|a| a.codec) {
                    Some(AudioCodec::Aac) => (packetize_aac(&f.data), true),
                    _ => (f.data.clone(), false),
                };
                let seq = self.seq[1];
                self.seq[1] = seq.wrapping_add(1);
                self.pending.push_back(Timed {
                    at: a,
                    packet: Packet::new(1, seq, ts, marker, payload),
                });
            }
        }
    }
}

/// The packetizer as a stream paced in real time: each packet is yielded
/// when it is due (frames in one burst, as cameras send them).
pub fn paced(mut p: Packetizer) -> impl Stream<Item = Packet> + Send + 'static {
    let start = tokio::time::Instant::now();
    futures::stream::unfold((), move |()| {
        let next = p.next_packet();
        async move {
            let t = next?;
            tokio::time::sleep_until(start + t.at).await;
            Some((t.packet, ()))
        }
    })
}

#[cfg(test)]
mod tests;
