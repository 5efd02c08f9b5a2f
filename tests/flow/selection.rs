//! Target selection: a connect that finds several publishable targets (Facebook Pages here)
//! redirects with `selection_id`; the host reads the targets and chooses some, each becoming
//! an account with `target_type` and `parent_account_id`. Facebook is answered by
//! recorded-shape fixtures (a closure HTTP client on overridden loopback endpoints).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use dravo_connect::hooks::{ConnectHooks, HookError};
use dravo_connect::http_client::HttpError;
use dravo_connect::provider::BuiltinOverrides;
use dravo_connect::test_util::MockConfig;
use dravo_connect::{Account, ErrorCode, TenantId};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

const USER_TOKEN: &str = "EAAGm0PX4ZCpsBALongUserToken";
const PAGE_TOKENS: [&str; 3] = ["EAAPageTokenBakery", "EAAPageTokenShop", "EAAPageTokenCafe"];

/// `GET /me/accounts` as Facebook answers it: `pages` Pages (0 to 3), the first page of
/// results with two and a `paging.next` on the same endpoint, the second with the rest.
fn accounts_page(pages: usize, after: bool) -> String {
    let all = [
        json!({"id":"1011","name":"Ada's Bakery","username":"adasbakery","access_token":PAGE_TOKENS[0],"picture":{"data":{"url":"https://scontent.xx.fbcdn.net/bakery.jpg"}}}),
        json!({"id":"1012","name":"Ada's Shop","access_token":PAGE_TOKENS[1],"picture":{"data":{"url":"https://scontent.xx.fbcdn.net/shop.jpg"}}}),
        json!({"id":"1013","name":"Ada's Café","username":"adascafe","access_token":PAGE_TOKENS[2],"picture":{"data":{"url":"https://scontent.xx.fbcdn.net/cafe.jpg"}}}),
    ];
    let listed: Vec<&Value> = all.iter().take(pages).collect();
    let (data, next) = match after {
        false if listed.len() > 2 => (
            listed[..2].to_vec(),
            Some("http://127.0.0.1:9/v25.0/me/accounts?fields=id%2Cname&limit=100&after=QVFJ".to_owned()),
        ),
        false => (listed, None),
        true => (listed.get(2..).map(<[&Value]>::to_vec).unwrap_or_default(), None),
    };
    let mut paging = json!({"cursors":{"before":"QVFI","after":"QVFJ"}});
    if let Some(next) = next {
        paging["next"] = json!(next);
    }
    json!({"data": data, "paging": paging}).to_string()
}

type Seen = Arc<Mutex<Vec<http::Request<Bytes>>>>;

