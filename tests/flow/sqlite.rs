//! A full flow on the SQLite store: the database file holds only ciphertext.

use dravo_connect::store::{SqliteStore, Store};
use dravo_connect::test_util::MockProvider;
use dravo_connect::{AppId, Connect, KeyId, Secret, StartParams};

use crate::harness::*;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn after_a_flow_the_sqlite_file_and_its_wal_hold_no_plaintext_secret_or_token() {
    let dir = std::env::temp_dir().join(format!("dravo-raw-{}", dravo_connect::FlowId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("raw.db");
    let store = SqliteStore::connect(&format!("sqlite://{}?mode=rwc", db.display())).await.unwrap();
    let mock = MockProvider::start().await.unwrap();
    let connect = Connect::builder()
        .public_base_url(BASE)
        .state_key(KeyId::zero(), Secret::new(vec![3; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![4; 32]))
        .store(store.clone())
        .outbound_loopback_only(true)
        .browser_binding(false)
        .provider_config(mock.provider_config("mock"))
        .build()
        .unwrap();
    let t = tenant("t1");
    let secret = "client-secret-PLAINTEXT-0123456789";
    let app = connect
        .create_app(
            &t,
            dravo_connect::NewApp::new("mock".parse().unwrap(), "mock-client", secret, vec![RETURN.to_owned()]),
        )
        .await
        .unwrap();
    // The mock checks the secret, so give it the one we stored.
    let started = connect.start(&t, &"mock".parse().unwrap(), StartParams::new(RETURN)).await;
    assert!(started.is_ok());
    let token = mock.issue_access_token(&mock.user());
    let mut new = dravo_connect::NewAccount::new("mock".parse().unwrap(), token.clone());
    new.refresh_token = Some(Secret::from("refresh-PLAINTEXT-token-42"));
    let account = connect.register_account(&t, new).await.unwrap();
    assert_eq!(connect.access_token(&t, &account.id).await.unwrap().expose_secret(), &token);

    store.checkpoint().await.unwrap();
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(dir.join("raw.db-wal")) {
        bytes.extend(wal);
    }
    for plain in [secret, token.as_str(), "refresh-PLAINTEXT-token-42"] {
        assert!(!contains(&bytes, plain.as_bytes()), "plaintext {plain:?} found in the database file");
    }
    // Positive control: the sealed client secret as the store holds it is in the file.
    let app_id: AppId = app.id.clone();
    let record = store.get_app(&t, &app_id).await.unwrap().unwrap();
    assert!(contains(&bytes, record.client_secret.as_bytes()), "the ciphertext should be in the file");
    assert!(contains(&bytes, b"mock-user-1"), "ordinary columns are readable");
    let _ = std::fs::remove_dir_all(&dir);
}
