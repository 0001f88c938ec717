//! Soak benchmark: 1,000 tiles checked every 60 s against a loopback target for an hour (SQLite), with a
//! dashboard read every 5 s and an event stream reopened every minute, sampling the process's resident memory
//! and open file descriptors each minute. What it shows: whether either grows.
//!
//!   cargo bench --bench soak -- --minutes 60 --monitors 1000

mod support;

use std::{sync::Arc, time::Duration};

use homewatch::{
    auth::AccessConfig,
    model::{Check, NewGroup, NewService, Scope},
    monitor::{
        engine::{Engine, EngineConfig},
        probe::Prober,
    },
    store::{self, DatabaseUrl, PoolConfig},
};
use support::{access_with_admin, arg, loopback_target, serve, token};

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let minutes: u64 = arg("minutes", 60);
    let monitors: usize = arg("monitors", 1000);
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::new(format!("sqlite://{}", dir.path().join("soak.db").display()));
    let store = store::connect(&url, &PoolConfig::default()).await.unwrap();
    store.migrate().await.unwrap();
    let target = loopback_target().await;
    let check = Check::from_json(
        serde_json::json!({ "kind": "http", "interval_s": 60 }),
        Some(&target),
    )
    .unwrap();
    let mut group = 0;
    for index in 0..monitors {
        if index % 100 == 0 {
            group = store
                .create_group(&NewGroup {
                    name: format!("Group {index}"),
                })
                .await
                .unwrap()
                .id;
        }
        store
            .create_service(&NewService {
                badges: None,
                group_id: group,
                name: format!("Tile {index}"),
                url: target.clone(),
                description: None,
                icon: None,
                tags: Some(vec!["soak".into()]),
                check: Some(check.clone()),
            })
            .await
            .unwrap();
    }
    let (access, admin) = access_with_admin(&store, AccessConfig::default()).await;
    let read = token(&access, &admin, Scope::Read).await;
    let engine = Engine::start(
        store.clone(),
        Arc::new(Prober::new().unwrap()),
        EngineConfig::default(),
    )
    .await
    .unwrap();
    let running = serve(&store, &engine, access).await;
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    {
        let (client, base, read) = (client.clone(), base.clone(), read.clone());
        tokio::spawn(async move {
            loop {
                let _ = client
                    .get(format!("{base}/api/v1/dashboard"))
                    .bearer_auth(&read)
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
    }
    {
        let (client, base, read) = (client.clone(), base.clone(), read.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(mut stream) = client
                    .get(format!("{base}/api/v1/events"))
                    .bearer_auth(&read)
                    .send()
                    .await
                {
                    let _ = tokio::time::timeout(Duration::from_secs(60), async {
                        while let Ok(Some(_)) = stream.chunk().await {}
                    })
                    .await;
                }
            }
        });
    }
    println!("soak: {monitors} tiles every 60 s, {minutes} minutes (SQLite)");
    println!("{:>6} {:>9} {:>6} {:>9}", "minute", "rss_mb", "fds", "checks");
    let mut samples = Vec::new();
    for minute in 0..=minutes {
        if minute > 0 {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        let rss_mb = status_kb("VmRSS:") as f64 / 1024.0;
        let fds = open_fds();
        let checks = engine.metrics().checks.load(std::sync::atomic::Ordering::Relaxed);
        println!("{minute:>6} {rss_mb:>9.1} {fds:>6} {checks:>9}");
        samples.push((rss_mb, fds));
    }
    // The first minutes warm up (connection pools, the first full round of checks): compare from minute 2.
    let steady = samples.get(2).copied().unwrap_or(samples[0]);
    let end = *samples.last().unwrap();
    println!(
        "soak result: RSS {:.1} MB at minute 2, {:.1} MB at the end ({:+.1} MB); fds {} at minute 2, {} at the end",
        steady.0,
        end.0,
        end.0 - steady.0,
        steady.1,
        end.1
    );
}
