//! [`GenericProvider`]: the standard OAuth 2.0 authorization-code flow (RFC 6749, PKCE per
//! RFC 7636, revocation per RFC 7009) with the providers' common quirks made configurable.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Method, StatusCode};
use serde_json::Value;
use url::Url;
use zeroize::Zeroizing;

use super::config::{parse_endpoint, parse_provider_id, provider_error};
use super::{
    AuthorizeRequest, BuiltinOverrides, ClientCredentials, CodeFlow, GenericConfig, GrantTokens, Profile,
    ProfilePointers, Provider, ProviderContext, ProviderError, ProviderErrorKind, Reexchange, RefreshGrant, Renewal,
    Target, TargetListing, TokenAuth, TokenSet,
};
use crate::{Capabilities, RefreshModel, RefreshTokenRequirement, Rotation, TargetType};
use dravo_connect_core::ConfigError;
use dravo_connect_core::ProviderId;
use dravo_connect_core::Secret;
use dravo_connect_core::http_client::HttpClient;

/// The `User-Agent` of every provider call.
pub(crate) const USER_AGENT_VALUE: &str = concat!("dravo-connect/", env!("CARGO_PKG_VERSION"));

/// Query parameters of the authorize request that only the flow sets.
const RESERVED_AUTHORIZE_PARAMS: &[&str] =
    &["response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"];

/// Longest username and display name kept from a profile, in characters.
const MAX_NAME_CHARS: usize = 255;
/// Longest account id accepted from a profile, in characters.
const MAX_ID_CHARS: usize = 255;
/// Longest avatar URL kept from a profile, in bytes.
const MAX_AVATAR_URL_BYTES: usize = 2048;
/// Longest `expires_in` taken as is (100 years); larger values are clamped so that callers
/// adding it to a timestamp cannot overflow.
const MAX_EXPIRES_IN_SECS: u64 = 100 * 365 * 24 * 60 * 60;

/// An OAuth 2.0 provider described by configuration: the standard authorization-code flow,
/// with the client-auth style, PKCE, scope separator, extra authorize parameters and the
/// shape of the userinfo response configurable.
///
/// - The authorize URL is the configured endpoint (its own query kept) plus
///   `response_type=code`, `client_id`, `redirect_uri`, `scope` (omitted when empty),
///   `state`, `code_challenge` and `code_challenge_method=S256` (with PKCE) and the
///   configured `authorize_params`.
/// - The token, refresh and revocation requests are `POST`s of
///   `application/x-www-form-urlencoded` bodies authenticated as [`TokenAuth`] says.
/// - A token response is a failure unless it is a 2xx JSON object with a non-empty string
///   `access_token`, no `error` member (even with status 200: passport-oauth2
///   CVE-2021-41580) and a `token_type` that, when present, is `Bearer` (in any case).
/// - The profile is read from the userinfo endpoint with `Authorization: Bearer` and picked
///   out of the JSON with the configured [`ProfilePointers`].
///
/// The built-in providers are this same type with more knobs set (the client-id parameter
/// name, a long-lived token exchange, a re-exchange refresh, profile wrappers…); each one's
/// module in `provider/` says which and why.
///
/// # Security
/// Error messages hold at most a status code and the provider's sanitised RFC 6749 `error`
/// code: never a response body, a token, a code or a secret. The HTTP client is trusted not
/// to follow redirects; a 3xx answer is an error here.
#[derive(Debug, Clone)]
pub struct GenericProvider {
    pub(super) id: ProviderId,
    pub(super) authorize_url: String,
    /// `authorize_url`, parsed on first use: every authorize URL starts from a clone of it
    /// rather than parsing the endpoint again. Reset whenever `authorize_url` is overridden.
    pub(super) authorize_parsed: std::sync::OnceLock<Option<Url>>,
    pub(super) token_url: String,
    pub(super) userinfo_url: String,
    pub(super) revoke_url: Option<String>,
    pub(super) issuer: Option<String>,
    pub(super) requires_iss: bool,
    pub(super) scopes: Vec<String>,
    pub(super) pkce: bool,
    pub(super) token_auth: TokenAuth,
    pub(super) scope_separator: String,
    pub(super) authorize_params: BTreeMap<String, String>,
    pub(super) profile: ProfilePointers,
    pub(super) knobs: Knobs,
}

/// The quirks of the built-in providers, beyond what `[[providers]]` can describe. A
/// generic provider from configuration has the defaults.
#[derive(Debug, Clone)]
pub(super) struct Knobs {
    /// The client-id parameter name of the authorize and token requests (TikTok:
    /// `client_key`).
    pub(super) client_id_param: &'static str,
    /// How the code exchange and the refresh grant send their parameters.
    pub(super) token_method: TokenMethod,
    /// The swap of the short-lived token for a long-lived one right after the code exchange
    /// (Meta).
    pub(super) long_lived: Option<TokenSwap>,
    /// How an access token is renewed.
    pub(super) renewal: RenewalKnob,
    /// Strip a trailing `#_` from the code (Instagram, Threads).
    pub(super) strip_code_suffix: bool,
    /// Query parameters added to the userinfo URL (replacing any of the same name), so an
    /// overridden endpoint gets them too (TikTok's mandatory `fields`).
    pub(super) userinfo_params: &'static [(&'static str, &'static str)],
    /// How the profile call carries the token.
    pub(super) profile_token: ProfileToken,
    /// A pointer to an array in the profile response: the pointers are read in its first
    /// element that has an id (Instagram via Facebook: the first Page with a linked
    /// Instagram account).
    pub(super) profile_list: Option<&'static str>,
    /// Where the profile may be wrapped, used when the top level has no id (Instagram's
    /// `/me` is documented both flat and as `{"data":[{…}]}`).
    pub(super) profile_wrapper: Option<&'static str>,
    /// A pointer in the profile response that must hold this string, else the call was
    /// refused with that code (TikTok wraps every answer with `error.code = "ok"`).
    pub(super) profile_ok: Option<(&'static str, &'static str)>,
    /// The codes at the `profile_ok` pointer that are temporary, not a refusal (TikTok:
    /// `rate_limit_exceeded`, `internal_error`).
    pub(super) profile_transient_codes: &'static [&'static str],
    /// Read Meta's nested Graph errors (see `GenericProvider::graph_error`).
    pub(super) graph_errors: bool,
    /// Decode `&amp;` in the avatar URL (Reddit HTML-escapes it).
    pub(super) avatar_html_unescape: bool,
    /// Where the token response may be wrapped (Instagram: `/data/0` in some doc versions);
    /// used when the top level has no `access_token`.
    pub(super) token_wrapper: Option<&'static str>,
    /// The member of the token response holding the granted scopes, when `scope` is absent
    /// (Instagram: `permissions`).
    pub(super) scope_fallback: Option<&'static str>,
    /// The `User-Agent` of every call to this provider.
    pub(super) user_agent: UserAgentKnob,
    /// Add Meta's `appsecret_proof` (hex HMAC-SHA256 of the access token keyed with the app
    /// secret) to every Graph API call made with an access token, when the app's
    /// credentials are at hand.
    pub(super) appsecret_proof: bool,
    /// Extra form fields of the code exchange and the refresh grant (Pinterest's
    /// `continuous_refresh=true`).
    pub(super) token_params: &'static [(&'static str, &'static str)],
    /// How tokens are revoked.
    pub(super) revoke_style: RevokeStyle,
    /// What the capability table says beyond what the fields above determine.
    pub(super) refresh_token: RefreshTokenRequirement,
    pub(super) access_token_lifetime_secs: Option<u64>,
    pub(super) refresh_token_lifetime_secs: Option<u64>,
    pub(super) target_selection: Option<TargetType>,
    /// Where the targets of the selection step come from, if anywhere.
    pub(super) targets: Option<super::targets::TargetSource>,
    /// The endpoint that lists them (overridable as `targets_url`).
    pub(super) targets_url: Option<String>,
    /// A server's authority appended to the profile's id and username as `@{authority}`
    /// (Mastodon: ids are unique only per instance).
    pub(super) account_server: Option<String>,
    /// The avatar pointer holds an image hash, not a URL: the avatar is this template with
    /// `{id}` and `{hash}` replaced (Discord's CDN).
    pub(super) avatar_template: Option<&'static str>,
    /// The profile call carries a `Client-Id` header (Twitch's Helix API): the app's, when
    /// its credentials are at hand, else read first from the token's own validation (`GET
    /// validate` beside the token endpoint, `Authorization: OAuth`).
    pub(super) client_id_from_validate: bool,
    /// Targets the code exchange's answer itself grants (Discord's `webhook`), kept for the
    /// target listing of the same callback.
    pub(super) granted_targets: Option<std::sync::Arc<super::targets::GrantedTargets>>,
    /// Drop the refresh token of a code exchange: this adapter never refreshes, so none is
    /// kept and the account's `reconnect_by` says when its token ends (Snapchat).
    pub(super) discard_refresh_token: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            client_id_param: "client_id",
            token_method: TokenMethod::PostForm,
            long_lived: None,
            renewal: RenewalKnob::Grant(Rotation::Unknown),
            strip_code_suffix: false,
            userinfo_params: &[],
            profile_token: ProfileToken::Bearer,
            profile_list: None,
            profile_wrapper: None,
            profile_ok: None,
            profile_transient_codes: &[],
            graph_errors: false,
            avatar_html_unescape: false,
            token_wrapper: None,
            scope_fallback: None,
            user_agent: UserAgentKnob::Crate,
            appsecret_proof: false,
            token_params: &[],
            revoke_style: RevokeStyle::Rfc7009,
            refresh_token: RefreshTokenRequirement::Unknown,
            access_token_lifetime_secs: None,
            refresh_token_lifetime_secs: None,
            target_selection: None,
            targets: None,
            targets_url: None,
            account_server: None,
            avatar_template: None,
            client_id_from_validate: false,
            granted_targets: None,
            discard_refresh_token: false,
        }
    }
}

/// The `User-Agent` a provider's calls carry.
#[derive(Debug, Clone)]
pub(super) enum UserAgentKnob {
    /// The crate's own, [`USER_AGENT_VALUE`].
    Crate,
    /// One naming the app, from a template in which `{client_id}` stands for the app's
    /// client id (Reddit: a generic `User-Agent` shares one rate-limit bucket with every
    /// other deployment). The host may replace the template (`user_agent` in its
    /// `[[providers]]` entry), which `check` validates.
    App {
        /// The template.
        template: String,
        /// The provider's rule for a configured template; the error says what is wrong.
        check: fn(&str) -> Result<(), String>,
    },
}