/// Facebook's calls: the code exchange, the long-lived swap, `/me`, `/me/accounts`.
fn facebook(pages: Arc<AtomicUsize>, seen: Seen) -> impl dravo_connect::http_client::HttpClient {
    move |request: http::Request<Bytes>| {
        let query = request.uri().query().unwrap_or_default().to_owned();
        let (status, body) = match (request.method().as_str(), request.uri().path()) {
            ("POST", "/v25.0/oauth/access_token") => {
                (200, r#"{"access_token":"EAAShort","token_type":"bearer","expires_in":5183}"#.to_owned())
            }
            ("GET", "/v25.0/oauth/access_token") if query.contains("fb_exchange_token=EAAShort") => {
                (200, format!(r#"{{"access_token":"{USER_TOKEN}","token_type":"bearer","expires_in":5183944}}"#))
            }
            ("GET", "/v25.0/me") => (
                200,
                r#"{"id":"10158012345678901","name":"Ada Lovelace","picture":{"data":{"url":"https://platform-lookaside.fbsbx.com/ada.jpg"}}}"#
                    .to_owned(),
            ),
            ("GET", "/v25.0/me/accounts") if query.contains(&format!("access_token={USER_TOKEN}")) => {
                if query.contains("instagram_business_account") {
                    // The Instagram fields: one of two Pages has a linked account.
                    let body = r#"{"data":[{"id":"101","name":"Bakery (no IG)","access_token":"EAAPageNoIg"},{"id":"102","name":"Ada's Page","access_token":"EAAPageWithIg","instagram_business_account":{"id":"17841405822304914","username":"ada.codes","name":"Ada","profile_picture_url":"https://scontent.xx.fbcdn.net/ada.jpg"}}],"paging":{"cursors":{"before":"MTAx","after":"MTAy"}}}"#;
                    (200, body.to_owned())
                } else {
                match pages.load(Ordering::SeqCst) {
                    // A Graph outage.
                    usize::MAX => (
                        500,
                        r#"{"error":{"message":"unknown","type":"OAuthException","code":2,"is_transient":true}}"#
                            .to_owned(),
                    ),
                    n => (200, accounts_page(n, query.contains("after=QVFJ"))),
                }
                }
            }
            _ => (404, "{}".to_owned()),
        };
        seen.lock().unwrap().push(request);
        async move { Ok::<_, HttpError>(http::Response::builder().status(status).body(Bytes::from(body)).unwrap()) }
    }
}

#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl ConnectHooks for Recorder {
    async fn connected(&self, _: &TenantId, account: &Account) -> Result<(), HookError> {
        self.0.lock().unwrap().push(format!("connected {}", account.provider_account_id));
        Ok(())
    }
    async fn reconnected(&self, _: &TenantId, account: &Account) -> Result<(), HookError> {
        self.0.lock().unwrap().push(format!("reconnected {}", account.provider_account_id));
        Ok(())
    }
}

struct Fb {
    h: H,
    pages: Arc<AtomicUsize>,
    seen: Seen,
    hooks: Recorder,
}

async fn fb(pages: usize) -> Fb {
    let pages = Arc::new(AtomicUsize::new(pages));
    let seen: Seen = Arc::default();
    let hooks = Recorder::default();
    let (p, s, r) = (pages.clone(), seen.clone(), hooks.clone());
    let h = H::with(MockConfig::default(), move |b| {
        b.http_client(facebook(p, s))
            .hooks(r)
            .provider_config(
                BuiltinOverrides::new("facebook")
                    .with_token_url("http://127.0.0.1:9/v25.0/oauth/access_token")
                    .with_userinfo_url("http://127.0.0.1:9/v25.0/me")
                    .with_targets_url("http://127.0.0.1:9/v25.0/me/accounts")
                    .with_revoke_url("http://127.0.0.1:9/v25.0/me/permissions"),
            )
            .provider_config(
                BuiltinOverrides::new("instagram_facebook")
                    .with_token_url("http://127.0.0.1:9/v25.0/oauth/access_token")
                    .with_userinfo_url("http://127.0.0.1:9/v25.0/me")
                    .with_targets_url("http://127.0.0.1:9/v25.0/me/accounts"),
            )
    })
    .await;
    for (key, provider) in [(KEY1, "facebook"), (KEY2, "facebook"), (KEY1, "instagram_facebook")] {
        let body = json!({
            "provider": provider,
            "client_id": "fb-app",
            "client_secret": "fb-secret",
            "allowed_return_urls": [RETURN],
        });
        let r = h.req(Method::POST, "/v1/oauth-apps", Some(key), Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    Fb { h, pages, seen, hooks }
}

impl Fb {
    /// Starts a Facebook connect for the tenant of `key` and comes back with a code.
    async fn connect(&self, key: &str) -> Resp {
        self.connect_to("facebook", key).await
    }

    async fn connect_to(&self, provider: &str, key: &str) -> Resp {
        let r = self.h.get(&format!("/v1/oauth/{provider}/start?return_url={}", enc(RETURN)), Some(key)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let authorize = url::Url::parse(r.json()["authorize_url"].as_str().unwrap()).unwrap();
        let state = authorize.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        let r = self.h.callback(&format!("/v1/oauth/{provider}/callback?code=AQDcode&state={}", enc(&state))).await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
        r
    }

    async fn choose(&self, key: &str, selection: &str, ids: Value) -> Resp {
        let path = format!("/v1/oauth/selections/{selection}");
        self.h.req(Method::POST, &path, Some(key), Some(json!({ "target_ids": ids }))).await
    }
}

/// No token of any kind appears in a JSON answer.
#[track_caller]
fn assert_no_token(r: &Resp) {
    let body = r.text();
    for t in PAGE_TOKENS.iter().chain([&USER_TOKEN, &"EAAShort"]) {
        assert!(!body.contains(t), "a token leaked: {body}");
    }
    assert!(!body.contains("access_token"), "{body}");
}

#[tokio::test]
async fn a_facebook_connect_with_pages_is_finished_by_choosing_pages_which_get_their_own_tokens() {
    let fb = fb(3).await;
    let r = fb.connect(KEY1).await;
    assert_eq!(r.location_param("connected"), None, "a selection, not `connected`: {}", r.location());
    assert_eq!(r.location_param("account_id"), None);
    let selection = r.location_param("selection_id").unwrap_or_else(|| panic!("{}", r.location()));
    assert!(selection.starts_with("sel_"), "{selection}");
    assert!(r.location().as_str().starts_with(RETURN));
    // The Pages were listed with the long-lived user token, across both result pages.
    let listed: Vec<String> = fb
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.uri().path() == "/v25.0/me/accounts")
        .map(|r| r.uri().to_string())
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");

    // The person is connected already.
    let accounts = fb.h.get("/v1/accounts", Some(KEY1)).await.json();
    let person = &accounts["data"][0];
    assert_eq!(accounts["data"].as_array().unwrap().len(), 1);
    assert_eq!(person["provider_account_id"], "10158012345678901");
    assert_eq!(person["target_type"], "person");
    assert_eq!(person["parent_account_id"], Value::Null);
    let person_id = person["id"].as_str().unwrap().to_owned();

    let r = fb.h.get(&format!("/v1/oauth/selections/{selection}"), Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_no_token(&r);
    let body = r.json();
    assert_eq!(body["id"], selection.as_str());
    assert_eq!(body["provider"], "facebook");
    assert_eq!(body["parent_account_id"], person_id.as_str());
    assert_eq!(body["expires_at"], "2026-01-01T00:10:00Z");
    assert_eq!(
        body["targets"],
        json!([
            {"id":"1011","target_type":"page","username":"adasbakery","display_name":"Ada's Bakery","avatar_url":"https://scontent.xx.fbcdn.net/bakery.jpg"},
            {"id":"1012","target_type":"page","username":null,"display_name":"Ada's Shop","avatar_url":"https://scontent.xx.fbcdn.net/shop.jpg"},
            {"id":"1013","target_type":"page","username":"adascafe","display_name":"Ada's Café","avatar_url":"https://scontent.xx.fbcdn.net/cafe.jpg"},
        ])
    );

    // Another tenant's key finds nothing, for reading and for choosing.
    fb.h.get(&format!("/v1/oauth/selections/{selection}"), Some(KEY2)).await.assert_error(404, "not_found");
    fb.choose(KEY2, &selection, json!(["1011"])).await.assert_error(404, "not_found");
    // Bad choices are refused and leave the selection pending.
    fb.choose(KEY1, &selection, json!(["1011", "9999"])).await.assert_error(422, "validation_failed");
    fb.choose(KEY1, &selection, json!([])).await.assert_error(422, "validation_failed");
    fb.choose(KEY1, &selection, json!(["1011", "1011"])).await.assert_error(422, "validation_failed");
    fb.h.req(Method::POST, &format!("/v1/oauth/selections/{selection}"), Some(KEY1), Some(json!({})))
        .await
        .assert_error(422, "validation_failed");
    fb.h.req(
        Method::POST,
        &format!("/v1/oauth/selections/{selection}"),
        Some(KEY1),
        Some(json!({"target_ids": ["1011"], "extra": 1})),
    )
    .await
    .assert_error(422, "validation_failed");

    let r = fb.choose(KEY1, &selection, json!(["1013", "1011"])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_no_token(&r);
    let chosen = r.json()["data"].as_array().unwrap().clone();
    assert_eq!(chosen.len(), 2);
    // In the selection's order.
    assert_eq!(chosen[0]["provider_account_id"], "1011");
    assert_eq!(chosen[1]["provider_account_id"], "1013");
    for (account, name) in chosen.iter().zip(["Ada's Bakery", "Ada's Café"]) {
        assert_eq!(account["provider"], "facebook");
        assert_eq!(account["target_type"], "page");
        assert_eq!(account["parent_account_id"], person_id.as_str());
        assert_eq!(account["display_name"], name);
        assert_eq!(account["status"], "active");
        // A Page token from a long-lived user token does not expire.
        assert_eq!(account["token_expires_at"], Value::Null);
        assert_eq!(account["reconnect_by"], Value::Null);
    }

    // Each Page account holds its own Page token; the person keeps the user token.
    let t1 = tenant("t1");
    for (account, token) in chosen.iter().zip([PAGE_TOKENS[0], PAGE_TOKENS[2]]) {
        let id = account["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(fb.h.connect.access_token(&t1, &id).await.unwrap().expose_secret(), token);
    }
    let person_id_typed = person_id.parse().unwrap();
    assert_eq!(fb.h.connect.access_token(&t1, &person_id_typed).await.unwrap().expose_secret(), USER_TOKEN);

    // Chosen once: a second choice and a read find nothing.
    fb.choose(KEY1, &selection, json!(["1012"])).await.assert_error(404, "not_found");
    fb.h.get(&format!("/v1/oauth/selections/{selection}"), Some(KEY1)).await.assert_error(404, "not_found");
    let accounts = fb.h.get("/v1/accounts", Some(KEY1)).await;
    assert_no_token(&accounts);
    assert_eq!(accounts.json()["data"].as_array().unwrap().len(), 3);
    let one = fb.h.get(&format!("/v1/accounts/{}", chosen[0]["id"].as_str().unwrap()), Some(KEY1)).await.json();
    assert_eq!(one["target_type"], "page");
    assert_eq!(one["parent_account_id"], person_id.as_str());
    assert_eq!(
        *fb.hooks.0.lock().unwrap(),
        ["connected 10158012345678901", "connected 1011", "connected 1013"],
        "one hook per created account"
    );
    let _ = &fb.pages;
}

#[tokio::test]
async fn reconnecting_and_choosing_a_page_again_updates_its_account() {
    let fb = fb(3).await;
    let first = fb.connect(KEY1).await.location_param("selection_id").unwrap();
    let r = fb.choose(KEY1, &first, json!(["1012"])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let page_id = r.json()["data"][0]["id"].as_str().unwrap().to_owned();
    let second = fb.connect(KEY1).await.location_param("selection_id").unwrap();
    assert_ne!(first, second);
    let r = fb.choose(KEY1, &second, json!(["1012"])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["data"][0]["id"], page_id.as_str(), "the same account, updated");
    assert_eq!(fb.h.get("/v1/accounts", Some(KEY1)).await.json()["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        *fb.hooks.0.lock().unwrap(),
        ["connected 10158012345678901", "connected 1012", "reconnected 10158012345678901", "reconnected 1012"]
    );
}

#[tokio::test]
async fn a_selection_expires_after_ten_minutes() {
    let fb = fb(3).await;
    let selection = fb.connect(KEY1).await.location_param("selection_id").unwrap();
    fb.h.clock.advance(time::Duration::minutes(10) - time::Duration::seconds(1));
    let r = fb.h.get(&format!("/v1/oauth/selections/{selection}"), Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "still readable just before its expiry");
    fb.h.clock.advance(time::Duration::seconds(1));
    fb.h.get(&format!("/v1/oauth/selections/{selection}"), Some(KEY1)).await.assert_error(404, "not_found");
    fb.choose(KEY1, &selection, json!(["1011"])).await.assert_error(404, "not_found");
    // Through the host API too.
    let err = fb.h.connect.selection(&tenant("t1"), &selection.parse().unwrap()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    // Swept with the flows an hour after.
    fb.h.clock.advance(time::Duration::hours(1) + time::Duration::seconds(1));
    assert!(fb.h.connect.sweep_flows().await.unwrap() >= 1);
}

#[tokio::test]
async fn a_facebook_connect_without_pages_is_a_plain_connected() {
    let fb = fb(0).await;
    let r = fb.connect(KEY1).await;
    assert_eq!(r.location_param("connected").as_deref(), Some("facebook"));
    assert_eq!(r.location_param("selection_id"), None);
    let id = r.location_param("account_id").unwrap();
    let account = fb.h.get(&format!("/v1/accounts/{id}"), Some(KEY1)).await.json();
    assert_eq!(account["target_type"], "person");
    assert_eq!(account["parent_account_id"], Value::Null);
}

#[tokio::test]
async fn a_failed_page_listing_connects_nothing_and_says_provider_error() {
    let fb = fb(usize::MAX).await;
    let r = fb.connect(KEY1).await;
    assert_eq!(r.location_param("oauth_error").as_deref(), Some("provider_error"));
    assert_eq!(r.location_param("selection_id"), None);
    assert!(fb.h.get("/v1/accounts", Some(KEY1)).await.json()["data"].as_array().unwrap().is_empty());
    fb.pages.store(3, Ordering::SeqCst);
    assert!(fb.connect(KEY1).await.location_param("selection_id").is_some());
}

#[tokio::test]
async fn the_selection_routes_need_a_key_and_answer_get_and_post_only() {
    let fb = fb(3).await;
    let selection = fb.connect(KEY1).await.location_param("selection_id").unwrap();
    let path = format!("/v1/oauth/selections/{selection}");
    fb.h.get(&path, None).await.assert_error(401, "unauthorized");
    fb.h.req(Method::POST, &path, None, Some(json!({"target_ids": ["1011"]}))).await.assert_error(401, "unauthorized");
    let r = fb.h.req(Method::DELETE, &path, Some(KEY1), None).await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, POST"));
    for unknown in ["sel_doesnotexist", "not-a-selection-id"] {
        fb.h.get(&format!("/v1/oauth/selections/{unknown}"), Some(KEY1)).await.assert_error(404, "not_found");
        fb.choose(KEY1, unknown, json!(["1011"])).await.assert_error(404, "not_found");
    }
    // Still pending after all that.
    assert_eq!(fb.h.get(&path, Some(KEY1)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_instagram_through_facebook_connect_offers_the_linked_accounts_with_their_pages_tokens() {
    let fb = fb(3).await;
    let r = fb.connect_to("instagram_facebook", KEY1).await;
    let selection = r.location_param("selection_id").unwrap_or_else(|| panic!("{}", r.location()));
    let r = fb.h.get(&format!("/v1/oauth/selections/{selection}"), Some(KEY1)).await;
    assert_no_token(&r);
    assert_eq!(r.json()["provider"], "instagram_facebook");
    assert_eq!(
        r.json()["targets"],
        json!([{"id":"17841405822304914","target_type":"instagram_account","username":"ada.codes","display_name":"Ada","avatar_url":"https://scontent.xx.fbcdn.net/ada.jpg"}])
    );
    let r = fb.choose(KEY1, &selection, json!(["17841405822304914"])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let account = &r.json()["data"][0];
    assert_eq!(account["target_type"], "instagram_account");
    assert_eq!(account["username"], "ada.codes");
    let person =
        fb.h.get(&format!("/v1/accounts/{}", account["parent_account_id"].as_str().unwrap()), Some(KEY1)).await;
    assert_eq!(person.json()["provider_account_id"], "10158012345678901");
    assert_eq!(person.json()["target_type"], "person");
    let id = account["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(fb.h.connect.access_token(&tenant("t1"), &id).await.unwrap().expose_secret(), "EAAPageWithIg");
}

/// Meta's `appsecret_proof` of `token` for the fixtures' app secret, computed here with
/// RustCrypto: the hex HMAC-SHA256 of the token keyed with the secret.
fn proof_of(token: &str) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"fb-secret").unwrap();
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The `appsecret_proof` values of a request's query.
fn proofs(request: &http::Request<Bytes>) -> Vec<String> {
    url::form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "appsecret_proof")
        .map(|(_, v)| v.into_owned())
        .collect()
}

#[tokio::test]
async fn every_graph_call_with_a_token_carries_the_apps_appsecret_proof_so_require_app_secret_can_be_on() {
    let fb = fb(3).await;
    let selection = fb.connect(KEY1).await.location_param("selection_id").unwrap();
    let sent = std::mem::take(&mut *fb.seen.lock().unwrap());
    let calls: Vec<(&str, &str)> = sent.iter().map(|r| (r.method().as_str(), r.uri().path())).collect();
    assert_eq!(
        calls,
        [
            ("POST", "/v25.0/oauth/access_token"),
            ("GET", "/v25.0/oauth/access_token"),
            ("GET", "/v25.0/me"),
            ("GET", "/v25.0/me/accounts"),
            ("GET", "/v25.0/me/accounts"),
        ]
    );
    // The token endpoint authenticates with the secret itself; every call made with the
    // user token proves it was made with the app's secret.
    for request in &sent[..2] {
        assert!(proofs(request).is_empty(), "{}", request.uri().path());
    }
    for request in &sent[2..] {
        assert_eq!(proofs(request), [proof_of(USER_TOKEN)], "{}", request.uri().path());
    }
    // The person's revocation too.
    let person = fb.h.get("/v1/accounts?provider=facebook", Some(KEY1)).await.json()["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let _ = fb.choose(KEY1, &selection, json!(["1011"])).await;
    fb.seen.lock().unwrap().clear();
    let r = fb.h.req(Method::DELETE, &format!("/v1/accounts/{person}"), Some(KEY1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let sent = std::mem::take(&mut *fb.seen.lock().unwrap());
    let revocation = sent.iter().find(|r| r.method() == Method::DELETE).expect("a revocation call");
    assert_eq!(revocation.uri().path(), "/v25.0/me/permissions");
    assert_eq!(proofs(revocation), [proof_of(USER_TOKEN)]);

    // A token registered with its app is checked with the proof; without an app there is no
    // secret to prove with, and none is sent.
    let app_id = fb.h.get("/v1/oauth-apps?provider=facebook", Some(KEY1)).await.json()["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (app, expected) in [(Some(app_id), vec![proof_of("EAAHeldByHost")]), (None, vec![])] {
        let mut body = json!({"provider": "facebook", "access_token": "EAAHeldByHost"});
        if let Some(app) = &app {
            body["app_id"] = json!(app);
        }
        let r = fb.h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(body)).await;
        assert!(r.status.is_success(), "{}", r.text());
        let sent = std::mem::take(&mut *fb.seen.lock().unwrap());
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].uri().path(), "/v25.0/me");
        assert_eq!(proofs(&sent[0]), expected, "app {app:?}");
    }
}
