//! Command line and environment: every setting is a flag and an environment variable, and `--help`
//! documents them all.

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{
    alerts::AlertsConfig,
    auth::AccessConfig,
    http::{connections::ConnectionLimits, streams::StreamLimits},
    monitor::{alerting::FlapRule, engine::EngineConfig},
    store::{DatabaseUrl, PoolConfig},
};

#[derive(Debug, Parser)]
#[command(
    name = "homewatch",
    version,
    about = "Your self-hosted services as tiles, watched."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document of the REST API and exit.
    Openapi,
    /// Print the JSON Schema of the configuration document (`export`/`apply`) and exit.
    ConfigSchema,
    /// Ask a running server's /healthz; exit 0 when it answers 200 (for container health checks).
    Healthcheck {
        /// Full URL to probe; defaults to /healthz on the --listen address.
        #[arg(long, env = "HOMEWATCH_HEALTHCHECK_URL")]
        url: Option<String>,
    },
    /// Write a consistent copy of the SQLite store to FILE, also while the server runs (PostgreSQL: pg_dump).
    Backup {
        /// The copy to write; it must not exist yet.
        file: PathBuf,
    },
    /// Write everything configured (groups, tiles, checks, channels, maintenance, status pages) as a document
    /// `homewatch apply` reads; secrets become ${HOMEWATCH_SECRET_…} references unless --include-secrets.
    Export {
        #[arg(long = "format", id = "export_format", value_enum, default_value = "yaml")]
        format: ExportFormat,
        /// Write channel credentials, check headers, push tokens and credentials in URLs in clear.
        #[arg(long)]
        include_secrets: bool,
        /// Write to FILE instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Make the store match a document (YAML or JSON): prints the plan, then carries it out in one transaction.
    Apply {
        /// The document; `-` reads standard input.
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also delete what the document does not name (without it, nothing is deleted).
        #[arg(long)]
        prune: bool,
    },
    /// Import another tool's configuration: prints the plan and what could not be mapped, then applies it
    /// (again and again without duplicates; nothing is deleted).
    Import {
        #[arg(value_enum)]
        from: ImportSource,
        /// Homepage's services.yaml, Gatus' config.yaml, or Uptime Kuma's kuma.db (or its v1 JSON backup).
        file: PathBuf,
        /// Print the plan and the report, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write the imported document to FILE instead of applying it (to review it, or keep it in git).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Copy everything (configuration, accounts, tokens, history, notifications) from one store to another,
    /// such as from SQLite to PostgreSQL and back; a server may keep running on the source meanwhile.
    Copy {
        /// The source, such as sqlite://data/homewatch.db.
        #[arg(long)]
        from: String,
        /// The target, such as postgres://homewatch:PASSWORD@db:5432/homewatch (migrated first).
        #[arg(long)]
        to: String,
        /// Copy into a target that holds data already (an interrupted copy's, say), replacing it.
        #[arg(long)]
        force: bool,
    },
    /// Manage users from the command line (for the first admin, or to recover a lost password).
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
}

/// How `homewatch export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Yaml,
    Json,
}

/// Which tool an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, poem_openapi::Enum)]
#[oai(rename_all = "kebab-case")]
pub enum ImportSource {
    /// Homepage's services.yaml.
    Homepage,
    /// Gatus' config.yaml.
    Gatus,
    /// Uptime Kuma's kuma.db, or its version 1 JSON backup.
    UptimeKuma,
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is asked for (or read from standard input when it is not a terminal).
    Add {
        /// The new user's name.
        name: String,
        /// Make the user an admin (default: viewer).
        #[arg(long)]
        admin: bool,
    },
    /// Set a new password for a user (their sessions end); asked for like `add`.
    SetPassword { name: String },
    /// List users and their roles.
    List,
}

