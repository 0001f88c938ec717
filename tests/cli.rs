//! The `homewatch` binary as users run it: start-up, logs, signals, subcommands, and the committed spec.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_homewatch");

fn homewatch(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("HOMEWATCH_WEB_DIR")
        .env("HOMEWATCH_LISTEN", "127.0.0.1:0")
        .env("HOMEWATCH_LOG", "info");
    command
}

/// A running server process whose log lines are collected as they come.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let stderr = child.stderr.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line containing `needle` and returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
        }
        panic!(
            "no log line with `{needle}` within 30 s; saw:\n{}",
            self.seen.join("\n")
        );
    }

    fn base_url(&mut self) -> String {
        let line = self.wait_for("listening on http://");
        let start = line.find("http://").unwrap();
        line[start..].split_whitespace().next().unwrap().to_owned()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.seen.extend(self.lines.try_iter());
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 15 s of SIGTERM");
            // Wait a little for the exit, collecting what the server logs meanwhile.
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(50)) {
                self.seen.push(line);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request with a JSON body and extra headers; returns status, headers and body.
fn send(
    method: &str,
    url: &str,
    body: Option<serde_json::Value>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut request = client.request(method.parse().unwrap(), url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    })
}

/// The `homewatch_session=...` pair of a Set-Cookie header.
fn session_from(headers: &reqwest::header::HeaderMap) -> String {
    let cookie = headers["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

#[test]
fn first_admin_from_the_logged_setup_token_and_no_secret_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(homewatch(dir.path()));
    let base = server.base_url();
    let line = server
        .seen
        .iter()
        .find(|l| l.contains("setup token"))
        .cloned()
        .expect("the setup token is logged");
    let token = line
        .split("setup token: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("setup token: TOKEN")
        .to_owned();
    let password = "a-long-secret-passphrase";
    let setup = serde_json::json!({ "token": token, "username": "alice", "password": password });
    let (status, headers, body) = send("POST", &format!("{base}/api/v1/setup"), Some(setup.clone()), &[]);
    assert_eq!(status, 201, "{body}");
    let first_session = session_from(&headers);
    let (again, _, body) = send("POST", &format!("{base}/api/v1/setup"), Some(setup), &[]);
    assert_eq!(again, 409, "the token is single-use: {body}");

    let login = serde_json::json!({ "username": "Alice", "password": password });
    let (status, headers, body) = send("POST", &format!("{base}/api/v1/auth/login"), Some(login), &[]);
    assert_eq!(status, 200, "{body}");
    let session = session_from(&headers);
    assert_ne!(session, first_session, "a new session id at every login");
    let (status, _, created) = send(
        "POST",
        &format!("{base}/api/v1/tokens"),
        Some(serde_json::json!({ "name": "cli test", "scope": "write" })),
        &[("cookie", &session), ("x-homewatch-request", "1")],
    );
    assert_eq!(status, 201, "{created}");
    let api_token = serde_json::from_str::<serde_json::Value>(&created).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {api_token}");
    let (status, _, body) = send(
        "GET",
        &format!("{base}/api/v1/auth/me"),
        None,
        &[("authorization", &bearer)],
    );
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = send(
        "POST",
        &format!("{base}/api/v1/auth/login"),
        Some(serde_json::json!({ "username": "alice", "password": "wrong-password-here" })),
        &[],
    );
    assert_eq!(status, 401);
    let (status, _, _) = send(
        "POST",
        &format!("{base}/api/v1/auth/logout"),
        None,
        &[("cookie", &session), ("origin", &base)],
    );
    assert_eq!(status, 204);
    server.wait_for("path=/api/v1/auth/logout");
    server.terminate();

    let log = server.seen.join("\n");
    let session_id = session.split('=').nth(1).unwrap();
    for secret in [password, "wrong-password-here", session_id, api_token.as_str()] {
        assert!(!log.contains(secret), "the log shows a secret ({secret}):\n{log}");
    }
    assert_eq!(
        log.matches(token.as_str()).count(),
        1,
        "the setup token is logged once, at start:\n{log}"
    );

    // Restarted with a user: no setup token any more.
    let mut restarted = Server::start(homewatch(dir.path()));
    restarted.base_url();
    assert!(
        !restarted.seen.iter().any(|l| l.contains("setup token")),
        "{:?}",
        restarted.seen
    );
}

#[test]
fn admins_from_the_command_line_and_from_the_environment() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut add = homewatch(dir.path())
        .args(["user", "add", "--admin", "root"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"cli-password-123\n")
        .unwrap();
    let output = add.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created root (admin)"));
    let mut short = homewatch(dir.path())
        .args(["user", "add", "shorty"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    short.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let output = short.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 10 characters"));

    let mut server = Server::start(homewatch(dir.path()));
    let base = server.base_url();
    assert!(!server.seen.iter().any(|l| l.contains("setup token")));
    let (status, _, body) = send(
        "POST",
        &format!("{base}/api/v1/auth/login"),
        Some(serde_json::json!({ "username": "root", "password": "cli-password-123" })),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    server.terminate();

    let other = tempfile::tempdir().unwrap();
    let mut command = homewatch(other.path());
    command
        .env("HOMEWATCH_ADMIN_USER", "ops")
        .env("HOMEWATCH_ADMIN_PASSWORD", "env-password-123");
    let mut server = Server::start(command);
    let base = server.base_url();
    let (status, _, body) = send(
        "POST",
        &format!("{base}/api/v1/auth/login"),
        Some(serde_json::json!({ "username": "ops", "password": "env-password-123" })),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    assert!(!server.seen.iter().any(|l| l.contains("env-password-123")));
}

fn get(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let response = client.get(url).send().await.expect("request");
        (response.status().as_u16(), response.text().await.unwrap())
    })
}

#[test]
fn committed_openapi_json_matches_the_code() {
    let output = Command::new(BIN).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let generated = String::from_utf8(output.stdout).unwrap();
    assert_eq!(generated.trim_end(), homewatch::http::spec_json().trim_end());
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json")).unwrap();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi.json is out of date with the code: regenerate it with `cargo run -- openapi > openapi.json`"
    );
}

#[test]
fn first_run_creates_the_sqlite_file_under_data_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut server = Server::start(homewatch(dir.path()));
    let base = server.base_url();
    let listening = server.seen.last().unwrap().clone();
    assert!(
        listening.contains("SQLite file data/homewatch.db"),
        "says which store: {listening}"
    );
    let mut health = get(&format!("{base}/healthz"));
    while health.0 != 200 && started.elapsed() < Duration::from_secs(10) {
        health = get(&format!("{base}/healthz"));
    }
    assert_eq!(health, (200, r#"{"status":"ok","store":"sqlite"}"#.to_owned()));
    eprintln!(
        "start to first 200 on /healthz: {} ms",
        started.elapsed().as_millis()
    );
    assert!(dir.path().join("data/homewatch.db").is_file());
    let (status, page) = get(&format!("{base}/"));
    assert_eq!(status, 200, "the page is built into the binary, wherever it runs");
    assert!(page.contains("<title>Homewatch</title>"), "{page}");

    let (status, state) = get(&format!("{base}/api/v1/auth/state"));
    assert_eq!(status, 200);
    assert!(state.contains(r#""setup_required":true"#), "{state}");
    let (status, _) = get(&format!("{base}/api/v1/groups"));
    assert_eq!(status, 401, "nothing is readable before anyone signs in");
    let logged = server.wait_for("path=/api/v1/groups");
    assert!(
        logged.contains("method=GET") && logged.contains("status=401"),
        "request log: {logged}"
    );
    assert!(
        !logged.contains('\u{1b}'),
        "no colour codes when the log is not a terminal: {logged}"
    );

    let exit = server.terminate();
    assert!(
        exit.success(),
        "graceful shutdown exits 0: {exit:?}\n{}",
        server.seen.join("\n")
    );
    assert!(server.seen.iter().any(|l| l.contains("shutting down")));
}

#[test]
fn json_logs_carry_method_path_status_latency_and_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = homewatch(dir.path());
    command.env("HOMEWATCH_LOG_FORMAT", "json");
    let mut server = Server::start(command);
    let base = server.base_url();
    get(&format!("{base}/api/v1/auth/state"));
    let line = server.wait_for("/api/v1/auth/state");
    let entry: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(entry["method"], "GET");
    assert_eq!(entry["path"], "/api/v1/auth/state");
    assert_eq!(entry["status"], 200);
    assert!(entry["latency_ms"].as_f64().is_some());
    assert!(entry["request_id"].as_str().is_some_and(|id| id.len() >= 32));
}

#[test]
fn migrate_and_healthcheck_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = homewatch(dir.path()).arg("migrate").output().unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let said = String::from_utf8(migrate.stdout).unwrap();
    let counts: Vec<u32> = said
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    assert!(
        said.contains("migrations applied") && counts.len() == 2 && counts[0] == counts[1] && counts[0] >= 1,
        "{said}"
    );

    let mut server = Server::start(homewatch(dir.path()));
    let base = server.base_url();
    let ok = homewatch(dir.path())
        .args(["healthcheck", "--url", &format!("{base}/healthz")])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    server.terminate();
    let closed = homewatch(dir.path())
        .args(["healthcheck", "--url", &format!("{base}/healthz")])
        .output()
        .unwrap();
    assert!(
        !closed.status.success(),
        "a stopped server fails the health check"
    );
}

#[test]
fn help_lists_commands_and_settings() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8(help.stdout).unwrap();
    for word in [
        "serve",
        "migrate",
        "openapi",
        "healthcheck",
        "backup",
        "DATABASE_URL",
        "HOMEWATCH_LISTEN",
    ] {
        assert!(text.contains(word), "--help lacks {word}");
    }
}

#[test]
fn bad_settings_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad_scheme = homewatch(dir.path())
        .env("DATABASE_URL", "mysql://root@localhost/hw")
        .output()
        .unwrap();
    assert_eq!(bad_scheme.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_scheme.stderr).contains("scheme `mysql:` is not supported"));

    let memory = homewatch(dir.path())
        .env("DATABASE_URL", "sqlite::memory:")
        .output()
        .unwrap();
    assert_eq!(memory.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&memory.stderr).contains("give a file path"));

    let duration = homewatch(dir.path())
        .env("HOMEWATCH_REQUEST_TIMEOUT", "soon")
        .output()
        .unwrap();
    assert_eq!(duration.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&duration.stderr).contains("not a duration"));

    let huge = homewatch(dir.path())
        .env("HOMEWATCH_SESSION_TTL", "99999999999999999999d")
        .output()
        .unwrap();
    assert_eq!(huge.status.code(), Some(2), "no panic on a huge duration");
    assert!(String::from_utf8_lossy(&huge.stderr).contains("longer than the longest duration accepted"));

    let empty = tempfile::tempdir().unwrap();
    let no_page = homewatch(dir.path())
        .env("HOMEWATCH_WEB_DIR", empty.path())
        .output()
        .unwrap();
    assert_eq!(no_page.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_page.stderr).contains("has no index.html"));
}

