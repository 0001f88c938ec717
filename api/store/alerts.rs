//! Channels, the notification outbox with its delivery attempts, and reminders. Notifications are written
//! in the transaction that stores the state change causing them (`enqueue`), claimed by dispatchers for a
//! lease (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several replicas never claim the same row), and
//! finished with each attempt's outcome.

use chrono::{DateTime, Utc};

use super::{
    StoreError, StoreResult,
    sql::{Backend, Tx, Violations, from_row, sql},
};
use crate::model::{
    Alert, AlertKind, Channel, ChannelDraft, ChannelSettings, Notification, NotificationFilter,
    alerts::{AttemptOutcome, DeliveryAttempt, DeliveryStatus, Outgoing, ReminderDue},
    now,
};

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

struct ChannelRow {
    id: i64,
    name: String,
    settings: String,
    all_tiles: bool,
    enabled: bool,
    remind_every_s: Option<i32>,
    created_at: i64,
    updated_at: i64,
}

from_row!(ChannelRow {
    id,
    name,
    settings,
    all_tiles,
    enabled,
    remind_every_s,
    created_at,
    updated_at
});

struct TargetRow {
    channel_id: i64,
    group_id: Option<i64>,
    service_id: Option<i64>,
}

from_row!(TargetRow {
    channel_id,
    group_id,
    service_id
});

const CHANNEL_COLUMNS: &str =
    "SELECT id, name, settings, all_tiles, enabled, remind_every_s, created_at, updated_at FROM channels";

fn channel(row: ChannelRow, targets: &[TargetRow]) -> StoreResult<Channel> {
    let settings: ChannelSettings = serde_json::from_str(&row.settings)
        .map_err(|err| StoreError::Other(format!("channel {}: settings are not readable: {err}", row.id)))?;
    let mine = || targets.iter().filter(|t| t.channel_id == row.id);
    Ok(Channel {
        id: row.id,
        name: row.name,
        settings,
        all_tiles: row.all_tiles,
        groups: mine().filter_map(|t| t.group_id).collect(),
        services: mine().filter_map(|t| t.service_id).collect(),
        remind_every_min: row.remind_every_s.and_then(|s| u32::try_from(s / 60).ok()),
        enabled: row.enabled,
        created_at: from_ms(row.created_at),
        updated_at: from_ms(row.updated_at),
    })
}

fn name_clash(name: &str) -> StoreError {
    StoreError::Conflict {
        field: Some("name"),
        message: format!("a channel named `{name}` already exists"),
    }
}

/// Every channel with its secrets, by name.
pub async fn list_channels(db: &dyn Backend) -> StoreResult<Vec<Channel>> {
    let mut tx = db.snapshot().await?;
    let rows: Vec<ChannelRow> = sql(&format!("{CHANNEL_COLUMNS} ORDER BY lower(name), id"))
        .fetch_all(&mut tx)
        .await?;
    let targets: Vec<TargetRow> =
        sql("SELECT channel_id, group_id, service_id FROM channel_targets ORDER BY group_id, service_id")
            .fetch_all(&mut tx)
            .await?;
    tx.commit().await?;
    rows.into_iter().map(|row| channel(row, &targets)).collect()
}

