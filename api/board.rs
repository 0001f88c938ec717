//! The start page's dashboard, kept rendered in memory.
//!
//! `GET /dashboard` is the page's first request and what scripts poll. Reading every tile from the store and
//! building the whole response per request cost 51 ms at 1,000 tiles and 0.4 s at 10,000 (issue 17). The board
//! keeps each tile's JSON instead, rendered once and again only when something it shows moved:
//! - groups and tiles are read again when the store says this process changed them ([`Changes::config`]);
//! - hourly counts when it recorded history ([`Changes::history`]): from the earliest hour those writes touched
//!   (usually the current one), all shown hours only when the window moved;
//! - a tile's status when the engine's mark for it moved (a newer check, a maintenance window began or ended).
//!
//! Every request looks at those counters and marks before it answers, so nothing is served stale; a request that
//! finds nothing moved gets the same bytes as the one before (no copy), with the same ETag, and `If-None-Match`
//! is answered 304. The board's version is part of the ETag, with a number drawn at start, so a restarted server
//! never answers 304 to a tag of an earlier run.
//!
//! [`Changes::config`]: crate::store::Changes::config
//! [`Changes::history`]: crate::store::Changes::history

use std::{collections::HashMap, sync::Arc};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use poem_openapi::types::ToJSON;

use crate::{
    model::{Dashboard, DashboardGroup, DashboardRows, DashboardTile, Rollup, Service},
    monitor::engine::Engine,
    store::{Store, StoreResult},
    tiles::Sight,
};

/// Up to this many tiles that changed (or their hours, for new ones) are read one by one; more, and all are
/// read at once.
const READ_ONE_BY_ONE: usize = 64;

/// Tiles changed this recently are read again whatever their `updated_at` says: two edits within one
/// timestamp's resolution would look alike.
const RECENT_MS: i64 = 2_000;

/// One rendering of the dashboard, as one reader's sight shows it.
#[derive(Debug)]
pub struct Rendered {
    /// A strong validator naming the board's version and the sight.
    pub etag: String,
    /// The JSON document (a `Dashboard`), in pieces of about [`PIECE`] bytes: a large dashboard is never one
    /// large allocation (those are what made the resident memory grow by read at 10,000 tiles).
    pub body: Vec<Bytes>,
    /// The same, gzipped, made for the first client that accepts it and kept with the rendering.
    gzip: std::sync::OnceLock<Bytes>,
}

/// The size of the pieces a rendering is kept in.
pub const PIECE: usize = 64 * 1024;

impl Rendered {
    /// The body gzipped (at the fastest level: a dashboard that changes every second is compressed every
    /// second, and JSON this repetitive still shrinks about twentyfold).
    pub fn gzipped(&self) -> Bytes {
        self.gzip
            .get_or_init(|| {
                use std::io::Write;
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(self.body.iter().map(Bytes::len).sum::<usize>() / 16),
                    flate2::Compression::fast(),
                );
                // Writing into memory cannot fail.
                for piece in &self.body {
                    let _ = encoder.write_all(piece);
                }
                Bytes::from(encoder.finish().unwrap_or_default())
            })
            .clone()
    }
}

pub struct Board {
    store: Arc<dyn Store>,
    engine: Engine,
    state: tokio::sync::Mutex<State>,
    /// Drawn at start: part of every ETag.
    run: u32,
}

#[derive(Default)]
struct State {
    /// The store's change counters when the tiles and the hours were read; None before the first read.
    config_seen: Option<u64>,
    history_seen: Option<u64>,
    /// The first hour shown.
    first_hour: i64,
    groups: Vec<GroupSlot>,
    /// Tiles in the order shown, group after group.
    slots: Vec<Slot>,
    version: u64,
    /// The last rendering of each sight at `version`.
    rendered: [Option<Arc<Rendered>>; 2],
}

struct GroupSlot {
    /// `{"id":..,"name":..,"position":..,"services":[`
    head: Vec<u8>,
    /// Its tiles in `slots`.
    tiles: std::ops::Range<usize>,
}

struct Slot {
    /// As stored, secrets included.
    service: Service,
    /// Counts of its shown hours, oldest first.
    hours: Vec<(i64, Rollup)>,
    /// The engine's mark when its JSON was rendered.
    mark: Option<(Option<DateTime<Utc>>, bool)>,
    /// The tile's object up to its hours (without the closing brace), for each sight, rendered when first
    /// asked for.
    json: [Option<Bytes>; 2],
    /// Its hours: `,"uptime_24h":..,"latency_24h":[..]}`, the same for every sight.
    tail: Option<Bytes>,
}

fn sight_index(sight: Sight) -> usize {
    match sight {
        Sight::Full => 0,
        Sight::Redacted => 1,
    }
}

