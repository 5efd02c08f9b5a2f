//! [`Connect`], the handle a host keeps, its [`ConnectBuilder`], and the host-side Rust API
//! that the HTTP routes are a thin face over.
//!
//! Module dependencies point one way (an arrow: "imports"; none points back):
//!
//! ```text
//! adapters ──► api ──► connect ──► hooks, model, core, store/provider traits
//!    │          │         ▲
//!    └──────────┴► api::json (leaf)      config ──► connect   binding ──► connect
//! ```
//!
//! `config` builds a [`ConnectBuilder`]; the engine reads no configuration file. `hooks`
//! defines the hook trait, its events and how one runs; the engine calls it. The router
//! (`api`) and the adapters reach the engine through its methods only (the few settings
//! they need beyond the public ones are in `connect/for_router.rs`), never its fields; the
//! engine never builds an HTTP response.
//!
//! Inside the engine, [`Connect`] is a façade: its methods forward to services, each
//! holding the shared dependencies (`shared.rs`: public URL, prefix, store, providers,
//! clock, secret box, outbound client, hooks) by `Arc` and what it alone uses: `apps.rs`
//! (apps and their parsed allowlists), `tokens.rs` with `lease.rs` (access tokens and
//! their renewal), `selections.rs` (target selections), `maintenance.rs` (sweeps and the
//! re-seal). `accounts.rs` saves an account for all of them; `callback.rs` is the OAuth
//! callback as the steps of the flow. `start`, registration, account reads and
//! `disconnect` are still methods of [`Connect`] itself.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use crate::Secret;
use crate::core::allowlist::AllowlistOptions;
use crate::core::auth::{ApiKeyAuth, Authenticator};
use crate::core::pkce::PkceVerifier;
use crate::core::secret_box::{Sealed, SecretBox};
use crate::core::state::StateSigner;
use crate::http_client::HttpClient;
use crate::model::{
    Account, App, AppPatch, List, NewAccount, NewApp, NewAppPasswordAccount, Revocation, Selection, StartParams,
    Started,
};
use crate::provider::{
    AuthorizeRequest, ClientCredentials, ClientRegistration, GrantTokens, Instance, PasswordLogin, Provider,
    ProviderConfig, ProviderContext, ProviderError, ProviderErrorKind, TargetType, TokenSet,
};
use crate::store::{AccountFilter, AccountRecord, AppRecord, Cursor, InsertFlow, PageRequest, PendingFlow, Store};
use crate::{AccountId, AppId, FlowId, KeyId, ProviderId, SelectionId, TenantId};
use crate::{Clock, SystemClock};
use crate::{ConfigError, Error, ErrorCode};

mod accounts;
mod apps;
mod bounds;
mod callback;
mod for_router;
mod instances;
mod lease;
mod maintenance;
mod selections;
mod shared;
mod tokens;
pub use maintenance::ResealReport;

use accounts::SaveAccount;
pub(crate) use callback::{CallbackOutcome, CallbackParams};
use shared::{Shared, whole_seconds};

/// Default route prefix.
pub(crate) const DEFAULT_PREFIX: &str = "/v1";
/// Default state lifetime: 10 minutes.
pub(crate) const DEFAULT_STATE_TTL_SECS: u64 = 600;
/// Default body limit: 64 KiB.
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Default URL limit: 8 KiB.
pub(crate) const DEFAULT_MAX_URL_BYTES: usize = 8 * 1024;
/// Default outbound timeout: 10 seconds.
pub(crate) const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 10;
/// Default cap on one tenant's unfinished flows.
pub(crate) const DEFAULT_MAX_PENDING_FLOWS: u32 = 1000;
/// Default time consumed and expired flows are kept after expiry: one hour.
pub(crate) const DEFAULT_EXPIRED_FLOW_RETENTION_SECS: u64 = 3600;

/// Field labels bound into the associated data of sealed secrets.
pub(crate) const FIELD_CLIENT_SECRET: &str = "client_secret";
pub(crate) const FIELD_ACCESS_TOKEN: &str = "access_token";
pub(crate) const FIELD_REFRESH_TOKEN: &str = "refresh_token";
pub(crate) const FIELD_PKCE_VERIFIER: &str = "pkce_verifier";
/// The field label of a selection target's own token (followed by the target's id).
pub(crate) const FIELD_TARGET_TOKEN: &str = "target_access_token:";

/// How long a target selection can be read and chosen from after the callback.
pub(crate) const SELECTION_TTL: time::Duration = time::Duration::minutes(10);
/// The longest `return_url` `start` takes, as long as an allowlist entry may be.
const MAX_RETURN_URL_BYTES: usize = 2048;

/// The handle a host keeps: cheap to clone (one `Arc`), `Send + Sync`.
///
/// It serves the HTTP routes ([`Connect::handle`], or the framework adapters) and is the
/// host-side Rust API: apps, `start`, accounts, `access_token`, `disconnect`.
#[derive(Clone)]
pub struct Connect {
    pub(crate) inner: Arc<Inner>,
}

/// The engine's state: the shared dependencies, the services, and the settings of the
/// flows and the routes. Its fields are private to the engine but for the three the
/// browser binding (`binding.rs`) reads.
pub(crate) struct Inner {
    /// What every service uses: store, providers, clock, secret box, public URL.
    pub(crate) shared: Arc<Shared>,
    /// The apps service.
    apps: apps::Apps,
    /// The tokens service.
    tokens: tokens::Tokens,
    /// The target-selection service.
    selections: selections::Selections,
    /// The client for tenant-supplied hosts (Mastodon instances): the default client made
    /// public-only unless private instances are allowed; the host's own client if it gave one.
    instance_http: Arc<dyn HttpClient>,
    pub(crate) signer: StateSigner,
    auth: Arc<dyn Authenticator>,
    state_ttl: time::Duration,
    max_body_bytes: usize,
    max_url_bytes: usize,
    /// Browser binding (see [`ConnectBuilder::browser_binding`]).
    pub(crate) browser_binding: bool,
    /// Origins allowed to call the keyed routes from a browser (CORS); empty: none.
    cors_allowed_origins: Vec<String>,
    /// Whether instances (Mastodon) may be `http` and resolve to non-public addresses.
    allow_private_instances: bool,
    /// Clients registered at instances, cached.
    instances: instances::Instances,
    /// Pending flows a tenant may have at once (see [`ConnectBuilder::max_pending_flows`]).
    max_pending_flows: u32,
    /// The maintenance service.
    maintenance: maintenance::Maintenance,
}

