//! Alerts: the channels people are told through, what the engine decides to tell them, and the delivery log.
//! Channel settings hold secrets (tokens, webhook URLs, passwords); they are write-only: every answer shows
//! them masked, and a masked value sent back keeps the stored one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object, Union, types::MaybeUndefined};
use serde::{Deserialize, Serialize};

use super::{FieldError, ServiceState, Validate, check_name, check_url, finish, patterns};

/// What replaces a secret in every answer; sent back unchanged, it keeps the stored secret.
pub const MASK: &str = "(hidden)";
/// Reminders while a tile stays down: every 5 minutes at the most often, every week at the least.
pub const REMIND_MIN_MINUTES: u32 = 5;
pub const REMIND_MAX_MINUTES: u32 = 10_080;
/// Most recipients of an email channel, groups and tiles a channel lists, and custom webhook headers.
pub const EMAIL_RECIPIENTS_MAX: usize = 20;
pub const TARGETS_MAX: usize = 1000;
pub const HEADERS_MAX: usize = 16;
/// Longest free-text setting (topics, chat and room ids, tokens, addresses).
pub const SETTING_MAX_CHARS: usize = 512;

/// How a channel delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Webhook,
    Ntfy,
    Discord,
    Slack,
    Gotify,
    Telegram,
    Pushover,
    Matrix,
    Email,
    Apprise,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Ntfy => "ntfy",
            Self::Discord => "discord",
            Self::Slack => "slack",
            Self::Gotify => "gotify",
            Self::Telegram => "telegram",
            Self::Pushover => "pushover",
            Self::Matrix => "matrix",
            Self::Email => "email",
            Self::Apprise => "apprise",
        }
    }
}

/// A JSON POST to any URL. The body is the versioned schema `HomewatchNotification` (version 1); headers
/// `X-Homewatch-Delivery` (the idempotency key, also `id` in the body), `X-Homewatch-Event`, and with a secret
/// `X-Homewatch-Timestamp` and `X-Homewatch-Signature: sha256=HEX`, the HMAC-SHA256 of `TIMESTAMP.BODY`.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where to POST (secret: answered as scheme and host only).
    pub url: String,
    /// Shared secret for the signature header (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub secret: Option<String>,
    /// Extra request headers, such as an `Authorization` (values are secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub headers: Option<BTreeMap<String, String>>,
}

/// ntfy: publishes to a topic on ntfy.sh or a self-hosted server, with priority, tags and a click link.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtfySettings {
    /// The server (default https://ntfy.sh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub server_url: Option<String>,
    pub topic: String,
    /// An access token for a protected topic (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub token: Option<String>,
    /// Priority of "down" messages, 1 to 5 (default 4); recoveries are sent at 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub priority: Option<u8>,
}

/// A Discord channel webhook; messages are embeds.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordSettings {
    /// `https://discord.com/api/webhooks/ID/TOKEN` (secret).
    pub webhook_url: String,
}

/// A Slack incoming webhook; messages are blocks.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// `https://hooks.slack.com/services/...` (secret).
    pub webhook_url: String,
}

/// A Gotify server's application.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GotifySettings {
    pub server_url: String,
    /// The application token (secret).
    pub token: String,
    /// Priority of "down" messages, 0 to 10 (default 8); recoveries are sent at 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub priority: Option<u8>,
}

/// A Telegram bot writing to a chat.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramSettings {
    /// The bot's token from @BotFather (secret).
    pub bot_token: String,
    /// The chat: a number, or `@channelname`.
    pub chat_id: String,
    /// The Bot API server (default https://api.telegram.org; a local Bot API server works too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub server_url: Option<String>,
}

/// Pushover.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushoverSettings {
    /// The application's API token (secret).
    pub app_token: String,
    /// The user or group key (secret).
    pub user_key: String,
    /// Only this device of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub device: Option<String>,
    /// The API server (default https://api.pushover.net).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub server_url: Option<String>,
}

