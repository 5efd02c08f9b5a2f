//! Mastodon on any instance: the mock acts as an instance on loopback (with
//! `allow_private_instances` on), and the SSRF guard refuses private instances with it off.

use dravo_connect::store::ProviderStateStore;
use dravo_connect::test_util::{MockBehavior, MockConfig};
use dravo_connect::{AccountId, Connect, KeyId, Revocation, Secret, StartParams};
use http::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

/// The mock as a Mastodon instance, and a Connect that allows private instances.
async fn instance() -> H {
    H::with(MockConfig::mastodon(), |b| b.allow_private_instances(true)).await
}

fn app_body() -> serde_json::Value {
    // No client credentials: they come from each instance.
    json!({"provider": "mastodon", "name": "Acme Social", "allowed_return_urls": [RETURN]})
}

async fn create_app(h: &H, key: &str) -> String {
    let r = h.req(Method::POST, "/v1/oauth-apps", Some(key), Some(app_body())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["redirect_uri"], format!("{BASE}/v1/oauth/mastodon/callback"));
    r.json()["id"].as_str().unwrap().to_owned()
}

fn start_uri(instance: &str) -> String {
    format!("/v1/oauth/mastodon/start?return_url={}&instance={}", enc(RETURN), enc(instance))
}

/// Starts at the mock instance; the authorize URL.
async fn start(h: &H, key: &str) -> String {
    let r = h.get(&start_uri(&h.mock.base_url()), Some(key)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!r.text().contains(&h.mock.config().client_secret), "the instance's secret in an answer");
    r.json()["authorize_url"].as_str().unwrap().to_owned()
}

/// Consents at the mock instance; the callback path and query.
async fn consent(h: &H, authorize_url: &str) -> String {
    let to = h.mock.consent(authorize_url).await.unwrap();
    assert!(to.as_str().starts_with(&format!("{BASE}/v1/oauth/mastodon/callback?")), "{to}");
    format!("{}?{}", to.path(), to.query().unwrap())
}

fn authority(h: &H) -> String {
    h.mock.base_url().trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn a_flow_registers_at_the_instance_once_and_connects_an_instance_qualified_account() {
    let h = instance().await;
    create_app(&h, KEY1).await;
    let url = start(&h, KEY1).await;
    let authorize = url::Url::parse(&url).unwrap();
    assert_eq!(authorize.as_str().split('?').next().unwrap(), format!("{}/oauth/authorize", h.mock.base_url()));
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], h.mock.config().client_id, "the instance's client, not the app's");
    assert_eq!(q["scope"], "profile write:statuses write:media");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], format!("{BASE}/v1/oauth/mastodon/callback"));

    let registrations = h.mock.app_registrations();
    assert_eq!(registrations.len(), 1);
    assert_eq!(registrations[0].client_name, "Acme Social");
    assert_eq!(registrations[0].redirect_uris, [format!("{BASE}/v1/oauth/mastodon/callback")]);
    assert_eq!(registrations[0].scopes, ["profile", "write:statuses", "write:media"]);
    assert_eq!(registrations[0].website.as_deref(), Some(BASE));

    let r = h.callback(&consent(&h, &url).await).await;
    assert_eq!(r.location_param("connected").as_deref(), Some("mastodon"), "{:?}", r.header("location"));
    let list = h.get("/v1/accounts", Some(KEY1)).await;
    let acc = &list.json()["data"][0];
    assert_eq!(acc["provider"], "mastodon");
    assert_eq!(acc["provider_account_id"], format!("mock-user-1@{}", authority(&h)));
    assert_eq!(acc["username"], format!("mockuser@{}", authority(&h)));
    assert_eq!(acc["display_name"], "Mock User");
    assert_eq!(acc["token_expires_at"], serde_json::Value::Null, "Mastodon tokens do not expire");
    assert!(!list.text().contains(&h.mock.config().client_secret));

    // A second flow (the instance given with a trailing slash) reuses the registration and
    // reconnects the same account.
    let r = h.get(&start_uri(&format!("{}/", h.mock.base_url())), Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let url = r.json()["authorize_url"].as_str().unwrap().to_owned();
    let r = h.callback(&consent(&h, &url).await).await;
    assert_eq!(r.location_param("connected").as_deref(), Some("mastodon"));
    assert_eq!(h.mock.counts().app_registrations, 1, "one registration per (app, instance)");
    assert_eq!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"].as_array().unwrap().len(), 1);

    // Another tenant's app registers its own client.
    create_app(&h, KEY2).await;
    start(&h, KEY2).await;
    assert_eq!(h.mock.counts().app_registrations, 2);
}

