//! Turns a parsed clip into GStreamer buffers and pushes them into a media's
//! `appsrc` elements at real-time rate, looping forever with continuous
//! timestamps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use xlgw_clip::{AudioCodec, Clip, VideoCodec};

/// Name of the video `appsrc` in the launch line.
pub const VIDEO_SRC: &str = "vsrc";
/// Name of the audio `appsrc` in the launch line.
pub const AUDIO_SRC: &str = "asrc";

/// How much data an `appsrc` may queue while its stream is blocked (between
/// DESCRIBE and PLAY); older buffers are dropped beyond that.
const MAX_QUEUED: gst::ClockTime = gst::ClockTime::from_seconds(2);
/// Longest single sleep, so a stop request is noticed quickly.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// Largest plausible running time of a pipeline that just started playing.
const MAX_START_RUNNING_TIME: gst::ClockTime = gst::ClockTime::from_seconds(60);
/// How long to wait for the pipeline to start playing before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a feeder could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The media's pipeline has no element with the expected name.
    #[error("media pipeline has no appsrc named {0}")]
    MissingAppSrc(&'static str),
    /// The media's top element is not a bin.
    #[error("media element is not a bin")]
    NotABin,
}

/// One video access unit ready to push: Annex-B bytes with start codes.
#[derive(Debug)]
struct VideoUnit {
    pts_90k: u64,
    keyframe: bool,
    data: Bytes,
}

/// One audio frame ready to push.
#[derive(Debug)]
struct AudioUnit {
    /// Start in audio-rate ticks from the loop start.
    pts: u64,
    /// Duration in audio-rate ticks.
    duration: u64,
    data: Bytes,
}

/// A clip converted once into what the feeders push, shared by all media of a mount.
#[derive(Debug)]
pub struct PreparedClip {
    video_codec: VideoCodec,
    width: u32,
    height: u32,
    fps: u32,
    video: Vec<VideoUnit>,
    /// Audio frames that start within one loop.
    audio: Vec<AudioUnit>,
    audio_codec: Option<AudioCodec>,
    audio_rate: u32,
    audio_channels: u16,
    aac_config: Option<Vec<u8>>,
    duration_90k: u64,
}

impl PreparedClip {
    /// Builds the push units from a parsed clip.
    pub fn new(clip: &Clip) -> PreparedClip {
        let video = clip
            .video
            .iter()
            .map(|f| {
                let mut buf = BytesMut::with_capacity(f.byte_len() + 4 * f.nalus.len());
                for nal in &f.nalus {
                    buf.put_slice(&[0, 0, 0, 1]);
                    buf.put_slice(nal);
                }
                VideoUnit {
                    pts_90k: f.pts,
                    keyframe: f.keyframe,
                    data: buf.freeze(),
                }
            })
            .collect();
        let loop_audio = clip.loop_duration_audio_ticks().unwrap_or(0);
        let audio: Vec<AudioUnit> = clip
            .audio
            .iter()
            .enumerate()
            .filter(|(_, a)| a.pts < loop_audio)
            .map(|(i, a)| AudioUnit {
                pts: a.pts,
                duration: clip.audio_frame_duration(i),
                data: a.data.clone(),
            })
            .collect();
        if audio.len() < clip.audio.len() {
            tracing::debug!(
                dropped = clip.audio.len() - audio.len(),
                "audio frames past the end of the video loop are not sent"
            );
        }
        let (audio_codec, audio_rate, audio_channels) = match clip.info.audio {
            Some(a) if !audio.is_empty() => (Some(a.codec), a.sample_rate, a.channels),
            _ => (None, 0, 0),
        };
        PreparedClip {
            video_codec: clip.info.video_codec,
            width: clip.info.width,
            height: clip.info.height,
            fps: clip.info.fps,
            video,
            audio,
            audio_codec,
            audio_rate,
            audio_channels,
            aac_config: clip.aac_config.clone(),
            duration_90k: clip.duration_90k,
        }
    }

