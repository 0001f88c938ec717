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
use serde_json::Value;

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
    match content_type {
        None => {
            return Err(ApiError::unsupported_media_type(
                "the body has no Content-Type; send JSON with `Content-Type: application/json`",
            ));
        }
        Some(content_type) if !is_json(content_type) => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body is `{content_type}`; send JSON with `Content-Type: application/json`"
            )));
        }
        Some(_) => {}
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
    let mut value: Value = serde_json::from_slice(&bytes)
        .map_err(|err| ApiError::bad_request(format!("the request body is not valid JSON: {err}")))?;
    as_json_schema_reads_it(&mut value)?;
    let typed: T = serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        ApiError::invalid(vec![field_error(&path, &err.into_inner())])
    })?;
    Ok(typed.validate()?)
}

/// Brings a body to what its JSON Schema means, where serde reads JSON differently: an object is never
/// given as an array of its fields (serde would accept `[null, null]` for a struct), and a whole number
/// written with a fraction (`3.0`) is an integer, as JSON Schema counts it.
fn as_json_schema_reads_it(value: &mut Value) -> Result<(), ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid(vec![FieldError::new(
            "(body)",
            "must be a JSON object",
        )]));
    }
    if value.get("check").is_some_and(Value::is_array) {
        return Err(ApiError::invalid(vec![FieldError::new(
            "check",
            "must be a JSON object or null",
        )]));
    }
    whole_numbers_as_integers(value);
    Ok(())
}

fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| !number.is_i64() && !number.is_u64())
                && float.fract() == 0.0
                && (-9_007_199_254_740_992.0..=9_007_199_254_740_992.0).contains(&float)
            {
                // Exact: every whole number of this size is an f64 without rounding.
                *value = Value::from(float as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
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
