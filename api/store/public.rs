//! Status pages, incident posts and their updates, and the rollup sums that badges, status pages and
//! `/metrics` read.

use chrono::{DateTime, Utc};

use super::{
    StoreError, StoreResult,
    rows::{BUCKET_COLUMNS, RollupRow},
    sql::{Backend, Tx, from_row, sql},
};
use crate::model::{
    Rollup, now,
    public::{
        NewPost, NewPostUpdate, Post, PostPatch, PostStatus, PostUpdate, StatusPageDraft, StatusSection,
    },
};

/// A status page as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStatusPage {
    pub id: i64,
    pub draft: StatusPageDraft,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

struct PageRow {
    id: i64,
    slug: String,
    title: String,
    description: String,
    icon: Option<String>,
    footer: String,
    published: bool,
    domain: Option<String>,
    show_links: bool,
    sections: String,
    created_at: i64,
    updated_at: i64,
}

from_row!(PageRow {
    id,
    slug,
    title,
    description,
    icon,
    footer,
    published,
    domain,
    show_links,
    sections,
    created_at,
    updated_at
});

const PAGE_COLUMNS: &str = "SELECT id, slug, title, description, icon, footer, published, domain, show_links, \
     sections, created_at, updated_at FROM status_pages";

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn page(row: PageRow) -> StoreResult<StoredStatusPage> {
    let sections: Vec<StatusSection> = serde_json::from_str(&row.sections).map_err(|err| {
        StoreError::Other(format!(
            "status page {}: sections are not valid JSON: {err}",
            row.id
        ))
    })?;
    Ok(StoredStatusPage {
        id: row.id,
        draft: StatusPageDraft {
            slug: row.slug,
            title: row.title,
            description: row.description,
            icon: row.icon,
            footer: row.footer,
            published: row.published,
            domain: row.domain,
            show_links: row.show_links,
            sections,
        },
        created_at: from_ms(row.created_at),
        updated_at: from_ms(row.updated_at),
    })
}

pub async fn list_pages(db: &dyn Backend) -> StoreResult<Vec<StoredStatusPage>> {
    let rows: Vec<PageRow> = sql(&format!("{PAGE_COLUMNS} ORDER BY slug"))
        .fetch_all(db.reader()?)
        .await?;
    rows.into_iter().map(page).collect()
}

pub async fn get_page(db: &dyn Backend, id: i64) -> StoreResult<StoredStatusPage> {
    let row: Option<PageRow> = sql(&format!("{PAGE_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader()?)
        .await?;
    page(row.ok_or(StoreError::not_found("status page", id))?)
}

/// Refuses a page naming a group or tile that does not exist (422), and a slug or domain another page has
/// (409).
async fn check_references(tx: &mut Tx, draft: &StatusPageDraft, id: i64) -> StoreResult<()> {
    for (index, section) in draft.sections.iter().enumerate() {
        if let Some(group) = section.group_id {
            let found: Option<(i64,)> = sql("SELECT id FROM groups WHERE id = $1")
                .bind(group)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::Invalid {
                    field: "sections",
                    message: format!("section {index}: group {group} does not exist"),
                });
            }
        }
        for service in &section.services {
            let found: Option<(i64,)> = sql("SELECT id FROM services WHERE id = $1")
                .bind(*service)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::Invalid {
                    field: "sections",
                    message: format!("section {index}: service {service} does not exist"),
                });
            }
        }
    }
    let slug_taken: Option<(i64,)> = sql("SELECT id FROM status_pages WHERE slug = $1 AND id <> $2")
        .bind(&draft.slug)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if slug_taken.is_some() {
        return Err(StoreError::Conflict {
            field: Some("slug"),
            message: format!("another status page has the slug `{}`", draft.slug),
        });
    }
    if let Some(domain) = &draft.domain {
        let domain_taken: Option<(i64,)> = sql("SELECT id FROM status_pages WHERE domain = $1 AND id <> $2")
            .bind(domain)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if domain_taken.is_some() {
            return Err(StoreError::Conflict {
                field: Some("domain"),
                message: format!("another status page is served at `{domain}`"),
            });
        }
    }
    Ok(())
}

fn sections_json(draft: &StatusPageDraft) -> StoreResult<String> {
    serde_json::to_string(&draft.sections).map_err(|err| StoreError::Other(err.to_string()))
}

