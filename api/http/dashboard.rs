//! `/api/v1/dashboard`: the whole start page in one response, from the board's rendering (see `crate::board`).

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::Header,
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::Type,
};

use super::{ApiTags, TilesData, problem::ApiError, security::Reader};
use crate::model::Dashboard;

pub struct DashboardApi;

/// JSON already rendered, in pieces (and maybe gzipped: `Content-Encoding` is then set, and the compression
/// layer leaves it), documented with `T`'s schema.
pub struct RenderedJson<T>(Vec<Bytes>, bool, std::marker::PhantomData<T>);

impl<T: Type> Payload for RenderedJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + Send> IntoResponse for RenderedJson<T> {
    fn into_response(self) -> Response {
        let response = Response::builder()
            .content_type(<Self as Payload>::CONTENT_TYPE)
            .header(poem::http::header::VARY, "accept-encoding");
        let length: usize = self.0.iter().map(Bytes::len).sum();
        let response = match self.1 {
            true => response.header(poem::http::header::CONTENT_ENCODING, "gzip"),
            false => response,
        }
        .header(poem::http::header::CONTENT_LENGTH, length);
        match <[Bytes; 1]>::try_from(self.0) {
            Ok([one]) => response.body(one),
            // Each piece is sent as it is kept: no copy of the whole document.
            Err(pieces) => response.body(poem::Body::from_bytes_stream(futures_util::stream::iter(
                pieces.into_iter().map(Ok::<_, std::io::Error>),
            ))),
        }
    }
}

#[derive(ApiResponse)]
enum DashboardResponse {
    /// The dashboard. Send its `ETag` back in `If-None-Match` to be told 304 while nothing changed.
    #[oai(status = 200)]
    Ok(
        RenderedJson<Dashboard>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// Nothing changed since the dashboard with the `ETag` sent in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// Browsers keep the answer but ask again each time, with its ETag.
const CACHE_CONTROL: &str = "private, no-cache";

#[OpenApi(tag = "ApiTags::Dashboard")]
impl DashboardApi {
    /// All groups in order, each with its tiles in order, read in one consistent snapshot.
    ///
    /// Answered from memory: only what changed since the last request is rendered again, and nothing is ever
    /// stale. Send the `ETag` back in `If-None-Match` to be answered 304 while nothing changed.
    #[oai(path = "/dashboard", method = "get", operation_id = "getDashboard")]
    async fn get(
        &self,
        caller: Reader,
        tiles: TilesData<'_>,
        /// The `ETag` of a dashboard already held: answered 304 while it is current.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        request: &poem::Request,
    ) -> Result<DashboardResponse, ApiError> {
        let rendered = tiles.dashboard(caller.sight()).await?;
        let etag = rendered.etag.clone();
        if if_none_match
            .0
            .as_deref()
            .is_some_and(|tags| crate::board::matches(tags, &etag))
        {
            return Ok(DashboardResponse::NotModified(etag, CACHE_CONTROL.into()));
        }
        let gzip = accepts_gzip(request);
        let body = match gzip {
            true => vec![rendered.gzipped()],
            false => rendered.body.clone(),
        };
        Ok(DashboardResponse::Ok(
            RenderedJson(body, gzip, std::marker::PhantomData),
            etag,
            CACHE_CONTROL.into(),
        ))
    }
}

/// Whether the client takes gzip (`Accept-Encoding` names it, or `*`, with a q-value above 0).
fn accepts_gzip(request: &poem::Request) -> bool {
    request
        .headers()
        .get_all(poem::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}
