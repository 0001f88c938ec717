//! Monitor engine benchmark: N tiles checked every 60 s against a loopback HTTP target, on SQLite or
//! PostgreSQL. Reports checks per second, schedule lag p50/p99, CPU, peak RSS, database size after a
//! simulated month of history, and GET /dashboard and GET /stats?window=365d latency.
//!
//!   cargo bench --bench monitor -- --monitors 1000 --seconds 120
//!   cargo bench --bench monitor -- --monitors 10000 --seconds 120 --simulate-days 0
//!   cargo bench --bench monitor -- --kind ping --interval 10 --seconds 60 --simulate-days 0 --http-samples 10
//!     (--kind http|json|keyword|tcp|tls|ping|push: the cost of each kind of check, http being the baseline)
//!   HOMEWATCH_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench --features postgres --bench monitor -- --store postgres --monitors 1000

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
    access_with_admin, arg, cpu_seconds, create_tiles, database, loopback_target, peak_rss_mb, percentile,
    run_admin, serve, size_bytes, token,
};

struct Options {
    monitors: usize,
    seconds: u64,
    store: String,
    simulate_days: i64,
    /// Tiles given a simulated history (a month of 1,000 tiles is 10.6 million rows).
    simulate_monitors: usize,
    http_samples: usize,
    /// The kind of check every tile gets.
    kind: String,
    interval_s: u32,
}

fn options() -> Options {
    Options {
        monitors: arg("monitors", 1000),
        seconds: arg("seconds", 120),
        store: arg("store", "sqlite".to_owned()),
        simulate_days: arg("simulate-days", 30),
        simulate_monitors: arg("simulate-monitors", 100),
        http_samples: arg("http-samples", 300),
        kind: arg("kind", "http".to_owned()),
        interval_s: arg("interval", 60),
    }
}

/// The check every tile gets: `kind` against the loopback targets (a TLS one for tls).
async fn bench_check(kind: &str, interval_s: u32, target: &str) -> serde_json::Value {
    let host_port = target
        .trim_start_matches("http://")
        .trim_end_matches("/health")
        .to_owned();
    match kind {
        "http" => serde_json::json!({ "kind": "http" }),
        "json" => serde_json::json!({ "kind": "http", "target": target.replace("/health", "/health.json"),
                                      "json": [{ "path": "$.ok", "op": "==", "value": true }] }),
        "keyword" => serde_json::json!({ "kind": "keyword", "keyword": "ok" }),
        "tcp" => serde_json::json!({ "kind": "tcp", "target": host_port }),
        "tls" => {
            serde_json::json!({ "kind": "tls", "target": support::tls_target().await, "verify_tls": false })
        }
        "ping" => serde_json::json!({ "kind": "ping", "target": "127.0.0.1", "packets": 3 }),
        "push" => serde_json::json!({ "kind": "push" }),
        other => panic!("unknown --kind {other}"),
    }
    .as_object()
    .cloned()
    .map(|mut spec| {
        spec.insert("interval_s".into(), interval_s.into());
        serde_json::Value::Object(spec)
    })
    .unwrap_or_default()
}

/// A month of history as the engine would leave it: full-rate raw results for the retained week, and one
/// result per hour before that (an hourly rollup row is the same size whatever it counts).
async fn simulate_history(store: &Arc<dyn Store>, ids: &[i64], days: i64) -> usize {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let hour = 3_600_000;
    let written = support::simulate_history(store, ids, days).await;
    // What the hourly pruning job leaves: no raw results beyond the retained week.
    while store
        .prune_history(now_ms - 7 * 24 * hour, 0, 50_000)
        .await
        .unwrap()
        > 0
    {}
    written
}

/// CPU seconds used so far by every process named `postgres` on this machine (the server and its backends).
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|comm| comm.trim() == "postgres")
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .map(|stat| {
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            fields.get(11..13).map_or(0.0, |f| {
                f.iter().filter_map(|v| v.parse::<f64>().ok()).sum::<f64>()
            }) / 100.0
        })
        .sum()
}

