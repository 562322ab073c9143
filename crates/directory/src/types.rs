//! What the store keeps: areas of the five-level tree and camera records.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use xlgw_model::{AreaCode, Camera, CameraError, DeviceId, DeviceType, Level, Mode, Transport};

use crate::error::RowError;

/// Longest area or camera name, in bytes (as for the config's cameras).
pub const MAX_NAME_BYTES: usize = 256;
/// Longest camera username or password, in bytes.
pub const MAX_CREDENTIAL_BYTES: usize = 256;
/// Most tags on one camera.
pub const MAX_TAGS: usize = 32;
/// Longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 64;
/// Most cameras in one [`upsert_cameras`](crate::Store::upsert_cameras) call.
pub const MAX_CAMERAS_PER_CALL: usize = 100_000;
/// Most areas in one [`import_areas`](crate::Store::import_areas) call (the
/// whole country has fewer than 700,000).
pub const MAX_AREAS_PER_CALL: usize = 2_000_000;
/// Most row errors reported for one request; the rest are summed up in one
/// last entry.
pub const MAX_ROW_ERRORS: usize = 1000;

/// One node of the area tree. Its level follows from the code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Area {
    pub code: AreaCode,
    pub name: String,
    /// The enclosing area; `None` only for a region (2-digit code).
    pub parent: Option<AreaCode>,
}

impl Area {
    /// An area whose parent is the code's own enclosing area.
    pub fn new(code: AreaCode, name: impl Into<String>) -> Area {
        Area {
            code,
            name: name.into(),
            parent: code.parent(),
        }
    }

    pub fn level(&self) -> Level {
        self.code.level()
    }
}

/// Where a camera was registered. Config-file cameras are replaced by the
/// config at every start; API cameras stay until deleted through the API.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CameraSource {
    /// A `[[cameras]]` entry of the config file.
    Config,
    /// Registered through the API (one by one or in bulk).
    Api,
}

impl CameraSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraSource::Config => "config",
            CameraSource::Api => "api",
        }
    }
}

impl fmt::Display for CameraSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CameraSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "config" => Ok(CameraSource::Config),
            "api" => Ok(CameraSource::Api),
            other => Err(format!(
                "camera source must be config or api, got {other:?}"
            )),
        }
    }
}

/// A camera as stored: the camera itself plus catalogue attributes.
///
/// `Debug` never shows the password (the camera's `Credentials` hide it).
#[derive(Debug, Clone, PartialEq)]
pub struct CameraRecord {
    pub camera: Camera,
    pub source: CameraSource,
    pub tags: Vec<String>,
    /// WGS-84 degrees; both or neither.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Unix seconds. Set by the store; ignored on upsert.
    pub created_at: i64,
    /// Unix seconds of the last change. Set by the store; ignored on upsert.
    pub updated_at: i64,
}

impl CameraRecord {
    /// A record with no tags, no coordinates and zero timestamps.
    pub fn new(camera: Camera, source: CameraSource) -> CameraRecord {
        CameraRecord {
            camera,
            source,
            tags: Vec::new(),
            latitude: None,
            longitude: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// True when everything but the timestamps is equal.
    pub fn same_content(&self, other: &CameraRecord) -> bool {
        self.camera == other.camera
            && self.source == other.source
            && self.tags == other.tags
            && self.latitude == other.latitude
            && self.longitude == other.longitude
    }
}

/// What an [`upsert_cameras`](crate::Store::upsert_cameras) call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct UpsertReport {
    /// Cameras that were not stored before.
    pub inserted: u64,
    /// Cameras that were stored and changed.
    pub updated: u64,
    /// Cameras that were stored exactly so already (left untouched, their
    /// `updated_at` too).
    pub unchanged: u64,
}

/// Collects row errors up to [`MAX_ROW_ERRORS`].
#[derive(Debug, Default)]
pub(crate) struct RowErrors {
    errors: Vec<RowError>,
    dropped: usize,
}

impl RowErrors {
    pub(crate) fn push(&mut self, e: RowError) {
        if self.errors.len() < MAX_ROW_ERRORS {
            self.errors.push(e);
        } else {
            self.dropped += 1;
        }
    }

