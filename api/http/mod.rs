//! The HTTP surface: the typed REST API under `/api/v1`, its spec and docs, the probes, the web app,
//! and the tower-http layers around them (request ids, logs, CORS, compression, timeouts).

use std::{path::PathBuf, sync::Arc, time::Duration};

use http::{HeaderName, HeaderValue, Method, header};
use poem::{
    Endpoint, EndpointExt, IntoEndpoint, Request, Response, Route, endpoint::BoxEndpoint, get, handler,
    http::StatusCode, web::Data,
};
use poem_openapi::{OpenApiService, Tags};
use tower_http::{
    compression::CompressionLayer,
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
};

use crate::{
    auth::Access,
    metrics::Metrics,
    monitor::engine::Engine,
    public::{PublicFaces, StatusPages, badge::Badges, own_domains},
    store::Store,
    tiles::Tiles,
};

pub mod account;
pub mod alerts;
pub mod connections;
pub mod dashboard;
pub mod groups;
pub mod health;
pub mod json_body;
pub mod manifest;
pub mod monitoring;
pub mod pages;
pub mod problem;
pub mod push;
pub mod security;
pub mod services;
pub mod spec;
pub mod streams;
pub mod tokens;
pub mod tower_compat;
pub mod users;
pub mod web;

use problem::{Problem, from_poem_error};
use tower_compat::TowerLayer;

/// How handlers reach the store. It is attached as exactly `Arc<dyn Store>`: poem finds data by type.
pub type StoreData<'a> = Data<&'a Arc<dyn Store>>;
/// How handlers read and change tiles (the store and the engine together).
pub type TilesData<'a> = Data<&'a Tiles>;

pub const API_PREFIX: &str = "/api/v1";
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Tags)]
pub enum ApiTags {
    /// Groups of tiles and their order on the start page.
    Groups,
    /// Service tiles: what they link to, how they look, how they are filtered and ordered.
    Services,
    /// The start page in one call.
    Dashboard,
    /// Checks run now, pause and resume, results, uptime and latency stats, incidents, live events.
    Monitoring,
    /// The first admin, signing in and out, who is calling, one's own password.
    Access,
    /// API tokens for scripts and SDKs.
    Tokens,
    /// Users and their roles (admins only).
    Users,
    /// Notification channels (write-only secrets), test messages, and the delivery log.
    Alerts,
    /// Planned maintenance: tiles show `maintenance`, nothing is notified, uptime leaves the time out.
    Maintenance,
    /// Public status pages (served at `/status/{slug}` to anyone, no login).
    StatusPages,
    /// Incident posts written by people, shown on the status pages that show their tiles.
    Posts,
    /// Configuration as code: everything configured as one document, and applying one.
    Config,
}

pub type Api = (
    groups::GroupsApi,
    services::ServicesApi,
    dashboard::DashboardApi,
    monitoring::MonitoringApi,
    account::AccountApi,
    tokens::TokensApi,
    users::UsersApi,
    alerts::AlertsApi,
    alerts::MaintenanceApi,
    push::PushApi,
    pages::StatusPagesApi,
    pages::PostsApi,
    manifest::ConfigApi,
);

