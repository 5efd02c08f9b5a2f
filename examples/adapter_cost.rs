//! Instructions per `GET /v1/oauth/{p}/start` through each adapter, beside the same call
//! straight to `Connect::handle` and a bare JSON hello route on each framework, for callgrind.
//!
//! Variants: `handle` (`Connect::handle`), `axum_layer` (`Router::layer(ConnectLayer)`),
//! `axum_router` (`Router::merge(connect.axum_router())`), `actix_scope` (`App::service(
//! connect.actix_scope())` through `actix_web::test`), `hello_axum` and `hello_actix` (a JSON
//! hello route on an app without Connect).
//!
//! Each request is built before the measured work; the measured work is
//! `poll_measured`: the service call, the response and reading its body to the end. Count only
//! that with `--toggle-collect`:
//!
//! ```sh
//! cargo build --release --features axum,actix --example adapter_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null '--toggle-collect=*poll_measured*' \
//!     target/release/examples/adapter_cost axum_layer 2000 < /dev/null
//! # and at 4000; (total at 4000 − total at 2000) / 2000 is one request.
//! ```
//!
//! `size` prints the size of `Connect::handle`'s future, which every adapter boxes.
//!
//! `start − hello` per framework is what the adapter and Connect add over the framework's own
//! cost of a route; `start − handle` is the adapter's own cost.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use dravo_connect::test_util::MockProvider;

#[path = "cost_setup.rs"]
mod cost_setup;
use cost_setup::{AUTHORIZATION, START};

/// The measured work: one poll of the request's future. Not inlined, so that callgrind's
/// `--toggle-collect=*poll_measured*` counts exactly this.
#[inline(never)]
fn poll_measured<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs `future` to completion, polling it only through [`poll_measured`]; between polls that
/// return pending (none is expected: nothing here waits on I/O) it yields to the runtime.
async fn measured<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = poll_measured(future.as_mut()) {
            return out;
        }
        tokio::task::yield_now().await;
    }
}

mod on_axum {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use dravo_connect::{Connect, ConnectLayer};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::{AUTHORIZATION, START, measured};

    fn hello() -> Router {
        Router::new().route("/hello", get(|| async { axum::Json(serde_json::json!({"hello": "world"})) }))
    }

    /// Serves `uri` n times (plus one to warm up) through `app`, reading each body to the end.
    async fn serve<S, B>(app: S, uri: &str, n: usize)
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<B>> + Clone,
        S::Error: std::fmt::Debug,
        B: http_body::Body,
        B::Error: std::fmt::Debug,
    {
        for _ in 0..=n {
            let request =
                http::Request::get(uri).header("authorization", AUTHORIZATION).body(Body::empty()).expect("request");
            let app = app.clone();
            let status = measured(async move {
                let response = app.oneshot(request).await.expect("response");
                let status = response.status();
                response.into_body().collect().await.expect("body");
                status
            })
            .await;
            assert_eq!(status, 200);
        }
    }

    pub(super) async fn run(variant: &str, connect: Connect, n: usize) {
        match variant {
            "axum_layer" => serve(hello().layer(ConnectLayer::new(connect)), START, n).await,
            "axum_router" => serve(hello().merge(connect.axum_router()), START, n).await,
            "hello_axum" => serve(hello(), "/hello", n).await,
            _ => unreachable!(),
        }
    }
}

mod on_actix {
    use actix_web::dev::Service;
    use actix_web::test::{TestRequest, init_service};
    use actix_web::{App, HttpResponse, web};
    use dravo_connect::Connect;

    use super::{AUTHORIZATION, START, measured};

    pub(super) async fn run(variant: &str, connect: Connect, n: usize) {
        let hello = || web::get().to(|| async { HttpResponse::Ok().json(serde_json::json!({"hello": "world"})) });
        let (app, uri) = match variant {
            "actix_scope" => {
                (init_service(App::new().route("/hello", hello()).service(connect.actix_scope())).await, START)
            }
            "hello_actix" => (init_service(App::new().route("/hello", hello())).await, "/hello"),
            _ => unreachable!(),
        };
        for _ in 0..=n {
            let request = TestRequest::get().uri(uri).insert_header(("authorization", AUTHORIZATION)).to_request();
            let status = measured(async {
                let response = app.call(request).await.expect("response");
                let status = response.status();
                actix_web::body::to_bytes(response.into_body()).await.expect("body");
                status
            })
            .await;
            assert_eq!(status, 200);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "handle".into());
    let n: usize = args.next().map(|s| s.parse().expect("n")).unwrap_or(2000);
    let body = async {
        let mock = MockProvider::start().await.expect("mock provider");
        let connect = cost_setup::connect(&mock, true).await;
        match variant.as_str() {
            "size" => {
                let request = http::Request::get(START).body(Bytes::new()).expect("request");
                let f = connect.handle(request);
                println!("handle future: {} bytes", std::mem::size_of_val(&f));
            }
            "handle" => {
                for _ in 0..=n {
                    let request = http::Request::get(START)
                        .header("authorization", AUTHORIZATION)
                        .body(Bytes::new())
                        .expect("request");
                    let status = measured(async { connect.handle(request).await.status() }).await;
                    assert_eq!(status, 200);
                }
            }
            "axum_layer" | "axum_router" | "hello_axum" => on_axum::run(&variant, connect, n).await,
            "actix_scope" | "hello_actix" => on_actix::run(&variant, connect, n).await,
            other => panic!(
                "unknown variant {other}: handle | axum_layer | axum_router | actix_scope | hello_axum | hello_actix | size"
            ),
        }
        drop(mock);
    };
    if variant.contains("actix") {
        actix_web::rt::System::new().block_on(body);
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(body);
    }
    println!("{variant}: {n} requests");
}
