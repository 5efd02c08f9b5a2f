//! The demo host app shared by the examples (and started in-process by the tests), with
//! nothing of a web framework in it: its configuration (TOML, with defaults so that no file
//! is needed), its data directory, the built-in `demo` provider (the mock provider, served in
//! this process), `Connect`, the demo tenant's app, and the logic of the host's own routes
//! and page as plain async functions. The page talks only to these host routes, which call
//! the host-side Rust API: no API key ever reaches the browser. `axum_app.rs` and
//! `actix_app.rs` only wire these routes (and Connect) into each framework.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dravo_connect::http::StatusCode;
use dravo_connect::store::{AccountFilter, PageRequest, SqliteStore};
use dravo_connect::test_util::{MockConfig, MockProvider};
use dravo_connect::{Connect, ConnectConfig, NewApp, StartParams, TenantId};
use rand::RngCore as _;
use serde::Deserialize;
use serde_json::{Value, json};

/// The tenant the demo page acts for.
pub const DEMO_TENANT: &str = "demo";
/// The built-in demo provider's id.
pub const DEMO_PROVIDER: &str = "demo";

/// The example's configuration: `listen` and `database_url`, with the library's
/// `ConnectConfig` flattened in.
#[derive(Debug, Deserialize)]
pub struct DemoConfig {
    pub listen: String,
    pub database_url: String,
    #[serde(flatten)]
    pub connect: ConnectConfig,
}

#[cfg(feature = "actix")]
pub mod actix_app;
#[cfg(feature = "axum")]
pub mod axum_app;
pub mod body_timeout;

/// The demo page.
pub const PAGE: &str = include_str!("demo.html");

/// A running demo app's parts.
pub struct Demo {
    pub host: Host,
    pub connect: Connect,
    pub listen: String,
    pub public_base_url: String,
    pub data_dir: PathBuf,
    pub generated: Vec<String>,
    pub mock: Arc<MockProvider>,
}

/// The host's own routes, as plain functions the framework wiring calls.
#[derive(Clone)]
pub struct Host {
    connect: Connect,
    tenant: TenantId,
    return_url: String,
    /// Keeps the in-process demo provider alive as long as the app.
    _mock: Arc<MockProvider>,
}

/// A host route's answer: a status and a JSON body (none for 204).
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self { status: StatusCode::OK, body: Some(body) }
    }
    fn error(status: StatusCode, e: impl std::fmt::Display) -> Self {
        Self { status, body: Some(json!({"error": e.to_string()})) }
    }
}

/// Where the demo keeps its database and generated keys: `target/dravo-demo/`, or
/// `DRAVO_CONNECT_DATA_DIR`.
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("DRAVO_CONNECT_DATA_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("dravo-demo"),
    }
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    STANDARD.encode(b)
}

/// Keys generated on the first run and read back on every later one, so a restart can still
/// open what it stored.
fn generated_keys(dir: &Path, generated: &mut Vec<String>) -> std::io::Result<toml::Table> {
    let path = dir.join("keys.toml");
    if let Ok(table) = std::fs::read_to_string(&path).map(|t| t.parse::<toml::Table>()) {
        // A keys file that no longer parses is an error, never silently replaced: the
        // database's secrets were sealed with those keys.
        return table.map_err(std::io::Error::other);
    }
    let mut t = toml::Table::new();
    t.insert("state_secret".into(), random_b64(32).into());
    t.insert("encryption_key".into(), random_b64(32).into());
    t.insert("api_key".into(), format!("demo_{}", random_b64(24).replace(['+', '/', '='], "x")).into());
    std::fs::write(&path, toml::to_string(&t).unwrap_or_default())?;
    generated.push(format!("generated state and encryption keys and an API key in {}", path.display()));
    Ok(t)
}

