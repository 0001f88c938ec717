//! Replicas on one PostgreSQL: which replica runs which check, and what replicas tell each other.
//! PostgreSQL itself is the only coordinator; there is no broker and no home-made consensus.
//!
//! **Membership.** Each replica keeps a row in `replicas` and renews its `seen_at` every heartbeat (2 s). A row
//! not renewed for `dead_after` (10 s) is a replica that died. A replica that joins a running cluster takes part
//! from `active_from`, three heartbeats after it registered, so that every other replica has read its row before
//! it starts; one leaving sets `active_until` a heartbeat and a half ahead and keeps checking until then. All
//! times are read off PostgreSQL's clock (each replica measures its offset at every heartbeat).
//!
//! **Ownership.** A check's due times are aligned to the clock (a tile with a 60 s interval is due at the same
//! instants on every replica), and each due time belongs to one replica: of the replicas active at that instant,
//! the one with the highest hash of (replica, tile) — rendezvous hashing. Every replica computes the same owner
//! for the same due time from the same rows, so a hand-over happens at one instant on both sides: the old owner
//! runs the due times before it, the new owner those after it. When a replica joins, about 1/N of the tiles move
//! to it and none move between the others; when one dies, its tiles spread over the rest once its row is older
//! than `dead_after` (taken over within `dead_after` plus a heartbeat plus one interval). A replica whose own
//! heartbeat has failed for `dead_after` minus a heartbeat runs nothing, so it has stopped before the others take
//! its tiles. The one-off jobs (pruning history) run on the owner of a fixed key; notifications are claimed
//! row by row from the outbox (`claim_notifications`, `FOR UPDATE SKIP LOCKED`), so each is sent once.
//!
//! **Relay.** After a replica stores a batch of results it inserts what it found into `cluster_events` (one row
//! per batch) and sends `NOTIFY homewatch_events`; every other replica reads the rows on the notification, and
//! every second in any case (where NOTIFY does not exist, polling alone carries the events). A reader lays the
//! results over its engine's live statuses, tells its event streams and its dashboard, and applies push calls
//! for tiles it owns. Configuration changes travel the same way: every replica's engine and pages reload.
//!
//! SQLite is one process: a second process on the same file refuses to start (see `store::sqlite`).

#![cfg_attr(not(feature = "postgres"), allow(dead_code))]

#[cfg(feature = "postgres")]
use std::collections::HashMap;
use std::{
    sync::{Arc, OnceLock, RwLock},
    time::Duration,
};

use chrono::{DateTime, Utc};
use poem_openapi::types::{ParseFromJSON, ToJSON};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{
    model::{CheckResult, ServiceState, ServiceStatus},
    monitor::engine::{Engine, PushCall},
    store::Store,
};

/// How replicas keep in touch; the defaults suit any cluster, tests make them shorter.
#[derive(Debug, Clone, Copy)]
pub struct ClusterConfig {
    /// How often a replica renews its row and reads the others'.
    pub heartbeat: Duration,
    /// A replica whose row was not renewed for this long is dead: its checks go to the others.
    pub dead_after: Duration,
    /// How often events are read when no notification came.
    pub poll: Duration,
    /// Whether this replica takes part in checking; one that does not serves the API and pages only.
    pub checks: bool,
}

impl ClusterConfig {
    pub const DEFAULT: Self = Self {
        heartbeat: Duration::from_secs(2),
        dead_after: Duration::from_secs(10),
        poll: Duration::from_secs(1),
        checks: true,
    };

