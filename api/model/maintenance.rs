//! Maintenance windows: planned time in which tiles show `maintenance`, checks still run and are recorded,
//! nothing is notified, and uptime leaves the time out. A window happens once or repeats by an RFC 5545
//! RRULE in an IANA time zone: "every Sunday at 03:00 Europe/Berlin" stays at 03:00 local time across
//! daylight-saving changes.

use std::str::FromStr;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use poem_openapi::Object;
use serde::Deserialize;

use super::{FieldError, Validate, check_name, finish};

/// Longest window: 31 days (a one-off), and longest rule text.
pub const DURATION_MAX_MIN: u32 = 31 * 24 * 60;
pub const RRULE_MAX_CHARS: usize = 500;
/// Earliest and latest instants a window may start at.
pub const EARLIEST: &str = "2000-01-01T00:00:00Z";
pub const LATEST: &str = "9999-12-31T23:59:59Z";
/// Most occurrences looked at to find the current one (a rule every hour covers 11 years).
const SCAN_MAX: usize = 100_000;

/// A maintenance window as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct MaintenanceWindow {
    pub id: i64,
    pub title: String,
    /// The first (or only) start.
    pub starts_at: DateTime<Utc>,
    /// How long each occurrence lasts, in minutes.
    pub duration_min: u32,
    /// RFC 5545 recurrence rule, such as `FREQ=WEEKLY;BYDAY=SU`; null: once.
    pub rrule: Option<String>,
    /// IANA time zone the rule repeats in (wall-clock time there stays the same across DST changes).
    pub timezone: String,
    /// Covers every tile.
    pub all_tiles: bool,
    pub groups: Vec<i64>,
    pub services: Vec<i64>,
    /// Whether an occurrence is going on now.
    pub active: bool,
    /// The occurrence going on now, or else the next one; null when none is left.
    pub current_or_next_start: Option<DateTime<Utc>>,
    pub current_or_next_end: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new window. Give `duration_min`, or (for a one-off) `ends_at`; without `starts_at` it starts now.
#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMaintenance {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub title: String,
    /// Default: now. From 2000-01-01 to 9999-12-31.
    pub starts_at: Option<DateTime<Utc>>,
    /// One-off windows: when it ends (instead of `duration_min`).
    pub ends_at: Option<DateTime<Utc>>,
    /// 1 to 44640 minutes (31 days).
    #[oai(validator(minimum(value = "1"), maximum(value = "44640")))]
    pub duration_min: Option<u32>,
    /// RFC 5545 RRULE (without DTSTART: `starts_at` is the first start), such as `FREQ=WEEKLY;BYDAY=SU` or
    /// `FREQ=MONTHLY;BYMONTHDAY=1`. Repeats at most hourly.
    #[oai(validator(max_length = 500))]
    pub rrule: Option<String>,
    /// IANA time zone such as `Europe/Berlin` (default UTC).
    pub timezone: Option<String>,
    /// Covers every tile (default false).
    pub all_tiles: Option<bool>,
    /// Groups whose tiles it covers.
    pub groups: Option<Vec<i64>>,
    /// Tiles it covers.
    pub services: Option<Vec<i64>>,
}

/// Changes to a window; absent fields stay. `rrule: null` makes it a one-off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenancePatch {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub title: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    #[oai(validator(minimum(value = "1"), maximum(value = "44640")))]
    pub duration_min: Option<u32>,
    #[serde(default)]
    #[oai(validator(max_length = 500))]
    pub rrule: poem_openapi::types::MaybeUndefined<String>,
    pub timezone: Option<String>,
    pub all_tiles: Option<bool>,
    pub groups: Option<Vec<i64>>,
    pub services: Option<Vec<i64>>,
}

/// A window as stored: what the store writes and the schedule is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceDraft {
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub duration_min: u32,
    pub rrule: Option<String>,
    pub timezone: String,
    pub all_tiles: bool,
    pub groups: Vec<i64>,
    pub services: Vec<i64>,
}

impl Validate for NewMaintenance {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        Ok(self)
    }
}

