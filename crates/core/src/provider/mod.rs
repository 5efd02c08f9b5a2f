//! Providers: the [`Provider`] trait and the small traits for what a provider does, with the
//! records a provider answers with. The generic OAuth 2.0 provider described by
//! configuration and the built-in social networks (`dravo-connect-providers`) are written
//! against exactly these.
//!
//! A provider knows one network's endpoints and quirks. What it does comes through the part
//! it implements, each a trait of its own: the OAuth code flow ([`CodeFlow`]: the authorize
//! URL, the code exchange with its client-auth style and PKCE, the profile, revocation, and
//! the [`Renewal`] of its tokens, by refresh grant ([`RefreshGrant`]) or re-exchange
//! ([`Reexchange`])), a password login with its session ([`PasswordLogin`]), client
//! registration per server ([`ClientRegistration`]), target listing ([`TargetListing`]).
//! `Connect` asks [`Provider`] for these parts and never for a provider's id; the
//! [`Capabilities`] table describes a provider for `GET /providers` and decides nothing.
//! Everything else (state, PKCE verifier, storage, redirects) is the same for every provider
//! and lives outside it.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use url::Url;

use crate::http_client::{HttpClient, HttpError};
use crate::{ProviderId, Secret};

mod capabilities;
mod instance;

pub use capabilities::{
    Capabilities, ClientAuth, LoginMethod, RefreshModel, RefreshTokenRequirement, Rotation, TargetType,
};
pub use instance::Instance;

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

/// The tokens of one account's grant, as [`CodeFlow::revoke`] and
/// [`PasswordLogin::end_session`] get them.
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

/// A session created with an app password ([`PasswordLogin::create_session`]): its tokens and
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
/// Instagram business account, a Pinterest board), as [`TargetListing::list_targets`] finds it.
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

/// One social network (or any OAuth 2.0 authorization server): its id, its description, and
/// what it does, each through a small trait of its own.
///
/// `Connect` never asks which provider it holds: it asks the provider for the parts it
/// implements. A provider that connects accounts with the OAuth 2.0 code flow answers
/// [`code_flow`](Self::code_flow); one that logs in with a password and keeps a session
/// (Bluesky's app passwords) answers [`password_login`](Self::password_login); one whose
/// clients are registered at each server a tenant names (Mastodon) answers
/// [`registration`](Self::registration); one whose identities publish as several targets
/// (Pages, organisations, boards) answers [`targets`](Self::targets). Each answers `None` by
/// default.
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
pub trait Provider: fmt::Debug + Send + Sync + 'static {
    /// The provider's id; it is part of the registered callback URL and never changes.
    fn id(&self) -> &ProviderId;

    /// What the provider does, for `GET /providers`: a description only, never read to
    /// decide what `Connect` does. The default derives the login method, PKCE, the renewal
    /// kind and target selection from the parts the provider implements
    /// ([`Capabilities::of`]) and assumes RFC 6749 for the rest.
    fn capabilities(&self) -> Capabilities {
        Capabilities::of(self)
    }

    /// The OAuth 2.0 authorization-code flow, when accounts connect through `start` and the
    /// callback.
    fn code_flow(&self) -> Option<&dyn CodeFlow> {
        None
    }

    /// A login with an identifier and a password that opens a session (Bluesky's app
    /// passwords), when accounts are registered so.
    fn password_login(&self) -> Option<&dyn PasswordLogin> {
        None
    }

    /// Client registration at each server a tenant names (Mastodon instances), when the
    /// provider is not one server but many.
    fn registration(&self) -> Option<&dyn ClientRegistration> {
        None
    }

    /// The targets an identity can publish as, when a connect may end in a selection.
    fn targets(&self) -> Option<&dyn TargetListing> {
        None
    }
}

/// The OAuth 2.0 authorization-code flow of a provider: the authorize request, the code
/// exchange, the profile, how its tokens are renewed, and revocation.
#[async_trait]
pub trait CodeFlow: Send + Sync {
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

    /// Builds the URL the user is sent to for consent.
    ///
    /// # Errors
    /// When the configured endpoint cannot hold the parameters.
    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError>;

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

    /// Reads the profile of the account behind `access_token` (also for accounts
    /// registered from a token the host already holds).
    ///
    /// # Errors
    /// [`ProviderErrorKind::Rejected`] when the provider refuses the token.
    async fn fetch_profile(
        &self,
        http: &dyn HttpClient,
        access_token: &Secret<String>,
    ) -> Result<Profile, ProviderError>;

    /// Reads the profile as [`fetch_profile`](Self::fetch_profile) does, with the app's
    /// client credentials at hand: for providers whose API calls carry something derived
    /// from them (Meta's `appsecret_proof`, a `User-Agent` naming the app). `Connect` calls
    /// this one whenever it knows the app the token belongs to (a callback, a registration
    /// with an `app_id`), and [`fetch_profile`](Self::fetch_profile) otherwise. The default
    /// ignores the credentials.
    ///
    /// # Errors
    /// As [`fetch_profile`](Self::fetch_profile).
    async fn fetch_profile_with(
        &self,
        ctx: ProviderContext<'_>,
        access_token: &Secret<String>,
    ) -> Result<Profile, ProviderError> {
        self.fetch_profile(ctx.http, access_token).await
    }

