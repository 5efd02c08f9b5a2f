//! X (`x`, Twitter) with OAuth 2.0 user context (authorization code + PKCE).
//!
//! - Authorize at `https://x.com/i/oauth2/authorize` with PKCE S256 (X requires PKCE) and
//!   space-separated scopes; the default scopes are `tweet.read users.read tweet.write
//!   offline.access` (add `media.write` for media upload). Without `offline.access` X
//!   issues no refresh token.
//! - Exchange and refresh at `https://api.x.com/2/oauth2/token` with HTTP Basic client
//!   authentication (a confidential "Web App" client), revoke at
//!   `https://api.x.com/2/oauth2/revoke` (either token with its `token_type_hint`: both go).
//! - The profile comes from `https://api.x.com/2/users/me?user.fields=profile_image_url`:
//!   `data.id`, `data.username`, `data.name`, `data.profile_image_url`. The `user.fields`
//!   parameter is set on an overridden userinfo URL too.
//!
//! Quirks the rest of the crate must respect:
//! - **Authorization codes live 30 seconds**: exchange in the callback, never queue it.
//! - **X refuses `localhost` redirect URIs**: for local development register and use
//!   `http://127.0.0.1:<port>/…` as `public_base_url`. Redirect URIs match exactly,
//!   trailing slash included.
//! - **Refresh tokens rotate**: each refresh returns a new refresh token and the old one
//!   stops working, so refreshes of one account are serialised and the new pair stored
//!   atomically.
//! - X refuses a `state` over 500 characters (ours stay under 200).
//!
//! Endpoint URLs can be overridden (to point the adapter at a local mock) with a
//! `[[providers]]` entry with `id = "x"`.

use super::generic::{GenericProvider, RenewalKnob};
use super::{ProfilePointers, TokenAuth};
use crate::{RefreshTokenRequirement, Rotation};

/// The built-in id.
pub const ID: &str = "x";
const AUTHORIZE_URL: &str = "https://x.com/i/oauth2/authorize";
const TOKEN_URL: &str = "https://api.x.com/2/oauth2/token";
const REVOKE_URL: &str = "https://api.x.com/2/oauth2/revoke";
const USERS_ME_URL: &str = "https://api.x.com/2/users/me";
/// `users/me` answers only `id`, `name` and `username` unless asked for more.
const USER_FIELDS: &[(&str, &str)] = &[("user.fields", "profile_image_url")];
/// Profile and posting; `offline.access` is what makes X issue a refresh token.
pub const DEFAULT_SCOPES: &[&str] = &["tweet.read", "users.read", "tweet.write", "offline.access"];

