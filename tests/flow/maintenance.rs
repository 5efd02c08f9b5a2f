//! Housekeeping: the opportunistic sweep of expired flows, and key rotation without
//! downtime (old states still verify until their key goes; re-sealing every stored secret
//! with the newest key while the app serves).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use dravo_connect::store::{MemoryStore, PageRequest, Store};
use dravo_connect::test_util::{MockConfig, MockProvider};
use dravo_connect::{Connect, KeyId, ManualClock, NewApp, Secret, StartParams};
use dravo_connect_core::secret_box::SecretBox;
use http::StatusCode;
use tokio::task::JoinSet;

use crate::harness::*;

/// Waits (yielding, never timing) until `done` holds; panics after many rounds.
async fn eventually(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the condition never held");
}

#[tokio::test]
async fn start_sweeps_expired_flows_in_the_background_at_most_once_a_minute() {
    let h = H::new().await;
    h.create_app(KEY1).await;
    // The first start sweeps (this instance never did).
    let old = h.start_default(KEY1).await;
    eventually(|| h.store.sweeps.load(Ordering::SeqCst) == 1).await;
    let old_cb = h.consent(&old).await;

    // Within the minute: no more sweeps, however many flows start.
    h.clock.advance(time::Duration::seconds(59));
    for _ in 0..3 {
        h.start_default(KEY1).await;
    }
    // A minute after the first: one more.
    h.clock.advance(time::Duration::seconds(1));
    h.start_default(KEY1).await;
    eventually(|| h.store.sweeps.load(Ordering::SeqCst) >= 2).await;
    // Tasks run in the order they were spawned: any sweep the starts within the minute had
    // spawned would have run before this one.
    assert_eq!(h.store.sweeps.load(Ordering::SeqCst), 2);

    // The old flow is still known (expired less than an hour ago): its replay is
    // recognised. Then, after its expiry plus the hour of retention, a start sweeps it.
    h.clock.advance(time::Duration::minutes(20));
    let r = h.callback(&old_cb).await;
    assert_eq!(r.location_param("oauth_error").as_deref(), Some("state_expired"));
    h.clock.advance(time::Duration::hours(1));
    let fresh = h.start_default(KEY1).await;
    eventually(|| h.store.sweeps.load(Ordering::SeqCst) == 3).await;
    let r = h.callback(&old_cb).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a swept flow has no destination left: {}", r.text());
    // The fresh flow was not swept.
    let r = h.callback(&h.consent(&fresh).await).await;
    assert_eq!(r.location_param("connected").as_deref(), Some("mock"));
}

#[tokio::test]
async fn the_retention_of_expired_flows_is_configurable() {
    for (retention_secs, kept) in [(0, false), (2 * 3600, true)] {
        let h = H::with(MockConfig::default(), |b| {
            b.expired_flow_retention(std::time::Duration::from_secs(retention_secs))
        })
        .await;
        h.create_app(KEY1).await;
        let old = h.start_default(KEY1).await;
        eventually(|| h.store.sweeps.load(Ordering::SeqCst) == 1).await;
        let old_cb = h.consent(&old).await;
        // Seventy minutes on: past expiry plus the default hour, within two hours.
        h.clock.advance(time::Duration::minutes(70));
        h.start_default(KEY1).await;
        eventually(|| h.store.sweeps.load(Ordering::SeqCst) == 2).await;
        let r = h.callback(&old_cb).await;
        if kept {
            assert_eq!(r.location_param("oauth_error").as_deref(), Some("state_expired"), "{retention_secs}");
        } else {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "swept at once without retention: {}", r.text());
        }
    }
}

#[tokio::test]
async fn a_failing_background_sweep_does_not_fail_the_start() {
    let h = H::new().await;
    h.create_app(KEY1).await;
    // Only the sweeps fail: every other store call of the start succeeds.
    h.store.fail_sweeps.store(true, Ordering::SeqCst);
    assert_eq!(h.store.sweeps.load(Ordering::SeqCst), 0, "nothing swept before the first start");
    // The first start of this instance sweeps, and its sweep fails; the start answers 200
    // with an authorize URL all the same (`start_default` asserts it).
    let url = h.start_default(KEY1).await;
    eventually(|| h.store.failed_sweeps.load(Ordering::SeqCst) == 2).await;
    assert_eq!(h.store.sweeps.load(Ordering::SeqCst), 1, "the start's own sweep ran (flows, then selections)");
    // And the flow it started completes.
    let r = h.callback(&h.consent(&url).await).await;
    assert_eq!(r.location_param("connected").as_deref(), Some("mock"));
}

