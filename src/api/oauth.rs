//! `/oauth/{provider}/start` and `/oauth/{provider}/callback`.

use bytes::Bytes;
use http::header::{self, HeaderValue};
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
        if !self.has_provider(&provider) {
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

    /// `GET {prefix}/oauth/{provider}/go?state=…`, the browser-binding hop: a 302 to the
    /// provider with the binding cookie, or the callback's static 400 page.
    pub(super) async fn serve_hop(&self, provider: &str, query: Option<&str>) -> Response<Bytes> {
        let Ok(provider) = provider.parse::<crate::ProviderId>() else {
            return json::error_response(&Error::not_found("provider"));
        };
        if !self.has_provider(&provider) {
            return json::error_response(&Error::not_found("provider"));
        }
        if !self.browser_binding() {
            return json::error_response(&Error::not_found("route"));
        }
        let Ok(q) = Query::parse(query) else { return json::callback_rejected() };
        let Some(state) = q.get("state") else {
            return json::callback_rejected();
        };
        match self.bind_browser(&provider, state).await {
            Some(hop) => hop_redirect(&hop.authorize_url, hop.cookie),
            None => json::callback_rejected(),
        }
    }
}

/// The hop's 302 to the provider, with the binding cookie.
fn hop_redirect(to: &str, cookie: HeaderValue) -> Response<Bytes> {
    let Ok(location) = HeaderValue::from_str(to) else { return json::callback_rejected() };
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = StatusCode::FOUND;
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::SET_COOKIE, cookie);
    h.insert(header::LOCATION, location);
    res
}
