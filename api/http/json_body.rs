//! `JsonBody<T>`: a JSON request body that is documented with `T`'s schema like poem-openapi's `Json`,
//! but parsed with serde so that a wrong type, a missing or unknown field, or a failed rule is answered
//! 422 naming the field, and malformed JSON 400 saying where.

use poem::{Request, RequestBody, error::ReadBodyError};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::Type,
};
use serde::de::DeserializeOwned;

use super::problem::ApiError;
use crate::model::{FieldError, Validate};

/// Largest request body accepted; anything bigger is answered 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A validated JSON request body.
pub struct JsonBody<T>(pub T);

fn is_json(content_type: &str) -> bool {
    content_type.parse::<mime::Mime>().is_ok_and(|mime| {
        mime.type_() == "application"
            && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
    })
}

/// Reads, parses and validates a body; every failure is a problem response.
pub async fn parse_json<T: DeserializeOwned + Validate>(
    content_type: Option<&str>,
    body: poem::Body,
) -> Result<T, ApiError> {
    if let Some(content_type) = content_type.filter(|ct| !is_json(ct)) {
        return Err(ApiError::unsupported_media_type(format!(
            "the body is `{content_type}`; send JSON with `Content-Type: application/json`"
        )));
    }
    let bytes = body
        .into_bytes_limit(MAX_BODY_BYTES)
        .await
        .map_err(|err| match err {
            ReadBodyError::PayloadTooLarge => {
                ApiError::too_large(format!("the request body is larger than {MAX_BODY_BYTES} bytes"))
            }
            other => ApiError::bad_request(format!("could not read the request body: {other}")),
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::invalid(vec![field_error(&path, &inner)]),
            _ => ApiError::bad_request(format!("the request body is not valid JSON: {inner}")),
        }
    })?;
    deserializer
        .end()
        .map_err(|err| ApiError::bad_request(format!("unexpected text after the JSON value: {err}")))?;
    Ok(value.validate()?)
}

/// serde says `missing field `x`` at the parent's path; name the field itself instead.
fn field_error(path: &str, err: &serde_json::Error) -> FieldError {
    let full = err.to_string();
    let message = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(message, _)| message)
        .to_owned();
    let parent = if path == "." { "" } else { path };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'));
    match missing {
        Some((name, _)) if parent.is_empty() => FieldError::new(name, "is required"),
        Some((name, _)) => FieldError::new(format!("{parent}.{name}"), "is required"),
        None if parent.is_empty() => FieldError::new("(body)", message),
        None => FieldError::new(parent, message),
    }
}

impl<'a, T> ApiExtractor<'a> for JsonBody<T>
where
    T: Type + DeserializeOwned + Validate + Send,
{
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: T::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let body = body.take()?;
        parse_json(request.content_type(), body)
            .await
            .map(JsonBody)
            .map_err(poem::Error::from)
    }
}
