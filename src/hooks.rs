//! [`ConnectHooks`]: the host's own code, run on account events (to send its own webhooks or
//! update its own tables).
//!
//! A hook is awaited after the store write it reports has succeeded, bounded by a timeout
//! ([`ConnectBuilder::hook_timeout`](crate::ConnectBuilder::hook_timeout), 5 seconds by
//! default). Its error or timeout is logged (at WARN, target `dravo_connect::hooks`) and
//! never changes the outcome: the account is connected (or disconnected) whatever the hook
//! says. A hook that panics is a bug in the host: the panic unwinds through the call.
//!
//! ```
//! use async_trait::async_trait;
//! use dravo_connect::hooks::{ConnectHooks, HookError};
//! use dravo_connect::{Account, TenantId};
//!
//! #[derive(Debug)]
//! struct Webhooks;
//!
//! #[async_trait]
//! impl ConnectHooks for Webhooks {
//!     async fn connected(&self, tenant: &TenantId, account: &Account) -> Result<(), HookError> {
//!         println!("{tenant}: {} connected {}", account.provider, account.id);
//!         Ok(())
//!     }
//! }
//! ```

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::TenantId;
use crate::model::{Account, Revocation};

/// A hook's error: anything the host's code returns. It is logged, never shown to a client.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// The default bound on one hook call.
pub(crate) const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Callbacks on account events. Every method has a default that does nothing, so a host
/// implements only what it needs.
#[async_trait]
pub trait ConnectHooks: fmt::Debug + Send + Sync + 'static {
    /// A new account was connected (by the callback, or registered with
    /// `POST /accounts`).
    ///
    /// # Errors
    /// Whatever the host's code fails with: logged, never changing the outcome.
    async fn connected(&self, tenant: &TenantId, account: &Account) -> Result<(), HookError> {
        let _ = (tenant, account);
        Ok(())
    }

    /// An existing account was connected again (same tenant, provider, provider account and
    /// `external_id`): its tokens and profile were updated.
    ///
    /// # Errors
    /// Whatever the host's code fails with: logged, never changing the outcome.
    async fn reconnected(&self, tenant: &TenantId, account: &Account) -> Result<(), HookError> {
        let _ = (tenant, account);
        Ok(())
    }

    /// An account was deleted; `revocation` says what happened at the provider.
    ///
    /// # Errors
    /// Whatever the host's code fails with: logged, never changing the outcome.
    async fn disconnected(
        &self,
        tenant: &TenantId,
        account: &Account,
        revocation: Revocation,
    ) -> Result<(), HookError> {
        let _ = (tenant, account, revocation);
        Ok(())
    }

    /// An account's access token was renewed (refreshed, or re-exchanged) and stored.
    ///
    /// # Errors
    /// Whatever the host's code fails with: logged, never changing the outcome.
    async fn refreshed(&self, tenant: &TenantId, account: &Account) -> Result<(), HookError> {
        let _ = (tenant, account);
        Ok(())
    }

    /// Renewing an account's token failed: [`RefreshFailure::Refused`] (the account is now
    /// `expired`; ask the user to reconnect) or [`RefreshFailure::Transient`] (the stored
    /// tokens are kept; a later call tries again).
    ///
    /// # Errors
    /// Whatever the host's code fails with: logged, never changing the outcome.
    async fn refresh_failed(
        &self,
        tenant: &TenantId,
        account: &Account,
        failure: RefreshFailure,
    ) -> Result<(), HookError> {
        let _ = (tenant, account, failure);
        Ok(())
    }
}

/// Why renewing a token failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshFailure {
    /// The provider refused for good (or there is nothing to renew with): the account was
    /// marked `expired`.
    Refused,
    /// The provider failed for now (5xx, timeout): the stored tokens were kept.
    Transient,
}

/// A refresh outcome to report once the refresh lease is given back.
#[derive(Debug)]
pub(crate) enum RefreshEvent {
    Refreshed(crate::store::AccountRecord),
    Failed(crate::store::AccountRecord, RefreshFailure),
}

/// One event, as handed to [`run`].
pub(crate) enum HookEvent<'a> {
    Connected(&'a TenantId, &'a Account),
    Reconnected(&'a TenantId, &'a Account),
    Disconnected(&'a TenantId, &'a Account, Revocation),
    Refreshed(&'a TenantId, &'a Account),
    RefreshFailed(&'a TenantId, &'a Account, RefreshFailure),
}

impl HookEvent<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::Connected(..) => "connected",
            Self::Reconnected(..) => "reconnected",
            Self::Disconnected(..) => "disconnected",
            Self::Refreshed(..) => "refreshed",
            Self::RefreshFailed(..) => "refresh_failed",
        }
    }

    fn account(&self) -> &Account {
        match self {
            Self::Connected(_, a)
            | Self::Reconnected(_, a)
            | Self::Disconnected(_, a, _)
            | Self::Refreshed(_, a)
            | Self::RefreshFailed(_, a, _) => a,
        }
    }
}

/// Runs the host's hook for `event`, if any, bounded by `timeout`; an error or a timeout is
/// logged and otherwise ignored. Call it after the store write succeeded and never while
/// holding a refresh lease.
pub(crate) async fn run(hooks: Option<&dyn ConnectHooks>, timeout: Duration, event: HookEvent<'_>) {
    let Some(hooks) = hooks else {
        return;
    };
    let call = async {
        match &event {
            HookEvent::Connected(tenant, account) => hooks.connected(tenant, account).await,
            HookEvent::Reconnected(tenant, account) => hooks.reconnected(tenant, account).await,
            HookEvent::Disconnected(tenant, account, revocation) => {
                hooks.disconnected(tenant, account, *revocation).await
            }
            HookEvent::Refreshed(tenant, account) => hooks.refreshed(tenant, account).await,
            HookEvent::RefreshFailed(tenant, account, failure) => hooks.refresh_failed(tenant, account, *failure).await,
        }
    };
    let outcome = tokio::time::timeout(timeout, call).await;
    let (name, account_id) = (event.name(), &event.account().id);
    match outcome {
        Ok(Ok(())) => {
            tracing::debug!(target: "dravo_connect::hooks", hook = name, account_id = %account_id, "hook ran")
        }
        Ok(Err(e)) => {
            tracing::warn!(target: "dravo_connect::hooks", hook = name, account_id = %account_id, error = %e, "hook failed");
        }
        Err(_) => {
            tracing::warn!(target: "dravo_connect::hooks", hook = name, account_id = %account_id, "hook timed out");
        }
    }
}

/// Runs the `refreshed` / `refresh_failed` hook for a refresh outcome (see [`run`]).
pub(crate) async fn report_refresh(
    hooks: Option<&dyn ConnectHooks>,
    timeout: Duration,
    tenant: &TenantId,
    event: RefreshEvent,
) {
    match event {
        RefreshEvent::Refreshed(record) => {
            let view = Account::from(record);
            run(hooks, timeout, HookEvent::Refreshed(tenant, &view)).await;
        }
        RefreshEvent::Failed(record, failure) => {
            let view = Account::from(record);
            run(hooks, timeout, HookEvent::RefreshFailed(tenant, &view, failure)).await;
        }
    }
}
