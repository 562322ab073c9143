//! `xlgw`, the Xueliang Gateway binary: reads the configuration (or uses the
//! embedded demo), starts one ingest supervisor and relay hub per camera, the
//! RTSP server for readers and the HTTP server, and shuts them down cleanly.
//!
//! It holds wiring only: protocol, relay and ingest logic live in their
//! crates, and nothing depends on this one.

mod api;
mod app;
mod catalog;
mod config;
mod demo;
mod http;
mod metrics;
mod sources;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;

/// Xueliang Gateway: pulls RTSP cameras of the five administrative levels and
/// re-serves them to operators and upper-level platforms.
#[derive(Debug, Parser)]
#[command(name = "xlgw", version)]
struct Cli {
    /// Configuration file (TOML, see docs/config.md). Without it, a demo
    /// gateway runs on embedded defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// RTSP listen address, overriding the configuration.
    #[arg(long, value_name = "ADDR")]
    rtsp_listen: Option<String>,
    /// HTTP listen address, overriding the configuration.
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<String>,
    /// Data directory, overriding the configuration.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Catalogue database: `postgres://user:pass@host/db` or a SQLite file
    /// (default: xlgw.db in the data dir), overriding the configuration.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Manage the area tree.
    Areas {
        #[command(subcommand)]
        action: AreasAction,
    },
    /// Manage cameras in the catalogue.
    Cameras {
        #[command(subcommand)]
        action: CamerasAction,
    },
}

#[derive(Debug, clap::Subcommand)]
enum AreasAction {
    /// Load a province's tree from a CSV (code,name,level,parent).
    Import { file: PathBuf },
}

#[derive(Debug, clap::Subcommand)]
enum CamerasAction {
    /// Register cameras from a CSV (id,name,area,url,username,password,transport,mode,tags,latitude,longitude),
    /// all or nothing, idempotent by id.
    Import { file: PathBuf },
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(e) = run(cli) {
        eprintln!("xlgw: {e:#}");
        std::process::exit(2);
    }
}

