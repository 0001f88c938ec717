//! Accounts and access: the first-run setup token, passwords, login with backoff, sessions, API tokens and
//! users, over the store. The HTTP layer (`http::security`, `http::account`) decides who may call what.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};

use crate::{
    model::{
        ApiToken, CreatedToken, NewToken, NewUser, PasswordChange, Role, Scope, Session, User, UserPatch,
    },
    store::{PasswordReset, Store, StoreError},
};

pub mod limiter;
pub mod password;
pub mod proxies;
pub mod secret;

use limiter::{Key, LimiterConfig, LoginLimiter, Wait};
use password::Passwords;
use proxies::TrustedProxies;

/// A session is extended (and its cookie renewed) at most this often, so reads do not turn into writes.
const SESSION_REFRESH: Duration = Duration::from_secs(3600);
/// A token's `last_used_at` is written at most this often.
const TOKEN_TOUCH: Duration = Duration::from_secs(60);

/// How access works on this server (from the configuration).
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// Anonymous visitors may read the dashboard and its stats.
    pub public_dashboard: bool,
    /// Sessions end after this long without use.
    pub session_ttl: Duration,
    /// Where people reach Homewatch (HOMEWATCH_PUBLIC_URL): an https URL makes cookies `Secure`, and its
    /// origin is accepted for cookie-authenticated writes.
    pub public_url: Option<url::Url>,
    /// Take the client address from `X-Forwarded-For` (behind a reverse proxy that sets it).
    /// Reverse proxies whose `X-Forwarded-For` names the client (HOMEWATCH_TRUSTED_PROXIES).
    pub trusted_proxies: TrustedProxies,
    pub limiter: LimiterConfig,
}

impl AccessConfig {
    /// The defaults, which `config` shows and `--help` documents.
    pub const DEFAULT: Self = Self {
        public_dashboard: false,
        session_ttl: Duration::from_secs(30 * 86_400),
        public_url: None,
        trusted_proxies: TrustedProxies::NONE,
        limiter: LimiterConfig::DEFAULT,
    };
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl AccessConfig {
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_ref()
            .is_some_and(|url| url.scheme() == "https")
    }
}

/// Why an access operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The same answer for an unknown user and a wrong password.
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("too many failed attempts, or another one being checked; try again in {} s", .0.as_secs().max(1))]
    TooManyAttempts(Duration),
    #[error("the setup token is not the one this server printed in its log")]
    BadSetupToken,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("a viewer's tokens can only read: ask an admin for write access")]
    ViewerWriteToken,
}

impl From<Wait> for AccessError {
    fn from(Wait(wait): Wait) -> Self {
        AccessError::TooManyAttempts(wait)
    }
}

pub struct Access {
    store: Arc<dyn Store>,
    config: AccessConfig,
    passwords: Passwords,
    limiter: LoginLimiter,
    /// The hash of the current setup token, while no user exists.
    setup: Mutex<Option<String>>,
}

impl Access {
    pub fn new(store: Arc<dyn Store>, config: AccessConfig) -> Self {
        Self {
            store,
            limiter: LoginLimiter::new(config.limiter),
            config,
            passwords: Passwords::new(),
            setup: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &AccessConfig {
        &self.config
    }

    pub fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    pub async fn setup_required(&self) -> Result<bool, StoreError> {
        Ok(self.store.count_users().await? == 0)
    }

    /// While no user exists: a new one-time setup token, returned once so it can be printed in the log.
    pub async fn begin_setup(&self) -> Result<Option<String>, StoreError> {
        if !self.setup_required().await? {
            return Ok(None);
        }
        let token = secret::setup_token();
        let hash = secret::hash(&token);
        // Replicas on one PostgreSQL each print a token; any of them works on every replica.
        #[cfg(feature = "postgres")]
        if let Some(pool) = self.store.postgres_pool() {
            sqlx::query(&format!(
                "INSERT INTO setup_tokens (hash, created_at) VALUES ($1, {}) ON CONFLICT DO NOTHING",
                crate::cluster::pg::NOW_MS
            ))
            .bind(&hash)
            .execute(&pool)
            .await
            .map_err(|err| StoreError::Unavailable(format!("cannot share the setup token: {err}")))?;
        }
        *self.setup.lock().unwrap_or_else(|p| p.into_inner()) = Some(hash);
        Ok(Some(token))
    }

    /// Whether another replica printed this setup token.
    async fn shared_setup_token(&self, token: &str) -> bool {
        #[cfg(feature = "postgres")]
        if let Some(pool) = self.store.postgres_pool() {
            let hashes: Vec<String> = sqlx::query_scalar("SELECT hash FROM setup_tokens")
                .fetch_all(&pool)
                .await
                .unwrap_or_default();
            return hashes.iter().any(|hash| secret::matches(token, hash));
        }
        let _ = token;
        false
    }

    /// Starts a guess: refused while a key waits out its backoff, here or (replicas on PostgreSQL) on any
    /// replica. It counts as a failure unless `succeeded` is called.
    async fn begin(&self, keys: Vec<Key>) -> Result<limiter::Attempt<'_>, AccessError> {
        let attempt = self.limiter.begin(keys)?;
        #[cfg(feature = "postgres")]
        if let Some(pool) = self.store.postgres_pool() {
            match limiter::shared::begin(&pool, &self.config.limiter, attempt.keys()).await {
                Ok(Ok(())) => {}
                Ok(Err(wait)) => return Err(wait.into()),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the shared login backoff; this replica's own holds")
                }
            }
        }
        Ok(attempt)
    }

