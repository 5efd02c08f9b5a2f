//! The in-process mock OAuth 2.0 authorization server: see [`MockProvider`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::RngCore as _;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use url::Url;

const AUTHORIZE_PATH: &str = "/oauth/authorize";
const TOKEN_PATH: &str = "/oauth/token";
const USERINFO_PATH: &str = "/userinfo";
const X_USERS_ME_PATH: &str = "/2/users/me";
const REVOKE_PATH: &str = "/oauth/revoke";
/// Where the interactive consent page's Allow and Deny buttons post.
const CONSENT_PATH: &str = "/oauth/consent";
const AVATAR_PATH: &str = "/avatar.png";
/// Mastodon's app registration.
const MASTODON_APPS_PATH: &str = "/api/v1/apps";
/// Mastodon's profile call.
const MASTODON_VERIFY_PATH: &str = "/api/v1/accounts/verify_credentials";

mod bluesky;
use bluesky::{CREATE_SESSION_PATH, DELETE_SESSION_PATH, GET_PROFILE_PATH, REFRESH_SESSION_PATH};

/// Largest request body the token and revocation endpoints read (413 above it).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Lifetime of an authorization code.
const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a used or expired code is remembered (so that a replay is still detected).
const CODE_RETENTION: Duration = Duration::from_secs(600);
/// How long the consent page's nonce stays valid.
const CONSENT_TTL: Duration = Duration::from_secs(600);
/// At most this many consent pages wait for a decision (the oldest are forgotten first).
const MAX_PENDING_CONSENTS: usize = 1_000;
/// The request log keeps at most this many entries (the oldest are dropped first).
const MAX_RECORDED_REQUESTS: usize = 10_000;
/// Longest `grant_type` value copied into the request log.
const MAX_LOGGED_GRANT_TYPE: usize = 64;
/// The prefixes of the access and refresh tokens the mock issues.
const ACCESS_TOKEN_PREFIX: &str = "mock_at_";
const REFRESH_TOKEN_PREFIX: &str = "mock_rt_";

/// A 16×16 PNG (a blue disc), served at `{base}/avatar.png` as the default user's avatar.
const AVATAR_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x10, 0x00, 0x00, 0x00, 0x10, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x91, 0x68, 0x36, 0x00, 0x00, 0x00, 0x37, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x78, 0xf1, 0xee, 0x3b, 0x49, 0x88, 0x81, 0x0a, 0x1a, 0xfc, 0x6b, 0x6e, 0xc2,
    0x11, 0x01, 0x0d, 0xc8, 0x4a, 0x71, 0x69, 0x63, 0x20, 0xa8, 0x1a, 0x4d, 0x0f, 0xb9, 0x1a, 0xf0, 0xab, 0x46, 0xd6,
    0x33, 0x78, 0x35, 0xd0, 0x3e, 0x94, 0xc8, 0x89, 0x38, 0x72, 0x92, 0x06, 0x4d, 0x52, 0x2b, 0x00, 0xe3, 0x5e, 0x4b,
    0x2f, 0x0d, 0xe8, 0x65, 0x01, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

// ---------------------------------------------------------------------------------------
// Public configuration types
// ---------------------------------------------------------------------------------------

/// How the mock authenticates the client at its token and revocation endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MockClientAuth {
    /// `client_secret_basic` (RFC 6749 §2.3.1): an
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))` header is required,
    /// and a `client_secret` in the body as well is rejected. A `client_id` in the body is
    /// allowed only when it equals the header's.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` form fields are required, and
    /// an `Authorization` header as well is rejected.
    Body,
    /// A public client (`none`): `client_id` in the body, and no secret in any form.
    None,
}

/// The mock's PKCE (RFC 7636) policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MockPkce {
    /// Every authorize request must carry an S256 `code_challenge`.
    Required,
    /// A challenge is optional; when one was sent the verifier is enforced, and when none
    /// was sent a `code_verifier` at the token endpoint is rejected (the PKCE downgrade
    /// defence of RFC 9700 §4.8.2).
    Supported,
    /// The provider knows nothing of PKCE: a challenge at authorize is ignored, and a
    /// `code_verifier` at the token endpoint is rejected.
    Unsupported,
}

/// The JSON shape of the profile that `GET /userinfo` (and `GET /2/users/me`) answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MockProfileShape {
    /// OpenID Connect UserInfo claims:
    /// `{"sub","preferred_username","name","picture","email"}` (`picture` omitted when the
    /// user has no avatar; `email` is `{username}@example.invalid`).
    Oidc,
    /// X's `GET /2/users/me?user.fields=profile_image_url`:
    /// `{"data":{"id","username","name","profile_image_url"}}` (`profile_image_url`
    /// omitted when the user has no avatar).
    X,
    /// Mastodon's `GET /api/v1/accounts/verify_credentials`:
    /// `{"id","username","acct","display_name","avatar","avatar_static","url",…}`.
    Mastodon,
}

/// Configuration of a [`MockProvider`], fixed when it starts.
///
/// Build it from [`MockConfig::default()`] and the `with_*` methods.
/// Its `Debug` output never shows the client secret.
#[derive(Clone)]
#[non_exhaustive]
pub struct MockConfig {
    /// The one client the mock knows. Default `"mock-client"`.
    pub client_id: String,
    /// That client's secret. Default `"mock-secret"`.
    pub client_secret: String,
    /// How the client authenticates at the token and revocation endpoints. Default
    /// [`MockClientAuth::Basic`].
    pub client_auth: MockClientAuth,
    /// PKCE policy. Default [`MockPkce::Supported`].
    pub pkce: MockPkce,
    /// When set, every authorize redirect (success or error) carries `iss=<issuer>`
    /// (RFC 9207). Default `None`.
    pub issuer: Option<String>,
    /// Shape of the userinfo answer. Default [`MockProfileShape::Oidc`].
    pub profile_shape: MockProfileShape,
    /// `expires_in` (seconds) sent with, and enforced on, every access token; `None` omits
    /// `expires_in` and the tokens never expire. Default `Some(3600)`.
    pub access_token_ttl: Option<u64>,
    /// Whether a refresh answers a new refresh token and invalidates the old one. When
    /// `false` the refresh response has no `refresh_token` (as Google's) and the old one
    /// keeps working. Default `true`.
    pub rotate_refresh_tokens: bool,
    /// Whether the code exchange answers a refresh token at all. Default `true`.
    pub issue_refresh_tokens: bool,
    /// Whether `GET /oauth/authorize` shows a consent page with **Allow** and **Deny**
    /// buttons (as a real provider does) instead of redirecting back at once. The buttons
    /// post a single-use nonce to `POST /oauth/consent`, which redirects to the client's
    /// `redirect_uri` with `code` and `state` (Allow) or `error=access_denied` and
    /// `state` (Deny). [`MockProvider::consent`] always auto-consents. Default `false`.
    pub interactive_consent: bool,
    /// The app password the XRPC `createSession` accepts (with the current user's handle
    /// or DID as identifier). Default `"abcd-efgh-ijkl-mnop"`.
    pub app_password: String,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            client_id: "mock-client".to_owned(),
            client_secret: "mock-secret".to_owned(),
            client_auth: MockClientAuth::Basic,
            pkce: MockPkce::Supported,
            issuer: None,
            profile_shape: MockProfileShape::Oidc,
            access_token_ttl: Some(3600),
            rotate_refresh_tokens: true,
            issue_refresh_tokens: true,
            interactive_consent: false,
            app_password: "abcd-efgh-ijkl-mnop".to_owned(),
        }
    }
}

impl fmt::Debug for MockConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("client_auth", &self.client_auth)
            .field("pkce", &self.pkce)
            .field("issuer", &self.issuer)
            .field("profile_shape", &self.profile_shape)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .field("issue_refresh_tokens", &self.issue_refresh_tokens)
            .field("interactive_consent", &self.interactive_consent)
            .field("app_password", &"[redacted]")
            .finish()
    }
}

impl MockConfig {
    /// A Mastodon instance: `POST /api/v1/apps` hands out this config's client (Mastodon
    /// would mint one per registration; the mock knows one), which authenticates in the form
    /// body; PKCE S256 supported; the profile at `GET /api/v1/accounts/verify_credentials`
    /// in Mastodon's shape; access tokens that never expire and no refresh tokens. Authorize
    /// requests must use a `redirect_uri` registered at `/api/v1/apps`.
    pub fn mastodon() -> Self {
        Self {
            client_id: "TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM".to_owned(),
            client_secret: "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw".to_owned(),
            client_auth: MockClientAuth::Body,
            pkce: MockPkce::Supported,
            profile_shape: MockProfileShape::Mastodon,
            access_token_ttl: None,
            issue_refresh_tokens: false,
            ..Self::default()
        }
    }

    /// Sets [`client_id`](Self::client_id).
    #[must_use]
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// Sets [`app_password`](Self::app_password).
    #[must_use]
    pub fn with_app_password(mut self, app_password: impl Into<String>) -> Self {
        self.app_password = app_password.into();
        self
    }

    /// Sets [`client_secret`](Self::client_secret).
    #[must_use]
    pub fn with_client_secret(mut self, client_secret: impl Into<String>) -> Self {
        self.client_secret = client_secret.into();
        self
    }

    /// Sets [`client_auth`](Self::client_auth).
    #[must_use]
    pub fn with_client_auth(mut self, client_auth: MockClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// Sets [`pkce`](Self::pkce).
    #[must_use]
    pub fn with_pkce(mut self, pkce: MockPkce) -> Self {
        self.pkce = pkce;
        self
    }

    /// Sets [`issuer`](Self::issuer): authorize redirects then carry `iss`.
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets [`profile_shape`](Self::profile_shape).
    #[must_use]
    pub fn with_profile_shape(mut self, profile_shape: MockProfileShape) -> Self {
        self.profile_shape = profile_shape;
        self
    }

    /// Sets [`access_token_ttl`](Self::access_token_ttl) (`None`: no `expires_in`).
    #[must_use]
    pub fn with_access_token_ttl(mut self, ttl_secs: Option<u64>) -> Self {
        self.access_token_ttl = ttl_secs;
        self
    }

    /// Sets [`rotate_refresh_tokens`](Self::rotate_refresh_tokens).
    #[must_use]
    pub fn with_rotate_refresh_tokens(mut self, rotate: bool) -> Self {
        self.rotate_refresh_tokens = rotate;
        self
    }

    /// Sets [`issue_refresh_tokens`](Self::issue_refresh_tokens).
    #[must_use]
    pub fn with_issue_refresh_tokens(mut self, issue: bool) -> Self {
        self.issue_refresh_tokens = issue;
        self
    }

    /// Sets [`interactive_consent`](Self::interactive_consent).
    #[must_use]
    pub fn with_interactive_consent(mut self, interactive: bool) -> Self {
        self.interactive_consent = interactive;
        self
    }
}

/// The account that "consents" at the mock's authorize endpoint, and whose profile the
/// userinfo endpoint answers for the tokens issued to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockUser {
    /// The provider account id (`sub` / `data.id`).
    pub id: String,
    /// The handle (`preferred_username` / `data.username`).
    pub username: String,
    /// The display name (`name` / `data.name`).
    pub display_name: String,
    /// The avatar URL (`picture` / `data.profile_image_url`), omitted from the profile
    /// when `None`.
    pub avatar_url: Option<String>,
}

impl MockUser {
    /// A user with no avatar.
    pub fn new(id: impl Into<String>, username: impl Into<String>, display_name: impl Into<String>) -> Self {
        Self { id: id.into(), username: username.into(), display_name: display_name.into(), avatar_url: None }
    }

    /// Sets [`avatar_url`](Self::avatar_url).
    #[must_use]
    pub fn with_avatar_url(mut self, avatar_url: impl Into<String>) -> Self {
        self.avatar_url = Some(avatar_url.into());
        self
    }
}

/// Failure switches, changed at run time with [`MockProvider::set_behavior`].
///
/// The default is a well-behaved provider. The token endpoint applies its switches before
/// anything else (so a forced failure consumes no code), in this order: `token_delay_ms`,
/// `token_redirect_to`, `token_status`, `token_malformed`, `token_error_in_200`,
/// `token_missing_access_token`, `refresh_invalid_grant`. The authorize endpoint applies
/// `deny` and `authorize_error` after it has validated the client and the request (as a
/// real provider asks the user only then). The userinfo endpoint applies its switches
/// before it looks at the token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockBehavior {
    /// The user declines: authorize redirects with `error=access_denied&state=…`.
    pub deny: bool,
    /// Authorize redirects with `error=<this>&error_description=mock error: <this>`
    /// (so tests can send hostile values such as `<script>`).
    pub authorize_error: Option<String>,
    /// The token endpoint answers this status with a small body (JSON
    /// `{"error":"server_error"}` for 4xx, plain text otherwise).
    pub token_status: Option<u16>,
    /// The token endpoint sleeps this long before answering (timeout tests).
    pub token_delay_ms: Option<u64>,
    /// The token endpoint answers `200` with a body that is not JSON.
    pub token_malformed: bool,
    /// The token endpoint answers `200 {"error":"invalid_grant","error_description":…}`.
    pub token_error_in_200: bool,
    /// The token endpoint answers `200 {"token_type":"Bearer","expires_in":3600}`.
    pub token_missing_access_token: bool,
    /// Overrides the `token_type` of successful token responses (e.g. `"mac"`).
    pub token_type: Option<String>,
    /// The token endpoint answers `307 Location: <this>` (redirect-following tests).
    pub token_redirect_to: Option<String>,
    /// The userinfo endpoint answers this status.
    pub userinfo_status: Option<u16>,
    /// The userinfo endpoint answers `200` with a body that is not JSON.
    pub userinfo_malformed: bool,
    /// Every `refresh_token` grant answers `400 {"error":"invalid_grant"}`.
    pub refresh_invalid_grant: bool,
    /// The `scope` of successful token responses (default: the requested scope).
    pub granted_scope: Option<String>,
    /// Access tokens issued from now on are exactly this many bytes long (padded with `a`,
    /// or cut; still valid at the mock), for tests of size bounds.
    pub access_token_len: Option<usize>,
    /// Refresh tokens issued from now on are exactly this many bytes long (as
    /// [`access_token_len`](Self::access_token_len)).
    pub refresh_token_len: Option<usize>,
    /// Every XRPC endpoint (Bluesky) answers this status with an XRPC error body
    /// (`RateLimitExceeded` for 429, `InternalServerError` for 5xx, `InvalidRequest`
    /// otherwise).
    pub xrpc_status: Option<u16>,
    /// `createSession` answers `401 AuthFactorTokenRequired` (the account wants an emailed
    /// sign-in code: a main password was given).
    pub session_auth_factor_required: bool,
    /// `refreshSession` answers `400 {"error":<this>}` (e.g. `ExpiredToken`).
    pub refresh_session_error: Option<String>,
    /// `POST /api/v1/apps` answers this status (`422` with Mastodon's validation error body,
    /// anything else with a small body) instead of registering.
    pub app_registration_status: Option<u16>,
}

impl MockBehavior {
    /// Sets [`app_registration_status`](Self::app_registration_status).
    #[must_use]
    pub fn with_app_registration_status(mut self, status: u16) -> Self {
        self.app_registration_status = Some(status);
        self
    }

    /// Sets [`deny`](Self::deny).
    #[must_use]
    pub fn with_deny(mut self, deny: bool) -> Self {
        self.deny = deny;
        self
    }

    /// Sets [`authorize_error`](Self::authorize_error).
    #[must_use]
    pub fn with_authorize_error(mut self, error: impl Into<String>) -> Self {
        self.authorize_error = Some(error.into());
        self
    }

    /// Sets [`token_status`](Self::token_status).
    #[must_use]
    pub fn with_token_status(mut self, status: u16) -> Self {
        self.token_status = Some(status);
        self
    }

    /// Sets [`token_delay_ms`](Self::token_delay_ms).
    #[must_use]
    pub fn with_token_delay_ms(mut self, delay_ms: u64) -> Self {
        self.token_delay_ms = Some(delay_ms);
        self
    }

    /// Sets [`token_malformed`](Self::token_malformed).
    #[must_use]
    pub fn with_token_malformed(mut self, on: bool) -> Self {
        self.token_malformed = on;
        self
    }

