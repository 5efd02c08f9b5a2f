//! The demo host app shared by the examples (and started in-process by the tests): its
//! configuration (TOML, with defaults so that no file is needed), its data directory, the
//! built-in `demo` provider (the mock provider, served in this process), and the host's own
//! routes and page. The page talks only to these host routes, which call the host-side Rust
//! API: no API key ever reaches the browser.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dravo_connect::store::{AccountFilter, PageRequest, SqliteStore};
use dravo_connect::test_util::MockProvider;
use dravo_connect::{Connect, ConnectConfig, ConnectLayer, NewApp, StartParams, TenantId};
use rand::RngCore as _;
use serde::Deserialize;
use serde_json::json;

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

/// A running demo app's parts.
pub struct Demo {
    pub router: Router,
    pub connect: Connect,
    pub listen: String,
    pub public_base_url: String,
    pub data_dir: PathBuf,
    pub generated: Vec<String>,
    pub mock: Arc<MockProvider>,
}

#[derive(Clone)]
struct AppState {
    connect: Connect,
    tenant: TenantId,
    return_url: String,
    /// Keeps the in-process demo provider alive as long as the router.
    _mock: Arc<MockProvider>,
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
    let mock = Arc::new(MockProvider::start().await.map_err(|e| format!("demo provider: {e}"))?);
    let mut connect_config = config.connect;
    let public_base_url = connect_config.public_base_url.trim_end_matches('/').to_owned();
    let has_demo = connect_config.providers.iter().any(|p| p.id == DEMO_PROVIDER);
    if !has_demo {
        connect_config.providers.push(mock.provider_config(DEMO_PROVIDER));
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
                DEMO_PROVIDER,
                mock.config().client_id.clone(),
                mock.config().client_secret.clone(),
                vec![return_url.clone()],
            )
            .name("Demo provider (in-process mock)");
            connect.create_app(&tenant, new).await.map_err(|e| format!("store: {e}"))?;
            generated.push(format!("created tenant `{DEMO_TENANT}` and its app for provider `{DEMO_PROVIDER}`"));
        }
    }
    let state = AppState { connect: connect.clone(), tenant, return_url, _mock: mock.clone() };
    let router = Router::new()
        .route("/", get(page))
        .route("/demo/providers", get(providers))
        .route("/demo/accounts", get(accounts))
        .route("/demo/connect/{provider}", post(start))
        .route("/demo/accounts/{id}/disconnect", post(disconnect))
        .with_state(state)
        .layer(ConnectLayer::new(connect.clone()));
    Ok(Demo { router, connect, listen: config.listen, public_base_url, data_dir: data_dir.to_owned(), generated, mock })
}

fn error(status: StatusCode, e: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": e.to_string()}))).into_response()
}

async fn page() -> Html<&'static str> {
    Html(include_str!("demo.html"))
}

/// The providers the demo tenant has an app for (the page draws a button for each).
async fn providers(State(s): State<AppState>) -> Response {
    match s.connect.apps(&s.tenant, None, PageRequest::default()).await {
        Ok(list) => {
            let mut ids: Vec<String> = list.data.into_iter().map(|a| a.provider.to_string()).collect();
            ids.dedup();
            Json(json!({ "providers": ids })).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn accounts(State(s): State<AppState>) -> Response {
    match s.connect.accounts(&s.tenant, AccountFilter::default(), PageRequest { limit: 100, after: None }).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn start(State(s): State<AppState>, UrlPath(provider): UrlPath<String>) -> Response {
    match s.connect.start(&s.tenant, &provider, StartParams::new(s.return_url.clone())).await {
        Ok(started) => Json(started).into_response(),
        Err(e) => error(e.status(), e.message()),
    }
}

async fn disconnect(State(s): State<AppState>, UrlPath(id): UrlPath<String>) -> Response {
    let Ok(id) = id.parse() else { return error(StatusCode::NOT_FOUND, "account not found") };
    match s.connect.disconnect(&s.tenant, &id).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e.status(), e.message()),
    }
}

/// Runs a demo app until the process is stopped: the body of `main` of the examples.
pub async fn main_with(build_router: impl FnOnce(Demo) -> Router) -> Result<(), String> {
    let config_text = match std::env::var_os("DRAVO_CONNECT_CONFIG") {
        Some(path) => {
            Some(std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", PathBuf::from(path).display()))?)
        }
        None => None,
    };
    let data_dir = default_data_dir();
    let mut generated = Vec::new();
    let listen = load_config(config_text.as_deref(), &data_dir, &mut generated)?.listen;
    let listener =
        tokio::net::TcpListener::bind(&listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
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
    let mock = demo.mock.clone();
    let router = build_router(demo);
    let served = axum::serve(listener, router).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    let result = served.await.map_err(|e| e.to_string());
    drop(mock);
    result
}
