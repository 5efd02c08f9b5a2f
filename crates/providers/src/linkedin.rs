//! LinkedIn (`linkedin`): Sign In with LinkedIn (OpenID Connect) plus member posting.
//!
//! - Authorize at `https://www.linkedin.com/oauth/v2/authorization` **without PKCE** (the
//!   documented 3-legged web flow has none; LinkedIn's PKCE variant is for approved native
//!   apps), space-separated scopes, default `openid profile w_member_social`. Posting as an
//!   organisation needs `w_organization_social` (and an org-admin scope to list Pages), all
//!   Community Management products LinkedIn must approve; a scope the app lacks fails with
//!   `unauthorized_scope_error`.
//! - Exchange at `https://www.linkedin.com/oauth/v2/accessToken` with `client_id` and
//!   `client_secret` in the body (Basic is not documented).
//! - The profile is OIDC `https://api.linkedin.com/v2/userinfo`: `sub` (the member id; the
//!   author URN is `urn:li:person:{sub}`), `name`, `picture`. There is no handle.
//! - Access tokens live 60 days. **Refresh tokens are for approved partners only**
//!   (programmatic refresh tokens, 365 days counted from the first grant, not reset by a
//!   refresh); everyone else reconnects before the 60 days are up (a logged-in member with a
//!   live grant skips the consent screen).
//! - Denials arrive as `error=user_cancelled_login` or `error=user_cancelled_authorize`, not
//!   `access_denied`; both map to `oauth_error=access_denied`.
//! - Requesting a different scope set than an earlier grant invalidates that member's
//!   previous tokens for the app.
//! - Organisations: only when the granted scopes include `w_organization_social` or
//!   `rw_organization_admin`, the organisations the member administers are listed
//!   (`GET /rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED`, then
//!   `GET /rest/organizations/{id}` for each name, at most 50, with `LinkedIn-Version` and
//!   `X-Restli-Protocol-Version: 2.0.0`). When there is any, the callback redirects with
//!   `selection_id` and the host picks them ([`TargetType::Organization`] accounts whose
//!   `provider_account_id` is the numeric id, author URN `urn:li:organization:{id}`, with the
//!   person's token); otherwise a plain `connected`. Override the listing with
//!   `targets_url` (the names are read on the same host).
//!
//! Revocation goes to `https://www.linkedin.com/oauth/v2/revoke` (form `token` with the
//! client credentials), with the access token only: no source shows it taking a (partner)
//! refresh token. Unverified: a search of LinkedIn's own documentation (Nov 2026)
//! found no page for it, but ten independent open-source integrations call it exactly so;
//! a failure is logged and never blocks a disconnect.

use super::generic::{GenericProvider, RenewalKnob, RevokeStyle};
use super::targets::TargetSource;
use super::{ProfilePointers, TokenAuth};
use crate::{RefreshTokenRequirement, Rotation, TargetType};

/// The built-in id.
pub const ID: &str = "linkedin";
const AUTHORIZE_URL: &str = "https://www.linkedin.com/oauth/v2/authorization";
const TOKEN_URL: &str = "https://www.linkedin.com/oauth/v2/accessToken";
const USERINFO_URL: &str = "https://api.linkedin.com/v2/userinfo";
const ORGANIZATION_ACLS_URL: &str = "https://api.linkedin.com/rest/organizationAcls";
const REVOKE_URL: &str = "https://www.linkedin.com/oauth/v2/revoke";
/// Member profile and posting as the member.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "w_member_social"];

