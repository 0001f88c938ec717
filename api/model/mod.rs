//! The dashboard's data as the API and both stores share it: groups, service tiles, the dashboard,
//! and the request shapes with the validation rules the server applies to them.

use chrono::{DateTime, Utc};
use poem_openapi::{Object, types::MaybeUndefined};
use serde::Deserialize;

use crate::store::sql::from_row;

pub mod account;
pub mod alerts;
pub mod check;
pub mod history;
pub mod maintenance;
pub mod patterns;
pub mod public;
pub mod rollup;

pub use account::{
    ApiToken, AuthMethod, AuthState, CreatedToken, LoginRequest, Me, NewToken, NewUser, PasswordChange, Role,
    Scope, Session, SetupRequest, StoredUser, User, UserPatch,
};
pub use alerts::{
    Alert, AlertKind, AlertMemory, Channel, ChannelDraft, ChannelPatch, ChannelSettings, NewChannel,
    Notification, NotificationFilter,
};
pub use check::{Certificate, Check, CheckKind, ServiceState, ServiceStatus, WatchedTile};
pub use history::{
    CheckResult, CheckRun, Event, EventKind, HistoryBatch, Incident, IncidentChange, IncidentFilter,
    StatusUpdate,
};
pub use rollup::{Rollup, batch_rollups, hour_of_ms};

pub const NAME_MAX_CHARS: usize = 100;
pub const DESCRIPTION_MAX_CHARS: usize = 500;
pub const URL_MAX_CHARS: usize = 2048;
pub const ICON_NAME_MAX_CHARS: usize = 64;
pub const TAG_MAX_CHARS: usize = 32;
pub const TAGS_MAX: usize = 16;

/// A group of tiles on the start page.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Group {
    /// Identifier assigned by the server.
    pub id: i64,
    /// Display name, 1 to 100 characters, unique among groups (case-insensitive).
    pub name: String,
    /// Place on the start page, 0 first.
    pub position: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

from_row!(Group {
    id,
    name,
    position,
    created_at,
    updated_at
});

/// A service shown as a tile.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Service {
    /// Identifier assigned by the server.
    pub id: i64,
    /// The group the tile belongs to.
    pub group_id: i64,
    /// Display name, 1 to 100 characters, unique within its group (case-insensitive).
    pub name: String,
    /// Absolute http(s) URL the tile opens.
    pub url: String,
    /// Free text shown under the name, up to 500 characters.
    pub description: String,
    /// An emoji, an http(s) image URL, or a short icon name such as `jellyfin`.
    pub icon: Option<String>,
    /// Lower-case labels used to filter tiles, in the order given.
    pub tags: Vec<String>,
    /// Place within its group, 0 first.
    pub position: i64,
    /// How the tile is watched; null when it is not.
    pub check: Option<Check>,
    /// What the last checks found (read-only).
    pub status: ServiceStatus,
    /// Its badges (`/badge/{id}/...`) are public, even when no published status page shows it.
    pub badges: bool,
    /// Kept by the configuration file the server applies (`HOMEWATCH_CONFIG`): edits made here are undone
    /// the next time the file is applied (read-only).
    pub managed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Service {
    /// Equal in everything but the status (every field is named, so a new one must be considered here).
    pub fn same_but_status(&self, other: &Service) -> bool {
        let Service {
            id,
            group_id,
            name,
            url,
            description,
            icon,
            tags,
            position,
            check,
            status: _,
            badges,
            managed,
            created_at,
            updated_at,
        } = self;
        (id, group_id, name, url, description, icon, tags, position)
            == (
                &other.id,
                &other.group_id,
                &other.name,
                &other.url,
                &other.description,
                &other.icon,
                &other.tags,
                &other.position,
            )
            && (check, badges, managed, created_at, updated_at)
                == (
                    &other.check,
                    &other.badges,
                    &other.managed,
                    &other.created_at,
                    &other.updated_at,
                )
    }

    /// What people who may not change a tile see of it: credentials in its URLs, and its check's header
    /// values (often credentials), hidden.
    pub fn hide_secrets(&mut self) {
        self.url = mask_url(&self.url);
        if let Some(icon) = self.icon.as_mut() {
            *icon = mask_url(icon);
        }
        if let Some(check) = self.check.as_mut() {
            if let Some(target) = check.target.as_mut() {
                *target = mask_url(target);
            }
            for value in check.headers.iter_mut().flat_map(|headers| headers.values_mut()) {
                *value = HIDDEN.to_owned();
            }
            if let Some(token) = check.token.as_mut() {
                *token = HIDDEN.to_owned();
            }
        }
    }
}