    /// Sets [`token_error_in_200`](Self::token_error_in_200).
    #[must_use]
    pub fn with_token_error_in_200(mut self, on: bool) -> Self {
        self.token_error_in_200 = on;
        self
    }

    /// Sets [`token_missing_access_token`](Self::token_missing_access_token).
    #[must_use]
    pub fn with_token_missing_access_token(mut self, on: bool) -> Self {
        self.token_missing_access_token = on;
        self
    }

    /// Sets [`token_type`](Self::token_type).
    #[must_use]
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = Some(token_type.into());
        self
    }

    /// Sets [`token_redirect_to`](Self::token_redirect_to).
    #[must_use]
    pub fn with_token_redirect_to(mut self, location: impl Into<String>) -> Self {
        self.token_redirect_to = Some(location.into());
        self
    }

    /// Sets [`userinfo_status`](Self::userinfo_status).
    #[must_use]
    pub fn with_userinfo_status(mut self, status: u16) -> Self {
        self.userinfo_status = Some(status);
        self
    }

    /// Sets [`userinfo_malformed`](Self::userinfo_malformed).
    #[must_use]
    pub fn with_userinfo_malformed(mut self, on: bool) -> Self {
        self.userinfo_malformed = on;
        self
    }

    /// Sets [`refresh_invalid_grant`](Self::refresh_invalid_grant).
    #[must_use]
    pub fn with_refresh_invalid_grant(mut self, on: bool) -> Self {
        self.refresh_invalid_grant = on;
        self
    }

    /// Sets [`xrpc_status`](Self::xrpc_status).
    #[must_use]
    pub fn with_xrpc_status(mut self, status: u16) -> Self {
        self.xrpc_status = Some(status);
        self
    }

    /// Sets [`session_auth_factor_required`](Self::session_auth_factor_required).
    #[must_use]
    pub fn with_session_auth_factor_required(mut self, on: bool) -> Self {
        self.session_auth_factor_required = on;
        self
    }

    /// Sets [`refresh_session_error`](Self::refresh_session_error).
    #[must_use]
    pub fn with_refresh_session_error(mut self, error: impl Into<String>) -> Self {
        self.refresh_session_error = Some(error.into());
        self
    }

    /// Sets [`granted_scope`](Self::granted_scope).
    #[must_use]
    pub fn with_granted_scope(mut self, scope: impl Into<String>) -> Self {
        self.granted_scope = Some(scope.into());
        self
    }

    /// Sets [`access_token_len`](Self::access_token_len).
    #[must_use]
    pub fn with_access_token_len(mut self, len: usize) -> Self {
        self.access_token_len = Some(len);
        self
    }

    /// Sets [`refresh_token_len`](Self::refresh_token_len).
    #[must_use]
    pub fn with_refresh_token_len(mut self, len: usize) -> Self {
        self.refresh_token_len = Some(len);
        self
    }
}

/// How many requests each endpoint has received (a snapshot, see
/// [`MockProvider::counts`]). A request counts whatever its outcome, including rejected
/// ones; [`MockProvider::consent`] counts as an authorize request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockCounts {
    /// Requests to `/oauth/authorize`.
    pub authorize: u64,
    /// Requests to `/oauth/token`, any grant.
    pub token: u64,
    /// Token requests with `grant_type=authorization_code`.
    pub token_authorization_code: u64,
    /// Token requests with `grant_type=refresh_token`.
    pub token_refresh: u64,
    /// Requests to `/userinfo` and `/2/users/me`.
    pub userinfo: u64,
    /// Requests to `/oauth/revoke`.
    pub revoke: u64,
    /// Posts to `/oauth/consent` (the interactive consent page's Allow and Deny).
    pub consent: u64,
    /// XRPC `com.atproto.server.createSession` requests (Bluesky login).
    pub create_session: u64,
    /// XRPC `com.atproto.server.refreshSession` requests.
    pub refresh_session: u64,
    /// XRPC `com.atproto.server.deleteSession` requests.
    pub delete_session: u64,
    /// XRPC `app.bsky.actor.getProfile` requests.
    pub get_profile: u64,
    /// Posts to `/api/v1/apps` (Mastodon app registrations), answered or not.
    pub app_registrations: u64,
    /// Every request, including unknown paths.
    pub total: u64,
}

/// One Mastodon app registration the mock received (`POST /api/v1/apps`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockAppRegistration {
    /// `client_name`.
    pub client_name: String,
    /// `redirect_uris` (a string or an array in the request).
    pub redirect_uris: Vec<String>,
    /// `scopes`, split on spaces.
    pub scopes: Vec<String>,
    /// `website`, when sent.
    pub website: Option<String>,
}

/// One request the mock received, as [`MockProvider::requests`] lists it: no query
/// values, headers or bodies, which hold secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockRequest {
    /// The HTTP method, e.g. `"POST"`.
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// For token requests, the `grant_type` form value when one was readable.
    pub grant_type: Option<String>,
}

/// What a revoked token was, by the mock's own token prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MockTokenKind {
    /// An access token the mock issues (`mock_at_…`).
    Access,
    /// A refresh token the mock issues (`mock_rt_…`).
    Refresh,
    /// Anything else.
    Unknown,
}

/// One revocation the mock accepted (`POST /oauth/revoke`, authenticated, with a token), as
/// [`MockProvider::revocations`] lists it: no token values.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockRevocation {
    /// What the token was.
    pub token: MockTokenKind,
    /// The `token_type_hint` sent, if any.
    pub hint: Option<String>,
    /// Whether the token still worked (issued to this client, not yet revoked) until this
    /// revocation; an access token revoked after its grant's refresh token is not.
    pub was_live: bool,
}

/// Errors of [`MockProvider::consent`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// The authorize URL does not parse.
    #[error("the authorize URL is not a valid URL: {0}")]
    InvalidUrl(#[from] url::ParseError),
    /// The URL does not point at this mock's authorize endpoint.
    #[error("the URL does not point at this mock provider's authorize endpoint")]
    NotThisProvider,
    /// The mock refused the request with an error page instead of redirecting (unknown
    /// client, bad `redirect_uri`, duplicated parameter): RFC 6749 §4.1.2.1.
    #[error("the mock provider rejected the authorize request with HTTP {status}: {reason}")]
    Rejected {
        /// The HTTP status the endpoint answers.
        status: u16,
        /// Why (a fixed message, never the request's input).
        reason: String,
    },
}

// ---------------------------------------------------------------------------------------
// The provider handle
// ---------------------------------------------------------------------------------------

/// A strict OAuth 2.0 authorization server, served in-process on `127.0.0.1` over plain
/// HTTP/1.1 (hyper), for testing connect flows without leaving the machine.
///
/// It knows one client ([`MockConfig::client_id`]) and auto-consents as the current
/// [`MockUser`], or, with [`MockConfig::interactive_consent`], shows a consent page with
/// **Allow** and **Deny** buttons, as a real provider does. Dropping the handle shuts the server down. It runs on the ambient tokio
/// runtime (`tokio::spawn`), current-thread ones included (such as actix-rt's).
///
/// # Endpoints
///
/// | endpoint | behaviour |
/// |---|---|
/// | `GET /oauth/authorize` | needs `response_type=code`, the known `client_id`, an absolute http(s) `redirect_uri` without a fragment, and `state`. An unknown client, a bad `redirect_uri` or a duplicated parameter gets a `400` HTML page and no redirect (RFC 6749 §4.1.2.1); other request errors redirect with `error=invalid_request` (or `unsupported_response_type`). A `code_challenge` must be S256. Success: `302` to `redirect_uri` (its own query kept) with `code`, `state` and, when configured, `iss`. Codes are single use and live 60 s. |
/// | `POST /oauth/consent` | only with [`MockConfig::interactive_consent`], where `GET /oauth/authorize` answers a consent page (`200`, no script, not framable) instead of redirecting. Its form posts `nonce` (single use, 10 minutes) and `decision=allow` or `deny`: `303` to `redirect_uri` with `code` and `state`, or with `error=access_denied` and `state`. An unknown, used or expired nonce gets a `400` page and no redirect. |
/// | `POST /oauth/token` | form-encoded only. Client authentication per [`MockClientAuth`] (`401 invalid_client`). `authorization_code`: the code must be valid, unused, unexpired, of this client, with a byte-equal `redirect_uri`, and the PKCE verifier must match the challenge; a verifier when no challenge was sent is `invalid_grant` (downgrade), and a reused code is `invalid_grant` and revokes every token issued from it. `refresh_token`: rotation per [`MockConfig::rotate_refresh_tokens`]. Answers carry `Cache-Control: no-store`; errors are RFC 6749 §5.2 JSON. |
/// | `GET /userinfo`, `GET /2/users/me` | `Authorization: Bearer`; the profile in [`MockProfileShape`]; `401 invalid_token` for an unknown, revoked or expired token. The query string is ignored. |
/// | `POST /oauth/revoke` | RFC 7009: form `token=…` (and optionally `token_type_hint`) with client authentication; `200` for any token, which then stops working (revoking a refresh token also revokes the access tokens of its grant). Each accepted revocation is recorded per token ([`MockProvider::revocations`]). |
/// | `GET /avatar.png` | the default user's avatar, a small PNG. |
/// | `POST /xrpc/com.atproto.server.createSession` | Bluesky's app-password login: JSON `{"identifier","password"}`; the identifier is the current user's handle ([`MockUser::username`]) or DID ([`MockUser::id`]), the password [`MockConfig::app_password`]. Answers `accessJwt` (a JWT whose `exp` follows [`MockProvider::set_clock`] and [`MockConfig::access_token_ttl`]), `refreshJwt`, `did`, `handle`, `email`, `active`. Errors in XRPC's shape: `401 AuthenticationRequired`, `401 AuthFactorTokenRequired`, `400 InvalidRequest`. |
/// | `POST /xrpc/com.atproto.server.refreshSession` | `Authorization: Bearer {refreshJwt}`: a new `accessJwt` and `refreshJwt`; the used refresh token stops working (`400 ExpiredToken` when presented again, `400 InvalidToken` for an unknown one). |
/// | `POST /xrpc/com.atproto.server.deleteSession` | `Authorization: Bearer {refreshJwt}`: ends the session (all its tokens). |
/// | `GET /xrpc/app.bsky.actor.getProfile?actor=…` | `Authorization: Bearer {accessJwt}` (`400 ExpiredToken` once past its `exp`, `401 InvalidToken` unknown): `did`, `handle`, `displayName`, `avatar`, counts. |
///
/// A known path with the wrong method gets `405`, anything else `404`. Request bodies are
/// capped at 64 KiB (`413` above). Tokens look like `mock_at_…`, `mock_rt_…` and codes
/// like `mock_code_…` (32 random base64url characters after the prefix), so tests can
/// grep logs and databases for them.
///
/// # Example: a host app's test
///
/// ```rust,no_run
/// use dravo_connect_testing::{MockBehavior, MockProvider, MockUser};
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let mock = MockProvider::start().await?;
///     // Configure a generic provider of your app with the mock's endpoints:
///     // authorize_url = mock.authorize_url(), token_url = mock.token_url(),
///     // userinfo_url = mock.userinfo_url(), token_auth = "basic", pkce = true,
///     // client_id / client_secret = mock.config().client_id / client_secret,
///     // profile pointers /sub, /preferred_username, /name, /picture.
///     mock.set_user(MockUser::new("42", "alice", "Alice"));
///
///     // The authorize URL your app's `start` route answered:
///     let authorize_url = format!(
///         "{}?response_type=code&client_id=mock-client&state=abc\
///          &redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fv1%2Foauth%2Fdemo%2Fcallback\
///          &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
///          &code_challenge_method=S256",
///         mock.authorize_url()
///     );
///     // Consent as the browser would; the result is your callback URL with code + state.
///     let callback = mock.consent(&authorize_url).await?;
///     assert!(callback.query_pairs().any(|(k, _)| k == "code"));
///     // ...send `callback` to your app, then check what it stored:
///     assert_eq!(mock.counts().token_authorization_code, 0); // 1 once your app exchanged it
///
///     // Failure modes are switched at run time:
///     mock.set_behavior(MockBehavior::default().with_token_error_in_200(true));
///     Ok(())
/// }
/// ```
pub struct MockProvider {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Dropping this sender stops the accept loop and every open connection.
    _shutdown: watch::Sender<()>,
}

