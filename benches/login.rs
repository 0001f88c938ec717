//! Login cost: argon2id hashing and verification on their own, and whole logins over HTTP against the
//! real server on SQLite (the right password, a wrong one, and an unknown user, which must cost the same).
//!
//!   cargo bench --bench login
//!   cargo bench --bench login -- --logins 100

mod support;

use std::{sync::Arc, time::Instant};

use homewatch::{
    auth::{AccessConfig, limiter::LimiterConfig, password::Passwords},
    monitor::{
        engine::{Engine, EngineConfig},
        probe::Prober,
    },
    store::{self, DatabaseUrl, PoolConfig},
};
use support::{access_with_admin, arg, percentile, serve};

fn report(label: &str, samples: &[f64]) {
    println!(
        "{label}: p50 {:.1} ms, p95 {:.1} ms ({} samples)",
        percentile(samples, 0.5),
        percentile(samples, 0.95),
        samples.len()
    );
}

fn main() {
    let logins: usize = arg("logins", 50);
    support::block_on(run(logins));
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
    // Failed logins are the point here: no backoff.
    let config = AccessConfig {
        limiter: LimiterConfig {
            free_failures: u32::MAX,
            ..LimiterConfig::default()
        },
        ..AccessConfig::default()
    };
    let (access, _) = access_with_admin(&store, config).await;
    let engine = Engine::start(
        store.clone(),
        Arc::new(Prober::new().unwrap()),
        EngineConfig::default(),
    )
    .await
    .unwrap();
    let running = serve(&store, &engine, access).await;
    let client = reqwest::Client::new();
    let login_url = format!("http://{}/api/v1/auth/login", running.addr);
    for (label, username, password, expected) in [
        (
            "login, right password (with the session written)",
            "bench",
            "bench-password",
            200,
        ),
        ("login, wrong password", "bench", "not the password", 401),
        (
            "login, unknown user (decoy hash)",
            "nobody",
            "not the password",
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
