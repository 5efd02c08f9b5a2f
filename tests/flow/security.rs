//! Browser binding (the `/go` hop and its cookie), the route inventory of `Location`, and
//! CORS.

use axum::body::Body;
use dravo_connect::test_util::{MockConfig, MockProvider};
use dravo_connect::{Connect, ConnectConfig, OAuthErrorReason, TenantId};
use http::{Method, Request, StatusCode};
use serde_json::json;

use crate::harness::*;

/// A minimal cookie jar: `name=value` pairs taken from `Set-Cookie`.
#[derive(Debug, Default, Clone)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, r: &Resp) {
        for v in r.headers.get_all("set-cookie") {
            let first = v.to_str().unwrap().split(';').next().unwrap();
            let (k, val) = first.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != k);
            self.0.push((k.to_owned(), val.to_owned()));
        }
    }
    fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
    }
}

async fn get_with(h: &H, uri: &str, jar: &Jar) -> Resp {
    let mut b = Request::builder().uri(uri);
    if let Some(c) = jar.header() {
        b = b.header("cookie", c);
    }
    h.send(b.body(Body::empty()).unwrap()).await
}

async fn bound() -> H {
    H::with(MockConfig::default(), |b| b.browser_binding(true)).await
}

/// Starts a flow, walks the hop in `jar` and consents: the callback's path and query.
async fn through_hop(h: &H, jar: &mut Jar) -> String {
    let authorize_url = h.start_default(KEY1).await;
    let hop = url::Url::parse(&authorize_url).unwrap();
    let r = get_with(h, &format!("{}?{}", hop.path(), hop.query().unwrap()), jar).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    jar.take(&r);
    h.consent(r.header("location").unwrap()).await
}

#[tokio::test]
async fn with_binding_start_answers_the_hop_which_sets_the_cookie_and_redirects_to_the_provider() {
    let h = bound().await;
    h.create_app(KEY1).await;
    let authorize_url = h.start_default(KEY1).await;
    let hop = url::Url::parse(&authorize_url).unwrap();
    assert_eq!(hop.origin().ascii_serialization(), BASE);
    assert_eq!(hop.path(), "/v1/oauth/mock/go");
    let names: Vec<String> = hop.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(names, ["state"], "the hop carries only the state");

    let r = h.get(&format!("{}?{}", hop.path(), hop.query().unwrap()), None).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let to = r.location();
    assert!(to.as_str().starts_with(&h.mock.authorize_url()), "{to}");
    let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["state"], param(&format!("{}?{}", hop.path(), hop.query().unwrap()), "state"));
    assert_eq!(q["redirect_uri"], format!("{BASE}/v1/oauth/mock/callback"));
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.starts_with("dravo_bind_"), "{cookie}");
    for attr in ["; Max-Age=600", "; Path=/v1/oauth/mock/callback", "; HttpOnly", "; SameSite=Lax", "; Secure"] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    // The cookie is no secret of ours: neither key appears in it.
    for key in [[0x11u8; 32], [0x22u8; 32]] {
        use base64::Engine as _;
        assert!(!cookie.contains(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)));
    }
}

#[tokio::test]
async fn with_binding_the_flow_completed_in_the_same_browser_connects() {
    let h = bound().await;
    h.create_app(KEY1).await;
    let mut jar = Jar::default();
    let cb = through_hop(&h, &mut jar).await;
    let r = get_with(&h, &cb, &jar).await;
    assert_eq!(r.location_param("connected").as_deref(), Some("mock"), "{:?}", r.header("location"));
    // The callback deletes the cookie it has used.
    let cleared = r.header("set-cookie").unwrap();
    assert!(cleared.starts_with(&format!("{}=;", jar.0[0].0)) && cleared.contains("Max-Age=0"), "{cleared}");
    jar.take(&r);
    jar.0.retain(|(_, v)| !v.is_empty());
    // Two flows in two tabs of one browser: each keeps its own cookie.
    let cb1 = through_hop(&h, &mut jar).await;
    let cb2 = through_hop(&h, &mut jar).await;
    assert_eq!(get_with(&h, &cb2, &jar).await.location_param("connected").as_deref(), Some("mock"));
    assert_eq!(get_with(&h, &cb1, &jar).await.location_param("connected").as_deref(), Some("mock"));
}

