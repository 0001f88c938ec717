//! The kinds of check beyond http, keyword, tcp and dns, against real local parts: a TLS server on loopback
//! showing certificates made in the test (by a test CA, expiring in 3, 10 and 60 days, expired, for another
//! host), JSON endpoints, ICMP echo to 127.0.0.1, and the `degraded` state through the API and alerts.

mod common;

use std::time::Duration;

use common::{
    App, Backend,
    receivers::Receiver,
    tls::{CA_NAME, TestCa, tls_server},
};
use homewatch::{model::Check, monitor::probe::Prober};
use poem::{
    Route, get, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::Json,
};
use serde_json::{Value, json};

fn check(spec: Value) -> Check {
    Check::from_json(spec, None).unwrap_or_else(|errors| panic!("{errors:?}"))
}

fn days(n: i64) -> time::Duration {
    // An hour more, so that whole days left are exactly `n` however long the test takes.
    time::Duration::days(n) + time::Duration::hours(1)
}

#[tokio::test]
async fn tls_checks_read_days_left_and_say_what_is_wrong() {
    let ca = TestCa::new();
    let prober = Prober::trusting(Some(ca.pem.as_bytes())).unwrap();
    let sixty = tls_server(ca.leaf(&["localhost"], days(60))).await;
    let ten = tls_server(ca.leaf(&["localhost"], days(10))).await;
    let three = tls_server(ca.leaf(&["localhost"], days(3))).await;
    let expired = tls_server(ca.leaf(&["localhost"], -time::Duration::days(2))).await;
    let other_host = tls_server(ca.leaf(&["nas.example.lan", "backup.example.lan"], days(60))).await;
    let tls = |port: u16, extra: Value| {
        let mut spec = json!({ "kind": "tls", "target": format!("localhost:{port}") });
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        check(spec)
    };

    let fine = prober.run(&tls(sixty.port(), json!({})), "").await;
    assert!(fine.ok && !fine.degraded, "{fine:?}");
    let cert = fine.certificate.expect("the certificate is read");
    assert_eq!(
        (cert.days_left, cert.issuer.as_str(), cert.subject.as_str()),
        (60, CA_NAME, "localhost")
    );

    let soon = prober.run(&tls(ten.port(), json!({})), "").await;
    assert!(
        soon.ok && soon.degraded,
        "10 days is below the default 14: {soon:?}"
    );
    let reason = soon.error.clone().unwrap();
    assert!(
        reason.starts_with("the certificate expires in 10 days (on "),
        "{reason}"
    );
    let relaxed = prober
        .run(&tls(ten.port(), json!({ "cert_warn_days": 7 })), "")
        .await;
    assert!(
        relaxed.ok && !relaxed.degraded,
        "the threshold is per tile: {relaxed:?}"
    );
    let never = prober
        .run(&tls(three.port(), json!({ "cert_warn_days": 0 })), "")
        .await;
    assert!(never.ok && !never.degraded, "0 never warns: {never:?}");
    assert_eq!(never.certificate.unwrap().days_left, 3);

    let gone = prober.run(&tls(expired.port(), json!({})), "").await;
    assert!(!gone.ok, "{gone:?}");
    let said = gone.error.unwrap();
    assert!(said.contains("the certificate expired on "), "{said}");
    assert!(
        gone.certificate.unwrap().days_left < 0,
        "an expired certificate is still read"
    );

    let wrong = prober.run(&tls(other_host.port(), json!({})), "").await;
    assert!(!wrong.ok);
    assert_eq!(
        wrong.error.as_deref(),
        Some(
            format!(
                "localhost:{}: the certificate is for nas.example.lan, backup.example.lan, not localhost",
                other_host.port()
            )
            .as_str()
        )
    );
    let unchecked = prober
        .run(&tls(other_host.port(), json!({ "verify_tls": false })), "")
        .await;
    assert!(unchecked.ok, "verify_tls false accepts it: {unchecked:?}");

    // Without the CA, the chain is not trusted: said in words that tell what to do.
    let public_only = Prober::new().unwrap();
    let untrusted = public_only.run(&tls(sixty.port(), json!({})), "").await;
    let said = untrusted.error.unwrap();
    assert!(
        !untrusted.ok
            && said.contains("not signed by a trusted authority")
            && said.contains("HOMEWATCH_CA_FILE"),
        "{said}"
    );
    let closed = prober
        .run(&check(json!({ "kind": "tls", "target": "127.0.0.1:9" })), "")
        .await;
    assert_eq!(closed.error.as_deref(), Some("127.0.0.1:9: connection refused"));

    // An https check reads the certificate too, and its expiry makes the tile degraded.
    let https = prober
        .run(
            &check(json!({ "kind": "http", "target": format!("https://localhost:{}/", ten.port()) })),
            "",
        )
        .await;
    assert!(https.ok && https.degraded, "{https:?}");
    assert_eq!(https.status_code, Some(200));
    assert_eq!(https.certificate.unwrap().days_left, 10);
    let https_expired = prober
        .run(
            &check(json!({ "kind": "http", "target": format!("https://localhost:{}/", expired.port()) })),
            "",
        )
        .await;
    let said = https_expired.error.unwrap();
    assert!(said.contains("the certificate has expired"), "{said}");
}