    /// GStreamer element factories the launch line needs.
    pub fn required_elements(&self) -> Vec<&'static str> {
        let mut v = vec!["appsrc"];
        v.extend_from_slice(match self.video_codec {
            VideoCodec::H264 => &["h264parse", "rtph264pay"],
            VideoCodec::H265 => &["h265parse", "rtph265pay"],
        });
        match self.audio_codec {
            None => {}
            Some(AudioCodec::Aac) => v.push("rtpmp4gpay"),
            Some(AudioCodec::Pcma) => v.push("rtppcmapay"),
            Some(AudioCodec::Pcmu) => v.push("rtppcmupay"),
        }
        v
    }

    /// The gst-rtsp-server launch line: `pay0` video, `pay1` audio.
    pub fn launch_line(&self) -> String {
        let video = match self.video_codec {
            VideoCodec::H264 => "h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1",
            VideoCodec::H265 => "h265parse ! rtph265pay name=pay0 pt=96 config-interval=-1",
        };
        let audio = match self.audio_codec {
            None => String::new(),
            Some(AudioCodec::Aac) => {
                format!("appsrc name={AUDIO_SRC} ! rtpmp4gpay name=pay1 pt=97")
            }
            Some(AudioCodec::Pcma) => format!("appsrc name={AUDIO_SRC} ! rtppcmapay name=pay1"),
            Some(AudioCodec::Pcmu) => format!("appsrc name={AUDIO_SRC} ! rtppcmupay name=pay1"),
        };
        format!("( appsrc name={VIDEO_SRC} ! {video} {audio} )")
    }

    fn video_caps(&self) -> gst::Caps {
        let name = match self.video_codec {
            VideoCodec::H264 => "video/x-h264",
            VideoCodec::H265 => "video/x-h265",
        };
        gst::Caps::builder(name)
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .field("width", i32::try_from(self.width).unwrap_or(i32::MAX))
            .field("height", i32::try_from(self.height).unwrap_or(i32::MAX))
            .field(
                "framerate",
                gst::Fraction::new(i32::try_from(self.fps).unwrap_or(i32::MAX), 1),
            )
            .build()
    }

    fn audio_caps(&self) -> Option<gst::Caps> {
        let rate = i32::try_from(self.audio_rate).unwrap_or(i32::MAX);
        let channels = i32::from(self.audio_channels);
        let caps = match self.audio_codec? {
            AudioCodec::Aac => {
                let config = self.aac_config.clone().unwrap_or_default();
                gst::Caps::builder("audio/mpeg")
                    .field("mpegversion", 4i32)
                    .field("stream-format", "raw")
                    .field("rate", rate)
                    .field("channels", channels)
                    .field("codec_data", gst::Buffer::from_mut_slice(config))
                    .build()
            }
            AudioCodec::Pcma => gst::Caps::builder("audio/x-alaw")
                .field("rate", rate)
                .field("channels", channels)
                .build(),
            AudioCodec::Pcmu => gst::Caps::builder("audio/x-mulaw")
                .field("rate", rate)
                .field("channels", channels)
                .build(),
        };
        Some(caps)
    }

    /// Nanoseconds from the clip start of loop `n`.
    fn loop_start_ns(&self, n: u64) -> u64 {
        ticks_to_ns(n.saturating_mul(self.duration_90k), 90_000)
    }
}

