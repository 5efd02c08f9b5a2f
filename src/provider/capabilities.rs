//! [`Capabilities`]: what a provider does, as a typed table (PKCE, client authentication,
//! scopes, refresh model, lifetimes, revocation, target selection).
//!
//! Every built-in provider answers [`Provider::capabilities`](super::Provider::capabilities)
//! from the same fields that drive its requests, and a test checks each row against the
//! provider's behaviour (the PKCE flag against the `code_challenge` of its authorize URL, the
//! client-id parameter name against its token request, and so on).

use serde::Serialize;

use super::TokenAuth;

/// What one provider does, as far as connecting an account and keeping its token alive go.
///
/// Serialises to JSON (it is part of `GET {prefix}/providers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// How an account is connected: the OAuth flow (`start`, then the callback), or an app
    /// password given to `POST /accounts` (Bluesky).
    pub login: LoginMethod,
    /// Whether the authorize request carries a PKCE S256 challenge (and the exchange the
    /// verifier).
    pub pkce: bool,
    /// How the client authenticates at the token endpoint.
    pub client_auth: ClientAuth,
    /// What joins the scopes in the authorize request (`" "` or `","`).
    pub scope_separator: String,
    /// The name of the client-id parameter of the authorize and token requests (`client_id`,
    /// or TikTok's `client_key`).
    pub client_id_param: String,
    /// What it takes to be issued a refresh token.
    pub refresh_token: RefreshTokenRequirement,
    /// Whether the code exchange is followed by a swap of the short-lived token for a
    /// long-lived one (Meta: Facebook, Instagram, Threads).
    pub long_lived_exchange: bool,
    /// How an access token is renewed.
    pub refresh: RefreshModel,
    /// Typical access-token lifetime in seconds (`None`: unknown or never expires; the
    /// token response's `expires_in` always wins).
    pub access_token_lifetime_secs: Option<u64>,
    /// Typical refresh-token lifetime in seconds, when the provider documents one.
    pub refresh_token_lifetime_secs: Option<u64>,
    /// Whether a token can be revoked at the provider (`DELETE /accounts/{id}` tries it).
    pub revocation: bool,
    /// The kind of target the user picks after consent (Pages, organisations, Instagram
    /// accounts, boards), when one identity can publish as several targets: a connect that
    /// finds any redirects with `selection_id` instead of `connected` (see
    /// [`TargetListing::list_targets`](super::TargetListing::list_targets)).
    pub target_selection: Option<TargetType>,
}

impl Capabilities {
    /// The description that follows from the parts `provider` implements: the login method
    /// (a code flow, else a password login), PKCE, the renewal kind and its minimum age, and
    /// the kind of target it lists; RFC 6749 defaults for the rest
    /// ([`unknown`](Self::unknown)). The default of
    /// [`Provider::capabilities`](super::Provider::capabilities).
    pub fn of<P: super::Provider + ?Sized>(provider: &P) -> Self {
        let flow = provider.code_flow();
        let mut caps = Self::unknown(flow.is_some_and(super::CodeFlow::uses_pkce));
        caps.refresh = match flow.map(super::CodeFlow::renewal) {
            Some(super::Renewal::RefreshGrant(_)) => RefreshModel::Grant { rotation: Rotation::Unknown },
            Some(super::Renewal::Reexchange(r)) => {
                RefreshModel::Reexchange { min_age_secs: r.min_age().map(|d| d.as_secs()) }
            }
            Some(super::Renewal::None) | None => RefreshModel::None,
        };
        if flow.is_none() && provider.password_login().is_some() {
            caps.login = LoginMethod::AppPassword;
            caps.client_auth = ClientAuth::None;
            caps.refresh = RefreshModel::Session { rotation: Rotation::Unknown };
        }
        caps.target_selection = provider.targets().map(super::TargetListing::target_type);
        caps
    }

