//! Housekeeping that keeps a long-running deployment healthy: the opportunistic sweep of
//! expired flows, and re-sealing every stored secret after an encryption-key rotation.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

use super::shared::Shared;
use super::{Connect, Error, FIELD_ACCESS_TOKEN, FIELD_CLIENT_SECRET, FIELD_REFRESH_TOKEN};
use crate::core::secret_box::Sealed;
use crate::store::{AccountRecord, AppRecord, MaintenanceStore, PageRequest, ProviderStateRecord, SealedTokens};

/// The least time between two opportunistic sweeps of one instance (by the injected clock).
const SWEEP_INTERVAL_SECS: i64 = 60;
/// Rows read per page by [`Connect::reseal_secrets`].
const RESEAL_PAGE: u32 = 100;
/// How often a re-seal re-reads a row that changed under it before leaving it for the next
/// run (each change was written by an instance, normally sealed with the newest key).
const RESEAL_ATTEMPTS: u32 = 5;

/// What [`Connect::reseal_secrets`] did.
///
/// After a run with `failed == 0`, every secret that existed when the run started is sealed
/// with the newest encryption key, and older keys can be removed from every instance once
/// the instances themselves seal with the newest key (it is first in their lists).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResealReport {
    /// Apps looked at.
    pub apps_checked: u64,
    /// Apps whose client secret was re-sealed.
    pub apps_resealed: u64,
    /// Accounts looked at.
    pub accounts_checked: u64,
    /// Accounts whose tokens were re-sealed.
    pub accounts_resealed: u64,
    /// Provider-state entries (Mastodon's clients registered at instances) looked at.
    pub registrations_checked: u64,
    /// Provider-state entries whose secret was re-sealed.
    pub registrations_resealed: u64,
    /// Rows whose secrets could not be opened (a key missing from this instance's list, or
    /// a damaged value), or that kept changing under the run; they are left as they were,
    /// and the log names them by id.
    pub failed: u64,
}

/// What re-sealing one row came to.
enum Outcome {
    /// Already on the newest key (or gone).
    Current,
    /// Re-sealed by this run.
    Resealed,
    /// Could not be re-sealed.
    Failed,
}

/// The maintenance service: the opportunistic sweep and the re-seal.
pub(super) struct Maintenance {
    shared: Arc<Shared>,
    /// When this instance last swept expired flows (unix seconds; `i64::MIN`: never).
    last_sweep: AtomicI64,
    /// How long consumed and expired flows are kept after they expire.
    flow_retention: time::Duration,
}

impl Connect {
    /// Re-seals every stored secret (client secrets, access and refresh tokens) of every
    /// tenant that is not sealed with the newest encryption key, while the app keeps
    /// serving: the second half of a key rotation.
    ///
    /// # Rotating the encryption key without downtime
    /// 1. Put the new key first in `encryption_keys` on every instance, keeping the old one
    ///    after it, and roll the instances out: they now seal with the new key and still
    ///    open the old.
    /// 2. Run this once (the `reseal` example is a command for it). It walks every app (with
    ///    its clients registered at Mastodon instances) and account in pages and replaces each old secret with a compare-and-set, so a row
    ///    written concurrently (a reconnect, a refresh) is re-read rather than overwritten.
    /// 3. When the report says `failed == 0`, remove the old key from every instance.
    ///
    /// Pending flows' PKCE verifiers are not re-sealed: they live for minutes. Keep the old
    /// key until the state lifetime has passed after step 1.
    ///
    /// # Errors
    /// `server_error` when the store fails, or has no
    /// [`MaintenanceStore`] to walk with; the rows done
    /// before a failure stay done, and running it again continues where it matters.
    pub async fn reseal_secrets(&self) -> Result<ResealReport, Error> {
        self.inner.maintenance.reseal_secrets().await
    }
}

impl Maintenance {
    pub(super) fn new(shared: Arc<Shared>, flow_retention: time::Duration) -> Self {
        Self { shared, last_sweep: AtomicI64::new(i64::MIN), flow_retention }
    }

