//! Configuration as code: one document that names everything a person configures — groups, tiles and their
//! checks, notification channels, maintenance windows and status pages — by stable keys (names, titles,
//! slugs), never by database ids.
//!
//! `export` reads a store into a document; `plan` compares a document with a store and says, field by field,
//! what would be created, changed or (with `prune`) deleted; the store then carries the plan out in one
//! transaction (`Store::apply_config`), so an apply is all or nothing and applying the same file twice changes
//! nothing the second time. The importers (`import`) turn other tools' files into the same document.
//!
//! Secrets (channel credentials, check headers, URLs carrying credentials, push tokens) are written as
//! `${HOMEWATCH_SECRET_…}` references unless asked for in clear; `load` puts the environment's values back.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    model::{
        Channel, ChannelSettings, Check, CheckKind, FieldError, NewChannel, NewService, Service,
        ServiceFilter, ServiceState, Validate,
        maintenance::NewMaintenance,
        mask_url,
        public::{NewStatusPage, StatusSection},
    },
    store::{Store, StoreResult},
};

pub mod commands;
pub mod import;
pub mod load;

/// The version of the document format this program writes and reads.
pub const VERSION: u32 = 1;
/// Where the JSON Schema of the format lives in the repository (editors fetch it from there).
pub const SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/homewatch/homewatch/main/homewatch-config.schema.json";
/// Environment variables a document may reference: only these, so a file sent to the API cannot read the
/// server's own settings (its database password, say).
pub const SECRET_PREFIX: &str = "HOMEWATCH_SECRET_";

/// Everything a person configures, by name. Lists are in the order the dashboard shows them.
#[derive(Debug, Clone, Default, PartialEq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[oai(rename = "ConfigDocument")]
pub struct Manifest {
    /// The format's version: 1.
    pub version: u32,
    /// Groups in order, each with its tiles in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub groups: Vec<GroupSpec>,
    /// Notification channels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub channels: Vec<ChannelSpec>,
    /// Maintenance windows (by title).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub maintenance: Vec<MaintenanceSpec>,
    /// Status pages (by slug).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub status_pages: Vec<PageSpec>,
}

/// A group and its tiles.
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[oai(rename = "ConfigGroup")]
pub struct GroupSpec {
    /// Unique among groups (ignoring case).
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub tiles: Vec<TileSpec>,
}

/// A tile: what the API's `NewService` holds, with its group given by the enclosing group.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[oai(rename = "ConfigTile")]
pub struct TileSpec {
    /// Unique within its group (ignoring case).
    pub name: String,
    /// Absolute http(s) URL the tile opens.
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[oai(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub tags: Vec<String>,
    /// How the tile is watched; left out, it is only a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub check: Option<Check>,
    /// Its badges are public.
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub badges: bool,
    /// Its checks are paused.
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub paused: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_true(value: &bool) -> bool {
    *value
}

fn yes() -> bool {
    true
}

/// A tile named by its group and its own name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[oai(rename = "ConfigTileRef")]
pub struct TileRef {
    pub group: String,
    pub tile: String,
}

impl TileRef {
    fn key(&self) -> (String, String) {
        (self.group.to_lowercase(), self.tile.to_lowercase())
    }
}

impl std::fmt::Display for TileRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.group, self.tile)
    }
}

/// A notification channel.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[oai(rename = "ConfigChannel")]
pub struct ChannelSpec {
    /// Unique among channels (ignoring case).
    pub name: String,
    /// The channel's `kind` and its fields, as the API's channels take them (`ChannelSettings`); secret fields
    /// may be `${HOMEWATCH_SECRET_…}` references, which is why this schema does not hold them to their URL
    /// patterns. Checked on apply.
    pub settings: Value,
    /// Hears every tile, also tiles added later.
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub all_tiles: bool,
    /// Groups whose tiles it hears, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub groups: Vec<String>,
    /// Tiles it hears.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub tiles: Vec<TileRef>,
    /// Minutes between reminders while a tile stays down (5 to 10080); left out: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub remind_every_min: Option<u32>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    #[oai(default = "yes")]
    pub enabled: bool,
}

/// A maintenance window, by its title.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[oai(rename = "ConfigMaintenance")]
pub struct MaintenanceSpec {
    /// Unique among the file's windows.
    pub title: String,
    /// The first (or only) start.
    pub starts_at: DateTime<Utc>,
    /// Minutes each occurrence lasts (1 to 44640).
    pub duration_min: u32,
    /// RFC 5545 RRULE such as `FREQ=WEEKLY;BYDAY=SU`; left out: once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub rrule: Option<String>,
    /// IANA time zone (default UTC).
    #[serde(default = "utc", skip_serializing_if = "is_utc")]
    #[oai(default = "utc")]
    pub timezone: String,
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub all_tiles: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub tiles: Vec<TileRef>,
}

fn utc() -> String {
    "UTC".into()
}

fn is_utc(zone: &String) -> bool {
    zone == "UTC"
}

