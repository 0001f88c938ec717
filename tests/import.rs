//! The importers against sample files written from each tool's documented format (Homepage's services.yaml
//! with nested groups and icons, Gatus' config.yaml with conditions that map and that do not, a kuma.db made
//! with Uptime Kuma's own table definitions, and Kuma's v1 JSON backup), applied to both stores: what maps
//! lands, what does not is reported with why, and a second run changes nothing.

mod common;

use common::{Backend, TestDb};
use homewatch::{
    config::ImportSource,
    manifest::{self, Current, TileSpec, import},
    model::CheckKind,
    store::Store,
};

on_every_store!(
    homepage_services_land_and_a_rerun_changes_nothing,
    gatus_endpoints_land_with_their_conditions,
    uptime_kuma_monitors_land_from_kuma_db_and_backup,
);

const HOMEPAGE: &str = r#"
- Media:
    - Jellyfin:
        href: http://jellyfin.lan:8096
        description: Movies and shows
        icon: jellyfin.png
        siteMonitor: http://jellyfin.lan:8096/health
        widget:
          type: jellyfin
          url: http://jellyfin.lan:8096
          key: apikeyapikey
    - Downloads:
        - Sonarr:
            href: https://sonarr.lan
            icon: mdi-television
            ping: sonarr.lan
        - Radarr:
            href: https://radarr.lan
            server: my-docker
            container: radarr
- Network:
    - Router:
        href: http://192.168.1.1
        description: OpenWrt
    - No link:
        description: nothing to open
"#;

const GATUS: &str = r#"
alerting:
  slack:
    webhook-url: "https://hooks.slack.com/services/x"
endpoints:
  - name: website
    group: core
    url: "https://example.org/health"
    interval: 5m
    client:
      insecure: true
      timeout: 5s
    headers:
      Authorization: Bearer abc
    conditions:
      - "[STATUS] == 200"
      - "[BODY].status == UP"
      - "[RESPONSE_TIME] < 300"
      - "[CERTIFICATE_EXPIRATION] > 48h"
    alerts:
      - type: slack
  - name: search
    group: core
    url: "https://search.example.org"
    conditions:
      - "[STATUS] == any(200, 204)"
      - "[BODY] == pat(*<title>Search*)"
  - name: ssh
    group: infra
    url: "tcp://nas.lan:22"
    interval: 30s
    conditions:
      - "[CONNECTED] == true"
  - name: dns
    url: "8.8.8.8"
    dns:
      query-name: "example.org"
      query-type: "A"
    conditions:
      - "[DNS_RCODE] == NOERROR"
  - name: old
    group: infra
    url: "https://old.example.org"
    enabled: false
    conditions:
      - "len([BODY]) > 10"
  - name: mqtt
    url: "mqtt://broker.lan:1883"
"#;

