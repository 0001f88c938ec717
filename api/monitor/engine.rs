//! The engine: one scheduler task that owns every watched tile's state and next run, probes that run
//! beside it under a concurrency bound, and a writer task that stores what they find in batches.
//! The scheduler never waits for a probe or the database, so a hanging target delays nothing else.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    future::Future,
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, Utc};
use tokio::{
    sync::{Semaphore, broadcast, mpsc, oneshot},
    task::JoinHandle,
    time::Instant,
};

use super::{
    alerting::{Alerting, FlapRule, Observation},
    maintenance::MaintenanceBoard,
    probe::{ProbeOutcome, Prober},
};
use crate::{
    cluster::{Cluster, JOBS_KEY, Relay},
    model::{
        Certificate, Check, CheckResult, CheckRun, Event, EventKind, HistoryBatch, IncidentChange, Service,
        ServiceState, ServiceStatus, StatusUpdate, WatchedTile, hour_of_ms, now,
    },
    store::{Store, StoreError},
};

/// Why a check run on request did not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckNowError {
    /// No tile has this id, or it was deleted while its check ran (404).
    #[error("service {0} does not exist")]
    NotFound(i64),
    /// The tile has no check (409).
    #[error("service {0} has no check: add one with PATCH /api/v1/services/{0} first")]
    NoCheck(i64),
    /// The tile is paused (409).
    #[error("service {0} is paused: resume it with POST /api/v1/services/{0}/resume first")]
    Paused(i64),
    /// A push check is not run by Homewatch: its job calls its URL (409).
    #[error("service {0} has a push check: nothing is probed, its job calls its push URL")]
    Push(i64),
    /// The tile stopped being watched while its check ran (deleted, paused or its check removed).
    #[error("service {0} stopped being watched while its check ran")]
    Unwatched(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the monitor engine has stopped")]
    Stopped,
}

type CheckReply = oneshot::Sender<Result<CheckRun, CheckNowError>>;

/// A call to a push check's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushCall {
    /// `/start`: a run begins; the next call measures its duration.
    pub start: bool,
    /// `status=down` reports a failed run.
    pub ok: bool,
    /// `msg=`: why a run failed (kept as its error), at most 300 characters.
    pub message: Option<String>,
    /// `duration_ms=`: how long the run took, when the job measured it.
    pub duration_ms: Option<u32>,
}

/// Why a push call was not taken.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The tile is paused, or its check is no longer a push check (409).
    #[error("service {0} is paused or has no push check now")]
    NotWatched(i64),
    #[error("the monitor engine has stopped")]
    Stopped,
}

/// What the engine keeps of a push check between calls.
struct PushWatch {
    schedule: crate::model::check::PushSchedule,
    /// The call (or missed due time, or start of watching) the next due time counts from.
    reference: DateTime<Utc>,
    /// The last call, for "no call since ...".
    last_call: Option<DateTime<Utc>>,
    /// When `/start` was called, if the run has not finished.
    started: Option<Instant>,
}

impl PushWatch {
    fn deadline(&self) -> DateTime<Utc> {
        self.schedule.deadline_after(self.reference)
    }
}

/// The `Instant` of a wall-clock time (now when it has passed).
fn instant_of(at: DateTime<Utc>) -> Instant {
    let ahead = (at - Utc::now()).to_std().unwrap_or_default();
    Instant::now() + ahead
}

/// Runs a check once. The real one is [`Prober`]; scheduler tests script outcomes with their own.
pub trait Probe: Send + Sync + 'static {
    fn run<'a>(
        &'a self,
        check: &'a Check,
        service_url: &'a str,
    ) -> Pin<Box<dyn Future<Output = ProbeOutcome> + Send + 'a>>;
}

impl Probe for Prober {
    fn run<'a>(
        &'a self,
        check: &'a Check,
        service_url: &'a str,
    ) -> Pin<Box<dyn Future<Output = ProbeOutcome> + Send + 'a>> {
        Box::pin(Prober::run(self, check, service_url))
    }
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Probes running at once, at most.
    pub concurrency: u32,
    /// How often found results are written.
    pub flush_interval: Duration,
    /// Days raw results are kept.
    pub retention_raw_days: u32,
    /// Days rollups are kept.
    pub retention_rollup_days: u32,
    /// Days rollups are kept per hour; older ones are summed per UTC day.
    pub retention_hourly_days: u32,
    /// When a tile counts as flapping.
    pub flap: FlapRule,
    /// Results found during maintenance count in uptime too.
    pub maintenance_in_uptime: bool,
}

impl EngineConfig {
    /// The defaults, which `config` shows and `--help` documents.
    pub const DEFAULT: Self = Self {
        concurrency: 256,
        flush_interval: Duration::from_secs(1),
        retention_raw_days: 7,
        retention_rollup_days: 400,
        retention_hourly_days: 31,
        flap: FlapRule::DEFAULT,
        maintenance_in_uptime: false,
    };
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What the engine tells listeners (the event stream).
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Result(CheckResult),
    StateChanged {
        service_id: i64,
        state: ServiceState,
        previous: ServiceState,
        since: DateTime<Utc>,
    },
    /// Groups, tiles or maintenance windows changed (here or on another replica): pages read them again.
    ConfigChanged {
        at: DateTime<Utc>,
    },
    /// What another replica found (a result or a state change), told here.
    Relayed(Box<EngineEvent>),
}

impl From<EngineEvent> for Event {
    fn from(event: EngineEvent) -> Self {
        match event {
            EngineEvent::Relayed(event) => Event::from(*event),
            EngineEvent::ConfigChanged { at } => Event {
                kind: EventKind::ConfigChanged,
                service_id: 0,
                at,
                state: None,
                previous: None,
                result: None,
            },
            EngineEvent::Result(result) => Event {
                kind: EventKind::Result,
                service_id: result.service_id,
                at: result.checked_at,
                state: None,
                previous: None,
                result: Some(result),
            },
            EngineEvent::StateChanged {
                service_id,
                state,
                previous,
                since,
            } => Event {
                kind: EventKind::StateChanged,
                service_id,
                at: since,
                state: Some(state),
                previous: Some(previous),
                result: None,
            },
        }
    }
}

/// How often the engine looks whether maintenance windows began or ended, and every how many looks it reads
/// the windows from the store again.
const MAINTENANCE_LOOK_EVERY: Duration = Duration::from_secs(1);
const MAINTENANCE_RELOAD_EVERY: u32 = 30;

