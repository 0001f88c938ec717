//! `homewatch copy` speed on a homelab's worth of history: 100 tiles checked every 60 s, with the raw results
//! the default retention keeps (7 days: about a million rows) and 30 days of hourly rollups, copied
//! SQLite → PostgreSQL → SQLite (SQLite → SQLite without the `postgres` feature). Each copy's rows/s is printed
//! next to a baseline measured in the same run on the same file: SQLite's own `VACUUM INTO` (what
//! `homewatch backup` does), which copies pages, not rows.
//!
//!   cargo bench --features postgres --bench copy                  # PostgreSQL at 127.0.0.1:5432
//!   cargo bench --bench copy -- --tiles 20 --raw-days 2           # smaller
//!
//! PostgreSQL: HOMEWATCH_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) names a
//! server where the benchmark may create and drop the database `homewatch_bench_copy`.

mod support;

use std::time::Instant;

use clap::Parser;
use homewatch::{
    config::Cli,
    copy,
    manifest::{self, Current},
    model::{CheckResult, HistoryBatch, ServiceFilter, now, seconds},
    store::{self, DatabaseUrl, PoolConfig, Store, sqlite::SqliteStore},
};
use support::arg;

async fn seed(store: &dyn Store, tiles: usize, days: i64, raw_days: i64) {
    let mut document = String::from("version: 1\ngroups:\n");
    for g in 0..tiles.div_ceil(10) {
        document.push_str(&format!("  - name: Group {g}\n    tiles:\n"));
        for t in 0..10.min(tiles - g * 10) {
            document.push_str(&format!(
                "      - {{name: Tile {t}, url: \"https://t{t}.g{g}.lan\", tags: [g{g}], check: {{kind: http}}}}\n"
            ));
        }
    }
    let (checked, _) = manifest::load::load(&document, "bench", &|_| None).expect("document");
    let plan = manifest::plan(&checked, &Current::read(store).await.unwrap(), false).unwrap();
    store.apply_config(&plan.ops()).await.unwrap();
    let filter = ServiceFilter {
        limit: 10_000,
        ..ServiceFilter::default()
    };
    let ids: Vec<i64> = store
        .list_services(&filter)
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| s.id)
        .collect();
    let end = now() - seconds(60);
    for &id in &ids {
        let mut batch = HistoryBatch::default();
        // Older days: what the rollups keep, one result an hour stands for them.
        for hour in (raw_days * 24)..(days * 24) {
            batch.results.push(result(id, end - seconds(hour * 3600), hour));
        }
        // The raw days: every 60 s.
        for minute in 0..(raw_days * 24 * 60) {
            batch.results.push(result(id, end - seconds(minute * 60), minute));
            if batch.results.len() == 20_000 {
                store.record_history(&std::mem::take(&mut batch)).await.unwrap();
            }
        }
        store.record_history(&batch).await.unwrap();
    }
}

fn result(service_id: i64, checked_at: chrono::DateTime<chrono::Utc>, n: i64) -> CheckResult {
    let ok = (n + service_id) % 97 != 0;
    CheckResult {
        service_id,
        checked_at,
        ok,
        latency_ms: (15 + (n * 13 + service_id) % 400) as u32,
        status_code: Some(if ok { 200 } else { 502 }),
        error: (!ok).then(|| "HTTP 502".to_owned()),
        maintenance: false,
        degraded: false,
        packet_loss_pct: None,
        certificate: None,
    }
}

async fn rows(url: &DatabaseUrl) -> u64 {
    copy::fingerprint(url)
        .await
        .unwrap()
        .values()
        .map(|(rows, _)| rows)
        .sum()
}

#[cfg(feature = "postgres")]
async fn fresh_postgres() -> DatabaseUrl {
    use sqlx::{Connection, Executor};
    let admin = std::env::var("HOMEWATCH_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL for the benchmark");
    conn.execute("DROP DATABASE IF EXISTS homewatch_bench_copy WITH (FORCE)")
        .await
        .unwrap();
    conn.execute("CREATE DATABASE homewatch_bench_copy")
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path("/homewatch_bench_copy");
    DatabaseUrl::new(url.to_string())
}

#[tokio::main]
async fn main() {
    let tiles: usize = arg("tiles", 100);
    let days: i64 = arg("days", 30);
    let raw_days: i64 = arg("raw-days", 7);
    let dir = tempfile::tempdir().unwrap();
    let source = DatabaseUrl::new(format!("sqlite://{}", dir.path().join("source.db").display()));
    let store = store::connect(&source, &PoolConfig::DEFAULT).await.unwrap();
    store.migrate().await.unwrap();
    let started = Instant::now();
    seed(store.as_ref(), tiles, days, raw_days).await;
    store.close().await;
    let total = rows(&source).await;
    println!(
        "dataset: {tiles} tiles, {days} days of rollups, {raw_days} days of raw results every 60 s: {total} rows \
         (seeded in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // Baseline: SQLite's own page copy of the same file.
    let sqlite = SqliteStore::connect(&source, &PoolConfig::DEFAULT).await.unwrap();
    let started = Instant::now();
    sqlite.backup_to(&dir.path().join("baseline.db")).await.unwrap();
    let baseline = started.elapsed().as_secs_f64();
    sqlite.close_pools().await;
    println!(
        "baseline  VACUUM INTO (homewatch backup)   {baseline:>7.2} s  {:>9.0} rows/s",
        total as f64 / baseline
    );

    let config = Cli::parse_from(["homewatch"]).config;
    #[cfg(feature = "postgres")]
    let middle = fresh_postgres().await;
    #[cfg(not(feature = "postgres"))]
    let middle = DatabaseUrl::new(format!("sqlite://{}", dir.path().join("middle.db").display()));
    let back = DatabaseUrl::new(format!("sqlite://{}", dir.path().join("back.db").display()));
    for (name, from, to) in [("there", &source, &middle), ("back", &middle, &back)] {
        let started = Instant::now();
        copy::run(&config, from.expose(), to.expose(), false)
            .await
            .unwrap();
        let took = started.elapsed().as_secs_f64();
        println!(
            "copy {name:<5} {:<8} -> {:<8}         {took:>7.2} s  {:>9.0} rows/s (migrations and checksums included)",
            from.scheme(),
            to.scheme(),
            total as f64 / took
        );
    }
    let (a, b) = (
        copy::fingerprint(&source).await.unwrap(),
        copy::fingerprint(&back).await.unwrap(),
    );
    assert_eq!(a, b, "the round trip changed rows");
    println!("round trip: every table's row count and SHA-256 equal");
}