impl Board {
    pub fn new(store: Arc<dyn Store>, engine: Engine) -> Self {
        let mut run = [0u8; 4];
        // A fixed number if the system has no randomness: restarts then rely on the version alone.
        let _ = getrandom::fill(&mut run);
        Self {
            store,
            engine,
            state: Default::default(),
            run: u32::from_le_bytes(run),
        }
    }

    /// The dashboard as `sight` shows it, current as of this call.
    pub async fn read(&self, sight: Sight) -> StoreResult<Arc<Rendered>> {
        let mut state = self.state.lock().await;
        let changes = self.store.changes();
        // Counters are read before the store: a write that lands meanwhile raises them again, and the next
        // request reads once more.
        let (config, history) = (changes.config(), changes.history());
        let now = Utc::now();
        let first_hour = Dashboard::first_hour(now);
        let mut moved = false;
        if state.config_seen != Some(config) {
            // Tiles kept from the last read keep their hours (moved hours are read below); all shown hours are
            // read only at first, when the window moved, or when many tiles are new.
            let whole = state.config_seen.is_none() || state.first_hour != first_hour;
            let rows = match whole {
                true => Layout::from(self.store.dashboard(first_hour).await?),
                false => self.changed_rows(&state, now).await?,
            };
            let new_tiles = state.load(rows, first_hour, whole);
            if new_tiles.len() > READ_ONE_BY_ONE {
                let counts = self.store.hour_counts(first_hour).await?;
                state.update_hours(counts, first_hour, first_hour);
            } else {
                let current = first_hour + crate::model::DASHBOARD_HOURS - 1;
                for (index, id) in new_tiles {
                    state.slots[index].hours = self.store.rollups(id, first_hour, current).await?;
                }
            }
            state.config_seen = Some(config);
            if whole {
                state.history_seen = Some(history);
            }
            moved = true;
        }
        if state.history_seen != Some(history) || state.first_hour != first_hour {
            let current = first_hour + crate::model::DASHBOARD_HOURS - 1;
            // Usually only the current hour moved; a late batch (a check that began before the hour turned, a
            // writer held up by the database) may touch earlier ones, and the store says which.
            let touched = state
                .history_seen
                .and_then(|seen| changes.hours_touched_since(seen))
                .unwrap_or(i64::MIN);
            let from = if state.first_hour != first_hour {
                first_hour
            } else {
                touched.clamp(first_hour, current)
            };
            let counts = self.store.hour_counts(from).await?;
            moved |= state.update_hours(counts, from, first_hour);
            state.history_seen = Some(history);
        }
        let marks = self.engine.marks(
            state
                .slots
                .iter()
                .map(|slot| (slot.service.id, slot.service.group_id)),
        );
        for (slot, mark) in state.slots.iter_mut().zip(marks) {
            if slot.mark != Some(mark) {
                slot.mark = Some(mark);
                slot.json = [None, None];
                moved = true;
            }
        }
        if moved {
            state.version += 1;
            state.rendered = [None, None];
        }
        let index = sight_index(sight);
        if let Some(rendered) = &state.rendered[index] {
            return Ok(rendered.clone());
        }
        let rendered = Arc::new(state.render(&self.engine, sight, self.run));
        state.rendered[index] = Some(rendered.clone());
        Ok(rendered)
    }
}

impl Board {
    /// Groups and tiles as stored, reading again only the tiles whose row changed since the board read
    /// them; the others are the board's own copies. No hours.
    async fn changed_rows(&self, state: &State, now: DateTime<Utc>) -> StoreResult<Layout> {
        let (groups, stamps) = self.store.tile_stamps().await?;
        let known: HashMap<i64, &Service> = state
            .slots
            .iter()
            .map(|slot| (slot.service.id, &slot.service))
            .collect();
        let recent = now - chrono::Duration::milliseconds(RECENT_MS);
        let changed = |(id, group_id, position, updated_at): &(i64, i64, i64, DateTime<Utc>)| {
            known.get(id).is_none_or(|service| {
                service.updated_at != *updated_at
                    || *updated_at > recent
                    || service.group_id != *group_id
                    || service.position != *position
            })
        };
        if stamps.iter().filter(|stamp| changed(stamp)).count() > READ_ONE_BY_ONE {
            return Ok(Layout::from(self.store.dashboard(i64::MAX).await?));
        }
        let mut tiles = Vec::with_capacity(stamps.len());
        for stamp in &stamps {
            match changed(stamp) {
                false => tiles.push(Row::Kept {
                    id: stamp.0,
                    group_id: stamp.1,
                }),
                true => match self.store.get_service(stamp.0).await {
                    Ok(service) => tiles.push(Row::Read(Box::new(service))),
                    // Deleted since the stamps were read: the next request reads again.
                    Err(crate::store::StoreError::NotFound { .. }) => {}
                    Err(err) => return Err(err),
                },
            }
        }
        Ok(Layout {
            groups,
            tiles,
            hours: Vec::new(),
        })
    }
}

