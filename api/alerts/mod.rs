//! Telling people: the dispatcher that delivers the notification outbox apart from the checks, the messages,
//! and the senders of each channel kind.
//!
//! The engine stores notifications in the transaction that stores the state change causing them. The
//! dispatcher claims due rows for a lease, renews the claim right before each attempt (so a row is never sent
//! by two workers at once), sends with a timeout, a bounded number in flight per channel, and retries with
//! exponential backoff for up to `retry_for` before the row is marked failed. Delivery is at least once: a
//! process killed mid-attempt leaves a claim that expires, and the row is sent again with the same
//! idempotency key.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use tokio::{
    sync::{Notify, Semaphore},
    task::JoinHandle,
};

pub mod message;
pub mod send;

use message::{Message, Subject};
use send::{Delivery, Sender};

use crate::{
    model::{
        Alert, AlertKind, Channel, ChannelSettings,
        alerts::{AttemptOutcome, ChannelTestResult, DeliveryAttempt, Outgoing},
    },
    monitor::maintenance::MaintenanceBoard,
    store::Store,
};

/// How notifications are delivered; every figure can be set through the environment (see `config`).
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// How long one attempt may take.
    pub attempt_timeout: Duration,
    /// The wait after the first failed attempt; each further one doubles it, up to an hour.
    pub retry_base: Duration,
    /// How long a notification is retried before it is marked failed.
    pub retry_for: Duration,
    /// Attempts in flight per channel, at most.
    pub per_channel: u32,
    /// Where people reach Homewatch: messages link to the tile's page there.
    pub public_url: Option<url::Url>,
}

impl AlertsConfig {
    pub const DEFAULT: Self = Self {
        attempt_timeout: Duration::from_secs(10),
        retry_base: Duration::from_secs(5),
        retry_for: Duration::from_secs(24 * 3600),
        per_channel: 4,
        public_url: None,
    };
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Longest wait between two attempts.
const RETRY_MAX: Duration = Duration::from_secs(3600);
/// Attempts in flight over all channels, at most.
const IN_FLIGHT: usize = 64;
/// How often the dispatcher looks for due rows without being woken, and for reminders.
const POLL_EVERY: Duration = Duration::from_secs(1);
const REMINDERS_EVERY: Duration = Duration::from_secs(10);

/// The wait before attempt `failed + 1`: `base`, doubling per failure, at most an hour, with ±10 % jitter so
/// that a storm of retries spreads out; never shorter than what the provider asked for.
pub fn backoff(base: Duration, failed: u32, asked: Option<Duration>) -> Duration {
    let doubled = base.saturating_mul(1u32.checked_shl(failed.saturating_sub(1)).unwrap_or(u32::MAX));
    let capped = doubled.min(RETRY_MAX);
    let jitter = 0.9 + 0.2 * (rand_unit());
    let delay = capped.mul_f64(jitter);
    delay.max(asked.unwrap_or_default().min(RETRY_MAX))
}

fn rand_unit() -> f64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Sends a test message through a channel and says what the provider replied.
pub async fn test_channel(sender: &Sender, channel: &Channel, config: &AlertsConfig) -> ChannelTestResult {
    let now = Utc::now();
    let alert = Alert {
        service_id: 0,
        kind: AlertKind::Test,
        at: now,
        since: now,
        cause: None,
        downtime_s: None,
        changes: None,
        window_min: None,
        reminder: None,
    };
    let key = format!("hw:test:{}:{}", channel.id, now.timestamp_millis());
    let subject = Subject {
        service_id: None,
        service_name: &channel.name,
        group_name: None,
    };
    let message = Message::new(key, &alert, &subject, config.public_url.as_ref());
    let delivery = sender.send(&channel.settings, &message).await;
    ChannelTestResult {
        ok: delivery.ok,
        status_code: delivery.status_code,
        detail: delivery.detail,
        duration_ms: delivery.duration.as_millis().min(u128::from(u32::MAX)) as u32,
    }
}

/// Counters for tests and benchmarks.
#[derive(Debug, Default)]
pub struct DispatchMetrics {
    pub attempts: std::sync::atomic::AtomicU64,
    pub delivered: std::sync::atomic::AtomicU64,
}

/// The running dispatcher.
pub struct Dispatcher {
    stop: Arc<Notify>,
    task: JoinHandle<()>,
    metrics: Arc<DispatchMetrics>,
}

impl Dispatcher {
    /// Starts delivering. `wake` is told when the engine stored alerts; `maintenance` holds reminders back.
    pub fn start(
        store: Arc<dyn Store>,
        config: AlertsConfig,
        wake: Arc<Notify>,
        maintenance: Arc<MaintenanceBoard>,
    ) -> Result<Self, String> {
        let sender = Sender::new(config.attempt_timeout)?;
        let stop = Arc::new(Notify::new());
        let metrics = Arc::new(DispatchMetrics::default());
        let worker = Worker {
            wake: wake.clone(),
            name: worker_name(),
            store,
            sender,
            config,
            maintenance,
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
            per_channel: HashMap::new(),
            metrics: metrics.clone(),
        };
        let task = tokio::spawn(worker.run(wake, stop.clone()));
        Ok(Self { stop, task, metrics })
    }

