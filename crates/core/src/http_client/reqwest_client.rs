//! [`ReqwestClient`]: the default [`HttpClient`], reqwest with rustls, locked down.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use super::{HttpClient, HttpError, is_loopback_host, is_public_ip};
use crate::error::ConfigError;

/// The `User-Agent` of every request.
const USER_AGENT: &str = concat!("dravo-connect/", env!("CARGO_PKG_VERSION"));

/// Settings of a [`ReqwestClient`].
///
/// ```
/// use std::time::Duration;
/// use dravo_connect_core::http_client::ReqwestClientOptions;
/// let options = ReqwestClientOptions::default()
///     .with_timeout(Duration::from_secs(5))
///     .with_loopback_only(true);
/// assert_eq!(options.max_response_bytes, 1024 * 1024);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReqwestClientOptions {
    /// How long establishing a connection (TCP and TLS) may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long a whole request may take, from connecting to the end of the response body.
    /// Default 10 s.
    pub timeout: Duration,
    /// The largest response body read; a larger one fails with [`HttpError::TooLarge`].
    /// Default 1 MiB.
    pub max_response_bytes: usize,
    /// Refuse, before any connection, every URL whose host is not loopback (`localhost`,
    /// `127.0.0.0/8`, `[::1]`); `localhost` is pinned to `127.0.0.1` and proxies are not
    /// used. For tests and CI. Default false.
    pub loopback_only: bool,
    /// Refuse to connect to any address that is not public unicast (loopback, private,
    /// link-local, CGNAT, unique-local…, see SECURITY.md): an IP-literal host is checked
    /// before sending, and a name is resolved by a resolver that fails when any of its
    /// addresses is not public, so the address checked is the address connected to (no DNS
    /// rebinding between a check and the connection). Connect uses such a client for
    /// tenant-supplied hosts (Mastodon instances). A configured proxy resolves names
    /// itself, outside this check. Default false.
    pub public_only: bool,
}

impl Default for ReqwestClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
            loopback_only: false,
            public_only: false,
        }
    }
}

impl ReqwestClientOptions {
    /// Sets the connect timeout.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the total timeout of a request.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the largest response body read.
    #[must_use]
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Sets whether only public addresses may be connected to.
    #[must_use]
    pub fn with_public_only(mut self, public_only: bool) -> Self {
        self.public_only = public_only;
        self
    }

    /// Sets whether only loopback hosts may be called.
    #[must_use]
    pub fn with_loopback_only(mut self, loopback_only: bool) -> Self {
        self.loopback_only = loopback_only;
        self
    }
}

/// The default outbound HTTP client: reqwest with rustls (webpki roots), locked down for
/// calls that carry secrets.
///
/// - Redirects are never followed: a 3xx comes back as is, so a `307` from a token endpoint
///   cannot re-send a client secret elsewhere.
/// - Connect and total timeouts ([`HttpError::Timeout`]); the total one covers reading the
///   body.
/// - The response body is read chunk by chunk and abandoned as soon as it passes the cap
///   ([`HttpError::TooLarge`]).
/// - Only `http` and `https` URLs. With `loopback_only`, a non-loopback host is refused
///   before any connection ([`HttpError::Refused`]).
/// - Error messages never hold the URL (some providers carry secrets in query strings).
///
/// Cheap to clone (one connection pool is shared).
///
/// ```
/// use dravo_connect_core::http_client::{ReqwestClient, ReqwestClientOptions};
/// let client = ReqwestClient::new(ReqwestClientOptions::default()).unwrap();
/// # let _ = client;
/// ```
#[derive(Clone)]
pub struct ReqwestClient {
    client: reqwest::Client,
    options: ReqwestClientOptions,
}

impl fmt::Debug for ReqwestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestClient").field("options", &self.options).finish_non_exhaustive()
    }
}

