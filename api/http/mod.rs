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

use crate::{auth::Access, monitor::engine::Engine, store::Store, tiles::Tiles};

pub mod account;
pub mod dashboard;
pub mod groups;
pub mod health;
pub mod json_body;
pub mod monitoring;
pub mod problem;
pub mod security;
pub mod services;
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
}

pub type Api = (
    groups::GroupsApi,
    services::ServicesApi,
    dashboard::DashboardApi,
    monitoring::MonitoringApi,
    account::AccountApi,
    tokens::TokensApi,
    users::UsersApi,
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

/// The OpenAPI document, as committed in `openapi.json`.
pub fn spec_json() -> String {
    api_service().spec()
}

/// What the HTTP layer needs from the configuration.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Serve the page from this folder instead of the built-in copy.
    pub web_dir: Option<PathBuf>,
    pub request_timeout: Duration,
    pub cors_origins: Vec<String>,
}

#[handler]
fn api_not_found() -> Response {
    Problem::new(StatusCode::NOT_FOUND, problem::NO_SUCH_ENDPOINT).into_response_with_status()
}

/// Logs every request (method, path, status, latency, request id), and gives bodiless error responses
/// (from routing or the timeout layer) the problem shape every other error has.
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
    let mut response = next.get_response(request).await;
    let status = response.status();
    let bodiless = response.headers().get(header::CONTENT_TYPE).is_none() && method != Method::HEAD;
    if (status.is_client_error() || status.is_server_error()) && bodiless {
        let detail = match status {
            StatusCode::REQUEST_TIMEOUT => "the request took too long and was abandoned".to_owned(),
            _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
        };
        let mut headers = response.headers().clone();
        headers.remove(header::CONTENT_LENGTH);
        response = Problem::new(status, detail).into_response_with_status();
        response.headers_mut().extend(headers);
    }
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
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let web_dir = options.web_dir.as_deref();
    if !web::WebApp::has_index(web_dir) {
        return Err(format!(
            "HOMEWATCH_WEB_DIR {} has no index.html: point it at a copy of web/, or unset it to serve the page \
             built into homewatch",
            web_dir.map(|dir| dir.display().to_string()).unwrap_or_default()
        ));
    }
    let web = Arc::new(web::WebApp::new(web_dir));

    let routes = Route::new()
        .nest(
            API_PREFIX,
            api.into_endpoint()
                .around(security::authenticate)
                .catch_all_error(|err| async move { from_poem_error(err) }),
        )
        .at("/api/openapi.json", spec)
        .nest(
            "/api/docs",
            docs.with(TowerLayer(
                tower_http::set_header::SetResponseHeaderLayer::overriding(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(DOCS_CSP),
                ),
            )),
        )
        .at("/api/*rest", api_not_found)
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/", web.clone())
        .at("/*path", web)
        .data(Tiles::new(store.clone(), engine))
        .data(store)
        .data(access);

    let layered = security_headers(routes)
        .with(TowerLayer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            options.request_timeout,
        )))
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
