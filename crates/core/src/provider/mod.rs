//! Providers: the [`Provider`] trait and the records a provider answers with. The generic
//! OAuth 2.0 provider described by configuration and the built-in social networks are in
//! `dravo-connect-providers`, written against exactly this.
//!
//! A provider knows one network's endpoints and quirks: how to build its authorize URL, how
//! to exchange a code (client-auth style, PKCE), how to read the account's profile, refresh
//! and revoke. Everything else (state, PKCE verifier, storage, redirects) is the same for
//! every provider and lives outside it.

use std::fmt;

use async_trait::async_trait;
use url::Url;

use crate::http_client::{HttpClient, HttpError};
use crate::ids::ProviderId;
use crate::secret::Secret;

mod capabilities;

pub use capabilities::{
    Capabilities, ClientAuth, LoginMethod, RefreshModel, RefreshTokenRequirement, Rotation, TargetType,
};

/// The client credentials of a tenant's OAuth app at the provider.
#[derive(Debug, Clone, Copy)]
pub struct ClientCredentials<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// The client secret.
    pub client_secret: &'a Secret<String>,
}

/// What a provider call needs besides its own arguments.
#[derive(Clone, Copy)]
pub struct ProviderContext<'a> {
    /// The outbound HTTP client.
    pub http: &'a dyn HttpClient,
    /// The tenant's client credentials.
    pub credentials: ClientCredentials<'a>,
}

impl fmt::Debug for ProviderContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderContext").field("credentials", &self.credentials).finish_non_exhaustive()
    }
}

/// The tokens of one account's grant, as [`Provider::revoke`] gets them.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct GrantTokens<'a> {
    /// The access token.
    pub access_token: &'a Secret<String>,
    /// The refresh token, when the account has one.
    pub refresh_token: Option<&'a Secret<String>>,
}

impl<'a> GrantTokens<'a> {
    /// An account's tokens.
    pub fn new(access_token: &'a Secret<String>, refresh_token: Option<&'a Secret<String>>) -> Self {
        Self { access_token, refresh_token }
    }
}

/// The parameters of an authorization request.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizeRequest<'a> {
    /// The app's client id.
    pub client_id: &'a str,
    /// Our callback URL for this provider.
    pub redirect_uri: &'a str,
    /// The scopes to request.
    pub scopes: &'a [String],
    /// The signed state.
    pub state: &'a str,
    /// The PKCE S256 challenge, for providers that use PKCE.
    pub code_challenge: Option<&'a str>,
}

/// Tokens returned by a code exchange or a refresh.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret<String>,
    /// The refresh token, when the provider sent one.
    pub refresh_token: Option<Secret<String>>,
    /// Seconds until the access token expires, when the provider said.
    pub expires_in: Option<u64>,
    /// The scopes granted, when the provider said (record these, not the requested ones).
    pub scopes: Option<Vec<String>>,
}

/// The account behind a token, as the provider describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The account's stable id at the provider.
    pub id: String,
    /// The handle, where the network has one.
    pub username: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// The avatar URL.
    pub avatar_url: Option<String>,
}

/// A session created with an app password ([`Provider::create_session`]): its tokens and
/// the account behind them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PasswordSession {
    /// The session's tokens (Bluesky: `accessJwt` and `refreshJwt`).
    pub tokens: TokenSet,
    /// The account (Bluesky: the DID as id, the handle as username).
    pub profile: Profile,
}

impl PasswordSession {
    /// A session.
    pub fn new(tokens: TokenSet, profile: Profile) -> Self {
        Self { tokens, profile }
    }
}

/// A publishable target behind a token (a Facebook Page, a LinkedIn organisation, an
/// Instagram business account, a Pinterest board), as [`Provider::list_targets`] finds it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The target's id at the provider (it becomes the account's `provider_account_id`).
    pub id: String,
    /// What kind of target it is.
    pub target_type: TargetType,
    /// The handle, where the target has one.
    pub username: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// The avatar URL.
    pub avatar_url: Option<String>,
    /// The target's own access token (a Facebook Page token); `None`: the person's token
    /// publishes to it.
    pub access_token: Option<Secret<String>>,
}

/// What went wrong in a provider call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderErrorKind {
    /// The request did not complete (timeout, connection refused, response too large).
    Transport,
    /// The provider answered with a server error (5xx) or an unexpected status.
    Unavailable,
    /// The provider refused the request (an RFC 6749 error such as `invalid_grant`, or a
    /// 400/401/403).
    Rejected,
    /// The provider answered 200 with something unusable (not JSON, no `access_token`, a
    /// missing profile id, a wrong `token_type`).
    InvalidResponse,
    /// The provider does not support this operation.
    Unsupported,
}

