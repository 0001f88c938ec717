//! Dashboard benchmark (issue 17): `GET /api/v1/dashboard` with N tiles in groups of 100, each with D days of
//! hourly history, while the engine checks every tile every 60 s against a loopback target, on SQLite or
//! PostgreSQL. Every figure is printed beside a baseline timed in the same run on the same keep-alive
//! connection: `GET /healthz`, the trivial endpoint.
//!
//! Reports p50/p99 of the dashboard as a script reads it (identity) and as a browser does (gzip), of a 304
//! to `If-None-Match`, and of the first read after an edit; the response's size; resident memory before and
//! after 100 dashboard reads; and the start of a new `homewatch serve` process on the same database until
//! `/healthz` answers 200.
//!
//!   cargo bench --bench dashboard                                 # 1,000 tiles, 30 days of history
//!   cargo bench --bench dashboard -- --tiles 10000 --days 1
//!   HOMEWATCH_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench --features postgres --bench dashboard -- --store postgres

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
    access_with_admin, arg, create_tiles, database, loopback_target, percentile, run_admin, serve, token,
};

struct Options {
    tiles: usize,
    days: i64,
    requests: usize,
    store: String,
}

fn options() -> Options {
    Options {
        tiles: arg("tiles", 1000),
        days: arg("days", 30),
        requests: arg("requests", 200),
        store: arg("store", "sqlite".to_owned()),
    }
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// One result per tile and hour for `days` days before this hour: the hourly rollups of a watched tile.
async fn simulate_history(store: &Arc<dyn Store>, ids: &[i64], days: i64) -> usize {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let results = ids.iter().enumerate().flat_map(|(n, id)| {
        (1..=days * 24)
            .map(move |hours_ago| support::simulated_result(*id, n, now_ms - hours_ago * 3_600_000))
    });
    support::record_all(store, results).await
}

struct Timed {
    ms: f64,
    status: u16,
    bytes: usize,
    etag: Option<String>,
}

async fn timed(request: reqwest::RequestBuilder) -> Timed {
    let started = Instant::now();
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    // Read and counted piece by piece, as a browser's network stack would: the client keeps nothing, so the
    // resident memory measured is the server's.
    let mut response = response;
    let mut bytes = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
    }
    assert!(status == 200 || status == 304, "status {status}");
    Timed {
        ms: started.elapsed().as_secs_f64() * 1000.0,
        status,
        bytes,
        etag,
    }
}

fn line(what: &str, samples: &[f64], baseline: &[f64]) {
    let (p50, p99) = (percentile(samples, 0.5), percentile(samples, 0.99));
    let (b50, b99) = (percentile(baseline, 0.5), percentile(baseline, 0.99));
    println!(
        "{what}: p50 {p50:.2} ms, p99 {p99:.2} ms  (baseline GET /healthz: p50 {b50:.2} ms, p99 {b99:.2} ms; \
         p99 {:.1}x)",
        p99 / b99
    );
}

fn main() {
    let options = options();
    support::block_on(run(options));
}

