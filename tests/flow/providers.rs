//! The built-in providers through the whole router: `GET /v1/providers`, and connect flows of
//! built-in adapters answered by recorded-shape fixtures (a closure HTTP client on the
//! overridden loopback endpoints: nothing leaves the machine).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dravo_connect::http_client::HttpError;
use dravo_connect::provider::BuiltinOverrides;
use dravo_connect::store::Store;
use dravo_connect::test_util::{MockConfig, MockTokenKind};
use dravo_connect::{AccountId, KeyId, OAuthErrorReason, Revocation, Secret};
use dravo_connect_core::secret_box::SecretBox;
use http::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn the_provider_list_shows_every_provider_with_its_scopes_pkce_and_capabilities() {
    let h = H::new().await;
    let r = h.get("/v1/providers", Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = r.json();
    assert_eq!(body["next_cursor"], serde_json::Value::Null);
    let data = body["data"].as_array().unwrap();
    let ids: Vec<&str> = data.iter().map(|p| p["id"].as_str().unwrap()).collect();
    for id in [
        "discord",
        "facebook",
        "google_business",
        "instagram",
        "instagram_facebook",
        "linkedin",
        "mock",
        "pinterest",
        "reddit",
        "snapchat",
        "threads",
        "tiktok",
        "tumblr",
        "twitch",
        "x",
        "youtube",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "sorted by id");
    let tiktok = data.iter().find(|p| p["id"] == "tiktok").unwrap();
    assert_eq!(tiktok["default_scopes"], json!(["user.info.basic", "user.info.profile", "video.publish"]));
    assert_eq!(tiktok["pkce"], false);
    assert_eq!(tiktok["capabilities"]["client_id_param"], "client_key");
    assert_eq!(tiktok["capabilities"]["scope_separator"], ",");
    let x = data.iter().find(|p| p["id"] == "x").unwrap();
    assert_eq!(x["pkce"], true);
    assert_eq!(x["capabilities"]["refresh"], json!({"kind": "grant", "rotation": "always"}));
    assert_eq!(x["capabilities"]["refresh_token"], json!({"kind": "scope", "scope": "offline.access"}));
    let mock = data.iter().find(|p| p["id"] == "mock").unwrap();
    assert_eq!(mock["pkce"], true);
    assert!(!r.text().contains("secret"), "no credential of any kind");
}

#[tokio::test]
async fn the_provider_list_needs_a_key_and_answers_get_only() {
    let h = H::new().await;
    h.get("/v1/providers", None).await.assert_error(401, "unauthorized");
    h.get("/v1/providers", Some("not-a-key")).await.assert_error(401, "unauthorized");
    let r = h.req(Method::POST, "/v1/providers", Some(KEY1), Some(json!({}))).await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET"));
    h.get("/v1/providers?a=1&a=2", Some(KEY1)).await.assert_error(400, "invalid_request");
    // Not a Connect route: the layer hands it to the host app (which has no such route).
    assert_eq!(h.get("/v1/providers/x", Some(KEY1)).await.status, StatusCode::NOT_FOUND);
}

type Seen = Arc<Mutex<Vec<http::Request<Bytes>>>>;

/// Instagram's three calls, answered as Instagram does; records what was sent.
fn instagram_fixtures() -> (impl dravo_connect::http_client::HttpClient, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let client = move |request: http::Request<Bytes>| {
        let (status, body) = match (request.method().as_str(), request.uri().path()) {
            ("POST", "/oauth/access_token") => {
                let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body()).into_owned().collect();
                if form.contains(&("code".to_owned(), "AQBx-code".to_owned())) {
                    (
                        200,
                        r#"{"access_token":"IGAAShort","user_id":17841405793187218,"permissions":"instagram_business_basic,instagram_business_content_publish"}"#,
                    )
                } else {
                    (400, r#"{"error_type":"OAuthException","code":400,"error_message":"Invalid authorization code"}"#)
                }
            }
            ("GET", "/access_token") => {
                (200, r#"{"access_token":"IGAALong","token_type":"bearer","expires_in":5183944}"#)
            }
            ("GET", "/refresh_access_token") => {
                if request.uri().query().is_some_and(|q| q.contains("access_token=IGAAFail")) {
                    (
                        503,
                        r#"{"error":{"message":"temporarily unavailable","type":"OAuthException","code":2,"is_transient":true}}"#,
                    )
                } else if request.uri().query().is_some_and(|q| q.contains("access_token=IGAALong")) {
                    (200, r#"{"access_token":"IGAARenewed","token_type":"bearer","expires_in":5183944}"#)
                } else {
                    (400, r#"{"error":{"message":"Invalid OAuth access token","type":"OAuthException","code":190}}"#)
                }
            }
            ("GET", "/v25.0/me") => (
                200,
                r#"{"user_id":"17841405793187218","username":"ada.codes","name":"Ada","profile_picture_url":"https://scontent.cdninstagram.com/ada.jpg","account_type":"BUSINESS","id":"759"}"#,
            ),
            _ => (404, "{}"),
        };
        log.lock().unwrap().push(request);
        async move {
            Ok::<_, HttpError>(
                http::Response::builder().status(status).body(Bytes::from_static(body.as_bytes())).unwrap(),
            )
        }
    };
    (client, seen)
}

/// A harness whose `instagram` provider points at the recorded Instagram fixtures (token,
/// long-lived exchange, re-exchange, profile) on an unroutable loopback port, and the
/// requests it sent.
async fn instagram_harness() -> (H, Seen) {
    let (client, seen) = instagram_fixtures();
    let h = H::with(MockConfig::default(), |b| {
        b.http_client(client).provider_config(
            BuiltinOverrides::new("instagram")
                .with_token_url("http://127.0.0.1:9/oauth/access_token")
                .with_exchange_url("http://127.0.0.1:9/access_token")
                .with_refresh_url("http://127.0.0.1:9/refresh_access_token")
                .with_userinfo_url("http://127.0.0.1:9/v25.0/me"),
        )
    })
    .await;
    (h, seen)
}

async fn create_app(h: &H, provider: &str) {
    let body = json!({
        "provider": provider,
        "client_id": "ig-app",
        "client_secret": "ig-secret",
        "allowed_return_urls": [RETURN],
    });
    let r = h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

async fn start(h: &H, provider: &str) -> url::Url {
    let r = h.get(&format!("/v1/oauth/{provider}/start?return_url={}", enc(RETURN)), Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    url::Url::parse(r.json()["authorize_url"].as_str().unwrap()).unwrap()
}

fn state_of(url: &url::Url) -> String {
    url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned()
}

#[tokio::test]
async fn an_instagram_connect_strips_the_code_suffix_and_stores_the_long_lived_token() {
    let (h, seen) = instagram_harness().await;
    create_app(&h, "instagram").await;
    let authorize = start(&h, "instagram").await;
    assert!(authorize.as_str().starts_with("https://www.instagram.com/oauth/authorize?"));
    assert!(authorize.query_pairs().all(|(k, _)| k != "code_challenge"));
    // `#_` as Instagram appends it, percent-encoded as it arrives when copied into a query.
    let cb = format!("/v1/oauth/instagram/callback?code=AQBx-code%23_&state={}", enc(&state_of(&authorize)));
    let r = h.callback(&cb).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    assert_eq!(r.location_param("connected").as_deref(), Some("instagram"));

    let account = &h.get("/v1/accounts?provider=instagram", Some(KEY1)).await.json()["data"][0];
    assert_eq!(account["provider_account_id"], "17841405793187218");
    assert_eq!(account["username"], "ada.codes");
    assert_eq!(account["scopes"], json!(["instagram_business_basic", "instagram_business_content_publish"]));
    // START + 5183944 s: the long-lived token's lifetime, not the short one's. No refresh
    // token can renew it: the host is told when the user must reconnect.
    assert_eq!(account["token_expires_at"], "2026-03-01T23:59:04Z");
    assert_eq!(account["reconnect_by"], "2026-03-01T23:59:04Z");
    let id = account["id"].as_str().unwrap().parse().unwrap();
    let token = h.connect.access_token(&tenant("t1"), &id).await.unwrap();
    assert_eq!(token.expose_secret(), "IGAALong");
    let sent = std::mem::take(&mut *seen.lock().unwrap());
    let paths: Vec<&str> = sent.iter().map(|r| r.uri().path()).collect();
    assert_eq!(paths, ["/oauth/access_token", "/access_token", "/v25.0/me"]);
    // Instagram documents no revocation: the host API says so, and the account is gone.
    assert_eq!(h.connect.disconnect(&tenant("t1"), &id).await.unwrap(), Revocation::Unsupported);
    assert!(seen.lock().unwrap().is_empty(), "no revocation call");
    h.get(&format!("/v1/accounts/{}", account["id"].as_str().unwrap()), Some(KEY1))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn an_account_with_a_refresh_token_has_no_reconnect_by_and_its_revocation_outcome_is_returned() {
    let h = H::new().await;
    let r = h.connect_once().await;
    let id = r.location_param("account_id").unwrap();
    let account = h.get(&format!("/v1/accounts/{id}"), Some(KEY1)).await.json();
    assert_eq!(account["token_expires_at"], "2026-01-01T01:00:00Z");
    assert_eq!(account["reconnect_by"], serde_json::Value::Null);
    let revocation = h.connect.disconnect(&tenant("t1"), &id.parse().unwrap()).await.unwrap();
    assert_eq!(revocation, Revocation::Revoked);
    assert_eq!(h.mock.counts().revoke, 2, "the refresh token and the access token");
}

#[tokio::test]
async fn a_disconnect_revokes_the_refresh_token_then_the_access_token_and_the_refresh_token_stops_working() {
    let h = H::new().await;
    let id: AccountId = h.connect_once().await.location_param("account_id").unwrap().parse().unwrap();
    // The stored refresh token, opened with the harness's encryption key.
    let stored = h.store.get_account(&tenant("t1"), &id).await.unwrap().unwrap();
    let secrets = SecretBox::new([(KeyId::zero(), Secret::new(vec![0x22; 32]))]).unwrap();
    let refresh = secrets.open_string(id.as_str(), "refresh_token", stored.refresh_token.as_ref().unwrap()).unwrap();
    assert!(refresh.expose_secret().starts_with("mock_rt_"));

    let r = h.req(Method::DELETE, &format!("/v1/accounts/{id}"), Some(KEY1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let revoked: Vec<_> = h.mock.revocations().into_iter().map(|r| (r.token, r.hint)).collect();
    assert_eq!(
        revoked,
        [
            (MockTokenKind::Refresh, Some("refresh_token".to_owned())),
            (MockTokenKind::Access, Some("access_token".to_owned())),
        ],
        "both tokens, the long-lived one first"
    );
    assert!(h.mock.revocations()[0].was_live);

    // The refresh token no longer refreshes at the provider.
    let c = h.mock.config();
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
        .post(h.mock.token_url())
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.expose_secret().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
}

#[tokio::test]
async fn a_linkedin_cancel_comes_back_as_access_denied_without_any_provider_call() {
    let (client, seen) = instagram_fixtures();
    let h = H::with(MockConfig::default(), |b| b.http_client(client)).await;
    create_app(&h, "linkedin").await;
    for denial in ["user_cancelled_login", "user_cancelled_authorize"] {
        let authorize = start(&h, "linkedin").await;
        let cb = format!(
            "/v1/oauth/linkedin/callback?error={denial}&error_description=The+user+cancelled&state={}",
            enc(&state_of(&authorize))
        );
        let r = h.callback(&cb).await;
        assert_eq!(r.location_param("oauth_error").as_deref(), Some(OAuthErrorReason::AccessDenied.as_str()));
        assert!(!r.header("location").unwrap().contains("cancelled"));
    }
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_long_lived_instagram_token_is_re_exchanged_within_a_week_of_expiry_and_never_earlier() {
    let (h, seen) = instagram_harness().await;
    create_app(&h, "instagram").await;
    let authorize = start(&h, "instagram").await;
    let r =
        h.callback(&format!("/v1/oauth/instagram/callback?code=AQBx-code&state={}", enc(&state_of(&authorize)))).await;
    let id: dravo_connect::AccountId = r.location_param("account_id").unwrap().parse().unwrap();
    seen.lock().unwrap().clear();
    let t1 = tenant("t1");
    // Fifty days in: more than a week left, no renewal.
    h.clock.advance(time::Duration::days(50));
    assert_eq!(h.connect.access_token(&t1, &id).await.unwrap().expose_secret(), "IGAALong");
    assert!(seen.lock().unwrap().is_empty());
    // Fifty-five days in: inside the last week, the token is re-exchanged and stored.
    h.clock.advance(time::Duration::days(5));
    assert_eq!(h.connect.access_token(&t1, &id).await.unwrap().expose_secret(), "IGAARenewed");
    let sent = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(sent.iter().map(|r| r.uri().path()).collect::<Vec<_>>(), ["/refresh_access_token"]);
    assert!(sent[0].uri().query().unwrap().contains("grant_type=ig_refresh_token"));
    // The renewed token is the stored one, valid for another 60 days: no second call.
    assert_eq!(h.connect.access_token(&t1, &id).await.unwrap().expose_secret(), "IGAARenewed");
    assert!(seen.lock().unwrap().is_empty());
    let account = h.get(&format!("/v1/accounts/{id}"), Some(KEY1)).await.json();
    assert_eq!(account["status"], "active");
    assert_eq!(account["token_expires_at"], "2026-04-25T23:59:04Z");
}

#[tokio::test]
async fn a_refused_re_exchange_expires_the_account_and_a_transient_one_keeps_the_valid_token() {
    let (h, seen) = instagram_harness().await;
    create_app(&h, "instagram").await;
    let t1 = tenant("t1");
    let app_id: dravo_connect::AppId =
        h.get("/v1/oauth-apps", Some(KEY1)).await.json()["data"][0]["id"].as_str().unwrap().parse().unwrap();
    // Without its app, a token cannot be renewed: it is handed out while it is valid.
    let mut orphan = dravo_connect::NewAccount::new("instagram".parse().unwrap(), "IGAADead");
    orphan.expires_at = Some(START + time::Duration::days(3));
    orphan.external_id = Some("orphan".parse().unwrap());
    let orphan = h.connect.register_account(&t1, orphan).await.unwrap();
    assert_eq!(h.connect.access_token(&t1, &orphan.id).await.unwrap().expose_secret(), "IGAADead");
    // A token the fixture answers with a transient 503: still valid, so it is handed out.
    let mut fail = dravo_connect::NewAccount::new("instagram".parse().unwrap(), "IGAAFail");
    fail.app_id = Some(app_id.clone());
    fail.expires_at = Some(START + time::Duration::days(3));
    let fail = h.connect.register_account(&t1, fail).await;
    // Registering calls the profile endpoint, which the fixture answers for any token.
    let fail = fail.unwrap();
    h.clock.advance(time::Duration::days(2));
    seen.lock().unwrap().clear();
    assert_eq!(h.connect.access_token(&t1, &fail.id).await.unwrap().expose_secret(), "IGAAFail");
    let tried: Vec<String> = seen.lock().unwrap().iter().map(|r| r.uri().path().to_owned()).collect();
    assert_eq!(tried, ["/refresh_access_token"], "the renewal was attempted");
    assert_eq!(h.get(&format!("/v1/accounts/{}", fail.id), Some(KEY1)).await.json()["status"], "active");
    // A token the provider refuses (code 190): the account is expired, the caller told.
    let mut dead = dravo_connect::NewAccount::new("instagram".parse().unwrap(), "IGAADead");
    dead.expires_at = Some(START + time::Duration::days(5));
    dead.external_id = Some("other".parse().unwrap());
    dead.app_id = Some(app_id);
    let dead = h.connect.register_account(&t1, dead).await.unwrap();
    h.clock.advance(time::Duration::days(2));
    let err = h.connect.access_token(&t1, &dead.id).await.unwrap_err();
    assert_eq!(err.code(), dravo_connect::ErrorCode::InvalidToken);
    assert_eq!(h.get(&format!("/v1/accounts/{}", dead.id), Some(KEY1)).await.json()["status"], "expired");
}

/// Tumblr's token, refresh and `/v2/user/info` answers in its documented shapes, on
/// loopback paths; records what was sent.
fn tumblr_fixtures() -> (impl dravo_connect::http_client::HttpClient, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let client = move |request: http::Request<Bytes>| {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body()).into_owned().collect();
        let has = |k: &str, v: &str| form.contains(&(k.to_owned(), v.to_owned()));
        let bearer = request.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let (status, body) = match (request.method().as_str(), request.uri().path()) {
            ("POST", "/v2/oauth2/token") if has("code", "tumblr-code") && has("client_secret", "ig-secret") => (
                200,
                r#"{"access_token":"tumblr-at-1","expires_in":2520,"id_token":false,"refresh_token":"tumblr-rt-1","scope":"basic write offline_access","token_type":"bearer"}"#,
            ),
            ("POST", "/v2/oauth2/token") if has("refresh_token", "tumblr-rt-1") => (
                200,
                r#"{"access_token":"tumblr-at-2","expires_in":2520,"id_token":false,"refresh_token":"tumblr-rt-2","scope":"basic write offline_access","token_type":"bearer"}"#,
            ),
            ("POST", "/v2/oauth2/token") if has("refresh_token", "tumblr-rt-2") => (
                200,
                r#"{"access_token":"tumblr-at-3","expires_in":2520,"id_token":false,"refresh_token":"tumblr-rt-3","scope":"basic write offline_access","token_type":"bearer"}"#,
            ),
            ("POST", "/v2/oauth2/token") => (401, r#"{"error":"invalid_grant"}"#),
            ("GET", "/v2/user/info") if bearer == "Bearer tumblr-at-1" => (
                200,
                r#"{"meta":{"status":200,"msg":"OK"},"response":{"user":{"following":263,"default_post_format":"html","name":"derekg","likes":606,"blogs":[{"name":"derekg","title":"Derek Gottfrid","url":"https://derekg.org/","tweet":"auto","primary":true,"followers":33004929,"type":"public","uuid":"t:0aY0xL2Fi1OFJg4YxpmegQ"},{"name":"ihatehipstrz","title":"I Hate Hipstrz","url":"https://ihatehipstrz.tumblr.com/","primary":false,"type":"public","uuid":"t:hIpStRz0aY0xL2Fi1OFJg"}]}}}"#,
            ),
            ("GET", "/v2/user/info") => (
                401,
                r#"{"meta":{"status":401,"msg":"Unauthorized"},"response":[],"errors":[{"title":"Unauthorized","code":1016}]}"#,
            ),
            _ => (404, "{}"),
        };
        log.lock().unwrap().push(request);
        async move {
            Ok::<_, HttpError>(
                http::Response::builder().status(status).body(Bytes::from_static(body.as_bytes())).unwrap(),
            )
        }
    };
    (client, seen)
}

#[tokio::test]
async fn a_tumblr_connect_offers_the_users_blogs_and_its_rotating_refresh_token_is_stored() {
    let (client, seen) = tumblr_fixtures();
    let h = H::with(MockConfig::default(), |b| {
        b.http_client(client).provider_config(
            BuiltinOverrides::new("tumblr")
                .with_token_url("http://127.0.0.1:9/v2/oauth2/token")
                .with_userinfo_url("http://127.0.0.1:9/v2/user/info")
                .with_targets_url("http://127.0.0.1:9/v2/user/info"),
        )
    })
    .await;
    create_app(&h, "tumblr").await;
    let authorize = start(&h, "tumblr").await;
    assert!(authorize.as_str().starts_with("https://www.tumblr.com/oauth2/authorize?"));
    let pairs: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    assert!(pairs.contains(&("scope".to_owned(), "basic write offline_access".to_owned())));
    assert!(pairs.iter().all(|(k, _)| k != "code_challenge"), "Tumblr documents no PKCE");
    let r =
        h.callback(&format!("/v1/oauth/tumblr/callback?code=tumblr-code&state={}", enc(&state_of(&authorize)))).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    let selection = r.location_param("selection_id").unwrap_or_else(|| panic!("{}", r.location()));

    // The person: the primary blog's uuid, the user's name, the primary blog's title.
    let person = h.get("/v1/accounts?provider=tumblr", Some(KEY1)).await.json()["data"][0].clone();
    assert_eq!(person["provider_account_id"], "t:0aY0xL2Fi1OFJg4YxpmegQ");
    assert_eq!(person["username"], "derekg");
    assert_eq!(person["display_name"], "Derek Gottfrid");
    assert_eq!(person["target_type"], "person");
    assert_eq!(person["token_expires_at"], "2026-01-01T00:42:00Z");

    let body = h.get(&format!("/v1/oauth/selections/{selection}"), Some(KEY1)).await.json();
    assert_eq!(
        body["targets"],
        json!([
            {"id":"t:0aY0xL2Fi1OFJg4YxpmegQ","target_type":"blog","username":"derekg","display_name":"Derek Gottfrid","avatar_url":"https://api.tumblr.com/v2/blog/derekg/avatar/128"},
            {"id":"t:hIpStRz0aY0xL2Fi1OFJg","target_type":"blog","username":"ihatehipstrz","display_name":"I Hate Hipstrz","avatar_url":"https://api.tumblr.com/v2/blog/ihatehipstrz/avatar/128"},
        ])
    );
    let path = format!("/v1/oauth/selections/{selection}");
    let r = h.req(Method::POST, &path, Some(KEY1), Some(json!({"target_ids": ["t:hIpStRz0aY0xL2Fi1OFJg"]}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let blog = &r.json()["data"][0];
    assert_eq!(blog["target_type"], "blog");
    assert_eq!(blog["parent_account_id"], person["id"]);
    assert!(!r.text().contains("tumblr-at"), "no token in an answer");

    // Past the 42 minutes the refresh grant runs, and each new refresh token is the one
    // the next refresh sends.
    let t1 = tenant("t1");
    let id: AccountId = person["id"].as_str().unwrap().parse().unwrap();
    seen.lock().unwrap().clear();
    h.clock.advance(time::Duration::minutes(45));
    assert_eq!(h.connect.access_token(&t1, &id).await.unwrap().expose_secret(), "tumblr-at-2");
    h.clock.advance(time::Duration::minutes(45));
    assert_eq!(h.connect.access_token(&t1, &id).await.unwrap().expose_secret(), "tumblr-at-3");
    let sent = std::mem::take(&mut *seen.lock().unwrap());
    let refreshed: Vec<String> = sent
        .iter()
        .map(|r| url::form_urlencoded::parse(r.body()).find(|(k, _)| k == "refresh_token").unwrap().1.into_owned())
        .collect();
    assert_eq!(refreshed, ["tumblr-rt-1", "tumblr-rt-2"]);

    // No revocation endpoint is documented: the account goes, nothing is called.
    assert_eq!(h.connect.disconnect(&t1, &id).await.unwrap(), Revocation::Unsupported);
    assert!(seen.lock().unwrap().is_empty(), "no revocation call");
}

#[tokio::test]
async fn a_snapchat_connect_reads_the_login_kit_identity_and_says_when_to_reconnect() {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let client = move |request: http::Request<Bytes>| {
        let (status, body) = match (request.method().as_str(), request.uri().path()) {
            ("POST", "/accounts/oauth2/token") => (
                200,
                r#"{"access_token":"snap-at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"snap-rt-1","scope":"https://auth.snapchat.com/oauth2/api/user.external_id https://auth.snapchat.com/oauth2/api/user.display_name"}"#,
            ),
            ("GET", "/v1/me") if request.uri().query().is_some_and(|q| q.contains("externalId")) => {
                (200, r#"{"data":{"me":{"displayName":"Ghostface Chillah","externalId":"CAESIPvjZ-ext"}}}"#)
            }
            _ => (404, "{}"),
        };
        log.lock().unwrap().push(request);
        async move {
            Ok::<_, HttpError>(
                http::Response::builder().status(status).body(Bytes::from_static(body.as_bytes())).unwrap(),
            )
        }
    };
    let h = H::with(MockConfig::default(), |b| {
        b.http_client(client).provider_config(
            BuiltinOverrides::new("snapchat")
                .with_token_url("http://127.0.0.1:9/accounts/oauth2/token")
                .with_userinfo_url("http://127.0.0.1:9/v1/me"),
        )
    })
    .await;
    create_app(&h, "snapchat").await;
    let authorize = start(&h, "snapchat").await;
    assert!(authorize.as_str().starts_with("https://accounts.snapchat.com/accounts/oauth2/auth?"));
    let r =
        h.callback(&format!("/v1/oauth/snapchat/callback?code=snap-code&state={}", enc(&state_of(&authorize)))).await;
    assert_eq!(r.location_param("connected").as_deref(), Some("snapchat"), "{}", r.location());
    let account = &h.get("/v1/accounts?provider=snapchat", Some(KEY1)).await.json()["data"][0];
    assert_eq!(account["provider_account_id"], "CAESIPvjZ-ext");
    assert_eq!(account["display_name"], "Ghostface Chillah");
    assert_eq!(account["username"], serde_json::Value::Null);
    assert_eq!(account["scopes"].as_array().unwrap().len(), 2, "the granted scopes");
    // No refresh is attempted (unverified), so the host is told when the user must reconnect.
    assert_eq!(account["reconnect_by"], "2026-01-01T01:00:00Z");
    let id: AccountId = account["id"].as_str().unwrap().parse().unwrap();
    seen.lock().unwrap().clear();
    h.clock.advance(time::Duration::minutes(61));
    assert!(h.connect.access_token(&tenant("t1"), &id).await.is_err());
    assert!(seen.lock().unwrap().is_empty(), "no refresh call");
    assert_eq!(h.connect.disconnect(&tenant("t1"), &id).await.unwrap(), Revocation::Unsupported);
}

/// Discord's recorded answers on loopback: a `webhook.incoming` exchange, the user, and the
/// revocation; anything else is 404.
fn discord_fixtures() -> (impl dravo_connect::http_client::HttpClient, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let client = move |request: http::Request<Bytes>| {
        let (status, body) = match (request.method().as_str(), request.uri().path()) {
            ("POST", "/api/oauth2/token") => (
                200,
                r#"{"token_type":"Bearer","access_token":"GNaVzEtATqdh173tNHEXY9ZYAuhiYxvy","scope":"identify webhook.incoming","expires_in":604800,"refresh_token":"PvPL7ELyMDc1836457XCDh1Y8jPbRm","webhook":{"application_id":"310954232226357250","name":"testwebhook","url":"https://discord.com/api/webhooks/347114750880120863/kKDdjXa1g9tKNs0-_yOwLyALC9gydEWP6gr9sHabuK1vuofjhQDDnlOclJeRIvYK-pj_","channel_id":"345626669224982402","token":"kKDdjXa1g9tKNs0-_yOwLyALC9gydEWP6gr9sHabuK1vuofjhQDDnlOclJeRIvYK-pj_","type":1,"avatar":null,"guild_id":"290926792226357250","id":"347114750880120863"}}"#,
            ),
            ("GET", "/api/v10/users/@me") => (
                200,
                r#"{"id":"80351110224678912","username":"nelly","global_name":"Nelly","avatar":"8342729096ea3675442027381ff50dfe"}"#,
            ),
            _ => (404, "{}"),
        };
        log.lock().unwrap().push(request);
        async move {
            Ok::<_, HttpError>(
                http::Response::builder().status(status).body(Bytes::from_static(body.as_bytes())).unwrap(),
            )
        }
    };
    (client, seen)
}

#[tokio::test]
async fn a_discord_connect_offers_the_granted_webhook_which_becomes_an_account_with_the_webhook_token() {
    let (client, seen) = discord_fixtures();
    let h = H::with(MockConfig::default(), |b| {
        b.http_client(client).provider_config(
            BuiltinOverrides::new("discord")
                .with_token_url("http://127.0.0.1:9/api/oauth2/token")
                .with_userinfo_url("http://127.0.0.1:9/api/v10/users/@me")
                .with_targets_url("http://127.0.0.1:9/api/v10/users/@me/guilds"),
        )
    })
    .await;
    create_app(&h, "discord").await;
    let authorize = start(&h, "discord").await;
    assert!(authorize.as_str().starts_with("https://discord.com/oauth2/authorize?"));
    let r = h.callback(&format!("/v1/oauth/discord/callback?code=NhhvTDYs&state={}", enc(&state_of(&authorize)))).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    let selection = r.location_param("selection_id").unwrap_or_else(|| panic!("{}", r.location()));
    let paths: Vec<String> = seen.lock().unwrap().iter().map(|r| r.uri().path().to_owned()).collect();
    assert_eq!(paths, ["/api/oauth2/token", "/api/v10/users/@me"], "no server listing without `guilds`");

    let r = h.get(&format!("/v1/oauth/selections/{selection}"), Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!r.text().contains("kKDdjXa1g9tKNs0"), "no webhook token in the selection");
    assert_eq!(
        r.json()["targets"],
        json!([{"id":"347114750880120863","target_type":"webhook","username":null,"display_name":"testwebhook","avatar_url":null}])
    );
    let r = h
        .req(
            Method::POST,
            &format!("/v1/oauth/selections/{selection}"),
            Some(KEY1),
            Some(json!({"target_ids": ["347114750880120863"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let hook = &r.json()["data"][0];
    assert_eq!(hook["target_type"], "webhook");
    assert_eq!(hook["provider_account_id"], "347114750880120863");
    assert_eq!(hook["token_expires_at"], serde_json::Value::Null);
    let id: AccountId = hook["id"].as_str().unwrap().parse().unwrap();
    let token = h.connect.access_token(&tenant("t1"), &id).await.unwrap();
    assert_eq!(token.expose_secret(), "kKDdjXa1g9tKNs0-_yOwLyALC9gydEWP6gr9sHabuK1vuofjhQDDnlOclJeRIvYK-pj_");
    let person = h.get("/v1/accounts?provider=discord", Some(KEY1)).await.json();
    let person = person["data"].as_array().unwrap().iter().find(|a| a["target_type"] == "person").unwrap().clone();
    assert_eq!(
        person["avatar_url"],
        "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png"
    );
}