/// A Matrix room, written to by a user's access token.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixSettings {
    /// The homeserver's client API, such as https://matrix.example.org.
    pub homeserver_url: String,
    /// An access token of the user that writes (secret).
    pub access_token: String,
    /// The room id, such as `!abcdef:example.org`.
    pub room_id: String,
}

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption at all: only for a relay on the same host or network.
    None,
}

/// Email over SMTP: a subject, plain text and HTML.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// The SMTP server's host name.
    pub host: String,
    /// Default: 587 for starttls, 465 for tls, 25 for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub port: Option<u16>,
    pub security: SmtpSecurity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub username: Option<String>,
    /// (secret)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub password: Option<String>,
    /// The sender, such as `Homewatch <homewatch@example.org>`.
    pub from: String,
    /// Recipients, 1 to 20 addresses.
    pub to: Vec<String>,
    /// Accept a certificate that does not verify (a self-signed one on a home server). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub accept_invalid_certs: Option<bool>,
}

/// An Apprise API server, for every service Apprise knows: with `key`, its stored configuration
/// (`POST /notify/KEY`); otherwise the Apprise `urls` given here (`POST /notify`).
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppriseSettings {
    pub server_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub key: Option<String>,
    /// Apprise URLs, separated by spaces or commas (secret: they hold credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub urls: Option<String>,
    /// Only the stored URLs with this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub tag: Option<String>,
}

/// A channel's kind and what it needs, told apart by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Union, Serialize, Deserialize)]
#[oai(discriminator_name = "kind", one_of)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelSettings {
    #[oai(mapping = "webhook")]
    Webhook(WebhookSettings),
    #[oai(mapping = "ntfy")]
    Ntfy(NtfySettings),
    #[oai(mapping = "discord")]
    Discord(DiscordSettings),
    #[oai(mapping = "slack")]
    Slack(SlackSettings),
    #[oai(mapping = "gotify")]
    Gotify(GotifySettings),
    #[oai(mapping = "telegram")]
    Telegram(TelegramSettings),
    #[oai(mapping = "pushover")]
    Pushover(PushoverSettings),
    #[oai(mapping = "matrix")]
    Matrix(MatrixSettings),
    #[oai(mapping = "email")]
    Email(EmailSettings),
    #[oai(mapping = "apprise")]
    Apprise(AppriseSettings),
}

/// How a secret is shown: whole, or as a URL whose scheme and host stay visible.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SecretForm {
    Text,
    Url,
}

