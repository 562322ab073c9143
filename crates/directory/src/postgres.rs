//! The server backend: PostgreSQL (`postgres://user:pass@host:port/db`).
//!
//! Bulk writes send whole columns as arrays (`INSERT ... SELECT * FROM
//! UNNEST(...)`), one statement per few thousand rows. Migrations hold an
//! advisory lock so that gateways starting together migrate once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use log::LevelFilter;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Postgres, Transaction};
use xlgw_model::{AreaCode, DeviceId};

use crate::common::{
    AREA_COLUMNS, CAMERA_COLUMNS, CAMERA_UPDATE_SET, Flat, Serials, area_from_row, close_pool,
    now_unix, record_from_row, serial_of, serial_range,
};
use crate::error::DirectoryError;
use crate::migrate::{self, VERSION_TABLE};
use crate::types::{
    Area, CameraRecord, CameraSource, MAX_AREAS_PER_CALL, MAX_CAMERAS_PER_CALL, RowErrors,
    UpsertReport, area_missing, check_duplicate_ids, parent_missing, validate_areas,
    validate_record,
};
use crate::{Backend, Result, Store};

/// Rows per UNNEST insert.
const ROWS_PER_INSERT: usize = 5000;
/// Key of the advisory lock held while migrating ("xlgw" in ASCII).
const MIGRATION_LOCK: i64 = 0x786c_6777;

/// A catalogue in a PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
    /// `postgres://host:port/db`, without user or password.
    display: String,
    serials: Serials,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.display)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` and brings the schema up to date. Errors never
    /// contain the URL's password.
    pub async fn open(url: &str) -> Result<PgStore> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| DirectoryError::Open(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("xlgw")
            .log_statements(LevelFilter::Trace)
            .log_slow_statements(LevelFilter::Warn, Duration::from_secs(10));
        let display = format!(
            "postgres://{}:{}/{}",
            opts.get_host(),
            opts.get_port(),
            opts.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(opts)
            .await
            .map_err(|e| DirectoryError::Open(format!("PostgreSQL database {display}: {e}")))?;
        let store = PgStore {
            pool,
            display,
            serials: Serials::default(),
        };
        if let Err(e) = store.migrate().await {
            close_pool(&store.pool).await;
            return Err(e);
        }
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(VERSION_TABLE).execute(&mut *tx).await?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version")
                .fetch_one(&mut *tx)
                .await?;
        let todo = migrate::pending(migrate::POSTGRES, current)?;
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
                database = %self.display,
                "catalogue schema migrated: {}",
                m.description
            );
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn existing_areas(
    tx: &mut Transaction<'static, Postgres>,
    codes: &BTreeSet<String>,
) -> Result<HashSet<String>> {
    if codes.is_empty() {
        return Ok(HashSet::new());
    }
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    let found: Vec<String> = sqlx::query_scalar("SELECT code FROM areas WHERE code = ANY($1)")
        .bind(codes)
        .fetch_all(&mut **tx)
        .await?;
    Ok(found.into_iter().collect())
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn schema_version(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version")
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
        let mut tx = self.pool.begin().await?;
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
        let sql = format!(
            "INSERT INTO areas ({AREA_COLUMNS}) \
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[]) \
             ON CONFLICT (code) DO UPDATE SET \
             name = excluded.name, level = excluded.level, parent = excluded.parent"
        );
        for chunk in areas.chunks(ROWS_PER_INSERT) {
            let codes: Vec<String> = chunk.iter().map(|a| a.code.to_string()).collect();
            let names: Vec<&str> = chunk.iter().map(|a| a.name.as_str()).collect();
            let levels: Vec<i64> = chunk
                .iter()
                .map(|a| i64::from(a.code.level().number()))
                .collect();
            let parents: Vec<Option<String>> = chunk
                .iter()
                .map(|a| a.parent.map(|p| p.to_string()))
                .collect();
            sqlx::query(&sql)
                .bind(codes)
                .bind(names)
                .bind(levels)
                .bind(parents)
                .execute(&mut *tx)
                .await?;
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

        let mut tx = self.pool.begin().await?;
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

        let ids: Vec<&str> = cams.iter().map(|r| r.camera.id.as_str()).collect();
        let sql = format!("SELECT {CAMERA_COLUMNS} FROM cameras WHERE id = ANY($1) FOR UPDATE");
        let mut existing: HashMap<String, CameraRecord> = HashMap::new();
        for row in sqlx::query(&sql).bind(ids).fetch_all(&mut *tx).await? {
            let r = record_from_row(&row)?;
            existing.insert(r.camera.id.to_string(), r);
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
        let sql = format!(
            "INSERT INTO cameras ({CAMERA_COLUMNS}) \
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
             $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::FLOAT8[], $11::FLOAT8[], \
             $12::TEXT[], $13::BIGINT[], $14::BIGINT[]) \
             ON CONFLICT (id) DO UPDATE SET {CAMERA_UPDATE_SET}"
        );
        for chunk in flats.chunks(ROWS_PER_INSERT) {
            sqlx::query(&sql)
                .bind(chunk.iter().map(|f| f.id.as_str()).collect::<Vec<_>>())
                .bind(chunk.iter().map(|f| f.name.as_str()).collect::<Vec<_>>())
                .bind(chunk.iter().map(|f| f.area.as_str()).collect::<Vec<_>>())
                .bind(chunk.iter().map(|f| f.url.as_str()).collect::<Vec<_>>())
                .bind(
                    chunk
                        .iter()
                        .map(|f| f.username.as_deref())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    chunk
                        .iter()
                        .map(|f| f.password.as_deref())
                        .collect::<Vec<_>>(),
                )
                .bind(chunk.iter().map(|f| f.transport).collect::<Vec<_>>())
                .bind(chunk.iter().map(|f| f.mode).collect::<Vec<_>>())
                .bind(chunk.iter().map(|f| f.tags.as_str()).collect::<Vec<_>>())
                .bind(chunk.iter().map(|f| f.latitude).collect::<Vec<_>>())
                .bind(chunk.iter().map(|f| f.longitude).collect::<Vec<_>>())
                .bind(chunk.iter().map(|f| f.source).collect::<Vec<_>>())
                .bind(chunk.iter().map(|f| f.created_at).collect::<Vec<_>>())
                .bind(chunk.iter().map(|f| f.updated_at).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await?;
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
        let keep: Vec<&str> = keep.iter().map(DeviceId::as_str).collect();
        let done = sqlx::query("DELETE FROM cameras WHERE source = $1 AND NOT (id = ANY($2))")
            .bind(source.as_str())
            .bind(keep)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
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