/// The typed API, without a store: enough to print or serve the spec.
pub fn api_service() -> OpenApiService<Api, ()> {
    OpenApiService::new(
        (
            groups::GroupsApi,
            services::ServicesApi,
            dashboard::DashboardApi,
            monitoring::MonitoringApi,
            account::AccountApi,
            tokens::TokensApi,
            users::UsersApi,
            alerts::AlertsApi,
            alerts::MaintenanceApi,
            push::PushApi,
            pages::StatusPagesApi,
            pages::PostsApi,
            manifest::ConfigApi,
        ),
        "Homewatch",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Your self-hosted services as tiles in groups. Errors are RFC 9457 problem details \
         (`application/problem+json`); validation errors (422) name each field in `errors`. \
         Sign in with POST /auth/login (a session cookie; changes made with it must come from the page's own \
         origin), or send an API token from POST /tokens as `Authorization: Bearer hw_...`.",
    )
    .server(API_PREFIX)
}

/// The OpenAPI document, as served at /api/openapi.json and committed in `openapi.json`.
pub fn spec_json() -> String {
    let document = spec::document(&api_service().spec());
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// Swagger UI at /api/docs, showing the same document as /api/openapi.json.
fn docs_page(api: &OpenApiService<Api, ()>, document: &str) -> String {
    api.swagger_ui_html().replacen(&api.spec(), document, 1)
}

/// The document as a response; it never changes while the server runs.
#[handler]
fn openapi_json(document: Data<&Arc<String>>) -> Response {
    Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(document.0.as_str().to_owned())
}

#[handler]
fn docs_html(page: Data<&Arc<DocsPage>>) -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .body(page.0.0.clone())
}

struct DocsPage(String);

/// What the HTTP layer needs from the configuration.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Serve the page from this folder instead of the built-in copy.
    pub web_dir: Option<PathBuf>,
    pub request_timeout: Duration,
    pub cors_origins: Vec<String>,
    /// Host names (and `host:port`s) requests may be addressed to; empty: any.
    pub allowed_hosts: Vec<String>,
    pub streams: streams::StreamLimits,
    /// How messages are made and sent (the channel test).
    pub alerts: crate::alerts::AlertsConfig,
    /// Serve /metrics (HOMEWATCH_METRICS), behind this bearer token when set (HOMEWATCH_METRICS_TOKEN).
    pub metrics: bool,
    pub metrics_token: Option<String>,
    /// HOMEWATCH_PUBLIC_URL, for the absolute links of feeds.
    pub public_url: Option<url::Url>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            web_dir: None,
            request_timeout: Duration::from_secs(30),
            cors_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            streams: streams::StreamLimits::DEFAULT,
            alerts: crate::alerts::AlertsConfig::DEFAULT,
            metrics: false,
            metrics_token: None,
            public_url: None,
        }
    }
}

#[handler]
fn api_not_found() -> Response {
    Problem::new(StatusCode::NOT_FOUND, problem::NO_SUCH_ENDPOINT).into_response_with_status()
}

/// The methods each path answers, for the `Allow` header of a 405: the API's from its document, and GET
/// (with HEAD) everywhere else.
struct AllowedMethods {
    /// Path templates split into segments (`{id}` matches any one), with their methods.
    api: Vec<(Vec<String>, String)>,
}

impl AllowedMethods {
    fn from_document(document: &serde_json::Value) -> Self {
        let paths = document.get("paths").and_then(serde_json::Value::as_object);
        let api = paths
            .into_iter()
            .flatten()
            .map(|(path, operations)| {
                let mut methods: Vec<String> = operations
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(method, _)| method.to_uppercase())
                    .collect();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                let template = format!("{API_PREFIX}{path}");
                (
                    template.split('/').map(str::to_owned).collect(),
                    methods.join(", "),
                )
            })
            .collect();
        Self { api }
    }

    fn for_path(&self, path: &str) -> String {
        let segments: Vec<&str> = path.split('/').collect();
        self.api
            .iter()
            .find(|(template, _)| {
                template.len() == segments.len()
                    && template
                        .iter()
                        .zip(&segments)
                        .all(|(part, segment)| part.starts_with('{') || part == segment)
            })
            .map_or_else(|| "GET, HEAD".to_owned(), |(_, methods)| methods.clone())
    }
}

/// Gives error responses that are not yet problem details (from routing, the timeout layer, the static files,
/// plain handlers) the problem shape every other error has, and a 405 its `Allow`. It runs inside the compression layer, so whatever body it
/// writes is compressed (and labelled) as any other.
async fn problem_bodies<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let allowed = request.data::<Arc<AllowedMethods>>().cloned();
    let mut response = next.get_response(request).await;
    let status = response.status();
    if status == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::ALLOW)
        && let Some(allowed) = allowed
        && let Ok(value) = HeaderValue::from_str(&allowed.for_path(&path))
    {
        response.headers_mut().insert(header::ALLOW, value);
    }
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.starts_with("application/problem+json") || value.starts_with("application/json")
        });
    if (status.is_client_error() || status.is_server_error()) && !json && method != Method::HEAD {
        let detail = match status {
            StatusCode::REQUEST_TIMEOUT => "the request took too long and was abandoned".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED => {
                "this endpoint does not accept that method; `Allow` lists those it does (see /api/docs)"
                    .to_owned()
            }
            _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
        };
        let mut headers = response.headers().clone();
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::CONTENT_ENCODING);
        response = Problem::new(status, detail).into_response_with_status();
        response.headers_mut().extend(headers);
    }
    Ok(response)
}

