//! Many app instances on one PostgreSQL: each instance is a `Connect` built on its own from a
//! `ConnectConfig` (as separate processes would be), with its own `PostgresStore` pool on one
//! shared schema, the same keys and the same mock provider. The flow stays exactly-once
//! across instances, and so does the token refresh.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use dravo_connect::store::{AccountFilter, PageRequest};
use dravo_connect::test_util::{MockConfig, MockProvider};
use dravo_connect::{AccountId, Connect, ConnectConfig, ManualClock, NewApp, StartParams, TenantId};
use http::StatusCode;
use serde_json::json;
use tokio::task::JoinSet;

use crate::harness::{BASE, RETURN, START, tenant};

#[path = "../common/pg.rs"]
mod pg;

use pg::TestDb;

/// Flows in flight at once in the load tests (each instance's pool has 4 connections).
const IN_FLIGHT: usize = 48;

/// Several instances on one schema.
pub struct Cluster {
    pub instances: Vec<Connect>,
    pub mock: MockProvider,
    pub clock: Arc<ManualClock>,
    schema: String,
    // Dropped last: drops the schema.
    db: TestDb,
}

/// The first encryption key, and the one a rotation adds.
const E1: &str = "ZW5jcnlwdGlvbi1rZXktb25lLWVuY3J5cHRpb24tMzI";
const E2: &str = "ZW5jcnlwdGlvbi1rZXktdHdvLWVuY3J5cHRpb24tMzI";

/// The configuration every instance reads, as a file would give it.
fn config(mock: &MockProvider) -> ConnectConfig {
    config_with_keys(mock, json!([{ "id": "e1", "secret": E1 }]))
}

fn config_with_keys(mock: &MockProvider, encryption_keys: serde_json::Value) -> ConnectConfig {
    let mut config: ConnectConfig = serde_json::from_value(json!({
        "public_base_url": BASE,
        "api_keys": { "test_key_tenant_one_000001": "t1" },
        "state_keys": [{ "id": "s1", "secret": "c3RhdGUta2V5LW9uZS1zdGF0ZS1rZXktb25lLTMyYnl0ZXM" }],
        "encryption_keys": encryption_keys,
        "outbound_loopback_only": true,
        "browser_binding": false,
    }))
    .unwrap();
    config.providers.push(mock.provider_config("mock").into());
    config
}

impl Cluster {
    /// `n` instances, or `None` when there is no PostgreSQL (and `CI` is unset).
    pub async fn new(test: &str, n: usize, mock: MockConfig) -> Option<Self> {
        let db = TestDb::get(test).await?;
        let schema = db.new_schema().await;
        let mock = MockProvider::start_with(mock).await.unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let mut instances = Vec::new();
        for _ in 0..n {
            let store = db.store_in(&schema, 4).await;
            let connect = config(&mock).into_builder().unwrap().store(store).clock(clock.clone()).build().unwrap();
            instances.push(connect);
        }
        Some(Self { instances, mock, clock, schema, db })
    }

    /// One more instance on the same schema, with these encryption keys.
    pub async fn instance_with_keys(&self, encryption_keys: serde_json::Value) -> Connect {
        let store = self.db.store_in(&self.schema, 4).await;
        let config = config_with_keys(&self.mock, encryption_keys);
        config.into_builder().unwrap().store(store).clock(self.clock.clone()).build().unwrap()
    }

    /// A pool on the shared schema, for looking at the raw rows.
    pub async fn raw_pool(&self) -> sqlx::PgPool {
        self.db.store_in(&self.schema, 1).await.pool().clone()
    }

    pub fn t(&self) -> TenantId {
        tenant("t1")
    }

    /// Creates the tenant's app for the mock, on the first instance.
    pub async fn create_app(&self) {
        let c = self.mock.config();
        let new =
            NewApp::new("mock".parse().unwrap(), c.client_id.clone(), c.client_secret.clone(), vec![RETURN.to_owned()]);
        self.instances[0].create_app(&self.t(), new).await.unwrap();
    }
}

/// Starts a flow on `start_on` (host API), consents at the mock, and hands the callback to
/// `finish_on` (its router): the path and query of the callback, and the response.
async fn flow(
    start_on: &Connect,
    finish_on: &Connect,
    mock: &MockProvider,
    external_id: Option<String>,
) -> (String, http::Response<Bytes>) {
    let mut params = StartParams::new(RETURN);
    params.external_id = external_id.map(|e| e.parse().unwrap());
    let started = start_on.start(&tenant("t1"), &"mock".parse().unwrap(), params).await.unwrap();
    let to = mock.consent(&started.authorize_url).await.unwrap();
    let callback = format!("{}?{}", to.path(), to.query().unwrap());
    let response = callback_on(finish_on, &callback).await;
    (callback, response)
}

