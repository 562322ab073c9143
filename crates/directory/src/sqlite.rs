//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writes take the database lock at their start (`BEGIN IMMEDIATE`), so two
//! writers wait for each other (busy timeout) instead of failing on a lock
//! upgrade. Bulk writes are multi-row statements of a few hundred rows.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use log::LevelFilter;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Sqlite, Transaction};
use xlgw_model::{AreaCode, DeviceId};

use crate::common::{
    AREA_COLUMNS, CAMERA_COLUMN_COUNT, CAMERA_COLUMNS, CAMERA_UPDATE_SET, Flat, Serials,
    area_from_row, close_pool, now_unix, param_list, record_from_row, serial_of, serial_range,
    value_groups,
};
use crate::error::DirectoryError;
use crate::migrate::{self, VERSION_TABLE};
use crate::types::{
    Area, CameraRecord, CameraSource, MAX_AREAS_PER_CALL, MAX_CAMERAS_PER_CALL, RowErrors,
    UpsertReport, area_missing, check_duplicate_ids, parent_missing, validate_areas,
    validate_record,
};
use crate::{Backend, Result, Store};

/// Rows per multi-row INSERT of cameras (14 parameters each).
const CAMERA_ROWS_PER_INSERT: usize = 500;
/// Rows per multi-row INSERT of areas (4 parameters each).
const AREA_ROWS_PER_INSERT: usize = 1000;
/// Values per `IN (...)` list.
const IN_LIST: usize = 900;
/// How long a writer waits for another one.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A catalogue in a SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    serials: Serials,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the file at `path` (creating it and its directory if missing),
    /// in WAL mode with foreign keys on, and brings its schema up to date.
    /// `:memory:` opens a private in-memory database (one connection).
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let memory = path.as_os_str() == ":memory:";
        let mut opts = if memory {
            SqliteConnectOptions::from_str(":memory:")?
        } else {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| DirectoryError::Io {
                    path: dir.to_owned(),
                    source,
                })?;
            }
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
        };
        opts = opts
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .log_statements(LevelFilter::Trace)
            .log_slow_statements(LevelFilter::Warn, Duration::from_secs(10));
        let pool_opts = if memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(4)
        };
        let pool = pool_opts.connect_with(opts).await.map_err(|e| {
            DirectoryError::Open(format!("SQLite database {}: {e}", path.display()))
        })?;
        let store = SqliteStore {
            pool,
            path: path.to_owned(),
            serials: Serials::default(),
        };
        if let Err(e) = store.migrate().await {
            close_pool(&store.pool).await;
            return Err(e);
        }
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::raw_sql(VERSION_TABLE).execute(&mut *tx).await?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                .fetch_one(&mut *tx)
                .await?;
        let todo = migrate::pending(migrate::SQLITE, current)?;
        for m in todo {
            sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.description)
            .bind(now_unix())
            .execute(&mut *tx)
            .await?;
            tracing::info!(
                version = m.version,
                path = %self.path.display(),
                "catalogue schema migrated: {}",
                m.description
            );
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Which of `codes` are stored areas.
async fn existing_areas(
    tx: &mut Transaction<'static, Sqlite>,
    codes: &BTreeSet<String>,
) -> Result<HashSet<String>> {
    let codes: Vec<&String> = codes.iter().collect();
    let mut found = HashSet::with_capacity(codes.len());
    for chunk in codes.chunks(IN_LIST) {
        let sql = format!(
            "SELECT code FROM areas WHERE code IN ({})",
            param_list(chunk.len())
        );
        let mut q = sqlx::query_scalar::<_, String>(&sql);
        for c in chunk {
            q = q.bind(c.as_str());
        }
        found.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(found)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn schema_version(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn import_areas(&self, areas: &[Area]) -> Result<u64> {
        if areas.is_empty() {
            return Ok(0);
        }
        if areas.len() > MAX_AREAS_PER_CALL {
            return Err(DirectoryError::Invalid(format!(
                "at most {MAX_AREAS_PER_CALL} areas per import, got {}",
                areas.len()
            )));
        }
        let mut errors = RowErrors::default();
        validate_areas(areas, &mut errors);
        let in_batch: HashSet<AreaCode> = areas.iter().map(|a| a.code).collect();
        let outside: BTreeSet<String> = areas
            .iter()
            .filter_map(|a| a.parent)
            .filter(|p| !in_batch.contains(p))
            .map(|p| p.to_string())
            .collect();
        let mut tx = self.write_tx().await?;
        let stored = existing_areas(&mut tx, &outside).await?;
        for (i, a) in areas.iter().enumerate() {
            if let Some(p) = a.parent
                && !in_batch.contains(&p)
                && !stored.contains(&p.to_string())
            {
                errors.push(parent_missing(i, a, p));
            }
        }
        if !errors.is_empty() {
            tx.rollback().await?;
            return Err(DirectoryError::Rows(errors.into_vec()));
        }
        for chunk in areas.chunks(AREA_ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO areas ({AREA_COLUMNS}) VALUES {} ON CONFLICT (code) DO UPDATE SET \
                 name = excluded.name, level = excluded.level, parent = excluded.parent",
                value_groups(chunk.len(), 4)
            );
            let mut q = sqlx::query(&sql);
            for a in chunk {
                q = q
                    .bind(a.code.to_string())
                    .bind(a.name.as_str())
                    .bind(i64::from(a.code.level().number()))
                    .bind(a.parent.map(|p| p.to_string()));
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(areas.len() as u64)
    }

    async fn area_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM areas")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn areas(&self) -> Result<Vec<Area>> {
        let rows = sqlx::query("SELECT code, name, parent FROM areas ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(area_from_row).collect()
    }

    async fn area(&self, code: AreaCode) -> Result<Option<Area>> {
        let row = sqlx::query("SELECT code, name, parent FROM areas WHERE code = $1")
            .bind(code.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(area_from_row).transpose()
    }

    async fn upsert_cameras(&self, cams: &[CameraRecord]) -> Result<UpsertReport> {
        if cams.is_empty() {
            return Ok(UpsertReport::default());
        }
        if cams.len() > MAX_CAMERAS_PER_CALL {
            return Err(DirectoryError::Invalid(format!(
                "at most {MAX_CAMERAS_PER_CALL} cameras per call, got {}",
                cams.len()
            )));
        }
        let mut errors = RowErrors::default();
        for (i, r) in cams.iter().enumerate() {
            validate_record(i, r, &mut errors);
        }
        check_duplicate_ids(cams, &mut errors);

        let mut tx = self.write_tx().await?;
        let codes: BTreeSet<String> = cams.iter().map(|r| r.camera.area.to_string()).collect();
        let stored_areas = existing_areas(&mut tx, &codes).await?;
        for (i, r) in cams.iter().enumerate() {
            if !stored_areas.contains(&r.camera.area.to_string()) {
                errors.push(area_missing(i, r));
            }
        }
        if !errors.is_empty() {
            tx.rollback().await?;
            return Err(DirectoryError::Rows(errors.into_vec()));
        }

        let ids: Vec<String> = cams.iter().map(|r| r.camera.id.to_string()).collect();
        let mut existing: HashMap<String, CameraRecord> = HashMap::new();
        for chunk in ids.chunks(IN_LIST) {
            let sql = format!(
                "SELECT {CAMERA_COLUMNS} FROM cameras WHERE id IN ({})",
                param_list(chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for row in q.fetch_all(&mut *tx).await? {
                let r = record_from_row(&row)?;
                existing.insert(r.camera.id.to_string(), r);
            }
        }

        let now = now_unix();
        let mut report = UpsertReport::default();
        let mut flats = Vec::with_capacity(cams.len());
        for r in cams {
            match existing.get(r.camera.id.as_str()) {
                None => {
                    report.inserted += 1;
                    flats.push(Flat::new(r, now, now));
                }
                Some(old) if old.same_content(r) => report.unchanged += 1,
                Some(old) => {
                    report.updated += 1;
                    flats.push(Flat::new(r, old.created_at, now));
                }
            }
        }
        for chunk in flats.chunks(CAMERA_ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO cameras ({CAMERA_COLUMNS}) VALUES {} \
                 ON CONFLICT (id) DO UPDATE SET {CAMERA_UPDATE_SET}",
                value_groups(chunk.len(), CAMERA_COLUMN_COUNT)
            );
            let mut q = sqlx::query(&sql);
            for f in chunk {
                q = q
                    .bind(f.id.as_str())
                    .bind(f.name.as_str())
                    .bind(f.area.as_str())
                    .bind(f.url.as_str())
                    .bind(f.username.as_deref())
                    .bind(f.password.as_deref())
                    .bind(f.transport)
                    .bind(f.mode)
                    .bind(f.tags.as_str())
                    .bind(f.latitude)
                    .bind(f.longitude)
                    .bind(f.source)
                    .bind(f.created_at)
                    .bind(f.updated_at);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(report)
    }

    async fn camera(&self, id: &DeviceId) -> Result<Option<CameraRecord>> {
        let sql = format!("SELECT {CAMERA_COLUMNS} FROM cameras WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    async fn cameras(&self) -> Result<Vec<CameraRecord>> {
        let sql = format!("SELECT {CAMERA_COLUMNS} FROM cameras ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn camera_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cameras")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete_camera(&self, id: &DeviceId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM cameras WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_cameras_by_source(
        &self,
        source: CameraSource,
        keep: &[DeviceId],
    ) -> Result<u64> {
        let keep: HashSet<&str> = keep.iter().map(DeviceId::as_str).collect();
        let mut tx = self.write_tx().await?;
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM cameras WHERE source = $1")
            .bind(source.as_str())
            .fetch_all(&mut *tx)
            .await?;
        let gone: Vec<&String> = ids
            .iter()
            .filter(|id| !keep.contains(id.as_str()))
            .collect();
        let mut deleted = 0;
        for chunk in gone.chunks(IN_LIST) {
            let sql = format!(
                "DELETE FROM cameras WHERE id IN ({})",
                param_list(chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id.as_str());
            }
            deleted += q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn next_serial(&self, county6: &str, type_code: u16) -> Result<u32> {
        let (low, high) = serial_range(county6, type_code)?;
        let max: Option<String> =
            sqlx::query_scalar("SELECT MAX(id) FROM cameras WHERE id BETWEEN $1 AND $2")
                .bind(low.as_str())
                .bind(high.as_str())
                .fetch_one(&self.pool)
                .await?;
        self.serials.next(&low, max.as_deref().map_or(0, serial_of))
    }

    async fn close(&self) {
        close_pool(&self.pool).await;
    }
}