async fn read_channel(tx: &mut Tx, id: i64) -> StoreResult<Channel> {
    let row: ChannelRow = sql(&format!("{CHANNEL_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::not_found("channel", id))?;
    let targets: Vec<TargetRow> = sql("SELECT channel_id, group_id, service_id FROM channel_targets \
         WHERE channel_id = $1 ORDER BY group_id, service_id")
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    channel(row, &targets)
}

/// One channel with its secrets.
pub async fn get_channel(db: &dyn Backend, id: i64) -> StoreResult<Channel> {
    let mut tx = db.snapshot().await?;
    let channel = read_channel(&mut tx, id).await?;
    tx.commit().await?;
    Ok(channel)
}

fn settings_json(settings: &ChannelSettings) -> StoreResult<String> {
    serde_json::to_string(settings).map_err(|err| StoreError::Other(err.to_string()))
}

/// Replaces the groups and tiles a channel (or a maintenance window) hears; an unknown id is refused.
pub async fn set_targets(
    tx: &mut Tx,
    table: &str,
    owner_column: &str,
    owner: i64,
    groups: &[i64],
    services: &[i64],
) -> StoreResult<()> {
    sql(&format!("DELETE FROM {table} WHERE {owner_column} = $1"))
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    for (field, entity, column, ids) in [
        ("groups", "groups", "group_id", groups),
        ("services", "services", "service_id", services),
    ] {
        let text = format!(
            "INSERT INTO {table} ({owner_column}, {column}) SELECT $1, $2 \
             WHERE EXISTS (SELECT 1 FROM {entity} WHERE id = $2)"
        );
        for id in ids {
            let inserted = sql(&text).bind(owner).bind(*id).execute(&mut *tx).await?;
            if inserted == 0 {
                let what = if entity == "groups" { "group" } else { "service" };
                return Err(StoreError::Invalid {
                    field,
                    message: format!("{what} {id} does not exist"),
                });
            }
        }
    }
    Ok(())
}

pub async fn create_channel(db: &dyn Backend, new: &ChannelDraft) -> StoreResult<Channel> {
    let mut tx = db.write().await?;
    let done = create_channel_in(&mut tx, new).await?;
    tx.commit().await?;
    Ok(done)
}

/// `create_channel` inside a write transaction.
pub async fn create_channel_in(tx: &mut Tx, new: &ChannelDraft) -> StoreResult<Channel> {
    let at = now().timestamp_millis();
    let id: i64 = sql(
        "INSERT INTO channels (name, kind, settings, all_tiles, enabled, remind_every_s, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(&new.name)
    .bind(new.settings.kind().as_str())
    .bind(&settings_json(&new.settings)?)
    .bind(new.all_tiles)
    .bind(new.enabled)
    .bind(new.remind_every_min.map(|m| i64::from(m) * 60))
    .bind(at)
    .scalar(&mut *tx)
    .await
    .on_unique(|| name_clash(&new.name))?;
    set_targets(
        &mut *tx,
        "channel_targets",
        "channel_id",
        id,
        &new.groups,
        &new.services,
    )
    .await?;
    read_channel(&mut *tx, id).await
}

/// Replaces a channel whole (the API merges a patch into the stored channel first).
pub async fn update_channel(db: &dyn Backend, id: i64, new: &ChannelDraft) -> StoreResult<Channel> {
    let mut tx = db.write().await?;
    let done = update_channel_in(&mut tx, id, new).await?;
    tx.commit().await?;
    Ok(done)
}

/// `update_channel` inside a write transaction.
pub async fn update_channel_in(tx: &mut Tx, id: i64, new: &ChannelDraft) -> StoreResult<Channel> {
    let updated = sql(
        "UPDATE channels SET name = $2, kind = $3, settings = $4, all_tiles = $5, enabled = $6, \
         remind_every_s = $7, updated_at = $8 WHERE id = $1",
    )
    .bind(id)
    .bind(&new.name)
    .bind(new.settings.kind().as_str())
    .bind(&settings_json(&new.settings)?)
    .bind(new.all_tiles)
    .bind(new.enabled)
    .bind(new.remind_every_min.map(|m| i64::from(m) * 60))
    .bind(now().timestamp_millis())
    .execute(&mut *tx)
    .await
    .on_unique(|| name_clash(&new.name))?;
    if updated == 0 {
        return Err(StoreError::not_found("channel", id));
    }
    set_targets(
        &mut *tx,
        "channel_targets",
        "channel_id",
        id,
        &new.groups,
        &new.services,
    )
    .await?;
    read_channel(&mut *tx, id).await
}

/// Deletes a channel; its notifications stay in the log (without it), and undelivered ones fail.
pub async fn delete_channel(db: &dyn Backend, id: i64) -> StoreResult<()> {
    let mut tx = db.write().await?;
    delete_channel_in(&mut tx, id).await?;
    tx.commit().await
}

/// `delete_channel` inside a write transaction.
pub async fn delete_channel_in(tx: &mut Tx, id: i64) -> StoreResult<()> {
    sql("UPDATE notifications SET status = 'failed', finished_at = $2, claimed_by = NULL, claimed_until = NULL \
         WHERE channel_id = $1 AND status = 'pending'")
    .bind(id)
    .bind(now().timestamp_millis())
    .execute(&mut *tx)
    .await?;
    let deleted = sql("DELETE FROM channels WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if deleted == 0 {
        return Err(StoreError::not_found("channel", id));
    }
    Ok(())
}

/// Stores one notification of `alert` per enabled channel that hears its tile (or only for `channel`),
/// unless one with the same idempotency key exists already.
pub async fn enqueue(tx: &mut Tx, alert: &Alert, channel: Option<i64>) -> StoreResult<u64> {
    let at = alert.at.timestamp_millis();
    Ok(sql("INSERT INTO notifications (idempotency_key, channel_id, channel_name, service_id, service_name, \
         group_name, event, payload, created_at, next_attempt_at) \
         SELECT $1 || ':' || c.id, c.id, c.name, s.id, s.name, g.name, $2, $3, $4, $4 \
         FROM services s JOIN groups g ON g.id = s.group_id JOIN channels c ON c.enabled \
         WHERE s.id = $5 AND ($6 IS NULL OR c.id = $6) AND (c.all_tiles OR EXISTS (SELECT 1 FROM channel_targets t \
         WHERE t.channel_id = c.id AND (t.service_id = s.id OR t.group_id = s.group_id))) \
         ON CONFLICT (idempotency_key) DO NOTHING")
    .bind(&alert.key_prefix())
    .bind(alert.kind.as_str())
    .bind(&alert.payload())
    .bind(at)
    .bind(alert.service_id)
    .bind(channel)
    .execute(&mut *tx)
    .await?)
}

struct NotificationRow {
    id: i64,
    idempotency_key: String,
    channel_id: Option<i64>,
    channel_name: String,
    service_id: Option<i64>,
    service_name: String,
    group_name: Option<String>,
    event: String,
    payload: String,
    created_at: i64,
    status: String,
    next_attempt_at: i64,
    finished_at: Option<i64>,
}

from_row!(NotificationRow {
    id,
    idempotency_key,
    channel_id,
    channel_name,
    service_id,
    service_name,
    group_name,
    event,
    payload,
    created_at,
    status,
    next_attempt_at,
    finished_at
});

const NOTIFICATION_COLUMNS: &str = "id, idempotency_key, channel_id, channel_name, service_id, service_name, \
     group_name, event, payload, created_at, status, next_attempt_at, finished_at";

struct AttemptRow {
    notification_id: i64,
    attempt: i32,
    at: i64,
    duration_ms: i32,
    ok: bool,
    status_code: Option<i32>,
    detail: String,
}

from_row!(AttemptRow {
    notification_id,
    attempt,
    at,
    duration_ms,
    ok,
    status_code,
    detail
});

fn alert_of(row: &NotificationRow) -> Alert {
    serde_json::from_str(&row.payload).unwrap_or_else(|_| Alert {
        service_id: row.service_id.unwrap_or_default(),
        kind: AlertKind::parse(&row.event).unwrap_or(AlertKind::Down),
        at: from_ms(row.created_at),
        since: from_ms(row.created_at),
        cause: None,
        downtime_s: None,
        changes: None,
        window_min: None,
        reminder: None,
    })
}

fn notification(row: NotificationRow, attempts: &[AttemptRow]) -> Notification {
    let alert = alert_of(&row);
    let status = DeliveryStatus::parse(&row.status).unwrap_or(DeliveryStatus::Pending);
    Notification {
        attempts: attempts
            .iter()
            .filter(|a| a.notification_id == row.id)
            .map(|a| DeliveryAttempt {
                attempt: u32::try_from(a.attempt).unwrap_or_default(),
                at: from_ms(a.at),
                duration_ms: u32::try_from(a.duration_ms).unwrap_or_default(),
                ok: a.ok,
                status_code: a.status_code.and_then(|c| u16::try_from(c).ok()),
                detail: a.detail.clone(),
            })
            .collect(),
        id: row.id,
        idempotency_key: row.idempotency_key,
        channel_id: row.channel_id,
        channel_name: row.channel_name,
        service_id: row.service_id,
        service_name: row.service_name,
        group_name: row.group_name,
        event: alert.kind,
        cause: alert.cause,
        since: alert.since,
        downtime_s: alert.downtime_s,
        status,
        created_at: from_ms(row.created_at),
        next_attempt_at: (status == DeliveryStatus::Pending).then(|| from_ms(row.next_attempt_at)),
        finished_at: row.finished_at.map(from_ms),
    }
}

/// The delivery log, newest first, with each notification's attempts.
pub async fn list_notifications(
    db: &dyn Backend,
    filter: &NotificationFilter,
) -> StoreResult<Vec<Notification>> {
    let mut tx = db.snapshot().await?;
    let rows: Vec<NotificationRow> = sql(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE ($1 IS NULL OR status = $1) \
         AND ($2 IS NULL OR channel_id = $2) AND ($3 IS NULL OR service_id = $3) AND ($4 IS NULL OR id < $4) \
         ORDER BY id DESC LIMIT $5"
    ))
    .bind(filter.status.map(|s| s.as_str()))
    .bind(filter.channel_id)
    .bind(filter.service_id)
    .bind(filter.before_id)
    .bind(filter.limit.max(1))
    .fetch_all(&mut tx)
    .await?;
    let (Some(first), Some(last)) = (rows.last(), rows.first()) else {
        tx.commit().await?;
        return Ok(Vec::new());
    };
    let attempts: Vec<AttemptRow> = sql(
        "SELECT notification_id, attempt, at, duration_ms, ok, status_code, detail \
         FROM notification_attempts WHERE notification_id >= $1 AND notification_id <= $2 \
         ORDER BY notification_id, attempt",
    )
    .bind(first.id)
    .bind(last.id)
    .fetch_all(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(|row| notification(row, &attempts)).collect())
}

pub async fn get_notification(db: &dyn Backend, id: i64) -> StoreResult<Notification> {
    let mut tx = db.snapshot().await?;
    let found = read_notification(&mut tx, id).await?;
    tx.commit().await?;
    Ok(found)
}

async fn read_notification(tx: &mut Tx, id: i64) -> StoreResult<Notification> {
    let row: NotificationRow = sql(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::not_found("notification", id))?;
    let attempts: Vec<AttemptRow> = sql(
        "SELECT notification_id, attempt, at, duration_ms, ok, status_code, detail \
         FROM notification_attempts WHERE notification_id = $1 ORDER BY attempt",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    Ok(notification(row, &attempts))
}

/// A new notification with the same content to the same channel, to be delivered again; the original stays
/// in the log as it was. Refused (Conflict) while the original is still pending.
pub async fn resend_notification(db: &dyn Backend, id: i64) -> StoreResult<Notification> {
    let mut tx = db.write().await?;
    let original = read_notification(&mut tx, id).await?;
    if original.status == DeliveryStatus::Pending {
        return Err(StoreError::Conflict {
            field: None,
            message: format!(
                "notification {id} is still being delivered; send it again once it is delivered or failed"
            ),
        });
    }
    if original.channel_id.is_none() {
        return Err(StoreError::Conflict {
            field: None,
            message: format!("the channel of notification {id} was deleted; there is nowhere to send it"),
        });
    }
    let at = now().timestamp_millis();
    let new_id: i64 = sql("INSERT INTO notifications (idempotency_key, channel_id, channel_name, service_id, \
         service_name, group_name, event, payload, created_at, next_attempt_at) \
         SELECT idempotency_key || ':again:' || $2, channel_id, channel_name, service_id, service_name, group_name, \
         event, payload, $2, $2 FROM notifications WHERE id = $1 RETURNING id")
    .bind(id)
    .bind(at)
    .scalar(&mut tx)
    .await
    .on_unique(|| StoreError::Conflict {
        field: None,
        message: format!("notification {id} was just sent again; wait a moment"),
    })?;
    let created = read_notification(&mut tx, new_id).await?;
    tx.commit().await?;
    Ok(created)
}

struct ClaimedRow {
    id: i64,
    idempotency_key: String,
    channel_id: Option<i64>,
    channel_name: String,
    service_id: Option<i64>,
    service_name: String,
    group_name: Option<String>,
    event: String,
    payload: String,
    created_at: i64,
    attempts: i32,
}

from_row!(ClaimedRow {
    id,
    idempotency_key,
    channel_id,
    channel_name,
    service_id,
    service_name,
    group_name,
    event,
    payload,
    created_at,
    attempts
});

/// Claims up to `limit` due notifications for `worker` until `lease_until`.
pub async fn claim_notifications(
    db: &dyn Backend,
    worker: &str,
    at: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Vec<Outgoing>> {
    let mut tx = db.write().await?;
    let rows: Vec<ClaimedRow> = sql(db.dialect().claim_notifications)
        .bind(worker)
        .bind(lease_until.timestamp_millis())
        .bind(at.timestamp_millis())
        .bind(limit)
        .fetch_all(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let alert = alert_of(&NotificationRow {
                id: row.id,
                idempotency_key: String::new(),
                channel_id: None,
                channel_name: String::new(),
                service_id: row.service_id,
                service_name: String::new(),
                group_name: None,
                event: row.event.clone(),
                payload: row.payload.clone(),
                created_at: row.created_at,
                status: String::new(),
                next_attempt_at: 0,
                finished_at: None,
            });
            Outgoing {
                id: row.id,
                idempotency_key: row.idempotency_key,
                channel_id: row.channel_id,
                channel_name: row.channel_name,
                service_id: row.service_id,
                service_name: row.service_name,
                group_name: row.group_name,
                alert,
                attempts: u32::try_from(row.attempts).unwrap_or_default(),
                created_at: from_ms(row.created_at),
            }
        })
        .collect())
}

/// Extends a claim just before an attempt; false when the claim was lost (another worker has the row).
pub async fn renew_claim(db: &dyn Backend, id: i64, worker: &str, until: DateTime<Utc>) -> StoreResult<bool> {
    let renewed = sql("UPDATE notifications SET claimed_until = $3 \
         WHERE id = $1 AND claimed_by = $2 AND status = 'pending'")
    .bind(id)
    .bind(worker)
    .bind(until.timestamp_millis())
    .execute(db.writer()?)
    .await?;
    Ok(renewed == 1)
}

/// Records an attempt and what comes next, and releases the claim.
pub async fn finish_attempt(
    db: &dyn Backend,
    id: i64,
    worker: &str,
    attempt: &DeliveryAttempt,
    outcome: &AttemptOutcome,
) -> StoreResult<()> {
    let mut tx = db.write().await?;
    sql("INSERT INTO notification_attempts (notification_id, attempt, at, duration_ms, ok, status_code, detail) \
         SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM notifications WHERE id = $1) \
         ON CONFLICT DO NOTHING")
    .bind(id)
    .bind(attempt.attempt)
    .bind(attempt.at.timestamp_millis())
    .bind(attempt.duration_ms)
    .bind(attempt.ok)
    .bind(attempt.status_code)
    .bind(&attempt.detail)
    .execute(&mut tx)
    .await?;
    let at = attempt.at.timestamp_millis();
    let (status, next, finished) = match outcome {
        AttemptOutcome::Delivered => ("delivered", at, Some(at)),
        AttemptOutcome::Failed => ("failed", at, Some(at)),
        AttemptOutcome::RetryAt(next) => ("pending", next.timestamp_millis(), None),
    };
    sql(
        "UPDATE notifications SET attempts = $3, status = $4, next_attempt_at = $5, finished_at = $6, \
         claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(attempt.attempt)
    .bind(status)
    .bind(next)
    .bind(finished)
    .execute(&mut tx)
    .await?;
    tx.commit().await
}

struct ReminderRow {
    service_id: i64,
    group_id: i64,
    channel_id: i64,
    down_since: DateTime<Utc>,
    cause: Option<String>,
    every_s: i32,
}

from_row!(ReminderRow {
    service_id,
    group_id,
    channel_id,
    down_since,
    cause,
    every_s
});

/// Tiles down (and alerted as down, not flapping) with a channel that reminds.
pub async fn reminders_due(db: &dyn Backend) -> StoreResult<Vec<ReminderDue>> {
    let rows: Vec<ReminderRow> = sql("SELECT st.service_id, s.group_id, c.id AS channel_id, \
         st.alerted_since AS down_since, st.last_error AS cause, c.remind_every_s AS every_s \
         FROM service_status st JOIN services s ON s.id = st.service_id \
         JOIN channels c ON c.enabled AND c.remind_every_s IS NOT NULL \
         WHERE st.state = 'down' AND st.alerted_state = 'down' AND st.alerted_since IS NOT NULL \
         AND st.flapping_since IS NULL AND NOT s.paused \
         AND (c.all_tiles OR EXISTS (SELECT 1 FROM channel_targets t WHERE t.channel_id = c.id \
         AND (t.service_id = s.id OR t.group_id = s.group_id)))")
    .fetch_all(db.reader()?)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ReminderDue {
            service_id: row.service_id,
            group_id: row.group_id,
            channel_id: row.channel_id,
            down_since: row.down_since,
            cause: row.cause,
            every_s: i64::from(row.every_s),
        })
        .collect())
}

/// Stores a reminder for one channel (once per key).
pub async fn enqueue_reminder(db: &dyn Backend, alert: &Alert, channel_id: i64) -> StoreResult<bool> {
    let mut tx = db.write().await?;
    let stored = enqueue(&mut tx, alert, Some(channel_id)).await?;
    tx.commit().await?;
    Ok(stored > 0)
}
