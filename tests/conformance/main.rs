//! The conformance suite: every HTTP case of `cases.rs` against every adapter — (a) the tower
//! `ConnectLayer` inside an axum app, (b) `axum_router()` nested under `/connect`, (c) the
//! actix-web scope, (d) `actix_configure()` inside an outer actix scope, (e) `connect.wrap(app)` in front of
//! a whole axum app — each in a host app with its own routes and middleware.
#![cfg(all(feature = "test-util", feature = "reqwest", any(feature = "axum", feature = "actix")))]

mod cases;
#[path = "../common/faulty_store.rs"]
mod faulty_store;
mod harness;
#[allow(dead_code)]
#[path = "../flow/openapi.rs"]
mod openapi;

/// Instantiates each case as a test, on the harness `$h`, under the test attribute `$attr`.
macro_rules! suite {
    ($attr:meta, $h:ty; $($case:ident),+ $(,)?) => {
        $(
            #[$attr]
            async fn $case() {
                crate::cases::$case::<$h>().await
            }
        )+
    };
}

#[cfg(feature = "axum")]
mod axum_layer {
    crate::cases::for_each_case!(suite!(tokio::test, crate::harness::AxumLayer));
}

#[cfg(feature = "axum")]
mod axum_wrapped {
    crate::cases::for_each_case!(suite!(tokio::test, crate::harness::AxumWrapped));
}

#[cfg(feature = "axum")]
mod axum_nested {
    crate::cases::for_each_case!(suite!(tokio::test, crate::harness::AxumNested));
}

#[cfg(feature = "actix")]
mod actix_scope {
    crate::cases::for_each_case!(suite!(actix_web::test, crate::harness::ActixScope));
}

#[cfg(feature = "actix")]
mod actix_configure_nested {
    crate::cases::for_each_case!(suite!(actix_web::test, crate::harness::ActixConfigureNested));
}

/// What only the actix adapter can meet: actix's own payload errors.
#[cfg(feature = "actix")]
mod actix_only {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use actix_web::dev::Payload;
    use actix_web::error::PayloadError;
    use actix_web::{App, test};
    use bytes::Bytes;

    use crate::harness::{ActixScope, H, KEY1};

    /// A body the client breaks off half-way.
    struct Broken(bool);

    impl futures_core::Stream for Broken {
        type Item = Result<Bytes, PayloadError>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let first = std::mem::replace(&mut self.0, false);
            Poll::Ready(Some(if first {
                Ok(Bytes::from_static(b"{\"provider\":"))
            } else {
                Err(PayloadError::Incomplete(None))
            }))
        }
    }

    #[actix_web::test]
    async fn a_body_that_breaks_off_is_our_json_400_invalid_request() {
        let h = H::<ActixScope>::new().await;
        let app = test::init_service(App::new().service(h.connect.actix_scope())).await;
        let req = test::TestRequest::post()
            .uri("/v1/oauth-apps")
            .insert_header(("authorization", format!("Bearer {KEY1}")))
            .insert_header(("content-type", "application/json"))
            .to_request();
        let broken: actix_web::dev::Payload = Payload::Stream { payload: Box::pin(Broken(true)) };
        let (req, _) = req.replace_payload(broken);
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status().as_u16(), 400);
        assert_eq!(res.headers().get("content-type").unwrap(), "application/json");
        let body: serde_json::Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
        assert_eq!(body["error"]["code"], "invalid_request");
        assert_eq!(h.store.calls(), 0);
    }
}
