//! Delivering one message through one channel, in the provider's own form, and reading its reply: delivered,
//! worth another try (and when), or refused for good. Replies and errors never carry the channel's secrets.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::message::{Message, Severity};
use crate::model::{
    AlertKind, ChannelSettings,
    alerts::{
        AppriseSettings, DiscordSettings, EmailSettings, GotifySettings, MASK, MatrixSettings, NtfySettings,
        PushoverSettings, SlackSettings, SmtpSecurity, TelegramSettings, WebhookSettings,
    },
};

/// Most characters of a provider's reply kept in the log.
const DETAIL_MAX_CHARS: usize = 300;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub ok: bool,
    /// HTTP status, or SMTP reply code.
    pub status_code: Option<u16>,
    /// What the provider replied, shortened, or why nothing was delivered.
    pub detail: String,
    /// The provider asked to wait this long (429 with `Retry-After`).
    pub retry_after: Option<Duration>,
    /// Another try cannot succeed without new settings (most 4xx replies, a rejected address).
    pub permanent: bool,
    pub duration: Duration,
}

/// Sends messages; one per server, shared by the dispatcher and the channel test.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    timeout: Duration,
}

impl Sender {
    /// `timeout`: how long one attempt may take, connection included.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // Provider APIs do not redirect; following one could hand a token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Homewatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("cannot build the HTTP client for notifications: {err}"))?;
        Ok(Self { client, timeout })
    }

    pub async fn send(&self, settings: &ChannelSettings, message: &Message) -> Delivery {
        let started = Instant::now();
        let mut delivery = match settings {
            ChannelSettings::Email(email) => self.email(email, message).await,
            other => match self.request(other, message) {
                Ok(request) => self.http(request).await,
                Err(detail) => refused(detail),
            },
        };
        delivery.duration = started.elapsed();
        delivery.detail = scrub(settings, &delivery.detail);
        delivery
    }

    fn request(
        &self,
        settings: &ChannelSettings,
        message: &Message,
    ) -> Result<reqwest::RequestBuilder, String> {
        let client = &self.client;
        Ok(match settings {
            ChannelSettings::Webhook(s) => webhook(client, s, message)?,
            ChannelSettings::Ntfy(s) => ntfy(client, s, message),
            ChannelSettings::Discord(s) => discord(client, s, message),
            ChannelSettings::Slack(s) => slack(client, s, message),
            ChannelSettings::Gotify(s) => gotify(client, s, message)?,
            ChannelSettings::Telegram(s) => telegram(client, s, message)?,
            ChannelSettings::Pushover(s) => pushover(client, s, message)?,
            ChannelSettings::Matrix(s) => matrix(client, s, message)?,
            ChannelSettings::Apprise(s) => apprise(client, s, message)?,
            ChannelSettings::Email(_) => return Err("email is not sent over HTTP".into()),
        })
    }

    async fn http(&self, request: reqwest::RequestBuilder) -> Delivery {
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                let what = if err.is_timeout() {
                    format!("no answer within {} s", self.timeout.as_secs_f32())
                } else if err.is_connect() {
                    format!("could not connect: {}", source_text(&err))
                } else {
                    format!("the request failed: {}", source_text(&err))
                };
                return retry(None, what, None);
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        let reply = shorten(&body);
        let code = Some(status.as_u16());
        if status.is_success() {
            return Delivery {
                ok: true,
                status_code: code,
                detail: if reply.is_empty() {
                    status.to_string()
                } else {
                    format!("{status}: {reply}")
                },
                retry_after: None,
                permanent: false,
                duration: Duration::ZERO,
            };
        }
        // Telegram says how long to wait in its body.
        let retry_after = retry_after.or_else(|| {
            serde_json::from_str::<Value>(&body)
                .ok()?
                .pointer("/parameters/retry_after")?
                .as_u64()
                .map(Duration::from_secs)
        });
        let detail = format!("{status}: {reply}");
        match status.as_u16() {
            408 | 425 | 429 | 500..=599 => retry(code, detail, retry_after),
            300..=399 => refused_with(
                code,
                format!("{detail} (a redirect: the URL is probably not the provider's API; check it)"),
            ),
            _ => refused_with(
                code,
                format!("{detail} (the provider refused the message: check the channel's settings)"),
            ),
        }
    }

    async fn email(&self, settings: &EmailSettings, message: &Message) -> Delivery {
        use lettre::{
            AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
            message::{Mailbox, MultiPart},
            transport::smtp::{
                authentication::Credentials,
                client::{Tls, TlsParameters},
            },
        };
        let built = (|| -> Result<_, String> {
            let from: Mailbox = settings.from.parse().map_err(|err| format!("from: {err}"))?;
            let mut mail = lettre::Message::builder()
                .from(from)
                .subject(&message.title)
                .message_id(Some(format!(
                    "<{}@homewatch>",
                    message.key.replace([':', ' '], ".")
                )));
            for to in &settings.to {
                mail = mail.to(to.parse::<Mailbox>().map_err(|err| format!("to {to}: {err}"))?);
            }
            let mail = mail
                .multipart(MultiPart::alternative_plain_html(
                    message.text.clone(),
                    message.html.clone(),
                ))
                .map_err(|err| format!("cannot build the email: {err}"))?;
            let tls = || {
                TlsParameters::builder(settings.host.clone())
                    .dangerous_accept_invalid_certs(settings.accept_invalid_certs.unwrap_or(false))
                    .build_rustls()
                    .map_err(|err| format!("TLS: {err}"))
            };
            let (tls, port) = match settings.security {
                SmtpSecurity::Starttls => (Tls::Required(tls()?), 587),
                SmtpSecurity::Tls => (Tls::Wrapper(tls()?), 465),
                SmtpSecurity::None => (Tls::None, 25),
            };
            let mut transport =
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
                    .port(settings.port.unwrap_or(port))
                    .tls(tls)
                    .timeout(Some(self.timeout));
            if let Some(username) = &settings.username {
                transport = transport.credentials(Credentials::new(
                    username.clone(),
                    settings.password.clone().unwrap_or_default(),
                ));
            }
            Ok((transport.build::<Tokio1Executor>(), mail))
        })();
        let (transport, mail) = match built {
            Ok(parts) => parts,
            Err(detail) => return refused(detail),
        };
        let sending = tokio::time::timeout(self.timeout + Duration::from_secs(1), transport.send(mail)).await;
        match sending {
            Err(_) => retry(
                None,
                format!("no answer within {} s", self.timeout.as_secs_f32()),
                None,
            ),
            Ok(Ok(response)) => Delivery {
                ok: true,
                status_code: response.code().to_string().parse().ok(),
                detail: shorten(&format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )),
                retry_after: None,
                permanent: false,
                duration: Duration::ZERO,
            },
            Ok(Err(err)) => {
                let code = err.status().and_then(|code| code.to_string().parse().ok());
                let detail = shorten(&format!("SMTP: {}", source_chain(&err)));
                if err.is_permanent() {
                    refused_with(code, detail)
                } else {
                    retry(code, detail, None)
                }
            }
        }
    }
}

