//! Accounts and access as the API and both stores share them: users and their roles, API tokens and their
//! scopes, and the request shapes (setup, login, password change, new user, new token) with their rules.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::{FieldError, Validate};

pub const USERNAME_MAX_CHARS: usize = 64;
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Long enough for any passphrase, short enough that hashing one cannot be used to load the server.
pub const PASSWORD_MAX_CHARS: usize = 256;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything: the dashboard, its checks, users and tokens.
    Admin,
    /// Reads the dashboard, its history and incidents; changes nothing but their own password and tokens.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

/// What an API token may do, at most what its owner may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// GET requests only.
    Read,
    /// Everything its owner's role allows.
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }
}

/// A person who can sign in.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct User {
    pub id: i64,
    /// 1 to 64 characters, unique ignoring case.
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user as stored, with the hash of their password (never leaves the server).
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub user: User,
    pub password_hash: String,
}

/// A login session, as the store keeps it (the session id itself is only in the browser's cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An API token's description; the token itself is shown once, when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ApiToken {
    pub id: i64,
    /// The user the token acts for.
    pub user_id: i64,
    pub username: String,
    pub name: String,
    pub scope: Scope,
    pub created_at: DateTime<Utc>,
    /// Null until the token is first used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Null: the token does not expire.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct CreatedToken {
    /// Send as `Authorization: Bearer <token>`. Only its hash is stored: copy it now.
    pub token: String,
    #[oai(flatten)]
    pub details: ApiToken,
}

/// The first admin, created with the setup token the server printed in its log.
#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The one-time setup token from the server's log (`setup token: ...`).
    pub token: String,
    pub username: String,
    /// At least 10 characters.
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 10 characters.
    pub new_password: String,
    /// Also revoke all of your API tokens (default false; your other sessions end either way).
    #[serde(default)]
    pub revoke_tokens: Option<bool>,
}

/// A new user, made by an admin.
#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    /// At least 10 characters.
    pub password: String,
    pub role: Role,
}

/// Changes to a user; absent fields stay as they are. A new password ends the user's sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub role: Option<Role>,
    /// A new password, at least 10 characters: the user's sessions end.
    pub password: Option<String>,
    /// With a new password: also revoke the user's API tokens (default true: whoever knew the old password
    /// may have made tokens with it).
    #[serde(default)]
    pub revoke_tokens: Option<bool>,
}

/// A new API token.
#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for, such as `backup script`; 1 to 100 characters.
    pub name: String,
    pub scope: Scope,
    /// When the token stops working (RFC 3339, in the future); leave out for a token that does not expire.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Me {
    pub user: User,
    /// `session` (signed in through the page) or `token` (an API token).
    pub via: AuthMethod,
    /// For a token: its scope. For a session: null (the role decides).
    pub scope: Option<Scope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum AuthMethod {
    Session,
    Token,
}

/// What a client needs to know before anyone signs in.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct AuthState {
    /// No user exists yet: create the first admin with POST /setup.
    pub setup_required: bool,
    /// Anonymous visitors may read the dashboard and its stats (HOMEWATCH_PUBLIC_DASHBOARD).
    pub public_dashboard: bool,
}

/// Usernames are ASCII letters, digits and `. _ - @`, 1 to 64 of them (`patterns::USERNAME`): both stores then
/// agree on what "the same name, ignoring case" means.
pub fn check_username(field: &str, name: &str, errors: &mut Vec<FieldError>) -> String {
    if !super::patterns::is_username(name) {
        let chars = name.chars().count();
        errors.push(FieldError::new(
            field,
            format!(
                "must be 1 to {USERNAME_MAX_CHARS} of the letters a-z and A-Z, digits and . _ - @ (got {chars} \
                 characters)"
            ),
        ));
    }
    name.to_owned()
}

/// Passwords are taken as typed (no trimming): only their length is ruled.
pub fn check_password(field: &str, password: &str, errors: &mut Vec<FieldError>) {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at least {PASSWORD_MIN_CHARS} characters (got {chars})"),
        ));
    } else if chars > PASSWORD_MAX_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at most {PASSWORD_MAX_CHARS} characters"),
        ));
    }
}

fn finish<T>(value: T, errors: Vec<FieldError>) -> Result<T, Vec<FieldError>> {
    if errors.is_empty() { Ok(value) } else { Err(errors) }
}

/// Text that can only be right when it is no longer than this: longer is refused before anything is checked.
fn at_most(field: &str, text: &str, most: usize, errors: &mut Vec<FieldError>) {
    if text.chars().count() > most {
        errors.push(FieldError::new(
            field,
            format!("must be at most {most} characters"),
        ));
    }
}

/// Setup tokens are far shorter; anything longer is not one.
pub const SETUP_TOKEN_MAX_CHARS: usize = 128;

impl Validate for SetupRequest {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        at_most("token", &self.token, SETUP_TOKEN_MAX_CHARS, &mut errors);
        let username = check_username("username", &self.username, &mut errors);
        check_password("password", &self.password, &mut errors);
        finish(Self { username, ..self }, errors)
    }
}

impl Validate for LoginRequest {
    /// Only sizes are refused here: a login that breaks the other rules simply does not match anyone.
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        at_most("username", &self.username, USERNAME_MAX_CHARS, &mut errors);
        at_most("password", &self.password, PASSWORD_MAX_CHARS, &mut errors);
        finish(
            Self {
                username: self.username.trim().to_owned(),
                ..self
            },
            errors,
        )
    }
}

impl Validate for PasswordChange {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        at_most(
            "current_password",
            &self.current_password,
            PASSWORD_MAX_CHARS,
            &mut errors,
        );
        check_password("new_password", &self.new_password, &mut errors);
        finish(self, errors)
    }
}

impl Validate for NewUser {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let username = check_username("username", &self.username, &mut errors);
        check_password("password", &self.password, &mut errors);
        finish(Self { username, ..self }, errors)
    }
}

impl Validate for UserPatch {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(password) = &self.password {
            check_password("password", password, &mut errors);
        }
        finish(self, errors)
    }
}

impl Validate for NewToken {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = super::check_name("name", self.name, &mut errors);
        if let Some(expires_at) = self.expires_at
            && expires_at <= Utc::now()
        {
            errors.push(FieldError::new("expires_at", "must be in the future"));
        }
        finish(Self { name, ..self }, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_passwords_follow_the_rules() {
        let mut errors = Vec::new();
        assert_eq!(check_username("username", "alice", &mut errors), "alice");
        assert!(errors.is_empty());
        check_username("username", "bob smith", &mut errors);
        check_username("username", " alice", &mut errors);
        check_username("username", "jürgen", &mut errors);
        check_username("username", "", &mut errors);
        check_password("password", "short", &mut errors);
        check_password("password", &"x".repeat(PASSWORD_MAX_CHARS + 1), &mut errors);
        assert_eq!(errors.len(), 6, "{errors:?}");
        let mut fine = Vec::new();
        check_password("password", "ten chars!", &mut fine);
        check_username("username", "ops.team-1@home", &mut fine);
        assert!(fine.is_empty(), "{fine:?}");
    }

    #[test]
    fn tokens_need_a_name_and_a_future_expiry() {
        let past = NewToken {
            name: " ".into(),
            scope: Scope::Read,
            expires_at: Some(Utc::now() - crate::model::seconds(60)),
        };
        let fields: Vec<String> = past
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["name", "expires_at"]);
    }
}
