//! The SQLite store: one file in WAL mode, exactly one writer connection (writes are serialized, never
//! concurrent) and a small pool of read-only connections beside it.

use std::{path::PathBuf, str::FromStr};

use async_trait::async_trait;
use sqlx::{
    Sqlite, SqlitePool, Transaction,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    ConnectError, DatabaseUrl, IncidentRow, MigrationStatus, PoolConfig, RecentRollupRow, ResultRow,
    RollupRow, ServiceRow, SessionRow, Store, StoreError, StoreKind, StoreResult, TokenRow, UserRow,
    assemble_dashboard, batch_rollups, dashboard_first_hour, group_name_clash, group_not_empty,
    into_services, last_admin, like_pattern, no_such_group, now, page, service_name_clash, setup_done,
    username_clash,
};
use chrono::{DateTime, Utc};

use crate::model::{
    ApiToken, CheckResult, Dashboard, Group, GroupPatch, HistoryBatch, Incident, IncidentChange,
    IncidentFilter, NewGroup, NewService, Role, Scope, Service, ServiceFilter, ServicePage, ServicePatch,
    ServiceState, Session, StoredUser, User, check_order_covers,
};
use crate::monitor::rollup::Rollup;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The columns of a tile, with its tags aggregated in order as a JSON array.
macro_rules! service_columns {
    () => {
        "s.id, s.group_id, s.name, s.url, s.description, s.icon, s.position, s.created_at, s.updated_at, \
         s.check_spec, st.state, st.since, st.last_checked_at, st.last_latency_ms, st.last_error, \
         (SELECT json_group_array(t.tag ORDER BY t.ordinal) FROM service_tags t WHERE t.service_id = s.id) \
         AS tags"
    };
}

/// A token with its owner's name and role.
macro_rules! token_select {
    () => {
        "SELECT t.id, t.user_id, t.name, t.scope, t.created_at, t.last_used_at, t.expires_at, u.username, u.role, \
         u.created_at AS u_created_at, u.updated_at AS u_updated_at \
         FROM api_tokens t JOIN users u ON u.id = t.user_id"
    };
}

const GROUPS_ORDERED: &str =
    "SELECT id, name, position, created_at, updated_at FROM groups ORDER BY position, id";

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    path: PathBuf,
    /// Which file was opened: writes into a file that was deleted or replaced underneath us would be lost.
    identity: Option<FileIdentity>,
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

