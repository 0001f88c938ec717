//! Starting and stopping: connect the store, apply migrations, listen, and shut down gracefully.

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use poem::{
    Server,
    endpoint::BoxEndpoint,
    listener::{Acceptor, Listener, TcpListener},
};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{
    config::Config,
    http::{self, HttpOptions},
    monitor::{engine::Engine, probe::Prober},
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
    let store =
        store::connect_with_retry(&config.database_url, &config.pool(), config.db_connect_timeout).await?;
    store
        .migrate()
        .await
        .map_err(|err| StartError::Runtime(format!("{}: {err}", store.describe())))?;
    Ok(store)
}

pub fn http_options(config: &Config) -> HttpOptions {
    HttpOptions {
        web_dir: config.web_dir.clone(),
        request_timeout: config.request_timeout,
        cors_origins: config.cors_origins.clone(),
    }
}

/// `homewatch serve`: runs until SIGINT/SIGTERM.
pub async fn serve(config: &Config) -> Result<(), StartError> {
    let store = open_store(config).await?;
    let prober = Prober::new().map_err(StartError::Runtime)?;
    let engine = Engine::start(store.clone(), Arc::new(prober), config.engine())
        .await
        .map_err(|err| StartError::Runtime(format!("cannot start the monitor engine: {err}")))?;
    let app = http::app(store.clone(), engine.clone(), &http_options(config)).map_err(StartError::Config)?;
    let running = start(config.listen, app, shutdown_signal(), config.shutdown_timeout)
        .await
        .map_err(|err| StartError::Runtime(err.to_string()))?;
    tracing::info!(
        "Homewatch {} listening on http://{} (store: {}; API docs at /api/docs)",
        env!("CARGO_PKG_VERSION"),
        running.addr,
        store.describe()
    );
    let result = running.wait().await;
    engine.stop().await;
    store.close().await;
    result.map_err(|err| StartError::Runtime(format!("server stopped: {err}")))
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

/// `homewatch healthcheck`: exit 0 when /healthz answers 200.
pub async fn healthcheck(config: &Config, url: Option<String>) -> Result<(), StartError> {
    let url = url.unwrap_or_else(|| {
        let mut addr = config.listen;
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
