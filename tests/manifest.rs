//! Configuration as code against the real server on both stores: export → apply to a fresh store → export
//! is identical; applying twice changes nothing; a dry run changes nothing; a failed apply leaves the store as
//! it was; prune deletes only when asked; errors name the line and field; the committed JSON Schema is the
//! one the code makes.

mod common;

use common::{App, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_every_store!(
    export_then_apply_to_a_fresh_store_gives_the_same_export,
    a_dry_run_changes_nothing_and_shows_each_field,
    a_failed_apply_leaves_the_store_as_it_was,
    prune_deletes_only_when_asked,
    errors_name_the_line_and_the_field,
    a_tile_moves_only_between_groups_the_document_describes,
);

const SAMPLE: &str = r#"
version: 1
groups:
  - name: Media
    tiles:
      - name: Jellyfin
        url: http://jellyfin.lan:8096
        icon: jellyfin
        tags: [Media, video]
        check: {kind: http, interval_s: 30, expected_status: "200-299,301"}
      - name: Sonarr
        url: https://sonarr.lan
        description: TV
        check:
          kind: keyword
          keyword: Sonarr
          headers: {X-Api-Key: abc123}
  - name: Network
    tiles:
      - name: Router
        url: http://192.168.1.1
        paused: true
        check: {kind: tcp, target: "192.168.1.1:443"}
      - name: Backups
        url: https://backup.lan
        badges: true
        check: {kind: push, schedule: "30 3 * * *", timezone: Europe/Berlin}
channels:
  - name: Phone
    settings: {kind: ntfy, server_url: "https://ntfy.sh", topic: homelab, token: tk_secret_1}
    groups: [Media]
    tiles: [{group: Network, tile: Router}]
    remind_every_min: 60
maintenance:
  - title: Sunday backups
    starts_at: 2026-11-29T03:00:00Z
    duration_min: 60
    rrule: FREQ=WEEKLY;BYDAY=SU
    timezone: Europe/Berlin
    groups: [Media]
status_pages:
  - slug: family
    title: Is it down?
    published: true
    sections:
      - group: Media
      - name: Net
        tiles: [{group: Network, tile: Router}]
"#;

async fn apply(app: &TestApp, query: &str, content_type: &str, body: String) -> common::Reply {
    app.raw(
        Method::POST,
        &format!("/api/v1/config/apply{query}"),
        content_type,
        body,
    )
    .await
}

async fn export(app: &TestApp) -> Value {
    let reply = app.get("/api/v1/config?include_secrets=true").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

async fn export_then_apply_to_a_fresh_store_gives_the_same_export(backend: Backend) {
    let first = App::on(backend).start().await;
    let reply = apply(&first, "", "application/yaml", SAMPLE.to_owned()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["applied"], true);
    assert_eq!(
        reply.body["created"], 9,
        "2 groups, 4 tiles, a channel, a window, a page: {}",
        reply.text
    );
    let exported = export(&first).await;
    assert_eq!(
        exported["groups"][0]["tiles"][0]["tags"],
        json!(["media", "video"])
    );
    assert_eq!(exported["groups"][1]["tiles"][0]["paused"], true);
    assert_eq!(exported["channels"][0]["settings"]["token"], "tk_secret_1");
    let token = exported["groups"][1]["tiles"][1]["check"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token.len() >= 16, "a push tile got its token: {exported}");

    // The same document again changes nothing.
    let again = apply(&first, "", "application/yaml", SAMPLE.to_owned()).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["applied"], false);
    assert_eq!(again.body["changes"], json!([]), "{}", again.text);

    // Its export, applied to a fresh store, exports the same (the push token travels too).
    let second = App::on(backend).start().await;
    let reply = apply(&second, "", "application/json", exported.to_string()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(export(&second).await, exported);
    let again = apply(&second, "", "application/json", exported.to_string()).await;
    assert_eq!(again.body["changes"], json!([]), "{}", again.text);

    // Without include_secrets, secrets are references, never values.
    let plain = first.get("/api/v1/config").await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(
        !plain.text.contains("tk_secret_1") && !plain.text.contains("abc123") && !plain.text.contains(&token)
    );
    assert_eq!(
        plain.body["channels"][0]["settings"]["token"],
        "${HOMEWATCH_SECRET_CHANNEL_PHONE_TOKEN}"
    );
    // The tiles are really there for the rest of the API.
    let dashboard = first.get("/api/v1/dashboard").await;
    let names: Vec<&str> = dashboard.body["groups"][1]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Router", "Backups"]);
}

async fn a_dry_run_changes_nothing_and_shows_each_field(backend: Backend) {
    let app = App::on(backend).start().await;
    apply(&app, "", "application/yaml", SAMPLE.to_owned()).await;
    let before = export(&app).await;
    let changed = SAMPLE.replace("interval_s: 30", "interval_s: 45").replace(
        "  - name: Network\n",
        "  - name: Lab\n    tiles: [{name: Printer, url: \"http://printer.lan\"}]\n  - name: Network\n",
    );
    let reply = apply(&app, "?dry_run=true", "application/yaml", changed.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["applied"], false);
    assert_eq!(export(&app).await, before, "a dry run changed the store");
    let changes = reply.body["changes"].as_array().unwrap();
    let jellyfin = changes
        .iter()
        .find(|c| c["key"] == "Media / Jellyfin")
        .expect("the changed tile is in the plan");
    assert_eq!(jellyfin["action"], "change");
    assert_eq!(
        jellyfin["fields"],
        json!([{ "field": "check.interval_s", "before": "30", "after": "45" }]),
        "only the field that changes"
    );
    assert!(
        changes
            .iter()
            .any(|c| c["key"] == "Lab" && c["action"] == "create")
    );
    assert!(
        changes
            .iter()
            .any(|c| c["key"] == "Lab / Printer" && c["action"] == "create")
    );
    assert!(
        !reply.text.contains("abc123") && !reply.text.contains("tk_secret_1"),
        "a plan never shows secrets: {}",
        reply.text
    );
    // Applied for real, the same plan lands.
    let reply = apply(&app, "", "application/yaml", changed).await;
    assert_eq!(reply.body["applied"], true);
    let after = export(&app).await;
    assert_eq!(after["groups"][0]["tiles"][0]["check"]["interval_s"], 45);
    assert_eq!(after["groups"][1]["name"], "Lab");
}

async fn a_failed_apply_leaves_the_store_as_it_was(backend: Backend) {
    let app = App::on(backend).start().await;
    apply(&app, "", "application/yaml", SAMPLE.to_owned()).await;
    let before = export(&app).await;
    let token = before["groups"][1]["tiles"][1]["check"]["token"]
        .as_str()
        .unwrap();
    // Passes every rule of the document, but its last tile takes a push token another tile holds: the store
    // refuses that step after making the earlier ones, and everything rolls back.
    let failing = SAMPLE.replace(
        "channels:",
        &format!(
            "  - name: Zeta\n    tiles:\n      - {{name: One, url: \"http://one.lan\"}}\n      - name: Two\n        url: http://two.lan\n        check: {{kind: push, token: {token}}}\nchannels:"
        ),
    );
    let reply = apply(&app, "", "application/yaml", failing).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert!(reply.text.contains("token"), "{}", reply.text);
    assert_eq!(export(&app).await, before, "a failed apply left changes behind");
    let groups = app.get("/api/v1/groups").await;
    assert_eq!(groups.body.as_array().unwrap().len(), 2, "{}", groups.text);
}

async fn prune_deletes_only_when_asked(backend: Backend) {
    let app = App::on(backend).start().await;
    apply(&app, "", "application/yaml", SAMPLE.to_owned()).await;
    let only_media = "version: 1\ngroups:\n  - name: Media\n    tiles:\n      - {name: Jellyfin, url: \"http://jellyfin.lan:8096\"}\n";
    let kept = apply(&app, "", "application/yaml", only_media.to_owned()).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.text);
    assert_eq!(kept.body["deleted"], 0, "{}", kept.text);
    assert_eq!(export(&app).await["groups"].as_array().unwrap().len(), 2);

    let pruned = apply(&app, "?prune=true", "application/yaml", only_media.to_owned()).await;
    assert_eq!(pruned.status, StatusCode::OK, "{}", pruned.text);
    let deleted: Vec<String> = pruned.body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "delete")
        .map(|c| format!("{} {}", c["kind"].as_str().unwrap(), c["key"].as_str().unwrap()))
        .collect();
    for gone in [
        "tile Media / Sonarr",
        "tile Network / Router",
        "group Network",
        "channel Phone",
        "maintenance Sunday backups",
        "status_page family",
    ] {
        assert!(deleted.contains(&gone.to_owned()), "{gone} not in {deleted:?}");
    }
    let after = export(&app).await;
    assert_eq!(
        after,
        json!({"version": 1, "groups": [{"name": "Media", "tiles": [{"name": "Jellyfin",
            "url": "http://jellyfin.lan:8096", "description": "", "tags": [], "badges": false, "paused": false}]}],
            "channels": [], "maintenance": [], "status_pages": []})
    );
}

