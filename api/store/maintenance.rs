//! Maintenance windows and the groups and tiles each covers.

use chrono::{DateTime, Utc};

use super::{
    StoreError, StoreResult,
    alerts::set_targets,
    sql::{Backend, Tx, from_row, sql},
};
use crate::model::{maintenance::MaintenanceDraft, now};

/// A window as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMaintenance {
    pub id: i64,
    pub draft: MaintenanceDraft,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

struct WindowRow {
    id: i64,
    title: String,
    starts_at: i64,
    duration_s: i32,
    rrule: Option<String>,
    timezone: String,
    all_tiles: bool,
    created_at: i64,
    updated_at: i64,
}

from_row!(WindowRow {
    id,
    title,
    starts_at,
    duration_s,
    rrule,
    timezone,
    all_tiles,
    created_at,
    updated_at
});

struct TargetRow {
    window_id: i64,
    group_id: Option<i64>,
    service_id: Option<i64>,
}

from_row!(TargetRow {
    window_id,
    group_id,
    service_id
});

const COLUMNS: &str = "SELECT id, title, starts_at, duration_s, rrule, timezone, all_tiles, created_at, updated_at \
     FROM maintenance_windows";

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn window(row: WindowRow, targets: &[TargetRow]) -> StoredMaintenance {
    let mine = || targets.iter().filter(|t| t.window_id == row.id);
    StoredMaintenance {
        id: row.id,
        draft: MaintenanceDraft {
            title: row.title,
            starts_at: from_ms(row.starts_at),
            duration_min: u32::try_from(row.duration_s / 60).unwrap_or_default(),
            rrule: row.rrule,
            timezone: row.timezone,
            all_tiles: row.all_tiles,
            groups: mine().filter_map(|t| t.group_id).collect(),
            services: mine().filter_map(|t| t.service_id).collect(),
        },
        created_at: from_ms(row.created_at),
        updated_at: from_ms(row.updated_at),
    }
}

pub async fn list(db: &dyn Backend) -> StoreResult<Vec<StoredMaintenance>> {
    let mut tx = db.snapshot().await?;
    let rows: Vec<WindowRow> = sql(&format!("{COLUMNS} ORDER BY starts_at, id"))
        .fetch_all(&mut tx)
        .await?;
    let targets: Vec<TargetRow> = sql("SELECT window_id, group_id, service_id FROM maintenance_targets \
         ORDER BY group_id, service_id")
    .fetch_all(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(|row| window(row, &targets)).collect())
}

async fn read(tx: &mut Tx, id: i64) -> StoreResult<StoredMaintenance> {
    let row: WindowRow = sql(&format!("{COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::not_found("maintenance window", id))?;
    let targets: Vec<TargetRow> = sql("SELECT window_id, group_id, service_id FROM maintenance_targets \
         WHERE window_id = $1 ORDER BY group_id, service_id")
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    Ok(window(row, &targets))
}

pub async fn get(db: &dyn Backend, id: i64) -> StoreResult<StoredMaintenance> {
    let mut tx = db.snapshot().await?;
    let found = read(&mut tx, id).await?;
    tx.commit().await?;
    Ok(found)
}

pub async fn create(db: &dyn Backend, draft: &MaintenanceDraft) -> StoreResult<StoredMaintenance> {
    let mut tx = db.write().await?;
    let done = create_in(&mut tx, draft).await?;
    tx.commit().await?;
    Ok(done)
}

/// `create` inside a write transaction.
pub async fn create_in(tx: &mut Tx, draft: &MaintenanceDraft) -> StoreResult<StoredMaintenance> {
    let at = now().timestamp_millis();
    let id: i64 = sql(
        "INSERT INTO maintenance_windows (title, starts_at, duration_s, rrule, timezone, all_tiles, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(&draft.title)
    .bind(draft.starts_at.timestamp_millis())
    .bind(i64::from(draft.duration_min) * 60)
    .bind(&draft.rrule)
    .bind(&draft.timezone)
    .bind(draft.all_tiles)
    .bind(at)
    .scalar(&mut *tx)
    .await?;
    set_targets(
        &mut *tx,
        "maintenance_targets",
        "window_id",
        id,
        &draft.groups,
        &draft.services,
    )
    .await?;
    read(&mut *tx, id).await
}

pub async fn update(db: &dyn Backend, id: i64, draft: &MaintenanceDraft) -> StoreResult<StoredMaintenance> {
    let mut tx = db.write().await?;
    let done = update_in(&mut tx, id, draft).await?;
    tx.commit().await?;
    Ok(done)
}

/// `update` inside a write transaction.
pub async fn update_in(tx: &mut Tx, id: i64, draft: &MaintenanceDraft) -> StoreResult<StoredMaintenance> {
    let updated = sql(
        "UPDATE maintenance_windows SET title = $2, starts_at = $3, duration_s = $4, rrule = $5, \
         timezone = $6, all_tiles = $7, updated_at = $8 WHERE id = $1",
    )
    .bind(id)
    .bind(&draft.title)
    .bind(draft.starts_at.timestamp_millis())
    .bind(i64::from(draft.duration_min) * 60)
    .bind(&draft.rrule)
    .bind(&draft.timezone)
    .bind(draft.all_tiles)
    .bind(now().timestamp_millis())
    .execute(&mut *tx)
    .await?;
    if updated == 0 {
        return Err(StoreError::not_found("maintenance window", id));
    }
    set_targets(
        &mut *tx,
        "maintenance_targets",
        "window_id",
        id,
        &draft.groups,
        &draft.services,
    )
    .await?;
    read(&mut *tx, id).await
}

pub async fn delete(db: &dyn Backend, id: i64) -> StoreResult<()> {
    let mut tx = db.write().await?;
    delete_in(&mut tx, id).await?;
    tx.commit().await
}

/// `delete` inside a write transaction.
pub async fn delete_in(tx: &mut Tx, id: i64) -> StoreResult<()> {
    let deleted = sql("DELETE FROM maintenance_windows WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if deleted == 0 {
        return Err(StoreError::not_found("maintenance window", id));
    }
    Ok(())
}