#[handler]
fn health() -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": "1.2.3",
        "load": 0.5,
        "queue": 12,
        "checks": [{ "name": "db", "ok": true }, { "name": "cache", "ok": false }],
        "tags": ["a", "b"],
        "odd.key": null,
    }))
}

#[handler]
fn plain() -> &'static str {
    "<html>not json</html>"
}

#[handler]
async fn slowish() -> &'static str {
    tokio::time::sleep(Duration::from_millis(60)).await;
    "finally"
}

async fn json_server() -> String {
    let app = Route::new()
        .at("/health", get(health))
        .at("/plain", get(plain))
        .at("/slowish", get(slowish));
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    format!("http://{addr}")
}

#[tokio::test]
async fn json_conditions_judge_a_body_and_name_the_path_that_failed() {
    let base = json_server().await;
    let prober = Prober::new().unwrap();
    let run = |conditions: Value, path: &'static str| {
        let prober = &prober;
        let target = format!("{base}{path}");
        async move {
            prober
                .run(
                    &check(json!({ "kind": "http", "target": target, "json": conditions })),
                    "",
                )
                .await
        }
    };
    let passing = json!([
        { "path": "$.status", "op": "==", "value": "ok" },
        { "path": "/version", "op": "!=", "value": "1.0.0" },
        { "path": "$.load", "op": "<", "value": 1 },
        { "path": "$.load", "op": "<=", "value": 0.5 },
        { "path": "$.queue", "op": ">", "value": 10 },
        { "path": "$.queue", "op": ">=", "value": 12.0 },
        { "path": "$.version", "op": "contains", "value": "1.2" },
        { "path": "$.tags", "op": "contains", "value": "b" },
        { "path": "$.checks[0].ok", "op": "==", "value": true },
        { "path": "$['odd.key']", "op": "exists" },
    ]);
    let all = run(passing, "/health").await;
    assert!(all.ok, "{all:?}");

    let failing = run(
        json!([
            { "path": "$.status", "op": "==", "value": "degraded" },
            { "path": "$.checks[1].ok", "op": "==", "value": true },
            { "path": "$.nope", "op": "exists" },
            { "path": "$.version", "op": ">", "value": 3 },
        ]),
        "/health",
    )
    .await;
    assert!(!failing.ok);
    assert_eq!(
        failing.error.as_deref(),
        Some(
            "$.status is \"ok\", expected == \"degraded\"; $.checks[1].ok is false, expected == true; \
             $.nope is missing; $.version is \"1.2.3\", which cannot be compared with 3"
        )
    );
    assert_eq!(failing.status_code, Some(200));

    let not_json = run(json!([{ "path": "$.status", "op": "exists" }]), "/plain").await;
    let said = not_json.error.unwrap();
    assert!(
        !not_json.ok && said.starts_with("the body is not JSON: "),
        "{said}"
    );

    // Bad conditions are refused when the check is saved, each named.
    let errors = Check::from_json(
        json!({ "kind": "http", "json": [
            { "path": "status", "op": "==", "value": 1 },
            { "path": "$.a", "op": "==" },
            { "path": "$.a", "op": "~=" , "value": 1 },
        ] }),
        Some("http://x.lan/"),
    )
    .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(
        fields.contains(&"check"),
        "an unknown operator is a parse error: {errors:?}"
    );
    let errors = Check::from_json(
        json!({ "kind": "http", "json": [
            { "path": "status", "op": "==", "value": 1 },
            { "path": "$.a", "op": "==" },
        ] }),
        Some("http://x.lan/"),
    )
    .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["check.json.0.path", "check.json.1.value"], "{errors:?}");
    let errors = Check::from_json(
        json!({ "kind": "tcp", "json": [{ "path": "$.a", "op": "exists" }] }),
        Some("http://x.lan/"),
    )
    .unwrap_err();
    assert_eq!(errors[0].message, "only applies to http checks");
}

