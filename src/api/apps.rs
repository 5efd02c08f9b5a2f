//! `/oauth-apps` routes.

use bytes::Bytes;
use http::{Response, StatusCode, request::Parts};
use serde_json::Value;

use super::json::{self, Query};
use crate::Error;
use crate::Secret;
use crate::connect::Connect;
use crate::model::{AppPatch, NewApp};
use crate::{AppId, ProviderId, TenantId};

const APP_FIELDS: &[&str] = &["provider", "name", "client_id", "client_secret", "allowed_return_urls", "scopes"];
/// What `PATCH` may change (the provider is fixed).
const PATCH_FIELDS: &[&str] = &["name", "client_id", "client_secret", "allowed_return_urls", "scopes"];
const STRING: &str = "a string";
const STRINGS: &str = "an array of strings";

fn app_id(id: &str) -> Result<AppId, Error> {
    id.parse().map_err(|_| Error::not_found("app"))
}

impl Connect {
    pub(super) async fn serve_create_app(
        &self,
        tenant: &TenantId,
        parts: &Parts,
        body: &Bytes,
    ) -> Result<Response<Bytes>, Error> {
        let obj = json::json_object(&parts.headers, body, self.max_body_bytes())?;
        json::only_fields(&obj, APP_FIELDS)?;
        let provider: String = json::required(&obj, "provider", STRING)?;
        let provider: ProviderId = provider.parse().map_err(|_| Error::validation("unknown provider"))?;
        // Whether the credentials may be left out (a provider that registers its client at
        // each server) is the engine's to say: absent ones are empty here.
        let client_id = json::field::<String>(&obj, "client_id", STRING)?.unwrap_or_default();
        let client_secret = json::field::<String>(&obj, "client_secret", STRING)?.unwrap_or_default();
        let new = NewApp {
            provider,
            name: json::field(&obj, "name", STRING)?,
            client_id,
            client_secret: Secret::new(client_secret),
            allowed_return_urls: json::required(&obj, "allowed_return_urls", STRINGS)?,
            scopes: json::field(&obj, "scopes", STRINGS)?,
        };
        let app = self.create_app(tenant, new).await?;
        Ok(json::json(StatusCode::CREATED, &app))
    }

    pub(super) async fn serve_list_apps(
        &self,
        tenant: &TenantId,
        query: Option<&str>,
    ) -> Result<Response<Bytes>, Error> {
        let q = Query::parse(query)?;
        let provider: Option<ProviderId> = q.parsed("provider")?;
        let list = self.apps(tenant, provider.as_ref(), q.page()?).await?;
        Ok(json::json(StatusCode::OK, &list))
    }

    pub(super) async fn serve_get_app(&self, tenant: &TenantId, id: &str) -> Result<Response<Bytes>, Error> {
        let app = self.app(tenant, &app_id(id)?).await?;
        Ok(json::json(StatusCode::OK, &app))
    }

    pub(super) async fn serve_patch_app(
        &self,
        tenant: &TenantId,
        id: &str,
        parts: &Parts,
        body: &Bytes,
    ) -> Result<Response<Bytes>, Error> {
        let id = app_id(id)?;
        let obj = json::json_object(&parts.headers, body, self.max_body_bytes())?;
        json::only_fields(&obj, PATCH_FIELDS)?;
        let name = match obj.get("name") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => Some(json::field::<String>(&obj, "name", STRING)?),
        };
        let non_null = |k: &str| -> Result<(), Error> {
            if matches!(obj.get(k), Some(Value::Null)) {
                return Err(Error::validation(format!("field `{k}` cannot be null")));
            }
            Ok(())
        };
        for k in ["client_id", "client_secret", "allowed_return_urls", "scopes"] {
            non_null(k)?;
        }
        let patch = AppPatch {
            name,
            client_id: json::field(&obj, "client_id", STRING)?,
            client_secret: json::field::<String>(&obj, "client_secret", STRING)?.map(Secret::new),
            allowed_return_urls: json::field(&obj, "allowed_return_urls", STRINGS)?,
            scopes: json::field(&obj, "scopes", STRINGS)?,
        };
        let app = self.update_app(tenant, &id, patch).await?;
        Ok(json::json(StatusCode::OK, &app))
    }

    pub(super) async fn serve_delete_app(
        &self,
        tenant: &TenantId,
        id: &str,
        query: Option<&str>,
    ) -> Result<Response<Bytes>, Error> {
        let id = app_id(id)?;
        let q = Query::parse(query)?;
        let cascade = match q.get("cascade") {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(Error::invalid_request("cascade must be true or false")),
        };
        self.delete_app(tenant, &id, cascade).await?;
        Ok(json::no_content())
    }
}