/// Query parameters whose values are secrets when their name holds one of these (ignoring case).
const SECRET_PARAMETERS: [&str; 8] = ["key", "token", "pass", "pwd", "secret", "auth", "sig", "session"];

/// A URL with what may be a credential hidden: the user and password, and the values of query parameters
/// named like a key, token, password, secret or signature. Anything that is not an http(s) URL stays as it is.
pub fn mask_url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return text.to_owned();
    };
    if !matches!(url.scheme(), "http" | "https") {
        return text.to_owned();
    }
    let mut changed = false;
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username(HIDDEN_IN_URL);
        let _ = url.set_password(None);
        changed = true;
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let lower = name.to_ascii_lowercase();
                let secret = SECRET_PARAMETERS.iter().any(|word| lower.contains(word));
                changed |= secret;
                let value = if secret {
                    HIDDEN_IN_URL.to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        if changed {
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    if changed { url.to_string() } else { text.to_owned() }
}

/// What replaces a credential inside a URL.
const HIDDEN_IN_URL: &str = "hidden";

/// What replaces a secret for readers who may not see it.
pub const HIDDEN: &str = "(hidden)";

/// A tile on the start page: the service, and how it did over the last 24 hours.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct DashboardTile {
    #[oai(flatten)]
    pub service: Service,
    /// Share of checks that passed in the last 24 hours, in percent; null without checks.
    pub uptime_24h: Option<f64>,
    /// Average latency of each of the last 24 hours, oldest first (24 values); null for hours without a
    /// successful check.
    pub latency_24h: Vec<Option<f64>>,
}

impl DashboardTile {
    /// A tile with its uptime and latency of the hours `(hour, counts)` it had from `first_hour`.
    pub fn new(service: Service, tile_hours: &[(i64, Rollup)], first_hour: i64) -> Self {
        let (uptime_24h, latency_24h) = Self::figures(tile_hours, first_hour);
        DashboardTile {
            service,
            uptime_24h,
            latency_24h,
        }
    }

    /// Uptime and the latency of each hour from the counts of the hours `(hour, counts)` from `first_hour`.
    pub fn figures(tile_hours: &[(i64, Rollup)], first_hour: i64) -> (Option<f64>, Vec<Option<f64>>) {
        let mut day = Rollup::default();
        let mut latency_24h = vec![None; DASHBOARD_HOURS as usize];
        for (hour, rollup) in tile_hours {
            day.merge(rollup);
            if let Some(slot) = usize::try_from(hour - first_hour)
                .ok()
                .and_then(|i| latency_24h.get_mut(i))
            {
                *slot = rollup.avg_latency_ms();
            }
        }
        (day.uptime_percent(), latency_24h)
    }
}

/// One group of the start page with its tiles in order.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct DashboardGroup {
    pub id: i64,
    pub name: String,
    pub position: i64,
    pub services: Vec<DashboardTile>,
}

/// Everything the start page needs, in one response.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct Dashboard {
    /// All groups in order, each with its tiles in order.
    pub groups: Vec<DashboardGroup>,
}

/// What a store reads for the dashboard: groups in order, tiles by group and position, and the counts of
/// each tile's recent hours as `(service_id, hour, rollup)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DashboardRows {
    pub groups: Vec<Group>,
    pub services: Vec<Service>,
    pub hours: Vec<(i64, i64, Rollup)>,
}

/// Hours a dashboard tile shows, the current one last.
pub const DASHBOARD_HOURS: i64 = 24;

impl Dashboard {
    /// The first hour the dashboard shows at `now`.
    pub fn first_hour(now: DateTime<Utc>) -> i64 {
        hour_of_ms(now.timestamp_millis()) - (DASHBOARD_HOURS - 1)
    }