#[test]
fn web_dir_serves_the_page_from_disk_instead_of_the_built_in_copy() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("page");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<title>Work in progress</title>").unwrap();
    let mut command = homewatch(dir.path());
    command.env("HOMEWATCH_WEB_DIR", &web);
    let mut server = Server::start(command);
    let base = server.base_url();
    let (status, page) = get(&format!("{base}/services/3"));
    assert_eq!((status, page.as_str()), (200, "<title>Work in progress</title>"));
    server.terminate();
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_url_without_the_feature_says_how_to_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let output = homewatch(dir.path())
        .env("DATABASE_URL", "postgres://hw:pw-123@127.0.0.1/hw")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--features postgres"), "{stderr}");
    assert!(!stderr.contains("pw-123"));
}

#[cfg(feature = "postgres")]
#[test]
fn unreachable_postgres_is_retried_then_named_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = homewatch(dir.path())
        .env(
            "DATABASE_URL",
            "postgres://homewatch:hunter2-secret@127.0.0.1:9/homewatch_db",
        )
        .env("HOMEWATCH_DB_CONNECT_TIMEOUT", "2s")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for part in ["127.0.0.1:9", "homewatch_db", "user `homewatch`", "refused"] {
        assert!(stderr.contains(part), "the message names {part}: {stderr}");
    }
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
    assert!(stderr.matches("retry_in_ms").count() >= 2, "it retried: {stderr}");
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_server_never_logs_the_password() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let created = runtime.block_on(postgres_db());
    let mut url = url::Url::parse(&created.0).unwrap();
    url.set_password(Some("s3cret-in-url")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut command = homewatch(dir.path());
    command
        .env("DATABASE_URL", url.as_str())
        .env("HOMEWATCH_LOG", "debug");
    let mut server = Server::start(command);
    let base = server.base_url();
    assert_eq!(
        get(&format!("{base}/healthz")).1,
        r#"{"status":"ok","store":"postgres"}"#
    );
    get(&format!("{base}/api/v1/dashboard"));
    server.terminate();
    assert!(server.seen.iter().any(|line| line.contains("PostgreSQL at")));
    assert!(
        !server.seen.join("\n").contains("s3cret-in-url"),
        "a log line shows the password"
    );
    runtime.block_on(drop_db(&created.1));
}

