//! Reads a test clip (see `test-streams/README.md`) into timed access units.
//!
//! A clip is a directory with `clip.toml`, an Annex-B video elementary stream
//! (`video.h264` / `video.h265`) and optionally audio (`audio.aac` as ADTS,
//! `audio.alaw` / `audio.ulaw` as raw G.711). [`Clip::load`] reads such a
//! directory; [`Clip::from_parts`] / [`Clip::from_bytes`] parse the same data
//! from memory (for `include_bytes!`).
//!
//! This crate must not do any I/O beyond reading the clip files: no
//! networking, no GStreamer, no clocks. It only parses and validates.

pub mod adts;
pub mod annexb;

use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Deserialize;

pub use adts::AdtsError;
pub use annexb::AnnexBError;

/// The 90 kHz clock of video timestamps.
pub const VIDEO_CLOCK_RATE: u64 = 90_000;
/// Largest `clip.toml` accepted.
pub const MAX_TOML_BYTES: u64 = 64 * 1024;
/// Largest video file accepted.
pub const MAX_VIDEO_BYTES: u64 = 256 * 1024 * 1024;
/// Largest audio file accepted.
pub const MAX_AUDIO_BYTES: u64 = 64 * 1024 * 1024;
/// Duration of one G.711 audio frame in milliseconds.
pub const G711_FRAME_MS: u32 = 20;

/// Video codec of a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
}

impl VideoCodec {
    /// Name as written in `clip.toml` (`h264`, `h265`).
    pub fn as_str(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::H265 => "h265",
        }
    }

    /// File name of the elementary stream in a clip directory.
    pub fn file_name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "video.h264",
            VideoCodec::H265 => "video.h265",
        }
    }
}

/// Audio codec of a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioCodec {
    /// AAC (ADTS in the file, raw access units in [`AudioFrame`]).
    Aac,
    /// G.711 A-law.
    Pcma,
    /// G.711 µ-law.
    Pcmu,
}

impl AudioCodec {
    /// Name as written in `clip.toml` (`aac`, `pcma`, `pcmu`).
    pub fn as_str(self) -> &'static str {
        match self {
            AudioCodec::Aac => "aac",
            AudioCodec::Pcma => "pcma",
            AudioCodec::Pcmu => "pcmu",
        }
    }

    /// File name of the audio stream in a clip directory.
    pub fn file_name(self) -> &'static str {
        match self {
            AudioCodec::Aac => "audio.aac",
            AudioCodec::Pcma => "audio.alaw",
            AudioCodec::Pcmu => "audio.ulaw",
        }
    }
}

/// Audio stream parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioInfo {
    /// Codec.
    pub codec: AudioCodec,
    /// Sample rate in Hz (also the unit of [`AudioFrame::pts`]).
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u16,
}

/// What `clip.toml` says about a clip, checked against the streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipInfo {
    /// Video codec.
    pub video_codec: VideoCodec,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second (constant).
    pub fps: u32,
    /// Audio stream, if the clip has one.
    pub audio: Option<AudioInfo>,
}

/// One video access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Presentation (= decode) time in 90 kHz ticks from the clip start.
    pub pts: u64,
    /// True for IDR (H.264) / IRAP (H.265) pictures.
    pub keyframe: bool,
    /// NAL units without start codes, in stream order (parameter sets first on keyframes).
    pub nalus: Vec<Bytes>,
}

impl VideoFrame {
    /// Total payload bytes of the NAL units (without start codes).
    pub fn byte_len(&self) -> usize {
        self.nalus.iter().map(Bytes::len).sum()
    }
}

/// One audio frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// Time of the first sample, in ticks of the audio sample rate from the clip start.
    pub pts: u64,
    /// AAC: one raw access unit without ADTS header. G.711: a 20 ms chunk.
    pub data: Bytes,
}

/// A parsed clip.
#[derive(Debug, Clone)]
pub struct Clip {
    /// Description from `clip.toml`.
    pub info: ClipInfo,
    /// Video access units in order; the first is a keyframe.
    pub video: Vec<VideoFrame>,
    /// Audio frames in order (empty without audio).
    pub audio: Vec<AudioFrame>,
    /// Length of one loop in 90 kHz ticks (`frames * 90000 / fps`).
    pub duration_90k: u64,
    /// Length of the audio in audio-rate ticks.
    pub audio_duration: u64,
    /// AAC AudioSpecificConfig (2 bytes) derived from the ADTS header.
    pub aac_config: Option<Vec<u8>>,
    /// First SPS found (without start code).
    pub sps: Option<Bytes>,
    /// First PPS found (without start code).
    pub pps: Option<Bytes>,
    /// First VPS found (H.265 only, without start code).
    pub vps: Option<Bytes>,
}

