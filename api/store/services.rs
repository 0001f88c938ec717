//! Service tiles: their fields and tags, filters and pages, order within a group, and pausing.

use super::{
    StoreError, StoreResult,
    groups::exists as group_exists,
    rows::{self, ServiceRow, WatchedRow, select_services},
    rules::order_covers,
    sql::{Backend, Dialect, Lock, Tx, Violations, sql},
};
use crate::model::{
    Check, CheckKind, NewService, Service, ServiceFilter, ServicePage, ServicePatch, ServiceState,
    WatchedTile, check_spec, cursor, now,
};

fn name_clash(group_id: i64, name: &str) -> StoreError {
    StoreError::Conflict {
        field: Some("name"),
        message: format!("group {group_id} already has a service named `{name}`"),
    }
}

/// A push check gets its token here: the one given, else the one it had, else a new one.
fn with_push_token(check: Option<&Check>, kept: Option<&Check>) -> Option<Check> {
    let mut check = check?.clone();
    if check.kind == CheckKind::Push && check.token.is_none() {
        let previous = kept
            .filter(|kept| kept.kind == CheckKind::Push)
            .and_then(|kept| kept.token.clone());
        check.token = Some(previous.unwrap_or_else(crate::auth::secret::push_token));
    }
    Some(check)
}

fn push_token(check: Option<&Check>) -> Option<&str> {
    check
        .filter(|check| check.kind == CheckKind::Push)
        .and_then(|check| check.token.as_deref())
}

/// A token another tile holds is refused (the unique index would otherwise read as a name clash).
async fn token_free(tx: &mut Tx, token: Option<&str>, id: i64) -> StoreResult<()> {
    let Some(token) = token else {
        return Ok(());
    };
    let holder: Option<(i64,)> = sql("SELECT id FROM services WHERE push_token = $1 AND id <> $2")
        .bind(token)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    match holder {
        Some(_) => Err(StoreError::Conflict {
            field: Some("check.token"),
            message: "another tile's push check has this token: leave it out for a new one".into(),
        }),
        None => Ok(()),
    }
}

/// The tile whose push check has this token.
pub async fn find_push(db: &dyn Backend, token: &str) -> StoreResult<Option<i64>> {
    let found: Option<(i64,)> = sql("SELECT id FROM services WHERE push_token = $1")
        .bind(token)
        .fetch_optional(db.reader()?)
        .await?;
    Ok(found.map(|(id,)| id))
}

/// Gives a tile's push check a new token; the old one stops working.
pub async fn rotate_push_token(db: &dyn Backend, id: i64) -> StoreResult<Service> {
    let mut tx = db.write().await?;
    let current = get_in(&mut tx, id).await?;
    let Some(mut check) = current.check.clone().filter(|c| c.kind == CheckKind::Push) else {
        return Err(StoreError::Conflict {
            field: Some("check"),
            message: format!("service {id} has no push check"),
        });
    };
    check.token = Some(crate::auth::secret::push_token());
    sql("UPDATE services SET check_spec = $2, push_token = $3, updated_at = $4 WHERE id = $1")
        .bind(id)
        .bind(check_spec(&check).as_str())
        .bind(check.token.as_deref())
        .bind(now())
        .execute(&mut tx)
        .await?;
    let updated = get_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(updated)
}

fn no_such_group(group_id: i64) -> StoreError {
    StoreError::not_found("group", group_id)
}

