//! The examples in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! with `fantoccini`, against the apps started in-process on port 0, with their in-process
//! mock provider showing its consent page. The demo page (`axum_host`'s) connects, is denied
//! and disconnects; the app with its own login (`axum_custom_auth`) signs in, connects,
//! refuses a cross-origin form post to Connect's API, and disconnects.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). On a developer
//! machine without chromedriver the test is skipped with a loud message; with `CI` set it
//! fails instead. `DRAVO_UPDATE_SCREENSHOT=1` rewrites `docs/demo.png` (the README's picture)
//! from the page with a connected account. `CHROMEDRIVER` and `CHROMIUM` override the paths.
//!
//! Why fantoccini: a small, long-maintained WebDriver client on hyper (already in our tree),
//! used here without its TLS features (chromedriver is plain HTTP on loopback); thirtyfour
//! would bring a second HTTP stack and more, and playwright would need Node.js and npm.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

// The demo app (`examples/shared/mod.rs`), as included by path in `demo.rs`.
use crate::demo::shared;

/// How long any one step may take before the test gives up (a ceiling, never asserted on).
const STEP: Duration = Duration::from_secs(30);

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `name` as an executable file on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

fn chromedriver() -> Option<PathBuf> {
    match std::env::var_os("CHROMEDRIVER") {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => on_path("chromedriver"),
    }
}

