//! Uptime and latency over a window, from hourly rollups. Windows are whole hours ending with the current
//! one, so a 24 h window is the current hour and the 23 before it.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};

use crate::model::{Rollup, hour_of_ms};

/// The windows a tile's stats can cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum Window {
    #[oai(rename = "24h")]
    Day,
    #[oai(rename = "7d")]
    Week,
    #[oai(rename = "30d")]
    Month,
    #[oai(rename = "90d")]
    Quarter,
    #[oai(rename = "365d")]
    Year,
}

impl Window {
    pub fn hours(self) -> i64 {
        match self {
            Self::Day => 24,
            Self::Week => 7 * 24,
            Self::Month => 30 * 24,
            Self::Quarter => 90 * 24,
            Self::Year => 365 * 24,
        }
    }

    /// Chart buckets when the caller does not ask: hourly for a day, 6-hourly for a week, daily beyond,
    /// 5-daily for a year.
    pub fn default_buckets(self) -> u32 {
        match self {
            Self::Day => 24,
            Self::Week => 28,
            Self::Month => 30,
            Self::Quarter => 90,
            Self::Year => 73,
        }
    }
}

/// One slice of a window, for charts.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct StatsBucket {
    pub start: DateTime<Utc>,
    pub checks: i64,
    /// Null when nothing was checked in this slice.
    pub uptime_percent: Option<f64>,
    pub avg_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
}

/// Uptime and latency of one tile over a window. Paused time has no checks, so it does not count.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct Stats {
    pub service_id: i64,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub checks: i64,
    pub ok_checks: i64,
    /// Null when nothing was checked in the window.
    pub uptime_percent: Option<f64>,
    pub avg_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
    pub series: Vec<StatsBucket>,
}

/// The first and last hour of a window that ends now.
pub fn window_hours(window: Window, now: DateTime<Utc>) -> (i64, i64) {
    let last = hour_of_ms(now.timestamp_millis());
    (last - window.hours() + 1, last)
}

fn hour_start(hour: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(hour * 3600, 0).unwrap_or_default()
}

/// Sums `rollups` (hour, rollup) over the window `first..=last`, cut into `buckets` slices.
pub fn summarise(
    service_id: i64,
    rollups: &[(i64, Rollup)],
    first: i64,
    last: i64,
    buckets: u32,
    now: DateTime<Utc>,
) -> Stats {
    let hours = last - first + 1;
    let per_bucket = ((hours + i64::from(buckets) - 1) / i64::from(buckets.max(1))).max(1);
    let slices = (hours + per_bucket - 1) / per_bucket;
    let mut series: Vec<Rollup> = vec![Rollup::default(); slices as usize];
    let mut total = Rollup::default();
    for (hour, rollup) in rollups.iter().filter(|(hour, _)| (first..=last).contains(hour)) {
        series[((hour - first) / per_bucket) as usize].merge(rollup);
        total.merge(rollup);
    }
    Stats {
        service_id,
        from: hour_start(first),
        until: now,
        checks: total.checks,
        ok_checks: total.ok_checks,
        uptime_percent: total.uptime_percent(),
        avg_latency_ms: total.avg_latency_ms(),
        p95_latency_ms: total.p95_latency_ms(),
        series: series
            .iter()
            .enumerate()
            .map(|(index, slice)| StatsBucket {
                start: hour_start(first + index as i64 * per_bucket),
                checks: slice.checks,
                uptime_percent: slice.uptime_percent(),
                avg_latency_ms: slice.avg_latency_ms(),
                p95_latency_ms: slice.p95_latency_ms(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cut_the_window_evenly() {
        let now = DateTime::from_timestamp(100 * 3600 + 120, 0).unwrap();
        let (first, last) = window_hours(Window::Day, now);
        assert_eq!((first, last), (77, 100));
        let mut up = Rollup::default();
        up.add(true, 10);
        let mut down = Rollup::default();
        down.add(false, 0);
        let stats = summarise(1, &[(77, up.clone()), (100, down), (50, up)], first, last, 6, now);
        assert_eq!(stats.series.len(), 6);
        assert_eq!(stats.checks, 2, "hour 50 is outside the window");
        assert_eq!(stats.uptime_percent, Some(50.0));
        assert_eq!(stats.series[0].uptime_percent, Some(100.0));
        assert_eq!(stats.series[5].uptime_percent, Some(0.0));
        assert_eq!(stats.series[1].uptime_percent, None);
        assert_eq!(
            stats.series[1].start,
            DateTime::from_timestamp(81 * 3600, 0).unwrap()
        );
    }
}
