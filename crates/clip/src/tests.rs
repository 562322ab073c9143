use super::*;

/// An H.264 stream of `frames` pictures with an IDR (plus SPS/PPS) every `gop`.
fn h264_stream(frames: usize, gop: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..frames {
        v.extend_from_slice(&[0, 0, 0, 1, 0x09, 0xf0]);
        if i % gop == 0 {
            v.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f]);
            v.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xee, 0x3c, 0x80]);
            v.extend_from_slice(&[0, 0, 1, 0x65, 0x88, 0x84, i as u8]);
        } else {
            v.extend_from_slice(&[0, 0, 1, 0x41, 0x9a, 0x02, i as u8]);
        }
    }
    v
}

fn adts_stream(frames: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..frames {
        let payload = [0x21, i as u8, 0x10];
        let len = 7 + payload.len();
        v.extend_from_slice(&[
            0xff,
            0xf1,
            0x4c, // LC, 48 kHz, channel bit 2 = 0
            0x40 | (len >> 11) as u8,
            (len >> 3) as u8,
            ((len & 7) as u8) << 5 | 0x1f,
            0xfc,
        ]);
        v.extend_from_slice(&payload);
    }
    v
}

const TOML_H264_AAC: &str = r#"
video_codec = "h264"
width = 320
height = 240
fps = 25
frames = 10
gop = 5
audio_codec = "aac"
audio_rate = 48000
audio_channels = 1
"#;

#[test]
fn from_parts_h264_aac() {
    let clip = Clip::from_parts(TOML_H264_AAC, &h264_stream(10, 5), Some(&adts_stream(9)))
        .expect("valid clip");
    assert_eq!(clip.info.video_codec, VideoCodec::H264);
    assert_eq!(
        (clip.info.width, clip.info.height, clip.info.fps),
        (320, 240, 25)
    );
    assert_eq!(clip.video.len(), 10);
    assert_eq!(clip.duration_90k, 36_000);
    assert_eq!(clip.video[3].pts, 3 * 3600);
    let keys: Vec<usize> = (0..10).filter(|&i| clip.video[i].keyframe).collect();
    assert_eq!(keys, vec![0, 5]);
    assert_eq!(clip.gop_length(), Some(5));
    // AUD, SPS, PPS, IDR on keyframes; parameter sets before the slice.
    assert_eq!(clip.video[0].nalus.len(), 4);
    assert_eq!(clip.video[0].nalus[1][0], 0x67);
    assert_eq!(clip.video[1].nalus.len(), 2);
    assert_eq!(clip.sps.as_deref(), Some(&[0x67, 0x64, 0x00, 0x1f][..]));
    assert_eq!(clip.pps.as_deref(), Some(&[0x68, 0xee, 0x3c, 0x80][..]));
    assert!(clip.vps.is_none());
    let audio = clip.info.audio.expect("audio");
    assert_eq!(audio.codec, AudioCodec::Aac);
    assert_eq!((audio.sample_rate, audio.channels), (48000, 1));
    assert_eq!(clip.aac_config.as_deref(), Some(&[0x11, 0x88][..]));
    assert_eq!(clip.audio.len(), 9);
    assert_eq!(clip.audio[2].pts, 2048);
    assert_eq!(&clip.audio[2].data[..], &[0x21, 2, 0x10]);
    assert_eq!(clip.audio_duration, 9 * 1024);
    assert_eq!(clip.audio_frame_duration(8), 1024);
    assert_eq!(clip.loop_duration_audio_ticks(), Some(19_200));
}

#[test]
fn from_parts_g711() {
    let toml = r#"
video_codec = "h264"
width = 320
height = 240
fps = 30
audio_codec = "pcmu"
"#;
    let audio = vec![0xffu8; 1000];
    let clip = Clip::from_parts(toml, &h264_stream(3, 3), Some(&audio)).expect("valid clip");
    assert_eq!(clip.video[1].pts, 3000);
    assert_eq!(clip.duration_90k, 9000);
    let info = clip.info.audio.expect("audio");
    assert_eq!(
        (info.codec, info.sample_rate, info.channels),
        (AudioCodec::Pcmu, 8000, 1)
    );
    let lens: Vec<usize> = clip.audio.iter().map(|f| f.data.len()).collect();
    assert_eq!(lens, vec![160, 160, 160, 160, 160, 160, 40]);
    assert_eq!(clip.audio[6].pts, 960);
    assert_eq!(clip.audio_duration, 1000);
    assert_eq!(clip.audio_frame_duration(6), 40);
    assert!(clip.aac_config.is_none());
}

