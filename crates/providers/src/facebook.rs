//! Facebook (`facebook`): Facebook Login for Pages, Graph API v25.0.
//!
//! - Authorize at `https://www.facebook.com/v25.0/dialog/oauth`, comma-separated scopes,
//!   default `pages_show_list,pages_read_engagement,pages_manage_posts` (most need App Review
//!   and Advanced Access; add `business_management` when the Pages live in a Business
//!   portfolio). **No PKCE**: Meta documents it only for its OIDC manual flow and marks it
//!   "still in testing". Business-type apps use a `config_id` instead of scopes: give it as
//!   an extra authorize parameter through a generic provider if needed.
//! - Exchange at `https://graph.facebook.com/v25.0/oauth/access_token` (documented as GET or
//!   POST; we POST so the secret is not in a URL) with `client_id` and `client_secret`. That
//!   gives a **short-lived** (1–2 h) user token, swapped at once, on the same endpoint, for a
//!   **long-lived** one (≈ 60 days) with `grant_type=fb_exchange_token` (GET, as documented).
//!   An expired token cannot be swapped.
//! - **No refresh token.** A still-valid long-lived token is renewed by the same swap
//!   ([`RefreshModel::Reexchange`](super::RefreshModel::Reexchange) through
//!   [`Reexchange::reexchange`](super::Reexchange::reexchange)); once it has expired the user
//!   logs in again.
//! - The profile is `GET /me?fields=id,name,picture` (people have no username); the token
//!   goes as the documented `access_token` query parameter.
//! - The account connected is the **person**. The Pages they can publish as come from
//!   `GET /me/accounts?fields=id,name,username,access_token,picture{url}&limit=100`
//!   (following `paging.next`, on the same endpoint only, for at most 5 pages), each with
//!   its own Page token; a Page token obtained with a long-lived user token does not expire.
//!   When there is any Page, the callback redirects with `selection_id` and the host picks
//!   the Pages ([`TargetType::Page`] accounts, their parent the person); with none, it is a
//!   plain `connected`. Pages without an `access_token` (no task on them) are left out.
//!   Override the listing with `targets_url`.
//! - Denials: `error=access_denied&error_reason=user_denied` → `oauth_error=access_denied`.
//!   Token errors are **not RFC-shaped**: `{"error":{"message","type":"OAuthException",
//!   "code","error_subcode","fbtrace_id"}}`: code 190 (invalid or expired token) is a refusal
//!   (`invalid_token`), the rate limits (4, 17, 32, 613, 80001–80014), codes 1 and 2 and
//!   `is_transient: true` are temporary (a renewal keeps the account), any other code is a
//!   refusal (`graph_<code>`); the message is never echoed.
//! - Revocation is `DELETE /me/permissions`, which removes the app's whole grant.
//! - **`appsecret_proof`** on every Graph API call made with an access token (the profile,
//!   the Page listing and each of its pages, the revocation): the hex HMAC-SHA256 of that
//!   token keyed with the app secret (Meta's "Securing Graph API Requests" and Facebook
//!   Login security guide), so a host can switch on **Require App Secret** in the app's
//!   advanced settings and a token stolen without the secret is useless. The calls of the
//!   token endpoint (the code exchange, the `fb_exchange_token` swap) authenticate with the
//!   secret itself and carry none. The proof needs the app, so a token registered through
//!   `POST /accounts` without `app_id` is checked without one (and refused once Require App
//!   Secret is on: give its `app_id`). Meta's optional `appsecret_time` variant (the HMAC of
//!   `token|time`) is not used. Page tokens handed to the host need the same proof when
//!   the host calls the Graph API with them.
//!
//! Endpoint overrides: `token_url` moves the code exchange and the swap together;
//! `exchange_url` moves only the swap.

use super::generic::{GenericProvider, ProfileToken, RenewalKnob, RevokeStyle, TokenMethod, TokenSwap};
use super::targets::TargetSource;
use super::{ProfilePointers, TokenAuth};
use crate::{RefreshTokenRequirement, TargetType};

