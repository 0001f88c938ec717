//! Push checks' URLs: a job calls `/push/{token}` when it ran (or `/push/{token}/start` when it begins), with
//! no login: the token is the credential. Calls are limited per client address, wrong tokens much more so.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use poem::{Request, web::Data};
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{
    ApiTags, StoreData, TilesData,
    account::AccessData,
    problem::{ApiError, Problem},
    security::{Writer, client_address},
};
use crate::{
    model::{FieldError, Service},
    monitor::engine::{PushCall, PushError},
};

/// Calls from one address per minute, at most.
const CALLS_PER_MINUTE: u32 = 600;
/// Calls naming no push check from one address per minute, at most: guessing a token takes forever.
const MISSES_PER_MINUTE: u32 = 20;
/// Addresses remembered at most (the oldest minute is forgotten first).
const ADDRESSES_MAX: usize = 10_000;
const MESSAGE_MAX_CHARS: usize = 300;

/// Per-address counts of the current minute.
#[derive(Default)]
pub struct PushLimiter {
    counts: Mutex<HashMap<IpAddr, Minute>>,
}

#[derive(Clone, Copy)]
struct Minute {
    began: Instant,
    calls: u32,
    misses: u32,
}

impl PushLimiter {
    /// Counts a call; the wait when this address is over its limit.
    fn call(&self, address: IpAddr) -> Result<(), Duration> {
        self.with(address, |minute| {
            minute.calls += 1;
            minute.calls > CALLS_PER_MINUTE || minute.misses >= MISSES_PER_MINUTE
        })
    }

    /// Counts a call that named no push check.
    fn miss(&self, address: IpAddr) {
        let _ = self.with(address, |minute| {
            minute.misses += 1;
            false
        });
    }

    fn with(&self, address: IpAddr, count: impl FnOnce(&mut Minute) -> bool) -> Result<(), Duration> {
        let now = Instant::now();
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if counts.len() >= ADDRESSES_MAX && !counts.contains_key(&address) {
            counts.retain(|_, minute| now.duration_since(minute.began) < Duration::from_secs(60));
            if counts.len() >= ADDRESSES_MAX {
                counts.clear();
            }
        }
        let minute = counts.entry(address).or_insert(Minute {
            began: now,
            calls: 0,
            misses: 0,
        });
        if now.duration_since(minute.began) >= Duration::from_secs(60) {
            *minute = Minute {
                began: now,
                calls: 0,
                misses: 0,
            };
        }
        if count(minute) {
            Err(Duration::from_secs(60).saturating_sub(now.duration_since(minute.began)))
        } else {
            Ok(())
        }
    }
}

/// How the run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum PushStatus {
    Up,
    Down,
}

/// The call was taken.
#[derive(Debug, Clone, Object)]
pub struct PushAccepted {
    /// Always true.
    pub accepted: bool,
}

pub struct PushApi;

struct Call<'a> {
    request: &'a Request,
    access: AccessData<'a>,
    store: StoreData<'a>,
    tiles: TilesData<'a>,
    limiter: Data<&'a std::sync::Arc<PushLimiter>>,
}

impl Call<'_> {
    async fn take(
        self,
        token: &str,
        start: bool,
        status: Option<PushStatus>,
        msg: Option<String>,
        duration_ms: Option<u32>,
    ) -> Result<Json<PushAccepted>, ApiError> {
        let address = client_address(self.request, self.access.0);
        self.limiter.call(address).map_err(|wait| {
            ApiError::too_many_requests(
                "too many push calls from this address, or too many naming no push check: wait a minute",
                wait,
            )
        })?;
        if let Some(message) = &msg
            && message.chars().count() > MESSAGE_MAX_CHARS
        {
            return Err(ApiError::invalid(vec![FieldError::new(
                "msg",
                format!("must be at most {MESSAGE_MAX_CHARS} characters"),
            )]));
        }
        let Some(service_id) = self.store.find_push(token).await? else {
            self.limiter.miss(address);
            return Err(ApiError::NotFound(super::problem::ProblemJson(Problem::new(
                poem::http::StatusCode::NOT_FOUND,
                "no push check has this token: copy the URL from the tile's page again (it changes when the \
                 token is renewed)",
            ))));
        };
        let call = PushCall {
            start,
            ok: status != Some(PushStatus::Down),
            message: msg,
            duration_ms,
        };
        match self.tiles.engine().push(service_id, call).await {
            Ok(()) => Ok(Json(PushAccepted { accepted: true })),
            Err(PushError::NotWatched(_)) => Err(ApiError::conflict(
                "this tile is paused, or its check is no longer a push check: resume it to record calls",
            )),
            Err(PushError::Stopped) => Err(ApiError::unavailable("the server is stopping: call again")),
        }
    }
}

