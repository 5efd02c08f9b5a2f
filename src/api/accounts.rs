//! `/accounts` routes.

use bytes::Bytes;
use http::{Response, StatusCode, request::Parts};

use super::json::{self, Query};
use crate::connect::Connect;
use crate::error::Error;
use crate::ids::{AccountId, AppId, ExternalId, ProviderId, TenantId};
use crate::model::NewAccount;
use crate::secret::Secret;
use crate::store::AccountFilter;

const ACCOUNT_FIELDS: &[&str] = &["provider", "access_token", "refresh_token", "expires_at", "app_id", "external_id"];

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
        let obj = json::json_object(&parts.headers, body, self.inner.max_body_bytes)?;
        json::only_fields(&obj, ACCOUNT_FIELDS)?;
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
        let external_id = match json::field::<String>(&obj, "external_id", "a string")? {
            None => None,
            Some(s) => Some(s.parse::<ExternalId>().map_err(|e| Error::validation(e.to_string()))?),
        };
        let new = NewAccount {
            provider: json::required(&obj, "provider", "a string")?,
            access_token: Secret::new(json::required::<String>(&obj, "access_token", "a string")?),
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
