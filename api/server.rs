//! Starting and stopping: connect the store, apply migrations, listen, and shut down gracefully.

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use poem::{
    Server,
    endpoint::BoxEndpoint,
    listener::{Acceptor, Listener, TcpListener},
};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{
    alerts::Dispatcher,
    auth::{Access, AccessConfig},
    config::{Config, Secret, UserCommand},
    http::{
        self, HttpOptions,
        connections::{ConnectionLimits, GuardedAcceptor},
    },
    model::{Role, Validate},
    monitor::engine::{Engine, EngineConfig},
    store::{self, ConnectError, Store},
};

/// A server accepting connections on `addr` until it is stopped.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish (up to the grace period), and waits.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.wait().await
    }

    /// Waits until the server ends (after its shutdown signal).
    pub async fn wait(self) -> io::Result<()> {
        self.task.await.map_err(io::Error::other)?
    }
}

/// Binds `listen` (port 0 picks a free port) and serves `endpoint` until `signal` fires or `stop` is called.
pub async fn start(
    listen: SocketAddr,
    limits: ConnectionLimits,
    endpoint: BoxEndpoint<'static>,
    signal: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<Running> {
    let acceptor = TcpListener::bind(listen).into_acceptor().await.map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot listen on {listen}: {err}; set HOMEWATCH_LISTEN to a free address"),
        )
    })?;
    let acceptor = GuardedAcceptor::new(acceptor, limits);
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|local| local.as_socket_addr().copied())
        .unwrap_or(listen);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            () = signal => {},
            _ = stopped => {},
        }
    };
    let task = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(endpoint, shutdown, Some(grace))
            .await
    });
    Ok(Running {
        addr,
        stop: Some(stop),
        task,
    })
}

/// SIGINT (Ctrl-C) or SIGTERM (docker stop, systemd).
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Why the program stops early, and with which exit code.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Settings that cannot work as given (exit 2).
    #[error("{0}")]
    Config(String),
    /// A database or network problem (exit 1).
    #[error("{0}")]
    Runtime(String),
}

impl StartError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Runtime(_) => 1,
        }
    }
}

impl From<ConnectError> for StartError {
    fn from(err: ConnectError) -> Self {
        match err {
            ConnectError::Config(message) => Self::Config(message),
            other => Self::Runtime(other.to_string()),
        }
    }
}

/// Connects (retrying for `db_connect_timeout`) and applies pending migrations.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let settings = &config.store;
    let store = store::connect_with_retry(
        &settings.database_url,
        &settings.pool(),
        settings.db_connect_timeout.0,
    )
    .await?;
    store
        .migrate()
        .await
        .map_err(|err| StartError::Runtime(format!("{}: {err}", store.describe())))?;
    Ok(store)
}

pub fn http_options(config: &Config) -> HttpOptions {
    HttpOptions {
        web_dir: config.http.web_dir.clone(),
        request_timeout: config.http.request_timeout.0,
        cors_origins: config.http.cors_origins.clone(),
        allowed_hosts: config.http.allowed_hosts.clone(),
        streams: crate::http::streams::StreamLimits {
            total: config.http.max_streams,
            per_user: config.http.max_streams_per_user,
            ..Default::default()
        },
        alerts: config.alerts.alerts(config.access.public_url.clone()),
        metrics: config.http.metrics,
        metrics_token: config
            .http
            .metrics_token
            .as_ref()
            .map(|token| token.expose().to_owned()),
        public_url: config.access.public_url.clone(),
    }
}

pub fn connection_limits(config: &Config) -> ConnectionLimits {
    ConnectionLimits {
        max: config.http.max_connections,
        max_per_address: config.http.max_connections_per_address,
        header_timeout: config.http.header_timeout.0,
        idle_timeout: config.http.idle_timeout.0,
        trusted_proxies: config.access.proxies(),
    }
}

