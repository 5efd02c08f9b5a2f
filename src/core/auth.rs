//! Authentication of keyed routes: the [`Authenticator`] trait and [`ApiKeyAuth`].

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ConfigError;
use crate::Secret;
use crate::TenantId;

/// A refused authentication. Always answered as `401 unauthorized` with a fixed message
/// naming the authenticator's [`credential_name`](Authenticator::credential_name), so it
/// tells a stranger nothing about which keys exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("missing or invalid credentials")]
pub struct AuthError;

/// Resolves a request to the tenant it acts for.
///
/// The default is [`ApiKeyAuth`] (`Authorization: Bearer <key>`). A host with its own users
/// and sessions can implement this to map its session cookie to a tenant instead.
///
/// # Security
/// An authenticator that trusts cookies makes every keyed route reachable cross-site; such an
/// implementation must also check that the request is same-origin (`Origin` /
/// `Sec-Fetch-Site`) on every route that changes state.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Returns the tenant the request acts for.
    ///
    /// # Errors
    /// [`AuthError`] when the request carries no acceptable credentials.
    async fn authenticate(&self, request: &http::request::Parts) -> Result<TenantId, AuthError>;

    /// The credential a refused request lacks, named in the `401`'s message: "missing or
    /// invalid {name}". The default, `credentials`, names none; [`ApiKeyAuth`] says
    /// `API key`. A fixed noun (a session cookie's purpose, not its value): the message
    /// tells a stranger nothing about which credentials exist.
    fn credential_name(&self) -> &str {
        "credentials"
    }
}

const MIN_KEY_LEN: usize = 16;
const MAX_KEY_LEN: usize = 512;

/// API-key authentication: `Authorization: Bearer <key>`, the header only (never a query
/// parameter or a cookie), each key mapping to one tenant.
///
/// Keys are kept only as SHA-256 digests; a presented key is hashed and looked up by digest,
/// and the digests compared in constant time.
#[derive(Clone)]
pub struct ApiKeyAuth {
    keys: HashMap<[u8; 32], TenantId>,
}

impl fmt::Debug for ApiKeyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tenants: Vec<&str> = self.keys.values().map(TenantId::as_str).collect();
        tenants.sort_unstable();
        f.debug_struct("ApiKeyAuth").field("tenants", &tenants).finish()
    }
}

fn digest(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

impl ApiKeyAuth {
    /// Builds the key table.
    ///
    /// # Errors
    /// [`ConfigError::ApiKey`] for a key shorter than 16 or longer than 512 characters, a key
    /// with characters outside RFC 6750's `b64token`, or a key listed twice.
    pub fn new<I>(keys: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (Secret<String>, TenantId)>,
    {
        let mut map = HashMap::default();
        for (key, tenant) in keys {
            let k = key.expose_secret();
            let err = |reason| ConfigError::ApiKey { tenant: tenant.to_string(), reason };
            if k.len() < MIN_KEY_LEN || k.len() > MAX_KEY_LEN {
                return Err(err("an API key must be 16 to 512 characters"));
            }
            if !is_b64token(k) {
                return Err(err("an API key may only contain A-Z a-z 0-9 - . _ ~ + / and trailing ="));
            }
            if map.insert(digest(k.as_bytes()), tenant.clone()).is_some() {
                return Err(err("the same API key is listed twice"));
            }
        }
        Ok(Self { keys: map })
    }

    /// The tenant of a presented key, if it is known.
    pub fn tenant_for_key(&self, key: &str) -> Option<TenantId> {
        let d = digest(key.as_bytes());
        let (stored, tenant) = self.keys.get_key_value(&d)?;
        bool::from(stored.ct_eq(&d)).then(|| tenant.clone())
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Reads the bearer token of the single `Authorization` header, if well-formed.
pub(crate) fn bearer_token(parts: &http::request::Parts) -> Option<&str> {
    let mut values = parts.headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim_start_matches(' ');
    (token.len() <= MAX_KEY_LEN && is_b64token(token)).then_some(token)
}

#[async_trait]
impl Authenticator for ApiKeyAuth {
    async fn authenticate(&self, request: &http::request::Parts) -> Result<TenantId, AuthError> {
        bearer_token(request).and_then(|k| self.tenant_for_key(k)).ok_or(AuthError)
    }

    fn credential_name(&self) -> &str {
        "API key"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> ApiKeyAuth {
        ApiKeyAuth::new([
            (Secret::from("key_tenant_one_0123456789"), "t1".parse().unwrap()),
            (Secret::from("key_tenant_two_0123456789"), "t2".parse().unwrap()),
        ])
        .unwrap()
    }

    fn parts(headers: &[(&str, &str)], uri: &str) -> http::request::Parts {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[tokio::test]
    async fn a_known_bearer_key_resolves_to_its_tenant() {
        let a = auth();
        let t = a.authenticate(&parts(&[("authorization", "Bearer key_tenant_two_0123456789")], "/")).await;
        assert_eq!(t.unwrap().as_str(), "t2");
        let t = a.authenticate(&parts(&[("authorization", "bearer key_tenant_one_0123456789")], "/")).await;
        assert_eq!(t.unwrap().as_str(), "t1");
    }

    #[tokio::test]
    async fn unknown_malformed_duplicated_or_query_keys_are_refused() {
        let a = auth();
        for h in [
            vec![],
            vec![("authorization", "Bearer nope_nope_nope_nope_nope")],
            vec![("authorization", "Basic key_tenant_one_0123456789")],
            vec![("authorization", "key_tenant_one_0123456789")],
            vec![
                ("authorization", "Bearer key_tenant_one_0123456789"),
                ("authorization", "Bearer key_tenant_one_0123456789"),
            ],
            vec![("cookie", "api_key=key_tenant_one_0123456789")],
        ] {
            assert_eq!(a.authenticate(&parts(&h, "/")).await, Err(AuthError), "{h:?}");
        }
        let q = parts(&[], "/?api_key=key_tenant_one_0123456789&access_token=key_tenant_one_0123456789");
        assert_eq!(a.authenticate(&q).await, Err(AuthError));
    }

    #[tokio::test]
    async fn a_refusal_names_the_api_key_only_where_one_is_the_credential() {
        let a = auth();
        struct Custom;
        #[async_trait]
        impl Authenticator for Custom {
            async fn authenticate(&self, _: &http::request::Parts) -> Result<TenantId, AuthError> {
                Ok("custom".parse().map_err(|_| AuthError)?)
            }
        }
        assert_eq!(Custom.authenticate(&parts(&[], "/")).await.unwrap().as_str(), "custom");
        assert_eq!((a.credential_name(), Custom.credential_name()), ("API key", "credentials"));
    }

    #[test]
    fn short_odd_or_duplicate_keys_are_refused_at_startup() {
        let t: TenantId = "t".parse().unwrap();
        assert!(ApiKeyAuth::new([(Secret::from("short"), t.clone())]).is_err());
        assert!(ApiKeyAuth::new([(Secret::from("has space in it 1234567"), t.clone())]).is_err());
        assert!(
            ApiKeyAuth::new([
                (Secret::from("key_tenant_one_0123456789"), t.clone()),
                (Secret::from("key_tenant_one_0123456789"), t.clone())
            ])
            .is_err()
        );
        let a = auth();
        assert!(!format!("{a:?}").contains("key_tenant"));
    }
}