impl Validate for MaintenancePatch {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        Ok(self)
    }
}

fn bounds() -> (DateTime<Utc>, DateTime<Utc>) {
    let parse = |text: &str| DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc));
    match (parse(EARLIEST), parse(LATEST)) {
        (Ok(earliest), Ok(latest)) => (earliest, latest),
        _ => (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC),
    }
}

impl NewMaintenance {
    /// The window to store, every rule checked; `now` stands in for a missing start.
    pub fn draft(self, now: DateTime<Utc>) -> Result<MaintenanceDraft, Vec<FieldError>> {
        let starts_at = self.starts_at.unwrap_or(now);
        let mut errors = Vec::new();
        let duration_min = duration(
            starts_at,
            self.ends_at,
            self.duration_min,
            self.rrule.is_some(),
            &mut errors,
        );
        let draft = MaintenanceDraft {
            title: check_name("title", self.title, &mut errors),
            starts_at,
            duration_min,
            rrule: self.rrule.map(|rule| rule.trim().to_owned()),
            timezone: self.timezone.unwrap_or_else(|| "UTC".into()),
            all_tiles: self.all_tiles.unwrap_or(false),
            groups: self.groups.unwrap_or_default(),
            services: self.services.unwrap_or_default(),
        };
        check_draft(draft, errors)
    }
}

impl MaintenancePatch {
    /// The stored window with this patch applied, checked as a whole.
    pub fn apply(self, stored: MaintenanceDraft) -> Result<MaintenanceDraft, Vec<FieldError>> {
        let mut errors = Vec::new();
        let starts_at = self.starts_at.unwrap_or(stored.starts_at);
        let rrule = match self.rrule {
            poem_openapi::types::MaybeUndefined::Undefined => stored.rrule,
            poem_openapi::types::MaybeUndefined::Null => None,
            poem_openapi::types::MaybeUndefined::Value(rule) => Some(rule.trim().to_owned()),
        };
        let duration_min = if self.ends_at.is_some() || self.duration_min.is_some() {
            duration(
                starts_at,
                self.ends_at,
                self.duration_min,
                rrule.is_some(),
                &mut errors,
            )
        } else {
            stored.duration_min
        };
        let draft = MaintenanceDraft {
            title: match self.title {
                Some(title) => check_name("title", title, &mut errors),
                None => stored.title,
            },
            starts_at,
            duration_min,
            rrule,
            timezone: self.timezone.unwrap_or(stored.timezone),
            all_tiles: self.all_tiles.unwrap_or(stored.all_tiles),
            groups: self.groups.unwrap_or(stored.groups),
            services: self.services.unwrap_or(stored.services),
        };
        check_draft(draft, errors)
    }
}

fn duration(
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    duration_min: Option<u32>,
    recurring: bool,
    errors: &mut Vec<FieldError>,
) -> u32 {
    match (ends_at, duration_min) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "ends_at",
                "give either ends_at or duration_min, not both",
            ));
            0
        }
        (Some(_), None) if recurring => {
            errors.push(FieldError::new(
                "ends_at",
                "a recurring window needs duration_min (how long each occurrence lasts), not ends_at",
            ));
            0
        }
        (Some(ends_at), None) => {
            let minutes = (ends_at - starts_at).num_seconds().div_euclid(60);
            if minutes < 1 {
                errors.push(FieldError::new(
                    "ends_at",
                    "must be at least a minute after starts_at",
                ));
                0
            } else if minutes > i64::from(DURATION_MAX_MIN) {
                errors.push(FieldError::new(
                    "ends_at",
                    "must be at most 31 days after starts_at",
                ));
                0
            } else {
                minutes as u32
            }
        }
        (None, Some(minutes)) if (1..=DURATION_MAX_MIN).contains(&minutes) => minutes,
        (None, Some(minutes)) => {
            errors.push(FieldError::new(
                "duration_min",
                format!("must be 1 to {DURATION_MAX_MIN} minutes (got {minutes})"),
            ));
            0
        }
        (None, None) => {
            errors.push(FieldError::new(
                "duration_min",
                "is required: how long the window lasts, in minutes (or ends_at for a one-off)",
            ));
            0
        }
    }
}

