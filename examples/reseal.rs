//! Re-seals every stored secret with the newest encryption key: the second half of a key
//! rotation, run once while the app instances keep serving.
//!
//! It reads the same TOML as the demo host (`database_url` plus the library's
//! `ConnectConfig`; `listen` and anything else are ignored), from the path given as the
//! argument or in `DRAVO_CONNECT_CONFIG`:
//!
//! ```sh
//! cargo run --example reseal -- connect.toml                       # SQLite
//! cargo run --example reseal --features postgres -- connect.toml   # PostgreSQL
//! ```
//!
//! The rotation: put the new key first in `encryption_keys` on every instance (keeping the
//! old one after it) and roll them out; run this with that same configuration; when it
//! reports `failed: 0`, remove the old key everywhere. It exits with status 1 when a secret
//! could not be re-sealed (the log names the row), so the old key must stay.

use std::sync::Arc;

use dravo_connect::ConnectConfig;
use dravo_connect::store::Store;
use serde::Deserialize;

/// The demo host's configuration file, as far as this command needs it.
#[derive(Deserialize)]
struct Config {
    database_url: String,
    #[serde(flatten)]
    connect: ConnectConfig,
}

async fn store(url: &str) -> Result<Arc<dyn Store>, String> {
    if url.starts_with("sqlite:") {
        let store = dravo_connect::store::SqliteStore::connect(url).await.map_err(|e| format!("database: {e}"))?;
        return Ok(Arc::new(store));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = dravo_connect::store::PostgresStore::connect(url).await.map_err(|e| format!("database: {e}"))?;
        return Ok(Arc::new(store));
    }
    Err(format!("unsupported database_url {url:?} (sqlite:…, or postgres://… with the `postgres` feature)"))
}

async fn run() -> Result<bool, String> {
    let path = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DRAVO_CONNECT_CONFIG").ok())
        .ok_or("usage: reseal <config.toml> (or set DRAVO_CONNECT_CONFIG)")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let config: Config = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let store = store(&config.database_url).await?;
    let connect = config
        .connect
        .into_builder()
        .map_err(|e| format!("config: {e}"))?
        .shared_store(store)
        .build()
        .map_err(|e| format!("config: {e}"))?;
    let report = connect.reseal_secrets().await.map_err(|e| format!("re-seal: {e}"))?;
    println!(
        "apps: {} checked, {} re-sealed; instance clients: {} checked, {} re-sealed; \
         accounts: {} checked, {} re-sealed; failed: {}",
        report.apps_checked,
        report.apps_resealed,
        report.registrations_checked,
        report.registrations_resealed,
        report.accounts_checked,
        report.accounts_resealed,
        report.failed
    );
    Ok(report.failed == 0)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,dravo_connect=info".into()),
        )
        .init();
    match run().await {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("some secrets could not be re-sealed: keep the old key, fix them, and run again");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
