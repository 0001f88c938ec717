//! Faults, each on an instance of its own (never the shared PostgreSQL the other tests use): a process killed
//! with SIGKILL in a burst of writes, a disk that fills, a PostgreSQL cluster restarted under load, and a
//! database slowed by a proxy in front of it.

mod common;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{App, Backend, TestDb};
use homewatch::store::DatabaseUrl;
use reqwest::StatusCode;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_homewatch");

/// A homewatch process on an SQLite file in `dir`, with an admin, and the address it listens on.
fn server(dir: &Path, port: u16) -> Child {
    server_with(dir, port, &[])
}

fn server_with(dir: &Path, port: u16, env: &[(&str, &str)]) -> Child {
    Command::new(BIN)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("HOMEWATCH_WEB_DIR")
        .envs(env.iter().copied())
        .env("HOMEWATCH_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOMEWATCH_ADMIN_USER", "admin")
        .env("HOMEWATCH_ADMIN_PASSWORD", "admin-password-1")
        .env("HOMEWATCH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start homewatch")
}

/// A write token of the admin, through a login.
async fn admin_token(base: &str) -> String {
    common::write_token(base, &common::session_cookie(base).await, "faults").await
}

async fn integrity(path: &Path) -> String {
    use sqlx::Connection;
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut db)
        .await
        .unwrap()
}

