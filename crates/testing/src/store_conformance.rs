//! The public [`Store`] conformance suite: every store, built-in or third-party, runs it.
// Test code: a failed check panics, with the case's name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::future::Future;
use std::sync::{Arc, OnceLock};

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use dravo_connect_core::Secret;
use dravo_connect_core::provider::TargetType;
use dravo_connect_core::secret_box::{Sealed, SecretBox};
use dravo_connect_core::store::{
    AccountFilter, AccountRecord, AccountStatus, AppRecord, Cursor, DeleteApp, InsertAccount, InsertFlow, LeaseStore,
    MaintenanceStore, PageRequest, PendingFlow, ProviderStateRecord, ProviderStateStore, SealedTokens, SelectionRecord,
    SelectionStore, SelectionTarget, Store, StoreError, TakeFlow,
};
use dravo_connect_core::{AccountId, AppId, ExternalId, FlowId, KeyId, ProviderId, SelectionId, TenantId};

/// Runs the conformance cases against stores made by `make_store`, and panics on the first
/// failure with a message naming the case.
///
/// The cases come in sets, one per trait: the core [`Store`] cases always run; the cases of
/// each opt-in trait ([`SelectionStore`], [`LeaseStore`], [`MaintenanceStore`],
/// [`ProviderStateStore`]) run when the store announces it through its accessor
/// ([`Store::selections`], …), so a store that implements only `Store` passes with the core
/// set.
///
/// Each case gets a fresh, empty store from `make_store` and runs in its own
/// `tokio::spawn`ed task, so call this from inside a Tokio runtime (`#[tokio::test]`; the
/// multi-threaded flavour also exercises real parallelism in the concurrent-take case). The
/// cases cover every [`Store`] method and its not-found paths; tenant isolation on every
/// tenant-scoped method; `update_app` and `update_account` leaving the immutable fields
/// alone; `delete_app` refusing while accounts use the app, cascading, and always removing
/// the app's flows; the account identity rule (an absent external id is one value); list
/// order by (time, id), filters and cursor paging (nothing lost or repeated, no cursor after
/// the last page); sealed values round-tripping byte for byte; duplicate ids; the flow take
/// (exactly one of 50 concurrent takes wins); the browser binding (set once, a
/// compare-and-set: exactly one of 20 concurrent binds wins, never on a consumed or expired
/// flow); the per-tenant cap on pending flows (exact, per tenant, counting neither consumed nor
/// expired flows, freed by a take or an app's deletion). Then, per opt-in trait: target
/// selections (round trip with sealed tokens, expiry, tenant isolation, a single
/// consumption of 20 concurrent takes, the sweep); the refresh lease (a compare-and-set:
/// exactly one of 20 concurrent holders wins, renewals, release, expiry, tenant isolation);
/// maintenance (the flow sweep, the walks over every tenant's apps and accounts, and the
/// compare-and-set swaps of sealed secrets used by re-encryption); provider state
/// (insert-if-absent, one of 20 concurrent inserts kept, keys per tenant, app and
/// namespace, the list, the compare-and-set swap, deletion with the app).
///
/// All times the suite writes are whole seconds in UTC, the precision stores keep.
///
/// ```
/// use dravo_connect_core::store::MemoryStore;
/// use dravo_connect_testing::store_conformance;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// store_conformance(|| async { MemoryStore::new() }).await;
/// # });
/// ```
///
/// # Panics
/// When a case fails: that is the point.
pub async fn store_conformance<F, Fut, S>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    macro_rules! cases {
        ($($case:ident),+ $(,)?) => {
            $( run_case(stringify!($case), make_store().await, $case::<S>).await; )+
        };
    }
    // Which opt-in traits the store announces: their case sets run only then.
    let (has_selections, has_lease, has_maintenance, has_provider_state) = {
        let probe = make_store().await;
        (
            probe.selections().is_some(),
            probe.lease().is_some(),
            probe.maintenance().is_some(),
            probe.provider_state().is_some(),
        )
    };
    // `Store`: apps, accounts, flows.
    cases!(
        app_round_trips_byte_for_byte,
        unknown_ids_are_not_found,
        inserting_an_existing_app_id_is_duplicate,
        apps_of_one_tenant_are_invisible_to_another,
        update_app_changes_only_the_mutable_fields,
        list_apps_orders_filters_and_pages,
        delete_app_of_an_unknown_app_is_not_found,
        delete_app_without_cascade_refuses_while_accounts_use_it,
        delete_app_with_cascade_deletes_its_accounts_and_flows,
        delete_app_without_accounts_deletes_its_flows,
        account_round_trips_byte_for_byte,
        inserting_an_existing_account_id_is_duplicate,
        an_existing_identity_is_returned_and_nothing_is_written,
        identity_treats_a_missing_external_id_as_one_value,
        find_account_matches_the_whole_identity,
        update_account_changes_only_the_mutable_fields,
        delete_account_removes_it_and_frees_its_identity,
        accounts_of_one_tenant_are_invisible_to_another,
        list_accounts_orders_filters_and_pages,
        list_accounts_pages_through_more_than_a_hundred,
        flow_round_trips_byte_for_byte,
        inserting_an_existing_flow_id_is_duplicate,
        take_flow_takes_once_then_reports_already_consumed,
        concurrent_inserts_of_one_identity_make_one_account,
        concurrent_takes_of_one_flow_have_exactly_one_winner,
        bind_flow_binds_a_pending_flow_once,
        concurrent_binds_of_one_flow_have_exactly_one_winner,
        insert_flow_keeps_each_tenant_under_its_pending_cap,
        insert_flow_counts_only_pending_flows_toward_the_cap,
    );
    if has_selections {
        cases!(
            selection_round_trips_and_is_read_only_by_its_tenant_until_it_expires,
            take_selection_consumes_once,
            concurrent_takes_of_one_selection_have_exactly_one_winner,
            sweep_selections_deletes_those_that_expired_before_the_cutoff,
        );
    }
    if has_lease {
        cases!(
            a_lease_is_held_by_one_holder_until_released_or_run_out,
            a_lease_is_per_account_and_tenant,
            a_lease_outlives_account_updates_and_goes_with_the_account,
            concurrent_leases_of_one_account_have_exactly_one_winner,
        );
    }
    if has_maintenance {
        cases!(
            sweep_deletes_flows_that_expired_before_the_cutoff,
            list_all_apps_walks_every_tenant_in_order,
            list_all_accounts_walks_every_tenant_in_order,
            swap_app_secret_is_a_compare_and_set,
            swap_account_tokens_is_a_compare_and_set,
        );
    }
    if has_provider_state {
        cases!(
            provider_state_round_trips_and_is_insert_if_absent,
            concurrent_inserts_of_one_provider_state_key_keep_one,
            delete_app_deletes_its_provider_state,
            provider_state_is_listed_per_app_and_its_secret_swapped_by_compare_and_set,
        );
    }
}

/// Runs one case in its own task, turning a panic into one that names the case.
async fn run_case<S, C, CF>(name: &'static str, store: S, case: C)
where
    S: Store,
    C: FnOnce(Arc<S>) -> CF,
    CF: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(case(Arc::new(store))).await;
    if let Err(e) = outcome {
        let reason = if e.is_panic() {
            let payload = e.into_panic();
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned())
        } else {
            "the task was cancelled".to_owned()
        };
        panic!("store conformance case `{name}` failed: {reason}");
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures. Times are whole seconds from a fixed base; secrets are really sealed.

const BASE: OffsetDateTime = datetime!(2025-01-01 00:00:00 UTC);

fn at(secs: i64) -> OffsetDateTime {
    BASE + Duration::seconds(secs)
}

fn secret_box() -> &'static SecretBox {
    static BOX: OnceLock<SecretBox> = OnceLock::new();
    BOX.get_or_init(|| {
        SecretBox::new([(KeyId::zero(), Secret::new(vec![7u8; 32]))]).expect("a 32-byte key makes a secret box")
    })
}

fn seal(row_id: &str, field: &str, plaintext: &str) -> Sealed {
    secret_box().seal(row_id, field, plaintext.as_bytes())
}

fn tenant(s: &str) -> TenantId {
    s.parse().unwrap()
}

fn provider(s: &str) -> ProviderId {
    s.parse().unwrap()
}

fn ext(s: &str) -> ExternalId {
    s.parse().unwrap()
}

fn app(tenant: &TenantId, provider: &ProviderId, created: i64) -> AppRecord {
    let id = AppId::generate();
    let secret = seal(id.as_str(), "client_secret", "client-secret-value");
    let mut app = AppRecord::new(id, tenant.clone(), provider.clone(), "client-id-123", secret, at(created));
    app.name = Some("My app".to_owned());
    app.allowed_return_urls = vec!["https://app.example.com/connect".to_owned(), "http://localhost:3000/".to_owned()];
    app.scopes = vec!["read".to_owned(), "write".to_owned()];
    app
}

fn account(
    tenant: &TenantId,
    provider: &ProviderId,
    app_id: Option<&AppId>,
    provider_account_id: &str,
    external_id: Option<&str>,
    connected: i64,
) -> AccountRecord {
    let id = AccountId::generate();
    let access_token = seal(id.as_str(), "access_token", "access-token-value");
    let refresh_token = seal(id.as_str(), "refresh_token", "refresh-token-value");
    let mut account =
        AccountRecord::new(id, tenant.clone(), provider.clone(), provider_account_id, access_token, at(connected));
    account.refresh_token = Some(refresh_token);
    account.app_id = app_id.cloned();
    account.username = Some("someone".to_owned());
    account.display_name = Some("Someone Ü".to_owned());
    account.avatar_url = Some("https://cdn.example.com/a.png".to_owned());
    account.scopes = vec!["read".to_owned()];
    account.external_id = external_id.map(ext);
    account.token_expires_at = Some(at(connected + 3600));
    account
}

