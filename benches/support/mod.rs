//! What the benchmarks share: `--name value` arguments, percentiles, a loopback HTTP target, an admin with
//! a token or session, and the real server on a free port.
#![allow(dead_code)] // each benchmark uses its part

use std::{str::FromStr, sync::Arc, time::Duration};

use homewatch::{
    auth::{Access, AccessConfig},
    http::{self, HttpOptions},
    model::{Check, CheckResult, HistoryBatch, NewGroup, NewService, NewToken, NewUser, Role, Scope, User},
    monitor::engine::Engine,
    server::{self, Running},
    store::{DatabaseUrl, Store},
};
use poem::{
    Route, get, handler,
    listener::{Acceptor, Listener, TcpListener},
};

/// Runs a benchmark on a two-thread runtime (the two cores the figures are quoted for).
pub fn block_on<F: std::future::Future>(bench: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(bench)
}

/// The value after `--name` on the command line, or `default` (cargo's own `--bench` is skipped).
pub fn arg<T: FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|arg| arg == &format!("--{name}")) {
        Some(index) => args
            .get(index + 1)
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("--{name} needs a value")),
        None => default,
    }
}

/// The `p` quantile (0 to 1) of the values; NaN when there are none.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[handler]
fn healthy() -> &'static str {
    "ok"
}

/// An HTTP server on loopback whose /health answers 200; returns its URL.
pub async fn loopback_target() -> String {
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let routes = Route::new()
        .at("/health", get(healthy))
        .at("/health.json", get(healthy_json));
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(routes));
    format!("http://{addr}/health")
}

#[handler]
fn healthy_json() -> poem::web::Json<serde_json::Value> {
    poem::web::Json(serde_json::json!({ "ok": true, "version": "1.0" }))
}

/// A TLS server on loopback with a self-signed certificate (rcgen) that completes handshakes and closes;
/// returns its `host:port`.
pub async fn tls_target() -> String {
    use std::sync::Arc;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    format!("localhost:{}", addr.port())
}

/// Accounts on the store, with an admin for the benchmark to act as.
pub async fn access_with_admin(store: &Arc<dyn Store>, config: AccessConfig) -> (Arc<Access>, User) {
    let access = Arc::new(Access::new(store.clone(), config));
    let admin = access
        .create_user(&NewUser {
            username: "bench".into(),
            password: "bench-password".into(),
            role: Role::Admin,
        })
        .await
        .unwrap();
    (access, admin)
}

/// An API token of `user` with `scope`.
pub async fn token(access: &Access, user: &User, scope: Scope) -> String {
    access
        .create_token(
            user,
            &NewToken {
                name: "bench".into(),
                scope,
                expires_at: None,
            },
        )
        .await
        .unwrap()
        .token
}

/// The whole server on a free port, serving the web folder of this checkout.
pub async fn serve(store: &Arc<dyn Store>, engine: &Engine, access: Arc<Access>) -> Running {
    // HOMEWATCH_WEB_DIR serves the page from a folder, as the server does: the page can be changed and
    // measured again without rebuilding.
    let options = HttpOptions {
        web_dir: std::env::var_os("HOMEWATCH_WEB_DIR").map(std::path::PathBuf::from),
        ..HttpOptions::default()
    };
    let app = http::app(store.clone(), engine.clone(), access, &options).unwrap();
    server::start(
        "127.0.0.1:0".parse().unwrap(),
        Default::default(),
        app,
        std::future::pending(),
        Duration::from_secs(1),
    )
    .await
    .unwrap()
}

/// CPU seconds this process used so far (user + system), from /proc.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11..13)
        .map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

pub struct Database {
    pub url: DatabaseUrl,
    pub sqlite_path: Option<std::path::PathBuf>,
    _dir: tempfile::TempDir,
}

pub async fn database(kind: &str) -> Database {
    let dir = tempfile::tempdir().unwrap();
    match kind {
        "sqlite" => {
            let path = dir.path().join("bench.db");
            Database {
                url: DatabaseUrl::new(format!("sqlite://{}", path.display())),
                sqlite_path: Some(path),
                _dir: dir,
            }
        }
        "postgres" => {
            let admin = std::env::var("HOMEWATCH_BENCH_DATABASE_URL")
                .expect("set HOMEWATCH_BENCH_DATABASE_URL to an admin URL for --store postgres");
            run_admin(&admin, "DROP DATABASE IF EXISTS homewatch_bench WITH (FORCE)").await;
            run_admin(&admin, "CREATE DATABASE homewatch_bench").await;
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path("homewatch_bench");
            Database {
                url: DatabaseUrl::new(url.to_string()),
                sqlite_path: None,
                _dir: dir,
            }
        }
        other => panic!("--store {other}: use sqlite or postgres"),
    }
}