/// Uptime Kuma's own table definitions (db/knex_init_db.js: `monitor`, `tag`, `monitor_tag`, with the
/// `description`, `parent` and `invert_keyword` columns its later migrations add), as SQLite writes them.
const KUMA_TABLES: &str = r#"
CREATE TABLE monitor (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(150), active BOOLEAN NOT NULL DEFAULT 1,
    user_id INTEGER, interval INTEGER NOT NULL DEFAULT 20, url TEXT, type VARCHAR(20), weight INTEGER DEFAULT 2000,
    hostname VARCHAR(255), port INTEGER, created_date DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    keyword VARCHAR(255), maxretries INTEGER NOT NULL DEFAULT 0, ignore_tls BOOLEAN NOT NULL DEFAULT 0,
    upside_down BOOLEAN NOT NULL DEFAULT 0, maxredirects INTEGER NOT NULL DEFAULT 10,
    accepted_statuscodes_json TEXT NOT NULL DEFAULT '["200-299"]', dns_resolve_type VARCHAR(5),
    dns_resolve_server VARCHAR(255), dns_last_result VARCHAR(255), retry_interval INTEGER NOT NULL DEFAULT 0,
    push_token VARCHAR(20) DEFAULT NULL, method TEXT NOT NULL DEFAULT 'GET', body TEXT DEFAULT NULL,
    headers TEXT DEFAULT NULL, basic_auth_user TEXT DEFAULT NULL, basic_auth_pass TEXT DEFAULT NULL,
    docker_host INTEGER, docker_container VARCHAR(255), proxy_id INTEGER, expiry_notification BOOLEAN DEFAULT 1,
    mqtt_topic TEXT, mqtt_success_message VARCHAR(255), mqtt_username VARCHAR(255), mqtt_password VARCHAR(255),
    database_connection_string VARCHAR(2000), database_query TEXT, auth_method VARCHAR(250), auth_domain TEXT,
    auth_workstation TEXT, grpc_url VARCHAR(255) DEFAULT NULL, grpc_protobuf TEXT DEFAULT NULL,
    grpc_body TEXT DEFAULT NULL, grpc_metadata TEXT DEFAULT NULL, grpc_method TEXT DEFAULT NULL,
    grpc_service_name TEXT DEFAULT NULL, grpc_enable_tls BOOLEAN NOT NULL DEFAULT 0,
    radius_username VARCHAR(255), radius_password VARCHAR(255), radius_calling_station_id VARCHAR(50),
    radius_called_station_id VARCHAR(50), radius_secret VARCHAR(255), resend_interval INTEGER NOT NULL DEFAULT 0,
    packet_size INTEGER NOT NULL DEFAULT 56, game VARCHAR(255),
    description TEXT DEFAULT NULL,
    parent INTEGER REFERENCES monitor (id) ON DELETE SET NULL ON UPDATE CASCADE,
    invert_keyword BOOLEAN DEFAULT 0 NOT NULL
);
CREATE TABLE tag (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(255) NOT NULL, color VARCHAR(255) NOT NULL,
    created_date DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE monitor_tag (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor_id INTEGER NOT NULL REFERENCES monitor (id) ON DELETE CASCADE ON UPDATE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES tag (id) ON DELETE CASCADE ON UPDATE CASCADE,
    value TEXT
);
INSERT INTO monitor (id, name, type) VALUES (1, 'Home', 'group');
INSERT INTO monitor (id, name, type, url, interval, maxretries, accepted_statuscodes_json, ignore_tls, maxredirects, parent, description)
    VALUES (2, 'Jellyfin', 'http', 'http://jellyfin.lan:8096', 30, 3, '["200-299","301"]', 1, 0, 1, 'Movies');
INSERT INTO monitor (id, name, type, url, keyword, invert_keyword, interval, parent)
    VALUES (3, 'Status page', 'keyword', 'https://status.lan', 'Maintenance', 1, 60, 1);
INSERT INTO monitor (id, name, type, hostname, port, interval, active) VALUES (4, 'SSH', 'port', 'nas.lan', 22, 120, 0);
INSERT INTO monitor (id, name, type, hostname, dns_resolve_type, interval) VALUES (5, 'DNS', 'dns', 'example.org', 'AAAA', 300);
INSERT INTO monitor (id, name, type, hostname, interval) VALUES (6, 'Printer', 'ping', 'printer.lan', 60);
INSERT INTO monitor (id, name, type, docker_container, interval) VALUES (7, 'Container', 'docker', 'web', 60);
INSERT INTO monitor (id, name, type, url, interval, maxretries) VALUES (8, 'Too often', 'http', 'https://x.lan', 1, 50);
INSERT INTO tag (id, name, color) VALUES (1, 'Media', '#fff'), (2, 'env', '#000');
INSERT INTO monitor_tag (monitor_id, tag_id, value) VALUES (2, 1, ''), (2, 2, 'prod');
"#;

const KUMA_BACKUP: &str = r#"{
  "version": "1.23.0",
  "notificationList": [],
  "monitorList": [
    {"id": 1, "name": "Jellyfin", "type": "http", "url": "http://jellyfin.lan:8096", "interval": 30,
     "maxretries": 1, "ignoreTls": false, "upsideDown": false, "maxredirects": 10,
     "accepted_statuscodes": ["200-299"], "active": true, "tags": [{"name": "media", "value": ""}]},
    {"id": 2, "name": "Wiki", "type": "keyword", "url": "https://wiki.lan", "keyword": "Welcome",
     "invertKeyword": false, "interval": 60, "maxretries": 0, "active": 1, "upsideDown": true, "tags": []}
  ]
}"#;

