//! docs/openapi.json against the running gateway: the document parses, every
//! `$ref` resolves, every example validates against its schema, every
//! documented operation is routed and answers with a documented status and a
//! body that validates against the documented schema, undocumented methods
//! are refused (405), and every route the gateway's source declares is
//! documented.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use common::{camera_toml, gateway, run};

const CONFIG_CAMERA: &str = "45010200001320000901";
const PUT_CAMERA: &str = "45010200001320000902";

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let text = std::fs::read_to_string(path).expect("read docs/openapi.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("docs/openapi.json: {e}"))
}

/// Resolves a local `$ref` (`#/a/b`).
fn resolve<'a>(doc: &'a Value, r: &str) -> &'a Value {
    let ptr = r
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("non-local $ref {r}"));
    doc.pointer(ptr)
        .unwrap_or_else(|| panic!("$ref {r} does not resolve"))
}

fn all_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push(x.as_str().expect("$ref is a string").to_owned());
                } else {
                    all_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| all_refs(x, out)),
        _ => {}
    }
}

/// Matches the only pattern shapes the document uses: alternatives of
/// `[0-9]{N}`. Any other shape fails the test so the validator is extended
/// with the document.
fn pattern_matches(pattern: &str, s: &str) -> bool {
    let inner = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix('$'))
        .unwrap_or_else(|| panic!("pattern {pattern} is not anchored"));
    let inner = inner
        .strip_prefix('(')
        .and_then(|p| p.strip_suffix(')'))
        .unwrap_or(inner);
    inner.split('|').any(|alt| {
        let n: usize = alt
            .strip_prefix("[0-9]{")
            .and_then(|a| a.strip_suffix('}'))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("pattern shape {pattern} unknown to this test"));
        s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
    })
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "null" => v.is_null(),
        other => panic!("unknown type {other}"),
    }
}

/// Validates `v` against `schema` (the JSON Schema subset the document
/// uses); pushes one message per violation.
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errs.push(format!("{at}: not allowed"));
        }
        return;
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        validate(doc, resolve(doc, r), v, at, errs);
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            validate(doc, sub, v, at, errs);
        }
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)),
            _ => panic!("{at}: bad type keyword"),
        };
        if !ok {
            errs.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errs.push(format!("{at}: {v} not in {e:?}"));
    }
    if let Some(min) = s.get("minimum").and_then(Value::as_f64)
        && let Some(x) = v.as_f64()
        && x < min
    {
        errs.push(format!("{at}: {x} < minimum {min}"));
    }
    if let Some(t) = v.as_str() {
        let chars = t.chars().count() as u64;
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
            && chars > max
        {
            errs.push(format!("{at}: longer than {max}"));
        }
        if let Some(min) = s.get("minLength").and_then(Value::as_u64)
            && chars < min
        {
            errs.push(format!("{at}: shorter than {min}"));
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str)
            && !pattern_matches(p, t)
        {
            errs.push(format!("{at}: {t:?} does not match {p}"));
        }
    }
    if let Some(a) = v.as_array() {
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
            && a.len() as u64 > max
        {
            errs.push(format!("{at}: more than {max} items"));
        }
        if let Some(items) = s.get("items") {
            for (i, x) in a.iter().enumerate() {
                validate(doc, items, x, &format!("{at}[{i}]"), errs);
            }
        }
    }
    if let Some(o) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for k in req.iter().filter_map(Value::as_str) {
                if !o.contains_key(k) {
                    errs.push(format!("{at}: required property {k} missing"));
                }
            }
        }
        for (k, x) in o {
            let at = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(doc, ps, x, &at, errs),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errs.push(format!("{at}: property not in the schema"))
                    }
                    Some(ap @ Value::Object(_)) => validate(doc, ap, x, &at, errs),
                    _ => {}
                },
            }
        }
    }
}

fn check(doc: &Value, schema: &Value, v: &Value, what: &str) {
    let mut errs = Vec::new();
    validate(doc, schema, v, "$", &mut errs);
    assert!(
        errs.is_empty(),
        "{what} does not match its schema:\n  {}\nvalue: {v:#}",
        errs.join("\n  ")
    );
}

