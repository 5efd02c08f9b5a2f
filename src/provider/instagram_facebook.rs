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
//! - The account is the **Instagram business account**, found through the user's Pages:
//!   `GET /me/accounts?fields=id,name,instagram_business_account{id,username,name,
//!   profile_picture_url}&limit=100`. This adapter connects the **first** Page that has a
//!   linked Instagram account (its `instagram_business_account.id` is the account id used for
//!   publishing); a user with none gets `oauth_error=profile_fetch_failed`. Choosing among
//!   several is the selection step (not implemented yet, see
//!   [`TargetType::InstagramAccount`]).

use super::ProfilePointers;
use super::capabilities::TargetType;
use super::facebook::meta_login;
use super::generic::GenericProvider;

/// The built-in id.
pub const ID: &str = "instagram_facebook";
const USERINFO_URL: &str = "https://graph.facebook.com/v25.0/me/accounts";
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
        ProfilePointers::new("/instagram_business_account/id")
            .with_username("/instagram_business_account/username")
            .with_display_name("/instagram_business_account/name")
            .with_avatar_url("/instagram_business_account/profile_picture_url"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.knobs.userinfo_params =
        &[("fields", "id,name,instagram_business_account{id,username,name,profile_picture_url}"), ("limit", "100")];
    p.knobs.profile_list = Some("/data");
    p.knobs.target_selection = Some(TargetType::InstagramAccount);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OAuthErrorReason;
    use crate::provider::facebook::TOKEN_URL;
    use crate::provider::fixtures::*;
    use crate::provider::{Profile, Provider, ProviderErrorKind};

    /// `GET /me/accounts` with the Instagram fields: the first Page has no linked account.
    const ACCOUNTS: &str = r#"{"data":[{"id":"101","name":"Bakery (no IG)"},{"id":"102","name":"Ada's Page","instagram_business_account":{"id":"17841405822304914","username":"ada.codes","name":"Ada","profile_picture_url":"https://scontent.xx.fbcdn.net/v/t51.2885-15/ada.jpg"}}],"paging":{"cursors":{"before":"MTAx","after":"MTAy"}}}"#;

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
    async fn the_profile_is_the_first_linked_instagram_business_account() {
        let (http, seen) = replay(&[(200, ACCOUNTS)]);
        let profile = provider().fetch_profile(&http, &token("long")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "17841405822304914".into(),
                username: Some("ada.codes".into()),
                display_name: Some("Ada".into()),
                avatar_url: Some("https://scontent.xx.fbcdn.net/v/t51.2885-15/ada.jpg".into()),
            }
        );
        let q = query(&requests(&seen)[0]);
        assert_eq!(
            param(&q, "fields"),
            Some("id,name,instagram_business_account{id,username,name,profile_picture_url}")
        );
        assert_eq!(param(&q, "access_token"), Some("long"));
    }

    #[tokio::test]
    async fn no_linked_account_errors_and_denials_map_to_the_fixed_reasons() {
        let (http, _) = replay(&[(200, r#"{"data":[{"id":"101","name":"Bakery"}]}"#), (200, r#"{"data":[]}"#)]);
        for _ in 0..2 {
            let err = provider().fetch_profile(&http, &token("t")).await.unwrap_err();
            assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse);
        }
        let (http, _) = replay(&[(
            400,
            r#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"fbtrace_id":"Ab"}}"#,
        )]);
        assert_eq!(provider().fetch_profile(&http, &token("t")).await.unwrap_err().kind(), ProviderErrorKind::Rejected);
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }
}
