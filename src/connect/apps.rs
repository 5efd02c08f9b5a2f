//! The apps service: a tenant's OAuth apps (create, list, read, update, delete) and their
//! return-URL allowlists, parsed once per distinct entry list.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::shared::Shared;
use super::{FIELD_CLIENT_SECRET, check_scopes, check_text, no_code_flow};
use crate::core::allowlist::{AllowlistOptions, ReturnUrlAllowlist};
use crate::model::{App, AppPatch, List, NewApp};
use crate::store::{AppRecord, DeleteApp, PageRequest};
use crate::{AppId, Error, ErrorCode, ProviderId, TenantId};

/// An allowlist and the entries it was parsed from.
type CachedAllowlist = (Vec<String>, Arc<ReturnUrlAllowlist>);

/// Parsed allowlists kept at most; past it the cache starts over.
const ALLOWLIST_CACHE_MAX: usize = 10_000;

/// The apps service.
pub(super) struct Apps {
    shared: Arc<Shared>,
    allowlist_options: AllowlistOptions,
    /// Parsed allowlists by app, each kept with the exact entries it was built from: a hit
    /// requires the app row read for this request to hold the same entries, so a changed
    /// allowlist (on any instance) is never served stale.
    allowlists: Mutex<HashMap<AppId, CachedAllowlist>>,
}

impl Apps {
    pub(super) fn new(shared: Arc<Shared>, allowlist_options: AllowlistOptions) -> Self {
        Self { shared, allowlist_options, allowlists: Mutex::new(HashMap::default()) }
    }

    fn allowlist(&self, entries: &[String]) -> Result<ReturnUrlAllowlist, crate::core::AllowlistError> {
        ReturnUrlAllowlist::with_options(entries, self.allowlist_options)
    }

