//! Command line and environment: every setting is a flag and an environment variable, and `--help`
//! documents them all.

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{
    auth::AccessConfig,
    monitor::engine::EngineConfig,
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
    /// Ask a running server's /healthz; exit 0 when it answers 200 (for container health checks).
    Healthcheck {
        /// Full URL to probe; defaults to /healthz on the --listen address.
        #[arg(long, env = "HOMEWATCH_HEALTHCHECK_URL")]
        url: Option<String>,
    },
    /// Manage users from the command line (for the first admin, or to recover a lost password).
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
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

#[derive(Debug, Clone, Args)]
pub struct Config {
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

    /// Address and port the HTTP server listens on.
    #[arg(
        long,
        global = true,
        env = "HOMEWATCH_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// Folder of the web app served at `/`.
    #[arg(long, global = true, env = "HOMEWATCH_WEB_DIR", default_value = "web")]
    pub web_dir: PathBuf,

    /// Log lines as human-readable text or as JSON objects.
    #[arg(
        long,
        global = true,
        env = "HOMEWATCH_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// Which logs to show, in tracing's filter syntax (e.g. `info`, `homewatch=debug,sqlx=warn`).
    #[arg(long, global = true, env = "HOMEWATCH_LOG", default_value = "info")]
    pub log: String,

    /// Origins allowed to call the API from a browser (comma-separated, e.g. https://home.example.com);
    /// empty turns CORS off.
    #[arg(long, global = true, env = "HOMEWATCH_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Longest a request may take before it is answered 408 (e.g. 30s, 500ms, 2m).
    #[arg(long, global = true, env = "HOMEWATCH_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// How long start-up keeps retrying an unreachable database before giving up.
    #[arg(long, global = true, env = "HOMEWATCH_DB_CONNECT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub db_connect_timeout: Duration,

    /// PostgreSQL: most connections in the pool.
    #[arg(
        long,
        global = true,
        env = "HOMEWATCH_DB_MAX_CONNECTIONS",
        default_value_t = 25
    )]
    pub db_max_connections: u32,

    /// PostgreSQL: connections kept open while idle.
    #[arg(
        long,
        global = true,
        env = "HOMEWATCH_DB_MIN_CONNECTIONS",
        default_value_t = 5
    )]
    pub db_min_connections: u32,

    /// PostgreSQL: a connection is replaced after this long.
    #[arg(long, global = true, env = "HOMEWATCH_DB_MAX_LIFETIME", default_value = "5m", value_parser = parse_duration)]
    pub db_max_lifetime: Duration,

    /// Both stores: longest wait for a free connection before answering 503.
    #[arg(long, global = true, env = "HOMEWATCH_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub db_acquire_timeout: Duration,

    /// SQLite: read-only connections beside the single writer.
    #[arg(long, global = true, env = "HOMEWATCH_SQLITE_READERS", default_value_t = 4)]
    pub sqlite_readers: u32,

    /// SQLite: how long a statement waits for a lock held by another process.
    #[arg(long, global = true, env = "HOMEWATCH_SQLITE_BUSY_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub sqlite_busy_timeout: Duration,

    /// Checks running at once, at most.
    #[arg(
        long,
        global = true,
        env = "HOMEWATCH_CHECK_CONCURRENCY",
        default_value_t = 256
    )]
    pub check_concurrency: usize,

    /// Days raw check results are kept (hourly rollups answer longer windows).
    #[arg(
        long,
        global = true,
        env = "HOMEWATCH_RETENTION_RAW_DAYS",
        default_value_t = 7
    )]
    pub retention_raw_days: u32,

    /// Days hourly rollups are kept.
    #[arg(
        long,
        global = true,
        env = "HOMEWATCH_RETENTION_ROLLUP_DAYS",
        default_value_t = 400
    )]
    pub retention_rollup_days: u32,

    /// On SIGTERM/SIGINT, how long in-flight requests get to finish.
    #[arg(long, global = true, env = "HOMEWATCH_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// The address people use to reach Homewatch, such as https://home.example.com: an https URL makes the
    /// session cookie Secure, and its origin may make changes with the session cookie.
    #[arg(long, global = true, env = "HOMEWATCH_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// Let anonymous visitors read the dashboard and its stats (never change anything).
    #[arg(long, global = true, env = "HOMEWATCH_PUBLIC_DASHBOARD", default_value = "false",
          num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub public_dashboard: bool,

    /// Sessions end after this long without use (sliding; e.g. 30d, 12h).
    #[arg(long, global = true, env = "HOMEWATCH_SESSION_TTL", default_value = "30d", value_parser = parse_duration)]
    pub session_ttl: Duration,

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

    /// Behind a reverse proxy: take the client's address (for login limits and logs) from X-Forwarded-For.
    #[arg(long, global = true, env = "HOMEWATCH_TRUST_PROXY", default_value = "false",
          num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_proxy: bool,
}