    /// A joining replica starts checking this long after it registered: every other replica has read its row
    /// by then.
    fn join_after(&self) -> Duration {
        self.heartbeat * 3
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What one replica tells the others.
// Relays are mostly `Checked`, collected in a Vec per batch: boxing it would only add an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Relay {
    /// A check ran: its result, the tile's status after it, and a state change it caused (outside maintenance).
    Checked {
        result: CheckResult,
        status: ServiceStatus,
        change: Option<(ServiceState, ServiceState)>,
    },
    /// Groups, tiles or maintenance windows changed.
    Config,
    /// A push check's URL was called on a replica that does not own the tile.
    Push { service_id: i64, call: PushCall },
}

impl Relay {
    pub fn to_json(&self) -> Value {
        match self {
            Relay::Checked {
                result,
                status,
                change,
            } => json!({
                "t": "checked",
                "result": result.to_json(),
                "status": status.to_json(),
                "change": change.map(|(state, previous)| json!([state.to_json(), previous.to_json()])),
            }),
            Relay::Config => json!({ "t": "config" }),
            Relay::Push { service_id, call } => json!({
                "t": "push",
                "service_id": service_id,
                "start": call.start,
                "ok": call.ok,
                "message": call.message,
                "duration_ms": call.duration_ms,
            }),
        }
    }

    pub fn from_json(value: &Value) -> Option<Self> {
        fn parse<T: ParseFromJSON>(value: Option<&Value>) -> Option<T> {
            T::parse_from_json(value.cloned()).ok()
        }
        match value.get("t")?.as_str()? {
            "checked" => {
                let change = match value.get("change") {
                    Some(Value::Array(pair)) if pair.len() == 2 => {
                        Some((parse(pair.first())?, parse(pair.get(1))?))
                    }
                    _ => None,
                };
                Some(Relay::Checked {
                    result: parse(value.get("result"))?,
                    status: parse(value.get("status"))?,
                    change,
                })
            }
            "config" => Some(Relay::Config),
            "push" => Some(Relay::Push {
                service_id: value.get("service_id")?.as_i64()?,
                call: PushCall {
                    start: value.get("start")?.as_bool()?,
                    ok: value.get("ok")?.as_bool()?,
                    message: value.get("message").and_then(Value::as_str).map(str::to_owned),
                    duration_ms: value
                        .get("duration_ms")
                        .and_then(Value::as_u64)
                        .and_then(|ms| u32::try_from(ms).ok()),
                },
            }),
            _ => None,
        }
    }
}

/// A replica as the others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    id: String,
    seed: u64,
    active_from: i64,
    active_until: Option<i64>,
}

impl Member {
    fn active_at(&self, at_ms: i64) -> bool {
        self.active_from <= at_ms && self.active_until.is_none_or(|until| at_ms < until)
    }
}

/// What this replica last read of the cluster.
#[derive(Debug, Default)]
struct View {
    members: Vec<Member>,
    /// PostgreSQL's clock minus this machine's, in milliseconds.
    offset_ms: i64,
    /// Until when (cluster time) this replica may run checks: its last heartbeat plus `dead_after` minus a
    /// heartbeat. 0 before the first heartbeat.
    fresh_until: i64,
}

/// The seed of a replica's hashes, the same in every process.
fn seed_of(id: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
}

/// Rendezvous weight of a tile on a replica (splitmix64 of both).
fn weight(seed: u64, key: i64) -> u64 {
    let mut z = seed ^ (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key whose owner runs the cluster's one-off jobs (pruning history).
pub const JOBS_KEY: i64 = -1;

/// This process's place in the cluster; a single process (SQLite, or PostgreSQL without peers) owns everything.
pub struct Cluster {
    id: String,
    config: ClusterConfig,
    clustered: bool,
    view: RwLock<View>,
    outbox: OnceLock<mpsc::UnboundedSender<Vec<Relay>>>,
    engine: OnceLock<Engine>,
    #[cfg(feature = "postgres")]
    pool: Option<sqlx::PgPool>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.id)
            .field("clustered", &self.clustered)
            .finish()
    }
}

/// A name for this replica: a random part and the process id (no host name: `/readyz`, which anyone may call,
/// shows it; the log line at start ties it to its machine).
fn replica_id() -> String {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{random}-{}", std::process::id())
}

