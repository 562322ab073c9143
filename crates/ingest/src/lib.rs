//! Ingest: pulls cameras over RTSP and feeds their RTP packets to the relay.
//!
//! What it does: for each camera a supervisor task ([`spawn`]) opens the
//! camera through an [`Opener`] (the real one, [`RetinaOpener`], uses the
//! retina client: DESCRIBE with the camera's credentials, SETUP of every
//! relayable track, PLAY), describes the stream to the relay hub
//! ([`xlgw_relay::Hub::upstream_started`]) and publishes every raw RTP packet
//! as it came. It watches for connect, first-packet and stall timeouts,
//! reconnects forever with jittered exponential backoff, falls back from UDP
//! to TCP for transport `auto`, and pulls on-demand cameras only while someone
//! watches. Per camera it keeps a status ([`CameraStatus`]) and cheap atomic
//! health counters ([`IngestStats`]).
//!
//! What it must not do: depacketize, transcode or otherwise look into media
//! (the relay learns what it needs in-band); rewrite sequence numbers or
//! timestamps (the hub does, across reconnects); block or take locks per
//! packet beyond the hub's own; or let a camera's credentials reach a log
//! line, an error, a status or a `Debug` output (every text is passed through
//! a [`Scrubber`], URLs are shown without userinfo). It serves no readers
//! and opens no listening sockets.

mod error;
mod opener;
mod retina_opener;
mod sdp;
mod stats;
mod supervisor;

pub use error::{IngestError, Scrubber, Stage, display_url};
pub use opener::{OpenTransport, Opened, Opener};
pub use retina_opener::{MAX_TRACKS, RetinaOpener, USER_AGENT};
pub use stats::IngestStats;
pub use supervisor::{CameraHandle, CameraState, CameraStatus, IngestConfig, spawn};
