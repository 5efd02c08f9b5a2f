//! [`MemoryStore`]: every row in process memory, behind one mutex (pending flows behind one
//! of several, by flow id).

// foldhash (seeded per process) rather than SipHash: a development and test store whose maps
// are keyed by random ids.
use foldhash::HashMap;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{
    AccountFilter, AccountRecord, AppRecord, Cursor, DeleteApp, InsertAccount, InsertFlow, LeaseStore,
    MaintenanceStore, Page, PageRequest, PendingFlow, ProviderStateRecord, ProviderStateStore, Sealed, SealedTokens,
    SelectionRecord, SelectionStore, Store, StoreError, TakeFlow,
};
use crate::ids::{AccountId, AppId, ExternalId, FlowId, ProviderId, SelectionId, TenantId};

/// A store that keeps everything in memory: for tests, demos and single-process hosts that
/// can afford to lose their accounts on restart.
///
/// Apps and accounts sit behind one [`std::sync::Mutex`], pending flows behind one of
/// 256 mutexes chosen by the (random) flow id; no lock is held across an
/// `.await`, so every method is atomic (the flow take is a compare-and-set under its
/// shard's lock). Sharding keeps a busy host's `start`s from queueing on one lock, and the
/// growth of the flow table from stalling every request at once: each shard's table grows
/// (and is rehashed) on its own. Times are
/// kept in whole seconds (UTC), as the SQL stores keep them, so a record reads back the same
/// from every store. Cloning the store is not supported: share it in an `Arc`.
///
/// ```
/// use dravo_connect_core::store::MemoryStore;
/// let store = MemoryStore::new();
/// # let _ = store;
/// ```
pub struct MemoryStore {
    inner: Mutex<Inner>,
    flows: Box<[Mutex<FlowShard>]>,
    /// Each tenant's pending flows, counted by expiry (for `insert_flow`'s cap). Lock order:
    /// this, then a shard; never this while a shard is held.
    pending: Mutex<HashMap<TenantId, PendingTally>>,
}

/// A tenant's pending (unconsumed, unexpired) flows, counted by the second they expire.
#[derive(Debug, Default)]
struct PendingTally {
    total: u64,
    by_expiry: BTreeMap<i64, u64>,
}

impl PendingTally {
    /// Forgets the flows that expired at or before `now`: they are no longer pending.
    fn expire(&mut self, now: i64) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if *entry.key() > now {
                break;
            }
            self.total = self.total.saturating_sub(entry.remove());
        }
    }

    fn add(&mut self, expires_at: i64) {
        self.total += 1;
        *self.by_expiry.entry(expires_at).or_default() += 1;
    }

    /// One flow that expires at `expires_at` is no longer pending (taken or deleted); a flow
    /// already forgotten as expired changes nothing.
    fn remove(&mut self, expires_at: i64) {
        if let std::collections::btree_map::Entry::Occupied(mut entry) = self.by_expiry.entry(expires_at) {
            *entry.get_mut() -= 1;
            if *entry.get() == 0 {
                entry.remove();
            }
            self.total = self.total.saturating_sub(1);
        }
    }
}

/// How many locks the pending flows are spread over.
const FLOW_SHARDS: usize = 256;

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            flows: (0..FLOW_SHARDS).map(|_| Mutex::default()).collect(),
            pending: Mutex::default(),
        }
    }
}

/// One shard of the pending flows.
#[derive(Debug, Default)]
struct FlowShard {
    /// Found by [`flow_hash`] of the id.
    flows: hashbrown::HashTable<FlowEntry>,
    /// Interned flow parts shared by this shard's flows of one app (see [`FlowShared`]).
    parts: hashbrown::HashSet<Arc<FlowShared>, foldhash::fast::RandomState>,
    /// The browser-binding digests of this shard's bound flows (most flows are never bound,
    /// so the digest lives beside the table rather than in every entry).
    bindings: HashMap<FlowId, [u8; 32]>,
}

/// Prints how many rows it holds, never the rows: a store inside a logged struct must not
/// dump every account into the log.
impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MemoryStore");
        let flows: Option<usize> = self.flows.iter().map(|s| s.try_lock().ok().map(|s| s.flows.len())).sum();
        match (self.inner.try_lock(), flows) {
            (Ok(inner), Some(flows)) => d
                .field("apps", &inner.apps.len())
                .field("accounts", &inner.accounts.len())
                .field("flows", &flows)
                .finish(),
            _ => d.finish_non_exhaustive(),
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Locks the rows. No critical section below can panic, so this store's own code never
    /// poisons the lock; should it be poisoned all the same, the maps hold only completed
    /// changes, and the guard is taken back rather than failing every later call.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the shard that holds `id` (as [`lock`](Self::lock) does, never failing).
    fn flow_shard(&self, id: &FlowId) -> MutexGuard<'_, FlowShard> {
        let first = id.as_bytes().first().copied().map_or(0, usize::from);
        let shard = self.flows.get(first % FLOW_SHARDS).or_else(|| self.flows.first());
        // `flows` always holds FLOW_SHARDS shards; the fallback is the first one.
        #[allow(clippy::expect_used)]
        let shard = shard.expect("the memory store has flow shards");
        shard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every shard in turn.
    fn each_flow_shard(&self) -> impl Iterator<Item = MutexGuard<'_, FlowShard>> {
        self.flows.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Locks the pending-flow tallies (as [`lock`](Self::lock) does, never failing).
    fn pending(&self) -> MutexGuard<'_, HashMap<TenantId, PendingTally>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes flows that are no longer pending off their tenants' tallies.
    fn untally(&self, gone: &[(TenantId, i64)]) {
        if gone.is_empty() {
            return;
        }
        let mut pending = self.pending();
        for (tenant, expires_at) in gone {
            if let Some(tally) = pending.get_mut(tenant) {
                tally.remove(*expires_at);
            }
        }
    }
}