    /// Puts tiles under their groups, each with its uptime and latency of the hours from `first_hour`.
    pub fn assemble(rows: DashboardRows, first_hour: i64) -> Self {
        let shown = first_hour..first_hour + DASHBOARD_HOURS;
        let mut hours: std::collections::HashMap<i64, Vec<(i64, Rollup)>> = std::collections::HashMap::new();
        for (service_id, hour, rollup) in rows.hours.into_iter().filter(|(_, hour, _)| shown.contains(hour)) {
            hours.entry(service_id).or_default().push((hour, rollup));
        }
        let mut by_group: std::collections::HashMap<i64, Vec<DashboardTile>> =
            std::collections::HashMap::with_capacity(rows.groups.len());
        for service in rows.services {
            let tile_hours = hours.remove(&service.id).unwrap_or_default();
            by_group
                .entry(service.group_id)
                .or_default()
                .push(DashboardTile::new(service, &tile_hours, first_hour));
        }
        let groups = rows
            .groups
            .into_iter()
            .map(|group| DashboardGroup {
                services: by_group.remove(&group.id).unwrap_or_default(),
                id: group.id,
                name: group.name,
                position: group.position,
            })
            .collect();
        Dashboard { groups }
    }
}

/// A page of services.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ServicePage {
    pub items: Vec<Service>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Which services to list; every filter is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFilter {
    pub group_id: Option<i64>,
    pub tag: Option<String>,
    /// Text searched in name, description and url (case-insensitive).
    pub text: Option<String>,
    /// Only services with an id above this one (keyset pagination).
    pub after_id: Option<i64>,
    pub limit: u32,
}

/// A new group.
#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// 1 to 100 characters, unique among groups (case-insensitive).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
}

/// Changes to a group; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Option<String>,
}

/// A new tile.
#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    /// The group to put the tile in; it goes last in that group.
    pub group_id: i64,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// Absolute http(s) URL.
    #[oai(validator(max_length = 2048))]
    pub url: String,
    #[oai(validator(max_length = 500))]
    #[serde(default)]
    pub description: Option<String>,
    /// An emoji, an http(s) image URL, or a short icon name such as `jellyfin`.
    #[serde(default)]
    pub icon: Option<String>,
    /// Up to 16 labels of 1 to 32 characters; stored lower-case, duplicates dropped.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// How to watch the tile; leave out (or null) for a tile that is only a link.
    #[serde(default)]
    pub check: Option<Check>,
    /// Make its badges public (default false; tiles on a published status page have them anyway).
    #[serde(default)]
    pub badges: Option<bool>,
}

/// Changes to a tile; absent fields stay as they are, `icon: null` removes the icon.
#[derive(Debug, Clone, Default, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePatch {
    /// Moves the tile to the end of another group.
    pub group_id: Option<i64>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    #[oai(validator(max_length = 2048))]
    pub url: Option<String>,
    #[oai(validator(max_length = 500))]
    pub description: Option<String>,
    #[serde(default)]
    pub icon: MaybeUndefined<String>,
    pub tags: Option<Vec<String>>,
    /// A new check replaces the old one whole; null stops watching the tile.
    #[serde(default)]
    pub check: MaybeUndefined<Check>,
    /// Make its badges public, or not.
    pub badges: Option<bool>,
}

/// A new order: every id of the collection, each once, first one first.
#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub ids: Vec<i64>,
}

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize)]
pub struct FieldError {
    /// The field, as a JSON path such as `name` or `tags[2]`.
    pub field: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a request and brings it to its stored form (trimmed text, lower-case tags).
pub trait Validate: Sized {
    fn validate(self) -> Result<Self, Vec<FieldError>>;
}

/// A display name: at most 100 characters as given, no control characters, not only white space (the rule
/// the spec publishes as `patterns::NAME`); stored trimmed.
pub fn check_name(field: &str, name: String, errors: &mut Vec<FieldError>) -> String {
    let chars = name.chars().count();
    if chars > NAME_MAX_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at most {NAME_MAX_CHARS} characters (got {chars})"),
        ));
    } else if !patterns::is_name(&name) {
        errors.push(FieldError::new(
            field,
            "must hold a visible character and no control characters",
        ));
    }
    name.trim().to_owned()
}

