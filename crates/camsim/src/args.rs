//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// RTSP camera simulator: serves test clips in an endless real-time loop.
#[derive(Debug, Parser)]
#[command(name = "xlgw-camsim", version)]
pub struct Args {
    /// Address to listen on, e.g. 127.0.0.1:8554 (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,

    /// Serve the clip directory CLIPDIR at rtsp://ADDR/PATH (repeatable).
    #[arg(long = "mount", value_name = "/PATH=CLIPDIR", required = true, value_parser = parse_mount)]
    pub mounts: Vec<Mount>,

    /// User name for RTSP digest authentication (needs --password).
    #[arg(long, value_name = "U", requires = "password")]
    pub user: Option<String>,

    /// Password for RTSP digest authentication (needs --user).
    #[arg(long, value_name = "P", requires = "user")]
    pub password: Option<String>,

    /// Periodically drop all clients and refuse connections: up for UP_SECS,
    /// then down for DOWN_SECS, repeated.
    #[arg(long, value_name = "UP_SECS:DOWN_SECS", value_parser = parse_flap)]
    pub flap: Option<Flap>,
}

/// One `--mount /PATH=CLIPDIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// URL path, starting with `/`.
    pub path: String,
    /// Clip directory.
    pub dir: PathBuf,
}

/// `--flap UP:DOWN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flap {
    /// How long the camera stays reachable.
    pub up: Duration,
    /// How long it stays unreachable.
    pub down: Duration,
}

fn parse_mount(s: &str) -> Result<Mount, String> {
    let (path, dir) = s
        .split_once('=')
        .ok_or_else(|| format!("expected /PATH=CLIPDIR, got '{s}'"))?;
    if !path.starts_with('/') || path.len() < 2 {
        return Err(format!(
            "mount path '{path}' must start with '/' and not be empty"
        ));
    }
    if path.ends_with('/') {
        return Err(format!("mount path '{path}' must not end with '/'"));
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '%'))
    {
        return Err(format!(
            "mount path '{path}' contains characters not allowed in a URL path"
        ));
    }
    if dir.is_empty() {
        return Err("clip directory must not be empty".to_owned());
    }
    Ok(Mount {
        path: path.to_owned(),
        dir: PathBuf::from(dir),
    })
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !secs.is_finite() || !(0.1..=86_400.0).contains(&secs) {
        return Err(format!("'{s}' seconds is out of range 0.1..=86400"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_flap(s: &str) -> Result<Flap, String> {
    let (up, down) = s
        .split_once(':')
        .ok_or_else(|| format!("expected UP_SECS:DOWN_SECS, got '{s}'"))?;
    Ok(Flap {
        up: parse_secs(up)?,
        down: parse_secs(down)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mounts() {
        assert_eq!(
            parse_mount("/cam1=test-streams/h264-aac-720p"),
            Ok(Mount {
                path: "/cam1".to_owned(),
                dir: PathBuf::from("test-streams/h264-aac-720p"),
            })
        );
        assert_eq!(
            parse_mount("/a/b=dir=with=equals").map(|m| m.dir),
            Ok(PathBuf::from("dir=with=equals"))
        );
        for bad in [
            "cam=dir",
            "/=dir",
            "/cam",
            "/cam=",
            "/cam/=dir",
            "/c m=dir",
            "/c?x=dir",
        ] {
            assert!(parse_mount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_flap() {
        assert_eq!(
            parse_flap("5:2.5"),
            Ok(Flap {
                up: Duration::from_secs(5),
                down: Duration::from_millis(2500),
            })
        );
        for bad in ["5", "5:", ":2", "a:b", "0:1", "1:-1", "1:inf", "1:NaN"] {
            assert!(parse_flap(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_requires_user_and_password_together() {
        let base = ["xlgw-camsim", "--listen", "127.0.0.1:0", "--mount", "/a=d"];
        assert!(Args::try_parse_from(base).is_ok());
        assert!(Args::try_parse_from(base.iter().chain(&["--user", "u"])).is_err());
        assert!(Args::try_parse_from(base.iter().chain(&["--password", "p"])).is_err());
        let args = Args::try_parse_from(base.iter().chain(&["--user", "u", "--password", "p"]))
            .expect("valid");
        assert_eq!(args.user.as_deref(), Some("u"));
        assert!(Args::try_parse_from(["xlgw-camsim", "--listen", "127.0.0.1:0"]).is_err());
    }
}
