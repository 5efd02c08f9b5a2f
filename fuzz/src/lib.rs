//! The bodies of the fuzz targets (`fuzz_targets/`), shared with the ordinary test that
//! replays the committed seeds (`tests/flow/fuzz_seeds.rs` includes this file), so both run
//! exactly the same checks through the crate's public API.
//!
//! Each function takes arbitrary bytes and panics only when a property breaks: a panic of
//! the code under test, a `500`, a redirect from a route that must not redirect, an accepted
//! return URL outside the allowlist, a forged state that verifies.

// Assertions are the point of these functions: a broken property panics, like a test.
#![allow(clippy::panic)]

use std::sync::OnceLock;

use bytes::Bytes;
use http::{Method, Request, StatusCode};

use dravo_connect::http_client::HttpError;
use dravo_connect::provider::{GenericConfig, ProfilePointers};
use dravo_connect::store::MemoryStore;
use dravo_connect::{Connect, KeyId, ProviderId, ReturnUrlAllowlist, Secret, TenantId};
use dravo_connect_core::state::StateSigner;

/// The fuzz targets, by name (also the folders under `fuzz/seeds/`).
pub const TARGETS: [&str; 4] = ["return_url", "state", "callback_query", "json_body"];

/// Runs the target `name` on `data`.
///
/// # Panics
/// When a property breaks (that is the point), or for an unknown name.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "return_url" => return_url(data),
        "state" => state(data),
        "callback_query" => callback_query(data),
        "json_body" => json_body(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// The return-URL check: never panics; whatever it accepts is https (or loopback http) on an
/// allowlisted host under an allowlisted path, and is accepted again once serialised.
///
/// # Panics
/// When a property breaks.
pub fn return_url(data: &[u8]) {
    static LIST: OnceLock<ReturnUrlAllowlist> = OnceLock::new();
    let list = LIST.get_or_init(|| {
        ReturnUrlAllowlist::new(["https://app.acme.test/connect", "http://localhost:3000/cb/", "https://bücher.test"])
            .unwrap_or_else(|e| panic!("fuzz allowlist: {e}"))
    });
    let Ok(candidate) = std::str::from_utf8(data) else { return };
    if let Ok(url) = list.check(candidate) {
        let ok = match (url.scheme(), url.host_str()) {
            ("https", Some("app.acme.test")) => url.path() == "/connect" || url.path().starts_with("/connect/"),
            ("https", Some("xn--bcher-kva.test")) => true,
            ("http", Some("localhost")) => url.port() == Some(3000) && url.path().starts_with("/cb/"),
            _ => false,
        };
        assert!(ok, "accepted outside the allowlist: {candidate:?} -> {url}");
        assert!(list.check(url.as_str()).is_ok(), "not accepted again once serialised: {url}");
    }
}

/// State verification: never panics, and arbitrary input never verifies.
///
/// # Panics
/// When a property breaks.
pub fn state(data: &[u8]) {
    static SIGNER: OnceLock<StateSigner> = OnceLock::new();
    let signer = SIGNER.get_or_init(|| {
        StateSigner::new([(KeyId::zero(), Secret::new(vec![0x5a; 32]))]).unwrap_or_else(|e| panic!("{e}"))
    });
    let provider: ProviderId = "x".parse().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(data);
    assert!(signer.verify(&provider, &text).is_err(), "a fuzzed state verified: {text:?}");
}

struct World {
    rt: tokio::runtime::Runtime,
    connect: Connect,
}

const KEY: &str = "fuzz_key_0123456789abcdef";

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        // Offline: every outbound request fails at once.
        let offline =
            |_: Request<Bytes>| async { Err::<http::Response<Bytes>, _>(HttpError::Connect("offline".into())) };
        let provider = GenericConfig::new("fz")
            .with_authorize_url("https://fz.example/authorize")
            .with_token_url("https://fz.example/token")
            .with_userinfo_url("https://fz.example/me")
            .with_scopes(["profile"])
            .with_pkce(true)
            .with_profile(ProfilePointers::new("/sub"));
        let tenant: TenantId = "fuzz".parse().unwrap_or_else(|e| panic!("{e}"));
        let connect = Connect::builder()
            .public_base_url("https://connect.example")
            .api_key(KEY, tenant)
            .state_key(KeyId::zero(), Secret::new(vec![0x5a; 32]))
            .encryption_key(KeyId::zero(), Secret::new(vec![0xa5; 32]))
            .store(MemoryStore::new())
            .http_client(offline)
            .provider_config(provider)
            .build()
            .unwrap_or_else(|e| panic!("fuzz connect: {e}"));
        World { rt, connect }
    })
}

