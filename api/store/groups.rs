//! Groups: their names, their order, and deleting them with or without their tiles.

use super::{
    StoreError, StoreResult,
    rules::{group_may_go, order_covers},
    sql::{Backend, Dialect, Lock, Tx, Violations, sql},
};
use crate::model::{Group, GroupPatch, NewGroup, now};

const ORDERED: &str = "SELECT id, name, position, created_at, updated_at FROM groups ORDER BY position, id";

fn name_clash(name: &str) -> StoreError {
    StoreError::Conflict {
        field: Some("name"),
        message: format!("a group named `{name}` already exists"),
    }
}

pub async fn list(db: &dyn Backend) -> StoreResult<Vec<Group>> {
    Ok(sql(ORDERED).fetch_all(db.reader()?).await?)
}

pub async fn get(db: &dyn Backend, id: i64) -> StoreResult<Group> {
    sql("SELECT id, name, position, created_at, updated_at FROM groups WHERE id = $1")
        .bind(id)
        .fetch_optional(db.reader()?)
        .await?
        .ok_or(StoreError::not_found("group", id))
}

pub async fn create(db: &dyn Backend, group: &NewGroup) -> StoreResult<Group> {
    let mut tx = db.write().await?;
    let created = create_in(&mut tx, db.dialect(), group).await?;
    tx.commit().await?;
    Ok(created)
}

/// Creates a group inside a write transaction.
pub async fn create_in(tx: &mut Tx, dialect: &Dialect, group: &NewGroup) -> StoreResult<Group> {
    dialect.lock(tx, Lock::GroupOrder).await?;
    sql("INSERT INTO groups (name, position, created_at, updated_at) \
         VALUES ($1, (SELECT COALESCE(MAX(position) + 1, 0) FROM groups), $2, $2) \
         RETURNING id, name, position, created_at, updated_at")
    .bind(&group.name)
    .bind(now())
    .fetch_one(tx)
    .await
    .on_unique(|| name_clash(&group.name))
}

pub async fn update(db: &dyn Backend, id: i64, patch: &GroupPatch) -> StoreResult<Group> {
    let updated: Option<Group> = sql(
        "UPDATE groups SET name = COALESCE($2, name), updated_at = $3 WHERE id = $1 \
         RETURNING id, name, position, created_at, updated_at",
    )
    .bind(id)
    .bind(&patch.name)
    .bind(now())
    .fetch_optional(db.writer()?)
    .await
    .on_unique(|| name_clash(patch.name.as_deref().unwrap_or_default()))?;
    updated.ok_or(StoreError::not_found("group", id))
}

/// Whether group `id` exists, seen from inside `tx` (after any lock on it).
pub async fn exists(tx: &mut Tx, id: i64) -> StoreResult<bool> {
    let found: Option<(i64,)> = sql("SELECT id FROM groups WHERE id = $1")
        .bind(id)
        .fetch_optional(tx)
        .await?;
    Ok(found.is_some())
}

pub async fn delete(db: &dyn Backend, id: i64, cascade: bool) -> StoreResult<()> {
    let mut tx = db.write().await?;
    delete_in(&mut tx, db.dialect(), id, cascade).await?;
    tx.commit().await
}

/// Deletes a group (and with `cascade` its tiles) inside a write transaction.
pub async fn delete_in(tx: &mut Tx, dialect: &Dialect, id: i64, cascade: bool) -> StoreResult<()> {
    dialect.lock(tx, Lock::Group(id)).await?;
    if !exists(tx, id).await? {
        return Err(StoreError::not_found("group", id));
    }
    let tiles: i64 = sql("SELECT count(*) FROM services WHERE group_id = $1")
        .bind(id)
        .scalar(&mut *tx)
        .await?;
    group_may_go(id, tiles, cascade)?;
    sql("DELETE FROM services WHERE group_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sql("DELETE FROM groups WHERE id = $1")
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn reorder(db: &dyn Backend, ids: &[i64]) -> StoreResult<Vec<Group>> {
    let mut tx = db.write().await?;
    let groups = reorder_in(&mut tx, db.dialect(), ids).await?;
    tx.commit().await?;
    Ok(groups)
}

/// Puts the groups in this order inside a write transaction.
pub async fn reorder_in(tx: &mut Tx, dialect: &Dialect, ids: &[i64]) -> StoreResult<Vec<Group>> {
    dialect.lock(tx, Lock::GroupOrder).await?;
    let existing: Vec<(i64,)> = sql("SELECT id FROM groups").fetch_all(&mut *tx).await?;
    let existing: Vec<i64> = existing.into_iter().map(|(id,)| id).collect();
    order_covers(ids, &existing)?;
    let ids_json = serde_json::Value::from(ids).to_string();
    sql(dialect.reorder_groups)
        .bind(&ids_json)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    Ok(sql(ORDERED).fetch_all(tx).await?)
}