fn check_draft(
    mut draft: MaintenanceDraft,
    mut errors: Vec<FieldError>,
) -> Result<MaintenanceDraft, Vec<FieldError>> {
    let (earliest, latest) = bounds();
    if draft.starts_at < earliest || draft.starts_at > latest {
        errors.push(FieldError::new(
            "starts_at",
            format!("must be between {EARLIEST} and {LATEST}"),
        ));
    }
    if chrono_tz::Tz::from_str(&draft.timezone).is_err() {
        errors.push(FieldError::new(
            "timezone",
            "must be an IANA time zone name such as Europe/Berlin, America/New_York or UTC",
        ));
    }
    if let Some(rule) = &draft.rrule {
        if rule.chars().count() > RRULE_MAX_CHARS {
            errors.push(FieldError::new(
                "rrule",
                format!("must be at most {RRULE_MAX_CHARS} characters"),
            ));
        } else if errors.is_empty()
            && let Err(message) = Schedule::of(&draft).map(drop)
        {
            errors.push(FieldError::new("rrule", message));
        }
    }
    for (field, ids) in [("groups", &mut draft.groups), ("services", &mut draft.services)] {
        if ids.len() > super::alerts::TARGETS_MAX {
            errors.push(FieldError::new(
                field,
                format!("at most {} ids", super::alerts::TARGETS_MAX),
            ));
        }
        ids.sort_unstable();
        ids.dedup();
    }
    if !draft.all_tiles && draft.groups.is_empty() && draft.services.is_empty() {
        errors.push(FieldError::new(
            "all_tiles",
            "the window covers nothing: set all_tiles, or list groups or services",
        ));
    }
    finish(draft, errors)
}

/// When a window's occurrences happen.
#[derive(Debug, Clone)]
pub enum Schedule {
    Once {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    Repeating {
        set: Box<rrule::RRuleSet>,
        length: TimeDelta,
    },
}

impl Schedule {
    pub fn of(draft: &MaintenanceDraft) -> Result<Self, String> {
        let length = TimeDelta::try_minutes(i64::from(draft.duration_min)).unwrap_or(TimeDelta::MAX);
        let Some(rule) = &draft.rrule else {
            return Ok(Self::Once {
                start: draft.starts_at,
                end: draft.starts_at + length,
            });
        };
        let zone = chrono_tz::Tz::from_str(&draft.timezone)
            .map_err(|_| format!("unknown time zone {}", draft.timezone))?;
        let tz = rrule::Tz::Tz(zone);
        let text = rule.strip_prefix("RRULE:").unwrap_or(rule);
        if text.to_ascii_uppercase().contains("DTSTART") {
            return Err("must not hold DTSTART: starts_at is the first start".into());
        }
        let parsed: rrule::RRule<rrule::Unvalidated> = text
            .parse()
            .map_err(|err| format!("is not an RFC 5545 RRULE ({err}); for example FREQ=WEEKLY;BYDAY=SU"))?;
        if matches!(
            parsed.get_freq(),
            rrule::Frequency::Minutely | rrule::Frequency::Secondly
        ) {
            return Err("repeats more often than hourly; use FREQ=HOURLY or slower".into());
        }
        // rrule counts whole seconds: a start with a fraction would make the first occurrence fall before
        // DTSTART, and be skipped.
        let start = draft.starts_at.trunc_subsecs(0).with_timezone(&tz);
        let set = parsed
            .build(start)
            .map_err(|err| format!("is not a valid rule: {err}"))?;
        Ok(Self::Repeating {
            set: Box::new(set),
            length,
        })
    }

    /// The occurrence going on at `at`, or else the next one to start after it, as (start, end).
    pub fn current_or_next(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        match self {
            Self::Once { start, end } => (*end > at).then_some((*start, *end)),
            Self::Repeating { set, length } => set
                .as_ref()
                .into_iter()
                .take(SCAN_MAX)
                .map(|start| {
                    let start = start.with_timezone(&Utc);
                    (start, start + *length)
                })
                .find(|(_, end)| *end > at),
        }
    }

