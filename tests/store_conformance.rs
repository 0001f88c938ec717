//! The store contract, written once and run against SQLite always and PostgreSQL with `--features postgres`.

mod common;

use std::sync::Arc;

use common::{Backend, TestDb};
use homewatch::{
    model::{
        Check, CheckKind, CheckResult, Dashboard, GroupPatch, HistoryBatch, IncidentChange, IncidentFilter,
        NewGroup, NewService, Role, Rollup, Scope, ServiceFilter, ServicePatch, ServiceState, StatusUpdate,
        hour_of_ms,
    },
    monitor::stats::{Window, summarise, window_hours},
    store::{PasswordReset, Store, StoreError},
};
use poem_openapi::types::MaybeUndefined;

on_every_store!(
    groups_are_created_in_order_and_updated,
    group_names_are_unique_ignoring_case,
    services_keep_their_fields_tags_and_positions,
    patches_change_only_what_they_name,
    moving_a_service_puts_it_last_in_its_new_group,
    service_names_are_unique_within_a_group,
    services_need_an_existing_group,
    pages_cover_every_service_once,
    filters_combine_and_match_text_literally,
    groups_reorder_only_with_every_id_once,
    services_reorder_within_their_group,
    deleting_a_group_with_tiles_needs_cascade,
    unknown_ids_are_not_found,
    concurrent_writes_all_land_with_distinct_positions,
    dashboard_matches_lists_in_order,
    migrations_are_current_and_idempotent,
    checks_are_stored_replaced_and_removed,
    history_stats_from_rollups_equal_stats_from_raw_results,
    history_skips_deleted_tiles_and_keeps_one_open_incident,
    pausing_closes_the_incident_and_resuming_resets_the_state,
    a_batch_landing_after_a_pause_leaves_the_tile_paused,
    pruning_removes_only_expired_rows,
    old_hourly_rollups_are_summed_per_day_keeping_every_count,
    dashboard_tiles_carry_uptime_and_latency_of_the_last_24_hours,
    users_are_unique_ignoring_case_and_found_by_name,
    the_first_admin_is_created_once_even_by_two_setups_at_once,
    the_last_admin_stays_even_when_two_admins_are_demoted_at_once,
    the_last_admin_cannot_be_deleted,
    sessions_are_found_extended_ended_and_pruned,
    a_new_password_ends_every_other_session,
    tokens_are_listed_touched_revoked_and_pruned,
    deleting_a_user_takes_their_sessions_and_tokens,
    a_new_password_revokes_tokens_only_when_asked,
);

async fn open(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    (db, store)
}

/// The dashboard as the API assembles it from what the store reads, for the hours up to now.
async fn dashboard(store: &Arc<dyn Store>) -> Dashboard {
    let first_hour = Dashboard::first_hour(chrono::Utc::now());
    Dashboard::assemble(store.dashboard(first_hour).await.unwrap(), first_hour)
}

fn new_group(name: &str) -> NewGroup {
    NewGroup { name: name.into() }
}

fn new_service(group_id: i64, name: &str) -> NewService {
    NewService {
        group_id,
        name: name.into(),
        url: format!("https://{}.lan", name.to_lowercase()),
        description: None,
        icon: None,
        tags: None,
        check: None,
        badges: None,
    }
}

fn tcp_check(target: Option<&str>) -> Check {
    common::check(serde_json::json!({ "kind": "tcp", "target": target, "retries": 3 }))
}

