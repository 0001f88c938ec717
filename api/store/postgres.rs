//! The PostgreSQL store (cargo feature `postgres`): a pooled server connection, for owners who already
//! run PostgreSQL or want more than one replica.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::{
    Connection, PgConnection, PgPool, Postgres, Transaction,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    ConnectError, DatabaseUrl, IncidentRow, MigrationStatus, PoolConfig, RecentRollupRow, ResultRow,
    RollupRow, ServiceRow, SessionRow, Store, StoreError, StoreKind, StoreResult, TokenRow, UserRow,
    assemble_dashboard, batch_rollups, classify, dashboard_first_hour, group_name_clash, group_not_empty,
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

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Serializes changes to the order of groups across every connection and replica.
const GROUP_ORDER_LOCK: i64 = 0x686f_6d65_7761_7463;
/// Advisory lock key for user changes that must see every admin ("homewusr").
const USERS_LOCK: i64 = 0x686f_6d65_7775_7372;

/// A token with its owner's name and role.
macro_rules! token_select {
    () => {
        "SELECT t.id, t.user_id, t.name, t.scope, t.created_at, t.last_used_at, t.expires_at, u.username, u.role, \
         u.created_at AS u_created_at, u.updated_at AS u_updated_at \
         FROM api_tokens t JOIN users u ON u.id = t.user_id"
    };
}

macro_rules! service_columns {
    () => {
        "s.id, s.group_id, s.name, s.url, s.description, s.icon, s.position, s.created_at, s.updated_at, \
         s.check_spec, st.state, st.since, st.last_checked_at, st.last_latency_ms, st.last_error, \
         COALESCE((SELECT json_agg(t.tag ORDER BY t.ordinal) FROM service_tags t WHERE t.service_id = s.id)::text, \
                  '[]') AS tags"
    };
}

const GROUPS_ORDERED: &str =
    "SELECT id, name, position, created_at, updated_at FROM groups ORDER BY position, id";