fn selection(tenant: &TenantId, created: i64, expires: i64) -> SelectionRecord {
    let id = SelectionId::generate();
    let mut page = SelectionTarget::new("page-1", TargetType::Page);
    page.username = Some("bakery".to_owned());
    page.display_name = Some("Bakery Ü".to_owned());
    page.avatar_url = Some("https://cdn.example.com/p.png".to_owned());
    page.access_token = Some(seal(id.as_str(), "target_access_token:page-1", "page-token-value"));
    let instagram = SelectionTarget::new("page-2", TargetType::InstagramAccount);
    let mut selection = SelectionRecord::new(
        id,
        tenant.clone(),
        provider("facebook"),
        AccountId::generate(),
        vec![page, instagram],
        at(created),
        at(expires),
    );
    selection.app_id = Some(AppId::generate());
    selection.external_id = Some(ext("user-42"));
    selection
}

fn flow(app: &AppRecord, created: i64, expires: i64) -> PendingFlow {
    let id = FlowId::generate();
    let verifier = seal(&id.to_string(), "pkce_verifier", "pkce-verifier-value-0123456789-0123456789-abc");
    let redirect_uri = format!("https://api.example.com/v1/oauth/{}/callback", app.provider);
    let return_url = "https://app.example.com/connect/done?step=2";
    let mut flow = PendingFlow::new(
        id,
        app.tenant.clone(),
        app.id.clone(),
        app.provider.clone(),
        return_url,
        redirect_uri,
        at(created),
        at(expires),
    );
    flow.pkce_verifier = Some(verifier);
    flow.scopes = vec!["read".to_owned()];
    flow.external_id = Some(ext("user-42"));
    flow
}

fn entry(app: &AppRecord, namespace: &str, key: &str, client_id: &str) -> ProviderStateRecord {
    ProviderStateRecord::new(
        app.tenant.clone(),
        app.id.clone(),
        provider(namespace),
        key,
        format!(r#"{{"client_id":"{client_id}"}}"#),
        seal(&format!("{}@{key}", app.id), "client_secret", "instance-secret-value"),
        at(5),
    )
}

/// The store's opt-in traits, for the case sets that run only when it announces them.
fn selections<S: Store>(store: &S) -> &dyn SelectionStore {
    store.selections().expect("the selection cases run only on a store with a SelectionStore")
}

fn lease<S: Store>(store: &S) -> &dyn LeaseStore {
    store.lease().expect("the lease cases run only on a store with a LeaseStore")
}

fn maint<S: Store>(store: &S) -> &dyn MaintenanceStore {
    store.maintenance().expect("the maintenance cases run only on a store with a MaintenanceStore")
}

fn state<S: Store>(store: &S) -> &dyn ProviderStateStore {
    store.provider_state().expect("the provider-state cases run only on a store with a ProviderStateStore")
}

fn page(limit: u32, after: Option<Cursor>) -> PageRequest {
    PageRequest { limit, after }
}

/// The list order: (time in seconds, id).
fn app_key(a: &AppRecord) -> (i64, String) {
    (a.created_at.unix_timestamp(), a.id.to_string())
}

fn account_key(a: &AccountRecord) -> (i64, String) {
    (a.connected_at.unix_timestamp(), a.id.to_string())
}

/// Walks every page of the tenant's apps with `limit`, checking each page's shape.
async fn walk_apps<S: Store>(
    store: &S,
    tenant: &TenantId,
    provider: Option<&ProviderId>,
    limit: u32,
) -> Vec<AppRecord> {
    let mut all = Vec::new();
    let mut after = None;
    for _ in 0..1000 {
        let p = store.list_apps(tenant, provider, &page(limit, after.clone())).await.unwrap();
        assert!(p.items.len() <= limit as usize, "list_apps returned {} items for limit {limit}", p.items.len());
        let Some(next) = p.next else {
            all.extend(p.items);
            return all;
        };
        assert_eq!(p.items.len(), limit as usize, "list_apps: a page followed by another must be full (limit {limit})");
        let last = p.items.last().unwrap();
        assert_eq!(
            next,
            Cursor { created_at: last.created_at.unix_timestamp(), id: last.id.to_string() },
            "list_apps: the cursor must name the page's last item"
        );
        all.extend(p.items);
        after = Some(next);
    }
    panic!("list_apps never reached a last page (limit {limit})");
}

/// Walks every page of the tenant's accounts with `limit`, checking each page's shape.
async fn walk_accounts<S: Store>(
    store: &S,
    tenant: &TenantId,
    filter: &AccountFilter,
    limit: u32,
) -> Vec<AccountRecord> {
    let mut all = Vec::new();
    let mut after = None;
    for _ in 0..1000 {
        let p = store.list_accounts(tenant, filter, &page(limit, after.clone())).await.unwrap();
        assert!(p.items.len() <= limit as usize, "list_accounts returned {} items for limit {limit}", p.items.len());
        let Some(next) = p.next else {
            all.extend(p.items);
            return all;
        };
        assert_eq!(
            p.items.len(),
            limit as usize,
            "list_accounts: a page followed by another must be full (limit {limit})"
        );
        let last = p.items.last().unwrap();
        assert_eq!(
            next,
            Cursor { created_at: last.connected_at.unix_timestamp(), id: last.id.to_string() },
            "list_accounts: the cursor must name the page's last item"
        );
        all.extend(p.items);
        after = Some(next);
    }
    panic!("list_accounts never reached a last page (limit {limit})");
}

fn app_ids(apps: &[AppRecord]) -> Vec<String> {
    apps.iter().map(|a| a.id.to_string()).collect()
}

fn account_ids(accounts: &[AccountRecord]) -> Vec<String> {
    accounts.iter().map(|a| a.id.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// Apps

async fn app_round_trips_byte_for_byte<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let full = app(&t, &provider("x"), 10);
    let mut bare = app(&t, &provider("linkedin"), 11);
    bare.name = None;
    bare.scopes = Vec::new();
    bare.allowed_return_urls = vec!["https://only.example.com/".to_owned()];
    store.insert_app(&full).await.unwrap();
    store.insert_app(&bare).await.unwrap();

    let got = store.get_app(&t, &full.id).await.unwrap();
    assert_eq!(got.as_ref(), Some(&full), "get_app returns what was inserted");
    assert_eq!(
        got.unwrap().client_secret.as_bytes(),
        full.client_secret.as_bytes(),
        "the sealed client secret comes back byte for byte"
    );
    assert_eq!(store.get_app(&t, &bare.id).await.unwrap(), Some(bare));
}

async fn unknown_ids_are_not_found<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    assert_eq!(store.get_app(&t, &AppId::generate()).await.unwrap(), None);
    assert_eq!(store.get_account(&t, &AccountId::generate()).await.unwrap(), None);
    assert_eq!(store.get_flow(&FlowId::generate()).await.unwrap(), None);
    assert!(!store.update_app(&app(&t, &provider("x"), 0)).await.unwrap(), "update_app of an unknown app is false");
    let acc = account(&t, &provider("x"), None, "1", None, 0);
    assert!(!store.update_account(&acc).await.unwrap());
    assert!(!store.delete_account(&t, &acc.id).await.unwrap());
    assert_eq!(store.find_account(&t, &provider("x"), "1", None).await.unwrap(), None);
    assert_eq!(store.take_flow(&FlowId::generate(), at(0)).await.unwrap(), TakeFlow::Missing);
    let apps = store.list_apps(&t, None, &PageRequest::default()).await.unwrap();
    assert!(apps.items.is_empty() && apps.next.is_none());
    let accounts = store.list_accounts(&t, &AccountFilter::default(), &PageRequest::default()).await.unwrap();
    assert!(accounts.items.is_empty() && accounts.next.is_none());
}

async fn inserting_an_existing_app_id_is_duplicate<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("x"), 0);
    store.insert_app(&a).await.unwrap();
    let mut again = a.clone();
    again.client_id = "another".to_owned();
    assert!(
        matches!(store.insert_app(&again).await, Err(StoreError::Duplicate)),
        "re-inserting an app id is StoreError::Duplicate"
    );
    again.tenant = tenant("tenant-b");
    assert!(matches!(store.insert_app(&again).await, Err(StoreError::Duplicate)), "an app id is unique across tenants");
    assert_eq!(store.get_app(&a.tenant, &a.id).await.unwrap(), Some(a));
    assert_eq!(store.get_app(&again.tenant, &again.id).await.unwrap(), None);
}

async fn apps_of_one_tenant_are_invisible_to_another<S: Store>(store: Arc<S>) {
    let (ta, tb) = (tenant("tenant-a"), tenant("tenant-b"));
    let a = app(&ta, &provider("x"), 0);
    store.insert_app(&a).await.unwrap();

    assert_eq!(store.get_app(&tb, &a.id).await.unwrap(), None);
    let listed = store.list_apps(&tb, None, &PageRequest::default()).await.unwrap();
    assert!(listed.items.is_empty(), "tenant B lists none of A's apps");
    let listed = store.list_apps(&tb, Some(&a.provider), &PageRequest::default()).await.unwrap();
    assert!(listed.items.is_empty());
    let mut hijack = a.clone();
    hijack.tenant = tb.clone();
    hijack.client_id = "hijacked".to_owned();
    assert!(!store.update_app(&hijack).await.unwrap(), "tenant B cannot update A's app");
    assert_eq!(
        store.delete_app(&tb, &a.id, true).await.unwrap(),
        DeleteApp::NotFound,
        "tenant B cannot delete A's app"
    );
    assert_eq!(store.get_app(&ta, &a.id).await.unwrap(), Some(a));
}