    /// Errors pushed so far, listed or not.
    pub(crate) fn len(&self) -> usize {
        self.errors.len() + self.dropped
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub(crate) fn into_vec(mut self) -> Vec<RowError> {
        self.errors.sort_by_key(|e| e.row);
        if self.dropped > 0 {
            let row = self.errors.last().map_or(0, |e| e.row);
            self.errors.push(RowError::new(
                row,
                None,
                "*",
                format!("{} more errors not listed", self.dropped),
            ));
        }
        self.errors
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Checks a name of an area or a camera.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!("is longer than {MAX_NAME_BYTES} bytes"));
    }
    if has_control(name) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Checks one tag.
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    if tag.trim().is_empty() {
        return Err("a tag must not be empty".into());
    }
    if tag.len() > MAX_TAG_BYTES {
        return Err(format!("a tag is longer than {MAX_TAG_BYTES} bytes"));
    }
    if has_control(tag) || tag.contains(['|', ';']) {
        return Err("a tag must not contain control characters, `|` or `;`".into());
    }
    Ok(())
}

/// Checks a coordinate pair: both or neither, finite, in range.
pub(crate) fn check_coordinates(
    latitude: Option<f64>,
    longitude: Option<f64>,
) -> Result<(), (&'static str, String)> {
    match (latitude, longitude) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(("longitude", "latitude given without longitude".into())),
        (None, Some(_)) => Err(("latitude", "longitude given without latitude".into())),
        (Some(lat), Some(lon)) => {
            if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
                return Err(("latitude", "must be between -90 and 90 degrees".into()));
            }
            if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
                return Err(("longitude", "must be between -180 and 180 degrees".into()));
            }
            Ok(())
        }
    }
}

/// Checks everything about a record that needs no database, pushing one
/// error per bad field. `row` is the index into the request.
pub(crate) fn validate_record(row: usize, r: &CameraRecord, errors: &mut RowErrors) {
    let c = &r.camera;
    let id = Some(c.id.to_string());
    let mut err = |field: &str, message: String| {
        errors.push(RowError::new(row, id.clone(), field, message));
    };
    let t = c.id.device_type();
    if !t.is_camera() {
        err(
            "id",
            format!(
                "device id type code {} is not a camera (131 or 132)",
                t.code()
            ),
        );
    }
    if let Err(m) = check_name(&c.name) {
        err("name", format!("camera name {m}"));
    }
    if let Some(m) = url_error(&c.url) {
        err("url", m);
    }
    if let Some(cr) = &c.credentials {
        if cr.username.len() > MAX_CREDENTIAL_BYTES || has_control(&cr.username) {
            err(
                "username",
                format!(
                    "username must be at most {MAX_CREDENTIAL_BYTES} bytes without control characters"
                ),
            );
        }
        if cr.password.len() > MAX_CREDENTIAL_BYTES {
            err(
                "password",
                format!("password must be at most {MAX_CREDENTIAL_BYTES} bytes"),
            );
        }
    }
    if r.tags.len() > MAX_TAGS {
        err("tags", format!("at most {MAX_TAGS} tags"));
    } else if let Some(m) = r.tags.iter().find_map(|t| check_tag(t).err()) {
        err("tags", m);
    }
    if let Err((field, m)) = check_coordinates(r.latitude, r.longitude) {
        err(field, m);
    }
}

