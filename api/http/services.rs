//! `/api/v1/services`: the tiles, their filters and pages, and their order within a group.

use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{
    ApiTags, TilesData,
    json_body::JsonBody,
    problem::ApiError,
    security::{Reader, Writer},
};
use crate::model::{
    FieldError, NewOrder, NewService, Service, ServiceFilter, ServicePage, ServicePatch, cursor,
};

pub const DEFAULT_PAGE_SIZE: u32 = 50;

pub struct ServicesApi;

#[derive(ApiResponse)]
enum ServiceCreated {
    /// The tile was created; it is last in its group.
    #[oai(status = 201)]
    Created(Json<Service>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum ServiceDeleted {
    /// The tile is gone.
    #[oai(status = 204)]
    Deleted,
}

/// Turns empty query values (`?tag=`) into "no filter".
fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

#[OpenApi(tag = "ApiTags::Services")]
impl ServicesApi {
    /// List tiles, oldest first, a page at a time; every filter is optional and they combine.
    #[oai(path = "/services", method = "get", operation_id = "listServices")]
    #[allow(clippy::too_many_arguments)] // each query parameter is an argument: that is how the spec is made
    async fn list(
        &self,
        caller: Reader,
        tiles: TilesData<'_>,
        /// Only tiles of this group.
        group_id: Query<Option<i64>>,
        /// Only tiles with this tag (case-insensitive).
        #[oai(validator(max_length = 32))]
        tag: Query<Option<String>>,
        /// Text to find in name, description or URL (case-insensitive), at most 200 characters.
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        /// Tiles per page, 1 to 500 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ServicePage>, ApiError> {
        let after_id = match cursor.0.filter(|text| !text.is_empty()) {
            Some(text) => Some(cursor::decode(&text).ok_or_else(|| {
                ApiError::invalid(vec![FieldError::new(
                    "cursor",
                    "is not a cursor this server gave out; pass `next_cursor` from the previous page unchanged",
                )])
            })?),
            None => None,
        };
        let filter = ServiceFilter {
            group_id: group_id.0,
            tag: non_empty(tag.0).map(|tag| tag.to_lowercase()),
            text: non_empty(q.0),
            after_id,
            limit: limit.0.unwrap_or(DEFAULT_PAGE_SIZE),
        };
        Ok(Json(tiles.list(&filter, caller.sight()).await?))
    }

    /// Create a tile at the end of its group. A tile with a check gets its first check within a second.
    #[oai(path = "/services", method = "post", operation_id = "createService")]
    async fn create(
        &self,
        _caller: Writer,
        tiles: TilesData<'_>,
        body: JsonBody<NewService>,
    ) -> Result<ServiceCreated, ApiError> {
        let service = tiles.create(&body.0).await?;
        let location = format!("/api/v1/services/{}", service.id);
        Ok(ServiceCreated::Created(Json(service), location))
    }

    /// Get one tile.
    #[oai(path = "/services/:id", method = "get", operation_id = "getService")]
    async fn get(
        &self,
        caller: Reader,
        tiles: TilesData<'_>,
        id: Path<i64>,
    ) -> Result<Json<Service>, ApiError> {
        Ok(Json(tiles.get(id.0, caller.sight()).await?))
    }

    /// Change a tile; a new `group_id` moves it to the end of that group.
    #[oai(path = "/services/:id", method = "patch", operation_id = "updateService")]
    async fn update(
        &self,
        _caller: Writer,
        tiles: TilesData<'_>,
        id: Path<i64>,
        body: JsonBody<ServicePatch>,
    ) -> Result<Json<Service>, ApiError> {
        Ok(Json(tiles.update(id.0, &body.0).await?))
    }

    /// Delete a tile.
    #[oai(path = "/services/:id", method = "delete", operation_id = "deleteService")]
    async fn delete(
        &self,
        _caller: Writer,
        tiles: TilesData<'_>,
        id: Path<i64>,
    ) -> Result<ServiceDeleted, ApiError> {
        tiles.delete(id.0).await?;
        Ok(ServiceDeleted::Deleted)
    }

    /// Set the order of a group's tiles: `ids` lists every tile of the group once, first one first.
    #[oai(
        path = "/groups/:id/services/order",
        method = "put",
        operation_id = "reorderServices"
    )]
    async fn reorder(
        &self,
        _caller: Writer,
        tiles: TilesData<'_>,
        id: Path<i64>,
        body: JsonBody<NewOrder>,
    ) -> Result<Json<Vec<Service>>, ApiError> {
        Ok(Json(tiles.reorder(id.0, &body.0.ids).await?))
    }
}
