//! Bounds on provider answers: tokens, granted scopes, profiles and targets over the
//! engine's limits fail the connect (or refresh, or registration) and store nothing. Tokens
//! and scopes come from the mock's real token endpoint; profiles and targets from a
//! third-party provider (`hostile`) that wraps the mock and says whatever the test scripts,
//! since the built-in parsers already trim what they read.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dravo_connect::http_client::HttpClient;
use dravo_connect::provider::{
    AuthorizeRequest, CodeFlow, GenericProvider, Profile, Provider, ProviderContext, ProviderError, Renewal, Target,
    TargetListing, TargetType, TokenSet,
};
use dravo_connect::store::{AccountStatus, Store};
use dravo_connect::test_util::{MockBehavior, MockConfig, MockUser};
use dravo_connect::{AccountId, ConnectLayer, ErrorCode, KeyId, ProviderId, Secret};
use dravo_connect_core::secret_box::SecretBox;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;

use crate::harness::*;

/// `n` distinct scopes of `len` bytes each, space-separated.
fn scopes(n: usize, len: usize) -> String {
    (0..n).map(|i| format!("{i:0len$}")).collect::<Vec<_>>().join(" ")
}

async fn accounts(h: &H) -> Vec<Value> {
    let r = h.get("/v1/accounts", Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

/// Connects through the mock (app created already); the redirect's `oauth_error`, or
/// `None` when it connected.
async fn connect_mock(h: &H) -> Option<String> {
    let r = h.callback(&h.consent(&h.start_default(KEY1).await).await).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    let error = r.location_param("oauth_error");
    assert_eq!(error.is_none(), r.location_param("connected").is_some(), "{}", r.location());
    error
}

/// The stored (sealed) tokens and scopes of an account, opened with the harness's key.
async fn stored(h: &H, id: &AccountId) -> (String, Option<String>, Vec<String>) {
    let record = h.store.get_account(&tenant("t1"), id).await.unwrap().unwrap();
    let boxes = SecretBox::new([(KeyId::zero(), Secret::new(vec![0x22; 32]))]).unwrap();
    let open = |field: &str, sealed| boxes.open_string(id.as_str(), field, sealed).unwrap().expose_secret().clone();
    let access = open("access_token", &record.access_token);
    let refresh = record.refresh_token.as_ref().map(|r| open("refresh_token", r));
    (access, refresh, record.scopes)
}

#[tokio::test]
async fn an_access_token_one_byte_over_8_kib_fails_the_connect_and_stores_nothing_and_8_kib_connects() {
    let h = H::new().await;
    h.create_app(KEY1).await;
    h.mock.set_behavior(MockBehavior::default().with_access_token_len(8193));
    assert_eq!(connect_mock(&h).await.as_deref(), Some("token_exchange_failed"));
    assert!(accounts(&h).await.is_empty());
    assert_eq!(h.mock.counts().userinfo, 0, "nothing of the answer was used");

    h.mock.set_behavior(MockBehavior::default().with_access_token_len(8192));
    assert_eq!(connect_mock(&h).await, None);
    let list = accounts(&h).await;
    let id: AccountId = list[0]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(stored(&h, &id).await.0.len(), 8192);
}

#[tokio::test]
async fn a_refresh_token_one_byte_over_8_kib_fails_the_connect_and_stores_nothing_and_8_kib_connects() {
    let h = H::new().await;
    h.create_app(KEY1).await;
    h.mock.set_behavior(MockBehavior::default().with_refresh_token_len(8193));
    assert_eq!(connect_mock(&h).await.as_deref(), Some("token_exchange_failed"));
    assert!(accounts(&h).await.is_empty());

    h.mock.set_behavior(MockBehavior::default().with_refresh_token_len(8192));
    assert_eq!(connect_mock(&h).await, None);
    let id: AccountId = accounts(&h).await[0]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(stored(&h, &id).await.1.map(|r| r.len()), Some(8192));
}

#[tokio::test]
async fn granted_scopes_over_100_or_over_256_bytes_fail_the_connect_and_the_account_list_stays_small_at_the_bounds() {
    let h = H::new().await;
    h.create_app(KEY1).await;
    for over in [scopes(101, 1), scopes(1, 257), format!("{} {}", scopes(99, 256), "x".repeat(257))] {
        h.mock.set_behavior(MockBehavior::default().with_granted_scope(over));
        assert_eq!(connect_mock(&h).await.as_deref(), Some("token_exchange_failed"));
        assert!(accounts(&h).await.is_empty());
    }

    // Everything at its bound at once: the account list stays a few dozen KiB.
    h.mock.set_behavior(
        MockBehavior::default()
            .with_granted_scope(scopes(100, 256))
            .with_access_token_len(8192)
            .with_refresh_token_len(8192),
    );
    assert_eq!(connect_mock(&h).await, None);
    let r = h.get("/v1/accounts", Some(KEY1)).await;
    assert_eq!(r.json()["data"][0]["scopes"].as_array().unwrap().len(), 100);
    assert!(r.body.len() < 40 * 1024, "GET /v1/accounts served {} bytes", r.body.len());
}

#[tokio::test]
async fn a_mastodon_instance_granting_50000_scopes_connects_nothing() {
    // The attack as reported: a hostile instance, chosen by whoever calls `start`.
    let h = H::with(MockConfig::mastodon(), |b| b.allow_private_instances(true)).await;
    let body = json!({"provider": "mastodon", "name": "Acme", "allowed_return_urls": [RETURN]});
    assert_eq!(h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await.status, StatusCode::CREATED);
    h.mock.set_behavior(MockBehavior::default().with_granted_scope(scopes(50_000, 5)));
    let start = format!("/v1/oauth/mastodon/start?return_url={}&instance={}", enc(RETURN), enc(&h.mock.base_url()));
    let url = h.get(&start, Some(KEY1)).await.json()["authorize_url"].as_str().unwrap().to_owned();
    let to = h.mock.consent(&url).await.unwrap();
    let r = h.callback(&format!("{}?{}", to.path(), to.query().unwrap())).await;
    assert_eq!(r.location_param("oauth_error").as_deref(), Some("token_exchange_failed"), "{}", r.location());
    assert!(accounts(&h).await.is_empty());
}

#[tokio::test]
async fn a_refresh_answer_over_a_bound_keeps_the_accounts_old_tokens_and_scopes() {
    let over = [
        MockBehavior::default().with_access_token_len(8193),
        MockBehavior::default().with_refresh_token_len(8193),
        MockBehavior::default().with_granted_scope(scopes(101, 1)),
        MockBehavior::default().with_granted_scope(scopes(1, 257)),
    ];
    for behavior in over {
        // A harness each: the mock rotates refresh tokens, so the one stored is spent.
        let h = H::new().await;
        h.create_app(KEY1).await;
        assert_eq!(connect_mock(&h).await, None);
        let id: AccountId = accounts(&h).await[0]["id"].as_str().unwrap().parse().unwrap();
        let before = stored(&h, &id).await;
        let t1 = tenant("t1");
        h.clock.advance(time::Duration::hours(2));
        h.mock.expire_access_tokens();
        h.mock.set_behavior(behavior.clone());
        let err = h.connect.access_token(&t1, &id).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::ProviderError, "{behavior:?}");
        assert_eq!(h.mock.counts().token_refresh, 1, "the refresh was asked for");
        assert_eq!(stored(&h, &id).await, before, "{behavior:?}: the old tokens are kept");
        let record = h.store.get_account(&t1, &id).await.unwrap().unwrap();
        assert_eq!(record.status, AccountStatus::Active, "a provider failure, not a refusal");
    }
}

// ------------------------------------------------------------------- a third-party provider

/// What the `hostile` provider says instead of the mock: a profile, targets.
#[derive(Debug, Default)]
struct Script {
    profile: Option<Profile>,
    targets: Option<Vec<Target>>,
}

/// A third-party provider: the mock's generic provider under the id `hostile`, with the
/// profile and targets of its [`Script`].
#[derive(Debug)]
struct Hostile {
    inner: GenericProvider,
    script: Arc<Mutex<Script>>,
}

impl Provider for Hostile {
    fn id(&self) -> &ProviderId {
        self.inner.id()
    }
    fn code_flow(&self) -> Option<&dyn CodeFlow> {
        Some(self)
    }
    fn targets(&self) -> Option<&dyn TargetListing> {
        Some(self)
    }
}

#[async_trait]
impl CodeFlow for Hostile {
    fn default_scopes(&self) -> &[String] {
        self.inner.default_scopes()
    }
    fn uses_pkce(&self) -> bool {
        self.inner.uses_pkce()
    }
    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        self.inner.authorize_url(request)
    }
    async fn exchange_code(
        &self,
        ctx: ProviderContext<'_>,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: Option<&Secret<String>>,
    ) -> Result<TokenSet, ProviderError> {
        self.inner.exchange_code(ctx, code, redirect_uri, pkce_verifier).await
    }
    async fn fetch_profile(
        &self,
        http: &dyn HttpClient,
        access_token: &Secret<String>,
    ) -> Result<Profile, ProviderError> {
        let real = self.inner.fetch_profile(http, access_token).await?;
        Ok(self.script.lock().unwrap().profile.clone().unwrap_or(real))
    }
    fn renewal(&self) -> Renewal<'_> {
        self.inner.renewal()
    }
}