/// `{client_id}` in a `User-Agent` template.
pub(super) const CLIENT_ID_PLACEHOLDER: &str = "{client_id}";
/// The longest client id put into a `User-Agent` (characters outside
/// `[A-Za-z0-9_.-]` are left out).
const MAX_USER_AGENT_CLIENT_ID: usize = 64;
/// The longest configured `User-Agent` template.
pub(super) const MAX_USER_AGENT_LEN: usize = 256;

/// Checks a configured `User-Agent` template: 1 to [`MAX_USER_AGENT_LEN`] printable ASCII
/// characters (so no CR, LF or other control character can split the header), no
/// whitespace at either end, and `{`/`}` only in `{client_id}`.
pub(super) fn check_user_agent_text(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_USER_AGENT_LEN {
        return Err(format!("must be 1 to {MAX_USER_AGENT_LEN} characters"));
    }
    if let Some(c) = value.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(match c {
            '\r' | '\n' => "must not contain CR or LF".to_owned(),
            _ => "must be printable ASCII characters".to_owned(),
        });
    }
    if value.trim() != value {
        return Err("must not start or end with whitespace".to_owned());
    }
    if value.replace(CLIENT_ID_PLACEHOLDER, "").contains(['{', '}']) {
        return Err("may use `{client_id}` and no other `{…}`".to_owned());
    }
    Ok(())
}

/// How a token request sends its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenMethod {
    /// `POST` with an `application/x-www-form-urlencoded` body (RFC 6749).
    PostForm,
    /// `GET` with the parameters in the query (Meta's documented form of its token swaps).
    GetQuery,
}

/// A token swap: an access token exchanged for another one (Meta's long-lived exchange and
/// re-exchange).
#[derive(Debug, Clone)]
pub(super) struct TokenSwap {
    /// The endpoint; `None` is the token endpoint (Facebook).
    pub(super) url: Option<String>,
    /// How the parameters are sent.
    pub(super) method: TokenMethod,
    /// The `grant_type` value (`fb_exchange_token`, `ig_exchange_token`, …).
    pub(super) grant_type: &'static str,
    /// The name of the parameter carrying the current token.
    pub(super) token_param: &'static str,
    /// Whether the client id is sent.
    pub(super) client_id: bool,
    /// Whether the client secret is sent.
    pub(super) client_secret: bool,
}

/// How an access token is renewed (the behaviour behind [`RefreshModel`]).
#[derive(Debug, Clone)]
pub(super) enum RenewalKnob {
    /// The `refresh_token` grant.
    Grant(Rotation),
    /// A swap of the still-valid access token.
    Reexchange { swap: TokenSwap, min_age_secs: Option<u64> },
    /// None: the token lasts until revoked (Mastodon).
    None,
}

/// How the profile call carries the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProfileToken {
    /// `Authorization: Bearer` (RFC 6750 §2.1).
    Bearer,
    /// An `access_token` query parameter (RFC 6750 §2.3; Meta's documented form).
    Query,
}

/// How an account's tokens are revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RevokeStyle {
    /// RFC 7009: a form `POST` of `token` and `token_type_hint` with client authentication,
    /// for the refresh token (when there is one) and then for the access token. A server
    /// may end the whole grant when a refresh token is revoked (RFC 7009 §2.1) but need not.
    Rfc7009,
    /// The RFC 7009 form `POST` of the access token only: the endpoint documents no other
    /// token, and ends the whole authorization with it.
    AccessTokenOnly,
    /// One RFC 7009 form `POST` of the refresh token when there is one, else of the access
    /// token: revoking either ends the whole grant, after which the other is refused.
    OneTokenEndsTheGrant,
    /// Meta: `DELETE /me/permissions?access_token=…` with the user token, which removes the
    /// app's whole grant (Meta issues no refresh tokens).
    MetaPermissions,
    /// Twitch: a form `POST` of `client_id` and `token` (the access token), no secret and no
    /// hint, as documented.
    ClientIdAndAccessToken,
}

impl GenericProvider {
    /// A built-in provider's base: the given endpoints and profile pointers, PKCE off, body
    /// client authentication, space-separated scopes and default knobs; the provider's module
    /// sets the rest.
    pub(super) fn builtin(
        id: &'static str,
        authorize_url: &str,
        token_url: &str,
        userinfo_url: &str,
        profile: ProfilePointers,
    ) -> Self {
        Self {
            id: ProviderId::from_static(id),
            authorize_url: authorize_url.to_owned(),
            authorize_parsed: std::sync::OnceLock::new(),
            token_url: token_url.to_owned(),
            userinfo_url: userinfo_url.to_owned(),
            revoke_url: None,
            issuer: None,
            requires_iss: false,
            scopes: Vec::new(),
            pkce: false,
            token_auth: TokenAuth::Body,
            scope_separator: " ".to_owned(),
            authorize_params: BTreeMap::new(),
            profile,
            knobs: Knobs::default(),
        }
    }

    /// Sets the default scopes.
    pub(super) fn with_default_scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Applies the endpoint overrides of a `[[providers]]` entry naming this built-in
    /// provider: `authorize_url`, `token_url`, `userinfo_url`, `revoke_url`, and the swap
    /// endpoints `exchange_url` (long-lived exchange) and `refresh_url` (re-exchange).
    ///
    /// # Errors
    /// [`ConfigError::Provider`] when the entry's id is not this provider's, when it sets
    /// anything but endpoint URLs, when it gives a swap endpoint this provider does not have,
    /// or when an endpoint URL is not https (http only for a loopback host), has userinfo or
    /// a fragment, or does not parse.
    pub(super) fn apply_overrides(&mut self, config: &BuiltinOverrides) -> Result<(), ConfigError> {
        let id = self.id.as_str().to_owned();
        let id = id.as_str();
        if config.id != id {
            return Err(provider_error(&config.id, format!("overrides of {id} must have id {id:?}")));
        }
        if config.service_url.is_some() {
            return Err(provider_error(id, "service_url: only bluesky takes a service URL"));
        }
        if let Some(url) = &config.authorize_url {
            self.authorize_url = parse_endpoint(id, "authorize_url", url)?.into();
            self.authorize_parsed = std::sync::OnceLock::new();
        }
        if let Some(url) = &config.token_url {
            self.token_url = parse_endpoint(id, "token_url", url)?.into();
        }
        if let Some(url) = &config.userinfo_url {
            self.userinfo_url = parse_endpoint(id, "userinfo_url", url)?.into();
        }
        if let Some(url) = &config.revoke_url {
            self.revoke_url = Some(parse_endpoint(id, "revoke_url", url)?.into());
        }
        if let Some(url) = &config.exchange_url {
            let url = parse_endpoint(id, "exchange_url", url)?;
            match &mut self.knobs.long_lived {
                Some(swap) => swap.url = Some(url.into()),
                None => return Err(provider_error(id, "exchange_url: this provider has no long-lived exchange")),
            }
        }
        if let Some(url) = &config.targets_url {
            let url = parse_endpoint(id, "targets_url", url)?;
            match &mut self.knobs.targets_url {
                Some(targets) => *targets = url.into(),
                None => return Err(provider_error(id, "targets_url: this provider lists no targets")),
            }
        }
        if let Some(value) = &config.user_agent {
            match &mut self.knobs.user_agent {
                UserAgentKnob::App { template, check } => {
                    check(value).map_err(|why| provider_error(id, format!("user_agent: {why}")))?;
                    value.clone_into(template);
                }
                UserAgentKnob::Crate => {
                    return Err(provider_error(id, "user_agent: only reddit takes a configured User-Agent"));
                }
            }
        }
        if let Some(url) = &config.refresh_url {
            let url = parse_endpoint(id, "refresh_url", url)?;
            match &mut self.knobs.renewal {
                RenewalKnob::Reexchange { swap, .. } => swap.url = Some(url.into()),
                _ => return Err(provider_error(id, "refresh_url: this provider has no re-exchange refresh")),
            }
        }
        Ok(())
    }

    /// Builds a provider from its `[[providers]]` entry.
    ///
    /// # Errors
    /// [`ConfigError::Provider`] when the id is not `[a-z0-9_]{1,32}`; when `authorize_url`,
    /// `token_url`, `userinfo_url` or `profile` is missing; when an endpoint URL is not
    /// https (http only for a loopback host), has userinfo or a fragment, or does not parse;
    /// when the authorize URL's own query holds a parameter the flow sets; when `issuer` is
    /// not such a URL without a query, or `requires_iss` is set without it; when a scope is
    /// empty or holds whitespace, `"`, `\` or the separator; when the separator is empty;
    /// when an extra authorize parameter is unnamed or one the flow sets; when a profile
    /// pointer does not start with `/`.
    pub fn from_config(config: &GenericConfig) -> Result<Self, ConfigError> {
        let id = parse_provider_id(&config.id)?;
        let name = config.id.as_str();
        let required = |field: &str, value: &Option<String>| -> Result<Url, ConfigError> {
            match value {
                Some(value) => parse_endpoint(name, field, value),
                None => Err(provider_error(name, format!("{field} is required for a generic provider"))),
            }
        };
        let authorize_url = required("authorize_url", &config.authorize_url)?;
        let token_url = required("token_url", &config.token_url)?;
        let userinfo_url = required("userinfo_url", &config.userinfo_url)?;
        let revoke_url = config.revoke_url.as_deref().map(|u| parse_endpoint(name, "revoke_url", u)).transpose()?;
        if let Some(reserved) =
            authorize_url.query_pairs().find(|(k, _)| RESERVED_AUTHORIZE_PARAMS.contains(&k.as_ref()))
        {
            return Err(provider_error(
                name,
                format!("authorize_url: its query must not set `{}` (the flow sets it)", reserved.0),
            ));
        }

        if let Some(issuer) = &config.issuer {
            let parsed = parse_endpoint(name, "issuer", issuer)?;
            if parsed.query().is_some() {
                return Err(provider_error(name, "issuer: must not have a query (RFC 8414)"));
            }
        }
        let requires_iss = config.requires_iss.unwrap_or(false);
        if requires_iss && config.issuer.is_none() {
            return Err(provider_error(name, "requires_iss needs issuer"));
        }

        let scope_separator = config.scope_separator.clone().unwrap_or_else(|| " ".to_owned());
        if scope_separator.is_empty() || scope_separator.chars().any(char::is_control) {
            return Err(provider_error(name, "scope_separator must be non-empty, without control characters"));
        }
        let scopes = config.scopes.clone().unwrap_or_default();
        for scope in &scopes {
            // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            let valid_char = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
            if scope.is_empty() || !scope.chars().all(valid_char) || scope.contains(scope_separator.as_str()) {
                return Err(provider_error(
                    name,
                    format!("scopes: {scope:?} is not a scope token (empty, whitespace, `\"`, `\\` or the separator)"),
                ));
            }
        }

        for key in config.authorize_params.keys() {
            if key.is_empty() || RESERVED_AUTHORIZE_PARAMS.contains(&key.as_str()) {
                return Err(provider_error(
                    name,
                    format!("authorize_params: {key:?} cannot be set (the flow sets it)"),
                ));
            }
        }

        let Some(profile) = config.profile.clone() else {
            return Err(provider_error(name, "profile (with at least profile.id) is required for a generic provider"));
        };
        let pointers = [
            ("profile.id", Some(&profile.id)),
            ("profile.username", profile.username.as_ref()),
            ("profile.display_name", profile.display_name.as_ref()),
            ("profile.avatar_url", profile.avatar_url.as_ref()),
        ];
        for (field, pointer) in pointers {
            if pointer.is_some_and(|p| !p.starts_with('/')) {
                return Err(provider_error(name, format!("{field}: a JSON pointer starts with `/`")));
            }
        }

        Ok(Self {
            id,
            authorize_url: authorize_url.into(),
            authorize_parsed: std::sync::OnceLock::new(),
            token_url: token_url.into(),
            userinfo_url: userinfo_url.into(),
            revoke_url: revoke_url.map(Into::into),
            issuer: config.issuer.clone(),
            requires_iss,
            scopes,
            pkce: config.pkce.unwrap_or(true),
            token_auth: config.token_auth.unwrap_or_default(),
            scope_separator,
            authorize_params: config.authorize_params.clone(),
            profile,
            knobs: Knobs::default(),
        })
    }