impl ChannelSettings {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Self::Webhook(_) => ChannelKind::Webhook,
            Self::Ntfy(_) => ChannelKind::Ntfy,
            Self::Discord(_) => ChannelKind::Discord,
            Self::Slack(_) => ChannelKind::Slack,
            Self::Gotify(_) => ChannelKind::Gotify,
            Self::Telegram(_) => ChannelKind::Telegram,
            Self::Pushover(_) => ChannelKind::Pushover,
            Self::Matrix(_) => ChannelKind::Matrix,
            Self::Email(_) => ChannelKind::Email,
            Self::Apprise(_) => ChannelKind::Apprise,
        }
    }

    /// Visits every secret with its field path.
    fn secrets_mut(&mut self, mut visit: impl FnMut(String, &mut String, SecretForm)) {
        use SecretForm::{Text, Url};
        let text = |field: &str,
                    value: &mut Option<String>,
                    visit: &mut dyn FnMut(String, &mut String, SecretForm)| {
            if let Some(value) = value.as_mut() {
                visit(field.to_owned(), value, Text)
            }
        };
        match self {
            Self::Webhook(s) => {
                visit("settings.url".into(), &mut s.url, Url);
                text("settings.secret", &mut s.secret, &mut visit);
                for (name, value) in s.headers.iter_mut().flatten() {
                    visit(format!("settings.headers.{name}"), value, Text);
                }
            }
            Self::Ntfy(s) => text("settings.token", &mut s.token, &mut visit),
            Self::Discord(s) => visit("settings.webhook_url".into(), &mut s.webhook_url, Url),
            Self::Slack(s) => visit("settings.webhook_url".into(), &mut s.webhook_url, Url),
            Self::Gotify(s) => visit("settings.token".into(), &mut s.token, Text),
            Self::Telegram(s) => visit("settings.bot_token".into(), &mut s.bot_token, Text),
            Self::Pushover(s) => {
                visit("settings.app_token".into(), &mut s.app_token, Text);
                visit("settings.user_key".into(), &mut s.user_key, Text);
            }
            Self::Matrix(s) => visit("settings.access_token".into(), &mut s.access_token, Text),
            Self::Email(s) => text("settings.password", &mut s.password, &mut visit),
            Self::Apprise(s) => text("settings.urls", &mut s.urls, &mut visit),
        }
    }

    /// The settings with each secret replaced by what `replace` makes of its field path
    /// (`settings.token`, `settings.headers.X-Key`), for config files that refer to secrets.
    pub fn with_secrets(&self, mut replace: impl FnMut(&str) -> String) -> Self {
        let mut replaced = self.clone();
        replaced.secrets_mut(|field, value, _| *value = replace(&field));
        replaced
    }

    /// Every secret's value, to scrub them out of provider replies and errors.
    pub fn secret_values(&self) -> Vec<String> {
        let mut values = Vec::new();
        self.clone().secrets_mut(|_, value, _| values.push(value.clone()));
        values
    }

    /// The settings as every answer shows them: each secret replaced by the mask (URLs keep scheme and host).
    pub fn masked(&self) -> Self {
        let mut masked = self.clone();
        masked.secrets_mut(|_, value, form| *value = mask_secret(value, form));
        masked
    }

    /// Puts the stored secret back wherever the new settings carry the mask. A mask with nothing stored to
    /// keep (another kind, or a secret never set) is an error naming the field.
    pub fn keep_masked_secrets(&mut self, stored: Option<&ChannelSettings>) -> Vec<FieldError> {
        let mut kept: BTreeMap<String, String> = BTreeMap::new();
        if let Some(stored) = stored.filter(|s| s.kind() == self.kind()) {
            stored
                .clone()
                .secrets_mut(|field, value, _| drop(kept.insert(field, value.clone())));
        }
        let mut errors = Vec::new();
        self.secrets_mut(|field, value, _| {
            if value.contains(MASK) {
                match kept.get(&field) {
                    Some(stored) => *value = stored.clone(),
                    None => errors.push(FieldError::new(
                        field,
                        format!("is `{MASK}`, which keeps a stored secret, but none is stored here: give the secret itself"),
                    )),
                }
            }
        });
        errors
    }

    fn check(&mut self, errors: &mut Vec<FieldError>) {
        match self {
            Self::Webhook(s) => {
                check_url("settings.url", s.url.clone(), errors);
                check_secret("settings.secret", s.secret.as_deref(), errors);
                let headers = s.headers.as_ref().map_or(0, BTreeMap::len);
                if headers > HEADERS_MAX {
                    errors.push(FieldError::new(
                        "settings.headers",
                        format!("at most {HEADERS_MAX} headers (got {headers})"),
                    ));
                }
                for (name, value) in s.headers.iter().flatten() {
                    let field = format!("settings.headers.{name}");
                    if !patterns::is_header_name(name) || name.len() > 64 {
                        errors.push(FieldError::new(
                            &field,
                            "the name must be an HTTP token (letters, digits and !#$%&'*+.^_`|~-), at most 64 characters",
                        ));
                    }
                    if !patterns::is_header_value(value) || value.len() > 4096 {
                        errors.push(FieldError::new(
                            &field,
                            "the value must be visible ASCII or tabs, at most 4096 characters",
                        ));
                    }
                }
            }
            Self::Ntfy(s) => {
                check_optional_url("settings.server_url", s.server_url.as_deref(), errors);
                check_token(
                    "settings.topic",
                    &s.topic,
                    "a topic of letters, digits, - and _",
                    errors,
                );
                if !s
                    .topic
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    errors.push(FieldError::new(
                        "settings.topic",
                        "may hold only letters, digits, - and _ (ntfy's rule for topics)",
                    ));
                }
                check_secret("settings.token", s.token.as_deref(), errors);
                check_range("settings.priority", s.priority, 1, 5, errors);
            }
            Self::Discord(s) => {
                check_url("settings.webhook_url", s.webhook_url.clone(), errors);
            }
            Self::Slack(s) => {
                check_url("settings.webhook_url", s.webhook_url.clone(), errors);
            }
            Self::Gotify(s) => {
                check_url("settings.server_url", s.server_url.clone(), errors);
                check_token("settings.token", &s.token, "the application token", errors);
                check_range("settings.priority", s.priority, 0, 10, errors);
            }
            Self::Telegram(s) => {
                check_token(
                    "settings.bot_token",
                    &s.bot_token,
                    "the bot token, such as 123456:ABC-DEF",
                    errors,
                );
                if s.bot_token.contains('/') {
                    errors.push(FieldError::new("settings.bot_token", "must not contain `/`"));
                }
                check_token(
                    "settings.chat_id",
                    &s.chat_id,
                    "a chat id such as -1001234567890 or @channel",
                    errors,
                );
                check_optional_url("settings.server_url", s.server_url.as_deref(), errors);
            }
            Self::Pushover(s) => {
                check_token(
                    "settings.app_token",
                    &s.app_token,
                    "the application's API token",
                    errors,
                );
                check_token("settings.user_key", &s.user_key, "the user or group key", errors);
                if let Some(device) = &s.device {
                    check_token("settings.device", device, "a device name", errors);
                }
                check_optional_url("settings.server_url", s.server_url.as_deref(), errors);
            }
            Self::Matrix(s) => {
                check_url("settings.homeserver_url", s.homeserver_url.clone(), errors);
                check_token(
                    "settings.access_token",
                    &s.access_token,
                    "an access token",
                    errors,
                );
                if !(s.room_id.starts_with('!') && s.room_id.contains(':')) || s.room_id.len() > 255 {
                    errors.push(FieldError::new(
                        "settings.room_id",
                        "must be a room id such as !abcdef:example.org (Settings → Advanced of the room shows it)",
                    ));
                }
            }
            Self::Email(s) => {
                if !patterns::is_dns_name(&s.host) || s.host.len() > 253 {
                    errors.push(FieldError::new(
                        "settings.host",
                        "must be a host name or IP address, such as smtp.example.org",
                    ));
                }
                if s.port == Some(0) {
                    errors.push(FieldError::new("settings.port", "must be 1 to 65535"));
                }
                if let Some(username) = &s.username {
                    check_token("settings.username", username, "the SMTP user name", errors);
                }
                check_secret("settings.password", s.password.as_deref(), errors);
                if s.from.parse::<lettre::message::Mailbox>().is_err() {
                    errors.push(FieldError::new(
                        "settings.from",
                        "must be an email address, such as homewatch@example.org or `Homewatch <homewatch@example.org>`",
                    ));
                }
                if s.to.is_empty() || s.to.len() > EMAIL_RECIPIENTS_MAX {
                    errors.push(FieldError::new(
                        "settings.to",
                        format!("must list 1 to {EMAIL_RECIPIENTS_MAX} addresses"),
                    ));
                }
                for (index, to) in s.to.iter().enumerate() {
                    if to.parse::<lettre::message::Mailbox>().is_err() {
                        errors.push(FieldError::new(
                            format!("settings.to[{index}]"),
                            "must be an email address, such as you@example.org",
                        ));
                    }
                }
            }
            Self::Apprise(s) => {
                check_url("settings.server_url", s.server_url.clone(), errors);
                match (&s.key, &s.urls) {
                    (None, None) => errors.push(FieldError::new(
                        "settings.key",
                        "give `key` (a configuration stored on the Apprise server) or `urls` (Apprise URLs)",
                    )),
                    (Some(_), Some(_)) => errors.push(FieldError::new(
                        "settings.urls",
                        "give either `key` or `urls`, not both",
                    )),
                    _ => {}
                }
                if let Some(key) = &s.key
                    && (key.is_empty()
                        || key.len() > 128
                        || !key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                {
                    errors.push(FieldError::new(
                        "settings.key",
                        "must be 1 to 128 letters, digits, - and _",
                    ));
                }
                if let Some(urls) = &s.urls {
                    check_secret("settings.urls", Some(urls), errors);
                    if urls.trim().is_empty() {
                        errors.push(FieldError::new("settings.urls", "must not be empty"));
                    }
                }
                if let Some(tag) = &s.tag {
                    check_token("settings.tag", tag, "an Apprise tag", errors);
                }
            }
        }
    }
}

