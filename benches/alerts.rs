//! Alert delivery: latency from a state change to a local webhook receiver, and an alert storm (every tile
//! down at once) — how long until every alert is delivered, and how late checks start meanwhile, next to the
//! schedule lag of the same tiles in a calm phase of the same run (the baseline).
//!
//! `cargo bench --bench alerts -- --tiles 1000 --interval 10` (SQLite in a temporary folder).

mod support;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use homewatch::{
    alerts::{AlertsConfig, Dispatcher},
    model::{ChannelSettings, NewChannel, NewGroup, NewService, alerts::WebhookSettings},
    monitor::{
        engine::{Engine, EngineConfig},
        probe::Prober,
    },
    store::{self, DatabaseUrl, PoolConfig, Store},
};
use poem::{
    EndpointExt, Response, Route, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::{Data, Json},
};
use serde_json::Value;
use support::{arg, percentile};

#[handler]
fn target(Data(status): Data<&Arc<AtomicU16>>) -> Response {
    Response::builder()
        .status(poem::http::StatusCode::from_u16(status.load(Ordering::Relaxed)).unwrap())
        .body("")
}

type Arrivals = Arc<Mutex<Vec<(DateTime<Utc>, Value)>>>;

#[handler]
fn receive(Json(body): Json<Value>, Data(arrivals): Data<&Arrivals>) -> &'static str {
    arrivals.lock().unwrap().push((Utc::now(), body));
    "ok"
}

async fn serve(route: impl poem::Endpoint + 'static) -> String {
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(route));
    format!("http://{addr}")
}

fn lags_ms(engine: &Engine) -> Vec<f64> {
    engine
        .metrics()
        .take_lags()
        .into_iter()
        .map(|us| us as f64 / 1000.0)
        .collect()
}

#[tokio::main]
async fn main() {
    let tiles: usize = arg("tiles", 1000);
    let interval: u32 = arg("interval", 10);
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::new(format!("sqlite://{}/bench.db", dir.path().display()));
    let store: Arc<dyn Store> = store::connect(&url, &PoolConfig::default()).await.unwrap();
    store.migrate().await.unwrap();

    let status = Arc::new(AtomicU16::new(200));
    let target_url = serve(Route::new().at("/health", target).data(status.clone())).await + "/health";
    let arrivals: Arrivals = Arc::default();
    let receiver = serve(Route::new().at("/hook", receive).data(arrivals.clone())).await + "/hook";

    let group = store
        .create_group(&NewGroup { name: "Storm".into() })
        .await
        .unwrap();
    for n in 0..tiles {
        let check = homewatch::model::Check::from_json(
            serde_json::json!({ "kind": "http", "interval_s": interval, "retries": 0, "timeout_s": 5 }),
            Some(&target_url),
        )
        .unwrap();
        store
            .create_service(&NewService {
                badges: None,
                group_id: group.id,
                name: format!("tile-{n}"),
                url: target_url.clone(),
                description: None,
                icon: None,
                tags: None,
                check: Some(check),
            })
            .await
            .unwrap();
    }
    let channel = NewChannel {
        name: "hook".into(),
        settings: ChannelSettings::Webhook(WebhookSettings {
            url: receiver,
            secret: Some("bench-secret".into()),
            headers: None,
        }),
        all_tiles: Some(true),
        groups: None,
        services: None,
        remind_every_min: None,
        enabled: Some(true),
    };
    store.create_channel(&channel.draft().unwrap()).await.unwrap();

    let engine = Engine::start(
        store.clone(),
        Arc::new(Prober::new().unwrap()),
        EngineConfig::default(),
    )
    .await
    .unwrap();
    let dispatcher = Dispatcher::start(
        store.clone(),
        AlertsConfig::default(),
        engine.alerts_stored(),
        engine.maintenance().clone(),
    )
    .unwrap();
    println!("alert storm: {tiles} tiles checked every {interval} s, one webhook channel for all (SQLite)");

    // Calm: every tile up (the first check of each tells nobody). Two rounds settle, two more are the baseline.
    tokio::time::sleep(Duration::from_secs(u64::from(interval) * 2 + 2)).await;
    lags_ms(&engine);
    tokio::time::sleep(Duration::from_secs(u64::from(interval) * 2)).await;
    let calm = lags_ms(&engine);
    assert!(
        arrivals.lock().unwrap().is_empty(),
        "nothing is sent while every tile is up"
    );

    // Storm: the target fails; every tile goes down within one interval.
    let storm_start = Instant::now();
    let storm_wall = Utc::now();
    status.store(500, Ordering::Relaxed);
    let deadline = storm_start + Duration::from_secs(300);
    while arrivals.lock().unwrap().len() < tiles && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_delivered = storm_start.elapsed();
    tokio::time::sleep(Duration::from_secs(u64::from(interval))).await;
    let storm = lags_ms(&engine);
    let received = arrivals.lock().unwrap().clone();
    let latencies: Vec<f64> = received
        .iter()
        .filter_map(|(at, body)| {
            let since: DateTime<Utc> = body["since"].as_str()?.parse().ok()?;
            Some((*at - since).num_microseconds()? as f64 / 1000.0)
        })
        .collect();
    let mut keys: Vec<&str> = received.iter().filter_map(|(_, b)| b["id"].as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let first_down = received
        .iter()
        .filter_map(|(_, b)| b["since"].as_str()?.parse::<DateTime<Utc>>().ok())
        .min()
        .unwrap_or(storm_wall);
    println!(
        "delivered {} alerts ({} distinct keys) of {tiles}; all delivered {:.2} s after the target failed \
         (tiles go down over one {interval} s interval; the first at +{:.2} s)",
        received.len(),
        keys.len(),
        all_delivered.as_secs_f64(),
        (first_down - storm_wall).num_milliseconds() as f64 / 1000.0
    );
    println!(
        "latency from state change to receiver: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    for (name, lags) in [("calm (baseline)", &calm), ("during the storm", &storm)] {
        println!(
            "schedule lag {name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} checks",
            percentile(lags, 0.5),
            percentile(lags, 0.99),
            percentile(lags, 1.0),
            lags.len()
        );
    }
    dispatcher.stop().await;
    engine.stop().await;
    store.close().await;
}