    pub fn metrics(&self) -> &Arc<DispatchMetrics> {
        &self.metrics
    }

    /// Stops claiming; attempts in flight may finish within their timeout.
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
    }
}

/// A name for this process's claims: host, process id and a random part (two processes never share one).
fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    format!("{host}:{}:{:08x}", std::process::id(), u32::from_le_bytes(bytes))
}

struct Worker {
    /// Woken when alerts are stored, and when a retry falls due.
    wake: Arc<Notify>,
    name: String,
    store: Arc<dyn Store>,
    sender: Sender,
    config: AlertsConfig,
    maintenance: Arc<MaintenanceBoard>,
    in_flight: Arc<Semaphore>,
    per_channel: HashMap<i64, Arc<Semaphore>>,
    metrics: Arc<DispatchMetrics>,
}

impl Worker {
    /// A claim lasts long enough for one attempt after it is renewed.
    fn lease(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.config.attempt_timeout + Duration::from_secs(20))
            .unwrap_or(chrono::TimeDelta::MAX)
    }

    async fn run(mut self, wake: Arc<Notify>, stop: Arc<Notify>) {
        let mut round = 0u64;
        let mut last_reminders = Instant::now() - REMINDERS_EVERY;
        loop {
            if last_reminders.elapsed() >= REMINDERS_EVERY {
                last_reminders = Instant::now();
                self.remind().await;
            }
            loop {
                round += 1;
                match self.dispatch(round).await {
                    Ok(true) => continue, // claimed a full batch: there may be more
                    Ok(false) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read due notifications now; retrying");
                        break;
                    }
                }
            }
            tokio::select! {
                () = stop.notified() => break,
                () = wake.notified() => {},
                () = tokio::time::sleep(POLL_EVERY) => {},
            }
        }
        // Let attempts in flight finish (each is bounded by its timeout).
        let _ = self.in_flight.acquire_many(IN_FLIGHT as u32).await;
    }

    /// Claims as many due rows as there is room for and starts their attempts; true when it filled the room.
    async fn dispatch(&mut self, round: u64) -> Result<bool, crate::store::StoreError> {
        let room = self.in_flight.available_permits();
        if room == 0 {
            // Wait for one attempt to end rather than spin.
            drop(self.in_flight.clone().acquire_owned().await);
            return Ok(true);
        }
        let claim = format!("{}#{round}", self.name);
        let now = Utc::now();
        let claimed = self
            .store
            .claim_notifications(&claim, now, now + self.lease(), room as u32)
            .await?;
        if claimed.is_empty() {
            return Ok(false);
        }
        let full = claimed.len() == room;
        let channels: HashMap<i64, Channel> = self
            .store
            .list_channels()
            .await?
            .into_iter()
            .map(|channel| (channel.id, channel))
            .collect();
        for outgoing in claimed {
            let channel = outgoing.channel_id.and_then(|id| channels.get(&id)).cloned();
            let per_channel = outgoing.channel_id.map(|id| {
                self.per_channel
                    .entry(id)
                    .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_channel.max(1) as usize)))
                    .clone()
            });
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                break;
            };
            let attempt = Attempt {
                store: self.store.clone(),
                sender: self.sender.clone(),
                config: self.config.clone(),
                claim: claim.clone(),
                lease: self.lease(),
                metrics: self.metrics.clone(),
                wake: self.wake.clone(),
            };
            tokio::spawn(async move {
                let _permit = permit;
                let _channel_permit = match &per_channel {
                    Some(semaphore) => semaphore.clone().acquire_owned().await.ok(),
                    None => None,
                };
                attempt.run(outgoing, channel).await;
            });
        }
        Ok(full)
    }

    /// Queues a reminder for each tile still down whose channel's interval has passed again.
    async fn remind(&self) {
        let due = match self.store.reminders_due().await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "cannot look for reminders now");
                return;
            }
        };
        let now = Utc::now();
        for due in due {
            if self.maintenance.covers(due.service_id, due.group_id) || due.every_s <= 0 {
                continue;
            }
            let down_for = (now - due.down_since).num_seconds();
            let slot = down_for / due.every_s;
            if slot < 1 {
                continue;
            }
            let alert = Alert {
                service_id: due.service_id,
                kind: AlertKind::Reminder,
                at: now,
                since: due.down_since,
                cause: due.cause,
                downtime_s: Some(down_for),
                changes: None,
                window_min: None,
                reminder: Some(u32::try_from(slot).unwrap_or(u32::MAX)),
            };
            if let Err(err) = self.store.enqueue_reminder(&alert, due.channel_id).await {
                tracing::warn!(error = %err, service_id = due.service_id, "cannot queue a reminder");
            }
        }
    }
}

