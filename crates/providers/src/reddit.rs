//! Reddit (`reddit`).
//!
//! - Authorize at `https://www.reddit.com/api/v1/authorize` with **`duration=permanent`**
//!   (else no refresh token: `temporary` grants last one hour), comma-separated scopes (the
//!   documented form, which Reddit notes departs from the spec; spaces also work), default
//!   `identity,submit,read`. **No PKCE** (not documented).
//! - Exchange and refresh at `https://www.reddit.com/api/v1/access_token`, a form body (not
//!   the query) with **HTTP Basic** client authentication (required; bad credentials are a
//!   bare 401). Access tokens last one hour; a refresh answers no new refresh token (the
//!   stored one stays valid until revoked).
//! - Every request carries a descriptive **`User-Agent`**: Reddit's API rules ask for
//!   `<platform>:<app ID>:<version string> (by /u/<reddit username>)` and throttle generic
//!   ones (checked against the rules page of Reddit's API wiki). We send
//!   `server:dravo-connect:v<version>`; we have no Reddit username to add.
//! - API calls go to **`oauth.reddit.com`**: the profile is
//!   `GET https://oauth.reddit.com/api/v1/me` → `id`, `name` (username and display name),
//!   `icon_img` (HTML-escaped: `&amp;` is decoded).
//! - Denials: `error=access_denied`; other callback errors (`invalid_scope`…) map to
//!   `oauth_error=provider_error`.
//! - Revocation at `https://www.reddit.com/api/v1/revoke_token` (Basic, `token`,
//!   `token_type_hint`): the refresh token (which also ends its access tokens), then the
//!   access token.
//! - One redirect URI per app, exact match; commercial API use needs Reddit's approval.

use super::generic::{GenericProvider, RenewalKnob};
use super::{ProfilePointers, TokenAuth};
use crate::{RefreshTokenRequirement, Rotation};

/// The built-in id.
pub const ID: &str = "reddit";
const AUTHORIZE_URL: &str = "https://www.reddit.com/api/v1/authorize";
const TOKEN_URL: &str = "https://www.reddit.com/api/v1/access_token";
const REVOKE_URL: &str = "https://www.reddit.com/api/v1/revoke_token";
const USERINFO_URL: &str = "https://oauth.reddit.com/api/v1/me";
/// The `User-Agent` Reddit's rules ask for.
const REDDIT_USER_AGENT: &str = concat!("server:dravo-connect:v", env!("CARGO_PKG_VERSION"));
/// The account, posting and reading.
pub const DEFAULT_SCOPES: &[&str] = &["identity", "submit", "read"];

/// Reddit with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        USERINFO_URL,
        ProfilePointers::new("/id").with_username("/name").with_display_name("/name").with_avatar_url("/icon_img"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.revoke_url = Some(REVOKE_URL.to_owned());
    p.pkce = false;
    p.token_auth = TokenAuth::Basic;
    p.scope_separator = ",".to_owned();
    p.authorize_params.insert("duration".to_owned(), "permanent".to_owned());
    p.knobs.user_agent = REDDIT_USER_AGENT;
    p.knobs.avatar_html_unescape = true;
    p.knobs.renewal = RenewalKnob::Grant(Rotation::Never);
    p.knobs.refresh_token =
        RefreshTokenRequirement::AuthorizeParams { params: vec![("duration".to_owned(), "permanent".to_owned())] };
    p.knobs.access_token_lifetime_secs = Some(3600);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::{CodeFlow as _, Profile, ProviderErrorKind, RefreshGrant as _};
    use dravo_connect_core::OAuthErrorReason;

    /// `POST /api/v1/access_token` with `duration=permanent`.
    const TOKEN: &str = r#"{"access_token":"eyJhbGciOiJSUzI1NiIsImtpZCI6IlNIQTI1NjpzS3dsMnlsV0VtMjVmcXhwTU40cWY4MXE2OWFFdWFyMnpLMUdhVGxjdWNZIiwidHlwIjoiSldUIn0","token_type":"bearer","expires_in":3600,"refresh_token":"1234567890-abcdefRefresh","scope":"identity submit read"}"#;
    /// `GET https://oauth.reddit.com/api/v1/me` (trimmed).
    const ME: &str = r#"{"is_employee":false,"icon_img":"https://styles.redditmedia.com/t5_3k30p/styles/profileIcon_snoo.png?width=256&amp;height=256&amp;crop=256:256,smart&amp;s=2bf0f1a3b4","id":"1w72","name":"spez","snoovatar_img":"","created_utc":1118030400.0,"total_karma":1000}"#;

    #[test]
    fn the_authorize_url_asks_for_a_permanent_grant_with_comma_scopes() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "duration"), Some("permanent"));
        assert_eq!(param(&pairs, "scope"), Some("identity,submit,read"));
        assert_eq!(param(&pairs, "code_challenge"), None);
    }

    #[tokio::test]
    async fn the_token_response_is_parsed_with_basic_auth_and_the_user_agent() {
        let (http, seen) = replay(&[(200, TOKEN)]);
        let s = secret();
        let tokens = provider().exchange_code(ctx(&http, &s), "c0de", REDIRECT_URI, None).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "1234567890-abcdefRefresh");
        assert_eq!(tokens.expires_in, Some(3600));
        assert_eq!(tokens.scopes.unwrap(), DEFAULT_SCOPES);
        let request = &requests(&seen)[0];
        assert!(header(request, "authorization").unwrap().starts_with("Basic "));
        assert!(header(request, "user-agent").unwrap().starts_with("server:dravo-connect:v"));
        assert!(request.uri().query().is_none(), "the form goes in the body");
        assert_eq!(param(&form(request), "client_secret"), None);
    }

    #[tokio::test]
    async fn the_profile_is_read_from_oauth_reddit_com_with_the_avatar_unescaped() {
        let (http, seen) = replay(&[(200, ME)]);
        let profile = provider().fetch_profile(&http, &token("eyJ")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "1w72".into(),
                username: Some("spez".into()),
                display_name: Some("spez".into()),
                avatar_url: Some(
                    "https://styles.redditmedia.com/t5_3k30p/styles/profileIcon_snoo.png?width=256&height=256&crop=256:256,smart&s=2bf0f1a3b4"
                        .into()
                ),
            }
        );
        let request = &requests(&seen)[0];
        assert_eq!(request.uri(), USERINFO_URL);
        assert!(header(request, "user-agent").unwrap().starts_with("server:dravo-connect:v"));
    }

    #[tokio::test]
    async fn bare_401s_error_bodies_and_denials_map_to_the_fixed_reasons() {
        let (http, _) = replay(&[
            (401, r#"{"message": "Unauthorized", "error": 401}"#),
            (200, r#"{"error": "invalid_grant"}"#),
            (200, r#"{"access_token":"new","token_type":"bearer","expires_in":3600,"scope":"identity"}"#),
        ]);
        let s = secret();
        let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("http_401")));
        let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap_err();
        assert_eq!(err.oauth_error(), Some("invalid_grant"));
        let tokens = provider().refresh(ctx(&http, &s), &token("rt")).await.unwrap();
        assert!(tokens.refresh_token.is_none());
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
        assert_eq!(OAuthErrorReason::from_provider_error("invalid_scope"), OAuthErrorReason::ProviderError);
    }
}
