//! Test harness: a fresh database per test on either store, the real server on port 0, and helpers.
//! PostgreSQL tests take an admin URL from HOMEWATCH_TEST_DATABASE_URL and fail loudly without one.
#![allow(dead_code)]

pub mod receivers;
pub mod tls;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU16, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use homewatch::{
    alerts::{AlertsConfig, Dispatcher},
    auth::{Access, AccessConfig},
    http::{self, HttpOptions, connections::ConnectionLimits},
    model::{NewToken, NewUser, Role, Scope, User},
    monitor::{
        engine::{Engine, EngineConfig},
        probe::Prober,
    },
    server::{self, Running},
    store::{self, DatabaseUrl, PoolConfig, Store},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    #[cfg(feature = "postgres")]
    Postgres,
}

/// Pools sized for many tests at once on a small machine, with short waits so failures show quickly.
pub fn test_pool() -> PoolConfig {
    PoolConfig {
        max_connections: 8,
        min_connections: 0,
        max_lifetime: Duration::from_secs(300),
        acquire_timeout: Duration::from_secs(3),
        sqlite_readers: 4,
        sqlite_busy_timeout: Duration::from_secs(5),
    }
}

/// A database of its own for one test: an SQLite file in a temporary folder, or a PostgreSQL database
/// created on the test server and dropped when this value is dropped.
pub struct TestDb {
    pub url: DatabaseUrl,
    pub backend: Backend,
    /// The pool the store opens with (`test_pool` unless set).
    pub pool: PoolConfig,
    pub dir: tempfile::TempDir,
    #[cfg(feature = "postgres")]
    postgres: Option<postgres_db::Created>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        match backend {
            Backend::Sqlite => {
                let path = dir.path().join("data").join("homewatch.db");
                Self {
                    url: DatabaseUrl::new(format!("sqlite://{}", path.display())),
                    backend,
                    pool: test_pool(),
                    dir,
                    #[cfg(feature = "postgres")]
                    postgres: None,
                }
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let created = postgres_db::create().await;
                Self {
                    url: created.url.clone(),
                    backend,
                    pool: test_pool(),
                    dir,
                    postgres: Some(created),
                }
            }
        }
    }

    /// The same database reached through another URL (e.g. through a proxy).
    pub fn with_url(mut self, url: DatabaseUrl) -> Self {
        self.url = url;
        self
    }

    pub fn with_pool(mut self, pool: PoolConfig) -> Self {
        self.pool = pool;
        self
    }

    /// The SQLite file's path (SQLite only).
    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("data").join("homewatch.db")
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        let store = store::connect(&self.url, &self.pool)
            .await
            .expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        store
    }
}

#[cfg(feature = "postgres")]
pub mod postgres_db {
    use std::sync::atomic::{AtomicU32, Ordering};

    use homewatch::store::DatabaseUrl;
    use sqlx::{Connection, PgConnection};

    pub const ADMIN_URL_VAR: &str = "HOMEWATCH_TEST_DATABASE_URL";

    pub struct Created {
        pub url: DatabaseUrl,
        admin_url: String,
        name: String,
    }

    pub fn admin_url() -> String {
        std::env::var(ADMIN_URL_VAR).unwrap_or_else(|_| {
            panic!(
                "the PostgreSQL tests need {ADMIN_URL_VAR}: set it to a URL of a user that may create databases, \
                 for example {ADMIN_URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres"
            )
        })
    }

    pub async fn create() -> Created {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin_url = admin_url();
        let name = format!(
            "homewatch_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|err| {
            panic!(
                "cannot reach the PostgreSQL test server at {ADMIN_URL_VAR} ({}): {err}. Start PostgreSQL or \
                 point {ADMIN_URL_VAR} at one",
                DatabaseUrl::new(admin_url.clone()).redacted()
            )
        });
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .expect("create test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("admin URL parses");
        url.set_path(&name);
        Created {
            url: DatabaseUrl::new(url.to_string()),
            admin_url,
            name,
        }
    }

