//! Page benchmark: the start page with N tiles (default 100, ten groups, a day of history each) loaded in a
//! real headless Chromium against the real server on SQLite. Reports what crosses the wire (bytes and
//! requests, on a first visit and on a return visit with the browser's cache), the time to first paint, the
//! time until every tile is in the page, and the largest contentful paint; p50 and p95 over the runs.
//!
//!   cargo bench --bench page                         # 100 tiles, 15 runs each
//!   cargo bench --bench page -- --tiles 1000 --runs 10
//!   cargo bench --bench page -- --tiles 10000 --runs 5
//!
//! Also: the first tiles on screen (a large page is filled in slices), a search typed into the page (each
//! keystroke to the next frame), and the longest frame while live updates arrive (every tile is checked every
//! 60 s, so 10,000 tiles send about 167 events a second).

#[path = "../tests/web/browser.rs"]
#[allow(dead_code)]
mod browser;
mod support;

use std::sync::Arc;

use browser::{Browser, Page, Screen};
use history::record_day_of_history;
use homewatch::{
    auth::AccessConfig,
    model::{Check, NewGroup, NewService},
    monitor::{
        engine::{Engine, EngineConfig},
        probe::Prober,
    },
    store::{self, DatabaseUrl, PoolConfig, Store},
};
use serde::Deserialize;
use support::{access_with_admin, arg, loopback_target, percentile, serve};

struct Options {
    tiles: usize,
    runs: usize,
    /// `--trace FILE`: Chrome traces of the first run's search and live updates (FILE) and of its first visit
    /// (FILE.load.json).
    trace: Option<String>,
}

fn options() -> Options {
    Options {
        tiles: arg("tiles", 100),
        runs: arg("runs", 15),
        trace: Some(arg("trace", String::new())).filter(|file| !file.is_empty()),
    }
}

const ICONS: [&str; 10] = ["🎬", "📺", "🎵", "📷", "🛜", "💾", "🏠", "🔐", "📚", "🧰"];

async fn create_tiles(store: &Arc<dyn Store>, count: usize, target: &str) -> Vec<i64> {
    let check = Check::from_json(
        serde_json::json!({ "kind": "http", "interval_s": 60 }),
        Some(target),
    )
    .expect("a valid check");
    let per_group = count.div_ceil(10).max(1);
    let mut ids = Vec::with_capacity(count);
    let mut group = 0;
    for index in 0..count {
        if index % per_group == 0 {
            group = store
                .create_group(&NewGroup {
                    name: format!("Group {}", index / per_group + 1),
                })
                .await
                .unwrap()
                .id;
        }
        let tile = NewService {
            badges: None,
            group_id: group,
            name: format!("Service {index}"),
            url: target.to_owned(),
            description: Some(format!("Self-hosted service number {index}")),
            icon: Some(ICONS[index % ICONS.len()].to_owned()),
            tags: Some(vec!["home".into(), format!("tier-{}", index % 3)]),
            check: Some(check.clone()),
        };
        ids.push(store.create_service(&tile).await.unwrap().id);
    }
    ids
}

/// What the page reports about one load.
#[derive(Debug, Deserialize)]
struct Load {
    transfer_bytes: f64,
    decoded_bytes: f64,
    requests: usize,
    dashboard_bytes: f64,
    first_paint_ms: f64,
    tiles_ms: f64,
    all_tiles_ms: f64,
    largest_paint_ms: f64,
}

/// A search typed into the loaded page, and live updates watched for a while.
#[derive(Debug, Deserialize)]
struct Interaction {
    /// From each keystroke's input event to the frame after it (style and layout done).
    keystroke_ms: Vec<f64>,
    /// Of which the page's own script (the input handler), per keystroke.
    script_ms: Vec<f64>,
    /// The four frames after that one (what a keystroke leaves for later).
    settle_ms: Vec<f64>,
    /// The longest gap between two frames while live updates arrived, and how many frames and events.
    max_frame_ms: f64,
    long_tasks: usize,
    frames: usize,
}

/// What the search box is given, one keystroke each.
const SEARCHED: [&str; 9] = [
    "s",
    "se",
    "ser",
    "serv",
    "service 9",
    "service 99",
    "tier-2",
    "tier-",
    "",
];