/// Accounts at start: the admin from HOMEWATCH_ADMIN_USER/PASSWORD, or else, while no user exists, a
/// one-time setup token in the log. Expired sessions and tokens are cleared every hour.
pub async fn start_access(
    store: Arc<dyn Store>,
    config: AccessConfig,
    admin: Option<(&str, &Secret)>,
) -> Result<Arc<Access>, StartError> {
    let access = Arc::new(Access::new(store, config));
    let failed = |err: store::StoreError| StartError::Runtime(format!("cannot read the users: {err}"));
    if let Some((username, password)) = admin {
        let mut errors = Vec::new();
        let username = crate::model::account::check_username("HOMEWATCH_ADMIN_USER", username, &mut errors);
        crate::model::account::check_password("HOMEWATCH_ADMIN_PASSWORD", password.expose(), &mut errors);
        if let Some(error) = errors.first() {
            return Err(StartError::Config(format!("{} {}", error.field, error.message)));
        }
        if let Some(user) = access
            .ensure_admin(&username, password.expose())
            .await
            .map_err(failed)?
        {
            tracing::info!(user = %user.username, "created the admin from HOMEWATCH_ADMIN_USER");
        }
    }
    if let Some(token) = access.begin_setup().await.map_err(failed)? {
        tracing::warn!(
            "no user exists yet: open the page and create the first admin with this one-time setup token: {token} \
             (or run `homewatch user add --admin NAME`, or set HOMEWATCH_ADMIN_USER and HOMEWATCH_ADMIN_PASSWORD)"
        );
    }
    let pruner = access.clone();
    tokio::spawn(async move {
        let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every_hour.tick().await;
            if let Err(err) = pruner.prune(chrono::Utc::now()).await {
                tracing::warn!(error = %err, "could not remove expired sessions and tokens");
            }
        }
    });
    Ok(access)
}