/// Reads the configuration: `config_toml` (the file named by `DRAVO_CONNECT_CONFIG`), with
/// every missing key defaulted for a local demo.
pub fn load_config(
    config_toml: Option<&str>,
    data_dir: &Path,
    generated: &mut Vec<String>,
) -> Result<DemoConfig, String> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let mut table: toml::Table = match config_toml {
        Some(text) => text.parse().map_err(|e| format!("config: {e}"))?,
        None => toml::Table::new(),
    };
    let keys = generated_keys(data_dir, generated).map_err(|e| format!("keys: {e}"))?;
    let listen = std::env::var("DRAVO_CONNECT_LISTEN").ok();
    let listen = table
        .get("listen")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .or(listen)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    table.insert("listen".into(), listen.clone().into());
    if !table.contains_key("database_url") {
        let db = data_dir.join("connect.db");
        table.insert("database_url".into(), format!("sqlite://{}?mode=rwc", db.display()).into());
    }
    if !table.contains_key("public_base_url") {
        table.insert("public_base_url".into(), format!("http://{listen}").into());
    }
    if !table.contains_key("state_secret") && !table.contains_key("state_keys") {
        table.insert("state_secret".into(), keys.get("state_secret").cloned().unwrap_or_else(|| random_b64(32).into()));
    }
    if !table.contains_key("encryption_key") && !table.contains_key("encryption_keys") {
        table.insert(
            "encryption_key".into(),
            keys.get("encryption_key").cloned().unwrap_or_else(|| random_b64(32).into()),
        );
    }
    if !table.contains_key("api_keys") {
        let mut api = toml::Table::new();
        if let Some(k) = keys.get("api_key").and_then(|v| v.as_str()) {
            api.insert(k.to_owned(), DEMO_TENANT.into());
        }
        table.insert("api_keys".into(), api.into());
    }
    if config_toml.is_none() {
        // Nothing but the in-process demo provider is configured: keep every outbound call
        // on this machine.
        table.insert("outbound_loopback_only".into(), true.into());
    }
    toml::Value::Table(table).try_into().map_err(|e| format!("config: {e}"))
}

/// A PostgreSQL store for a `postgres://` (or `postgresql://`) URL; `None` for other URLs.
#[cfg(feature = "postgres")]
async fn postgres_store(url: &str) -> Result<Option<Arc<dyn dravo_connect::store::Store>>, String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Ok(None);
    }
    let store = dravo_connect::store::PostgresStore::connect(url).await.map_err(|e| format!("database: {e}"))?;
    Ok(Some(Arc::new(store)))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_store(_: &str) -> Result<Option<Arc<dyn dravo_connect::store::Store>>, String> {
    Ok(None)
}

/// Builds the demo: store, the in-process demo provider, `Connect`, the `demo` tenant's
/// app, and the router (host routes + `ConnectLayer`). `listen` is the address actually
/// bound (so `127.0.0.1:0` works), `config_toml` the optional configuration file's text.
pub async fn build(config_toml: Option<&str>, data_dir: &Path, bound: Option<SocketAddr>) -> Result<Demo, String> {
    let mut generated = Vec::new();
    let mut config = load_config(config_toml, data_dir, &mut generated)?;
    if let Some(addr) = bound {
        config.listen = addr.to_string();
        if config_toml.is_none_or(|t| !t.contains("public_base_url")) {
            config.connect.public_base_url = format!("http://{addr}");
        }
    }
    let mock_config = MockConfig::default().with_interactive_consent(true);
    let mock = Arc::new(MockProvider::start_with(mock_config).await.map_err(|e| format!("demo provider: {e}"))?);
    let mut connect_config = config.connect;
    let public_base_url = connect_config.public_base_url.trim_end_matches('/').to_owned();
    let has_demo = connect_config.providers.iter().any(|p| p.id() == DEMO_PROVIDER);
    if !has_demo {
        connect_config.providers.push(mock.provider_config(DEMO_PROVIDER).into());
    }
    let store: Arc<dyn dravo_connect::store::Store> = if config.database_url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(&config.database_url).await.map_err(|e| format!("database: {e}"))?)
    } else if let Some(store) = postgres_store(&config.database_url).await? {
        store
    } else {
        return Err(format!(
            "unsupported database_url {:?} (sqlite:…, or postgres://… with the `postgres` feature)",
            config.database_url
        ));
    };
    let connect = connect_config
        .into_builder()
        .map_err(|e| format!("config: {e}"))?
        .shared_store(store)
        .build()
        .map_err(|e| format!("config: {e}"))?;
    let tenant: TenantId = DEMO_TENANT.parse().map_err(|e| format!("{e}"))?;
    let return_url = format!("{public_base_url}/");
    // The demo tenant's app for the demo provider, created once.
    let apps =
        connect.apps(&tenant, Some(&DEMO_PROVIDER.parse().map_err(|e| format!("{e}"))?), PageRequest::default()).await;
    let apps = apps.map_err(|e| format!("store: {e}"))?;
    match apps.data.first() {
        Some(app) if app.allowed_return_urls.contains(&return_url) => {}
        Some(app) => {
            let mut patch = dravo_connect::AppPatch::default();
            patch.allowed_return_urls = Some(vec![return_url.clone()]);
            connect.update_app(&tenant, &app.id, patch).await.map_err(|e| format!("store: {e}"))?;
        }
        None => {
            let new = NewApp::new(
                DEMO_PROVIDER.parse().map_err(|e| format!("{e}"))?,
                mock.config().client_id.clone(),
                mock.config().client_secret.clone(),
                vec![return_url.clone()],
            )
            .name("Demo provider (in-process mock)");
            connect.create_app(&tenant, new).await.map_err(|e| format!("store: {e}"))?;
            generated.push(format!("created tenant `{DEMO_TENANT}` and its app for provider `{DEMO_PROVIDER}`"));
        }
    }
    let host = Host { connect: connect.clone(), tenant, return_url, _mock: mock.clone() };
    Ok(Demo { host, connect, listen: config.listen, public_base_url, data_dir: data_dir.to_owned(), generated, mock })
}