/// An account's identity: (tenant, provider, provider account id, external id), where
/// `None` is one value.
type Identity = (TenantId, ProviderId, String, Option<ExternalId>);

#[derive(Debug, Default)]
struct Inner {
    /// Shared, so that `start` reads an app without copying it ([`Store::provider_app`]).
    apps: HashMap<AppId, Arc<AppRecord>>,
    accounts: HashMap<AccountId, AccountRecord>,
    /// The unique identity index over `accounts`.
    identities: HashMap<Identity, AccountId>,
    /// Refresh leases: account → (holder, until in unix seconds).
    leases: HashMap<AccountId, (String, i64)>,
    /// Target selections.
    selections: HashMap<SelectionId, SelectionRecord>,
    /// Provider state: (tenant, app, namespace, key) → entry.
    provider_state: HashMap<(TenantId, AppId, ProviderId, String), ProviderStateRecord>,
}

/// A pending flow in its shard's table: the id beside the stored flow, exactly one 64-byte
/// cache line and aligned to one. Under load a table of a million pending flows is all cache
/// misses, and storing a flow writes its slot: an 88-byte entry at the 16-byte offset of a
/// large allocation spanned two or three lines, this spans one (and the table is a quarter
/// smaller).
#[derive(Debug)]
#[repr(align(64))]
struct FlowEntry {
    id: FlowId,
    flow: StoredFlow,
}

const _: () = assert!(std::mem::size_of::<FlowEntry>() == 64);

/// The stored form of a [`PendingFlow`], kept small because a busy host holds many: 40 bytes
/// inline in the table (beside the id), plus one heap allocation for what differs from flow to
/// flow (see [`StoredFlow::own`]). What the flows of one app have in common is interned.
#[derive(Debug)]
struct StoredFlow {
    shared: Arc<FlowShared>,
    /// A header of [`OWN_HEADER`] bytes (the lengths of the return URL, the sealed verifier
    /// and the external id, each a little-endian u32 or [`ABSENT`], then `created_at` as a
    /// little-endian i64), then those three parts one after the other: one allocation per
    /// flow, and inline only what the sweep and the consumed check read.
    own: Box<[u8]>,
    expires_at: i64,
    /// Unix seconds, or [`NOT_CONSUMED`].
    consumed_at: i64,
}

/// The length of [`StoredFlow::own`]'s header: three u32 lengths and an i64.
const OWN_HEADER: usize = 3 * size_of::<u32>() + size_of::<i64>();

/// Marks an optional part of [`StoredFlow::own`] as absent.
const ABSENT: u32 = u32::MAX;

/// Marks a pending flow; no representable time is this far back.
const NOT_CONSUMED: i64 = i64::MIN;

/// The parts of a flow that its app's other flows usually share. Hashed and compared as its
/// [`FlowSharedKey`], so that a flow's parts are found without copying them.
#[derive(Debug)]
struct FlowShared {
    tenant: TenantId,
    app_id: AppId,
    provider: ProviderId,
    redirect_uri: Box<str>,
    scopes: Box<[String]>,
    instance: Option<Box<str>>,
}

/// [`FlowShared`] borrowed: from a stored one, or from a flow being inserted.
#[derive(PartialEq, Eq)]
struct FlowSharedKey<'a> {
    tenant: &'a TenantId,
    app_id: &'a AppId,
    provider: &'a ProviderId,
    redirect_uri: &'a str,
    scopes: &'a [String],
    instance: Option<&'a str>,
}

impl<'a> FlowSharedKey<'a> {
    fn of(flow: &'a PendingFlow) -> Self {
        Self {
            tenant: &flow.tenant,
            app_id: &flow.app_id,
            provider: &flow.provider,
            redirect_uri: &flow.redirect_uri,
            scopes: &flow.scopes,
            instance: flow.instance.as_deref(),
        }
    }
}

impl FlowShared {
    fn key(&self) -> FlowSharedKey<'_> {
        FlowSharedKey {
            tenant: &self.tenant,
            app_id: &self.app_id,
            provider: &self.provider,
            redirect_uri: &self.redirect_uri,
            scopes: &self.scopes,
            instance: self.instance.as_deref(),
        }
    }
}

/// Hashes the app and the instance only: equal keys hash alike all the same, and the parts of
/// one app's flows rarely differ (a scope subset, an instance), while the redirect URI and the
/// scopes are most of the bytes to hash on every insert.
impl Hash for FlowSharedKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.app_id.hash(state);
        self.instance.hash(state);
    }
}