impl fmt::Debug for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner.shared;
        let mut providers: Vec<&str> = i.providers.keys().map(ProviderId::as_str).collect();
        providers.sort_unstable();
        f.debug_struct("Connect")
            .field("public_base_url", &i.public_base_url)
            .field("prefix", &i.prefix)
            .field("providers", &providers)
            .field("store", &i.store)
            .field("signer", &self.inner.signer)
            .field("secrets", &i.secrets)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Connect`]. Everything is checked in [`build`](Self::build), so a bad setting
/// fails at start-up, never per request.
#[must_use]
pub struct ConnectBuilder {
    public_base_url: Option<String>,
    prefix: String,
    api_keys: Vec<(Secret<String>, TenantId)>,
    authenticator: Option<Arc<dyn Authenticator>>,
    state_keys: Vec<(KeyId, Secret<Vec<u8>>)>,
    encryption_keys: Vec<(KeyId, Secret<Vec<u8>>)>,
    store: Option<Arc<dyn Store>>,
    http: Option<Arc<dyn HttpClient>>,
    clock: Arc<dyn Clock>,
    /// The providers in place of the built-in ones (`None`: the built-in ones).
    base_providers: Option<Vec<Arc<dyn Provider>>>,
    providers: Vec<Arc<dyn Provider>>,
    provider_configs: Vec<ProviderConfig>,
    providers_off: Vec<String>,
    state_ttl: Duration,
    max_body_bytes: usize,
    max_url_bytes: usize,
    http_timeout: Duration,
    allow_http_return_urls: bool,
    outbound_loopback_only: bool,
    hooks: Option<Arc<dyn crate::hooks::ConnectHooks>>,
    hook_timeout: Duration,
    browser_binding: Option<bool>,
    cors_allowed_origins: Vec<String>,
    allow_private_instances: bool,
    max_pending_flows: u32,
    flow_retention: Duration,
}

impl fmt::Debug for ConnectBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectBuilder")
            .field("public_base_url", &self.public_base_url)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Default for ConnectBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectBuilder {
    /// A builder with the defaults the README's "Configuration" table lists.
    pub fn new() -> Self {
        Self {
            public_base_url: None,
            prefix: DEFAULT_PREFIX.to_owned(),
            api_keys: Vec::new(),
            authenticator: None,
            state_keys: Vec::new(),
            encryption_keys: Vec::new(),
            store: None,
            http: None,
            clock: Arc::new(SystemClock),
            base_providers: None,
            providers: Vec::new(),
            provider_configs: Vec::new(),
            providers_off: Vec::new(),
            state_ttl: Duration::from_secs(DEFAULT_STATE_TTL_SECS),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_url_bytes: DEFAULT_MAX_URL_BYTES,
            http_timeout: Duration::from_secs(DEFAULT_HTTP_TIMEOUT_SECS),
            allow_http_return_urls: false,
            outbound_loopback_only: false,
            hooks: None,
            hook_timeout: crate::hooks::DEFAULT_HOOK_TIMEOUT,
            browser_binding: None,
            cors_allowed_origins: Vec::new(),
            allow_private_instances: false,
            max_pending_flows: DEFAULT_MAX_PENDING_FLOWS,
            flow_retention: Duration::from_secs(DEFAULT_EXPIRED_FLOW_RETENTION_SECS),
        }
    }

    /// The origin (and any outer mount path) the provider redirects to.
    pub fn public_base_url(mut self, url: impl Into<String>) -> Self {
        self.public_base_url = Some(url.into());
        self
    }

    /// The route prefix (default `/v1`; may be empty).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Adds an API key for a tenant (used unless [`authenticator`](Self::authenticator) is set).
    pub fn api_key(mut self, key: impl Into<Secret<String>>, tenant: TenantId) -> Self {
        self.api_keys.push((key.into(), tenant));
        self
    }

    /// Replaces API-key authentication with the host's own.
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticator = Some(Arc::new(authenticator));
        self
    }

    /// Adds a state key (≥ 32 bytes). The first added signs; all verify.
    pub fn state_key(mut self, id: KeyId, secret: Secret<Vec<u8>>) -> Self {
        self.state_keys.push((id, secret));
        self
    }

    /// Adds an encryption key (32 bytes). The first added seals; all open.
    pub fn encryption_key(mut self, id: KeyId, key: Secret<Vec<u8>>) -> Self {
        self.encryption_keys.push((id, key));
        self
    }

    /// The store (required).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The store, already shared.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The outbound HTTP client (default: [`crate::http_client::ReqwestClient`]).
    pub fn http_client(mut self, client: impl HttpClient) -> Self {
        self.http = Some(Arc::new(client));
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Adds a provider implemented in code. It replaces any provider with the same id: a
    /// built-in one, one from configuration, or one added before.
    pub fn provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// Chooses the providers in place of the built-in ones: the instance knows these, the
    /// generic providers of [`provider_config`](Self::provider_config) and those added with
    /// [`provider`](Self::provider), and no built-in one unless it is among them (e.g.
    /// `[provider::builtin("x", None)?]`). `build` refuses two with one id, and
    /// `[[providers]]` entries that name a built-in provider (choose it with its overrides
    /// through [`provider::builtin`](crate::provider::builtin)).
    pub fn providers(mut self, providers: impl IntoIterator<Item = Arc<dyn Provider>>) -> Self {
        self.base_providers = Some(providers.into_iter().collect());
        self
    }

    /// Turns a provider off (a built-in one, or any other): the instance does not know it.
    /// `build` refuses an id that names no provider.
    pub fn without_provider(mut self, id: impl Into<String>) -> Self {
        self.providers_off.push(id.into());
        self
    }

    /// Adds a generic provider, or endpoint overrides of a built-in one.
    pub fn provider_config(mut self, config: impl Into<ProviderConfig>) -> Self {
        self.provider_configs.push(config.into());
        self
    }

    /// State lifetime (default 10 minutes; 1 to 60 minutes).
    pub fn state_ttl(mut self, ttl: Duration) -> Self {
        self.state_ttl = ttl;
        self
    }

    /// Request body limit (default 64 KiB).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// Request URL limit (default 8 KiB).
    pub fn max_url_bytes(mut self, n: usize) -> Self {
        self.max_url_bytes = n;
        self
    }

    /// Outbound timeout of the default HTTP client (default 10 s).
    pub fn http_timeout(mut self, t: Duration) -> Self {
        self.http_timeout = t;
        self
    }

    /// Allow `http` return URLs beyond loopback hosts.
    pub fn allow_http_return_urls(mut self, yes: bool) -> Self {
        self.allow_http_return_urls = yes;
        self
    }

    /// Restrict the default HTTP client to loopback addresses (tests, CI, demos).
    pub fn outbound_loopback_only(mut self, yes: bool) -> Self {
        self.outbound_loopback_only = yes;
        self
    }

    /// The host's hooks on account events (see [`crate::hooks`]).
    pub fn hooks(mut self, hooks: impl crate::hooks::ConnectHooks) -> Self {
        self.hooks = Some(Arc::new(hooks));
        self
    }

    /// The bound on one hook call (default 5 s, 1 ms to 60 s): a slower hook is logged and
    /// abandoned.
    pub fn hook_timeout(mut self, t: Duration) -> Self {
        self.hook_timeout = t;
        self
    }

    /// Browser binding (RFC 9700 §2.1: tie the state to the user agent). On by default when
    /// `public_base_url` is `https`, off for `http`.
    ///
    /// When on, `start`'s `authorize_url` points at Connect's own hop,
    /// `{public_base_url}{prefix}/oauth/{provider}/go?state=…`, which sets a short-lived
    /// `HttpOnly`, `SameSite=Lax` cookie (`Secure` on https) scoped to the provider's callback
    /// path and redirects to the provider. A callback that arrives without that cookie (a
    /// callback URL replayed from another browser) fails with `oauth_error=browser_mismatch`.
    pub fn browser_binding(mut self, on: bool) -> Self {
        self.browser_binding = Some(on);
        self
    }

    /// Origins (`https://app.example.com`) whose pages may call the keyed routes from a
    /// browser (CORS). None by default: no CORS header is ever sent.
    pub fn cors_allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cors_allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Allow instances of per-instance providers (Mastodon) that are `http` or resolve to
    /// private, loopback, link-local or otherwise non-public addresses (default false).
    ///
    /// # Security
    /// An instance is a URL a tenant supplies and the server then calls: with this on, a
    /// tenant can make the server call addresses on its own network (SSRF). Turn it on only
    /// for tests and deployments where every tenant is trusted.
    pub fn allow_private_instances(mut self, yes: bool) -> Self {
        self.allow_private_instances = yes;
        self
    }

    /// The most unfinished flows one tenant may have at once (default 1,000; at least 1;
    /// `u32::MAX` for no practical cap, as a load test may want): a flow is unfinished from
    /// `start` until its callback or its expiry. Past
    /// it, `start` answers `429 too_many_pending_flows` with `Retry-After` (when the tenant's
    /// earliest pending flow expires), and stores nothing.
    ///
    /// # Security
    /// Bounds what a leaked or misused API key can make the store hold. With several
    /// instances on one database, concurrent `start`s may overshoot the cap by the number of
    /// `start`s in flight for the tenant at that moment (each counts before it inserts); one
    /// instance keeps it exactly.
    pub fn max_pending_flows(mut self, n: u32) -> Self {
        self.max_pending_flows = n;
        self
    }

    /// How long a consumed or expired flow is kept after its state expired (default one
    /// hour; 0 to 7 days), so that a replayed or late callback still redirects to its own
    /// return URL with `state_reused` / `state_expired`; after it, the sweep deletes it and
    /// such a callback gets the static 400 page.
    pub fn expired_flow_retention(mut self, retention: Duration) -> Self {
        self.flow_retention = retention;
        self
    }

    /// Checks everything and builds the handle.
    ///
    /// Some providers need an opt-in store trait: one that lists targets after consent a
    /// [`SelectionStore`](crate::store::SelectionStore), Mastodon a [`ProviderStateStore`](crate::store::ProviderStateStore).
    /// With a store that lacks it, a built-in provider the host did not name is left out (and
    /// a warning logged), and one the host named ([`provider_config`](Self::provider_config),
    /// [`provider`](Self::provider)) fails the build with [`ConfigError::StoreTrait`].
    ///
    /// # Errors
    /// [`ConfigError`] for a missing store or key, a malformed URL, prefix, key or limit, an
    /// invalid or duplicated provider, a named provider whose store trait the store lacks, or
    /// an HTTP client that cannot be built.
    pub fn build(self) -> Result<Connect, ConfigError> {
        let base = self.public_base_url.ok_or_else(|| ConfigError::PublicBaseUrl(String::new()))?;
        let public_base_url = check_base_url(&base)?;
        let prefix = check_prefix(&self.prefix)?;
        check_limit("state_ttl_secs", self.state_ttl.as_secs(), 60, 3600)?;
        check_limit("max_body_bytes", self.max_body_bytes as u64, 1024, 16 * 1024 * 1024)?;
        check_limit("max_url_bytes", self.max_url_bytes as u64, 1024, 64 * 1024)?;
        check_limit("http_timeout_secs", self.http_timeout.as_secs(), 1, 300)?;
        check_limit("max_pending_flows", u64::from(self.max_pending_flows), 1, u64::from(u32::MAX))?;
        check_limit("expired_flow_retention_secs", self.flow_retention.as_secs(), 0, 7 * 86_400)?;
        check_limit("hook_timeout_ms", u64::try_from(self.hook_timeout.as_millis()).unwrap_or(u64::MAX), 1, 60_000)?;
        if self.state_keys.is_empty() {
            return Err(ConfigError::MissingStateKey);
        }
        if self.encryption_keys.is_empty() {
            return Err(ConfigError::MissingEncryptionKey);
        }
        let signer = StateSigner::new(self.state_keys)?;
        let secrets = SecretBox::new(self.encryption_keys)?;
        let store = self.store.ok_or(ConfigError::MissingStore)?;
        let auth: Arc<dyn Authenticator> = match self.authenticator {
            Some(a) => a,
            None => Arc::new(ApiKeyAuth::new(self.api_keys)?),
        };
        let (http, instance_http) = match self.http {
            Some(h) => (h.clone(), h),
            None => {
                let h = default_http_client(self.http_timeout, self.outbound_loopback_only, false)?;
                // A loopback-only client calls nothing public; private instances need loopback.
                let public_only = !self.allow_private_instances && !self.outbound_loopback_only;
                let i = if public_only { default_http_client(self.http_timeout, false, true)? } else { h.clone() };
                (h, i)
            }
        };
        // Providers the host named (configured, chosen or added), as opposed to built-ins
        // present by default: a store that cannot serve a named one fails the build.
        let mut named: std::collections::HashSet<String> = self
            .provider_configs
            .iter()
            .map(|c| c.id().to_owned())
            .chain(self.providers.iter().map(|p| p.id().to_string()))
            .collect();
        if let Some(chosen) = &self.base_providers {
            named.extend(chosen.iter().map(|p| p.id().to_string()));
        }
        let registry = match self.base_providers {
            None => crate::provider::build_registry(&self.provider_configs)?,
            Some(chosen) => crate::provider::build_registry_on(chosen, &self.provider_configs)?,
        };
        let mut providers: HashMap<ProviderId, Arc<dyn Provider>> = HashMap::default();
        for p in registry {
            let id = p.id().clone();
            if providers.insert(id.clone(), p).is_some() {
                return Err(ConfigError::Provider { id: id.to_string(), reason: "defined twice".into() });
            }
        }
        // Added in code: each replaces whatever had its id.
        for p in self.providers {
            providers.insert(p.id().clone(), p);
        }
        for id in &self.providers_off {
            if providers.remove(id.as_str()).is_none() {
                return Err(ConfigError::Provider {
                    id: id.clone(),
                    reason: "cannot be turned off: no such provider".into(),
                });
            }
        }
        let mut left_out = Vec::new();
        for (id, p) in &providers {
            if let Some(store_trait) = missing_store_trait(store.as_ref(), p.as_ref()) {
                if named.contains(id.as_str()) {
                    return Err(ConfigError::StoreTrait { store_trait, needed_by: format!("provider {id}") });
                }
                tracing::warn!(provider = %id, store_trait, "built-in provider left out: the store lacks what it needs");
                left_out.push(id.clone());
            }
        }
        for id in left_out {
            providers.remove(&id);
        }
        let browser_binding = self.browser_binding.unwrap_or_else(|| public_base_url.starts_with("https:"));
        let cors_allowed_origins = for_router::check_origins(&self.cors_allowed_origins)?;
        let state_ttl = time::Duration::seconds(i64::try_from(self.state_ttl.as_secs()).unwrap_or(600));
        let flow_retention = time::Duration::seconds(i64::try_from(self.flow_retention.as_secs()).unwrap_or(3600));
        let shared = Arc::new(Shared {
            public_base_url,
            prefix,
            store,
            providers,
            clock: self.clock,
            secrets,
            http,
            hooks: self.hooks,
            hook_timeout: self.hook_timeout,
        });
        Ok(Connect {
            inner: Arc::new(Inner {
                shared: shared.clone(),
                tokens: tokens::Tokens::new(shared.clone()),
                selections: selections::Selections::new(shared.clone()),
                apps: apps::Apps::new(
                    shared.clone(),
                    AllowlistOptions::default().allow_http(self.allow_http_return_urls),
                ),
                instance_http,
                signer,
                auth,
                state_ttl,
                max_body_bytes: self.max_body_bytes,
                max_url_bytes: self.max_url_bytes,
                browser_binding,
                cors_allowed_origins,
                allow_private_instances: self.allow_private_instances,
                instances: instances::Instances::default(),
                max_pending_flows: self.max_pending_flows,
                maintenance: maintenance::Maintenance::new(shared.clone(), flow_retention),
            }),
        })
    }
}