impl fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockProvider")
            .field("base_url", &self.shared.base_url)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl MockProvider {
    /// Starts a mock with the default [`MockConfig`] on `127.0.0.1` and a free port.
    ///
    /// # Errors
    ///
    /// When the loopback listener cannot be bound.
    pub async fn start() -> io::Result<Self> {
        Self::start_with(MockConfig::default()).await
    }

    /// Starts a mock with `config` on `127.0.0.1` and a free port.
    ///
    /// Must be called within a tokio runtime (any flavour).
    ///
    /// # Errors
    ///
    /// When the loopback listener cannot be bound.
    pub async fn start_with(config: MockConfig) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let user =
            MockUser::new("mock-user-1", "mockuser", "Mock User").with_avatar_url(format!("{base_url}{AVATAR_PATH}"));
        let shared = Arc::new(Shared { config, base_url, state: Mutex::new(State::new(user)) });
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        tokio::spawn(serve(listener, Arc::clone(&shared), shutdown_rx));
        tracing::debug!(target: "dravo_connect::test_util", %addr, "mock provider started");
        Ok(Self { shared, addr, _shutdown: shutdown_tx })
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &MockConfig {
        &self.shared.config
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `{base}/oauth/authorize`.
    pub fn authorize_url(&self) -> String {
        format!("{}{AUTHORIZE_PATH}", self.shared.base_url)
    }

    /// `{base}/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.shared.base_url)
    }

    /// `{base}/userinfo` (`{base}/2/users/me` answers the same).
    pub fn userinfo_url(&self) -> String {
        format!("{}{USERINFO_PATH}", self.shared.base_url)
    }

    /// `{base}/oauth/revoke`.
    pub fn revoke_url(&self) -> String {
        format!("{}{REVOKE_PATH}", self.shared.base_url)
    }

    /// Sets who consents at the next authorize request. Codes and tokens already issued
    /// keep the user they were issued for.
    pub fn set_user(&self, user: MockUser) {
        self.shared.lock().user = user;
    }

    /// The user who consents at the next authorize request. The default one is
    /// `mock-user-1` / `mockuser` / `Mock User`, with the avatar `{base}/avatar.png`.
    pub fn user(&self) -> MockUser {
        self.shared.lock().user.clone()
    }

    /// Replaces the failure switches.
    pub fn set_behavior(&self, behavior: MockBehavior) {
        self.shared.lock().behavior = behavior;
    }

    /// Changes the failure switches in place.
    pub fn update_behavior(&self, update: impl FnOnce(&mut MockBehavior)) {
        update(&mut self.shared.lock().behavior);
    }

    /// The current failure switches.
    pub fn behavior(&self) -> MockBehavior {
        self.shared.lock().behavior.clone()
    }

    /// A snapshot of the request counters.
    pub fn counts(&self) -> MockCounts {
        self.shared.lock().counts
    }

    /// The requests received so far, oldest first (at most the last 10,000): method, path
    /// and, for token requests, the grant type. Never query values, headers or bodies.
    pub fn requests(&self) -> Vec<MockRequest> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// The revocations accepted so far, oldest first (at most the last 10,000): which kind
    /// of token each named, with its hint.
    pub fn revocations(&self) -> Vec<MockRevocation> {
        self.shared.lock().revocations.iter().cloned().collect()
    }

    /// The Mastodon app registrations received so far (`POST /api/v1/apps`), oldest first.
    pub fn app_registrations(&self) -> Vec<MockAppRegistration> {
        self.shared.lock().app_registrations.clone()
    }

    /// Zeroes the counters and clears the request and revocation logs.
    pub fn reset_counts(&self) {
        let mut state = self.shared.lock();
        state.counts = MockCounts::default();
        state.requests.clear();
        state.revocations.clear();
    }

    /// Follows the authorize step as a browser would, without an HTTP hop and always
    /// consenting (even with [`MockConfig::interactive_consent`] on):
    /// runs the same logic as `GET /oauth/authorize` (and counts as such a request) and
    /// returns the `Location` it would redirect to, that is the client's `redirect_uri`
    /// with `code` and `state` (or `error` and `state`).
    ///
    /// # Errors
    ///
    /// [`MockError::InvalidUrl`] or [`MockError::NotThisProvider`] when `authorize_url`
    /// is not this mock's authorize endpoint, and [`MockError::Rejected`] when the
    /// endpoint would answer an error page instead of redirecting.
    pub async fn consent(&self, authorize_url: &str) -> Result<Url, MockError> {
        let url = Url::parse(authorize_url)?;
        let ours = url.scheme() == "http"
            && url.host_str() == Some("127.0.0.1")
            && url.port() == Some(self.addr.port())
            && url.path() == AUTHORIZE_PATH;
        if !ours {
            return Err(MockError::NotThisProvider);
        }
        self.shared.lock().record("GET", AUTHORIZE_PATH, None);
        match self.shared.authorize(url.query()) {
            AuthorizeOutcome::Redirect(location) => Ok(location),
            AuthorizeOutcome::Page(status, reason) => {
                Err(MockError::Rejected { status: status.as_u16(), reason: reason.to_owned() })
            }
        }
    }

    /// Mints an access token for `user` directly, as if issued to the configured client
    /// (with the configured lifetime), for tests that register an account from a token
    /// the caller already holds.
    pub fn issue_access_token(&self, user: &MockUser) -> String {
        let mut state = self.shared.lock();
        let family = state.new_family();
        state.issue_access(&self.shared.config, user.clone(), family)
    }

    /// Mints a refresh token for `user` directly (no scope), as if issued to the
    /// configured client.
    pub fn issue_refresh_token(&self, user: &MockUser) -> String {
        let mut state = self.shared.lock();
        let family = state.new_family();
        state.issue_refresh(&self.shared.config, user.clone(), None, family)
    }

    /// Makes every access and refresh token issued so far invalid (as a user revoking the
    /// app at the provider would).
    pub fn revoke_all(&self) {
        let mut state = self.shared.lock();
        state.access_tokens.clear();
        state.refresh_tokens.clear();
    }

    /// The clock the XRPC endpoints (Bluesky) read: the `iat` and `exp` of the JWTs they
    /// issue and the expiry of access tokens they check. Default: the system clock. Give
    /// it the `ManualClock` of the `Connect` under test so expiry lines up.
    pub fn set_clock(&self, clock: Arc<dyn dravo_connect_core::Clock>) {
        self.shared.lock().clock = clock;
    }

    /// Makes every access token issued so far expired (refresh tokens keep working), for
    /// tests of refresh-on-expiry.
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for token in self.shared.lock().access_tokens.values_mut() {
            token.expires_at = Some(now);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Server state
// ---------------------------------------------------------------------------------------

struct Shared {
    config: MockConfig,
    base_url: String,
    state: Mutex<State>,
}

struct State {
    user: MockUser,
    behavior: MockBehavior,
    counts: MockCounts,
    requests: VecDeque<MockRequest>,
    revocations: VecDeque<MockRevocation>,
    codes: HashMap<String, CodeGrant>,
    access_tokens: HashMap<String, AccessToken>,
    refresh_tokens: HashMap<String, RefreshToken>,
    /// Consent pages waiting for Allow or Deny, by their single-use nonce.
    consents: HashMap<String, PendingConsent>,
    /// Mastodon app registrations received (`POST /api/v1/apps`).
    app_registrations: Vec<MockAppRegistration>,
    /// Each code (or directly minted token) starts a grant "family"; every token derived
    /// from it carries the family, so replaying the code revokes all of them.
    next_family: u64,
    /// The clock of the XRPC endpoints.
    clock: Arc<dyn dravo_connect_core::Clock>,
    /// Bluesky sessions.
    bluesky: bluesky::Sessions,
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    scope: Option<String>,
    user: MockUser,
    issued_at: Instant,
    used: bool,
    family: u64,
}

struct PendingConsent {
    request: AuthorizeRequest,
    shown_at: Instant,
}

struct AccessToken {
    user: MockUser,
    client_id: String,
    expires_at: Option<Instant>,
    family: u64,
}

struct RefreshToken {
    user: MockUser,
    client_id: String,
    scope: Option<String>,
    family: u64,
}

struct Issued {
    access_token: String,
    refresh_token: Option<String>,
}

impl Shared {
    /// Locks the state. A panic while it was held (only possible in a caller's closure
    /// given to `update_behavior`) leaves it consistent, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn new(user: MockUser) -> Self {
        Self {
            user,
            behavior: MockBehavior::default(),
            counts: MockCounts::default(),
            requests: VecDeque::new(),
            revocations: VecDeque::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            consents: HashMap::new(),
            app_registrations: Vec::new(),
            next_family: 0,
            clock: Arc::new(dravo_connect_core::SystemClock),
            bluesky: bluesky::Sessions::default(),
        }
    }

    fn record(&mut self, method: &str, path: &str, grant_type: Option<&str>) {
        let counts = &mut self.counts;
        counts.total += 1;
        match path {
            AUTHORIZE_PATH => counts.authorize += 1,
            TOKEN_PATH => {
                counts.token += 1;
                match grant_type {
                    Some("authorization_code") => counts.token_authorization_code += 1,
                    Some("refresh_token") => counts.token_refresh += 1,
                    _ => {}
                }
            }
            USERINFO_PATH | X_USERS_ME_PATH => counts.userinfo += 1,
            REVOKE_PATH => counts.revoke += 1,
            CONSENT_PATH => counts.consent += 1,
            CREATE_SESSION_PATH => counts.create_session += 1,
            REFRESH_SESSION_PATH => counts.refresh_session += 1,
            DELETE_SESSION_PATH => counts.delete_session += 1,
            GET_PROFILE_PATH => counts.get_profile += 1,
            MASTODON_APPS_PATH => counts.app_registrations += 1,
            MASTODON_VERIFY_PATH => counts.userinfo += 1,
            _ => {}
        }
        if self.requests.len() >= MAX_RECORDED_REQUESTS {
            self.requests.pop_front();
        }
        self.requests.push_back(MockRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            grant_type: grant_type.map(|g| g.chars().take(MAX_LOGGED_GRANT_TYPE).collect()),
        });
    }

    fn new_family(&mut self) -> u64 {
        self.next_family += 1;
        self.next_family
    }

    fn issue_access(&mut self, config: &MockConfig, user: MockUser, family: u64) -> String {
        let now = Instant::now();
        // Forget tokens that expired long ago, so a long-running demo stays small.
        self.access_tokens
            .retain(|_, t| t.expires_at.is_none_or(|at| now.saturating_duration_since(at) < CODE_RETENTION));
        let token = sized(random_token(ACCESS_TOKEN_PREFIX), self.behavior.access_token_len);
        let expires_at = config.access_token_ttl.and_then(|secs| now.checked_add(Duration::from_secs(secs)));
        self.access_tokens
            .insert(token.clone(), AccessToken { user, client_id: config.client_id.clone(), expires_at, family });
        token
    }

    fn issue_refresh(&mut self, config: &MockConfig, user: MockUser, scope: Option<String>, family: u64) -> String {
        let token = sized(random_token(REFRESH_TOKEN_PREFIX), self.behavior.refresh_token_len);
        self.refresh_tokens
            .insert(token.clone(), RefreshToken { user, client_id: config.client_id.clone(), scope, family });
        token
    }

    fn revoke_family(&mut self, family: u64) {
        self.access_tokens.retain(|_, t| t.family != family);
        self.refresh_tokens.retain(|_, t| t.family != family);
    }
}

// ---------------------------------------------------------------------------------------
// The HTTP server
// ---------------------------------------------------------------------------------------

type Body = Full<Bytes>;

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<()>) {
    loop {
        let accepted = tokio::select! {
            // `changed()` fails once the sender (held by `MockProvider`) is dropped.
            _ = shutdown.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::debug!(target: "dravo_connect::test_util", %error, "mock provider accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let conn = http1::Builder::new().timer(TokioTimer::new()).serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = conn => {
                    if let Err(error) = result {
                        tracing::trace!(target: "dravo_connect::test_util", %error, "mock provider connection ended");
                    }
                }
                _ = conn_shutdown.changed() => {}
            }
        });
    }
    tracing::debug!(target: "dravo_connect::test_util", "mock provider stopped");
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let method = parts.method;
    let path = parts.uri.path();
    let response = match (&method, path) {
        (&Method::POST, CONSENT_PATH) => {
            shared.lock().record(method.as_str(), path, None);
            match read_body(&parts.headers, body).await {
                Ok(bytes) => shared.decide(&parts.headers, &bytes),
                Err(response) => response,
            }
        }
        (&Method::POST, CREATE_SESSION_PATH | REFRESH_SESSION_PATH | DELETE_SESSION_PATH) => {
            shared.lock().record(method.as_str(), path, None);
            match read_body(&parts.headers, body).await {
                Ok(bytes) => shared.xrpc_procedure(path, &parts.headers, &bytes),
                Err(response) => response,
            }
        }
        (&Method::GET, GET_PROFILE_PATH) => {
            shared.lock().record(method.as_str(), path, None);
            shared.get_profile(&parts.headers, parts.uri.query())
        }
        (&Method::POST, MASTODON_APPS_PATH) => {
            shared.lock().record(method.as_str(), path, None);
            match read_body(&parts.headers, body).await {
                Ok(bytes) => shared.register_app(&bytes),
                Err(response) => response,
            }
        }
        (&Method::POST, TOKEN_PATH | REVOKE_PATH) => {
            let body = read_body(&parts.headers, body).await;
            let grant_type = match (&body, path) {
                (Ok(bytes), TOKEN_PATH) => grant_type_of(bytes),
                _ => None,
            };
            shared.lock().record(method.as_str(), path, grant_type.as_deref());
            match body {
                Err(response) => response,
                Ok(bytes) if path == TOKEN_PATH => shared.token(&parts.headers, &bytes, grant_type.as_deref()).await,
                Ok(bytes) => shared.revoke(&parts.headers, &bytes),
            }
        }
        _ => {
            shared.lock().record(method.as_str(), path, None);
            match (&method, path) {
                (&Method::GET, AUTHORIZE_PATH) if shared.config.interactive_consent => {
                    match shared.check_authorize(parts.uri.query()) {
                        Ok(request) => shared.consent_page(request),
                        Err(outcome) => outcome.into_response(StatusCode::FOUND),
                    }
                }
                (&Method::GET, AUTHORIZE_PATH) => shared.authorize(parts.uri.query()).into_response(StatusCode::FOUND),
                (&Method::GET, USERINFO_PATH | X_USERS_ME_PATH | MASTODON_VERIFY_PATH) => {
                    shared.userinfo(&parts.headers)
                }
                (&Method::GET, AVATAR_PATH) => response(StatusCode::OK, "image/png", Bytes::from_static(AVATAR_PNG)),
                (_, AUTHORIZE_PATH | USERINFO_PATH | X_USERS_ME_PATH | AVATAR_PATH) => method_not_allowed("GET"),
                (_, TOKEN_PATH | REVOKE_PATH | CONSENT_PATH | MASTODON_APPS_PATH) => method_not_allowed("POST"),
                (_, CREATE_SESSION_PATH | REFRESH_SESSION_PATH | DELETE_SESSION_PATH) => method_not_allowed("POST"),
                (_, GET_PROFILE_PATH | MASTODON_VERIFY_PATH) => method_not_allowed("GET"),
                _ => response(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found"),
            }
        }
    };
    tracing::debug!(
        target: "dravo_connect::test_util",
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        "mock provider request"
    );
    response
}

/// Reads a request body of at most [`MAX_BODY_BYTES`].
async fn read_body(headers: &HeaderMap, body: Incoming) -> Result<Bytes, Response<Body>> {
    let too_large = || oauth_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "The request body is too large.");
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(_) => Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The request body could not be read.")),
    }
}

// ---------------------------------------------------------------------------------------
// Authorize
// ---------------------------------------------------------------------------------------

enum AuthorizeOutcome {
    /// Redirect the user agent back to the client.
    Redirect(Url),
    /// Show an error page; never redirect (RFC 6749 §4.1.2.1).
    Page(StatusCode, &'static str),
}

impl AuthorizeOutcome {
    /// The HTTP answer: a redirect with `status` (302 after a GET, 303 after the consent
    /// form's POST) or the error page.
    fn into_response(self, status: StatusCode) -> Response<Body> {
        match self {
            Self::Redirect(location) => no_store(redirect(status, location.as_str())),
            Self::Page(status, reason) => error_page(status, reason),
        }
    }
}

/// An authorize request that passed every check, waiting for the user's decision.
#[derive(Clone)]
struct AuthorizeRequest {
    redirect_url: Url,
    redirect_uri: String,
    state: String,
    challenge: Option<String>,
    scope: Option<String>,
}

impl Shared {
    /// `GET /oauth/authorize` with auto-consent: check the request, then grant it.
    fn authorize(&self, query: Option<&str>) -> AuthorizeOutcome {
        match self.check_authorize(query) {
            Ok(request) => self.grant(request),
            Err(outcome) => outcome,
        }
    }

    /// An error redirect to the client: `error`, `error_description`, `state` (when there
    /// is one) and `iss` (when configured).
    fn error_redirect(
        &self,
        redirect_url: &Url,
        state: Option<&str>,
        error: &str,
        description: &str,
    ) -> AuthorizeOutcome {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(state) = state {
            pairs.push(("state", state));
        }
        if let Some(issuer) = self.config.issuer.as_deref() {
            pairs.push(("iss", issuer));
        }
        AuthorizeOutcome::Redirect(with_query_pairs(redirect_url.clone(), &pairs))
    }

    /// Validates an authorize request; `Err` is the answer (an error page or an error
    /// redirect).
    fn check_authorize(&self, query: Option<&str>) -> Result<AuthorizeRequest, AuthorizeOutcome> {
        let bad_request = |reason| AuthorizeOutcome::Page(StatusCode::BAD_REQUEST, reason);
        let params = match parse_params(query.unwrap_or_default().as_bytes()) {
            Ok(params) => params,
            Err(ParamError::Duplicate) => {
                return Err(bad_request("A request parameter was sent more than once."));
            }
            Err(ParamError::NotUtf8) => return Err(bad_request("A request parameter is not UTF-8.")),
        };
        if params.get("client_id") != Some(&self.config.client_id) {
            return Err(bad_request("The client_id is missing or unknown."));
        }
        let Some(redirect_uri) = params.get("redirect_uri") else {
            return Err(bad_request("The redirect_uri is missing."));
        };
        let Some(redirect_url) = parse_redirect_uri(redirect_uri) else {
            return Err(bad_request("The redirect_uri is not an absolute http(s) URL without a fragment."));
        };
        if self.config.profile_shape == MockProfileShape::Mastodon
            && !self.lock().app_registrations.iter().any(|r| r.redirect_uris.contains(redirect_uri))
        {
            return Err(bad_request("The redirect_uri was not registered with the app."));
        }

        // From here on errors go back to the client.
        let state = params.get("state").map(String::as_str);
        let fail = |error: &str, description: &str| Err(self.error_redirect(&redirect_url, state, error, description));

        match params.get("response_type").map(String::as_str) {
            Some("code") => {}
            Some(_) => {
                return fail("unsupported_response_type", "Only response_type=code is supported.");
            }
            None => return fail("invalid_request", "The response_type is missing."),
        }
        let Some(state) = state else {
            return fail("invalid_request", "The state is missing.");
        };
        let challenge = if self.config.pkce == MockPkce::Unsupported {
            None
        } else {
            match (params.get("code_challenge"), params.get("code_challenge_method").map(String::as_str)) {
                (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => Some(challenge.clone()),
                (Some(_), Some("S256")) => {
                    return fail("invalid_request", "The code_challenge is malformed.");
                }
                (Some(_), _) => {
                    return fail("invalid_request", "The code_challenge_method must be S256.");
                }
                (None, Some(_)) => {
                    return fail("invalid_request", "A code_challenge_method was sent without a code_challenge.");
                }
                (None, None) => None,
            }
        };
        if self.config.pkce == MockPkce::Required && challenge.is_none() {
            return fail("invalid_request", "PKCE (S256) is required.");
        }
        Ok(AuthorizeRequest {
            redirect_url: redirect_url.clone(),
            redirect_uri: redirect_uri.clone(),
            state: state.to_owned(),
            challenge,
            scope: params.get("scope").cloned(),
        })
    }

    /// The user consents: apply the behaviour switches, then issue a code.
    fn grant(&self, request: AuthorizeRequest) -> AuthorizeOutcome {
        let AuthorizeRequest { redirect_url, redirect_uri, state, challenge, scope } = request;
        let mut st = self.lock();
        if st.behavior.deny {
            drop(st);
            return self.error_redirect(&redirect_url, Some(&state), "access_denied", "The user denied the request.");
        }
        if let Some(error) = st.behavior.authorize_error.clone() {
            drop(st);
            return self.error_redirect(&redirect_url, Some(&state), &error, &format!("mock error: {error}"));
        }
        let now = Instant::now();
        st.codes.retain(|_, c| now.saturating_duration_since(c.issued_at) < CODE_RETENTION);
        let code = random_token("mock_code_");
        let family = st.new_family();
        let user = st.user.clone();
        st.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: self.config.client_id.clone(),
                redirect_uri,
                challenge,
                scope,
                user,
                issued_at: now,
                used: false,
                family,
            },
        );
        drop(st);

