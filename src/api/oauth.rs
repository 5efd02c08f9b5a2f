//! `/oauth/{provider}/start` and `/oauth/{provider}/callback`.

use bytes::Bytes;
use http::{Response, StatusCode};

use super::json::{self, Query};
use crate::Error;
use crate::Secret;
use crate::connect::{CallbackOutcome, CallbackParams, Connect};
use crate::model::StartParams;
use crate::{AppId, ExternalId, TenantId};

/// Longest accepted callback parameters (a state is under 200 characters; codes are short).
const MAX_STATE: usize = 512;
const MAX_CODE: usize = 4096;
const MAX_ERROR: usize = 256;
const MAX_ISS: usize = 2048;

impl Connect {
    pub(super) async fn serve_start(
        &self,
        tenant: &TenantId,
        provider: &str,
        query: Option<&str>,
    ) -> Result<Response<Bytes>, Error> {
        let q = Query::parse(query)?;
        let return_url = q.required("return_url")?;
        let app_id: Option<AppId> = q.parsed("app_id")?;
        let external_id: Option<ExternalId> = q.parsed("external_id")?;
        let scopes = match q.get("scopes") {
            None => None,
            Some(s) => {
                let list: Vec<String> = s.split(' ').filter(|x| !x.is_empty()).map(str::to_owned).collect();
                if list.is_empty() {
                    return Err(Error::invalid_request("scopes must name at least one scope"));
                }
                Some(list)
            }
        };
        let instance = q.get("instance").map(str::to_owned);
        let params = StartParams { return_url: return_url.to_owned(), app_id, scopes, external_id, instance };
        let provider = provider.parse::<crate::ProviderId>().map_err(|_| Error::not_found("provider"))?;
        let started = self.start(tenant, &provider, params).await?;
        Ok(json::json(StatusCode::OK, &started))
    }

    pub(super) async fn serve_callback(
        &self,
        provider: &str,
        query: Option<&str>,
        cookie: Option<String>,
    ) -> Response<Bytes> {
        let Ok(provider) = provider.parse::<crate::ProviderId>() else {
            return json::error_response(&Error::not_found("provider"));
        };
        if !self.inner.providers.contains_key(&provider) {
            return json::error_response(&Error::not_found("provider"));
        }
        // Duplicated, non-UTF-8 or oversized parameters: no trustworthy destination.
        let Ok(q) = Query::parse(query) else { return json::callback_rejected() };
        let limited = |name: &str, max: usize| -> Result<Option<String>, ()> {
            match q.get(name) {
                Some(v) if v.len() > max => Err(()),
                Some(v) => Ok(Some(v.to_owned())),
                None => Ok(None),
            }
        };
        let (Ok(state), Ok(code), Ok(error), Ok(iss)) = (
            limited("state", MAX_STATE),
            limited("code", MAX_CODE),
            limited("error", MAX_ERROR),
            limited("iss", MAX_ISS),
        ) else {
            return json::callback_rejected();
        };
        let clear = self.clear_binding_cookie(&provider, state.as_deref());
        let params = CallbackParams { state, code: code.map(Secret::new), error, iss, cookie };
        match self.callback(&provider, params).await {
            CallbackOutcome::Redirect(url) => {
                let mut res = json::redirect(&url);
                if let Some(c) = clear {
                    res.headers_mut().insert(http::header::SET_COOKIE, c);
                }
                res
            }
            CallbackOutcome::Rejected => json::callback_rejected(),
        }
    }
}