async fn read_page(tx: &mut Tx, id: i64) -> StoreResult<StoredStatusPage> {
    let row: Option<PageRow> = sql(&format!("{PAGE_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    page(row.ok_or(StoreError::not_found("status page", id))?)
}

pub async fn create_page(db: &dyn Backend, draft: &StatusPageDraft) -> StoreResult<StoredStatusPage> {
    let mut tx = db.write().await?;
    let done = create_page_in(&mut tx, draft).await?;
    tx.commit().await?;
    Ok(done)
}

/// `create_page` inside a write transaction.
pub async fn create_page_in(tx: &mut Tx, draft: &StatusPageDraft) -> StoreResult<StoredStatusPage> {
    check_references(&mut *tx, draft, 0).await?;
    let sections = sections_json(draft)?;
    let id: i64 = sql(
        "INSERT INTO status_pages (slug, title, description, icon, footer, published, domain, show_links, \
         sections, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
    )
    .bind(&draft.slug)
    .bind(&draft.title)
    .bind(&draft.description)
    .bind(&draft.icon)
    .bind(&draft.footer)
    .bind(draft.published)
    .bind(&draft.domain)
    .bind(draft.show_links)
    .bind(&sections)
    .bind(now().timestamp_millis())
    .scalar(&mut *tx)
    .await?;
    read_page(&mut *tx, id).await
}

pub async fn update_page(
    db: &dyn Backend,
    id: i64,
    draft: &StatusPageDraft,
) -> StoreResult<StoredStatusPage> {
    let mut tx = db.write().await?;
    let done = update_page_in(&mut tx, id, draft).await?;
    tx.commit().await?;
    Ok(done)
}

/// `update_page` inside a write transaction.
pub async fn update_page_in(tx: &mut Tx, id: i64, draft: &StatusPageDraft) -> StoreResult<StoredStatusPage> {
    read_page(&mut *tx, id).await?;
    check_references(&mut *tx, draft, id).await?;
    let sections = sections_json(draft)?;
    sql(
        "UPDATE status_pages SET slug = $2, title = $3, description = $4, icon = $5, footer = $6, \
         published = $7, domain = $8, show_links = $9, sections = $10, updated_at = $11 WHERE id = $1",
    )
    .bind(id)
    .bind(&draft.slug)
    .bind(&draft.title)
    .bind(&draft.description)
    .bind(&draft.icon)
    .bind(&draft.footer)
    .bind(draft.published)
    .bind(&draft.domain)
    .bind(draft.show_links)
    .bind(&sections)
    .bind(now().timestamp_millis())
    .execute(&mut *tx)
    .await?;
    read_page(&mut *tx, id).await
}

pub async fn delete_page(db: &dyn Backend, id: i64) -> StoreResult<()> {
    let mut tx = db.write().await?;
    delete_page_in(&mut tx, id).await?;
    tx.commit().await
}

/// `delete_page` inside a write transaction.
pub async fn delete_page_in(tx: &mut Tx, id: i64) -> StoreResult<()> {
    let deleted = sql("DELETE FROM status_pages WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if deleted == 0 {
        return Err(StoreError::not_found("status page", id));
    }
    Ok(())
}

struct PostRow {
    id: i64,
    title: String,
    status: String,
    services: String,
    created_at: i64,
    updated_at: i64,
    resolved_at: Option<i64>,
}

from_row!(PostRow {
    id,
    title,
    status,
    services,
    created_at,
    updated_at,
    resolved_at
});

struct UpdateRow {
    id: i64,
    post_id: i64,
    status: String,
    body: String,
    created_at: i64,
}

from_row!(UpdateRow {
    id,
    post_id,
    status,
    body,
    created_at
});

fn status(text: &str) -> PostStatus {
    PostStatus::parse(text).unwrap_or(PostStatus::Investigating)
}

fn post(row: PostRow, updates: &[UpdateRow]) -> Post {
    Post {
        id: row.id,
        title: row.title,
        status: status(&row.status),
        services: serde_json::from_str(&row.services).unwrap_or_default(),
        updates: updates
            .iter()
            .filter(|update| update.post_id == row.id)
            .map(|update| PostUpdate {
                id: update.id,
                status: status(&update.status),
                body: update.body.clone(),
                created_at: from_ms(update.created_at),
            })
            .collect(),
        created_at: from_ms(row.created_at),
        updated_at: from_ms(row.updated_at),
        resolved_at: row.resolved_at.map(from_ms),
    }
}

const POST_COLUMNS: &str =
    "SELECT id, title, status, services, created_at, updated_at, resolved_at FROM posts";

/// The newest posts first, at most `limit`, each with its updates (newest first).
pub async fn list_posts(db: &dyn Backend, limit: u32) -> StoreResult<Vec<Post>> {
    let mut tx = db.snapshot().await?;
    let rows: Vec<PostRow> = sql(&format!(
        "{POST_COLUMNS} ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(i64::from(limit.max(1)))
    .fetch_all(&mut tx)
    .await?;
    let oldest = rows.last().map_or(0, |row| row.created_at);
    let updates: Vec<UpdateRow> = sql(
        "SELECT u.id, u.post_id, u.status, u.body, u.created_at FROM post_updates u \
         JOIN posts p ON p.id = u.post_id WHERE p.created_at >= $1 ORDER BY u.created_at DESC, u.id DESC",
    )
    .bind(oldest)
    .fetch_all(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(|row| post(row, &updates)).collect())
}

async fn read_post(tx: &mut Tx, id: i64) -> StoreResult<Post> {
    let row: PostRow = sql(&format!("{POST_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::not_found("post", id))?;
    let updates: Vec<UpdateRow> = sql(
        "SELECT id, post_id, status, body, created_at FROM post_updates WHERE post_id = $1 \
         ORDER BY created_at DESC, id DESC",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    Ok(post(row, &updates))
}

pub async fn get_post(db: &dyn Backend, id: i64) -> StoreResult<Post> {
    let mut tx = db.snapshot().await?;
    let found = read_post(&mut tx, id).await?;
    tx.commit().await?;
    Ok(found)
}

async fn check_tiles(tx: &mut Tx, services: &[i64]) -> StoreResult<String> {
    for service in services {
        let found: Option<(i64,)> = sql("SELECT id FROM services WHERE id = $1")
            .bind(*service)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Err(StoreError::Invalid {
                field: "services",
                message: format!("service {service} does not exist"),
            });
        }
    }
    serde_json::to_string(services).map_err(|err| StoreError::Other(err.to_string()))
}

async fn insert_update(tx: &mut Tx, id: i64, status: PostStatus, body: &str, at: i64) -> StoreResult<()> {
    sql("INSERT INTO post_updates (post_id, status, body, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(status.as_str())
        .bind(body)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    let resolved = (status == PostStatus::Resolved).then_some(at);
    sql("UPDATE posts SET status = $2, updated_at = $3, resolved_at = $4 WHERE id = $1")
        .bind(id)
        .bind(status.as_str())
        .bind(at)
        .bind(resolved)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn create_post(db: &dyn Backend, new: &NewPost) -> StoreResult<Post> {
    let mut tx = db.write().await?;
    let services = check_tiles(&mut tx, new.services.as_deref().unwrap_or_default()).await?;
    let status = new.status.unwrap_or(PostStatus::Investigating);
    let at = now().timestamp_millis();
    let id: i64 = sql(
        "INSERT INTO posts (title, status, services, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         RETURNING id",
    )
    .bind(&new.title)
    .bind(status.as_str())
    .bind(&services)
    .bind(at)
    .scalar(&mut tx)
    .await?;
    insert_update(&mut tx, id, status, &new.body, at).await?;
    let created = read_post(&mut tx, id).await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn update_post(db: &dyn Backend, id: i64, patch: &PostPatch) -> StoreResult<Post> {
    let mut tx = db.write().await?;
    let current = read_post(&mut tx, id).await?;
    let services = check_tiles(&mut tx, patch.services.as_deref().unwrap_or(&current.services)).await?;
    sql("UPDATE posts SET title = $2, services = $3, updated_at = $4 WHERE id = $1")
        .bind(id)
        .bind(patch.title.as_deref().unwrap_or(&current.title))
        .bind(&services)
        .bind(now().timestamp_millis())
        .execute(&mut tx)
        .await?;
    let updated = read_post(&mut tx, id).await?;
    tx.commit().await?;
    Ok(updated)
}

pub async fn add_post_update(db: &dyn Backend, id: i64, update: &NewPostUpdate) -> StoreResult<Post> {
    let mut tx = db.write().await?;
    let current = read_post(&mut tx, id).await?;
    // Updates are ordered by time: one written in the same millisecond as the last goes after it.
    let last = current
        .updates
        .first()
        .map_or(0, |u| u.created_at.timestamp_millis());
    let at = now().timestamp_millis().max(last + 1);
    insert_update(
        &mut tx,
        id,
        update.status.unwrap_or(current.status),
        &update.body,
        at,
    )
    .await?;
    let updated = read_post(&mut tx, id).await?;
    tx.commit().await?;
    Ok(updated)
}

pub async fn delete_post(db: &dyn Backend, id: i64) -> StoreResult<()> {
    let deleted = sql("DELETE FROM posts WHERE id = $1")
        .bind(id)
        .execute(db.writer()?)
        .await?;
    if deleted == 0 {
        return Err(StoreError::not_found("post", id));
    }
    Ok(())
}

/// One tile's counts summed over the hours `from_hour..=to_hour`, read on the rollups' key.
pub async fn rollup_total(
    db: &dyn Backend,
    service_id: i64,
    from_hour: i64,
    to_hour: i64,
) -> StoreResult<Rollup> {
    let text = format!(
        "SELECT service_id AS hour, {} FROM check_rollups \
         WHERE service_id = $1 AND hour >= $2 AND hour <= $3 GROUP BY service_id",
        summed_columns()
    );
    let row: Option<RollupRow> = sql(&text)
        .bind(service_id)
        .bind(from_hour)
        .bind(to_hour)
        .fetch_optional(db.reader()?)
        .await?;
    Ok(row.map(|row| <(i64, Rollup)>::from(row).1).unwrap_or_default())
}

/// The counts of each given tile per UTC day (`hour / 24`) over the hours `from_hour..=to_hour`, as
/// `(service_id, day, rollup)`.
pub async fn daily_rollups(
    db: &dyn Backend,
    service_ids: &[i64],
    from_hour: i64,
    to_hour: i64,
) -> StoreResult<Vec<(i64, i64, Rollup)>> {
    let mut found = Vec::new();
    // One statement per tile keeps the text fixed (no lists of placeholders) and each read on the index.
    let text = format!(
        "SELECT hour / 24 AS hour, {} FROM check_rollups \
         WHERE service_id = $1 AND hour >= $2 AND hour <= $3 GROUP BY hour / 24",
        summed_columns()
    );
    let mut tx = db.snapshot().await?;
    for service_id in service_ids {
        let rows: Vec<RollupRow> = sql(&text)
            .bind(*service_id)
            .bind(from_hour)
            .bind(to_hour)
            .fetch_all(&mut tx)
            .await?;
        found.extend(rows.into_iter().map(|row| {
            let (day, rollup) = <(i64, Rollup)>::from(row);
            (*service_id, day, rollup)
        }));
    }
    tx.commit().await?;
    Ok(found)
}

/// The rollup columns summed (min and max kept as such), in the order `RollupRow` reads them.
fn summed_columns() -> String {
    let buckets: Vec<String> = BUCKET_COLUMNS
        .split(", ")
        .map(|column| format!("CAST(SUM({column}) AS BIGINT) AS {column}"))
        .collect();
    format!(
        "CAST(SUM(checks) AS BIGINT) AS checks, CAST(SUM(ok_checks) AS BIGINT) AS ok_checks, \
         CAST(SUM(latency_sum) AS BIGINT) AS latency_sum, CAST(MIN(latency_min) AS BIGINT) AS latency_min, \
         CAST(MAX(latency_max) AS BIGINT) AS latency_max, {}",
        buckets.join(", ")
    )
}

/// Notifications in the log by channel and status.
pub async fn notification_counts(db: &dyn Backend) -> StoreResult<Vec<(Option<i64>, String, String, i64)>> {
    Ok(sql(
        "SELECT channel_id, channel_name, status, count(*) FROM notifications \
         GROUP BY channel_id, channel_name, status ORDER BY channel_id, status",
    )
    .fetch_all(db.reader()?)
    .await?)
}

/// Each tile's checks and passing checks over two windows ending at `to_hour`: from `long_from` and from
/// `short_from` (within it), as `(service_id, checks, ok, short_checks, short_ok)`. Read tile by tile on the
/// rollups' key (a join from the tiles), so a month of 1,000 tiles is read as 1,000 short ranges rather than
/// by the hour index with a lookup per row.
pub async fn uptime_windows(
    db: &dyn Backend,
    long_from: i64,
    short_from: i64,
    to_hour: i64,
) -> StoreResult<Vec<(i64, i64, i64, i64, i64)>> {
    Ok(sql(
        "SELECT s.id, CAST(SUM(r.checks) AS BIGINT), CAST(SUM(r.ok_checks) AS BIGINT), \
                CAST(SUM(CASE WHEN r.hour >= $2 THEN r.checks ELSE 0 END) AS BIGINT), \
                CAST(SUM(CASE WHEN r.hour >= $2 THEN r.ok_checks ELSE 0 END) AS BIGINT) \
         FROM services s JOIN check_rollups r ON r.service_id = s.id AND r.hour >= $1 AND r.hour <= $3 \
         GROUP BY s.id",
    )
    .bind(long_from)
    .bind(short_from)
    .bind(to_hour)
    .fetch_all(db.reader()?)
    .await?)
}
