//! Logs stay clean (SECURITY.md, "Token leakage"): a global TRACE subscriber for every target
//! (ours, hyper, reqwest, sqlx; `log` records bridged) captures everything while a full flow
//! (through the browser-binding hop, on SQLite), a refresh, every error path and a Bluesky
//! app-password login run; then no client secret, app password, token, code, PKCE verifier,
//! state or encryption key or API key may appear in the capture: raw, percent-encoded or
//! base64-encoded. The flow id must appear (the
//! positive control: the capture works).
//!
//! Its own test binary: the subscriber is process-global.
#![cfg(all(feature = "axum", feature = "test-util", feature = "reqwest", feature = "sqlite"))]

#[allow(dead_code)]
#[path = "common/faulty_store.rs"]
mod faulty_store;
#[allow(dead_code)]
#[path = "flow/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "flow/openapi.rs"]
mod openapi;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use dravo_connect::store::{SelectionStore, SqliteStore, Store};
use dravo_connect::test_util::{MockBehavior, MockConfig, MockProvider, MockUser};
use dravo_connect::{FlowId, KeyId, ProviderId, Secret};
use dravo_connect_core::secret_box::SecretBox;
use dravo_connect_core::state::StateSigner;
use harness::*;
use http::{Method, Request, StatusCode};
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every way `secret` could show up in text: raw, percent-encoded (form and path styles),
/// and the stable middle of its base64 (both alphabets) at each of the 3 byte alignments
/// inside a longer encoded value.
fn forms(secret: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(s) = std::str::from_utf8(secret) {
        out.push(s.to_owned());
        out.push(url::form_urlencoded::byte_serialize(secret).collect());
        out.push(percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string());
    }
    out.push(secret.iter().map(|b| format!("{b:02x}")).collect());
    for shift in 0..3 {
        let mut padded = vec![b'#'; shift];
        padded.extend_from_slice(secret);
        for enc in [STANDARD.encode(&padded), URL_SAFE_NO_PAD.encode(&padded)] {
            // Skip the characters mixing in the padding, and the last 4 (mixed with whatever
            // follows); what is left depends on the secret alone.
            let start = (shift * 8).div_ceil(6) + 1;
            let core: String = enc.trim_end_matches('=').chars().collect();
            if core.len() > start + 4 + 8 {
                out.push(core[start..core.len() - 4].to_owned());
            }
        }
    }
    out
}

fn state_of(url: &str) -> String {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned()
}

fn flow_of(state: &str) -> FlowId {
    flow_at("mock", state)
}

fn flow_at(provider: &str, state: &str) -> FlowId {
    let signer = StateSigner::new([(KeyId::zero(), Secret::new(vec![0x11; 32]))]).unwrap();
    signer.verify(&provider.parse::<ProviderId>().unwrap(), state).unwrap().flow_id
}

fn log_has(capture: &Capture, needle: &str) -> bool {
    String::from_utf8_lossy(&capture.0.lock().unwrap()).contains(needle)
}

