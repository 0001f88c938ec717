//! Runs one SQL text on either dialect. Statements are written once with `$1` placeholders (both drivers
//! accept them), their arguments are a small closed set of types, and results decode into row structs that
//! implement `sqlx::FromRow` for both drivers ([`from_row!`]). What differs between the dialects is data, not code: the
//! [`Dialect`] each store module declares, and the connections its [`Backend`] hands out.

use std::borrow::Cow;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
#[cfg(feature = "postgres")]
use sqlx::postgres::{PgConnection, PgPool, PgRow, Postgres};
use sqlx::{
    FromRow,
    sqlite::{Sqlite, SqliteConnection, SqlitePool, SqliteRow},
};

use super::{StoreError, StoreKind, StoreResult};

/// One argument of a statement. NULL is the `None` of each kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Text(Option<Cow<'a, str>>),
    Time(Option<DateTime<Utc>>),
}

/// Text as both stores can hold it: PostgreSQL refuses NUL in text (a DNS TXT answer or a page can carry
/// one into an error message), so it becomes U+FFFD, the replacement character, in both.
fn storable(text: &str) -> Cow<'_, str> {
    match text.contains('\0') {
        true => Cow::Owned(text.replace('\0', "\u{fffd}")),
        false => Cow::Borrowed(text),
    }
}

macro_rules! arg_from {
    ($($ty:ty => $variant:ident($convert:expr)),* $(,)?) => {$(
        impl<'a> From<$ty> for Arg<'a> {
            fn from(value: $ty) -> Self {
                let convert: fn($ty) -> _ = $convert;
                Arg::$variant(convert(value))
            }
        }
    )*};
}

arg_from!(
    i64 => Int(Some),
    Option<i64> => Int(|v| v),
    i32 => Int(|v| Some(i64::from(v))),
    u32 => Int(|v| Some(i64::from(v))),
    Option<u32> => Int(|v| v.map(i64::from)),
    Option<u16> => Int(|v| v.map(i64::from)),
    f64 => Float(Some),
    bool => Bool(Some),
    Option<bool> => Bool(|v| v),
    DateTime<Utc> => Time(Some),
    Option<DateTime<Utc>> => Time(|v| v),
);

impl<'a> From<&'a str> for Arg<'a> {
    fn from(value: &'a str) -> Self {
        Arg::Text(Some(storable(value)))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(value: &'a String) -> Self {
        Arg::Text(Some(storable(value)))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(value: Option<&'a str>) -> Self {
        Arg::Text(value.map(storable))
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(value: &'a Option<String>) -> Self {
        Arg::Text(value.as_deref().map(storable))
    }
}

impl<'a> From<&'a DateTime<Utc>> for Arg<'a> {
    fn from(value: &'a DateTime<Utc>) -> Self {
        Arg::Time(Some(*value))
    }
}

/// `sqlx::FromRow` for a row struct, each field read from the column of its name, for SQLite and (with the
/// `postgres` feature) PostgreSQL: what `#[derive(sqlx::FromRow)]` writes, without sqlx's proc-macro crates (they
/// build a second sqlx and SQLite for the build host, about 15 s of a first release build on two cores). A field
/// followed by `flatten` is itself a row struct read from the same row.
///
/// `from_row!(DayRow { service_id, rollup flatten });`
macro_rules! from_row {
    ($name:ident { $($field:ident $($flatten:ident)?),* $(,)? }) => {
        impl<'r> ::sqlx::FromRow<'r, ::sqlx::sqlite::SqliteRow> for $name {
            fn from_row(row: &'r ::sqlx::sqlite::SqliteRow) -> ::sqlx::Result<Self> {
                Ok(Self { $($field: $crate::store::sql::from_row!(@field row, $field $($flatten)?),)* })
            }
        }
        #[cfg(feature = "postgres")]
        impl<'r> ::sqlx::FromRow<'r, ::sqlx::postgres::PgRow> for $name {
            fn from_row(row: &'r ::sqlx::postgres::PgRow) -> ::sqlx::Result<Self> {
                Ok(Self { $($field: $crate::store::sql::from_row!(@field row, $field $($flatten)?),)* })
            }
        }
    };
    (@field $row:ident, $field:ident) => {
        ::sqlx::Row::try_get($row, stringify!($field))?
    };
    (@field $row:ident, $field:ident flatten) => {
        ::sqlx::FromRow::from_row($row)?
    };
}
pub(crate) use from_row;

/// A row type both drivers can decode (any struct given [`from_row!`] or tuple of plain columns).
#[cfg(feature = "postgres")]
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
#[cfg(feature = "postgres")]
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

/// A row type both drivers can decode (any struct given [`from_row!`] or tuple of plain columns).
#[cfg(not(feature = "postgres"))]
pub trait Row: for<'r> FromRow<'r, SqliteRow> + Send + Unpin {}
#[cfg(not(feature = "postgres"))]
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + Send + Unpin {}

/// Where a statement runs: a pool (one statement, auto-commit) or a transaction's connection.
pub enum Conn<'c> {
    SqlitePool(&'c SqlitePool),
    Sqlite(&'c mut SqliteConnection),
    #[cfg(feature = "postgres")]
    PostgresPool(&'c PgPool),
    #[cfg(feature = "postgres")]
    Postgres(&'c mut PgConnection),
}

/// An open transaction; dropped without `commit`, it rolls back.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            #[cfg(feature = "postgres")]
            Tx::Postgres(tx) => tx.commit().await,
        }
        .map_err(|err| SqlError(err).into())
    }
}

impl<'c> From<&'c mut Tx> for Conn<'c> {
    fn from(tx: &'c mut Tx) -> Self {
        match tx {
            Tx::Sqlite(tx) => Conn::Sqlite(tx),
            #[cfg(feature = "postgres")]
            Tx::Postgres(tx) => Conn::Postgres(tx),
        }
    }
}

