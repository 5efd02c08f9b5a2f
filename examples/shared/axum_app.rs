//! The demo on axum: the host's routes wired to `Host`, and Connect as a tower layer.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use dravo_connect::ConnectLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use super::body_timeout::BODY_READ_TIMEOUT;
use super::{Demo, Host, PAGE, Reply};

/// The demo host app: its page and routes, with `ConnectLayer` in front.
pub fn router(demo: &Demo) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/demo/providers", get(|State(h): State<Host>| async move { reply(h.providers().await) }))
        .route("/demo/accounts", get(|State(h): State<Host>| async move { reply(h.accounts().await) }))
        .route(
            "/demo/connect/{provider}",
            post(|State(h): State<Host>, Path(p): Path<String>| async move { reply(h.start(&p).await) }),
        )
        .route(
            "/demo/accounts/{id}/disconnect",
            post(|State(h): State<Host>, Path(id): Path<String>| async move { reply(h.disconnect(&id).await) }),
        )
        .with_state(demo.host.clone())
        .layer(ConnectLayer::new(demo.connect.clone()))
        // Outside Connect's layer, so that Connect reads bodies through it.
        .layer(RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT))
}

fn reply(r: Reply) -> Response {
    match r.body {
        Some(body) => (r.status, axum::Json(body)).into_response(),
        None => r.status.into_response(),
    }
}

/// Serves `router` on `listener` until Ctrl-C.
pub async fn serve(listener: std::net::TcpListener, router: Router) -> Result<(), String> {
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