#[cfg(feature = "reqwest")]
fn default_http_client(
    timeout: Duration,
    loopback_only: bool,
    public_only: bool,
) -> Result<Arc<dyn HttpClient>, ConfigError> {
    let options = crate::http_client::ReqwestClientOptions::default()
        .with_timeout(timeout)
        .with_loopback_only(loopback_only)
        .with_public_only(public_only);
    Ok(Arc::new(crate::http_client::ReqwestClient::new(options)?))
}

#[cfg(not(feature = "reqwest"))]
fn default_http_client(_: Duration, _: bool, _: bool) -> Result<Arc<dyn HttpClient>, ConfigError> {
    Err(ConfigError::MissingHttpClient)
}

/// The opt-in store trait a provider needs and the store lacks, if any: target listing needs
/// a [`SelectionStore`](crate::store::SelectionStore), state of its own (Mastodon's registrations) a
/// [`ProviderStateStore`](crate::store::ProviderStateStore).
fn missing_store_trait(store: &dyn Store, p: &dyn Provider) -> Option<&'static str> {
    if p.targets().is_some() && store.selections().is_none() {
        return Some("SelectionStore");
    }
    if p.registration().is_some() && store.provider_state().is_none() {
        return Some("ProviderStateStore");
    }
    None
}

fn check_limit(name: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) { Ok(()) } else { Err(ConfigError::Limit { name, min, max }) }
}