/// Every write that was answered 2xx is there after SIGKILL and a restart, and the file is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_answered_write_through_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = server(dir.path(), port);
    common::wait_healthy(&base, Duration::from_secs(20)).await;
    let token = admin_token(&base).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            tokio::spawn(async move {
                let mut answered = Vec::new();
                for n in 0.. {
                    let reply = client
                        .post(format!("{base}/api/v1/groups"))
                        .bearer_auth(&token)
                        .json(&json!({ "name": format!("w{writer}-{n}") }))
                        .send()
                        .await;
                    match reply {
                        Ok(reply) if reply.status().is_success() => answered.push(format!("w{writer}-{n}")),
                        _ => break,
                    }
                }
                answered
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut answered = Vec::new();
    for writer in writers {
        answered.extend(writer.await.unwrap());
    }
    assert!(answered.len() > 20, "the burst wrote {} groups", answered.len());
    let path = dir.path().join("data/homewatch.db");
    assert_eq!(integrity(&path).await, "ok");

    let mut child = server(dir.path(), port);
    common::wait_healthy(&base, Duration::from_secs(20)).await;
    let groups: Vec<serde_json::Value> = client
        .get(format!("{base}/api/v1/groups"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: std::collections::HashSet<&str> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
    let missing: Vec<&String> = answered
        .iter()
        .filter(|name| !stored.contains(name.as_str()))
        .collect();
    eprintln!(
        "kill -9 in a burst: {} writes answered 2xx, {} missing after restart",
        answered.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "answered but lost: {missing:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Notifications not delivered when the process is killed are delivered after the restart, and those
/// delivered before it are not sent again: each idempotency key reaches the receiver exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_alerts_survive_a_kill_9_and_none_is_sent_twice() {
    use common::receivers::Receiver;
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [
        ("HOMEWATCH_ALERT_RETRY_BASE", "1s"),
        ("HOMEWATCH_ALERT_TIMEOUT", "2s"),
    ];
    let mut child = server_with(dir.path(), port, &env);
    common::wait_healthy(&base, Duration::from_secs(20)).await;
    let token = admin_token(&base).await;
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
    };
    let receiver = Receiver::start().await;
    let (target, _) = common::switchable_target().await;
    let down = target.replace("/health", "/missing"); // 404: down at the first check
    call(
        reqwest::Method::POST,
        "/api/v1/channels",
        json!({ "name": "hook", "all_tiles": true,
        "settings": { "kind": "webhook", "url": format!("{}/hook", receiver.base) } }),
    )
    .send()
    .await
    .unwrap();
    let group: serde_json::Value = call(reqwest::Method::POST, "/api/v1/groups", json!({ "name": "G" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let add_tiles = |range: std::ops::Range<i32>| {
        let requests: Vec<_> = range
            .map(|n| {
                call(
                    reqwest::Method::POST,
                    "/api/v1/services",
                    json!({ "group_id": group["id"], "name": format!("T{n}"),
                    "url": down, "check": { "kind": "http", "retries": 0, "interval_s": 3600 } }),
                )
                .send()
            })
            .collect();
        futures_util::future::join_all(requests)
    };
    // Ten tiles go down while the receiver accepts: delivered before the kill.
    add_tiles(0..10).await;
    receiver
        .wait_until(Duration::from_secs(20), "ten down alerts", |got| got.len() == 10)
        .await;
    // Ten more while it refuses: attempted, not delivered, when the process dies.
    receiver.refuse(true);
    add_tiles(10..20).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.received().iter().filter(|r| !r.accepted).count() < 10 {
        assert!(
            Instant::now() < deadline,
            "the refused alerts were never attempted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    receiver.refuse(false);
    let restarted = Instant::now();
    let mut child = server_with(dir.path(), port, &env);
    common::wait_healthy(&base, Duration::from_secs(20)).await;
    receiver
        .wait_until(Duration::from_secs(60), "all twenty alerts", |got| {
            got.len() >= 20
        })
        .await;
    let after = restarted.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let accepted = receiver.accepted();
    let mut keys: Vec<&str> = accepted
        .iter()
        .filter_map(|r| r.header("x-homewatch-delivery"))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    eprintln!(
        "kill -9 with 10 alerts undelivered: all 20 delivered {:.1} s after the restart; {} deliveries for {} keys",
        after.as_secs_f64(),
        accepted.len(),
        keys.len()
    );
    assert_eq!((accepted.len(), keys.len()), (20, 20), "each alert exactly once");
    assert!(
        accepted.iter().all(|r| r.body["event"] == "down"),
        "the restart told nothing new"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A file system of the test's own (tmpfs, mounted as root) that fills: writes answer 503, nothing is
/// corrupted, and writing works again once there is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_503_corrupts_nothing_and_recovers() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1536k", "tmpfs"])
        .arg(mount.path())
        .status()
        .expect("run mount");
    assert!(
        mounted.success(),
        "this test mounts a small tmpfs and needs root (as CI runs it)"
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(mount.path());
    let path = mount.path().join("homewatch.db");
    let db = TestDb::new(Backend::Sqlite)
        .await
        .with_url(DatabaseUrl::new(format!("sqlite://{}", path.display())));
    let app = App::with_db(db).start().await;
    let group = app.group("Full").await;
    let description = "x".repeat(500);
    let mut created = 0;
    let refused = loop {
        let reply = app
            .post(
                "/api/v1/services",
                json!({ "group_id": group, "name": format!("tile {created}"), "url": "https://a.lan",
                        "description": description }),
            )
            .await;
        match reply.status {
            StatusCode::CREATED => created += 1,
            _ => break reply,
        }
        assert!(created < 20_000, "the disk never filled");
    };
    eprintln!(
        "disk full after {created} tiles: {} {}",
        refused.status, refused.text
    );
    refused.problem(503);
    assert_eq!(integrity(&path).await, "ok");
    let listed = app
        .get(&format!("/api/v1/services?group_id={group}&limit=500"))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "reads still work: {}", listed.text);

    let grown = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(mount.path())
        .status()
        .unwrap();
    assert!(grown.success());
    let again = app
        .post(
            "/api/v1/services",
            json!({ "group_id": group, "name": "after", "url": "https://a.lan" }),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "writes work once there is room: {}",
        again.text
    );
    assert_eq!(integrity(&path).await, "ok");
    app.stop().await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::{path::PathBuf, process::Command, sync::atomic::Ordering, time::Duration};

    use super::*;

    /// A PostgreSQL cluster of the test's own: initdb'd into a temporary folder (as the `postgres` user, since
    /// PostgreSQL refuses to run as root), on a free port, trusting local connections.
    pub struct Cluster {
        pub dir: tempfile::TempDir,
        pub port: u16,
        bin: PathBuf,
    }

    fn as_postgres(program: &Path, args: &[&str]) -> std::process::ExitStatus {
        let mut command = if nix_is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run a PostgreSQL tool")
    }

    fn nix_is_root() -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.starts_with(b"0"))
    }

    impl Cluster {
        pub fn start() -> Self {
            let bin = std::fs::read_dir("/usr/lib/postgresql")
                .expect("PostgreSQL's server binaries in /usr/lib/postgresql")
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin"))
                .find(|bin| bin.join("initdb").is_file())
                .expect("an initdb");
            let dir = tempfile::tempdir().unwrap();
            if nix_is_root() {
                Command::new("chown")
                    .args(["-R", "postgres"])
                    .arg(dir.path())
                    .status()
                    .unwrap();
            }
            let data = dir.path().join("data");
            let data = data.to_str().unwrap();
            assert!(
                as_postgres(
                    &bin.join("initdb"),
                    &["-D", data, "--auth=trust", "-U", "postgres"]
                )
                .success()
            );
            let cluster = Self {
                dir,
                port: common::free_port(),
                bin,
            };
            cluster.pg_ctl("start");
            cluster
        }

        pub fn pg_ctl(&self, action: &str) {
            let data = self.dir.path().join("data");
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.path().display()
            );
            let status = as_postgres(
                &self.bin.join("pg_ctl"),
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-o",
                    &options,
                    "-w",
                    "-m",
                    "fast",
                    action,
                ],
            );
            assert!(status.success(), "pg_ctl {action}");
        }

        pub fn url(&self) -> DatabaseUrl {
            DatabaseUrl::new(format!("postgres://postgres@127.0.0.1:{}/postgres", self.port))
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            let data = self.dir.path().join("data");
            let _ = as_postgres(
                &self.bin.join("pg_ctl"),
                &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
            );
        }
    }

    /// 200 tiles checked every 5 s while the cluster restarts: /healthz recovers by itself, and every result
    /// the engine found is stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_restarted_under_load_recovers_and_loses_no_result() {
        let cluster = Cluster::start();
        let db = TestDb::new(Backend::Sqlite).await.with_url(cluster.url());
        let app = App::with_db(db)
            .flush_every(Duration::from_millis(500))
            .start()
            .await;
        let (target, _) = common::switchable_target().await;
        let group = app.group("Load").await;
        for n in 0..200 {
            app.service(
                group,
                &format!("tile {n}"),
                json!({ "url": target, "check": { "kind": "http", "interval_s": 5 } }),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_secs(6)).await;
        let before = app.engine.metrics().found.load(Ordering::Relaxed);
        let started = Instant::now();
        cluster.pg_ctl("stop");
        tokio::time::sleep(Duration::from_secs(3)).await;
        let down = app
            .anonymous
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        cluster.pg_ctl("start");
        common::wait_healthy(&app.base, Duration::from_secs(30)).await;
        eprintln!(
            "PostgreSQL restart: healthy again {:?} after the stop",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_secs(6)).await;
        let store = app.store.clone();
        let engine = app.engine.clone();
        app.stop().await;
        let found = engine.metrics().found.load(Ordering::Relaxed);
        assert!(
            found > before + 100,
            "checks went on while the database was away: {before} then {found}"
        );
        drop(store);
        let stored: i64 = {
            use sqlx::Connection;
            let mut db = sqlx::PgConnection::connect(cluster.url().expose()).await.unwrap();
            sqlx::query_scalar("SELECT count(*) FROM check_results")
                .fetch_one(&mut db)
                .await
                .unwrap()
        };
        let stored = u64::try_from(stored).unwrap();
        eprintln!("PostgreSQL restart under load: {found} results found, {stored} stored");
        assert_eq!(stored, found, "every result found is stored");
    }

    /// A relay that holds every chunk for `delay` before passing it on.
    async fn slow_proxy(target: std::net::SocketAddr, delay: Duration) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    let relay = |mut from: tokio::net::tcp::OwnedReadHalf,
                                 mut to: tokio::net::tcp::OwnedWriteHalf| async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buffer = vec![0; 16 * 1024];
                        while let Ok(read) = from.read(&mut buffer).await {
                            if read == 0 {
                                break;
                            }
                            tokio::time::sleep(delay).await;
                            if to.write_all(&buffer[..read]).await.is_err() {
                                break;
                            }
                        }
                    };
                    tokio::join!(relay(in_read, out_write), relay(out_read, in_write));
                });
            }
        });
        port
    }

    /// PostgreSQL behind a proxy that adds 150 ms to every packet, with a pool of two: requests that cannot get
    /// a connection within two seconds answer 503 (nothing else), and the engine keeps its schedule.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_database_is_answered_with_503_and_the_engine_keeps_its_schedule() {
        let cluster = Cluster::start();
        let fast = TestDb::new(Backend::Sqlite).await.with_url(cluster.url());
        // The schema first, at full speed.
        fast.open().await.close().await;
        let port = slow_proxy(
            format!("127.0.0.1:{}", cluster.port).parse().unwrap(),
            Duration::from_millis(150),
        )
        .await;
        // Two connections, and two seconds to wait for one: part of a burst of requests must give up waiting.
        let slow = fast
            .with_url(DatabaseUrl::new(format!(
                "postgres://postgres@127.0.0.1:{port}/postgres"
            )))
            .with_pool(homewatch::store::PoolConfig {
                max_connections: 2,
                min_connections: 0,
                acquire_timeout: Duration::from_secs(2),
                ..common::test_pool()
            });
        let app = App::with_db(slow).start().await;
        let (target, _) = common::switchable_target().await;
        let group = app.group("Slow").await;
        app.service(
            group,
            "Watched",
            json!({ "url": target, "check": { "kind": "http", "interval_s": 5 } }),
        )
        .await;
        app.engine.metrics().take_lags();
        let requests: Vec<_> = (0..12)
            .map(|_| {
                let (client, base) = (app.client.clone(), app.base.clone());
                tokio::spawn(async move {
                    let started = Instant::now();
                    let status = client
                        .get(format!("{base}/api/v1/groups"))
                        .send()
                        .await
                        .unwrap()
                        .status();
                    (status, started.elapsed())
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for request in requests {
            statuses.push(request.await.unwrap());
        }
        eprintln!("slow database: {statuses:?}");
        assert!(
            statuses
                .iter()
                .all(|(status, _)| *status == StatusCode::OK || *status == StatusCode::SERVICE_UNAVAILABLE),
            "{statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .any(|(status, _)| *status == StatusCode::SERVICE_UNAVAILABLE),
            "{statuses:?}"
        );
        tokio::time::sleep(Duration::from_secs(6)).await;
        let lags = app.engine.metrics().take_lags();
        assert!(!lags.is_empty(), "checks ran");
        assert!(
            lags.iter().all(|lag_us| *lag_us < 1_000_000),
            "schedule lag with a slow database: {lags:?}"
        );
        drop(app);
    }

    /// Two replica processes on the test's own PostgreSQL, 100 tiles every 5 s, and PostgreSQL away for 12 s
    /// under them: both recover by themselves (checking again, without a restart), and every check they started
    /// is stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_recover_from_a_postgres_restart_and_lose_no_result() {
        let cluster = Cluster::start();
        let url = cluster.url().expose().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let (target, _) = common::switchable_target().await;
        let ports = [common::free_port(), common::free_port()];
        let mut replicas: Vec<Child> = ports
            .iter()
            .map(|port| server_with(dir.path(), *port, &[("DATABASE_URL", url.as_str())]))
            .collect();
        let bases: Vec<String> = ports
            .iter()
            .map(|port| format!("http://127.0.0.1:{port}"))
            .collect();
        for base in &bases {
            common::wait_healthy(base, Duration::from_secs(60)).await;
        }
        let token = admin_token(&bases[0]).await;
        let api = reqwest::Client::new();
        let group: serde_json::Value = api
            .post(format!("{}/api/v1/groups", bases[0]))
            .bearer_auth(&token)
            .json(&json!({ "name": "Load" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for n in 0..100 {
            let reply = api
                .post(format!("{}/api/v1/services", bases[1]))
                .bearer_auth(&token)
                .json(
                    &json!({ "group_id": group["id"], "name": format!("tile {n}"), "url": target,
                               "check": { "kind": "http", "interval_s": 5 } }),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), StatusCode::CREATED);
        }
        let readyz = |base: String| async move {
            let body: serde_json::Value = reqwest::get(format!("{base}/readyz"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            Some((
                body["replica"]["checking"] == true,
                body["replica"]["checks_started"].as_u64()?,
            ))
        };
        let all_checking = || {
            let bases = bases.clone();
            async move {
                for base in bases {
                    if !matches!(readyz(base).await, Some((true, _))) {
                        return false;
                    }
                }
                true
            }
        };
        let deadline = Instant::now() + Duration::from_secs(40);
        while !all_checking().await {
            assert!(Instant::now() < deadline, "both replicas check");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(6)).await;
        // Longer than HOMEWATCH_REPLICA_DEAD_AFTER (10 s): each replica stops checking, having lost its
        // heartbeat, and must join again by itself.
        cluster.pg_ctl("stop");
        tokio::time::sleep(Duration::from_secs(12)).await;
        cluster.pg_ctl("start");
        let restarted = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !all_checking().await {
            assert!(
                Instant::now() < deadline,
                "both replicas check again after the restart"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let recovered = restarted.elapsed();
        let before: u64 = {
            let mut sum = 0;
            for base in &bases {
                sum += readyz(base.clone()).await.unwrap().1;
            }
            sum
        };
        tokio::time::sleep(Duration::from_secs(12)).await;
        let mut started = 0;
        for base in &bases {
            started += readyz(base.clone()).await.unwrap().1;
        }
        assert!(
            started > before + 100,
            "checking went on: {before} then {started}"
        );
        // A clean stop writes what each replica found.
        for child in &mut replicas {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
        }
        for child in &mut replicas {
            let _ = child.wait();
        }
        let stored: i64 = {
            use sqlx::Connection;
            let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT count(*) FROM check_results")
                .fetch_one(&mut db)
                .await
                .unwrap()
        };
        eprintln!(
            "replicas through a PostgreSQL restart: checking again {recovered:?} after it came back; \
             {started} checks started by the last look, {stored} results stored"
        );
        assert!(
            stored as u64 >= started,
            "every check started is stored: {started} started, {stored} stored"
        );
    }
}
