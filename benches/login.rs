//! Login cost: argon2id hashing and verification on their own, and whole logins over HTTP against the
//! real server on SQLite (the right password, a wrong one, and an unknown user, which must cost the same).
//!
//!   cargo bench --bench login
//!   cargo bench --bench login -- --logins 100

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use homewatch::{
    auth::{Access, AccessConfig, limiter::LimiterConfig, password::Passwords},
    http::{self, HttpOptions},
    model::{NewUser, Role},
    monitor::{
        engine::{Engine, EngineConfig},
        probe::Prober,
    },
    server,
    store::{self, DatabaseUrl, PoolConfig},
};

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, samples: &[f64]) {
    println!(
        "{label}: p50 {:.1} ms, p95 {:.1} ms ({} samples)",
        percentile(samples, 0.5),
        percentile(samples, 0.95),
        samples.len()
    );
}

fn main() {
    let mut logins = 50usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(index) = args.iter().position(|a| a == "--logins") {
        logins = args[index + 1].parse().expect("--logins N");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(logins));
}

async fn run(logins: usize) {
    println!("# login benchmark: argon2id, OWASP parameters (m=19456 KiB, t=2, p=1)");
    let passwords = Passwords::new();
    let mut hashing = Vec::new();
    let mut hash = String::new();
    for _ in 0..20 {
        let started = Instant::now();
        hash = passwords.hash("a benchmark passphrase").await;
        hashing.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!("hash: {}", &hash[..hash.rfind('$').unwrap_or(hash.len())]);
    report("hash a password", &hashing);
    let mut verifying = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        assert!(passwords.verify("a benchmark passphrase", Some(&hash)).await);
        verifying.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    report("verify a password", &verifying);

    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::new(format!("sqlite://{}", dir.path().join("homewatch.db").display()));
    let store = store::connect(&url, &PoolConfig::default()).await.unwrap();
    store.migrate().await.unwrap();
    let access = Arc::new(Access::new(
        store.clone(),
        AccessConfig {
            limiter: LimiterConfig {
                free_failures: u32::MAX,
                ..LimiterConfig::default()
            },
            ..AccessConfig::default()
        },
    ));
    access
        .create_user(&NewUser {
            username: "bench".into(),
            password: "a benchmark passphrase".into(),
            role: Role::Admin,
        })
        .await
        .unwrap();
    let engine = Engine::start(
        store.clone(),
        Arc::new(Prober::new().unwrap()),
        EngineConfig::default(),
    )
    .await
    .unwrap();
    let options = HttpOptions {
        web_dir: "web".into(),
        request_timeout: Duration::from_secs(30),
        cors_origins: vec![],
    };
    let app = http::app(store.clone(), engine.clone(), access, &options).unwrap();
    let running = server::start(
        "127.0.0.1:0".parse().unwrap(),
        app,
        std::future::pending(),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let login_url = format!("http://{}/api/v1/auth/login", running.addr);
    for (label, username, password, expected) in [
        (
            "login, right password (HTTP, with the session written)",
            "bench",
            "a benchmark passphrase",
            200,
        ),
        ("login, wrong password", "bench", "not the passphrase", 401),
        (
            "login, unknown user (decoy hash)",
            "nobody",
            "not the passphrase",
            401,
        ),
    ] {
        let mut samples = Vec::with_capacity(logins);
        for _ in 0..logins {
            let started = Instant::now();
            let response = client
                .post(&login_url)
                .json(&serde_json::json!({ "username": username, "password": password }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), expected);
            response.bytes().await.unwrap();
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        report(label, &samples);
    }
    running.stop().await.unwrap();
    engine.stop().await;
    store.close().await;
}
