//! The demo host app on axum: Connect mounted as a tower layer, a SQLite store, the built-in
//! `demo` provider, and a page whose "Connect" button walks the whole flow.
//!
//! ```sh
//! cargo run --example axum_host          # then open http://127.0.0.1:3000
//! DRAVO_CONNECT_CONFIG=connect.toml cargo run --example axum_host
//! ```

#[path = "shared/mod.rs"]
mod shared;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,dravo_connect=debug".into()),
        )
        .init();
    let run = async {
        let (demo, listener) = shared::start().await?;
        shared::axum_app::serve(listener, shared::axum_app::router(&demo)).await
    };
    if let Err(e) = run.await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
