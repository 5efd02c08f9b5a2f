//! Instagram (`instagram`): Instagram API with Instagram Login ("Business Login for
//! Instagram"), professional (Business/Creator) accounts only.
//!
//! - Authorize at `https://www.instagram.com/oauth/authorize`, comma-separated scopes,
//!   default `instagram_business_basic,instagram_business_content_publish` (the old
//!   `business_*` names were retired on 2025-01-27). **No PKCE**: not documented, and
//!   ignored in practice.
//! - Exchange at `https://api.instagram.com/oauth/access_token` (form, credentials in the
//!   body) for a **short-lived** (1 h) token: `{access_token, user_id, permissions}`. Some
//!   versions of the docs show it wrapped as `{"data":[{…}]}`: both are read, and the granted
//!   scopes are taken from `permissions`. Then swapped at once for a **long-lived** (60-day)
//!   token: `GET https://graph.instagram.com/access_token?grant_type=ig_exchange_token
//!   &client_secret=…&access_token=…`.
//! - **No refresh token.** A long-lived token at least 24 hours old and unexpired is renewed
//!   for 60 more days with `GET https://graph.instagram.com/refresh_access_token
//!   ?grant_type=ig_refresh_token&access_token=…` ([`Reexchange::reexchange`](super::Reexchange::reexchange)).
//! - The code arrives with `#_` appended to the redirect: stripped before the exchange.
//! - The profile is `GET https://graph.instagram.com/v25.0/me?fields=user_id,username,name,
//!   profile_picture_url,account_type` with the token as the documented `access_token`
//!   query parameter; `user_id` (the professional account id used for publishing) is the
//!   account id, not the app-scoped `id`. Read flat or `data`-wrapped, as the token.
//! - Denials: `error=access_denied&error_reason=user_denied` → `oauth_error=access_denied`.
//!   Exchange errors come as `{"error_type":"OAuthException","code":400,"error_message":…}`.
//! - No revocation endpoint is documented.
//! - **No `appsecret_proof`.** Meta documents the proof (and the "Require App Secret"
//!   setting that enforces it) for the Facebook Graph API and Facebook Login; the Instagram
//!   API with Instagram Login documents neither for `graph.instagram.com` (checked with a
//!   search of Meta's docs and of client libraries, Dec 2026), and its calls are made with
//!   the Instagram app's own secret. Sending an undocumented proof would risk refusals
//!   ("invalid appsecret_proof") for no gain, so the Graph calls here carry none;
//!   [`instagram_facebook`](super::instagram_facebook) carries it.
//! - Redirect URIs must match exactly (the dashboard may add a trailing slash) and be https.
//!
//! Endpoint overrides: `exchange_url` (the `ig_exchange_token` swap) and `refresh_url` (the
//! `ig_refresh_token` one) besides the usual four.

use super::generic::{GenericProvider, ProfileToken, RenewalKnob, TokenMethod, TokenSwap};
use super::{ProfilePointers, TokenAuth};
use crate::RefreshTokenRequirement;

/// The built-in id.
pub const ID: &str = "instagram";
const AUTHORIZE_URL: &str = "https://www.instagram.com/oauth/authorize";
const TOKEN_URL: &str = "https://api.instagram.com/oauth/access_token";
const EXCHANGE_URL: &str = "https://graph.instagram.com/access_token";
const REFRESH_URL: &str = "https://graph.instagram.com/refresh_access_token";
const USERINFO_URL: &str = "https://graph.instagram.com/v25.0/me";
/// Profile and publishing.
pub const DEFAULT_SCOPES: &[&str] = &["instagram_business_basic", "instagram_business_content_publish"];

/// A GET swap of the token in `access_token` (Instagram and Threads).
pub(super) fn graph_swap(url: &str, grant_type: &'static str, client_secret: bool) -> TokenSwap {
    TokenSwap {
        url: Some(url.to_owned()),
        method: TokenMethod::GetQuery,
        grant_type,
        token_param: "access_token",
        client_id: false,
        client_secret,
    }
}