const INTERACT: &str = r#"
(async (SEARCHED) => {
  const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const input = document.getElementById("search");
  const keystroke_ms = [];
  const script_ms = [];
  const settle_ms = [];
  // A person looks at the page a moment before typing: a second after every tile is in, then an idle moment.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await new Promise((resolve) => requestIdleCallback(resolve, { timeout: 1000 }));
  for (const text of SEARCHED) {
    const started = performance.now();
    input.value = text;
    input.dispatchEvent(new Event("input"));
    script_ms.push(performance.now() - started);
    await nextFrame();
    keystroke_ms.push(performance.now() - started);
    const settle = performance.now();
    for (let n = 0; n < 4; n += 1) await nextFrame();
    settle_ms.push(performance.now() - settle);
  }
  let long_tasks = 0;
  new PerformanceObserver((list) => { long_tasks += list.getEntries().length; }).observe({ type: "longtask" });
  const gaps = [];
  await new Promise((resolve) => {
    let last = performance.now();
    const end = last + 5000;
    const frame = (now) => {
      gaps.push(now - last);
      last = now;
      if (now < end) requestAnimationFrame(frame); else resolve();
    };
    requestAnimationFrame(frame);
  });
  return { keystroke_ms, script_ms, settle_ms, max_frame_ms: Math.max(...gaps), long_tasks, frames: gaps.length };
})()
"#;

const MEASURE: &str = r#"
new Promise((resolve) => {
  new PerformanceObserver((list) => {
    const entries = list.getEntries();
    const lcp = entries[entries.length - 1].startTime;
    const nav = performance.getEntriesByType("navigation")[0];
    // The event stream never completes, so it has no size yet: every other request is counted.
    const resources = performance.getEntriesByType("resource").filter((r) => !r.name.endsWith("/api/v1/events"));
    const dashboard = resources.find((r) => r.name.endsWith("/api/v1/dashboard"));
    resolve({
      transfer_bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
      decoded_bytes: nav.decodedBodySize + resources.reduce((sum, r) => sum + r.decodedBodySize, 0),
      requests: 1 + resources.length,
      dashboard_bytes: dashboard ? dashboard.transferSize : 0,
      first_paint_ms: performance.getEntriesByName("first-contentful-paint")[0].startTime,
      tiles_ms: performance.getEntriesByName("homewatch:tiles")[0].startTime,
      all_tiles_ms: performance.getEntriesByName("homewatch:all-tiles")[0].startTime,
      largest_paint_ms: lcp,
    });
  }).observe({ type: "largest-contentful-paint", buffered: true });
})
"#;

/// What `work` returns; with a `file`, a Chrome trace of it written there too.
async fn traced<T>(
    page: &Page,
    file: Option<&str>,
    what: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    let Some(file) = file else { return work.await };
    let (result, events) = page.trace(work).await;
    let trace = serde_json::json!({ "traceEvents": events });
    std::fs::write(file, trace.to_string()).expect("write the trace");
    println!("trace of {what}: {file} ({} events)", events.len());
    result
}

fn report(label: &str, loads: &[Load]) {
    let column = |pick: fn(&Load) -> f64| loads.iter().map(pick).collect::<Vec<_>>();
    let (transfer, decoded) = (column(|l| l.transfer_bytes), column(|l| l.decoded_bytes));
    let (paint, tiles, all_tiles, largest) = (
        column(|l| l.first_paint_ms),
        column(|l| l.tiles_ms),
        column(|l| l.all_tiles_ms),
        column(|l| l.largest_paint_ms),
    );
    println!("{label} ({} loads)", loads.len());
    println!(
        "  transferred: {:.1} KB in {} requests ({:.1} KB uncompressed); GET /dashboard {:.1} KB",
        percentile(&transfer, 0.5) / 1024.0,
        loads[0].requests,
        percentile(&decoded, 0.5) / 1024.0,
        loads[0].dashboard_bytes / 1024.0
    );
    println!(
        "  first contentful paint: p50 {:.0} ms, p95 {:.0} ms",
        percentile(&paint, 0.5),
        percentile(&paint, 0.95)
    );
    println!(
        "  first tiles in the page: p50 {:.0} ms, p95 {:.0} ms",
        percentile(&tiles, 0.5),
        percentile(&tiles, 0.95)
    );
    println!(
        "  every tile in the page (usable): p50 {:.0} ms, p95 {:.0} ms",
        percentile(&all_tiles, 0.5),
        percentile(&all_tiles, 0.95)
    );
    println!(
        "  largest contentful paint: p50 {:.0} ms, p95 {:.0} ms",
        percentile(&largest, 0.5),
        percentile(&largest, 0.95)
    );
}

fn main() {
    let options = options();
    support::block_on(run(options));
}

