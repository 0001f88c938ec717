//! `/healthz` and `/readyz` for probes: they answer within about a second whatever the database does.

use std::{sync::Arc, time::Duration};

use poem::{IntoResponse, Response, handler, http::StatusCode, web::Json};
use serde_json::json;

use super::StoreData;
use crate::store::{Store, StoreError};

/// Longest a probe waits for the database; sqlx alone would wait for its whole acquire timeout.
pub const PING_BOUND: Duration = Duration::from_millis(800);

async fn bounded_ping(store: &Arc<dyn Store>) -> Result<(), String> {
    match tokio::time::timeout(PING_BOUND, store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(StoreError::Unavailable(reason))) => Err(reason),
        Ok(Err(err)) => {
            tracing::error!(error = %err, "health check query failed");
            Err("the health check query failed; see the server log".into())
        }
        Err(_) => Err(format!("no answer within {} ms", PING_BOUND.as_millis())),
    }
}

fn unavailable(body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    response.set_status(StatusCode::SERVICE_UNAVAILABLE);
    response
}

/// What a probe is told when the database does not answer; why (a file path, a driver's error) goes to the
/// server's log only, since anyone may call the probes.
const UNAVAILABLE: &str = "the database is not answering; the server's log says why";

/// 200 when the store answers a query, 503 otherwise.
#[handler]
pub async fn healthz(store: StoreData<'_>) -> Response {
    let kind = store.kind().as_str();
    match bounded_ping(&store).await {
        Ok(()) => Json(json!({ "status": "ok", "store": kind })).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "health check: the database is not answering");
            unavailable(json!({ "status": "unavailable", "store": kind, "reason": UNAVAILABLE }))
        }
    }
}

/// Like `/healthz`, and also 503 until every embedded migration has been applied. It says too whether this
/// replica takes part in checking (`replica.checking`; replicas on one PostgreSQL), which does not change
/// the status: every replica serves every request.
#[handler]
pub async fn readyz(store: StoreData<'_>, tiles: super::TilesData<'_>) -> Response {
    let cluster = tiles.engine().cluster();
    let (checking, replicas) = cluster.readiness();
    let checks_started = tiles
        .engine()
        .metrics()
        .checks
        .load(std::sync::atomic::Ordering::Relaxed);
    let replica = json!({
        "id": cluster.id(),
        "checking": checking,
        "replicas": replicas,
        "checks_started": checks_started,
    });
    let kind = store.kind().as_str();
    if let Err(reason) = bounded_ping(&store).await {
        tracing::warn!(%reason, "readiness check: the database is not answering");
        return unavailable(json!({ "status": "unavailable", "store": kind, "reason": UNAVAILABLE }));
    }
    let status = match tokio::time::timeout(PING_BOUND, store.migration_status()).await {
        Ok(Ok(status)) => status,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "could not read migration status");
            return unavailable(
                json!({ "status": "unavailable", "store": kind, "reason": "cannot read migrations" }),
            );
        }
        Err(_) => {
            return unavailable(json!({ "status": "unavailable", "store": kind, "reason": "timed out" }));
        }
    };
    let migrations = json!({ "applied": status.applied, "expected": status.expected });
    if status.is_current() {
        Json(json!({ "status": "ready", "store": kind, "migrations": migrations, "replica": replica }))
            .into_response()
    } else {
        unavailable(json!({ "status": "migrations_pending", "store": kind, "migrations": migrations }))
    }
}
