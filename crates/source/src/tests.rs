use super::*;
use std::path::Path;

fn clip(name: &str) -> Arc<Clip> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-streams")
        .join(name);
    Arc::new(Clip::load(&dir).expect("clip loads"))
}

#[test]
fn h264_fragments_reassemble() {
    let nal = Bytes::from(
        (0..5000u32)
            .map(|i| (i % 251) as u8 | 0x01)
            .collect::<Vec<u8>>(),
    );
    let mut nal = nal.to_vec();
    nal[0] = 0x65;
    let nal = Bytes::from(nal);
    let mut out = Vec::new();
    packetize_video(
        VideoCodec::H264,
        &[Bytes::from_static(&[0x67, 1, 2, 3]), nal.clone()],
        &mut out,
    );
    assert_eq!(out[0].0[..], [0x67, 1, 2, 3]);
    assert!(!out[0].1);
    assert!(out.last().unwrap().1, "marker on last");
    let mut re = vec![(out[1].0[0] & 0xe0) | (out[1].0[1] & 0x1f)];
    for (i, (p, _)) in out[1..].iter().enumerate() {
        assert!(p.len() <= MTU_PAYLOAD);
        assert_eq!(p[0] & 0x1f, 28);
        assert_eq!(p[1] & 0x80 != 0, i == 0, "start bit");
        assert_eq!(p[1] & 0x40 != 0, i + 2 == out.len(), "end bit");
        re.extend_from_slice(&p[2..]);
    }
    assert_eq!(re, nal.to_vec());
}

#[test]
fn h265_fragments_reassemble() {
    let mut nal: Vec<u8> = (0..4000u32).map(|i| (i % 253) as u8).collect();
    nal[0] = 19 << 1;
    nal[1] = 1;
    let nal = Bytes::from(nal);
    let mut out = Vec::new();
    packetize_video(VideoCodec::H265, std::slice::from_ref(&nal), &mut out);
    let mut re = vec![nal[0], nal[1]];
    for (p, _) in &out {
        assert_eq!((p[0] >> 1) & 0x3f, 49);
        assert_eq!(p[2] & 0x3f, 19);
        re.extend_from_slice(&p[3..]);
    }
    assert_eq!(re, nal.to_vec());
}

#[test]
fn loops_with_continuous_timestamps() {
    let c = clip("h264-aac-720p");
    let frames = c.video.len() as u64;
    let mut p = Packetizer::new(c.clone(), [1000, 0], [0, 0]);
    let mut last_v_ts = None;
    let mut last_at = Duration::ZERO;
    let mut v_frames = 0u64;
    let mut seqs = Vec::new();
    while v_frames < frames * 2 + 5 {
        let t = p.next_packet().unwrap();
        assert!(t.at >= last_at, "time order");
        last_at = t.at;
        if t.packet.track == 0 {
            seqs.push(t.packet.seq);
            if t.packet.marker() {
                if let Some(l) = last_v_ts {
                    assert_eq!(t.packet.timestamp.wrapping_sub(l), 90_000 / c.info.fps);
                }
                last_v_ts = Some(t.packet.timestamp);
                v_frames += 1;
            }
        }
    }
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
    // Two loops took twice the clip's length.
    let loop_len = Duration::from_nanos(c.duration_90k * 1_000_000_000 / 90_000);
    assert!(last_at >= loop_len * 2);
}

#[test]
fn info_carries_parameter_sets() {
    let i = stream_info(&clip("h265-pcma-720p"));
    assert_eq!(i.tracks.len(), 2);
    assert!(i.tracks[0].fmtp.as_deref().unwrap().contains("sprop-vps="));
    assert_eq!(i.tracks[1].encoding, "PCMA");
    let i = stream_info(&clip("h264-aac-720p"));
    let f = i.tracks[1].fmtp.as_deref().unwrap();
    assert!(f.contains("config=11") || f.contains("config=1"), "{f}");
}

#[tokio::test(start_paused = true)]
async fn paced_stream_follows_the_clock() {
    use futures::StreamExt;
    let c = clip("h264-aac-720p");
    let s = paced(Packetizer::new(c, [0, 0], [0, 0]));
    futures::pin_mut!(s);
    let t0 = tokio::time::Instant::now();
    let mut frames = 0;
    while frames < 25 {
        let p = s.next().await.unwrap();
        if p.track == 0 && p.marker() {
            frames += 1;
        }
    }
    let el = t0.elapsed();
    assert!(
        el >= Duration::from_millis(950) && el <= Duration::from_millis(1000),
        "{el:?}"
    );
}

#[test]
fn sps_sizes_of_every_clip() {
    use xlgw_relay::codec::{PictureSize, h264_sps_size, h265_sps_size};
    for (name, w, h) in [
        ("h264-aac-720p", 1280, 720),
        ("h264-aac-1080p", 1920, 1080),
        ("h265-pcma-720p", 1280, 720),
        ("h265-pcma-1080p", 1920, 1080),
    ] {
        let c = clip(name);
        let sps = c.sps.clone().unwrap();
        let size = match c.info.video_codec {
            VideoCodec::H264 => h264_sps_size(&sps),
            VideoCodec::H265 => h265_sps_size(&sps),
        };
        assert_eq!(
            size,
            Some(PictureSize {
                width: w,
                height: h
            }),
            "{name}"
        );
    }
}
