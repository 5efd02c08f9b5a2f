//! Pinterest (`pinterest`): API v5.
//!
//! - Authorize at `https://www.pinterest.com/oauth/`, **comma-separated** scopes, default
//!   `user_accounts:read,boards:read,pins:read,pins:write` (`*_secret` variants for secret
//!   boards and pins). PKCE S256 is sent: it is not in Pinterest's OpenAPI description, but
//!   a large production integration (Nango) sends the challenge and the verifier without
//!   trouble, and the design asks for PKCE wherever it is accepted.
//! - Exchange and refresh at `https://api.pinterest.com/v5/oauth/token` with **HTTP Basic**
//!   client authentication (required: `security: basic` in the OpenAPI description) and the
//!   `redirect_uri` repeated.
//! - Access tokens last about 30 days. Refresh tokens are **continuous**: 60 days, renewable
//!   indefinitely, and **every refresh returns a new refresh token** (a required field), which
//!   is stored. The code exchange and every refresh send **`continuous_refresh=true`**:
//!   Pinterest's OpenAPI description (Dec 2025) asks apps created before 2025-09-25 to set
//!   it on the token endpoint (its April–August 2025 versions describe it on the code
//!   exchange: "a continuous refresh token … rather than the legacy 1-year one"). It goes on
//!   refreshes too, so an account connected before holds a continuous token after its next
//!   refresh (the guide's section on exchanging the default refresh token for a continuous
//!   one; the OpenAPI refresh schema lists no such field, so this part is our reading). For
//!   apps created since, continuous is the default and the field changes nothing. The legacy
//!   365-day token is no longer supported. A refresh answer always has `refresh_token` (with
//!   `refresh_token_expires_in`/`_at`), and the new one replaces the old (a missing one keeps
//!   the old, as for any provider).
//! - The profile is `GET https://api.pinterest.com/v5/user_account`: `id`, `username`,
//!   `business_name` (the display name; absent on personal accounts), `profile_image`.
//! - Denials: expected `error=access_denied` (unverified: not documented); anything else
//!   maps to `oauth_error=provider_error`. API errors are `{"code":<int>,"message":…}`.
//! - No revocation endpoint is documented.
//! - What users publish to are boards: `GET /v5/boards?page_size=100` (paged by `bookmark`,
//!   at most 5 pages) with the person's token. When there is any, the callback redirects
//!   with `selection_id` and the host picks boards ([`TargetType::Board`] accounts holding
//!   a copy of the person's tokens, their parent the person); with none, a plain
//!   `connected`. Override the listing with `targets_url`.

use super::generic::{GenericProvider, RenewalKnob};
use super::targets::TargetSource;
use super::{ProfilePointers, TokenAuth};
use crate::{RefreshTokenRequirement, Rotation, TargetType};

/// The built-in id.
pub const ID: &str = "pinterest";
const AUTHORIZE_URL: &str = "https://www.pinterest.com/oauth/";
const TOKEN_URL: &str = "https://api.pinterest.com/v5/oauth/token";
const USERINFO_URL: &str = "https://api.pinterest.com/v5/user_account";
const BOARDS_URL: &str = "https://api.pinterest.com/v5/boards";
/// Read the account and its boards, read and write pins.
pub const DEFAULT_SCOPES: &[&str] = &["user_accounts:read", "boards:read", "pins:read", "pins:write"];

