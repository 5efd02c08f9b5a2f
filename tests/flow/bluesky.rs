//! The built-in Bluesky provider through app passwords, its service pointed at the mock's
//! XRPC endpoints (recorded PDS shapes, rotating refresh tokens, the clock shared).

use std::sync::Arc;

use dravo_connect::provider::BuiltinOverrides;
use dravo_connect::store::{AccountStatus, Store};
use dravo_connect::test_util::{MockBehavior, MockConfig, MockUser};
use dravo_connect::{AccountId, ErrorCode, KeyId, Secret};
use dravo_connect_core::secret_box::SecretBox;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
const HANDLE: &str = "alice.bsky.social";
const APP_PASSWORD: &str = "abcd-efgh-ijkl-mnop";

async fn bluesky() -> H {
    let h = H::with(MockConfig::default().with_app_password(APP_PASSWORD), |b| b).await;
    h.mock.set_clock(h.clock.clone());
    h.mock.set_user(MockUser::new(DID, HANDLE, "Alice").with_avatar_url("https://cdn.bsky.app/img/avatar/plain/a.jpg"));
    let connect = dravo_connect::Connect::builder()
        .public_base_url(BASE)
        .api_key(KEY1, tenant("t1"))
        .api_key(KEY2, tenant("t2"))
        .state_key(KeyId::zero(), Secret::new(vec![0x11; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![0x22; 32]))
        .shared_store(h.store.clone())
        .clock(h.clock.clone())
        .outbound_loopback_only(true)
        .browser_binding(false)
        .provider_config(h.mock.provider_config("mock"))
        .provider_config(BuiltinOverrides::new("bluesky").with_service_url(h.mock.base_url()))
        .build()
        .unwrap();
    let app = axum::Router::new().layer(dravo_connect::ConnectLayer::new(connect.clone()));
    H { connect, app, mock: h.mock, clock: h.clock, store: h.store }
}

fn login() -> Value {
    json!({"provider": "bluesky", "identifier": HANDLE, "app_password": APP_PASSWORD, "external_id": "user-1"})
}

async fn register(h: &H) -> AccountId {
    let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(login())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_str().unwrap().parse().unwrap()
}

/// The stored refresh token, opened with the harness's key.
async fn stored_refresh_token(h: &H, id: &AccountId) -> String {
    let record = h.store.get_account(&tenant("t1"), id).await.unwrap().unwrap();
    let boxes = SecretBox::new([(KeyId::zero(), Secret::new(vec![0x22; 32]))]).unwrap();
    boxes
        .open_string(id.as_str(), "refresh_token", record.refresh_token.as_ref().unwrap())
        .unwrap()
        .expose_secret()
        .clone()
}

/// A client for talking to the mock directly (loopback only, no redirects).
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap()
}

