//! CSV files: an area tree (`code,name,level,parent`) and bulk camera
//! registration (`id,name,area,url,username,password,transport,mode,tags,
//! latitude,longitude`). Errors name the 1-based line of the file.

use std::collections::HashMap;

use xlgw_model::{AreaCode, Camera, Credentials, DeviceId, Mode, Transport};

use crate::error::{DirectoryError, RowError};
use crate::types::{
    Area, CameraRecord, CameraSource, MAX_AREAS_PER_CALL, MAX_CAMERAS_PER_CALL,
    MAX_CREDENTIAL_BYTES, MAX_TAGS, RowErrors, check_coordinates, check_name, check_tag, url_error,
};

/// The header of an area file.
pub const AREA_HEADER: [&str; 4] = ["code", "name", "level", "parent"];

/// The columns of a camera file. `name`, `area` and `url` are required; the
/// others may be left out of the header or left empty.
pub const CAMERA_CSV_COLUMNS: [&str; 11] = [
    "id",
    "name",
    "area",
    "url",
    "username",
    "password",
    "transport",
    "mode",
    "tags",
    "latitude",
    "longitude",
];
const CAMERA_REQUIRED: [&str; 3] = ["name", "area", "url"];

/// Longest id text echoed back in an error.
const ID_ECHO: usize = 40;

fn reader(text: &str) -> csv::Reader<&[u8]> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes())
}

fn line_of(pos: Option<&csv::Position>) -> usize {
    pos.map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX))
}

fn echo(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        None
    } else {
        Some(s.chars().take(ID_ECHO).collect())
    }
}

/// Parses an area tree file. Every row is checked: the code (2, 4, 6, 9 or
/// 12 digits without trailing zero groups), the level (1-5, matching the
/// code's length), the parent (empty for a region, else the code's enclosing
/// area), the name, no code twice. Any bad row fails the whole file, with
/// every bad line reported.
pub fn parse_areas_csv(text: &str) -> Result<Vec<Area>, DirectoryError> {
    let mut rdr = reader(text);
    let mut errors = RowErrors::default();
    match rdr.headers() {
        Ok(h) => {
            let got: Vec<&str> = h.iter().map(str::trim).collect();
            if got != AREA_HEADER {
                return Err(DirectoryError::Rows(vec![RowError::new(
                    1,
                    None,
                    "header",
                    format!("header must be `{}`", AREA_HEADER.join(",")),
                )]));
            }
        }
        Err(e) => {
            return Err(DirectoryError::Rows(vec![RowError::new(
                1,
                None,
                "header",
                e.to_string(),
            )]));
        }
    }
    let mut areas = Vec::new();
    let mut seen: HashMap<AreaCode, usize> = HashMap::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError::new(
                    line_of(e.position()),
                    None,
                    "*",
                    e.to_string(),
                ));
                continue;
            }
        };
        let line = line_of(rec.position());
        if areas.len() >= MAX_AREAS_PER_CALL {
            errors.push(RowError::new(
                line,
                None,
                "*",
                format!("more than {MAX_AREAS_PER_CALL} areas in one file"),
            ));
            break;
        }
        let field = |i: usize| rec.get(i).unwrap_or("").trim();
        let id = echo(field(0));
        let mut err = |f: &str, m: String| errors.push(RowError::new(line, id.clone(), f, m));
        let code = match AreaCode::parse(field(0)) {
            Ok(c) => c,
            Err(e) => {
                err("code", e.to_string());
                continue;
            }
        };
        let name = field(1);
        if let Err(m) = check_name(name) {
            err("name", format!("area name {m}"));
        }
        let want_level = code.level().number();
        match field(2).parse::<u8>() {
            Ok(l) if l == want_level => {}
            _ => err(
                "level",
                format!(
                    "level must be {want_level} for the {}-digit code {code}, got {:?}",
                    code.level().digits(),
                    field(2)
                ),
            ),
        }
        let parent = field(3);
        let parent = if parent.is_empty() {
            None
        } else {
            match AreaCode::parse(parent) {
                Ok(p) => Some(p),
                Err(e) => {
                    err("parent", e.to_string());
                    continue;
                }
            }
        };
        if parent != code.parent() {
            let want = code
                .parent()
                .map_or_else(|| "empty".to_owned(), |p| p.to_string());
            err(
                "parent",
                format!("parent of {code} must be {want} (its code's prefix)"),
            );
        }
        if let Some(&first) = seen.get(&code) {
            err("code", format!("code {code} is already on line {first}"));
        } else {
            seen.insert(code, line);
        }
        areas.push(Area {
            code,
            name: name.to_owned(),
            parent,
        });
    }
    if errors.is_empty() {
        Ok(areas)
    } else {
        Err(DirectoryError::Rows(errors.into_vec()))
    }
}