    /// Deletes flows and selections that expired more than the retention ago; how many
    /// rows went.
    pub(super) async fn sweep_flows(&self, now: OffsetDateTime) -> Result<u64, Error> {
        let cutoff = now - self.flow_retention;
        let flows = match self.shared.store.maintenance() {
            Some(store) => store.sweep_flows(cutoff).await?,
            None => 0,
        };
        let selections = match self.shared.store.selections() {
            Some(store) => store.sweep_selections(cutoff).await?,
            None => 0,
        };
        Ok(flows + selections)
    }

    /// Sweeps expired flows in the background when this instance has not done so for a
    /// minute (by the injected clock). The request that triggers it does not wait for it:
    /// the sweep runs on its own task when there is a Tokio runtime, inline otherwise.
    pub(super) async fn sweep_if_due(&self, now: OffsetDateTime) {
        let now_secs = now.unix_timestamp();
        let last = self.last_sweep.load(Ordering::Relaxed);
        if last != i64::MIN && now_secs.saturating_sub(last) < SWEEP_INTERVAL_SECS {
            return;
        }
        // Of concurrent requests, the one that moves the mark sweeps.
        if self.last_sweep.compare_exchange(last, now_secs, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return;
        }
        let (shared, retention) = (self.shared.clone(), self.flow_retention);
        let sweep = async move {
            let swept = match shared.store.maintenance() {
                Some(store) => store.sweep_flows(now - retention).await,
                None => Ok(0),
            };
            match swept {
                Ok(0) => {}
                Ok(swept) => tracing::debug!(swept, "expired flows swept"),
                Err(e) => tracing::warn!(error = %e, "sweeping expired flows failed"),
            }
            let swept = match shared.store.selections() {
                Some(store) => store.sweep_selections(now - retention).await,
                None => Ok(0),
            };
            match swept {
                Ok(0) => {}
                Ok(swept) => tracing::debug!(swept, "expired selections swept"),
                Err(e) => tracing::warn!(error = %e, "sweeping expired selections failed"),
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(sweep);
            }
            Err(_) => sweep.await,
        }
    }