impl PartialEq for FlowShared {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for FlowShared {}

impl Hash for FlowShared {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl hashbrown::Equivalent<Arc<FlowShared>> for FlowSharedKey<'_> {
    fn equivalent(&self, stored: &Arc<FlowShared>) -> bool {
        *self == stored.key()
    }
}

/// A time as stored: whole seconds, UTC.
fn whole_seconds(t: OffsetDateTime) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(t.unix_timestamp()).map_err(StoreError::backend)
}

fn from_seconds(secs: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| StoreError::Corrupt("flow time out of range".to_owned()))
}

fn normalize_app(app: &AppRecord) -> Result<AppRecord, StoreError> {
    let mut app = app.clone();
    app.created_at = whole_seconds(app.created_at)?;
    app.updated_at = whole_seconds(app.updated_at)?;
    Ok(app)
}

fn normalize_account(account: &AccountRecord) -> Result<AccountRecord, StoreError> {
    let mut account = account.clone();
    account.connected_at = whole_seconds(account.connected_at)?;
    account.updated_at = whole_seconds(account.updated_at)?;
    account.token_expires_at = account.token_expires_at.map(whole_seconds).transpose()?;
    Ok(account)
}

fn identity_of(account: &AccountRecord) -> Identity {
    (account.tenant.clone(), account.provider.clone(), account.provider_account_id.clone(), account.external_id.clone())
}

/// One page of `items` in list order: by (`key` seconds, id), after `page.after`.
fn paginate<T: Clone>(mut items: Vec<&T>, key: impl Fn(&T) -> (i64, &str), page: &PageRequest) -> Page<T> {
    items.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
    let limit = page.limit.clamp(1, 100) as usize;
    let mut selected: Vec<T> = Vec::with_capacity(limit.min(items.len()));
    let mut more = false;
    for item in items {
        if let Some(after) = &page.after
            && key(item) <= (after.created_at, after.id.as_str())
        {
            continue;
        }
        if selected.len() == limit {
            more = true;
            break;
        }
        selected.push(item.clone());
    }
    let next = if more {
        selected.last().map(|last| {
            let (created_at, id) = key(last);
            Cursor { created_at, id: id.to_owned() }
        })
    } else {
        None
    };
    Page { items: selected, next }
}

/// A [`FlowId`]'s hash: its last eight bytes as they are. They are random (the id is 160 bits
/// from the CSPRNG), so they are as good a hash as any and cost nothing to compute. A keyed
/// hasher would only guard against chosen keys, and flow ids are never chosen by a client:
/// `start` draws them, and the callback looks one up only after the state's HMAC has checked
/// it.
fn flow_hash(id: &FlowId) -> u64 {
    id.as_bytes().last_chunk::<8>().map_or(0, |last| u64::from_le_bytes(*last))
}

impl FlowShard {
    /// Drops interned parts no flow uses any more, and the bindings of flows that are gone.
    fn prune_flow_parts(&mut self) {
        self.parts.retain(|p| Arc::strong_count(p) > 1);
        let Self { flows, bindings, .. } = self;
        bindings.retain(|id, _| flows.find(flow_hash(id), |e| e.id == *id).is_some());
    }
}

/// The interned parts of `flow`, shared with the shard's earlier flows of the same app.
fn intern(
    parts: &mut hashbrown::HashSet<Arc<FlowShared>, foldhash::fast::RandomState>,
    flow: &PendingFlow,
) -> Arc<FlowShared> {
    // Looked up borrowed: copied only the first time.
    if let Some(existing) = parts.get(&FlowSharedKey::of(flow)) {
        return Arc::clone(existing);
    }
    let shared = Arc::new(FlowShared {
        tenant: flow.tenant.clone(),
        app_id: flow.app_id.clone(),
        provider: flow.provider.clone(),
        redirect_uri: flow.redirect_uri.as_str().into(),
        scopes: flow.scopes.clone().into_boxed_slice(),
        instance: flow.instance.as_deref().map(Into::into),
    });
    parts.insert(Arc::clone(&shared));
    shared
}

/// A stored flow's own parts, borrowed from [`StoredFlow::own`].
struct OwnParts<'a> {
    return_url: &'a str,
    verifier: Option<&'a [u8]>,
    external_id: Option<&'a str>,
    created_at: i64,
}

fn utf8(bytes: &[u8]) -> Result<&str, StoreError> {
    std::str::from_utf8(bytes).map_err(|_| StoreError::Corrupt("flow text is not UTF-8".to_owned()))
}