#[test]
fn rejects_inconsistent_clips() {
    let video = h264_stream(10, 5);
    let audio = adts_stream(3);
    let err = |toml: &str, video: &[u8], audio: Option<&[u8]>| {
        Clip::from_parts(toml, video, audio).expect_err("must be rejected")
    };
    assert!(matches!(
        err(
            &TOML_H264_AAC.replace("frames = 10", "frames = 11"),
            &video,
            Some(&audio)
        ),
        ClipError::FrameCount {
            declared: 11,
            found: 10
        }
    ));
    assert!(matches!(
        err(
            &TOML_H264_AAC.replace("gop = 5", "gop = 4"),
            &video,
            Some(&audio)
        ),
        ClipError::GopMismatch {
            gop: 4,
            frame: 4,
            ..
        }
    ));
    assert!(matches!(
        err(TOML_H264_AAC, &video, None),
        ClipError::MissingAudio("aac")
    ));
    assert!(matches!(
        err(
            &TOML_H264_AAC.replace("audio_rate = 48000", "audio_rate = 44100"),
            &video,
            Some(&audio)
        ),
        ClipError::AudioMismatch {
            what: "sample rate",
            ..
        }
    ));
    assert!(matches!(
        err(
            &TOML_H264_AAC.replace("audio_channels = 1", "audio_channels = 2"),
            &video,
            Some(&audio)
        ),
        ClipError::AudioMismatch {
            what: "channels",
            ..
        }
    ));
    assert!(matches!(
        err(
            &TOML_H264_AAC.replace("fps = 25", "fps = 0"),
            &video,
            Some(&audio)
        ),
        ClipError::Info(_)
    ));
    assert!(matches!(
        err(
            &TOML_H264_AAC.replace("video_codec = \"h264\"", "video_codec = \"vp8\""),
            &video,
            Some(&audio)
        ),
        ClipError::Toml(_)
    ));
    assert!(matches!(
        err(
            &format!("{TOML_H264_AAC}\ncolour = \"red\"\n"),
            &video,
            Some(&audio)
        ),
        ClipError::Toml(_)
    ));
    let no_audio_toml = "video_codec = \"h264\"\nwidth = 2\nheight = 2\nfps = 25\n";
    assert!(matches!(
        err(no_audio_toml, &video, Some(&audio)),
        ClipError::UnexpectedAudio
    ));
    // Starts with a P frame (frame 0 is 29 bytes: AUD, SPS, PPS, IDR).
    assert!(matches!(
        err(no_audio_toml, &video[29..], None),
        ClipError::FirstFrameNotKeyframe
    ));
    // No SPS: only a slice.
    assert!(matches!(
        err(no_audio_toml, &[0, 0, 1, 0x65, 0x88], None),
        ClipError::MissingParameterSet("SPS")
    ));
    let h265_toml = "video_codec = \"h265\"\nwidth = 2\nheight = 2\nfps = 25\n";
    // H.265 SPS + PPS + IDR but no VPS.
    assert!(matches!(
        err(
            h265_toml,
            &[
                0, 0, 1, 0x42, 0x01, 1, 0, 0, 1, 0x44, 0x01, 1, 0, 0, 1, 0x26, 0x01, 0x80
            ],
            None
        ),
        ClipError::MissingParameterSet("VPS")
    ));
    let stereo_pcma = "video_codec = \"h264\"\nwidth = 2\nheight = 2\nfps = 25\naudio_codec = \"pcma\"\naudio_channels = 2\n";
    assert!(matches!(
        err(stereo_pcma, &video, Some(&[1, 2, 3])),
        ClipError::PartialSample {
            len: 3,
            channels: 2
        }
    ));
}

#[test]
fn truncated_clip_data_never_panics() {
    let video = h264_stream(10, 5);
    let audio = adts_stream(4);
    for cut in 0..video.len() {
        let _ = Clip::from_parts(TOML_H264_AAC, &video[..cut], Some(&audio));
    }
    for cut in 0..audio.len() {
        let _ = Clip::from_parts(TOML_H264_AAC, &video, Some(&audio[..cut]));
    }
    for cut in 0..TOML_H264_AAC.len() {
        let _ = Clip::from_parts(&TOML_H264_AAC[..cut], &video, Some(&audio));
    }
}

#[test]
fn load_reports_missing_files() {
    let err = Clip::load(Path::new("/nonexistent/xlgw-clip")).expect_err("no such dir");
    assert!(matches!(err, ClipError::Io { .. }), "{err}");
}

fn test_streams_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-streams")
}

