//! YouTube (`youtube`): Google OAuth 2.0 web-server flow, the connected account being the
//! YouTube channel.
//!
//! - Authorize at `https://accounts.google.com/o/oauth2/v2/auth` with PKCE S256 (supported
//!   and recommended for web clients), space-separated scopes, default
//!   `youtube.upload youtube.readonly` (the latter for `channels.list?mine=true`; both are
//!   sensitive scopes, so production apps need Google's verification), and
//!   **`access_type=offline&prompt=consent`**: without `access_type=offline` Google issues
//!   no refresh token, and without `prompt=consent` only the first grant gets one.
//! - Exchange and refresh at `https://oauth2.googleapis.com/token` with the credentials in
//!   the body; revocation at `https://oauth2.googleapis.com/revoke` of one token: the
//!   refresh token when there is one, else the access token. Google ends the whole grant
//!   with either (revoking an access token also revokes its refresh token), and then
//!   refuses the other as an invalid token, so one call is the whole revocation.
//! - Access tokens last about an hour. A refresh answers **no new refresh token**: the
//!   stored one is kept. Refresh tokens die when the user revokes, after 6 months unused,
//!   when the user holds too many for the client, and after **7 days while the consent
//!   screen is in "Testing"**.
//! - Users can untick scopes (granular consent): the granted `scope` of the token response
//!   is recorded.
//! - The profile is `GET https://www.googleapis.com/youtube/v3/channels?part=snippet
//!   &mine=true`: `items[0].id` (the channel id), `snippet.customUrl` (the `@handle`),
//!   `snippet.title`, `snippet.thumbnails.default.url`. A Google account **without a
//!   channel** answers an empty `items`, which fails the connect with
//!   `oauth_error=profile_fetch_failed`. With Brand Accounts the consent screen asks which
//!   channel; the token is bound to it.
//! - Denials: `error=access_denied`. Token errors are RFC-shaped (`invalid_grant`,
//!   `redirect_uri_mismatch`…).
//! - Redirect URIs: https, except `http://localhost` (any port) for development.

use super::ProfilePointers;
use super::generic::GenericProvider;
use super::google;

/// The built-in id.
pub const ID: &str = "youtube";
const USERINFO_URL: &str = "https://www.googleapis.com/youtube/v3/channels";
/// Upload videos and read the channel.
pub const DEFAULT_SCOPES: &[&str] =
    &["https://www.googleapis.com/auth/youtube.upload", "https://www.googleapis.com/auth/youtube.readonly"];

