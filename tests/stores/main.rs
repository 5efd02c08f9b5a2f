//! The store conformance suite against every built-in store, and what only SQLite has:
//! migrations, table names, WAL, persistence, and no plaintext secret in the file.
#![cfg(all(feature = "sqlite", feature = "test-util"))]

mod core_only;
#[cfg(feature = "postgres")]
mod postgres;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use dravo_connect::provider::TargetType;
use dravo_connect::store::{
    AccountRecord, AccountStatus, AppRecord, InsertAccount, MemoryStore, PendingFlow, SqliteStore, Store, StoreError,
};
use dravo_connect::test_util::store_conformance;
use dravo_connect::{AccountId, AppId, FlowId, KeyId, ProviderId, Secret, TenantId};
use dravo_connect_core::secret_box::SecretBox;
use sqlx::Row as _;
use time::OffsetDateTime;
use time::macros::datetime;

/// A database file in the temp dir, removed with its `-wal` and `-shm` files on drop.
struct TempDb {
    path: PathBuf,
}

impl TempDb {
    fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!(
            "dravo-connect-stores-{}-{nanos}-{}.db",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Self { path: std::env::temp_dir().join(name) }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    fn sidecar(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    }

    /// The main file and the write-ahead log (if any), concatenated.
    fn raw_bytes(&self) -> Vec<u8> {
        let mut bytes = std::fs::read(&self.path).unwrap();
        if let Ok(wal) = std::fs::read(self.sidecar("-wal")) {
            bytes.extend(wal);
        }
        bytes
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for path in [self.path.clone(), self.sidecar("-wal"), self.sidecar("-shm")] {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn exists(path: &Path) -> bool {
    path.try_exists().unwrap()
}

const T0: OffsetDateTime = datetime!(2025-06-01 12:00:00 UTC);

fn tenant() -> TenantId {
    "tenant-a".parse().unwrap()
}

fn secret_box() -> SecretBox {
    SecretBox::new([(KeyId::zero(), Secret::new(vec![7u8; 32]))]).unwrap()
}

fn sample_app(sb: &SecretBox, client_secret: &str) -> AppRecord {
    let id = AppId::generate();
    let sealed = sb.seal(id.as_str(), "client_secret", client_secret.as_bytes());
    let mut app = AppRecord::new(id, tenant(), "x".parse::<ProviderId>().unwrap(), "client-id", sealed, T0);
    app.name = Some("raw file test".to_owned());
    app.allowed_return_urls = vec!["https://app.example.com/connect".to_owned()];
    app.scopes = vec!["tweet.read".to_owned()];
    app
}

fn sample_account(sb: &SecretBox, app: &AppRecord, access: &str, refresh: &str) -> AccountRecord {
    let id = AccountId::generate();
    let access_token = sb.seal(id.as_str(), "access_token", access.as_bytes());
    let refresh_token = Some(sb.seal(id.as_str(), "refresh_token", refresh.as_bytes()));
    let mut account = AccountRecord::new(id, app.tenant.clone(), app.provider.clone(), "12345", access_token, T0);
    account.refresh_token = refresh_token;
    account.app_id = Some(app.id.clone());
    account.username = Some("someone".to_owned());
    account.scopes = vec!["tweet.read".to_owned()];
    account.status = AccountStatus::Active;
    account.token_expires_at = Some(T0 + time::Duration::hours(2));
    account.target_type = TargetType::Person;
    account
}

fn sample_flow(sb: &SecretBox, app: &AppRecord, verifier: &str) -> PendingFlow {
    let id = FlowId::generate();
    let pkce_verifier = Some(sb.seal(&id.to_string(), "pkce_verifier", verifier.as_bytes()));
    let mut flow = PendingFlow::new(
        id,
        app.tenant.clone(),
        app.id.clone(),
        app.provider.clone(),
        "https://app.example.com/connect/done",
        "https://api.example.com/v1/oauth/x/callback",
        T0,
        T0 + time::Duration::minutes(10),
    );
    flow.pkce_verifier = pkce_verifier;
    flow.scopes = vec!["tweet.read".to_owned()];
    flow
}

async fn names(store: &SqliteStore, kind: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = ?1 AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .bind(kind)
        .fetch_all(store.pool())
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// The conformance suite

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_store_conformance_suite() {
    store_conformance(|| async { MemoryStore::new() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_sqlite_store_passes_the_store_conformance_suite() {
    store_conformance(|| async { SqliteStore::connect("sqlite::memory:").await.unwrap() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sqlite_store_passes_the_store_conformance_suite() {
    let files = Mutex::new(Vec::new());
    let files = &files;
    store_conformance(move || async move {
        let db = TempDb::new();
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        files.lock().unwrap().push(db);
        store
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// SQLite only

#[tokio::test]
async fn connecting_twice_to_one_file_runs_the_migrations_once() {
    let db = TempDb::new();
    let first = SqliteStore::connect(&db.url()).await.unwrap();
    let second = SqliteStore::connect(&db.url()).await.unwrap();
    second.migrate().await.unwrap();

    let app = sample_app(&secret_box(), "s");
    first.insert_app(&app).await.unwrap();
    assert_eq!(second.get_app(&app.tenant, &app.id).await.unwrap(), Some(app.clone()), "both stores see one database");
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM dravo_connect_migrations ORDER BY version")
            .fetch_all(first.pool())
            .await
            .unwrap();
    assert_eq!(applied, vec![(1, true), (2, true), (3, true), (4, true), (5, true), (6, true)]);

    first.pool().close().await;
    second.pool().close().await;
    let third = SqliteStore::connect(&db.url()).await.unwrap();
    assert_eq!(third.get_app(&app.tenant, &app.id).await.unwrap(), Some(app));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_concurrently_to_a_new_file_migrates_it_once() {
    let db = TempDb::new();
    let url = db.url();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { SqliteStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for task in tasks {
        stores.push(task.await.unwrap().unwrap());
    }
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dravo_connect_migrations").fetch_one(stores[0].pool()).await.unwrap();
    assert_eq!(applied, 6);
}

#[tokio::test]
async fn migrations_are_tracked_in_dravo_connect_migrations() {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    let tables = names(&store, "table").await;
    assert!(tables.contains(&"dravo_connect_migrations".to_owned()));
    assert!(!tables.contains(&"_sqlx_migrations".to_owned()), "sqlx's own table is left to the host");
}

#[tokio::test]
async fn every_table_and_index_starts_with_dravo() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let tables = names(&store, "table").await;
    assert_eq!(
        tables,
        [
            "dravo_accounts",
            "dravo_apps",
            "dravo_connect_migrations",
            "dravo_flows",
            "dravo_provider_state",
            "dravo_selections"
        ]
    );
    let indexes = names(&store, "index").await;
    assert!(!indexes.is_empty());
    for name in indexes {
        assert!(name.starts_with("dravo_"), "index `{name}`");
    }
}

#[tokio::test]
async fn a_file_store_uses_wal_foreign_keys_and_a_busy_timeout() {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(store.pool()).await.unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(store.pool()).await.unwrap();
    assert_eq!(fk, 1);
    let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(store.pool()).await.unwrap();
    assert!(timeout >= 1000, "busy timeout {timeout} ms");
    assert!(exists(&db.path), "connect creates the file");
}

#[tokio::test]
async fn rows_survive_reopening_the_file() {
    let db = TempDb::new();
    let sb = secret_box();
    let app = sample_app(&sb, "s");
    let account = sample_account(&sb, &app, "a", "r");
    let flow = sample_flow(&sb, &app, "v");
    {
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        store.insert_app(&app).await.unwrap();
        assert_eq!(store.insert_account(&account).await.unwrap(), InsertAccount::Inserted);
        store.insert_flow(flow.clone(), u32::MAX).await.unwrap();
        store.pool().close().await;
    }
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    assert_eq!(store.get_app(&app.tenant, &app.id).await.unwrap(), Some(app));
    assert_eq!(store.get_account(&account.tenant, &account.id).await.unwrap(), Some(account));
    assert_eq!(store.get_flow(&flow.id).await.unwrap(), Some(flow));
}

#[tokio::test]
async fn two_in_memory_stores_do_not_share_a_database() {
    let one = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let two = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let app = sample_app(&secret_box(), "s");
    one.insert_app(&app).await.unwrap();
    assert_eq!(two.get_app(&app.tenant, &app.id).await.unwrap(), None);
    assert!(one.get_app(&app.tenant, &app.id).await.unwrap().is_some());
}

#[tokio::test]
async fn the_raw_file_holds_the_ciphertext_and_no_plaintext_secret() {
    const CLIENT_SECRET: &str = "CLIENT-SECRET-plaintext-7f3a9c1e5b";
    const ACCESS_TOKEN: &str = "ACCESS-TOKEN-plaintext-2b8d4e6f0a";
    const REFRESH_TOKEN: &str = "REFRESH-TOKEN-plaintext-9c1a3e5b7d";
    const VERIFIER: &str = "PKCE-VERIFIER-plaintext-4d6f8a0c2e";
    let db = TempDb::new();
    let sb = secret_box();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    let app = sample_app(&sb, CLIENT_SECRET);
    let account = sample_account(&sb, &app, ACCESS_TOKEN, REFRESH_TOKEN);
    let flow = sample_flow(&sb, &app, VERIFIER);
    store.insert_app(&app).await.unwrap();
    store.insert_account(&account).await.unwrap();
    store.insert_flow(flow.clone(), u32::MAX).await.unwrap();

    let ciphertexts = [
        app.client_secret.as_bytes().to_vec(),
        account.access_token.as_bytes().to_vec(),
        account.refresh_token.clone().unwrap().into_bytes(),
        flow.pkce_verifier.clone().unwrap().into_bytes(),
    ];
    let plaintexts = [CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN, VERIFIER];

    // Before the checkpoint the rows sit in the WAL; after it, in the main file.
    for stage in ["before the checkpoint", "after the checkpoint"] {
        if stage == "after the checkpoint" {
            store.checkpoint().await.unwrap();
            let wal_len = std::fs::metadata(db.sidecar("-wal")).map_or(0, |m| m.len());
            assert_eq!(wal_len, 0, "a TRUNCATE checkpoint empties the WAL");
        }
        let raw = db.raw_bytes();
        for plaintext in plaintexts {
            assert!(
                !contains(&raw, plaintext.as_bytes()),
                "{stage}: the plaintext {plaintext} is in the database files"
            );
        }
        for (i, ciphertext) in ciphertexts.iter().enumerate() {
            assert!(
                contains(&raw, ciphertext),
                "{stage}: sealed value {i} is not in the database files (the test reads the wrong bytes)"
            );
        }
    }
    let main_file = std::fs::read(&db.path).unwrap();
    assert!(
        ciphertexts.iter().all(|c| contains(&main_file, c)),
        "after the checkpoint the main file itself holds the ciphertext"
    );
}

#[tokio::test]
async fn an_unreadable_row_is_a_corrupt_error_not_a_panic() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let sb = secret_box();
    let app = sample_app(&sb, "s");
    let account = sample_account(&sb, &app, "a", "r");
    let flow = sample_flow(&sb, &app, "v");
    store.insert_app(&app).await.unwrap();
    store.insert_account(&account).await.unwrap();
    store.insert_flow(flow.clone(), u32::MAX).await.unwrap();

    sqlx::query("UPDATE dravo_apps SET scopes = 'not json'").execute(store.pool()).await.unwrap();
    sqlx::query("UPDATE dravo_accounts SET status = 'sleeping'").execute(store.pool()).await.unwrap();
    sqlx::query("UPDATE dravo_flows SET pkce_verifier = x'00'").execute(store.pool()).await.unwrap();

    assert!(matches!(store.get_app(&app.tenant, &app.id).await, Err(StoreError::Corrupt(_))));
    assert!(matches!(store.list_apps(&app.tenant, None, &Default::default()).await, Err(StoreError::Corrupt(_))));
    assert!(matches!(store.get_account(&account.tenant, &account.id).await, Err(StoreError::Corrupt(_))));
    assert!(matches!(store.get_flow(&flow.id).await, Err(StoreError::Corrupt(_))));
    let err = store.take_flow(&flow.id, T0).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)));
    assert!(err.to_string().contains("dravo_flows.pkce_verifier"), "{err}");

    sqlx::query("UPDATE dravo_accounts SET status = 'active', access_token = 'text'")
        .execute(store.pool())
        .await
        .unwrap_err(); // STRICT: a TEXT value does not fit a BLOB column
    sqlx::query("UPDATE dravo_accounts SET status = 'active', connected_at = 999999999999999")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(store.get_account(&account.tenant, &account.id).await, Err(StoreError::Corrupt(_))));
}

#[tokio::test]
async fn a_changed_migration_is_refused() {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    sqlx::query("UPDATE dravo_connect_migrations SET checksum = x'00' WHERE version = 1")
        .execute(store.pool())
        .await
        .unwrap();
    store.pool().close().await;
    assert!(matches!(SqliteStore::connect(&db.url()).await, Err(StoreError::Backend(_))));
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_version_is_refused() {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    sqlx::query(
        "INSERT INTO dravo_connect_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', TRUE, x'00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.pool().close().await;
    assert!(matches!(SqliteStore::connect(&db.url()).await, Err(StoreError::Backend(_))));
}

#[tokio::test]
async fn from_pool_does_not_migrate_until_asked() {
    let db = TempDb::new();
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&db.path).create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let store = SqliteStore::from_pool(pool);
    assert!(names(&store, "table").await.is_empty());
    assert!(matches!(store.get_app(&tenant(), &AppId::generate()).await, Err(StoreError::Backend(_))));
    store.migrate().await.unwrap();
    assert_eq!(store.get_app(&tenant(), &AppId::generate()).await.unwrap(), None);
    assert!(names(&store, "table").await.contains(&"dravo_apps".to_owned()));
}

#[tokio::test]
async fn connect_with_takes_the_callers_options() {
    let db = TempDb::new();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db.path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Delete);
    let store = SqliteStore::connect_with(options).await.unwrap();
    let row = sqlx::query("PRAGMA journal_mode").fetch_one(store.pool()).await.unwrap();
    assert_eq!(row.get::<String, _>(0), "delete");
    assert!(store.checkpoint().await.is_ok(), "a checkpoint without WAL is a no-op");
    assert!(format!("{store:?}").starts_with("SqliteStore"));
}

#[tokio::test]
async fn a_malformed_url_is_a_backend_error() {
    assert!(matches!(SqliteStore::connect("postgres://nope").await, Err(StoreError::Backend(_))));
    assert!(matches!(SqliteStore::connect("sqlite://x.db?mode=sideways").await, Err(StoreError::Backend(_))));
}

/// The previous release's database, with one Mastodon app and its registration at
/// mastodon.social, as `sqlite3 .dump` wrote it (migrations 0001-0005 recorded with their
/// checksums).
const OLD_SQLITE: &str = include_str!("fixtures/sqlite_0005.sql");

/// What the old fixtures hold: the app, and its registration's sealed secret, which the
/// upgrade must carry over byte for byte (it opens with the associated data it had).
const OLD_APP: &str = "app_0123456789abcdefghijkl";

#[tokio::test]
async fn a_database_of_the_previous_release_opens_migrates_forward_and_keeps_its_registrations() {
    let db = TempDb::new();
    {
        let mut conn =
            <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("{}?mode=rwc", db.url())).await.unwrap();
        sqlx::raw_sql(OLD_SQLITE).execute(&mut conn).await.unwrap();
        sqlx::Connection::close(conn).await.unwrap();
    }
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM dravo_connect_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(applied, vec![(1, true), (2, true), (3, true), (4, true), (5, true), (6, true)]);
    check_upgraded(&store).await;
}

/// The old fixture's data, read through the new store.
pub(crate) async fn check_upgraded<S: Store>(store: &S) {
    let tenant: TenantId = "tenant-old".parse().unwrap();
    let app_id: AppId = OLD_APP.parse().unwrap();
    let app = store.get_app(&tenant, &app_id).await.unwrap().expect("the old app is still there");
    let sb = secret_box();
    assert_eq!(
        sb.open_string(app_id.as_str(), "client_secret", &app.client_secret).unwrap().expose_secret(),
        "old-app-secret"
    );
    let state = store.provider_state().expect("the SQL stores keep provider state");
    let entry = state
        .get_provider_state(&tenant, &app_id, &"mastodon".parse().unwrap(), "mastodon.social")
        .await
        .unwrap()
        .expect("the registration moved into provider state");
    let meta: serde_json::Value = serde_json::from_str(&entry.metadata).unwrap();
    assert_eq!(
        meta,
        serde_json::json!({
            "origin": "https://mastodon.social",
            "client_id": "instance-client",
            "scopes": ["profile", "write:statuses"],
        })
    );
    let secret = sb.open_string(&format!("{app_id}@mastodon.social"), "client_secret", &entry.secret).unwrap();
    assert_eq!(secret.expose_secret(), "instance-secret");
    assert_eq!(entry.created_at, datetime!(2025-01-01 00:00:00 UTC));
    assert_eq!(state.list_provider_state(&tenant, &app_id).await.unwrap(), vec![entry]);
}