async fn errors_name_the_line_and_the_field(backend: Backend) {
    let app = App::on(backend).start().await;
    let bad = "version: 1\ngroups:\n  - name: Media\n    tiles:\n      - name: Jellyfin\n        url: htp//jellyfin\n";
    let reply = apply(&app, "", "application/yaml", bad.to_owned()).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
    let error = &reply.body["errors"][0];
    assert_eq!(error["field"], "groups[0].tiles[0].url");
    assert!(
        error["message"].as_str().unwrap().ends_with("(line 6)"),
        "{}",
        reply.text
    );

    let wrong_type = "version: 1\ngroups:\n  - name: Media\n    tiles:\n      - name: Jellyfin\n        url: http://j.lan\n        check: {kind: http, interval_s: often}\n";
    let reply = apply(&app, "", "application/yaml", wrong_type.to_owned()).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
    assert_eq!(
        reply.body["errors"][0]["field"],
        "groups[0].tiles[0].check.interval_s"
    );
    assert!(reply.text.contains("line 7"), "{}", reply.text);

    let unknown_ref =
        "version: 1\nchannels:\n  - name: X\n    settings: {kind: ntfy, topic: t}\n    groups: [Nope]\n";
    let reply = apply(&app, "", "application/yaml", unknown_ref.to_owned()).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
    assert_eq!(reply.body["errors"][0]["field"], "channels[0].groups[0]");
    assert!(
        reply.text.contains("no group named `Nope`") && reply.text.contains("line 5"),
        "{}",
        reply.text
    );

    let env = "version: 1\nchannels:\n  - name: X\n    settings: {kind: ntfy, topic: t, token: \"${DATABASE_URL}\"}\n";
    let reply = apply(&app, "", "application/yaml", env.to_owned()).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
    assert!(reply.text.contains("HOMEWATCH_SECRET_"), "{}", reply.text);

    let broken = "version: 1\ngroups: [\n";
    let reply = apply(&app, "", "application/yaml", broken.to_owned()).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
    assert!(reply.text.contains("not valid YAML"), "{}", reply.text);

    let reply = apply(&app, "", "text/plain", "version: 1".to_owned()).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", reply.text);
    // Nothing landed.
    assert_eq!(
        export(&app).await,
        json!({"version": 1, "groups": [], "channels": [], "maintenance": [], "status_pages": []})
    );
}

