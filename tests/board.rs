//! The dashboard answered from memory (`api/board.rs`), on each store: it equals a whole read of the store,
//! an unchanged dashboard is answered 304 to its ETag, and every kind of change shows in the very next request.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{Backend, TestApp, spawn_app, switchable_target};
use homewatch::{
    model::{CheckResult, HistoryBatch, NewToken, Scope},
    tiles::{Sight, Tiles},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_every_store!(
    the_dashboard_from_memory_equals_a_whole_read,
    an_unchanged_dashboard_is_304_and_every_change_shows_at_once,
);

fn result(service_id: i64, hours_ago: i64, ok: bool, latency_ms: u32) -> CheckResult {
    CheckResult {
        service_id,
        checked_at: Utc::now() - homewatch::model::seconds(hours_ago * 3600),
        ok,
        latency_ms,
        status_code: Some(if ok { 200 } else { 503 }),
        error: (!ok).then(|| "status 503".to_owned()),
        maintenance: false,
        degraded: false,
        packet_loss_pct: None,
        certificate: None,
    }
}

async fn record(app: &TestApp, results: Vec<CheckResult>) {
    app.store
        .record_history(&HistoryBatch {
            results,
            ..Default::default()
        })
        .await
        .expect("record history");
}

/// A client with a read-only token: it sees secrets hidden.
async fn reader(app: &TestApp) -> reqwest::Client {
    let (admin, _) = app.admin.as_ref().expect("an admin");
    let token = app
        .access
        .create_token(
            admin,
            &NewToken {
                name: "reader".into(),
                scope: Scope::Read,
                expires_at: None,
            },
        )
        .await
        .expect("a read token");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", token.token).parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    etag: String,
    cache_control: String,
    body: Value,
}

async fn dashboard(app: &TestApp, client: &reqwest::Client, if_none_match: Option<&str>) -> Answer {
    let mut request = client.get(format!("{}/api/v1/dashboard", app.base));
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    let response = request.send().await.expect("GET /dashboard");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (status, etag, cache_control) = (response.status(), header("etag"), header("cache-control"));
    let text = response.text().await.unwrap();
    let body = match status {
        StatusCode::NOT_MODIFIED => {
            assert!(text.is_empty(), "a 304 has no body: {text}");
            Value::Null
        }
        _ => serde_json::from_str(&text).unwrap_or_else(|err| panic!("{status} {err}: {text}")),
    };
    Answer {
        status,
        etag,
        cache_control,
        body,
    }
}

async fn whole(app: &TestApp, sight: Sight) -> Value {
    let tiles = Tiles::new(app.store.clone(), app.engine.clone());
    let dashboard = tiles.dashboard_read_whole(sight).await.expect("a whole read");
    serde_json::to_value(poem_openapi::types::ToJSON::to_json(&dashboard)).unwrap()
}

async fn the_dashboard_from_memory_equals_a_whole_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let (url, _) = switchable_target().await;
    let home = app.group("Home \"quoted\" <b>").await;
    let media = app.group("Media").await;
    let _empty = app.group("Empty").await;
    let plain = app
        .service(
            home,
            "Plain",
            json!({ "tags": ["b", "a"], "description": "ünïcode ✓" }),
        )
        .await;
    let secret = app
        .service(
            home,
            "Secret",
            json!({
                "url": "https://user:pass@example.com/?token=abc",
                "check": { "kind": "http", "target": url, "interval_s": 3600,
                           "headers": { "Authorization": "Bearer s3cret" } }
            }),
        )
        .await;
    let watched = app
        .service(
            media,
            "Watched",
            json!({ "url": url, "check": { "kind": "http", "interval_s": 3600 } }),
        )
        .await;
    let paused = app
        .service(
            media,
            "Paused",
            json!({ "url": url, "check": { "kind": "http", "interval_s": 3600 } }),
        )
        .await;
    let paused_reply = app
        .post(&format!("/api/v1/services/{paused}/pause"), json!({}))
        .await;
    assert!(paused_reply.status.is_success(), "{}", paused_reply.text);
    record(
        &app,
        vec![
            result(plain, 0, true, 12),
            result(secret, 0, false, 0),
            result(watched, 5, true, 40),
            result(watched, 23, true, 20),
            result(watched, 30, true, 99),
        ],
    )
    .await;
    // The checks that run when a tile is made land in the engine first, in the store a moment later: wait
    // for both, so that nothing changes while the renderings are compared.
    for _ in 0..100 {
        let body = dashboard(&app, &app.client, None).await.body;
        let checked = |group: usize, tile: usize| {
            body["groups"][group]["services"][tile]["status"]["last_checked_at"].is_string()
        };
        if checked(0, 1) && checked(1, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let full = dashboard(&app, &app.client, None).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body, whole(&app, Sight::Full).await);
    let groups = full.body["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{}", full.body);
    assert_eq!(groups[2]["services"], json!([]));
    assert_eq!(groups[0]["name"], "Home \"quoted\" <b>");
    assert_eq!(
        groups[1]["services"][0]["latency_24h"].as_array().unwrap().len(),
        24
    );
    assert_eq!(groups[1]["services"][0]["latency_24h"][18], 40.0);
    assert_eq!(
        groups[0]["services"][1]["check"]["headers"]["Authorization"],
        "Bearer s3cret"
    );

    let reader = reader(&app).await;
    let redacted = dashboard(&app, &reader, None).await;
    assert_eq!(redacted.status, StatusCode::OK);
    assert_eq!(redacted.body, whole(&app, Sight::Redacted).await);
    assert_ne!(redacted.etag, full.etag, "each sight has its own tag");
    let text = redacted.body.to_string();
    assert!(
        !text.contains("s3cret") && !text.contains("pass@") && !text.contains("abc"),
        "{text}"
    );
    // The full rendering is still the same after the redacted one was made beside it.
    assert_eq!(dashboard(&app, &app.client, None).await.body, full.body);
    // Gzipped for clients that take it (made once per rendering), plain for those that refuse it.
    for (accept, gzipped) in [
        ("gzip", true),
        ("br;q=1, gzip;q=0.5", true),
        ("gzip;q=0, identity", false),
    ] {
        let response = app
            .client
            .get(format!("{}/api/v1/dashboard", app.base))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response
                .headers()
                .get("content-encoding")
                .is_some_and(|v| v == "gzip"),
            gzipped,
            "{accept}"
        );
        let bytes = response.bytes().await.unwrap();
        let text = match gzipped {
            true => {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
                    .unwrap();
                text
            }
            false => String::from_utf8(bytes.to_vec()).unwrap(),
        };
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            full.body,
            "{accept}"
        );
    }
}

