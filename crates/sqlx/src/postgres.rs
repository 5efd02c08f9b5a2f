//! [`PostgresStore`]: one PostgreSQL database shared by any number of app instances
//! (feature `postgres`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::SqlSafeStr as _;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use time::OffsetDateTime;

use super::sql::{self, Cols, backend, corrupt, fetch_limit, insert_error, into_page, json_list, targets_json};
use super::{
    AccountFilter, AccountRecord, AppRecord, Cursor, DeleteApp, InsertAccount, InsertFlow, LeaseStore,
    MaintenanceStore, Page, PageRequest, PendingFlow, ProviderStateRecord, ProviderStateStore, Sealed, SealedTokens,
    SelectionRecord, SelectionStore, Store, StoreError, TakeFlow,
};
use dravo_connect_core::{AccountId, AppId, ExternalId, FlowId, ProviderId, SelectionId, TenantId};

/// The table that records which of our migrations ran. It is ours alone (not sqlx's
/// `_sqlx_migrations`), so a host can keep its own sqlx migrations in the same database.
const MIGRATIONS_TABLE: &str = "dravo_connect_migrations";

/// How often an account insert meets an identity conflict whose row is gone by the time it
/// is read (a delete racing the insert) before giving up.
const INSERT_ATTEMPTS: u32 = 3;

/// Our migrations, in order, embedded in the binary and run with sqlx's [`Migrator`] built
/// at run time (`sqlx::migrate!` would need sqlx's `macros` feature), tracked in
/// [`MIGRATIONS_TABLE`]. sqlx applies each one in a transaction with its bookkeeping, and
/// refuses to start when an applied migration's checksum no longer matches or the database
/// has one we do not know (written by a newer version).
fn migrator() -> Migrator {
    let mut migrator = Migrator::with_migrations(vec![
        Migration::new(
            1,
            Cow::Borrowed("init"),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0001_init.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("selections"),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0002_selections.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            Cow::Borrowed("mastodon_instances"),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0003_mastodon_instances.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            Cow::Borrowed("flow_binding_and_quota"),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0004_flow_binding_and_quota.sql").into_sql_str(),
            false,
        ),
        // From 0006 on, a number is the same change in both dialects.
        Migration::new(
            6,
            Cow::Borrowed("provider_state"),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0006_provider_state.sql").into_sql_str(),
            false,
        ),
    ]);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    // We hold our own advisory lock around the run (see `PostgresStore::migrate`); sqlx's
    // would be one per database, shared with the host's own migrations.
    migrator.set_locking(false);
    migrator
}