async fn apply_twice(store: &dyn Store, imported: import::Imported) {
    let checked = manifest::check(imported.manifest).expect("the imported document keeps every rule");
    let current = Current::read(store).await.unwrap();
    let plan = manifest::plan(&checked, &current, false).expect("a plan");
    assert!(!plan.is_empty());
    store.apply_config(&plan.ops()).await.expect("the import applies");
    let current = Current::read(store).await.unwrap();
    let again = manifest::plan(&checked, &current, false).expect("a plan");
    assert!(
        again.is_empty(),
        "a second run changes nothing: {}",
        again.render()
    );
}

fn file(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn tile<'a>(current: &'a Current, group: &str, name: &str) -> &'a TileSpec {
    current
        .manifest
        .groups
        .iter()
        .find(|g| g.name == group)
        .and_then(|g| g.tiles.iter().find(|t| t.name == name))
        .unwrap_or_else(|| panic!("{group} / {name} was imported: {:#?}", current.manifest))
}

fn reported(imported: &import::Imported, item: &str, what: &str) -> bool {
    imported
        .report
        .iter()
        .any(|s| s.item == item && s.what == what && !s.why.is_empty())
}

async fn homepage_services_land_and_a_rerun_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let path = file(db.dir.path(), "services.yaml", HOMEPAGE);
    let imported = import::read(ImportSource::Homepage, &path).await.unwrap();
    assert!(
        reported(&imported, "Media / Jellyfin", "widget"),
        "{}",
        imported.render_report()
    );
    assert!(reported(&imported, "Media / Downloads / Sonarr", "ping"));
    assert!(reported(&imported, "Media / Downloads / Radarr", "container"));
    assert!(reported(&imported, "Network / No link", "service"));
    assert!(
        !imported.render_report().contains("apikeyapikey"),
        "the report never shows a widget's key"
    );
    apply_twice(store.as_ref(), imported).await;

    let current = Current::read(store.as_ref()).await.unwrap();
    let names: Vec<&str> = current.manifest.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["Media", "Media / Downloads", "Network"]);
    let jellyfin = tile(&current, "Media", "Jellyfin");
    assert_eq!(jellyfin.icon.as_deref(), Some("jellyfin"));
    assert_eq!(jellyfin.description, "Movies and shows");
    let check = jellyfin.check.as_ref().expect("siteMonitor became a check");
    assert_eq!(check.kind, CheckKind::Http);
    assert_eq!(check.target.as_deref(), Some("http://jellyfin.lan:8096/health"));
    assert_eq!(
        tile(&current, "Media / Downloads", "Sonarr").icon.as_deref(),
        Some("mdi-television")
    );
    assert!(tile(&current, "Network", "Router").check.is_none());

    // Re-run through the importer itself: nothing duplicated.
    let again = import::read(ImportSource::Homepage, &path).await.unwrap();
    let checked = manifest::check(again.manifest).unwrap();
    assert!(manifest::plan(&checked, &current, false).unwrap().is_empty());
}

async fn gatus_endpoints_land_with_their_conditions(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let path = file(db.dir.path(), "config.yaml", GATUS);
    let imported = import::read(ImportSource::Gatus, &path).await.unwrap();
    let report = imported.render_report();
    assert!(reported(&imported, "core / website", "alerts"), "{report}");
    assert!(
        reported(&imported, "core / website", "condition `[RESPONSE_TIME] < 300`"),
        "{report}"
    );
    assert!(
        reported(&imported, "infra / old", "condition `len([BODY]) > 10`"),
        "{report}"
    );
    assert!(reported(&imported, "Gatus / mqtt", "endpoint"), "{report}");
    assert!(reported(&imported, "(config)", "alerting"), "{report}");
    assert!(!report.contains("hooks.slack.com"), "{report}");
    apply_twice(store.as_ref(), imported).await;

    let current = Current::read(store.as_ref()).await.unwrap();
    let website = tile(&current, "core", "website").check.clone().unwrap();
    assert_eq!(website.kind, CheckKind::Http);
    assert_eq!(website.interval_s, Some(300));
    assert_eq!(website.timeout_s, Some(5));
    assert_eq!(website.verify_tls, Some(false));
    assert_eq!(website.expected_status.as_deref(), Some("200"));
    assert_eq!(website.degraded_above_ms, Some(300));
    assert_eq!(website.cert_warn_days, Some(2));
    let json = website.json.unwrap();
    assert_eq!(json[0].path, "$.status");
    assert_eq!(json[0].value, Some(serde_json::json!("UP")));
    assert_eq!(
        website.headers.unwrap().get("Authorization").map(String::as_str),
        Some("Bearer abc")
    );
    let search = tile(&current, "core", "search").check.clone().unwrap();
    assert_eq!(search.kind, CheckKind::Keyword);
    assert_eq!(search.keyword.as_deref(), Some("<title>Search"));
    assert_eq!(search.expected_status.as_deref(), Some("200,204"));
    let ssh = tile(&current, "infra", "ssh");
    assert_eq!(ssh.url, "http://nas.lan");
    let check = ssh.check.clone().unwrap();
    assert_eq!(
        (check.kind, check.target.as_deref(), check.interval_s),
        (CheckKind::Tcp, Some("nas.lan:22"), Some(30))
    );
    let dns = tile(&current, "Gatus", "dns").check.clone().unwrap();
    assert_eq!(
        (dns.kind, dns.target.as_deref(), dns.record_type.as_deref()),
        (CheckKind::Dns, Some("example.org"), Some("A"))
    );
    assert!(tile(&current, "infra", "old").paused);
}

