//! Live event streams (`GET /events`): how many may be open, and what ends one. A stream ends when the server
//! shuts down (so shutdown does not wait out its grace period), or when the session or token it was opened
//! with stops working (logout, revocation, expiry, the user deleted), checked every `recheck` (a minute).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use poem::Request;

use super::{problem::ApiError, security::session_cookie};
use crate::auth::Access;

/// How many streams may be open, and how often they prove their credentials again.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// In all.
    pub total: usize,
    /// Per user (a browser's tabs share one stream); anonymous visitors of a public dashboard share four times
    /// this many.
    pub per_user: usize,
    pub recheck: Duration,
}

impl StreamLimits {
    pub const DEFAULT: Self = Self {
        total: 512,
        per_user: 16,
        recheck: Duration::from_secs(60),
    };
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[derive(Default)]
struct Open {
    total: usize,
    /// Per user id; `None` counts anonymous visitors together.
    per_user: HashMap<Option<i64>, usize>,
}

/// The streams open now.
pub struct Streams {
    limits: StreamLimits,
    open: Mutex<Open>,
}

/// A stream's place; given back when the stream ends.
pub struct StreamSlot {
    streams: Arc<Streams>,
    user: Option<i64>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.per_user.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.per_user.remove(&self.user);
            }
        }
    }
}

impl Streams {
    pub fn recheck(&self) -> Duration {
        self.limits.recheck
    }

    pub fn new(limits: StreamLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::default(),
        })
    }

    /// A place for a new stream of `user` (None: anonymous), or 429 when there is none.
    pub fn open(self: &Arc<Self>, user: Option<i64>) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let most = match user {
            Some(_) => self.limits.per_user,
            None => self.limits.per_user.saturating_mul(4),
        };
        let mine = open.per_user.get(&user).copied().unwrap_or_default();
        if open.total >= self.limits.total || mine >= most {
            return Err(ApiError::too_many_requests(
                "too many event streams are open (the tabs of one browser share one): close some, or try again later",
                Duration::from_secs(30),
            ));
        }
        open.total += 1;
        *open.per_user.entry(user).or_default() += 1;
        Ok(StreamSlot {
            streams: self.clone(),
            user,
        })
    }
}

/// How a stream's caller proved who they are, kept to prove it again.
pub enum Credential {
    Anonymous,
    Session(String),
    Token(String),
}

impl Credential {
    /// What the request carried: a bearer token, else a session cookie.
    pub fn of(request: &Request) -> Self {
        let bearer = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned());
        match (bearer, session_cookie(request)) {
            (Some(token), _) => Self::Token(token),
            (None, Some(session)) => Self::Session(session),
            (None, None) => Self::Anonymous,
        }
    }

    /// Whether the credential still works. A database that cannot be asked right now is no reason to end a
    /// stream: it is asked again at the next check.
    pub async fn still_valid(&self, access: &Access) -> bool {
        match self {
            Self::Anonymous => access.config().public_dashboard,
            Self::Session(id) => !matches!(access.session(id).await, Ok(None)),
            Self::Token(token) => !matches!(access.token(token).await, Ok(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_capped_per_user_and_in_all() {
        let streams = Streams::new(StreamLimits {
            total: 5,
            per_user: 2,
            ..StreamLimits::DEFAULT
        });
        let first = streams.open(Some(1)).unwrap();
        let _second = streams.open(Some(1)).unwrap();
        assert!(streams.open(Some(1)).is_err(), "a third for one user");
        let _other = streams.open(Some(2)).unwrap();
        let _anonymous: Vec<_> = (0..2).map(|_| streams.open(None).unwrap()).collect();
        assert!(streams.open(Some(3)).is_err(), "five in all");
        drop(first);
        assert!(
            streams.open(Some(1)).is_ok(),
            "an ended stream gives its place back"
        );
    }
}
