//! The tokens service: an account's access token, renewed when it is (about to be) stale,
//! one renewal at a time per account (an in-process gate, then the store's lease across
//! instances, in `lease.rs`); a refusal marks the account `expired`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::shared::{Shared, whole_seconds};
use super::{FIELD_ACCESS_TOKEN, FIELD_CLIENT_SECRET, FIELD_REFRESH_TOKEN, bounds};
use crate::hooks::{RefreshEvent, RefreshFailure};
use crate::provider::{ClientCredentials, ProviderContext, ProviderError, ProviderErrorKind, Renewal};
use crate::store::{AccountRecord, AccountStatus};
use crate::{AccountId, Error, ErrorCode, Secret, TenantId};

/// Access tokens this close to expiry are refreshed before being handed out.
const REFRESH_MARGIN: time::Duration = time::Duration::seconds(60);
/// Long-lived tokens renewed by re-exchange are renewed this long before they expire.
const REEXCHANGE_MARGIN: time::Duration = time::Duration::days(7);

/// The tokens service.
pub(super) struct Tokens {
    pub(super) shared: Arc<Shared>,
    /// The in-process gate of each account being renewed.
    refresh_locks: Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<()>>>>,
}

impl Tokens {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared, refresh_locks: Mutex::new(HashMap::default()) }
    }

    /// See [`Connect::access_token`](crate::Connect::access_token).
    pub(super) async fn access_token(&self, tenant: &TenantId, id: &AccountId) -> Result<Secret<String>, Error> {
        let account = self.shared.store.get_account(tenant, id).await?.ok_or_else(|| Error::not_found("account"))?;
        if let Some(token) = self.usable_token(&account)? {
            return Ok(token);
        }
        // A picked target that shares its person's token (a board, an organisation) renews
        // through the person: one refresh token, refreshed in one place.
        if account.refresh_token.is_none()
            && let Some(parent) = account.parent_account_id.clone()
            && let Some(token) = self.token_through_parent(account, &parent).await?
        {
            return Ok(token);
        }
        self.access_token_own(tenant, id).await
    }

    /// The person's valid token, copied into the target account that shares it; `None`
    /// when the person account is gone.
    async fn token_through_parent(
        &self,
        account: AccountRecord,
        parent: &AccountId,
    ) -> Result<Option<Secret<String>>, Error> {
        let tenant = account.tenant.clone();
        if self.shared.store.get_account(&tenant, parent).await?.is_none() {
            return Ok(None);
        }
        // The person is never itself a picked target, so this does not recurse further.
        let token = self.access_token_own(&tenant, parent).await?;
        let Some(person) = self.shared.store.get_account(&tenant, parent).await? else { return Ok(Some(token)) };
        let mut record = account;
        record.access_token =
            self.shared.secrets.seal(record.id.as_str(), FIELD_ACCESS_TOKEN, token.expose_secret().as_bytes());
        record.token_expires_at = person.token_expires_at;
        record.updated_at = self.shared.now();
        self.shared.store.update_account(&record).await?;
        Ok(Some(token))
    }

    /// [`access_token`](Self::access_token) with the account's own tokens only.
    async fn access_token_own(&self, tenant: &TenantId, id: &AccountId) -> Result<Secret<String>, Error> {
        let account = self.shared.store.get_account(tenant, id).await?.ok_or_else(|| Error::not_found("account"))?;
        if let Some(token) = self.usable_token(&account)? {
            return Ok(token);
        }
        let lock = {
            let mut locks = self.refresh_locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(id.clone()).or_default().clone()
        };
        let result = {
            // The in-process gate first, then the store's lease across instances.
            let _guard = lock.lock().await;
            self.refresh_leased(tenant, id).await
        };
        {
            let mut locks = self.refresh_locks.lock().unwrap_or_else(|e| e.into_inner());
            if locks.get(id).is_some_and(|l| Arc::strong_count(l) <= 2) {
                locks.remove(id);
            }
        }
        result
    }

    pub(super) fn usable_token(&self, account: &AccountRecord) -> Result<Option<Secret<String>>, Error> {
        if account.status != AccountStatus::Active {
            return Err(Error::new(
                ErrorCode::InvalidToken,
                format!("the account is {}; reconnect it", account.status.as_str()),
            ));
        }
        let fresh = account.token_expires_at.is_none_or(|t| t - self.refresh_margin(account) > self.shared.now());
        if fresh {
            return self.shared.open_string(account.id.as_str(), FIELD_ACCESS_TOKEN, &account.access_token).map(Some);
        }
        Ok(None)
    }

    /// How long before expiry a token is renewed: a minute for the refresh grant; a week for
    /// long-lived tokens renewed by re-exchanging them (Meta, Instagram, Threads), so that
    /// ordinary use renews them well before they lapse.
    fn refresh_margin(&self, account: &AccountRecord) -> time::Duration {
        let provider = self.shared.providers.get(&account.provider);
        match provider.and_then(|p| p.code_flow()).map(|f| f.renewal()) {
            Some(Renewal::Reexchange(_)) => REEXCHANGE_MARGIN,
            _ => REFRESH_MARGIN,
        }
    }

    /// Refreshes (or re-exchanges) the account's token if it is still stale once re-read.
    /// Runs under the account's lease; the hook event it returns is run after the lease is
    /// given back.
    pub(super) async fn refresh_locked(
        &self,
        tenant: &TenantId,
        id: &AccountId,
    ) -> (Result<Secret<String>, Error>, Option<RefreshEvent>) {
        match self.refresh_locked_inner(tenant, id).await {
            Ok(done) => done,
            Err(e) => (Err(e), None),
        }
    }

    async fn refresh_locked_inner(
        &self,
        tenant: &TenantId,
        id: &AccountId,
    ) -> Result<(Result<Secret<String>, Error>, Option<RefreshEvent>), Error> {
        // Re-read under the lock: another caller may have refreshed already.
        let account = self.shared.store.get_account(tenant, id).await?.ok_or_else(|| Error::not_found("account"))?;
        if let Some(token) = self.usable_token(&account)? {
            return Ok((Ok(token), None));
        }
        let now = self.shared.now();
        // Still usable (only inside the renewal margin): on a failed or premature renewal,
        // hand out the current token rather than an error.
        let still_valid = account.token_expires_at.is_none_or(|t| t - REFRESH_MARGIN > now);
        let provider = self.shared.providers.get(&account.provider).cloned();
        let app = match &account.app_id {
            Some(app_id) => self.shared.store.get_app(tenant, app_id).await?,
            None => None,
        };
        let Some(provider) = provider else {
            return self.expire(account, still_valid).await;
        };
        let current = self.shared.open_string(id.as_str(), FIELD_ACCESS_TOKEN, &account.access_token)?;
        let result = match (provider.password_login(), &app) {
            // A password login's session (no app): refreshed with its refresh token alone.
            (Some(login), None) => {
                let Some(refresh_sealed) = &account.refresh_token else {
                    return self.expire(account, still_valid).await;
                };
                let refresh_token = self.shared.open_string(id.as_str(), FIELD_REFRESH_TOKEN, refresh_sealed)?;
                login.refresh_session(self.shared.http.as_ref(), &refresh_token).await
            }
            // Anything else is renewed as the app's code flow says, with its credentials.
            (_, app) => {
                let (Some(code_flow), Some(app)) = (provider.code_flow(), app) else {
                    return self.expire(account, still_valid).await;
                };
                let secret = self.shared.open_string(app.id.as_str(), FIELD_CLIENT_SECRET, &app.client_secret)?;
                let ctx = ProviderContext {
                    http: self.shared.http.as_ref(),
                    credentials: ClientCredentials { client_id: &app.client_id, client_secret: &secret },
                };
                match (code_flow.renewal(), &account.refresh_token) {
                    (Renewal::Reexchange(swap), _) => {
                        if !still_valid && account.token_expires_at.is_some_and(|t| t <= now) {
                            // A lapsed token cannot be re-exchanged.
                            return self.expire(account, false).await;
                        }
                        let age = now - account.updated_at;
                        if swap.min_age().is_some_and(|min| age < min) {
                            // Too young to re-exchange (Instagram, Threads: 24 h); still valid.
                            return Ok((Ok(current), None));
                        }
                        swap.reexchange(ctx, &current).await
                    }
                    (Renewal::RefreshGrant(grant), Some(refresh_sealed)) => {
                        let refresh_token =
                            self.shared.open_string(id.as_str(), FIELD_REFRESH_TOKEN, refresh_sealed)?;
                        grant.refresh(ctx, &refresh_token).await
                    }
                    // No refresh token to grant with, no renewal, or a kind this engine does
                    // not know: the token stands until it expires.
                    _ => return self.expire(account, still_valid).await,
                }
            }
        };
        // An answer over the bounds is a provider failure: the stored tokens are kept.
        let result = result.and_then(|tokens| match bounds::check_tokens(&tokens) {
            Ok(()) => Ok(tokens),
            Err(cap) => Err(ProviderError::new(ProviderErrorKind::InvalidResponse, cap.to_string())),
        });
        match result {
            Ok(tokens) => {
                let mut record = account;
                record.access_token = self.shared.secrets.seal(
                    id.as_str(),
                    FIELD_ACCESS_TOKEN,
                    tokens.access_token.expose_secret().as_bytes(),
                );
                // No new refresh token: keep the stored one.
                if let Some(t) = &tokens.refresh_token {
                    record.refresh_token =
                        Some(self.shared.secrets.seal(id.as_str(), FIELD_REFRESH_TOKEN, t.expose_secret().as_bytes()));
                }
                record.token_expires_at = tokens
                    .expires_in
                    .map(|s| now + time::Duration::seconds(i64::try_from(s).unwrap_or(3600).min(10 * 365 * 86_400)))
                    .or_else(|| {
                        let login = provider.password_login()?;
                        login.access_token_expires_at(&tokens.access_token).map(whole_seconds)
                    });
                if let Some(scopes) = &tokens.scopes {
                    record.scopes.clone_from(scopes);
                }
                record.updated_at = now;
                if !self.shared.store.update_account(&record).await? {
                    return Err(Error::not_found("account"));
                }
                tracing::info!(account_id = %id, "access token refreshed");
                Ok((Ok(tokens.access_token), Some(RefreshEvent::Refreshed(record))))
            }
            Err(e) if e.kind() == ProviderErrorKind::Rejected => {
                tracing::warn!(account_id = %id, error = %e, "refresh refused; account marked expired");
                self.expire(account, false).await
            }
            Err(e) => {
                tracing::warn!(account_id = %id, error = %e, "refresh failed; tokens kept");
                let event = Some(RefreshEvent::Failed(account, RefreshFailure::Transient));
                if still_valid {
                    return Ok((Ok(current), event));
                }
                let err =
                    Error::new(ErrorCode::ProviderError, "the provider failed to refresh the token").with_source(e);
                Ok((Err(err), event))
            }
        }
    }

    /// The account's token cannot be renewed: hand out the current one while it is still
    /// valid, else mark the account expired.
    async fn expire(
        &self,
        account: AccountRecord,
        still_valid: bool,
    ) -> Result<(Result<Secret<String>, Error>, Option<RefreshEvent>), Error> {
        if still_valid {
            let token = self.shared.open_string(account.id.as_str(), FIELD_ACCESS_TOKEN, &account.access_token)?;
            return Ok((Ok(token), None));
        }
        let mut record = account;
        record.status = AccountStatus::Expired;
        record.updated_at = self.shared.now();
        self.shared.store.update_account(&record).await?;
        let err =
            Error::new(ErrorCode::InvalidToken, "the token expired and cannot be refreshed; reconnect the account");
        Ok((Err(err), Some(RefreshEvent::Failed(record, RefreshFailure::Refused))))
    }
}
