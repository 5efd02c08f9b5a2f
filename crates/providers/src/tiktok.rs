//! TikTok (`tiktok`): Login Kit for Web and the Content Posting API.
//!
//! - Authorize at `https://www.tiktok.com/v2/auth/authorize/` (the trailing slash matters)
//!   with the app's **`client_key`** (TikTok's name for the client id, in the authorize URL
//!   and the token body alike), **comma-separated** scopes, default
//!   `user.info.basic,user.info.profile,video.publish` (each must be approved on the app;
//!   unaudited apps post privately only). **No PKCE on web**: TikTok requires it for mobile
//!   and desktop only, and its desktop flavour reportedly wants a hex challenge.
//! - Exchange and refresh at `https://open.tiktokapis.com/v2/oauth/token/` with
//!   `client_key` and `client_secret` in the body. The response is flat: `access_token`
//!   (24 h), `refresh_token` (365 days), `open_id`, `scope`. **A refresh may return a
//!   different refresh token**: it is stored when sent. Errors are
//!   `{"error","error_description","log_id"}`, possibly with status 200: the body is checked
//!   for `error` whatever the status.
//! - The profile is `GET https://open.tiktokapis.com/v2/user/info/?fields=open_id,union_id,
//!   avatar_url,display_name,username` (`fields` is mandatory; `username` needs
//!   `user.info.profile`), wrapped as `{"data":{"user":{…}},"error":{"code":"ok",…}}`: any
//!   `error.code` but `ok` is a refusal, except `rate_limit_exceeded` and `internal_error`,
//!   which are temporary. `open_id` is per app.
//! - The callback also carries `scopes` (what was granted); the token response's `scope` is
//!   recorded. Denials: `error=access_denied`.
//! - Revocation at `https://open.tiktokapis.com/v2/oauth/revoke/` (form `client_key`,
//!   `client_secret`, `token`): `token` is the access token, which ends the user's
//!   authorization of the app; the refresh token is not sent.
//! - Web redirect URIs must be https (no `http://localhost`), without query or fragment.

use super::generic::{GenericProvider, RenewalKnob, RevokeStyle};
use super::{ProfilePointers, TokenAuth};
use crate::{RefreshTokenRequirement, Rotation};

/// The built-in id.
pub const ID: &str = "tiktok";
const AUTHORIZE_URL: &str = "https://www.tiktok.com/v2/auth/authorize/";
const TOKEN_URL: &str = "https://open.tiktokapis.com/v2/oauth/token/";
const REVOKE_URL: &str = "https://open.tiktokapis.com/v2/oauth/revoke/";
const USERINFO_URL: &str = "https://open.tiktokapis.com/v2/user/info/";
/// Profile (with the handle) and direct posting.
pub const DEFAULT_SCOPES: &[&str] = &["user.info.basic", "user.info.profile", "video.publish"];