impl StoredFlow {
    /// The stored form of `flow`, sharing `shared`; `None` when a part is 4 GiB or longer.
    fn new(flow: &PendingFlow, shared: Arc<FlowShared>) -> Option<Self> {
        let return_url = flow.return_url.as_bytes();
        let verifier = flow.pkce_verifier.as_ref().map(Sealed::as_bytes);
        let external_id = flow.external_id.as_ref().map(|e| e.as_str().as_bytes());
        let len =
            |part: Option<&[u8]>| part.map_or(Some(ABSENT), |p| u32::try_from(p.len()).ok().filter(|&l| l != ABSENT));
        let mut own = Vec::with_capacity(
            OWN_HEADER + return_url.len() + verifier.map_or(0, <[u8]>::len) + external_id.map_or(0, <[u8]>::len),
        );
        for part in [Some(return_url), verifier, external_id] {
            own.extend_from_slice(&len(part)?.to_le_bytes());
        }
        own.extend_from_slice(&flow.created_at.unix_timestamp().to_le_bytes());
        own.extend_from_slice(return_url);
        own.extend_from_slice(verifier.unwrap_or_default());
        own.extend_from_slice(external_id.unwrap_or_default());
        Some(Self {
            shared,
            own: own.into_boxed_slice(),
            expires_at: flow.expires_at.unix_timestamp(),
            consumed_at: flow.consumed_at.map_or(NOT_CONSUMED, OffsetDateTime::unix_timestamp),
        })
    }

