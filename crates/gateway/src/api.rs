//! The catalogue REST API under /api/v1 (docs/api.md). Every error is JSON
//! `{"error": {"code", "message"}}` with a 4xx status for client mistakes.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use xlgw_directory::{CameraRecord, CameraRow, CameraSource, DirectoryError, RowError};
use xlgw_model::{AreaCode, Credentials, DeviceId, Level, Mode, Transport};

use crate::catalog::{Catalog, Counts, Served};
use crate::http::{Ctx, public_host};

/// Largest request body accepted.
pub const MAX_BODY: usize = 8 << 20;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/api/v1/areas", get(roots))
        .route("/api/v1/areas/{code}", get(area))
        .route("/api/v1/cameras", get(list).post(create))
        .route("/api/v1/cameras:bulk", post(bulk))
        .route("/api/v1/cameras/{id}", get(one).put(replace).delete(remove))
        .route("/api/v1/cameras/{id}/play", get(play))
        .fallback(not_found_route)
}

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    rows: Option<Vec<RowError>>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            rows: None,
        }
    }
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    fn rows(rows: Vec<RowError>) -> ApiError {
        let n = rows.len();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "rows",
            message: format!("{n} bad row(s); nothing was stored"),
            rows: Some(rows),
        }
    }
    fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "api internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the gateway log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut err = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(rows) = self.rows {
            err["rows"] = serde_json::Value::Array(
                rows.into_iter()
                    .map(|r| serde_json::json!({"row": r.row, "id": r.id, "field": r.field, "message": r.message}))
                    .collect(),
            );
        }
        (self.status, Json(serde_json::json!({ "error": err }))).into_response()
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> ApiError {
        match e {
            DirectoryError::Rows(rows) => ApiError::rows(rows),
            DirectoryError::Invalid(m) => ApiError::bad(m),
            DirectoryError::SerialsExhausted { .. } => {
                ApiError::new(StatusCode::CONFLICT, "ids_exhausted", e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

async fn not_found_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
}

fn parse_area(s: &str) -> Result<AreaCode, ApiError> {
    AreaCode::parse(s)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_area", e.to_string()))
}

fn parse_id(s: &str) -> Result<DeviceId, ApiError> {
    DeviceId::parse_camera(s)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", e.to_string()))
}

#[derive(Serialize)]
struct AreaRef {
    code: String,
    name: String,
    level: Level,
}

#[derive(Serialize)]
struct AreaChild {
    code: String,
    name: String,
    level: Level,
    cameras: Counts,
}

async fn roots(State(ctx): State<Ctx>) -> Json<serde_json::Value> {
    let idx = ctx.catalog.areas.read().clone();
    let counts = ctx.catalog.root_counts(&idx.roots);
    let items: Vec<AreaChild> = idx
        .roots
        .iter()
        .zip(counts)
        .map(|(c, n)| AreaChild {
            code: c.to_string(),
            name: idx.name(*c).unwrap_or("").to_owned(),
            level: c.level(),
            cameras: n,
        })
        .collect();
    Json(serde_json::json!({ "children": items }))
}

async fn area(
    State(ctx): State<Ctx>,
    Path(code): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let code = parse_area(&code)?;
    let idx = ctx.catalog.areas.read().clone();
    let Some(node) = idx.nodes.get(&code) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_area",
            format!("area {code} is not in the directory"),
        ));
    };
    let catalog = ctx.catalog.clone();
    let children = node.children.clone();
    let (own, per) = tokio::task::spawn_blocking(move || catalog.counts(code, &children))
        .await
        .map_err(ApiError::internal)?;
    let mut path = Vec::new();
    let mut p = code.parent();
    while let Some(a) = p {
        if let Some(n) = idx.nodes.get(&a) {
            path.push(AreaRef {
                code: a.to_string(),
                name: n.name.clone(),
                level: a.level(),
            });
        }
        p = a.parent();
    }
    path.reverse();
    let children: Vec<AreaChild> = node
        .children
        .iter()
        .zip(per)
        .map(|(c, n)| AreaChild {
            code: c.to_string(),
            name: idx.name(*c).unwrap_or("").to_owned(),
            level: c.level(),
            cameras: n,
        })
        .collect();
    Ok(Json(serde_json::json!({
        "code": code.to_string(),
        "name": node.name,
        "level": code.level(),
        "path": path,
        "cameras": own,
        "children": children,
    })))
}

