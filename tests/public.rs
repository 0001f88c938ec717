//! Public faces against the real server on both stores: status pages (what they show and never show, drafts,
//! ETag/304, a page's own domain), incident posts and their Atom feed, badges against known rollups, and
//! `/metrics` checked by Prometheus' own `promtool` and against the API's numbers.

mod common;

use std::time::Duration;

use common::{App, Backend, TestApp};
use homewatch::{
    http::HttpOptions,
    model::{CheckResult, HistoryBatch, now, seconds},
};
use serde_json::{Value, json};

on_every_store!(
    status_pages_are_checked_and_kept,
    a_page_shows_only_what_it_was_given,
    posts_show_on_the_pages_of_their_tiles_and_in_the_feed,
    badges_show_the_numbers_of_the_rollups,
    metrics_pass_promtool_and_agree_with_the_api,
);

/// Results of known outcome in the current hour: `ok` passing at the given latencies, `failed` failing.
async fn history(app: &TestApp, service_id: i64, ok: &[u32], failed: usize) {
    let start = now() - seconds(60);
    let mut results = Vec::new();
    let outcomes = ok
        .iter()
        .map(|ms| (true, *ms))
        .chain((0..failed).map(|_| (false, 0)));
    for (i, (passed, latency_ms)) in outcomes.enumerate() {
        results.push(CheckResult {
            service_id,
            checked_at: start + seconds(i as i64),
            ok: passed,
            latency_ms,
            status_code: None,
            error: (!passed).then(|| "connection refused by 10.9.8.7:6543".to_owned()),
            maintenance: false,
            degraded: false,
            packet_loss_pct: None,
            certificate: None,
        });
    }
    app.store
        .record_history(&HistoryBatch {
            results,
            ..Default::default()
        })
        .await
        .expect("store known results");
}