/// A secret from the environment or a flag: never printed, not even by `Debug`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl FromStr for Secret {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting of the server, grouped by what it concerns.
#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub access: AccessArgs,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// Where the data lives, and the pools that reach it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct StoreArgs {
    /// Database to use: sqlite://PATH (file created on first run) or postgres://USER:PASSWORD@HOST:PORT/DB
    /// (needs a build with `--features postgres`).
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "sqlite://data/homewatch.db",
        hide_env_values = true
    )]
    pub database_url: DatabaseUrl,

    /// A configuration document (what `homewatch export` writes) applied at start and again on SIGHUP: the
    /// tiles it names are marked managed, and managed tiles it no longer names are deleted.
    #[arg(long = "config-file", global = true, env = "HOMEWATCH_CONFIG")]
    pub config_file: Option<PathBuf>,

    /// How long start-up keeps retrying an unreachable database before giving up.
    #[arg(long, global = true, env = "HOMEWATCH_DB_CONNECT_TIMEOUT", default_value_t = Span::secs(30))]
    pub db_connect_timeout: Span,

    /// PostgreSQL: most connections in the pool.
    #[arg(long, global = true, env = "HOMEWATCH_DB_MAX_CONNECTIONS", default_value_t = PoolConfig::DEFAULT.max_connections)]
    pub db_max_connections: u32,

    /// PostgreSQL: connections kept open while idle.
    #[arg(long, global = true, env = "HOMEWATCH_DB_MIN_CONNECTIONS", default_value_t = PoolConfig::DEFAULT.min_connections)]
    pub db_min_connections: u32,

    /// PostgreSQL: a connection is replaced after this long.
    #[arg(long, global = true, env = "HOMEWATCH_DB_MAX_LIFETIME", default_value_t = Span(PoolConfig::DEFAULT.max_lifetime))]
    pub db_max_lifetime: Span,

    /// Both stores: longest wait for a free connection before answering 503.
    #[arg(long, global = true, env = "HOMEWATCH_DB_ACQUIRE_TIMEOUT", default_value_t = Span(PoolConfig::DEFAULT.acquire_timeout))]
    pub db_acquire_timeout: Span,

    /// SQLite: read-only connections beside the single writer.
    #[arg(long, global = true, env = "HOMEWATCH_SQLITE_READERS", default_value_t = PoolConfig::DEFAULT.sqlite_readers)]
    pub sqlite_readers: u32,

    /// SQLite: how long a statement waits for a lock held by another process.
    #[arg(long, global = true, env = "HOMEWATCH_SQLITE_BUSY_TIMEOUT", default_value_t = Span(PoolConfig::DEFAULT.sqlite_busy_timeout))]
    pub sqlite_busy_timeout: Span,
}

impl StoreArgs {
    pub fn pool(&self) -> PoolConfig {
        PoolConfig {
            max_connections: self.db_max_connections,
            min_connections: self.db_min_connections,
            max_lifetime: self.db_max_lifetime.0,
            acquire_timeout: self.db_acquire_timeout.0,
            sqlite_readers: self.sqlite_readers,
            sqlite_busy_timeout: self.sqlite_busy_timeout.0,
        }
    }
}

/// The HTTP server.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP")]
pub struct HttpArgs {
    /// Address and port the HTTP server listens on.
    #[arg(
        long,
        global = true,
        env = "HOMEWATCH_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// Serve the web app from this folder instead of the copy built into the binary (for working on the page).
    #[arg(long, global = true, env = "HOMEWATCH_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Origins allowed to call the API from a browser (comma-separated, e.g. https://home.example.com);
    /// empty turns CORS off.
    #[arg(long, global = true, env = "HOMEWATCH_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Longest a request may take before it is answered 408 (e.g. 30s, 500ms, 2m).
    #[arg(long, global = true, env = "HOMEWATCH_REQUEST_TIMEOUT", default_value_t = Span::secs(30))]
    pub request_timeout: Span,

    /// On SIGTERM/SIGINT, how long in-flight requests get to finish.
    #[arg(long, global = true, env = "HOMEWATCH_SHUTDOWN_TIMEOUT", default_value_t = Span::secs(10))]
    pub shutdown_timeout: Span,

