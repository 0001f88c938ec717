//! `/api/v1/status-pages` and `/api/v1/posts`: the public status pages and the incident posts people write
//! for them. Anyone signed in may read them; changing them takes a writer. The pages themselves are served
//! at `/status/{slug}` (see `crate::public`).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{
    StoreData, alerts::Deleted, json_body::JsonBody, problem::ApiError, security::Reader, security::Writer,
};
use crate::{
    model::{
        FieldError,
        public::{NewPost, NewPostUpdate, NewStatusPage, Post, PostPatch, StatusPage, StatusPagePatch},
    },
    public::PublicFaces,
    store::StoredStatusPage,
};

pub type FacesData<'a> = Data<&'a Arc<PublicFaces>>;

fn answer(stored: StoredStatusPage) -> StatusPage {
    let draft = stored.draft;
    StatusPage {
        id: stored.id,
        path: format!("/status/{}", draft.slug),
        slug: draft.slug,
        title: draft.title,
        description: draft.description,
        icon: draft.icon,
        footer: draft.footer,
        published: draft.published,
        domain: draft.domain,
        show_links: draft.show_links,
        sections: draft.sections,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
    }
}

#[derive(ApiResponse)]
enum PageCreated {
    /// The page was created.
    #[oai(status = 201)]
    Created(Json<StatusPage>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum PostCreated {
    /// The post was created (or the update added).
    #[oai(status = 201)]
    Created(Json<Post>, #[oai(header = "Location")] String),
}

/// Most posts one list returns.
const POSTS_MAX: u32 = 200;

pub struct StatusPagesApi;

#[OpenApi(tag = "super::ApiTags::StatusPages")]
impl StatusPagesApi {
    /// List status pages, by slug.
    #[oai(path = "/status-pages", method = "get", operation_id = "listStatusPages")]
    async fn list(&self, _caller: Reader, store: StoreData<'_>) -> Result<Json<Vec<StatusPage>>, ApiError> {
        let pages = store.list_status_pages().await?;
        Ok(Json(pages.into_iter().map(answer).collect()))
    }

    /// Create a status page (a draft unless `published` is true).
    #[oai(path = "/status-pages", method = "post", operation_id = "createStatusPage")]
    async fn create(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        faces: FacesData<'_>,
        body: JsonBody<NewStatusPage>,
    ) -> Result<PageCreated, ApiError> {
        let draft = body.0.draft()?;
        let stored = store.create_status_page(&draft).await?;
        faces.changed();
        let location = format!("/api/v1/status-pages/{}", stored.id);
        Ok(PageCreated::Created(Json(answer(stored)), location))
    }

    /// Get one status page's settings.
    #[oai(path = "/status-pages/:id", method = "get", operation_id = "getStatusPage")]
    async fn get(
        &self,
        _caller: Reader,
        store: StoreData<'_>,
        id: Path<i64>,
    ) -> Result<Json<StatusPage>, ApiError> {
        Ok(Json(answer(store.get_status_page(id.0).await?)))
    }

    /// Change a status page; absent fields stay.
    #[oai(
        path = "/status-pages/:id",
        method = "patch",
        operation_id = "updateStatusPage"
    )]
    async fn update(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        faces: FacesData<'_>,
        id: Path<i64>,
        body: JsonBody<StatusPagePatch>,
    ) -> Result<Json<StatusPage>, ApiError> {
        let current = store.get_status_page(id.0).await?;
        let draft = body
            .0
            .apply(current.draft)
            .map_err(|errors: Vec<FieldError>| ApiError::invalid(errors))?;
        let updated = store.update_status_page(id.0, &draft).await?;
        faces.changed();
        Ok(Json(answer(updated)))
    }

    /// Delete a status page.
    #[oai(
        path = "/status-pages/:id",
        method = "delete",
        operation_id = "deleteStatusPage"
    )]
    async fn delete(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        faces: FacesData<'_>,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        store.delete_status_page(id.0).await?;
        faces.changed();
        Ok(Deleted::Deleted)
    }
}

pub struct PostsApi;

#[OpenApi(tag = "super::ApiTags::Posts")]
impl PostsApi {
    /// List incident posts, newest first, each with its updates.
    #[oai(path = "/posts", method = "get", operation_id = "listPosts")]
    async fn list(
        &self,
        _caller: Reader,
        store: StoreData<'_>,
        /// At most this many (1 to 200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<Vec<Post>>, ApiError> {
        let limit = limit.0.unwrap_or(50).clamp(1, POSTS_MAX);
        Ok(Json(store.list_posts(limit).await?))
    }

    /// Write an incident post with its first update; it shows on the status pages that show its tiles.
    #[oai(path = "/posts", method = "post", operation_id = "createPost")]
    async fn create(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        faces: FacesData<'_>,
        body: JsonBody<NewPost>,
    ) -> Result<PostCreated, ApiError> {
        let post = store.create_post(&body.0).await?;
        faces.changed();
        let location = format!("/api/v1/posts/{}", post.id);
        Ok(PostCreated::Created(Json(post), location))
    }

    /// Get one post with its updates.
    #[oai(path = "/posts/:id", method = "get", operation_id = "getPost")]
    async fn get(
        &self,
        _caller: Reader,
        store: StoreData<'_>,
        id: Path<i64>,
    ) -> Result<Json<Post>, ApiError> {
        Ok(Json(store.get_post(id.0).await?))
    }

    /// Change a post's title or the tiles it affects.
    #[oai(path = "/posts/:id", method = "patch", operation_id = "updatePost")]
    async fn update(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        faces: FacesData<'_>,
        id: Path<i64>,
        body: JsonBody<PostPatch>,
    ) -> Result<Json<Post>, ApiError> {
        let post = store.update_post(id.0, &body.0).await?;
        faces.changed();
        Ok(Json(post))
    }

    /// Delete a post and its updates.
    #[oai(path = "/posts/:id", method = "delete", operation_id = "deletePost")]
    async fn delete(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        faces: FacesData<'_>,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        store.delete_post(id.0).await?;
        faces.changed();
        Ok(Deleted::Deleted)
    }

    /// Add an update (status and text) to a post; `resolved` closes it.
    #[oai(path = "/posts/:id/updates", method = "post", operation_id = "addPostUpdate")]
    async fn add_update(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        faces: FacesData<'_>,
        id: Path<i64>,
        body: JsonBody<NewPostUpdate>,
    ) -> Result<PostCreated, ApiError> {
        let post = store.add_post_update(id.0, &body.0).await?;
        faces.changed();
        let location = format!("/api/v1/posts/{}", post.id);
        Ok(PostCreated::Created(Json(post), location))
    }
}
