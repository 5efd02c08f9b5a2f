//! The demo on actix-web: the host's routes wired to `Host`, and Connect as a scope.

use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{HttpResponse, HttpServer};
use dravo_connect::Connect;

use super::body_timeout::actix_body_read_timeout;
use super::{Demo, Host, PAGE, Reply};

/// The demo host app, for `App::configure`: its page and routes, then Connect's scope.
pub fn configure(host: Host, connect: Connect) -> impl Fn(&mut ServiceConfig) + Clone {
    move |cfg: &mut ServiceConfig| {
        cfg.app_data(Data::new(host.clone()))
            .route(
                "/",
                web::get().to(|| async { HttpResponse::Ok().content_type("text/html; charset=utf-8").body(PAGE) }),
            )
            .route("/demo/providers", web::get().to(|h: Data<Host>| async move { reply(h.providers().await) }))
            .route("/demo/accounts", web::get().to(|h: Data<Host>| async move { reply(h.accounts().await) }))
            .route(
                "/demo/connect/{provider}",
                web::post().to(|h: Data<Host>, p: web::Path<String>| async move { reply(h.start(&p).await) }),
            )
            .route(
                "/demo/accounts/{id}/disconnect",
                web::post().to(|h: Data<Host>, id: web::Path<String>| async move { reply(h.disconnect(&id).await) }),
            )
            .service(connect.actix_scope());
    }
}

fn reply(r: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(r.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match r.body {
        Some(body) => HttpResponse::build(status).json(body),
        None => HttpResponse::build(status).finish(),
    }
}

/// Serves the demo on `listener` until Ctrl-C (actix-web stops on it by itself), with a
/// body-read timeout (actix-web's own `client_request_timeout` bounds the head only).
pub async fn serve(listener: std::net::TcpListener, demo: &Demo) -> Result<(), String> {
    let configure = configure(demo.host.clone(), demo.connect.clone());
    HttpServer::new(move || actix_web::App::new().wrap(from_fn(actix_body_read_timeout)).configure(configure.clone()))
        .listen(listener)
        .map_err(|e| e.to_string())?
        .run()
        .await
        .map_err(|e| e.to_string())
}
