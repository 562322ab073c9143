//! The relay core of the gateway: one upstream stream fanned out to many
//! readers.
//!
//! What it does: holds the description of a camera's stream ([`StreamInfo`]),
//! takes its RTP packets one by one ([`Hub::publish`]), keeps the packets since
//! the last keyframe (GOP cache) so a new reader starts with a picture at
//! once, keeps sequence numbers and timestamps continuous across upstream
//! reconnects, learns parameter sets sent in-band, and hands each completed
//! frame (its packets shared, [`Frame`]) to every reader's own bounded
//! queue. A reader that falls behind skips to the next keyframe (its discards
//! are counted); a reader that stops draining is closed after a write
//! timeout.
//!
//! What it must not do: any I/O. There are no sockets, no threads, no clocks
//! in here: time is passed in by the caller, waking is done with plain
//! [`std::task::Waker`]s, so the core is deterministic and tested without a
//! network. The payload of a packet is never copied per reader (readers share
//! one [`bytes::Bytes`]) and no lock shared by all readers is taken per packet
//! on the reader side.

pub mod codec;
mod hub;
mod media;
mod queue;
mod rewrite;

pub use hub::{
    Hub, HubConfig, HubSnapshot, HubStats, Reader, ReaderStats, Ready, RecvBatch, RecvFrames,
};
pub use media::{Codec, MediaKind, Packet, StreamInfo, Track};
pub use queue::{
    CloseReason, Frame, FrameRef, MAX_INTERLEAVED_PAYLOAD, MAX_TRACKS, QueueConfig, WireKey,
};
