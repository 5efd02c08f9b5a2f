//! Threads (`threads`): the Threads API. Use the **Threads** app id and secret (a Meta app
//! has two pairs).
//!
//! - Authorize at `https://threads.com/oauth/authorize` (Meta's docs as of Aug 2026, checked
//!   with a search of developers.facebook.com; older docs and libraries use
//!   `threads.net/oauth/authorize`: override `authorize_url` if needed), comma-separated
//!   scopes, default `threads_basic,threads_content_publish`. **No PKCE** (not documented).
//! - Exchange at `https://graph.threads.net/oauth/access_token` (form, credentials in the
//!   body) for a short-lived (1 h) token `{access_token, user_id}`, swapped at once for a
//!   60-day one: `GET https://graph.threads.net/access_token?grant_type=th_exchange_token
//!   &client_secret=…&access_token=…`.
//! - **No refresh token.** A long-lived token at least 24 hours old and unexpired is renewed
//!   with `GET https://graph.threads.net/refresh_access_token?grant_type=th_refresh_token
//!   &access_token=…` ([`Reexchange::reexchange`](super::Reexchange::reexchange)).
//! - A trailing `#_` on the code is stripped. Unverified for Threads (Meta documents it for
//!   Instagram, and implementers report it for Threads): harmless either way, since a code
//!   never ends in `#_`.
//! - The profile is `GET https://graph.threads.net/v1.0/me?fields=id,username,name,
//!   threads_profile_picture_url` with the documented `access_token` query parameter (newer
//!   docs show the host `graph.threads.com`; override `userinfo_url` if needed).
//! - Denials: presumably `error=access_denied&error_reason=user_denied` like Instagram
//!   (unverified: Meta's Threads pages do not show one); either value maps to
//!   `oauth_error=access_denied`. Errors are Graph-shaped
//!   (`{"error":{"message","type","code"}}`).
//! - No revocation endpoint is documented.
//! - **No `appsecret_proof`**: the Threads API documents none for `graph.threads.net`
//!   (checked with a search of Meta's Threads docs and client libraries, Dec 2026; its app
//!   access tokens are `TH|<app id>|<secret>`, its calls use the Threads app's own secret),
//!   and "Require App Secret" is a Facebook Login setting. See
//!   [`facebook`](super::facebook) for the calls that carry it.
//!
//! Endpoint overrides: `exchange_url` and `refresh_url` besides the usual four.

use super::generic::{GenericProvider, ProfileToken, RenewalKnob};
use super::instagram::graph_swap;
use super::{ProfilePointers, TokenAuth};
use crate::RefreshTokenRequirement;

/// The built-in id.
pub const ID: &str = "threads";
const AUTHORIZE_URL: &str = "https://threads.com/oauth/authorize";
const TOKEN_URL: &str = "https://graph.threads.net/oauth/access_token";
const EXCHANGE_URL: &str = "https://graph.threads.net/access_token";
const REFRESH_URL: &str = "https://graph.threads.net/refresh_access_token";
const USERINFO_URL: &str = "https://graph.threads.net/v1.0/me";
/// Profile and publishing.
pub const DEFAULT_SCOPES: &[&str] = &["threads_basic", "threads_content_publish"];

