//! Alerts end to end on each store, against local receivers that speak each provider's API and a real SMTP
//! server: every kind's message form, a tile driven down and up, a receiver that refuses for 30 s, flapping,
//! reminders, maintenance windows, the delivery log with "send again", and write-only secrets.

mod common;

use std::time::{Duration, Instant};

use common::{
    App, Backend, TestApp,
    receivers::{Receiver, SmtpSink},
    switchable_target, viewer_token,
};
use homewatch::{
    alerts::{AlertsConfig, Dispatcher},
    model::{Alert, AlertKind, AlertMemory, HistoryBatch, ServiceState, StatusUpdate},
    monitor::maintenance::MaintenanceBoard,
    monitor::{alerting::FlapRule, engine::EngineConfig},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_every_store!(
    every_kind_speaks_its_providers_api,
    a_tile_down_and_up_tells_each_channel_once_with_the_causes,
    a_receiver_that_refuses_for_30_s_gets_it_once_after_backoff,
    flapping_sends_one_message_and_holds_the_rest,
    reminders_come_once_per_interval_while_down,
    maintenance_holds_alerts_and_its_end_tells_only_a_changed_state,
    maintenance_time_is_left_out_of_uptime,
    secrets_are_write_only,
    channel_and_window_input_is_validated,
    a_hanging_provider_delays_no_check,
    two_dispatchers_on_one_database_deliver_each_alert_once,
);

fn fast_retries() -> AlertsConfig {
    AlertsConfig {
        retry_base: Duration::from_secs(1),
        attempt_timeout: Duration::from_secs(2),
        public_url: Some(url::Url::parse("https://home.example.org/").unwrap()),
        ..AlertsConfig::default()
    }
}

async fn channel(app: &TestApp, name: &str, settings: Value, extra: Value) -> i64 {
    let mut body = json!({ "name": name, "settings": settings, "all_tiles": true });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let reply = app.post("/api/v1/channels", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body["id"].as_i64().unwrap()
}

/// A tile checked only on request (every hour otherwise), down at the first failure.
async fn tile(app: &TestApp, group: i64, name: &str, url: &str) -> i64 {
    let tile = app
        .service(
            group,
            name,
            json!({ "url": url, "check": { "kind": "http", "retries": 0, "interval_s": 3600 } }),
        )
        .await;
    // Its first check runs right after it is created; wait for it so that checks below are ours.
    eventually(app, &format!("/api/v1/services/{tile}/results"), |body| {
        body.as_array().is_some_and(|results| !results.is_empty())
    })
    .await;
    tile
}

async fn check(app: &TestApp, tile: i64) -> Value {
    let reply = app
        .post(&format!("/api/v1/services/{tile}/check"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

async fn eventually(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
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

fn events(received: &[common::receivers::Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.body["event"].as_str().unwrap_or("?").to_owned())
        .collect()
}

async fn every_kind_speaks_its_providers_api(backend: Backend) {
    let app = App::on(backend).alerts(fast_retries()).start().await;
    let receiver = Receiver::start().await;
    let smtp = SmtpSink::start().await;
    let base = &receiver.base;
    let kinds = [
        (
            "webhook",
            json!({ "kind": "webhook", "url": format!("{base}/hooks/homewatch"), "secret": "hmac-secret",
                             "headers": { "X-Api-Key": "k-123" } }),
        ),
        (
            "ntfy",
            json!({ "kind": "ntfy", "server_url": base, "topic": "homelab", "token": "tk_ntfy", "priority": 5 }),
        ),
        (
            "discord",
            json!({ "kind": "discord", "webhook_url": format!("{base}/api/webhooks/1/discord-token") }),
        ),
        (
            "slack",
            json!({ "kind": "slack", "webhook_url": format!("{base}/services/T0/B0/slack-token") }),
        ),
        (
            "gotify",
            json!({ "kind": "gotify", "server_url": base, "token": "gotify-app-token" }),
        ),
        (
            "telegram",
            json!({ "kind": "telegram", "server_url": base, "bot_token": "123456:ABC-telegram", "chat_id": "-100200" }),
        ),
        (
            "pushover",
            json!({ "kind": "pushover", "server_url": base, "app_token": "po-app", "user_key": "po-user" }),
        ),
        (
            "matrix",
            json!({ "kind": "matrix", "homeserver_url": base, "access_token": "syt_matrix", "room_id": "!room:example.org" }),
        ),
        (
            "apprise",
            json!({ "kind": "apprise", "server_url": base, "key": "homelab", "tag": "ops" }),
        ),
        (
            "email",
            json!({ "kind": "email", "host": "127.0.0.1", "port": smtp.port, "security": "none",
                           "from": "Homewatch <homewatch@example.org>", "to": ["ops@example.org", "me@example.org"] }),
        ),
    ];
    for (kind, settings) in &kinds {
        let id = channel(&app, kind, settings.clone(), json!({})).await;
        let reply = app.post(&format!("/api/v1/channels/{id}/test"), json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["ok"], true, "{kind}: {}", reply.text);
    }
    let got = receiver.accepted();
    let find = |prefix: &str| {
        got.iter()
            .find(|r| r.path.starts_with(prefix))
            .unwrap_or_else(|| panic!("nothing at {prefix}: {got:#?}"))
            .clone()
    };
    // Webhook: versioned JSON, idempotency key in header and body, HMAC over "timestamp.body", custom header.
    let hook = find("/hooks/homewatch");
    assert_eq!(hook.method, "POST");
    assert_eq!(hook.body["version"], 1);
    assert_eq!(hook.body["event"], "test");
    assert_eq!(hook.header("x-homewatch-delivery"), hook.body["id"].as_str());
    assert_eq!(hook.header("x-api-key"), Some("k-123"));
    let signed = format!(
        "{}.{}",
        hook.header("x-homewatch-timestamp").unwrap(),
        String::from_utf8_lossy(&hook.raw)
    );
    assert_eq!(
        hook.header("x-homewatch-signature").unwrap(),
        format!("sha256={}", hmac_hex(b"hmac-secret", signed.as_bytes()))
    );
    // ntfy: JSON publish to the server root with topic, priority, tags and auth.
    let ntfy = got.iter().find(|r| r.path == "/").expect("ntfy publish");
    assert_eq!(ntfy.body["topic"], "homelab");
    assert_eq!(ntfy.header("authorization"), Some("Bearer tk_ntfy"));
    assert!(
        ntfy.body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "information_source")
    );
    // Discord: an embed; Slack: blocks.
    let discord = find("/api/webhooks/1/discord-token");
    assert_eq!(discord.body["embeds"][0]["title"], "Homewatch test message");
    assert!(discord.body["embeds"][0]["color"].is_u64());
    let slack = find("/services/T0/B0/slack-token");
    assert_eq!(slack.body["blocks"][0]["type"], "header");
    // Gotify: the app token in its header.
    let gotify = find("/message");
    assert_eq!(gotify.header("x-gotify-key"), Some("gotify-app-token"));
    assert!(gotify.body["priority"].is_u64());
    // Telegram: the bot token in the path, HTML parse mode.
    let telegram = find("/bot123456:ABC-telegram/sendMessage");
    assert_eq!(telegram.body["chat_id"], "-100200");
    assert_eq!(telegram.body["parse_mode"], "HTML");
    // Pushover: token and user in the body.
    let pushover = find("/1/messages.json");
    assert_eq!(
        (pushover.body["token"].as_str(), pushover.body["user"].as_str()),
        (Some("po-app"), Some("po-user"))
    );
    // Matrix: PUT with the transaction id, the room id encoded, bearer token, HTML body.
    let matrix = find("/_matrix/client/v3/rooms/");
    assert_eq!(matrix.method, "PUT");
    assert!(
        matrix
            .path
            .starts_with("/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/hw%3Atest%3A"),
        "{}",
        matrix.path
    );
    assert_eq!(matrix.header("authorization"), Some("Bearer syt_matrix"));
    assert_eq!(matrix.body["format"], "org.matrix.custom.html");
    // Apprise: the stored configuration's key, type and tag.
    let apprise = find("/notify/homelab");
    assert_eq!(
        (apprise.body["type"].as_str(), apprise.body["tag"].as_str()),
        (Some("info"), Some("ops"))
    );
    // Email: a real SMTP conversation, both recipients, subject, plain and HTML parts.
    let mails = smtp.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mails[0].to, ["<ops@example.org>", "<me@example.org>"]);
    assert!(
        mails[0].data.contains("Subject: Homewatch test message"),
        "{}",
        mails[0].data
    );
    assert!(
        mails[0].data.contains("text/plain") && mails[0].data.contains("text/html"),
        "{}",
        mails[0].data
    );
    assert_eq!(got.len(), 9, "one request per HTTP kind: {got:#?}");

    // A provider that refuses a test says so, with its reply.
    receiver.refuse(true);
    let id = channel(
        &app,
        "refused",
        json!({ "kind": "slack", "webhook_url": format!("{base}/services/x") }),
        json!({}),
    )
    .await;
    let reply = app.post(&format!("/api/v1/channels/{id}/test"), json!({})).await;
    assert_eq!(reply.body["ok"], false, "{}", reply.text);
    assert_eq!(reply.body["status_code"], 503, "{}", reply.text);
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("down for maintenance"),
        "{}",
        reply.text
    );
}

fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn a_tile_down_and_up_tells_each_channel_once_with_the_causes(backend: Backend) {
    let app = App::on(backend).alerts(fast_retries()).start().await;
    let receiver = Receiver::start().await;
    let (url, status) = switchable_target().await;
    let group = app.group("Media").await;
    let webhook = channel(
        &app,
        "hook",
        json!({ "kind": "webhook", "url": format!("{}/hook", receiver.base) }),
        json!({}),
    )
    .await;
    let ntfy = channel(
        &app,
        "phone",
        json!({ "kind": "ntfy", "server_url": format!("{}/ntfy", receiver.base), "topic": "media" }),
        json!({ "all_tiles": false, "groups": [group] }),
    )
    .await;
    // A channel for another group hears nothing of this tile.
    let other = app.group("Other").await;
    channel(
        &app,
        "elsewhere",
        json!({ "kind": "webhook", "url": format!("{}/elsewhere", receiver.base) }),
        json!({ "all_tiles": false, "groups": [other] }),
    )
    .await;
    let tile = tile(&app, group, "Jellyfin", &url).await;
    assert!(
        receiver.received().is_empty(),
        "a first check that finds the tile up tells nobody"
    );

    status.store(500, std::sync::atomic::Ordering::SeqCst);
    check(&app, tile).await;
    check(&app, tile).await; // still down: nothing new
    let got = receiver
        .wait_until(Duration::from_secs(10), "two down alerts", |got| got.len() >= 2)
        .await;
    let hook = got.iter().find(|r| r.path == "/hook").unwrap();
    assert_eq!(hook.body["event"], "down");
    assert_eq!(hook.body["service"]["name"], "Jellyfin");
    assert_eq!(hook.body["service"]["group"], "Media");
    assert_eq!(hook.body["cause"], "status 500 is not in 200-299");
    assert_eq!(
        hook.body["link"],
        format!("https://home.example.org/services/{tile}")
    );
    let phone = got.iter().find(|r| r.path == "/ntfy").unwrap();
    assert!(
        phone.body["message"]
            .as_str()
            .unwrap()
            .contains("status 500 is not in 200-299"),
        "{}",
        phone.body
    );
    assert_eq!(phone.body["priority"], 4);

    tokio::time::sleep(Duration::from_millis(1500)).await; // the downtime is a second or more
    status.store(200, std::sync::atomic::Ordering::SeqCst);
    check(&app, tile).await;
    let got = receiver
        .wait_until(Duration::from_secs(10), "two up alerts", |got| got.len() >= 4)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got_now = receiver.accepted();
    assert_eq!(
        got_now.len(),
        4,
        "exactly one down and one up per channel: {:?}",
        events(&got_now)
    );
    let up = got
        .iter()
        .find(|r| r.path == "/hook" && r.body["event"] == "up")
        .unwrap();
    assert!(up.body["downtime_s"].as_i64().unwrap() >= 1, "{}", up.body);
    assert!(
        up.body["message"].as_str().unwrap().contains("after"),
        "{}",
        up.body
    );
    assert!(receiver.received().iter().all(|r| r.path != "/elsewhere"));

    // The log shows each, delivered at the first attempt, per channel and per tile.
    let log = app.get(&format!("/api/v1/notifications?service_id={tile}")).await;
    let log = log.body.as_array().unwrap().clone();
    assert_eq!(log.len(), 4, "{log:#?}");
    assert!(
        log.iter()
            .all(|n| n["status"] == "delivered" && n["attempts"].as_array().unwrap().len() == 1)
    );
    let to_phone = app.get(&format!("/api/v1/notifications?channel_id={ntfy}")).await;
    assert_eq!(to_phone.body.as_array().unwrap().len(), 2);
    let first = &log[3];
    assert_eq!(
        (first["event"].as_str(), first["cause"].as_str()),
        (Some("down"), Some("status 500 is not in 200-299"))
    );
    assert_eq!(first["attempts"][0]["status_code"], 200);

    // Send again: a new entry, delivered with a key of its own; a pending one cannot be sent again.
    let again = app
        .post(
            &format!("/api/v1/notifications/{}/resend", first["id"]),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_ne!(again.body["idempotency_key"], first["idempotency_key"]);
    receiver
        .wait_until(Duration::from_secs(10), "the repeat", |got| got.len() >= 5)
        .await;
    let _ = webhook;
    assert_eq!(
        app.post("/api/v1/notifications/999999/resend", json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn a_receiver_that_refuses_for_30_s_gets_it_once_after_backoff(backend: Backend) {
    let app = App::on(backend).alerts(fast_retries()).start().await;
    let receiver = Receiver::start().await;
    let (url, status) = switchable_target().await;
    let group = app.group("G").await;
    channel(
        &app,
        "hook",
        json!({ "kind": "webhook", "url": format!("{}/hook", receiver.base) }),
        json!({}),
    )
    .await;
    let tile = tile(&app, group, "NAS", &url).await;
    receiver.refuse(true);
    let refused_at = Instant::now();
    status.store(500, std::sync::atomic::Ordering::SeqCst);
    check(&app, tile).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    receiver.refuse(false);
    let got = receiver
        .wait_until(Duration::from_secs(40), "the down alert", |got| !got.is_empty())
        .await;
    let delivered_after = refused_at.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.accepted().len(), 1, "delivered once");
    let key = got[0].header("x-homewatch-delivery").unwrap().to_owned();
    let tries = receiver.received();
    assert!(
        tries
            .iter()
            .all(|r| r.header("x-homewatch-delivery") == Some(key.as_str())),
        "one key throughout"
    );
    let log = app.get(&format!("/api/v1/notifications?service_id={tile}")).await;
    let entry = &log.body[0];
    let attempts = entry["attempts"].as_array().unwrap();
    assert_eq!(entry["status"], "delivered");
    assert_eq!(
        attempts.len(),
        tries.len(),
        "every attempt is in the log: {entry:#}"
    );
    assert!(
        attempts.len() >= 4 && attempts.len() <= 8,
        "backoff, not hammering: {} attempts",
        attempts.len()
    );
    assert!(
        attempts[..attempts.len() - 1]
            .iter()
            .all(|a| a["ok"] == false && a["status_code"] == 503)
    );
    assert!(attempts.last().unwrap()["ok"] == true);
    // The gaps double (the dispatcher looks once a second, so each may be up to a second longer).
    let gaps: Vec<f64> = tries
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64())
        .collect();
    assert!(
        gaps.windows(2).all(|g| g[1] + 1.2 >= g[0] * 1.8),
        "gaps double: {gaps:?}"
    );
    assert!(gaps.last().unwrap() >= &(gaps[0] * 6.0), "gaps double: {gaps:?}");
    println!(
        "refused for 30 s: {} attempts, delivered {:.1} s after the state change, gaps {:?}",
        attempts.len(),
        delivered_after.as_secs_f64(),
        gaps.iter().map(|g| format!("{g:.1}")).collect::<Vec<_>>()
    );
}

async fn flapping_sends_one_message_and_holds_the_rest(backend: Backend) {
    let engine = EngineConfig {
        flap: FlapRule {
            changes: 3,
            window: Duration::from_secs(60),
        },
        ..EngineConfig::default()
    };
    let app = App::on(backend)
        .alerts(fast_retries())
        .engine(engine)
        .start()
        .await;
    let receiver = Receiver::start().await;
    let (url, status) = switchable_target().await;
    let group = app.group("G").await;
    channel(
        &app,
        "hook",
        json!({ "kind": "webhook", "url": format!("{}/hook", receiver.base) }),
        json!({}),
    )
    .await;
    let tile = tile(&app, group, "Router", &url).await;
    for step in 0..12 {
        status.store(
            if step % 2 == 0 { 500 } else { 200 },
            std::sync::atomic::Ordering::SeqCst,
        );
        check(&app, tile).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Deliveries to one channel run in parallel, so they may arrive out of order: put them in the order of
    // the states they tell of.
    let mut got = receiver.accepted();
    got.sort_by_key(|r| {
        chrono::DateTime::parse_from_rfc3339(r.body["since"].as_str().unwrap_or_default())
            .map(|t| t.timestamp_micros())
            .unwrap_or_default()
    });
    assert_eq!(
        events(&got),
        ["down", "up", "down", "flapping"],
        "three alerts, one flapping message, then nothing"
    );
    let flapping = got.last().unwrap();
    assert!(
        flapping.body["message"]
            .as_str()
            .unwrap()
            .contains("4 times in 1 minutes"),
        "{}",
        flapping.body
    );
}

async fn reminders_come_once_per_interval_while_down(backend: Backend) {
    let app = App::on(backend).alerts(fast_retries()).start().await;
    let receiver = Receiver::start().await;
    let (url, status) = switchable_target().await;
    let group = app.group("G").await;
    channel(
        &app,
        "hook",
        json!({ "kind": "webhook", "url": format!("{}/hook", receiver.base) }),
        json!({ "remind_every_min": 5 }),
    )
    .await;
    let tile = tile(&app, group, "Backup", &url).await;
    status.store(500, std::sync::atomic::Ordering::SeqCst);
    let run = check(&app, tile).await;
    receiver
        .wait_until(Duration::from_secs(10), "the down alert", |got| got.len() == 1)
        .await;
    // Pretend it went down eleven minutes ago: the second reminder slot has come (5 and 10 minutes).
    let since = chrono::Utc::now() - chrono::TimeDelta::try_minutes(11).unwrap();
    app.store
        .record_history(&HistoryBatch {
            statuses: vec![StatusUpdate {
                service_id: tile,
                state: ServiceState::Down,
                since,
                last_checked_at: Some(since),
                last_latency_ms: Some(1),
                last_error: run["result"]["error"].as_str().map(str::to_owned),
                certificate: None,
                failures: 1,
                memory: AlertMemory {
                    alerted: Some(ServiceState::Down),
                    alerted_since: Some(since),
                    flapping_since: None,
                    cert_warned: None,
                },
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let got = receiver
        .wait_until(Duration::from_secs(20), "a reminder", |got| got.len() == 2)
        .await;
    let reminder = &got[1];
    assert_eq!(reminder.body["event"], "reminder");
    assert!(
        reminder.body["title"].as_str().unwrap().contains("still down"),
        "{}",
        reminder.body
    );
    assert!(
        reminder.body["downtime_s"].as_i64().unwrap() >= 660,
        "{}",
        reminder.body
    );
    // The dispatcher looks again every 10 s: the same slot is never sent twice.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(receiver.accepted().len(), 2, "one reminder per interval");
}

async fn maintenance_holds_alerts_and_its_end_tells_only_a_changed_state(backend: Backend) {
    let app = App::on(backend).alerts(fast_retries()).start().await;
    let receiver = Receiver::start().await;
    let (url, status) = switchable_target().await;
    let group = app.group("G").await;
    channel(
        &app,
        "hook",
        json!({ "kind": "webhook", "url": format!("{}/hook", receiver.base) }),
        json!({}),
    )
    .await;
    let tile = tile(&app, group, "Proxmox", &url).await;
    let set = |code: u16| status.store(code, std::sync::atomic::Ordering::SeqCst);

    // Down and back up inside a window: nothing, before or after it.
    let window = app
        .post(
            "/api/v1/maintenance",
            json!({ "title": "Updates", "duration_min": 30, "groups": [group] }),
        )
        .await;
    assert_eq!(window.status, StatusCode::CREATED, "{}", window.text);
    assert_eq!(window.body["active"], true, "{}", window.text);
    eventually(&app, &format!("/api/v1/services/{tile}"), |body| {
        body["status"]["state"] == "maintenance"
    })
    .await;
    set(500);
    let run = check(&app, tile).await;
    assert_eq!(run["result"]["maintenance"], true, "{run}");
    set(200);
    check(&app, tile).await;
    let gone = app
        .delete(&format!("/api/v1/maintenance/{}", window.body["id"]))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    eventually(&app, &format!("/api/v1/services/{tile}"), |body| {
        body["status"]["state"] == "up"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        receiver.received().is_empty(),
        "nothing during the window, nothing at its end: {:?}",
        events(&receiver.received())
    );

    // Down inside a window and still down when it ends: told then, once.
    let window = app
        .post(
            "/api/v1/maintenance",
            json!({ "title": "Updates", "duration_min": 30, "services": [tile] }),
        )
        .await;
    eventually(&app, &format!("/api/v1/services/{tile}"), |body| {
        body["status"]["state"] == "maintenance"
    })
    .await;
    set(500);
    check(&app, tile).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(receiver.received().is_empty());
    app.delete(&format!("/api/v1/maintenance/{}", window.body["id"]))
        .await;
    let got = receiver
        .wait_until(
            Duration::from_secs(10),
            "the down alert after the window",
            |got| !got.is_empty(),
        )
        .await;
    assert_eq!(events(&got), ["down"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.accepted().len(), 1);
}

async fn maintenance_time_is_left_out_of_uptime(backend: Backend) {
    let app = App::on(backend).start().await;
    let (url, status) = switchable_target().await;
    let group = app.group("G").await;
    let tile = tile(&app, group, "Wiki", &url).await; // one good check
    let window = app
        .post(
            "/api/v1/maintenance",
            json!({ "title": "Move", "duration_min": 10, "all_tiles": true }),
        )
        .await;
    assert_eq!(window.status, StatusCode::CREATED, "{}", window.text);
    eventually(&app, &format!("/api/v1/services/{tile}"), |body| {
        body["status"]["state"] == "maintenance"
    })
    .await;
    status.store(500, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..3 {
        check(&app, tile).await;
    }
    let stats = app
        .get(&format!("/api/v1/services/{tile}/stats?window=24h"))
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
    assert_eq!(
        stats.body["checks"], 1,
        "only the check outside the window counts: {}",
        stats.text
    );
    assert_eq!(stats.body["uptime_percent"], 100.0, "{}", stats.text);
    let results = app.get(&format!("/api/v1/services/{tile}/results")).await;
    assert_eq!(results.body.as_array().unwrap().len(), 4, "every result is kept");
    // The dashboard marks the tile too.
    let dashboard = app.get("/api/v1/dashboard").await;
    assert_eq!(
        dashboard.body["groups"][0]["services"][0]["status"]["state"],
        "maintenance"
    );
}

async fn secrets_are_write_only(backend: Backend) {
    let app = App::on(backend).start().await;
    let receiver = Receiver::start().await;
    let id = channel(
        &app,
        "bot",
        json!({ "kind": "telegram", "server_url": receiver.base, "bot_token": "123:SECRET-bot-token", "chat_id": "42" }),
        json!({}),
    )
    .await;
    let hook = channel(
        &app,
        "hook",
        json!({ "kind": "discord", "webhook_url": format!("{}/api/webhooks/9/SECRET-path", receiver.base) }),
        json!({}),
    )
    .await;
    let (_, viewer) = viewer_token(&app, "viewer").await;
    let as_admin = app.get("/api/v1/channels").await.text;
    let as_viewer = reqwest::Client::new()
        .get(format!("{}/api/v1/channels", app.base))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for text in [as_admin, as_viewer] {
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("(hidden)"), "{text}");
    }
    let shown = app.get(&format!("/api/v1/channels/{hook}")).await;
    assert_eq!(
        shown.body["settings"]["webhook_url"],
        format!("{}/(hidden)", receiver.base)
    );
    // Sent back masked, a secret stays what it was: the test message still carries the real token.
    let mut settings = app.get(&format!("/api/v1/channels/{id}")).await.body["settings"].clone();
    settings["chat_id"] = json!("43");
    let patched = app
        .patch(&format!("/api/v1/channels/{id}"), json!({ "settings": settings }))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["settings"]["bot_token"], "(hidden)");
    let test = app.post(&format!("/api/v1/channels/{id}/test"), json!({})).await;
    assert_eq!(test.body["ok"], true, "{}", test.text);
    let sent = receiver.accepted();
    assert_eq!(sent[0].path, "/bot123:SECRET-bot-token/sendMessage");
    assert_eq!(sent[0].body["chat_id"], "43");
    // A provider's error never quotes the secret back in the answer.
    receiver.refuse(true);
    let test = app.post(&format!("/api/v1/channels/{id}/test"), json!({})).await;
    assert!(!test.text.contains("SECRET"), "{}", test.text);
    // A mask where nothing is stored is refused, naming the field; viewers cannot change or test channels.
    let orphan = app
        .post("/api/v1/channels", json!({ "name": "x", "settings": { "kind": "gotify", "server_url": receiver.base, "token": "(hidden)" } }))
        .await;
    assert_eq!(orphan.invalid_fields(), ["settings.token"]);
    let as_viewer = reqwest::Client::new()
        .post(format!("{}/api/v1/channels/{id}/test", app.base))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(as_viewer.status(), StatusCode::FORBIDDEN);
}

async fn channel_and_window_input_is_validated(backend: Backend) {
    let app = spawn(backend).await;
    let fields = |reply: common::Reply| reply.invalid_fields();
    let bad = |settings: Value| json!({ "name": "bad", "settings": settings });
    assert_eq!(
        fields(
            app.post(
                "/api/v1/channels",
                bad(json!({ "kind": "webhook", "url": "htp:/typo" }))
            )
            .await
        ),
        ["settings.url"]
    );
    assert_eq!(
        fields(
            app.post("/api/v1/channels", bad(json!({ "kind": "ntfy", "topic": "a b" })))
                .await
        ),
        ["settings.topic"]
    );
    assert_eq!(
        fields(
            app.post("/api/v1/channels", bad(json!({ "kind": "pager" })))
                .await
        )
        .len(),
        1
    );
    assert_eq!(
        fields(
            app.post(
                "/api/v1/channels",
                bad(
                    json!({ "kind": "email", "host": "smtp.example.org", "security": "tls",
            "from": "not an address", "to": [] })
                )
            )
            .await
        ),
        ["settings.from", "settings.to"]
    );
    assert_eq!(
        fields(
            app.post(
                "/api/v1/channels",
                bad(json!({ "kind": "matrix", "homeserver_url": "https://m.org",
            "access_token": "t", "room_id": "general" }))
            )
            .await
        ),
        ["settings.room_id"]
    );
    let reminder = json!({ "name": "r", "settings": { "kind": "slack", "webhook_url": "https://hooks.slack.com/x" }, "remind_every_min": 1 });
    assert_eq!(
        fields(app.post("/api/v1/channels", reminder).await),
        ["remind_every_min"]
    );
    let unknown_group = json!({ "name": "g", "settings": { "kind": "slack", "webhook_url": "https://hooks.slack.com/x" }, "groups": [987654] });
    let reply = app.post("/api/v1/channels", unknown_group).await;
    assert_eq!(reply.invalid_fields(), ["groups"]);
    assert!(reply.text.contains("987654"), "{}", reply.text);
    let ok =
        json!({ "name": "Ops", "settings": { "kind": "slack", "webhook_url": "https://hooks.slack.com/x" } });
    assert_eq!(
        app.post("/api/v1/channels", ok.clone()).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.post("/api/v1/channels", ok).await.problem(409)["errors"][0]["field"],
        "name"
    );
    assert_eq!(
        app.get("/api/v1/channels/424242").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post("/api/v1/channels/424242/test", json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    let unknown_status = app.get("/api/v1/notifications?status=lost").await;
    assert!(unknown_status.status.is_client_error(), "{}", unknown_status.text);

    let window = |body: Value| async { app.post("/api/v1/maintenance", body).await };
    assert_eq!(
        fields(window(json!({ "title": "w", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2025-01-01T00:00:00Z", "all_tiles": true })).await),
        ["ends_at"]
    );
    assert_eq!(
        fields(
            window(
                json!({ "title": "w", "duration_min": 10, "timezone": "Mars/Olympus", "all_tiles": true })
            )
            .await
        ),
        ["timezone"]
    );
    assert_eq!(
        fields(
            window(json!({ "title": "w", "duration_min": 10, "rrule": "FREQ=MINUTELY", "all_tiles": true }))
                .await
        ),
        ["rrule"]
    );
    assert_eq!(
        fields(window(json!({ "title": "w", "duration_min": 10 })).await),
        ["all_tiles"]
    );
    let ancient = window(json!({ "title": "w", "duration_min": 10, "starts_at": "-999999-01-01T00:00:00Z", "all_tiles": true })).await;
    assert_eq!(
        ancient.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        ancient.text
    );
    let recurring = window(
        json!({ "title": "Patch night", "starts_at": "2026-10-18T07:00:00Z", "duration_min": 60,
        "rrule": "FREQ=WEEKLY;BYDAY=SU", "timezone": "Europe/Berlin", "all_tiles": true }),
    )
    .await;
    assert_eq!(recurring.status, StatusCode::CREATED, "{}", recurring.text);
    assert_eq!(recurring.body["timezone"], "Europe/Berlin");
    // Its next occurrence is at 09:00 Berlin time, whatever the season.
    let next: chrono::DateTime<chrono::Utc> = recurring.body["current_or_next_start"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let local = next.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(local.format("%a %H:%M").to_string(), "Sun 09:00", "{next}");
}

async fn spawn(backend: Backend) -> TestApp {
    App::on(backend).start().await
}

/// A provider that never answers holds its deliveries for their timeout, and nothing else: checks keep their
/// schedule.
async fn a_hanging_provider_delays_no_check(backend: Backend) {
    let app = App::on(backend).alerts(fast_retries()).start().await;
    let receiver = Receiver::start().await;
    receiver.hang();
    let (url, status) = switchable_target().await;
    let group = app.group("G").await;
    channel(
        &app,
        "hook",
        json!({ "kind": "webhook", "url": format!("{}/hook", receiver.base) }),
        json!({}),
    )
    .await;
    let mut tiles = Vec::new();
    for n in 0..5 {
        tiles.push(tile(&app, group, &format!("T{n}"), &url).await);
    }
    status.store(500, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    for tile in &tiles {
        check(&app, *tile).await;
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "five checks took {took:?} while the provider hung"
    );
    // The attempts time out (2 s) and are logged as such.
    let log = eventually(&app, "/api/v1/notifications", |body| {
        body.as_array().is_some_and(|all| {
            all.len() == 5 && all.iter().all(|n| !n["attempts"].as_array().unwrap().is_empty())
        })
    })
    .await;
    assert!(
        log[0]["attempts"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("no answer within"),
        "{log:#}"
    );
}

/// Two processes on one database (replicas): each claims rows the other does not hold, so every alert is
/// delivered once. On PostgreSQL the claim skips rows locked by the other (`FOR UPDATE SKIP LOCKED`).
async fn two_dispatchers_on_one_database_deliver_each_alert_once(backend: Backend) {
    let app = App::on(backend).alerts(fast_retries()).start().await;
    let receiver = Receiver::start().await;
    let group = app.group("G").await;
    let tile = app.service(group, "Busy", json!({})).await;
    channel(
        &app,
        "hook",
        json!({ "kind": "webhook", "url": format!("{}/hook", receiver.base) }),
        json!({}),
    )
    .await;
    // A second server's dispatcher: its own pool on the same database.
    let other_store = app.db.open().await;
    let other_wake = std::sync::Arc::new(tokio::sync::Notify::new());
    let other = Dispatcher::start(
        other_store,
        fast_retries(),
        other_wake.clone(),
        std::sync::Arc::new(MaintenanceBoard::default()),
    )
    .unwrap();
    let start = chrono::Utc::now() - chrono::TimeDelta::try_hours(10).unwrap();
    let alerts: Vec<Alert> = (0..300)
        .map(|n| Alert {
            service_id: tile,
            kind: if n % 2 == 0 {
                AlertKind::Down
            } else {
                AlertKind::Up
            },
            at: start + chrono::TimeDelta::try_seconds(n).unwrap(),
            since: start + chrono::TimeDelta::try_seconds(n).unwrap(),
            cause: Some("test".into()),
            downtime_s: None,
            changes: None,
            window_min: None,
            reminder: None,
        })
        .collect();
    app.store
        .record_history(&HistoryBatch {
            alerts,
            ..Default::default()
        })
        .await
        .unwrap();
    app.engine.alerts_stored().notify_one();
    other_wake.notify_one();
    receiver
        .wait_until(Duration::from_secs(60), "300 alerts", |got| got.len() >= 300)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let accepted = receiver.accepted();
    let mut keys: Vec<&str> = accepted
        .iter()
        .filter_map(|r| r.header("x-homewatch-delivery"))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let (_, ours) = app.deliveries();
    let theirs = other
        .metrics()
        .delivered
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "two dispatchers: {ours} and {theirs} of {} deliveries, {} keys",
        accepted.len(),
        keys.len()
    );
    assert_eq!(
        (accepted.len(), keys.len()),
        (300, 300),
        "each alert exactly once"
    );
    assert_eq!(ours + theirs, 300);
    assert!(ours > 0 && theirs > 0, "both took part: {ours} and {theirs}");
    other.stop().await;
}
