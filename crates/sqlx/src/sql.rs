//! What the SQL stores (SQLite, PostgreSQL) share: their statements, reading rows back into
//! records, the column lists, error mapping and paging. Both stores keep the same column
//! types (text, integer unix seconds, JSON text lists, blobs), so one decoder, generic over
//! the row type, serves both. Every statement on which the dialects agree is written once,
//! here; what differs (locking in `delete_app`, transactions, migrations and their lock) stays
//! in each store.

use std::str::FromStr;

use sqlx::{ColumnIndex, Decode, Row, Type};
use time::OffsetDateTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{
    AccountRecord, AccountStatus, AppRecord, Cursor, Page, PageRequest, PendingFlow, ProviderStateRecord, Sealed,
    SelectionRecord, SelectionTarget, StoreError,
};
use dravo_connect_core::FlowId;
use dravo_connect_core::provider::TargetType;

// ---------------------------------------------------------------------------------------
// Encoding and decoding. A row that cannot be read back is `Corrupt`, never a panic; the
// messages name the table and column, never a value.

pub(super) fn corrupt(table: &str, column: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{table}.{column}: {what}"))
}

pub(super) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

/// Maps an insert's error: a primary-key collision is [`StoreError::Duplicate`].
pub(super) fn insert_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate,
        _ => StoreError::backend(e),
    }
}

pub(super) fn json_list(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(StoreError::backend)
}

/// A selection target as stored in the `targets` JSON column (the sealed token in base64).
#[derive(Serialize, Deserialize)]
struct StoredTarget {
    id: String,
    target_type: String,
    username: Option<String>,
    display_name: Option<String>,
    avatar_url: Option<String>,
    access_token: Option<String>,
}

/// The `targets` column of a selection: a JSON array; sealed tokens stay sealed (base64).
pub(super) fn targets_json(targets: &[SelectionTarget]) -> Result<String, StoreError> {
    let stored: Vec<StoredTarget> = targets
        .iter()
        .map(|t| StoredTarget {
            id: t.id.clone(),
            target_type: t.target_type.as_str().to_owned(),
            username: t.username.clone(),
            display_name: t.display_name.clone(),
            avatar_url: t.avatar_url.clone(),
            access_token: t.access_token.as_ref().map(|s| STANDARD.encode(s.as_bytes())),
        })
        .collect();
    serde_json::to_string(&stored).map_err(StoreError::backend)
}

fn targets_from_json(table: &str, raw: &str) -> Result<Vec<SelectionTarget>, StoreError> {
    let bad = || corrupt(table, "targets", "not a target list");
    let stored: Vec<StoredTarget> = serde_json::from_str(raw).map_err(|_| bad())?;
    stored
        .into_iter()
        .map(|t| {
            let access_token = match t.access_token {
                Some(b64) => Some(STANDARD.decode(b64).ok().and_then(|b| Sealed::from_bytes(b).ok()).ok_or_else(bad)?),
                None => None,
            };
            let mut target = SelectionTarget::new(t.id, TargetType::parse(&t.target_type).ok_or_else(bad)?);
            target.username = t.username;
            target.display_name = t.display_name;
            target.avatar_url = t.avatar_url;
            target.access_token = access_token;
            Ok(target)
        })
        .collect()
}

/// Reads the columns of one row of `table`.
pub(super) struct Cols<'r, R> {
    row: &'r R,
    table: &'static str,
}

