//! The catalogue's CSV parsers (the body of `POST /api/v1/cameras:bulk` and
//! `xlgw cameras import`, and `xlgw areas import`) and the id parsers on
//! arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xlgw_directory::{parse_areas_csv, parse_cameras_csv};
use xlgw_model::{AreaCode, DeviceId};

fuzz_target!(|text: &str| {
    // The CSV reader ends a record at `\n`, `\r` or `\r\n`.
    let lines = text.bytes().filter(|&b| b == b'\n' || b == b'\r').count() + 1;

    let (rows, errors) = parse_cameras_csv(text);
    // Each data row is either parsed or reported, never both dropped; none
    // is invented.
    assert!(rows.len() <= lines);
    for r in &rows {
        assert!(
            r.line >= 2 && r.line <= lines + 1,
            "line {} of {lines}",
            r.line
        );
        assert!(!r.name.trim().is_empty());
        if let Some(id) = r.id {
            assert_eq!(DeviceId::parse_camera(&id.to_string()).ok(), Some(id));
        }
        assert_eq!(AreaCode::parse(&r.area.to_string()).ok(), Some(r.area));
    }
    for e in &errors {
        assert!(e.row <= lines + 1, "error row {} of {lines}", e.row);
        assert!(!e.field.is_empty());
    }

    if let Ok(areas) = parse_areas_csv(text) {
        assert!(areas.len() <= lines);
        for a in &areas {
            // A parent is the code's own enclosing area.
            assert_eq!(a.parent, a.code.parent());
        }
    }

    for word in text.split(|c: char| c == ',' || c.is_whitespace()) {
        if let Ok(code) = AreaCode::parse(word) {
            assert_eq!(code.to_string(), word);
        }
        if let Ok(id) = DeviceId::parse(word) {
            assert_eq!(id.to_string(), word);
        }
    }
});