/// YouTube with Google's production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = google::oauth(
        ID,
        USERINFO_URL,
        ProfilePointers::new("/items/0/id")
            .with_username("/items/0/snippet/customUrl")
            .with_display_name("/items/0/snippet/title")
            .with_avatar_url("/items/0/snippet/thumbnails/default/url"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.knobs.userinfo_params = &[("part", "snippet"), ("mine", "true")];
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::google::{AUTHORIZE_URL, REVOKE_URL};
    use crate::{CodeFlow as _, Profile, ProviderErrorKind, RefreshGrant as _};
    use dravo_connect_core::OAuthErrorReason;

    /// The code exchange with `access_type=offline`.
    const TOKEN: &str = r#"{"access_token":"ya29.a0AfB_byC","expires_in":3599,"refresh_token":"1//0gLq-refresh","scope":"https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly","token_type":"Bearer"}"#;
    /// `GET /youtube/v3/channels?part=snippet&mine=true`.
    const CHANNELS: &str = r#"{"kind":"youtube#channelListResponse","etag":"x","pageInfo":{"totalResults":1,"resultsPerPage":5},"items":[{"kind":"youtube#channel","etag":"y","id":"UC_x5XG1OV2P6uZZ5FSM9Ttw","snippet":{"title":"Google for Developers","description":"…","customUrl":"@googledevelopers","publishedAt":"2007-08-23T00:34:43Z","thumbnails":{"default":{"url":"https://yt3.ggpht.com/ytc/AIdro_default=s88-c-k","width":88,"height":88}}}}]}"#;
    /// A Google account without a channel.
    const NO_CHANNEL: &str =
        r#"{"kind":"youtube#channelListResponse","etag":"x","pageInfo":{"totalResults":0,"resultsPerPage":5}}"#;

    #[test]
    fn the_authorize_url_asks_for_offline_access_with_consent_and_pkce() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "access_type"), Some("offline"));
        assert_eq!(param(&pairs, "prompt"), Some("consent"));
        assert_eq!(param(&pairs, "code_challenge"), Some(CHALLENGE));
        assert_eq!(param(&pairs, "code_challenge_method"), Some("S256"));
        assert_eq!(
            param(&pairs, "scope"),
            Some("https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly")
        );
    }

    #[tokio::test]
    async fn the_token_response_is_parsed_and_the_verifier_is_sent() {
        let (http, seen) = replay(&[(200, TOKEN)]);
        let s = secret();
        let verifier = token("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        let tokens = provider().exchange_code(ctx(&http, &s), "4/0Ad", REDIRECT_URI, Some(&verifier)).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "1//0gLq-refresh");
        assert_eq!(tokens.expires_in, Some(3599));
        assert_eq!(tokens.scopes.unwrap(), DEFAULT_SCOPES);
        let body = form(&requests(&seen)[0]);
        assert_eq!(param(&body, "code_verifier"), Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
    }

    #[tokio::test]
    async fn the_profile_is_the_channel_and_no_channel_fails() {
        let (http, seen) = replay(&[(200, CHANNELS), (200, NO_CHANNEL)]);
        let profile = provider().fetch_profile(&http, &token("ya29")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "UC_x5XG1OV2P6uZZ5FSM9Ttw".into(),
                username: Some("@googledevelopers".into()),
                display_name: Some("Google for Developers".into()),
                avatar_url: Some("https://yt3.ggpht.com/ytc/AIdro_default=s88-c-k".into()),
            }
        );
        let err = provider().fetch_profile(&http, &token("ya29")).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse);
        let request = &requests(&seen)[0];
        assert_eq!(request.uri(), "https://www.googleapis.com/youtube/v3/channels?part=snippet&mine=true");
        assert_eq!(header(request, "authorization"), Some("Bearer ya29"));
    }

    #[tokio::test]
    async fn errors_denials_and_a_refresh_without_a_new_refresh_token_behave() {
        let (http, _) = replay(&[
            (400, r#"{"error":"invalid_grant","error_description":"Bad Request"}"#),
            (
                200,
                r#"{"access_token":"ya29.new","expires_in":3599,"scope":"https://www.googleapis.com/auth/youtube.upload","token_type":"Bearer"}"#,
            ),
        ]);
        let s = secret();
        let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, Some(&token("v"))).await.unwrap_err();
        assert_eq!(err.oauth_error(), Some("invalid_grant"));
        let tokens = provider().refresh(ctx(&http, &s), &token("1//rt")).await.unwrap();
        assert!(tokens.refresh_token.is_none(), "absent means: keep the stored one");
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }

    #[tokio::test]
    async fn revocation_sends_the_refresh_token_alone_or_else_the_access_token() {
        let (http, seen) = replay(&[(200, ""), (200, "")]);
        let s = secret();
        provider().revoke(ctx(&http, &s), GrantTokens::new(&token("ya29"), Some(&token("1//rt")))).await.unwrap();
        provider().revoke(ctx(&http, &s), access_only(&token("ya29"))).await.unwrap();
        let sent = requests(&seen);
        assert_eq!(sent.len(), 2, "one request per revocation: Google ends the grant with either token");
        assert_eq!(endpoint(&sent[0]), REVOKE_URL);
        assert_eq!(param(&form(&sent[0]), "token"), Some("1//rt"));
        assert_eq!(param(&form(&sent[0]), "token_type_hint"), Some("refresh_token"));
        assert_eq!(param(&form(&sent[1]), "token"), Some("ya29"));
        assert_eq!(param(&form(&sent[1]), "token_type_hint"), Some("access_token"));
    }
}