#[cfg(feature = "postgres")]
async fn postgres_db() -> (String, String) {
    use sqlx::Connection;
    let admin = std::env::var("HOMEWATCH_TEST_DATABASE_URL")
        .expect("set HOMEWATCH_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres");
    let name = format!("homewatch_cli_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("reach the PostgreSQL test server");
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    (url.to_string(), name)
}

#[cfg(feature = "postgres")]
async fn drop_db(name: &str) {
    use sqlx::Connection;
    let admin = std::env::var("HOMEWATCH_TEST_DATABASE_URL").unwrap();
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// `homewatch backup FILE` while the server runs and writes: the copy is a whole database that a second
/// server starts on with the same data; an existing file is never overwritten, a missing store is named, and
/// a PostgreSQL URL is pointed at pg_dump.
#[test]
fn backup_copies_a_running_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = homewatch(dir.path());
    command
        .env("HOMEWATCH_ADMIN_USER", "ops")
        .env("HOMEWATCH_ADMIN_PASSWORD", "env-password-123");
    let mut server = Server::start(command);
    let base = server.base_url();
    let (_, headers, _) = send(
        "POST",
        &format!("{base}/api/v1/auth/login"),
        Some(serde_json::json!({ "username": "ops", "password": "env-password-123" })),
        &[],
    );
    let cookie = session_from(&headers);
    let write = |path: &str, body: serde_json::Value| {
        let (status, _, text) = send(
            "POST",
            &format!("{base}{path}"),
            Some(body),
            &[("cookie", cookie.as_str()), ("origin", base.as_str())],
        );
        assert_eq!(status, 201, "{text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let group = write("/api/v1/groups", serde_json::json!({ "name": "Media" }));
    for n in 0..20 {
        write(
            "/api/v1/services",
            serde_json::json!({ "group_id": group["id"], "name": format!("Tile {n}"), "url": "https://example.lan" }),
        );
    }

    let copy = dir.path().join("backups/monday.db");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let output = homewatch(dir.path())
        .args(["backup", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("backed up") && said.contains("monday.db"), "{said}");
    // The server kept working while the copy was made.
    write(
        "/api/v1/groups",
        serde_json::json!({ "name": "After the backup" }),
    );

    let again = homewatch(dir.path())
        .args(["backup", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let missing = homewatch(dir.path())
        .env("DATABASE_URL", "sqlite://nowhere/none.db")
        .args(["backup", "x.db"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no SQLite database at nowhere/none.db"));
    assert!(
        !dir.path().join("nowhere").exists(),
        "a backup creates no database"
    );
    let postgres = homewatch(dir.path())
        .env("DATABASE_URL", "postgres://u:secret-pw@127.0.0.1:1/db")
        .args(["backup", "x.db"])
        .output()
        .unwrap();
    let told = String::from_utf8_lossy(&postgres.stderr);
    assert_eq!(postgres.status.code(), Some(2));
    assert!(told.contains("pg_dump") && !told.contains("secret-pw"), "{told}");
    server.terminate();

    // A server on the copy has what was there when it was made, and nothing after.
    let restored = tempfile::tempdir().unwrap();
    let mut command = homewatch(restored.path());
    command.env("DATABASE_URL", format!("sqlite://{}", copy.display()));
    let mut server = Server::start(command);
    let base = server.base_url();
    let (_, headers, _) = send(
        "POST",
        &format!("{base}/api/v1/auth/login"),
        Some(serde_json::json!({ "username": "ops", "password": "env-password-123" })),
        &[],
    );
    let cookie = session_from(&headers);
    let (status, _, text) = send(
        "GET",
        &format!("{base}/api/v1/dashboard"),
        None,
        &[("cookie", cookie.as_str())],
    );
    assert_eq!(status, 200, "{text}");
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let groups = dashboard["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{text}");
    assert_eq!(groups[0]["services"].as_array().unwrap().len(), 20);
    server.terminate();
}

#[test]
fn export_and_apply_work_on_files_with_secret_references() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("homewatch.yaml");
    std::fs::write(
        &file,
        "version: 1\ngroups:\n  - name: Media\n    tiles:\n      - name: Sonarr\n        url: https://sonarr.lan\n        \
         check:\n          kind: http\n          headers: {X-Api-Key: \"${HOMEWATCH_SECRET_SONARR}\"}\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let output = homewatch(dir.path())
            .env("HOMEWATCH_SECRET_SONARR", "key-0123456789")
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let path = file.to_str().unwrap();
    let (code, out, err) = run(&["apply", "-f", path, "--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("+ tile Media / Sonarr") && out.contains("dry run"),
        "{out}"
    );
    assert!(
        !out.contains("key-0123456789"),
        "a plan never shows a secret: {out}"
    );
    let (_, out, _) = run(&["export"]);
    assert!(!out.contains("Sonarr"), "the dry run changed nothing: {out}");
    let (code, out, err) = run(&["apply", "-f", path]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("applied in one transaction"), "{out}");
    let (_, out, _) = run(&["apply", "-f", path]);
    assert!(out.contains("nothing to change"), "{out}");

    let (_, exported, _) = run(&["export"]);
    assert!(
        exported.starts_with("# yaml-language-server: $schema="),
        "{exported}"
    );
    assert!(
        exported.contains("${HOMEWATCH_SECRET_TILE_MEDIA_SONARR_HEADER_X_API_KEY}"),
        "{exported}"
    );
    assert!(!exported.contains("key-0123456789"));
    let (_, clear, _) = run(&["export", "--include-secrets", "--format", "json"]);
    let clear: serde_json::Value = serde_json::from_str(&clear).unwrap();
    assert_eq!(
        clear["groups"][0]["tiles"][0]["check"]["headers"]["X-Api-Key"],
        "key-0123456789"
    );

    std::fs::write(
        &file,
        "version: 1\ngroups:\n  - name: Media\n    tiles:\n      - name: X\n        url: ftp://x\n",
    )
    .unwrap();
    let (code, _, err) = run(&["apply", "-f", path]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("{path}:6: groups[0].tiles[0].url")),
        "{err}"
    );
}

#[test]
fn homewatch_config_is_applied_at_start_and_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("homewatch.yaml");
    let tiles = |names: &[&str]| {
        let mut text = String::from("version: 1\ngroups:\n  - name: Lab\n    tiles:\n");
        for name in names {
            text.push_str(&format!(
                "      - {{name: {name}, url: \"https://{name}.lan\"}}\n"
            ));
        }
        text
    };
    std::fs::write(&file, tiles(&["alpha", "beta"])).unwrap();
    let mut command = homewatch(dir.path());
    command
        .env("HOMEWATCH_CONFIG", &file)
        .env("HOMEWATCH_ADMIN_USER", "ops")
        .env("HOMEWATCH_ADMIN_PASSWORD", "env-password-123");
    let mut server = Server::start(command);
    server.wait_for("applied HOMEWATCH_CONFIG");
    let base = server.base_url();
    let (_, headers, _) = send(
        "POST",
        &format!("{base}/api/v1/auth/login"),
        Some(serde_json::json!({ "username": "ops", "password": "env-password-123" })),
        &[],
    );
    let cookie = session_from(&headers);
    let auth = [("cookie", cookie.as_str()), ("origin", base.as_str())];
    let tiles_now = || -> Vec<(String, bool)> {
        let (status, _, text) = send("GET", &format!("{base}/api/v1/services"), None, &auth);
        assert_eq!(status, 200, "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut tiles: Vec<(String, bool)> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_owned(),
                    t["managed"].as_bool().unwrap(),
                )
            })
            .collect();
        tiles.sort();
        tiles
    };
    assert_eq!(tiles_now(), [("alpha".into(), true), ("beta".into(), true)]);
    // A tile made in the page is the user's: the file never deletes it.
    let (_, _, groups) = send("GET", &format!("{base}/api/v1/groups"), None, &auth);
    let group_id = serde_json::from_str::<serde_json::Value>(&groups).unwrap()[0]["id"].clone();
    let (status, _, text) = send(
        "POST",
        &format!("{base}/api/v1/services"),
        Some(serde_json::json!({ "group_id": group_id, "name": "mine", "url": "https://mine.lan" })),
        &auth,
    );
    assert_eq!(status, 201, "{text}");

    let hangup = |server: &Server| {
        let sent = Command::new("kill")
            .args(["-HUP", &server.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    std::fs::write(&file, tiles(&["alpha", "gamma"])).unwrap();
    hangup(&server);
    let line = server.wait_for("SIGHUP: applied HOMEWATCH_CONFIG");
    assert!(line.contains("1 created") && line.contains("1 deleted"), "{line}");
    assert_eq!(
        tiles_now(),
        [
            ("alpha".into(), true),
            ("gamma".into(), true),
            ("mine".into(), false)
        ]
    );

    // A broken file changes nothing and says where.
    std::fs::write(
        &file,
        "version: 1\ngroups:\n  - name: Lab\n    tiles:\n      - {name: delta, url: nope}\n",
    )
    .unwrap();
    hangup(&server);
    let line = server.wait_for("HOMEWATCH_CONFIG not applied");
    assert!(line.contains(":5: groups[0].tiles[0].url"), "{line}");
    assert_eq!(tiles_now().len(), 3);
    assert!(server.terminate().success());

    // At start, a broken file stops the server with the same words.
    let output = homewatch(dir.path())
        .env("HOMEWATCH_CONFIG", &file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("groups[0].tiles[0].url"));
}
