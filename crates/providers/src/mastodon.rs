//! Mastodon (`mastodon`), on any instance.
//!
//! Mastodon is not one server but thousands, and an OAuth app exists only on the server it
//! was registered at. So the `mastodon` app a tenant creates holds no usable client
//! credentials (its `client_id`/`client_secret` may be empty): `start` takes an `instance`
//! (`mastodon.social` or `https://mastodon.social`), and the first flow of an app at an
//! instance registers a client there with `POST https://{instance}/api/v1/apps`
//! (`client_name` = the app's name, `redirect_uris` = our callback, `scopes`, `website` = the
//! public base URL). Its `client_id` and `client_secret` are kept per (app, instance) in the
//! store, the secret sealed like every other, and reused by every later flow, callback and
//! revocation at that instance.
//!
//! - Authorize at `https://{instance}/oauth/authorize` with space-separated scopes, default
//!   `profile write:statuses write:media`, and **PKCE S256** (Mastodon ≥ 4.3 checks it; older
//!   servers ignore the parameters). A server older than 4.3 refuses to register the
//!   `profile` scope: the registration is retried once with `read:accounts` in its place,
//!   and flows at that instance then ask for `read:accounts`.
//! - Exchange at `https://{instance}/oauth/token` (client id and secret in the form body).
//!   The token has **no expiry and no refresh grant**: it is valid until revoked.
//! - Profile: `GET https://{instance}/api/v1/accounts/verify_credentials` → `id`,
//!   `username`, `display_name`, `avatar`. Account ids are only unique per server, so the
//!   `provider_account_id` is **`{id}@{host}`** (with `:{port}` for a non-default port), and
//!   the username is the full handle `{username}@{host}`.
//! - Denials are Doorkeeper's `error=access_denied`; token errors are
//!   `{"error":"invalid_grant","error_description":…}`.
//! - Revocation at `https://{instance}/oauth/revoke` (`client_id`, `client_secret`, `token`)
//!   with the instance's credentials.
//!
//! # Security
//! The instance is a URL a tenant supplies and the server then calls, so it is checked
//! against SSRF (SECURITY.md, "SSRF"): `https` only, a bare origin (no userinfo, path, query or
//! fragment), and every address its host resolves to must be public: outside every block
//! of the IANA IPv4 and IPv6 Special-Purpose Address Registries that is not globally
//! reachable (loopback, private, link-local, CGNAT, unique-local, documentation …), and not
//! multicast. IPv4 carried in IPv6 is judged as that IPv4 address (IPv4-mapped, NAT64
//! `64:ff9b::/96`, 6to4) or refused outright (IPv4-compatible, IPv4-translated, local-use
//! NAT64, Teredo). The check runs before every call to the instance (start, callback,
//! revocation).
//! `ConnectBuilder::allow_private_instances` (in `dravo-connect`)
//! turns it off (and allows `http`) for tests and private deployments. Against DNS rebinding,
//! the default client for instance calls connects only to public addresses; the residual
//! risk with a host's own client is described in SECURITY.md.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

use super::generic::{GenericProvider, RenewalKnob, USER_AGENT_VALUE, error_for_status};
use super::{
    Capabilities, ClientRegistration, CodeFlow, Instance, ProfilePointers, Provider, ProviderError, ProviderErrorKind,
    RegisteredClient, RegistrationRequest,
};
use crate::RefreshTokenRequirement;
use dravo_connect_core::ProviderId;
use dravo_connect_core::Secret;
use dravo_connect_core::http_client::HttpClient;

