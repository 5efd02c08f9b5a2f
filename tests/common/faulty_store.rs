//! A store for tests that counts calls and can be made to fail: a `MemoryStore` inside, with
//! every opt-in store trait forwarded.
//! Shared by the test binaries (`#[path = "../common/faulty_store.rs"] mod faulty_store;`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use dravo_connect::store::*;
use dravo_connect::{AccountId, AppId, ExternalId, FlowId, ProviderId, SelectionId, TenantId};
use time::OffsetDateTime;
use tokio::sync::Notify;

/// A store that counts calls and can be made to fail.
#[derive(Debug, Default)]
pub struct FaultyStore {
    inner: MemoryStore,
    pub fail: AtomicBool,
    pub fail_accounts: AtomicBool,
    pub calls: AtomicU64,
    /// `sweep_flows` calls, counted once finished (failed ones too).
    pub sweeps: AtomicU64,
    /// Fails only `sweep_flows` and `sweep_selections` (the background sweep).
    pub fail_sweeps: AtomicBool,
    /// `sweep_flows` and `sweep_selections` calls that failed.
    pub failed_sweeps: AtomicU64,
    /// `try_lease_account` calls that found the lease held by another holder.
    pub lease_refusals: AtomicU64,
    /// Notified (`notify_waiters`) on each such refusal, after it is counted.
    pub lease_refused: Notify,
    /// Announces no `LeaseStore` (the engine then refreshes under its in-process gate only).
    pub no_lease: AtomicBool,
}

impl FaultyStore {
    fn check(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::backend(std::io::Error::other("db password=hunter2 exploded")));
        }
        Ok(())
    }
    fn check_accounts(&self) -> Result<(), StoreError> {
        self.check()?;
        if self.fail_accounts.load(Ordering::SeqCst) {
            return Err(StoreError::backend(std::io::Error::other("accounts table on fire")));
        }
        Ok(())
    }
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
    /// The failure of a sweep when `fail` or `fail_sweeps` is set (counted in `failed_sweeps`).
    fn check_sweep(&self) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) || self.fail_sweeps.load(Ordering::SeqCst) {
            self.failed_sweeps.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::backend(std::io::Error::other("sweep failed")));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn insert_app(&self, app: &AppRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert_app(app).await
    }

    async fn get_app(&self, t: &TenantId, id: &AppId) -> Result<Option<AppRecord>, StoreError> {
        self.check()?;
        self.inner.get_app(t, id).await
    }

    async fn list_apps(
        &self,
        t: &TenantId,
        p: Option<&ProviderId>,
        page: &PageRequest,
    ) -> Result<Page<AppRecord>, StoreError> {
        self.check()?;
        self.inner.list_apps(t, p, page).await
    }

    async fn update_app(&self, app: &AppRecord) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.update_app(app).await
    }

    async fn delete_app(&self, t: &TenantId, id: &AppId, cascade: bool) -> Result<DeleteApp, StoreError> {
        self.check()?;
        self.inner.delete_app(t, id, cascade).await
    }

    async fn find_account(
        &self,
        t: &TenantId,
        p: &ProviderId,
        pid: &str,
        e: Option<&ExternalId>,
    ) -> Result<Option<AccountRecord>, StoreError> {
        self.check_accounts()?;
        self.inner.find_account(t, p, pid, e).await
    }

    async fn insert_account(&self, a: &AccountRecord) -> Result<InsertAccount, StoreError> {
        self.check_accounts()?;
        self.inner.insert_account(a).await
    }

    async fn update_account(&self, a: &AccountRecord) -> Result<bool, StoreError> {
        self.check_accounts()?;
        self.inner.update_account(a).await
    }

    async fn get_account(&self, t: &TenantId, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
        self.check()?;
        self.inner.get_account(t, id).await
    }

    async fn list_accounts(
        &self,
        t: &TenantId,
        f: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<AccountRecord>, StoreError> {
        self.check()?;
        self.inner.list_accounts(t, f, page).await
    }

    async fn delete_account(&self, t: &TenantId, id: &AccountId) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete_account(t, id).await
    }

    async fn insert_flow(&self, f: PendingFlow, max_pending: u32) -> Result<InsertFlow, StoreError> {
        self.check()?;
        self.inner.insert_flow(f, max_pending).await
    }

    async fn bind_flow(&self, id: &FlowId, digest: &[u8; 32], now: OffsetDateTime) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.bind_flow(id, digest, now).await
    }

    async fn get_flow(&self, id: &FlowId) -> Result<Option<PendingFlow>, StoreError> {
        self.check()?;
        self.inner.get_flow(id).await
    }

    async fn take_flow(&self, id: &FlowId, now: OffsetDateTime) -> Result<TakeFlow, StoreError> {
        self.check()?;
        self.inner.take_flow(id, now).await
    }

    fn selections(&self) -> Option<&dyn SelectionStore> {
        Some(self)
    }

    fn lease(&self) -> Option<&dyn LeaseStore> {
        if self.no_lease.load(Ordering::SeqCst) { None } else { Some(self) }
    }

    fn maintenance(&self) -> Option<&dyn MaintenanceStore> {
        Some(self)
    }

    fn provider_state(&self) -> Option<&dyn ProviderStateStore> {
        Some(self)
    }
}