/// A statement and its arguments, in order (`$1` is the first `bind`).
#[must_use = "a statement does nothing until it is run"]
pub struct Statement<'a> {
    text: &'a str,
    args: Vec<Arg<'a>>,
}

/// Starts a statement.
pub fn sql(text: &str) -> Statement<'_> {
    Statement {
        text,
        args: Vec::new(),
    }
}

macro_rules! bound {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Int(value) => query.bind(value),
                Arg::Float(value) => query.bind(value),
                Arg::Bool(value) => query.bind(value),
                Arg::Text(value) => query.bind(value),
                Arg::Time(value) => query.bind(value),
            };
        }
        query
    }};
}

/// Builds the statement for the connection's driver and runs `$method` on it.
macro_rules! run {
    ($statement:expr, $conn:expr, $build:ident, $method:ident, $done:expr) => {{
        let Statement { text, args } = $statement;
        match $conn {
            Conn::SqlitePool(pool) => bound!($build!(Sqlite, text), args).$method(pool).await.map($done),
            Conn::Sqlite(conn) => bound!($build!(Sqlite, text), args).$method(conn).await.map($done),
            #[cfg(feature = "postgres")]
            Conn::PostgresPool(pool) => bound!($build!(Postgres, text), args)
                .$method(pool)
                .await
                .map($done),
            #[cfg(feature = "postgres")]
            Conn::Postgres(conn) => bound!($build!(Postgres, text), args)
                .$method(conn)
                .await
                .map($done),
        }
        .map_err(SqlError)
    }};
}

macro_rules! rows_of {
    ($db:ident, $text:expr) => {
        sqlx::query_as::<$db, _>($text)
    };
}

macro_rules! plain {
    ($db:ident, $text:expr) => {
        sqlx::query::<$db>($text)
    };
}

impl<'a> Statement<'a> {
    pub fn bind(mut self, value: impl Into<Arg<'a>>) -> Self {
        self.args.push(value.into());
        self
    }

    pub async fn fetch_all<T: Row>(self, conn: impl Into<Conn<'_>>) -> Result<Vec<T>, SqlError> {
        run!(self, conn.into(), rows_of, fetch_all, |rows| rows)
    }

    pub async fn fetch_optional<T: Row>(self, conn: impl Into<Conn<'_>>) -> Result<Option<T>, SqlError> {
        run!(self, conn.into(), rows_of, fetch_optional, |row| row)
    }

    pub async fn fetch_one<T: Row>(self, conn: impl Into<Conn<'_>>) -> Result<T, SqlError> {
        run!(self, conn.into(), rows_of, fetch_one, |row| row)
    }