/// The model's verdict on a source URL alone (`Camera::validate` checks the
/// name first and stops there; the URL check itself is not exported).
pub(crate) fn url_error(url: &str) -> Option<String> {
    let probe = Camera {
        id: DeviceId::camera("450102", DeviceType::NetworkCamera, 1).ok()?,
        name: "-".to_owned(),
        area: AreaCode::parse("45").ok()?,
        url: url.to_owned(),
        credentials: None,
        transport: Transport::default(),
        mode: Mode::default(),
    };
    probe.validate().err().map(|e: CameraError| e.to_string())
}

/// Marks every row whose id appeared in an earlier row of the same request.
pub(crate) fn check_duplicate_ids(records: &[CameraRecord], errors: &mut RowErrors) {
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let id = r.camera.id.as_str();
        if let Some(&j) = first.get(id) {
            errors.push(RowError::new(
                i,
                Some(id.to_owned()),
                "id",
                format!("the same id is already at row {j} of this request"),
            ));
        } else {
            first.insert(id, i);
        }
    }
}

/// Checks a batch of areas by itself: names, parents matching the codes, no
/// duplicates. Whether the parents exist is checked by the store.
pub(crate) fn validate_areas(areas: &[Area], errors: &mut RowErrors) {
    let mut first: HashMap<AreaCode, usize> = HashMap::with_capacity(areas.len());
    for (i, a) in areas.iter().enumerate() {
        let id = Some(a.code.to_string());
        if let Err(m) = check_name(&a.name) {
            errors.push(RowError::new(
                i,
                id.clone(),
                "name",
                format!("area name {m}"),
            ));
        }
        if a.parent != a.code.parent() {
            let want = a
                .code
                .parent()
                .map_or_else(|| "none".to_owned(), |p| p.to_string());
            let got = a
                .parent
                .map_or_else(|| "none".to_owned(), |p| p.to_string());
            errors.push(RowError::new(
                i,
                id.clone(),
                "parent",
                format!("parent of {} must be {want}, got {got}", a.code),
            ));
        }
        if let Some(&j) = first.get(&a.code) {
            errors.push(RowError::new(
                i,
                id,
                "code",
                format!("the same code is already at row {j}"),
            ));
        } else {
            first.insert(a.code, i);
        }
    }
}

pub(crate) fn parent_missing(i: usize, a: &Area, p: AreaCode) -> RowError {
    RowError::new(
        i,
        Some(a.code.to_string()),
        "parent",
        format!("parent area {p} is neither in this import nor in the catalogue"),
    )
}

pub(crate) fn area_missing(i: usize, r: &CameraRecord) -> RowError {
    RowError::new(
        i,
        Some(r.camera.id.to_string()),
        "area",
        format!("area {} is not in the catalogue", r.camera.area),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_probe_works() {
        assert!(url_error("clip:h264-aac-720p").is_none());
        assert!(url_error("rtsp://192.0.2.1:554/a").is_none());
        assert!(url_error("http://x/").is_some());
        let m = url_error("rtsp://admin:hunter2@192.0.2.1/").unwrap();
        assert!(!m.contains("hunter2"));
    }

    #[test]
    fn coordinates() {
        assert!(check_coordinates(None, None).is_ok());
        assert!(check_coordinates(Some(22.8), Some(108.3)).is_ok());
        assert_eq!(
            check_coordinates(Some(1.0), None).unwrap_err().0,
            "longitude"
        );
        assert_eq!(
            check_coordinates(Some(f64::NAN), Some(1.0)).unwrap_err().0,
            "latitude"
        );
        assert_eq!(
            check_coordinates(Some(1.0), Some(181.0)).unwrap_err().0,
            "longitude"
        );
    }

    #[test]
    fn row_errors_are_bounded() {
        let mut e = RowErrors::default();
        for i in 0..MAX_ROW_ERRORS + 5 {
            e.push(RowError::new(i, None, "name", "bad"));
        }
        let v = e.into_vec();
        assert_eq!(v.len(), MAX_ROW_ERRORS + 1);
        assert!(v[MAX_ROW_ERRORS].message.contains("5 more"));
    }
}