impl<'r, R> Cols<'r, R>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    /// The columns of one row of `table`.
    pub(super) fn new(row: &'r R, table: &'static str) -> Self {
        Self { row, table }
    }

    fn get<T>(&self, column: &'static str) -> Result<T, StoreError>
    where
        T: Decode<'r, R::Database> + Type<R::Database>,
    {
        self.row.try_get(column).map_err(|_| corrupt(self.table, column, "missing or of the wrong type"))
    }

    fn parse<T: FromStr>(&self, column: &'static str) -> Result<T, StoreError> {
        let s: String = self.get(column)?;
        s.parse().map_err(|_| corrupt(self.table, column, "not a valid value"))
    }

    fn parse_opt<T: FromStr>(&self, column: &'static str) -> Result<Option<T>, StoreError> {
        let s: Option<String> = self.get(column)?;
        s.map(|s| s.parse().map_err(|_| corrupt(self.table, column, "not a valid value"))).transpose()
    }

    fn time(&self, column: &'static str) -> Result<OffsetDateTime, StoreError> {
        let secs: i64 = self.get(column)?;
        OffsetDateTime::from_unix_timestamp(secs).map_err(|_| corrupt(self.table, column, "time out of range"))
    }

    fn time_opt(&self, column: &'static str) -> Result<Option<OffsetDateTime>, StoreError> {
        let secs: Option<i64> = self.get(column)?;
        secs.map(|secs| {
            OffsetDateTime::from_unix_timestamp(secs).map_err(|_| corrupt(self.table, column, "time out of range"))
        })
        .transpose()
    }

    fn list(&self, column: &'static str) -> Result<Vec<String>, StoreError> {
        let s: String = self.get(column)?;
        serde_json::from_str(&s).map_err(|_| corrupt(self.table, column, "not a JSON string list"))
    }

    fn sealed(&self, column: &'static str) -> Result<Sealed, StoreError> {
        let bytes: Vec<u8> = self.get(column)?;
        Sealed::from_bytes(bytes).map_err(|_| corrupt(self.table, column, "not a sealed value"))
    }

    fn sealed_opt(&self, column: &'static str) -> Result<Option<Sealed>, StoreError> {
        let bytes: Option<Vec<u8>> = self.get(column)?;
        bytes.map(|b| Sealed::from_bytes(b).map_err(|_| corrupt(self.table, column, "not a sealed value"))).transpose()
    }

    /// An app row.
    pub(super) fn app(&self) -> Result<AppRecord, StoreError> {
        let c = self;
        let mut record = AppRecord::new(
            c.parse("id")?,
            c.parse("tenant")?,
            c.parse("provider")?,
            c.get::<String>("client_id")?,
            c.sealed("client_secret")?,
            c.time("created_at")?,
        );
        record.name = c.get("name")?;
        record.allowed_return_urls = c.list("allowed_return_urls")?;
        record.scopes = c.list("scopes")?;
        record.updated_at = c.time("updated_at")?;
        Ok(record)
    }

    /// An account row.
    pub(super) fn account(&self) -> Result<AccountRecord, StoreError> {
        let c = self;
        let status: String = c.get("status")?;
        let mut record = AccountRecord::new(
            c.parse("id")?,
            c.parse("tenant")?,
            c.parse("provider")?,
            c.get::<String>("provider_account_id")?,
            c.sealed("access_token")?,
            c.time("connected_at")?,
        );
        record.app_id = c.parse_opt("app_id")?;
        record.username = c.get("username")?;
        record.display_name = c.get("display_name")?;
        record.avatar_url = c.get("avatar_url")?;
        record.scopes = c.list("scopes")?;
        record.status =
            AccountStatus::parse(&status).ok_or_else(|| corrupt(c.table, "status", "not a known status"))?;
        record.external_id = c.parse_opt("external_id")?;
        record.refresh_token = c.sealed_opt("refresh_token")?;
        record.token_expires_at = c.time_opt("token_expires_at")?;
        record.updated_at = c.time("updated_at")?;
        record.target_type = {
            let t: String = c.get("target_type")?;
            TargetType::parse(&t).ok_or_else(|| corrupt(c.table, "target_type", "not a known target type"))?
        };
        record.parent_account_id = c.parse_opt("parent_account_id")?;
        Ok(record)
    }

    /// A selection row.
    pub(super) fn selection(&self) -> Result<SelectionRecord, StoreError> {
        let c = self;
        let targets: String = c.get("targets")?;
        let mut record = SelectionRecord::new(
            c.parse("id")?,
            c.parse("tenant")?,
            c.parse("provider")?,
            c.parse("account_id")?,
            targets_from_json(c.table, &targets)?,
            c.time("created_at")?,
            c.time("expires_at")?,
        );
        record.app_id = c.parse_opt("app_id")?;
        record.external_id = c.parse_opt("external_id")?;
        record.consumed_at = c.time_opt("consumed_at")?;
        Ok(record)
    }

    /// A provider-state row.
    pub(super) fn provider_state(&self) -> Result<ProviderStateRecord, StoreError> {
        let c = self;
        Ok(ProviderStateRecord::new(
            c.parse("tenant")?,
            c.parse("app_id")?,
            c.parse("namespace")?,
            c.get::<String>("state_key")?,
            c.get::<String>("metadata")?,
            c.sealed("secret")?,
            c.time("created_at")?,
        ))
    }

    /// A pending-flow row.
    pub(super) fn flow(&self) -> Result<PendingFlow, StoreError> {
        let c = self;
        let id: Vec<u8> = c.get("id")?;
        let id: [u8; FlowId::LEN] = id.try_into().map_err(|_| corrupt(c.table, "id", "not a flow id"))?;
        let mut record = PendingFlow::new(
            FlowId::from_bytes(id),
            c.parse("tenant")?,
            c.parse("app_id")?,
            c.parse("provider")?,
            c.get::<String>("return_url")?,
            c.get::<String>("redirect_uri")?,
            c.time("created_at")?,
            c.time("expires_at")?,
        );
        record.pkce_verifier = c.sealed_opt("pkce_verifier")?;
        record.scopes = c.list("scopes")?;
        record.external_id = c.parse_opt("external_id")?;
        record.instance = c.get("instance")?;
        record.consumed_at = c.time_opt("consumed_at")?;
        record.browser_binding = {
            let digest: Option<Vec<u8>> = c.get("browser_binding")?;
            digest
                .map(|d| <[u8; 32]>::try_from(d).map_err(|_| corrupt(c.table, "browser_binding", "not a digest")))
                .transpose()?
        };
        Ok(record)
    }
}

