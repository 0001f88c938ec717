//! The SQLite store: one file in WAL mode, exactly one writer connection (writes are serialized, never
//! concurrent) and a small pool of read-only connections beside it.
//!
//! What differs from PostgreSQL, and only that, is here:
//! - connections: the single writer, `BEGIN IMMEDIATE` (a write transaction takes the lock at once, so it
//!   never has to upgrade later), read-only readers, and a check that the file is still the one opened;
//! - no locks: writes are serialized by the single writer, so the rules need none;
//! - reordering from a JSON array of ids with `json_each`;
//! - the migrations folder, and how to tell which migrations ran (`sqlite_schema`).

use std::{
    path::{Path, PathBuf},
    str::FromStr,
};

use async_trait::async_trait;
use sqlx::{
    SqlitePool,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    ConnectError, DatabaseUrl, PoolConfig, StoreError, StoreKind, StoreResult,
    sql::{Backend, Conn, Dialect, SqlError, Tx, migration_failed, sql},
};

const DIALECT: Dialect = Dialect {
    reorder_groups: "UPDATE groups SET position = j.key, updated_at = $2 FROM json_each($1) AS j \
                     WHERE groups.id = j.value AND groups.position <> j.key",
    reorder_services: "UPDATE services SET position = j.key, updated_at = $2 FROM json_each($1) AS j \
                       WHERE services.id = j.value AND services.position <> j.key",
    advisory_lock: None,
    lock_group: None,
    applied_migrations: "SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlite_schema WHERE name = '_sqlx_migrations') \
                         THEN (SELECT count(*) FROM _sqlx_migrations WHERE success) ELSE 0 END",
    claim_notifications: super::sql::claim_notifications!(""),
};

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    path: PathBuf,
    /// Which file was opened: writes into a file that was deleted or replaced underneath us would be lost.
    identity: Option<FileIdentity>,
    changes: super::Changes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    #[cfg(unix)]
    fn of(path: &std::path::Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|meta| Self {
            device: meta.dev(),
            inode: meta.ino(),
        })
    }

    #[cfg(not(unix))]
    fn of(path: &std::path::Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|_| Self { device: 0, inode: 0 })
    }
}

/// The file an SQLite URL names.
pub fn file_of(url: &DatabaseUrl) -> Result<PathBuf, ConnectError> {
    SqliteConnectOptions::from_str(url.expose())
        .map(|options| options.get_filename().to_owned())
        .map_err(|err| {
            ConnectError::Config(format!(
                "DATABASE_URL `{url}` is not a valid SQLite URL ({err}); use sqlite://PATH, \
                 for example sqlite://data/homewatch.db"
            ))
        })
}

impl SqliteStore {
    /// Writes a consistent copy of the database to `file` (which must not exist): `VACUUM INTO` reads one
    /// snapshot, so writers carry on meanwhile, and the copy is compact and complete.
    pub async fn backup_to(&self, file: &Path) -> StoreResult<()> {
        let target = file.to_str().ok_or_else(|| StoreError::Invalid {
            field: "file",
            message: format!("{} is not valid UTF-8: choose a plainer name", file.display()),
        })?;
        sql("VACUUM INTO $1")
            .bind(target)
            .execute(Conn::SqlitePool(&self.reader))
            .await
            .map_err(|err| StoreError::Other(format!("the copy to {} failed: {}", file.display(), err.0)))?;
        Ok(())
    }