/// At shutdown, how long the writer may take to store what the engine found.
const STOP_WRITING_WITHIN: Duration = Duration::from_secs(10);

enum Command {
    /// Hand the last batch to the writer and end.
    Stop,
    /// Read this tile again from the store (created, edited, paused, resumed, deleted).
    Reload(i64),
    /// Read every tile again (e.g. after a group was deleted with its tiles).
    ReloadAll,
    /// Read the maintenance windows again.
    ReloadMaintenance,
    /// The windows a periodic read found (read off the scheduler's loop, so a slow store never delays checks).
    MaintenanceRead(Vec<crate::store::StoredMaintenance>),
    CheckNow(i64, CheckReply),
    Push(i64, PushCall, oneshot::Sender<Result<(), PushError>>),
    Finished {
        service_id: i64,
        generation: u64,
        result: CheckResult,
        reply: Option<CheckReply>,
    },
    /// What another replica told, one of its batches.
    Relayed(Vec<Relay>),
    /// A tile this replica has just taken over, read again from the store: run its due check with its state.
    Refreshed {
        service_id: i64,
        generation: u64,
        tile: Option<Box<WatchedTile>>,
        due: Instant,
    },
}

/// The newest status of each watched tile as the engine decided it. Statuses are stored in batches about
/// once a second, so reads lay these over what the store returns: no response is older than an event.
type LiveStatuses = Arc<std::sync::RwLock<HashMap<i64, ServiceStatus>>>;

/// A handle on the running engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    commands: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<EngineEvent>,
    /// Set when the server shuts down: listeners (event streams) end.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
    live: LiveStatuses,
    tasks: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    metrics: Arc<EngineMetrics>,
    maintenance: Arc<MaintenanceBoard>,
    /// Told when a batch with alerts is stored: the dispatcher delivers them at once.
    alerts_stored: Arc<tokio::sync::Notify>,
    /// Which checks this replica runs (all of them when it is alone).
    cluster: Arc<Cluster>,
}

/// Counters for benchmarks and `/metrics`.
#[derive(Debug)]
pub struct EngineMetrics {
    /// Checks running now (holding a slot).
    pub running: std::sync::atomic::AtomicI64,
    /// How late scheduled checks started, in seconds (for `/metrics`).
    pub lag_seconds: prometheus_client::metrics::histogram::Histogram,
    /// Scheduled checks started so far.
    pub checks: std::sync::atomic::AtomicU64,
    /// Results found so far (and handed to the writer): every one of them is stored, or logged as lost.
    pub found: std::sync::atomic::AtomicU64,
    /// How late scheduled checks started (after waiting for a free slot), in microseconds; the latest 100,000.
    lags_us: std::sync::Mutex<Vec<u64>>,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        Self {
            running: Default::default(),
            lag_seconds: prometheus_client::metrics::histogram::Histogram::new([
                0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0,
            ]),
            checks: Default::default(),
            found: Default::default(),
            lags_us: Default::default(),
        }
    }
}

/// Counts a running check while it lives.
struct Running<'a>(&'a std::sync::atomic::AtomicI64);

