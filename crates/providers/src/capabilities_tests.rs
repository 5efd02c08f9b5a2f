//! The capability table of every built-in provider, checked against what it does.

use crate::config::build_registry;
use crate::fixtures::*;
use crate::{Provider, Renewal};
use dravo_connect_core::provider::*;

const ANSWER: &str = r#"{"access_token":"a1","token_type":"bearer","expires_in":3600,"refresh_token":"r1"}"#;

/// The built-in providers, Mastodon bound to an instance (the registered one knows none).
fn builtins() -> Vec<std::sync::Arc<dyn Provider>> {
    build_registry(&[])
        .unwrap()
        .into_iter()
        .map(|p| match p.id().as_str() {
            "mastodon" => {
                let instance = crate::Instance::parse("mastodon.example", false).unwrap();
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
            "mastodon",
            "google_business",
            "discord",
            "twitch",
            "tumblr",
            "snapchat"
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
        // One default scope (Google Business Profile) has no separator to show.
        assert!(flow.default_scopes().len() == 1 || scope.contains(caps.scope_separator.as_str()), "{id}");
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
            other => panic!("{id}: unknown client auth {other:?}"),
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
                assert!(swap.reexchange(ctx(&http, &s), &token("a0")).await.unwrap().refresh_token.is_none(), "{id}");
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
                // Never issued, or (Snapchat) not documented and never used.
                let unused = [RefreshTokenRequirement::Never, RefreshTokenRequirement::Unknown];
                assert!(unused.contains(&caps.refresh_token), "{id}");
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
    let caps = crate::reddit::provider().capabilities();
    let json = serde_json::to_value(&caps).unwrap();
    assert_eq!(json["client_auth"], "basic");
    assert_eq!(json["refresh"], serde_json::json!({"kind": "grant", "rotation": "never"}));
    assert_eq!(
        json["refresh_token"],
        serde_json::json!({"kind": "authorize_params", "params": [["duration", "permanent"]]})
    );
    let caps = crate::instagram::provider().capabilities();
    let json = serde_json::to_value(&caps).unwrap();
    assert_eq!(json["refresh"], serde_json::json!({"kind": "reexchange", "min_age_secs": 86400}));
    assert_eq!(json["long_lived_exchange"], true);
    assert_eq!(json["target_selection"], serde_json::Value::Null);
    assert_eq!(json["login"], "oauth2");
    let json = serde_json::to_value(crate::BlueskyProvider::new().capabilities()).unwrap();
    assert_eq!(json["login"], "app_password");
    assert_eq!(json["client_auth"], "none");
    assert_eq!(json["refresh"], serde_json::json!({"kind": "session", "rotation": "always"}));
    assert_eq!(json["refresh_token"], serde_json::json!({"kind": "always"}));
    let caps = crate::instagram_facebook::provider().capabilities();
    assert_eq!(serde_json::to_value(&caps).unwrap()["target_selection"], "instagram_account");
    for t in [
        TargetType::Person,
        TargetType::Page,
        TargetType::Organization,
        TargetType::InstagramAccount,
        TargetType::Board,
        TargetType::Location,
        TargetType::Guild,
        TargetType::Webhook,
        TargetType::Blog,
    ] {
        assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        assert_eq!(TargetType::parse(t.as_str()), Some(t));
    }
    assert_eq!(TargetType::parse("Page"), None);
}

#[tokio::test]
async fn every_provider_with_target_selection_lists_targets_of_its_kind() {
    let tokens = crate::TokenSet {
        access_token: token("a1"),
        refresh_token: None,
        expires_in: None,
        // LinkedIn lists organisations only with an organisation scope, Discord servers only
        // with `guilds`.
        scopes: Some(vec!["w_organization_social".to_owned(), "guilds".to_owned()]),
    };
    let person = crate::Profile { id: "p".into(), username: None, display_name: None, avatar_url: None };
    for p in builtins() {
        let id = p.id().to_string();
        let Some(listing) = p.targets() else {
            assert_eq!(p.capabilities().target_selection, None, "{id}");
            continue;
        };
        // Discord's server listing is a bare list.
        let empty = match id.as_str() {
            "discord" => "[]",
            _ => r#"{"data":[],"items":[],"elements":[],"response":{"user":{"blogs":[]}}}"#,
        };
        let (http, seen) = replay(&[(200, empty)]);
        let targets = listing.list_targets(&http, &tokens, &person).await.unwrap();
        assert!(targets.is_empty(), "{id}");
        let asked = requests(&seen).len();
        assert!(asked > 0, "{id}: {asked} requests");
        assert_eq!(p.capabilities().target_selection, Some(listing.target_type()), "{id}");
    }
}