/// RFC 3339 UTC time of a `SystemTime`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn camera_json(ctx: &Ctx, s: &Served, area_name: Option<&str>) -> serde_json::Value {
    let c = &s.record.camera;
    let live = s.live();
    serde_json::json!({
        "id": c.id.to_string(),
        "name": c.name,
        "area": c.area.to_string(),
        "area_name": area_name,
        "level": c.area.level(),
        "url": c.url,
        // Credentials are stored, never returned: only whether there are any.
        "has_credentials": c.credentials.is_some(),
        "transport": c.transport.as_str(),
        "mode": c.mode.as_str(),
        "tags": s.record.tags,
        "latitude": s.record.latitude,
        "longitude": s.record.longitude,
        "source": s.record.source.as_str(),
        "state": {
            "status": live.state.as_str(),
            "up": live.up,
            "since": rfc3339(live.since),
            "last_error": live.last_error,
            "codec": live.codec,
            "width": live.width,
            "height": live.height,
            "fps": (live.fps * 10.0).round() / 10.0,
            "bitrate_bps": live.bitrate_bps.round() as u64,
            "readers": live.readers,
            "reconnects": live.reconnects,
        },
        "rtsp_url": format!("rtsp://{}/{}", public_host(ctx.rtsp), c.id),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    area: Option<String>,
    status: Option<String>,
    level: Option<String>,
    q: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list(
    State(ctx): State<Ctx>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad(e.body_text()))?;
    let area = q.area.as_deref().map(parse_area).transpose()?;
    if let Some(a) = area
        && !ctx.catalog.areas.read().nodes.contains_key(&a)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_area",
            format!("area {a} is not in the directory"),
        ));
    }
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s @ ("online" | "offline" | "connecting" | "idle")) => Some(s.to_owned()),
        Some(other) => {
            return Err(ApiError::bad(format!(
                "status must be online, offline, connecting or idle, not {other:?}"
            )));
        }
    };
    let level = match q.level.as_deref() {
        None | Some("") => None,
        Some(l) => Some(
            Level::ALL
                .into_iter()
                .find(|x| x.as_str() == l)
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "level must be region, city, county, township or village, not {l:?}"
                    ))
                })?,
        ),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("limit must be between 1 and 1000"));
    }
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => {
            Some(DeviceId::parse(c).map_err(|_| ApiError::bad("cursor is not one this API gave"))?)
        }
    };
    let text =
        q.q.filter(|s| !s.trim().is_empty())
            .map(|s| s.to_lowercase());
    if text.as_ref().is_some_and(|t| t.len() > 256) {
        return Err(ApiError::bad("q is longer than 256 bytes"));
    }
    let catalog = ctx.catalog.clone();
    let (items, total, next) = tokio::task::spawn_blocking(move || {
        // A subtree is one range of the area index; without an area, the
        // whole id-ordered map.
        let ids: Option<Vec<DeviceId>> = area.map(|a| catalog.ids_in(a));
        let cams = catalog.cameras.read();
        let mut items: Vec<Arc<Served>> = Vec::new();
        let mut total = 0u64;
        let mut next = None;
        let mut visit = |id: &DeviceId, s: &Arc<Served>| {
            let c = &s.record.camera;
            if level.is_some_and(|l| c.area.level() != l) {
                return;
            }
            if let Some(t) = &text
                && !c.name.to_lowercase().contains(t.as_str())
            {
                return;
            }
            if let Some(st) = &status
                && s.state_str() != st
            {
                return;
            }
            total += 1;
            if after.is_some_and(|a| *id <= a) {
                return;
            }
            if items.len() < limit {
                items.push(s.clone());
            } else if next.is_none() {
                next = items.last().map(|l| l.record.camera.id.to_string());
            }
        };
        match &ids {
            Some(ids) => {
                for id in ids {
                    if let Some(s) = cams.get(id) {
                        visit(id, s);
                    }
                }
            }
            None => {
                for (id, s) in cams.iter() {
                    visit(id, s);
                }
            }
        }
        (items, total, next)
    })
    .await
    .map_err(ApiError::internal)?;
    let idx = ctx.catalog.areas.read().clone();
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|s| camera_json(&ctx, s, idx.name(s.record.camera.area)))
        .collect();
    Ok(Json(
        serde_json::json!({ "items": items, "next_cursor": next, "total": total }),
    ))
}

async fn one(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    let s = ctx.catalog.get(&id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no camera {id}"),
        )
    })?;
    let idx = ctx.catalog.areas.read().clone();
    Ok(Json(camera_json(&ctx, &s, idx.name(s.record.camera.area))))
}

async fn play(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    if ctx.catalog.get(&id).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no camera {id}"),
        ));
    }
    Ok(Json(
        serde_json::json!({ "rtsp_url": format!("rtsp://{}/{}", public_host(ctx.rtsp), id) }),
    ))
}

