//! One contract suite, run against SQLite (a temp file) and PostgreSQL (a
//! fresh database per test on the server `XLGW_TEST_POSTGRES` names).
//!
//! Without `XLGW_TEST_POSTGRES` the PostgreSQL tests start a server with
//! `scripts/postgres-test.sh` (as root it installs Debian's postgresql),
//! except under CI (`CI` set), where they fail: CI must start it itself.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use xlgw_directory::{
    Area, Backend, CameraRecord, CameraSource, DirectoryError, SCHEMA_VERSION, Store, UpsertReport,
    assign_ids, ensure_default_areas, open, parse_areas_csv, parse_cameras_csv,
};
use xlgw_model::{AreaCode, Camera, Credentials, DeviceId, DeviceType, Level, Mode, Transport};

// ---------------------------------------------------------------- harness

fn pg_base_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        match std::env::var("XLGW_TEST_POSTGRES") {
            Ok(u) if !u.is_empty() => return u,
            _ => {}
        }
        if std::env::var_os("CI").is_some() {
            panic!(
                "XLGW_TEST_POSTGRES is not set: under CI, start PostgreSQL with \
                 scripts/postgres-test.sh and export the URL it prints"
            );
        }
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/postgres-test.sh"
        );
        let out = Command::new("bash")
            .arg(script)
            .output()
            .expect("run scripts/postgres-test.sh");
        assert!(
            out.status.success(),
            "{script} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("XLGW_TEST_POSTGRES="))
            .expect("the script prints XLGW_TEST_POSTGRES=URL")
            .trim()
            .to_owned()
    })
    .clone()
}

/// A database of its own for one test.
enum Db {
    Sqlite {
        _dir: tempfile::TempDir,
        path: String,
    },
    Postgres {
        admin: String,
        name: String,
        url: String,
    },
}

impl Db {
    async fn new(backend: Backend) -> Db {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir
                    .path()
                    .join("data")
                    .join("catalogue.db")
                    .to_string_lossy()
                    .into_owned();
                Db::Sqlite { _dir: dir, path }
            }
            Backend::Postgres => {
                static N: AtomicU32 = AtomicU32::new(0);
                let admin = pg_base_url();
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos();
                let name = format!(
                    "xlgw_t_{}_{}_{}",
                    std::process::id(),
                    nanos,
                    N.fetch_add(1, Ordering::Relaxed)
                );
                let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                    .execute(&mut c)
                    .await
                    .unwrap();
                c.close().await.unwrap();
                let (base, _) = admin.rsplit_once('/').unwrap();
                let url = format!("{base}/{name}");
                Db::Postgres { admin, name, url }
            }
        }
    }

    fn location(&self) -> &str {
        match self {
            Db::Sqlite { path, .. } => path,
            Db::Postgres { url, .. } => url,
        }
    }

    async fn open(&self) -> Arc<dyn Store> {
        open(self.location()).await.unwrap()
    }

    /// Runs SQL behind the store's back.
    async fn exec(&self, sql: &str) {
        match self {
            Db::Sqlite { path, .. } => {
                let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
                    .await
                    .unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
            Db::Postgres { url, .. } => {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
        }
    }

    /// Drops a PostgreSQL test database. The server may still be ending the
    /// store's sessions (or an autovacuum worker may be in it), so this
    /// retries; a database left behind fails no test.
    async fn drop_db(self) {
        if let Db::Postgres { admin, name, .. } = self {
            let mut last = String::new();
            for _ in 0..50 {
                let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
                let r = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut c)
                    .await;
                c.close().await.unwrap();
                match r {
                    Ok(_) => return,
                    Err(e) => last = e.to_string(),
                }

                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            eprintln!("test database {name} left behind: {last}");
        }
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(xlgw_directory::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(xlgw_directory::Backend::Postgres).await
                }
            )*
        }
    };
}

contract!(
    migrations_are_idempotent,
    newer_schema_is_refused,
    guangxi_tree_imports,
    area_import_is_all_or_nothing,
    camera_upsert_is_idempotent,
    bad_row_stores_nothing,
    bad_fields_are_all_reported,
    delete_and_sync_by_source,
    next_serial_gives_free_ids,
    all_fields_round_trip,
    csv_registration,
    concurrent_writers,
    failure_mid_batch_rolls_back,
    bulk_100k_cameras,
);

