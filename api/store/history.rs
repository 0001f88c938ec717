//! What the engine found: raw results, hourly rollups, statuses and incidents, written in one transaction
//! per batch; the reads behind results, stats, incidents and the dashboard; and pruning.

use chrono::{DateTime, Utc};

use super::{
    StoreResult,
    rows::{
        self, BUCKET_COLUMNS, HourCountsRow, IncidentRow, ResultRow, RollupRow, ServiceRow, select_services,
    },
    sql::{Backend, Statement, from_row, sql},
};
use crate::model::{
    CheckResult, DashboardRows, Group, HistoryBatch, Incident, IncidentChange, IncidentFilter, Rollup,
    batch_rollups,
};

/// Adds a batch's rollup of one tile and hour to the stored one. `latency_min` only counts successful checks,
/// so a side without any keeps the other's.
const ADD_ROLLUP: &str = "INSERT INTO check_rollups (service_id, hour, checks, ok_checks, latency_sum, \
     latency_min, latency_max, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23 \
     WHERE EXISTS (SELECT 1 FROM services WHERE id = $1) \
     ON CONFLICT (service_id, hour) DO UPDATE SET \
     checks = check_rollups.checks + excluded.checks, \
     ok_checks = check_rollups.ok_checks + excluded.ok_checks, \
     latency_sum = check_rollups.latency_sum + excluded.latency_sum, \
     latency_min = CASE WHEN check_rollups.ok_checks = 0 THEN excluded.latency_min \
                        WHEN excluded.ok_checks = 0 THEN check_rollups.latency_min \
                        WHEN excluded.latency_min < check_rollups.latency_min THEN excluded.latency_min \
                        ELSE check_rollups.latency_min END, \
     latency_max = CASE WHEN excluded.latency_max > check_rollups.latency_max THEN excluded.latency_max \
                        ELSE check_rollups.latency_max END, \
     b0 = check_rollups.b0 + excluded.b0, b1 = check_rollups.b1 + excluded.b1, \
     b2 = check_rollups.b2 + excluded.b2, b3 = check_rollups.b3 + excluded.b3, \
     b4 = check_rollups.b4 + excluded.b4, b5 = check_rollups.b5 + excluded.b5, \
     b6 = check_rollups.b6 + excluded.b6, b7 = check_rollups.b7 + excluded.b7, \
     b8 = check_rollups.b8 + excluded.b8, b9 = check_rollups.b9 + excluded.b9, \
     b10 = check_rollups.b10 + excluded.b10, b11 = check_rollups.b11 + excluded.b11, \
     b12 = check_rollups.b12 + excluded.b12, b13 = check_rollups.b13 + excluded.b13, \
     b14 = check_rollups.b14 + excluded.b14, b15 = check_rollups.b15 + excluded.b15";

/// [`ADD_ROLLUP`] with its arguments.
fn add_rollup(service_id: i64, hour: i64, rollup: &Rollup) -> Statement<'static> {
    let mut statement = sql(ADD_ROLLUP)
        .bind(service_id)
        .bind(hour)
        .bind(rollup.checks)
        .bind(rollup.ok_checks)
        .bind(rollup.latency_sum)
        .bind(rollup.latency_min)
        .bind(rollup.latency_max);
    for count in rollup.buckets {
        statement = statement.bind(count);
    }
    statement
}