/// A camera as a client sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraInput {
    id: Option<String>,
    name: String,
    area: String,
    url: String,
    username: Option<String>,
    password: Option<String>,
    #[serde(default)]
    transport: Transport,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    tags: Vec<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

/// Checks an input row: what needs no database (the store checks the rest
/// and reports rows the same way).
fn to_row(
    i: usize,
    c: CameraInput,
    areas: &crate::catalog::AreaIndex,
    errors: &mut Vec<RowError>,
) -> Option<CameraRow> {
    let mut ok = true;
    let mut err = |field: &str, message: String| {
        errors.push(RowError {
            row: i,
            id: c.id.clone(),
            field: field.to_owned(),
            message,
        });
        ok = false;
    };
    let id = match c.id.as_deref().map(DeviceId::parse_camera).transpose() {
        Ok(id) => id,
        Err(e) => {
            err("id", e.to_string());
            None
        }
    };
    let area = match AreaCode::parse(&c.area) {
        Ok(a) if areas.nodes.contains_key(&a) => Some(a),
        Ok(a) => {
            err("area", format!("area {a} is not in the directory"));
            None
        }
        Err(e) => {
            err("area", e.to_string());
            None
        }
    };
    if let Err(e) = xlgw_model::validate_url(&c.url) {
        err("url", e.to_string());
    }
    if c.name.trim().is_empty() {
        err("name", "camera name must not be empty".into());
    }
    let credentials = match (c.username, c.password) {
        (Some(u), p) if !u.is_empty() => Some(Credentials {
            username: u,
            password: p.unwrap_or_default(),
        }),
        (None, None) => None,
        // An empty username, with no or an empty password, clears the
        // credentials (see `replace`).
        (Some(_), p) if p.as_deref().is_none_or(str::is_empty) => None,
        _ => {
            err("password", "given without username".into());
            None
        }
    };
    if !ok {
        return None;
    }
    Some(CameraRow {
        line: i + 1,
        id,
        name: c.name,
        area: area?,
        url: c.url,
        credentials,
        transport: c.transport,
        mode: c.mode,
        tags: c.tags,
        latitude: c.latitude,
        longitude: c.longitude,
    })
}

async fn read_body(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request body over {MAX_BODY} bytes"),
        )
    })
}

fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad(format!("malformed JSON: {e}")))
}

/// Stores rows (all or nothing) and serves them. Config-file cameras are
/// read-only through the API.
async fn store_rows(
    ctx: &Ctx,
    rows: Vec<CameraRow>,
) -> Result<(xlgw_directory::UpsertReport, Vec<CameraRecord>), ApiError> {
    let cat: &Catalog = &ctx.catalog;
    let _guard = cat.write.lock().await;
    let mut errors = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(id) = r.id
            && cat
                .get(&id)
                .is_some_and(|s| s.record.source == CameraSource::Config)
        {
            errors.push(RowError {
                row: i,
                id: Some(id.to_string()),
                field: "id".into(),
                message: "camera comes from the config file; change it there".into(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::rows(errors));
    }
    let records = xlgw_directory::assign_ids(cat.store.as_ref(), rows, CameraSource::Api).await?;
    let report = cat.store.upsert_cameras(&records).await?;
    // Read back what was stored (timestamps) and serve it.
    let mut stored = Vec::with_capacity(records.len());
    for r in &records {
        let rec = cat
            .store
            .camera(&r.camera.id)
            .await?
            .unwrap_or_else(|| r.clone());
        cat.serve(rec.clone()).await;
        stored.push(rec);
    }
    Ok((report, stored))
}

async fn create(State(ctx): State<Ctx>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(body).await?;
    let input: CameraInput = parse_json(&bytes)?;
    let areas = ctx.catalog.areas.read().clone();
    if let Some(id) = input.id.as_deref() {
        let id = parse_id(id)?;
        if ctx.catalog.get(&id).is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "exists",
                format!("camera {id} exists; use PUT to replace it"),
            ));
        }
    }
    let mut errors = Vec::new();
    let row = to_row(0, input, &areas, &mut errors);
    let Some(row) = row else {
        return Err(single_row_error(errors));
    };
    let (_, stored) = store_rows(&ctx, vec![row]).await.map_err(unrow)?;
    let s = stored
        .first()
        .and_then(|r| ctx.catalog.get(&r.camera.id))
        .ok_or_else(|| ApiError::internal("camera vanished"))?;
    Ok((
        StatusCode::CREATED,
        Json(camera_json(&ctx, &s, areas.name(s.record.camera.area))),
    )
        .into_response())
}

