//! Backoff for guesses (logins, the setup token, the current password), by key: a client address (IPv6 by
//! /64), and that address with the account it tries. A few failures are free, then each doubles the wait
//! (1 s, 2 s, 4 s... up to 15 minutes by default); a success clears the keys.
//!
//! An attempt is counted as a failure before its password is verified, and only one attempt per key is
//! verified at a time: guesses sent all at once are refused (429) instead of each being checked. There is no
//! key for an account alone, so someone else's failures never keep its owner out when the owner's address has
//! none. Keys are kept as 16-byte hashes, at most `max_keys` of them (the least recently used go first).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy)]
pub struct LimiterConfig {
    /// Failures in a row allowed before waiting starts.
    pub free_failures: u32,
    /// The first wait; each failure after it doubles the wait.
    pub first_wait: Duration,
    pub longest_wait: Duration,
    /// Keys remembered at most; beyond, the least recently used are forgotten.
    pub max_keys: usize,
}

impl LimiterConfig {
    pub const DEFAULT: Self = Self {
        free_failures: 5,
        first_wait: Duration::from_secs(1),
        longest_wait: Duration::from_secs(15 * 60),
        max_keys: 10_000,
    };
}

impl LimiterConfig {
    /// The wait after this many failures in a row: none for the free ones, then doubling up to `longest_wait`.
    pub fn wait_after(&self, failures: u32) -> Option<Duration> {
        (failures > self.free_failures).then(|| {
            let doublings = (failures - self.free_failures - 1).min(20);
            self.first_wait
                .saturating_mul(1 << doublings)
                .min(self.longest_wait)
        })
    }
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a key stands for; only its hash is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 16]);

impl Key {
    pub fn of(kind: &str, parts: &[&str]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(kind.as_bytes());
        for part in parts {
            hasher.update([0]);
            hasher.update(part.as_bytes());
        }
        let digest = hasher.finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        Self(key)
    }

    /// A client address, an IPv6 address by its /64 (one household or host holds a whole /64).
    pub fn address(kind: &str, ip: IpAddr) -> Self {
        Self::of(kind, &[&counted_address(ip)])
    }

    /// A client address with something it tries (an account name).
    pub fn address_and(kind: &str, ip: IpAddr, what: &str) -> Self {
        Self::of(kind, &[&counted_address(ip), what])
    }

    /// The hash in hex, as replicas share it.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// How an address is counted: IPv4 as it is, IPv6 by its /64.
fn counted_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

#[derive(Debug)]
struct Entry {
    failures: u32,
    blocked_until: Option<Instant>,
    last_seen: Instant,
    verifying: bool,
}

pub struct LoginLimiter {
    config: LimiterConfig,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// Why an attempt may not be made now, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait(pub Duration);

/// An attempt under way: it counts as a failure unless `succeeded` is called.
#[must_use = "an attempt counts as a failure unless it succeeds"]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    keys: Vec<Key>,
}

impl Attempt<'_> {
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The guess was right: the keys are forgotten.
    pub fn succeeded(self) {
        let mut entries = self.limiter.lock();
        for key in &self.keys {
            entries.remove(key);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut entries = self.limiter.lock();
        for key in &self.keys {
            if let Some(entry) = entries.get_mut(key) {
                entry.verifying = false;
            }
        }
    }
}

/// Keys are forgotten this long after they were last seen, whatever they held.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

impl LoginLimiter {
    pub fn new(config: LimiterConfig) -> Self {
        Self {
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts an attempt: refused while any key waits out a backoff or has an attempt being verified;
    /// otherwise the attempt is counted as a failure now, and undone only by `Attempt::succeeded`.
    pub fn begin(&self, keys: Vec<Key>) -> Result<Attempt<'_>, Wait> {
        let now = Instant::now();
        let mut entries = self.lock();
        let mut wait = Duration::ZERO;
        for key in &keys {
            if let Some(entry) = entries.get(key) {
                if let Some(until) = entry.blocked_until.filter(|until| *until > now) {
                    wait = wait.max(until - now);
                } else if entry.verifying {
                    wait = wait.max(Duration::from_secs(1));
                }
            }
        }
        if wait > Duration::ZERO {
            return Err(Wait(wait));
        }
        self.make_room(&mut entries, keys.len(), now);
        for key in &keys {
            let entry = entries.entry(*key).or_insert(Entry {
                failures: 0,
                blocked_until: None,
                last_seen: now,
                verifying: false,
            });
            entry.failures = entry.failures.saturating_add(1);
            entry.last_seen = now;
            entry.verifying = true;
            if let Some(wait) = self.config.wait_after(entry.failures) {
                entry.blocked_until = Some(now + wait);
            }
        }
        Ok(Attempt { limiter: self, keys })
    }

    /// Keeps at most `max_keys`: first forgets old keys, then the least recently seen.
    fn make_room(&self, entries: &mut HashMap<Key, Entry>, wanted: usize, now: Instant) {
        if entries.len() + wanted <= self.config.max_keys {
            return;
        }
        entries.retain(|_, entry| now.duration_since(entry.last_seen) < FORGET_AFTER || entry.verifying);
        while entries.len() + wanted > self.config.max_keys {
            let oldest = entries
                .iter()
                .filter(|(_, entry)| !entry.verifying)
                .min_by_key(|(_, entry)| entry.last_seen)
                .map(|(key, _)| *key);
            match oldest {
                Some(key) => entries.remove(&key),
                None => break,
            };
        }
    }

    pub fn remembered(&self) -> usize {
        self.lock().len()
    }
}

/// The same backoff shared by replicas on one PostgreSQL (table `login_backoff`): a failure counted on one
/// replica holds on every other. Each replica still verifies one attempt per key at a time.
#[cfg(feature = "postgres")]
pub mod shared {
    use super::*;