    /// A token-endpoint request to `url` with the client authentication of this provider:
    /// a form `POST`, or (for [`TokenMethod::GetQuery`]) a `GET` with the same parameters in
    /// the query.
    fn token_request(
        &self,
        method: TokenMethod,
        url: &str,
        credentials: ClientCredentials<'_>,
        fields: &[(&str, &str)],
    ) -> Result<http::Request<Bytes>, ProviderError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(fields);
        let mut builder = http::Request::builder()
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, self.user_agent(Some(credentials.client_id))?);
        let client_id = self.knobs.client_id_param;
        match self.token_auth {
            TokenAuth::Basic => builder = builder.header(AUTHORIZATION, basic_authorization(credentials)?),
            TokenAuth::Body => {
                form.append_pair(client_id, credentials.client_id);
                form.append_pair("client_secret", credentials.client_secret.expose_secret());
            }
            TokenAuth::None => {
                form.append_pair(client_id, credentials.client_id);
            }
        }
        let encoded = Zeroizing::new(form.finish());
        match method {
            TokenMethod::PostForm => builder
                .method(Method::POST)
                .uri(url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Bytes::copy_from_slice(encoded.as_bytes())),
            TokenMethod::GetQuery => {
                let uri = Zeroizing::new(with_query(url, &encoded)?);
                builder.method(Method::GET).uri(uri.as_str()).body(Bytes::new())
            }
        }
        .map_err(|_| request_not_built())
    }

    /// A call of the token endpoint (the code exchange, the refresh grant) with this
    /// provider's extra fields after `fields`.
    async fn token_call(&self, ctx: ProviderContext<'_>, fields: &[(&str, &str)]) -> Result<TokenSet, ProviderError> {
        self.token_call_answer(ctx, fields).await.map(|(tokens, _)| tokens)
    }

    /// [`token_call`](Self::token_call), with the answer it parsed.
    async fn token_call_answer(
        &self,
        ctx: ProviderContext<'_>,
        fields: &[(&str, &str)],
    ) -> Result<(TokenSet, http::Response<Bytes>), ProviderError> {
        let mut fields = fields.to_vec();
        fields.extend_from_slice(self.knobs.token_params);
        let request = self.token_request(self.knobs.token_method, &self.token_url, ctx.credentials, &fields)?;
        let response = ctx.http.send(request).await?;
        Ok((self.parse_tokens(&response)?, response))
    }

    /// Reads a token response with this provider's wrapper and scope member.
    fn parse_tokens(&self, response: &http::Response<Bytes>) -> Result<TokenSet, ProviderError> {
        if let Some(err) = self.graph_error(response) {
            return Err(err);
        }
        if !response.status().is_success()
            || (self.knobs.token_wrapper.is_none() && self.knobs.scope_fallback.is_none())
        {
            return parse_token_response(response, &self.scope_separator);
        }
        // Unwrap and rename, then parse the usual way.
        let Ok(mut json) = serde_json::from_slice::<serde_json::Map<String, Value>>(response.body()) else {
            return parse_token_response(response, &self.scope_separator);
        };
        if let Some(wrapper) = self.knobs.token_wrapper
            && !json.contains_key("access_token")
            && !json.contains_key("error")
            && let Some(Value::Object(inner)) = Value::Object(json.clone()).pointer(wrapper)
        {
            json = inner.clone();
        }
        if let Some(member) = self.knobs.scope_fallback
            && !json.contains_key("scope")
            && let Some(value) = json.remove(member)
        {
            json.insert("scope".to_owned(), value);
        }
        let body = serde_json::to_vec(&json).map_err(|_| invalid("the token response could not be read"))?;
        let rebuilt = http::Response::builder()
            .status(response.status())
            .body(Bytes::from(body))
            .map_err(|_| invalid("the token response could not be read"))?;
        parse_token_response(&rebuilt, &self.scope_separator)
    }

    /// Meta's Graph error, `{"error":{"message","type","code","error_subcode","is_transient"}}`,
    /// for providers with [`Knobs::graph_errors`]: code 190 (an invalid or expired token) is
    /// a refusal with `invalid_token`; the rate limits (4, 17, 32, 613, 80001–80014), codes 1
    /// and 2 (unknown, service) and `is_transient: true` are temporary; any other code is a
    /// refusal with `graph_<code>`. `None` when the body is not such an error (the usual
    /// parsing then applies). The message is never kept.
    pub(super) fn graph_error(&self, response: &http::Response<Bytes>) -> Option<ProviderError> {
        if !self.knobs.graph_errors {
            return None;
        }
        let json = serde_json::from_slice::<Value>(response.body()).ok()?;
        let error = json.get("error")?.as_object()?;
        let code = error.get("code").and_then(Value::as_u64);
        let transient = error.get("is_transient").and_then(Value::as_bool) == Some(true)
            || response.status().is_server_error()
            || matches!(code, Some(1 | 2 | 4 | 17 | 32 | 613 | 80_001..=80_014));
        Some(match code {
            _ if transient => ProviderError::new(
                ProviderErrorKind::Unavailable,
                format!("temporary graph error {} (http_{})", code.unwrap_or(0), response.status().as_u16()),
            ),
            Some(190) => ProviderError::rejected("invalid_token"),
            Some(c) => ProviderError::rejected(format!("graph_{c}")),
            None => ProviderError::rejected(format!("http_{}", response.status().as_u16())),
        })
    }

    /// Swaps `token` for another one (Meta's long-lived exchange and re-exchange).
    async fn swap(
        &self,
        ctx: ProviderContext<'_>,
        swap: &TokenSwap,
        token: &Secret<String>,
    ) -> Result<TokenSet, ProviderError> {
        let request = self.swap_request(ctx.credentials, swap, token)?;
        let response = ctx.http.send(request).await?;
        let tokens = self.parse_tokens(&response)?;
        // A swap answers the new access token only; a refresh token never comes with it.
        Ok(TokenSet { refresh_token: None, ..tokens })
    }

    fn swap_request(
        &self,
        credentials: ClientCredentials<'_>,
        swap: &TokenSwap,
        token: &Secret<String>,
    ) -> Result<http::Request<Bytes>, ProviderError> {
        let mut fields = vec![("grant_type", swap.grant_type)];
        if swap.client_id {
            fields.push((self.knobs.client_id_param, credentials.client_id));
        }
        if swap.client_secret {
            fields.push(("client_secret", credentials.client_secret.expose_secret()));
        }
        fields.push((swap.token_param, token.expose_secret()));
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(&fields);
        let encoded = Zeroizing::new(form.finish());
        let url = swap.url.as_deref().unwrap_or(&self.token_url);
        let builder = http::Request::builder()
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, self.user_agent(Some(credentials.client_id))?);
        match swap.method {
            TokenMethod::PostForm => builder
                .method(Method::POST)
                .uri(url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Bytes::copy_from_slice(encoded.as_bytes())),
            TokenMethod::GetQuery => {
                let uri = Zeroizing::new(with_query(url, &encoded)?);
                builder.method(Method::GET).uri(uri.as_str()).body(Bytes::new())
            }
        }
        .map_err(|_| request_not_built())
    }

    /// The userinfo URL with this provider's extra parameters (replacing any of the same
    /// name), for [`ProfileToken::Query`] the token, and the `appsecret_proof` when given.
    fn userinfo_request_url(
        &self,
        access_token: &Secret<String>,
        proof: Option<&str>,
    ) -> Result<Zeroizing<String>, ProviderError> {
        let mut url = Url::parse(&self.userinfo_url)
            .map_err(|_| ProviderError::new(ProviderErrorKind::Unsupported, "the userinfo endpoint is not a URL"))?;
        let extra: Vec<&str> = self.knobs.userinfo_params.iter().map(|(k, _)| *k).collect();
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(name, _)| {
                !extra.contains(&name.as_ref()) && name != "access_token" && name != APPSECRET_PROOF_PARAM
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut query = url.query_pairs_mut();
            query.clear().extend_pairs(kept).extend_pairs(self.knobs.userinfo_params);
            if self.knobs.profile_token == ProfileToken::Query {
                query.append_pair("access_token", access_token.expose_secret());
            }
            if let Some(proof) = proof {
                query.append_pair(APPSECRET_PROOF_PARAM, proof);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(Zeroizing::new(url.into()))
    }

    /// The profile behind `access_token`; with the app's `credentials`, the call carries
    /// what they sign (the `appsecret_proof`, the app's `User-Agent`).
    async fn read_profile(
        &self,
        http: &dyn HttpClient,
        access_token: &Secret<String>,
        credentials: Option<ClientCredentials<'_>>,
    ) -> Result<Profile, ProviderError> {
        let proof = self.appsecret_proof(credentials, access_token)?;
        let url = self.userinfo_request_url(access_token, proof.as_deref().map(String::as_str))?;
        let mut builder = http::Request::builder()
            .method(Method::GET)
            .uri(url.as_str())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, self.user_agent(credentials.map(|c| c.client_id))?);
        if self.knobs.profile_token == ProfileToken::Bearer {
            builder = builder.header(AUTHORIZATION, bearer_authorization(access_token)?);
        }
        if self.knobs.client_id_from_validate {
            let client_id = match credentials.and_then(|c| client_id_header(c.client_id)) {
                Some(id) => id,
                None => self.validated_client_id(http, access_token).await?,
            };
            builder = builder.header("Client-Id", client_id);
        }
        let request = builder.body(Bytes::new()).map_err(|_| request_not_built())?;
        let response = http.send(request).await?;
        if let Some(err) = self.graph_error(&response) {
            return Err(err);
        }
        let mut profile = parse_profile(&response, &self.profile, &self.knobs)?;
        if let Some(server) = &self.knobs.account_server {
            profile.id = format!("{}@{server}", profile.id);
            profile.username = profile.username.map(|u| format!("{u}@{server}"));
        }
        Ok(profile)
    }

    /// The `User-Agent` of a call for the app with `client_id` (`None`: the app is not
    /// known, as for a token registered without one).
    pub(super) fn user_agent(&self, client_id: Option<&str>) -> Result<HeaderValue, ProviderError> {
        match &self.knobs.user_agent {
            UserAgentKnob::Crate => Ok(HeaderValue::from_static(USER_AGENT_VALUE)),
            UserAgentKnob::App { template, .. } => {
                // A client id is the tenant's input: only the characters client ids are made
                // of go into the header, and a bounded number of them.
                let id: String = client_id
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    .take(MAX_USER_AGENT_CLIENT_ID)
                    .collect();
                let id = if id.is_empty() { "unknown" } else { id.as_str() };
                HeaderValue::from_str(&template.replace(CLIENT_ID_PLACEHOLDER, id)).map_err(|_| request_not_built())
            }
        }
    }

    /// Meta's `appsecret_proof` of `access_token` (its hex HMAC-SHA256 keyed with the app
    /// secret), for a provider that sends it and when the app's `credentials` are known.
    pub(super) fn appsecret_proof(
        &self,
        credentials: Option<ClientCredentials<'_>>,
        access_token: &Secret<String>,
    ) -> Result<Option<Zeroizing<String>>, ProviderError> {
        match credentials {
            Some(credentials) if self.knobs.appsecret_proof => {
                appsecret_proof(credentials.client_secret, access_token).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The capability table row of this provider, from the same fields its requests use.
    fn capability_row(&self) -> Capabilities {
        let mut caps = Capabilities::unknown(self.pkce);
        caps.client_auth = self.token_auth.into();
        caps.scope_separator.clone_from(&self.scope_separator);
        self.knobs.client_id_param.clone_into(&mut caps.client_id_param);
        caps.refresh_token = self.knobs.refresh_token.clone();
        caps.long_lived_exchange = self.knobs.long_lived.is_some();
        caps.refresh = match &self.knobs.renewal {
            RenewalKnob::Grant(rotation) => RefreshModel::Grant { rotation: *rotation },
            RenewalKnob::Reexchange { min_age_secs, .. } => RefreshModel::Reexchange { min_age_secs: *min_age_secs },
            RenewalKnob::None => RefreshModel::None,
        };
        caps.access_token_lifetime_secs = self.knobs.access_token_lifetime_secs;
        caps.refresh_token_lifetime_secs = self.knobs.refresh_token_lifetime_secs;
        caps.revocation = self.revoke_url.is_some();
        caps.target_selection = self.knobs.target_selection;
        caps
    }
}

/// `url` with `encoded` appended to its query.
fn with_query(url: &str, encoded: &str) -> Result<String, ProviderError> {
    let mut url = Url::parse(url).map_err(|_| request_not_built())?;
    let query = match url.query() {
        Some(q) if !q.is_empty() => format!("{q}&{encoded}"),
        _ => encoded.to_owned(),
    };
    url.set_query(Some(&query));
    Ok(url.into())
}

impl Provider for GenericProvider {
    fn id(&self) -> &ProviderId {
        &self.id
    }

    fn capabilities(&self) -> Capabilities {
        self.capability_row()
    }

    fn code_flow(&self) -> Option<&dyn CodeFlow> {
        Some(self)
    }

    fn targets(&self) -> Option<&dyn TargetListing> {
        match self.knobs.target_selection {
            Some(_) => Some(self),
            None => None,
        }
    }
}

#[async_trait]
impl CodeFlow for GenericProvider {
    fn default_scopes(&self) -> &[String] {
        &self.scopes
    }

    fn uses_pkce(&self) -> bool {
        self.pkce
    }

    fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    fn requires_iss(&self) -> bool {
        self.requires_iss
    }

    /// The endpoint with the request's parameters appended to its own query
    /// (`Url::query_pairs_mut`, `application/x-www-form-urlencoded`).
    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        let mut url =
            self.authorize_parsed.get_or_init(|| Url::parse(&self.authorize_url).ok()).clone().ok_or_else(|| {
                ProviderError::new(ProviderErrorKind::Unsupported, "the authorize endpoint is not a URL")
            })?;
        let challenge = match (self.pkce, request.code_challenge) {
            (true, Some(challenge)) => Some(challenge),
            (true, None) => {
                return Err(ProviderError::new(
                    ProviderErrorKind::Unsupported,
                    "this provider uses PKCE and no code challenge was given",
                ));
            }
            (false, _) => None,
        };
        if url.fragment().is_some() {
            return Err(ProviderError::new(ProviderErrorKind::Unsupported, "the authorize endpoint has a fragment"));
        }
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair(self.knobs.client_id_param, request.client_id)
                .append_pair("redirect_uri", request.redirect_uri);
            if !request.scopes.is_empty() {
                query.append_pair("scope", &request.scopes.join(&self.scope_separator));
            }
            query.append_pair("state", request.state);
            if let Some(challenge) = challenge {
                query.append_pair("code_challenge", challenge).append_pair("code_challenge_method", "S256");
            }
            query.extend_pairs(&self.authorize_params);
        }
        Ok(url)
    }

    async fn exchange_code(
        &self,
        ctx: ProviderContext<'_>,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: Option<&Secret<String>>,
    ) -> Result<TokenSet, ProviderError> {
        // Meta appends `#_` to its redirect. A browser keeps a fragment to itself, but a
        // code copied by hand (or a `%23_` some proxies produce) still carries it; a code
        // never ends in `#_` otherwise.
        let code = match self.knobs.strip_code_suffix {
            true => code.strip_suffix("#_").unwrap_or(code),
            false => code,
        };
        let mut fields = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)];
        // No challenge went out without PKCE, so no verifier goes out either (a compliant
        // server refuses an unexpected verifier as a downgrade).
        if let (true, Some(verifier)) = (self.pkce, pkce_verifier) {
            fields.push(("code_verifier", verifier.expose_secret()));
        }
        let (tokens, answer) = self.token_call_answer(ctx, &fields).await?;
        if let Some(granted) = &self.knobs.granted_targets {
            granted.keep(&tokens.access_token, answer.body());
        }
        let mut tokens = tokens;
        if self.knobs.discard_refresh_token {
            tokens.refresh_token = None;
        }
        let Some(swap) = &self.knobs.long_lived else {
            return Ok(tokens);
        };
        // Meta: swap the one-hour token for the 60-day one at once (a token that expired
        // cannot be swapped). The short-lived response's granted scopes stay the record.
        let long = self.swap(ctx, swap, &tokens.access_token).await?;
        Ok(TokenSet { scopes: long.scopes.or(tokens.scopes), ..long })
    }

    async fn fetch_profile(
        &self,
        http: &dyn HttpClient,
        access_token: &Secret<String>,
    ) -> Result<Profile, ProviderError> {
        self.read_profile(http, access_token, None).await
    }

    async fn fetch_profile_with(
        &self,
        ctx: ProviderContext<'_>,
        access_token: &Secret<String>,
    ) -> Result<Profile, ProviderError> {
        self.read_profile(ctx.http, access_token, Some(ctx.credentials)).await
    }

    fn renewal(&self) -> Renewal<'_> {
        match &self.knobs.renewal {
            RenewalKnob::Grant(_) => Renewal::RefreshGrant(self),
            RenewalKnob::Reexchange { .. } => Renewal::Reexchange(self),
            RenewalKnob::None => Renewal::None,
        }
    }

    async fn revoke(&self, ctx: ProviderContext<'_>, tokens: GrantTokens<'_>) -> Result<(), ProviderError> {
        let Some(revoke_url) = &self.revoke_url else {
            return Err(ProviderError::new(ProviderErrorKind::Unsupported, "no revocation endpoint"));
        };
        let access = (tokens.access_token, HINT_ACCESS_TOKEN);
        match self.knobs.revoke_style {
            RevokeStyle::Rfc7009 => {
                // The refresh token first: it is the long-lived one. The access token is
                // revoked even when that fails; the first failure is the answer.
                let refresh = match tokens.refresh_token {
                    Some(token) => self.revoke_token(ctx, revoke_url, (token, HINT_REFRESH_TOKEN)).await,
                    None => Ok(()),
                };
                let access = self.revoke_token(ctx, revoke_url, access).await;
                refresh.and(access)
            }
            RevokeStyle::AccessTokenOnly => self.revoke_token(ctx, revoke_url, access).await,
            RevokeStyle::ClientIdAndAccessToken => {
                let body = Zeroizing::new(
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair(self.knobs.client_id_param, ctx.credentials.client_id)
                        .append_pair("token", tokens.access_token.expose_secret())
                        .finish(),
                );
                let request = http::Request::builder()
                    .method(Method::POST)
                    .uri(revoke_url.as_str())
                    .header(ACCEPT, "application/json")
                    .header(USER_AGENT, self.user_agent(Some(ctx.credentials.client_id))?)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Bytes::copy_from_slice(body.as_bytes()))
                    .map_err(|_| request_not_built())?;
                success(ctx.http.send(request).await?)
            }
            RevokeStyle::OneTokenEndsTheGrant => {
                let token = tokens.refresh_token.map_or(access, |token| (token, HINT_REFRESH_TOKEN));
                self.revoke_token(ctx, revoke_url, token).await
            }
            RevokeStyle::MetaPermissions => {
                let proof = self.appsecret_proof(Some(ctx.credentials), tokens.access_token)?;
                let query = {
                    let mut query = form_urlencoded::Serializer::new(String::new());
                    query.append_pair("access_token", tokens.access_token.expose_secret());
                    if let Some(proof) = &proof {
                        query.append_pair(APPSECRET_PROOF_PARAM, proof);
                    }
                    Zeroizing::new(query.finish())
                };
                let uri = Zeroizing::new(with_query(revoke_url, &query)?);
                let request = http::Request::builder()
                    .method(Method::DELETE)
                    .uri(uri.as_str())
                    .header(ACCEPT, "application/json")
                    .header(USER_AGENT, self.user_agent(Some(ctx.credentials.client_id))?)
                    .body(Bytes::new())
                    .map_err(|_| request_not_built())?;
                success(ctx.http.send(request).await?)
            }
        }
    }
}