/// TikTok with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        USERINFO_URL,
        ProfilePointers::new("/data/user/open_id")
            .with_username("/data/user/username")
            .with_display_name("/data/user/display_name")
            .with_avatar_url("/data/user/avatar_url"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.revoke_url = Some(REVOKE_URL.to_owned());
    // The endpoint documents `token` as the access token only.
    p.knobs.revoke_style = RevokeStyle::AccessTokenOnly;
    p.pkce = false;
    p.token_auth = TokenAuth::Body;
    p.scope_separator = ",".to_owned();
    p.knobs.client_id_param = "client_key";
    p.knobs.userinfo_params = &[("fields", "open_id,union_id,avatar_url,display_name,username")];
    p.knobs.profile_ok = Some(("/error/code", "ok"));
    p.knobs.profile_transient_codes = &["rate_limit_exceeded", "internal_error"];
    p.knobs.renewal = RenewalKnob::Grant(Rotation::Sometimes);
    p.knobs.refresh_token = RefreshTokenRequirement::Always;
    p.knobs.access_token_lifetime_secs = Some(86_400);
    p.knobs.refresh_token_lifetime_secs = Some(365 * 86_400);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::{CodeFlow as _, Profile, ProviderErrorKind, RefreshGrant as _};
    use dravo_connect_core::OAuthErrorReason;

    /// `POST /v2/oauth/token/` as TikTok documents it.
    const TOKEN: &str = r#"{"access_token":"act.example12345Example12345Example","expires_in":86400,"open_id":"afd97af1-b87b-48b9-ac98-410aghda5344","refresh_expires_in":31536000,"refresh_token":"rft.example12345Example12345Example","scope":"user.info.basic,user.info.profile,video.publish","token_type":"Bearer"}"#;
    /// `GET /v2/user/info/`.
    const USER_INFO: &str = r#"{"data":{"user":{"avatar_url":"https://p19-sign.tiktokcdn-us.com/tos-useast5-avt-0068-tx/b17f0e4b3a4f4a50993cf72cda8b88b8~c5_168x168.jpeg","open_id":"723f24d7-e717-40f8-a2b6-cb8464cd23b4","union_id":"c9c60f44-a68e-4f5d-84dd-ce22faeb0ba1","display_name":"Tik Toker","username":"tiktoker"}},"error":{"code":"ok","message":"","log_id":"20220829194722CBE87ED59D524E727021"}}"#;
    /// A refused token on the profile call.
    const TOKEN_INVALID: &str = r#"{"data":{},"error":{"code":"access_token_invalid","message":"The access token is invalid or not found in the request.","log_id":"20230525211222A2B0C0C9A0B1B2D0C0D0"}}"#;
    /// A refused code.
    const BAD_CODE: &str = r#"{"error":"invalid_grant","error_description":"Authorization code is expired.","log_id":"202206221854370101130062072500FFA2"}"#;

    #[test]
    fn the_authorize_url_uses_client_key_comma_scopes_and_no_pkce() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "client_key"), Some(CLIENT_ID));
        assert_eq!(param(&pairs, "client_id"), None);
        assert_eq!(param(&pairs, "scope"), Some("user.info.basic,user.info.profile,video.publish"));
        assert_eq!(param(&pairs, "code_challenge"), None);
    }

    #[tokio::test]
    async fn the_token_response_is_parsed_and_the_body_carries_client_key() {
        let (http, seen) = replay(&[(200, TOKEN)]);
        let s = secret();
        let tokens = provider().exchange_code(ctx(&http, &s), "code", REDIRECT_URI, None).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "act.example12345Example12345Example");
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "rft.example12345Example12345Example");
        assert_eq!(tokens.expires_in, Some(86_400));
        assert_eq!(tokens.scopes.unwrap(), DEFAULT_SCOPES);
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), TOKEN_URL);
        let body = form(request);
        assert_eq!(param(&body, "client_key"), Some(CLIENT_ID));
        assert_eq!(param(&body, "client_id"), None);
        assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
    }

    #[tokio::test]
    async fn the_wrapped_profile_is_read_with_the_mandatory_fields() {
        let (http, seen) = replay(&[(200, USER_INFO)]);
        let profile = provider().fetch_profile(&http, &token("act.x")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "723f24d7-e717-40f8-a2b6-cb8464cd23b4".into(),
                username: Some("tiktoker".into()),
                display_name: Some("Tik Toker".into()),
                avatar_url: Some("https://p19-sign.tiktokcdn-us.com/tos-useast5-avt-0068-tx/b17f0e4b3a4f4a50993cf72cda8b88b8~c5_168x168.jpeg".into()),
            }
        );
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), USERINFO_URL);
        assert_eq!(param(&query(request), "fields"), Some("open_id,union_id,avatar_url,display_name,username"));
        assert_eq!(header(request, "authorization"), Some("Bearer act.x"));
    }

    #[tokio::test]
    async fn errors_in_any_status_and_denials_map_to_the_fixed_reasons() {
        let (http, _) = replay(&[(200, BAD_CODE), (400, BAD_CODE), (200, TOKEN_INVALID), (401, TOKEN_INVALID)]);
        let s = secret();
        for _ in 0..2 {
            let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap_err();
            assert_eq!(err.oauth_error(), Some("invalid_grant"));
            assert!(!format!("{err:?}").contains("expired"));
        }
        let err = provider().fetch_profile(&http, &token("t")).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("access_token_invalid")));
        let err = provider().fetch_profile(&http, &token("t")).await.unwrap_err();
        assert_eq!(err.oauth_error(), Some("invalid_token"));
        let (http, _) = replay(&[(
            200,
            r#"{"data":{},"error":{"code":"rate_limit_exceeded","message":"Too many requests","log_id":"x"}}"#,
        )]);
        let err = provider().fetch_profile(&http, &token("t")).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unavailable);
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }

    #[tokio::test]
    async fn a_refresh_keeps_a_rotated_refresh_token_and_revocation_sends_the_access_token_with_client_key() {
        let (http, seen) = replay(&[
            (
                200,
                r#"{"access_token":"act.2","expires_in":86400,"refresh_token":"rft.2","refresh_expires_in":31535000,"open_id":"o","scope":"user.info.basic","token_type":"Bearer"}"#,
            ),
            (200, ""),
        ]);
        let s = secret();
        let tokens = provider().refresh(ctx(&http, &s), &token("rft.1")).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "rft.2");
        provider().revoke(ctx(&http, &s), GrantTokens::new(&token("act.2"), Some(&token("rft.2")))).await.unwrap();
        let sent = requests(&seen);
        assert_eq!(sent.len(), 2, "one revocation: the endpoint takes the access token only");
        assert_eq!(param(&form(&sent[0]), "client_key"), Some(CLIENT_ID));
        assert_eq!(endpoint(&sent[1]), REVOKE_URL);
        let body = form(&sent[1]);
        assert_eq!(param(&body, "client_key"), Some(CLIENT_ID));
        assert_eq!(param(&body, "token"), Some("act.2"));
    }
}
