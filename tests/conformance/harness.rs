//! The harnesses: one host app per adapter, each with a host route, a host middleware (a
//! request id) and Connect mounted, behind one trait the cases are written against. Every
//! harness shares the rest: a `MemoryStore` behind a counting/failing wrapper, a manual
//! clock, and the mock provider on loopback.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use dravo_connect::test_util::{MockConfig, MockProvider};
use dravo_connect::{Connect, ConnectBuilder, KeyId, ManualClock, Secret, TenantId};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

pub const KEY1: &str = "test_key_tenant_one_000001";
pub const KEY2: &str = "test_key_tenant_two_000002";
pub const BASE: &str = "https://connect.example.test";
pub const RETURN: &str = "https://app.acme.test/connect";
pub const START: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
/// The header the host's middleware sets on every response (echoing the request's, or this).
pub const REQUEST_ID: &str = "x-request-id";
pub const GENERATED_ID: &str = "host-generated-id";

/// One host app with Connect mounted, as a framework serves it.
pub trait Harness: Sized {
    /// The outer path the host mounts Connect under (`""` or e.g. `/connect`); it is part of
    /// `public_base_url`.
    const OUTER: &'static str;
    /// True when Connect claims every path under its prefix (router, scope: unknown ones get
    /// our JSON 404); false when it answers only its routes (the tower layer).
    const CLAIMS_PREFIX: bool;
    /// The host app: a page at `/`, `/host/ping`, the request-id middleware, and Connect.
    fn mount(connect: &Connect) -> impl Future<Output = Self>;
    /// Serves one request (its URI is the full path the host app sees).
    fn send(&self, req: Request<Bytes>) -> impl Future<Output = Response<Bytes>>;
    /// Serves one request whose body is `first` and then never ends: a client that stalls
    /// mid-body.
    fn send_stalled(&self, req: Request<()>, first: Bytes) -> impl Future<Output = Response<Bytes>>;
}

/// A body stream that yields `first` and then stays pending forever (it never wakes its
/// task: nothing will ever come).
pub struct Stalled<E> {
    first: Option<Bytes>,
    error: std::marker::PhantomData<fn() -> E>,
}

impl<E> Stalled<E> {
    pub fn new(first: Bytes) -> Self {
        Self { first: Some(first), error: std::marker::PhantomData }
    }
}

impl<E> futures_core::Stream for Stalled<E> {
    type Item = Result<Bytes, E>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        match self.first.take() {
            Some(first) => std::task::Poll::Ready(Some(Ok(first))),
            None => std::task::Poll::Pending,
        }
    }
}

// ------------------------------------------------------------------ axum

#[cfg(feature = "axum")]
pub use axum_harness::{AxumLayer, AxumNested, AxumWrapped};

#[cfg(feature = "axum")]
mod axum_harness {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use std::convert::Infallible;
    use tower::ServiceExt;

    /// The host's request-id middleware, wrapped around the whole app.
    async fn request_id(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
        let id = req.headers().get(REQUEST_ID).cloned();
        let mut res = next.run(req).await;
        let id = id.unwrap_or(http::HeaderValue::from_static(GENERATED_ID));
        res.headers_mut().insert(REQUEST_ID, id);
        res
    }

    fn host_routes() -> Router {
        Router::new().route("/", get(|| async { "host home" })).route("/host/ping", get(|| async { "pong" }))
    }

    async fn send(app: &Router, req: Request<Bytes>) -> Response<Bytes> {
        read(app.clone().oneshot(req.map(Body::from)).await.unwrap()).await
    }

    async fn read(res: axum::response::Response) -> Response<Bytes> {
        let (parts, body) = res.into_parts();
        Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
    }

    fn stalled(req: Request<()>, first: Bytes) -> axum::extract::Request {
        req.map(|()| Body::from_stream(Stalled::<std::io::Error>::new(first)))
    }

    /// (a) `ConnectLayer` inside an axum app, with a host route under the prefix too.
    pub struct AxumLayer(Router);