fn retry(status_code: Option<u16>, detail: String, retry_after: Option<Duration>) -> Delivery {
    Delivery {
        ok: false,
        status_code,
        detail,
        retry_after,
        permanent: false,
        duration: Duration::ZERO,
    }
}

fn refused(detail: String) -> Delivery {
    refused_with(None, detail)
}

fn refused_with(status_code: Option<u16>, detail: String) -> Delivery {
    Delivery {
        ok: false,
        status_code,
        detail,
        retry_after: None,
        permanent: true,
        duration: Duration::ZERO,
    }
}

fn shorten(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(DETAIL_MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The error's causes, without the request URL (which may hold a token).
fn source_text(err: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    if parts.is_empty() {
        parts.push(
            err.to_string()
                .split(" for url (")
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    parts.join(": ")
}

fn source_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}

/// Removes every secret of the channel from a text, in case a provider or a library quoted one back.
fn scrub(settings: &ChannelSettings, text: &str) -> String {
    let mut text = text.to_owned();
    for secret in settings.secret_values() {
        if secret.len() >= 4 {
            text = text.replace(&secret, MASK);
            if let Ok(url) = url::Url::parse(&secret)
                && url.path().len() > 8
            {
                text = text.replace(url.path(), MASK);
            }
        }
    }
    text
}

fn join(base: &str, path: &str) -> Result<reqwest::Url, String> {
    let base = if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    };
    reqwest::Url::parse(&base)
        .and_then(|base| base.join(&format!("./{path}")))
        .map_err(|err| format!("the server URL cannot be used: {err}"))
}

fn webhook(
    client: &reqwest::Client,
    s: &WebhookSettings,
    message: &Message,
) -> Result<reqwest::RequestBuilder, String> {
    let body = serde_json::to_vec(&message.body).map_err(|err| err.to_string())?;
    let mut request = client
        .post(&s.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Homewatch-Delivery", &message.key)
        .header("X-Homewatch-Event", message.kind.as_str());
    for (name, value) in s.headers.iter().flatten() {
        request = request.header(name, value);
    }
    if let Some(secret) = &s.secret {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|err| err.to_string())?;
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(&body);
        let signature: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        request = request
            .header("X-Homewatch-Timestamp", timestamp)
            .header("X-Homewatch-Signature", format!("sha256={signature}"));
    }
    Ok(request.body(body))
}

fn down_like(kind: AlertKind) -> bool {
    matches!(kind, AlertKind::Down | AlertKind::Reminder)
}

/// The text without the link line, for kinds that show the link apart.
fn text_without_link(message: &Message) -> String {
    match &message.link {
        Some(link) => message
            .text
            .strip_suffix(link.as_str())
            .unwrap_or(&message.text)
            .trim_end()
            .to_owned(),
        None => message.text.clone(),
    }
}

fn ntfy(client: &reqwest::Client, s: &NtfySettings, message: &Message) -> reqwest::RequestBuilder {
    let server = s.server_url.as_deref().unwrap_or("https://ntfy.sh");
    let priority = if down_like(message.kind) {
        s.priority.unwrap_or(4)
    } else {
        3
    };
    let tag = match message.severity {
        Severity::Failure => "rotating_light",
        Severity::Success => "white_check_mark",
        Severity::Warning => "warning",
        Severity::Info => "information_source",
    };
    let mut body = json!({
        "topic": s.topic,
        "title": message.title,
        "message": text_without_link(message),
        "priority": priority,
        "tags": [tag, "homewatch"],
    });
    if let Some(link) = &message.link {
        body["click"] = json!(link);
    }
    let mut request = client.post(server.trim_end_matches('/')).json(&body);
    if let Some(token) = &s.token {
        request = request.bearer_auth(token);
    }
    request
}

fn colour(severity: Severity) -> u32 {
    match severity {
        Severity::Failure => 0xd93025,
        Severity::Success => 0x1e8e3e,
        Severity::Warning => 0xf29900,
        Severity::Info => 0x1a73e8,
    }
}

fn discord(client: &reqwest::Client, s: &DiscordSettings, message: &Message) -> reqwest::RequestBuilder {
    let mut embed = json!({
        "title": message.title,
        "description": text_without_link(message),
        "color": colour(message.severity),
        "timestamp": message.body.since.to_rfc3339(),
        "footer": { "text": format!("Homewatch · {}", message.key) },
    });
    if let Some(link) = &message.link {
        embed["url"] = json!(link);
    }
    client
        .post(&s.webhook_url)
        .json(&json!({ "username": "Homewatch", "embeds": [embed] }))
}

fn slack(client: &reqwest::Client, s: &SlackSettings, message: &Message) -> reqwest::RequestBuilder {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": message.title, "emoji": true } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": escape(&text_without_link(message)) } }),
    ];
    if let Some(link) = &message.link {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": format!("<{link}|Open in Homewatch>") }],
        }));
    }
    client
        .post(&s.webhook_url)
        .json(&json!({ "text": message.title, "blocks": blocks }))
}