/// One attempt at one notification.
struct Attempt {
    store: Arc<dyn Store>,
    sender: Sender,
    config: AlertsConfig,
    claim: String,
    lease: chrono::TimeDelta,
    metrics: Arc<DispatchMetrics>,
    wake: Arc<Notify>,
}

impl Attempt {
    async fn run(self, outgoing: Outgoing, channel: Option<Channel>) {
        // Renew the claim right before sending: if another worker took the row meanwhile, it sends, not us.
        match self
            .store
            .renew_claim(outgoing.id, &self.claim, Utc::now() + self.lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(error = %err, notification = outgoing.id, "cannot renew a claim; the row waits");
                return;
            }
        }
        let at = Utc::now();
        let number = outgoing.attempts + 1;
        let delivery = match &channel {
            None => gone("the channel was deleted"),
            Some(channel) if !channel.enabled => gone("the channel is disabled"),
            Some(channel) => self.send(&outgoing, &channel.settings).await,
        };
        self.metrics
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = if delivery.ok {
            self.metrics
                .delivered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            AttemptOutcome::Delivered
        } else if delivery.permanent {
            AttemptOutcome::Failed
        } else {
            let next = Utc::now()
                + chrono::TimeDelta::from_std(backoff(self.config.retry_base, number, delivery.retry_after))
                    .unwrap_or(chrono::TimeDelta::MAX);
            let give_up = outgoing.created_at
                + chrono::TimeDelta::from_std(self.config.retry_for).unwrap_or(chrono::TimeDelta::MAX);
            if next > give_up {
                AttemptOutcome::Failed
            } else {
                // Wake the dispatcher when the retry falls due, rather than at its next look.
                let (wake, wait) = (
                    self.wake.clone(),
                    (next - Utc::now()).to_std().unwrap_or_default(),
                );
                tokio::spawn(async move {
                    tokio::time::sleep(wait + Duration::from_millis(5)).await;
                    wake.notify_one();
                });
                AttemptOutcome::RetryAt(next)
            }
        };
        if !delivery.ok {
            tracing::warn!(
                notification = outgoing.id,
                channel = %outgoing.channel_name,
                attempt = number,
                detail = %delivery.detail,
                "a notification was not delivered{}",
                match outcome {
                    AttemptOutcome::Failed => "; giving up",
                    _ => "; it will be tried again",
                }
            );
        }
        let record = DeliveryAttempt {
            attempt: number,
            at,
            duration_ms: delivery.duration.as_millis().min(u128::from(u32::MAX)) as u32,
            ok: delivery.ok,
            status_code: delivery.status_code,
            detail: delivery.detail,
        };
        // The outcome must land: retry briefly while the database is unavailable.
        for wait in [0u64, 200, 1000, 5000] {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            match self
                .store
                .finish_attempt(outgoing.id, &self.claim, &record, &outcome)
                .await
            {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, notification = outgoing.id, "cannot record a delivery attempt")
                }
            }
        }
    }

    async fn send(&self, outgoing: &Outgoing, settings: &ChannelSettings) -> Delivery {
        let subject = Subject {
            service_id: outgoing.service_id,
            service_name: &outgoing.service_name,
            group_name: outgoing.group_name.as_deref(),
        };
        let message = Message::new(
            outgoing.idempotency_key.clone(),
            &outgoing.alert,
            &subject,
            self.config.public_url.as_ref(),
        );
        self.sender.send(settings, &message).await
    }
}

fn gone(detail: &str) -> Delivery {
    Delivery {
        ok: false,
        status_code: None,
        detail: detail.to_owned(),
        retry_after: None,
        permanent: true,
        duration: Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour_and_honours_the_provider() {
        let base = Duration::from_secs(5);
        let near = |got: Duration, want: u64| {
            let want = want as f64;
            let got = got.as_secs_f64();
            assert!(
                got >= want * 0.9 && got <= want * 1.1,
                "{got} is not within 10 % of {want}"
            );
        };
        near(backoff(base, 1, None), 5);
        near(backoff(base, 2, None), 10);
        near(backoff(base, 5, None), 80);
        near(backoff(base, 40, None), 3600);
        assert!(backoff(base, 1, Some(Duration::from_secs(120))) >= Duration::from_secs(120));
    }
}