fn mask_secret(value: &str, form: SecretForm) -> String {
    if form == SecretForm::Url
        && let Ok(url) = url::Url::parse(value)
        && let Some(host) = url.host_str()
    {
        let port = url.port().map(|port| format!(":{port}")).unwrap_or_default();
        return format!("{}://{host}{port}/{MASK}", url.scheme());
    }
    MASK.to_owned()
}

fn check_optional_url(field: &str, url: Option<&str>, errors: &mut Vec<FieldError>) {
    if let Some(url) = url {
        check_url(field, url.to_owned(), errors);
    }
}

/// A short single-line value: not empty, at most 512 characters, no control characters or spaces at the ends.
fn check_token(field: &str, value: &str, what: &str, errors: &mut Vec<FieldError>) {
    if value.is_empty() || value.chars().count() > SETTING_MAX_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be {what}, 1 to {SETTING_MAX_CHARS} characters"),
        ));
    } else if value.chars().any(char::is_control) || value.trim() != value {
        errors.push(FieldError::new(
            field,
            format!("must be {what}, without control characters or spaces at either end"),
        ));
    }
}

fn check_secret(field: &str, value: Option<&str>, errors: &mut Vec<FieldError>) {
    if let Some(value) = value {
        check_token(field, value, "a secret", errors);
    }
}

