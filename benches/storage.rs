//! Storage benchmark (issue 17): what a year of checks every 60 s leaves per tile, on SQLite or PostgreSQL,
//! once the hourly job has pruned raw results beyond their retention (7 days) and summed rollups older than
//! 31 days per day, as the engine does; every table and index listed. Then `GET /stats?window=365d` over
//! that year, beside `GET /healthz` timed in the same run.
//!
//! The year is written as the engine would have left it: a result a minute for the retained week, one an hour
//! before (an hourly rollup row is the same size whatever it counts). Pruning a backfill leaves free space a
//! steady state would have reused for the next rows, so sizes are shown twice: after a plain VACUUM (what
//! autovacuum leaves; SQLite: the file) and with that free space left out (PostgreSQL after VACUUM FULL;
//! SQLite without its free pages): the second is the steady state.
//!
//!   cargo bench --bench storage                       # 100 tiles on SQLite
//!   HOMEWATCH_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench --features postgres --bench storage -- --store postgres

mod support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use homewatch::{
    auth::AccessConfig,
    model::Scope,
    monitor::{
        engine::{Engine, EngineConfig},
        probe::Prober,
    },
    store::{self, PoolConfig, Store},
};
use support::{
    Database, access_with_admin, arg, create_tiles, database, loopback_target, percentile, run_admin, serve,
    token,
};

/// A year as the engine leaves it, for these tiles.
async fn simulate_year(store: &Arc<dyn Store>, ids: &[i64]) -> usize {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let (hour, day) = (3_600_000, 86_400_000);
    let written = support::simulate_history(store, ids, 365).await;
    // What the hourly job does (api/monitor/engine.rs, prune_periodically), with the default retention.
    let defaults = EngineConfig::DEFAULT;
    while store
        .prune_history(
            now_ms - i64::from(defaults.retention_raw_days) * day,
            (now_ms - i64::from(defaults.retention_rollup_days) * day) / hour,
            50_000,
        )
        .await
        .unwrap()
        > 0
    {}
    let before_day = now_ms / day - i64::from(defaults.retention_hourly_days);
    let first = store
        .first_hourly_day(before_day)
        .await
        .unwrap()
        .unwrap_or(before_day);
    store.compact_rollups(first, before_day).await.unwrap();
    written
}

/// (relation, bytes) of every table and index, largest first, and the bytes of free space left out.
#[cfg(feature = "postgres")]
async fn postgres_sizes(db: &Database, full: bool) -> Vec<(String, i64)> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(db.url.expose()).await.unwrap();
    let vacuum = if full {
        "VACUUM (FULL, ANALYZE)"
    } else {
        "VACUUM (ANALYZE)"
    };
    sqlx::query(vacuum).execute(&mut connection).await.unwrap();
    sqlx::query_as(
        "SELECT c.relname::text, pg_relation_size(c.oid) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i') ORDER BY 2 DESC, 1",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap()
}

#[cfg(not(feature = "postgres"))]
async fn postgres_sizes(_db: &Database, _full: bool) -> Vec<(String, i64)> {
    panic!("--store postgres needs `cargo bench --features postgres`")
}

