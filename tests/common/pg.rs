//! PostgreSQL for tests: finds the server, gives every store its own fresh schema, and
//! drops those schemas afterwards, so tests are isolated and can run in parallel.
//!
//! The server is `DATABASE_URL` when set, else `postgres://postgres@127.0.0.1:5432/test`
//! when it answers. Without one, a run with `CI` set fails; elsewhere the tests print to
//! stderr that they were skipped, and why, and pass. (The environment is read at run time.)

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::Write as _;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use dravo_connect::store::PostgresStore;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test database; drops every schema it made when dropped.
pub struct TestDb {
    url: String,
    schemas: Mutex<Vec<String>>,
}

impl TestDb {
    /// The server, or `None` (reported on stderr) when there is none and `CI` is unset.
    ///
    /// # Panics
    /// When there is no server and `CI` is set.
    pub async fn get(test: &str) -> Option<Self> {
        let (url, from_env) = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => (url, true),
            _ => (DEFAULT_URL.to_owned(), false),
        };
        let reached = match PgConnectOptions::from_str(&url) {
            Ok(options) => {
                match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&options)).await {
                    Ok(Ok(conn)) => {
                        let _ = conn.close().await;
                        Ok(())
                    }
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("no answer within 5 s".to_owned()),
                }
            }
            Err(e) => Err(format!("malformed URL: {e}")),
        };
        match reached {
            Ok(()) => Some(Self { url, schemas: Mutex::new(Vec::new()) }),
            Err(why) => {
                let source = if from_env { "DATABASE_URL" } else { "the default URL (DATABASE_URL is unset)" };
                let message = format!("no PostgreSQL at {source} ({}): {why}", redact(&url));
                if std::env::var_os("CI").is_some() {
                    panic!("{message}; CI is set, so the PostgreSQL tests must run");
                }
                // Straight to the stderr handle: the test harness captures `eprintln!` of a
                // passing test, and this must be seen.
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "\n!!! SKIPPED PostgreSQL test `{test}`: {message}.\n\
                     !!! Set DATABASE_URL to a server you can create schemas in to run it.\n"
                );
                None
            }
        }
    }

    /// Creates a fresh, empty schema and returns its name.
    pub async fn new_schema(&self) -> String {
        let name = format!("dravo_test_{}_{:016x}", std::process::id(), rand::random::<u64>());
        let mut conn = PgConnection::connect(&self.url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}"))).execute(&mut conn).await.unwrap();
        let _ = conn.close().await;
        self.schemas.lock().unwrap().push(name.clone());
        name
    }

    /// Connection options whose `search_path` is `schema` alone.
    pub fn options(&self, schema: &str) -> PgConnectOptions {
        PgConnectOptions::from_str(&self.url).unwrap().options([("search_path", schema)])
    }

    /// A migrated store in `schema`, with its own pool of at most `connections`.
    pub async fn store_in(&self, schema: &str, connections: u32) -> PostgresStore {
        let pool = PgPoolOptions::new().max_connections(connections).connect_with(self.options(schema)).await.unwrap();
        let store = PostgresStore::from_pool(pool);
        store.migrate().await.unwrap();
        store
    }

    /// A migrated store in a fresh schema of its own.
    pub async fn fresh_store(&self) -> PostgresStore {
        let schema = self.new_schema().await;
        self.store_in(&schema, 4).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let schemas = std::mem::take(&mut *self.schemas.lock().unwrap_or_else(|e| e.into_inner()));
        if schemas.is_empty() {
            return;
        }
        let url = self.url.clone();
        // Drop may run inside a runtime (which cannot block on another): clean up on a
        // thread with its own.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let Ok(mut conn) = PgConnection::connect(&url).await else { return };
                for name in schemas {
                    let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
                        eprintln!("could not drop test schema {name}: {e}");
                    }
                }
                let _ = conn.close().await;
            });
        });
        let _ = cleanup.join();
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
