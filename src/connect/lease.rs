//! The cross-instance refresh: one app instance refreshes an account's tokens while the
//! others wait for the refreshed row.
//!
//! The in-process mutex of [`Connect::access_token`](crate::Connect::access_token) lets one task per instance through;
//! that task takes the account's lease in the store (a compare-and-set on the account row,
//! [`LeaseStore::try_lease_account`](crate::store::LeaseStore::try_lease_account)), re-reads the row,
//! refreshes only if it is still stale, stores the new tokens and gives the lease back.
//! A task that finds the lease taken polls the row with a short backoff until it is fresh,
//! or until the lease runs out and it can take the lease itself.
//!
//! A store without a [`LeaseStore`](crate::store::LeaseStore) gets the in-process gate only:
//! correct for one app instance, while several instances sharing such a store may refresh
//! one account at once.

use std::time::Duration;

use super::tokens::Tokens;
use super::{Error, ErrorCode};
use crate::Secret;
use crate::{AccountId, TenantId};

/// How long a lease lasts (by the injected clock). It must outlast a refresh request, so it
/// is longer than the longest outbound timeout a host would configure for one; a holder
/// that dies leaves the lease to run out.
const LEASE_TTL: time::Duration = time::Duration::seconds(60);
/// The first and the longest pause between two looks at a row another instance refreshes.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(200);
/// How long (in real time) a waiter waits for another holder before giving up: the lease's
/// own lifetime, so a waiter never waits on a lease that could not still be live.
const MAX_WAIT: Duration = Duration::from_secs(60);

impl Tokens {
    /// Refreshes the account's token under its store lease, or waits for the instance that
    /// holds the lease. Called with the in-process gate held.
    pub(super) async fn refresh_leased(&self, tenant: &TenantId, id: &AccountId) -> Result<Secret<String>, Error> {
        let Some(lease) = self.shared.store.lease() else {
            // No lease in the store: the in-process gate, held by the caller, is the lock.
            let (result, event) = self.refresh_locked(tenant, id).await;
            if let Some(event) = event {
                self.shared.refresh_hook(tenant, event).await;
            }
            return result;
        };
        let store = &self.shared.store;
        // A fresh holder name per attempt: a lease left behind by a crashed call is never
        // mistaken for ours.
        let holder = format!("{:032x}", rand::random::<u128>());
        let waited_since = tokio::time::Instant::now();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let now = self.shared.now();
            if lease.try_lease_account(tenant, id, &holder, now + LEASE_TTL, now).await? {
                // `refresh_locked` re-reads the row and refreshes only if still stale.
                let (result, event) = self.refresh_locked(tenant, id).await;
                if let Err(e) = lease.release_account_lease(tenant, id, &holder).await {
                    // The lease runs out on its own; the refresh itself stands.
                    tracing::warn!(account_id = %id, error = %e, "releasing the refresh lease failed");
                }
                // Hooks run after the store write and never while the lease is held.
                if let Some(event) = event {
                    self.shared.refresh_hook(tenant, event).await;
                }
                return result;
            }
            // Another instance (or a lease left behind) holds it: look at the row again.
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            let account = store.get_account(tenant, id).await?.ok_or_else(|| Error::not_found("account"))?;
            if let Some(token) = self.usable_token(&account)? {
                return Ok(token);
            }
            if waited_since.elapsed() >= MAX_WAIT {
                tracing::warn!(account_id = %id, "gave up waiting for another instance's token refresh");
                return Err(Error::new(
                    ErrorCode::ProviderError,
                    "another instance is refreshing this account's token; try again",
                ));
            }
        }
    }
}
