//! [`MemoryStore`]: every row in std maps, in process memory, behind one mutex.
//!
//! It is for tests, demos and single-process hosts that can afford to lose their rows, and it
//! is written to be read: a reference to copy from when writing a store of your own. Each
//! method locks the maps, does its work in one short block that never awaits, and unlocks, so
//! every method is atomic and the compare-and-sets (the flow take, the browser binding, the
//! lease, the swaps) are plain checks and writes under the lock.
//!
//! Limits: the rows live in one process and are lost when it exits (run several instances
//! against the SQL stores instead); lists and the flow sweep walk a whole map under the lock,
//! which is fine for the thousands of rows a test, a demo or a small host holds; a pending
//! flow takes about 700 bytes.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, btree_map};
use std::fmt;
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{
    AccountFilter, AccountRecord, AppRecord, Cursor, DeleteApp, InsertAccount, InsertFlow, LeaseStore,
    MaintenanceStore, Page, PageRequest, PendingFlow, ProviderStateRecord, ProviderStateStore, Sealed, SealedTokens,
    SelectionRecord, SelectionStore, Store, StoreError, TakeFlow,
};
use crate::{AccountId, AppId, ExternalId, FlowId, ProviderId, SelectionId, TenantId};

/// A store that keeps everything in memory: for tests, demos and single-process hosts that
/// can afford to lose their accounts on restart. Its limits: one process, nothing kept across
/// a restart, lists and sweeps that walk a whole map under the lock.
///
/// Every table is a std `HashMap` behind one [`std::sync::Mutex`]; no lock is held across an
/// `.await`. Times are kept in whole seconds (UTC), as the SQL stores keep them, so a record
/// reads back the same from every store. Cloning the store is not supported: share it in an
/// `Arc`.
///
/// ```
/// use dravo_connect_core::store::MemoryStore;
/// let store = MemoryStore::new();
/// # let _ = store;
/// ```
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

/// An account's identity: (tenant, provider, provider account id, external id), where `None`
/// is one value.
type Identity = (TenantId, ProviderId, String, Option<ExternalId>);

/// A tenant's unconsumed flows, counted by expiry second: the flows still pending at a time
/// are the counts after it. One entry a second, however many flows start in it, so the
/// tally stays as small as the state TTL is long (a SQL store's partial index over pending
/// flows does this job there).
#[derive(Debug, Default)]
struct PendingTally {
    /// Unconsumed flows by expiry (Unix seconds).
    by_expiry: BTreeMap<i64, u32>,
    /// The sum of `by_expiry`.
    total: usize,
}

impl PendingTally {
    fn add(&mut self, expires_at: i64) {
        *self.by_expiry.entry(expires_at).or_default() += 1;
        self.total += 1;
    }

    fn remove(&mut self, expires_at: i64) {
        if let btree_map::Entry::Occupied(mut count) = self.by_expiry.entry(expires_at) {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
            self.total -= 1;
        }
    }

    /// Whether `cap` or more flows are still pending after `at` (expire after it): if so,
    /// `Some` of the earliest of their expiries. Reads at most one entry a second of the TTL.
    fn full_after(&self, at: i64, cap: usize) -> Option<Option<i64>> {
        if self.total < cap {
            return None;
        }
        let pending = self.by_expiry.range((Excluded(at), Unbounded));
        let next_expiry = pending.clone().next().map(|(expires_at, _)| *expires_at);
        let mut counted = 0;
        for (_, count) in pending {
            if counted >= cap {
                break;
            }
            counted += *count as usize;
        }
        (counted >= cap).then_some(next_expiry)
    }
}

#[derive(Debug, Default)]
struct Tables {
    apps: HashMap<AppId, AppRecord>,
    accounts: HashMap<AccountId, AccountRecord>,
    /// The unique identity index over `accounts` (a SQL store's unique key).
    identities: HashMap<Identity, AccountId>,
    /// Refresh leases: account → (holder, until).
    leases: HashMap<AccountId, (String, OffsetDateTime)>,
    /// Boxed: growing the table moves a pointer per flow, not the whole record, so a table of
    /// millions of pending flows (an unlimited `max_pending_flows` under load) resizes in a
    /// fraction of the time it holds the lock (the `start` p99 and throughput figures in
    /// BENCHMARKS.md).
    flows: HashMap<FlowId, Box<PendingFlow>>,
    /// Each tenant's unconsumed flows, for `insert_flow`'s cap: a flow is counted from its
    /// insert until it is taken or deleted.
    pending: HashMap<TenantId, PendingTally>,
    selections: HashMap<SelectionId, SelectionRecord>,
    /// Provider state: (tenant, app, namespace, key) → entry.
    provider_state: HashMap<(TenantId, AppId, ProviderId, String), ProviderStateRecord>,
}

