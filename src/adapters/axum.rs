//! `Connect::axum_router()`: the routes as an axum `Router`, to `merge` or `nest`.

use ::axum::Router;
use ::axum::body::Body;
use ::axum::extract::Request;
use ::axum::routing::any;

use crate::connect::Connect;

impl Connect {
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
