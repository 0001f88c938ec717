//! Accounts and access against the real server, on each store: a table of who may call each route, walked
//! over every operation of the spec for every kind of caller; the setup token; sessions; cross-site cookie
//! writes; login backoff; tokens; users; security headers; secrets hidden from readers.

mod common;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use common::{App, Backend, TestApp, read, spawn_app};
use homewatch::{
    auth::{AccessConfig, limiter::LimiterConfig, secret},
    model::Scope,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_every_store!(
    every_route_answers_each_kind_of_caller_as_the_table_says,
    a_public_dashboard_lets_anonymous_visitors_read_and_nothing_more,
    the_setup_token_is_required_and_works_once,
    sessions_change_at_login_end_at_logout_and_expire,
    cookie_writes_from_another_site_are_refused,
    login_attempts_back_off_per_address_and_per_name_then_recover,
    a_wrong_name_and_a_wrong_password_look_alike,
    changing_a_password_ends_the_other_sessions,
    tokens_are_shown_once_scoped_used_and_revoked,
    users_are_managed_by_admins_and_one_admin_always_remains,
    check_header_values_are_hidden_from_readers,
);

/// Who a request is made as.
#[derive(Debug, Clone)]
enum As {
    Nobody,
    Token(String),
    /// A session id; requests carry the page's origin, as the browser sends it.
    Session(String),
}

/// A request made as `who`; sessions carry the page's origin, as the browser sends it.
fn request(app: &TestApp, who: &As, method: Method, path: &str) -> reqwest::RequestBuilder {
    let request = app.anonymous.request(method, format!("{}{path}", app.base));
    match who {
        As::Nobody => request,
        As::Token(token) => request.bearer_auth(token),
        As::Session(id) => request
            .header("cookie", format!("homewatch_session={id}"))
            .header("origin", &app.base),
    }
}

async fn call(app: &TestApp, who: &As, method: Method, path: &str, body: Option<Value>) -> common::Reply {
    let mut request = request(app, who, method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.expect("request reaches the server")).await
}

/// Signs in through the API and returns the session id from the cookie.
async fn login(app: &TestApp, username: &str, password: &str) -> String {
    let reply = call(
        app,
        &As::Nobody,
        Method::POST,
        "/api/v1/auth/login",
        Some(json!({ "username": username, "password": password })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    session_of(&reply)
}

fn session_of(reply: &common::Reply) -> String {
    let cookie = reply.header("set-cookie").expect("a session cookie");
    cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("homewatch_session="))
        .expect("homewatch_session=...")
        .to_owned()
}

async fn new_user(app: &TestApp, username: &str, role: &str) -> i64 {
    let reply = app
        .post(
            "/api/v1/users",
            json!({ "username": username, "password": format!("{username}-password"), "role": role }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body["id"].as_i64().unwrap()
}

async fn new_token(app: &TestApp, who: &As, scope: &str) -> (i64, String) {
    let reply = call(
        app,
        who,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({ "name": format!("{scope} token"), "scope": scope })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    (
        reply.body["id"].as_i64().unwrap(),
        reply.body["token"].as_str().unwrap().to_owned(),
    )
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Anyone, signed in or not.
    Open,
    /// Dashboard data: anyone signed in (anonymous too with a public dashboard).
    Read,
    /// Changes to the dashboard and its checks: admins, not through a read token.
    Write,
    /// Anyone signed in.
    SignedIn,
    /// Changes to one's own account: anyone signed in, not through a read token.
    OwnAccount,
    /// Users, read: admins (a read token will do).
    AdminRead,
    /// Users, changed: admins, not through a read token.
    AdminWrite,
}

/// Every operation of the API and who may call it. A route missing here fails the walk.
const TABLE: &[(&str, &str, Rule)] = &[
    ("GET", "/auth/state", Rule::Open),
    ("POST", "/setup", Rule::Open),
    ("POST", "/auth/login", Rule::Open),
    ("POST", "/auth/logout", Rule::Open),
    ("GET", "/auth/me", Rule::SignedIn),
    ("POST", "/auth/password", Rule::OwnAccount),
    ("GET", "/groups", Rule::Read),
    ("POST", "/groups", Rule::Write),
    ("PUT", "/groups/order", Rule::Write),
    ("GET", "/groups/{id}", Rule::Read),
    ("PATCH", "/groups/{id}", Rule::Write),
    ("DELETE", "/groups/{id}", Rule::Write),
    ("GET", "/services", Rule::Read),
    ("POST", "/services", Rule::Write),
    ("GET", "/services/{id}", Rule::Read),
    ("PATCH", "/services/{id}", Rule::Write),
    ("DELETE", "/services/{id}", Rule::Write),
    ("PUT", "/groups/{id}/services/order", Rule::Write),
    ("GET", "/dashboard", Rule::Read),
    ("POST", "/services/{id}/check", Rule::Write),
    ("POST", "/services/{id}/pause", Rule::Write),
    ("POST", "/services/{id}/resume", Rule::Write),
    ("GET", "/services/{id}/results", Rule::Read),
    ("GET", "/services/{id}/stats", Rule::Read),
    ("GET", "/incidents", Rule::Read),
    ("GET", "/events", Rule::Read),
    ("GET", "/tokens", Rule::SignedIn),
    ("POST", "/tokens", Rule::OwnAccount),
    ("DELETE", "/tokens/{id}", Rule::OwnAccount),
    ("GET", "/users", Rule::AdminRead),
    ("POST", "/users", Rule::AdminWrite),
    ("GET", "/users/{id}", Rule::AdminRead),
    ("PATCH", "/users/{id}", Rule::AdminWrite),
    ("DELETE", "/users/{id}", Rule::AdminWrite),
    // Channels and their log show where people are told (secrets masked): never to anonymous visitors.
    ("GET", "/channels", Rule::SignedIn),
    ("POST", "/channels", Rule::Write),
    ("GET", "/channels/{id}", Rule::SignedIn),
    ("PATCH", "/channels/{id}", Rule::Write),
    ("DELETE", "/channels/{id}", Rule::Write),
    ("POST", "/channels/{id}/test", Rule::Write),
    ("GET", "/notifications", Rule::SignedIn),
    ("GET", "/notifications/{id}", Rule::SignedIn),
    ("POST", "/notifications/{id}/resend", Rule::Write),
    ("GET", "/maintenance", Rule::Read),
    ("POST", "/maintenance", Rule::Write),
    ("GET", "/maintenance/{id}", Rule::Read),
    ("PATCH", "/maintenance/{id}", Rule::Write),
    ("DELETE", "/maintenance/{id}", Rule::Write),
    ("GET", "/status-pages", Rule::Read),
    ("POST", "/status-pages", Rule::Write),
    ("GET", "/status-pages/{id}", Rule::Read),
    ("PATCH", "/status-pages/{id}", Rule::Write),
    ("DELETE", "/status-pages/{id}", Rule::Write),
    ("GET", "/posts", Rule::Read),
    ("POST", "/posts", Rule::Write),
    ("GET", "/posts/{id}", Rule::Read),
    ("PATCH", "/posts/{id}", Rule::Write),
    ("DELETE", "/posts/{id}", Rule::Write),
    ("GET", "/config", Rule::Write),
    ("POST", "/config/apply", Rule::Write),
    ("POST", "/config/import", Rule::Write),
    ("POST", "/posts/{id}/updates", Rule::Write),
    // A push URL's token is its credential: no login, a wrong token is 404.
    ("GET", "/push/{token}", Rule::Open),
    ("POST", "/push/{token}", Rule::Open),
    ("GET", "/push/{token}/start", Rule::Open),
    ("POST", "/push/{token}/start", Rule::Open),
    ("POST", "/services/{id}/push-token", Rule::Write),
];

/// The kinds of caller the walk tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Anonymous,
    RevokedToken,
    ExpiredToken,
    ViewerSession,
    ViewerReadToken,
    AdminReadToken,
    AdminWriteToken,
    AdminSession,
}

/// 401, 403, allowed (the request got past access control and was answered), or a server error, which
/// no caller is ever expected to get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Unauthorized,
    Forbidden,
    Allowed,
    ServerError,
}

fn expected(rule: Rule, kind: Kind, public_dashboard: bool) -> Outcome {
    use Kind::*;
    use Outcome::*;
    if matches!(kind, RevokedToken | ExpiredToken) {
        // A token that is presented must be valid, wherever it is sent.
        return Unauthorized;
    }
    let read_token = matches!(kind, ViewerReadToken | AdminReadToken);
    let admin = matches!(kind, AdminReadToken | AdminWriteToken | AdminSession);
    match (rule, kind) {
        (Rule::Open, _) => Allowed,
        (Rule::Read, Anonymous) if public_dashboard => Allowed,
        (_, Anonymous) => Unauthorized,
        (Rule::Read | Rule::SignedIn, _) => Allowed,
        (Rule::Write, _) if admin && !read_token => Allowed,
        (Rule::OwnAccount, _) if !read_token => Allowed,
        (Rule::AdminRead, _) if admin => Allowed,
        (Rule::AdminWrite, _) if admin && !read_token => Allowed,
        _ => Forbidden,
    }
}

fn outcome(reply: &common::Reply) -> Outcome {
    match reply.status {
        StatusCode::UNAUTHORIZED => Outcome::Unauthorized,
        StatusCode::FORBIDDEN => Outcome::Forbidden,
        status if status.is_server_error() => Outcome::ServerError,
        _ => Outcome::Allowed,
    }
}

#[test]
fn a_server_error_is_never_taken_for_allowed() {
    let reply = |status: u16| common::Reply {
        status: StatusCode::from_u16(status).unwrap(),
        headers: Default::default(),
        body: Value::Null,
        text: String::new(),
    };
    assert_eq!(outcome(&reply(500)), Outcome::ServerError);
    assert_eq!(outcome(&reply(503)), Outcome::ServerError);
    assert_eq!(outcome(&reply(404)), Outcome::Allowed);
    assert_eq!(outcome(&reply(403)), Outcome::Forbidden);
}

/// The operations of the committed spec, as (METHOD, path).
fn spec_operations() -> BTreeSet<(String, String)> {
    let spec: Value = serde_json::from_str(&homewatch::http::spec_json()).unwrap();
    spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .unwrap()
                .keys()
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Ids the walk's requests name, made fresh for each caller so that deletions by one do not affect the next.
struct Fixture {
    group: i64,
    empty_group: i64,
    service: i64,
    user: i64,
    token: i64,
}

async fn fixture(app: &TestApp, n: usize) -> Fixture {
    let group = app.group(&format!("Walk {n}")).await;
    let empty_group = app.group(&format!("Empty {n}")).await;
    let service = app
        .service(
            group,
            &format!("Walked {n}"),
            json!({ "url": "http://127.0.0.1:9/", "check": { "kind": "tcp", "interval_s": 3600 } }),
        )
        .await;
    let user = new_user(app, &format!("victim{n}"), "viewer").await;
    let (token, _) = new_token(app, &As::Token(app.admin.as_ref().unwrap().1.clone()), "read").await;
    Fixture {
        group,
        empty_group,
        service,
        user,
        token,
    }
}

/// The request the walk makes for an operation: a concrete path and a plausible body.
fn request_for(method: &str, path: &str, ids: &Fixture, n: usize) -> (String, Option<Value>) {
    let id = match path {
        p if p.starts_with("/groups/{id}/services") => ids.group,
        p if p.starts_with("/groups/") => {
            if method == "DELETE" {
                ids.empty_group
            } else {
                ids.group
            }
        }
        p if p.starts_with("/services/") => ids.service,
        p if p.starts_with("/users/") => ids.user,
        p if p.starts_with("/tokens/") => ids.token,
        _ => 0,
    };
    let concrete = path.replace("{id}", &id.to_string());
    let body = match (method, path) {
        ("POST", "/setup") => {
            Some(json!({ "token": "not-the-token", "username": "x", "password": "0123456789" }))
        }
        ("POST", "/auth/login") => Some(json!({ "username": "walker", "password": "walker-password" })),
        ("POST", "/auth/password") => {
            // A new password too short: refused (422) once past access control, and nothing is changed.
            Some(json!({ "current_password": "not-my-password", "new_password": "short" }))
        }
        ("POST", "/groups") => Some(json!({ "name": format!("Made {n} {}", secret::session_id()) })),
        ("PUT", "/groups/order") | ("PUT", "/groups/{id}/services/order") => Some(json!({ "ids": [] })),
        ("PATCH", "/groups/{id}") => Some(json!({ "name": format!("Renamed {n} {}", secret::session_id()) })),
        ("POST", "/services") => Some(
            json!({ "group_id": ids.group, "name": format!("Made {}", secret::session_id()),
                                              "url": "http://127.0.0.1:9/" }),
        ),
        ("PATCH", "/services/{id}") => Some(json!({ "description": "walked" })),
        ("POST", "/tokens") => Some(json!({ "name": "walk", "scope": "read" })),
        ("POST", "/users") => Some(
            json!({ "username": format!("made{n}{}", &secret::session_id()[..6].to_lowercase().replace(['-', '_'], "x")),
                                          "password": "0123456789", "role": "viewer" }),
        ),
        ("PATCH", "/users/{id}") => Some(json!({ "role": "viewer" })),
        (_, _) if matches!(method, "POST" | "PUT" | "PATCH") => Some(json!({})),
        _ => None,
    };
    (concrete, body)
}

async fn walk(app: &TestApp, public_dashboard: bool) {
    let documented = spec_operations();
    let tabled: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|(method, path, _)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(
        documented, tabled,
        "the table must name every operation of the spec, and only those"
    );

    let admin_token = As::Token(app.admin.as_ref().unwrap().1.clone());
    new_user(app, "vera", "viewer").await;
    new_user(app, "walker", "viewer").await;
    let viewer_session = As::Session(login(app, "vera", "vera-password").await);
    let (_, viewer_read) = new_token(app, &viewer_session, "read").await;
    let (_, admin_read) = new_token(app, &admin_token, "read").await;
    let (revoked_id, revoked) = new_token(app, &admin_token, "write").await;
    app.delete(&format!("/api/v1/tokens/{revoked_id}")).await;
    let admin_id = app.admin.as_ref().unwrap().0.id;
    let expired = secret::api_token();
    app.store
        .create_token(
            admin_id,
            "expired",
            Scope::Write,
            &secret::hash(&expired),
            Some(chrono::Utc::now() - homewatch::model::seconds(60)),
        )
        .await
        .unwrap();
    let admin_session = As::Session(login(app, common::ADMIN, common::ADMIN_PASSWORD).await);

    let callers = [
        (Kind::Anonymous, As::Nobody),
        (Kind::RevokedToken, As::Token(revoked)),
        (Kind::ExpiredToken, As::Token(expired)),
        (Kind::ViewerSession, viewer_session),
        (Kind::ViewerReadToken, As::Token(viewer_read)),
        (Kind::AdminReadToken, As::Token(admin_read)),
        (Kind::AdminWriteToken, admin_token.clone()),
        (Kind::AdminSession, admin_session),
    ];
    let mut wrong = Vec::new();
    for (n, (kind, who)) in callers.iter().enumerate() {
        let ids = fixture(app, n).await;
        // Signing in again or out ends the caller's session: those come last.
        let mut operations: Vec<_> = TABLE.iter().collect();
        operations.sort_by_key(|(method, path, _)| {
            *method == "POST" && matches!(*path, "/auth/login" | "/auth/logout")
        });
        for (method, path, rule) in operations {
            let (concrete, body) = request_for(method, path, &ids, n);
            let reply = if *path == "/events" {
                // The stream stays open: its status line is the answer.
                let request = request(app, who, Method::GET, &format!("/api/v1{concrete}"));
                let response = request.send().await.unwrap();
                common::Reply {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body: Value::Null,
                    text: String::new(),
                }
            } else {
                call(
                    app,
                    who,
                    method.parse().unwrap(),
                    &format!("/api/v1{concrete}"),
                    body,
                )
                .await
            };
            let want = expected(*rule, *kind, public_dashboard);
            let got = outcome(&reply);
            if got != want {
                wrong.push(format!(
                    "{kind:?} {method} {concrete}: expected {want:?}, got {} {}",
                    reply.status, reply.text
                ));
            }
            if got != Outcome::Allowed {
                assert_eq!(
                    reply.header("content-type"),
                    Some("application/problem+json"),
                    "{kind:?} {method} {path}: refusals are problem details"
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "access does not follow the table:\n{}",
        wrong.join("\n")
    );
}

async fn every_route_answers_each_kind_of_caller_as_the_table_says(backend: Backend) {
    let app = spawn_app(backend).await;
    walk(&app, false).await;
}

async fn a_public_dashboard_lets_anonymous_visitors_read_and_nothing_more(backend: Backend) {
    let app = App::on(backend)
        .access(AccessConfig {
            public_dashboard: true,
            ..AccessConfig::default()
        })
        .start()
        .await;
    walk(&app, true).await;
    let state = call(&app, &As::Nobody, Method::GET, "/api/v1/auth/state", None).await;
    assert_eq!(
        state.body,
        json!({ "setup_required": false, "public_dashboard": true })
    );
}

async fn the_setup_token_is_required_and_works_once(backend: Backend) {
    let app = App::on(backend).without_admin().start().await;
    let token = app
        .access
        .begin_setup()
        .await
        .unwrap()
        .expect("no user yet: a token");
    let state = call(&app, &As::Nobody, Method::GET, "/api/v1/auth/state", None).await;
    assert_eq!(state.body["setup_required"], true);
    assert_eq!(
        call(&app, &As::Nobody, Method::GET, "/api/v1/dashboard", None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    let setup =
        |token: &str, password: &str| json!({ "token": token, "username": "alice", "password": password });
    let wrong = call(
        &app,
        &As::Nobody,
        Method::POST,
        "/api/v1/setup",
        Some(setup("guess", "a-good-password")),
    )
    .await;
    assert!(
        wrong.problem(403)["detail"]
            .as_str()
            .unwrap()
            .contains("setup token")
    );
    let missing = call(
        &app,
        &As::Nobody,
        Method::POST,
        "/api/v1/setup",
        Some(json!({ "username": "alice", "password": "a-good-password" })),
    )
    .await;
    assert_eq!(missing.invalid_fields(), ["token"]);
    let short = call(
        &app,
        &As::Nobody,
        Method::POST,
        "/api/v1/setup",
        Some(setup(&token, "short")),
    )
    .await;
    assert_eq!(short.invalid_fields(), ["password"]);

    let done = call(
        &app,
        &As::Nobody,
        Method::POST,
        "/api/v1/setup",
        Some(setup(&token, "a-good-password")),
    )
    .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.text);
    assert_eq!(done.body["user"]["role"], "admin");
    let session = As::Session(session_of(&done));
    let me = call(&app, &session, Method::GET, "/api/v1/auth/me", None).await;
    assert_eq!(
        (me.body["user"]["username"].as_str(), me.body["via"].as_str()),
        (Some("alice"), Some("session"))
    );

    let again = call(
        &app,
        &As::Nobody,
        Method::POST,
        "/api/v1/setup",
        Some(setup(&token, "another-password")),
    )
    .await;
    again.problem(409);
    assert_eq!(
        app.access.begin_setup().await.unwrap(),
        None,
        "no new token once a user exists"
    );
    let state = call(&app, &As::Nobody, Method::GET, "/api/v1/auth/state", None).await;
    assert_eq!(state.body["setup_required"], false);
}

async fn sessions_change_at_login_end_at_logout_and_expire(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = login(&app, "ADMIN", common::ADMIN_PASSWORD).await;
    let again = call(
        &app,
        &As::Session(first.clone()),
        Method::POST,
        "/api/v1/auth/login",
        Some(json!({ "username": "admin", "password": common::ADMIN_PASSWORD })),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    let cookie = again.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");
    let second = session_of(&again);
    assert_ne!(first, second, "a new session id at every login");
    let stale = call(&app, &As::Session(first), Method::GET, "/api/v1/auth/me", None).await;
    stale.problem(401);
    assert!(
        stale
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "a stale cookie is removed"
    );
    assert!(
        call(
            &app,
            &As::Session(second.clone()),
            Method::GET,
            "/api/v1/auth/me",
            None
        )
        .await
        .status
        .is_success()
    );

    let out = call(
        &app,
        &As::Session(second.clone()),
        Method::POST,
        "/api/v1/auth/logout",
        None,
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    call(&app, &As::Session(second), Method::GET, "/api/v1/auth/me", None)
        .await
        .problem(401);

    // Sessions end after the configured time without use; https deployments get Secure cookies.
    let short = App::on(backend)
        .access(AccessConfig {
            session_ttl: Duration::from_secs(1),
            public_url: Some("https://home.example.com".parse().unwrap()),
            ..AccessConfig::default()
        })
        .start()
        .await;
    let reply = call(
        &short,
        &As::Nobody,
        Method::POST,
        "/api/v1/auth/login",
        Some(json!({ "username": "admin", "password": common::ADMIN_PASSWORD })),
    )
    .await;
    assert!(reply.header("set-cookie").unwrap().contains("; Secure"));
    let session = As::Session(session_of(&reply));
    assert!(
        call(&short, &session, Method::GET, "/api/v1/auth/me", None)
            .await
            .status
            .is_success()
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    call(&short, &session, Method::GET, "/api/v1/auth/me", None)
        .await
        .problem(401);
}

async fn cookie_writes_from_another_site_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = login(&app, common::ADMIN, common::ADMIN_PASSWORD).await;
    let post = |origin: Option<&str>, page_header: bool, name: &str| {
        let mut request = app
            .anonymous
            .post(format!("{}/api/v1/groups", app.base))
            .header("cookie", format!("homewatch_session={session}"))
            .json(&json!({ "name": name }));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if page_header {
            request = request.header("x-homewatch-request", "1");
        }
        request.send()
    };
    let foreign = read(post(Some("https://evil.example"), true, "Evil").await.unwrap()).await;
    assert!(
        foreign.problem(403)["detail"]
            .as_str()
            .unwrap()
            .contains("another site")
    );
    let bare = read(post(None, false, "Bare").await.unwrap()).await;
    bare.problem(403);
    let same = read(post(Some(&app.base), false, "Same origin").await.unwrap()).await;
    assert_eq!(same.status, StatusCode::CREATED, "{}", same.text);
    let page = read(post(None, true, "From the page").await.unwrap()).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.text);
    let names: Vec<String> = app
        .get("/api/v1/groups")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["Same origin", "From the page"],
        "nothing from the refused requests"
    );

    // Tokens are not cookies: another origin does not matter to them.
    let token = app.admin.as_ref().unwrap().1.clone();
    let scripted = read(
        app.anonymous
            .post(format!("{}/api/v1/groups", app.base))
            .bearer_auth(token)
            .header("origin", "https://elsewhere.example")
            .json(&json!({ "name": "Scripted" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(scripted.status, StatusCode::CREATED, "{}", scripted.text);
}

async fn login_attempts_back_off_per_address_and_per_name_then_recover(backend: Backend) {
    let app = App::on(backend)
        .access(AccessConfig {
            trusted_proxies: "127.0.0.1, 10.0.0.0/8".parse().unwrap(),
            limiter: LimiterConfig {
                free_failures: 3,
                first_wait: Duration::from_secs(1),
                longest_wait: Duration::from_secs(60),
                max_keys: 1000,
            },
            ..AccessConfig::default()
        })
        .start()
        .await;
    new_user(&app, "bob", "viewer").await;
    let attempt = |from: &str, username: &'static str, password: &'static str| {
        app.anonymous
            .post(format!("{}/api/v1/auth/login", app.base))
            .header("x-forwarded-for", format!("203.0.113.66, {from}, 10.0.0.9"))
            .json(&json!({ "username": username, "password": password }))
            .send()
    };
    // Three failures are free; the fourth is still checked, and counted.
    for _ in 0..4 {
        read(attempt("192.0.2.1", "admin", "not-the-password").await.unwrap())
            .await
            .problem(401);
    }
    let held = read(
        attempt("192.0.2.1", "admin", common::ADMIN_PASSWORD)
            .await
            .unwrap(),
    )
    .await;
    held.problem(429);
    let retry: u64 = held.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // The address is held for any name; the owner, from an address with no failures, is not held at all.
    read(attempt("192.0.2.1", "bob", "bob-password").await.unwrap())
        .await
        .problem(429);
    let owner = read(
        attempt("192.0.2.2", "admin", common::ADMIN_PASSWORD)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        owner.status,
        StatusCode::OK,
        "others' failures do not keep the owner out: {}",
        owner.text
    );
    let elsewhere = read(attempt("192.0.2.3", "bob", "bob-password").await.unwrap()).await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.text);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let lifted = read(
        attempt("192.0.2.1", "admin", common::ADMIN_PASSWORD)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(lifted.status, StatusCode::OK, "the wait is over: {}", lifted.text);
    // A success clears the count: the failures are free again.
    for _ in 0..3 {
        read(attempt("192.0.2.1", "admin", "not-the-password").await.unwrap())
            .await
            .problem(401);
    }

    // Guesses sent all at once are not each checked: one is verified at a time, the others refused.
    let parallel: Vec<_> = (0..200)
        .map(|n| {
            let request = app
                .anonymous
                .post(format!("{}/api/v1/auth/login", app.base))
                .header("x-forwarded-for", "198.51.100.7")
                .json(&json!({ "username": "admin", "password": format!("guess {n}") }));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in parallel {
        statuses.push(guess.await.unwrap());
    }
    let verified = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(verified + refused, 200, "{statuses:?}");
    eprintln!("200 parallel wrong logins: {verified} verified, {refused} refused");
    assert!(
        verified <= 4,
        "at most the free failures and one more are checked: {verified} of 200"
    );
}

async fn a_wrong_name_and_a_wrong_password_look_alike(backend: Backend) {
    let app = App::on(backend)
        .access(AccessConfig {
            limiter: LimiterConfig {
                free_failures: 100,
                ..LimiterConfig::default()
            },
            ..AccessConfig::default()
        })
        .start()
        .await;
    let mut timings = [Vec::new(), Vec::new()];
    let mut bodies = Vec::new();
    for round in 0..4 {
        for (slot, username) in [(0, "admin"), (1, "no-such-user")] {
            let started = Instant::now();
            let reply = call(
                &app,
                &As::Nobody,
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({ "username": username, "password": format!("wrong password {round}") })),
            )
            .await;
            timings[slot].push(started.elapsed());
            reply.problem(401);
            bodies.push((slot, reply.body["detail"].clone()));
        }
    }
    assert!(
        bodies.iter().all(|(_, detail)| *detail == bodies[0].1),
        "{bodies:?}"
    );
    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (wrong_password, wrong_name) = (median(&mut timings[0]), median(&mut timings[1]));
    // Without the decoy hash an unknown name answers in about a millisecond, a wrong password in tens.
    assert!(
        wrong_name * 2 > wrong_password && wrong_password * 2 > wrong_name,
        "wrong password {wrong_password:?}, unknown name {wrong_name:?}"
    );
}

async fn changing_a_password_ends_the_other_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let here = As::Session(login(&app, common::ADMIN, common::ADMIN_PASSWORD).await);
    let there = As::Session(login(&app, common::ADMIN, common::ADMIN_PASSWORD).await);
    let wrong = call(
        &app,
        &here,
        Method::POST,
        "/api/v1/auth/password",
        Some(json!({ "current_password": "not it at all", "new_password": "a-brand-new-password" })),
    )
    .await;
    assert_eq!(
        wrong.problem(403)["errors"][0]["field"],
        "current_password",
        "a wrong current password is a refusal naming the field"
    );
    let short = call(
        &app,
        &here,
        Method::POST,
        "/api/v1/auth/password",
        Some(json!({ "current_password": common::ADMIN_PASSWORD, "new_password": "tiny" })),
    )
    .await;
    assert_eq!(short.invalid_fields(), ["new_password"]);
    let changed = call(
        &app,
        &here,
        Method::POST,
        "/api/v1/auth/password",
        Some(json!({ "current_password": common::ADMIN_PASSWORD, "new_password": "a-brand-new-password" })),
    )
    .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
    assert!(
        call(&app, &here, Method::GET, "/api/v1/auth/me", None)
            .await
            .status
            .is_success()
    );
    call(&app, &there, Method::GET, "/api/v1/auth/me", None)
        .await
        .problem(401);
    login(&app, common::ADMIN, "a-brand-new-password").await;
    let old = call(
        &app,
        &As::Nobody,
        Method::POST,
        "/api/v1/auth/login",
        Some(json!({ "username": "admin", "password": common::ADMIN_PASSWORD })),
    )
    .await;
    old.problem(401);
}

async fn tokens_are_shown_once_scoped_used_and_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = As::Token(app.admin.as_ref().unwrap().1.clone());
    let (read_id, read_token) = new_token(&app, &admin, "read").await;
    assert!(read_token.starts_with("hw_"));
    let listed = app.get("/api/v1/tokens").await;
    let entry = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == read_id)
        .unwrap()
        .clone();
    assert!(
        entry.get("token").is_none(),
        "the secret is shown once only: {entry}"
    );
    assert_eq!(
        (entry["scope"].as_str(), &entry["last_used_at"]),
        (Some("read"), &Value::Null)
    );
    assert!(!listed.text.contains(&read_token));

    let reader = As::Token(read_token.clone());
    assert!(
        call(&app, &reader, Method::GET, "/api/v1/dashboard", None)
            .await
            .status
            .is_success()
    );
    let me = call(&app, &reader, Method::GET, "/api/v1/auth/me", None).await;
    assert_eq!(
        (me.body["via"].as_str(), me.body["scope"].as_str()),
        (Some("token"), Some("read"))
    );
    let refused = call(
        &app,
        &reader,
        Method::POST,
        "/api/v1/groups",
        Some(json!({ "name": "Nope" })),
    )
    .await;
    assert!(
        refused.problem(403)["detail"]
            .as_str()
            .unwrap()
            .contains("write scope")
    );
    let used = app.get("/api/v1/tokens").await;
    let entry = used
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == read_id)
        .unwrap()
        .clone();
    assert!(entry["last_used_at"].is_string(), "{entry}");

    // A viewer manages their own read tokens only; an admin sees everyone's.
    new_user(&app, "vic", "viewer").await;
    let viewer = As::Session(login(&app, "vic", "vic-password").await);
    let write = call(
        &app,
        &viewer,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({ "name": "w", "scope": "write" })),
    )
    .await;
    write.problem(403);
    let (viewer_token_id, _) = new_token(&app, &viewer, "read").await;
    let theirs = call(&app, &viewer, Method::GET, "/api/v1/tokens", None).await;
    assert_eq!(theirs.body.as_array().unwrap().len(), 1, "{}", theirs.text);
    call(
        &app,
        &viewer,
        Method::DELETE,
        &format!("/api/v1/tokens/{read_id}"),
        None,
    )
    .await
    .problem(404);
    let all = app.get("/api/v1/tokens").await;
    assert!(
        all.body
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == viewer_token_id && t["username"] == "vic")
    );

    let past = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({ "name": "old", "scope": "read", "expires_at": "2020-01-01T00:00:00Z" })),
    )
    .await;
    assert_eq!(past.invalid_fields(), ["expires_at"]);
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let brief = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({ "name": "brief", "scope": "read", "expires_at": soon })),
    )
    .await;
    let brief = As::Token(brief.body["token"].as_str().unwrap().to_owned());
    assert!(
        call(&app, &brief, Method::GET, "/api/v1/groups", None)
            .await
            .status
            .is_success()
    );
    tokio::time::sleep(Duration::from_millis(1700)).await;
    call(&app, &brief, Method::GET, "/api/v1/groups", None)
        .await
        .problem(401);

    assert_eq!(
        app.delete(&format!("/api/v1/tokens/{read_id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let revoked = call(&app, &reader, Method::GET, "/api/v1/dashboard", None).await;
    assert!(
        revoked.problem(401)["detail"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    assert_eq!(revoked.header("www-authenticate"), Some("Bearer"));
    let malformed = app
        .anonymous
        .get(format!("{}/api/v1/groups", app.base))
        .header("authorization", "Basic YWRtaW46YWRtaW4=")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::UNAUTHORIZED);
}

async fn users_are_managed_by_admins_and_one_admin_always_remains(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin_id = app.admin.as_ref().unwrap().0.id;
    let viewer = new_user(&app, "Dana", "viewer").await;
    let clash = app
        .post(
            "/api/v1/users",
            json!({ "username": "dana", "password": "0123456789", "role": "admin" }),
        )
        .await;
    assert_eq!(clash.problem(409)["errors"][0]["field"], "username");
    let bad = app
        .post(
            "/api/v1/users",
            json!({ "username": "has space", "password": "short", "role": "root" }),
        )
        .await;
    assert_eq!(
        bad.invalid_fields(),
        ["role"],
        "the role is checked first, as a type: {}",
        bad.text
    );
    let bad = app
        .post(
            "/api/v1/users",
            json!({ "username": "has space", "password": "short", "role": "viewer" }),
        )
        .await;
    assert_eq!(bad.invalid_fields(), ["username", "password"]);

    let demote = app
        .patch(&format!("/api/v1/users/{admin_id}"), json!({ "role": "viewer" }))
        .await;
    assert!(
        demote.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("last admin")
    );
    app.delete(&format!("/api/v1/users/{admin_id}"))
        .await
        .problem(409);

    let dana = As::Session(login(&app, "dana", "Dana-password").await);
    let promoted = app
        .patch(&format!("/api/v1/users/{viewer}"), json!({ "role": "admin" }))
        .await;
    assert_eq!(promoted.body["role"], "admin");
    assert!(
        call(&app, &dana, Method::GET, "/api/v1/users", None)
            .await
            .status
            .is_success(),
        "roles apply at once"
    );
    let demoted = app
        .patch(&format!("/api/v1/users/{admin_id}"), json!({ "role": "viewer" }))
        .await;
    assert_eq!(
        demoted.status,
        StatusCode::OK,
        "another admin exists now: {}",
        demoted.text
    );
    call(
        &app,
        &dana,
        Method::PATCH,
        &format!("/api/v1/users/{admin_id}"),
        Some(json!({ "role": "admin" })),
    )
    .await;

    let reset = app
        .patch(
            &format!("/api/v1/users/{viewer}"),
            json!({ "password": "reset-by-admin-1" }),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    call(&app, &dana, Method::GET, "/api/v1/auth/me", None)
        .await
        .problem(401);
    let dana = As::Session(login(&app, "dana", "reset-by-admin-1").await);
    assert_eq!(
        app.delete(&format!("/api/v1/users/{viewer}")).await.status,
        StatusCode::NO_CONTENT
    );
    call(&app, &dana, Method::GET, "/api/v1/auth/me", None)
        .await
        .problem(401);
    app.get(&format!("/api/v1/users/{viewer}")).await.problem(404);
}

async fn check_header_values_are_hidden_from_readers(backend: Backend) {
    let app = spawn_app(backend).await;
    let group = app.group("Secrets").await;
    let tile = app
        .service(
            group,
            "Api",
            json!({ "check": { "kind": "http", "interval_s": 3600, "headers": { "Authorization": "Bearer s3cret" } } }),
        )
        .await;
    let admin = app.get(&format!("/api/v1/services/{tile}")).await;
    assert_eq!(admin.body["check"]["headers"]["Authorization"], "Bearer s3cret");
    new_user(&app, "reader", "viewer").await;
    let viewer = As::Session(login(&app, "reader", "reader-password").await);
    for path in [
        format!("/api/v1/services/{tile}"),
        "/api/v1/services".into(),
        "/api/v1/dashboard".into(),
    ] {
        let reply = call(&app, &viewer, Method::GET, &path, None).await;
        assert!(reply.status.is_success(), "{}", reply.text);
        assert!(!reply.text.contains("s3cret"), "{path}: {}", reply.text);
        assert!(
            reply.text.contains(homewatch::model::HIDDEN),
            "{path}: {}",
            reply.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in [
        "/",
        "/services/3",
        "/js/app.js",
        "/api/v1/auth/state",
        "/api/v1/groups",
        "/healthz",
        "/api/docs",
        "/api/nope",
    ] {
        let reply = call(&app, &As::Nobody, Method::GET, path, None).await;
        let csp = reply
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"));
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if path == "/api/docs" {
            assert!(
                csp.contains("'unsafe-inline'"),
                "Swagger UI needs its inline script: {csp}"
            );
        } else {
            assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        }
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(reply.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{path}");
    }
}
