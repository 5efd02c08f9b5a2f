//! `/oauth/selections/{id}` routes: read a pending target selection, and choose from it.

use bytes::Bytes;
use http::{Response, StatusCode, request::Parts};
use serde::Serialize;

use super::json;
use crate::Error;
use crate::connect::Connect;
use crate::model::Account;
use crate::{SelectionId, TenantId};

/// The answer of a choice: the accounts made or updated, in the selection's order.
#[derive(Serialize)]
struct Chosen {
    data: Vec<Account>,
}

fn selection_id(id: &str) -> Result<SelectionId, Error> {
    id.parse().map_err(|_| Error::not_found("selection"))
}

impl Connect {
    pub(super) async fn serve_get_selection(&self, tenant: &TenantId, id: &str) -> Result<Response<Bytes>, Error> {
        let selection = self.selection(tenant, &selection_id(id)?).await?;
        Ok(json::json(StatusCode::OK, &selection))
    }

    pub(super) async fn serve_choose_targets(
        &self,
        tenant: &TenantId,
        id: &str,
        parts: &Parts,
        body: &Bytes,
    ) -> Result<Response<Bytes>, Error> {
        let id = selection_id(id)?;
        let obj = json::json_object(&parts.headers, body, self.max_body_bytes())?;
        json::only_fields(&obj, &["target_ids"])?;
        let target_ids: Vec<String> = json::required(&obj, "target_ids", "an array of strings")?;
        let data = self.choose_targets(tenant, &id, &target_ids).await?;
        Ok(json::json(StatusCode::CREATED, &Chosen { data }))
    }
}
