//! Rows as both dialects return them, and their conversion into the model. Column types are the narrowest
//! that both drivers decode (PostgreSQL's `INTEGER` and `SMALLINT` columns come back as `i32` and `i16`).

use chrono::{DateTime, Utc};

use super::{StoreError, StoreResult, sql::from_row};
use crate::model::{
    AlertMemory, ApiToken, Certificate, Check, CheckResult, Incident, Role, Rollup, Scope, Service,
    ServiceState, ServiceStatus, Session, StoredUser, User, WatchedTile,
};

/// `SELECT` of tiles with their status (`s` and `st`), followed by the rest of the statement given.
macro_rules! select_services {
    ($rest:literal) => {
        concat!(
            "SELECT s.id, s.group_id, s.name, s.url, s.description, s.icon, s.position, s.created_at, \
             s.updated_at, s.tags, s.check_spec, st.state, st.since, st.last_checked_at, st.last_latency_ms, \
             st.last_error, st.cert_expires_at, st.cert_issuer, st.cert_subject, s.badges, s.managed \
             FROM services s LEFT JOIN service_status st ON st.service_id = s.id ",
            $rest
        )
    };
}
pub(crate) use select_services;

/// A tile, tags as a JSON array in text.
pub struct ServiceRow {
    id: i64,
    group_id: i64,
    name: String,
    url: String,
    description: String,
    icon: Option<String>,
    position: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    tags: String,
    check_spec: Option<String>,
    state: Option<String>,
    since: Option<DateTime<Utc>>,
    last_checked_at: Option<DateTime<Utc>>,
    last_latency_ms: Option<i32>,
    last_error: Option<String>,
    cert_expires_at: Option<DateTime<Utc>>,
    cert_issuer: Option<String>,
    cert_subject: Option<String>,
    badges: bool,
    managed: bool,
}

from_row!(ServiceRow {
    id,
    group_id,
    name,
    url,
    description,
    icon,
    position,
    created_at,
    updated_at,
    tags,
    check_spec,
    state,
    since,
    last_checked_at,
    last_latency_ms,
    last_error,
    cert_expires_at,
    cert_issuer,
    cert_subject,
    badges,
    managed
});

/// The certificate columns of a status, read at `now`.
pub fn certificate(
    expires_at: Option<DateTime<Utc>>,
    issuer: Option<String>,
    subject: Option<String>,
    now: DateTime<Utc>,
) -> Option<Certificate> {
    let expires_at = expires_at?;
    Some(Certificate {
        expires_at,
        days_left: Certificate::days_left_at(expires_at, now),
        issuer: issuer.unwrap_or_default(),
        subject: subject.unwrap_or_default(),
    })
}

fn decode_check(id: i64, spec: &str) -> StoreResult<Check> {
    serde_json::from_str(spec)
        .map_err(|err| StoreError::Other(format!("service {id}: check_spec is not a check: {err}")))
}

fn decode_state(state: Option<&str>) -> ServiceState {
    state
        .and_then(ServiceState::parse)
        .unwrap_or(ServiceState::Unknown)
}

impl TryFrom<ServiceRow> for Service {
    type Error = StoreError;

