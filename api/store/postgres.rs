//! The PostgreSQL store (cargo feature `postgres`): a pooled server connection, for owners who already
//! run PostgreSQL or want more than one replica.
//!
//! What differs from SQLite, and only that, is here:
//! - connections: one pool for reads and writes, a first direct connection that reports why it failed,
//!   `REPEATABLE READ, READ ONLY` snapshots;
//! - locks: transactions that check a rule and act on it take an advisory lock (group order, users) or
//!   lock the group's row, so the rule holds across connections and replicas;
//! - reordering from a JSON array of ids with `jsonb_array_elements_text ... WITH ORDINALITY`;
//! - the migrations folder and how to tell which migrations ran (`to_regclass`).

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::{
    Connection, PgConnection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    ConnectError, DatabaseUrl, PoolConfig, StoreKind, StoreResult,
    sql::{Backend, Conn, Dialect, SqlError, Tx, migration_failed, sql},
};

const DIALECT: Dialect = Dialect {
    reorder_groups: "UPDATE groups g SET position = o.ordinal - 1, updated_at = $2 \
                     FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS o(id, ordinal) \
                     WHERE g.id = o.id::bigint AND g.position <> o.ordinal - 1",
    reorder_services: "UPDATE services s SET position = o.ordinal - 1, updated_at = $2 \
                       FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS o(id, ordinal) \
                       WHERE s.id = o.id::bigint AND s.position <> o.ordinal - 1",
    advisory_lock: Some("SELECT pg_advisory_xact_lock($1)"),
    lock_group: Some("SELECT id FROM groups WHERE id = $1 FOR NO KEY UPDATE"),
    applied_migrations: "SELECT CASE WHEN to_regclass('_sqlx_migrations') IS NULL THEN 0 \
                         ELSE (SELECT count(*) FROM _sqlx_migrations WHERE success) END",
    claim_notifications: super::sql::claim_notifications!(" FOR UPDATE SKIP LOCKED"),
};

pub struct PostgresStore {
    pool: PgPool,
    target: String,
    changes: super::Changes,
}

impl PostgresStore {
    pub async fn connect(url: &DatabaseUrl, pool: &PoolConfig) -> Result<Self, ConnectError> {
        let options = PgConnectOptions::from_str(url.expose()).map_err(|err| {
            ConnectError::Config(format!(
                "DATABASE_URL `{url}` is not a valid PostgreSQL URL ({}); expected \
                 postgres://USER:PASSWORD@HOST:5432/DATABASE",
                url.scrub(&err.to_string())
            ))
        })?;
        let target = format!(
            "PostgreSQL at {}:{}, database `{}`, user `{}`",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username()),
            options.get_username()
        );
        // One direct connection first: the pool would only report "timed out", hiding the real reason
        // (connection refused, wrong password, no such database).
        // A first connection may take longer than a pool waits for one (a slow link, a server still starting).
        let probe_within = pool.acquire_timeout.max(std::time::Duration::from_secs(10));
        let probe = tokio::time::timeout(probe_within, PgConnection::connect_with(&options)).await;
        let failure = match probe {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                None
            }
            Ok(Err(err)) => {
                // Wrong credentials or a missing database will not fix themselves by waiting.
                let permanent = matches!(&err, sqlx::Error::Database(db)
                    if db.code().is_some_and(|code| code.starts_with("28") || code == "3D000"));
                Some((url.scrub(&err.to_string()), permanent))
            }
            Err(_) => Some((format!("no answer within {} ms", probe_within.as_millis()), false)),
        };
        if let Some((reason, permanent)) = failure {
            let message = format!(
                "cannot connect to {target}: {reason}. Check that the server is running and reachable, \
                 and that DATABASE_URL names the right host, port, database, user and password"
            );
            return Err(if permanent {
                ConnectError::Config(message)
            } else {
                ConnectError::Unreachable(message)
            });
        }
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections.max(1))
            .min_connections(pool.min_connections.min(pool.max_connections))
            .max_lifetime(pool.max_lifetime)
            .acquire_timeout(pool.acquire_timeout)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            target,
            changes: Default::default(),
        })
    }
}

#[async_trait]
impl Backend for PostgresStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Postgres
    }

    fn postgres_pool(&self) -> Option<PgPool> {
        Some(self.pool.clone())
    }

    fn describe(&self) -> String {
        self.target.clone()
    }

    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }

    async fn ping(&self) -> StoreResult<()> {
        sql("SELECT 1").scalar::<i32>(self.reader()?).await?;
        Ok(())
    }

    async fn migrate(&self) -> StoreResult<()> {
        super::migrations::POSTGRES
            .run(&self.pool)
            .await
            .map_err(migration_failed)
    }

    fn migrator(&self) -> &'static Migrator {
        &super::migrations::POSTGRES
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn reader(&self) -> StoreResult<Conn<'_>> {
        Ok(Conn::PostgresPool(&self.pool))
    }

    fn writer(&self) -> StoreResult<Conn<'_>> {
        Ok(Conn::PostgresPool(&self.pool))
    }

    fn changes(&self) -> &super::Changes {
        &self.changes
    }

    fn pool_use(&self) -> Vec<super::PoolUse> {
        vec![super::PoolUse {
            name: "main",
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }]
    }

    async fn write(&self) -> StoreResult<Tx> {
        Ok(Tx::Postgres(self.pool.begin().await.map_err(SqlError)?))
    }

    async fn snapshot(&self) -> StoreResult<Tx> {
        let mut tx = Tx::Postgres(self.pool.begin().await.map_err(SqlError)?);
        sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut tx)
            .await?;
        Ok(tx)
    }
}
