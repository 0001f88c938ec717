//! Persistence: the `Store` trait the rest of the program talks to, and its two implementations,
//! SQLite (always built) and PostgreSQL (cargo feature `postgres`), chosen at run time by URL.
//!
//! The SQL is written once, grouped by aggregate (`groups`, `services`, `history`, `accounts`), and runs on
//! either store through `sql`; `sqlite` and `postgres` hold only connections and what really differs.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{
    Alert, ApiToken, Channel, ChannelDraft, CheckResult, DashboardRows, Group, GroupPatch, HistoryBatch,
    Incident, IncidentFilter, NewGroup, NewService, Notification, NotificationFilter, Role, Rollup, Scope,
    Service, ServiceFilter, ServicePage, ServicePatch, Session, StoredUser, User, WatchedTile,
    alerts::{AttemptOutcome, DeliveryAttempt, Outgoing, ReminderDue},
    maintenance::MaintenanceDraft,
    public::{NewPost, NewPostUpdate, Post, PostPatch, StatusPageDraft},
};

mod accounts;
mod alerts;
mod groups;
mod history;
pub mod maintenance;
mod manifest;
mod migrations;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod public;
mod rows;
pub mod rules;
mod services;
pub mod sql;
pub mod sqlite;

use sql::Backend;

pub use maintenance::StoredMaintenance;
pub use public::StoredStatusPage;