/// Accepts an absolute http or https URL with a host (`patterns::HTTP_URL`, at most 2048 characters);
/// says what is wrong otherwise.
pub fn check_url(field: &str, text: String, errors: &mut Vec<FieldError>) -> String {
    if text.chars().count() > URL_MAX_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at most {URL_MAX_CHARS} characters"),
        ));
        return text;
    }
    let hint = "must be an absolute http:// or https:// URL, such as https://jellyfin.home.lan:8096";
    match url::Url::parse(&text) {
        Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => errors.push(FieldError::new(
            field,
            format!("scheme `{}` is not supported: {hint}", parsed.scheme()),
        )),
        Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => {
            errors.push(FieldError::new(field, format!("has no host: {hint}")))
        }
        Ok(_) if !patterns::is_http_url(&text) => errors.push(FieldError::new(
            field,
            format!(
                "{hint}; a host of letters, digits, - and _ (or an IP address), an optional port, and no spaces"
            ),
        )),
        Ok(_) => {}
        Err(err) => errors.push(FieldError::new(
            field,
            format!("is not a valid URL ({err}): {hint}"),
        )),
    }
    text
}

/// At most 500 characters as given; stored trimmed.
fn check_description(field: &str, text: String, errors: &mut Vec<FieldError>) -> String {
    let chars = text.chars().count();
    if chars > DESCRIPTION_MAX_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at most {DESCRIPTION_MAX_CHARS} characters (got {chars})"),
        ));
    }
    text.trim().to_owned()
}

/// An icon: empty for none, an http(s) image URL, or an emoji or icon name without white space.
pub(crate) fn check_icon(field: &str, icon: String, errors: &mut Vec<FieldError>) -> Option<String> {
    if icon.is_empty() {
        return None;
    }
    if patterns::is_http_url(&icon) {
        return Some(check_url(field, icon, errors));
    }
    if !patterns::is_icon_name(&icon) {
        errors.push(FieldError::new(
            field,
            format!(
                "must be an emoji, an http(s) image URL, or an icon name of at most {ICON_NAME_MAX_CHARS} \
                 characters without spaces, such as `jellyfin`"
            ),
        ));
    }
    Some(icon)
}

/// Up to 16 tags, each at most 32 characters as given, without commas or controls; stored trimmed and
/// lower-case, repeats dropped.
fn check_tags(field: &str, tags: Vec<String>, errors: &mut Vec<FieldError>) -> Vec<String> {
    if tags.len() > TAGS_MAX {
        errors.push(FieldError::new(
            field,
            format!("at most {TAGS_MAX} tags (got {})", tags.len()),
        ));
    }
    let mut kept: Vec<String> = Vec::with_capacity(tags.len());
    for (index, tag) in tags.into_iter().enumerate() {
        if tag.chars().count() > TAG_MAX_CHARS || !patterns::is_tag(&tag) {
            errors.push(FieldError::new(
                format!("{field}[{index}]"),
                format!("a tag is 1 to {TAG_MAX_CHARS} characters, without commas"),
            ));
            continue;
        }
        let tag = tag.trim().to_lowercase();
        if !kept.contains(&tag) {
            kept.push(tag);
        }
    }
    kept
}

pub(crate) fn finish<T>(value: T, errors: Vec<FieldError>) -> Result<T, Vec<FieldError>> {
    if errors.is_empty() { Ok(value) } else { Err(errors) }
}

impl Validate for NewGroup {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = check_name("name", self.name, &mut errors);
        finish(Self { name }, errors)
    }
}

impl Validate for GroupPatch {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.map(|name| check_name("name", name, &mut errors));
        finish(Self { name }, errors)
    }
}

impl Validate for NewService {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let validated = Self {
            group_id: self.group_id,
            name: check_name("name", self.name, &mut errors),
            url: check_url("url", self.url, &mut errors),
            description: self
                .description
                .map(|text| check_description("description", text, &mut errors)),
            icon: self.icon.and_then(|icon| check_icon("icon", icon, &mut errors)),
            tags: self.tags.map(|tags| check_tags("tags", tags, &mut errors)),
            check: None,
            badges: self.badges,
        };
        let check = self
            .check
            .map(|check| check.normalised(Some(&validated.url), &mut errors));
        finish(Self { check, ..validated }, errors)
    }
}

