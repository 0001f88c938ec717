//! What a notification says, in words: a title, plain text, simple HTML, and the facts for JSON receivers.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{Alert, AlertKind};

/// How bad the news is; kinds map it to colours, priorities and Apprise types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Failure,
    Success,
    Warning,
    Info,
}

/// One message, ready for any channel kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Same for every delivery of this event to this channel.
    pub key: String,
    pub kind: AlertKind,
    pub severity: Severity,
    pub title: String,
    pub text: String,
    pub html: String,
    /// The tile's page in Homewatch, when HOMEWATCH_PUBLIC_URL is set.
    pub link: Option<String>,
    pub body: WebhookBody,
}

/// The webhook's JSON body, version 1. Fields are only ever added within a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookBody {
    pub version: u32,
    /// The idempotency key (also the `X-Homewatch-Delivery` header): a receiver drops a repeat by it.
    pub id: String,
    pub event: AlertKind,
    pub title: String,
    pub message: String,
    pub service: Option<WebhookService>,
    /// The state the event is about (`down` or `up`); null for flapping and tests.
    pub state: Option<&'static str>,
    pub since: DateTime<Utc>,
    pub cause: Option<String>,
    pub downtime_s: Option<i64>,
    pub link: Option<String>,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookService {
    pub id: i64,
    pub name: String,
    pub group: Option<String>,
}

/// Where a notification is about.
pub struct Subject<'a> {
    pub service_id: Option<i64>,
    pub service_name: &'a str,
    pub group_name: Option<&'a str>,
}

/// "3 h 5 min", "45 s", "2 d 4 h".
pub fn duration_words(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// Text for HTML content and double-quoted attribute values (emails, status pages).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

impl Message {
    pub fn new(key: String, alert: &Alert, subject: &Subject<'_>, public_url: Option<&url::Url>) -> Self {
        let name = subject.service_name;
        let place = match subject.group_name {
            Some(group) => format!("{name} ({group})"),
            None => name.to_owned(),
        };
        let link = match (public_url, subject.service_id) {
            (Some(base), Some(id)) => base.join(&format!("services/{id}")).ok().map(String::from),
            (Some(base), None) => Some(base.to_string()),
            _ => None,
        };
        let cause = alert.cause.as_deref().unwrap_or("the check failed");
        let (severity, state, title, mut lines) = match alert.kind {
            AlertKind::Down => (
                Severity::Failure,
                Some("down"),
                format!("🔴 {name} is down"),
                vec![
                    format!("{place} is down since {}.", when(alert.since)),
                    format!("Cause: {cause}"),
                ],
            ),
            AlertKind::Up => (
                Severity::Success,
                Some("up"),
                format!("🟢 {name} is up again"),
                vec![format!(
                    "{place} is up again since {}, after {} down.",
                    when(alert.since),
                    duration_words(alert.downtime_s.unwrap_or_default())
                )],
            ),
            AlertKind::Reminder => (
                Severity::Failure,
                Some("down"),
                format!("🔴 {name} is still down"),
                vec![
                    format!(
                        "{place} has been down for {}, since {}.",
                        duration_words(alert.downtime_s.unwrap_or_default()),
                        when(alert.since)
                    ),
                    format!("Cause: {cause}"),
                ],
            ),
            AlertKind::Flapping => (
                Severity::Warning,
                None,
                format!("🟠 {name} is flapping"),
                vec![format!(
                    "{place} changed between up and down {} times in {} minutes. Alerts about it are held until \
                     it has been stable for {} minutes.",
                    alert.changes.unwrap_or_default(),
                    alert.window_min.unwrap_or_default(),
                    alert.window_min.unwrap_or_default()
                )],
            ),
            AlertKind::Certificate => (
                Severity::Warning,
                None,
                format!("🟠 {name}: the certificate expires soon"),
                vec![
                    format!("{place}: {cause}."),
                    format!("It is valid until {}.", when(alert.since)),
                ],
            ),
            AlertKind::Test => (
                Severity::Info,
                None,
                "Homewatch test message".to_owned(),
                vec![format!(
                    "This is a test from Homewatch: the channel {name} works."
                )],
            ),
        };
        if let Some(link) = &link {
            lines.push(link.clone());
        }
        let text = lines.join("\n");
        let mut html = format!("<p><strong>{}</strong></p>", escape(&title));
        for line in &lines {
            if link.as_deref() == Some(line.as_str()) {
                html.push_str(&format!("<p><a href=\"{0}\">{0}</a></p>", escape(line)));
            } else {
                html.push_str(&format!("<p>{}</p>", escape(line)));
            }
        }
        let body = WebhookBody {
            version: 1,
            id: key.clone(),
            event: alert.kind,
            title: title.clone(),
            message: text.clone(),
            service: subject.service_id.map(|id| WebhookService {
                id,
                name: name.to_owned(),
                group: subject.group_name.map(str::to_owned),
            }),
            state,
            since: alert.since,
            cause: alert.cause.clone(),
            downtime_s: alert.downtime_s,
            link: link.clone(),
            sent_at: Utc::now(),
        };
        Self {
            key,
            kind: alert.kind,
            severity,
            title,
            text,
            html,
            link,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration_words(45), "45 s");
        assert_eq!(duration_words(300), "5 min");
        assert_eq!(duration_words(3 * 3600 + 5 * 60), "3 h 5 min");
        assert_eq!(duration_words(2 * 86_400 + 4 * 3600 + 59), "2 d 4 h");
    }

    #[test]
    fn a_down_message_names_the_tile_the_cause_and_links_to_it() {
        let alert = Alert {
            service_id: 4,
            kind: AlertKind::Down,
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            since: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            cause: Some("status 500 is not in 200-299".into()),
            downtime_s: None,
            changes: None,
            window_min: None,
            reminder: None,
        };
        let subject = Subject {
            service_id: Some(4),
            service_name: "Jellyfin <media>",
            group_name: Some("Media"),
        };
        let base = url::Url::parse("https://home.example.org/").unwrap();
        let message = Message::new("k".into(), &alert, &subject, Some(&base));
        assert_eq!(message.title, "🔴 Jellyfin <media> is down");
        assert!(
            message.text.contains("Cause: status 500 is not in 200-299"),
            "{}",
            message.text
        );
        assert_eq!(
            message.link.as_deref(),
            Some("https://home.example.org/services/4")
        );
        assert!(
            message.html.contains("Jellyfin &lt;media&gt;"),
            "{}",
            message.html
        );
    }
}
