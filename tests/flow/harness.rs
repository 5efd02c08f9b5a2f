//! The flow tests' harness: a host app (axum) with `ConnectLayer`, a `MemoryStore` behind a
//! counting/failing wrapper, a manual clock, and the mock provider on loopback.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use dravo_connect::test_util::{MockConfig, MockProvider};
use dravo_connect::{Connect, ConnectBuilder, ConnectLayer, KeyId, ManualClock, Secret, TenantId};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;
use tower::ServiceExt;

pub const KEY1: &str = "test_key_tenant_one_000001";
pub const KEY2: &str = "test_key_tenant_two_000002";
pub const BASE: &str = "https://connect.example.test";
pub const RETURN: &str = "https://app.acme.test/connect";
pub const START: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

pub use crate::faulty_store::FaultyStore;

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
    pub fn location(&self) -> url::Url {
        url::Url::parse(self.header("location").expect("a Location header")).unwrap()
    }
    /// Asserts a JSON error with this status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(self.json()["error"]["code"], code, "body: {}", self.text());
        assert!(self.json()["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(self.header("content-type"), Some("application/json"));
    }
    /// The query parameter `name` of the Location header.
    pub fn location_param(&self, name: &str) -> Option<String> {
        self.location().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

pub struct H {
    pub connect: Connect,
    pub app: Router,
    pub mock: MockProvider,
    pub clock: Arc<ManualClock>,
    pub store: Arc<FaultyStore>,
}

pub fn tenant(s: &str) -> TenantId {
    s.parse().unwrap()
}

/// What every test instance shares, without a provider: the base URL, both API keys, the
/// state and encryption keys, the store, the clock and loopback-only outbound calls.
/// BASE is https, where binding is on by default; the flows here drive the mock directly, so
/// it is off (`security.rs` covers binding, and a closure can switch it back on).
pub fn base_builder(store: &Arc<FaultyStore>, clock: &Arc<ManualClock>) -> ConnectBuilder {
    Connect::builder()
        .public_base_url(BASE)
        .api_key(KEY1, tenant("t1"))
        .api_key(KEY2, tenant("t2"))
        .state_key(KeyId::zero(), Secret::new(vec![0x11; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![0x22; 32]))
        .shared_store(store.clone())
        .clock(clock.clone())
        .outbound_loopback_only(true)
        .browser_binding(false)
}

impl H {
    pub async fn new() -> H {
        Self::with(MockConfig::default(), |b| b).await
    }

    pub async fn with(mock: MockConfig, f: impl FnOnce(ConnectBuilder) -> ConnectBuilder) -> H {
        let mock = MockProvider::start_with(mock).await.unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let store = Arc::new(FaultyStore::default());
        let builder = base_builder(&store, &clock).provider_config(mock.provider_config("mock"));
        let connect = f(builder).build().unwrap();
        let app = Router::new()
            .route("/", get(|| async { "host home" }))
            .route("/v1/host-owned", get(|| async { "host route under the prefix" }))
            .layer(ConnectLayer::new(connect.clone()))
            .layer(axum::middleware::map_response(|mut res: axum::response::Response| async move {
                res.headers_mut().insert("x-host-middleware", http::HeaderValue::from_static("seen"));
                res
            }));
        H { connect, app, mock, clock, store }
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let res = self.app.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let resp = Resp { status: parts.status, headers: parts.headers, body };
        // Every JSON answer of every flow test must match the OpenAPI document.
        crate::openapi::check(&method, &path, resp.status, resp.header("content-type"), &resp.body);
        resp
    }

    pub async fn req(&self, method: Method, uri: &str, key: Option<&str>, body: Option<Value>) -> Resp {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(k) = key {
            b = b.header("authorization", format!("Bearer {k}"));
        }
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&v).unwrap())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).unwrap()).await
    }

    pub async fn get(&self, uri: &str, key: Option<&str>) -> Resp {
        self.req(Method::GET, uri, key, None).await
    }

    pub fn app_body(&self) -> Value {
        json!({
            "provider": "mock",
            "name": "Mock app",
            "client_id": self.mock.config().client_id,
            "client_secret": self.mock.config().client_secret,
            "allowed_return_urls": [RETURN],
        })
    }

    /// Creates the tenant's app for the mock and returns its id.
    pub async fn create_app(&self, key: &str) -> String {
        let r = self.req(Method::POST, "/v1/oauth-apps", Some(key), Some(self.app_body())).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// `start` with `query` (already encoded), expecting success: the authorize URL.
    pub async fn start(&self, key: &str, query: &str) -> String {
        let r = self.get(&format!("/v1/oauth/mock/start?{query}"), Some(key)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["authorize_url"].as_str().unwrap().to_owned()
    }

    pub async fn start_default(&self, key: &str) -> String {
        self.start(key, &format!("return_url={}", enc(RETURN))).await
    }

    /// The mock consents; returns the callback path+query our app receives.
    pub async fn consent(&self, authorize_url: &str) -> String {
        let to = self.mock.consent(authorize_url).await.unwrap();
        assert!(to.as_str().starts_with(&format!("{BASE}/v1/oauth/mock/callback?")), "{to}");
        format!("{}?{}", to.path(), to.query().unwrap())
    }

    pub async fn callback(&self, path_and_query: &str) -> Resp {
        self.get(path_and_query, None).await
    }

    /// Creates an app (tenant 1), starts and completes a flow; the callback response.
    pub async fn connect_once(&self) -> Resp {
        self.create_app(KEY1).await;
        let url = self.start_default(KEY1).await;
        let cb = self.consent(&url).await;
        self.callback(&cb).await
    }
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn param(path_and_query: &str, name: &str) -> String {
    let u = url::Url::parse(&format!("{BASE}{path_and_query}")).unwrap();
    u.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap()
}