    impl Harness for AxumLayer {
        const OUTER: &'static str = "";
        const CLAIMS_PREFIX: bool = false;
        async fn mount(connect: &Connect) -> Self {
            let app = host_routes()
                .route("/v1/host-owned", get(|| async { "host route under the prefix" }))
                .layer(dravo_connect::ConnectLayer::new(connect.clone()))
                .layer(axum::middleware::from_fn(request_id));
            Self(app)
        }
        async fn send(&self, req: Request<Bytes>) -> Response<Bytes> {
            send(&self.0, req).await
        }
        async fn send_stalled(&self, req: Request<()>, first: Bytes) -> Response<Bytes> {
            read(self.0.clone().oneshot(stalled(req, first)).await.unwrap()).await
        }
    }

    /// (e) `connect.wrap(app)`: Connect in front of the whole axum app (a host route under
    /// the prefix too), served as axum serves it, with the host's middleware outside.
    pub struct AxumWrapped(
        tower::util::BoxCloneSyncService<axum::extract::Request, axum::response::Response, Infallible>,
    );

    impl Harness for AxumWrapped {
        const OUTER: &'static str = "";
        const CLAIMS_PREFIX: bool = false;
        async fn mount(connect: &Connect) -> Self {
            let app =
                connect.wrap(host_routes().route("/v1/host-owned", get(|| async { "host route under the prefix" })));
            let app = tower::ServiceBuilder::new().layer(axum::middleware::from_fn(request_id)).service(app);
            Self(tower::util::BoxCloneSyncService::new(app))
        }
        async fn send(&self, req: Request<Bytes>) -> Response<Bytes> {
            read(self.0.clone().oneshot(req.map(Body::from)).await.unwrap()).await
        }
        async fn send_stalled(&self, req: Request<()>, first: Bytes) -> Response<Bytes> {
            read(self.0.clone().oneshot(stalled(req, first)).await.unwrap()).await
        }
    }

    /// (b) `axum_router()` nested under `/connect`.
    pub struct AxumNested(Router);

    impl Harness for AxumNested {
        const OUTER: &'static str = "/connect";
        const CLAIMS_PREFIX: bool = true;
        async fn mount(connect: &Connect) -> Self {
            let app =
                host_routes().nest("/connect", connect.axum_router()).layer(axum::middleware::from_fn(request_id));
            Self(app)
        }
        async fn send(&self, req: Request<Bytes>) -> Response<Bytes> {
            send(&self.0, req).await
        }
        async fn send_stalled(&self, req: Request<()>, first: Bytes) -> Response<Bytes> {
            read(self.0.clone().oneshot(stalled(req, first)).await.unwrap()).await
        }
    }
}

// ------------------------------------------------------------------ actix-web

#[cfg(feature = "actix")]
pub use actix_harness::{ActixConfigureNested, ActixScope};

#[cfg(feature = "actix")]
mod actix_harness {
    use std::pin::Pin;
    use std::rc::Rc;

    use super::*;
    use actix_web::body::MessageBody;
    use actix_web::dev::{ServiceRequest, ServiceResponse};
    use actix_web::middleware::{Next, from_fn};
    use actix_web::{App, test, web};

    /// Serves a test request, with its own payload or the given one.
    type Send = Box<
        dyn Fn(test::TestRequest, Option<actix_web::dev::Payload>) -> Pin<Box<dyn Future<Output = Response<Bytes>>>>,
    >;

