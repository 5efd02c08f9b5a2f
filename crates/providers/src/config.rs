//! The `[[providers]]` configuration table: generic OAuth 2.0 providers described by
//! configuration, and endpoint overrides of the built-in ones, plus the registry built from
//! them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;
use url::Url;

use super::{GenericProvider, Provider};
use dravo_connect_core::ConfigError;
use dravo_connect_core::ProviderId;

/// Every built-in provider id this build knows.
///
/// A `[[providers]]` entry whose `id` is in this list overrides that provider's endpoint URLs
/// (and nothing else); any other `id` describes a generic provider.
pub(crate) const BUILTIN_PROVIDERS: &[&str] = &[
    "x",
    "linkedin",
    "facebook",
    "instagram",
    "instagram_facebook",
    "threads",
    "youtube",
    "tiktok",
    "pinterest",
    "reddit",
    "bluesky",
    "mastodon",
    "google_business",
    "discord",
    "twitch",
    "tumblr",
    "snapchat",
];

/// One `[[providers]]` entry: a generic OAuth 2.0 provider described by configuration, or
/// endpoint overrides of a built-in one.
///
/// In TOML the `id` says which: an entry whose `id` names a built-in provider (`x`,
/// `linkedin`, `facebook`, `instagram`, `instagram_facebook`, `threads`, `youtube`,
/// `tiktok`, `pinterest`, `reddit`, `tumblr`, `snapchat`, `bluesky`) is [`BuiltinOverrides`]
/// and may only give endpoint URLs (`authorize_url`, `token_url`, `userinfo_url`,
/// `revoke_url`, and for the Meta providers `exchange_url` and `refresh_url`, for those with
/// target selection `targets_url`; `bluesky` takes `service_url` alone, its XRPC endpoints follow from it):
/// the built-in keeps everything else, so a test or a staging setup can point a real
/// provider's adapter at a local server. `mastodon` takes no entry at all: its endpoints are
/// those of the instance given at `start`. Any other `id` is a [`GenericConfig`]. A field
/// that belongs to the other kind of entry is refused when the entry is read, never ignored.
///
/// Every endpoint must be an `https` URL without userinfo or fragment; `http` is accepted
/// only for loopback hosts (`localhost`, `127.0.0.0/8`, `[::1]`).
///
/// ```
/// use dravo_connect_providers::{GenericProvider, ProviderConfig, TokenAuth};
///
/// #[derive(serde::Deserialize)]
/// struct Config {
///     providers: Vec<ProviderConfig>,
/// }
///
/// let config: Config = toml::from_str(r#"
///     [[providers]]
///     id = "acme"
///     authorize_url = "https://auth.acme.example/oauth/authorize"
///     token_url = "https://auth.acme.example/oauth/token"
///     userinfo_url = "https://api.acme.example/v1/me"
///     scopes = ["profile", "post"]
///     token_auth = "body"
///     authorize_params = { prompt = "consent" }
///
///     [providers.profile]
///     id = "/data/id"
///     username = "/data/handle"
///
///     [[providers]]
///     id = "x"
///     token_url = "http://127.0.0.1:4000/2/oauth2/token"
/// "#).unwrap();
/// let ProviderConfig::Generic(acme) = &config.providers[0] else { panic!("a generic entry") };
/// assert_eq!(acme.token_auth, Some(TokenAuth::Body));
/// let acme = GenericProvider::from_config(acme).unwrap();
/// assert!(matches!(config.providers[1], ProviderConfig::Builtin(_)));
/// # let _ = acme;
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawEntry")]
#[non_exhaustive]
pub enum ProviderConfig {
    /// A generic OAuth 2.0 provider.
    Generic(GenericConfig),
    /// Endpoint overrides of a built-in provider.
    Builtin(BuiltinOverrides),
}

impl ProviderConfig {
    /// The entry's id.
    pub fn id(&self) -> &str {
        match self {
            Self::Generic(c) => &c.id,
            Self::Builtin(c) => &c.id,
        }
    }
}

impl From<GenericConfig> for ProviderConfig {
    fn from(config: GenericConfig) -> Self {
        Self::Generic(config)
    }
}

impl From<BuiltinOverrides> for ProviderConfig {
    fn from(config: BuiltinOverrides) -> Self {
        Self::Builtin(config)
    }
}

/// A generic OAuth 2.0 provider described by configuration (run by [`GenericProvider`]).
///
/// It needs `authorize_url`, `token_url`, `userinfo_url` and a `[providers.profile]` table
/// with at least `id`; everything else has a default.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GenericConfig {
    /// The provider id, `[a-z0-9_]{1,32}`; part of the registered callback URL.
    pub id: String,
    /// The authorization endpoint (its own query parameters are kept).
    pub authorize_url: Option<String>,
    /// The token endpoint.
    pub token_url: Option<String>,
    /// The endpoint that describes the account behind an access token.
    pub userinfo_url: Option<String>,
    /// The RFC 7009 revocation endpoint, when the provider has one. A disconnect revokes
    /// the account's refresh token there (`token_type_hint=refresh_token`), then its access
    /// token (`token_type_hint=access_token`).
    pub revoke_url: Option<String>,
    /// The RFC 9207 issuer identifier the provider sends as `iss` on its callback.
    pub issuer: Option<String>,
    /// Whether the provider always sends `iss`, so a callback without it is refused
    /// (needs `issuer`). Default false.
    pub requires_iss: Option<bool>,
    /// The scopes requested when an app names none. Default none.
    pub scopes: Option<Vec<String>>,
    /// Whether to use PKCE (S256). Default true.
    pub pkce: Option<bool>,
    /// How the client authenticates at the token and revocation endpoints. Default
    /// [`TokenAuth::Basic`].
    pub token_auth: Option<TokenAuth>,
    /// What joins the scopes in the authorize request. Default `" "`.
    pub scope_separator: Option<String>,
    /// Extra query parameters of the authorize request (e.g. Google's
    /// `access_type = "offline"`). They cannot replace the standard ones.
    pub authorize_params: BTreeMap<String, String>,
    /// Where the profile fields sit in the userinfo response.
    pub profile: Option<ProfilePointers>,
}

