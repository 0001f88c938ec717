//! The web page in a real headless Chromium against the real server (port 0, its own SQLite file): building a
//! dashboard through the page, field errors, reordering by mouse and keyboard, deleting, search, the service
//! page with its charts, live updates, an unreachable server, text never rendered as HTML, themes, and
//! screenshots (light and dark, desktop and phone) kept in target/e2e/.
// The page runs on SQLite in these tests; a build with PostgreSQL support (CI's second run) adds nothing to
// them, so they run in the SQLite build only.
#![cfg(not(feature = "postgres"))]

#[path = "../common/mod.rs"]
mod common;

mod browser;

use std::{sync::atomic::Ordering, time::Duration};

use browser::{Browser, Page, Screen, js_string};
use common::{App, Backend, TestApp, spawn_app, switchable_target};
use homewatch::auth::AccessConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A tab signed in as the test's admin (a session of theirs in the cookie), showing `path`.
async fn signed_in(app: &TestApp, browser: &Browser, path: &str, screen: Screen) -> Page {
    let page = browser.open("about:blank", screen).await;
    let (admin, _) = app.admin.as_ref().expect("the test app has an admin");
    let (session, _) = app.access.start_session(admin.id).await.expect("a session");
    page.set_session_cookie(&app.base, &session).await;
    page.goto(&format!("{}{path}", app.base)).await;
    page
}

/// A server and a browser, or None when no browser is installed (the test then reports it and ends).
async fn start() -> Option<(TestApp, Browser)> {
    let browser = Browser::launch().await?;
    Some((spawn_app(Backend::Sqlite).await, browser))
}

/// The ids of each group's tiles, groups in page order, as the API has them.
async fn layout(app: &TestApp) -> Vec<(String, Vec<i64>)> {
    let dashboard = app.get("/api/v1/dashboard").await;
    assert_eq!(dashboard.status, StatusCode::OK, "{}", dashboard.text);
    dashboard.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| {
            let ids = group["services"]
                .as_array()
                .unwrap()
                .iter()
                .map(|service| service["id"].as_i64().unwrap())
                .collect();
            (group["name"].as_str().unwrap().to_owned(), ids)
        })
        .collect()
}