/// Pinterest with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        USERINFO_URL,
        ProfilePointers::new("/id")
            .with_username("/username")
            .with_display_name("/business_name")
            .with_avatar_url("/profile_image"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.pkce = true;
    p.token_auth = TokenAuth::Basic;
    p.scope_separator = ",".to_owned();
    p.knobs.token_params = &[("continuous_refresh", "true")];
    p.knobs.renewal = RenewalKnob::Grant(Rotation::Always);
    p.knobs.refresh_token = RefreshTokenRequirement::Always;
    p.knobs.access_token_lifetime_secs = Some(30 * 86_400);
    p.knobs.refresh_token_lifetime_secs = Some(60 * 86_400);
    p.knobs.target_selection = Some(TargetType::Board);
    p.knobs.targets = Some(TargetSource::PinterestBoards);
    p.knobs.targets_url = Some(BOARDS_URL.to_owned());
    p
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::fixtures::*;
    use crate::{CodeFlow as _, Profile, ProviderErrorKind, RefreshGrant as _};
    use dravo_connect_core::OAuthErrorReason;

    /// `POST /v5/oauth/token` as the OpenAPI description shows it.
    const TOKEN: &str = r#"{"access_token":"pina_AMAZ2WQWAAAAAAA","refresh_token":"pinr_AQAZ2WQWAAAAAAA","response_type":"authorization_code","token_type":"bearer","expires_in":2592000,"refresh_token_expires_in":5184000,"refresh_token_expires_at":1719936000,"scope":"boards:read,pins:read,pins:write,user_accounts:read"}"#;
    /// `GET /v5/user_account`.
    const ACCOUNT: &str = r#"{"account_type":"BUSINESS","id":"549755885175","profile_image":"https://i.pinimg.com/280x280_RS/42/03/a5/4203a5d8e3d7c2c3b1d4b1c3e5f6a7b8.jpg","website_url":"https://www.example.com","username":"acme_pins","about":"","business_name":"Acme Co","board_count":12,"pin_count":340,"follower_count":20,"following_count":3,"monthly_views":1000}"#;
    /// A refused code.
    const BAD_CODE: &str = r#"{"code":1,"message":"Invalid request: code is invalid or expired"}"#;

    #[test]
    fn the_authorize_url_has_comma_scopes_and_pkce() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "scope"), Some("user_accounts:read,boards:read,pins:read,pins:write"));
        assert_eq!(param(&pairs, "code_challenge"), Some(CHALLENGE));
    }

    #[tokio::test]
    async fn the_token_response_is_parsed_with_basic_auth_and_the_redirect_uri() {
        let (http, seen) = replay(&[(200, TOKEN)]);
        let s = secret();
        let tokens = provider().exchange_code(ctx(&http, &s), "c0de", REDIRECT_URI, Some(&token("v"))).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "pina_AMAZ2WQWAAAAAAA");
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "pinr_AQAZ2WQWAAAAAAA");
        assert_eq!(tokens.expires_in, Some(2_592_000));
        assert_eq!(tokens.scopes.unwrap().len(), 4);
        let request = &requests(&seen)[0];
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
        assert_eq!(header(request, "authorization"), Some(format!("Basic {basic}").as_str()));
        let body = form(request);
        assert_eq!(param(&body, "redirect_uri"), Some(REDIRECT_URI));
        assert_eq!(param(&body, "client_secret"), None);
    }

    #[tokio::test]
    async fn the_exchange_and_the_refresh_ask_for_a_continuous_refresh_token() {
        const REFRESHED: &str = r#"{"access_token":"pina_2","refresh_token":"pinr_2","response_type":"refresh_token","token_type":"bearer","expires_in":2592000,"refresh_token_expires_in":5184000,"refresh_token_expires_at":1725120000,"scope":"boards:read,pins:read,pins:write,user_accounts:read"}"#;
        let (http, seen) = replay(&[(200, TOKEN), (200, REFRESHED)]);
        let s = secret();
        let p = provider();
        p.exchange_code(ctx(&http, &s), "c0de", REDIRECT_URI, Some(&token("v"))).await.unwrap();
        let renewed = p.refresh(ctx(&http, &s), &token("pinr_AQAZ2WQWAAAAAAA")).await.unwrap();
        // Every refresh answers a new continuous refresh token (60 days from now): it is the
        // one kept.
        assert_eq!(renewed.access_token.expose_secret(), "pina_2");
        assert_eq!(renewed.refresh_token.unwrap().expose_secret(), "pinr_2");
        assert_eq!(renewed.expires_in, Some(2_592_000));
        let sent = requests(&seen);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
        let expected: [&[(&str, &str)]; 2] = [
            &[
                ("grant_type", "authorization_code"),
                ("code", "c0de"),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", "v"),
                ("continuous_refresh", "true"),
            ],
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "pinr_AQAZ2WQWAAAAAAA"),
                ("continuous_refresh", "true"),
            ],
        ];
        for (request, fields) in sent.iter().zip(expected) {
            assert_eq!((request.method(), endpoint(request)), (&http::Method::POST, TOKEN_URL.to_owned()));
            assert_eq!(header(request, "authorization"), Some(format!("Basic {basic}").as_str()));
            assert_eq!(header(request, "content-type"), Some("application/x-www-form-urlencoded"));
            let body = form(request);
            let body: Vec<(&str, &str)> = body.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(body, fields, "the exact form, and no secret in it");
        }
    }

    #[tokio::test]
    async fn the_profile_uses_the_business_name_as_display_name() {
        let (http, _) = replay(&[(200, ACCOUNT), (200, r#"{"account_type":"PINNER","id":"1","username":"ada"}"#)]);
        let profile = provider().fetch_profile(&http, &token("pina")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "549755885175".into(),
                username: Some("acme_pins".into()),
                display_name: Some("Acme Co".into()),
                avatar_url: Some(
                    "https://i.pinimg.com/280x280_RS/42/03/a5/4203a5d8e3d7c2c3b1d4b1c3e5f6a7b8.jpg".into()
                ),
            }
        );
        let personal = provider().fetch_profile(&http, &token("pina")).await.unwrap();
        assert_eq!((personal.username.as_deref(), personal.display_name), (Some("ada"), None));
    }

    #[tokio::test]
    async fn errors_denials_and_a_rotating_refresh_behave() {
        let (http, _) = replay(&[
            (400, BAD_CODE),
            (401, r#"{"code":2,"message":"Authentication failed."}"#),
            (
                200,
                r#"{"access_token":"pina_2","refresh_token":"pinr_2","token_type":"bearer","expires_in":2592000,"refresh_token_expires_in":5184000,"scope":"pins:read"}"#,
            ),
        ]);
        let s = secret();
        let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, Some(&token("v"))).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("http_400")));
        assert_eq!(
            provider().fetch_profile(&http, &token("t")).await.unwrap_err().oauth_error(),
            Some("invalid_token")
        );
        let tokens = provider().refresh(ctx(&http, &s), &token("pinr_1")).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "pinr_2");
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }
}
