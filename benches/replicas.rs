//! The load replicas put on PostgreSQL: 1,000 tiles checked every 60 s against a loopback target, by one
//! replica and then by three (in this process, each with its own pool, cluster membership and engine, as
//! separate processes would have). PostgreSQL's transactions per second (pg_stat_database: every statement
//! outside a transaction counts as one) are measured with no replica (the baseline, in the same run), one,
//! and three; the extra load of each replica beyond the first is the difference over two.
//!
//!   HOMEWATCH_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench --features postgres --bench replicas [-- --tiles 1000 --seconds 60]

mod support;

#[cfg(not(feature = "postgres"))]
fn main() {
    println!("the replicas benchmark needs PostgreSQL: cargo bench --features postgres --bench replicas");
}

#[cfg(feature = "postgres")]
fn main() {
    support::block_on(bench::run());
}

#[cfg(feature = "postgres")]
mod bench {
    use std::{
        sync::{Arc, atomic::Ordering},
        time::{Duration, Instant},
    };

    use homewatch::{
        cluster::{ClusterConfig, pg},
        monitor::{
            engine::{Engine, EngineConfig},
            probe::Prober,
        },
        store::{self, DatabaseUrl, PoolConfig},
    };

    use super::support::{arg, create_tiles, database, loopback_target};

    async fn transactions(url: &DatabaseUrl) -> i64 {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url.expose()).await.unwrap();
        let count = sqlx::query_scalar(
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let _ = conn.close().await;
        count
    }

    /// PostgreSQL's transactions per second over `seconds`, and the checks the engines started meanwhile.
    async fn measure(url: &DatabaseUrl, engines: &[Engine], seconds: u64) -> (f64, f64) {
        let checks = || -> u64 {
            engines
                .iter()
                .map(|engine| engine.metrics().checks.load(Ordering::Relaxed))
                .sum()
        };
        // Statistics reach pg_stat_database within a second of each transaction.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (before, checks_before, started) = (transactions(url).await, checks(), Instant::now());
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let elapsed = started.elapsed().as_secs_f64();
        // The measuring connection's own transaction is one of them.
        let after = transactions(url).await - 1;
        (
            (after - before) as f64 / elapsed,
            (checks() - checks_before) as f64 / elapsed,
        )
    }

    async fn replica(url: &DatabaseUrl) -> Engine {
        let store = store::connect(url, &PoolConfig::default()).await.unwrap();
        let cluster = pg::join(store.postgres_pool().unwrap(), ClusterConfig::DEFAULT)
            .await
            .unwrap();
        let engine = Engine::start_in(
            store.clone(),
            Arc::new(Prober::new().unwrap()),
            EngineConfig::default(),
            cluster.clone(),
        )
        .await
        .unwrap();
        cluster.attach(engine.clone(), store);
        engine
    }

    pub async fn run() {
        let tiles: usize = arg("tiles", 1000);
        let seconds: u64 = arg("seconds", 60);
        println!("# replicas benchmark: {tiles} tiles every 60 s on PostgreSQL, {seconds} s per measurement");
        let db = database("postgres").await;
        let store = store::connect(&db.url, &PoolConfig::default()).await.unwrap();
        store.migrate().await.unwrap();
        let target = loopback_target().await;
        create_tiles(
            &store,
            tiles,
            &target,
            serde_json::json!({ "kind": "http", "interval_s": 60 }),
        )
        .await;
        store.close().await;

        let (idle, _) = measure(&db.url, &[], seconds.min(20)).await;
        println!("no replica (baseline): {idle:.1} transactions/s");

        let mut engines = vec![replica(&db.url).await];
        // The first minute holds every tile's first run; measure from the second.
        tokio::time::sleep(Duration::from_secs(61)).await;
        let (one, checks_one) = measure(&db.url, &engines, seconds).await;
        println!("one replica: {one:.1} transactions/s, {checks_one:.1} checks/s");

        engines.push(replica(&db.url).await);
        engines.push(replica(&db.url).await);
        // The two join three heartbeats after registering; then a minute for every tile's next run.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (three, checks_three) = measure(&db.url, &engines, seconds).await;
        let shares: Vec<String> = engines
            .iter()
            .map(|engine| {
                let (checking, _) = engine.cluster().readiness();
                format!("{checking}")
            })
            .collect();
        println!(
            "three replicas: {three:.1} transactions/s, {checks_three:.1} checks/s (checking: {})",
            shares.join(", ")
        );
        println!(
            "each replica beyond the first adds {:.1} transactions/s; one replica costs {:.1} over the idle \
             baseline ({:.2} per check)",
            (three - one) / 2.0,
            one - idle,
            (one - idle) / checks_one.max(f64::MIN_POSITIVE)
        );
        for engine in &engines {
            engine.cluster().leave().await;
            engine.stop().await;
        }
    }
}