fn check_base_url(raw: &str) -> Result<String, ConfigError> {
    let err = || ConfigError::PublicBaseUrl(raw.to_owned());
    let url = Url::parse(raw).map_err(|_| err())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(err());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn check_prefix(prefix: &str) -> Result<String, ConfigError> {
    let ok = prefix.is_empty()
        || (prefix.starts_with('/')
            && !prefix.ends_with('/')
            && !prefix.contains("//")
            && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b))
            && !prefix.split('/').any(|s| s == "." || s == ".."));
    if ok { Ok(prefix.to_owned()) } else { Err(ConfigError::Prefix(prefix.to_owned())) }
}

fn check_scopes(scopes: &[String]) -> Result<(), Error> {
    if scopes.len() > 50 {
        return Err(Error::validation("at most 50 scopes"));
    }
    for s in scopes {
        if s.is_empty() || s.len() > 200 || s.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',') {
            return Err(Error::validation(
                "each scope must be 1 to 200 characters without spaces, commas or control characters",
            ));
        }
    }
    Ok(())
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), Error> {
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(Error::validation(format!("{field} must be 1 to {max} characters without control characters")));
    }
    Ok(())
}

/// The error for an OAuth route or app of a provider connected with app passwords only.
fn app_password_only(provider: &ProviderId) -> Error {
    Error::validation(format!(
        "{provider} has no OAuth flow here: register its accounts with POST /accounts, \
         with identifier and app_password"
    ))
}

/// The refusal of an OAuth flow (or app) for a provider that has none: one with a password
/// login says how its accounts are registered.
fn no_code_flow(id: &ProviderId, provider: &dyn Provider) -> Error {
    match provider.password_login() {
        Some(_) => app_password_only(id),
        None => Error::validation(format!("{id} has no OAuth flow")),
    }
}

/// A login identifier: a handle, a DID or an email, 1 to 253 visible characters.
fn check_identifier(identifier: &str) -> Result<(), Error> {
    let ok = (1..=253).contains(&identifier.chars().count())
        && identifier.chars().all(|c| !c.is_whitespace() && !c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::validation("identifier must be a handle, DID or email: 1 to 253 characters without spaces"))
    }
}

/// The API error for a failed app-password login. The provider's own message is never
/// echoed; its error name picks one of a few fixed messages.
fn login_error(login: &dyn PasswordLogin, e: ProviderError) -> Error {
    let err = match e.kind() {
        ProviderErrorKind::Rejected => Error::new(
            ErrorCode::InvalidToken,
            login.refusal_message(&e).unwrap_or("the provider refused the identifier or app password"),
        ),
        ProviderErrorKind::Unavailable => {
            Error::new(ErrorCode::ProviderError, "the provider is unavailable or rate limiting; try again later")
        }
        _ => Error::new(ErrorCode::ProviderError, "the provider failed to answer the login request"),
    };
    err.with_source(e)
}

impl Connect {
    /// A builder.
    pub fn builder() -> ConnectBuilder {
        ConnectBuilder::new()
    }

    /// The route prefix (e.g. `/v1`).
    pub fn prefix(&self) -> &str {
        &self.inner.shared.prefix
    }