/// The host names requests may be addressed to (HOMEWATCH_ALLOWED_HOSTS): a page on another site that has
/// its own name point at this server (DNS rebinding) sends its own name as `Host`, and is refused. Loopback
/// names and addresses are always allowed, for health checks.
#[derive(Debug, Clone)]
struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    fn admits(&self, host: &str) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let host = host.trim().to_ascii_lowercase();
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => name,
            _ => host.as_str(),
        };
        let loopback = name == "localhost"
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        loopback || self.0.iter().any(|allowed| allowed == &host || allowed == name)
    }
}

/// What a status page served at its own domain loads from that host: the page, its feed, style, script,
/// icon and badges. Only these (and only to read) are answered for a page's domain that
/// HOMEWATCH_ALLOWED_HOSTS does not list.
fn public_path(request: &Request) -> bool {
    let path = request.uri().path();
    matches!(*request.method(), Method::GET | Method::HEAD)
        && (matches!(
            path,
            "/" | "/feed.atom" | "/status.css" | "/js/status.js" | "/favicon.svg"
        ) || path.starts_with("/status/")
            || path.starts_with("/badge/"))
}

async fn check_host<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    let own_domain = match request
        .data::<Arc<PublicFaces>>()
        .filter(|_| public_path(&request))
    {
        Some(faces) => {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            faces.by_host(host).await.is_some()
        }
        None => false,
    };
    if own_domain {
        // A published status page's own domain is always answered.
        return Ok(next.get_response(request).await);
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| request.uri().authority().map(|authority| authority.as_str()))
        .unwrap_or_default()
        .to_owned();
    if let Some(allowed) = request.data::<AllowedHosts>()
        && !allowed.admits(&host)
    {
        return Ok(Problem::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!("this server does not answer for `{host}`: see HOMEWATCH_ALLOWED_HOSTS"),
        )
        .into_response_with_status());
    }
    Ok(next.get_response(request).await)
}

/// Logs every request: method, path, status, latency and request id.
async fn log_requests<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.get_response(request).await;
    let status = response.status();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(target: "homewatch::http", %method, %path, status = status.as_u16(), latency_ms, request_id, "request");
    Ok(response)
}

fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, String> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.contains(&"*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|origin| {
                HeaderValue::from_str(origin.trim_end_matches('/'))
                    .map_err(|_| format!("HOMEWATCH_CORS_ORIGINS: `{origin}` is not a valid origin"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static(security::CSRF_HEADER),
            ])
            .expose_headers([header::LOCATION, REQUEST_ID])
            .max_age(Duration::from_secs(600)),
    ))
}

/// The page's Content-Security-Policy: its own scripts and styles only; images from anywhere (tile icons).
const APP_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; \
                       connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
                       frame-ancestors 'none'";
/// Swagger UI at /api/docs is one page with its script inline; it gets this looser policy, and only it.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
                        img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; \
                        frame-ancestors 'none'";

/// Security headers on every response (a route may set its own Content-Security-Policy first).
fn security_headers<E: Endpoint + 'static>(endpoint: E) -> impl Endpoint {
    use tower_http::set_header::SetResponseHeaderLayer;
    let header = |name: &'static str, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(HeaderName::from_static(name), HeaderValue::from_static(value))
    };
    endpoint
        .with(TowerLayer(header("content-security-policy", APP_CSP)))
        .with(TowerLayer(header("x-content-type-options", "nosniff")))
        .with(TowerLayer(header("referrer-policy", "no-referrer")))
        .with(TowerLayer(header("x-frame-options", "DENY")))
        .with(TowerLayer(header("cross-origin-opener-policy", "same-origin")))
}

