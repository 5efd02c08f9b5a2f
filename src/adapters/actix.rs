//! `Connect::actix_scope()` and `Connect::actix_configure()`: the routes as an actix-web
//! [`Scope`].
//!
//! actix-web 4 still speaks `http` 0.2, so method, URI and headers are converted through
//! their string and byte forms, never by type.
#![cfg(feature = "actix")]

use std::future::poll_fn;
use std::pin::Pin;

use actix_web::http::StatusCode as ActixStatus;
use actix_web::http::header::{HeaderName as ActixName, HeaderValue as ActixValue};
use actix_web::web::{self, Payload, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, Scope};
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http::{Request, Response};

use crate::Error;
use crate::api::json;
use crate::connect::Connect;

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

/// Converts, answers from the head what needs no body (before a byte of it is read), reads
/// the body under Connect's limit, serves, and converts back.
pub(super) async fn serve(connect: &Connect, request: &HttpRequest, payload: Payload) -> HttpResponse {
    let parts = match to_http(connect, request) {
        Ok(parts) => parts,
        Err(e) => return from_http(json::error_response(&e)),
    };
    let response = match connect.prepare(&parts, None).await {
        Ok(prepared) => match read_body(payload, connect.max_body_bytes()).await {
            Ok(body) => connect.finish(prepared, &parts, &body).await,
            Err(BodyError::Unreadable) => {
                json::error_response(&Error::invalid_request("the request body could not be read"))
            }
            Err(BodyError::TooLarge) => connect.payload_too_large_response(),
        },
        Err(answer) => answer,
    };
    from_http(response)
}

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    /// The stream failed (a malformed chunk, a closed connection).
    Unreadable,
    /// More than the limit came.
    TooLarge,
}

/// The body, read under `limit` bytes.
///
/// Written by hand rather than with `Payload::to_bytes_limited`: that reserves 32 KiB before
/// the first byte, for every request, a bodiless GET too (most of Connect's requests), which
/// put a large allocation and glibc's `malloc_consolidate` on every `start`. Here no body reads
/// as empty without allocating, a body that came in one chunk is that chunk (not copied), and
/// a buffer is built only for a body in several.
async fn read_body(payload: Payload, limit: usize) -> Result<Bytes, BodyError> {
    let mut payload = payload.into_inner();
    if matches!(payload, actix_web::dev::Payload::None) {
        return Ok(Bytes::new());
    }
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    let mut len = 0usize;
    while let Some(chunk) = poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        len = len.saturating_add(chunk.len());
        if len > limit {
            return Err(BodyError::TooLarge);
        }
        match first.take() {
            None if joined.is_empty() => first = Some(chunk),
            Some(earlier) => {
                joined.reserve(earlier.len() + chunk.len());
                joined.extend_from_slice(&earlier);
                joined.extend_from_slice(&chunk);
            }
            None => joined.extend_from_slice(&chunk),
        }
    }
    Ok(first.unwrap_or_else(|| joined.freeze()))
}

/// The request line and headers in `http` 1 types, with the path as Connect mounts it (below
/// any outer scope the host nests this one in).
fn to_http(connect: &Connect, request: &HttpRequest) -> Result<http::request::Parts, Error> {
    let uri = request.uri();
    let prefix = connect.prefix();
    let unprocessed = request.match_info().unprocessed();
    // Mounted at the top (no outer scope): the raw path is the prefix and the rest, and the
    // target is the request's own path and query, as they came. Otherwise rebuild it.
    let own = (unprocessed.is_empty() || unprocessed.starts_with('/'))
        && uri.path().strip_prefix(prefix) == Some(unprocessed);
    let uri = if own {
        http::Uri::try_from(uri.path_and_query().map_or(uri.path(), |pq| pq.as_str()))
    } else {
        let path = own_path(uri.path(), unprocessed);
        let query = uri.query();
        let mut target = String::with_capacity(prefix.len() + path.len() + query.map_or(0, |q| q.len() + 1));
        target.push_str(prefix);
        target.push_str(path);
        if let Some(q) = query {
            target.push('?');
            target.push_str(q);
        }
        http::Uri::try_from(target)
    }
    .map_err(|_| unreadable())?;
    let method = http::Method::from_bytes(request.method().as_str().as_bytes()).map_err(|_| unreadable())?;
    let mut headers = http::HeaderMap::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        // A standard name converts without allocating; a value is copied (an `http` 0.2
        // value does not hand out its buffer).
        let name = http::HeaderName::from_bytes(name.as_str().as_bytes()).map_err(|_| unreadable())?;
        headers.append(name, http::HeaderValue::from_bytes(value.as_bytes()).map_err(|_| unreadable())?);
    }
    // Set field by field: cheaper than moving a builder's parts through each step.
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.headers = headers;
    Ok(parts)
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
    let mut out = HttpResponse::with_body(ActixStatus::from_u16(parts.status.as_u16()).ok()?, body);
    let headers = out.headers_mut();
    headers.reserve(parts.headers.len());
    for (name, value) in &parts.headers {
        headers.append(actix_name(name)?, actix_value(value)?);
    }
    Some(out.map_into_boxed_body())
}