/// (status, content type, body).
fn request(method: &str, url: &str, body: Option<(&str, &[u8])>) -> (u16, String, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--compressed",
        "--max-time",
        "20",
        "-o",
        "-",
        "-w",
        "\n%{http_code} %{content_type}",
        "-X",
        method,
        url,
    ]);
    let tmp = tempfile::NamedTempFile::new().expect("tmp");
    if let Some((ct, b)) = body {
        std::fs::write(tmp.path(), b).expect("write body");
        cmd.arg("--data-binary")
            .arg(format!("@{}", tmp.path().display()))
            .args(["-H", &format!("Content-Type: {ct}")]);
    }
    let (ok, out, err) = run(&mut cmd, Duration::from_secs(30));
    assert!(ok, "curl {method} {url}: {err}");
    let (body, tail) = out.rsplit_once('\n').unwrap_or(("", "0 "));
    let (code, ct) = tail.split_once(' ').unwrap_or((tail, ""));
    (code.parse().unwrap_or(0), ct.to_owned(), body.to_owned())
}

/// Paths the gateway's router declares (`.route("…"`), read from its source.
fn source_routes() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in ["src/api.rs", "src/http.rs"] {
        let path = format!("{}/{f}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("read source");
        for (i, _) in text.match_indices(".route(") {
            let rest = text[i + 7..].trim_start();
            if let Some(lit) = rest.strip_prefix('"')
                && let Some(end) = lit.find('"')
            {
                out.insert(lit[..end].to_owned());
            }
        }
    }
    out
}

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// The media-type entry for a response, resolving a `$ref`'d response.
fn response<'a>(doc: &'a Value, op: &'a Value, status: u16) -> Option<&'a Value> {
    let r = op.pointer(&format!("/responses/{status}"))?;
    Some(match r.get("$ref").and_then(Value::as_str) {
        Some(x) => resolve(doc, x),
        None => r,
    })
}