/// The whole server as one endpoint. Fails only on configuration it cannot use (e.g. a bad CORS origin).
pub fn app(
    store: Arc<dyn Store>,
    engine: Engine,
    access: Arc<Access>,
    options: &HttpOptions,
) -> Result<BoxEndpoint<'static>, String> {
    let api = api_service();
    let document = Arc::new(spec_json());
    let allowed = Arc::new(AllowedMethods::from_document(
        &serde_json::from_str(&document).unwrap_or_default(),
    ));
    let docs = Arc::new(DocsPage(docs_page(&api, &document)));
    let web_dir = options.web_dir.as_deref();
    if !web::WebApp::has_index(web_dir) {
        return Err(format!(
            "HOMEWATCH_WEB_DIR {} has no index.html: point it at a copy of web/, or unset it to serve the page \
             built into homewatch",
            web_dir.map(|dir| dir.display().to_string()).unwrap_or_default()
        ));
    }
    let web = Arc::new(web::WebApp::new(web_dir));
    let notifier = Arc::new(alerts::Notifier::new(options.alerts.clone())?);
    let faces = Arc::new(PublicFaces::new(
        store.clone(),
        engine.clone(),
        options.public_url.clone(),
    ));
    let metrics = MetricsPage {
        metrics: options.metrics.then(|| Metrics::start(&engine)),
        token: options.metrics_token.clone(),
        store: store.clone(),
        engine: engine.clone(),
    };

    let routes = Route::new()
        .nest(
            API_PREFIX,
            api.into_endpoint()
                .around(security::authenticate)
                .catch_all_error(|err| async move { from_poem_error(err) }),
        )
        .at("/api/openapi.json", get(openapi_json).data(document))
        .at(
            "/api/docs",
            get(docs_html).data(docs).with(TowerLayer(
                tower_http::set_header::SetResponseHeaderLayer::overriding(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(DOCS_CSP),
                ),
            )),
        )
        .at("/api/*rest", api_not_found)
        .at(
            "/status/*rest",
            StatusPages(faces.clone()).around(security::authenticate),
        )
        .at("/badge/*rest", Badges(faces.clone()))
        .at("/metrics", metrics)
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/", web.clone())
        .at("/*path", web)
        .data(Tiles::new(store.clone(), engine))
        .data(streams::Streams::new(options.streams))
        .data(security::CrossOrigins(options.cors_origins.clone()))
        .data(store)
        .data(notifier)
        .data(Arc::new(push::PushLimiter::default()))
        .data(faces.clone())
        .data(access);

    let layered = security_headers(routes.around(own_domains))
        .with(TowerLayer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            options.request_timeout,
        )))
        .around(check_host)
        .data(faces)
        .data(AllowedHosts(
            options
                .allowed_hosts
                .iter()
                .map(|host| host.trim().to_ascii_lowercase())
                .collect(),
        ))
        .around(problem_bodies)
        .data(allowed)
        .with(TowerLayer(CompressionLayer::new()))
        .boxed();
    let layered = match cors_layer(&options.cors_origins)? {
        Some(cors) => layered.with(TowerLayer(cors)).boxed(),
        None => layered,
    };
    Ok(layered
        .around(log_requests)
        .with(TowerLayer(PropagateRequestIdLayer::new(REQUEST_ID)))
        .with(TowerLayer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid)))
        .boxed())
}

/// `/metrics`: 404 unless HOMEWATCH_METRICS is on; 401 without the token when HOMEWATCH_METRICS_TOKEN is set.
struct MetricsPage {
    metrics: Option<Arc<Metrics>>,
    token: Option<String>,
    store: Arc<dyn Store>,
    engine: Engine,
}

impl Endpoint for MetricsPage {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        if let Some(refused) = crate::public::read_only(&request) {
            return Ok(refused);
        }
        let Some(metrics) = &self.metrics else {
            return Ok(Problem::new(
                StatusCode::NOT_FOUND,
                "metrics are off: set HOMEWATCH_METRICS=true to serve them here",
            )
            .into_response_with_status());
        };
        if let Some(token) = &self.token {
            let given = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim().to_owned())
                .unwrap_or_default();
            use subtle::ConstantTimeEq;
            if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
                let mut response = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "send the metrics token (HOMEWATCH_METRICS_TOKEN) as `Authorization: Bearer <token>`",
                )
                .into_response_with_status();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"metrics\""),
                );
                return Ok(response);
            }
        }
        let openmetrics = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("application/openmetrics-text"));
        match metrics.scrape(self.store.as_ref(), &self.engine).await {
            Ok(text) if openmetrics => Ok(Response::builder()
                .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
                .header(header::CACHE_CONTROL, "no-store")
                .body(text)),
            Ok(text) => Ok(Response::builder()
                .content_type("text/plain; version=0.0.4; charset=utf-8")
                .header(header::CACHE_CONTROL, "no-store")
                .body(crate::metrics::classic_text(&text))),
            Err(err) => {
                tracing::warn!(error = %err, "metrics could not be read");
                Ok(Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "metrics cannot be read right now (the database is unavailable): try again shortly",
                )
                .into_response_with_status())
            }
        }
    }
}