fn ticks_to_ns(ticks: u64, rate: u32) -> u64 {
    if rate == 0 {
        return 0;
    }
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(rate);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

fn configure_appsrc(src: &gst_app::AppSrc, caps: &gst::Caps) {
    src.set_caps(Some(caps));
    src.set_format(gst::Format::Time);
    src.set_is_live(true);
    src.set_do_timestamp(false);
    src.set_stream_type(gst_app::AppStreamType::Stream);
    src.set_max_bytes(0);
    src.set_max_buffers(0);
    src.set_max_time(MAX_QUEUED);
    src.set_leaky_type(gst_app::AppLeakyType::Downstream);
    src.set_latency(gst::ClockTime::ZERO, MAX_QUEUED);
}

fn find_appsrc(bin: &gst::Bin, name: &'static str) -> Result<gst_app::AppSrc, FeedError> {
    bin.by_name(name)
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .ok_or(FeedError::MissingAppSrc(name))
}

/// Feeds one media (one pipeline) until stopped or the pipeline shuts down.
#[derive(Debug)]
pub struct Feeder {
    mount: String,
    clip: Arc<PreparedClip>,
    video: gst_app::AppSrc,
    audio: Option<gst_app::AppSrc>,
    stop: Arc<AtomicBool>,
}

impl Feeder {
    /// Finds and configures the `appsrc` elements of a freshly constructed media.
    pub fn new(
        mount: &str,
        clip: Arc<PreparedClip>,
        element: &gst::Element,
        stop: Arc<AtomicBool>,
    ) -> Result<Feeder, FeedError> {
        let bin = element
            .downcast_ref::<gst::Bin>()
            .ok_or(FeedError::NotABin)?;
        let video = find_appsrc(bin, VIDEO_SRC)?;
        configure_appsrc(&video, &clip.video_caps());
        let audio = match clip.audio_caps() {
            Some(caps) => {
                let src = find_appsrc(bin, AUDIO_SRC)?;
                configure_appsrc(&src, &caps);
                Some(src)
            }
            None => None,
        };
        Ok(Feeder {
            mount: mount.to_owned(),
            clip,
            video,
            audio,
            stop,
        })
    }

    /// Runs the feeder on its own thread.
    pub fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("feed{}", self.mount))
            .spawn(move || self.run())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps until `deadline`; false if asked to stop meanwhile.
    fn sleep_until(&self, deadline: Instant) -> bool {
        loop {
            if self.stopped() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::sleep((deadline - now).min(MAX_SLEEP));
        }
    }

    /// Waits until the pipeline runs and returns its running time then.
    fn wait_for_running_time(&self) -> Option<gst::ClockTime> {
        let give_up = Instant::now() + START_TIMEOUT;
        while Instant::now() < give_up {
            if self.stopped() {
                return None;
            }
            // The clock is handed to the element before its base time is set:
            // only once the element itself is PLAYING is clock - base_time the
            // running time. A fresh pipeline's running time is tiny, so a large
            // value means we still raced a state change; ask again.
            let running = (self.video.current_state() == gst::State::Playing)
                .then(|| self.video.current_running_time())
                .flatten()
                .filter(|&t| t < MAX_START_RUNNING_TIME);
            if running.is_some() {
                return running;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        tracing::warn!(mount = %self.mount, "pipeline did not start playing; feeder gives up");
        None
    }

    fn run(self) {
        let Some(t0) = self.wait_for_running_time() else {
            return;
        };
        let start = Instant::now();
        tracing::debug!(mount = %self.mount, t0 = %t0, "feeder started");
        let clip = &*self.clip;
        let frame_ns = ticks_to_ns(1, clip.fps);
        let (mut v_loop, mut v_idx) = (0u64, 0usize);
        let (mut a_loop, mut a_idx) = (0u64, 0usize);
        let mut pushed = 0u64;
        loop {
            let video_due = clip
                .video
                .get(v_idx)
                .map(|u| clip.loop_start_ns(v_loop) + ticks_to_ns(u.pts_90k, 90_000));
            let audio_due = match &self.audio {
                Some(_) => clip
                    .audio
                    .get(a_idx)
                    .map(|u| clip.loop_start_ns(a_loop) + ticks_to_ns(u.pts, clip.audio_rate)),
                None => None,
            };
            let (is_video, due) = match (video_due, audio_due) {
                (Some(v), Some(a)) if a < v => (false, a),
                (Some(v), _) => (true, v),
                (None, _) => return, // a clip always has video; defensive
            };
            if !self.sleep_until(start + Duration::from_nanos(due)) {
                break;
            }
            let pts = t0 + gst::ClockTime::from_nseconds(due);
            let result = if is_video {
                let unit = &clip.video[v_idx];
                let mut buffer = gst::Buffer::from_slice(unit.data.clone());
                if let Some(b) = buffer.get_mut() {
                    b.set_pts(pts);
                    b.set_dts(pts);
                    b.set_duration(gst::ClockTime::from_nseconds(frame_ns));
                    if !unit.keyframe {
                        b.set_flags(gst::BufferFlags::DELTA_UNIT);
                    }
                }
                v_idx += 1;
                if v_idx == clip.video.len() {
                    v_idx = 0;
                    v_loop += 1;
                }
                self.video.push_buffer(buffer)
            } else {
                let unit = &clip.audio[a_idx];
                let mut buffer = gst::Buffer::from_slice(unit.data.clone());
                if let Some(b) = buffer.get_mut() {
                    b.set_pts(pts);
                    b.set_dts(pts);
                    b.set_duration(gst::ClockTime::from_nseconds(ticks_to_ns(
                        unit.duration,
                        clip.audio_rate,
                    )));
                }
                a_idx += 1;
                if a_idx == clip.audio.len() {
                    a_idx = 0;
                    a_loop += 1;
                }
                match &self.audio {
                    Some(src) => src.push_buffer(buffer),
                    None => Ok(gst::FlowSuccess::Ok),
                }
            };
            match result {
                Ok(_) => pushed += 1,
                Err(gst::FlowError::Flushing | gst::FlowError::Eos) => break,
                Err(e) => {
                    tracing::warn!(mount = %self.mount, error = ?e, "push failed; feeder stops");
                    break;
                }
            }
        }
        tracing::debug!(mount = %self.mount, buffers = pushed, "feeder stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_ticks() {
        assert_eq!(ticks_to_ns(3600, 90_000), 40_000_000);
        assert_eq!(ticks_to_ns(1024, 48_000), 21_333_333);
        assert_eq!(ticks_to_ns(5, 0), 0);
        assert_eq!(ticks_to_ns(u64::MAX, 1), u64::MAX);
    }

    #[test]
    fn builds_launch_lines_and_caps() {
        gst::init().expect("gstreamer init");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-streams");
        let clip = Clip::load(&dir.join("h264-aac-720p")).expect("clip");
        let p = PreparedClip::new(&clip);
        assert_eq!(
            p.launch_line(),
            "( appsrc name=vsrc ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 \
             appsrc name=asrc ! rtpmp4gpay name=pay1 pt=97 )"
        );
        assert_eq!(p.video[0].data[..5], [0, 0, 0, 1, 0x09]);
        assert_eq!(p.loop_start_ns(2), 20_000_000_000);
        let caps = p.audio_caps().expect("audio caps");
        let s = caps.structure(0).expect("structure");
        assert_eq!(s.get::<i32>("rate").ok(), Some(48000));
        let clip = Clip::load(&dir.join("h265-pcma-720p")).expect("clip");
        let p = PreparedClip::new(&clip);
        assert!(p.launch_line().contains("rtph265pay name=pay0"));
        assert!(p.launch_line().contains("rtppcmapay name=pay1"));
        assert_eq!(p.audio.len(), 500);
    }
}