/// SQLite reports a missing, moved, unwritable, full or locked file through its result codes; those mean
/// "unavailable", not a bug.
fn sqlite_error(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        let primary = db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .map(|code| code & 0xff);
        // BUSY 5, LOCKED 6, READONLY 8, IOERR 10, CORRUPT 11, FULL 13, CANTOPEN 14, NOTADB 26
        if matches!(primary, Some(5 | 6 | 8 | 10 | 11 | 13 | 14 | 26)) {
            return StoreError::Unavailable(format!("SQLite: {}", db.message()));
        }
    }
    super::classify(err)
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl SqliteStore {
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

    /// The writer connection, once we know writes would land in the file we opened.
    fn writer(&self) -> StoreResult<&SqlitePool> {
        self.check_file()?;
        Ok(&self.writer)
    }

    /// A write transaction that takes the write lock at once, so it never has to upgrade later.
    async fn write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.writer()?
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sqlite_error)
    }

    async fn group_exists(tx: &mut Transaction<'static, Sqlite>, id: i64) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM groups WHERE id = ?1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(sqlite_error)?;
        Ok(found.is_some())
    }

    async fn service_in(tx: &mut Transaction<'static, Sqlite>, id: i64) -> StoreResult<Service> {
        let row: Option<ServiceRow> = sqlx::query_as(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services s LEFT JOIN service_status st ON st.service_id = s.id WHERE s.id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(sqlite_error)?;
        row.ok_or(StoreError::not_found("service", id))?.try_into()
    }

    async fn replace_tags(
        tx: &mut Transaction<'static, Sqlite>,
        id: i64,
        tags: &[String],
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM service_tags WHERE service_id = ?1")
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(sqlite_error)?;
        let tags_json = serde_json::to_string(tags).map_err(|err| StoreError::Other(err.to_string()))?;
        sqlx::query(
            "INSERT INTO service_tags (service_id, ordinal, tag) SELECT ?1, j.key, j.value FROM json_each(?2) AS j",
        )
        .bind(id)
        .bind(tags_json)
        .execute(&mut **tx)
        .await
        .map_err(sqlite_error)?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Sqlite
    }

    fn describe(&self) -> String {
        format!("SQLite file {}", self.path.display())
    }

    async fn ping(&self) -> StoreResult<()> {
        // An open connection keeps answering after its file is deleted, so look at the file too.
        self.check_file()?;
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sqlite_schema")
            .fetch_one(&self.reader)
            .await
            .map(drop)
            .map_err(sqlite_error)
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(|err| StoreError::Other(format!("migration failed: {err}")))
    }

    async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        let applied: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlite_schema WHERE name = '_sqlx_migrations') \
             THEN (SELECT count(*) FROM _sqlx_migrations WHERE success) ELSE 0 END",
        )
        .fetch_one(&self.reader)
        .await
        .map_err(sqlite_error)?;
        Ok(MigrationStatus {
            applied: applied as usize,
            expected: MIGRATOR.iter().count(),
        })
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn list_groups(&self) -> StoreResult<Vec<Group>> {
        sqlx::query_as(GROUPS_ORDERED)
            .fetch_all(&self.reader)
            .await
            .map_err(sqlite_error)
    }

    async fn get_group(&self, id: i64) -> StoreResult<Group> {
        let group: Option<Group> =
            sqlx::query_as("SELECT id, name, position, created_at, updated_at FROM groups WHERE id = ?1")
                .bind(id)
                .fetch_optional(&self.reader)
                .await
                .map_err(sqlite_error)?;
        group.ok_or(StoreError::not_found("group", id))
    }

    async fn create_group(&self, group: &NewGroup) -> StoreResult<Group> {
        let at = now();
        sqlx::query_as(
            "INSERT INTO groups (name, position, created_at, updated_at) \
             VALUES (?1, (SELECT COALESCE(MAX(position) + 1, 0) FROM groups), ?2, ?2) \
             RETURNING id, name, position, created_at, updated_at",
        )
        .bind(&group.name)
        .bind(at)
        .fetch_one(self.writer()?)
        .await
        .map_err(|err| match is_unique_violation(&err) {
            true => group_name_clash(&group.name),
            false => sqlite_error(err),
        })
    }

    async fn update_group(&self, id: i64, patch: &GroupPatch) -> StoreResult<Group> {
        let group: Option<Group> = sqlx::query_as(
            "UPDATE groups SET name = COALESCE(?2, name), updated_at = ?3 WHERE id = ?1 \
             RETURNING id, name, position, created_at, updated_at",
        )
        .bind(id)
        .bind(&patch.name)
        .bind(now())
        .fetch_optional(self.writer()?)
        .await
        .map_err(|err| match (is_unique_violation(&err), &patch.name) {
            (true, Some(name)) => group_name_clash(name),
            _ => sqlite_error(err),
        })?;
        group.ok_or(StoreError::not_found("group", id))
    }

    async fn delete_group(&self, id: i64, cascade: bool) -> StoreResult<()> {
        let mut tx = self.write().await?;
        if !Self::group_exists(&mut tx, id).await? {
            return Err(StoreError::not_found("group", id));
        }
        let tiles: i64 = sqlx::query_scalar("SELECT count(*) FROM services WHERE group_id = ?1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        if tiles > 0 && !cascade {
            return Err(group_not_empty(id, tiles));
        }
        sqlx::query("DELETE FROM services WHERE group_id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        sqlx::query("DELETE FROM groups WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        tx.commit().await.map_err(sqlite_error)
    }

    async fn reorder_groups(&self, ids: &[i64]) -> StoreResult<Vec<Group>> {
        let mut tx = self.write().await?;
        let existing: Vec<i64> = sqlx::query_scalar("SELECT id FROM groups")
            .fetch_all(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        check_order_covers(ids, &existing).map_err(|message| StoreError::Invalid {
            field: "ids",
            message,
        })?;
        sqlx::query(
            "UPDATE groups SET position = j.key, updated_at = ?2 FROM json_each(?1) AS j \
             WHERE groups.id = j.value AND groups.position <> j.key",
        )
        .bind(serde_json::Value::from(ids).to_string())
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(sqlite_error)?;
        let groups = sqlx::query_as(GROUPS_ORDERED)
            .fetch_all(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        tx.commit().await.map_err(sqlite_error)?;
        Ok(groups)
    }

    async fn list_services(&self, filter: &ServiceFilter) -> StoreResult<ServicePage> {
        let limit = filter.limit.max(1);
        let rows: Vec<ServiceRow> = sqlx::query_as(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services s LEFT JOIN service_status st ON st.service_id = s.id \
             WHERE (?1 IS NULL OR s.group_id = ?1) \
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM service_tags t WHERE t.service_id = s.id AND t.tag = ?2)) \
               AND (?3 IS NULL OR s.name LIKE ?3 ESCAPE '\\' OR s.description LIKE ?3 ESCAPE '\\' \
                    OR s.url LIKE ?3 ESCAPE '\\') \
               AND (?4 IS NULL OR s.id > ?4) \
             ORDER BY s.id LIMIT ?5"
        ))
        .bind(filter.group_id)
        .bind(&filter.tag)
        .bind(filter.text.as_deref().map(like_pattern))
        .bind(filter.after_id)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.reader)
        .await
        .map_err(sqlite_error)?;
        Ok(page(into_services(rows)?, limit))
    }

    async fn get_service(&self, id: i64) -> StoreResult<Service> {
        let row: Option<ServiceRow> = sqlx::query_as(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services s LEFT JOIN service_status st ON st.service_id = s.id WHERE s.id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(sqlite_error)?;
        row.ok_or(StoreError::not_found("service", id))?.try_into()
    }

    async fn create_service(&self, service: &NewService) -> StoreResult<Service> {
        let mut tx = self.write().await?;
        if !Self::group_exists(&mut tx, service.group_id).await? {
            return Err(no_such_group(service.group_id));
        }
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO services (group_id, name, url, description, icon, check_spec, position, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?7, \
                     (SELECT COALESCE(MAX(position) + 1, 0) FROM services WHERE group_id = ?1), ?6, ?6) \
             RETURNING id",
        )
        .bind(service.group_id)
        .bind(&service.name)
        .bind(&service.url)
        .bind(service.description.as_deref().unwrap_or_default())
        .bind(&service.icon)
        .bind(at)
        .bind(service.check.as_ref().map(crate::model::check_spec))
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| match is_unique_violation(&err) {
            true => service_name_clash(service.group_id, &service.name),
            false => sqlite_error(err),
        })?;
        Self::replace_tags(&mut tx, id, service.tags.as_deref().unwrap_or_default()).await?;
        let created = Self::service_in(&mut tx, id).await?;
        tx.commit().await.map_err(sqlite_error)?;
        Ok(created)
    }

    async fn update_service(&self, id: i64, patch: &ServicePatch) -> StoreResult<Service> {
        let mut tx = self.write().await?;
        let current = Self::service_in(&mut tx, id).await?;
        let next = patch.merged_with(&current);
        let moves = next.group_id != current.group_id;
        if moves && !Self::group_exists(&mut tx, next.group_id).await? {
            return Err(no_such_group(next.group_id));
        }
        sqlx::query(
            "UPDATE services SET group_id = ?2, name = ?3, url = ?4, description = ?5, icon = ?6, updated_at = ?7, \
                 check_spec = ?9, \
                 position = CASE WHEN ?8 \
                     THEN (SELECT COALESCE(MAX(position) + 1, 0) FROM services WHERE group_id = ?2) \
                     ELSE position END \
             WHERE id = ?1",
        )
        .bind(id)
        .bind(next.group_id)
        .bind(&next.name)
        .bind(&next.url)
        .bind(&next.description)
        .bind(&next.icon)
        .bind(now())
        .bind(moves)
        .bind(next.check_spec())
        .execute(&mut *tx)
        .await
        .map_err(|err| match is_unique_violation(&err) {
            true => service_name_clash(next.group_id, &next.name),
            false => sqlite_error(err),
        })?;
        if let Some(tags) = &patch.tags {
            Self::replace_tags(&mut tx, id, tags).await?;
        }
        let updated = Self::service_in(&mut tx, id).await?;
        tx.commit().await.map_err(sqlite_error)?;
        Ok(updated)
    }

    async fn delete_service(&self, id: i64) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM services WHERE id = ?1")
            .bind(id)
            .execute(self.writer()?)
            .await
            .map_err(sqlite_error)?;
        match deleted.rows_affected() {
            0 => Err(StoreError::not_found("service", id)),
            _ => Ok(()),
        }
    }

    async fn reorder_services(&self, group_id: i64, ids: &[i64]) -> StoreResult<Vec<Service>> {
        let mut tx = self.write().await?;
        if !Self::group_exists(&mut tx, group_id).await? {
            return Err(StoreError::not_found("group", group_id));
        }
        let existing: Vec<i64> = sqlx::query_scalar("SELECT id FROM services WHERE group_id = ?1")
            .bind(group_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        check_order_covers(ids, &existing).map_err(|message| StoreError::Invalid {
            field: "ids",
            message,
        })?;
        sqlx::query(
            "UPDATE services SET position = j.key, updated_at = ?2 FROM json_each(?1) AS j \
             WHERE services.id = j.value AND services.position <> j.key",
        )
        .bind(serde_json::Value::from(ids).to_string())
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(sqlite_error)?;
        let rows: Vec<ServiceRow> = sqlx::query_as(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services s LEFT JOIN service_status st ON st.service_id = s.id WHERE s.group_id = ?1 ORDER BY s.position, s.id"
        ))
        .bind(group_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(sqlite_error)?;
        tx.commit().await.map_err(sqlite_error)?;
        into_services(rows)
    }

    async fn dashboard(&self) -> StoreResult<Dashboard> {
        // One read transaction: the three queries see the same snapshot, whatever the number of tiles.
        let mut tx = self.reader.begin().await.map_err(sqlite_error)?;
        let groups: Vec<Group> = sqlx::query_as(GROUPS_ORDERED)
            .fetch_all(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        let rows: Vec<ServiceRow> = sqlx::query_as(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services s LEFT JOIN service_status st ON st.service_id = s.id ORDER BY s.group_id, s.position, s.id"
        ))
        .fetch_all(&mut *tx)
        .await
        .map_err(sqlite_error)?;
        let first_hour = dashboard_first_hour();
        let recent: Vec<RecentRollupRow> = sqlx::query_as(
            "SELECT service_id, hour, checks, ok_checks, latency_sum FROM check_rollups WHERE hour >= ?1",
        )
        .bind(first_hour)
        .fetch_all(&mut *tx)
        .await
        .map_err(sqlite_error)?;
        tx.commit().await.map_err(sqlite_error)?;
        Ok(assemble_dashboard(
            groups,
            into_services(rows)?,
            recent,
            first_hour,
        ))
    }

    async fn record_history(&self, batch: &HistoryBatch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for result in &batch.results {
            sqlx::query(
                "INSERT INTO check_results (service_id, checked_at, ok, latency_ms, status_code, error) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM services WHERE id = ?1) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(result.service_id)
            .bind(result.checked_at.timestamp_millis())
            .bind(result.ok)
            .bind(i64::from(result.latency_ms))
            .bind(result.status_code.map(i64::from))
            .bind(&result.error)
            .execute(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        }
        for (service_id, hour, rollup) in batch_rollups(&batch.results) {
            let mut query = sqlx::query("INSERT INTO check_rollups (service_id, hour, checks, ok_checks, latency_sum, latency_min, \
         latency_max, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15) SELECT ?1, ?2, \
         ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23 \
         WHERE EXISTS (SELECT 1 FROM services WHERE id = ?1) ON CONFLICT (service_id, hour) DO UPDATE SET \
         checks = check_rollups.checks + excluded.checks, ok_checks = check_rollups.ok_checks + \
         excluded.ok_checks, latency_sum = check_rollups.latency_sum + excluded.latency_sum, latency_min = \
         CASE WHEN check_rollups.ok_checks = 0 THEN excluded.latency_min WHEN excluded.ok_checks = 0 THEN \
         check_rollups.latency_min ELSE MIN(check_rollups.latency_min, excluded.latency_min) END, latency_max \
         = MAX(check_rollups.latency_max, excluded.latency_max), b0 = check_rollups.b0 + excluded.b0, b1 = \
         check_rollups.b1 + excluded.b1, b2 = check_rollups.b2 + excluded.b2, b3 = check_rollups.b3 + \
         excluded.b3, b4 = check_rollups.b4 + excluded.b4, b5 = check_rollups.b5 + excluded.b5, b6 = \
         check_rollups.b6 + excluded.b6, b7 = check_rollups.b7 + excluded.b7, b8 = check_rollups.b8 + \
         excluded.b8, b9 = check_rollups.b9 + excluded.b9, b10 = check_rollups.b10 + excluded.b10, b11 = \
         check_rollups.b11 + excluded.b11, b12 = check_rollups.b12 + excluded.b12, b13 = check_rollups.b13 + \
         excluded.b13, b14 = check_rollups.b14 + excluded.b14, b15 = check_rollups.b15 + excluded.b15")
            .bind(service_id)
            .bind(hour)
            .bind(rollup.checks)
            .bind(rollup.ok_checks)
            .bind(rollup.latency_sum)
            .bind(rollup.latency_min)
            .bind(rollup.latency_max);
            for count in rollup.buckets {
                query = query.bind(count);
            }
            query.execute(&mut *tx).await.map_err(sqlite_error)?;
        }
        // A batch can land after its tile was paused (checks in flight, the last flush): a paused tile
        // keeps its paused state and gets no new incident.
        for status in &batch.statuses {
            sqlx::query(
                "INSERT INTO service_status (service_id, state, since, last_checked_at, last_latency_ms, last_error, failures) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM services WHERE id = ?1 AND paused = 0) \
                 ON CONFLICT (service_id) DO UPDATE SET state = excluded.state, since = excluded.since, \
                 last_checked_at = excluded.last_checked_at, last_latency_ms = excluded.last_latency_ms, \
                 last_error = excluded.last_error, failures = excluded.failures \
                 WHERE NOT EXISTS (SELECT 1 FROM services WHERE id = excluded.service_id AND paused <> 0)",
            )
            .bind(status.service_id)
            .bind(status.state.as_str())
            .bind(status.since)
            .bind(status.last_checked_at)
            .bind(status.last_latency_ms.map(|ms| i32::try_from(ms).unwrap_or(i32::MAX)))
            .bind(&status.last_error)
            .bind(i32::try_from(status.failures).unwrap_or(i32::MAX))
            .execute(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        }
        for change in &batch.incidents {
            match change {
                IncidentChange::Open {
                    service_id,
                    started_at,
                    cause,
                } => sqlx::query(
                    "INSERT INTO incidents (service_id, started_at, cause) SELECT ?1, ?2, ?3 \
                     WHERE EXISTS (SELECT 1 FROM services WHERE id = ?1 AND paused = 0) \
                     AND NOT EXISTS (SELECT 1 FROM incidents WHERE service_id = ?1 AND ended_at IS NULL)",
                )
                .bind(service_id)
                .bind(started_at)
                .bind(cause),
                IncidentChange::Close { service_id, ended_at } => sqlx::query(
                    "UPDATE incidents SET ended_at = ?2 WHERE service_id = ?1 AND ended_at IS NULL",
                )
                .bind(service_id)
                .bind(ended_at),
            }
            .execute(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        }
        tx.commit().await.map_err(sqlite_error)
    }

    async fn results(
        &self,
        service_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<CheckResult>> {
        let rows: Vec<ResultRow> = sqlx::query_as(
            "SELECT service_id, checked_at, ok, latency_ms, status_code, error FROM check_results \
             WHERE service_id = ?1 AND checked_at >= ?2 AND checked_at < ?3 ORDER BY checked_at DESC LIMIT ?4",
        )
        .bind(service_id)
        .bind(since.timestamp_millis())
        .bind(until.timestamp_millis())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(sqlite_error)?;
        Ok(rows.into_iter().map(CheckResult::from).collect())
    }

    async fn rollups(
        &self,
        service_id: i64,
        from_hour: i64,
        to_hour: i64,
    ) -> StoreResult<Vec<(i64, Rollup)>> {
        let rows: Vec<RollupRow> = sqlx::query_as(
            "SELECT hour, checks, ok_checks, latency_sum, latency_min, latency_max, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15 \
             FROM check_rollups WHERE service_id = ?1 AND hour >= ?2 AND hour <= ?3 ORDER BY hour",
        )
        .bind(service_id)
        .bind(from_hour)
        .bind(to_hour)
        .fetch_all(&self.reader)
        .await
        .map_err(sqlite_error)?;
        Ok(rows.into_iter().map(<(i64, Rollup)>::from).collect())
    }

    async fn incidents(&self, filter: &IncidentFilter) -> StoreResult<Vec<Incident>> {
        let rows: Vec<IncidentRow> = sqlx::query_as(
            "SELECT id, service_id, started_at, ended_at, cause FROM incidents \
             WHERE (?1 IS NULL OR service_id = ?1) AND (?2 IS NULL OR (ended_at IS NULL) = ?2) \
             ORDER BY started_at DESC, id DESC LIMIT ?3",
        )
        .bind(filter.service_id)
        .bind(filter.open)
        .bind(i64::from(filter.limit.max(1)))
        .fetch_all(&self.reader)
        .await
        .map_err(sqlite_error)?;
        Ok(rows.into_iter().map(Incident::from).collect())
    }

    async fn set_paused(&self, id: i64, paused: bool) -> StoreResult<Service> {
        let mut tx = self.write().await?;
        let at = now();
        let updated = sqlx::query("UPDATE services SET paused = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(id)
            .bind(paused)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::not_found("service", id));
        }
        let state = if paused {
            ServiceState::Paused
        } else {
            ServiceState::Unknown
        };
        sqlx::query(
            "INSERT INTO service_status (service_id, state, since, failures) VALUES (?1, ?2, ?3, 0) \
             ON CONFLICT (service_id) DO UPDATE SET state = excluded.state, since = excluded.since, failures = 0",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(sqlite_error)?;
        if paused {
            sqlx::query("UPDATE incidents SET ended_at = ?2 WHERE service_id = ?1 AND ended_at IS NULL")
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(sqlite_error)?;
        }
        let service = Self::service_in(&mut tx, id).await?;
        tx.commit().await.map_err(sqlite_error)?;
        Ok(service)
    }

    async fn prune_history(
        &self,
        raw_before_ms: i64,
        rollups_before_hour: i64,
        limit: u32,
    ) -> StoreResult<u64> {
        let mut tx = self.write().await?;
        let raw = sqlx::query(
            "DELETE FROM check_results WHERE (service_id, checked_at) IN \
             (SELECT service_id, checked_at FROM check_results WHERE checked_at < ?1 LIMIT ?2)",
        )
        .bind(raw_before_ms)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(sqlite_error)?;
        let rollups = sqlx::query(
            "DELETE FROM check_rollups WHERE (service_id, hour) IN \
             (SELECT service_id, hour FROM check_rollups WHERE hour < ?1 LIMIT ?2)",
        )
        .bind(rollups_before_hour)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(sqlite_error)?;
        tx.commit().await.map_err(sqlite_error)?;
        Ok(raw.rows_affected() + rollups.rows_affected())
    }

    async fn count_users(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.reader)
            .await
            .map_err(sqlite_error)
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        only_if_none: bool,
    ) -> StoreResult<User> {
        let mut tx = self.write().await?;
        if only_if_none {
            let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(&mut *tx)
                .await
                .map_err(sqlite_error)?;
            if users > 0 {
                return Err(setup_done());
            }
        }
        let at = now();
        let row: UserRow = sqlx::query_as(
            "INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) \
             RETURNING id, username, password_hash, role, created_at, updated_at",
        )
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| match is_unique_violation(&err) {
            true => username_clash(username),
            false => sqlite_error(err),
        })?;
        tx.commit().await.map_err(sqlite_error)?;
        Ok(StoredUser::try_from(row)?.user)
    }

    async fn get_user(&self, id: i64) -> StoreResult<StoredUser> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, password_hash, role, created_at, updated_at FROM users WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(sqlite_error)?;
        row.ok_or_else(|| StoreError::not_found("user", id))?.try_into()
    }

    async fn find_user(&self, username: &str) -> StoreResult<Option<StoredUser>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, password_hash, role, created_at, updated_at FROM users \
             WHERE username = ?1 COLLATE NOCASE",
        )
        .bind(username)
        .fetch_optional(&self.reader)
        .await
        .map_err(sqlite_error)?;
        row.map(StoredUser::try_from).transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(
            "SELECT id, username, password_hash, role, created_at, updated_at FROM users ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(sqlite_error)?;
        rows.into_iter()
            .map(|row| StoredUser::try_from(row).map(|stored| stored.user))
            .collect()
    }

    async fn update_user(
        &self,
        id: i64,
        role: Option<Role>,
        password_hash: Option<&str>,
        keep_session: Option<i64>,
    ) -> StoreResult<User> {
        let mut tx = self.write().await?;
        let current: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = ?1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        let current = current.ok_or_else(|| StoreError::not_found("user", id))?;
        if current == Role::Admin.as_str() && role == Some(Role::Viewer) {
            let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
                .fetch_one(&mut *tx)
                .await
                .map_err(sqlite_error)?;
            if admins <= 1 {
                return Err(last_admin());
            }
        }
        let row: UserRow = sqlx::query_as(
            "UPDATE users SET role = COALESCE(?2, role), password_hash = COALESCE(?3, password_hash), \
             updated_at = ?4 WHERE id = ?1 \
             RETURNING id, username, password_hash, role, created_at, updated_at",
        )
        .bind(id)
        .bind(role.map(Role::as_str))
        .bind(password_hash)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(sqlite_error)?;
        if password_hash.is_some() {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?1 AND id IS NOT ?2")
                .bind(id)
                .bind(keep_session)
                .execute(&mut *tx)
                .await
                .map_err(sqlite_error)?;
        }
        tx.commit().await.map_err(sqlite_error)?;
        Ok(StoredUser::try_from(row)?.user)
    }

    async fn delete_user(&self, id: i64) -> StoreResult<()> {
        let mut tx = self.write().await?;
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = ?1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        let role = role.ok_or_else(|| StoreError::not_found("user", id))?;
        if role == Role::Admin.as_str() {
            let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
                .fetch_one(&mut *tx)
                .await
                .map_err(sqlite_error)?;
            if admins <= 1 {
                return Err(last_admin());
            }
        }
        sqlx::query("DELETE FROM users WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        tx.commit().await.map_err(sqlite_error)
    }

    async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Session> {
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (user_id, token_hash, created_at, last_seen_at, expires_at) \
             VALUES (?1, ?2, ?3, ?3, ?4) RETURNING id",
        )
        .bind(user_id)
        .bind(token_hash)
        .bind(at)
        .bind(expires_at)
        .fetch_one(self.writer()?)
        .await
        .map_err(sqlite_error)?;
        Ok(Session {
            id,
            user_id,
            created_at: at,
            last_seen_at: at,
            expires_at,
        })
    }

    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<(Session, User)>> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, u.username, u.role, \
             u.created_at AS u_created_at, u.updated_at AS u_updated_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1",
        )
        .bind(token_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(sqlite_error)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn extend_session(
        &self,
        id: i64,
        seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE id = ?1")
            .bind(id)
            .bind(seen_at)
            .bind(expires_at)
            .execute(self.writer()?)
            .await
            .map_err(sqlite_error)?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?1")
            .bind(token_hash)
            .execute(self.writer()?)
            .await
            .map_err(sqlite_error)?;
        Ok(())
    }

    async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        scope: Scope,
        token_hash: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<ApiToken> {
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, name, scope, token_hash, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(scope.as_str())
        .bind(token_hash)
        .bind(now())
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(sqlite_error)?;
        let row: TokenRow = sqlx::query_as(concat!(token_select!(), " WHERE t.id = ?1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        tx.commit().await.map_err(sqlite_error)?;
        let (token, _) = row.try_into()?;
        Ok(token)
    }

    async fn find_token(&self, token_hash: &str) -> StoreResult<Option<(ApiToken, User)>> {
        let row: Option<TokenRow> = sqlx::query_as(concat!(token_select!(), " WHERE t.token_hash = ?1"))
            .bind(token_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(sqlite_error)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn touch_token(&self, id: i64, used_at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1")
            .bind(id)
            .bind(used_at)
            .execute(self.writer()?)
            .await
            .map_err(sqlite_error)?;
        Ok(())
    }

    async fn list_tokens(&self, user_id: Option<i64>) -> StoreResult<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = sqlx::query_as(concat!(
            token_select!(),
            " WHERE ?1 IS NULL OR t.user_id = ?1 ORDER BY t.id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.reader)
        .await
        .map_err(sqlite_error)?;
        rows.into_iter()
            .map(|row| <(ApiToken, User)>::try_from(row).map(|(token, _)| token))
            .collect()
    }

    async fn delete_token(&self, id: i64, user_id: Option<i64>) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM api_tokens WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)")
            .bind(id)
            .bind(user_id)
            .execute(self.writer()?)
            .await
            .map_err(sqlite_error)?;
        match deleted.rows_affected() {
            0 => Err(StoreError::not_found("token", id)),
            _ => Ok(()),
        }
    }

    async fn prune_expired_access(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.write().await?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < ?1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        let tokens = sqlx::query("DELETE FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at < ?1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(sqlite_error)?;
        tx.commit().await.map_err(sqlite_error)?;
        Ok(sessions.rows_affected() + tokens.rows_affected())
    }
}