    /// The return URL, the sealed verifier, the external id and the creation time, as stored.
    fn parts(&self) -> Result<OwnParts<'_>, StoreError> {
        let corrupt = || StoreError::Corrupt("flow parts do not add up".to_owned());
        let (return_url_len, rest) = self.own.split_first_chunk::<4>().ok_or_else(corrupt)?;
        let (verifier_len, rest) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
        let (external_id_len, rest) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
        let (created_at, mut rest) = rest.split_first_chunk::<8>().ok_or_else(corrupt)?;
        let mut take = |len: &[u8; 4]| -> Result<Option<&[u8]>, StoreError> {
            let len = u32::from_le_bytes(*len);
            if len == ABSENT {
                return Ok(None);
            }
            let (part, tail) =
                rest.split_at_checked(usize::try_from(len).map_err(|_| corrupt())?).ok_or_else(corrupt)?;
            rest = tail;
            Ok(Some(part))
        };
        let return_url = take(return_url_len)?.ok_or_else(corrupt)?;
        let verifier = take(verifier_len)?;
        let external_id = take(external_id_len)?;
        if !rest.is_empty() {
            return Err(corrupt());
        }
        Ok(OwnParts {
            return_url: utf8(return_url)?,
            verifier,
            external_id: external_id.map(utf8).transpose()?,
            created_at: i64::from_le_bytes(*created_at),
        })
    }

    fn to_record(&self, id: FlowId, browser_binding: Option<[u8; 32]>) -> Result<PendingFlow, StoreError> {
        let OwnParts { return_url, verifier, external_id, created_at } = self.parts()?;
        let pkce_verifier = match verifier {
            Some(bytes) => Some(
                Sealed::from_bytes(bytes.to_vec())
                    .map_err(|_| StoreError::Corrupt("flow pkce_verifier is not a sealed value".to_owned()))?,
            ),
            None => None,
        };
        let external_id = match external_id {
            Some(s) => Some(
                ExternalId::from_str(s).map_err(|_| StoreError::Corrupt("flow external_id is invalid".to_owned()))?,
            ),
            None => None,
        };
        let consumed_at = if self.consumed_at == NOT_CONSUMED { None } else { Some(from_seconds(self.consumed_at)?) };
        Ok(PendingFlow {
            id,
            tenant: self.shared.tenant.clone(),
            app_id: self.shared.app_id.clone(),
            provider: self.shared.provider.clone(),
            return_url: return_url.to_owned(),
            redirect_uri: self.shared.redirect_uri.to_string(),
            pkce_verifier,
            scopes: self.shared.scopes.to_vec(),
            external_id,
            instance: self.shared.instance.as_deref().map(str::to_owned),
            created_at: from_seconds(created_at)?,
            expires_at: from_seconds(self.expires_at)?,
            consumed_at,
            browser_binding,
        })
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_app(&self, app: &AppRecord) -> Result<(), StoreError> {
        let app = normalize_app(app)?;
        let mut inner = self.lock();
        if inner.apps.contains_key(&app.id) {
            return Err(StoreError::Duplicate);
        }
        inner.apps.insert(app.id.clone(), Arc::new(app));
        Ok(())
    }

    async fn get_app(&self, tenant: &TenantId, id: &AppId) -> Result<Option<AppRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner.apps.get(id).filter(|a| a.tenant == *tenant).map(|a| AppRecord::clone(a)))
    }

    async fn list_apps(
        &self,
        tenant: &TenantId,
        provider: Option<&ProviderId>,
        page: &PageRequest,
    ) -> Result<Page<AppRecord>, StoreError> {
        let inner = self.lock();
        let items = inner
            .apps
            .values()
            .map(|a| &**a)
            .filter(|a| a.tenant == *tenant && provider.is_none_or(|p| a.provider == *p))
            .collect();
        Ok(paginate(items, |a: &AppRecord| (a.created_at.unix_timestamp(), a.id.as_str()), page))
    }

    async fn update_app(&self, app: &AppRecord) -> Result<bool, StoreError> {
        let new = normalize_app(app)?;
        let mut inner = self.lock();
        let Some(stored) = inner.apps.get_mut(&new.id).filter(|a| a.tenant == new.tenant) else {
            return Ok(false);
        };
        // Copied only while a reader still holds the old version.
        let stored = Arc::make_mut(stored);
        stored.name = new.name;
        stored.client_id = new.client_id;
        stored.client_secret = new.client_secret;
        stored.allowed_return_urls = new.allowed_return_urls;
        stored.scopes = new.scopes;
        stored.updated_at = new.updated_at;
        Ok(true)
    }

    async fn delete_app(&self, tenant: &TenantId, id: &AppId, cascade: bool) -> Result<DeleteApp, StoreError> {
        let mut inner = self.lock();
        if inner.apps.get(id).is_none_or(|a| a.tenant != *tenant) {
            return Ok(DeleteApp::NotFound);
        }
        let users: Vec<AccountId> = inner
            .accounts
            .values()
            .filter(|a| a.tenant == *tenant && a.app_id.as_ref() == Some(id))
            .map(|a| a.id.clone())
            .collect();
        if !users.is_empty() && !cascade {
            return Ok(DeleteApp::InUse);
        }
        for account_id in &users {
            if let Some(account) = inner.accounts.remove(account_id) {
                inner.identities.remove(&identity_of(&account));
            }
            inner.leases.remove(account_id);
        }
        // The shards are taken under the main lock (always in that order: main, then shard).
        let mut cancelled = Vec::new();
        for mut shard in self.each_flow_shard() {
            shard.flows.retain(|e| {
                let of_app = e.flow.shared.tenant == *tenant && e.flow.shared.app_id == *id;
                if of_app && e.flow.consumed_at == NOT_CONSUMED {
                    cancelled.push((tenant.clone(), e.flow.expires_at));
                }
                !of_app
            });
            shard.prune_flow_parts();
        }
        inner.provider_state.retain(|(t, a, _, _), _| !(t == tenant && a == id));
        inner.apps.remove(id);
        drop(inner);
        self.untally(&cancelled);
        Ok(DeleteApp::Deleted { accounts_deleted: users.len() as u64 })
    }

    async fn find_account(
        &self,
        tenant: &TenantId,
        provider: &ProviderId,
        provider_account_id: &str,
        external_id: Option<&ExternalId>,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let key: Identity = (tenant.clone(), provider.clone(), provider_account_id.to_owned(), external_id.cloned());
        let inner = self.lock();
        Ok(inner.identities.get(&key).and_then(|id| inner.accounts.get(id)).cloned())
    }

    async fn insert_account(&self, account: &AccountRecord) -> Result<InsertAccount, StoreError> {
        let account = normalize_account(account)?;
        let key = identity_of(&account);
        let mut inner = self.lock();
        if let Some(existing) = inner.identities.get(&key).and_then(|id| inner.accounts.get(id)) {
            return Ok(InsertAccount::Exists(existing.clone()));
        }
        if inner.accounts.contains_key(&account.id) {
            return Err(StoreError::Duplicate);
        }
        inner.identities.insert(key, account.id.clone());
        inner.accounts.insert(account.id.clone(), account);
        Ok(InsertAccount::Inserted)
    }

    async fn update_account(&self, account: &AccountRecord) -> Result<bool, StoreError> {
        let new = normalize_account(account)?;
        let mut inner = self.lock();
        let Some(stored) = inner.accounts.get_mut(&new.id).filter(|a| a.tenant == new.tenant) else {
            return Ok(false);
        };
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
        let inner = self.lock();
        Ok(inner.accounts.get(id).filter(|a| a.tenant == *tenant).cloned())
    }

    async fn list_accounts(
        &self,
        tenant: &TenantId,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<AccountRecord>, StoreError> {
        let inner = self.lock();
        let items = inner
            .accounts
            .values()
            .filter(|a| {
                a.tenant == *tenant
                    && filter.provider.as_ref().is_none_or(|p| a.provider == *p)
                    && filter.external_id.as_ref().is_none_or(|e| a.external_id.as_ref() == Some(e))
            })
            .collect();
        Ok(paginate(items, |a: &AccountRecord| (a.connected_at.unix_timestamp(), a.id.as_str()), page))
    }

    async fn delete_account(&self, tenant: &TenantId, id: &AccountId) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.accounts.get(id).is_none_or(|a| a.tenant != *tenant) {
            return Ok(false);
        }
        if let Some(account) = inner.accounts.remove(id) {
            inner.identities.remove(&identity_of(&account));
        }
        inner.leases.remove(id);
        Ok(true)
    }

    async fn insert_flow(&self, flow: &PendingFlow, max_pending: u32) -> Result<InsertFlow, StoreError> {
        let now = flow.created_at.unix_timestamp();
        let expires_at = flow.expires_at.unix_timestamp();
        // The tally is held across the insert, so one process's inserts keep the cap exactly.
        let mut pending = self.pending();
        let tally = pending.entry(flow.tenant.clone()).or_default();
        tally.expire(now);
        if tally.total >= u64::from(max_pending) {
            let next = tally.by_expiry.first_key_value().map_or(expires_at, |(at, _)| *at);
            return Ok(InsertFlow::TooManyPending { next_expiry: from_seconds(next)? });
        }
        let mut shard = self.flow_shard(&flow.id);
        let FlowShard { flows, parts, bindings } = &mut *shard;
        // One lookup: the vacant slot is filled in place.
        let hashbrown::hash_table::Entry::Vacant(slot) =
            flows.entry(flow_hash(&flow.id), |e| e.id == flow.id, |e| flow_hash(&e.id))
        else {
            return Err(StoreError::Duplicate);
        };
        let stored = StoredFlow::new(flow, intern(parts, flow))
            .ok_or_else(|| StoreError::backend(std::io::Error::other("a flow part is 4 GiB or longer")))?;
        let counts = stored.consumed_at == NOT_CONSUMED && expires_at > now;
        slot.insert(FlowEntry { id: flow.id, flow: stored });
        if let Some(digest) = flow.browser_binding {
            bindings.insert(flow.id, digest);
        }
        if counts {
            tally.add(expires_at);
        }
        Ok(InsertFlow::Inserted)
    }

    async fn bind_flow(&self, id: &FlowId, digest: &[u8; 32], now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut shard = self.flow_shard(id);
        let FlowShard { flows, bindings, .. } = &mut *shard;
        let Some(FlowEntry { flow, .. }) = flows.find(flow_hash(id), |e| e.id == *id) else {
            return Ok(false);
        };
        if flow.consumed_at != NOT_CONSUMED || flow.expires_at <= now.unix_timestamp() || bindings.contains_key(id) {
            return Ok(false);
        }
        bindings.insert(*id, *digest);
        Ok(true)
    }

    async fn get_flow(&self, id: &FlowId) -> Result<Option<PendingFlow>, StoreError> {
        let shard = self.flow_shard(id);
        let binding = shard.bindings.get(id).copied();
        shard.flows.find(flow_hash(id), |e| e.id == *id).map(|e| e.flow.to_record(*id, binding)).transpose()
    }

    async fn take_flow(&self, id: &FlowId, now: OffsetDateTime) -> Result<TakeFlow, StoreError> {
        let taken = {
            let mut shard = self.flow_shard(id);
            let binding = shard.bindings.get(id).copied();
            let Some(FlowEntry { flow, .. }) = shard.flows.find_mut(flow_hash(id), |e| e.id == *id) else {
                return Ok(TakeFlow::Missing);
            };
            if flow.consumed_at != NOT_CONSUMED {
                return Ok(TakeFlow::AlreadyConsumed(flow.to_record(*id, binding)?));
            }
            let before = flow.to_record(*id, binding)?;
            flow.consumed_at = now.unix_timestamp();
            before
        };
        // After the shard's lock is given back (lock order: tallies, then a shard).
        self.untally(&[(taken.tenant.clone(), taken.expires_at.unix_timestamp())]);
        Ok(TakeFlow::Taken(taken))
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
        let mut record = selection.clone();
        record.created_at = whole_seconds(record.created_at)?;
        record.expires_at = whole_seconds(record.expires_at)?;
        record.consumed_at = record.consumed_at.map(whole_seconds).transpose()?;
        let mut inner = self.lock();
        if inner.selections.contains_key(&record.id) {
            return Err(StoreError::Duplicate);
        }
        inner.selections.insert(record.id.clone(), record);
        Ok(())
    }

    async fn get_selection(
        &self,
        tenant: &TenantId,
        id: &SelectionId,
        now: OffsetDateTime,
    ) -> Result<Option<SelectionRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .selections
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
        let now = whole_seconds(now)?;
        let mut inner = self.lock();
        let Some(stored) = inner
            .selections
            .get_mut(id)
            .filter(|s| s.tenant == *tenant && s.consumed_at.is_none() && now < s.expires_at)
        else {
            return Ok(None);
        };
        let before = stored.clone();
        stored.consumed_at = Some(now);
        Ok(Some(before))
    }

    async fn sweep_selections(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let count = inner.selections.len();
        inner.selections.retain(|_, s| s.expires_at >= before);
        Ok(count.saturating_sub(inner.selections.len()) as u64)
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
        let (until, now) = (until.unix_timestamp(), now.unix_timestamp());
        let mut inner = self.lock();
        if inner.accounts.get(id).is_none_or(|a| a.tenant != *tenant) {
            return Ok(false);
        }
        let free = inner.leases.get(id).is_none_or(|(h, u)| *u <= now || h == holder);
        if free {
            inner.leases.insert(id.clone(), (holder.to_owned(), until));
        }
        Ok(free)
    }

    async fn release_account_lease(&self, tenant: &TenantId, id: &AccountId, holder: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.accounts.get(id).is_some_and(|a| a.tenant == *tenant)
            && inner.leases.get(id).is_some_and(|(h, _)| h == holder)
        {
            inner.leases.remove(id);
        }
        Ok(())
    }
}