        let mut pairs = vec![("code", code.as_str()), ("state", state.as_str())];
        if let Some(issuer) = self.config.issuer.as_deref() {
            pairs.push(("iss", issuer));
        }
        AuthorizeOutcome::Redirect(with_query_pairs(redirect_url, &pairs))
    }

    /// The consent page for a checked request: who asks, for which account and scopes,
    /// and a form whose Allow and Deny buttons post a fresh single-use nonce.
    fn consent_page(&self, request: AuthorizeRequest) -> Response<Body> {
        let nonce = random_token("");
        let scope = request.scope.clone();
        let mut st = self.lock();
        let now = Instant::now();
        st.consents.retain(|_, c| now.saturating_duration_since(c.shown_at) < CONSENT_TTL);
        if st.consents.len() >= MAX_PENDING_CONSENTS {
            let oldest = st.consents.iter().min_by_key(|(_, c)| c.shown_at).map(|(n, _)| n.clone());
            if let Some(oldest) = oldest {
                st.consents.remove(&oldest);
            }
        }
        st.consents.insert(nonce.clone(), PendingConsent { request, shown_at: now });
        let user = st.user.clone();
        drop(st);

        let scopes: String = scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| format!("<li><code>{}</code></li>", html_escape(s)))
            .collect();
        let scopes = if scopes.is_empty() { "<li>your basic profile</li>".to_owned() } else { scopes };
        let html = format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mock provider: authorize {client}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; background: #f3f4f7; color: #1d2430; margin: 0; }}
main {{ max-width: 26rem; margin: 3rem auto; background: #fff; border-radius: .6rem; padding: 1.5rem 2rem; box-shadow: 0 1px 4px #0002; }}
h1 {{ font-size: 1.25rem; margin-top: 0; }}
.who {{ color: #5b6675; }}
.actions {{ display: flex; gap: .75rem; margin-top: 1.5rem; }}
button {{ font: inherit; flex: 1; border: 0; border-radius: .4rem; padding: .6rem 1rem; cursor: pointer; }}
#allow {{ background: #2b59c3; color: #fff; }}
#deny {{ background: #eef0f4; color: #1d2430; }}
</style></head>
<body><main>
<p class="who">Mock provider · signed in as <strong>{name}</strong> (@{username})</p>
<h1><code>{client}</code> wants to access your account</h1>
<p>It asks for:</p>
<ul>{scopes}</ul>
<form method="post" action="{consent_path}">
<input type="hidden" name="nonce" value="{nonce}">
<div class="actions">
<button type="submit" id="deny" name="decision" value="deny">Deny</button>
<button type="submit" id="allow" name="decision" value="allow">Allow</button>
</div>
</form>
</main></body></html>
"#,
            client = html_escape(&self.config.client_id),
            name = html_escape(&user.display_name),
            username = html_escape(&user.username),
            consent_path = CONSENT_PATH,
        );
        let mut response = no_store(response(StatusCode::OK, "text/html; charset=utf-8", html));
        let headers = response.headers_mut();
        // No script, nothing loaded, not framable (clickjacking). No `form-action`:
        // Chromium applies it to the redirect that follows the post, too.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        response
    }

    /// `POST /oauth/consent`: the consent page's Allow or Deny. The nonce is single use;
    /// an unknown, used or expired one gets an error page, never a redirect.
    fn decide(&self, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
        let bad_request = |reason| error_page(StatusCode::BAD_REQUEST, reason);
        let Ok(form) = parse_form(headers, body) else {
            return bad_request("The consent form was not sent as a form.");
        };
        let allow = match form.get("decision").map(String::as_str) {
            Some("allow") => true,
            Some("deny") => false,
            _ => return bad_request("The decision must be allow or deny."),
        };
        let pending = form.get("nonce").and_then(|nonce| self.lock().consents.remove(nonce));
        let Some(pending) = pending.filter(|p| p.shown_at.elapsed() < CONSENT_TTL) else {
            return bad_request("This consent form expired or was already used. Start again from the app.");
        };
        let outcome = if allow {
            self.grant(pending.request)
        } else {
            let request = pending.request;
            self.error_redirect(
                &request.redirect_url,
                Some(&request.state),
                "access_denied",
                "The user denied the request.",
            )
        };
        // 303: the browser follows with a GET.
        outcome.into_response(StatusCode::SEE_OTHER)
    }
}

/// Escapes text for HTML element content and double-quoted attributes. Hand-written: five
/// characters, not worth a dependency of the test utilities.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An absolute http(s) URL with a host and no fragment, whose raw form has no whitespace
/// or control characters (which a URL parser would silently strip).
fn parse_redirect_uri(raw: &str) -> Option<Url> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) || raw.contains('#') {
        return None;
    }
    let url = Url::parse(raw).ok()?;
    let ok = matches!(url.scheme(), "http" | "https") && url.host().is_some() && url.fragment().is_none();
    ok.then_some(url)
}

/// Appends form-encoded pairs to `url`'s query, keeping its own query as it is.
fn with_query_pairs(mut url: Url, pairs: &[(&str, &str)]) -> Url {
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
    }
    url
}

// ---------------------------------------------------------------------------------------
// Token
// ---------------------------------------------------------------------------------------

impl Shared {
    async fn token(&self, headers: &HeaderMap, body: &[u8], grant_type: Option<&str>) -> Response<Body> {
        let behavior = self.lock().behavior.clone();
        if let Some(delay) = behavior.token_delay_ms {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if let Some(location) = &behavior.token_redirect_to {
            return redirect(StatusCode::TEMPORARY_REDIRECT, location);
        }
        if let Some(status) = behavior.token_status {
            return forced_status(status);
        }
        if behavior.token_malformed {
            return no_store(response(StatusCode::OK, "application/json", "<html>this is not JSON {"));
        }
        if behavior.token_error_in_200 {
            return oauth_error(StatusCode::OK, "invalid_grant", "Forced by MockBehavior::token_error_in_200.");
        }
        if behavior.token_missing_access_token {
            return no_store(json_response(StatusCode::OK, &json!({"token_type": "Bearer", "expires_in": 3600})));
        }
        if behavior.refresh_invalid_grant && grant_type == Some("refresh_token") {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Forced by MockBehavior::refresh_invalid_grant.",
            );
        }

        let params = match parse_form(headers, body) {
            Ok(params) => params,
            Err(response) => return *response,
        };
        if let Err(response) = self.authenticate_client(headers, &params) {
            return *response;
        }
        match params.get("grant_type").map(String::as_str) {
            Some("authorization_code") => self.exchange_code(&params, &behavior),
            Some("refresh_token") => self.refresh(&params, &behavior),
            Some(_) => oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only authorization_code and refresh_token are supported.",
            ),
            None => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The grant_type is missing."),
        }
    }

    fn exchange_code(&self, params: &HashMap<String, String>, behavior: &MockBehavior) -> Response<Body> {
        let invalid_grant = |description| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description);
        let Some(code) = params.get("code") else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The code is missing.");
        };
        let config = &self.config;
        let mut st = self.lock();
        let Some(grant) = st.codes.get_mut(code) else {
            return invalid_grant("The code is unknown.");
        };
        if grant.used {
            // RFC 6749 §4.1.2: a replayed code revokes what was issued from it.
            let family = grant.family;
            st.revoke_family(family);
            return invalid_grant("The code was already used; its tokens are revoked.");
        }
        if grant.client_id != config.client_id {
            return invalid_grant("The code was issued to another client.");
        }
        // Any redemption attempt uses the code up, a failed one included.
        grant.used = true;
        if grant.issued_at.elapsed() > CODE_TTL {
            return invalid_grant("The code has expired.");
        }
        match params.get("redirect_uri") {
            None => {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The redirect_uri is missing.");
            }
            Some(uri) if *uri != grant.redirect_uri => {
                return invalid_grant("The redirect_uri does not match the authorize request.");
            }
            Some(_) => {}
        }
        match (&grant.challenge, params.get("code_verifier")) {
            (Some(challenge), Some(verifier)) => {
                if !is_valid_verifier(verifier) {
                    return invalid_grant("The code_verifier is malformed.");
                }
                if s256(verifier) != *challenge {
                    return invalid_grant("The code_verifier does not match the code_challenge.");
                }
            }
            (Some(_), None) => return invalid_grant("The code_verifier is missing."),
            (None, Some(_)) if config.pkce == MockPkce::Unsupported => {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "This provider does not support PKCE.");
            }
            (None, Some(_)) => {
                // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
                return invalid_grant("A code_verifier was sent but no code_challenge was.");
            }
            (None, None) => {}
        }
        let user = grant.user.clone();
        let scope = grant.scope.clone();
        let family = grant.family;
        let access_token = st.issue_access(config, user.clone(), family);
        let refresh_token = config.issue_refresh_tokens.then(|| st.issue_refresh(config, user, scope.clone(), family));
        drop(st);
        token_success(config, behavior, Issued { access_token, refresh_token }, scope)
    }

    fn refresh(&self, params: &HashMap<String, String>, behavior: &MockBehavior) -> Response<Body> {
        let invalid_grant = |description| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description);
        let Some(presented) = params.get("refresh_token") else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The refresh_token is missing.");
        };
        let config = &self.config;
        let mut st = self.lock();
        let Some(record) = st.refresh_tokens.get(presented) else {
            return invalid_grant("The refresh token is unknown or revoked.");
        };
        if record.client_id != config.client_id {
            return invalid_grant("The refresh token was issued to another client.");
        }
        let granted = match params.get("scope") {
            None => record.scope.clone(),
            Some(requested) if is_scope_subset(requested, record.scope.as_deref()) => Some(requested.clone()),
            Some(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "The requested scope exceeds the original grant.",
                );
            }
        };
        let user = record.user.clone();
        let original_scope = record.scope.clone();
        let family = record.family;
        let refresh_token = if config.rotate_refresh_tokens {
            st.refresh_tokens.remove(presented);
            Some(st.issue_refresh(config, user.clone(), original_scope, family))
        } else {
            None
        };
        let access_token = st.issue_access(config, user, family);
        drop(st);
        token_success(config, behavior, Issued { access_token, refresh_token }, granted)
    }

    /// Client authentication per [`MockConfig::client_auth`]; `Err` is the 401 answer.
    fn authenticate_client(
        &self,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
    ) -> Result<(), Box<Response<Body>>> {
        let config = &self.config;
        let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
        let header = authorization.next();
        let is_basic = config.client_auth == MockClientAuth::Basic;
        if authorization.next().is_some() {
            return Err(Box::new(invalid_client(is_basic)));
        }
        let body_id = params.get("client_id");
        let body_secret = params.get("client_secret");
        let authenticated = match config.client_auth {
            MockClientAuth::Basic => match header.and_then(parse_basic) {
                Some((id, secret)) => {
                    body_secret.is_none()
                        && body_id.is_none_or(|body_id| *body_id == id)
                        && id == config.client_id
                        && secret_eq(&secret, &config.client_secret)
                }
                None => false,
            },
            MockClientAuth::Body => {
                header.is_none()
                    && body_id == Some(&config.client_id)
                    && body_secret.is_some_and(|s| secret_eq(s, &config.client_secret))
            }
            MockClientAuth::None => header.is_none() && body_secret.is_none() && body_id == Some(&config.client_id),
        };
        if authenticated { Ok(()) } else { Err(Box::new(invalid_client(is_basic))) }
    }
}

fn token_success(
    config: &MockConfig,
    behavior: &MockBehavior,
    issued: Issued,
    scope: Option<String>,
) -> Response<Body> {
    let mut body = Map::new();
    body.insert("access_token".to_owned(), Value::from(issued.access_token));
    let token_type = behavior.token_type.as_deref().unwrap_or("Bearer");
    body.insert("token_type".to_owned(), Value::from(token_type));
    if let Some(ttl) = config.access_token_ttl {
        body.insert("expires_in".to_owned(), Value::from(ttl));
    }
    if let Some(refresh_token) = issued.refresh_token {
        body.insert("refresh_token".to_owned(), Value::from(refresh_token));
    }
    if let Some(scope) = behavior.granted_scope.clone().or(scope) {
        body.insert("scope".to_owned(), Value::from(scope));
    }
    no_store(json_response(StatusCode::OK, &Value::Object(body)))
}

