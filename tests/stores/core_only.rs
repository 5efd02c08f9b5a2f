//! A store that implements `Store` alone (no opt-in trait), written with the public API
//! only: it passes the core conformance cases, and the builder leaves out or refuses the
//! providers that need what it lacks.

use async_trait::async_trait;
use dravo_connect::ConfigError;
use dravo_connect::provider::BuiltinOverrides;
use dravo_connect::store::{
    AccountFilter, AccountRecord, AppRecord, DeleteApp, InsertAccount, InsertFlow, MemoryStore, Page, PageRequest,
    PendingFlow, Store, StoreError, TakeFlow,
};
use dravo_connect::test_util::store_conformance;
use dravo_connect::{AccountId, AppId, Connect, ExternalId, FlowId, KeyId, ProviderId, Secret, TenantId};
use time::OffsetDateTime;

/// The memory store behind the fifteen required methods, and nothing else.
#[derive(Debug, Default)]
struct CoreOnly(MemoryStore);

#[async_trait]
impl Store for CoreOnly {
    async fn insert_app(&self, app: &AppRecord) -> Result<(), StoreError> {
        self.0.insert_app(app).await
    }
    async fn get_app(&self, t: &TenantId, id: &AppId) -> Result<Option<AppRecord>, StoreError> {
        self.0.get_app(t, id).await
    }
    async fn list_apps(
        &self,
        t: &TenantId,
        p: Option<&ProviderId>,
        page: &PageRequest,
    ) -> Result<Page<AppRecord>, StoreError> {
        self.0.list_apps(t, p, page).await
    }
    async fn update_app(&self, app: &AppRecord) -> Result<bool, StoreError> {
        self.0.update_app(app).await
    }
    async fn delete_app(&self, t: &TenantId, id: &AppId, cascade: bool) -> Result<DeleteApp, StoreError> {
        self.0.delete_app(t, id, cascade).await
    }
    async fn find_account(
        &self,
        t: &TenantId,
        p: &ProviderId,
        pid: &str,
        e: Option<&ExternalId>,
    ) -> Result<Option<AccountRecord>, StoreError> {
        self.0.find_account(t, p, pid, e).await
    }
    async fn insert_account(&self, a: &AccountRecord) -> Result<InsertAccount, StoreError> {
        self.0.insert_account(a).await
    }
    async fn update_account(&self, a: &AccountRecord) -> Result<bool, StoreError> {
        self.0.update_account(a).await
    }
    async fn get_account(&self, t: &TenantId, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
        self.0.get_account(t, id).await
    }
    async fn list_accounts(
        &self,
        t: &TenantId,
        f: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<AccountRecord>, StoreError> {
        self.0.list_accounts(t, f, page).await
    }
    async fn delete_account(&self, t: &TenantId, id: &AccountId) -> Result<bool, StoreError> {
        self.0.delete_account(t, id).await
    }
    async fn insert_flow(&self, f: PendingFlow, max_pending: u32) -> Result<InsertFlow, StoreError> {
        self.0.insert_flow(f, max_pending).await
    }
    async fn bind_flow(&self, id: &FlowId, digest: &[u8; 32], now: OffsetDateTime) -> Result<bool, StoreError> {
        self.0.bind_flow(id, digest, now).await
    }
    async fn get_flow(&self, id: &FlowId) -> Result<Option<PendingFlow>, StoreError> {
        self.0.get_flow(id).await
    }
    async fn take_flow(&self, id: &FlowId, now: OffsetDateTime) -> Result<TakeFlow, StoreError> {
        self.0.take_flow(id, now).await
    }
}

fn builder() -> dravo_connect::ConnectBuilder {
    Connect::builder()
        .public_base_url("https://connect.example.com")
        .api_key("k".repeat(32), "t1".parse().unwrap())
        .state_key(KeyId::zero(), Secret::new(vec![1u8; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![2u8; 32]))
        .store(CoreOnly::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_only_the_core_trait_passes_the_core_cases() {
    store_conformance(|| async { CoreOnly::default() }).await;
}

#[test]
fn built_ins_that_need_a_missing_trait_are_left_out() {
    let connect = builder().build().unwrap();
    let ids: Vec<String> = connect.providers().iter().map(|p| p.id().to_string()).collect();
    assert!(ids.contains(&"x".to_owned()), "a provider that needs nothing more stays: {ids:?}");
    assert!(!ids.contains(&"facebook".to_owned()), "facebook lists targets: {ids:?}");
    assert!(!ids.contains(&"mastodon".to_owned()), "mastodon keeps provider state: {ids:?}");
}

#[test]
fn a_named_provider_that_needs_a_missing_trait_fails_the_build() {
    let err = builder().provider_config(BuiltinOverrides::new("facebook")).build().unwrap_err();
    assert!(matches!(err, ConfigError::StoreTrait { store_trait: "SelectionStore", .. }), "{err}");
    assert!(err.to_string().contains("SelectionStore"), "{err}");
    let mastodon = std::sync::Arc::new(dravo_connect::provider::mastodon::provider());
    let err = builder().provider(mastodon).build().unwrap_err();
    assert!(matches!(err, ConfigError::StoreTrait { store_trait: "ProviderStateStore", .. }), "{err}");
}