impl Tables {
    /// Takes a flow out of its tenant's pending index (it was taken or deleted).
    fn unindex(&mut self, flow: &PendingFlow) {
        if flow.consumed_at.is_some() {
            return;
        }
        if let Some(tally) = self.pending.get_mut(&flow.tenant) {
            tally.remove(flow.expires_at.unix_timestamp());
            if tally.total == 0 {
                self.pending.remove(&flow.tenant);
            }
        }
    }

    /// Deletes a flow and its index entry.
    fn remove_flow(&mut self, id: &FlowId) {
        if let Some(flow) = self.flows.remove(id) {
            self.unindex(&flow);
        }
    }

    /// Deletes an account, its identity and its lease.
    fn remove_account(&mut self, id: &AccountId) {
        if let Some(account) = self.accounts.remove(id) {
            self.identities.remove(&identity_of(&account));
        }
        self.leases.remove(id);
    }
}

/// Prints how many rows it holds, never the rows: a store inside a logged struct must not
/// dump every account into the log.
impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MemoryStore");
        match self.tables.try_lock() {
            Ok(t) => d
                .field("apps", &t.apps.len())
                .field("accounts", &t.accounts.len())
                .field("flows", &t.flows.len())
                .finish(),
            Err(_) => d.finish_non_exhaustive(),
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Locks the tables. No block below panics while holding the lock, so this store never
    /// poisons it; should it be poisoned all the same, the maps hold only completed changes,
    /// and the guard is taken back rather than failing every later call.
    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A time as stored and compared: whole seconds, UTC.
fn seconds(t: OffsetDateTime) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(t.unix_timestamp()).map_err(StoreError::backend)
}

/// Unix seconds back to a time.
fn seconds_to_time(t: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(t).map_err(StoreError::backend)
}

fn identity_of(account: &AccountRecord) -> Identity {
    (account.tenant.clone(), account.provider.clone(), account.provider_account_id.clone(), account.external_id.clone())
}

fn normalize_app(app: &AppRecord) -> Result<AppRecord, StoreError> {
    let mut app = app.clone();
    app.created_at = seconds(app.created_at)?;
    app.updated_at = seconds(app.updated_at)?;
    Ok(app)
}

fn normalize_account(account: &AccountRecord) -> Result<AccountRecord, StoreError> {
    let mut account = account.clone();
    account.connected_at = seconds(account.connected_at)?;
    account.updated_at = seconds(account.updated_at)?;
    account.token_expires_at = account.token_expires_at.map(seconds).transpose()?;
    Ok(account)
}

/// One page of `items` in list order, by (time, id) ascending, starting after `page.after`.
fn paginate<T: Clone>(mut items: Vec<&T>, key: impl Fn(&T) -> (i64, &str), page: &PageRequest) -> Page<T> {
    items.sort_by(|a, b| key(a).cmp(&key(b)));
    if let Some(after) = &page.after {
        items.retain(|item| key(item) > (after.created_at, after.id.as_str()));
    }
    let limit = page.limit.clamp(1, 100) as usize;
    let more = items.len() > limit;
    items.truncate(limit);
    let next = items.last().filter(|_| more).map(|last| {
        let (created_at, id) = key(last);
        Cursor { created_at, id: id.to_owned() }
    });
    Page { items: items.into_iter().cloned().collect(), next }
}

fn app_order(app: &AppRecord) -> (i64, &str) {
    (app.created_at.unix_timestamp(), app.id.as_str())
}

fn account_order(account: &AccountRecord) -> (i64, &str) {
    (account.connected_at.unix_timestamp(), account.id.as_str())
}

#[async_trait]
impl Store for MemoryStore {
    // ------------------------------------------------------------- apps

    async fn insert_app(&self, app: &AppRecord) -> Result<(), StoreError> {
        let app = normalize_app(app)?;
        let mut t = self.lock();
        if t.apps.contains_key(&app.id) {
            return Err(StoreError::Duplicate);
        }
        t.apps.insert(app.id.clone(), app);
        Ok(())
    }