fn load(cli: &Cli) -> anyhow::Result<(config::Config, bool)> {
    let (text, demo) = match &cli.config {
        Some(p) => (
            std::fs::read_to_string(p)
                .with_context(|| format!("reading config {}", p.display()))?,
            false,
        ),
        None => (demo::DEMO_CONFIG.to_owned(), true),
    };
    let name = cli
        .config
        .as_ref()
        .map_or("(demo)".into(), |p| p.display().to_string());
    let mut file: config::FileConfig = toml::from_str(&text)
        .map_err(|e| config::ConfigError::Parse(e.to_string()))
        .with_context(|| format!("config {name}"))?;
    if let Some(a) = &cli.rtsp_listen {
        file.server.rtsp_listen = a.clone();
    }
    if let Some(a) = &cli.http_listen {
        file.server.http_listen = a.clone();
    }
    if let Some(d) = &cli.data_dir {
        file.server.data_dir = d.clone();
    }
    if let Some(db) = &cli.database {
        file.directory.database = Some(db.clone());
    }
    let cfg = config::Config::from_file(file).with_context(|| format!("config {name}"))?;
    Ok((cfg, demo))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let (cfg, demo) = load(&cli)?;
    if cli.check {
        println!("config ok: {} cameras", cfg.cameras.len());
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("xlgw")
        .build()
        .context("starting the runtime")?;
    if let Some(cmd) = &cli.command {
        return rt.block_on(admin(cmd, &cfg));
    }
    rt.block_on(async move {
        let clips = sources::embedded_clips().context("loading embedded clips")?;
        let opener = Arc::new(sources::Sources::new(clips));
        let gw = app::Gateway::start(cfg, opener).await?;
        let host = http::public_host(gw.rtsp_addr);
        println!(
            "xlgw {} {}: RTSP on {}, HTTP on {}",
            env!("CARGO_PKG_VERSION"),
            if demo { "demo" } else { "running" },
            gw.rtsp_addr,
            gw.http_addr
        );
        println!("operator page: http://{}/", http::public_host(gw.http_addr));
        let mut cams: Vec<_> = gw
            .catalog
            .cameras
            .read()
            .values()
            .map(|s| s.record.camera.clone())
            .collect();
        cams.sort_by_key(|c| (c.area.level(), c.id));
        let total = cams.len();
        for c in cams.iter().take(20) {
            println!(
                "  {:<9} {:<14} {}  ffplay -rtsp_transport tcp rtsp://{}/{}",
                c.area.level().as_str(),
                c.area.to_string(),
                c.name,
                host,
                c.id
            );
        }
        if total > 20 {
            println!(
                "  … and {} more cameras: http://{}/api/v1/cameras",
                total - 20,
                http::public_host(gw.http_addr)
            );
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        wait_for_signal().await;
        tracing::info!("shutting down");
        gw.shutdown().await;
        Ok(())
    })
}

/// `xlgw areas import` and `xlgw cameras import`: write to the catalogue
/// and exit. A running gateway picks the changes up at its next start.
async fn admin(cmd: &Command, cfg: &config::Config) -> anyhow::Result<()> {
    let store = app::open_store(cfg).await?;
    match cmd {
        Command::Areas {
            action: AreasAction::Import { file },
        } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let areas = xlgw_directory::parse_areas_csv(&text)
                .with_context(|| format!("parsing {}", file.display()))?;
            let n = store.import_areas(&areas).await.context("storing areas")?;
            println!("{n} areas imported from {}", file.display());
        }
        Command::Cameras {
            action: CamerasAction::Import { file },
        } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (rows, mut errors) = xlgw_directory::parse_cameras_csv(&text);
            // As through the API: each row's area must be in the tree, and
            // a camera from the config file is changed there, not here.
            let mut known = std::collections::HashMap::new();
            for r in &rows {
                let exists = match known.get(&r.area) {
                    Some(k) => *k,
                    None => {
                        let k = store.area(r.area).await.context("reading areas")?.is_some();
                        known.insert(r.area, k);
                        k
                    }
                };
                if !exists {
                    errors.push(xlgw_directory::RowError::new(
                        r.line,
                        r.id.map(|d| d.to_string()),
                        "area",
                        format!("area {} is not in the directory", r.area),
                    ));
                }
                if let Some(id) = r.id
                    && let Some(rec) = store.camera(&id).await.context("reading cameras")?
                    && rec.source == xlgw_directory::CameraSource::Config
                {
                    errors.push(xlgw_directory::RowError::new(
                        r.line,
                        Some(id.to_string()),
                        "id",
                        format!("camera {id} comes from the config file; change it there"),
                    ));
                }
            }
            if !errors.is_empty() {
                errors.sort_by_key(|e| e.row);
                print_rows(&errors);
                anyhow::bail!(
                    "{} bad row(s) in {}; nothing was stored",
                    errors.len(),
                    file.display()
                );
            }
            let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
            let records =
                xlgw_directory::assign_ids(store.as_ref(), rows, xlgw_directory::CameraSource::Api)
                    .await?;
            match store.upsert_cameras(&records).await {
                Ok(r) => println!(
                    "{} cameras: {} inserted, {} updated, {} unchanged",
                    records.len(),
                    r.inserted,
                    r.updated,
                    r.unchanged
                ),
                Err(xlgw_directory::DirectoryError::Rows(mut rows)) => {
                    // The store counts records from 0; report file lines.
                    for e in &mut rows {
                        e.row = lines.get(e.row).copied().unwrap_or(e.row);
                    }
                    print_rows(&rows);
                    anyhow::bail!("{} bad row(s); nothing was stored", rows.len());
                }
                Err(e) => return Err(e).context("storing cameras"),
            }
        }
    }
    store.close().await;
    Ok(())
}

/// Prints a row report (at most 50 rows) to stderr; `row` is the file's line.
fn print_rows(rows: &[xlgw_directory::RowError]) {
    for e in rows.iter().take(50) {
        eprintln!(
            "line {} ({}): {}: {}",
            e.row,
            e.id.as_deref().unwrap_or("-"),
            e.field,
            e.message
        );
    }
    if rows.len() > 50 {
        eprintln!("… and {} more", rows.len() - 50);
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