    /// The public base URL, without a trailing slash.
    pub fn public_base_url(&self) -> &str {
        &self.inner.shared.public_base_url
    }

    /// The callback URL of a provider: `{public_base_url}{prefix}/oauth/{provider}/callback`.
    /// Register it at the provider.
    pub fn redirect_uri(&self, provider: &ProviderId) -> String {
        self.inner.shared.redirect_uri(provider)
    }

    /// The providers this instance knows, sorted by id.
    pub fn providers(&self) -> Vec<Arc<dyn Provider>> {
        let mut v: Vec<_> = self.inner.shared.providers.values().cloned().collect();
        v.sort_by(|a, b| a.id().cmp(b.id()));
        v
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.shared.store
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.inner.shared.now()
    }

    fn provider(&self, id: &ProviderId) -> Result<(ProviderId, Arc<dyn Provider>), Error> {
        let p = self.inner.shared.providers.get(id).ok_or_else(|| Error::not_found("provider"))?;
        Ok((id.clone(), Arc::clone(p)))
    }

    // ---------------------------------------------------------------- apps

    /// Stores a new OAuth app for the tenant. The secret is sealed (AEAD, the app's id as
    /// associated data) and never returned.
    ///
    /// # Errors
    /// `validation_failed` for an unknown provider, an empty client id or secret, a bad
    /// allowlist or scope; `server_error` when the store fails.
    pub async fn create_app(&self, tenant: &TenantId, new: NewApp) -> Result<App, Error> {
        self.inner.apps.create(tenant, new).await
    }

    /// Lists the tenant's apps, optionally for one provider.
    ///
    /// # Errors
    /// `server_error` when the store fails.
    pub async fn apps(
        &self,
        tenant: &TenantId,
        provider: Option<&ProviderId>,
        page: PageRequest,
    ) -> Result<List<App>, Error> {
        self.inner.apps.list(tenant, provider, page).await
    }

    /// Reads one of the tenant's apps.
    ///
    /// # Errors
    /// `not_found` (also for another tenant's app); `server_error`.
    pub async fn app(&self, tenant: &TenantId, id: &AppId) -> Result<App, Error> {
        self.inner.apps.get(tenant, id).await
    }

    /// Changes an app; absent fields are unchanged.
    ///
    /// # Errors
    /// `not_found`; `validation_failed` as for [`create_app`](Self::create_app); `server_error`.
    pub async fn update_app(&self, tenant: &TenantId, id: &AppId, patch: AppPatch) -> Result<App, Error> {
        self.inner.apps.update(tenant, id, patch).await
    }

    /// Deletes an app. Its pending flows are cancelled; with `cascade` its accounts are
    /// deleted too, without it the call fails while accounts use the app.
    ///
    /// # Errors
    /// `not_found`; `app_in_use`; `server_error`.
    pub async fn delete_app(&self, tenant: &TenantId, id: &AppId, cascade: bool) -> Result<(), Error> {
        self.inner.apps.delete(tenant, id, cascade).await
    }

    // ---------------------------------------------------------------- start

    /// Starts a connect flow: checks the return URL against the app's allowlist, stores a
    /// pending flow (with the PKCE verifier) and answers the provider's authorize URL.
    ///
    /// # Errors
    /// `not_found` (unknown provider or app), `app_not_configured`, `app_id_required`,
    /// `return_url_not_allowed`, `invalid_request` (scopes outside the app's), `server_error`.
    ///
    /// # Security
    /// The state carries only a key id, the random flow id, the expiry and a tag; the
    /// verifier stays in the store. `external_id` attributes the resulting account to the
    /// host's user whoever's browser completes the flow.
    pub async fn start(&self, tenant: &TenantId, provider: &ProviderId, params: StartParams) -> Result<Started, Error> {
        let (provider_id, mut provider) = self.provider(provider)?;
        let registers = provider.registration().is_some();
        if provider.code_flow().is_none() && !registers {
            return Err(no_code_flow(&provider_id, provider.as_ref()));
        }
        let instance = self.check_instance_param(&provider_id, registers, params.instance.as_deref())?;
        let app = self.resolve_app(tenant, &provider_id, params.app_id.as_ref()).await?;
        if params.return_url.len() > MAX_RETURN_URL_BYTES {
            return Err(Error::new(
                ErrorCode::ReturnUrlNotAllowed,
                format!("return_url is longer than {MAX_RETURN_URL_BYTES} bytes"),
            ));
        }
        let allowlist = self.inner.apps.allowlist_for(&app).map_err(Error::server)?;
        let return_url = allowlist
            .check(&params.return_url)
            .map_err(|e| Error::new(ErrorCode::ReturnUrlNotAllowed, format!("return_url is not allowed: {e}")))?;
        let default_scopes = match (provider.registration(), provider.code_flow()) {
            (Some(registration), _) => registration.default_scopes(),
            (None, Some(flow)) => flow.default_scopes(),
            (None, None) => &[],
        };
        let app_scopes: &[String] = if app.scopes.is_empty() { default_scopes } else { &app.scopes };
        let mut scopes = match params.scopes {
            Some(s) => {
                if s.iter().any(|x| !app_scopes.contains(x)) {
                    return Err(Error::invalid_request("scopes must be a subset of the app's scopes"));
                }
                s
            }
            None => app_scopes.to_vec(),
        };
        let mut client_id = Cow::Borrowed(app.client_id.as_str());
        if let (Some(instance), Some(registration)) = (&instance, provider.registration()) {
            // Boxed: these futures (DNS, registration over HTTP) are large and only providers
            // with per-server clients need them; inline they would grow every `start`'s
            // future, which adapters box.
            Box::pin(self.check_instance_address(instance)).await?;
            let client = Box::pin(self.instance_client(registration, &app, instance)).await?;
            scopes = registration.scopes_for(&scopes, &client.scopes);
            client_id = Cow::Owned(client.client_id);
            provider = client.provider;
        }
        let flow = provider.code_flow().ok_or_else(|| no_code_flow(&provider_id, provider.as_ref()))?;
        let now = self.now();
        let expires_at = now + self.inner.state_ttl;
        let flow_id = FlowId::generate();
        let state = self.inner.signer.sign(&provider_id, &flow_id, expires_at);
        let verifier = flow.uses_pkce().then(PkceVerifier::generate);
        let redirect_uri = self.redirect_uri(&provider_id);
        // With browser binding the browser goes to our hop first, and the hop builds the
        // provider's URL (and the PKCE challenge) from the stored flow; building it here too
        // would be thrown away.
        let authorize_url = if self.inner.browser_binding {
            self.hop_url(&provider_id, &state)
        } else {
            let challenge = verifier.as_ref().map(PkceVerifier::challenge);
            flow.authorize_url(&AuthorizeRequest {
                client_id: &client_id,
                redirect_uri: &redirect_uri,
                scopes: &scopes,
                state: &state,
                code_challenge: challenge.as_deref(),
            })
            .map(String::from)
            .map_err(|e| {
                Error::new(ErrorCode::ProviderError, "provider authorize URL could not be built").with_source(e)
            })?
        };
        let flow_text = flow_id.to_string();
        let flow_key = flow_text.as_str();
        let mut flow = PendingFlow::new(
            flow_id,
            tenant.clone(),
            app.id.clone(),
            provider_id.clone(),
            return_url,
            redirect_uri,
            now,
            expires_at,
        );
        flow.pkce_verifier = verifier.map(|v| {
            self.inner.shared.secrets.seal(flow_key, FIELD_PKCE_VERIFIER, v.secret().expose_secret().as_bytes())
        });
        flow.scopes = scopes;
        flow.external_id = params.external_id;
        flow.instance = instance.as_ref().map(Instance::origin);
        if let InsertFlow::TooManyPending { next_expiry } =
            self.inner.shared.store.insert_flow(flow, self.inner.max_pending_flows).await?
        {
            let wait = (next_expiry - now).whole_seconds().max(1);
            tracing::info!(tenant = %tenant, "start refused: too many pending flows");
            return Err(Error::new(
                ErrorCode::TooManyPendingFlows,
                format!(
                    "this tenant has {} unfinished connect flows; retry when one ends or expires",
                    self.inner.max_pending_flows
                ),
            )
            .with_retry_after(Duration::from_secs(wait.unsigned_abs())));
        }
        tracing::debug!(flow_id = %flow_key, provider = %provider_id, app_id = %app.id, "flow started");
        self.inner.maintenance.sweep_if_due(now).await;
        Ok(Started { authorize_url, state_expires_at: expires_at })
    }