    /// The host's request-id middleware.
    async fn request_id(
        req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse, actix_web::Error> {
        let id = req.headers().get(REQUEST_ID).cloned();
        let mut res = next.call(req).await?;
        let id = id.unwrap_or(actix_web::http::header::HeaderValue::from_static(GENERATED_ID));
        res.headers_mut().insert(actix_web::http::header::HeaderName::from_static(REQUEST_ID), id);
        Ok(res.map_into_boxed_body())
    }

    /// Serves an actix-web app through the `http` 1 types the cases speak.
    async fn serve_app<T>(app: App<T>) -> Send
    where
        T: actix_web::dev::ServiceFactory<
                ServiceRequest,
                Config = (),
                Response = ServiceResponse<actix_web::body::BoxBody>,
                Error = actix_web::Error,
                InitError = (),
            > + 'static,
    {
        let service = Rc::new(test::init_service(app).await);
        Box::new(move |req, payload| {
            let service = service.clone();
            let req = req.to_request();
            let req = match payload {
                Some(payload) => req.replace_payload(payload).0,
                None => req,
            };
            Box::pin(async move { from_actix(test::call_service(&*service, req).await).await })
        })
    }

    /// (c) `actix_scope()` in an actix-web app.
    pub struct ActixScope(Send);

    impl Harness for ActixScope {
        const OUTER: &'static str = "";
        const CLAIMS_PREFIX: bool = true;
        async fn mount(connect: &Connect) -> Self {
            let app = App::new()
                .wrap(from_fn(request_id))
                .route("/", web::get().to(|| async { "host home" }))
                .route("/host/ping", web::get().to(|| async { "pong" }))
                .service(connect.actix_scope());
            Self(serve_app(app).await)
        }
        async fn send(&self, req: Request<Bytes>) -> Response<Bytes> {
            (self.0)(to_actix(req), None).await
        }
        async fn send_stalled(&self, req: Request<()>, first: Bytes) -> Response<Bytes> {
            let stalled = Stalled::<actix_web::error::PayloadError>::new(first);
            let payload: actix_web::dev::Payload = actix_web::dev::Payload::Stream { payload: Box::pin(stalled) };
            (self.0)(to_actix_head(req), Some(payload)).await
        }
    }

    /// (d) `actix_configure()` inside an outer `web::scope("/connect")`.
    pub struct ActixConfigureNested(Send);

    impl Harness for ActixConfigureNested {
        const OUTER: &'static str = "/connect";
        const CLAIMS_PREFIX: bool = true;
        async fn mount(connect: &Connect) -> Self {
            let app = App::new()
                .wrap(from_fn(request_id))
                .route("/", web::get().to(|| async { "host home" }))
                .route("/host/ping", web::get().to(|| async { "pong" }))
                .service(web::scope("/connect").configure(connect.actix_configure()));
            Self(serve_app(app).await)
        }
        async fn send(&self, req: Request<Bytes>) -> Response<Bytes> {
            (self.0)(to_actix(req), None).await
        }
        async fn send_stalled(&self, req: Request<()>, first: Bytes) -> Response<Bytes> {
            let stalled = Stalled::<actix_web::error::PayloadError>::new(first);
            let payload: actix_web::dev::Payload = actix_web::dev::Payload::Stream { payload: Box::pin(stalled) };
            (self.0)(to_actix_head(req), Some(payload)).await
        }
    }

    /// An `http` 1 request as an actix test request (actix-web 4 speaks `http` 0.2).
    fn to_actix(req: Request<Bytes>) -> test::TestRequest {
        let (parts, body) = req.into_parts();
        to_actix_head(Request::from_parts(parts, ())).set_payload(body)
    }

    /// The request line and headers of an `http` 1 request as an actix test request.
    fn to_actix_head(req: Request<()>) -> test::TestRequest {
        let (parts, ()) = req.into_parts();
        let mut t = test::TestRequest::default()
            .method(actix_web::http::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap())
            .uri(&parts.uri.to_string());
        for (name, value) in &parts.headers {
            t = t.append_header((name.as_str(), value.as_bytes()));
        }
        t
    }

    /// An actix response as an `http` 1 response, every header value kept.
    async fn from_actix<B: MessageBody>(res: ServiceResponse<B>) -> Response<Bytes> {
        let mut out = Response::builder().status(res.status().as_u16());
        for (name, value) in res.headers() {
            out = out.header(name.as_str(), value.as_bytes());
        }
        out.body(test::read_body(res).await).unwrap()
    }
}

// ------------------------------------------------------------------ the shared parts

pub use crate::faulty_store::FaultyStore;

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    fn from(res: Response<Bytes>) -> Self {
        let (parts, body) = res.into_parts();
        Resp { status: parts.status, headers: parts.headers, body }
    }
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

/// A harness with the shared parts. Paths given to its methods are as Connect sees them
/// (`/v1/…`); the harness's outer path is added in front.
pub struct H<S> {
    pub app: S,
    pub connect: Connect,
    pub mock: MockProvider,
    pub clock: Arc<ManualClock>,
    pub store: Arc<FaultyStore>,
}

pub fn tenant(s: &str) -> TenantId {
    s.parse().unwrap()
}

impl<S: Harness> H<S> {
    pub async fn new() -> Self {
        Self::with(MockConfig::default(), |b| b).await
    }