    async fn get_app(&self, tenant: &TenantId, id: &AppId) -> Result<Option<AppRecord>, StoreError> {
        let t = self.lock();
        Ok(t.apps.get(id).filter(|a| a.tenant == *tenant).cloned())
    }

    async fn list_apps(
        &self,
        tenant: &TenantId,
        provider: Option<&ProviderId>,
        page: &PageRequest,
    ) -> Result<Page<AppRecord>, StoreError> {
        let t = self.lock();
        let items =
            t.apps.values().filter(|a| a.tenant == *tenant && provider.is_none_or(|p| a.provider == *p)).collect();
        Ok(paginate(items, app_order, page))
    }

    async fn update_app(&self, app: &AppRecord) -> Result<bool, StoreError> {
        let new = normalize_app(app)?;
        let mut t = self.lock();
        let Some(stored) = t.apps.get_mut(&new.id).filter(|a| a.tenant == new.tenant) else {
            return Ok(false);
        };
        // `id`, `tenant`, `provider` and `created_at` stay.
        stored.name = new.name;
        stored.client_id = new.client_id;
        stored.client_secret = new.client_secret;
        stored.allowed_return_urls = new.allowed_return_urls;
        stored.scopes = new.scopes;
        stored.updated_at = new.updated_at;
        Ok(true)
    }

    async fn delete_app(&self, tenant: &TenantId, id: &AppId, cascade: bool) -> Result<DeleteApp, StoreError> {
        let mut t = self.lock();
        if t.apps.get(id).is_none_or(|a| a.tenant != *tenant) {
            return Ok(DeleteApp::NotFound);
        }
        let accounts: Vec<AccountId> = t
            .accounts
            .values()
            .filter(|a| a.tenant == *tenant && a.app_id.as_ref() == Some(id))
            .map(|a| a.id.clone())
            .collect();
        if !accounts.is_empty() && !cascade {
            return Ok(DeleteApp::InUse);
        }
        for account in &accounts {
            t.remove_account(account);
        }
        let flows: Vec<FlowId> =
            t.flows.values().filter(|f| f.tenant == *tenant && f.app_id == *id).map(|f| f.id).collect();
        for flow in &flows {
            t.remove_flow(flow);
        }
        t.provider_state.retain(|(owner, app, _, _), _| !(owner == tenant && app == id));
        t.apps.remove(id);
        Ok(DeleteApp::Deleted { accounts_deleted: accounts.len() as u64 })
    }

    // ------------------------------------------------------------- accounts

    async fn find_account(
        &self,
        tenant: &TenantId,
        provider: &ProviderId,
        provider_account_id: &str,
        external_id: Option<&ExternalId>,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let key: Identity = (tenant.clone(), provider.clone(), provider_account_id.to_owned(), external_id.cloned());
        let t = self.lock();
        Ok(t.identities.get(&key).and_then(|id| t.accounts.get(id)).cloned())
    }

    async fn insert_account(&self, account: &AccountRecord) -> Result<InsertAccount, StoreError> {
        let account = normalize_account(account)?;
        let identity = identity_of(&account);
        let mut t = self.lock();
        if let Some(existing) = t.identities.get(&identity).and_then(|id| t.accounts.get(id)) {
            return Ok(InsertAccount::Exists(existing.clone()));
        }
        if t.accounts.contains_key(&account.id) {
            return Err(StoreError::Duplicate);
        }
        t.identities.insert(identity, account.id.clone());
        t.accounts.insert(account.id.clone(), account);
        Ok(InsertAccount::Inserted)
    }

    async fn update_account(&self, account: &AccountRecord) -> Result<bool, StoreError> {
        let new = normalize_account(account)?;
        let mut t = self.lock();
        let Some(stored) = t.accounts.get_mut(&new.id).filter(|a| a.tenant == new.tenant) else {
            return Ok(false);
        };
        // The identity (provider, provider account id, external id) and `connected_at` stay.
        stored.app_id = new.app_id;
        stored.username = new.username;
        stored.display_name = new.display_name;
        stored.avatar_url = new.avatar_url;
        stored.scopes = new.scopes;
        stored.status = new.status;
        stored.access_token = new.access_token;
        stored.refresh_token = new.refresh_token;
        stored.token_expires_at = new.token_expires_at;
        stored.updated_at = new.updated_at;
        stored.target_type = new.target_type;
        stored.parent_account_id = new.parent_account_id;
        Ok(true)
    }

    async fn get_account(&self, tenant: &TenantId, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
        let t = self.lock();
        Ok(t.accounts.get(id).filter(|a| a.tenant == *tenant).cloned())
    }

