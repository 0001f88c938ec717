//! `homewatch copy` with real stores: 100 tiles × 30 days of history (results, rollups, incidents), accounts
//! and tokens, channels and notifications, maintenance, status pages and posts go SQLite → PostgreSQL →
//! SQLite and every table's rows stay equal (row counts and a SHA-256 of every row); a target holding data is
//! refused without --force; a copy killed halfway is run again with --force and ends equal; the PostgreSQL
//! copy hands out new ids after the copied ones. Without the `postgres` feature it goes SQLite → SQLite.

mod common;

use std::{process::Command, time::Duration};

use clap::Parser;
use common::{Backend, TestDb};
use homewatch::{
    config::{Cli, Config},
    copy,
    manifest::{self, Current},
    model::{
        CheckResult, HistoryBatch, IncidentChange, NewGroup, Role, Scope, ServiceState, StatusUpdate, now,
        public::NewPost, seconds,
    },
    store::{DatabaseUrl, Store},
};

const TILES: i64 = 100;
const DAYS: i64 = 30;

fn config() -> Config {
    Cli::parse_from(["homewatch"]).config
}

/// Configuration through a document (channels, maintenance, status page), then 100 tiles with 30 days of
/// hourly results (and so rollups), an incident per tile, statuses, users, sessions, tokens and a post.
pub async fn seed(store: &dyn Store, results_every_min: i64) {
    let mut document = String::from("version: 1\ngroups:\n");
    for g in 0..10 {
        document.push_str(&format!("  - name: Group {g}\n    tiles:\n"));
        for t in 0..TILES / 10 {
            document.push_str(&format!(
                "      - {{name: Tile {t}, url: \"https://t{t}.g{g}.lan\", tags: [g{g}, \"t{t}\"], check: {{kind: http}}}}\n"
            ));
        }
    }
    document.push_str(
        "channels:\n  - name: Phone\n    settings: {kind: ntfy, topic: homelab, token: tk_secret}\n    all_tiles: true\n\
         maintenance:\n  - {title: Backups, starts_at: 2026-11-29T03:00:00Z, duration_min: 60, rrule: FREQ=WEEKLY, groups: [Group 1]}\n\
         status_pages:\n  - {slug: family, title: Family, published: true, sections: [{group: Group 0}, {tiles: [{group: Group 2, tile: Tile 3}]}]}\n",
    );
    let (checked, _) = manifest::load::load(&document, "seed", &|_| None).expect("seed document");
    let plan = manifest::plan(&checked, &Current::read(store).await.unwrap(), false).unwrap();
    store.apply_config(&plan.ops()).await.expect("seed applies");
    let ids: Vec<i64> = store
        .list_services(&homewatch::model::ServiceFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids.len() as i64, TILES);

    let end = now() - seconds(60);
    let start = end - seconds(DAYS * 86_400);
    let per_tile = DAYS * 24 * 60 / results_every_min;
    for chunk in ids.chunks(10) {
        let mut batch = HistoryBatch::default();
        for &id in chunk {
            for n in 0..per_tile {
                let at = start + seconds(n * results_every_min * 60 + id);
                let ok = (n + id) % 17 != 0;
                batch.results.push(CheckResult {
                    service_id: id,
                    checked_at: at,
                    ok,
                    latency_ms: (20 + (n * 7 + id) % 300) as u32,
                    status_code: Some(if ok { 200 } else { 503 }),
                    error: (!ok).then(|| "HTTP 503".to_owned()),
                    maintenance: false,
                    degraded: n % 50 == 0,
                    packet_loss_pct: None,
                    certificate: None,
                });
            }
            batch.incidents.push(IncidentChange::Open {
                service_id: id,
                started_at: start + seconds(3600),
                cause: "HTTP 503".into(),
            });
            batch.incidents.push(IncidentChange::Close {
                service_id: id,
                ended_at: start + seconds(7200),
            });
            batch.statuses.push(StatusUpdate {
                service_id: id,
                state: ServiceState::Up,
                since: start + seconds(7200),
                last_checked_at: Some(end),
                last_latency_ms: Some(42),
                last_error: None,
                certificate: None,
                failures: 0,
                memory: Default::default(),
            });
        }
        store.record_history(&batch).await.expect("history");
    }
    let user = store
        .create_user(
            "copied-admin",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            Role::Admin,
            false,
        )
        .await
        .unwrap();
    store
        .create_session(user.id, "session-hash", now() + seconds(3600))
        .await
        .unwrap();
    store
        .create_token(user.id, "ci", Scope::Write, "token-hash", None)
        .await
        .unwrap();
    store
        .create_post(&NewPost {
            title: "NAS down".into(),
            body: "Disk **full**.".into(),
            status: None,
            services: Some(vec![1, 2]),
        })
        .await
        .unwrap();
}

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_homewatch"));
    command.env_remove("DATABASE_URL").env("HOMEWATCH_LOG", "warn");
    command
}

