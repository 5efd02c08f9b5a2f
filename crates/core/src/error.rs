//! Errors: one opaque [`Error`] whose [`ErrorCode`] owns its wire string and HTTP status, the
//! fixed set of callback failure reasons ([`OAuthErrorReason`]), and [`ConfigError`] for
//! everything refused at start-up.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

/// The documented, fixed set of API error codes. Each owns its wire string and its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 401: no key, a malformed `Authorization` header, an unknown key.
    Unauthorized,
    /// 404: an unknown object, provider or path (also another tenant's object).
    NotFound,
    /// 405: a route with the wrong method.
    MethodNotAllowed,
    /// 400: a body that is not JSON, repeats a key within an object, or has the wrong JSON types.
    InvalidJson,
    /// 400: a missing or malformed query or path parameter, a duplicated one, or a query of
    /// more than 64 parameters.
    InvalidRequest,
    /// 400: `return_url` outside the app's allowlist.
    ReturnUrlNotAllowed,
    /// 415: a body that is not `application/json`.
    UnsupportedMediaType,
    /// 413: a body over the limit.
    PayloadTooLarge,
    /// 414: a URL over the limit.
    UriTooLong,
    /// 422: well-formed JSON that breaks a rule.
    ValidationFailed,
    /// 422: several apps for the provider and no `app_id`.
    AppIdRequired,
    /// 404: no app of this tenant for the provider.
    AppNotConfigured,
    /// 409: deleting an app that accounts still use.
    AppInUse,
    /// 422: `POST /accounts` with a token the provider refuses, or an app-password login it
    /// refuses (Bluesky: wrong identifier or password, an emailed sign-in code asked for).
    InvalidToken,
    /// 429: the tenant has its maximum of unfinished flows (`Retry-After` given).
    TooManyPendingFlows,
    /// 502: the provider failed or answered nonsense on a keyed route.
    ProviderError,
    /// 500: our own fault (a store failure); the body says nothing more.
    ServerError,
}

impl ErrorCode {
    /// Every code, in documentation order (a slice: codes may be added).
    pub const ALL: &'static [ErrorCode] = &[
        Self::Unauthorized,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::InvalidJson,
        Self::InvalidRequest,
        Self::ReturnUrlNotAllowed,
        Self::UnsupportedMediaType,
        Self::PayloadTooLarge,
        Self::UriTooLong,
        Self::ValidationFailed,
        Self::AppIdRequired,
        Self::AppNotConfigured,
        Self::AppInUse,
        Self::InvalidToken,
        Self::TooManyPendingFlows,
        Self::ProviderError,
        Self::ServerError,
    ];

    /// The wire string, as in `{"error":{"code":"…"}}`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidJson => "invalid_json",
            Self::InvalidRequest => "invalid_request",
            Self::ReturnUrlNotAllowed => "return_url_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UriTooLong => "uri_too_long",
            Self::ValidationFailed => "validation_failed",
            Self::AppIdRequired => "app_id_required",
            Self::AppNotConfigured => "app_not_configured",
            Self::AppInUse => "app_in_use",
            Self::InvalidToken => "invalid_token",
            Self::TooManyPendingFlows => "too_many_pending_flows",
            Self::ProviderError => "provider_error",
            Self::ServerError => "server_error",
        }
    }

    /// The HTTP status this code is answered with.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound | Self::AppNotConfigured => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidJson | Self::InvalidRequest | Self::ReturnUrlNotAllowed => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::ValidationFailed | Self::AppIdRequired | Self::InvalidToken => StatusCode::UNPROCESSABLE_ENTITY,
            Self::AppInUse => StatusCode::CONFLICT,
            Self::TooManyPendingFlows => StatusCode::TOO_MANY_REQUESTS,
            Self::ProviderError => StatusCode::BAD_GATEWAY,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of the Connect API: an [`ErrorCode`], a message safe to show the caller, and
/// (for logs only) the underlying cause.
///
/// The message never holds a secret, a token or a provider's raw error text; the
/// [`source`](std::error::Error::source) chain may hold more detail and goes to logs, never
/// to clients. A `server_error` is always answered with a fixed message.
pub struct Error {
    code: ErrorCode,
    message: Cow<'static, str>,
    source: Option<Source>,
    retry_after: Option<std::time::Duration>,
}

impl Error {
    /// An error with a code and a message for the caller.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self { code, message: message.into(), source: None, retry_after: None }
    }

    /// Attaches the underlying cause (kept for logs, never sent to clients).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Says when the request may succeed if tried again (the API answers it as
    /// `Retry-After`, in whole seconds).
    #[must_use]
    pub fn with_retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// When trying again may succeed, for errors that say (`too_many_pending_flows`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }

    /// A `server_error` caused by `source` (a store failure, a broken invariant).
    pub fn server(source: impl Into<Source>) -> Self {
        Self::new(ErrorCode::ServerError, "internal server error").with_source(source)
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message shown to the caller.
    pub fn message(&self) -> &str {
        if self.code == ErrorCode::ServerError { "internal server error" } else { &self.message }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// A `404 not_found` error for `what` (`"account"` gives "account not found").
    pub fn not_found(what: &'static str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// A `422 validation_failed` error with `message`.
    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    /// A `400 invalid_request` error with `message`.
    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", &source.to_string());
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        Self::server(e)
    }
}

/// Why a callback failed, as sent to the return URL in `oauth_error={reason}`.
///
/// A fixed, documented set; a provider's own error string is mapped into it, never echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthErrorReason {
    /// The user declined at the provider.
    AccessDenied,
    /// The state's lifetime ran out before the callback.
    StateExpired,
    /// The state was already used once.
    StateReused,
    /// The provider refused the authorization code (or answered the exchange with nonsense).
    TokenExchangeFailed,
    /// The provider did not return a usable profile for the new token.
    ProfileFetchFailed,
    /// The provider reported another error, or failed in a way that is not ours.
    ProviderError,
    /// Our own fault (a store failure).
    ServerError,
    /// Browser binding is on and the callback came from another browser than the one that
    /// went through the flow's hop (its binding cookie is missing or wrong): a callback URL
    /// replayed elsewhere. The flow is consumed.
    BrowserMismatch,
}