/// Threads with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        USERINFO_URL,
        ProfilePointers::new("/id")
            .with_username("/username")
            .with_display_name("/name")
            .with_avatar_url("/threads_profile_picture_url"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.pkce = false;
    p.token_auth = TokenAuth::Body;
    p.scope_separator = ",".to_owned();
    p.knobs.strip_code_suffix = true;
    p.knobs.long_lived = Some(graph_swap(EXCHANGE_URL, "th_exchange_token", true));
    p.knobs.renewal = RenewalKnob::Reexchange {
        swap: graph_swap(REFRESH_URL, "th_refresh_token", false),
        min_age_secs: Some(86_400),
    };
    p.knobs.userinfo_params = &[("fields", "id,username,name,threads_profile_picture_url")];
    p.knobs.profile_token = ProfileToken::Query;
    p.knobs.graph_errors = true;
    p.knobs.refresh_token = RefreshTokenRequirement::Never;
    p.knobs.access_token_lifetime_secs = Some(60 * 86_400);
    p
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::fixtures::*;
    use crate::{CodeFlow as _, Profile, ProviderErrorKind, Reexchange as _};
    use dravo_connect_core::OAuthErrorReason;

    /// The code exchange.
    const SHORT: &str = r#"{"access_token":"THQVJShortLived","user_id":"25787416157612345"}"#;
    /// `GET /access_token?grant_type=th_exchange_token`.
    const LONG: &str = r#"{"access_token":"THQVJLongLived","token_type":"bearer","expires_in":5183944}"#;
    /// `GET /v1.0/me?fields=…`.
    const ME: &str = r#"{"id":"25787416157612345","username":"threadsapitestuser","name":"Threads API Test User","threads_profile_picture_url":"https://scontent-sjc3-1.cdninstagram.com/v/t51.2885-19/pic.jpg"}"#;
    /// A Graph error.
    const BAD_TOKEN: &str = r#"{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"AbCdEf"}}"#;

    #[test]
    fn the_authorize_url_is_on_threads_com_with_comma_scopes() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "scope"), Some("threads_basic,threads_content_publish"));
        assert_eq!(param(&pairs, "code_challenge"), None);
    }

    #[tokio::test]
    async fn the_exchange_strips_the_suffix_and_swaps_for_the_long_lived_token() {
        let (http, seen) = replay(&[(200, SHORT), (200, LONG)]);
        let s = secret();
        let tokens = provider().exchange_code(ctx(&http, &s), "AQD#_", REDIRECT_URI, None).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "THQVJLongLived");
        assert_eq!(tokens.expires_in, Some(5_183_944));
        let sent = requests(&seen);
        assert_eq!(param(&form(&sent[0]), "code"), Some("AQD"));
        assert_eq!((sent[1].method(), endpoint(&sent[1])), (&Method::GET, EXCHANGE_URL.to_owned()));
        assert_eq!(param(&query(&sent[1]), "grant_type"), Some("th_exchange_token"));
    }

    #[tokio::test]
    async fn the_profile_is_read_from_me() {
        let (http, seen) = replay(&[(200, ME)]);
        let profile = provider().fetch_profile(&http, &token("THQVJLongLived")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "25787416157612345".into(),
                username: Some("threadsapitestuser".into()),
                display_name: Some("Threads API Test User".into()),
                avatar_url: Some("https://scontent-sjc3-1.cdninstagram.com/v/t51.2885-19/pic.jpg".into()),
            }
        );
        let q = query(&requests(&seen)[0]);
        assert_eq!(param(&q, "fields"), Some("id,username,name,threads_profile_picture_url"));
    }

    #[tokio::test]
    async fn no_appsecret_proof_goes_to_the_threads_api() {
        // The Threads API documents no `appsecret_proof` (see the module docs).
        let (http, seen) = replay(&[(200, ME)]);
        let s = secret();
        provider().fetch_profile_with(ctx(&http, &s), &token("THQVJLongLived")).await.unwrap();
        assert_eq!(param(&query(&requests(&seen)[0]), "appsecret_proof"), None);
    }

    #[tokio::test]
    async fn errors_denials_and_renewal_behave() {
        let (http, _) = replay(&[(400, BAD_TOKEN)]);
        let err = provider().fetch_profile(&http, &token("t")).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("invalid_token")));
        assert!(!format!("{err:?}").contains("parse access token"));
        for denial in ["access_denied", "user_denied"] {
            assert_eq!(OAuthErrorReason::from_provider_error(denial), OAuthErrorReason::AccessDenied);
        }
        let (http, seen) = replay(&[(200, LONG)]);
        let s = secret();
        provider().reexchange(ctx(&http, &s), &token("THQVJold")).await.unwrap();
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), REFRESH_URL);
        assert_eq!(param(&query(request), "grant_type"), Some("th_refresh_token"));
    }
}
