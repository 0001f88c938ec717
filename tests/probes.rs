//! Each probe against real local targets: an HTTP server on loopback that answers 200, 500, slowly, with a
//! redirect, or with a body that has or lacks a keyword; a TCP listener; a closed port; a name in /etc/hosts.

use std::time::Duration;

use homewatch::{model::Check, monitor::probe::Prober};
use poem::{
    Response, Route, get, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::Redirect,
};
use serde_json::json;

#[handler]
fn answer_ok() -> &'static str {
    "all systems nominal"
}

#[handler]
fn answer_fail() -> Response {
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .body("database is down")
}

#[handler]
async fn answer_slowly() -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "finally"
}

#[handler]
fn answer_moved() -> Redirect {
    Redirect::temporary("/ok")
}

#[handler]
fn answer_header(request: &poem::Request) -> Response {
    match request.header("x-token") {
        Some("let-me-in") => Response::builder().body("ok"),
        _ => Response::builder().status(StatusCode::UNAUTHORIZED).body("no"),
    }
}

/// Starts the target server on a free loopback port and returns its base URL.
async fn target_server() -> String {
    let app = Route::new()
        .at("/ok", get(answer_ok))
        .at("/fail", get(answer_fail))
        .at("/slow", get(answer_slowly))
        .at("/moved", get(answer_moved))
        .at("/header", get(answer_header));
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    format!("http://{addr}")
}

/// Probes run what they are given: a check validated as the API would (every spec here names its target).
fn check(spec: serde_json::Value) -> Check {
    Check::from_json(spec, None).unwrap_or_else(|errors| panic!("{errors:?}"))
}

#[tokio::test]
async fn http_checks_judge_status_redirects_and_headers() {
    let base = target_server().await;
    let prober = Prober::new().unwrap();

    let up = prober
        .run(&check(json!({ "kind": "http" })), &format!("{base}/ok"))
        .await;
    assert!(up.ok, "{up:?}");
    assert_eq!(up.status_code, Some(200));
    assert_eq!(up.error, None);

    let down = prober
        .run(&check(json!({ "kind": "http" })), &format!("{base}/fail"))
        .await;
    assert!(!down.ok);
    assert_eq!(down.status_code, Some(500));
    assert_eq!(down.error.as_deref(), Some("status 500 is not in 200-299"));
    let accepted = prober
        .run(
            &check(json!({ "kind": "http", "expected_status": "200-299,500" })),
            &format!("{base}/fail"),
        )
        .await;
    assert!(accepted.ok, "500 was listed as expected: {accepted:?}");

    let followed = prober
        .run(&check(json!({ "kind": "http" })), &format!("{base}/moved"))
        .await;
    assert_eq!((followed.ok, followed.status_code), (true, Some(200)));
    let not_followed = prober
        .run(
            &check(json!({ "kind": "http", "follow_redirects": false })),
            &format!("{base}/moved"),
        )
        .await;
    assert_eq!((not_followed.ok, not_followed.status_code), (false, Some(307)));

    let without = prober
        .run(&check(json!({ "kind": "http" })), &format!("{base}/header"))
        .await;
    assert_eq!(without.status_code, Some(401));
    let with = prober
        .run(
            &check(json!({ "kind": "http", "headers": { "X-Token": "let-me-in" } })),
            &format!("{base}/header"),
        )
        .await;
    assert!(with.ok, "{with:?}");
    let head = prober
        .run(
            &check(json!({ "kind": "http", "method": "HEAD" })),
            &format!("{base}/ok"),
        )
        .await;
    assert!(head.ok, "{head:?}");
}

#[tokio::test]
async fn a_slow_target_fails_at_the_timeout_and_does_not_hold_others() {
    let base = target_server().await;
    let prober = std::sync::Arc::new(Prober::new().unwrap());
    let slow_check = check(json!({ "kind": "http", "timeout_s": 1, "interval_s": 5 }));
    let started = std::time::Instant::now();
    let slow = {
        let (prober, url) = (prober.clone(), format!("{base}/slow"));
        tokio::spawn(async move { prober.run(&slow_check, &url).await })
    };
    let fast = prober
        .run(&check(json!({ "kind": "http" })), &format!("{base}/ok"))
        .await;
    assert!(
        fast.ok && started.elapsed() < Duration::from_millis(900),
        "the fast check waited: {:?}",
        started.elapsed()
    );
    let slow = slow.await.unwrap();
    assert!(!slow.ok);
    assert!(
        slow.error.as_deref().unwrap().contains("1 s")
            || slow.error.as_deref().unwrap().contains("timed out"),
        "{slow:?}"
    );
    assert!((900..2500).contains(&slow.latency_ms), "{slow:?}");
}

#[tokio::test]
async fn keyword_checks_look_in_the_body() {
    let base = target_server().await;
    let prober = Prober::new().unwrap();
    let url = format!("{base}/ok");
    assert!(
        prober
            .run(&check(json!({ "kind": "keyword", "keyword": "nominal" })), &url)
            .await
            .ok
    );
    let missing = prober
        .run(&check(json!({ "kind": "keyword", "keyword": "degraded" })), &url)
        .await;
    assert_eq!(missing.error.as_deref(), Some("`degraded` is not in the body"));
    assert!(
        prober
            .run(
                &check(json!({ "kind": "keyword", "keyword": "error", "keyword_absent": true })),
                &url
            )
            .await
            .ok
    );
    let present = prober
        .run(
            &check(json!({ "kind": "keyword", "keyword": "nominal", "keyword_absent": true })),
            &url,
        )
        .await;
    assert!(!present.ok);
    let on_error = prober
        .run(
            &check(json!({ "kind": "keyword", "keyword": "down" })),
            &format!("{base}/fail"),
        )
        .await;
    assert_eq!(
        on_error.status_code,
        Some(500),
        "the status is judged before the body"
    );
}

#[tokio::test]
async fn tcp_checks_connect_or_say_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap();
    let closed = {
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        probe.local_addr().unwrap()
    };
    let prober = Prober::new().unwrap();
    let up = prober
        .run(
            &check(json!({ "kind": "tcp", "target": open.to_string() })),
            "https://unused.lan",
        )
        .await;
    assert!(up.ok, "{up:?}");
    let down = prober
        .run(
            &check(json!({ "kind": "tcp", "target": closed.to_string() })),
            "https://unused.lan",
        )
        .await;
    assert!(!down.ok);
    assert!(
        down.error.as_deref().unwrap().contains("connection refused"),
        "{down:?}"
    );
    let from_url = prober
        .run(&check(json!({ "kind": "tcp" })), &format!("http://{open}/"))
        .await;
    assert!(
        from_url.ok,
        "the target defaults to the url's host and port: {from_url:?}"
    );
}

#[tokio::test]
async fn dns_checks_resolve_names() {
    let prober = Prober::new().unwrap();
    let local = prober
        .run(
            &check(json!({ "kind": "dns", "target": "localhost", "expected": "127.0.0.1" })),
            "https://x",
        )
        .await;
    assert!(local.ok, "localhost resolves from /etc/hosts: {local:?}");
    let wrong = prober
        .run(
            &check(json!({ "kind": "dns", "target": "localhost", "expected": "10.9.9.9" })),
            "https://x",
        )
        .await;
    assert!(
        wrong.error.as_deref().unwrap().contains("not 10.9.9.9"),
        "{wrong:?}"
    );
    let none = prober
        .run(
            &check(
                json!({ "kind": "dns", "target": "no-such-host.invalid", "timeout_s": 3, "interval_s": 5 }),
            ),
            "https://x",
        )
        .await;
    assert!(!none.ok, "{none:?}");
}