/// Writes a batch in one transaction. Rows of tiles deleted meanwhile are skipped; a batch that lands after
/// its tile was paused (checks in flight, the last flush) leaves the tile paused and opens no incident.
pub async fn record(db: &dyn Backend, batch: &HistoryBatch) -> StoreResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut tx = db.write().await?;
    for result in &batch.results {
        sql(
            "INSERT INTO check_results (service_id, checked_at, ok, latency_ms, status_code, error, maintenance, \
             degraded, packet_loss_pct) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM services WHERE id = $1) \
             ON CONFLICT DO NOTHING",
        )
        .bind(result.service_id)
        .bind(result.checked_at.timestamp_millis())
        .bind(result.ok)
        .bind(result.latency_ms.min(i32::MAX as u32))
        .bind(result.status_code)
        .bind(&result.error)
        .bind(result.maintenance)
        .bind(result.degraded)
        .bind(result.packet_loss_pct.map(u32::from))
        .execute(&mut tx)
        .await?;
    }
    let counted: Vec<CheckResult> = batch
        .results
        .iter()
        .filter(|result| batch.count_maintenance || !result.maintenance)
        .cloned()
        .collect();
    for (service_id, hour, rollup) in batch_rollups(&counted) {
        add_rollup(service_id, hour, &rollup).execute(&mut tx).await?;
    }
    for status in &batch.statuses {
        sql("INSERT INTO service_status (service_id, state, since, last_checked_at, last_latency_ms, last_error, \
             failures, alerted_state, alerted_since, flapping_since, cert_expires_at, cert_issuer, cert_subject, \
             cert_warned_expiry, cert_warned_days) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
             WHERE EXISTS (SELECT 1 FROM services WHERE id = $1 AND NOT paused) \
             ON CONFLICT (service_id) DO UPDATE SET state = excluded.state, since = excluded.since, \
             last_checked_at = excluded.last_checked_at, last_latency_ms = excluded.last_latency_ms, \
             last_error = excluded.last_error, failures = excluded.failures, \
             alerted_state = excluded.alerted_state, alerted_since = excluded.alerted_since, \
             flapping_since = excluded.flapping_since, cert_expires_at = excluded.cert_expires_at, \
             cert_issuer = excluded.cert_issuer, cert_subject = excluded.cert_subject, \
             cert_warned_expiry = excluded.cert_warned_expiry, cert_warned_days = excluded.cert_warned_days \
             WHERE NOT EXISTS (SELECT 1 FROM services WHERE id = excluded.service_id AND paused)")
        .bind(status.service_id)
        .bind(status.state.as_str())
        .bind(status.since)
        .bind(status.last_checked_at)
        .bind(status.last_latency_ms.map(|ms| ms.min(i32::MAX as u32)))
        .bind(&status.last_error)
        .bind(status.failures.min(i32::MAX as u32))
        .bind(status.memory.alerted.map(|state| state.as_str()))
        .bind(status.memory.alerted_since)
        .bind(status.memory.flapping_since)
        .bind(status.certificate.as_ref().map(|cert| cert.expires_at))
        .bind(status.certificate.as_ref().map(|cert| cert.issuer.as_str()))
        .bind(status.certificate.as_ref().map(|cert| cert.subject.as_str()))
        .bind(status.memory.cert_warned.map(|(expiry, _)| expiry))
        .bind(status.memory.cert_warned.map(|(_, days)| days.min(i32::MAX as u32)))
        .execute(&mut tx)
        .await?;
    }
    for alert in &batch.alerts {
        super::alerts::enqueue(&mut tx, alert, None).await?;
    }
    for change in &batch.incidents {
        match change {
            IncidentChange::Open {
                service_id,
                started_at,
                cause,
            } => sql(
                "INSERT INTO incidents (service_id, started_at, cause) SELECT $1, $2, $3 \
                      WHERE EXISTS (SELECT 1 FROM services WHERE id = $1 AND NOT paused) \
                      AND NOT EXISTS (SELECT 1 FROM incidents WHERE service_id = $1 AND ended_at IS NULL)",
            )
            .bind(*service_id)
            .bind(started_at)
            .bind(cause),
            IncidentChange::Close { service_id, ended_at } => {
                sql("UPDATE incidents SET ended_at = $2 WHERE service_id = $1 AND ended_at IS NULL")
                    .bind(*service_id)
                    .bind(ended_at)
            }
        }
        .execute(&mut tx)
        .await?;
    }
    tx.commit().await
}

