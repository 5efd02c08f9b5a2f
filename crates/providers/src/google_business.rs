//! Google Business Profile (`google_business`): Google's OAuth 2.0 web-server flow (shared
//! with `youtube`), the connected person being the Business Profile personal account and
//! what is published to being its **locations**, picked in the selection step.
//!
//! - Authorize, exchange, refresh and revocation as for every Google product: PKCE S256,
//!   the credentials in the body, **`access_type=offline&prompt=consent`** for a refresh
//!   token on every grant, access tokens of about an hour, a refresh that answers **no new
//!   refresh token** (the stored one is kept), one revocation of the refresh token (else
//!   the access token) ending the whole grant. Granular consent may drop the scope: the
//!   granted `scope` of the token response is recorded.
//! - One default scope, `https://www.googleapis.com/auth/business.manage` (what both calls
//!   below document). The Business Profile APIs are not open to every project: Google
//!   grants access on request (a project without it is refused with 403 or a zero quota),
//!   and the scope is sensitive, so production apps need verification.
//! - The person is `GET https://mybusinessaccountmanagement.googleapis.com/v1/accounts`:
//!   Google documents that the personal account of the caller is always the first item, so
//!   `accounts[0].name` (`accounts/{id}`) is the id and `accounts[0].accountName` the
//!   display name (there is no handle or picture there).
//! - Locations: the same `GET /v1/accounts` (`pageSize=20`, the maximum, paged by
//!   `pageToken`), then for each account (at most 20)
//!   `GET https://mybusinessbusinessinformation.googleapis.com/v1/{account}/locations
//!   ?readMask=name,title&pageSize=100` (`readMask` is required; paged by `pageToken`, at
//!   most 5 pages each). Each location is a [`TargetType::Location`] whose
//!   `provider_account_id` is `accounts/{a}/locations/{l}` (the path local posts are made
//!   under) and whose display name is its `title`; a location reached through several
//!   accounts is listed once. Google leaves empty lists out of its answers: no `accounts`
//!   or `locations` member means none. When there is any location, the callback redirects
//!   with `selection_id`; otherwise a plain `connected`.
//! - Errors of these APIs are `{"error":{"code","message","status"}}`; a 401 or 403 is
//!   `invalid_token`, other statuses map as for every provider, and no message is echoed.
//!   Denials: `error=access_denied`.
//!
//! Endpoint overrides: `targets_url` moves the account listing, and the location listing
//! with it (`/v1/{account}/locations` on the same origin); `userinfo_url` moves the
//! person's account call.
//!
//! Verified (Dec 2026) against Google's reference pages: accounts.list of the Account
//! Management API v1 (`https://developers.google.com/my-business/reference/accountmanagement/rest/v1/accounts/list`:
//! page size at most 20, the personal account first, `business.manage`) and
//! accounts.locations.list of the Business Information API
//! (`https://developers.google.com/my-business/reference/businessinformation/rest/v1/accounts.locations/list`:
//! `readMask` required, `pageSize` at most 100, `nextPageToken`); the OAuth endpoints as
//! for `youtube`.

use super::ProfilePointers;
use super::generic::GenericProvider;
use super::google;
use super::targets::TargetSource;
use crate::TargetType;

/// The built-in id.
pub const ID: &str = "google_business";
const ACCOUNTS_URL: &str = "https://mybusinessaccountmanagement.googleapis.com/v1/accounts";
/// Manage the Business Profile locations (read them, post to them).
pub const DEFAULT_SCOPES: &[&str] = &["https://www.googleapis.com/auth/business.manage"];

