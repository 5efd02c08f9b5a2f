//! The seams are public: a store and a provider written in this crate, outside the project's
//! crates and with only their public API, pass the public conformance suites and complete a
//! connect flow through `dravo-connect` against its in-process mock provider.

// Test code: a failed step panics.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use dravo_connect::store::{AccountFilter, MemoryStore, PageRequest};
use dravo_connect::test_util::{MockConfig, MockProvider, MockUser};
use dravo_connect::{Connect, KeyId, ManualClock, NewApp, ProviderId, Secret, StartParams, TenantId};
use dravo_connect_testing::{ProviderAnswers, provider_conformance, store_conformance};
use dravo_connect_third_party::{ChirpEndpoints, ChirpProvider, CountingStore};

const BASE: &str = "https://connect.example.com";
const RETURN: &str = "https://app.example.com/connected";

#[tokio::test]
async fn the_counting_store_passes_the_store_conformance_suite() {
    store_conformance(|| async { CountingStore::new(MemoryStore::new()) }).await;
}

#[tokio::test]
async fn chirp_passes_the_provider_conformance_suite() {
    let endpoints = endpoints("https://chirp.example");
    let answers = ProviderAnswers::new(r#"{"sub":"chirper-7","preferred_username":"ada","name":"Ada"}"#, "chirper-7");
    provider_conformance(&ChirpProvider::new(endpoints), &answers).await;
}

#[tokio::test]
async fn a_full_flow_runs_on_the_counting_store_and_chirp() {
    let mock = MockProvider::start_with(MockConfig::default()).await.unwrap();
    mock.set_user(MockUser::new("chirper-7", "ada", "Ada Lovelace"));
    let store = Arc::new(CountingStore::new(MemoryStore::new()));
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()));
    let tenant: TenantId = "tenant-1".parse().unwrap();
    let chirp: ProviderId = "chirp".parse().unwrap();
    let connect = Connect::builder()
        .public_base_url(BASE)
        .api_key("third_party_key_0123456789", tenant.clone())
        .state_key(KeyId::zero(), Secret::new(vec![0x11; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![0x22; 32]))
        .shared_store(store.clone())
        .clock(clock.clone())
        .outbound_loopback_only(true)
        .browser_binding(false)
        .providers([
            Arc::new(ChirpProvider::new(endpoints(&mock.base_url()))) as Arc<dyn dravo_connect::provider::Provider>
        ])
        .build()
        .unwrap();
    let (client_id, client_secret) = (mock.config().client_id.clone(), mock.config().client_secret.clone());
    connect
        .create_app(&tenant, NewApp::new(chirp.clone(), client_id, Secret::new(client_secret), vec![RETURN.to_owned()]))
        .await
        .unwrap();

    let started = connect.start(&tenant, &chirp, StartParams::new(RETURN)).await.unwrap();
    let callback = mock.consent(&started.authorize_url).await.unwrap();
    assert!(callback.as_str().starts_with(&format!("{BASE}/v1/oauth/chirp/callback?")), "{callback}");
    let request =
        http::Request::get(format!("{}?{}", callback.path(), callback.query().unwrap())).body(Bytes::new()).unwrap();
    let response = connect.handle(request).await;
    assert_eq!(response.status(), http::StatusCode::FOUND);
    let location = response.headers()[http::header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(&format!("{RETURN}?connected=chirp&account_id=")), "{location}");

    let accounts = connect.accounts(&tenant, AccountFilter::default(), PageRequest::default()).await.unwrap();
    assert_eq!(accounts.data.len(), 1);
    assert_eq!(accounts.data[0].provider_account_id, "chirper-7");
    assert_eq!(accounts.data[0].username.as_deref(), Some("ada"));
    assert!(store.calls() >= 5, "the flow went through the wrapping store: {} calls", store.calls());

    // Two hours on, the token refreshes through Chirp's refresh grant; disconnecting
    // revokes at Chirp.
    clock.advance(time::Duration::hours(2));
    let id = accounts.data[0].id.clone();
    connect.access_token(&tenant, &id).await.unwrap();
    assert_eq!(mock.counts().token_refresh, 1, "one refresh grant");
    connect.disconnect(&tenant, &id).await.unwrap();
    assert!(!mock.revocations().is_empty(), "revoked at the provider");
}

fn endpoints(base: &str) -> ChirpEndpoints {
    let url = |path: &str| format!("{base}{path}").parse().unwrap();
    ChirpEndpoints {
        authorize: url("/oauth/authorize"),
        token: url("/oauth/token"),
        userinfo: url("/userinfo"),
        revoke: url("/oauth/revoke"),
    }
}
