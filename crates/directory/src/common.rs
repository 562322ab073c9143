//! Helpers shared by both backends: the flat column form of a record and
//! back, timestamps.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{ColumnIndex, Decode, Row, Type};
use xlgw_model::{AreaCode, Camera, Credentials, DeviceId, Mode, Transport};

use crate::error::DirectoryError;
use crate::types::{Area, CameraRecord, CameraSource};

/// Camera columns in the order of [`Flat`] and of [`record_from_row`].
pub(crate) const CAMERA_COLUMNS: &str = "id, name, area, url, username, password, transport, \
     mode, tags, latitude, longitude, source, created_at, updated_at";
pub(crate) const CAMERA_COLUMN_COUNT: usize = 14;

/// What a re-registered camera changes; `created_at` stays.
pub(crate) const CAMERA_UPDATE_SET: &str = "name = excluded.name, area = excluded.area, \
     url = excluded.url, username = excluded.username, password = excluded.password, \
     transport = excluded.transport, mode = excluded.mode, tags = excluded.tags, \
     latitude = excluded.latitude, longitude = excluded.longitude, source = excluded.source, \
     updated_at = excluded.updated_at";

pub(crate) const AREA_COLUMNS: &str = "code, name, level, parent";

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Closes a pool and every connection it has.
///
/// `Pool::close` (sqlx 0.8) can return while a connection is on its way back
/// to the pool (being pinged); that connection then lands idle in the closed
/// pool and stays open. Closing again picks it up. Bounded: a connection
/// still in use after 5 s is left to the pool's drop.
pub(crate) async fn close_pool<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) {
    pool.close().await;
    for _ in 0..250 {
        if pool.size() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        pool.close().await;
    }
}

/// A camera record as column values.
pub(crate) struct Flat {
    pub id: String,
    pub name: String,
    pub area: String,
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub transport: &'static str,
    pub mode: &'static str,
    pub tags: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub source: &'static str,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Flat {
    pub(crate) fn new(r: &CameraRecord, created_at: i64, updated_at: i64) -> Flat {
        let c = &r.camera;
        Flat {
            id: c.id.to_string(),
            name: c.name.clone(),
            area: c.area.to_string(),
            url: c.url.clone(),
            username: c.credentials.as_ref().map(|cr| cr.username.clone()),
            password: c.credentials.as_ref().map(|cr| cr.password.clone()),
            transport: c.transport.as_str(),
            mode: c.mode.as_str(),
            tags: tags_to_json(&r.tags),
            latitude: r.latitude,
            longitude: r.longitude,
            source: r.source.as_str(),
            created_at,
            updated_at,
        }
    }
}

pub(crate) fn tags_to_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned())
}

fn corrupt(id: &str, what: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Corrupt(format!("camera {id}: {what}"))
}

fn parse_transport(s: &str) -> Option<Transport> {
    match s {
        "tcp" => Some(Transport::Tcp),
        "udp" => Some(Transport::Udp),
        "auto" => Some(Transport::Auto),
        _ => None,
    }
}

fn parse_mode(s: &str) -> Option<Mode> {
    match s {
        "always" => Some(Mode::Always),
        "on-demand" => Some(Mode::OnDemand),
        _ => None,
    }
}

/// Reads a row selected with [`CAMERA_COLUMNS`].
pub(crate) fn record_from_row<R>(row: &R) -> Result<CameraRecord, DirectoryError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: String = row.try_get(0)?;
    let name: String = row.try_get(1)?;
    let area: String = row.try_get(2)?;
    let url: String = row.try_get(3)?;
    let username: Option<String> = row.try_get(4)?;
    let password: Option<String> = row.try_get(5)?;
    let transport: String = row.try_get(6)?;
    let mode: String = row.try_get(7)?;
    let tags: String = row.try_get(8)?;
    let latitude: Option<f64> = row.try_get(9)?;
    let longitude: Option<f64> = row.try_get(10)?;
    let source: String = row.try_get(11)?;
    let created_at: i64 = row.try_get(12)?;
    let updated_at: i64 = row.try_get(13)?;

    let device = DeviceId::parse(&id).map_err(|e| corrupt(&id, e))?;
    let area = AreaCode::parse(&area).map_err(|e| corrupt(&id, e))?;
    let transport = parse_transport(&transport)
        .ok_or_else(|| corrupt(&id, format!("unknown transport {transport:?}")))?;
    let mode = parse_mode(&mode).ok_or_else(|| corrupt(&id, format!("unknown mode {mode:?}")))?;
    let source: CameraSource = source.parse().map_err(|e: String| corrupt(&id, e))?;
    let tags: Vec<String> =
        serde_json::from_str(&tags).map_err(|e| corrupt(&id, format!("tags: {e}")))?;
    let credentials = username.map(|username| Credentials {
        username,
        password: password.unwrap_or_default(),
    });
    Ok(CameraRecord {
        camera: Camera {
            id: device,
            name,
            area,
            url,
            credentials,
            transport,
            mode,
        },
        source,
        tags,
        latitude,
        longitude,
        created_at,
        updated_at,
    })
}

