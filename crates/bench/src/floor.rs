//! `floor`: the physical floor of fan-out on this machine. The clip's frames
//! are cut into the same interleaved RTP bytes a relay would send (with the
//! same SEI stamps), built once per frame into one shared buffer, and
//! written at the real frame rate to every connected loopback socket with
//! one write per frame per socket. No protocol: a reader connects and
//! receives; nothing is parsed, no per-reader state beyond the socket.
//! Connection `k` gets stream `k % streams`; a new connection first gets the
//! frames since the last keyframe (like a relay's GOP cache).
//!
//! With `--udp`, readers send one datagram ("hello") to the UDP port and get
//! each RTP packet as one datagram (one `sendto` per packet per reader).

use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use xlgw_clip::{VideoCodec, VideoFrame};

use crate::rtp::write_header;
use crate::sei::{self, Stamp, wall_ns};

/// A connection with more than this waiting is dropped.
const MAX_PENDING: usize = 8 << 20;

#[derive(Debug, Clone)]
pub struct FloorOpts {
    pub listen: SocketAddr,
    pub clip: PathBuf,
    pub streams: usize,
    pub udp: bool,
}

/// One clip frame cut into RTP payloads; the stamp goes in at `sei_at`.
struct PreFrame {
    payloads: Vec<(Bytes, bool)>,
    sei_at: usize,
    key: bool,
}

fn prepare(codec: VideoCodec, f: &VideoFrame) -> PreFrame {
    let is_ps = |n: &Bytes| match codec {
        VideoCodec::H264 => n.first().is_some_and(|h| (7..=9).contains(&(h & 0x1f))),
        VideoCodec::H265 => n
            .first()
            .is_some_and(|h| (32..=35).contains(&((h >> 1) & 0x3f))),
    };
    let sei_at = f.nalus.iter().take_while(|n| is_ps(n)).count();
    let mut payloads = Vec::new();
    xlgw_source::packetize_video(codec, &f.nalus, &mut payloads);
    PreFrame {
        payloads,
        sei_at,
        key: f.keyframe,
    }
}

/// One frame as it goes out: interleaved RTP packets back to back.
struct FrameBuf {
    bytes: Vec<u8>,
    /// Start and length of each RTP packet (after its 4-byte prefix).
    packets: Vec<(usize, usize)>,
}

struct Stream {
    index: u32,
    seq: u16,
    frame_no: u64,
    ts_base: u32,
    ssrc: u32,
    conns: Vec<Conn>,
    udp: Vec<SocketAddr>,
    gop: Vec<Arc<FrameBuf>>,
}

impl Stream {
    fn build(&mut self, codec: VideoCodec, pre: &PreFrame, ts_step: u32) -> Arc<FrameBuf> {
        self.frame_no += 1;
        let stamp = sei::build(
            codec,
            Stamp {
                sent_ns: wall_ns(),
                frame: self.frame_no,
                stream: self.index,
            },
        );
        let ts = self
            .ts_base
            .wrapping_add((self.frame_no as u32).wrapping_mul(ts_step));
        let total: usize = pre.payloads.iter().map(|(p, _)| p.len() + 16).sum();
        let mut bytes = Vec::with_capacity(total + stamp.len() + 16);
        let mut packets = Vec::with_capacity(pre.payloads.len() + 1);
        let mut put = |payload: &[u8], marker: bool, seq: &mut u16| {
            let len = 12 + payload.len();
            bytes.push(b'$');
            bytes.push(0);
            bytes.extend_from_slice(&(len as u16).to_be_bytes());
            packets.push((bytes.len(), len));
            write_header(&mut bytes, 96, marker, *seq, ts, self.ssrc);
            bytes.extend_from_slice(payload);
            *seq = seq.wrapping_add(1);
        };
        let mut seq = self.seq;
        for (i, (p, m)) in pre.payloads.iter().enumerate() {
            if i == pre.sei_at {
                put(&stamp, false, &mut seq);
            }
            put(p, *m, &mut seq);
        }
        self.seq = seq;
        Arc::new(FrameBuf { bytes, packets })
    }
}

