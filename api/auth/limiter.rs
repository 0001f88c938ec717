//! Backoff for login attempts, per client address and per username: a few failures are free, then each
//! failure doubles the wait (1 s, 2 s, 4 s... up to 15 minutes by default). A success clears the name and the
//! address. Attempts made while waiting are refused with the time left, without checking the password.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy)]
pub struct LimiterConfig {
    /// Failures in a row allowed before waiting starts.
    pub free_failures: u32,
    /// The first wait; each failure after it doubles the wait.
    pub first_wait: Duration,
    pub longest_wait: Duration,
}

impl LimiterConfig {
    pub const DEFAULT: Self = Self {
        free_failures: 5,
        first_wait: Duration::from_secs(1),
        longest_wait: Duration::from_secs(15 * 60),
    };
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[derive(Debug)]
struct Entry {
    failures: u32,
    blocked_until: Option<Instant>,
    last_failure: Instant,
}

pub struct LoginLimiter {
    config: LimiterConfig,
    entries: Mutex<HashMap<String, Entry>>,
}

/// Keys are kept for this long after their last failure, then forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

impl LoginLimiter {
    pub fn new(config: LimiterConfig) -> Self {
        Self {
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when any of the keys must wait before another attempt.
    pub fn check(&self, keys: &[String]) -> Result<(), Duration> {
        let now = Instant::now();
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let wait = keys
            .iter()
            .filter_map(|key| entries.get(key)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn failed(&self, keys: &[String]) {
        let now = Instant::now();
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() > 10_000 {
            entries.retain(|_, entry| now.duration_since(entry.last_failure) < FORGET_AFTER);
        }
        for key in keys {
            let entry = entries.entry(key.clone()).or_insert(Entry {
                failures: 0,
                blocked_until: None,
                last_failure: now,
            });
            entry.failures += 1;
            entry.last_failure = now;
            if entry.failures >= self.config.free_failures {
                let doublings = (entry.failures - self.config.free_failures).min(20);
                let wait = self
                    .config
                    .first_wait
                    .saturating_mul(1 << doublings)
                    .min(self.config.longest_wait);
                entry.blocked_until = Some(now + wait);
            }
        }
    }

    pub fn succeeded(&self, keys: &[String]) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for key in keys {
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_start_after_the_free_failures_and_double() {
        let limiter = LoginLimiter::new(LimiterConfig {
            free_failures: 3,
            first_wait: Duration::from_secs(10),
            longest_wait: Duration::from_secs(25),
        });
        let keys = ["user:alice".to_owned()];
        for _ in 0..2 {
            limiter.failed(&keys);
            assert!(limiter.check(&keys).is_ok());
        }
        limiter.failed(&keys);
        let first = limiter.check(&keys).unwrap_err();
        assert!(
            first > Duration::from_secs(9) && first <= Duration::from_secs(10),
            "{first:?}"
        );
        limiter.failed(&keys);
        assert!(limiter.check(&keys).unwrap_err() > Duration::from_secs(19));
        limiter.failed(&keys);
        assert!(
            limiter.check(&keys).unwrap_err() <= Duration::from_secs(25),
            "capped"
        );
        assert!(
            limiter.check(&["user:bob".to_owned()]).is_ok(),
            "other keys are not held"
        );
        limiter.succeeded(&keys);
        assert!(limiter.check(&keys).is_ok());
    }
}