/// A status page, by its slug.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[oai(rename = "ConfigStatusPage")]
pub struct PageSpec {
    pub slug: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[oai(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[oai(default)]
    pub footer: String,
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub published: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub show_links: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub sections: Vec<SectionSpec>,
}

/// One part of a status page: a whole group, or tiles picked one by one.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[oai(rename = "ConfigSection")]
pub struct SectionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    /// Every tile of this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub group: Option<String>,
    /// Or these tiles, in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub tiles: Vec<TileRef>,
}

// ---------------------------------------------------------------------------------------------------------
// Reading a store.

/// The store's configuration as a document, secrets in clear (see [`Manifest::with_secret_references`]).
/// Checks are written without the fields that hold their defaults.
pub async fn export(store: &dyn Store) -> StoreResult<Manifest> {
    let current = Current::read(store).await?;
    let mut manifest = current.manifest.clone();
    for group in &mut manifest.groups {
        for tile in &mut group.tiles {
            tile.check = tile.check.take().map(without_defaults);
        }
    }
    Ok(manifest)
}

/// What a store holds, as a document, with the ids behind its names.
#[derive(Debug, Clone, Default)]
pub struct Current {
    /// Checks in their stored (normalised) form, push tokens included.
    pub manifest: Manifest,
    /// The tiles a configuration file manages, as lower-case `(group, tile)`.
    pub managed: HashSet<(String, String)>,
}

impl Current {
    pub async fn read(store: &dyn Store) -> StoreResult<Self> {
        let groups = store.list_groups().await?;
        let mut services = Vec::new();
        let mut filter = ServiceFilter {
            limit: 1000,
            ..ServiceFilter::default()
        };
        loop {
            let page = store.list_services(&filter).await?;
            services.extend(page.items);
            match page.next_cursor {
                Some(_) => filter.after_id = services.last().map(|s| s.id),
                None => break,
            }
        }
        services.sort_by_key(|s| (s.group_id, s.position, s.id));
        let group_names: HashMap<i64, String> = groups.iter().map(|g| (g.id, g.name.clone())).collect();
        let tile_refs: HashMap<i64, TileRef> = services
            .iter()
            .filter_map(|s| {
                let group = group_names.get(&s.group_id)?.clone();
                Some((
                    s.id,
                    TileRef {
                        group,
                        tile: s.name.clone(),
                    },
                ))
            })
            .collect();
        let mut by_group: HashMap<i64, Vec<TileSpec>> = HashMap::new();
        let mut managed = HashSet::new();
        for service in services {
            if service.managed
                && let Some(group) = group_names.get(&service.group_id)
            {
                managed.insert((group.to_lowercase(), service.name.to_lowercase()));
            }
            by_group
                .entry(service.group_id)
                .or_default()
                .push(tile_of(service));
        }
        let named_groups = |ids: &[i64]| -> Vec<String> {
            ids.iter().filter_map(|id| group_names.get(id).cloned()).collect()
        };
        let named_tiles = |ids: &[i64]| -> Vec<TileRef> {
            let mut refs: Vec<TileRef> = ids.iter().filter_map(|id| tile_refs.get(id).cloned()).collect();
            refs.sort();
            refs
        };
        let channels = store
            .list_channels()
            .await?
            .into_iter()
            .map(|channel: Channel| {
                let mut groups = named_groups(&channel.groups);
                groups.sort();
                ChannelSpec {
                    name: channel.name,
                    settings: settings_value(&channel.settings),
                    all_tiles: channel.all_tiles,
                    groups,
                    tiles: named_tiles(&channel.services),
                    remind_every_min: channel.remind_every_min,
                    enabled: channel.enabled,
                }
            })
            .collect();
        let maintenance = store
            .list_maintenance()
            .await?
            .into_iter()
            .map(|stored| {
                let draft = stored.draft;
                let mut groups = named_groups(&draft.groups);
                groups.sort();
                MaintenanceSpec {
                    title: draft.title,
                    starts_at: draft.starts_at,
                    duration_min: draft.duration_min,
                    rrule: draft.rrule,
                    timezone: draft.timezone,
                    all_tiles: draft.all_tiles,
                    groups,
                    tiles: named_tiles(&draft.services),
                }
            })
            .collect();
        let status_pages = store
            .list_status_pages()
            .await?
            .into_iter()
            .map(|stored| {
                let draft = stored.draft;
                PageSpec {
                    slug: draft.slug,
                    title: draft.title,
                    description: draft.description,
                    icon: draft.icon,
                    footer: draft.footer,
                    published: draft.published,
                    domain: draft.domain,
                    show_links: draft.show_links,
                    sections: draft
                        .sections
                        .into_iter()
                        .map(|section| SectionSpec {
                            name: section.name,
                            group: section.group_id.and_then(|id| group_names.get(&id).cloned()),
                            tiles: section
                                .services
                                .iter()
                                .filter_map(|id| tile_refs.get(id).cloned())
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect();
        let manifest = Manifest {
            version: VERSION,
            groups: groups
                .into_iter()
                .map(|group| GroupSpec {
                    tiles: by_group.remove(&group.id).unwrap_or_default(),
                    name: group.name,
                })
                .collect(),
            channels,
            maintenance,
            status_pages,
        };
        Ok(Self { manifest, managed })
    }
}

/// Channel settings as the document holds them.
pub fn settings_value(settings: &ChannelSettings) -> Value {
    serde_json::to_value(settings).unwrap_or_default()
}

fn tile_of(service: Service) -> TileSpec {
    TileSpec {
        paused: service.status.state == ServiceState::Paused,
        name: service.name,
        url: service.url,
        description: service.description,
        icon: service.icon,
        tags: service.tags,
        check: service.check,
        badges: service.badges,
    }
}

/// A check with the fields that hold their default left out (what a person would write).
pub fn without_defaults(check: Check) -> Check {
    let defaults = |interval_s| {
        let mut errors = Vec::new();
        Check {
            interval_s,
            ..Check::bare(check.kind)
        }
        .normalised(None, &mut errors)
    };
    let (Ok(Value::Object(mut given)), Ok(Value::Object(with_interval)), Ok(Value::Object(plain))) = (
        serde_json::to_value(&check),
        serde_json::to_value(defaults(check.interval_s)),
        serde_json::to_value(defaults(None)),
    ) else {
        return check;
    };
    given.retain(|key, value| {
        key == "kind"
            || match key.as_str() {
                "interval_s" => plain.get(key) != Some(value),
                _ => with_interval.get(key) != Some(value),
            }
    });
    serde_json::from_value(Value::Object(given)).unwrap_or(check)
}

// ---------------------------------------------------------------------------------------------------------
// Secrets.

/// An environment variable name made of parts: upper-case letters, digits and underscores.
fn variable(parts: &[&str]) -> String {
    let mut name = SECRET_PREFIX.to_owned();
    let joined = parts.join("_");
    let mut last_underscore = true;
    for c in joined.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_uppercase());
            last_underscore = false;
        } else if !last_underscore {
            name.push('_');
            last_underscore = true;
        }
    }
    name.trim_end_matches('_').to_owned()
}

fn reference(name: &str) -> String {
    format!("${{{name}}}")
}

impl Manifest {
    /// The document with every secret replaced by a `${HOMEWATCH_SECRET_…}` reference (push tokens left out:
    /// an apply keeps a tile's token, and a new tile gets a new one). Returns the variables it refers to.
    pub fn with_secret_references(mut self) -> (Self, Vec<String>) {
        let mut names = Vec::new();
        for group in &mut self.groups {
            for tile in &mut group.tiles {
                let parts = ["TILE", group.name.as_str(), tile.name.as_str()];
                if mask_url(&tile.url) != tile.url {
                    let name = variable(&[&parts[..], &["URL"]].concat());
                    tile.url = reference(&name);
                    names.push(name);
                }
                if let Some(check) = tile.check.as_mut() {
                    check.token = None;
                    if let Some(target) = check.target.as_mut()
                        && mask_url(target) != *target
                    {
                        let name = variable(&[&parts[..], &["TARGET"]].concat());
                        *target = reference(&name);
                        names.push(name);
                    }
                    for (header, value) in check.headers.iter_mut().flatten() {
                        let name = variable(&[&parts[..], &["HEADER", header.as_str()]].concat());
                        *value = reference(&name);
                        names.push(name);
                    }
                }
            }
        }
        for channel in &mut self.channels {
            let channel_name = channel.name.clone();
            let Ok(settings) = serde_json::from_value::<ChannelSettings>(channel.settings.clone()) else {
                continue;
            };
            channel.settings = settings_value(&settings.with_secrets(|field| {
                let field = field.trim_start_matches("settings.");
                let name = variable(&["CHANNEL", &channel_name, field]);
                let text = reference(&name);
                names.push(name);
                text
            }));
        }
        (self, names)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Checking a document.

/// A document whose every rule holds, brought to the form the stores keep (trimmed names, lower-case tags,
/// checks with their defaults), so that comparing it with a store's export finds only real changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked(pub Manifest);

/// Checks a document's rules; each problem names its field as a path (`groups[0].tiles[2].url`).
pub fn check(manifest: Manifest) -> Result<Checked, Vec<FieldError>> {
    let mut errors = Vec::new();
    if manifest.version != VERSION {
        errors.push(FieldError::new(
            "version",
            format!(
                "this Homewatch reads version {VERSION} (got {})",
                manifest.version
            ),
        ));
    }
    let mut seen_groups = HashSet::new();
    let mut groups = Vec::with_capacity(manifest.groups.len());
    for (g, group) in manifest.groups.into_iter().enumerate() {
        let at = format!("groups[{g}]");
        let name = crate::model::check_name(&format!("{at}.name"), group.name, &mut errors);
        if !seen_groups.insert(name.to_lowercase()) {
            errors.push(FieldError::new(
                format!("{at}.name"),
                format!("group `{name}` is named twice; each group once"),
            ));
        }
        let mut seen_tiles = HashSet::new();
        let mut tiles = Vec::with_capacity(group.tiles.len());
        for (t, tile) in group.tiles.into_iter().enumerate() {
            let at = format!("{at}.tiles[{t}]");
            let paused = tile.paused;
            let new = NewService {
                group_id: 0,
                name: tile.name,
                url: tile.url,
                description: Some(tile.description),
                icon: tile.icon,
                tags: Some(tile.tags),
                check: tile.check,
                badges: Some(tile.badges),
            };
            match new.validate() {
                Ok(new) => {
                    if !seen_tiles.insert(new.name.to_lowercase()) {
                        errors.push(FieldError::new(
                            format!("{at}.name"),
                            format!("group `{name}` has two tiles named `{}`", new.name),
                        ));
                    }
                    tiles.push(TileSpec {
                        name: new.name,
                        url: new.url,
                        description: new.description.unwrap_or_default(),
                        icon: new.icon,
                        tags: new.tags.unwrap_or_default(),
                        check: new.check,
                        badges: new.badges.unwrap_or(false),
                        paused,
                    });
                }
                Err(found) => errors.extend(
                    found
                        .into_iter()
                        .map(|e| FieldError::new(format!("{at}.{}", e.field), e.message)),
                ),
            }
        }
        groups.push(GroupSpec { name, tiles });
    }

    let mut channels = Vec::with_capacity(manifest.channels.len());
    let mut seen = HashSet::new();
    for (c, channel) in manifest.channels.into_iter().enumerate() {
        let at = format!("channels[{c}]");
        let settings: ChannelSettings = match serde_path_to_error::deserialize(channel.settings) {
            Ok(settings) => settings,
            Err(err) => {
                let path = err.path().to_string();
                let field = match path.as_str() {
                    "." => format!("{at}.settings"),
                    path => format!("{at}.settings.{path}"),
                };
                errors.push(FieldError::new(field, err.into_inner().to_string()));
                continue;
            }
        };
        let new = NewChannel {
            name: channel.name,
            settings,
            all_tiles: Some(channel.all_tiles),
            groups: None,
            services: None,
            remind_every_min: channel.remind_every_min,
            enabled: Some(channel.enabled),
        };
        match new.draft() {
            Ok(draft) => {
                if !seen.insert(draft.name.to_lowercase()) {
                    errors.push(FieldError::new(
                        format!("{at}.name"),
                        format!("channel `{}` is named twice", draft.name),
                    ));
                }
                let (groups, tiles) = (sorted(channel.groups), sorted(channel.tiles));
                channels.push(ChannelSpec {
                    name: draft.name,
                    settings: settings_value(&draft.settings),
                    all_tiles: draft.all_tiles,
                    groups,
                    tiles,
                    remind_every_min: draft.remind_every_min,
                    enabled: draft.enabled,
                });
            }
            Err(found) => errors.extend(prefixed(&at, found)),
        }
    }

    let mut maintenance = Vec::with_capacity(manifest.maintenance.len());
    let mut seen = HashSet::new();
    for (m, window) in manifest.maintenance.into_iter().enumerate() {
        let at = format!("maintenance[{m}]");
        let new = NewMaintenance {
            title: window.title,
            starts_at: Some(window.starts_at),
            ends_at: None,
            duration_min: Some(window.duration_min),
            rrule: window.rrule,
            timezone: Some(window.timezone),
            all_tiles: Some(window.all_tiles),
            // Placeholders: the names are resolved against the store later.
            groups: Some((1..=window.groups.len() as i64).collect()),
            services: Some((1..=window.tiles.len() as i64).collect()),
        };
        match new.draft(Utc::now()) {
            Ok(draft) => {
                if !seen.insert(draft.title.to_lowercase()) {
                    errors.push(FieldError::new(
                        format!("{at}.title"),
                        format!("window `{}` is named twice; titles are the key", draft.title),
                    ));
                }
                let (groups, tiles) = (sorted(window.groups), sorted(window.tiles));
                maintenance.push(MaintenanceSpec {
                    title: draft.title,
                    starts_at: draft.starts_at,
                    duration_min: draft.duration_min,
                    rrule: draft.rrule,
                    timezone: draft.timezone,
                    all_tiles: draft.all_tiles,
                    groups,
                    tiles,
                });
            }
            Err(found) => errors.extend(prefixed(&at, found)),
        }
    }

    let mut status_pages = Vec::with_capacity(manifest.status_pages.len());
    let mut seen = HashSet::new();
    for (p, page) in manifest.status_pages.into_iter().enumerate() {
        let at = format!("status_pages[{p}]");
        // Sections are checked with placeholder ids: their names are resolved against the store later.
        let placeholder: Vec<StatusSection> = page
            .sections
            .iter()
            .map(|section| StatusSection {
                name: section.name.clone(),
                group_id: section.group.as_ref().map(|_| 1),
                services: (1..=section.tiles.len() as i64).collect(),
            })
            .collect();
        let new = NewStatusPage {
            slug: page.slug,
            title: page.title,
            description: Some(page.description),
            icon: page.icon,
            footer: Some(page.footer),
            published: Some(page.published),
            domain: page.domain,
            show_links: Some(page.show_links),
            sections: Some(placeholder),
        };
        match new.draft() {
            Ok(draft) => {
                if !seen.insert(draft.slug.clone()) {
                    errors.push(FieldError::new(
                        format!("{at}.slug"),
                        format!("status page `{}` is named twice", draft.slug),
                    ));
                }
                let sections = page
                    .sections
                    .into_iter()
                    .zip(draft.sections)
                    .map(|(given, checked)| SectionSpec {
                        name: checked.name,
                        group: given.group,
                        tiles: given.tiles,
                    })
                    .collect();
                status_pages.push(PageSpec {
                    slug: draft.slug,
                    title: draft.title,
                    description: draft.description,
                    icon: draft.icon,
                    footer: draft.footer,
                    published: draft.published,
                    domain: draft.domain,
                    show_links: draft.show_links,
                    sections,
                });
            }
            Err(found) => errors.extend(prefixed(&at, found)),
        }
    }
    let checked = Manifest {
        version: VERSION,
        groups,
        channels,
        maintenance,
        status_pages,
    };
    match errors.is_empty() {
        true => Ok(Checked(checked)),
        false => Err(errors),
    }
}

/// References in the order exports write them: sorted, each once.
fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items.dedup();
    items
}

fn prefixed(at: &str, errors: Vec<FieldError>) -> impl Iterator<Item = FieldError> + '_ {
    errors
        .into_iter()
        .map(move |e| FieldError::new(format!("{at}.{}", e.field), e.message))
}

// ---------------------------------------------------------------------------------------------------------
// Planning.

/// What a plan does to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Change,
    Delete,
}

/// One field a change sets: before and after, as compact JSON (secrets masked).
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
pub struct FieldChange {
    pub field: String,
    /// Absent when the field had no value.
    #[oai(skip_serializing_if_is_none)]
    pub before: Option<String>,
    /// Absent when the field has no value after the change.
    #[oai(skip_serializing_if_is_none)]
    pub after: Option<String>,
}

/// One object the plan creates, changes or deletes.
#[derive(Debug, Clone, PartialEq, Object, Serialize)]
pub struct PlannedChange {
    pub action: Action,
    /// `group`, `tile`, `channel`, `maintenance`, `status_page`, or `order` (of groups or of a group's tiles).
    pub kind: String,
    /// The object's key: a group's name, `Group / Tile`, a channel's name, a window's title, a page's slug.
    pub key: String,
    /// For changes, each field that differs.
    pub fields: Vec<FieldChange>,
    #[oai(skip)]
    #[serde(skip)]
    pub op: Op,
}

/// What the store does for one planned change, by name; ids are looked up inside the transaction.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Op {
    #[default]
    Nothing,
    CreateGroup(String),
    DeleteGroup(String),
    /// Every group, in order.
    OrderGroups(Vec<String>),
    CreateTile {
        group: String,
        tile: TileSpec,
    },
    /// The tile `from` becomes `tile` in `group` (possibly moving there).
    UpdateTile {
        from: TileRef,
        group: String,
        tile: TileSpec,
    },
    DeleteTile(TileRef),
    /// Every tile of a group, in order.
    OrderTiles {
        group: String,
        tiles: Vec<String>,
    },
    CreateChannel(ChannelSpec),
    UpdateChannel {
        name: String,
        channel: ChannelSpec,
    },
    DeleteChannel(String),
    CreateMaintenance(MaintenanceSpec),
    UpdateMaintenance {
        title: String,
        window: MaintenanceSpec,
    },
    DeleteMaintenance(String),
    CreatePage(PageSpec),
    UpdatePage {
        slug: String,
        page: PageSpec,
    },
    DeletePage(String),
    /// These tiles, and only these, are managed by the configuration file.
    SetManaged(Vec<TileRef>),
}

/// The plan: every change, in the order the store makes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub changes: Vec<PlannedChange>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    pub fn ops(&self) -> Vec<Op> {
        self.changes.iter().map(|c| c.op.clone()).collect()
    }

    /// The plan as people read it: `+ create`, `~ change` with each field, `- delete`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for change in &self.changes {
            let sign = match change.action {
                Action::Create => '+',
                Action::Change => '~',
                Action::Delete => '-',
            };
            out.push_str(&format!("{sign} {} {}\n", change.kind, change.key));
            for field in &change.fields {
                let show = |value: &Option<String>| value.clone().unwrap_or_else(|| "(none)".into());
                match change.action {
                    Action::Change => out.push_str(&format!(
                        "    {}: {} -> {}\n",
                        field.field,
                        show(&field.before),
                        show(&field.after)
                    )),
                    _ => out.push_str(&format!("    {}: {}\n", field.field, show(&field.after))),
                }
            }
        }
        out.push_str(&format!(
            "{} to create, {} to change, {} to delete\n",
            self.count(Action::Create),
            self.count(Action::Change),
            self.count(Action::Delete)
        ));
        out
    }
}

