//! The catalogue store of the Xueliang Gateway: the five-level area tree
//! (statistical division codes) and the cameras registered in it, kept
//! durably in SQLite (the embedded default: one file under the data dir, in
//! WAL mode) or in PostgreSQL (`postgres://...`).
//!
//! Both backends implement one trait, [`Store`], and pass one contract-test
//! suite. The schema is versioned: [`open`] creates or upgrades it to
//! [`SCHEMA_VERSION`] and refuses a database written by a newer xlgw
//! ([`DirectoryError::SchemaTooNew`]).
//!
//! Writes are all-or-nothing per call: every row of a request is checked
//! first (fields, areas present in the tree, duplicate ids), and when any
//! row is bad nothing is stored and every bad row is reported
//! ([`DirectoryError::Rows`]). Cameras are idempotent by id.
//!
//! What this crate must not do:
//! - be the query engine: the gateway loads the whole catalogue into memory
//!   ([`Store::areas`], [`Store::cameras`]) and answers listings and counts
//!   from there; the store is the durable source of truth only;
//! - show a camera password anywhere but in the [`CameraRecord`] it returns
//!   to the gateway (no `Debug`, error message or log line has one), or a
//!   database password (the store's `Debug` and errors never show the URL's);
//! - know about RTSP, ingest, HTTP or the config file format;
//! - depend on any workspace crate but `xlgw-model`.

mod common;
mod csvfile;
mod error;
mod migrate;
mod postgres;
mod sqlite;
mod types;

use std::path::Path;
use std::sync::Arc;

use xlgw_model::{AreaCode, DeviceId, DeviceType};

pub use csvfile::{AREA_HEADER, CAMERA_CSV_COLUMNS, CameraRow, parse_areas_csv, parse_cameras_csv};
pub use error::{DirectoryError, RowError};
pub use migrate::SCHEMA_VERSION;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use types::{
    Area, CameraRecord, CameraSource, MAX_AREAS_PER_CALL, MAX_CAMERAS_PER_CALL,
    MAX_CREDENTIAL_BYTES, MAX_NAME_BYTES, MAX_ROW_ERRORS, MAX_TAG_BYTES, MAX_TAGS, UpsertReport,
};

/// Results of this crate.
pub type Result<T, E = DirectoryError> = std::result::Result<T, E>;

/// The Guangxi area tree shipped with xlgw (18,091 areas; CSV
/// `code,name,level,parent`), loaded by [`ensure_default_areas`].
pub const GUANGXI_AREAS_CSV: &str = include_str!("../../../assets/divisions-45-guangxi.csv");