    /// Host names requests may be addressed to (their `Host`), comma-separated, e.g.
    /// `home.example.com,nas.lan:8080`; others are refused (421), which stops DNS rebinding. Empty: any.
    #[arg(long, global = true, env = "HOMEWATCH_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Connections open at once, at most; beyond, new ones are closed at once.
    #[arg(long, global = true, env = "HOMEWATCH_MAX_CONNECTIONS", default_value_t = ConnectionLimits::DEFAULT.max)]
    pub max_connections: usize,

    /// Connections open at once from one client address (IPv6: one /64), except trusted proxies.
    #[arg(long, global = true, env = "HOMEWATCH_MAX_CONNECTIONS_PER_ADDRESS",
          default_value_t = ConnectionLimits::DEFAULT.max_per_address)]
    pub max_connections_per_address: usize,

    /// A request's headers must arrive within this long of their first byte.
    #[arg(long, global = true, env = "HOMEWATCH_HEADER_TIMEOUT",
          default_value_t = Span(ConnectionLimits::DEFAULT.header_timeout))]
    pub header_timeout: Span,

    /// A connection with no traffic for this long is closed.
    #[arg(long, global = true, env = "HOMEWATCH_IDLE_TIMEOUT",
          default_value_t = Span(ConnectionLimits::DEFAULT.idle_timeout))]
    pub idle_timeout: Span,

    /// Live event streams open at once, at most.
    #[arg(long, global = true, env = "HOMEWATCH_MAX_STREAMS", default_value_t = StreamLimits::DEFAULT.total)]
    pub max_streams: usize,

    /// Live event streams one user may hold (a browser's tabs share one); anonymous visitors of a public
    /// dashboard share four times this many.
    #[arg(long, global = true, env = "HOMEWATCH_MAX_STREAMS_PER_USER", default_value_t = StreamLimits::DEFAULT.per_user)]
    pub max_streams_per_user: usize,

    /// Serve Prometheus metrics at /metrics.
    #[arg(long, global = true, env = "HOMEWATCH_METRICS", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics: bool,

    /// The bearer token Prometheus must send for /metrics (`authorization: credentials` in its scrape
    /// config); without it /metrics is open to anyone who reaches the server.
    #[arg(long, global = true, env = "HOMEWATCH_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,
}

/// What the server logs, and how.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log lines as human-readable text or as JSON objects.
    #[arg(
        long = "log-format",
        global = true,
        env = "HOMEWATCH_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub format: LogFormat,

    /// Which logs to show, in tracing's filter syntax (e.g. `info`, `homewatch=debug,sqlx=warn`).
    #[arg(long = "log", global = true, env = "HOMEWATCH_LOG", default_value = "info")]
    pub filter: String,
}

/// The monitor engine: how many checks at once, and how long history is kept.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Checks")]
pub struct EngineArgs {
    /// Checks running at once, at most.
    #[arg(long, global = true, env = "HOMEWATCH_CHECK_CONCURRENCY", default_value_t = EngineConfig::DEFAULT.concurrency,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub check_concurrency: u32,

    /// Days raw check results are kept (hourly rollups answer longer windows).
    #[arg(long, global = true, env = "HOMEWATCH_RETENTION_RAW_DAYS", default_value_t = EngineConfig::DEFAULT.retention_raw_days,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub retention_raw_days: u32,

    /// Days rollups are kept (uptime and latency of long windows, status pages' 90-day bars).
    #[arg(long, global = true, env = "HOMEWATCH_RETENTION_ROLLUP_DAYS", default_value_t = EngineConfig::DEFAULT.retention_rollup_days,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub retention_rollup_days: u32,

    /// Days rollups are kept per hour; older ones are summed per UTC day (charts beyond it show days).
    #[arg(long, global = true, env = "HOMEWATCH_RETENTION_HOURLY_DAYS", default_value_t = EngineConfig::DEFAULT.retention_hourly_days,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub retention_hourly_days: u32,