    async fn list_accounts(
        &self,
        tenant: &TenantId,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<AccountRecord>, StoreError> {
        let t = self.lock();
        let items = t
            .accounts
            .values()
            .filter(|a| {
                a.tenant == *tenant
                    && filter.provider.as_ref().is_none_or(|p| a.provider == *p)
                    && filter.external_id.as_ref().is_none_or(|e| a.external_id.as_ref() == Some(e))
            })
            .collect();
        Ok(paginate(items, account_order, page))
    }

    async fn delete_account(&self, tenant: &TenantId, id: &AccountId) -> Result<bool, StoreError> {
        let mut t = self.lock();
        if t.accounts.get(id).is_none_or(|a| a.tenant != *tenant) {
            return Ok(false);
        }
        t.remove_account(id);
        Ok(true)
    }

    // ------------------------------------------------------------- flows

    async fn insert_flow(&self, mut flow: PendingFlow, max_pending: u32) -> Result<InsertFlow, StoreError> {
        flow.created_at = seconds(flow.created_at)?;
        flow.expires_at = seconds(flow.expires_at)?;
        flow.consumed_at = flow.consumed_at.map(seconds).transpose()?;
        let cap = max_pending as usize;
        let mut t = self.lock();
        let Tables { flows, pending, .. } = &mut *t;
        let Entry::Vacant(slot) = flows.entry(flow.id) else {
            return Err(StoreError::Duplicate);
        };
        // The tenant's pending flows are its unconsumed ones that expire after this flow's
        // creation.
        let tally = pending.get_mut(&flow.tenant);
        let full = match tally.as_deref() {
            Some(tally) => tally.full_after(flow.created_at.unix_timestamp(), cap),
            None => (cap == 0).then_some(None),
        };
        if let Some(next_expiry) = full {
            let next_expiry = next_expiry.map(seconds_to_time).transpose()?.unwrap_or(flow.expires_at);
            return Ok(InsertFlow::TooManyPending { next_expiry });
        }
        if flow.consumed_at.is_none() {
            let expires_at = flow.expires_at.unix_timestamp();
            match tally {
                Some(tally) => tally.add(expires_at),
                None => pending.entry(flow.tenant.clone()).or_default().add(expires_at),
            }
        }
        slot.insert(Box::new(flow));
        Ok(InsertFlow::Inserted)
    }

    async fn bind_flow(&self, id: &FlowId, digest: &[u8; 32], now: OffsetDateTime) -> Result<bool, StoreError> {
        let now = seconds(now)?;
        let mut t = self.lock();
        let Some(flow) = t.flows.get_mut(id) else {
            return Ok(false);
        };
        if flow.consumed_at.is_some() || flow.browser_binding.is_some() || now >= flow.expires_at {
            return Ok(false);
        }
        flow.browser_binding = Some(*digest);
        Ok(true)
    }

    async fn get_flow(&self, id: &FlowId) -> Result<Option<PendingFlow>, StoreError> {
        let t = self.lock();
        Ok(t.flows.get(id).map(|f| PendingFlow::clone(f)))
    }

    async fn take_flow(&self, id: &FlowId, now: OffsetDateTime) -> Result<TakeFlow, StoreError> {
        let now = seconds(now)?;
        let mut t = self.lock();
        let Some(flow) = t.flows.get_mut(id) else {
            return Ok(TakeFlow::Missing);
        };
        if flow.consumed_at.is_some() {
            return Ok(TakeFlow::AlreadyConsumed(PendingFlow::clone(flow)));
        }
        let before = PendingFlow::clone(flow);
        flow.consumed_at = Some(now);
        t.unindex(&before);
        Ok(TakeFlow::Taken(before))
    }

    fn selections(&self) -> Option<&dyn SelectionStore> {
        Some(self)
    }

    fn lease(&self) -> Option<&dyn LeaseStore> {
        Some(self)
    }

    fn maintenance(&self) -> Option<&dyn MaintenanceStore> {
        Some(self)
    }

    fn provider_state(&self) -> Option<&dyn ProviderStateStore> {
        Some(self)
    }
}

#[async_trait]
impl SelectionStore for MemoryStore {
    async fn insert_selection(&self, selection: &SelectionRecord) -> Result<(), StoreError> {
        let mut selection = selection.clone();
        selection.created_at = seconds(selection.created_at)?;
        selection.expires_at = seconds(selection.expires_at)?;
        selection.consumed_at = selection.consumed_at.map(seconds).transpose()?;
        let mut t = self.lock();
        if t.selections.contains_key(&selection.id) {
            return Err(StoreError::Duplicate);
        }
        t.selections.insert(selection.id.clone(), selection);
        Ok(())
    }

