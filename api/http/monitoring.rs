//! Watching tiles over the API: run a check now, pause and resume, results, uptime and latency stats,
//! incidents, and the live event stream.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream::BoxStream};
use poem::{Request, web::Data};
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::{EventStream, Json},
};
use tokio::sync::broadcast::error::RecvError;

use super::{
    ApiTags, StoreData, TilesData,
    account::AccessData,
    problem::ApiError,
    security::{Reader, Writer},
    streams::{Credential, StreamSlot, Streams},
};
use crate::{
    auth::Access,
    model::{CheckResult, CheckRun, Event, FieldError, Incident, IncidentFilter, Service, seconds},
    monitor::stats::{Stats, Window, summarise, window_hours},
};

pub struct MonitoringApi;

#[OpenApi(tag = "ApiTags::Monitoring")]
impl MonitoringApi {
    /// Run a tile's check now; answers with what it found and the tile's status after it.
    #[oai(path = "/services/:id/check", method = "post", operation_id = "checkService")]
    async fn check(
        &self,
        _caller: Writer,
        tiles: TilesData<'_>,
        id: Path<i64>,
    ) -> Result<Json<CheckRun>, ApiError> {
        Ok(Json(tiles.check_now(id.0).await?))
    }

    /// Stop checking a tile (its open incident is closed); it shows as `paused`.
    #[oai(path = "/services/:id/pause", method = "post", operation_id = "pauseService")]
    async fn pause(
        &self,
        _caller: Writer,
        tiles: TilesData<'_>,
        id: Path<i64>,
    ) -> Result<Json<Service>, ApiError> {
        Ok(Json(tiles.set_paused(id.0, true).await?))
    }

    /// Check a paused tile again; it shows as `unknown` until its next check.
    #[oai(
        path = "/services/:id/resume",
        method = "post",
        operation_id = "resumeService"
    )]
    async fn resume(
        &self,
        _caller: Writer,
        tiles: TilesData<'_>,
        id: Path<i64>,
    ) -> Result<Json<Service>, ApiError> {
        Ok(Json(tiles.set_paused(id.0, false).await?))
    }

    /// A tile's raw check results, newest first. Raw results are kept for HOMEWATCH_RETENTION_RAW_DAYS.
    #[oai(path = "/services/:id/results", method = "get", operation_id = "listResults")]
    async fn results(
        &self,
        _caller: Reader,
        store: StoreData<'_>,
        id: Path<i64>,
        /// Oldest moment to include (RFC 3339); default 24 hours ago.
        since: Query<Option<DateTime<Utc>>>,
        /// Moment to stop before (RFC 3339); default now.
        until: Query<Option<DateTime<Utc>>>,
        /// Results to return, 1 to 1000 (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<Vec<CheckResult>>, ApiError> {
        store.get_service(id.0).await?;
        let until = until.0.unwrap_or_else(|| Utc::now() + seconds(1));
        let since = match since.0 {
            Some(since) => since,
            None => until.checked_sub_signed(seconds(86_400)).ok_or_else(|| {
                ApiError::invalid(vec![FieldError::new(
                    "until",
                    "is too far in the past to count 24 hours back from; give `since` too",
                )])
            })?,
        };
        if since > until {
            // An empty stretch of time holds no results.
            return Ok(Json(Vec::new()));
        }
        Ok(Json(
            store.results(id.0, since, until, limit.0.unwrap_or(100)).await?,
        ))
    }

    /// A tile's uptime and latency over a window of whole hours, with a series for charts.
    #[oai(path = "/services/:id/stats", method = "get", operation_id = "getStats")]
    async fn stats(
        &self,
        _caller: Reader,
        store: StoreData<'_>,
        id: Path<i64>,
        /// 24h, 7d, 30d, 90d or 365d (default 24h).
        window: Query<Option<Window>>,
        /// Slices in the series, 1 to 500 (default: hourly for 24h, 6-hourly for 7d, daily for 30d and 90d,
        /// 5-daily for 365d).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        buckets: Query<Option<u32>>,
    ) -> Result<Json<Stats>, ApiError> {
        store.get_service(id.0).await?;
        let window = window.0.unwrap_or(Window::Day);
        let now = Utc::now();
        let (first, last) = window_hours(window, now);
        let rollups = store.rollups(id.0, first, last).await?;
        let buckets = buckets.0.unwrap_or(window.default_buckets());
        Ok(Json(summarise(id.0, &rollups, first, last, buckets, now)))
    }

    /// Incidents, newest first: each is a stretch of time a tile was down.
    #[oai(path = "/incidents", method = "get", operation_id = "listIncidents")]
    async fn incidents(
        &self,
        _caller: Reader,
        store: StoreData<'_>,
        /// Only this tile's incidents.
        service_id: Query<Option<i64>>,
        /// true: only open incidents; false: only closed ones.
        open: Query<Option<bool>>,
        /// Incidents to return, 1 to 1000 (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<Vec<Incident>>, ApiError> {
        let filter = IncidentFilter {
            service_id: service_id.0,
            open: open.0,
            limit: limit.0.unwrap_or(100),
        };
        Ok(Json(store.incidents(&filter).await?))
    }

    /// Server-sent events: every check result and every state change as it happens.
    #[oai(path = "/events", method = "get", operation_id = "streamEvents")]
    async fn events(
        &self,
        request: &Request,
        caller: Reader,
        tiles: TilesData<'_>,
        access: AccessData<'_>,
        streams: Data<&Arc<Streams>>,
        /// Only events of this tile.
        service_id: Query<Option<i64>>,
    ) -> Result<EventStream<BoxStream<'static, Event>>, ApiError> {
        let open = Open {
            receiver: tiles.engine().subscribe(),
            closing: tiles.engine().closing(),
            access: access.0.clone(),
            credential: Credential::of(request),
            recheck_at: tokio::time::Instant::now() + streams.recheck(),
            recheck: streams.recheck(),
            only: service_id.0,
            _slot: streams.open(caller.0.as_ref().map(|principal| principal.user.id))?,
        };
        let stream = futures_util::stream::unfold(open, |mut open| async move {
            let event = open.next().await?;
            Some((event, open))
        });
        Ok(EventStream::new(stream.boxed()).keep_alive(Duration::from_secs(15)))
    }
}

/// An open event stream and what can end it.
struct Open {
    receiver: tokio::sync::broadcast::Receiver<crate::monitor::engine::EngineEvent>,
    closing: tokio::sync::watch::Receiver<bool>,
    access: Arc<Access>,
    credential: Credential,
    recheck_at: tokio::time::Instant,
    recheck: Duration,
    only: Option<i64>,
    _slot: StreamSlot,
}

impl Open {
    /// The next event for this stream, or None when it is to end.
    async fn next(&mut self) -> Option<Event> {
        if *self.closing.borrow() {
            return None;
        }
        loop {
            tokio::select! {
                // It only ever changes to true (and a dropped engine ends streams too).
                _ = self.closing.changed() => return None,
                () = tokio::time::sleep_until(self.recheck_at) => {
                    if !self.credential.still_valid(&self.access).await {
                        return None;
                    }
                    self.recheck_at += self.recheck;
                }
                received = self.receiver.recv() => match received {
                    Ok(event) => {
                        let event = Event::from(event);
                        if self.only.is_none_or(|id| id == event.service_id) {
                            return Some(event);
                        }
                    }
                    // A slow reader missed some events; carry on with the newest.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}
