//! The router serving `start` in-process, outside any framework and through the axum and
//! actix-web adapters (the latter with feature `actix`), beside a bare JSON hello route in the same app and raw HMAC (the floor);
//! and a forged callback with its usual few parameters beside one flooded with 1,600 distinct
//! ones (the query cap refuses it before decoding).
//!
//! `cargo bench --bench router`. Results and ratios: BENCHMARKS.md.

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use dravo_connect::test_util::MockProvider;
use dravo_connect::{Connect, ConnectLayer};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tower::ServiceExt;

#[path = "../examples/cost_setup.rs"]
mod cost_setup;
use cost_setup::{AUTHORIZATION, KEY, START};

fn setup(rt: &tokio::runtime::Runtime, binding: bool) -> (Connect, MockProvider) {
    rt.block_on(async {
        let mock = MockProvider::start().await.unwrap();
        let connect = cost_setup::connect(&mock, binding).await;
        (connect, mock)
    })
}

/// The request `Connect::handle` gets, built from a parsed URI and header value (cheap
/// clones of static bytes): parsing them is the server's work, not `start`'s.
fn request() -> http::Request<Bytes> {
    static URI: std::sync::LazyLock<http::Uri> = std::sync::LazyLock::new(|| http::Uri::from_static(START));
    let mut r = http::Request::new(Bytes::new());
    *r.uri_mut() = URI.clone();
    r.headers_mut().insert(http::header::AUTHORIZATION, http::HeaderValue::from_static(AUTHORIZATION));
    r
}

fn axum_request(uri: &str) -> http::Request<Body> {
    http::Request::get(uri).header("authorization", format!("Bearer {KEY}")).body(Body::empty()).unwrap()
}

fn start(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // With browser binding (the default for an https base URL) `start` answers the hop URL
    // and the hop builds the provider's URL; without it `start` builds that URL itself.
    let (connect, _mock) = setup(&rt, true);
    let (unbound, _mock2) = setup(&rt, false);
    let mut g = c.benchmark_group("start");
    let keyed = Hmac::<Sha256>::new_from_slice(&[1u8; 32]).unwrap();
    let msg = [0u8; 200];
    g.bench_function("raw_hmac_sha256_200_bytes_floor", |b| {
        b.iter(|| {
            let mut m = keyed.clone();
            m.update(black_box(&msg));
            black_box(m.finalize().into_bytes())
        })
    });
    g.bench_function("connect_handle", |b| {
        b.iter(|| {
            let res = rt.block_on(connect.handle(request()));
            assert_eq!(res.status(), 200);
            black_box(res)
        })
    });
    g.bench_function("connect_handle_unbound", |b| {
        b.iter(|| {
            let res = rt.block_on(unbound.handle(request()));
            assert_eq!(res.status(), 200);
            black_box(res)
        })
    });
    let hello = || async { axum::Json(serde_json::json!({"hello": "world"})) };
    let layered: Router =
        Router::new().route("/hello", axum::routing::get(hello)).layer(ConnectLayer::new(connect.clone()));
    let bare: Router = Router::new().route("/hello", axum::routing::get(hello));
    let merged: Router = Router::new().route("/hello", axum::routing::get(hello)).merge(connect.axum_router());
    g.bench_function("axum_layer", |b| {
        b.iter(|| black_box(rt.block_on(layered.clone().oneshot(axum_request(START))).unwrap()))
    });
    g.bench_function("axum_router", |b| {
        b.iter(|| black_box(rt.block_on(merged.clone().oneshot(axum_request(START))).unwrap()))
    });
    g.bench_function("hello_route_bare", |b| {
        b.iter(|| black_box(rt.block_on(bare.clone().oneshot(axum_request("/hello"))).unwrap()))
    });
    g.bench_function("hello_route_with_layer", |b| {
        b.iter(|| black_box(rt.block_on(layered.clone().oneshot(axum_request("/hello"))).unwrap()))
    });
    #[cfg(feature = "actix")]
    actix(&mut g, &connect);
    g.finish();
}

/// The same on actix-web: `start` through `actix_scope()`, and the hello route with and
/// without the scope in the app, in-process through `actix_web::test`.
#[cfg(feature = "actix")]
fn actix(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, connect: &Connect) {
    use actix_web::{App, HttpResponse, test, web};
    let sys = actix_web::rt::System::new();
    let hello = || async { HttpResponse::Ok().json(serde_json::json!({"hello": "world"})) };
    let scoped = sys
        .block_on(test::init_service(App::new().route("/hello", web::get().to(hello)).service(connect.actix_scope())));
    let bare = sys.block_on(test::init_service(App::new().route("/hello", web::get().to(hello))));
    let request = |uri: &str| {
        test::TestRequest::get().uri(uri).insert_header(("authorization", format!("Bearer {KEY}"))).to_request()
    };
    g.bench_function("actix_scope", |b| {
        b.iter(|| {
            let res = sys.block_on(test::call_service(&scoped, request(START)));
            assert_eq!(res.status(), 200);
            black_box(res)
        })
    });
    g.bench_function("actix_hello_route_bare", |b| {
        b.iter(|| black_box(sys.block_on(test::call_service(&bare, request("/hello")))))
    });
    g.bench_function("actix_hello_route_with_scope", |b| {
        b.iter(|| black_box(sys.block_on(test::call_service(&scoped, request("/hello")))))
    });
}

/// A callback whose state fails its tag (one character changed; everything up to the tag
/// check is the real work), as the provider sends it and then with 1,600 distinct parameters
/// more, inside the 8 KiB URL limit: both get the static 400 page.
fn callback(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (connect, _mock) = setup(&rt, false);
    let started = rt.block_on(connect.handle(request()));
    let v: serde_json::Value = serde_json::from_slice(started.body()).unwrap();
    let authorize_url = url::Url::parse(v["authorize_url"].as_str().unwrap()).unwrap();
    let mut state = authorize_url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let last = if state.ends_with('A') { 'B' } else { 'A' };
    state.pop();
    state.push(last);
    let normal = format!("/v1/oauth/mock/callback?code=c0de_0123456789&state={state}");
    let chars: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let names = chars.iter().flat_map(|a| chars.iter().map(move |b| format!("{a}{b}=")));
    let flooded = format!("{normal}&{}", names.take(1600).collect::<Vec<_>>().join("&"));
    assert!(flooded.len() < 8 * 1024);
    let get = |uri: &http::Uri| {
        let mut r = http::Request::new(Bytes::new());
        *r.uri_mut() = uri.clone();
        r
    };
    let mut g = c.benchmark_group("callback");
    for (name, target) in [("forged_state_3_params", normal), ("forged_state_1600_distinct_params", flooded)] {
        let uri: http::Uri = target.parse().unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                let res = rt.block_on(connect.handle(get(&uri)));
                assert_eq!(res.status(), 400);
                black_box(res)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, start, callback);
criterion_main!(benches);
