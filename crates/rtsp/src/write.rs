//! Writing a reader's packets: per-reader RTP headers around shared payloads,
//! many packets (several frames when the reader is behind) per system call.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::UdpSocket;
use xlgw_relay::{FrameRef, Packet};

/// Largest RTP payload that fits one interleaved frame with its header.
const MAX_PAYLOAD: usize = 65535 - 12;
/// iovecs per writev: two per packet, below the usual IOV_MAX of 1024.
const MAX_IOV: usize = 1024;

/// How one track reaches this reader.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrackOut {
    pub channel: u8,
    pub ssrc: u32,
    pub payload_type: u8,
}

/// The RTP fixed header (RFC 3550 §5.1) for `p` as this reader sees it
/// (`seq` is its own sequence number).
pub(crate) fn rtp_header(p: &Packet, seq: u16, t: &TrackOut) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0] = 0x80;
    h[1] = (t.payload_type & 0x7f) | if p.marker() { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&p.timestamp.to_be_bytes());
    h[8..12].copy_from_slice(&t.ssrc.to_be_bytes());
    h
}

/// Reusable buffers of one TCP reader.
#[derive(Debug, Default)]
pub(crate) struct TcpWriter {
    /// The interleaved and RTP headers of the packets being written, 16
    /// bytes each.
    headers: Vec<u8>,
    pub bytes_written: u64,
}

/// The packets of `batch` this reader gets, in order.
fn writable<'a>(
    batch: &'a VecDeque<FrameRef>,
    tracks: &'a [Option<TrackOut>],
) -> impl Iterator<Item = (&'a Packet, u16, &'a TrackOut)> + 'a {
    batch.iter().flat_map(|f| f.iter()).filter_map(|(p, seq)| {
        let t = tracks.get(usize::from(p.track))?.as_ref()?;
        (p.payload.len() <= MAX_PAYLOAD).then_some((p, seq, t))
    })
}

impl TcpWriter {
    /// Writes every packet of `batch` (those of tracks this reader has) as
    /// interleaved frames. Returns the bytes written.
    pub(crate) async fn write<W: tokio::io::AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        batch: &VecDeque<FrameRef>,
        tracks: &[Option<TrackOut>],
    ) -> std::io::Result<usize> {
        self.headers.clear();
        for (p, seq, t) in writable(batch, tracks) {
            let len = (12 + p.payload.len()) as u16;
            self.headers.push(b'$');
            self.headers.push(t.channel);
            self.headers.extend_from_slice(&len.to_be_bytes());
            self.headers.extend_from_slice(&rtp_header(p, seq, t));
        }
        let packets = self.headers.len() / 16;
        let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity((packets * 2).min(MAX_IOV));
        let mut total = 0;
        // The same walk again, pairing each header with its payload.
        for ((p, _, _), h) in writable(batch, tracks).zip(self.headers.chunks_exact(16)) {
            iov.push(IoSlice::new(h));
            iov.push(IoSlice::new(&p.payload));
            if iov.len() >= MAX_IOV {
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
        let h = rtp_header(p, seq, t);
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
        let n = w.write(&mut out, &batch, &tracks).await.unwrap();
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