/// LinkedIn with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        USERINFO_URL,
        ProfilePointers::new("/sub").with_display_name("/name").with_avatar_url("/picture"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.revoke_url = Some(REVOKE_URL.to_owned());
    // Only the access token is known to be taken there (see the module's note).
    p.knobs.revoke_style = RevokeStyle::AccessTokenOnly;
    p.pkce = false;
    p.token_auth = TokenAuth::Body;
    // A partner's refresh answers the same refresh token with its remaining lifetime.
    p.knobs.renewal = RenewalKnob::Grant(Rotation::Never);
    p.knobs.refresh_token = RefreshTokenRequirement::PartnerApproval;
    p.knobs.access_token_lifetime_secs = Some(60 * 86_400);
    p.knobs.refresh_token_lifetime_secs = Some(365 * 86_400);
    p.knobs.target_selection = Some(TargetType::Organization);
    p.knobs.targets = Some(TargetSource::LinkedinOrganizations);
    p.knobs.targets_url = Some(ORGANIZATION_ACLS_URL.to_owned());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::{CodeFlow as _, Profile, ProviderErrorKind, RefreshGrant as _};
    use dravo_connect_core::OAuthErrorReason;

    /// `POST /oauth/v2/accessToken` as LinkedIn documents it (OIDC products add `id_token`;
    /// the granted scopes come back comma-separated).
    const TOKEN: &str = r#"{"access_token":"AQUvlL_DYEzvT2wz1QJiEPeLioeA","expires_in":5184000,"scope":"openid,profile,w_member_social","token_type":"Bearer","id_token":"eyJ6aXAiOiJERUYiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiZDM"}"#;
    /// `GET /v2/userinfo`.
    const USERINFO: &str = r#"{"sub":"782bbtaQ","email_verified":true,"name":"John Doe","locale":{"country":"US","language":"en"},"given_name":"John","family_name":"Doe","email":"doe@email.com","picture":"https://media.licdn.com/dms/image/C5F03AQHqK8v7tB1HCQ/profile-displayphoto-shrink_100_100/0/"}"#;
    /// A code that expired or does not match.
    const BAD_CODE: &str = r#"{"error":"invalid_request","error_description":"Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired."}"#;

    #[test]
    fn the_authorize_url_has_no_pkce_and_space_separated_scopes() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "client_id"), Some(CLIENT_ID));
        assert_eq!(param(&pairs, "scope"), Some("openid profile w_member_social"));
        assert_eq!(param(&pairs, "response_type"), Some("code"));
        assert_eq!(param(&pairs, "code_challenge"), None);
    }

    #[tokio::test]
    async fn the_token_response_is_parsed_and_the_credentials_go_in_the_body() {
        let (http, seen) = replay(&[(200, TOKEN)]);
        let s = secret();
        let tokens = provider().exchange_code(ctx(&http, &s), "AQTQmah", REDIRECT_URI, None).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "AQUvlL_DYEzvT2wz1QJiEPeLioeA");
        assert_eq!(tokens.expires_in, Some(5_184_000));
        assert!(tokens.refresh_token.is_none());
        assert_eq!(tokens.scopes.unwrap(), DEFAULT_SCOPES);
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), TOKEN_URL);
        let body = form(request);
        assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
        assert_eq!(param(&body, "client_id"), Some(CLIENT_ID));
        assert_eq!(param(&body, "code"), Some("AQTQmah"));
        assert!(header(request, "authorization").is_none());
    }

    #[tokio::test]
    async fn the_userinfo_profile_is_read_without_a_handle() {
        let (http, seen) = replay(&[(200, USERINFO)]);
        let profile = provider().fetch_profile(&http, &token("at")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "782bbtaQ".into(),
                username: None,
                display_name: Some("John Doe".into()),
                avatar_url: Some(
                    "https://media.licdn.com/dms/image/C5F03AQHqK8v7tB1HCQ/profile-displayphoto-shrink_100_100/0/"
                        .into()
                ),
            }
        );
        let request = &requests(&seen)[0];
        assert_eq!(request.uri(), USERINFO_URL);
        assert_eq!(header(request, "authorization"), Some("Bearer at"));
    }

    #[tokio::test]
    async fn errors_and_denials_map_to_the_fixed_reasons() {
        let (http, _) = replay(&[(400, BAD_CODE)]);
        let s = secret();
        let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Rejected);
        assert_eq!(err.oauth_error(), Some("invalid_request"));
        assert!(!err.to_string().contains("appid"));
        let (http, _) = replay(&[(401, r#"{"serviceErrorCode":65600,"message":"Invalid access token","status":401}"#)]);
        assert_eq!(
            provider().fetch_profile(&http, &token("at")).await.unwrap_err().oauth_error(),
            Some("invalid_token")
        );
        for denial in ["user_cancelled_login", "user_cancelled_authorize"] {
            assert_eq!(OAuthErrorReason::from_provider_error(denial), OAuthErrorReason::AccessDenied);
        }
    }

    #[tokio::test]
    async fn a_partner_refresh_uses_the_grant_and_revocation_posts_the_token() {
        let (http, seen) = replay(&[
            (
                200,
                r#"{"access_token":"at2","expires_in":5184000,"refresh_token":"rt","refresh_token_expires_in":31000000}"#,
            ),
            (200, ""),
        ]);
        let s = secret();
        let tokens = provider().refresh(ctx(&http, &s), &token("rt")).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "rt");
        provider().revoke(ctx(&http, &s), GrantTokens::new(&token("at2"), Some(&token("rt")))).await.unwrap();
        let sent = requests(&seen);
        assert_eq!(sent.len(), 2, "one revocation, of the access token");
        assert_eq!(param(&form(&sent[0]), "grant_type"), Some("refresh_token"));
        assert_eq!(endpoint(&sent[1]), REVOKE_URL);
        assert_eq!(param(&form(&sent[1]), "token"), Some("at2"));
    }
}