/// The built-in id.
pub const ID: &str = "facebook";
/// The Graph API version of every endpoint (latest seen in Meta's docs).
pub const GRAPH_VERSION: &str = "v25.0";
const AUTHORIZE_URL: &str = "https://www.facebook.com/v25.0/dialog/oauth";
pub(super) const TOKEN_URL: &str = "https://graph.facebook.com/v25.0/oauth/access_token";
const USERINFO_URL: &str = "https://graph.facebook.com/v25.0/me";
pub(super) const ACCOUNTS_URL: &str = "https://graph.facebook.com/v25.0/me/accounts";
pub(super) const REVOKE_URL: &str = "https://graph.facebook.com/v25.0/me/permissions";
/// List the user's Pages and publish to them.
pub const DEFAULT_SCOPES: &[&str] = &["pages_show_list", "pages_read_engagement", "pages_manage_posts"];

/// The `fb_exchange_token` swap on the token endpoint (long-lived exchange and renewal).
pub(super) fn fb_exchange() -> TokenSwap {
    TokenSwap {
        url: None,
        method: TokenMethod::GetQuery,
        grant_type: "fb_exchange_token",
        token_param: "fb_exchange_token",
        client_id: true,
        client_secret: true,
    }
}

/// The Meta login shape shared by `facebook` and `instagram_facebook`.
pub(super) fn meta_login(id: &'static str, userinfo_url: &str, profile: ProfilePointers) -> GenericProvider {
    let mut p = GenericProvider::builtin(id, AUTHORIZE_URL, TOKEN_URL, userinfo_url, profile);
    p.revoke_url = Some(REVOKE_URL.to_owned());
    p.pkce = false;
    p.token_auth = TokenAuth::Body;
    p.scope_separator = ",".to_owned();
    p.knobs.long_lived = Some(fb_exchange());
    p.knobs.renewal = RenewalKnob::Reexchange { swap: fb_exchange(), min_age_secs: None };
    p.knobs.profile_token = ProfileToken::Query;
    p.knobs.graph_errors = true;
    p.knobs.appsecret_proof = true;
    p.knobs.revoke_style = RevokeStyle::MetaPermissions;
    p.knobs.refresh_token = RefreshTokenRequirement::Never;
    p.knobs.access_token_lifetime_secs = Some(60 * 86_400);
    p
}