/// Why a clip could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file exceeds the size limit for its kind.
    #[error("{path} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// `clip.toml` is not valid TOML or has unknown / mistyped fields.
    #[error("invalid clip.toml: {0}")]
    Toml(#[from] toml::de::Error),
    /// `clip.toml` parses but holds an invalid value.
    #[error("invalid clip.toml: {0}")]
    Info(String),
    /// The video stream is malformed.
    #[error("video stream: {0}")]
    Video(#[from] AnnexBError),
    /// The AAC stream is malformed.
    #[error("AAC stream: {0}")]
    Adts(#[from] AdtsError),
    /// `clip.toml` declares audio but no audio data was given.
    #[error("clip.toml declares audio_codec {0} but there is no audio data")]
    MissingAudio(&'static str),
    /// Audio data was given but `clip.toml` declares no audio codec.
    #[error("audio data given but clip.toml declares no audio_codec")]
    UnexpectedAudio,
    /// The audio stream contradicts `clip.toml`.
    #[error("audio {what}: clip.toml says {declared}, the stream has {found}")]
    AudioMismatch {
        /// Which parameter.
        what: &'static str,
        /// Value in `clip.toml`.
        declared: u32,
        /// Value in the stream.
        found: u32,
    },
    /// Raw G.711 data that is not a whole number of samples for all channels.
    #[error("G.711 audio of {len} bytes is not a whole number of {channels}-channel samples")]
    PartialSample {
        /// Length of the audio data.
        len: usize,
        /// Channels declared.
        channels: u16,
    },
    /// Number of frames differs from `frames` in `clip.toml`.
    #[error("clip.toml says {declared} frames, the video stream has {found}")]
    FrameCount {
        /// Value in `clip.toml`.
        declared: u32,
        /// Frames found.
        found: usize,
    },
    /// The first access unit is not a keyframe, so the clip cannot start or loop.
    #[error("the first video frame is not a keyframe")]
    FirstFrameNotKeyframe,
    /// Keyframes are not exactly every `gop` frames as `clip.toml` says.
    #[error("clip.toml says gop = {gop}, but frame {frame} {problem}")]
    GopMismatch {
        /// GOP length from `clip.toml`.
        gop: u32,
        /// Index of the offending frame.
        frame: usize,
        /// "is a keyframe" / "is not a keyframe".
        problem: &'static str,
    },
    /// A keyframe lacks the parameter sets needed to decode it.
    #[error("no {0} found in the video stream")]
    MissingParameterSet(&'static str),
}

/// `clip.toml` as written on disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClipToml {
    video_codec: VideoCodec,
    width: u32,
    height: u32,
    fps: u32,
    frames: Option<u32>,
    gop: Option<u32>,
    audio_codec: Option<AudioCodec>,
    audio_rate: Option<u32>,
    audio_channels: Option<u16>,
    description: Option<String>,
}

impl Clip {
    /// Loads a clip directory: `clip.toml`, the video file named after its
    /// codec and, if `clip.toml` declares audio, the audio file.
    pub fn load(dir: &Path) -> Result<Clip, ClipError> {
        let toml_path = dir.join("clip.toml");
        let toml_bytes = read_limited(&toml_path, MAX_TOML_BYTES)?;
        let toml_text = String::from_utf8(toml_bytes)
            .map_err(|_| ClipError::Info("clip.toml is not UTF-8".to_owned()))?;
        let desc: ClipToml = toml::from_str(&toml_text)?;
        let video = read_limited(&dir.join(desc.video_codec.file_name()), MAX_VIDEO_BYTES)?;
        let audio = match desc.audio_codec {
            Some(codec) => Some(Bytes::from(read_limited(
                &dir.join(codec.file_name()),
                MAX_AUDIO_BYTES,
            )?)),
            None => None,
        };
        let clip = Clip::build(desc, Bytes::from(video), audio)?;
        tracing::debug!(
            dir = %dir.display(),
            frames = clip.video.len(),
            audio_frames = clip.audio.len(),
            "loaded clip"
        );
        Ok(clip)
    }

    /// Parses a clip from memory: the text of `clip.toml`, the video
    /// elementary stream and the audio stream (copied once into shared buffers).
    pub fn from_parts(
        clip_toml: &str,
        video: &[u8],
        audio: Option<&[u8]>,
    ) -> Result<Clip, ClipError> {
        Clip::from_bytes(
            clip_toml,
            Bytes::copy_from_slice(video),
            audio.map(Bytes::copy_from_slice),
        )
    }

    /// Like [`Clip::from_parts`] without copying: frames share the given
    /// buffers (e.g. `Bytes::from_static(include_bytes!(...))`).
    pub fn from_bytes(
        clip_toml: &str,
        video: Bytes,
        audio: Option<Bytes>,
    ) -> Result<Clip, ClipError> {
        let desc: ClipToml = toml::from_str(clip_toml)?;
        Clip::build(desc, video, audio)
    }

    fn build(desc: ClipToml, video: Bytes, audio: Option<Bytes>) -> Result<Clip, ClipError> {
        if desc.fps == 0 || desc.fps > 1000 {
            return Err(ClipError::Info(format!(
                "fps {} out of range 1..=1000",
                desc.fps
            )));
        }
        if desc.width == 0 || desc.height == 0 || desc.width > 16384 || desc.height > 16384 {
            return Err(ClipError::Info(format!(
                "picture size {}x{} out of range",
                desc.width, desc.height
            )));
        }
        if desc.gop == Some(0) {
            return Err(ClipError::Info("gop must be at least 1".to_owned()));
        }
        if let Some(d) = &desc.description {
            tracing::trace!(description = %d, "clip description");
        }

        let codec = desc.video_codec;
        let aus = annexb::parse_access_units(codec, &video)?;
        if let Some(declared) = desc
            .frames
            .filter(|&d| usize::try_from(d).ok() != Some(aus.len()))
        {
            return Err(ClipError::FrameCount {
                declared,
                found: aus.len(),
            });
        }
        let fps = u64::from(desc.fps);
        let video_frames: Vec<VideoFrame> = aus
            .into_iter()
            .enumerate()
            .map(|(i, au)| VideoFrame {
                pts: i as u64 * VIDEO_CLOCK_RATE / fps,
                keyframe: au.keyframe,
                nalus: au.nalus,
            })
            .collect();
        check_keyframes(&video_frames, desc.gop)?;
        let (vps, sps, pps) = find_parameter_sets(codec, &video_frames);
        if sps.is_none() {
            return Err(ClipError::MissingParameterSet("SPS"));
        }
        if pps.is_none() {
            return Err(ClipError::MissingParameterSet("PPS"));
        }
        if codec == VideoCodec::H265 && vps.is_none() {
            return Err(ClipError::MissingParameterSet("VPS"));
        }
        let duration_90k = video_frames.len() as u64 * VIDEO_CLOCK_RATE / fps;

        let (audio_info, audio_frames, audio_duration, aac_config) = match (desc.audio_codec, audio)
        {
            (None, None) => (None, Vec::new(), 0, None),
            (None, Some(_)) => return Err(ClipError::UnexpectedAudio),
            (Some(c), None) => return Err(ClipError::MissingAudio(c.as_str())),
            (Some(AudioCodec::Aac), Some(data)) => {
                let (info, frames, duration, config) = parse_aac(&desc, &data)?;
                (Some(info), frames, duration, Some(config))
            }
            (Some(c), Some(data)) => {
                let (info, frames, duration) = parse_g711(c, &desc, &data)?;
                (Some(info), frames, duration, None)
            }
        };

        Ok(Clip {
            info: ClipInfo {
                video_codec: codec,
                width: desc.width,
                height: desc.height,
                fps: desc.fps,
                audio: audio_info,
            },
            video: video_frames,
            audio: audio_frames,
            duration_90k,
            audio_duration,
            aac_config,
            sps,
            pps,
            vps,
        })
    }

    /// Distance in frames between the first two keyframes (`None` with a single keyframe).
    pub fn gop_length(&self) -> Option<usize> {
        let mut keys = self
            .video
            .iter()
            .enumerate()
            .filter(|(_, f)| f.keyframe)
            .map(|(i, _)| i);
        let first = keys.next()?;
        let second = keys.next()?;
        Some(second - first)
    }

    /// Length of one loop in 90 kHz ticks as the audio duration would need to be
    /// in audio ticks (`duration_90k` converted to the audio rate).
    pub fn loop_duration_audio_ticks(&self) -> Option<u64> {
        let rate = u64::from(self.info.audio?.sample_rate);
        Some(self.duration_90k * rate / VIDEO_CLOCK_RATE)
    }

    /// Duration of audio frame `index` in audio-rate ticks (0 if out of range).
    pub fn audio_frame_duration(&self, index: usize) -> u64 {
        let Some(f) = self.audio.get(index) else {
            return 0;
        };
        let end = self
            .audio
            .get(index + 1)
            .map_or(self.audio_duration, |n| n.pts);
        end.saturating_sub(f.pts)
    }

    /// Total video payload bytes (NAL units without start codes).
    pub fn video_bytes(&self) -> u64 {
        self.video.iter().map(|f| f.byte_len() as u64).sum()
    }

    /// Average video bitrate in bits per second over one loop.
    pub fn video_bitrate(&self) -> u64 {
        if self.duration_90k == 0 {
            return 0;
        }
        self.video_bytes() * 8 * VIDEO_CLOCK_RATE / self.duration_90k
    }
}

fn check_keyframes(frames: &[VideoFrame], gop: Option<u32>) -> Result<(), ClipError> {
    if !frames.first().is_some_and(|f| f.keyframe) {
        return Err(ClipError::FirstFrameNotKeyframe);
    }
    let Some(gop) = gop else {
        return Ok(());
    };
    let gop_usize = usize::try_from(gop).unwrap_or(usize::MAX);
    for (i, f) in frames.iter().enumerate() {
        let expected = i % gop_usize == 0;
        if f.keyframe != expected {
            return Err(ClipError::GopMismatch {
                gop,
                frame: i,
                problem: if f.keyframe {
                    "is a keyframe"
                } else {
                    "is not a keyframe"
                },
            });
        }
    }
    Ok(())
}

type ParameterSets = (Option<Bytes>, Option<Bytes>, Option<Bytes>);

/// First VPS, SPS and PPS in the stream.
fn find_parameter_sets(codec: VideoCodec, frames: &[VideoFrame]) -> ParameterSets {
    let (vps_t, sps_t, pps_t) = match codec {
        VideoCodec::H264 => (None, 7, 8),
        VideoCodec::H265 => (Some(32), 33, 34),
    };
    let (mut vps, mut sps, mut pps) = (None, None, None);
    for nal in frames.iter().flat_map(|f| f.nalus.iter()) {
        let t = annexb::nal_type(codec, nal);
        if Some(t) == vps_t && vps.is_none() {
            vps = Some(nal.clone());
        } else if t == sps_t && sps.is_none() {
            sps = Some(nal.clone());
        } else if t == pps_t && pps.is_none() {
            pps = Some(nal.clone());
        }
        if sps.is_some() && pps.is_some() && (vps_t.is_none() || vps.is_some()) {
            break;
        }
    }
    (vps, sps, pps)
}

type ParsedAac = (AudioInfo, Vec<AudioFrame>, u64, Vec<u8>);

fn parse_aac(desc: &ClipToml, data: &Bytes) -> Result<ParsedAac, ClipError> {
    let (header, units) = adts::split_frames(data)?;
    if let Some(rate) = desc.audio_rate.filter(|&r| r != header.sample_rate) {
        return Err(ClipError::AudioMismatch {
            what: "sample rate",
            declared: rate,
            found: header.sample_rate,
        });
    }
    let channels = u16::from(header.channel_config);
    if let Some(ch) = desc.audio_channels.filter(|&c| c != channels) {
        return Err(ClipError::AudioMismatch {
            what: "channels",
            declared: u32::from(ch),
            found: u32::from(channels),
        });
    }
    let frames: Vec<AudioFrame> = units
        .into_iter()
        .enumerate()
        .map(|(i, data)| AudioFrame {
            pts: i as u64 * adts::SAMPLES_PER_FRAME,
            data,
        })
        .collect();
    let duration = frames.len() as u64 * adts::SAMPLES_PER_FRAME;
    let info = AudioInfo {
        codec: AudioCodec::Aac,
        sample_rate: header.sample_rate,
        channels,
    };
    Ok((
        info,
        frames,
        duration,
        header.audio_specific_config().to_vec(),
    ))
}

type ParsedPcm = (AudioInfo, Vec<AudioFrame>, u64);

fn parse_g711(codec: AudioCodec, desc: &ClipToml, data: &Bytes) -> Result<ParsedPcm, ClipError> {
    let rate = desc.audio_rate.unwrap_or(8000);
    let channels = desc.audio_channels.unwrap_or(1);
    if !(1000..=192_000).contains(&rate) {
        return Err(ClipError::Info(format!("audio_rate {rate} out of range")));
    }
    if !(1..=8).contains(&channels) {
        return Err(ClipError::Info(format!(
            "audio_channels {channels} out of range"
        )));
    }
    let ch = usize::from(channels);
    if data.len().checked_rem(ch) != Some(0) {
        return Err(ClipError::PartialSample {
            len: data.len(),
            channels,
        });
    }
    // Samples per channel in one frame; at least one.
    let samples = (rate * G711_FRAME_MS / 1000).max(1) as usize;
    let chunk = samples * ch;
    let frames = (0..data.len())
        .step_by(chunk)
        .map(|start| AudioFrame {
            pts: (start / ch) as u64,
            data: data.slice(start..(start + chunk).min(data.len())),
        })
        .collect();
    let info = AudioInfo {
        codec,
        sample_rate: rate,
        channels,
    };
    Ok((info, frames, (data.len() / ch) as u64))
}

/// Reads a whole file, refusing files larger than `limit`.
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ClipError> {
    let io_err = |source| ClipError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut buf = Vec::new();
    file.take(limit + 1).read_to_end(&mut buf).map_err(io_err)?;
    if buf.len() as u64 > limit {
        return Err(ClipError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests;
