//! Replicas on one PostgreSQL, as real processes of the real binary: every due check runs once cluster-wide,
//! a killed replica's checks are taken over, events and edits reach every replica, and logins are limited
//! across them (`--features postgres` with HOMEWATCH_TEST_DATABASE_URL); and SQLite's one process.

mod common;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_homewatch");

#[cfg(feature = "postgres")]
mod cluster {
    use std::{
        collections::{BTreeMap, HashSet},
        path::Path,
        process::{Child, Command, Stdio},
        sync::{Arc, Mutex},
        time::{Duration, Instant},
    };

    use chrono::{DateTime, Utc};
    use reqwest::StatusCode;
    use serde_json::{Value, json};

    use super::{BIN, common};
    const INTERVAL_S: i64 = 5;

    struct Replica {
        name: &'static str,
        base: String,
        child: Child,
    }

    impl Replica {
        fn start(name: &'static str, url: &str, dir: &Path, env: &[(&str, &str)]) -> Self {
            let port = common::free_port();
            let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
            let child = Command::new(BIN)
                .current_dir(dir)
                .envs(env.iter().copied())
                .env("DATABASE_URL", url)
                .env_remove("HOMEWATCH_WEB_DIR")
                .env("HOMEWATCH_LISTEN", format!("127.0.0.1:{port}"))
                .env("HOMEWATCH_ADMIN_USER", "admin")
                .env("HOMEWATCH_ADMIN_PASSWORD", "admin-password-1")
                .env("HOMEWATCH_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start homewatch");
            Self {
                name,
                base: format!("http://127.0.0.1:{port}"),
                child,
            }
        }

        fn kill_9(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }

        async fn readyz(&self) -> Value {
            reqwest::get(format!("{}/readyz", self.base))
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        }
    }

    impl Drop for Replica {
        fn drop(&mut self) {
            self.kill_9();
        }
    }