fn gotify(
    client: &reqwest::Client,
    s: &GotifySettings,
    message: &Message,
) -> Result<reqwest::RequestBuilder, String> {
    let priority = if down_like(message.kind) {
        s.priority.unwrap_or(8)
    } else {
        4
    };
    let mut extras = json!({ "client::display": { "contentType": "text/plain" } });
    if let Some(link) = &message.link {
        extras["client::notification"] = json!({ "click": { "url": link } });
    }
    Ok(client
        .post(join(&s.server_url, "message")?)
        .header("X-Gotify-Key", &s.token)
        .json(&json!({
            "title": message.title,
            "message": message.text,
            "priority": priority,
            "extras": extras,
        })))
}

fn telegram(
    client: &reqwest::Client,
    s: &TelegramSettings,
    message: &Message,
) -> Result<reqwest::RequestBuilder, String> {
    let server = s.server_url.as_deref().unwrap_or("https://api.telegram.org");
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut text = format!(
        "<b>{}</b>\n{}",
        escape(&message.title),
        escape(&text_without_link(message))
    );
    if let Some(link) = &message.link {
        text.push_str(&format!(
            "\n<a href=\"{}\">Open in Homewatch</a>",
            escape(link).replace('"', "&quot;")
        ));
    }
    Ok(client
        .post(join(server, &format!("bot{}/sendMessage", s.bot_token))?)
        .json(&json!({
            "chat_id": s.chat_id,
            "text": text,
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
        })))
}