#[async_trait]
impl TargetListing for Hostile {
    fn target_type(&self) -> TargetType {
        TargetType::Page
    }
    async fn list_targets(&self, _: &dyn HttpClient, _: &TokenSet, _: &Profile) -> Result<Vec<Target>, ProviderError> {
        Ok(self.script.lock().unwrap().targets.clone().unwrap_or_default())
    }
}

struct Hx {
    h: H,
    script: Arc<Mutex<Script>>,
}

async fn hostile() -> Hx {
    let h = H::new().await;
    let script = Arc::new(Mutex::new(Script::default()));
    let inner = GenericProvider::from_config(&h.mock.provider_config("hostile")).unwrap();
    let connect =
        base_builder(&h.store, &h.clock).provider(Arc::new(Hostile { inner, script: script.clone() })).build().unwrap();
    let app = axum::Router::new().layer(ConnectLayer::new(connect.clone()));
    let h = H { connect, app, mock: h.mock, clock: h.clock, store: h.store };
    let mut body = h.app_body();
    body["provider"] = json!("hostile");
    assert_eq!(h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await.status, StatusCode::CREATED);
    Hx { h, script }
}

fn profile(id: &str, name_len: usize, avatar: Option<String>) -> Profile {
    Profile {
        id: id.to_owned(),
        username: Some("u".repeat(name_len)),
        display_name: Some("d".repeat(name_len)),
        avatar_url: avatar,
    }
}