/// Escapes `%`, `_` and `\` so text matches literally inside a LIKE pattern with `ESCAPE '\'`.
pub fn like_pattern(text: &str) -> String {
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

/// Cuts a result fetched with one extra row into a page and the cursor of the next one.
fn page(mut items: Vec<Service>, limit: u32) -> ServicePage {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = match (more, items.last()) {
        (true, Some(last)) => Some(cursor::encode(last.id)),
        _ => None,
    };
    ServicePage { items, next_cursor }
}

pub async fn list(db: &dyn Backend, filter: &ServiceFilter) -> StoreResult<ServicePage> {
    let limit = filter.limit.max(1);
    // lower() on both sides: case-insensitive in both dialects (SQLite's LIKE is, PostgreSQL's is not).
    let text = filter
        .text
        .as_deref()
        .map(|text| like_pattern(&text.to_lowercase()));
    let rows: Vec<ServiceRow> = sql(select_services!(
        "WHERE ($1 IS NULL OR s.group_id = $1) \
           AND ($2 IS NULL OR EXISTS (SELECT 1 FROM service_tags t WHERE t.service_id = s.id AND t.tag = $2)) \
           AND ($3 IS NULL OR lower(s.name) LIKE $3 ESCAPE '\\' OR lower(s.description) LIKE $3 ESCAPE '\\' \
                OR lower(s.url) LIKE $3 ESCAPE '\\') \
           AND ($4 IS NULL OR s.id > $4) \
         ORDER BY s.id LIMIT $5"
    ))
    .bind(filter.group_id)
    .bind(filter.tag.as_deref())
    .bind(text.as_deref())
    .bind(filter.after_id)
    .bind(i64::from(limit) + 1)
    .fetch_all(db.reader()?)
    .await?;
    Ok(page(rows::services(rows)?, limit))
}

pub async fn get(db: &dyn Backend, id: i64) -> StoreResult<Service> {
    let row: Option<ServiceRow> = sql(select_services!("WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(db.reader()?)
        .await?;
    row.ok_or(StoreError::not_found("service", id))?.try_into()
}

async fn get_in(tx: &mut Tx, id: i64) -> StoreResult<Service> {
    let row: Option<ServiceRow> = sql(select_services!("WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(tx)
        .await?;
    row.ok_or(StoreError::not_found("service", id))?.try_into()
}

/// Tags live twice: in `service_tags` (one row each, for the tag filter) and as JSON in `services.tags`
/// (for reads, in order).
async fn write_tags(tx: &mut Tx, id: i64, tags: &[String]) -> StoreResult<()> {
    sql("DELETE FROM service_tags WHERE service_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for (ordinal, tag) in (0_i64..).zip(tags) {
        sql("INSERT INTO service_tags (service_id, ordinal, tag) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(ordinal)
            .bind(tag)
            .execute(&mut *tx)
            .await?;
    }
    let tags_json = serde_json::to_string(tags).map_err(|err| StoreError::Other(err.to_string()))?;
    sql("UPDATE services SET tags = $2 WHERE id = $1")
        .bind(id)
        .bind(&tags_json)
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn create(db: &dyn Backend, service: &NewService) -> StoreResult<Service> {
    let mut tx = db.write().await?;
    let created = create_in(&mut tx, db.dialect(), service).await?;
    tx.commit().await?;
    Ok(created)
}

/// Creates a tile inside a write transaction.
pub async fn create_in(tx: &mut Tx, dialect: &Dialect, service: &NewService) -> StoreResult<Service> {
    dialect.lock(tx, Lock::Group(service.group_id)).await?;
    if !group_exists(tx, service.group_id).await? {
        return Err(no_such_group(service.group_id));
    }
    let check = with_push_token(service.check.as_ref(), None);
    token_free(tx, push_token(check.as_ref()), 0).await?;
    let id: i64 = sql(
        "INSERT INTO services (group_id, name, url, description, icon, check_spec, position, created_at, updated_at, \
         push_token, badges) \
         VALUES ($1, $2, $3, $4, $5, $6, \
                 (SELECT COALESCE(MAX(position) + 1, 0) FROM services WHERE group_id = $1), $7, $7, $8, $9) \
         RETURNING id",
    )
    .bind(service.group_id)
    .bind(&service.name)
    .bind(&service.url)
    .bind(service.description.as_deref().unwrap_or_default())
    .bind(&service.icon)
    .bind(check.as_ref().map(check_spec).as_deref())
    .bind(now())
    .bind(push_token(check.as_ref()))
    .bind(service.badges.unwrap_or(false))
    .scalar(&mut *tx)
    .await
    .on_unique(|| name_clash(service.group_id, &service.name))?;
    write_tags(tx, id, service.tags.as_deref().unwrap_or_default()).await?;
    get_in(tx, id).await
}

pub async fn update(db: &dyn Backend, id: i64, patch: &ServicePatch) -> StoreResult<Service> {
    let mut tx = db.write().await?;
    let updated = update_in(&mut tx, db.dialect(), id, patch).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Changes a tile inside a write transaction.
pub async fn update_in(
    tx: &mut Tx,
    dialect: &Dialect,
    id: i64,
    patch: &ServicePatch,
) -> StoreResult<Service> {
    let current = get_in(tx, id).await?;
    let mut next = patch.merged_with(&current);
    next.check = with_push_token(next.check.as_ref(), current.check.as_ref());
    token_free(tx, push_token(next.check.as_ref()), id).await?;
    let moves = next.group_id != current.group_id;
    if moves {
        dialect.lock(tx, Lock::Group(next.group_id)).await?;
        if !group_exists(tx, next.group_id).await? {
            return Err(no_such_group(next.group_id));
        }
    }
    sql(
        "UPDATE services SET group_id = $2, name = $3, url = $4, description = $5, icon = $6, updated_at = $7, \
             check_spec = $9, push_token = $10, badges = $11, \
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
    .bind(next.check_spec().as_deref())
    .bind(push_token(next.check.as_ref()))
    .bind(next.badges)
    .execute(&mut *tx)
    .await
    .on_unique(|| name_clash(next.group_id, &next.name))?;
    if let Some(tags) = &patch.tags {
        write_tags(tx, id, tags).await?;
    }
    get_in(tx, id).await
}

pub async fn delete(db: &dyn Backend, id: i64) -> StoreResult<()> {
    let mut tx = db.write().await?;
    delete_in(&mut tx, id).await?;
    tx.commit().await
}

/// Deletes a tile inside a write transaction.
pub async fn delete_in(tx: &mut Tx, id: i64) -> StoreResult<()> {
    match sql("DELETE FROM services WHERE id = $1")
        .bind(id)
        .execute(tx)
        .await?
    {
        0 => Err(StoreError::not_found("service", id)),
        _ => Ok(()),
    }
}

pub async fn reorder(db: &dyn Backend, group_id: i64, ids: &[i64]) -> StoreResult<Vec<Service>> {
    let mut tx = db.write().await?;
    let services = reorder_in(&mut tx, db.dialect(), group_id, ids).await?;
    tx.commit().await?;
    Ok(services)
}

/// Puts a group's tiles in this order inside a write transaction.
pub async fn reorder_in(
    tx: &mut Tx,
    dialect: &Dialect,
    group_id: i64,
    ids: &[i64],
) -> StoreResult<Vec<Service>> {
    dialect.lock(tx, Lock::Group(group_id)).await?;
    if !group_exists(tx, group_id).await? {
        return Err(StoreError::not_found("group", group_id));
    }
    let existing: Vec<(i64,)> = sql("SELECT id FROM services WHERE group_id = $1")
        .bind(group_id)
        .fetch_all(&mut *tx)
        .await?;
    let existing: Vec<i64> = existing.into_iter().map(|(id,)| id).collect();
    order_covers(ids, &existing)?;
    let ids_json = serde_json::Value::from(ids).to_string();
    sql(dialect.reorder_services)
        .bind(&ids_json)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    let rows: Vec<ServiceRow> = sql(select_services!(
        "WHERE s.group_id = $1 ORDER BY s.position, s.id"
    ))
    .bind(group_id)
    .fetch_all(tx)
    .await?;
    rows::services(rows)
}

/// Pauses or resumes a tile's checks; pausing closes its open incident.
pub async fn set_paused(db: &dyn Backend, id: i64, paused: bool) -> StoreResult<Service> {
    let mut tx = db.write().await?;
    let service = set_paused_in(&mut tx, id, paused).await?;
    tx.commit().await?;
    Ok(service)
}

/// Pauses or resumes a tile inside a write transaction.
pub async fn set_paused_in(tx: &mut Tx, id: i64, paused: bool) -> StoreResult<Service> {
    let at = now();
    let updated = sql("UPDATE services SET paused = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(paused)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    if updated == 0 {
        return Err(StoreError::not_found("service", id));
    }
    let state = match paused {
        true => ServiceState::Paused,
        false => ServiceState::Unknown,
    };
    sql(
        "INSERT INTO service_status (service_id, state, since, failures) VALUES ($1, $2, $3, 0) \
         ON CONFLICT (service_id) DO UPDATE SET state = excluded.state, since = excluded.since, failures = 0",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(at)
    .execute(&mut *tx)
    .await?;
    if paused {
        sql("UPDATE incidents SET ended_at = $2 WHERE service_id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
    }
    get_in(tx, id).await
}

/// Every tile the engine should check: with a check, not paused.
pub async fn watched(db: &dyn Backend) -> StoreResult<Vec<WatchedTile>> {
    let rows: Vec<WatchedRow> = sql(
        "SELECT s.id, s.group_id, s.url, s.check_spec, st.state, st.since, \
         st.alerted_state, st.alerted_since, st.flapping_since, st.cert_warned_expiry, st.cert_warned_days \
         FROM services s LEFT JOIN service_status st ON st.service_id = s.id \
         WHERE s.check_spec IS NOT NULL AND NOT s.paused ORDER BY s.id",
    )
    .fetch_all(db.reader()?)
    .await?;
    rows.into_iter().map(WatchedTile::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