    /// The first column of the one row the statement returns (`SELECT count(*) ...`, `RETURNING id`).
    pub async fn scalar<T>(self, conn: impl Into<Conn<'_>>) -> Result<T, SqlError>
    where
        (T,): Row,
    {
        self.fetch_one::<(T,)>(conn).await.map(|(value,)| value)
    }

    /// Runs the statement; returns how many rows it changed.
    pub async fn execute(self, conn: impl Into<Conn<'_>>) -> Result<u64, SqlError> {
        run!(self, conn.into(), plain, execute, |done| done.rows_affected())
    }
}

/// A driver error on its way to becoming a [`StoreError`]; see `From<SqlError> for StoreError`.
#[derive(Debug)]
pub struct SqlError(pub sqlx::Error);

impl SqlError {
    fn kind(&self) -> Option<sqlx::error::ErrorKind> {
        match &self.0 {
            sqlx::Error::Database(db) => Some(db.kind()),
            _ => None,
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        self.kind() == Some(sqlx::error::ErrorKind::UniqueViolation)
    }

    pub fn is_foreign_key_violation(&self) -> bool {
        self.kind() == Some(sqlx::error::ErrorKind::ForeignKeyViolation)
    }
}

impl From<sqlx::Error> for SqlError {
    fn from(err: sqlx::Error) -> Self {
        SqlError(err)
    }
}

/// Names the rule a statement broke, for the caller to say which one in words.
pub trait Violations<T> {
    /// A unique violation becomes `clash()`; any other error converts as usual.
    fn on_unique(self, clash: impl FnOnce() -> StoreError) -> StoreResult<T>;
    /// A foreign-key violation becomes `missing()`; any other error converts as usual.
    fn on_foreign_key(self, missing: impl FnOnce() -> StoreError) -> StoreResult<T>;
}

impl<T> Violations<T> for Result<T, SqlError> {
    fn on_unique(self, clash: impl FnOnce() -> StoreError) -> StoreResult<T> {
        self.map_err(|err| match err.is_unique_violation() {
            true => clash(),
            false => err.into(),
        })
    }

    fn on_foreign_key(self, missing: impl FnOnce() -> StoreError) -> StoreResult<T> {
        self.map_err(|err| match err.is_foreign_key_violation() {
            true => missing(),
            false => err.into(),
        })
    }
}

/// The one conversion of driver errors, for both dialects: what means "the database cannot be used right
/// now" (503, retry) as opposed to a bug (500, logged).
impl From<SqlError> for StoreError {
    fn from(SqlError(err): SqlError) -> Self {
        match err {
            sqlx::Error::PoolTimedOut => StoreError::Unavailable("timed out waiting for a connection".into()),
            sqlx::Error::PoolClosed => StoreError::Unavailable("the connection pool is closed".into()),
            sqlx::Error::Io(io) => StoreError::Unavailable(io.to_string()),
            sqlx::Error::Tls(tls) => StoreError::Unavailable(format!("TLS: {tls}")),
            sqlx::Error::WorkerCrashed => StoreError::Unavailable("the database worker stopped".into()),
            sqlx::Error::Database(db) => match unavailable_code(db.as_ref()) {
                Some(dialect) => StoreError::Unavailable(format!("{dialect}: {}", db.message())),
                None => StoreError::Other(db.message().to_owned()),
            },
            other => StoreError::Other(other.to_string()),
        }
    }
}

/// SQLite reports a missing, moved, unwritable, full or locked file through its result codes; PostgreSQL
/// reports connection exceptions (08), insufficient resources (53), operator intervention such as a
/// shutdown (57) and system errors (58) through SQLSTATE classes. Those mean "unavailable", not a bug.
fn unavailable_code(db: &dyn sqlx::error::DatabaseError) -> Option<&'static str> {
    let code = db.code()?;
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        let primary = code.parse::<i32>().ok()? & 0xff;
        // BUSY 5, LOCKED 6, READONLY 8, IOERR 10, CORRUPT 11, FULL 13, CANTOPEN 14, NOTADB 26
        return matches!(primary, 5 | 6 | 8 | 10 | 11 | 13 | 14 | 26).then_some("SQLite");
    }
    #[cfg(feature = "postgres")]
    if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
        return matches!(code.get(..2), Some("08" | "53" | "57" | "58")).then_some("PostgreSQL");
    }
    None
}