impl<'a> Running<'a> {
    fn start(count: &'a std::sync::atomic::AtomicI64) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl EngineMetrics {
    const KEPT: usize = 100_000;

    fn record_lag(&self, lag: Duration) {
        self.lag_seconds.observe(lag.as_secs_f64());
        let count = self.checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as usize;
        let mut lags = self.lags_us.lock().unwrap_or_else(|p| p.into_inner());
        let lag_us = lag.as_micros() as u64;
        if lags.len() < Self::KEPT {
            lags.push(lag_us)
        } else {
            lags[count % Self::KEPT] = lag_us
        }
    }

    /// The recorded lags, emptied.
    pub fn take_lags(&self) -> Vec<u64> {
        std::mem::take(&mut *self.lags_us.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The next state of a tile after a check, and the failures in a row so far.
pub fn next_state(current: ServiceState, failures: u32, retries: u32, ok: bool) -> (ServiceState, u32) {
    if ok {
        return (ServiceState::Up, 0);
    }
    let failures = failures.saturating_add(1);
    if failures > retries || current == ServiceState::Down {
        (ServiceState::Down, failures)
    } else {
        (ServiceState::Pending, failures)
    }
}

/// The failures in a row a stored state stands for (the store keeps the state, not the count).
fn failures_in(state: ServiceState, retries: u32) -> u32 {
    match state {
        ServiceState::Down => retries + 1,
        ServiceState::Pending => 1,
        _ => 0,
    }
}

struct Watch {
    group_id: i64,
    url: String,
    check: Check,
    state: ServiceState,
    since: DateTime<Utc>,
    failures: u32,
    /// Bumped on every reload, so results of an older configuration are told apart.
    generation: u64,
    in_flight: bool,
    alerting: Alerting,
    /// In a maintenance window (as of the last look).
    in_maintenance: bool,
    /// The last status written, to write again with new alert memory when a window ends.
    last_status: Option<StatusUpdate>,
    /// The certificate the last https or tls check was shown.
    certificate: Option<Certificate>,
    /// Push checks: when calls are due, and the last one.
    push: Option<PushWatch>,
    /// Another replica ran this tile's last due check: its state is read from the store before the next.
    taken_over: bool,
}

impl Watch {
    fn new(tile: WatchedTile, generation: u64) -> Self {
        let push_schedule = crate::model::check::PushSchedule::of(&tile.check);
        let failures = failures_in(tile.state, tile.check.retries.unwrap_or(2));
        Self {
            group_id: tile.group_id,
            url: tile.url,
            check: tile.check,
            alerting: Alerting::new(tile.memory, tile.state),
            state: tile.state,
            since: tile.since.unwrap_or_else(Utc::now),
            failures,
            generation,
            in_flight: false,
            in_maintenance: false,
            last_status: None,
            certificate: None,
            push: push_schedule.map(|schedule| PushWatch {
                schedule,
                reference: Utc::now(),
                last_call: None,
                started: None,
            }),
            taken_over: false,
        }
    }

    /// Takes the state another replica stored for this tile.
    fn take_state_of(&mut self, tile: &WatchedTile) {
        self.state = tile.state;
        self.since = tile.since.unwrap_or_else(Utc::now);
        self.failures = failures_in(tile.state, self.check.retries.unwrap_or(2));
        self.alerting = Alerting::new(tile.memory.clone(), tile.state);
        if let Some(push) = self.push.as_mut() {
            push.reference = Utc::now();
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.check.interval_s.unwrap_or(60)))
    }
}

/// The tile's next due time: due times are aligned to the clock (the spread's offset past every multiple of
/// the interval since the Unix epoch), so every replica computes the same ones.
fn next_slot(service_id: i64, interval: Duration) -> Instant {
    let interval_ms = interval.as_millis().max(1) as i64;
    let phase = spread(service_id, interval).as_millis() as i64;
    let now_ms = Utc::now().timestamp_millis();
    let slot = now_ms - (now_ms - phase).rem_euclid(interval_ms) + interval_ms;
    instant_of(DateTime::from_timestamp_millis(slot).unwrap_or_else(Utc::now))
}

/// Spreads first runs over the interval, the same way for a tile every time, so that thousands of
/// tiles never start in the same second.
fn spread(service_id: i64, interval: Duration) -> Duration {
    let hash = (service_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let millis = interval.as_millis().max(1) as u64;
    Duration::from_millis(hash % millis)
}

impl Engine {
    /// Loads every watched tile and starts checking, alone. Must run inside a tokio runtime.
    pub async fn start(
        store: Arc<dyn Store>,
        probe: Arc<dyn Probe>,
        config: EngineConfig,
    ) -> Result<Self, StoreError> {
        Self::start_in(store, probe, config, Cluster::solo()).await
    }

    /// Loads every watched tile and starts checking the due times `cluster` gives this replica.
    pub async fn start_in(
        store: Arc<dyn Store>,
        probe: Arc<dyn Probe>,
        config: EngineConfig,
        cluster: Arc<Cluster>,
    ) -> Result<Self, StoreError> {
        let (commands, inbox) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        let (writes, write_inbox) = mpsc::channel::<Write>(64);
        let metrics = Arc::new(EngineMetrics::default());
        let live = LiveStatuses::default();
        let maintenance = Arc::new(MaintenanceBoard::default());
        maintenance.set_windows(store.list_maintenance().await?, Utc::now());
        let alerts_stored = Arc::new(tokio::sync::Notify::new());
        let engine = Engine {
            commands: commands.clone(),
            events: events.clone(),
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
            live: live.clone(),
            tasks: Arc::default(),
            metrics: metrics.clone(),
            maintenance: maintenance.clone(),
            alerts_stored: alerts_stored.clone(),
            cluster: cluster.clone(),
        };
        let mut scheduler = Scheduler {
            cluster: cluster.clone(),
            relays: Vec::new(),
            store: store.clone(),
            probe,
            semaphore: Arc::new(Semaphore::new(config.concurrency.max(1) as usize)),
            commands,
            events,
            watches: HashMap::new(),
            queue: BinaryHeap::new(),
            next_generation: 0,
            pending: HistoryBatch::default(),
            pending_acks: Vec::new(),
            live,
            writes,
            metrics,
            maintenance,
            flap: config.flap,
            count_maintenance: config.maintenance_in_uptime,
        };
        scheduler.reload_all(false).await?;
        scheduler.look_at_maintenance(Utc::now());
        let flush_interval = config.flush_interval;
        let mut tasks = engine.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.push(tokio::spawn(scheduler.run(inbox, flush_interval)));
        tasks.push(tokio::spawn(write_batches(
            store.clone(),
            write_inbox,
            alerts_stored,
            cluster.clone(),
        )));
        tasks.push(tokio::spawn(prune_periodically(store, config, cluster)));
        drop(tasks);
        Ok(engine)
    }

    /// Tells the engine a tile changed (created, edited, paused, resumed or deleted).
    pub fn reload(&self, service_id: i64) {
        let _ = self.commands.send(Command::Reload(service_id));
    }

    pub fn reload_all(&self) {
        let _ = self.commands.send(Command::ReloadAll);
    }

    /// What another replica told this one (one of its batches).
    pub fn relayed(&self, relays: Vec<Relay>) {
        let _ = self.commands.send(Command::Relayed(relays));
    }

    /// Tells this replica's event streams that groups, tiles or windows changed.
    pub fn announce_config_changed(&self) {
        let _ = self.events.send(EngineEvent::ConfigChanged { at: now() });
    }

    /// This replica's place among the replicas.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Tells the engine the maintenance windows changed.
    pub fn reload_maintenance(&self) {
        let _ = self.commands.send(Command::ReloadMaintenance);
    }

    /// Which tiles are in maintenance now.
    pub fn maintenance(&self) -> &Arc<MaintenanceBoard> {
        &self.maintenance
    }

    /// Notified whenever alerts have been stored.
    pub fn alerts_stored(&self) -> Arc<tokio::sync::Notify> {
        self.alerts_stored.clone()
    }

    /// Takes a call to a push check's URL: a run started, or finished (up or down).
    pub async fn push(&self, service_id: i64, call: PushCall) -> Result<(), PushError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Push(service_id, call, reply))
            .map_err(|_| PushError::Stopped)?;
        answer.await.map_err(|_| PushError::Stopped)?
    }

    /// Runs a tile's check now and waits until its result is stored.
    pub async fn check_now(&self, service_id: i64) -> Result<CheckRun, CheckNowError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::CheckNow(service_id, reply))
            .map_err(|_| CheckNowError::Stopped)?;
        answer.await.map_err(|_| CheckNowError::Stopped)?
    }

    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// Brings a tile read from the store up to what the engine knows: a check that ran but is not stored
    /// yet (results are written about once a second) already shows in its status.
    /// A tile in a maintenance window shows `maintenance`.
    pub fn freshen(&self, service: &mut Service) {
        if service.check.is_none() || service.status.state == ServiceState::Paused {
            return;
        }
        {
            let live = self.live.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(status) = live.get(&service.id)
                && status.last_checked_at > service.status.last_checked_at
            {
                service.status = status.clone();
            }
        }
        if self.maintenance.covers(service.id, service.group_id) {
            service.status.state = ServiceState::Maintenance;
        }
    }