fn chromium() -> Option<PathBuf> {
    match std::env::var_os("CHROMIUM") {
        Some(p) => Some(PathBuf::from(p)),
        None => ["chromium", "chromium-browser", "google-chrome"].into_iter().find_map(on_path),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let mut bytes = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let dir = std::env::temp_dir().join(format!("dravo-{name}-{}", u64::from_le_bytes(bytes)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A chromedriver child process on a free loopback port. It leads its own process group,
/// which the Chromium it starts joins; dropping this kills the whole group, so a failing
/// test (which never gets to close its session) leaves no browser behind.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // `kill -- -PGID`: the group, not just chromedriver (no unsafe libc call needed).
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

async fn start_driver(path: &Path) -> Driver {
    // chromedriver has no "port 0, tell me which": take a free port, release it, pass it on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(path)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let ready = async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(STEP, ready).await.expect("chromedriver did not start listening");
    Driver { child, url: format!("http://127.0.0.1:{port}") }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut options = json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=900,720",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if let Some(binary) = chromium() {
        options["binary"] = json!(binary);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("WebDriver session")
}

async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    match client.wait().at_most(STEP).for_element(Locator::Css(css)).await {
        Ok(element) => element,
        Err(e) => panic!("no `{css}` on {:?}: {e}", client.current_url().await.ok()),
    }
}

async fn click(client: &Client, css: &str) {
    wait_for(client, css).await.click().await.unwrap_or_else(|e| panic!("click `{css}`: {e}"));
}

async fn text(client: &Client, css: &str) -> String {
    wait_for(client, css).await.text().await.unwrap()
}

/// The chromedriver to use, or `None` (after saying so loudly) when the test must be
/// skipped; with `CI` set a missing chromedriver fails the test instead.
fn driver_or_skip(test: &str) -> Option<PathBuf> {
    let found = chromedriver();
    if found.is_none() {
        let why = "chromedriver not found (install Debian's chromium and chromium-driver, or set CHROMEDRIVER)";
        assert!(!on_ci(), "CI is set, and {why}");
        eprintln!("\n*** SKIPPED {test}: {why} ***\n");
    }
    found
}

/// Waits until an element matching the XPath `xpath` is on the page.
async fn wait_for_xpath(client: &Client, xpath: &str) {
    if let Err(e) = client.wait().at_most(STEP).for_element(Locator::XPath(xpath)).await {
        panic!("no `{xpath}` on {:?}: {e}", client.source().await.ok());
    }
}

#[tokio::test]
async fn in_a_browser_the_demo_page_connects_on_allow_shows_the_error_on_deny_and_disconnects() {
    let Some(driver_path) = driver_or_skip("in_a_browser_the_demo_page_…") else { return };
    let dir = temp_dir("browser");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let demo = shared::build(None, &dir.join("data"), Some(addr)).await.unwrap();
    let router = shared::axum_app::router(&demo);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let base = format!("http://{addr}/");

    let driver = start_driver(&driver_path).await;
    let client = browser(&driver, &dir.join("profile")).await;
    client.goto(&base).await.unwrap();
    assert_eq!(text(&client, "#accounts li.empty").await, "No account connected yet.");
    // A button per configured provider: `x` is built in but has no app here, so it is disabled.
    let x = wait_for(&client, r#"#providers .others button[data-provider="x"]"#).await;
    assert_eq!(x.prop("disabled").await.unwrap().as_deref(), Some("true"));

    // Connect, and Allow at the provider's consent page: back on the page, the account.
    click(&client, r#"#providers button[data-provider="demo"]"#).await;
    assert!(text(&client, "main h1").await.contains("wants to access your account"));
    click(&client, "#allow").await;
    let account = text(&client, "#accounts li.acc").await;
    assert!(account.contains("Mock User") && account.contains("demo") && account.contains("@mockuser"), "{account}");
    assert!(account.contains("active") && account.contains("Disconnect"), "{account}");
    assert_eq!(text(&client, "#message.ok").await, "Connected your demo account.");
    assert_eq!(client.current_url().await.unwrap().as_str(), base, "the result is removed from the URL");
    wait_for(&client, "#accounts li.acc .avatar img").await;
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join("demo.png");
    if std::env::var_os("DRAVO_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(committed.parent().unwrap()).unwrap();
        std::fs::write(&committed, &png).unwrap();
        eprintln!("wrote {}", committed.display());
    }
    assert!(std::fs::read(&committed).is_ok_and(|b| b.starts_with(b"\x89PNG")), "docs/demo.png is missing");

    // Connect again, and Deny: the page says so, and nothing new was connected.
    click(&client, r#"#providers button[data-provider="demo"]"#).await;
    click(&client, "#deny").await;
    let message = text(&client, "#message.err").await;
    assert!(message.contains("You declined the request") && message.contains("access_denied"), "{message}");
    assert_eq!(client.find_all(Locator::Css("#accounts li.acc")).await.unwrap().len(), 1);

    // Disconnect: the account is gone.
    click(&client, "#accounts li.acc button.disconnect").await;
    assert_eq!(text(&client, "#accounts li.empty").await, "No account connected yet.");
    assert_eq!(text(&client, "#message.ok").await, "Disconnected.");

    client.close().await.unwrap();
    drop(driver);
    let _ = std::fs::remove_dir_all(&dir);
}

// The axum app with its own login (`examples/axum_custom_auth.rs`), built in-process.
#[path = "../../examples/axum_custom_auth.rs"]
#[allow(dead_code)]
mod custom_auth;

#[tokio::test]
async fn in_a_browser_the_custom_auth_example_signs_in_connects_and_disconnects_through_same_origin() {
    let Some(driver_path) = driver_or_skip("in_a_browser_the_custom_auth_example_…") else { return };
    let dir = temp_dir("browser-auth");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let (app, _mock) = custom_auth::build(&origin).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let driver = start_driver(&driver_path).await;
    let client = browser(&driver, &dir.join("profile")).await;
    client.goto(&format!("{origin}/")).await.unwrap();
    // The host's own login form (a same-origin POST), then its session cookie is the credential.
    click(&client, "#sign-in").await;
    wait_for_xpath(&client, "//h1[starts-with(normalize-space(.), 'Hello alice')]").await;
    wait_for_xpath(&client, "//ul[@id='accounts' and normalize-space(.)='None yet.']").await;
    // The page calls Connect's API itself: start, then Allow at the provider.
    click(&client, "#connect").await;
    click(&client, "#allow").await;
    let account = text(&client, "#accounts li.account").await;
    assert!(account.starts_with("Mock User (demo, active)"), "{account}");
    // A page on another port (same site, so the SameSite=Lax cookie goes along) posts a form
    // to Connect's API: SameOrigin refuses it before anything else (401, not the 415 that the
    // text/plain body would get from a signed-in caller).
    let evil = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_url = format!("http://{}/", evil.local_addr().unwrap());
    let form = format!(
        r#"<!doctype html><form id="f" method="post" enctype="text/plain" action="{origin}/v1/accounts">
        <input name='{{"provider":"demo","access_token":"x","pad":"' value='"}}'></form>
        <script>document.getElementById("f").submit()</script>"#
    );
    let page = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(form) }));
    tokio::spawn(async move { axum::serve(evil, page).await.unwrap() });
    client.goto(&evil_url).await.unwrap();
    wait_for_xpath(&client, "//*[contains(., '\"code\":\"unauthorized\"')]").await;
    client.goto(&format!("{origin}/")).await.unwrap();
    // DELETE from our own page: the browser sends Origin and Sec-Fetch-Site, and SameOrigin
    // lets it through.
    click(&client, "#accounts li.account button").await;
    wait_for_xpath(&client, "//p[@id='message' and normalize-space(.)='Disconnected.']").await;
    wait_for_xpath(&client, "//ul[@id='accounts' and normalize-space(.)='None yet.']").await;

    client.close().await.unwrap();
    drop(driver);
    let _ = std::fs::remove_dir_all(&dir);
}