/// The built-in id.
pub const ID: &str = "mastodon";
/// The profile (Mastodon ≥ 4.3), posting statuses and uploading media.
pub const DEFAULT_SCOPES: &[&str] = &["profile", "write:statuses", "write:media"];
/// What replaces `profile` on servers older than 4.3.
const PROFILE_FALLBACK: &str = "read:accounts";
/// The longest instance parameter accepted.
/// Registers a client at the instance; retried once with `read:accounts` for `profile` when
/// the server refuses the scopes (Mastodon older than 4.3).
///
/// # Errors
/// [`ProviderErrorKind::Rejected`] for a 4xx, `Unavailable` for a 5xx, `InvalidResponse`
/// for an answer without a client id and secret, `Transport` when the call failed.
async fn register(
    http: &dyn HttpClient,
    instance: &Instance,
    r: &RegistrationRequest<'_>,
) -> Result<RegisteredClient, ProviderError> {
    match register_once(http, instance, r, r.scopes).await {
        Err(e) if e.kind() == ProviderErrorKind::Rejected && r.scopes.iter().any(|s| s == "profile") => {
            let fallback: Vec<String> =
                r.scopes.iter().map(|s| if s == "profile" { PROFILE_FALLBACK.to_owned() } else { s.clone() }).collect();
            register_once(http, instance, r, &fallback).await
        }
        other => other,
    }
}

async fn register_once(
    http: &dyn HttpClient,
    instance: &Instance,
    r: &RegistrationRequest<'_>,
    scopes: &[String],
) -> Result<RegisteredClient, ProviderError> {
    let body = serde_json::json!({
        "client_name": r.client_name,
        "redirect_uris": r.redirect_uri,
        "scopes": scopes.join(" "),
        "website": r.website,
    });
    let request = http::Request::post(instance.endpoint("/api/v1/apps"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::USER_AGENT, USER_AGENT_VALUE)
        .body(Bytes::from(body.to_string()))
        .map_err(|_| ProviderError::new(ProviderErrorKind::Transport, "the request could not be built"))?;
    let response = http.send(request).await?;
    if !response.status().is_success() {
        return Err(error_for_status(response.status(), response.body()));
    }
    let invalid = || ProviderError::new(ProviderErrorKind::InvalidResponse, "the app registration answer is unusable");
    let json: Value = serde_json::from_slice(response.body()).map_err(|_| invalid())?;
    let text = |name: &str| {
        json.get(name).and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 4096).map(str::to_owned)
    };
    let (Some(client_id), Some(client_secret)) = (text("client_id"), text("client_secret")) else {
        return Err(invalid());
    };
    Ok(RegisteredClient::new(client_id, Secret::new(client_secret), scopes.to_vec()))
}

/// The scopes to request at an instance whose client was registered with `registered`:
/// `profile` becomes `read:accounts` where the instance only knows that.
fn scopes_for(requested: &[String], registered: &[String]) -> Vec<String> {
    let fallback = !registered.iter().any(|s| s == "profile") && registered.iter().any(|s| s == PROFILE_FALLBACK);
    requested.iter().map(|s| if fallback && s == "profile" { PROFILE_FALLBACK.to_owned() } else { s.clone() }).collect()
}

/// Mastodon: the provider registered under `mastodon` is no server of its own: it
/// registers clients at the instance given at `start` and binds the code flow there
/// ([`ClientRegistration::at`]).
#[derive(Debug, Clone)]
pub struct MastodonProvider {
    /// The instance-less description (its endpoints are placeholders).
    base: GenericProvider,
}

/// The instance-less Mastodon provider (see the module docs).
pub fn provider() -> MastodonProvider {
    MastodonProvider { base: base("https://mastodon.invalid") }
}

fn base(origin: &str) -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        &format!("{origin}/oauth/authorize"),
        &format!("{origin}/oauth/token"),
        &format!("{origin}/api/v1/accounts/verify_credentials"),
        ProfilePointers::new("/id")
            .with_username("/username")
            .with_display_name("/display_name")
            .with_avatar_url("/avatar"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.revoke_url = Some(format!("{origin}/oauth/revoke"));
    p.pkce = true;
    p.token_auth = super::TokenAuth::Body;
    p.knobs.renewal = RenewalKnob::None;
    p.knobs.refresh_token = RefreshTokenRequirement::Never;
    p
}

impl MastodonProvider {
    /// The provider bound to one instance: the generic flow on its endpoints, account ids
    /// and usernames suffixed with `@{authority}`.
    fn bound(instance: &Instance) -> GenericProvider {
        let mut p = base(&instance.origin());
        p.knobs.account_server = Some(instance.authority());
        p
    }
}

impl Provider for MastodonProvider {
    fn id(&self) -> &ProviderId {
        self.base.id()
    }

    fn capabilities(&self) -> Capabilities {
        self.base.capabilities()
    }