#[async_trait]
impl RefreshGrant for GenericProvider {
    async fn refresh(
        &self,
        ctx: ProviderContext<'_>,
        refresh_token: &Secret<String>,
    ) -> Result<TokenSet, ProviderError> {
        if !matches!(self.knobs.renewal, RenewalKnob::Grant(_)) {
            return Err(ProviderError::new(ProviderErrorKind::Unsupported, "this provider has no refresh grant"));
        }
        let fields = [("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose_secret().as_str())];
        self.token_call(ctx, &fields).await
    }
}

#[async_trait]
impl Reexchange for GenericProvider {
    fn min_age(&self) -> Option<std::time::Duration> {
        match &self.knobs.renewal {
            RenewalKnob::Reexchange { min_age_secs, .. } => min_age_secs.map(std::time::Duration::from_secs),
            RenewalKnob::Grant(_) | RenewalKnob::None => None,
        }
    }

    async fn reexchange(
        &self,
        ctx: ProviderContext<'_>,
        access_token: &Secret<String>,
    ) -> Result<TokenSet, ProviderError> {
        match &self.knobs.renewal {
            RenewalKnob::Reexchange { swap, .. } => self.swap(ctx, swap, access_token).await,
            RenewalKnob::Grant(_) | RenewalKnob::None => {
                Err(ProviderError::new(ProviderErrorKind::Unsupported, "this provider has no re-exchange"))
            }
        }
    }
}

#[async_trait]
impl TargetListing for GenericProvider {
    fn target_type(&self) -> TargetType {
        self.knobs.target_selection.unwrap_or(TargetType::Page)
    }

    async fn list_targets(
        &self,
        http: &dyn HttpClient,
        tokens: &TokenSet,
        profile: &Profile,
    ) -> Result<Vec<Target>, ProviderError> {
        self.find_targets(http, tokens, profile, None).await
    }

    async fn list_targets_with(
        &self,
        ctx: ProviderContext<'_>,
        tokens: &TokenSet,
        profile: &Profile,
    ) -> Result<Vec<Target>, ProviderError> {
        self.find_targets(ctx.http, tokens, profile, Some(ctx.credentials)).await
    }
}

impl GenericProvider {
    /// Twitch: `GET validate` beside the token endpoint with `Authorization: OAuth <token>`;
    /// the `client_id` the token was issued to (a header value of `[A-Za-z0-9]`).
    async fn validated_client_id(
        &self,
        http: &dyn HttpClient,
        access_token: &Secret<String>,
    ) -> Result<HeaderValue, ProviderError> {
        let url = Url::parse(&self.token_url).and_then(|u| u.join("validate")).map_err(|_| request_not_built())?;
        let authorization = Zeroizing::new(format!("OAuth {}", access_token.expose_secret()));
        let request = http::Request::builder()
            .method(Method::GET)
            .uri(url.as_str())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, self.user_agent(None)?)
            .header(AUTHORIZATION, sensitive_header(&authorization)?)
            .body(Bytes::new())
            .map_err(|_| request_not_built())?;
        let response = http.send(request).await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ProviderError::rejected("invalid_token"));
        }
        if !status.is_success() {
            return Err(error_for_status(status, response.body()));
        }
        let json: Value =
            serde_json::from_slice(response.body()).map_err(|_| invalid("the token validation is not JSON"))?;
        json.get("client_id")
            .and_then(Value::as_str)
            .and_then(client_id_header)
            .ok_or_else(|| invalid("the token validation has no usable client_id"))
    }
}

