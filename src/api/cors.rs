//! CORS for the keyed routes, only for the origins the host lists
//! (`cors_allowed_origins`). With none configured (the default) no route ever sends a CORS
//! header, and a preflight gets the plain `405` of a route without `OPTIONS`.
//!
//! Credentials (cookies) are never allowed: the keyed routes authenticate by the
//! `Authorization` header, which a page of an allowed origin sends explicitly.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use url::Url;

use crate::ConfigError;
use crate::connect::Connect;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Normalises configured origins to their ASCII serialisation (`https://app.example.com`,
/// `http://localhost:3000`). An entry with a path other than `/`, a query, a fragment,
/// userinfo, a non-http(s) scheme, or `*` is refused.
pub(crate) fn check_origins(entries: &[String]) -> Result<Vec<String>, ConfigError> {
    entries
        .iter()
        .map(|raw| {
            let err = || ConfigError::CorsOrigin(raw.clone());
            let url = Url::parse(raw).map_err(|_| err())?;
            if !matches!(url.scheme(), "http" | "https")
                || url.host().is_none()
                || url.path() != "/"
                || url.query().is_some()
                || url.fragment().is_some()
                || !url.username().is_empty()
                || url.password().is_some()
            {
                return Err(err());
            }
            Ok(url.origin().ascii_serialization())
        })
        .collect()
}

impl Connect {
    /// The request's `Origin`, when it is one of the configured origins.
    pub(crate) fn cors_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        if self.inner.cors_allowed_origins.is_empty() {
            return None;
        }
        let origin = headers.get(header::ORIGIN)?;
        let s = origin.to_str().ok()?;
        self.inner.cors_allowed_origins.iter().any(|o| o == s).then(|| origin.clone())
    }

    /// Whether CORS is configured at all.
    pub(crate) fn cors_configured(&self) -> bool {
        !self.inner.cors_allowed_origins.is_empty()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_anything_else_refused() {
        let ok = check_origins(&["https://App.Example.com".into(), "http://localhost:3000/".into()]).unwrap();
        assert_eq!(ok, ["https://app.example.com", "http://localhost:3000"]);
        for bad in
            ["*", "null", "https://a.test/path", "https://a.test?x", "ftp://a.test", "https://u@a.test", "a.test"]
        {
            assert!(check_origins(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