fn boxes() -> SecretBox {
    SecretBox::new([(KeyId::zero(), Secret::new(vec![0x22; 32]))]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_token_code_verifier_or_key_ever_reaches_a_trace_log() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .unwrap();

    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("api key 1".into(), KEY1.into()),
        ("api key 2".into(), KEY2.into()),
        ("client secret".into(), b"mock-secret".to_vec()),
        ("state key".into(), vec![0x11; 32]),
        ("encryption key".into(), vec![0x22; 32]),
    ];
    let mut flow_ids = Vec::new();

    // 1. A full flow through the hop, on SQLite (sqlx logs), then a refresh.
    let dir = std::env::temp_dir().join(format!("dravo-logs-{}", FlowId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = SqliteStore::connect(&format!("sqlite://{}?mode=rwc", dir.join("logs.db").display())).await.unwrap();
    let shared: Arc<dyn Store> = Arc::new(sqlite.clone());
    let h = H::with(MockConfig::default(), |b| b.browser_binding(true).shared_store(shared)).await;
    h.create_app(KEY1).await;
    let hop = url::Url::parse(&h.start_default(KEY1).await).unwrap();
    let r = h.get(&format!("{}?{}", hop.path(), hop.query().unwrap()), None).await;
    assert_eq!(r.status, StatusCode::FOUND);
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let state = state_of(hop.as_str());
    let flow_id = flow_of(&state);
    flow_ids.push(flow_id.to_string());
    let flow = sqlite.get_flow(&flow_id).await.unwrap().unwrap();
    let verifier = boxes().open_string(&flow_id.to_string(), "pkce_verifier", flow.pkce_verifier.as_ref().unwrap());
    secrets.push(("pkce verifier".into(), verifier.unwrap().expose_secret().clone().into_bytes()));
    let cb = h.consent(r.header("location").unwrap()).await;
    secrets.push(("code".into(), param(&cb, "code").into_bytes()));
    let req = Request::get(&cb).header("cookie", &cookie).body(axum::body::Body::empty()).unwrap();
    let r = h.send(req).await;
    let account_id: dravo_connect::AccountId = r.location_param("account_id").unwrap().parse().unwrap();
    let t1 = tenant("t1");
    let record = sqlite.get_account(&t1, &account_id).await.unwrap().unwrap();
    let refresh = boxes().open_string(account_id.as_str(), "refresh_token", record.refresh_token.as_ref().unwrap());
    secrets.push(("refresh token".into(), refresh.unwrap().expose_secret().clone().into_bytes()));
    let at = h.connect.access_token(&t1, &account_id).await.unwrap();
    secrets.push(("access token".into(), at.expose_secret().clone().into_bytes()));
    h.clock.advance(time::Duration::hours(2));
    let at2 = h.connect.access_token(&t1, &account_id).await.unwrap();
    secrets.push(("refreshed access token".into(), at2.expose_secret().clone().into_bytes()));
    let record = sqlite.get_account(&t1, &account_id).await.unwrap().unwrap();
    let refresh2 = boxes().open_string(account_id.as_str(), "refresh_token", record.refresh_token.as_ref().unwrap());
    secrets.push(("rotated refresh token".into(), refresh2.unwrap().expose_secret().clone().into_bytes()));
    // A callback replayed from another browser, then with the cookie (state_reused).
    let cb2 = {
        let hop = url::Url::parse(&h.start_default(KEY1).await).unwrap();
        let r = h.get(&format!("{}?{}", hop.path(), hop.query().unwrap()), None).await;
        h.consent(r.header("location").unwrap()).await
    };
    secrets.push(("code 2".into(), param(&cb2, "code").into_bytes()));
    assert_eq!(h.callback(&cb2).await.location_param("oauth_error").as_deref(), Some("browser_mismatch"));
    h.callback(&cb).await;
    // A target selection with a sealed Page token, read and chosen through the routes.
    let page_token = "EAAPageTokenThatMustNeverBeLogged0123456789";
    secrets.push(("page token".into(), page_token.as_bytes().to_vec()));
    let selection_id = dravo_connect::SelectionId::generate();
    let now = time::OffsetDateTime::from_unix_timestamp(START.unix_timestamp() + 7200).unwrap();
    let mut target = dravo_connect::store::SelectionTarget::new("1011", dravo_connect::provider::TargetType::Page);
    target.display_name = Some("Bakery".into());
    target.access_token = Some(boxes().seal(selection_id.as_str(), "target_access_token:1011", page_token.as_bytes()));
    let mut selection = dravo_connect::store::SelectionRecord::new(
        selection_id.clone(),
        t1.clone(),
        "mock".parse().unwrap(),
        account_id.clone(),
        vec![target],
        now,
        now + time::Duration::minutes(10),
    );
    selection.app_id = record.app_id.clone();
    sqlite.insert_selection(&selection).await.unwrap();
    let path = format!("/v1/oauth/selections/{selection_id}");
    assert_eq!(h.get(&path, Some(KEY1)).await.status, StatusCode::OK);
    let r = h.req(Method::POST, &path, Some(KEY1), Some(json!({"target_ids": ["1011"]}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let page_id: dravo_connect::AccountId = r.json()["data"][0]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(h.connect.access_token(&t1, &page_id).await.unwrap().expose_secret(), page_token);
    assert!(log_has(&capture, selection_id.as_str()), "the selection id is logged (positive control)");
    // Refresh refused: the account is marked expired.
    h.clock.advance(time::Duration::hours(2));
    h.mock.set_behavior(MockBehavior::default().with_refresh_invalid_grant(true));
    assert!(h.connect.access_token(&t1, &account_id).await.is_err());
    let _ = std::fs::remove_dir_all(&dir);

    // 2. Every callback error path, on the counting store (binding off).
    let behaviors = [
        MockBehavior::default().with_deny(true),
        MockBehavior::default().with_authorize_error("<script>x</script>"),
        MockBehavior::default().with_token_error_in_200(true),
        MockBehavior::default().with_token_missing_access_token(true),
        MockBehavior::default().with_token_type("mac"),
        MockBehavior::default().with_token_malformed(true),
        MockBehavior::default().with_token_status(503),
        MockBehavior::default().with_userinfo_status(500),
        MockBehavior::default().with_userinfo_malformed(true),
    ];
    for b in behaviors {
        let h = H::new().await;
        h.create_app(KEY1).await;
        let url = h.start_default(KEY1).await;
        flow_ids.push(flow_of(&state_of(&url)).to_string());
        h.mock.set_behavior(b);
        let cb = h.consent(&url).await;
        if let Some((_, code)) =
            url::Url::parse(&format!("{BASE}{cb}")).unwrap().query_pairs().find(|(k, _)| k == "code")
        {
            secrets.push(("code".into(), code.into_owned().into_bytes()));
        }
        assert_eq!(h.callback(&cb).await.status, StatusCode::FOUND);
    }
    let h = H::with(MockConfig::default().with_issuer("https://mock.issuer.test"), |b| b).await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    secrets.push(("code".into(), param(&cb, "code").into_bytes()));
    let forged = cb.replace(&format!("iss={}", enc("https://mock.issuer.test")), "iss=https%3A%2F%2Fevil.test");
    h.callback(&forged).await;
    // Code injection, replay, expiry, forged states, a store failure.
    let h = H::new().await;
    h.create_app(KEY1).await;
    let cb_a = h.consent(&h.start_default(KEY1).await).await;
    let cb_b = h.consent(&h.start_default(KEY1).await).await;
    for c in [&cb_a, &cb_b] {
        secrets.push(("code".into(), param(c, "code").into_bytes()));
    }
    let injected = format!("/v1/oauth/mock/callback?code={}&state={}", param(&cb_a, "code"), param(&cb_b, "state"));
    h.callback(&injected).await;
    h.callback(&cb_b).await;
    let mut flipped = param(&cb_a, "state").into_bytes();
    flipped[5] ^= 1;
    let flipped = String::from_utf8_lossy(&flipped).into_owned();
    h.callback(&format!("/v1/oauth/mock/callback?code={}&state={}", param(&cb_a, "code"), enc(&flipped))).await;
    h.clock.advance(time::Duration::seconds(601));
    h.callback(&cb_a).await;
    h.clock.advance(time::Duration::seconds(-601));
    let cb = h.consent(&h.start_default(KEY1).await).await;
    secrets.push(("code".into(), param(&cb, "code").into_bytes()));
    h.store.fail_accounts.store(true, Ordering::SeqCst);
    h.callback(&cb).await;
    h.store.fail_accounts.store(false, Ordering::SeqCst);

    // A Mastodon flow: registration at the instance, exchange and revocation with its client.
    let m = H::with(MockConfig::mastodon(), |b| b.allow_private_instances(true)).await;
    secrets.push(("instance client secret".into(), m.mock.config().client_secret.clone().into_bytes()));
    let app = json!({"provider": "mastodon", "name": "Logs", "allowed_return_urls": [RETURN]});
    assert_eq!(m.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(app)).await.status, StatusCode::CREATED);
    let start = format!("/v1/oauth/mastodon/start?return_url={}&instance={}", enc(RETURN), enc(&m.mock.base_url()));
    let url = m.get(&start, Some(KEY1)).await.json()["authorize_url"].as_str().unwrap().to_owned();
    flow_ids.push(flow_at("mastodon", &state_of(&url)).to_string());
    let to = m.mock.consent(&url).await.unwrap();
    let cb = format!("{}?{}", to.path(), to.query().unwrap());
    secrets.push(("mastodon code".into(), param(&cb, "code").into_bytes()));
    let r = m.callback(&cb).await;
    let account_id: dravo_connect::AccountId = r.location_param("account_id").unwrap().parse().unwrap();
    let at = m.connect.access_token(&t1, &account_id).await.unwrap();
    secrets.push(("mastodon access token".into(), at.expose_secret().clone().into_bytes()));
    assert_eq!(m.connect.disconnect(&t1, &account_id).await.unwrap(), dravo_connect::Revocation::Revoked);

    // 3. Keyed-route errors: wrong keys, bad bodies, a refused token, a store failure.
    h.get("/v1/accounts", Some("wrong_key_but_long_enough_000")).await.assert_error(401, "unauthorized");
    h.get(&format!("/v1/accounts?api_key={KEY1}"), None).await.assert_error(401, "unauthorized");
    let mut body = h.app_body();
    body["client_secret"] = json!("");
    h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await.assert_error(422, "validation_failed");
    let token = h.mock.issue_access_token(&h.mock.user());
    secrets.push(("registered access token".into(), token.clone().into_bytes()));
    h.mock.set_behavior(MockBehavior::default().with_userinfo_status(401));
    h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(json!({"provider": "mock", "access_token": token})))
        .await
        .assert_error(422, "invalid_token");
    h.mock.set_behavior(MockBehavior::default().with_userinfo_status(503));
    h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(json!({"provider": "mock", "access_token": token})))
        .await
        .assert_error(502, "provider_error");
    h.mock.set_behavior(MockBehavior::default());
    h.store.fail.store(true, Ordering::SeqCst);
    h.get("/v1/accounts", Some(KEY1)).await.assert_error(500, "server_error");
    h.store.fail.store(false, Ordering::SeqCst);

    // 4. Bluesky: an app-password login (refused, two-factor, accepted), a session refresh
    // with rotation, and the session's end.
    let pds = MockProvider::start_with(MockConfig::default().with_app_password("wxyz-2345-abcd-6789")).await.unwrap();
    let service = pds.base_url();
    let h = H::with(MockConfig::default(), |b| {
        b.provider_config(dravo_connect::provider::BuiltinOverrides::new("bluesky").with_service_url(service))
    })
    .await;
    pds.set_clock(h.clock.clone());
    pds.set_user(MockUser::new("did:plc:logsalice", "alice.logs.test", "Alice"));
    secrets.push(("app password".into(), b"wxyz-2345-abcd-6789".to_vec()));
    secrets.push(("wrong app password".into(), b"qqqq-2345-abcd-6789".to_vec()));
    let login =
        |password: &str| json!({"provider": "bluesky", "identifier": "alice.logs.test", "app_password": password});
    h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(login("qqqq-2345-abcd-6789")))
        .await
        .assert_error(422, "invalid_token");
    pds.set_behavior(MockBehavior::default().with_session_auth_factor_required(true));
    h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(login("wxyz-2345-abcd-6789")))
        .await
        .assert_error(422, "invalid_token");
    pds.set_behavior(MockBehavior::default());
    let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(login("wxyz-2345-abcd-6789"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let bsky: dravo_connect::AccountId = r.json()["id"].as_str().unwrap().parse().unwrap();
    let record = h.store.get_account(&t1, &bsky).await.unwrap().unwrap();
    let session_refresh = boxes().open_string(bsky.as_str(), "refresh_token", record.refresh_token.as_ref().unwrap());
    secrets.push(("session refresh token".into(), session_refresh.unwrap().expose_secret().clone().into_bytes()));
    let jwt = h.connect.access_token(&t1, &bsky).await.unwrap();
    secrets.push(("session access token".into(), jwt.expose_secret().clone().into_bytes()));
    h.clock.advance(time::Duration::hours(2));
    let jwt2 = h.connect.access_token(&t1, &bsky).await.unwrap();
    secrets.push(("refreshed session access token".into(), jwt2.expose_secret().clone().into_bytes()));
    assert_eq!(pds.counts().refresh_session, 1);
    let record = h.store.get_account(&t1, &bsky).await.unwrap().unwrap();
    let rotated = boxes().open_string(bsky.as_str(), "refresh_token", record.refresh_token.as_ref().unwrap());
    secrets.push(("rotated session refresh token".into(), rotated.unwrap().expose_secret().clone().into_bytes()));
    let r = h.req(Method::DELETE, &format!("/v1/accounts/{bsky}"), Some(KEY1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(pds.counts().delete_session, 1);

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // Positive controls: the capture saw our flow ids and the other targets.
    for id in &flow_ids {
        assert!(log.contains(id.as_str()), "the flow id {id} is missing: the capture does not work");
    }
    for target in ["dravo_connect::", "sqlx::", "reqwest::", "hyper_util::"] {
        assert!(log.contains(target), "no line from {target} was captured");
    }
    // Prefix scans catch any mock token or code, even ones not collected above.
    // ("eyJ0eXAiOi" is the base64url of `{"typ":`, how every session JWT starts.)
    for prefix in ["mock_at_", "mock_rt_", "mock_code_", "eyJ0eXAiOi"] {
        assert!(!log.contains(prefix), "a {prefix}… value leaked into the logs");
    }
    for (what, secret) in &secrets {
        for form in forms(secret) {
            assert!(!log.contains(&form), "the {what} leaked into the logs as {form:?}");
        }
    }
    assert!(log.lines().count() > 100, "suspiciously few lines: {}", log.lines().count());
}