macro_rules! app_columns {
    () => {
        "id, tenant, provider, name, client_id, client_secret, allowed_return_urls, scopes, \
         created_at, updated_at"
    };
}

macro_rules! account_columns {
    () => {
        "id, tenant, provider, app_id, provider_account_id, external_id, username, \
         display_name, avatar_url, scopes, status, access_token, refresh_token, \
         token_expires_at, connected_at, updated_at, target_type, parent_account_id"
    };
}

macro_rules! selection_columns {
    () => {
        "id, tenant, provider, app_id, account_id, external_id, targets, created_at, expires_at, \
         consumed_at"
    };
}

macro_rules! flow_columns {
    () => {
        "id, tenant, app_id, provider, return_url, redirect_uri, pkce_verifier, scopes, \
         external_id, created_at, expires_at, consumed_at, instance, browser_binding"
    };
}

macro_rules! provider_state_columns {
    () => {
        "tenant, app_id, namespace, state_key, metadata, secret, created_at"
    };
}

// ---------------------------------------------------------------------------------------
// Statements both dialects run as written. Placeholders are `$1`, `$2`, …: PostgreSQL's
// own, and SQLite's numbered form (`$NNN`, bound by number like `?NNN`). A parameter that
// may be NULL on its own is written `CAST($n AS TEXT)` (or `BIGINT`), the spelling both
// accept, so PostgreSQL knows its type.

/// `insert_app`.
pub(super) const INSERT_APP: &str =
    concat!("INSERT INTO dravo_apps (", app_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");

/// `get_app`.
pub(super) const GET_APP: &str = concat!("SELECT ", app_columns!(), " FROM dravo_apps WHERE tenant = $1 AND id = $2");

/// `list_apps`.
pub(super) const LIST_APPS: &str = concat!(
    "SELECT ",
    app_columns!(),
    " FROM dravo_apps WHERE tenant = $1 AND (CAST($2 AS TEXT) IS NULL OR provider = $2) \
    AND (CAST($3 AS BIGINT) IS NULL OR created_at > $3 OR (created_at = $3 AND id > $4)) \
    ORDER BY created_at, id LIMIT $5"
);

/// `update_app`.
pub(super) const UPDATE_APP: &str = "UPDATE dravo_apps SET name = $3, client_id = $4, client_secret = $5, \
             allowed_return_urls = $6, scopes = $7, updated_at = $8 WHERE tenant = $1 AND id = $2";

/// Whether accounts use an app (`delete_app` without cascade).
pub(super) const APP_IN_USE: &str = "SELECT 1 FROM dravo_accounts WHERE tenant = $1 AND app_id = $2 LIMIT 1";

/// Deletes an app's accounts (`delete_app`).
pub(super) const DELETE_APP_ACCOUNTS: &str = "DELETE FROM dravo_accounts WHERE tenant = $1 AND app_id = $2";

/// Deletes an app's flows (`delete_app`).
pub(super) const DELETE_APP_FLOWS: &str = "DELETE FROM dravo_flows WHERE tenant = $1 AND app_id = $2";

/// Deletes the app row (`delete_app`).
pub(super) const DELETE_APP: &str = "DELETE FROM dravo_apps WHERE tenant = $1 AND id = $2";

/// `find_account`.
pub(super) const FIND_ACCOUNT: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM dravo_accounts WHERE tenant = $1 AND provider = $2 \
    AND provider_account_id = $3 AND external_key = coalesce(CAST($4 AS TEXT), '')"
);