impl OAuthErrorReason {
    /// Every reason, in documentation order (a slice: reasons may be added).
    pub const ALL: &'static [OAuthErrorReason] = &[
        Self::AccessDenied,
        Self::StateExpired,
        Self::StateReused,
        Self::TokenExchangeFailed,
        Self::ProfileFetchFailed,
        Self::ProviderError,
        Self::ServerError,
        Self::BrowserMismatch,
    ];

    /// The wire string, as in `?oauth_error=…`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::StateExpired => "state_expired",
            Self::StateReused => "state_reused",
            Self::TokenExchangeFailed => "token_exchange_failed",
            Self::ProfileFetchFailed => "profile_fetch_failed",
            Self::ProviderError => "provider_error",
            Self::ServerError => "server_error",
            Self::BrowserMismatch => "browser_mismatch",
        }
    }

    /// Maps a provider's `error` parameter on the callback into the fixed set: the
    /// user-declined family (`access_denied`, LinkedIn's `user_cancelled_login` /
    /// `user_cancelled_authorize`, Meta's `user_denied`) is `access_denied`; everything else
    /// is `provider_error`.
    pub fn from_provider_error(error: &str) -> Self {
        match error {
            "access_denied"
            | "user_cancelled_login"
            | "user_cancelled_authorize"
            | "user_denied"
            | "consent_required" => Self::AccessDenied,
            _ => Self::ProviderError,
        }
    }
}

impl fmt::Display for OAuthErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration refused when building `Connect` (fail at start-up, not per request).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key (state or encryption) is missing or malformed.
    #[error("key configuration: {0}")]
    Key(#[from] crate::keys::KeyError),
    /// No state key was configured.
    #[error("no state key configured (state_secret or state_keys)")]
    MissingStateKey,
    /// No encryption key was configured.
    #[error("no encryption key configured (encryption_key or encryption_keys)")]
    MissingEncryptionKey,
    /// No store was given.
    #[error("no store configured")]
    MissingStore,
    /// No outbound HTTP client was given and the `reqwest` feature is off.
    #[error("no HTTP client configured (enable the `reqwest` feature or call http_client())")]
    MissingHttpClient,
    /// No authenticator and no API keys were configured.
    #[error("no authenticator configured (api_keys or authenticator())")]
    MissingAuthenticator,
    /// `public_base_url` is missing or not an absolute http(s) URL without query or fragment.
    #[error("public_base_url {0:?} must be an absolute http(s) URL without query or fragment")]
    PublicBaseUrl(String),
    /// The route prefix is not of the form `/segment[/segment…]` (or empty).
    #[error("prefix {0:?} must be empty or start with `/` and not end with `/`")]
    Prefix(String),
    /// An identifier in the configuration is malformed.
    #[error("{0}")]
    Id(#[from] crate::ids::InvalidId),
    /// A provider definition is invalid.
    #[error("provider {id:?}: {reason}")]
    Provider {
        /// The provider's id as written.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A limit is out of range.
    #[error("{name} must be between {min} and {max}")]
    Limit {
        /// The setting.
        name: &'static str,
        /// Lowest accepted value.
        min: u64,
        /// Highest accepted value.
        max: u64,
    },
    /// An API key is too short or duplicated.
    #[error("api key for tenant {tenant:?}: {reason}")]
    ApiKey {
        /// The tenant the key maps to.
        tenant: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `cors_allowed_origins` entry is not an http(s) origin (`scheme://host[:port]`).
    #[error("cors_allowed_origins entry {0:?} must be an http(s) origin such as https://app.example.com")]
    CorsOrigin(String),
    /// The store lacks an opt-in store trait that a configured feature needs.
    #[error("the store does not implement {store_trait}, which {needed_by} needs")]
    StoreTrait {
        /// The missing trait (`SelectionStore`, `ProviderStateStore`, …).
        store_trait: &'static str,
        /// What needs it.
        needed_by: String,
    },
    /// The outbound HTTP client could not be built.
    #[error("http client: {0}")]
    HttpClient(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_wire_string_and_a_client_or_server_status() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()));
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn server_errors_never_show_their_cause() {
        let e = Error::server(std::io::Error::other("db password=hunter2"));
        assert_eq!(e.message(), "internal server error");
        assert!(!e.to_string().contains("hunter2"));
    }

    #[test]
    fn provider_denials_map_to_access_denied_and_the_rest_to_provider_error() {
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
        assert_eq!(OAuthErrorReason::from_provider_error("user_cancelled_login"), OAuthErrorReason::AccessDenied);
        assert_eq!(OAuthErrorReason::from_provider_error("<script>"), OAuthErrorReason::ProviderError);
    }
}
