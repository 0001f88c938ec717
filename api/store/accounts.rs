//! Users and their roles, login sessions and API tokens. Session ids and tokens arrive already hashed.

use chrono::{DateTime, Utc};

use super::{
    PasswordReset, StoreError, StoreResult,
    rows::{SESSION_SELECT, SessionRow, TOKEN_SELECT, TokenRow, UserRow},
    rules::{admin_stays, first_user_once},
    sql::{Backend, Lock, Tx, Violations, sql},
};
use crate::model::{ApiToken, Role, Scope, Session, StoredUser, User, now};

fn username_clash(name: &str) -> StoreError {
    StoreError::Conflict {
        field: Some("username"),
        message: format!("a user named `{name}` already exists"),
    }
}

pub async fn count_users(db: &dyn Backend) -> StoreResult<i64> {
    Ok(sql("SELECT count(*) FROM users").scalar(db.reader()?).await?)
}

async fn count_admins(tx: &mut Tx) -> StoreResult<i64> {
    Ok(sql("SELECT count(*) FROM users WHERE role = 'admin'")
        .scalar(tx)
        .await?)
}

pub async fn create_user(
    db: &dyn Backend,
    username: &str,
    password_hash: &str,
    role: Role,
    only_if_none: bool,
) -> StoreResult<User> {
    let mut tx = db.write().await?;
    db.dialect().lock(&mut tx, Lock::Users).await?;
    if only_if_none {
        first_user_once(sql("SELECT count(*) FROM users").scalar(&mut tx).await?)?;
    }
    let row: UserRow = sql(
        "INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         RETURNING id, username, password_hash, role, created_at, updated_at",
    )
    .bind(username)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(now())
    .fetch_one(&mut tx)
    .await
    .on_unique(|| username_clash(username))?;
    tx.commit().await?;
    row.try_into()
}