// ---------------------------------------------------------------- data

fn code(s: &str) -> AreaCode {
    AreaCode::parse(s).unwrap()
}

fn id(s: &str) -> DeviceId {
    DeviceId::parse(s).unwrap()
}

const SMALL_TREE: [(&str, &str); 6] = [
    ("45", "广西壮族自治区"),
    ("4501", "南宁市"),
    ("450102", "兴宁区"),
    ("450102001", "民生街道"),
    ("450102001003", "兴宁社区"),
    ("4502", "柳州市"),
];

async fn small_tree(store: &dyn Store) {
    let areas: Vec<Area> = SMALL_TREE
        .iter()
        .map(|(c, n)| Area::new(code(c), *n))
        .collect();
    assert_eq!(store.import_areas(&areas).await.unwrap(), 6);
}

fn cam(serial: u32, area: &str) -> CameraRecord {
    CameraRecord::new(
        Camera {
            id: DeviceId::camera("450102", DeviceType::NetworkCamera, serial).unwrap(),
            name: format!("摄像机 {serial}"),
            area: code(area),
            url: format!("rtsp://192.0.2.10:554/Streaming/Channels/{serial}"),
            credentials: None,
            transport: Transport::Tcp,
            mode: Mode::Always,
        },
        CameraSource::Api,
    )
}