    /// The app's allowlist, parsed once per distinct entry list.
    pub(super) fn allowlist_for(
        &self,
        app: &AppRecord,
    ) -> Result<Arc<ReturnUrlAllowlist>, crate::core::AllowlistError> {
        {
            let cache = self.allowlists.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, list)) = cache.get(&app.id).filter(|(entries, _)| *entries == app.allowed_return_urls) {
                return Ok(list.clone());
            }
        }
        let list = Arc::new(self.allowlist(&app.allowed_return_urls)?);
        let mut cache = self.allowlists.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= ALLOWLIST_CACHE_MAX {
            cache.clear();
        }
        cache.insert(app.id.clone(), (app.allowed_return_urls.clone(), list.clone()));
        Ok(list)
    }

    fn view(&self, r: AppRecord) -> App {
        let redirect_uri = self.shared.redirect_uri(&r.provider);
        App::from_record(r, redirect_uri)
    }

    fn check_allowlist_entries(&self, entries: &[String]) -> Result<Vec<String>, Error> {
        if entries.is_empty() || entries.len() > 100 {
            return Err(Error::validation("allowed_return_urls must have 1 to 100 entries"));
        }
        if entries.iter().any(|e| e.len() > 2048) {
            return Err(Error::validation("each allowed_return_urls entry must be at most 2 KiB"));
        }
        let list = self.allowlist(entries).map_err(|e| Error::validation(e.to_string()))?;
        Ok(list.entries().to_vec())
    }

    /// Stores a new OAuth app for the tenant. The secret is sealed (AEAD, the app's id as
    /// associated data) and never returned.
    ///
    /// # Errors
    /// `validation_failed` for an unknown provider, an empty client id or secret, a bad
    /// allowlist or scope; `server_error` when the store fails.
    pub(super) async fn create(&self, tenant: &TenantId, new: NewApp) -> Result<App, Error> {
        let (provider, registers) = {
            let (id, p) = self
                .shared
                .providers
                .get_key_value(&new.provider)
                .ok_or_else(|| Error::validation("unknown provider"))?;
            let registers = p.registration().is_some();
            if p.code_flow().is_none() && !registers {
                return Err(no_code_flow(id, p.as_ref()));
            }
            (id.clone(), registers)
        };
        if let Some(name) = &new.name {
            check_text("name", name, 200)?;
        }
        let secret = new.client_secret.expose_secret();
        if registers {
            // The credentials come from each instance; whatever is given is kept unused.
            if new.client_id.chars().count() > 512 || new.client_id.chars().any(char::is_control) {
                return Err(Error::validation("client_id must be at most 512 characters without control characters"));
            }
            if secret.len() > 4096 {
                return Err(Error::validation("client_secret must be at most 4096 bytes"));
            }
        } else {
            check_text("client_id", &new.client_id, 512)?;
            if secret.is_empty() || secret.len() > 4096 {
                return Err(Error::validation("client_secret must be 1 to 4096 bytes"));
            }
        }
        let allowed_return_urls = self.check_allowlist_entries(&new.allowed_return_urls)?;
        let scopes = new.scopes.unwrap_or_default();
        check_scopes(&scopes)?;
        let now = self.shared.now();
        let id = AppId::generate();
        let client_secret = self.shared.secrets.seal(id.as_str(), FIELD_CLIENT_SECRET, secret.as_bytes());
        let mut record = AppRecord::new(id, tenant.clone(), provider, new.client_id, client_secret, now);
        record.name = new.name;
        record.allowed_return_urls = allowed_return_urls;
        record.scopes = scopes;
        self.shared.store.insert_app(&record).await?;
        tracing::info!(app_id = %record.id, provider = %record.provider, "oauth app created");
        Ok(self.view(record))
    }

    /// Lists the tenant's apps, optionally for one provider.
    ///
    /// # Errors
    /// `server_error` when the store fails.
    pub(super) async fn list(
        &self,
        tenant: &TenantId,
        provider: Option<&ProviderId>,
        page: PageRequest,
    ) -> Result<List<App>, Error> {
        let p = self.shared.store.list_apps(tenant, provider, &page).await?;
        let next_cursor = p.next.map(|c| c.encode());
        Ok(List { data: p.items.into_iter().map(|r| self.view(r)).collect(), next_cursor })
    }

    /// Reads one of the tenant's apps.
    ///
    /// # Errors
    /// `not_found` (also for another tenant's app); `server_error`.
    pub(super) async fn get(&self, tenant: &TenantId, id: &AppId) -> Result<App, Error> {
        let r = self.shared.store.get_app(tenant, id).await?.ok_or_else(|| Error::not_found("app"))?;
        Ok(self.view(r))
    }

    /// Changes an app; absent fields are unchanged.
    ///
    /// # Errors
    /// `not_found`; `validation_failed` as for [`create`](Self::create); `server_error`.
    pub(super) async fn update(&self, tenant: &TenantId, id: &AppId, patch: AppPatch) -> Result<App, Error> {
        let mut r = self.shared.store.get_app(tenant, id).await?.ok_or_else(|| Error::not_found("app"))?;
        if let Some(name) = patch.name {
            if let Some(n) = &name {
                check_text("name", n, 200)?;
            }
            r.name = name;
        }
        if let Some(client_id) = patch.client_id {
            check_text("client_id", &client_id, 512)?;
            r.client_id = client_id;
        }
        if let Some(secret) = patch.client_secret {
            let s = secret.expose_secret();
            if s.is_empty() || s.len() > 4096 {
                return Err(Error::validation("client_secret must be 1 to 4096 bytes"));
            }
            r.client_secret = self.shared.secrets.seal(r.id.as_str(), FIELD_CLIENT_SECRET, s.as_bytes());
        }
        if let Some(urls) = patch.allowed_return_urls {
            r.allowed_return_urls = self.check_allowlist_entries(&urls)?;
        }
        if let Some(scopes) = patch.scopes {
            check_scopes(&scopes)?;
            r.scopes = scopes;
        }
        r.updated_at = self.shared.now();
        if !self.shared.store.update_app(&r).await? {
            return Err(Error::not_found("app"));
        }
        Ok(self.view(r))
    }

    /// Deletes an app. Its pending flows are cancelled; with `cascade` its accounts are
    /// deleted too, without it the call fails while accounts use the app.
    ///
    /// # Errors
    /// `not_found`; `app_in_use`; `server_error`.
    pub(super) async fn delete(&self, tenant: &TenantId, id: &AppId, cascade: bool) -> Result<(), Error> {
        match self.shared.store.delete_app(tenant, id, cascade).await? {
            DeleteApp::Deleted { accounts_deleted } => {
                tracing::info!(app_id = %id, accounts_deleted, "oauth app deleted");
                Ok(())
            }
            DeleteApp::InUse => Err(Error::new(
                ErrorCode::AppInUse,
                "accounts still use this app; delete them first or pass cascade=true",
            )),
            DeleteApp::NotFound => Err(Error::not_found("app")),
        }
    }
}