/// A store in one PostgreSQL database, through an sqlx pool: the store for hosts that run
/// many instances of their app behind a load balancer.
///
/// Every instance keeps its own pool on the same database. The flow take is one
/// `UPDATE … SET consumed_at = $now WHERE id = $id AND consumed_at IS NULL RETURNING …`, so a
/// state is consumed exactly once across instances; an account insert is
/// `INSERT … ON CONFLICT DO NOTHING` on the account identity, so concurrent reconnects make
/// one account; the refresh lease is a compare-and-set on the account row, so one instance
/// refreshes a token while the others wait for it.
///
/// Tables are prefixed `dravo_` (`dravo_apps`, `dravo_accounts`, `dravo_flows`,
/// `dravo_selections`, `dravo_provider_state`), live in the
/// connection's current schema (the first of its `search_path`), and the migrations are
/// tracked in `dravo_connect_migrations`, so the store can share a database with the host's
/// own tables and sqlx migrations. Times are stored as unix seconds (`BIGINT`) bound from
/// the injected clock, never `now()`; lists as JSON arrays in `TEXT`; secrets only as the
/// sealed ciphertext the caller passes in (`BYTEA`).
///
/// Built without TLS: connect over a private network or a local socket, or build a pool with
/// your own sqlx TLS features and pass it to [`from_pool`](Self::from_pool).
///
/// Cloning is cheap (the pool is reference-counted).
///
/// ```no_run
/// use dravo_connect_sqlx::PostgresStore;
/// # async fn run() -> Result<(), dravo_connect_core::store::StoreError> {
/// let store = PostgresStore::connect("postgres://connect@db.internal/app").await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").field("connections", &self.pool.size()).finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`,
    /// sqlx's URL syntax) with a pool of sqlx's default size, and brings the schema up to
    /// date. A server that does not answer yet is retried for sqlx's acquire timeout (30
    /// seconds), so instances may start before the database.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the URL is malformed, the server cannot be reached or
    /// refuses the login, or a migration fails (including when the database was migrated by
    /// a newer version of this crate, or an applied migration was changed).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::backend)?;
        Self::connect_with(options).await
    }

    /// Connects with the caller's connection options, used as given (a `search_path`, an
    /// application name, a socket…), and brings the schema up to date.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new().connect_with(options).await.map_err(StoreError::backend)?;
        let store = Self::from_pool(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps an existing pool, without migrating: call [`migrate`](Self::migrate) (or run
    /// the migrations your own way) before using the store.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Applies the migrations that have not run yet, and checks the ones that have; safe to
    /// call any number of times, also from many instances at once.
    ///
    /// The run holds a transaction-scoped advisory lock keyed on the current schema, so
    /// instances starting together apply each migration once, one after another; the lock
    /// goes with the transaction, even when the caller drops this future half-way.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when a migration fails, an applied migration's checksum
    /// changed, or the database holds a migration this version does not know.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        let run = async {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended(coalesce(current_schema(), '') || $1, 0))")
                .bind(".dravo_connect_migrations")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
            // sqlx runs each migration in a nested transaction (a savepoint) of ours.
            // `run_direct` is what `Migrator::run` calls once it has a connection; sqlx keeps
            // it public so that a future holding `&mut PgConnection` can be `Send` (with
            // `run`: "implementation of `Acquire` is not general enough").
            migrator().run_direct(None, &mut *tx, false).await.map_err(StoreError::backend)
        };
        match run.await {
            Ok(()) => tx.commit().await.map_err(StoreError::backend),
            Err(e) => {
                // Give the lock back now, not when the pool gets round to it.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    /// The underlying pool, for the host's own queries against the same database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

// ---------------------------------------------------------------------------------------
// Row decoding, column lists and paging live in `super::sql`.

fn app_from_row(row: &PgRow) -> Result<AppRecord, StoreError> {
    Cols::new(row, "dravo_apps").app()
}

fn account_from_row(row: &PgRow) -> Result<AccountRecord, StoreError> {
    Cols::new(row, "dravo_accounts").account()
}

fn flow_from_row(row: &PgRow) -> Result<PendingFlow, StoreError> {
    Cols::new(row, "dravo_flows").flow()
}

fn app_cursor(a: &AppRecord) -> Cursor {
    Cursor { created_at: a.created_at.unix_timestamp(), id: a.id.as_str().to_owned() }
}

fn account_cursor(a: &AccountRecord) -> Cursor {
    Cursor { created_at: a.connected_at.unix_timestamp(), id: a.id.as_str().to_owned() }
}

// ---------------------------------------------------------------------------------------

// The store traits: the methods both SQL stores share are written once in `sql_store_impls!`
// (`sql.rs`); here are the ones where PostgreSQL differs (locking, upserts, paging).
sql_store_impls!(
    PostgresStore,
    store: {
        async fn list_apps(
            &self,
            tenant: &TenantId,
            provider: Option<&ProviderId>,
            page: &PageRequest,
        ) -> Result<Page<AppRecord>, StoreError> {
            let rows = sqlx::query(sql::LIST_APPS)
                .bind(tenant.as_str())
                .bind(provider.map(ProviderId::as_str))
                .bind(page.after.as_ref().map(|c| c.created_at))
                .bind(page.after.as_ref().map(|c| c.id.as_str()))
                .bind(fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            let items = rows.iter().map(app_from_row).collect::<Result<Vec<_>, _>>()?;
            Ok(into_page(items, page, app_cursor))
        }

        async fn delete_app(&self, tenant: &TenantId, id: &AppId, cascade: bool) -> Result<DeleteApp, StoreError> {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            // No account may start using the app between the check and the delete: this mode
            // blocks account writes (not reads) until the transaction ends, and two app
            // deletions take turns. Deleting an app is rare; a phantom account is not allowed.
            // Dropping the transaction rolls it back.
            sqlx::query("LOCK TABLE dravo_accounts IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            let exists = sqlx::query("SELECT 1 FROM dravo_apps WHERE tenant = $1 AND id = $2 FOR UPDATE")
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
            if exists.is_none() {
                return Ok(DeleteApp::NotFound);
            }
            if !cascade {
                let used = sqlx::query(sql::APP_IN_USE)
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                if used.is_some() {
                    return Ok(DeleteApp::InUse);
                }
            }
            let accounts = sqlx::query(sql::DELETE_APP_ACCOUNTS)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query(sql::DELETE_APP_FLOWS)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query(sql::DELETE_APP_PROVIDER_STATE)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query(sql::DELETE_APP)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(DeleteApp::Deleted { accounts_deleted: accounts.rows_affected() })
        }

        async fn insert_account(&self, account: &AccountRecord) -> Result<InsertAccount, StoreError> {
            for _ in 0..INSERT_ATTEMPTS {
                // The conflict target is the identity only: a colliding primary key still
                // fails, as `Duplicate`. A concurrent insert of the same identity makes this
                // one wait for it to commit, then do nothing.
                let inserted = sqlx::query(sql::INSERT_ACCOUNT)
                    .bind(account.id.as_str())
                    .bind(account.tenant.as_str())
                    .bind(account.provider.as_str())
                    .bind(account.app_id.as_ref().map(AppId::as_str))
                    .bind(account.provider_account_id.as_str())
                    .bind(account.external_id.as_ref().map(ExternalId::as_str))
                    .bind(account.username.as_deref())
                    .bind(account.display_name.as_deref())
                    .bind(account.avatar_url.as_deref())
                    .bind(json_list(&account.scopes)?)
                    .bind(account.status.as_str())
                    .bind(account.access_token.as_bytes())
                    .bind(account.refresh_token.as_ref().map(Sealed::as_bytes))
                    .bind(account.token_expires_at.map(OffsetDateTime::unix_timestamp))
                    .bind(account.connected_at.unix_timestamp())
                    .bind(account.updated_at.unix_timestamp())
                    .bind(account.target_type.as_str())
                    .bind(account.parent_account_id.as_ref().map(AccountId::as_str))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(insert_error)?;
                if inserted.is_some() {
                    return Ok(InsertAccount::Inserted);
                }
                // Read committed: this statement sees the row that conflicted, unless a delete
                // took it in between; then the insert is tried again.
                if let Some(existing) = self
                    .find_account(
                        &account.tenant,
                        &account.provider,
                        &account.provider_account_id,
                        account.external_id.as_ref(),
                    )
                    .await?
                {
                    return Ok(InsertAccount::Exists(existing));
                }
            }
            Err(corrupt("dravo_accounts", "external_key", "an identity conflict without a matching row"))
        }

        async fn list_accounts(
            &self,
            tenant: &TenantId,
            filter: &AccountFilter,
            page: &PageRequest,
        ) -> Result<Page<AccountRecord>, StoreError> {
            let rows = sqlx::query(sql::LIST_ACCOUNTS)
                .bind(tenant.as_str())
                .bind(filter.provider.as_ref().map(ProviderId::as_str))
                .bind(filter.external_id.as_ref().map(ExternalId::as_str))
                .bind(page.after.as_ref().map(|c| c.created_at))
                .bind(page.after.as_ref().map(|c| c.id.as_str()))
                .bind(fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            let items = rows.iter().map(account_from_row).collect::<Result<Vec<_>, _>>()?;
            Ok(into_page(items, page, account_cursor))
        }

        async fn take_flow(&self, id: &FlowId, now: OffsetDateTime) -> Result<TakeFlow, StoreError> {
            // The compare-and-set: of concurrent calls (on any instance), only one sees
            // `consumed_at IS NULL`; the others wait for its row lock, re-check, and match
            // nothing.
            let taken = sqlx::query(sql::TAKE_FLOW)
                .bind(id.as_bytes().as_slice())
                .bind(now.unix_timestamp())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            if let Some(row) = taken {
                let mut flow = flow_from_row(&row)?;
                // RETURNING shows the row after the update; the caller gets it as it was.
                flow.consumed_at = None;
                return Ok(TakeFlow::Taken(flow));
            }
            match self.get_flow(id).await? {
                Some(flow) if flow.consumed_at.is_some() => Ok(TakeFlow::AlreadyConsumed(flow)),
                // Absent, or inserted after our update looked: it did not exist for this call.
                _ => Ok(TakeFlow::Missing),
            }
        }
    },
    lease: {
        async fn try_lease_account(
            &self,
            tenant: &TenantId,
            id: &AccountId,
            holder: &str,
            until: OffsetDateTime,
            now: OffsetDateTime,
        ) -> Result<bool, StoreError> {
            // One statement: concurrent callers queue on the row lock and re-check the
            // condition against the winner's write, so at most one of them matches.
            let done = sqlx::query(sql::TRY_LEASE_ACCOUNT)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .bind(holder)
                .bind(until.unix_timestamp())
                .bind(now.unix_timestamp())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected() > 0)
        }
    },
    maintenance: {
        async fn list_all_apps(&self, page: &PageRequest) -> Result<Page<AppRecord>, StoreError> {
            let rows = sqlx::query(sql::LIST_ALL_APPS)
                .bind(page.after.as_ref().map(|c| c.created_at))
                .bind(page.after.as_ref().map(|c| c.id.as_str()))
                .bind(fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            let items = rows.iter().map(app_from_row).collect::<Result<Vec<_>, _>>()?;
            Ok(into_page(items, page, app_cursor))
        }

        async fn list_all_accounts(&self, page: &PageRequest) -> Result<Page<AccountRecord>, StoreError> {
            let rows = sqlx::query(sql::LIST_ALL_ACCOUNTS)
                .bind(page.after.as_ref().map(|c| c.created_at))
                .bind(page.after.as_ref().map(|c| c.id.as_str()))
                .bind(fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            let items = rows.iter().map(account_from_row).collect::<Result<Vec<_>, _>>()?;
            Ok(into_page(items, page, account_cursor))
        }
    }
);