    async fn resolve_app(
        &self,
        tenant: &TenantId,
        provider: &ProviderId,
        app_id: Option<&AppId>,
    ) -> Result<Arc<AppRecord>, Error> {
        if let Some(id) = app_id {
            return self
                .inner
                .shared
                .store
                .get_app(tenant, id)
                .await?
                .filter(|a| &a.provider == provider)
                .map(Arc::new)
                .ok_or_else(|| Error::not_found("app"));
        }
        // Two apps are enough to know whether the caller must name one.
        let page = PageRequest { limit: 2, after: None };
        let mut apps = self.inner.shared.store.list_apps(tenant, Some(provider), &page).await?.items.into_iter();
        match (apps.next(), apps.next()) {
            (Some(app), None) => Ok(Arc::new(app)),
            (None, _) => Err(Error::new(
                ErrorCode::AppNotConfigured,
                format!("no oauth app is configured for provider {provider}"),
            )),
            (Some(_), Some(_)) => Err(Error::new(
                ErrorCode::AppIdRequired,
                format!("several oauth apps exist for provider {provider}; pass app_id"),
            )),
        }
    }

    pub(crate) fn open_string(&self, row: &str, field: &str, sealed: &Sealed) -> Result<Secret<String>, Error> {
        self.inner.shared.open_string(row, field, sealed)
    }

    // ---------------------------------------------------------------- accounts

    /// Lists the tenant's accounts.
    ///
    /// # Errors
    /// `server_error` when the store fails.
    pub async fn accounts(
        &self,
        tenant: &TenantId,
        filter: AccountFilter,
        page: PageRequest,
    ) -> Result<List<Account>, Error> {
        let p = self.inner.shared.store.list_accounts(tenant, &filter, &page).await?;
        let next_cursor = p.next.as_ref().map(Cursor::encode);
        Ok(List { data: p.items.into_iter().map(Account::from).collect(), next_cursor })
    }

    /// Reads one of the tenant's accounts.
    ///
    /// # Errors
    /// `not_found` (also for another tenant's account); `server_error`.
    pub async fn account(&self, tenant: &TenantId, id: &AccountId) -> Result<Account, Error> {
        let r = self.inner.shared.store.get_account(tenant, id).await?.ok_or_else(|| Error::not_found("account"))?;
        Ok(r.into())
    }