    async fn succeeded(&self, attempt: limiter::Attempt<'_>) {
        #[cfg(feature = "postgres")]
        if let Some(pool) = self.store.postgres_pool()
            && let Err(err) = limiter::shared::succeeded(&pool, attempt.keys()).await
        {
            tracing::warn!(error = %err, "cannot clear the shared login backoff");
        }
        attempt.succeeded();
    }

    /// Creates the first admin from the setup token; the token stops working.
    pub async fn setup(
        &self,
        client: IpAddr,
        token: &str,
        username: &str,
        password: &str,
    ) -> Result<User, AccessError> {
        let attempt = self.begin(vec![Key::address("setup", client)]).await?;
        let expected = self.setup.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let valid = expected.is_some_and(|hash| secret::matches(token, &hash))
            || self.shared_setup_token(token).await;
        if !valid {
            if !self.setup_required().await? {
                return Err(crate::store::rules::setup_done().into());
            }
            return Err(AccessError::BadSetupToken);
        }
        let hash = self.passwords.hash(password).await;
        let user = self.store.create_user(username, &hash, Role::Admin, true).await?;
        *self.setup.lock().unwrap_or_else(|p| p.into_inner()) = None;
        #[cfg(feature = "postgres")]
        if let Some(pool) = self.store.postgres_pool() {
            let _ = sqlx::query("DELETE FROM setup_tokens").execute(&pool).await;
        }
        self.succeeded(attempt).await;
        Ok(user)
    }

