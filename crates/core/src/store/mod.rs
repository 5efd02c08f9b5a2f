//! Storage: the [`Store`] trait and its opt-in companions, their records, and the built-in
//! stores.
//!
//! Every row belongs to exactly one tenant. Secrets arrive already sealed ([`Sealed`]): a
//! store only ever sees ciphertext. Time is always passed in (from the injected `Clock`),
//! never read from the database's `now()`, so every store agrees with the tests' manual
//! clock.
//!
//! # The contracts
//! - [`Store`] (required): apps, accounts and pending flows, in fifteen methods.
//! - Opt-in traits, each small, which a store implements when it can and announces through a
//!   provided accessor of [`Store`] (`fn selections(&self) -> Option<&dyn SelectionStore>
//!   { Some(self) }`):
//!   - [`SelectionStore`] ([`Store::selections`]): pending target selections. Needed by a
//!     provider that lists targets after consent; the builder refuses such a provider
//!     without it.
//!   - [`LeaseStore`] ([`Store::lease`]): the cross-instance refresh lease. Without it the
//!     engine serialises refreshes in-process only (correct for one app instance).
//!   - [`MaintenanceStore`] ([`Store::maintenance`]): the sweep of expired flows, and the
//!     walks and swaps of a re-seal after a key rotation. Without it nothing is swept and
//!     `reseal_secrets` fails.
//!   - [`ProviderStateStore`] ([`Store::provider_state`]): a namespaced, sealed key–value
//!     collection for what one provider needs (Mastodon: the client registered at each
//!     instance). The builder refuses a provider that keeps state without it.
//!
//! A new capability adds a new opt-in trait and accessor, never a required method; records
//! are `#[non_exhaustive]` with constructors, so a new field breaks nobody.
//!
//! # Writing your own store
//! Implement [`Store`] (with `#[async_trait]`) and the opt-in traits you can, override their
//! accessors, and run the public conformance suite, `dravo_connect_testing::store_conformance`
//! (also `dravo_connect::test_util::store_conformance` with the feature `test-util`) against
//! it: it runs the core cases, and the cases of each opt-in trait the store announces. It
//! checks every method, tenant isolation, the upsert rule, ordering, paging and the atomic
//! takes.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;

use crate::ids::{AccountId, AppId, ExternalId, FlowId, ProviderId, SelectionId, TenantId};
use crate::provider::TargetType;
pub use crate::secret_box::Sealed;

mod memory;
pub use memory::MemoryStore;

/// A stored OAuth app (the tenant's own client credentials for one provider).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppRecord {
    /// The app's id.
    pub id: AppId,
    /// The owning tenant.
    pub tenant: TenantId,
    /// The provider this app is registered at.
    pub provider: ProviderId,
    /// A display name.
    pub name: Option<String>,
    /// The provider's client id (not a secret).
    pub client_id: String,
    /// The client secret, sealed with the app's id as associated data.
    pub client_secret: Sealed,
    /// The return-URL allowlist, normalised entries.
    pub allowed_return_urls: Vec<String>,
    /// The scopes this app requests (empty: the provider's defaults).
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    pub updated_at: OffsetDateTime,
}

/// The state of a connected account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AccountStatus {
    /// Tokens are believed to work.
    Active,
    /// The tokens expired and could not be refreshed: the user must reconnect.
    Expired,
    /// The user or the provider revoked access.
    Revoked,
}

