//! What is not about an adapter (the HTTP cases run against every adapter in
//! `tests/conformance`): concurrency on one state, the host-side API's token refresh, the X
//! adapter, SQLite at rest, and the demo host app end to end.
#![cfg(all(feature = "axum", feature = "test-util", feature = "reqwest"))]

mod bluesky;
mod bounds;
#[cfg(feature = "sqlite")]
mod browser;
#[cfg(feature = "sqlite")]
mod demo;
#[allow(dead_code)] // shared with the conformance suite, which uses more of it
#[path = "../common/faulty_store.rs"]
mod faulty_store;
mod fuzz_seeds;
#[allow(dead_code)] // the helpers are shared by the modules below, and not each one uses all
mod harness;
mod hooks;
mod lease;
mod maintenance;
mod mastodon;
mod openapi;
#[cfg(feature = "postgres")]
mod postgres;
mod provider_conformance;
mod providers;
mod seams;
mod security;
mod selection;
#[cfg(feature = "sqlite")]
mod sqlite;
mod x;

use dravo_connect::ErrorCode;
use dravo_connect::test_util::MockBehavior;
use harness::*;

#[tokio::test]
async fn concurrent_callbacks_with_one_state_connect_exactly_one_account() {
    let h = H::new().await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let futs = (0..8).map(|_| h.callback(&cb));
    let results = futures_join_all(futs).await;
    let ok = results.iter().filter(|r| r.location_param("connected").is_some()).count();
    let reused = results.iter().filter(|r| r.location_param("oauth_error").as_deref() == Some("state_reused")).count();
    assert_eq!((ok, reused), (1, 7));
    assert_eq!(h.mock.counts().token, 1);
}

async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    let handles: Vec<_> = futs.collect();
    // Poll them all concurrently on this task.
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.extend(done.into_iter().map(Option::unwrap));
    out
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_the_rotated_token_stored() {
    let h = H::new().await;
    let id: dravo_connect::AccountId = h.connect_once().await.location_param("account_id").unwrap().parse().unwrap();
    let t1 = tenant("t1");
    let before = h.connect.access_token(&t1, &id).await.unwrap();
    h.clock.advance(time::Duration::hours(2));
    h.mock.expire_access_tokens();
    let after = h.connect.access_token(&t1, &id).await.unwrap();
    assert_ne!(before.expose_secret(), after.expose_secret());
    assert_eq!(h.mock.counts().token_refresh, 1);
    // The stored token is the new one: no second refresh, and the provider accepts it.
    let again = h.connect.access_token(&t1, &id).await.unwrap();
    assert_eq!(again.expose_secret(), after.expose_secret());
    assert_eq!(h.mock.counts().token_refresh, 1);
    // A second expiry uses the rotated refresh token (the old one is dead at the mock).
    h.clock.advance(time::Duration::hours(2));
    h.connect.access_token(&t1, &id).await.unwrap();
    assert_eq!(h.mock.counts().token_refresh, 2);
    // A refusal marks the account expired.
    h.clock.advance(time::Duration::hours(2));
    h.mock.set_behavior(MockBehavior::default().with_refresh_invalid_grant(true));
    let err = h.connect.access_token(&t1, &id).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidToken);
    assert_eq!(h.get(&format!("/v1/accounts/{id}"), Some(KEY1)).await.json()["status"], "expired");
}

#[tokio::test]
async fn concurrent_access_token_calls_share_one_refresh() {
    let h = H::new().await;
    let id: dravo_connect::AccountId = h.connect_once().await.location_param("account_id").unwrap().parse().unwrap();
    h.clock.advance(time::Duration::hours(2));
    let t1 = tenant("t1");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = h.connect.clone();
        let (t, i) = (t1.clone(), id.clone());
        tasks.push(tokio::spawn(async move { c.access_token(&t, &i).await.map(|s| s.expose_secret().clone()) }));
    }
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        tokens.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(tokens.len(), 1);
    assert_eq!(h.mock.counts().token_refresh, 1);
}
