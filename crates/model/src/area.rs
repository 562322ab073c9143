//! Statistical division codes (统计用区划代码) at five levels.

use std::fmt;
use std::str::FromStr;

/// One of the five administrative levels.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// 自治区 / 省: 2 digits.
    Region,
    /// 市: 4 digits.
    City,
    /// 县 / 区: 6 digits.
    County,
    /// 乡镇 / 街道: 9 digits.
    Township,
    /// 村 / 社区: 12 digits.
    Village,
}

impl Level {
    /// All levels from the top down.
    pub const ALL: [Level; 5] = [
        Level::Region,
        Level::City,
        Level::County,
        Level::Township,
        Level::Village,
    ];

    /// Number of significant digits of a code at this level.
    pub fn digits(self) -> usize {
        match self {
            Level::Region => 2,
            Level::City => 4,
            Level::County => 6,
            Level::Township => 9,
            Level::Village => 12,
        }
    }

    /// 1 (region) to 5 (village).
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    /// The level whose codes have `digits` significant digits.
    pub fn from_digits(digits: usize) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.digits() == digits)
    }

    /// Lower-case English name, as used in config, API and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Region => "region",
            Level::City => "city",
            Level::County => "county",
            Level::Township => "township",
            Level::Village => "village",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not an area code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AreaError {
    #[error("area code must be 2, 4, 6, 9 or 12 digits, got {0} characters")]
    Length(usize),
    #[error("area code must contain only digits 0-9")]
    NotDigits,
    #[error("area code {0} has an all-zero trailing group; write it without trailing zero groups")]
    ZeroGroup(String),
}

/// A statistical division code written without trailing zero groups, so its
/// length tells its level: `45`, `4501`, `450102`, `450102001`, `450102001003`.
///
/// Stored as the 12-digit number with the level, so it is `Copy` and cheap to
/// compare and hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AreaCode {
    full: u64,
    level: Level,
}

impl AreaCode {
    /// Parses a code written with 2, 4, 6, 9 or 12 digits.
    pub fn parse(s: &str) -> Result<AreaCode, AreaError> {
        let level = Level::from_digits(s.len()).ok_or(AreaError::Length(s.chars().count()))?;
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AreaError::NotDigits);
        }
        // Each group below the region must be non-zero, else the code names its
        // parent written with extra zeros.
        let groups: &[(usize, usize)] = &[(0, 2), (2, 4), (4, 6), (6, 9), (9, 12)];
        for &(a, b) in groups.iter().take(level.number() as usize) {
            if s.as_bytes()[a..b].iter().all(|&c| c == b'0') {
                return Err(AreaError::ZeroGroup(s.to_owned()));
            }
        }
        let mut full: u64 = 0;
        for b in s.bytes() {
            full = full * 10 + u64::from(b - b'0');
        }
        for _ in s.len()..12 {
            full *= 10;
        }
        Ok(AreaCode { full, level })
    }

    /// Parses the 12-digit padded form used in the statistics tables
    /// (`450102001003`, `450100000000`).
    pub fn from_padded(s: &str) -> Result<AreaCode, AreaError> {
        if s.len() != 12 {
            return Err(AreaError::Length(s.len()));
        }
        let trimmed = [12usize, 9, 6, 4, 2]
            .into_iter()
            .find(|&n| {
                let lvl = Level::from_digits(n).unwrap_or(Level::Region);
                let start = match lvl {
                    Level::Village => 9,
                    Level::Township => 6,
                    Level::County => 4,
                    Level::City => 2,
                    Level::Region => 0,
                };
                s.as_bytes()[start..n].iter().any(|&c| c != b'0')
            })
            .unwrap_or(2);
        AreaCode::parse(&s[..trimmed])
    }

    pub fn level(self) -> Level {
        self.level
    }

    /// The code as written (2 to 12 digits).
    pub fn as_string(self) -> String {
        let s = format!("{:012}", self.full);
        s[..self.level.digits()].to_owned()
    }

    /// The 12-digit padded form.
    pub fn padded(self) -> String {
        format!("{:012}", self.full)
    }

    /// The 12-digit padded code as a number (`450102000000` for `450102`).
    pub fn value(self) -> u64 {
        self.full
    }

    /// The range of [`AreaCode::value`]s of this area and everything in it.
    pub fn value_range(self) -> std::ops::RangeInclusive<u64> {
        let span = 10u64.pow(12 - self.level.digits() as u32);
        self.full..=self.full + span - 1
    }

    /// The enclosing area one level up, if any.
    pub fn parent(self) -> Option<AreaCode> {
        let up = match self.level {
            Level::Region => return None,
            Level::City => Level::Region,
            Level::County => Level::City,
            Level::Township => Level::County,
            Level::Village => Level::Township,
        };
        Some(self.truncate(up))
    }

    /// This code's ancestor at `level` (itself when `level` is its own).
    /// Returns the code unchanged when `level` is below its own.
    pub fn truncate(self, level: Level) -> AreaCode {
        if level >= self.level {
            return self;
        }
        let drop = 12 - level.digits() as u32;
        let m = 10u64.pow(drop);
        AreaCode {
            full: self.full / m * m,
            level,
        }
    }

    /// True when `other` lies in this area (or is it).
    pub fn contains(self, other: AreaCode) -> bool {
        other.level >= self.level && other.truncate(self.level) == self
    }

    /// The six-digit county part, zero padded (`450100` for a city), as used in
    /// the centre code of GB/T 28181 ids.
    pub fn county6(self) -> String {
        format!("{:06}", self.full / 1_000_000)
    }
}

