//! Twitch (`twitch`): the OAuth authorization code grant flow on `id.twitch.tv`, the
//! connected account being the user's **channel** (a Twitch user is its channel:
//! `broadcaster_id` is the user id).
//!
//! - Authorize at `https://id.twitch.tv/oauth2/authorize` (`client_id`, `redirect_uri`,
//!   `response_type=code`, space-separated `scope`, `state`). **No PKCE**: Twitch documents
//!   none for this flow. Default scopes `channel:manage:broadcast` (the channel's title,
//!   category, tags, stream markers) and `user:write:chat` (chat messages as the user):
//!   Twitch asks apps to request only the scopes they use and may suspend those that ask
//!   for more.
//! - Exchange and refresh at `https://id.twitch.tv/oauth2/token` with `client_id` and
//!   `client_secret` in the form body. The answer's `scope` is a JSON **array**; the
//!   exchange's errors are `{"status":400,"message":"Invalid authorization code"}` (no
//!   RFC 6749 `error`, so `http_400`), a refused refresh
//!   `{"error":"Bad Request","status":400,"message":"Invalid refresh token"}`.
//! - **Every refresh answers a new refresh token**, which is stored (Twitch: "refresh
//!   tokens may change, store the new one"); refreshes of one account are serialised.
//!   Access tokens last about four hours (the answer's `expires_in` is what counts);
//!   refresh tokens of a confidential client do not expire, but end when the user changes
//!   their password or disconnects the app.
//! - The channel: `GET https://api.twitch.tv/helix/users` (no parameters: the token's user)
//!   with `Authorization: Bearer` **and `Client-Id`**: the app's client id when the app is
//!   known (a callback, a registration with `app_id`); otherwise it is read first from
//!   `GET https://id.twitch.tv/oauth2/validate` (`Authorization: OAuth <token>`), which
//!   answers the `client_id` the token was issued to. `data[0]`: `id`, `login` (the username),
//!   `display_name`, `profile_image_url`.
//! - Revocation: `POST https://id.twitch.tv/oauth2/revoke` with `client_id` and `token`
//!   (the access token; no secret, no hint), 200 with no body; 400
//!   `{"status":400,"message":"Invalid token"}`.
//! - Denials: `error=access_denied&error_description=The+user+denied+you+access` →
//!   `oauth_error=access_denied`.
//!
//! Endpoint overrides: `token_url` (the validation is read beside it, at `…/validate`),
//! `authorize_url`, `userinfo_url`, `revoke_url`.
//!
//! Verified (Dec 2026) against Twitch's own pages: "Getting OAuth Access Tokens"
//! (`https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/`, the authorization
//! code grant flow), "Refreshing Access Tokens"
//! (`https://dev.twitch.tv/docs/authentication/refresh-tokens/`: the answer's shape, and
//! that the refresh token may change), "Revoking Access Tokens"
//! (`https://dev.twitch.tv/docs/authentication/revoke-tokens/`) and "Twitch Access Token
//! Scopes" (`https://dev.twitch.tv/docs/authentication/scopes/`). Not re-read here, taken
//! from Twitch's long-stable reference and open-source clients: the shape of
//! `GET /oauth2/validate` ("Validating Tokens") and of Helix Get Users; the four-hour
//! access-token lifetime is the documented example's, not a promise.

use super::generic::{GenericProvider, RenewalKnob, RevokeStyle};
use super::{ProfilePointers, TokenAuth};
use crate::{RefreshTokenRequirement, Rotation};

/// The built-in id.
pub const ID: &str = "twitch";
const AUTHORIZE_URL: &str = "https://id.twitch.tv/oauth2/authorize";
const TOKEN_URL: &str = "https://id.twitch.tv/oauth2/token";
const REVOKE_URL: &str = "https://id.twitch.tv/oauth2/revoke";
const USERS_URL: &str = "https://api.twitch.tv/helix/users";
/// Manage the channel's broadcast settings and write chat messages.
pub const DEFAULT_SCOPES: &[&str] = &["channel:manage:broadcast", "user:write:chat"];