async fn update_app_changes_only_the_mutable_fields<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let original = app(&t, &provider("x"), 100);
    store.insert_app(&original).await.unwrap();

    let mut changed = original.clone();
    changed.name = None;
    changed.client_id = "new-client-id".to_owned();
    changed.client_secret = seal(original.id.as_str(), "client_secret", "new-secret");
    changed.allowed_return_urls = vec!["https://new.example.com/cb".to_owned()];
    changed.scopes = vec!["tweet.read".to_owned()];
    changed.updated_at = at(200);
    // Not changeable through update_app:
    changed.provider = provider("linkedin");
    changed.created_at = at(150);
    assert!(store.update_app(&changed).await.unwrap());

    let mut expected = changed.clone();
    expected.provider = original.provider.clone();
    expected.created_at = original.created_at;
    assert_eq!(
        store.get_app(&t, &original.id).await.unwrap(),
        Some(expected),
        "update_app keeps id, tenant, provider and created_at and replaces the rest"
    );
}

async fn list_apps_orders_filters_and_pages<S: Store>(store: Arc<S>) {
    let (ta, tb) = (tenant("tenant-a"), tenant("tenant-b"));
    let (x, y) = (provider("x"), provider("y"));
    let mut inserted = Vec::new();
    // Out of order, with ties on the time (broken by id).
    for (i, created) in [5, 1, 3, 1, 5, 2, 9, 1, 5, 0, 7, 3].into_iter().enumerate() {
        let p = if i % 3 == 0 { &y } else { &x };
        let a = app(&ta, p, created);
        store.insert_app(&a).await.unwrap();
        inserted.push(a);
    }
    store.insert_app(&app(&tb, &x, 4)).await.unwrap();

    let mut expected = inserted.clone();
    expected.sort_by_key(app_key);
    let first = store.list_apps(&ta, None, &PageRequest::default()).await.unwrap();
    assert_eq!(first.items, expected, "list_apps is ordered by (created_at, id) and holds only the tenant's apps");
    assert_eq!(first.next, None, "a list that fits one page has no next cursor");

    for limit in [1, 2, 5, 12, 100] {
        let walked = walk_apps(&*store, &ta, None, limit).await;
        assert_eq!(app_ids(&walked), app_ids(&expected), "paging apps with limit {limit} loses or repeats nothing");
    }

    let only_x: Vec<AppRecord> = expected.iter().filter(|a| a.provider == x).cloned().collect();
    for limit in [1, 3, 100] {
        let walked = walk_apps(&*store, &ta, Some(&x), limit).await;
        assert_eq!(app_ids(&walked), app_ids(&only_x), "list_apps filtered by provider, limit {limit}");
    }
    let none = store.list_apps(&ta, Some(&provider("z")), &PageRequest::default()).await.unwrap();
    assert!(none.items.is_empty());
}

async fn delete_app_of_an_unknown_app_is_not_found<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    assert_eq!(store.delete_app(&t, &AppId::generate(), false).await.unwrap(), DeleteApp::NotFound);
    assert_eq!(store.delete_app(&t, &AppId::generate(), true).await.unwrap(), DeleteApp::NotFound);
}

async fn delete_app_without_cascade_refuses_while_accounts_use_it<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let a = app(&t, &provider("x"), 0);
    store.insert_app(&a).await.unwrap();
    let acc = account(&t, &a.provider, Some(&a.id), "1", None, 1);
    store.insert_account(&acc).await.unwrap();
    let f = flow(&a, 2, 600);
    store.insert_flow(f.clone(), u32::MAX).await.unwrap();

    assert_eq!(store.delete_app(&t, &a.id, false).await.unwrap(), DeleteApp::InUse);
    assert_eq!(store.get_app(&t, &a.id).await.unwrap(), Some(a), "InUse deletes nothing: the app stays");
    assert_eq!(store.get_account(&t, &acc.id).await.unwrap(), Some(acc));
    assert_eq!(store.get_flow(&f.id).await.unwrap(), Some(f), "InUse deletes nothing: the flow stays");
}

async fn delete_app_with_cascade_deletes_its_accounts_and_flows<S: Store>(store: Arc<S>) {
    let (ta, tb) = (tenant("tenant-a"), tenant("tenant-b"));
    let x = provider("x");
    let doomed = app(&ta, &x, 0);
    let kept = app(&ta, &x, 1);
    let other_tenant = app(&tb, &x, 2);
    for a in [&doomed, &kept, &other_tenant] {
        store.insert_app(a).await.unwrap();
    }
    let gone1 = account(&ta, &x, Some(&doomed.id), "1", None, 3);
    let gone2 = account(&ta, &x, Some(&doomed.id), "2", Some("u2"), 4);
    let stays_other_app = account(&ta, &x, Some(&kept.id), "3", None, 5);
    let stays_no_app = account(&ta, &x, None, "4", None, 6);
    let stays_other_tenant = account(&tb, &x, Some(&other_tenant.id), "1", None, 7);
    for acc in [&gone1, &gone2, &stays_other_app, &stays_no_app, &stays_other_tenant] {
        assert_eq!(store.insert_account(acc).await.unwrap(), InsertAccount::Inserted);
    }
    let pending = flow(&doomed, 8, 600);
    let consumed = flow(&doomed, 9, 600);
    let stays_flow = flow(&kept, 10, 600);
    for f in [&pending, &consumed, &stays_flow] {
        store.insert_flow(f.clone(), u32::MAX).await.unwrap();
    }
    assert!(matches!(store.take_flow(&consumed.id, at(11)).await.unwrap(), TakeFlow::Taken(_)));

    assert_eq!(
        store.delete_app(&ta, &doomed.id, true).await.unwrap(),
        DeleteApp::Deleted { accounts_deleted: 2 },
        "a cascading delete reports how many accounts went with the app"
    );
    assert_eq!(store.get_app(&ta, &doomed.id).await.unwrap(), None);
    assert_eq!(store.get_account(&ta, &gone1.id).await.unwrap(), None);
    assert_eq!(store.get_account(&ta, &gone2.id).await.unwrap(), None);
    assert_eq!(store.get_flow(&pending.id).await.unwrap(), None, "the app's pending flows are gone");
    assert_eq!(store.get_flow(&consumed.id).await.unwrap(), None);
    assert_eq!(
        store.take_flow(&pending.id, at(12)).await.unwrap(),
        TakeFlow::Missing,
        "a flow whose app was deleted is Missing"
    );

    assert_eq!(store.get_app(&ta, &kept.id).await.unwrap(), Some(kept));
    assert_eq!(store.get_app(&tb, &other_tenant.id).await.unwrap(), Some(other_tenant));
    assert_eq!(store.get_account(&ta, &stays_other_app.id).await.unwrap(), Some(stays_other_app));
    assert_eq!(store.get_account(&ta, &stays_no_app.id).await.unwrap(), Some(stays_no_app));
    assert_eq!(store.get_account(&tb, &stays_other_tenant.id).await.unwrap(), Some(stays_other_tenant));
    assert_eq!(store.get_flow(&stays_flow.id).await.unwrap(), Some(stays_flow));

    // The deleted accounts' identities are free again.
    let mut again = account(&ta, &x, None, "1", None, 20);
    assert_eq!(store.insert_account(&again).await.unwrap(), InsertAccount::Inserted);
    again = account(&ta, &x, None, "2", Some("u2"), 21);
    assert_eq!(store.insert_account(&again).await.unwrap(), InsertAccount::Inserted);
}

async fn delete_app_without_accounts_deletes_its_flows<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let a = app(&t, &provider("x"), 0);
    store.insert_app(&a).await.unwrap();
    let f = flow(&a, 1, 600);
    store.insert_flow(f.clone(), u32::MAX).await.unwrap();

    assert_eq!(store.delete_app(&t, &a.id, false).await.unwrap(), DeleteApp::Deleted { accounts_deleted: 0 });
    assert_eq!(store.get_app(&t, &a.id).await.unwrap(), None);
    assert_eq!(store.get_flow(&f.id).await.unwrap(), None, "deleting an app cancels its pending flows");
    assert_eq!(store.delete_app(&t, &a.id, false).await.unwrap(), DeleteApp::NotFound, "a deleted app is not found");
}

// ---------------------------------------------------------------------------------------
// Accounts

async fn account_round_trips_byte_for_byte<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let a = app(&t, &provider("x"), 0);
    let full = account(&t, &a.provider, Some(&a.id), "123", Some("user-1"), 10);
    let mut bare = account(&t, &provider("y"), None, "456", None, 11);
    bare.username = None;
    bare.display_name = None;
    bare.avatar_url = None;
    bare.scopes = Vec::new();
    bare.status = AccountStatus::Revoked;
    bare.refresh_token = None;
    bare.token_expires_at = None;
    let mut expired = account(&t, &provider("y"), None, "789", None, 12);
    expired.status = AccountStatus::Expired;
    expired.target_type = TargetType::Board;
    expired.parent_account_id = Some(bare.id.clone());
    for acc in [&full, &bare, &expired] {
        assert_eq!(store.insert_account(acc).await.unwrap(), InsertAccount::Inserted);
    }

    let got = store.get_account(&t, &full.id).await.unwrap().unwrap();
    assert_eq!(got, full, "get_account returns what was inserted");
    assert_eq!(got.access_token.as_bytes(), full.access_token.as_bytes());
    assert_eq!(
        got.refresh_token.as_ref().map(Sealed::as_bytes),
        full.refresh_token.as_ref().map(Sealed::as_bytes),
        "sealed tokens come back byte for byte"
    );
    assert_eq!(store.get_account(&t, &bare.id).await.unwrap(), Some(bare));
    assert_eq!(store.get_account(&t, &expired.id).await.unwrap(), Some(expired));
}