impl Cluster {
    /// One process that owns every check.
    pub fn solo() -> Arc<Self> {
        Arc::new(Self {
            id: replica_id(),
            config: ClusterConfig::DEFAULT,
            clustered: false,
            view: RwLock::default(),
            outbox: OnceLock::new(),
            engine: OnceLock::new(),
            #[cfg(feature = "postgres")]
            pool: None,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn is_clustered(&self) -> bool {
        self.clustered
    }

    fn view(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether this replica runs the check of `service_id` due at `at`.
    pub fn owns(&self, key: i64, at: DateTime<Utc>) -> bool {
        if !self.clustered {
            return true;
        }
        let view = self.view();
        let at_ms = at.timestamp_millis() + view.offset_ms;
        if at_ms >= view.fresh_until {
            return false;
        }
        view.members
            .iter()
            .filter(|member| member.active_at(at_ms))
            .max_by_key(|member| (weight(member.seed, key), &member.id))
            .is_some_and(|owner| owner.id == self.id)
    }

    /// Whether this replica takes part in checking now, and how many replicas do.
    pub fn readiness(&self) -> (bool, usize) {
        if !self.clustered {
            return (true, 1);
        }
        let view = self.view();
        let now_ms = Utc::now().timestamp_millis() + view.offset_ms;
        let active = view.members.iter().filter(|m| m.active_at(now_ms));
        let count = active.clone().count();
        let me = now_ms < view.fresh_until && active.clone().any(|m| m.id == self.id);
        (me, count)
    }

    /// Sends what this replica found to the others (nothing when alone).
    pub fn publish(&self, relays: Vec<Relay>) {
        if relays.is_empty() {
            return;
        }
        if let Some(outbox) = self.outbox.get() {
            let _ = outbox.send(relays);
        }
    }

    /// Connects the engine: relayed events go to it, and local configuration changes are announced through it
    /// (to this replica's event streams, and to the other replicas).
    pub fn attach(self: &Arc<Self>, engine: Engine, store: Arc<dyn Store>) {
        let _ = self.engine.set(engine.clone());
        let cluster = self.clone();
        tokio::spawn(async move {
            loop {
                store.changes().config_written().await;
                // A burst of writes (an applied configuration file) is one announcement.
                tokio::time::sleep(Duration::from_millis(20)).await;
                engine.announce_config_changed();
                cluster.publish(vec![Relay::Config]);
            }
        });
    }

    fn deliver(&self, relays: Vec<Relay>) {
        if let Some(engine) = self.engine.get() {
            engine.relayed(relays);
        }
    }

    /// Leaves the cluster: checks are handed over a heartbeat and a half from now, and this returns after that.
    pub async fn leave(&self) {
        #[cfg(feature = "postgres")]
        if let Some(pool) = &self.pool {
            pg::leave(self, pool).await;
        }
    }
}

/// Membership, relay and shared login state on PostgreSQL.
#[cfg(feature = "postgres")]
pub mod pg {
    use super::*;
    use sqlx::PgPool;

    /// PostgreSQL's clock in milliseconds since the epoch, the time every replica goes by.
    pub const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
    const CHANNEL: &str = "homewatch_events";
    /// Events are read again this far back, so a row committed after a later one is not missed.
    const LOOKBACK_MS: i64 = 3_000;

    /// Joins the cluster of this PostgreSQL: registers, and keeps the heartbeat, the relay and the reader
    /// running. The first heartbeat is done when this returns.
    pub async fn join(pool: PgPool, config: ClusterConfig) -> Result<Arc<Cluster>, sqlx::Error> {
        let (outbox, outgoing) = mpsc::unbounded_channel();
        let cluster = Arc::new(Cluster {
            id: replica_id(),
            config,
            clustered: true,
            view: RwLock::default(),
            outbox: OnceLock::new(),
            engine: OnceLock::new(),
            pool: Some(pool.clone()),
        });
        let _ = cluster.outbox.set(outbox);
        beat(&cluster, &pool, true).await?;
        tokio::spawn(heartbeats(cluster.clone(), pool.clone()));
        tokio::spawn(send(cluster.clone(), pool.clone(), outgoing));
        tokio::spawn(receive(cluster.clone(), pool));
        tracing::info!(replica = %cluster.id, "joined the replicas on this PostgreSQL");
        Ok(cluster)
    }

    /// Renews this replica's row and reads every live one.
    async fn beat(cluster: &Cluster, pool: &PgPool, tidy: bool) -> Result<(), sqlx::Error> {
        let dead_after = cluster.config.dead_after.as_millis() as i64;
        let join_after = cluster.config.join_after().as_millis() as i64;
        let before = Utc::now().timestamp_millis();
        let mut tx = pool.begin().await?;
        // Registrations one at a time: two replicas starting together never both think they are alone.
        sqlx::query("SELECT pg_advisory_xact_lock(7324023)")
            .execute(&mut *tx)
            .await?;
        let now: i64 = sqlx::query_scalar(&format!("SELECT {NOW_MS}"))
            .fetch_one(&mut *tx)
            .await?;
        let after = Utc::now().timestamp_millis();
        let others: i64 = sqlx::query_scalar("SELECT count(*) FROM replicas WHERE id <> $1 AND seen_at > $2")
            .bind(&cluster.id)
            .bind(now - dead_after)
            .fetch_one(&mut *tx)
            .await?;
        // Alone, a replica checks at once; joining others, it waits until they have all read its row. One that
        // was away for longer than `dead_after` joins again (its checks have gone to the others meanwhile).
        // One that does not check is never active.
        let active_from = match (cluster.config.checks, others) {
            (false, _) => i64::MAX,
            (true, 0) => now,
            (true, _) => now + join_after,
        };
        sqlx::query(
            "INSERT INTO replicas (id, started_at, seen_at, active_from) VALUES ($1, $2, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET seen_at = $2, active_from = CASE \
               WHEN replicas.seen_at < $2 - $4 THEN $3 ELSE replicas.active_from END",
        )
        .bind(&cluster.id)
        .bind(now)
        .bind(active_from)
        .bind(dead_after)
        .execute(&mut *tx)
        .await?;
        let rows: Vec<(String, i64, Option<i64>)> =
            sqlx::query_as("SELECT id, active_from, active_until FROM replicas WHERE seen_at > $1")
                .bind(now - dead_after)
                .fetch_all(&mut *tx)
                .await?;
        if tidy {
            sqlx::query("DELETE FROM replicas WHERE seen_at < $1")
                .bind(now - 3_600_000)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM cluster_events WHERE at < $1")
                .bind(now - 60_000)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM login_backoff WHERE seen_at < $1 AND (blocked_until IS NULL OR blocked_until < $2)")
                .bind(now - 86_400_000)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let members = rows
            .into_iter()
            .map(|(id, active_from, active_until)| Member {
                seed: seed_of(&id),
                id,
                active_from,
                active_until,
            })
            .collect();
        let mut view = cluster.view.write().unwrap_or_else(|p| p.into_inner());
        view.members = members;
        view.offset_ms = now - (before + after) / 2;
        view.fresh_until = now + dead_after - cluster.config.heartbeat.as_millis() as i64;
        Ok(())
    }

    async fn heartbeats(cluster: Arc<Cluster>, pool: PgPool) {
        let mut beats = 0u64;
        let mut failing = false;
        loop {
            tokio::time::sleep(cluster.config.heartbeat).await;
            beats += 1;
            match beat(&cluster, &pool, beats.is_multiple_of(30)).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("the replica heartbeat works again");
                }
                Ok(()) => {}
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!(error = %err, "cannot renew this replica's heartbeat; it stops checking \
                        within {} s unless PostgreSQL answers again", cluster.config.dead_after.as_secs());
                }
                Err(_) => {}
            }
        }
    }

    /// Inserts what this replica found, one row per batch, and wakes the others.
    async fn send(cluster: Arc<Cluster>, pool: PgPool, mut outgoing: mpsc::UnboundedReceiver<Vec<Relay>>) {
        while let Some(mut relays) = outgoing.recv().await {
            while let Ok(more) = outgoing.try_recv() {
                relays.extend(more);
            }
            let body = Value::Array(relays.iter().map(Relay::to_json).collect()).to_string();
            let mut delay = Duration::from_millis(200);
            for attempt in 0..5 {
                // One statement: the row, and the notification sent when it commits.
                let sent = sqlx::query(&format!(
                    "WITH inserted AS (INSERT INTO cluster_events (origin, at, body) VALUES ($1, {NOW_MS}, $2) \
                     RETURNING id) SELECT pg_notify($3, '') FROM inserted"
                ))
                .bind(&cluster.id)
                .bind(&body)
                .bind(CHANNEL)
                .execute(&pool)
                .await;
                match sent {
                    Ok(_) => break,
                    Err(err) if attempt == 4 => {
                        tracing::warn!(error = %err, events = relays.len(),
                            "cannot tell the other replicas about new results; their pages catch up at the next change")
                    }
                    Err(_) => {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
        }
    }

    /// Reads the others' events on each notification, and every `poll` in any case.
    async fn receive(cluster: Arc<Cluster>, pool: PgPool) {
        let mut seen: HashMap<i64, i64> = HashMap::new();
        let mut cursor: i64 = loop {
            match sqlx::query_scalar::<_, Option<i64>>("SELECT max(id) FROM cluster_events")
                .fetch_one(&pool)
                .await
            {
                Ok(max) => break max.unwrap_or(0),
                Err(_) => tokio::time::sleep(cluster.config.poll).await,
            }
        };
        let mut listener = listen(&pool).await;
        loop {
            let wait = cluster.config.poll;
            match listener.as_mut() {
                Some(listening) => match tokio::time::timeout(wait, listening.recv()).await {
                    Ok(Ok(_)) => {
                        // Replicas write about once a second each: notifications close together are one read.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        while let Ok(Ok(_)) =
                            tokio::time::timeout(Duration::from_millis(1), listening.recv()).await
                        {
                        }
                    }
                    Err(_) => {}
                    // The connection broke: poll meanwhile, and listen again.
                    Ok(Err(_)) => {
                        tokio::time::sleep(wait).await;
                        listener = listen(&pool).await;
                    }
                },
                None => {
                    tokio::time::sleep(wait).await;
                    listener = listen(&pool).await;
                }
            }
            let since = {
                let view = cluster.view();
                Utc::now().timestamp_millis() + view.offset_ms - LOOKBACK_MS
            };
            let rows: Result<Vec<(i64, String, i64, String)>, _> = sqlx::query_as(
                "SELECT id, origin, at, body FROM cluster_events WHERE id > $1 OR at > $2 ORDER BY id",
            )
            .bind(cursor)
            .bind(since)
            .fetch_all(&pool)
            .await;
            let Ok(rows) = rows else { continue };
            seen.retain(|_, at| *at > since - LOOKBACK_MS);
            for (id, origin, at, body) in rows {
                cursor = cursor.max(id);
                if seen.insert(id, at).is_some() || origin == cluster.id {
                    continue;
                }
                let relays: Vec<Relay> = match serde_json::from_str::<Value>(&body) {
                    Ok(Value::Array(items)) => items.iter().filter_map(Relay::from_json).collect(),
                    _ => Vec::new(),
                };
                cluster.deliver(relays);
            }
        }
    }

    async fn listen(pool: &PgPool) -> Option<sqlx::postgres::PgListener> {
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await.ok()?;
        listener.listen(CHANNEL).await.ok()?;
        Some(listener)
    }

    /// Hands this replica's checks over a heartbeat and a half from now, waits for that, and removes its row.
    pub(super) async fn leave(cluster: &Cluster, pool: &PgPool) {
        let ahead = (cluster.config.heartbeat.as_millis() * 3 / 2) as i64;
        let until: Result<i64, _> = sqlx::query_scalar(&format!(
            "UPDATE replicas SET active_until = {NOW_MS} + $2 WHERE id = $1 RETURNING active_until"
        ))
        .bind(&cluster.id)
        .bind(ahead)
        .fetch_one(pool)
        .await;
        if let Ok(until) = until {
            {
                let mut view = cluster.view.write().unwrap_or_else(|p| p.into_inner());
                for member in view.members.iter_mut().filter(|m| m.id == cluster.id) {
                    member.active_until = Some(until);
                }
            }
            tokio::time::sleep(Duration::from_millis(ahead as u64 + 200)).await;
        }
        let _ = sqlx::query("DELETE FROM replicas WHERE id = $1")
            .bind(&cluster.id)
            .execute(pool)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, from: i64, until: Option<i64>) -> Member {
        Member {
            id: id.into(),
            seed: seed_of(id),
            active_from: from,
            active_until: until,
        }
    }

    fn cluster(me: &str, members: Vec<Member>) -> Cluster {
        Cluster {
            id: me.into(),
            config: ClusterConfig::DEFAULT,
            clustered: true,
            view: RwLock::new(View {
                members,
                offset_ms: 0,
                fresh_until: i64::MAX,
            }),
            outbox: OnceLock::new(),
            engine: OnceLock::new(),
            #[cfg(feature = "postgres")]
            pool: None,
        }
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn every_due_time_has_exactly_one_owner_across_joins_and_leaves() {
        let members = vec![
            member("a", 0, None),
            member("b", 0, Some(5_000)),
            member("c", 3_000, None),
        ];
        let replicas: Vec<Cluster> = ["a", "b", "c"]
            .iter()
            .map(|id| cluster(id, members.clone()))
            .collect();
        for tile in 1..500 {
            for ms in [0, 2_999, 3_000, 4_999, 5_000, 9_000] {
                let owners = replicas.iter().filter(|r| r.owns(tile, at(ms))).count();
                assert_eq!(owners, 1, "tile {tile} at {ms} ms");
            }
        }
        // Work spreads: after the join and the leave, a and c share the tiles about evenly.
        let of_c = (1..1000)
            .filter(|tile| replicas[2].owns(*tile, at(9_000)))
            .count();
        assert!((400..600).contains(&of_c), "{of_c} of 999");
        // Before the join, c owns nothing; b owns nothing after it left.
        assert!((1..500).all(|tile| !replicas[2].owns(tile, at(2_999))));
        assert!((1..500).all(|tile| !replicas[1].owns(tile, at(5_000))));
    }

    #[test]
    fn a_removed_replica_never_makes_two_owners() {
        // b has dropped d (dead) from its view, a has not yet: still at most one owner per tile.
        let full = vec![member("a", 0, None), member("b", 0, None), member("d", 0, None)];
        let without_d = vec![member("a", 0, None), member("b", 0, None)];
        let a = cluster("a", full);
        let b = cluster("b", without_d);
        for tile in 1..2000 {
            assert!(!(a.owns(tile, at(1)) && b.owns(tile, at(1))), "tile {tile}");
        }
    }

    #[test]
    fn a_replica_without_a_recent_heartbeat_runs_nothing() {
        let replica = cluster("a", vec![member("a", 0, None)]);
        replica.view.write().unwrap().fresh_until = 10_000;
        assert!(replica.owns(1, at(9_999)));
        assert!(!replica.owns(1, at(10_000)));
    }

    #[test]
    fn relays_survive_their_json() {
        let relays = [
            Relay::Config,
            Relay::Push {
                service_id: 7,
                call: PushCall {
                    start: false,
                    ok: false,
                    message: Some("disk full".into()),
                    duration_ms: Some(1200),
                },
            },
        ];
        for relay in relays {
            assert_eq!(Relay::from_json(&relay.to_json()), Some(relay));
        }
    }
}
