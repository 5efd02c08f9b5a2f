//! [`ConnectConfig`]: the serde-deserialisable configuration of `Connect`, loadable from any
//! format (TOML, JSON, environment…), turned into a [`ConnectBuilder`].

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::ConfigError;
use crate::Secret;
use crate::connect::{
    ConnectBuilder, DEFAULT_EXPIRED_FLOW_RETENTION_SECS, DEFAULT_HTTP_TIMEOUT_SECS, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_PENDING_FLOWS, DEFAULT_MAX_URL_BYTES, DEFAULT_PREFIX, DEFAULT_STATE_TTL_SECS,
};
use crate::core::keys::decode_key_material;
use crate::provider::ProviderConfig;
use crate::{KeyId, TenantId};

/// A key with an id, as in `state_keys = [{ id = "k2", secret = "…" }]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// `[A-Za-z0-9_-]{1,8}`.
    pub id: String,
    /// Base64 (standard or URL-safe alphabet, padding optional).
    pub secret: Secret<String>,
}

/// The `api_keys` table: API key → tenant id. `Debug` shows the tenants only.
#[derive(Clone, Default)]
pub struct ApiKeys(pub Vec<(Secret<String>, String)>);

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(_, t)| format!("[redacted] => {t}"))).finish()
    }
}

impl<'de> Deserialize<'de> for ApiKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        Ok(Self(map.into_iter().map(|(k, t)| (Secret::new(k), t)).collect()))
    }
}

fn default_prefix() -> String {
    DEFAULT_PREFIX.to_owned()
}
const fn default_state_ttl() -> u64 {
    DEFAULT_STATE_TTL_SECS
}
const fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}
const fn default_max_url() -> usize {
    DEFAULT_MAX_URL_BYTES
}
const fn default_http_timeout() -> u64 {
    DEFAULT_HTTP_TIMEOUT_SECS
}
const fn default_max_pending_flows() -> u32 {
    DEFAULT_MAX_PENDING_FLOWS
}
const fn default_flow_retention() -> u64 {
    DEFAULT_EXPIRED_FLOW_RETENTION_SECS
}

/// The library's configuration (the README's "Configuration" table). Every secret in it is a [`Secret`], so
/// `format!("{config:?}")` shows none of them.
///
/// ```
/// let config: dravo_connect::ConnectConfig = serde_json::from_value(serde_json::json!({
///     "public_base_url": "https://api.example.com",
///     "api_keys": { "sk_live_0123456789abcdef": "acme" },
///     "state_secret": "c3RhdGUtc2VjcmV0LXN0YXRlLXNlY3JldC0zMi1ieXRlcw",
///     "encryption_key": "ZW5jcnlwdGlvbi1rZXktZW5jcnlwdGlvbi1rZXktMzI",
/// })).unwrap();
/// assert_eq!(config.prefix, "/v1");
/// assert!(!format!("{config:?}").contains("sk_live"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct ConnectConfig {
    /// The origin (and any outer mount path) the provider redirects to, e.g.
    /// `https://api.example.com` or `https://example.com/connect`.
    pub public_base_url: String,
    /// The route prefix, `/v1` by default (may be empty).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// API key → tenant id.
    #[serde(default)]
    pub api_keys: ApiKeys,
    /// One state secret (≥ 32 bytes, base64), key id `0`.
    #[serde(default)]
    pub state_secret: Option<Secret<String>>,
    /// Several state keys: the first signs, all verify.
    #[serde(default)]
    pub state_keys: Vec<KeyConfig>,
    /// One encryption key (exactly 32 bytes, base64), key id `0`.
    #[serde(default)]
    pub encryption_key: Option<Secret<String>>,
    /// Several encryption keys: the first seals, all open.
    #[serde(default)]
    pub encryption_keys: Vec<KeyConfig>,
    /// State lifetime in seconds (default 600).
    #[serde(default = "default_state_ttl")]
    pub state_ttl_secs: u64,
    /// Request body limit (default 64 KiB).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Request URL limit (default 8 KiB).
    #[serde(default = "default_max_url")]
    pub max_url_bytes: usize,
    /// Outbound request timeout in seconds (default 10).
    #[serde(default = "default_http_timeout")]
    pub http_timeout_secs: u64,
    /// Unfinished flows one tenant may have at once (default 1,000; see
    /// [`ConnectBuilder::max_pending_flows`]).
    #[serde(default = "default_max_pending_flows")]
    pub max_pending_flows: u32,
    /// Seconds a consumed or expired flow is kept after expiry (default 3,600; see
    /// [`ConnectBuilder::expired_flow_retention`]).
    #[serde(default = "default_flow_retention")]
    pub expired_flow_retention_secs: u64,
    /// Allow `http` return URLs beyond loopback hosts (default false).
    #[serde(default)]
    pub allow_http_return_urls: bool,
    /// Refuse outbound requests to anything but loopback addresses (tests, CI, demos).
    #[serde(default)]
    pub outbound_loopback_only: bool,
    /// Allow Mastodon instances that are `http` or resolve to private, loopback or otherwise
    /// non-public addresses (default false; see
    /// [`ConnectBuilder::allow_private_instances`]).
    #[serde(default)]
    pub allow_private_instances: bool,
    /// Generic providers and endpoint overrides of built-in ones.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// Browser binding (the `/go` hop and its cookie); default: on when `public_base_url`
    /// is https, off for http. See [`ConnectBuilder::browser_binding`].
    #[serde(default)]
    pub browser_binding: Option<bool>,
    /// Origins allowed to call the keyed routes from a browser (CORS); default none.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
}

