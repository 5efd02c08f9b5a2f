//! Snapchat (`snapchat`): Snap Kit **Login Kit**, the OAuth 2.0 service behind "Log in with
//! Snapchat", in its server-side (confidential client) form. It connects the person's
//! Snapchat identity; Login Kit grants no publishing.
//!
//! Verified (December 2026) against Snap's own documentation and code:
//! <https://developers.snap.com/snap-kit/login-kit/overview> (Login Kit is now implemented
//! directly on OAuth 2.0; a PKCE flow for public clients and a server-side authorization
//! code flow for apps that keep a secret; no access to messages, content or contacts),
//! <https://developers.snap.com/snap-kit/login-kit/Tutorials/web> (the scopes), and Snap's
//! own Passport strategy, `github.com/Snapchat/passport-snapchat` (`src/config.ts`,
//! `src/strategy.ts`, `test/fixtures/me.json`: the endpoints, the profile query and answer):
//!
//! - Authorize at `https://accounts.snapchat.com/accounts/oauth2/auth`, exchange at
//!   `https://accounts.snapchat.com/accounts/oauth2/token` (the Login Kit endpoints; the
//!   `…/login/oauth2/…` ones belong to the Marketing API) with `client_id` and
//!   `client_secret` in the form body, as Snap's strategy sends them.
//! - Scopes are full URLs, **space-separated**; the default asks for all three Login Kit
//!   has: `https://auth.snapchat.com/oauth2/api/user.external_id` (the account id),
//!   `…/user.display_name` and `…/user.bitmoji.avatar` (the user may untick the avatar; the
//!   granted `scope` of the token answer is what is recorded).
//! - The profile is `GET https://kit.snapchat.com/v1/me?query={me{externalId displayName
//!   bitmoji{avatar}}}` (a GraphQL query in the query string) with `Authorization: Bearer`,
//!   answering `{"data":{"me":{"externalId","displayName","bitmoji":{"avatar"}}}}`:
//!   `externalId` (per app) is the account id, `displayName` the display name (not a
//!   username, which Login Kit does not give), `bitmoji.avatar` the avatar. The query is set
//!   on an overridden `userinfo_url` too. Errors answer `error` and `error_description`.
//! - Redirect URIs must be registered in the Snap Kit portal and be https.
//!
//! Left out, because no documentation we could find states them for the server-side flow
//! (a later change can add them once verified):
//! - **PKCE**: Snap documents it for public clients; whether the confidential flow accepts a
//!   challenge is not stated, so none is sent (the client secret authenticates the exchange).
//! - **Refresh**: the token lifetime and the refresh grant of the server-side flow are not
//!   documented where we could read them, so no refresh is attempted
//!   ([`RefreshModel::None`](crate::RefreshModel::None)) and a refresh token in the answer is
//!   not kept: the account's `reconnect_by` is its token's end, after which it is `expired`
//!   and the user connects again.
//! - **Revocation**: no endpoint is documented; a disconnect forgets the tokens.
//! - **Publishing targets**: Login Kit publishes nothing, and the Public Profile and
//!   Creative APIs that could are partner-gated or client-side; there is no selection step.
//! - A denial's `error` value (expected `access_denied`, mapped to
//!   `oauth_error=access_denied`; anything else is `provider_error`).

use super::generic::{GenericProvider, RenewalKnob};
use super::{ProfilePointers, TokenAuth};
use crate::RefreshTokenRequirement;

/// The built-in id.
pub const ID: &str = "snapchat";
const AUTHORIZE_URL: &str = "https://accounts.snapchat.com/accounts/oauth2/auth";
const TOKEN_URL: &str = "https://accounts.snapchat.com/accounts/oauth2/token";
const ME_URL: &str = "https://kit.snapchat.com/v1/me";
/// The profile query: the id, the display name and the avatar.
const ME_QUERY: &[(&str, &str)] = &[("query", "{me{externalId displayName bitmoji{avatar}}}")];
/// Every Login Kit scope: the external id (the account id), the display name, the avatar.
pub const DEFAULT_SCOPES: &[&str] = &[
    "https://auth.snapchat.com/oauth2/api/user.external_id",
    "https://auth.snapchat.com/oauth2/api/user.display_name",
    "https://auth.snapchat.com/oauth2/api/user.bitmoji.avatar",
];

