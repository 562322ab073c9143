//! HTTP: health, metrics, the catalogue API (see `api`) and the operator
//! web UI.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::catalog::Catalog;

#[derive(Clone)]
pub struct Ctx {
    pub catalog: Arc<Catalog>,
    pub rtsp: SocketAddr,
    pub rtsp_stats: Arc<xlgw_rtsp::ServerStats>,
    /// `None` when `[metrics] enabled = false`.
    pub metrics: Option<Arc<xlgw_health::Metrics>>,
}

pub fn router(ctx: Ctx) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz));
    if ctx.metrics.is_some() {
        r = r.route("/metrics", get(metrics_text));
    }
    r.route("/", get(ui_index))
        .route("/ui/app.js", get(ui_js))
        .route("/ui/app.css", get(ui_css))
        .merge(crate::api::routes())
        .with_state(ctx)
}

/// An address a person can open: the wildcard address becomes localhost.
pub fn public_host(a: SocketAddr) -> String {
    if a.ip().is_unspecified() {
        format!("127.0.0.1:{}", a.port())
    } else {
        a.to_string()
    }
}

/// Renders the exposition on a blocking thread, off the runtime that serves
/// RTSP, and gzips it there too when the client accepts it (Prometheus
/// does). Level 1: at 10,000 cameras the text is about 12 MB, and the
/// fastest level costs a fraction of the default's time for a body within
/// a few per cent of its size.
async fn metrics_text(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let Some(m) = ctx.metrics.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let gzip = accepts_gzip(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let rendered = tokio::task::spawn_blocking(move || {
        let text = m.render();
        if !gzip {
            return Ok::<_, std::io::Error>((text.into_bytes(), false));
        }
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(text.len() / 16),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut enc, text.as_bytes())?;
        Ok((enc.finish()?, true))
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    let (body, gzipped) = match rendered {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "rendering /metrics failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut resp = (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::VARY, "accept-encoding"),
        ],
        body,
    )
        .into_response();
    if gzipped {
        resp.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    resp
}

/// Whether an `Accept-Encoding` value accepts gzip: `gzip` or `*` listed
/// with a quality above zero (`gzip;q=0` refuses it).
fn accepts_gzip(value: &str) -> bool {
    let mut star = None;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match name.as_str() {
            "gzip" | "x-gzip" => return q > 0.0,
            "*" => star = Some(q > 0.0),
            _ => {}
        }
    }
    star.unwrap_or(false)
}

/// How long `/readyz` waits for the directory to answer.
const READY_DB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Ready while the directory answers a query (within two seconds) and the
/// listeners are bound (both are before this router serves anything):
/// 200 when ready, 503 when not, with what was checked. A database that
/// went away (PostgreSQL restarted, disk gone) makes the gateway not ready
/// until it answers again; streams already playing go on meanwhile.
async fn readyz(State(ctx): State<Ctx>) -> impl IntoResponse {
    let areas = ctx.catalog.areas.read().nodes.len();
    let cameras = ctx.catalog.cameras.read().len();
    let probe = tokio::time::timeout(READY_DB_TIMEOUT, ctx.catalog.store.schema_version()).await;
    let error = match probe {
        Ok(Ok(_)) => None,
        // Directory errors name no URL or credentials (the URL is never
        // part of them); the message says what failed.
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {} s", READY_DB_TIMEOUT.as_secs())),
    };
    let ready = error.is_none();
    let mut directory = serde_json::json!({
        "open": ready,
        "backend": ctx.catalog.store.backend().as_str(),
        "areas": areas,
        "cameras": cameras,
    });
    if let Some(e) = error {
        tracing::warn!(error = %e, "not ready: the directory does not answer");
        directory["error"] = e.into();
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "ready": ready,
            "directory": directory,
            "rtsp": {
                "listen": ctx.rtsp.to_string(),
                "sessions_playing": ctx.rtsp_stats.sessions_playing.load(std::sync::atomic::Ordering::Relaxed),
            },
        })),
    )
}

const UI_INDEX: &str = include_str!("../ui/index.html");
const UI_JS: &str = include_str!("../ui/app.js");
const UI_CSS: &str = include_str!("../ui/app.css");

async fn ui_index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        UI_INDEX,
    )
}

async fn ui_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        UI_JS,
    )
}

async fn ui_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        UI_CSS,
    )
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn accept_encoding() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(accepts_gzip("GZIP"));
        assert!(accepts_gzip("br, *"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("gzip; q=0.0, *"));
        assert!(!accepts_gzip("*;q=0"));
        assert!(!accepts_gzip("br, deflate"));
    }
}
