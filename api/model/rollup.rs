//! Hourly rollups: counts, latency sum/min/max and a fixed 16-bucket latency histogram per tile and hour.
//! Fixed buckets let both databases merge rollups with plain addition, and are enough for a p95.

/// Upper bounds (inclusive, milliseconds) of the latency buckets b0..b15; the last one is open-ended.
pub const BUCKET_UPPER_MS: [u32; 16] = [
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    300,
    500,
    750,
    1_000,
    2_000,
    5_000,
    10_000,
    u32::MAX,
];

pub fn bucket_of(latency_ms: u32) -> usize {
    BUCKET_UPPER_MS
        .iter()
        .position(|upper| latency_ms <= *upper)
        .unwrap_or(BUCKET_UPPER_MS.len() - 1)
}

/// The hour a moment falls in, as the stores key rollups (unix seconds / 3600).
pub fn hour_of_ms(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(3_600_000)
}

/// A batch's results summed per tile and hour, ready to be added to the stored rollups.
pub fn batch_rollups(results: &[super::CheckResult]) -> Vec<(i64, i64, Rollup)> {
    let mut sums: std::collections::BTreeMap<(i64, i64), Rollup> = std::collections::BTreeMap::new();
    for result in results {
        let key = (
            result.service_id,
            hour_of_ms(result.checked_at.timestamp_millis()),
        );
        sums.entry(key).or_default().add(result.ok, result.latency_ms);
    }
    sums.into_iter()
        .map(|((service_id, hour), rollup)| (service_id, hour, rollup))
        .collect()
}

/// Checks of one tile over some span. Latency figures cover successful checks only: a timeout says
/// nothing about how fast the service answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollup {
    pub checks: i64,
    pub ok_checks: i64,
    pub latency_sum: i64,
    pub latency_min: i64,
    pub latency_max: i64,
    pub buckets: [i64; 16],
}

impl Rollup {
    pub fn add(&mut self, ok: bool, latency_ms: u32) {
        self.checks += 1;
        if !ok {
            return;
        }
        let latency = i64::from(latency_ms);
        self.latency_min = if self.ok_checks == 0 {
            latency
        } else {
            self.latency_min.min(latency)
        };
        self.latency_max = self.latency_max.max(latency);
        self.ok_checks += 1;
        self.latency_sum += latency;
        self.buckets[bucket_of(latency_ms)] += 1;
    }

    pub fn merge(&mut self, other: &Rollup) {
        if other.ok_checks > 0 {
            self.latency_min = if self.ok_checks == 0 {
                other.latency_min
            } else {
                self.latency_min.min(other.latency_min)
            };
            self.latency_max = self.latency_max.max(other.latency_max);
        }
        self.checks += other.checks;
        self.ok_checks += other.ok_checks;
        self.latency_sum += other.latency_sum;
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
    }

    /// Share of checks that passed, in percent; None without checks.
    pub fn uptime_percent(&self) -> Option<f64> {
        (self.checks > 0).then(|| self.ok_checks as f64 * 100.0 / self.checks as f64)
    }

    pub fn avg_latency_ms(&self) -> Option<f64> {
        (self.ok_checks > 0).then(|| self.latency_sum as f64 / self.ok_checks as f64)
    }

    /// The 95th percentile of latency, interpolated within its bucket and kept within min..max.
    pub fn p95_latency_ms(&self) -> Option<f64> {
        if self.ok_checks == 0 {
            return None;
        }
        let target = 0.95 * self.ok_checks as f64;
        let mut below = 0.0;
        for (index, count) in self.buckets.iter().enumerate() {
            let count = *count as f64;
            if count > 0.0 && below + count >= target {
                let lower = if index == 0 {
                    0.0
                } else {
                    f64::from(BUCKET_UPPER_MS[index - 1])
                };
                let upper = f64::from(BUCKET_UPPER_MS[index]).min(self.latency_max as f64);
                let estimate = lower + (upper - lower) * ((target - below) / count);
                return Some(estimate.clamp(self.latency_min as f64, self.latency_max as f64));
            }
            below += count;
        }
        Some(self.latency_max as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_latency() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(1_000), 11);
        assert_eq!(bucket_of(60_000), 15);
    }

    #[test]
    fn failures_count_for_uptime_not_latency() {
        let mut rollup = Rollup::default();
        rollup.add(true, 40);
        rollup.add(false, 10_000);
        rollup.add(true, 60);
        assert_eq!(rollup.uptime_percent(), Some(200.0 / 3.0));
        assert_eq!(rollup.avg_latency_ms(), Some(50.0));
        assert_eq!((rollup.latency_min, rollup.latency_max), (40, 60));
    }

    #[test]
    fn p95_is_close_to_the_exact_value() {
        let mut rollup = Rollup::default();
        let mut latencies: Vec<u32> = (0..1000).map(|i| 20 + (i * 7919 % 400)).collect();
        for latency in &latencies {
            rollup.add(true, *latency);
        }
        latencies.sort();
        let exact = f64::from(latencies[949]);
        let estimate = rollup.p95_latency_ms().unwrap();
        assert!(
            (estimate - exact).abs() <= 60.0,
            "estimate {estimate} vs exact {exact}"
        );
        assert!(estimate <= rollup.latency_max as f64);
    }

    #[test]
    fn merging_equals_adding_everything_at_once() {
        let (mut left, mut right, mut all) = (Rollup::default(), Rollup::default(), Rollup::default());
        for (index, latency) in [5u32, 80, 300, 2, 1500, 45].into_iter().enumerate() {
            let ok = index != 3;
            if index % 2 == 0 {
                left.add(ok, latency)
            } else {
                right.add(ok, latency)
            }
            all.add(ok, latency);
        }
        left.merge(&right);
        assert_eq!(left, all);
        let mut empty = Rollup::default();
        empty.merge(&all);
        assert_eq!(empty, all);
    }
}