/// Holds the SQLite file for this process: a second server on the same file would check every tile twice and
/// keep its own sessions. The lock ends with the process (a crash included). A `.lock` file beside the database.
fn lock_sqlite_file(config: &Config) -> Result<Option<std::fs::File>, StartError> {
    let url = &config.store.database_url;
    if url.scheme() != "sqlite" {
        return Ok(None);
    }
    let path = store::sqlite::file_of(url)?;
    let name = path.to_string_lossy();
    if name.is_empty() || name == ":memory:" || url.expose().contains("mode=memory") {
        return Ok(None);
    }
    let lock_path = std::path::PathBuf::from(format!("{name}.lock"));
    // The store creates the database's folder too; the lock comes first.
    if let Some(folder) = lock_path.parent().filter(|folder| !folder.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|err| {
            StartError::Runtime(format!(
                "cannot create {} for the database: {err}",
                folder.display()
            ))
        })?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|err| {
            StartError::Runtime(format!(
                "cannot open {} to hold the SQLite database for this server: {err}",
                lock_path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::Config(format!(
            "another Homewatch server is running on {}: SQLite serves one process. Stop the other one, or run \
             several replicas on PostgreSQL (see the README's Replicas)",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(err)) => Err(StartError::Runtime(format!(
            "cannot lock {}: {err}",
            lock_path.display()
        ))),
    }
}

/// This replica's place among others on the same PostgreSQL; alone on SQLite.
async fn join_cluster(
    config: &Config,
    store: &Arc<dyn Store>,
) -> Result<Arc<crate::cluster::Cluster>, StartError> {
    let settings = config.engine.cluster().map_err(StartError::Config)?;
    #[cfg(feature = "postgres")]
    if let Some(pool) = store.postgres_pool() {
        return crate::cluster::pg::join(pool, settings)
            .await
            .map_err(|err| StartError::Runtime(format!("cannot join the replicas on PostgreSQL: {err}")));
    }
    let _ = (settings, store);
    Ok(crate::cluster::Cluster::solo())
}

/// `homewatch serve`: runs until SIGINT/SIGTERM.
pub async fn serve(config: &Config) -> Result<(), StartError> {
    let _lock = lock_sqlite_file(config)?;
    let store = open_store(config).await?;
    if let Some(path) = &config.store.config_file {
        let summary = crate::manifest::commands::apply_config_file(store.as_ref(), path)
            .await
            .map_err(|err| StartError::Config(format!("HOMEWATCH_CONFIG: {err}")))?;
        tracing::info!("applied HOMEWATCH_CONFIG {summary}; send SIGHUP to apply it again");
    }
    let access = start_access(store.clone(), config.access.access(), config.access.admin()).await?;
    let prober = config.engine.prober().map_err(StartError::Runtime)?;
    let engine_config = EngineConfig {
        flap: config.alerts.flap(),
        maintenance_in_uptime: config.alerts.maintenance_in_uptime,
        ..config.engine.engine()
    };
    let cluster = join_cluster(config, &store).await?;
    let engine = Engine::start_in(store.clone(), Arc::new(prober), engine_config, cluster.clone())
        .await
        .map_err(|err| StartError::Runtime(format!("cannot start the monitor engine: {err}")))?;
    cluster.attach(engine.clone(), store.clone());
    let dispatcher = Dispatcher::start(
        store.clone(),
        config.alerts.alerts(config.access.public_url.clone()),
        engine.alerts_stored(),
        engine.maintenance().clone(),
    )
    .map_err(StartError::Runtime)?;
    let app = http::app(store.clone(), engine.clone(), access, &http_options(config))
        .map_err(StartError::Config)?;
    if let Some(path) = config.store.config_file.clone() {
        reapply_on_hangup(store.clone(), engine.clone(), path);
    }
    // At the signal the event streams end first, so that shutdown need not wait out their grace period.
    let closing = engine.clone();
    let signal = async move {
        shutdown_signal().await;
        closing.close_listeners();
    };
    let running = start(
        config.http.listen,
        connection_limits(config),
        app,
        signal,
        config.http.shutdown_timeout.0,
    )
    .await
    .map_err(|err| StartError::Runtime(err.to_string()))?;
    tracing::info!(
        "Homewatch {} listening on http://{} (store: {}; API docs at /api/docs)",
        env!("CARGO_PKG_VERSION"),
        running.addr,
        store.describe()
    );
    let result = running.wait().await;
    // Other replicas take this one's checks over at an instant all agree on, then this engine stops.
    cluster.leave().await;
    engine.stop().await;
    dispatcher.stop().await;
    store.close().await;
    result.map_err(|err| StartError::Runtime(format!("server stopped: {err}")))
}

/// Applies the `HOMEWATCH_CONFIG` file again at each SIGHUP; a file with problems changes nothing and says why.
fn reapply_on_hangup(store: Arc<dyn Store>, engine: Engine, path: std::path::PathBuf) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; HOMEWATCH_CONFIG is applied at start only");
            return;
        };
        while hangups.recv().await.is_some() {
            match crate::manifest::commands::apply_config_file(store.as_ref(), &path).await {
                Ok(summary) => {
                    tracing::info!("SIGHUP: applied HOMEWATCH_CONFIG {summary}");
                    engine.reload_all();
                    engine.reload_maintenance();
                }
                Err(err) => tracing::error!("SIGHUP: HOMEWATCH_CONFIG not applied, nothing changed: {err}"),
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (store, engine, path);
}

/// `homewatch migrate`.
pub async fn migrate(config: &Config) -> Result<(), StartError> {
    let store = open_store(config).await?;
    let status = store
        .migration_status()
        .await
        .map_err(|err| StartError::Runtime(err.to_string()))?;
    println!(
        "{}: {} of {} migrations applied",
        store.describe(),
        status.applied,
        status.expected
    );
    store.close().await;
    Ok(())
}

/// `homewatch backup FILE`: a consistent copy of the SQLite store (`VACUUM INTO`, one read transaction, so
/// the server may keep writing meanwhile). The copy is a complete database: point DATABASE_URL at it to
/// restore. PostgreSQL is backed up with its own tools.
pub async fn backup(config: &Config, file: &std::path::Path) -> Result<(), StartError> {
    let url = &config.store.database_url;
    if url.scheme() != "sqlite" {
        return Err(StartError::Config(
            "homewatch backup copies an SQLite store; back up PostgreSQL with its own tools: \
             pg_dump --format=custom --file homewatch.dump \"$DATABASE_URL\" (see the README's Backups)"
                .into(),
        ));
    }
    let source = store::sqlite::file_of(url)?;
    if !source.is_file() {
        return Err(StartError::Config(format!(
            "there is no SQLite database at {} to back up: check DATABASE_URL",
            source.display()
        )));
    }
    if file.exists() {
        return Err(StartError::Config(format!(
            "{} already exists: a backup never overwrites a file, give a new name",
            file.display()
        )));
    }
    let started = std::time::Instant::now();
    let store = store::sqlite::SqliteStore::connect(url, &config.store.pool()).await?;
    let copied = store.backup_to(file).await;
    store.close_pools().await;
    copied.map_err(|err| StartError::Runtime(err.to_string()))?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or_default();
    println!(
        "backed up {} to {} ({:.1} MB in {:.1} s); restore by pointing DATABASE_URL at it \
         (sqlite://{}) while the server is stopped",
        source.display(),
        file.display(),
        size as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64(),
        file.display()
    );
    Ok(())
}

/// `homewatch healthcheck`: exit 0 when /healthz answers 200.
pub async fn healthcheck(config: &Config, url: Option<String>) -> Result<(), StartError> {
    let url = url.unwrap_or_else(|| {
        let mut addr = config.http.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}/healthz")
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|err| StartError::Runtime(err.to_string()))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|err| StartError::Runtime(format!("{url}: {err}")))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status.is_success() {
        println!("{body}");
        Ok(())
    } else {
        Err(StartError::Runtime(format!("{url} answered {status}: {body}")))
    }
}

/// Reads a password: from the terminal without echo (asked twice), or one line of standard input.
fn read_password(prompt: &str) -> Result<String, StartError> {
    use std::io::{BufRead, IsTerminal};
    let failed = |err: std::io::Error| StartError::Runtime(format!("cannot read the password: {err}"));
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt).map_err(failed)?;
        let second = rpassword::prompt_password("Again: ").map_err(failed)?;
        if first != second {
            return Err(StartError::Config(
                "the two passwords differ; nothing was changed".into(),
            ));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(failed)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// `homewatch user add|set-password|list`.
pub async fn user(config: &Config, action: UserCommand) -> Result<(), StartError> {
    let store = open_store(config).await?;
    let access = Access::new(store.clone(), config.access.access());
    let result = match action {
        UserCommand::Add { name, admin } => {
            let password = read_password(&format!("Password for {name}: "))?;
            let new_user = crate::model::NewUser {
                username: name,
                password,
                role: if admin { Role::Admin } else { Role::Viewer },
            }
            .validate()
            .map_err(|errors| {
                let messages: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect();
                StartError::Config(messages.join("; "))
            })?;
            access
                .create_user(&new_user)
                .await
                .map(|user| println!("created {} ({})", user.username, user.role.as_str()))
        }
        UserCommand::SetPassword { name } => {
            let stored = store
                .find_user(&name)
                .await
                .map_err(|err| StartError::Runtime(err.to_string()))?
                .ok_or_else(|| StartError::Config(format!("no user is named {name}")))?;
            let password = read_password(&format!("New password for {}: ", stored.user.username))?;
            let mut errors = Vec::new();
            crate::model::account::check_password("password", &password, &mut errors);
            if let Some(error) = errors.first() {
                return Err(StartError::Config(format!("the password {}", error.message)));
            }
            let patch = crate::model::UserPatch {
                role: None,
                password: Some(password),
                revoke_tokens: None,
            };
            access
                .update_user(stored.user.id, &patch, None)
                .await
                .map(|user| {
                    println!(
                        "new password set for {}; their sessions have ended",
                        user.username
                    )
                })
        }
        UserCommand::List => store.list_users().await.map(|users| {
            for user in users {
                println!("{}\t{}\t{}", user.id, user.username, user.role.as_str());
            }
        }),
    };
    store.close().await;
    result.map_err(|err| match err {
        store::StoreError::Conflict { message, .. } => StartError::Config(message),
        other => StartError::Runtime(other.to_string()),
    })
}
