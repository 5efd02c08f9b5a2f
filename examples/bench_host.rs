//! The host app the load script measures: a bare JSON hello route, a host route, and
//! Connect mounted as a layer, with the mock provider in process. A second listener serves
//! the same host routes without the layer, for the with/without comparison.
//!
//! `cargo run --release --example bench_host -- [memory|sqlite]`; prints `READY <with> <without> <api key>`.

use axum::Router;
use axum::routing::get;
use dravo_connect::store::{MemoryStore, SqliteStore};
use dravo_connect::test_util::MockProvider;
use dravo_connect::{Connect, ConnectLayer, KeyId, NewApp, Secret, TenantId};

const KEY: &str = "bench_key_0123456789abcdef";

fn host_routes() -> Router {
    Router::new()
        .route("/hello", get(|| async { axum::Json(serde_json::json!({"hello": "world"})) }))
        .route("/host", get(|| async { "host route" }))
}

#[tokio::main]
async fn main() {
    let store = std::env::args().nth(1).unwrap_or_else(|| "memory".into());
    let mock = MockProvider::start().await.expect("mock provider");
    let with = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let without = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", with.local_addr().expect("addr"));
    let builder = Connect::builder()
        .public_base_url(&base)
        .api_key(KEY, "bench".parse::<TenantId>().expect("tenant"))
        .state_key(KeyId::zero(), Secret::new(vec![1; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![2; 32]))
        .outbound_loopback_only(true)
        .provider_config(mock.provider_config("mock"));
    let builder = if store == "sqlite" {
        let path = std::env::temp_dir().join(format!("dravo-bench-{}.db", std::process::id()));
        builder.store(SqliteStore::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.expect("sqlite"))
    } else {
        builder.store(MemoryStore::new())
    };
    let connect = builder.build().expect("connect");
    let tenant: TenantId = "bench".parse().expect("tenant");
    connect
        .create_app(&tenant, NewApp::new("mock", "mock-client", "mock-secret", vec![format!("{base}/done")]))
        .await
        .expect("app");
    let layered = host_routes().layer(ConnectLayer::new(connect.clone()));
    println!("READY {} {} {KEY}", with.local_addr().expect("addr"), without.local_addr().expect("addr"));
    let a = tokio::spawn(async move { axum::serve(with, layered).await });
    let b = tokio::spawn(async move { axum::serve(without, host_routes()).await });
    let _ = tokio::join!(a, b);
    drop(mock);
}
