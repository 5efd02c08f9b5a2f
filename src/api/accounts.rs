//! `/accounts` routes.

use bytes::Bytes;
use http::{Response, StatusCode, request::Parts};

use super::json::{self, Query};
use crate::Error;
use crate::Secret;
use crate::connect::Connect;
use crate::model::{NewAccount, NewAppPasswordAccount};
use crate::store::AccountFilter;
use crate::{AccountId, AppId, ExternalId, ProviderId, TenantId};

const ACCOUNT_FIELDS: &[&str] =
    &["provider", "access_token", "refresh_token", "expires_at", "app_id", "external_id", "identifier", "app_password"];

fn account_id(id: &str) -> Result<AccountId, Error> {
    id.parse().map_err(|_| Error::not_found("account"))
}

impl Connect {
    pub(super) async fn serve_list_accounts(
        &self,
        tenant: &TenantId,
        query: Option<&str>,
    ) -> Result<Response<Bytes>, Error> {
        let q = Query::parse(query)?;
        let mut filter = AccountFilter::default();
        if let Some(p) = q.parsed::<ProviderId>("provider")? {
            filter = filter.provider(p);
        }
        if let Some(e) = q.parsed::<ExternalId>("external_id")? {
            filter = filter.external_id(e);
        }
        let list = self.accounts(tenant, filter, q.page()?).await?;
        Ok(json::json(StatusCode::OK, &list))
    }

    pub(super) async fn serve_get_account(&self, tenant: &TenantId, id: &str) -> Result<Response<Bytes>, Error> {
        let account = self.account(tenant, &account_id(id)?).await?;
        Ok(json::json(StatusCode::OK, &account))
    }

    pub(super) async fn serve_create_account(
        &self,
        tenant: &TenantId,
        parts: &Parts,
        body: &Bytes,
    ) -> Result<Response<Bytes>, Error> {
        let obj = json::json_object(&parts.headers, body, self.max_body_bytes())?;
        json::only_fields(&obj, ACCOUNT_FIELDS)?;
        let identifier = json::field::<String>(&obj, "identifier", "a string")?;
        let app_password = json::field::<String>(&obj, "app_password", "a string")?.map(Secret::new);
        let access_token = json::field::<String>(&obj, "access_token", "a string")?.map(Secret::new);
        let provider: String = json::required(&obj, "provider", "a string")?;
        let provider: ProviderId = provider.parse().map_err(|_| Error::validation("unknown provider"))?;
        let external_id = match json::field::<String>(&obj, "external_id", "a string")? {
            None => None,
            Some(s) => Some(s.parse::<ExternalId>().map_err(|e| Error::validation(e.to_string()))?),
        };
        if identifier.is_some() || app_password.is_some() {
            if access_token.is_some() {
                return Err(Error::validation("access_token and app_password are mutually exclusive"));
            }
            let (Some(identifier), Some(app_password)) = (identifier, app_password) else {
                return Err(Error::validation("identifier and app_password must be given together"));
            };
            if ["refresh_token", "expires_at", "app_id"].iter().any(|f| obj.get(*f).is_some_and(|v| !v.is_null())) {
                return Err(Error::validation(
                    "refresh_token, expires_at and app_id do not apply to an app-password registration",
                ));
            }
            let mut new = NewAppPasswordAccount::new(provider, identifier, app_password);
            new.external_id = external_id;
            let account = self.register_app_password_account(tenant, new).await?;
            return Ok(json::json(StatusCode::CREATED, &account));
        }
        let Some(access_token) = access_token else {
            return Err(Error::validation(
                "field `access_token` is required (or, for providers with app-password logins, \
                 identifier and app_password)",
            ));
        };
        let expires_at = match json::field::<String>(&obj, "expires_at", "an RFC 3339 time")? {
            None => None,
            Some(s) => Some(
                time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| Error::validation("expires_at must be an RFC 3339 time"))?,
            ),
        };
        let app_id = match json::field::<String>(&obj, "app_id", "a string")? {
            None => None,
            Some(s) => Some(s.parse::<AppId>().map_err(|_| Error::not_found("app"))?),
        };
        let new = NewAccount {
            provider,
            access_token,
            refresh_token: json::field::<String>(&obj, "refresh_token", "a string")?.map(Secret::new),
            expires_at,
            app_id,
            external_id,
        };
        let account = self.register_account(tenant, new).await?;
        Ok(json::json(StatusCode::CREATED, &account))
    }

    pub(super) async fn serve_delete_account(&self, tenant: &TenantId, id: &str) -> Result<Response<Bytes>, Error> {
        self.disconnect(tenant, &account_id(id)?).await?;
        Ok(json::no_content())
    }
}
