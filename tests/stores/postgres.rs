//! The store conformance suite against PostgreSQL, and what only PostgreSQL has: migrations
//! under an advisory lock, table names in the connection's schema, and no plaintext secret.
//! Each store gets a fresh schema of its own (see `tests/common/pg.rs`).

use std::sync::Arc;

use dravo_connect::store::{PostgresStore, Store, StoreError};
use dravo_connect::test_util::store_conformance;
use dravo_connect::{AppId, TenantId};

#[path = "../common/pg.rs"]
mod pg;

use pg::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_conformance_suite() {
    let Some(db) = TestDb::get("postgres_store_passes_the_conformance_suite").await else { return };
    let db = Arc::new(db);
    let make = {
        let db = Arc::clone(&db);
        move || {
            let db = Arc::clone(&db);
            async move { db.fresh_store().await }
        }
    };
    store_conformance(make).await;
}

async fn names(store: &PostgresStore, kind: &str) -> Vec<String> {
    let sql = match kind {
        "table" => "SELECT tablename::TEXT FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
        _ => "SELECT indexname::TEXT FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1",
    };
    sqlx::query_scalar(sql).fetch_all(store.pool()).await.unwrap()
}

#[tokio::test]
async fn every_table_and_index_starts_with_dravo_and_migrations_have_their_own_table() {
    let Some(db) = TestDb::get("every_table_and_index_starts_with_dravo").await else { return };
    let store = db.fresh_store().await;
    assert_eq!(
        names(&store, "table").await,
        [
            "dravo_accounts",
            "dravo_apps",
            "dravo_connect_migrations",
            "dravo_flows",
            "dravo_provider_state",
            "dravo_selections"
        ]
    );
    for name in names(&store, "index").await {
        assert!(name.starts_with("dravo_"), "index `{name}`");
    }
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM dravo_connect_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await
            .unwrap();
    // 0005 is SQLite's alone: from 0006 on the numbers are in step.
    assert_eq!(applied, vec![(1, true), (2, true), (3, true), (4, true), (6, true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_migrating_one_new_schema_at_once_apply_each_migration_once() {
    let Some(db) = TestDb::get("instances_migrating_one_new_schema_at_once").await else { return };
    let schema = db.new_schema().await;
    let db = Arc::new(db);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let db = Arc::clone(&db);
            let schema = schema.clone();
            tokio::spawn(async move { PostgresStore::connect_with(db.options(&schema)).await })
        })
        .collect();
    let mut stores = Vec::new();
    for task in tasks {
        stores.push(task.await.unwrap().expect("every instance starts"));
    }
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dravo_connect_migrations").fetch_one(stores[0].pool()).await.unwrap();
    assert_eq!(applied, 5);
    for store in &stores {
        store.migrate().await.unwrap();
        store.pool().close().await;
    }
}

#[tokio::test]
async fn from_pool_does_not_migrate_until_asked() {
    let Some(db) = TestDb::get("from_pool_does_not_migrate_until_asked").await else { return };
    let schema = db.new_schema().await;
    let pool = sqlx::PgPool::connect_with(db.options(&schema)).await.unwrap();
    let store = PostgresStore::from_pool(pool);
    let tenant: TenantId = "t".parse().unwrap();
    assert!(names(&store, "table").await.is_empty());
    assert!(matches!(store.get_app(&tenant, &AppId::generate()).await, Err(StoreError::Backend(_))));
    store.migrate().await.unwrap();
    assert_eq!(store.get_app(&tenant, &AppId::generate()).await.unwrap(), None);
    assert!(format!("{store:?}").starts_with("PostgresStore"));
}

#[tokio::test]
async fn a_changed_or_unknown_migration_is_refused() {
    let Some(db) = TestDb::get("a_changed_or_unknown_migration_is_refused").await else { return };
    let schema = db.new_schema().await;
    let store = db.store_in(&schema, 2).await;
    sqlx::query("UPDATE dravo_connect_migrations SET checksum = '\\x00' WHERE version = 1")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(store.migrate().await, Err(StoreError::Backend(_))), "a changed migration");
    let other = db.new_schema().await;
    let store = db.store_in(&other, 2).await;
    sqlx::query(
        "INSERT INTO dravo_connect_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    assert!(matches!(store.migrate().await, Err(StoreError::Backend(_))), "a migration from a newer version");
}

#[tokio::test]
async fn a_malformed_url_is_a_backend_error() {
    // (An absent server is one too, after sqlx's 30-second acquire timeout: too slow here.)
    assert!(matches!(PostgresStore::connect("sqlite://nope.db").await, Err(StoreError::Backend(_))));
    assert!(matches!(PostgresStore::connect("postgres://u@127.0.0.1:notaport/x").await, Err(StoreError::Backend(_))));
}

#[tokio::test]
async fn an_unreadable_row_is_a_corrupt_error_not_a_panic() {
    let Some(db) = TestDb::get("an_unreadable_row_is_a_corrupt_error_not_a_panic").await else { return };
    let store = db.fresh_store().await;
    let sb = super::secret_box();
    let app = super::sample_app(&sb, "client-secret");
    let account = super::sample_account(&sb, &app, "access", "refresh");
    store.insert_app(&app).await.unwrap();
    store.insert_account(&account).await.unwrap();
    for corruption in [
        "UPDATE dravo_accounts SET status = 'sideways'",
        "UPDATE dravo_accounts SET status = 'active', scopes = 'not json'",
        "UPDATE dravo_accounts SET scopes = '[]', access_token = '\\x00'",
        // A well-formed sealed value again (the app's), and a time out of range.
        "UPDATE dravo_accounts SET access_token = (SELECT client_secret FROM dravo_apps), \
         connected_at = 999999999999999",
    ] {
        sqlx::query(corruption).execute(store.pool()).await.unwrap();
        assert!(
            matches!(store.get_account(&account.tenant, &account.id).await, Err(StoreError::Corrupt(_))),
            "after {corruption}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pending_flow_count_reads_the_partial_index_not_the_table() {
    let Some(db) = TestDb::get("the_pending_flow_count_reads_the_partial_index_not_the_table").await else { return };
    let store = db.fresh_store().await;
    // 20,000 flows of 100 tenants: half consumed, a quarter expired at the time counted.
    sqlx::query(
        "INSERT INTO dravo_flows (id, tenant, app_id, provider, return_url, redirect_uri, scopes, created_at, \
         expires_at, consumed_at) \
         SELECT decode(lpad(to_hex(i), 40, '0'), 'hex'), 't' || (i % 100), 'app_1', 'x', \
         'https://app.example.com/connect/done', 'https://api.example.com/v1/oauth/x/callback', '[]', 0, \
         CASE WHEN i % 4 = 0 THEN 50 ELSE 600 END, CASE WHEN i % 2 = 0 THEN 10 END \
         FROM generate_series(1, 20000) AS i",
    )
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query("ANALYZE dravo_flows").execute(store.pool()).await.unwrap();
    // The count `insert_flow` makes, as it makes it.
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT count(*) FROM (SELECT 1 FROM dravo_flows \
         WHERE tenant = $1 AND consumed_at IS NULL AND expires_at > $2 LIMIT $3) AS pending",
    )
    .bind("t7")
    .bind(100_i64)
    .bind(1000_i64)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("dravo_flows_pending"), "the count uses the partial index:\n{plan}");
    assert!(!plan.contains("Seq Scan"), "the count never scans the table:\n{plan}");
}

/// The previous release's PostgreSQL database (migrations 0001-0004 recorded with their
/// checksums), with one Mastodon app and its registration at mastodon.social, as `pg_dump`
/// wrote it, without its schema name.
const OLD_POSTGRES: &str = include_str!("fixtures/postgres_0004.sql");

#[tokio::test]
async fn a_database_of_the_previous_release_opens_migrates_forward_and_keeps_its_registrations() {
    let Some(db) = TestDb::get("a_database_of_the_previous_release_opens").await else { return };
    let schema = db.new_schema().await;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect_with(db.options(&schema)).await.unwrap();
    sqlx::raw_sql(OLD_POSTGRES).execute(&pool).await.unwrap();
    let store = PostgresStore::from_pool(pool);
    store.migrate().await.unwrap();
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM dravo_connect_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(applied, vec![(1, true), (2, true), (3, true), (4, true), (6, true)]);
    super::check_upgraded(&store).await;
}