    /// Registers an account from an access token the caller already holds; the token is
    /// checked by a profile call. Reconnecting the same provider account updates it.
    ///
    /// # Errors
    /// `validation_failed` (unknown provider, an access token that is not 1 to 8192 bytes
    /// of visible ASCII, a refresh token over 8192 bytes), `not_found` (unknown app),
    /// `invalid_token` (the provider refuses the token), `provider_error` (also for a profile
    /// over the bounds of [`Provider`]), `server_error`.
    pub async fn register_account(&self, tenant: &TenantId, new: NewAccount) -> Result<Account, Error> {
        let provider_id = new.provider.clone();
        let provider = self
            .inner
            .shared
            .providers
            .get(&provider_id)
            .cloned()
            .ok_or_else(|| Error::validation("unknown provider"))?;
        if provider.password_login().is_some() {
            return Err(Error::validation(format!(
                "{provider_id} accounts are registered with identifier and app_password, not access_token"
            )));
        }
        if provider.registration().is_some() {
            return Err(Error::validation(format!(
                "{provider_id} accounts are connected through start with an instance, not registered from a token"
            )));
        }
        let Some(code_flow) = provider.code_flow() else {
            return Err(no_code_flow(&provider_id, provider.as_ref()));
        };
        let token = new.access_token.expose_secret();
        if token.is_empty() || token.len() > bounds::MAX_TOKEN_BYTES {
            return Err(Error::validation("access_token must be 1 to 8192 bytes"));
        }
        if new.refresh_token.as_ref().is_some_and(|t| t.expose_secret().len() > bounds::MAX_TOKEN_BYTES) {
            return Err(Error::validation("refresh_token must be at most 8192 bytes"));
        }
        // A bearer token is visible ASCII (RFC 6750 §2.1); anything else cannot be sent in a
        // header, and is the caller's mistake, not the provider's (found by Schemathesis).
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::validation("access_token must be visible ASCII characters"));
        }
        let app = match &new.app_id {
            Some(app_id) => Some(
                self.inner
                    .shared
                    .store
                    .get_app(tenant, app_id)
                    .await?
                    .filter(|a| a.provider == provider_id)
                    .ok_or_else(|| Error::not_found("app"))?,
            ),
            None => None,
        };
        let http = self.inner.shared.http.as_ref();
        // With the app known, the profile call can carry what its credentials sign (Meta's
        // `appsecret_proof`); without one, the token is checked as it is.
        let fetched = match &app {
            Some(app) => {
                let secret = self.open_string(app.id.as_str(), FIELD_CLIENT_SECRET, &app.client_secret)?;
                let ctx = ProviderContext {
                    http,
                    credentials: ClientCredentials { client_id: &app.client_id, client_secret: &secret },
                };
                code_flow.fetch_profile_with(ctx, &new.access_token).await
            }
            None => code_flow.fetch_profile(http, &new.access_token).await,
        };
        let profile = fetched.map_err(|e| {
            match e.kind() {
                ProviderErrorKind::Rejected => {
                    Error::new(ErrorCode::InvalidToken, "the provider refused the access token")
                }
                _ => Error::new(ErrorCode::ProviderError, "the provider failed to answer the profile request"),
            }
            .with_source(e)
        })?;
        let profile = bounds::check_profile(profile).map_err(|cap| {
            Error::new(ErrorCode::ProviderError, "the provider's profile answer is over the size limits")
                .with_source(cap)
        })?;
        let (record, created) = accounts::save(
            &self.inner.shared,
            SaveAccount {
                tenant,
                provider: &provider_id,
                app_id: new.app_id,
                external_id: new.external_id,
                profile,
                requested_scopes: Vec::new(),
                tokens: TokenSet {
                    access_token: new.access_token,
                    refresh_token: new.refresh_token,
                    expires_in: None,
                    scopes: None,
                },
                expires_at: new.expires_at.map(whole_seconds),
                target_type: TargetType::Person,
                parent_account_id: None,
            },
        )
        .await?;
        accounts::report_saved(&self.inner.shared, tenant, &record, created).await;
        Ok(record.into())
    }

    /// Registers an account with an app password (Bluesky): creates a session at the
    /// provider, stores its access and refresh tokens (sealed) and forgets the password. The
    /// account id at the provider is the DID and the username the handle; registering the
    /// same account again (with the same `external_id`) updates it. Accounts registered so
    /// have no app: they refresh and end their session with the session's refresh token.
    ///
    /// # Errors
    /// `validation_failed` (unknown provider, a provider without app passwords, a malformed
    /// identifier or app password), `invalid_token` (the provider refused the login: a wrong
    /// identifier or password, an account asking for an emailed sign-in code, a suspended
    /// account), `provider_error` (the provider failed or is rate limiting, or its session
    /// answer is over the bounds of [`Provider`]), `server_error`.
    ///
    /// # Security
    /// The app password is sent to the provider once, over the configured HTTP client, and
    /// is neither stored nor logged.
    pub async fn register_app_password_account(
        &self,
        tenant: &TenantId,
        new: NewAppPasswordAccount,
    ) -> Result<Account, Error> {
        let provider_id = new.provider.clone();
        let provider = self
            .inner
            .shared
            .providers
            .get(&provider_id)
            .cloned()
            .ok_or_else(|| Error::validation("unknown provider"))?;
        let Some(login) = provider.password_login() else {
            return Err(Error::validation(format!(
                "{provider_id} takes no app password: connect it with the OAuth flow or pass access_token"
            )));
        };
        check_identifier(&new.identifier)?;
        login.check_password(&new.app_password).map_err(Error::validation)?;
        let session = login
            .create_session(self.inner.shared.http.as_ref(), &new.identifier, &new.app_password)
            .await
            .map_err(|e| login_error(login, e))?;
        let over = |cap: bounds::Cap| {
            Error::new(ErrorCode::ProviderError, "the provider's session answer is over the size limits")
                .with_source(cap)
        };
        bounds::check_tokens(&session.tokens).map_err(over)?;
        let (tokens, profile) = (session.tokens, bounds::check_profile(session.profile).map_err(over)?);
        let expires_at = login.access_token_expires_at(&tokens.access_token).map(whole_seconds);
        // Registering the same account again replaces its session: the old one is ended
        // after the new one is stored (best effort), so it does not linger at the provider.
        let previous = self
            .inner
            .shared
            .store
            .find_account(tenant, &provider_id, &profile.id, new.external_id.as_ref())
            .await?
            .filter(|a| a.refresh_token.is_some());
        let (record, created) = accounts::save(
            &self.inner.shared,
            SaveAccount {
                tenant,
                provider: &provider_id,
                app_id: None,
                external_id: new.external_id,
                profile,
                requested_scopes: Vec::new(),
                tokens,
                expires_at,
                target_type: TargetType::Person,
                parent_account_id: None,
            },
        )
        .await?;
        tracing::info!(account_id = %record.id, provider = %provider_id, created, "account registered with an app password");
        if let Some(previous) = previous.filter(|p| p.id == record.id) {
            let ended = self.end_session(login, &previous).await;
            tracing::debug!(account_id = %record.id, revocation = ?ended, "the replaced session was ended");
        }
        accounts::report_saved(&self.inner.shared, tenant, &record, created).await;
        Ok(record.into())
    }

    // ---------------------------------------------------------------- target selection

    /// Reads a pending target selection: the targets a connect found (Pages,
    /// organisations, Instagram accounts, boards), for the user to pick from. Never a token.
    ///
    /// # Errors
    /// `not_found` for an unknown, expired (10 minutes after the callback), already chosen
    /// or other tenant's selection; `server_error`.
    pub async fn selection(&self, tenant: &TenantId, id: &SelectionId) -> Result<Selection, Error> {
        self.inner.selections.get(tenant, id).await
    }

    /// Finishes a selection: each chosen target becomes an account (or, reconnecting,
    /// updates its account) with its own token (a Page token) or, for targets without one,
    /// a copy of the person's access token (renewed through the person by
    /// [`access_token`](Self::access_token)); its `target_type` says what it is and its `parent_account_id`
    /// names the person account. A selection can be chosen from once: a second call is
    /// `not_found`. Runs the `connected` or `reconnected` hook once per account.
    ///
    /// # Errors
    /// `validation_failed` when `target_ids` is empty, repeats an id or names a target that
    /// is not in the selection (the selection stays pending); `not_found` for an unknown,
    /// expired, already chosen or other tenant's selection, or when the person account or
    /// the app was deleted meanwhile; `server_error`.
    pub async fn choose_targets(
        &self,
        tenant: &TenantId,
        id: &SelectionId,
        target_ids: &[String],
    ) -> Result<Vec<Account>, Error> {
        self.inner.selections.choose(tenant, id, target_ids).await
    }

    /// Deletes an account (hard delete), first revoking its tokens at the provider where it
    /// can: the refresh token (the long-lived one), then the access token, as far as the
    /// provider's endpoint takes them (best effort: a failed revocation never blocks the
    /// delete, and is reported as [`Revocation::Failed`]).
    ///
    /// # Errors
    /// `not_found`; `server_error`.
    pub async fn disconnect(&self, tenant: &TenantId, id: &AccountId) -> Result<Revocation, Error> {
        let account =
            self.inner.shared.store.get_account(tenant, id).await?.ok_or_else(|| Error::not_found("account"))?;
        let revocation = self.revoke(&account).await;
        tracing::info!(account_id = %id, revocation = ?revocation, "account disconnected");
        if !self.inner.shared.store.delete_account(tenant, id).await? {
            return Err(Error::not_found("account"));
        }
        let view = Account::from(account);
        self.run_hook(crate::hooks::HookEvent::Disconnected(tenant, &view, revocation)).await;
        Ok(revocation)
    }

    /// Runs the `connected` or `reconnected` hook for a saved account.
    /// Runs the host's hook for `event` (see [`crate::hooks::run`]).
    pub(crate) async fn run_hook(&self, event: crate::hooks::HookEvent<'_>) {
        self.inner.shared.run_hook(event).await;
    }

    async fn revoke(&self, account: &AccountRecord) -> Revocation {
        let Some(provider) = self.inner.shared.providers.get(&account.provider).cloned() else {
            return Revocation::Unsupported;
        };
        // An account without an app holds a password login's session, where the provider
        // has one; the others were connected with the app's code flow.
        if let (Some(login), None) = (provider.password_login(), &account.app_id) {
            return self.end_session(login, account).await;
        }
        let Some(app_id) = &account.app_id else { return Revocation::Unsupported };
        let Ok(Some(app)) = self.inner.shared.store.get_app(&account.tenant, app_id).await else {
            return Revocation::Unsupported;
        };
        if let Some(registration) = provider.registration() {
            return self.revoke_at_instance(registration, account, app_id).await;
        }
        let Some(code_flow) = provider.code_flow() else { return Revocation::Unsupported };
        let Ok(secret) = self.open_string(app.id.as_str(), FIELD_CLIENT_SECRET, &app.client_secret) else {
            return Revocation::Failed;
        };
        let Some((access, refresh)) = self.open_tokens(account) else { return Revocation::Failed };
        let ctx = ProviderContext {
            http: self.inner.shared.http.as_ref(),
            credentials: ClientCredentials { client_id: &app.client_id, client_secret: &secret },
        };
        match code_flow.revoke(ctx, GrantTokens::new(&access, refresh.as_ref())).await {
            Ok(()) => Revocation::Revoked,
            Err(e) if e.kind() == ProviderErrorKind::Unsupported => Revocation::Unsupported,
            Err(e) => {
                tracing::warn!(account_id = %account.id, error = %e, "revocation failed");
                Revocation::Failed
            }
        }
    }

    /// Ends a password login's session at the provider with its refresh token (no client
    /// credentials).
    async fn end_session(&self, login: &dyn PasswordLogin, account: &AccountRecord) -> Revocation {
        if account.refresh_token.is_none() {
            return Revocation::Unsupported;
        }
        let Some((access, refresh)) = self.open_tokens(account) else { return Revocation::Failed };
        match login.end_session(self.inner.shared.http.as_ref(), GrantTokens::new(&access, refresh.as_ref())).await {
            Ok(()) => Revocation::Revoked,
            Err(e) if e.kind() == ProviderErrorKind::Unsupported => Revocation::Unsupported,
            Err(e) => {
                tracing::warn!(account_id = %account.id, error = %e, "ending the session failed");
                Revocation::Failed
            }
        }
    }

    /// Revokes an account's token at its instance, with the app's client there: the instance
    /// is the suffix of the account's `{id}@{host}`.
    async fn revoke_at_instance(
        &self,
        registration: &dyn ClientRegistration,
        account: &AccountRecord,
        app_id: &AppId,
    ) -> Revocation {
        let Some(authority) = registration.account_server(&account.provider_account_id) else {
            return Revocation::Unsupported;
        };
        let (client, instance) = match self
            .stored_instance_client(registration, &account.provider, &account.tenant, app_id, authority)
            .await
        {
            Ok(Some(found)) => found,
            Ok(None) => return Revocation::Unsupported,
            Err(_) => return Revocation::Failed,
        };
        if let Err(e) = self.check_instance_address(&instance).await {
            tracing::warn!(account_id = %account.id, error = %e, "instance refused at revocation");
            return Revocation::Failed;
        }
        let Some((access, refresh)) = self.open_tokens(account) else { return Revocation::Failed };
        let ctx = ProviderContext {
            http: self.inner.instance_http.as_ref(),
            credentials: ClientCredentials { client_id: &client.client_id, client_secret: &client.client_secret },
        };
        let Some(code_flow) = client.provider.code_flow() else { return Revocation::Unsupported };
        match code_flow.revoke(ctx, GrantTokens::new(&access, refresh.as_ref())).await {
            Ok(()) => Revocation::Revoked,
            Err(e) => {
                tracing::warn!(account_id = %account.id, error = %e, "revocation failed");
                Revocation::Failed
            }
        }
    }

    /// An account's access and refresh tokens, opened for revocation; `None` (logged) when
    /// either cannot be opened (logged by [`Self::open_string`]).
    fn open_tokens(&self, account: &AccountRecord) -> Option<(Secret<String>, Option<Secret<String>>)> {
        let id = account.id.as_str();
        let access = self.open_string(id, FIELD_ACCESS_TOKEN, &account.access_token).ok()?;
        let refresh =
            account.refresh_token.as_ref().map(|t| self.open_string(id, FIELD_REFRESH_TOKEN, t)).transpose().ok()?;
        Some((access, refresh))
    }

    /// A valid access token for the account, refreshed first when it is expired or about to
    /// expire (one refresh at a time per account; concurrent callers share it, also across
    /// app instances sharing one store: the refresh holds the account's lease in the store,
    /// and the others wait for the refreshed row). A picked target without tokens of its own
    /// (a Pinterest board, a LinkedIn organisation) is renewed through its person account.
    ///
    /// # Errors
    /// `not_found`; `invalid_token` when the account is expired or revoked, or the provider
    /// refused the refresh for good (the account is then marked `expired`);
    /// `provider_error` when the provider failed transiently or answered over the bounds of
    /// [`Provider`] (the stored tokens are kept);
    /// `server_error`.
    ///
    /// # Security
    /// The returned value is the live credential: keep it out of logs.
    pub async fn access_token(&self, tenant: &TenantId, id: &AccountId) -> Result<Secret<String>, Error> {
        self.inner.tokens.access_token(tenant, id).await
    }

    /// Deletes pending and consumed flows (and target selections) that expired more than an
    /// hour ago, and returns how many rows went (none with a store without
    /// [`MaintenanceStore`](crate::store::MaintenanceStore), which must expire its flows its
    /// own way). [`start`](Self::start)
    /// already does this in the background at most once a minute (by the injected clock),
    /// so the flow table does not grow without bound; call it yourself for a host that
    /// starts no flows for long stretches.
    ///
    /// # Errors
    /// `server_error` when the store fails.
    pub async fn sweep_flows(&self) -> Result<u64, Error> {
        self.inner.maintenance.sweep_flows(self.now()).await
    }
}