impl State {
    /// Lays out groups and tiles as read. With `whole`, `rows` carry every shown hour; otherwise tiles keep
    /// the hours they had, and those new to the board are returned (slot index, id) to have theirs read.
    fn load(&mut self, rows: Layout, first_hour: i64, whole: bool) -> Vec<(usize, i64)> {
        let Layout { groups, tiles, hours } = rows;
        let mut by_service = group_hours(hours, first_hour);
        let mut by_group: HashMap<i64, Vec<Row>> = HashMap::with_capacity(groups.len());
        for row in tiles {
            by_group.entry(row.group_id()).or_default().push(row);
        }
        // A tile read as it was, with the same hours, keeps its rendering.
        let mut old: HashMap<i64, Slot> = std::mem::take(&mut self.slots)
            .into_iter()
            .map(|slot| (slot.service.id, slot))
            .collect();
        let mut new_tiles = Vec::new();
        self.groups.clear();
        for group in groups {
            let start = self.slots.len();
            for row in by_group.remove(&group.id).unwrap_or_default() {
                let service = match row {
                    Row::Read(service) => *service,
                    Row::Kept { id, .. } => {
                        // Unchanged: the board's own copy, rendering and all.
                        if let Some(slot) = old.remove(&id) {
                            self.slots.push(slot);
                        }
                        continue;
                    }
                };
                let previous = old.remove(&service.id);
                let hours = match (whole, &previous) {
                    (true, _) => by_service.remove(&service.id).unwrap_or_default(),
                    (false, Some(previous)) => previous.hours.clone(),
                    (false, None) => {
                        new_tiles.push((self.slots.len(), service.id));
                        Vec::new()
                    }
                };
                let slot = match previous {
                    Some(mut slot) => {
                        if !renders_alike(&slot, &service) {
                            slot.json = [None, None];
                        }
                        if slot.hours != hours {
                            slot.hours = hours;
                            slot.tail = None;
                        }
                        slot.service = service;
                        slot
                    }
                    None => Slot {
                        hours,
                        service,
                        mark: None,
                        json: [None, None],
                        tail: None,
                    },
                };
                self.slots.push(slot);
            }
            let head = DashboardGroup {
                id: group.id,
                name: group.name,
                position: group.position,
                services: Vec::new(),
            };
            let mut head = serde_json::to_vec(&head.to_json()).unwrap_or_default();
            // `services` is the group's last field: its empty list and the object's end are cut, the tiles go there.
            debug_assert!(head.ends_with(b"[]}"), "services must be the group's last field");
            head.truncate(head.len().saturating_sub(2));
            self.groups.push(GroupSlot {
                head,
                tiles: start..self.slots.len(),
            });
        }
        self.first_hour = first_hour;
        new_tiles
    }

    /// Lays counts of hours from `from` over what the slots hold, dropping hours before `first_hour`; true when
    /// any tile's counts moved.
    fn update_hours(&mut self, counts: Vec<(i64, i64, Rollup)>, from: i64, first_hour: i64) -> bool {
        let mut by_service = group_hours(counts, first_hour);
        let mut moved = false;
        for slot in &mut self.slots {
            let fresh = by_service.remove(&slot.service.id).unwrap_or_default();
            let kept = slot
                .hours
                .iter()
                .filter(|(hour, _)| *hour >= first_hour && *hour < from);
            let hours: Vec<(i64, Rollup)> = kept.cloned().chain(fresh).collect();
            if hours != slot.hours {
                slot.hours = hours;
                slot.tail = None;
                moved = true;
            }
        }
        moved |= self.first_hour != first_hour;
        if self.first_hour != first_hour {
            for slot in &mut self.slots {
                slot.tail = None;
            }
        }
        self.first_hour = first_hour;
        moved
    }