/// Google Business Profile with Google's production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = google::oauth(
        ID,
        ACCOUNTS_URL,
        ProfilePointers::new("/accounts/0/name").with_display_name("/accounts/0/accountName"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.knobs.target_selection = Some(TargetType::Location);
    p.knobs.targets = Some(TargetSource::GoogleLocations);
    p.knobs.targets_url = Some(ACCOUNTS_URL.to_owned());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::google::{AUTHORIZE_URL, REVOKE_URL, TOKEN_URL};
    use crate::{CodeFlow as _, Profile, ProviderErrorKind, RefreshGrant as _, TargetListing as _, TokenSet};
    use dravo_connect_core::OAuthErrorReason;

    /// The code exchange with `access_type=offline`.
    const TOKEN: &str = r#"{"access_token":"ya29.a0AfB_gbp","expires_in":3599,"refresh_token":"1//0g-gbp-refresh","scope":"https://www.googleapis.com/auth/business.manage","token_type":"Bearer"}"#;
    /// `GET /v1/accounts`, first page: the personal account first, then a location group.
    const ACCOUNTS_1: &str = r#"{"accounts":[{"name":"accounts/106513379012345678901","accountName":"Ada Lovelace","type":"PERSONAL","verificationState":"UNVERIFIED","vettedState":"NOT_VETTED"},{"name":"accounts/112233445566778899","accountName":"Ada's Bakeries","type":"LOCATION_GROUP","role":"OWNER","verificationState":"VERIFIED","vettedState":"NOT_VETTED","permissionLevel":"OWNER_LEVEL"}],"nextPageToken":"CAESBQoDCgE"}"#;
    /// The second and last page: one account whose name is not an account's.
    const ACCOUNTS_2: &str = r#"{"accounts":[{"name":"accounts/../../evil","accountName":"x","type":"USER_GROUP"}]}"#;
    /// `GET /v1/accounts/106513379012345678901/locations?readMask=name,title`, two pages.
    const LOCATIONS_PERSONAL_1: &str = r#"{"locations":[{"name":"locations/4455667788990011223","title":"Ada's Bakery – Soho"}],"nextPageToken":"AHpT"}"#;
    const LOCATIONS_PERSONAL_2: &str = r#"{"locations":[{"name":"locations/9988776655443322110","title":"Ada's Bakery – Camden"},{"name":"not-a-location","title":"?"}]}"#;
    /// The location group's: one location already seen, and an empty member left out.
    const LOCATIONS_GROUP: &str =
        r#"{"locations":[{"name":"locations/4455667788990011223","title":"Ada's Bakery – Soho"}]}"#;
    /// Google's error shape.
    const DENIED: &str = r#"{"error":{"code":403,"message":"Request had insufficient authentication scopes.","status":"PERMISSION_DENIED"}}"#;

    fn tokens(access: &str) -> TokenSet {
        TokenSet { access_token: token(access), refresh_token: None, expires_in: None, scopes: None }
    }

    #[test]
    fn the_authorize_url_is_googles_with_offline_access_pkce_and_the_business_scope() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "scope"), Some("https://www.googleapis.com/auth/business.manage"));
        assert_eq!(param(&pairs, "access_type"), Some("offline"));
        assert_eq!(param(&pairs, "prompt"), Some("consent"));
        assert_eq!(param(&pairs, "code_challenge"), Some(CHALLENGE));
        assert_eq!(param(&pairs, "code_challenge_method"), Some("S256"));
    }

    #[tokio::test]
    async fn the_token_response_is_parsed_with_the_verifier_and_the_credentials_in_the_body() {
        let (http, seen) = replay(&[(200, TOKEN)]);
        let s = secret();
        let tokens =
            provider().exchange_code(ctx(&http, &s), "4/0Ad", REDIRECT_URI, Some(&token("ver"))).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "ya29.a0AfB_gbp");
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "1//0g-gbp-refresh");
        assert_eq!(tokens.scopes.unwrap(), DEFAULT_SCOPES);
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), TOKEN_URL);
        let body = form(request);
        assert_eq!(param(&body, "code_verifier"), Some("ver"));
        assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
    }

    #[tokio::test]
    async fn the_person_is_the_personal_account_listed_first() {
        let (http, seen) = replay(&[(200, ACCOUNTS_1), (200, "{}")]);
        let profile = provider().fetch_profile(&http, &token("ya29")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "accounts/106513379012345678901".into(),
                username: None,
                display_name: Some("Ada Lovelace".into()),
                avatar_url: None,
            }
        );
        // No account at all (Google leaves the empty list out): no profile.
        let err = provider().fetch_profile(&http, &token("ya29")).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse);
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), ACCOUNTS_URL);
        assert_eq!(header(request, "authorization"), Some("Bearer ya29"));
    }

    #[tokio::test]
    async fn locations_of_every_account_are_listed_across_pages_once_each() {
        let (http, seen) = replay(&[
            (200, ACCOUNTS_1),
            (200, ACCOUNTS_2),
            (200, LOCATIONS_PERSONAL_1),
            (200, LOCATIONS_PERSONAL_2),
            (200, LOCATIONS_GROUP),
        ]);
        let person = Profile { id: "accounts/1".into(), username: None, display_name: None, avatar_url: None };
        let targets = provider().list_targets(&http, &tokens("ya29"), &person).await.unwrap();
        let listed: Vec<(&str, Option<&str>)> =
            targets.iter().map(|t| (t.id.as_str(), t.display_name.as_deref())).collect();
        assert_eq!(
            listed,
            [
                ("accounts/106513379012345678901/locations/4455667788990011223", Some("Ada's Bakery – Soho")),
                ("accounts/106513379012345678901/locations/9988776655443322110", Some("Ada's Bakery – Camden")),
            ]
        );
        assert!(targets.iter().all(|t| t.target_type == TargetType::Location && t.access_token.is_none()));
        let sent = requests(&seen);
        assert_eq!(sent.len(), 5, "two account pages, two location pages, one more account");
        assert_eq!(param(&query(&sent[0]), "pageSize"), Some("20"));
        assert_eq!(param(&query(&sent[1]), "pageToken"), Some("CAESBQoDCgE"));
        assert_eq!(
            endpoint(&sent[2]),
            "https://mybusinessbusinessinformation.googleapis.com/v1/accounts/106513379012345678901/locations"
        );
        let q = query(&sent[2]);
        assert_eq!(param(&q, "readMask"), Some("name,title"));
        assert_eq!(param(&q, "pageSize"), Some("100"));
        assert_eq!(param(&query(&sent[3]), "pageToken"), Some("AHpT"));
        assert_eq!(
            endpoint(&sent[4]),
            "https://mybusinessbusinessinformation.googleapis.com/v1/accounts/112233445566778899/locations"
        );
        for request in &sent {
            assert_eq!(header(request, "authorization"), Some("Bearer ya29"));
        }
    }

    #[tokio::test]
    async fn an_overridden_account_listing_moves_the_location_listing_to_its_origin() {
        let mut p = provider();
        p.apply_overrides(&crate::BuiltinOverrides::new(ID).with_targets_url("http://127.0.0.1:4010/v1/accounts"))
            .unwrap();
        let (http, seen) = replay(&[(200, r#"{"accounts":[{"name":"accounts/7","accountName":"A"}]}"#), (200, "{}")]);
        let person = Profile { id: "accounts/7".into(), username: None, display_name: None, avatar_url: None };
        assert!(p.list_targets(&http, &tokens("t"), &person).await.unwrap().is_empty());
        let sent = requests(&seen);
        assert_eq!(endpoint(&sent[0]), "http://127.0.0.1:4010/v1/accounts");
        assert_eq!(endpoint(&sent[1]), "http://127.0.0.1:4010/v1/accounts/7/locations");
    }

    #[tokio::test]
    async fn errors_denials_refresh_and_revocation_behave_as_googles() {
        let (http, seen) = replay(&[
            (400, r#"{"error":"invalid_grant","error_description":"Bad Request"}"#),
            (403, DENIED),
            (
                200,
                r#"{"access_token":"ya29.new","expires_in":3599,"scope":"https://www.googleapis.com/auth/business.manage","token_type":"Bearer"}"#,
            ),
            (200, ""),
        ]);
        let s = secret();
        let p = provider();
        let err = p.exchange_code(ctx(&http, &s), "c", REDIRECT_URI, Some(&token("v"))).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("invalid_grant")));
        let person = Profile { id: "accounts/1".into(), username: None, display_name: None, avatar_url: None };
        let err = p.list_targets(&http, &tokens("ya29"), &person).await.unwrap_err();
        assert_eq!(err.oauth_error(), Some("invalid_token"));
        assert!(!format!("{err:?}").contains("insufficient"));
        let refreshed = p.refresh(ctx(&http, &s), &token("1//rt")).await.unwrap();
        assert!(refreshed.refresh_token.is_none(), "absent means: keep the stored one");
        p.revoke(ctx(&http, &s), GrantTokens::new(&token("ya29"), Some(&token("1//rt")))).await.unwrap();
        let sent = requests(&seen);
        assert_eq!(param(&form(&sent[2]), "grant_type"), Some("refresh_token"));
        assert_eq!(endpoint(&sent[3]), REVOKE_URL);
        assert_eq!(param(&form(&sent[3]), "token"), Some("1//rt"));
        assert_eq!(sent.len(), 4, "one revocation ends the grant");
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }
}
