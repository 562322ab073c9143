//! A camera as configured: where it hangs in the tree and how to pull it.

use std::fmt;

use crate::{AreaCode, DeviceId};

/// How the gateway pulls the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// RTP interleaved in the RTSP TCP connection.
    #[default]
    Tcp,
    /// RTP over UDP.
    Udp,
    /// UDP, falling back to TCP when no packet arrives in time.
    Auto,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Auto => "auto",
        }
    }
}

/// When the gateway pulls the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Pulled all the time.
    #[default]
    Always,
    /// Pulled only while someone watches.
    OnDemand,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Always => "always",
            Mode::OnDemand => "on-demand",
        }
    }
}

/// Camera credentials. `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}:***)", self.username)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    #[error("camera name must not be empty")]
    EmptyName,
    #[error("camera name is longer than 256 bytes")]
    LongName,
    #[error("source url must start with rtsp://, rtsps:// or clip:")]
    Scheme,
    #[error("source url is longer than 2048 bytes")]
    LongUrl,
    #[error("credentials must not be embedded in the url; use username and password")]
    UrlCredentials,
}

/// A camera: identity, place in the tree and source.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    pub id: DeviceId,
    pub name: String,
    pub area: AreaCode,
    /// Source URL without credentials (`rtsp://...`, or `clip:NAME` for the
    /// built-in looping test sources).
    pub url: String,
    pub credentials: Option<Credentials>,
    pub transport: Transport,
    pub mode: Mode,
}

impl Camera {
    /// Checks the fields that the type system does not.
    pub fn validate(&self) -> Result<(), CameraError> {
        if self.name.trim().is_empty() {
            return Err(CameraError::EmptyName);
        }
        if self.name.len() > 256 {
            return Err(CameraError::LongName);
        }
        validate_url(&self.url)
    }
}

/// Checks a source URL: scheme, size, no userinfo.
pub fn validate_url(url: &str) -> Result<(), CameraError> {
    if url.len() > 2048 {
        return Err(CameraError::LongUrl);
    }
    let lower = url.to_ascii_lowercase();
    let rest = if let Some(r) = lower.strip_prefix("rtsp://") {
        r
    } else if let Some(r) = lower.strip_prefix("rtsps://") {
        r
    } else if lower.starts_with("clip:") {
        return Ok(());
    } else {
        return Err(CameraError::Scheme);
    };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(CameraError::UrlCredentials);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam() -> Camera {
        Camera {
            id: DeviceId::parse("45010200001320000001").unwrap(),
            name: "兴宁社区 东门".into(),
            area: AreaCode::parse("450102001003").unwrap(),
            url: "rtsp://192.0.2.10:554/Streaming/Channels/101".into(),
            credentials: Some(Credentials {
                username: "admin".into(),
                password: "secret".into(),
            }),
            transport: Transport::Auto,
            mode: Mode::OnDemand,
        }
    }

    #[test]
    fn debug_hides_password() {
        let c = cam();
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn url_rules() {
        assert_eq!(validate_url("http://x"), Err(CameraError::Scheme));
        assert_eq!(
            validate_url("rtsp://a:b@x/"),
            Err(CameraError::UrlCredentials)
        );
        assert!(validate_url("clip:h264-aac-720p").is_ok());
        assert!(validate_url("RTSP://192.0.2.1/a@b").is_ok());
    }
}
