//! End-to-end: real camera simulators (GStreamer's RTSP server) → the `xlgw`
//! binary → real clients (ffprobe/ffmpeg over TCP and UDP, GStreamer's
//! rtspsrc) and our own checking readers.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const CAM_H264: &str = "45010200001320000001";
const CAM_H265: &str = "45010200001320000002";

fn ffprobe(url: &str, transport: &str) -> String {
    let (ok, out, err) = run(
        Command::new("ffprobe").args([
            "-v",
            "error",
            "-rtsp_transport",
            transport,
            "-show_entries",
            "stream=codec_type,codec_name,width,height",
            "-of",
            "compact",
            url,
        ]),
        Duration::from_secs(30),
    );
    assert!(ok, "ffprobe {transport} {url} failed: {err}");
    out
}

fn ffmpeg_frames(url: &str, transport: &str, secs: u32) -> u64 {
    let (ok, _, err) = run(
        Command::new("ffmpeg").args([
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "info",
            "-rtsp_transport",
            transport,
            "-i",
            url,
            "-map",
            "0:v",
            "-t",
            &secs.to_string(),
            "-f",
            "null",
            "-",
        ]),
        Duration::from_secs(u64::from(secs) + 30),
    );
    assert!(ok, "ffmpeg {transport} {url} failed: {err}");
    // The last "frame=" figure ffmpeg prints.
    err.rsplit("frame=")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn independent_clients_decode_h264_and_h265() {
    let cam_port = free_port();
    let _cam = camsim(
        cam_port,
        &[("a", "h264-aac-720p"), ("b", "h265-pcma-1080p")],
    );
    let cams = camera_toml(
        CAM_H264,
        &format!("rtsp://127.0.0.1:{cam_port}/a"),
        "always",
        "tcp",
    ) + &camera_toml(
        CAM_H265,
        &format!("rtsp://127.0.0.1:{cam_port}/b"),
        "always",
        "udp",
    );
    let gw = gateway("", &cams);

    for transport in ["tcp", "udp"] {
        let out = ffprobe(&gw.url(CAM_H264), transport);
        assert!(
            out.contains("codec_name=h264|codec_type=video|width=1280|height=720"),
            "{out}"
        );
        assert!(out.contains("codec_name=aac|codec_type=audio"), "{out}");
        let out = ffprobe(&gw.url(CAM_H265), transport);
        assert!(
            out.contains("codec_name=hevc|codec_type=video|width=1920|height=1080"),
            "{out}"
        );
        assert!(
            out.contains("codec_name=pcm_alaw|codec_type=audio"),
            "{out}"
        );
    }
    for transport in ["tcp", "udp"] {
        // 3 s at 25 fps; a decoder that only got garbage would count none.
        let f = ffmpeg_frames(&gw.url(CAM_H264), transport, 3);
        assert!(f >= 60, "h264 over {transport}: {f} frames");
        let f = ffmpeg_frames(&gw.url(CAM_H265), transport, 3);
        assert!(f >= 60, "h265 over {transport}: {f} frames");
    }
    // GStreamer's rtspsrc, decoding video to a sink that counts buffers.
    for (cam, depay, dec) in [
        (CAM_H264, "rtph264depay ! h264parse ! avdec_h264", "h264"),
        (CAM_H265, "rtph265depay ! h265parse ! avdec_h265", "h265"),
    ] {
        for proto in ["tcp", "udp"] {
            let pipeline = format!(
                "rtspsrc location={} protocols={proto} latency=200 ! {depay} ! fakesink num-buffers=50",
                gw.url(cam)
            );
            let (ok, _, err) = run(
                Command::new("gst-launch-1.0")
                    .arg("-q")
                    .args(pipeline.split_whitespace()),
                Duration::from_secs(40),
            );
            if !ok {
                let log = gw.proc.stderr_text();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "gst {dec} over {proto} failed: {err}\ngateway log (last 40 lines, newest first):\n{}",
                    tail.join("\n")
                );
            }
        }
    }
}

#[test]
fn readers_survive_camera_restart_without_new_setup() {
    let cam_port = free_port();
    let mut cam = camsim(cam_port, &[("a", "h264-aac-720p")]);
    let cams = camera_toml(
        CAM_H264,
        &format!("rtsp://127.0.0.1:{cam_port}/a"),
        "always",
        "tcp",
    );
    let gw = gateway(
        "[ingest]\nstall_timeout_secs = 2.0\nbackoff_initial_secs = 0.5\n",
        &cams,
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut r = Reader::connect(&gw.url(CAM_H264)).await.unwrap();
        assert_eq!(r.play().await.unwrap().status, 200);
        r.read_for(Duration::from_secs(3)).await.unwrap();
        let before = r.tracks[0].packets;
        assert!(before > 50, "{before} packets before the restart");

        cam.kill();
        r.read_for(Duration::from_secs(4)).await.unwrap();
        let during = r.tracks[0].packets;
        cam = camsim(cam_port, &[("a", "h264-aac-720p")]);
        // The supervisor reconnects on its backoff schedule.
        r.read_for(Duration::from_secs(8)).await.unwrap();
        let after = r.tracks[0].packets;
        assert!(
            after > during + 50,
            "no packets after restart: {during} → {after}"
        );
        // Same session, no new SETUP, numbering continuous for the reader.
        assert_eq!(
            r.tracks[0].gaps, 0,
            "video sequence gaps: {:?}",
            r.tracks[0]
        );
    });
    let log = gw.proc.stderr_text();
    let attempts = log
        .lines()
        .filter(|l| l.contains("reconnecting") && l.contains("delay="))
        .count();
    assert!(
        attempts >= 2,
        "reconnect attempts are logged with their backoff delay:\n{log}"
    );
    drop(cam);
}