    async fn get_selection(
        &self,
        tenant: &TenantId,
        id: &SelectionId,
        now: OffsetDateTime,
    ) -> Result<Option<SelectionRecord>, StoreError> {
        let now = seconds(now)?;
        let t = self.lock();
        Ok(t.selections
            .get(id)
            .filter(|s| s.tenant == *tenant && s.consumed_at.is_none() && now < s.expires_at)
            .cloned())
    }

    async fn take_selection(
        &self,
        tenant: &TenantId,
        id: &SelectionId,
        now: OffsetDateTime,
    ) -> Result<Option<SelectionRecord>, StoreError> {
        let now = seconds(now)?;
        let mut t = self.lock();
        let Some(selection) =
            t.selections.get_mut(id).filter(|s| s.tenant == *tenant && s.consumed_at.is_none() && now < s.expires_at)
        else {
            return Ok(None);
        };
        let before = selection.clone();
        selection.consumed_at = Some(now);
        Ok(Some(before))
    }

    async fn sweep_selections(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = seconds(before)?;
        let mut t = self.lock();
        let count = t.selections.len();
        t.selections.retain(|_, s| s.expires_at >= before);
        Ok((count - t.selections.len()) as u64)
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
    async fn try_lease_account(
        &self,
        tenant: &TenantId,
        id: &AccountId,
        holder: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (until, now) = (seconds(until)?, seconds(now)?);
        let mut t = self.lock();
        if t.accounts.get(id).is_none_or(|a| a.tenant != *tenant) {
            return Ok(false);
        }
        let free = t.leases.get(id).is_none_or(|(h, u)| h == holder || *u <= now);
        if free {
            t.leases.insert(id.clone(), (holder.to_owned(), until));
        }
        Ok(free)
    }

    async fn release_account_lease(&self, tenant: &TenantId, id: &AccountId, holder: &str) -> Result<(), StoreError> {
        let mut t = self.lock();
        let ours = t.accounts.get(id).is_some_and(|a| a.tenant == *tenant)
            && t.leases.get(id).is_some_and(|(h, _)| h == holder);
        if ours {
            t.leases.remove(id);
        }
        Ok(())
    }
}

#[async_trait]
impl MaintenanceStore for MemoryStore {
    async fn sweep_flows(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = seconds(before)?;
        let mut t = self.lock();
        let expired: Vec<FlowId> = t.flows.values().filter(|f| f.expires_at < before).map(|f| f.id).collect();
        for id in &expired {
            t.remove_flow(id);
        }
        Ok(expired.len() as u64)
    }

    async fn list_all_apps(&self, page: &PageRequest) -> Result<Page<AppRecord>, StoreError> {
        let t = self.lock();
        Ok(paginate(t.apps.values().collect(), app_order, page))
    }

    async fn list_all_accounts(&self, page: &PageRequest) -> Result<Page<AccountRecord>, StoreError> {
        let t = self.lock();
        Ok(paginate(t.accounts.values().collect(), account_order, page))
    }

    async fn swap_app_secret(
        &self,
        tenant: &TenantId,
        id: &AppId,
        current: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let Some(app) = t.apps.get_mut(id).filter(|a| a.tenant == *tenant && a.client_secret == *current) else {
            return Ok(false);
        };
        app.client_secret = new.clone();
        Ok(true)
    }

    async fn swap_account_tokens(
        &self,
        tenant: &TenantId,
        id: &AccountId,
        current: SealedTokens<'_>,
        new: SealedTokens<'_>,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let Some(account) = t.accounts.get_mut(id).filter(|a| {
            a.tenant == *tenant
                && a.access_token == *current.access_token
                && a.refresh_token.as_ref() == current.refresh_token
        }) else {
            return Ok(false);
        };
        account.access_token = new.access_token.clone();
        account.refresh_token = new.refresh_token.cloned();
        Ok(true)
    }
}

#[async_trait]
impl ProviderStateStore for MemoryStore {
    async fn insert_provider_state(&self, entry: &ProviderStateRecord) -> Result<bool, StoreError> {
        let mut entry = entry.clone();
        entry.created_at = seconds(entry.created_at)?;
        let key = (entry.tenant.clone(), entry.app_id.clone(), entry.namespace.clone(), entry.key.clone());
        let mut t = self.lock();
        if t.provider_state.contains_key(&key) {
            return Ok(false);
        }
        t.provider_state.insert(key, entry);
        Ok(true)
    }

