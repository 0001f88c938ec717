//! `/api/v1/tokens`: API tokens for scripts and SDKs. Everyone manages their own; admins see and revoke all.
//! A token is shown once, when it is created; only its hash is kept.

use poem_openapi::{ApiResponse, OpenApi, param::Path, payload::Json};

use super::{
    ApiTags, StoreData,
    account::AccessData,
    json_body::JsonBody,
    problem::ApiError,
    security::{AccountChanger, SignedIn},
};
use crate::model::{ApiToken, CreatedToken, NewToken};

pub struct TokensApi;

#[derive(ApiResponse)]
enum TokenCreated {
    /// The token: copy `token` now, it is not shown again.
    #[oai(status = 201)]
    Created(Json<CreatedToken>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum TokenRevoked {
    /// The token no longer works.
    #[oai(status = 204)]
    Revoked,
}

#[OpenApi(tag = "ApiTags::Tokens")]
impl TokensApi {
    /// Your tokens, newest first (admins: everyone's): name, scope, owner, when created and last used.
    #[oai(path = "/tokens", method = "get", operation_id = "listTokens")]
    async fn list(&self, caller: SignedIn, store: StoreData<'_>) -> Result<Json<Vec<ApiToken>>, ApiError> {
        let owner = (!caller.is_admin()).then_some(caller.user.id);
        Ok(Json(store.list_tokens(owner).await?))
    }

    /// Create a token for yourself. Scope `read` allows GET requests only; `write` allows what your role
    /// allows (a viewer's tokens can only read).
    #[oai(path = "/tokens", method = "post", operation_id = "createToken")]
    async fn create(
        &self,
        caller: AccountChanger,
        access: AccessData<'_>,
        body: JsonBody<NewToken>,
    ) -> Result<TokenCreated, ApiError> {
        let created = access.create_token(&caller.user, &body.0).await?;
        tracing::info!(user = %caller.user.username, token = %created.details.name, scope = created.details.scope.as_str(), "API token created");
        let location = format!("/api/v1/tokens/{}", created.details.id);
        Ok(TokenCreated::Created(Json(created), location))
    }

    /// Revoke a token: one of yours (admins: anyone's).
    #[oai(path = "/tokens/:id", method = "delete", operation_id = "revokeToken")]
    async fn revoke(
        &self,
        caller: AccountChanger,
        store: StoreData<'_>,
        id: Path<i64>,
    ) -> Result<TokenRevoked, ApiError> {
        let owner = (!caller.is_admin()).then_some(caller.user.id);
        store.delete_token(id.0, owner).await?;
        Ok(TokenRevoked::Revoked)
    }
}
