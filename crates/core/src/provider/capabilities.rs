//! [`Capabilities`]: what a provider does, as a typed table (PKCE, client authentication,
//! scopes, refresh model, lifetimes, revocation, target selection).
//!
//! Every built-in provider answers [`Provider::capabilities`](super::Provider::capabilities)
//! from the same fields that drive its requests, and a test checks each row against the
//! provider's behaviour (the PKCE flag against the `code_challenge` of its authorize URL, the
//! client-id parameter name against its token request, and so on).

use serde::Serialize;

/// What one provider does, as far as connecting an account and keeping its token alive go.
///
/// Serialises to JSON (it is part of `GET {prefix}/providers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// How an account is connected: the OAuth flow (`start`, then the callback), or an app
    /// password given to `POST /accounts` (Bluesky).
    pub login: LoginMethod,
    /// Whether the authorize request carries a PKCE S256 challenge (and the exchange the
    /// verifier).
    pub pkce: bool,
    /// How the client authenticates at the token endpoint.
    pub client_auth: ClientAuth,
    /// What joins the scopes in the authorize request (`" "` or `","`).
    pub scope_separator: String,
    /// The name of the client-id parameter of the authorize and token requests (`client_id`,
    /// or TikTok's `client_key`).
    pub client_id_param: String,
    /// What it takes to be issued a refresh token.
    pub refresh_token: RefreshTokenRequirement,
    /// Whether the code exchange is followed by a swap of the short-lived token for a
    /// long-lived one (Meta: Facebook, Instagram, Threads).
    pub long_lived_exchange: bool,
    /// How an access token is renewed.
    pub refresh: RefreshModel,
    /// Typical access-token lifetime in seconds (`None`: unknown or never expires; the
    /// token response's `expires_in` always wins).
    pub access_token_lifetime_secs: Option<u64>,
    /// Typical refresh-token lifetime in seconds, when the provider documents one.
    pub refresh_token_lifetime_secs: Option<u64>,
    /// Whether a token can be revoked at the provider (`DELETE /accounts/{id}` tries it).
    pub revocation: bool,
    /// The kind of target the user picks after consent (Pages, organisations, Instagram
    /// accounts, boards), when one identity can publish as several targets: a connect that
    /// finds any redirects with `selection_id` instead of `connected` (see
    /// [`TargetListing::list_targets`](super::TargetListing::list_targets)).
    pub target_selection: Option<TargetType>,
}

impl Capabilities {
    /// The description that follows from the parts `provider` implements: the login method
    /// (a code flow, else a password login), PKCE, the renewal kind and its minimum age, and
    /// the kind of target it lists; RFC 6749 defaults for the rest
    /// ([`unknown`](Self::unknown)). The default of
    /// [`Provider::capabilities`](super::Provider::capabilities).
    pub fn of<P: super::Provider + ?Sized>(provider: &P) -> Self {
        let flow = provider.code_flow();
        let mut caps = Self::unknown(flow.is_some_and(super::CodeFlow::uses_pkce));
        caps.refresh = match flow.map(super::CodeFlow::renewal) {
            Some(super::Renewal::RefreshGrant(_)) => RefreshModel::Grant { rotation: Rotation::Unknown },
            Some(super::Renewal::Reexchange(r)) => {
                RefreshModel::Reexchange { min_age_secs: r.min_age().map(|d| d.as_secs()) }
            }
            Some(super::Renewal::None) | None => RefreshModel::None,
        };
        if flow.is_none() && provider.password_login().is_some() {
            caps.login = LoginMethod::AppPassword;
            caps.client_auth = ClientAuth::None;
            caps.refresh = RefreshModel::Session { rotation: Rotation::Unknown };
        }
        caps.target_selection = provider.targets().map(super::TargetListing::target_type);
        caps
    }

    /// The capabilities of a provider that says nothing but whether it uses PKCE: RFC 6749
    /// defaults (Basic client auth, space-separated scopes, `client_id`) and everything else
    /// unknown.
    pub fn unknown(pkce: bool) -> Self {
        Self {
            login: LoginMethod::OAuth2,
            pkce,
            client_auth: ClientAuth::Basic,
            scope_separator: " ".to_owned(),
            client_id_param: "client_id".to_owned(),
            refresh_token: RefreshTokenRequirement::Unknown,
            long_lived_exchange: false,
            refresh: RefreshModel::Grant { rotation: Rotation::Unknown },
            access_token_lifetime_secs: None,
            refresh_token_lifetime_secs: None,
            revocation: false,
            target_selection: None,
        }
    }
}