/// Facebook with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = meta_login(
        ID,
        USERINFO_URL,
        ProfilePointers::new("/id").with_display_name("/name").with_avatar_url("/picture/data/url"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.knobs.userinfo_params = &[("fields", "id,name,picture")];
    p.knobs.target_selection = Some(TargetType::Page);
    p.knobs.targets = Some(TargetSource::FacebookPages);
    p.knobs.targets_url = Some(ACCOUNTS_URL.to_owned());
    p
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::fixtures::*;
    use crate::{CodeFlow as _, Profile, ProviderErrorKind, Reexchange as _, RefreshGrant as _};
    use dravo_connect_core::OAuthErrorReason;

    /// The code exchange: a short-lived user token.
    const SHORT: &str = r#"{"access_token":"EAAGm0PX4ZCpsBAShort","token_type":"bearer","expires_in":5183}"#;
    /// The `fb_exchange_token` swap: a long-lived user token.
    const LONG: &str = r#"{"access_token":"EAAGm0PX4ZCpsBALong","token_type":"bearer","expires_in":5183944}"#;
    /// `GET /me?fields=id,name,picture`.
    const ME: &str = r#"{"id":"10158012345678901","name":"Ada Lovelace","picture":{"data":{"height":50,"is_silhouette":false,"url":"https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10158012345678901&height=50&width=50&ext=1700000000&hash=AeQ","width":50}}}"#;
    /// A code that does not match the redirect URI.
    const BAD_CODE: &str = r#"{"error":{"message":"Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request","type":"OAuthException","code":100,"error_subcode":36008,"fbtrace_id":"A1b2C3d4E5f"}}"#;

    #[test]
    fn the_authorize_url_has_comma_separated_scopes_and_no_pkce() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "scope"), Some("pages_show_list,pages_read_engagement,pages_manage_posts"));
        assert_eq!(param(&pairs, "client_id"), Some(CLIENT_ID));
        assert_eq!(param(&pairs, "code_challenge"), None);
    }

    #[tokio::test]
    async fn the_code_exchange_is_followed_by_the_long_lived_swap() {
        let (http, seen) = replay(&[(200, SHORT), (200, LONG)]);
        let s = secret();
        let tokens = provider().exchange_code(ctx(&http, &s), "AQD-code", REDIRECT_URI, None).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "EAAGm0PX4ZCpsBALong");
        assert_eq!(tokens.expires_in, Some(5_183_944));
        assert!(tokens.refresh_token.is_none());
        let sent = requests(&seen);
        assert_eq!(sent.len(), 2);
        assert_eq!((sent[0].method(), endpoint(&sent[0])), (&Method::POST, TOKEN_URL.to_owned()));
        assert_eq!(param(&form(&sent[0]), "client_secret"), Some(CLIENT_SECRET));
        assert_eq!((sent[1].method(), endpoint(&sent[1])), (&Method::GET, TOKEN_URL.to_owned()));
        let q = query(&sent[1]);
        assert_eq!(param(&q, "grant_type"), Some("fb_exchange_token"));
        assert_eq!(param(&q, "fb_exchange_token"), Some("EAAGm0PX4ZCpsBAShort"));
        assert_eq!(param(&q, "client_id"), Some(CLIENT_ID));
        assert_eq!(param(&q, "client_secret"), Some(CLIENT_SECRET));
    }

    #[tokio::test]
    async fn the_profile_is_read_from_me_with_the_picture_url() {
        let (http, seen) = replay(&[(200, ME)]);
        let profile = provider().fetch_profile(&http, &token("EAAlong")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "10158012345678901".into(),
                username: None,
                display_name: Some("Ada Lovelace".into()),
                avatar_url: Some("https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10158012345678901&height=50&width=50&ext=1700000000&hash=AeQ".into()),
            }
        );
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), USERINFO_URL);
        let q = query(request);
        assert_eq!(param(&q, "fields"), Some("id,name,picture"));
        assert_eq!(param(&q, "access_token"), Some("EAAlong"));
    }

    /// The `appsecret_proof` of `EAAlong` with the fixtures' secret (`shh-secret`), computed
    /// independently: `hmac.new(b"shh-secret", b"EAAlong", hashlib.sha256).hexdigest()`.
    const PROOF_EAALONG: &str = "4aac313bfc9fc38897b7ae94b15eb2abd764ad905e7380c5b28ec64eeb1d7a8c";

    #[tokio::test]
    async fn every_graph_call_with_a_token_carries_the_appsecret_proof() {
        let s = secret();
        let p = provider();
        // The profile, read with the app's credentials at hand.
        let (http, seen) = replay(&[(200, ME)]);
        p.fetch_profile_with(ctx(&http, &s), &token("EAAlong")).await.unwrap();
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), USERINFO_URL);
        let q = query(request);
        assert_eq!(param(&q, "access_token"), Some("EAAlong"));
        assert_eq!(param(&q, "appsecret_proof"), Some(PROOF_EAALONG));
        assert_eq!(param(&q, "fields"), Some("id,name,picture"));
        // Revocation: the proof beside the token.
        let (http, seen) = replay(&[(200, r#"{"success":true}"#)]);
        p.revoke(ctx(&http, &s), access_only(&token("EAAlong"))).await.unwrap();
        let request = &requests(&seen)[0];
        assert_eq!((request.method(), endpoint(request)), (&Method::DELETE, REVOKE_URL.to_owned()));
        assert_eq!(param(&query(request), "appsecret_proof"), Some(PROOF_EAALONG));
        // The token endpoint authenticates with the secret itself: no proof there.
        let (http, seen) = replay(&[(200, SHORT), (200, LONG), (200, LONG)]);
        p.exchange_code(ctx(&http, &s), "AQD-code", REDIRECT_URI, None).await.unwrap();
        p.reexchange(ctx(&http, &s), &token("EAAlong")).await.unwrap();
        for request in requests(&seen) {
            assert_eq!(param(&query(&request), "appsecret_proof"), None);
            assert_eq!(param(&form(&request), "appsecret_proof"), None);
        }
        // Without the app's credentials (a token registered without its app) there is
        // nothing to prove with.
        let (http, seen) = replay(&[(200, ME)]);
        p.fetch_profile(&http, &token("EAAlong")).await.unwrap();
        assert_eq!(param(&query(&requests(&seen)[0]), "appsecret_proof"), None);
    }

    #[test]
    fn the_appsecret_proof_is_the_hex_hmac_sha256_of_the_token_keyed_with_the_secret() {
        let proof = crate::generic::appsecret_proof(&secret(), &token("EAAlong")).unwrap();
        assert_eq!(proof.as_str(), PROOF_EAALONG);
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let proof = crate::generic::appsecret_proof(&token("Jefe"), &token("what do ya want for nothing?")).unwrap();
        assert_eq!(proof.as_str(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[tokio::test]
    async fn nested_graph_errors_and_denials_map_to_the_fixed_reasons() {
        let (http, _) = replay(&[(400, BAD_CODE)]);
        let s = secret();
        let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Rejected);
        assert_eq!(err.oauth_error(), Some("graph_100"));
        assert!(!format!("{err:?}").contains("verification"));
        // A failed swap fails the exchange: a one-hour token is not silently kept.
        let (http, _) =
            replay(&[(200, SHORT), (400, r#"{"error":{"message":"x","type":"OAuthException","code":190}}"#)]);
        let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap_err();
        assert_eq!(err.oauth_error(), Some("invalid_token"));
        // An expired or revoked token: refused for good.
        let (http, _) = replay(&[(
            400,
            r#"{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbC"}}"#,
        )]);
        let err = provider().fetch_profile(&http, &token("t")).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("invalid_token")));
        // Rate limits and transient errors are temporary, so a renewal keeps the account.
        for body in [
            r#"{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"A"}}"#,
            r#"{"error":{"message":"(#17) User request limit reached","type":"OAuthException","code":17,"fbtrace_id":"A"}}"#,
            r#"{"error":{"message":"An unexpected error has occurred.","type":"OAuthException","code":2,"is_transient":true}}"#,
        ] {
            let (http, _) = replay(&[(400, body)]);
            let err = provider().reexchange(ctx(&http, &s), &token("EAA")).await.unwrap_err();
            assert_eq!(err.kind(), ProviderErrorKind::Unavailable, "{body}");
        }
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }

    #[tokio::test]
    async fn renewal_is_a_re_exchange_and_revocation_deletes_the_permissions() {
        let (http, seen) = replay(&[(200, LONG), (200, r#"{"success":true}"#)]);
        let s = secret();
        let p = provider();
        assert_eq!(p.refresh(ctx(&http, &s), &token("rt")).await.unwrap_err().kind(), ProviderErrorKind::Unsupported);
        let tokens = p.reexchange(ctx(&http, &s), &token("EAAold")).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "EAAGm0PX4ZCpsBALong");
        p.revoke(ctx(&http, &s), access_only(&token("EAAGm0PX4ZCpsBALong"))).await.unwrap();
        let sent = requests(&seen);
        assert_eq!(param(&query(&sent[0]), "fb_exchange_token"), Some("EAAold"));
        assert_eq!((sent[1].method(), endpoint(&sent[1])), (&Method::DELETE, REVOKE_URL.to_owned()));
        assert_eq!(param(&query(&sent[1]), "access_token"), Some("EAAGm0PX4ZCpsBALong"));
    }
}