impl GenericConfig {
    /// An entry with only its id set.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into(), ..Self::default() }
    }

    /// Sets the authorization endpoint.
    #[must_use]
    pub fn with_authorize_url(mut self, url: impl Into<String>) -> Self {
        self.authorize_url = Some(url.into());
        self
    }

    /// Sets the token endpoint.
    #[must_use]
    pub fn with_token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// Sets the userinfo endpoint.
    #[must_use]
    pub fn with_userinfo_url(mut self, url: impl Into<String>) -> Self {
        self.userinfo_url = Some(url.into());
        self
    }

    /// Sets the revocation endpoint.
    #[must_use]
    pub fn with_revoke_url(mut self, url: impl Into<String>) -> Self {
        self.revoke_url = Some(url.into());
        self
    }

    /// Sets the RFC 9207 issuer identifier.
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets whether a callback without `iss` is refused.
    #[must_use]
    pub fn with_requires_iss(mut self, requires_iss: bool) -> Self {
        self.requires_iss = Some(requires_iss);
        self
    }

    /// Sets the default scopes.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Sets whether PKCE is used.
    #[must_use]
    pub fn with_pkce(mut self, pkce: bool) -> Self {
        self.pkce = Some(pkce);
        self
    }

    /// Sets the client authentication at the token endpoint.
    #[must_use]
    pub fn with_token_auth(mut self, token_auth: TokenAuth) -> Self {
        self.token_auth = Some(token_auth);
        self
    }

    /// Sets the scope separator.
    #[must_use]
    pub fn with_scope_separator(mut self, separator: impl Into<String>) -> Self {
        self.scope_separator = Some(separator.into());
        self
    }

    /// Adds extra authorize query parameters (a name given twice keeps the last value).
    #[must_use]
    pub fn with_authorize_params<I, K, V>(mut self, params: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.authorize_params.extend(params.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Sets the profile pointers.
    #[must_use]
    pub fn with_profile(mut self, profile: ProfilePointers) -> Self {
        self.profile = Some(profile);
        self
    }
}

/// Endpoint overrides of a built-in provider: each URL given replaces the built-in's, which
/// keeps everything else.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BuiltinOverrides {
    /// The built-in provider's id.
    pub id: String,
    /// The authorization endpoint.
    pub authorize_url: Option<String>,
    /// The token endpoint.
    pub token_url: Option<String>,
    /// The profile endpoint.
    pub userinfo_url: Option<String>,
    /// The revocation endpoint.
    pub revoke_url: Option<String>,
    /// Meta providers only: the long-lived token exchange endpoint (`fb_exchange_token`,
    /// `ig_exchange_token`, `th_exchange_token`).
    pub exchange_url: Option<String>,
    /// Meta providers only: the re-exchange (refresh) endpoint (`ig_refresh_token`,
    /// `th_refresh_token`; Facebook's is `exchange_url`'s).
    pub refresh_url: Option<String>,
    /// `bluesky` only: the AT Protocol service its XRPC calls go to (a PDS or Bluesky's
    /// entryway). Default `https://bsky.social`.
    pub service_url: Option<String>,
    /// Providers with target selection only: the endpoint that lists the targets
    /// (Facebook's and Instagram's `/me/accounts`, Pinterest's `/v5/boards`, LinkedIn's
    /// `/rest/organizationAcls`; LinkedIn reads each organisation's name from
    /// `/rest/organizations/{id}` on the same host).
    pub targets_url: Option<String>,
    /// `reddit` only: the `User-Agent` of every call, in Reddit's form
    /// `<platform>:<app ID>:<version string> (by /u/<reddit username>)`, where `{client_id}`
    /// stands for the app's client id (so each app of a deployment keeps its own rate-limit
    /// bucket). At most 256 printable ASCII characters. Default
    /// `server:{client_id}:v<crate version>`.
    pub user_agent: Option<String>,
}