/// One good row of a camera file. `id` is `None` when the file left it
/// empty: the caller assigns one (see [`assign_ids`](crate::assign_ids)).
///
/// `Debug` never shows the password.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraRow {
    /// 1-based line in the file.
    pub line: usize,
    pub id: Option<DeviceId>,
    pub name: String,
    pub area: AreaCode,
    pub url: String,
    pub credentials: Option<Credentials>,
    pub transport: Transport,
    pub mode: Mode,
    pub tags: Vec<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl CameraRow {
    /// The record for this row under `id`.
    pub fn into_record(self, id: DeviceId, source: CameraSource) -> CameraRecord {
        CameraRecord {
            camera: Camera {
                id,
                name: self.name,
                area: self.area,
                url: self.url,
                credentials: self.credentials,
                transport: self.transport,
                mode: self.mode,
            },
            source,
            tags: self.tags,
            latitude: self.latitude,
            longitude: self.longitude,
            created_at: 0,
            updated_at: 0,
        }
    }
}

/// Splits a tags cell on `|` or `;`, trimming, dropping empty pieces.
pub(crate) fn split_tags(cell: &str) -> Vec<String> {
    cell.split(['|', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_coordinate(s: &str) -> Result<Option<f64>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<f64>()
        .map(Some)
        .map_err(|_| format!("must be a decimal number of degrees, got {s:?}"))
}

/// Parses a bulk camera file. Returns the good rows and an error for every
/// bad field of every bad row; a caller registering all or nothing stores
/// nothing when the errors are not empty. Ids are checked for form and for
/// repeats within the file; areas are checked against the tree by the store.
pub fn parse_cameras_csv(text: &str) -> (Vec<CameraRow>, Vec<RowError>) {
    let mut rdr = reader(text);
    let mut errors = RowErrors::default();
    let mut col: HashMap<&'static str, usize> = HashMap::new();
    match rdr.headers() {
        Ok(h) => {
            for (i, name) in h.iter().enumerate() {
                let name = name.trim().to_ascii_lowercase();
                match CAMERA_CSV_COLUMNS.iter().find(|c| **c == name) {
                    Some(c) => {
                        if col.insert(c, i).is_some() {
                            errors.push(RowError::new(
                                1,
                                None,
                                "header",
                                format!("column `{c}` appears twice"),
                            ));
                        }
                    }
                    None => errors.push(RowError::new(
                        1,
                        None,
                        "header",
                        format!(
                            "unknown column {:?}; columns are {}",
                            name.chars().take(ID_ECHO).collect::<String>(),
                            CAMERA_CSV_COLUMNS.join(",")
                        ),
                    )),
                }
            }
            for c in CAMERA_REQUIRED {
                if !col.contains_key(c) {
                    errors.push(RowError::new(
                        1,
                        None,
                        "header",
                        format!("required column `{c}` is missing"),
                    ));
                }
            }
        }
        Err(e) => errors.push(RowError::new(1, None, "header", e.to_string())),
    }
    if !errors.is_empty() {
        return (Vec::new(), errors.into_vec());
    }

    let mut rows = Vec::new();
    let mut seen: HashMap<DeviceId, usize> = HashMap::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError::new(
                    line_of(e.position()),
                    None,
                    "*",
                    e.to_string(),
                ));
                continue;
            }
        };
        let line = line_of(rec.position());
        if rows.len() >= MAX_CAMERAS_PER_CALL {
            errors.push(RowError::new(
                line,
                None,
                "*",
                format!("more than {MAX_CAMERAS_PER_CALL} cameras in one file"),
            ));
            break;
        }
        // Raw cell (password) and trimmed cell (everything else).
        let raw = |name: &str| col.get(name).and_then(|&i| rec.get(i)).unwrap_or("");
        let cell = |name: &str| raw(name).trim();
        let id_text = echo(cell("id"));
        let before = errors.len();
        let mut err = |f: &str, m: String| errors.push(RowError::new(line, id_text.clone(), f, m));

        let id = if cell("id").is_empty() {
            None
        } else {
            match DeviceId::parse_camera(cell("id")) {
                Ok(id) => Some(id),
                Err(e) => {
                    err("id", e.to_string());
                    None
                }
            }
        };
        if let Some(id) = id {
            if let Some(&first) = seen.get(&id) {
                err("id", format!("the same id is already on line {first}"));
            } else {
                seen.insert(id, line);
            }
        }
        let name = cell("name");
        if let Err(m) = check_name(name) {
            err("name", format!("camera name {m}"));
        }
        let area = match AreaCode::parse(cell("area")) {
            Ok(a) => Some(a),
            Err(e) => {
                err("area", e.to_string());
                None
            }
        };
        let url = cell("url");
        if let Some(m) = url_error(url) {
            err("url", m);
        }
        let username = cell("username");
        let password = raw("password");
        let credentials = if username.is_empty() && password.is_empty() {
            None
        } else if username.is_empty() {
            err("username", "a password needs a username".into());
            None
        } else {
            if username.len() > MAX_CREDENTIAL_BYTES || username.chars().any(char::is_control) {
                err(
                    "username",
                    format!(
                        "username must be at most {MAX_CREDENTIAL_BYTES} bytes without control characters"
                    ),
                );
            }
            if password.len() > MAX_CREDENTIAL_BYTES {
                err(
                    "password",
                    format!("password must be at most {MAX_CREDENTIAL_BYTES} bytes"),
                );
            }
            Some(Credentials {
                username: username.to_owned(),
                password: password.to_owned(),
            })
        };
        let transport = match cell("transport").to_ascii_lowercase().as_str() {
            "" | "tcp" => Transport::Tcp,
            "udp" => Transport::Udp,
            "auto" => Transport::Auto,
            other => {
                err(
                    "transport",
                    format!("transport must be tcp, udp or auto, got {other:?}"),
                );
                Transport::Tcp
            }
        };
        let mode = match cell("mode").to_ascii_lowercase().as_str() {
            "" | "always" => Mode::Always,
            "on-demand" => Mode::OnDemand,
            other => {
                err(
                    "mode",
                    format!("mode must be always or on-demand, got {other:?}"),
                );
                Mode::Always
            }
        };
        let tags = split_tags(cell("tags"));
        if tags.len() > MAX_TAGS {
            err("tags", format!("at most {MAX_TAGS} tags"));
        } else if let Some(m) = tags.iter().find_map(|t| check_tag(t).err()) {
            err("tags", m);
        }
        let latitude = parse_coordinate(cell("latitude")).unwrap_or_else(|m| {
            err("latitude", m);
            None
        });
        let longitude = parse_coordinate(cell("longitude")).unwrap_or_else(|m| {
            err("longitude", m);
            None
        });
        if let Err((f, m)) = check_coordinates(latitude, longitude) {
            err(f, m);
        }
        let Some(area) = area else { continue };
        if errors.len() != before {
            continue;
        }
        rows.push(CameraRow {
            line,
            id,
            name: name.to_owned(),
            area,
            url: url.to_owned(),
            credentials,
            transport,
            mode,
            tags,
            latitude,
            longitude,
        });
    }
    (rows, errors.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_good_file() {
        let text = "code,name,level,parent\n45,广西壮族自治区,1,\n4501,南宁市,2,45\n450102,兴宁区,3,4501\n";
        let areas = parse_areas_csv(text).unwrap();
        assert_eq!(areas.len(), 3);
        assert_eq!(areas[2].parent.unwrap().to_string(), "4501");
        assert_eq!(areas[0].parent, None);
    }

    #[test]
    fn areas_bad_rows_name_their_lines() {
        let text = "code,name,level,parent\n\
                    45,广西,1,\n\
                    4501,南宁,3,45\n\
                    450102,兴宁,3,4502\n\
                    4501x,坏,2,45\n\
                    4502,,2,45\n\
                    4501,南宁,2,45\n";
        let e = parse_areas_csv(text).unwrap_err();
        let rows = e.rows().unwrap();
        let got: Vec<(usize, &str)> = rows.iter().map(|r| (r.row, r.field.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (3, "level"),
                (4, "parent"),
                (5, "code"),
                (6, "name"),
                (7, "code")
            ]
        );
        assert!(e.to_string().contains("5 bad rows, nothing stored"));
    }

    #[test]
    fn areas_bad_header_and_field_count() {
        let e = parse_areas_csv("code,name\n45,x\n").unwrap_err();
        assert_eq!(e.rows().unwrap()[0].field, "header");
        let e = parse_areas_csv("code,name,level,parent\n45,x,1\n").unwrap_err();
        assert_eq!(e.rows().unwrap()[0].row, 2);
    }

    #[test]
    fn cameras_good_file() {
        let text = "\u{feff}id,name,area,url,username,password,transport,mode,tags,latitude,longitude\n\
            45010200001320000001,兴宁社区 东门,450102001003,rtsp://192.0.2.10/1,admin, s3cret ,auto,on-demand,gate| east ;,22.8,108.3\n\
            ,民生街道,450102001,clip:h264-aac-720p,,,,,,,\n";
        let (rows, errors) = parse_cameras_csv(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!(r.line, 2);
        assert_eq!(r.credentials.as_ref().unwrap().password, " s3cret ");
        assert_eq!(r.tags, vec!["gate", "east"]);
        assert_eq!(r.transport, Transport::Auto);
        assert_eq!(r.mode, Mode::OnDemand);
        assert_eq!(r.latitude, Some(22.8));
        assert!(!format!("{r:?}").contains("s3cret"));
        assert_eq!(rows[1].id, None);
        assert_eq!(rows[1].transport, Transport::Tcp);
        assert_eq!(rows[1].credentials, None);
    }

    #[test]
    fn cameras_short_header_is_enough() {
        let (rows, errors) = parse_cameras_csv("url,area,name\nclip:x,45,区\n");
        assert!(errors.is_empty());
        assert_eq!(rows[0].name, "区");
    }

    #[test]
    fn cameras_bad_rows() {
        let text = "id,name,area,url,username,password,transport,mode,tags,latitude,longitude\n\
            4501020000132000000,a,45,clip:x,,,,,,,\n\
            45010200001320000001,,45,clip:x,,,,,,,\n\
            45010200001320000002,b,451,rtsp://u:p@h/,,pw,carrier,sometimes,,91,\n\
            45010200001320000003,c,45,clip:x,,,,,,1,2\n\
            45010200001320000003,d,45,clip:x,,,,,,,\n";
        let (rows, errors) = parse_cameras_csv(text);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].line, 5);
        let got: Vec<(usize, &str)> = errors.iter().map(|r| (r.row, r.field.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (2, "id"),
                (3, "name"),
                (4, "area"),
                (4, "url"),
                (4, "username"),
                (4, "transport"),
                (4, "mode"),
                (4, "longitude"),
                (6, "id"),
            ]
        );
        for e in &errors {
            assert!(!e.message.contains("pw") && !e.message.contains("u:p"));
        }
    }

    #[test]
    fn cameras_bad_header() {
        let (rows, errors) = parse_cameras_csv("name,area,colour\nx,45,red\n");
        assert!(rows.is_empty());
        assert_eq!(errors.len(), 2);
        assert!(errors.iter().all(|e| e.row == 1 && e.field == "header"));
    }
}