    async fn get_provider_state(
        &self,
        tenant: &TenantId,
        app_id: &AppId,
        namespace: &ProviderId,
        key: &str,
    ) -> Result<Option<ProviderStateRecord>, StoreError> {
        let key = (tenant.clone(), app_id.clone(), namespace.clone(), key.to_owned());
        let t = self.lock();
        Ok(t.provider_state.get(&key).cloned())
    }

    async fn list_provider_state(
        &self,
        tenant: &TenantId,
        app_id: &AppId,
    ) -> Result<Vec<ProviderStateRecord>, StoreError> {
        let t = self.lock();
        let mut list: Vec<ProviderStateRecord> =
            t.provider_state.values().filter(|e| e.tenant == *tenant && e.app_id == *app_id).cloned().collect();
        list.sort_by(|a, b| (a.namespace.as_str(), &a.key).cmp(&(b.namespace.as_str(), &b.key)));
        Ok(list)
    }

    async fn swap_provider_state_secret(&self, entry: &ProviderStateRecord, new: &Sealed) -> Result<bool, StoreError> {
        let key = (entry.tenant.clone(), entry.app_id.clone(), entry.namespace.clone(), entry.key.clone());
        let mut t = self.lock();
        let Some(stored) = t.provider_state.get_mut(&key).filter(|e| e.secret == entry.secret) else {
            return Ok(false);
        };
        stored.secret = new.clone();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(tenant: &str, expires_at: i64) -> PendingFlow {
        PendingFlow {
            id: FlowId::generate(),
            tenant: tenant.parse().unwrap(),
            app_id: "app_1".parse().unwrap(),
            provider: "x".parse().unwrap(),
            return_url: "https://private.example.com/return".to_owned(),
            redirect_uri: "https://api.example.com/cb".to_owned(),
            pkce_verifier: None,
            scopes: Vec::new(),
            external_id: None,
            instance: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::from_unix_timestamp(expires_at).unwrap(),
            consumed_at: None,
            browser_binding: None,
        }
    }

    #[tokio::test]
    async fn debug_shows_counts_and_no_rows() {
        let store = MemoryStore::new();
        store.insert_flow(flow("tenant-a", 0), u32::MAX).await.unwrap();
        let shown = format!("{store:?}");
        assert_eq!(shown, "MemoryStore { apps: 0, accounts: 0, flows: 1 }");
    }

    /// The pending index holds a tenant only while it has unconsumed flows, so tenants that
    /// come and go leave nothing behind once their flows are taken, swept or deleted.
    #[tokio::test]
    async fn the_pending_index_forgets_flows_that_are_gone() {
        let sb =
            crate::secret_box::SecretBox::new([(crate::KeyId::zero(), crate::Secret::new(vec![7u8; 32]))]).unwrap();
        let store = MemoryStore::new();
        let at = |s| OffsetDateTime::from_unix_timestamp(s).unwrap();
        let (taken, swept, deleted) = (flow("tenant-a", 600), flow("tenant-b", 10), flow("tenant-c", 600));
        for f in [&taken, &swept, &deleted] {
            store.insert_flow(f.clone(), 1).await.unwrap();
        }
        assert_eq!(store.lock().pending.len(), 3);
        assert!(matches!(store.take_flow(&taken.id, at(1)).await.unwrap(), TakeFlow::Taken(_)));
        assert_eq!(store.sweep_flows(at(20)).await.unwrap(), 1);
        let app = AppRecord {
            id: deleted.app_id.clone(),
            tenant: deleted.tenant.clone(),
            provider: deleted.provider.clone(),
            name: None,
            client_id: "client".to_owned(),
            client_secret: sb.seal("app_1", "client_secret", b"secret"),
            allowed_return_urls: Vec::new(),
            scopes: Vec::new(),
            created_at: at(0),
            updated_at: at(0),
        };
        store.insert_app(&app).await.unwrap();
        store.delete_app(&app.tenant, &app.id, false).await.unwrap();
        assert!(store.lock().pending.is_empty(), "{:?}", store.lock().pending);
        // A refused insert does not leave an empty entry either.
        store.insert_flow(flow("tenant-d", 600), 0).await.unwrap();
        assert!(store.lock().pending.is_empty());
    }
}
