//! The same-origin check for cookie-based authenticators: [`same_origin`] and the wrapper
//! [`SameOrigin`].
//!
//! An [`Authenticator`] that trusts a cookie makes every keyed route callable by any site the
//! user visits (a cross-site form post or `fetch` carries the cookie). Browsers say where a
//! request comes from: `Sec-Fetch-Site` (every current browser) and `Origin` (every browser on
//! every non-`GET`/`HEAD` request). This check lets a state-changing request through only when
//! those headers say it comes from the host's own origin, as tower-http's CSRF layer and Go's
//! `CrossOriginProtection` do; unlike Go's, it fails closed when a request carries neither
//! header, because a cookie-authenticated request without them is not from a browser we can
//! vouch for. API-key authentication needs no such check: no browser attaches the key by itself.

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, Method, header};
use url::Url;

use super::auth::{AuthError, Authenticator};
use crate::TenantId;

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// An allowed origin that is not an http(s) origin such as `https://app.example.com`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed origin {0:?} must be an http(s) origin such as https://app.example.com (no path, query or fragment)")]
pub struct InvalidOrigin(pub String);

/// Parses `https://host[:port]` (a trailing `/` allowed) into its origin.
fn parse_origin(raw: &str) -> Option<url::Origin> {
    let url = Url::parse(raw).ok()?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    plain.then(|| url.origin())
}

/// The single value of header `name`: `Ok(None)` when absent, `Err` when repeated or not
/// visible ASCII.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(AuthError);
    }
    first.to_str().map(Some).map_err(|_| AuthError)
}

/// Whether `method` is safe (RFC 9110 §9.2.1): it must not change state, so it needs no check.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// Checks that a state-changing request comes from `allowed_origin`
/// (`scheme://host[:port]`, e.g. `https://app.example.com`, the origin of the host's pages).
///
/// Safe methods (`GET`, `HEAD`, `OPTIONS`, `TRACE`) always pass: they must not change state,
/// and a cross-site page cannot read their answers without CORS. For any other method:
///
/// - `Sec-Fetch-Site`, when sent, must be `same-origin` (a `same-site` sibling subdomain is
///   refused too);
/// - `Origin`, when sent, must be `allowed_origin` (scheme, host and port; `null` is refused);
/// - at least one of the two must be present.
///
/// # Errors
/// [`AuthError`] (answered as `401 unauthorized`) when the request is not provably
/// same-origin, when a header is repeated or malformed, or when `allowed_origin` is not an
/// origin (fails closed; [`SameOrigin::new`] checks it once at startup instead).
///
/// # Security
/// Apply it on every route that changes state when the credential is one a browser sends by
/// itself (a cookie, HTTP auth, a client certificate). Keep `SameSite=Lax` (or `Strict`) on the
/// session cookie as a second layer.
///
/// ```
/// use dravo_connect::auth::same_origin;
///
/// let from_our_page = dravo_connect::http::Request::post("/v1/accounts")
///     .header("origin", "https://app.example.com")
///     .header("sec-fetch-site", "same-origin")
///     .body(())?
///     .into_parts()
///     .0;
/// assert!(same_origin(&from_our_page, "https://app.example.com").is_ok());
///
/// let cross_site = dravo_connect::http::Request::post("/v1/accounts")
///     .header("origin", "https://evil.example")
///     .header("sec-fetch-site", "cross-site")
///     .body(())?
///     .into_parts()
///     .0;
/// assert!(same_origin(&cross_site, "https://app.example.com").is_err());
/// # Ok::<(), dravo_connect::http::Error>(())
/// ```
pub fn same_origin(parts: &http::request::Parts, allowed_origin: &str) -> Result<(), AuthError> {
    if is_safe(&parts.method) {
        return Ok(());
    }
    let allowed = parse_origin(allowed_origin).ok_or(AuthError)?;
    check(&parts.headers, &allowed)
}

fn check(headers: &HeaderMap, allowed: &url::Origin) -> Result<(), AuthError> {
    let site = single(headers, &SEC_FETCH_SITE)?;
    if site.is_some_and(|s| !s.eq_ignore_ascii_case("same-origin")) {
        return Err(AuthError);
    }
    match single(headers, &header::ORIGIN)? {
        // `null` and anything else that is not an origin fails to parse.
        Some(origin) => match parse_origin(origin) {
            Some(origin) if origin == *allowed => Ok(()),
            _ => Err(AuthError),
        },
        None if site.is_some() => Ok(()),
        None => Err(AuthError),
    }
}

/// An [`Authenticator`] that runs [`same_origin`] before the inner one, for cookie-based
/// authenticators: `SameOrigin::new(MySessionAuth, "https://app.example.com")?`.
///
/// Connect asks its authenticator on every keyed route, so wrapping it covers every route
/// that changes state (creating, updating and deleting apps, registering and disconnecting
/// accounts); safe methods go straight to the inner authenticator.
///
/// ```
/// use dravo_connect::auth::{AuthError, Authenticator, SameOrigin};
/// use dravo_connect::TenantId;
///
/// /// Maps the host's session cookie to a tenant (a real one would look the session up).
/// struct SessionAuth;
///
/// #[async_trait::async_trait]
/// impl Authenticator for SessionAuth {
///     async fn authenticate(&self, request: &dravo_connect::http::request::Parts) -> Result<TenantId, AuthError> {
///         let cookie = request.headers.get("cookie").and_then(|v| v.to_str().ok()).ok_or(AuthError)?;
///         if cookie.split("; ").any(|c| c == "session=s3cr3t") { "acme".parse().map_err(|_| AuthError) } else { Err(AuthError) }
///     }
/// }
///
/// let auth = SameOrigin::new(SessionAuth, "https://app.example.com")?;
/// // Connect::builder().authenticator(auth)…
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SameOrigin<A> {
    inner: A,
    allowed: url::Origin,
}