    /// A PEM file of certificates that checks trust besides the public authorities (a home network's own
    /// CA), for https and tls checks.
    #[arg(long, global = true, env = "HOMEWATCH_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,

    /// Replicas on one PostgreSQL: how often each renews its heartbeat and reads the others'.
    #[arg(long, global = true, env = "HOMEWATCH_REPLICA_HEARTBEAT", default_value_t = Span(crate::cluster::ClusterConfig::DEFAULT.heartbeat))]
    pub replica_heartbeat: Span,

    /// Replicas on one PostgreSQL: a replica silent this long is taken for dead and its checks go to the
    /// others (at least three heartbeats).
    #[arg(long, global = true, env = "HOMEWATCH_REPLICA_DEAD_AFTER", default_value_t = Span(crate::cluster::ClusterConfig::DEFAULT.dead_after))]
    pub replica_dead_after: Span,

    /// Replicas on one PostgreSQL: false makes this one serve the API and pages without running checks.
    #[arg(long, global = true, env = "HOMEWATCH_REPLICA_CHECKS", default_value_t = true, action = clap::ArgAction::Set)]
    pub replica_checks: bool,
}

impl EngineArgs {
    /// The probes, trusting `ca_file` too; the error names the file and what is wrong with it.
    pub fn prober(&self) -> Result<crate::monitor::probe::Prober, String> {
        let extra = match &self.ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|err| format!("HOMEWATCH_CA_FILE {}: cannot be read: {err}", path.display()))?,
            ),
            None => None,
        };
        crate::monitor::probe::Prober::trusting(extra.as_deref()).map_err(|err| match &self.ca_file {
            Some(path) => format!("HOMEWATCH_CA_FILE {}: {err}", path.display()),
            None => err,
        })
    }

    /// How replicas keep in touch; the error says which setting is off.
    pub fn cluster(&self) -> Result<crate::cluster::ClusterConfig, String> {
        let heartbeat = self.replica_heartbeat.0;
        let dead_after = self.replica_dead_after.0;
        if heartbeat < std::time::Duration::from_millis(100) {
            return Err("HOMEWATCH_REPLICA_HEARTBEAT must be at least 100ms".into());
        }
        if dead_after < heartbeat * 3 {
            return Err(format!(
                "HOMEWATCH_REPLICA_DEAD_AFTER ({dead_after:?}) must be at least three heartbeats \
                 (HOMEWATCH_REPLICA_HEARTBEAT is {heartbeat:?}), or a slow heartbeat would hand checks over"
            ));
        }
        Ok(crate::cluster::ClusterConfig {
            heartbeat,
            dead_after,
            checks: self.replica_checks,
            ..crate::cluster::ClusterConfig::DEFAULT
        })
    }

    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            concurrency: self.check_concurrency,
            retention_raw_days: self.retention_raw_days,
            retention_rollup_days: self.retention_rollup_days,
            retention_hourly_days: self.retention_hourly_days,
            ..EngineConfig::DEFAULT
        }
    }
}

/// Telling people: delivery of notifications, flapping, and maintenance in uptime.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Alerts")]
pub struct AlertArgs {
    /// How long one delivery attempt may take (a provider that hangs delays nothing else).
    #[arg(long, global = true, env = "HOMEWATCH_ALERT_TIMEOUT", default_value_t = Span(AlertsConfig::DEFAULT.attempt_timeout))]
    pub alert_timeout: Span,

    /// The wait after a failed delivery; it doubles with each further failure, up to an hour.
    #[arg(long, global = true, env = "HOMEWATCH_ALERT_RETRY_BASE", default_value_t = Span(AlertsConfig::DEFAULT.retry_base))]
    pub alert_retry_base: Span,

    /// How long a notification is retried before it is marked failed.
    #[arg(long, global = true, env = "HOMEWATCH_ALERT_RETRY_FOR", default_value_t = Span(AlertsConfig::DEFAULT.retry_for))]
    pub alert_retry_for: Span,

