//! Carries out a configuration plan in one write transaction: every name is looked up inside it, and the
//! first failure rolls everything back.

use std::collections::HashMap;

use super::{
    StoreError, StoreResult, alerts, groups, maintenance, public, services,
    sql::{Backend, Dialect, Tx, sql},
};
use crate::{
    manifest::{ChannelSpec, MaintenanceSpec, Op, PageSpec, TileRef, TileSpec},
    model::{
        ChannelDraft, NewGroup, NewService, ServicePatch,
        maintenance::MaintenanceDraft,
        public::{StatusPageDraft, StatusSection},
    },
};
use poem_openapi::types::MaybeUndefined;

fn missing(what: &str, key: &str) -> StoreError {
    StoreError::Conflict {
        field: None,
        message: format!("{what} `{key}` changed while the plan was being applied; plan again"),
    }
}

async fn group_id(tx: &mut Tx, name: &str) -> StoreResult<i64> {
    let found: Option<(i64,)> = sql("SELECT id FROM groups WHERE lower(name) = lower($1)")
        .bind(name)
        .fetch_optional(tx)
        .await?;
    found.map(|(id,)| id).ok_or_else(|| missing("group", name))
}

async fn tile_id(tx: &mut Tx, tile: &TileRef) -> StoreResult<i64> {
    let found: Option<(i64,)> = sql("SELECT s.id FROM services s JOIN groups g ON g.id = s.group_id \
         WHERE lower(g.name) = lower($1) AND lower(s.name) = lower($2)")
    .bind(&tile.group)
    .bind(&tile.tile)
    .fetch_optional(tx)
    .await?;
    found
        .map(|(id,)| id)
        .ok_or_else(|| missing("tile", &tile.to_string()))
}

async fn id_by(tx: &mut Tx, table: &str, column: &str, key: &str) -> StoreResult<i64> {
    let found: Option<(i64,)> = sql(&format!(
        "SELECT id FROM {table} WHERE lower({column}) = lower($1) ORDER BY id LIMIT 1"
    ))
    .bind(key)
    .fetch_optional(tx)
    .await?;
    found.map(|(id,)| id).ok_or_else(|| missing(table, key))
}

async fn group_ids(tx: &mut Tx, names: &[String]) -> StoreResult<Vec<i64>> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        ids.push(group_id(tx, name).await?);
    }
    Ok(ids)
}

async fn tile_ids(tx: &mut Tx, tiles: &[TileRef]) -> StoreResult<Vec<i64>> {
    let mut ids = Vec::with_capacity(tiles.len());
    for tile in tiles {
        ids.push(tile_id(tx, tile).await?);
    }
    Ok(ids)
}

fn new_service(group_id: i64, tile: &TileSpec) -> NewService {
    NewService {
        group_id,
        name: tile.name.clone(),
        url: tile.url.clone(),
        description: Some(tile.description.clone()),
        icon: tile.icon.clone(),
        tags: Some(tile.tags.clone()),
        check: tile.check.clone(),
        badges: Some(tile.badges),
    }
}

async fn channel_draft(tx: &mut Tx, channel: &ChannelSpec) -> StoreResult<ChannelDraft> {
    let mut groups = group_ids(tx, &channel.groups).await?;
    let mut services = tile_ids(tx, &channel.tiles).await?;
    groups.sort_unstable();
    services.sort_unstable();
    Ok(ChannelDraft {
        name: channel.name.clone(),
        settings: serde_json::from_value(channel.settings.clone()).map_err(|err| StoreError::Invalid {
            field: "settings",
            message: format!("channel `{}`: {err}", channel.name),
        })?,
        all_tiles: channel.all_tiles,
        groups,
        services,
        remind_every_min: channel.remind_every_min,
        enabled: channel.enabled,
    })
}

async fn window_draft(tx: &mut Tx, window: &MaintenanceSpec) -> StoreResult<MaintenanceDraft> {
    Ok(MaintenanceDraft {
        title: window.title.clone(),
        starts_at: window.starts_at,
        duration_min: window.duration_min,
        rrule: window.rrule.clone(),
        timezone: window.timezone.clone(),
        all_tiles: window.all_tiles,
        groups: group_ids(tx, &window.groups).await?,
        services: tile_ids(tx, &window.tiles).await?,
    })
}

async fn page_draft(tx: &mut Tx, page: &PageSpec) -> StoreResult<StatusPageDraft> {
    let mut sections = Vec::with_capacity(page.sections.len());
    for section in &page.sections {
        let group_id = match &section.group {
            Some(name) => Some(group_id(tx, name).await?),
            None => None,
        };
        sections.push(StatusSection {
            name: section.name.clone(),
            group_id,
            services: tile_ids(tx, &section.tiles).await?,
        });
    }
    Ok(StatusPageDraft {
        slug: page.slug.clone(),
        title: page.title.clone(),
        description: page.description.clone(),
        icon: page.icon.clone(),
        footer: page.footer.clone(),
        published: page.published,
        domain: page.domain.clone(),
        show_links: page.show_links,
        sections,
    })
}