async fn inserting_an_existing_account_id_is_duplicate<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let first = account(&t, &provider("x"), None, "1", None, 0);
    store.insert_account(&first).await.unwrap();
    let mut clash = account(&t, &provider("x"), None, "2", None, 1);
    clash.id = first.id.clone();
    assert!(
        matches!(store.insert_account(&clash).await, Err(StoreError::Duplicate)),
        "an account with a new identity but an existing id is StoreError::Duplicate"
    );
    assert_eq!(store.get_account(&t, &first.id).await.unwrap(), Some(first));
    assert_eq!(store.find_account(&t, &provider("x"), "2", None).await.unwrap(), None);
}

async fn an_existing_identity_is_returned_and_nothing_is_written<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let x = provider("x");
    let first = account(&t, &x, None, "42", None, 0);
    assert_eq!(store.insert_account(&first).await.unwrap(), InsertAccount::Inserted);
    let mut second = account(&t, &x, None, "42", None, 5);
    second.username = Some("changed".to_owned());
    assert_eq!(
        store.insert_account(&second).await.unwrap(),
        InsertAccount::Exists(first.clone()),
        "the same (tenant, provider, provider account id, no external id) is Exists"
    );
    assert_eq!(store.get_account(&t, &second.id).await.unwrap(), None);
    assert_eq!(store.get_account(&t, &first.id).await.unwrap(), Some(first));

    let with_ext = account(&t, &x, None, "42", Some("user-1"), 6);
    assert_eq!(store.insert_account(&with_ext).await.unwrap(), InsertAccount::Inserted);
    let with_ext_again = account(&t, &x, None, "42", Some("user-1"), 7);
    assert_eq!(
        store.insert_account(&with_ext_again).await.unwrap(),
        InsertAccount::Exists(with_ext),
        "the same identity with an external id is Exists too"
    );
    let all = store.list_accounts(&t, &AccountFilter::default(), &PageRequest::default()).await.unwrap();
    assert_eq!(all.items.len(), 2, "nothing was written for an existing identity");
}

async fn identity_treats_a_missing_external_id_as_one_value<S: Store>(store: Arc<S>) {
    let (ta, tb) = (tenant("tenant-a"), tenant("tenant-b"));
    let (x, y) = (provider("x"), provider("y"));
    let distinct = [
        account(&ta, &x, None, "42", None, 0),
        account(&ta, &x, None, "42", Some("user-1"), 1),
        account(&ta, &x, None, "42", Some("user-2"), 2),
        account(&ta, &y, None, "42", None, 3),
        account(&ta, &x, None, "43", None, 4),
        account(&tb, &x, None, "42", None, 5),
    ];
    for acc in &distinct {
        assert_eq!(
            store.insert_account(acc).await.unwrap(),
            InsertAccount::Inserted,
            "an identity differing in one part is a new account"
        );
    }
    for acc in &distinct {
        let mut again = account(
            &acc.tenant,
            &acc.provider,
            None,
            &acc.provider_account_id,
            acc.external_id.as_ref().map(ExternalId::as_str),
            9,
        );
        again.username = Some("someone else".to_owned());
        assert_eq!(
            store.insert_account(&again).await.unwrap(),
            InsertAccount::Exists(acc.clone()),
            "each identity exists exactly once"
        );
    }
}

async fn find_account_matches_the_whole_identity<S: Store>(store: Arc<S>) {
    let (ta, tb) = (tenant("tenant-a"), tenant("tenant-b"));
    let x = provider("x");
    let plain = account(&ta, &x, None, "42", None, 0);
    let attributed = account(&ta, &x, None, "42", Some("user-1"), 1);
    store.insert_account(&plain).await.unwrap();
    store.insert_account(&attributed).await.unwrap();

    assert_eq!(
        store.find_account(&ta, &x, "42", None).await.unwrap(),
        Some(plain),
        "find_account with no external id finds the account without one"
    );
    assert_eq!(
        store.find_account(&ta, &x, "42", Some(&ext("user-1"))).await.unwrap(),
        Some(attributed),
        "find_account with an external id finds that account"
    );
    assert_eq!(store.find_account(&ta, &x, "42", Some(&ext("user-2"))).await.unwrap(), None);
    assert_eq!(store.find_account(&ta, &x, "43", None).await.unwrap(), None);
    assert_eq!(store.find_account(&ta, &provider("y"), "42", None).await.unwrap(), None);
    assert_eq!(
        store.find_account(&tb, &x, "42", None).await.unwrap(),
        None,
        "find_account never finds another tenant's account"
    );
}

async fn update_account_changes_only_the_mutable_fields<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let a = app(&t, &provider("x"), 0);
    let original = account(&t, &a.provider, None, "42", Some("user-1"), 10);
    store.insert_account(&original).await.unwrap();

    let mut changed = original.clone();
    changed.app_id = Some(a.id.clone());
    changed.username = Some("renamed".to_owned());
    changed.display_name = None;
    changed.avatar_url = Some("https://cdn.example.com/b.png".to_owned());
    changed.scopes = vec!["read".to_owned(), "write".to_owned()];
    changed.status = AccountStatus::Expired;
    changed.access_token = seal(original.id.as_str(), "access_token", "new-access");
    changed.refresh_token = None;
    changed.token_expires_at = None;
    changed.updated_at = at(99);
    changed.target_type = TargetType::Page;
    changed.parent_account_id = Some(AccountId::generate());
    // Not changeable through update_account:
    changed.provider = provider("y");
    changed.provider_account_id = "other".to_owned();
    changed.external_id = Some(ext("user-2"));
    changed.connected_at = at(50);
    assert!(store.update_account(&changed).await.unwrap());

    let mut expected = changed.clone();
    expected.provider = original.provider.clone();
    expected.provider_account_id = original.provider_account_id.clone();
    expected.external_id = original.external_id.clone();
    expected.connected_at = original.connected_at;
    assert_eq!(
        store.get_account(&t, &original.id).await.unwrap(),
        Some(expected.clone()),
        "update_account replaces app, profile, scopes, status, tokens, expiry and updated_at only"
    );
    assert_eq!(
        store.find_account(&t, &original.provider, "42", Some(&ext("user-1"))).await.unwrap(),
        Some(expected),
        "the identity is unchanged"
    );

    let mut back = changed.clone();
    back.refresh_token = Some(seal(original.id.as_str(), "refresh_token", "r2"));
    back.token_expires_at = Some(at(7200));
    back.status = AccountStatus::Active;
    assert!(store.update_account(&back).await.unwrap());
    let got = store.get_account(&t, &original.id).await.unwrap().unwrap();
    assert_eq!(got.refresh_token, back.refresh_token);
    assert_eq!(got.token_expires_at, back.token_expires_at);
    assert_eq!(got.status, AccountStatus::Active);
}

async fn delete_account_removes_it_and_frees_its_identity<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let x = provider("x");
    let acc = account(&t, &x, None, "42", None, 0);
    let other = account(&t, &x, None, "43", None, 1);
    store.insert_account(&acc).await.unwrap();
    store.insert_account(&other).await.unwrap();

    assert!(store.delete_account(&t, &acc.id).await.unwrap());
    assert_eq!(store.get_account(&t, &acc.id).await.unwrap(), None);
    assert_eq!(store.find_account(&t, &x, "42", None).await.unwrap(), None);
    assert!(!store.delete_account(&t, &acc.id).await.unwrap(), "deleting a deleted account is false");
    assert_eq!(store.get_account(&t, &other.id).await.unwrap(), Some(other));

    let reconnected = account(&t, &x, None, "42", None, 2);
    assert_eq!(
        store.insert_account(&reconnected).await.unwrap(),
        InsertAccount::Inserted,
        "a deleted account's identity can be connected again"
    );
}

