//! The seam between the supervisor and the RTSP client: an [`Opener`]
//! connects to a camera and hands back its stream description and its raw
//! packets. [`crate::RetinaOpener`] is the real one; tests inject their own.

use std::fmt;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use xlgw_model::Camera;
use xlgw_relay::{Packet, StreamInfo};

use crate::IngestError;

/// How RTP travels from the camera for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenTransport {
    /// Interleaved in the RTSP TCP connection.
    Tcp,
    /// On separate UDP ports.
    Udp,
}

impl OpenTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            OpenTransport::Tcp => "tcp",
            OpenTransport::Udp => "udp",
        }
    }
}

impl fmt::Display for OpenTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A playing session: what it carries and its packets. Dropping it ends the
/// session (the retina opener tears it down in the background, so drop it
/// inside the tokio runtime).
pub struct Opened {
    pub info: StreamInfo,
    /// Raw RTP packets (payload without header and padding), track indexes
    /// as in `info`. An `Err` or the end of the stream ends the session.
    pub packets: BoxStream<'static, Result<Packet, IngestError>>,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Connects to a camera: DESCRIBE, SETUP, PLAY. Shared by all supervisors.
pub trait Opener: Send + Sync + 'static {
    fn open(
        &self,
        camera: &Camera,
        transport: OpenTransport,
    ) -> BoxFuture<'static, Result<Opened, IngestError>>;
}