/// Server-side states that mean "not usable now" rather than a bug: connection exceptions (08),
/// insufficient resources (53), operator intervention such as shutdown (57), system errors (58).
fn pg_error(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        let class = db.code().map(|code| code.chars().take(2).collect::<String>());
        if matches!(class.as_deref(), Some("08" | "53" | "57" | "58")) {
            return StoreError::Unavailable(format!("PostgreSQL: {}", db.message()));
        }
    }
    classify(err)
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub struct PostgresStore {
    pool: PgPool,
    target: String,
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
        let probe = tokio::time::timeout(pool.acquire_timeout, PgConnection::connect_with(&options)).await;
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
            Err(_) => Some((
                format!("no answer within {} ms", pool.acquire_timeout.as_millis()),
                false,
            )),
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
        Ok(Self { pool, target })
    }

    async fn lock_group(tx: &mut Transaction<'static, Postgres>, id: i64) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM groups WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(pg_error)?;
        Ok(found.is_some())
    }

    async fn service_in(tx: &mut Transaction<'static, Postgres>, id: i64) -> StoreResult<Service> {
        let row: Option<ServiceRow> = sqlx::query_as(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services s LEFT JOIN service_status st ON st.service_id = s.id WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(pg_error)?;
        row.ok_or(StoreError::not_found("service", id))?.try_into()
    }

    async fn replace_tags(
        tx: &mut Transaction<'static, Postgres>,
        id: i64,
        tags: &[String],
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM service_tags WHERE service_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(pg_error)?;
        sqlx::query(
            "INSERT INTO service_tags (service_id, ordinal, tag) \
             SELECT $1, o.ordinal - 1, o.tag FROM unnest($2::text[]) WITH ORDINALITY AS o(tag, ordinal)",
        )
        .bind(id)
        .bind(tags)
        .execute(&mut **tx)
        .await
        .map_err(pg_error)?;
        Ok(())
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(pg_error)
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Postgres
    }

    fn describe(&self) -> String {
        self.target.clone()
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map(drop)
            .map_err(pg_error)
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|err| StoreError::Other(format!("migration failed: {err}")))
    }

    async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        let applied: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN to_regclass('_sqlx_migrations') IS NULL THEN 0 \
             ELSE (SELECT count(*) FROM _sqlx_migrations WHERE success) END",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(pg_error)?;
        Ok(MigrationStatus {
            applied: applied as usize,
            expected: MIGRATOR.iter().count(),
        })
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn list_groups(&self) -> StoreResult<Vec<Group>> {
        sqlx::query_as(GROUPS_ORDERED)
            .fetch_all(&self.pool)
            .await
            .map_err(pg_error)
    }

    async fn get_group(&self, id: i64) -> StoreResult<Group> {
        let group: Option<Group> =
            sqlx::query_as("SELECT id, name, position, created_at, updated_at FROM groups WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(pg_error)?;
        group.ok_or(StoreError::not_found("group", id))
    }

    async fn create_group(&self, group: &NewGroup) -> StoreResult<Group> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(GROUP_ORDER_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        let created: Group = sqlx::query_as(
            "INSERT INTO groups (name, position, created_at, updated_at) \
             VALUES ($1, (SELECT COALESCE(MAX(position) + 1, 0) FROM groups), $2, $2) \
             RETURNING id, name, position, created_at, updated_at",
        )
        .bind(&group.name)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| match is_unique_violation(&err) {
            true => group_name_clash(&group.name),
            false => pg_error(err),
        })?;
        tx.commit().await.map_err(pg_error)?;
        Ok(created)
    }

    async fn update_group(&self, id: i64, patch: &GroupPatch) -> StoreResult<Group> {
        let group: Option<Group> = sqlx::query_as(
            "UPDATE groups SET name = COALESCE($2, name), updated_at = $3 WHERE id = $1 \
             RETURNING id, name, position, created_at, updated_at",
        )
        .bind(id)
        .bind(&patch.name)
        .bind(now())
        .fetch_optional(&self.pool)
        .await
        .map_err(|err| match (is_unique_violation(&err), &patch.name) {
            (true, Some(name)) => group_name_clash(name),
            _ => pg_error(err),
        })?;
        group.ok_or(StoreError::not_found("group", id))
    }

    async fn delete_group(&self, id: i64, cascade: bool) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        if !Self::lock_group(&mut tx, id).await? {
            return Err(StoreError::not_found("group", id));
        }
        let tiles: i64 = sqlx::query_scalar("SELECT count(*) FROM services WHERE group_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(pg_error)?;
        if tiles > 0 && !cascade {
            return Err(group_not_empty(id, tiles));
        }
        sqlx::query("DELETE FROM services WHERE group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)
    }

    async fn reorder_groups(&self, ids: &[i64]) -> StoreResult<Vec<Group>> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(GROUP_ORDER_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        let existing: Vec<i64> = sqlx::query_scalar("SELECT id FROM groups")
            .fetch_all(&mut *tx)
            .await
            .map_err(pg_error)?;
        check_order_covers(ids, &existing).map_err(|message| StoreError::Invalid {
            field: "ids",
            message,
        })?;
        sqlx::query(
            "UPDATE groups g SET position = o.ordinal - 1, updated_at = $2 \
             FROM unnest($1::bigint[]) WITH ORDINALITY AS o(id, ordinal) \
             WHERE g.id = o.id AND g.position <> o.ordinal - 1",
        )
        .bind(ids)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        let groups = sqlx::query_as(GROUPS_ORDERED)
            .fetch_all(&mut *tx)
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        Ok(groups)
    }

    async fn list_services(&self, filter: &ServiceFilter) -> StoreResult<ServicePage> {
        let limit = filter.limit.max(1);
        let rows: Vec<ServiceRow> = sqlx::query_as(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services s LEFT JOIN service_status st ON st.service_id = s.id \
             WHERE ($1::bigint IS NULL OR s.group_id = $1) \
               AND ($2::text IS NULL OR EXISTS \
                    (SELECT 1 FROM service_tags t WHERE t.service_id = s.id AND t.tag = $2)) \
               AND ($3::text IS NULL OR s.name ILIKE $3 OR s.description ILIKE $3 OR s.url ILIKE $3) \
               AND ($4::bigint IS NULL OR s.id > $4) \
             ORDER BY s.id LIMIT $5"
        ))
        .bind(filter.group_id)
        .bind(&filter.tag)
        .bind(filter.text.as_deref().map(like_pattern))
        .bind(filter.after_id)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(pg_error)?;
        Ok(page(into_services(rows)?, limit))
    }

    async fn get_service(&self, id: i64) -> StoreResult<Service> {
        let row: Option<ServiceRow> = sqlx::query_as(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services s LEFT JOIN service_status st ON st.service_id = s.id WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_error)?;
        row.ok_or(StoreError::not_found("service", id))?.try_into()
    }

    async fn create_service(&self, service: &NewService) -> StoreResult<Service> {
        let mut tx = self.begin().await?;
        if !Self::lock_group(&mut tx, service.group_id).await? {
            return Err(no_such_group(service.group_id));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO services (group_id, name, url, description, icon, check_spec, position, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $7, \
                     (SELECT COALESCE(MAX(position) + 1, 0) FROM services WHERE group_id = $1), $6, $6) \
             RETURNING id",
        )
        .bind(service.group_id)
        .bind(&service.name)
        .bind(&service.url)
        .bind(service.description.as_deref().unwrap_or_default())
        .bind(&service.icon)
        .bind(now())
        .bind(service.check.as_ref().map(crate::model::check_spec))
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| match is_unique_violation(&err) {
            true => service_name_clash(service.group_id, &service.name),
            false => pg_error(err),
        })?;
        Self::replace_tags(&mut tx, id, service.tags.as_deref().unwrap_or_default()).await?;
        let created = Self::service_in(&mut tx, id).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(created)
    }

    async fn update_service(&self, id: i64, patch: &ServicePatch) -> StoreResult<Service> {
        let mut tx = self.begin().await?;
        let current = Self::service_in(&mut tx, id).await?;
        let next = patch.merged_with(&current);
        let moves = next.group_id != current.group_id;
        if moves && !Self::lock_group(&mut tx, next.group_id).await? {
            return Err(no_such_group(next.group_id));
        }
        sqlx::query(
            "UPDATE services SET group_id = $2, name = $3, url = $4, description = $5, icon = $6, updated_at = $7, \
                 check_spec = $9, \
                 position = CASE WHEN $8 \
                     THEN (SELECT COALESCE(MAX(position) + 1, 0) FROM services WHERE group_id = $2) \
                     ELSE position END \
             WHERE id = $1",
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
            false => pg_error(err),
        })?;
        if let Some(tags) = &patch.tags {
            Self::replace_tags(&mut tx, id, tags).await?;
        }
        let updated = Self::service_in(&mut tx, id).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(updated)
    }

    async fn delete_service(&self, id: i64) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM services WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(pg_error)?;
        match deleted.rows_affected() {
            0 => Err(StoreError::not_found("service", id)),
            _ => Ok(()),
        }
    }

    async fn reorder_services(&self, group_id: i64, ids: &[i64]) -> StoreResult<Vec<Service>> {
        let mut tx = self.begin().await?;
        if !Self::lock_group(&mut tx, group_id).await? {
            return Err(StoreError::not_found("group", group_id));
        }
        let existing: Vec<i64> = sqlx::query_scalar("SELECT id FROM services WHERE group_id = $1")
            .bind(group_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(pg_error)?;
        check_order_covers(ids, &existing).map_err(|message| StoreError::Invalid {
            field: "ids",
            message,
        })?;
        sqlx::query(
            "UPDATE services s SET position = o.ordinal - 1, updated_at = $2 \
             FROM unnest($1::bigint[]) WITH ORDINALITY AS o(id, ordinal) \
             WHERE s.id = o.id AND s.position <> o.ordinal - 1",
        )
        .bind(ids)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        let rows: Vec<ServiceRow> = sqlx::query_as(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services s LEFT JOIN service_status st ON st.service_id = s.id WHERE s.group_id = $1 ORDER BY s.position, s.id"
        ))
        .bind(group_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        into_services(rows)
    }

    async fn dashboard(&self) -> StoreResult<Dashboard> {
        // One snapshot for both queries, so a tile never shows up under a group that was just deleted.
        let mut tx = self.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        let groups: Vec<Group> = sqlx::query_as(GROUPS_ORDERED)
            .fetch_all(&mut *tx)
            .await
            .map_err(pg_error)?;
        let rows: Vec<ServiceRow> = sqlx::query_as(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services s LEFT JOIN service_status st ON st.service_id = s.id ORDER BY s.group_id, s.position, s.id"
        ))
        .fetch_all(&mut *tx)
        .await
        .map_err(pg_error)?;
        let first_hour = dashboard_first_hour();
        let recent: Vec<RecentRollupRow> = sqlx::query_as(
            "SELECT service_id, hour, checks, ok_checks, latency_sum FROM check_rollups WHERE hour >= $1",
        )
        .bind(first_hour)
        .fetch_all(&mut *tx)
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
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
        let mut tx = self.begin().await?;
        for result in &batch.results {
            sqlx::query(
                "INSERT INTO check_results (service_id, checked_at, ok, latency_ms, status_code, error) \
                 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM services WHERE id = $1) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(result.service_id)
            .bind(result.checked_at.timestamp_millis())
            .bind(result.ok)
            .bind(i64::from(result.latency_ms) as i32)
            .bind(result.status_code.map(|code| code as i16))
            .bind(&result.error)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        }
        for (service_id, hour, rollup) in batch_rollups(&batch.results) {
            let mut query = sqlx::query(
                "INSERT INTO check_rollups (service_id, hour, checks, ok_checks, latency_sum, latency_min, \
         latency_max, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15) SELECT $1, $2, \
         $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23 \
         WHERE EXISTS (SELECT 1 FROM services WHERE id = $1) ON CONFLICT (service_id, hour) DO UPDATE SET \
         checks = check_rollups.checks + excluded.checks, ok_checks = check_rollups.ok_checks + \
         excluded.ok_checks, latency_sum = check_rollups.latency_sum + excluded.latency_sum, latency_min = \
         CASE WHEN check_rollups.ok_checks = 0 THEN excluded.latency_min WHEN excluded.ok_checks = 0 THEN \
         check_rollups.latency_min ELSE LEAST(check_rollups.latency_min, excluded.latency_min) END, \
         latency_max = GREATEST(check_rollups.latency_max, excluded.latency_max), b0 = check_rollups.b0 + \
         excluded.b0, b1 = check_rollups.b1 + excluded.b1, b2 = check_rollups.b2 + excluded.b2, b3 = \
         check_rollups.b3 + excluded.b3, b4 = check_rollups.b4 + excluded.b4, b5 = check_rollups.b5 + \
         excluded.b5, b6 = check_rollups.b6 + excluded.b6, b7 = check_rollups.b7 + excluded.b7, b8 = \
         check_rollups.b8 + excluded.b8, b9 = check_rollups.b9 + excluded.b9, b10 = check_rollups.b10 + \
         excluded.b10, b11 = check_rollups.b11 + excluded.b11, b12 = check_rollups.b12 + excluded.b12, b13 = \
         check_rollups.b13 + excluded.b13, b14 = check_rollups.b14 + excluded.b14, b15 = check_rollups.b15 + \
         excluded.b15",
            )
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
            query.execute(&mut *tx).await.map_err(pg_error)?;
        }
        // A batch can land after its tile was paused (checks in flight, the last flush): a paused tile
        // keeps its paused state and gets no new incident.
        for status in &batch.statuses {
            sqlx::query(
                "INSERT INTO service_status (service_id, state, since, last_checked_at, last_latency_ms, last_error, failures) \
                 SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM services WHERE id = $1 AND NOT paused) \
                 ON CONFLICT (service_id) DO UPDATE SET state = excluded.state, since = excluded.since, \
                 last_checked_at = excluded.last_checked_at, last_latency_ms = excluded.last_latency_ms, \
                 last_error = excluded.last_error, failures = excluded.failures \
                 WHERE NOT EXISTS (SELECT 1 FROM services WHERE id = excluded.service_id AND paused)",
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
            .map_err(pg_error)?;
        }
        for change in &batch.incidents {
            match change {
                IncidentChange::Open {
                    service_id,
                    started_at,
                    cause,
                } => sqlx::query(
                    "INSERT INTO incidents (service_id, started_at, cause) SELECT $1, $2, $3 \
                     WHERE EXISTS (SELECT 1 FROM services WHERE id = $1 AND NOT paused) \
                     AND NOT EXISTS (SELECT 1 FROM incidents WHERE service_id = $1 AND ended_at IS NULL)",
                )
                .bind(service_id)
                .bind(started_at)
                .bind(cause),
                IncidentChange::Close { service_id, ended_at } => sqlx::query(
                    "UPDATE incidents SET ended_at = $2 WHERE service_id = $1 AND ended_at IS NULL",
                )
                .bind(service_id)
                .bind(ended_at),
            }
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)
    }

    async fn results(
        &self,
        service_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<CheckResult>> {
        let rows: Vec<ResultRow> = sqlx::query_as(
            "SELECT service_id, checked_at, ok, latency_ms::bigint AS latency_ms, status_code::bigint AS status_code, error FROM check_results \
             WHERE service_id = $1 AND checked_at >= $2 AND checked_at < $3 ORDER BY checked_at DESC LIMIT $4",
        )
        .bind(service_id)
        .bind(since.timestamp_millis())
        .bind(until.timestamp_millis())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_error)?;
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
             FROM check_rollups WHERE service_id = $1 AND hour >= $2 AND hour <= $3 ORDER BY hour",
        )
        .bind(service_id)
        .bind(from_hour)
        .bind(to_hour)
        .fetch_all(&self.pool)
        .await
        .map_err(pg_error)?;
        Ok(rows.into_iter().map(<(i64, Rollup)>::from).collect())
    }

    async fn incidents(&self, filter: &IncidentFilter) -> StoreResult<Vec<Incident>> {
        let rows: Vec<IncidentRow> = sqlx::query_as(
            "SELECT id, service_id, started_at, ended_at, cause FROM incidents \
             WHERE ($1::bigint IS NULL OR service_id = $1) AND ($2::boolean IS NULL OR (ended_at IS NULL) = $2) \
             ORDER BY started_at DESC, id DESC LIMIT $3",
        )
        .bind(filter.service_id)
        .bind(filter.open)
        .bind(i64::from(filter.limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_error)?;
        Ok(rows.into_iter().map(Incident::from).collect())
    }

    async fn set_paused(&self, id: i64, paused: bool) -> StoreResult<Service> {
        let mut tx = self.begin().await?;
        let at = now();
        let updated = sqlx::query("UPDATE services SET paused = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(paused)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::not_found("service", id));
        }
        let state = if paused {
            ServiceState::Paused
        } else {
            ServiceState::Unknown
        };
        sqlx::query(
            "INSERT INTO service_status (service_id, state, since, failures) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (service_id) DO UPDATE SET state = excluded.state, since = excluded.since, failures = 0",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        if paused {
            sqlx::query("UPDATE incidents SET ended_at = $2 WHERE service_id = $1 AND ended_at IS NULL")
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(pg_error)?;
        }
        let service = Self::service_in(&mut tx, id).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(service)
    }

    async fn prune_history(
        &self,
        raw_before_ms: i64,
        rollups_before_hour: i64,
        limit: u32,
    ) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let raw = sqlx::query(
            "DELETE FROM check_results WHERE (service_id, checked_at) IN \
             (SELECT service_id, checked_at FROM check_results WHERE checked_at < $1 LIMIT $2)",
        )
        .bind(raw_before_ms)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        let rollups = sqlx::query(
            "DELETE FROM check_rollups WHERE (service_id, hour) IN \
             (SELECT service_id, hour FROM check_rollups WHERE hour < $1 LIMIT $2)",
        )
        .bind(rollups_before_hour)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        Ok(raw.rows_affected() + rollups.rows_affected())
    }

    async fn count_users(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(pg_error)
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        only_if_none: bool,
    ) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        lock_users(&mut tx).await?;
        if only_if_none {
            let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(&mut *tx)
                .await
                .map_err(pg_error)?;
            if users > 0 {
                return Err(setup_done());
            }
        }
        let row: UserRow = sqlx::query_as(
            "INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             RETURNING id, username, password_hash, role, created_at, updated_at",
        )
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| match is_unique_violation(&err) {
            true => username_clash(username),
            false => pg_error(err),
        })?;
        tx.commit().await.map_err(pg_error)?;
        Ok(StoredUser::try_from(row)?.user)
    }

    async fn get_user(&self, id: i64) -> StoreResult<StoredUser> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, password_hash, role, created_at, updated_at FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_error)?;
        row.ok_or_else(|| StoreError::not_found("user", id))?.try_into()
    }

    async fn find_user(&self, username: &str) -> StoreResult<Option<StoredUser>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, password_hash, role, created_at, updated_at FROM users \
             WHERE lower(username) = lower($1)",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_error)?;
        row.map(StoredUser::try_from).transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(
            "SELECT id, username, password_hash, role, created_at, updated_at FROM users ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(pg_error)?;
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
        let mut tx = self.begin().await?;
        lock_users(&mut tx).await?;
        let current: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(pg_error)?;
        let current = current.ok_or_else(|| StoreError::not_found("user", id))?;
        if current == Role::Admin.as_str() && role == Some(Role::Viewer) {
            let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
                .fetch_one(&mut *tx)
                .await
                .map_err(pg_error)?;
            if admins <= 1 {
                return Err(last_admin());
            }
        }
        let row: UserRow = sqlx::query_as(
            "UPDATE users SET role = COALESCE($2, role), password_hash = COALESCE($3, password_hash), \
             updated_at = $4 WHERE id = $1 \
             RETURNING id, username, password_hash, role, created_at, updated_at",
        )
        .bind(id)
        .bind(role.map(Role::as_str))
        .bind(password_hash)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(pg_error)?;
        if password_hash.is_some() {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2")
                .bind(id)
                .bind(keep_session)
                .execute(&mut *tx)
                .await
                .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(StoredUser::try_from(row)?.user)
    }

    async fn delete_user(&self, id: i64) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        lock_users(&mut tx).await?;
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(pg_error)?;
        let role = role.ok_or_else(|| StoreError::not_found("user", id))?;
        if role == Role::Admin.as_str() {
            let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
                .fetch_one(&mut *tx)
                .await
                .map_err(pg_error)?;
            if admins <= 1 {
                return Err(last_admin());
            }
        }
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)
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
             VALUES ($1, $2, $3, $3, $4) RETURNING id",
        )
        .bind(user_id)
        .bind(token_hash)
        .bind(at)
        .bind(expires_at)
        .fetch_one(&self.pool)
        .await
        .map_err(pg_error)?;
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
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_error)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn extend_session(
        &self,
        id: i64,
        seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1")
            .bind(id)
            .bind(seen_at)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(pg_error)?;
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
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, name, scope, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(scope.as_str())
        .bind(token_hash)
        .bind(now())
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(pg_error)?;
        let row: TokenRow = sqlx::query_as(concat!(token_select!(), " WHERE t.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        let (token, _) = row.try_into()?;
        Ok(token)
    }

    async fn find_token(&self, token_hash: &str) -> StoreResult<Option<(ApiToken, User)>> {
        let row: Option<TokenRow> = sqlx::query_as(concat!(token_select!(), " WHERE t.token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(pg_error)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn touch_token(&self, id: i64, used_at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(used_at)
            .execute(&self.pool)
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn list_tokens(&self, user_id: Option<i64>) -> StoreResult<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = sqlx::query_as(concat!(
            token_select!(),
            " WHERE $1::BIGINT IS NULL OR t.user_id = $1 ORDER BY t.id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(pg_error)?;
        rows.into_iter()
            .map(|row| <(ApiToken, User)>::try_from(row).map(|(token, _)| token))
            .collect()
    }

    async fn delete_token(&self, id: i64, user_id: Option<i64>) -> StoreResult<()> {
        let deleted =
            sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND ($2::BIGINT IS NULL OR user_id = $2)")
                .bind(id)
                .bind(user_id)
                .execute(&self.pool)
                .await
                .map_err(pg_error)?;
        match deleted.rows_affected() {
            0 => Err(StoreError::not_found("token", id)),
            _ => Ok(()),
        }
    }

    async fn prune_expired_access(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        let tokens = sqlx::query("DELETE FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        Ok(sessions.rows_affected() + tokens.rows_affected())
    }
}

/// Serializes changes to who is admin (and the first user's creation) across connections.
async fn lock_users(tx: &mut Transaction<'static, Postgres>) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(USERS_LOCK)
        .execute(&mut **tx)
        .await
        .map_err(pg_error)?;
    Ok(())
}