/// Each top-level field of `value` as JSON (secrets are masked by the callers).
fn fields_of<T: Serialize>(value: &T) -> BTreeMap<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

/// The fields that differ, as compact JSON; a field holding an object on both sides (a check, channel
/// settings) is compared field by field inside it (`check.interval_s`).
fn field_changes<T: Serialize>(before: Option<&T>, after: Option<&T>) -> Vec<FieldChange> {
    let before = before.map(fields_of).unwrap_or_default();
    let after = after.map(fields_of).unwrap_or_default();
    let mut changes = Vec::new();
    diff_maps("", &before, &after, &mut changes);
    changes
}

fn diff_maps(
    prefix: &str,
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
    changes: &mut Vec<FieldChange>,
) {
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let (old, new) = (before.get(key), after.get(key));
        if old == new {
            continue;
        }
        let field = format!("{prefix}{key}");
        if let (Some(Value::Object(old)), Some(Value::Object(new))) = (old, new) {
            let old: BTreeMap<String, Value> = old.clone().into_iter().collect();
            let new: BTreeMap<String, Value> = new.clone().into_iter().collect();
            diff_maps(&format!("{field}."), &old, &new, changes);
            continue;
        }
        changes.push(FieldChange {
            field,
            before: old.map(Value::to_string),
            after: new.map(Value::to_string),
        });
    }
}

