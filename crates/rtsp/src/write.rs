//! Writing a reader's packets: per-reader RTP headers around shared payloads,
//! many packets (several frames when the reader is behind) per system call.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::UdpSocket;
use xlgw_relay::{FrameRef, MAX_INTERLEAVED_PAYLOAD, Packet, WireKey};

/// iovecs per writev: two per packet, below the usual IOV_MAX of 1024.
const MAX_IOV: usize = 1024;

/// How one track reaches this reader.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrackOut {
    pub channel: u8,
    pub ssrc: u32,
    pub payload_type: u8,
}

/// Reusable buffers of one TCP reader.
#[derive(Debug, Default)]
pub(crate) struct TcpWriter {
    /// The interleaved and RTP headers of the packets written one by one,
    /// 16 bytes each.
    headers: Vec<u8>,
    pub bytes_written: u64,
}

/// The packets of `f` this reader gets, in order.
fn writable<'a>(
    f: &'a FrameRef,
    tracks: &'a [Option<TrackOut>],
) -> impl Iterator<Item = (&'a Packet, u16, &'a TrackOut)> + 'a {
    f.iter().filter_map(|(p, seq)| {
        let t = tracks.get(usize::from(p.track))?.as_ref()?;
        (p.payload.len() <= MAX_INTERLEAVED_PAYLOAD).then_some((p, seq, t))
    })
}

impl TcpWriter {
    /// Writes every packet of `batch` (those of tracks this reader has) as
    /// interleaved frames. A frame whose shared wire image fits this reader
    /// (`wire` is its key, when its tracks are set up the usual way) goes out
    /// as that one buffer; others packet by packet, a header built here and
    /// the shared payload. Returns the bytes written.
    pub(crate) async fn write<W: tokio::io::AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        batch: &VecDeque<FrameRef>,
        tracks: &[Option<TrackOut>],
        wire: Option<&WireKey>,
    ) -> std::io::Result<usize> {
        self.headers.clear();
        let mut iovs = 0;
        for f in batch {
            if wire.and_then(|k| f.wire_image(k)).is_some() {
                iovs += 1;
                continue;
            }
            for (p, seq, t) in writable(f, tracks) {
                self.headers.extend_from_slice(&p.interleaved_header(
                    t.channel,
                    seq,
                    t.payload_type,
                    t.ssrc,
                ));
                iovs += 2;
            }
        }
        let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(iovs.min(MAX_IOV));
        let mut total = 0;
        // The same walk again, pairing each header with its payload.
        let mut headers = self.headers.chunks_exact(16);
        for f in batch {
            if let Some(img) = wire.and_then(|k| f.wire_image(k)) {
                // Empty when every packet of the frame is too large for
                // interleaving (skipped on either path); an empty iovec
                // alone would read as a zero-length write.
                if !img.is_empty() {
                    iov.push(IoSlice::new(img));
                }
            } else {
                for ((p, _, _), h) in writable(f, tracks).zip(&mut headers) {
                    iov.push(IoSlice::new(h));
                    iov.push(IoSlice::new(&p.payload));
                    if iov.len() >= MAX_IOV - 1 {
                        total += write_all_vectored(w, &mut iov).await?;
                        iov.clear();
                    }
                }
            }
            if iov.len() >= MAX_IOV - 1 {
                total += write_all_vectored(w, &mut iov).await?;
                iov.clear();
            }
        }
        if !iov.is_empty() {
            total += write_all_vectored(w, &mut iov).await?;
        }
        self.bytes_written += total as u64;
        Ok(total)
    }
}