/// Polls the API until `done` holds (the page saves asynchronously).
async fn eventually_layout(
    app: &TestApp,
    done: impl Fn(&[(String, Vec<i64>)]) -> bool,
) -> Vec<(String, Vec<i64>)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let current = layout(app).await;
        if done(&current) {
            return current;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the layout never got there: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tile in a group of its own, checked every hour (and on request), down at the first failure.
async fn watched_tile(app: &TestApp, group: &str, url: &str) -> i64 {
    let group = app.group(group).await;
    app.service(
        group,
        "Target",
        json!({ "url": url, "check": { "kind": "http", "interval_s": 3600, "retries": 0 } }),
    )
    .await
}

fn tile(id: i64) -> String {
    format!(".tile[data-service-id=\"{id}\"]")
}

fn field(name: &str) -> String {
    format!("dialog [data-field=\"{name}\"] :is(input, select, textarea)")
}

fn field_error(name: &str) -> String {
    format!("dialog [data-field=\"{name}\"] .field-error")
}

async fn submit_dialog(page: &Page) {
    page.click("dialog button[type=submit]").await;
}

async fn dialog_closed(page: &Page) {
    page.wait_for("!document.querySelector('dialog[open]')", "the dialog to close")
        .await;
}

/// Clicks the service page's Edit until its dialog opens: a live update that re-renders the actions under the
/// click (a loaded machine makes it likelier) would otherwise swallow it.
async fn open_edit_dialog(page: &Page) {
    for _ in 0..5 {
        page.wait_visible("[data-action=edit]").await;
        page.click("[data-action=edit]").await;
        for _ in 0..40 {
            if page
                .eval::<bool>("Boolean(document.querySelector('dialog[open]'))")
                .await
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("the edit dialog never opened");
}

async fn badge_is(page: &Page, id: i64, state: &str) {
    page.wait_for(
        &format!(
            "document.querySelector({})?.querySelector('.badge')?.dataset.state === {}",
            js_string(&tile(id)),
            js_string(state)
        ),
        &format!("tile {id} to show {state}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_builds_a_dashboard_through_the_page() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let (target, _) = switchable_target().await;
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;

    page.wait_visible(".empty-state").await;
    assert!(page.text("#summary").await.contains("0 services"));
    page.click(".empty-state button").await;
    page.wait_visible("dialog[open]").await;
    let group_choice: String = page
        .eval(&format!(
            "document.querySelector({}).value",
            js_string(&field("group_id"))
        ))
        .await;
    assert_eq!(
        group_choice, "new",
        "with no group yet, the form offers a new one"
    );
    let kind: String = page
        .eval(&format!(
            "document.querySelector({}).value",
            js_string(&field("check.kind"))
        ))
        .await;
    assert_eq!(kind, "http", "a new tile is watched by default");
    page.fill(&field("new_group"), "Media").await;
    page.fill(&field("name"), "Jellyfin").await;
    page.fill(&field("url"), &target).await;
    submit_dialog(&page).await;
    dialog_closed(&page).await;

    page.wait_for(
        "[...document.querySelectorAll('.tile-name')].map(n => n.textContent).join() === 'Jellyfin'",
        "the new tile",
    )
    .await;
    assert_eq!(page.text(".group-name").await, "Media");
    let dashboard = app.get("/api/v1/dashboard").await.body;
    let jellyfin = &dashboard["groups"][0]["services"][0];
    assert_eq!(dashboard["groups"][0]["name"], "Media");
    assert_eq!(jellyfin["name"], "Jellyfin");
    assert_eq!(jellyfin["url"], target.as_str());
    assert_eq!(jellyfin["check"]["kind"], "http");
    badge_is(&page, jellyfin["id"].as_i64().unwrap(), "up").await;

    // A second tile from the toolbar lands in the existing group; this one is only a link.
    page.click("#add-tile").await;
    page.wait_visible("dialog[open]").await;
    let group_choice: String = page
        .eval(&format!(
            "document.querySelector({}).value",
            js_string(&field("group_id"))
        ))
        .await;
    assert_eq!(group_choice, jellyfin["group_id"].to_string());
    page.fill(&field("name"), "Router").await;
    page.fill(&field("url"), "http://192.168.1.1").await;
    page.fill(&field("tags"), "network, Infra").await;
    page.select(&field("check.kind"), "").await;
    assert_eq!(
        page.count("dialog [data-field=\"check.interval_s\"]").await,
        0,
        "no check, no check fields"
    );
    submit_dialog(&page).await;
    dialog_closed(&page).await;
    page.wait_for("document.querySelectorAll('.tile').length === 2", "two tiles")
        .await;

    page.click("#edit-toggle").await;
    page.click("#add-group").await;
    page.fill(&field("name"), "Infrastructure").await;
    submit_dialog(&page).await;
    dialog_closed(&page).await;
    page.wait_for(
        "document.querySelectorAll('.group').length === 2",
        "the new group",
    )
    .await;

    let dashboard = app.get("/api/v1/dashboard").await.body;
    let router = &dashboard["groups"][0]["services"][1];
    assert_eq!(router["name"], "Router");
    assert_eq!(router["check"], Value::Null);
    assert_eq!(router["tags"], json!(["network", "infra"]));
    assert_eq!(dashboard["groups"][1]["name"], "Infrastructure");
    let summary = page.text("#summary").await;
    assert!(
        summary.contains("2 services in 2 groups")
            && summary.contains("1 up")
            && summary.contains("1 not monitored"),
        "{summary}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_show_next_to_their_field_and_nothing_is_lost() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let group = app.group("Storage").await;
    let nas = app
        .service(group, "NAS", json!({ "url": "https://nas.lan" }))
        .await;
    app.service(group, "Backup", json!({ "url": "https://backup.lan" }))
        .await;
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;

    page.click("#edit-toggle").await;
    page.click(&format!("{} [data-action=edit-tile]", tile(nas)))
        .await;
    page.wait_visible("dialog[open]").await;
    page.fill(&field("url"), "htp://nas.lan").await;
    page.select(&field("check.kind"), "http").await;
    page.fill(&field("check.interval_s"), "2").await;
    submit_dialog(&page).await;

    page.wait_visible(&field_error("url")).await;
    let url_error = page.text(&field_error("url")).await;
    assert!(url_error.contains("scheme `htp` is not supported"), "{url_error}");
    let interval_error = page.text(&field_error("check.interval_s")).await;
    assert!(interval_error.contains("5 to 86400"), "{interval_error}");
    let (invalid, focused): (String, bool) = page
        .eval(&format!(
            "[document.querySelector({url}).getAttribute('aria-invalid'), document.activeElement === document.querySelector({url})]",
            url = js_string(&field("url"))
        ))
        .await;
    assert_eq!(
        (invalid.as_str(), focused),
        ("true", true),
        "the first bad field is marked and focused"
    );
    assert_eq!(
        page.count("dialog[open]").await,
        1,
        "the form stays open with what was typed"
    );
    let stored = app.get(&format!("/api/v1/services/{nas}")).await.body;
    assert_eq!(
        (stored["url"].as_str(), &stored["check"]),
        (Some("https://nas.lan"), &Value::Null)
    );

    page.fill(&field("url"), "https://nas2.lan").await;
    page.fill(&field("check.interval_s"), "30").await;
    submit_dialog(&page).await;
    dialog_closed(&page).await;
    let stored = app.get(&format!("/api/v1/services/{nas}")).await.body;
    assert_eq!(stored["url"], "https://nas2.lan");
    assert_eq!(stored["check"]["interval_s"], 30);

    // A name already used in the group: the 409 is shown at the name.
    page.click(&format!("{} [data-action=edit-tile]", tile(nas)))
        .await;
    page.fill(&field("name"), "backup").await;
    submit_dialog(&page).await;
    page.wait_visible(&field_error("name")).await;
    assert!(page.text(&field_error("name")).await.contains("already"));
    page.press("Escape").await;
    dialog_closed(&page).await;
    assert_eq!(
        app.get(&format!("/api/v1/services/{nas}")).await.body["name"],
        "NAS"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_and_groups_reorder_by_dragging_and_from_the_keyboard() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let first = app.group("First").await;
    let second = app.group("Second").await;
    let t1 = app.service(first, "One", json!({})).await;
    let t2 = app.service(first, "Two", json!({})).await;
    let t3 = app.service(first, "Three", json!({})).await;
    let t4 = app.service(second, "Four", json!({})).await;
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;
    page.wait_for(
        "document.querySelector('#connection').dataset.mode === 'live'",
        "the live stream",
    )
    .await;
    page.click("#edit-toggle").await;

    page.drag(&format!("{} .tile-handle", tile(t3)), &tile(t1)).await;
    eventually_layout(&app, |groups| groups[0].1 == [t3, t1, t2]).await;

    page.wait_visible(&format!("{} .tile-handle", tile(t2))).await;
    page.focus(&format!("{} .tile-handle", tile(t2))).await;
    page.press("ArrowLeft").await;
    eventually_layout(&app, |groups| groups[0].1 == [t3, t2, t1]).await;
    page.wait_for(
        &format!(
            "document.activeElement === document.querySelector({})",
            js_string(&format!("{} .tile-handle", tile(t2)))
        ),
        "the moved tile's handle to keep the focus",
    )
    .await;

    // Into another group, before a tile there.
    page.wait_for(
        &format!(
            "document.querySelector('.tiles').firstElementChild === document.querySelector({})",
            js_string(&tile(t3))
        ),
        "the page to show the saved order",
    )
    .await;
    page.drag(&format!("{} .tile-handle", tile(t4)), &tile(t1)).await;
    let moved = eventually_layout(&app, |groups| groups[0].1 == [t3, t2, t4, t1]).await;
    assert!(moved[1].1.is_empty(), "{moved:?}");

    page.focus(&format!(".group[data-group-id=\"{second}\"] .group-handle"))
        .await;
    page.press("ArrowUp").await;
    let reordered = eventually_layout(&app, |groups| groups[0].0 == "Second").await;
    assert_eq!(reordered[1], ("First".to_owned(), vec![t3, t2, t4, t1]));
    page.wait_for(
        "document.querySelector('.group .group-name').textContent === 'Second'",
        "the groups in their new order",
    )
    .await;
    browser.close().await;
}

/// A search takes the tiles it does not match out of the page (at 10,000 tiles, hidden ones cost their groups
/// a restyle whenever they came on screen): those tiles still follow live events, come back in their place,
/// and a tile reordered while they are out keeps them where they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_a_search_leaves_out_stay_current_and_keep_their_place() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let (target, status) = switchable_target().await;
    let media = app.group("Media").await;
    let watched = json!({ "kind": "http", "interval_s": 3600, "retries": 0 });
    let jellyfin = app
        .service(media, "Jellyfin", json!({ "url": target, "check": watched }))
        .await;
    let sonarr = app.service(media, "Sonarr", json!({})).await;
    let radarr = app.service(media, "Radarr", json!({})).await;
    app.post(&format!("/api/v1/services/{jellyfin}/check"), json!({}))
        .await;
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;
    page.wait_for(
        &format!(
            "document.querySelector('#connection').dataset.mode === 'live' && \
             document.querySelector({})?.dataset.state === 'up'",
            js_string(&format!("{} .badge", tile(jellyfin)))
        ),
        "the live stream and Jellyfin up",
    )
    .await;
    page.fill("#search", "arr").await;
    page.wait_for(
        "[...document.querySelectorAll('.tile')].filter(t => t.getClientRects().length).length === 2",
        "Jellyfin out of sight",
    )
    .await;

    // Jellyfin goes down while it is out of the page: it comes back down, first as before.
    status.store(503, Ordering::SeqCst);
    app.post(&format!("/api/v1/services/{jellyfin}/check"), json!({}))
        .await;
    page.wait_for(
        "document.querySelector('.summary-down') !== null",
        "the summary to count the tile that went down",
    )
    .await;
    page.focus("#search").await;
    page.press("Escape").await;
    page.wait_for(
        &format!(
            "[...document.querySelectorAll('.tile')].filter(t => t.getClientRects().length).map(t => t.dataset.serviceId).join() === '{jellyfin},{sonarr},{radarr}' \
             && document.querySelector({})?.dataset.state === 'down'",
            js_string(&format!("{} .badge", tile(jellyfin)))
        ),
        "Jellyfin back in its place, down",
    )
    .await;
    // Events carry no uptime: the next read of the dashboard brings it, into the same tile (built once).
    let before: String = page
        .eval(&format!(
            "(window.builtTile = document.querySelector({})).querySelector('.tile-uptime').textContent",
            js_string(&tile(jellyfin))
        ))
        .await;
    assert_eq!(before, "100 %", "Jellyfin's uptime as first read");
    page.eval::<Value>("document.dispatchEvent(new Event('visibilitychange')); null")
        .await;
    page.wait_for(
        &format!(
            "document.querySelector({0}) === window.builtTile && \
             !['', '100 %'].includes(document.querySelector({0} + ' .tile-uptime').textContent)",
            js_string(&tile(jellyfin))
        ),
        "the refreshed uptime in the same tile",
    )
    .await;

    // Reordered during a search: the tile left out keeps its place before the two shown.
    page.click("#edit-toggle").await;
    page.fill("#search", "arr").await;
    page.wait_for(
        "[...document.querySelectorAll('.tile')].filter(t => t.getClientRects().length).length === 2",
        "Jellyfin out of sight",
    )
    .await;
    page.focus(&format!("{} .tile-handle", tile(radarr))).await;
    page.press("ArrowLeft").await;
    eventually_layout(&app, |groups| groups[0].1 == [jellyfin, radarr, sonarr]).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_asks_for_confirmation_first() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let home = app.group("Home").await;
    let keep = app.group("Keep").await;
    let printer = app.service(home, "Printer", json!({})).await;
    let camera = app.service(home, "Camera", json!({})).await;
    app.service(keep, "Wiki", json!({})).await;
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;
    page.click("#edit-toggle").await;

    page.click(&format!("{} [data-action=delete-tile]", tile(printer)))
        .await;
    page.wait_visible("dialog[open]").await;
    assert!(page.text("dialog[open] h2").await.contains("Delete “Printer”?"));
    page.click("dialog[open] .form-actions button[type=button]").await;
    dialog_closed(&page).await;
    assert_eq!(
        app.get(&format!("/api/v1/services/{printer}")).await.status,
        StatusCode::OK
    );

    page.click(&format!("{} [data-action=delete-tile]", tile(printer)))
        .await;
    submit_dialog(&page).await;
    page.wait_for(
        &format!("!document.querySelector({})", js_string(&tile(printer))),
        "the tile to go",
    )
    .await;
    app.get(&format!("/api/v1/services/{printer}")).await.problem(404);

    page.click(&format!(
        ".group[data-group-id=\"{home}\"] [data-action=delete-group]"
    ))
    .await;
    page.wait_visible("dialog[open]").await;
    let message = page.text("dialog[open] form p:not(.form-error)").await;
    assert!(message.contains("1 tile"), "{message}");
    submit_dialog(&page).await;
    page.wait_for(
        "document.querySelectorAll('.group').length === 1",
        "the group to go",
    )
    .await;
    app.get(&format!("/api/v1/services/{camera}")).await.problem(404);
    assert_eq!(
        layout(&app).await,
        [("Keep".to_owned(), layout(&app).await[0].1.clone())]
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_searches_tiles_and_enter_opens_the_first_match() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let (target, _) = switchable_target().await;
    let media = app.group("Media").await;
    let network = app.group("Network").await;
    app.service(media, "Jellyfin", json!({ "url": target, "tags": ["media"] }))
        .await;
    app.service(
        media,
        "Sonarr",
        json!({ "url": "https://sonarr.lan", "tags": ["media", "arr"] }),
    )
    .await;
    app.service(network, "Router", json!({ "url": "https://router.lan" }))
        .await;
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;
    page.wait_for("document.querySelectorAll('.tile').length === 3", "three tiles")
        .await;
    page.eval::<Value>(
        "window.visibleTiles = () => [...document.querySelectorAll('.tile')].filter(t => t.getClientRects().length); null",
    )
    .await;
    // Searching looks inside collapsed groups too.
    page.click(&format!(".group[data-group-id=\"{network}\"] .group-toggle"))
        .await;
    page.wait_for("visibleTiles().length === 2", "the group to collapse")
        .await;

    page.click("#summary").await;
    page.press("/").await;
    page.wait_for(
        "document.activeElement?.id === 'search'",
        "`/` to focus the search",
    )
    .await;
    page.fill("#search", "MEDIA").await;
    page.wait_for("visibleTiles().length === 2", "two tiles tagged media")
        .await;
    page.fill("#search", "router.lan").await;
    page.wait_for(
        "visibleTiles().map(t => t.querySelector('.tile-name').textContent).join() === 'Router'",
        "the tile whose URL matches",
    )
    .await;
    page.fill("#search", "nothing like this").await;
    assert!(page.text(".search-matches").await.contains("No tile matches"));

    page.fill("#search", "jelly").await;
    page.wait_for("visibleTiles().length === 1", "one match").await;
    page.press("Enter").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !browser.tab_urls().await.contains(&target) {
        assert!(
            std::time::Instant::now() < deadline,
            "Enter did not open {target}: {:?}",
            browser.tab_urls().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    page.focus("#search").await;
    page.press("Escape").await;
    page.wait_for(
        "document.querySelector('#search').value === '' && visibleTiles().length === 2",
        "Escape to clear the search (the collapsed group stays collapsed)",
    )
    .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_page_charts_history_and_follows_state_changes_live() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let (target, status) = switchable_target().await;
    let id = watched_tile(&app, "Watched", &target).await;
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;
    badge_is(&page, id, "up").await;
    page.wait_for(
        "document.querySelector('#connection').dataset.mode === 'live'",
        "the live stream",
    )
    .await;
    page.eval::<Value>("window.sameDocument = true").await;

    // The server checks (asked by the API, not the page): the tile turns down without a reload.
    status.store(500, Ordering::SeqCst);
    let run = app.post(&format!("/api/v1/services/{id}/check"), json!({})).await;
    assert_eq!(run.body["status"]["state"], "down", "{}", run.text);
    badge_is(&page, id, "down").await;
    assert!(page.text("#summary").await.contains("1 down"));
    let (same, title): (bool, String) = page.eval("[window.sameDocument === true, document.title]").await;
    assert!(same, "the page was not reloaded");
    assert_eq!(title, "(1 down) Homewatch");

    page.click(&format!("{} .tile-details", tile(id))).await;
    page.wait_visible(".service-header h1").await;
    assert!(page.url().await.ends_with(&format!("/services/{id}")));
    assert!(
        page.eval::<bool>("window.sameDocument === true").await,
        "in-page navigation"
    );
    page.wait_visible("#latency-chart canvas").await;
    assert_eq!(page.count("#uptime-bars .bar").await, 24);
    page.wait_for(
        "document.querySelectorAll('.results tbody tr').length === 2",
        "two results",
    )
    .await;
    page.wait_for(
        "document.querySelector('.incident-open .incident-duration')?.textContent.startsWith('Ongoing')",
        "the open incident",
    )
    .await;
    assert!(
        page.text(".incident-cause")
            .await
            .contains("status 500 is not in 200-299")
    );

    status.store(200, Ordering::SeqCst);
    page.click("[data-action=check]").await;
    page.wait_for(
        "document.querySelector('.service-header .badge').dataset.state === 'up'",
        "the page to show up again",
    )
    .await;
    page.wait_for(
        "document.querySelectorAll('.results tbody tr').length === 3",
        "the new result",
    )
    .await;
    page.wait_for(
        "document.querySelector('.incident-duration')?.textContent.startsWith('Down for')",
        "the closed incident",
    )
    .await;
    assert!(page.text(".toasts").await.contains("Check passed"));

    page.click("[data-window='7d']").await;
    page.wait_for(
        "document.querySelectorAll('#uptime-bars .bar').length === 28",
        "the 7-day bars",
    )
    .await;
    page.wait_visible("#latency-chart canvas").await;
    let uptime = page.text("[data-stat=uptime] dd").await;
    assert!(uptime.contains('%'), "{uptime}");

    page.click("[data-action=pause]").await;
    page.wait_for(
        "document.querySelector('.service-header .badge').dataset.state === 'paused' && document.querySelector('[data-action=check]').disabled",
        "paused, with check now disabled",
    )
    .await;
    assert_eq!(
        app.get(&format!("/api/v1/services/{id}")).await.body["status"]["state"],
        "paused"
    );
    page.click("[data-action=resume]").await;
    page.wait_visible("[data-action=pause]").await;
    assert_ne!(
        app.get(&format!("/api/v1/services/{id}")).await.body["status"]["state"],
        "paused"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_are_shown_in_the_viewers_time_zone() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let (target, _) = switchable_target().await;
    let group = app.group("Clock").await;
    let id = app
        .service(
            group,
            "Target",
            json!({ "url": target, "check": { "kind": "http", "interval_s": 3600 } }),
        )
        .await;
    let run = app.post(&format!("/api/v1/services/{id}/check"), json!({})).await;
    let checked_at: chrono::DateTime<chrono::Utc> = run.body["result"]["checked_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;
    page.emulate_time_zone("Asia/Kathmandu").await;
    page.emulate_locale("en-GB").await;
    page.goto(&format!("{}/services/{id}", app.base)).await;
    let selector = format!(
        "time[datetime=\"{}\"]",
        run.body["result"]["checked_at"].as_str().unwrap()
    );
    page.wait_for(
        &format!("document.querySelector({})", js_string(&selector)),
        "the result row",
    )
    .await;
    let shown = page.text(&selector).await;
    // Kathmandu is UTC+05:45: minutes differ from UTC, so a UTC rendering cannot pass by chance.
    let local = checked_at + homewatch::model::seconds((5 * 60 + 45) * 60);
    let expected = local.format("%H:%M:%S").to_string();
    assert!(
        shown.contains(&expected),
        "{shown} should show {expected} (Asia/Kathmandu)"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_from_the_api_are_shown_as_text_never_as_html() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let group = app.group("<b>Bold</b> group").await;
    let name = "<img src=x onerror=\"window.injected=1\">";
    let id = app
        .service(
            group,
            name,
            json!({ "description": "<script>window.injected=2</script>", "tags": ["<i>tag</i>"] }),
        )
        .await;
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;
    page.wait_visible(".tile-name").await;
    assert_eq!(page.text(".tile-name").await, name);
    assert_eq!(page.text(".group-name").await, "<b>Bold</b> group");
    assert!(page.text(".tile-description").await.contains("<script>"));
    let (elements, injected): (usize, bool) = page
        .eval("[document.querySelectorAll('.tile-name *, .group-name *, .tile-description *').length, 'injected' in window]")
        .await;
    assert_eq!((elements, injected), (0, false));
    page.goto(&format!("{}/services/{id}", app.base)).await;
    assert_eq!(page.text(".service-name").await, name);
    assert!(!page.eval::<bool>("'injected' in window").await);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_says_when_the_server_is_unreachable_and_recovers() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let group = app.group("Home").await;
    app.service(group, "Wiki", json!({})).await;
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;
    page.wait_for(
        "document.querySelector('#connection').dataset.mode === 'live'",
        "the live stream",
    )
    .await;
    assert_eq!(page.count("#banner").await, 0);

    let addr = app.addr;
    let db = app.stop().await;
    // At shutdown the stream ends first (the page may then say it is polling), then nothing answers.
    page.wait_for(
        "document.querySelector('#banner')?.dataset.kind === 'error' && \
         document.querySelector('#banner').textContent.includes('Cannot reach the Homewatch server')",
        "the page to say the server cannot be reached",
    )
    .await;
    assert!(
        page.text("#banner")
            .await
            .contains("Cannot reach the Homewatch server")
    );
    assert_eq!(page.text("#connection").await, "Offline");
    assert_eq!(page.count(".tile").await, 1, "what was shown stays shown");

    let app = App::with_db(db).listen(addr).start().await;
    page.wait_for(
        "document.querySelector('#banner').hidden && document.querySelector('#connection').dataset.mode === 'live'",
        "the page to reconnect",
    )
    .await;
    assert_eq!(page.count(".tile").await, 1);
    drop(app);
    browser.close().await;
}

/// Browsers open at most six connections to a server and an event stream keeps one: the tabs share one stream,
/// so an eighth tab still loads, and every tab still hears every change, also after the leading tab closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tabs_share_one_event_stream() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let (target, status) = switchable_target().await;
    let id = watched_tile(&app, "Home", &target).await;
    let mut tabs = Vec::new();
    for _ in 0..8 {
        let tab = signed_in(&app, &browser, "/", Screen::DESKTOP).await;
        badge_is(&tab, id, "up").await;
        tabs.push(tab);
    }
    for tab in &tabs {
        tab.wait_for(
            "document.querySelector('#connection').dataset.mode === 'live'",
            "every tab to be live",
        )
        .await;
    }
    assert_eq!(app.engine.listeners(), 1, "eight live tabs hold one event stream");

    status.store(500, Ordering::SeqCst);
    app.post(&format!("/api/v1/services/{id}/check"), json!({})).await;
    for tab in &tabs {
        badge_is(tab, id, "down").await;
    }

    let first = tabs.remove(0);
    first.close().await;
    status.store(200, Ordering::SeqCst);
    // Another tab takes the lead within seconds; until then the change would be missed, so ask until heard.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        app.post(&format!("/api/v1/services/{id}/check"), json!({})).await;
        let shows_up = format!(
            "document.querySelector({})?.querySelector('.badge')?.dataset.state === 'up'",
            js_string(&tile(id))
        );
        let mut heard = Vec::new();
        for tab in &tabs {
            heard.push(tab.eval::<bool>(&shows_up).await);
        }
        if heard.iter().all(|up| *up) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every tab heard the change: {heard:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The closed leader's stream ends with its tab. The server notices when a write fails: a keep-alive goes
    // out every 15 s, and the first write after the peer closed can still succeed (the peer's reset comes
    // back with it), so it may take two of them: 30 s, and some room for a loaded machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    while app.engine.listeners() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} streams open after the leader closed",
            app.engine.listeners()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn theme_choice_collapsed_groups_and_keyboard_reach() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let group = app.group("Home").await;
    app.service(group, "Wiki", json!({})).await;
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;
    page.wait_visible(".tile").await;
    let background = "getComputedStyle(document.body).backgroundColor";
    let light: String = page.eval(background).await;

    assert_eq!(
        page.eval::<String>("document.documentElement.dataset.theme")
            .await,
        "light",
        "the system's scheme"
    );
    page.click("#theme-toggle").await;
    assert_eq!(
        page.eval::<String>("document.documentElement.dataset.themeChoice")
            .await,
        "light"
    );
    page.click("#theme-toggle").await;
    assert_eq!(
        page.eval::<String>("document.documentElement.dataset.themeChoice")
            .await,
        "dark"
    );
    assert_eq!(
        page.eval::<String>("document.documentElement.dataset.theme")
            .await,
        "dark"
    );
    let dark: String = page.eval(background).await;
    assert_ne!(light, dark);
    page.reload().await;
    page.wait_visible(".tile").await;
    assert_eq!(
        page.eval::<String>("document.documentElement.dataset.theme")
            .await,
        "dark",
        "the choice is kept"
    );
    page.click("#theme-toggle").await;
    assert!(
        !page
            .eval::<bool>("'themeChoice' in document.documentElement.dataset")
            .await,
        "back to the system's"
    );
    assert_eq!(
        page.eval::<String>("document.documentElement.dataset.theme")
            .await,
        "light"
    );
    // Following the system: when it turns dark, so does the page, without a reload.
    page.set_screen(Screen::DESKTOP.dark()).await;
    page.wait_for(
        "document.documentElement.dataset.theme === 'dark'",
        "the page to follow the system",
    )
    .await;
    page.set_screen(Screen::DESKTOP).await;

    page.click(".group-toggle").await;
    page.wait_for("document.querySelector('.tiles').hidden", "the group to collapse")
        .await;
    assert_eq!(
        page.eval::<String>("document.querySelector('.group-toggle').getAttribute('aria-expanded')")
            .await,
        "false"
    );
    page.reload().await;
    page.wait_visible(".group-toggle").await;
    assert!(
        page.eval::<bool>("document.querySelector('.tiles').hidden").await,
        "still collapsed after a reload"
    );
    page.click(".group-toggle").await;
    page.wait_visible(".tile").await;

    // Tab alone reaches the tile's link.
    page.eval::<Value>("document.activeElement.blur()").await;
    let mut reached = false;
    for _ in 0..12 {
        page.press("Tab").await;
        if page
            .eval::<bool>("document.activeElement?.classList.contains('tile-link')")
            .await
        {
            reached = true;
            break;
        }
    }
    assert!(reached, "the tile link is reachable with Tab");
    browser.close().await;
}

/// Contrast of text against what is behind it, for the given selectors: (selector, ratio) pairs.
const CONTRAST: &str = r#"
((selectors) => {
  const parse = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (node) => { for (; node; node = node.parentElement) { const c = parse(getComputedStyle(node).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3); } return [255, 255, 255]; };
  return selectors.flatMap((s) => { const node = document.querySelector(s); if (!node) return [];
    const a = lum(parse(getComputedStyle(node).color)), b = lum(background(node));
    return [[s, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]]; });
})
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_light_and_dark_on_desktop_and_phone() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let (up_url, _) = switchable_target().await;
    let (down_url, down) = switchable_target().await;
    down.store(503, Ordering::SeqCst);
    let media = app.group("Media").await;
    let infra = app.group("Infrastructure").await;
    let watched = json!({ "kind": "http", "interval_s": 3600, "retries": 0 });
    let jellyfin = app
        .service(
            media,
            "Jellyfin",
            json!({ "url": up_url, "icon": "🎬", "description": "Films and shows",
            "tags": ["media"], "check": watched }),
        )
        .await;
    app.service(
        media,
        "Sonarr",
        json!({ "url": down_url, "icon": "📺", "check": watched }),
    )
    .await;
    let paused = app
        .service(
            media,
            "Photos",
            json!({ "url": up_url, "description": "Family albums", "check": watched }),
        )
        .await;
    app.service(
        infra,
        "Router",
        json!({ "url": "https://router.lan", "icon": "🛜", "description": "OpenWrt" }),
    )
    .await;
    app.service(
        infra,
        "NAS",
        json!({ "url": up_url, "icon": "💾", "check": watched }),
    )
    .await;
    app.post(&format!("/api/v1/services/{paused}/pause"), json!({}))
        .await;
    for _ in 0..3 {
        app.post(&format!("/api/v1/services/{jellyfin}/check"), json!({}))
            .await;
    }

    let selectors = json!([
        ".tile-name",
        ".tile-description",
        ".tile-stats",
        ".badge",
        ".summary-total",
        ".group-name",
        ".group-count",
        ".footer a",
        "#search"
    ]);
    for (name, screen) in [
        ("light-desktop", Screen::DESKTOP),
        ("dark-desktop", Screen::DESKTOP.dark()),
        ("light-phone", Screen::PHONE),
        ("dark-phone", Screen::PHONE.dark()),
    ] {
        let page = signed_in(&app, &browser, "/", screen).await;
        page.wait_for(
            "document.querySelectorAll('.tile').length === 5 && !document.querySelector('.tile .badge[data-state=unknown]')",
            "every tile with its state",
        )
        .await;
        let body: [f64; 3] = page
            .eval("getComputedStyle(document.body).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number)")
            .await;
        let brightness = body.iter().sum::<f64>() / 3.0;
        assert_eq!(screen.dark, brightness < 60.0, "{name}: body background {body:?}");
        page.wait_for(
            "document.querySelector('#connection').dataset.mode === 'live'",
            "the live stream",
        )
        .await;
        let contrast: Vec<(String, f64)> = page.eval(&format!("({CONTRAST})({selectors})")).await;
        assert!(contrast.len() >= 8, "{contrast:?}");
        for (selector, ratio) in &contrast {
            assert!(
                *ratio >= 4.5,
                "{name}: {selector} has contrast {ratio:.2}, below 4.5"
            );
        }
        let (overflow, columns): (bool, usize) = page
            .eval("[document.documentElement.scrollWidth > innerWidth, new Set([...document.querySelectorAll('.tile')].map(t => Math.round(t.getBoundingClientRect().left))).size]")
            .await;
        assert!(!overflow, "{name}: the page scrolls sideways");
        if screen.mobile {
            assert_eq!(columns, 1, "{name}: one column on a phone");
        } else {
            assert!(columns >= 3, "{name}: tiles side by side on a desktop");
        }
        let start = page.screenshot(&format!("start-{name}")).await;

        page.goto(&format!("{}/services/{jellyfin}", app.base)).await;
        page.wait_visible("#latency-chart canvas").await;
        page.wait_for(
            "document.querySelectorAll('.results tbody tr').length >= 3",
            "results",
        )
        .await;
        page.wait_for(
            "document.querySelector('#connection').dataset.mode === 'live'",
            "the live stream",
        )
        .await;
        let (overflow, width): (bool, f64) = page
            .eval("[document.documentElement.scrollWidth > innerWidth, innerWidth]")
            .await;
        assert!(!overflow, "{name}: the service page scrolls sideways");
        assert_eq!(width, f64::from(screen.width), "{name}: the screen size holds");
        let contrast: Vec<(String, f64)> = page
            .eval(&format!(
                "({CONTRAST})([\".service-status\", \".stat dt\", \".stat dd\", \".results td\", \".check-settings dt\", \".badge\"])"
            ))
            .await;
        for (selector, ratio) in &contrast {
            assert!(
                *ratio >= 4.5,
                "{name}: {selector} has contrast {ratio:.2} on the service page"
            );
        }
        let service = page.screenshot(&format!("service-{name}")).await;
        page.close().await;
        for shot in [start, service] {
            let size = std::fs::metadata(&shot).expect("screenshot saved").len();
            assert!(size > 10_000, "{} is only {size} bytes", shot.display());
        }
    }
    browser.close().await;
}

async fn sign_in_through_the_page(page: &Page, username: &str, password: &str) {
    page.wait_visible(".login-form").await;
    page.fill(".login-form [data-field=username] input", username)
        .await;
    page.fill(".login-form [data-field=password] input", password)
        .await;
    page.click(".login-form button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_is_created_in_the_page_then_signs_out_and_in() {
    let app = App::on(Backend::Sqlite).without_admin().start().await;
    let token = app.access.begin_setup().await.unwrap().expect("a setup token");
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let page = browser.open(&app.base, Screen::DESKTOP).await;
    page.wait_visible(".setup-form").await;
    assert!(
        page.url().await.ends_with("/setup"),
        "the page goes to setup first"
    );
    page.screenshot("setup-light-desktop").await;
    let field = |name: &str| format!(".setup-form [data-field={name}] input");

    page.fill(&field("token"), "not-the-token").await;
    page.fill(&field("username"), "alice").await;
    page.fill(&field("password"), "a-long-passphrase").await;
    page.fill(&field("confirm"), "a-long-passphrase").await;
    page.click(".setup-form button[type=submit]").await;
    page.wait_visible(".setup-form .form-error").await;
    assert!(page.text(".setup-form .form-error").await.contains("setup token"));

    page.fill(&field("token"), &token).await;
    page.fill(&field("confirm"), "something else").await;
    page.click(".setup-form button[type=submit]").await;
    page.wait_visible(".setup-form [data-field=confirm] .field-error")
        .await;
    assert_eq!(
        app.store.count_users().await.unwrap(),
        0,
        "nothing sent while the passwords differ"
    );

    page.fill(&field("confirm"), "a-long-passphrase").await;
    page.click(".setup-form button[type=submit]").await;
    page.wait_visible(".empty-state button").await;
    assert_eq!(page.text(".account-user").await, "alice");
    assert!(
        !page
            .eval::<bool>("document.cookie.includes('homewatch_session')")
            .await,
        "the cookie is HttpOnly"
    );
    let stored = app.store.find_user("alice").await.unwrap().expect("alice exists");
    assert_eq!(stored.user.role.as_str(), "admin");

    page.click("#sign-out").await;
    page.wait_visible(".login-form").await;
    page.set_screen(Screen::PHONE.dark()).await;
    page.screenshot("login-dark-phone").await;
    page.set_screen(Screen::DESKTOP).await;
    sign_in_through_the_page(&page, "alice", "not my password").await;
    page.wait_visible(".login-form .form-error").await;
    assert!(
        page.text(".login-form .form-error")
            .await
            .contains("wrong username or password")
    );
    sign_in_through_the_page(&page, "Alice", "a-long-passphrase").await;
    page.wait_visible("#add-tile").await;
    assert_eq!(page.url().await, format!("{}/", app.base));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_everything_changes_nothing_and_manages_read_tokens() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let group = app.group("Media").await;
    let tile = app.service(group, "Jellyfin", json!({})).await;
    let created = app
        .post(
            "/api/v1/users",
            json!({ "username": "vera", "password": "vera-password", "role": "viewer" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);

    let page = browser
        .open(&format!("{}/services/{tile}", app.base), Screen::DESKTOP)
        .await;
    sign_in_through_the_page(&page, "vera", "vera-password").await;
    page.wait_visible(".service-header h1").await;
    assert!(
        page.url().await.ends_with(&format!("/services/{tile}")),
        "back to the page that asked"
    );
    let actions: usize = page.count(".service-actions button, .unmonitored button").await;
    assert_eq!(
        actions, 0,
        "a viewer gets no check, pause, edit or delete buttons"
    );

    page.click(".breadcrumb a").await;
    page.wait_visible(".tile").await;
    assert_eq!(
        page.count("#add-tile, #add-group, #edit-toggle, .tile-actions")
            .await,
        0
    );
    page.press("/").await;
    page.wait_for(
        "document.activeElement?.id === 'search'",
        "search works for viewers too",
    )
    .await;

    page.click(".account-link").await;
    page.wait_visible(".token-form").await;
    assert_eq!(page.count("#users-heading").await, 0, "users are for admins");
    let scopes: Vec<String> = page
        .eval("[...document.querySelectorAll('.token-form select[name=scope] option')].map(o => o.value)")
        .await;
    assert_eq!(scopes, ["read"]);
    page.fill(".token-form [data-field=name] input", "grafana").await;
    page.click(".token-form button[type=submit]").await;
    page.wait_visible(".token-reveal .token-value").await;
    let token: String = page
        .eval("document.querySelector('.token-reveal .token-value').value")
        .await;
    assert!(token.starts_with("hw_"), "{token}");
    page.wait_for(
        "document.querySelectorAll('.tokens tbody tr[data-token-id]').length === 1",
        "the token listed",
    )
    .await;
    let reads = app
        .anonymous
        .get(format!("{}/api/v1/dashboard", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(reads.status(), StatusCode::OK);

    page.click(".tokens tbody tr[data-token-id] button").await;
    page.wait_visible("dialog[open]").await;
    page.click("dialog[open] button[type=submit]").await;
    page.wait_for(
        "!document.querySelector('.tokens tbody tr[data-token-id]')",
        "the token to go",
    )
    .await;
    let revoked = app
        .anonymous
        .get(format!("{}/api/v1/dashboard", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_promotes_and_deletes_users_in_settings() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let page = signed_in(&app, &browser, "/settings", Screen::DESKTOP).await;
    page.wait_visible(".user-form").await;
    page.wait_for(
        "document.querySelectorAll('.users tbody tr').length === 1",
        "the admin listed",
    )
    .await;
    page.fill(".user-form [data-field=username] input", "sam").await;
    page.fill(".user-form [data-field=password] input", "short").await;
    page.click(".user-form button[type=submit]").await;
    page.wait_visible(".user-form [data-field=password] .field-error")
        .await;
    assert!(
        page.text(".user-form [data-field=password] .field-error")
            .await
            .contains("at least 10")
    );
    page.fill(".user-form [data-field=password] input", "sam-password")
        .await;
    page.click(".user-form button[type=submit]").await;
    page.wait_for(
        "document.querySelectorAll('.users tbody tr').length === 2",
        "sam listed",
    )
    .await;
    let sam = app.store.find_user("sam").await.unwrap().unwrap().user;
    assert_eq!(sam.role.as_str(), "viewer");

    page.select(&format!(".users tr[data-user-id=\"{}\"] select", sam.id), "admin")
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.store.get_user(sam.id).await.unwrap().user.role.as_str() != "admin" {
        assert!(
            std::time::Instant::now() < deadline,
            "the role change did not land"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    page.click(&format!(
        ".users tr[data-user-id=\"{}\"] button.button-danger",
        sam.id
    ))
    .await;
    page.wait_visible("dialog[open]").await;
    page.click("dialog[open] button[type=submit]").await;
    page.wait_for(
        "document.querySelectorAll('.users tbody tr').length === 1",
        "sam gone",
    )
    .await;
    assert!(app.store.find_user("sam").await.unwrap().is_none());
    let shot = page.screenshot("settings-light-desktop").await;
    assert!(std::fs::metadata(shot).unwrap().len() > 10_000);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_dashboard_is_read_without_signing_in() {
    let app = App::on(Backend::Sqlite)
        .access(AccessConfig {
            public_dashboard: true,
            ..AccessConfig::default()
        })
        .start()
        .await;
    let group = app.group("Public").await;
    let status_tile = app.service(group, "Status", json!({})).await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let page = browser.open(&app.base, Screen::DESKTOP).await;
    page.wait_visible(".tile").await;
    assert_eq!(page.count("#add-tile, #edit-toggle").await, 0);
    assert_eq!(page.text("#sign-in").await, "Sign in");
    page.click(&format!("{} .tile-details", tile(status_tile))).await;
    page.wait_visible(".service-header h1").await;
    assert_eq!(page.count(".service-actions button").await, 0);
    page.wait_for(
        "document.querySelector('#connection').dataset.mode === 'live'",
        "the live stream, anonymously",
    )
    .await;
    page.click("#sign-in").await;
    sign_in_through_the_page(&page, common::ADMIN, common::ADMIN_PASSWORD).await;
    page.wait_visible("#add-tile").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_docs_render_under_their_own_content_security_policy() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let page = signed_in(&app, &browser, "/api/docs", Screen::DESKTOP).await;
    page.wait_for(
        "document.querySelectorAll('.opblock').length > 20",
        "Swagger UI to list the operations",
    )
    .await;
    assert!(page.text(".swagger-ui").await.contains("Homewatch"));
    browser.close().await;
}

/// Alerts and maintenance in the page: a channel added through its kind's form and tested (the reply shown),
/// a tile told through a channel from its own edit form, the delivery log with "Send again", and a maintenance
/// window planned now that marks the tile on the start page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_the_delivery_log_and_maintenance_in_the_page() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let receiver = common::receivers::Receiver::start().await;
    let (url, status) = switchable_target().await;
    let tile_id = watched_tile(&app, "Media", &url).await;
    let page = signed_in(&app, &browser, "/alerts", Screen::DESKTOP).await;
    page.wait_visible("#add-channel").await;

    // A webhook channel through the form; a wrong URL is named next to its field first.
    page.click("#add-channel").await;
    page.fill(&field("name"), "Team hook").await;
    page.select(&field("settings.kind"), "webhook").await;
    page.fill(&field("settings.url"), "htp:/typo").await;
    submit_dialog(&page).await;
    page.wait_for(
        &format!(
            "document.querySelector({})?.textContent.length > 0",
            js_string(&field_error("settings.url"))
        ),
        "the URL's error next to it",
    )
    .await;
    page.fill(&field("settings.url"), &format!("{}/hook", receiver.base))
        .await;
    submit_dialog(&page).await;
    dialog_closed(&page).await;
    page.wait_visible("[data-channel] [data-test]").await;
    page.click("[data-channel] [data-test]").await;
    page.wait_for(
        "document.querySelector('.test-reply')?.textContent.startsWith('Delivered')",
        "the provider's reply",
    )
    .await;
    assert_eq!(receiver.accepted()[0].body["event"], "test");

    // A channel for chosen tiles only, joined from the tile's edit form.
    let chosen = app
        .post(
            "/api/v1/channels",
            json!({ "name": "Only some", "settings": { "kind": "ntfy", "server_url": receiver.base, "topic": "some" } }),
        )
        .await;
    let chosen_id = chosen.body["id"].as_i64().unwrap();
    page.goto(&format!("{}/services/{tile_id}", app.base)).await;
    page.wait_visible("[data-action=edit]").await;
    open_edit_dialog(&page).await;
    page.wait_visible(&format!("dialog [data-channel=\"{chosen_id}\"] input"))
        .await;
    page.click(&format!("dialog [data-channel=\"{chosen_id}\"] input"))
        .await;
    submit_dialog(&page).await;
    dialog_closed(&page).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.get(&format!("/api/v1/channels/{chosen_id}")).await.body["services"] != json!([tile_id]) {
        assert!(
            std::time::Instant::now() < deadline,
            "the tile never joined the channel"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The tile goes down: the log shows each delivery, and one can be sent again.
    status.store(500, Ordering::SeqCst);
    app.post(&format!("/api/v1/services/{tile_id}/check"), json!({}))
        .await;
    receiver
        .wait_until(Duration::from_secs(10), "two down alerts", |got| got.len() >= 3)
        .await;
    page.goto(&format!("{}/alerts", app.base)).await;
    page.wait_for(
        "document.querySelectorAll('[data-notification][data-status=delivered]').length === 2",
        "two delivered notifications in the log",
    )
    .await;
    page.click("[data-resend]").await;
    receiver
        .wait_until(Duration::from_secs(10), "the repeat", |got| got.len() >= 4)
        .await;

    // Maintenance planned now marks the tile on the start page.
    page.goto(&format!("{}/maintenance", app.base)).await;
    page.wait_visible("#plan-maintenance").await;
    page.click("#plan-maintenance").await;
    page.fill(&field("title"), "Disk swap").await;
    page.fill(&field("duration_min"), "30").await;
    submit_dialog(&page).await;
    dialog_closed(&page).await;
    page.wait_for(
        "document.querySelector('[data-window][data-active=true]') !== null",
        "the active window in the list",
    )
    .await;
    page.screenshot("alerts-maintenance").await;
    page.goto(&format!("{}/", app.base)).await;
    badge_is(&page, tile_id, "maintenance").await;
    let errors = page.errors();
    assert!(errors.is_empty(), "no script errors: {errors:?}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_tile_shows_its_url_and_a_slow_run_shows_degraded() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let group = app.group("Jobs").await;
    let created = app
        .post(
            "/api/v1/services",
            json!({ "group_id": group, "name": "Backup", "url": "http://nas.lan/",
                    "check": { "kind": "push", "interval_s": 3600, "degraded_above_ms": 1000 } }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    let token = created.body["check"]["token"].as_str().unwrap().to_owned();

    // The service page gives the URL with lines to copy.
    let page = signed_in(&app, &browser, &format!("/services/{id}"), Screen::DESKTOP).await;
    page.wait_visible("[data-push-line]").await;
    let lines: Vec<String> = page
        .eval("[...document.querySelectorAll('[data-push-line]')].map((line) => line.textContent)")
        .await;
    let url = format!("{}/api/v1/push/{token}", app.base);
    assert!(
        lines[0].starts_with("curl ") && lines[0].ends_with(&url),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("wget ") && lines[1].contains(&url),
        "{lines:?}"
    );
    assert_eq!(page.count("[data-action=check]").await, 0, "nothing to check now");
    // The edit form shows a push check's own fields, not a target.
    open_edit_dialog(&page).await;
    page.wait_visible(&field("check.schedule")).await;
    let target_hidden: bool = page
        .eval("document.querySelector('dialog [data-field=\"check.target\"]').hidden")
        .await;
    assert!(target_hidden, "a push check has no target");

    // A run slower than degraded_above_ms: amber on the start page, counted apart.
    let call = reqwest::get(format!("{url}?duration_ms=5000")).await.unwrap();
    assert_eq!(call.status(), StatusCode::OK);
    page.goto(&format!("{}/", app.base)).await;
    badge_is(&page, id, "degraded").await;
    let summary = page.text("#summary").await;
    assert!(summary.contains("1 degraded"), "{summary}");
    page.screenshot("push-degraded").await;
    let errors = page.errors();
    assert!(errors.is_empty(), "no script errors: {errors:?}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_page_is_made_in_the_page_reads_without_javascript_and_updates_live_with_it() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let (url, status) = switchable_target().await;
    let nas = watched_tile(&app, "Home", &url).await;
    let home = app.get("/api/v1/groups").await.body[0]["id"].as_i64().unwrap();
    app.service(home, "Router", json!({})).await;
    let private = app.group("Private").await;
    app.service(private, "Secret-Box", json!({})).await;
    app.post(&format!("/api/v1/services/{nas}/check"), json!({}))
        .await;

    // An admin makes the page and writes a post through the page.
    let admin = signed_in(&app, &browser, "/status-pages", Screen::DESKTOP).await;
    admin.wait_visible("#new-status-page").await;
    admin.click("#new-status-page").await;
    admin.fill(&field("title"), "Family status").await;
    admin.click(&field("published")).await;
    admin
        .click(&format!("dialog input[data-kind=group][value=\"{home}\"]"))
        .await;
    submit_dialog(&admin).await;
    dialog_closed(&admin).await;
    admin
        .wait_visible("[data-page] a[href=\"/status/family-status\"]")
        .await;
    admin.click("#new-post").await;
    admin.fill(&field("title"), "Slow media at night").await;
    admin
        .fill(&field("body"), "Backups run at **02:00**; films may stutter.")
        .await;
    admin
        .click(&format!("dialog input[data-kind=tile][value=\"{nas}\"]"))
        .await;
    submit_dialog(&admin).await;
    dialog_closed(&admin).await;
    admin.wait_visible("[data-post]").await;
    admin.screenshot("status-pages-admin").await;
    let pages = app.get("/api/v1/status-pages").await;
    assert_eq!(
        pages.body[0]["sections"],
        json!([{ "name": null, "group_id": home, "services": [] }])
    );
    assert!(pages.body[0]["published"].as_bool().unwrap());

    // A visitor with JavaScript off reads it all: the server wrote it.
    let address = format!("{}/status/family-status", app.base);
    for (name, screen) in [
        ("status-nojs-light-desktop", Screen::DESKTOP),
        ("status-nojs-dark-phone", Screen::PHONE.dark()),
    ] {
        let visitor = browser.open("about:blank", screen).await;
        visitor.set_javascript(false).await;
        visitor.goto(&address).await;
        visitor.wait_visible("h1").await;
        let text = visitor.text("main").await;
        assert!(
            text.contains("Family status") && text.contains("Target") && text.contains("Router"),
            "{text}"
        );
        assert!(text.contains("All systems operational"), "{text}");
        assert!(
            text.contains("Slow media at night") && text.contains("02:00"),
            "{text}"
        );
        assert!(
            !text.contains("Secret-Box") && !text.contains("Private"),
            "{text}"
        );
        assert_eq!(visitor.count(".live").await, 0, "no script ran");
        assert_eq!(
            visitor.count(".tile .bars").await,
            1,
            "a tile that is only a link has no bars"
        );
        let shot = visitor.screenshot(name).await;
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 10_000,
            "{name} has content"
        );
        visitor.close().await;
    }

    // With JavaScript on it follows the tile without a reload.
    let visitor = browser.open(&address, Screen::DESKTOP.dark()).await;
    visitor
        .wait_for("document.querySelector('.live') !== null", "the live line")
        .await;
    visitor.eval::<Value>("window.stayed = true").await;
    status.store(500, Ordering::SeqCst);
    app.post(&format!("/api/v1/services/{nas}/check"), json!({}))
        .await;
    visitor
        .wait_for(
            "document.querySelector('.overall')?.textContent.includes('outage') && \
             document.querySelector('.state.down') !== null",
            "the page to show the tile down",
        )
        .await;
    assert!(visitor.eval::<bool>("window.stayed === true").await, "no reload");
    visitor.screenshot("status-live-dark-desktop").await;
    visitor.set_screen(Screen::PHONE).await;
    let shot = visitor.screenshot("status-live-light-phone").await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    let width: f64 = visitor.eval("document.documentElement.scrollWidth").await;
    assert!(width <= 390.0, "the page fits a phone: {width}px wide");

    // A tile with public badges shows them, drawn, with the Markdown to embed each.
    app.patch(&format!("/api/v1/services/{nas}"), json!({ "badges": true }))
        .await;
    admin.goto(&format!("{}/services/{nas}", app.base)).await;
    admin
        .wait_for(
            "[...document.querySelectorAll('.badge-lines img')].length === 3 && \
             [...document.querySelectorAll('.badge-lines img')].every((i) => i.complete && i.naturalWidth > 0)",
            "three badges drawn on the tile's page",
        )
        .await;
    assert!(
        admin
            .text(".badge-lines")
            .await
            .contains(&format!("/badge/{nas}/status.svg)"))
    );
    let errors = visitor.errors();
    assert!(errors.is_empty(), "no script errors: {errors:?}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tools_file_is_imported_from_the_page_after_its_plan() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let page = signed_in(&app, &browser, "/import", Screen::DESKTOP).await;
    page.wait_visible("#import-preview").await;
    let homepage = "- Media:\n    - Jellyfin:\n        href: http://jellyfin.lan:8096\n        icon: jellyfin.png\n        \
                    siteMonitor: http://jellyfin.lan:8096\n        widget: {type: jellyfin, key: k3y}\n    - Downloads:\n        \
                    - Sonarr: {href: \"https://sonarr.lan\"}\n";
    page.eval::<Value>(&format!(
        "(() => {{ document.querySelector('.import-form [data-field=\"text\"] textarea').value = {}; return null; }})()",
        serde_json::to_string(homepage).unwrap()
    ))
    .await;
    page.click("#import-preview").await;
    page.wait_visible("#import-plan li[data-key=\"Media / Jellyfin\"]")
        .await;
    let plan = page.text("#import-plan").await;
    assert!(
        plan.contains("+ tile") && plan.contains("Media / Downloads / Sonarr"),
        "{plan}"
    );
    let skipped = page.text("#import-skipped").await;
    assert!(
        skipped.contains("Media / Jellyfin") && skipped.contains("widget"),
        "{skipped}"
    );
    assert!(!skipped.contains("k3y"), "{skipped}");
    assert_eq!(
        app.get("/api/v1/services").await.body["items"],
        json!([]),
        "the plan changed nothing"
    );
    page.screenshot("import-plan").await;

    page.click("#import-apply").await;
    page.wait_for(
        "document.querySelector('#import-plan h2')?.textContent === 'Imported'",
        "the import to land",
    )
    .await;
    let dashboard = app.get("/api/v1/dashboard").await;
    let groups: Vec<&str> = dashboard.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["Media", "Media / Downloads"]);
    assert_eq!(
        dashboard.body["groups"][0]["services"][0]["check"]["kind"],
        "http"
    );

    // The same file again: nothing to do.
    page.click("#import-preview").await;
    page.wait_for(
        "document.querySelector('#import-plan')?.textContent.includes('nothing to change')",
        "an empty plan",
    )
    .await;
    assert_eq!(page.count("#import-apply").await, 0);
}

/// A change made elsewhere (another tab, a script, another replica) shows on an open page at once, through
/// the event stream's `config_changed`, not at the page's minute-long refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_elsewhere_show_on_an_open_page_at_once() {
    let Some((app, browser)) = start().await else {
        return;
    };
    let group = app.group("Home").await;
    app.service(group, "Router", json!({ "url": "https://router.lan" }))
        .await;
    let page = signed_in(&app, &browser, "/", Screen::DESKTOP).await;
    page.wait_for("document.querySelectorAll('.tile').length === 1", "one tile")
        .await;
    // The page's stream is open before the change is made.
    page.wait_for(
        "document.getElementById('connection')?.dataset.mode === 'live'",
        "the live stream",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    app.service(group, "Printer", json!({ "url": "https://printer.lan" }))
        .await;
    page.wait_for(
        "[...document.querySelectorAll('.tile-name')].some((name) => name.textContent === 'Printer')",
        "the tile made elsewhere",
    )
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "shown after {:?}, long before the page's own refresh",
        started.elapsed()
    );
}