/// Raw results of one tile, newest first, with `since <= checked_at < until`.
pub async fn results(
    db: &dyn Backend,
    service_id: i64,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Vec<CheckResult>> {
    let rows: Vec<ResultRow> = sql(
        "SELECT service_id, checked_at, ok, latency_ms, status_code, error, maintenance, degraded, packet_loss_pct \
         FROM check_results WHERE service_id = $1 AND checked_at >= $2 AND checked_at < $3 \
         ORDER BY checked_at DESC LIMIT $4",
    )
    .bind(service_id)
    .bind(since.timestamp_millis())
    .bind(until.timestamp_millis())
    .bind(limit)
    .fetch_all(db.reader()?)
    .await?;
    Ok(rows.into_iter().map(CheckResult::from).collect())
}

/// Hourly rollups of one tile for hours `from_hour..=to_hour`, oldest first.
pub async fn rollups(
    db: &dyn Backend,
    service_id: i64,
    from_hour: i64,
    to_hour: i64,
) -> StoreResult<Vec<(i64, Rollup)>> {
    let text = format!(
        "SELECT hour, checks, ok_checks, latency_sum, latency_min, latency_max, {BUCKET_COLUMNS} \
         FROM check_rollups WHERE service_id = $1 AND hour >= $2 AND hour <= $3 ORDER BY hour"
    );
    let rows: Vec<RollupRow> = sql(&text)
        .bind(service_id)
        .bind(from_hour)
        .bind(to_hour)
        .fetch_all(db.reader()?)
        .await?;
    Ok(rows.into_iter().map(<(i64, Rollup)>::from).collect())
}

pub async fn incidents(db: &dyn Backend, filter: &IncidentFilter) -> StoreResult<Vec<Incident>> {
    let rows: Vec<IncidentRow> = sql(
        "SELECT id, service_id, started_at, ended_at, cause FROM incidents \
         WHERE ($1 IS NULL OR service_id = $1) AND ($2 IS NULL OR (ended_at IS NULL) = $2) \
         ORDER BY started_at DESC, id DESC LIMIT $3",
    )
    .bind(filter.service_id)
    .bind(filter.open)
    .bind(filter.limit.max(1))
    .fetch_all(db.reader()?)
    .await?;
    Ok(rows.into_iter().map(Incident::from).collect())
}

/// Deletes raw results older than `raw_before_ms`, at most `limit` of each tile per call, tile by tile on the
/// results' key (an index on the time alone would cost about a quarter of a megabyte per tile-year), and at
/// most `limit` rollups older than `rollups_before_hour`; returns how many rows went.
pub async fn prune(
    db: &dyn Backend,
    raw_before_ms: i64,
    rollups_before_hour: i64,
    limit: u32,
) -> StoreResult<u64> {
    let tiles: Vec<(i64,)> = sql("SELECT id FROM services ORDER BY id")
        .fetch_all(db.reader()?)
        .await?;
    let mut removed = 0;
    // Short transactions: other writers (the engine's batches) get their turn between them.
    for chunk in tiles.chunks(100) {
        let mut tx = db.write().await?;
        for (service_id,) in chunk {
            removed += sql(
                "DELETE FROM check_results WHERE service_id = $1 AND checked_at IN \
                 (SELECT checked_at FROM check_results WHERE service_id = $1 AND checked_at < $2 LIMIT $3)",
            )
            .bind(*service_id)
            .bind(raw_before_ms)
            .bind(limit)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
    }
    let mut tx = db.write().await?;
    removed += sql("DELETE FROM check_rollups WHERE (service_id, hour) IN \
         (SELECT service_id, hour FROM check_rollups WHERE hour < $1 LIMIT $2)")
    .bind(rollups_before_hour)
    .bind(limit)
    .execute(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(removed)
}

/// A day's rollup of one tile, summed from its hours.
struct DayRow {
    service_id: i64,
    rollup: RollupRow,
}

from_row!(DayRow { service_id, rollup flatten });

/// Keeps one rollup per tile and UTC day for the days `from_day..before_day` (days since the epoch): each
/// day's hourly rows are summed into one row at the day's first hour. Days already kept so are left as they
/// are. Returns how many rows went.
pub async fn compact_rollups(db: &dyn Backend, from_day: i64, before_day: i64) -> StoreResult<u64> {
    let buckets: Vec<String> = BUCKET_COLUMNS
        .split(", ")
        .map(|column| format!("CAST(SUM({column}) AS BIGINT) AS {column}"))
        .collect();
    // The fastest successful check of the day: hours without one hold no minimum.
    let text = format!(
        "SELECT service_id, (hour / 24) * 24 AS hour, CAST(SUM(checks) AS BIGINT) AS checks, \
         CAST(SUM(ok_checks) AS BIGINT) AS ok_checks, CAST(SUM(latency_sum) AS BIGINT) AS latency_sum, \
         CAST(COALESCE(MIN(CASE WHEN ok_checks > 0 THEN latency_min END), 0) AS BIGINT) AS latency_min, \
         CAST(MAX(latency_max) AS BIGINT) AS latency_max, {} \
         FROM check_rollups WHERE hour >= $1 AND hour < $2 \
         GROUP BY service_id, hour / 24 HAVING COUNT(*) > 1 OR MIN(hour) % 24 <> 0",
        buckets.join(", ")
    );
    let mut removed = 0;
    for day in from_day..before_day {
        let mut tx = db.write().await?;
        let days: Vec<DayRow> = sql(&text)
            .bind(day * 24)
            .bind(day * 24 + 24)
            .fetch_all(&mut tx)
            .await?;
        for row in days {
            let (hour, rollup) = <(i64, Rollup)>::from(row.rollup);
            removed += sql("DELETE FROM check_rollups WHERE service_id = $1 AND hour >= $2 AND hour < $3")
                .bind(row.service_id)
                .bind(hour)
                .bind(hour + 24)
                .execute(&mut tx)
                .await?;
            add_rollup(row.service_id, hour, &rollup).execute(&mut tx).await?;
            removed -= 1;
        }
        tx.commit().await?;
    }
    Ok(removed)
}

/// The earliest day before `before_day` that still has hourly rollups (more than one row of a tile, or a row
/// not at the day's first hour); None when every such day is compact.
pub async fn first_hourly_day(db: &dyn Backend, before_day: i64) -> StoreResult<Option<i64>> {
    let hour: Option<i64> = sql("SELECT MIN(hour) FROM check_rollups WHERE hour < $1 AND hour % 24 <> 0")
        .bind(before_day * 24)
        .scalar(db.reader()?)
        .await?;
    Ok(hour.map(|hour| hour.div_euclid(24)))
}

/// Every group and tile, and the counts of each tile's hours from `first_hour`, from one snapshot.
pub async fn dashboard(db: &dyn Backend, first_hour: i64) -> StoreResult<DashboardRows> {
    let mut tx = db.snapshot().await?;
    let groups: Vec<Group> =
        sql("SELECT id, name, position, created_at, updated_at FROM groups ORDER BY position, id")
            .fetch_all(&mut tx)
            .await?;
    let services: Vec<ServiceRow> = sql(select_services!("ORDER BY s.group_id, s.position, s.id"))
        .fetch_all(&mut tx)
        .await?;
    let hours: Vec<HourCountsRow> =
        sql("SELECT service_id, hour, checks, ok_checks, latency_sum FROM check_rollups WHERE hour >= $1")
            .bind(first_hour)
            .fetch_all(&mut tx)
            .await?;
    tx.commit().await?;
    Ok(DashboardRows {
        groups,
        services: rows::services(services)?,
        hours: hours.into_iter().map(Into::into).collect(),
    })
}

/// The counts of every tile's hours from `from_hour` (the dashboard's cache reads only the hours that moved).
pub async fn hour_counts(db: &dyn Backend, from_hour: i64) -> StoreResult<Vec<(i64, i64, Rollup)>> {
    let hours: Vec<HourCountsRow> =
        sql("SELECT service_id, hour, checks, ok_checks, latency_sum FROM check_rollups WHERE hour >= $1")
            .bind(from_hour)
            .fetch_all(db.reader()?)
            .await?;
    Ok(hours.into_iter().map(Into::into).collect())
}

/// Every group in order, and of every tile what says whether it changed: `(id, group_id, position,
/// updated_at)`, from one snapshot (the dashboard's cache re-reads only the tiles that moved).
pub async fn tile_stamps(db: &dyn Backend) -> StoreResult<(Vec<Group>, Vec<(i64, i64, i64, DateTime<Utc>)>)> {
    let mut tx = db.snapshot().await?;
    let groups: Vec<Group> =
        sql("SELECT id, name, position, created_at, updated_at FROM groups ORDER BY position, id")
            .fetch_all(&mut tx)
            .await?;
    let stamps: Vec<(i64, i64, i64, DateTime<Utc>)> =
        sql("SELECT id, group_id, position, updated_at FROM services ORDER BY group_id, position, id")
            .fetch_all(&mut tx)
            .await?;
    tx.commit().await?;
    Ok((groups, stamps))
}
