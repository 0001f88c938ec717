//! `/api/v1/groups`: the groups of the start page and their order.

use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{
    ApiTags, StoreData, TilesData,
    json_body::JsonBody,
    problem::ApiError,
    security::{Reader, Writer},
};
use crate::model::{Group, GroupPatch, NewGroup, NewOrder};

pub struct GroupsApi;

#[derive(ApiResponse)]
enum GroupCreated {
    /// The group was created; it is last on the page.
    #[oai(status = 201)]
    Created(Json<Group>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum GroupDeleted {
    /// The group (and with `cascade=true`, its tiles) is gone.
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(tag = "ApiTags::Groups")]
impl GroupsApi {
    /// List groups in page order.
    #[oai(path = "/groups", method = "get", operation_id = "listGroups")]
    async fn list(&self, _caller: Reader, store: StoreData<'_>) -> Result<Json<Vec<Group>>, ApiError> {
        Ok(Json(store.list_groups().await?))
    }

    /// Create a group.
    #[oai(path = "/groups", method = "post", operation_id = "createGroup")]
    async fn create(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        body: JsonBody<NewGroup>,
    ) -> Result<GroupCreated, ApiError> {
        let group = store.create_group(&body.0).await?;
        let location = format!("/api/v1/groups/{}", group.id);
        Ok(GroupCreated::Created(Json(group), location))
    }

    /// Set the order of all groups: `ids` lists every group once, first one first.
    #[oai(path = "/groups/order", method = "put", operation_id = "reorderGroups")]
    async fn reorder(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        body: JsonBody<NewOrder>,
    ) -> Result<Json<Vec<Group>>, ApiError> {
        Ok(Json(store.reorder_groups(&body.0.ids).await?))
    }

    /// Get one group.
    #[oai(path = "/groups/:id", method = "get", operation_id = "getGroup")]
    async fn get(
        &self,
        _caller: Reader,
        store: StoreData<'_>,
        id: Path<i64>,
    ) -> Result<Json<Group>, ApiError> {
        Ok(Json(store.get_group(id.0).await?))
    }

    /// Rename a group.
    #[oai(path = "/groups/:id", method = "patch", operation_id = "updateGroup")]
    async fn update(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        id: Path<i64>,
        body: JsonBody<GroupPatch>,
    ) -> Result<Json<Group>, ApiError> {
        Ok(Json(store.update_group(id.0, &body.0).await?))
    }

    /// Delete a group. A group that still has tiles is refused (409) unless `cascade=true`.
    #[oai(path = "/groups/:id", method = "delete", operation_id = "deleteGroup")]
    async fn delete(
        &self,
        _caller: Writer,
        tiles: TilesData<'_>,
        id: Path<i64>,
        /// Also delete the group's tiles.
        #[oai(default)]
        cascade: Query<bool>,
    ) -> Result<GroupDeleted, ApiError> {
        tiles.delete_group(id.0, cascade.0).await?;
        Ok(GroupDeleted::Deleted)
    }
}