pub async fn get_user(db: &dyn Backend, id: i64) -> StoreResult<StoredUser> {
    let row: Option<UserRow> =
        sql("SELECT id, username, password_hash, role, created_at, updated_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(db.reader()?)
            .await?;
    row.ok_or_else(|| StoreError::not_found("user", id))?.try_into()
}

/// Usernames are ASCII, so lower() matches them ignoring case the same way in both dialects.
pub async fn find_user(db: &dyn Backend, username: &str) -> StoreResult<Option<StoredUser>> {
    let row: Option<UserRow> = sql(
        "SELECT id, username, password_hash, role, created_at, updated_at FROM users \
         WHERE lower(username) = lower($1)",
    )
    .bind(username)
    .fetch_optional(db.reader()?)
    .await?;
    row.map(StoredUser::try_from).transpose()
}

pub async fn list_users(db: &dyn Backend) -> StoreResult<Vec<User>> {
    let rows: Vec<UserRow> =
        sql("SELECT id, username, password_hash, role, created_at, updated_at FROM users ORDER BY id")
            .fetch_all(db.reader()?)
            .await?;
    rows.into_iter().map(User::try_from).collect()
}

/// The role of user `id`, read inside `tx` (after the users lock).
async fn role_of(tx: &mut Tx, id: i64) -> StoreResult<Role> {
    let role: Option<(String,)> = sql("SELECT role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(tx)
        .await?;
    let (role,) = role.ok_or_else(|| StoreError::not_found("user", id))?;
    Role::parse(&role).ok_or_else(|| StoreError::Other(format!("user {id}: unknown role {role}")))
}

pub async fn update_user(
    db: &dyn Backend,
    id: i64,
    role: Option<Role>,
    password: Option<PasswordReset<'_>>,
) -> StoreResult<User> {
    let mut tx = db.write().await?;
    db.dialect().lock(&mut tx, Lock::Users).await?;
    let current = role_of(&mut tx, id).await?;
    admin_stays(
        current,
        Some(role.unwrap_or(current)),
        count_admins(&mut tx).await?,
    )?;
    let row: UserRow = sql(
        "UPDATE users SET role = COALESCE($2, role), password_hash = COALESCE($3, password_hash), \
         updated_at = $4 WHERE id = $1 \
         RETURNING id, username, password_hash, role, created_at, updated_at",
    )
    .bind(id)
    .bind(role.map(Role::as_str))
    .bind(password.map(|reset| reset.hash))
    .bind(now())
    .fetch_one(&mut tx)
    .await?;
    if let Some(reset) = password {
        sql("DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2")
            .bind(id)
            .bind(reset.keep_session)
            .execute(&mut tx)
            .await?;
        if reset.revoke_tokens {
            sql("DELETE FROM api_tokens WHERE user_id = $1")
                .bind(id)
                .execute(&mut tx)
                .await?;
        }
    }
    tx.commit().await?;
    row.try_into()
}

pub async fn delete_user(db: &dyn Backend, id: i64) -> StoreResult<()> {
    let mut tx = db.write().await?;
    db.dialect().lock(&mut tx, Lock::Users).await?;
    let current = role_of(&mut tx, id).await?;
    admin_stays(current, None, count_admins(&mut tx).await?)?;
    sql("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut tx)
        .await?;
    tx.commit().await
}

pub async fn create_session(
    db: &dyn Backend,
    user_id: i64,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<Session> {
    let at = now();
    let id: i64 = sql(
        "INSERT INTO sessions (user_id, token_hash, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $3, $4) RETURNING id",
    )
    .bind(user_id)
    .bind(token_hash)
    .bind(at)
    .bind(expires_at)
    .scalar(db.writer()?)
    .await
    .on_foreign_key(|| StoreError::not_found("user", user_id))?;
    Ok(Session {
        id,
        user_id,
        created_at: at,
        last_seen_at: at,
        expires_at,
    })
}

pub async fn find_session(db: &dyn Backend, token_hash: &str) -> StoreResult<Option<(Session, User)>> {
    let text = format!("{SESSION_SELECT} WHERE s.token_hash = $1");
    let row: Option<SessionRow> = sql(&text).bind(token_hash).fetch_optional(db.reader()?).await?;
    row.map(TryInto::try_into).transpose()
}

pub async fn extend_session(
    db: &dyn Backend,
    id: i64,
    seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    sql("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1")
        .bind(id)
        .bind(seen_at)
        .bind(expires_at)
        .execute(db.writer()?)
        .await?;
    Ok(())
}

pub async fn delete_session(db: &dyn Backend, token_hash: &str) -> StoreResult<()> {
    sql("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db.writer()?)
        .await?;
    Ok(())
}

pub async fn create_token(
    db: &dyn Backend,
    user_id: i64,
    name: &str,
    scope: Scope,
    token_hash: &str,
    expires_at: Option<DateTime<Utc>>,
) -> StoreResult<ApiToken> {
    let mut tx = db.write().await?;
    let id: i64 = sql(
        "INSERT INTO api_tokens (user_id, name, scope, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(scope.as_str())
    .bind(token_hash)
    .bind(now())
    .bind(expires_at)
    .scalar(&mut tx)
    .await
    .on_foreign_key(|| StoreError::not_found("user", user_id))?;
    let text = format!("{TOKEN_SELECT} WHERE t.id = $1");
    let row: TokenRow = sql(&text).bind(id).fetch_one(&mut tx).await?;
    tx.commit().await?;
    let (token, _owner) = row.try_into()?;
    Ok(token)
}

pub async fn find_token(db: &dyn Backend, token_hash: &str) -> StoreResult<Option<(ApiToken, User)>> {
    let text = format!("{TOKEN_SELECT} WHERE t.token_hash = $1");
    let row: Option<TokenRow> = sql(&text).bind(token_hash).fetch_optional(db.reader()?).await?;
    row.map(TryInto::try_into).transpose()
}

pub async fn touch_token(db: &dyn Backend, id: i64, used_at: DateTime<Utc>) -> StoreResult<()> {
    sql("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(used_at)
        .execute(db.writer()?)
        .await?;
    Ok(())
}

pub async fn list_tokens(db: &dyn Backend, user_id: Option<i64>) -> StoreResult<Vec<ApiToken>> {
    let text = format!("{TOKEN_SELECT} WHERE $1 IS NULL OR t.user_id = $1 ORDER BY t.id DESC");
    let rows: Vec<TokenRow> = sql(&text).bind(user_id).fetch_all(db.reader()?).await?;
    rows.into_iter()
        .map(|row| <(ApiToken, User)>::try_from(row).map(|(token, _owner)| token))
        .collect()
}

pub async fn delete_token(db: &dyn Backend, id: i64, user_id: Option<i64>) -> StoreResult<()> {
    let deleted = sql("DELETE FROM api_tokens WHERE id = $1 AND ($2 IS NULL OR user_id = $2)")
        .bind(id)
        .bind(user_id)
        .execute(db.writer()?)
        .await?;
    match deleted {
        0 => Err(StoreError::not_found("token", id)),
        _ => Ok(()),
    }
}

pub async fn prune_expired_access(db: &dyn Backend, now: DateTime<Utc>) -> StoreResult<u64> {
    let mut tx = db.write().await?;
    let sessions = sql("DELETE FROM sessions WHERE expires_at < $1")
        .bind(now)
        .execute(&mut tx)
        .await?;
    let tokens = sql("DELETE FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at < $1")
        .bind(now)
        .execute(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(sessions + tokens)
}