impl fmt::Display for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

impl fmt::Debug for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AreaCode({})", self.as_string())
    }
}

impl FromStr for AreaCode {
    type Err = AreaError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AreaCode::parse(s)
    }
}

impl serde::Serialize for AreaCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_string())
    }
}

impl<'de> serde::Deserialize<'de> for AreaCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AreaCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_length() {
        let cases = [
            ("45", Level::Region),
            ("4501", Level::City),
            ("450102", Level::County),
            ("450102001", Level::Township),
            ("450102001003", Level::Village),
        ];
        for (s, l) in cases {
            let c = AreaCode::parse(s).expect(s);
            assert_eq!(c.level(), l);
            assert_eq!(c.as_string(), s);
        }
    }

    #[test]
    fn rejects_bad_codes() {
        assert_eq!(AreaCode::parse("451"), Err(AreaError::Length(3)));
        assert_eq!(AreaCode::parse(""), Err(AreaError::Length(0)));
        assert_eq!(AreaCode::parse("45a1"), Err(AreaError::NotDigits));
        assert!(matches!(
            AreaCode::parse("4500"),
            Err(AreaError::ZeroGroup(_))
        ));
        assert!(matches!(
            AreaCode::parse("00"),
            Err(AreaError::ZeroGroup(_))
        ));
        assert!(matches!(
            AreaCode::parse("450102000"),
            Err(AreaError::ZeroGroup(_))
        ));
        assert!(AreaCode::parse("4501０2").is_err());
    }

    #[test]
    fn parents_and_containment() {
        let v = AreaCode::parse("450102001003").unwrap();
        let t = v.parent().unwrap();
        assert_eq!(t.as_string(), "450102001");
        let c = t.parent().unwrap().parent().unwrap().parent().unwrap();
        assert_eq!(c.as_string(), "45");
        assert!(c.parent().is_none());
        assert!(c.contains(v));
        assert!(t.contains(v));
        assert!(!v.contains(t));
        assert!(!AreaCode::parse("4502").unwrap().contains(v));
        assert_eq!(v.county6(), "450102");
        let c = AreaCode::parse("4501").unwrap();
        assert!(c.value_range().contains(&v.value()));
        assert!(
            !AreaCode::parse("4502")
                .unwrap()
                .value_range()
                .contains(&v.value())
        );
        assert_eq!(*c.value_range().end(), 450199999999);
        assert_eq!(AreaCode::parse("4501").unwrap().county6(), "450100");
    }

    #[test]
    fn padded_round_trip() {
        for s in ["45", "4501", "450102", "450102001", "450102001003"] {
            let c = AreaCode::parse(s).unwrap();
            assert_eq!(AreaCode::from_padded(&c.padded()).unwrap(), c);
        }
    }
}