impl AccountStatus {
    /// The wire string (`active`, `expired`, `revoked`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    /// Parses a wire string.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "expired" => Some(Self::Expired),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// As its [`as_str`](AccountStatus::as_str) form (`"active"`, …).
impl serde::Serialize for AccountStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A stored connected account.
///
/// Its identity is (tenant, provider, `provider_account_id`, `external_id`), where an absent
/// `external_id` is one value, not many: a store must never hold two accounts with the same
/// identity (SQL stores: a unique key over those columns, with `NULL` stored as a sentinel).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountRecord {
    /// The account's id.
    pub id: AccountId,
    /// The owning tenant.
    pub tenant: TenantId,
    /// The provider.
    pub provider: ProviderId,
    /// The app whose credentials obtained the tokens, if any.
    pub app_id: Option<AppId>,
    /// The account's id at the provider.
    pub provider_account_id: String,
    /// The handle, where the provider has one.
    pub username: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// The avatar URL.
    pub avatar_url: Option<String>,
    /// The scopes actually granted.
    pub scopes: Vec<String>,
    /// Whether the tokens still work.
    pub status: AccountStatus,
    /// The host's reference to its end user.
    pub external_id: Option<ExternalId>,
    /// The access token, sealed with the account's id as associated data.
    pub access_token: Sealed,
    /// The refresh token, sealed likewise.
    pub refresh_token: Option<Sealed>,
    /// When the access token expires, where known.
    pub token_expires_at: Option<OffsetDateTime>,
    /// When the account was first connected.
    pub connected_at: OffsetDateTime,
    /// When the row last changed.
    pub updated_at: OffsetDateTime,
    /// What the account publishes as: the person who logged in, or a target they picked
    /// (a Page, an organisation, …).
    pub target_type: TargetType,
    /// For a picked target, the person account it was picked through; `None` for a person.
    pub parent_account_id: Option<AccountId>,
}

/// A pending OAuth flow: created by `start`, consumed once by the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingFlow {
    /// The flow id (the random part of the state).
    pub id: FlowId,
    /// The tenant that started it.
    pub tenant: TenantId,
    /// The app whose credentials it uses.
    pub app_id: AppId,
    /// The provider.
    pub provider: ProviderId,
    /// The checked return URL (serialised).
    pub return_url: String,
    /// The exact `redirect_uri` sent at authorize (it must be byte-identical at exchange).
    pub redirect_uri: String,
    /// The PKCE verifier, sealed with the flow id as associated data; `None` for providers
    /// without PKCE. It never appears in any URL or in the state.
    pub pkce_verifier: Option<Sealed>,
    /// The scopes requested.
    pub scopes: Vec<String>,
    /// The host's reference to the end user who started the flow.
    pub external_id: Option<ExternalId>,
    /// The instance of a per-instance provider (Mastodon) the flow runs at: its origin
    /// (`https://mastodon.social`); `None` for every other provider.
    pub instance: Option<String>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When the state stops being accepted.
    pub expires_at: OffsetDateTime,
    /// When the callback consumed it (`None` while pending).
    pub consumed_at: Option<OffsetDateTime>,
    /// Browser binding: the SHA-256 digest of the random cookie value the hop
    /// (`/oauth/{provider}/go`) gave the first browser that opened it; `None` until then.
    /// Set once, by [`Store::bind_flow`]; the callback compares the cookie it receives with
    /// it. Only the digest is stored, so a store's rows give no one a cookie.
    pub browser_binding: Option<[u8; 32]>,
}

/// What [`Store::insert_flow`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertFlow {
    /// The flow was stored.
    Inserted,
    /// The tenant already has `max_pending` pending flows; nothing was written.
    TooManyPending {
        /// When the tenant's earliest pending flow expires (a slot frees then at the latest).
        next_expiry: OffsetDateTime,
    },
}

/// One target of a [`SelectionRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelectionTarget {
    /// The target's id at the provider.
    pub id: String,
    /// What kind of target it is.
    pub target_type: TargetType,
    /// The handle, where the target has one.
    pub username: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// The avatar URL.
    pub avatar_url: Option<String>,
    /// The target's own access token (a Page token), sealed with the selection's id as the
    /// row and `target_access_token:{target id}` as the field; `None`: the person's token.
    pub access_token: Option<Sealed>,
}