impl Validate for ServicePatch {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let icon = match self.icon {
            MaybeUndefined::Value(icon) => match check_icon("icon", icon, &mut errors) {
                Some(icon) => MaybeUndefined::Value(icon),
                None => MaybeUndefined::Null,
            },
            other => other,
        };
        let validated = Self {
            group_id: self.group_id,
            name: self.name.map(|name| check_name("name", name, &mut errors)),
            url: self.url.map(|url| check_url("url", url, &mut errors)),
            description: self
                .description
                .map(|text| check_description("description", text, &mut errors)),
            icon,
            tags: self.tags.map(|tags| check_tags("tags", tags, &mut errors)),
            check: MaybeUndefined::Undefined,
            badges: self.badges,
        };
        let check = match self.check {
            MaybeUndefined::Value(check) => {
                MaybeUndefined::Value(check.normalised(validated.url.as_deref(), &mut errors))
            }
            other => other,
        };
        finish(Self { check, ..validated }, errors)
    }
}

impl Validate for NewOrder {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        match repeated_ids(&self.ids) {
            Some(message) => Err(vec![FieldError::new("ids", message)]),
            None => Ok(self),
        }
    }
}

pub(crate) fn repeated_ids(ids: &[i64]) -> Option<String> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    let repeated: Vec<String> = ids
        .iter()
        .filter(|id| !seen.insert(**id))
        .map(i64::to_string)
        .collect();
    (!repeated.is_empty()).then(|| format!("each id may appear once; repeated: {}", repeated.join(", ")))
}

impl ServicePatch {
    /// The tile as it will be after this patch: fields the patch leaves out keep their current value.
    pub fn merged_with(&self, current: &Service) -> MergedService {
        MergedService {
            group_id: self.group_id.unwrap_or(current.group_id),
            name: self.name.clone().unwrap_or_else(|| current.name.clone()),
            url: self.url.clone().unwrap_or_else(|| current.url.clone()),
            description: self
                .description
                .clone()
                .unwrap_or_else(|| current.description.clone()),
            icon: match &self.icon {
                MaybeUndefined::Undefined => current.icon.clone(),
                MaybeUndefined::Null => None,
                MaybeUndefined::Value(icon) => Some(icon.clone()),
            },
            check: match &self.check {
                MaybeUndefined::Undefined => current.check.clone(),
                MaybeUndefined::Null => None,
                MaybeUndefined::Value(check) => Some(check.clone()),
            },
            badges: self.badges.unwrap_or(current.badges),
        }
    }
}

/// The scalar columns of a tile after a patch, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedService {
    pub group_id: i64,
    pub name: String,
    pub url: String,
    pub description: String,
    pub icon: Option<String>,
    pub check: Option<Check>,
    pub badges: bool,
}

impl MergedService {
    /// The check as the stores keep it: JSON text, or NULL for an unwatched tile.
    pub fn check_spec(&self) -> Option<String> {
        self.check.as_ref().map(check_spec)
    }
}

/// The check as the stores keep it.
pub fn check_spec(check: &Check) -> String {
    serde_json::to_string(check).unwrap_or_default()
}

/// A span of whole seconds for constants; chrono's `TimeDelta::seconds` panics out of range, this saturates.
pub const fn seconds(count: i64) -> chrono::TimeDelta {
    match chrono::TimeDelta::new(count, 0) {
        Some(span) => span,
        None => chrono::TimeDelta::MAX,
    }
}

/// Time as the stores keep it: UTC, whole milliseconds, so both dialects round-trip it exactly.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Opaque page cursors: clients pass back what they were given and must not build their own. Every string of
/// the published shape (`PATTERN`) is a cursor the server reads, so the spec says exactly which are valid.
pub mod cursor {
    pub const PATTERN: &str = "^v1\\.[0-9a-f]{16}$";

    pub fn encode(last_id: i64) -> String {
        format!("v1.{:016x}", last_id.cast_unsigned())
    }