    impl Drop for Created {
        fn drop(&mut self) {
            let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
            // Drop runs outside async code: use a thread with a runtime of its own.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin)
                        .await
                        .ok()
                })
            });
            let _ = dropped.join();
        }
    }
}

/// The real server on a free port with its own database, and HTTP clients for it: `client` acts as the
/// admin (with a write token), `anonymous` sends no credentials.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub anonymous: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    pub access: Arc<Access>,
    /// The admin `client` acts for, and their write token (None with `App::without_admin`).
    pub admin: Option<(User, String)>,
    pub db: TestDb,
    running: Option<Running>,
    dispatcher: Option<Dispatcher>,
}

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// The page's source folder, for a server told to serve it from disk (HOMEWATCH_WEB_DIR).
pub fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// The test server serves the page built into the binary, as a release does.
pub fn http_options() -> HttpOptions {
    HttpOptions::default()
}

/// How a test's server is set up; every test server starts here:
/// `App::on(Backend::Sqlite).access(...).start().await`.
pub struct App {
    db: Result<TestDb, Backend>,
    http: HttpOptions,
    connections: ConnectionLimits,
    access: AccessConfig,
    listen: SocketAddr,
    flush_interval: Duration,
    admin: bool,
    engine: EngineConfig,
    /// PEM certificates the checks trust besides the public authorities (a test CA).
    ca_pem: Option<String>,
}

impl App {
    /// A server on a fresh database of this store.
    pub fn on(backend: Backend) -> Self {
        Self::new(Err(backend))
    }

    /// A server on a database a test already has (a restart, a proxied URL).
    pub fn with_db(db: TestDb) -> Self {
        Self::new(Ok(db))
    }

    fn new(db: Result<TestDb, Backend>) -> Self {
        Self {
            db,
            http: http_options(),
            connections: ConnectionLimits::default(),
            access: AccessConfig::default(),
            listen: "127.0.0.1:0".parse().unwrap(),
            flush_interval: Duration::from_millis(100),
            admin: true,
            engine: EngineConfig::default(),
            ca_pem: None,
        }
    }

    /// Checks trust this CA too (as HOMEWATCH_CA_FILE does).
    pub fn trusting(mut self, ca_pem: &str) -> Self {
        self.ca_pem = Some(ca_pem.to_owned());
        self
    }

    /// How notifications are delivered (the retry base, the timeout, the public URL).
    pub fn alerts(mut self, alerts: AlertsConfig) -> Self {
        self.http.alerts = alerts;
        self
    }

    /// The engine's settings (flapping, maintenance in uptime); the flush interval is set apart.
    pub fn engine(mut self, engine: EngineConfig) -> Self {
        self.engine = engine;
        self
    }

    pub fn http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    pub fn connections(mut self, limits: ConnectionLimits) -> Self {
        self.connections = limits;
        self
    }

    pub fn access(mut self, access: AccessConfig) -> Self {
        self.access = access;
        self
    }

    /// Listen on this address: a restart on the port an earlier run had, as a browser still knows it.
    pub fn listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }

    /// How often the engine stores what it found (100 ms unless set).
    pub fn flush_every(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// No admin and no signed-in `client`: for setup and first-run tests.
    pub fn without_admin(mut self) -> Self {
        self.admin = false;
        self
    }

    pub async fn start(self) -> TestApp {
        let db = match self.db {
            Ok(db) => db,
            Err(backend) => TestDb::new(backend).await,
        };
        let store = db.open().await;
        let access = Arc::new(Access::new(store.clone(), self.access));
        let admin = match self.admin {
            true => Some(sign_in_admin(&store, &access).await),
            false => None,
        };
        let engine = Engine::start(
            store.clone(),
            Arc::new(
                Prober::trusting(self.ca_pem.as_deref().map(str::as_bytes))
                    .expect("HTTP client and resolver"),
            ),
            EngineConfig {
                flush_interval: self.flush_interval,
                ..self.engine
            },
        )
        .await
        .expect("start the engine");
        // As `serve` does: this process's configuration writes are announced to its event streams.
        engine.cluster().attach(engine.clone(), store.clone());
        let dispatcher = Dispatcher::start(
            store.clone(),
            self.http.alerts.clone(),
            engine.alerts_stored(),
            engine.maintenance().clone(),
        )
        .expect("start the dispatcher");
        let app =
            http::app(store.clone(), engine.clone(), access.clone(), &self.http).expect("build the app");
        let running = server::start(
            self.listen,
            self.connections,
            app,
            std::future::pending(),
            Duration::from_secs(2),
        )
        .await
        .expect("start the server");
        let addr = running.addr;
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some((_, token)) = &admin {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
        }
        TestApp {
            addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .default_headers(headers)
                .build()
                .unwrap(),
            anonymous: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            store,
            engine,
            access,
            admin,
            db,
            running: Some(running),
            dispatcher: Some(dispatcher),
        }
    }
}