    /// Every stored secret not sealed with the newest key, re-sealed (see
    /// [`Connect::reseal_secrets`]).
    pub(super) async fn reseal_secrets(&self) -> Result<ResealReport, Error> {
        let mut report = ResealReport::default();
        let store = self.maintenance_store()?;
        let mut page = PageRequest { limit: RESEAL_PAGE, after: None };
        loop {
            let apps = store.list_all_apps(&page).await?;
            for app in apps.items {
                report.apps_checked += 1;
                if let Some(state) = self.shared.store.provider_state() {
                    for entry in state.list_provider_state(&app.tenant, &app.id).await? {
                        report.registrations_checked += 1;
                        match self.reseal_provider_state(entry).await? {
                            Outcome::Current => {}
                            Outcome::Resealed => report.registrations_resealed += 1,
                            Outcome::Failed => report.failed += 1,
                        }
                    }
                }
                match self.reseal_app(app).await? {
                    Outcome::Current => {}
                    Outcome::Resealed => report.apps_resealed += 1,
                    Outcome::Failed => report.failed += 1,
                }
            }
            match apps.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let mut page = PageRequest { limit: RESEAL_PAGE, after: None };
        loop {
            let accounts = store.list_all_accounts(&page).await?;
            for account in accounts.items {
                report.accounts_checked += 1;
                match self.reseal_account(account).await? {
                    Outcome::Current => {}
                    Outcome::Resealed => report.accounts_resealed += 1,
                    Outcome::Failed => report.failed += 1,
                }
            }
            match accounts.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        tracing::info!(?report, "secrets re-sealed");
        Ok(report)
    }

    async fn reseal_app(&self, mut app: AppRecord) -> Result<Outcome, Error> {
        let secrets = &self.shared.secrets;
        for _ in 0..RESEAL_ATTEMPTS {
            if !secrets.needs_reseal(&app.client_secret) {
                return Ok(Outcome::Current);
            }
            let Some(new) = self.reseal_one(app.id.as_str(), FIELD_CLIENT_SECRET, &app.client_secret) else {
                return Ok(Outcome::Failed);
            };
            if self.maintenance_store()?.swap_app_secret(&app.tenant, &app.id, &app.client_secret, &new).await? {
                return Ok(Outcome::Resealed);
            }
            match self.shared.store.get_app(&app.tenant, &app.id).await? {
                Some(now) => app = now,
                None => return Ok(Outcome::Current),
            }
        }
        tracing::warn!(app_id = %app.id, "the app kept changing during the re-seal; run it again");
        Ok(Outcome::Failed)
    }

    async fn reseal_provider_state(&self, mut r: ProviderStateRecord) -> Result<Outcome, Error> {
        let secrets = &self.shared.secrets;
        let Some(store) = self.shared.store.provider_state() else { return Ok(Outcome::Current) };
        for _ in 0..RESEAL_ATTEMPTS {
            if !secrets.needs_reseal(&r.secret) {
                return Ok(Outcome::Current);
            }
            let row = super::instances::sealed_row(&r.app_id, &r.key);
            let Some(new) = self.reseal_one(&row, FIELD_CLIENT_SECRET, &r.secret) else {
                return Ok(Outcome::Failed);
            };
            if store.swap_provider_state_secret(&r, &new).await? {
                return Ok(Outcome::Resealed);
            }
            match store.get_provider_state(&r.tenant, &r.app_id, &r.namespace, &r.key).await? {
                Some(now) => r = now,
                None => return Ok(Outcome::Current),
            }
        }
        tracing::warn!(app_id = %r.app_id, namespace = %r.namespace, key = %r.key, "the provider state kept changing during the re-seal");
        Ok(Outcome::Failed)
    }

    /// The store's [`MaintenanceStore`], or a server error naming what is missing.
    fn maintenance_store(&self) -> Result<&dyn MaintenanceStore, Error> {
        self.shared.store.maintenance().ok_or_else(|| {
            Error::server(std::io::Error::other("the store has no MaintenanceStore: nothing to walk with"))
        })
    }

    async fn reseal_account(&self, mut account: AccountRecord) -> Result<Outcome, Error> {
        let secrets = &self.shared.secrets;
        for _ in 0..RESEAL_ATTEMPTS {
            let stale_refresh = account.refresh_token.as_ref().is_some_and(|t| secrets.needs_reseal(t));
            if !secrets.needs_reseal(&account.access_token) && !stale_refresh {
                return Ok(Outcome::Current);
            }
            let id = account.id.as_str();
            let access = if secrets.needs_reseal(&account.access_token) {
                match self.reseal_one(id, FIELD_ACCESS_TOKEN, &account.access_token) {
                    Some(s) => s,
                    None => return Ok(Outcome::Failed),
                }
            } else {
                account.access_token.clone()
            };
            let refresh = match &account.refresh_token {
                Some(t) if secrets.needs_reseal(t) => match self.reseal_one(id, FIELD_REFRESH_TOKEN, t) {
                    Some(s) => Some(s),
                    None => return Ok(Outcome::Failed),
                },
                other => other.clone(),
            };
            let current =
                SealedTokens { access_token: &account.access_token, refresh_token: account.refresh_token.as_ref() };
            let new = SealedTokens { access_token: &access, refresh_token: refresh.as_ref() };
            if self.maintenance_store()?.swap_account_tokens(&account.tenant, &account.id, current, new).await? {
                return Ok(Outcome::Resealed);
            }
            match self.shared.store.get_account(&account.tenant, &account.id).await? {
                Some(now) => account = now,
                None => return Ok(Outcome::Current),
            }
        }
        tracing::warn!(account_id = %account.id, "the account kept changing during the re-seal; run it again");
        Ok(Outcome::Failed)
    }

    /// Opens a secret and seals it again with the newest key; `None` (logged) when it cannot
    /// be opened.
    fn reseal_one(&self, row: &str, field: &'static str, sealed: &Sealed) -> Option<Sealed> {
        match self.shared.secrets.open(row, field, sealed) {
            Ok(plain) => Some(self.shared.secrets.seal(row, field, plain.expose_secret())),
            Err(e) => {
                tracing::error!(row_id = row, field, error = %e, "a stored secret could not be opened for re-sealing");
                None
            }
        }
    }
}