/// Every space-separated scope of `requested` is in `original`.
fn is_scope_subset(requested: &str, original: Option<&str>) -> bool {
    let original: HashSet<&str> = original.unwrap_or_default().split(' ').collect();
    requested.split(' ').filter(|s| !s.is_empty()).all(|s| original.contains(s))
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Strict `application/x-www-form-urlencoded` decoding of one component: `+` is a space,
/// a `%` must start two hex digits, and the result must be UTF-8. (`form_urlencoded`
/// only decodes whole `k=v&…` strings, and lossily.)
fn form_decode(encoded: &str) -> Option<String> {
    let mut bytes = encoded.bytes();
    let mut out = Vec::with_capacity(encoded.len());
    while let Some(byte) = bytes.next() {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let high = hex_digit(bytes.next()?)?;
                let low = hex_digit(bytes.next()?)?;
                out.push(high << 4 | low);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Compares SHA-256 digests rather than the secrets, so the comparison time says nothing
/// useful about the secret (this is a test server; no constant-time crate is pulled in).
fn secret_eq(presented: &str, expected: &str) -> bool {
    Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.as_bytes())
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 challenge is the unpadded base64url of a SHA-256 digest: 43 characters.
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

// ---------------------------------------------------------------------------------------
// Userinfo and revocation
// ---------------------------------------------------------------------------------------

impl Shared {
    /// `POST /api/v1/apps` (JSON body): records the registration and answers Mastodon
    /// 4.3's shape with the configured client. Errors are Mastodon's
    /// `{"error":"Validation failed: …"}` with 422.
    fn register_app(&self, body: &[u8]) -> Response<Body> {
        if let Some(status) = self.lock().behavior.app_registration_status {
            if status == 422 {
                return json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({"error": "Validation failed: Scopes are invalid"}),
                );
            }
            return forced_status(status);
        }
        let invalid = |what: &str| {
            json_response(StatusCode::UNPROCESSABLE_ENTITY, &json!({"error": format!("Validation failed: {what}")}))
        };
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
            return invalid("the body is not a JSON object");
        };
        let text = |name: &str| obj.get(name).and_then(Value::as_str).map(str::to_owned);
        let Some(client_name) = text("client_name").filter(|s| !s.is_empty()) else {
            return invalid("Application name can't be blank");
        };
        let redirect_uris: Vec<String> = match obj.get("redirect_uris") {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        if redirect_uris.is_empty() || redirect_uris.iter().any(|u| parse_redirect_uri(u).is_none()) {
            return invalid("Redirect URI must be an absolute URI.");
        }
        let scopes: Vec<String> =
            text("scopes").unwrap_or_else(|| "read".to_owned()).split_whitespace().map(str::to_owned).collect();
        let website = text("website");
        let answer = json!({
            "id": "563419",
            "name": client_name,
            "website": website,
            "scopes": scopes,
            "redirect_uri": redirect_uris.join("\n"),
            "redirect_uris": redirect_uris,
            "vapid_key": "BCk-QqERU0q-CfYZjcuB6lnyyOYfJ2AifKqfeGIm7Z-HiTU5T9eTG5GxVA0_OH5mMlI4UkkDTpaZwozy0TzdZ2M=",
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "client_secret_expires_at": 0,
        });
        self.lock().app_registrations.push(MockAppRegistration { client_name, redirect_uris, scopes, website });
        no_store(json_response(StatusCode::OK, &answer))
    }

    fn userinfo(&self, headers: &HeaderMap) -> Response<Body> {
        let (status, malformed) = {
            let st = self.lock();
            (st.behavior.userinfo_status, st.behavior.userinfo_malformed)
        };
        if let Some(status) = status {
            return forced_status(status);
        }
        if malformed {
            return response(StatusCode::OK, "application/json", "<html>not JSON either {");
        }
        let user = bearer_token(headers).and_then(|token| {
            let st = self.lock();
            let record = st.access_tokens.get(token)?;
            let live =
                record.client_id == self.config.client_id && record.expires_at.is_none_or(|at| Instant::now() < at);
            live.then(|| record.user.clone())
        });
        let Some(user) = user else {
            let mut response = json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "invalid_token", "error_description": "The access token is missing, unknown, revoked or expired."}),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mock\", error=\"invalid_token\""),
            );
            return response;
        };
        let profile = match self.config.profile_shape {
            MockProfileShape::Oidc => {
                let mut claims = Map::new();
                claims.insert("sub".to_owned(), Value::from(user.id));
                claims.insert("preferred_username".to_owned(), Value::from(user.username.clone()));
                claims.insert("name".to_owned(), Value::from(user.display_name));
                if let Some(avatar) = user.avatar_url {
                    claims.insert("picture".to_owned(), Value::from(avatar));
                }
                claims.insert("email".to_owned(), Value::from(format!("{}@example.invalid", user.username)));
                Value::Object(claims)
            }
            MockProfileShape::X => {
                let mut data = Map::new();
                data.insert("id".to_owned(), Value::from(user.id));
                data.insert("username".to_owned(), Value::from(user.username));
                data.insert("name".to_owned(), Value::from(user.display_name));
                if let Some(avatar) = user.avatar_url {
                    data.insert("profile_image_url".to_owned(), Value::from(avatar));
                }
                json!({ "data": data })
            }
            MockProfileShape::Mastodon => {
                let avatar =
                    user.avatar_url.unwrap_or_else(|| format!("{}/avatars/original/missing.png", self.base_url));
                json!({
                    "id": user.id,
                    "username": user.username,
                    "acct": user.username,
                    "display_name": user.display_name,
                    "locked": false,
                    "bot": false,
                    "url": format!("{}/@{}", self.base_url, user.username),
                    "avatar": avatar,
                    "avatar_static": avatar,
                    "note": "",
                    "followers_count": 0,
                    "source": {"privacy": "public", "sensitive": false, "language": null, "note": "", "fields": []}
                })
            }
        };
        no_store(json_response(StatusCode::OK, &profile))
    }

    fn revoke(&self, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
        let params = match parse_form(headers, body) {
            Ok(params) => params,
            Err(response) => return *response,
        };
        if let Err(response) = self.authenticate_client(headers, &params) {
            return *response;
        }
        let Some(token) = params.get("token") else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The token is missing.");
        };
        let mut st = self.lock();
        let client_id = &self.config.client_id;
        let mut was_live = false;
        if st.access_tokens.get(token).is_some_and(|t| t.client_id == *client_id) {
            st.access_tokens.remove(token);
            was_live = true;
        }
        let refresh_family = st.refresh_tokens.get(token).filter(|t| t.client_id == *client_id).map(|t| t.family);
        if let Some(family) = refresh_family {
            // RFC 7009 §2.1: revoking a refresh token also revokes its grant's access tokens.
            st.revoke_family(family);
            was_live = true;
        }
        let kind = match token {
            t if t.starts_with(ACCESS_TOKEN_PREFIX) => MockTokenKind::Access,
            t if t.starts_with(REFRESH_TOKEN_PREFIX) => MockTokenKind::Refresh,
            _ => MockTokenKind::Unknown,
        };
        if st.revocations.len() >= MAX_RECORDED_REQUESTS {
            st.revocations.pop_front();
        }
        let hint = params.get("token_type_hint").map(|h| h.chars().take(MAX_LOGGED_GRANT_TYPE).collect());
        st.revocations.push_back(MockRevocation { token: kind, hint, was_live });
        drop(st);
        no_store(response(StatusCode::OK, "text/plain; charset=utf-8", ""))
    }
}

/// The token of the one `Authorization: Bearer <token>` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' ')).then_some(token)
}

// ---------------------------------------------------------------------------------------
// Parameters and responses
// ---------------------------------------------------------------------------------------

enum ParamError {
    Duplicate,
    NotUtf8,
}

/// Parses form-encoded parameters. A name sent twice is an error (RFC 6749 §3.1, §3.2);
/// an empty value counts as omitted (RFC 6749 §3.1).
fn parse_params(raw: &[u8]) -> Result<HashMap<String, String>, ParamError> {
    let mut seen = HashSet::new();
    let mut params = HashMap::new();
    for (name, value) in form_urlencoded::parse(raw) {
        // `form_urlencoded` decodes lossily: a replacement character means bad UTF-8.
        if name.contains('\u{FFFD}') || value.contains('\u{FFFD}') {
            return Err(ParamError::NotUtf8);
        }
        if !seen.insert(name.clone()) {
            return Err(ParamError::Duplicate);
        }
        if !value.is_empty() {
            params.insert(name.into_owned(), value.into_owned());
        }
    }
    Ok(params)
}

/// Parses a form body, answering RFC 6749 §5.2 errors for the wrong media type or a bad
/// body.
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, Box<Response<Body>>> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(Box::new(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body must be application/x-www-form-urlencoded.",
        )));
    }
    parse_params(body).map_err(|error| {
        let description = match error {
            ParamError::Duplicate => "A parameter was sent more than once.",
            ParamError::NotUtf8 => "A parameter is not UTF-8.",
        };
        Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description))
    })
}

/// The `grant_type` of a token request body, for the request log and counters.
fn grant_type_of(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(name, _)| name == "grant_type")
        .map(|(_, value)| value.chars().take(MAX_LOGGED_GRANT_TYPE).collect())
}

/// `token` (ASCII) padded with `a` or cut to exactly `len` bytes, when `len` is given.
fn sized(mut token: String, len: Option<usize>) -> String {
    if let Some(len) = len {
        token.truncate(len);
        let pad = len.saturating_sub(token.len());
        token.extend(std::iter::repeat_n('a', pad));
    }
    token
}

/// `prefix` followed by 32 base64url characters (24 random bytes).
fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn response(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn no_store(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    response(status, "application/json", value.to_string())
}

/// An RFC 6749 §5.2 error body.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    no_store(json_response(status, &json!({"error": error, "error_description": description})))
}

fn invalid_client(basic: bool) -> Response<Body> {
    let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed.");
    if basic {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"mock\""));
    }
    response
}

fn redirect(status: StatusCode, location: &str) -> Response<Body> {
    match HeaderValue::from_str(location) {
        Ok(location) => {
            let mut response = response(status, "text/plain; charset=utf-8", "");
            response.headers_mut().insert(header::LOCATION, location);
            response
        }
        Err(_) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            "the redirect location is not a valid header value",
        ),
    }
}

fn forced_status(status: u16) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_client_error() {
        oauth_error(status, "server_error", "Forced by MockBehavior (a status switch).")
    } else {
        no_store(response(status, "text/plain; charset=utf-8", "mock provider: forced status"))
    }
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = response(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "method not allowed");
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// A static error page: no input reflected, nothing loaded, no referrer sent.
fn error_page(status: StatusCode, reason: &'static str) -> Response<Body> {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Mock provider: request rejected</title></head>\
         <body><h1>Request rejected</h1><p>{reason}</p></body></html>\n"
    );
    let mut response = no_store(response(status, "text/html; charset=utf-8", html));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Wiring the mock into a `Connect` as a generic provider.
