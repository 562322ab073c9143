//! Errors of the catalogue store.

use std::fmt;
use std::path::PathBuf;

/// One bad row of a request or a file. Nothing of the request was stored.
///
/// `row` is the 0-based index into the slice given to
/// [`Store::upsert_cameras`](crate::Store::upsert_cameras) or
/// [`Store::import_areas`](crate::Store::import_areas), and the 1-based line
/// number for the CSV parsers. `message` never contains a password.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub row: usize,
    /// The row's id (camera id or area code) as written, when it had one.
    pub id: Option<String>,
    /// The field at fault, named as in the config and the CSV header.
    pub field: String,
    pub message: String,
}

impl RowError {
    pub fn new(
        row: usize,
        id: Option<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> RowError {
        RowError {
            row,
            id,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.row)?;
        if let Some(id) = &self.id {
            write!(f, " ({id})")?;
        }
        write!(f, " `{}`: {}", self.field, self.message)
    }
}

/// How many row errors the `Display` of [`DirectoryError::Rows`] spells out.
const ROWS_SHOWN: usize = 5;

fn rows_message(rows: &[RowError]) -> String {
    let mut s = format!(
        "{} bad row{}, nothing stored: ",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    for (i, r) in rows.iter().take(ROWS_SHOWN).enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        s.push_str(&r.to_string());
    }
    if rows.len() > ROWS_SHOWN {
        s.push_str(&format!("; and {} more", rows.len() - ROWS_SHOWN));
    }
    s
}

/// Everything that can go wrong in the catalogue store.
///
/// No variant's text contains a camera password or a database password.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The database was written by a newer xlgw; this one refuses to touch it.
    #[error(
        "database schema version {found} is newer than this xlgw knows ({known}); upgrade xlgw"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// Some rows of a request are bad; nothing of the request was stored.
    #[error("{}", rows_message(.0))]
    Rows(Vec<RowError>),
    /// A bad argument that is not a row (size limits, malformed prefixes).
    #[error("{0}")]
    Invalid(String),
    /// Every 6-digit serial under an id prefix is taken.
    #[error("no free 6-digit serial left for device ids starting with {prefix}")]
    SerialsExhausted { prefix: String },
    /// A stored value does not parse; the database was edited by hand or by
    /// something else.
    #[error("stored catalogue data is invalid: {0}")]
    Corrupt(String),
    /// The database location is not usable.
    #[error("cannot open database: {0}")]
    Open(String),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl DirectoryError {
    /// The row errors, when this is [`DirectoryError::Rows`].
    pub fn rows(&self) -> Option<&[RowError]> {
        match self {
            DirectoryError::Rows(r) => Some(r),
            _ => None,
        }
    }
}
