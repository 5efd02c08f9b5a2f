//! The refresh lease across instances, on a shared memory store inside the counting test
//! store (the PostgreSQL version of the same race is in `postgres.rs`).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use dravo_connect::store::LeaseStore;
use dravo_connect::test_util::MockProvider;
use dravo_connect::{AccountId, Connect, KeyId, ManualClock, NewApp, Secret, StartParams};
use tokio::task::JoinSet;

use crate::harness::*;

struct Pair {
    instances: [Connect; 2],
    store: Arc<FaultyStore>,
    mock: MockProvider,
    clock: Arc<ManualClock>,
}

async fn pair_with_an_expired_account() -> (Pair, AccountId) {
    let store = Arc::new(FaultyStore::default());
    let mock = MockProvider::start().await.unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let build = || {
        Connect::builder()
            .public_base_url(BASE)
            .state_key(KeyId::zero(), Secret::new(vec![5; 32]))
            .encryption_key(KeyId::zero(), Secret::new(vec![6; 32]))
            .shared_store(store.clone())
            .clock(clock.clone())
            .outbound_loopback_only(true)
            .browser_binding(false)
            .provider_config(mock.provider_config("mock"))
            .build()
            .unwrap()
    };
    let instances = [build(), build()];
    let c = mock.config();
    let new =
        NewApp::new("mock".parse().unwrap(), c.client_id.clone(), c.client_secret.clone(), vec![RETURN.to_owned()]);
    instances[0].create_app(&tenant("t1"), new).await.unwrap();
    let started = instances[0].start(&tenant("t1"), &"mock".parse().unwrap(), StartParams::new(RETURN)).await.unwrap();
    let to = mock.consent(&started.authorize_url).await.unwrap();
    let r = instances[1]
        .handle(http::Request::get(format!("{}?{}", to.path(), to.query().unwrap())).body(Bytes::new()).unwrap())
        .await;
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let id = location.query_pairs().find(|(k, _)| k == "account_id").unwrap().1.parse().unwrap();
    clock.advance(time::Duration::hours(2));
    mock.reset_counts();
    (Pair { instances, store, mock, clock }, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_store_refresh_an_expired_token_once() {
    let (p, id) = pair_with_an_expired_account().await;
    let p = Arc::new(p);
    let mut tasks = JoinSet::new();
    for i in 0..20_usize {
        let (p, id) = (Arc::clone(&p), id.clone());
        tasks.spawn(async move {
            p.instances[i % 2].access_token(&tenant("t1"), &id).await.unwrap().expose_secret().clone()
        });
    }
    let mut tokens = HashSet::new();
    while let Some(t) = tasks.join_next().await {
        tokens.insert(t.unwrap());
    }
    assert_eq!(p.mock.counts().token_refresh, 1);
    assert_eq!(tokens.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_a_lease_refreshes_once_per_instance_under_the_in_process_gate() {
    let (p, id) = pair_with_an_expired_account().await;
    p.store.no_lease.store(true, Ordering::SeqCst);
    let p = Arc::new(p);
    let mut tasks = JoinSet::new();
    for _ in 0..20_usize {
        let (p, id) = (Arc::clone(&p), id.clone());
        tasks.spawn(
            async move { p.instances[0].access_token(&tenant("t1"), &id).await.unwrap().expose_secret().clone() },
        );
    }
    let mut tokens = HashSet::new();
    while let Some(t) = tasks.join_next().await {
        tokens.insert(t.unwrap());
    }
    assert_eq!(p.mock.counts().token_refresh, 1, "one refresh for 20 concurrent callers of one instance");
    assert_eq!(tokens.len(), 1);
}

#[tokio::test]
async fn a_lease_left_by_a_crashed_instance_is_taken_over_once_it_runs_out() {
    let (p, id) = pair_with_an_expired_account().await;
    let now = START + time::Duration::hours(2);
    assert!(
        p.store.try_lease_account(&tenant("t1"), &id, "crashed", now + time::Duration::seconds(60), now).await.unwrap()
    );
    let mut waiting = {
        let connect = p.instances[0].clone();
        let id = id.clone();
        tokio::spawn(async move { connect.access_token(&tenant("t1"), &id).await })
    };
    // The waiter finds the lease taken, polls the row, and tries again: wait (on the store's
    // signal, not on time) until it has been refused three times, or has returned.
    let mut returned = None;
    loop {
        let refused = p.store.lease_refused.notified();
        if p.store.lease_refusals.load(Ordering::SeqCst) >= 3 {
            break;
        }
        tokio::select! {
            () = refused => {}
            done = &mut waiting => {
                returned = Some(done);
                break;
            }
        }
    }
    assert_eq!(p.mock.counts().token_refresh, 0, "no refresh while another holder's lease is live");
    assert!(returned.is_none(), "the waiter returned while another holder's lease was live: {returned:?}");
    p.clock.advance(time::Duration::seconds(60));
    let token = waiting.await.unwrap().unwrap();
    assert!(token.expose_secret().starts_with("mock_at_"));
    assert_eq!(p.mock.counts().token_refresh, 1);
}