#[tokio::test]
async fn a_slow_passing_check_is_degraded() {
    let base = json_server().await;
    let prober = Prober::new().unwrap();
    let slow = prober
        .run(
            &check(json!({ "kind": "http", "target": format!("{base}/slowish"), "degraded_above_ms": 20 })),
            "",
        )
        .await;
    assert!(slow.ok && slow.degraded, "{slow:?}");
    let said = slow.error.unwrap();
    assert!(said.ends_with("ms is slower than 20 ms"), "{said}");
    let fast_enough = prober
        .run(
            &check(json!({ "kind": "http", "target": format!("{base}/slowish"), "degraded_above_ms": 5000 })),
            "",
        )
        .await;
    assert!(fast_enough.ok && !fast_enough.degraded, "{fast_enough:?}");
}

#[tokio::test]
async fn ping_measures_latency_and_loss() {
    let prober = Prober::new().unwrap();
    let local = prober
        .run(
            &check(json!({ "kind": "ping", "target": "127.0.0.1", "packets": 3 })),
            "",
        )
        .await;
    assert!(
        local.ok,
        "ping to 127.0.0.1 (as root, or with net.ipv4.ping_group_range allowing this user): {local:?}"
    );
    assert_eq!(local.packet_loss_pct, Some(0));
    assert!(local.latency_ms < 100, "{local:?}");
    let by_name = prober
        .run(
            &check(json!({ "kind": "ping", "target": "localhost", "packets": 1 })),
            "",
        )
        .await;
    assert!(by_name.ok, "{by_name:?}");
    // (No address can be relied on to stay silent: sandboxed networks answer every echo. Loss is read
    // from the echoes that did not come back within the check's share of the timeout.)
}

fn tile_state(body: &Value) -> (String, Option<i64>) {
    (
        body["status"]["state"].as_str().unwrap_or_default().to_owned(),
        body["status"]["certificate"]["days_left"].as_i64(),
    )
}