#[tokio::test]
async fn with_binding_a_callback_url_replayed_from_another_browser_gets_browser_mismatch() {
    let h = bound().await;
    h.create_app(KEY1).await;
    let mut attacker = Jar::default();
    let cb = through_hop(&h, &mut attacker).await;
    h.mock.reset_counts();
    // The victim's browser: no cookie, or the cookie of a flow of its own.
    let mut victim = Jar::default();
    through_hop(&h, &mut victim).await;
    h.mock.reset_counts();
    let r = get_with(&h, &cb, &victim).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.location_param("oauth_error").as_deref(), Some(OAuthErrorReason::BrowserMismatch.as_str()));
    assert_eq!(h.mock.counts().token, 0, "no code exchange for a mismatched browser");
    assert_eq!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"], json!([]));
    // The flow is consumed: the right browser now gets state_reused.
    let r = get_with(&h, &cb, &attacker).await;
    assert_eq!(r.location_param("oauth_error").as_deref(), Some("state_reused"));

    // No cookie at all, and a tampered cookie value, fail the same way.
    let cb = through_hop(&h, &mut attacker).await;
    let r = get_with(&h, &cb, &Jar::default()).await;
    assert_eq!(r.location_param("oauth_error").as_deref(), Some("browser_mismatch"));
    let cb = through_hop(&h, &mut attacker).await;
    let mut forged = attacker.clone();
    for (_, v) in &mut forged.0 {
        let mut b = v.clone().into_bytes();
        b[3] = if b[3] == b'A' { b'B' } else { b'A' };
        *v = String::from_utf8(b).unwrap();
    }
    let r = get_with(&h, &cb, &forged).await;
    assert_eq!(r.location_param("oauth_error").as_deref(), Some("browser_mismatch"));
}