/// Inserts an account unless its identity exists (`insert_account`).
pub(super) const INSERT_ACCOUNT: &str = concat!(
    "INSERT INTO dravo_accounts (",
    account_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
    ON CONFLICT (tenant, provider, provider_account_id, external_key) DO NOTHING \
    RETURNING id"
);

/// `update_account`.
pub(super) const UPDATE_ACCOUNT: &str = "UPDATE dravo_accounts SET app_id = $3, username = $4, display_name = $5, \
             avatar_url = $6, scopes = $7, status = $8, access_token = $9, \
             refresh_token = $10, token_expires_at = $11, updated_at = $12, \
             target_type = $13, parent_account_id = $14 \
             WHERE tenant = $1 AND id = $2";

/// `get_account`.
pub(super) const GET_ACCOUNT: &str =
    concat!("SELECT ", account_columns!(), " FROM dravo_accounts WHERE tenant = $1 AND id = $2");

/// `list_accounts`.
pub(super) const LIST_ACCOUNTS: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM dravo_accounts WHERE tenant = $1 AND (CAST($2 AS TEXT) IS NULL OR provider = $2) \
    AND (CAST($3 AS TEXT) IS NULL OR external_id = $3) \
    AND (CAST($4 AS BIGINT) IS NULL OR connected_at > $4 OR (connected_at = $4 AND id > $5)) \
    ORDER BY connected_at, id LIMIT $6"
);

/// `delete_account`.
pub(super) const DELETE_ACCOUNT: &str = "DELETE FROM dravo_accounts WHERE tenant = $1 AND id = $2";

/// Inserts a flow while the tenant is under its pending cap (`insert_flow`).
pub(super) const INSERT_FLOW: &str = concat!(
    "INSERT INTO dravo_flows (",
    flow_columns!(),
    ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 \
    WHERE (SELECT count(*) FROM (SELECT 1 FROM dravo_flows \
    WHERE tenant = $2 AND consumed_at IS NULL AND expires_at > $10 LIMIT $15) AS pending) < $15"
);

/// When the tenant's earliest pending flow expires (`insert_flow`, refused).
pub(super) const NEXT_PENDING_EXPIRY: &str = "SELECT min(expires_at) FROM dravo_flows \
             WHERE tenant = $1 AND consumed_at IS NULL AND expires_at > $2";

/// `bind_flow`.
pub(super) const BIND_FLOW: &str = "UPDATE dravo_flows SET browser_binding = $2 WHERE id = $1 AND browser_binding IS NULL \
             AND consumed_at IS NULL AND expires_at > $3";

/// `get_flow`.
pub(super) const GET_FLOW: &str = concat!("SELECT ", flow_columns!(), " FROM dravo_flows WHERE id = $1");

/// `take_flow`.
pub(super) const TAKE_FLOW: &str = concat!(
    "UPDATE dravo_flows SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL \
    RETURNING ",
    flow_columns!()
);

/// `insert_selection`.
pub(super) const INSERT_SELECTION: &str = concat!(
    "INSERT INTO dravo_selections (",
    selection_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);