// ------------------------------------------------------------------ key rotation

const STATE_OLD: u8 = 0x31;
const STATE_NEW: u8 = 0x32;
const ENC_OLD: u8 = 0x41;
const ENC_NEW: u8 = 0x42;

fn key(id: &str) -> KeyId {
    id.parse().unwrap()
}

/// An instance on `store` with the given state and encryption keys (first signs/seals).
fn instance(
    store: &Arc<dyn Store>,
    mock: &MockProvider,
    clock: &Arc<ManualClock>,
    state: &[(&str, u8)],
    enc: &[(&str, u8)],
) -> Connect {
    let mut b = Connect::builder()
        .public_base_url(BASE)
        .shared_store(store.clone())
        .clock(clock.clone())
        .outbound_loopback_only(true)
        .browser_binding(false)
        .provider_config(mock.provider_config("mock"));
    for (id, byte) in state {
        b = b.state_key(key(id), Secret::new(vec![*byte; 32]));
    }
    for (id, byte) in enc {
        b = b.encryption_key(key(id), Secret::new(vec![*byte; 32]));
    }
    b.build().unwrap()
}

async fn callback(connect: &Connect, path_and_query: &str) -> http::Response<Bytes> {
    connect.handle(http::Request::get(path_and_query).body(Bytes::new()).unwrap()).await
}

