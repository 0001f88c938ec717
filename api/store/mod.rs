//! Persistence: the `Store` trait the rest of the program talks to, and its two implementations,
//! SQLite (always built) and PostgreSQL (cargo feature `postgres`), chosen at run time by URL.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::{
    ApiToken, CheckResult, Dashboard, DashboardGroup, DashboardTile, Group, GroupPatch, HistoryBatch,
    Incident, IncidentFilter, NewGroup, NewService, Role, Scope, Service, ServiceFilter, ServicePage,
    ServicePatch, ServiceState, ServiceStatus, Session, StoredUser, User, cursor,
};
use crate::monitor::rollup::{Rollup, hour_of_ms};

#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

/// What a store operation can fail with; both stores produce these the same way.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The entity does not exist (404).
    #[error("{entity} {id} does not exist")]
    NotFound { entity: &'static str, id: i64 },
    /// A uniqueness rule or the current state forbids the change (409).
    #[error("{message}")]
    Conflict {
        field: Option<&'static str>,
        message: String,
    },
    /// The request refers to something that does not fit, e.g. an unknown group (422).
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// The database cannot be reached or is not usable right now (503).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else; logged, never shown to clients (500).
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    pub fn not_found(entity: &'static str, id: i64) -> Self {
        Self::NotFound { entity, id }
    }
}

