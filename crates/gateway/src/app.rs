//! Wiring: one relay hub and one ingest supervisor per camera, the RTSP
//! server resolving paths to hubs, the HTTP server, and shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use futures::future::BoxFuture;
use xlgw_ingest::{CameraHandle, Opener};
use xlgw_model::{Camera, DeviceId, Mode};
use xlgw_relay::Hub;
use xlgw_rtsp::{Resolved, Server, ServerConfig, StreamError, Streams};

use crate::config::Config;

/// A camera being served.
pub struct Served {
    pub camera: Camera,
    pub hub: Arc<Hub>,
    pub handle: CameraHandle,
}

/// Every camera of the gateway, by id.
pub struct Registry {
    pub cameras: HashMap<DeviceId, Served>,
    pub start_timeout: std::time::Duration,
}

struct RtspStreams(Arc<Registry>);

impl Streams for RtspStreams {
    fn open(&self, path: &str) -> BoxFuture<'static, Result<Resolved, StreamError>> {
        let reg = self.0.clone();
        let id = DeviceId::parse(path);
        Box::pin(async move {
            let id = id.map_err(|_| StreamError::NotFound)?;
            let s = reg.cameras.get(&id).ok_or(StreamError::NotFound)?;
            if s.camera.mode == Mode::OnDemand {
                s.handle.demand();
            }
            let hub = s.hub.clone();
            if tokio::time::timeout(reg.start_timeout, hub.ready())
                .await
                .is_err()
            {
                let st = s.handle.status();
                return Err(StreamError::Unavailable(format!(
                    "camera {} not ready within {:?} (state {})",
                    id,
                    reg.start_timeout,
                    st.state.as_str()
                )));
            }
            Ok(Resolved {
                hub,
                name: s.camera.name.clone(),
            })
        })
    }
}

/// A running gateway.
pub struct Gateway {
    pub registry: Arc<Registry>,
    pub rtsp_addr: SocketAddr,
    pub http_addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl Gateway {
    pub async fn start(cfg: Config, opener: Arc<dyn Opener>) -> anyhow::Result<Gateway> {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
        let mut cameras = HashMap::new();
        for cam in &cfg.cameras {
            let hub = Hub::new(cfg.relay);
            let handle =
                xlgw_ingest::spawn(cam.clone(), hub.clone(), opener.clone(), cfg.ingest.clone());
            cameras.insert(
                cam.id,
                Served {
                    camera: cam.clone(),
                    hub,
                    handle,
                },
            );
        }
        let registry = Arc::new(Registry {
            cameras,
            start_timeout: cfg.ingest.start_timeout,
        });
        let server_cfg = ServerConfig {
            listen: cfg.rtsp_listen,
            udp_rtp_port: cfg.udp_rtp_port,
            max_connections: cfg.max_connections,
            session_timeout: cfg.session_timeout,
            write_timeout: cfg.relay.queue.write_timeout,
            ..ServerConfig::default()
        };
        let server = Server::bind(server_cfg, Arc::new(RtspStreams(registry.clone())))
            .await
            .with_context(|| format!("binding RTSP on {}", cfg.rtsp_listen))?;
        let rtsp_addr = server.local_addr()?;
        let rtsp_stats = server.stats();
        let http = tokio::net::TcpListener::bind(cfg.http_listen)
            .await
            .with_context(|| format!("binding HTTP on {}", cfg.http_listen))?;
        let http_addr = http.local_addr()?;

        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let mut rx = stop_rx.clone();
        tasks.spawn(async move {
            server
                .run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
        });
        let metrics = Arc::new(xlgw_health::Metrics::new(
            Arc::new(crate::metrics::GatewaySampler {
                reg: registry.clone(),
                rtsp: rtsp_stats.clone(),
            }),
            cfg.metrics,
            env!("CARGO_PKG_VERSION"),
        ));
        let router = crate::http::router(registry.clone(), rtsp_addr, rtsp_stats.clone(), metrics);
        let mut rx = stop_rx;
        tasks.spawn(async move {
            let r = axum::serve(http, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "http server failed");
            }
        });
        Ok(Gateway {
            registry,
            rtsp_addr,
            http_addr,
            stop,
            tasks,
        })
    }

    /// Stops serving and every camera's ingest.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        if let Ok(reg) = Arc::try_unwrap(self.registry) {
            for (_, s) in reg.cameras {
                s.handle.shutdown().await;
            }
        }
    }
}