    pub async fn with(mock: MockConfig, f: impl FnOnce(ConnectBuilder) -> ConnectBuilder) -> Self {
        let mock = MockProvider::start_with(mock).await.unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let store = Arc::new(FaultyStore::default());
        let builder = Connect::builder()
            .public_base_url(format!("{BASE}{}", S::OUTER))
            .api_key(KEY1, tenant("t1"))
            .api_key(KEY2, tenant("t2"))
            .state_key(KeyId::zero(), Secret::new(vec![0x11; 32]))
            .encryption_key(KeyId::zero(), Secret::new(vec![0x22; 32]))
            .shared_store(store.clone())
            .clock(clock.clone())
            .outbound_loopback_only(true)
            // The cases drive the provider directly (`MockProvider::consent`); the binding
            // hop has its own cases in `tests/flow/security.rs`.
            .browser_binding(false)
            .provider_config(mock.provider_config("mock"));
        let connect = f(builder).build().unwrap();
        let app = S::mount(&connect).await;
        H { app, connect, mock, clock, store }
    }

    /// Sends `req`, whose URI is a path as Connect sees it (the outer path is added).
    pub async fn send(&self, req: Request<Bytes>) -> Resp {
        let (mut parts, body) = req.into_parts();
        let (method, path) = (parts.method.clone(), parts.uri.path().to_owned());
        parts.uri = format!("{}{}", S::OUTER, parts.uri).parse().unwrap();
        let resp = Resp::from(self.app.send(Request::from_parts(parts, body)).await);
        // Every JSON answer under the documented prefix matches the OpenAPI document, on
        // every adapter.
        if path.starts_with("/v1/") {
            crate::openapi::check(&method, &path, resp.status, resp.header("content-type"), &resp.body);
        }
        resp
    }

    /// Sends `req` (a path as Connect sees it) with a body that is `first` and then never
    /// ends; `None` when no answer came within a second.
    pub async fn send_stalled(&self, req: Request<()>, first: Bytes) -> Option<Resp> {
        let (mut parts, ()) = req.into_parts();
        parts.uri = format!("{}{}", S::OUTER, parts.uri).parse().unwrap();
        let answer = self.app.send_stalled(Request::from_parts(parts, ()), first);
        tokio::time::timeout(std::time::Duration::from_secs(1), answer).await.ok().map(Resp::from)
    }

    /// Sends `req` with its URI as the host app sees it.
    pub async fn send_raw(&self, req: Request<Bytes>) -> Resp {
        Resp::from(self.app.send(req).await)
    }

    pub async fn req(&self, method: Method, uri: &str, key: Option<&str>, body: Option<Value>) -> Resp {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(k) = key {
            b = b.header("authorization", format!("Bearer {k}"));
        }
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(&v).unwrap())
            }
            None => Bytes::new(),
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

    /// The mock consents; returns the callback path+query (as Connect sees it) the host
    /// app receives.
    pub async fn consent(&self, authorize_url: &str) -> String {
        let to = self.mock.consent(authorize_url).await.unwrap();
        assert!(to.as_str().starts_with(&format!("{BASE}{}/v1/oauth/mock/callback?", S::OUTER)), "{to}");
        let path = to.path().strip_prefix(S::OUTER).unwrap();
        format!("{path}?{}", to.query().unwrap())
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
