//! HTTP: health and a first read-only view of the cameras. The catalogue
//! API and the operator UI grow here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use serde::Serialize;

use crate::app::Registry;

#[derive(Clone)]
struct Ctx {
    reg: Arc<Registry>,
    rtsp: SocketAddr,
    rtsp_stats: Arc<xlgw_rtsp::ServerStats>,
    metrics: Arc<xlgw_health::Metrics>,
}

pub fn router(
    reg: Arc<Registry>,
    rtsp: SocketAddr,
    rtsp_stats: Arc<xlgw_rtsp::ServerStats>,
    metrics: Arc<xlgw_health::Metrics>,
) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(metrics_text).layer(tower_http::compression::CompressionLayer::new()),
        )
        .route("/api/v1/cameras", get(cameras))
        .route("/", get(index))
        .with_state(Ctx {
            reg,
            rtsp,
            rtsp_stats,
            metrics,
        })
}

#[derive(Serialize)]
struct CameraView {
    id: String,
    name: String,
    area: String,
    level: &'static str,
    mode: &'static str,
    transport: &'static str,
    status: &'static str,
    last_error: Option<String>,
    readers: usize,
    packets: u64,
    bytes: u64,
    reconnects: u64,
    rtsp_url: String,
}

fn views(ctx: &Ctx) -> Vec<CameraView> {
    let mut v: Vec<CameraView> = ctx
        .reg
        .cameras
        .values()
        .map(|s| {
            let st = s.handle.status();
            let hs = s.hub.stats();
            CameraView {
                id: s.camera.id.to_string(),
                name: s.camera.name.clone(),
                area: s.camera.area.to_string(),
                level: s.camera.area.level().as_str(),
                mode: s.camera.mode.as_str(),
                transport: s.camera.transport.as_str(),
                status: st.state.as_str(),
                last_error: st.last_error,
                readers: s.hub.reader_count(),
                packets: hs.packets_in.load(Ordering::Relaxed),
                bytes: hs.bytes_in.load(Ordering::Relaxed),
                reconnects: st.reconnects,
                rtsp_url: format!("rtsp://{}/{}", public_host(ctx.rtsp), s.camera.id),
            }
        })
        .collect();
    v.sort_by(|a, b| a.area.len().cmp(&b.area.len()).then(a.id.cmp(&b.id)));
    v
}

/// An address a person can open: the wildcard address becomes localhost.
pub fn public_host(a: SocketAddr) -> String {
    if a.ip().is_unspecified() {
        format!("127.0.0.1:{}", a.port())
    } else {
        a.to_string()
    }
}

async fn metrics_text(State(ctx): State<Ctx>) -> impl axum::response::IntoResponse {
    let m = ctx.metrics.clone();
    let body = tokio::task::spawn_blocking(move || m.render())
        .await
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// Ready once the directory is loaded and both listeners are bound, which
/// is before this router serves anything; reports what it checked.
async fn readyz(State(ctx): State<Ctx>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "ready": true,
        "directory": { "open": true, "cameras": ctx.reg.cameras.len() },
        "rtsp": { "listen": ctx.rtsp.to_string() },
    }))
}

async fn cameras(State(ctx): State<Ctx>) -> Json<Vec<CameraView>> {
    Json(views(&ctx))
}

async fn index(State(ctx): State<Ctx>) -> Html<String> {
    let mut rows = String::new();
    for c in views(&ctx) {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{} ({})</td><td class=\"{}\">{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
            esc(&c.id),
            esc(&c.name),
            esc(&c.area),
            c.level,
            c.status,
            c.status,
            c.readers,
            esc(&c.rtsp_url)
        ));
    }
    let sessions = ctx.rtsp_stats.sessions_playing.load(Ordering::Relaxed);
    Html(format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>Xueliang Gateway</title>\
<style>body{{font-family:sans-serif;margin:2em;background:#111;color:#eee}}td,th{{padding:4px 10px;text-align:left}}\
.online{{color:#4c4}}.offline{{color:#f55}}.connecting{{color:#fc4}}.idle{{color:#aaa}}code{{color:#9cf}}</style></head>\
<body><h1>Xueliang Gateway 雪亮网关</h1><p>{sessions} playing sessions</p><table><tr><th>Camera</th><th>Name</th><th>Area</th>\
<th>Status</th><th>Readers</th><th>RTSP</th></tr>{rows}</table></body></html>"
    ))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