/// A failed provider call. Its message is for logs only: it may hold the provider's own
/// error code, and callers map it into the fixed sets of [`crate::ErrorCode`] and
/// [`crate::OAuthErrorReason`], never echoing it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?}: {detail}")]
pub struct ProviderError {
    kind: ProviderErrorKind,
    detail: String,
    oauth_error: Option<String>,
}

impl ProviderError {
    /// A new error.
    pub fn new(kind: ProviderErrorKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into(), oauth_error: None }
    }

    /// A refusal carrying the provider's RFC 6749 `error` code (e.g. `invalid_grant`).
    pub fn rejected(oauth_error: impl Into<String>) -> Self {
        let code: String = oauth_error.into();
        let code: String = code.chars().take(64).filter(|c| c.is_ascii_graphic()).collect();
        Self { kind: ProviderErrorKind::Rejected, detail: format!("provider refused: {code}"), oauth_error: Some(code) }
    }

    /// What went wrong.
    pub fn kind(&self) -> ProviderErrorKind {
        self.kind
    }

    /// The provider's RFC 6749 error code, when it sent one (sanitised: at most 64 visible
    /// ASCII characters). For logic such as "`invalid_grant` means the grant is gone"; never
    /// echo it to a client.
    pub fn oauth_error(&self) -> Option<&str> {
        self.oauth_error.as_deref()
    }
}

impl From<HttpError> for ProviderError {
    fn from(e: HttpError) -> Self {
        Self::new(ProviderErrorKind::Transport, e.to_string())
    }
}