impl ConnectConfig {
    /// A configuration with defaults and no keys.
    pub fn new(public_base_url: impl Into<String>) -> Self {
        Self {
            public_base_url: public_base_url.into(),
            prefix: default_prefix(),
            api_keys: ApiKeys::default(),
            state_secret: None,
            state_keys: Vec::new(),
            encryption_key: None,
            encryption_keys: Vec::new(),
            state_ttl_secs: DEFAULT_STATE_TTL_SECS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_url_bytes: DEFAULT_MAX_URL_BYTES,
            http_timeout_secs: DEFAULT_HTTP_TIMEOUT_SECS,
            max_pending_flows: DEFAULT_MAX_PENDING_FLOWS,
            expired_flow_retention_secs: DEFAULT_EXPIRED_FLOW_RETENTION_SECS,
            allow_http_return_urls: false,
            outbound_loopback_only: false,
            allow_private_instances: false,
            providers: Vec::new(),
            browser_binding: None,
            cors_allowed_origins: Vec::new(),
        }
    }

    /// Turns the configuration into a builder; add a store (and anything else) and build.
    ///
    /// # Errors
    /// [`ConfigError`] for malformed keys, ids or tenant ids.
    pub fn into_builder(self) -> Result<ConnectBuilder, ConfigError> {
        let mut b = ConnectBuilder::new()
            .public_base_url(self.public_base_url)
            .prefix(self.prefix)
            .state_ttl(std::time::Duration::from_secs(self.state_ttl_secs))
            .max_body_bytes(self.max_body_bytes)
            .max_url_bytes(self.max_url_bytes)
            .http_timeout(std::time::Duration::from_secs(self.http_timeout_secs))
            .max_pending_flows(self.max_pending_flows)
            .expired_flow_retention(std::time::Duration::from_secs(self.expired_flow_retention_secs))
            .allow_http_return_urls(self.allow_http_return_urls)
            .outbound_loopback_only(self.outbound_loopback_only)
            .allow_private_instances(self.allow_private_instances)
            .cors_allowed_origins(self.cors_allowed_origins);
        if let Some(on) = self.browser_binding {
            b = b.browser_binding(on);
        }
        for (key, tenant) in self.api_keys.0 {
            b = b.api_key(key, tenant.parse::<TenantId>()?);
        }
        for (id, secret) in keys(self.state_secret, self.state_keys)? {
            b = b.state_key(id, secret);
        }
        for (id, secret) in keys(self.encryption_key, self.encryption_keys)? {
            b = b.encryption_key(id, secret);
        }
        for p in self.providers {
            b = b.provider_config(p);
        }
        Ok(b)
    }
}

type Keys = Vec<(KeyId, Secret<Vec<u8>>)>;

fn keys(single: Option<Secret<String>>, list: Vec<KeyConfig>) -> Result<Keys, ConfigError> {
    let mut out = Vec::new();
    if let Some(s) = single {
        let id = KeyId::zero();
        out.push((id.clone(), decode_key_material(&id, s.expose_secret())?));
    }
    for k in list {
        let id: KeyId = k.id.parse()?;
        out.push((id.clone(), decode_key_material(&id, k.secret.expose_secret())?));
    }
    Ok(out)
}
