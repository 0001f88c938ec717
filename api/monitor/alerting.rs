//! When a tile's state is worth telling people: the rules, apart from the scheduler so they can be tested
//! step by step.
//!
//! - `down` once the tile is down (after its retries: `pending` never notifies); `up` when a tile people were
//!   told is down is up again, with the downtime. A first check that finds the tile up tells nobody.
//! - Nothing while the tile is in a maintenance window. When the window ends, the rules look again: people
//!   hear of the state only if it differs from what they were last told (the state before the window).
//! - More than `changes` changes between up and down within `window` is flapping: one `flapping` message,
//!   then nothing until the tile has not changed for a whole `window`; then the rules look again.
//! - What people were told is stored with the tile's status, so a restart tells nothing twice and never
//!   tells about a state stored before it.

use std::{collections::VecDeque, time::Duration};

use chrono::{DateTime, Utc};

use crate::model::{Alert, AlertKind, AlertMemory, ServiceState, check::Certificate};

/// When a tile counts as flapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapRule {
    /// More changes than this within `window` is flapping.
    pub changes: u32,
    pub window: Duration,
}

impl FlapRule {
    pub const DEFAULT: Self = Self {
        changes: 5,
        window: Duration::from_secs(600),
    };
}

/// One tile's alerting state.
#[derive(Debug, Clone, Default)]
pub struct Alerting {
    memory: AlertMemory,
    /// The last up or down state seen (pending in between does not count as a change).
    settled: Option<ServiceState>,
    /// When it changed between up and down, within the flapping window.
    changes: VecDeque<DateTime<Utc>>,
}

/// What a check found, for the rules.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub service_id: i64,
    pub state: ServiceState,
    /// Since when the tile is in `state`.
    pub since: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub cause: Option<&'a str>,
    /// In a maintenance window: nothing is told.
    pub in_maintenance: bool,
}

impl Alerting {
    pub fn new(memory: AlertMemory, state: ServiceState) -> Self {
        let settled = match state {
            ServiceState::Up | ServiceState::Degraded => Some(ServiceState::Up),
            ServiceState::Down => Some(state),
            _ => memory.alerted,
        };
        Self {
            memory,
            settled,
            changes: VecDeque::new(),
        }
    }

    pub fn memory(&self) -> &AlertMemory {
        &self.memory
    }

    /// Looks at the certificate a check was shown: fewer days left than a threshold (`warn_days`, then 7, 3
    /// and 1) that people were not yet told of for this certificate gives one `certificate` alert. A new
    /// certificate (another expiry) starts over.
    pub fn observe_certificate(
        &mut self,
        service_id: i64,
        cert: &Certificate,
        warn_days: u32,
        at: DateTime<Utc>,
        in_maintenance: bool,
    ) -> Option<Alert> {
        let crossed = certificate_threshold(cert.days_left, warn_days)?;
        if in_maintenance
            || self
                .memory
                .cert_warned
                .is_some_and(|(expiry, told)| expiry == cert.expires_at && told <= crossed)
        {
            return None;
        }
        self.memory.cert_warned = Some((cert.expires_at, crossed));
        let cause = if cert.days_left < 0 {
            format!(
                "the certificate for {} (issued by {}) has expired",
                cert.subject, cert.issuer
            )
        } else {
            format!(
                "the certificate for {} (issued by {}) expires in {} day{}",
                cert.subject,
                cert.issuer,
                cert.days_left,
                if cert.days_left == 1 { "" } else { "s" }
            )
        };
        Some(Alert {
            service_id,
            kind: AlertKind::Certificate,
            at,
            since: cert.expires_at,
            cause: Some(cause),
            downtime_s: None,
            changes: None,
            window_min: None,
            reminder: Some(crossed),
        })
    }

    /// Looks at the tile after a check, or when its maintenance window ends; returns what to tell, if anything.
    pub fn observe(&mut self, seen: Observation<'_>, rule: &FlapRule) -> Option<Alert> {
        let alert = |kind: AlertKind| Alert {
            service_id: seen.service_id,
            kind,
            at: seen.at,
            since: seen.since,
            cause: seen.cause.map(str::to_owned),
            downtime_s: None,
            changes: None,
            window_min: None,
            reminder: None,
        };
        let window = chrono::TimeDelta::from_std(rule.window).unwrap_or(chrono::TimeDelta::MAX);
        if matches!(seen.state, ServiceState::Up | ServiceState::Down) && self.settled != Some(seen.state) {
            if self.settled.is_some() {
                self.changes.push_back(seen.at);
            }
            self.settled = Some(seen.state);
        }
        while self.changes.front().is_some_and(|at| *at + window <= seen.at) {
            self.changes.pop_front();
        }
        if let Some(flapping_since) = self.memory.flapping_since {
            let last_change = self.changes.back().copied().unwrap_or(flapping_since);
            if last_change + window > seen.at {
                return None; // still flapping: held
            }
            self.memory.flapping_since = None; // stable for a whole window: the rules look again
        } else if self.changes.len() > rule.changes as usize {
            self.memory.flapping_since = Some(seen.at);
            if seen.in_maintenance {
                return None;
            }
            return Some(Alert {
                since: seen.at,
                changes: Some(self.changes.len() as u32),
                window_min: Some((rule.window.as_secs() / 60) as u32),
                ..alert(AlertKind::Flapping)
            });
        }
        if seen.in_maintenance {
            return None;
        }
        match (seen.state, self.memory.alerted) {
            (ServiceState::Down, alerted) if alerted != Some(ServiceState::Down) => {
                self.memory.alerted = Some(ServiceState::Down);
                self.memory.alerted_since = Some(seen.since);
                Some(alert(AlertKind::Down))
            }
            (ServiceState::Up, Some(ServiceState::Down)) => {
                let down_since = self.memory.alerted_since.unwrap_or(seen.since);
                self.memory.alerted = Some(ServiceState::Up);
                self.memory.alerted_since = Some(seen.since);
                Some(Alert {
                    downtime_s: Some((seen.since - down_since).num_seconds().max(0)),
                    cause: None,
                    ..alert(AlertKind::Up)
                })
            }
            (ServiceState::Up, None) => {
                // The first check found it up: nobody needs to hear that.
                self.memory.alerted = Some(ServiceState::Up);
                self.memory.alerted_since = Some(seen.since);
                None
            }
            _ => None,
        }
    }
}