fn guangxi() -> Vec<Area> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/divisions-45-guangxi.csv"
    );
    parse_areas_csv(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn rows_of(e: &DirectoryError) -> Vec<(usize, String)> {
    e.rows()
        .unwrap_or_else(|| panic!("want row errors, got {e}"))
        .iter()
        .map(|r| (r.row, r.field.clone()))
        .collect()
}

// ---------------------------------------------------------------- the suite

async fn migrations_are_idempotent(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    assert_eq!(store.backend(), b);
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    small_tree(&*store).await;
    store.upsert_cameras(&[cam(1, "45")]).await.unwrap();
    store.close().await;

    for _ in 0..2 {
        let store = db.open().await;
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        assert_eq!(store.area_count().await.unwrap(), 6);
        assert_eq!(store.camera_count().await.unwrap(), 1);
        store.close().await;
    }
    // Two opening at once (two gateways starting together).
    let (a, c) = tokio::join!(open(db.location()), open(db.location()));
    let (a, c) = (a.unwrap(), c.unwrap());
    assert_eq!(c.schema_version().await.unwrap(), SCHEMA_VERSION);
    a.close().await;
    c.close().await;
    db.drop_db().await;
}

async fn newer_schema_is_refused(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    small_tree(&*store).await;
    store.close().await;
    let future = SCHEMA_VERSION + 6;
    db.exec(&format!(
        "INSERT INTO schema_version (version, description, applied_at) \
         VALUES ({future}, 'from a newer xlgw', 0)"
    ))
    .await;
    let e = open(db.location()).await.unwrap_err();
    match &e {
        DirectoryError::SchemaTooNew { found, known } => {
            assert_eq!((*found, *known), (future, SCHEMA_VERSION));
        }
        other => panic!("want SchemaTooNew, got {other}"),
    }
    assert_eq!(
        e.to_string(),
        format!(
            "database schema version {future} is newer than this xlgw knows ({SCHEMA_VERSION}); \
             upgrade xlgw"
        )
    );
    // Refusing changed nothing.
    db.exec(&format!(
        "DELETE FROM schema_version WHERE version = {future}"
    ))
    .await;
    let store = db.open().await;
    assert_eq!(store.area_count().await.unwrap(), 6);
    store.close().await;
    db.drop_db().await;
}

async fn guangxi_tree_imports(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    let areas = guangxi();
    assert_eq!(areas.len(), 18_091);

    let t = Instant::now();
    assert_eq!(store.import_areas(&areas).await.unwrap(), 18_091);
    eprintln!(
        "[{}] imported 18,091 areas in {:?}",
        b.as_str(),
        t.elapsed()
    );
    assert_eq!(store.area_count().await.unwrap(), 18_091);

    let t = Instant::now();
    let loaded = store.areas().await.unwrap();
    eprintln!("[{}] loaded 18,091 areas in {:?}", b.as_str(), t.elapsed());
    let mut per_level: BTreeMap<Level, usize> = BTreeMap::new();
    for a in &loaded {
        *per_level.entry(a.level()).or_default() += 1;
        assert_eq!(a.parent, a.code.parent());
    }
    let counts: Vec<usize> = per_level.values().copied().collect();
    assert_eq!(counts, vec![1, 14, 111, 1284, 16_681]);
    // Parents come before children.
    let mut seen = std::collections::HashSet::new();
    for a in &loaded {
        if let Some(p) = a.parent {
            assert!(seen.contains(&p), "{} before its parent", a.code);
        }
        seen.insert(a.code);
    }
    let xingning = store.area(code("450102")).await.unwrap().unwrap();
    assert_eq!(xingning.name, "兴宁区");
    assert_eq!(xingning.parent, Some(code("4501")));
    assert_eq!(store.area(code("4599")).await.unwrap(), None);

    // Again: idempotent; a renamed area is updated.
    let mut again = areas.clone();
    let i = again.iter().position(|a| a.code == code("4501")).unwrap();
    again[i].name = "南宁市（新）".into();
    assert_eq!(store.import_areas(&again).await.unwrap(), 18_091);
    assert_eq!(store.area_count().await.unwrap(), 18_091);
    assert_eq!(
        store.area(code("4501")).await.unwrap().unwrap().name,
        "南宁市（新）"
    );
    // The shipped tree is loaded only into an empty store.
    assert_eq!(ensure_default_areas(&*store).await.unwrap(), 0);
    store.close().await;

    let db2 = Db::new(b).await;
    let fresh = db2.open().await;
    assert_eq!(ensure_default_areas(&*fresh).await.unwrap(), 18_091);
    assert_eq!(fresh.area_count().await.unwrap(), 18_091);
    fresh.close().await;
    db2.drop_db().await;
    db.drop_db().await;
}

async fn area_import_is_all_or_nothing(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    // 4501's parent 45 is neither in the batch nor stored; 4502 twice;
    // 450102 claims the wrong parent.
    let batch = vec![
        Area::new(code("4501"), "南宁市"),
        Area::new(code("450102"), "兴宁区"),
        Area {
            code: code("450103"),
            name: "青秀区".into(),
            parent: Some(code("4502")),
        },
        Area::new(code("4502"), "柳州市"),
        Area::new(code("4502"), "柳州市"),
        Area::new(code("4503"), " "),
    ];
    let e = store.import_areas(&batch).await.unwrap_err();
    assert_eq!(
        rows_of(&e),
        vec![
            (0, "parent".into()),
            (2, "parent".into()),
            (3, "parent".into()),
            (4, "code".into()),
            (4, "parent".into()),
            (5, "name".into()),
            (5, "parent".into()),
        ]
    );
    assert_eq!(store.area_count().await.unwrap(), 0);

    // A subtree whose root is already stored is fine.
    store
        .import_areas(&[Area::new(code("45"), "广西")])
        .await
        .unwrap();
    assert_eq!(
        store
            .import_areas(&[
                Area::new(code("4501"), "南宁市"),
                Area::new(code("450102"), "兴宁区")
            ])
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.area_count().await.unwrap(), 3);
    store.close().await;
    db.drop_db().await;
}

async fn camera_upsert_is_idempotent(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    small_tree(&*store).await;
    let batch = vec![cam(1, "45"), cam(2, "450102001003"), cam(3, "4502")];
    let r = store.upsert_cameras(&batch).await.unwrap();
    assert_eq!(
        r,
        UpsertReport {
            inserted: 3,
            updated: 0,
            unchanged: 0
        }
    );
    let first = store.camera(&batch[1].camera.id).await.unwrap().unwrap();
    assert!(first.same_content(&batch[1]));
    assert!(first.created_at > 1_700_000_000);
    assert_eq!(first.created_at, first.updated_at);

    let r = store.upsert_cameras(&batch).await.unwrap();
    assert_eq!(
        r,
        UpsertReport {
            inserted: 0,
            updated: 0,
            unchanged: 3
        }
    );

    let mut changed = batch.clone();
    changed[1].camera.name = "兴宁社区 西门".into();
    changed[1].source = CameraSource::Config;
    changed.push(cam(4, "4501"));
    let r = store.upsert_cameras(&changed).await.unwrap();
    assert_eq!(
        r,
        UpsertReport {
            inserted: 1,
            updated: 1,
            unchanged: 2
        }
    );
    let after = store.camera(&batch[1].camera.id).await.unwrap().unwrap();
    assert_eq!(after.camera.name, "兴宁社区 西门");
    assert_eq!(after.source, CameraSource::Config);
    assert_eq!(after.created_at, first.created_at);
    assert!(after.updated_at >= first.updated_at);
    assert_eq!(store.camera_count().await.unwrap(), 4);
    assert!(store.upsert_cameras(&[]).await.unwrap() == UpsertReport::default());
    store.close().await;
    db.drop_db().await;
}

async fn bad_row_stores_nothing(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    small_tree(&*store).await;
    let a = cam(1, "45");
    store
        .upsert_cameras(std::slice::from_ref(&a))
        .await
        .unwrap();

    let mut a2 = a.clone();
    a2.camera.name = "改名".into();
    // Row 2 hangs in a village that is not in the tree.
    let batch = vec![cam(2, "4501"), a2, cam(3, "450102001999"), cam(4, "4502")];
    let e = store.upsert_cameras(&batch).await.unwrap_err();
    let rows = e.rows().unwrap();
    assert_eq!(rows.len(), 1, "{e}");
    assert_eq!(rows[0].row, 2);
    assert_eq!(rows[0].field, "area");
    assert_eq!(rows[0].id.as_deref(), Some(batch[2].camera.id.as_str()));
    assert!(
        rows[0].message.contains("450102001999"),
        "{}",
        rows[0].message
    );
    assert!(
        e.to_string()
            .starts_with("1 bad row, nothing stored: row 2")
    );

    assert_eq!(store.camera_count().await.unwrap(), 1);
    assert_eq!(
        store
            .camera(&a.camera.id)
            .await
            .unwrap()
            .unwrap()
            .camera
            .name,
        a.camera.name
    );
    for c in [&batch[0], &batch[2], &batch[3]] {
        assert_eq!(store.camera(&c.camera.id).await.unwrap(), None);
    }
    store.close().await;
    db.drop_db().await;
}

async fn bad_fields_are_all_reported(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    small_tree(&*store).await;

    let mut empty_name = cam(1, "45");
    empty_name.camera.name = "  ".into();
    let mut url_creds = cam(2, "45");
    url_creds.camera.url = "rtsp://admin:hunter2@192.0.2.1/1".into();
    url_creds.camera.credentials = Some(Credentials {
        username: "admin".into(),
        password: "hunter2".into(),
    });
    let mut half_coords = cam(3, "45");
    half_coords.latitude = Some(22.8);
    let mut platform = cam(4, "45");
    platform.camera.id = id("45010200002000000004");
    let mut bad_tag = cam(5, "45");
    bad_tag.tags = vec!["ok".into(), "a|b".into()];
    let dup = cam(1, "4501");
    let batch = vec![
        empty_name,
        url_creds,
        half_coords,
        platform,
        bad_tag,
        dup,
        cam(6, "45"),
    ];
    let e = store.upsert_cameras(&batch).await.unwrap_err();
    assert_eq!(
        rows_of(&e),
        vec![
            (0, "name".into()),
            (1, "url".into()),
            (2, "longitude".into()),
            (3, "id".into()),
            (4, "tags".into()),
            (5, "id".into()),
        ]
    );
    let text = format!("{e} {e:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(store.camera_count().await.unwrap(), 0);
    store.close().await;
    db.drop_db().await;
}

async fn delete_and_sync_by_source(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    small_tree(&*store).await;
    let mut batch = Vec::new();
    for s in 1..=3 {
        let mut c = cam(s, "450102");
        c.source = CameraSource::Config;
        batch.push(c);
    }
    batch.push(cam(11, "4501"));
    batch.push(cam(12, "4501"));
    store.upsert_cameras(&batch).await.unwrap();

    assert!(store.delete_camera(&batch[3].camera.id).await.unwrap());
    assert!(!store.delete_camera(&batch[3].camera.id).await.unwrap());

    // The config now holds only camera 1 (and one that was never stored).
    let keep = [batch[0].camera.id, id("45010200001320999999")];
    assert_eq!(
        store
            .delete_cameras_by_source(CameraSource::Config, &keep)
            .await
            .unwrap(),
        2
    );
    let left: Vec<DeviceId> = store
        .cameras()
        .await
        .unwrap()
        .iter()
        .map(|r| r.camera.id)
        .collect();
    assert_eq!(left, vec![batch[0].camera.id, batch[4].camera.id]);
    assert_eq!(
        store
            .delete_cameras_by_source(CameraSource::Config, &keep)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .delete_cameras_by_source(CameraSource::Api, &[])
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.camera_count().await.unwrap(), 1);
    store.close().await;
    db.drop_db().await;
}

async fn next_serial_gives_free_ids(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    small_tree(&*store).await;
    assert_eq!(store.next_serial("450102", 132).await.unwrap(), 1);
    // Handed out: not given again, even before it is stored.
    assert_eq!(store.next_serial("450102", 132).await.unwrap(), 2);

    store
        .upsert_cameras(&[cam(41, "450102"), cam(7, "450102")])
        .await
        .unwrap();
    assert_eq!(store.next_serial("450102", 132).await.unwrap(), 42);
    assert_eq!(store.next_serial("450102", 132).await.unwrap(), 43);
    // Other counties and other types count on their own.
    assert_eq!(store.next_serial("450103", 132).await.unwrap(), 1);
    assert_eq!(store.next_serial("450102", 131).await.unwrap(), 1);

    // A new store on the same database starts from what is stored.
    store.close().await;
    let store = db.open().await;
    assert_eq!(store.next_serial("450102", 132).await.unwrap(), 42);
    let serial = store.next_serial("450102", 132).await.unwrap();
    let new_id = DeviceId::camera("450102", DeviceType::NetworkCamera, serial).unwrap();
    assert_eq!(new_id.as_str(), "45010200001320000043");

    assert!(matches!(
        store.next_serial("4501", 132).await,
        Err(DirectoryError::Invalid(_))
    ));
    assert!(matches!(
        store.next_serial("450102", 1320).await,
        Err(DirectoryError::Invalid(_))
    ));
    let mut last = cam(999_999, "450102");
    last.camera.id = DeviceId::camera("450104", DeviceType::NetworkCamera, 999_999).unwrap();
    store.upsert_cameras(&[last]).await.unwrap();
    let e = store.next_serial("450104", 132).await.unwrap_err();
    assert!(matches!(e, DirectoryError::SerialsExhausted { .. }), "{e}");
    store.close().await;
    db.drop_db().await;
}

async fn all_fields_round_trip(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    small_tree(&*store).await;
    let full = CameraRecord {
        camera: Camera {
            id: id("45010200001310000001"),
            name: "兴宁社区 东门 📷 «north» 'quoted' \"double\"".into(),
            area: code("450102001003"),
            url: "rtsp://192.0.2.10:554/Streaming/Channels/101?transportmode=unicast".into(),
            credentials: Some(Credentials {
                username: "管理员".into(),
                password: "p@ss:w/rd 密码 ' \" ;--".into(),
            }),
            transport: Transport::Udp,
            mode: Mode::OnDemand,
        },
        source: CameraSource::Api,
        tags: vec!["东门".into(), "入口".into(), "night vision".into()],
        latitude: Some(22.816_732_918_273_64),
        longitude: Some(108.366_912_345_678_9),
        created_at: 0,
        updated_at: 0,
    };
    let bare = CameraRecord {
        camera: Camera {
            id: id("45010200001320000002"),
            name: "x".into(),
            area: code("45"),
            url: "clip:h264-aac-720p".into(),
            credentials: None,
            transport: Transport::Auto,
            mode: Mode::Always,
        },
        source: CameraSource::Config,
        tags: vec![],
        latitude: None,
        longitude: None,
        created_at: 0,
        updated_at: 0,
    };
    let mut no_password = bare.clone();
    no_password.camera.id = id("45010200001320000003");
    no_password.camera.credentials = Some(Credentials {
        username: "viewer".into(),
        password: String::new(),
    });
    no_password.latitude = Some(-90.0);
    no_password.longitude = Some(180.0);
    let all = [full.clone(), bare.clone(), no_password.clone()];
    store.upsert_cameras(&all).await.unwrap();

    for want in &all {
        let got = store.camera(&want.camera.id).await.unwrap().unwrap();
        assert_eq!(got.camera, want.camera);
        assert!(got.same_content(want), "{got:?} != {want:?}");
    }
    let listed = store.cameras().await.unwrap();
    assert_eq!(listed.len(), 3);
    for (got, want) in listed.iter().zip([&full, &bare, &no_password]) {
        assert!(got.same_content(want), "{got:?} != {want:?}");
    }
    let pw = &full.camera.credentials.as_ref().unwrap().password;
    assert_eq!(listed[0].camera.credentials.as_ref().unwrap().password, *pw);
    assert!(!format!("{listed:?}").contains("p@ss"));
    assert!(!format!("{store:?}").contains(":xlgw@"));
    assert_eq!(
        store.camera(&id("45010200001320009999")).await.unwrap(),
        None
    );
    store.close().await;
    db.drop_db().await;
}

async fn csv_registration(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    small_tree(&*store).await;
    store.upsert_cameras(&[cam(5, "450102")]).await.unwrap();
    let text = "id,name,area,url,username,password,transport,mode,tags,latitude,longitude\n\
        45010200001320000100,东门,450102001003,rtsp://192.0.2.10/1,admin,secret,auto,on-demand,gate|east,22.8,108.3\n\
        ,西门,450102001,rtsp://192.0.2.11/1,,,,,,,\n\
        ,南门,450102,rtsp://192.0.2.12/1,,,udp,,night;south,,\n";
    let (rows, errors) = parse_cameras_csv(text);
    assert!(errors.is_empty(), "{errors:?}");
    let records = assign_ids(&*store, rows, CameraSource::Api).await.unwrap();
    let ids: Vec<&str> = records.iter().map(|r| r.camera.id.as_str()).collect();
    // Serials continue after the highest stored under 450102 (5).
    assert_eq!(
        ids,
        vec![
            "45010200001320000100",
            "45010200001320000006",
            "45010200001320000007"
        ]
    );
    let r = store.upsert_cameras(&records).await.unwrap();
    assert_eq!(r.inserted, 3);
    let south = store.camera(&id(ids[2])).await.unwrap().unwrap();
    assert_eq!(south.tags, vec!["night", "south"]);
    assert_eq!(south.camera.transport, Transport::Udp);

    // An id written in the file is skipped when assigning.
    let text = "id,name,area,url\n,a,450102,clip:x\n45010200001320000102,b,45,clip:x\n\
                ,c,450102001003,clip:y\n";
    let (rows, errors) = parse_cameras_csv(text);
    assert!(errors.is_empty());
    let records = assign_ids(&*store, rows, CameraSource::Api).await.unwrap();
    let ids: Vec<&str> = records.iter().map(|r| r.camera.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "45010200001320000101",
            "45010200001320000102",
            "45010200001320000103"
        ]
    );

    // A file with one unknown area stores nothing.
    let text =
        "name,area,url\n北门,4501,rtsp://192.0.2.13/1\n坏,450102001002,rtsp://192.0.2.14/1\n";
    let (rows, errors) = parse_cameras_csv(text);
    assert!(errors.is_empty());
    let records = assign_ids(&*store, rows, CameraSource::Api).await.unwrap();
    let e = store.upsert_cameras(&records).await.unwrap_err();
    assert_eq!(rows_of(&e), vec![(1, "area".into())]);
    assert_eq!(store.camera_count().await.unwrap(), 4);
    store.close().await;
    db.drop_db().await;
}

async fn concurrent_writers(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    small_tree(&*store).await;
    let mut tasks = Vec::new();
    for t in 0..4u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0..5u32 {
                let cams: Vec<CameraRecord> = (0..100)
                    .map(|i| cam(1 + t * 1000 + batch * 100 + i, "450102001003"))
                    .collect();
                store.upsert_cameras(&cams).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.camera_count().await.unwrap(), 2000);
    store.close().await;
    db.drop_db().await;
}

/// A database error after part of a batch was written (a trigger refuses
/// the last row) leaves nothing of the batch stored.
async fn failure_mid_batch_rolls_back(b: Backend) {
    let db = Db::new(b).await;
    let store = db.open().await;
    small_tree(&*store).await;
    store.upsert_cameras(&[cam(1, "45")]).await.unwrap();
    // More rows than one statement takes on either backend.
    let n = 6_000;
    let batch: Vec<CameraRecord> = (2..2 + n).map(|s| cam(s, "450102001003")).collect();
    let poison = batch[batch.len() - 1].camera.id;
    let trigger = match b {
        Backend::Sqlite => format!(
            "CREATE TRIGGER poison BEFORE INSERT ON cameras WHEN NEW.id = '{poison}' \
             BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;"
        ),
        Backend::Postgres => format!(
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.id = '{poison}' THEN RAISE EXCEPTION 'poisoned row'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER poison BEFORE INSERT ON cameras \
             FOR EACH ROW EXECUTE FUNCTION poison();"
        ),
    };
    db.exec(&trigger).await;
    let e = store.upsert_cameras(&batch).await.unwrap_err();
    assert!(matches!(e, DirectoryError::Database(_)), "{e}");
    assert!(e.to_string().contains("poisoned row"), "{e}");
    assert_eq!(store.camera_count().await.unwrap(), 1);
    assert_eq!(store.camera(&batch[0].camera.id).await.unwrap(), None);
    // The store is still usable.
    let r = store.upsert_cameras(&batch[..10]).await.unwrap();
    assert_eq!(r.inserted, 10);
    store.close().await;
    db.drop_db().await;
}

async fn bulk_100k_cameras(b: Backend) {
    const N: u32 = 100_000;
    const BATCH: usize = 5_000;
    let db = Db::new(b).await;
    let store = db.open().await;
    let areas = guangxi();
    store.import_areas(&areas).await.unwrap();
    let villages: Vec<AreaCode> = areas
        .iter()
        .filter(|a| a.level() == Level::Village)
        .map(|a| a.code)
        .collect();
    let all: Vec<CameraRecord> = (0..N)
        .map(|i| {
            let area = villages[i as usize % villages.len()];
            let mut r = cam(i + 1, "45");
            r.camera.id =
                DeviceId::camera(&area.county6(), DeviceType::NetworkCamera, i + 1).unwrap();
            r.camera.area = area;
            r.camera.credentials = Some(Credentials {
                username: "admin".into(),
                password: format!("pw{i}"),
            });
            r.tags = vec!["bulk".into()];
            r.latitude = Some(22.0 + f64::from(i) * 1e-6);
            r.longitude = Some(108.0);
            r
        })
        .collect();

    let t = Instant::now();
    let mut inserted = 0;
    for chunk in all.chunks(BATCH) {
        inserted += store.upsert_cameras(chunk).await.unwrap().inserted;
    }
    let insert_time = t.elapsed();
    assert_eq!(inserted, u64::from(N));

    let t = Instant::now();
    let loaded = store.cameras().await.unwrap();
    let load_time = t.elapsed();
    assert_eq!(loaded.len(), N as usize);
    assert_eq!(store.camera_count().await.unwrap(), u64::from(N));

    let t = Instant::now();
    let again = store.upsert_cameras(&all[..BATCH]).await.unwrap();
    let again_time = t.elapsed();
    assert_eq!(again.unchanged, BATCH as u64);

    let mut by_id: Vec<&CameraRecord> = all.iter().collect();
    by_id.sort_by_key(|r| r.camera.id);
    for (got, want) in loaded.iter().zip(by_id).step_by(997) {
        assert!(got.same_content(want));
    }
    eprintln!(
        "[{}] 100,000 cameras: inserted in {} calls of {BATCH} in {insert_time:?}, \
         loaded in {load_time:?}, re-upserted {BATCH} unchanged in {again_time:?}",
        b.as_str(),
        N as usize / BATCH
    );
    store.close().await;
    db.drop_db().await;
}

// ---------------------------------------------------------------- backend specific

#[tokio::test]
async fn sqlite_file_is_wal_in_a_created_dir() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("catalogue.db");
    let store = xlgw_directory::open_sqlite(&path).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    small_tree(&*store).await;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    c.close().await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn sqlite_in_memory() {
    let store = open(":memory:").await.unwrap();
    small_tree(&*store).await;
    store.upsert_cameras(&[cam(1, "45")]).await.unwrap();
    assert_eq!(store.camera_count().await.unwrap(), 1);
    store.close().await;
}

#[tokio::test]
async fn postgres_errors_hide_the_password() {
    // Nothing listens on port 1.
    let e = open("postgres://xlgw:topsecret@127.0.0.1:1/nowhere")
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(matches!(e, DirectoryError::Open(_)), "{text}");
    assert!(!text.contains("topsecret"), "{text}");
    let e = open("postgres://xlgw:topsecret@127.0.0.1:notaport/x")
        .await
        .unwrap_err();
    assert!(!format!("{e} {e:?}").contains("topsecret"));
}