/// A tile as the plan shows it: header values and push tokens hidden, URLs with credentials masked.
fn shown_tile(tile: &TileSpec) -> TileSpec {
    let mut shown = tile.clone();
    shown.url = mask_url(&shown.url);
    if let Some(check) = shown.check.as_mut() {
        check.token = check.token.as_ref().map(|_| crate::model::HIDDEN.to_owned());
        if let Some(target) = check.target.as_mut() {
            *target = mask_url(target);
        }
        for value in check.headers.iter_mut().flat_map(|h| h.values_mut()) {
            *value = crate::model::HIDDEN.to_owned();
        }
    }
    shown
}

fn shown_channel(channel: &ChannelSpec) -> ChannelSpec {
    ChannelSpec {
        settings: match serde_json::from_value::<ChannelSettings>(channel.settings.clone()) {
            Ok(settings) => settings_value(&settings.masked()),
            Err(_) => Value::Null,
        },
        ..channel.clone()
    }
}

fn planned(action: Action, kind: &str, key: String, fields: Vec<FieldChange>, op: Op) -> PlannedChange {
    PlannedChange {
        action,
        kind: kind.to_owned(),
        key,
        fields,
        op,
    }
}

/// Compares a checked document with what a store holds. Without `prune` nothing is deleted; references
/// (groups and tiles named by channels, windows and pages) must exist in the document or, without `prune`,
/// in the store.
pub fn plan(desired: &Checked, current: &Current, prune: bool) -> Result<Plan, Vec<FieldError>> {
    plan_with(
        desired,
        current,
        if prune { Prune::Everything } else { Prune::Nothing },
    )
}

