//! CORS for the keyed routes, only for the origins the host lists
//! (`cors_allowed_origins`). With none configured (the default) no route ever sends a CORS
//! header, and a preflight gets the plain `405` of a route without `OPTIONS`.
//!
//! Credentials (cookies) are never allowed: the keyed routes authenticate by the
//! `Authorization` header, which a page of an allowed origin sends explicitly.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`) from an
/// allowed origin, on a keyed route answering `allow`.
pub(crate) fn preflight(origin: HeaderValue, allow: &'static str) -> Response<Bytes> {
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = StatusCode::NO_CONTENT;
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(allow));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE));
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// True for a CORS preflight.
pub(crate) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Adds the CORS headers of an actual (non-preflight) response on a keyed route.
pub(crate) fn decorate(res: &mut Response<Bytes>, origin: Option<HeaderValue>) {
    let h = res.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(o) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
    }
}
