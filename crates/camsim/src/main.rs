//! `xlgw-camsim`: an RTSP camera simulator for integration tests and demos.
//!
//! Serves test clips (see `test-streams/`, read with `xlgw-clip`) over RTSP
//! using GStreamer's gst-rtsp-server, each mount in an endless real-time loop
//! with continuous timestamps, one shared pipeline per mount, over TCP
//! interleaved or UDP, optionally behind digest authentication, and can
//! simulate an unreliable camera with `--flap UP:DOWN`.
//!
//! ```text
//! xlgw-camsim --listen ADDR --mount /PATH=CLIPDIR [--mount ...]
//!             [--user U --password P] [--flap UP_SECS:DOWN_SECS]
//! ```
//!
//! Stdout carries one `READY rtsp://ADDR/PATH` line per mount once listening,
//! then `DOWN` / `UP` lines when `--flap` changes state; logs go to stderr
//! (`RUST_LOG` filters them). SIGINT/SIGTERM end the process with status 0.
//!
//! It must not be used as a production component or talk to anything but its
//! RTSP clients, and it must never print or log the password.

mod args;
mod feeder;
mod server;

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use clap::Parser;
use gstreamer as gst;
use gstreamer::glib;

use crate::args::{Args, Flap};
use crate::server::Camera;

/// Writes one line to stdout and flushes it. Errors (e.g. the reader went
/// away) are ignored: the camera keeps serving.
fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn schedule_flap(camera: Rc<RefCell<Camera>>, flap: Flap) {
    glib::timeout_add_local_once(flap.up, move || {
        camera.borrow_mut().go_down();
        announce("DOWN");
        glib::timeout_add_local_once(flap.down, move || {
            let result = camera.borrow_mut().go_up();
            match result {
                Ok(()) => announce("UP"),
                // Keep trying on the same schedule; the port may be taken meanwhile.
                Err(e) => tracing::error!(error = %format!("{e:#}"), "cannot listen again"),
            }
            schedule_flap(camera, flap);
        });
    });
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    gst::init().context("initialising GStreamer")?;

    let credentials = match (&args.user, &args.password) {
        (Some(u), Some(p)) => Some((u.as_str(), p.as_str())),
        _ => None,
    };
    let camera = Rc::new(RefCell::new(Camera::new(
        args.listen,
        &args.mounts,
        credentials,
    )?));
    let bound = camera.borrow_mut().start()?;
    tracing::info!(address = %bound, "listening");

    let main_loop = glib::MainLoop::new(None, false);
    let signals = AtomicUsize::new(0);
    let quit = main_loop.clone();
    ctrlc::set_handler(move || {
        if signals.fetch_add(1, Ordering::SeqCst) > 0 {
            // Second signal: the clean shutdown is stuck; leave now.
            std::process::exit(1);
        }
        quit.quit();
    })
    .context("installing the signal handler")?;

    for mount in &args.mounts {
        announce(&format!("READY rtsp://{bound}{}", mount.path));
    }
    if let Some(flap) = args.flap {
        tracing::info!(up = ?flap.up, down = ?flap.down, "flapping");
        schedule_flap(camera.clone(), flap);
    }

    main_loop.run();
    tracing::info!("shutting down");
    camera.borrow_mut().shutdown();
    Ok(())
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xlgw-camsim: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