    /// Deliveries in flight per channel, at most.
    #[arg(long, global = true, env = "HOMEWATCH_ALERT_PER_CHANNEL", default_value_t = AlertsConfig::DEFAULT.per_channel,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub alert_per_channel: u32,

    /// A tile that changes between up and down more often than this within HOMEWATCH_FLAP_WINDOW is flapping:
    /// one message, then silence until it is stable.
    #[arg(long, global = true, env = "HOMEWATCH_FLAP_CHANGES", default_value_t = FlapRule::DEFAULT.changes,
          value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub flap_changes: u32,

    /// The window flapping is counted in, and how long a flapping tile must stay stable.
    #[arg(long, global = true, env = "HOMEWATCH_FLAP_WINDOW", default_value_t = Span(FlapRule::DEFAULT.window))]
    pub flap_window: Span,

    /// Count check results found during maintenance windows in uptime too (by default that time is left out).
    #[arg(long, global = true, env = "HOMEWATCH_MAINTENANCE_IN_UPTIME", default_value_t = EngineConfig::DEFAULT.maintenance_in_uptime,
          num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub maintenance_in_uptime: bool,
}

impl AlertArgs {
    pub fn alerts(&self, public_url: Option<url::Url>) -> AlertsConfig {
        AlertsConfig {
            attempt_timeout: self.alert_timeout.0,
            retry_base: self.alert_retry_base.0,
            retry_for: self.alert_retry_for.0,
            per_channel: self.alert_per_channel,
            public_url,
        }
    }

    pub fn flap(&self) -> FlapRule {
        FlapRule {
            changes: self.flap_changes,
            window: self.flap_window.0,
        }
    }
}

/// Who may do what, and how people sign in.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Access")]
pub struct AccessArgs {
    /// The address people use to reach Homewatch, such as https://home.example.com: an https URL makes the
    /// session cookie Secure, and its origin may make changes with the session cookie.
    #[arg(long, global = true, env = "HOMEWATCH_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// Let anonymous visitors read the dashboard and its stats (never change anything).
    #[arg(long, global = true, env = "HOMEWATCH_PUBLIC_DASHBOARD", default_value_t = AccessConfig::DEFAULT.public_dashboard,
          num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub public_dashboard: bool,

    /// Sessions end after this long without use (sliding; e.g. 30d, 12h).
    #[arg(long, global = true, env = "HOMEWATCH_SESSION_TTL", default_value_t = Span(AccessConfig::DEFAULT.session_ttl))]
    pub session_ttl: Span,

    /// For unattended installs: create this admin at start when no user exists (with HOMEWATCH_ADMIN_PASSWORD).
    #[arg(
        long,
        global = true,
        env = "HOMEWATCH_ADMIN_USER",
        requires = "admin_password"
    )]
    pub admin_user: Option<String>,

    /// The password for HOMEWATCH_ADMIN_USER (at least 10 characters). Only used while no user exists.
    #[arg(
        long,
        global = true,
        env = "HOMEWATCH_ADMIN_PASSWORD",
        hide_env_values = true,
        requires = "admin_user"
    )]
    pub admin_password: Option<Secret>,

    /// Reverse proxies in front of Homewatch, as addresses and ranges (e.g. `10.0.0.0/8,192.168.1.2`;
    /// `private` for the loopback and private ranges): for requests from them, the client's address (for
    /// login limits, connection caps and logs) is taken from X-Forwarded-For.
    #[arg(long, global = true, env = "HOMEWATCH_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: crate::auth::proxies::TrustedProxies,

    /// Older form of HOMEWATCH_TRUSTED_PROXIES: `true` trusts proxies at loopback and private addresses.
    #[arg(long, global = true, env = "HOMEWATCH_TRUST_PROXY", default_value = "false",
          num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_proxy: bool,
}

impl AccessArgs {
    pub fn access(&self) -> AccessConfig {
        AccessConfig {
            public_dashboard: self.public_dashboard,
            session_ttl: self.session_ttl.0,
            public_url: self.public_url.clone(),
            trusted_proxies: self.proxies(),
            ..AccessConfig::DEFAULT
        }
    }