async fn uptime_kuma_monitors_land_from_kuma_db_and_backup(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let kuma = db.dir.path().join("kuma.db");
    {
        use sqlx::{Connection, Executor};
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&kuma)
            .create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
        conn.execute(KUMA_TABLES).await.unwrap();
        conn.close().await.unwrap();
    }
    let imported = import::read(ImportSource::UptimeKuma, &kuma).await.unwrap();
    let report = imported.render_report();
    assert!(
        reported(&imported, "Uptime Kuma / Container", "monitor"),
        "{report}"
    );
    assert!(
        reported(&imported, "Uptime Kuma / Too often", "interval"),
        "{report}"
    );
    assert!(
        reported(&imported, "Uptime Kuma / Too often", "retries"),
        "{report}"
    );
    apply_twice(store.as_ref(), imported).await;

    let current = Current::read(store.as_ref()).await.unwrap();
    let jellyfin = tile(&current, "Home", "Jellyfin");
    assert_eq!(jellyfin.description, "Movies");
    assert_eq!(jellyfin.tags, ["media", "env:prod"]);
    let check = jellyfin.check.clone().unwrap();
    assert_eq!(check.interval_s, Some(30));
    assert_eq!(check.retries, Some(3));
    assert_eq!(check.expected_status.as_deref(), Some("200-299,301"));
    assert_eq!(check.verify_tls, Some(false));
    assert_eq!(check.follow_redirects, Some(false));
    let keyword = tile(&current, "Home", "Status page").check.clone().unwrap();
    assert_eq!(
        (keyword.kind, keyword.keyword.as_deref(), keyword.keyword_absent),
        (CheckKind::Keyword, Some("Maintenance"), Some(true))
    );
    let ssh = tile(&current, "Uptime Kuma", "SSH");
    assert!(ssh.paused);
    assert_eq!(ssh.check.as_ref().unwrap().target.as_deref(), Some("nas.lan:22"));
    let dns = tile(&current, "Uptime Kuma", "DNS").check.clone().unwrap();
    assert_eq!(dns.record_type.as_deref(), Some("AAAA"));
    assert_eq!(
        tile(&current, "Uptime Kuma", "Printer")
            .check
            .as_ref()
            .unwrap()
            .kind,
        CheckKind::Ping
    );

    // The v1 JSON backup lands beside it.
    let backup = file(db.dir.path(), "backup.json", KUMA_BACKUP);
    let imported = import::read(ImportSource::UptimeKuma, &backup).await.unwrap();
    assert!(
        reported(&imported, "Uptime Kuma / Wiki", "upside down mode"),
        "{}",
        imported.render_report()
    );
    let checked = manifest::check(imported.manifest).unwrap();
    let current = Current::read(store.as_ref()).await.unwrap();
    let plan = manifest::plan(&checked, &current, false).unwrap();
    store.apply_config(&plan.ops()).await.unwrap();
    let current = Current::read(store.as_ref()).await.unwrap();
    assert_eq!(
        tile(&current, "Uptime Kuma", "Wiki")
            .check
            .as_ref()
            .unwrap()
            .keyword
            .as_deref(),
        Some("Welcome")
    );
    assert_eq!(tile(&current, "Uptime Kuma", "Jellyfin").tags, ["media"]);
}