async fn groups_are_created_in_order_and_updated(backend: Backend) {
    let (_db, store) = open(backend).await;
    let media = store.create_group(&new_group("Media")).await.unwrap();
    let infra = store.create_group(&new_group("Infra")).await.unwrap();
    assert_eq!((media.position, infra.position), (0, 1));
    assert_eq!(media.created_at, media.updated_at);

    let fetched = store.get_group(media.id).await.unwrap();
    assert_eq!(
        fetched, media,
        "a group reads back exactly as created, timestamps included"
    );

    let renamed = store
        .update_group(
            media.id,
            &GroupPatch {
                name: Some("Movies".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Movies");
    assert_eq!(renamed.created_at, media.created_at);
    assert!(renamed.updated_at >= media.updated_at);

    let names: Vec<String> = store
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["Movies", "Infra"]);
}

async fn group_names_are_unique_ignoring_case(backend: Backend) {
    let (_db, store) = open(backend).await;
    let media = store.create_group(&new_group("Media")).await.unwrap();
    let clash = store.create_group(&new_group("MEDIA")).await.unwrap_err();
    assert!(
        matches!(
            clash,
            StoreError::Conflict {
                field: Some("name"),
                ..
            }
        ),
        "{clash:?}"
    );

    let other = store.create_group(&new_group("Other")).await.unwrap();
    let rename = store
        .update_group(
            other.id,
            &GroupPatch {
                name: Some("media".into()),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            rename,
            StoreError::Conflict {
                field: Some("name"),
                ..
            }
        ),
        "{rename:?}"
    );
    // Renaming a group to its own name in another case is not a clash.
    let recased = store
        .update_group(
            media.id,
            &GroupPatch {
                name: Some("mEdia".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(recased.name, "mEdia");
    assert_eq!(
        store.list_groups().await.unwrap().len(),
        2,
        "nothing was lost by the refused changes"
    );
}

async fn services_keep_their_fields_tags_and_positions(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("Media")).await.unwrap();
    let jellyfin = store
        .create_service(&NewService {
            description: Some("Films & series".into()),
            icon: Some("🎬".into()),
            tags: Some(vec!["video".into(), "media".into(), "family".into()]),
            ..new_service(group.id, "Jellyfin")
        })
        .await
        .unwrap();
    let plex = store
        .create_service(&new_service(group.id, "Plex"))
        .await
        .unwrap();

    assert_eq!(
        jellyfin.tags,
        ["video", "media", "family"],
        "tags keep the order given"
    );
    assert_eq!(jellyfin.description, "Films & series");
    assert_eq!(jellyfin.icon.as_deref(), Some("🎬"));
    assert_eq!((jellyfin.position, plex.position), (0, 1));
    assert_eq!(plex.tags, Vec::<String>::new());
    assert_eq!(plex.description, "");
    assert_eq!(store.get_service(jellyfin.id).await.unwrap(), jellyfin);
}

async fn patches_change_only_what_they_name(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("Media")).await.unwrap();
    let created = store
        .create_service(&NewService {
            icon: Some("jellyfin".into()),
            tags: Some(vec!["media".into()]),
            ..new_service(group.id, "Jellyfin")
        })
        .await
        .unwrap();

    let renamed = store
        .update_service(
            created.id,
            &ServicePatch {
                name: Some("Jellyfin 10".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Jellyfin 10");
    assert_eq!(
        (renamed.url.as_str(), renamed.icon.as_deref()),
        (created.url.as_str(), Some("jellyfin"))
    );
    assert_eq!(
        renamed.tags,
        ["media"],
        "tags stay when the patch leaves them out"
    );

    let cleared = store
        .update_service(
            created.id,
            &ServicePatch {
                icon: MaybeUndefined::Null,
                tags: Some(vec![]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.icon, None, "icon: null removes the icon");
    assert!(cleared.tags.is_empty());
    assert_eq!(cleared.name, "Jellyfin 10");
}

async fn moving_a_service_puts_it_last_in_its_new_group(backend: Backend) {
    let (_db, store) = open(backend).await;
    let media = store.create_group(&new_group("Media")).await.unwrap();
    let infra = store.create_group(&new_group("Infra")).await.unwrap();
    let jellyfin = store
        .create_service(&new_service(media.id, "Jellyfin"))
        .await
        .unwrap();
    store
        .create_service(&new_service(infra.id, "Router"))
        .await
        .unwrap();
    store.create_service(&new_service(infra.id, "NAS")).await.unwrap();

    let moved = store
        .update_service(
            jellyfin.id,
            &ServicePatch {
                group_id: Some(infra.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((moved.group_id, moved.position), (infra.id, 2));
    let in_infra: Vec<String> = dashboard(&store).await.groups[1]
        .services
        .iter()
        .map(|t| t.service.name.clone())
        .collect();
    assert_eq!(in_infra, ["Router", "NAS", "Jellyfin"]);

    let nowhere = store
        .update_service(
            jellyfin.id,
            &ServicePatch {
                group_id: Some(999_999),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(nowhere, StoreError::NotFound { entity: "group", .. }),
        "{nowhere:?}"
    );
}

async fn service_names_are_unique_within_a_group(backend: Backend) {
    let (_db, store) = open(backend).await;
    let home = store.create_group(&new_group("Home")).await.unwrap();
    let office = store.create_group(&new_group("Office")).await.unwrap();
    store
        .create_service(&new_service(home.id, "Router"))
        .await
        .unwrap();
    let clash = store
        .create_service(&new_service(home.id, "router"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            clash,
            StoreError::Conflict {
                field: Some("name"),
                ..
            }
        ),
        "{clash:?}"
    );
    let elsewhere = store
        .create_service(&new_service(office.id, "Router"))
        .await
        .unwrap();
    assert_eq!(
        elsewhere.group_id, office.id,
        "the same name is fine in another group"
    );
    // Moving into a group that has the name already is the same clash.
    let moved = store
        .update_service(
            elsewhere.id,
            &ServicePatch {
                group_id: Some(home.id),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(moved, StoreError::Conflict { .. }), "{moved:?}");
    assert_eq!(
        store.get_service(elsewhere.id).await.unwrap().group_id,
        office.id,
        "the refused move changed nothing"
    );
}

async fn services_need_an_existing_group(backend: Backend) {
    let (_db, store) = open(backend).await;
    let err = store
        .create_service(&new_service(424_242, "Ghost"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "group", .. }),
        "{err:?}"
    );
}

async fn pages_cover_every_service_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("Many")).await.unwrap();
    let mut created = Vec::new();
    for index in 0..23 {
        created.push(
            store
                .create_service(&new_service(group.id, &format!("svc{index:02}")))
                .await
                .unwrap()
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut filter = ServiceFilter {
        limit: 10,
        ..Default::default()
    };
    let mut pages = 0;
    loop {
        let page = store.list_services(&filter).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 10);
        seen.extend(page.items.iter().map(|s| s.id));
        match page.next_cursor {
            Some(cursor) => filter.after_id = homewatch::model::cursor::decode(&cursor),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "every service once, in id order");
}

async fn filters_combine_and_match_text_literally(backend: Backend) {
    let (_db, store) = open(backend).await;
    let media = store.create_group(&new_group("Media")).await.unwrap();
    let infra = store.create_group(&new_group("Infra")).await.unwrap();
    let tagged = |group_id, name: &str, tags: &[&str], description: &str| NewService {
        tags: Some(tags.iter().map(|t| t.to_string()).collect()),
        description: Some(description.into()),
        ..new_service(group_id, name)
    };
    store
        .create_service(&tagged(media.id, "Jellyfin", &["video"], "films"))
        .await
        .unwrap();
    store
        .create_service(&tagged(media.id, "Navidrome", &["music"], "100% of my albums"))
        .await
        .unwrap();
    store
        .create_service(&tagged(infra.id, "Grafana", &["video", "ops"], "charts"))
        .await
        .unwrap();

    let names = |filter: ServiceFilter| {
        let store = store.clone();
        async move {
            let mut names: Vec<String> = store
                .list_services(&ServiceFilter { limit: 50, ..filter })
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|s| s.name)
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        names(ServiceFilter {
            group_id: Some(media.id),
            ..Default::default()
        })
        .await,
        ["Jellyfin", "Navidrome"]
    );
    assert_eq!(
        names(ServiceFilter {
            tag: Some("video".into()),
            ..Default::default()
        })
        .await,
        ["Grafana", "Jellyfin"]
    );
    assert_eq!(
        names(ServiceFilter {
            tag: Some("video".into()),
            group_id: Some(infra.id),
            ..Default::default()
        })
        .await,
        ["Grafana"]
    );
    assert_eq!(
        names(ServiceFilter {
            text: Some("JELLY".into()),
            ..Default::default()
        })
        .await,
        ["Jellyfin"]
    );
    assert_eq!(
        names(ServiceFilter {
            text: Some("grafana.lan".into()),
            ..Default::default()
        })
        .await,
        ["Grafana"]
    );
    assert_eq!(
        names(ServiceFilter {
            text: Some("100%".into()),
            ..Default::default()
        })
        .await,
        ["Navidrome"]
    );
    assert!(
        names(ServiceFilter {
            text: Some("%".into()),
            ..Default::default()
        })
        .await
        .len()
            == 1,
        "% is a literal"
    );
    assert!(
        names(ServiceFilter {
            text: Some("_".into()),
            ..Default::default()
        })
        .await
        .is_empty(),
        "_ is a literal"
    );
}

async fn groups_reorder_only_with_every_id_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = store.create_group(&new_group("A")).await.unwrap().id;
    let b = store.create_group(&new_group("B")).await.unwrap().id;
    let c = store.create_group(&new_group("C")).await.unwrap().id;

    let reordered = store.reorder_groups(&[c, a, b]).await.unwrap();
    assert_eq!(
        reordered.iter().map(|g| (g.id, g.position)).collect::<Vec<_>>(),
        [(c, 0), (a, 1), (b, 2)]
    );

    for bad in [vec![c, a], vec![c, a, b, 999], vec![c, a, a, b]] {
        let err = store.reorder_groups(&bad).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    field: Some("ids"),
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
    }
    let order: Vec<i64> = store.list_groups().await.unwrap().iter().map(|g| g.id).collect();
    assert_eq!(order, [c, a, b], "refused orders changed nothing");
}

async fn services_reorder_within_their_group(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("G")).await.unwrap().id;
    let other = store.create_group(&new_group("Other")).await.unwrap().id;
    let x = store.create_service(&new_service(group, "X")).await.unwrap().id;
    let y = store.create_service(&new_service(group, "Y")).await.unwrap().id;
    let foreign = store.create_service(&new_service(other, "Z")).await.unwrap().id;

    let ordered = store.reorder_services(group, &[y, x]).await.unwrap();
    assert_eq!(
        ordered.iter().map(|s| (s.id, s.position)).collect::<Vec<_>>(),
        [(y, 0), (x, 1)]
    );
    let err = store.reorder_services(group, &[y, x, foreign]).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                field: Some("ids"),
                ..
            }
        ),
        "a tile of another group: {err:?}"
    );
    let missing = store.reorder_services(123_456, &[]).await.unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { entity: "group", .. }),
        "{missing:?}"
    );
}

async fn deleting_a_group_with_tiles_needs_cascade(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("Doomed")).await.unwrap().id;
    let tile = store
        .create_service(&NewService {
            tags: Some(vec!["x".into()]),
            ..new_service(group, "Tile")
        })
        .await
        .unwrap()
        .id;
    let refused = store.delete_group(group, false).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict { .. }), "{refused:?}");
    assert!(
        store.get_service(tile).await.is_ok(),
        "a refused delete keeps the tiles"
    );

    store.delete_group(group, true).await.unwrap();
    assert!(matches!(
        store.get_group(group).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_service(tile).await,
        Err(StoreError::NotFound { .. })
    ));

    let empty = store.create_group(&new_group("Empty")).await.unwrap().id;
    store.delete_group(empty, false).await.unwrap();
    assert!(store.list_groups().await.unwrap().is_empty());
}

async fn unknown_ids_are_not_found(backend: Backend) {
    let (_db, store) = open(backend).await;
    let missing = 987_654;
    let not_found = |result: Result<(), StoreError>| matches!(result, Err(StoreError::NotFound { id, .. }) if id == missing);
    assert!(not_found(store.get_group(missing).await.map(drop)));
    assert!(not_found(
        store
            .update_group(
                missing,
                &GroupPatch {
                    name: Some("x".into())
                }
            )
            .await
            .map(drop)
    ));
    assert!(not_found(store.delete_group(missing, true).await));
    assert!(not_found(store.get_service(missing).await.map(drop)));
    assert!(not_found(
        store
            .update_service(missing, &ServicePatch::default())
            .await
            .map(drop)
    ));
    assert!(not_found(store.delete_service(missing).await));
}

async fn concurrent_writes_all_land_with_distinct_positions(backend: Backend) {
    let (_db, store) = open(backend).await;
    let tasks: Vec<_> = (0..24)
        .map(|index| {
            let store = store.clone();
            tokio::spawn(async move { store.create_group(&new_group(&format!("group {index}"))).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("every concurrent create succeeds");
    }
    let mut positions: Vec<i64> = store
        .list_groups()
        .await
        .unwrap()
        .iter()
        .map(|g| g.position)
        .collect();
    positions.sort();
    assert_eq!(positions, (0..24).collect::<Vec<i64>>());

    let group = store.list_groups().await.unwrap()[0].id;
    let tasks: Vec<_> = (0..40)
        .map(|index| {
            let store = store.clone();
            tokio::spawn(async move {
                let service = store
                    .create_service(&new_service(group, &format!("tile{index}")))
                    .await?;
                store
                    .update_service(
                        service.id,
                        &ServicePatch {
                            tags: Some(vec![format!("t{index}")]),
                            ..Default::default()
                        },
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap()
            .expect("every concurrent create and update succeeds");
    }
    let tiles = &dashboard(&store)
        .await
        .groups
        .into_iter()
        .find(|g| g.id == group)
        .unwrap()
        .services;
    assert_eq!(
        tiles.iter().map(|s| s.service.position).collect::<Vec<_>>(),
        (0..40).collect::<Vec<i64>>()
    );
    assert!(tiles.iter().all(|s| s.service.tags.len() == 1));
}

async fn dashboard_matches_lists_in_order(backend: Backend) {
    let (_db, store) = open(backend).await;
    let first = store.create_group(&new_group("First")).await.unwrap().id;
    let second = store.create_group(&new_group("Second")).await.unwrap().id;
    let empty = store.create_group(&new_group("Empty")).await.unwrap().id;
    let b = store.create_service(&new_service(second, "B")).await.unwrap().id;
    let a = store.create_service(&new_service(first, "A")).await.unwrap().id;
    let c = store.create_service(&new_service(second, "C")).await.unwrap().id;
    store.reorder_services(second, &[c, b]).await.unwrap();
    store.reorder_groups(&[second, empty, first]).await.unwrap();

    let dashboard = dashboard(&store).await;
    let shape: Vec<(i64, Vec<i64>)> = dashboard
        .groups
        .iter()
        .map(|g| (g.id, g.services.iter().map(|t| t.service.id).collect()))
        .collect();
    assert_eq!(shape, [(second, vec![c, b]), (empty, vec![]), (first, vec![a])]);
    assert_eq!(
        dashboard.groups[0].services[0].service,
        store.get_service(c).await.unwrap()
    );
}

async fn migrations_are_current_and_idempotent(backend: Backend) {
    let (_db, store) = open(backend).await;
    let status = store.migration_status().await.unwrap();
    assert!(status.is_current() && status.expected >= 1, "{status:?}");
    store
        .migrate()
        .await
        .expect("running migrations again is harmless");
    assert_eq!(store.migration_status().await.unwrap(), status);
    store.ping().await.unwrap();
}

async fn checks_are_stored_replaced_and_removed(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("Watched")).await.unwrap().id;
    let plain = store
        .create_service(&new_service(group, "Link only"))
        .await
        .unwrap();
    assert_eq!(plain.check, None);
    assert_eq!(plain.status.state, ServiceState::Unknown);
    assert_eq!(plain.status.last_checked_at, None);

    let watched = store
        .create_service(&NewService {
            check: Some(tcp_check(None)),
            ..new_service(group, "NAS")
        })
        .await
        .unwrap();
    let check = watched.check.clone().expect("the check is kept");
    assert_eq!(
        (check.kind, check.retries, check.interval_s),
        (CheckKind::Tcp, Some(3), Some(60))
    );
    assert_eq!(check.target, None, "a left-out target stays left out");
    assert_eq!(store.get_service(watched.id).await.unwrap(), watched);

    let replaced = store
        .update_service(
            watched.id,
            &ServicePatch {
                check: MaybeUndefined::Value(tcp_check(Some("nas.lan:22"))),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        replaced.check.as_ref().and_then(|c| c.target.as_deref()),
        Some("nas.lan:22")
    );
    let renamed = store
        .update_service(
            watched.id,
            &ServicePatch {
                name: Some("NAS 2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.check, replaced.check, "a patch without `check` keeps it");
    let removed = store
        .update_service(
            watched.id,
            &ServicePatch {
                check: MaybeUndefined::Null,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(removed.check, None);
    let dashboard = dashboard(&store).await;
    assert_eq!(dashboard.groups[0].services[1].service.check, None);
}

fn result(service_id: i64, at_ms: i64, ok: bool, latency_ms: u32) -> CheckResult {
    CheckResult {
        service_id,
        checked_at: chrono::DateTime::from_timestamp_millis(at_ms).unwrap(),
        ok,
        latency_ms,
        status_code: Some(if ok { 200 } else { 503 }),
        error: (!ok).then(|| "status 503 is not in 200-299".to_owned()),
        maintenance: false,
        degraded: false,
        packet_loss_pct: None,
        certificate: None,
    }
}

async fn history_stats_from_rollups_equal_stats_from_raw_results(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("G")).await.unwrap().id;
    let tile = store
        .create_service(&new_service(group, "Tile"))
        .await
        .unwrap()
        .id;
    let now = chrono::Utc::now();
    let now_ms = now.timestamp_millis();
    // 30 hours of checks every 7 minutes, written in batches that cut across hour boundaries.
    let results: Vec<CheckResult> = (0..(30 * 60 / 7))
        .map(|i: i64| {
            result(
                tile,
                now_ms - i * 7 * 60_000,
                i % 13 != 0,
                20 + ((i * 37) % 300) as u32,
            )
        })
        .collect();
    for batch in results.chunks(17) {
        store
            .record_history(&HistoryBatch {
                results: batch.to_vec(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let (first, last) = window_hours(Window::Day, now);
    let stats = summarise(
        tile,
        &store.rollups(tile, first, last).await.unwrap(),
        first,
        last,
        24,
        now,
    );
    let mut expected = Rollup::default();
    for result in results
        .iter()
        .filter(|r| (first..=last).contains(&hour_of_ms(r.checked_at.timestamp_millis())))
    {
        expected.add(result.ok, result.latency_ms);
    }
    assert_eq!(
        (stats.checks, stats.ok_checks),
        (expected.checks, expected.ok_checks)
    );
    assert_eq!(stats.uptime_percent, expected.uptime_percent());
    assert_eq!(stats.avg_latency_ms, expected.avg_latency_ms());
    assert_eq!(stats.p95_latency_ms, expected.p95_latency_ms());
    assert_eq!(
        stats.series.iter().map(|b| b.checks).sum::<i64>(),
        expected.checks
    );

    let window = store
        .results(
            tile,
            now - homewatch::model::seconds(2 * 3600),
            now + homewatch::model::seconds(1),
            500,
        )
        .await
        .unwrap();
    let in_window = results
        .iter()
        .filter(|r| r.checked_at >= now - homewatch::model::seconds(2 * 3600))
        .count();
    assert_eq!(window.len(), in_window);
    assert!(
        window
            .windows(2)
            .all(|pair| pair[0].checked_at > pair[1].checked_at),
        "newest first"
    );
    assert_eq!(
        window[0], results[0],
        "a result reads back exactly, error text included"
    );
    assert_eq!(
        store
            .results(tile, now - homewatch::model::seconds(40 * 3600), now, 5)
            .await
            .unwrap()
            .len(),
        5
    );
}

async fn history_skips_deleted_tiles_and_keeps_one_open_incident(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("G")).await.unwrap().id;
    let kept = store
        .create_service(&new_service(group, "Kept"))
        .await
        .unwrap()
        .id;
    let gone = store
        .create_service(&new_service(group, "Gone"))
        .await
        .unwrap()
        .id;
    store.delete_service(gone).await.unwrap();
    let at = chrono::Utc::now();
    let down = |service_id| StatusUpdate {
        service_id,
        state: ServiceState::Down,
        since: at,
        last_checked_at: Some(at),
        last_latency_ms: Some(12),
        last_error: Some("connection refused".into()),
        certificate: None,
        failures: 3,
        memory: Default::default(),
    };
    let open = |service_id| IncidentChange::Open {
        service_id,
        started_at: at,
        cause: "connection refused".into(),
    };
    let batch = HistoryBatch {
        results: vec![
            result(kept, at.timestamp_millis(), false, 12),
            result(gone, at.timestamp_millis(), false, 12),
        ],
        statuses: vec![down(kept), down(gone)],
        incidents: vec![open(kept), open(gone), open(kept)],
        ..Default::default()
    };
    store
        .record_history(&batch)
        .await
        .expect("rows of a deleted tile do not fail the batch");

    let service = store.get_service(kept).await.unwrap();
    assert_eq!(service.status.state, ServiceState::Down);
    assert_eq!(service.status.last_error.as_deref(), Some("connection refused"));
    assert_eq!(service.status.last_latency_ms, Some(12));
    let open_ones = store
        .incidents(&IncidentFilter {
            open: Some(true),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open_ones.len(), 1, "one open incident per tile: {open_ones:?}");
    assert_eq!((open_ones[0].service_id, open_ones[0].ended_at), (kept, None));

    let later = at + homewatch::model::seconds(90);
    store
        .record_history(&HistoryBatch {
            incidents: vec![IncidentChange::Close {
                service_id: kept,
                ended_at: later,
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let closed = store
        .incidents(&IncidentFilter {
            service_id: Some(kept),
            open: Some(false),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].duration_s, Some(90));
    assert!(
        store
            .incidents(&IncidentFilter {
                open: Some(true),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
}

async fn pausing_closes_the_incident_and_resuming_resets_the_state(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("G")).await.unwrap().id;
    let tile = store
        .create_service(&new_service(group, "Tile"))
        .await
        .unwrap()
        .id;
    let at = chrono::Utc::now();
    store
        .record_history(&HistoryBatch {
            incidents: vec![IncidentChange::Open {
                service_id: tile,
                started_at: at,
                cause: "down".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let paused = store.set_paused(tile, true).await.unwrap();
    assert_eq!(paused.status.state, ServiceState::Paused);
    assert!(
        store
            .incidents(&IncidentFilter {
                open: Some(true),
                limit: 5,
                ..Default::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
    let resumed = store.set_paused(tile, false).await.unwrap();
    assert_eq!(resumed.status.state, ServiceState::Unknown);
    assert!(matches!(
        store.set_paused(999_999, true).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn a_batch_landing_after_a_pause_leaves_the_tile_paused(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("G")).await.unwrap().id;
    let tile = store
        .create_service(&new_service(group, "Tile"))
        .await
        .unwrap()
        .id;
    store.set_paused(tile, true).await.unwrap();
    let at = chrono::Utc::now();
    // What the engine found just before the pause, written just after it.
    store
        .record_history(&HistoryBatch {
            results: vec![CheckResult {
                service_id: tile,
                checked_at: at,
                ok: false,
                latency_ms: 3,
                status_code: Some(500),
                error: Some("status 500 is not in 200-299".into()),
                maintenance: false,
                degraded: false,
                packet_loss_pct: None,
                certificate: None,
            }],
            statuses: vec![StatusUpdate {
                service_id: tile,
                state: ServiceState::Down,
                since: at,
                last_checked_at: Some(at),
                last_latency_ms: Some(3),
                last_error: Some("status 500 is not in 200-299".into()),
                certificate: None,
                failures: 3,
                memory: Default::default(),
            }],
            incidents: vec![IncidentChange::Open {
                service_id: tile,
                started_at: at,
                cause: "status 500 is not in 200-299".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let stored = store.get_service(tile).await.unwrap();
    assert_eq!(stored.status.state, ServiceState::Paused);
    let open = store
        .incidents(&IncidentFilter {
            open: Some(true),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(open.is_empty(), "{open:?}");
    assert_eq!(
        store
            .results(
                tile,
                at - homewatch::model::seconds(3600),
                at + homewatch::model::seconds(3600),
                10
            )
            .await
            .unwrap()
            .len(),
        1,
        "the result itself is kept: it happened"
    );
}

async fn old_hourly_rollups_are_summed_per_day_keeping_every_count(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("G")).await.unwrap().id;
    let tile = store
        .create_service(&new_service(group, "Tile"))
        .await
        .unwrap()
        .id;
    let other = store
        .create_service(&new_service(group, "Other"))
        .await
        .unwrap()
        .id;
    let (hour_ms, day_ms) = (3_600_000, 86_400_000);
    let today = chrono::Utc::now().timestamp_millis().div_euclid(day_ms);
    let old_day = today - 40;
    // Hour 3 fails only (its minimum says nothing), hours 5 and 23 pass at different speeds.
    let old = [
        (3, false, 0),
        (3, false, 0),
        (5, true, 80),
        (5, true, 20),
        (23, true, 35),
        (23, false, 0),
    ];
    let mut results: Vec<CheckResult> = old
        .iter()
        .map(|(hour, ok, latency)| result(tile, old_day * day_ms + hour * hour_ms + 60_000, *ok, *latency))
        .collect();
    results.push(result(other, (old_day - 1) * day_ms + 7 * hour_ms, true, 5));
    results.push(result(tile, (today - 2) * day_ms + 4 * hour_ms, true, 9));
    results.push(result(tile, (today - 2) * day_ms + 9 * hour_ms, true, 11));
    store
        .record_history(&HistoryBatch {
            results,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut expected = homewatch::model::Rollup::default();
    for (_, ok, latency) in old {
        expected.add(ok, latency);
    }
    let before_day = today - 31;
    assert_eq!(
        store.first_hourly_day(before_day).await.unwrap(),
        Some(old_day - 1)
    );

    let removed = store.compact_rollups(old_day - 5, before_day).await.unwrap();
    assert_eq!(
        removed, 2,
        "three hourly rows of the old day became one; the other tile's lone row moved"
    );
    let day_rows = store
        .rollups(tile, old_day * 24, old_day * 24 + 23)
        .await
        .unwrap();
    assert_eq!(day_rows, vec![(old_day * 24, expected.clone())]);
    assert_eq!(
        day_rows[0].1.latency_min, 20,
        "the fastest passing check, not a failed hour's 0"
    );
    assert_eq!(
        store
            .rollups(other, (old_day - 1) * 24, (old_day - 1) * 24 + 23)
            .await
            .unwrap()
            .iter()
            .map(|(hour, rollup)| (*hour, rollup.checks))
            .collect::<Vec<_>>(),
        vec![((old_day - 1) * 24, 1)]
    );
    assert_eq!(
        store
            .rollups(tile, (today - 2) * 24, today * 24)
            .await
            .unwrap()
            .len(),
        2,
        "recent days keep their hours"
    );
    assert_eq!(store.first_hourly_day(before_day).await.unwrap(), None);
    assert_eq!(
        store.compact_rollups(old_day - 5, before_day).await.unwrap(),
        0,
        "a compact day is left as it is"
    );
    assert_eq!(
        store
            .rollup_total(tile, old_day * 24, old_day * 24 + 23)
            .await
            .unwrap()
            .checks,
        6
    );
}

async fn pruning_removes_only_expired_rows(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("G")).await.unwrap().id;
    let tile = store
        .create_service(&new_service(group, "Tile"))
        .await
        .unwrap()
        .id;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let day = 86_400_000;
    let results: Vec<CheckResult> = (0..20)
        .map(|i| result(tile, now_ms - i * day, true, 10))
        .collect();
    store
        .record_history(&HistoryBatch {
            results,
            ..Default::default()
        })
        .await
        .unwrap();
    let cutoff = now_ms - 7 * day + 1;
    let mut removed = 0;
    loop {
        let step = store
            .prune_history(cutoff, hour_of_ms(now_ms - 10 * day), 4)
            .await
            .unwrap();
        if step == 0 {
            break;
        }
        removed += step;
    }
    let since = chrono::DateTime::from_timestamp_millis(now_ms - 30 * day).unwrap();
    let kept = store
        .results(
            tile,
            since,
            chrono::Utc::now() + homewatch::model::seconds(1),
            100,
        )
        .await
        .unwrap();
    assert_eq!(kept.len(), 7, "results of the last 7 days stay");
    let rollups = store
        .rollups(tile, hour_of_ms(now_ms - 30 * day), hour_of_ms(now_ms))
        .await
        .unwrap();
    assert_eq!(
        rollups.len(),
        11,
        "rollups from the cutoff hour on stay (days 0 to 10)"
    );
    assert_eq!(removed, 13 + 9);
}

async fn dashboard_tiles_carry_uptime_and_latency_of_the_last_24_hours(backend: Backend) {
    let (_db, store) = open(backend).await;
    let group = store.create_group(&new_group("G")).await.unwrap().id;
    let watched = store
        .create_service(&new_service(group, "Watched"))
        .await
        .unwrap()
        .id;
    let quiet = store
        .create_service(&new_service(group, "Quiet"))
        .await
        .unwrap()
        .id;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let hour = 3_600_000;
    let results = vec![
        result(watched, now_ms, true, 30),
        result(watched, now_ms - 1, true, 50),
        result(watched, now_ms - 2, false, 0),
        result(watched, now_ms - 3 * hour, true, 100),
        result(watched, now_ms - 30 * hour, false, 0), // older than 24 h: left out
    ];
    store
        .record_history(&HistoryBatch {
            results,
            ..Default::default()
        })
        .await
        .unwrap();

    let dashboard = dashboard(&store).await;
    let tiles = &dashboard.groups[0].services;
    let tile = tiles.iter().find(|t| t.service.id == watched).unwrap();
    assert_eq!(tile.uptime_24h, Some(75.0));
    assert_eq!(tile.latency_24h.len(), 24);
    assert_eq!(
        tile.latency_24h[23],
        Some(40.0),
        "this hour: the average of 30 and 50"
    );
    assert_eq!(tile.latency_24h[20], Some(100.0), "three hours ago");
    assert_eq!(tile.latency_24h.iter().filter(|l| l.is_some()).count(), 2);
    let silent = tiles.iter().find(|t| t.service.id == quiet).unwrap();
    assert_eq!(
        (silent.uptime_24h, silent.latency_24h.iter().all(Option::is_none)),
        (None, true)
    );
}

fn in_days(days: i64) -> chrono::DateTime<chrono::Utc> {
    homewatch::model::now() + homewatch::model::seconds(days * 86_400)
}

async fn users_are_unique_ignoring_case_and_found_by_name(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ada = store
        .create_user("Ada", "hash-1", Role::Admin, false)
        .await
        .unwrap();
    assert_eq!((ada.username.as_str(), ada.role), ("Ada", Role::Admin));
    let clash = store
        .create_user("ADA", "hash-2", Role::Viewer, false)
        .await
        .unwrap_err();
    assert!(
        matches!(
            clash,
            StoreError::Conflict {
                field: Some("username"),
                ..
            }
        ),
        "{clash:?}"
    );
    let found = store
        .find_user("aDa")
        .await
        .unwrap()
        .expect("found ignoring case");
    assert_eq!(
        (found.user, found.password_hash.as_str()),
        (ada.clone(), "hash-1")
    );
    assert!(store.find_user("bob").await.unwrap().is_none());
    assert_eq!(store.get_user(ada.id).await.unwrap().user, ada);
    assert!(matches!(
        store.get_user(ada.id + 1).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert_eq!(store.list_users().await.unwrap(), [ada]);
}

async fn the_first_admin_is_created_once_even_by_two_setups_at_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    let setups = (0..4).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create_user(&format!("first-{n}"), "hash", Role::Admin, true)
                .await
        })
    });
    let outcomes: Vec<_> = futures_util::future::join_all(setups)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        outcomes.iter().filter(|outcome| outcome.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .filter_map(|outcome| outcome.as_ref().err())
            .all(|err| matches!(err, StoreError::Conflict { .. })),
        "{outcomes:?}"
    );
    assert_eq!(store.count_users().await.unwrap(), 1);
    let late = store
        .create_user("late", "hash", Role::Admin, true)
        .await
        .unwrap_err();
    assert!(late.to_string().contains("setup is done"), "{late}");
}

async fn the_last_admin_stays_even_when_two_admins_are_demoted_at_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    for round in 0..5 {
        let ada = store
            .create_user(&format!("ada-{round}"), "h", Role::Admin, false)
            .await
            .unwrap();
        let bob = store
            .create_user(&format!("bob-{round}"), "h", Role::Admin, false)
            .await
            .unwrap();
        if round > 0 {
            // Only these two are admins this round.
            for user in store.list_users().await.unwrap() {
                if user.role == Role::Admin && user.id != ada.id && user.id != bob.id {
                    store
                        .update_user(user.id, Some(Role::Viewer), None)
                        .await
                        .unwrap();
                }
            }
        }
        let demote = |id: i64| {
            let store = store.clone();
            tokio::spawn(async move { store.update_user(id, Some(Role::Viewer), None).await })
        };
        let (first, second) = tokio::join!(demote(ada.id), demote(bob.id));
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!(
            u8::from(first.is_ok()) + u8::from(second.is_ok()),
            1,
            "{first:?} {second:?}"
        );
        let refused = first.err().or(second.err()).unwrap();
        assert!(
            matches!(
                refused,
                StoreError::Conflict {
                    field: Some("role"),
                    ..
                }
            ),
            "{refused:?}"
        );
        let admins = store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == Role::Admin)
            .count();
        assert_eq!(admins, 1, "round {round}");
    }
}

async fn the_last_admin_cannot_be_deleted(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ada = store.create_user("ada", "h", Role::Admin, false).await.unwrap();
    let viewer = store.create_user("vic", "h", Role::Viewer, false).await.unwrap();
    let refused = store.delete_user(ada.id).await.unwrap_err();
    assert!(
        matches!(
            refused,
            StoreError::Conflict {
                field: Some("role"),
                ..
            }
        ),
        "{refused:?}"
    );
    store.delete_user(viewer.id).await.unwrap();
    let bob = store.create_user("bob", "h", Role::Admin, false).await.unwrap();
    store.delete_user(ada.id).await.unwrap();
    assert_eq!(store.list_users().await.unwrap(), std::slice::from_ref(&bob));
    assert!(matches!(
        store.delete_user(ada.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let kept = store.update_user(bob.id, Some(Role::Admin), None).await.unwrap();
    assert_eq!(kept.role, Role::Admin, "staying admin is no loss");
}

async fn sessions_are_found_extended_ended_and_pruned(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ada = store.create_user("ada", "h", Role::Admin, false).await.unwrap();
    let session = store
        .create_session(ada.id, "session-hash", in_days(30))
        .await
        .unwrap();
    let (found, owner) = store
        .find_session("session-hash")
        .await
        .unwrap()
        .expect("found by hash");
    assert_eq!((found.clone(), owner.id), (session.clone(), ada.id));
    let (seen, until) = (in_days(1), in_days(31));
    store.extend_session(session.id, seen, until).await.unwrap();
    let (extended, _) = store.find_session("session-hash").await.unwrap().unwrap();
    assert_eq!((extended.last_seen_at, extended.expires_at), (seen, until));
    store.delete_session("session-hash").await.unwrap();
    assert!(store.find_session("session-hash").await.unwrap().is_none());

    store.create_session(ada.id, "old", in_days(-1)).await.unwrap();
    store.create_session(ada.id, "live", in_days(1)).await.unwrap();
    assert_eq!(
        store.prune_expired_access(homewatch::model::now()).await.unwrap(),
        1
    );
    assert!(store.find_session("old").await.unwrap().is_none());
    assert!(store.find_session("live").await.unwrap().is_some());
    let orphan = store
        .create_session(ada.id + 100, "orphan", in_days(1))
        .await
        .unwrap_err();
    assert!(
        matches!(orphan, StoreError::NotFound { entity: "user", .. }),
        "{orphan:?}"
    );
}

fn reset(hash: &str, keep_session: Option<i64>, revoke_tokens: bool) -> PasswordReset<'_> {
    PasswordReset {
        hash,
        keep_session,
        revoke_tokens,
    }
}

async fn a_new_password_ends_every_other_session(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ada = store
        .create_user("ada", "old-hash", Role::Admin, false)
        .await
        .unwrap();
    let kept = store.create_session(ada.id, "kept", in_days(1)).await.unwrap();
    store.create_session(ada.id, "other", in_days(1)).await.unwrap();
    store.update_user(ada.id, None, None).await.unwrap();
    assert!(
        store.find_session("other").await.unwrap().is_some(),
        "no new password: sessions stay"
    );
    store
        .update_user(ada.id, None, Some(reset("new-hash", Some(kept.id), false)))
        .await
        .unwrap();
    assert!(store.find_session("kept").await.unwrap().is_some());
    assert!(store.find_session("other").await.unwrap().is_none());
    assert_eq!(
        store.find_user("ada").await.unwrap().unwrap().password_hash,
        "new-hash"
    );
    store
        .update_user(ada.id, None, Some(reset("newer-hash", None, false)))
        .await
        .unwrap();
    assert!(
        store.find_session("kept").await.unwrap().is_none(),
        "none kept: all end"
    );
}

async fn tokens_are_listed_touched_revoked_and_pruned(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ada = store.create_user("ada", "h", Role::Admin, false).await.unwrap();
    let vic = store.create_user("vic", "h", Role::Viewer, false).await.unwrap();
    let ci = store
        .create_token(ada.id, "ci", Scope::Write, "t-ci", None)
        .await
        .unwrap();
    let grafana = store
        .create_token(vic.id, "grafana", Scope::Read, "t-gr", Some(in_days(10)))
        .await
        .unwrap();
    assert_eq!(
        (ci.username.as_str(), ci.scope, ci.last_used_at),
        ("ada", Scope::Write, None)
    );
    let (found, owner) = store.find_token("t-gr").await.unwrap().unwrap();
    assert_eq!((found, owner.username), (grafana.clone(), "vic".to_owned()));
    let used = homewatch::model::now();
    store.touch_token(ci.id, used).await.unwrap();
    assert_eq!(
        store.find_token("t-ci").await.unwrap().unwrap().0.last_used_at,
        Some(used)
    );
    let everyone: Vec<i64> = store
        .list_tokens(None)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(everyone, [grafana.id, ci.id], "newest first");
    let vics: Vec<i64> = store
        .list_tokens(Some(vic.id))
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(vics, [grafana.id]);
    let not_hers = store.delete_token(ci.id, Some(vic.id)).await.unwrap_err();
    assert!(matches!(not_hers, StoreError::NotFound { .. }), "{not_hers:?}");
    store.delete_token(grafana.id, Some(vic.id)).await.unwrap();
    assert!(store.find_token("t-gr").await.unwrap().is_none());
    store
        .create_token(vic.id, "expired", Scope::Read, "t-old", Some(in_days(-1)))
        .await
        .unwrap();
    assert_eq!(
        store.prune_expired_access(homewatch::model::now()).await.unwrap(),
        1
    );
    assert!(store.find_token("t-old").await.unwrap().is_none());
    assert!(
        store.find_token("t-ci").await.unwrap().is_some(),
        "tokens without expiry stay"
    );
}

async fn deleting_a_user_takes_their_sessions_and_tokens(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.create_user("ada", "h", Role::Admin, false).await.unwrap();
    let vic = store.create_user("vic", "h", Role::Viewer, false).await.unwrap();
    store
        .create_session(vic.id, "vic-session", in_days(1))
        .await
        .unwrap();
    store
        .create_token(vic.id, "vic-token", Scope::Read, "vic-t", None)
        .await
        .unwrap();
    store.delete_user(vic.id).await.unwrap();
    assert!(store.find_session("vic-session").await.unwrap().is_none());
    assert!(store.find_token("vic-t").await.unwrap().is_none());
    assert_eq!(store.count_users().await.unwrap(), 1);
}

async fn a_new_password_revokes_tokens_only_when_asked(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ada = store.create_user("ada", "h", Role::Admin, false).await.unwrap();
    store
        .create_token(ada.id, "ci", Scope::Write, "t-ci", None)
        .await
        .unwrap();
    store
        .update_user(ada.id, None, Some(reset("h2", None, false)))
        .await
        .unwrap();
    assert!(
        store.find_token("t-ci").await.unwrap().is_some(),
        "kept when not asked"
    );
    store
        .update_user(ada.id, None, Some(reset("h3", None, true)))
        .await
        .unwrap();
    assert!(
        store.find_token("t-ci").await.unwrap().is_none(),
        "revoked when asked"
    );
}