    /// The capabilities of a provider that says nothing but whether it uses PKCE: RFC 6749
    /// defaults (Basic client auth, space-separated scopes, `client_id`) and everything else
    /// unknown.
    pub fn unknown(pkce: bool) -> Self {
        Self {
            login: LoginMethod::OAuth2,
            pkce,
            client_auth: ClientAuth::Basic,
            scope_separator: " ".to_owned(),
            client_id_param: "client_id".to_owned(),
            refresh_token: RefreshTokenRequirement::Unknown,
            long_lived_exchange: false,
            refresh: RefreshModel::Grant { rotation: Rotation::Unknown },
            access_token_lifetime_secs: None,
            refresh_token_lifetime_secs: None,
            revocation: false,
            target_selection: None,
        }
    }
}

/// How an account of a provider is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum LoginMethod {
    /// The OAuth 2.0 authorization-code flow: `GET /oauth/{provider}/start`, consent at the
    /// provider, then the callback. `POST /accounts` also takes a token obtained elsewhere.
    #[serde(rename = "oauth2")]
    OAuth2,
    /// An app password (`POST /accounts` with `identifier` and `app_password`): Connect
    /// creates a session at the provider, stores its tokens and forgets the password. There
    /// is no OAuth flow and no OAuth app (`start` answers `validation_failed`).
    #[serde(rename = "app_password")]
    AppPassword,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuth {
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic,
    /// Client id and secret as form fields.
    Body,
    /// A public client: the client id only.
    None,
}

impl From<TokenAuth> for ClientAuth {
    fn from(auth: TokenAuth) -> Self {
        match auth {
            TokenAuth::Basic => Self::Basic,
            TokenAuth::Body => Self::Body,
            TokenAuth::None => Self::None,
        }
    }
}

/// What it takes to be issued a refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefreshTokenRequirement {
    /// Every code exchange returns one.
    Always,
    /// Only when this scope is granted (X: `offline.access`).
    Scope {
        /// The scope.
        scope: String,
    },
    /// Only with these authorize parameters (Google: `access_type=offline` and
    /// `prompt=consent`; Reddit: `duration=permanent`). The built-in providers send them.
    AuthorizeParams {
        /// The parameters, as `(name, value)`.
        params: Vec<(String, String)>,
    },
    /// Only for apps the provider approved (LinkedIn's programmatic refresh tokens).
    PartnerApproval,
    /// Never: the provider has no refresh token (see [`RefreshModel`]).
    Never,
    /// Not known (a generic provider).
    Unknown,
}

/// How an access token is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefreshModel {
    /// The RFC 6749 `refresh_token` grant.
    Grant {
        /// Whether each refresh returns a new refresh token.
        rotation: Rotation,
    },
    /// The still-valid access token itself is exchanged for a new one (Facebook
    /// `fb_exchange_token`, Instagram `ig_refresh_token`, Threads `th_refresh_token`), through
    /// [`Reexchange::reexchange`](super::Reexchange::reexchange).
    Reexchange {
        /// The youngest a token may be to be re-exchanged, in seconds (Instagram and Threads
        /// refuse tokens under 24 hours old).
        min_age_secs: Option<u64>,
    },
    /// A session refresh with the refresh token as the credential and no client
    /// authentication (AT Protocol `com.atproto.server.refreshSession`, `Authorization:
    /// Bearer {refreshJwt}`), through [`PasswordLogin::refresh_session`](super::PasswordLogin::refresh_session).
    /// Such accounts have no app; revocation ends the session with the refresh token.
    Session {
        /// Whether each refresh returns a new refresh token.
        rotation: Rotation,
    },
    /// No renewal: the user reconnects before the token expires.
    None,
}

/// Whether a refresh returns a new refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rotation {
    /// Always a new one; the old one stops working (store the new one atomically).
    Always,
    /// Sometimes a new one (store it when sent).
    Sometimes,
    /// Never: the response has no refresh token and the old one stays valid.
    Never,
    /// Not known.
    Unknown,
}

/// The kind of publishable target an account is: the person who logged in, or one of the
/// targets they picked after consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TargetType {
    /// The identity that logged in (every account connected without a selection).
    Person,
    /// A Facebook Page.
    Page,
    /// A LinkedIn organisation.
    Organization,
    /// An Instagram professional account linked to a Facebook Page.
    InstagramAccount,
    /// A Pinterest board.
    Board,
}