    pub fn decode(cursor: &str) -> Option<i64> {
        let hex = cursor.strip_prefix("v1.").filter(|hex| hex.len() == 16)?;
        u64::from_str_radix(hex, 16)
            .ok()
            .filter(|_| {
                hex.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
            .map(u64::cast_signed)
    }
}

/// Compares a requested order with the ids that exist; the store calls this inside its transaction.
pub fn check_order_covers(requested: &[i64], existing: &[i64]) -> Result<(), String> {
    if let Some(message) = repeated_ids(requested) {
        return Err(message);
    }
    let missing: Vec<String> = existing
        .iter()
        .filter(|id| !requested.contains(id))
        .map(i64::to_string)
        .collect();
    let unknown: Vec<String> = requested
        .iter()
        .filter(|id| !existing.contains(id))
        .map(i64::to_string)
        .collect();
    if missing.is_empty() && unknown.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing ids {}", missing.join(", ")));
    }
    if !unknown.is_empty() {
        parts.push(format!("unknown ids {}", unknown.join(", ")));
    }
    Err(format!(
        "must list every id of the collection exactly once: {}",
        parts.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_errors(url: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_url("url", url.to_owned(), &mut errors);
        errors
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(url_errors("https://jellyfin.lan:8096/web").is_empty());
        assert!(url_errors("http://192.168.1.1").is_empty());
        assert!(
            !url_errors(" http://192.168.1.1 ").is_empty(),
            "taken as given: no spaces"
        );
        assert!(url_errors("http://[fd00::1]:8080/x?y=1").is_empty());
        assert!(
            url_errors("htp://nas.lan")
                .iter()
                .any(|e| e.message.contains("scheme `htp`"))
        );
        assert!(
            url_errors("nas.lan")
                .iter()
                .any(|e| e.message.contains("not a valid URL"))
        );
        assert!(
            url_errors("http//nas.lan")
                .iter()
                .any(|e| e.message.contains("not a valid URL"))
        );
        assert_eq!(url_errors("ftp://x").len(), 1);
    }

    #[test]
    fn credentials_in_urls_are_hidden_from_readers() {
        assert_eq!(mask_url("https://admin:pw@nas.lan/x"), "https://hidden@nas.lan/x");
        assert_eq!(
            mask_url("https://nas.lan/api?apikey=s3cret&page=2&X-Auth=t"),
            "https://nas.lan/api?apikey=hidden&page=2&X-Auth=hidden"
        );
        assert_eq!(
            mask_url("https://nas.lan/?page=2"),
            "https://nas.lan/?page=2",
            "nothing to hide"
        );
        assert_eq!(mask_url("nas.lan:22"), "nas.lan:22");
        assert_eq!(mask_url("🎬"), "🎬");
    }

    #[test]
    fn service_validation_names_every_bad_field() {
        let request = NewService {
            badges: None,
            group_id: 1,
            name: "  ".into(),
            url: "jellyfin".into(),
            description: Some("x".repeat(501)),
            icon: Some("not an icon".into()),
            tags: Some(vec!["Media".into(), "media".into(), String::new()]),
            check: None,
        };
        let fields: Vec<String> = request
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["name", "url", "description", "icon", "tags[2]"]);
    }

    #[test]
    fn valid_service_is_normalised() {
        let request = NewService {
            badges: None,
            group_id: 1,
            name: " Jellyfin ".into(),
            url: "https://jf.lan".into(),
            description: None,
            icon: Some("🎬".into()),
            tags: Some(vec!["Media".into(), "media".into(), "Video ".into()]),
            check: None,
        };
        let valid = request.validate().unwrap();
        assert_eq!(valid.name, "Jellyfin");
        assert_eq!(valid.tags.unwrap(), ["media", "video"]);
        assert_eq!(valid.icon.as_deref(), Some("🎬"));
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(cursor::decode(&cursor::encode(42)), Some(42));
        assert_eq!(cursor::decode(&cursor::encode(-7)), Some(-7));
        assert_eq!(cursor::decode("42"), None);
        assert_eq!(cursor::decode("v1.+00000000000002a"), None);
        assert_eq!(
            cursor::decode("v1.000000000000002A"),
            None,
            "the pattern is lower-case hex"
        );
        let pattern = regex::Regex::new(cursor::PATTERN).unwrap();
        assert!(pattern.is_match(&cursor::encode(i64::MAX)) && pattern.is_match(&cursor::encode(i64::MIN)));
    }

    #[test]
    fn order_must_cover_the_collection() {
        assert!(check_order_covers(&[2, 1, 3], &[1, 2, 3]).is_ok());
        let err = check_order_covers(&[2, 9], &[1, 2]).unwrap_err();
        assert!(
            err.contains("missing ids 1") && err.contains("unknown ids 9"),
            "{err}"
        );
        assert!(
            check_order_covers(&[1, 1, 2], &[1, 2])
                .unwrap_err()
                .contains("repeated: 1")
        );
        let duplicate = NewOrder { ids: vec![1, 1] }.validate().unwrap_err();
        assert_eq!(duplicate[0].field, "ids");
    }
}