/// `get_selection`.
pub(super) const GET_SELECTION: &str = concat!(
    "SELECT ",
    selection_columns!(),
    " FROM dravo_selections WHERE tenant = $1 AND id = $2 AND consumed_at IS NULL \
    AND expires_at > $3"
);

/// `take_selection`.
pub(super) const TAKE_SELECTION: &str = concat!(
    "UPDATE dravo_selections SET consumed_at = $3 WHERE tenant = $1 AND id = $2 \
    AND consumed_at IS NULL AND expires_at > $3 RETURNING ",
    selection_columns!()
);

/// `sweep_selections`.
pub(super) const SWEEP_SELECTIONS: &str = "DELETE FROM dravo_selections WHERE expires_at < $1";

/// `try_lease_account`.
pub(super) const TRY_LEASE_ACCOUNT: &str = "UPDATE dravo_accounts SET lease_holder = $3, lease_until = $4 \
             WHERE tenant = $1 AND id = $2 \
             AND (lease_holder IS NULL OR lease_until <= $5 OR lease_holder = $3)";

/// `release_account_lease`.
pub(super) const RELEASE_ACCOUNT_LEASE: &str = "UPDATE dravo_accounts SET lease_holder = NULL, lease_until = NULL \
             WHERE tenant = $1 AND id = $2 AND lease_holder = $3";

/// `sweep_flows`.
pub(super) const SWEEP_FLOWS: &str = "DELETE FROM dravo_flows WHERE expires_at < $1";

/// `list_all_apps`.
pub(super) const LIST_ALL_APPS: &str = concat!(
    "SELECT ",
    app_columns!(),
    " FROM dravo_apps \
    WHERE (CAST($1 AS BIGINT) IS NULL OR created_at > $1 OR (created_at = $1 AND id > $2)) \
    ORDER BY created_at, id LIMIT $3"
);

/// `list_all_accounts`.
pub(super) const LIST_ALL_ACCOUNTS: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM dravo_accounts \
    WHERE (CAST($1 AS BIGINT) IS NULL OR connected_at > $1 OR (connected_at = $1 AND id > $2)) \
    ORDER BY connected_at, id LIMIT $3"
);

/// `swap_app_secret`.
pub(super) const SWAP_APP_SECRET: &str =
    "UPDATE dravo_apps SET client_secret = $4 WHERE tenant = $1 AND id = $2 AND client_secret = $3";

/// `swap_account_tokens` (`IS NOT DISTINCT FROM`: null-safe equality in both dialects).
pub(super) const SWAP_ACCOUNT_TOKENS: &str = "UPDATE dravo_accounts SET access_token = $5, refresh_token = $6 \
             WHERE tenant = $1 AND id = $2 AND access_token = $3 \
             AND refresh_token IS NOT DISTINCT FROM $4";

/// Deletes an app's provider-state entries (`delete_app`).
pub(super) const DELETE_APP_PROVIDER_STATE: &str = "DELETE FROM dravo_provider_state WHERE tenant = $1 AND app_id = $2";

/// Inserts a provider-state entry unless its key exists.
pub(super) const INSERT_PROVIDER_STATE: &str = concat!(
    "INSERT INTO dravo_provider_state (",
    provider_state_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, app_id, namespace, state_key) DO NOTHING"
);

/// Reads one provider-state entry.
pub(super) const GET_PROVIDER_STATE: &str = concat!(
    "SELECT ",
    provider_state_columns!(),
    " FROM dravo_provider_state WHERE tenant = $1 AND app_id = $2 AND namespace = $3 AND state_key = $4"
);

/// Lists an app's provider-state entries.
pub(super) const LIST_PROVIDER_STATE: &str = concat!(
    "SELECT ",
    provider_state_columns!(),
    " FROM dravo_provider_state WHERE tenant = $1 AND app_id = $2 ORDER BY namespace, state_key"
);

/// Replaces a provider-state entry's sealed part if it is unchanged.
pub(super) const SWAP_PROVIDER_STATE_SECRET: &str = "UPDATE dravo_provider_state SET secret = $6 \
     WHERE tenant = $1 AND app_id = $2 AND namespace = $3 AND state_key = $4 AND secret = $5";

/// The page size asked of the database: one more than the page, to know whether another
/// page follows.
pub(super) fn fetch_limit(page: &PageRequest) -> i64 {
    i64::from(page.limit.clamp(1, 100)) + 1
}