impl BuiltinOverrides {
    /// Overrides of the built-in provider `id`, none set yet.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into(), ..Self::default() }
    }

    /// Sets the authorization endpoint.
    #[must_use]
    pub fn with_authorize_url(mut self, url: impl Into<String>) -> Self {
        self.authorize_url = Some(url.into());
        self
    }

    /// Sets the token endpoint.
    #[must_use]
    pub fn with_token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// Sets the userinfo endpoint.
    #[must_use]
    pub fn with_userinfo_url(mut self, url: impl Into<String>) -> Self {
        self.userinfo_url = Some(url.into());
        self
    }

    /// Sets the revocation endpoint.
    #[must_use]
    pub fn with_revoke_url(mut self, url: impl Into<String>) -> Self {
        self.revoke_url = Some(url.into());
        self
    }

    /// Sets the long-lived token exchange endpoint (Meta providers only).
    #[must_use]
    pub fn with_exchange_url(mut self, url: impl Into<String>) -> Self {
        self.exchange_url = Some(url.into());
        self
    }

    /// Sets the re-exchange (refresh) endpoint (Meta providers only).
    #[must_use]
    pub fn with_refresh_url(mut self, url: impl Into<String>) -> Self {
        self.refresh_url = Some(url.into());
        self
    }

    /// Sets the AT Protocol service URL (`bluesky` only).
    #[must_use]
    pub fn with_service_url(mut self, url: impl Into<String>) -> Self {
        self.service_url = Some(url.into());
        self
    }

    /// Sets the target listing endpoint (providers with target selection only).
    #[must_use]
    pub fn with_targets_url(mut self, url: impl Into<String>) -> Self {
        self.targets_url = Some(url.into());
        self
    }

    /// Sets the `User-Agent` (`reddit` only).
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }
}

/// A `[[providers]]` entry as written: every field of both kinds, sorted into one by its id.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    authorize_url: Option<String>,
    token_url: Option<String>,
    userinfo_url: Option<String>,
    revoke_url: Option<String>,
    exchange_url: Option<String>,
    refresh_url: Option<String>,
    service_url: Option<String>,
    targets_url: Option<String>,
    user_agent: Option<String>,
    issuer: Option<String>,
    requires_iss: Option<bool>,
    scopes: Option<Vec<String>>,
    pkce: Option<bool>,
    token_auth: Option<TokenAuth>,
    scope_separator: Option<String>,
    #[serde(default)]
    authorize_params: BTreeMap<String, String>,
    profile: Option<ProfilePointers>,
}

impl TryFrom<RawEntry> for ProviderConfig {
    type Error = String;

    fn try_from(raw: RawEntry) -> Result<Self, String> {
        let RawEntry {
            id,
            authorize_url,
            token_url,
            userinfo_url,
            revoke_url,
            exchange_url,
            refresh_url,
            service_url,
            targets_url,
            user_agent,
            issuer,
            requires_iss,
            scopes,
            pkce,
            token_auth,
            scope_separator,
            authorize_params,
            profile,
        } = raw;
        let named = |fields: &[(bool, &'static str)]| -> Vec<&'static str> {
            fields.iter().filter(|(set, _)| *set).map(|(_, name)| *name).collect()
        };
        if BUILTIN_PROVIDERS.contains(&id.as_str()) {
            let generic_only = named(&[
                (issuer.is_some(), "issuer"),
                (requires_iss.is_some(), "requires_iss"),
                (scopes.is_some(), "scopes"),
                (pkce.is_some(), "pkce"),
                (token_auth.is_some(), "token_auth"),
                (scope_separator.is_some(), "scope_separator"),
                (!authorize_params.is_empty(), "authorize_params"),
                (profile.is_some(), "profile"),
            ]);
            if !generic_only.is_empty() {
                return Err(format!(
                    "providers entry {id:?}: a built-in provider only takes endpoint URLs (authorize_url, \
                     token_url, userinfo_url, revoke_url, exchange_url, refresh_url, service_url, targets_url) \
                     and, for reddit, user_agent; remove {}",
                    generic_only.join(", ")
                ));
            }
            return Ok(Self::Builtin(BuiltinOverrides {
                id,
                authorize_url,
                token_url,
                userinfo_url,
                revoke_url,
                exchange_url,
                refresh_url,
                service_url,
                targets_url,
                user_agent,
            }));
        }
        let builtin_only = named(&[
            (exchange_url.is_some(), "exchange_url"),
            (refresh_url.is_some(), "refresh_url"),
            (service_url.is_some(), "service_url"),
            (targets_url.is_some(), "targets_url"),
            (user_agent.is_some(), "user_agent"),
        ]);
        if !builtin_only.is_empty() {
            return Err(format!(
                "providers entry {id:?}: {} apply to built-in providers only (this id names none)",
                builtin_only.join(", ")
            ));
        }
        Ok(Self::Generic(GenericConfig {
            id,
            authorize_url,
            token_url,
            userinfo_url,
            revoke_url,
            issuer,
            requires_iss,
            scopes,
            pkce,
            token_auth,
            scope_separator,
            authorize_params,
            profile,
        }))
    }
}

/// How the client authenticates at the token (and revocation) endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TokenAuth {
    /// `Authorization: Basic base64(urlencode(client_id) ":" urlencode(client_secret))`
    /// (RFC 6749 §2.3.1); the secret is not in the body.
    #[default]
    Basic,
    /// `client_id` and `client_secret` as form fields of the body.
    Body,
    /// A public client: `client_id` in the body and no secret at all.
    None,
}

impl From<TokenAuth> for crate::ClientAuth {
    fn from(auth: TokenAuth) -> Self {
        match auth {
            TokenAuth::Basic => Self::Basic,
            TokenAuth::Body => Self::Body,
            TokenAuth::None => Self::None,
        }
    }
}

/// Where the profile fields sit in a provider's userinfo response, as RFC 6901 JSON
/// pointers (e.g. `/data/id`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePointers {
    /// The account's stable id (a JSON string or integer). Required.
    pub id: String,
    /// The handle.
    pub username: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// The avatar URL.
    pub avatar_url: Option<String>,
}

