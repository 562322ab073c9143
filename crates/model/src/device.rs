//! GB/T 28181 device ids: 20 decimal digits.
//!
//! Layout: 8-digit centre code (6-digit county code + 2-digit grassroots unit),
//! 2-digit industry code, 3-digit type code, 1-digit network flag, 6-digit serial.

use std::fmt;
use std::str::FromStr;

/// The type code (digits 11 to 13) of a device id, for the types this gateway
/// cares about; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    /// 111
    Dvr,
    /// 118
    Nvr,
    /// 131
    Camera,
    /// 132
    NetworkCamera,
    /// 200
    Platform,
    /// 215
    BusinessGroup,
    /// 216
    VirtualOrganisation,
    Other(u16),
}

impl DeviceType {
    pub fn from_code(code: u16) -> DeviceType {
        match code {
            111 => DeviceType::Dvr,
            118 => DeviceType::Nvr,
            131 => DeviceType::Camera,
            132 => DeviceType::NetworkCamera,
            200 => DeviceType::Platform,
            215 => DeviceType::BusinessGroup,
            216 => DeviceType::VirtualOrganisation,
            other => DeviceType::Other(other),
        }
    }

    pub fn code(self) -> u16 {
        match self {
            DeviceType::Dvr => 111,
            DeviceType::Nvr => 118,
            DeviceType::Camera => 131,
            DeviceType::NetworkCamera => 132,
            DeviceType::Platform => 200,
            DeviceType::BusinessGroup => 215,
            DeviceType::VirtualOrganisation => 216,
            DeviceType::Other(c) => c,
        }
    }

    /// True for the types a stream can be pulled from (131 and 132).
    pub fn is_camera(self) -> bool {
        matches!(self, DeviceType::Camera | DeviceType::NetworkCamera)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceIdError {
    #[error("device id must be exactly 20 digits, got {0} characters")]
    Length(usize),
    #[error("device id must contain only digits 0-9")]
    NotDigits,
    #[error("device id centre code must start with a province code 11-82, got {0:02}")]
    Province(u8),
    #[error("device id type code {0} is not a camera (131 or 132)")]
    NotCamera(u16),
}

/// A 20-digit GB/T 28181 id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId([u8; 20]);

impl DeviceId {
    /// The smallest and largest ids, as bounds for ordered ranges.
    pub const MIN: DeviceId = DeviceId([b'0'; 20]);
    pub const MAX: DeviceId = DeviceId([b'9'; 20]);

    /// Parses any well-formed 20-digit id.
    pub fn parse(s: &str) -> Result<DeviceId, DeviceIdError> {
        let b = s.as_bytes();
        if b.len() != 20 {
            return Err(DeviceIdError::Length(s.chars().count()));
        }
        if !b.iter().all(u8::is_ascii_digit) {
            return Err(DeviceIdError::NotDigits);
        }
        let province = (b[0] - b'0') * 10 + (b[1] - b'0');
        if !(11..=82).contains(&province) {
            return Err(DeviceIdError::Province(province));
        }
        let mut a = [0u8; 20];
        a.copy_from_slice(b);
        Ok(DeviceId(a))
    }

    /// Parses an id and requires a camera type code (131 or 132).
    pub fn parse_camera(s: &str) -> Result<DeviceId, DeviceIdError> {
        let id = DeviceId::parse(s)?;
        let t = id.device_type();
        if !t.is_camera() {
            return Err(DeviceIdError::NotCamera(t.code()));
        }
        Ok(id)
    }

    /// Builds a camera id from a six-digit county part, a type and a serial.
    pub fn camera(
        county6: &str,
        device_type: DeviceType,
        serial: u32,
    ) -> Result<DeviceId, DeviceIdError> {
        let s = format!(
            "{county6}00{:02}{:03}0{:06}",
            0,
            device_type.code() % 1000,
            serial % 1_000_000
        );
        DeviceId::parse(&s)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Digits 1-8: the centre code.
    pub fn centre_code(&self) -> &str {
        &self.as_str()[..8]
    }

    pub fn device_type(&self) -> DeviceType {
        let t = &self.0[10..13];
        let code = t
            .iter()
            .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
        DeviceType::from_code(code)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.as_str())
    }
}

impl FromStr for DeviceId {
    type Err = DeviceIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceId::parse(s)
    }
}

impl serde::Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DeviceId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_camera_id() {
        let id = DeviceId::parse_camera("45010200001320000001").unwrap();
        assert_eq!(id.device_type(), DeviceType::NetworkCamera);
        assert_eq!(id.centre_code(), "45010200");
        assert_eq!(id.to_string(), "45010200001320000001");
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(
            DeviceId::parse("4501020000132000000"),
            Err(DeviceIdError::Length(19))
        );
        assert_eq!(
            DeviceId::parse("4501020000132000000x"),
            Err(DeviceIdError::NotDigits)
        );
        assert_eq!(
            DeviceId::parse("00010200001320000001"),
            Err(DeviceIdError::Province(0))
        );
        assert_eq!(
            DeviceId::parse_camera("45010200002000000001"),
            Err(DeviceIdError::NotCamera(200))
        );
    }

    #[test]
    fn builds_camera_ids() {
        let id = DeviceId::camera("450102", DeviceType::Camera, 42).unwrap();
        assert_eq!(id.as_str(), "45010200001310000042");
        assert!(id.device_type().is_camera());
    }
}