#[tokio::test]
async fn the_hop_refuses_forged_expired_used_or_foreign_states_with_the_static_page() {
    let other = MockProvider::start().await.unwrap();
    let h = H::with(MockConfig::default(), |b| b.browser_binding(true).provider_config(other.provider_config("other")))
        .await;
    h.create_app(KEY1).await;
    let hop = url::Url::parse(&h.start_default(KEY1).await).unwrap();
    let good = format!("{}?{}", hop.path(), hop.query().unwrap());
    let state = param(&good, "state");
    let before = h.store.calls();
    for q in [
        String::new(),
        "state=".to_owned(),
        format!("state={}", &state[..state.len() - 2]),
        format!("state={state}&state={state}"),
        "state=%FF".to_owned(),
    ] {
        let r = h.get(&format!("/v1/oauth/mock/go?{q}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(r.header("location").is_none() && r.header("set-cookie").is_none());
    }
    // At another provider's hop the tag fails: nothing read from the store either.
    let r = h.get(&good.replace("/oauth/mock/", "/oauth/other/"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.store.calls(), before);
    // Expired.
    h.clock.advance(time::Duration::seconds(601));
    assert_eq!(h.get(&good, None).await.status, StatusCode::BAD_REQUEST);
    // Already consumed.
    h.clock.advance(time::Duration::seconds(-601));
    let mut jar = Jar::default();
    let cb = through_hop(&h, &mut jar).await;
    let used = url::Url::parse(&format!("{BASE}{cb}")).unwrap();
    get_with(&h, &cb, &jar).await;
    let st = used.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let r = h.get(&format!("/v1/oauth/mock/go?state={st}"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.header("location").is_none());
}

#[tokio::test]
async fn without_binding_the_hop_is_not_found_and_start_answers_the_provider_url() {
    let h = H::new().await;
    h.create_app(KEY1).await;
    let url = h.start_default(KEY1).await;
    assert!(url.starts_with(&h.mock.authorize_url()));
    let state = url::Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    h.get(&format!("/v1/oauth/mock/go?state={state}"), None).await.assert_error(404, "not_found");
}

fn config(base: &str) -> ConnectConfig {
    let mut c = ConnectConfig::new(base);
    c.state_secret = Some("c3RhdGUtc2VjcmV0LXN0YXRlLXNlY3JldC0zMi1ieXRlcw".to_owned().into());
    c.encryption_key = Some("ZW5jcnlwdGlvbi1rZXktZW5jcnlwdGlvbi1rZXktMzI".to_owned().into());
    c.outbound_loopback_only = true;
    c
}

async fn start_url(mock: &MockProvider, c: ConnectConfig) -> String {
    let t: TenantId = "t1".parse().unwrap();
    let connect: Connect = c
        .into_builder()
        .unwrap()
        .api_key(KEY1, t.clone())
        .store(dravo_connect::store::MemoryStore::new())
        .provider_config(mock.provider_config("mock"))
        .build()
        .unwrap();
    let app =
        dravo_connect::NewApp::new("mock".parse().unwrap(), "mock-client", "mock-secret", vec![RETURN.to_owned()]);
    connect.create_app(&t, app).await.unwrap();
    connect.start(&t, &"mock".parse().unwrap(), dravo_connect::StartParams::new(RETURN)).await.unwrap().authorize_url
}

#[tokio::test]
async fn binding_is_on_by_default_for_an_https_base_url_and_off_for_http_and_configurable() {
    let mock = MockProvider::start().await.unwrap();
    let https = start_url(&mock, config(BASE)).await;
    assert!(https.starts_with(&format!("{BASE}/v1/oauth/mock/go?state=")), "{https}");
    let http = start_url(&mock, config("http://127.0.0.1:3000")).await;
    assert!(http.starts_with(&mock.authorize_url()), "{http}");
    let mut off: ConnectConfig =
        serde_json::from_value(json!({"public_base_url": BASE, "browser_binding": false})).unwrap();
    off.state_secret = config(BASE).state_secret;
    off.encryption_key = config(BASE).encryption_key;
    off.outbound_loopback_only = true;
    assert!(start_url(&mock, off).await.starts_with(&mock.authorize_url()));
    let mut on = config("http://127.0.0.1:3000");
    on.browser_binding = Some(true);
    assert!(start_url(&mock, on).await.starts_with("http://127.0.0.1:3000/v1/oauth/mock/go?state="));
}

// ------------------------------------------------------------------ Location inventory

#[tokio::test]
async fn only_the_callback_and_the_hop_ever_emit_location() {
    let h = bound().await;
    let app_id = h.create_app(KEY1).await;
    let acc = {
        let mut jar = Jar::default();
        let cb = through_hop(&h, &mut jar).await;
        get_with(&h, &cb, &jar).await.location_param("account_id").unwrap()
    };
    let mut jar = Jar::default();
    let authorize_url = h.start_default(KEY1).await;
    let hop = url::Url::parse(&authorize_url).unwrap();
    let hop = format!("{}?{}", hop.path(), hop.query().unwrap());
    let lure = format!("next={0}&redirect={0}&redirect_uri={0}&return_to={0}", enc("https://evil.test/"));
    let paths = [
        "/v1/oauth-apps".to_owned(),
        format!("/v1/oauth-apps/{app_id}"),
        format!("/v1/oauth/mock/start?return_url={}", enc(RETURN)),
        "/v1/oauth/mock/callback".to_owned(),
        "/v1/oauth/mock/go".to_owned(),
        "/v1/accounts".to_owned(),
        format!("/v1/accounts/{acc}"),
        "/v1/nope".to_owned(),
    ];
    let methods =
        [Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE, Method::OPTIONS, Method::HEAD];
    for path in &paths {
        for m in &methods {
            for key in [None, Some(KEY1)] {
                let sep = if path.contains('?') { '&' } else { '?' };
                let uri = format!("{path}{sep}{lure}");
                // DELETE last would remove the objects; GET/PATCH with a body is harmless.
                if *m == Method::DELETE {
                    continue;
                }
                let r = h.req(m.clone(), &uri, key, Some(json!({"name": "n"}))).await;
                assert!(r.header("location").is_none(), "{m} {uri} emitted Location");
            }
        }
    }
    // Deletes, last.
    for path in [format!("/v1/accounts/{acc}?{lure}"), format!("/v1/oauth-apps/{app_id}?cascade=true&{lure}")] {
        let r = h.req(Method::DELETE, &path, Some(KEY1), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert!(r.header("location").is_none());
    }
    // The two that do: the hop, to the provider only; the callback, to the checked return URL.
    let h = bound().await;
    h.create_app(KEY1).await;
    let r = get_with(&h, &format!("{hop}&{lure}"), &jar).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a stale state from another instance");
    let authorize_url = h.start_default(KEY1).await;
    let hop = url::Url::parse(&authorize_url).unwrap();
    let r = get_with(&h, &format!("{}?{}&{lure}", hop.path(), hop.query().unwrap()), &jar).await;
    assert!(r.location().as_str().starts_with(&h.mock.authorize_url()));
    jar.take(&r);
    let cb = h.consent(r.header("location").unwrap()).await;
    let r = get_with(&h, &format!("{cb}&{lure}"), &jar).await;
    assert!(r.location().as_str().starts_with(RETURN), "{}", r.location());
}

// ------------------------------------------------------------------ CORS

async fn req_h(h: &H, m: Method, uri: &str, headers: &[(&str, &str)]) -> Resp {
    let mut b = Request::builder().method(m).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    h.send(b.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn without_configured_origins_no_route_sends_cors_headers() {
    let h = H::new().await;
    h.create_app(KEY1).await;
    let origin = ("origin", "https://app.acme.test");
    let auth = format!("Bearer {KEY1}");
    let pre = [origin, ("access-control-request-method", "GET"), ("access-control-request-headers", "authorization")];
    let r = req_h(&h, Method::OPTIONS, "/v1/accounts", &pre).await;
    r.assert_error(405, "method_not_allowed");
    for r in [r, req_h(&h, Method::GET, "/v1/accounts", &[origin, ("authorization", &auth)]).await] {
        assert!(r.headers.keys().all(|k| !k.as_str().starts_with("access-control-")), "{:?}", r.headers);
    }
}

#[tokio::test]
async fn configured_origins_get_preflight_and_headers_on_keyed_routes_only() {
    let h = H::with(MockConfig::default(), |b| b.cors_allowed_origins(["https://App.Acme.test"])).await;
    h.create_app(KEY1).await;
    let auth = format!("Bearer {KEY1}");
    let good = ("origin", "https://app.acme.test");
    let pre = [good, ("access-control-request-method", "POST"), ("access-control-request-headers", "authorization")];
    let r = req_h(&h, Method::OPTIONS, "/v1/oauth-apps", &pre).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.acme.test"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
    assert!(r.header("access-control-allow-headers").unwrap().contains("authorization"));
    assert!(r.header("access-control-allow-credentials").is_none());
    let r = req_h(&h, Method::GET, "/v1/accounts", &[good, ("authorization", &auth)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.acme.test"));
    assert_eq!(r.header("vary"), Some("Origin"));
    // Another origin: no preflight answer and no allow header.
    let evil = ("origin", "https://evil.test");
    let pre = [evil, ("access-control-request-method", "POST")];
    let r = req_h(&h, Method::OPTIONS, "/v1/oauth-apps", &pre).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.header("access-control-allow-origin").is_none());
    let r = req_h(&h, Method::GET, "/v1/accounts", &[evil, ("authorization", &auth)]).await;
    assert!(r.header("access-control-allow-origin").is_none());
    // The callback and the hop are browser navigations: never CORS.
    let r = req_h(&h, Method::GET, "/v1/oauth/mock/callback?state=x", &[good]).await;
    assert!(r.headers.keys().all(|k| !k.as_str().starts_with("access-control-")));
    let r =
        req_h(&h, Method::OPTIONS, "/v1/oauth/mock/callback", &[good, ("access-control-request-method", "GET")]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_malformed_cors_origin_is_refused_at_build() {
    for bad in ["*", "https://a.test/path", "null"] {
        let mut c = config(BASE);
        c.cors_allowed_origins = vec![bad.to_owned()];
        let b = c
            .into_builder()
            .unwrap()
            .api_key(KEY1, "t1".parse().unwrap())
            .store(dravo_connect::store::MemoryStore::new());
        assert!(matches!(b.build(), Err(dravo_connect::ConfigError::CorsOrigin(_))), "{bad}");
    }
}

// ------------------------------------------------------------------ OpenAPI

#[tokio::test]
async fn the_openapi_document_is_served_without_a_key_with_this_instances_server() {
    let h = H::new().await;
    let r = h.get("/v1/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], format!("{BASE}/v1"));
    assert!(doc["paths"]["/oauth/{provider}/callback"]["get"].is_object());
    h.req(Method::POST, "/v1/openapi.json", None, None).await.assert_error(405, "method_not_allowed");
}

#[tokio::test]
async fn an_access_token_that_cannot_be_a_header_is_a_validation_error_not_a_502() {
    let h = H::new().await;
    for token in ["caf\u{e9}", "a b", "line\nbreak"] {
        h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(json!({"provider": "mock", "access_token": token})))
            .await
            .assert_error(422, "validation_failed");
    }
    assert_eq!(h.mock.counts().total, 0);
}

// ------------------------------------------------------------------ the hop is single use

/// An instance with browser binding on, on `store` (instances on one store are what separate
/// processes on one database are).
pub(crate) fn bound_instance(store: std::sync::Arc<dyn dravo_connect::store::Store>, mock: &MockProvider) -> Connect {
    Connect::builder()
        .public_base_url(BASE)
        .api_key(KEY1, tenant("t1"))
        .state_key(dravo_connect::KeyId::zero(), dravo_connect::Secret::new(vec![0x11; 32]))
        .encryption_key(dravo_connect::KeyId::zero(), dravo_connect::Secret::new(vec![0x22; 32]))
        .shared_store(store)
        .outbound_loopback_only(true)
        .browser_binding(true)
        .provider_config(mock.provider_config("mock"))
        .build()
        .unwrap()
}

async fn handle_get(connect: &Connect, uri: &str, cookie: Option<&str>) -> http::Response<bytes::Bytes> {
    let mut b = Request::builder().uri(uri);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    connect.handle(b.body(bytes::Bytes::new()).unwrap()).await
}

fn set_cookie(r: &http::Response<bytes::Bytes>) -> Option<String> {
    r.headers().get("set-cookie").map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
}

fn location(r: &http::Response<bytes::Bytes>) -> url::Url {
    assert_eq!(r.status(), StatusCode::FOUND, "{}", String::from_utf8_lossy(r.body()));
    url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

fn query_param(u: &url::Url, name: &str) -> Option<String> {
    u.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn is_static_page(r: &http::Response<bytes::Bytes>) -> bool {
    r.status() == StatusCode::BAD_REQUEST
        && r.headers()["content-type"].to_str().unwrap().starts_with("text/html")
        && !r.headers().contains_key("location")
        && !r.headers().contains_key("set-cookie")
}

/// A started flow's hop, as path and query.
async fn hop_of(connect: &Connect) -> String {
    let started =
        connect.start(&tenant("t1"), &"mock".parse().unwrap(), dravo_connect::StartParams::new(RETURN)).await.unwrap();
    let hop = url::Url::parse(&started.authorize_url).unwrap();
    format!("{}?{}", hop.path(), hop.query().unwrap())
}

/// The victim's browser opens a flow's hop on `first`; an attacker who read the state (it sits
/// in the provider's authorize URL, browser history and the provider's logs) opens the same hop
/// from a second browser, on `second`. Only the first browser is bound: the second gets the
/// static page and no cookie, whichever instance it reaches, its own consent ends in
/// `browser_mismatch` without a code exchange, and the victim's flow connects. Then many
/// browsers open one flow's hop at once over both instances: exactly one is bound. The app
/// for `mock` must exist for tenant `t1`.
pub(crate) async fn a_leaked_hop_binds_only_the_first_browser(first: &Connect, second: &Connect, mock: &MockProvider) {
    // The victim hops first and completes the flow; the attacker's hop in between is refused.
    let hop = hop_of(first).await;
    let victim = handle_get(first, &hop, None).await;
    let to_provider = location(&victim).to_string();
    let victim_cookie = set_cookie(&victim).expect("the first browser gets the binding cookie");
    for instance in [second, first] {
        let attacker = handle_get(instance, &hop, None).await;
        assert!(is_static_page(&attacker), "a second browser's hop is refused: {:?}", attacker.status());
        // Not even a browser that holds a cookie of the right name (a guess) is bound.
        let guess = format!("{}=AAAA", victim_cookie.split('=').next().unwrap());
        assert!(is_static_page(&handle_get(instance, &hop, Some(&guess)).await));
    }
    let callback = mock.consent(&to_provider).await.unwrap();
    let done =
        handle_get(second, &format!("{}?{}", callback.path(), callback.query().unwrap()), Some(&victim_cookie)).await;
    assert_eq!(query_param(&location(&done), "connected").as_deref(), Some("mock"), "the victim's flow connects");

    // The attacker consents with the leaked state and calls back from its own browser: it was
    // never bound, so browser_mismatch, and no code exchange.
    let hop = hop_of(second).await;
    let victim = handle_get(first, &hop, None).await;
    assert_eq!(victim.status(), StatusCode::FOUND);
    assert!(is_static_page(&handle_get(second, &hop, None).await));
    mock.reset_counts();
    let callback = mock.consent(location(&victim).as_str()).await.unwrap();
    let stolen = handle_get(first, &format!("{}?{}", callback.path(), callback.query().unwrap()), None).await;
    assert_eq!(query_param(&location(&stolen), "oauth_error").as_deref(), Some("browser_mismatch"));
    assert_eq!(mock.counts().token, 0, "no code exchange for a browser that was never bound");

    // Twenty browsers open one hop at once, over both instances: one is bound.
    let hop = hop_of(first).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (instance, hop) = (if i % 2 == 0 { first.clone() } else { second.clone() }, hop.clone());
        tasks.spawn(async move { handle_get(&instance, &hop, None).await });
    }
    let (mut bound, mut refused) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        if r.status() == StatusCode::FOUND {
            assert!(set_cookie(&r).is_some());
            bound += 1;
        } else {
            assert!(is_static_page(&r));
            refused += 1;
        }
    }
    assert_eq!((bound, refused), (1, 19), "exactly one of twenty concurrent hops binds the flow");
}

async fn create_mock_app(connect: &Connect, mock: &MockProvider) {
    let c = mock.config();
    let new = dravo_connect::NewApp::new(
        "mock".parse().unwrap(),
        c.client_id.clone(),
        c.client_secret.clone(),
        vec![RETURN.to_owned()],
    );
    connect.create_app(&tenant("t1"), new).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_hop_binds_only_the_first_browser_on_the_memory_store() {
    let mock = MockProvider::start().await.unwrap();
    let store: std::sync::Arc<dyn dravo_connect::store::Store> =
        std::sync::Arc::new(dravo_connect::store::MemoryStore::new());
    let (a, b) = (bound_instance(store.clone(), &mock), bound_instance(store, &mock));
    create_mock_app(&a, &mock).await;
    a_leaked_hop_binds_only_the_first_browser(&a, &b, &mock).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_hop_binds_only_the_first_browser_on_sqlite_with_two_pools_on_one_file() {
    use dravo_connect::store::SqliteStore;
    let dir = std::env::temp_dir().join(format!("dravo-hop-{}", dravo_connect::FlowId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("hop.db").display());
    let (one, two) = (SqliteStore::connect(&url).await.unwrap(), SqliteStore::connect(&url).await.unwrap());
    let mock = MockProvider::start().await.unwrap();
    let (a, b) = (bound_instance(std::sync::Arc::new(one), &mock), bound_instance(std::sync::Arc::new(two), &mock));
    create_mock_app(&a, &mock).await;
    a_leaked_hop_binds_only_the_first_browser(&a, &b, &mock).await;
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ unfinished flows per tenant

fn too_many(e: &dravo_connect::Error) -> bool {
    e.code() == dravo_connect::ErrorCode::TooManyPendingFlows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pending_flow_cap_is_reached_exactly_and_other_tenants_are_untouched() {
    let h = H::with(MockConfig::default(), |b| b.max_pending_flows(5)).await;
    h.create_app(KEY1).await;
    h.create_app(KEY2).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let connect = h.connect.clone();
        tasks.spawn(async move {
            connect.start(&tenant("t1"), &"mock".parse().unwrap(), dravo_connect::StartParams::new(RETURN)).await
        });
    }
    let (mut started, mut refused) = (Vec::new(), 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(s) => started.push(s.authorize_url),
            Err(e) if too_many(&e) => {
                assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(600)));
                refused += 1;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((started.len(), refused), (5, 15), "exactly the cap of twenty concurrent starts");
    // Over HTTP: 429 with Retry-After, and the other tenant starts as before.
    let uri = format!("/v1/oauth/mock/start?return_url={}", enc(RETURN));
    let r = h.get(&uri, Some(KEY1)).await;
    r.assert_error(429, "too_many_pending_flows");
    assert_eq!(r.header("retry-after"), Some("600"));
    assert_eq!(h.get(&uri, Some(KEY2)).await.status, StatusCode::OK);
    // A finished flow frees its place; one more start fills it again.
    let done = h.callback(&h.consent(&started[0]).await).await;
    assert_eq!(done.location_param("connected").as_deref(), Some("mock"));
    assert_eq!(h.get(&uri, Some(KEY1)).await.status, StatusCode::OK);
    h.get(&uri, Some(KEY1)).await.assert_error(429, "too_many_pending_flows");
    // Retry-After counts down to the earliest expiry; at it every place is free again.
    h.clock.advance(time::Duration::seconds(590));
    assert_eq!(h.get(&uri, Some(KEY1)).await.header("retry-after"), Some("10"));
    h.clock.advance(time::Duration::seconds(10));
    assert_eq!(h.get(&uri, Some(KEY1)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_return_url_over_two_kibibytes_is_refused_before_it_is_stored() {
    let h = H::new().await;
    h.create_app(KEY1).await;
    let at_cap = format!("{RETURN}?pad={}", "a".repeat(2048 - RETURN.len() - 5));
    assert_eq!(at_cap.len(), 2048);
    let ok = h.get(&format!("/v1/oauth/mock/start?return_url={}", enc(&at_cap)), Some(KEY1)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let over = format!("{at_cap}a");
    let calls = h.store.calls.load(std::sync::atomic::Ordering::SeqCst);
    let r = h.get(&format!("/v1/oauth/mock/start?return_url={}", enc(&over)), Some(KEY1)).await;
    r.assert_error(400, "return_url_not_allowed");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("2048"), "{}", r.text());
    // Only the app was read: no flow written.
    assert_eq!(h.store.calls.load(std::sync::atomic::Ordering::SeqCst) - calls, 1);
}

// ------------------------------------------------------------------ authentication

#[tokio::test]
async fn a_401_names_the_credential_of_the_authenticator_that_refused() {
    use dravo_connect::auth::{AuthError, Authenticator, SameOrigin};

    /// Refuses everyone, naming no credential (the trait's default).
    struct Nobody;
    #[async_trait::async_trait]
    impl Authenticator for Nobody {
        async fn authenticate(&self, _: &http::request::Parts) -> Result<TenantId, AuthError> {
            Err(AuthError)
        }
    }
    /// Refuses everyone, naming its session cookie.
    struct Session;
    #[async_trait::async_trait]
    impl Authenticator for Session {
        async fn authenticate(&self, _: &http::request::Parts) -> Result<TenantId, AuthError> {
            Err(AuthError)
        }
        fn credential_name(&self) -> &str {
            "session"
        }
    }

    let message = |r: &Resp| {
        r.assert_error(401, "unauthorized");
        r.json()["error"]["message"].as_str().unwrap().to_owned()
    };
    // The built-in authenticator: the API key, missing or wrong.
    let h = H::new().await;
    assert_eq!(message(&h.get("/v1/accounts", None).await), "missing or invalid API key");
    assert_eq!(message(&h.get("/v1/accounts", Some("not_a_known_key_0123456789")).await), "missing or invalid API key");
    // A custom one, even with an API key presented: never "API key".
    let h = H::with(MockConfig::default(), |b| b.authenticator(Nobody)).await;
    assert_eq!(message(&h.get("/v1/accounts", Some(KEY1)).await), "missing or invalid credentials");
    let session = SameOrigin::new(Session, "https://app.acme.test").unwrap();
    let h = H::with(MockConfig::default(), |b| b.authenticator(session)).await;
    assert_eq!(message(&h.get("/v1/accounts", None).await), "missing or invalid session");
    let cross_site = req_h(&h, Method::POST, "/v1/oauth-apps", &[("origin", "https://evil.test")]).await;
    assert_eq!(message(&cross_site), "missing or invalid session");
}