#[test]
fn the_committed_json_schema_is_the_one_the_code_makes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/homewatch-config.schema.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let made = serde_json::to_string_pretty(&homewatch::manifest::json_schema()).unwrap() + "\n";
    assert!(
        committed == made,
        "homewatch-config.schema.json is stale: run `cargo run -- config-schema > homewatch-config.schema.json`"
    );
}

async fn a_tile_moves_only_between_groups_the_document_describes(backend: Backend) {
    let app = App::on(backend).start().await;
    apply(&app, "", "application/yaml", SAMPLE.to_owned()).await;
    let id_of = |body: &Value, name: &str| -> i64 {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let before = app.get("/api/v1/services").await.body;
    let router = id_of(&before, "Router");

    // A document about a new group only says nothing about Network: its Router stays, a new one is made.
    let other =
        "version: 1\ngroups:\n  - name: Home\n    tiles:\n      - {name: Router, url: \"http://10.0.0.1\"}\n";
    let reply = apply(&app, "?dry_run=true", "application/yaml", other.to_owned()).await;
    assert!(
        reply.text.contains("\"key\":\"Home / Router\"") && reply.text.contains("\"action\":\"create\""),
        "{}",
        reply.text
    );

    // A document that describes both groups and puts Router under Media moves it: same tile, history kept.
    let moved = SAMPLE.replace(
        "      - name: Router\n        url: http://192.168.1.1\n        paused: true\n        check: {kind: tcp, target: \"192.168.1.1:443\"}\n",
        "",
    )
    .replace(
        "      - name: Sonarr\n",
        "      - name: Router\n        url: http://192.168.1.1\n        paused: true\n        check: {kind: tcp, target: \"192.168.1.1:443\"}\n      - name: Sonarr\n",
    )
    .replace("{group: Network, tile: Router}", "{group: Media, tile: Router}");
    let reply = apply(&app, "", "application/yaml", moved).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["created"], 0, "{}", reply.text);
    let after = app.get("/api/v1/services").await.body;
    assert_eq!(id_of(&after, "Router"), router);
    let exported = export(&app).await;
    let media: Vec<&str> = exported["groups"][0]["tiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(media, ["Jellyfin", "Router", "Sonarr"]);
}
