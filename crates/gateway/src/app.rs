//! Wiring: the catalogue (store + in-memory index), one relay hub and one
//! ingest supervisor per camera, the RTSP server resolving paths to hubs,
//! the HTTP server, and shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use futures::future::BoxFuture;
use xlgw_directory::{CameraRecord, CameraSource, DirectoryError, Store};
use xlgw_ingest::Opener;
use xlgw_model::{DeviceId, Mode};
use xlgw_rtsp::{Resolved, Server, ServerConfig, StreamError, Streams};

use crate::catalog::{AreaIndex, Catalog};
use crate::config::Config;

struct RtspStreams(Arc<Catalog>);

impl Streams for RtspStreams {
    fn open(&self, path: &str) -> BoxFuture<'static, Result<Resolved, StreamError>> {
        let cat = self.0.clone();
        let id = DeviceId::parse(path);
        Box::pin(async move {
            let id = id.map_err(|_| StreamError::NotFound)?;
            let s = cat.get(&id).ok_or(StreamError::NotFound)?;
            if s.record.camera.mode == Mode::OnDemand
                && let Some(h) = s.handle.lock().as_ref()
            {
                h.demand();
            }
            let hub = s.hub.clone();
            if tokio::time::timeout(cat.start_timeout, hub.ready())
                .await
                .is_err()
            {
                let state = s.status().map_or("stopped", |st| st.state.as_str());
                return Err(StreamError::Unavailable(format!(
                    "camera {id} not ready within {:?} (state {state})",
                    cat.start_timeout
                )));
            }
            Ok(Resolved {
                hub,
                name: s.record.camera.name.clone(),
            })
        })
    }
}

/// Opens the catalogue store named by the config.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let target = match &cfg.database {
        Some(url) => url.clone(),
        None => {
            std::fs::create_dir_all(&cfg.data_dir)
                .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
            cfg.data_dir.join("xlgw.db").display().to_string()
        }
    };
    let store = xlgw_directory::open(&target)
        .await
        .with_context(|| format!("opening the catalogue {}", redact_db(&target)))?;
    let loaded = xlgw_directory::ensure_default_areas(store.as_ref())
        .await
        .context("loading the Guangxi area tree")?;
    if loaded > 0 {
        tracing::info!(areas = loaded, "area tree loaded (first start)");
    }
    Ok(store)
}

/// A database URL without its password, for messages.
pub fn redact_db(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Stores the config file's cameras (source `config`) and removes config
/// cameras that left the file. A bad row names its `cameras[N]` key.
async fn sync_config_cameras(store: &dyn Store, cfg: &Config) -> anyhow::Result<()> {
    let records: Vec<CameraRecord> = cfg
        .cameras
        .iter()
        .map(|c| CameraRecord::new(c.clone(), CameraSource::Config))
        .collect();
    if !records.is_empty()
        && let Err(e) = store.upsert_cameras(&records).await
    {
        if let DirectoryError::Rows(rows) = &e
            && let Some(r) = rows.first()
        {
            anyhow::bail!("`cameras[{}].{}`: {}", r.row, r.field, r.message);
        }
        return Err(e).context("storing the config's cameras");
    }
    let keep: Vec<DeviceId> = cfg.cameras.iter().map(|c| c.id).collect();
    let removed = store
        .delete_cameras_by_source(CameraSource::Config, &keep)
        .await
        .context("removing cameras that left the config")?;
    if removed > 0 {
        tracing::info!(
            removed,
            "cameras removed from the config were removed from the catalogue"
        );
    }
    Ok(())
}

/// A running gateway.
pub struct Gateway {
    pub catalog: Arc<Catalog>,
    pub rtsp_addr: SocketAddr,
    pub http_addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl Gateway {
    pub async fn start(cfg: Config, opener: Arc<dyn Opener>) -> anyhow::Result<Gateway> {
        let store = open_store(&cfg).await?;
        sync_config_cameras(store.as_ref(), &cfg).await?;
        let areas = store.areas().await.context("reading the area tree")?;
        let records = store.cameras().await.context("reading the cameras")?;
        let catalog = Arc::new(Catalog {
            areas: parking_lot::RwLock::new(Arc::new(AreaIndex::build(areas))),
            cameras: parking_lot::RwLock::new(Default::default()),
            by_area: parking_lot::RwLock::new(Default::default()),
            counts_snapshot: parking_lot::RwLock::new(Default::default()),
            counts_dirty: std::sync::atomic::AtomicBool::new(true),
            store,
            opener,
            ingest: cfg.ingest.clone(),
            hub: cfg.relay,
            start_timeout: cfg.ingest.start_timeout,
            write: tokio::sync::Mutex::new(()),
        });
        let n = records.len();
        for r in records {
            catalog.serve(r).await;
        }
        catalog.refresh_counts();
        tracing::info!(cameras = n, "catalogue loaded");

        let server_cfg = ServerConfig {
            listen: cfg.rtsp_listen,
            udp_rtp_port: cfg.udp_rtp_port,
            max_connections: cfg.max_connections,
            session_timeout: cfg.session_timeout,
            write_timeout: cfg.relay.queue.write_timeout,
            ..ServerConfig::default()
        };
        let server = Server::bind(server_cfg, Arc::new(RtspStreams(catalog.clone())))
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
        // Area counts follow camera states within a second.
        let cat = catalog.clone();
        let mut rx = stop_rx.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let c = cat.clone();
                        let _ = tokio::task::spawn_blocking(move || c.refresh_counts()).await;
                    }
                    _ = rx.changed() => break,
                }
            }
        });
        let mut rx = stop_rx.clone();
        tasks.spawn(async move {
            server
                .run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
        });
        let metrics = cfg.metrics_enabled.then(|| {
            Arc::new(xlgw_health::Metrics::new(
                Arc::new(crate::metrics::GatewaySampler {
                    catalog: catalog.clone(),
                    rtsp: rtsp_stats.clone(),
                }),
                cfg.metrics,
                env!("CARGO_PKG_VERSION"),
            ))
        });
        let router = crate::http::router(crate::http::Ctx {
            catalog: catalog.clone(),
            rtsp: rtsp_addr,
            rtsp_stats,
            metrics,
        });
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
            catalog,
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
        self.catalog.shutdown().await;
        self.catalog.store.close().await;
    }
}
