//! Connect in a plain tower/hyper server, without axum: the host's own service is a
//! `tower::service_fn`, `ConnectLayer` wraps it, and hyper-util serves the result. Requests
//! under `/v1` are Connect's; everything else reaches the host's service untouched.
//!
//! ```sh
//! cargo run --example tower_hyper       # then follow the curl lines it prints
//! ```
//!
//! For brevity it keeps everything in memory and connects at the in-process mock provider
//! (`dravo_connect::test_util`); a real host configures real providers and a durable store,
//! as `examples/axum_host.rs` does.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use dravo_connect::store::MemoryStore;
use dravo_connect::test_util::{MockConfig, MockProvider};
use dravo_connect::{Connect, ConnectLayer, KeyId, NewApp, Secret, TenantId};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::{ServiceBuilder, service_fn};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutBody};

const API_KEY: &str = "example_key_0123456789abcdef";

/// The host's own service: a page at `/`, the return page at `/done`, and 404 elsewhere.
async fn host(req: Request<TimeoutBody<Incoming>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/" => (StatusCode::OK, "The host's own service. Connect answers under /v1.\n".to_owned()),
        "/done" => (StatusCode::OK, format!("Back at the host: {}\n", req.uri().query().unwrap_or_default())),
        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::var("DRAVO_CONNECT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let base = format!("http://{}", listener.local_addr()?);

    // The provider: the in-process mock, with a consent page as a real provider has.
    let mock = MockProvider::start_with(MockConfig::default().with_interactive_consent(true)).await?;
    let tenant: TenantId = "acme".parse()?;
    let connect = Connect::builder()
        .public_base_url(&base)
        .api_key(API_KEY, tenant.clone())
        // Demo keys: a real host loads 32 random bytes each from its secret store.
        .state_key(KeyId::zero(), Secret::new(vec![7u8; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![9u8; 32]))
        .store(MemoryStore::new())
        .provider_config(mock.provider_config("demo"))
        .outbound_loopback_only(true)
        .build()?;
    let app = NewApp::new(
        "demo".parse()?,
        mock.config().client_id.clone(),
        mock.config().client_secret.clone(),
        vec![format!("{base}/done")],
    );
    connect.create_app(&tenant, app).await?;

    // The whole server: the host's service_fn behind Connect's layer, and a client may stall
    // mid-body for 10 s at most (hyper's own timeout bounds the head only).
    let service = ServiceBuilder::new()
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(10)))
        .layer(ConnectLayer::new(connect))
        .service(service_fn(host));

    println!("tower/hyper host with dravo-connect on {base}");
    println!("  curl -s -H 'Authorization: Bearer {API_KEY}' '{base}/v1/oauth/demo/start?return_url={base}/done'");
    println!("  open the authorize_url it answers in a browser, Allow, and you land on {base}/done");
    println!("  curl -s -H 'Authorization: Bearer {API_KEY}' {base}/v1/accounts");
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => break,
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                eprintln!("connection error: {e}");
            }
        });
    }
    drop(mock);
    Ok(())
}