async fn callback_on(connect: &Connect, path_and_query: &str) -> http::Response<Bytes> {
    connect.handle(http::Request::get(path_and_query).body(Bytes::new()).unwrap()).await
}

fn location_param(response: &http::Response<Bytes>, name: &str) -> Option<String> {
    assert_eq!(response.status(), StatusCode::FOUND, "body: {}", String::from_utf8_lossy(response.body()));
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

async fn all_account_ids(connect: &Connect) -> Vec<AccountId> {
    let mut ids = Vec::new();
    let mut page = PageRequest { limit: 100, after: None };
    loop {
        let p = connect.store().list_accounts(&tenant("t1"), &AccountFilter::default(), &page).await.unwrap();
        ids.extend(p.items.into_iter().map(|a| a.id));
        match p.next {
            Some(next) => page.after = Some(next),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_started_on_one_instance_completes_on_another_and_its_replay_fails_on_every_instance() {
    let Some(c) = Cluster::new("a_flow_started_on_one_instance_completes_on_another", 3, MockConfig::default()).await
    else {
        return;
    };
    c.create_app().await;
    let (callback, response) = flow(&c.instances[0], &c.instances[1], &c.mock, None).await;
    assert_eq!(location_param(&response, "connected").as_deref(), Some("mock"));
    let account_id: AccountId = location_param(&response, "account_id").unwrap().parse().unwrap();
    // Every instance sees the account.
    for connect in &c.instances {
        assert_eq!(connect.account(&c.t(), &account_id).await.unwrap().id, account_id);
    }
    for connect in &c.instances {
        let replay = callback_on(connect, &callback).await;
        assert_eq!(location_param(&replay, "oauth_error").as_deref(), Some("state_reused"));
        assert_eq!(location_param(&replay, "connected"), None);
    }
    assert_eq!(c.mock.counts().token_authorization_code, 1, "a replay never reaches the provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_flows_over_three_instances_make_a_thousand_accounts() {
    let Some(c) = Cluster::new("a_thousand_concurrent_flows", 3, MockConfig::default()).await else { return };
    c.create_app().await;
    let c = Arc::new(c);
    let mut tasks = JoinSet::new();
    let mut connected = HashSet::new();
    for i in 0..1000_usize {
        if tasks.len() >= IN_FLIGHT {
            let id = tasks.join_next().await.unwrap().unwrap();
            assert!(connected.insert(id), "an account id came back twice");
        }
        let c = Arc::clone(&c);
        tasks.spawn(async move {
            let n = c.instances.len();
            let (start_on, finish_on) = (&c.instances[i % n], &c.instances[(i + 1) % n]);
            let (_, response) = flow(start_on, finish_on, &c.mock, Some(format!("user-{i}"))).await;
            assert_eq!(location_param(&response, "oauth_error"), None, "flow {i} failed");
            location_param(&response, "account_id").unwrap()
        });
    }
    while let Some(id) = tasks.join_next().await {
        assert!(connected.insert(id.unwrap()), "an account id came back twice");
    }
    assert_eq!(connected.len(), 1000);
    let stored = all_account_ids(&c.instances[2]).await;
    assert_eq!(stored.len(), 1000, "exactly one account per flow");
    let stored: HashSet<String> = stored.iter().map(ToString::to_string).collect();
    assert_eq!(stored, connected);
    assert_eq!(c.mock.counts().token_authorization_code, 1000);
}

async fn fifty_concurrent_reconnects(test: &str, external_id: Option<&str>) {
    let Some(c) = Cluster::new(test, 3, MockConfig::default()).await else { return };
    c.create_app().await;
    let c = Arc::new(c);
    let mut tasks = JoinSet::new();
    for i in 0..50_usize {
        let c = Arc::clone(&c);
        let external_id = external_id.map(str::to_owned);
        tasks.spawn(async move {
            let n = c.instances.len();
            let (_, response) = flow(&c.instances[i % n], &c.instances[(i + 2) % n], &c.mock, external_id).await;
            assert_eq!(location_param(&response, "oauth_error"), None, "reconnect {i} failed");
            location_param(&response, "account_id").unwrap()
        });
    }
    let mut ids = HashSet::new();
    while let Some(id) = tasks.join_next().await {
        ids.insert(id.unwrap());
    }
    assert_eq!(ids.len(), 1, "every reconnect lands on the one account: {ids:?}");
    let stored = all_account_ids(&c.instances[0]).await;
    assert_eq!(stored.len(), 1);
    let account = c.instances[1].account(&c.t(), &stored[0]).await.unwrap();
    assert_eq!(account.external_id.as_ref().map(|e| e.as_str()), external_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_reconnects_without_an_external_id_make_one_account() {
    fifty_concurrent_reconnects("fifty_concurrent_reconnects_without_an_external_id", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_reconnects_with_an_external_id_make_one_account() {
    fifty_concurrent_reconnects("fifty_concurrent_reconnects_with_an_external_id", Some("user-7")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_access_token_calls_over_the_instances_refresh_once_and_share_the_new_token() {
    let Some(c) = Cluster::new("twenty_concurrent_access_token_calls", 3, MockConfig::default()).await else {
        return;
    };
    c.create_app().await;
    let (_, response) = flow(&c.instances[0], &c.instances[1], &c.mock, None).await;
    let id: AccountId = location_param(&response, "account_id").unwrap().parse().unwrap();
    let old = c.instances[2].access_token(&c.t(), &id).await.unwrap();
    assert_eq!(c.mock.counts().token_refresh, 0, "a fresh token is handed out as it is");

    // The token expires (by the shared clock, as wall time would for every instance).
    c.clock.advance(time::Duration::hours(2));
    c.mock.reset_counts();
    let c = Arc::new(c);
    let mut tasks = JoinSet::new();
    for i in 0..20_usize {
        let c = Arc::clone(&c);
        let id = id.clone();
        tasks.spawn(async move {
            let token = c.instances[i % c.instances.len()].access_token(&c.t(), &id).await.unwrap();
            token.expose_secret().clone()
        });
    }
    let mut tokens = HashSet::new();
    while let Some(token) = tasks.join_next().await {
        tokens.insert(token.unwrap());
    }
    assert_eq!(c.mock.counts().token_refresh, 1, "exactly one refresh request reached the provider");
    assert_eq!(tokens.len(), 1, "every caller got the same token");
    assert!(!tokens.contains(old.expose_secret()), "and it is the new one");
    // The refreshed token is stored: no further refresh.
    let again = c.instances[0].access_token(&c.t(), &id).await.unwrap();
    assert!(tokens.contains(again.expose_secret()));
    assert_eq!(c.mock.counts().token_refresh, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_reseals_every_secret_in_postgres_while_the_instances_serve() {
    let Some(c) = Cluster::new("a_key_rotation_reseals_every_secret_in_postgres", 2, MockConfig::default()).await
    else {
        return;
    };
    c.create_app().await;
    for i in 0..120 {
        let (_, r) = flow(&c.instances[i % 2], &c.instances[(i + 1) % 2], &c.mock, Some(format!("old-{i}"))).await;
        assert!(location_param(&r, "connected").is_some());
    }
    // No plaintext at rest: every row, as text, holds no token or client secret.
    let rows: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(a::TEXT, ''), '') || (SELECT string_agg(p::TEXT, '') FROM dravo_apps p) \
         FROM dravo_accounts a",
    )
    .fetch_one(&c.raw_pool().await)
    .await
    .unwrap();
    for plain in ["mock_at_", "mock_rt_", c.mock.config().client_secret.as_str()] {
        assert!(!rows.contains(plain), "{plain} stored in clear");
    }

    // Both instances rolled to [e2, e1]; re-seal on one while both keep completing flows.
    let rotated = Arc::new([
        c.instance_with_keys(json!([{ "id": "e2", "secret": E2 }, { "id": "e1", "secret": E1 }])).await,
        c.instance_with_keys(json!([{ "id": "e2", "secret": E2 }, { "id": "e1", "secret": E1 }])).await,
    ]);
    let c = Arc::new(c);
    let mut serving = JoinSet::new();
    for i in 0..60_usize {
        let (c, rotated) = (Arc::clone(&c), Arc::clone(&rotated));
        serving.spawn(async move {
            let external_id = if i % 2 == 0 { format!("old-{i}") } else { format!("new-{i}") };
            let (_, r) = flow(&rotated[i % 2], &rotated[(i + 1) % 2], &c.mock, Some(external_id)).await;
            assert!(location_param(&r, "connected").is_some(), "a flow failed during the re-seal");
        });
    }
    let report = rotated[0].reseal_secrets().await.unwrap();
    while let Some(done) = serving.join_next().await {
        done.unwrap();
    }
    assert_eq!(report.failed, 0);
    assert_eq!(report.apps_resealed, 1);

    // An instance with only the new key opens every secret: nothing lost or left behind.
    let only_new = c.instance_with_keys(json!([{ "id": "e2", "secret": E2 }])).await;
    let again = only_new.reseal_secrets().await.unwrap();
    assert_eq!((again.apps_resealed, again.accounts_resealed, again.failed), (0, 0, 0), "nothing left on the old key");
    let ids = all_account_ids(&only_new).await;
    assert_eq!(ids.len(), 120 + 30);
    for id in &ids {
        only_new.access_token(&c.t(), id).await.expect("every token opens with the new key alone");
    }
    let (_, r) = flow(&only_new, &only_new, &c.mock, Some("after".into())).await;
    assert!(location_param(&r, "connected").is_some(), "the app's client secret opens with the new key alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_hop_binds_only_the_first_browser_across_two_instances() {
    let Some(db) = TestDb::get("a_leaked_hop_binds_only_the_first_browser_across_two_instances").await else {
        return;
    };
    let schema = db.new_schema().await;
    let mock = MockProvider::start().await.unwrap();
    let one = crate::security::bound_instance(Arc::new(db.store_in(&schema, 4).await), &mock);
    let two = crate::security::bound_instance(Arc::new(db.store_in(&schema, 4).await), &mock);
    let c = mock.config();
    let new =
        NewApp::new("mock".parse().unwrap(), c.client_id.clone(), c.client_secret.clone(), vec![RETURN.to_owned()]);
    one.create_app(&tenant("t1"), new).await.unwrap();
    crate::security::a_leaked_hop_binds_only_the_first_browser(&one, &two, &mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pending_flow_cap_holds_across_instances_within_the_starts_in_flight() {
    let test = "the_pending_flow_cap_holds_across_instances_within_the_starts_in_flight";
    let Some(db) = TestDb::get(test).await else { return };
    let schema = db.new_schema().await;
    let mock = MockProvider::start().await.unwrap();
    const CAP: usize = 10;
    const WORKERS: usize = 4; // per instance: eight starts in flight at most
    let mut instances = Vec::new();
    for _ in 0..2 {
        let mut c = config(&mock);
        c.max_pending_flows = CAP as u32;
        instances.push(c.into_builder().unwrap().store(db.store_in(&schema, 4).await).build().unwrap());
    }
    let c = mock.config();
    for t in ["t1", "t2"] {
        let new =
            NewApp::new("mock".parse().unwrap(), c.client_id.clone(), c.client_secret.clone(), vec![RETURN.to_owned()]);
        instances[0].create_app(&tenant(t), new).await.unwrap();
    }
    // Every worker starts flows until it is refused.
    let mut tasks = JoinSet::new();
    for instance in &instances {
        for _ in 0..WORKERS {
            let connect = instance.clone();
            tasks.spawn(async move {
                let mut ok = 0;
                // Bounded, so a broken cap fails the assertion below rather than hanging.
                for _ in 0..CAP * 4 {
                    match connect.start(&tenant("t1"), &"mock".parse().unwrap(), StartParams::new(RETURN)).await {
                        Ok(_) => ok += 1,
                        Err(e) if e.code() == dravo_connect::ErrorCode::TooManyPendingFlows => return ok,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                ok
            });
        }
    }
    let mut started = 0;
    while let Some(ok) = tasks.join_next().await {
        started += ok.unwrap();
    }
    let in_flight = 2 * WORKERS;
    assert!(
        (CAP..CAP + in_flight).contains(&started),
        "{started} flows started: the cap is reached, and overshot by fewer than the {in_flight} starts in flight"
    );
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM dravo_flows WHERE tenant = 't1'")
        .fetch_one(db.store_in(&schema, 1).await.pool())
        .await
        .unwrap();
    assert_eq!(pending, started as i64, "a refused start stores nothing");
    // Once over, every instance refuses; the other tenant is untouched.
    for instance in &instances {
        let e = instance.start(&tenant("t1"), &"mock".parse().unwrap(), StartParams::new(RETURN)).await.unwrap_err();
        assert_eq!(e.code(), dravo_connect::ErrorCode::TooManyPendingFlows);
        assert!(instance.start(&tenant("t2"), &"mock".parse().unwrap(), StartParams::new(RETURN)).await.is_ok());
    }
}