impl ReqwestClient {
    /// Builds a client.
    ///
    /// # Errors
    /// [`ConfigError::HttpClient`] when a timeout or the size cap is zero, or when the TLS
    /// backend cannot be set up.
    pub fn new(options: ReqwestClientOptions) -> Result<Self, ConfigError> {
        if options.connect_timeout.is_zero() || options.timeout.is_zero() {
            return Err(ConfigError::HttpClient("timeouts must be greater than zero".to_owned()));
        }
        if options.max_response_bytes == 0 {
            return Err(ConfigError::HttpClient("max_response_bytes must be greater than zero".to_owned()));
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .user_agent(USER_AGENT);
        if options.loopback_only {
            // Port 0: the URL's own port is used. The name cannot be sent elsewhere by DNS,
            // and no proxy may carry the request off the machine.
            builder = builder.no_proxy().resolve("localhost", SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        }
        if options.public_only {
            builder = builder.dns_resolver(std::sync::Arc::new(PublicOnlyResolver));
        }
        let client = builder.build().map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        Ok(Self { client, options })
    }

    /// Sends `request` and reads its response under the size cap.
    async fn execute(&self, request: reqwest::Request) -> Result<http::Response<Bytes>, HttpError> {
        let cap = self.options.max_response_bytes;
        let mut response = self.client.execute(request).await.map_err(map_error)?;
        if response.content_length().is_some_and(|len| len > u64::try_from(cap).unwrap_or(u64::MAX)) {
            return Err(HttpError::TooLarge(cap));
        }
        let status = response.status();
        let version = response.version();
        let headers = std::mem::take(response.headers_mut());
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            if chunk.len() > cap.saturating_sub(body.len()) {
                return Err(HttpError::TooLarge(cap));
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = http::Response::new(body.freeze());
        *out.status_mut() = status;
        *out.version_mut() = version;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

#[async_trait]
impl HttpClient for ReqwestClient {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        // The same parse reqwest does, so the host checked is the host connected to.
        let url = url::Url::parse(&request.uri().to_string())
            .map_err(|_| HttpError::Refused("not an absolute URL".to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpError::Refused("only http and https URLs are called".to_owned()));
        }
        let Some(host) = url.host() else {
            return Err(HttpError::Refused("the URL has no host".to_owned()));
        };
        if self.options.loopback_only && !is_loopback_host(&host) {
            return Err(HttpError::Refused("not a loopback host (loopback-only client)".to_owned()));
        }
        let literal = match host {
            url::Host::Ipv4(ip) => Some(std::net::IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(std::net::IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        if self.options.public_only && literal.is_some_and(|ip| !is_public_ip(ip)) {
            return Err(HttpError::Refused("not a public address (public-only client)".to_owned()));
        }
        let request =
            reqwest::Request::try_from(request).map_err(|_| HttpError::Refused("malformed request".to_owned()))?;
        // reqwest's own total timeout covers the body too; this one also covers our reading.
        tokio::time::timeout(self.options.timeout, self.execute(request)).await.unwrap_or(Err(HttpError::Timeout))
    }
}

/// The resolver of a public-only client: the system resolver, failing when any address of
/// the name is not public (so a name with one private address among public ones is refused
/// as a whole, as the pre-check refuses it).
#[derive(Debug)]
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = tokio::task::spawn_blocking(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 0)).map(Iterator::collect::<Vec<_>>)
            })
            .await
            .map_err(|e| Box::new(std::io::Error::other(e.to_string())) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs = resolved.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            if addrs.is_empty() || addrs.iter().any(|a: &SocketAddr| !is_public_ip(a.ip())) {
                let refused = std::io::Error::other("the name resolves to a non-public address (public-only client)");
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Maps a reqwest error, dropping its URL and keeping the cause chain for logs.
fn map_error(error: reqwest::Error) -> HttpError {
    let error = error.without_url();
    if error.is_timeout() {
        return HttpError::Timeout;
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_connect() {
        HttpError::Connect(message)
    } else if error.is_builder() {
        HttpError::Refused(message)
    } else {
        HttpError::Other(message)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    use super::*;

    fn loopback_client(options: ReqwestClientOptions) -> ReqwestClient {
        ReqwestClient::new(options.with_loopback_only(true)).unwrap()
    }

    fn get(url: &str) -> http::Request<Bytes> {
        http::Request::get(url).body(Bytes::new()).unwrap()
    }

    /// Reads one request (head and a `Content-Length` body) off `stream`.
    async fn read_request(stream: &mut TcpStream) -> String {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&data);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if data.len() >= end + 4 + length {
                    break;
                }
            }
        }
        String::from_utf8(data).unwrap()
    }

    /// A loopback server that answers one request with `response` and hands back the request.
    async fn serve_once(response: Vec<u8>) -> (SocketAddr, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let request = read_request(&mut stream).await;
            stream.write_all(&response).await.unwrap();
            stream.shutdown().await.unwrap();
            request
        });
        (addr, task)
    }

    async fn assert_no_connection(listener: &TcpListener) {
        let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(accepted.is_err(), "a connection reached the listener");
    }

    #[test]
    fn options_default_to_5s_connect_10s_total_1mib_and_any_host() {
        let o = ReqwestClientOptions::default();
        assert_eq!(o.connect_timeout, Duration::from_secs(5));
        assert_eq!(o.timeout, Duration::from_secs(10));
        assert_eq!(o.max_response_bytes, 1_048_576);
        assert!(!o.loopback_only);
        let o = o
            .with_connect_timeout(Duration::from_secs(1))
            .with_timeout(Duration::from_secs(2))
            .with_max_response_bytes(3)
            .with_loopback_only(true);
        assert_eq!(
            (o.connect_timeout, o.timeout, o.max_response_bytes, o.loopback_only),
            (Duration::from_secs(1), Duration::from_secs(2), 3, true)
        );
        ReqwestClient::new(ReqwestClientOptions::default()).unwrap();
    }

    #[test]
    fn zero_timeouts_or_a_zero_cap_are_refused() {
        let refused = |o: ReqwestClientOptions| matches!(ReqwestClient::new(o), Err(ConfigError::HttpClient(_)));
        assert!(refused(ReqwestClientOptions::default().with_timeout(Duration::ZERO)));
        assert!(refused(ReqwestClientOptions::default().with_connect_timeout(Duration::ZERO)));
        assert!(refused(ReqwestClientOptions::default().with_max_response_bytes(0)));
    }

    #[tokio::test]
    async fn a_request_and_its_response_go_through_whole() {
        let body = r#"{"access_token":"at"}"#;
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Extra: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (addr, server) = serve_once(response.into_bytes()).await;
        let client = loopback_client(ReqwestClientOptions::default());
        let request = http::Request::post(format!("http://{addr}/token?x=1"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from_static(b"grant_type=authorization_code&code=c"))
            .unwrap();
        let response = client.send(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-extra"], "1");
        assert_eq!(response.body(), body.as_bytes());
        let seen = server.await.unwrap();
        assert!(seen.starts_with("POST /token?x=1 HTTP/1.1\r\n"), "{seen}");
        assert!(seen.to_ascii_lowercase().contains(&format!("user-agent: {}", USER_AGENT).to_ascii_lowercase()));
        assert!(seen.ends_with("\r\n\r\ngrant_type=authorization_code&code=c"), "{seen}");
    }

    #[tokio::test]
    async fn a_redirect_is_returned_as_is_and_never_followed() {
        let elsewhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = elsewhere.local_addr().unwrap();
        let response = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{target}/steal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let (addr, server) = serve_once(response.into_bytes()).await;
        let client = loopback_client(ReqwestClientOptions::default());
        let request =
            http::Request::post(format!("http://{addr}/token")).body(Bytes::from_static(b"client_secret=s")).unwrap();
        let response = client.send(request).await.unwrap();
        assert_eq!(response.status(), 307);
        assert_eq!(response.headers()["location"], format!("http://{target}/steal").as_str());
        server.await.unwrap();
        assert_no_connection(&elsewhere).await;
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_too_large_whether_announced_or_streamed() {
        let announced =
            format!("HTTP/1.1 200 OK\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n{}", "a".repeat(2000));
        let (addr, _server) = serve_once(announced.into_bytes()).await;
        let client = loopback_client(ReqwestClientOptions::default().with_max_response_bytes(1000));
        let err = client.send(get(&format!("http://{addr}/"))).await.unwrap_err();
        assert!(matches!(err, HttpError::TooLarge(1000)), "{err:?}");

        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        for _ in 0..4 {
            chunked.extend_from_slice(format!("200\r\n{}\r\n", "b".repeat(0x200)).as_bytes());
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let (addr, _server) = serve_once(chunked.clone()).await;
        let err = client.send(get(&format!("http://{addr}/"))).await.unwrap_err();
        assert!(matches!(err, HttpError::TooLarge(1000)), "{err:?}");

        // Exactly at the cap is fine.
        let client = loopback_client(ReqwestClientOptions::default().with_max_response_bytes(2048));
        let (addr, _server) = serve_once(chunked).await;
        let response = client.send(get(&format!("http://{addr}/"))).await.unwrap();
        assert_eq!(response.body().len(), 2048);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(stream);
        });
        let client = loopback_client(ReqwestClientOptions::default().with_timeout(Duration::from_millis(300)));
        let started = Instant::now();
        let err = client.send(get(&format!("http://{addr}/"))).await.unwrap_err();
        assert!(matches!(err, HttpError::Timeout), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_without_the_url() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = loopback_client(ReqwestClientOptions::default());
        let err = client.send(get(&format!("http://{addr}/token?client_secret=s3cr3t"))).await.unwrap_err();
        assert!(matches!(err, HttpError::Connect(_)), "{err:?}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[tokio::test]
    async fn loopback_only_refuses_other_hosts_before_connecting() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = loopback_client(ReqwestClientOptions::default());
        for url in [
            "http://example.com/".to_owned(),
            "https://example.com/".to_owned(),
            // Names that DNS could point at loopback are still not loopback names.
            format!("http://127.0.0.1.nip.io:{port}/"),
            format!("http://localhost.:{port}/"),
            format!("http://10.0.0.1:{port}/"),
            format!("http://[::2]:{port}/"),
        ] {
            let started = Instant::now();
            let err = client.send(get(&url)).await.unwrap_err();
            assert!(matches!(err, HttpError::Refused(_)), "{url}: {err:?}");
            assert!(started.elapsed() < Duration::from_millis(200), "{url} looked something up");
        }
        assert_no_connection(&listener).await;
    }

    #[tokio::test]
    async fn public_only_never_connects_to_a_loopback_literal_or_a_name_resolving_to_one() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = ReqwestClient::new(ReqwestClientOptions::default().with_public_only(true)).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            format!("http://[::ffff:0:127.0.0.1]:{port}/"),
        ] {
            let err = client.send(get(&url)).await.unwrap_err();
            assert!(matches!(err, HttpError::Refused(_)), "{url}: {err:?}");
        }
        // `localhost` resolves (through the system resolver, no network) to loopback only.
        let err = client.send(get(&format!("http://localhost:{port}/"))).await.unwrap_err();
        assert!(matches!(err, HttpError::Connect(_)), "{err:?}");
        assert!(err.to_string().contains("non-public address"), "{err}");
        assert_no_connection(&listener).await;
    }

    #[tokio::test]
    async fn only_http_and_https_urls_are_called() {
        let client = ReqwestClient::new(ReqwestClientOptions::default()).unwrap();
        for url in ["ftp://127.0.0.1/file", "file:///etc/passwd", "ws://127.0.0.1/"] {
            let request = http::Request::get(url).body(Bytes::new());
            // `http` itself refuses some of these URIs; those never reach us.
            if let Ok(request) = request {
                let err = client.send(request).await.unwrap_err();
                assert!(matches!(err, HttpError::Refused(_)), "{url}: {err:?}");
            }
        }
        let relative = http::Request::get("/token").body(Bytes::new()).unwrap();
        assert!(matches!(client.send(relative).await, Err(HttpError::Refused(_))));
    }

    #[tokio::test]
    async fn loopback_only_calls_localhost_pinned_to_127_0_0_1() {
        let (addr, server) = serve_once(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec()).await;
        let client = loopback_client(ReqwestClientOptions::default());
        let response = client.send(get(&format!("http://localhost:{}/me", addr.port()))).await.unwrap();
        assert_eq!(response.status(), 204);
        let seen = server.await.unwrap();
        assert!(seen.starts_with("GET /me HTTP/1.1\r\n"), "{seen}");
    }
}