struct Conn {
    sock: TcpStream,
    pending: VecDeque<(Arc<FrameBuf>, usize)>,
    pending_bytes: usize,
}

#[derive(Debug, Default)]
struct Stats {
    bytes: u64,
    writes: u64,
    partial: u64,
    dropped: u64,
    udp_dropped: u64,
}

impl Conn {
    /// Writes what is pending. `Err` when the connection is gone.
    fn flush(&mut self, st: &mut Stats) -> Result<(), ()> {
        while let Some((b, off)) = self.pending.front_mut() {
            st.writes += 1;
            match self.sock.write(&b.bytes[*off..]) {
                Ok(n) => {
                    st.bytes += n as u64;
                    self.pending_bytes -= n;
                    *off += n;
                    if *off < b.bytes.len() {
                        st.partial += 1;
                        return Ok(());
                    }
                    self.pending.pop_front();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        Ok(())
    }

    fn send(&mut self, b: &Arc<FrameBuf>, st: &mut Stats) -> Result<(), ()> {
        self.pending.push_back((b.clone(), 0));
        self.pending_bytes += b.bytes.len();
        self.flush(st)?;
        if self.pending_bytes > MAX_PENDING {
            st.dropped += 1;
            return Err(());
        }
        Ok(())
    }
}

/// A new connection: it gets the frames since the last keyframe, then live.
fn attach(s: &mut Stream, sock: TcpStream, st: &mut Stats) {
    let _ = sock.set_nodelay(true);
    if sock.set_nonblocking(true).is_err() {
        return;
    }
    let mut c = Conn {
        sock,
        pending: VecDeque::new(),
        pending_bytes: 0,
    };
    for b in &s.gop {
        c.pending.push_back((b.clone(), 0));
        c.pending_bytes += b.bytes.len();
    }
    if c.flush(st).is_ok() {
        s.conns.push(c);
    }
}

fn send_udp(sock: &UdpSocket, dest: SocketAddr, b: &FrameBuf, st: &mut Stats) {
    for &(off, len) in &b.packets {
        match sock.send_to(&b.bytes[off..off + len], dest) {
            Ok(n) => st.bytes += n as u64,
            Err(_) => st.udp_dropped += 1,
        }
        st.writes += 1;
    }
}

/// Serves forever (until killed).
pub fn run(o: FloorOpts) -> anyhow::Result<()> {
    let clip = crate::camera::load_clip(&o.clip, false)?;
    let codec = clip.info.video_codec;
    let frames: Vec<PreFrame> = clip.video.iter().map(|f| prepare(codec, f)).collect();
    anyhow::ensure!(!frames.is_empty(), "clip has no frames");
    let fps = clip.info.fps.max(1);
    let ts_step = 90_000 / fps;
    let interval = Duration::from_secs(1) / fps;
    let k = o.streams.max(1);

    let listener = TcpListener::bind(o.listen).with_context(|| format!("binding {}", o.listen))?;
    let addr = listener.local_addr()?;
    let udp = if o.udp {
        let s = socket2::Socket::new(
            socket2::Domain::for_address(o.listen),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        let _ = s.set_send_buffer_size(4 << 20);
        s.bind(&SocketAddr::new(o.listen.ip(), 0).into())?;
        let u: UdpSocket = s.into();
        u.set_nonblocking(true)?;
        Some(u)
    } else {
        None
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "READY tcp://{addr}")?;
        if let Some(u) = &udp {
            writeln!(out, "READY udp://{}", u.local_addr()?)?;
        }
        out.flush()?;
    }
    let (tx, rx) = mpsc::channel::<TcpStream>();
    std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || {
            for s in listener.incoming().flatten() {
                if tx.send(s).is_err() {
                    return;
                }
            }
        })?;

    let mut streams: Vec<Stream> = (0..k)
        .map(|i| Stream {
            index: i as u32,
            seq: rand::random(),
            frame_no: 0,
            ts_base: rand::random(),
            ssrc: rand::random(),
            conns: Vec::new(),
            udp: Vec::new(),
            gop: Vec::new(),
        })
        .collect();
    let mut st = Stats::default();
    let (mut accepted, mut udp_joined) = (0usize, 0usize);
    let start = Instant::now() + Duration::from_millis(100);
    let mut last_log = Instant::now();
    let mut dgram = [0u8; 64];
    for n in 0u64.. {
        let pre = &frames[(n % frames.len() as u64) as usize];
        for i in 0..k {
            let due = start
                + interval * u32::try_from(n).unwrap_or(u32::MAX)
                + interval * u32::try_from(i).unwrap_or(0) / u32::try_from(k).unwrap_or(1);
            // New readers join at once when we are behind, or while we
            // wait, with the GOP so far.
            while let Ok(sock) = rx.try_recv() {
                attach(&mut streams[accepted % k], sock, &mut st);
                accepted += 1;
            }
            loop {
                let now = Instant::now();
                if due <= now {
                    break;
                }
                match rx.recv_timeout(due - now) {
                    Ok(sock) => {
                        attach(&mut streams[accepted % k], sock, &mut st);
                        accepted += 1;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                        break;
                    }
                }
            }
            let s = &mut streams[i];
            let buf = s.build(codec, pre, ts_step);
            if pre.key {
                s.gop.clear();
            }
            s.gop.push(buf.clone());
            let before = s.conns.len();
            s.conns.retain_mut(|c| c.send(&buf, &mut st).is_ok());
            if s.conns.len() < before {
                tracing::debug!(gone = before - s.conns.len(), "connections closed");
            }
            if let Some(u) = &udp {
                for &d in &s.udp {
                    send_udp(u, d, &buf, &mut st);
                }
            }
        }
        if let Some(u) = &udp {
            while let Ok((n, from)) = u.recv_from(&mut dgram) {
                if &dgram[..n] == b"bye" {
                    for s in streams.iter_mut() {
                        s.udp.retain(|d| *d != from);
                    }
                } else {
                    let s = &mut streams[udp_joined % k];
                    udp_joined += 1;
                    for b in &s.gop {
                        send_udp(u, from, b, &mut st);
                    }
                    s.udp.push(from);
                }
            }
        }
        if last_log.elapsed() >= Duration::from_secs(10) {
            last_log = Instant::now();
            let conns: usize = streams.iter().map(|s| s.conns.len()).sum();
            let dests: usize = streams.iter().map(|s| s.udp.len()).sum();
            tracing::info!(
                conns,
                dests,
                bytes = st.bytes,
                writes = st.writes,
                partial = st.partial,
                dropped = st.dropped,
                udp_dropped = st.udp_dropped,
                "floor"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_stamp_after_parameter_sets() {
        let f = VideoFrame {
            pts: 0,
            keyframe: true,
            nalus: vec![
                Bytes::from_static(&[0x67, 1]),
                Bytes::from_static(&[0x68, 2]),
                Bytes::from(vec![0x65; 3000]),
            ],
        };
        let pre = prepare(VideoCodec::H264, &f);
        assert_eq!(pre.sei_at, 2);
        let mut s = Stream {
            index: 3,
            seq: 65535,
            frame_no: 0,
            ts_base: 0,
            ssrc: 9,
            conns: Vec::new(),
            udp: Vec::new(),
            gop: Vec::new(),
        };
        let b = s.build(VideoCodec::H264, &pre, 3600);
        assert_eq!(b.packets.len(), pre.payloads.len() + 1);
        let (off, len) = b.packets[2];
        let h = crate::rtp::parse_header(&b.bytes[off..off + len]).unwrap();
        assert_eq!(h.seq, 1);
        let st = crate::rtp::inspect(VideoCodec::H264, &b.bytes[off + 12..off + len]).stamp;
        assert_eq!(st.map(|s| (s.frame, s.stream)), Some((1, 3)));
        let (off, len) = *b.packets.last().unwrap();
        assert!(
            crate::rtp::parse_header(&b.bytes[off..off + len])
                .unwrap()
                .marker
        );
        assert_eq!(s.seq, 65535u16.wrapping_add(b.packets.len() as u16));
    }
}