impl<A> SameOrigin<A> {
    /// Wraps `inner`, allowing state-changing requests from `allowed_origin` only.
    ///
    /// # Errors
    /// [`InvalidOrigin`] when `allowed_origin` is not `http(s)://host[:port]` (a trailing `/`
    /// is allowed; a path, query, fragment or credentials are not).
    pub fn new(inner: A, allowed_origin: &str) -> Result<Self, InvalidOrigin> {
        let allowed = parse_origin(allowed_origin).ok_or_else(|| InvalidOrigin(allowed_origin.to_owned()))?;
        Ok(Self { inner, allowed })
    }

    /// The wrapped authenticator.
    pub fn get_ref(&self) -> &A {
        &self.inner
    }

    /// The allowed origin, serialized (`https://app.example.com`).
    pub fn allowed_origin(&self) -> String {
        self.allowed.ascii_serialization()
    }
}

#[async_trait]
impl<A: Authenticator> Authenticator for SameOrigin<A> {
    async fn authenticate(&self, request: &http::request::Parts) -> Result<TenantId, AuthError> {
        if !is_safe(&request.method) {
            check(&request.headers, &self.allowed)?;
        }
        self.inner.authenticate(request).await
    }

    fn credential_name(&self) -> &str {
        self.inner.credential_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "https://app.example.com";

    fn parts(method: Method, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri("/v1/accounts/acc_1");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[derive(Debug)]
    struct Always;

    #[async_trait]
    impl Authenticator for Always {
        async fn authenticate(&self, _: &http::request::Parts) -> Result<TenantId, AuthError> {
            Ok("acme".parse().unwrap())
        }
    }

    #[test]
    fn a_post_from_our_own_page_passes_with_either_header_or_both() {
        for headers in [
            &[("origin", APP), ("sec-fetch-site", "same-origin")][..],
            &[("origin", APP)][..],
            &[("sec-fetch-site", "same-origin")][..],
            &[("origin", "HTTPS://App.Example.com:443"), ("sec-fetch-site", "Same-Origin")][..],
        ] {
            for method in [Method::POST, Method::PATCH, Method::PUT, Method::DELETE] {
                assert_eq!(same_origin(&parts(method.clone(), headers), APP), Ok(()), "{method} {headers:?}");
            }
        }
        assert_eq!(same_origin(&parts(Method::POST, &[("origin", APP)]), "https://app.example.com/"), Ok(()));
    }

    #[test]
    fn cross_site_same_site_and_foreign_origins_are_refused() {
        for headers in [
            &[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")][..],
            &[("origin", APP), ("sec-fetch-site", "cross-site")][..],
            &[("origin", "https://other.example.com"), ("sec-fetch-site", "same-site")][..],
            &[("sec-fetch-site", "same-site")][..],
            &[("sec-fetch-site", "none")][..],
            &[("origin", "https://evil.example")][..],
            &[("origin", "http://app.example.com")][..],
            &[("origin", "https://app.example.com:8443")][..],
            &[("origin", "https://app.example.com.evil.example")][..],
            &[("origin", "null")][..],
            &[("origin", "https://app.example.com/path")][..],
        ] {
            assert_eq!(same_origin(&parts(Method::POST, headers), APP), Err(AuthError), "{headers:?}");
        }
    }

    #[test]
    fn a_state_changing_request_with_neither_header_fails_closed() {
        assert_eq!(same_origin(&parts(Method::DELETE, &[]), APP), Err(AuthError));
    }

    #[test]
    fn repeated_or_non_ascii_headers_are_refused() {
        let mut p = parts(Method::POST, &[("origin", APP)]);
        p.headers.append(header::ORIGIN, APP.parse().unwrap());
        assert_eq!(same_origin(&p, APP), Err(AuthError));
        let mut p = parts(Method::POST, &[("sec-fetch-site", "same-origin")]);
        p.headers.append(SEC_FETCH_SITE, "same-origin".parse().unwrap());
        assert_eq!(same_origin(&p, APP), Err(AuthError));
        let mut p = parts(Method::POST, &[]);
        p.headers.insert(header::ORIGIN, http::HeaderValue::from_bytes(b"https://app.example.com\xff").unwrap());
        assert_eq!(same_origin(&p, APP), Err(AuthError));
    }

    #[test]
    fn safe_methods_pass_whatever_their_origin() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            let p = parts(method, &[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")]);
            assert_eq!(same_origin(&p, APP), Ok(()));
        }
    }

    #[test]
    fn a_malformed_allowed_origin_fails_closed_and_is_refused_at_startup() {
        let p = parts(Method::POST, &[("origin", APP)]);
        for bad in [
            "",
            "app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/app",
            "https://u:p@app.example.com",
            "null",
        ] {
            assert_eq!(same_origin(&p, bad), Err(AuthError), "{bad}");
            assert_eq!(SameOrigin::new(Always, bad).unwrap_err(), InvalidOrigin(bad.to_owned()));
        }
        let ok = SameOrigin::new(Always, "https://App.Example.com:443/").unwrap();
        assert_eq!(ok.allowed_origin(), APP);
    }

    #[tokio::test]
    async fn the_wrapper_checks_unsafe_methods_before_the_inner_authenticator() {
        let auth = SameOrigin::new(Always, APP).unwrap();
        let ok = auth.authenticate(&parts(Method::POST, &[("origin", APP)])).await;
        assert_eq!(ok.unwrap().as_str(), "acme");
        let cross = parts(Method::DELETE, &[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")]);
        assert_eq!(auth.authenticate(&cross).await, Err(AuthError));
        let read = parts(Method::GET, &[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")]);
        assert!(auth.authenticate(&read).await.is_ok());
    }
}