fn serve(request: Request<Bytes>) -> http::Response<Bytes> {
    let w = world();
    w.rt.block_on(w.connect.handle(request))
}

/// The callback's query parsing: any query gets a 400 page, a 404 or a 414, never a 500 and
/// never a redirect (no state here is genuine).
///
/// # Panics
/// When a property breaks.
pub fn callback_query(data: &[u8]) {
    let query: String = String::from_utf8_lossy(data).chars().filter(|c| !c.is_control() && *c != '#').collect();
    let Ok(request) = Request::get(format!("/v1/oauth/fz/callback?{query}")).body(Bytes::new()) else { return };
    let res = serve(request);
    assert!(
        matches!(res.status(), StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::URI_TOO_LONG),
        "callback answered {} to {query:?}",
        res.status()
    );
    assert!(res.headers().get(http::header::LOCATION).is_none(), "callback redirected on {query:?}");
}

/// Every JSON body: the first byte picks the route (`POST /oauth-apps`, `PATCH
/// /oauth-apps/{id}`, `POST /accounts`), the rest is the body. Never a 5xx other than the
/// documented `502 provider_error` (the provider is offline), never a `Location`.
///
/// # Panics
/// When a property breaks.
pub fn json_body(data: &[u8]) {
    static APP: OnceLock<String> = OnceLock::new();
    let app_id = APP.get_or_init(|| {
        let body = r#"{"provider":"fz","client_id":"c","client_secret":"s","allowed_return_urls":["https://a.test/"]}"#;
        let res = serve(json_request(Method::POST, "/v1/oauth-apps", body.as_bytes()));
        let v: serde_json::Value = serde_json::from_slice(res.body()).unwrap_or_default();
        v.get("id").and_then(serde_json::Value::as_str).unwrap_or("app_missing").to_owned()
    });
    let Some((&which, body)) = data.split_first() else { return };
    let (method, path) = match which % 3 {
        0 => (Method::POST, "/v1/oauth-apps".to_owned()),
        1 => (Method::PATCH, format!("/v1/oauth-apps/{app_id}")),
        _ => (Method::POST, "/v1/accounts".to_owned()),
    };
    let res = serve(json_request(method.clone(), &path, body));
    let status = res.status();
    assert!(
        !status.is_server_error() || status == StatusCode::BAD_GATEWAY,
        "{method} {path} answered {status} to {:?}",
        String::from_utf8_lossy(body)
    );
    assert!(res.headers().get(http::header::LOCATION).is_none());
    let v: serde_json::Value =
        serde_json::from_slice(res.body()).unwrap_or_else(|e| panic!("{method} {path}: the answer is not JSON: {e}"));
    assert!(v.is_object(), "{method} {path}: {v}");
    assert!(v.get("client_secret").is_none(), "a secret came back: {v}");
}

fn json_request(method: Method, path: &str, body: &[u8]) -> Request<Bytes> {
    let mut r = Request::new(Bytes::copy_from_slice(body));
    *r.method_mut() = method;
    *r.uri_mut() = path.parse().unwrap_or_else(|e| panic!("{path}: {e}"));
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r.headers_mut().insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(&format!("Bearer {KEY}")).unwrap_or_else(|e| panic!("{e}")),
    );
    r
}