/// A client id as a header value: 1 to 64 ASCII letters, digits, `-`, `_` and `.` (Twitch's
/// are letters and digits).
fn client_id_header(id: &str) -> Option<HeaderValue> {
    ((1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
        .then(|| HeaderValue::from_str(id).ok())
        .flatten()
}

/// RFC 7009 §2.1 `token_type_hint` values.
const HINT_ACCESS_TOKEN: &str = "access_token";
const HINT_REFRESH_TOKEN: &str = "refresh_token";

impl GenericProvider {
    /// One RFC 7009 revocation request: `token` with its `token_type_hint`, with client
    /// authentication.
    async fn revoke_token(
        &self,
        ctx: ProviderContext<'_>,
        revoke_url: &str,
        (token, hint): (&Secret<String>, &str),
    ) -> Result<(), ProviderError> {
        let fields = [("token", token.expose_secret().as_str()), ("token_type_hint", hint)];
        let request = self.token_request(TokenMethod::PostForm, revoke_url, ctx.credentials, &fields)?;
        success(ctx.http.send(request).await?)
    }
}

/// `Ok` for a 2xx answer, else the error its status and body say.
fn success(response: http::Response<Bytes>) -> Result<(), ProviderError> {
    if response.status().is_success() { Ok(()) } else { Err(error_for_status(response.status(), response.body())) }
}

/// `Basic base64(urlencode(client_id) ":" urlencode(client_secret))`, RFC 6749 §2.3.1,
/// marked sensitive.
fn basic_authorization(credentials: ClientCredentials<'_>) -> Result<HeaderValue, ProviderError> {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = Zeroizing::new(format!(
        "{}:{}",
        encode(credentials.client_id),
        Zeroizing::new(encode(credentials.client_secret.expose_secret())).as_str()
    ));
    let value = Zeroizing::new(format!("Basic {}", STANDARD.encode(pair.as_bytes())));
    sensitive_header(&value)
}

/// The query parameter of Meta's proof.
pub(super) const APPSECRET_PROOF_PARAM: &str = "appsecret_proof";

/// Meta's `appsecret_proof`: the lowercase hex HMAC-SHA256 of `access_token` keyed with the
/// app secret. With it on every Graph API call, a host can switch on "Require App Secret"
/// in the app's settings, so a token stolen without the secret is useless to the thief.
pub(super) fn appsecret_proof(
    client_secret: &Secret<String>,
    access_token: &Secret<String>,
) -> Result<Zeroizing<String>, ProviderError> {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(client_secret.expose_secret().as_bytes())
        .map_err(|_| request_not_built())?;
    mac.update(access_token.expose_secret().as_bytes());
    let tag: Zeroizing<[u8; 32]> = Zeroizing::new(mac.finalize().into_bytes().into());
    // No hex crate in the workspace: 32 bytes written as two digits each.
    let mut hex = Zeroizing::new(String::with_capacity(64));
    for byte in tag.iter() {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}

/// `Bearer <token>`, marked sensitive.
pub(super) fn bearer_authorization(token: &Secret<String>) -> Result<HeaderValue, ProviderError> {
    let value = Zeroizing::new(format!("Bearer {}", token.expose_secret()));
    sensitive_header(&value)
}

fn sensitive_header(value: &str) -> Result<HeaderValue, ProviderError> {
    let mut header = HeaderValue::from_str(value)
        .map_err(|_| ProviderError::new(ProviderErrorKind::Transport, "a credential cannot be sent in a header"))?;
    header.set_sensitive(true);
    Ok(header)
}

pub(super) fn request_not_built() -> ProviderError {
    ProviderError::new(ProviderErrorKind::Transport, "the request could not be built")
}

pub(super) fn invalid(detail: &'static str) -> ProviderError {
    ProviderError::new(ProviderErrorKind::InvalidResponse, detail)
}

/// The provider's `error` code when it looks like one (1 to 64 of `[A-Za-z0-9_.-]`, as
/// `invalid_grant`), else `http_<status>`: a free-text or nested `error` is body content,
/// which never goes into an error message.
fn oauth_error_code(error: Option<&Value>, status: StatusCode) -> String {
    match error {
        Some(Value::String(code))
            if (1..=64).contains(&code.len())
                && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) =>
        {
            code.clone()
        }
        _ => format!("http_{}", status.as_u16()),
    }
}

/// The error for a response that is not a 2xx: a 4xx is a refusal (with the provider's RFC
/// 6749 `error` code when its body has one, else `http_<status>`), except 429, which is
/// temporary; a 3xx (never followed) or a 5xx means the provider is unavailable.
pub(super) fn error_for_status(status: StatusCode, body: &[u8]) -> ProviderError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ProviderError::new(ProviderErrorKind::Unavailable, "rate limited (http_429)");
    }
    if status.is_client_error() {
        let json = serde_json::from_slice::<Value>(body).ok();
        return ProviderError::rejected(oauth_error_code(json.as_ref().and_then(|j| j.get("error")), status));
    }
    if status.is_redirection() {
        return ProviderError::new(
            ProviderErrorKind::Unavailable,
            format!("answered a redirect (http_{}), which is never followed", status.as_u16()),
        );
    }
    ProviderError::new(ProviderErrorKind::Unavailable, format!("http_{}", status.as_u16()))
}

/// Reads a token endpoint's response (code exchange and refresh alike).
///
/// A 2xx JSON object is a [`TokenSet`] when it has a non-empty string `access_token`, no
/// `error` member and a `token_type` that, when present, is `bearer` in any case (Instagram
/// and Threads send none). `expires_in` may be a number or a numeric string (clamped to 100
/// years); `scope` a string split on `separator`, spaces and commas, or an array of strings;
/// `refresh_token` is optional (absent on a refresh means "keep the old one"). A JSON `null`
/// counts as absent.
///
/// # Errors
/// An `error` member, even with status 200 (CVE-2021-41580), and a 4xx are
/// [`ProviderErrorKind::Rejected`] with the provider's `error` code (or `http_<status>`); a
/// 429, a 3xx and a 5xx are [`ProviderErrorKind::Unavailable`]; anything else unusable is
/// [`ProviderErrorKind::InvalidResponse`]. No message holds the body.
pub(crate) fn parse_token_response(
    response: &http::Response<Bytes>,
    separator: &str,
) -> Result<TokenSet, ProviderError> {
    let status = response.status();
    if !status.is_success() {
        return Err(error_for_status(status, response.body()));
    }
    let json: serde_json::Map<String, Value> =
        serde_json::from_slice(response.body()).map_err(|_| invalid("the token response is not a JSON object"))?;
    let member = |name: &str| json.get(name).filter(|v| !v.is_null());

    if let Some(error) = member("error") {
        return Err(ProviderError::rejected(oauth_error_code(Some(error), status)));
    }

    let access_token = match member("access_token") {
        Some(Value::String(token)) if !token.is_empty() => Secret::new(token.clone()),
        _ => return Err(invalid("the token response has no access_token")),
    };

    match member("token_type") {
        None => {}
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(_) => return Err(invalid("the token response has a token_type other than bearer")),
    }

    let expires_in = match member("expires_in") {
        None => None,
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(secs), _) => Some(secs),
            (None, Some(secs)) if secs.is_finite() && secs >= 0.0 => {
                // Truncation is intended: a fractional lifetime is rounded down.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Some(secs.min(MAX_EXPIRES_IN_SECS as f64) as u64)
            }
            _ => return Err(invalid("the token response has a malformed expires_in")),
        },
        Some(Value::String(s)) => {
            Some(s.trim().parse::<u64>().map_err(|_| invalid("the token response has a malformed expires_in"))?)
        }
        Some(_) => return Err(invalid("the token response has a malformed expires_in")),
    }
    .map(|secs| secs.min(MAX_EXPIRES_IN_SECS));

    let scopes = match member("scope") {
        None => None,
        Some(Value::String(s)) => Some(split_scopes(s, separator)),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid("the token response has a malformed scope"))?
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        Some(_) => return Err(invalid("the token response has a malformed scope")),
    };

    let refresh_token = match member("refresh_token") {
        None => None,
        Some(Value::String(token)) if token.is_empty() => None,
        Some(Value::String(token)) => Some(Secret::new(token.clone())),
        Some(_) => return Err(invalid("the token response has a malformed refresh_token")),
    };

    Ok(TokenSet { access_token, refresh_token, expires_in, scopes })
}