    use crate::cluster::pg::NOW_MS;

    /// Counts an attempt on every key, or says how long to wait when a key is in its backoff.
    pub async fn begin(
        pool: &sqlx::PgPool,
        config: &LimiterConfig,
        keys: &[Key],
    ) -> Result<Result<(), Wait>, sqlx::Error> {
        let mut tx = pool.begin().await?;
        let mut wait_ms: i64 = 0;
        for key in keys {
            // The row is locked while it is read and counted: attempts on two replicas count one after the other.
            let row: Option<(i64, Option<i64>, i64)> = sqlx::query_as(&format!(
                "INSERT INTO login_backoff (key, failures, seen_at) VALUES ($1, 0, {NOW_MS}) \
                 ON CONFLICT (key) DO UPDATE SET seen_at = EXCLUDED.seen_at \
                 RETURNING failures::bigint, blocked_until, {NOW_MS}"
            ))
            .bind(key.hex())
            .fetch_optional(&mut *tx)
            .await?;
            let Some((failures, blocked_until, now)) = row else {
                continue;
            };
            if let Some(until) = blocked_until.filter(|until| *until > now) {
                wait_ms = wait_ms.max(until - now);
                continue;
            }
            let failures = failures.saturating_add(1).min(i64::from(i32::MAX));
            let blocked_until = config
                .wait_after(failures as u32)
                .map(|wait| now + wait.as_millis() as i64);
            sqlx::query("UPDATE login_backoff SET failures = $2, blocked_until = $3 WHERE key = $1")
                .bind(key.hex())
                .bind(failures as i32)
                .bind(blocked_until)
                .execute(&mut *tx)
                .await?;
        }
        if wait_ms > 0 {
            // Nothing is counted while a key waits (the transaction rolls back).
            return Ok(Err(Wait(Duration::from_millis(wait_ms as u64))));
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The guess was right: the keys are forgotten on every replica.
    pub async fn succeeded(pool: &sqlx::PgPool, keys: &[Key]) -> Result<(), sqlx::Error> {
        let keys: Vec<String> = keys.iter().map(Key::hex).collect();
        sqlx::query("DELETE FROM login_backoff WHERE key = ANY($1)")
            .bind(keys)
            .execute(pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(free_failures: u32) -> LoginLimiter {
        LoginLimiter::new(LimiterConfig {
            free_failures,
            first_wait: Duration::from_secs(10),
            longest_wait: Duration::from_secs(25),
            max_keys: 100,
        })
    }

    fn keys(name: &str) -> Vec<Key> {
        vec![Key::of("user", &[name])]
    }

    #[test]
    fn waits_start_after_the_free_failures_and_double() {
        let limiter = limiter(3);
        for _ in 0..3 {
            drop(limiter.begin(keys("alice")).expect("free"));
        }
        drop(
            limiter
                .begin(keys("alice"))
                .expect("the fourth is tried, and counted"),
        );
        let Wait(first) = limiter.begin(keys("alice")).err().expect("now it waits");
        assert!(
            first > Duration::from_secs(9) && first <= Duration::from_secs(10),
            "{first:?}"
        );
        assert!(limiter.begin(keys("bob")).is_ok(), "other keys are not held");
    }

    #[test]
    fn a_success_clears_and_a_dropped_attempt_counts() {
        let limiter = limiter(1);
        drop(limiter.begin(keys("alice")).unwrap());
        limiter.begin(keys("alice")).unwrap().succeeded();
        assert_eq!(limiter.remembered(), 0);
        drop(limiter.begin(keys("alice")).unwrap());
        drop(limiter.begin(keys("alice")).unwrap());
        assert!(
            limiter.begin(keys("alice")).is_err(),
            "two failures past one free one"
        );
    }

    #[test]
    fn one_attempt_per_key_is_verified_at_a_time() {
        let limiter = limiter(100);
        let first = limiter.begin(keys("alice")).unwrap();
        assert_eq!(
            limiter.begin(keys("alice")).err(),
            Some(Wait(Duration::from_secs(1)))
        );
        assert!(limiter.begin(keys("bob")).is_ok());
        drop(first);
        assert!(
            limiter.begin(keys("alice")).is_ok(),
            "the next one, once the first is done"
        );
    }

    #[test]
    fn memory_is_bounded_by_forgetting_the_least_recently_used() {
        let limiter = limiter(100);
        for n in 0..1000 {
            drop(limiter.begin(keys(&format!("name-{n}"))).unwrap());
        }
        assert!(limiter.remembered() <= 100, "{}", limiter.remembered());
        assert_eq!(
            Key::address("ip", "2001:db8::1".parse().unwrap()),
            Key::address("ip", "2001:db8::ffff".parse().unwrap())
        );
    }
}