impl MockProvider {
    /// A generic provider definition (`[[providers]]` entry) named `id` that points at this
    /// mock: its endpoints, its client-auth style, PKCE unless the mock has it off, its
    /// issuer, and profile pointers for the OIDC shape (or X's shape).
    pub fn provider_config(&self, id: &str) -> dravo_connect_providers::GenericConfig {
        use dravo_connect_providers::{GenericConfig, ProfilePointers, TokenAuth};
        let config = self.config();
        let pointers = match config.profile_shape {
            MockProfileShape::X => ProfilePointers::new("/data/id")
                .with_username("/data/username")
                .with_display_name("/data/name")
                .with_avatar_url("/data/profile_image_url"),
            _ => ProfilePointers::new("/sub")
                .with_username("/preferred_username")
                .with_display_name("/name")
                .with_avatar_url("/picture"),
        };
        let token_auth = match config.client_auth {
            MockClientAuth::Body => TokenAuth::Body,
            MockClientAuth::None => TokenAuth::None,
            _ => TokenAuth::Basic,
        };
        let mut p = GenericConfig::new(id)
            .with_authorize_url(self.authorize_url())
            .with_token_url(self.token_url())
            .with_userinfo_url(self.userinfo_url())
            .with_revoke_url(self.revoke_url())
            .with_scopes(["profile", "post"])
            .with_pkce(config.pkce != MockPkce::Unsupported)
            .with_token_auth(token_auth)
            .with_profile(pointers);
        if let Some(issuer) = &config.issuer {
            p = p.with_issuer(issuer.clone());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIRECT: &str = "http://127.0.0.1:9/v1/oauth/demo/callback";

    fn client() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap()
    }

    /// An ordered list of form/query pairs that tests tweak.
    #[derive(Clone)]
    struct Params(Vec<(String, String)>);

    impl Params {
        fn new(pairs: &[(&str, &str)]) -> Self {
            Self(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
        }
        fn authorize(mock: &MockProvider) -> Self {
            Self::new(&[
                ("response_type", "code"),
                ("client_id", &mock.config().client_id),
                ("redirect_uri", REDIRECT),
                ("state", "st-1"),
                ("scope", "read write"),
            ])
        }
        fn set(mut self, name: &str, value: &str) -> Self {
            self.0.retain(|(n, _)| n != name);
            self.0.push((name.to_owned(), value.to_owned()));
            self
        }
        fn without(mut self, name: &str) -> Self {
            self.0.retain(|(n, _)| n != name);
            self
        }
        fn add(mut self, name: &str, value: &str) -> Self {
            self.0.push((name.to_owned(), value.to_owned()));
            self
        }
        fn encode(&self) -> String {
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &self.0 {
                s.append_pair(k, v);
            }
            s.finish()
        }
        fn url(&self, mock: &MockProvider) -> String {
            format!("{}?{}", mock.authorize_url(), self.encode())
        }
    }

    fn param(url: &Url, name: &str) -> Option<String> {
        url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    fn pkce_pair() -> (String, String) {
        let verifier = format!("{}{}", random_token(""), random_token(""));
        let challenge = s256(&verifier);
        (verifier, challenge)
    }

    fn with_challenge(params: Params, challenge: &str) -> Params {
        params.set("code_challenge", challenge).set("code_challenge_method", "S256")
    }

    /// Runs the authorize step and returns the code.
    async fn code_for(mock: &MockProvider, params: Params) -> String {
        let location = mock.consent(&params.url(mock)).await.unwrap();
        assert_eq!(param(&location, "error"), None, "{location}");
        param(&location, "code").unwrap()
    }

    fn code_exchange(code: &str, verifier: Option<&str>) -> Params {
        let mut p = Params::new(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)]);
        if let Some(v) = verifier {
            p = p.set("code_verifier", v);
        }
        p
    }

    struct Answer {
        status: u16,
        headers: reqwest::header::HeaderMap,
        text: String,
    }

    impl Answer {
        fn json(&self) -> Value {
            serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
        }
        fn error(&self) -> String {
            self.json()["error"].as_str().unwrap().to_owned()
        }
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).map(|v| v.to_str().unwrap())
        }
    }

    async fn answer(resp: reqwest::Response) -> Answer {
        Answer { status: resp.status().as_u16(), headers: resp.headers().clone(), text: resp.text().await.unwrap() }
    }

    /// How a test authenticates at the token or revocation endpoint.
    enum Auth<'a> {
        /// The mock's configured client, the way its `client_auth` wants.
        Proper,
        /// An `Authorization` header with this exact value, and these extra form fields.
        Header(&'a str, &'a [(&'a str, &'a str)]),
        /// Only these extra form fields.
        Form(&'a [(&'a str, &'a str)]),
    }

    fn basic(id: &str, secret: &str) -> String {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
    }

    async fn post(mock: &MockProvider, url: &str, auth: Auth<'_>, params: Params) -> Answer {
        let config = mock.config();
        let mut header = None;
        let mut params = params;
        match auth {
            Auth::Proper => match config.client_auth {
                MockClientAuth::Basic => {
                    header = Some(basic(&config.client_id, &config.client_secret));
                }
                MockClientAuth::Body => {
                    params = params.set("client_id", &config.client_id).set("client_secret", &config.client_secret);
                }
                _ => params = params.set("client_id", &config.client_id),
            },
            Auth::Header(value, extra) => {
                header = Some(value.to_owned());
                for (k, v) in extra {
                    params = params.set(k, v);
                }
            }
            Auth::Form(extra) => {
                for (k, v) in extra {
                    params = params.set(k, v);
                }
            }
        }
        let mut req =
            client().post(url).header("content-type", "application/x-www-form-urlencoded").body(params.encode());
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        answer(req.send().await.unwrap()).await
    }

    async fn token(mock: &MockProvider, params: Params) -> Answer {
        post(mock, &mock.token_url(), Auth::Proper, params).await
    }

    async fn userinfo_at(url: &str, access_token: Option<&str>) -> Answer {
        let mut req = client().get(url);
        if let Some(t) = access_token {
            req = req.bearer_auth(t);
        }
        answer(req.send().await.unwrap()).await
    }

    async fn userinfo(mock: &MockProvider, access_token: &str) -> Answer {
        userinfo_at(&mock.userinfo_url(), Some(access_token)).await
    }

    /// A full flow with PKCE through `consent`: (access token, refresh token).
    async fn tokens(mock: &MockProvider) -> (String, Option<String>) {
        let (verifier, challenge) = pkce_pair();
        let code = code_for(mock, with_challenge(Params::authorize(mock), &challenge)).await;
        let answer = token(mock, code_exchange(&code, Some(&verifier))).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let json = answer.json();
        (json["access_token"].as_str().unwrap().to_owned(), json["refresh_token"].as_str().map(str::to_owned))
    }

    fn refresh(refresh_token: &str) -> Params {
        Params::new(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
    }

    // --- the code flow -------------------------------------------------------------------

    #[tokio::test]
    async fn full_code_flow_with_pkce_over_http_yields_tokens_and_profile() {
        let mock = MockProvider::start().await.unwrap();
        let (verifier, challenge) = pkce_pair();
        let url = with_challenge(Params::authorize(&mock), &challenge).url(&mock);
        let resp = answer(client().get(&url).send().await.unwrap()).await;
        assert_eq!(resp.status, 302);
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        let location = Url::parse(resp.header("location").unwrap()).unwrap();
        assert!(location.as_str().starts_with(REDIRECT));
        assert_eq!(param(&location, "state").as_deref(), Some("st-1"));
        assert_eq!(param(&location, "iss"), None);
        let code = param(&location, "code").unwrap();
        assert!(code.starts_with("mock_code_") && code.len() == 42, "{code}");

        let resp = token(&mock, code_exchange(&code, Some(&verifier))).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let json = resp.json();
        let access = json["access_token"].as_str().unwrap();
        let refresh = json["refresh_token"].as_str().unwrap();
        assert!(access.starts_with("mock_at_") && access.len() == 40);
        assert!(refresh.starts_with("mock_rt_") && refresh.len() == 40);
        assert_eq!(json["token_type"], "Bearer");
        assert_eq!(json["expires_in"], 3600);
        assert_eq!(json["scope"], "read write");

        let profile = userinfo(&mock, access).await;
        assert_eq!(profile.status, 200);
        assert_eq!(
            profile.json(),
            json!({
                "sub": "mock-user-1",
                "preferred_username": "mockuser",
                "name": "Mock User",
                "picture": format!("{}/avatar.png", mock.base_url()),
                "email": "mockuser@example.invalid",
            })
        );
        let counts = mock.counts();
        assert_eq!((counts.authorize, counts.token, counts.token_authorization_code), (1, 1, 1));
        assert_eq!((counts.userinfo, counts.total), (1, 3));
    }

    #[tokio::test]
    async fn consent_keeps_redirect_uri_query_and_uses_the_current_user() {
        let mock = MockProvider::start().await.unwrap();
        let alice = MockUser::new("42", "alice", "Alice");
        mock.set_user(alice.clone());
        assert_eq!(mock.user(), alice);
        let redirect = "https://app.example/cb?tenant=a%20b&x=1";
        let params = Params::authorize(&mock).set("redirect_uri", redirect);
        let location = mock.consent(&params.url(&mock)).await.unwrap();
        assert!(location.as_str().starts_with("https://app.example/cb?tenant=a%20b&x=1&code=mock_code_"), "{location}");
        let code = param(&location, "code").unwrap();
        let exchange = code_exchange(&code, None).set("redirect_uri", redirect);
        let resp = token(&mock, exchange).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        // A later set_user does not change whose token it is.
        mock.set_user(MockUser::new("43", "bob", "Bob"));
        let access = resp.json()["access_token"].as_str().unwrap().to_owned();
        let profile = userinfo(&mock, &access).await.json();
        assert_eq!(profile["sub"], "42");
        assert_eq!(profile.get("picture"), None);
        assert_eq!(mock.counts().authorize, 1);
    }

    #[tokio::test]
    async fn consent_rejects_urls_of_other_servers_and_error_pages() {
        let mock = MockProvider::start().await.unwrap();
        let other = format!("http://127.0.0.1:1/oauth/authorize?{}", Params::authorize(&mock).encode());
        assert!(matches!(mock.consent(&other).await, Err(MockError::NotThisProvider)));
        assert!(matches!(mock.consent("not a url").await, Err(MockError::InvalidUrl(_))));
        let token_path = format!("{}?{}", mock.token_url(), Params::authorize(&mock).encode());
        assert!(matches!(mock.consent(&token_path).await, Err(MockError::NotThisProvider)));
        let bad_client = Params::authorize(&mock).set("client_id", "evil").url(&mock);
        match mock.consent(&bad_client).await {
            Err(MockError::Rejected { status: 400, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(mock.counts().authorize, 1);
    }

    // --- PKCE ----------------------------------------------------------------------------

    #[tokio::test]
    async fn verifier_mismatch_is_invalid_grant_and_uses_the_code_up() {
        let mock = MockProvider::start().await.unwrap();
        let (verifier, challenge) = pkce_pair();
        let (other_verifier, _) = pkce_pair();
        let code = code_for(&mock, with_challenge(Params::authorize(&mock), &challenge)).await;
        let resp = token(&mock, code_exchange(&code, Some(&other_verifier))).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_grant".into()));
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        assert!(resp.json()["error_description"].is_string());
        // The injected code is dead, even for the right verifier.
        let resp = token(&mock, code_exchange(&code, Some(&verifier))).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_grant".into()));
    }

    #[tokio::test]
    async fn verifier_sent_without_challenge_is_invalid_grant() {
        let mock = MockProvider::start().await.unwrap();
        let (verifier, _) = pkce_pair();
        let code = code_for(&mock, Params::authorize(&mock)).await;
        let resp = token(&mock, code_exchange(&code, Some(&verifier))).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_grant".into()));
    }

    #[tokio::test]
    async fn missing_or_malformed_verifier_is_invalid_grant() {
        let mock = MockProvider::start().await.unwrap();
        for verifier in [None, Some("short"), Some(&*"a".repeat(129)), Some(&*format!("{}+", "a".repeat(50)))] {
            let (_, challenge) = pkce_pair();
            let code = code_for(&mock, with_challenge(Params::authorize(&mock), &challenge)).await;
            let resp = token(&mock, code_exchange(&code, verifier)).await;
            assert_eq!((resp.status, resp.error()), (400, "invalid_grant".into()), "{verifier:?}");
        }
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256(verifier), challenge);
        let code = code_for(&mock, with_challenge(Params::authorize(&mock), challenge)).await;
        let resp = token(&mock, code_exchange(&code, Some(verifier))).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
    }

    #[tokio::test]
    async fn plain_missing_or_malformed_challenge_redirects_with_invalid_request() {
        let mock = MockProvider::start().await.unwrap();
        let (_, challenge) = pkce_pair();
        let cases = [
            Params::authorize(&mock).set("code_challenge", &challenge),
            Params::authorize(&mock).set("code_challenge", &challenge).set("code_challenge_method", "plain"),
            Params::authorize(&mock).set("code_challenge", "too-short").set("code_challenge_method", "S256"),
            Params::authorize(&mock).set("code_challenge_method", "S256"),
        ];
        for params in cases {
            let location = mock.consent(&params.url(&mock)).await.unwrap();
            assert!(location.as_str().starts_with(REDIRECT));
            assert_eq!(param(&location, "error").as_deref(), Some("invalid_request"));
            assert_eq!(param(&location, "state").as_deref(), Some("st-1"));
            assert_eq!(param(&location, "code"), None);
        }
    }

    #[tokio::test]
    async fn required_pkce_without_challenge_redirects_with_invalid_request() {
        let mock = MockProvider::start_with(MockConfig::default().with_pkce(MockPkce::Required)).await.unwrap();
        let location = mock.consent(&Params::authorize(&mock).url(&mock)).await.unwrap();
        assert_eq!(param(&location, "error").as_deref(), Some("invalid_request"));
        let (verifier, challenge) = pkce_pair();
        let code = code_for(&mock, with_challenge(Params::authorize(&mock), &challenge)).await;
        let resp = token(&mock, code_exchange(&code, Some(&verifier))).await;
        assert_eq!(resp.status, 200);
    }

    #[tokio::test]
    async fn unsupported_pkce_ignores_the_challenge_and_rejects_a_verifier() {
        let mock = MockProvider::start_with(MockConfig::default().with_pkce(MockPkce::Unsupported)).await.unwrap();
        let (verifier, challenge) = pkce_pair();
        let params = with_challenge(Params::authorize(&mock), &challenge).set("code_challenge_method", "plain");
        let code = code_for(&mock, params.clone()).await;
        let resp = token(&mock, code_exchange(&code, Some(&verifier))).await;
        assert_eq!(resp.status, 400);
        assert_eq!(resp.error(), "invalid_request");
        let code = code_for(&mock, params).await;
        let resp = token(&mock, code_exchange(&code, None)).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
    }

    // --- codes ---------------------------------------------------------------------------

    #[tokio::test]
    async fn reused_code_is_invalid_grant_and_revokes_its_tokens() {
        let mock = MockProvider::start().await.unwrap();
        let (verifier, challenge) = pkce_pair();
        let code = code_for(&mock, with_challenge(Params::authorize(&mock), &challenge)).await;
        let first = token(&mock, code_exchange(&code, Some(&verifier))).await.json();
        let access = first["access_token"].as_str().unwrap();
        let refresh_token = first["refresh_token"].as_str().unwrap();
        // A token refreshed from the grant is of the same family.
        let refreshed = token(&mock, refresh(refresh_token)).await.json();
        let access2 = refreshed["access_token"].as_str().unwrap();
        let refresh2 = refreshed["refresh_token"].as_str().unwrap();
        assert_eq!(userinfo(&mock, access).await.status, 200);

        let again = token(&mock, code_exchange(&code, Some(&verifier))).await;
        assert_eq!((again.status, again.error()), (400, "invalid_grant".into()));
        assert_eq!(userinfo(&mock, access).await.status, 401);
        assert_eq!(userinfo(&mock, access2).await.status, 401);
        let resp = token(&mock, refresh(refresh2)).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_grant".into()));
        // Another grant's tokens are untouched.
        let (other_access, _) = tokens(&mock).await;
        let _ = token(&mock, code_exchange(&code, Some(&verifier))).await;
        assert_eq!(userinfo(&mock, &other_access).await.status, 200);
    }

    #[tokio::test]
    async fn wrong_or_missing_redirect_uri_is_rejected() {
        let mock = MockProvider::start().await.unwrap();
        let wrong = [format!("{REDIRECT}/"), REDIRECT.replace("127.0.0.1", "localhost"), REDIRECT.to_uppercase()];
        for redirect_uri in &wrong {
            let code = code_for(&mock, Params::authorize(&mock)).await;
            let resp = token(&mock, code_exchange(&code, None).set("redirect_uri", redirect_uri)).await;
            assert_eq!((resp.status, resp.error()), (400, "invalid_grant".into()));
        }
        let code = code_for(&mock, Params::authorize(&mock)).await;
        let resp = token(&mock, code_exchange(&code, None).without("redirect_uri")).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_request".into()));
    }

    #[tokio::test]
    async fn unknown_and_expired_codes_are_invalid_grant() {
        let mock = MockProvider::start().await.unwrap();
        let resp = token(&mock, code_exchange("mock_code_nope", None)).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_grant".into()));
        let code = code_for(&mock, Params::authorize(&mock)).await;
        {
            let mut st = mock.shared.lock();
            let grant = st.codes.get_mut(&code).unwrap();
            grant.issued_at = Instant::now().checked_sub(CODE_TTL + Duration::from_secs(1)).unwrap();
        }
        let resp = token(&mock, code_exchange(&code, None)).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_grant".into()));
        let resp = token(&mock, Params::new(&[("grant_type", "authorization_code")])).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_request".into()));
        let resp = token(&mock, Params::new(&[("grant_type", "password")])).await;
        assert_eq!((resp.status, resp.error()), (400, "unsupported_grant_type".into()));
        let resp = token(&mock, Params::new(&[("code", "x")])).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_request".into()));
    }

    // --- authorize request validation ------------------------------------------------------

    #[tokio::test]
    async fn unknown_client_or_bad_redirect_uri_gets_an_error_page_not_a_redirect() {
        let mock = MockProvider::start().await.unwrap();
        let cases = [
            Params::authorize(&mock).set("client_id", "evil"),
            Params::authorize(&mock).without("client_id"),
            Params::authorize(&mock).without("redirect_uri"),
            Params::authorize(&mock).set("redirect_uri", "/relative/cb"),
            Params::authorize(&mock).set("redirect_uri", "javascript:alert(1)"),
            Params::authorize(&mock).set("redirect_uri", "ftp://app.example/cb"),
            Params::authorize(&mock).set("redirect_uri", "https://app.example/cb#frag"),
            Params::authorize(&mock).set("redirect_uri", "https://app.example/c\tb"),
            Params::authorize(&mock).add("state", "second"),
            Params::authorize(&mock).add("redirect_uri", "https://evil.example/cb"),
            Params::authorize(&mock).add("client_id", ""),
        ];
        for params in cases {
            let url = params.url(&mock);
            let resp = answer(client().get(&url).send().await.unwrap()).await;
            assert_eq!(resp.status, 400, "{url}");
            assert_eq!(resp.header("location"), None);
            assert_eq!(resp.header("content-type"), Some("text/html; charset=utf-8"));
            assert_eq!(resp.header("content-security-policy"), Some("default-src 'none'"));
            assert!(!resp.text.contains("evil") && !resp.text.contains("alert"));
            assert!(matches!(mock.consent(&url).await, Err(MockError::Rejected { status: 400, .. })));
        }
        let raw_bad_utf8 = format!("{}?{}&x=%FF", mock.authorize_url(), Params::authorize(&mock).encode());
        let resp = answer(client().get(&raw_bad_utf8).send().await.unwrap()).await;
        assert_eq!(resp.status, 400);
    }

    #[tokio::test]
    async fn missing_state_or_wrong_response_type_redirects_with_an_error() {
        let mock = MockProvider::start().await.unwrap();
        let location = mock.consent(&Params::authorize(&mock).without("state").url(&mock)).await.unwrap();
        assert_eq!(param(&location, "error").as_deref(), Some("invalid_request"));
        assert_eq!(param(&location, "state"), None);
        let location = mock.consent(&Params::authorize(&mock).set("response_type", "token").url(&mock)).await.unwrap();
        assert_eq!(param(&location, "error").as_deref(), Some("unsupported_response_type"));
        assert_eq!(param(&location, "state").as_deref(), Some("st-1"));
        let location = mock.consent(&Params::authorize(&mock).without("response_type").url(&mock)).await.unwrap();
        assert_eq!(param(&location, "error").as_deref(), Some("invalid_request"));
    }

    #[tokio::test]
    async fn issuer_adds_iss_to_success_and_error_redirects() {
        let issuer = "https://mock.example/issuer";
        let mock = MockProvider::start_with(MockConfig::default().with_issuer(issuer)).await.unwrap();
        let location = mock.consent(&Params::authorize(&mock).url(&mock)).await.unwrap();
        assert_eq!(param(&location, "iss").as_deref(), Some(issuer));
        assert!(location.as_str().contains("iss=https%3A%2F%2Fmock.example%2Fissuer"));
        mock.set_behavior(MockBehavior::default().with_deny(true));
        let location = mock.consent(&Params::authorize(&mock).url(&mock)).await.unwrap();
        assert_eq!(param(&location, "iss").as_deref(), Some(issuer));
        assert_eq!(param(&location, "error").as_deref(), Some("access_denied"));
    }

    // --- client authentication -------------------------------------------------------------

    #[tokio::test]
    async fn basic_auth_accepts_url_encoded_credentials_and_rejects_a_body_secret() {
        let config = MockConfig::default().with_client_id("my client:1").with_client_secret("s&e:c/r+t%");
        let mock = MockProvider::start_with(config).await.unwrap();
        let good = basic("my client:1", "s&e:c/r+t%");
        let code = code_for(&mock, Params::authorize(&mock)).await;
        let resp = post(
            &mock,
            &mock.token_url(),
            Auth::Header(&good, &[("client_id", "my client:1")]),
            code_exchange(&code, None),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text);

        let wrong_secret = basic("my client:1", "nope");
        let raw_not_encoded = format!("Basic {}", STANDARD.encode("my client:1:s&e:c/r+t%"));
        let body_secret: &[(&str, &str)] = &[("client_secret", "s&e:c/r+t%")];
        let other_body_id: &[(&str, &str)] = &[("client_id", "other")];
        let cases = [
            Auth::Header(&wrong_secret, &[]),
            Auth::Header(&raw_not_encoded, &[]),
            Auth::Header(&good, body_secret),
            Auth::Header(&good, other_body_id),
            Auth::Header("Bearer abc", &[]),
            Auth::Form(&[("client_id", "my client:1"), ("client_secret", "s&e:c/r+t%")]),
            Auth::Form(&[("client_id", "my client:1")]),
        ];
        for auth in cases {
            let code = code_for(&mock, Params::authorize(&mock)).await;
            let resp = post(&mock, &mock.token_url(), auth, code_exchange(&code, None)).await;
            assert_eq!((resp.status, resp.error()), (401, "invalid_client".into()));
            assert_eq!(resp.header("www-authenticate"), Some("Basic realm=\"mock\""));
            // A failed client authentication does not consume the code.
            let resp = post(&mock, &mock.token_url(), Auth::Header(&good, &[]), code_exchange(&code, None)).await;
            assert_eq!(resp.status, 200, "{}", resp.text);
        }
    }

    #[tokio::test]
    async fn body_auth_requires_form_credentials_and_rejects_a_basic_header() {
        let mock =
            MockProvider::start_with(MockConfig::default().with_client_auth(MockClientAuth::Body)).await.unwrap();
        let (access, _) = tokens(&mock).await;
        assert_eq!(userinfo(&mock, &access).await.status, 200);
        let good = basic("mock-client", "mock-secret");
        let both: &[(&str, &str)] = &[("client_id", "mock-client"), ("client_secret", "mock-secret")];
        let cases = [
            Auth::Header(&good, &[]),
            Auth::Header(&good, both),
            Auth::Form(&[("client_id", "mock-client")]),
            Auth::Form(&[("client_id", "mock-client"), ("client_secret", "wrong")]),
            Auth::Form(&[("client_id", "other"), ("client_secret", "mock-secret")]),
            Auth::Form(&[("client_secret", "mock-secret")]),
        ];
        for auth in cases {
            let code = code_for(&mock, Params::authorize(&mock)).await;
            let resp = post(&mock, &mock.token_url(), auth, code_exchange(&code, None)).await;
            assert_eq!((resp.status, resp.error()), (401, "invalid_client".into()));
            assert_eq!(resp.header("www-authenticate"), None);
        }
    }

    #[tokio::test]
    async fn none_auth_requires_a_client_id_and_rejects_any_secret() {
        let mock = MockProvider::start_with(
            MockConfig::default().with_client_auth(MockClientAuth::None).with_pkce(MockPkce::Required),
        )
        .await
        .unwrap();
        let (access, _) = tokens(&mock).await;
        assert_eq!(userinfo(&mock, &access).await.status, 200);
        let good = basic("mock-client", "mock-secret");
        let cases = [
            Auth::Header(&good, &[("client_id", "mock-client")]),
            Auth::Form(&[("client_id", "mock-client"), ("client_secret", "mock-secret")]),
            Auth::Form(&[("client_id", "other")]),
            Auth::Form(&[]),
        ];
        for auth in cases {
            let (verifier, challenge) = pkce_pair();
            let code = code_for(&mock, with_challenge(Params::authorize(&mock), &challenge)).await;
            let resp = post(&mock, &mock.token_url(), auth, code_exchange(&code, Some(&verifier))).await;
            assert_eq!((resp.status, resp.error()), (401, "invalid_client".into()));
        }
    }

    // --- refresh -------------------------------------------------------------------------

    #[tokio::test]
    async fn refresh_rotation_invalidates_the_old_refresh_token() {
        let mock = MockProvider::start().await.unwrap();
        let (access, refresh_token) = tokens(&mock).await;
        let refresh_token = refresh_token.unwrap();
        let resp = token(&mock, refresh(&refresh_token)).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        let json = resp.json();
        let new_access = json["access_token"].as_str().unwrap();
        let new_refresh = json["refresh_token"].as_str().unwrap();
        assert_ne!(new_access, access);
        assert_ne!(new_refresh, refresh_token);
        assert_eq!(json["scope"], "read write");
        assert_eq!(userinfo(&mock, new_access).await.status, 200);
        assert_eq!(userinfo(&mock, &access).await.status, 200);
        let old = token(&mock, refresh(&refresh_token)).await;
        assert_eq!((old.status, old.error()), (400, "invalid_grant".into()));
        let next = token(&mock, refresh(new_refresh)).await;
        assert_eq!(next.status, 200);
        let counts = mock.counts();
        assert_eq!((counts.token, counts.token_refresh, counts.token_authorization_code), (4, 3, 1));
    }

    #[tokio::test]
    async fn refresh_without_rotation_omits_refresh_token_and_keeps_the_old_one() {
        let mock = MockProvider::start_with(MockConfig::default().with_rotate_refresh_tokens(false)).await.unwrap();
        let (_, refresh_token) = tokens(&mock).await;
        let refresh_token = refresh_token.unwrap();
        for _ in 0..2 {
            let resp = token(&mock, refresh(&refresh_token)).await;
            assert_eq!(resp.status, 200, "{}", resp.text);
            let json = resp.json();
            assert_eq!(json.get("refresh_token"), None);
            assert_eq!(userinfo(&mock, json["access_token"].as_str().unwrap()).await.status, 200);
        }
    }

    #[tokio::test]
    async fn refresh_scope_may_narrow_but_not_widen() {
        let mock = MockProvider::start().await.unwrap();
        let (_, refresh_token) = tokens(&mock).await;
        let resp = token(&mock, refresh(&refresh_token.unwrap()).set("scope", "read")).await;
        assert_eq!(resp.status, 200);
        let json = resp.json();
        assert_eq!(json["scope"], "read");
        let rotated = json["refresh_token"].as_str().unwrap();
        let resp = token(&mock, refresh(rotated).set("scope", "read admin")).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_scope".into()));
        // The rotated token still carries the full original scope.
        let resp = token(&mock, refresh(rotated).set("scope", "write read")).await;
        assert_eq!(resp.status, 200);
        let resp = token(&mock, refresh("mock_rt_unknown")).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_grant".into()));
        let resp = token(&mock, Params::new(&[("grant_type", "refresh_token")])).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_request".into()));
    }

    #[tokio::test]
    async fn refresh_tokens_and_expires_in_can_be_switched_off() {
        let config = MockConfig::default().with_issue_refresh_tokens(false).with_access_token_ttl(None);
        let mock = MockProvider::start_with(config).await.unwrap();
        let code = code_for(&mock, Params::authorize(&mock).without("scope")).await;
        let json = token(&mock, code_exchange(&code, None)).await.json();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 2, "{json}");
        assert_eq!(json["token_type"], "Bearer");
        assert!(json["access_token"].is_string());
    }

    #[tokio::test]
    async fn access_tokens_expire_after_their_ttl() {
        let mock = MockProvider::start_with(MockConfig::default().with_access_token_ttl(Some(0))).await.unwrap();
        let (access, refresh_token) = tokens(&mock).await;
        assert_eq!(userinfo(&mock, &access).await.status, 401);
        let resp = token(&mock, refresh(&refresh_token.unwrap())).await;
        assert_eq!(resp.json()["expires_in"], 0);
    }

    // --- behaviour switches ----------------------------------------------------------------

    #[tokio::test]
    async fn deny_redirects_with_access_denied_and_state() {
        let mock = MockProvider::start().await.unwrap();
        mock.set_behavior(MockBehavior::default().with_deny(true));
        assert!(mock.behavior().deny);
        let url = Params::authorize(&mock).url(&mock);
        let resp = answer(client().get(&url).send().await.unwrap()).await;
        assert_eq!(resp.status, 302);
        let location = Url::parse(resp.header("location").unwrap()).unwrap();
        assert_eq!(param(&location, "error").as_deref(), Some("access_denied"));
        assert_eq!(param(&location, "state").as_deref(), Some("st-1"));
        assert_eq!(param(&location, "code"), None);
        assert!(mock.shared.lock().codes.is_empty());
        // Request validation still comes first.
        let bad = Params::authorize(&mock).set("client_id", "evil").url(&mock);
        assert!(matches!(mock.consent(&bad).await, Err(MockError::Rejected { .. })));
    }

    #[tokio::test]
    async fn authorize_error_is_sent_as_given_but_encoded() {
        let mock = MockProvider::start().await.unwrap();
        let hostile = "<script>alert(1)</script>\"&x=1";
        mock.update_behavior(|b| b.authorize_error = Some(hostile.to_owned()));
        let location = mock.consent(&Params::authorize(&mock).url(&mock)).await.unwrap();
        assert_eq!(param(&location, "error").as_deref(), Some(hostile));
        assert!(param(&location, "error_description").unwrap().contains(hostile));
        assert_eq!(param(&location, "state").as_deref(), Some("st-1"));
        assert_eq!(param(&location, "x"), None);
        assert!(!location.as_str().contains('<'));
    }

    #[tokio::test]
    async fn token_failure_switches_answer_before_anything_else() {
        let mock = MockProvider::start().await.unwrap();
        let code = code_for(&mock, Params::authorize(&mock)).await;
        let exchange = code_exchange(&code, None);

        mock.set_behavior(MockBehavior::default().with_token_status(503));
        let resp = token(&mock, exchange.clone()).await;
        assert_eq!(resp.status, 503);
        assert!(serde_json::from_str::<Value>(&resp.text).is_err());
        mock.set_behavior(MockBehavior::default().with_token_status(429));
        let resp = token(&mock, exchange.clone()).await;
        assert_eq!((resp.status, resp.error()), (429, "server_error".into()));

        mock.set_behavior(MockBehavior::default().with_token_malformed(true));
        let resp = token(&mock, exchange.clone()).await;
        assert_eq!(resp.status, 200);
        assert!(serde_json::from_str::<Value>(&resp.text).is_err());

        mock.set_behavior(MockBehavior::default().with_token_error_in_200(true));
        let resp = token(&mock, exchange.clone()).await;
        assert_eq!((resp.status, resp.error()), (200, "invalid_grant".into()));
        assert_eq!(resp.json().get("access_token"), None);

        mock.set_behavior(MockBehavior::default().with_token_missing_access_token(true));
        let resp = token(&mock, exchange.clone()).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.json(), json!({"token_type": "Bearer", "expires_in": 3600}));

        // Switches apply even to a request that would fail (no client auth at all).
        let resp = post(&mock, &mock.token_url(), Auth::Form(&[]), exchange.clone()).await;
        assert_eq!(resp.status, 200);

        // None of that consumed the code.
        mock.set_behavior(MockBehavior::default());
        assert_eq!(mock.behavior(), MockBehavior::default());
        let resp = token(&mock, exchange).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        assert_eq!(mock.counts().token_authorization_code, 7);
    }

    #[tokio::test]
    async fn token_delay_holds_the_answer_back() {
        let mock = MockProvider::start().await.unwrap();
        mock.set_behavior(MockBehavior::default().with_token_delay_ms(300));
        let code = code_for(&mock, Params::authorize(&mock)).await;
        let started = Instant::now();
        let result = client().post(mock.token_url()).timeout(Duration::from_millis(100)).send().await;
        assert!(result.unwrap_err().is_timeout());
        let resp = token(&mock, code_exchange(&code, None)).await;
        assert_eq!(resp.status, 200);
        assert!(started.elapsed() >= Duration::from_millis(400));
    }

    #[tokio::test]
    async fn token_type_and_granted_scope_overrides_shape_success_answers() {
        let mock = MockProvider::start().await.unwrap();
        mock.set_behavior(MockBehavior::default().with_token_type("mac").with_granted_scope("read"));
        let (_, refresh_token) = tokens(&mock).await;
        let code = code_for(&mock, Params::authorize(&mock)).await;
        let json = token(&mock, code_exchange(&code, None)).await.json();
        assert_eq!((&json["token_type"], &json["scope"]), (&json!("mac"), &json!("read")));
        let json = token(&mock, refresh(&refresh_token.unwrap())).await.json();
        assert_eq!((&json["token_type"], &json["scope"]), (&json!("mac"), &json!("read")));
    }

    #[tokio::test]
    async fn token_redirect_answers_307_to_the_given_location() {
        let mock = MockProvider::start().await.unwrap();
        let elsewhere = "http://127.0.0.1:1/steal";
        mock.set_behavior(MockBehavior::default().with_token_redirect_to(elsewhere));
        let code = code_for(&mock, Params::authorize(&mock)).await;
        let resp = token(&mock, code_exchange(&code, None)).await;
        assert_eq!(resp.status, 307);
        assert_eq!(resp.header("location"), Some(elsewhere));
    }

    #[tokio::test]
    async fn refresh_invalid_grant_switch_fails_only_refreshes() {
        let mock = MockProvider::start().await.unwrap();
        let (_, refresh_token) = tokens(&mock).await;
        let refresh_token = refresh_token.unwrap();
        mock.set_behavior(MockBehavior::default().with_refresh_invalid_grant(true));
        let resp = token(&mock, refresh(&refresh_token)).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_grant".into()));
        let (access, _) = tokens(&mock).await;
        assert_eq!(userinfo(&mock, &access).await.status, 200);
        mock.set_behavior(MockBehavior::default());
        assert_eq!(token(&mock, refresh(&refresh_token)).await.status, 200);
    }

    #[tokio::test]
    async fn userinfo_switches_answer_before_the_token_check() {
        let mock = MockProvider::start().await.unwrap();
        let (access, _) = tokens(&mock).await;
        mock.set_behavior(MockBehavior::default().with_userinfo_status(500));
        assert_eq!(userinfo(&mock, &access).await.status, 500);
        mock.set_behavior(MockBehavior::default().with_userinfo_status(403));
        assert_eq!(userinfo(&mock, &access).await.status, 403);
        mock.set_behavior(MockBehavior::default().with_userinfo_malformed(true));
        let resp = userinfo(&mock, &access).await;
        assert_eq!(resp.status, 200);
        assert!(serde_json::from_str::<Value>(&resp.text).is_err());
        let resp = userinfo_at(&mock.userinfo_url(), None).await;
        assert_eq!(resp.status, 200);
    }

    // --- userinfo and revocation -----------------------------------------------------------

    #[tokio::test]
    async fn userinfo_answers_the_x_shape_on_both_paths() {
        let mock =
            MockProvider::start_with(MockConfig::default().with_profile_shape(MockProfileShape::X)).await.unwrap();
        let user =
            MockUser::new("2244994945", "XDevelopers", "Developers").with_avatar_url("https://pbs.example/p.jpg");
        let access = mock.issue_access_token(&user);
        let expected = json!({"data": {
            "id": "2244994945",
            "username": "XDevelopers",
            "name": "Developers",
            "profile_image_url": "https://pbs.example/p.jpg",
        }});
        let me = format!("{}/2/users/me?user.fields=profile_image_url", mock.base_url());
        for url in [mock.userinfo_url(), me] {
            let resp = userinfo_at(&url, Some(&access)).await;
            assert_eq!(resp.status, 200);
            assert_eq!(resp.json(), expected);
        }
        let bare = mock.issue_access_token(&MockUser::new("1", "u", "U"));
        let json = userinfo(&mock, &bare).await.json();
        assert_eq!(json, json!({"data": {"id": "1", "username": "u", "name": "U"}}));
        assert_eq!(mock.counts().userinfo, 3);
    }

    #[tokio::test]
    async fn userinfo_rejects_missing_unknown_expired_and_revoked_tokens() {
        let mock = MockProvider::start().await.unwrap();
        let unauthorized = |resp: &Answer| {
            assert_eq!((resp.status, resp.error()), (401, "invalid_token".into()));
            assert!(resp.header("www-authenticate").unwrap().starts_with("Bearer"));
        };
        unauthorized(&userinfo_at(&mock.userinfo_url(), None).await);
        unauthorized(&userinfo(&mock, "mock_at_unknown").await);
        let access = mock.issue_access_token(&mock.user());
        let with_query = format!("{}?access_token={access}", mock.userinfo_url());
        unauthorized(&userinfo_at(&with_query, None).await);
        let resp = answer(
            client().get(mock.userinfo_url()).header("authorization", format!("Basic {access}")).send().await.unwrap(),
        )
        .await;
        unauthorized(&resp);
        let resp = answer(
            client().get(mock.userinfo_url()).header("authorization", format!("bearer {access}")).send().await.unwrap(),
        )
        .await;
        assert_eq!(resp.status, 200);

        let (access, refresh_token) = tokens(&mock).await;
        mock.expire_access_tokens();
        unauthorized(&userinfo(&mock, &access).await);
        let refreshed = token(&mock, refresh(&refresh_token.unwrap())).await.json();
        let fresh = refreshed["access_token"].as_str().unwrap();
        assert_eq!(userinfo(&mock, fresh).await.status, 200);
        mock.revoke_all();
        unauthorized(&userinfo(&mock, fresh).await);
        let resp = token(&mock, refresh(refreshed["refresh_token"].as_str().unwrap())).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_grant".into()));
    }

    #[tokio::test]
    async fn revoke_endpoint_revokes_access_and_refresh_tokens() {
        let mock = MockProvider::start().await.unwrap();
        let revoke = |token: &str| Params::new(&[("token", token)]);
        let (access, refresh_token) = tokens(&mock).await;
        let refresh_token = refresh_token.unwrap();

        let resp = post(&mock, &mock.revoke_url(), Auth::Proper, revoke(&access)).await;
        assert_eq!(resp.status, 200);
        assert_eq!(userinfo(&mock, &access).await.status, 401);
        // Unknown and already revoked tokens are fine too (RFC 7009 §2.2).
        let resp = post(&mock, &mock.revoke_url(), Auth::Proper, revoke(&access)).await;
        assert_eq!(resp.status, 200);
        // Revoking the refresh token kills it and the grant's access tokens.
        let refreshed = token(&mock, refresh(&refresh_token)).await.json();
        let access2 = refreshed["access_token"].as_str().unwrap();
        let refresh2 = refreshed["refresh_token"].as_str().unwrap();
        let resp =
            post(&mock, &mock.revoke_url(), Auth::Proper, revoke(refresh2).set("token_type_hint", "refresh_token"))
                .await;
        assert_eq!(resp.status, 200);
        assert_eq!(userinfo(&mock, access2).await.status, 401);
        assert_eq!(token(&mock, refresh(refresh2)).await.status, 400);

        // Client authentication and a token are required.
        let (access, _) = tokens(&mock).await;
        let resp = post(&mock, &mock.revoke_url(), Auth::Form(&[]), revoke(&access)).await;
        assert_eq!((resp.status, resp.error()), (401, "invalid_client".into()));
        let resp = post(&mock, &mock.revoke_url(), Auth::Proper, Params::new(&[])).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_request".into()));
        assert_eq!(userinfo(&mock, &access).await.status, 200);
        assert_eq!(mock.counts().revoke, 5);
        // The accepted revocations are recorded per token, with their hints.
        let revocation =
            |token, hint: Option<&str>, was_live| MockRevocation { token, hint: hint.map(str::to_owned), was_live };
        assert_eq!(
            mock.revocations(),
            [
                revocation(MockTokenKind::Access, None, true),
                revocation(MockTokenKind::Access, None, false),
                revocation(MockTokenKind::Refresh, Some("refresh_token"), true),
            ]
        );
        mock.reset_counts();
        assert!(mock.revocations().is_empty());
    }

    // --- bookkeeping, HTTP hygiene and lifecycle ---------------------------------------------

    #[tokio::test]
    async fn counts_and_requests_never_record_query_values_or_bodies() {
        let mock = MockProvider::start().await.unwrap();
        let (access, refresh_token) = tokens(&mock).await;
        let refresh_token = refresh_token.unwrap();
        let _ = token(&mock, refresh(&refresh_token)).await;
        let _ = userinfo(&mock, &access).await;
        let _ = post(&mock, &mock.revoke_url(), Auth::Proper, Params::new(&[("token", &access)])).await;
        let _ = client().get(format!("{}/nope?secret=1", mock.base_url())).send().await.unwrap();
        let requests = mock.requests();
        let expected = [
            ("GET", AUTHORIZE_PATH, None),
            ("POST", TOKEN_PATH, Some("authorization_code")),
            ("POST", TOKEN_PATH, Some("refresh_token")),
            ("GET", USERINFO_PATH, None),
            ("POST", REVOKE_PATH, None),
            ("GET", "/nope", None),
        ];
        assert_eq!(requests.len(), expected.len());
        for (request, (method, path, grant)) in requests.iter().zip(expected) {
            assert_eq!(
                request,
                &MockRequest { method: method.to_owned(), path: path.to_owned(), grant_type: grant.map(str::to_owned) }
            );
        }
        let dump = format!("{requests:?} {:?} {mock:?}", mock.counts());
        for secret in [access.as_str(), &refresh_token, "mock-secret", "secret=1", "st-1"] {
            assert!(!dump.contains(secret), "{secret} in {dump}");
        }
        assert_eq!(
            mock.counts(),
            MockCounts {
                authorize: 1,
                token: 2,
                token_authorization_code: 1,
                token_refresh: 1,
                userinfo: 1,
                revoke: 1,
                consent: 0,
                app_registrations: 0,
                total: 6,
                ..MockCounts::default()
            }
        );
        mock.reset_counts();
        assert_eq!(mock.counts(), MockCounts::default());
        assert!(mock.requests().is_empty());
    }

    #[tokio::test]
    async fn token_endpoint_requires_a_form_body_of_bounded_size() {
        let mock = MockProvider::start().await.unwrap();
        let code = code_for(&mock, Params::authorize(&mock)).await;
        let auth = basic("mock-client", "mock-secret");
        let body = code_exchange(&code, None).encode();
        for content_type in [None, Some("application/json"), Some("text/plain")] {
            let mut req = client().post(mock.token_url()).header("authorization", &auth).body(body.clone());
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let resp = answer(req.send().await.unwrap()).await;
            assert_eq!((resp.status, resp.error()), (400, "invalid_request".into()));
        }
        let big = format!("{body}&pad={}", "a".repeat(MAX_BODY_BYTES));
        let resp = answer(
            client()
                .post(mock.token_url())
                .header("authorization", &auth)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(big)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status, 413);
        let dup = code_exchange(&code, None).add("code", &code);
        let resp = token(&mock, dup).await;
        assert_eq!((resp.status, resp.error()), (400, "invalid_request".into()));
        let resp = answer(
            client()
                .post(mock.token_url())
                .header("authorization", &auth)
                .header("content-type", "Application/X-WWW-Form-URLEncoded; charset=UTF-8")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text);
    }

    #[tokio::test]
    async fn unknown_paths_get_404_and_wrong_methods_405() {
        let mock = MockProvider::start().await.unwrap();
        let base = mock.base_url();
        let resp = client().get(format!("{base}/oauth/authorize/")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        let resp = client().post(format!("{base}/elsewhere")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        let resp = client().get(mock.token_url()).send().await.unwrap();
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers()["allow"], "POST");
        let resp = client().post(mock.authorize_url()).send().await.unwrap();
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers()["allow"], "GET");
        assert_eq!(mock.counts().total, 4);
        // `/oauth/authorize/` is not the authorize endpoint.
        assert_eq!((mock.counts().authorize, mock.counts().token), (1, 1));
    }

    #[tokio::test]
    async fn the_default_avatar_is_a_png_served_by_the_mock() {
        let mock = MockProvider::start().await.unwrap();
        let avatar = mock.user().avatar_url.unwrap();
        assert_eq!(avatar, format!("{}/avatar.png", mock.base_url()));
        let resp = client().get(&avatar).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "image/png");
        assert!(resp.bytes().await.unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    }

    #[tokio::test]
    async fn dropping_the_provider_shuts_the_server_down() {
        let mock = MockProvider::start().await.unwrap();
        let addr = mock.addr();
        assert_eq!(mock.base_url(), format!("http://{addr}"));
        // An idle keep-alive connection is closed too.
        let keep_alive = client();
        let resp = keep_alive.get(mock.userinfo_url()).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        drop(mock);
        let mut refused = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(refused, "the listener is still accepting");
        let result = keep_alive.get(format!("http://{addr}/userinfo")).send().await;
        assert!(result.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_flows_on_a_multi_thread_runtime_get_distinct_tokens() {
        let mock = Arc::new(MockProvider::start().await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..20 {
            let mock = Arc::clone(&mock);
            tasks.push(tokio::spawn(async move {
                let user = MockUser::new(format!("u{i}"), format!("user{i}"), "U");
                let access = mock.issue_access_token(&user);
                let (flow_access, _) = tokens(&mock).await;
                let profile = userinfo(&mock, &access).await.json();
                assert_eq!(profile["sub"], format!("u{i}"));
                (access, flow_access)
            }));
        }
        let mut seen = HashSet::new();
        for task in tasks {
            let (a, b) = task.await.unwrap();
            assert!(seen.insert(a) && seen.insert(b));
        }
        assert_eq!(mock.counts().token_authorization_code, 20);
    }

    #[test]
    fn works_on_a_current_thread_runtime_inside_a_local_set_as_actix_rt_runs() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async {
            let mock = MockProvider::start().await.unwrap();
            let (access, _) = tokens(&mock).await;
            assert_eq!(userinfo(&mock, &access).await.status, 200);
        });
    }

    #[tokio::test]
    async fn debug_output_never_shows_the_secret() {
        let config = MockConfig::default().with_client_secret("very-secret-value");
        let mock = MockProvider::start_with(config).await.unwrap();
        let _ = tokens(&mock).await;
        let debug = format!("{mock:?} {:?}", mock.config());
        assert!(!debug.contains("very-secret-value"), "{debug}");
        assert!(debug.contains("mock-client") && debug.contains("[redacted]"));
        assert!(!debug.contains("mock_at_") && !debug.contains("mock_rt_"));
    }

    #[tokio::test]
    async fn directly_issued_tokens_work_like_flow_tokens() {
        let mock = MockProvider::start().await.unwrap();
        let user = MockUser::new("7", "seven", "Seven");
        let access = mock.issue_access_token(&user);
        assert!(access.starts_with("mock_at_"));
        assert_eq!(userinfo(&mock, &access).await.json()["sub"], "7");
        let refresh_token = mock.issue_refresh_token(&user);
        let json = token(&mock, refresh(&refresh_token)).await.json();
        assert_eq!(json.get("scope"), None);
        assert_eq!(userinfo(&mock, json["access_token"].as_str().unwrap()).await.json()["name"], "Seven");
        assert_eq!(mock.counts().authorize, 0);
    }

    // --- interactive consent page -----------------------------------------------------

    async fn interactive() -> MockProvider {
        MockProvider::start_with(MockConfig::default().with_interactive_consent(true)).await.unwrap()
    }

    /// Opens the consent page for `params` and returns its nonce.
    async fn consent_page_nonce(mock: &MockProvider, params: &Params) -> String {
        let page = answer(client().get(params.url(mock)).send().await.unwrap()).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(page.header("content-type").unwrap().starts_with("text/html"));
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert!(page.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
        let (_, rest) = page.text.split_once(r#"name="nonce" value=""#).unwrap();
        rest.split('"').next().unwrap().to_owned()
    }

    async fn decide(mock: &MockProvider, nonce: &str, decision: &str) -> Answer {
        let params = Params::new(&[("nonce", nonce), ("decision", decision)]);
        post(mock, &format!("{}{CONSENT_PATH}", mock.base_url()), Auth::Form(&[]), params).await
    }

    #[tokio::test]
    async fn interactive_consent_shows_a_page_with_allow_and_deny_instead_of_redirecting() {
        let mock = interactive().await;
        let page = answer(client().get(Params::authorize(&mock).url(&mock)).send().await.unwrap()).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.header("location"), None);
        assert!(page.text.contains(r#"id="allow" name="decision" value="allow">Allow</button>"#), "{}", page.text);
        assert!(page.text.contains(r#"id="deny" name="decision" value="deny">Deny</button>"#));
        assert!(page.text.contains(&format!(r#"<form method="post" action="{CONSENT_PATH}">"#)));
        assert!(page.text.contains("Mock User") && page.text.contains("<code>read</code>"));
        assert!(!page.text.contains("<script"));
        assert_eq!(mock.counts().authorize, 1);
    }

    #[tokio::test]
    async fn allow_on_the_consent_page_redirects_with_a_code_that_exchanges_for_tokens() {
        let mock = interactive().await;
        let (verifier, challenge) = pkce_pair();
        let nonce = consent_page_nonce(&mock, &with_challenge(Params::authorize(&mock), &challenge)).await;
        let back = decide(&mock, &nonce, "allow").await;
        assert_eq!(back.status, 303, "{}", back.text);
        let location = Url::parse(back.header("location").unwrap()).unwrap();
        assert!(location.as_str().starts_with(REDIRECT), "{location}");
        assert_eq!(param(&location, "state").as_deref(), Some("st-1"));
        let code = param(&location, "code").unwrap();
        let tokens = token(&mock, code_exchange(&code, Some(&verifier))).await;
        assert_eq!(tokens.status, 200, "{}", tokens.text);
        assert_eq!(tokens.json()["scope"], "read write");
        assert_eq!(mock.counts().consent, 1);
    }

    #[tokio::test]
    async fn deny_on_the_consent_page_redirects_with_access_denied_and_the_state() {
        let mock = MockProvider::start_with(
            MockConfig::default().with_interactive_consent(true).with_issuer("https://mock.example"),
        )
        .await
        .unwrap();
        let nonce = consent_page_nonce(&mock, &Params::authorize(&mock)).await;
        let back = decide(&mock, &nonce, "deny").await;
        assert_eq!(back.status, 303);
        let location = Url::parse(back.header("location").unwrap()).unwrap();
        assert_eq!(param(&location, "error").as_deref(), Some("access_denied"));
        assert_eq!(param(&location, "state").as_deref(), Some("st-1"));
        assert_eq!(param(&location, "iss").as_deref(), Some("https://mock.example"));
        assert_eq!(param(&location, "code"), None);
    }

    #[tokio::test]
    async fn a_consent_nonce_is_single_use_and_an_unknown_one_gets_an_error_page() {
        let mock = interactive().await;
        let nonce = consent_page_nonce(&mock, &Params::authorize(&mock)).await;
        assert_eq!(decide(&mock, &nonce, "allow").await.status, 303);
        for (nonce, decision) in [(nonce.as_str(), "allow"), (nonce.as_str(), "deny"), ("forged", "allow")] {
            let again = decide(&mock, nonce, decision).await;
            assert_eq!(again.status, 400, "{nonce} {decision}");
            assert_eq!(again.header("location"), None);
            assert!(again.text.contains("expired or was already used"));
        }
    }

    #[tokio::test]
    async fn a_consent_post_without_a_valid_decision_or_form_is_rejected_and_keeps_the_nonce() {
        let mock = interactive().await;
        let nonce = consent_page_nonce(&mock, &Params::authorize(&mock)).await;
        for decision in ["", "maybe"] {
            let bad = decide(&mock, &nonce, decision).await;
            assert_eq!((bad.status, bad.header("location")), (400, None));
        }
        let url = format!("{}{CONSENT_PATH}", mock.base_url());
        let json = client().post(&url).json(&json!({"nonce": nonce, "decision": "allow"})).send().await.unwrap();
        assert_eq!(json.status(), 400);
        assert_eq!(client().get(&url).send().await.unwrap().status(), 405);
        assert_eq!(decide(&mock, &nonce, "allow").await.status, 303);
    }

    #[tokio::test]
    async fn interactive_consent_still_rejects_bad_requests_before_showing_the_page() {
        let mock = interactive().await;
        let unknown =
            answer(client().get(Params::authorize(&mock).set("client_id", "evil").url(&mock)).send().await.unwrap())
                .await;
        assert_eq!((unknown.status, unknown.header("location")), (400, None));
        assert!(!unknown.text.contains("nonce"));
        let no_state =
            answer(client().get(Params::authorize(&mock).without("state").url(&mock)).send().await.unwrap()).await;
        assert_eq!(no_state.status, 302);
        assert!(no_state.header("location").unwrap().contains("error=invalid_request"));
    }

    #[tokio::test]
    async fn the_consent_page_escapes_what_the_request_and_user_carry() {
        let mock = interactive().await;
        mock.set_user(MockUser::new("7", "a\"b", "<img src=x onerror=alert(1)>"));
        let params = Params::authorize(&mock).set("scope", "<script>alert(1)</script> \"q\"");
        let page = answer(client().get(params.url(&mock)).send().await.unwrap()).await;
        assert!(!page.text.contains("<script>alert") && !page.text.contains("<img src=x"), "{}", page.text);
        assert!(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && page.text.contains("a&quot;b"));
    }

    #[tokio::test]
    async fn behavior_switches_apply_when_the_user_allows_and_consent_helper_skips_the_page() {
        let mock = interactive().await;
        mock.set_behavior(MockBehavior::default().with_authorize_error("temporarily_unavailable"));
        let nonce = consent_page_nonce(&mock, &Params::authorize(&mock)).await;
        let back = decide(&mock, &nonce, "allow").await;
        let location = Url::parse(back.header("location").unwrap()).unwrap();
        assert_eq!(param(&location, "error").as_deref(), Some("temporarily_unavailable"));
        mock.set_behavior(MockBehavior::default());
        // `consent()` auto-consents whatever the page setting.
        assert!(code_for(&mock, Params::authorize(&mock)).await.starts_with("mock_code_"));
    }

    #[test]
    fn defaults_match_the_documentation() {
        let config = MockConfig::default();
        assert_eq!(config.client_id, "mock-client");
        assert_eq!(config.client_secret, "mock-secret");
        assert_eq!(config.client_auth, MockClientAuth::Basic);
        assert_eq!(config.pkce, MockPkce::Supported);
        assert_eq!(config.issuer, None);
        assert_eq!(config.profile_shape, MockProfileShape::Oidc);
        assert_eq!(config.access_token_ttl, Some(3600));
        assert!(config.rotate_refresh_tokens && config.issue_refresh_tokens);
        assert!(!config.interactive_consent);
        assert_eq!(MockBehavior::default(), MockBehavior::default().with_deny(false));
    }

    #[test]
    fn form_decoding_is_strict() {
        assert_eq!(form_decode("a+b%3A%2f").as_deref(), Some("a b:/"));
        assert_eq!(form_decode("%"), None);
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%FF"), None);
        assert!(is_valid_verifier(&"a-._~".repeat(9)));
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(!is_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c="));
    }
}
