//! One error shape everywhere: RFC 9457 problem details (`application/problem+json`), with per-field
//! `errors` for validation. Internal errors are logged in full and answered with no detail.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    ApiResponse, Object,
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};

use crate::{model::FieldError, store::StoreError};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
/// The detail of a 404 for a path no endpoint has.
pub const NO_SUCH_ENDPOINT: &str =
    "no such endpoint; the API is described at /api/openapi.json and /api/docs";

/// An error, as RFC 9457 problem details.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` means the status says it all.
    #[oai(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem (the status's reason phrase).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request and what to do about it.
    pub detail: String,
    /// Per-field problems: for validation errors (422) each field and what is wrong with it; for a conflict
    /// (409) the field that clashes, when one does; empty otherwise.
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn into_response_with_status(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = ProblemJson(self).into_response();
        response.set_status(status);
        response
    }
}

/// A problem body, sent as `application/problem+json`.
#[derive(Debug, Clone)]
pub struct ProblemJson(pub Problem);

impl Payload for ProblemJson {
    const CONTENT_TYPE: &'static str = PROBLEM_CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        Problem::schema_ref()
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

impl IntoResponse for ProblemJson {
    fn into_response(self) -> Response {
        let body = self
            .0
            .to_json()
            .map(|value| value.to_string())
            .unwrap_or_default();
        Response::builder().content_type(PROBLEM_CONTENT_TYPE).body(body)
    }
}

/// Every way an API operation can fail. Each variant is documented in the spec.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request body is not valid JSON.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// Not signed in, or the session or API token is not valid: sign in, or send a valid token.
    #[oai(status = 401)]
    Unauthorized(ProblemJson),
    /// Signed in, but this role or token may not do this.
    #[oai(status = 403)]
    Forbidden(ProblemJson),
    /// No resource has that id.
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// The change clashes with existing data (e.g. a name already taken, a group that still has tiles).
    #[oai(status = 409)]
    Conflict(ProblemJson),
    /// The request body is larger than 1 MiB.
    #[oai(status = 413)]
    PayloadTooLarge(ProblemJson),
    /// The body is not JSON; send `Content-Type: application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(ProblemJson),
    /// The request is well-formed but some fields are invalid; `errors` names each one.
    #[oai(status = 422)]
    Unprocessable(ProblemJson),
    /// Too many failed attempts: wait the number of seconds in `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(ProblemJson, #[oai(header = "Retry-After")] u64),
    /// Something failed inside the server; the detail is in the server's log.
    #[oai(status = 500)]
    Internal(ProblemJson),
    /// The database cannot be reached right now; retry later.
    #[oai(status = 503)]
    Unavailable(ProblemJson),
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest(ProblemJson(Problem::new(StatusCode::BAD_REQUEST, detail)))
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        let detail = format!("invalid field(s): {}; see `errors` for each", fields.join(", "));
        Self::Unprocessable(ProblemJson(
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail).with_errors(errors),
        ))
    }

    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::PayloadTooLarge(ProblemJson(Problem::new(StatusCode::PAYLOAD_TOO_LARGE, detail)))
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::UnsupportedMediaType(ProblemJson(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            detail,
        )))
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized(ProblemJson(Problem::new(StatusCode::UNAUTHORIZED, detail)))
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(ProblemJson(Problem::new(StatusCode::FORBIDDEN, detail)))
    }

    /// 429, with the wait rounded up to whole seconds.
    pub fn too_many_requests(detail: impl Into<String>, wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self::TooManyRequests(
            ProblemJson(Problem::new(StatusCode::TOO_MANY_REQUESTS, detail)),
            seconds.max(1),
        )
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(ProblemJson(Problem::new(StatusCode::CONFLICT, detail)))
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Unavailable(ProblemJson(Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail)))
    }

    pub fn internal() -> Self {
        Self::Internal(ProblemJson(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed to handle this request; the details are in its log",
        )))
    }

    pub fn problem(&self) -> &Problem {
        match self {
            Self::BadRequest(p)
            | Self::Unauthorized(p)
            | Self::Forbidden(p)
            | Self::TooManyRequests(p, _)
            | Self::NotFound(p)
            | Self::Conflict(p)
            | Self::PayloadTooLarge(p)
            | Self::UnsupportedMediaType(p)
            | Self::Unprocessable(p)
            | Self::Internal(p)
            | Self::Unavailable(p) => &p.0,
        }
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::invalid(errors)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { .. } => {
                Self::NotFound(ProblemJson(Problem::new(StatusCode::NOT_FOUND, err.to_string())))
            }
            StoreError::Conflict { field, message } => {
                let problem = Problem::new(StatusCode::CONFLICT, message.clone());
                let errors = field
                    .map(|field| vec![FieldError::new(field, message)])
                    .unwrap_or_default();
                Self::Conflict(ProblemJson(problem.with_errors(errors)))
            }
            StoreError::Invalid { field, message } => Self::invalid(vec![FieldError::new(field, message)]),
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                Self::Unavailable(ProblemJson(Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable right now; nothing was changed, try again shortly",
                )))
            }
            StoreError::Other(detail) => {
                tracing::error!(%detail, "store error");
                Self::internal()
            }
        }
    }
}

