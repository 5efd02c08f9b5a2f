//! [`SqliteStore`]: the default store, one SQLite file (feature `sqlite`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{ConnectOptions as _, Connection as _, Row as _, SqlSafeStr as _};
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

/// Connections in the pool of a file database. SQLite has one writer at a time; a few
/// connections let reads proceed beside it (WAL) without holding many files open.
const FILE_POOL_SIZE: u32 = 4;

/// How often opening the first connection meets a busy file before giving up.
const OPEN_ATTEMPTS: u32 = 10;

/// How often [`SqliteStore::migrate`] tries before giving up.
const MIGRATE_ATTEMPTS: u32 = 5;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Our migrations, in order. They are embedded in the binary and run with sqlx's
/// [`Migrator`] built at run time (`sqlx::migrate!` would need sqlx's `macros` feature),
/// tracked in [`MIGRATIONS_TABLE`] through `Migrator::dangerous_set_table_name`. sqlx
/// applies each one in a transaction with its bookkeeping, and refuses to start when an
/// applied migration's checksum no longer matches or the database has one we do not know
/// (written by a newer version).
fn migrator() -> Migrator {
    let mut migrator = Migrator::with_migrations(vec![
        Migration::new(
            1,
            Cow::Borrowed("init"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0001_init.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("lease and walks"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0002_lease_and_walks.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            Cow::Borrowed("selections"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0003_selections.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            Cow::Borrowed("mastodon_instances"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0004_mastodon_instances.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            5,
            Cow::Borrowed("flow_binding_and_quota"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0005_flow_binding_and_quota.sql").into_sql_str(),
            false,
        ),
        // From 0006 on, a number is the same change in both dialects.
        Migration::new(
            6,
            Cow::Borrowed("provider_state"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0006_provider_state.sql").into_sql_str(),
            false,
        ),
    ]);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// A store in one SQLite database, through an sqlx pool.
///
/// Tables are prefixed `dravo_` (`dravo_apps`, `dravo_accounts`, `dravo_flows`, …) and the
/// migrations are tracked in `dravo_connect_migrations`, so the store can share a database
/// with the host's own tables and sqlx migrations. Times are stored as unix seconds, lists
/// as JSON arrays, and secrets only as the sealed ciphertext the caller passes in.
///
/// Cloning is cheap (the pool is reference-counted).
///
/// ```no_run
/// use dravo_connect_sqlx::SqliteStore;
/// # async fn run() -> Result<(), dravo_connect_core::store::StoreError> {
/// let store = SqliteStore::connect("sqlite://connect.db?mode=rwc").await?;
/// store.checkpoint().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("connections", &self.pool.size()).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it if needed) the database at `url` and brings its schema up to date.
    ///
    /// `url` is an sqlx SQLite URL: `sqlite://path/to/file.db` (`?mode=rwc` is implied: the
    /// file is created) or `sqlite::memory:` for a private in-memory database. The
    /// connections use WAL journaling (for a file), enforce foreign keys and wait up to five
    /// seconds for a busy database. A file gets a pool of four connections; an in-memory
    /// database gets one connection that is never closed, since the database lives only as
    /// long as its connections.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the URL is malformed, the file cannot be opened or
    /// created, or a migration fails (including when the database was migrated by a newer
    /// version of this crate, or an applied migration was changed).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        Self::connect_with(options).await
    }

    /// Opens the database with the caller's connection options, used as given, and brings
    /// its schema up to date. See [`connect`](Self::connect) for the settings it
    /// recommends (WAL, foreign keys, a busy timeout, `create_if_missing`) and the pool
    /// it builds.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        // The first connection to a new file switches it to WAL, which takes a lock that
        // the busy timeout does not wait for: when several processes open the file at
        // once, the losers retry. Later connections find it in WAL already.
        let mut attempt = 1;
        let mut probe = loop {
            match options.connect().await {
                Ok(conn) => break conn,
                Err(e) if is_busy(&e) && attempt < OPEN_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(e) => return Err(StoreError::backend(e)),
            }
        };
        // An in-memory database (or SQLite's temporary one) exists once per connection, or
        // once per shared cache and only while a connection is open: ask the probe which
        // kind this is, rather than guessing from the options.
        let file: String = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&mut probe)
            .await
            .map_err(StoreError::backend)?;
        probe.close().await.map_err(StoreError::backend)?;
        let pool_options = if file.is_empty() {
            SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(FILE_POOL_SIZE)
        };
        let pool = pool_options.connect_with(options).await.map_err(StoreError::backend)?;
        let store = Self::from_pool(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps an existing pool, without migrating: call [`migrate`](Self::migrate) (or run
    /// the migrations your own way) before using the store.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Applies the migrations that have not run yet, and checks the ones that have; safe to
    /// call any number of times, also from several processes at once.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when a migration fails, an applied migration's checksum
    /// changed, or the database holds a migration this version does not know.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx takes no lock around SQLite migrations: when several processes open a new
        // file at once, all but one fail (a table that already exists, a busy snapshot),
        // with their transactions rolled back. A second attempt then finds the migrations
        // applied and only checks them. A real failure fails every attempt.
        let mut attempt = 1;
        loop {
            match migrator().run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(_) if attempt < MIGRATE_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(e) => return Err(StoreError::backend(e)),
            }
        }
    }

    /// The underlying pool, for the host's own queries against the same database.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Copies the write-ahead log into the main file and truncates the log
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`); for backups and before copying the file.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the query fails or another connection kept the
    /// checkpoint from completing.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let row =
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&self.pool).await.map_err(StoreError::backend)?;
        let busy: i64 = row.try_get(0).map_err(StoreError::backend)?;
        if busy != 0 {
            return Err(StoreError::backend(CheckpointBusy));
        }
        Ok(())
    }
}

/// `wal_checkpoint` reported that a reader or writer kept it from finishing.
#[derive(Debug, thiserror::Error)]
#[error("the WAL checkpoint could not complete: the database is busy")]
struct CheckpointBusy;

// ---------------------------------------------------------------------------------------
// Row decoding, column lists and paging live in `super::sql`.

/// Whether SQLite answered `SQLITE_BUSY` (any extended code of it).
fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xff == SQLITE_BUSY)
        }
        _ => false,
    }
}

/// SQLite's primary result code for a locked database file.
const SQLITE_BUSY: i32 = 5;

fn app_from_row(row: &SqliteRow) -> Result<AppRecord, StoreError> {
    Cols::new(row, "dravo_apps").app()
}

fn account_from_row(row: &SqliteRow) -> Result<AccountRecord, StoreError> {
    Cols::new(row, "dravo_accounts").account()
}

fn flow_from_row(row: &SqliteRow) -> Result<PendingFlow, StoreError> {
    Cols::new(row, "dravo_flows").flow()
}

// ---------------------------------------------------------------------------------------

// The store traits: the methods both SQL stores share are written once in `sql_store_impls!`
// (`sql.rs`); here are the ones where SQLite differs (locking, upserts, paging).
sql_store_impls!(
    SqliteStore,
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
            Ok(into_page(items, page, |a| Cursor {
                created_at: a.created_at.unix_timestamp(),
                id: a.id.as_str().to_owned(),
            }))
        }

        async fn delete_app(&self, tenant: &TenantId, id: &AppId, cascade: bool) -> Result<DeleteApp, StoreError> {
            // IMMEDIATE takes the write lock up front: no account can start using the app
            // between the check and the delete. Dropping the transaction rolls it back.
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
            let exists = sqlx::query("SELECT 1 FROM dravo_apps WHERE tenant = ?1 AND id = ?2")
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
            // One transaction, so the existing row read after a conflict is the one that
            // conflicted (no delete can slip in between).
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
            // The conflict target is the identity only: a colliding primary key still fails,
            // as `Duplicate`.
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
                .fetch_optional(&mut *tx)
                .await
                .map_err(insert_error)?;
            if inserted.is_some() {
                tx.commit().await.map_err(backend)?;
                return Ok(InsertAccount::Inserted);
            }
            let existing = sqlx::query(sql::FIND_ACCOUNT)
                .bind(account.tenant.as_str())
                .bind(account.provider.as_str())
                .bind(account.provider_account_id.as_str())
                .bind(account.external_id.as_ref().map(ExternalId::as_str))
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            match existing {
                Some(row) => Ok(InsertAccount::Exists(account_from_row(&row)?)),
                None => Err(corrupt("dravo_accounts", "external_key", "an identity conflict without a matching row")),
            }
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
            Ok(into_page(items, page, |a| Cursor {
                created_at: a.connected_at.unix_timestamp(),
                id: a.id.as_str().to_owned(),
            }))
        }

        async fn take_flow(&self, id: &FlowId, now: OffsetDateTime) -> Result<TakeFlow, StoreError> {
            // The compare-and-set: of concurrent calls, only one sees `consumed_at IS NULL`.
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
            // One statement: the compare-and-set runs under SQLite's write lock.
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
            Ok(into_page(items, page, |a| Cursor {
                created_at: a.created_at.unix_timestamp(),
                id: a.id.as_str().to_owned(),
            }))
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
            Ok(into_page(items, page, |a| Cursor {
                created_at: a.connected_at.unix_timestamp(),
                id: a.id.as_str().to_owned(),
            }))
        }
    }
);
