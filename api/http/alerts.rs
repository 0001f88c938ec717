//! `/api/v1/channels`, `/api/v1/notifications` and `/api/v1/maintenance`: who is told what, the delivery log,
//! and planned maintenance. Channel secrets are write-only: every answer shows them masked.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{
    ApiTags, StoreData, TilesData,
    json_body::JsonBody,
    problem::ApiError,
    security::{Reader, SignedIn, Writer},
};
use crate::{
    alerts::{AlertsConfig, send::Sender, test_channel},
    model::{
        Channel, ChannelPatch, FieldError, NewChannel, Notification, NotificationFilter,
        alerts::{ChannelTestResult, DeliveryStatus},
        maintenance::{MaintenancePatch, MaintenanceWindow, NewMaintenance},
        now,
    },
    monitor::maintenance::MaintenanceBoard,
};

/// What the channel test needs: a sender and the settings messages are made with.
pub struct Notifier {
    pub sender: Sender,
    pub config: AlertsConfig,
}

impl Notifier {
    pub fn new(config: AlertsConfig) -> Result<Self, String> {
        Ok(Self {
            sender: Sender::new(config.attempt_timeout)?,
            config,
        })
    }
}

pub struct AlertsApi;

#[derive(ApiResponse)]
enum ChannelCreated {
    /// The channel was created.
    #[oai(status = 201)]
    Created(Json<Channel>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub(super) enum Deleted {
    /// It is gone.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
enum NotificationQueued {
    /// A copy was queued for delivery; the original stays in the log.
    #[oai(status = 201)]
    Queued(Json<Notification>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum MaintenanceCreated {
    /// The window was created.
    #[oai(status = 201)]
    Created(Json<MaintenanceWindow>, #[oai(header = "Location")] String),
}

/// Most notifications per page of the log.
const LOG_PAGE_MAX: u32 = 500;

#[OpenApi(tag = "ApiTags::Alerts")]
impl AlertsApi {
    /// List notification channels by name (secrets masked).
    #[oai(path = "/channels", method = "get", operation_id = "listChannels")]
    async fn list_channels(
        &self,
        _caller: SignedIn,
        store: StoreData<'_>,
    ) -> Result<Json<Vec<Channel>>, ApiError> {
        let channels = store.list_channels().await?;
        Ok(Json(channels.into_iter().map(Channel::masked).collect()))
    }

    /// Create a channel. `settings.kind` picks the provider; its fields follow.
    #[oai(path = "/channels", method = "post", operation_id = "createChannel")]
    async fn create_channel(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        body: JsonBody<NewChannel>,
    ) -> Result<ChannelCreated, ApiError> {
        let draft = body.0.draft()?;
        let channel = store.create_channel(&draft).await?;
        let location = format!("/api/v1/channels/{}", channel.id);
        Ok(ChannelCreated::Created(Json(channel.masked()), location))
    }

    /// Get one channel (secrets masked).
    #[oai(path = "/channels/:id", method = "get", operation_id = "getChannel")]
    async fn get_channel(
        &self,
        _caller: SignedIn,
        store: StoreData<'_>,
        id: Path<i64>,
    ) -> Result<Json<Channel>, ApiError> {
        Ok(Json(store.get_channel(id.0).await?.masked()))
    }

    /// Change a channel. New `settings` replace the old whole; a secret sent back masked (`(hidden)`) keeps the
    /// stored one.
    #[oai(path = "/channels/:id", method = "patch", operation_id = "updateChannel")]
    async fn update_channel(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        id: Path<i64>,
        body: JsonBody<ChannelPatch>,
    ) -> Result<Json<Channel>, ApiError> {
        let stored = store.get_channel(id.0).await?;
        let merged = body.0.apply(stored)?;
        Ok(Json(store.update_channel(id.0, &merged).await?.masked()))
    }

    /// Delete a channel. Its notifications stay in the log; those not delivered yet are marked failed.
    #[oai(path = "/channels/:id", method = "delete", operation_id = "deleteChannel")]
    async fn delete_channel(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        store.delete_channel(id.0).await?;
        Ok(Deleted::Deleted)
    }

    /// Send a test message through a channel now and answer what the provider replied (200 either way:
    /// `ok` says whether it was accepted).
    #[oai(path = "/channels/:id/test", method = "post", operation_id = "testChannel")]
    async fn test(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        notifier: Data<&Arc<Notifier>>,
        id: Path<i64>,
    ) -> Result<Json<ChannelTestResult>, ApiError> {
        let channel = store.get_channel(id.0).await?;
        Ok(Json(
            test_channel(&notifier.sender, &channel, &notifier.config).await,
        ))
    }

    /// The delivery log, newest first: what was sent to which channel for which tile, every attempt with the
    /// provider's reply, and the outcome. Page with `before` (the smallest `id` of the previous page).
    #[oai(path = "/notifications", method = "get", operation_id = "listNotifications")]
    #[allow(clippy::too_many_arguments)] // each query parameter is an argument: that is how the spec is made
    async fn list_notifications(
        &self,
        _caller: SignedIn,
        store: StoreData<'_>,
        /// Only those with this status.
        status: Query<Option<DeliveryStatus>>,
        /// Only those to this channel.
        channel_id: Query<Option<i64>>,
        /// Only those about this tile.
        service_id: Query<Option<i64>>,
        /// Only those with a smaller id (the next page).
        before: Query<Option<i64>>,
        /// At most this many, 1 to 500 (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<Vec<Notification>>, ApiError> {
        let filter = NotificationFilter {
            status: status.0,
            channel_id: channel_id.0,
            service_id: service_id.0,
            before_id: before.0,
            limit: limit.0.unwrap_or(100).min(LOG_PAGE_MAX),
        };
        Ok(Json(store.list_notifications(&filter).await?))
    }

    /// One notification with its attempts.
    #[oai(path = "/notifications/:id", method = "get", operation_id = "getNotification")]
    async fn get_notification(
        &self,
        _caller: SignedIn,
        store: StoreData<'_>,
        id: Path<i64>,
    ) -> Result<Json<Notification>, ApiError> {
        Ok(Json(store.get_notification(id.0).await?))
    }

    /// Send a delivered or failed notification again (a new entry in the log, delivered at once).
    #[oai(
        path = "/notifications/:id/resend",
        method = "post",
        operation_id = "resendNotification"
    )]
    async fn resend(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        tiles: TilesData<'_>,
        id: Path<i64>,
    ) -> Result<NotificationQueued, ApiError> {
        let copy = store.resend_notification(id.0).await?;
        tiles.engine().alerts_stored().notify_one();
        let location = format!("/api/v1/notifications/{}", copy.id);
        Ok(NotificationQueued::Queued(Json(copy), location))
    }
}

pub struct MaintenanceApi;

#[OpenApi(tag = "ApiTags::Maintenance")]
impl MaintenanceApi {
    /// List maintenance windows, with whether each is going on now and its current or next occurrence.
    #[oai(path = "/maintenance", method = "get", operation_id = "listMaintenance")]
    async fn list(
        &self,
        _caller: Reader,
        store: StoreData<'_>,
    ) -> Result<Json<Vec<MaintenanceWindow>>, ApiError> {
        let at = now();
        let windows = store.list_maintenance().await?;
        Ok(Json(
            windows
                .into_iter()
                .map(|stored| MaintenanceBoard::describe(stored, at))
                .collect(),
        ))
    }

    /// Plan a window, or start one now (leave out `starts_at`) for `duration_min` minutes.
    #[oai(path = "/maintenance", method = "post", operation_id = "createMaintenance")]
    async fn create(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        tiles: TilesData<'_>,
        faces: super::pages::FacesData<'_>,
        body: JsonBody<NewMaintenance>,
    ) -> Result<MaintenanceCreated, ApiError> {
        let draft = body.0.draft(now())?;
        let stored = store.create_maintenance(&draft).await?;
        tiles.engine().reload_maintenance();
        faces.changed();
        let location = format!("/api/v1/maintenance/{}", stored.id);
        Ok(MaintenanceCreated::Created(
            Json(MaintenanceBoard::describe(stored, now())),
            location,
        ))
    }

    /// Get one window.
    #[oai(path = "/maintenance/:id", method = "get", operation_id = "getMaintenance")]
    async fn get(
        &self,
        _caller: Reader,
        store: StoreData<'_>,
        id: Path<i64>,
    ) -> Result<Json<MaintenanceWindow>, ApiError> {
        Ok(Json(MaintenanceBoard::describe(
            store.get_maintenance(id.0).await?,
            now(),
        )))
    }

    /// Change a window; to end one early, set `ends_at` to now (or delete it).
    #[oai(
        path = "/maintenance/:id",
        method = "patch",
        operation_id = "updateMaintenance"
    )]
    async fn update(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        tiles: TilesData<'_>,
        faces: super::pages::FacesData<'_>,
        id: Path<i64>,
        body: JsonBody<MaintenancePatch>,
    ) -> Result<Json<MaintenanceWindow>, ApiError> {
        let stored = store.get_maintenance(id.0).await?;
        let draft = body
            .0
            .apply(stored.draft)
            .map_err(|errors: Vec<FieldError>| ApiError::invalid(errors))?;
        let updated = store.update_maintenance(id.0, &draft).await?;
        tiles.engine().reload_maintenance();
        faces.changed();
        Ok(Json(MaintenanceBoard::describe(updated, now())))
    }

    /// Delete a window (one going on ends now).
    #[oai(
        path = "/maintenance/:id",
        method = "delete",
        operation_id = "deleteMaintenance"
    )]
    async fn delete(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        tiles: TilesData<'_>,
        faces: super::pages::FacesData<'_>,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        store.delete_maintenance(id.0).await?;
        tiles.engine().reload_maintenance();
        faces.changed();
        Ok(Deleted::Deleted)
    }
}