async fn page_html(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, String) {
    let response = client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("the page answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn status_pages_are_checked_and_kept(backend: Backend) {
    let app = App::on(backend).start().await;
    let group = app.group("Media").await;
    let tile = app.service(group, "Jellyfin", json!({})).await;

    let created = app
        .post(
            "/api/v1/status-pages",
            json!({ "slug": "home", "title": "Home", "sections": [{ "group_id": group }, { "services": [tile] }] }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.header("location"), Some("/api/v1/status-pages/1"));
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(created.body["published"], false, "a new page is a draft");
    assert_eq!(created.body["path"], "/status/home");

    let bad = app
        .post(
            "/api/v1/status-pages",
            json!({ "slug": "Home Lab", "title": "x", "domain": "https://a.example/",
                    "sections": [{ "group_id": group, "services": [tile] }] }),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.invalid_fields(), ["slug", "domain", "sections[0].services"]);
    let unknown = app
        .post(
            "/api/v1/status-pages",
            json!({ "slug": "other", "title": "x", "sections": [{ "services": [tile, 999] }] }),
        )
        .await;
    assert_eq!(unknown.status, 422, "{:?}", unknown.body);
    assert!(
        unknown.text.contains("section 0: service 999 does not exist"),
        "{}",
        unknown.text
    );
    let taken = app
        .post(
            "/api/v1/status-pages",
            json!({ "slug": "home", "title": "Again" }),
        )
        .await;
    assert_eq!(taken.status, 409);

    let patched = app
        .patch(
            &format!("/api/v1/status-pages/{id}"),
            json!({ "published": true, "domain": "Status.Example.Test", "footer": "Run by us" }),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["domain"], "status.example.test");
    assert_eq!(patched.body["sections"][0]["group_id"], group);
    assert_eq!(patched.body["sections"][1]["services"], json!([tile]));
    assert_eq!(
        app.get("/api/v1/status-pages")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(app.get("/api/v1/status-pages/77").await.status, 404);

    let (viewer_id, viewer) = common::viewer_token(&app, "viewer").await;
    let as_viewer = app
        .anonymous
        .post(format!("{}/api/v1/status-pages", app.base))
        .bearer_auth(&viewer)
        .json(&json!({ "slug": "mine", "title": "Mine" }))
        .send()
        .await
        .unwrap();
    assert_eq!(as_viewer.status(), 403, "viewer {viewer_id} may only read");
    let anonymous = app
        .anonymous
        .get(format!("{}/api/v1/status-pages", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    assert_eq!(
        app.delete(&format!("/api/v1/status-pages/{id}")).await.status,
        204
    );
    assert_eq!(
        app.delete(&format!("/api/v1/status-pages/{id}")).await.status,
        404
    );
}

async fn a_page_shows_only_what_it_was_given(backend: Backend) {
    let app = App::on(backend).start().await;
    let media = app.group("Media").await;
    let private = app.group("Private").await;
    let shown = app
        .service(
            media,
            "Jellyfin",
            json!({ "url": "https://admin:hunter22@jellyfin.secret-host.lan/?api_key=k3y",
                    "check": { "kind": "tcp", "target": "127.0.0.1:1", "interval_s": 3600, "retries": 0 } }),
        )
        .await;
    app.service(private, "Hidden-Vault-Tile", json!({})).await;
    let other = app.service(media, "Sonarr", json!({})).await;
    history(&app, shown, &[], 1).await;
    let run = app
        .post(&format!("/api/v1/services/{shown}/check"), json!({}))
        .await;
    assert_eq!(run.status, 200, "{:?}", run.body);
    assert_eq!(run.body["result"]["ok"], false);

    let page = app
        .post(
            "/api/v1/status-pages",
            json!({ "slug": "family", "title": "Family <services>", "description": "Is it **down** for everyone?",
                    "published": true, "sections": [{ "name": "Watching", "services": [shown] }, { "group_id": media }] }),
        )
        .await;
    assert_eq!(page.status, 201, "{:?}", page.body);
    let page_id = page.body["id"].as_i64().unwrap();

    // No login needed, although the dashboard itself is private.
    let (status, html) = page_html(&app, &app.anonymous, "/status/family").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<title>Family &lt;services&gt; status</title>"),
        "{html}"
    );
    assert!(
        html.contains("<strong>down</strong>"),
        "the description is Markdown: {html}"
    );
    assert!(html.contains("Jellyfin") && html.contains("Sonarr") && html.contains("Watching"));
    assert!(html.contains("<span class=\"state down\">Down</span>"), "{html}");
    assert!(
        html.contains("Major outage"),
        "the one watched tile is down: {html}"
    );
    // A tile shown twice has its bars twice.
    assert_eq!(
        html.matches("aria-label=\"0% uptime over 90 days\"").count(),
        2,
        "{html}"
    );
    for secret in [
        "Hidden-Vault-Tile",
        "Private",
        "secret-host",
        "hunter22",
        "k3y",
        "127.0.0.1:1",
        "refused",
        "10.9.8.7",
    ] {
        assert!(!html.contains(secret), "the page shows `{secret}`: {html}");
    }
    let anonymous_api = app
        .anonymous
        .get(format!("{}/api/v1/dashboard", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous_api.status(), 401, "the dashboard stays private");

    // Links only when the page shows them, and then with credentials hidden.
    app.patch(
        &format!("/api/v1/status-pages/{page_id}"),
        json!({ "show_links": true }),
    )
    .await;
    let (_, html) = page_html(&app, &app.anonymous, "/status/family").await;
    assert!(html.contains("jellyfin.secret-host.lan"), "{html}");
    assert!(!html.contains("hunter22") && !html.contains("k3y"), "{html}");

    // ETag and 304; a change to the page gives new bytes and a new tag.
    let first = app
        .anonymous
        .get(format!("{}/status/family", app.base))
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .anonymous
        .get(format!("{}/status/family", app.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    app.patch(
        &format!("/api/v1/status-pages/{page_id}"),
        json!({ "title": "Family" }),
    )
    .await;
    let changed = app
        .anonymous
        .get(format!("{}/status/family", app.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);

    // A draft is a preview for signed-in users only.
    app.patch(
        &format!("/api/v1/status-pages/{page_id}"),
        json!({ "published": false }),
    )
    .await;
    assert_eq!(page_html(&app, &app.anonymous, "/status/family").await.0, 404);
    let (status, preview) = page_html(&app, &app.client, "/status/family").await;
    assert_eq!(status, 200);
    assert!(preview.contains("Draft: only signed-in users see this page"));
    assert_eq!(page_html(&app, &app.anonymous, "/status/nope").await.0, 404);

    // Its own domain: served at `/` when the Host matches (and only when published).
    app.patch(
        &format!("/api/v1/status-pages/{page_id}"),
        json!({ "published": true, "domain": "status.example.test" }),
    )
    .await;
    let by_host = |host: &'static str| {
        let url = format!("{}/", app.base);
        async move {
            let (status, text) = at_host(&url, host).await;
            (status, text)
        }
    };
    async fn at_host(url: &str, host: &str) -> (u16, String) {
        {
            let response = reqwest::Client::new()
                .get(url)
                .header("host", host)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    }
    let (status, html) = by_host("status.example.test").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<h1>Family</h1>") && html.contains("href=\"/feed.atom\""),
        "{html}"
    );
    let (_, app_page) = by_host("localhost").await;
    assert!(!app_page.contains("<h1>Family</h1>"), "other hosts get the app");
    let (status, feed) = at_host(&format!("{}/feed.atom", app.base), "status.example.test").await;
    assert_eq!(status, 200);
    assert!(
        feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"),
        "{feed}"
    );
    let _ = other;

    // Maintenance within the next 14 days shows; one further off does not yet.
    let soon = (now() + seconds(2 * 86_400)).to_rfc3339();
    let later = (now() + seconds(30 * 86_400)).to_rfc3339();
    for (title, starts_at) in [("Disk swap", soon), ("Rack move", later)] {
        let window = app
            .post(
                "/api/v1/maintenance",
                json!({ "title": title, "starts_at": starts_at, "duration_min": 60, "groups": [media] }),
            )
            .await;
        assert_eq!(window.status, 201, "{}", window.text);
    }
    let (_, html) = page_html(&app, &app.anonymous, "/status/family").await;
    assert!(
        html.contains("<h2>Maintenance</h2>") && html.contains("Disk swap"),
        "{html}"
    );
    assert!(!html.contains("Rack move"), "{html}");
}

async fn posts_show_on_the_pages_of_their_tiles_and_in_the_feed(backend: Backend) {
    let app = App::on(backend).start().await;
    let group = app.group("Home").await;
    let shown = app.service(group, "NAS", json!({})).await;
    let elsewhere_group = app.group("Work").await;
    let elsewhere = app.service(elsewhere_group, "VPN", json!({})).await;
    app.post(
        "/api/v1/status-pages",
        json!({ "slug": "home", "title": "Home", "published": true, "sections": [{ "services": [shown] }] }),
    )
    .await;

    let post = app
        .post(
            "/api/v1/posts",
            json!({ "title": "NAS unreachable", "body": "Disk **full** <script>alert(1)</script>", "services": [shown] }),
        )
        .await;
    assert_eq!(post.status, 201, "{:?}", post.body);
    assert_eq!(post.body["status"], "investigating");
    let id = post.body["id"].as_i64().unwrap();
    let other = app
        .post(
            "/api/v1/posts",
            json!({ "title": "VPN certificate renewal", "body": "Renewing.", "services": [elsewhere] }),
        )
        .await;
    assert_eq!(other.status, 201);
    let invalid = app
        .post(
            "/api/v1/posts",
            json!({ "title": "  ", "body": "x", "services": [12345] }),
        )
        .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.invalid_fields(), ["title"]);
    let unknown_tile = app
        .post(
            "/api/v1/posts",
            json!({ "title": "T", "body": "x", "services": [12345] }),
        )
        .await;
    assert_eq!(unknown_tile.status, 422);

    let (_, html) = page_html(&app, &app.anonymous, "/status/home").await;
    assert!(
        html.contains("Current incidents") && html.contains("NAS unreachable"),
        "{html}"
    );
    assert!(
        html.contains("<strong>full</strong>") && html.contains("&lt;script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        !html.contains("VPN certificate renewal"),
        "a post on a tile the page does not show"
    );

    let update = app
        .post(
            &format!("/api/v1/posts/{id}/updates"),
            json!({ "status": "identified", "body": "A backup filled the disk." }),
        )
        .await;
    assert_eq!(update.status, 201);
    assert_eq!(update.body["status"], "identified");
    let resolved = app
        .post(
            &format!("/api/v1/posts/{id}/updates"),
            json!({ "status": "resolved", "body": "Space freed." }),
        )
        .await;
    assert_eq!(resolved.body["status"], "resolved");
    assert!(resolved.body["resolved_at"].is_string());
    let updates: Vec<&str> = resolved.body["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        updates,
        ["resolved", "identified", "investigating"],
        "newest first"
    );
    assert_eq!(
        app.post("/api/v1/posts/999/updates", json!({ "body": "x" }))
            .await
            .status,
        404
    );

    let (_, html) = page_html(&app, &app.anonymous, "/status/home").await;
    assert!(
        html.contains("Recent incidents") && !html.contains("Current incidents"),
        "{html}"
    );

    let feed = app
        .anonymous
        .get(format!("{}/status/home/feed.atom", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let xml = feed.text().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the feed is XML");
    let atom = "http://www.w3.org/2005/Atom";
    assert!(doc.root_element().has_tag_name((atom, "feed")));
    let entries: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name((atom, "entry")))
        .collect();
    assert_eq!(entries.len(), 1, "{xml}");
    let title = entries[0]
        .children()
        .find(|n| n.has_tag_name((atom, "title")))
        .and_then(|n| n.text())
        .unwrap();
    assert_eq!(title, "NAS unreachable (Resolved)");
    let content = entries[0]
        .children()
        .find(|n| n.has_tag_name((atom, "content")))
        .and_then(|n| n.text())
        .unwrap();
    assert!(
        content.contains("Space freed.") && content.contains("<strong>full</strong>"),
        "{content}"
    );

    let everywhere = app
        .post(
            "/api/v1/posts",
            json!({ "title": "Power cut on Sunday", "body": "The whole house." }),
        )
        .await;
    assert_eq!(everywhere.status, 201);
    let (_, html) = page_html(&app, &app.anonymous, "/status/home").await;
    assert!(
        html.contains("Power cut on Sunday"),
        "a post without tiles shows on every page"
    );

    assert_eq!(app.delete(&format!("/api/v1/posts/{id}")).await.status, 204);
    assert_eq!(app.get(&format!("/api/v1/posts/{id}")).await.status, 404);
}

fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("the badge is SVG");
    assert!(
        doc.root_element()
            .has_tag_name(("http://www.w3.org/2000/svg", "svg"))
    );
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::to_owned))
        .collect()
}

async fn badges_show_the_numbers_of_the_rollups(backend: Backend) {
    let app = App::on(backend).start().await;
    let group = app.group("G").await;
    let public = app.service(group, "Public", json!({ "badges": true })).await;
    let private = app.service(group, "Private", json!({})).await;
    history(&app, public, &[100, 200, 300], 1).await;
    history(&app, private, &[50], 0).await;

    let get = |path: String| {
        let client = app.anonymous.clone();
        let base = app.base.clone();
        async move {
            let response = client.get(format!("{base}{path}")).send().await.unwrap();
            let status = response.status().as_u16();
            let cache = response
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, cache, response.text().await.unwrap())
        }
    };
    let (status, cache, svg) = get(format!("/badge/{public}/uptime.svg?window=24h")).await;
    assert_eq!(status, 200, "{svg}");
    assert_eq!(cache.as_deref(), Some("public, max-age=60"));
    assert_eq!(svg_texts(&svg), ["uptime 24h", "uptime 24h", "75%", "75%"]);
    let stats = app
        .get(&format!("/api/v1/services/{public}/stats?window=24h"))
        .await;
    let average = stats.body["avg_latency_ms"].as_f64().unwrap();
    assert_eq!(average, 200.0);
    let (_, _, svg) = get(format!("/badge/{public}/latency.svg")).await;
    assert!(svg_texts(&svg).contains(&"200 ms".to_owned()), "{svg}");
    let (_, _, json) = get(format!("/badge/{public}/uptime.json?window=7d&label=NAS")).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json,
        json!({ "schemaVersion": 1, "label": "NAS", "message": "75%", "color": "red" })
    );
    let (_, _, svg) = get(format!("/badge/{public}/status.svg")).await;
    assert_eq!(svg_texts(&svg)[0], "Public");

    for path in [
        format!("/badge/{private}/status.svg"),
        format!("/badge/{private}/uptime.json"),
        "/badge/9999/status.svg".to_owned(),
        format!("/badge/{public}/weather.svg"),
    ] {
        assert_eq!(get(path.clone()).await.0, 404, "{path}");
    }
    assert_eq!(get(format!("/badge/{public}/uptime.svg?window=2d")).await.0, 400);
    let posted = app
        .anonymous
        .post(format!("{}/badge/{public}/status.svg", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 405);
    assert_eq!(posted.headers()["allow"], "GET, HEAD");

    // A tile on a published page has badges.
    app.post(
        "/api/v1/status-pages",
        json!({ "slug": "s", "title": "S", "published": true, "sections": [{ "services": [private] }] }),
    )
    .await;
    let (status, _, svg) = get(format!("/badge/{private}/uptime.svg")).await;
    assert_eq!(status, 200);
    assert!(svg_texts(&svg).contains(&"100%".to_owned()), "{svg}");
}

fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
        .find(|line| labels.iter().all(|(k, v)| line.contains(&format!("{k}=\"{v}\""))))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn metrics_pass_promtool_and_agree_with_the_api(backend: Backend) {
    let off = App::on(backend).start().await;
    let response = off
        .anonymous
        .get(format!("{}/metrics", off.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "metrics are off by default");

    let app = App::on(backend)
        .http(HttpOptions {
            metrics: true,
            metrics_token: Some("metrics-s3cret".into()),
            ..common::http_options()
        })
        .start()
        .await;
    let group = app.group("Media").await;
    let watched = app
        .service(
            group,
            "Jellyfin",
            json!({ "url": "https://user:pw@jelly.example.lan/", "check": { "kind": "tcp", "target": "127.0.0.1:1", "interval_s": 3600, "retries": 0 } }),
        )
        .await;
    app.service(group, "Link only", json!({})).await;
    history(&app, watched, &[10, 20, 30], 1).await;
    // The engine checks a new tile within a second (and then not for an hour): wait until that failing
    // result is stored beside the four above, so that nothing changes between the scrape and the API's read.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while app.get("/api/v1/dashboard").await.body["groups"][0]["services"][0]["uptime_24h"] != json!(60.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first check was never stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let scrape = |token: Option<&'static str>| {
        let client = app.anonymous.clone();
        let url = format!("{}/metrics", app.base);
        async move {
            let mut request = client.get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(scrape(None).await.0, 401);
    assert_eq!(scrape(Some("wrong")).await.0, 401);
    let (status, text) = scrape(Some("metrics-s3cret")).await;
    assert_eq!(status, 200, "{text}");

    promtool(&text);
    for leak in [
        "jelly.example.lan",
        "127.0.0.1:1",
        "pw@",
        "metrics-s3cret",
        "refused",
    ] {
        assert!(!text.contains(leak), "/metrics shows `{leak}`");
    }
    let id = watched.to_string();
    let tile = [
        ("id", id.as_str()),
        ("name", "Jellyfin"),
        ("group", "Media"),
        ("kind", "tcp"),
    ];
    let dashboard = app.get("/api/v1/dashboard").await;
    let api_tile = &dashboard.body["groups"][0]["services"][0];
    assert_eq!(api_tile["status"]["state"], "down");
    assert_eq!(metric(&text, "homewatch_tile_up", &tile), Some(0.0));
    let down = [tile.as_slice(), &[("state", "down")]].concat();
    assert_eq!(metric(&text, "homewatch_tile_state", &down), Some(1.0));
    let day = [tile.as_slice(), &[("window", "24h")]].concat();
    let ratio = metric(&text, "homewatch_tile_uptime_ratio", &day).unwrap();
    assert!((ratio * 100.0 - api_tile["uptime_24h"].as_f64().unwrap()).abs() < 1e-9);
    assert!((ratio - 0.6).abs() < 1e-9, "3 of 5 passed: {ratio}");
    let failed = [tile.as_slice(), &[("result", "down")]].concat();
    assert_eq!(
        metric(&text, "homewatch_checks_total", &failed),
        Some(1.0),
        "the engine's one check"
    );
    assert_eq!(
        metric(&text, "homewatch_check_duration_seconds_count", &tile),
        Some(1.0)
    );
    assert!(metric(&text, "homewatch_store_connections", &[("state", "max")]).unwrap() >= 1.0);
    assert!(metric(&text, "process_resident_memory_bytes", &[]).unwrap() > 1e6);
    assert!(text.contains("homewatch_schedule_lag_seconds_bucket"));

    // Prometheus asks for OpenMetrics, and gets it.
    let open = app
        .anonymous
        .get(format!("{}/metrics", app.base))
        .bearer_auth("metrics-s3cret")
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert!(
        open.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(open.text().await.unwrap().ends_with("# EOF\n"));
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// `promtool check metrics` (Debian's `prometheus` package) over the text; required in CI
/// (HOMEWATCH_REQUIRE_PROMTOOL=1), skipped loudly elsewhere when it is not installed.
fn promtool(text: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) if std::env::var("HOMEWATCH_REQUIRE_PROMTOOL").is_ok_and(|v| v == "1") => {
            panic!("promtool is required (HOMEWATCH_REQUIRE_PROMTOOL=1) but cannot run: {err}")
        }
        Err(err) => {
            eprintln!(
                "SKIPPED promtool check: promtool cannot run here ({err}); install Debian's prometheus"
            );
            return;
        }
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A page's own domain is answered even when HOMEWATCH_ALLOWED_HOSTS does not list it, but only for what the
/// page loads: the API behind that name stays refused (421), as for any unlisted host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_domain_opens_the_page_and_nothing_else() {
    let app = App::on(Backend::Sqlite)
        .http(HttpOptions {
            allowed_hosts: vec!["home.example.test".into()],
            ..common::http_options()
        })
        .start()
        .await;
    let group = app.group("Home").await;
    app.service(group, "NAS", json!({})).await;
    let page = app
        .post(
            "/api/v1/status-pages",
            json!({ "slug": "home", "title": "Home", "published": true, "domain": "status.example.test",
                    "sections": [{ "group_id": group }] }),
        )
        .await;
    assert_eq!(page.status, 201, "{}", page.text);
    let at = |path: &'static str, host: &'static str| {
        let url = format!("{}{path}", app.base);
        async move {
            reqwest::Client::new()
                .get(url)
                .header("host", host)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(at("/", "status.example.test").await, 200);
    assert_eq!(at("/status.css", "status.example.test").await, 200);
    assert_eq!(at("/js/status.js", "status.example.test").await, 200);
    assert_eq!(at("/api/v1/auth/state", "status.example.test").await, 421);
    assert_eq!(at("/api/v1/auth/state", "elsewhere.example.test").await, 421);
    assert_eq!(at("/", "elsewhere.example.test").await, 421);
    assert_eq!(at("/api/v1/auth/state", "home.example.test").await, 200);
}