/// SQLite's tables and indexes by the pages they use (the `dbstat` table), and the file's free pages.
async fn sqlite_sizes(db: &Database) -> (Vec<(String, i64)>, i64) {
    use sqlx::Connection;
    let mut connection = sqlx::SqliteConnection::connect(db.url.expose()).await.unwrap();
    let sizes = sqlx::query_as(
        "SELECT name, CAST(SUM(pgsize) AS INTEGER) FROM dbstat GROUP BY name ORDER BY 2 DESC, 1",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let free: i64 =
        sqlx::query_scalar("SELECT freelist_count * page_size FROM pragma_freelist_count, pragma_page_size")
            .fetch_one(&mut connection)
            .await
            .unwrap();
    (sizes, free)
}

fn list(sizes: &[(String, i64)], tiles: usize) -> i64 {
    let total: i64 = sizes.iter().map(|(_, bytes)| bytes).sum();
    for (name, bytes) in sizes.iter().filter(|(_, bytes)| *bytes >= 64 * 1024) {
        println!(
            "    {name:<40} {:>9.1} KB  {:>7.3} MB per tile",
            *bytes as f64 / 1024.0,
            *bytes as f64 / tiles as f64 / 1e6
        );
    }
    total
}

fn main() {
    support::block_on(run());
}

async fn run() {
    let tiles: usize = arg("tiles", 100);
    let kind: String = arg("store", "sqlite".to_owned());
    let requests: usize = arg("requests", 300);
    println!("# storage benchmark: {tiles} tiles, a year of checks every 60 s, on {kind}");
    let target = loopback_target().await;
    let db = database(&kind).await;
    let store = store::connect(
        &db.url,
        &PoolConfig {
            acquire_timeout: Duration::from_secs(30),
            ..PoolConfig::default()
        },
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let spec = serde_json::json!({ "kind": "http", "interval_s": 60 });
    let ids = create_tiles(&store, tiles, &target, spec).await;
    let started = Instant::now();
    let written = simulate_year(&store, &ids).await;
    println!(
        "wrote {written} results, pruned and summed as the hourly job does, in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let year = |bytes: i64| bytes as f64 / tiles as f64 / 1e6;
    if kind == "postgres" {
        println!("  after VACUUM (what autovacuum leaves after this backfill):");
        let total = list(&postgres_sizes(&db, false).await, tiles);
        println!("    all tables and indexes: {:.2} MB per tile-year", year(total));
        println!("  after VACUUM FULL (steady state: the free space of pruned rows is reused by new ones):");
        let total = list(&postgres_sizes(&db, true).await, tiles);
        println!(
            "    all tables and indexes: {:.2} MB per tile-year (target 1.5)",
            year(total)
        );
    } else {
        let (sizes, free) = sqlite_sizes(&db).await;
        let live = list(&sizes, tiles);
        println!(
            "  the file: {:.2} MB per tile-year; without its {:.1} MB of free pages (steady state): {:.2} MB \
             per tile-year (target 1.5)",
            year(live + free),
            free as f64 / 1e6,
            year(live)
        );
    }

    let engine = Engine::start(
        store.clone(),
        Arc::new(Prober::new().unwrap()),
        EngineConfig::default(),
    )
    .await
    .unwrap();
    let (access, admin) = access_with_admin(&store, AccessConfig::default()).await;
    let token = token(&access, &admin, Scope::Read).await;
    let running = serve(&store, &engine, access).await;
    let base = format!("http://{}", running.addr);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let (mut stats, mut baseline) = (vec![], vec![]);
    for n in 0..requests {
        let started = Instant::now();
        let reply = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert!(reply.status().is_success());
        reply.bytes().await.unwrap();
        baseline.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let id = ids[n * 7919 % ids.len()];
        let reply = client
            .get(format!("{base}/api/v1/services/{id}/stats?window=365d"))
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success(), "{}", reply.status());
        reply.bytes().await.unwrap();
        stats.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "GET /stats?window=365d ({requests} requests): p50 {:.2} ms, p99 {:.2} ms (target p99 < 10)  \
         (baseline GET /healthz: p50 {:.2} ms, p99 {:.2} ms)",
        percentile(&stats, 0.5),
        percentile(&stats, 0.99),
        percentile(&baseline, 0.5),
        percentile(&baseline, 0.99)
    );
    running.stop().await.unwrap();
    engine.stop().await;
    store.close().await;
    if kind == "postgres" {
        let admin = std::env::var("HOMEWATCH_BENCH_DATABASE_URL").unwrap();
        run_admin(&admin, "DROP DATABASE IF EXISTS homewatch_bench WITH (FORCE)").await;
    }
}
