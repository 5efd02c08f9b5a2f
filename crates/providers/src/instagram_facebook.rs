//! Instagram through Facebook Login (`instagram_facebook`): Instagram professional accounts
//! linked to a Facebook Page (Instagram API with Facebook Login).
//!
//! The OAuth mechanics are [Facebook's](super::facebook): the same dialog, the same
//! `graph.facebook.com` exchange followed by the `fb_exchange_token` swap to a 60-day token,
//! no refresh token (renewal by re-exchange), the same denial and error shapes, comma scopes,
//! no PKCE, revocation by `DELETE /me/permissions`. What differs:
//!
//! - Scopes: `instagram_basic,instagram_content_publish,pages_show_list,
//!   pages_read_engagement,business_management` (`business_management` because Pages are
//!   often in a Business portfolio; `ads_management`/`ads_read` when the Page role comes
//!   through Business Manager).
//! - The connect makes the Facebook **person** account (`GET /me?fields=id,name,picture`),
//!   then lists the **Instagram business accounts** linked to their Pages:
//!   `GET /me/accounts?fields=id,name,access_token,instagram_business_account{id,username,
//!   name,profile_picture_url}&limit=100` (following `paging.next` on the same endpoint, at
//!   most 5 pages). Pages without a linked account (or without a Page token) are left out.
//!   When there is any, the callback redirects with `selection_id` and the host picks them:
//!   each becomes a [`TargetType::InstagramAccount`] account (its
//!   `instagram_business_account.id` is the id used for publishing) holding the **Page's
//!   token**, its parent the person. With none, the connect is a plain `connected` (the
//!   person only, which cannot publish to Instagram). Override the listing with
//!   `targets_url`.
//! - Every Graph API call with a token carries Facebook's **`appsecret_proof`** (see
//!   [`facebook`](super::facebook)): these are `graph.facebook.com` calls of a Facebook
//!   Login app, whose "Require App Secret" setting applies to them.

use super::ProfilePointers;
use super::facebook::{ACCOUNTS_URL, meta_login};
use super::generic::GenericProvider;
use super::targets::TargetSource;
use crate::TargetType;

/// The built-in id.
pub const ID: &str = "instagram_facebook";
const USERINFO_URL: &str = "https://graph.facebook.com/v25.0/me";
/// Publish to the Instagram account linked to the user's Page.
pub const DEFAULT_SCOPES: &[&str] = &[
    "instagram_basic",
    "instagram_content_publish",
    "pages_show_list",
    "pages_read_engagement",
    "business_management",
];

/// Instagram through Facebook Login with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = meta_login(
        ID,
        USERINFO_URL,
        ProfilePointers::new("/id").with_display_name("/name").with_avatar_url("/picture/data/url"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.knobs.userinfo_params = &[("fields", "id,name,picture")];
    p.knobs.target_selection = Some(TargetType::InstagramAccount);
    p.knobs.targets = Some(TargetSource::InstagramAccounts);
    p.knobs.targets_url = Some(ACCOUNTS_URL.to_owned());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facebook::TOKEN_URL;
    use crate::fixtures::*;
    use crate::{CodeFlow as _, Profile, ProviderErrorKind};
    use dravo_connect_core::OAuthErrorReason;

    #[test]
    fn the_authorize_url_asks_for_the_instagram_and_page_scopes() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, "https://www.facebook.com/v25.0/dialog/oauth");
        assert_eq!(
            param(&pairs, "scope"),
            Some("instagram_basic,instagram_content_publish,pages_show_list,pages_read_engagement,business_management")
        );
        assert_eq!(param(&pairs, "code_challenge"), None);
    }

    #[tokio::test]
    async fn the_exchange_is_facebooks_with_the_long_lived_swap() {
        let (http, seen) = replay(&[
            (200, r#"{"access_token":"short","token_type":"bearer","expires_in":5183}"#),
            (200, r#"{"access_token":"long","token_type":"bearer","expires_in":5183944}"#),
        ]);
        let s = secret();
        let tokens = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "long");
        let sent = requests(&seen);
        assert_eq!(endpoint(&sent[1]), TOKEN_URL);
        assert_eq!(param(&query(&sent[1]), "fb_exchange_token"), Some("short"));
    }

    #[tokio::test]
    async fn the_profile_is_the_facebook_person() {
        let (http, seen) = replay(&[(200, r#"{"id":"10158012345678901","name":"Ada Lovelace"}"#)]);
        let profile = provider().fetch_profile(&http, &token("long")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "10158012345678901".into(),
                username: None,
                display_name: Some("Ada Lovelace".into()),
                avatar_url: None
            }
        );
        let sent = requests(&seen);
        assert_eq!(endpoint(&sent[0]), "https://graph.facebook.com/v25.0/me");
        let q = query(&sent[0]);
        assert_eq!(param(&q, "fields"), Some("id,name,picture"));
        assert_eq!(param(&q, "access_token"), Some("long"));
    }

    #[tokio::test]
    async fn the_graph_profile_call_carries_the_appsecret_proof() {
        let (http, seen) = replay(&[(200, r#"{"id":"10158012345678901","name":"Ada Lovelace"}"#)]);
        let s = secret();
        provider().fetch_profile_with(ctx(&http, &s), &token("long")).await.unwrap();
        // `hmac.new(b"shh-secret", b"long", hashlib.sha256).hexdigest()`
        assert_eq!(
            param(&query(&requests(&seen)[0]), "appsecret_proof"),
            Some("7cc7b054647c88b178593c42d95a789e4c68951edc080ea82625a4ec7671c02d")
        );
    }

    #[tokio::test]
    async fn errors_and_denials_map_to_the_fixed_reasons() {
        let (http, _) = replay(&[(
            400,
            r#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"fbtrace_id":"Ab"}}"#,
        )]);
        assert_eq!(provider().fetch_profile(&http, &token("t")).await.unwrap_err().kind(), ProviderErrorKind::Rejected);
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }
}