#[test]
fn openapi_document_matches_the_gateway() {
    let doc = spec();
    let version = doc["openapi"].as_str().unwrap_or("");
    assert!(version.starts_with("3.1."), "openapi version {version}");

    let mut refs = Vec::new();
    all_refs(&doc, &mut refs);
    assert!(refs.len() > 20, "only {} $refs", refs.len());
    for r in &refs {
        resolve(&doc, r);
    }

    // Every example in a media type validates against that media type's schema.
    let mut examples = 0;
    for (p, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let mut media: Vec<(&str, &Value)> = Vec::new();
            if let Some(c) = op
                .pointer("/requestBody/content")
                .and_then(Value::as_object)
            {
                media.extend(c.iter().map(|(k, v)| (k.as_str(), v)));
            }
            for (_, r) in op["responses"].as_object().expect("responses") {
                let r = match r.get("$ref").and_then(Value::as_str) {
                    Some(x) => resolve(&doc, x),
                    None => r,
                };
                if let Some(c) = r.get("content").and_then(Value::as_object) {
                    media.extend(c.iter().map(|(k, v)| (k.as_str(), v)));
                }
            }
            for (ct, mt) in media {
                if let (Some(ex), Some(schema), true) =
                    (mt.get("example"), mt.get("schema"), ct.contains("json"))
                {
                    check(&doc, schema, ex, &format!("example of {m} {p} ({ct})"));
                    examples += 1;
                }
            }
        }
    }
    assert!(examples >= 8, "only {examples} JSON examples");

    // Documented paths and the router's paths are the same set (UI assets
    // aside: they are pages, not API).
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let mut routed = source_routes();
    for ui in ["/", "/ui/app.js", "/ui/app.css"] {
        assert!(routed.remove(ui), "UI route {ui} not found in the source");
    }
    assert_eq!(
        documented, routed,
        "docs/openapi.json paths vs the router's"
    );

    let gw = gateway(
        "",
        &camera_toml(CONFIG_CAMERA, "clip:h264-aac-720p", "on-demand", "tcp"),
    );
    let base = format!("http://127.0.0.1:{}", gw.http);
    let fill = |p: &str, id: &str| p.replace("{code}", "450102001003").replace("{id}", id);

    // Each documented operation, with valid input, answers 2xx with a body
    // that matches the documented schema. Reads first, then writes.
    let mut ops: Vec<(&str, &str, &Value)> = Vec::new();
    for (p, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                ops.push((m, p.as_str(), op));
            }
        }
    }
    ops.sort_by_key(|(m, _, _)| METHODS.iter().position(|x| x == m));
    for (m, p, op) in &ops {
        let id = if *m == "get" {
            CONFIG_CAMERA
        } else {
            PUT_CAMERA
        };
        let mut url = format!("{base}{}", fill(p, id));
        let params: Vec<&Value> = op
            .get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let query: Vec<String> = params
            .iter()
            .filter(|x| x["in"] == "query" && x.get("example").is_some())
            .filter(|x| x["name"] != "cursor")
            .map(|x| match &x["example"] {
                Value::String(s) => format!("{}={}", x["name"].as_str().unwrap_or(""), s),
                other => format!("{}={other}", x["name"].as_str().unwrap_or("")),
            })
            .collect();
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        let body: Option<(String, Vec<u8>)> = op
            .pointer("/requestBody/content/application~1json/example")
            .map(|ex| {
                let mut ex = ex.clone();
                if *p == "/api/v1/cameras:bulk"
                    && let Some(a) = ex.as_array_mut()
                {
                    // Keep the example's shape, away from the PUT camera's id.
                    for (i, row) in a.iter_mut().enumerate() {
                        row["id"] = json!(format!("450102000013200009{:02}", 10 + i));
                    }
                }
                ("application/json".to_owned(), ex.to_string().into_bytes())
            });
        let (code, ct, text) = request(
            &m.to_uppercase(),
            &url,
            body.as_ref().map(|(c, b)| (c.as_str(), b.as_slice())),
        );
        assert!((200..300).contains(&code), "{m} {url}: {code} {text}");
        let r = response(&doc, op, code)
            .unwrap_or_else(|| panic!("{m} {p}: status {code} is not documented"));
        if code == 204 {
            continue;
        }
        let content = r["content"]
            .as_object()
            .unwrap_or_else(|| panic!("{m} {p} {code}: no content documented"));
        let (_, mt) = content
            .iter()
            .find(|(k, _)| ct.starts_with(k.split(';').next().unwrap_or(k)))
            .unwrap_or_else(|| panic!("{m} {p} {code}: content type {ct} not documented"));
        if ct.contains("json") {
            let v: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{m} {p}: {e}: {text}"));
            check(&doc, &mt["schema"], &v, &format!("{m} {p} {code}"));
        }
    }

    // Error answers match their documented schemas too.
    let delete_config = format!("/api/v1/cameras/{CONFIG_CAMERA}");
    let errors = [
        ("GET", "/api/v1/cameras/123", "/api/v1/cameras/{id}", 400),
        (
            "GET",
            "/api/v1/cameras/45010200001320000999",
            "/api/v1/cameras/{id}",
            404,
        ),
        (
            "GET",
            "/api/v1/areas/459999999999",
            "/api/v1/areas/{code}",
            404,
        ),
        ("GET", "/api/v1/areas/4501x", "/api/v1/areas/{code}", 400),
        (
            "GET",
            "/api/v1/cameras?status=sleeping",
            "/api/v1/cameras",
            400,
        ),
        (
            "DELETE",
            delete_config.as_str(),
            "/api/v1/cameras/{id}",
            409,
        ),
    ];
    for (m, p, path, want) in errors {
        let (code, ct, text) = request(m, &format!("{base}{p}"), None);
        assert_eq!(code, want, "{m} {p}: {text}");
        assert!(ct.starts_with("application/json"), "{m} {p}: {ct}");
        let op = &doc["paths"][path][m.to_lowercase()];
        let r = response(&doc, op, code)
            .unwrap_or_else(|| panic!("{m} {path}: status {code} is not documented"));
        let v: Value = serde_json::from_str(&text).expect("JSON error body");
        check(
            &doc,
            &r["content"]["application/json"]["schema"],
            &v,
            &format!("{m} {p} {code}"),
        );
    }

    // Methods a path does not document are refused.
    for (p, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                continue;
            }
            let url = format!("{base}{}", fill(p, PUT_CAMERA));
            let (code, _, text) = request(&m.to_uppercase(), &url, None);
            assert_eq!(code, 405, "{m} {p} is not documented but answers: {text}");
        }
    }
}