    fn render(&mut self, engine: &Engine, sight: Sight, run: u32) -> Rendered {
        let index = sight_index(sight);
        let first_hour = self.first_hour;
        for slot in &mut self.slots {
            slot.json[index].get_or_insert_with(|| {
                let mut service = slot.service.clone();
                engine.freshen(&mut service);
                if sight == Sight::Redacted {
                    service.hide_secrets();
                }
                let mut json = serde_json::to_vec(&service.to_json()).unwrap_or_default();
                // The tile is the service's object with its hours after the service's own fields.
                json.pop();
                Bytes::from(json)
            });
            slot.tail.get_or_insert_with(|| {
                let (uptime, latency) = DashboardTile::figures(&slot.hours, first_hour);
                let mut tail = Vec::with_capacity(200);
                tail.extend_from_slice(b",\"uptime_24h\":");
                serde_json::to_writer(&mut tail, &uptime).unwrap_or_default();
                tail.extend_from_slice(b",\"latency_24h\":");
                serde_json::to_writer(&mut tail, &latency).unwrap_or_default();
                tail.push(b'}');
                Bytes::from(tail)
            });
        }
        let mut body = Pieces::default();
        body.push(b"{\"groups\":[");
        for (n, group) in self.groups.iter().enumerate() {
            if n > 0 {
                body.push(b",");
            }
            body.push(&group.head);
            for (i, slot) in self.slots[group.tiles.clone()].iter().enumerate() {
                if i > 0 {
                    body.push(b",");
                }
                body.push(slot.json[index].as_deref().unwrap_or_default());
                body.push(slot.tail.as_deref().unwrap_or_default());
            }
            body.push(b"]}");
        }
        body.push(b"]}");
        let letter = match sight {
            Sight::Full => 'f',
            Sight::Redacted => 'r',
        };
        Rendered {
            etag: format!("\"{run:08x}-{}-{letter}\"", self.version),
            body: body.finish(),
            gzip: Default::default(),
        }
    }
}

/// Groups, and tiles either read or known unchanged, in order; and hours when read.
struct Layout {
    groups: Vec<crate::model::Group>,
    tiles: Vec<Row>,
    hours: Vec<(i64, i64, Rollup)>,
}

enum Row {
    /// Unchanged since the board read it.
    Kept {
        id: i64,
        group_id: i64,
    },
    Read(Box<Service>),
}

impl Row {
    fn group_id(&self) -> i64 {
        match self {
            Row::Kept { group_id, .. } => *group_id,
            Row::Read(service) => service.group_id,
        }
    }
}

impl From<DashboardRows> for Layout {
    fn from(rows: DashboardRows) -> Self {
        Layout {
            groups: rows.groups,
            tiles: rows
                .services
                .into_iter()
                .map(|service| Row::Read(Box::new(service)))
                .collect(),
            hours: rows.hours,
        }
    }
}

/// A body gathered in pieces of [`PIECE`] bytes.
#[derive(Default)]
struct Pieces {
    done: Vec<Bytes>,
    current: Vec<u8>,
}

impl Pieces {
    fn push(&mut self, bytes: &[u8]) {
        if self.current.len() + bytes.len() > PIECE && !self.current.is_empty() {
            let full = std::mem::replace(&mut self.current, Vec::with_capacity(PIECE));
            self.done.push(Bytes::from(full));
        }
        if self.current.capacity() == 0 {
            self.current.reserve(PIECE);
        }
        self.current.extend_from_slice(bytes);
    }

    fn finish(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            self.done.push(Bytes::from(self.current));
        }
        self.done
    }
}

/// Whether a tile read again renders as its slot did: nothing but the stored status moved, and the rendering
/// already showed the engine's status, at least as new (the store caught up with what the engine knew).
fn renders_alike(slot: &Slot, new: &Service) -> bool {
    let old = &slot.service;
    if old.status == new.status {
        return old == new;
    }
    let live = slot.mark.and_then(|(checked, _)| checked);
    let paused = |service: &Service| service.status.state == crate::model::ServiceState::Paused;
    new.check.is_some()
        && !paused(old)
        && !paused(new)
        && live.is_some()
        && live >= new.status.last_checked_at
        && old.same_but_status(new)
}

/// Counts by tile, each tile's hours from `first_hour` in order.
fn group_hours(rows: Vec<(i64, i64, Rollup)>, first_hour: i64) -> HashMap<i64, Vec<(i64, Rollup)>> {
    let mut by_service: HashMap<i64, Vec<(i64, Rollup)>> = HashMap::new();
    for (service_id, hour, rollup) in rows {
        if hour >= first_hour {
            by_service.entry(service_id).or_default().push((hour, rollup));
        }
    }
    for hours in by_service.values_mut() {
        hours.sort_by_key(|(hour, _)| *hour);
    }
    by_service
}

/// Whether an `If-None-Match` header names `etag` (a list of tags, weak ones compared weakly, or `*`).
pub fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        assert!(matches("\"a-1-f\"", "\"a-1-f\""));
        assert!(matches("W/\"a-1-f\"", "\"a-1-f\""));
        assert!(matches("\"x\", \"a-1-f\"", "\"a-1-f\""));
        assert!(matches("*", "\"a-1-f\""));
        assert!(!matches("\"a-2-f\"", "\"a-1-f\""));
        assert!(!matches("\"a-1-r\"", "\"a-1-f\""));
        assert!(!matches("", "\"a-1-f\""));
    }
}
