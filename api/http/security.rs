//! Who is calling. `authenticate` reads each request's bearer token or session cookie once: a token that is
//! not valid is refused (401), a stale cookie just makes the request anonymous, and a cookie-authenticated
//! write from another site is refused (403). Each operation then names who may call it in its signature:
//! `Reader` (signed in, or anonymous when the dashboard is public), or `Signed<R>` for a `Rule` `R`
//! (`SignedIn`, `AccountChanger`, `Writer`, `Admin`); all document the cookie and bearer schemes.

use std::{net::IpAddr, sync::Arc};

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
    tiles::Sight,
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

/// The client's address: the peer, or, when the peer is a trusted proxy (HOMEWATCH_TRUSTED_PROXIES), the
/// address it says it heard from (`X-Forwarded-For`).
pub fn client_address(request: &Request, access: &Access) -> IpAddr {
    let peer = request
        .remote_addr()
        .as_socket_addr()
        .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    let forwarded = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    access.config().trusted_proxies.client(peer, forwarded)
}

/// Origins other than this server's own that may make changes (HOMEWATCH_CORS_ORIGINS; `*` for any).
#[derive(Debug, Clone, Default)]
pub struct CrossOrigins(pub Vec<String>);

impl CrossOrigins {
    fn allow(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.0
            .iter()
            .map(|allowed| allowed.trim().trim_end_matches('/'))
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
    }
}

/// A cookie-authenticated write must come from the page itself: an `Origin` naming this server (or
/// HOMEWATCH_PUBLIC_URL), or, from clients that send no `Origin`, the page's own header.
fn same_site(request: &Request, access: &Access) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return request.headers().contains_key(CSRF_HEADER);
    };
    same_origin(request, access, origin)
}

/// Whether an `Origin` names this server: the request's own host, or HOMEWATCH_PUBLIC_URL.
fn same_origin(request: &Request, access: &Access, origin: &HeaderValue) -> bool {
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
    let unsafe_method = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Any change a browser makes from another site is refused, signed in or not (a login or setup forged by
    // another site too), unless that site is one HOMEWATCH_CORS_ORIGINS allows. An API token carries its own
    // proof, which another site cannot make a browser send.
    let by_token = matches!(
        &caller,
        Caller::User(Principal {
            via: Via::Token { .. },
            ..
        })
    );
    if unsafe_method
        && !by_token
        && let Some(origin) = request.headers().get(header::ORIGIN)
        && !same_origin(&request, &access, origin)
        && !request
            .data::<CrossOrigins>()
            .is_some_and(|allowed| origin.to_str().is_ok_and(|origin| allowed.allow(origin)))
    {
        return Ok(problem(
            http::StatusCode::FORBIDDEN,
            "this change came from another site (its Origin is not this server's): it is refused. Use Homewatch's \
             own page, or an API token from a script",
        ));
    }
    let by_session = matches!(
        &caller,
        Caller::User(Principal {
            via: Via::Session { .. },
            ..
        })
    );
    if by_session && unsafe_method && !same_site(&request, &access) {
        return Ok(problem(
            http::StatusCode::FORBIDDEN,
            "a change with the session cookie must come from Homewatch's own page: this request came from \
             another site (its Origin does not match). Scripts should use an API token instead",
        ));
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

/// Whether `authenticate` found a signed-in user (a session or a token) in the request.
pub fn signed_in(request: &Request) -> bool {
    matches!(caller(request), Some(Caller::User(_)))
}

/// What a signed-in caller must be allowed to do for an operation; the operation's signature names it
/// (`Signed<Write>`, through the aliases below), so no route can forget to ask.
pub trait Rule: Send + Sync + 'static {
    /// Why `principal` may not call the operation (403), or None when they may.
    fn refusal(principal: &Principal) -> Option<&'static str>;
}

/// Any signed-in caller, read tokens included.
pub enum Any {}

impl Rule for Any {
    fn refusal(_: &Principal) -> Option<&'static str> {
        None
    }
}

/// Changes to one's own account (password, tokens): anyone but a read token.
pub enum OwnAccount {}

impl Rule for OwnAccount {
    fn refusal(principal: &Principal) -> Option<&'static str> {
        (!principal.can_change_own_account())
            .then_some("this API token can only read: use a token with the write scope")
    }
}

/// Changes to the dashboard, its checks and its users: admins, and not through a read token.
pub enum Write {}

impl Rule for Write {
    fn refusal(principal: &Principal) -> Option<&'static str> {
        if principal.can_write() {
            None
        } else if principal.is_admin() {
            Some("this API token can only read: use a token with the write scope")
        } else {
            Some("viewers can only read: ask an admin to make this change or to make you an admin")
        }
    }
}

/// Reading the users: admins, through any of their credentials.
pub enum AdminRole {}

impl Rule for AdminRole {
    fn refusal(principal: &Principal) -> Option<&'static str> {
        (!principal.is_admin()).then_some("only admins manage users")
    }
}

/// A signed-in caller (a session or an API token) that `R` admits.
pub struct Signed<R: Rule>(pub Principal, std::marker::PhantomData<R>);

/// Any signed-in caller.
pub type SignedIn = Signed<Any>;
/// A signed-in caller who may change their own account.
pub type AccountChanger = Signed<OwnAccount>;
/// A caller who may change the dashboard, its checks and its users.
pub type Writer = Signed<Write>;
/// An admin, through any credential.
pub type Admin = Signed<AdminRole>;

impl<R: Rule> std::ops::Deref for Signed<R> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl<'a, R: Rule> ApiExtractor<'a> for Signed<R> {
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
        let Some(Caller::User(principal)) = caller(request) else {
            return Err(unauthorized(SIGN_IN));
        };
        match R::refusal(principal) {
            Some(detail) => Err(ApiError::forbidden(detail).into()),
            None => Ok(Self(principal.clone(), std::marker::PhantomData)),
        }
    }
}

/// A caller allowed to read the dashboard: signed in, or anonymous when HOMEWATCH_PUBLIC_DASHBOARD is on.
pub struct Reader(pub Option<Principal>);

impl Reader {
    /// Writers see check settings as they are; everyone else sees secrets hidden.
    pub fn sight(&self) -> Sight {
        match self.0.as_ref().is_some_and(Principal::can_write) {
            true => Sight::Full,
            false => Sight::Redacted,
        }
    }
}

impl<'a> ApiExtractor<'a> for Reader {
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