#[test]
fn on_demand_pulls_only_while_watched() {
    let cam_port = free_port();
    let _cam = camsim(cam_port, &[("a", "h264-aac-720p")]);
    let cams = camera_toml(
        CAM_H264,
        &format!("rtsp://127.0.0.1:{cam_port}/a"),
        "on-demand",
        "tcp",
    );
    let gw = gateway("[ingest]\nidle_close_secs = 3.0\n", &cams);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        connections_to(cam_port),
        0,
        "nobody watches: no connection to the camera"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut r = Reader::connect(&gw.url(CAM_H264)).await.unwrap();
        let t = Instant::now();
        assert_eq!(r.play().await.unwrap().status, 200);
        r.read_for(Duration::from_secs(2)).await.unwrap();
        assert!(r.tracks[0].packets > 20);
        assert_eq!(r.tracks[0].first_key, Some(true));
        assert!(t.elapsed() < Duration::from_secs(12));
        assert_eq!(connections_to(cam_port), 1, "one upstream while watched");
        drop(r);
    });
    let left = Instant::now();
    while connections_to(cam_port) > 0 {
        assert!(
            left.elapsed() < Duration::from_secs(5),
            "upstream still open {:?} after the last reader left (idle_close 3 s)",
            left.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// 200 readers on one camera for 60 s: each starts at a keyframe within 1 s
/// of PLAY and sees every packet; one more reader stops reading and is
/// dropped without anyone else noticing.
#[test]
fn two_hundred_readers_for_a_minute() {
    const READERS: usize = 200;
    let cam_port = free_port();
    let _cam = camsim(cam_port, &[("a", "h264-aac-720p")]);
    let cams = camera_toml(
        CAM_H264,
        &format!("rtsp://127.0.0.1:{cam_port}/a"),
        "always",
        "tcp",
    );
    let gw = gateway("[relay]\nwrite_timeout_secs = 3.0\n", &cams);
    let url = gw.url(CAM_H264);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Wait for the camera to be up.
        let mut probe = Reader::connect(&url).await.unwrap();
        assert_eq!(probe.play().await.unwrap().status, 200);
        drop(probe);

        // The stalled reader: tiny receive buffer, plays, never reads.
        let stalled = {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            s.set_recv_buffer_size(4096).unwrap();
            s.connect(
                &format!("127.0.0.1:{}", gw.rtsp)
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
            s.set_nonblocking(true).unwrap();
            let sock = tokio::net::TcpStream::from_std(s.into()).unwrap();
            let mut r = Reader::from_stream(sock, &url);
            assert_eq!(r.play().await.unwrap().status, 200);
            r
        };

        let mut tasks = Vec::new();
        for i in 0..READERS {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                // Spread the joins over two seconds.
                tokio::time::sleep(Duration::from_millis((i as u64 * 10) % 2000)).await;
                let mut r = Reader::connect(&url).await.unwrap();
                let resp = r.play().await.unwrap();
                assert_eq!(resp.status, 200);
                r.read_for(Duration::from_secs(60)).await.unwrap();
                r
            }));
        }
        let mut readers = Vec::new();
        for t in tasks {
            readers.push(t.await.unwrap());
        }
        for (i, r) in readers.iter().enumerate() {
            let v = &r.tracks[0];
            let first = v.first_at.unwrap().duration_since(r.played_at.unwrap());
            assert_eq!(
                v.first_key,
                Some(true),
                "reader {i} did not start at a keyframe"
            );
            assert!(
                first < Duration::from_secs(1),
                "reader {i}: first packet {first:?} after PLAY"
            );
            assert_eq!(v.gaps, 0, "reader {i} video gaps: {v:?}");
            assert_eq!(r.tracks[1].gaps, 0, "reader {i} audio gaps");
            // 60 s of a ~1 Mbit/s stream.
            assert!(
                v.packets > 3000,
                "reader {i}: only {} video packets",
                v.packets
            );
        }
        // The stalled reader was cut off by the server.
        let mut stalled = stalled;
        let r = stalled.read_for(Duration::from_secs(5)).await;
        assert!(
            r.is_err(),
            "the stalled reader should have been disconnected"
        );
    });
}