#[async_trait]
impl SelectionStore for FaultyStore {
    async fn insert_selection(&self, s: &SelectionRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert_selection(s).await
    }

    async fn get_selection(
        &self,
        t: &TenantId,
        id: &SelectionId,
        now: OffsetDateTime,
    ) -> Result<Option<SelectionRecord>, StoreError> {
        self.check()?;
        self.inner.get_selection(t, id, now).await
    }

    async fn take_selection(
        &self,
        t: &TenantId,
        id: &SelectionId,
        now: OffsetDateTime,
    ) -> Result<Option<SelectionRecord>, StoreError> {
        self.check()?;
        self.inner.take_selection(t, id, now).await
    }

    async fn sweep_selections(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        // Not counted in `calls`: it runs in the background sweep, like `sweep_flows`.
        self.check_sweep()?;
        self.inner.sweep_selections(before).await
    }
}

#[async_trait]
impl LeaseStore for FaultyStore {
    async fn try_lease_account(
        &self,
        t: &TenantId,
        id: &AccountId,
        holder: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.check_accounts()?;
        let taken = self.inner.try_lease_account(t, id, holder, until, now).await?;
        if !taken {
            self.lease_refusals.fetch_add(1, Ordering::SeqCst);
            self.lease_refused.notify_waiters();
        }
        Ok(taken)
    }

    async fn release_account_lease(&self, t: &TenantId, id: &AccountId, holder: &str) -> Result<(), StoreError> {
        self.check_accounts()?;
        self.inner.release_account_lease(t, id, holder).await
    }
}

#[async_trait]
impl MaintenanceStore for FaultyStore {
    async fn sweep_flows(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        // Counted apart from `calls`: `start` sweeps in the background, at a moment no test
        // controls. Counted once finished: the inner store may await inside its sweep.
        let result = match self.check_sweep() {
            Ok(()) => self.inner.sweep_flows(before).await,
            Err(e) => Err(e),
        };
        self.sweeps.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn list_all_apps(&self, page: &PageRequest) -> Result<Page<AppRecord>, StoreError> {
        self.check()?;
        self.inner.list_all_apps(page).await
    }

    async fn list_all_accounts(&self, page: &PageRequest) -> Result<Page<AccountRecord>, StoreError> {
        self.check()?;
        self.inner.list_all_accounts(page).await
    }

    async fn swap_app_secret(&self, t: &TenantId, id: &AppId, cur: &Sealed, new: &Sealed) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.swap_app_secret(t, id, cur, new).await
    }

    async fn swap_account_tokens(
        &self,
        t: &TenantId,
        id: &AccountId,
        cur: SealedTokens<'_>,
        new: SealedTokens<'_>,
    ) -> Result<bool, StoreError> {
        self.check_accounts()?;
        self.inner.swap_account_tokens(t, id, cur, new).await
    }
}

#[async_trait]
impl ProviderStateStore for FaultyStore {
    async fn insert_provider_state(&self, e: &ProviderStateRecord) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.insert_provider_state(e).await
    }
    async fn get_provider_state(
        &self,
        t: &TenantId,
        app: &AppId,
        namespace: &ProviderId,
        key: &str,
    ) -> Result<Option<ProviderStateRecord>, StoreError> {
        self.check()?;
        self.inner.get_provider_state(t, app, namespace, key).await
    }
    async fn list_provider_state(&self, t: &TenantId, app: &AppId) -> Result<Vec<ProviderStateRecord>, StoreError> {
        self.check()?;
        self.inner.list_provider_state(t, app).await
    }
    async fn swap_provider_state_secret(&self, e: &ProviderStateRecord, new: &Sealed) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.swap_provider_state_secret(e, new).await
    }
}
