//! Instructions per host request with and without `ConnectLayer`, for callgrind: runs a host
//! route N times through an axum app: `bare`, `layer` (`Router::layer`) or `wrap` (the layer
//! around the whole router).
//!
//! `valgrind --tool=callgrind target/release/examples/layer_cost bare 20000` (and `layer`);
//! the difference of the totals over N is the layer's cost per host request.

use axum::Router;
use axum::body::Body;
use dravo_connect::store::MemoryStore;
use dravo_connect::{Connect, ConnectLayer, KeyId, Secret};
use tower::ServiceExt;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "bare".into());
    let n: usize = args.next().map(|s| s.parse().expect("n")).unwrap_or(20_000);
    let connect = Connect::builder()
        .public_base_url("https://connect.acme.example")
        .state_key(KeyId::zero(), Secret::new(vec![1; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![2; 32]))
        .store(MemoryStore::new())
        .outbound_loopback_only(true)
        .build()
        .expect("connect");
    let host = Router::new().route("/host/items", axum::routing::get(|| async { "host route" }));
    if variant == "wrap" {
        // The layer around the whole router (tower::ServiceBuilder style).
        let app = tower_layer::Layer::layer(&ConnectLayer::new(connect), host);
        for _ in 0..n {
            let res = app
                .clone()
                .oneshot(http::Request::get("/host/items").body(Body::empty()).expect("req"))
                .await
                .expect("res");
            assert_eq!(res.status(), 200);
        }
    } else {
        let app = if variant == "layer" { host.layer(ConnectLayer::new(connect)) } else { host };
        for _ in 0..n {
            let res = app
                .clone()
                .oneshot(http::Request::get("/host/items").body(Body::empty()).expect("req"))
                .await
                .expect("res");
            assert_eq!(res.status(), 200);
        }
    }
    println!("{variant}: {n} requests");
}