#[tokio::test]
async fn twenty_concurrent_first_starts_register_once() {
    let h = instance().await;
    create_app(&h, KEY1).await;
    let uri = start_uri(&h.mock.base_url());
    let results = crate::futures_join_all((0..20).map(|_| h.get(&uri, Some(KEY1)))).await;
    assert!(results.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(h.mock.counts().app_registrations, 1);
}

#[tokio::test]
async fn concurrent_first_starts_on_two_connects_sharing_a_store_keep_one_registration() {
    let h = instance().await;
    create_app(&h, KEY1).await;
    // A second Connect (another app instance) over the same store, with an empty cache.
    let other = Connect::builder()
        .public_base_url(BASE)
        .api_key(KEY1, tenant("t1"))
        .state_key(KeyId::zero(), Secret::new(vec![0x11; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![0x22; 32]))
        .shared_store(h.store.clone())
        .outbound_loopback_only(true)
        .browser_binding(false)
        .allow_private_instances(true)
        .build()
        .unwrap();
    let params = || StartParams::new(RETURN).instance(h.mock.base_url());
    let t = tenant("t1");
    let mastodon = "mastodon".parse().unwrap();
    let (a, b) = tokio::join!(h.connect.start(&t, &mastodon, params()), other.start(&t, &mastodon, params()));
    let (a, b) = (a.unwrap(), b.unwrap());
    let client =
        |url: &str| url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == "client_id").unwrap().1.into_owned();
    assert_eq!(client(&a.authorize_url), client(&b.authorize_url));
    let app_id = h.get("/v1/oauth-apps", Some(KEY1)).await.json()["data"][0]["id"].as_str().unwrap().parse().unwrap();
    let kept =
        h.store.get_provider_state(&t, &app_id, &"mastodon".parse().unwrap(), &authority(&h)).await.unwrap().unwrap();
    let meta: serde_json::Value = serde_json::from_str(&kept.metadata).unwrap();
    assert_eq!(meta["origin"], h.mock.base_url());
    assert!(h.mock.counts().app_registrations <= 2);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_registration_survives_a_new_connect_over_the_same_sqlite_store() {
    use dravo_connect::store::SqliteStore;
    use dravo_connect::test_util::MockProvider;
    let dir = std::env::temp_dir().join(format!("dravo-mastodon-{}", dravo_connect::FlowId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("m.db").display());
    let mock = MockProvider::start_with(MockConfig::mastodon()).await.unwrap();
    let build = |store: SqliteStore| {
        Connect::builder()
            .public_base_url(BASE)
            .state_key(KeyId::zero(), Secret::new(vec![5; 32]))
            .encryption_key(KeyId::zero(), Secret::new(vec![6; 32]))
            .store(store)
            .outbound_loopback_only(true)
            .browser_binding(false)
            .allow_private_instances(true)
            .build()
            .unwrap()
    };
    let t = tenant("t1");
    let first = build(SqliteStore::connect(&url).await.unwrap());
    let new = dravo_connect::NewApp::new("mastodon".parse().unwrap(), "", "", vec![RETURN.to_owned()]);
    first.create_app(&t, new).await.unwrap();
    first.start(&t, &"mastodon".parse().unwrap(), StartParams::new(RETURN).instance(mock.base_url())).await.unwrap();
    drop(first);
    let second = build(SqliteStore::connect(&url).await.unwrap());
    let started = second
        .start(&t, &"mastodon".parse().unwrap(), StartParams::new(RETURN).instance(mock.base_url()))
        .await
        .unwrap();
    assert_eq!(mock.counts().app_registrations, 1, "the stored registration was reused");
    // And the flow completes on it: the callback opens the stored, sealed secret.
    let to = mock.consent(&started.authorize_url).await.unwrap();
    let raw = std::fs::read(dir.join("m.db")).unwrap();
    let secret = mock.config().client_secret.as_bytes();
    assert!(!raw.windows(secret.len()).any(|w| w == secret), "the instance's secret is sealed at rest");
    let app = axum::Router::new().layer(dravo_connect::ConnectLayer::new(second.clone()));
    let res = tower::ServiceExt::oneshot(
        app,
        http::Request::get(format!("{}?{}", to.path(), to.query().unwrap())).body(axum::body::Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("connected=mastodon"), "{location}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn private_loopback_and_http_instances_are_refused_without_the_knob() {
    let h = H::with(MockConfig::mastodon(), |b| b).await;
    create_app(&h, KEY1).await;
    for instance in [
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "10.0.0.1".to_owned(),
        "169.254.169.254".to_owned(),
        "[::1]".to_owned(),
        "[fc00::1]".to_owned(),
        "[::ffff:127.0.0.1]".to_owned(),
        // IPv4 carried in IPv6: translated (RFC 2765), NAT64 well-known and local-use,
        // 6to4, IPv4-compatible and Teredo.
        "[::ffff:0:127.0.0.1]".to_owned(),
        "[::ffff:0:7f00:1]".to_owned(),
        "[64:ff9b::127.0.0.1]".to_owned(),
        "[64:ff9b:1::a00:1]".to_owned(),
        "[2002:7f00:1::1]".to_owned(),
        "[::127.0.0.1]".to_owned(),
        "[2001:0:a00:1::f5ff:fffe]".to_owned(),
        authority(&h),
    ] {
        let r = h.get(&start_uri(&instance), Some(KEY1)).await;
        r.assert_error(422, "validation_failed");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("address"), "{instance}: {}", r.text());
    }
    let r = h.get(&start_uri(&h.mock.base_url()), Some(KEY1)).await;
    r.assert_error(422, "validation_failed");
    assert!(r.text().contains("https"), "{}", r.text());
    assert_eq!(h.mock.counts().total, 0, "nothing was called");
}

#[tokio::test]
async fn a_missing_garbage_or_misplaced_instance_is_a_validation_error() {
    let h = instance().await;
    create_app(&h, KEY1).await;
    h.create_app(KEY1).await;
    let r = h.get(&format!("/v1/oauth/mastodon/start?return_url={}", enc(RETURN)), Some(KEY1)).await;
    r.assert_error(422, "validation_failed");
    assert!(r.text().contains("instance is required"));
    for garbage in ["", "https://mastodon.social/@alice", "user@mastodon.social", "ftp://x.example", "a b", "..."] {
        h.get(&start_uri(garbage), Some(KEY1)).await.assert_error(422, "validation_failed");
    }
    let r =
        h.get(&format!("/v1/oauth/mock/start?return_url={}&instance=mastodon.social", enc(RETURN)), Some(KEY1)).await;
    r.assert_error(422, "validation_failed");
    assert!(r.text().contains("no instance"));
    // Registering an account from a token needs the instance too: refused.
    let r = h
        .req(Method::POST, "/v1/accounts", Some(KEY1), Some(json!({"provider": "mastodon", "access_token": "t"})))
        .await;
    r.assert_error(422, "validation_failed");
    assert_eq!(h.mock.counts().total, 0);
}

#[tokio::test]
async fn a_refused_registration_is_a_provider_error_and_is_retried_next_time() {
    let h = instance().await;
    create_app(&h, KEY1).await;
    h.mock.set_behavior(MockBehavior::default().with_app_registration_status(503));
    h.get(&start_uri(&h.mock.base_url()), Some(KEY1)).await.assert_error(502, "provider_error");
    h.mock.set_behavior(MockBehavior::default());
    start(&h, KEY1).await;
    assert_eq!(h.mock.counts().app_registrations, 2);
}

#[tokio::test]
async fn a_denial_redirects_with_access_denied() {
    let h = instance().await;
    create_app(&h, KEY1).await;
    let url = start(&h, KEY1).await;
    h.mock.set_behavior(MockBehavior::default().with_deny(true));
    let r = h.callback(&consent(&h, &url).await).await;
    assert_eq!(r.location_param("oauth_error").as_deref(), Some("access_denied"));
    assert_eq!(h.mock.counts().token, 0);
}

#[tokio::test]
async fn a_spent_code_is_a_token_exchange_failure() {
    let h = instance().await;
    create_app(&h, KEY1).await;
    let url = start(&h, KEY1).await;
    h.mock.set_behavior(MockBehavior::default().with_token_status(400));
    let r = h.callback(&consent(&h, &url).await).await;
    assert_eq!(r.location_param("oauth_error").as_deref(), Some("token_exchange_failed"));
}

#[tokio::test]
async fn disconnecting_revokes_at_the_instance_with_the_instances_client() {
    let h = instance().await;
    create_app(&h, KEY1).await;
    let url = start(&h, KEY1).await;
    h.callback(&consent(&h, &url).await).await;
    let id: AccountId =
        h.get("/v1/accounts", Some(KEY1)).await.json()["data"][0]["id"].as_str().unwrap().parse().unwrap();
    let t = tenant("t1");
    let token = h.connect.access_token(&t, &id).await.unwrap();
    // The mock authenticates the revocation with the client it registered: a wrong client
    // would be a 401 and `Failed`.
    assert_eq!(h.connect.disconnect(&t, &id).await.unwrap(), Revocation::Revoked);
    assert_eq!(h.mock.counts().revoke, 1);
    let http = dravo_connect::http_client::ReqwestClient::new(
        dravo_connect::http_client::ReqwestClientOptions::default().with_loopback_only(true),
    )
    .unwrap();
    let probe = http::Request::get(format!("{}/api/v1/accounts/verify_credentials", h.mock.base_url()))
        .header("authorization", format!("Bearer {}", token.expose_secret()))
        .body(bytes::Bytes::new())
        .unwrap();
    let answer = dravo_connect::http_client::HttpClient::send(&http, probe).await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "the token is dead at the instance");
}

#[tokio::test]
async fn deleting_the_app_deletes_its_registrations() {
    let h = instance().await;
    let app = create_app(&h, KEY1).await;
    start(&h, KEY1).await;
    let app_id = app.parse().unwrap();
    let t = tenant("t1");
    assert!(
        h.store.get_provider_state(&t, &app_id, &"mastodon".parse().unwrap(), &authority(&h)).await.unwrap().is_some()
    );
    let r = h.req(Method::DELETE, &format!("/v1/oauth-apps/{app}"), Some(KEY1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        h.store.get_provider_state(&t, &app_id, &"mastodon".parse().unwrap(), &authority(&h)).await.unwrap().is_none()
    );
}

#[tokio::test]
async fn a_key_rotation_reseals_the_instance_client_and_flows_go_on_with_the_new_key_only() {
    let h = instance().await;
    create_app(&h, KEY1).await;
    let url = start(&h, KEY1).await;
    h.callback(&consent(&h, &url).await).await;
    let with_keys = |keys: &[(&str, u8)]| {
        let mut b = Connect::builder()
            .public_base_url(BASE)
            .api_key(KEY1, tenant("t1"))
            .state_key(KeyId::zero(), Secret::new(vec![0x11; 32]))
            .shared_store(h.store.clone())
            .outbound_loopback_only(true)
            .browser_binding(false)
            .allow_private_instances(true);
        for (id, byte) in keys {
            b = b.encryption_key(id.parse().unwrap(), Secret::new(vec![*byte; 32]));
        }
        b.build().unwrap()
    };
    // The harness seals with key id 0 (bytes 0x22); the new key goes first.
    let rotated = with_keys(&[("e2", 0x33), ("0", 0x22)]);
    let report = rotated.reseal_secrets().await.unwrap();
    assert_eq!((report.registrations_checked, report.registrations_resealed, report.failed), (1, 1, 0));
    let again = rotated.reseal_secrets().await.unwrap();
    assert_eq!((again.registrations_checked, again.registrations_resealed), (1, 0));

    // With the old key gone, a new Connect still opens the instance's client from the store.
    let only_new = with_keys(&[("e2", 0x33)]);
    let t = tenant("t1");
    let started = only_new
        .start(&t, &"mastodon".parse().unwrap(), StartParams::new(RETURN).instance(h.mock.base_url()))
        .await
        .unwrap();
    assert_eq!(h.mock.counts().app_registrations, 1, "no new registration");
    let to = h.mock.consent(&started.authorize_url).await.unwrap();
    let app = axum::Router::new().layer(dravo_connect::ConnectLayer::new(only_new.clone()));
    let res = tower::ServiceExt::oneshot(
        app,
        http::Request::get(format!("{}?{}", to.path(), to.query().unwrap())).body(axum::body::Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    assert!(res.headers()["location"].to_str().unwrap().contains("connected=mastodon"));
}

/// With browser binding (the default for an https base URL) `start` answers our hop; the hop
/// must send the browser to the flow's instance with the instance's client, not to the
/// registry's instance-less provider.
#[tokio::test]
async fn with_browser_binding_the_hop_sends_the_browser_to_the_flows_instance() {
    let h = H::with(MockConfig::mastodon(), |b| b.allow_private_instances(true).browser_binding(true)).await;
    create_app(&h, KEY1).await;
    let hop = url::Url::parse(&start(&h, KEY1).await).unwrap();
    assert_eq!(hop.path(), "/v1/oauth/mastodon/go");
    let r = h.get(&format!("{}?{}", hop.path(), hop.query().unwrap()), None).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    let to = r.location();
    assert_eq!(to.as_str().split('?').next().unwrap(), format!("{}/oauth/authorize", h.mock.base_url()));
    let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], h.mock.config().client_id, "the instance's client");
    assert_eq!(q["code_challenge_method"], "S256");
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let cb = consent(&h, to.as_str()).await;
    let res = h.send(http::Request::get(cb).header("cookie", cookie).body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(res.location_param("connected").as_deref(), Some("mastodon"), "{:?}", res.header("location"));
}
