//! Public faces benchmark, on SQLite with N tiles (default 1,000 in ten groups, each checked every 60 s
//! against a loopback target, with a day of results and 90 days of hourly history for the page's tiles):
//!
//! - a status page of 100 tiles: its size (as sent, gzip, and uncompressed), server time p50/p99, a 304
//!   revalidation, and in a real headless Chromium the time to first contentful paint;
//! - badges (uptime, latency and status, cycling over tiles and windows): latency p50/p99;
//! - a `/metrics` scrape of every tile: size and time p50/p99;
//!
//! each next to a trivial endpoint (`/healthz`) measured in the same run on the same connection.
//!
//!   cargo bench --bench public                        # 1,000 tiles, a page of 100
//!   cargo bench --bench public -- --tiles 200 --runs 10

#[path = "../tests/web/browser.rs"]
#[allow(dead_code)]
mod browser;
mod support;

use std::{sync::Arc, time::Instant};

use browser::{Browser, Screen};
use homewatch::{
    auth::AccessConfig,
    http::{self, HttpOptions},
    model::{
        Check, CheckResult, HistoryBatch, NewGroup, NewService, ServiceState, StatusUpdate,
        public::{NewStatusPage, StatusSection},
    },
    monitor::{
        engine::{Engine, EngineConfig},
        probe::Prober,
    },
    server,
    store::{self, DatabaseUrl, PoolConfig, Store},
};
use support::{access_with_admin, arg, loopback_target, percentile};

const PAGE_TILES: usize = 100;

async fn create_tiles(store: &Arc<dyn Store>, count: usize, target: &str) -> (Vec<i64>, Vec<i64>) {
    let check = Check::from_json(
        serde_json::json!({ "kind": "http", "interval_s": 60 }),
        Some(target),
    )
    .expect("a valid check");
    let per_group = count.div_ceil(10).max(1);
    let (mut ids, mut groups) = (Vec::with_capacity(count), Vec::new());
    for index in 0..count {
        if index % per_group == 0 {
            let group = NewGroup {
                name: format!("Group {}", index / per_group + 1),
            };
            groups.push(store.create_group(&group).await.unwrap().id);
        }
        let tile = NewService {
            group_id: *groups.last().unwrap(),
            name: format!("Service {index}"),
            url: format!("{target}?tile={index}"),
            description: Some(format!("Self-hosted service number {index}")),
            icon: Some("🎬".to_owned()),
            tags: Some(vec!["home".into()]),
            check: Some(check.clone()),
            badges: Some(true),
        };
        ids.push(store.create_service(&tile).await.unwrap().id);
    }
    (ids, groups)
}