    /// The first admin from HOMEWATCH_ADMIN_USER / HOMEWATCH_ADMIN_PASSWORD, when no user exists yet.
    pub async fn ensure_admin(&self, username: &str, password: &str) -> Result<Option<User>, StoreError> {
        if !self.setup_required().await? {
            return Ok(None);
        }
        let hash = self.passwords.hash(password).await;
        match self.store.create_user(username, &hash, Role::Admin, true).await {
            Ok(user) => Ok(Some(user)),
            // Another replica created it meanwhile.
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Checks a username and password, with backoff per client address and per address and name (see
    /// `limiter`): others' failures never keep the owner out.
    pub async fn login(&self, client: IpAddr, username: &str, password: &str) -> Result<User, AccessError> {
        let name = username.to_lowercase();
        let attempt = self
            .begin(vec![
                Key::address("login", client),
                Key::address_and("login-account", client, &name),
            ])
            .await?;
        let stored = self.store.find_user(username).await?;
        let matched = self
            .passwords
            .verify(password, stored.as_ref().map(|s| s.password_hash.as_str()))
            .await;
        match stored {
            Some(stored) if matched => {
                self.succeeded(attempt).await;
                Ok(stored.user)
            }
            _ => Err(AccessError::WrongCredentials),
        }
    }

    /// A new session for a user; returns the session id for the cookie (only its hash is stored).
    pub async fn start_session(&self, user_id: i64) -> Result<(String, Session), StoreError> {
        let id = secret::session_id();
        let expires_at = Utc::now() + self.session_ttl();
        let session = self
            .store
            .create_session(user_id, &secret::hash(&id), expires_at)
            .await?;
        Ok((id, session))
    }

    fn session_ttl(&self) -> chrono::Duration {
        // The configuration bounds the TTL to ten years, which always converts.
        chrono::Duration::from_std(self.config.session_ttl).unwrap_or(crate::model::seconds(30 * 86_400))
    }

    /// The live session a cookie names, and whether it was just extended (then the cookie is renewed).
    pub async fn session(&self, session_id: &str) -> Result<Option<(Session, User, bool)>, StoreError> {
        let Some((session, user)) = self.store.find_session(&secret::hash(session_id)).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        if session.expires_at <= now {
            return Ok(None);
        }
        let refresh = chrono::Duration::from_std(SESSION_REFRESH).unwrap_or_default();
        if now - session.last_seen_at < refresh {
            return Ok(Some((session, user, false)));
        }
        let expires_at = now + self.session_ttl();
        self.store.extend_session(session.id, now, expires_at).await?;
        Ok(Some((
            Session {
                last_seen_at: now,
                expires_at,
                ..session
            },
            user,
            true,
        )))
    }

    pub async fn end_session(&self, session_id: &str) -> Result<(), StoreError> {
        self.store.delete_session(&secret::hash(session_id)).await
    }

    /// The live token a bearer header carries; its last use is recorded (once a minute at most).
    pub async fn token(&self, token: &str) -> Result<Option<(ApiToken, User)>, StoreError> {
        let Some((token, user)) = self.store.find_token(&secret::hash(token)).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        if token.expires_at.is_some_and(|expires| expires <= now) {
            return Ok(None);
        }
        let touch = chrono::Duration::from_std(TOKEN_TOUCH).unwrap_or_default();
        if token.last_used_at.is_none_or(|used| now - used >= touch) {
            self.store.touch_token(token.id, crate::model::now()).await?;
        }
        Ok(Some((token, user)))
    }

    /// Changes one's own password (the current one is required, with backoff like a login); every other
    /// session of the user ends, and with `revoke_tokens` their API tokens too.
    pub async fn change_password(
        &self,
        client: IpAddr,
        user_id: i64,
        change: &PasswordChange,
        keep_session: Option<i64>,
    ) -> Result<User, AccessError> {
        let attempt = self
            .begin(vec![
                Key::address("password", client),
                Key::of("password-account", &[&user_id.to_string()]),
            ])
            .await?;
        let stored = self.store.get_user(user_id).await?;
        if !self
            .passwords
            .verify(&change.current_password, Some(&stored.password_hash))
            .await
        {
            return Err(AccessError::WrongPassword);
        }
        self.succeeded(attempt).await;
        let hash = self.passwords.hash(&change.new_password).await;
        let reset = PasswordReset {
            hash: &hash,
            keep_session,
            revoke_tokens: change.revoke_tokens.unwrap_or(false),
        };
        Ok(self.store.update_user(user_id, None, Some(reset)).await?)
    }

    pub async fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let hash = self.passwords.hash(&user.password).await;
        self.store
            .create_user(&user.username, &hash, user.role, false)
            .await
    }

    /// An admin's change to a user; a new password ends their sessions (`keep_session` excepted).
    pub async fn update_user(
        &self,
        id: i64,
        patch: &UserPatch,
        keep_session: Option<i64>,
    ) -> Result<User, StoreError> {
        let hash = match &patch.password {
            Some(password) => Some(self.passwords.hash(password).await),
            None => None,
        };
        // An admin's reset is for a password someone else may know: their tokens go too, unless told not to.
        let reset = hash.as_deref().map(|hash| PasswordReset {
            hash,
            keep_session,
            revoke_tokens: patch.revoke_tokens.unwrap_or(true),
        });
        self.store.update_user(id, patch.role, reset).await
    }

    /// A new API token for `user`; a viewer's tokens can only read.
    pub async fn create_token(&self, user: &User, request: &NewToken) -> Result<CreatedToken, AccessError> {
        if user.role == Role::Viewer && request.scope == Scope::Write {
            return Err(AccessError::ViewerWriteToken);
        }
        let token = secret::api_token();
        let details = self
            .store
            .create_token(
                user.id,
                &request.name,
                request.scope,
                &secret::hash(&token),
                request.expires_at,
            )
            .await?;
        Ok(CreatedToken { token, details })
    }

    /// Deletes expired sessions and tokens.
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.store.prune_expired_access(now).await
    }
}
