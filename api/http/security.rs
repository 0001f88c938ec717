//! Who is calling. `authenticate` reads each request's bearer token or session cookie once: a token that is
//! not valid is refused (401), a stale cookie just makes the request anonymous, and a cookie-authenticated
//! write from another site is refused (403). Operations then ask for `Auth` (signed in) or `ReadAuth`
//! (signed in, or anonymous when the dashboard is public); both document the cookie and bearer schemes.

use std::sync::Arc;

use http::{HeaderValue, Method, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme,
    auth::{ApiKey, Bearer},
    registry::Registry,
};

use super::problem::{ApiError, Problem};
use crate::{
    auth::Access,
    model::{Role, Scope, User},
    store::StoreError,
};

pub const SESSION_COOKIE: &str = "homewatch_session";
/// The page sends this on every request; a form or image on another site cannot.
pub const CSRF_HEADER: &str = "x-homewatch-request";

/// How a caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session { id: i64 },
    Token { id: i64, scope: Scope },
}

/// A signed-in caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Via,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    fn read_only_token(&self) -> bool {
        matches!(
            self.via,
            Via::Token {
                scope: Scope::Read,
                ..
            }
        )
    }

    /// Changes to the dashboard and its checks: admins, and not through a read token.
    pub fn can_write(&self) -> bool {
        self.is_admin() && !self.read_only_token()
    }

    /// Changes to one's own account (password, tokens): anyone but a read token.
    pub fn can_change_own_account(&self) -> bool {
        !self.read_only_token()
    }

    pub fn session_id(&self) -> Option<i64> {
        match self.via {
            Via::Session { id } => Some(id),
            Via::Token { .. } => None,
        }
    }
}

/// What `authenticate` left in the request for the extractors.
#[derive(Debug, Clone)]
enum Caller {
    User(Principal),
    Anonymous { public_dashboard: bool },
}

fn problem(status: http::StatusCode, detail: impl Into<String>) -> Response {
    Problem::new(status, detail).into_response_with_status()
}

const SIGN_IN: &str = "sign in first: POST /api/v1/auth/login starts a session (the page does it for you); \
                       scripts send an API token as `Authorization: Bearer <token>`";

fn unauthorized(detail: &str) -> poem::Error {
    let mut response = problem(http::StatusCode::UNAUTHORIZED, detail);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    poem::Error::from_response(response)
}

fn store_failure(err: StoreError) -> Response {
    ApiError::from(err).into_response()
}

/// The session id a request's cookie carries.
pub fn session_cookie(request: &Request) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .find_map(|value| {
            value.to_str().ok()?.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
            })
        })
}

/// The client's address: the peer, or with HOMEWATCH_TRUST_PROXY the last address in X-Forwarded-For.
pub fn client_address(request: &Request, access: &Access) -> String {
    if access.config().trust_proxy
        && let Some(forwarded) = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    {
        return forwarded.to_owned();
    }
    match request.remote_addr().as_socket_addr() {
        Some(addr) => addr.ip().to_string(),
        None => request.remote_addr().to_string(),
    }
}

/// A cookie-authenticated write must come from the page itself: an `Origin` naming this server (or
/// HOMEWATCH_PUBLIC_URL), or, from clients that send no `Origin`, the page's own header.
fn same_site(request: &Request, access: &Access) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return request.headers().contains_key(CSRF_HEADER);
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    let authority = match origin.port() {
        Some(port) => format!("{}:{port}", origin.host_str().unwrap_or_default()),
        None => origin.host_str().unwrap_or_default().to_owned(),
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if authority.eq_ignore_ascii_case(host) {
        return true;
    }
    access
        .config()
        .public_url
        .as_ref()
        .is_some_and(|public| public.origin() == origin.origin())
}

/// The session cookie as the server sets it; `max_age` 0 removes it.
pub fn session_cookie_header(access: &Access, value: &str, max_age: u64) -> HeaderValue {
    let secure = if access.config().secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("homewatch_session=; Path=/; Max-Age=0"))
}