/// A pending target selection: stored by the callback when a connect finds several
/// publishable targets, read by `GET /oauth/selections/{id}`, consumed once by `POST`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelectionRecord {
    /// `sel_…`
    pub id: SelectionId,
    /// The tenant whose flow found it.
    pub tenant: TenantId,
    /// The provider.
    pub provider: ProviderId,
    /// The app whose credentials obtained the tokens.
    pub app_id: Option<AppId>,
    /// The person account the targets were found through.
    pub account_id: AccountId,
    /// The host's reference to the end user who started the flow.
    pub external_id: Option<ExternalId>,
    /// The targets to choose from, in the provider's order.
    pub targets: Vec<SelectionTarget>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it stops being readable or choosable.
    pub expires_at: OffsetDateTime,
    /// When a `POST` consumed it (`None` while pending).
    pub consumed_at: Option<OffsetDateTime>,
}

/// One entry of provider state (see [`ProviderStateStore`]): what one provider keeps for one
/// app, under a key of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderStateRecord {
    /// The tenant of the app.
    pub tenant: TenantId,
    /// The app the entry belongs to (deleted with it).
    pub app_id: AppId,
    /// The namespace: the id of the provider that owns the entry.
    pub namespace: ProviderId,
    /// The provider's key (Mastodon: the instance's host with a non-default port).
    pub key: String,
    /// Plain metadata, opaque to the store (the built-in providers write JSON).
    pub metadata: String,
    /// The secret part, sealed by the engine (associated data `{app_id}@{key}`).
    pub secret: Sealed,
    /// When it was stored.
    pub created_at: OffsetDateTime,
}

impl ProviderStateRecord {
    /// An entry.
    pub fn new(
        tenant: TenantId,
        app_id: AppId,
        namespace: ProviderId,
        key: impl Into<String>,
        metadata: impl Into<String>,
        secret: Sealed,
        created_at: OffsetDateTime,
    ) -> Self {
        Self { tenant, app_id, namespace, key: key.into(), metadata: metadata.into(), secret, created_at }
    }
}

impl AppRecord {
    /// An app with no name, no allowed return URLs and the provider's default scopes
    /// (set the public fields to change them), last changed when it was created.
    pub fn new(
        id: AppId,
        tenant: TenantId,
        provider: ProviderId,
        client_id: impl Into<String>,
        client_secret: Sealed,
        created_at: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            tenant,
            provider,
            name: None,
            client_id: client_id.into(),
            client_secret,
            allowed_return_urls: Vec::new(),
            scopes: Vec::new(),
            created_at,
            updated_at: created_at,
        }
    }
}

impl AccountRecord {
    /// An active person account without app, profile fields, scopes, external id, refresh
    /// token or expiry (set the public fields to change them), last changed when it was
    /// connected.
    pub fn new(
        id: AccountId,
        tenant: TenantId,
        provider: ProviderId,
        provider_account_id: impl Into<String>,
        access_token: Sealed,
        connected_at: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            tenant,
            provider,
            app_id: None,
            provider_account_id: provider_account_id.into(),
            username: None,
            display_name: None,
            avatar_url: None,
            scopes: Vec::new(),
            status: AccountStatus::Active,
            external_id: None,
            access_token,
            refresh_token: None,
            token_expires_at: None,
            connected_at,
            updated_at: connected_at,
            target_type: TargetType::Person,
            parent_account_id: None,
        }
    }
}

impl PendingFlow {
    /// A pending flow without PKCE verifier, scopes, external id, instance or browser
    /// binding (set the public fields to change them).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: FlowId,
        tenant: TenantId,
        app_id: AppId,
        provider: ProviderId,
        return_url: impl Into<String>,
        redirect_uri: impl Into<String>,
        created_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            tenant,
            app_id,
            provider,
            return_url: return_url.into(),
            redirect_uri: redirect_uri.into(),
            pkce_verifier: None,
            scopes: Vec::new(),
            external_id: None,
            instance: None,
            created_at,
            expires_at,
            consumed_at: None,
            browser_binding: None,
        }
    }
}

impl SelectionTarget {
    /// A target without handle, display name, avatar or token of its own (set the public
    /// fields to change them).
    pub fn new(id: impl Into<String>, target_type: TargetType) -> Self {
        Self { id: id.into(), target_type, username: None, display_name: None, avatar_url: None, access_token: None }
    }
}