async fn run(options: Options) {
    println!("# page benchmark: the start page with {} tiles", options.tiles);
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::new(format!("sqlite://{}", dir.path().join("homewatch.db").display()));
    let store = store::connect(&url, &PoolConfig::default()).await.unwrap();
    store.migrate().await.unwrap();
    let target = loopback_target().await;
    let ids = create_tiles(&store, options.tiles, &target).await;
    // A check a minute for the day; hourly beyond 1,000 tiles (10,000 tiles of minutes are 14 million rows).
    let every_minutes = arg("history-every-min", if options.tiles > 1000 { 60 } else { 1 });
    record_day_of_history(&store, &ids, every_minutes).await;
    let engine = Engine::start(
        store.clone(),
        Arc::new(Prober::new().unwrap()),
        EngineConfig::default(),
    )
    .await
    .unwrap();
    // The page is measured as an admin sees it: signed in with a session cookie.
    let (access, admin) = access_with_admin(&store, AccessConfig::default()).await;
    let (session, _) = access.start_session(admin.id).await.unwrap();
    let running = serve(&store, &engine, access).await;
    let base = format!("http://{}", running.addr);

    let browser = Browser::launch()
        .await
        .expect("the page benchmark needs Chromium");
    let tiles_shown = format!("document.querySelectorAll('.tile').length === {}", options.tiles);
    let mut first_visits = Vec::new();
    let mut return_visits = Vec::new();
    let mut interactions = Vec::new();
    for _ in 0..options.runs {
        // A first visit: a new tab with the cache off.
        let page = browser.open("about:blank", Screen::DESKTOP).await;
        page.set_session_cookie(&base, &session).await;
        page.set_cache(false).await;
        let file = options.trace.as_ref().filter(|_| first_visits.is_empty());
        let load = async {
            page.goto(&base).await;
            page.wait_for(&tiles_shown, "every tile").await;
        };
        let load_file = file.map(|file| format!("{file}.load.json"));
        traced(&page, load_file.as_deref(), "the first visit", load).await;
        first_visits.push(page.eval::<Load>(MEASURE).await);
        // A return visit: the same tab, the cache on, the files revalidated.
        page.set_cache(true).await;
        page.goto(&format!("{base}/?again")).await;
        page.wait_for(&tiles_shown, "every tile").await;
        return_visits.push(page.eval::<Load>(MEASURE).await);
        let interact = INTERACT.replace(
            "})()",
            &format!("}})({})", serde_json::to_string(&SEARCHED).unwrap()),
        );
        let file = options.trace.as_deref().filter(|_| interactions.is_empty());
        let search = page.eval::<Interaction>(&interact);
        interactions.push(traced(&page, file, "the first run's search and live updates", search).await);
        page.close().await;
    }
    report("first visit, empty cache", &first_visits);
    report("return visit, files revalidated (304)", &return_visits);
    let keystrokes: Vec<f64> = interactions.iter().flat_map(|i| i.keystroke_ms.clone()).collect();
    println!(
        "search keystroke to the next frame ({} keystrokes): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        keystrokes.len(),
        percentile(&keystrokes, 0.5),
        percentile(&keystrokes, 0.95),
        percentile(&keystrokes, 1.0)
    );
    // Each text of the search, slowest run: which keystrokes cost what.
    let by_text: Vec<String> = SEARCHED
        .iter()
        .enumerate()
        .map(|(n, text)| {
            let slowest = |of: fn(&Interaction) -> &Vec<f64>| {
                interactions
                    .iter()
                    .filter_map(|i| of(i).get(n))
                    .fold(0.0f64, |a, b| a.max(*b))
            };
            format!(
                "{text:?} {:.0} (script {:.0}, next 4 frames {:.0})",
                slowest(|i| &i.keystroke_ms),
                slowest(|i| &i.script_ms),
                slowest(|i| &i.settle_ms)
            )
        })
        .collect();
    println!("  by text (slowest of the runs, ms): {}", by_text.join(", "));
    let frames: Vec<f64> = interactions.iter().map(|i| i.max_frame_ms).collect();
    println!(
        "live updates (~{:.0} events/s) for 5 s per run: longest frame p50 {:.0} ms, max {:.0} ms; {} long tasks \
         (> 50 ms) in {} frames",
        options.tiles as f64 / 60.0,
        percentile(&frames, 0.5),
        percentile(&frames, 1.0),
        interactions.iter().map(|i| i.long_tasks).sum::<usize>(),
        interactions.iter().map(|i| i.frames).sum::<usize>()
    );
    browser.close().await;
    running.stop().await.unwrap();
    engine.stop().await;
    store.close().await;
}

mod history {
    //! History for the tiles, written straight to the store: a check a minute for the last 24 hours, so
    //! every tile has its uptime and a full sparkline, and a current status.
    use std::sync::Arc;

    use homewatch::{
        model::{CheckResult, HistoryBatch, ServiceState, StatusUpdate},
        store::Store,
    };

    pub async fn record_day_of_history(store: &Arc<dyn Store>, ids: &[i64], every_minutes: i64) {
        let now = chrono::Utc::now();
        let now_ms = now.timestamp_millis();
        let minute = 60_000;
        for (n, id) in ids.iter().enumerate() {
            let mut results = Vec::with_capacity(1440);
            let mut at = now_ms - 24 * 60 * minute;
            while at < now_ms {
                let ok = (at / minute + n as i64) % 211 != 0;
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
                at += every_minutes * minute;
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
            store
                .record_history(&HistoryBatch {
                    results,
                    statuses,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    }
}