fn check_range(field: &str, value: Option<u8>, min: u8, max: u8, errors: &mut Vec<FieldError>) {
    if let Some(value) = value
        && !(min..=max).contains(&value)
    {
        errors.push(FieldError::new(
            field,
            format!("must be {min} to {max} (got {value})"),
        ));
    }
}

/// A channel as the API answers it: secrets masked.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Channel {
    pub id: i64,
    /// Display name, unique among channels (case-insensitive).
    pub name: String,
    pub settings: ChannelSettings,
    /// Hears every tile, also tiles created later (a default channel).
    pub all_tiles: bool,
    /// Groups whose tiles it hears (besides `all_tiles`).
    pub groups: Vec<i64>,
    /// Tiles it hears (besides `all_tiles` and `groups`).
    pub services: Vec<i64>,
    /// While a tile stays down, say so again every this many minutes (5 to 10080); null: never.
    pub remind_every_min: Option<u32>,
    /// A disabled channel is told nothing.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Channel {
    /// What answers show of a stored channel.
    pub fn masked(mut self) -> Self {
        self.settings = self.settings.masked();
        self
    }
}

/// A new channel.
#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    pub settings: ChannelSettings,
    /// Hear every tile, also those created later (default false).
    pub all_tiles: Option<bool>,
    /// Groups whose tiles it hears (default none).
    pub groups: Option<Vec<i64>>,
    /// Tiles it hears (default none).
    pub services: Option<Vec<i64>>,
    /// Remind every this many minutes while a tile stays down (default never).
    #[oai(validator(minimum(value = "5"), maximum(value = "10080")))]
    pub remind_every_min: Option<u32>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// A channel as it is stored: every field decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelDraft {
    pub name: String,
    pub settings: ChannelSettings,
    pub all_tiles: bool,
    pub groups: Vec<i64>,
    pub services: Vec<i64>,
    pub remind_every_min: Option<u32>,
    pub enabled: bool,
}