impl SelectionRecord {
    /// A pending selection without app or external id (set the public fields to change
    /// them).
    pub fn new(
        id: SelectionId,
        tenant: TenantId,
        provider: ProviderId,
        account_id: AccountId,
        targets: Vec<SelectionTarget>,
        created_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            tenant,
            provider,
            app_id: None,
            account_id,
            external_id: None,
            targets,
            created_at,
            expires_at,
            consumed_at: None,
        }
    }
}

/// What [`Store::take_flow`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakeFlow {
    /// This call consumed the flow (it was pending); the record is as it was before.
    Taken(PendingFlow),
    /// The flow had already been consumed (a replay).
    AlreadyConsumed(PendingFlow),
    /// No such flow (never existed, swept, or its app was deleted).
    Missing,
}

/// What [`Store::insert_account`] did.
// `Exists` is the rare path (a reconnect racing another); boxing it would only add an
// allocation to every store implementation's code.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertAccount {
    /// The account was inserted.
    Inserted,
    /// An account with the same identity exists; nothing was written. Holds that account.
    Exists(AccountRecord),
}

/// What [`Store::delete_app`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteApp {
    /// The app (and, with `cascade`, its accounts; always its pending flows) is gone.
    Deleted {
        /// How many accounts were deleted with it.
        accounts_deleted: u64,
    },
    /// Accounts still use the app and `cascade` was false; nothing was deleted.
    InUse,
    /// No such app for this tenant.
    NotFound,
}

/// Filters for [`Store::list_accounts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountFilter {
    /// Only accounts of this provider.
    pub provider: Option<ProviderId>,
    /// Only accounts with this external id.
    pub external_id: Option<ExternalId>,
}

impl AccountFilter {
    /// Only accounts of `provider`.
    #[must_use]
    pub fn provider(mut self, provider: ProviderId) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Only accounts with `external_id`.
    #[must_use]
    pub fn external_id(mut self, external_id: ExternalId) -> Self {
        self.external_id = Some(external_id);
        self
    }
}

/// A position in a list: lists are ordered by (`created_at`, `id`) ascending (accounts by
/// `connected_at`), and a cursor names the last item of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last item's creation time, in unix seconds.
    pub created_at: i64,
    /// The last item's id.
    pub id: String,
}

impl Cursor {
    /// The opaque wire form (base64url).
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at, self.id))
    }

    /// Parses the wire form; `None` when malformed.
    pub fn decode(s: &str) -> Option<Self> {
        if s.len() > 200 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (t, id) = raw.split_once(':')?;
        if id.is_empty() || id.len() > 100 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        Some(Self { created_at: t.parse().ok()?, id: id.to_owned() })
    }
}

/// Which page of a list to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items (1 to 100; the API defaults to 50).
    pub limit: u32,
    /// Start after this item.
    pub after: Option<Cursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { limit: 50, after: None }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// An account's sealed tokens, as compared and replaced by [`MaintenanceStore::swap_account_tokens`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedTokens<'a> {
    /// The sealed access token.
    pub access_token: &'a Sealed,
    /// The sealed refresh token, if any.
    pub refresh_token: Option<&'a Sealed>,
}

/// A store failure. Shown to API callers only as `500 server_error`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (connection, query, I/O).
    #[error("store backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A stored row could not be read back (corrupt or written by an incompatible version).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// An insert collided with an existing primary key.
    #[error("duplicate id")]
    Duplicate,
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }
}