#[async_trait]
impl MaintenanceStore for MemoryStore {
    async fn sweep_flows(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = before.unix_timestamp();
        let mut swept = 0;
        for shard in &self.flows {
            {
                let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                let count = shard.flows.len();
                shard.flows.retain(|e| e.flow.expires_at >= before);
                let gone = count.saturating_sub(shard.flows.len());
                if gone > 0 {
                    shard.prune_flow_parts();
                }
                swept += gone;
            }
            // One shard at a time, then let the requests waiting on this thread run: a sweep
            // over a million pending flows would otherwise hold a single-threaded server for
            // milliseconds.
            tokio::task::yield_now().await;
        }
        // Tallies of tenants whose flows have all expired go too.
        self.pending().retain(|_, tally| {
            tally.expire(before);
            tally.total > 0
        });
        Ok(swept as u64)
    }

    async fn list_all_apps(&self, page: &PageRequest) -> Result<Page<AppRecord>, StoreError> {
        let inner = self.lock();
        let items = inner.apps.values().map(|a| &**a).collect();
        Ok(paginate(items, |a: &AppRecord| (a.created_at.unix_timestamp(), a.id.as_str()), page))
    }

    async fn list_all_accounts(&self, page: &PageRequest) -> Result<Page<AccountRecord>, StoreError> {
        let inner = self.lock();
        let items = inner.accounts.values().collect();
        Ok(paginate(items, |a: &AccountRecord| (a.connected_at.unix_timestamp(), a.id.as_str()), page))
    }