/// A result every `step_min` minutes over the last `hours`, one in 97 failing, and a current status.
async fn record_history(store: &Arc<dyn Store>, ids: &[i64], hours: i64, step_min: i64) {
    let now = chrono::Utc::now();
    let minute = 60_000;
    for (n, id) in ids.iter().enumerate() {
        let mut results = Vec::new();
        let mut at = now.timestamp_millis() - hours * 60 * minute;
        while at < now.timestamp_millis() {
            let ok = (at / minute / step_min + n as i64) % 97 != 0;
            results.push(CheckResult {
                service_id: *id,
                checked_at: chrono::DateTime::from_timestamp_millis(at).unwrap(),
                ok,
                latency_ms: 5 + ((at / minute + n as i64) % 40) as u32,
                status_code: Some(if ok { 200 } else { 503 }),
                error: (!ok).then(|| "status 503 is not in 200-299".to_owned()),
                maintenance: false,
                degraded: false,
                packet_loss_pct: None,
                certificate: None,
            });
            at += step_min * minute;
        }
        let statuses = vec![StatusUpdate {
            service_id: *id,
            state: ServiceState::Up,
            since: now - homewatch::model::seconds(3 * 3600),
            last_checked_at: Some(now),
            last_latency_ms: Some(12),
            last_error: None,
            certificate: None,
            failures: 0,
            memory: Default::default(),
        }];
        for chunk in results.chunks(5000) {
            store
                .record_history(&HistoryBatch {
                    results: chunk.to_vec(),
                    statuses: statuses.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    }
}

struct Timed {
    ms: Vec<f64>,
    bytes: usize,
}

async fn time(client: &reqwest::Client, urls: &[String], runs: usize, headers: &[(&str, &str)]) -> Timed {
    let mut ms = Vec::with_capacity(runs);
    let mut bytes = 0;
    for run in 0..runs {
        let mut request = client.get(&urls[run % urls.len()]);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let started = Instant::now();
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success() || response.status().as_u16() == 304,
            "{} answered {}",
            urls[run % urls.len()],
            response.status()
        );
        let body = response.bytes().await.unwrap();
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        bytes = body.len();
    }
    Timed { ms, bytes }
}

fn line(label: &str, timed: &Timed, baseline: &Timed) {
    println!(
        "  {label}: p50 {:.2} ms, p99 {:.2} ms, {:.1} KB   (baseline /healthz: p50 {:.2} ms, p99 {:.2} ms)",
        percentile(&timed.ms, 0.5),
        percentile(&timed.ms, 0.99),
        timed.bytes as f64 / 1024.0,
        percentile(&baseline.ms, 0.5),
        percentile(&baseline.ms, 0.99),
    );
}

fn main() {
    support::block_on(run(arg("tiles", 1000), arg("runs", 200)));
}

async fn run(tiles: usize, runs: usize) {
    println!("# public faces benchmark: {tiles} tiles on SQLite, a status page of {PAGE_TILES}");
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::new(format!("sqlite://{}", dir.path().join("homewatch.db").display()));
    let store = store::connect(&url, &PoolConfig::default()).await.unwrap();
    store.migrate().await.unwrap();
    let target = loopback_target().await;
    let (ids, groups) = create_tiles(&store, tiles, &target).await;
    let page_tiles = &ids[..PAGE_TILES.min(ids.len())];
    record_history(&store, page_tiles, 90 * 24, 60).await;
    record_history(&store, &ids, 24, 10).await;
    let per_group = tiles.div_ceil(10).max(1);
    let sections = groups
        .iter()
        .take(PAGE_TILES.div_ceil(per_group))
        .map(|id| StatusSection {
            name: None,
            group_id: Some(*id),
            services: vec![],
        })
        .collect();
    let page = NewStatusPage {
        slug: "home".into(),
        title: "Home services".into(),
        description: Some("Is it **down** for everyone?".into()),
        icon: Some("🏠".into()),
        footer: None,
        published: Some(true),
        domain: None,
        show_links: None,
        sections: Some(sections),
    };
    store.create_status_page(&page.draft().unwrap()).await.unwrap();
    let engine = Engine::start(
        store.clone(),
        Arc::new(Prober::new().unwrap()),
        EngineConfig::default(),
    )
    .await
    .unwrap();
    let (access, _) = access_with_admin(&store, AccessConfig::default()).await;
    let options = HttpOptions {
        metrics: true,
        ..HttpOptions::default()
    };
    let app = http::app(store.clone(), engine.clone(), access, &options).unwrap();
    let running = server::start(
        "127.0.0.1:0".parse().unwrap(),
        Default::default(),
        app,
        std::future::pending(),
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    let base = format!("http://{}", running.addr);
    // Let the engine run a round of checks first, so that /metrics has durations to show.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let healthz = vec![format!("{base}/healthz")];
    let shown = page_tiles.len();
    let page_url = vec![format!("{base}/status/home")];
    time(&client, &page_url, 5, &[]).await;
    let baseline = time(&client, &healthz, runs, &[]).await;
    println!("status page of {shown} tiles (90 days of bars each):");
    let plain = time(&client, &page_url, runs, &[]).await;
    line("GET /status/home, uncompressed", &plain, &baseline);
    let gzip = time(&client, &page_url, runs, &[("accept-encoding", "gzip")]).await;
    line("GET /status/home, gzip", &gzip, &baseline);
    let etag = client
        .get(&page_url[0])
        .send()
        .await
        .unwrap()
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let revalidated = time(&client, &page_url, runs, &[("if-none-match", &etag)]).await;
    line("GET /status/home, If-None-Match (304)", &revalidated, &baseline);

    let badge_urls: Vec<String> = page_tiles
        .iter()
        .flat_map(|id| {
            [
                format!("{base}/badge/{id}/uptime.svg?window=30d"),
                format!("{base}/badge/{id}/latency.svg?window=24h"),
                format!("{base}/badge/{id}/status.svg"),
                format!("{base}/badge/{id}/uptime.json?window=365d"),
            ]
        })
        .collect();
    let baseline = time(&client, &healthz, runs, &[]).await;
    println!(
        "badges ({} different, each asked once or more):",
        badge_urls.len()
    );
    let badges = time(&client, &badge_urls, runs.max(badge_urls.len()), &[]).await;
    line("GET /badge/{id}/...", &badges, &baseline);

    let metrics_url = vec![format!("{base}/metrics")];
    let scrapes = (runs / 10).max(10);
    let baseline = time(&client, &healthz, scrapes, &[]).await;
    println!("/metrics with {tiles} tiles:");
    let metrics = time(&client, &metrics_url, scrapes, &[]).await;
    line("GET /metrics, uncompressed", &metrics, &baseline);
    let metrics_gzip = time(&client, &metrics_url, scrapes, &[("accept-encoding", "gzip")]).await;
    line("GET /metrics, gzip", &metrics_gzip, &baseline);

    match Browser::launch().await {
        Some(browser) => {
            let (mut paints, mut transfers) = (Vec::new(), Vec::new());
            for _ in 0..10 {
                let tab = browser.open("about:blank", Screen::DESKTOP).await;
                tab.set_cache(false).await;
                tab.goto(&page_url[0]).await;
                tab.wait_for(
                    "document.querySelector('.live') !== null",
                    "the page and its script",
                )
                .await;
                let (paint, bytes): (f64, f64) = tab
                    .eval(
                        "new Promise((resolve) => new PerformanceObserver((list) => { \
                           const paint = list.getEntriesByName('first-contentful-paint')[0]; \
                           if (paint) resolve([paint.startTime, \
                             performance.getEntriesByType('navigation')[0].transferSize + performance \
                               .getEntriesByType('resource').reduce((sum, r) => sum + r.transferSize, 0)]); \
                         }).observe({ type: 'paint', buffered: true }))",
                    )
                    .await;
                paints.push(paint);
                transfers.push(bytes);
                tab.close().await;
            }
            println!(
                "status page in Chromium, first visit (cache off): first contentful paint p50 {:.0} ms, p95 {:.0} ms; \
                 {:.1} KB transferred in all",
                percentile(&paints, 0.5),
                percentile(&paints, 0.95),
                percentile(&transfers, 0.5) / 1024.0
            );
            browser.close().await;
        }
        None => println!("status page in Chromium: not measured (no Chromium)"),
    }
    running.stop().await.unwrap();
    engine.stop().await;
    store.close().await;
}
