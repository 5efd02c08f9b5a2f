//! Saving an account: inserted, or updating the one it reconnects (same tenant, provider
//! and provider account), its tokens sealed; and the hook that reports it.

use time::OffsetDateTime;

use super::shared::Shared;
use super::{FIELD_ACCESS_TOKEN, FIELD_REFRESH_TOKEN};
use crate::model::Account;
use crate::provider::{Profile, TargetType, TokenSet};
use crate::store::{AccountRecord, AccountStatus, InsertAccount};
use crate::{AccountId, AppId, Error, ExternalId, ProviderId, TenantId};

/// An account to save: what the provider said of it and the flow it came from.
pub(super) struct SaveAccount<'a> {
    pub(super) tenant: &'a TenantId,
    pub(super) provider: &'a ProviderId,
    pub(super) app_id: Option<AppId>,
    pub(super) external_id: Option<ExternalId>,
    pub(super) profile: Profile,
    pub(super) requested_scopes: Vec<String>,
    pub(super) tokens: TokenSet,
    pub(super) expires_at: Option<OffsetDateTime>,
    pub(super) target_type: TargetType,
    pub(super) parent_account_id: Option<AccountId>,
}

/// Inserts the account, or updates the one it reconnects; the record and whether it is
/// new.
pub(super) async fn save(shared: &Shared, s: SaveAccount<'_>) -> Result<(AccountRecord, bool), Error> {
    let now = shared.now();
    let scopes = s.tokens.scopes.clone().unwrap_or_else(|| s.requested_scopes.clone());
    let expires_at = s.expires_at.or_else(|| {
        s.tokens.expires_in.map(|secs| {
            now + time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2).min(10 * 365 * 86_400))
        })
    });
    let store = &shared.store;
    for _ in 0..4 {
        if let Some(existing) = store.find_account(s.tenant, s.provider, &s.profile.id, s.external_id.as_ref()).await? {
            let id = existing.id.clone();
            let refresh_token = match &s.tokens.refresh_token {
                Some(t) => Some(shared.secrets.seal(id.as_str(), FIELD_REFRESH_TOKEN, t.expose_secret().as_bytes())),
                // A reconnect never overwrites a stored refresh token with nothing.
                None => existing.refresh_token.clone(),
            };
            let mut record = existing;
            record.access_token =
                shared.secrets.seal(id.as_str(), FIELD_ACCESS_TOKEN, s.tokens.access_token.expose_secret().as_bytes());
            record.refresh_token = refresh_token;
            record.app_id = s.app_id.clone().or(record.app_id);
            record.username = s.profile.username.clone();
            record.display_name = s.profile.display_name.clone();
            record.avatar_url = s.profile.avatar_url.clone();
            record.scopes = scopes.clone();
            record.status = AccountStatus::Active;
            record.token_expires_at = expires_at;
            record.updated_at = now;
            record.target_type = s.target_type;
            record.parent_account_id = s.parent_account_id.clone();
            if store.update_account(&record).await? {
                return Ok((record, false));
            }
            continue;
        }
        let id = AccountId::generate();
        let access_token =
            shared.secrets.seal(id.as_str(), FIELD_ACCESS_TOKEN, s.tokens.access_token.expose_secret().as_bytes());
        let refresh_token = s
            .tokens
            .refresh_token
            .as_ref()
            .map(|t| shared.secrets.seal(id.as_str(), FIELD_REFRESH_TOKEN, t.expose_secret().as_bytes()));
        let mut record =
            AccountRecord::new(id, s.tenant.clone(), s.provider.clone(), s.profile.id.clone(), access_token, now);
        record.refresh_token = refresh_token;
        record.app_id = s.app_id.clone();
        record.username = s.profile.username.clone();
        record.display_name = s.profile.display_name.clone();
        record.avatar_url = s.profile.avatar_url.clone();
        record.scopes = scopes.clone();
        record.external_id = s.external_id.clone();
        record.token_expires_at = expires_at;
        record.target_type = s.target_type;
        record.parent_account_id = s.parent_account_id.clone();
        match store.insert_account(&record).await? {
            InsertAccount::Inserted => return Ok((record, true)),
            InsertAccount::Exists(_) => continue,
        }
    }
    Err(Error::server(std::io::Error::other("account upsert did not settle after retries")))
}

/// Runs the `connected` or `reconnected` hook for a saved account.
pub(super) async fn report_saved(shared: &Shared, tenant: &TenantId, record: &AccountRecord, created: bool) {
    let view = Account::from(record.clone());
    let event = match created {
        true => crate::hooks::HookEvent::Connected(tenant, &view),
        false => crate::hooks::HookEvent::Reconnected(tenant, &view),
    };
    shared.run_hook(event).await;
}
