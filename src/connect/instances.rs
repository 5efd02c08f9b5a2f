//! Providers with client registration per server ([`ClientRegistration`]): the `instance`
//! parameter of `start`, its SSRF check, and the client registered at each instance for
//! each app, kept in the store's provider state (namespace the provider's id, key the
//! instance) and cached in memory in front of it.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Connect, FIELD_CLIENT_SECRET};
use crate::provider::{ClientRegistration, Instance, Provider, RegistrationRequest};
use crate::store::{AppRecord, ProviderStateRecord, ProviderStateStore};
use crate::{AppId, Error, ErrorCode, ProviderId, Secret, TenantId};

/// Registrations kept in memory at most; past it the cache starts over.
const CACHE_MAX: usize = 10_000;

/// A client registered at one instance for one app, with `POST /api/v1/apps` on the app's
/// first flow there: a provider-state entry, read.
#[derive(Debug, Clone)]
pub(crate) struct InstanceRegistration {
    tenant: TenantId,
    app_id: AppId,
    /// The provider's id: the entry's namespace.
    namespace: ProviderId,
    /// The instance's host, with a non-default port (`mastodon.social`): the entry's key.
    instance: String,
    /// The entry's sealed part: the client secret, associated data `{app_id}@{instance}`.
    client_secret: crate::store::Sealed,
    created_at: time::OffsetDateTime,
    meta: RegistrationMeta,
}

/// The plain part of a registration: the entry's metadata, as JSON.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct RegistrationMeta {
    /// The instance's origin (`https://mastodon.social`).
    origin: String,
    /// The client id the instance issued.
    client_id: String,
    /// The scopes registered.
    scopes: Vec<String>,
}

impl InstanceRegistration {
    fn from_entry(e: ProviderStateRecord) -> Result<Self, Error> {
        let meta: RegistrationMeta = serde_json::from_str(&e.metadata)
            .map_err(|err| Error::server(std::io::Error::other(format!("stored instance registration: {err}"))))?;
        Ok(Self {
            tenant: e.tenant,
            app_id: e.app_id,
            namespace: e.namespace,
            instance: e.key,
            client_secret: e.secret,
            created_at: e.created_at,
            meta,
        })
    }

    fn to_entry(&self) -> Result<ProviderStateRecord, Error> {
        let metadata = serde_json::to_string(&self.meta).map_err(Error::server)?;
        Ok(ProviderStateRecord::new(
            self.tenant.clone(),
            self.app_id.clone(),
            self.namespace.clone(),
            self.instance.clone(),
            metadata,
            self.client_secret.clone(),
            self.created_at,
        ))
    }
}

/// The key of a registration: (tenant, app, instance host and port).
pub(super) type RegistrationKey = (TenantId, AppId, String);

/// The in-process state of per-instance clients: the registrations read or made so far,
/// and one gate per key so that concurrent first flows at one instance register once.
#[derive(Default)]
pub(crate) struct Instances {
    cache: std::sync::Mutex<HashMap<RegistrationKey, InstanceRegistration>>,
    gates: std::sync::Mutex<HashMap<RegistrationKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// A client at an instance, opened for use.
pub(crate) struct InstanceClient {
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret<String>,
    pub(crate) scopes: Vec<String>,
}

/// The associated data row of a registration's sealed secret.
pub(crate) fn sealed_row(app_id: &AppId, instance: &str) -> String {
    format!("{app_id}@{instance}")
}

impl Connect {
    /// Parses `start`'s `instance` against the provider: required for a provider with
    /// client registration per server, refused for any other.
    pub(crate) fn check_instance_param(
        &self,
        provider: &ProviderId,
        registers: bool,
        raw: Option<&str>,
    ) -> Result<Option<Instance>, Error> {
        match (registers, raw) {
            (true, None) => Err(Error::validation(format!(
                "instance is required for {provider} (a server's host name or https origin)"
            ))),
            (false, Some(_)) => Err(Error::validation(format!("{provider} takes no instance parameter"))),
            (false, None) => Ok(None),
            (true, Some(raw)) => {
                Instance::parse(raw, self.inner.allow_private_instances).map(Some).map_err(Error::validation)
            }
        }
    }

    /// The SSRF check of an instance before any call to it (skipped when private instances
    /// are allowed).
    pub(crate) async fn check_instance_address(&self, instance: &Instance) -> Result<(), Error> {
        if self.inner.allow_private_instances {
            return Ok(());
        }
        instance.check_public().await.map_err(Error::validation)
    }

    /// The app's client at the instance: from memory, else from the store, else registered
    /// there now (once per process at a time; across processes the store keeps the first).
    pub(crate) async fn instance_client(
        &self,
        registration: &dyn ClientRegistration,
        app: &AppRecord,
        instance: &Instance,
    ) -> Result<InstanceClient, Error> {
        let key: RegistrationKey = (app.tenant.clone(), app.id.clone(), instance.authority());
        let record = match self.cached_registration(&key) {
            Some(r) => r,
            None => {
                let gate = {
                    let mut gates = self.inner.instances.gates.lock().unwrap_or_else(|e| e.into_inner());
                    gates.entry(key.clone()).or_default().clone()
                };
                let result = {
                    let _held = gate.lock().await;
                    self.load_or_register(registration, &key, app, instance).await
                };
                {
                    let mut gates = self.inner.instances.gates.lock().unwrap_or_else(|e| e.into_inner());
                    if gates.get(&key).is_some_and(|g| Arc::strong_count(g) <= 2) {
                        gates.remove(&key);
                    }
                }
                result?
            }
        };
        self.open_registration(registration, &record, instance)
    }