impl ProfilePointers {
    /// Pointers with only the id's set.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into(), username: None, display_name: None, avatar_url: None }
    }

    /// Sets the username pointer.
    #[must_use]
    pub fn with_username(mut self, pointer: impl Into<String>) -> Self {
        self.username = Some(pointer.into());
        self
    }

    /// Sets the display-name pointer.
    #[must_use]
    pub fn with_display_name(mut self, pointer: impl Into<String>) -> Self {
        self.display_name = Some(pointer.into());
        self
    }

    /// Sets the avatar-URL pointer.
    #[must_use]
    pub fn with_avatar_url(mut self, pointer: impl Into<String>) -> Self {
        self.avatar_url = Some(pointer.into());
        self
    }
}

/// Shorthand for a provider configuration error.
pub(crate) fn provider_error(id: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Provider { id: id.to_owned(), reason: reason.into() }
}

/// Parses a configured provider id.
pub(crate) fn parse_provider_id(id: &str) -> Result<ProviderId, ConfigError> {
    id.parse::<ProviderId>().map_err(|e| provider_error(id, e.to_string()))
}

/// Checks an endpoint URL from configuration: it parses as written (no whitespace or control
/// characters for the parser to strip), is `https` (or `http` on a loopback host), has a
/// host, and has no userinfo and no fragment.
///
/// The error names the field but never repeats the value (it could hold credentials).
pub(crate) fn parse_endpoint(id: &str, field: &str, value: &str) -> Result<Url, ConfigError> {
    let refuse = |why: &str| provider_error(id, format!("{field}: {why}"));
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse("must not contain whitespace or control characters"));
    }
    let url = Url::parse(value).map_err(|_| refuse("is not an absolute URL"))?;
    let Some(host) = url.host() else {
        return Err(refuse("has no host"));
    };
    match url.scheme() {
        "https" => {}
        "http" if dravo_connect_core::http_client::is_loopback_host(&host) => {}
        "http" => {
            return Err(refuse("must be https (http is accepted only for localhost, 127.0.0.0/8 and [::1])"));
        }
        _ => return Err(refuse("must be an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("must not contain userinfo"));
    }
    if url.fragment().is_some() {
        return Err(refuse("must not contain a fragment"));
    }
    Ok(url)
}

/// Builds the provider registry: every built-in provider (with its overrides from `configs`
/// applied) followed by every generic provider of `configs`, in order.
///
/// # Errors
/// [`ConfigError::Provider`] for an invalid or duplicated id, a generic entry without
/// `authorize_url`, `token_url`, `userinfo_url` or `profile.id` (or otherwise invalid, see
/// [`GenericProvider::from_config`]), an entry for a built-in provider that gives anything but
/// endpoint URLs, and any endpoint URL that is not https (http only for a loopback host),
/// has userinfo, or does not parse.
pub fn build_registry(configs: &[ProviderConfig]) -> Result<Vec<Arc<dyn Provider>>, ConfigError> {
    check_entries(configs)?;
    let mut registry: Vec<Arc<dyn Provider>> = Vec::with_capacity(BUILTIN_PROVIDERS.len() + configs.len());
    for &id in BUILTIN_PROVIDERS {
        let overrides = configs.iter().find_map(|c| match c {
            ProviderConfig::Builtin(o) if o.id == id => Some(o),
            _ => None,
        });
        registry.push(builtin(id, overrides)?);
    }
    for config in configs {
        if let ProviderConfig::Generic(config) = config {
            registry.push(Arc::new(GenericProvider::from_config(config)?));
        }
    }
    Ok(registry)
}

/// Checks the entries' ids: valid, each once, a built-in's for overrides and another for a
/// generic provider (entries made in code may mix them up; those read from TOML cannot).
fn check_entries(configs: &[ProviderConfig]) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for config in configs {
        let id = config.id();
        parse_provider_id(id)?;
        if !seen.insert(id) {
            return Err(provider_error(id, "configured more than once"));
        }
        match (config, BUILTIN_PROVIDERS.contains(&id)) {
            (ProviderConfig::Generic(_), true) => {
                return Err(provider_error(
                    id,
                    "is a built-in provider: give it endpoint overrides (BuiltinOverrides)",
                ));
            }
            (ProviderConfig::Builtin(_), false) => return Err(provider_error(id, "no built-in provider has this id")),
            _ => {}
        }
    }
    Ok(())
}

/// Builds the registry on `chosen` in place of the built-in providers: `chosen`, then every
/// generic provider of `configs`, in order.
///
/// # Errors
/// As [`build_registry`], and [`ConfigError::Provider`] for an entry of `configs` that names
/// a built-in provider (endpoint overrides apply to the built-in providers only, which
/// `chosen` replaces: choose a built-in with its overrides through [`builtin`]).
pub fn build_registry_on(
    chosen: Vec<Arc<dyn Provider>>,
    configs: &[ProviderConfig],
) -> Result<Vec<Arc<dyn Provider>>, ConfigError> {
    check_entries(configs)?;
    let mut registry = chosen;
    for config in configs {
        match config {
            ProviderConfig::Generic(config) => registry.push(Arc::new(GenericProvider::from_config(config)?)),
            ProviderConfig::Builtin(o) => {
                return Err(provider_error(
                    &o.id,
                    "endpoint overrides apply to the built-in providers, which the chosen providers replace",
                ));
            }
        }
    }
    Ok(registry)
}