impl TargetType {
    /// The wire string (`person`, `page`, `organization`, `instagram_account`, `board`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Page => "page",
            Self::Organization => "organization",
            Self::InstagramAccount => "instagram_account",
            Self::Board => "board",
        }
    }

    /// Parses a wire string.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "person" => Some(Self::Person),
            "page" => Some(Self::Page),
            "organization" => Some(Self::Organization),
            "instagram_account" => Some(Self::InstagramAccount),
            "board" => Some(Self::Board),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::config::build_registry;
    use crate::provider::fixtures::*;
    use crate::provider::{Provider, Renewal};

    const ANSWER: &str = r#"{"access_token":"a1","token_type":"bearer","expires_in":3600,"refresh_token":"r1"}"#;

    /// The built-in providers, Mastodon bound to an instance (the registered one knows none).
    fn builtins() -> Vec<std::sync::Arc<dyn Provider>> {
        build_registry(&[])
            .unwrap()
            .into_iter()
            .map(|p| match p.id().as_str() {
                "mastodon" => {
                    let instance = crate::provider::Instance::parse("mastodon.example", false).unwrap();
                    p.registration().unwrap().at(&instance)
                }
                _ => p,
            })
            .collect()
    }

    #[test]
    fn the_built_in_ids_are_the_designs() {
        let ids: Vec<String> = builtins().iter().map(|p| p.id().to_string()).collect();
        assert_eq!(
            ids,
            [
                "x",
                "linkedin",
                "facebook",
                "instagram",
                "instagram_facebook",
                "threads",
                "youtube",
                "tiktok",
                "pinterest",
                "reddit",
                "bluesky",
                "mastodon"
            ]
        );
    }

    #[test]
    fn the_authorize_url_of_every_provider_matches_its_row() {
        for p in builtins() {
            let caps = p.capabilities();
            let id = p.id().to_string();
            // The row describes the parts the provider implements.
            let derived = Capabilities::of(p.as_ref());
            assert_eq!(caps.login, derived.login, "{id}: login");
            assert_eq!(caps.pkce, derived.pkce, "{id}: PKCE");
            assert_eq!(
                std::mem::discriminant(&caps.refresh),
                std::mem::discriminant(&derived.refresh),
                "{id}: renewal kind"
            );
            if let (RefreshModel::Reexchange { min_age_secs }, RefreshModel::Reexchange { min_age_secs: d }) =
                (caps.refresh, derived.refresh)
            {
                assert_eq!(min_age_secs, d, "{id}: minimum age");
            }
            assert_eq!(caps.target_selection, derived.target_selection, "{id}: targets");
            let Some(flow) = p.code_flow() else {
                // No OAuth flow: a password login, no PKCE.
                assert_eq!(caps.login, LoginMethod::AppPassword, "{id}");
                assert!(p.password_login().is_some() && !caps.pkce, "{id}");
                continue;
            };
            assert_eq!(caps.login, LoginMethod::OAuth2, "{id}");
            let (_, pairs) = authorize(p.as_ref());
            assert_eq!(param(&pairs, "code_challenge").is_some(), caps.pkce, "{id}: PKCE");
            assert_eq!(param(&pairs, &caps.client_id_param), Some(CLIENT_ID), "{id}: client id parameter");
            if caps.client_id_param != "client_id" {
                assert_eq!(param(&pairs, "client_id"), None, "{id}");
            }
            let scope = param(&pairs, "scope").unwrap();
            assert_eq!(scope, flow.default_scopes().join(&caps.scope_separator), "{id}: separator");
            assert!(flow.default_scopes().len() > 1 && scope.contains(caps.scope_separator.as_str()), "{id}");
            match &caps.refresh_token {
                RefreshTokenRequirement::AuthorizeParams { params } => {
                    for (k, v) in params {
                        assert_eq!(param(&pairs, k), Some(v.as_str()), "{id}: {k}");
                    }
                }
                RefreshTokenRequirement::Scope { scope } => {
                    assert!(flow.default_scopes().contains(scope), "{id}: {scope}");
                }
                _ => {}
            }
        }
    }

    #[tokio::test]
    async fn the_token_requests_of_every_provider_match_its_row() {
        for p in builtins() {
            let caps = p.capabilities();
            let id = p.id().to_string();
            let Some(p) = p.code_flow() else {
                app_password_row_matches(p.as_ref(), &caps).await;
                continue;
            };
            let (http, seen) = replay(&[(200, ANSWER), (200, ANSWER)]);
            let s = secret();
            let verifier = token("v".repeat(43).as_str());
            p.exchange_code(ctx(&http, &s), "code", REDIRECT_URI, caps.pkce.then_some(&verifier)).await.unwrap();
            let sent = requests(&seen);
            assert_eq!(sent.len(), if caps.long_lived_exchange { 2 } else { 1 }, "{id}: long-lived exchange");
            let body = form(&sent[0]);
            assert_eq!(param(&body, "code_verifier").is_some(), caps.pkce, "{id}: verifier");
            match caps.client_auth {
                ClientAuth::Basic => {
                    assert!(header(&sent[0], "authorization").unwrap().starts_with("Basic "), "{id}");
                    assert_eq!(param(&body, "client_secret"), None, "{id}");
                }
                ClientAuth::Body => {
                    assert!(header(&sent[0], "authorization").is_none(), "{id}");
                    assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET), "{id}");
                    assert_eq!(param(&body, &caps.client_id_param), Some(CLIENT_ID), "{id}");
                }
                ClientAuth::None => panic!("{id}: no built-in provider is a public client"),
            }

            let (http, seen) = replay(&[(200, ANSWER)]);
            let renewal = p.renewal();
            let sent = |seen| requests(seen);
            match (caps.refresh, renewal) {
                (RefreshModel::Grant { .. }, Renewal::RefreshGrant(grant)) => {
                    grant.refresh(ctx(&http, &s), &token("r0")).await.unwrap();
                    let sent = sent(&seen);
                    assert_eq!(param(&form(&sent[0]), "grant_type"), Some("refresh_token"), "{id}");
                    assert_eq!(sent.len(), 1, "{id}: exactly one renewal request");
                }
                (RefreshModel::Reexchange { .. }, Renewal::Reexchange(swap)) => {
                    assert!(
                        swap.reexchange(ctx(&http, &s), &token("a0")).await.unwrap().refresh_token.is_none(),
                        "{id}"
                    );
                    let sent = sent(&seen);
                    assert_eq!(sent.len(), 1, "{id}: exactly one renewal request");
                    assert_eq!(
                        param(&query(&sent[0]), "access_token").is_some(),
                        id != "facebook" && id != "instagram_facebook",
                        "{id}"
                    );
                    assert_eq!(caps.refresh_token, RefreshTokenRequirement::Never, "{id}");
                }
                (RefreshModel::None, Renewal::None) => {
                    assert_eq!(caps.refresh_token, RefreshTokenRequirement::Never, "{id}");
                }
                (row, renewal) => panic!("{id}: the row says {row:?}, the flow renews by {renewal:?}"),
            }

            let (http, seen) = replay(&[(200, "{}")]);
            let revoked = p.revoke(ctx(&http, &s), access_only(&token("a1"))).await;
            assert_eq!(revoked.is_ok(), caps.revocation, "{id}: revocation");
            assert_eq!(requests(&seen).len(), usize::from(caps.revocation), "{id}");
        }
    }

    /// An app-password provider's row against its behaviour: a session login, no code
    /// exchange, a session refresh with the refresh token as bearer and no client
    /// credentials (rotating), revocation with the refresh token.
    async fn app_password_row_matches(p: &dyn Provider, caps: &Capabilities) {
        let id = p.id().to_string();
        let session = serde_json::json!({
            "did": "did:plc:abc", "handle": "a.test", "accessJwt": "a.e30.s", "refreshJwt": "r2"
        })
        .to_string();
        assert_eq!(caps.client_auth, ClientAuth::None, "{id}");
        assert_eq!(caps.refresh_token, RefreshTokenRequirement::Always, "{id}");
        let login_part = p.password_login().unwrap();
        let (http, seen) = replay(&[(200, &session), (500, ""), (200, &session), (200, "")]);
        let login = login_part.create_session(&http, "a.test", &token("abcd-efgh-ijkl-mnop")).await.unwrap();
        assert!(login.tokens.refresh_token.is_some(), "{id}");
        let refreshed = login_part.refresh_session(&http, &token("r1")).await.unwrap();
        assert_eq!(
            refreshed.refresh_token.is_some(),
            caps.refresh == RefreshModel::Session { rotation: Rotation::Always },
            "{id}: rotation"
        );
        let revoked = login_part.end_session(&http, GrantTokens::new(&token("a2"), Some(&token("r2")))).await;
        assert_eq!(revoked.is_ok(), caps.revocation, "{id}: revocation");
        let sent = requests(&seen);
        assert_eq!(sent.len(), 4, "{id}: login, profile, refresh, end");
        for request in &sent[2..] {
            let auth = header(request, "authorization").unwrap();
            assert!(auth.starts_with("Bearer r"), "{id}: the refresh token is the credential");
            assert!(!auth.contains(CLIENT_SECRET) && !header(request, "authorization").unwrap().starts_with("Basic"));
            assert!(request.body().is_empty(), "{id}: no client credentials in a body");
        }
    }

    #[test]
    fn the_table_serialises_with_snake_case_tags() {
        let caps = crate::provider::reddit::provider().capabilities();
        let json = serde_json::to_value(&caps).unwrap();
        assert_eq!(json["client_auth"], "basic");
        assert_eq!(json["refresh"], serde_json::json!({"kind": "grant", "rotation": "never"}));
        assert_eq!(
            json["refresh_token"],
            serde_json::json!({"kind": "authorize_params", "params": [["duration", "permanent"]]})
        );
        let caps = crate::provider::instagram::provider().capabilities();
        let json = serde_json::to_value(&caps).unwrap();
        assert_eq!(json["refresh"], serde_json::json!({"kind": "reexchange", "min_age_secs": 86400}));
        assert_eq!(json["long_lived_exchange"], true);
        assert_eq!(json["target_selection"], serde_json::Value::Null);
        assert_eq!(json["login"], "oauth2");
        let json = serde_json::to_value(crate::provider::BlueskyProvider::new().capabilities()).unwrap();
        assert_eq!(json["login"], "app_password");
        assert_eq!(json["client_auth"], "none");
        assert_eq!(json["refresh"], serde_json::json!({"kind": "session", "rotation": "always"}));
        assert_eq!(json["refresh_token"], serde_json::json!({"kind": "always"}));
        let caps = crate::provider::instagram_facebook::provider().capabilities();
        assert_eq!(serde_json::to_value(&caps).unwrap()["target_selection"], "instagram_account");
        for t in [
            TargetType::Person,
            TargetType::Page,
            TargetType::Organization,
            TargetType::InstagramAccount,
            TargetType::Board,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(TargetType::parse(t.as_str()), Some(t));
        }
        assert_eq!(TargetType::parse("Page"), None);
    }

    #[tokio::test]
    async fn every_provider_with_target_selection_lists_targets_of_its_kind() {
        let tokens = crate::provider::TokenSet {
            access_token: token("a1"),
            refresh_token: None,
            expires_in: None,
            // LinkedIn lists organisations only with an organisation scope.
            scopes: Some(vec!["w_organization_social".to_owned()]),
        };
        let person = crate::provider::Profile { id: "p".into(), username: None, display_name: None, avatar_url: None };
        for p in builtins() {
            let id = p.id().to_string();
            let Some(listing) = p.targets() else {
                assert_eq!(p.capabilities().target_selection, None, "{id}");
                continue;
            };
            let (http, seen) = replay(&[(200, r#"{"data":[],"items":[],"elements":[]}"#)]);
            let targets = listing.list_targets(&http, &tokens, &person).await.unwrap();
            assert!(targets.is_empty(), "{id}");
            let asked = requests(&seen).len();
            assert!(asked > 0, "{id}: {asked} requests");
            assert_eq!(p.capabilities().target_selection, Some(listing.target_type()), "{id}");
        }
    }
}