/// Splits a granted `scope` string on the configured separator, spaces and commas.
fn split_scopes(scope: &str, separator: &str) -> Vec<String> {
    scope
        .split(separator)
        .flat_map(|part| part.split([' ', ',']))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads a userinfo response into a [`Profile`] with `pointers`.
///
/// The id may be a JSON string or integer (at most 255 characters, no control characters);
/// the username and display name are trimmed, stripped of control characters and cut to
/// 255 characters; an avatar that is not an absolute http(s) URL of at most 2048 bytes is
/// dropped. Optional fields that are missing, empty or not strings are `None`.
///
/// # Errors
/// 401 and 403 are [`ProviderErrorKind::Rejected`] with `invalid_token`; other statuses as
/// for token responses; a body that is not JSON or has no usable id is
/// [`ProviderErrorKind::InvalidResponse`].
///
/// A built-in provider's knobs add a success marker that must hold (`profile_ok`), a list
/// whose first element with an id holds the profile (`profile_list`), and an HTML-escaped
/// avatar.
fn parse_profile(
    response: &http::Response<Bytes>,
    pointers: &ProfilePointers,
    knobs: &Knobs,
) -> Result<Profile, ProviderError> {
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(ProviderError::rejected("invalid_token"));
    }
    if !status.is_success() {
        return Err(error_for_status(status, response.body()));
    }
    let json: Value =
        serde_json::from_slice(response.body()).map_err(|_| invalid("the profile response is not JSON"))?;

    if let Some((pointer, ok)) = knobs.profile_ok {
        match json.pointer(pointer) {
            Some(Value::String(code)) if code == ok => {}
            Some(Value::String(code)) if knobs.profile_transient_codes.contains(&code.as_str()) => {
                return Err(ProviderError::new(ProviderErrorKind::Unavailable, "the provider is busy (profile)"));
            }
            Some(code) => return Err(ProviderError::rejected(oauth_error_code(Some(code), status))),
            None => return Err(invalid("the profile response has no status")),
        }
    }

    let root = match knobs.profile_wrapper {
        Some(wrapper) if json.pointer(&pointers.id).is_none() => json.pointer(wrapper).unwrap_or(&json),
        _ => &json,
    };
    let root = match knobs.profile_list {
        None => root,
        Some(list) => root
            .pointer(list)
            .and_then(Value::as_array)
            .and_then(|items| items.iter().find(|item| item.pointer(&pointers.id).is_some_and(|v| !v.is_null())))
            .ok_or_else(|| invalid("the profile response lists no usable account"))?,
    };

    let id = match root.pointer(&pointers.id) {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => return Err(invalid("the profile response has no id")),
    };
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
        return Err(invalid("the profile response has a malformed id"));
    }

    let text = |pointer: &Option<String>| -> Option<String> {
        let value = root.pointer(pointer.as_deref()?)?.as_str()?;
        let cleaned: String = value.trim().chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
        let cleaned = cleaned.trim();
        (!cleaned.is_empty()).then(|| cleaned.to_owned())
    };
    let avatar_url = pointers
        .avatar_url
        .as_deref()
        .and_then(|pointer| root.pointer(pointer)?.as_str())
        .and_then(|raw| match knobs.avatar_template {
            // Only a plain hash is put into the URL (Discord's are `[a_]?[0-9a-f]+`).
            Some(template) => (!raw.is_empty()
                && raw.len() <= 64
                && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| template.replace("{id}", &id).replace("{hash}", raw)),
            None => Some(raw.to_owned()),
        })
        .map(|raw| match knobs.avatar_html_unescape {
            // Reddit escapes `&` as `&amp;` in `icon_img`; nothing else of HTML escaping can
            // occur in a URL it sends, so no HTML-entity crate for one replacement.
            true => raw.trim().replace("&amp;", "&"),
            false => raw.trim().to_owned(),
        })
        .and_then(|raw| Url::parse(&raw).ok())
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
        .map(String::from)
        .filter(|url| url.len() <= MAX_AVATAR_URL_BYTES);

    Ok(Profile { id, username: text(&pointers.username), display_name: text(&pointers.display_name), avatar_url })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use dravo_connect_core::http_client::HttpError;

    type Seen = Arc<Mutex<Vec<http::Request<Bytes>>>>;

    /// The first request recorded (taken out, so no lock is held across an await).
    fn first(seen: &Seen) -> http::Request<Bytes> {
        seen.lock().unwrap().remove(0)
    }

    /// An `HttpClient` that records every request and answers each with `status` and `body`.
    fn answering(status: u16, body: &'static str) -> (impl HttpClient, Seen) {
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let client = move |request: http::Request<Bytes>| {
            log.lock().unwrap().push(request);
            async move {
                Ok::<_, HttpError>(
                    http::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Bytes::from_static(body.as_bytes()))
                        .unwrap(),
                )
            }
        };
        (client, seen)
    }

    fn config(auth: TokenAuth) -> GenericConfig {
        GenericConfig::new("acme")
            .with_authorize_url("https://auth.acme.example/oauth/authorize?tenant=t1")
            .with_token_url("https://auth.acme.example/oauth/token")
            .with_userinfo_url("https://api.acme.example/v1/me")
            .with_revoke_url("https://auth.acme.example/oauth/revoke")
            .with_scopes(["read", "write"])
            .with_token_auth(auth)
            .with_profile(
                ProfilePointers::new("/data/id")
                    .with_username("/data/username")
                    .with_display_name("/data/name")
                    .with_avatar_url("/data/avatar"),
            )
    }

    fn provider(auth: TokenAuth) -> GenericProvider {
        GenericProvider::from_config(&config(auth)).unwrap()
    }

    const SECRET: &str = "a:b&c";

    fn secret() -> Secret<String> {
        Secret::new(SECRET.to_owned())
    }

    fn ctx<'a>(http: &'a dyn HttpClient, secret: &'a Secret<String>) -> ProviderContext<'a> {
        ProviderContext { http, credentials: ClientCredentials { client_id: "client 1", client_secret: secret } }
    }

    fn form(request: &http::Request<Bytes>) -> Vec<(String, String)> {
        form_urlencoded::parse(request.body()).into_owned().collect()
    }

    fn header<'a>(request: &'a http::Request<Bytes>, name: &str) -> Option<&'a str> {
        request.headers().get(name).map(|v| v.to_str().unwrap())
    }

    async fn token_result(status: u16, body: &'static str) -> Result<TokenSet, ProviderError> {
        let (http, _) = answering(status, body);
        let s = secret();
        provider(TokenAuth::Basic).exchange_code(ctx(&http, &s), "code", "https://app/cb", None).await
    }

    fn pairs(url: &Url) -> Vec<(String, String)> {
        url.query_pairs().into_owned().collect()
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_authorize_url_keeps_the_endpoint_query_and_adds_every_parameter() {
        let p = GenericProvider::from_config(
            &config(TokenAuth::Basic)
                .with_scope_separator(",")
                .with_authorize_params([("access_type", "offline"), ("prompt", "consent")]),
        )
        .unwrap();
        let scopes = ["read".to_owned(), "write:all".to_owned()];
        let url = p
            .authorize_url(&AuthorizeRequest {
                client_id: "client 1",
                redirect_uri: "https://app.example/v1/oauth/acme/callback",
                scopes: &scopes,
                state: "st&ate=1",
                code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            })
            .unwrap();
        assert_eq!(url.host_str(), Some("auth.acme.example"));
        assert_eq!(url.path(), "/oauth/authorize");
        assert_eq!(
            pairs(&url),
            owned(&[
                ("tenant", "t1"),
                ("response_type", "code"),
                ("client_id", "client 1"),
                ("redirect_uri", "https://app.example/v1/oauth/acme/callback"),
                ("scope", "read,write:all"),
                ("state", "st&ate=1"),
                ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                ("code_challenge_method", "S256"),
                ("access_type", "offline"),
                ("prompt", "consent"),
            ])
        );
    }

    proptest::proptest! {
        /// Whatever the values, the query reads back as the endpoint's own pairs followed by
        /// the request's, each value intact: nothing is lost, merged or split by encoding.
        #[test]
        fn the_authorize_query_reads_back_as_the_endpoint_pairs_then_the_requests(
            endpoint_query in proptest::option::of("[a-z]{1,4}=[a-z0-9 ]{0,6}"),
            client_id in "\\PC{0,12}",
            redirect_uri in "[ -~]{0,40}",
            scopes in proptest::collection::vec("[!-~é]{1,8}", 0..3),
            state in "[A-Za-z0-9_.*~ &=+-]{0,40}",
            challenge in "[A-Za-z0-9_-]{1,43}",
            pkce: bool,
        ) {
            let authorize = match &endpoint_query {
                Some(q) => format!("https://auth.acme.example/oauth/authorize?{q}"),
                None => "https://auth.acme.example/oauth/authorize".to_owned(),
            };
            let Ok(p) = GenericProvider::from_config(
                &config(TokenAuth::Basic)
                    .with_authorize_url(authorize.clone())
                    .with_pkce(pkce)
                    .with_authorize_params([("access_type", "offline"), ("prompt", "consent x")]),
            ) else {
                // An endpoint query that sets a reserved name is refused at configuration.
                return Ok(());
            };
            let r = AuthorizeRequest {
                client_id: &client_id,
                redirect_uri: &redirect_uri,
                scopes: &scopes,
                state: &state,
                code_challenge: Some(&challenge),
            };
            let url = p.authorize_url(&r).unwrap();
            let mut expected = pairs(&Url::parse(&authorize).unwrap());
            expected.extend(owned(&[("response_type", "code"), ("client_id", &client_id), ("redirect_uri", &redirect_uri)]));
            if !scopes.is_empty() {
                expected.push(("scope".to_owned(), scopes.join(" ")));
            }
            expected.push(("state".to_owned(), state.clone()));
            if pkce {
                expected.extend(owned(&[("code_challenge", &challenge), ("code_challenge_method", "S256")]));
            }
            expected.extend(owned(&[("access_type", "offline"), ("prompt", "consent x")]));
            proptest::prop_assert_eq!(pairs(&url), expected);
            proptest::prop_assert_eq!(url.host_str(), Some("auth.acme.example"));
        }
    }

    #[test]
    fn the_authorize_url_omits_an_empty_scope_and_pkce_when_off() {
        let p = GenericProvider::from_config(&config(TokenAuth::Body).with_pkce(false)).unwrap();
        let url = p
            .authorize_url(&AuthorizeRequest {
                client_id: "c",
                redirect_uri: "https://app/cb",
                scopes: &[],
                state: "s",
                code_challenge: Some("ignored"),
            })
            .unwrap();
        let names: Vec<String> = pairs(&url).into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["tenant", "response_type", "client_id", "redirect_uri", "state"]);
    }

    #[test]
    fn the_authorize_url_of_a_pkce_provider_needs_a_challenge() {
        let err = provider(TokenAuth::Basic)
            .authorize_url(&AuthorizeRequest {
                client_id: "c",
                redirect_uri: "https://app/cb",
                scopes: &[],
                state: "s",
                code_challenge: None,
            })
            .unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unsupported);
    }

    #[tokio::test]
    async fn a_basic_exchange_sends_the_secret_only_in_the_form_encoded_basic_header() {
        let (http, seen) = answering(200, r#"{"access_token":"at","token_type":"bearer"}"#);
        let s = secret();
        let verifier = Secret::new("v".repeat(43));
        provider(TokenAuth::Basic)
            .exchange_code(ctx(&http, &s), "the/code", "https://app/cb?x=1", Some(&verifier))
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        let request = &seen[0];
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), "https://auth.acme.example/oauth/token");
        assert_eq!(header(request, "content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(header(request, "accept"), Some("application/json"));
        assert_eq!(header(request, "user-agent"), Some(USER_AGENT_VALUE));
        assert!(USER_AGENT_VALUE.starts_with("dravo-connect/"));
        // base64("client+1:a%3Ab%26c")
        let expected = format!("Basic {}", STANDARD.encode("client+1:a%3Ab%26c"));
        assert_eq!(header(request, "authorization"), Some(expected.as_str()));
        assert!(request.headers()["authorization"].is_sensitive());
        assert_eq!(
            form(request),
            owned(&[
                ("grant_type", "authorization_code"),
                ("code", "the/code"),
                ("redirect_uri", "https://app/cb?x=1"),
                ("code_verifier", &"v".repeat(43)),
            ])
        );
        let body = String::from_utf8(request.body().to_vec()).unwrap();
        assert!(!body.contains("client_secret") && !body.contains("a%3Ab") && !body.contains(SECRET));
    }

    #[tokio::test]
    async fn a_body_exchange_sends_client_id_and_secret_as_fields_and_no_header() {
        let (http, seen) = answering(200, r#"{"access_token":"at"}"#);
        let s = secret();
        provider(TokenAuth::Body).exchange_code(ctx(&http, &s), "code", "https://app/cb", None).await.unwrap();
        let request = &first(&seen);
        assert!(request.headers().get("authorization").is_none());
        assert_eq!(
            form(request),
            owned(&[
                ("grant_type", "authorization_code"),
                ("code", "code"),
                ("redirect_uri", "https://app/cb"),
                ("client_id", "client 1"),
                ("client_secret", SECRET),
            ])
        );
    }

    #[tokio::test]
    async fn a_public_client_exchange_sends_only_the_client_id() {
        let (http, seen) = answering(200, r#"{"access_token":"at"}"#);
        let s = secret();
        provider(TokenAuth::None).exchange_code(ctx(&http, &s), "code", "https://app/cb", None).await.unwrap();
        let request = &first(&seen);
        assert!(request.headers().get("authorization").is_none());
        let fields = form(request);
        assert!(fields.contains(&("client_id".into(), "client 1".into())));
        assert!(!fields.iter().any(|(k, _)| k == "client_secret" || k == "code_verifier"));
    }

    #[tokio::test]
    async fn the_verifier_is_sent_only_when_given_and_the_provider_uses_pkce() {
        let verifier = Secret::new("v".repeat(43));
        let s = secret();
        for (pkce, given, expected) in [(true, true, true), (true, false, false), (false, true, false)] {
            let (http, seen) = answering(200, r#"{"access_token":"at"}"#);
            let p = GenericProvider::from_config(&config(TokenAuth::Basic).with_pkce(pkce)).unwrap();
            p.exchange_code(ctx(&http, &s), "c", "https://app/cb", given.then_some(&verifier)).await.unwrap();
            let sent = form(&first(&seen)).iter().any(|(k, _)| k == "code_verifier");
            assert_eq!(sent, expected, "pkce={pkce} given={given}");
        }
    }

    #[tokio::test]
    async fn a_full_token_response_is_read() {
        let tokens = token_result(
            200,
            r#"{"access_token":"at","token_type":"Bearer","expires_in":7200,"refresh_token":"rt","scope":"read write"}"#,
        )
        .await
        .unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "at");
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "rt");
        assert_eq!(tokens.expires_in, Some(7200));
        assert_eq!(tokens.scopes.unwrap(), ["read", "write"]);
    }

    #[tokio::test]
    async fn a_200_with_an_error_member_is_a_rejection() {
        let err = token_result(200, r#"{"error":"invalid_grant","access_token":"at"}"#).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Rejected);
        assert_eq!(err.oauth_error(), Some("invalid_grant"));
        let err = token_result(200, r#"{"error":{"message":"nested","code":190}}"#).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Rejected);
        assert!(!err.to_string().contains("nested"));
    }

    #[tokio::test]
    async fn a_missing_empty_or_non_string_access_token_is_an_invalid_response() {
        for body in [
            r#"{"token_type":"bearer"}"#,
            r#"{"access_token":""}"#,
            r#"{"access_token":42}"#,
            r#"{"access_token":null}"#,
        ] {
            let err = token_result(200, body).await.unwrap_err();
            assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse, "{body}");
        }
    }

    #[tokio::test]
    async fn a_token_type_other_than_bearer_is_an_invalid_response_and_none_is_fine() {
        let err = token_result(200, r#"{"access_token":"at","token_type":"mac"}"#).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse);
        let err = token_result(200, r#"{"access_token":"at","token_type":"DPoP"}"#).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse);
        token_result(200, r#"{"access_token":"at","token_type":"BEARER"}"#).await.unwrap();
        let tokens = token_result(200, r#"{"access_token":"at","user_id":1}"#).await.unwrap();
        assert_eq!(tokens.expires_in, None);
        assert!(tokens.refresh_token.is_none() && tokens.scopes.is_none());
    }

    #[tokio::test]
    async fn expires_in_may_be_a_number_or_a_numeric_string() {
        let t = token_result(200, r#"{"access_token":"at","expires_in":"3600"}"#).await.unwrap();
        assert_eq!(t.expires_in, Some(3600));
        let t = token_result(200, r#"{"access_token":"at","expires_in":3599.9}"#).await.unwrap();
        assert_eq!(t.expires_in, Some(3599));
        let t = token_result(200, r#"{"access_token":"at","expires_in":1e30}"#).await.unwrap();
        assert_eq!(t.expires_in, Some(MAX_EXPIRES_IN_SECS));
        for bad in [r#""soon""#, "-5", "true", "[1]"] {
            let body: &'static str =
                Box::leak(format!(r#"{{"access_token":"at","expires_in":{bad}}}"#).into_boxed_str());
            let err = token_result(200, body).await.unwrap_err();
            assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse, "{bad}");
        }
    }

    #[tokio::test]
    async fn scope_may_be_a_string_with_any_usual_separator_or_an_array() {
        let t = token_result(200, r#"{"access_token":"at","scope":"a b,c  d"}"#).await.unwrap();
        assert_eq!(t.scopes.unwrap(), ["a", "b", "c", "d"]);
        let t = token_result(200, r#"{"access_token":"at","scope":["a","b"]}"#).await.unwrap();
        assert_eq!(t.scopes.unwrap(), ["a", "b"]);
        let t = token_result(200, r#"{"access_token":"at","scope":""}"#).await.unwrap();
        assert_eq!(t.scopes.unwrap(), Vec::<String>::new());
        let err = token_result(200, r#"{"access_token":"at","scope":[1]}"#).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse);
        assert_eq!(split_scopes("a|b c", "|"), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_4xx_is_a_rejection_with_the_providers_error_code_or_the_status() {
        let err = token_result(400, r#"{"error":"invalid_grant","error_description":"code=abc123 is bad"}"#)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Rejected);
        assert_eq!(err.oauth_error(), Some("invalid_grant"));
        assert!(!err.to_string().contains("abc123"));
        let err = token_result(401, "Unauthorized").await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Rejected);
        assert_eq!(err.oauth_error(), Some("http_401"));
        let err = token_result(429, r#"{"error":"slow_down"}"#).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn a_5xx_or_a_3xx_means_the_provider_is_unavailable() {
        for status in [500, 502, 503, 301, 302, 307, 308] {
            let err = token_result(status, r#"{"access_token":"at"}"#).await.unwrap_err();
            assert_eq!(err.kind(), ProviderErrorKind::Unavailable, "{status}");
        }
    }

    #[tokio::test]
    async fn a_2xx_that_is_not_a_json_object_is_an_invalid_response() {
        for body in ["access_token=at&token_type=bearer", "<html>", "[]", "\"at\"", ""] {
            let err = token_result(200, body).await.unwrap_err();
            assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse, "{body}");
            assert!(!err.to_string().contains("access_token=at"));
        }
    }

    #[tokio::test]
    async fn no_error_message_holds_the_body_a_token_or_the_secret() {
        let bodies = [
            (200, r#"{"access_token":"tok-SECRET-1","token_type":"mac"}"#),
            (200, r#"{"error":"invalid_grant","access_token":"tok-SECRET-1"}"#),
            (400, r#"{"error":"invalid grant tok-SECRET-1 with a long tail to be cut"}"#),
            (500, "tok-SECRET-1"),
        ];
        for (status, body) in bodies {
            let err = token_result(status, body).await.unwrap_err();
            if status == 400 {
                assert_eq!(err.oauth_error(), Some("http_400"), "free text is not an error code");
            }
            let text = format!("{err} {err:?}");
            assert!(!text.contains("SECRET") && !text.contains(SECRET), "{text}");
        }
    }

    #[tokio::test]
    async fn a_refresh_posts_the_refresh_grant_with_client_auth_and_keeps_a_missing_refresh_token_absent() {
        let (http, seen) = answering(200, r#"{"access_token":"new","expires_in":3600}"#);
        let s = secret();
        let tokens =
            provider(TokenAuth::Body).refresh(ctx(&http, &s), &Secret::new("old-rt".to_owned())).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "new");
        assert!(tokens.refresh_token.is_none());
        let request = &first(&seen);
        assert_eq!(request.uri(), "https://auth.acme.example/oauth/token");
        assert_eq!(
            form(request),
            owned(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "old-rt"),
                ("client_id", "client 1"),
                ("client_secret", SECRET),
            ])
        );
    }

    #[tokio::test]
    async fn a_refresh_refused_with_invalid_grant_says_so() {
        let (http, _) = answering(400, r#"{"error":"invalid_grant"}"#);
        let s = secret();
        let err = provider(TokenAuth::Basic).refresh(ctx(&http, &s), &Secret::new("rt".to_owned())).await.unwrap_err();
        assert_eq!(err.oauth_error(), Some("invalid_grant"));
    }

    #[tokio::test]
    async fn revoke_posts_the_token_with_its_hint_and_client_auth() {
        let (http, seen) = answering(200, "");
        let s = secret();
        provider(TokenAuth::Basic)
            .revoke(ctx(&http, &s), GrantTokens::new(&Secret::new("at".to_owned()), None))
            .await
            .unwrap();
        let request = &first(&seen);
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), "https://auth.acme.example/oauth/revoke");
        assert!(header(request, "authorization").unwrap().starts_with("Basic "));
        assert_eq!(form(request), owned(&[("token", "at"), ("token_type_hint", "access_token")]));
        let (http, _) = answering(503, "");
        let err = provider(TokenAuth::Basic)
            .revoke(ctx(&http, &s), GrantTokens::new(&Secret::new("at".to_owned()), None))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unavailable);
        let (http, _) = answering(400, r#"{"error":"unsupported_token_type"}"#);
        let err = provider(TokenAuth::Basic)
            .revoke(ctx(&http, &s), GrantTokens::new(&Secret::new("at".to_owned()), None))
            .await
            .unwrap_err();
        assert_eq!(err.oauth_error(), Some("unsupported_token_type"));
    }

    #[tokio::test]
    async fn revoke_sends_the_refresh_token_then_the_access_token_each_with_its_hint() {
        use crate::fixtures::{replay, requests};
        let (http, seen) = replay(&[(200, ""), (200, "")]);
        let s = secret();
        let (access, refresh) = (Secret::new("at".to_owned()), Secret::new("rt".to_owned()));
        provider(TokenAuth::Basic).revoke(ctx(&http, &s), GrantTokens::new(&access, Some(&refresh))).await.unwrap();
        let sent = requests(&seen);
        assert_eq!(sent.len(), 2);
        assert_eq!(form(&sent[0]), owned(&[("token", "rt"), ("token_type_hint", "refresh_token")]));
        assert_eq!(form(&sent[1]), owned(&[("token", "at"), ("token_type_hint", "access_token")]));
        for request in &sent {
            assert_eq!(request.uri(), "https://auth.acme.example/oauth/revoke");
            assert!(header(request, "authorization").unwrap().starts_with("Basic "));
        }
        // A refused refresh token: the access token is still revoked, and the answer is
        // the failure.
        let (http, seen) = replay(&[(400, r#"{"error":"unsupported_token_type"}"#), (200, "")]);
        let err = provider(TokenAuth::Basic)
            .revoke(ctx(&http, &s), GrantTokens::new(&access, Some(&refresh)))
            .await
            .unwrap_err();
        assert_eq!(err.oauth_error(), Some("unsupported_token_type"));
        assert_eq!(requests(&seen).len(), 2);
        // A failing access token revocation after a revoked refresh token is a failure too.
        let (http, _) = replay(&[(200, ""), (503, "")]);
        let err = provider(TokenAuth::Basic)
            .revoke(ctx(&http, &s), GrantTokens::new(&access, Some(&refresh)))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn revoke_without_an_endpoint_is_unsupported_and_sends_nothing() {
        let mut cfg = config(TokenAuth::Basic);
        cfg.revoke_url = None;
        let p = GenericProvider::from_config(&cfg).unwrap();
        let (http, seen) = answering(200, "");
        let s = secret();
        let err = p.revoke(ctx(&http, &s), GrantTokens::new(&Secret::new("at".to_owned()), None)).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unsupported);
        assert!(seen.lock().unwrap().is_empty());
    }

    async fn profile_result(status: u16, body: &'static str) -> Result<Profile, ProviderError> {
        let (http, _) = answering(status, body);
        provider(TokenAuth::Basic).fetch_profile(&http, &Secret::new("at".to_owned())).await
    }

    #[tokio::test]
    async fn the_profile_call_sends_the_bearer_token_and_reads_the_pointers() {
        let (http, seen) = answering(
            200,
            r#"{"data":{"id":"42","username":"ada","name":"Ada L.","avatar":"https://cdn.example/a.png"}}"#,
        );
        let profile =
            provider(TokenAuth::Basic).fetch_profile(&http, &Secret::new("the-token".to_owned())).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "42".into(),
                username: Some("ada".into()),
                display_name: Some("Ada L.".into()),
                avatar_url: Some("https://cdn.example/a.png".into()),
            }
        );
        let request = &first(&seen);
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri(), "https://api.acme.example/v1/me");
        assert_eq!(header(request, "authorization"), Some("Bearer the-token"));
        assert!(request.headers()["authorization"].is_sensitive());
        assert_eq!(header(request, "accept"), Some("application/json"));
        assert!(request.body().is_empty());
    }

    #[tokio::test]
    async fn a_numeric_profile_id_is_accepted_and_a_missing_one_is_an_invalid_response() {
        assert_eq!(profile_result(200, r#"{"data":{"id":12345678901}}"#).await.unwrap().id, "12345678901");
        for body in
            [r#"{"data":{}}"#, r#"{"data":{"id":""}}"#, r#"{"data":{"id":1.5}}"#, r#"{"data":{"id":true}}"#, "not json"]
        {
            let err = profile_result(200, body).await.unwrap_err();
            assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse, "{body}");
        }
    }

    #[tokio::test]
    async fn profile_strings_are_capped_and_a_non_http_avatar_is_dropped() {
        let long = "n".repeat(300);
        let body = format!(
            r#"{{"data":{{"id":"1","username":"{long}","name":" Ada\u0007 ","avatar":"javascript:alert(1)"}}}}"#
        );
        let profile = profile_result(200, Box::leak(body.into_boxed_str())).await.unwrap();
        assert_eq!(profile.username.unwrap().chars().count(), 255);
        assert_eq!(profile.display_name.as_deref(), Some("Ada"));
        assert_eq!(profile.avatar_url, None);
        let long_avatar = format!(r#"{{"data":{{"id":"1","avatar":"https://cdn.example/{}"}}}}"#, "a".repeat(2100));
        let profile = profile_result(200, Box::leak(long_avatar.into_boxed_str())).await.unwrap();
        assert_eq!(profile.avatar_url, None);
        let profile = profile_result(200, r#"{"data":{"id":"1","username":7,"name":""}}"#).await.unwrap();
        assert_eq!((profile.username, profile.display_name), (None, None));
    }

    #[tokio::test]
    async fn a_refused_profile_token_is_invalid_token_and_a_5xx_is_unavailable() {
        for status in [401, 403] {
            let err = profile_result(status, r#"{"title":"Unauthorized"}"#).await.unwrap_err();
            assert_eq!(err.oauth_error(), Some("invalid_token"));
        }
        let err = profile_result(503, "").await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unavailable);
        let err = profile_result(302, "").await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn a_transport_failure_is_a_transport_error() {
        let http = |_request: http::Request<Bytes>| async { Err::<http::Response<Bytes>, _>(HttpError::Timeout) };
        let s = secret();
        let err =
            provider(TokenAuth::Basic).exchange_code(ctx(&http, &s), "c", "https://app/cb", None).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Transport);
    }

    #[test]
    fn issuer_and_requires_iss_come_from_configuration() {
        let p = GenericProvider::from_config(
            &config(TokenAuth::Basic).with_issuer("https://auth.acme.example").with_requires_iss(true),
        )
        .unwrap();
        // Kept exactly as written: RFC 9207 compares by simple string comparison.
        assert_eq!(p.issuer(), Some("https://auth.acme.example"));
        assert!(p.requires_iss());
        let p = provider(TokenAuth::Basic);
        assert_eq!((p.issuer(), p.requires_iss()), (None, false));
    }

    #[test]
    fn defaults_are_pkce_basic_auth_and_a_space_separator() {
        let mut cfg = config(TokenAuth::Basic);
        cfg.token_auth = None;
        let p = GenericProvider::from_config(&cfg).unwrap();
        assert!(p.uses_pkce());
        assert_eq!(p.token_auth, TokenAuth::Basic);
        assert_eq!(p.scope_separator, " ");
    }

    #[test]
    fn configuration_mistakes_are_refused() {
        let refused = |cfg: GenericConfig| GenericProvider::from_config(&cfg).unwrap_err().to_string();
        let base = || config(TokenAuth::Basic);
        assert!(refused(base().with_requires_iss(true)).contains("requires_iss needs issuer"));
        assert!(refused(base().with_issuer("https://auth.acme.example?x=1")).contains("issuer"));
        assert!(refused(base().with_issuer("http://auth.acme.example")).contains("issuer"));
        assert!(refused(base().with_scopes(["a b"])).contains("scopes"));
        assert!(refused(base().with_scopes([""])).contains("scopes"));
        assert!(refused(base().with_scopes(["a,b"]).with_scope_separator(",")).contains("scopes"));
        assert!(refused(base().with_scope_separator("")).contains("scope_separator"));
        assert!(refused(base().with_authorize_params([("state", "x")])).contains("authorize_params"));
        assert!(refused(base().with_authorize_params([("", "x")])).contains("authorize_params"));
        assert!(
            refused(base().with_authorize_url("https://a.example/authorize?client_id=evil")).contains("authorize_url")
        );
        assert!(
            refused(base().with_profile(ProfilePointers::new("/id").with_username("name")))
                .contains("profile.username")
        );
        assert!(refused(base().with_token_url("http://auth.acme.example/token")).contains("token_url"));
    }
}