/// How an account of a provider is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum LoginMethod {
    /// The OAuth 2.0 authorization-code flow: `GET /oauth/{provider}/start`, consent at the
    /// provider, then the callback. `POST /accounts` also takes a token obtained elsewhere.
    #[serde(rename = "oauth2")]
    OAuth2,
    /// An app password (`POST /accounts` with `identifier` and `app_password`): Connect
    /// creates a session at the provider, stores its tokens and forgets the password. There
    /// is no OAuth flow and no OAuth app (`start` answers `validation_failed`).
    #[serde(rename = "app_password")]
    AppPassword,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuth {
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic,
    /// Client id and secret as form fields.
    Body,
    /// A public client: the client id only.
    None,
}

/// What it takes to be issued a refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefreshTokenRequirement {
    /// Every code exchange returns one.
    Always,
    /// Only when this scope is granted (X: `offline.access`).
    Scope {
        /// The scope.
        scope: String,
    },
    /// Only with these authorize parameters (Google: `access_type=offline` and
    /// `prompt=consent`; Reddit: `duration=permanent`). The built-in providers send them.
    AuthorizeParams {
        /// The parameters, as `(name, value)`.
        params: Vec<(String, String)>,
    },
    /// Only for apps the provider approved (LinkedIn's programmatic refresh tokens).
    PartnerApproval,
    /// Never: the provider has no refresh token (see [`RefreshModel`]).
    Never,
    /// Not known (a generic provider).
    Unknown,
}

/// How an access token is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefreshModel {
    /// The RFC 6749 `refresh_token` grant.
    Grant {
        /// Whether each refresh returns a new refresh token.
        rotation: Rotation,
    },
    /// The still-valid access token itself is exchanged for a new one (Facebook
    /// `fb_exchange_token`, Instagram `ig_refresh_token`, Threads `th_refresh_token`), through
    /// [`Reexchange::reexchange`](super::Reexchange::reexchange).
    Reexchange {
        /// The youngest a token may be to be re-exchanged, in seconds (Instagram and Threads
        /// refuse tokens under 24 hours old).
        min_age_secs: Option<u64>,
    },
    /// A session refresh with the refresh token as the credential and no client
    /// authentication (AT Protocol `com.atproto.server.refreshSession`, `Authorization:
    /// Bearer {refreshJwt}`), through [`PasswordLogin::refresh_session`](super::PasswordLogin::refresh_session).
    /// Such accounts have no app; revocation ends the session with the refresh token.
    Session {
        /// Whether each refresh returns a new refresh token.
        rotation: Rotation,
    },
    /// No renewal: the user reconnects before the token expires.
    None,
}

/// Whether a refresh returns a new refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rotation {
    /// Always a new one; the old one stops working (store the new one atomically).
    Always,
    /// Sometimes a new one (store it when sent).
    Sometimes,
    /// Never: the response has no refresh token and the old one stays valid.
    Never,
    /// Not known.
    Unknown,
}

/// The kind of publishable target an account is: the person who logged in, or one of the
/// targets they picked after consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TargetType {
    /// The identity that logged in (every account connected without a selection).
    Person,
    /// A Facebook Page.
    Page,
    /// A LinkedIn organisation.
    Organization,
    /// An Instagram professional account linked to a Facebook Page.
    InstagramAccount,
    /// A Pinterest board.
    Board,
    /// A Google Business Profile location.
    Location,
    /// A Discord server (guild).
    Guild,
    /// A Discord channel webhook, with its own token.
    Webhook,
    /// A Tumblr blog.
    Blog,
}

impl TargetType {
    /// The wire string (`person`, `page`, `organization`, `instagram_account`, `board`,
    /// `location`, `guild`, `webhook`, `blog`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Page => "page",
            Self::Organization => "organization",
            Self::InstagramAccount => "instagram_account",
            Self::Board => "board",
            Self::Location => "location",
            Self::Guild => "guild",
            Self::Webhook => "webhook",
            Self::Blog => "blog",
        }
    }

    /// Parses a wire string.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "person" => Some(Self::Person),
            "page" => Some(Self::Page),
            "organization" => Some(Self::Organization),
            "instagram_account" => Some(Self::InstagramAccount),
            "board" => Some(Self::Board),
            "location" => Some(Self::Location),
            "guild" => Some(Self::Guild),
            "webhook" => Some(Self::Webhook),
            "blog" => Some(Self::Blog),
            _ => None,
        }
    }
}