async fn latencies(client: &reqwest::Client, urls: &[String]) -> (f64, f64) {
    let mut samples = Vec::with_capacity(urls.len());
    for url in urls {
        let started = Instant::now();
        let response = client.get(url).send().await.unwrap();
        assert!(response.status().is_success(), "{url}: {}", response.status());
        response.bytes().await.unwrap();
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

fn main() {
    let options = options();
    support::block_on(run(options));
}

async fn run(options: Options) {
    println!(
        "# monitor benchmark: {} {} tiles every {} s on {}",
        options.monitors, options.kind, options.interval_s, options.store
    );
    let target = loopback_target().await;
    let db = database(&options.store).await;
    let pool = PoolConfig {
        acquire_timeout: Duration::from_secs(30),
        ..PoolConfig::default()
    };
    let store = store::connect(&db.url, &pool).await.unwrap();
    store.migrate().await.unwrap();
    let started = Instant::now();
    let spec = bench_check(&options.kind, options.interval_s, &target).await;
    let ids = create_tiles(&store, options.monitors, &target, spec).await;
    println!(
        "created {} tiles in {:.1} s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );

    let engine = Engine::start(
        store.clone(),
        Arc::new(Prober::new().unwrap()),
        EngineConfig::default(),
    )
    .await
    .unwrap();
    // The first interval spreads first runs; measure steady state after it.
    tokio::time::sleep(Duration::from_secs(u64::from(options.interval_s))).await;
    engine.metrics().take_lags();
    let checks_before = engine.metrics().checks.load(std::sync::atomic::Ordering::Relaxed);
    let (cpu_before, wall_before) = (cpu_seconds(), Instant::now());
    let postgres_before = postgres_cpu_seconds();
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    let wall = wall_before.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let postgres_cpu = postgres_cpu_seconds() - postgres_before;
    let checks = engine.metrics().checks.load(std::sync::atomic::Ordering::Relaxed) - checks_before;
    let mut lags: Vec<f64> = engine
        .metrics()
        .take_lags()
        .into_iter()
        .map(|us| us as f64 / 1000.0)
        .collect();
    lags.sort_by(f64::total_cmp);
    println!(
        "checks per second (steady state, {wall:.0} s): {:.1} (expected {:.1})",
        checks as f64 / wall,
        options.monitors as f64 / f64::from(options.interval_s)
    );
    println!(
        "schedule lag: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "CPU: {:.3} cores (whole process: engine, probes, target server, database writes)",
        cpu / wall
    );
    if options.store == "postgres" {
        println!(
            "PostgreSQL's own CPU (every `postgres` process of this machine): {:.3} cores",
            postgres_cpu / wall
        );
    }
    println!(
        "peak RSS: {:.1} MB (includes the loopback target and, for SQLite, the database)",
        peak_rss_mb()
    );
    engine.stop().await;

    let count = options.simulate_monitors.clamp(1, ids.len() / 2);
    let (simulated, year_tiles) = (&ids[..count], &ids[count..2 * count]);
    if options.simulate_days > 0 {
        for (tiles, days) in [(simulated, options.simulate_days), (year_tiles, 365)] {
            let started = Instant::now();
            let before = size_bytes(&db).await;
            let written = simulate_history(&store, tiles, days).await;
            let grown = size_bytes(&db).await.saturating_sub(before);
            println!(
                "simulated {days} days for {} tiles ({written} results) in {:.0} s: database grew {:.1} MB, \
                 {:.2} MB per tile (7 days of raw results every 60 s, hourly rollups for the whole span)",
                tiles.len(),
                started.elapsed().as_secs_f64(),
                grown as f64 / 1e6,
                grown as f64 / tiles.len() as f64 / 1e6,
            );
        }
    }

    let engine = Engine::start(
        store.clone(),
        Arc::new(Prober::new().unwrap()),
        EngineConfig::default(),
    )
    .await
    .unwrap();
    // Requests are made as an admin with a read token, as a script or SDK would.
    let (access, admin) = access_with_admin(&store, AccessConfig::default()).await;
    let token = token(&access, &admin, Scope::Read).await;
    let running = serve(&store, &engine, access).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let base = format!("http://{}", running.addr);
    let dashboard: Vec<String> = (0..options.http_samples)
        .map(|_| format!("{base}/api/v1/dashboard"))
        .collect();
    let (p50, p99) = latencies(&client, &dashboard).await;
    println!(
        "GET /dashboard ({} tiles, {} requests): p50 {p50:.1} ms, p99 {p99:.1} ms",
        ids.len(),
        options.http_samples
    );
    let stats: Vec<String> = (0..options.http_samples)
        .map(|i| {
            format!(
                "{base}/api/v1/services/{}/stats?window=365d",
                simulated[i * 7919 % simulated.len()]
            )
        })
        .collect();
    let (p50, p99) = latencies(&client, &stats).await;
    println!(
        "GET /stats?window=365d ({} requests): p50 {p50:.1} ms, p99 {p99:.1} ms",
        options.http_samples
    );
    running.stop().await.unwrap();
    engine.stop().await;
    store.close().await;
    if options.store == "postgres" {
        let admin = std::env::var("HOMEWATCH_BENCH_DATABASE_URL").unwrap();
        run_admin(&admin, "DROP DATABASE IF EXISTS homewatch_bench WITH (FORCE)").await;
    }
}
