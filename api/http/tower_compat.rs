//! Runs tower-http services and layers inside poem. poem's own `tower-compat` needs `Sync` bodies and
//! hands layers poem requests; this adapter converts to and from `http` types instead, and keeps poem's
//! per-connection state (remote address, scheme, upgrades) across the tower stack.

use std::{
    convert::Infallible,
    future::Future,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, combinators::BoxBody};
use poem::{Endpoint, Middleware, Request, RequestParts, Response};
use tower::{Layer, Service, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// poem's request head, parked in the `http` request's extensions while tower layers run.
#[derive(Clone)]
struct ParkedParts(Arc<Mutex<Option<RequestParts>>>);

fn into_http_request(request: Request) -> http::Request<poem::Body> {
    let (mut parts, body) = request.into_parts();
    let mut http_request = http::Request::new(body);
    *http_request.method_mut() = parts.method.clone();
    *http_request.uri_mut() = parts.uri.clone();
    *http_request.version_mut() = parts.version;
    *http_request.headers_mut() = std::mem::take(&mut parts.headers);
    *http_request.extensions_mut() = std::mem::take(&mut parts.extensions);
    http_request
        .extensions_mut()
        .insert(ParkedParts(Arc::new(Mutex::new(Some(parts)))));
    http_request
}

fn into_poem_request(request: http::Request<poem::Body>) -> Request {
    let (mut head, body) = request.into_parts();
    let parked = head
        .extensions
        .remove::<ParkedParts>()
        .and_then(|parked| parked.0.lock().ok()?.take());
    match parked {
        Some(mut parts) => {
            // Layers may have changed the head (e.g. added x-request-id): theirs wins.
            parts.method = head.method;
            parts.uri = head.uri;
            parts.version = head.version;
            parts.headers = head.headers;
            parts.extensions = head.extensions;
            Request::from_parts(parts, body)
        }
        None => {
            let mut request = Request::builder()
                .method(head.method)
                .uri(head.uri)
                .version(head.version)
                .finish();
            *request.headers_mut() = head.headers;
            *request.extensions_mut() = head.extensions;
            request.set_body(body);
            request
        }
    }
}

fn into_http_response(response: Response) -> http::Response<BoxBody<Bytes, io::Error>> {
    let (parts, body) = response.into_parts();
    let mut http_response = http::Response::new(BoxBody::from(body));
    *http_response.status_mut() = parts.status;
    *http_response.version_mut() = parts.version;
    *http_response.headers_mut() = parts.headers;
    *http_response.extensions_mut() = parts.extensions;
    http_response
}

fn into_poem_response<B>(response: http::Response<B>) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (head, body) = response.into_parts();
    let stream = body
        .into_data_stream()
        .map_err(|err| io::Error::other(err.into()));
    let mut response = Response::builder()
        .status(head.status)
        .version(head.version)
        .finish();
    *response.headers_mut() = head.headers;
    *response.extensions_mut() = head.extensions;
    response.set_body(poem::Body::from_bytes_stream(stream));
    response
}

/// A poem endpoint seen as a tower service, so tower layers can wrap it.
pub struct EndpointService<E>(Arc<E>);

impl<E> Clone for EndpointService<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<E: Endpoint + 'static> Service<http::Request<poem::Body>> for EndpointService<E> {
    type Response = http::Response<BoxBody<Bytes, io::Error>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<poem::Body>) -> Self::Future {
        let endpoint = self.0.clone();
        Box::pin(async move {
            Ok(into_http_response(
                endpoint.get_response(into_poem_request(request)).await,
            ))
        })
    }
}

/// A tower service seen as a poem endpoint (e.g. tower-http's `ServeDir`, or a layered `EndpointService`).
#[derive(Clone)]
pub struct TowerEndpoint<S>(pub S);

impl<S, B> Endpoint for TowerEndpoint<S>
where
    S: Service<http::Request<poem::Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let service = self.0.clone();
        let response = service.oneshot(into_http_request(request)).await.map_err(|err| {
            poem::Error::new(
                io::Error::other(err.into()),
                http::StatusCode::INTERNAL_SERVER_ERROR,
            )
        })?;
        Ok(into_poem_response(response))
    }
}

/// A tower layer used as poem middleware: `route.with(TowerLayer(CompressionLayer::new()))`.
pub struct TowerLayer<L>(pub L);

impl<E, L, B> Middleware<E> for TowerLayer<L>
where
    E: Endpoint + 'static,
    L: Layer<EndpointService<E>>,
    L::Service:
        Service<http::Request<poem::Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    <L::Service as Service<http::Request<poem::Body>>>::Future: Send,
    <L::Service as Service<http::Request<poem::Body>>>::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = TowerEndpoint<L::Service>;

    fn transform(&self, endpoint: E) -> Self::Output {
        TowerEndpoint(self.0.layer(EndpointService(Arc::new(endpoint))))
    }
}
