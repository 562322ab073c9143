//! Listener, shared state and the interface to the rest of the gateway.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use xlgw_relay::Hub;

use crate::conn;

/// Limits and addresses of the RTSP server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Port for RTP over UDP (RTCP on the next one). `Some(0)` picks free
    /// ports; `None` disables UDP (clients then get 461 and use TCP).
    pub udp_rtp_port: Option<u16>,
    pub max_connections: usize,
    /// A session with no sign of life (request, RTCP) for this long ends.
    pub session_timeout: Duration,
    /// A started request must be complete within this.
    pub request_timeout: Duration,
    /// A connection that is not playing and sends nothing for this long is
    /// closed.
    pub idle_timeout: Duration,
    /// A write to a reader that does not complete within this closes it.
    pub write_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8554)),
            udp_rtp_port: Some(8000),
            max_connections: 8192,
            session_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// A stream found by path.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub hub: Arc<Hub>,
    /// Human-readable name for the SDP `s=` line.
    pub name: String,
}

/// Why a path has no stream for a reader.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamError {
    /// 404: there is no such stream.
    #[error("no such stream")]
    NotFound,
    /// 503: the stream exists but cannot be played now.
    #[error("stream unavailable: {0}")]
    Unavailable(String),
}

/// The gateway's streams, as the RTSP server sees them.
pub trait Streams: Send + Sync + 'static {
    /// Finds the stream at `path`, starts pulling it if it is pulled on
    /// demand, and resolves once it is ready to play (or fails).
    fn open(&self, path: &str) -> BoxFuture<'static, Result<Resolved, StreamError>>;
}

/// Counters of the server, read by the metrics scrape.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub connections_total: AtomicU64,
    pub connections_open: AtomicI64,
    pub connections_refused: AtomicU64,
    pub sessions_total: AtomicU64,
    pub sessions_open: AtomicI64,
    pub sessions_playing: AtomicI64,
    pub bytes_out: AtomicU64,
    pub packets_out: AtomicU64,
    pub bad_requests: AtomicU64,
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl ServerStats {
    pub(crate) fn request(&self, method: &'static str, status: u16) {
        *self.requests.lock().entry((method, status)).or_default() += 1;
    }

    /// Requests answered so far, by method and status.
    pub fn requests(&self) -> Vec<(&'static str, u16, u64)> {
        self.requests
            .lock()
            .iter()
            .map(|(&(m, s), &n)| (m, s, n))
            .collect()
    }
}

/// UDP sockets shared by all UDP sessions and the liveness of each
/// session's RTCP sender.
#[derive(Debug)]
pub(crate) struct Udp {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub rtp_port: u16,
    pub rtcp_port: u16,
    /// Last time (seconds since server start) RTCP came from an address.
    pub activity: Mutex<HashMap<SocketAddr, Arc<AtomicU64>>>,
}

pub(crate) struct Shared {
    pub cfg: ServerConfig,
    pub streams: Arc<dyn Streams>,
    pub stats: Arc<ServerStats>,
    pub udp: Option<Arc<Udp>>,
    pub started: tokio::time::Instant,
}

/// The RTSP server, bound and ready to run.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the TCP listener (and the UDP ports, if enabled).
    pub async fn bind(cfg: ServerConfig, streams: Arc<dyn Streams>) -> std::io::Result<Server> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let udp = match cfg.udp_rtp_port {
            None => None,
            Some(port) => {
                let ip = cfg.listen.ip();
                let rtp = UdpSocket::bind(SocketAddr::new(ip, port)).await?;
                let rtcp_port = if port == 0 { 0 } else { port.saturating_add(1) };
                let rtcp = UdpSocket::bind(SocketAddr::new(ip, rtcp_port)).await?;
                let _ = socket2::SockRef::from(&rtp).set_send_buffer_size(4 << 20);
                Some(Arc::new(Udp {
                    rtp_port: rtp.local_addr()?.port(),
                    rtcp_port: rtcp.local_addr()?.port(),
                    rtp,
                    rtcp,
                    activity: Mutex::new(HashMap::new()),
                }))
            }
        };
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                cfg,
                streams,
                stats: Arc::new(ServerStats::default()),
                udp,
                started: tokio::time::Instant::now(),
            }),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn stats(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    /// Serves until `shutdown` resolves; then closes every connection.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let limit = Arc::new(Semaphore::new(self.shared.cfg.max_connections));
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(udp) = self.shared.udp.clone() {
            let started = self.shared.started;
            tasks.spawn(rtcp_loop(udp, started));
        }
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                acc = self.listener.accept() => {
                    let (sock, peer) = match acc {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::warn!(error = %e, "rtsp accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        self.shared.stats.connections_refused.fetch_add(1, Ordering::Relaxed);
                        tasks.spawn(conn::refuse(sock));
                        continue;
                    };
                    let shared = self.shared.clone();
                    tasks.spawn(async move {
                        conn::serve(shared, sock, peer).await;
                        drop(permit);
                    });
                }
            }
        }
        tasks.shutdown().await;
    }
}

/// Marks UDP readers alive when their RTCP arrives.
async fn rtcp_loop(udp: Arc<Udp>, started: tokio::time::Instant) {
    let mut buf = vec![0u8; 2048];
    loop {
        let Ok((_, from)) = udp.rtcp.recv_from(&mut buf).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let act = udp.activity.lock().get(&from).cloned();
        if let Some(a) = act {
            a.store(started.elapsed().as_secs(), Ordering::Relaxed);
        }
    }
}
