//! The built-in X adapter, its endpoints overridden in config to point at the mock serving
//! X's documented response shapes.

use dravo_connect::provider::BuiltinOverrides;
use dravo_connect::test_util::{MockBehavior, MockConfig, MockProfileShape, MockUser};
use http::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

async fn x_harness() -> H {
    let cfg = MockConfig::default().with_profile_shape(MockProfileShape::X);
    let h = H::with(cfg, |b| b).await;
    let base = h.mock.base_url();
    let over = BuiltinOverrides::new("x")
        .with_authorize_url(format!("{base}/oauth/authorize"))
        .with_token_url(format!("{base}/oauth/token"))
        .with_userinfo_url(format!("{base}/2/users/me"))
        .with_revoke_url(format!("{base}/oauth/revoke"));
    let connect = dravo_connect::Connect::builder()
        .public_base_url(BASE)
        .api_key(KEY1, tenant("t1"))
        .state_key(dravo_connect::KeyId::zero(), dravo_connect::Secret::new(vec![0x11; 32]))
        .encryption_key(dravo_connect::KeyId::zero(), dravo_connect::Secret::new(vec![0x22; 32]))
        .shared_store(h.store.clone())
        .clock(h.clock.clone())
        .outbound_loopback_only(true)
        .browser_binding(false)
        .provider_config(over)
        .build()
        .unwrap();
    let app = axum::Router::new().layer(dravo_connect::ConnectLayer::new(connect.clone()));
    H { connect, app, mock: h.mock, clock: h.clock, store: h.store }
}

#[tokio::test]
async fn the_x_adapter_runs_the_flow_against_xs_documented_shapes() {
    let h = x_harness().await;
    h.mock.set_user(
        MockUser::new("2244994945", "XDevelopers", "X Dev")
            .with_avatar_url("https://pbs.twimg.com/profile_images/x_normal.jpg"),
    );
    let mut body = h.app_body();
    body["provider"] = json!("x");
    let r = h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["redirect_uri"], format!("{BASE}/v1/oauth/x/callback"));
    let r = h.get(&format!("/v1/oauth/x/start?return_url={}", enc(RETURN)), Some(KEY1)).await;
    let url = url::Url::parse(r.json()["authorize_url"].as_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["scope"], "tweet.read users.read tweet.write offline.access");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    let to = h.mock.consent(url.as_str()).await.unwrap();
    assert_eq!(to.path(), "/v1/oauth/x/callback");
    let r = h.callback(&format!("{}?{}", to.path(), to.query().unwrap())).await;
    assert_eq!(r.location_param("connected").as_deref(), Some("x"), "{:?}", r.header("location"));
    let acc = &h.get("/v1/accounts", Some(KEY1)).await.json()["data"][0];
    assert_eq!(acc["provider_account_id"], "2244994945");
    assert_eq!(acc["username"], "XDevelopers");
    assert_eq!(acc["display_name"], "X Dev");
    assert_eq!(acc["avatar_url"], "https://pbs.twimg.com/profile_images/x_normal.jpg");
    // Rotating refresh: two refreshes, each with the newest refresh token.
    let id: dravo_connect::AccountId = acc["id"].as_str().unwrap().parse().unwrap();
    for n in 1..=2 {
        h.clock.advance(time::Duration::hours(3));
        h.connect.access_token(&tenant("t1"), &id).await.unwrap();
        assert_eq!(h.mock.counts().token_refresh, n);
    }
    // Revoke on delete: X's endpoint takes both tokens, each with its hint.
    let r = h.req(Method::DELETE, &format!("/v1/accounts/{id}"), Some(KEY1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let hints: Vec<_> = h.mock.revocations().into_iter().map(|r| r.hint).collect();
    assert_eq!(hints, [Some("refresh_token".to_owned()), Some("access_token".to_owned())]);
}

#[tokio::test]
async fn an_x_token_error_is_token_exchange_failed() {
    let h = x_harness().await;
    let mut body = h.app_body();
    body["provider"] = json!("x");
    h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await;
    let r = h.get(&format!("/v1/oauth/x/start?return_url={}", enc(RETURN)), Some(KEY1)).await;
    let url = r.json()["authorize_url"].as_str().unwrap().to_owned();
    let to = h.mock.consent(&url).await.unwrap();
    h.mock.set_behavior(MockBehavior::default().with_token_error_in_200(true));
    let r = h.callback(&format!("{}?{}", to.path(), to.query().unwrap())).await;
    assert_eq!(r.location_param("oauth_error").as_deref(), Some("token_exchange_failed"));
}