impl Config {
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            concurrency: self.check_concurrency.max(1),
            retention_raw: Duration::from_secs(u64::from(self.retention_raw_days.max(1)) * 86_400),
            retention_rollups: Duration::from_secs(u64::from(self.retention_rollup_days.max(1)) * 86_400),
            ..EngineConfig::default()
        }
    }

    pub fn access(&self) -> AccessConfig {
        AccessConfig {
            public_dashboard: self.public_dashboard,
            session_ttl: self.session_ttl,
            public_url: self.public_url.clone(),
            trust_proxy: self.trust_proxy,
            ..AccessConfig::default()
        }
    }

    pub fn pool(&self) -> PoolConfig {
        PoolConfig {
            max_connections: self.db_max_connections,
            min_connections: self.db_min_connections,
            max_lifetime: self.db_max_lifetime,
            acquire_timeout: self.db_acquire_timeout,
            sqlite_readers: self.sqlite_readers,
            sqlite_busy_timeout: self.sqlite_busy_timeout,
        }
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

/// Reads `500ms`, `30s`, `5m`, `1h`, `30d`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30s, 500ms or 5m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use ms, s, m, h or d"
            ));
        }
    };
    Ok(Duration::from_secs_f64(seconds))
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
    }

    #[test]
    fn help_documents_every_setting_with_its_env_var() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for var in [
            "DATABASE_URL",
            "HOMEWATCH_LISTEN",
            "HOMEWATCH_WEB_DIR",
            "HOMEWATCH_LOG_FORMAT",
            "HOMEWATCH_CORS_ORIGINS",
            "HOMEWATCH_REQUEST_TIMEOUT",
            "HOMEWATCH_DB_CONNECT_TIMEOUT",
            "HOMEWATCH_DB_MAX_CONNECTIONS",
            "HOMEWATCH_DB_MIN_CONNECTIONS",
            "HOMEWATCH_DB_MAX_LIFETIME",
            "HOMEWATCH_DB_ACQUIRE_TIMEOUT",
            "HOMEWATCH_SQLITE_READERS",
            "HOMEWATCH_SQLITE_BUSY_TIMEOUT",
            "HOMEWATCH_SHUTDOWN_TIMEOUT",
            "HOMEWATCH_CHECK_CONCURRENCY",
            "HOMEWATCH_RETENTION_RAW_DAYS",
            "HOMEWATCH_RETENTION_ROLLUP_DAYS",
            "HOMEWATCH_PUBLIC_URL",
            "HOMEWATCH_PUBLIC_DASHBOARD",
            "HOMEWATCH_SESSION_TTL",
            "HOMEWATCH_ADMIN_USER",
            "HOMEWATCH_ADMIN_PASSWORD",
            "HOMEWATCH_TRUST_PROXY",
        ] {
            assert!(help.contains(var), "--help does not mention {var}");
        }
    }
}