/// Cuts the fetched rows down to the page and derives the next cursor.
pub(super) fn into_page<T>(mut items: Vec<T>, page: &PageRequest, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let limit = page.limit.clamp(1, 100) as usize;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(key)
    } else {
        None
    };
    Page { items, next }
}

/// The store trait impls of a SQL store: the methods both stores share word for word (their
/// statements are this module's), with each store's own methods (`store`, `lease`,
/// `maintenance`: where the dialects differ in locking or paging) passed in.
macro_rules! sql_store_impls {
    ($store:ty, store: { $($store_own:tt)* }, lease: { $($lease_own:tt)* }, maintenance: { $($maintenance_own:tt)* }) => {
        #[async_trait]
        impl Store for $store {
        async fn insert_app(&self, app: &AppRecord) -> Result<(), StoreError> {
            sqlx::query(sql::INSERT_APP)
                .bind(app.id.as_str())
                .bind(app.tenant.as_str())
                .bind(app.provider.as_str())
                .bind(app.name.as_deref())
                .bind(app.client_id.as_str())
                .bind(app.client_secret.as_bytes())
                .bind(json_list(&app.allowed_return_urls)?)
                .bind(json_list(&app.scopes)?)
                .bind(app.created_at.unix_timestamp())
                .bind(app.updated_at.unix_timestamp())
                .execute(&self.pool)
                .await
                .map_err(insert_error)?;
            Ok(())
        }

        async fn get_app(&self, tenant: &TenantId, id: &AppId) -> Result<Option<AppRecord>, StoreError> {
            let row = sqlx::query(sql::GET_APP)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            row.as_ref().map(app_from_row).transpose()
        }

        async fn update_app(&self, app: &AppRecord) -> Result<bool, StoreError> {
            let done = sqlx::query(sql::UPDATE_APP)
                .bind(app.tenant.as_str())
                .bind(app.id.as_str())
                .bind(app.name.as_deref())
                .bind(app.client_id.as_str())
                .bind(app.client_secret.as_bytes())
                .bind(json_list(&app.allowed_return_urls)?)
                .bind(json_list(&app.scopes)?)
                .bind(app.updated_at.unix_timestamp())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected() > 0)
        }

        async fn find_account(
            &self,
            tenant: &TenantId,
            provider: &ProviderId,
            provider_account_id: &str,
            external_id: Option<&ExternalId>,
        ) -> Result<Option<AccountRecord>, StoreError> {
            let row = sqlx::query(sql::FIND_ACCOUNT)
                .bind(tenant.as_str())
                .bind(provider.as_str())
                .bind(provider_account_id)
                .bind(external_id.map(ExternalId::as_str))
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            row.as_ref().map(account_from_row).transpose()
        }

        async fn update_account(&self, account: &AccountRecord) -> Result<bool, StoreError> {
            let done = sqlx::query(sql::UPDATE_ACCOUNT)
                .bind(account.tenant.as_str())
                .bind(account.id.as_str())
                .bind(account.app_id.as_ref().map(AppId::as_str))
                .bind(account.username.as_deref())
                .bind(account.display_name.as_deref())
                .bind(account.avatar_url.as_deref())
                .bind(json_list(&account.scopes)?)
                .bind(account.status.as_str())
                .bind(account.access_token.as_bytes())
                .bind(account.refresh_token.as_ref().map(Sealed::as_bytes))
                .bind(account.token_expires_at.map(OffsetDateTime::unix_timestamp))
                .bind(account.updated_at.unix_timestamp())
                .bind(account.target_type.as_str())
                .bind(account.parent_account_id.as_ref().map(AccountId::as_str))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected() > 0)
        }

        async fn get_account(&self, tenant: &TenantId, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
            let row = sqlx::query(sql::GET_ACCOUNT)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            row.as_ref().map(account_from_row).transpose()
        }

        async fn delete_account(&self, tenant: &TenantId, id: &AccountId) -> Result<bool, StoreError> {
            let done = sqlx::query(sql::DELETE_ACCOUNT)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected() > 0)
        }

        async fn insert_flow(&self, flow: PendingFlow, max_pending: u32) -> Result<InsertFlow, StoreError> {
            // One statement: the row goes in only while the tenant has fewer than `max_pending`
            // pending flows, counted from the partial index `dravo_flows_pending`, at most
            // `max_pending` entries deep.
            let inserted = sqlx::query(sql::INSERT_FLOW)
                .bind(flow.id.as_bytes().as_slice())
                .bind(flow.tenant.as_str())
                .bind(flow.app_id.as_str())
                .bind(flow.provider.as_str())
                .bind(flow.return_url.as_str())
                .bind(flow.redirect_uri.as_str())
                .bind(flow.pkce_verifier.as_ref().map(Sealed::as_bytes))
                .bind(json_list(&flow.scopes)?)
                .bind(flow.external_id.as_ref().map(ExternalId::as_str))
                .bind(flow.created_at.unix_timestamp())
                .bind(flow.expires_at.unix_timestamp())
                .bind(flow.consumed_at.map(OffsetDateTime::unix_timestamp))
                .bind(flow.instance.as_deref())
                .bind(flow.browser_binding.as_ref().map(<[u8; 32]>::as_slice))
                .bind(i64::from(max_pending))
                .execute(&self.pool)
                .await
                .map_err(insert_error)?;
            if inserted.rows_affected() > 0 {
                return Ok(InsertFlow::Inserted);
            }
            // Refused: when does the earliest pending flow expire (the same index, one entry)?
            let next: Option<i64> = sqlx::query_scalar(sql::NEXT_PENDING_EXPIRY)
                .bind(flow.tenant.as_str())
                .bind(flow.created_at.unix_timestamp())
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
            let next_expiry = match next {
                Some(secs) => OffsetDateTime::from_unix_timestamp(secs)
                    .map_err(|_| corrupt("dravo_flows", "expires_at", "time out of range"))?,
                // They ended between the two statements: a slot is free now.
                None => flow.created_at,
            };
            Ok(InsertFlow::TooManyPending { next_expiry })
        }

        async fn bind_flow(&self, id: &FlowId, digest: &[u8; 32], now: OffsetDateTime) -> Result<bool, StoreError> {
            // The compare-and-set: of concurrent binds, only one sees `browser_binding IS NULL`.
            let done = sqlx::query(sql::BIND_FLOW)
                .bind(id.as_bytes().as_slice())
                .bind(digest.as_slice())
                .bind(now.unix_timestamp())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected() == 1)
        }

        async fn get_flow(&self, id: &FlowId) -> Result<Option<PendingFlow>, StoreError> {
            let row = sqlx::query(sql::GET_FLOW)
                .bind(id.as_bytes().as_slice())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            row.as_ref().map(flow_from_row).transpose()
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

            $($store_own)*
        }

        #[async_trait]
        impl SelectionStore for $store {
        async fn insert_selection(&self, selection: &SelectionRecord) -> Result<(), StoreError> {
            sqlx::query(sql::INSERT_SELECTION)
                .bind(selection.id.as_str())
                .bind(selection.tenant.as_str())
                .bind(selection.provider.as_str())
                .bind(selection.app_id.as_ref().map(AppId::as_str))
                .bind(selection.account_id.as_str())
                .bind(selection.external_id.as_ref().map(ExternalId::as_str))
                .bind(targets_json(&selection.targets)?)
                .bind(selection.created_at.unix_timestamp())
                .bind(selection.expires_at.unix_timestamp())
                .bind(selection.consumed_at.map(OffsetDateTime::unix_timestamp))
                .execute(&self.pool)
                .await
                .map_err(insert_error)?;
            Ok(())
        }

        async fn get_selection(
            &self,
            tenant: &TenantId,
            id: &SelectionId,
            now: OffsetDateTime,
        ) -> Result<Option<SelectionRecord>, StoreError> {
            let row = sqlx::query(sql::GET_SELECTION)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .bind(now.unix_timestamp())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            row.as_ref().map(|r| Cols::new(r, "dravo_selections").selection()).transpose()
        }

        async fn take_selection(
            &self,
            tenant: &TenantId,
            id: &SelectionId,
            now: OffsetDateTime,
        ) -> Result<Option<SelectionRecord>, StoreError> {
            // The compare-and-set: of concurrent calls, only one sees `consumed_at IS NULL`.
            let row = sqlx::query(sql::TAKE_SELECTION)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .bind(now.unix_timestamp())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            let mut taken = row.as_ref().map(|r| Cols::new(r, "dravo_selections").selection()).transpose()?;
            if let Some(s) = taken.as_mut() {
                // RETURNING shows the row after the update; the caller gets it as it was.
                s.consumed_at = None;
            }
            Ok(taken)
        }

        async fn sweep_selections(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
            let done = sqlx::query(sql::SWEEP_SELECTIONS)
                .bind(before.unix_timestamp())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected())
        }
        }

        #[async_trait]
        impl LeaseStore for $store {
        async fn release_account_lease(&self, tenant: &TenantId, id: &AccountId, holder: &str) -> Result<(), StoreError> {
            sqlx::query(sql::RELEASE_ACCOUNT_LEASE)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .bind(holder)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(())
        }

            $($lease_own)*
        }

        #[async_trait]
        impl MaintenanceStore for $store {
        async fn sweep_flows(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
            let done =
                sqlx::query(sql::SWEEP_FLOWS).bind(before.unix_timestamp()).execute(&self.pool).await.map_err(backend)?;
            Ok(done.rows_affected())
        }

        async fn swap_app_secret(
            &self,
            tenant: &TenantId,
            id: &AppId,
            current: &Sealed,
            new: &Sealed,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query(sql::SWAP_APP_SECRET)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .bind(current.as_bytes())
                .bind(new.as_bytes())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected() > 0)
        }

        async fn swap_account_tokens(
            &self,
            tenant: &TenantId,
            id: &AccountId,
            current: SealedTokens<'_>,
            new: SealedTokens<'_>,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query(sql::SWAP_ACCOUNT_TOKENS)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .bind(current.access_token.as_bytes())
                .bind(current.refresh_token.map(Sealed::as_bytes))
                .bind(new.access_token.as_bytes())
                .bind(new.refresh_token.map(Sealed::as_bytes))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected() > 0)
        }

            $($maintenance_own)*
        }

        #[async_trait]
        impl ProviderStateStore for $store {
        async fn insert_provider_state(&self, e: &ProviderStateRecord) -> Result<bool, StoreError> {
            let done = sqlx::query(sql::INSERT_PROVIDER_STATE)
                .bind(e.tenant.as_str())
                .bind(e.app_id.as_str())
                .bind(e.namespace.as_str())
                .bind(e.key.as_str())
                .bind(e.metadata.as_str())
                .bind(e.secret.as_bytes())
                .bind(e.created_at.unix_timestamp())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected() == 1)
        }

        async fn get_provider_state(
            &self,
            tenant: &TenantId,
            app_id: &AppId,
            namespace: &ProviderId,
            key: &str,
        ) -> Result<Option<ProviderStateRecord>, StoreError> {
            let row = sqlx::query(sql::GET_PROVIDER_STATE)
                .bind(tenant.as_str())
                .bind(app_id.as_str())
                .bind(namespace.as_str())
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            row.map(|r| Cols::new(&r, "dravo_provider_state").provider_state()).transpose()
        }

        async fn list_provider_state(
            &self,
            tenant: &TenantId,
            app_id: &AppId,
        ) -> Result<Vec<ProviderStateRecord>, StoreError> {
            let rows = sqlx::query(sql::LIST_PROVIDER_STATE)
                .bind(tenant.as_str())
                .bind(app_id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            rows.iter().map(|r| Cols::new(r, "dravo_provider_state").provider_state()).collect()
        }

        async fn swap_provider_state_secret(&self, e: &ProviderStateRecord, new: &Sealed) -> Result<bool, StoreError> {
            let done = sqlx::query(sql::SWAP_PROVIDER_STATE_SECRET)
                .bind(e.tenant.as_str())
                .bind(e.app_id.as_str())
                .bind(e.namespace.as_str())
                .bind(e.key.as_str())
                .bind(e.secret.as_bytes())
                .bind(new.as_bytes())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected() > 0)
        }
        }

    };
}
