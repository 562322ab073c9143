//! The catalogue in memory: the area tree and every camera with its relay
//! hub and ingest supervisor. The store (SQLite or PostgreSQL) is the durable
//! copy; queries (counts per area, listings) are answered from here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use xlgw_directory::{Area, CameraRecord, Store};
use xlgw_ingest::{CameraHandle, CameraState, IngestConfig, Opener};
use xlgw_model::{AreaCode, DeviceId};
use xlgw_relay::{Codec, Hub, HubConfig, codec};

/// One node of the area tree.
#[derive(Debug, Clone)]
pub struct AreaNode {
    pub name: String,
    pub children: Vec<AreaCode>,
}

/// The five-level tree, indexed.
#[derive(Debug, Default)]
pub struct AreaIndex {
    pub nodes: HashMap<AreaCode, AreaNode>,
    pub roots: Vec<AreaCode>,
}

impl AreaIndex {
    pub fn build(areas: Vec<Area>) -> AreaIndex {
        let mut idx = AreaIndex::default();
        for a in &areas {
            idx.nodes.insert(
                a.code,
                AreaNode {
                    name: a.name.clone(),
                    children: Vec::new(),
                },
            );
        }
        for a in &areas {
            match a.parent.filter(|p| idx.nodes.contains_key(p)) {
                Some(p) => {
                    if let Some(n) = idx.nodes.get_mut(&p) {
                        n.children.push(a.code);
                    }
                }
                None => idx.roots.push(a.code),
            }
        }
        for n in idx.nodes.values_mut() {
            n.children.sort();
        }
        idx.roots.sort();
        idx
    }

    pub fn name(&self, code: AreaCode) -> Option<&str> {
        self.nodes.get(&code).map(|n| n.name.as_str())
    }
}

/// Frame and byte rates measured between two reads.
#[derive(Debug, Clone, Copy)]
struct Rates {
    at: Instant,
    frames: u64,
    bytes: u64,
    fps: f64,
    bps: f64,
}

/// A camera being served.
pub struct Served {
    pub record: CameraRecord,
    pub hub: Arc<Hub>,
    pub handle: Mutex<Option<CameraHandle>>,
    rates: Mutex<Option<Rates>>,
}

/// What the API and metrics show of a camera's live state.
#[derive(Debug, Clone)]
pub struct LiveState {
    pub state: CameraState,
    pub since: std::time::SystemTime,
    pub last_error: Option<String>,
    pub reconnects: u64,
    pub up: bool,
    pub codec: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: f64,
    pub bitrate_bps: f64,
    pub readers: usize,
}

impl Served {
    pub fn status(&self) -> Option<xlgw_ingest::CameraStatus> {
        self.handle.lock().as_ref().map(|h| h.status())
    }

    /// `online`, `connecting`, `offline` or `idle`, without copying the status.
    pub fn state_str(&self) -> &'static str {
        self.handle
            .lock()
            .as_ref()
            .map_or("offline", |h| h.state().as_str())
    }

    pub fn stats(&self) -> Option<Arc<xlgw_ingest::IngestStats>> {
        self.handle.lock().as_ref().map(|h| h.stats())
    }

    /// Online, or idle on demand without an error.
    pub fn is_up(&self) -> bool {
        self.handle.lock().as_ref().is_some_and(|h| h.is_up())
    }

    pub fn live(&self) -> LiveState {
        let st = self.status();
        let (state, since, last_error, reconnects) = match st {
            Some(s) => (s.state, s.since, s.last_error, s.reconnects),
            None => (CameraState::Offline, std::time::SystemTime::now(), None, 0),
        };
        let up = match state {
            CameraState::Online => true,
            CameraState::Idle => last_error.is_none(),
            _ => false,
        };
        let mut codec_name = None;
        let mut size = None;
        if let Some((info, _)) = self.hub.info()
            && let Some(v) = info.video_track()
        {
            let t = &info.tracks[v];
            codec_name = Some(t.encoding.clone());
            let ps = codec::params_from_fmtp(t.codec(), t.fmtp.as_deref().unwrap_or(""));
            size = ps.sps.as_ref().and_then(|sps| match t.codec() {
                Codec::H264 => codec::h264_sps_size(sps),
                Codec::H265 => codec::h265_sps_size(sps),
                _ => None,
            });
        }
        let hs = self.hub.stats();
        let frames = hs.frames.load(Ordering::Relaxed);
        let bytes = hs.bytes_in.load(Ordering::Relaxed);
        let now = Instant::now();
        let mut r = self.rates.lock();
        let (fps, bps) = match *r {
            Some(p) if now.duration_since(p.at).as_secs_f64() >= 1.0 => {
                let dt = now.duration_since(p.at).as_secs_f64();
                let fps = frames.saturating_sub(p.frames) as f64 / dt;
                let bps = bytes.saturating_sub(p.bytes) as f64 * 8.0 / dt;
                *r = Some(Rates {
                    at: now,
                    frames,
                    bytes,
                    fps,
                    bps,
                });
                (fps, bps)
            }
            Some(p) => (p.fps, p.bps),
            None => {
                *r = Some(Rates {
                    at: now,
                    frames,
                    bytes,
                    fps: 0.0,
                    bps: 0.0,
                });
                (0.0, 0.0)
            }
        };
        LiveState {
            state,
            since,
            last_error,
            reconnects,
            up,
            codec: codec_name,
            width: size.map(|s| s.width),
            height: size.map(|s| s.height),
            fps,
            bitrate_bps: bps,
            readers: self.hub.reader_count(),
        }
    }
}