/// One social network (or any OAuth 2.0 authorization server).
///
/// Object-safe: `Connect` keeps `Arc<dyn Provider>` values in a registry keyed by
/// [`Provider::id`]. Implement it for a network the crate does not know, or describe the
/// network in configuration and use `GenericProvider` (`dravo-connect-providers`).
///
/// Whatever a provider answers, `Connect` bounds it before storing anything of it: access,
/// refresh and target tokens of at most 8 KiB (an access token of at least one byte), at
/// most 100 granted scopes of at most 256 bytes each, ids (1 byte or more), usernames and
/// display names of at most 1 KiB, and at most 500 targets (repeated ids dropped, then the
/// first 500 kept). An answer over a bound fails the connect, registration or refresh as a
/// provider failure would, and nothing of it is stored. An avatar URL that is not an
/// absolute http(s) URL of at most 2 KiB is dropped instead.
#[async_trait]
pub trait Provider: fmt::Debug + Send + Sync + 'static {
    /// The provider's id; it is part of the registered callback URL and never changes.
    fn id(&self) -> &ProviderId;

    /// The scopes requested when an app names none.
    fn default_scopes(&self) -> &[String];

    /// Whether the authorize request carries a PKCE S256 challenge (and the exchange the
    /// verifier).
    fn uses_pkce(&self) -> bool;

    /// The issuer identifier (RFC 9207) the provider sends as `iss` on its callback, if any.
    fn issuer(&self) -> Option<&str> {
        None
    }

    /// Whether the provider always sends `iss` on its callback (so a missing one is refused).
    fn requires_iss(&self) -> bool {
        false
    }

    /// What the provider does: PKCE, client authentication, scopes, refresh model,
    /// lifetimes, revocation, target selection. The default knows only
    /// [`uses_pkce`](Self::uses_pkce) and assumes RFC 6749 for the rest
    /// ([`Capabilities::unknown`]).
    fn capabilities(&self) -> Capabilities {
        Capabilities::unknown(self.uses_pkce())
    }

    /// How an account is connected: [`capabilities`](Self::capabilities)`().login`, asked on
    /// every `start`. A provider whose capabilities take building may answer it directly.
    fn login_method(&self) -> LoginMethod {
        self.capabilities().login
    }

    /// Builds the URL the user is sent to for consent.
    ///
    /// # Errors
    /// When the configured endpoint cannot hold the parameters.
    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError>;

    /// The same URL as [`authorize_url`](Self::authorize_url), serialised: what `start` and
    /// the browser-binding hop send the browser to. The default serialises
    /// `authorize_url`; a provider on a hot path can build the string directly.
    ///
    /// # Errors
    /// As [`authorize_url`](Self::authorize_url).
    fn authorize_url_string(&self, request: &AuthorizeRequest<'_>) -> Result<String, ProviderError> {
        self.authorize_url(request).map(String::from)
    }

    /// Exchanges an authorization code for tokens.
    ///
    /// # Errors
    /// [`ProviderError`] when the exchange fails; a response without an `access_token`, or
    /// with an `error`, is a failure even with status 200.
    async fn exchange_code(
        &self,
        ctx: ProviderContext<'_>,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: Option<&Secret<String>>,
    ) -> Result<TokenSet, ProviderError>;

    /// Reads the profile of the account behind `access_token`.
    ///
    /// # Errors
    /// [`ProviderErrorKind::Rejected`] when the provider refuses the token.
    async fn fetch_profile(
        &self,
        http: &dyn HttpClient,
        access_token: &Secret<String>,
    ) -> Result<Profile, ProviderError>;

    /// Gets a new access token with a refresh token.
    ///
    /// # Errors
    /// [`ProviderErrorKind::Rejected`] (with `invalid_grant`) when the grant is gone for good.
    async fn refresh(
        &self,
        ctx: ProviderContext<'_>,
        refresh_token: &Secret<String>,
    ) -> Result<TokenSet, ProviderError>;

    /// Renews a still-valid access token by exchanging it for a new one, for providers whose
    /// [`Capabilities::refresh`] is [`RefreshModel::Reexchange`] (Facebook, Instagram,
    /// Threads: they have no refresh token). The returned set has no refresh token. The
    /// default does nothing and says so.
    ///
    /// # Errors
    /// [`ProviderErrorKind::Unsupported`] when the provider has no re-exchange;
    /// [`ProviderErrorKind::Rejected`] when the provider refuses the token (expired, revoked,
    /// or younger than the provider's minimum age).
    async fn reexchange(
        &self,
        ctx: ProviderContext<'_>,
        access_token: &Secret<String>,
    ) -> Result<TokenSet, ProviderError> {
        let _ = (ctx, access_token);
        Err(ProviderError::new(ProviderErrorKind::Unsupported, "no re-exchange"))
    }

    /// Creates a session from an identifier and an app password, for providers whose
    /// [`Capabilities::login`] is [`LoginMethod::AppPassword`] (Bluesky). The password is
    /// used for this one request and never kept. The default does nothing and says so.
    ///
    /// # Errors
    /// [`ProviderErrorKind::Unsupported`] when the provider takes no app passwords;
    /// [`ProviderErrorKind::Rejected`] when it refuses the login (the provider's error name,
    /// such as `AuthenticationRequired` or `AuthFactorTokenRequired`, is
    /// [`ProviderError::oauth_error`]); [`ProviderErrorKind::Unavailable`] for a 5xx or a
    /// 429.
    async fn create_session(
        &self,
        http: &dyn HttpClient,
        identifier: &str,
        password: &Secret<String>,
    ) -> Result<PasswordSession, ProviderError> {
        let _ = (http, identifier, password);
        Err(ProviderError::new(ProviderErrorKind::Unsupported, "no app-password login"))
    }

    /// When an access token expires, for providers whose token responses carry no
    /// `expires_in` but whose tokens say it themselves (Bluesky's JWTs). Only schedules the
    /// refresh. The default knows nothing.
    fn access_token_expires_at(&self, access_token: &Secret<String>) -> Option<time::OffsetDateTime> {
        let _ = access_token;
        None
    }

    /// The publishable targets the person behind `tokens` can choose from after consent
    /// (Pages, organisations, Instagram business accounts, boards). When it finds any, the
    /// callback stores a selection and redirects with `selection_id` instead of
    /// `connected`. The default finds none.
    ///
    /// # Errors
    /// [`ProviderError`] when the provider fails or refuses the listing.
    async fn list_targets(
        &self,
        http: &dyn HttpClient,
        tokens: &TokenSet,
        profile: &Profile,
    ) -> Result<Vec<Target>, ProviderError> {
        let _ = (http, tokens, profile);
        Ok(Vec::new())
    }

    /// Revokes an account's grant at the provider, where it can: every token of `tokens`
    /// its endpoint takes, the refresh token (the long-lived one) before the access token,
    /// trying each even when an earlier one failed. The default does nothing and says so.
    ///
    /// Providers whose [`Capabilities::refresh`] is [`RefreshModel::Session`] end the
    /// session with its refresh token, without client credentials.
    ///
    /// # Errors
    /// [`ProviderErrorKind::Unsupported`] when the provider has no revocation endpoint; the
    /// first failure when any revocation call failed (`Ok` means every call succeeded).
    async fn revoke(&self, ctx: ProviderContext<'_>, tokens: GrantTokens<'_>) -> Result<(), ProviderError> {
        let _ = (ctx, tokens);
        Err(ProviderError::new(ProviderErrorKind::Unsupported, "no revocation endpoint"))
    }
}
