//! Reddit (`reddit`).
//!
//! - Authorize at `https://www.reddit.com/api/v1/authorize` with **`duration=permanent`**
//!   (else no refresh token: `temporary` grants last one hour), comma-separated scopes (the
//!   documented form, which Reddit notes departs from the spec; spaces also work), default
//!   `identity,submit,read`. **No PKCE** (not documented).
//! - Exchange and refresh at `https://www.reddit.com/api/v1/access_token`, a form body (not
//!   the query) with **HTTP Basic** client authentication (required; bad credentials are a
//!   bare 401). Access tokens last one hour; a refresh answers no new refresh token (the
//!   stored one stays valid until revoked).
//! - Every request carries a **`User-Agent` unique to the app**: Reddit's API rules ask for
//!   `<platform>:<app ID>:<version string> (by /u/<reddit username>)`, rate-limit by it, and
//!   throttle generic ones (checked against the rules page of Reddit's API wiki). A fixed
//!   string would put every deployment of this crate into one bucket, so the host
//!   configures its own (`user_agent` in the `reddit` entry of `[[providers]]`,
//!   [`BuiltinOverrides::with_user_agent`](super::BuiltinOverrides::with_user_agent)), in
//!   which `{client_id}` stands for the app's client id; the default is
//!   [`DEFAULT_USER_AGENT`], `server:{client_id}:v<crate version>`. A configured one must
//!   have Reddit's form (three non-empty `:`-separated parts before any space) and be at
//!   most 256 printable ASCII characters (no CR or LF): anything else fails at startup with
//!   a `ConfigError`. The client id put in is cut to the characters client ids are made of
//!   (`[A-Za-z0-9_.-]`, at most 64); a token registered without its app, whose client id is
//!   unknown, says `unknown` there.
//! - API calls go to **`oauth.reddit.com`**: the profile is
//!   `GET https://oauth.reddit.com/api/v1/me` → `id`, `name` (username and display name),
//!   `icon_img` (HTML-escaped: `&amp;` is decoded).
//! - Denials: `error=access_denied`; other callback errors (`invalid_scope`…) map to
//!   `oauth_error=provider_error`.
//! - Revocation at `https://www.reddit.com/api/v1/revoke_token` (Basic, `token`,
//!   `token_type_hint`): the refresh token (which also ends its access tokens), then the
//!   access token.
//! - One redirect URI per app, exact match; commercial API use needs Reddit's approval.

use super::generic::{GenericProvider, RenewalKnob, UserAgentKnob, check_user_agent_text};
use super::{ProfilePointers, TokenAuth};
use crate::{RefreshTokenRequirement, Rotation};

/// The built-in id.
pub const ID: &str = "reddit";
const AUTHORIZE_URL: &str = "https://www.reddit.com/api/v1/authorize";
const TOKEN_URL: &str = "https://www.reddit.com/api/v1/access_token";
const REVOKE_URL: &str = "https://www.reddit.com/api/v1/revoke_token";
const USERINFO_URL: &str = "https://oauth.reddit.com/api/v1/me";
/// The `User-Agent` sent when the host configures none: Reddit's form, with the app's client
/// id as its app ID (`{client_id}` is replaced on every call).
pub const DEFAULT_USER_AGENT: &str = concat!("server:{client_id}:v", env!("CARGO_PKG_VERSION"));
/// The account, posting and reading.
pub const DEFAULT_SCOPES: &[&str] = &["identity", "submit", "read"];

/// Reddit with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        USERINFO_URL,
        ProfilePointers::new("/id").with_username("/name").with_display_name("/name").with_avatar_url("/icon_img"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.revoke_url = Some(REVOKE_URL.to_owned());
    p.pkce = false;
    p.token_auth = TokenAuth::Basic;
    p.scope_separator = ",".to_owned();
    p.authorize_params.insert("duration".to_owned(), "permanent".to_owned());
    p.knobs.user_agent = UserAgentKnob::App { template: DEFAULT_USER_AGENT.to_owned(), check: check_user_agent };
    p.knobs.avatar_html_unescape = true;
    p.knobs.renewal = RenewalKnob::Grant(Rotation::Never);
    p.knobs.refresh_token =
        RefreshTokenRequirement::AuthorizeParams { params: vec![("duration".to_owned(), "permanent".to_owned())] };
    p.knobs.access_token_lifetime_secs = Some(3600);
    p
}

