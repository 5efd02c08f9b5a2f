//! An axum app with its own login, where Connect authenticates the host's **session cookie**
//! instead of an API key: a custom `Authenticator` maps the session to the tenant, and
//! `SameOrigin` (the crate's `Origin` / `Sec-Fetch-Site` check) guards every route that
//! changes state, so no other site can use the cookie. The page then calls Connect's own API
//! (`/v1/oauth/{provider}/start`, `/v1/accounts`) straight from the browser.
//!
//! ```sh
//! cargo run --example axum_custom_auth   # open http://127.0.0.1:3002, sign in as alice / demo
//! ```
//!
//! For brevity it keeps sessions and accounts in memory, has two hard-coded users and
//! connects at the in-process mock provider (`dravo_connect::test_util`). A real host uses its
//! own login, sessions and store; what carries over is `SessionAuth` and `SameOrigin`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use dravo_connect::auth::{AuthError, Authenticator, SameOrigin, same_origin};
use dravo_connect::store::MemoryStore;
use dravo_connect::test_util::{MockConfig, MockProvider};
use dravo_connect::{Connect, KeyId, NewApp, Secret, TenantId};
use rand::RngCore as _;
use serde::Deserialize;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// The host's users: (name, password, tenant). A real host has its own user store and
/// password hashing; this example only needs someone to be signed in.
const USERS: [(&str, &str, &str); 2] = [("alice", "demo", "acme"), ("bob", "demo", "globex")];
const COOKIE: &str = "sid";

/// The host's sessions: session id -> (user, tenant).
#[derive(Clone, Default)]
struct Sessions(Arc<Mutex<HashMap<String, (String, TenantId)>>>);

impl Sessions {
    fn get(&self, headers: &HeaderMap) -> Option<(String, TenantId)> {
        let sid = session_id(headers)?;
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(sid).cloned()
    }
}

/// The `sid` cookie's value.
fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// The custom authenticator: the host's session cookie names the tenant.
struct SessionAuth(Sessions);

#[async_trait::async_trait]
impl Authenticator for SessionAuth {
    async fn authenticate(&self, request: &Parts) -> Result<TenantId, AuthError> {
        self.0.get(&request.headers).map(|(_, tenant)| tenant).ok_or(AuthError)
    }

    /// A refused request's `401` says "missing or invalid session".
    fn credential_name(&self) -> &str {
        "session"
    }
}