/// Which database a store lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `postgres://` and `postgresql://` URLs are PostgreSQL; anything else
    /// is a SQLite file path (an optional `sqlite:` or `sqlite://` prefix is
    /// dropped).
    pub fn of(url_or_path: &str) -> Backend {
        if url_or_path.starts_with("postgres://") || url_or_path.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The durable catalogue: areas and cameras.
///
/// Every method is one transaction. Implementations are cheap to share
/// (`Arc<dyn Store>`) and safe to call from many tasks at once.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    fn backend(&self) -> Backend;

    /// The schema version of the database (after migrations:
    /// [`SCHEMA_VERSION`]).
    async fn schema_version(&self) -> Result<i64>;

    /// Inserts or updates (by code) areas, all or nothing. Every area's
    /// parent must be the code's enclosing area and be either in `areas` or
    /// already stored. Returns the number of areas written.
    async fn import_areas(&self, areas: &[Area]) -> Result<u64>;

    async fn area_count(&self) -> Result<u64>;

    /// All areas, parents before children (ordered by code).
    async fn areas(&self) -> Result<Vec<Area>>;

    async fn area(&self, code: AreaCode) -> Result<Option<Area>>;

    /// Inserts or updates (by id) cameras, all or nothing: when any row is
    /// bad (field, unknown area, id repeated in the request) nothing is
    /// stored and the error lists every bad row
    /// ([`DirectoryError::Rows`], `row` = index into `cams`).
    ///
    /// The stored `source` becomes the record's. `created_at` and
    /// `updated_at` of the records are ignored: the store keeps the first
    /// registration's time and sets `updated_at` when anything changed.
    async fn upsert_cameras(&self, cams: &[CameraRecord]) -> Result<UpsertReport>;

    async fn camera(&self, id: &DeviceId) -> Result<Option<CameraRecord>>;

    /// All cameras, ordered by id.
    async fn cameras(&self) -> Result<Vec<CameraRecord>>;

    async fn camera_count(&self) -> Result<u64>;

    /// Deletes one camera; false when it was not stored.
    async fn delete_camera(&self, id: &DeviceId) -> Result<bool>;

    /// Deletes every camera of `source` whose id is not in `keep` (at start:
    /// the config's cameras that left the config). Returns how many.
    async fn delete_cameras_by_source(
        &self,
        source: CameraSource,
        keep: &[DeviceId],
    ) -> Result<u64>;

    /// The next free 6-digit serial for camera ids built by
    /// `DeviceId::camera(county6, type, serial)`: one more than the highest
    /// stored or already handed out by this store. Serials handed out are
    /// reserved for the life of the store, so concurrent registrations never
    /// get the same id even before they are stored.
    async fn next_serial(&self, county6: &str, type_code: u16) -> Result<u32>;

    /// Closes the connections; later calls fail.
    async fn close(&self);
}

/// Opens (creating or upgrading the schema) the catalogue at `url_or_path`:
/// a `postgres://` URL or a SQLite file path (created if missing).
pub async fn open(url_or_path: &str) -> Result<Arc<dyn Store>> {
    match Backend::of(url_or_path) {
        Backend::Postgres => open_postgres(url_or_path).await,
        Backend::Sqlite => {
            let path = url_or_path
                .strip_prefix("sqlite://")
                .or_else(|| url_or_path.strip_prefix("sqlite:"))
                .unwrap_or(url_or_path);
            open_sqlite(Path::new(path)).await
        }
    }
}

/// Opens a SQLite catalogue file (`:memory:` for a private in-memory one).
pub async fn open_sqlite(path: &Path) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(SqliteStore::open(path).await?))
}

/// Opens a PostgreSQL catalogue.
pub async fn open_postgres(url: &str) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(PgStore::open(url).await?))
}

/// Loads the shipped Guangxi tree when the store has no area yet (first
/// start). Returns the number of areas loaded (0 when there were some).
pub async fn ensure_default_areas(store: &dyn Store) -> Result<u64> {
    if store.area_count().await? > 0 {
        return Ok(0);
    }
    let areas = parse_areas_csv(GUANGXI_AREAS_CSV)?;
    store.import_areas(&areas).await
}

/// Turns parsed CSV rows into records, giving each row without an id a new
/// one: `DeviceId::camera(area.county6(), NetworkCamera, next_serial)`,
/// skipping ids written in other rows of the same file.
pub async fn assign_ids(
    store: &dyn Store,
    rows: Vec<CameraRow>,
    source: CameraSource,
) -> Result<Vec<CameraRecord>> {
    // Ids written in the file are not handed out again.
    let given: std::collections::HashSet<DeviceId> = rows.iter().filter_map(|r| r.id).collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id = match row.id {
            Some(id) => id,
            None => {
                let county6 = row.area.county6();
                let t = DeviceType::NetworkCamera;
                loop {
                    let serial = store.next_serial(&county6, t.code()).await?;
                    let id = DeviceId::camera(&county6, t, serial).map_err(|e| {
                        DirectoryError::Invalid(format!(
                            "line {}: cannot build an id for area {}: {e}",
                            row.line, row.area
                        ))
                    })?;
                    if !given.contains(&id) {
                        break id;
                    }
                }
            }
        };
        out.push(row.into_record(id, source));
    }
    Ok(out)
}