/// The smallest threshold (of `warn_days`, 7, 3 and 1 days) that `days_left` is below, if any; 0 warns never.
pub fn certificate_threshold(days_left: i64, warn_days: u32) -> Option<u32> {
    if warn_days == 0 {
        return None;
    }
    [warn_days, 7, 3, 1]
        .into_iter()
        .filter(|days| *days <= warn_days)
        .filter(|days| days_left < i64::from(*days))
        .min()
}

#[cfg(test)]
mod tests {

    #[test]
    fn certificate_thresholds_are_crossed_one_by_one() {
        use super::certificate_threshold as crossed;
        assert_eq!(crossed(20, 14), None);
        assert_eq!(crossed(13, 14), Some(14));
        assert_eq!(crossed(6, 14), Some(7));
        assert_eq!(crossed(2, 14), Some(3));
        assert_eq!(crossed(0, 14), Some(1));
        assert_eq!(crossed(-3, 14), Some(1));
        assert_eq!(crossed(4, 5), Some(5), "a threshold below 7 is the first");
        assert_eq!(crossed(6, 5), None);
        assert_eq!(crossed(-3, 0), None, "0 never warns");
    }

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn seen(state: ServiceState, since: i64, now: i64) -> Observation<'static> {
        Observation {
            service_id: 1,
            state,
            since: at(since),
            at: at(now),
            cause: Some("status 500 is not in 200-299"),
            in_maintenance: false,
        }
    }

    fn kinds(alerting: &mut Alerting, steps: &[(ServiceState, i64, i64, bool)]) -> Vec<Option<AlertKind>> {
        steps
            .iter()
            .map(|&(state, since, now, maintenance)| {
                let mut observation = seen(state, since, now);
                observation.in_maintenance = maintenance;
                alerting
                    .observe(observation, &FlapRule::DEFAULT)
                    .map(|alert| alert.kind)
            })
            .collect()
    }

    use ServiceState::{Down, Pending, Up};

    #[test]
    fn down_once_after_retries_and_up_once_with_the_downtime() {
        let mut alerting = Alerting::default();
        assert_eq!(
            kinds(
                &mut alerting,
                &[
                    (Up, 0, 0, false),
                    (Pending, 60, 60, false),
                    (Down, 120, 120, false),
                    (Down, 120, 180, false)
                ]
            ),
            [None, None, Some(AlertKind::Down), None]
        );
        let up = alerting.observe(seen(Up, 300, 300), &FlapRule::DEFAULT).unwrap();
        assert_eq!((up.kind, up.downtime_s), (AlertKind::Up, Some(180)));
        assert_eq!(alerting.observe(seen(Up, 300, 360), &FlapRule::DEFAULT), None);
    }

    #[test]
    fn a_restart_does_not_tell_again_what_was_stored() {
        let memory = AlertMemory {
            alerted: Some(Down),
            alerted_since: Some(at(0)),
            flapping_since: None,
            cert_warned: None,
        };
        let mut alerting = Alerting::new(memory, Down);
        assert_eq!(kinds(&mut alerting, &[(Down, 0, 600, false)]), [None]);
        assert_eq!(
            kinds(&mut alerting, &[(Up, 700, 700, false)]),
            [Some(AlertKind::Up)]
        );
    }

    #[test]
    fn maintenance_holds_alerts_and_its_end_tells_only_a_changed_state() {
        let mut alerting = Alerting::default();
        kinds(&mut alerting, &[(Up, 0, 0, false)]);
        // Down and back up inside the window: nothing, before or after.
        assert_eq!(
            kinds(
                &mut alerting,
                &[(Down, 60, 60, true), (Up, 120, 120, true), (Up, 120, 180, false)]
            ),
            [None, None, None]
        );
        // Down inside the window and still down when it ends: told then.
        assert_eq!(
            kinds(&mut alerting, &[(Down, 240, 240, true), (Down, 240, 300, false)]),
            [None, Some(AlertKind::Down)]
        );
    }

    #[test]
    fn flapping_is_told_once_and_held_until_stable() {
        let mut alerting = Alerting::default();
        let mut told = Vec::new();
        for step in 0..13 {
            let state = if step % 2 == 0 { Up } else { Down };
            told.push(
                alerting
                    .observe(seen(state, step * 30, step * 30), &FlapRule::DEFAULT)
                    .map(|a| a.kind),
            );
        }
        let told: Vec<AlertKind> = told.into_iter().flatten().collect();
        use AlertKind::{Down as D, Flapping as F, Up as U};
        assert_eq!(
            told,
            [D, U, D, U, D, F],
            "five alerts, one flapping message, then silence"
        );
        // The last change (to up) was at 360 s: held until it has been stable for ten minutes, then the
        // rules look again: people were last told "down", so now they hear "up".
        assert_eq!(kinds(&mut alerting, &[(Up, 360, 950, false)]), [None]);
        assert_eq!(
            kinds(&mut alerting, &[(Up, 360, 970, false)]),
            [Some(AlertKind::Up)]
        );
        assert_eq!(alerting.memory().flapping_since, None);
    }
}