/// Classifies driver errors that mean "cannot reach or use the database" as opposed to a bug.
pub(crate) fn classify(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::PoolTimedOut => StoreError::Unavailable("timed out waiting for a connection".into()),
        sqlx::Error::PoolClosed => StoreError::Unavailable("the connection pool is closed".into()),
        sqlx::Error::Io(io) => StoreError::Unavailable(io.to_string()),
        sqlx::Error::Tls(tls) => StoreError::Unavailable(format!("TLS: {tls}")),
        sqlx::Error::WorkerCrashed => StoreError::Unavailable("the database worker stopped".into()),
        sqlx::Error::RowNotFound => StoreError::Other("row not found".into()),
        sqlx::Error::Database(db) => StoreError::Other(db.message().to_owned()),
        other => StoreError::Other(other.to_string()),
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which of the two stores is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many of the embedded migrations the database has applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationStatus {
    pub applied: usize,
    pub expected: usize,
}

impl MigrationStatus {
    pub fn is_current(&self) -> bool {
        self.applied >= self.expected
    }
}

/// Everything the program asks of a database. Handlers hold `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn kind(&self) -> StoreKind;
    /// A short, password-free description of where the data lives, for logs.
    fn describe(&self) -> String;
    /// Proves the database answers a query; callers bound the time it may take.
    async fn ping(&self) -> StoreResult<()>;
    async fn migrate(&self) -> StoreResult<()>;
    async fn migration_status(&self) -> StoreResult<MigrationStatus>;
    async fn close(&self);

    async fn list_groups(&self) -> StoreResult<Vec<Group>>;
    async fn get_group(&self, id: i64) -> StoreResult<Group>;
    async fn create_group(&self, group: &NewGroup) -> StoreResult<Group>;
    async fn update_group(&self, id: i64, patch: &GroupPatch) -> StoreResult<Group>;
    /// Refuses (Conflict) while the group has tiles, unless `cascade` deletes them too.
    async fn delete_group(&self, id: i64, cascade: bool) -> StoreResult<()>;
    /// `ids` must name every group once; returns the groups in their new order.
    async fn reorder_groups(&self, ids: &[i64]) -> StoreResult<Vec<Group>>;

    async fn list_services(&self, filter: &ServiceFilter) -> StoreResult<ServicePage>;
    async fn get_service(&self, id: i64) -> StoreResult<Service>;
    async fn create_service(&self, service: &NewService) -> StoreResult<Service>;
    async fn update_service(&self, id: i64, patch: &ServicePatch) -> StoreResult<Service>;
    async fn delete_service(&self, id: i64) -> StoreResult<()>;
    /// `ids` must name every tile of the group once; returns its tiles in their new order.
    async fn reorder_services(&self, group_id: i64, ids: &[i64]) -> StoreResult<Vec<Service>>;

    /// All groups in order with their tiles in order, read in one consistent snapshot.
    async fn dashboard(&self) -> StoreResult<Dashboard>;

    /// Writes what the engine found, in one transaction. Rows of tiles deleted meanwhile are skipped.
    async fn record_history(&self, batch: &HistoryBatch) -> StoreResult<()>;
    /// Raw results of one tile, newest first, with `since <= checked_at < until`.
    async fn results(
        &self,
        service_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<CheckResult>>;
    /// Hourly rollups of one tile for hours `from_hour..=to_hour`, oldest first.
    async fn rollups(&self, service_id: i64, from_hour: i64, to_hour: i64)
    -> StoreResult<Vec<(i64, Rollup)>>;
    async fn incidents(&self, filter: &IncidentFilter) -> StoreResult<Vec<Incident>>;
    /// Pauses or resumes a tile's checks; pausing closes its open incident.
    async fn set_paused(&self, id: i64, paused: bool) -> StoreResult<Service>;
    /// Deletes at most `limit` raw results older than `raw_before_ms` and rollups older than `rollups_before_hour`;
    /// returns how many rows went, so callers can repeat in small steps without long locks.
    async fn prune_history(
        &self,
        raw_before_ms: i64,
        rollups_before_hour: i64,
        limit: u32,
    ) -> StoreResult<u64>;

    async fn count_users(&self) -> StoreResult<i64>;
    /// Conflict (field `username`) when the name is taken, ignoring case. With `only_if_none`, also Conflict
    /// when any user exists already (the first admin is created once, even by two requests at once).
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        only_if_none: bool,
    ) -> StoreResult<User>;
    async fn get_user(&self, id: i64) -> StoreResult<StoredUser>;
    /// The user with this name, ignoring case.
    async fn find_user(&self, username: &str) -> StoreResult<Option<StoredUser>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Changes a role and/or a password hash. Refuses (Conflict) to leave no admin. A new password ends every
    /// session of the user but `keep_session`.
    async fn update_user(
        &self,
        id: i64,
        role: Option<Role>,
        password_hash: Option<&str>,
        keep_session: Option<i64>,
    ) -> StoreResult<User>;
    /// Deletes a user with their sessions and tokens; refuses (Conflict) to delete the last admin.
    async fn delete_user(&self, id: i64) -> StoreResult<()>;

    async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Session>;
    /// The session with this hash and its user, whether or not it has expired (the caller decides).
    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<(Session, User)>>;
    async fn extend_session(
        &self,
        id: i64,
        seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;

    async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        scope: Scope,
        token_hash: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<ApiToken>;
    /// The token with this hash and its user, whether or not it has expired (the caller decides).
    async fn find_token(&self, token_hash: &str) -> StoreResult<Option<(ApiToken, User)>>;
    async fn touch_token(&self, id: i64, used_at: DateTime<Utc>) -> StoreResult<()>;
    /// Tokens of one user, or of everyone; newest first.
    async fn list_tokens(&self, user_id: Option<i64>) -> StoreResult<Vec<ApiToken>>;
    /// Deletes a token, of `user_id` only when given (NotFound otherwise).
    async fn delete_token(&self, id: i64, user_id: Option<i64>) -> StoreResult<()>;
    /// Deletes sessions and tokens that expired before `now`; returns how many went.
    async fn prune_expired_access(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// Pool sizes and timeouts; every figure can be changed through the environment (see `config`).
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// PostgreSQL: most connections open at once.
    pub max_connections: u32,
    /// PostgreSQL: connections kept open while idle.
    pub min_connections: u32,
    /// PostgreSQL: connections are closed and replaced after this long.
    pub max_lifetime: Duration,
    /// Both: how long a query waits for a free connection before the store reports itself unavailable.
    pub acquire_timeout: Duration,
    /// SQLite: read-only connections beside the single writer.
    pub sqlite_readers: u32,
    /// SQLite: how long a statement waits on a lock held by another process.
    pub sqlite_busy_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 25,
            min_connections: 5,
            max_lifetime: Duration::from_secs(300),
            acquire_timeout: Duration::from_secs(5),
            sqlite_readers: 4,
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A database URL that never shows its password, in logs, errors or `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, to hand to the driver and nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn scheme(&self) -> &str {
        self.0.split_once(':').map_or("", |(scheme, _)| scheme)
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut parsed) if parsed.password().is_some() => {
                let _ = parsed.set_password(Some("***"));
                parsed.to_string()
            }
            Ok(_) => self.0.clone(),
            Err(_) => match self.0.split_once("://") {
                Some((scheme, _)) => format!("{scheme}://(unparseable URL hidden)"),
                None => "(unparseable URL hidden)".into(),
            },
        }
    }

    /// Removes the password from a message in case a driver quoted the URL back.
    pub fn scrub(&self, message: &str) -> String {
        match url::Url::parse(&self.0)
            .ok()
            .and_then(|u| u.password().map(str::to_owned))
        {
            Some(password) if !password.is_empty() => message.replace(&password, "***"),
            _ => message.to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL names a database this build cannot talk to, or is malformed; retrying will not help.
    #[error("{0}")]
    Config(String),
    /// The database did not answer or refused us; it may come up later.
    #[error("{0}")]
    Unreachable(String),
}

impl ConnectError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}

/// Opens the store the URL names: `sqlite:` (always) or `postgres:`/`postgresql:` (feature `postgres`).
pub async fn connect(url: &DatabaseUrl, pool: &PoolConfig) -> Result<Arc<dyn Store>, ConnectError> {
    match url.scheme() {
        "sqlite" => Ok(Arc::new(sqlite::SqliteStore::connect(url, pool).await?)),
        "postgres" | "postgresql" => connect_postgres(url, pool).await,
        "" => Err(ConnectError::Config(format!(
            "DATABASE_URL `{url}` has no scheme: use sqlite://PATH (for example sqlite://data/homewatch.db) \
             or postgres://USER:PASSWORD@HOST:5432/DATABASE"
        ))),
        other => Err(ConnectError::Config(format!(
            "DATABASE_URL scheme `{other}:` is not supported: use sqlite://PATH or postgres://USER@HOST/DATABASE"
        ))),
    }
}

#[cfg(feature = "postgres")]
async fn connect_postgres(url: &DatabaseUrl, pool: &PoolConfig) -> Result<Arc<dyn Store>, ConnectError> {
    Ok(Arc::new(postgres::PostgresStore::connect(url, pool).await?))
}

#[cfg(not(feature = "postgres"))]
async fn connect_postgres(_url: &DatabaseUrl, _pool: &PoolConfig) -> Result<Arc<dyn Store>, ConnectError> {
    Err(ConnectError::Config(
        "DATABASE_URL is a PostgreSQL URL, but this homewatch was built without PostgreSQL support. \
         Rebuild with `cargo build --release --features postgres` (the Docker image already has it), \
         or use an SQLite URL such as sqlite://data/homewatch.db"
            .into(),
    ))
}

/// Opens the store, retrying with backoff while the database is unreachable, for at most `patience`.
pub async fn connect_with_retry(
    url: &DatabaseUrl,
    pool: &PoolConfig,
    patience: Duration,
) -> Result<Arc<dyn Store>, ConnectError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1u32;
    loop {
        match connect(url, pool).await {
            Ok(store) => return Ok(store),
            Err(err) if err.is_retryable() && tokio::time::Instant::now() + delay < deadline => {
                tracing::warn!(attempt, retry_in_ms = delay.as_millis() as u64, "{err}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Time as the stores keep it: UTC, whole milliseconds, so both dialects round-trip it exactly.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Tags come back from both dialects as a JSON array in text.
pub(crate) fn decode_tags(json: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(json)
        .map_err(|err| StoreError::Other(format!("tags column is not a JSON array: {err}")))
}

/// A tile as both dialects return it, tags as a JSON array in text.
#[derive(sqlx::FromRow)]
pub(crate) struct ServiceRow {
    pub(crate) id: i64,
    pub(crate) group_id: i64,
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) description: String,
    pub(crate) icon: Option<String>,
    pub(crate) position: i64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) tags: String,
    pub(crate) check_spec: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) last_checked_at: Option<DateTime<Utc>>,
    pub(crate) last_latency_ms: Option<i32>,
    pub(crate) last_error: Option<String>,
}

impl TryFrom<ServiceRow> for Service {
    type Error = StoreError;

    fn try_from(row: ServiceRow) -> StoreResult<Self> {
        Ok(Service {
            id: row.id,
            group_id: row.group_id,
            name: row.name,
            url: row.url,
            description: row.description,
            icon: row.icon,
            tags: decode_tags(&row.tags)?,
            position: row.position,
            check: row
                .check_spec
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|err| {
                    StoreError::Other(format!("service {}: check_spec is not a check: {err}", row.id))
                })?,
            status: ServiceStatus {
                state: row
                    .state
                    .as_deref()
                    .and_then(ServiceState::parse)
                    .unwrap_or(ServiceState::Unknown),
                since: row.since,
                last_checked_at: row.last_checked_at,
                last_latency_ms: row.last_latency_ms.and_then(|ms| u32::try_from(ms).ok()),
                last_error: row.last_error,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub(crate) fn into_services(rows: Vec<ServiceRow>) -> StoreResult<Vec<Service>> {
    rows.into_iter().map(Service::try_from).collect()
}

/// A user as both dialects return it.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub(crate) id: i64,
    pub(crate) username: String,
    pub(crate) password_hash: String,
    pub(crate) role: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for StoredUser {
    type Error = StoreError;

    fn try_from(row: UserRow) -> StoreResult<Self> {
        Ok(StoredUser {
            user: owner(row.id, &row.username, &row.role, row.created_at, row.updated_at)?,
            password_hash: row.password_hash,
        })
    }
}

/// A token with its owner, as both dialects return it (`u_*` are the owner's columns).
#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub(crate) id: i64,
    pub(crate) user_id: i64,
    pub(crate) name: String,
    pub(crate) scope: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_used_at: Option<DateTime<Utc>>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) username: String,
    pub(crate) role: String,
    pub(crate) u_created_at: DateTime<Utc>,
    pub(crate) u_updated_at: DateTime<Utc>,
}

impl TryFrom<TokenRow> for (ApiToken, User) {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> StoreResult<Self> {
        let scope = Scope::parse(&row.scope)
            .ok_or_else(|| StoreError::Other(format!("token {}: unknown scope {}", row.id, row.scope)))?;
        let owner = owner(
            row.user_id,
            &row.username,
            &row.role,
            row.u_created_at,
            row.u_updated_at,
        )?;
        Ok((
            ApiToken {
                id: row.id,
                user_id: row.user_id,
                username: row.username,
                name: row.name,
                scope,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                expires_at: row.expires_at,
            },
            owner,
        ))
    }
}

/// The user a session or token belongs to, from the columns joined in.
fn owner(
    id: i64,
    username: &str,
    role: &str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> StoreResult<User> {
    Ok(User {
        id,
        username: username.to_owned(),
        role: Role::parse(role)
            .ok_or_else(|| StoreError::Other(format!("user {id}: unknown role {role}")))?,
        created_at,
        updated_at,
    })
}

/// A session with its owner, as both dialects return it.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub(crate) id: i64,
    pub(crate) user_id: i64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_seen_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) username: String,
    pub(crate) role: String,
    pub(crate) u_created_at: DateTime<Utc>,
    pub(crate) u_updated_at: DateTime<Utc>,
}

impl TryFrom<SessionRow> for (Session, User) {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> StoreResult<Self> {
        let owner = owner(
            row.user_id,
            &row.username,
            &row.role,
            row.u_created_at,
            row.u_updated_at,
        )?;
        Ok((
            Session {
                id: row.id,
                user_id: row.user_id,
                created_at: row.created_at,
                last_seen_at: row.last_seen_at,
                expires_at: row.expires_at,
            },
            owner,
        ))
    }
}

pub(crate) fn username_clash(name: &str) -> StoreError {
    StoreError::Conflict {
        field: Some("username"),
        message: format!("a user named `{name}` already exists"),
    }
}

pub(crate) fn setup_done() -> StoreError {
    StoreError::Conflict {
        field: None,
        message: "setup is done: a user exists already. Sign in with POST /api/v1/auth/login".into(),
    }
}

pub(crate) fn last_admin() -> StoreError {
    StoreError::Conflict {
        field: Some("role"),
        message: "this is the last admin: make another user admin first".into(),
    }
}

/// A raw result as both dialects return it.
#[derive(sqlx::FromRow)]
pub(crate) struct ResultRow {
    pub(crate) service_id: i64,
    pub(crate) checked_at: i64,
    pub(crate) ok: bool,
    pub(crate) latency_ms: i64,
    pub(crate) status_code: Option<i64>,
    pub(crate) error: Option<String>,
}

impl From<ResultRow> for CheckResult {
    fn from(row: ResultRow) -> Self {
        CheckResult {
            service_id: row.service_id,
            checked_at: DateTime::from_timestamp_millis(row.checked_at).unwrap_or_default(),
            ok: row.ok,
            latency_ms: u32::try_from(row.latency_ms).unwrap_or(u32::MAX),
            status_code: row.status_code.and_then(|code| u16::try_from(code).ok()),
            error: row.error,
        }
    }
}

/// A rollup row as both dialects return it.
#[derive(sqlx::FromRow)]
pub(crate) struct RollupRow {
    pub(crate) hour: i64,
    pub(crate) checks: i64,
    pub(crate) ok_checks: i64,
    pub(crate) latency_sum: i64,
    pub(crate) latency_min: i64,
    pub(crate) latency_max: i64,
    pub(crate) b0: i64,
    pub(crate) b1: i64,
    pub(crate) b2: i64,
    pub(crate) b3: i64,
    pub(crate) b4: i64,
    pub(crate) b5: i64,
    pub(crate) b6: i64,
    pub(crate) b7: i64,
    pub(crate) b8: i64,
    pub(crate) b9: i64,
    pub(crate) b10: i64,
    pub(crate) b11: i64,
    pub(crate) b12: i64,
    pub(crate) b13: i64,
    pub(crate) b14: i64,
    pub(crate) b15: i64,
}

impl From<RollupRow> for (i64, Rollup) {
    fn from(row: RollupRow) -> Self {
        let buckets = [
            row.b0, row.b1, row.b2, row.b3, row.b4, row.b5, row.b6, row.b7, row.b8, row.b9, row.b10, row.b11,
            row.b12, row.b13, row.b14, row.b15,
        ];
        let rollup = Rollup {
            checks: row.checks,
            ok_checks: row.ok_checks,
            latency_sum: row.latency_sum,
            latency_min: row.latency_min,
            latency_max: row.latency_max,
            buckets,
        };
        (row.hour, rollup)
    }
}

/// An incident as both dialects return it.
#[derive(sqlx::FromRow)]
pub(crate) struct IncidentRow {
    pub(crate) id: i64,
    pub(crate) service_id: i64,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) ended_at: Option<DateTime<Utc>>,
    pub(crate) cause: String,
}

impl From<IncidentRow> for Incident {
    fn from(row: IncidentRow) -> Self {
        Incident {
            id: row.id,
            service_id: row.service_id,
            started_at: row.started_at,
            duration_s: row.ended_at.map(|ended| (ended - row.started_at).num_seconds()),
            ended_at: row.ended_at,
            cause: row.cause,
        }
    }
}

/// A batch's results summed per tile and hour, ready to be added to the stored rollups.
pub(crate) fn batch_rollups(results: &[CheckResult]) -> Vec<(i64, i64, Rollup)> {
    let mut sums: std::collections::BTreeMap<(i64, i64), Rollup> = std::collections::BTreeMap::new();
    for result in results {
        let key = (
            result.service_id,
            hour_of_ms(result.checked_at.timestamp_millis()),
        );
        sums.entry(key).or_default().add(result.ok, result.latency_ms);
    }
    sums.into_iter()
        .map(|((service_id, hour), rollup)| (service_id, hour, rollup))
        .collect()
}

pub(crate) fn service_name_clash(group_id: i64, name: &str) -> StoreError {
    StoreError::Conflict {
        field: Some("name"),
        message: format!("group {group_id} already has a service named `{name}`"),
    }
}

pub(crate) fn no_such_group(group_id: i64) -> StoreError {
    StoreError::Invalid {
        field: "group_id",
        message: format!("no group has id {group_id}"),
    }
}

pub(crate) fn group_name_clash(name: &str) -> StoreError {
    StoreError::Conflict {
        field: Some("name"),
        message: format!("a group named `{name}` already exists"),
    }
}

pub(crate) fn group_not_empty(id: i64, tiles: i64) -> StoreError {
    StoreError::Conflict {
        field: None,
        message: format!(
            "group {id} still has {tiles} service(s): delete or move them first, \
             or pass cascade=true to delete them with the group"
        ),
    }
}

/// Cuts a result fetched with one extra row into a page and the cursor of the next one.
pub(crate) fn page(mut items: Vec<Service>, limit: u32) -> ServicePage {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = match (more, items.last()) {
        (true, Some(last)) => Some(cursor::encode(last.id)),
        _ => None,
    };
    ServicePage { items, next_cursor }
}

/// The last 24 hours of one tile's rollups, as the dashboard needs them.
#[derive(sqlx::FromRow)]
pub(crate) struct RecentRollupRow {
    pub(crate) service_id: i64,
    pub(crate) hour: i64,
    pub(crate) checks: i64,
    pub(crate) ok_checks: i64,
    pub(crate) latency_sum: i64,
}

/// The first of the 24 hours the dashboard shows (the current hour is the last).
pub(crate) fn dashboard_first_hour() -> i64 {
    hour_of_ms(chrono::Utc::now().timestamp_millis()) - 23
}

/// Puts tiles (sorted by group, then position) under their groups (sorted by position), each with its
/// uptime and latency of the 24 hours from `first_hour`.
pub(crate) fn assemble_dashboard(
    groups: Vec<Group>,
    services: Vec<Service>,
    recent: Vec<RecentRollupRow>,
    first_hour: i64,
) -> Dashboard {
    let mut hours: HashMap<i64, Vec<RecentRollupRow>> = HashMap::new();
    for row in recent
        .into_iter()
        .filter(|row| (first_hour..first_hour + 24).contains(&row.hour))
    {
        hours.entry(row.service_id).or_default().push(row);
    }
    let mut by_group: HashMap<i64, Vec<DashboardTile>> = HashMap::with_capacity(groups.len());
    for service in services {
        let rows = hours.remove(&service.id).unwrap_or_default();
        let (checks, ok_checks) = rows
            .iter()
            .fold((0, 0), |(c, o), row| (c + row.checks, o + row.ok_checks));
        let mut latency_24h = vec![None; 24];
        for row in &rows {
            if row.ok_checks > 0 {
                latency_24h[(row.hour - first_hour) as usize] =
                    Some(row.latency_sum as f64 / row.ok_checks as f64);
            }
        }
        let uptime_24h = (checks > 0).then(|| ok_checks as f64 * 100.0 / checks as f64);
        by_group.entry(service.group_id).or_default().push(DashboardTile {
            service,
            uptime_24h,
            latency_24h,
        });
    }
    Dashboard {
        groups: groups
            .into_iter()
            .map(|group| DashboardGroup {
                services: by_group.remove(&group.id).unwrap_or_default(),
                id: group.id,
                name: group.name,
                position: group.position,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_never_shows_its_password() {
        let url = DatabaseUrl::new("postgres://app:s3cret-pw@db.lan:5432/homewatch");
        assert_eq!(url.redacted(), "postgres://app:***@db.lan:5432/homewatch");
        assert!(!format!("{url:?} {url}").contains("s3cret-pw"));
        assert_eq!(
            url.scrub("failed for postgres://app:s3cret-pw@db"),
            "failed for postgres://app:***@db"
        );
        assert_eq!(
            DatabaseUrl::new("sqlite://data/x.db").redacted(),
            "sqlite://data/x.db"
        );
    }

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
