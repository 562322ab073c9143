//! The TOML configuration (docs/config.md) and its validation.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use xlgw_model::{AreaCode, Camera, Credentials, DeviceId, Mode, Transport};

/// A configuration problem, naming the key and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Parse(String),
    #[error("`{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.to_string(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub ingest: IngestSection,
    #[serde(default)]
    pub relay: RelaySection,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub directory: DirectorySection,
    #[serde(default)]
    pub cameras: Vec<CameraEntry>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectorySection {
    /// `postgres://user:pass@host/db`, or a SQLite file path. Default: the
    /// SQLite file `xlgw.db` under the data dir.
    pub database: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Serve `/metrics`. Off, the endpoint answers 404 and nothing is
    /// rendered; the per-packet counters stay (the API and UI show them).
    pub enabled: bool,
    /// Per-area camera totals are exported down to this level.
    pub area_depth: xlgw_model::Level,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: true,
            area_depth: xlgw_model::Level::County,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub rtsp_listen: String,
    pub http_listen: String,
    pub data_dir: PathBuf,
    /// First of the two UDP ports for RTP/RTCP to readers; 0 picks free
    /// ports; UDP is off when `udp = false`.
    pub udp_rtp_port: u16,
    pub udp: bool,
    pub max_connections: usize,
    pub session_timeout_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            rtsp_listen: "0.0.0.0:8554".into(),
            http_listen: "0.0.0.0:8080".into(),
            data_dir: PathBuf::from("./data"),
            udp_rtp_port: 8000,
            udp: true,
            max_connections: 8192,
            session_timeout_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSection {
    pub connect_timeout_secs: f64,
    pub first_frame_timeout_secs: f64,
    pub stall_timeout_secs: f64,
    pub backoff_initial_secs: f64,
    pub backoff_max_secs: f64,
    pub udp_fallback_secs: f64,
    pub idle_close_secs: f64,
    pub start_timeout_secs: f64,
}

impl Default for IngestSection {
    fn default() -> Self {
        IngestSection {
            connect_timeout_secs: 10.0,
            first_frame_timeout_secs: 10.0,
            stall_timeout_secs: 5.0,
            backoff_initial_secs: 1.0,
            backoff_max_secs: 30.0,
            udp_fallback_secs: 3.0,
            idle_close_secs: 10.0,
            start_timeout_secs: 10.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaySection {
    /// Packets one reader may have waiting before it skips to a keyframe.
    pub reader_queue_packets: usize,
    pub reader_queue_bytes: usize,
    /// A reader that does not take its packets for this long is dropped.
    pub write_timeout_secs: f64,
    pub max_readers_per_camera: usize,
}

impl Default for RelaySection {
    fn default() -> Self {
        RelaySection {
            reader_queue_packets: 8192,
            reader_queue_bytes: 8 << 20,
            write_timeout_secs: 10.0,
            max_readers_per_camera: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraEntry {
    pub id: String,
    pub name: String,
    pub area: String,
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    #[serde(default)]
    pub transport: Transport,
    #[serde(default)]
    pub mode: Mode,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub rtsp_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: Option<String>,
    pub udp_rtp_port: Option<u16>,
    pub max_connections: usize,
    pub session_timeout: Duration,
    pub ingest: xlgw_ingest::IngestConfig,
    pub relay: xlgw_relay::HubConfig,
    pub metrics: xlgw_health::MetricsConfig,
    pub metrics_enabled: bool,
    pub cameras: Vec<Camera>,
}

fn secs(key: &str, v: f64) -> Result<Duration, ConfigError> {
    if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
        return Err(invalid(
            key,
            "must be a number of seconds between 0 and 86400",
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

fn addr(key: &str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse()
        .map_err(|_| invalid(key, format!("{v:?} is not an address like 0.0.0.0:8554")))
}

impl Config {
    #[cfg(test)]
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let f: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        Config::from_file(f)
    }

    pub fn from_file(f: FileConfig) -> Result<Config, ConfigError> {
        let s = &f.server;
        let i = &f.ingest;
        let r = &f.relay;
        let mut ingest = xlgw_ingest::IngestConfig {
            connect_timeout: secs("ingest.connect_timeout_secs", i.connect_timeout_secs)?,
            first_frame_timeout: secs(
                "ingest.first_frame_timeout_secs",
                i.first_frame_timeout_secs,
            )?,
            stall_timeout: secs("ingest.stall_timeout_secs", i.stall_timeout_secs)?,
            backoff_initial: secs("ingest.backoff_initial_secs", i.backoff_initial_secs)?,
            backoff_max: secs("ingest.backoff_max_secs", i.backoff_max_secs)?,
            udp_fallback: secs("ingest.udp_fallback_secs", i.udp_fallback_secs)?,
            idle_close: secs("ingest.idle_close_secs", i.idle_close_secs)?,
            start_timeout: secs("ingest.start_timeout_secs", i.start_timeout_secs)?,
            ..Default::default()
        };
        if ingest.backoff_initial.is_zero() {
            return Err(invalid("ingest.backoff_initial_secs", "must be above 0"));
        }
        if ingest.backoff_max < ingest.backoff_initial {
            ingest.backoff_max = ingest.backoff_initial;
        }
        if r.reader_queue_packets < 64 || r.reader_queue_packets > 1 << 20 {
            return Err(invalid(
                "relay.reader_queue_packets",
                "must be between 64 and 1048576",
            ));
        }
        if r.reader_queue_bytes < 64 * 1024 || r.reader_queue_bytes > 1 << 30 {
            return Err(invalid(
                "relay.reader_queue_bytes",
                "must be between 65536 and 1073741824",
            ));
        }
        let relay = xlgw_relay::HubConfig {
            queue: xlgw_relay::QueueConfig {
                max_packets: r.reader_queue_packets,
                max_bytes: r.reader_queue_bytes,
                write_timeout: secs("relay.write_timeout_secs", r.write_timeout_secs)?,
            },
            max_readers: r.max_readers_per_camera.max(1),
            ..Default::default()
        };
        if s.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        let mut cameras = Vec::with_capacity(f.cameras.len());
        let mut seen = HashSet::new();
        for (n, c) in f.cameras.iter().enumerate() {
            let key = |k: &str| format!("cameras[{n}].{k}");
            let id = DeviceId::parse_camera(&c.id).map_err(|e| invalid(key("id"), e))?;
            if !seen.insert(id) {
                return Err(invalid(key("id"), format!("camera {id} appears twice")));
            }
            let area = AreaCode::parse(&c.area).map_err(|e| invalid(key("area"), e))?;
            let credentials = match (&c.username, &c.password) {
                (None, None) => None,
                (Some(u), p) => Some(Credentials {
                    username: u.clone(),
                    password: p.clone().unwrap_or_default(),
                }),
                (None, Some(_)) => return Err(invalid(key("password"), "given without username")),
            };
            let cam = Camera {
                id,
                name: c.name.clone(),
                area,
                url: c.url.clone(),
                credentials,
                transport: c.transport,
                mode: c.mode,
            };
            cam.validate().map_err(|e| {
                let k = match e {
                    xlgw_model::CameraError::EmptyName | xlgw_model::CameraError::LongName => {
                        "name"
                    }
                    _ => "url",
                };
                invalid(key(k), e)
            })?;
            cameras.push(cam);
        }
        Ok(Config {
            rtsp_listen: addr("server.rtsp_listen", &s.rtsp_listen)?,
            http_listen: addr("server.http_listen", &s.http_listen)?,
            data_dir: s.data_dir.clone(),
            database: f.directory.database.clone(),
            udp_rtp_port: s.udp.then_some(s.udp_rtp_port),
            max_connections: s.max_connections,
            session_timeout: secs("server.session_timeout_secs", s.session_timeout_secs as f64)?,
            ingest,
            relay,
            metrics: xlgw_health::MetricsConfig {
                area_depth: f.metrics.area_depth,
            },
            metrics_enabled: f.metrics.enabled,
            cameras,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
rtsp_listen = "0.0.0.0:8554"
http_listen = "0.0.0.0:8080"
data_dir = "./data"

[[cameras]]
id = "45010200001320000001"
name = "兴宁社区 东门"
area = "450102001003"
url = "rtsp://192.0.2.10:554/Streaming/Channels/101"
username = "admin"
password = "secret"
transport = "auto"
mode = "on-demand"
"#;

    #[test]
    fn documented_example_parses() {
        let c = Config::from_toml(GOOD).unwrap();
        assert_eq!(c.cameras.len(), 1);
        assert_eq!(c.cameras[0].mode, Mode::OnDemand);
        assert_eq!(c.cameras[0].transport, Transport::Auto);
        assert!(!format!("{c:?}").contains("secret"));
    }

    fn err(text: &str) -> String {
        Config::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_key() {
        let e = err(&GOOD.replace("45010200001320000001", "4501020000132000001"));
        assert!(
            e.contains("cameras[0].id") && e.contains("20 digits"),
            "{e}"
        );
        let e = err(&GOOD.replace("450102001003", "4501020010"));
        assert!(e.contains("cameras[0].area"), "{e}");
        let e = err(&GOOD.replace("rtsp://192.0.2.10", "http://192.0.2.10"));
        assert!(e.contains("cameras[0].url"), "{e}");
        let e = err(&GOOD.replace("\"auto\"", "\"quic\""));
        assert!(e.contains("transport"), "{e}");
        let e = err(&GOOD.replace("0.0.0.0:8554", "nowhere"));
        assert!(e.contains("server.rtsp_listen"), "{e}");
        let e = err(&format!("{GOOD}\nbogus = 1\n"));
        assert!(e.contains("bogus"), "{e}");
        let twice = format!("{GOOD}{}", &GOOD[GOOD.find("[[cameras]]").unwrap()..]);
        let e = err(&twice);
        assert!(e.contains("cameras[1].id") && e.contains("twice"), "{e}");
        let e = err(&GOOD.replace("rtsp://192.0.2.10", "rtsp://u:p@192.0.2.10"));
        assert!(e.contains("credentials"), "{e}");
    }
}