/// One built-in provider by its id (`x`, `linkedin`, … `mastodon`), with the endpoint
/// overrides of a `[[providers]]` entry applied when given: for choosing it with
/// `ConnectBuilder::providers` (in `dravo-connect`).
///
/// # Errors
/// [`ConfigError::Provider`] for an id that names no built-in provider, and for overrides
/// the provider refuses (see [`ProviderConfig`]).
pub fn builtin(id: &str, overrides: Option<&BuiltinOverrides>) -> Result<Arc<dyn Provider>, ConfigError> {
    match id {
        "x" => with_overrides(super::x::provider(), overrides),
        "linkedin" => with_overrides(super::linkedin::provider(), overrides),
        "facebook" => with_overrides(super::facebook::provider(), overrides),
        "instagram" => with_overrides(super::instagram::provider(), overrides),
        "instagram_facebook" => with_overrides(super::instagram_facebook::provider(), overrides),
        "threads" => with_overrides(super::threads::provider(), overrides),
        "youtube" => with_overrides(super::youtube::provider(), overrides),
        "tiktok" => with_overrides(super::tiktok::provider(), overrides),
        "pinterest" => with_overrides(super::pinterest::provider(), overrides),
        "reddit" => with_overrides(super::reddit::provider(), overrides),
        "google_business" => with_overrides(super::google_business::provider(), overrides),
        "discord" => with_overrides(super::discord::provider(), overrides),
        "twitch" => with_overrides(super::twitch::provider(), overrides),
        "bluesky" => Ok(Arc::new(match overrides {
            Some(config) => super::BlueskyProvider::with_overrides(config)?,
            None => super::BlueskyProvider::new(),
        })),
        "mastodon" => match overrides {
            Some(_) => Err(provider_error(id, "mastodon takes its endpoints from the instance given at start")),
            None => Ok(Arc::new(super::mastodon::provider())),
        },
        "tumblr" => {
            let mut tumblr = super::tumblr::provider();
            if let Some(config) = overrides {
                tumblr.apply_overrides(config)?;
            }
            Ok(Arc::new(tumblr))
        }
        "snapchat" => with_overrides(super::snapchat::provider(), overrides),
        // Every id of BUILTIN_PROVIDERS has an arm above (a test checks it).
        _ => Err(provider_error(id, "no built-in provider has this id")),
    }
}

