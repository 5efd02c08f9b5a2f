//! `ConnectHooks`: called once per event, after the store write, bounded by a timeout, and
//! never changing the outcome.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dravo_connect::hooks::{ConnectHooks, HookError, RefreshFailure};
use dravo_connect::store::Store;
use dravo_connect::test_util::MockConfig;
use dravo_connect::{Account, Revocation, TenantId};
use http::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Record,
    Fail,
    Hang,
}

#[derive(Debug, Clone)]
struct Recorder {
    mode: Mode,
    events: Arc<Mutex<Vec<String>>>,
    store: Arc<Mutex<Option<Arc<dyn Store>>>>,
}

impl Recorder {
    fn new(mode: Mode) -> Self {
        Self { mode, events: Arc::default(), store: Arc::default() }
    }

    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    async fn note(&self, tenant: &TenantId, event: String, account: &Account) -> Result<(), HookError> {
        // The store write happened before the hook: the account is (or is no longer) there.
        let store = self.store.lock().unwrap().clone();
        if let Some(store) = store {
            let stored = store.get_account(tenant, &account.id).await.unwrap();
            assert_eq!(stored.is_some(), !event.starts_with("disconnected"), "{event}");
        }
        self.events.lock().unwrap().push(event);
        match self.mode {
            Mode::Record => Ok(()),
            Mode::Fail => Err("the host's webhook endpoint is down (password=hunter2)".into()),
            Mode::Hang => std::future::pending().await,
        }
    }
}

#[async_trait]
impl ConnectHooks for Recorder {
    async fn connected(&self, tenant: &TenantId, account: &Account) -> Result<(), HookError> {
        self.note(tenant, format!("connected {}", account.provider), account).await
    }

    async fn reconnected(&self, tenant: &TenantId, account: &Account) -> Result<(), HookError> {
        self.note(tenant, format!("reconnected {}", account.provider), account).await
    }

    async fn disconnected(&self, tenant: &TenantId, account: &Account, r: Revocation) -> Result<(), HookError> {
        self.note(tenant, format!("disconnected {} {r:?}", account.provider), account).await
    }

    async fn refreshed(&self, tenant: &TenantId, account: &Account) -> Result<(), HookError> {
        self.note(tenant, format!("refreshed {}", account.provider), account).await
    }

    async fn refresh_failed(&self, tenant: &TenantId, account: &Account, f: RefreshFailure) -> Result<(), HookError> {
        self.note(tenant, format!("refresh_failed {} {f:?} {:?}", account.provider, account.status), account).await
    }
}

async fn harness(mode: Mode) -> (H, Recorder) {
    let recorder = Recorder::new(mode);
    let hooks = recorder.clone();
    let h = H::with(MockConfig::default(), move |b| b.hooks(hooks).hook_timeout(Duration::from_millis(50))).await;
    let store: Arc<dyn Store> = h.store.clone();
    *recorder.store.lock().unwrap() = Some(store);
    (h, recorder)
}

async fn connect(h: &H) -> String {
    let url = h.start_default(KEY1).await;
    let cb = h.consent(&url).await;
    let r = h.callback(&cb).await;
    assert_eq!(r.status, StatusCode::FOUND);
    r.location_param("account_id").expect("connected, whatever the hook did")
}

#[tokio::test]
async fn each_account_event_calls_its_hook_once_after_the_store_write() {
    let (h, recorder) = harness(Mode::Record).await;
    h.create_app(KEY1).await;
    // A declined consent connects nothing, so no hook runs.
    let url = url::Url::parse(&h.start_default(KEY1).await).unwrap();
    let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let r = h.callback(&format!("/v1/oauth/mock/callback?error=access_denied&state={}", enc(&state))).await;
    assert_eq!(r.location_param("oauth_error").as_deref(), Some("access_denied"));
    assert!(recorder.events().is_empty());
    let id = connect(&h).await;
    assert_eq!(recorder.events(), ["connected mock"], "awaited before the redirect");
    assert_eq!(connect(&h).await, id);
    assert_eq!(recorder.events(), ["connected mock", "reconnected mock"]);
    let r = h.req(Method::DELETE, &format!("/v1/accounts/{id}"), Some(KEY1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(recorder.events(), ["connected mock", "reconnected mock", "disconnected mock Revoked"]);
}

#[tokio::test]
async fn a_registered_account_calls_the_connected_hook() {
    let (h, recorder) = harness(Mode::Record).await;
    h.create_app(KEY1).await;
    let id = connect(&h).await;
    let token = h.connect.access_token(&tenant("t1"), &id.parse().unwrap()).await.unwrap();
    let body = json!({"provider": "mock", "access_token": token.expose_secret(), "external_id": "user-2"});
    let r = h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(recorder.events(), ["connected mock", "connected mock"]);
}

#[tokio::test]
async fn a_failing_or_hanging_hook_never_changes_the_outcome() {
    for mode in [Mode::Fail, Mode::Hang] {
        let (h, recorder) = harness(mode).await;
        h.create_app(KEY1).await;
        let id = connect(&h).await;
        let account = h.get(&format!("/v1/accounts/{id}"), Some(KEY1)).await;
        assert_eq!(account.status, StatusCode::OK, "{mode:?}");
        let r = h.req(Method::DELETE, &format!("/v1/accounts/{id}"), Some(KEY1), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{mode:?}");
        assert_eq!(recorder.events(), ["connected mock", "disconnected mock Revoked"], "{mode:?}");
    }
}

#[test]
fn a_hook_timeout_outside_its_bounds_is_refused_at_build() {
    let build = |t: Duration| {
        dravo_connect::Connect::builder()
            .public_base_url(BASE)
            .state_key(dravo_connect::KeyId::zero(), dravo_connect::Secret::new(vec![1; 32]))
            .encryption_key(dravo_connect::KeyId::zero(), dravo_connect::Secret::new(vec![2; 32]))
            .store(dravo_connect::store::MemoryStore::new())
            .hook_timeout(t)
            .build()
    };
    assert!(build(Duration::ZERO).is_err());
    assert!(build(Duration::from_secs(61)).is_err());
    assert!(build(Duration::from_secs(5)).is_ok());
}

#[tokio::test]
async fn a_refresh_calls_refreshed_and_a_refused_one_refresh_failed_once_each() {
    let (h, recorder) = harness(Mode::Record).await;
    h.create_app(KEY1).await;
    let id: dravo_connect::AccountId = connect(&h).await.parse().unwrap();
    let t1 = tenant("t1");
    h.clock.advance(time::Duration::hours(2));
    h.connect.access_token(&t1, &id).await.unwrap();
    assert_eq!(recorder.events(), ["connected mock", "refreshed mock"]);
    // A transient failure of an expired token: tokens kept, the hook told.
    h.clock.advance(time::Duration::hours(2));
    h.mock.set_behavior(dravo_connect::test_util::MockBehavior::default().with_token_status(503));
    assert!(h.connect.access_token(&t1, &id).await.is_err());
    assert_eq!(recorder.events()[2], "refresh_failed mock Transient Active");
    // Refused for good: the account is expired, and the hook sees it so.
    h.mock.set_behavior(dravo_connect::test_util::MockBehavior::default().with_refresh_invalid_grant(true));
    assert!(h.connect.access_token(&t1, &id).await.is_err());
    assert_eq!(recorder.events()[3], "refresh_failed mock Refused Expired");
    assert_eq!(recorder.events().len(), 4);
}