/// Presents a refresh token to the mock's `refreshSession` directly: its XRPC error name, or
/// `None` when it is accepted.
async fn refresh_directly(h: &H, refresh_token: &str) -> Option<String> {
    let r = client()
        .post(format!("{}/xrpc/com.atproto.server.refreshSession", h.mock.base_url()))
        .bearer_auth(refresh_token)
        .send()
        .await
        .unwrap();
    if r.status().is_success() {
        return None;
    }
    Some(r.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn an_app_password_registers_the_did_and_handle_and_no_secret_is_answered() {
    let h = bluesky().await;
    let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(login())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let acc = r.json();
    assert_eq!(acc["provider"], "bluesky");
    assert_eq!(acc["provider_account_id"], DID);
    assert_eq!(acc["username"], HANDLE);
    assert_eq!(acc["display_name"], "Alice");
    assert_eq!(acc["avatar_url"], "https://cdn.bsky.app/img/avatar/plain/a.jpg");
    assert_eq!(acc["app_id"], Value::Null);
    assert_eq!(acc["external_id"], "user-1");
    assert_eq!(acc["status"], "active");
    assert_eq!(acc["reconnect_by"], Value::Null, "a refresh token renews it");
    // The expiry is the access JWT's `exp`: the mock's default lifetime, one hour.
    assert_eq!(acc["token_expires_at"], "2026-01-01T01:00:00Z");
    let text = r.text();
    assert!(!text.contains(APP_PASSWORD) && !text.contains("eyJ") && !text.contains("Jwt"), "{text}");
    assert_eq!((h.mock.counts().create_session, h.mock.counts().get_profile), (1, 1));

    // The stored tokens are the session's, sealed: the access token works at the PDS.
    let id: AccountId = acc["id"].as_str().unwrap().parse().unwrap();
    let token = h.connect.access_token(&tenant("t1"), &id).await.unwrap();
    let profile = client()
        .get(format!("{}/xrpc/app.bsky.actor.getProfile?actor={DID}", h.mock.base_url()))
        .bearer_auth(token.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), 200);
    let record = h.store.get_account(&tenant("t1"), &id).await.unwrap().unwrap();
    assert!(record.refresh_token.is_some());

    // Registering the same DID again updates the account (a new session; the old one is
    // ended at the provider).
    let old_refresh = stored_refresh_token(&h, &id).await;
    h.mock.set_user(MockUser::new(DID, "alice.example.com", "Alice B"));
    let mut again = login();
    again["identifier"] = json!(DID);
    let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(again)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["id"], acc["id"]);
    assert_eq!(r.json()["username"], "alice.example.com");
    assert_eq!(h.mock.counts().delete_session, 1);
    assert_eq!(refresh_directly(&h, &old_refresh).await.as_deref(), Some("InvalidToken"));
    assert_ne!(stored_refresh_token(&h, &id).await, old_refresh);
    h.connect.access_token(&tenant("t1"), &id).await.unwrap();
    assert_eq!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn malformed_registrations_are_refused_before_any_provider_call() {
    let h = bluesky().await;
    let cases = [
        (json!({"provider": "bluesky", "identifier": HANDLE}), "together"),
        (json!({"provider": "bluesky", "app_password": APP_PASSWORD}), "together"),
        (
            json!({"provider": "bluesky", "identifier": HANDLE, "app_password": APP_PASSWORD, "access_token": "t"}),
            "mutually exclusive",
        ),
        (
            json!({"provider": "bluesky", "identifier": HANDLE, "app_password": APP_PASSWORD, "refresh_token": "r"}),
            "do not apply",
        ),
        (json!({"provider": "bluesky", "identifier": HANDLE, "app_password": "hunter2"}), "app password"),
        (
            json!({"provider": "bluesky", "identifier": HANDLE, "app_password": "abcd-efgh-ijkl-mnop-qrst"}),
            "app password",
        ),
        (json!({"provider": "bluesky", "identifier": HANDLE, "app_password": "abcd_efgh_ijkl_mnop"}), "app password"),
        (json!({"provider": "bluesky", "identifier": "alice bsky", "app_password": APP_PASSWORD}), "identifier"),
        (json!({"provider": "bluesky", "identifier": "", "app_password": APP_PASSWORD}), "identifier"),
        (json!({"provider": "bluesky", "access_token": "eyJ.a.b"}), "identifier and app_password"),
        (json!({"provider": "bluesky"}), "app_password"),
        (json!({"provider": "mock", "identifier": HANDLE, "app_password": APP_PASSWORD}), "takes no app password"),
    ];
    for (body, message) in cases {
        let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(body.clone())).await;
        r.assert_error(422, "validation_failed");
        let got = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(got.contains(message), "{body}: {got}");
        assert!(!got.contains(APP_PASSWORD) && !got.contains("hunter2"), "{got}");
    }
    let r = h
        .req(
            Method::POST,
            "/v1/accounts",
            Some(KEY1),
            Some(json!({"provider": "bluesky", "identifier": 7, "app_password": APP_PASSWORD})),
        )
        .await;
    r.assert_error(400, "invalid_json");
    assert_eq!(h.mock.counts().create_session, 0);
}

#[tokio::test]
async fn refused_logins_are_invalid_token_and_provider_failures_provider_error() {
    let h = bluesky().await;
    let mut wrong = login();
    wrong["app_password"] = json!("zzzz-zzzz-zzzz-zzzz");
    let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(wrong)).await;
    r.assert_error(422, "invalid_token");
    assert_eq!(r.json()["error"]["message"], "the provider refused the identifier or app password");
    let mut stranger = login();
    stranger["identifier"] = json!("bob.bsky.social");
    h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(stranger)).await.assert_error(422, "invalid_token");

    h.mock.set_behavior(MockBehavior::default().with_session_auth_factor_required(true));
    let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(login())).await;
    r.assert_error(422, "invalid_token");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("sign-in code sent by email"), "{}", r.text());

    for status in [500, 503, 429] {
        h.mock.set_behavior(MockBehavior::default().with_xrpc_status(status));
        let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(login())).await;
        r.assert_error(502, "provider_error");
        assert!(!r.text().contains("Internal Server Error") && !r.text().contains("Rate Limit"), "{}", r.text());
    }
    assert_eq!(h.mock.counts().create_session, 6);
    assert!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bluesky_has_no_oauth_flow_and_no_oauth_app() {
    let h = bluesky().await;
    let r = h.get(&format!("/v1/oauth/bluesky/start?return_url={}", enc(RETURN)), Some(KEY1)).await;
    r.assert_error(422, "validation_failed");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("POST /accounts"), "{}", r.text());
    let mut app = h.app_body();
    app["provider"] = json!("bluesky");
    h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(app)).await.assert_error(422, "validation_failed");
    let providers = h.get("/v1/providers", Some(KEY1)).await.json();
    let bsky = providers["data"].as_array().unwrap().iter().find(|p| p["id"] == "bluesky").unwrap().clone();
    assert_eq!(bsky["capabilities"]["login"], "app_password");
    assert_eq!(bsky["capabilities"]["refresh"], json!({"kind": "session", "rotation": "always"}));
    assert_eq!(bsky["capabilities"]["revocation"], true);
    assert_eq!(bsky["default_scopes"], json!([]));
}

