//! A server a tenant names: a checked origin that the engine and a provider call on the
//! tenant's behalf (a Mastodon instance; later an AT Protocol server), and its SSRF check.

use std::net::{IpAddr, SocketAddr};

use url::Url;

use crate::http_client::is_public_ip as is_public;

/// The longest `instance` parameter taken.
const MAX_INSTANCE_LEN: usize = 300;

/// A checked server a tenant named (a Mastodon instance): an `https` origin (`http` only
/// when private instances are allowed), IDNA-normalised, without userinfo, path, query or
/// fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    origin: Url,
}

impl Instance {
    /// Parses the `instance` parameter: a host (`mastodon.social`, `xn--…`, Unicode) with an
    /// optional port, or an origin (`https://mastodon.social`, with an optional trailing `/`).
    ///
    /// # Errors
    /// A message for the client (no value echoed).
    pub fn parse(raw: &str, allow_http: bool) -> Result<Self, &'static str> {
        const BAD: &str = "instance must be a host name such as mastodon.social, or an https origin";
        if raw.is_empty() || raw.len() > MAX_INSTANCE_LEN {
            return Err("instance must be 1 to 300 characters");
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | '\\' | '?' | '#' | '%')) {
            return Err(BAD);
        }
        let lower = raw.to_ascii_lowercase();
        let with_scheme = if lower.starts_with("https://") {
            raw.to_owned()
        } else if lower.starts_with("http://") {
            if !allow_http {
                return Err("instance must be an https origin");
            }
            raw.to_owned()
        } else if raw.contains("://") || raw.contains(':') && raw.split(':').next().is_some_and(|s| s.contains('/')) {
            return Err(BAD);
        } else {
            format!("https://{raw}")
        };
        let url = Url::parse(&with_scheme).map_err(|_| BAD)?;
        let path_ok = url.path().is_empty() || url.path() == "/";
        let authority_len = with_scheme.find("://").map_or(0, |i| i + 3);
        let after = with_scheme.get(authority_len..).unwrap_or("");
        let raw_path = after.find('/').map_or("", |i| after.get(i..).unwrap_or(""));
        if !matches!(url.scheme(), "https" | "http")
            || !path_ok
            || !(raw_path.is_empty() || raw_path == "/")
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(BAD);
        }
        match url.host() {
            Some(url::Host::Domain(d)) => {
                if d.is_empty() || d.ends_with('.') || d.len() > 253 || d.split('.').any(str::is_empty) {
                    return Err(BAD);
                }
            }
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {}
            None => return Err(BAD),
        }
        let origin = Url::parse(&url.origin().ascii_serialization()).map_err(|_| BAD)?;
        Ok(Self { origin })
    }

    /// The origin, without a trailing slash (`https://mastodon.social`).
    pub fn origin(&self) -> String {
        self.origin.origin().ascii_serialization()
    }

    /// The host with a non-default port (`mastodon.social`, `127.0.0.1:4000`): the key of the
    /// instance's registration and the suffix of its account ids.
    pub fn authority(&self) -> String {
        let host = self.origin.host_str().unwrap_or_default();
        match self.origin.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// `path` on this origin.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// Checks that every address the host resolves to is public (see the module docs).
    ///
    /// # Errors
    /// A message for the client when the host does not resolve or resolves to a
    /// non-public address.
    pub async fn check_public(&self) -> Result<(), &'static str> {
        const REFUSED: &str = "instance resolves to a private, loopback, link-local or reserved address";
        let port = self.origin.port_or_known_default().unwrap_or(443);
        let addresses: Vec<IpAddr> = match self.origin.host() {
            Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(url::Host::Domain(d)) => {
                let host = d.to_owned();
                let resolved = tokio::task::spawn_blocking(move || {
                    std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                        .map(|it| it.map(|a: SocketAddr| a.ip()).collect::<Vec<_>>())
                })
                .await;
                match resolved {
                    Ok(Ok(list)) => list,
                    _ => return Err("instance could not be resolved"),
                }
            }
            None => return Err("instance has no host"),
        };
        if addresses.is_empty() {
            return Err("instance could not be resolved");
        }
        if addresses.iter().all(|ip| is_public(*ip)) { Ok(()) } else { Err(REFUSED) }
    }
}