    fn try_from(row: ServiceRow) -> StoreResult<Self> {
        Ok(Service {
            check: row
                .check_spec
                .as_deref()
                .map(|spec| decode_check(row.id, spec))
                .transpose()?,
            tags: serde_json::from_str(&row.tags).map_err(|err| {
                StoreError::Other(format!("service {}: tags are not a JSON array: {err}", row.id))
            })?,
            status: ServiceStatus {
                state: decode_state(row.state.as_deref()),
                since: row.since,
                last_checked_at: row.last_checked_at,
                last_latency_ms: row.last_latency_ms.and_then(|ms| u32::try_from(ms).ok()),
                last_error: row.last_error,
                certificate: certificate(row.cert_expires_at, row.cert_issuer, row.cert_subject, Utc::now()),
            },
            id: row.id,
            group_id: row.group_id,
            name: row.name,
            url: row.url,
            description: row.description,
            icon: row.icon,
            position: row.position,
            badges: row.badges,
            managed: row.managed,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub fn services(rows: Vec<ServiceRow>) -> StoreResult<Vec<Service>> {
    rows.into_iter().map(Service::try_from).collect()
}

/// What the engine reads of a watched tile.
pub struct WatchedRow {
    id: i64,
    group_id: i64,
    url: String,
    check_spec: String,
    state: Option<String>,
    since: Option<DateTime<Utc>>,
    alerted_state: Option<String>,
    alerted_since: Option<DateTime<Utc>>,
    flapping_since: Option<DateTime<Utc>>,
    cert_warned_expiry: Option<DateTime<Utc>>,
    cert_warned_days: Option<i32>,
}

from_row!(WatchedRow {
    id,
    group_id,
    url,
    check_spec,
    state,
    since,
    alerted_state,
    alerted_since,
    flapping_since,
    cert_warned_expiry,
    cert_warned_days
});

impl TryFrom<WatchedRow> for WatchedTile {
    type Error = StoreError;

    fn try_from(row: WatchedRow) -> StoreResult<Self> {
        Ok(WatchedTile {
            check: decode_check(row.id, &row.check_spec)?,
            id: row.id,
            group_id: row.group_id,
            url: row.url,
            state: decode_state(row.state.as_deref()),
            since: row.since,
            memory: AlertMemory {
                alerted: row.alerted_state.as_deref().and_then(ServiceState::parse),
                alerted_since: row.alerted_since,
                flapping_since: row.flapping_since,
                cert_warned: row
                    .cert_warned_expiry
                    .zip(row.cert_warned_days.and_then(|days| u32::try_from(days).ok())),
            },
        })
    }
}

/// A user, as the users table holds them.
pub struct UserRow {
    id: i64,
    username: String,
    password_hash: String,
    role: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

from_row!(UserRow {
    id,
    username,
    password_hash,
    role,
    created_at,
    updated_at
});

impl TryFrom<UserRow> for StoredUser {
    type Error = StoreError;

    fn try_from(row: UserRow) -> StoreResult<Self> {
        Ok(StoredUser {
            user: owner(row.id, row.username, &row.role, row.created_at, row.updated_at)?,
            password_hash: row.password_hash,
        })
    }
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> StoreResult<Self> {
        StoredUser::try_from(row).map(|stored| stored.user)
    }
}

/// The user a session or token belongs to, from the columns joined in.
fn owner(
    id: i64,
    username: String,
    role: &str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> StoreResult<User> {
    Ok(User {
        id,
        username,
        role: Role::parse(role)
            .ok_or_else(|| StoreError::Other(format!("user {id}: unknown role {role}")))?,
        created_at,
        updated_at,
    })
}

/// A token with its owner (`u_*` are the owner's columns).
pub struct TokenRow {
    id: i64,
    user_id: i64,
    name: String,
    scope: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    username: String,
    role: String,
    u_created_at: DateTime<Utc>,
    u_updated_at: DateTime<Utc>,
}

from_row!(TokenRow {
    id,
    user_id,
    name,
    scope,
    created_at,
    last_used_at,
    expires_at,
    username,
    role,
    u_created_at,
    u_updated_at
});

pub const TOKEN_SELECT: &str = "SELECT t.id, t.user_id, t.name, t.scope, t.created_at, t.last_used_at, \
     t.expires_at, u.username, u.role, u.created_at AS u_created_at, u.updated_at AS u_updated_at \
     FROM api_tokens t JOIN users u ON u.id = t.user_id";

impl TryFrom<TokenRow> for (ApiToken, User) {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> StoreResult<Self> {
        let scope = Scope::parse(&row.scope)
            .ok_or_else(|| StoreError::Other(format!("token {}: unknown scope {}", row.id, row.scope)))?;
        let user = owner(
            row.user_id,
            row.username.clone(),
            &row.role,
            row.u_created_at,
            row.u_updated_at,
        )?;
        let token = ApiToken {
            id: row.id,
            user_id: row.user_id,
            username: row.username,
            name: row.name,
            scope,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
        };
        Ok((token, user))
    }
}

/// A session with its owner (`u_*` are the owner's columns).
pub struct SessionRow {
    id: i64,
    user_id: i64,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    username: String,
    role: String,
    u_created_at: DateTime<Utc>,
    u_updated_at: DateTime<Utc>,
}

from_row!(SessionRow {
    id,
    user_id,
    created_at,
    last_seen_at,
    expires_at,
    username,
    role,
    u_created_at,
    u_updated_at
});

pub const SESSION_SELECT: &str = "SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, \
     u.username, u.role, u.created_at AS u_created_at, u.updated_at AS u_updated_at \
     FROM sessions s JOIN users u ON u.id = s.user_id";

impl TryFrom<SessionRow> for (Session, User) {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> StoreResult<Self> {
        let user = owner(
            row.user_id,
            row.username,
            &row.role,
            row.u_created_at,
            row.u_updated_at,
        )?;
        let session = Session {
            id: row.id,
            user_id: row.user_id,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
        };
        Ok((session, user))
    }
}

/// A raw check result.
pub struct ResultRow {
    service_id: i64,
    checked_at: i64,
    ok: bool,
    latency_ms: i32,
    status_code: Option<i16>,
    error: Option<String>,
    maintenance: bool,
    degraded: bool,
    packet_loss_pct: Option<i16>,
}

from_row!(ResultRow {
    service_id,
    checked_at,
    ok,
    latency_ms,
    status_code,
    error,
    maintenance,
    degraded,
    packet_loss_pct
});

impl From<ResultRow> for CheckResult {
    fn from(row: ResultRow) -> Self {
        CheckResult {
            service_id: row.service_id,
            checked_at: DateTime::from_timestamp_millis(row.checked_at).unwrap_or_default(),
            ok: row.ok,
            latency_ms: u32::try_from(row.latency_ms).unwrap_or_default(),
            status_code: row.status_code.and_then(|code| u16::try_from(code).ok()),
            error: row.error,
            maintenance: row.maintenance,
            degraded: row.degraded,
            packet_loss_pct: row.packet_loss_pct.and_then(|pct| u8::try_from(pct).ok()),
            certificate: None,
        }
    }
}

/// The histogram columns of a rollup, in bucket order.
pub const BUCKET_COLUMNS: &str = "b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15";

/// One tile's rollup of one hour.
pub struct RollupRow {
    hour: i64,
    checks: i64,
    ok_checks: i64,
    latency_sum: i64,
    latency_min: i64,
    latency_max: i64,
    b0: i64,
    b1: i64,
    b2: i64,
    b3: i64,
    b4: i64,
    b5: i64,
    b6: i64,
    b7: i64,
    b8: i64,
    b9: i64,
    b10: i64,
    b11: i64,
    b12: i64,
    b13: i64,
    b14: i64,
    b15: i64,
}

from_row!(RollupRow {
    hour,
    checks,
    ok_checks,
    latency_sum,
    latency_min,
    latency_max,
    b0,
    b1,
    b2,
    b3,
    b4,
    b5,
    b6,
    b7,
    b8,
    b9,
    b10,
    b11,
    b12,
    b13,
    b14,
    b15
});

impl From<RollupRow> for (i64, Rollup) {
    fn from(row: RollupRow) -> Self {
        let buckets = [
            row.b0, row.b1, row.b2, row.b3, row.b4, row.b5, row.b6, row.b7, row.b8, row.b9, row.b10, row.b11,
            row.b12, row.b13, row.b14, row.b15,
        ];
        let rollup = Rollup {
            checks: row.checks,
            ok_checks: row.ok_checks,
            latency_sum: row.latency_sum,
            latency_min: row.latency_min,
            latency_max: row.latency_max,
            buckets,
        };
        (row.hour, rollup)
    }
}

/// The counts of one tile's hour: all that uptime and average latency need.
pub struct HourCountsRow {
    service_id: i64,
    hour: i64,
    checks: i64,
    ok_checks: i64,
    latency_sum: i64,
}

from_row!(HourCountsRow {
    service_id,
    hour,
    checks,
    ok_checks,
    latency_sum
});

impl From<HourCountsRow> for (i64, i64, Rollup) {
    fn from(row: HourCountsRow) -> Self {
        let rollup = Rollup {
            checks: row.checks,
            ok_checks: row.ok_checks,
            latency_sum: row.latency_sum,
            ..Rollup::default()
        };
        (row.service_id, row.hour, rollup)
    }
}

/// An incident.
pub struct IncidentRow {
    id: i64,
    service_id: i64,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    cause: String,
}

from_row!(IncidentRow {
    id,
    service_id,
    started_at,
    ended_at,
    cause
});

impl From<IncidentRow> for Incident {
    fn from(row: IncidentRow) -> Self {
        Incident {
            id: row.id,
            service_id: row.service_id,
            started_at: row.started_at,
            duration_s: row.ended_at.map(|ended| (ended - row.started_at).num_seconds()),
            ended_at: row.ended_at,
            cause: row.cause,
        }
    }
}
