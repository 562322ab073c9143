//! Versioned schema migrations, one list per backend.
//!
//! Each migration runs once, in the same transaction as the row that records
//! it in `schema_version`. Released migrations are never edited: a change of
//! schema is a new entry with the next version.

/// One step of the schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 1;

/// Created before anything else; the same on both backends.
pub(crate) const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

pub(crate) const SQLITE: &[Migration] = &[Migration {
    version: 1,
    description: "areas and cameras",
    sql: "
CREATE TABLE areas (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    level BIGINT NOT NULL CHECK (level BETWEEN 1 AND 5),
    parent TEXT
);
CREATE INDEX areas_parent ON areas (parent);
CREATE TABLE cameras (
    id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 20),
    name TEXT NOT NULL,
    area TEXT NOT NULL REFERENCES areas (code),
    url TEXT NOT NULL,
    username TEXT,
    password TEXT,
    transport TEXT NOT NULL CHECK (transport IN ('tcp', 'udp', 'auto')),
    mode TEXT NOT NULL CHECK (mode IN ('always', 'on-demand')),
    tags TEXT NOT NULL DEFAULT '[]',
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    source TEXT NOT NULL CHECK (source IN ('config', 'api')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX cameras_area ON cameras (area);
CREATE INDEX cameras_source ON cameras (source);
",
}];

pub(crate) const POSTGRES: &[Migration] = &[Migration {
    version: 1,
    description: "areas and cameras",
    sql: r#"
CREATE TABLE areas (
    code TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    level BIGINT NOT NULL CHECK (level BETWEEN 1 AND 5),
    parent TEXT COLLATE "C"
);
CREATE INDEX areas_parent ON areas (parent);
CREATE TABLE cameras (
    id TEXT COLLATE "C" PRIMARY KEY CHECK (length(id) = 20),
    name TEXT NOT NULL,
    area TEXT COLLATE "C" NOT NULL REFERENCES areas (code),
    url TEXT NOT NULL,
    username TEXT,
    password TEXT,
    transport TEXT NOT NULL CHECK (transport IN ('tcp', 'udp', 'auto')),
    mode TEXT NOT NULL CHECK (mode IN ('always', 'on-demand')),
    tags TEXT NOT NULL DEFAULT '[]',
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    source TEXT NOT NULL CHECK (source IN ('config', 'api')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX cameras_area ON cameras (area);
CREATE INDEX cameras_source ON cameras (source);
"#,
}];

/// The migrations still to apply on a database at `current`, or the error
/// when the database is newer than this build.
pub(crate) fn pending(
    list: &'static [Migration],
    current: i64,
) -> Result<&'static [Migration], crate::DirectoryError> {
    if current > SCHEMA_VERSION {
        return Err(crate::DirectoryError::SchemaTooNew {
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    let start = list.partition_point(|m| m.version <= current);
    Ok(&list[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_complete_and_ordered() {
        for list in [SQLITE, POSTGRES] {
            let versions: Vec<i64> = list.iter().map(|m| m.version).collect();
            let want: Vec<i64> = (1..=SCHEMA_VERSION).collect();
            assert_eq!(versions, want);
        }
    }

    #[test]
    fn pending_steps() {
        assert_eq!(pending(SQLITE, 0).unwrap().len(), SQLITE.len());
        assert!(pending(SQLITE, SCHEMA_VERSION).unwrap().is_empty());
        let e = pending(SQLITE, SCHEMA_VERSION + 6).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "database schema version {} is newer than this xlgw knows ({}); upgrade xlgw",
                SCHEMA_VERSION + 6,
                SCHEMA_VERSION
            )
        );
    }
}
