//! The tower layer: [`ConnectLayer`] answers Connect routes and passes every other request
//! to the inner service untouched (the shape of tower-http's middlewares).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::Error;
use crate::api::json;
use crate::connect::Connect;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
/// What `serve` returns, boxed: shared with the axum adapter's `Wrapped`.
pub(super) type BoxFuture = Pin<Box<dyn Future<Output = Response<Bytes>> + Send + 'static>>;

/// Answers from the request's head what needs no body (a missing key, a wrong route or
/// method, a declared body over the limit: before a byte of the body is read), then reads the
/// body under Connect's limit and serves it.
pub(crate) async fn serve<B>(connect: Connect, request: Request<B>) -> Response<Bytes>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let known_len = body.size_hint().exact().map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let prepared = match connect.prepare(&parts, known_len).await {
        Ok(prepared) => prepared,
        Err(answer) => return answer,
    };
    // No body (every `GET`): nothing to collect.
    let body = if body.is_end_stream() {
        Bytes::new()
    } else {
        match Limited::new(body, connect.max_body_bytes()).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => return connect.payload_too_large_response(),
            Err(_) => return json::error_response(&Error::invalid_request("the request body could not be read")),
        }
    };
    connect.finish(prepared, &parts, &body).await
}

/// A tower [`Layer`] that mounts Connect in front of a service.
///
/// It answers requests whose path is a Connect route (`405` for a Connect path with the wrong
/// method) and passes everything else, even other paths under the prefix, to the inner
/// service untouched.
///
/// ```no_run
/// # async fn demo(connect: dravo_connect::Connect) {
/// use axum::{Router, routing::get};
/// use dravo_connect::ConnectLayer;
/// let app: Router = Router::new()
///     .route("/", get(|| async { "host home" }))
///     .layer(ConnectLayer::new(connect));
/// # }
/// ```
#[derive(Clone)]
pub struct ConnectLayer {
    connect: Connect,
}

impl ConnectLayer {
    /// A layer serving `connect`'s routes.
    pub fn new(connect: Connect) -> Self {
        Self { connect }
    }
}

impl fmt::Debug for ConnectLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectLayer").field("prefix", &self.connect.prefix()).finish()
    }
}

impl<S> Layer<S> for ConnectLayer {
    type Service = ConnectService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConnectService { connect: self.connect.clone(), inner }
    }
}

/// The service built by [`ConnectLayer`].
#[derive(Clone)]
pub struct ConnectService<S> {
    connect: Connect,
    inner: S,
}

impl<S> ConnectService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for ConnectService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectService").field("prefix", &self.connect.prefix()).field("inner", &self.inner).finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ConnectService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<ConnectBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if self.connect.is_connect_path(request.uri().path()) {
            let connect = self.connect.clone();
            ResponseFuture { kind: Kind::Ours { future: Box::pin(serve(connect, request)) } }
        } else {
            ResponseFuture { kind: Kind::Inner { future: self.inner.call(request) } }
        }
    }
}

pin_project! {
    /// The future of [`ConnectService`]: answered by Connect, or by the inner service.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    /// Which side answers a request: Connect (its boxed future) or the inner service. Shared
    /// with the axum adapter's `WrappedFuture`; each polls it to its own response type.
    #[project = KindProj]
    pub(super) enum Kind<F> {
        Ours { future: BoxFuture },
        Inner { #[pin] future: F },
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ConnectBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Ours { future } => {
                future.as_mut().poll(cx).map(|res| Ok(res.map(|b| ConnectBody::Ours { body: Full::new(b) })))
            }
            KindProj::Inner { future } => {
                future.poll(cx).map(|r| r.map(|res| res.map(|body| ConnectBody::Inner { body })))
            }
        }
    }
}

pin_project! {
    /// The response body of [`ConnectService`]: Connect's own (`Ours { body }`), or the inner
    /// service's (`Inner { body }`).
    #[project = ConnectBodyProj]
    #[allow(missing_docs)]
    pub enum ConnectBody<B> {
        /// A body written by Connect.
        Ours { body: Full<Bytes> },
        /// The inner service's body.
        Inner { #[pin] body: B },
    }
}

impl<B> fmt::Debug for ConnectBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ours { .. } => f.write_str("ConnectBody::Ours"),
            Self::Inner { .. } => f.write_str("ConnectBody::Inner"),
        }
    }
}

impl<B> Body for ConnectBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            ConnectBodyProj::Ours { body } => Pin::new(body).poll_frame(cx).map_err(|e| match e {}),
            ConnectBodyProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Ours { body } => body.is_end_stream(),
            Self::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Ours { body } => body.size_hint(),
            Self::Inner { body } => body.size_hint(),
        }
    }
}
