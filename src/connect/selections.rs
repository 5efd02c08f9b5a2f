//! The target-selection service: the targets a connect found (Pages, organisations,
//! boards) kept for the user to pick from, and the accounts the picked ones become.

use std::sync::Arc;

use super::accounts::{self, SaveAccount};
use super::shared::Shared;
use super::{FIELD_ACCESS_TOKEN, FIELD_TARGET_TOKEN, SELECTION_TTL};
use crate::model::{Account, Selection};
use crate::provider::{Profile, Target, TokenSet};
use crate::store::{AccountRecord, SelectionRecord, SelectionStore, SelectionTarget};
use crate::{Error, SelectionId, TenantId};

/// The target-selection service.
pub(super) struct Selections {
    shared: Arc<Shared>,
}

impl Selections {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The store's [`SelectionStore`]; the builder refuses a provider that lists targets
    /// with a store without one, so its absence here is a server error.
    pub(super) fn store(&self) -> Result<&dyn SelectionStore, Error> {
        self.shared
            .store
            .selections()
            .ok_or_else(|| Error::server(std::io::Error::other("the store has no SelectionStore")))
    }

    /// See [`Connect::selection`](crate::Connect::selection).
    pub(super) async fn get(&self, tenant: &TenantId, id: &SelectionId) -> Result<Selection, Error> {
        let record = self
            .store()?
            .get_selection(tenant, id, self.shared.now())
            .await?
            .ok_or_else(|| Error::not_found("selection"))?;
        Ok(record.into())
    }

    /// See [`Connect::choose_targets`](crate::Connect::choose_targets).
    pub(super) async fn choose(
        &self,
        tenant: &TenantId,
        id: &SelectionId,
        target_ids: &[String],
    ) -> Result<Vec<Account>, Error> {
        let now = self.shared.now();
        let pending =
            self.store()?.get_selection(tenant, id, now).await?.ok_or_else(|| Error::not_found("selection"))?;
        if target_ids.is_empty() {
            return Err(Error::validation("target_ids must name at least one target"));
        }
        let mut unique = std::collections::HashSet::new();
        for target_id in target_ids {
            if !unique.insert(target_id.as_str()) {
                return Err(Error::validation("target_ids must not repeat a target"));
            }
            if !pending.targets.iter().any(|t| &t.id == target_id) {
                return Err(Error::validation("each of target_ids must be one of the selection's targets"));
            }
        }
        let selection =
            self.store()?.take_selection(tenant, id, now).await?.ok_or_else(|| Error::not_found("selection"))?;
        let person = self
            .shared
            .store
            .get_account(tenant, &selection.account_id)
            .await?
            .ok_or_else(|| Error::not_found("selection"))?;
        if let Some(app_id) = &selection.app_id
            && self.shared.store.get_app(tenant, app_id).await?.is_none()
        {
            // The app was deleted meanwhile: its credentials can renew nothing.
            return Err(Error::not_found("selection"));
        }
        let person_token = self.shared.open_string(person.id.as_str(), FIELD_ACCESS_TOKEN, &person.access_token)?;
        let mut accounts = Vec::new();
        for target in selection.targets.iter().filter(|t| target_ids.contains(&t.id)) {
            let (tokens, expires_at) = match &target.access_token {
                Some(sealed) => {
                    let field = format!("{FIELD_TARGET_TOKEN}{}", target.id);
                    let token = self.shared.open_string(selection.id.as_str(), &field, sealed)?;
                    // Its own token (a Page token from a long-lived user token: no expiry).
                    let tokens = TokenSet { access_token: token, refresh_token: None, expires_in: None, scopes: None };
                    (tokens, None)
                }
                None => {
                    // The person's access token, not its refresh token: the target renews
                    // through the person (see `access_token`), so a rotating refresh token
                    // lives in one row.
                    let tokens = TokenSet {
                        access_token: person_token.clone(),
                        refresh_token: None,
                        expires_in: None,
                        scopes: None,
                    };
                    (tokens, person.token_expires_at)
                }
            };
            let (record, created) = accounts::save(
                &self.shared,
                SaveAccount {
                    tenant,
                    provider: &selection.provider,
                    app_id: selection.app_id.clone(),
                    external_id: selection.external_id.clone(),
                    profile: Profile {
                        id: target.id.clone(),
                        username: target.username.clone(),
                        display_name: target.display_name.clone(),
                        avatar_url: target.avatar_url.clone(),
                    },
                    requested_scopes: person.scopes.clone(),
                    tokens,
                    expires_at,
                    target_type: target.target_type,
                    parent_account_id: Some(person.id.clone()),
                },
            )
            .await?;
            tracing::info!(
                selection_id = %selection.id,
                account_id = %record.id,
                target_type = record.target_type.as_str(),
                "target connected"
            );
            accounts::report_saved(&self.shared, tenant, &record, created).await;
            accounts.push(Account::from(record));
        }
        Ok(accounts)
    }

    /// A new selection of `targets` (as [`bounds::check_targets`](super::bounds::check_targets) keeps them) found through
    /// the person `account`, their own tokens sealed under the selection's id.
    pub(super) fn record(&self, account: &AccountRecord, targets: Vec<Target>) -> SelectionRecord {
        let now = self.shared.now();
        let id = SelectionId::generate();
        let targets = targets
            .into_iter()
            .map(|t| {
                let access_token = t.access_token.as_ref().map(|token| {
                    let field = format!("{FIELD_TARGET_TOKEN}{}", t.id);
                    self.shared.secrets.seal(id.as_str(), &field, token.expose_secret().as_bytes())
                });
                let mut record = SelectionTarget::new(t.id, t.target_type);
                record.access_token = access_token;
                record.username = t.username;
                record.display_name = t.display_name;
                record.avatar_url = t.avatar_url;
                record
            })
            .collect();
        let (tenant, provider, person) = (account.tenant.clone(), account.provider.clone(), account.id.clone());
        let mut selection = SelectionRecord::new(id, tenant, provider, person, targets, now, now + SELECTION_TTL);
        selection.app_id = account.app_id.clone();
        selection.external_id = account.external_id.clone();
        selection
    }
}
