//! The REST API over real HTTP on a real port, on each store: every endpoint, every error shape.

mod common;

use common::{App, Backend, TestDb, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_every_store!(
    groups_round_trip,
    group_bodies_are_validated_field_by_field,
    malformed_and_oversized_bodies_are_refused,
    duplicate_group_names_conflict,
    services_round_trip_with_location_and_normalised_fields,
    service_bodies_name_every_bad_field,
    service_lists_filter_and_page,
    list_parameters_are_validated,
    groups_and_services_reorder,
    deleting_a_group_with_tiles_needs_cascade,
    unknown_ids_and_paths_are_404_problems,
    dashboard_has_groups_and_tiles_in_order,
    probes_report_the_store,
    data_survives_a_restart,
    spec_docs_and_web_app_are_served,
    checks_are_validated_and_follow_the_url,
    a_method_a_path_does_not_take_is_405_with_allow_and_honest_encoding,
    dates_at_the_edges_of_time_are_answered_not_panicked_on,
    bodies_are_read_as_their_json_schema_says,
);

async fn groups_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.post("/api/v1/groups", json!({ "name": "  Media " })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/groups/{id}").as_str())
    );
    assert_eq!(created.body["name"], "Media", "names are trimmed");
    assert_eq!(created.body["position"], 0);
    let created_at = created.body["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok_and(|t| t.offset().local_minus_utc() == 0)
    );

    assert_eq!(app.get(&format!("/api/v1/groups/{id}")).await.body, created.body);
    let renamed = app
        .patch(&format!("/api/v1/groups/{id}"), json!({ "name": "Movies" }))
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.body["name"], "Movies");
    let unchanged = app.patch(&format!("/api/v1/groups/{id}"), json!({})).await;
    assert_eq!(unchanged.body["name"], "Movies", "an empty patch changes nothing");

    let list = app.get("/api/v1/groups").await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["name"], "Movies");

    let deleted = app.delete(&format!("/api/v1/groups/{id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.text.is_empty());
    app.get(&format!("/api/v1/groups/{id}")).await.problem(404);
}

async fn group_bodies_are_validated_field_by_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (json!({ "name": "" }), "name"),
        (json!({ "name": "   " }), "name"),
        (json!({ "name": "x".repeat(101) }), "name"),
        (json!({ "name": 42 }), "name"),
        (json!({}), "name"),
        (json!({ "name": "ok", "colour": "red" }), "colour"),
    ];
    for (body, field) in cases {
        let reply = app.post("/api/v1/groups", body.clone()).await;
        assert_eq!(reply.invalid_fields(), [field], "{body}: {}", reply.text);
    }
    let unknown = app
        .post("/api/v1/groups", json!({ "name": "ok", "colour": "red" }))
        .await;
    assert!(
        unknown.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`")
    );
    let missing = app.post("/api/v1/groups", json!({})).await;
    assert_eq!(missing.body["errors"][0]["message"], "is required");
    let hundred = app
        .post("/api/v1/groups", json!({ "name": "é".repeat(100) }))
        .await;
    assert_eq!(
        hundred.status,
        StatusCode::CREATED,
        "100 characters is the limit, not 100 bytes"
    );
    assert_eq!(
        app.get("/api/v1/groups").await.body.as_array().unwrap().len(),
        1,
        "refused bodies stored nothing"
    );
}

async fn malformed_and_oversized_bodies_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let broken = app
        .raw(
            Method::POST,
            "/api/v1/groups",
            "application/json",
            r#"{"name": "x""#,
        )
        .await;
    assert!(
        broken.problem(400)["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let empty = app
        .raw(Method::POST, "/api/v1/groups", "application/json", "")
        .await;
    empty.problem(400);
    let trailing = app
        .raw(
            Method::POST,
            "/api/v1/groups",
            "application/json",
            r#"{"name":"a"} x"#,
        )
        .await;
    trailing.problem(400);
    let form = app
        .raw(
            Method::POST,
            "/api/v1/groups",
            "application/x-www-form-urlencoded",
            "name=x",
        )
        .await;
    assert!(
        form.problem(415)["detail"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    let huge = json!({ "name": "x".repeat(1024 * 1024 + 10) }).to_string();
    let too_big = app
        .raw(Method::POST, "/api/v1/groups", "application/json", huge)
        .await;
    too_big.problem(413);
    assert!(
        app.get("/api/v1/groups")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn duplicate_group_names_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    app.group("Media").await;
    let clash = app.post("/api/v1/groups", json!({ "name": "media" })).await;
    let problem = clash.problem(409);
    assert_eq!(problem["errors"][0]["field"], "name");
    assert!(problem["detail"].as_str().unwrap().contains("already exists"));
}

async fn services_round_trip_with_location_and_normalised_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let group = app.group("Media").await;
    let created = app
        .post(
            "/api/v1/services",
            json!({
                "group_id": group, "name": " Jellyfin ", "url": "https://jellyfin.lan:8096/web",
                "description": "Films", "icon": "🎬", "tags": ["Media", "media", " Video "]
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/services/{id}").as_str())
    );
    assert_eq!(created.body["url"], "https://jellyfin.lan:8096/web");
    assert_eq!(created.body["name"], "Jellyfin", "names are stored trimmed");
    assert_eq!(created.body["tags"], json!(["media", "video"]));
    assert_eq!(created.body["group_id"], group);
    assert_eq!(
        app.get(&format!("/api/v1/services/{id}")).await.body,
        created.body
    );

    let patched = app
        .patch(
            &format!("/api/v1/services/{id}"),
            json!({ "icon": null, "description": "All films" }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["icon"], Value::Null);
    assert_eq!(patched.body["description"], "All films");
    assert_eq!(patched.body["tags"], json!(["media", "video"]));

    let other = app.group("Other").await;
    app.service(other, "First there", json!({})).await;
    let moved = app
        .patch(&format!("/api/v1/services/{id}"), json!({ "group_id": other }))
        .await;
    assert_eq!(
        (moved.body["group_id"].as_i64(), moved.body["position"].as_i64()),
        (Some(other), Some(1))
    );

    assert_eq!(
        app.delete(&format!("/api/v1/services/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    app.get(&format!("/api/v1/services/{id}")).await.problem(404);
}

async fn service_bodies_name_every_bad_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let group = app.group("G").await;
    let all_wrong = app
        .post(
            "/api/v1/services",
            json!({ "group_id": group, "name": "", "url": "htp://nas.lan", "icon": "two words", "tags": ["ok", ""] }),
        )
        .await;
    assert_eq!(all_wrong.invalid_fields(), ["name", "url", "icon", "tags[1]"]);
    let url_message = all_wrong.body["errors"][1]["message"].as_str().unwrap();
    assert!(
        url_message.contains("htp") && url_message.contains("https://"),
        "says what is wrong and what fits: {url_message}"
    );

    for (url, hint) in [
        ("nas.lan", "not a valid URL"),
        ("ftp://nas.lan", "scheme `ftp`"),
        ("http://", ""),
    ] {
        let reply = app
            .post(
                "/api/v1/services",
                json!({ "group_id": group, "name": "n", "url": url }),
            )
            .await;
        assert_eq!(reply.invalid_fields(), ["url"], "{url}");
        assert!(
            reply.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(hint),
            "{url}: {}",
            reply.text
        );
    }
    let no_group = app
        .post(
            "/api/v1/services",
            json!({ "group_id": 999_999, "name": "n", "url": "https://a.lan" }),
        )
        .await;
    assert!(
        no_group.problem(404)["detail"]
            .as_str()
            .unwrap()
            .contains("group 999999 does not exist"),
        "{}",
        no_group.text
    );
    let wrong_type = app
        .post(
            "/api/v1/services",
            json!({ "group_id": "one", "name": "n", "url": "https://a.lan" }),
        )
        .await;
    assert_eq!(wrong_type.invalid_fields(), ["group_id"]);
    let nested = app
        .post(
            "/api/v1/services",
            json!({ "group_id": group, "name": "n", "url": "https://a.lan", "tags": ["a", 3] }),
        )
        .await;
    assert_eq!(nested.invalid_fields(), ["tags[1]"]);
    let bad_patch = app
        .post(
            "/api/v1/services",
            json!({ "group_id": group, "name": "n", "url": "https://a.lan" }),
        )
        .await;
    let id = bad_patch.body["id"].as_i64().unwrap();
    let reply = app
        .patch(&format!("/api/v1/services/{id}"), json!({ "url": "jellyfin" }))
        .await;
    assert_eq!(reply.invalid_fields(), ["url"]);
    assert_eq!(
        app.get(&format!("/api/v1/services/{id}")).await.body["url"],
        "https://a.lan",
        "nothing changed"
    );
    let clash = app
        .post(
            "/api/v1/services",
            json!({ "group_id": group, "name": "N", "url": "https://b.lan" }),
        )
        .await;
    assert_eq!(clash.problem(409)["errors"][0]["field"], "name");
}

async fn service_lists_filter_and_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let media = app.group("Media").await;
    let infra = app.group("Infra").await;
    let mut all = Vec::new();
    for index in 0..7 {
        let (group, tags) = if index % 2 == 0 {
            (media, json!(["even"]))
        } else {
            (infra, json!(["odd"]))
        };
        all.push(
            app.service(group, &format!("svc {index}"), json!({ "tags": tags }))
                .await,
        );
    }
    all.push(
        app.service(
            media,
            "Jellyfin",
            json!({ "description": "films", "tags": ["Video"] }),
        )
        .await,
    );

    let mut seen = Vec::new();
    let mut path = "/api/v1/services?limit=3".to_owned();
    loop {
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_i64().unwrap()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/services?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, all, "pages cover every service once, in id order");

    let count = |path: String| {
        let app = &app;
        async move {
            app.get(&path).await.body["items"]
                .as_array()
                .map(Vec::len)
                .unwrap()
        }
    };
    assert_eq!(count(format!("/api/v1/services?group_id={media}")).await, 5);
    assert_eq!(count("/api/v1/services?tag=odd".into()).await, 3);
    assert_eq!(
        count("/api/v1/services?tag=VIDEO".into()).await,
        1,
        "tags match without case"
    );
    assert_eq!(
        count(format!("/api/v1/services?tag=even&group_id={infra}")).await,
        0
    );
    assert_eq!(count("/api/v1/services?q=FILMS".into()).await, 1);
    assert_eq!(
        count("/api/v1/services?q=&tag=".into()).await,
        8,
        "empty filters are no filters"
    );
    assert_eq!(count("/api/v1/services".into()).await, 8, "default page of 50");
}

async fn list_parameters_are_validated(backend: Backend) {
    let app = spawn_app(backend).await;
    let zero = app.get("/api/v1/services?limit=0").await;
    assert_eq!(zero.invalid_fields(), ["limit"]);
    assert_eq!(zero.body["errors"][0]["message"], "must be at least 1");
    let big = app.get("/api/v1/services?limit=501").await;
    assert_eq!(big.body["errors"][0]["message"], "must be at most 500");
    assert_eq!(
        app.get("/api/v1/services?limit=lots").await.invalid_fields(),
        ["limit"]
    );
    assert_eq!(
        app.get("/api/v1/services?group_id=x").await.invalid_fields(),
        ["group_id"]
    );
    let cursor = app.get("/api/v1/services?cursor=made-up").await;
    assert_eq!(cursor.invalid_fields(), ["cursor"]);
    assert_eq!(app.get("/api/v1/services?limit=500").await.status, StatusCode::OK);
}

async fn groups_and_services_reorder(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.group("A").await;
    let b = app.group("B").await;
    let reordered = app.put("/api/v1/groups/order", json!({ "ids": [b, a] })).await;
    assert_eq!(reordered.status, StatusCode::OK, "{}", reordered.text);
    assert_eq!(reordered.body[0]["id"], b);
    assert_eq!(reordered.body[0]["position"], 0);
    assert_eq!(app.get("/api/v1/groups").await.body[0]["id"], b);

    let missing = app.put("/api/v1/groups/order", json!({ "ids": [b] })).await;
    assert_eq!(
        missing.problem(409)["errors"][0]["field"],
        "ids",
        "an order that does not match the groups as they are conflicts with them"
    );
    assert!(
        missing.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("missing ids {a}"))
    );
    assert_eq!(
        app.put("/api/v1/groups/order", json!({ "ids": [b, a, a] }))
            .await
            .invalid_fields(),
        ["ids"]
    );

    let x = app.service(a, "X", json!({})).await;
    let y = app.service(a, "Y", json!({})).await;
    let tiles = app
        .put(
            &format!("/api/v1/groups/{a}/services/order"),
            json!({ "ids": [y, x] }),
        )
        .await;
    assert_eq!(tiles.status, StatusCode::OK, "{}", tiles.text);
    assert_eq!(
        (tiles.body[0]["id"].as_i64(), tiles.body[1]["id"].as_i64()),
        (Some(y), Some(x))
    );
    let dashboard = app.get("/api/v1/dashboard").await;
    assert_eq!(dashboard.body["groups"][1]["services"][0]["id"], y);
    app.put("/api/v1/groups/999999/services/order", json!({ "ids": [] }))
        .await
        .problem(404);
    assert_eq!(
        app.put(
            &format!("/api/v1/groups/{b}/services/order"),
            json!({ "ids": [x] })
        )
        .await
        .problem(409)["errors"][0]["field"],
        "ids"
    );
}

async fn deleting_a_group_with_tiles_needs_cascade(backend: Backend) {
    let app = spawn_app(backend).await;
    let group = app.group("Full").await;
    let tile = app.service(group, "Tile", json!({})).await;
    let refused = app.delete(&format!("/api/v1/groups/{group}")).await;
    assert!(
        refused.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("cascade=true")
    );
    assert_eq!(
        app.get(&format!("/api/v1/services/{tile}")).await.status,
        StatusCode::OK
    );
    app.delete(&format!("/api/v1/groups/{group}?cascade=maybe"))
        .await
        .problem(422);
    assert_eq!(
        app.delete(&format!("/api/v1/groups/{group}?cascade=true"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    app.get(&format!("/api/v1/services/{tile}")).await.problem(404);
}

async fn unknown_ids_and_paths_are_404_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    app.get("/api/v1/groups/424242").await.problem(404);
    app.patch("/api/v1/groups/424242", json!({ "name": "x" }))
        .await
        .problem(404);
    app.delete("/api/v1/groups/424242").await.problem(404);
    app.get("/api/v1/services/424242").await.problem(404);
    app.patch("/api/v1/services/424242", json!({ "name": "x" }))
        .await
        .problem(404);
    app.delete("/api/v1/services/424242").await.problem(404);
    app.get("/api/v1/groups/not-a-number").await.problem(404);
    app.get("/api/v1/nothing-here").await.problem(404);
    app.get("/api/v2/groups").await.problem(404);
    let wrong_method = app.call(Method::PUT, "/api/v1/dashboard", Some(json!({}))).await;
    wrong_method.problem(405);
    assert!(
        wrong_method
            .header("x-request-id")
            .is_some_and(|id| id.len() >= 32),
        "every response has a request id"
    );
}

async fn dashboard_has_groups_and_tiles_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/api/v1/dashboard").await.body, json!({ "groups": [] }));
    let home = app.group("Home").await;
    let media = app.group("Media").await;
    app.service(media, "Jellyfin", json!({ "tags": ["video"] })).await;
    app.service(home, "Router", json!({})).await;
    app.service(home, "NAS", json!({})).await;
    let reply = app.get("/api/v1/dashboard").await;
    let shape: Vec<(String, Vec<String>)> = reply.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let names = g["services"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_owned());
            (g["name"].as_str().unwrap().to_owned(), names.collect())
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("Home".to_owned(), vec!["Router".to_owned(), "NAS".to_owned()]),
            ("Media".into(), vec!["Jellyfin".into()])
        ]
    );
    assert_eq!(reply.body["groups"][1]["services"][0]["tags"], json!(["video"]));

    // Large responses are compressed for clients that ask.
    for index in 0..30 {
        app.service(
            media,
            &format!("filler {index}"),
            json!({ "description": "some text to compress" }),
        )
        .await;
    }
    let compressed = app
        .client
        .get(format!("{}/api/v1/dashboard", app.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(compressed.headers().get("content-encoding").unwrap(), "gzip");
}

async fn probes_report_the_store(backend: Backend) {
    let app = spawn_app(backend).await;
    let kind = match backend {
        Backend::Sqlite => "sqlite",
        #[cfg(feature = "postgres")]
        Backend::Postgres => "postgres",
    };
    let health = app.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, json!({ "status": "ok", "store": kind }));
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(
        ready.body["migrations"]["applied"],
        ready.body["migrations"]["expected"]
    );
}

async fn data_survives_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let group = app.group("Kept").await;
    let tile = app.service(group, "Tile", json!({ "tags": ["kept"] })).await;
    let before = app.get("/api/v1/dashboard").await.body;
    let db: TestDb = app.stop().await;

    let again = App::with_db(db).start().await;
    assert_eq!(again.get("/api/v1/dashboard").await.body, before);
    assert_eq!(
        again.get(&format!("/api/v1/services/{tile}")).await.body["tags"],
        json!(["kept"])
    );
}

async fn spec_docs_and_web_app_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let spec = app.get("/api/openapi.json").await;
    assert_eq!(spec.status, StatusCode::OK);
    assert_eq!(spec.body["servers"][0]["url"], "/api/v1");
    assert!(spec.body["paths"]["/groups/{id}"]["delete"].is_object());
    let docs = app.get("/api/docs").await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.text.to_lowercase().contains("swagger"), "docs UI page");

    let index = app.get("/").await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index.header("content-type").unwrap().starts_with("text/html"));
    assert!(index.text.contains("<title>Homewatch</title>"));
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    let script = app.get("/js/app.js").await;
    assert!(script.header("content-type").unwrap().contains("javascript"));
    assert!(script.text.contains("./dashboard.js"));
    let client_route = app.get("/services/12").await;
    assert_eq!(
        client_route.status,
        StatusCode::OK,
        "the web app's own routes fall back to index.html"
    );
    assert_eq!(client_route.text, index.text);
    let missing = app.get("/js/missing.js").await;
    missing.problem(404);
    let last_modified = script.header("last-modified").expect("files carry Last-Modified");
    let revalidated = app
        .client
        .get(format!("{}/js/app.js", app.base))
        .header("if-modified-since", last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    let etag = script.header("etag").expect("files carry an ETag");
    let by_tag = app
        .client
        .get(format!("{}/js/app.js", app.base))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(by_tag.status(), StatusCode::NOT_MODIFIED);
    let changed = app
        .client
        .get(format!("{}/js/app.js", app.base))
        .header("if-none-match", "\"an-older-copy\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK, "another tag: the file is sent");
    let posted = app
        .client
        .post(format!("{}/js/app.js", app.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(posted.headers()["allow"], "GET, HEAD");
}

async fn checks_are_validated_and_follow_the_url(backend: Backend) {
    let app = spawn_app(backend).await;
    let group = app.group("Watched").await;
    let created = app
        .post(
            "/api/v1/services",
            json!({ "group_id": group, "name": "Jellyfin", "url": "https://jf.lan:8096",
                    "check": { "kind": "http", "expected_status": "200-299,301", "interval_s": 30 } }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let check = &created.body["check"];
    assert_eq!(check["kind"], "http");
    assert_eq!(check["target"], Value::Null, "null: follows the url");
    assert_eq!(
        (
            check["interval_s"].as_u64(),
            check["timeout_s"].as_u64(),
            check["retries"].as_u64()
        ),
        (Some(30), Some(10), Some(2))
    );
    assert_eq!(
        (check["method"].as_str(), check["follow_redirects"].as_bool()),
        (Some("GET"), Some(true))
    );
    assert_eq!(created.body["status"]["state"], "unknown");

    let bad = app
        .post(
            "/api/v1/services",
            json!({ "group_id": group, "name": "Bad", "url": "https://x.lan",
                    "check": { "kind": "tcp", "target": "x.lan", "interval_s": 1, "method": "GET" } }),
        )
        .await;
    assert_eq!(
        bad.invalid_fields(),
        ["check.method", "check.interval_s", "check.target"]
    );
    let unknown_kind = app
        .post(
            "/api/v1/services",
            json!({ "group_id": group, "name": "B", "url": "https://x.lan", "check": { "kind": "snmp" } }),
        )
        .await;
    assert_eq!(unknown_kind.invalid_fields(), ["check.kind"]);
    let keyword = app
        .post(
            "/api/v1/services",
            json!({ "group_id": group, "name": "K", "url": "https://x.lan", "check": { "kind": "keyword" } }),
        )
        .await;
    assert_eq!(keyword.invalid_fields(), ["check.keyword"]);

    let id = created.body["id"].as_i64().unwrap();
    let off = app
        .patch(&format!("/api/v1/services/{id}"), json!({ "check": null }))
        .await;
    assert_eq!(off.body["check"], Value::Null);
    let on = app
        .patch(
            &format!("/api/v1/services/{id}"),
            json!({ "check": { "kind": "dns", "record_type": "a" } }),
        )
        .await;
    assert_eq!(
        on.invalid_fields(),
        ["check.record_type"],
        "record types are written as the spec lists them"
    );
    let on = app
        .patch(
            &format!("/api/v1/services/{id}"),
            json!({ "check": { "kind": "dns", "record_type": "A" } }),
        )
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text);
    assert_eq!(on.body["check"]["record_type"], "A");
    assert!(
        on.body["check"].get("method").is_none(),
        "http fields are not shown on a dns check: {}",
        on.body["check"]
    );
}

async fn a_method_a_path_does_not_take_is_405_with_allow_and_honest_encoding(backend: Backend) {
    use std::io::Read;
    let app = spawn_app(backend).await;
    for (method, path, allow) in [
        (Method::POST, "/api/v1/dashboard", "GET, HEAD"),
        (Method::DELETE, "/api/v1/groups", "GET, POST, HEAD"),
        (Method::PUT, "/api/v1/services/7", "GET, PATCH, DELETE, HEAD"),
        (Method::POST, "/groups", "GET, HEAD"),
        (Method::POST, "/healthz", "GET, HEAD"),
    ] {
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.base))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let headers = response.headers().clone();
        let mut allowed: Vec<&str> = headers["allow"].to_str().unwrap().split(", ").collect();
        allowed.sort();
        let mut expected: Vec<&str> = allow.split(", ").collect();
        expected.sort();
        assert_eq!(allowed, expected, "{method} {path}");
        // The body is what its headers say: gzip only when labelled so, and a problem either way.
        let bytes = response.bytes().await.unwrap();
        let text = match headers.get("content-encoding").map(|v| v.to_str().unwrap()) {
            Some("gzip") => {
                let mut text = String::new();
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_string(&mut text)
                    .expect("a gzip body");
                text
            }
            None => String::from_utf8(bytes.to_vec()).unwrap(),
            Some(other) => panic!("{method} {path}: unexpected encoding {other}"),
        };
        let problem: Value =
            serde_json::from_str(&text).unwrap_or_else(|err| panic!("{method} {path}: {err}: {text:?}"));
        assert_eq!(problem["status"], 405, "{method} {path}");
    }
}

async fn dates_at_the_edges_of_time_are_answered_not_panicked_on(backend: Backend) {
    let app = spawn_app(backend).await;
    let group = app.group("G").await;
    let tile = app.service(group, "T", json!({})).await;
    for query in [
        "until=-262143-01-01T00:00:00Z",
        "until=%2B262142-12-31T23:59:59Z",
        "since=-262143-01-01T00:00:00Z",
        "until=0001-01-01T00:00:00Z",
        "since=9999-01-01T00:00:00Z&until=0001-01-01T00:00:00Z",
    ] {
        let reply = app.get(&format!("/api/v1/services/{tile}/results?{query}")).await;
        assert!(
            reply.status == StatusCode::OK || reply.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {} {}",
            reply.status,
            reply.text
        );
        if reply.status == StatusCode::OK {
            assert_eq!(reply.body, json!([]), "{query}");
        } else {
            let fields = reply.invalid_fields();
            assert!(fields == ["until"] || fields == ["since"], "{query}: {fields:?}");
        }
    }
    let far = app
        .get(&format!(
            "/api/v1/services/{tile}/results?until=-262143-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(
        far.invalid_fields(),
        ["until"],
        "a moment no 24 hours can be counted back from"
    );
}

async fn bodies_are_read_as_their_json_schema_says(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.group("A").await;
    let b = app.group("B").await;
    // JSON Schema counts 2.0 as an integer.
    let reordered = app
        .put("/api/v1/groups/order", json!({ "ids": [b as f64, a as f64] }))
        .await;
    assert_eq!(reordered.status, StatusCode::OK, "{}", reordered.text);
    // An object is never given as an array of its fields.
    let positional = app
        .patch(&format!("/api/v1/groups/{a}"), json!(["renamed"]))
        .await;
    assert_eq!(positional.invalid_fields(), ["(body)"]);
    let positional_check = app
        .post(
            "/api/v1/services",
            json!({ "group_id": a, "name": "N", "url": "https://n.lan", "check": ["tcp"] }),
        )
        .await;
    assert_eq!(positional_check.invalid_fields(), ["check"]);
    assert_eq!(
        app.get(&format!("/api/v1/groups/{a}")).await.body["name"],
        "A",
        "nothing changed"
    );
}
