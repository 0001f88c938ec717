//! `/api/v1/users`: who can sign in, and with which role. Admins only. The last admin cannot be demoted or
//! deleted, so the dashboard always has someone who can manage it.

use poem_openapi::{ApiResponse, OpenApi, param::Path, payload::Json};

use super::{
    ApiTags, StoreData,
    account::AccessData,
    json_body::JsonBody,
    problem::ApiError,
    security::{Admin, Writer},
};
use crate::model::{NewUser, User, UserPatch};

pub struct UsersApi;

#[derive(ApiResponse)]
enum UserCreated {
    /// The user can sign in now.
    #[oai(status = 201)]
    Created(Json<User>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum UserDeleted {
    /// The user is gone, with their sessions and tokens.
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(tag = "ApiTags::Users")]
impl UsersApi {
    /// Every user, oldest first.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list(&self, _caller: Admin, store: StoreData<'_>) -> Result<Json<Vec<User>>, ApiError> {
        Ok(Json(store.list_users().await?))
    }

    /// Add a user with a password (at least 10 characters) and a role.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create(
        &self,
        _caller: Writer,
        access: AccessData<'_>,
        body: JsonBody<NewUser>,
    ) -> Result<UserCreated, ApiError> {
        let user = access.create_user(&body.0).await?;
        tracing::info!(user = %user.username, role = user.role.as_str(), "user created");
        let location = format!("/api/v1/users/{}", user.id);
        Ok(UserCreated::Created(Json(user), location))
    }

    /// Get one user.
    #[oai(path = "/users/:id", method = "get", operation_id = "getUser")]
    async fn get(&self, _caller: Admin, store: StoreData<'_>, id: Path<i64>) -> Result<Json<User>, ApiError> {
        Ok(Json(store.get_user(id.0).await?.user))
    }

    /// Change a user's role or set a new password for them (which ends their sessions).
    #[oai(path = "/users/:id", method = "patch", operation_id = "updateUser")]
    async fn update(
        &self,
        caller: Writer,
        access: AccessData<'_>,
        id: Path<i64>,
        body: JsonBody<UserPatch>,
    ) -> Result<Json<User>, ApiError> {
        // An admin setting their own password here keeps the session they are using.
        let keep = (caller.user.id == id.0).then(|| caller.session_id()).flatten();
        Ok(Json(access.update_user(id.0, &body.0, keep).await?))
    }

    /// Delete a user with their sessions and tokens.
    #[oai(path = "/users/:id", method = "delete", operation_id = "deleteUser")]
    async fn delete(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        id: Path<i64>,
    ) -> Result<UserDeleted, ApiError> {
        store.delete_user(id.0).await?;
        Ok(UserDeleted::Deleted)
    }
}