    /// Closes both pools (the CLI's stores, which are not behind the `Store` trait).
    pub async fn close_pools(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    pub async fn connect(url: &DatabaseUrl, pool: &PoolConfig) -> Result<Self, ConnectError> {
        let options = SqliteConnectOptions::from_str(url.expose())
            .map_err(|err| {
                ConnectError::Config(format!(
                    "DATABASE_URL `{url}` is not a valid SQLite URL ({err}); use sqlite://PATH, \
                     for example sqlite://data/homewatch.db"
                ))
            })?
            .foreign_keys(true)
            .busy_timeout(pool.sqlite_busy_timeout)
            .synchronous(SqliteSynchronous::Normal);
        let path = options.get_filename().to_owned();
        let in_memory = url.expose().contains(":memory:") || url.expose().contains("mode=memory");
        if in_memory || path.as_os_str().is_empty() {
            return Err(ConnectError::Config(
                "an in-memory SQLite database would lose everything on restart; give a file path, \
                 for example sqlite://data/homewatch.db"
                    .into(),
            ));
        }
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| {
                ConnectError::Config(format!(
                    "cannot create the directory {} for the SQLite database: {err}",
                    parent.display()
                ))
            })?;
        }
        let unreachable = |err: sqlx::Error| {
            ConnectError::Unreachable(format!(
                "cannot open the SQLite database {}: {err}; check that the file and its directory are \
                 readable and writable by this user",
                path.display()
            ))
        };
        // The writer creates the file and switches it to WAL before any reader opens it.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(
                options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal),
            )
            .await
            .map_err(unreachable)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(pool.sqlite_readers.max(1))
            .min_connections(0)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options.read_only(true))
            .await
            .map_err(unreachable)?;
        let identity = FileIdentity::of(&path);
        Ok(Self {
            writer,
            reader,
            path,
            identity,
            changes: Default::default(),
        })
    }

    /// Fails when the database file is no longer the one we opened (deleted, moved, or replaced).
    fn check_file(&self) -> StoreResult<()> {
        match FileIdentity::of(&self.path) {
            None => Err(StoreError::Unavailable(format!(
                "the database file {} is missing",
                self.path.display()
            ))),
            Some(current) if Some(current) != self.identity => Err(StoreError::Unavailable(format!(
                "the database file {} was replaced while the server was running; restart it",
                self.path.display()
            ))),
            Some(_) => Ok(()),
        }
    }
}

#[async_trait]
impl Backend for SqliteStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Sqlite
    }

    fn describe(&self) -> String {
        format!("SQLite file {}", self.path.display())
    }

    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }

    async fn ping(&self) -> StoreResult<()> {
        // An open connection keeps answering after its file is deleted, so look at the file too.
        self.check_file()?;
        sql("SELECT count(*) FROM sqlite_schema")
            .scalar::<i64>(self.reader()?)
            .await?;
        Ok(())
    }

    async fn migrate(&self) -> StoreResult<()> {
        super::migrations::SQLITE
            .run(&self.writer)
            .await
            .map_err(migration_failed)
    }

    fn migrator(&self) -> &'static Migrator {
        &super::migrations::SQLITE
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    fn reader(&self) -> StoreResult<Conn<'_>> {
        Ok(Conn::SqlitePool(&self.reader))
    }

    fn changes(&self) -> &super::Changes {
        &self.changes
    }

    fn pool_use(&self) -> Vec<super::PoolUse> {
        [("reader", &self.reader), ("writer", &self.writer)]
            .into_iter()
            .map(|(name, pool)| super::PoolUse {
                name,
                size: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            })
            .collect()
    }

    /// The writer, once we know writes would land in the file we opened.
    fn writer(&self) -> StoreResult<Conn<'_>> {
        self.check_file()?;
        Ok(Conn::SqlitePool(&self.writer))
    }

    async fn write(&self) -> StoreResult<Tx> {
        self.check_file()?;
        match self.writer.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => Ok(Tx::Sqlite(tx)),
            // A COMMIT that failed (a full disk: SQLite rolled back by itself) leaves the driver believing the
            // writer is still in a transaction, for good. Replace that connection and begin on a fresh one.
            Err(sqlx::Error::InvalidSavePointStatement | sqlx::Error::BeginFailed) => {
                if let Ok(stuck) = self.writer.acquire().await {
                    let _ = stuck.close().await;
                }
                tracing::warn!("replaced the SQLite writer connection after a failed commit");
                let tx = self
                    .writer
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(SqlError)?;
                Ok(Tx::Sqlite(tx))
            }
            Err(err) => Err(SqlError(err).into()),
        }
    }

    async fn snapshot(&self) -> StoreResult<Tx> {
        let tx = self.reader.begin().await.map_err(SqlError)?;
        Ok(Tx::Sqlite(tx))
    }
}