async fn accounts_of_one_tenant_are_invisible_to_another<S: Store>(store: Arc<S>) {
    let (ta, tb) = (tenant("tenant-a"), tenant("tenant-b"));
    let x = provider("x");
    let acc = account(&ta, &x, None, "42", Some("user-1"), 0);
    store.insert_account(&acc).await.unwrap();

    assert_eq!(store.get_account(&tb, &acc.id).await.unwrap(), None);
    let listed = store.list_accounts(&tb, &AccountFilter::default(), &PageRequest::default()).await.unwrap();
    assert!(listed.items.is_empty(), "tenant B lists none of A's accounts");
    let listed = store
        .list_accounts(
            &tb,
            &AccountFilter::default().provider(x.clone()).external_id(ext("user-1")),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    assert_eq!(store.find_account(&tb, &x, "42", Some(&ext("user-1"))).await.unwrap(), None);
    let mut hijack = acc.clone();
    hijack.tenant = tb.clone();
    hijack.username = Some("hijacked".to_owned());
    assert!(!store.update_account(&hijack).await.unwrap(), "tenant B cannot update A's account");
    assert!(!store.delete_account(&tb, &acc.id).await.unwrap(), "tenant B cannot delete A's account");
    assert_eq!(store.get_account(&ta, &acc.id).await.unwrap(), Some(acc));
}

async fn list_accounts_orders_filters_and_pages<S: Store>(store: Arc<S>) {
    let (ta, tb) = (tenant("tenant-a"), tenant("tenant-b"));
    let (x, y) = (provider("x"), provider("y"));
    let mut inserted = Vec::new();
    for (i, connected) in [4, 1, 4, 0, 2, 4, 1, 3, 0, 2].into_iter().enumerate() {
        let p = if i % 2 == 0 { &x } else { &y };
        let e = match i % 3 {
            0 => None,
            1 => Some("user-1"),
            _ => Some("user-2"),
        };
        let acc = account(&ta, p, None, &format!("pa-{i}"), e, connected);
        store.insert_account(&acc).await.unwrap();
        inserted.push(acc);
    }
    store.insert_account(&account(&tb, &x, None, "pa-0", Some("user-1"), 2)).await.unwrap();
    let mut expected = inserted.clone();
    expected.sort_by_key(account_key);

    let all = store.list_accounts(&ta, &AccountFilter::default(), &PageRequest::default()).await.unwrap();
    assert_eq!(
        all.items, expected,
        "list_accounts is ordered by (connected_at, id) and holds only the tenant's accounts"
    );
    assert_eq!(all.next, None);

    let filters = [
        AccountFilter::default(),
        AccountFilter::default().provider(x.clone()),
        AccountFilter::default().external_id(ext("user-1")),
        AccountFilter::default().provider(y.clone()).external_id(ext("user-2")),
        AccountFilter::default().provider(provider("z")),
        AccountFilter::default().external_id(ext("nobody")),
    ];
    for filter in &filters {
        let want: Vec<AccountRecord> = expected
            .iter()
            .filter(|a| {
                filter.provider.as_ref().is_none_or(|p| a.provider == *p)
                    && filter.external_id.as_ref().is_none_or(|e| a.external_id.as_ref() == Some(e))
            })
            .cloned()
            .collect();
        for limit in [1, 3, 100] {
            let walked = walk_accounts(&*store, &ta, filter, limit).await;
            assert_eq!(walked, want, "list_accounts with {filter:?}, limit {limit}: right items, in order, once each");
        }
    }

    // A cursor is a position: it still works after its item is deleted.
    let first_two = store.list_accounts(&ta, &AccountFilter::default(), &page(2, None)).await.unwrap();
    let cursor = first_two.next.clone().unwrap();
    assert!(store.delete_account(&ta, &first_two.items[1].id).await.unwrap());
    let rest = store.list_accounts(&ta, &AccountFilter::default(), &page(100, Some(cursor))).await.unwrap();
    assert_eq!(account_ids(&rest.items), account_ids(&expected[2..]));
}

async fn concurrent_inserts_of_one_identity_make_one_account<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let x = provider("x");
    let tasks: Vec<_> = (0..20_i64)
        .map(|i| {
            let store = Arc::clone(&store);
            let acc = account(&t, &x, None, "42", Some("user-1"), i);
            tokio::spawn(async move {
                let outcome = store.insert_account(&acc).await.unwrap();
                (acc, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut existing = Vec::new();
    for task in tasks {
        match task.await.expect("an insert task panicked") {
            (acc, InsertAccount::Inserted) => winners.push(acc),
            (_, InsertAccount::Exists(found)) => existing.push(found),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of 20 concurrent inserts of one identity is Inserted");
    assert!(existing.iter().all(|found| *found == winners[0]), "every other insert gets the winner back as Exists");
    let all = store.list_accounts(&t, &AccountFilter::default(), &PageRequest::default()).await.unwrap();
    assert_eq!(all.items, winners);
}

async fn list_accounts_pages_through_more_than_a_hundred<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let x = provider("x");
    let mut expected = Vec::new();
    for i in 0..105_i64 {
        let acc = account(&t, &x, None, &format!("pa-{i}"), None, (i * 7) % 4);
        store.insert_account(&acc).await.unwrap();
        expected.push(acc);
    }
    expected.sort_by_key(account_key);

    let first = store.list_accounts(&t, &AccountFilter::default(), &page(100, None)).await.unwrap();
    assert_eq!(first.items.len(), 100, "limit 100 gives 100 items");
    assert!(first.next.is_some());
    let second = store.list_accounts(&t, &AccountFilter::default(), &page(100, first.next)).await.unwrap();
    assert_eq!(second.items.len(), 5);
    assert_eq!(second.next, None, "the last page has no next cursor");

    // 35 divides 105: the third page is full and still the last.
    for limit in [1, 35, 100] {
        let walked = walk_accounts(&*store, &t, &AccountFilter::default(), limit).await;
        assert_eq!(
            account_ids(&walked),
            account_ids(&expected),
            "paging 105 accounts with limit {limit} loses or repeats nothing"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Flows

async fn flow_round_trips_byte_for_byte<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("x"), 0);
    let mut full = flow(&a, 10, 610);
    full.instance = Some("https://mastodon.social".to_owned());
    let mut bare = flow(&a, 11, 611);
    bare.pkce_verifier = None;
    bare.external_id = None;
    bare.scopes = Vec::new();
    bare.return_url = "http://localhost:3000/".to_owned();
    let other_app = app(&tenant("tenant-b"), &provider("y"), 0);
    let third = flow(&other_app, 12, 612);
    for f in [&full, &bare, &third] {
        store.insert_flow(f.clone(), u32::MAX).await.unwrap();
    }

    let got = store.get_flow(&full.id).await.unwrap().unwrap();
    assert_eq!(got, full, "get_flow returns what was inserted");
    assert_eq!(
        got.pkce_verifier.as_ref().map(Sealed::as_bytes),
        full.pkce_verifier.as_ref().map(Sealed::as_bytes),
        "the sealed PKCE verifier comes back byte for byte"
    );
    assert_eq!(store.get_flow(&bare.id).await.unwrap(), Some(bare));
    assert_eq!(store.get_flow(&third.id).await.unwrap(), Some(third));
}

async fn inserting_an_existing_flow_id_is_duplicate<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("x"), 0);
    let f = flow(&a, 0, 600);
    store.insert_flow(f.clone(), u32::MAX).await.unwrap();
    let mut again = flow(&a, 1, 601);
    again.id = f.id;
    assert!(
        matches!(store.insert_flow(again.clone(), u32::MAX).await, Err(StoreError::Duplicate)),
        "re-inserting a flow id is StoreError::Duplicate"
    );
    assert_eq!(store.get_flow(&f.id).await.unwrap(), Some(f));
}

async fn take_flow_takes_once_then_reports_already_consumed<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("x"), 0);
    let f = flow(&a, 0, 600);
    let untouched = flow(&a, 0, 600);
    store.insert_flow(f.clone(), u32::MAX).await.unwrap();
    store.insert_flow(untouched.clone(), u32::MAX).await.unwrap();

    assert_eq!(
        store.take_flow(&f.id, at(30)).await.unwrap(),
        TakeFlow::Taken(f.clone()),
        "the first take gets the flow as it was (not consumed)"
    );
    let mut consumed = f.clone();
    consumed.consumed_at = Some(at(30));
    assert_eq!(
        store.get_flow(&f.id).await.unwrap(),
        Some(consumed.clone()),
        "a taken flow stays, marked consumed at the given time"
    );
    assert_eq!(
        store.take_flow(&f.id, at(40)).await.unwrap(),
        TakeFlow::AlreadyConsumed(consumed.clone()),
        "a second take is AlreadyConsumed, with the first consumption time"
    );
    assert_eq!(store.take_flow(&f.id, at(50)).await.unwrap(), TakeFlow::AlreadyConsumed(consumed));
    assert_eq!(
        store.get_flow(&untouched.id).await.unwrap(),
        Some(untouched),
        "taking one flow leaves the others pending"
    );
    assert_eq!(store.take_flow(&FlowId::generate(), at(60)).await.unwrap(), TakeFlow::Missing);
}

async fn concurrent_takes_of_one_flow_have_exactly_one_winner<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("x"), 0);
    let f = flow(&a, 0, 600);
    store.insert_flow(f.clone(), u32::MAX).await.unwrap();

    let tasks: Vec<_> = (0..50_i64)
        .map(|i| {
            let store = Arc::clone(&store);
            let id = f.id;
            tokio::spawn(async move { store.take_flow(&id, at(100 + i)).await })
        })
        .collect();
    let mut taken = Vec::new();
    let mut replays = 0;
    for task in tasks {
        match task.await.expect("a take task panicked").unwrap() {
            TakeFlow::Taken(flow) => taken.push(flow),
            TakeFlow::AlreadyConsumed(_) => replays += 1,
            TakeFlow::Missing => panic!("a concurrent take found the flow Missing"),
        }
    }
    assert_eq!(taken.len(), 1, "exactly one of 50 concurrent takes is Taken");
    assert_eq!(replays, 49);
    assert_eq!(taken[0], f);
    let stored = store.get_flow(&f.id).await.unwrap().unwrap();
    assert!(stored.consumed_at.is_some());
}

async fn bind_flow_binds_a_pending_flow_once<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("x"), 0);
    let f = flow(&a, 0, 600);
    store.insert_flow(f.clone(), u32::MAX).await.unwrap();
    let (first, second) = ([1u8; 32], [2u8; 32]);
    assert!(!store.bind_flow(&FlowId::generate(), &first, at(10)).await.unwrap(), "an unknown flow is not bound");
    assert!(store.bind_flow(&f.id, &first, at(10)).await.unwrap(), "a pending, unbound flow is bound");
    assert!(!store.bind_flow(&f.id, &second, at(11)).await.unwrap(), "a bound flow is not bound again");
    assert!(!store.bind_flow(&f.id, &first, at(11)).await.unwrap(), "not even with the same digest");
    let stored = store.get_flow(&f.id).await.unwrap().unwrap();
    assert_eq!(stored.browser_binding, Some(first), "the first digest is kept");
    match store.take_flow(&f.id, at(20)).await.unwrap() {
        TakeFlow::Taken(taken) => assert_eq!(taken.browser_binding, Some(first), "the take returns the binding"),
        other => panic!("expected Taken, got {other:?}"),
    }

    let consumed = flow(&a, 0, 600);
    store.insert_flow(consumed.clone(), u32::MAX).await.unwrap();
    assert!(matches!(store.take_flow(&consumed.id, at(5)).await.unwrap(), TakeFlow::Taken(_)));
    assert!(!store.bind_flow(&consumed.id, &first, at(6)).await.unwrap(), "a consumed flow is not bound");
    assert_eq!(store.get_flow(&consumed.id).await.unwrap().unwrap().browser_binding, None);

    let expired = flow(&a, 0, 600);
    store.insert_flow(expired.clone(), u32::MAX).await.unwrap();
    assert!(!store.bind_flow(&expired.id, &first, at(600)).await.unwrap(), "a flow is not bound at its expiry");
    assert!(!store.bind_flow(&expired.id, &first, at(601)).await.unwrap(), "nor after it");
    assert_eq!(store.get_flow(&expired.id).await.unwrap().unwrap().browser_binding, None);

    let mut inserted_bound = flow(&a, 0, 600);
    inserted_bound.browser_binding = Some(second);
    store.insert_flow(inserted_bound.clone(), u32::MAX).await.unwrap();
    assert_eq!(store.get_flow(&inserted_bound.id).await.unwrap(), Some(inserted_bound.clone()), "round trip");
    assert!(!store.bind_flow(&inserted_bound.id, &first, at(1)).await.unwrap(), "inserted bound: not bound again");
}