    pub fn proxies(&self) -> crate::auth::proxies::TrustedProxies {
        match (self.trusted_proxies.is_empty(), self.trust_proxy) {
            (true, true) => crate::auth::proxies::TrustedProxies::PRIVATE,
            _ => self.trusted_proxies.clone(),
        }
    }

    /// The admin to create at start, when both HOMEWATCH_ADMIN_USER and HOMEWATCH_ADMIN_PASSWORD are set.
    pub fn admin(&self) -> Option<(&str, &Secret)> {
        self.admin_user.as_deref().zip(self.admin_password.as_ref())
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "" => Err("DATABASE_URL is empty; use sqlite://PATH or postgres://USER@HOST/DATABASE".into()),
            url => Ok(DatabaseUrl::new(url)),
        }
    }
}

/// The longest duration any setting takes: beyond it a value is surely a typo.
pub const LONGEST: Duration = Duration::from_secs(3650 * 86_400);

/// Reads `500ms`, `30s`, `5m`, `1h`, `30d`, or a bare number of seconds, up to ten years.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30s, 500ms or 5m"))?;
    let unit_seconds = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use ms, s, m, h or d"
            ));
        }
    };
    match Duration::try_from_secs_f64(value * unit_seconds) {
        Ok(duration) if duration <= LONGEST => Ok(duration),
        _ => Err(format!(
            "`{text}` is longer than the longest duration accepted, 3650d"
        )),
    }
}

/// A duration setting: parsed by [`parse_duration`], shown the way people write it (`30s`, `5m`, `30d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl Span {
    pub const fn secs(seconds: u64) -> Self {
        Self(Duration::from_secs(seconds))
    }
}

impl FromStr for Span {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_duration(text).map(Span)
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (seconds, millis) = (self.0.as_secs(), self.0.subsec_millis());
        match (seconds, millis) {
            (0, 0) => f.write_str("0s"),
            (_, 0) if seconds % 86_400 == 0 => write!(f, "{}d", seconds / 86_400),
            (_, 0) if seconds % 3600 == 0 => write!(f, "{}h", seconds / 3600),
            (_, 0) if seconds % 60 == 0 => write!(f, "{}m", seconds / 60),
            (_, 0) => write!(f, "{seconds}s"),
            _ => write!(f, "{}ms", self.0.as_millis()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert!(parse_duration("5 minutes").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
        assert!(
            parse_duration("1e400").is_err(),
            "no panic on a number too big for f64"
        );
        assert!(
            parse_duration("99999999999999999999d")
                .unwrap_err()
                .contains("longest")
        );
        assert!(parse_duration("3651d").is_err());
        assert!(parse_duration("3650d").is_ok());
    }

    #[test]
    fn durations_show_as_they_are_written_and_read_back() {
        for text in ["0s", "500ms", "30s", "5m", "1h", "30d", "90s"] {
            let span: Span = text.parse().unwrap();
            let shown = span.to_string();
            assert_eq!(shown.parse::<Span>().unwrap(), span, "{text} -> {shown}");
        }
        assert_eq!(Span::secs(300).to_string(), "5m");
    }

    /// Every setting is a flag with an environment variable, and the README's configuration table lists it.
    #[test]
    fn every_setting_has_an_env_var_and_a_readme_row() {
        use clap::CommandFactory;
        let readme = include_str!("../README.md");
        let command = Cli::command();
        let settings: Vec<_> = command
            .get_arguments()
            .filter(|arg| !matches!(arg.get_id().as_str(), "help" | "version"))
            .collect();
        assert!(settings.len() >= 24, "{} settings", settings.len());
        for arg in settings {
            let env = arg
                .get_env()
                .unwrap_or_else(|| panic!("--{} has no environment variable", arg.get_id()));
            let var = env.to_string_lossy();
            assert!(
                readme
                    .lines()
                    .any(|line| line.starts_with('|') && line.contains(&format!("`{var}`"))),
                "README.md has no table row for {var}"
            );
        }
    }
}