    /// What [`Engine::freshen`] would lay over each of these tiles (`(id, group_id)`), in order: when the
    /// engine last checked it and whether a maintenance window covers it now. Equal marks mean an equal
    /// freshened status, so a cache of rendered tiles re-renders only those whose mark moved.
    pub fn marks(&self, tiles: impl Iterator<Item = (i64, i64)>) -> Vec<(Option<DateTime<Utc>>, bool)> {
        let live = self.live.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        tiles
            .map(|(id, group_id)| {
                (
                    live.get(&id).and_then(|status| status.last_checked_at),
                    self.maintenance.covers(id, group_id),
                )
            })
            .collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// Ends every listener (event stream): the server is shutting down.
    pub fn close_listeners(&self) {
        self.closing.send_replace(true);
    }

    /// Becomes true when listeners are to end.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// How many listeners (event streams) are subscribed now.
    pub fn listeners(&self) -> usize {
        self.events.receiver_count()
    }

    /// Stops checking; results found so far are written first.
    pub async fn stop(&self) {
        self.close_listeners();
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        let mut tasks = tasks.into_iter();
        // The scheduler hands its last batch to the writer and ends; the writer then writes what it holds
        // and ends too.
        if let Some(mut scheduler) = tasks.next() {
            let _ = self.commands.send(Command::Stop);
            if tokio::time::timeout(Duration::from_secs(5), &mut scheduler)
                .await
                .is_err()
            {
                scheduler.abort();
            }
        }
        if let Some(writer) = tasks.next()
            && tokio::time::timeout(STOP_WRITING_WITHIN, writer).await.is_err()
        {
            tracing::error!(
                "check results found before shutdown could not be written within {} s: the database did not \
                 take them, and they are lost",
                STOP_WRITING_WITHIN.as_secs()
            );
        }
        for task in tasks {
            task.abort();
        }
    }
}

struct Scheduler {
    cluster: Arc<Cluster>,
    /// What the other replicas are to hear, sent once the batch holding it is stored.
    relays: Vec<Relay>,
    store: Arc<dyn Store>,
    probe: Arc<dyn Probe>,
    semaphore: Arc<Semaphore>,
    commands: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<EngineEvent>,
    watches: HashMap<i64, Watch>,
    /// Due times, earliest first; entries of an older generation are skipped.
    /// The flag marks a run out of turn (after an edit): the one after it is due at the tile's next slot.
    queue: BinaryHeap<Reverse<(Instant, i64, u64, bool)>>,
    next_generation: u64,
    pending: HistoryBatch,
    /// Told once `pending` is stored: checks run on request answer only then, so what the API said it
    /// found is there for the next read.
    pending_acks: Vec<oneshot::Sender<()>>,
    live: LiveStatuses,
    writes: mpsc::Sender<Write>,
    metrics: Arc<EngineMetrics>,
    maintenance: Arc<MaintenanceBoard>,
    flap: FlapRule,
    count_maintenance: bool,
}

/// A batch for the writer, and who waits for it to be stored.
struct Write {
    batch: HistoryBatch,
    acks: Vec<oneshot::Sender<()>>,
    relays: Vec<Relay>,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let batch = std::mem::take(&mut self.pending);
        if !batch.is_empty() {
            let acks = std::mem::take(&mut self.pending_acks);
            let relays = std::mem::take(&mut self.relays);
            let _ = self.writes.try_send(Write { batch, acks, relays });
        }
    }
}

