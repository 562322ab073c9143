//! `/readyz` against a real PostgreSQL that goes away and comes back: the
//! gateway turns not ready (503) while its directory cannot be reached,
//! keeps serving the catalogue it holds in memory, and is ready again once
//! the database answers. Uses the server `XLGW_TEST_POSTGRES` names (CI),
//! else starts one with scripts/postgres-test.sh.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{gateway, get_path, run};

fn pg_base_url() -> String {
    if let Ok(u) = std::env::var("XLGW_TEST_POSTGRES")
        && !u.is_empty()
    {
        return u;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "XLGW_TEST_POSTGRES is not set: under CI, scripts/test.sh exports it"
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/postgres-test.sh"
    );
    let (ok, out, err) = run(Command::new("bash").arg(script), Duration::from_secs(300));
    assert!(ok, "{script} failed:\n{err}");
    out.lines()
        .find_map(|l| l.strip_prefix("XLGW_TEST_POSTGRES="))
        .expect("the script prints XLGW_TEST_POSTGRES=URL")
        .trim()
        .to_owned()
}

fn psql(url: &str, sql: &str) {
    let (ok, _, err) = run(
        Command::new("psql").args(["-v", "ON_ERROR_STOP=1", "-q", url, "-c", sql]),
        Duration::from_secs(30),
    );
    assert!(ok, "psql {sql}: {err}");
}

fn readyz(port: u16) -> (u16, serde_json::Value) {
    let (code, body) = get_path(port, "/readyz");
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("/readyz {code}: {e}: {body}"));
    (code, v)
}

fn wait_ready(port: u16, want: u16, within: Duration) -> serde_json::Value {
    let t = Instant::now();
    loop {
        let (code, v) = readyz(port);
        if code == want {
            return v;
        }
        assert!(
            t.elapsed() < within,
            "/readyz stayed {code} (want {want}) for {within:?}: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn readyz_follows_the_database() {
    let admin = pg_base_url();
    let db = format!("xlgw_ready_{}", std::process::id());
    let mut url = url::Url::parse(&admin).expect("postgres url");
    psql(&admin, &format!("DROP DATABASE IF EXISTS {db}"));
    psql(&admin, &format!("CREATE DATABASE {db}"));
    url.set_path(&db);

    let mut gw = gateway(&format!("[directory]\ndatabase = \"{url}\"\n"), "");
    let v = wait_ready(gw.http, 200, Duration::from_secs(10));
    assert_eq!(v["ready"], true, "{v}");
    assert_eq!(v["directory"]["backend"], "postgres", "{v}");
    assert_eq!(v["directory"]["areas"], 18_091, "{v}");
    assert!(v["directory"].get("error").is_none(), "{v}");

    // The database refuses new connections and drops the gateway's.
    psql(
        &admin,
        &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"),
    );
    psql(
        &admin,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        ),
    );
    let v = wait_ready(gw.http, 503, Duration::from_secs(15));
    assert_eq!(v["ready"], false, "{v}");
    assert_eq!(v["directory"]["open"], false, "{v}");
    let err = v["directory"]["error"].as_str().unwrap_or_default();
    assert!(!err.is_empty(), "{v}");
    // The password of the database URL is in no answer.
    let pass = url.password().unwrap_or("xlgw-no-password");
    assert!(!v.to_string().contains(&format!(":{pass}@")), "{v}");

    // The catalogue in memory is still served; the process lives on.
    let (code, body) = get_path(gw.http, "/api/v1/areas/45");
    assert_eq!(code, 200, "{body}");
    let (code, _) = get_path(gw.http, "/healthz");
    assert_eq!(code, 200);

    // Back: ready again without a restart.
    psql(
        &admin,
        &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"),
    );
    let v = wait_ready(gw.http, 200, Duration::from_secs(30));
    assert_eq!(v["directory"]["open"], true, "{v}");

    gw.proc.kill();
    let _ = run(
        Command::new("psql").args([
            "-q",
            &admin,
            "-c",
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        ]),
        Duration::from_secs(30),
    );
}