pub fn migration_failed(err: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Other(format!("migration failed: {err}"))
}

/// A lock a write transaction takes before it checks a rule and acts on it. SQLite needs none (all writes
/// go through one connection, one at a time); PostgreSQL takes them so the rule holds across connections
/// and replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The order of groups (creating or reordering groups).
    GroupOrder,
    /// One group's row: its tiles' positions, and that it still exists.
    Group(i64),
    /// Who is admin, and whether any user exists.
    Users,
}

/// Advisory lock keys ("homewatc", "homewusr").
const GROUP_ORDER_KEY: i64 = 0x686f_6d65_7761_7463;
const USERS_KEY: i64 = 0x686f_6d65_7775_7372;

/// The statements whose text differs between SQLite and PostgreSQL; each store module declares its own.
#[derive(Debug)]
pub struct Dialect {
    /// Sets `position` of every group to its index in `$1`, a JSON array of ids; `$2` is `updated_at`.
    pub reorder_groups: &'static str,
    /// The same for the tiles of one group.
    pub reorder_services: &'static str,
    /// Takes an advisory lock on `$1` until the transaction ends; None where writes are serialized anyway.
    pub advisory_lock: Option<&'static str>,
    /// Locks the row of group `$1` until the transaction ends; None where writes are serialized anyway.
    pub lock_group: Option<&'static str>,
    /// How many migrations have run (0 before the first).
    pub applied_migrations: &'static str,
    /// Claims due notifications: `$1` worker, `$2` lease end, `$3` now (ms), `$4` how many; returns the rows.
    /// PostgreSQL skips rows another transaction holds, so replicas never claim the same one.
    pub claim_notifications: &'static str,
}

/// The claim statement, with what PostgreSQL adds to its row selection.
macro_rules! claim_notifications {
    ($lock:literal) => {
        concat!(
            "UPDATE notifications SET claimed_by = $1, claimed_until = $2 WHERE id IN (SELECT id FROM notifications \
             WHERE status = 'pending' AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until < $3) \
             ORDER BY next_attempt_at, id LIMIT $4",
            $lock,
            ") RETURNING id, idempotency_key, channel_id, channel_name, service_id, service_name, group_name, event, \
             payload, created_at, attempts"
        )
    };
}
pub(crate) use claim_notifications;

impl Dialect {
    pub async fn lock(&self, tx: &mut Tx, lock: Lock) -> StoreResult<()> {
        let (statement, key) = match lock {
            Lock::GroupOrder => (self.advisory_lock, GROUP_ORDER_KEY),
            Lock::Users => (self.advisory_lock, USERS_KEY),
            Lock::Group(id) => (self.lock_group, id),
        };
        if let Some(statement) = statement {
            sql(statement).bind(key).execute(tx).await?;
        }
        Ok(())
    }
}

/// What a store provides for the shared SQL to run on it: its connections and its dialect. Every type that
/// implements it is a [`super::Store`].
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn kind(&self) -> StoreKind;
    /// A short, password-free description of where the data lives, for logs.
    fn describe(&self) -> String;
    fn dialect(&self) -> &'static Dialect;
    /// Proves the database answers a query; callers bound the time it may take.
    async fn ping(&self) -> StoreResult<()>;
    async fn migrate(&self) -> StoreResult<()>;
    /// The embedded migrations of this dialect.
    fn migrator(&self) -> &'static sqlx::migrate::Migrator;
    async fn close(&self);
    /// For reads of one statement.
    fn reader(&self) -> StoreResult<Conn<'_>>;
    /// For writes of one statement.
    fn writer(&self) -> StoreResult<Conn<'_>>;
    /// A transaction for writes.
    async fn write(&self) -> StoreResult<Tx>;
    /// A read-only transaction: its statements all see one snapshot.
    async fn snapshot(&self) -> StoreResult<Tx>;
    /// How busy its connection pools are.
    fn pool_use(&self) -> Vec<super::PoolUse>;
    /// What this process changed so far.
    fn changes(&self) -> &super::Changes;
    /// The PostgreSQL pool, for coordinating replicas.
    #[cfg(feature = "postgres")]
    fn postgres_pool(&self) -> Option<PgPool> {
        None
    }
}