/// X with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        USERS_ME_URL,
        ProfilePointers::new("/data/id")
            .with_username("/data/username")
            .with_display_name("/data/name")
            .with_avatar_url("/data/profile_image_url"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.revoke_url = Some(REVOKE_URL.to_owned());
    p.pkce = true;
    p.token_auth = TokenAuth::Basic;
    p.knobs.userinfo_params = USER_FIELDS;
    p.knobs.renewal = RenewalKnob::Grant(Rotation::Always);
    p.knobs.refresh_token = RefreshTokenRequirement::Scope { scope: "offline.access".to_owned() };
    p.knobs.access_token_lifetime_secs = Some(7200);
    p
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use base64::Engine as _;
    use bytes::Bytes;

    use super::*;
    use crate::{
        AuthorizeRequest, BuiltinOverrides, ClientCredentials, CodeFlow, GrantTokens, Profile, Provider,
        ProviderContext, ProviderErrorKind, RefreshGrant,
    };
    use dravo_connect_core::Secret;
    use dravo_connect_core::http_client::{HttpClient, HttpError};

    type Seen = Arc<Mutex<Vec<http::Request<Bytes>>>>;

    /// The first request recorded (taken out, so no lock is held across an await).
    fn first(seen: &Seen) -> http::Request<Bytes> {
        seen.lock().unwrap().remove(0)
    }

    fn answering(status: u16, body: &'static str) -> (impl HttpClient, Seen) {
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let client = move |request: http::Request<Bytes>| {
            log.lock().unwrap().push(request);
            async move {
                Ok::<_, HttpError>(
                    http::Response::builder().status(status).body(Bytes::from_static(body.as_bytes())).unwrap(),
                )
            }
        };
        (client, seen)
    }

    /// X with the overrides of `config` applied.
    fn with_overrides(config: &BuiltinOverrides) -> Result<GenericProvider, dravo_connect_core::ConfigError> {
        let mut x = provider();
        x.apply_overrides(config).map(|()| x)
    }

    /// `GET /2/users/me` as X documents it.
    const USERS_ME: &str = r#"{"data":{"id":"2244994945","name":"X Dev","username":"XDevelopers","profile_image_url":"https://pbs.twimg.com/profile_images/1445764922474827784/W2zEPN7U_normal.jpg"}}"#;

    fn scopes() -> Vec<String> {
        DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_authorize_url_has_every_parameter_with_s256_and_space_separated_scopes() {
        let x = provider();
        let scopes = scopes();
        let url = x
            .authorize_url(&AuthorizeRequest {
                client_id: "M1M5R3BMVy13QmpScXkzTUt5OE46MTpjaQ",
                redirect_uri: "https://app.example.com/v1/oauth/x/callback",
                scopes: &scopes,
                state: "k0.abc_DEF-123",
                code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            })
            .unwrap();
        assert_eq!(url.as_str().split('?').next(), Some("https://x.com/i/oauth2/authorize"));
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let expected: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", "M1M5R3BMVy13QmpScXkzTUt5OE46MTpjaQ"),
            ("redirect_uri", "https://app.example.com/v1/oauth/x/callback"),
            ("scope", "tweet.read users.read tweet.write offline.access"),
            ("state", "k0.abc_DEF-123"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs, expected);
        assert!(!url.as_str().contains("code_verifier"));
    }

    #[test]
    fn x_uses_pkce_basic_auth_and_its_documented_defaults() {
        let x = provider();
        assert_eq!(x.id().as_str(), "x");
        assert!(x.uses_pkce());
        assert_eq!(x.token_auth, TokenAuth::Basic);
        assert_eq!(x.default_scopes(), scopes());
        assert_eq!(x.issuer(), None);
        assert!(!x.requires_iss());
        assert_eq!(x.revoke_url.as_deref(), Some(REVOKE_URL));
    }

    #[tokio::test]
    async fn an_own_user_fields_parameter_is_replaced_and_the_others_kept() {
        let x =
            with_overrides(&BuiltinOverrides::new("x").with_userinfo_url("http://127.0.0.1:9/me?a=1&user.fields=x"))
                .unwrap();
        let (http, seen) = answering(200, USERS_ME);
        x.fetch_profile(&http, &Secret::new("at".to_owned())).await.unwrap();
        assert_eq!(first(&seen).uri(), "http://127.0.0.1:9/me?a=1&user.fields=profile_image_url");
    }

    #[tokio::test]
    async fn the_profile_call_asks_for_the_avatar_and_reads_x_users_me() {
        let (http, seen) = answering(200, USERS_ME);
        let profile = provider().fetch_profile(&http, &Secret::new("at".to_owned())).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "2244994945".into(),
                username: Some("XDevelopers".into()),
                display_name: Some("X Dev".into()),
                avatar_url: Some("https://pbs.twimg.com/profile_images/1445764922474827784/W2zEPN7U_normal.jpg".into()),
            }
        );
        let request = &first(&seen);
        assert_eq!(request.method(), http::Method::GET);
        assert_eq!(request.uri(), "https://api.x.com/2/users/me?user.fields=profile_image_url");
        assert_eq!(request.headers()["authorization"], "Bearer at");
    }

    #[tokio::test]
    async fn an_overridden_userinfo_url_still_gets_user_fields() {
        let x =
            with_overrides(&BuiltinOverrides::new("x").with_userinfo_url("http://127.0.0.1:8080/2/users/me")).unwrap();
        let (http, seen) = answering(200, USERS_ME);
        x.fetch_profile(&http, &Secret::new("at".to_owned())).await.unwrap();
        assert_eq!(first(&seen).uri(), "http://127.0.0.1:8080/2/users/me?user.fields=profile_image_url");
    }

    #[tokio::test]
    async fn the_exchange_posts_to_the_x_token_endpoint_with_basic_auth_and_the_verifier() {
        let (http, seen) = answering(
            200,
            r#"{"token_type":"bearer","expires_in":7200,"access_token":"at","scope":"tweet.read users.read tweet.write offline.access","refresh_token":"rt"}"#,
        );
        let secret = Secret::new("a:b&c".to_owned());
        let ctx = ProviderContext {
            http: &http,
            credentials: ClientCredentials { client_id: "cid", client_secret: &secret },
        };
        let verifier = Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned());
        let tokens = provider()
            .exchange_code(ctx, "code", "http://127.0.0.1:3000/v1/oauth/x/callback", Some(&verifier))
            .await
            .unwrap();
        assert_eq!(tokens.expires_in, Some(7200));
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "rt");
        assert_eq!(tokens.scopes.unwrap(), scopes());
        let request = &first(&seen);
        assert_eq!(request.uri(), "https://api.x.com/2/oauth2/token");
        let basic = base64::engine::general_purpose::STANDARD.encode("cid:a%3Ab%26c");
        assert_eq!(request.headers()["authorization"], format!("Basic {basic}").as_str());
        let fields: Vec<(String, String)> = form_urlencoded::parse(request.body()).into_owned().collect();
        assert!(fields.contains(&("code_verifier".into(), verifier.expose_secret().clone())));
        assert!(!fields.iter().any(|(k, _)| k == "client_secret" || k == "client_id"));
    }

    #[tokio::test]
    async fn a_refresh_returns_the_rotated_refresh_token_x_sends() {
        let (http, seen) =
            answering(200, r#"{"token_type":"bearer","expires_in":7200,"access_token":"at2","refresh_token":"rt2"}"#);
        let secret = Secret::new("s".to_owned());
        let ctx = ProviderContext {
            http: &http,
            credentials: ClientCredentials { client_id: "cid", client_secret: &secret },
        };
        let tokens = provider().refresh(ctx, &Secret::new("rt1".to_owned())).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "rt2");
        let fields: Vec<(String, String)> = form_urlencoded::parse(first(&seen).body()).into_owned().collect();
        assert_eq!(fields, [("grant_type".into(), "refresh_token".into()), ("refresh_token".into(), "rt1".into())]);
    }

    #[tokio::test]
    async fn an_invalid_code_at_x_is_rejected_with_its_error_code() {
        let (http, _) = answering(
            400,
            r#"{"error":"invalid_request","error_description":"Value passed for the authorization code was invalid."}"#,
        );
        let secret = Secret::new("s".to_owned());
        let ctx = ProviderContext {
            http: &http,
            credentials: ClientCredentials { client_id: "cid", client_secret: &secret },
        };
        let err = provider().exchange_code(ctx, "c", "https://a/cb", None).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Rejected);
        assert_eq!(err.oauth_error(), Some("invalid_request"));
    }

    #[tokio::test]
    async fn revoke_posts_to_the_x_revoke_endpoint() {
        let (http, seen) = answering(200, r#"{"revoked":true}"#);
        let secret = Secret::new("s".to_owned());
        let ctx = ProviderContext {
            http: &http,
            credentials: ClientCredentials { client_id: "cid", client_secret: &secret },
        };
        provider().revoke(ctx, GrantTokens::new(&Secret::new("at".to_owned()), None)).await.unwrap();
        assert_eq!(first(&seen).uri(), "https://api.x.com/2/oauth2/revoke");
    }

    #[test]
    fn overrides_replace_only_the_endpoints_they_give() {
        let x = with_overrides(
            &BuiltinOverrides::new("x")
                .with_authorize_url("http://localhost:4000/i/oauth2/authorize")
                .with_revoke_url("http://[::1]:4000/revoke"),
        )
        .unwrap();
        assert_eq!(x.authorize_url, "http://localhost:4000/i/oauth2/authorize");
        assert_eq!(x.revoke_url.as_deref(), Some("http://[::1]:4000/revoke"));
        assert_eq!(x.token_url, TOKEN_URL);
        assert_eq!(x.userinfo_url, USERS_ME_URL);
        assert_eq!(x.default_scopes(), scopes());
        let none = with_overrides(&BuiltinOverrides::new("x")).unwrap();
        assert_eq!(format!("{none:?}"), format!("{:?}", provider()));
    }

    #[test]
    fn overrides_with_anything_but_endpoints_or_another_id_are_refused() {
        let err = with_overrides(&BuiltinOverrides::new("x").with_service_url("https://pds.example")).unwrap_err();
        assert!(err.to_string().contains("service_url"), "{err}");
        let err = with_overrides(&BuiltinOverrides::new("y")).unwrap_err();
        assert!(err.to_string().contains("\"y\""), "{err}");
        let err =
            with_overrides(&BuiltinOverrides::new("x").with_token_url("http://api.x.com/2/oauth2/token")).unwrap_err();
        assert!(err.to_string().contains("token_url"), "{err}");
    }
}