/// Twitch with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        USERS_URL,
        ProfilePointers::new("/data/0/id")
            .with_username("/data/0/login")
            .with_display_name("/data/0/display_name")
            .with_avatar_url("/data/0/profile_image_url"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.revoke_url = Some(REVOKE_URL.to_owned());
    p.knobs.revoke_style = RevokeStyle::ClientIdAndAccessToken;
    p.pkce = false;
    p.token_auth = TokenAuth::Body;
    p.knobs.client_id_from_validate = true;
    p.knobs.renewal = RenewalKnob::Grant(Rotation::Always);
    p.knobs.refresh_token = RefreshTokenRequirement::Always;
    p
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::fixtures::*;
    use crate::{ClientCredentials, CodeFlow as _, Profile, ProviderContext, ProviderErrorKind, RefreshGrant as _};
    use dravo_connect_core::OAuthErrorReason;

    /// The code exchange, as "Getting OAuth Access Tokens" shows it.
    const TOKEN: &str = r#"{"access_token":"rfx2uswqe8l4g1mkagrvg5tv0ks3","expires_in":14124,"refresh_token":"5b93chm6hdve3mycz05zfzatkfdenfspp1h1ar2xxdalen01","scope":["channel:manage:broadcast","user:write:chat"],"token_type":"bearer"}"#;
    /// `GET /oauth2/validate`.
    const VALIDATE: &str = r#"{"client_id":"wbmytr93xzw8zbg0p1izqyzzc5mbiz","login":"twitchdev","scopes":["channel:manage:broadcast","user:write:chat"],"user_id":"141981764","expires_in":5520838}"#;
    /// `GET /helix/users`.
    const USERS: &str = r#"{"data":[{"id":"141981764","login":"twitchdev","display_name":"TwitchDev","type":"","broadcaster_type":"partner","description":"Supporting third-party developers building Twitch integrations from chatbots to game integrations.","profile_image_url":"https://static-cdn.jtvnw.net/jtv_user_pictures/8a6381c7-d0c0-4576-b179-38bd5ce1d6af-profile_image-300x300.png","offline_image_url":"https://static-cdn.jtvnw.net/jtv_user_pictures/3f13ab61-ec78-4fe6-8481-8682cb3b0ac2-channel_offline_image-1920x1080.png","view_count":5980557,"created_at":"2016-12-14T20:32:28Z"}]}"#;

    #[test]
    fn the_authorize_url_has_space_separated_scopes_and_no_pkce() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "response_type"), Some("code"));
        assert_eq!(param(&pairs, "scope"), Some("channel:manage:broadcast user:write:chat"));
        assert_eq!(param(&pairs, "code_challenge"), None);
    }

    #[tokio::test]
    async fn the_token_response_with_an_array_scope_is_parsed_and_the_credentials_go_in_the_body() {
        let (http, seen) = replay(&[(200, TOKEN)]);
        let s = secret();
        let tokens =
            provider().exchange_code(ctx(&http, &s), "gulfwdmys5lsm6qyz4xiz9q32l10", REDIRECT_URI, None).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "rfx2uswqe8l4g1mkagrvg5tv0ks3");
        assert_eq!(tokens.expires_in, Some(14_124));
        assert_eq!(tokens.scopes.unwrap(), DEFAULT_SCOPES);
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), TOKEN_URL);
        let body = form(request);
        assert_eq!(param(&body, "grant_type"), Some("authorization_code"));
        assert_eq!(param(&body, "client_id"), Some(CLIENT_ID));
        assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
        assert_eq!(param(&body, "redirect_uri"), Some(REDIRECT_URI));
        assert_eq!(param(&body, "code_verifier"), None);
    }

    #[tokio::test]
    async fn the_channel_is_read_with_the_client_id_the_token_validation_answers() {
        let (http, seen) = replay(&[(200, VALIDATE), (200, USERS)]);
        let profile = provider().fetch_profile(&http, &token("rfx2")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "141981764".into(),
                username: Some("twitchdev".into()),
                display_name: Some("TwitchDev".into()),
                avatar_url: Some("https://static-cdn.jtvnw.net/jtv_user_pictures/8a6381c7-d0c0-4576-b179-38bd5ce1d6af-profile_image-300x300.png".into()),
            }
        );
        let sent = requests(&seen);
        assert_eq!(endpoint(&sent[0]), "https://id.twitch.tv/oauth2/validate");
        assert_eq!(header(&sent[0], "authorization"), Some("OAuth rfx2"));
        assert!(sent[0].headers()["authorization"].is_sensitive());
        assert_eq!(sent[1].uri(), USERS_URL);
        assert_eq!(header(&sent[1], "authorization"), Some("Bearer rfx2"));
        assert_eq!(header(&sent[1], "client-id"), Some("wbmytr93xzw8zbg0p1izqyzzc5mbiz"));
    }

    #[tokio::test]
    async fn with_the_apps_credentials_the_client_id_is_the_apps_and_no_validation_is_sent() {
        let (http, seen) = replay(&[(200, USERS)]);
        let s = secret();
        let client = ClientCredentials { client_id: "app123", client_secret: &s };
        let ctx = ProviderContext { http: &http, credentials: client };
        let profile = provider().fetch_profile_with(ctx, &token("rfx2")).await.unwrap();
        assert_eq!(profile.id, "141981764");
        let sent = requests(&seen);
        assert_eq!(sent.len(), 1, "no validation");
        assert_eq!(header(&sent[0], "client-id"), Some("app123"));
    }

    #[tokio::test]
    async fn a_refused_validation_or_an_unusable_client_id_fails_the_profile_without_calling_helix() {
        let (http, seen) = replay(&[
            (401, r#"{"status":401,"message":"invalid access token"}"#),
            (200, r#"{"client_id":"bad id\r\nX-Injected: 1","user_id":"1"}"#),
            (200, r#"{"login":"x"}"#),
        ]);
        let p = provider();
        let err = p.fetch_profile(&http, &token("t")).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("invalid_token")));
        for _ in 0..2 {
            let err = p.fetch_profile(&http, &token("t")).await.unwrap_err();
            assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse);
        }
        assert_eq!(requests(&seen).len(), 3, "only validations were sent");
    }

    #[tokio::test]
    async fn errors_denials_and_a_rotating_refresh_behave() {
        let (http, seen) = replay(&[
            (400, r#"{"status":400,"message":"Invalid authorization code"}"#),
            (400, r#"{"error":"Bad Request","status":400,"message":"Invalid refresh token"}"#),
            (
                200,
                r#"{"access_token":"1ssjqsqfy6bads1ws7m03gras79zfr","refresh_token":"eyJfMzUtNDU0OC4MWYwLTQ5MDY5ODY4NGNlMSJ9%asdfasdf=","scope":["channel:manage:broadcast"],"token_type":"bearer"}"#,
            ),
        ]);
        let s = secret();
        let p = provider();
        let err = p.exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("http_400")));
        assert!(!format!("{err:?}").contains("Invalid"));
        let err = p.refresh(ctx(&http, &s), &token("old")).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("http_400")));
        let tokens = p.refresh(ctx(&http, &s), &token("old")).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "eyJfMzUtNDU0OC4MWYwLTQ5MDY5ODY4NGNlMSJ9%asdfasdf=");
        let body = form(&requests(&seen)[2]);
        assert_eq!(param(&body, "grant_type"), Some("refresh_token"));
        assert_eq!(param(&body, "refresh_token"), Some("old"));
        assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }

    #[tokio::test]
    async fn revocation_posts_the_client_id_and_the_access_token_only() {
        let (http, seen) = replay(&[(200, ""), (400, r#"{"status":400,"message":"Invalid token"}"#)]);
        let s = secret();
        let p = provider();
        p.revoke(ctx(&http, &s), GrantTokens::new(&token("at"), Some(&token("rt")))).await.unwrap();
        let err = p.revoke(ctx(&http, &s), access_only(&token("gone"))).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Rejected);
        let sent = requests(&seen);
        assert_eq!(sent.len(), 2, "one call per revocation");
        assert_eq!((sent[0].method(), endpoint(&sent[0])), (&Method::POST, REVOKE_URL.to_owned()));
        assert_eq!(
            form(&sent[0]),
            [("client_id".to_owned(), CLIENT_ID.to_owned()), ("token".to_owned(), "at".to_owned())]
        );
        assert!(header(&sent[0], "authorization").is_none());
    }
}