/// Persistence for apps, accounts and pending flows: what every store holds. What more a
/// feature needs comes from an opt-in trait, reached through a provided accessor
/// ([`selections`](Self::selections), [`lease`](Self::lease),
/// [`maintenance`](Self::maintenance), [`provider_state`](Self::provider_state)).
///
/// Every method that names a tenant only ever sees and touches that tenant's rows. All times
/// are passed in by the caller. Implementations must be safe to share between tasks and, for
/// SQL stores, between processes using the same database.
#[async_trait]
pub trait Store: fmt::Debug + Send + Sync + 'static {
    /// Inserts a new app. Fails with [`StoreError::Duplicate`] if the id exists.
    async fn insert_app(&self, app: &AppRecord) -> Result<(), StoreError>;

    /// Reads one app of the tenant.
    async fn get_app(&self, tenant: &TenantId, id: &AppId) -> Result<Option<AppRecord>, StoreError>;

    /// Lists the tenant's apps, optionally for one provider, ordered by (`created_at`, `id`).
    async fn list_apps(
        &self,
        tenant: &TenantId,
        provider: Option<&ProviderId>,
        page: &PageRequest,
    ) -> Result<Page<AppRecord>, StoreError>;

    /// Replaces an existing app (matched by tenant and id; `id`, `tenant`, `provider` and
    /// `created_at` are not changed). Returns `false` if there is no such app.
    async fn update_app(&self, app: &AppRecord) -> Result<bool, StoreError>;

    /// Deletes an app, its pending flows and (in a store with [`ProviderStateStore`]) its
    /// provider-state entries; with `cascade` also its accounts, without it
    /// refuses ([`DeleteApp::InUse`]) while accounts use it. Atomic: all or nothing.
    async fn delete_app(&self, tenant: &TenantId, id: &AppId, cascade: bool) -> Result<DeleteApp, StoreError>;

    /// Finds the account with this identity (see [`AccountRecord`]).
    async fn find_account(
        &self,
        tenant: &TenantId,
        provider: &ProviderId,
        provider_account_id: &str,
        external_id: Option<&ExternalId>,
    ) -> Result<Option<AccountRecord>, StoreError>;

    /// Inserts an account unless one with the same identity exists, atomically (SQL:
    /// `INSERT … ON CONFLICT DO NOTHING`); in that case writes nothing and returns the
    /// existing one.
    async fn insert_account(&self, account: &AccountRecord) -> Result<InsertAccount, StoreError>;

    /// Replaces the mutable fields of an existing account (matched by tenant and id): app,
    /// profile fields, scopes, status, tokens, expiry, `updated_at`. Returns `false` if
    /// there is no such account.
    async fn update_account(&self, account: &AccountRecord) -> Result<bool, StoreError>;

    /// Reads one account of the tenant.
    async fn get_account(&self, tenant: &TenantId, id: &AccountId) -> Result<Option<AccountRecord>, StoreError>;

    /// Lists the tenant's accounts matching `filter`, ordered by (`connected_at`, `id`).
    async fn list_accounts(
        &self,
        tenant: &TenantId,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<AccountRecord>, StoreError>;

    /// Deletes an account. Returns `false` if there was none.
    async fn delete_account(&self, tenant: &TenantId, id: &AccountId) -> Result<bool, StoreError>;

    /// Stores a new pending flow unless its tenant already has `max_pending` pending flows
    /// (not consumed, `expires_at` after the new flow's `created_at`): then writes nothing and
    /// answers [`InsertFlow::TooManyPending`]. Fails with [`StoreError::Duplicate`] if the id
    /// exists.
    ///
    /// The count must not cost a scan of every flow (SQL: an index over the tenant's pending
    /// flows, read at most `max_pending` entries deep). A store shared by several processes may
    /// let concurrent inserts overshoot the cap by the number of inserts in flight at once for
    /// the tenant; one process's inserts must keep it exactly.
    ///
    /// The flow is given by value: a store that keeps records in memory keeps this one as it
    /// is, without a copy.
    async fn insert_flow(&self, flow: PendingFlow, max_pending: u32) -> Result<InsertFlow, StoreError>;

    /// Binds a pending flow to a browser: sets `browser_binding` to `digest` if the flow
    /// exists, is not consumed, is not bound yet, and `now` is before its `expires_at`. A
    /// compare-and-set: of any number of concurrent calls for one flow (from any number of
    /// processes), at most one ever gets `true`; every later call gets `false`.
    async fn bind_flow(&self, id: &FlowId, digest: &[u8; 32], now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Reads a flow without consuming it.
    async fn get_flow(&self, id: &FlowId) -> Result<Option<PendingFlow>, StoreError>;

    /// Consumes a flow atomically: of any number of concurrent calls with one id, exactly
    /// one gets [`TakeFlow::Taken`] (SQL: `UPDATE … SET consumed_at = $now WHERE id = $id
    /// AND consumed_at IS NULL RETURNING …`). The consumed row stays until swept.
    async fn take_flow(&self, id: &FlowId, now: OffsetDateTime) -> Result<TakeFlow, StoreError>;

    /// The opt-in [`SelectionStore`], if this store implements it: `Some(self)`. Needed by
    /// every provider that lists publishable targets after consent; `ConnectBuilder::build`
    /// refuses such a provider with a store that answers `None`.
    ///
    fn selections(&self) -> Option<&dyn SelectionStore> {
        None
    }

    /// The opt-in [`LeaseStore`], if this store implements it: `Some(self)`. Without it the
    /// engine refreshes an account's token under an in-process lock only, which is correct
    /// for one app instance; several instances sharing the store may then refresh one
    /// account at once (and a provider that rotates refresh tokens may revoke one of them).
    fn lease(&self) -> Option<&dyn LeaseStore> {
        None
    }

    /// The opt-in [`MaintenanceStore`], if this store implements it: `Some(self)`. Without
    /// it expired flows are never swept by the engine (the store must expire them its own
    /// way) and `Connect::reseal_secrets` fails.
    fn maintenance(&self) -> Option<&dyn MaintenanceStore> {
        None
    }

    /// The opt-in [`ProviderStateStore`], if this store implements it: `Some(self)`. Needed
    /// by every provider that keeps state of its own (Mastodon: the client registered at each
    /// instance); `ConnectBuilder::build` refuses such a provider with a store that answers
    /// `None`.
    ///
    fn provider_state(&self) -> Option<&dyn ProviderStateStore> {
        None
    }
}

/// Opt-in: pending target selections (see [`Store::selections`]).
///
/// [`Store::delete_app`] need not touch selections: they expire within minutes.
#[async_trait]
pub trait SelectionStore: Send + Sync {
    /// Stores a new selection. Fails with [`StoreError::Duplicate`] if the id exists.
    async fn insert_selection(&self, selection: &SelectionRecord) -> Result<(), StoreError>;

    /// Reads one of the tenant's selections if it is still pending (not consumed) and
    /// `now` is before its `expires_at`; otherwise `None`.
    async fn get_selection(
        &self,
        tenant: &TenantId,
        id: &SelectionId,
        now: OffsetDateTime,
    ) -> Result<Option<SelectionRecord>, StoreError>;

    /// Consumes one of the tenant's pending, unexpired selections atomically: of any number
    /// of concurrent calls with one id, exactly one gets it (as it was before); the others,
    /// and every call for an expired, consumed, unknown or other tenant's selection, get
    /// `None`. The consumed row stays until swept.
    async fn take_selection(
        &self,
        tenant: &TenantId,
        id: &SelectionId,
        now: OffsetDateTime,
    ) -> Result<Option<SelectionRecord>, StoreError>;

    /// Deletes every selection (pending or consumed) whose `expires_at` is before `before`.
    /// Returns how many were deleted.
    async fn sweep_selections(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Opt-in: the cross-instance refresh lease on accounts (see [`Store::lease`]).
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the account's refresh lease for `holder` until `until`, as a compare-and-set
    /// on the account row: it succeeds when nobody holds the lease, when the lease ran out
    /// (its `until` is at or before `now`), or when `holder` already holds it (a renewal).
    /// Of any number of concurrent calls with different holders, at most one succeeds.
    /// Returns `false` when another holder has it, or there is no such account.
    ///
    /// The lease lets many app instances sharing one store refresh an account's tokens once:
    /// the holder refreshes and stores the new tokens, the others wait for the row to change.
    /// The lease is not part of [`AccountRecord`], and no other method changes it.
    async fn try_lease_account(
        &self,
        tenant: &TenantId,
        id: &AccountId,
        holder: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Gives the lease back, if `holder` holds it (otherwise does nothing).
    async fn release_account_lease(&self, tenant: &TenantId, id: &AccountId, holder: &str) -> Result<(), StoreError>;
}

/// Opt-in: maintenance over every tenant: the sweep of expired flows, and the walks and
/// compare-and-set swaps that re-seal secrets after a key rotation (see
/// [`Store::maintenance`]). Never exposed to tenants.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Deletes every flow (pending or consumed) whose `expires_at` is before `before`.
    /// Returns how many were deleted.
    async fn sweep_flows(&self, before: OffsetDateTime) -> Result<u64, StoreError>;

    /// Lists the apps of every tenant, ordered by (`created_at`, `id`), for maintenance
    /// walks such as re-encryption after a key rotation. Never exposed to tenants.
    async fn list_all_apps(&self, page: &PageRequest) -> Result<Page<AppRecord>, StoreError>;

    /// Lists the accounts of every tenant, ordered by (`connected_at`, `id`), for
    /// maintenance walks. Never exposed to tenants.
    async fn list_all_accounts(&self, page: &PageRequest) -> Result<Page<AccountRecord>, StoreError>;

    /// Replaces the app's sealed client secret with `new` if it is still byte for byte
    /// `current` (a compare-and-set, so a re-seal never overwrites a concurrent change).
    /// Changes nothing else, not even `updated_at`. Returns whether it replaced it.
    async fn swap_app_secret(
        &self,
        tenant: &TenantId,
        id: &AppId,
        current: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError>;

    /// Replaces the account's sealed tokens with `new` if both are still byte for byte
    /// `current` (a compare-and-set; an absent refresh token compares equal only to an
    /// absent one). Changes nothing else, not even `updated_at`. Returns whether it
    /// replaced them.
    async fn swap_account_tokens(
        &self,
        tenant: &TenantId,
        id: &AccountId,
        current: SealedTokens<'_>,
        new: SealedTokens<'_>,
    ) -> Result<bool, StoreError>;
}

/// Opt-in: provider state, a namespaced, sealed key–value collection for what one provider
/// needs beyond apps and accounts (see [`Store::provider_state`]).
///
/// Each entry belongs to one app of one tenant and is keyed by (tenant, app, namespace,
/// key): the namespace is the provider's id, the key the provider's own (Mastodon: the
/// instance's host and port, `mastodon.social`). The value is plain metadata, opaque to the
/// store, and a sealed secret part. [`Store::delete_app`] deletes the app's entries.
#[async_trait]
pub trait ProviderStateStore: Send + Sync {
    /// Stores the entry unless one is already stored under its (tenant, app, namespace, key):
    /// insert-if-absent, so two callers racing to create one keep one, and both then use it.
    /// Returns whether this call stored it.
    async fn insert_provider_state(&self, entry: &ProviderStateRecord) -> Result<bool, StoreError>;

    /// The entry stored under (tenant, app, namespace, key), if any.
    async fn get_provider_state(
        &self,
        tenant: &TenantId,
        app_id: &AppId,
        namespace: &ProviderId,
        key: &str,
    ) -> Result<Option<ProviderStateRecord>, StoreError>;

    /// Every entry of the app, in every namespace, ordered by (namespace, key): for
    /// re-sealing after a key rotation.
    async fn list_provider_state(
        &self,
        tenant: &TenantId,
        app_id: &AppId,
    ) -> Result<Vec<ProviderStateRecord>, StoreError>;

    /// Replaces the sealed part of `entry` (matched by tenant, app, namespace and key) with
    /// `new` if it is still byte for byte `entry.secret` (a compare-and-set). Changes nothing
    /// else. Returns whether it replaced it.
    async fn swap_provider_state_secret(&self, entry: &ProviderStateRecord, new: &Sealed) -> Result<bool, StoreError>;
}
