//! The demo host app on actix-web: Connect mounted as a scope, a SQLite store, the built-in
//! `demo` provider, and the same page, configuration and defaults as `axum_host`.
//!
//! ```sh
//! cargo run --example actix_host --features actix     # then open http://127.0.0.1:3000
//! DRAVO_CONNECT_CONFIG=connect.toml cargo run --example actix_host --features actix
//! ```

#[path = "shared/mod.rs"]
mod shared;

#[actix_web::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,dravo_connect=debug".into()),
        )
        .init();
    let run = async {
        let (demo, listener) = shared::start().await?;
        shared::actix_app::serve(listener, &demo).await
    };
    if let Err(e) = run.await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
