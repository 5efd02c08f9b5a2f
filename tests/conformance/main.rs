//! The conformance suite: every HTTP case of `cases.rs` against every adapter — (a) the tower
//! `ConnectLayer` inside an axum app, (b) `axum_router()` nested under `/connect`, (c) the
//! actix-web scope, (d) `actix_configure()` inside an outer actix scope — each in a host app with its own routes and middleware.
#![cfg(all(feature = "test-util", feature = "reqwest", any(feature = "axum", feature = "actix")))]

mod cases;
mod harness;

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