    /// Occurrence starts from the first, at most `count`.
    pub fn starts(&self, count: usize) -> Vec<DateTime<Utc>> {
        match self {
            Self::Once { start, .. } => vec![*start],
            Self::Repeating { set, .. } => set
                .as_ref()
                .into_iter()
                .take(count)
                .map(|start| start.with_timezone(&Utc))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn weekly(starts_at: &str, timezone: &str) -> Schedule {
        Schedule::of(&MaintenanceDraft {
            title: "patch night".into(),
            starts_at: at(starts_at),
            duration_min: 60,
            rrule: Some("FREQ=WEEKLY".into()),
            timezone: timezone.into(),
            all_tiles: true,
            groups: vec![],
            services: vec![],
        })
        .unwrap()
    }

    #[test]
    fn a_repeating_window_that_starts_now_is_on_now() {
        // A start with a fraction of a second (as "now" has) is the first occurrence, not skipped.
        let schedule = weekly("2026-11-27T13:15:19.295Z", "Europe/Berlin");
        let now = at("2026-11-27T13:15:19.300Z");
        assert_eq!(
            schedule.current_or_next(now),
            Some((at("2026-11-27T13:15:19Z"), at("2026-11-27T14:15:19Z")))
        );
    }

    #[test]
    fn a_weekly_window_keeps_its_local_time_across_a_dst_change() {
        // Sundays 09:00 in Berlin: 07:00 UTC in summer time, 08:00 UTC after 25 October 2026.
        let berlin = weekly("2026-10-18T07:00:00Z", "Europe/Berlin");
        assert_eq!(
            berlin.starts(3),
            vec![
                at("2026-10-18T07:00:00Z"),
                at("2026-10-25T08:00:00Z"),
                at("2026-11-01T08:00:00Z")
            ]
        );
        // Sundays 09:00 in New York: 13:00 UTC in daylight time, 14:00 UTC after 1 November 2026.
        let new_york = weekly("2026-10-25T13:00:00Z", "America/New_York");
        assert_eq!(
            new_york.starts(2),
            vec![at("2026-10-25T13:00:00Z"), at("2026-11-01T14:00:00Z")]
        );
        assert_eq!(
            new_york.current_or_next(at("2026-11-01T14:30:00Z")),
            Some((at("2026-11-01T14:00:00Z"), at("2026-11-01T15:00:00Z")))
        );
        assert_eq!(
            new_york.current_or_next(at("2026-11-01T13:30:00Z")),
            Some((at("2026-11-01T14:00:00Z"), at("2026-11-01T15:00:00Z"))),
            "13:30 UTC is 08:30 local after the change: before the window"
        );
    }

    #[test]
    fn rules_are_checked_with_reasons() {
        let draft = |rule: &str| MaintenanceDraft {
            title: "x".into(),
            starts_at: at("2026-01-01T00:00:00Z"),
            duration_min: 10,
            rrule: Some(rule.into()),
            timezone: "UTC".into(),
            all_tiles: true,
            groups: vec![],
            services: vec![],
        };
        assert!(
            Schedule::of(&draft("FREQ=MINUTELY"))
                .unwrap_err()
                .contains("hourly")
        );
        assert!(
            Schedule::of(&draft("FREQ=SOMETIMES"))
                .unwrap_err()
                .contains("RRULE")
        );
        assert!(Schedule::of(&draft("FREQ=MONTHLY;BYMONTHDAY=1")).is_ok());
        let once = NewMaintenance {
            title: "x".into(),
            starts_at: Some(at("2026-01-01T00:00:00Z")),
            ends_at: Some(at("2025-01-01T00:00:00Z")),
            duration_min: None,
            rrule: None,
            timezone: Some("Mars/Olympus".into()),
            all_tiles: Some(true),
            groups: None,
            services: None,
        }
        .draft(Utc::now())
        .unwrap_err();
        let fields: Vec<&str> = once.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["ends_at", "timezone"]);
    }
}