/// Orders the named items first (by name, ignoring case) and the rest after, as they were.
fn ordered(named: &[String], current: Vec<(i64, String)>) -> Vec<i64> {
    let rank: HashMap<String, usize> = named
        .iter()
        .enumerate()
        .map(|(i, name)| (name.to_lowercase(), i))
        .collect();
    let mut items: Vec<(usize, usize, i64)> = current
        .into_iter()
        .enumerate()
        .map(|(i, (id, name))| {
            (
                rank.get(&name.to_lowercase()).copied().unwrap_or(usize::MAX),
                i,
                id,
            )
        })
        .collect();
    items.sort_unstable();
    items.into_iter().map(|(_, _, id)| id).collect()
}

async fn run(tx: &mut Tx, dialect: &Dialect, op: &Op) -> StoreResult<()> {
    match op {
        Op::Nothing => {}
        Op::CreateGroup(name) => {
            groups::create_in(tx, dialect, &NewGroup { name: name.clone() }).await?;
        }
        Op::DeleteGroup(name) => {
            let id = group_id(tx, name).await?;
            groups::delete_in(tx, dialect, id, true).await?;
        }
        Op::OrderGroups(names) => {
            let current: Vec<(i64, String)> = sql("SELECT id, name FROM groups ORDER BY position, id")
                .fetch_all(&mut *tx)
                .await?;
            groups::reorder_in(tx, dialect, &ordered(names, current)).await?;
        }
        Op::CreateTile { group, tile } => {
            let group_id = group_id(tx, group).await?;
            let created = services::create_in(tx, dialect, &new_service(group_id, tile)).await?;
            if tile.paused {
                services::set_paused_in(tx, created.id, true).await?;
            }
        }
        Op::UpdateTile { from, group, tile } => {
            let id = tile_id(tx, from).await?;
            let group_id = group_id(tx, group).await?;
            let patch = ServicePatch {
                group_id: Some(group_id),
                name: Some(tile.name.clone()),
                url: Some(tile.url.clone()),
                description: Some(tile.description.clone()),
                icon: match &tile.icon {
                    Some(icon) => MaybeUndefined::Value(icon.clone()),
                    None => MaybeUndefined::Null,
                },
                tags: Some(tile.tags.clone()),
                check: match &tile.check {
                    Some(check) => MaybeUndefined::Value(check.clone()),
                    None => MaybeUndefined::Null,
                },
                badges: Some(tile.badges),
            };
            let before = services::update_in(tx, dialect, id, &patch).await?;
            let paused = before.status.state == crate::model::ServiceState::Paused;
            if paused != tile.paused {
                services::set_paused_in(tx, id, tile.paused).await?;
            }
        }
        Op::DeleteTile(tile) => {
            let id = tile_id(tx, tile).await?;
            services::delete_in(tx, id).await?;
        }
        Op::OrderTiles { group, tiles } => {
            let group_id = group_id(tx, group).await?;
            let current: Vec<(i64, String)> =
                sql("SELECT id, name FROM services WHERE group_id = $1 ORDER BY position, id")
                    .bind(group_id)
                    .fetch_all(&mut *tx)
                    .await?;
            services::reorder_in(tx, dialect, group_id, &ordered(tiles, current)).await?;
        }
        Op::CreateChannel(channel) => {
            let draft = channel_draft(tx, channel).await?;
            alerts::create_channel_in(tx, &draft).await?;
        }
        Op::UpdateChannel { name, channel } => {
            let id = id_by(tx, "channels", "name", name).await?;
            let draft = channel_draft(tx, channel).await?;
            alerts::update_channel_in(tx, id, &draft).await?;
        }
        Op::DeleteChannel(name) => {
            let id = id_by(tx, "channels", "name", name).await?;
            alerts::delete_channel_in(tx, id).await?;
        }
        Op::CreateMaintenance(window) => {
            let draft = window_draft(tx, window).await?;
            maintenance::create_in(tx, &draft).await?;
        }
        Op::UpdateMaintenance { title, window } => {
            let id = id_by(tx, "maintenance_windows", "title", title).await?;
            let draft = window_draft(tx, window).await?;
            maintenance::update_in(tx, id, &draft).await?;
        }
        Op::DeleteMaintenance(title) => {
            let id = id_by(tx, "maintenance_windows", "title", title).await?;
            maintenance::delete_in(tx, id).await?;
        }
        Op::CreatePage(page) => {
            let draft = page_draft(tx, page).await?;
            public::create_page_in(tx, &draft).await?;
        }
        Op::UpdatePage { slug, page } => {
            let id = id_by(tx, "status_pages", "slug", slug).await?;
            let draft = page_draft(tx, page).await?;
            public::update_page_in(tx, id, &draft).await?;
        }
        Op::SetManaged(tiles) => {
            sql("UPDATE services SET managed = $1 WHERE managed")
                .bind(false)
                .execute(&mut *tx)
                .await?;
            for tile in tiles {
                let id = tile_id(tx, tile).await?;
                sql("UPDATE services SET managed = $2 WHERE id = $1")
                    .bind(id)
                    .bind(true)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Op::DeletePage(slug) => {
            let id = id_by(tx, "status_pages", "slug", slug).await?;
            public::delete_page_in(tx, id).await?;
        }
    }
    Ok(())
}

/// Every step of a plan, all or nothing. A failing step names itself in the error.
pub async fn apply(db: &dyn Backend, ops: &[Op]) -> StoreResult<()> {
    let mut tx = db.write().await?;
    for op in ops {
        run(&mut tx, db.dialect(), op).await?;
    }
    tx.commit().await
}