async fn concurrent_binds_of_one_flow_have_exactly_one_winner<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("x"), 0);
    let f = flow(&a, 0, 600);
    store.insert_flow(f.clone(), u32::MAX).await.unwrap();
    let tasks: Vec<_> = (0..20_u8)
        .map(|i| {
            let store = Arc::clone(&store);
            let id = f.id;
            tokio::spawn(async move { (i, store.bind_flow(&id, &[i; 32], at(10 + i64::from(i))).await.unwrap()) })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (i, bound) = task.await.expect("a bind task panicked");
        if bound {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of 20 concurrent binds wins");
    let stored = store.get_flow(&f.id).await.unwrap().unwrap();
    assert_eq!(stored.browser_binding, Some([winners[0]; 32]), "the winner's digest is stored");
}

async fn insert_flow_keeps_each_tenant_under_its_pending_cap<S: Store>(store: Arc<S>) {
    let (ta, tb) = (tenant("tenant-a"), tenant("tenant-b"));
    let a = app(&ta, &provider("x"), 0);
    let b = app(&tb, &provider("x"), 0);
    let mut kept = Vec::new();
    for i in 0..3 {
        let f = flow(&a, 10, 600 + i);
        assert_eq!(store.insert_flow(f.clone(), 3).await.unwrap(), InsertFlow::Inserted, "flow {i} is under the cap");
        kept.push(f);
    }
    let over = flow(&a, 10, 700);
    assert_eq!(
        store.insert_flow(over.clone(), 3).await.unwrap(),
        InsertFlow::TooManyPending { next_expiry: at(600) },
        "the fourth is refused, and says when the earliest pending flow expires"
    );
    assert_eq!(store.get_flow(&over.id).await.unwrap(), None, "a refused flow is not stored");
    assert_eq!(store.insert_flow(over.clone(), 4).await.unwrap(), InsertFlow::Inserted, "the cap is the caller's");
    assert_eq!(
        store.insert_flow(flow(&a, 10, 700), 4).await.unwrap(),
        InsertFlow::TooManyPending { next_expiry: at(600) }
    );
    assert_eq!(
        store.insert_flow(flow(&b, 10, 600), 1).await.unwrap(),
        InsertFlow::Inserted,
        "another tenant is untouched"
    );
    assert!(matches!(store.insert_flow(flow(&b, 10, 600), 1).await.unwrap(), InsertFlow::TooManyPending { .. }));

    // A taken flow frees its place; so does deleting the app (its pending flows go with it).
    assert!(matches!(store.take_flow(&kept[0].id, at(20)).await.unwrap(), TakeFlow::Taken(_)));
    assert_eq!(store.insert_flow(flow(&a, 21, 800), 4).await.unwrap(), InsertFlow::Inserted);
    assert!(matches!(store.insert_flow(flow(&a, 21, 800), 4).await.unwrap(), InsertFlow::TooManyPending { .. }));
    store.insert_app(&a).await.unwrap();
    assert_eq!(store.delete_app(&ta, &a.id, true).await.unwrap(), DeleteApp::Deleted { accounts_deleted: 0 });
    let a2 = app(&ta, &provider("x"), 1);
    for i in 0..4 {
        assert_eq!(store.insert_flow(flow(&a2, 22, 900), 4).await.unwrap(), InsertFlow::Inserted, "{i}");
    }
}

async fn insert_flow_counts_only_pending_flows_toward_the_cap<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("x"), 0);
    let early = flow(&a, 0, 100);
    let late = flow(&a, 0, 200);
    for f in [&early, &late] {
        assert_eq!(store.insert_flow(f.clone(), 2).await.unwrap(), InsertFlow::Inserted);
    }
    assert!(matches!(store.insert_flow(flow(&a, 50, 300), 2).await.unwrap(), InsertFlow::TooManyPending { .. }));
    // At 100 the early flow has expired: it no longer counts (but still reads back).
    assert_eq!(store.insert_flow(flow(&a, 100, 300), 2).await.unwrap(), InsertFlow::Inserted);
    assert!(store.get_flow(&early.id).await.unwrap().is_some(), "an expired flow stays until swept");
    assert_eq!(
        store.insert_flow(flow(&a, 150, 400), 2).await.unwrap(),
        InsertFlow::TooManyPending { next_expiry: at(200) },
        "the earliest pending flow is the late one"
    );
    // A consumed flow does not count either.
    assert!(matches!(store.take_flow(&late.id, at(160)).await.unwrap(), TakeFlow::Taken(_)));
    assert_eq!(store.insert_flow(flow(&a, 160, 400), 2).await.unwrap(), InsertFlow::Inserted);
}

async fn sweep_deletes_flows_that_expired_before_the_cutoff<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("x"), 0);
    let b = app(&tenant("tenant-b"), &provider("x"), 0);
    let old_pending = flow(&a, 0, 10);
    let old_consumed = flow(&b, 0, 20);
    let at_cutoff = flow(&a, 0, 30);
    let later_consumed = flow(&b, 0, 40);
    let later_pending = flow(&a, 0, 50);
    for f in [&old_pending, &old_consumed, &at_cutoff, &later_consumed, &later_pending] {
        store.insert_flow(f.clone(), u32::MAX).await.unwrap();
    }
    for f in [&old_consumed, &later_consumed] {
        assert!(matches!(store.take_flow(&f.id, at(5)).await.unwrap(), TakeFlow::Taken(_)));
    }

    assert_eq!(
        maint(&*store).sweep_flows(at(30)).await.unwrap(),
        2,
        "sweep deletes pending and consumed flows expiring before the cutoff, across tenants"
    );
    assert_eq!(store.get_flow(&old_pending.id).await.unwrap(), None);
    assert_eq!(store.get_flow(&old_consumed.id).await.unwrap(), None);
    assert_eq!(store.take_flow(&old_consumed.id, at(31)).await.unwrap(), TakeFlow::Missing, "a swept flow is Missing");
    assert_eq!(
        store.get_flow(&at_cutoff.id).await.unwrap(),
        Some(at_cutoff.clone()),
        "a flow expiring exactly at the cutoff stays"
    );
    assert!(store.get_flow(&later_consumed.id).await.unwrap().is_some_and(|f| f.consumed_at == Some(at(5))));
    assert_eq!(store.get_flow(&later_pending.id).await.unwrap(), Some(later_pending));
    assert_eq!(maint(&*store).sweep_flows(at(30)).await.unwrap(), 0);
    assert_eq!(maint(&*store).sweep_flows(at(41)).await.unwrap(), 2);
    assert_eq!(store.get_flow(&at_cutoff.id).await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------
// The refresh lease

async fn a_lease_is_held_by_one_holder_until_released_or_run_out<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let acc = account(&t, &provider("x"), None, "42", None, 0);
    store.insert_account(&acc).await.unwrap();

    assert!(
        lease(&*store).try_lease_account(&t, &acc.id, "one", at(160), at(100)).await.unwrap(),
        "a free lease is taken"
    );
    assert!(
        !lease(&*store).try_lease_account(&t, &acc.id, "two", at(170), at(110)).await.unwrap(),
        "a held lease is refused to another holder"
    );
    assert!(
        lease(&*store).try_lease_account(&t, &acc.id, "one", at(180), at(120)).await.unwrap(),
        "the holder renews its own lease"
    );
    assert!(
        !lease(&*store).try_lease_account(&t, &acc.id, "two", at(200), at(179)).await.unwrap(),
        "the renewal moved the end: still held a second before it"
    );
    lease(&*store).release_account_lease(&t, &acc.id, "two").await.unwrap();
    assert!(
        !lease(&*store).try_lease_account(&t, &acc.id, "two", at(200), at(130)).await.unwrap(),
        "releasing someone else's lease does nothing"
    );
    lease(&*store).release_account_lease(&t, &acc.id, "one").await.unwrap();
    assert!(
        lease(&*store).try_lease_account(&t, &acc.id, "two", at(200), at(130)).await.unwrap(),
        "a released lease is free"
    );
    assert!(
        lease(&*store).try_lease_account(&t, &acc.id, "three", at(300), at(200)).await.unwrap(),
        "a lease that ran out (its end at or before now) is free"
    );
    assert_eq!(store.get_account(&t, &acc.id).await.unwrap(), Some(acc), "leasing changes no account field");
}