async fn write_all_vectored<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    mut bufs: &mut [IoSlice<'_>],
) -> std::io::Result<usize> {
    let mut total = 0;
    while !bufs.is_empty() {
        let n = w.write_vectored(bufs).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        total += n;
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(total)
}

/// Sends every packet of `batch` over UDP to `dest(track)`. Returns bytes
/// sent. A packet the kernel refuses is dropped (UDP semantics), never
/// retried forever.
pub(crate) async fn write_udp(
    sock: &UdpSocket,
    batch: &VecDeque<FrameRef>,
    tracks: &[Option<(TrackOut, SocketAddr)>],
) -> u64 {
    let mut sent = 0u64;
    for (p, seq) in batch.iter().flat_map(|f| f.iter()) {
        let Some(Some((t, dest))) = tracks.get(usize::from(p.track)) else {
            continue;
        };
        let h = p.rtp_header(seq, t.payload_type, t.ssrc);
        let iov = [IoSlice::new(&h), IoSlice::new(&p.payload)];
        loop {
            let r = sock.try_io(tokio::io::Interest::WRITABLE, || {
                socket2::SockRef::from(sock).send_to_vectored(&iov, &(*dest).into())
            });
            match r {
                Ok(n) => {
                    sent += n as u64;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if sock.writable().await.is_err() {
                        return sent;
                    }
                }
                Err(_) => break,
            }
        }
    }
    sent
}

/// Client side helper (benchmarks, tests): the length of the interleaved
/// frame at the front of `buf`, as (channel, total frame length), or `None`
/// if `buf` does not start with a complete frame.
pub fn interleaved_frame_len(buf: &[u8]) -> Option<(u8, usize)> {
    if buf.len() < 4 || buf[0] != b'$' {
        return None;
    }
    let n = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    (buf.len() >= n).then_some((buf[1], n))
}

/// A frame split off by [`FrameParser`].
#[derive(Debug, PartialEq, Eq)]
pub enum InterleavedFrame<'a> {
    /// `$` frame: channel and the RTP/RTCP packet.
    Data(u8, &'a [u8]),
    /// An RTSP message (response or request) in text form, headers and body.
    Rtsp(&'a [u8]),
}

/// Client side: splits the byte stream of an RTSP connection that carries
/// interleaved data into frames. Bounded: a text message over 64 KiB is an
/// error.
#[derive(Debug, Default)]
pub struct FrameParser;

impl FrameParser {
    /// Returns the frame at the front of `buf` and its length, `Ok(None)` if
    /// more bytes are needed, `Err(())` if the stream is not RTSP.
    #[allow(clippy::result_unit_err)]
    pub fn next(buf: &[u8]) -> Result<Option<(InterleavedFrame<'_>, usize)>, ()> {
        if buf.is_empty() {
            return Ok(None);
        }
        if buf[0] == b'$' {
            return Ok(interleaved_frame_len(buf)
                .map(|(ch, n)| (InterleavedFrame::Data(ch, &buf[4..n]), n)));
        }
        let limit = buf.len().min(64 * 1024);
        let Some(end) = buf[..limit].windows(4).position(|w| w == b"\r\n\r\n") else {
            return if buf.len() >= 64 * 1024 {
                Err(())
            } else {
                Ok(None)
            };
        };
        let head = std::str::from_utf8(&buf[..end]).map_err(|_| ())?;
        let mut body = 0usize;
        for l in head.split("\r\n") {
            if let Some((k, v)) = l.split_once(':')
                && k.trim().eq_ignore_ascii_case("content-length")
            {
                body = v.trim().parse().map_err(|_| ())?;
            }
        }
        if body > 64 * 1024 {
            return Err(());
        }
        let n = end + 4 + body;
        if buf.len() < n {
            return Ok(None);
        }
        Ok(Some((InterleavedFrame::Rtsp(&buf[..n]), n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test]
    async fn frames_are_written_with_headers() {
        let mut batch = VecDeque::new();
        batch.push_back(FrameRef::whole(vec![
            Packet::new(0, 7, 90000, true, Bytes::from_static(b"abc")),
            Packet::new(1, 8, 8000, false, Bytes::from_static(b"zz")),
        ]));
        batch.push_back(FrameRef::whole(vec![Packet::new(
            2,
            9,
            1,
            false,
            Bytes::from_static(b"skip"),
        )]));
        let tracks = [
            Some(TrackOut {
                channel: 0,
                ssrc: 0x01020304,
                payload_type: 96,
            }),
            Some(TrackOut {
                channel: 2,
                ssrc: 5,
                payload_type: 8,
            }),
            None,
        ];
        let mut out = Vec::new();
        let mut w = TcpWriter::default();
        let n = w.write(&mut out, &batch, &tracks, None).await.unwrap();
        assert_eq!(n, out.len());
        let (ch, len) = interleaved_frame_len(&out).unwrap();
        assert_eq!((ch, len), (0, 4 + 15));
        assert_eq!(
            &out[4..16],
            &[0x80, 0xe0, 0, 7, 0, 1, 0x5f, 0x90, 1, 2, 3, 4]
        );
        assert_eq!(&out[16..19], b"abc");
        let rest = &out[len..];
        assert_eq!(interleaved_frame_len(rest), Some((2, 4 + 14)));
        assert_eq!(rest.len(), 18);
    }

    fn key(ssrc: u32, pt: u8) -> WireKey {
        WireKey {
            ssrc: [ssrc, ssrc + 1, 0, 0, 0, 0, 0, 0],
            payload_type: [pt, 8, 0, 0, 0, 0, 0, 0],
        }
    }

    fn usual_tracks(k: &WireKey) -> [Option<TrackOut>; 2] {
        [0, 1].map(|i| {
            Some(TrackOut {
                channel: 2 * i as u8,
                ssrc: k.ssrc[i],
                payload_type: k.payload_type[i],
            })
        })
    }

    fn av_frame(seq: u16) -> Vec<Packet> {
        vec![
            Packet::new(0, seq, 3000, false, Bytes::from(vec![0x65; 1400])),
            Packet::new(1, seq, 160, true, Bytes::from_static(b"audio")),
            Packet::new(0, seq + 1, 3000, true, Bytes::from(vec![7; 300])),
        ]
    }

    /// The shared image carries exactly the bytes the per-packet path writes,
    /// and readers with another key fall back to their own headers.
    #[tokio::test]
    async fn shared_wire_image_matches_per_packet_writing() {
        let k = key(0x1122_3344, 96);
        let tracks = usual_tracks(&k);
        let batch: VecDeque<FrameRef> = [10, 20].map(|s| FrameRef::whole(av_frame(s))).into();

        let mut per_packet = Vec::new();
        let n = TcpWriter::default()
            .write(&mut per_packet, &batch, &tracks, None)
            .await
            .unwrap();
        assert_eq!(n, per_packet.len());
        assert_eq!(n, 2 * (3 * 16 + 1400 + 5 + 300));

        let mut shared = Vec::new();
        TcpWriter::default()
            .write(&mut shared, &batch, &tracks, Some(&k))
            .await
            .unwrap();
        assert_eq!(shared, per_packet);
        assert!(batch[0].wire_image(&k).is_some());

        // The image was built for `k`; a reader with another key (another
        // payload type) gets its own headers, and they are right.
        let other = key(0x1122_3344, 97);
        assert!(batch[0].wire_image(&other).is_none());
        let tracks2 = usual_tracks(&other);
        let mut mine = Vec::new();
        TcpWriter::default()
            .write(&mut mine, &batch, &tracks2, Some(&other))
            .await
            .unwrap();
        let mut expect = Vec::new();
        TcpWriter::default()
            .write(&mut expect, &batch, &tracks2, None)
            .await
            .unwrap();
        assert_eq!(mine, expect);
        assert_eq!(mine[5] & 0x7f, 97);
        assert_ne!(mine, per_packet);
    }

    #[test]
    fn frame_parser() {
        let mut s = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 2\r\n\r\nhi".to_vec();
        s.extend_from_slice(&[b'$', 0, 0, 1, 9]);
        let (f, n) = FrameParser::next(&s).unwrap().unwrap();
        assert!(matches!(f, InterleavedFrame::Rtsp(_)));
        let (f, m) = FrameParser::next(&s[n..]).unwrap().unwrap();
        assert_eq!(f, InterleavedFrame::Data(0, &[9]));
        assert_eq!(n + m, s.len());
        assert!(FrameParser::next(&s[..n - 1]).unwrap().is_none());
    }
}
