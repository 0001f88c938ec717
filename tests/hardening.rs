//! Abuse and edges, over real HTTP on a real port: slow and many connections, forged origins and hosts,
//! credentials inside URLs, event streams that outlive their credentials, shutdown with a stream open, text a
//! store cannot hold, a row the database refuses, and check headers that must not follow a redirect.

mod common;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{App, Backend, TestApp, read, spawn_app};
use homewatch::{
    http::{HttpOptions, connections::ConnectionLimits, streams::StreamLimits},
    model::{CheckResult, HistoryBatch},
};
use reqwest::StatusCode;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

on_every_store!(
    text_no_store_can_hold_is_cleaned_and_the_rest_of_the_batch_kept,
    credentials_in_urls_are_hidden_from_readers,
    a_password_change_can_revoke_tokens_and_an_admin_reset_does,
);

/// A TCP connection to the server from a given loopback address (127.0.0.0/8 is all loopback on Linux).
async fn connect_from(from: [u8; 4], server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(server).await
}

/// Whether the server has closed this connection (read returns end of file or an error) within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buffer = [0; 256];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

async fn healthz_latency(app: &TestApp) -> Duration {
    let started = Instant::now();
    let reply = app
        .anonymous
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    started.elapsed()
}

/// 2,000 clients that send their headers a byte at a time hold no resource the server needs: /healthz answers
/// within a second throughout, and each trickler is cut off once its headers take longer than the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_clients_are_cut_off_and_the_server_stays_responsive() {
    let app = App::on(Backend::Sqlite)
        .connections(ConnectionLimits {
            header_timeout: Duration::from_secs(2),
            ..ConnectionLimits::DEFAULT
        })
        .start()
        .await;
    // 2,000 sockets from 10 addresses, 200 each (under the per-address cap of 256).
    let mut tricklers = Vec::new();
    for n in 0..2000u32 {
        let from = [127, 0, 1, u8::try_from(n % 10).unwrap() + 2];
        let mut stream = connect_from(from, app.addr).await.expect("connect");
        stream
            .write_all(b"GET /api/v1/groups HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        tricklers.push(stream);
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        for stream in tricklers.iter_mut().step_by(7) {
            let _ = stream.write_all(b"X").await;
        }
        slowest = slowest.max(healthz_latency(&app).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("healthz with 2000 trickling sockets open: slowest {slowest:?}");
    assert!(slowest < Duration::from_secs(1), "slowest /healthz {slowest:?}");
    // Past the header deadline, every trickler has been closed, whatever it keeps sending.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut still_open = 0;
    for stream in tricklers.iter_mut().step_by(50) {
        let _ = stream.write_all(b"X").await;
        if !closed_within(stream, Duration::from_secs(2)).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "tricklers still open after the header deadline");
    assert!(healthz_latency(&app).await < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_address_and_idle_ones_closed() {
    let app = App::on(Backend::Sqlite)
        .connections(ConnectionLimits {
            max_per_address: 5,
            idle_timeout: Duration::from_secs(1),
            ..ConnectionLimits::DEFAULT
        })
        .start()
        .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect_from([127, 0, 2, 1], app.addr).await.unwrap());
    }
    let mut sixth = connect_from([127, 0, 2, 1], app.addr).await.unwrap();
    assert!(
        closed_within(&mut sixth, Duration::from_secs(2)).await,
        "a sixth from one address is closed"
    );
    let mut other = connect_from([127, 0, 2, 2], app.addr).await.unwrap();
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0; 64];
    let read = other.read(&mut answer).await.unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"),
        "another address is served"
    );
    // Idle connections (nothing sent either way) are closed after the idle timeout, giving their places back.
    for stream in &mut held {
        assert!(
            closed_within(stream, Duration::from_secs(3)).await,
            "an idle connection is closed"
        );
    }
    let mut again = connect_from([127, 0, 2, 1], app.addr).await.unwrap();
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let read = again.read(&mut answer).await.unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"),
        "places were given back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_from_other_sites_bodies_without_a_type_and_foreign_hosts_are_refused() {
    let app = App::on(Backend::Sqlite)
        .http(HttpOptions {
            allowed_hosts: vec!["home.example.com".into()],
            ..HttpOptions::default()
        })
        .start()
        .await;
    // A login forged by another site (no session yet, so no CSRF header to miss) is refused.
    let forged = read(
        app.anonymous
            .post(format!("{}/api/v1/auth/login", app.base))
            .header("origin", "https://evil.example")
            .json(&json!({ "username": common::ADMIN, "password": common::ADMIN_PASSWORD }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    forged.problem(403);
    // Without a Content-Type, a body is not read as JSON.
    let untyped = read(
        app.client
            .post(format!("{}/api/v1/groups", app.base))
            .body(r#"{"name":"Untyped"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    untyped.problem(415);
    // A Host this server does not answer for (DNS rebinding sends the attacker's own name) is refused;
    // loopback always works (health checks), and so does an allowed name.
    let rebound = read(
        app.anonymous
            .get(format!("{}/api/v1/auth/state", app.base))
            .header("host", "evil.example:8080")
            .send()
            .await
            .unwrap(),
    )
    .await;
    rebound.problem(421);
    for host in [
        "home.example.com",
        "home.example.com:8443",
        "127.0.0.1:8080",
        "localhost",
    ] {
        let fine = app
            .anonymous
            .get(format!("{}/api/v1/auth/state", app.base))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(fine.status(), StatusCode::OK, "{host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_tell_anonymous_callers_only_the_state() {
    let app = spawn_app(Backend::Sqlite).await;
    let path = app.db.sqlite_path();
    std::fs::remove_file(&path).unwrap();
    let reply = read(
        app.anonymous
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !reply.text.contains(&path.display().to_string()),
        "no file path: {}",
        reply.text
    );
    assert!(!reply.text.contains("homewatch.db"), "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_slash_path_never_redirects_to_another_site() {
    let app = App::on(Backend::Sqlite)
        .http(HttpOptions {
            web_dir: Some(common::web_dir()),
            ..HttpOptions::default()
        })
        .start()
        .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["//js", "//evil.example/x", "/js"] {
        let reply = client.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert!(!reply.status().is_redirection(), "{path}: {}", reply.status());
        assert!(reply.headers().get("location").is_none(), "{path}");
    }
}

async fn credentials_in_urls_are_hidden_from_readers(backend: Backend) {
    let app = spawn_app(backend).await;
    let group = app.group("Secrets").await;
    let tile = app
        .service(
            group,
            "NAS",
            json!({
                "url": "https://admin:hunter22@nas.lan/?apikey=s3cret&view=1",
                "check": { "kind": "http", "target": "https://nas.lan/health?token=t0ken", "interval_s": 3600 }
            }),
        )
        .await;
    let (_, viewer) = common::viewer_token(&app, "vic").await;
    let as_writer = app.get(&format!("/api/v1/services/{tile}")).await;
    assert!(
        as_writer.text.contains("hunter22") && as_writer.text.contains("t0ken"),
        "writers see it all"
    );
    let readers = [
        app.anonymous
            .get(format!("{}/api/v1/services/{tile}", app.base))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap(),
        app.anonymous
            .get(format!("{}/api/v1/dashboard", app.base))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap(),
        app.anonymous
            .get(format!("{}/api/v1/services?q=nas", app.base))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap(),
    ];
    for reply in readers {
        let text = reply.text().await.unwrap();
        for secret in ["hunter22", "s3cret", "t0ken", "admin:"] {
            assert!(!text.contains(secret), "a reader sees {secret}: {text}");
        }
        assert!(text.contains("view=1"), "what is not a secret stays: {text}");
    }
}

async fn a_password_change_can_revoke_tokens_and_an_admin_reset_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let (vic, token) = common::viewer_token(&app, "vic").await;
    let works = |token: String| {
        let client = app.anonymous.clone();
        let url = format!("{}/api/v1/auth/me", app.base);
        async move { client.get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(works(token.clone()).await, StatusCode::OK);
    // An admin's reset revokes the user's tokens unless told not to.
    let kept = app
        .patch(
            &format!("/api/v1/users/{vic}"),
            json!({ "password": "a brand new one", "revoke_tokens": false }),
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.text);
    assert_eq!(works(token.clone()).await, StatusCode::OK);
    let reset = app
        .patch(
            &format!("/api/v1/users/{vic}"),
            json!({ "password": "and another one" }),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    assert_eq!(
        works(token).await,
        StatusCode::UNAUTHORIZED,
        "an admin's reset revokes by default"
    );
    // One's own change keeps one's tokens unless asked.
    let (_, second) = common::viewer_token_with(&app, "vic", "and another one").await;
    let session = common::session_client(&app, "vic", "and another one").await;
    let change = |revoke: bool, from: &str, to: &str| {
        session
            .post(format!("{}/api/v1/auth/password", app.base))
            .json(&json!({ "current_password": from, "new_password": to, "revoke_tokens": revoke }))
            .send()
    };
    assert_eq!(
        change(false, "and another one", "yet another one")
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(works(second.clone()).await, StatusCode::OK);
    assert_eq!(
        change(true, "yet another one", "the last one!")
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(works(second.clone()).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guesses_are_slowed_like_logins() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut statuses = Vec::new();
    for n in 0..8 {
        let reply = app
            .post(
                "/api/v1/auth/password",
                json!({ "current_password": format!("guess {n}"), "new_password": "does not matter" }),
            )
            .await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(
        &statuses[..6],
        [403; 6],
        "five free failures, the sixth counted: {statuses:?}"
    );
    assert_eq!(statuses[7], 429, "then a wait: {statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_end_with_their_credentials_are_capped_and_end_at_shutdown() {
    let app = App::on(Backend::Sqlite)
        .http(HttpOptions {
            streams: StreamLimits {
                total: 100,
                per_user: 2,
                recheck: Duration::from_millis(300),
            },
            ..HttpOptions::default()
        })
        .start()
        .await;
    let (_, token) = common::viewer_token(&app, "vic").await;
    let open = || {
        app.anonymous
            .get(format!("{}/api/v1/events", app.base))
            .bearer_auth(token.clone())
            .send()
    };
    let mut first = open().await.unwrap();
    let _second = open().await.unwrap();
    assert_eq!(
        open().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS,
        "two per user"
    );
    // Revoking the token ends its streams at the next check.
    let id = app
        .get("/api/v1/tokens")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["username"] == "vic")
        .unwrap()["id"]
        .clone();
    app.delete(&format!("/api/v1/tokens/{id}")).await;
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(Some(_)) = first.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ended after its token was revoked");

    // At shutdown an open stream ends at once: the server stops well within its grace period.
    let (_, other) = common::viewer_token(&app, "wendy").await;
    let mut stream = app
        .anonymous
        .get(format!("{}/api/v1/events", app.base))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    let reading = tokio::spawn(async move { while let Ok(Some(_)) = stream.chunk().await {} });
    app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    tokio::time::timeout(Duration::from_secs(2), reading)
        .await
        .expect("the stream ended")
        .unwrap();
}

fn result(service_id: i64, error: &str) -> CheckResult {
    CheckResult {
        service_id,
        checked_at: homewatch::model::now(),
        ok: false,
        latency_ms: 5,
        status_code: None,
        error: Some(error.to_owned()),
        maintenance: false,
        degraded: false,
        packet_loss_pct: None,
        certificate: None,
    }
}

async fn text_no_store_can_hold_is_cleaned_and_the_rest_of_the_batch_kept(backend: Backend) {
    let app = App::on(backend)
        .flush_every(Duration::from_secs(3600))
        .start()
        .await;
    let group = app.group("G").await;
    let tile = app.service(group, "T", json!({})).await;
    // A NUL (as a DNS TXT answer can carry into an error) is stored as U+FFFD, with the batch around it.
    let with_nul = result(tile, "TXT record: \u{0}evil");
    let mut later = result(tile, "fine");
    later.checked_at = with_nul.checked_at + homewatch::model::seconds(1);
    app.store
        .record_history(&HistoryBatch {
            results: vec![with_nul, later],
            ..Default::default()
        })
        .await
        .expect("a NUL takes nothing down");
    let stored = app.get(&format!("/api/v1/services/{tile}/results")).await;
    let errors: Vec<&str> = stored
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"].as_str().unwrap())
        .collect();
    assert_eq!(errors, ["fine", "TXT record: \u{fffd}evil"]);
}

/// A row the database refuses takes nothing else with it: the engine splits the batch around it. The refusal
/// is real: an SQLite trigger that aborts on one result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_row_is_dropped_alone_and_the_batch_around_it_is_written() {
    // Flushed every 3 s: both tiles' first checks (within half a second of their edit) share one batch.
    let app = App::on(Backend::Sqlite)
        .flush_every(Duration::from_secs(3))
        .start()
        .await;
    let group = app.group("G").await;
    let refused = app.service(group, "Refused", json!({})).await;
    let kept = app.service(group, "Kept", json!({})).await;
    {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", app.db.sqlite_path().display()))
            .await
            .unwrap();
        sqlx::query(&format!(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON check_results WHEN NEW.service_id = {refused} \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ))
        .execute(&mut db)
        .await
        .unwrap();
    }
    let (target, _) = common::switchable_target().await;
    for tile in [refused, kept] {
        app.patch(
            &format!("/api/v1/services/{tile}"),
            json!({ "url": target, "check": { "kind": "http", "interval_s": 5 } }),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stored = app.get(&format!("/api/v1/services/{kept}/results")).await;
        if stored.body.as_array().is_some_and(|results| !results.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other tile's results were lost with the refused one"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let none = app.get(&format!("/api/v1/services/{refused}/results")).await;
    assert_eq!(none.body, json!([]));
}

/// A check's own headers (an API key, say) go to the host it names, never to another host a redirect points at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_headers_do_not_follow_a_redirect_to_another_host() {
    let seen: Seen = Seen::default();
    let other = headers_recorder("other", seen.clone()).await;
    let origin = redirector(format!("{other}/landing"), seen.clone()).await;
    let app = spawn_app(Backend::Sqlite).await;
    let group = app.group("G").await;
    let tile = app
        .service(
            group,
            "Redirected",
            json!({ "url": origin, "check": { "kind": "http", "headers": { "X-Api-Key": "k3y" } } }),
        )
        .await;
    let run = app
        .post(&format!("/api/v1/services/{tile}/check"), json!({}))
        .await;
    assert_eq!(run.body["result"]["ok"], true, "{}", run.text);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("origin".to_owned(), Some("k3y".to_owned())),
            ("other".to_owned(), None)
        ],
        "the key reached its own host only"
    );
}

/// Which server saw which `X-Api-Key`, in order.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A local server that records the `X-Api-Key` each request brings, as `name`.
async fn headers_recorder(name: &'static str, seen: Seen) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let request = read_request(&mut stream).await;
                seen.lock().unwrap().push((name.to_owned(), api_key(&request)));
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// A local server that records like `headers_recorder` and redirects every request to `to`.
async fn redirector(to: String, seen: Seen) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (seen, to) = (seen.clone(), to.clone());
            tokio::spawn(async move {
                let request = read_request(&mut stream).await;
                seen.lock()
                    .unwrap()
                    .push(("origin".to_owned(), api_key(&request)));
                let answer = format!(
                    "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/start")
}

async fn read_request(stream: &mut TcpStream) -> String {
    let mut request = Vec::new();
    let mut buffer = [0; 1024];
    while !request.ends_with(b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    String::from_utf8_lossy(&request).into_owned()
}

fn api_key(request: &str) -> Option<String> {
    request.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("x-api-key")
            .then(|| value.trim().to_owned())
    })
}