async fn an_unchanged_dashboard_is_304_and_every_change_shows_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (url, _) = switchable_target().await;
    let group = app.group("Lab").await;
    let tile = app
        .service(
            group,
            "Watched",
            json!({ "url": url, "check": { "kind": "http", "interval_s": 3600 } }),
        )
        .await;
    // The first check runs when the tile is made; wait until it is in.
    let mut first = dashboard(&app, &app.client, None).await;
    for _ in 0..100 {
        if first.body["groups"][0]["services"][0]["status"]["last_checked_at"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        first = dashboard(&app, &app.client, None).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let first = dashboard(&app, &app.client, None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(
        first.etag.starts_with('"') && first.etag.ends_with('"'),
        "{}",
        first.etag
    );
    assert_eq!(first.cache_control, "private, no-cache");

    let same = dashboard(&app, &app.client, Some(&first.etag)).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert_eq!(same.etag, first.etag);
    let weak = dashboard(&app, &app.client, Some(&format!("\"other\", W/{}", first.etag))).await;
    assert_eq!(weak.status, StatusCode::NOT_MODIFIED);
    assert_eq!(
        dashboard(&app, &app.client, Some("\"other\"")).await.status,
        StatusCode::OK
    );
    let reader = reader(&app).await;
    assert_eq!(
        dashboard(&app, &reader, Some(&first.etag)).await.status,
        StatusCode::OK,
        "a reader is not told that the writer's rendering is current"
    );

    // A write through the API.
    let renamed = app
        .patch(&format!("/api/v1/services/{tile}"), json!({ "name": "Renamed" }))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let after_rename = dashboard(&app, &app.client, Some(&first.etag)).await;
    assert_eq!(after_rename.status, StatusCode::OK);
    assert_ne!(after_rename.etag, first.etag);
    assert_eq!(after_rename.body["groups"][0]["services"][0]["name"], "Renamed");
    let renamed_group = app
        .patch(&format!("/api/v1/groups/{group}"), json!({ "name": "Lab 2" }))
        .await;
    assert_eq!(renamed_group.status, StatusCode::OK, "{}", renamed_group.text);
    let after_group = dashboard(&app, &app.client, Some(&after_rename.etag)).await;
    assert_eq!(after_group.body["groups"][0]["name"], "Lab 2");

    // History written to the store: this hour, and a late result for an hour already shown.
    let uptime_before = after_group.body["groups"][0]["services"][0]["uptime_24h"].clone();
    record(&app, vec![result(tile, 0, false, 0)]).await;
    let after_result = dashboard(&app, &app.client, Some(&after_group.etag)).await;
    assert_eq!(after_result.status, StatusCode::OK);
    assert_ne!(
        after_result.body["groups"][0]["services"][0]["uptime_24h"],
        uptime_before
    );
    record(&app, vec![result(tile, 3, true, 77)]).await;
    let after_late = dashboard(&app, &app.client, Some(&after_result.etag)).await;
    assert_eq!(after_late.status, StatusCode::OK);
    assert_eq!(
        after_late.body["groups"][0]["services"][0]["latency_24h"][20],
        77.0
    );

    // A check the engine ran (its status shows before its batch is stored).
    let checked_before = after_late.body["groups"][0]["services"][0]["status"]["last_checked_at"].clone();
    let run = app
        .post(&format!("/api/v1/services/{tile}/check"), json!({}))
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.text);
    let after_check = dashboard(&app, &app.client, Some(&after_late.etag)).await;
    assert_eq!(after_check.status, StatusCode::OK);
    assert_ne!(
        after_check.body["groups"][0]["services"][0]["status"]["last_checked_at"],
        checked_before
    );

    // A maintenance window beginning.
    let window = app
        .post(
            "/api/v1/maintenance",
            json!({ "title": "Updates", "duration_min": 30, "groups": [group] }),
        )
        .await;
    assert_eq!(window.status, StatusCode::CREATED, "{}", window.text);
    let mut in_maintenance = dashboard(&app, &app.client, Some(&after_check.etag)).await;
    for _ in 0..40 {
        if in_maintenance.body["groups"][0]["services"][0]["status"]["state"] == "maintenance" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        in_maintenance = dashboard(&app, &app.client, None).await;
    }
    assert_eq!(
        in_maintenance.body["groups"][0]["services"][0]["status"]["state"],
        "maintenance"
    );

    // Deleting the tile.
    let deleted = app.delete(&format!("/api/v1/services/{tile}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let after_delete = dashboard(&app, &app.client, Some(&in_maintenance.etag)).await;
    assert_eq!(after_delete.body["groups"][0]["services"], json!([]));
    assert_eq!(after_delete.body, whole(&app, Sight::Full).await);
}