impl Scheduler {
    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Command>, flush_interval: Duration) {
        let mut flush = tokio::time::interval(flush_interval);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Maintenance windows begin and end on time to the second; another replica's changes are read
        // every 30 s.
        let mut maintenance = tokio::time::interval(MAINTENANCE_LOOK_EVERY);
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut looks = 0u32;
        loop {
            let next_due = self.queue.peek().map(|Reverse((due, _, _, _))| *due);
            // (Stop is handled by ending the loop; then the last batch goes to the writer, waiting for room.)
            tokio::select! {
                command = inbox.recv() => match command {
                    Some(Command::Stop) | None => break,
                    Some(command) => self.handle(command).await,
                },
                () = sleep_until(next_due) => self.dispatch_due(),
                _ = flush.tick() => self.flush(),
                _ = maintenance.tick() => {
                    looks = looks.wrapping_add(1);
                    if looks.is_multiple_of(MAINTENANCE_RELOAD_EVERY) {
                        self.read_maintenance_aside();
                    } else {
                        self.maintenance.refresh(Utc::now());
                        self.look_at_maintenance(Utc::now());
                    }
                }
            }
        }
        let batch = std::mem::take(&mut self.pending);
        if !batch.is_empty() || !self.relays.is_empty() {
            let acks = std::mem::take(&mut self.pending_acks);
            let relays = std::mem::take(&mut self.relays);
            let _ = self.writes.send(Write { batch, acks, relays }).await;
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Stop => {}
            Command::Reload(service_id) => self.reload(service_id, true).await,
            Command::ReloadAll => {
                if let Err(err) = self.reload_all(false).await {
                    tracing::warn!(error = %err, "could not reload the watched tiles");
                }
            }
            Command::ReloadMaintenance => self.reload_maintenance().await,
            Command::MaintenanceRead(windows) => {
                self.maintenance.set_windows(windows, Utc::now());
                self.look_at_maintenance(Utc::now());
            }
            Command::CheckNow(service_id, reply) => self.check_now(service_id, reply).await,
            Command::Push(service_id, call, reply) => {
                let _ = reply.send(self.pushed(service_id, call));
            }
            Command::Finished {
                service_id,
                generation,
                result,
                reply,
            } => self.finished(service_id, generation, result, reply),
            Command::Relayed(relays) => self.relayed(relays).await,
            Command::Refreshed {
                service_id,
                generation,
                tile,
                due,
            } => {
                let Some(watch) = self
                    .watches
                    .get_mut(&service_id)
                    .filter(|w| w.generation == generation)
                else {
                    return;
                };
                if let Some(tile) = tile {
                    watch.take_state_of(&tile);
                }
                let (check, url) = (watch.check.clone(), watch.url.clone());
                self.spawn_probe(service_id, generation, check, url, Some(due), None);
            }
        }
    }

    /// Applies a batch another replica told: results and state changes reach this replica's live statuses,
    /// event streams and dashboard; configuration changes its engine; push calls the tile's owner. The
    /// dashboard hears of the batch's hours, and the engine of a configuration change, once per batch.
    async fn relayed(&mut self, relays: Vec<Relay>) {
        let mut earliest_hour: Option<i64> = None;
        let mut config = false;
        for relay in relays {
            match relay {
                Relay::Checked {
                    result,
                    status,
                    change,
                } => {
                    let service_id = result.service_id;
                    {
                        let mut live = self.live.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                        let newer = live
                            .get(&service_id)
                            .is_none_or(|known| known.last_checked_at <= status.last_checked_at);
                        if newer {
                            live.insert(service_id, status);
                        }
                    }
                    let hour = hour_of_ms(result.checked_at.timestamp_millis());
                    earliest_hour = Some(earliest_hour.map_or(hour, |earliest| earliest.min(hour)));
                    if let Some((state, previous)) = change {
                        let _ = self
                            .events
                            .send(EngineEvent::Relayed(Box::new(EngineEvent::StateChanged {
                                service_id,
                                state,
                                previous,
                                since: result.checked_at,
                            })));
                    }
                    let _ = self
                        .events
                        .send(EngineEvent::Relayed(Box::new(EngineEvent::Result(result))));
                }
                Relay::Config => config = true,
                Relay::Push { service_id, call } => {
                    if self.cluster.owns(service_id, Utc::now())
                        && let Err(err) = self.pushed(service_id, call)
                    {
                        tracing::debug!(service_id, error = %err, "a relayed push call was not taken");
                    }
                }
            }
        }
        if earliest_hour.is_some() {
            self.store.changes().history_changed(earliest_hour);
        }
        if config {
            self.store.changes().config_changed_elsewhere();
            if let Err(err) = self.reload_all(true).await {
                tracing::warn!(error = %err, "could not reload the watched tiles after a change on another replica");
            }
            self.reload_maintenance().await;
            let _ = self.events.send(EngineEvent::ConfigChanged { at: now() });
        }
    }

    /// Reads the maintenance windows in a task of its own; the loop hears of them as a command.
    fn read_maintenance_aside(&self) {
        let (store, commands) = (self.store.clone(), self.commands.clone());
        tokio::spawn(async move {
            match store.list_maintenance().await {
                Ok(windows) => {
                    let _ = commands.send(Command::MaintenanceRead(windows));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not read the maintenance windows; keeping the ones known")
                }
            }
        });
    }

    async fn reload_maintenance(&mut self) {
        match self.store.list_maintenance().await {
            Ok(windows) => self.maintenance.set_windows(windows, Utc::now()),
            Err(err) => {
                tracing::warn!(error = %err, "could not read the maintenance windows; keeping the ones known")
            }
        }
        self.look_at_maintenance(Utc::now());
    }

    /// Marks the tiles whose maintenance window began or ended. A tile leaving one is looked at again: people
    /// hear of its state if it differs from what they were told before the window.
    fn look_at_maintenance(&mut self, now: DateTime<Utc>) {
        for (service_id, watch) in &mut self.watches {
            let covered = self.maintenance.covers(*service_id, watch.group_id);
            if covered == watch.in_maintenance {
                continue;
            }
            watch.in_maintenance = covered;
            let (state, previous) = match covered {
                true => (ServiceState::Maintenance, watch.state),
                false => (watch.state, ServiceState::Maintenance),
            };
            let _ = self.events.send(EngineEvent::StateChanged {
                service_id: *service_id,
                state,
                previous,
                since: now,
            });
            if covered || !self.cluster.owns(*service_id, now) {
                continue;
            }
            let seen = Observation {
                service_id: *service_id,
                state: watch.state,
                since: watch.since,
                at: now,
                cause: watch.last_status.as_ref().and_then(|s| s.last_error.as_deref()),
                in_maintenance: false,
            };
            if let Some(alert) = watch.alerting.observe(seen, &self.flap) {
                self.pending.alerts.push(alert);
                if let Some(mut status) = watch.last_status.clone() {
                    status.memory = watch.alerting.memory().clone();
                    self.pending.statuses.retain(|s| s.service_id != *service_id);
                    self.pending.statuses.push(status);
                }
            }
        }
    }

    /// Reads every watched tile again. Tiles whose check did not change keep their schedule (and a check under
    /// way its result); `changed_soon`: a changed or new tile runs at once, as after an edit here.
    async fn reload_all(&mut self, changed_soon: bool) -> Result<(), StoreError> {
        let tiles = self.store.watched_services().await?;
        let watched: std::collections::HashSet<i64> = tiles.iter().map(|tile| tile.id).collect();
        let gone: Vec<i64> = self
            .watches
            .keys()
            .filter(|id| !watched.contains(id))
            .copied()
            .collect();
        for id in gone {
            self.watches.remove(&id);
            self.forget_live(id);
        }
        for tile in tiles {
            if let Some(old) = self.watches.get(&tile.id)
                && old.group_id == tile.group_id
                && old.url == tile.url
                && old.check == tile.check
            {
                continue;
            }
            self.watch(tile, changed_soon);
        }
        Ok(())
    }

    async fn reload(&mut self, service_id: i64, soon: bool) {
        match self.store.get_service(service_id).await {
            Ok(service) => match WatchedTile::of(&service) {
                Some(tile) => self.watch(tile, soon),
                None => self.unwatch(&service),
            },
            Err(StoreError::NotFound { .. }) => {
                self.watches.remove(&service_id);
                self.forget_live(service_id);
            }
            Err(err) => {
                tracing::warn!(service_id, error = %err, "could not reload a tile; it keeps its old schedule")
            }
        }
    }

    /// Stops watching a tile that was paused or lost its check.
    fn unwatch(&mut self, service: &Service) {
        self.watches.remove(&service.id);
        self.forget_live(service.id);
        if service.check.is_none() && service.status.state != ServiceState::Unknown {
            self.forget_health(service.id);
        }
    }

    /// Starts or restarts watching a tile. `soon`: an edit, so the new check runs at once.
    fn watch(&mut self, tile: WatchedTile, soon: bool) {
        self.next_generation += 1;
        let service_id = tile.id;
        let mut watch = Watch::new(tile, self.next_generation);
        if let Some(old) = self.watches.get(&service_id) {
            // An edit keeps what the engine knows about the tile's health, and what people were told.
            watch.state = old.state;
            watch.since = old.since;
            watch.failures = old.failures;
            watch.alerting = old.alerting.clone();
            watch.in_maintenance = old.in_maintenance;
            watch.last_status = old.last_status.clone();
            if let (Some(new), Some(old)) = (watch.push.as_mut(), old.push.as_ref()) {
                new.reference = old.reference;
                new.last_call = old.last_call;
                new.started = old.started;
            }
        } else {
            watch.in_maintenance = self.maintenance.covers(service_id, watch.group_id);
        }
        let due = match &watch.push {
            // Nothing to probe: the engine looks again when the next call is overdue.
            Some(push) => instant_of(push.deadline()),
            None if soon => Instant::now() + spread(service_id, Duration::from_millis(500)),
            None => next_slot(service_id, watch.interval()),
        };
        let out_of_turn = soon && watch.push.is_none();
        self.queue
            .push(Reverse((due, service_id, watch.generation, out_of_turn)));
        self.watches.insert(service_id, watch);
    }

    fn forget_live(&self, service_id: i64) {
        self.live
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&service_id);
    }

    /// A tile that lost its check is no longer up or down: its status goes back to unknown and an open
    /// incident ends now.
    fn forget_health(&mut self, service_id: i64) {
        let now = now();
        self.pending.statuses.retain(|s| s.service_id != service_id);
        self.pending.statuses.push(StatusUpdate {
            service_id,
            state: ServiceState::Unknown,
            since: now,
            last_checked_at: None,
            last_latency_ms: None,
            last_error: None,
            certificate: None,
            failures: 0,
            memory: Default::default(),
        });
        self.pending.incidents.push(IncidentChange::Close {
            service_id,
            ended_at: now,
        });
    }

    fn dispatch_due(&mut self) {
        let now = Instant::now();
        let mut missed_pushes = Vec::new();
        while let Some(Reverse((due, service_id, generation, out_of_turn))) = self.queue.peek().copied() {
            if due > now {
                break;
            }
            self.queue.pop();
            // The due time on the clock: every replica computes the same one, and so the same owner.
            let slot = Utc::now()
                - chrono::Duration::from_std(now.saturating_duration_since(due)).unwrap_or_default();
            let Some(watch) = self
                .watches
                .get_mut(&service_id)
                .filter(|w| w.generation == generation)
            else {
                continue;
            };
            if let Some(push) = watch.push.as_mut() {
                let deadline = push.deadline();
                if deadline <= Utc::now() {
                    // Overdue: a failure now, and the next due time counts from the one missed.
                    let missed = push.schedule.due_after(push.reference);
                    let error = match push.last_call {
                        Some(last) => format!("no call since {}", last.format("%Y-%m-%d %H:%M:%S UTC")),
                        None => format!(
                            "no call yet (one was due by {})",
                            missed.format("%Y-%m-%d %H:%M:%S UTC")
                        ),
                    };
                    push.reference = missed;
                    let next = push.deadline();
                    self.queue
                        .push(Reverse((instant_of(next), service_id, generation, false)));
                    if self.cluster.owns(service_id, deadline) {
                        missed_pushes.push((service_id, generation, error));
                    }
                } else {
                    self.queue
                        .push(Reverse((instant_of(deadline), service_id, generation, false)));
                }
                continue;
            }
            // The next run keeps the cadence from the due time, not from when this one ends; after a run out of
            // turn, the tile's next slot.
            let next = match out_of_turn {
                true => next_slot(service_id, watch.interval()),
                false => due + watch.interval(),
            };
            self.queue.push(Reverse((next, service_id, generation, false)));
            if !self.cluster.owns(service_id, slot) {
                // Another replica runs this one; whoever runs the tile next reads its state first.
                watch.taken_over = true;
                continue;
            }
            if watch.in_flight {
                continue; // still waiting for the previous run: skip this one rather than pile up
            }
            watch.in_flight = true;
            if std::mem::take(&mut watch.taken_over) {
                // This replica has just taken the tile over: its state is what the previous owner stored.
                let (store, commands) = (self.store.clone(), self.commands.clone());
                tokio::spawn(async move {
                    let tile = match store.get_service(service_id).await {
                        Ok(service) => WatchedTile::of(&service).map(Box::new),
                        Err(_) => None,
                    };
                    let _ = commands.send(Command::Refreshed {
                        service_id,
                        generation,
                        tile,
                        due,
                    });
                });
                continue;
            }
            let (check, url) = (watch.check.clone(), watch.url.clone());
            self.spawn_probe(service_id, generation, check, url, Some(due), None);
        }
        for (service_id, generation, error) in missed_pushes {
            let result = CheckResult {
                service_id,
                checked_at: crate::model::now(),
                ok: false,
                latency_ms: 0,
                status_code: None,
                error: Some(error),
                maintenance: false,
                degraded: false,
                packet_loss_pct: None,
                certificate: None,
            };
            self.finished(service_id, generation, result, None);
        }
    }

    /// A call to a push check's URL: a start is remembered; a finish is a result, and the next due time
    /// counts from it.
    fn pushed(&mut self, service_id: i64, call: PushCall) -> Result<(), PushError> {
        let Some(watch) = self.watches.get_mut(&service_id) else {
            return Err(PushError::NotWatched(service_id));
        };
        if !self.cluster.owns(service_id, Utc::now()) {
            // Another replica owns the tile: it hears of the call (its schedule and state live there).
            if watch.push.is_none() {
                return Err(PushError::NotWatched(service_id));
            }
            watch.taken_over = true;
            self.relays.push(Relay::Push { service_id, call });
            self.flush();
            return Ok(());
        }
        let generation = watch.generation;
        let limit = watch.check.degraded_above_ms;
        let Some(push) = watch.push.as_mut() else {
            return Err(PushError::NotWatched(service_id));
        };
        if call.start {
            push.started = Some(Instant::now());
            return Ok(());
        }
        let at = now();
        let measured = push
            .started
            .take()
            .map(|started| u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX));
        let latency_ms = call.duration_ms.or(measured).unwrap_or(0);
        push.reference = at;
        push.last_call = Some(at);
        let deadline = push.deadline();
        let slow = limit.filter(|limit| call.ok && latency_ms > *limit);
        let error = if call.ok {
            slow.map(|limit| format!("the run took {latency_ms} ms, more than {limit} ms"))
        } else {
            Some(
                call.message
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| "the job reported a failure".into()),
            )
        };
        let result = CheckResult {
            service_id,
            checked_at: at,
            ok: call.ok,
            latency_ms,
            status_code: None,
            error,
            maintenance: false,
            degraded: slow.is_some(),
            packet_loss_pct: None,
            certificate: None,
        };
        self.queue
            .push(Reverse((instant_of(deadline), service_id, generation, false)));
        self.finished(service_id, generation, result, None);
        Ok(())
    }

    fn spawn_probe(
        &self,
        service_id: i64,
        generation: u64,
        check: Check,
        url: String,
        due: Option<Instant>,
        reply: Option<CheckReply>,
    ) {
        let (probe, semaphore, commands, metrics) = (
            self.probe.clone(),
            self.semaphore.clone(),
            self.commands.clone(),
            self.metrics.clone(),
        );
        tokio::spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            if let Some(due) = due {
                metrics.record_lag(Instant::now().saturating_duration_since(due));
            }
            let checked_at = now();
            let running = Running::start(&metrics.running);
            let outcome = probe.run(&check, &url).await;
            drop(running);
            let result = CheckResult {
                service_id,
                checked_at,
                ok: outcome.ok,
                latency_ms: outcome.latency_ms,
                status_code: outcome.status_code,
                error: outcome.error,
                maintenance: false,
                degraded: outcome.degraded,
                packet_loss_pct: outcome.packet_loss_pct,
                certificate: outcome.certificate,
            };
            let _ = commands.send(Command::Finished {
                service_id,
                generation,
                result,
                reply,
            });
        });
    }

    async fn check_now(&mut self, service_id: i64, reply: CheckReply) {
        let service = match self.store.get_service(service_id).await {
            Ok(service) => service,
            Err(StoreError::NotFound { .. }) => {
                let _ = reply.send(Err(CheckNowError::NotFound(service_id)));
                return;
            }
            Err(err) => {
                let _ = reply.send(Err(err.into()));
                return;
            }
        };
        let Some(tile) = WatchedTile::of(&service) else {
            let refusal = match service.check {
                None => CheckNowError::NoCheck(service_id),
                Some(_) => CheckNowError::Paused(service_id),
            };
            let _ = reply.send(Err(refusal));
            return;
        };
        if tile.check.kind == crate::model::CheckKind::Push {
            let _ = reply.send(Err(CheckNowError::Push(service_id)));
            return;
        }
        let (check, url) = (tile.check.clone(), tile.url.clone());
        match self.watches.get_mut(&service_id) {
            // Another replica runs this tile's checks: this run starts from the state it stored.
            Some(watch) if !self.cluster.owns(service_id, Utc::now()) => {
                watch.take_state_of(&tile);
                watch.taken_over = true;
            }
            Some(_) => {}
            None => self.watch(tile, false),
        }
        let generation = self.watches.get(&service_id).map_or(0, |w| w.generation);
        self.spawn_probe(service_id, generation, check, url, None, Some(reply));
    }

    fn finished(
        &mut self,
        service_id: i64,
        generation: u64,
        mut result: CheckResult,
        reply: Option<CheckReply>,
    ) {
        let Some(watch) = self.watches.get_mut(&service_id) else {
            if let Some(reply) = reply {
                let _ = reply.send(Err(CheckNowError::Unwatched(service_id)));
            }
            return;
        };
        if reply.is_none() {
            watch.in_flight = false;
        }
        if watch.generation != generation && reply.is_none() {
            return; // a result of the configuration before an edit
        }
        let retries = watch.check.retries.unwrap_or(2);
        let previous = watch.state;
        let (state, failures) = next_state(previous, watch.failures, retries, result.ok);
        let state = match state {
            ServiceState::Up if result.degraded => ServiceState::Degraded,
            state => state,
        };
        watch.failures = failures;
        if result.certificate.is_some() {
            watch.certificate = result.certificate.clone();
        }
        result.maintenance = watch.in_maintenance;
        let mut change = None;
        if state != previous {
            watch.state = state;
            watch.since = result.checked_at;
            if !watch.in_maintenance {
                change = Some((state, previous));
            }
            if state == ServiceState::Down {
                let cause = result.error.clone().unwrap_or_else(|| "the check failed".into());
                self.pending.incidents.push(IncidentChange::Open {
                    service_id,
                    started_at: result.checked_at,
                    cause,
                });
            } else if previous == ServiceState::Down {
                self.pending.incidents.push(IncidentChange::Close {
                    service_id,
                    ended_at: result.checked_at,
                });
            }
            if !watch.in_maintenance {
                let _ = self.events.send(EngineEvent::StateChanged {
                    service_id,
                    state,
                    previous,
                    since: result.checked_at,
                });
            }
        }
        let seen = Observation {
            service_id,
            // Degraded is up to the alert rules: its own warnings (certificates) are told apart.
            state: match watch.state {
                ServiceState::Degraded => ServiceState::Up,
                state => state,
            },
            since: watch.since,
            at: result.checked_at,
            cause: result.error.as_deref(),
            in_maintenance: watch.in_maintenance,
        };
        let mut alerted = match watch.alerting.observe(seen, &self.flap) {
            Some(alert) => {
                self.pending.alerts.push(alert);
                true
            }
            None => false,
        };
        if let Some(cert) = &result.certificate
            && let Some(alert) = watch.alerting.observe_certificate(
                service_id,
                cert,
                watch.check.cert_warn_days.unwrap_or(0),
                result.checked_at,
                watch.in_maintenance,
            )
        {
            self.pending.alerts.push(alert);
            alerted = true;
        }
        let status = ServiceStatus {
            state: watch.state,
            since: Some(watch.since),
            last_checked_at: Some(result.checked_at),
            last_latency_ms: Some(result.latency_ms),
            last_error: result.error.clone(),
            certificate: watch.certificate.clone(),
        };
        self.live
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(service_id, status.clone());
        let update = StatusUpdate {
            service_id,
            state: watch.state,
            since: watch.since,
            last_checked_at: status.last_checked_at,
            last_latency_ms: status.last_latency_ms,
            last_error: status.last_error.clone(),
            certificate: status.certificate.clone(),
            failures,
            memory: watch.alerting.memory().clone(),
        };
        watch.last_status = Some(update.clone());
        self.pending.statuses.retain(|s| s.service_id != service_id);
        self.pending.statuses.push(update);
        self.pending.results.push(result.clone());
        if self.cluster.is_clustered() {
            self.relays.push(Relay::Checked {
                result: result.clone(),
                status: status.clone(),
                change,
            });
        }
        self.metrics
            .found
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = self.events.send(EngineEvent::Result(result.clone()));
        if let Some(reply) = reply {
            // Answer once the result is stored (or its write has failed for good): a read right after the
            // answer finds it.
            let (ack, written) = oneshot::channel();
            self.pending_acks.push(ack);
            tokio::spawn(async move {
                let _ = written.await;
                let _ = reply.send(Ok(CheckRun { result, status }));
            });
            self.flush();
        } else if alerted || self.pending.results.len() >= 1000 {
            // An alert is stored (and so delivered) now, not at the next tick.
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() && self.relays.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.pending);
        batch.count_maintenance = self.count_maintenance;
        let write = Write {
            batch,
            acks: std::mem::take(&mut self.pending_acks),
            relays: std::mem::take(&mut self.relays),
        };
        if let Err(mpsc::error::TrySendError::Full(write) | mpsc::error::TrySendError::Closed(write)) =
            self.writes.try_send(write)
        {
            // The writer is behind (slow or unreachable database): keep the batch and try again next tick.
            self.pending = write.batch;
            self.pending_acks = write.acks;
            self.relays = write.relays;
            if self.pending.results.len() > 100_000 {
                let excess = self.pending.results.len() - 100_000;
                self.pending.results.drain(..excess);
                tracing::warn!(
                    dropped = excess,
                    "the database is not keeping up: oldest unwritten results dropped"
                );
            }
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Writes batches one after another. While the database is unavailable a batch is retried (waiting up to 5 s
/// between tries) and nothing is dropped; meanwhile the scheduler keeps what it finds (see `flush`). A batch
/// the database refuses for its content is split until the row it refuses stands alone, and only that row is
/// dropped (and logged), never the rest. Whoever waits for a batch is told when it is done.
async fn write_batches(
    store: Arc<dyn Store>,
    mut inbox: mpsc::Receiver<Write>,
    alerts_stored: Arc<tokio::sync::Notify>,
    cluster: Arc<Cluster>,
) {
    while let Some(Write { batch, acks, relays }) = inbox.recv().await {
        let alerts = !batch.alerts.is_empty();
        if !batch.is_empty() {
            write_splitting(store.as_ref(), batch).await;
        }
        // The other replicas hear of results once they are stored: a read there finds them.
        cluster.publish(relays);
        if alerts {
            alerts_stored.notify_one();
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

async fn write_splitting(store: &dyn Store, batch: HistoryBatch) {
    let mut pieces = vec![batch];
    while let Some(piece) = pieces.pop() {
        if let Err(err) = write_waiting(store, &piece).await {
            match piece.split() {
                Some((first, second)) => {
                    // Written in order: the first half, then the second.
                    pieces.push(second);
                    pieces.push(first);
                }
                None => tracing::error!(
                    error = %err,
                    results = piece.results.len(),
                    statuses = piece.statuses.len(),
                    incidents = piece.incidents.len(),
                    "the database refused a check result: it is dropped, the others are written"
                ),
            }
        }
    }
}

/// Writes one batch, retrying while the database is unavailable; any other error is returned.
async fn write_waiting(store: &dyn Store, batch: &HistoryBatch) -> Result<(), StoreError> {
    let mut delay = Duration::from_millis(200);
    loop {
        match store.record_history(batch).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Unavailable(reason)) => {
                tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, results = batch.results.len(),
                    "cannot write check results now; keeping them and retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(err) => return Err(err),
        }
    }
}

/// Every hour: deletes expired history in small steps, so no step holds a lock for long, and sums the hourly
/// rollups of days older than `retention_hourly_days` into one row per tile and UTC day (a tile-year of
/// hourly rows would take 1.9 MB on PostgreSQL; issue 17 asks for 1.5 MB in all).
async fn prune_periodically(store: Arc<dyn Store>, config: EngineConfig, cluster: Arc<Cluster>) {
    let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
    // Days before this one are compact; None until the store was asked where hourly rows begin.
    let mut compact_before: Option<i64> = None;
    loop {
        every_hour.tick().await;
        // Among replicas, one prunes (whichever owns the jobs' key at the time).
        if !cluster.owns(JOBS_KEY, Utc::now()) {
            continue;
        }
        let now_ms = Utc::now().timestamp_millis();
        let day_ms = 86_400_000;
        let raw_before = now_ms - i64::from(config.retention_raw_days.max(1)) * day_ms;
        let rollups_before = hour_of_ms(now_ms - i64::from(config.retention_rollup_days.max(1)) * day_ms);
        let mut removed = 0;
        loop {
            match store.prune_history(raw_before, rollups_before, 5_000).await {
                Ok(0) => break,
                Ok(step) => removed += step,
                Err(err) => {
                    tracing::warn!(error = %err, "could not delete expired check history");
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if removed > 0 {
            tracing::info!(removed, "deleted expired check history");
        }
        let before_day = now_ms.div_euclid(day_ms) - i64::from(config.retention_hourly_days.max(1));
        let from_day = match compact_before {
            Some(day) => Some(day),
            None => match store.first_hourly_day(before_day).await {
                Ok(day) => Some(day.unwrap_or(before_day)),
                Err(err) => {
                    tracing::warn!(error = %err, "could not find the hourly rollups to sum per day");
                    None
                }
            },
        };
        if let Some(from_day) = from_day.filter(|day| *day < before_day) {
            match store.compact_rollups(from_day, before_day).await {
                Ok(rows) => {
                    compact_before = Some(before_day);
                    if rows > 0 {
                        tracing::info!(
                            rows,
                            days = before_day - from_day,
                            "summed hourly rollups per day"
                        );
                    }
                }
                Err(err) => tracing::warn!(error = %err, "could not sum hourly rollups per day"),
            }
        } else if from_day.is_some() {
            compact_before = Some(before_day);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_hold_a_tile_in_pending_before_down() {
        let (state, failures) = next_state(ServiceState::Up, 0, 2, false);
        assert_eq!((state, failures), (ServiceState::Pending, 1));
        let (state, failures) = next_state(state, failures, 2, false);
        assert_eq!((state, failures), (ServiceState::Pending, 2));
        let (state, failures) = next_state(state, failures, 2, false);
        assert_eq!((state, failures), (ServiceState::Down, 3));
        assert_eq!(next_state(state, failures, 2, true), (ServiceState::Up, 0));
        assert_eq!(
            next_state(ServiceState::Unknown, 0, 0, false).0,
            ServiceState::Down,
            "no retries: down at once"
        );
        assert_eq!(
            next_state(ServiceState::Down, 0, 5, false).0,
            ServiceState::Down,
            "down stays down"
        );
    }

    #[test]
    fn first_runs_spread_over_the_interval() {
        let interval = Duration::from_secs(60);
        let mut seconds: Vec<u64> = (1..=600).map(|id| spread(id, interval).as_secs()).collect();
        assert!(seconds.iter().all(|s| *s < 60));
        seconds.sort();
        seconds.dedup();
        assert!(
            seconds.len() >= 55,
            "600 tiles use most of the 60 seconds: {}",
            seconds.len()
        );
    }
}