fn target(id: &str, name_len: usize, token_len: Option<usize>) -> Target {
    Target {
        id: id.to_owned(),
        target_type: TargetType::Page,
        username: None,
        display_name: Some("p".repeat(name_len)),
        avatar_url: Some("javascript:alert(1)".to_owned()),
        access_token: token_len.map(|n| Secret::new("t".repeat(n))),
    }
}

impl Hx {
    fn script(&self, profile: Option<Profile>, targets: Option<Vec<Target>>) {
        *self.script.lock().unwrap() = Script { profile, targets };
    }

    /// A connect through `hostile`: the redirect.
    async fn connect(&self) -> Resp {
        let r = self.h.get(&format!("/v1/oauth/hostile/start?return_url={}", enc(RETURN)), Some(KEY1)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let to = self.h.mock.consent(r.json()["authorize_url"].as_str().unwrap()).await.unwrap();
        let r = self.h.callback(&format!("{}?{}", to.path(), to.query().unwrap())).await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
        r
    }

    /// Nothing was stored: no account, no selection (sweeping finds none to delete).
    async fn assert_nothing_stored(&self) {
        assert!(accounts(&self.h).await.is_empty());
        self.h.clock.advance(time::Duration::days(1));
        assert_eq!(self.h.connect.sweep_flows().await.unwrap(), 1, "the one consumed flow, no selection");
    }
}

#[tokio::test]
async fn a_profile_id_username_or_display_name_over_1_kib_fails_the_connect_and_stores_nothing() {
    let hx = hostile().await;
    let mut long_id = profile(&"i".repeat(1025), 1, None);
    let mut long_name = profile("1", 1, None);
    long_name.username = Some("é".repeat(513)); // 1026 bytes in 513 characters
    let mut long_display = profile("1", 1, None);
    long_display.display_name = Some("d".repeat(1025));
    long_id.display_name = None;
    for p in [long_id, long_name, long_display] {
        hx.script(Some(p), None);
        let r = hx.connect().await;
        assert_eq!(r.location_param("oauth_error").as_deref(), Some("profile_fetch_failed"), "{}", r.location());
        hx.assert_nothing_stored().await;
    }

    hx.script(Some(profile(&"i".repeat(1024), 1024, None)), None);
    let r = hx.connect().await;
    assert_eq!(r.location_param("connected").as_deref(), Some("hostile"), "{}", r.location());
    let list = accounts(&hx.h).await;
    assert_eq!(list[0]["provider_account_id"].as_str().unwrap().len(), 1024);
    assert_eq!(list[0]["username"].as_str().unwrap().len(), 1024);
    assert_eq!(list[0]["display_name"].as_str().unwrap().len(), 1024);
}

#[tokio::test]
async fn an_avatar_that_is_not_an_http_url_or_is_over_2_kib_is_stored_as_null() {
    let hx = hostile().await;
    let at_bound = format!("https://cdn.example/{}", "a".repeat(2048 - 20));
    let cases = [
        ("javascript:alert(document.cookie)".to_owned(), None),
        (format!("https://cdn.example/{}", "a".repeat(3 * 1024)), None),
        (format!("{at_bound}a"), None),
        ("data:image/png;base64,iVBORw0KGgo=".to_owned(), None),
        (at_bound.clone(), Some(at_bound.clone())),
    ];
    for (avatar, expected) in cases {
        hx.script(Some(profile("1", 1, Some(avatar.clone()))), None);
        let r = hx.connect().await;
        assert_eq!(r.location_param("connected").as_deref(), Some("hostile"), "{}", r.location());
        let list = accounts(&hx.h).await;
        assert_eq!(list[0]["avatar_url"].as_str(), expected.as_deref(), "{avatar:.40}");
    }
}

#[tokio::test]
async fn a_target_over_a_bound_fails_the_connect_with_provider_error_and_stores_nothing() {
    let hx = hostile().await;
    for bad in [target("p1", 1025, None), target("p1", 1, Some(8193)), target(&"i".repeat(1025), 1, None)] {
        hx.script(None, Some(vec![target("ok", 1, None), bad]));
        let r = hx.connect().await;
        assert_eq!(r.location_param("oauth_error").as_deref(), Some("provider_error"), "{}", r.location());
        assert_eq!(r.location_param("selection_id"), None);
        hx.assert_nothing_stored().await;
    }

    // At the bounds: a selection, the targets' javascript: avatars dropped.
    hx.script(None, Some(vec![target("ok", 1024, Some(8192)), target(&"i".repeat(1024), 1, None)]));
    let r = hx.connect().await;
    let selection = r.location_param("selection_id").unwrap_or_else(|| panic!("{}", r.location()));
    let s = hx.h.get(&format!("/v1/oauth/selections/{selection}"), Some(KEY1)).await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.text());
    let targets = s.json()["targets"].as_array().unwrap().clone();
    assert_eq!(targets.len(), 2);
    assert!(targets.iter().all(|t| t["avatar_url"].is_null()), "{targets:?}");
}