    async fn swap_app_secret(
        &self,
        tenant: &TenantId,
        id: &AppId,
        current: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(app) = inner.apps.get_mut(id).filter(|a| a.tenant == *tenant && a.client_secret == *current) else {
            return Ok(false);
        };
        Arc::make_mut(app).client_secret = new.clone();
        Ok(true)
    }

    async fn swap_account_tokens(
        &self,
        tenant: &TenantId,
        id: &AccountId,
        current: SealedTokens<'_>,
        new: SealedTokens<'_>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(account) = inner.accounts.get_mut(id).filter(|a| {
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
        let mut e = entry.clone();
        e.created_at = whole_seconds(e.created_at)?;
        let mut inner = self.lock();
        let key = (e.tenant.clone(), e.app_id.clone(), e.namespace.clone(), e.key.clone());
        if inner.provider_state.contains_key(&key) {
            return Ok(false);
        }
        inner.provider_state.insert(key, e);
        Ok(true)
    }

    async fn get_provider_state(
        &self,
        tenant: &TenantId,
        app_id: &AppId,
        namespace: &ProviderId,
        key: &str,
    ) -> Result<Option<ProviderStateRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner.provider_state.get(&(tenant.clone(), app_id.clone(), namespace.clone(), key.to_owned())).cloned())
    }

    async fn list_provider_state(
        &self,
        tenant: &TenantId,
        app_id: &AppId,
    ) -> Result<Vec<ProviderStateRecord>, StoreError> {
        let inner = self.lock();
        let mut list: Vec<ProviderStateRecord> =
            inner.provider_state.values().filter(|e| e.tenant == *tenant && e.app_id == *app_id).cloned().collect();
        list.sort_unstable_by(|a, b| (a.namespace.as_str(), &a.key).cmp(&(b.namespace.as_str(), &b.key)));
        Ok(list)
    }

    async fn swap_provider_state_secret(&self, entry: &ProviderStateRecord, new: &Sealed) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let key = (entry.tenant.clone(), entry.app_id.clone(), entry.namespace.clone(), entry.key.clone());
        let Some(e) = inner.provider_state.get_mut(&key).filter(|e| e.secret == entry.secret) else {
            return Ok(false);
        };
        e.secret = new.clone();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn debug_shows_counts_and_no_rows() {
        let store = MemoryStore::new();
        let tenant: TenantId = "tenant-a".parse().unwrap();
        let app_id = AppId::generate();
        let flow = PendingFlow {
            id: FlowId::generate(),
            tenant,
            app_id,
            provider: "x".parse().unwrap(),
            return_url: "https://private.example.com/return".to_owned(),
            redirect_uri: "https://api.example.com/cb".to_owned(),
            pkce_verifier: None,
            scopes: Vec::new(),
            external_id: None,
            instance: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
            consumed_at: None,
            browser_binding: None,
        };
        store.insert_flow(&flow, u32::MAX).await.unwrap();
        let shown = format!("{store:?}");
        assert_eq!(shown, "MemoryStore { apps: 0, accounts: 0, flows: 1 }");
    }

    #[test]
    fn flow_ids_hash_by_their_random_bytes_and_equal_ids_alike() {
        let ids: Vec<FlowId> = (0..1000).map(|_| FlowId::generate()).collect();
        let hashes: std::collections::HashSet<u64> = ids.iter().map(flow_hash).collect();
        assert_eq!(hashes.len(), ids.len());
        for id in &ids {
            assert_eq!(flow_hash(id), flow_hash(&FlowId::from_bytes(*id.as_bytes())));
        }
    }

    #[test]
    fn flows_share_parts_only_when_every_part_is_equal() {
        let flow = |scopes: &[&str], redirect_uri: &str| PendingFlow {
            id: FlowId::generate(),
            tenant: "tenant-a".parse().unwrap(),
            app_id: "app_1".parse().unwrap(),
            provider: "x".parse().unwrap(),
            return_url: "https://app.example.com/return".to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            pkce_verifier: None,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            external_id: None,
            instance: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
            consumed_at: None,
            browser_binding: None,
        };
        let mut shard = FlowShard::default();
        let a = intern(&mut shard.parts, &flow(&["read", "write"], "https://api.example.com/cb"));
        let b = intern(&mut shard.parts, &flow(&["read", "write"], "https://api.example.com/cb"));
        assert!(Arc::ptr_eq(&a, &b), "equal parts are interned once");
        let c = intern(&mut shard.parts, &flow(&["read"], "https://api.example.com/cb"));
        let d = intern(&mut shard.parts, &flow(&["read", "write"], "https://api.example.com/cb2"));
        assert!(!Arc::ptr_eq(&a, &c) && !Arc::ptr_eq(&a, &d) && !Arc::ptr_eq(&c, &d));
        assert_eq!(&*c.scopes, ["read".to_owned()]);
        assert_eq!(&*d.redirect_uri, "https://api.example.com/cb2");
        assert_eq!(shard.parts.len(), 3);
    }

    #[tokio::test]
    async fn a_flow_reads_back_whole_with_or_without_its_optional_parts() {
        use crate::secret::Secret;
        use crate::secret_box::SecretBox;
        let sb = SecretBox::new([(crate::KeyId::zero(), Secret::new(vec![7u8; 32]))]).unwrap();
        let store = MemoryStore::new();
        for (verifier, external_id, return_url) in [
            (true, true, "https://app.example.com/return?x=1"),
            (true, false, "https://xn--bcher-kva.example/r%C3%BCck"),
            (false, true, "https://app.example.com/"),
            (false, false, "https://app.example.com/return"),
        ] {
            let id = FlowId::generate();
            let flow = PendingFlow {
                id,
                tenant: "tenant-a".parse().unwrap(),
                app_id: "app_1".parse().unwrap(),
                provider: "x".parse().unwrap(),
                return_url: return_url.to_owned(),
                redirect_uri: "https://api.example.com/cb".to_owned(),
                pkce_verifier: verifier.then(|| sb.seal(&id.to_string(), "pkce_verifier", b"verifier-0123456789")),
                scopes: vec!["read".to_owned()],
                external_id: external_id.then(|| "user-\u{e9}-42".parse().unwrap()),
                instance: None,
                created_at: OffsetDateTime::UNIX_EPOCH,
                expires_at: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(600),
                consumed_at: None,
                browser_binding: None,
            };
            store.insert_flow(&flow, u32::MAX).await.unwrap();
            let back = store.get_flow(&id).await.unwrap().unwrap();
            assert_eq!(back.return_url, flow.return_url);
            assert_eq!(
                back.pkce_verifier.as_ref().map(Sealed::as_bytes),
                flow.pkce_verifier.as_ref().map(Sealed::as_bytes)
            );
            assert_eq!(back.external_id, flow.external_id);
            assert_eq!((back.scopes, back.redirect_uri), (flow.scopes.clone(), flow.redirect_uri.clone()));
            assert_eq!((back.created_at, back.expires_at, back.consumed_at), (flow.created_at, flow.expires_at, None));
        }
    }

    #[test]
    fn parts_that_do_not_add_up_read_back_as_corrupt_never_a_panic() {
        let flow = PendingFlow {
            id: FlowId::generate(),
            tenant: "tenant-a".parse().unwrap(),
            app_id: "app_1".parse().unwrap(),
            provider: "x".parse().unwrap(),
            return_url: "https://app.example.com/return".to_owned(),
            redirect_uri: "https://api.example.com/cb".to_owned(),
            pkce_verifier: None,
            scopes: Vec::new(),
            external_id: Some("user-1".parse().unwrap()),
            instance: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
            consumed_at: None,
            browser_binding: None,
        };
        let mut shard = FlowShard::default();
        let good = StoredFlow::new(&flow, intern(&mut shard.parts, &flow)).unwrap();
        assert_eq!(good.to_record(flow.id, None).unwrap().external_id, flow.external_id);
        // The header holds the return URL's (30 bytes), the verifier's (absent) and the
        // external id's (6 bytes) lengths: lengths that overrun, fall short or are missing.
        for (return_url_len, external_id_len) in [(1000, 6u32), (30, 1000), (ABSENT, 6), (2, 6)] {
            let mut own = good.own.to_vec();
            own.splice(0..4, return_url_len.to_le_bytes());
            own.splice(8..12, external_id_len.to_le_bytes());
            let bad =
                StoredFlow { own: own.into(), ..StoredFlow::new(&flow, intern(&mut shard.parts, &flow)).unwrap() };
            assert!(
                matches!(bad.to_record(flow.id, None), Err(StoreError::Corrupt(_))),
                "{return_url_len} {external_id_len}"
            );
        }
        // A header cut short.
        for cut in [0, 3, OWN_HEADER - 1] {
            let bad = StoredFlow {
                own: good.own.get(..cut).unwrap().into(),
                ..StoredFlow::new(&flow, intern(&mut shard.parts, &flow)).unwrap()
            };
            assert!(matches!(bad.to_record(flow.id, None), Err(StoreError::Corrupt(_))), "{cut}");
        }
    }

    #[test]
    fn a_stored_flow_is_one_cache_line_in_its_table() {
        // The benchmark budget is 512 bytes a flow, table overhead and heap included.
        assert_eq!(std::mem::size_of::<StoredFlow>(), 40);
        assert_eq!((std::mem::size_of::<FlowEntry>(), std::mem::align_of::<FlowEntry>()), (64, 64));
    }
}