#[tokio::test]
async fn an_expiring_session_is_refreshed_and_the_rotated_token_stored() {
    let h = bluesky().await;
    let id = register(&h).await;
    let t1 = tenant("t1");
    let first_refresh = stored_refresh_token(&h, &id).await;
    let before = h.connect.access_token(&t1, &id).await.unwrap();
    assert_eq!(h.mock.counts().refresh_session, 0, "a fresh token is handed out as is");

    h.clock.advance(time::Duration::minutes(59) + time::Duration::seconds(30));
    let after = h.connect.access_token(&t1, &id).await.unwrap();
    assert_ne!(before.expose_secret(), after.expose_secret());
    assert_eq!(h.mock.counts().refresh_session, 1);
    let record = h.store.get_account(&t1, &id).await.unwrap().unwrap();
    assert_eq!(record.token_expires_at, Some(START + time::Duration::minutes(119) + time::Duration::seconds(30)));
    let second_refresh = stored_refresh_token(&h, &id).await;
    assert_ne!(first_refresh, second_refresh, "the rotated refresh token is stored");
    // The stored token is the new one: no second refresh; the provider refuses the old one.
    assert_eq!(h.connect.access_token(&t1, &id).await.unwrap().expose_secret(), after.expose_secret());
    assert_eq!(h.mock.counts().refresh_session, 1);
    assert_eq!(refresh_directly(&h, &first_refresh).await.as_deref(), Some("ExpiredToken"));

    // A second round uses the newest token.
    h.clock.advance(time::Duration::hours(1));
    h.connect.access_token(&t1, &id).await.unwrap();
    assert_eq!(h.mock.counts().refresh_session, 3, "ours, the direct replay above, ours");
    assert_eq!(refresh_directly(&h, &second_refresh).await.as_deref(), Some("ExpiredToken"));
}

#[tokio::test]
async fn fifty_concurrent_callers_share_one_session_refresh() {
    let h = Arc::new(bluesky().await);
    let id = register(&h).await;
    h.clock.advance(time::Duration::hours(2));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (h, id) = (h.clone(), id.clone());
        tasks.push(tokio::spawn(async move { h.connect.access_token(&tenant("t1"), &id).await.unwrap() }));
    }
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        tokens.insert(t.await.unwrap().expose_secret().clone());
    }
    assert_eq!(tokens.len(), 1, "every caller got the one refreshed token");
    assert_eq!(h.mock.counts().refresh_session, 1);
}

#[tokio::test]
async fn a_gone_session_expires_the_account_and_a_failing_provider_keeps_the_tokens() {
    let h = bluesky().await;
    let id = register(&h).await;
    let t1 = tenant("t1");
    let kept = stored_refresh_token(&h, &id).await;
    h.clock.advance(time::Duration::hours(2));

    h.mock.set_behavior(MockBehavior::default().with_xrpc_status(502));
    let err = h.connect.access_token(&t1, &id).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ProviderError);
    let record = h.store.get_account(&t1, &id).await.unwrap().unwrap();
    assert_eq!(record.status, AccountStatus::Active);
    assert_eq!(stored_refresh_token(&h, &id).await, kept, "a 5xx keeps the tokens");

    for (error, user, identifier) in [
        ("ExpiredToken", None, HANDLE),
        ("InvalidToken", Some(MockUser::new("did:plc:second", "bob.test", "Bob")), "bob.test"),
    ] {
        h.mock.set_behavior(MockBehavior::default());
        let id = match user {
            None => id.clone(),
            Some(user) => {
                h.mock.set_user(user);
                let mut body = login();
                body["identifier"] = json!(identifier);
                let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(body)).await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
                r.json()["id"].as_str().unwrap().parse().unwrap()
            }
        };
        h.mock.set_behavior(MockBehavior::default().with_refresh_session_error(error));
        h.clock.advance(time::Duration::hours(2));
        let err = h.connect.access_token(&t1, &id).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidToken, "{error}");
        let record = h.store.get_account(&t1, &id).await.unwrap().unwrap();
        assert_eq!(record.status, AccountStatus::Expired, "{error}");
        let r = h.get(&format!("/v1/accounts/{id}"), Some(KEY1)).await;
        assert_eq!(r.json()["status"], "expired");
    }
    assert_eq!(h.mock.counts().refresh_session, 3);
}

#[tokio::test]
async fn delete_ends_the_session_at_the_provider() {
    let h = bluesky().await;
    let id = register(&h).await;
    let refresh = stored_refresh_token(&h, &id).await;
    let r = h.req(Method::DELETE, &format!("/v1/accounts/{id}"), Some(KEY1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(h.mock.counts().delete_session, 1);
    assert_eq!(refresh_directly(&h, &refresh).await.as_deref(), Some("InvalidToken"), "the session is gone");

    // Best effort: a failing provider does not block the delete.
    let id = register(&h).await;
    h.mock.set_behavior(MockBehavior::default().with_xrpc_status(500));
    let r = h.req(Method::DELETE, &format!("/v1/accounts/{id}"), Some(KEY1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(h.mock.counts().delete_session, 2);
    h.get(&format!("/v1/accounts/{id}"), Some(KEY1)).await.assert_error(404, "not_found");
}