#[tokio::test]
async fn a_registered_tokens_profile_over_a_bound_fails_the_registration_and_stores_nothing() {
    let hx = hostile().await;
    let token = hx.h.mock.issue_access_token(&hx.h.mock.user());
    let register =
        |refresh: Option<String>| json!({"provider": "hostile", "access_token": token, "refresh_token": refresh});
    hx.script(Some(profile("1", 1025, None)), None);
    let r = hx.h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(register(None))).await;
    r.assert_error(502, "provider_error");
    assert!(accounts(&hx.h).await.is_empty());

    // The host's own refresh token has the same bound as a provider's.
    hx.script(Some(profile("1", 1024, None)), None);
    let r = hx.h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(register(Some("r".repeat(8193))))).await;
    r.assert_error(422, "validation_failed");
    assert!(accounts(&hx.h).await.is_empty());

    let r = hx.h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(register(Some("r".repeat(8192))))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["username"].as_str().unwrap().len(), 1024);
}

// ------------------------------------------------------------------------------ Bluesky

#[tokio::test]
async fn a_bluesky_session_whose_profile_is_over_a_bound_fails_the_app_password_registration() {
    const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
    const APP_PASSWORD: &str = "abcd-efgh-ijkl-mnop";
    let h = H::with(MockConfig::default().with_app_password(APP_PASSWORD), |b| b).await;
    h.mock.set_clock(h.clock.clone());
    let connect = base_builder(&h.store, &h.clock)
        .provider_config(dravo_connect::provider::BuiltinOverrides::new("bluesky").with_service_url(h.mock.base_url()))
        .build()
        .unwrap();
    let app = axum::Router::new().layer(ConnectLayer::new(connect.clone()));
    let h = H { connect, app, mock: h.mock, clock: h.clock, store: h.store };
    let login = json!({"provider": "bluesky", "identifier": "alice.bsky.social", "app_password": APP_PASSWORD});

    h.mock.set_user(MockUser::new(DID, "alice.bsky.social", "d".repeat(1025)));
    let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(login.clone())).await;
    r.assert_error(502, "provider_error");
    assert!(accounts(&h).await.is_empty());

    h.mock.set_user(MockUser::new(DID, "alice.bsky.social", "d".repeat(1024)));
    let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(login)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["display_name"].as_str().unwrap().len(), 1024);
}
