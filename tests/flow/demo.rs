//! The demo host app (`examples/axum_host.rs`, and `examples/actix_host.rs` with feature
//! `actix`), started in-process on port 0 from a TOML configuration, walked over real HTTP on
//! loopback.

use std::path::PathBuf;

use dravo_connect::test_util::MockProvider;
use serde_json::{Value, json};

#[path = "../../examples/shared/mod.rs"]
pub(crate) mod shared;

fn temp_dir(name: &str) -> PathBuf {
    let mut bytes = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let dir = std::env::temp_dir().join(format!("dravo-{name}-{}", u64::from_le_bytes(bytes)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn bind() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

/// Serves the demo on axum (`examples/axum_host.rs`).
async fn serve(demo: shared::Demo, listener: std::net::TcpListener) {
    let router = shared::axum_app::router(&demo);
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
}

/// Serves the demo on actix-web (`examples/actix_host.rs`).
#[cfg(feature = "actix")]
async fn serve_actix(demo: shared::Demo, listener: std::net::TcpListener) {
    actix_web::rt::spawn(async move { shared::actix_app::serve(listener, &demo).await.unwrap() });
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Opens the demo provider's consent page at `authorize_url` and submits its form with
/// `decision` (`allow` or `deny`), as the browser would; answers where it redirects.
async fn click_on_consent_page(http: &reqwest::Client, authorize_url: &str, decision: &str) -> String {
    let page = http.get(authorize_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!(r#"value="{decision}""#)), "{html}");
    let (_, rest) = html.split_once(r#"name="nonce" value=""#).unwrap();
    let nonce = rest.split('"').next().unwrap();
    let action = url::Url::parse(authorize_url).unwrap().join("/oauth/consent").unwrap();
    let posted = http.post(action).form(&[("nonce", nonce), ("decision", decision)]).send().await.unwrap();
    assert_eq!(posted.status(), 303);
    location(&posted)
}

#[tokio::test]
async fn the_demo_app_from_a_toml_config_walks_start_consent_callback_accounts_over_http() {
    walk_the_demo(serve).await;
}

#[cfg(feature = "actix")]
#[actix_web::test]
async fn the_demo_app_on_actix_web_walks_the_same_flow_over_http() {
    walk_the_demo(serve_actix).await;
}

async fn walk_the_demo<F: std::future::Future<Output = ()>>(
    serve: impl FnOnce(shared::Demo, std::net::TcpListener) -> F,
) {
    let mock = MockProvider::start().await.unwrap();
    let dir = temp_dir("e2e");
    let listener = bind();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let config = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "sqlite://{db}?mode=rwc"
public_base_url = "{base}"
prefix = "/api"
state_secret = "c3RhdGUtc2VjcmV0LWZvci10aGUtZTJlLXRlc3QtMDEyMzQ1"
encryption_key = "ZW5jcnlwdGlvbi1rZXktZm9yLXRoZS1lMmUtdGVzdDA"
outbound_loopback_only = true
state_ttl_secs = 300

[api_keys]
"e2e_key_0123456789abcdef" = "acme"

[[providers]]
id = "acme"
authorize_url = "{authorize}"
token_url = "{token}"
userinfo_url = "{userinfo}"
revoke_url = "{revoke}"
scopes = ["profile", "post"]
pkce = true
token_auth = "basic"

[providers.profile]
id = "/sub"
username = "/preferred_username"
display_name = "/name"
avatar_url = "/picture"
"#,
        db = dir.join("e2e.db").display(),
        authorize = mock.authorize_url(),
        token = mock.token_url(),
        userinfo = mock.userinfo_url(),
        revoke = mock.revoke_url(),
    );
    let demo = shared::build(Some(&config), &dir, Some(addr)).await.unwrap();
    assert_eq!(demo.connect.prefix(), "/api");
    serve(demo, listener).await;
    let http = client();
    let key = "Bearer e2e_key_0123456789abcdef";

    let app = http
        .post(format!("{base}/api/oauth-apps"))
        .header("authorization", key)
        .json(&json!({
            "provider": "acme", "client_id": mock.config().client_id, "client_secret": mock.config().client_secret,
            "allowed_return_urls": [format!("{base}/done")]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(app.status(), 201);
    let app: Value = app.json().await.unwrap();
    assert_eq!(app["redirect_uri"], format!("{base}/api/oauth/acme/callback"));

    let started: Value = http
        .get(format!("{base}/api/oauth/acme/start"))
        .query(&[("return_url", format!("{base}/done")), ("external_id", "user-7".into())])
        .header("authorization", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let authorize_url = started["authorize_url"].as_str().unwrap();
    // The browser goes to the provider, which consents and redirects to our callback.
    let consent = http.get(authorize_url).send().await.unwrap();
    assert_eq!(consent.status(), 302);
    let callback = location(&consent);
    assert!(callback.starts_with(&format!("{base}/api/oauth/acme/callback?")));
    let back = http.get(&callback).send().await.unwrap();
    assert_eq!(back.status(), 302);
    let done = url::Url::parse(&location(&back)).unwrap();
    assert_eq!(done.path(), "/done");
    let q: std::collections::HashMap<_, _> = done.query_pairs().into_owned().collect();
    assert_eq!(q["connected"], "acme");

    let list: Value = http
        .get(format!("{base}/api/accounts"))
        .header("authorization", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["id"], q["account_id"].as_str());
    assert_eq!(list["data"][0]["external_id"], "user-7");
    assert_eq!(list["data"][0]["provider_account_id"], "mock-user-1");

    // The demo page and its host routes (no API key in the browser) work too.
    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("dravo-connect demo") && !html.contains("e2e_key"));
    let providers: Value = http.get(format!("{base}/demo/providers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(providers["providers"], json!(["demo"]));
    // Every configured provider (built-ins too), for the page's greyed-out buttons.
    let configured = providers["configured"].as_array().unwrap();
    assert!(configured.contains(&json!("acme")) && configured.contains(&json!("demo")), "{configured:?}");
    assert!(configured.contains(&json!("tumblr")) && configured.contains(&json!("snapchat")), "{configured:?}");
    let started: Value = http.post(format!("{base}/demo/connect/demo")).send().await.unwrap().json().await.unwrap();
    // The demo provider shows a consent page; its Allow button posts the form back.
    let to_callback = click_on_consent_page(&http, started["authorize_url"].as_str().unwrap(), "allow").await;
    let back = http.get(to_callback).send().await.unwrap();
    assert!(location(&back).starts_with(&format!("{base}/?connected=demo")));
    let accounts: Value = http.get(format!("{base}/demo/accounts")).send().await.unwrap().json().await.unwrap();
    assert_eq!(accounts["data"][0]["provider"], "demo");
    let id = accounts["data"][0]["id"].as_str().unwrap();
    let r = http.post(format!("{base}/demo/accounts/{id}/disconnect")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let accounts: Value = http.get(format!("{base}/demo/accounts")).send().await.unwrap().json().await.unwrap();
    assert_eq!(accounts["data"], json!([]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_demo_without_config_keeps_its_data_and_keys_across_a_restart() {
    let dir = temp_dir("restart");
    let tenant: dravo_connect::TenantId = shared::DEMO_TENANT.parse().unwrap();
    let account_id = {
        let listener = bind();
        let addr = listener.local_addr().unwrap();
        let demo = shared::build(None, &dir, Some(addr)).await.unwrap();
        assert!(demo.generated.iter().any(|g| g.contains("created tenant")));
        let connect = demo.connect.clone();
        let mock = demo.mock.clone();
        serve(demo, listener).await;
        let http = client();
        let started: Value =
            http.post(format!("http://{addr}/demo/connect/demo")).send().await.unwrap().json().await.unwrap();
        let to = mock.consent(started["authorize_url"].as_str().unwrap()).await.unwrap();
        let back = http.get(to.as_str()).send().await.unwrap();
        assert!(location(&back).contains("connected=demo"), "{}", location(&back));
        let list = connect.accounts(&tenant, Default::default(), Default::default()).await.unwrap();
        list.data[0].id.clone()
    };
    assert!(dir.join("keys.toml").exists() && dir.join("connect.db").exists());
    // A second start reads the same keys and database: the sealed token still opens.
    let listener = bind();
    let demo = shared::build(None, &dir, Some(listener.local_addr().unwrap())).await.unwrap();
    assert!(!demo.generated.iter().any(|g| g.contains("generated")), "{:?}", demo.generated);
    let token = demo.connect.access_token(&tenant, &account_id).await.unwrap();
    assert!(token.expose_secret().starts_with("mock_at_"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_demo_page_denied_at_the_consent_page_comes_back_with_access_denied() {
    let dir = temp_dir("deny");
    let listener = bind();
    let addr = listener.local_addr().unwrap();
    let demo = shared::build(None, &dir, Some(addr)).await.unwrap();
    serve(demo, listener).await;
    let http = client();
    let started: Value =
        http.post(format!("http://{addr}/demo/connect/demo")).send().await.unwrap().json().await.unwrap();
    let to_callback = click_on_consent_page(&http, started["authorize_url"].as_str().unwrap(), "deny").await;
    let back = http.get(to_callback).send().await.unwrap();
    assert_eq!(location(&back), format!("http://{addr}/?oauth_error=access_denied"));
    let accounts: Value = http.get(format!("http://{addr}/demo/accounts")).send().await.unwrap().json().await.unwrap();
    assert_eq!(accounts["data"], json!([]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_demo_page_has_a_message_for_every_oauth_error_reason() {
    let html = include_str!("../../examples/shared/demo.html");
    for reason in dravo_connect::OAuthErrorReason::ALL {
        assert!(html.contains(&format!("  {}: \"", reason.as_str())), "no message for {}", reason.as_str());
    }
}