    /// The registration stored for the app at the instance (for callbacks and revocation,
    /// which never register).
    pub(crate) async fn stored_instance_client(
        &self,
        registration: &dyn ClientRegistration,
        provider: &ProviderId,
        tenant: &TenantId,
        app_id: &AppId,
        authority: &str,
    ) -> Result<Option<(InstanceClient, Instance)>, Error> {
        let key: RegistrationKey = (tenant.clone(), app_id.clone(), authority.to_owned());
        let record = match self.cached_registration(&key) {
            Some(r) => r,
            None => match self.load_registration(provider, tenant, app_id, authority).await? {
                Some(r) => {
                    self.cache_registration(key, r.clone());
                    r
                }
                None => return Ok(None),
            },
        };
        let instance = Instance::parse(&record.meta.origin, self.inner.allow_private_instances)
            .map_err(|e| Error::server(std::io::Error::other(format!("stored instance origin is not usable: {e}"))))?;
        Ok(Some((self.open_registration(registration, &record, &instance)?, instance)))
    }

    fn cached_registration(&self, key: &RegistrationKey) -> Option<InstanceRegistration> {
        self.inner.instances.cache.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    fn cache_registration(&self, key: RegistrationKey, r: InstanceRegistration) {
        let mut cache = self.inner.instances.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, r);
    }

    fn open_registration(
        &self,
        registration: &dyn ClientRegistration,
        r: &InstanceRegistration,
        instance: &Instance,
    ) -> Result<InstanceClient, Error> {
        let client_secret =
            self.open_string(&sealed_row(&r.app_id, &r.instance), FIELD_CLIENT_SECRET, &r.client_secret)?;
        Ok(InstanceClient {
            provider: registration.at(instance),
            client_id: r.meta.client_id.clone(),
            client_secret,
            scopes: r.meta.scopes.clone(),
        })
    }

    async fn load_or_register(
        &self,
        registration: &dyn ClientRegistration,
        key: &RegistrationKey,
        app: &AppRecord,
        instance: &Instance,
    ) -> Result<InstanceRegistration, Error> {
        // Another caller may have filled the cache while this one waited at the gate.
        if let Some(r) = self.cached_registration(key) {
            return Ok(r);
        }
        if let Some(r) = self.load_registration(&app.provider, &app.tenant, &app.id, &key.2).await? {
            self.cache_registration(key.clone(), r.clone());
            return Ok(r);
        }
        let scopes: Vec<String> =
            if app.scopes.is_empty() { registration.default_scopes().to_vec() } else { app.scopes.clone() };
        let redirect_uri = self.redirect_uri(&app.provider);
        let client_name = app.name.clone().unwrap_or_else(|| "dravo-connect".to_owned());
        let request =
            RegistrationRequest::new(&client_name, &redirect_uri, &scopes, &self.inner.shared.public_base_url);
        let registered = registration
            .register(self.inner.instance_http.as_ref(), instance, &request)
            .await
        .map_err(|e| {
            tracing::warn!(app_id = %app.id, instance = %key.2, error = %e, "app registration at the instance failed");
            Error::new(ErrorCode::ProviderError, "the instance refused or failed the app registration").with_source(e)
        })?;
        let record = InstanceRegistration {
            tenant: app.tenant.clone(),
            app_id: app.id.clone(),
            namespace: app.provider.clone(),
            instance: key.2.clone(),
            meta: RegistrationMeta {
                origin: instance.origin(),
                client_id: registered.client_id,
                scopes: registered.scopes,
            },
            client_secret: self.inner.shared.secrets.seal(
                &sealed_row(&app.id, &key.2),
                FIELD_CLIENT_SECRET,
                registered.client_secret.expose_secret().as_bytes(),
            ),
            created_at: self.now(),
        };
        let inserted = self.state_store()?.insert_provider_state(&record.to_entry()?).await?;
        // Another instance of the host may have stored one first: use whichever was kept.
        let kept = match inserted {
            true => record,
            false => self
                .load_registration(&app.provider, &app.tenant, &app.id, &key.2)
                .await?
                .ok_or_else(|| Error::server(std::io::Error::other("instance registration vanished")))?,
        };
        tracing::info!(app_id = %app.id, instance = %key.2, stored = inserted, "app registered at the instance");
        self.cache_registration(key.clone(), kept.clone());
        Ok(kept)
    }

    /// The store's provider state; the builder refuses a per-instance provider with a store
    /// without one, so its absence here is a server error.
    fn state_store(&self) -> Result<&dyn ProviderStateStore, Error> {
        self.inner
            .shared
            .store
            .provider_state()
            .ok_or_else(|| Error::server(std::io::Error::other("the store has no ProviderStateStore")))
    }

    /// The registration stored for the app at the instance, if any.
    async fn load_registration(
        &self,
        provider: &ProviderId,
        tenant: &TenantId,
        app_id: &AppId,
        instance: &str,
    ) -> Result<Option<InstanceRegistration>, Error> {
        let entry = self.state_store()?.get_provider_state(tenant, app_id, provider, instance).await?;
        entry.map(InstanceRegistration::from_entry).transpose()
    }
}