/// The usual test server: a fresh database, an admin, the page built in.
pub async fn spawn_app(backend: Backend) -> TestApp {
    App::on(backend).start().await
}

/// The admin (created on first use of the database) and a new write token of theirs.
async fn sign_in_admin(store: &Arc<dyn Store>, access: &Access) -> (User, String) {
    let user = match store.find_user(ADMIN).await.expect("read users") {
        Some(stored) => stored.user,
        None => access
            .create_user(&NewUser {
                username: ADMIN.into(),
                password: ADMIN_PASSWORD.into(),
                role: Role::Admin,
            })
            .await
            .expect("create the admin"),
    };
    let token = access
        .create_token(
            &user,
            &NewToken {
                name: "tests".into(),
                scope: Scope::Write,
                expires_at: None,
            },
        )
        .await
        .expect("create a token");
    (user, token.token)
}

/// A response: status, a few headers, and the body parsed as JSON (Null when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem response with this status and returns it.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status}, got {}: {}",
            self.status,
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status, "{}", self.text);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "problem without detail: {}",
            self.text
        );
        &self.body
    }

    /// The fields a 422 names.
    pub fn invalid_fields(&self) -> Vec<String> {
        self.problem(422);
        self.body["errors"]
            .as_array()
            .expect("422 has errors")
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl TestApp {
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request reaches the server")).await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        read(request.send().await.expect("request reaches the server")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a group and returns its id.
    pub async fn group(&self, name: &str) -> i64 {
        let reply = self
            .post("/api/v1/groups", serde_json::json!({ "name": name }))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.body["id"].as_i64().unwrap()
    }

    /// Creates a tile and returns its id.
    pub async fn service(&self, group_id: i64, name: &str, extra: Value) -> i64 {
        let mut body =
            serde_json::json!({ "group_id": group_id, "name": name, "url": "https://example.lan" });
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let reply = self.post("/api/v1/services", body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.body["id"].as_i64().unwrap()
    }

    /// Stops the server and closes the store, handing back the database for a restart.
    pub async fn stop(mut self) -> TestDb {
        self.engine.close_listeners();
        if let Some(running) = self.running.take() {
            running.stop().await.expect("server stops cleanly");
        }
        self.engine.stop().await;
        if let Some(dispatcher) = self.dispatcher.take() {
            dispatcher.stop().await;
        }
        self.store.close().await;
        self.db
    }

    /// Deliveries attempted and delivered so far by this server's dispatcher.
    pub fn deliveries(&self) -> (u64, u64) {
        let metrics = self.dispatcher.as_ref().expect("running").metrics();
        (
            metrics.attempts.load(Ordering::Relaxed),
            metrics.delivered.load(Ordering::Relaxed),
        )
    }
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// A TCP relay in front of a real server, which a test can cut to make that server "go down".
pub struct TcpProxy {
    pub port: u16,
    tasks: tokio::task::JoinSet<()>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> Self {
        Self::start_on(0, target).await
    }

    pub async fn start_on(port: u16, target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("proxy binds");
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
        let mut tasks = tokio::task::JoinSet::new();
        let held = connections.clone();
        tasks.spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                held.lock().await.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        // Dropping the JoinSet of connections aborts them; keep it alive inside the task set.
        tasks.spawn(async move {
            let _keep = connections;
            std::future::pending::<()>().await;
        });
        Self { port, tasks }
    }

    /// Closes the listening port and every relayed connection.
    pub async fn cut(mut self) {
        self.tasks.shutdown().await;
    }
}

/// A reqwest client signed in as `username` with a session cookie, sending the page's own header, as the
/// page does.
pub async fn session_client(app: &TestApp, username: &str, password: &str) -> reqwest::Client {
    let login = app
        .anonymous
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&serde_json::json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("login reaches the server");
    assert_eq!(login.status(), StatusCode::OK, "login as {username}");
    let cookie = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next().map(str::to_owned))
        .find(|pair| pair.starts_with("homewatch_session="))
        .expect("a session cookie");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    headers.insert("x-homewatch-request", "1".parse().unwrap());
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A viewer named `name` (password `{name}-password`, created by the admin) and a read token of theirs.
pub async fn viewer_token(app: &TestApp, name: &str) -> (i64, String) {
    let password = format!("{name}-password");
    let created = app
        .post(
            "/api/v1/users",
            serde_json::json!({ "username": name, "password": password, "role": "viewer" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    viewer_token_with(app, name, &password).await
}

/// A read token of the existing viewer `name`, signed in with `password`; and their id.
pub async fn viewer_token_with(app: &TestApp, name: &str, password: &str) -> (i64, String) {
    let session = session_client(app, name, password).await;
    let token = read(
        session
            .post(format!("{}/api/v1/tokens", app.base))
            .json(&serde_json::json!({ "name": "tests", "scope": "read" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.text);
    (
        token.body["user_id"].as_i64().unwrap(),
        token.body["token"].as_str().unwrap().to_owned(),
    )
}

/// A check from its JSON form, validated and with its defaults, for a tile at https://nas.lan.
pub fn check(spec: Value) -> homewatch::model::Check {
    homewatch::model::Check::from_json(spec, Some("https://nas.lan"))
        .unwrap_or_else(|errors| panic!("{errors:?}"))
}

/// A counter for unique names within one test binary.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Declares each listed async test once per store: `sqlite::name` always, `postgres::name` with the feature.
/// Each test function takes a `Backend`.
#[macro_export]
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

#[poem::handler]
fn switchable_health(poem::web::Data(status): poem::web::Data<&Arc<AtomicU16>>) -> poem::Response {
    let code = status.load(Ordering::SeqCst);
    poem::Response::builder()
        .status(poem::http::StatusCode::from_u16(code).unwrap())
        .body(format!("answering {code}"))
}

/// A local HTTP target whose /health answers the status the test sets (200 at first).
pub async fn switchable_target() -> (String, Arc<AtomicU16>) {
    use poem::{
        EndpointExt,
        listener::{Acceptor, Listener},
    };
    let status = Arc::new(AtomicU16::new(200));
    let app = poem::Route::new()
        .at("/health", poem::get(switchable_health))
        .data(status.clone());
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}/health"), status)
}

// Servers run as processes of the real binary (faults, replicas).

/// A port free now on the loopback address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `base`'s /healthz answers 200.
pub async fn wait_healthy(base: &str, within: Duration) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + within;
    loop {
        if let Ok(reply) = client.get(format!("{base}/healthz")).send().await
            && reply.status() == StatusCode::OK
        {
            return;
        }
        assert!(Instant::now() < deadline, "{base} not healthy within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The session cookie of a login as `admin` (the password the process tests give HOMEWATCH_ADMIN_PASSWORD).
pub async fn session_cookie(base: &str) -> String {
    let login = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "username": "admin", "password": "admin-password-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK, "admin signs in on {base}");
    login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// A write token made with a session cookie.
pub async fn write_token(base: &str, cookie: &str, name: &str) -> String {
    let token: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/tokens"))
        .header("cookie", cookie)
        .header("x-homewatch-request", "1")
        .json(&json!({ "name": name, "scope": "write" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["token"].as_str().unwrap().to_owned()
}
