//! `/api/v1/setup` and `/api/v1/auth/*`: the first admin, signing in and out, who is calling, one's own
//! password, and what a client must know before anyone signs in.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, OpenApi, payload::Json};

use super::{
    ApiTags,
    json_body::JsonBody,
    problem::ApiError,
    security::{AccountChanger, SignedIn, client_address, session_cookie, session_cookie_header},
};
use crate::{
    auth::{Access, AccessError},
    model::{AuthMethod, AuthState, LoginRequest, Me, PasswordChange, SetupRequest, User},
};

/// How handlers reach accounts and sessions.
pub type AccessData<'a> = Data<&'a Arc<Access>>;

pub struct AccountApi;

#[derive(ApiResponse)]
enum SignedInNow {
    /// Signed in: the session cookie is set (HttpOnly, SameSite=Lax).
    #[oai(status = 200)]
    Ok(Json<Me>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
enum SetUp {
    /// The first admin exists and is signed in; the setup token no longer works.
    #[oai(status = 201)]
    Created(Json<Me>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
enum SignedOut {
    /// The session is over and its cookie removed.
    #[oai(status = 204)]
    Done(#[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
enum PasswordChanged {
    /// The password is changed; every other session of the user has ended.
    #[oai(status = 204)]
    Done,
}

impl From<AccessError> for ApiError {
    fn from(err: AccessError) -> Self {
        match err {
            AccessError::Store(err) => err.into(),
            AccessError::WrongCredentials => ApiError::unauthorized(err.to_string()),
            AccessError::TooManyAttempts(wait) => ApiError::too_many_requests(err.to_string(), wait),
            AccessError::BadSetupToken => ApiError::forbidden(format!(
                "{err}: look for `setup token` in the server's log (it changes at every start until setup is done)"
            )),
            // Not a malformed request: a refusal, like a wrong password at login.
            AccessError::WrongPassword => ApiError::Forbidden(super::problem::ProblemJson(
                super::problem::Problem::new(
                    poem::http::StatusCode::FORBIDDEN,
                    "the current password is wrong; nothing was changed",
                )
                .with_errors(vec![crate::model::FieldError::new(
                    "current_password",
                    "is not your current password",
                )]),
            )),
            AccessError::ViewerWriteToken => ApiError::forbidden(err.to_string()),
        }
    }
}

async fn sign_in(access: &Access, user: User) -> Result<(Me, String), ApiError> {
    let (session_id, _) = access.start_session(user.id).await?;
    let cookie = session_cookie_header(access, &session_id, access.config().session_ttl.as_secs());
    let me = Me {
        user,
        via: AuthMethod::Session,
        scope: None,
    };
    Ok((me, cookie.to_str().unwrap_or_default().to_owned()))
}

#[OpenApi(tag = "ApiTags::Access")]
impl AccountApi {
    /// Whether setup is needed and whether anonymous visitors may read the dashboard. Open to everyone.
    #[oai(path = "/auth/state", method = "get", operation_id = "getAuthState")]
    async fn state(&self, access: AccessData<'_>) -> Result<Json<AuthState>, ApiError> {
        Ok(Json(AuthState {
            setup_required: access.setup_required().await?,
            public_dashboard: access.config().public_dashboard,
        }))
    }

    /// Create the first admin with the one-time setup token the server printed in its log, and sign in.
    /// Refused (409) once any user exists.
    #[oai(path = "/setup", method = "post", operation_id = "setup")]
    async fn setup(
        &self,
        request: &Request,
        access: AccessData<'_>,
        body: JsonBody<SetupRequest>,
    ) -> Result<SetUp, ApiError> {
        let client = client_address(request, &access);
        let setup = body.0;
        let user = access
            .setup(client, &setup.token, &setup.username, &setup.password)
            .await?;
        tracing::info!(user = %user.username, "setup done: the first admin exists");
        let (me, cookie) = sign_in(&access, user).await?;
        Ok(SetUp::Created(Json(me), cookie))
    }

    /// Sign in with a username and password; sets a new session cookie. Failed attempts are slowed down per
    /// client address and per username (429 with Retry-After).
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        request: &Request,
        access: AccessData<'_>,
        body: JsonBody<LoginRequest>,
    ) -> Result<SignedInNow, ApiError> {
        let client = client_address(request, &access);
        let user = access.login(client, &body.0.username, &body.0.password).await?;
        // A new session id at every login; the session the browser had before ends.
        if let Some(previous) = session_cookie(request) {
            access.end_session(&previous).await?;
        }
        let (me, cookie) = sign_in(&access, user).await?;
        Ok(SignedInNow::Ok(Json(me), cookie))
    }

    /// Sign out: the session ends and its cookie is removed. Harmless without a session.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, request: &Request, access: AccessData<'_>) -> Result<SignedOut, ApiError> {
        if let Some(session_id) = session_cookie(request) {
            access.end_session(&session_id).await?;
        }
        let cookie = session_cookie_header(&access, "", 0);
        Ok(SignedOut::Done(cookie.to_str().unwrap_or_default().to_owned()))
    }

    /// Who is calling: the user, and whether through a session or an API token (with its scope).
    #[oai(path = "/auth/me", method = "get", operation_id = "getMe")]
    async fn me(&self, caller: SignedIn) -> Result<Json<Me>, ApiError> {
        let principal = caller.0;
        let (via, scope) = match principal.via {
            super::security::Via::Session { .. } => (AuthMethod::Session, None),
            super::security::Via::Token { scope, .. } => (AuthMethod::Token, Some(scope)),
        };
        Ok(Json(Me {
            user: principal.user,
            via,
            scope,
        }))
    }

    /// Change one's own password; the current one is required. Every other session of the user ends.
    #[oai(path = "/auth/password", method = "post", operation_id = "changePassword")]
    async fn password(
        &self,
        request: &Request,
        caller: AccountChanger,
        access: AccessData<'_>,
        body: JsonBody<PasswordChange>,
    ) -> Result<PasswordChanged, ApiError> {
        let client = client_address(request, &access);
        access
            .change_password(client, caller.user.id, &body.0, caller.session_id())
            .await?;
        Ok(PasswordChanged::Done)
    }
}