impl Host {
    /// `GET /demo/providers`: the providers the demo tenant has an app for (the page draws a
    /// button for each).
    pub async fn providers(&self) -> Reply {
        match self.connect.apps(&self.tenant, None, PageRequest::default()).await {
            Ok(list) => {
                let mut ids: Vec<String> = list.data.into_iter().map(|a| a.provider.to_string()).collect();
                ids.sort();
                ids.dedup();
                let configured: Vec<String> = self.connect.providers().iter().map(|p| p.id().to_string()).collect();
                Reply::ok(json!({ "providers": ids, "configured": configured }))
            }
            Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e),
        }
    }

    /// `GET /demo/accounts`.
    pub async fn accounts(&self) -> Reply {
        let page = PageRequest { limit: 100, after: None };
        match self.connect.accounts(&self.tenant, AccountFilter::default(), page).await {
            Ok(list) => Reply::ok(serde_json::to_value(list).unwrap_or_default()),
            Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e),
        }
    }

    /// `POST /demo/connect/{provider}`.
    pub async fn start(&self, provider: &str) -> Reply {
        let Ok(provider) = provider.parse() else {
            return Reply::error(StatusCode::NOT_FOUND, "unknown provider");
        };
        match self.connect.start(&self.tenant, &provider, StartParams::new(self.return_url.clone())).await {
            Ok(started) => Reply::ok(serde_json::to_value(started).unwrap_or_default()),
            Err(e) => Reply::error(e.status(), e.message()),
        }
    }

    /// `POST /demo/accounts/{id}/disconnect`.
    pub async fn disconnect(&self, id: &str) -> Reply {
        let Ok(id) = id.parse() else { return Reply::error(StatusCode::NOT_FOUND, "account not found") };
        match self.connect.disconnect(&self.tenant, &id).await {
            Ok(_) => Reply { status: StatusCode::NO_CONTENT, body: None },
            Err(e) => Reply::error(e.status(), e.message()),
        }
    }
}

/// Reads the configuration, binds the listener, builds the demo and prints where to open it:
/// the body of `main` of the examples, up to serving.
pub async fn start() -> Result<(Demo, std::net::TcpListener), String> {
    let config_text = match std::env::var_os("DRAVO_CONNECT_CONFIG") {
        Some(path) => {
            Some(std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", PathBuf::from(path).display()))?)
        }
        None => None,
    };
    let data_dir = default_data_dir();
    let mut generated = Vec::new();
    let listen = load_config(config_text.as_deref(), &data_dir, &mut generated)?.listen;
    let listener = std::net::TcpListener::bind(&listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let demo = build(config_text.as_deref(), &data_dir, Some(bound)).await?;
    println!("dravo-connect demo host app");
    println!("  open      {}/", demo.public_base_url);
    println!("  API       {}{}/… (Authorization: Bearer <api key>)", demo.public_base_url, demo.connect.prefix());
    println!("  data      {}", demo.data_dir.display());
    for g in generated.iter().chain(&demo.generated) {
        println!("  {g}");
    }
    println!("  demo provider (in-process mock) at {}", demo.mock.base_url());
    Ok((demo, listener))
}