/// Instagram Login with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        USERINFO_URL,
        ProfilePointers::new("/user_id")
            .with_username("/username")
            .with_display_name("/name")
            .with_avatar_url("/profile_picture_url"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.pkce = false;
    p.token_auth = TokenAuth::Body;
    p.scope_separator = ",".to_owned();
    p.knobs.strip_code_suffix = true;
    p.knobs.token_wrapper = Some("/data/0");
    p.knobs.scope_fallback = Some("permissions");
    p.knobs.long_lived = Some(graph_swap(EXCHANGE_URL, "ig_exchange_token", true));
    p.knobs.renewal = RenewalKnob::Reexchange {
        swap: graph_swap(REFRESH_URL, "ig_refresh_token", false),
        min_age_secs: Some(86_400),
    };
    p.knobs.userinfo_params = &[("fields", "user_id,username,name,profile_picture_url,account_type")];
    p.knobs.profile_token = ProfileToken::Query;
    p.knobs.graph_errors = true;
    p.knobs.profile_wrapper = Some("/data/0");
    p.knobs.refresh_token = RefreshTokenRequirement::Never;
    p.knobs.access_token_lifetime_secs = Some(60 * 86_400);
    p
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::fixtures::*;
    use crate::{BuiltinOverrides, CodeFlow as _, Profile, ProviderErrorKind, Reexchange as _};
    use dravo_connect_core::OAuthErrorReason;

    /// The code exchange, flat (as Nango and Postiz read it).
    const SHORT: &str = r#"{"access_token":"IGAAShortLived","user_id":17841405793187218,"permissions":"instagram_business_basic,instagram_business_content_publish"}"#;
    /// The code exchange, wrapped (as some versions of Meta's docs show it).
    const SHORT_WRAPPED: &str = r#"{"data":[{"access_token":"IGAAShortLived","user_id":"17841405793187218","permissions":"instagram_business_basic"}]}"#;
    /// `GET /access_token?grant_type=ig_exchange_token`.
    const LONG: &str = r#"{"access_token":"IGAALongLived","token_type":"bearer","expires_in":5183944}"#;
    /// `GET /me?fields=user_id,username,name,profile_picture_url,account_type`.
    const ME: &str = r#"{"user_id":"17841405793187218","username":"ada.codes","name":"Ada","profile_picture_url":"https://scontent.cdninstagram.com/v/t51.2885-19/ada.jpg","account_type":"BUSINESS","id":"7590123456789012"}"#;
    /// An invalid code.
    const BAD_CODE: &str = r#"{"error_type":"OAuthException","code":400,"error_message":"Invalid authorization code"}"#;

    #[test]
    fn the_authorize_url_has_comma_scopes_and_no_pkce() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "scope"), Some("instagram_business_basic,instagram_business_content_publish"));
        assert_eq!(param(&pairs, "code_challenge"), None);
    }

    #[tokio::test]
    async fn the_code_loses_its_suffix_and_the_short_token_is_swapped_for_a_long_one() {
        for short in [SHORT, SHORT_WRAPPED] {
            let (http, seen) = replay(&[(200, short), (200, LONG)]);
            let s = secret();
            let tokens = provider().exchange_code(ctx(&http, &s), "AQBx-code#_", REDIRECT_URI, None).await.unwrap();
            assert_eq!(tokens.access_token.expose_secret(), "IGAALongLived");
            assert_eq!(tokens.expires_in, Some(5_183_944));
            assert!(tokens.scopes.unwrap().contains(&"instagram_business_basic".to_owned()));
            let sent = requests(&seen);
            assert_eq!((sent[0].method(), endpoint(&sent[0])), (&Method::POST, TOKEN_URL.to_owned()));
            let body = form(&sent[0]);
            assert_eq!(param(&body, "code"), Some("AQBx-code"));
            assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
            assert_eq!((sent[1].method(), endpoint(&sent[1])), (&Method::GET, EXCHANGE_URL.to_owned()));
            let q = query(&sent[1]);
            assert_eq!(param(&q, "grant_type"), Some("ig_exchange_token"));
            assert_eq!(param(&q, "access_token"), Some("IGAAShortLived"));
            assert_eq!(param(&q, "client_secret"), Some(CLIENT_SECRET));
            assert_eq!(param(&q, "client_id"), None);
        }
    }

    #[tokio::test]
    async fn the_profile_id_is_the_professional_user_id_flat_or_wrapped() {
        let wrapped = format!(r#"{{"data":[{ME}]}}"#);
        let (http, seen) = replay(&[(200, ME), (200, &wrapped)]);
        for _ in 0..2 {
            let profile = provider().fetch_profile(&http, &token("IGAALongLived")).await.unwrap();
            assert_eq!(
                profile,
                Profile {
                    id: "17841405793187218".into(),
                    username: Some("ada.codes".into()),
                    display_name: Some("Ada".into()),
                    avatar_url: Some("https://scontent.cdninstagram.com/v/t51.2885-19/ada.jpg".into()),
                }
            );
        }
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), USERINFO_URL);
        assert_eq!(param(&query(request), "access_token"), Some("IGAALongLived"));
        assert!(header(request, "authorization").is_none());
    }

    #[tokio::test]
    async fn no_appsecret_proof_goes_to_graph_instagram_com() {
        // Instagram Login documents no `appsecret_proof` (see the module docs), and its app
        // secret is the Instagram app's, not the one Meta's "Require App Secret" checks.
        let (http, seen) = replay(&[(200, ME)]);
        let s = secret();
        provider().fetch_profile_with(ctx(&http, &s), &token("IGAALongLived")).await.unwrap();
        assert_eq!(param(&query(&requests(&seen)[0]), "appsecret_proof"), None);
    }

    #[tokio::test]
    async fn errors_and_denials_map_to_the_fixed_reasons() {
        let (http, _) = replay(&[(400, BAD_CODE)]);
        let s = secret();
        let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Rejected);
        assert!(!format!("{err:?}").contains("Invalid authorization code"));
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
        let (http, _) = replay(&[]);
        assert_eq!(
            provider().revoke(ctx(&http, &s), access_only(&token("t"))).await.unwrap_err().kind(),
            ProviderErrorKind::Unsupported
        );
    }

    #[tokio::test]
    async fn renewal_is_the_ig_refresh_token_swap_and_its_endpoints_can_be_overridden() {
        let mut p = provider();
        p.apply_overrides(
            &BuiltinOverrides::new(ID)
                .with_token_url("http://127.0.0.1:9/oauth/access_token")
                .with_exchange_url("http://127.0.0.1:9/access_token")
                .with_refresh_url("http://127.0.0.1:9/refresh_access_token"),
        )
        .unwrap();
        let (http, seen) = replay(&[(200, LONG)]);
        let s = secret();
        p.reexchange(ctx(&http, &s), &token("IGAAold")).await.unwrap();
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), "http://127.0.0.1:9/refresh_access_token");
        let q = query(request);
        assert_eq!(param(&q, "grant_type"), Some("ig_refresh_token"));
        assert_eq!(param(&q, "access_token"), Some("IGAAold"));
        assert_eq!(param(&q, "client_secret"), None);
    }
}
