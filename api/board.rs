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

/// Up to this many tiles new to the board have their hours read one by one; more, and all hours are read.
const NEW_TILES_READ_ONE_BY_ONE: usize = 64;

/// One rendering of the dashboard, as one reader's sight shows it.
#[derive(Debug)]
pub struct Rendered {
    /// A strong validator naming the board's version and the sight.
    pub etag: String,
    /// The JSON document (a `Dashboard`).
    pub body: Bytes,
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
    /// Its JSON for each sight, rendered when first asked for.
    json: [Option<Bytes>; 2],
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
            let rows = self
                .store
                .dashboard(if whole { first_hour } else { i64::MAX })
                .await?;
            let new_tiles = state.load(rows, first_hour, whole);
            if new_tiles.len() > NEW_TILES_READ_ONE_BY_ONE {
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

impl State {
    /// Lays out groups and tiles as read. With `whole`, `rows` carry every shown hour; otherwise tiles keep
    /// the hours they had, and those new to the board are returned (slot index, id) to have theirs read.
    fn load(&mut self, rows: DashboardRows, first_hour: i64, whole: bool) -> Vec<(usize, i64)> {
        let DashboardRows {
            groups,
            services,
            hours,
        } = rows;
        let mut by_service = group_hours(hours, first_hour);
        let mut by_group: HashMap<i64, Vec<Service>> = HashMap::with_capacity(groups.len());
        for service in services {
            by_group.entry(service.group_id).or_default().push(service);
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
            for service in by_group.remove(&group.id).unwrap_or_default() {
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
                    Some(slot) if slot.service == service && slot.hours == hours => slot,
                    _ => Slot {
                        hours,
                        service,
                        mark: None,
                        json: [None, None],
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
                slot.json = [None, None];
                moved = true;
            }
        }
        moved |= self.first_hour != first_hour;
        if self.first_hour != first_hour {
            for slot in &mut self.slots {
                slot.json = [None, None];
            }
        }
        self.first_hour = first_hour;
        moved
    }

    fn render(&mut self, engine: &Engine, sight: Sight, run: u32) -> Rendered {
        let index = sight_index(sight);
        let first_hour = self.first_hour;
        let mut size = 16;
        for slot in &mut self.slots {
            let json = slot.json[index].get_or_insert_with(|| {
                let mut tile = DashboardTile::new(slot.service.clone(), &slot.hours, first_hour);
                engine.freshen(&mut tile.service);
                if sight == Sight::Redacted {
                    tile.service.hide_secrets();
                }
                Bytes::from(serde_json::to_vec(&tile.to_json()).unwrap_or_default())
            });
            size += json.len() + 1;
        }
        let mut body = Vec::with_capacity(size + self.groups.iter().map(|g| g.head.len() + 3).sum::<usize>());
        body.extend_from_slice(b"{\"groups\":[");
        for (n, group) in self.groups.iter().enumerate() {
            if n > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&group.head);
            for (i, slot) in self.slots[group.tiles.clone()].iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(slot.json[index].as_deref().unwrap_or(b"null"));
            }
            body.extend_from_slice(b"]}");
        }
        body.extend_from_slice(b"]}");
        let letter = match sight {
            Sight::Full => 'f',
            Sight::Redacted => 'r',
        };
        Rendered {
            etag: format!("\"{run:08x}-{}-{letter}\"", self.version),
            body: Bytes::from(body),
        }
    }
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
