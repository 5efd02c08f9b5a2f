//! Outbound HTTP: the [`HttpClient`] trait every provider call goes through, and the default
//! [`ReqwestClient`] (feature `reqwest`).
//!
//! # Security
//! Outbound requests carry client secrets, codes and tokens. The default client never
//! follows redirects (a `307` from a token endpoint would re-send the secret elsewhere, and
//! following redirects opens the door to SSRF), has connect and total timeouts, caps the
//! size of responses, verifies TLS with rustls, and can be restricted to loopback addresses
//! (tests and CI always are). A host that brings its own client must keep those properties.

use std::future::Future;

use async_trait::async_trait;
use bytes::Bytes;

#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
mod reqwest_client;
#[cfg(feature = "reqwest")]
pub use reqwest_client::{ReqwestClient, ReqwestClientOptions};

/// Why an outbound request failed before a response arrived (or while reading it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The connect or total timeout ran out.
    #[error("timed out")]
    Timeout,
    /// The connection could not be made.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The request was refused before sending (a non-loopback host in loopback-only mode,
    /// a non-https URL, a malformed URL).
    #[error("request refused: {0}")]
    Refused(String),
    /// The response body was larger than the cap.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// Any other failure.
    #[error("http error: {0}")]
    Other(String),
}

/// Sends one HTTP request and returns the whole response.
///
/// Implemented by [`ReqwestClient`] and, through a blanket impl, by any
/// `Fn(http::Request<Bytes>) -> impl Future<Output = Result<http::Response<Bytes>, HttpError>>`,
/// so a unit test can answer provider calls with a closure:
///
/// ```
/// use bytes::Bytes;
/// use dravo_connect::http_client::{HttpClient, HttpError};
/// let client = |req: http::Request<Bytes>| async move {
///     assert_eq!(req.uri().path(), "/token");
///     Ok::<_, HttpError>(http::Response::new(Bytes::from_static(b"{}")))
/// };
/// fn takes(_: &dyn HttpClient) {}
/// takes(&client);
/// ```
///
/// # Security
/// An implementation must not follow redirects, must time out, and must cap response sizes.
#[async_trait]
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request` and reads the whole response.
    ///
    /// # Errors
    /// [`HttpError`] when no complete response could be read.
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError>;
}

#[async_trait]
impl<F, Fut> HttpClient for F
where
    F: Fn(http::Request<Bytes>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<http::Response<Bytes>, HttpError>> + Send + 'static,
{
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        (self)(request).await
    }
}

/// True for hosts that are loopback: `localhost`, `127.0.0.0/8` and `[::1]`.
pub(crate) fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}
