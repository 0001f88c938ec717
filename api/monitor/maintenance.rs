//! Which tiles are in a maintenance window now. The windows are read from the store (at start, after every
//! change through the API, and every 30 s for changes made by another replica); each one's current or next
//! occurrence is computed once and kept until it passes.

use std::{collections::HashSet, sync::RwLock};

use chrono::{DateTime, Utc};

use crate::{
    model::maintenance::{MaintenanceWindow, Schedule},
    store::StoredMaintenance,
};

struct Planned {
    stored: StoredMaintenance,
    schedule: Option<Schedule>,
    /// The current or next occurrence, as computed at `computed_for`.
    span: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Planned {
    fn new(stored: StoredMaintenance, now: DateTime<Utc>) -> Self {
        let schedule = Schedule::of(&stored.draft)
            .map_err(|err| tracing::warn!(window = stored.id, error = %err, "a maintenance window cannot be scheduled"))
            .ok();
        let span = schedule.as_ref().and_then(|s| s.current_or_next(now));
        Self {
            stored,
            schedule,
            span,
        }
    }

    fn active(&self, now: DateTime<Utc>) -> bool {
        self.span.is_some_and(|(start, end)| start <= now && now < end)
    }

    /// Moves to the next occurrence once the current one has ended.
    fn advance(&mut self, now: DateTime<Utc>) {
        if self.span.is_some_and(|(_, end)| end <= now) {
            self.span = self.schedule.as_ref().and_then(|s| s.current_or_next(now));
        }
    }
}

#[derive(Default)]
struct Board {
    planned: Vec<Planned>,
    all: bool,
    groups: HashSet<i64>,
    services: HashSet<i64>,
}

/// The windows and what they cover now; shared by the engine, the API and the dispatcher.
#[derive(Default)]
pub struct MaintenanceBoard {
    board: RwLock<Board>,
}

impl MaintenanceBoard {
    /// Replaces the windows (as read from the store) and works out what they cover at `now`.
    pub fn set_windows(&self, windows: Vec<StoredMaintenance>, now: DateTime<Utc>) {
        let planned = windows.into_iter().map(|w| Planned::new(w, now)).collect();
        let mut board = self.board.write().unwrap_or_else(|p| p.into_inner());
        board.planned = planned;
        Self::cover(&mut board, now);
    }

    /// Brings what is covered up to `now`.
    pub fn refresh(&self, now: DateTime<Utc>) {
        let mut board = self.board.write().unwrap_or_else(|p| p.into_inner());
        for planned in &mut board.planned {
            planned.advance(now);
        }
        Self::cover(&mut board, now);
    }

    fn cover(board: &mut Board, now: DateTime<Utc>) {
        let (mut all, mut groups, mut services) = (false, HashSet::new(), HashSet::new());
        for planned in board.planned.iter().filter(|p| p.active(now)) {
            all |= planned.stored.draft.all_tiles;
            groups.extend(planned.stored.draft.groups.iter().copied());
            services.extend(planned.stored.draft.services.iter().copied());
        }
        board.all = all;
        board.groups = groups;
        board.services = services;
    }

    /// Whether a tile of this group is in a window now (as of the last refresh).
    pub fn covers(&self, service_id: i64, group_id: i64) -> bool {
        let board = self.board.read().unwrap_or_else(|p| p.into_inner());
        board.all || board.services.contains(&service_id) || board.groups.contains(&group_id)
    }

    /// A stored window as the API shows it, with its current or next occurrence at `now`.
    pub fn describe(stored: StoredMaintenance, now: DateTime<Utc>) -> MaintenanceWindow {
        let planned = Planned::new(stored, now);
        let active = planned.active(now);
        let StoredMaintenance {
            id,
            draft,
            created_at,
            updated_at,
        } = planned.stored;
        MaintenanceWindow {
            id,
            title: draft.title,
            starts_at: draft.starts_at,
            duration_min: draft.duration_min,
            rrule: draft.rrule,
            timezone: draft.timezone,
            all_tiles: draft.all_tiles,
            groups: draft.groups,
            services: draft.services,
            active,
            current_or_next_start: planned.span.map(|(start, _)| start),
            current_or_next_end: planned.span.map(|(_, end)| end),
            created_at,
            updated_at,
        }
    }
}
