//! The engine's face toward the HTTP router (`api`) and the framework adapters: the few
//! settings they need beyond [`Connect`]'s public methods, read here so that no router
//! module reaches into the engine's fields. The router depends on the engine, never the
//! reverse: the origins the builder checks are checked here, not in `api::cors`.

use http::header::{self, HeaderMap, HeaderValue};
use url::Url;

use super::Connect;
use crate::core::auth::Authenticator;
use crate::{ConfigError, ProviderId};

/// Normalises configured origins to their ASCII serialisation (`https://app.example.com`,
/// `http://localhost:3000`). An entry with a path other than `/`, a query, a fragment,
/// userinfo, a non-http(s) scheme, or `*` is refused.
pub(super) fn check_origins(entries: &[String]) -> Result<Vec<String>, ConfigError> {
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
    /// The request's `Origin`, when it is one of the configured CORS origins.
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

    /// The body limit (see [`Connect::max_body_bytes`]).
    pub(crate) fn body_limit(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// The URL limit (path and query) the router answers `414` past.
    pub(crate) fn max_url_bytes(&self) -> usize {
        self.inner.max_url_bytes
    }

    /// The authenticator of the keyed routes.
    pub(crate) fn authenticator(&self) -> &dyn Authenticator {
        self.inner.auth.as_ref()
    }

    /// Whether this instance knows the provider `id`.
    pub(crate) fn has_provider(&self, id: &ProviderId) -> bool {
        self.inner.shared.providers.contains_key(id)
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