    /// How this flow's access tokens are renewed: what `Connect` calls when one is about to
    /// expire. The implementation that renews answers it, so a renewal is never skipped
    /// because a description says otherwise.
    fn renewal(&self) -> Renewal<'_>;

    /// Revokes an account's grant at the provider, where it can: every token of `tokens`
    /// its endpoint takes, the refresh token (the long-lived one) before the access token,
    /// trying each even when an earlier one failed. The default does nothing and says so.
    ///
    /// # Errors
    /// [`ProviderErrorKind::Unsupported`] when the provider has no revocation endpoint; the
    /// first failure when any revocation call failed (`Ok` means every call succeeded).
    async fn revoke(&self, ctx: ProviderContext<'_>, tokens: GrantTokens<'_>) -> Result<(), ProviderError> {
        let _ = (ctx, tokens);
        Err(ProviderError::new(ProviderErrorKind::Unsupported, "no revocation endpoint"))
    }
}

/// How a code flow's access tokens are renewed, as [`CodeFlow::renewal`] answers it.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Renewal<'a> {
    /// The RFC 6749 `refresh_token` grant.
    RefreshGrant(&'a dyn RefreshGrant),
    /// The still-valid access token is exchanged for a new one (Meta's long-lived tokens).
    Reexchange(&'a dyn Reexchange),
    /// No renewal: the token lasts until revoked, or the user reconnects.
    None,
}

impl fmt::Debug for Renewal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RefreshGrant(_) => "RefreshGrant",
            Self::Reexchange(_) => "Reexchange",
            Self::None => "None",
        })
    }
}

/// The RFC 6749 `refresh_token` grant.
#[async_trait]
pub trait RefreshGrant: Send + Sync {
    /// Gets a new access token with a refresh token.
    ///
    /// # Errors
    /// [`ProviderErrorKind::Rejected`] (with `invalid_grant`) when the grant is gone for good.
    async fn refresh(
        &self,
        ctx: ProviderContext<'_>,
        refresh_token: &Secret<String>,
    ) -> Result<TokenSet, ProviderError>;
}

/// Renewal by exchanging a still-valid access token for a new one (Facebook
/// `fb_exchange_token`, Instagram `ig_refresh_token`, Threads `th_refresh_token`: they have
/// no refresh token). `Connect` renews such tokens a week before they expire.
#[async_trait]
pub trait Reexchange: Send + Sync {
    /// The youngest a token may be to be re-exchanged (Instagram and Threads refuse tokens
    /// under 24 hours old). The default: any age.
    fn min_age(&self) -> Option<std::time::Duration> {
        None
    }

    /// Exchanges `access_token` for a new one. The returned set has no refresh token.
    ///
    /// # Errors
    /// [`ProviderErrorKind::Rejected`] when the provider refuses the token (expired, revoked,
    /// or younger than the provider's minimum age).
    async fn reexchange(
        &self,
        ctx: ProviderContext<'_>,
        access_token: &Secret<String>,
    ) -> Result<TokenSet, ProviderError>;
}

/// A login with an identifier and a password that opens a session at the provider (AT
/// Protocol app passwords). Such accounts have no app: the session is refreshed and ended
/// with its own refresh token, without client credentials.
#[async_trait]
pub trait PasswordLogin: Send + Sync {
    /// Creates a session. The password is used for this one request and never kept.
    ///
    /// # Errors
    /// [`ProviderErrorKind::Rejected`] when the provider refuses the login (the provider's
    /// error name, such as `AuthenticationRequired` or `AuthFactorTokenRequired`, is
    /// [`ProviderError::oauth_error`]); [`ProviderErrorKind::Unavailable`] for a 5xx or a
    /// 429.
    async fn create_session(
        &self,
        http: &dyn HttpClient,
        identifier: &str,
        password: &Secret<String>,
    ) -> Result<PasswordSession, ProviderError>;

