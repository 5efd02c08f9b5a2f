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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// Whether an address is a public unicast address, fit to be called on a tenant's behalf.
///
/// Refused: unspecified, loopback, private (RFC 1918), CGNAT (100.64/10), link-local,
/// broadcast, multicast, documentation, benchmarking, IETF protocol assignments, 6to4 relay,
/// reserved (240/4), and in IPv6 also unique-local (fc00::/7), site-local, discard, ORCHID,
/// Teredo and the NAT64 local-use prefix; IPv4 embedded in IPv6 (mapped, compatible, NAT64
/// well-known prefix, 6to4) is judged as the IPv4 address it carries.
pub(crate) fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                     // "this network", unspecified
        || a == 10                               // private
        || a == 127                              // loopback
        || (a == 100 && (64..128).contains(&b))  // CGNAT, RFC 6598
        || (a == 169 && b == 254)                // link-local
        || (a == 172 && (16..32).contains(&b))   // private
        || (a == 192 && b == 0 && c == 0)        // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)        // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)      // 6to4 relay anycast
        || (a == 192 && b == 168)                // private
        || (a == 198 && (b == 18 || b == 19))    // benchmarking
        || (a == 198 && b == 51 && c == 100)     // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)      // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let [s0, s1, s2, s3, s4, s5, s6, s7] = s;
    let embedded = || Ipv4Addr::new((s6 >> 8) as u8, s6 as u8, (s7 >> 8) as u8, s7 as u8);
    if s0 == 0 && s1 == 0 && s2 == 0 && s3 == 0 && s4 == 0 {
        // ::, ::1, IPv4-compatible (::a.b.c.d, deprecated) and IPv4-mapped (::ffff:a.b.c.d).
        return s5 == 0xffff && is_public_v4(embedded());
    }
    if s0 == 0x0064 && s1 == 0xff9b {
        // NAT64: the well-known prefix carries an IPv4 address; 64:ff9b:1::/48 is local use.
        return s2 == 0 && s3 == 0 && s4 == 0 && s5 == 0 && is_public_v4(embedded());
    }
    if s0 == 0x2002 {
        // 6to4: the IPv4 address is in the second and third segments.
        return is_public_v4(Ipv4Addr::new((s1 >> 8) as u8, s1 as u8, (s2 >> 8) as u8, s2 as u8));
    }
    !((s0 & 0xfe00) == 0xfc00                    // unique local
        || (s0 & 0xffc0) == 0xfe80               // link-local
        || (s0 & 0xffc0) == 0xfec0               // site-local (deprecated)
        || (s0 & 0xff00) == 0xff00               // multicast
        || (s0 == 0x0100 && s1 == 0 && s2 == 0 && s3 == 0) // discard
        || (s0 == 0x2001 && s1 == 0x0db8)        // documentation
        || (s0 == 0x2001 && s1 == 0)             // Teredo
        || (s0 == 0x2001 && (s1 & 0xfff0) == 0x0010) // ORCHID
        || (s0 == 0x2001 && (s1 & 0xfff0) == 0x0020) // ORCHIDv2
        || s0 == 0x3fff) // documentation (RFC 9637)
}
