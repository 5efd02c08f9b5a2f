//! The host app the load script measures: a bare JSON hello route, a host route, and
//! Connect mounted (a `ConnectLayer` on axum, a scope on actix-web), with the mock provider in
//! process. A second listener serves the same host routes without Connect, for the
//! with/without comparison.
//!
//! `cargo run --release --features actix --example bench_host -- [memory|sqlite] [axum|actix] [mount]`;
//! prints `READY <with> <without> <api key>`. On axum, `mount` says how Connect is mounted:
//! `wrap` (the default: `ConnectLayer` around the whole router, as the README mounts it),
//! `route_layer` (`Router::layer(ConnectLayer)`) or `merge` (`Router::merge(connect.axum_router())`).
//!
//! Unlike the other examples, it sets no body-read timeout (see `axum_host`): it measures
//! Connect against a bare hello route on the same server, and a timeout layer around both
//! would add its own cost to each side of every ratio. A host serving the internet sets one.

use dravo_connect::store::{MemoryStore, SqliteStore};
use dravo_connect::test_util::MockProvider;
use dravo_connect::{Connect, KeyId, NewApp, Secret, TenantId};

const KEY: &str = "bench_key_0123456789abcdef";

/// Connect over the chosen store, with one app for the mock provider whose allowlist holds
/// `{base}/done`.
async fn connect(store: &str, base: &str, mock: &MockProvider) -> Connect {
    let builder = Connect::builder()
        .public_base_url(base)
        .api_key(KEY, "bench".parse::<TenantId>().expect("tenant"))
        .state_key(KeyId::zero(), Secret::new(vec![1; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![2; 32]))
        .outbound_loopback_only(true)
        // A load run starts millions of flows for this one tenant; the cap is not what it measures.
        .max_pending_flows(u32::MAX)
        // As on an https base URL, where it is the default: `start` answers our hop, and the
        // hop builds the provider's URL. (The bench serves plain http on loopback.)
        .browser_binding(true)
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
        .create_app(
            &tenant,
            NewApp::new("mock".parse().unwrap(), "mock-client", "mock-secret", vec![format!("{base}/done")]),
        )
        .await
        .expect("app");
    connect
}

mod on_axum {
    use axum::extract::Request;
    use axum::routing::get;
    use axum::{Router, ServiceExt};
    use dravo_connect::ConnectLayer;
    use dravo_connect::test_util::MockProvider;

    fn host_routes() -> Router {
        Router::new()
            .route("/hello", get(|| async { axum::Json(serde_json::json!({"hello": "world"})) }))
            .route("/host", get(|| async { "host route" }))
    }

    pub(super) async fn run(store: &str, mount: &str) {
        let mock = MockProvider::start().await.expect("mock provider");
        let with = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let without = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", with.local_addr().expect("addr"));
        let connect = super::connect(store, &base, &mock).await;
        println!("READY {} {} {}", with.local_addr().expect("addr"), without.local_addr().expect("addr"), super::KEY);
        let a = match mount {
            // The layer around the whole router, as the README mounts it.
            "wrap" => {
                let app = connect.wrap(host_routes());
                tokio::spawn(async move { axum::serve(with, ServiceExt::<Request>::into_make_service(app)).await })
            }
            "route_layer" => {
                let app = host_routes().layer(ConnectLayer::new(connect));
                tokio::spawn(async move { axum::serve(with, app).await })
            }
            "merge" => {
                let app = host_routes().merge(connect.axum_router());
                tokio::spawn(async move { axum::serve(with, app).await })
            }
            other => panic!("unknown mount {other}: wrap | route_layer | merge"),
        };
        let b = tokio::spawn(async move { axum::serve(without, host_routes()).await });
        let _ = tokio::join!(a, b);
        drop(mock);
    }
}

mod on_actix {
    use actix_web::web::{self, ServiceConfig};
    use actix_web::{App, HttpResponse, HttpServer};
    use dravo_connect::test_util::MockProvider;

    fn host_routes(cfg: &mut ServiceConfig) {
        cfg.route("/hello", web::get().to(|| async { HttpResponse::Ok().json(serde_json::json!({"hello": "world"})) }))
            .route("/host", web::get().to(|| async { "host route" }));
    }

    pub(super) async fn run(store: &str) {
        let mock = MockProvider::start().await.expect("mock provider");
        let with = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let without = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", with.local_addr().expect("addr"));
        let connect = super::connect(store, &base, &mock).await;
        println!("READY {} {} {}", with.local_addr().expect("addr"), without.local_addr().expect("addr"), super::KEY);
        let scope = connect.clone();
        let a = HttpServer::new(move || App::new().configure(host_routes).service(scope.actix_scope()))
            .workers(1)
            .listen(with)
            .expect("listen")
            .run();
        let b = HttpServer::new(|| App::new().configure(host_routes)).workers(1).listen(without).expect("listen").run();
        let _ = tokio::join!(a, b);
        drop(mock);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let store = args.next().unwrap_or_else(|| "memory".into());
    let framework = args.next().unwrap_or_else(|| "axum".into());
    let mount = args.next().unwrap_or_else(|| "wrap".into());
    match framework.as_str() {
        "actix" => actix_web::rt::System::new().block_on(on_actix::run(&store)),
        // One thread, as the actix server's one worker: the server is pinned to one core.
        "axum" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(on_axum::run(&store, &mount)),
        other => panic!("unknown framework {other}: axum | actix"),
    }
}