async fn a_lease_is_per_account_and_tenant<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let other = tenant("tenant-b");
    let one = account(&t, &provider("x"), None, "1", None, 0);
    let two = account(&t, &provider("x"), None, "2", None, 0);
    store.insert_account(&one).await.unwrap();
    store.insert_account(&two).await.unwrap();

    assert!(lease(&*store).try_lease_account(&t, &one.id, "h", at(60), at(0)).await.unwrap());
    assert!(
        lease(&*store).try_lease_account(&t, &two.id, "other", at(60), at(0)).await.unwrap(),
        "leases are per account"
    );
    assert!(
        !lease(&*store).try_lease_account(&other, &one.id, "x", at(60), at(100)).await.unwrap(),
        "another tenant cannot lease the account, even when the lease ran out"
    );
    assert!(!lease(&*store).try_lease_account(&t, &AccountId::generate(), "h", at(60), at(0)).await.unwrap());
    lease(&*store).release_account_lease(&other, &one.id, "h").await.unwrap();
    assert!(
        !lease(&*store).try_lease_account(&t, &one.id, "z", at(60), at(10)).await.unwrap(),
        "another tenant cannot release it"
    );
}

async fn a_lease_outlives_account_updates_and_goes_with_the_account<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let acc = account(&t, &provider("x"), None, "42", None, 0);
    store.insert_account(&acc).await.unwrap();
    assert!(lease(&*store).try_lease_account(&t, &acc.id, "h", at(60), at(0)).await.unwrap());
    let mut changed = acc.clone();
    changed.access_token = seal(acc.id.as_str(), "access_token", "new-access-token");
    changed.updated_at = at(5);
    assert!(store.update_account(&changed).await.unwrap());
    assert!(
        !lease(&*store).try_lease_account(&t, &acc.id, "other", at(60), at(10)).await.unwrap(),
        "update_account leaves the lease alone"
    );
    assert!(store.delete_account(&t, &acc.id).await.unwrap());
    let mut again = account(&t, &provider("x"), None, "42", None, 20);
    again.id = acc.id.clone();
    again.access_token = seal(acc.id.as_str(), "access_token", "again");
    again.refresh_token = None;
    assert_eq!(store.insert_account(&again).await.unwrap(), InsertAccount::Inserted);
    assert!(
        lease(&*store).try_lease_account(&t, &acc.id, "other", at(60), at(20)).await.unwrap(),
        "a deleted account's lease is gone with it"
    );
}

async fn concurrent_leases_of_one_account_have_exactly_one_winner<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let acc = account(&t, &provider("x"), None, "42", None, 0);
    store.insert_account(&acc).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&store);
            let (t, id) = (t.clone(), acc.id.clone());
            tokio::spawn(async move {
                lease(&*store).try_lease_account(&t, &id, &format!("holder-{i}"), at(60), at(0)).await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if task.await.expect("a lease task panicked").unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one of 20 concurrent holders gets the lease");
}

// ---------------------------------------------------------------------------------------
// Walks over every tenant, and the swaps of sealed secrets

async fn list_all_apps_walks_every_tenant_in_order<S: Store>(store: Arc<S>) {
    let mut expected = Vec::new();
    for i in 0..23_i64 {
        let t = tenant(["tenant-a", "tenant-b", "tenant-c"][(i % 3) as usize]);
        let a = app(&t, &provider(["x", "y"][(i % 2) as usize]), (i * 5) % 4);
        store.insert_app(&a).await.unwrap();
        expected.push(a);
    }
    expected.sort_by_key(app_key);
    for limit in [1, 5, 23, 100] {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let p = maint(&*store).list_all_apps(&page(limit, after)).await.unwrap();
            assert!(p.items.len() <= limit as usize);
            all.extend(p.items);
            match p.next {
                Some(next) => {
                    assert_eq!(
                        next,
                        Cursor {
                            created_at: all.last().unwrap().created_at.unix_timestamp(),
                            id: app_ids(&all).pop().unwrap()
                        }
                    );
                    after = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(all, expected, "list_all_apps with limit {limit} walks every tenant's apps in order, once");
    }
    assert_eq!(
        maint(&*store).list_all_apps(&page(23, None)).await.unwrap().next,
        None,
        "no cursor after the last page"
    );
}

async fn list_all_accounts_walks_every_tenant_in_order<S: Store>(store: Arc<S>) {
    let mut expected = Vec::new();
    for i in 0..23_i64 {
        let t = tenant(["tenant-a", "tenant-b", "tenant-c"][(i % 3) as usize]);
        let acc = account(&t, &provider("x"), None, &format!("w-{i}"), None, (i * 5) % 4);
        store.insert_account(&acc).await.unwrap();
        expected.push(acc);
    }
    expected.sort_by_key(account_key);
    for limit in [1, 5, 23, 100] {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let p = maint(&*store).list_all_accounts(&page(limit, after)).await.unwrap();
            assert!(p.items.len() <= limit as usize);
            all.extend(p.items);
            match p.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(all, expected, "list_all_accounts with limit {limit} walks every tenant's accounts in order, once");
    }
}

async fn swap_app_secret_is_a_compare_and_set<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let a = app(&t, &provider("x"), 0);
    store.insert_app(&a).await.unwrap();
    let new = seal(a.id.as_str(), "client_secret", "resealed");
    let stale = seal(a.id.as_str(), "client_secret", "stale");
    assert!(
        !maint(&*store).swap_app_secret(&t, &a.id, &stale, &new).await.unwrap(),
        "a different current value swaps nothing"
    );
    assert!(
        !maint(&*store).swap_app_secret(&tenant("tenant-b"), &a.id, &a.client_secret, &new).await.unwrap(),
        "another tenant swaps nothing"
    );
    assert!(!maint(&*store).swap_app_secret(&t, &AppId::generate(), &a.client_secret, &new).await.unwrap());
    assert_eq!(store.get_app(&t, &a.id).await.unwrap(), Some(a.clone()));
    assert!(maint(&*store).swap_app_secret(&t, &a.id, &a.client_secret, &new).await.unwrap());
    let mut expected = a.clone();
    expected.client_secret = new.clone();
    assert_eq!(store.get_app(&t, &a.id).await.unwrap(), Some(expected), "only the secret changed, not updated_at");
    assert!(
        !maint(&*store).swap_app_secret(&t, &a.id, &a.client_secret, &new).await.unwrap(),
        "the old value no longer matches"
    );
}

async fn swap_account_tokens_is_a_compare_and_set<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let acc = account(&t, &provider("x"), None, "42", None, 0);
    let mut bare = account(&t, &provider("x"), None, "43", None, 0);
    bare.refresh_token = None;
    store.insert_account(&acc).await.unwrap();
    store.insert_account(&bare).await.unwrap();
    let access = seal(acc.id.as_str(), "access_token", "new-access");
    let refresh = seal(acc.id.as_str(), "refresh_token", "new-refresh");
    let current = SealedTokens { access_token: &acc.access_token, refresh_token: acc.refresh_token.as_ref() };
    let new = SealedTokens { access_token: &access, refresh_token: Some(&refresh) };

    let wrong_refresh = SealedTokens { access_token: &acc.access_token, refresh_token: None };
    assert!(
        !maint(&*store).swap_account_tokens(&t, &acc.id, wrong_refresh, new).await.unwrap(),
        "an absent refresh token does not match a present one"
    );
    let wrong_access = SealedTokens { access_token: &access, refresh_token: acc.refresh_token.as_ref() };
    assert!(!maint(&*store).swap_account_tokens(&t, &acc.id, wrong_access, new).await.unwrap());
    assert!(!maint(&*store).swap_account_tokens(&tenant("tenant-b"), &acc.id, current, new).await.unwrap());
    assert_eq!(store.get_account(&t, &acc.id).await.unwrap(), Some(acc.clone()));

    assert!(maint(&*store).swap_account_tokens(&t, &acc.id, current, new).await.unwrap());
    let mut expected = acc.clone();
    expected.access_token = access.clone();
    expected.refresh_token = Some(refresh.clone());
    assert_eq!(store.get_account(&t, &acc.id).await.unwrap(), Some(expected), "only the tokens changed");
    assert!(
        !maint(&*store).swap_account_tokens(&t, &acc.id, current, new).await.unwrap(),
        "the old values no longer match"
    );

    let bare_access = seal(bare.id.as_str(), "access_token", "bare-new");
    let bare_current = SealedTokens { access_token: &bare.access_token, refresh_token: None };
    let bare_new = SealedTokens { access_token: &bare_access, refresh_token: None };
    assert!(
        maint(&*store).swap_account_tokens(&t, &bare.id, bare_current, bare_new).await.unwrap(),
        "absent matches absent"
    );
    let mut expected = bare.clone();
    expected.access_token = bare_access;
    assert_eq!(store.get_account(&t, &bare.id).await.unwrap(), Some(expected));
}

async fn selection_round_trips_and_is_read_only_by_its_tenant_until_it_expires<S: Store>(store: Arc<S>) {
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    let sel = selection(&a, 0, 600);
    let mut bare = selection(&a, 0, 600);
    bare.app_id = None;
    bare.external_id = None;
    bare.targets.truncate(1);
    selections(&*store).insert_selection(&sel).await.unwrap();
    selections(&*store).insert_selection(&bare).await.unwrap();
    assert!(
        matches!(selections(&*store).insert_selection(&sel).await, Err(StoreError::Duplicate)),
        "a repeated id is Duplicate"
    );

    let got = selections(&*store).get_selection(&a, &sel.id, at(10)).await.unwrap();
    assert_eq!(got.as_ref(), Some(&sel), "get_selection returns what was inserted");
    assert_eq!(
        got.unwrap().targets[0].access_token.as_ref().map(Sealed::as_bytes),
        sel.targets[0].access_token.as_ref().map(Sealed::as_bytes),
        "sealed target tokens come back byte for byte"
    );
    assert_eq!(selections(&*store).get_selection(&a, &bare.id, at(10)).await.unwrap(), Some(bare.clone()));
    assert_eq!(
        selections(&*store).get_selection(&b, &sel.id, at(10)).await.unwrap(),
        None,
        "another tenant's selection is None"
    );
    assert_eq!(
        selections(&*store).take_selection(&b, &sel.id, at(10)).await.unwrap(),
        None,
        "nor can another tenant take it"
    );
    assert_eq!(selections(&*store).get_selection(&a, &sel.id, at(599)).await.unwrap(), Some(sel.clone()));
    assert_eq!(selections(&*store).get_selection(&a, &sel.id, at(600)).await.unwrap(), None, "expired at expires_at");
    assert_eq!(
        selections(&*store).take_selection(&a, &sel.id, at(600)).await.unwrap(),
        None,
        "an expired selection is not taken"
    );
    assert_eq!(selections(&*store).get_selection(&a, &SelectionId::generate(), at(10)).await.unwrap(), None);
    assert_eq!(selections(&*store).take_selection(&a, &SelectionId::generate(), at(10)).await.unwrap(), None);
}

async fn take_selection_consumes_once<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let sel = selection(&t, 0, 600);
    selections(&*store).insert_selection(&sel).await.unwrap();
    assert_eq!(
        selections(&*store).take_selection(&t, &sel.id, at(5)).await.unwrap(),
        Some(sel.clone()),
        "taken as it was"
    );
    assert_eq!(
        selections(&*store).take_selection(&t, &sel.id, at(6)).await.unwrap(),
        None,
        "a second take gets nothing"
    );
    assert_eq!(
        selections(&*store).get_selection(&t, &sel.id, at(6)).await.unwrap(),
        None,
        "a consumed selection is not readable"
    );
}