/// Changes to a channel; absent fields stay. New `settings` replace the old whole, but a secret sent back
/// masked keeps the stored one. `remind_every_min: null` stops reminders.
#[derive(Debug, Clone, Default, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    pub settings: Option<ChannelSettings>,
    pub all_tiles: Option<bool>,
    pub groups: Option<Vec<i64>>,
    pub services: Option<Vec<i64>>,
    #[serde(default)]
    #[oai(validator(minimum(value = "5"), maximum(value = "10080")))]
    pub remind_every_min: MaybeUndefined<u32>,
    pub enabled: Option<bool>,
}

fn check_targets(field: &str, ids: &mut Vec<i64>, errors: &mut Vec<FieldError>) {
    if ids.len() > TARGETS_MAX {
        errors.push(FieldError::new(
            field,
            format!("at most {TARGETS_MAX} (got {})", ids.len()),
        ));
    }
    ids.sort_unstable();
    ids.dedup();
}

fn check_reminder(value: Option<u32>, errors: &mut Vec<FieldError>) {
    if let Some(minutes) = value
        && !(REMIND_MIN_MINUTES..=REMIND_MAX_MINUTES).contains(&minutes)
    {
        errors.push(FieldError::new(
            "remind_every_min",
            format!("must be {REMIND_MIN_MINUTES} to {REMIND_MAX_MINUTES} minutes, or null for no reminders (got {minutes})"),
        ));
    }
}

impl Validate for NewChannel {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        self.clone().draft()?;
        Ok(self)
    }
}

impl NewChannel {
    /// The channel to store, every rule checked.
    pub fn draft(self) -> Result<ChannelDraft, Vec<FieldError>> {
        let mut draft = ChannelDraft {
            name: self.name,
            settings: self.settings,
            all_tiles: self.all_tiles.unwrap_or(false),
            groups: self.groups.unwrap_or_default(),
            services: self.services.unwrap_or_default(),
            remind_every_min: self.remind_every_min,
            enabled: self.enabled.unwrap_or(true),
        };
        let mut errors = draft.settings.keep_masked_secrets(None);
        draft.check(&mut errors);
        finish(draft, errors)
    }
}

impl ChannelDraft {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        self.name = check_name("name", std::mem::take(&mut self.name), errors);
        self.settings.check(errors);
        check_targets("groups", &mut self.groups, errors);
        check_targets("services", &mut self.services, errors);
        check_reminder(self.remind_every_min, errors);
    }
}

impl Validate for ChannelPatch {
    /// Rules that need nothing stored; the merged channel is validated again in `apply`.
    fn validate(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        self.name = self.name.map(|name| check_name("name", name, &mut errors));
        for (field, ids) in [("groups", &mut self.groups), ("services", &mut self.services)] {
            if let Some(ids) = ids.as_mut() {
                check_targets(field, ids, &mut errors);
            }
        }
        check_reminder(self.remind_every_min.value().copied(), &mut errors);
        finish(self, errors)
    }
}

impl ChannelPatch {
    /// The stored channel (secrets included) with this patch applied, validated as a whole.
    pub fn apply(self, stored: Channel) -> Result<ChannelDraft, Vec<FieldError>> {
        let mut settings = self.settings.unwrap_or_else(|| stored.settings.clone());
        let mut errors = settings.keep_masked_secrets(Some(&stored.settings));
        let mut merged = ChannelDraft {
            name: self.name.unwrap_or(stored.name),
            settings,
            all_tiles: self.all_tiles.unwrap_or(stored.all_tiles),
            groups: self.groups.unwrap_or(stored.groups),
            services: self.services.unwrap_or(stored.services),
            remind_every_min: match self.remind_every_min {
                MaybeUndefined::Undefined => stored.remind_every_min,
                MaybeUndefined::Null => None,
                MaybeUndefined::Value(minutes) => Some(minutes),
            },
            enabled: self.enabled.unwrap_or(stored.enabled),
        };
        merged.check(&mut errors);
        finish(merged, errors)
    }
}