/// Reads a row selected with `code, name, parent`.
pub(crate) fn area_from_row<R>(row: &R) -> Result<Area, DirectoryError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let code: String = row.try_get(0)?;
    let name: String = row.try_get(1)?;
    let parent: Option<String> = row.try_get(2)?;
    let bad = |e: xlgw_model::AreaError| DirectoryError::Corrupt(format!("area {code}: {e}"));
    let parsed = AreaCode::parse(&code).map_err(bad)?;
    let parent = match parent {
        Some(p) => Some(AreaCode::parse(&p).map_err(bad)?),
        None => None,
    };
    Ok(Area {
        code: parsed,
        name,
        parent,
    })
}

/// `(?, ?, ...), (?, ...)`: `rows` groups of `cols` anonymous parameters.
///
/// Anonymous on purpose: SQLite looks up a parameter's name by a linear scan,
/// and sqlx asks for every parameter's name, so thousands of `$N`
/// parameters in one statement cost quadratic time; `?` have no name.
pub(crate) fn value_groups(rows: usize, cols: usize) -> String {
    let group = format!("({})", param_list(cols));
    vec![group; rows].join(", ")
}

/// `?, ?, ... ?` (`n` anonymous parameters).
pub(crate) fn param_list(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The id range `[low, high]` of serials under a prefix built the way
/// `DeviceId::camera` builds ids: county (6) + `00` + industry `00` + type
/// (3) + network `0` + serial (6).
pub(crate) fn serial_range(
    county6: &str,
    type_code: u16,
) -> Result<(String, String), DirectoryError> {
    if county6.len() != 6 || !county6.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DirectoryError::Invalid(format!(
            "county prefix must be 6 digits, got {:?}",
            county6.chars().take(12).collect::<String>()
        )));
    }
    if type_code > 999 {
        return Err(DirectoryError::Invalid(format!(
            "device type code must have 3 digits, got {type_code}"
        )));
    }
    let prefix = format!("{county6}0000{type_code:03}0");
    Ok((format!("{prefix}000000"), format!("{prefix}999999")))
}

/// Serials handed out by [`next_serial`](crate::Store::next_serial), per id
/// prefix, so that two registrations never get the same one.
#[derive(Debug, Default)]
pub(crate) struct Serials(Mutex<HashMap<String, u32>>);

impl Serials {
    /// The next serial under the prefix of `low` (from [`serial_range`]),
    /// given the highest serial stored there.
    pub(crate) fn next(&self, low: &str, stored_max: u32) -> Result<u32, DirectoryError> {
        let prefix = low.get(..14).unwrap_or(low);
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let last = map.get(prefix).copied().unwrap_or(0).max(stored_max);
        let next = last + 1;
        if next > 999_999 {
            return Err(DirectoryError::SerialsExhausted {
                prefix: prefix.to_owned(),
            });
        }
        map.insert(prefix.to_owned(), next);
        Ok(next)
    }
}

/// The serial (last 6 digits) of an id.
pub(crate) fn serial_of(id: &str) -> u32 {
    id.get(14..20).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlgw_model::DeviceType;

    #[test]
    fn placeholders() {
        assert_eq!(value_groups(2, 2), "(?, ?), (?, ?)");
        assert_eq!(param_list(3), "?, ?, ?");
    }

    #[test]
    fn serial_range_matches_model_ids() {
        let (lo, hi) = serial_range("450102", 132).unwrap();
        let id = DeviceId::camera("450102", DeviceType::NetworkCamera, 42).unwrap();
        assert!(lo.as_str() <= id.as_str() && id.as_str() <= hi.as_str());
        assert_eq!(serial_of(id.as_str()), 42);
        assert!(serial_range("4501", 132).is_err());
        assert!(serial_range("450102", 1000).is_err());
    }
}