/// Counts of one area's subtree.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Counts {
    pub total: u64,
    pub online: u64,
    /// Cameras attached to the node itself.
    pub here: u64,
}

/// Camera counts of every area (subtree totals), computed in one pass.
#[derive(Debug, Default)]
pub struct CountsSnapshot {
    pub by_area: HashMap<AreaCode, Counts>,
}

/// Every camera of the gateway and the tree they hang in.
pub struct Catalog {
    pub areas: RwLock<Arc<AreaIndex>>,
    pub cameras: RwLock<BTreeMap<DeviceId, Arc<Served>>>,
    /// (area value, id): the cameras of a subtree are one range.
    pub by_area: RwLock<std::collections::BTreeSet<(u64, DeviceId)>>,
    /// Counts per area, refreshed every second and after every change.
    pub counts_snapshot: RwLock<Arc<CountsSnapshot>>,
    pub counts_dirty: std::sync::atomic::AtomicBool,
    pub store: Arc<dyn Store>,
    pub opener: Arc<dyn Opener>,
    pub ingest: IngestConfig,
    pub hub: HubConfig,
    pub start_timeout: std::time::Duration,
    /// Serialises changes (store write + in-memory swap).
    pub write: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// Starts serving a record (a new hub and ingest supervisor), replacing
    /// any camera with the same id.
    pub async fn serve(&self, record: CameraRecord) {
        let id = record.camera.id;
        let old = {
            let cams = self.cameras.read();
            cams.get(&id).cloned()
        };
        if let Some(old) = &old
            && old.record.same_content(&record)
        {
            return;
        }
        let hub = Hub::new(self.hub);
        let handle = xlgw_ingest::spawn(
            record.camera.clone(),
            hub.clone(),
            self.opener.clone(),
            self.ingest.clone(),
        );
        let served = Arc::new(Served {
            record,
            hub,
            handle: Mutex::new(Some(handle)),
            rates: Mutex::new(None),
        });
        let area = served.record.camera.area.value();
        if let Some(o) = self.cameras.write().insert(id, served) {
            self.by_area
                .write()
                .remove(&(o.record.camera.area.value(), id));
        }
        self.by_area.write().insert((area, id));
        self.counts_dirty.store(true, Ordering::Relaxed);
        if let Some(old) = old {
            stop(&old).await;
        }
    }

    /// Stops serving a camera. True if it was served.
    pub async fn unserve(&self, id: &DeviceId) -> bool {
        let old = self.cameras.write().remove(id);
        match old {
            Some(s) => {
                self.by_area
                    .write()
                    .remove(&(s.record.camera.area.value(), *id));
                self.counts_dirty.store(true, Ordering::Relaxed);
                stop(&s).await;
                true
            }
            None => false,
        }
    }

    pub fn get(&self, id: &DeviceId) -> Option<Arc<Served>> {
        self.cameras.read().get(id).cloned()
    }

    /// Recomputes the counts of every area: one pass over the cameras.
    pub fn refresh_counts(&self) {
        self.counts_dirty.store(false, Ordering::Relaxed);
        let mut by_area: HashMap<AreaCode, Counts> = HashMap::new();
        {
            let cams = self.cameras.read();
            for s in cams.values() {
                let a = s.record.camera.area;
                let up = u64::from(s.is_up());
                for l in xlgw_model::Level::ALL {
                    if l > a.level() {
                        break;
                    }
                    let c = by_area.entry(a.truncate(l)).or_default();
                    c.total += 1;
                    c.online += up;
                    if l == a.level() {
                        c.here += 1;
                    }
                }
            }
        }
        *self.counts_snapshot.write() = Arc::new(CountsSnapshot { by_area });
    }

    /// The current counts (recomputed first if the catalogue changed).
    pub fn counts_now(&self) -> Arc<CountsSnapshot> {
        if self.counts_dirty.load(Ordering::Relaxed) {
            self.refresh_counts();
        }
        self.counts_snapshot.read().clone()
    }

    /// Counts for `code`'s subtree and for each of its children.
    pub fn counts(&self, code: AreaCode, children: &[AreaCode]) -> (Counts, Vec<Counts>) {
        let snap = self.counts_now();
        let get = |a: &AreaCode| snap.by_area.get(a).copied().unwrap_or_default();
        (get(&code), children.iter().map(get).collect())
    }

    /// Counts of the top nodes.
    pub fn root_counts(&self, roots: &[AreaCode]) -> Vec<Counts> {
        let snap = self.counts_now();
        roots
            .iter()
            .map(|r| snap.by_area.get(r).copied().unwrap_or_default())
            .collect()
    }

    /// Ids of the cameras in `area`'s subtree, in id order.
    pub fn ids_in(&self, area: AreaCode) -> Vec<DeviceId> {
        let idx = self.by_area.read();
        let r = area.value_range();
        let lo = (*r.start(), DeviceId::MIN);
        let hi = (*r.end(), DeviceId::MAX);
        let mut ids: Vec<DeviceId> = idx.range(lo..=hi).map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids
    }

    /// Stops every camera.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<Served>> = self.cameras.write().values().cloned().collect();
        for s in all {
            stop(&s).await;
        }
    }
}

async fn stop(s: &Served) {
    let h = s.handle.lock().take();
    if let Some(h) = h {
        h.shutdown().await;
    }
}