async fn a_certificate_near_expiry_degrades_the_tile_and_tells_once(backend: Backend) {
    let ca = TestCa::new();
    let ten = tls_server(ca.leaf(&["localhost"], days(10))).await;
    let receiver = Receiver::start().await;
    let app = App::on(backend).trusting(&ca.pem).start().await;
    let channel = app
        .post(
            "/api/v1/channels",
            json!({ "name": "hook", "all_tiles": true,
                    "settings": { "kind": "webhook", "url": format!("{}/hook", receiver.base) } }),
        )
        .await;
    assert_eq!(channel.status, 201, "{}", channel.text);
    let group = app.group("Certs").await;
    let tile = app
        .service(
            group,
            "Proxy",
            json!({ "url": format!("https://localhost:{}/", ten.port()),
                    "check": { "kind": "tls", "interval_s": 3600 } }),
        )
        .await;
    let run = app
        .post(&format!("/api/v1/services/{tile}/check"), json!({}))
        .await;
    assert_eq!(run.status, 200, "{}", run.text);
    assert_eq!(run.body["result"]["degraded"], json!(true), "{}", run.text);
    let read = app.get(&format!("/api/v1/services/{tile}")).await;
    assert_eq!(
        tile_state(&read.body),
        ("degraded".into(), Some(10)),
        "{}",
        read.text
    );
    assert_eq!(read.body["status"]["certificate"]["issuer"], json!(CA_NAME));
    receiver
        .wait_until(Duration::from_secs(10), "a certificate warning", |got| {
            got.iter().any(|hit| hit.body["event"] == json!("certificate"))
        })
        .await;
    // More checks of the same certificate tell nobody again.
    for _ in 0..3 {
        app.post(&format!("/api/v1/services/{tile}/check"), json!({}))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let warnings: Vec<Value> = receiver
        .accepted()
        .into_iter()
        .filter(|hit| hit.body["event"] == json!("certificate"))
        .map(|hit| hit.body)
        .collect();
    assert_eq!(warnings.len(), 1, "one message per threshold: {warnings:?}");
    assert_eq!(warnings[0]["state"], Value::Null);
    let message = warnings[0]["message"].as_str().unwrap();
    assert!(
        message.contains("expires in 10 days"),
        "the message says how long is left: {message}"
    );
    // A degraded tile counts as up: no down alert, uptime 100 %.
    assert!(
        receiver
            .accepted()
            .iter()
            .all(|hit| hit.body["event"] != json!("down"))
    );
    let stats = app
        .get(&format!("/api/v1/services/{tile}/stats?window=24h"))
        .await;
    assert_eq!(stats.status, 200, "{}", stats.text);
    assert_eq!(stats.body["uptime_percent"], json!(100.0), "{}", stats.text);
    app.stop().await;
}

on_every_store!(
    a_certificate_near_expiry_degrades_the_tile_and_tells_once,
    push_calls_keep_a_tile_up_and_a_missed_one_turns_it_down,
);

/// A push call from a job, as `curl` would make it: no login.
async fn call(app: &common::TestApp, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/push/{path}", app.base))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn state_of(app: &common::TestApp, tile: i64) -> (String, String) {
    let read = app.get(&format!("/api/v1/services/{tile}")).await;
    (
        read.body["status"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        read.body["status"]["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn wait_for_state(app: &common::TestApp, tile: i64, want: &str, within: Duration) -> (String, String) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let seen = state_of(app, tile).await;
        if seen.0 == want {
            return seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tile {tile} never became {want}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn push_calls_keep_a_tile_up_and_a_missed_one_turns_it_down(backend: Backend) {
    let app = App::on(backend).start().await;
    let group = app.group("Jobs").await;
    let created = app
        .post(
            "/api/v1/services",
            json!({ "group_id": group, "name": "Backup", "url": "http://nas.lan/",
                    "check": { "kind": "push", "interval_s": 5, "grace_s": 1 } }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let tile = created.body["id"].as_i64().unwrap();
    let token = created.body["check"]["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32, "a generated token: {token}");
    assert_eq!(created.body["check"]["retries"], json!(0));
    assert_eq!(created.body["check"].get("timeout_s"), None, "nothing is probed");
    // Readers never see the token.
    let (_, viewer) = common::viewer_token(&app, "reader").await;
    let seen = reqwest::Client::new()
        .get(format!("{}/api/v1/services/{tile}", app.base))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(seen["check"]["token"], json!("(hidden)"));
    // "Check now" has nothing to run.
    let now = app
        .post(&format!("/api/v1/services/{tile}/check"), json!({}))
        .await;
    assert_eq!(now.status, 409, "{}", now.text);

    // A call keeps it up; start and finish measure the run.
    assert_eq!(call(&app, &token).await, (200, json!({ "accepted": true })));
    wait_for_state(&app, tile, "up", Duration::from_secs(3)).await;
    assert_eq!(call(&app, &format!("{token}/start")).await.0, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call(&app, &token).await.0, 200);
    // Results are stored in batches: wait for the second one.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let latency = loop {
        let results = app.get(&format!("/api/v1/services/{tile}/results")).await;
        let items = results.body.as_array().cloned().unwrap_or_default();
        if items.len() >= 2 {
            break items[0]["latency_ms"].as_u64().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "{}", results.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!((300..2000).contains(&latency), "the run's length: {latency} ms");
    // The job reports a failure: down at once (no retries by default), with its words.
    assert_eq!(
        call(&app, &format!("{token}?status=down&msg=disk%20full"))
            .await
            .0,
        200
    );
    assert_eq!(
        wait_for_state(&app, tile, "down", Duration::from_secs(3)).await.1,
        "disk full"
    );
    assert_eq!(call(&app, &format!("{token}?duration_ms=1234")).await.0, 200);
    wait_for_state(&app, tile, "up", Duration::from_secs(3)).await;

    // No call within the interval and the grace: down, saying since when.
    let (state, error) = wait_for_state(&app, tile, "down", Duration::from_secs(10)).await;
    assert_eq!(state, "down");
    assert!(error.starts_with("no call since "), "{error}");

    // A wrong token is 404 and counts: twenty of them from one address and it waits (429), right tokens too.
    assert_eq!(call(&app, "not-a-token-of-anyone-here").await.0, 404);
    // A renewed token: the old URL stops working.
    let renewed = app
        .post(&format!("/api/v1/services/{tile}/push-token"), json!({}))
        .await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    let fresh = renewed.body["check"]["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, token);
    assert_eq!(call(&app, &token).await.0, 404);
    assert_eq!(call(&app, &fresh).await.0, 200);
    wait_for_state(&app, tile, "up", Duration::from_secs(3)).await;
    // An edit that leaves the token out keeps it.
    let edited = app
        .patch(
            &format!("/api/v1/services/{tile}"),
            json!({ "check": { "kind": "push", "interval_s": 3600 } }),
        )
        .await;
    assert_eq!(edited.body["check"]["token"], json!(fresh), "{}", edited.text);
    for _ in 0..20 {
        call(&app, "guessing-tokens-is-slow-0000").await;
    }
    assert_eq!(
        call(&app, &fresh).await.0,
        429,
        "too many misses from this address"
    );
    app.stop().await;
}

#[test]
fn a_cron_schedule_runs_in_its_time_zone() {
    use homewatch::model::check::PushSchedule;
    let at = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let check = check(
        json!({ "kind": "push", "schedule": "30 3 * * *", "timezone": "Europe/Berlin", "grace_s": 600 }),
    );
    let schedule = PushSchedule::of(&check).unwrap();
    // 03:30 in Berlin is 02:30 UTC in winter (CET) and 01:30 UTC in summer (CEST).
    assert_eq!(
        schedule.due_after(at("2026-11-27T12:00:00Z")),
        at("2026-11-28T02:30:00Z")
    );
    assert_eq!(
        schedule.due_after(at("2026-07-01T12:00:00Z")),
        at("2026-07-02T01:30:00Z")
    );
    assert_eq!(
        schedule.deadline_after(at("2026-11-27T12:00:00Z")),
        at("2026-11-28T02:40:00Z"),
        "plus the grace"
    );
    let every = PushSchedule::of(&check_push_interval()).unwrap();
    assert_eq!(
        every.due_after(at("2026-11-27T12:00:00Z")),
        at("2026-11-27T13:00:00Z")
    );

    let wrong = Check::from_json(
        json!({ "kind": "push", "schedule": "61 * * * *", "timezone": "Mars/Olympus", "token": "short" }),
        None,
    )
    .unwrap_err();
    let fields: Vec<&str> = wrong.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["check.token", "check.timezone", "check.schedule"],
        "{wrong:?}"
    );
    let target = Check::from_json(json!({ "kind": "push", "target": "nas.lan" }), None).unwrap_err();
    assert_eq!(target[0].field, "check.target", "nothing is probed: {target:?}");
}

fn check_push_interval() -> Check {
    check(json!({ "kind": "push", "interval_s": 3600 }))
}