/// A built-in provider built on [`GenericProvider`], with `overrides` applied when given.
fn with_overrides(
    mut provider: GenericProvider,
    overrides: Option<&BuiltinOverrides>,
) -> Result<Arc<dyn Provider>, ConfigError> {
    if let Some(config) = overrides {
        provider.apply_overrides(config)?;
    }
    Ok(Arc::new(provider))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Table {
        providers: Vec<ProviderConfig>,
    }

    fn generic(id: &str) -> GenericConfig {
        GenericConfig::new(id)
            .with_authorize_url("https://auth.example.com/authorize")
            .with_token_url("https://auth.example.com/token")
            .with_userinfo_url("https://api.example.com/me")
            .with_profile(ProfilePointers::new("/id"))
    }

    fn reason(err: ConfigError) -> (String, String) {
        match err {
            ConfigError::Provider { id, reason } => (id, reason),
            other => panic!("unexpected error {other:?}"),
        }
    }

    fn ids(registry: &[Arc<dyn Provider>]) -> Vec<String> {
        registry.iter().map(|p| p.id().to_string()).collect()
    }

    #[test]
    fn an_empty_configuration_registers_every_built_in_provider() {
        let registry = build_registry(&[]).unwrap();
        assert_eq!(ids(&registry), BUILTIN_PROVIDERS.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn a_providers_table_deserialises_from_toml_with_all_its_fields() {
        let table: Table = toml::from_str(
            r#"
            [[providers]]
            id = "acme"
            authorize_url = "https://auth.acme.example/authorize?tenant=1"
            token_url = "https://auth.acme.example/token"
            userinfo_url = "https://api.acme.example/me"
            revoke_url = "https://auth.acme.example/revoke"
            issuer = "https://auth.acme.example"
            requires_iss = true
            scopes = ["read", "write"]
            pkce = false
            token_auth = "none"
            scope_separator = ","
            authorize_params = { access_type = "offline", prompt = "consent" }
            [providers.profile]
            id = "/sub"
            username = "/preferred_username"
            display_name = "/name"
            avatar_url = "/picture"

            [[providers]]
            id = "x"
            token_url = "http://127.0.0.1:9999/2/oauth2/token"
            "#,
        )
        .unwrap();
        let ProviderConfig::Generic(acme) = &table.providers[0] else { panic!("a generic entry") };
        assert_eq!(acme.token_auth, Some(TokenAuth::None));
        assert_eq!(acme.requires_iss, Some(true));
        assert_eq!(acme.authorize_params.get("access_type").map(String::as_str), Some("offline"));
        assert_eq!(acme.profile.as_ref().unwrap().avatar_url.as_deref(), Some("/picture"));
        let registry = build_registry(&table.providers).unwrap();
        assert_eq!(ids(&registry)[BUILTIN_PROVIDERS.len()..], ["acme"]);
        let acme = registry[BUILTIN_PROVIDERS.len()].code_flow().unwrap();
        assert_eq!(acme.issuer(), Some("https://auth.acme.example"));
        assert!(acme.requires_iss());
        assert!(!acme.uses_pkce());
        assert_eq!(acme.default_scopes(), ["read", "write"]);
    }

    #[test]
    fn an_unknown_field_is_refused_by_serde() {
        let err = toml::from_str::<Table>(
            r#"
            [[providers]]
            id = "acme"
            authorise_url = "https://auth.acme.example/authorize"
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("authorise_url"), "{err}");
        let err = toml::from_str::<Table>(
            r#"
            [[providers]]
            id = "acme"
            [providers.profile]
            id = "/id"
            email = "/email"
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("email"), "{err}");
    }

    #[test]
    fn an_unknown_token_auth_is_refused_by_serde() {
        let err = toml::from_str::<Table>("[[providers]]\nid = \"a\"\ntoken_auth = \"post\"\n").unwrap_err();
        assert!(err.to_string().contains("post"), "{err}");
    }

    #[test]
    fn a_profile_table_without_id_is_refused_by_serde() {
        let err =
            toml::from_str::<Table>("[[providers]]\nid = \"a\"\n[providers.profile]\nusername = \"/u\"\n").unwrap_err();
        assert!(err.to_string().contains("missing field `id`"), "{err}");
    }

    #[test]
    fn a_generic_provider_without_profile_pointers_is_refused() {
        let mut config = generic("acme");
        config.profile = None;
        let (id, why) = reason(build_registry(&[config.into()]).unwrap_err());
        assert_eq!(id, "acme");
        assert!(why.contains("profile"), "{why}");
        let config = generic("acme").with_profile(ProfilePointers::new(""));
        let (_, why) = reason(build_registry(&[config.into()]).unwrap_err());
        assert!(why.contains("profile.id"), "{why}");
    }

    #[test]
    fn a_generic_provider_without_an_endpoint_is_refused() {
        for field in ["authorize_url", "token_url", "userinfo_url"] {
            let mut config = generic("acme");
            match field {
                "authorize_url" => config.authorize_url = None,
                "token_url" => config.token_url = None,
                _ => config.userinfo_url = None,
            }
            let (_, why) = reason(build_registry(&[config.into()]).unwrap_err());
            assert!(why.contains(field), "{why}");
        }
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let (id, why) = reason(build_registry(&[generic("acme").into(), generic("acme").into()]).unwrap_err());
        assert_eq!(id, "acme");
        assert!(why.contains("more than once"), "{why}");
        let x = BuiltinOverrides::new("x");
        assert!(build_registry(&[x.clone().into(), x.into()]).is_err());
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["", "Acme", "a-b", "a/b", "x y", &"a".repeat(33)] {
            let (id, _) = reason(build_registry(&[generic(bad).into()]).unwrap_err());
            assert_eq!(id, bad);
        }
    }

    #[test]
    fn an_http_endpoint_on_a_public_host_is_refused() {
        let config = generic("acme").with_token_url("http://auth.example.com/token");
        let (_, why) = reason(build_registry(&[config.into()]).unwrap_err());
        assert!(why.starts_with("token_url: must be https"), "{why}");
        let config = BuiltinOverrides::new("x").with_userinfo_url("http://api.x.com/2/users/me");
        assert!(build_registry(&[config.into()]).is_err());
        // "localhost." and a name that merely starts with 127 are not loopback.
        for url in ["http://localhost./t", "http://127.0.0.1.nip.io/t", "http://10.0.0.1/t", "http://[::2]/t"] {
            assert!(build_registry(&[generic("acme").with_token_url(url).into()]).is_err(), "{url}");
        }
    }

    #[test]
    fn an_http_endpoint_on_a_loopback_host_is_accepted() {
        for url in [
            "http://localhost:8080/t",
            "http://LOCALHOST/t",
            "http://127.0.0.1:1/t",
            "http://127.5.6.7/t",
            "http://[::1]:9/t",
        ] {
            let config = generic("acme").with_token_url(url).with_revoke_url(url);
            build_registry(&[config.into()]).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn endpoints_with_userinfo_fragments_odd_schemes_or_junk_are_refused() {
        for url in [
            "https://user:pass@auth.example.com/token",
            "https://user@auth.example.com/token",
            "https://auth.example.com/token#frag",
            "ftp://auth.example.com/token",
            "file:///etc/passwd",
            "/token",
            "https:// auth.example.com/token",
            "https://auth.example.com/to\tken",
            " https://auth.example.com/token",
            "",
        ] {
            let config = generic("acme").with_revoke_url(url);
            let (_, why) = reason(build_registry(&[config.into()]).unwrap_err());
            assert!(why.starts_with("revoke_url: "), "{url}: {why}");
            assert!(url.is_empty() || !why.contains(url), "the value is not repeated: {why}");
        }
    }

    #[test]
    fn a_field_of_the_other_kind_of_entry_is_refused_when_read() {
        // A built-in entry with a generic provider's fields.
        for (field, toml) in [
            ("scopes", "scopes = [\"tweet.read\"]\npkce = false"),
            ("authorize_params", "authorize_params = { prompt = \"consent\" }"),
            ("profile", "[providers.profile]\nid = \"/id\""),
        ] {
            let err = toml::from_str::<Table>(&format!("[[providers]]\nid = \"x\"\n{toml}\n")).unwrap_err();
            let err = err.to_string();
            assert!(err.contains("\"x\"") && err.contains("only takes endpoint URLs") && err.contains(field), "{err}");
        }
        // A generic entry with a built-in's fields.
        for field in ["exchange_url", "refresh_url", "service_url", "targets_url", "user_agent"] {
            let err =
                toml::from_str::<Table>(&format!("[[providers]]\nid = \"acme\"\n{field} = \"https://a.example/x\"\n"))
                    .unwrap_err()
                    .to_string();
            assert!(
                err.contains("\"acme\"") && err.contains(field) && err.contains("built-in providers only"),
                "{err}"
            );
        }
        // Made in code, the kinds can still be mixed up: refused when built.
        let (id, why) = reason(build_registry(&[GenericConfig::new("x").into()]).unwrap_err());
        assert_eq!(id, "x");
        assert!(why.contains("built-in"), "{why}");
        let (_, why) = reason(build_registry(&[BuiltinOverrides::new("acme").into()]).unwrap_err());
        assert!(why.contains("no built-in provider"), "{why}");
    }

    /// Every shape of `[[providers]]` entry the crate documents, as written before the entry
    /// became an enum, still reads, each as the kind its id says.
    #[test]
    fn todays_entries_read_unchanged() {
        let table: Table = toml::from_str(
            r#"
            [[providers]]
            id = "acme"
            authorize_url = "https://auth.acme.example/authorize?tenant=t1"
            token_url = "https://auth.acme.example/token"
            userinfo_url = "https://api.acme.example/me"
            revoke_url = "https://auth.acme.example/revoke"
            issuer = "https://auth.acme.example"
            requires_iss = true
            scopes = ["read"]
            pkce = true
            token_auth = "basic"
            scope_separator = ","
            authorize_params = { access_type = "offline" }
            [providers.profile]
            id = "/sub"

            [[providers]]
            id = "facebook"
            authorize_url = "http://127.0.0.1:1/dialog/oauth"
            token_url = "http://127.0.0.1:1/oauth/access_token"
            userinfo_url = "http://127.0.0.1:1/me"
            revoke_url = "http://127.0.0.1:1/me/permissions"
            exchange_url = "http://127.0.0.1:1/oauth/access_token"
            targets_url = "http://127.0.0.1:1/me/accounts"

            [[providers]]
            id = "instagram"
            refresh_url = "http://127.0.0.1:1/refresh_access_token"

            [[providers]]
            id = "bluesky"
            service_url = "http://127.0.0.1:2"
            "#,
        )
        .unwrap();
        let kinds: Vec<(&str, bool)> =
            table.providers.iter().map(|p| (p.id(), matches!(p, ProviderConfig::Builtin(_)))).collect();
        assert_eq!(kinds, [("acme", false), ("facebook", true), ("instagram", true), ("bluesky", true)]);
        let ProviderConfig::Builtin(facebook) = &table.providers[1] else { unreachable!() };
        assert_eq!(facebook.targets_url.as_deref(), Some("http://127.0.0.1:1/me/accounts"));
        build_registry(&table.providers).unwrap();
    }

    #[test]
    fn a_built_in_entry_with_endpoint_urls_overrides_only_those() {
        let config = BuiltinOverrides::new("x")
            .with_token_url("http://127.0.0.1:4000/token")
            .with_authorize_url("http://127.0.0.1:4000/authorize");
        let registry = build_registry(&[config.into()]).unwrap();
        assert_eq!(ids(&registry), BUILTIN_PROVIDERS);
        let x = registry[0].code_flow().unwrap();
        assert!(x.uses_pkce());
        assert_eq!(x.default_scopes(), ["tweet.read", "users.read", "tweet.write", "offline.access"]);
        let url = x
            .authorize_url(&super::super::AuthorizeRequest {
                client_id: "c",
                redirect_uri: "http://127.0.0.1/cb",
                scopes: &[],
                state: "s",
                code_challenge: Some("ch"),
            })
            .unwrap();
        assert!(url.as_str().starts_with("http://127.0.0.1:4000/authorize?"), "{url}");
    }

    #[test]
    fn every_built_in_id_builds_and_is_a_valid_provider_id() {
        for &id in BUILTIN_PROVIDERS {
            assert!(id.parse::<ProviderId>().is_ok());
            let provider = builtin(id, None).unwrap();
            assert_eq!(provider.id().as_str(), id);
        }
    }

    #[test]
    fn the_registry_keeps_generic_providers_in_configuration_order() {
        let registry = build_registry(&[generic("zeta").into(), generic("alpha").into()]).unwrap();
        assert_eq!(ids(&registry)[BUILTIN_PROVIDERS.len()..], ["zeta", "alpha"]);
    }

    #[tokio::test]
    async fn every_built_in_provider_takes_endpoint_overrides_and_keeps_the_rest() {
        use crate::fixtures::*;
        // Bluesky has no OAuth endpoints to override (see the next test); mastodon's are the
        // instance's.
        for &id in BUILTIN_PROVIDERS.iter().filter(|&&id| id != super::super::bluesky::ID && id != "mastodon") {
            let base = "http://127.0.0.1:4000";
            let config = BuiltinOverrides::new(id)
                .with_authorize_url(format!("{base}/authorize"))
                .with_token_url(format!("{base}/token"))
                .with_userinfo_url(format!("{base}/me"))
                .with_revoke_url(format!("{base}/revoke"));
            let registry = build_registry(&[config.clone().into()]).unwrap();
            let p = registry.iter().find(|p| p.id().as_str() == id).unwrap();
            let original = builtin(id, None).unwrap();
            assert!(p.capabilities().revocation, "{id}: a revoke_url override adds revocation");
            let mut expected = original.capabilities();
            expected.revocation = true;
            assert_eq!(p.capabilities(), expected, "{id}");
            let (flow, original_flow) = (p.code_flow().unwrap(), original.code_flow().unwrap());
            assert_eq!(flow.default_scopes(), original_flow.default_scopes(), "{id}");
            let (url, _) = authorize(p.as_ref());
            assert_eq!(url, format!("{base}/authorize"), "{id}");
            let (http, seen) = replay(&[
                (200, r#"{"access_token":"a","token_type":"bearer"}"#),
                (200, r#"{"access_token":"b","token_type":"bearer"}"#),
            ]);
            let s = secret();
            let v = token(&"v".repeat(43));
            flow.exchange_code(ctx(&http, &s), "c", REDIRECT_URI, Some(&v)).await.unwrap();
            let first = &requests(&seen)[0];
            assert_eq!(endpoint(first), format!("{base}/token"), "{id}");
            // Twitch validates the token beside the token endpoint before its profile call.
            let (http, seen) = replay(&[(200, r#"{"client_id":"c1"}"#), (500, "")]);
            let _ = flow.fetch_profile(&http, &token("a")).await;
            let sent: Vec<String> = requests(&seen).iter().map(endpoint).collect();
            match id {
                "twitch" => assert_eq!(sent, [format!("{base}/validate"), format!("{base}/me")], "{id}"),
                _ => assert_eq!(sent, [format!("{base}/me")], "{id}"),
            }
        }
        let refused = build_registry(&[BuiltinOverrides::new("mastodon").with_token_url("https://a.example/t").into()]);
        assert!(refused.unwrap_err().to_string().contains("instance"), "mastodon has no fixed endpoints");
        let refused =
            build_registry(&[BuiltinOverrides::new("tiktok").with_exchange_url("http://127.0.0.1:1/x").into()]);
        assert!(refused.unwrap_err().to_string().contains("exchange_url"));
        let refused =
            build_registry(&[BuiltinOverrides::new("youtube").with_refresh_url("http://127.0.0.1:1/r").into()]);
        assert!(refused.unwrap_err().to_string().contains("refresh_url"));
    }

    #[test]
    fn only_reddit_takes_a_user_agent_from_toml() {
        let table: Table =
            toml::from_str("[[providers]]\nid = \"reddit\"\nuser_agent = \"web:{client_id}:v1.0 (by /u/acme_dev)\"\n")
                .unwrap();
        let ProviderConfig::Builtin(reddit) = &table.providers[0] else { panic!("a built-in entry") };
        assert_eq!(reddit.user_agent.as_deref(), Some("web:{client_id}:v1.0 (by /u/acme_dev)"));
        assert!(build_registry(&table.providers).is_ok());
        for id in ["x", "facebook", "pinterest", "bluesky", "mastodon"] {
            let refused = BuiltinOverrides::new(id).with_user_agent("web:acme:v1.0 (by /u/acme_dev)");
            let (got, why) = reason(build_registry(&[refused.into()]).unwrap_err());
            assert_eq!(got, id);
            assert!(why.contains("user_agent") || id == "mastodon", "{id}: {why}");
        }
        let table: Table = toml::from_str("[[providers]]\nid = \"reddit\"\nuser_agent = \"my-app/1.0\"\n").unwrap();
        let (id, why) = reason(build_registry(&table.providers).unwrap_err());
        assert_eq!(id, "reddit");
        assert!(why.contains("Reddit's form"), "{why}");
    }

    #[tokio::test]
    async fn bluesky_takes_a_service_url_and_nothing_else() {
        use crate::fixtures::*;
        let config = BuiltinOverrides::new("bluesky").with_service_url("http://127.0.0.1:4000");
        let registry = build_registry(&[config.clone().into()]).unwrap();
        let p = registry.iter().find(|p| p.id().as_str() == "bluesky").unwrap();
        assert_eq!(p.capabilities(), builtin("bluesky", None).unwrap().capabilities());
        let (http, seen) = replay(&[(500, "")]);
        let _ = p.password_login().unwrap().refresh_session(&http, &token("r")).await;
        assert_eq!(endpoint(&requests(&seen)[0]), "http://127.0.0.1:4000/xrpc/com.atproto.server.refreshSession");
        for refused in [
            BuiltinOverrides::new("bluesky").with_token_url("https://pds.example/t"),
            BuiltinOverrides::new("bluesky").with_targets_url("https://pds.example/t"),
            BuiltinOverrides::new("bluesky").with_service_url("http://pds.example"),
            BuiltinOverrides::new("x").with_service_url("https://pds.example"),
            BuiltinOverrides::new("reddit").with_service_url("https://pds.example"),
        ] {
            let id = refused.id.clone();
            assert!(build_registry(&[refused.into()]).is_err(), "{id}");
        }
        let table: Table =
            toml::from_str("[[providers]]\nid = \"bluesky\"\nservice_url = \"https://pds.example.com\"\n").unwrap();
        assert!(build_registry(&table.providers).is_ok());
    }
}
