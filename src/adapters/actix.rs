//! `Connect::actix_scope()` and `Connect::actix_configure()`: the routes as an actix-web
//! [`Scope`].
//!
//! actix-web 4 still speaks `http` 0.2, so method, URI and headers are converted through
//! their string and byte forms, never by type.
#![cfg(feature = "actix")]

use actix_web::http::StatusCode as ActixStatus;
use actix_web::http::header::{HeaderName as ActixName, HeaderValue as ActixValue};
use actix_web::web::{self, Payload, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, Scope};
use bytes::Bytes;
use http::{Request, Response};

use crate::api::json;
use crate::connect::Connect;
use crate::error::Error;

impl Connect {
    /// The Connect routes as an actix-web [`Scope`] for `App::service`. It claims every path
    /// under the prefix (an empty prefix claims every path) and answers unknown ones with
    /// `404 not_found`. Nested in an outer `web::scope`, it still sees its own paths; include
    /// the outer path in `public_base_url`. Build the scope inside the `HttpServer::new`
    /// closure, from a clone of `Connect`.
    ///
    /// ```no_run
    /// # async fn demo(connect: dravo_connect::Connect) -> std::io::Result<()> {
    /// use actix_web::{App, HttpServer, web};
    /// HttpServer::new(move || {
    ///     App::new()
    ///         .route("/", web::get().to(|| async { "host home" }))
    ///         .service(connect.actix_scope())
    /// })
    /// .bind("127.0.0.1:8080")?
    /// .run()
    /// .await
    /// # }
    /// ```
    pub fn actix_scope(&self) -> Scope {
        let connect = self.clone();
        // `web::scope` matches its prefix on a segment boundary (`/v1` is not `/v10`); the
        // default service receives every path under it, so the routing stays in `handle`.
        web::scope(self.prefix()).default_service(web::to(move |request: HttpRequest, payload: Payload| {
            let connect = connect.clone();
            async move { serve(&connect, &request, payload).await }
        }))
    }

    /// The Connect routes for `App::configure`: the same [`Scope`] as
    /// [`actix_scope`](Self::actix_scope).
    ///
    /// ```no_run
    /// # fn demo(connect: dravo_connect::Connect) {
    /// let app = actix_web::App::new().configure(connect.actix_configure());
    /// # }
    /// ```
    pub fn actix_configure(&self) -> impl Fn(&mut ServiceConfig) + Clone + 'static {
        let connect = self.clone();
        move |config: &mut ServiceConfig| {
            config.service(connect.actix_scope());
        }
    }
}

/// Converts, reads the body under Connect's limit, serves, and converts back.
async fn serve(connect: &Connect, request: &HttpRequest, payload: Payload) -> HttpResponse {
    let response = match to_http(connect, request) {
        Ok(head) => match payload.to_bytes_limited(connect.max_body_bytes()).await {
            Ok(Ok(body)) => match head.body(body) {
                Ok(request) => connect.handle(request).await,
                Err(_) => json::error_response(&unreadable()),
            },
            Ok(Err(_)) => json::error_response(&Error::invalid_request("the request body could not be read")),
            Err(_) => connect.payload_too_large_response(),
        },
        Err(e) => json::error_response(&e),
    };
    from_http(response)
}

/// The request line and headers as an `http` 1 request builder, with the path as Connect
/// mounts it (below any outer scope the host nests this one in).
fn to_http(connect: &Connect, request: &HttpRequest) -> Result<http::request::Builder, Error> {
    let uri = request.uri();
    let path = own_path(uri.path(), request.match_info().unprocessed());
    let target = match uri.query() {
        Some(q) => format!("{}{path}?{q}", connect.prefix()),
        None => format!("{}{path}", connect.prefix()),
    };
    let uri = http::Uri::try_from(target).map_err(|_| unreadable())?;
    let method = http::Method::from_bytes(request.method().as_str().as_bytes()).map_err(|_| unreadable())?;
    let mut builder = Request::builder().method(method).uri(uri);
    let headers = builder.headers_mut().ok_or_else(unreadable)?;
    for (name, value) in request.headers() {
        let name = http::HeaderName::from_bytes(name.as_str().as_bytes()).map_err(|_| unreadable())?;
        headers.append(name, http::HeaderValue::from_bytes(value.as_bytes()).map_err(|_| unreadable())?);
    }
    Ok(builder)
}

fn unreadable() -> Error {
    Error::invalid_request("the request line or a header could not be read")
}

/// The raw tail of `raw_path` below the scope. actix-web hands the scope's default service
/// the unmatched rest of a *decoded* path; the raw path keeps its encoding (as in axum), so
/// take as many trailing segments of it as the rest has (`%2F` is never decoded by actix,
/// so the counts agree).
fn own_path<'a>(raw_path: &'a str, unprocessed: &str) -> &'a str {
    let segments = unprocessed.matches('/').count();
    if segments == 0 {
        return "";
    }
    raw_path.rmatch_indices('/').nth(segments - 1).map_or(raw_path, |(i, _)| raw_path.get(i..).unwrap_or(raw_path))
}

/// Status, every header (each value of a repeated one) and the body, as they are.
fn from_http(response: Response<Bytes>) -> HttpResponse {
    try_from_http(response).unwrap_or_else(|| {
        // Unreachable in practice: an `http` 1 status or header is always a valid `http` 0.2
        // one. Should it ever not be, answer Connect's own 500 rather than a partial response.
        let fallback = json::error_response(&Error::server(std::io::Error::other("response conversion")));
        try_from_http(fallback).unwrap_or_else(|| HttpResponse::new(ActixStatus::INTERNAL_SERVER_ERROR))
    })
}

fn try_from_http(response: Response<Bytes>) -> Option<HttpResponse> {
    let (parts, body) = response.into_parts();
    let mut out = HttpResponse::build(ActixStatus::from_u16(parts.status.as_u16()).ok()?);
    for (name, value) in &parts.headers {
        let name = ActixName::from_bytes(name.as_str().as_bytes()).ok()?;
        out.append_header((name, ActixValue::from_bytes(value.as_bytes()).ok()?));
    }
    Some(out.body(body))
}

#[cfg(test)]
mod tests {
    use super::own_path;

    #[test]
    fn the_own_path_is_the_raw_tail_with_as_many_segments_as_the_decoded_rest() {
        assert_eq!(own_path("/v1/accounts", "/accounts"), "/accounts");
        assert_eq!(own_path("/outer/v1/oauth-apps/%61pp", "/oauth-apps/app"), "/oauth-apps/%61pp");
        assert_eq!(own_path("/v1", ""), "");
        assert_eq!(own_path("/v1/", "/"), "/");
        assert_eq!(own_path("/a%2Fb", "/a%2Fb"), "/a%2Fb");
    }
}