fn pushover(
    client: &reqwest::Client,
    s: &PushoverSettings,
    message: &Message,
) -> Result<reqwest::RequestBuilder, String> {
    let server = s.server_url.as_deref().unwrap_or("https://api.pushover.net");
    let mut body = json!({
        "token": s.app_token,
        "user": s.user_key,
        "title": message.title,
        "message": text_without_link(message),
        "priority": if down_like(message.kind) { 1 } else { 0 },
        "timestamp": message.body.since.timestamp(),
    });
    if let Some(link) = &message.link {
        body["url"] = json!(link);
        body["url_title"] = json!("Open in Homewatch");
    }
    if let Some(device) = &s.device {
        body["device"] = json!(device);
    }
    Ok(client.post(join(server, "1/messages.json")?).json(&body))
}

fn matrix(
    client: &reqwest::Client,
    s: &MatrixSettings,
    message: &Message,
) -> Result<reqwest::RequestBuilder, String> {
    let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    // The transaction id is the idempotency key: the homeserver drops a repeat of it.
    let path = format!(
        "_matrix/client/v3/rooms/{}/send/m.room.message/{}",
        encode(&s.room_id),
        encode(&message.key)
    );
    Ok(client
        .put(join(&s.homeserver_url, &path)?)
        .bearer_auth(&s.access_token)
        .json(&json!({
            "msgtype": "m.text",
            "body": format!("{}\n{}", message.title, message.text),
            "format": "org.matrix.custom.html",
            "formatted_body": message.html,
        })))
}

fn apprise(
    client: &reqwest::Client,
    s: &AppriseSettings,
    message: &Message,
) -> Result<reqwest::RequestBuilder, String> {
    let kind = match message.severity {
        Severity::Failure => "failure",
        Severity::Success => "success",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    let mut body = json!({
        "title": message.title,
        "body": message.text,
        "type": kind,
        "format": "text",
    });
    if let Some(tag) = &s.tag {
        body["tag"] = json!(tag);
    }
    let url = match (&s.key, &s.urls) {
        (Some(key), _) => join(&s.server_url, &format!("notify/{key}"))?,
        (None, Some(urls)) => {
            body["urls"] = json!(urls);
            join(&s.server_url, "notify")?
        }
        (None, None) => return Err("give the Apprise `key` or `urls`".into()),
    };
    Ok(client.post(url).json(&body))
}
