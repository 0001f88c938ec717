//! Monitoring over the API on each store, against a real local target the test switches between healthy
//! and failing: checks on request, states, incidents, results, stats, pause/resume and live events.

mod common;

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use common::{App, Backend, TestApp, spawn_app, switchable_target};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_every_store!(
    a_tile_created_with_a_check_is_checked_without_being_asked,
    a_check_run_on_request_is_stored_by_the_time_it_is_answered,
    reads_are_never_older_than_the_events_already_sent,
    configuration_changes_are_announced_on_the_event_stream,
    a_failing_target_goes_pending_then_down_and_back_up_with_an_incident,
    paused_tiles_are_not_checked,
    monitoring_requests_are_validated,
);

/// Polls `path` until `done` holds for its body (results are written in batches, a moment later).
async fn eventually(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = app.get(path).await;
        if done(&reply.body) {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never got there: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tile checked every hour; returns once its first check, which runs right after it is created, is in.
async fn watched_tile(app: &TestApp, url: &str) -> i64 {
    let group = app.group("Watched").await;
    let tile = app
        .service(
            group,
            "Target",
            json!({ "url": url, "check": { "kind": "http", "retries": 1, "interval_s": 3600 } }),
        )
        .await;
    eventually(app, &format!("/api/v1/services/{tile}/results"), |body| {
        body.as_array().is_some_and(|results| results.len() == 1)
    })
    .await;
    tile
}

async fn a_tile_created_with_a_check_is_checked_without_being_asked(backend: Backend) {
    let app = spawn_app(backend).await;
    let (url, _) = switchable_target().await;
    let group = app.group("New").await;
    let tile = app
        .service(
            group,
            "Fresh",
            json!({ "url": url, "check": { "kind": "http", "interval_s": 3600 } }),
        )
        .await;
    let dashboard = eventually(&app, "/api/v1/dashboard", |body| {
        body["groups"][0]["services"][0]["status"]["state"] == "up"
    })
    .await;
    let status = &dashboard["groups"][0]["services"][0]["status"];
    assert_eq!(dashboard["groups"][0]["services"][0]["id"], tile);
    assert!(status["last_checked_at"].is_string(), "{status}");
    assert!(status["last_latency_ms"].is_u64(), "{status}");
}

async fn a_check_run_on_request_is_stored_by_the_time_it_is_answered(backend: Backend) {
    let app = spawn_app(backend).await;
    let (url, status) = switchable_target().await;
    let tile = watched_tile(&app, &url).await;
    status.store(500, Ordering::SeqCst);
    for _ in 0..3 {
        let run = app
            .post(&format!("/api/v1/services/{tile}/check"), json!({}))
            .await;
        let checked_at = run.body["result"]["checked_at"].clone();
        // No waiting: what the answer reports is already what a read returns.
        let results = app.get(&format!("/api/v1/services/{tile}/results?limit=1")).await;
        assert_eq!(results.body[0]["checked_at"], checked_at, "{}", results.text);
        let service = app.get(&format!("/api/v1/services/{tile}")).await;
        assert_eq!(service.body["status"]["last_checked_at"], checked_at);
        assert_eq!(service.body["status"], run.body["status"]);
    }
    let open = app
        .get(&format!("/api/v1/incidents?service_id={tile}&open=true"))
        .await;
    assert_eq!(open.body.as_array().map(Vec::len), Some(1), "{}", open.text);
}

/// Pages hear of configuration changes (theirs, another tab's, another replica's) through the stream.
async fn configuration_changes_are_announced_on_the_event_stream(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut stream = app
        .client
        .get(format!("{}/api/v1/events", app.base))
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    app.group("Announced").await;
    while !seen.contains("\"kind\":\"config_changed\"") {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .expect("a config_changed event arrives after a group was made")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"service_id\":0"), "{seen}");
}

async fn reads_are_never_older_than_the_events_already_sent(backend: Backend) {
    // Results are stored only every minute here, so everything fresh comes from the engine.
    let app = App::on(backend)
        .flush_every(Duration::from_secs(60))
        .start()
        .await;
    let (url, _) = switchable_target().await;
    let mut stream = app
        .client
        .get(format!("{}/api/v1/events", app.base))
        .send()
        .await
        .unwrap();
    let group = app.group("Fresh").await;
    let tile = app
        .service(
            group,
            "Target",
            json!({ "url": url, "check": { "kind": "http", "interval_s": 3600 } }),
        )
        .await;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("\"state\":\"up\"") {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .expect("the first check's events arrive")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let stored = app.store.get_service(tile).await.unwrap();
    assert_eq!(
        stored.status.state.as_str(),
        "unknown",
        "not stored yet: the test shows the overlay"
    );

    let one = app.get(&format!("/api/v1/services/{tile}")).await;
    assert_eq!(one.body["status"]["state"], "up", "{}", one.text);
    assert!(one.body["status"]["last_checked_at"].is_string());
    let dashboard = app.get("/api/v1/dashboard").await;
    assert_eq!(
        dashboard.body["groups"][0]["services"][0]["status"],
        one.body["status"]
    );
    let listed = app.get("/api/v1/services").await;
    assert_eq!(listed.body["items"][0]["status"], one.body["status"]);

    // Paused is paused at once, whatever the engine saw before.
    let paused = app
        .post(&format!("/api/v1/services/{tile}/pause"), json!({}))
        .await;
    assert_eq!(paused.body["status"]["state"], "paused");
    assert_eq!(
        app.get(&format!("/api/v1/services/{tile}")).await.body["status"]["state"],
        "paused"
    );
}

async fn a_failing_target_goes_pending_then_down_and_back_up_with_an_incident(backend: Backend) {
    let app = spawn_app(backend).await;
    let (url, status) = switchable_target().await;
    let tile = watched_tile(&app, &url).await;
    let check = format!("/api/v1/services/{tile}/check");

    let up = app.post(&check, json!({})).await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.text);
    assert_eq!(up.body["result"]["ok"], true);
    assert_eq!(up.body["result"]["status_code"], 200);
    assert_eq!(up.body["status"]["state"], "up");

    status.store(500, Ordering::SeqCst);
    let pending = app.post(&check, json!({})).await;
    assert_eq!(
        pending.body["status"]["state"], "pending",
        "one retry allowed: {}",
        pending.text
    );
    assert_eq!(pending.body["result"]["error"], "status 500 is not in 200-299");
    let down = app.post(&check, json!({})).await;
    assert_eq!(down.body["status"]["state"], "down");
    let since_down = down.body["status"]["since"].clone();

    let open = eventually(&app, "/api/v1/incidents?open=true", |body| {
        body.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    assert_eq!(open[0]["service_id"], tile);
    assert_eq!(open[0]["cause"], "status 500 is not in 200-299");
    assert_eq!(open[0]["ended_at"], Value::Null);
    assert_eq!(open[0]["started_at"], since_down);

    status.store(200, Ordering::SeqCst);
    let back = app.post(&check, json!({})).await;
    assert_eq!(back.body["status"]["state"], "up");
    let closed = eventually(
        &app,
        &format!("/api/v1/incidents?service_id={tile}&open=false"),
        |body| body.as_array().is_some_and(|a| a.len() == 1),
    )
    .await;
    assert!(closed[0]["duration_s"].as_i64().is_some());

    let results = eventually(&app, &format!("/api/v1/services/{tile}/results"), |body| {
        body.as_array().is_some_and(|a| a.len() == 5)
    })
    .await;
    let oks: Vec<bool> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(
        oks,
        [true, false, false, true, true],
        "newest first, after the first scheduled check"
    );

    let stats = eventually(
        &app,
        &format!("/api/v1/services/{tile}/stats?window=24h"),
        |body| body["checks"] == 5,
    )
    .await;
    assert_eq!(stats["ok_checks"], 3);
    assert_eq!(stats["uptime_percent"], 60.0);
    assert_eq!(stats["series"].as_array().unwrap().len(), 24);
    assert!(stats["avg_latency_ms"].as_f64().is_some() && stats["p95_latency_ms"].as_f64().is_some());
    let year = app
        .get(&format!("/api/v1/services/{tile}/stats?window=365d&buckets=12"))
        .await;
    assert_eq!(
        (
            year.body["checks"].as_i64(),
            year.body["series"].as_array().map(Vec::len)
        ),
        (Some(5), Some(12))
    );

    let tile_now = app.get(&format!("/api/v1/services/{tile}")).await;
    assert_eq!(
        tile_now.body["status"]["state"], "up",
        "the stored status follows the engine"
    );

    // A tile that stops being watched while down is neither down nor in an open incident any more.
    status.store(500, Ordering::SeqCst);
    app.post(&check, json!({})).await;
    app.post(&check, json!({})).await;
    eventually(&app, "/api/v1/incidents?open=true", |body| {
        body.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let unwatched = app
        .patch(&format!("/api/v1/services/{tile}"), json!({ "check": null }))
        .await;
    assert_eq!(unwatched.status, StatusCode::OK);
    eventually(&app, &format!("/api/v1/services/{tile}"), |body| {
        body["status"]["state"] == "unknown"
    })
    .await;
    eventually(&app, "/api/v1/incidents?open=true", |body| {
        body.as_array().is_some_and(Vec::is_empty)
    })
    .await;
}

async fn paused_tiles_are_not_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let (url, _) = switchable_target().await;
    let tile = watched_tile(&app, &url).await;
    let paused = app
        .post(&format!("/api/v1/services/{tile}/pause"), json!({}))
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    assert_eq!(paused.body["status"]["state"], "paused");
    let refused = app
        .post(&format!("/api/v1/services/{tile}/check"), json!({}))
        .await;
    assert!(
        refused.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("resume")
    );
    let resumed = app
        .post(&format!("/api/v1/services/{tile}/resume"), json!({}))
        .await;
    assert_eq!(resumed.body["status"]["state"], "unknown");
    assert_eq!(
        app.post(&format!("/api/v1/services/{tile}/check"), json!({}))
            .await
            .body["status"]["state"],
        "up"
    );

    let group = app.group("Links").await;
    let link = app.service(group, "Just a link", json!({})).await;
    let no_check = app
        .post(&format!("/api/v1/services/{link}/check"), json!({}))
        .await;
    assert!(
        no_check.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("no check")
    );
    app.post("/api/v1/services/999999/check", json!({}))
        .await
        .problem(404);
    app.post("/api/v1/services/999999/pause", json!({}))
        .await
        .problem(404);
}

async fn monitoring_requests_are_validated(backend: Backend) {
    let app = spawn_app(backend).await;
    let (url, _) = switchable_target().await;
    let tile = watched_tile(&app, &url).await;
    assert_eq!(
        app.get(&format!("/api/v1/services/{tile}/stats?window=2d"))
            .await
            .invalid_fields(),
        ["window"]
    );
    assert_eq!(
        app.get(&format!("/api/v1/services/{tile}/stats?buckets=0"))
            .await
            .invalid_fields(),
        ["buckets"]
    );
    assert_eq!(
        app.get(&format!("/api/v1/services/{tile}/results?since=yesterday"))
            .await
            .invalid_fields(),
        ["since"]
    );
    assert_eq!(
        app.get(&format!("/api/v1/services/{tile}/results?limit=5000"))
            .await
            .invalid_fields(),
        ["limit"]
    );
    assert_eq!(
        app.get("/api/v1/incidents?open=perhaps").await.invalid_fields(),
        ["open"]
    );
    app.get("/api/v1/services/999999/stats").await.problem(404);
    app.get("/api/v1/services/999999/results").await.problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_results_and_state_changes_live() {
    let app = spawn_app(Backend::Sqlite).await;
    let (url, status) = switchable_target().await;
    let tile = watched_tile(&app, &url).await;
    let mut stream = app
        .client
        .get(format!("{}/api/v1/events?service_id={tile}", app.base))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    status.store(503, Ordering::SeqCst);
    let checker = {
        let (client, path) = (
            app.client.clone(),
            format!("{}/api/v1/services/{tile}/check", app.base),
        );
        tokio::spawn(async move {
            for _ in 0..2 {
                client.post(&path).send().await.unwrap();
            }
        })
    };
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(seen.contains("\"kind\":\"state_changed\"") && seen.contains("\"state\":\"down\"")) {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .expect("events arrive in time");
        seen.push_str(&String::from_utf8_lossy(
            &chunk.unwrap().expect("the stream stays open"),
        ));
    }
    checker.await.unwrap();
    assert!(seen.contains("\"kind\":\"result\""), "{seen}");
    assert!(seen.contains(&format!("\"service_id\":{tile}")));
    assert!(seen.contains("data: "), "server-sent event framing: {seen}");
}