#[cfg(feature = "postgres")]
pub async fn run_admin(admin: &str, sql: &str) {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(admin)
        .await
        .expect("reach the PostgreSQL server");
    sqlx::query(sql).execute(&mut connection).await.expect(sql);
}

#[cfg(not(feature = "postgres"))]
pub async fn run_admin(_admin: &str, _sql: &str) {
    panic!("--store postgres needs `cargo bench --features postgres`");
}

#[cfg(feature = "postgres")]
pub async fn postgres_size(url: &DatabaseUrl) -> u64 {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url.expose()).await.unwrap();
    let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    size as u64
}

#[cfg(not(feature = "postgres"))]
pub async fn postgres_size(_url: &DatabaseUrl) -> u64 {
    0
}

/// Bytes the data takes. SQLite: the main file only; after a commit the WAL is checkpointed into it, and
/// the WAL file keeps its largest size (it is reused, not grown), so counting it would mislead.
pub async fn size_bytes(db: &Database) -> u64 {
    match &db.sqlite_path {
        Some(path) => std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0),
        None => postgres_size(&db.url).await,
    }
}

/// `count` tiles in groups of 100, each with this check.
pub async fn create_tiles(
    store: &Arc<dyn Store>,
    count: usize,
    target: &str,
    spec: serde_json::Value,
) -> Vec<i64> {
    let check = Check::from_json(spec, Some(target)).expect("a valid check");
    let mut ids = Vec::with_capacity(count);
    let mut group = 0;
    for index in 0..count {
        if index % 100 == 0 {
            group = store
                .create_group(&NewGroup {
                    name: format!("Group {}", index / 100),
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
            description: Some("a benchmark tile".into()),
            icon: None,
            tags: Some(vec!["bench".into()]),
            check: Some(check.clone()),
        };
        ids.push(store.create_service(&tile).await.unwrap().id);
    }
    ids
}

/// The result of tile number `n` (its id `service_id`) checked at `at_ms`: one check in 97 fails, latencies
/// run from 5 to 44 ms.
pub fn simulated_result(service_id: i64, n: usize, at_ms: i64) -> CheckResult {
    let step = at_ms / 60_000 + n as i64;
    let ok = step % 97 != 0;
    CheckResult {
        service_id,
        checked_at: chrono::DateTime::from_timestamp_millis(at_ms).unwrap(),
        ok,
        latency_ms: 5 + (step % 40) as u32,
        status_code: Some(if ok { 200 } else { 503 }),
        error: (!ok).then(|| "status 503 is not in 200-299".to_owned()),
        maintenance: false,
        degraded: false,
        packet_loss_pct: None,
        certificate: None,
    }
}

/// Writes results in batches of 20,000; returns how many.
pub async fn record_all(store: &Arc<dyn Store>, results: impl IntoIterator<Item = CheckResult>) -> usize {
    let mut written = 0;
    let mut batch = Vec::with_capacity(20_000);
    for result in results {
        batch.push(result);
        if batch.len() == 20_000 {
            written += batch.len();
            let results = std::mem::replace(&mut batch, Vec::with_capacity(20_000));
            store
                .record_history(&HistoryBatch {
                    results,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    }
    written += batch.len();
    store
        .record_history(&HistoryBatch {
            results: batch,
            ..Default::default()
        })
        .await
        .unwrap();
    written
}

/// `days` of history as the engine would have written it: a result a minute for the retained week, one an
/// hour before that (an hourly rollup row is the same size whatever it counts). Nothing is pruned.
pub async fn simulate_history(store: &Arc<dyn Store>, ids: &[i64], days: i64) -> usize {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let (minute, hour) = (60_000, 3_600_000);
    let results = ids.iter().enumerate().flat_map(|(n, id)| {
        let mut at = now_ms - days * 24 * hour;
        std::iter::from_fn(move || {
            (at < now_ms).then(|| {
                let result = simulated_result(*id, n, at);
                at += if now_ms - at <= 7 * 24 * hour {
                    minute
                } else {
                    hour
                };
                result
            })
        })
    });
    record_all(store, results).await
}