/// What a plan deletes that the document does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prune {
    Nothing,
    Everything,
    /// Only tiles a configuration file manages (`HOMEWATCH_CONFIG`); the document's tiles become the managed ones.
    Managed,
}

/// The plan for `HOMEWATCH_CONFIG`: nothing is deleted but managed tiles the file no longer names, and the
/// file's tiles are marked managed.
pub fn plan_managed(desired: &Checked, current: &Current) -> Result<Plan, Vec<FieldError>> {
    plan_with(desired, current, Prune::Managed)
}

fn plan_with(checked: &Checked, current_state: &Current, mode: Prune) -> Result<Plan, Vec<FieldError>> {
    let prune = mode == Prune::Everything;
    let desired = &checked.0;
    let current = &current_state.manifest;
    let mut changes = Vec::new();
    let lower = |s: &str| s.to_lowercase();

    // Groups.
    let current_groups: HashMap<String, &GroupSpec> =
        current.groups.iter().map(|g| (lower(&g.name), g)).collect();
    let desired_groups: HashSet<String> = desired.groups.iter().map(|g| lower(&g.name)).collect();
    for group in &desired.groups {
        if !current_groups.contains_key(&lower(&group.name)) {
            changes.push(planned(
                Action::Create,
                "group",
                group.name.clone(),
                Vec::new(),
                Op::CreateGroup(group.name.clone()),
            ));
        }
    }

    // Tiles: by (group, name); a tile whose name moved to another group and is unique there moves.
    let mut current_tiles: HashMap<(String, String), (String, &TileSpec)> = HashMap::new();
    for group in &current.groups {
        for tile in &group.tiles {
            current_tiles.insert(
                (lower(&group.name), lower(&tile.name)),
                (group.name.clone(), tile),
            );
        }
    }
    let desired_keys: HashSet<(String, String)> = desired
        .groups
        .iter()
        .flat_map(|g| g.tiles.iter().map(|t| (lower(&g.name), lower(&t.name))))
        .collect();
    // Current tiles the document does not name where they are, by tile name: candidates for a move. Only
    // from groups the document describes (or all, with prune): a document that leaves a group out says
    // nothing about its tiles.
    let mut movable: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let described = |group: &String| prune || desired_groups.contains(group);
    for (key, _) in current_tiles
        .iter()
        .filter(|(key, _)| !desired_keys.contains(*key) && described(&key.0))
    {
        movable.entry(key.1.clone()).or_default().push(key.clone());
    }
    let mut moved: HashSet<(String, String)> = HashSet::new();
    let mut tile_changes = Vec::new();
    for group in &desired.groups {
        for tile in &group.tiles {
            let key = (lower(&group.name), lower(&tile.name));
            let found = current_tiles
                .get(&key)
                .map(|found| (key.clone(), found))
                .or_else(|| match movable.get(&lower(&tile.name)).map(Vec::as_slice) {
                    Some([from]) => current_tiles.get(from).map(|found| (from.clone(), found)),
                    _ => None,
                });
            match found {
                None => tile_changes.push(planned(
                    Action::Create,
                    "tile",
                    format!("{} / {}", group.name, tile.name),
                    field_changes(None, Some(&shown_tile(tile))),
                    Op::CreateTile {
                        group: group.name.clone(),
                        tile: tile.clone(),
                    },
                )),
                Some((from_key, (from_group, stored))) => {
                    if from_key != key {
                        moved.insert(from_key.clone());
                    }
                    // A push check written without its token keeps the stored one.
                    let mut wanted = tile.clone();
                    if let (Some(check), Some(old)) = (wanted.check.as_mut(), stored.check.as_ref())
                        && check.kind == CheckKind::Push
                        && old.kind == CheckKind::Push
                        && check.token.is_none()
                    {
                        check.token = old.token.clone();
                    }
                    let mut fields = field_changes(Some(&shown_tile(stored)), Some(&shown_tile(&wanted)));
                    if wanted.check != stored.check && fields.iter().all(|f| !f.field.starts_with("check")) {
                        // Only a secret differs (shown masked on both sides).
                        fields.push(FieldChange {
                            field: "check".into(),
                            before: Some("(a secret)".into()),
                            after: Some("(another secret)".into()),
                        });
                    }
                    if wanted.url != stored.url && fields.iter().all(|f| f.field != "url") {
                        fields.push(FieldChange {
                            field: "url".into(),
                            before: Some("(credentials)".into()),
                            after: Some("(other credentials)".into()),
                        });
                    }
                    if from_key != key {
                        fields.insert(
                            0,
                            FieldChange {
                                field: "group".into(),
                                before: Some(from_group.clone()),
                                after: Some(group.name.clone()),
                            },
                        );
                    }
                    if !fields.is_empty() {
                        tile_changes.push(planned(
                            Action::Change,
                            "tile",
                            format!("{} / {}", group.name, tile.name),
                            fields,
                            Op::UpdateTile {
                                from: TileRef {
                                    group: from_group.clone(),
                                    tile: stored.name.clone(),
                                },
                                group: group.name.clone(),
                                tile: wanted,
                            },
                        ));
                    }
                }
            }
        }
    }
    if prune || mode == Prune::Managed {
        for group in &current.groups {
            for tile in &group.tiles {
                let key = (lower(&group.name), lower(&tile.name));
                let prunable = prune || current_state.managed.contains(&key);
                if prunable && !desired_keys.contains(&key) && !moved.contains(&key) {
                    changes.push(planned(
                        Action::Delete,
                        "tile",
                        format!("{} / {}", group.name, tile.name),
                        Vec::new(),
                        Op::DeleteTile(TileRef {
                            group: group.name.clone(),
                            tile: tile.name.clone(),
                        }),
                    ));
                }
            }
        }
    }
    changes.extend(tile_changes);
    if prune {
        for group in &current.groups {
            if !desired_groups.contains(&lower(&group.name)) {
                changes.push(planned(
                    Action::Delete,
                    "group",
                    group.name.clone(),
                    Vec::new(),
                    Op::DeleteGroup(group.name.clone()),
                ));
            }
        }
    }

    // Orders: the document's, for what it names; what it leaves unnamed (kept without prune) keeps its place.
    let current_order: Vec<String> = current.groups.iter().map(|g| g.name.clone()).collect();
    let file_order: Vec<String> = desired.groups.iter().map(|g| g.name.clone()).collect();
    let group_order = final_order(&current_order, &file_order, prune);
    if differs(&group_order, &natural_order(&current_order, &file_order, prune)) {
        changes.push(planned(
            Action::Change,
            "order",
            "groups".into(),
            vec![FieldChange {
                field: "groups".into(),
                before: Some(Value::from(current_order.clone()).to_string()),
                after: Some(Value::from(group_order.clone()).to_string()),
            }],
            Op::OrderGroups(group_order),
        ));
    }
    for group in &desired.groups {
        // The tiles that stay in the group (those moving out leave), in their current order.
        let before: Vec<String> = current_groups
            .get(&lower(&group.name))
            .map(|g| {
                g.tiles
                    .iter()
                    .filter(|t| !moved.contains(&(lower(&group.name), lower(&t.name))))
                    .map(|t| t.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let file_tiles: Vec<String> = group.tiles.iter().map(|t| t.name.clone()).collect();
        let order = final_order(&before, &file_tiles, prune);
        if differs(&order, &natural_order(&before, &file_tiles, prune)) {
            changes.push(planned(
                Action::Change,
                "order",
                format!("tiles of {}", group.name),
                vec![FieldChange {
                    field: "tiles".into(),
                    before: Some(Value::from(before.clone()).to_string()),
                    after: Some(Value::from(order.clone()).to_string()),
                }],
                Op::OrderTiles {
                    group: group.name.clone(),
                    tiles: order,
                },
            ));
        }
    }

    // What references may name: groups and tiles after the plan.
    let mut groups_after: HashSet<String> = desired_groups.clone();
    let mut tiles_after: HashSet<(String, String)> = desired_keys.clone();
    if !prune {
        groups_after.extend(current.groups.iter().map(|g| lower(&g.name)));
        tiles_after.extend(current_tiles.keys().filter(|k| !moved.contains(*k)).cloned());
    }
    let mut errors = Vec::new();
    let mut check_refs = |at: String, groups: &[String], tiles: &[TileRef]| {
        for (i, group) in groups.iter().enumerate() {
            if !groups_after.contains(&lower(group)) {
                errors.push(FieldError::new(
                    format!("{at}.groups[{i}]"),
                    format!(
                        "no group named `{group}` in the file{}",
                        if prune { "" } else { " or the store" }
                    ),
                ));
            }
        }
        for (i, tile) in tiles.iter().enumerate() {
            if !tiles_after.contains(&tile.key()) {
                errors.push(FieldError::new(
                    format!("{at}.tiles[{i}]"),
                    format!(
                        "no tile `{tile}` in the file{}",
                        if prune { "" } else { " or the store" }
                    ),
                ));
            }
        }
    };
    for (i, channel) in desired.channels.iter().enumerate() {
        check_refs(format!("channels[{i}]"), &channel.groups, &channel.tiles);
    }
    for (i, window) in desired.maintenance.iter().enumerate() {
        check_refs(format!("maintenance[{i}]"), &window.groups, &window.tiles);
    }
    for (i, page) in desired.status_pages.iter().enumerate() {
        for (s, section) in page.sections.iter().enumerate() {
            let groups: Vec<String> = section.group.iter().cloned().collect();
            check_refs(
                format!("status_pages[{i}].sections[{s}]"),
                &groups,
                &section.tiles,
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Channels, windows, pages: by key.
    keyed(
        &mut changes,
        "channel",
        &desired.channels,
        &current.channels,
        prune,
        |c| c.name.clone(),
        shown_channel,
        |c| Op::CreateChannel(c.clone()),
        |name, c| Op::UpdateChannel {
            name,
            channel: c.clone(),
        },
        Op::DeleteChannel,
    );
    keyed(
        &mut changes,
        "maintenance",
        &desired.maintenance,
        &current.maintenance,
        prune,
        |m| m.title.clone(),
        Clone::clone,
        |m| Op::CreateMaintenance(m.clone()),
        |title, m| Op::UpdateMaintenance {
            title,
            window: m.clone(),
        },
        Op::DeleteMaintenance,
    );
    keyed(
        &mut changes,
        "status_page",
        &desired.status_pages,
        &current.status_pages,
        prune,
        |p| p.slug.clone(),
        Clone::clone,
        |p| Op::CreatePage(p.clone()),
        |slug, p| Op::UpdatePage {
            slug,
            page: p.clone(),
        },
        Op::DeletePage,
    );
    if mode == Prune::Managed {
        let named: Vec<TileRef> = desired
            .groups
            .iter()
            .flat_map(|g| {
                g.tiles.iter().map(|t| TileRef {
                    group: g.name.clone(),
                    tile: t.name.clone(),
                })
            })
            .collect();
        let keys: HashSet<(String, String)> = named.iter().map(TileRef::key).collect();
        if keys != current_state.managed {
            changes.push(planned(
                Action::Change,
                "managed",
                "tiles kept by the configuration file".into(),
                Vec::new(),
                Op::SetManaged(named),
            ));
        }
    }
    Ok(Plan { changes })
}

/// The order after an apply. With `prune` it is the document's. Without, it is the document's order for what
/// it names, and each item it leaves unnamed stays right after the item it followed (or first, if it led).
fn final_order(current: &[String], file: &[String], prune: bool) -> Vec<String> {
    if prune {
        return file.to_vec();
    }
    let lower = |s: &String| s.to_lowercase();
    let in_file: HashSet<String> = file.iter().map(lower).collect();
    let mut leading = Vec::new();
    let mut following: HashMap<String, Vec<String>> = HashMap::new();
    let mut last_named: Option<String> = None;
    for name in current {
        if in_file.contains(&lower(name)) {
            last_named = Some(lower(name));
        } else {
            match &last_named {
                Some(before) => following.entry(before.clone()).or_default().push(name.clone()),
                None => leading.push(name.clone()),
            }
        }
    }
    let mut order = leading;
    for name in file {
        order.push(name.clone());
        order.extend(following.remove(&lower(name)).unwrap_or_default());
    }
    order
}

/// The order the store ends with when no reorder is made: what stays as it is, new items last in the
/// document's order.
fn natural_order(current: &[String], file: &[String], prune: bool) -> Vec<String> {
    let lower = |s: &String| s.to_lowercase();
    let in_file: HashSet<String> = file.iter().map(lower).collect();
    let in_current: HashSet<String> = current.iter().map(lower).collect();
    let mut order: Vec<String> = current
        .iter()
        .filter(|n| !prune || in_file.contains(&lower(n)))
        .cloned()
        .collect();
    order.extend(file.iter().filter(|n| !in_current.contains(&lower(n))).cloned());
    order
}

fn differs(a: &[String], b: &[String]) -> bool {
    a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.to_lowercase() != y.to_lowercase())
}

/// Plans creates, changes and (with `prune`) deletes of objects found by a key, compared whole.
#[allow(clippy::too_many_arguments)]
fn keyed<T: Serialize + PartialEq>(
    changes: &mut Vec<PlannedChange>,
    kind: &str,
    desired: &[T],
    current: &[T],
    prune: bool,
    key: impl Fn(&T) -> String,
    shown: impl Fn(&T) -> T,
    create: impl Fn(&T) -> Op,
    update: impl Fn(String, &T) -> Op,
    delete: impl Fn(String) -> Op,
) {
    let lower = |s: String| s.to_lowercase();
    let stored: HashMap<String, &T> = current.iter().map(|item| (lower(key(item)), item)).collect();
    let named: HashSet<String> = desired.iter().map(|item| lower(key(item))).collect();
    if prune {
        for item in current.iter().filter(|item| !named.contains(&lower(key(item)))) {
            changes.push(planned(
                Action::Delete,
                kind,
                key(item),
                Vec::new(),
                delete(key(item)),
            ));
        }
    }
    for item in desired {
        match stored.get(&lower(key(item))) {
            None => changes.push(planned(
                Action::Create,
                kind,
                key(item),
                field_changes(None, Some(&shown(item))),
                create(item),
            )),
            Some(old) if *old != item => {
                let mut fields = field_changes(Some(&shown(old)), Some(&shown(item)));
                if fields.is_empty() {
                    fields.push(FieldChange {
                        field: "settings".into(),
                        before: Some("(a secret)".into()),
                        after: Some("(another secret)".into()),
                    });
                }
                changes.push(planned(
                    Action::Change,
                    kind,
                    key(item),
                    fields,
                    update(key(old), item),
                ));
            }
            Some(_) => {}
        }
    }
}

/// The JSON Schema (2020-12) of the document, for editors (`# yaml-language-server: $schema=...`) and the
/// committed `homewatch-config.schema.json`.
pub fn json_schema() -> Value {
    let mut registry = poem_openapi::registry::Registry::new();
    <Manifest as poem_openapi::types::Type>::register(&mut registry);
    let defs = serde_json::to_value(&registry.schemas).unwrap_or_default();
    let text = defs.to_string().replace("#/components/schemas/", "#/$defs/");
    let defs: Value = serde_json::from_str(&text).unwrap_or_default();
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_URL,
        "title": "Homewatch configuration",
        "description": "What `homewatch export` writes and `homewatch apply -f` reads (format version 1).",
        "$ref": "#/$defs/ConfigDocument",
        "$defs": defs,
    })
}

#[cfg(test)]
mod tests {
    use super::{final_order, natural_order};

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn orders_keep_unnamed_items_beside_their_neighbours() {
        let current = names(&["Media", "Downloads", "Network"]);
        // An import of new groups only: they go last, nothing moves.
        let file = names(&["core", "infra"]);
        assert_eq!(
            final_order(&current, &file, false),
            natural_order(&current, &file, false)
        );
        // A document that names everything: its order.
        let file = names(&["Network", "Lab", "media", "Downloads"]);
        assert_eq!(final_order(&current, &file, false), file);
        // An unnamed item stays after the one it followed.
        let file = names(&["Network", "Media"]);
        assert_eq!(
            final_order(&current, &file, false),
            names(&["Network", "Media", "Downloads"])
        );
        assert_eq!(final_order(&current, &file, true), file);
        assert_eq!(natural_order(&current, &file, true), names(&["Media", "Network"]));
    }
}
