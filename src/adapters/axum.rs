//! `Connect::axum_router()`: the routes as an axum `Router`, to `merge` or `nest`; and
//! `Connect::wrap(router)`: Connect in front of a whole axum app, served by `axum::serve`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::axum::Router;
use ::axum::body::Body;
use ::axum::extract::Request;
use ::axum::response::Response;
use ::axum::routing::any;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::tower::{Kind, KindProj};
use crate::connect::Connect;

impl Connect {
    /// Connect in front of a whole axum app (usually the host's finished [`Router`]): Connect
    /// routes are answered, every other request goes to `inner` untouched, and the responses
    /// are axum's own `Response`, so `axum::serve` takes it as it is (through
    /// `axum::ServiceExt::into_make_service`).
    ///
    /// This is the cheapest mount for the host's own routes: a request that is not a Connect
    /// route costs one path check before `inner`, and its response is passed on as it is.
    /// `Router::layer(ConnectLayer::new(..))` works too, but axum then boxes every layered
    /// route's future and body once more (BENCHMARKS.md has both, per request).
    ///
    /// ```no_run
    /// # async fn demo(connect: dravo_connect::Connect) -> std::io::Result<()> {
    /// use axum::{Router, ServiceExt, extract::Request, routing::get};
    /// let router: Router = Router::new().route("/", get(|| async { "host home" }));
    /// let app = connect.wrap(router);
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// axum::serve(listener, ServiceExt::<Request>::into_make_service(app)).await
    /// # }
    /// ```
    pub fn wrap<S>(&self, inner: S) -> Wrapped<S> {
        Wrapped { connect: self.clone(), inner }
    }

    /// The Connect routes as an axum [`Router`], generic over the host's state, for
    /// `Router::merge` or `Router::nest`. It claims every path under the prefix and answers
    /// unknown ones with `404 not_found`. When nesting under an outer path, include that path
    /// in `public_base_url`.
    ///
    /// ```no_run
    /// # async fn demo(connect: dravo_connect::Connect) {
    /// use axum::{Router, routing::get};
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "host home" }))
    ///     .merge(connect.axum_router());
    /// # }
    /// ```
    pub fn axum_router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let connect = self.clone();
        let handler = move |request: Request| {
            let connect = connect.clone();
            async move { super::tower::serve(connect, request).await.map(Body::from) }
        };
        let prefix = self.prefix();
        if prefix.is_empty() {
            Router::new().route("/", any(handler.clone())).route("/{*rest}", any(handler))
        } else {
            // `{*rest}` never matches an empty rest, so `{prefix}/` gets its own route.
            Router::new()
                .route(prefix, any(handler.clone()))
                .route(&format!("{prefix}/"), any(handler.clone()))
                .route(&format!("{prefix}/{{*rest}}"), any(handler))
        }
    }
}

/// An axum app with Connect in front, built by [`Connect::wrap`]: a `Service<Request>`
/// answering axum `Response`s.
#[derive(Clone)]
pub struct Wrapped<S = Router> {
    connect: Connect,
    inner: S,
}

impl<S> Wrapped<S> {
    /// The wrapped app.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the app.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for Wrapped<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wrapped").field("prefix", &self.connect.prefix()).field("inner", &self.inner).finish()
    }
}

impl<S> Service<Request> for Wrapped<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = WrappedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        if self.connect.is_connect_path(request.uri().path()) {
            let connect = self.connect.clone();
            WrappedFuture { kind: Kind::Ours { future: Box::pin(super::tower::serve(connect, request)) } }
        } else {
            WrappedFuture { kind: Kind::Inner { future: self.inner.call(request) } }
        }
    }
}

pin_project! {
    /// The future of [`Wrapped`]: answered by Connect, or by the wrapped app.
    pub struct WrappedFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

impl<F> fmt::Debug for WrappedFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for WrappedFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Ours { future } => future.as_mut().poll(cx).map(|res| Ok(res.map(Body::from))),
            KindProj::Inner { future } => future.poll(cx),
        }
    }
}