async fn run(options: Options) {
    println!(
        "# dashboard benchmark: {} tiles, {} days of history, on {}",
        options.tiles, options.days, options.store
    );
    let target = loopback_target().await;
    let db = database(&options.store).await;
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
    let started = Instant::now();
    let spec = serde_json::json!({ "kind": "http", "interval_s": 60 });
    let ids = create_tiles(&store, options.tiles, &target, spec).await;
    let written = simulate_history(&store, &ids, options.days).await;
    println!(
        "made {} tiles and {written} hourly results in {:.0} s",
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
    let (access, admin) = access_with_admin(&store, AccessConfig::default()).await;
    let token = token(&access, &admin, Scope::Write).await;
    let running = serve(&store, &engine, access).await;
    let base = format!("http://{}", running.addr);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    // The engine's first round spreads over the interval: checks and their results flow while we measure.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (health, dashboard) = (format!("{base}/healthz"), format!("{base}/api/v1/dashboard"));
    timed(client.get(&health)).await;

    let rss_before = rss_mb();
    let (mut baseline, mut plain, mut gzip, mut not_modified) = (vec![], vec![], vec![], vec![]);
    let (mut plain_bytes, mut gzip_bytes, mut fresh) = (0, 0, 0);
    for _ in 0..options.requests {
        baseline.push(timed(client.get(&health)).await.ms);
        let answer = timed(client.get(&dashboard)).await;
        plain_bytes = answer.bytes;
        plain.push(answer.ms);
        let answer = timed(client.get(&dashboard).header("accept-encoding", "gzip")).await;
        gzip_bytes = answer.bytes;
        gzip.push(answer.ms);
        let etag = answer.etag.expect("an ETag");
        let again = timed(client.get(&dashboard).header("if-none-match", &etag)).await;
        if again.status == 304 {
            not_modified.push(again.ms);
        } else {
            fresh += 1;
        }
    }
    let rss_after = rss_mb();
    let mut slowest: Vec<(usize, f64)> = plain.iter().copied().enumerate().collect();
    slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!(
        "slowest identity reads (request number, ms): {:?}",
        slowest
            .iter()
            .take(4)
            .map(|(n, ms)| (*n, (ms * 10.0).round() / 10.0))
            .collect::<Vec<_>>()
    );
    line(
        &format!("GET /dashboard ({} tiles, identity)", ids.len()),
        &plain,
        &baseline,
    );
    line("GET /dashboard (gzip)", &gzip, &baseline);
    line(
        &format!(
            "GET /dashboard with If-None-Match ({} answered 304; {fresh} found a newer dashboard)",
            not_modified.len()
        ),
        &not_modified,
        &baseline,
    );
    println!(
        "size: {:.0} KB identity, {:.0} KB gzip",
        plain_bytes as f64 / 1000.0,
        gzip_bytes as f64 / 1000.0
    );
    println!(
        "RSS: {rss_before:.1} MB before {} dashboard reads, {rss_after:.1} MB after ({:+.1} MB)",
        options.requests * 3,
        rss_after - rss_before
    );

    let (mut after_edit, mut edit_baseline) = (vec![], vec![]);
    for n in 0..20 {
        let id = ids[n * 7919 % ids.len()];
        let reply = client
            .patch(format!("{base}/api/v1/services/{id}"))
            .json(&serde_json::json!({ "description": format!("edited {n}") }))
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success(), "{}", reply.status());
        after_edit.push(timed(client.get(&dashboard)).await.ms);
        edit_baseline.push(timed(client.get(&health)).await.ms);
    }
    line("GET /dashboard right after an edit", &after_edit, &edit_baseline);
    // Where an edit's time goes: the store's read of every group and tile (no hours).
    let mut reads = vec![];
    for _ in 0..20 {
        let started = Instant::now();
        store.dashboard(i64::MAX).await.unwrap();
        reads.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let mut stamps = vec![];
    for _ in 0..20 {
        let started = Instant::now();
        store.tile_stamps().await.unwrap();
        stamps.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "  the store's read of every group and tile: p50 {:.2} ms, p99 {:.2} ms; of what says which changed \
         (what an edit reads): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&reads, 0.5),
        percentile(&reads, 0.99),
        percentile(&stamps, 0.5),
        percentile(&stamps, 0.99)
    );

    running.stop().await.unwrap();
    engine.stop().await;
    store.close().await;

    // A new process on the same database, as after an upgrade or a crash.
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_homewatch"))
        .arg("serve")
        .env("DATABASE_URL", db.url.expose())
        .env("HOMEWATCH_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let probe = reqwest::Client::new();
    let healthy = loop {
        if let Ok(response) = probe.get(format!("http://127.0.0.1:{port}/healthz")).send().await
            && response.status().is_success()
        {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    println!(
        "start with {} tiles to a healthy /healthz: {:.0} ms",
        ids.len(),
        healthy.as_secs_f64() * 1000.0
    );
    let _ = child.kill();
    let _ = child.wait();
    if options.store == "postgres" {
        let admin = std::env::var("HOMEWATCH_BENCH_DATABASE_URL").unwrap();
        run_admin(&admin, "DROP DATABASE IF EXISTS homewatch_bench WITH (FORCE)").await;
    }
}