/// Snapchat Login Kit with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        ME_URL,
        ProfilePointers::new("/data/me/externalId")
            .with_display_name("/data/me/displayName")
            .with_avatar_url("/data/me/bitmoji/avatar"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.pkce = false;
    p.token_auth = TokenAuth::Body;
    p.knobs.userinfo_params = ME_QUERY;
    p.knobs.renewal = RenewalKnob::None;
    p.knobs.discard_refresh_token = true;
    // Whether the server-side flow issues one is not documented (see the module docs).
    p.knobs.refresh_token = RefreshTokenRequirement::Unknown;
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::{CodeFlow as _, Profile, Provider as _, ProviderErrorKind, RefreshModel, Renewal};
    use dravo_connect_core::OAuthErrorReason;

    /// The code exchange (RFC 6749 §5.1 shape).
    const TOKEN: &str = r#"{"access_token":"hCgEKEhBa3-snap","token_type":"Bearer","expires_in":3600,"refresh_token":"hCgwKCjE2-refresh","scope":"https://auth.snapchat.com/oauth2/api/user.external_id https://auth.snapchat.com/oauth2/api/user.display_name"}"#;
    /// `GET /v1/me`, as Snap's own strategy records it.
    const ME: &str = r#"{"data":{"me":{"bitmoji":{"avatar":"https://render.bitstrips.com/v2/cpanel/sticker-circle-bitmoji-id.png?transparent=1&palette=1","id":"my-bitmoji-id"},"displayName":"Ghostface Chillah","externalId":"CAESIPvjZ-my-external-id"}}}"#;
    /// Without the avatar scope.
    const ME_NO_AVATAR: &str =
        r#"{"data":{"me":{"displayName":"Ghostface Chillah","externalId":"CAESIPvjZ-my-external-id"}}}"#;

    #[test]
    fn the_authorize_url_has_full_url_scopes_and_no_pkce() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "response_type"), Some("code"));
        assert_eq!(param(&pairs, "client_id"), Some(CLIENT_ID));
        assert_eq!(
            param(&pairs, "scope"),
            Some(
                "https://auth.snapchat.com/oauth2/api/user.external_id https://auth.snapchat.com/oauth2/api/user.display_name https://auth.snapchat.com/oauth2/api/user.bitmoji.avatar"
            )
        );
        assert_eq!(param(&pairs, "code_challenge"), None);
    }

    #[tokio::test]
    async fn the_token_response_is_parsed_and_the_credentials_go_in_the_body() {
        let (http, seen) = replay(&[(200, TOKEN)]);
        let s = secret();
        let tokens = provider().exchange_code(ctx(&http, &s), "snap-code", REDIRECT_URI, None).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "hCgEKEhBa3-snap");
        assert_eq!(tokens.expires_in, Some(3600));
        assert!(tokens.refresh_token.is_none(), "never used, so never kept");
        assert_eq!(tokens.scopes.unwrap(), DEFAULT_SCOPES[..2], "the granted scopes, not the requested");
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), TOKEN_URL);
        assert!(header(request, "authorization").is_none());
        let body = form(request);
        assert_eq!(param(&body, "client_id"), Some(CLIENT_ID));
        assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
        assert_eq!(param(&body, "redirect_uri"), Some(REDIRECT_URI));
        assert_eq!(param(&body, "code_verifier"), None);
    }

    #[tokio::test]
    async fn the_profile_is_asked_with_the_graphql_query_and_read_from_data_me() {
        let (http, seen) = replay(&[(200, ME), (200, ME_NO_AVATAR)]);
        let profile = provider().fetch_profile(&http, &token("snap-at")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "CAESIPvjZ-my-external-id".into(),
                username: None,
                display_name: Some("Ghostface Chillah".into()),
                avatar_url: Some(
                    "https://render.bitstrips.com/v2/cpanel/sticker-circle-bitmoji-id.png?transparent=1&palette=1"
                        .into()
                ),
            }
        );
        let without = provider().fetch_profile(&http, &token("snap-at")).await.unwrap();
        assert_eq!(without.avatar_url, None);
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), ME_URL);
        assert_eq!(param(&query(request), "query"), Some("{me{externalId displayName bitmoji{avatar}}}"));
        assert_eq!(header(request, "authorization"), Some("Bearer snap-at"));
    }

    #[tokio::test]
    async fn errors_map_to_the_fixed_reasons_without_their_text() {
        let (http, _) = replay(&[
            (400, r#"{"error":"invalid_grant","error_description":"Invalid authorization code"}"#),
            (401, r#"{"error":"invalid_token","error_description":"The access token expired"}"#),
            (200, r#"{"data":{"me":{"displayName":"No id"}}}"#),
        ]);
        let s = secret();
        let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("invalid_grant")));
        assert!(!err.to_string().contains("Invalid authorization code"));
        let refused = provider().fetch_profile(&http, &token("old")).await.unwrap_err();
        assert_eq!(refused.oauth_error(), Some("invalid_token"));
        let no_id = provider().fetch_profile(&http, &token("t")).await.unwrap_err();
        assert_eq!(no_id.kind(), ProviderErrorKind::InvalidResponse);
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }

    #[tokio::test]
    async fn what_is_not_verified_is_not_done_no_refresh_no_revocation_no_targets() {
        let p = provider();
        assert!(matches!(p.renewal(), Renewal::None));
        let caps = p.capabilities();
        assert_eq!(caps.refresh, RefreshModel::None);
        assert_eq!(caps.refresh_token, RefreshTokenRequirement::Unknown);
        assert!(!caps.revocation && caps.target_selection.is_none() && p.targets().is_none());
        let (http, seen) = replay(&[]);
        let s = secret();
        let err = p.revoke(ctx(&http, &s), access_only(&token("snap-at"))).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unsupported);
        assert!(requests(&seen).is_empty(), "no call to an endpoint nobody documents");
    }
}