/// Finds out who is calling, once per request (see the module's doc).
pub async fn authenticate<E: Endpoint>(next: E, mut request: Request) -> poem::Result<Response> {
    let Some(access) = request.data::<Arc<Access>>().cloned() else {
        return next.call(request).await.map(IntoResponse::into_response);
    };
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_owned());
    let mut renew_cookie = None;
    let mut clear_cookie = false;
    let caller = if let Some(header_value) = bearer {
        let Some(token) = header_value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned())
        else {
            return Err(unauthorized(
                "the Authorization header must be `Bearer <token>`, with an API token from POST /api/v1/tokens",
            ));
        };
        match access.token(&token).await {
            Ok(Some((token, user))) => Caller::User(Principal {
                user,
                via: Via::Token {
                    id: token.id,
                    scope: token.scope,
                },
            }),
            Ok(None) => {
                return Err(unauthorized(
                    "the API token is not valid: it may be mistyped, revoked or expired; create a new one with \
                     POST /api/v1/tokens",
                ));
            }
            Err(err) => return Ok(store_failure(err)),
        }
    } else if let Some(session_id) = session_cookie(&request) {
        match access.session(&session_id).await {
            Ok(Some((session, user, extended))) => {
                if extended {
                    renew_cookie = Some(session_id);
                }
                Caller::User(Principal {
                    user,
                    via: Via::Session { id: session.id },
                })
            }
            Ok(None) => {
                // Expired or signed out elsewhere: carry on as anonymous, and drop the stale cookie.
                clear_cookie = true;
                Caller::Anonymous {
                    public_dashboard: access.config().public_dashboard,
                }
            }
            Err(err) => return Ok(store_failure(err)),
        }
    } else {
        Caller::Anonymous {
            public_dashboard: access.config().public_dashboard,
        }
    };
    if let Caller::User(Principal {
        via: Via::Session { .. },
        ..
    }) = &caller
    {
        let unsafe_method = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        if unsafe_method && !same_site(&request, &access) {
            return Ok(problem(
                http::StatusCode::FORBIDDEN,
                "a change with the session cookie must come from Homewatch's own page: this request came from \
                 another site (its Origin does not match). Scripts should use an API token instead",
            ));
        }
    }
    request.extensions_mut().insert(caller);
    // Errors go on up unchanged, for the API's error handler to turn into problem details; only a refusal
    // that is already a response (401) stays here, so that a stale cookie is still removed.
    let mut response = match next.call(request).await {
        Ok(output) => output.into_response(),
        Err(err) if clear_cookie && err.is_from_response() => err.into_response(),
        Err(err) => return Err(err),
    };
    if let Some(session_id) = renew_cookie {
        let max_age = access.config().session_ttl.as_secs();
        response.headers_mut().append(
            header::SET_COOKIE,
            session_cookie_header(&access, &session_id, max_age),
        );
    } else if clear_cookie && !response.headers().contains_key(header::SET_COOKIE) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, session_cookie_header(&access, "", 0));
    }
    Ok(response)
}

/// The cookie scheme, as the spec shows it (requests are checked by `authenticate`).
#[derive(SecurityScheme)]
#[oai(
    rename = "session",
    ty = "api_key",
    key_in = "cookie",
    key_name = "homewatch_session"
)]
#[allow(dead_code)] // only registers the scheme in the spec
struct SessionCookie(ApiKey);

/// API tokens from POST /api/v1/tokens, as `Authorization: Bearer hw_...`.
#[derive(SecurityScheme)]
#[oai(rename = "token", ty = "bearer", bearer_format = "hw_...")]
#[allow(dead_code)] // only registers the scheme in the spec
struct BearerToken(Bearer);

fn register_schemes(registry: &mut Registry) {
    <SessionCookie as ApiExtractor>::register(registry);
    <BearerToken as ApiExtractor>::register(registry);
}

fn caller(request: &Request) -> Option<&Caller> {
    request.extensions().get::<Caller>()
}

/// A signed-in caller: a session, or an API token.
pub struct Auth(pub Principal);

impl Auth {
    /// For changes to the dashboard and its checks (403 otherwise).
    pub fn writer(&self) -> Result<&Principal, ApiError> {
        if self.0.can_write() {
            Ok(&self.0)
        } else if self.0.is_admin() {
            Err(ApiError::forbidden(
                "this API token can only read: use a token with the write scope",
            ))
        } else {
            Err(ApiError::forbidden(
                "viewers can only read: ask an admin to make this change or to make you an admin",
            ))
        }
    }

    /// For managing users (403 otherwise).
    pub fn admin(&self) -> Result<&Principal, ApiError> {
        if self.0.is_admin() {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden("only admins manage users"))
        }
    }

    /// For changes to one's own password and tokens (403 for read tokens).
    pub fn account_changer(&self) -> Result<&Principal, ApiError> {
        if self.0.can_change_own_account() {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden("this API token can only read"))
        }
    }
}

impl<'a> ApiExtractor<'a> for Auth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_schemes(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec!["session", "token"]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut poem::RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        match caller(request) {
            Some(Caller::User(principal)) => Ok(Self(principal.clone())),
            _ => Err(unauthorized(SIGN_IN)),
        }
    }
}

/// A caller allowed to read the dashboard: signed in, or anonymous when HOMEWATCH_PUBLIC_DASHBOARD is on.
pub struct ReadAuth(pub Option<Principal>);

impl ReadAuth {
    /// Who may see check settings as they are: writers. Everyone else sees header values hidden.
    pub fn sees_secrets(&self) -> bool {
        self.0.as_ref().is_some_and(Principal::can_write)
    }
}

impl<'a> ApiExtractor<'a> for ReadAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_schemes(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec!["session", "token"]
    }

    /// Documented as optional: with a public dashboard, anonymous calls are allowed.
    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut poem::RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        match caller(request) {
            Some(Caller::User(principal)) => Ok(Self(Some(principal.clone()))),
            Some(Caller::Anonymous {
                public_dashboard: true,
            }) => Ok(Self(None)),
            _ => Err(unauthorized(SIGN_IN)),
        }
    }
}
