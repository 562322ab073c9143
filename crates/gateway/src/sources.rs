//! Where a camera's packets come from: `rtsp://` cameras through retina, and
//! `clip:NAME` built-in looping sources (the demo's cameras).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use xlgw_clip::Clip;
use xlgw_ingest::{IngestError, OpenTransport, Opened, Opener, RetinaOpener};
use xlgw_model::Camera;
use xlgw_source::{Packetizer, paced, stream_info};

/// Clips compiled into the binary, so the demo needs no files.
pub fn embedded_clips() -> anyhow::Result<HashMap<String, Arc<Clip>>> {
    macro_rules! clip {
        ($name:literal, $video:literal, $audio:literal) => {
            (
                $name.to_owned(),
                Arc::new(Clip::from_bytes(
                    include_str!(concat!("../../../test-streams/", $name, "/clip.toml")),
                    Bytes::from_static(include_bytes!(concat!(
                        "../../../test-streams/",
                        $name,
                        "/",
                        $video
                    ))),
                    Some(Bytes::from_static(include_bytes!(concat!(
                        "../../../test-streams/",
                        $name,
                        "/",
                        $audio
                    )))),
                )?),
            )
        };
    }
    Ok(HashMap::from([
        clip!("h264-aac-720p", "video.h264", "audio.aac"),
        clip!("h265-pcma-720p", "video.h265", "audio.alaw"),
    ]))
}

/// Opens `clip:` URLs in-process and everything else with retina.
pub struct Sources {
    retina: RetinaOpener,
    clips: HashMap<String, Arc<Clip>>,
}

impl Sources {
    pub fn new(clips: HashMap<String, Arc<Clip>>) -> Sources {
        Sources {
            retina: RetinaOpener::new(),
            clips,
        }
    }

    fn clip(&self, name: &str) -> Result<Arc<Clip>, IngestError> {
        if let Some(c) = self.clips.get(name) {
            return Ok(c.clone());
        }
        // A directory on disk in the test-streams layout.
        let p = Path::new(name);
        if p.is_dir() {
            return Clip::load(p)
                .map(Arc::new)
                .map_err(|e| IngestError::Other(format!("clip {name}: {e}")));
        }
        Err(IngestError::Other(format!("no clip named {name}")))
    }
}

impl Opener for Sources {
    fn open(
        &self,
        camera: &Camera,
        transport: OpenTransport,
    ) -> BoxFuture<'static, Result<Opened, IngestError>> {
        let Some(name) = camera.url.strip_prefix("clip:") else {
            return self.retina.open(camera, transport);
        };
        let clip = self.clip(name);
        Box::pin(async move {
            let clip = clip?;
            let info = stream_info(&clip);
            let p = Packetizer::new(
                clip,
                [rand_u32(), rand_u32()],
                [rand_u32() as u16, rand_u32() as u16],
            );
            Ok(Opened {
                info,
                packets: paced(p).map(Ok).boxed(),
            })
        })
    }
}

fn rand_u32() -> u32 {
    rand::random()
}