/// (name, codec, width, height, frames, audio codec, audio rate)
const COMMITTED: [(&str, VideoCodec, u32, u32, usize, AudioCodec, u32); 4] = [
    (
        "h264-aac-1080p",
        VideoCodec::H264,
        1920,
        1080,
        100,
        AudioCodec::Aac,
        48000,
    ),
    (
        "h264-aac-720p",
        VideoCodec::H264,
        1280,
        720,
        250,
        AudioCodec::Aac,
        48000,
    ),
    (
        "h265-pcma-1080p",
        VideoCodec::H265,
        1920,
        1080,
        150,
        AudioCodec::Pcma,
        8000,
    ),
    (
        "h265-pcma-720p",
        VideoCodec::H265,
        1280,
        720,
        250,
        AudioCodec::Pcma,
        8000,
    ),
];

#[test]
fn loads_every_committed_clip() {
    let root = test_streams_dir();
    // Every clip directory present must load, not only the ones listed here.
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&root).expect("test-streams directory") {
        let path = entry.expect("dir entry").path();
        if path.join("clip.toml").is_file() {
            Clip::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            found.push(path.file_name().map(|n| n.to_string_lossy().into_owned()));
        }
    }
    for (name, codec, w, h, frames, acodec, arate) in COMMITTED {
        assert!(found.contains(&Some(name.to_owned())), "{name} missing");
        let clip = Clip::load(&root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(clip.info.video_codec, codec, "{name}");
        assert_eq!(
            (clip.info.width, clip.info.height, clip.info.fps),
            (w, h, 25),
            "{name}"
        );
        assert_eq!(clip.video.len(), frames, "{name}");
        assert_eq!(clip.duration_90k, frames as u64 * 3600, "{name}");
        for (i, f) in clip.video.iter().enumerate() {
            assert_eq!(f.keyframe, i % 50 == 0, "{name}: frame {i}");
            assert_eq!(f.pts, i as u64 * 3600, "{name}: frame {i}");
            assert!(f.byte_len() > 100, "{name}: frame {i} is tiny");
            if f.keyframe {
                // Parameter sets are repeated in-band before every keyframe's slices.
                let types: Vec<u8> = f.nalus.iter().map(|n| annexb::nal_type(codec, n)).collect();
                let needed: &[u8] = match codec {
                    VideoCodec::H264 => &[7, 8],
                    VideoCodec::H265 => &[32, 33, 34],
                };
                for t in needed {
                    assert!(
                        types.contains(t),
                        "{name}: frame {i} lacks NAL type {t}: {types:?}"
                    );
                }
            }
        }
        assert_eq!(clip.gop_length(), Some(50), "{name}");
        assert!(clip.sps.is_some() && clip.pps.is_some(), "{name}");
        assert_eq!(clip.vps.is_some(), codec == VideoCodec::H265, "{name}");
        let audio = clip.info.audio.expect("audio");
        assert_eq!(
            (audio.codec, audio.sample_rate, audio.channels),
            (acodec, arate, 1)
        );
        let loop_ticks = clip.loop_duration_audio_ticks().expect("audio");
        // Audio never runs past the loop and ends less than one AAC frame early.
        assert!(
            clip.audio_duration <= loop_ticks && loop_ticks - clip.audio_duration < 1024,
            "{name}: audio {} vs loop {loop_ticks}",
            clip.audio_duration
        );
        match acodec {
            AudioCodec::Aac => assert_eq!(clip.aac_config.as_deref(), Some(&[0x11, 0x88][..])),
            _ => assert!(clip.audio.iter().all(|f| f.data.len() == 160), "{name}"),
        }
        // The bitrates the README promises, within 15 %.
        let kbps = clip.video_bitrate() / 1000;
        let want = match name {
            "h264-aac-1080p" => 3500,
            "h265-pcma-1080p" => 2000,
            _ => 1000,
        };
        assert!(
            kbps.abs_diff(want) * 100 <= want * 15,
            "{name}: {kbps} kbit/s"
        );
    }
}

#[test]
fn from_bytes_matches_load() {
    let dir = test_streams_dir().join("h264-aac-720p");
    let loaded = Clip::load(&dir).expect("clip loads");
    let toml = std::fs::read_to_string(dir.join("clip.toml")).expect("clip.toml");
    let video = std::fs::read(dir.join("video.h264")).expect("video");
    let audio = std::fs::read(dir.join("audio.aac")).expect("audio");
    let parsed = Clip::from_parts(&toml, &video, Some(&audio)).expect("clip parses");
    assert_eq!(parsed.video, loaded.video);
    assert_eq!(parsed.audio, loaded.audio);
    assert_eq!(parsed.info, loaded.info);
}