    fn registration(&self) -> Option<&dyn ClientRegistration> {
        Some(self)
    }
}

#[async_trait]
impl ClientRegistration for MastodonProvider {
    fn default_scopes(&self) -> &[String] {
        CodeFlow::default_scopes(&self.base)
    }

    async fn register(
        &self,
        http: &dyn HttpClient,
        server: &Instance,
        request: &RegistrationRequest<'_>,
    ) -> Result<RegisteredClient, ProviderError> {
        register(http, server, request).await
    }

    fn at(&self, server: &Instance) -> Arc<dyn Provider> {
        Arc::new(Self::bound(server))
    }

    fn scopes_for(&self, requested: &[String], registered: &[String]) -> Vec<String> {
        scopes_for(requested, registered)
    }

    /// The suffix of the account's `{id}@{authority}`.
    fn account_server<'a>(&self, provider_account_id: &'a str) -> Option<&'a str> {
        provider_account_id.rsplit_once('@').map(|(_, authority)| authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::{AuthorizeRequest, Profile, RefreshModel, Renewal};
    use dravo_connect_core::OAuthErrorReason;
    use dravo_connect_core::http_client::is_public_ip as is_public;

    /// `POST /api/v1/apps` (Mastodon 4.3).
    const APP: &str = r#"{"id":"563419","name":"dravo test","website":"https://app.example.com","scopes":["profile","write:statuses","write:media"],"redirect_uri":"https://app.example.com/v1/oauth/mastodon/callback","redirect_uris":["https://app.example.com/v1/oauth/mastodon/callback"],"vapid_key":"BCk-QqERU0q-CfYZjcuB6lnyyOYfJ2AifKqfeGIm7Z-HiTU5T9eTG5GxVA0_OH5mMlI4UkkDTpaZwozy0TzdZ2M=","client_id":"TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM","client_secret":"ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw","client_secret_expires_at":0}"#;
    /// `POST /oauth/token`.
    const TOKEN: &str = r#"{"access_token":"ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0","token_type":"Bearer","scope":"profile write:statuses write:media","created_at":1573979017}"#;
    /// `GET /api/v1/accounts/verify_credentials` (trimmed).
    const ME: &str = r#"{"id":"14715","username":"trwnh","acct":"trwnh","display_name":"infinite love ⴳ","locked":false,"bot":false,"url":"https://mastodon.social/@trwnh","avatar":"https://files.mastodon.social/accounts/avatars/000/014/715/original/34aa222f4ae2e0a9.png","avatar_static":"https://files.mastodon.social/accounts/avatars/000/014/715/original/34aa222f4ae2e0a9.png","followers_count":821,"source":{"privacy":"public","sensitive":false,"language":"","note":"","fields":[]}}"#;
    /// Doorkeeper's refusal of a spent code.
    const INVALID_GRANT: &str = r#"{"error":"invalid_grant","error_description":"The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}"#;
    /// A pre-4.3 server refusing the `profile` scope.
    const BAD_SCOPE: &str = r#"{"error":"Validation failed: Scopes are invalid"}"#;

    fn social() -> Instance {
        Instance::parse("mastodon.social", false).unwrap()
    }

    fn registration(scopes: &[String]) -> RegistrationRequest<'_> {
        RegistrationRequest::new("dravo test", REDIRECT_URI, scopes, "https://app.example.com")
    }

    #[test]
    fn instances_are_normalised_to_an_https_origin() {
        for raw in ["mastodon.social", "https://mastodon.social", "HTTPS://Mastodon.Social/", "mastodon.social:443"] {
            let i = Instance::parse(raw, false).unwrap();
            assert_eq!(
                (i.origin(), i.authority()),
                ("https://mastodon.social".into(), "mastodon.social".into()),
                "{raw}"
            );
        }
        let i = Instance::parse("mastodon.social:8443", false).unwrap();
        assert_eq!((i.origin(), i.authority()), ("https://mastodon.social:8443".into(), "mastodon.social:8443".into()));
        let i = Instance::parse("mastödon.example", false).unwrap();
        assert_eq!(i.authority(), "xn--mastdon-d1a.example");
        let i = Instance::parse("http://127.0.0.1:4000", true).unwrap();
        assert_eq!((i.origin(), i.authority()), ("http://127.0.0.1:4000".into(), "127.0.0.1:4000".into()));
    }

    #[test]
    fn garbage_instances_are_refused() {
        for raw in [
            "",
            " mastodon.social",
            "https://mastodon.social/@alice",
            "https://mastodon.social/path",
            "https://mastodon.social?x=1",
            "https://mastodon.social#f",
            "https://user@mastodon.social",
            "https://user:pw@mastodon.social",
            "mastodon.social.",
            "https://mastodon..social",
            "ftp://mastodon.social",
            "javascript:alert(1)",
            "//mastodon.social",
            "https:mastodon.social",
            "https:///mastodon.social",
            "mastodon\\.social",
            "mastodon%2esocial",
            "mastodon.social\t",
            "http://mastodon.social",
            "https://",
            &"a".repeat(301),
        ] {
            assert!(Instance::parse(raw, false).is_err(), "{raw:?}");
        }
        assert!(Instance::parse("http://mastodon.social", true).is_ok(), "http is allowed with the knob");
    }

    #[test]
    fn the_address_classifier_refuses_every_non_public_range() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:192.168.0.1",
            "::ffff:0:127.0.0.1",
            "::ffff:0:10.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b:1::1",
            "2002:0a00:0001::1",
            "2002:7f00:0001::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001:db8::1",
            "2001::1",
            "2001:10::1",
            "2001:20::1",
            "3fff::1",
        ];
        for ip in refused {
            assert!(!is_public(ip.parse().unwrap()), "{ip} must be refused");
        }
        let allowed = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.254",
            "2a01:4f8::1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:0808:0808::1",
            "fbff::1",
        ];
        for ip in allowed {
            assert!(is_public(ip.parse().unwrap()), "{ip} must be allowed");
        }
    }

    #[tokio::test]
    async fn loopback_and_private_literals_fail_the_resolution_check() {
        for raw in [
            "localhost",
            "127.0.0.1",
            "[::1]",
            "10.1.2.3",
            "169.254.169.254",
            "[fc00::1]",
            "[::ffff:127.0.0.1]",
            "[::ffff:0:127.0.0.1]",
        ] {
            let i = Instance::parse(raw, false).unwrap();
            assert!(i.check_public().await.is_err(), "{raw}");
        }
        let i = Instance::parse("203.0.114.1", false).unwrap();
        assert!(i.check_public().await.is_ok(), "a public literal needs no resolution");
    }

    #[tokio::test]
    async fn registration_posts_json_and_reads_the_client() {
        let (http, seen) = replay(&[(200, APP)]);
        let scopes: Vec<String> = DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        let r = register(&http, &social(), &registration(&scopes)).await.unwrap();
        assert_eq!(r.client_id, "TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM");
        assert_eq!(r.client_secret.expose_secret(), "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw");
        assert_eq!(r.scopes, scopes);
        let sent = requests(&seen);
        assert_eq!(endpoint(&sent[0]), "https://mastodon.social/api/v1/apps");
        let body: Value = serde_json::from_slice(sent[0].body()).unwrap();
        assert_eq!(body["client_name"], "dravo test");
        assert_eq!(body["redirect_uris"], REDIRECT_URI);
        assert_eq!(body["scopes"], "profile write:statuses write:media");
        assert_eq!(body["website"], "https://app.example.com");
    }

    #[tokio::test]
    async fn an_old_server_is_registered_with_read_accounts_instead_of_profile() {
        let (http, seen) = replay(&[(422, BAD_SCOPE), (200, APP)]);
        let scopes: Vec<String> = DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        let r = register(&http, &social(), &registration(&scopes)).await.unwrap();
        assert_eq!(r.scopes, ["read:accounts", "write:statuses", "write:media"]);
        let sent = requests(&seen);
        let body: Value = serde_json::from_slice(sent[1].body()).unwrap();
        assert_eq!(body["scopes"], "read:accounts write:statuses write:media");
        assert_eq!(scopes_for(&scopes, &r.scopes), r.scopes);
        assert_eq!(scopes_for(&scopes, &scopes), scopes);
    }

    #[tokio::test]
    async fn registration_failures_have_their_kinds() {
        let scopes = vec!["write:statuses".to_owned()];
        let (http, _) = replay(&[(422, BAD_SCOPE), (503, ""), (200, r#"{"client_id":"x"}"#), (200, "<html>")]);
        let i = social();
        let r = registration(&scopes);
        assert_eq!(register(&http, &i, &r).await.err().unwrap().kind(), ProviderErrorKind::Rejected);
        assert_eq!(register(&http, &i, &r).await.err().unwrap().kind(), ProviderErrorKind::Unavailable);
        assert_eq!(register(&http, &i, &r).await.err().unwrap().kind(), ProviderErrorKind::InvalidResponse);
        assert_eq!(register(&http, &i, &r).await.err().unwrap().kind(), ProviderErrorKind::InvalidResponse);
    }

    #[tokio::test]
    async fn the_bound_provider_talks_to_its_instance() {
        let p = MastodonProvider::bound(&social());
        assert!(matches!(p.renewal(), Renewal::None));
        let (base, pairs) = authorize(&p);
        assert_eq!(base, "https://mastodon.social/oauth/authorize");
        assert_eq!(param(&pairs, "scope"), Some("profile write:statuses write:media"));
        assert_eq!(param(&pairs, "code_challenge_method"), Some("S256"));

        let (http, seen) = replay(&[(200, TOKEN), (200, ME), (200, "{}"), (400, INVALID_GRANT)]);
        let s = secret();
        let verifier = token(&"v".repeat(43));
        let tokens = p.exchange_code(ctx(&http, &s), "c0de", REDIRECT_URI, Some(&verifier)).await.unwrap();
        assert_eq!((tokens.expires_in, tokens.refresh_token.is_none()), (None, true));
        let profile = p.fetch_profile(&http, &tokens.access_token).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "14715@mastodon.social".into(),
                username: Some("trwnh@mastodon.social".into()),
                display_name: Some("infinite love ⴳ".into()),
                avatar_url: Some(
                    "https://files.mastodon.social/accounts/avatars/000/014/715/original/34aa222f4ae2e0a9.png".into()
                ),
            }
        );
        p.revoke(ctx(&http, &s), access_only(&tokens.access_token)).await.unwrap();
        let err = p.exchange_code(ctx(&http, &s), "spent", REDIRECT_URI, Some(&verifier)).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("invalid_grant")));
        let sent = requests(&seen);
        assert_eq!(endpoint(&sent[0]), "https://mastodon.social/oauth/token");
        let body = form(&sent[0]);
        assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
        assert_eq!(param(&body, "code_verifier"), Some(verifier.expose_secret().as_str()));
        assert_eq!(endpoint(&sent[1]), "https://mastodon.social/api/v1/accounts/verify_credentials");
        assert_eq!(endpoint(&sent[2]), "https://mastodon.social/oauth/revoke");
        let body = form(&sent[2]);
        assert_eq!(param(&body, "client_id"), Some(CLIENT_ID));
        assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }

    #[test]
    fn the_instance_less_provider_has_no_flow_of_its_own_and_binds_one_per_instance() {
        let p = provider();
        assert!(p.code_flow().is_none() && p.password_login().is_none() && p.targets().is_none());
        let registration = p.registration().unwrap();
        assert_eq!(registration.default_scopes(), DEFAULT_SCOPES);
        assert_eq!(registration.account_server("14715@mastodon.social:8443"), Some("mastodon.social:8443"));
        assert_eq!(registration.account_server("14715"), None);
        let bound = registration.at(&social());
        assert_eq!(bound.id().as_str(), ID);
        let flow = bound.code_flow().unwrap();
        let request = AuthorizeRequest {
            client_id: CLIENT_ID,
            redirect_uri: REDIRECT_URI,
            scopes: flow.default_scopes(),
            state: "s",
            code_challenge: Some(CHALLENGE),
        };
        assert!(flow.authorize_url(&request).unwrap().as_str().starts_with("https://mastodon.social/oauth/authorize?"));
        let caps = p.capabilities();
        assert_eq!(caps.refresh, RefreshModel::None);
        assert_eq!(caps.refresh_token, RefreshTokenRequirement::Never);
        assert!(caps.pkce && caps.revocation);
    }
}