#[OpenApi(tag = "ApiTags::Monitoring")]
impl PushApi {
    /// A push check's job reports a run (no login: the token is the credential). `status=down` records a
    /// failure (with `msg`); `duration_ms` is the run's length, else the time since `/start`.
    #[oai(path = "/push/:token", method = "get", operation_id = "push")]
    #[allow(clippy::too_many_arguments)]
    async fn push(
        &self,
        request: &Request,
        access: AccessData<'_>,
        store: StoreData<'_>,
        tiles: TilesData<'_>,
        limiter: Data<&std::sync::Arc<PushLimiter>>,
        token: Path<String>,
        /// How the run went (default up).
        status: Query<Option<PushStatus>>,
        /// Why it failed, at most 300 characters.
        msg: Query<Option<String>>,
        /// How long the run took, in milliseconds.
        duration_ms: Query<Option<u32>>,
    ) -> Result<Json<PushAccepted>, ApiError> {
        let call = Call {
            request,
            access,
            store,
            tiles,
            limiter,
        };
        call.take(&token.0, false, status.0, msg.0, duration_ms.0).await
    }

    /// The same as `GET /push/{token}`, for jobs that POST.
    #[oai(path = "/push/:token", method = "post", operation_id = "pushPost")]
    #[allow(clippy::too_many_arguments)]
    async fn push_post(
        &self,
        request: &Request,
        access: AccessData<'_>,
        store: StoreData<'_>,
        tiles: TilesData<'_>,
        limiter: Data<&std::sync::Arc<PushLimiter>>,
        token: Path<String>,
        status: Query<Option<PushStatus>>,
        msg: Query<Option<String>>,
        duration_ms: Query<Option<u32>>,
    ) -> Result<Json<PushAccepted>, ApiError> {
        let call = Call {
            request,
            access,
            store,
            tiles,
            limiter,
        };
        call.take(&token.0, false, status.0, msg.0, duration_ms.0).await
    }

    /// A push check's job says a run begins: the next call to `/push/{token}` records how long it took.
    #[oai(path = "/push/:token/start", method = "get", operation_id = "pushStart")]
    async fn start(
        &self,
        request: &Request,
        access: AccessData<'_>,
        store: StoreData<'_>,
        tiles: TilesData<'_>,
        limiter: Data<&std::sync::Arc<PushLimiter>>,
        token: Path<String>,
    ) -> Result<Json<PushAccepted>, ApiError> {
        let call = Call {
            request,
            access,
            store,
            tiles,
            limiter,
        };
        call.take(&token.0, true, None, None, None).await
    }

    /// The same as `GET /push/{token}/start`, for jobs that POST.
    #[oai(path = "/push/:token/start", method = "post", operation_id = "pushStartPost")]
    async fn start_post(
        &self,
        request: &Request,
        access: AccessData<'_>,
        store: StoreData<'_>,
        tiles: TilesData<'_>,
        limiter: Data<&std::sync::Arc<PushLimiter>>,
        token: Path<String>,
    ) -> Result<Json<PushAccepted>, ApiError> {
        let call = Call {
            request,
            access,
            store,
            tiles,
            limiter,
        };
        call.take(&token.0, true, None, None, None).await
    }

    /// Give a tile's push check a new token: the old URL stops working at once.
    #[oai(
        path = "/services/:id/push-token",
        method = "post",
        operation_id = "renewPushToken"
    )]
    async fn renew(
        &self,
        _caller: Writer,
        tiles: TilesData<'_>,
        id: Path<i64>,
    ) -> Result<Json<Service>, ApiError> {
        Ok(Json(tiles.renew_push_token(id.0).await?))
    }
}