/// The names Connect's responses carry most, each as its `http` 1 and its `http` 0.2 constant.
/// Written by hand because the two crates share no type: a standard `http` 1 name compares by
/// its tag, so finding it here is cheaper than parsing its string again.
static NAMES: [(http::HeaderName, ActixName); 6] = {
    use actix_web::http::header as a;
    use http::header as h;
    [
        (h::CONTENT_TYPE, a::CONTENT_TYPE),
        (h::CACHE_CONTROL, a::CACHE_CONTROL),
        (h::X_CONTENT_TYPE_OPTIONS, a::X_CONTENT_TYPE_OPTIONS),
        (h::VARY, a::VARY),
        (h::ACCESS_CONTROL_ALLOW_ORIGIN, a::ACCESS_CONTROL_ALLOW_ORIGIN),
        (h::REFERRER_POLICY, a::REFERRER_POLICY),
    ]
};

/// The values Connect's responses carry most (set with `from_static` in `api::json`): found
/// here, they are shared rather than validated and copied.
static VALUES: [ActixValue; 5] = [
    ActixValue::from_static("application/json"),
    ActixValue::from_static("no-store"),
    ActixValue::from_static("nosniff"),
    ActixValue::from_static("Origin"),
    ActixValue::from_static("no-referrer"),
];

fn actix_name(name: &http::HeaderName) -> Option<ActixName> {
    match NAMES.iter().find(|(ours, _)| ours == name) {
        Some((_, theirs)) => Some(theirs.clone()),
        None => ActixName::from_bytes(name.as_str().as_bytes()).ok(),
    }
}

fn actix_value(value: &http::HeaderValue) -> Option<ActixValue> {
    let bytes = value.as_bytes();
    match VALUES.iter().find(|v| v.as_bytes() == bytes) {
        Some(v) => Some(v.clone()),
        None => ActixValue::from_bytes(bytes).ok(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use actix_web::FromRequest;
    use actix_web::error::PayloadError;
    use actix_web::web::Payload;
    use bytes::Bytes;
    use futures_core::Stream;

    use super::{BodyError, own_path, read_body};

    /// A payload stream that hands out the given chunks, one per poll.
    struct Chunks(VecDeque<Result<Bytes, PayloadError>>);

    impl Stream for Chunks {
        type Item = Result<Bytes, PayloadError>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    async fn read(payload: actix_web::dev::Payload, limit: usize) -> Result<Bytes, BodyError> {
        let (request, _) = actix_web::test::TestRequest::default().to_http_parts();
        let mut payload = payload;
        let payload = Payload::from_request(&request, &mut payload).await.expect("the payload extractor never fails");
        read_body(payload, limit).await
    }

    fn chunks(parts: Vec<Result<Bytes, PayloadError>>) -> actix_web::dev::Payload {
        actix_web::dev::Payload::Stream { payload: Box::pin(Chunks(parts.into())) }
    }

    #[actix_web::test]
    async fn a_body_reads_whole_under_the_limit_and_not_a_byte_over() {
        assert_eq!(read(actix_web::dev::Payload::None, 0).await, Ok(Bytes::new()));
        // One chunk is handed on as it came, not copied.
        let one = Bytes::from_static(b"{\"a\":1}");
        let read_one = read(chunks(vec![Ok(one.clone())]), 7).await.expect("read");
        assert_eq!((read_one.as_ptr(), read_one.len()), (one.as_ptr(), one.len()));
        // Several are joined in order, empty ones among them; the limit counts them all.
        let parts =
            || ["", "ab", "", "cde", "f"].iter().map(|p| Ok(Bytes::from_static(p.as_bytes()))).collect::<Vec<_>>();
        assert_eq!(read(chunks(parts()), 6).await, Ok(Bytes::from_static(b"abcdef")));
        assert_eq!(read(chunks(parts()), 5).await, Err(BodyError::TooLarge));
        assert_eq!(read(chunks(vec![Ok(one.clone())]), 6).await, Err(BodyError::TooLarge));
        assert_eq!(read(chunks(vec![]), 0).await, Ok(Bytes::new()));
        // A failing stream is unreadable, before or after data.
        assert_eq!(read(chunks(vec![Err(PayloadError::Incomplete(None))]), 10).await, Err(BodyError::Unreadable));
        let late = vec![Ok(Bytes::from_static(b"ab")), Err(PayloadError::EncodingCorrupted)];
        assert_eq!(read(chunks(late), 10).await, Err(BodyError::Unreadable));
    }

    #[test]
    fn the_own_path_is_the_raw_tail_with_as_many_segments_as_the_decoded_rest() {
        assert_eq!(own_path("/v1/accounts", "/accounts"), "/accounts");
        assert_eq!(own_path("/outer/v1/oauth-apps/%61pp", "/oauth-apps/app"), "/oauth-apps/%61pp");
        assert_eq!(own_path("/v1", ""), "");
        assert_eq!(own_path("/v1/", "/"), "/");
        assert_eq!(own_path("/a%2Fb", "/a%2Fb"), "/a%2Fb");
    }
}
