//! [`CountingStore`]: a store that wraps another and counts the calls of the core contract.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use dravo_connect_core::store::{
    AccountFilter, AccountRecord, AppRecord, DeleteApp, InsertAccount, InsertFlow, LeaseStore, MaintenanceStore, Page,
    PageRequest, PendingFlow, ProviderStateStore, SelectionStore, Store, StoreError, TakeFlow,
};
use dravo_connect_core::{AccountId, AppId, ExternalId, FlowId, ProviderId, TenantId};
use time::OffsetDateTime;

/// Wraps a store `S` and counts every call of the core [`Store`] methods; the opt-in traits
/// (selections, the lease, maintenance, provider state) are the wrapped store's own.
#[derive(Debug)]
pub struct CountingStore<S> {
    inner: S,
    calls: AtomicU64,
}

impl<S: Store> CountingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner, calls: AtomicU64::new(0) }
    }

    /// How many core `Store` calls went through so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self) -> &S {
        self.calls.fetch_add(1, Ordering::Relaxed);
        &self.inner
    }
}

#[async_trait]
impl<S: Store> Store for CountingStore<S> {
    async fn insert_app(&self, app: &AppRecord) -> Result<(), StoreError> {
        self.count().insert_app(app).await
    }

    async fn get_app(&self, tenant: &TenantId, id: &AppId) -> Result<Option<AppRecord>, StoreError> {
        self.count().get_app(tenant, id).await
    }

    async fn list_apps(
        &self,
        tenant: &TenantId,
        provider: Option<&ProviderId>,
        page: &PageRequest,
    ) -> Result<Page<AppRecord>, StoreError> {
        self.count().list_apps(tenant, provider, page).await
    }

    async fn update_app(&self, app: &AppRecord) -> Result<bool, StoreError> {
        self.count().update_app(app).await
    }

    async fn delete_app(&self, tenant: &TenantId, id: &AppId, cascade: bool) -> Result<DeleteApp, StoreError> {
        self.count().delete_app(tenant, id, cascade).await
    }

    async fn find_account(
        &self,
        tenant: &TenantId,
        provider: &ProviderId,
        provider_account_id: &str,
        external_id: Option<&ExternalId>,
    ) -> Result<Option<AccountRecord>, StoreError> {
        self.count().find_account(tenant, provider, provider_account_id, external_id).await
    }

    async fn insert_account(&self, account: &AccountRecord) -> Result<InsertAccount, StoreError> {
        self.count().insert_account(account).await
    }

    async fn update_account(&self, account: &AccountRecord) -> Result<bool, StoreError> {
        self.count().update_account(account).await
    }

    async fn get_account(&self, tenant: &TenantId, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
        self.count().get_account(tenant, id).await
    }

    async fn list_accounts(
        &self,
        tenant: &TenantId,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<AccountRecord>, StoreError> {
        self.count().list_accounts(tenant, filter, page).await
    }

    async fn delete_account(&self, tenant: &TenantId, id: &AccountId) -> Result<bool, StoreError> {
        self.count().delete_account(tenant, id).await
    }

    async fn insert_flow(&self, flow: PendingFlow, max_pending: u32) -> Result<InsertFlow, StoreError> {
        self.count().insert_flow(flow, max_pending).await
    }

    async fn bind_flow(&self, id: &FlowId, digest: &[u8; 32], now: OffsetDateTime) -> Result<bool, StoreError> {
        self.count().bind_flow(id, digest, now).await
    }

    async fn get_flow(&self, id: &FlowId) -> Result<Option<PendingFlow>, StoreError> {
        self.count().get_flow(id).await
    }

    async fn take_flow(&self, id: &FlowId, now: OffsetDateTime) -> Result<TakeFlow, StoreError> {
        self.count().take_flow(id, now).await
    }

    fn selections(&self) -> Option<&dyn SelectionStore> {
        self.inner.selections()
    }

    fn lease(&self) -> Option<&dyn LeaseStore> {
        self.inner.lease()
    }

    fn maintenance(&self) -> Option<&dyn MaintenanceStore> {
        self.inner.maintenance()
    }

    fn provider_state(&self) -> Option<&dyn ProviderStateStore> {
        self.inner.provider_state()
    }
}