impl From<crate::monitor::engine::CheckNowError> for ApiError {
    fn from(err: crate::monitor::engine::CheckNowError) -> Self {
        use crate::monitor::engine::CheckNowError;
        match err {
            CheckNowError::NotFound(id) => StoreError::not_found("service", id).into(),
            CheckNowError::NoCheck(_)
            | CheckNowError::Paused(_)
            | CheckNowError::Unwatched(_)
            | CheckNowError::Push(_) => Self::conflict(err.to_string()),
            CheckNowError::Store(err) => err.into(),
            CheckNowError::Stopped => {
                Self::unavailable("the monitor engine has stopped; the server is shutting down")
            }
        }
    }
}

/// Turns errors raised outside the handlers (routing, parameter parsing, body limits) into problems.
pub fn from_poem_error(err: poem::Error) -> Response {
    use poem_openapi::error::{ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError};

    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let problem = if let Some(param) = err.downcast_ref::<ParseParamError>() {
        let field = FieldError::new(param.name, readable_reason(&param.reason));
        ApiError::invalid(vec![field]).problem().clone()
    } else if err.is::<ParsePathError>() {
        Problem::new(
            StatusCode::NOT_FOUND,
            "nothing has that id: ids are whole numbers, as in /api/v1/groups/3",
        )
    } else if let Some(payload) = err.downcast_ref::<ParseRequestPayloadError>() {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid: {}", payload.reason),
        )
    } else if let Some(content_type) = err.downcast_ref::<ContentTypeError>() {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{content_type}; send JSON with `Content-Type: application/json`"),
        )
    } else if status == StatusCode::NOT_FOUND {
        Problem::new(status, NO_SUCH_ENDPOINT)
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        Problem::new(status, "this endpoint does not accept that method; see /api/docs")
    } else if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
        Problem::new(
            status,
            "the server failed to handle this request; the details are in its log",
        )
    } else {
        Problem::new(status, err.to_string())
    };
    problem.into_response_with_status()
}

/// poem-openapi's parameter messages, in words a person can act on.
fn readable_reason(reason: &str) -> String {
    let bound = |name: &str| {
        let start = reason.find(&format!("{name}("))? + name.len() + 1;
        reason[start..].split([',', ')']).next().map(str::to_owned)
    };
    if let Some(min) = bound("minimum") {
        format!("must be at least {min}")
    } else if let Some(max) = bound("maximum") {
        format!("must be at most {max}")
    } else if reason.contains("\"integer") {
        "must be a whole number".to_owned()
    } else if reason.contains("\"boolean\"") {
        "must be true or false".to_owned()
    } else {
        reason.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::readable_reason;

    #[test]
    fn parameter_errors_read_plainly() {
        assert_eq!(
            readable_reason("verification failed. minimum(1, exclusive: false)"),
            "must be at least 1"
        );
        assert_eq!(
            readable_reason("verification failed. maximum(500, exclusive: false)"),
            "must be at most 500"
        );
        assert_eq!(
            readable_reason("failed to parse \"integer_int64\": invalid digit found in string"),
            "must be a whole number"
        );
        assert_eq!(readable_reason("something else"), "something else");
    }
}