/// What a store operation can fail with; both stores produce these the same way.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The entity does not exist (404).
    #[error("{entity} {id} does not exist")]
    NotFound { entity: &'static str, id: i64 },
    /// A uniqueness rule or the current state forbids the change (409).
    #[error("{message}")]
    Conflict {
        field: Option<&'static str>,
        message: String,
    },
    /// The request refers to something that does not fit, e.g. an unknown group (422).
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// The database cannot be reached or is not usable right now (503).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else; logged, never shown to clients (500).
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    pub fn not_found(entity: &'static str, id: i64) -> Self {
        Self::NotFound { entity, id }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which of the two stores is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters of what this process wrote, read by caches (the dashboard) to know whether what they hold is
/// still current. Each is raised after a write's transaction has committed (or failed: a cache re-reads
/// rather than guess), so a reader that saw the old value before reading re-reads next time.
#[derive(Debug, Default)]
pub struct Changes {
    /// Groups and tiles: created, edited, moved, paused, deleted, applied from a configuration.
    config: std::sync::atomic::AtomicU64,
    /// Check history: results, hourly rollups, statuses and incidents.
    history: std::sync::atomic::AtomicU64,
    /// The earliest hour each recent history write touched, by its `history` count (the newest 256).
    hours: std::sync::Mutex<std::collections::VecDeque<(u64, i64)>>,
    /// Told after each configuration write of this process (the cluster announces it to the others).
    written: tokio::sync::Notify,
}

impl Changes {
    pub fn config(&self) -> u64 {
        self.config.load(std::sync::atomic::Ordering::Acquire)
    }
    pub fn history(&self) -> u64 {
        self.history.load(std::sync::atomic::Ordering::Acquire)
    }
    pub fn config_changed(&self) {
        self.config.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.written.notify_one();
    }
    /// Another replica changed the configuration: what this process keeps of it is to be read again.
    pub fn config_changed_elsewhere(&self) {
        self.config.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
    /// Returns after the next configuration write of this process (at once if one came since the last call).
    pub async fn config_written(&self) {
        self.written.notified().await
    }
    /// History was written; `earliest_hour` is the earliest hour it touched (None: unknown, any hour).
    pub fn history_changed(&self, earliest_hour: Option<i64>) {
        let mut hours = self.hours.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = self.history.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
        if hours.len() == 256 {
            hours.pop_front();
        }
        hours.push_back((count, earliest_hour.unwrap_or(i64::MIN)));
    }
    /// The earliest hour touched by history writes after count `seen`; None when that is no longer known
    /// (then any hour may have changed).
    pub fn hours_touched_since(&self, seen: u64) -> Option<i64> {
        let hours = self.hours.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match hours.front() {
            Some((first, _)) if *first <= seen + 1 => Some(
                hours
                    .iter()
                    .filter(|(count, _)| *count > seen)
                    .map(|(_, hour)| *hour)
                    .min()
                    .unwrap_or(i64::MAX),
            ),
            None if self.history() == seen => Some(i64::MAX),
            _ => None,
        }
    }
}

/// How many of the embedded migrations the database has applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationStatus {
    pub applied: usize,
    pub expected: usize,
}

impl MigrationStatus {
    pub fn is_current(&self) -> bool {
        self.applied >= self.expected
    }
}

/// Everything the program asks of a database. Handlers hold `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn kind(&self) -> StoreKind;
    /// What this process changed so far (see [`Changes`]).
    fn changes(&self) -> &Changes;
    /// The PostgreSQL pool, for coordinating replicas (None on SQLite).
    #[cfg(feature = "postgres")]
    fn postgres_pool(&self) -> Option<sqlx::PgPool>;
    /// A short, password-free description of where the data lives, for logs.
    fn describe(&self) -> String;
    /// Proves the database answers a query; callers bound the time it may take.
    async fn ping(&self) -> StoreResult<()>;
    async fn migrate(&self) -> StoreResult<()>;
    async fn migration_status(&self) -> StoreResult<MigrationStatus>;
    async fn close(&self);

    async fn list_groups(&self) -> StoreResult<Vec<Group>>;
    async fn get_group(&self, id: i64) -> StoreResult<Group>;
    async fn create_group(&self, group: &NewGroup) -> StoreResult<Group>;
    async fn update_group(&self, id: i64, patch: &GroupPatch) -> StoreResult<Group>;
    /// Refuses (Conflict) while the group has tiles, unless `cascade` deletes them too.
    async fn delete_group(&self, id: i64, cascade: bool) -> StoreResult<()>;
    /// `ids` must name every group once; returns the groups in their new order.
    async fn reorder_groups(&self, ids: &[i64]) -> StoreResult<Vec<Group>>;

    async fn list_services(&self, filter: &ServiceFilter) -> StoreResult<ServicePage>;
    async fn get_service(&self, id: i64) -> StoreResult<Service>;
    async fn create_service(&self, service: &NewService) -> StoreResult<Service>;
    async fn update_service(&self, id: i64, patch: &ServicePatch) -> StoreResult<Service>;
    async fn delete_service(&self, id: i64) -> StoreResult<()>;
    /// The tile whose push check has this token, if any.
    async fn find_push(&self, token: &str) -> StoreResult<Option<i64>>;
    /// A new token for a tile's push check (409 without one); the old token stops working.
    async fn rotate_push_token(&self, id: i64) -> StoreResult<Service>;
    /// `ids` must name every tile of the group once; returns its tiles in their new order.
    async fn reorder_services(&self, group_id: i64, ids: &[i64]) -> StoreResult<Vec<Service>>;
    /// Pauses or resumes a tile's checks; pausing closes its open incident.
    async fn set_paused(&self, id: i64, paused: bool) -> StoreResult<Service>;
    /// The tiles the engine checks: those with a check, not paused.
    async fn watched_services(&self) -> StoreResult<Vec<WatchedTile>>;

    /// All groups in order with their tiles in order, and each tile's hourly counts from `first_hour`,
    /// read in one consistent snapshot.
    async fn dashboard(&self, first_hour: i64) -> StoreResult<DashboardRows>;
    /// Every group in order, and `(id, group_id, position, updated_at)` of every tile, from one snapshot.
    async fn tile_stamps(&self) -> StoreResult<(Vec<Group>, Vec<(i64, i64, i64, DateTime<Utc>)>)>;
    /// Every tile's hourly counts (checks, passed, latency sum) from `from_hour`, as `(service_id, hour, rollup)`.
    async fn hour_counts(&self, from_hour: i64) -> StoreResult<Vec<(i64, i64, Rollup)>>;

    /// Writes what the engine found, in one transaction. Rows of tiles deleted meanwhile are skipped.
    async fn record_history(&self, batch: &HistoryBatch) -> StoreResult<()>;
    /// Raw results of one tile, newest first, with `since <= checked_at < until`.
    async fn results(
        &self,
        service_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<CheckResult>>;
    /// Hourly rollups of one tile for hours `from_hour..=to_hour`, oldest first.
    async fn rollups(&self, service_id: i64, from_hour: i64, to_hour: i64)
    -> StoreResult<Vec<(i64, Rollup)>>;
    async fn incidents(&self, filter: &IncidentFilter) -> StoreResult<Vec<Incident>>;
    /// Deletes at most `limit` raw results older than `raw_before_ms` and rollups older than `rollups_before_hour`;
    /// returns how many rows went, so callers can repeat in small steps without long locks.
    async fn prune_history(
        &self,
        raw_before_ms: i64,
        rollups_before_hour: i64,
        limit: u32,
    ) -> StoreResult<u64>;

    /// Sums each tile's hourly rollups of the UTC days `from_day..before_day` (days since the epoch) into one
    /// row per day, at its first hour; returns how many rows went.
    async fn compact_rollups(&self, from_day: i64, before_day: i64) -> StoreResult<u64>;
    /// The earliest day before `before_day` that still has hourly rollups; None when all are per day.
    async fn first_hourly_day(&self, before_day: i64) -> StoreResult<Option<i64>>;

    async fn count_users(&self) -> StoreResult<i64>;
    /// Conflict (field `username`) when the name is taken, ignoring case. With `only_if_none`, also Conflict
    /// when any user exists already (the first admin is created once, even by two requests at once).
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        only_if_none: bool,
    ) -> StoreResult<User>;
    async fn get_user(&self, id: i64) -> StoreResult<StoredUser>;
    /// The user with this name, ignoring case.
    async fn find_user(&self, username: &str) -> StoreResult<Option<StoredUser>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Changes a role and/or the password. Refuses (Conflict) to leave no admin. A new password ends every
    /// session of the user but the one it keeps, and their API tokens when asked to.
    async fn update_user(
        &self,
        id: i64,
        role: Option<Role>,
        password: Option<PasswordReset<'_>>,
    ) -> StoreResult<User>;
    /// Deletes a user with their sessions and tokens; refuses (Conflict) to delete the last admin.
    async fn delete_user(&self, id: i64) -> StoreResult<()>;

    async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Session>;
    /// The session with this hash and its user, whether or not it has expired (the caller decides).
    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<(Session, User)>>;
    async fn extend_session(
        &self,
        id: i64,
        seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;

    async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        scope: Scope,
        token_hash: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<ApiToken>;
    /// The token with this hash and its user, whether or not it has expired (the caller decides).
    async fn find_token(&self, token_hash: &str) -> StoreResult<Option<(ApiToken, User)>>;
    async fn touch_token(&self, id: i64, used_at: DateTime<Utc>) -> StoreResult<()>;
    /// Tokens of one user, or of everyone; newest first.
    async fn list_tokens(&self, user_id: Option<i64>) -> StoreResult<Vec<ApiToken>>;
    /// Deletes a token, of `user_id` only when given (NotFound otherwise).
    async fn delete_token(&self, id: i64, user_id: Option<i64>) -> StoreResult<()>;
    /// Deletes sessions and tokens that expired before `now`; returns how many went.
    async fn prune_expired_access(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Channels with their secrets (callers mask them), by name.
    async fn list_channels(&self) -> StoreResult<Vec<Channel>>;
    async fn get_channel(&self, id: i64) -> StoreResult<Channel>;
    /// Conflict (field `name`) for a taken name; Invalid for an unknown group or tile.
    async fn create_channel(&self, channel: &ChannelDraft) -> StoreResult<Channel>;
    /// Replaces the channel whole.
    async fn update_channel(&self, id: i64, channel: &ChannelDraft) -> StoreResult<Channel>;
    /// Its notifications stay in the log; undelivered ones fail.
    async fn delete_channel(&self, id: i64) -> StoreResult<()>;

    /// The delivery log, newest first.
    async fn list_notifications(&self, filter: &NotificationFilter) -> StoreResult<Vec<Notification>>;
    async fn get_notification(&self, id: i64) -> StoreResult<Notification>;
    /// Queues a copy of a delivered or failed notification (Conflict while it is pending).
    async fn resend_notification(&self, id: i64) -> StoreResult<Notification>;
    /// Claims due notifications for `worker` until `lease_until`; rows claimed by another live worker are
    /// skipped (on PostgreSQL without waiting for their locks).
    async fn claim_notifications(
        &self,
        worker: &str,
        at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Outgoing>>;
    /// Extends a claim before an attempt; false when it was lost.
    async fn renew_claim(&self, id: i64, worker: &str, until: DateTime<Utc>) -> StoreResult<bool>;
    async fn finish_attempt(
        &self,
        id: i64,
        worker: &str,
        attempt: &DeliveryAttempt,
        outcome: &AttemptOutcome,
    ) -> StoreResult<()>;
    /// Tiles still down, with each channel that reminds about them.
    async fn reminders_due(&self) -> StoreResult<Vec<ReminderDue>>;
    /// Queues a reminder for one channel unless its key is stored already; true when queued.
    async fn enqueue_reminder(&self, alert: &Alert, channel_id: i64) -> StoreResult<bool>;

    async fn list_maintenance(&self) -> StoreResult<Vec<StoredMaintenance>>;
    async fn get_maintenance(&self, id: i64) -> StoreResult<StoredMaintenance>;
    async fn create_maintenance(&self, draft: &MaintenanceDraft) -> StoreResult<StoredMaintenance>;
    async fn update_maintenance(&self, id: i64, draft: &MaintenanceDraft) -> StoreResult<StoredMaintenance>;
    async fn delete_maintenance(&self, id: i64) -> StoreResult<()>;

    async fn list_status_pages(&self) -> StoreResult<Vec<StoredStatusPage>>;
    async fn get_status_page(&self, id: i64) -> StoreResult<StoredStatusPage>;
    async fn create_status_page(&self, draft: &StatusPageDraft) -> StoreResult<StoredStatusPage>;
    async fn update_status_page(&self, id: i64, draft: &StatusPageDraft) -> StoreResult<StoredStatusPage>;
    async fn delete_status_page(&self, id: i64) -> StoreResult<()>;

    /// The newest posts first, each with its updates (newest first).
    async fn list_posts(&self, limit: u32) -> StoreResult<Vec<Post>>;
    async fn get_post(&self, id: i64) -> StoreResult<Post>;
    async fn create_post(&self, post: &NewPost) -> StoreResult<Post>;
    async fn update_post(&self, id: i64, patch: &PostPatch) -> StoreResult<Post>;
    async fn add_post_update(&self, id: i64, update: &NewPostUpdate) -> StoreResult<Post>;
    async fn delete_post(&self, id: i64) -> StoreResult<()>;

    /// One tile's counts summed over the hours `from_hour..=to_hour`.
    async fn rollup_total(&self, service_id: i64, from_hour: i64, to_hour: i64) -> StoreResult<Rollup>;
    /// The given tiles' counts per UTC day, as `(service_id, day, rollup)`.
    async fn daily_rollups(
        &self,
        service_ids: &[i64],
        from_hour: i64,
        to_hour: i64,
    ) -> StoreResult<Vec<(i64, i64, Rollup)>>;
    /// How busy the connection pools are, for `/metrics`.
    fn pool_use(&self) -> Vec<PoolUse>;
    /// Each tile's `(service_id, checks, ok, short_checks, short_ok)` from `long_from` and from `short_from`
    /// to `to_hour`.
    async fn uptime_windows(
        &self,
        long_from: i64,
        short_from: i64,
        to_hour: i64,
    ) -> StoreResult<Vec<(i64, i64, i64, i64, i64)>>;
    /// Notifications in the log by channel and status: `(channel_id, channel_name, status, count)`.
    async fn notification_counts(&self) -> StoreResult<Vec<(Option<i64>, String, String, i64)>>;
    /// Carries out a configuration plan's steps in one transaction: all of them, or none.
    async fn apply_config(&self, ops: &[crate::manifest::Op]) -> StoreResult<()>;
}

/// One connection pool's use: `name` is `reader` or `writer` (SQLite) or `main` (PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    pub name: &'static str,
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// A new password for a user, and what ends with the old one.
#[derive(Debug, Clone, Copy)]
pub struct PasswordReset<'a> {
    /// The new password's hash.
    pub hash: &'a str,
    /// The session that stays (the one changing its own password); every other session of the user ends.
    pub keep_session: Option<i64>,
    /// Also delete the user's API tokens.
    pub revoke_tokens: bool,
}

/// Every backend is a store: the one implementation, over the shared SQL of each aggregate.
#[async_trait]
impl<B: Backend> Store for B {
    fn kind(&self) -> StoreKind {
        Backend::kind(self)
    }
    fn changes(&self) -> &Changes {
        Backend::changes(self)
    }
    #[cfg(feature = "postgres")]
    fn postgres_pool(&self) -> Option<sqlx::PgPool> {
        Backend::postgres_pool(self)
    }
    fn describe(&self) -> String {
        Backend::describe(self)
    }
    async fn ping(&self) -> StoreResult<()> {
        Backend::ping(self).await
    }
    async fn migrate(&self) -> StoreResult<()> {
        Backend::migrate(self).await
    }
    async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        let applied: i64 = sql::sql(self.dialect().applied_migrations)
            .scalar(self.reader()?)
            .await?;
        Ok(MigrationStatus {
            applied: usize::try_from(applied).unwrap_or_default(),
            expected: self.migrator().iter().count(),
        })
    }
    async fn close(&self) {
        Backend::close(self).await
    }

    async fn list_groups(&self) -> StoreResult<Vec<Group>> {
        groups::list(self).await
    }
    async fn get_group(&self, id: i64) -> StoreResult<Group> {
        groups::get(self, id).await
    }
    async fn create_group(&self, group: &NewGroup) -> StoreResult<Group> {
        let outcome = groups::create(self, group).await;
        self.changes().config_changed();
        outcome
    }
    async fn update_group(&self, id: i64, patch: &GroupPatch) -> StoreResult<Group> {
        let outcome = groups::update(self, id, patch).await;
        self.changes().config_changed();
        outcome
    }
    async fn delete_group(&self, id: i64, cascade: bool) -> StoreResult<()> {
        let outcome = groups::delete(self, id, cascade).await;
        self.changes().config_changed();
        outcome
    }
    async fn reorder_groups(&self, ids: &[i64]) -> StoreResult<Vec<Group>> {
        let outcome = groups::reorder(self, ids).await;
        self.changes().config_changed();
        outcome
    }

    async fn list_services(&self, filter: &ServiceFilter) -> StoreResult<ServicePage> {
        services::list(self, filter).await
    }
    async fn get_service(&self, id: i64) -> StoreResult<Service> {
        services::get(self, id).await
    }
    async fn find_push(&self, token: &str) -> StoreResult<Option<i64>> {
        services::find_push(self, token).await
    }
    async fn rotate_push_token(&self, id: i64) -> StoreResult<Service> {
        let outcome = services::rotate_push_token(self, id).await;
        self.changes().config_changed();
        outcome
    }
    async fn create_service(&self, service: &NewService) -> StoreResult<Service> {
        let outcome = services::create(self, service).await;
        self.changes().config_changed();
        outcome
    }
    async fn update_service(&self, id: i64, patch: &ServicePatch) -> StoreResult<Service> {
        let outcome = services::update(self, id, patch).await;
        self.changes().config_changed();
        outcome
    }
    async fn delete_service(&self, id: i64) -> StoreResult<()> {
        let outcome = services::delete(self, id).await;
        self.changes().config_changed();
        outcome
    }
    async fn reorder_services(&self, group_id: i64, ids: &[i64]) -> StoreResult<Vec<Service>> {
        let outcome = services::reorder(self, group_id, ids).await;
        self.changes().config_changed();
        outcome
    }
    async fn set_paused(&self, id: i64, paused: bool) -> StoreResult<Service> {
        let outcome = services::set_paused(self, id, paused).await;
        self.changes().config_changed();
        outcome
    }
    async fn watched_services(&self) -> StoreResult<Vec<WatchedTile>> {
        services::watched(self).await
    }

    async fn dashboard(&self, first_hour: i64) -> StoreResult<DashboardRows> {
        history::dashboard(self, first_hour).await
    }
    async fn tile_stamps(&self) -> StoreResult<(Vec<Group>, Vec<(i64, i64, i64, DateTime<Utc>)>)> {
        history::tile_stamps(self).await
    }
    async fn hour_counts(&self, from_hour: i64) -> StoreResult<Vec<(i64, i64, Rollup)>> {
        history::hour_counts(self, from_hour).await
    }
    async fn record_history(&self, batch: &HistoryBatch) -> StoreResult<()> {
        let outcome = history::record(self, batch).await;
        let earliest = batch
            .results
            .iter()
            .map(|result| crate::model::hour_of_ms(result.checked_at.timestamp_millis()))
            .min();
        self.changes().history_changed(earliest.or(Some(i64::MAX)));
        outcome
    }
    async fn results(
        &self,
        service_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<CheckResult>> {
        history::results(self, service_id, since, until, limit).await
    }
    async fn rollups(
        &self,
        service_id: i64,
        from_hour: i64,
        to_hour: i64,
    ) -> StoreResult<Vec<(i64, Rollup)>> {
        history::rollups(self, service_id, from_hour, to_hour).await
    }
    async fn incidents(&self, filter: &IncidentFilter) -> StoreResult<Vec<Incident>> {
        history::incidents(self, filter).await
    }
    async fn prune_history(
        &self,
        raw_before_ms: i64,
        rollups_before_hour: i64,
        limit: u32,
    ) -> StoreResult<u64> {
        history::prune(self, raw_before_ms, rollups_before_hour, limit).await
    }

    async fn compact_rollups(&self, from_day: i64, before_day: i64) -> StoreResult<u64> {
        history::compact_rollups(self, from_day, before_day).await
    }
    async fn first_hourly_day(&self, before_day: i64) -> StoreResult<Option<i64>> {
        history::first_hourly_day(self, before_day).await
    }

    async fn count_users(&self) -> StoreResult<i64> {
        accounts::count_users(self).await
    }
    async fn create_user(
        &self,
        username: &str,
        hash: &str,
        role: Role,
        only_if_none: bool,
    ) -> StoreResult<User> {
        accounts::create_user(self, username, hash, role, only_if_none).await
    }
    async fn get_user(&self, id: i64) -> StoreResult<StoredUser> {
        accounts::get_user(self, id).await
    }
    async fn find_user(&self, username: &str) -> StoreResult<Option<StoredUser>> {
        accounts::find_user(self, username).await
    }
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        accounts::list_users(self).await
    }
    async fn update_user(
        &self,
        id: i64,
        role: Option<Role>,
        password: Option<PasswordReset<'_>>,
    ) -> StoreResult<User> {
        accounts::update_user(self, id, role, password).await
    }
    async fn delete_user(&self, id: i64) -> StoreResult<()> {
        accounts::delete_user(self, id).await
    }

    async fn create_session(
        &self,
        user_id: i64,
        hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Session> {
        accounts::create_session(self, user_id, hash, expires_at).await
    }
    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<(Session, User)>> {
        accounts::find_session(self, token_hash).await
    }
    async fn extend_session(
        &self,
        id: i64,
        seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        accounts::extend_session(self, id, seen_at, expires_at).await
    }
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        accounts::delete_session(self, token_hash).await
    }

    async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        scope: Scope,
        token_hash: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<ApiToken> {
        accounts::create_token(self, user_id, name, scope, token_hash, expires_at).await
    }
    async fn find_token(&self, token_hash: &str) -> StoreResult<Option<(ApiToken, User)>> {
        accounts::find_token(self, token_hash).await
    }
    async fn touch_token(&self, id: i64, used_at: DateTime<Utc>) -> StoreResult<()> {
        accounts::touch_token(self, id, used_at).await
    }
    async fn list_tokens(&self, user_id: Option<i64>) -> StoreResult<Vec<ApiToken>> {
        accounts::list_tokens(self, user_id).await
    }
    async fn delete_token(&self, id: i64, user_id: Option<i64>) -> StoreResult<()> {
        accounts::delete_token(self, id, user_id).await
    }
    async fn prune_expired_access(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        accounts::prune_expired_access(self, now).await
    }

    async fn list_channels(&self) -> StoreResult<Vec<Channel>> {
        alerts::list_channels(self).await
    }
    async fn get_channel(&self, id: i64) -> StoreResult<Channel> {
        alerts::get_channel(self, id).await
    }
    async fn create_channel(&self, channel: &ChannelDraft) -> StoreResult<Channel> {
        alerts::create_channel(self, channel).await
    }
    async fn update_channel(&self, id: i64, channel: &ChannelDraft) -> StoreResult<Channel> {
        alerts::update_channel(self, id, channel).await
    }
    async fn delete_channel(&self, id: i64) -> StoreResult<()> {
        alerts::delete_channel(self, id).await
    }
    async fn list_notifications(&self, filter: &NotificationFilter) -> StoreResult<Vec<Notification>> {
        alerts::list_notifications(self, filter).await
    }
    async fn get_notification(&self, id: i64) -> StoreResult<Notification> {
        alerts::get_notification(self, id).await
    }
    async fn resend_notification(&self, id: i64) -> StoreResult<Notification> {
        alerts::resend_notification(self, id).await
    }
    async fn claim_notifications(
        &self,
        worker: &str,
        at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Outgoing>> {
        alerts::claim_notifications(self, worker, at, lease_until, limit).await
    }
    async fn renew_claim(&self, id: i64, worker: &str, until: DateTime<Utc>) -> StoreResult<bool> {
        alerts::renew_claim(self, id, worker, until).await
    }
    async fn finish_attempt(
        &self,
        id: i64,
        worker: &str,
        attempt: &DeliveryAttempt,
        outcome: &AttemptOutcome,
    ) -> StoreResult<()> {
        alerts::finish_attempt(self, id, worker, attempt, outcome).await
    }
    async fn reminders_due(&self) -> StoreResult<Vec<ReminderDue>> {
        alerts::reminders_due(self).await
    }
    async fn enqueue_reminder(&self, alert: &Alert, channel_id: i64) -> StoreResult<bool> {
        alerts::enqueue_reminder(self, alert, channel_id).await
    }

    async fn list_maintenance(&self) -> StoreResult<Vec<StoredMaintenance>> {
        maintenance::list(self).await
    }
    async fn get_maintenance(&self, id: i64) -> StoreResult<StoredMaintenance> {
        maintenance::get(self, id).await
    }
    // Windows count as configuration: other replicas' engines read them again at once.
    async fn create_maintenance(&self, draft: &MaintenanceDraft) -> StoreResult<StoredMaintenance> {
        let outcome = maintenance::create(self, draft).await;
        self.changes().config_changed();
        outcome
    }
    async fn update_maintenance(&self, id: i64, draft: &MaintenanceDraft) -> StoreResult<StoredMaintenance> {
        let outcome = maintenance::update(self, id, draft).await;
        self.changes().config_changed();
        outcome
    }
    async fn delete_maintenance(&self, id: i64) -> StoreResult<()> {
        let outcome = maintenance::delete(self, id).await;
        self.changes().config_changed();
        outcome
    }

    async fn list_status_pages(&self) -> StoreResult<Vec<StoredStatusPage>> {
        public::list_pages(self).await
    }
    async fn get_status_page(&self, id: i64) -> StoreResult<StoredStatusPage> {
        public::get_page(self, id).await
    }
    async fn create_status_page(&self, draft: &StatusPageDraft) -> StoreResult<StoredStatusPage> {
        public::create_page(self, draft).await
    }
    async fn update_status_page(&self, id: i64, draft: &StatusPageDraft) -> StoreResult<StoredStatusPage> {
        public::update_page(self, id, draft).await
    }
    async fn delete_status_page(&self, id: i64) -> StoreResult<()> {
        public::delete_page(self, id).await
    }
    async fn list_posts(&self, limit: u32) -> StoreResult<Vec<Post>> {
        public::list_posts(self, limit).await
    }
    async fn get_post(&self, id: i64) -> StoreResult<Post> {
        public::get_post(self, id).await
    }
    async fn create_post(&self, post: &NewPost) -> StoreResult<Post> {
        public::create_post(self, post).await
    }
    async fn update_post(&self, id: i64, patch: &PostPatch) -> StoreResult<Post> {
        public::update_post(self, id, patch).await
    }
    async fn add_post_update(&self, id: i64, update: &NewPostUpdate) -> StoreResult<Post> {
        public::add_post_update(self, id, update).await
    }
    async fn delete_post(&self, id: i64) -> StoreResult<()> {
        public::delete_post(self, id).await
    }
    async fn rollup_total(&self, service_id: i64, from_hour: i64, to_hour: i64) -> StoreResult<Rollup> {
        public::rollup_total(self, service_id, from_hour, to_hour).await
    }
    async fn daily_rollups(
        &self,
        service_ids: &[i64],
        from_hour: i64,
        to_hour: i64,
    ) -> StoreResult<Vec<(i64, i64, Rollup)>> {
        public::daily_rollups(self, service_ids, from_hour, to_hour).await
    }
    fn pool_use(&self) -> Vec<PoolUse> {
        Backend::pool_use(self)
    }
    async fn uptime_windows(
        &self,
        long_from: i64,
        short_from: i64,
        to_hour: i64,
    ) -> StoreResult<Vec<(i64, i64, i64, i64, i64)>> {
        public::uptime_windows(self, long_from, short_from, to_hour).await
    }
    async fn apply_config(&self, ops: &[crate::manifest::Op]) -> StoreResult<()> {
        let outcome = manifest::apply(self, ops).await;
        self.changes().config_changed();
        outcome
    }
    async fn notification_counts(&self) -> StoreResult<Vec<(Option<i64>, String, String, i64)>> {
        public::notification_counts(self).await
    }
}

/// Pool sizes and timeouts; every figure can be changed through the environment (see `config`).
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// PostgreSQL: most connections open at once.
    pub max_connections: u32,
    /// PostgreSQL: connections kept open while idle.
    pub min_connections: u32,
    /// PostgreSQL: connections are closed and replaced after this long.
    pub max_lifetime: Duration,
    /// Both: how long a query waits for a free connection before the store reports itself unavailable.
    pub acquire_timeout: Duration,
    /// SQLite: read-only connections beside the single writer.
    pub sqlite_readers: u32,
    /// SQLite: how long a statement waits on a lock held by another process.
    pub sqlite_busy_timeout: Duration,
}

impl PoolConfig {
    /// The defaults, which `config` shows and `--help` documents.
    pub const DEFAULT: Self = Self {
        max_connections: 25,
        min_connections: 5,
        max_lifetime: Duration::from_secs(300),
        acquire_timeout: Duration::from_secs(5),
        sqlite_readers: 4,
        sqlite_busy_timeout: Duration::from_secs(5),
    };
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A database URL that never shows its password, in logs, errors or `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, to hand to the driver and nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn scheme(&self) -> &str {
        self.0.split_once(':').map_or("", |(scheme, _)| scheme)
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut parsed) if parsed.password().is_some() => {
                let _ = parsed.set_password(Some("***"));
                parsed.to_string()
            }
            Ok(_) => self.0.clone(),
            Err(_) => match self.0.split_once("://") {
                Some((scheme, _)) => format!("{scheme}://(unparseable URL hidden)"),
                None => "(unparseable URL hidden)".into(),
            },
        }
    }

    /// Removes the password from a message in case a driver quoted the URL back.
    pub fn scrub(&self, message: &str) -> String {
        match url::Url::parse(&self.0)
            .ok()
            .and_then(|u| u.password().map(str::to_owned))
        {
            Some(password) if !password.is_empty() => message.replace(&password, "***"),
            _ => message.to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL names a database this build cannot talk to, or is malformed; retrying will not help.
    #[error("{0}")]
    Config(String),
    /// The database did not answer or refused us; it may come up later.
    #[error("{0}")]
    Unreachable(String),
}

impl ConnectError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}

/// Opens the store the URL names: `sqlite:` (always) or `postgres:`/`postgresql:` (feature `postgres`).
pub async fn connect(url: &DatabaseUrl, pool: &PoolConfig) -> Result<Arc<dyn Store>, ConnectError> {
    match url.scheme() {
        "sqlite" => Ok(Arc::new(sqlite::SqliteStore::connect(url, pool).await?)),
        "postgres" | "postgresql" => connect_postgres(url, pool).await,
        "" => Err(ConnectError::Config(format!(
            "DATABASE_URL `{url}` has no scheme: use sqlite://PATH (for example sqlite://data/homewatch.db) \
             or postgres://USER:PASSWORD@HOST:5432/DATABASE"
        ))),
        other => Err(ConnectError::Config(format!(
            "DATABASE_URL scheme `{other}:` is not supported: use sqlite://PATH or postgres://USER@HOST/DATABASE"
        ))),
    }
}

#[cfg(feature = "postgres")]
async fn connect_postgres(url: &DatabaseUrl, pool: &PoolConfig) -> Result<Arc<dyn Store>, ConnectError> {
    Ok(Arc::new(postgres::PostgresStore::connect(url, pool).await?))
}

#[cfg(not(feature = "postgres"))]
async fn connect_postgres(_url: &DatabaseUrl, _pool: &PoolConfig) -> Result<Arc<dyn Store>, ConnectError> {
    Err(ConnectError::Config(
        "DATABASE_URL is a PostgreSQL URL, but this homewatch was built without PostgreSQL support. \
         Rebuild with `cargo build --release --features postgres` (the Docker image already has it), \
         or use an SQLite URL such as sqlite://data/homewatch.db"
            .into(),
    ))
}

/// Opens the store, retrying with backoff while the database is unreachable, for at most `patience`.
pub async fn connect_with_retry(
    url: &DatabaseUrl,
    pool: &PoolConfig,
    patience: Duration,
) -> Result<Arc<dyn Store>, ConnectError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1u32;
    loop {
        match connect(url, pool).await {
            Ok(store) => return Ok(store),
            Err(err) if err.is_retryable() && tokio::time::Instant::now() + delay < deadline => {
                tracing::warn!(attempt, retry_in_ms = delay.as_millis() as u64, "{err}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_never_shows_its_password() {
        let url = DatabaseUrl::new("postgres://app:s3cret-pw@db.lan:5432/homewatch");
        assert_eq!(url.redacted(), "postgres://app:***@db.lan:5432/homewatch");
        assert!(!format!("{url:?} {url}").contains("s3cret-pw"));
        assert_eq!(
            url.scrub("failed for postgres://app:s3cret-pw@db"),
            "failed for postgres://app:***@db"
        );
        assert_eq!(
            DatabaseUrl::new("sqlite://data/x.db").redacted(),
            "sqlite://data/x.db"
        );
    }
}