/// Checks a configured `User-Agent`: a safe header value (see the module docs) that starts
/// as Reddit's rules ask, `<platform>:<app ID>:<version string>`, each part non-empty and
/// without spaces, before an optional ` (by /u/<reddit username>)`.
fn check_user_agent(value: &str) -> Result<(), String> {
    check_user_agent_text(value)?;
    let head = value.split(' ').next().unwrap_or_default();
    let mut parts = head.splitn(3, ':');
    let form_ok = match (parts.next(), parts.next(), parts.next()) {
        (Some(platform), Some(app), Some(version)) => !platform.is_empty() && !app.is_empty() && !version.is_empty(),
        _ => false,
    };
    if !form_ok {
        return Err("must have Reddit's form `<platform>:<app ID>:<version string> (by /u/<reddit username>)`, \
                    e.g. `web:{client_id}:v1.2.0 (by /u/acme_dev)`"
            .to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::{CodeFlow as _, Profile, ProviderErrorKind, RefreshGrant as _};
    use dravo_connect_core::OAuthErrorReason;

    /// `POST /api/v1/access_token` with `duration=permanent`.
    const TOKEN: &str = r#"{"access_token":"eyJhbGciOiJSUzI1NiIsImtpZCI6IlNIQTI1NjpzS3dsMnlsV0VtMjVmcXhwTU40cWY4MXE2OWFFdWFyMnpLMUdhVGxjdWNZIiwidHlwIjoiSldUIn0","token_type":"bearer","expires_in":3600,"refresh_token":"1234567890-abcdefRefresh","scope":"identity submit read"}"#;
    /// `GET https://oauth.reddit.com/api/v1/me` (trimmed).
    const ME: &str = r#"{"is_employee":false,"icon_img":"https://styles.redditmedia.com/t5_3k30p/styles/profileIcon_snoo.png?width=256&amp;height=256&amp;crop=256:256,smart&amp;s=2bf0f1a3b4","id":"1w72","name":"spez","snoovatar_img":"","created_utc":1118030400.0,"total_karma":1000}"#;

    #[test]
    fn the_authorize_url_asks_for_a_permanent_grant_with_comma_scopes() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "duration"), Some("permanent"));
        assert_eq!(param(&pairs, "scope"), Some("identity,submit,read"));
        assert_eq!(param(&pairs, "code_challenge"), None);
    }

    #[tokio::test]
    async fn the_token_response_is_parsed_with_basic_auth_and_the_user_agent() {
        let (http, seen) = replay(&[(200, TOKEN)]);
        let s = secret();
        let tokens = provider().exchange_code(ctx(&http, &s), "c0de", REDIRECT_URI, None).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "1234567890-abcdefRefresh");
        assert_eq!(tokens.expires_in, Some(3600));
        assert_eq!(tokens.scopes.unwrap(), DEFAULT_SCOPES);
        let request = &requests(&seen)[0];
        assert!(header(request, "authorization").unwrap().starts_with("Basic "));
        assert_eq!(header(request, "user-agent"), Some(APP_USER_AGENT));
        assert!(request.uri().query().is_none(), "the form goes in the body");
        assert_eq!(param(&form(request), "client_secret"), None);
    }

    #[tokio::test]
    async fn the_profile_is_read_from_oauth_reddit_com_with_the_avatar_unescaped() {
        let (http, seen) = replay(&[(200, ME)]);
        let profile = provider().fetch_profile(&http, &token("eyJ")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "1w72".into(),
                username: Some("spez".into()),
                display_name: Some("spez".into()),
                avatar_url: Some(
                    "https://styles.redditmedia.com/t5_3k30p/styles/profileIcon_snoo.png?width=256&height=256&crop=256:256,smart&s=2bf0f1a3b4"
                        .into()
                ),
            }
        );
        let request = &requests(&seen)[0];
        assert_eq!(request.uri(), USERINFO_URL);
        // No app known: Reddit's form still, with no client id to name.
        assert_eq!(header(request, "user-agent"), Some(concat!("server:unknown:v", env!("CARGO_PKG_VERSION"))));
    }

    /// The default `User-Agent` for the fixtures' app (`client-1`).
    const APP_USER_AGENT: &str = concat!("server:client-1:v", env!("CARGO_PKG_VERSION"));

    #[tokio::test]
    async fn every_call_names_the_app_in_reddits_user_agent_form() {
        let (http, seen) = replay(&[(200, TOKEN), (200, ME), (200, TOKEN), (200, "{}"), (200, "{}")]);
        let s = secret();
        let p = provider();
        p.exchange_code(ctx(&http, &s), "c0de", REDIRECT_URI, None).await.unwrap();
        p.fetch_profile_with(ctx(&http, &s), &token("eyJ")).await.unwrap();
        p.refresh(ctx(&http, &s), &token("rt")).await.unwrap();
        p.revoke(ctx(&http, &s), GrantTokens::new(&token("at"), Some(&token("rt")))).await.unwrap();
        let sent = requests(&seen);
        assert_eq!(sent.len(), 5);
        for request in &sent {
            assert_eq!(header(request, "user-agent"), Some(APP_USER_AGENT), "{}", request.uri());
        }
    }

    #[tokio::test]
    async fn a_configured_user_agent_replaces_the_default_with_the_client_id_filled_in() {
        let registry = crate::build_registry(&[crate::BuiltinOverrides::new(ID)
            .with_user_agent("web:{client_id}:v2.3.1 (by /u/acme_dev)")
            .into()])
        .unwrap();
        let reddit = registry.iter().find(|p| p.id().as_str() == ID).unwrap();
        let flow = reddit.code_flow().unwrap();
        let (http, seen) = replay(&[(200, TOKEN), (200, ME)]);
        let s = secret();
        flow.exchange_code(ctx(&http, &s), "c0de", REDIRECT_URI, None).await.unwrap();
        // A tenant's client id with characters no client id has: they are left out.
        let odd = crate::ClientCredentials { client_id: "ab c\r\nX-Evil: 1", client_secret: &s };
        flow.fetch_profile_with(crate::ProviderContext { http: &http, credentials: odd }, &token("eyJ")).await.unwrap();
        let sent = requests(&seen);
        assert_eq!(header(&sent[0], "user-agent"), Some("web:client-1:v2.3.1 (by /u/acme_dev)"));
        assert_eq!(header(&sent[1], "user-agent"), Some("web:abcX-Evil1:v2.3.1 (by /u/acme_dev)"));
        // A fixed one (no placeholder) is sent as it is.
        let registry = crate::build_registry(&[crate::BuiltinOverrides::new(ID)
            .with_user_agent("server:com.acme.poster:1.0 (by /u/acme_dev)")
            .into()])
        .unwrap();
        let flow = registry.iter().find(|p| p.id().as_str() == ID).unwrap().code_flow().unwrap();
        let (http, seen) = replay(&[(200, ME)]);
        flow.fetch_profile(&http, &token("eyJ")).await.unwrap();
        assert_eq!(header(&requests(&seen)[0], "user-agent"), Some("server:com.acme.poster:1.0 (by /u/acme_dev)"));
    }

    #[test]
    fn a_configured_user_agent_outside_reddits_form_or_unsafe_in_a_header_is_refused_at_startup() {
        let refused = |value: &str| {
            let overrides = crate::BuiltinOverrides::new(ID).with_user_agent(value);
            match crate::build_registry(&[overrides.into()]) {
                Err(dravo_connect_core::ConfigError::Provider { id, reason }) => {
                    assert_eq!(id, ID);
                    reason
                }
                other => panic!("{value:?} was accepted: {other:?}"),
            }
        };
        assert!(refused("web:acme:1.0\r\nX-Injected: 1").contains("CR or LF"));
        assert!(refused("web:acme:1.0\n").contains("CR or LF"));
        assert!(refused("web:acmé:1.0").contains("printable ASCII"));
        assert!(refused("web:acme:1.0\t(by /u/x)").contains("printable ASCII"));
        assert!(refused("").contains("1 to 256"));
        assert!(refused(&format!("web:acme:{}", "1".repeat(250))).contains("1 to 256"));
        assert!(refused(" web:acme:1.0").contains("whitespace"));
        assert!(refused("web:{app}:1.0").contains("{client_id}"));
        for bad_form in ["my-app/1.0", "web:acme", "web::1.0", ":acme:1.0", "web:acme: (by /u/x)", "dravo (by /u/x)"] {
            let reason = refused(bad_form);
            assert!(reason.starts_with("user_agent: must have Reddit's form"), "{bad_form}: {reason}");
        }
        // At the limit, and in every form Reddit shows, it is accepted.
        for ok in [
            format!("web:acme:{}", "1".repeat(247)),
            "android:com.example.myredditapp:v1.2.3 (by /u/kemitche)".to_owned(),
            "server:{client_id}:0.1".to_owned(),
        ] {
            crate::build_registry(&[crate::BuiltinOverrides::new(ID).with_user_agent(ok).into()]).unwrap();
        }
    }

    #[tokio::test]
    async fn bare_401s_error_bodies_and_denials_map_to_the_fixed_reasons() {
        let (http, _) = replay(&[
            (401, r#"{"message": "Unauthorized", "error": 401}"#),
            (200, r#"{"error": "invalid_grant"}"#),
            (200, r#"{"access_token":"new","token_type":"bearer","expires_in":3600,"scope":"identity"}"#),
        ]);
        let s = secret();
        let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("http_401")));
        let err = provider().exchange_code(ctx(&http, &s), "c", REDIRECT_URI, None).await.unwrap_err();
        assert_eq!(err.oauth_error(), Some("invalid_grant"));
        let tokens = provider().refresh(ctx(&http, &s), &token("rt")).await.unwrap();
        assert!(tokens.refresh_token.is_none());
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
        assert_eq!(OAuthErrorReason::from_provider_error("invalid_scope"), OAuthErrorReason::ProviderError);
    }
}
