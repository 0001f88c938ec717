//! What users see when things go wrong underneath: a database that disappears or stops answering,
//! a request that takes too long, and browser calls from other origins.

mod common;

use std::time::{Duration, Instant};

use common::{App, Backend, TestDb, http_options, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_folder_removed_gives_503_not_500() {
    let app = spawn_app(Backend::Sqlite).await;
    app.group("Before").await;
    std::fs::remove_dir_all(app.db.sqlite_path().parent().unwrap()).unwrap();

    let started = Instant::now();
    let health = app.get("/healthz").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{}", health.text);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(health.body["store"], "sqlite");
    assert!(
        health.body["reason"].as_str().unwrap().contains("server's log"),
        "the probe says where to look, not the file's path: {}",
        health.text
    );
    assert_eq!(app.get("/readyz").await.status, StatusCode::SERVICE_UNAVAILABLE);

    let write = app.post("/api/v1/groups", json!({ "name": "After" })).await;
    assert!(
        write.problem(503)["detail"]
            .as_str()
            .unwrap()
            .contains("try again"),
        "{}",
        write.text
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_down_gives_503_and_recovers() {
    use common::TcpProxy;

    let db = TestDb::new(Backend::Postgres).await;
    let mut real = url::Url::parse(db.url.expose()).unwrap();
    let target = format!("{}:{}", real.host_str().unwrap(), real.port().unwrap_or(5432));
    let target = tokio::net::lookup_host(target).await.unwrap().next().unwrap();
    let proxy = TcpProxy::start(target).await;
    let port = proxy.port;
    real.set_port(Some(port)).unwrap();
    let _ = real.set_password(Some("never-shown-pw"));
    let proxied = db.with_url(homewatch::store::DatabaseUrl::new(real.to_string()));
    let app = App::with_db(proxied)
        .http(homewatch::http::HttpOptions {
            metrics: true,
            ..http_options()
        })
        .start()
        .await;
    let before = app.group("Before").await;
    let tile = app.service(before, "Public", json!({ "badges": true })).await;
    let page = app
        .post(
            "/api/v1/status-pages",
            json!({ "slug": "home", "title": "Home", "published": true, "sections": [{ "group_id": before }] }),
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED);
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);

    proxy.cut().await;
    let started = Instant::now();
    let health = app.get("/healthz").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{}", health.text);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "bounded: {:?}",
        started.elapsed()
    );
    assert_eq!(health.body["store"], "postgres");
    let write = app.post("/api/v1/groups", json!({ "name": "During" })).await;
    write.problem(503);
    assert!(!write.text.contains("never-shown-pw") && !health.text.contains("never-shown-pw"));
    // The public faces say the same, never a 500 (the page was never shown, so nothing of it is kept).
    for path in [
        "/status/home".to_owned(),
        format!("/badge/{tile}/uptime.svg"),
        "/metrics".to_owned(),
    ] {
        let answer = app.get(&path).await;
        answer.problem(503);
        assert!(!answer.text.contains("never-shown-pw"), "{path}: {}", answer.text);
    }

    // The database comes back on the same address: the pool reconnects by itself.
    let _back = TcpProxy::start_on(port, target).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.get("/healthz").await.status != StatusCode::OK {
        assert!(Instant::now() < deadline, "did not recover within 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.post("/api/v1/groups", json!({ "name": "After" }))
            .await
            .status,
        StatusCode::CREATED
    );
    let names: Vec<String> = app
        .get("/api/v1/groups")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Before", "After"], "the failed write left nothing behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_get_a_408_problem() {
    // A target that accepts connections and never answers: a check of it takes its whole timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            held.push(connection);
        }
    });
    let options = homewatch::http::HttpOptions {
        request_timeout: Duration::from_millis(300),
        ..http_options()
    };
    let app = App::with_db(TestDb::new(Backend::Sqlite).await)
        .http(options)
        .start()
        .await;
    let group = app.group("G").await;
    let tile = app
        .service(
            group,
            "Silent",
            json!({ "url": target, "check": { "kind": "http", "timeout_s": 5 } }),
        )
        .await;
    let started = Instant::now();
    let reply = app
        .post(&format!("/api/v1/services/{tile}/check"), json!({}))
        .await;
    assert!(
        reply.problem(408)["detail"]
            .as_str()
            .unwrap()
            .contains("too long"),
        "{}",
        reply.text
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_unless_origins_are_configured() {
    let preflight = |app: &common::TestApp| {
        app.client
            .request(Method::OPTIONS, format!("{}/api/v1/groups", app.base))
            .header("origin", "https://home.example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let closed = spawn_app(Backend::Sqlite).await;
    let reply = preflight(&closed).await.unwrap();
    assert!(reply.headers().get("access-control-allow-origin").is_none());

    let options = homewatch::http::HttpOptions {
        cors_origins: vec![
            "https://home.example.com".into(),
            "https://other.example.com/".into(),
        ],
        ..http_options()
    };
    let open = App::with_db(TestDb::new(Backend::Sqlite).await)
        .http(options)
        .start()
        .await;
    let reply = preflight(&open).await.unwrap();
    assert_eq!(
        reply.headers().get("access-control-allow-origin").unwrap(),
        "https://home.example.com"
    );
    assert!(
        reply
            .headers()
            .get("access-control-allow-methods")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("PATCH")
    );
    let foreign = open
        .client
        .get(format!("{}/api/v1/groups", open.base))
        .header("origin", "https://evil.example.net")
        .send()
        .await
        .unwrap();
    assert!(foreign.headers().get("access-control-allow-origin").is_none());

    let bad = homewatch::http::HttpOptions {
        cors_origins: vec!["not a\norigin".into()],
        ..http_options()
    };
    let err = homewatch::http::app(
        closed.store.clone(),
        closed.engine.clone(),
        closed.access.clone(),
        &bad,
    )
    .err()
    .expect("a bad origin is refused");
    assert!(err.contains("HOMEWATCH_CORS_ORIGINS"), "{err}");
}