async fn concurrent_takes_of_one_selection_have_exactly_one_winner<S: Store>(store: Arc<S>) {
    let t = tenant("tenant-a");
    let sel = selection(&t, 0, 600);
    selections(&*store).insert_selection(&sel).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (store, t, id) = (store.clone(), t.clone(), sel.id.clone());
        tasks.push(tokio::spawn(
            async move { selections(&*store).take_selection(&t, &id, at(5)).await.unwrap().is_some() },
        ));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1, "exactly one of 20 concurrent takes wins");
}

async fn sweep_selections_deletes_those_that_expired_before_the_cutoff<S: Store>(store: Arc<S>) {
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    let old = selection(&a, 0, 10);
    let old_taken = selection(&b, 0, 20);
    let at_cutoff = selection(&a, 0, 30);
    let later = selection(&b, 0, 50);
    for s in [&old, &old_taken, &at_cutoff, &later] {
        selections(&*store).insert_selection(s).await.unwrap();
    }
    assert!(selections(&*store).take_selection(&b, &old_taken.id, at(5)).await.unwrap().is_some());
    assert_eq!(selections(&*store).sweep_selections(at(30)).await.unwrap(), 2, "pending and consumed, across tenants");
    assert_eq!(
        selections(&*store).get_selection(&a, &at_cutoff.id, at(29)).await.unwrap(),
        Some(at_cutoff),
        "the cutoff one stays"
    );
    assert_eq!(selections(&*store).get_selection(&b, &later.id, at(29)).await.unwrap(), Some(later));
    assert_eq!(selections(&*store).sweep_selections(at(30)).await.unwrap(), 0);
}

async fn provider_state_round_trips_and_is_insert_if_absent<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("mastodon"), 0);
    let b = app(&tenant("tenant-b"), &provider("mastodon"), 0);
    store.insert_app(&a).await.unwrap();
    store.insert_app(&b).await.unwrap();
    let ps = state(&*store);
    let ns = provider("mastodon");
    let first = entry(&a, "mastodon", "mastodon.social", "client-1");
    assert!(ps.insert_provider_state(&first).await.unwrap(), "the first insert stores it");
    let got = ps.get_provider_state(&a.tenant, &a.id, &ns, "mastodon.social").await.unwrap();
    assert_eq!(got.as_ref(), Some(&first), "it reads back byte for byte");
    assert_eq!(got.unwrap().secret.as_bytes(), first.secret.as_bytes());

    let second = entry(&a, "mastodon", "mastodon.social", "client-2");
    assert!(!ps.insert_provider_state(&second).await.unwrap(), "an existing one is kept");
    let got = ps.get_provider_state(&a.tenant, &a.id, &ns, "mastodon.social").await.unwrap().unwrap();
    assert_eq!(got.metadata, first.metadata);

    assert_eq!(ps.get_provider_state(&a.tenant, &a.id, &ns, "fosstodon.org").await.unwrap(), None);
    assert_eq!(ps.get_provider_state(&b.tenant, &a.id, &ns, "mastodon.social").await.unwrap(), None);
    assert_eq!(ps.get_provider_state(&a.tenant, &b.id, &ns, "mastodon.social").await.unwrap(), None);
    assert_eq!(ps.get_provider_state(&a.tenant, &a.id, &provider("other"), "mastodon.social").await.unwrap(), None);
    let other = entry(&a, "mastodon", "127.0.0.1:4000", "client-3");
    assert!(ps.insert_provider_state(&other).await.unwrap(), "another key is another entry");
    let elsewhere = entry(&a, "other", "mastodon.social", "client-5");
    assert!(ps.insert_provider_state(&elsewhere).await.unwrap(), "another namespace is another entry");
    let theirs = entry(&b, "mastodon", "mastodon.social", "client-4");
    assert!(ps.insert_provider_state(&theirs).await.unwrap(), "another app is another entry");
    let got = ps.get_provider_state(&b.tenant, &b.id, &ns, "mastodon.social").await.unwrap();
    assert_eq!(got, Some(theirs));
}

async fn concurrent_inserts_of_one_provider_state_key_keep_one<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("mastodon"), 0);
    store.insert_app(&a).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&store);
            let e = entry(&a, "mastodon", "mastodon.social", &format!("client-{i}"));
            tokio::spawn(async move { (state(&*store).insert_provider_state(&e).await, e) })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (inserted, e) = task.await.expect("an insert task panicked");
        if inserted.unwrap() {
            winners.push(e);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of 20 concurrent inserts stores it");
    let kept =
        state(&*store).get_provider_state(&a.tenant, &a.id, &provider("mastodon"), "mastodon.social").await.unwrap();
    assert_eq!(kept.as_ref(), winners.first(), "the stored one is the winner's");
}

async fn delete_app_deletes_its_provider_state<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("mastodon"), 0);
    let b = app(&tenant("tenant-a"), &provider("mastodon"), 1);
    store.insert_app(&a).await.unwrap();
    store.insert_app(&b).await.unwrap();
    let ps = state(&*store);
    for e in [entry(&a, "mastodon", "mastodon.social", "c1"), entry(&b, "mastodon", "mastodon.social", "c2")] {
        ps.insert_provider_state(&e).await.unwrap();
    }
    assert_eq!(store.delete_app(&a.tenant, &a.id, false).await.unwrap(), DeleteApp::Deleted { accounts_deleted: 0 });
    let ns = provider("mastodon");
    assert_eq!(ps.get_provider_state(&a.tenant, &a.id, &ns, "mastodon.social").await.unwrap(), None);
    assert!(ps.get_provider_state(&b.tenant, &b.id, &ns, "mastodon.social").await.unwrap().is_some());
}

async fn provider_state_is_listed_per_app_and_its_secret_swapped_by_compare_and_set<S: Store>(store: Arc<S>) {
    let a = app(&tenant("tenant-a"), &provider("mastodon"), 0);
    let b = app(&tenant("tenant-b"), &provider("mastodon"), 0);
    for x in [&a, &b] {
        store.insert_app(x).await.unwrap();
    }
    let ps = state(&*store);
    let social = entry(&a, "mastodon", "mastodon.social", "c1");
    let local = entry(&a, "mastodon", "127.0.0.1:4000", "c2");
    let elsewhere = entry(&a, "atproto", "bsky.social", "c4");
    for e in [&social, &local, &elsewhere, &entry(&b, "mastodon", "mastodon.social", "c3")] {
        ps.insert_provider_state(e).await.unwrap();
    }
    let listed = ps.list_provider_state(&a.tenant, &a.id).await.unwrap();
    assert_eq!(
        listed,
        vec![elsewhere.clone(), local.clone(), social.clone()],
        "the app's own, ordered by namespace and key"
    );
    assert!(ps.list_provider_state(&a.tenant, &b.id).await.unwrap().is_empty(), "tenant isolation");

    let new = seal(&format!("{}@mastodon.social", a.id), "client_secret", "instance-secret-value");
    assert!(ps.swap_provider_state_secret(&social, &new).await.unwrap());
    assert!(!ps.swap_provider_state_secret(&social, &new).await.unwrap(), "a stale current is refused");
    let got = ps.get_provider_state(&a.tenant, &a.id, &provider("mastodon"), "mastodon.social").await.unwrap().unwrap();
    assert_eq!(got.secret.as_bytes(), new.as_bytes());
    let mut unchanged = got.clone();
    unchanged.secret = social.secret.clone();
    assert_eq!(unchanged, social, "nothing else changed");
    let untouched = ps.get_provider_state(&b.tenant, &b.id, &provider("mastodon"), "mastodon.social").await.unwrap();
    assert_eq!(untouched.unwrap().metadata, r#"{"client_id":"c3"}"#);
}