#[derive(Clone)]
struct AppState {
    sessions: Sessions,
    origin: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::var("DRAVO_CONNECT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3002".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let (app, mock) = build(&origin).await?;
    println!("axum host with its own login and dravo-connect on {origin}/ (users: alice / demo, bob / demo)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    drop(mock);
    Ok(())
}

/// The host app served at `origin` (`http://127.0.0.1:3002`), and the mock provider it
/// connects at (keep it alive as long as the app). The browser test builds it too.
pub async fn build(origin: &str) -> Result<(Router, MockProvider), Box<dyn std::error::Error>> {
    let mock = MockProvider::start_with(MockConfig::default().with_interactive_consent(true)).await?;
    let sessions = Sessions::default();
    let connect = Connect::builder()
        .public_base_url(origin)
        // The session cookie, checked for same-origin on every state-changing request.
        .authenticator(SameOrigin::new(SessionAuth(sessions.clone()), origin)?)
        // Demo keys: a real host loads 32 random bytes each from its secret store.
        .state_key(KeyId::zero(), Secret::new(vec![7u8; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![9u8; 32]))
        .store(MemoryStore::new())
        .provider_config(mock.provider_config("demo"))
        .outbound_loopback_only(true)
        .build()?;
    for (_, _, tenant) in USERS {
        let (id, secret) = (mock.config().client_id.clone(), mock.config().client_secret.clone());
        connect
            .create_app(&tenant.parse()?, NewApp::new("demo".parse()?, id, secret, vec![format!("{origin}/")]))
            .await?;
    }

    let app = Router::new()
        .route("/", get(page))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .with_state(AppState { sessions, origin: origin.to_owned() })
        // Connect's routes, merged into the host's router (no API key: the cookie).
        .merge(connect.axum_router())
        // A client may stall mid-body for 10 s at most (Connect reads bodies through this).
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(10)));
    Ok((app, mock))
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// `POST /login`. The host's own state-changing routes use the same check (login CSRF).
async fn login(State(s): State<AppState>, parts: Parts, Form(form): Form<Login>) -> Response {
    if same_origin(&parts, &s.origin).is_err() {
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    let Some((user, _, tenant)) = USERS.iter().find(|(u, p, _)| *u == form.username && *p == form.password) else {
        return Redirect::to("/?login=failed").into_response();
    };
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let sid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let tenant: TenantId = match tenant.parse() {
        Ok(t) => t,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    s.sessions.0.lock().unwrap_or_else(|e| e.into_inner()).insert(sid.clone(), ((*user).to_owned(), tenant));
    let cookie = format!("{COOKIE}={sid}; HttpOnly; SameSite=Lax; Path=/");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// `POST /logout`.
async fn logout(State(s): State<AppState>, parts: Parts) -> Response {
    if same_origin(&parts, &s.origin).is_err() {
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    if let Some(sid) = session_id(&parts.headers) {
        s.sessions.0.lock().unwrap_or_else(|e| e.into_inner()).remove(sid);
    }
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

async fn page(State(s): State<AppState>, headers: HeaderMap) -> Html<String> {
    match s.sessions.get(&headers) {
        None => Html(LOGIN_PAGE.to_owned()),
        Some((user, tenant)) => Html(
            APP_PAGE
                .replace("{user}", &user)
                .replace("{tenant}", tenant.as_str())
                .replace("{return_url}", &format!("{}/", s.origin)),
        ),
    }
}

const LOGIN_PAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}input,button{font:inherit;margin:.2rem 0}</style></head>
<body><h1>Sign in to the host app</h1>
<form method="post" action="/login">
<label>User <input id="username" name="username" value="alice"></label><br>
<label>Password <input name="password" type="password" value="demo"></label><br>
<button id="sign-in" type="submit">Sign in</button></form>
<p>alice is in tenant <code>acme</code>, bob in <code>globex</code>; both use the password <code>demo</code>.</p>
</body></html>"#;

/// The signed-in page. It calls Connect's API directly; the browser sends the session cookie
/// and, on `DELETE`, the `Origin` and `Sec-Fetch-Site` headers that `SameOrigin` checks.
const APP_PAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Connected accounts</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}button{font:inherit}li{margin:.4rem 0}</style></head>
<body><h1>Hello {user} <small>(tenant {tenant})</small></h1>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
<p id="message"></p>
<button id="connect">Connect demo</button>
<h2>Connected accounts</h2><ul id="accounts"></ul>
<script>
const q = new URLSearchParams(location.search);
if (q.get("connected")) message.textContent = "Connected your " + q.get("connected") + " account.";
if (q.get("oauth_error")) message.textContent = "Not connected: " + q.get("oauth_error");
if (q.toString()) history.replaceState(null, "", "/");
connect.onclick = async () => {
  const r = await fetch("/v1/oauth/demo/start?return_url=" + encodeURIComponent("{return_url}"));
  const body = await r.json();
  if (r.ok) location.assign(body.authorize_url); else message.textContent = body.error.message;
};
async function load() {
  const body = await (await fetch("/v1/accounts")).json();
  accounts.textContent = "";
  for (const a of body.data) {
    const li = document.createElement("li");
    li.className = "account";
    li.textContent = (a.display_name || a.username) + " (" + a.provider + ", " + a.status + ") ";
    const b = document.createElement("button");
    b.textContent = "Disconnect";
    b.onclick = async () => {
      const r = await fetch("/v1/accounts/" + encodeURIComponent(a.id), { method: "DELETE" });
      message.textContent = r.ok ? "Disconnected." : "Could not disconnect (" + r.status + ").";
      load();
    };
    li.appendChild(b);
    accounts.appendChild(li);
  }
  if (!body.data.length) accounts.textContent = "None yet.";
}
load();
</script></body></html>"#;