    /// Checks a password before it is sent anywhere (e.g. that it has the shape of an app
    /// password, so an account's main password is refused). The error is for the client.
    /// The default accepts any.
    ///
    /// # Errors
    /// A message saying what the password must be.
    fn check_password(&self, password: &Secret<String>) -> Result<(), &'static str> {
        let _ = password;
        Ok(())
    }

    /// What to tell the client when the provider refused a login with `error` (its error name
    /// is [`ProviderError::oauth_error`]), where the provider's refusals say more than "wrong
    /// identifier or password" (a sign-in code asked for, a suspended account). Never the
    /// provider's own message. The default says nothing more.
    fn refusal_message(&self, error: &ProviderError) -> Option<&'static str> {
        let _ = error;
        None
    }

    /// Refreshes a session with its refresh token as the only credential.
    ///
    /// # Errors
    /// [`ProviderErrorKind::Rejected`] when the session is gone for good.
    async fn refresh_session(
        &self,
        http: &dyn HttpClient,
        refresh_token: &Secret<String>,
    ) -> Result<TokenSet, ProviderError>;

    /// Ends a session at the provider (with its refresh token, which also ends its access
    /// tokens).
    ///
    /// # Errors
    /// [`ProviderErrorKind::Unsupported`] when `tokens` cannot end it; the provider's
    /// failure otherwise.
    async fn end_session(&self, http: &dyn HttpClient, tokens: GrantTokens<'_>) -> Result<(), ProviderError>;

    /// When a session's access token expires, for tokens that say it themselves (Bluesky's
    /// JWTs carry no `expires_in` beside them). Only schedules the refresh. The default
    /// knows nothing.
    fn access_token_expires_at(&self, access_token: &Secret<String>) -> Option<time::OffsetDateTime> {
        let _ = access_token;
        None
    }
}

/// The publishable targets behind a person's token (Pages, organisations, Instagram
/// business accounts, boards).
#[async_trait]
pub trait TargetListing: Send + Sync {
    /// The kind of target it lists.
    fn target_type(&self) -> TargetType;

    /// The targets the person behind `tokens` can choose from after consent. When it finds
    /// any, the callback stores a selection and redirects with `selection_id` instead of
    /// `connected`.
    ///
    /// # Errors
    /// [`ProviderError`] when the provider fails or refuses the listing.
    async fn list_targets(
        &self,
        http: &dyn HttpClient,
        tokens: &TokenSet,
        profile: &Profile,
    ) -> Result<Vec<Target>, ProviderError>;

    /// Lists the targets as [`list_targets`](Self::list_targets) does, with the app's client
    /// credentials at hand (see [`CodeFlow::fetch_profile_with`]). `Connect` calls this one
    /// after a callback. The default ignores the credentials.
    ///
    /// # Errors
    /// As [`list_targets`](Self::list_targets).
    async fn list_targets_with(
        &self,
        ctx: ProviderContext<'_>,
        tokens: &TokenSet,
        profile: &Profile,
    ) -> Result<Vec<Target>, ProviderError> {
        self.list_targets(ctx.http, tokens, profile).await
    }
}

/// What a client registration at a server sends.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RegistrationRequest<'a> {
    /// The client's name (the app's name).
    pub client_name: &'a str,
    /// Our callback URL for this provider.
    pub redirect_uri: &'a str,
    /// The scopes to register.
    pub scopes: &'a [String],
    /// The host's public base URL.
    pub website: &'a str,
}

impl<'a> RegistrationRequest<'a> {
    /// A registration request.
    pub fn new(client_name: &'a str, redirect_uri: &'a str, scopes: &'a [String], website: &'a str) -> Self {
        Self { client_name, redirect_uri, scopes, website }
    }
}

/// A client registered at a server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegisteredClient {
    /// The client id there.
    pub client_id: String,
    /// The client secret there.
    pub client_secret: Secret<String>,
    /// The scopes registered (they may differ from those asked for).
    pub scopes: Vec<String>,
}

impl RegisteredClient {
    /// A registered client.
    pub fn new(client_id: String, client_secret: Secret<String>, scopes: Vec<String>) -> Self {
        Self { client_id, client_secret, scopes }
    }
}

/// Client registration at each server a tenant names: `start` takes the server as its
/// `instance` parameter, the first flow of an app there registers a client (kept per app
/// and server, the secret sealed), and the flow runs against the provider bound to it.
#[async_trait]
pub trait ClientRegistration: Send + Sync {
    /// The scopes a client is registered with when the app names none.
    fn default_scopes(&self) -> &[String];

    /// Registers a client at `server`.
    ///
    /// # Errors
    /// [`ProviderErrorKind::Rejected`] for a refusal, `Unavailable` for a 5xx,
    /// `InvalidResponse` for an unusable answer, `Transport` when the call failed.
    async fn register(
        &self,
        http: &dyn HttpClient,
        server: &Instance,
        request: &RegistrationRequest<'_>,
    ) -> Result<RegisteredClient, ProviderError>;

    /// The provider bound to `server`: its code flow runs there.
    fn at(&self, server: &Instance) -> Arc<dyn Provider>;

    /// The scopes to request at a server whose client was registered with `registered`.
    /// The default asks for `requested` unchanged.
    fn scopes_for(&self, requested: &[String], registered: &[String]) -> Vec<String> {
        let _ = registered;
        requested.to_vec()
    }

    /// The server (its [`Instance::authority`]) an account of this provider lives at, read
    /// from its `provider_account_id`; `None` when it says none.
    fn account_server<'a>(&self, provider_account_id: &'a str) -> Option<&'a str>;
}