/// What a test message brought back from the provider.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ChannelTestResult {
    /// The provider accepted the message.
    pub ok: bool,
    /// The provider's HTTP status, or the SMTP reply code.
    pub status_code: Option<u16>,
    /// What the provider replied (its body, shortened), or why nothing was delivered.
    pub detail: String,
    pub duration_ms: u32,
}

/// What a notification tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The tile went down (after its retries).
    Down,
    /// The tile came back up; `downtime_s` says for how long it was down.
    Up,
    /// The tile is still down (the channel's reminder interval).
    Reminder,
    /// The tile changes state too often; further alerts wait until it is stable.
    Flapping,
    /// A test message sent from the channel's settings.
    Test,
    /// The tile's TLS certificate has fewer days left than a threshold (`reminder` holds the threshold,
    /// `since` the expiry); one per threshold crossed.
    Certificate,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::Up => "up",
            Self::Reminder => "reminder",
            Self::Flapping => "flapping",
            Self::Test => "test",
            Self::Certificate => "certificate",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Down,
            Self::Up,
            Self::Reminder,
            Self::Flapping,
            Self::Test,
            Self::Certificate,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// What happened to a tile, as the engine decided it; the store turns it into one notification per channel
/// that hears the tile, in the transaction that stores the state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub service_id: i64,
    pub kind: AlertKind,
    /// When the engine decided it.
    pub at: DateTime<Utc>,
    /// Since when the tile is in the state the alert is about (down or up).
    pub since: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Up: seconds the tile was down. Reminder: seconds it is down so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_s: Option<i64>,
    /// Flapping: state changes counted, and over how many minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_min: Option<u32>,
    /// Reminder: which one (1, 2, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<u32>,
}

impl Alert {
    /// The idempotency key of this alert to one channel: the same event to the same channel always gets the
    /// same key, so it is stored (and delivered) once, even when two replicas or a restart decide it again.
    pub fn key(&self, channel_id: i64) -> String {
        format!("{}:{channel_id}", self.key_prefix())
    }

    /// The key without the channel: `hw:SERVICE:KIND:SINCE_MS[:N]`.
    pub fn key_prefix(&self) -> String {
        let base = format!(
            "hw:{}:{}:{}",
            self.service_id,
            self.kind.as_str(),
            self.since.timestamp_millis()
        );
        match self.reminder {
            Some(n) => format!("{base}:{n}"),
            None => base,
        }
    }

    /// The payload stored with the notification.
    pub fn payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet: waiting for its first or next attempt.
    Pending,
    /// The provider accepted it.
    Delivered,
    /// Given up: the provider refused it for good, or kept failing for the retry period.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// One try at delivering a notification.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct DeliveryAttempt {
    /// 1 for the first.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub duration_ms: u32,
    pub ok: bool,
    /// The provider's HTTP status or SMTP reply code, when it answered.
    pub status_code: Option<u16>,
    /// What the provider replied (shortened), or the error.
    pub detail: String,
}

/// A notification in the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Notification {
    pub id: i64,
    /// The same for every delivery of this event to this channel: receivers drop repeats by it.
    pub idempotency_key: String,
    /// Null once the channel is deleted.
    pub channel_id: Option<i64>,
    pub channel_name: String,
    /// Null once the tile is deleted.
    pub service_id: Option<i64>,
    pub service_name: String,
    pub group_name: Option<String>,
    pub event: AlertKind,
    /// Why the tile is down, as its check reported it.
    pub cause: Option<String>,
    /// Since when the tile is in the state this is about.
    pub since: DateTime<Utc>,
    /// Up: seconds it was down; reminder: seconds so far.
    pub downtime_s: Option<i64>,
    pub status: DeliveryStatus,
    pub created_at: DateTime<Utc>,
    /// Pending: when the next attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Delivered or failed: when.
    pub finished_at: Option<DateTime<Utc>>,
    /// Every attempt, first first.
    pub attempts: Vec<DeliveryAttempt>,
}

