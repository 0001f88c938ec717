//! What the engine records: check results, state changes and incidents, as the API shows them and as the
//! engine hands them to a store in one batch.

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::{Alert, AlertMemory, Certificate, ServiceState, ServiceStatus};

/// One run of a tile's check.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct CheckResult {
    pub service_id: i64,
    /// When the check started (millisecond precision).
    pub checked_at: DateTime<Utc>,
    pub ok: bool,
    pub latency_ms: u32,
    /// The HTTP status, for http and keyword checks that got a response.
    pub status_code: Option<u16>,
    /// Why the check failed, or why a passing one is `degraded`.
    pub error: Option<String>,
    /// Found during a maintenance window: kept, but left out of uptime (unless the server counts it).
    pub maintenance: bool,
    /// Passed, but not well: slower than `degraded_above_ms`, a certificate near expiry, or packets lost
    /// (the reason is in `error`). Counts as up.
    pub degraded: bool,
    /// ping: the share of echo requests that got no answer, in percent.
    #[oai(skip_serializing_if_is_none)]
    pub packet_loss_pct: Option<u8>,
    /// The certificate the check was shown (kept with the tile's status, not with each result).
    #[oai(skip)]
    pub certificate: Option<Certificate>,
}

/// A stretch of time a tile was down: opened when it went down, closed when it came back up.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Incident {
    pub id: i64,
    pub service_id: i64,
    pub started_at: DateTime<Utc>,
    /// Null while the incident is open.
    pub ended_at: Option<DateTime<Utc>>,
    /// Seconds from start to end; null while open.
    pub duration_s: Option<i64>,
    /// What the failing check reported when the tile went down.
    pub cause: String,
}

/// Which incidents to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    pub service_id: Option<i64>,
    /// Some(true): only open ones; Some(false): only closed ones.
    pub open: Option<bool>,
    pub limit: u32,
}

/// A tile's state as the engine last decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub service_id: i64,
    pub state: ServiceState,
    pub since: DateTime<Utc>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_latency_ms: Option<u32>,
    pub last_error: Option<String>,
    /// The certificate the last check was shown.
    pub certificate: Option<Certificate>,
    /// Failed checks in a row.
    pub failures: u32,
    /// What people were last told about the tile.
    pub memory: AlertMemory,
}

/// An incident opening or closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentChange {
    Open {
        service_id: i64,
        started_at: DateTime<Utc>,
        cause: String,
    },
    Close {
        service_id: i64,
        ended_at: DateTime<Utc>,
    },
}

/// Everything the engine has to write since its last batch; a store writes it in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryBatch {
    pub results: Vec<CheckResult>,
    pub statuses: Vec<StatusUpdate>,
    pub incidents: Vec<IncidentChange>,
    /// Alerts decided with these statuses: stored as notifications in the same transaction.
    pub alerts: Vec<Alert>,
    /// Results found during maintenance count in uptime too (HOMEWATCH_MAINTENANCE_IN_UPTIME).
    pub count_maintenance: bool,
}

impl HistoryBatch {
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
            && self.statuses.is_empty()
            && self.incidents.is_empty()
            && self.alerts.is_empty()
    }

    fn len(&self) -> usize {
        self.results.len() + self.statuses.len() + self.incidents.len() + self.alerts.len()
    }

    /// Two halves that, written one after the other, write what this batch writes; None for a single row.
    /// Rows of several kinds split by kind first (results, statuses, alerts, incidents); one kind halves.
    pub fn split(&self) -> Option<(HistoryBatch, HistoryBatch)> {
        if self.len() <= 1 {
            return None;
        }
        let empty = || HistoryBatch {
            count_maintenance: self.count_maintenance,
            ..Default::default()
        };
        let (mut first, mut second) = (empty(), empty());
        let kinds = [
            !self.results.is_empty(),
            !self.statuses.is_empty(),
            !self.alerts.is_empty(),
            !self.incidents.is_empty(),
        ];
        if kinds.iter().filter(|present| **present).count() > 1 {
            second = self.clone();
            if !self.results.is_empty() {
                first.results = std::mem::take(&mut second.results);
            } else if !self.statuses.is_empty() {
                first.statuses = std::mem::take(&mut second.statuses);
            } else {
                first.alerts = std::mem::take(&mut second.alerts);
            }
            return Some((first, second));
        }
        fn halve<T: Clone>(rows: &[T]) -> (Vec<T>, Vec<T>) {
            let (a, b) = rows.split_at(rows.len().div_ceil(2));
            (a.to_vec(), b.to_vec())
        }
        (first.results, second.results) = halve(&self.results);
        (first.statuses, second.statuses) = halve(&self.statuses);
        (first.alerts, second.alerts) = halve(&self.alerts);
        (first.incidents, second.incidents) = halve(&self.incidents);
        Some((first, second))
    }
}

/// A check run on request, and the tile's status after it.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct CheckRun {
    pub result: CheckResult,
    pub status: ServiceStatus,
}

/// What an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum EventKind {
    /// A check ran; `result` holds what it found.
    Result,
    /// A tile changed state; `state` and `previous` say from what to what.
    StateChanged,
    /// Groups, tiles or maintenance windows changed (on any replica): read the dashboard again. `service_id`
    /// is 0.
    ConfigChanged,
}

/// One server-sent event of `GET /events`.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Event {
    pub kind: EventKind,
    pub service_id: i64,
    pub at: DateTime<Utc>,
    pub state: Option<ServiceState>,
    pub previous: Option<ServiceState>,
    pub result: Option<CheckResult>,
}
