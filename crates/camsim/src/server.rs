//! The RTSP server: one shared media factory per mount, optional digest
//! authentication, and going down / coming back up for `--flap`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use gstreamer as gst;
use gstreamer::glib;
use gstreamer_rtsp as gst_rtsp;
use gstreamer_rtsp_server as rtsp_server;
use rtsp_server::prelude::*;
use xlgw_clip::Clip;

use crate::args::Mount;
use crate::feeder::{Feeder, PreparedClip};

/// Role given to the authenticated user.
const USER_ROLE: &str = "user";

/// Stop flags of all feeders started so far (finished ones are pruned).
type StopFlags = Arc<Mutex<Vec<Arc<AtomicBool>>>>;

/// The simulated camera: an RTSP server with its mounts.
#[derive(Debug)]
pub struct Camera {
    server: rtsp_server::RTSPServer,
    listen: SocketAddr,
    source: Option<glib::SourceId>,
    stops: StopFlags,
}

impl Camera {
    /// Loads every clip and sets up the server; does not listen yet.
    pub fn new(
        listen: SocketAddr,
        mounts: &[Mount],
        credentials: Option<(&str, &str)>,
    ) -> anyhow::Result<Camera> {
        let server = rtsp_server::RTSPServer::new();
        server.set_address(&listen.ip().to_string());
        server.set_service(&listen.port().to_string());
        let mount_points = server
            .mount_points()
            .context("RTSP server has no mount points")?;
        let stops: StopFlags = Arc::default();

        let mut seen = std::collections::HashSet::new();
        for mount in mounts {
            if !seen.insert(mount.path.as_str()) {
                bail!("mount path {} given twice", mount.path);
            }
            let clip = Clip::load(&mount.dir)
                .with_context(|| format!("loading clip {}", mount.dir.display()))?;
            tracing::info!(
                mount = %mount.path,
                clip = %mount.dir.display(),
                codec = clip.info.video_codec.as_str(),
                width = clip.info.width,
                height = clip.info.height,
                frames = clip.video.len(),
                audio = clip.info.audio.map_or("none", |a| a.codec.as_str()),
                "mount"
            );
            let prepared = Arc::new(PreparedClip::new(&clip));
            for name in prepared.required_elements() {
                if gst::ElementFactory::find(name).is_none() {
                    bail!(
                        "GStreamer element '{name}' (needed for {}) is not installed",
                        mount.path
                    );
                }
            }
            let factory = make_factory(&mount.path, prepared, stops.clone());
            if credentials.is_some() {
                let role = gst::Structure::builder(USER_ROLE)
                    .field(rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                    .field(rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                    .build();
                factory.add_role_from_structure(&role);
            }
            mount_points.add_factory(&mount.path, factory);
        }

        if let Some((user, password)) = credentials {
            let auth = rtsp_server::RTSPAuth::new();
            auth.set_supported_methods(gst_rtsp::RTSPAuthMethod::Digest);
            let token = rtsp_server::RTSPToken::builder()
                .field(rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE, USER_ROLE)
                .build();
            auth.add_digest(user, password, &token);
            server.set_auth(Some(&auth));
            tracing::info!("digest authentication enabled");
        }

        Ok(Camera {
            server,
            listen,
            source: None,
            stops,
        })
    }

    /// Starts listening (on the default main context) and returns the bound
    /// address; with port 0 the same port is kept for later [`Camera::go_up`]s.
    pub fn start(&mut self) -> anyhow::Result<SocketAddr> {
        let id = self
            .server
            .attach(None)
            .with_context(|| format!("cannot listen on {}", self.listen))?;
        self.source = Some(id);
        let port = u16::try_from(self.server.bound_port())
            .ok()
            .filter(|&p| p != 0)
            .context("RTSP server reports no bound port")?;
        if self.listen.port() == 0 {
            self.listen.set_port(port);
            self.server.set_service(&port.to_string());
        }
        Ok(self.listen)
    }

    /// Drops every client and session and closes the listening socket.
    pub fn go_down(&mut self) {
        if let Some(id) = self.source.take() {
            // Destroying the source releases the listening socket.
            id.remove();
        }
        let mut clients = 0usize;
        self.server.client_filter(Some(&mut |_, _| {
            clients += 1;
            rtsp_server::RTSPFilterResult::Remove
        }));
        let mut sessions = 0usize;
        if let Some(pool) = self.server.session_pool() {
            pool.filter(Some(&mut |_, _| {
                sessions += 1;
                rtsp_server::RTSPFilterResult::Remove
            }));
        }
        tracing::info!(clients, sessions, "down: clients dropped, not listening");
    }

    /// Listens again after [`Camera::go_down`].
    pub fn go_up(&mut self) -> anyhow::Result<()> {
        if self.source.is_none() {
            self.start()?;
            tracing::info!("up: listening again");
        }
        Ok(())
    }

    /// Stops listening, drops clients and stops all feeders.
    pub fn shutdown(&mut self) {
        self.go_down();
        let stops = match self.stops.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        for stop in stops.iter() {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// A shared factory whose media are fed from `clip` by a [`Feeder`] thread.
fn make_factory(
    path: &str,
    clip: Arc<PreparedClip>,
    stops: StopFlags,
) -> rtsp_server::RTSPMediaFactory {
    let factory = rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(&clip.launch_line());
    factory.set_shared(true);
    factory.set_protocols(gst_rtsp::RTSPLowerTrans::UDP | gst_rtsp::RTSPLowerTrans::TCP);
    factory.set_eos_shutdown(false);
    let mount = path.to_owned();
    factory.connect_media_configure(move |_, media| {
        let stop = Arc::new(AtomicBool::new(false));
        {
            let mut list = match stops.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            list.retain(|s| !s.load(Ordering::Relaxed));
            list.push(stop.clone());
        }
        let on_unprepared = stop.clone();
        media.connect_unprepared(move |_| on_unprepared.store(true, Ordering::Relaxed));
        let feeder = match Feeder::new(&mount, clip.clone(), &media.element(), stop) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(mount = %mount, error = %e, "cannot feed media");
                return;
            }
        };
        if let Err(e) = feeder.spawn() {
            tracing::error!(mount = %mount, error = %e, "cannot start feeder thread");
        } else {
            tracing::info!(mount = %mount, "new media (pipeline) started");
        }
    });
    factory
}