/// Which notifications to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationFilter {
    pub status: Option<DeliveryStatus>,
    pub channel_id: Option<i64>,
    pub service_id: Option<i64>,
    /// Only those with an id below this (the next page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// A notification claimed for delivery, with what the message needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub id: i64,
    pub idempotency_key: String,
    pub channel_id: Option<i64>,
    pub channel_name: String,
    pub service_id: Option<i64>,
    pub service_name: String,
    pub group_name: Option<String>,
    pub alert: Alert,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// How an attempt ended, and what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(DateTime<Utc>),
    Failed,
}

/// A tile that has been down long enough for a channel's reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderDue {
    pub service_id: i64,
    pub group_id: i64,
    pub channel_id: i64,
    pub down_since: DateTime<Utc>,
    pub cause: Option<String>,
    pub every_s: i64,
}

/// What the engine last told people about a tile, kept with its status so a restart tells nothing twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertMemory {
    /// `Up` or `Down`; None before the first settled check.
    pub alerted: Option<ServiceState>,
    /// When the alerted state began.
    pub alerted_since: Option<DateTime<Utc>>,
    /// Set while the tile is flapping.
    pub flapping_since: Option<DateTime<Utc>>,
    /// The certificate people were last warned of (its expiry) and the threshold in days crossed.
    pub cert_warned: Option<(DateTime<Utc>, u32)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discord() -> ChannelSettings {
        ChannelSettings::Discord(DiscordSettings {
            webhook_url: "https://discord.com/api/webhooks/1/s3cret".into(),
        })
    }

    #[test]
    fn secrets_are_masked_and_a_masked_secret_keeps_the_stored_one() {
        let masked = discord().masked();
        assert_eq!(
            masked,
            ChannelSettings::Discord(DiscordSettings {
                webhook_url: "https://discord.com/(hidden)".into()
            })
        );
        let mut again = masked.clone();
        assert!(again.keep_masked_secrets(Some(&discord())).is_empty());
        assert_eq!(again, discord());
        let mut orphan = masked;
        let errors = orphan.keep_masked_secrets(None);
        assert_eq!(errors[0].field, "settings.webhook_url");
    }

    #[test]
    fn every_kind_masks_its_secrets() {
        let webhook = ChannelSettings::Webhook(WebhookSettings {
            url: "https://hooks.example.org/x?token=abc".into(),
            secret: Some("s3cret".into()),
            headers: Some([("Authorization".to_owned(), "Bearer s3cret".to_owned())].into()),
        });
        let shown = serde_json::to_string(&webhook.masked()).unwrap();
        assert!(!shown.contains("s3cret") && !shown.contains("abc"), "{shown}");
        let email = ChannelSettings::Email(EmailSettings {
            host: "smtp.example.org".into(),
            port: None,
            security: SmtpSecurity::Starttls,
            username: Some("me".into()),
            password: Some("s3cret".into()),
            from: "a@example.org".into(),
            to: vec!["b@example.org".into()],
            accept_invalid_certs: None,
        });
        assert!(!serde_json::to_string(&email.masked()).unwrap().contains("s3cret"));
    }

    #[test]
    fn alert_keys_name_the_event_and_the_channel() {
        let alert = Alert {
            service_id: 7,
            kind: AlertKind::Down,
            at: DateTime::from_timestamp_millis(2_000).unwrap(),
            since: DateTime::from_timestamp_millis(1_000).unwrap(),
            cause: None,
            downtime_s: None,
            changes: None,
            window_min: None,
            reminder: None,
        };
        assert_eq!(alert.key(3), "hw:7:down:1000:3");
        let reminder = Alert {
            kind: AlertKind::Reminder,
            reminder: Some(2),
            ..alert
        };
        assert_eq!(reminder.key(3), "hw:7:reminder:1000:2:3");
    }
}
