//! `/metrics` in the Prometheus text format (written by prometheus-client), off unless HOMEWATCH_METRICS is
//! true, behind a bearer token when HOMEWATCH_METRICS_TOKEN is set. Tiles are labelled by id, name, group and
//! kind, never by URL, target or anything secret.
//!
//! Check durations and results are counted here as the engine reports them (since this process started);
//! states, uptime, certificates, notifications and pool use are read at each scrape.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge, histogram::Histogram},
    registry::Registry,
};

use crate::{
    model::{Dashboard, ServiceState, now},
    monitor::{
        engine::{Engine, EngineEvent},
        stats::{Window, window_hours},
    },
    store::{Store, StoreResult},
};

/// Bounds of the check duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Clone)]
struct TileCounts {
    duration: Histogram,
    up: u64,
    down: u64,
}

impl Default for TileCounts {
    fn default() -> Self {
        Self {
            duration: Histogram::new(DURATION_BUCKETS),
            up: 0,
            down: 0,
        }
    }
}

/// What `/metrics` counts as checks finish.
#[derive(Debug, Default)]
pub struct Metrics {
    tiles: Mutex<HashMap<i64, TileCounts>>,
    /// When this process started, in seconds since 1970.
    started: f64,
}

impl Metrics {
    /// Starts counting the engine's results.
    pub fn start(engine: &Engine) -> Arc<Self> {
        let metrics = Arc::new(Self {
            tiles: Mutex::new(HashMap::new()),
            started: now().timestamp_millis() as f64 / 1000.0,
        });
        let mut events = engine.subscribe();
        let counting = Arc::downgrade(&metrics);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(EngineEvent::Result(result)) => {
                        let Some(metrics) = counting.upgrade() else { break };
                        let mut tiles = metrics.tiles.lock().unwrap_or_else(|p| p.into_inner());
                        let counts = tiles.entry(result.service_id).or_default();
                        counts.duration.observe(f64::from(result.latency_ms) / 1000.0);
                        if result.ok {
                            counts.up += 1;
                        } else {
                            counts.down += 1;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        metrics
    }

    /// The exposition text.
    pub async fn scrape(&self, store: &dyn Store, engine: &Engine) -> StoreResult<String> {
        let at = now();
        let first_hour = Dashboard::first_hour(at);
        // The reads are independent: they run side by side on the store's readers.
        let (month_from, to) = window_hours(Window::Month, at);
        let (week_from, _) = window_hours(Window::Week, at);
        let (rows, uptime, notifications) = tokio::join!(
            store.dashboard(first_hour),
            store.uptime_windows(month_from, week_from, to),
            store.notification_counts()
        );
        let mut dashboard = Dashboard::assemble(rows?, first_hour);
        let ratio = |checks: i64, ok: i64| (checks > 0).then(|| ok as f64 / checks as f64);
        let uptime: HashMap<i64, (Option<f64>, Option<f64>)> = uptime?
            .into_iter()
            .map(|(id, checks, ok, week_checks, week_ok)| {
                (id, (ratio(week_checks, week_ok), ratio(checks, ok)))
            })
            .collect();
        let notifications = notifications?;
        let counts = self.tiles.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut tiles = Vec::new();
        for group in &mut dashboard.groups {
            for tile in &mut group.services {
                engine.freshen(&mut tile.service);
                let service = &tile.service;
                let labels = vec![
                    ("id", service.id.to_string()),
                    ("name", service.name.clone()),
                    ("group", group.name.clone()),
                    (
                        "kind",
                        service
                            .check
                            .as_ref()
                            .map_or("none", |check| check.kind.as_str())
                            .to_owned(),
                    ),
                ];
                let (week, month) = uptime.get(&service.id).copied().unwrap_or_default();
                let uptime = vec![
                    ("24h", tile.uptime_24h.map(|pct| pct / 100.0)),
                    ("7d", week),
                    ("30d", month),
                ];
                tiles.push(TileSnapshot {
                    labels,
                    watched: service.check.is_some(),
                    state: service.status.state,
                    uptime,
                    cert_expiry: service
                        .status
                        .certificate
                        .as_ref()
                        .map(|c| c.expires_at.timestamp() as f64),
                    counts: counts.get(&service.id).cloned(),
                });
            }
        }
        let snapshot = Snapshot {
            tiles,
            lag: engine.metrics().lag_seconds.clone(),
            running: engine
                .metrics()
                .running
                .load(std::sync::atomic::Ordering::Relaxed),
            notifications,
            pools: store.pool_use(),
            process: process(self.started),
            replica: engine.cluster().readiness(),
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(snapshot));
        let mut text = String::with_capacity(256 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .map_err(|err| crate::store::StoreError::Other(format!("metrics could not be written: {err}")))?;
        Ok(text)
    }
}

/// The same metrics in the classic Prometheus text format (0.0.4), for clients that do not ask for
/// OpenMetrics (curl, `promtool check metrics`): a counter family is named with its `_total` samples' name,
/// and there is no `# EOF`.
pub fn classic_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[derive(Debug)]
struct TileSnapshot {
    labels: Vec<(&'static str, String)>,
    watched: bool,
    state: ServiceState,
    uptime: Vec<(&'static str, Option<f64>)>,
    cert_expiry: Option<f64>,
    counts: Option<TileCounts>,
}

#[derive(Debug, Default)]
struct Process {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<f64>,
    virtual_bytes: Option<f64>,
    open_fds: Option<f64>,
    max_fds: Option<f64>,
    threads: Option<f64>,
    start_time: f64,
}

/// What Linux tells of this process (`/proc/self`); elsewhere only the start time.
fn process(started: f64) -> Process {
    let mut found = Process {
        start_time: started,
        ..Process::default()
    };
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After the name: state is field 3, utime 14 and stime 15 (1-based), in clock ticks of 1/100 s.
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
            found.cpu_seconds = Some((user + system) / 100.0);
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        found.resident_bytes = kib("VmRSS:").map(|v| v * 1024.0);
        found.virtual_bytes = kib("VmSize:").map(|v| v * 1024.0);
        found.threads = kib("Threads:");
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        found.open_fds = Some(entries.count() as f64);
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        found.max_fds = limits
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .and_then(|line| line.split_whitespace().nth(3))
            .and_then(|v| v.parse::<f64>().ok());
    }
    found
}

#[derive(Debug)]
struct Snapshot {
    tiles: Vec<TileSnapshot>,
    lag: Histogram,
    running: i64,
    notifications: Vec<(Option<i64>, String, String, i64)>,
    pools: Vec<crate::store::PoolUse>,
    process: Process,
    /// Whether this replica takes part in checking, and how many replicas do (1 and true when alone).
    replica: (bool, usize),
}

const STATES: [ServiceState; 7] = [
    ServiceState::Up,
    ServiceState::Down,
    ServiceState::Pending,
    ServiceState::Degraded,
    ServiceState::Maintenance,
    ServiceState::Paused,
    ServiceState::Unknown,
];

fn with(labels: &[(&'static str, String)], key: &'static str, value: &str) -> Vec<(&'static str, String)> {
    let mut all = labels.to_vec();
    all.push((key, value.to_owned()));
    all
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: Option<f64>) -> std::fmt::Result {
    if let Some(value) = value {
        let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(value).encode(metric)?;
    }
    Ok(())
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let watched: Vec<&TileSnapshot> = self.tiles.iter().filter(|t| t.watched).collect();
        {
            let mut family = encoder.encode_descriptor(
                "homewatch_tile_up",
                "1 when the tile's last check passed (up or degraded), else 0; watched tiles only",
                None,
                MetricType::Gauge,
            )?;
            for tile in &watched {
                let up = matches!(tile.state, ServiceState::Up | ServiceState::Degraded);
                ConstGauge::new(i64::from(up)).encode(family.encode_family(&tile.labels)?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "homewatch_tile_state",
                "The tile's state: 1 for the state it is in, 0 for the others",
                None,
                MetricType::Gauge,
            )?;
            for tile in &self.tiles {
                for state in STATES {
                    let labels = with(&tile.labels, "state", state.as_str());
                    ConstGauge::new(i64::from(tile.state == state)).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "homewatch_check_duration_seconds",
                "How long checks took, since this process started",
                None,
                MetricType::Histogram,
            )?;
            for tile in &watched {
                if let Some(counts) = &tile.counts {
                    counts.duration.encode(family.encode_family(&tile.labels)?)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "homewatch_checks",
                "Checks run since this process started, by result (up: passed, down: failed)",
                None,
                MetricType::Counter,
            )?;
            for tile in &watched {
                let (up, down) = tile.counts.as_ref().map_or((0, 0), |c| (c.up, c.down));
                for (result, count) in [("up", up), ("down", down)] {
                    let labels = with(&tile.labels, "result", result);
                    ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "homewatch_tile_uptime_ratio",
                "Share of checks that passed over the window (0 to 1), from the hourly rollups",
                None,
                MetricType::Gauge,
            )?;
            for tile in &watched {
                for (window, ratio) in &tile.uptime {
                    if let Some(ratio) = ratio {
                        let labels = with(&tile.labels, "window", window);
                        ConstGauge::new(*ratio).encode(family.encode_family(&labels)?)?;
                    }
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "homewatch_certificate_expiry_timestamp_seconds",
                "When the certificate the tile's check last saw expires (seconds since 1970)",
                None,
                MetricType::Gauge,
            )?;
            for tile in &watched {
                if let Some(expiry) = tile.cert_expiry {
                    ConstGauge::new(expiry).encode(family.encode_family(&tile.labels)?)?;
                }
            }
        }
        {
            let metric = encoder.encode_descriptor(
                "homewatch_schedule_lag_seconds",
                "How late scheduled checks started (after waiting for a free slot)",
                None,
                MetricType::Histogram,
            )?;
            self.lag.encode(metric)?;
        }
        {
            let metric = encoder.encode_descriptor(
                "homewatch_checks_in_flight",
                "Checks running now",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(self.running).encode(metric)?;
        }
        {
            let mut family = encoder.encode_descriptor(
                "homewatch_notifications",
                "Notifications in the delivery log, by channel and status (pending, delivered, failed)",
                None,
                MetricType::Gauge,
            )?;
            for (channel_id, channel, status, count) in &self.notifications {
                let labels = vec![
                    (
                        "channel_id",
                        channel_id.map(|id| id.to_string()).unwrap_or_default(),
                    ),
                    ("channel", channel.clone()),
                    ("status", status.clone()),
                ];
                ConstGauge::new(*count).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "homewatch_store_connections",
                "Database connections by pool and use (busy, idle, max)",
                None,
                MetricType::Gauge,
            )?;
            for pool in &self.pools {
                let busy = pool.size.saturating_sub(pool.idle);
                for (state, value) in [("busy", busy), ("idle", pool.idle), ("max", pool.max)] {
                    let labels = vec![("pool", pool.name.to_owned()), ("state", state.to_owned())];
                    ConstGauge::new(i64::from(value)).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let metric = encoder.encode_descriptor(
                "homewatch_build_info",
                "The running version",
                None,
                MetricType::Gauge,
            )?;
            let mut metric = metric;
            let labels = vec![("version", env!("CARGO_PKG_VERSION").to_owned())];
            ConstGauge::new(1).encode(metric.encode_family(&labels)?)?;
        }
        gauge(
            &mut encoder,
            "homewatch_replica_checking",
            "1 while this replica takes part in checking (replicas on one PostgreSQL; always 1 alone)",
            Some(f64::from(u8::from(self.replica.0))),
        )?;
        gauge(
            &mut encoder,
            "homewatch_replicas_active",
            "Replicas taking part in checking, as this one sees them",
            Some(self.replica.1 as f64),
        )?;
        let process = &self.process;
        if let Some(cpu) = process.cpu_seconds {
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(cpu).encode(metric)?;
        }
        gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            process.resident_bytes,
        )?;
        gauge(
            &mut encoder,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            process.virtual_bytes,
        )?;
        gauge(
            &mut encoder,
            "process_open_fds",
            "Number of open file descriptors",
            process.open_fds,
        )?;
        gauge(
            &mut encoder,
            "process_max_fds",
            "Maximum number of open file descriptors",
            process.max_fds,
        )?;
        gauge(
            &mut encoder,
            "process_threads",
            "Number of OS threads",
            process.threads,
        )?;
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            Some(process.start_time),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_classic_format_names_counters_by_their_samples() {
        let text = "# HELP a_checks Checks.\n# TYPE a_checks counter\na_checks_total 3\n\
                    # HELP b Gauge.\n# TYPE b gauge\nb 1\n# EOF\n";
        assert_eq!(
            super::classic_text(text),
            "# HELP a_checks_total Checks.\n# TYPE a_checks_total counter\na_checks_total 3\n\
             # HELP b Gauge.\n# TYPE b gauge\nb 1\n"
        );
    }
}