async fn copy_between(from: &DatabaseUrl, to: &DatabaseUrl, force: bool) -> Result<(), String> {
    copy::run(&config(), from.expose(), to.expose(), force)
        .await
        .map_err(|err| err.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_there_and_back_keeps_every_row() {
    let source = TestDb::new(Backend::Sqlite).await;
    seed(source.open().await.as_ref(), 60).await;
    let before = copy::fingerprint(&source.url).await.unwrap();
    assert_eq!(before["services"].0, TILES as u64);
    assert_eq!(before["check_results"].0, (TILES * DAYS * 24) as u64);
    assert!(before["check_rollups"].0 >= (TILES * DAYS * 24) as u64);
    for table in copy::table_names() {
        if !table.ends_with("_targets") && table != "notification_attempts" && table != "notifications" {
            assert!(before[table].0 > 0, "the seed fills {table}");
        }
    }

    #[cfg(feature = "postgres")]
    let middle = TestDb::new(Backend::Postgres).await;
    #[cfg(not(feature = "postgres"))]
    let middle = TestDb::new(Backend::Sqlite).await;
    copy_between(&source.url, &middle.url, false)
        .await
        .expect("the first copy");
    assert_eq!(copy::fingerprint(&middle.url).await.unwrap(), before);

    // New rows in the copy get ids after the copied ones.
    let store = middle.open().await;
    let group = store
        .create_group(&NewGroup {
            name: "After the copy".into(),
        })
        .await
        .unwrap();
    assert!(
        group.id > 10,
        "the identity moved past the copied ids: {}",
        group.id
    );
    store.delete_group(group.id, false).await.unwrap();
    store.close().await;

    // A target that holds data is refused, and left alone.
    let refused = copy_between(&source.url, &middle.url, false).await.unwrap_err();
    assert!(refused.contains("--force"), "{refused}");

    let back = TestDb::new(Backend::Sqlite).await;
    copy_between(&middle.url, &back.url, false)
        .await
        .expect("the copy back");
    assert_eq!(copy::fingerprint(&back.url).await.unwrap(), before);

    // The copy back is a working store: the API's reads agree with the source's.
    let (a, b) = (source.open().await, back.open().await);
    assert_eq!(
        Current::read(a.as_ref()).await.unwrap().manifest,
        Current::read(b.as_ref()).await.unwrap().manifest
    );
    let first_hour = homewatch::model::Dashboard::first_hour(now());
    assert_eq!(
        a.dashboard(first_hour).await.unwrap(),
        b.dashboard(first_hour).await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_copy_is_run_again_with_force() {
    let source = TestDb::new(Backend::Sqlite).await;
    seed(source.open().await.as_ref(), 60).await;
    let before = copy::fingerprint(&source.url).await.unwrap();
    #[cfg(feature = "postgres")]
    let target = TestDb::new(Backend::Postgres).await;
    #[cfg(not(feature = "postgres"))]
    let target = TestDb::new(Backend::Sqlite).await;
    target.open().await.close().await;

    let mut child = bin()
        .args(["copy", "--from", source.url.expose(), "--to", target.url.expose()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some history has landed, before it is done.
    let store = target.open().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let page = store
            .results(1, now() - seconds(40 * 86_400), now(), 1)
            .await
            .unwrap();
        if !page.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the copy never reached check_results"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    store.close().await;
    let partial = copy::fingerprint(&target.url).await.unwrap();
    assert_ne!(partial, before, "the copy was stopped halfway");

    let output = bin()
        .args(["copy", "--from", source.url.expose(), "--to", target.url.expose()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--force"));

    let output = bin()
        .args([
            "copy",
            "--from",
            source.url.expose(),
            "--to",
            target.url.expose(),
            "--force",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("rows/s") && stdout.contains("match"), "{stdout}");
    assert_eq!(copy::fingerprint(&target.url).await.unwrap(), before);
}

#[test]
fn the_copy_knows_every_table_and_column_of_the_schema() {
    let mut found = std::collections::BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut current: Option<String> = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                current = Some(rest.split_whitespace().next().unwrap().to_owned());
                found.entry(current.clone().unwrap()).or_insert_with(Vec::new);
            } else if line.starts_with(')') {
                current = None;
            } else if let Some(table) = &current {
                let word = line.split_whitespace().next().unwrap_or_default();
                if !word.is_empty()
                    && !["PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "CONSTRAINT", "--"]
                        .iter()
                        .any(|k| word.starts_with(k))
                {
                    found
                        .get_mut(table)
                        .unwrap()
                        .push(word.trim_end_matches(',').to_owned());
                }
            }
            if let Some(rest) = line.strip_prefix("ALTER TABLE ") {
                let mut words = rest.split_whitespace();
                let table = words.next().unwrap().to_owned();
                if words.next() == Some("ADD") && words.next() == Some("COLUMN") {
                    let column = words.next().unwrap().trim_end_matches(';').to_owned();
                    found.get_mut(&table).unwrap().push(column);
                }
            }
        }
    }
    let known: std::collections::BTreeMap<String, Vec<String>> = copy::table_columns()
        .into_iter()
        .map(|(t, c)| (t.to_owned(), c.into_iter().map(str::to_owned).collect()))
        .collect();
    let mut found: std::collections::BTreeMap<String, Vec<String>> = found;
    for runtime in copy::NOT_COPIED {
        assert!(
            found.remove(*runtime).is_some(),
            "{runtime} is a table of the migrations"
        );
    }
    for columns in found.values_mut() {
        columns.sort();
    }
    let mut known = known;
    for columns in known.values_mut() {
        columns.sort();
    }
    assert_eq!(
        known, found,
        "api/copy.rs must list every table and column of the migrations"
    );
}