async fn replace(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let bytes = read_body(body).await?;
    let mut input: CameraInput = parse_json(&bytes)?;
    if input.id.as_deref().is_some_and(|i| i != id.as_str()) {
        return Err(ApiError::bad(
            "the id in the body differs from the id in the path",
        ));
    }
    input.id = Some(id.to_string());
    let existing = ctx.catalog.get(&id);
    let existed = existing.is_some();
    // The API never returns credentials, so a client that sends a camera
    // back without them keeps the stored ones (`"username": ""` clears).
    let keep_credentials = input.username.is_none() && input.password.is_none();
    let areas = ctx.catalog.areas.read().clone();
    let mut errors = Vec::new();
    let Some(mut row) = to_row(0, input, &areas, &mut errors) else {
        return Err(single_row_error(errors));
    };
    if keep_credentials && let Some(old) = &existing {
        row.credentials = old.record.camera.credentials.clone();
    }
    store_rows(&ctx, vec![row]).await.map_err(unrow)?;
    let s = ctx
        .catalog
        .get(&id)
        .ok_or_else(|| ApiError::internal("camera vanished"))?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(camera_json(&ctx, &s, areas.name(s.record.camera.area))),
    )
        .into_response())
}

/// A single-camera request's row errors as a plain error with the field.
fn single_row_error(errors: Vec<RowError>) -> ApiError {
    match errors.first() {
        Some(e) if e.field == "area" && e.message.contains("not in the directory") => {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_area",
                e.message.clone(),
            )
        }
        Some(e) if e.field == "id" => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", e.message.clone())
        }
        Some(e) if e.field == "area" => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_area", e.message.clone())
        }
        Some(e) => ApiError::bad(format!("{}: {}", e.field, e.message)),
        None => ApiError::bad("invalid camera"),
    }
}

fn unrow(e: ApiError) -> ApiError {
    match e.rows {
        Some(rows) if rows.iter().any(|r| r.message.contains("config file")) => ApiError::new(
            StatusCode::CONFLICT,
            "read_only",
            "camera comes from the config file; change it there",
        ),
        Some(rows) => single_row_error(rows),
        None => e,
    }
}

async fn remove(State(ctx): State<Ctx>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let cat = &ctx.catalog;
    let _guard = cat.write.lock().await;
    match cat.get(&id) {
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no camera {id}"),
        )),
        Some(s) if s.record.source == CameraSource::Config => Err(ApiError::new(
            StatusCode::CONFLICT,
            "read_only",
            "camera comes from the config file; remove it there",
        )),
        Some(_) => {
            cat.store.delete_camera(&id).await?;
            cat.unserve(&id).await;
            cat.refresh_counts();
            Ok(StatusCode::NO_CONTENT)
        }
    }
}

async fn bulk(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bytes = read_body(body).await?;
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let areas = ctx.catalog.areas.read().clone();
    let rows = match ctype.as_str() {
        "application/json" => {
            let inputs: Vec<CameraInput> = parse_json(&bytes)?;
            let mut errors = Vec::new();
            let rows: Vec<CameraRow> = inputs
                .into_iter()
                .enumerate()
                .filter_map(|(i, c)| to_row(i, c, &areas, &mut errors))
                .collect();
            if !errors.is_empty() {
                return Err(ApiError::rows(errors));
            }
            rows
        }
        "text/csv" => {
            let text =
                std::str::from_utf8(&bytes).map_err(|_| ApiError::bad("CSV is not UTF-8"))?;
            let (rows, mut errors) = xlgw_directory::parse_cameras_csv(text);
            for (i, r) in rows.iter().enumerate() {
                if !areas.nodes.contains_key(&r.area) {
                    errors.push(RowError {
                        row: r.line.saturating_sub(2).max(i),
                        id: r.id.map(|d| d.to_string()),
                        field: "area".into(),
                        message: format!("area {} is not in the directory", r.area),
                    });
                }
            }
            if !errors.is_empty() {
                return Err(ApiError::rows(errors));
            }
            rows
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send application/json or text/csv",
            ));
        }
    };
    if rows.is_empty() {
        return Err(ApiError::bad("no cameras in the request"));
    }
    let (report, stored) = store_rows(&ctx, rows).await?;
    let ids: Vec<String> = stored.iter().map(|r| r.camera.id.to_string()).collect();
    Ok(Json(serde_json::json!({
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "ids": ids,
    })))
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_796_300_000)),
            "2026-12-03T12:13:20Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}