    async fn wait_until<F, Fut>(what: &str, within: Duration, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + within;
        while !done().await {
            assert!(Instant::now() < deadline, "{what}: not within {within:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn checking(replica: &Replica) -> bool {
        match reqwest::get(format!("{}/readyz", replica.base)).await {
            Ok(reply) if reply.status() == StatusCode::OK => reply
                .json::<Value>()
                .await
                .is_ok_and(|body| body["replica"]["checking"] == true),
            _ => false,
        }
    }

    async fn login(client: &reqwest::Client, base: &str, password: &str) -> reqwest::Response {
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({ "username": "admin", "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Events as they arrived.
    type Seen = Arc<Mutex<Vec<(Value, DateTime<Utc>)>>>;

    fn listen(base: &str, token: &str) -> Seen {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (url, token, keep) = (format!("{base}/api/v1/events"), token.to_owned(), seen.clone());
        tokio::spawn(async move {
            let mut reply = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = reply.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let message: String = buffer.drain(..end + 2).collect();
                    for line in message.lines() {
                        if let Some(data) = line.strip_prefix("data: ")
                            && let Ok(event) = serde_json::from_str::<Value>(data)
                        {
                            keep.lock().unwrap().push((event, Utc::now()));
                        }
                    }
                }
            }
        });
        seen
    }

    /// Transactions PostgreSQL has committed or rolled back in this database so far.
    async fn transactions(url: &str) -> i64 {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    }

    fn percentile(sorted: &[f64], p: f64) -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        sorted[((sorted.len() - 1) as f64 * p).round() as usize]
    }

    /// Three checking replicas (and a fourth that only serves) on one PostgreSQL, 300 tiles every 5 s, for two
    /// minutes with a `kill -9` and a restart in the middle. Counted from the stored results.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_replicas_run_each_check_once_take_over_a_killed_one_and_share_everything() {
        let db = common::postgres_db::create().await;
        let url = db.url.expose().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let (target, _) = common::switchable_target().await;

        let a = Replica::start("a", &url, dir.path(), &[]);
        common::wait_healthy(&a.base, Duration::from_secs(60)).await;
        let b = Replica::start("b", &url, dir.path(), &[]);
        let mut c = Replica::start("c", &url, dir.path(), &[]);
        let d = Replica::start("d", &url, dir.path(), &[("HOMEWATCH_REPLICA_CHECKS", "false")]);
        for replica in [&b, &c, &d] {
            common::wait_healthy(&replica.base, Duration::from_secs(60)).await;
        }

        // Sessions are shared: one made on A works on B.
        let cookie = common::session_cookie(&a.base).await;
        let me = reqwest::Client::new()
            .get(format!("{}/api/v1/auth/me", b.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK, "a session made on A works on B");
        let token = common::write_token(&a.base, &cookie, "replicas").await;
        let api = reqwest::Client::new();

        // The tiles are made on A.
        let group: Value = api
            .post(format!("{}/api/v1/groups", a.base))
            .bearer_auth(&token)
            .json(&json!({ "name": "Load" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let group = group["id"].as_i64().unwrap();
        let mut tiles = Vec::new();
        for n in 0..300 {
            let reply = api
                .post(format!("{}/api/v1/services", a.base))
                .bearer_auth(&token)
                .json(&json!({
                    "group_id": group, "name": format!("tile {n}"), "url": target,
                    "check": { "kind": "http", "interval_s": INTERVAL_S }
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), StatusCode::CREATED);
            let made: Value = reply.json().await.unwrap();
            tiles.push(made["id"].as_i64().unwrap());
        }
        for replica in [&a, &b, &c] {
            wait_until(
                &format!("{} checking", replica.name),
                Duration::from_secs(30),
                || checking(replica),
            )
            .await;
        }
        assert!(
            !checking(&d).await,
            "a replica with HOMEWATCH_REPLICA_CHECKS=false runs nothing"
        );
        let on_a = listen(&a.base, &token);
        let on_d = listen(&d.base, &token);
        tokio::time::sleep(Duration::from_secs(1)).await;

        // Edits on B reach every replica's engine: twelve tiles (each replica owns some of them) go to every
        // 10 s, and their stored results follow the new interval whoever runs them. A's page hears of it.
        let slower: HashSet<i64> = tiles.iter().take(12).copied().collect();
        for tile in &slower {
            let reply = api
                .patch(format!("{}/api/v1/services/{tile}", b.base))
                .bearer_auth(&token)
                .json(&json!({ "check": { "kind": "http", "interval_s": 2 * INTERVAL_S } }))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), StatusCode::OK);
        }
        wait_until(
            "the edits on B announced on A",
            Duration::from_secs(5),
            || async {
                on_a.lock()
                    .unwrap()
                    .iter()
                    .any(|(e, _)| e["kind"] == "config_changed")
            },
        )
        .await;

        // Login limits hold across replicas: failures on A and B, alternately, end in 429 though neither
        // replica alone saw more than its free failures, and C (which saw none) refuses too.
        let guesser = reqwest::Client::new();
        let mut refused_after = None;
        for attempt in 1..=10 {
            let on = if attempt % 2 == 1 { &a } else { &b };
            let reply = login(&guesser, &on.base, "wrong-password-1").await;
            if reply.status() == StatusCode::TOO_MANY_REQUESTS {
                refused_after = Some(attempt);
                break;
            }
            assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
        }
        let refused_after = refused_after.expect("the shared backoff refused a guess");
        assert!(refused_after <= 8, "refused after {refused_after} guesses");
        let on_c = login(&guesser, &c.base, "wrong-password-1").await;
        assert_eq!(on_c.status(), StatusCode::TOO_MANY_REQUESTS, "C refuses too");

        // The edits ran at once; counting starts once every tile is back on its own schedule.
        tokio::time::sleep(Duration::from_secs(2 * INTERVAL_S as u64 + 1)).await;
        let from = Utc::now();
        let counting = Instant::now();
        let transactions_before = transactions(&url).await;

        // A minute of steady work, then C is killed.
        tokio::time::sleep(Duration::from_secs(50).saturating_sub(counting.elapsed())).await;
        let c_checks = c.readyz().await["replica"]["checks_started"].as_u64().unwrap();
        assert!(c_checks > 0, "C ran checks");
        // PostgreSQL's transactions per second while three replicas check (every statement outside a
        // transaction counts as one).
        let per_replica_tps =
            (transactions(&url).await - transactions_before) as f64 / counting.elapsed().as_secs_f64() / 4.0;
        let killed_at = Utc::now();
        c.kill_9();
        tokio::time::sleep(Duration::from_secs(35)).await;

        // C again: work spreads back to it.
        let c = Replica::start("c", &url, dir.path(), &[]);
        wait_until("c again checking", Duration::from_secs(40), || checking(&c)).await;
        let back_at = Instant::now();
        tokio::time::sleep(Duration::from_secs(20)).await;
        let c_again = c.readyz().await["replica"]["checks_started"].as_u64().unwrap();
        let share = c_again as f64 / (300.0 * back_at.elapsed().as_secs_f64() / INTERVAL_S as f64);
        // The last due times may still be unwritten: the count ends a few seconds before now.
        let to = Utc::now() - chrono::Duration::milliseconds(3_000);
        tokio::time::sleep(Duration::from_secs(3)).await;

        // Counted from the stored results.
        let rows: Vec<(i64, i64)> = {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_as(
                "SELECT service_id, checked_at FROM check_results WHERE checked_at >= $1 AND checked_at < $2 \
             ORDER BY service_id, checked_at",
            )
            .bind(from.timestamp_millis())
            .bind(to.timestamp_millis())
            .fetch_all(&mut conn)
            .await
            .unwrap()
        };
        let mut by_tile: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (tile, at) in rows {
            by_tile.entry(tile).or_default().push(at);
        }
        assert_eq!(by_tile.len(), 300, "every tile was checked");
        let killed_ms = killed_at.timestamp_millis();
        let (mut twice, mut missed, mut takeover_ms, mut taken_over) = (0, 0, 0i64, 0);
        for (tile, times) in &by_tile {
            let interval_ms = match slower.contains(tile) {
                true => 2 * INTERVAL_S * 1000,
                false => INTERVAL_S * 1000,
            };
            // Before the first and after the last result in the window count too.
            let mut edges = vec![from.timestamp_millis() - 1];
            edges.extend(times.iter().copied());
            edges.push(to.timestamp_millis());
            let last = edges.len() - 2;
            for (n, pair) in edges.windows(2).enumerate() {
                let gap = pair[1] - pair[0];
                // The window's own edges are not runs: they only count for gaps.
                let between_runs = n != 0 && n != last;
                if between_runs && gap < interval_ms / 2 {
                    twice += 1;
                } else if pair[0] <= killed_ms && killed_ms < pair[1] && gap > interval_ms * 3 / 2 {
                    // The tile was C's: its next run came from a survivor.
                    taken_over += 1;
                    takeover_ms = takeover_ms.max(pair[1] - killed_ms);
                } else if gap > interval_ms * 3 / 2 {
                    missed += 1;
                }
            }
        }
        let results: usize = by_tile.values().map(Vec::len).sum();
        eprintln!(
            "replicas: {results} results of 300 tiles in {:.0} s; run twice: {twice}; missed: {missed}; \
         C's tiles taken over: {taken_over}, the last {:.1} s after the kill; C after its restart ran {c_again} \
         checks in {:.0} s ({:.0}% of a third)",
            (to - from).num_milliseconds() as f64 / 1000.0,
            takeover_ms as f64 / 1000.0,
            back_at.elapsed().as_secs_f64(),
            share * 300.0
        );
        eprintln!(
            "replicas: PostgreSQL load {per_replica_tps:.1} transactions/s per replica (4 replicas, 60 checks/s in all)"
        );
        assert_eq!(twice, 0, "no due check ran twice");
        assert_eq!(missed, 0, "no due check was missed");
        assert!(
            taken_over > 50,
            "C held about a third of the tiles: {taken_over} taken over"
        );
        assert!(
            takeover_ms <= 30_000,
            "a killed replica's checks are taken over within 30 s: {takeover_ms} ms"
        );
        assert!(
            share > 0.2,
            "work spread back to C: {c_again} checks, {:.0}% of a third",
            share * 300.0
        );

        // Events: A's stream saw results of every tile (two thirds ran elsewhere); D, which runs nothing, saw
        // them all relayed.
        let tiles_on_a: HashSet<i64> = on_a
            .lock()
            .unwrap()
            .iter()
            .filter(|(e, _)| e["kind"] == "result")
            .map(|(e, _)| e["service_id"].as_i64().unwrap())
            .collect();
        assert_eq!(tiles_on_a.len(), 300, "A's stream saw every tile's results");
        let mut latencies: Vec<f64> = on_d
            .lock()
            .unwrap()
            .iter()
            .filter(|(e, _)| e["kind"] == "result")
            .filter_map(|(e, arrived)| {
                let checked: DateTime<Utc> = e["result"]["checked_at"].as_str()?.parse().ok()?;
                let took = e["result"]["latency_ms"].as_f64().unwrap_or_default();
                Some(((*arrived - checked).num_milliseconds() as f64 - took).max(0.0))
            })
            .collect();
        latencies.sort_by(f64::total_cmp);
        eprintln!(
            "replicas: {} results relayed to D's stream, from the check's end to the stream: p50 {:.0} ms, p99 {:.0} ms",
            latencies.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
        assert!(
            latencies.len() as f64 > results as f64 * 0.9,
            "D's stream saw the results: {} of {results}",
            latencies.len()
        );
        assert!(percentile(&latencies, 0.99) < 3_000.0);
        drop((a, b, c, d));
    }
}

/// A second server on the same SQLite file refuses to start, and says why.
#[test]
#[allow(clippy::disallowed_methods)] // a plain test: no runtime to block
fn a_second_process_on_one_sqlite_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let start = |port: u16| {
        Command::new(BIN)
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env("DATABASE_URL", "sqlite://one.db")
            .env("HOMEWATCH_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOMEWATCH_ADMIN_USER", "admin")
            .env("HOMEWATCH_ADMIN_PASSWORD", "admin-password-1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let port = common::free_port;
    let first_port = port();
    let mut first = start(first_port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", first_port)).is_err() {
        assert!(Instant::now() < deadline, "the first server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = start(port()).wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{said}");
    assert!(said.contains("another Homewatch server is running on"), "{said}");
    assert!(said.contains("PostgreSQL"), "it says what to do instead: {said}");
    let _ = first.kill();
    let _ = first.wait();
    // Once the first is gone, the file is free again.
    let third_port = port();
    let mut third = start(third_port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", third_port)).is_err() {
        assert!(
            third.try_wait().unwrap().is_none(),
            "the file stayed locked after the first server was killed"
        );
        assert!(Instant::now() < deadline, "the third server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = third.kill();
    let _ = third.wait();
}
