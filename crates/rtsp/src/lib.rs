//! The gateway's RTSP/1.0 server: readers (VLC, ffmpeg, GStreamer, upper
//! gateways) DESCRIBE, SETUP and PLAY a stream by path and get the relay's
//! packets over TCP interleaved or UDP unicast.
//!
//! What it does: accepts connections (bounded in number), parses requests
//! with `rtsp-types` under strict size and time limits, answers with the
//! right status codes, keeps sessions, and writes each reader's packets from
//! its relay [`xlgw_relay::Reader`] in batches (vectored writes on TCP), with
//! per-reader RTP headers (own SSRC, continuous sequence numbers).
//!
//! What it must not do: know about cameras, the catalogue or ingest. A
//! stream is found through the [`Streams`] trait that the binary provides; a
//! bad request or a slow client affects only its own connection.

mod conn;
mod request;
mod server;
mod transport;
mod write;

pub use request::{MAX_REQUEST_BYTES, Next, next_message, parse_path};
pub use server::{Resolved, Server, ServerConfig, ServerStats, StreamError, Streams};
pub use transport::{TransportSpec, parse_transport};
pub use write::{FrameParser, InterleavedFrame, interleaved_frame_len};