fn location_param(r: &http::Response<Bytes>, name: &str) -> Option<String> {
    let location = url::Url::parse(r.headers().get("location")?.to_str().unwrap()).unwrap();
    location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

async fn started_callback(connect: &Connect, mock: &MockProvider, external_id: Option<String>) -> String {
    let mut params = StartParams::new(RETURN);
    params.external_id = external_id.map(|e| e.parse().unwrap());
    let started = connect.start(&tenant("t1"), &"mock".parse().unwrap(), params).await.unwrap();
    let to = mock.consent(&started.authorize_url).await.unwrap();
    format!("{}?{}", to.path(), to.query().unwrap())
}

#[tokio::test]
async fn a_new_state_key_verifies_old_states_until_the_old_key_is_removed() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mock = MockProvider::start().await.unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let old = instance(&store, &mock, &clock, &[("s1", STATE_OLD)], &[("e1", ENC_OLD)]);
    let c = mock.config();
    old.create_app(
        &tenant("t1"),
        NewApp::new("mock".parse().unwrap(), c.client_id.clone(), c.client_secret.clone(), vec![RETURN.to_owned()]),
    )
    .await
    .unwrap();
    let first = started_callback(&old, &mock, Some("u1".into())).await;
    let second = started_callback(&old, &mock, Some("u2".into())).await;

    // Every instance gets the new key first, keeping the old one.
    let rotated = instance(&store, &mock, &clock, &[("s2", STATE_NEW), ("s1", STATE_OLD)], &[("e1", ENC_OLD)]);
    let r = callback(&rotated, &first).await;
    assert_eq!(location_param(&r, "connected").as_deref(), Some("mock"), "a state signed with the old key verifies");
    let fresh = started_callback(&rotated, &mock, Some("u3".into())).await;

    // The old key removed: its states no longer verify, the new key's still do.
    let only_new = instance(&store, &mock, &clock, &[("s2", STATE_NEW)], &[("e1", ENC_OLD)]);
    let r = callback(&only_new, &second).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a state of a removed key is refused");
    assert!(r.headers().get("location").is_none());
    let r = callback(&only_new, &fresh).await;
    assert_eq!(location_param(&r, "connected").as_deref(), Some("mock"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reseal_moves_every_secret_to_the_newest_key_while_the_app_serves() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mock = Arc::new(MockProvider::start().await.unwrap());
    let clock = Arc::new(ManualClock::new(START));
    let old = instance(&store, &mock, &clock, &[("s1", STATE_OLD)], &[("e1", ENC_OLD)]);
    let c = mock.config();
    for t in ["t1", "t2"] {
        let new =
            NewApp::new("mock".parse().unwrap(), c.client_id.clone(), c.client_secret.clone(), vec![RETURN.to_owned()]);
        old.create_app(&tenant(t), new).await.unwrap();
    }
    // 150 accounts sealed with the old key (more than a page).
    for i in 0..150 {
        let cb = started_callback(&old, &mock, Some(format!("old-{i}"))).await;
        assert!(location_param(&callback(&old, &cb).await, "connected").is_some());
    }

    // The new key goes first on every instance; then re-seal while flows keep completing.
    let rotated = instance(&store, &mock, &clock, &[("s1", STATE_OLD)], &[("e2", ENC_NEW), ("e1", ENC_OLD)]);
    let mut serving = JoinSet::new();
    for i in 0..60 {
        let (rotated, mock) = (rotated.clone(), Arc::clone(&mock));
        serving.spawn(async move {
            // Reconnects of old accounts (rewriting their tokens) and new accounts.
            let external_id = if i % 2 == 0 { format!("old-{i}") } else { format!("new-{i}") };
            let cb = started_callback(&rotated, &mock, Some(external_id)).await;
            let r = callback(&rotated, &cb).await;
            assert!(location_param(&r, "connected").is_some(), "a flow failed during the re-seal");
        });
    }
    let report = rotated.reseal_secrets().await.unwrap();
    while let Some(done) = serving.join_next().await {
        done.unwrap();
    }
    assert_eq!(report.failed, 0);
    assert_eq!(report.apps_checked, 2);
    assert_eq!(report.apps_resealed, 2);
    assert!(report.accounts_checked >= 150);

    // Nothing lost, nothing left behind: a box with only the new key opens everything.
    let new_only = SecretBox::new([(key("e2"), Secret::new(vec![ENC_NEW; 32]))]).unwrap();
    let apps = store.maintenance().unwrap().list_all_apps(&PageRequest { limit: 100, after: None }).await.unwrap();
    assert_eq!(apps.items.len(), 2);
    for app in &apps.items {
        let secret = new_only.open_string(app.id.as_str(), "client_secret", &app.client_secret).unwrap();
        assert_eq!(secret.expose_secret(), &c.client_secret);
    }
    let mut accounts = Vec::new();
    let mut page = PageRequest { limit: 100, after: None };
    loop {
        let p = store.maintenance().unwrap().list_all_accounts(&page).await.unwrap();
        accounts.extend(p.items);
        match p.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(accounts.len(), 150 + 30, "every old account, and one per new user");
    for a in &accounts {
        let access = new_only.open_string(a.id.as_str(), "access_token", &a.access_token).unwrap();
        assert!(access.expose_secret().starts_with("mock_at_"));
        let refresh = new_only.open_string(a.id.as_str(), "refresh_token", a.refresh_token.as_ref().unwrap()).unwrap();
        assert!(refresh.expose_secret().starts_with("mock_rt_"));
    }

    // An instance with only the new key serves every account, and a second run finds
    // nothing to do.
    let only_new = instance(&store, &mock, &clock, &[("s1", STATE_OLD)], &[("e2", ENC_NEW)]);
    let token = only_new.access_token(&accounts[0].tenant, &accounts[0].id).await.unwrap();
    assert!(token.expose_secret().starts_with("mock_at_"));
    let again = only_new.reseal_secrets().await.unwrap();
    assert_eq!((again.apps_resealed, again.accounts_resealed, again.failed), (0, 0, 0));
}

#[tokio::test]
async fn reseal_reports_a_secret_it_cannot_open_and_leaves_it_as_it_was() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mock = MockProvider::start().await.unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let old = instance(&store, &mock, &clock, &[("s1", STATE_OLD)], &[("e1", ENC_OLD)]);
    let c = mock.config();
    let app = old
        .create_app(
            &tenant("t1"),
            NewApp::new("mock".parse().unwrap(), c.client_id.clone(), c.client_secret.clone(), vec![RETURN.to_owned()]),
        )
        .await
        .unwrap();
    let before = store.get_app(&tenant("t1"), &app.id).await.unwrap().unwrap();
    // The old key was dropped too early: the secret cannot be opened.
    let wrong = instance(&store, &mock, &clock, &[("s1", STATE_OLD)], &[("e2", ENC_NEW)]);
    let report = wrong.reseal_secrets().await.unwrap();
    assert_eq!((report.apps_checked, report.apps_resealed, report.failed), (1, 0, 1));
    assert_eq!(store.get_app(&tenant("t1"), &app.id).await.unwrap(), Some(before));
}
