//! THE router: every Connect route, written once, framework-agnostic:
//! `Connect::handle(http::Request<Bytes>) -> http::Response<Bytes>`, in two phases: `prepare`
//! answers from the request's head alone (route, method, declared length, credentials) and
//! `finish` serves the body. The adapters only convert requests and responses around them,
//! reading the body between the two.

use bytes::Bytes;
use http::{Method, Request, Response};

use crate::TenantId;
use crate::connect::Connect;
use crate::{Error, ErrorCode};
use dravo_connect_core::prefix::strip_path_prefix;

mod accounts;
mod apps;
pub(crate) mod cors;
pub(crate) mod json;
mod oauth;
pub(crate) mod openapi;
mod providers;
mod selections;

/// A Connect route, matched on the path below the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    Apps,
    App(&'a str),
    Start(&'a str),
    Callback(&'a str),
    /// The browser-binding hop.
    Hop(&'a str),
    Accounts,
    Account(&'a str),
    Providers,
    /// `GET` / `POST /oauth/selections/{id}`: a pending target selection.
    Selection(&'a str),
    /// `GET /openapi.json`.
    OpenApi,
}

impl<'a> Route<'a> {
    /// Matches the path below the prefix (e.g. `/oauth/x/start`).
    pub(crate) fn parse(rest: &'a str) -> Option<Self> {
        let rest = rest.strip_prefix('/')?;
        let mut it = rest.split('/');
        let route = match (it.next(), it.next(), it.next()) {
            (Some("oauth-apps"), None, _) => Self::Apps,
            (Some("oauth-apps"), Some(id), None) if !id.is_empty() => Self::App(id),
            (Some("oauth"), Some("selections"), Some(id)) if !id.is_empty() => Self::Selection(id),
            (Some("oauth"), Some(p), Some("start")) if !p.is_empty() => Self::Start(p),
            (Some("oauth"), Some(p), Some("callback")) if !p.is_empty() => Self::Callback(p),
            (Some("oauth"), Some(p), Some("go")) if !p.is_empty() => Self::Hop(p),
            (Some("accounts"), None, _) => Self::Accounts,
            (Some("accounts"), Some(id), None) if !id.is_empty() => Self::Account(id),
            (Some("providers"), None, _) => Self::Providers,
            (Some("openapi.json"), None, _) => Self::OpenApi,
            _ => return None,
        };
        if it.next().is_some() {
            return None;
        }
        Some(route)
    }

    /// The methods the route answers, as an `Allow` header value.
    pub(crate) fn allow(self) -> &'static str {
        match self {
            Self::Apps | Self::Accounts | Self::Selection(_) => "GET, POST",
            Self::App(_) => "GET, PATCH, DELETE",
            Self::Start(_) | Self::Callback(_) | Self::Hop(_) | Self::OpenApi | Self::Providers => "GET",
            Self::Account(_) => "GET, DELETE",
        }
    }

    fn allows(self, method: &Method) -> bool {
        // Split on the byte, not the string ", ": a string pattern sets up a substring search.
        self.allow().split(',').any(|m| m.trim_start() == method.as_str())
    }
}

impl Connect {
    /// True when `path` is a Connect route (whatever the method). The tower layer answers
    /// exactly these and passes every other request to the host.
    pub fn is_connect_path(&self, path: &str) -> bool {
        strip_path_prefix(path, self.prefix()).and_then(Route::parse).is_some()
    }

    /// True when `path` is under the prefix (a route or not): the axum router answers all of
    /// these, unknown ones with `404 not_found`.
    pub fn is_under_prefix(&self, path: &str) -> bool {
        strip_path_prefix(path, self.prefix()).is_some()
    }

    /// The body limit adapters read requests under.
    pub fn max_body_bytes(&self) -> usize {
        self.body_limit()
    }

    /// Serves one request, its body already read (under
    /// [`max_body_bytes`](Self::max_body_bytes)): for a host on another framework. Connect's
    /// own adapters answer what needs no body (a missing key, a wrong route or method, a
    /// declared length over the limit) before they read a byte of it; such a host can check
    /// `Content-Length` against the limit before reading too, and should bound how long it
    /// waits for a body.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let (parts, body) = request.into_parts();
        match self.prepare(&parts, Some(body.len())).await {
            Ok(prepared) => self.finish(prepared, &parts, &body).await,
            Err(answer) => answer,
        }
    }

    /// Everything that needs no body, from the request line and headers alone: the URL
    /// length, the prefix, the route, a CORS preflight, the method, a body longer than the
    /// limit (`body_len` when the caller knows it, else a `Content-Length` over it), and on a
    /// keyed route the authentication. `Err` is the answer, given before a byte of the body
    /// is read; `Ok` carries the route and the resolved tenant to
    /// [`finish`](Self::finish), which does not authenticate again.
    pub(crate) async fn prepare<'a>(
        &self,
        parts: &'a http::request::Parts,
        body_len: Option<usize>,
    ) -> Result<Prepared<'a>, Response<Bytes>> {
        let uri_len = parts.uri.path_and_query().map_or(parts.uri.path().len(), |pq| pq.as_str().len());
        if uri_len > self.max_url_bytes() {
            return Err(json::error_response(&Error::new(
                ErrorCode::UriTooLong,
                format!("the URL is longer than {} bytes", self.max_url_bytes()),
            )));
        }
        let Some(rest) = strip_path_prefix(parts.uri.path(), self.prefix()) else {
            return Err(json::error_response(&Error::not_found("route")));
        };
        let Some(route) = Route::parse(rest) else {
            return Err(json::error_response(&Error::not_found("route")));
        };
        let keyed = !matches!(route, Route::Callback(_) | Route::Hop(_) | Route::OpenApi);
        let cors_origin = if keyed { self.cors_origin(&parts.headers) } else { None };
        if let Some(origin) = &cors_origin
            && cors::is_preflight(&parts.method, &parts.headers)
        {
            return Err(cors::preflight(origin.clone(), route.allow()));
        }
        let tenant = match self.check_head(route, keyed, parts, body_len).await {
            Ok(tenant) => tenant,
            Err(mut res) => {
                if keyed && self.cors_configured() {
                    cors::decorate(&mut res, cors_origin);
                }
                return Err(res);
            }
        };
        Ok(Prepared { route, tenant, cors_origin })
    }

    /// The method, the declared body length and, on a keyed route, the credentials: the
    /// tenant (`None` on an unkeyed route), or the answer.
    async fn check_head(
        &self,
        route: Route<'_>,
        keyed: bool,
        parts: &http::request::Parts,
        body_len: Option<usize>,
    ) -> Result<Option<TenantId>, Response<Bytes>> {
        if !route.allows(&parts.method) {
            return Err(json::method_not_allowed(route.allow()));
        }
        let body_len = body_len.or_else(|| declared_len(&parts.headers));
        if body_len.is_some_and(|n| n > self.max_body_bytes()) {
            return Err(self.payload_too_large_response());
        }
        if !keyed {
            return Ok(None);
        }
        match self.authenticator().authenticate(parts).await {
            Ok(tenant) => Ok(Some(tenant)),
            // Names the credential the authenticator takes (an API key, a session), or none.
            Err(_) => Err(json::error_response(&Error::new(
                ErrorCode::Unauthorized,
                format!("missing or invalid {}", self.authenticator().credential_name()),
            ))),
        }
    }

    /// Serves a [`prepare`](Self::prepare)d request with its body (read under
    /// [`max_body_bytes`](Self::max_body_bytes)).
    pub(crate) async fn finish(
        &self,
        prepared: Prepared<'_>,
        parts: &http::request::Parts,
        body: &Bytes,
    ) -> Response<Bytes> {
        let Prepared { route, tenant, cors_origin } = prepared;
        let mut res = if body.len() > self.max_body_bytes() {
            self.payload_too_large_response()
        } else {
            self.serve_route(route, tenant.as_ref(), parts, body).await
        };
        if tenant.is_some() && self.cors_configured() {
            cors::decorate(&mut res, cors_origin);
        }
        res
    }

    async fn serve_route(
        &self,
        route: Route<'_>,
        tenant: Option<&TenantId>,
        parts: &http::request::Parts,
        body: &Bytes,
    ) -> Response<Bytes> {
        if let Route::Callback(provider) = route {
            let cookie = cookie_header(&parts.headers);
            return Box::pin(self.serve_callback(provider, parts.uri.query(), cookie)).await;
        }
        if let Route::Hop(provider) = route {
            return Box::pin(self.serve_hop(provider, parts.uri.query())).await;
        }
        if route == Route::OpenApi {
            return self.serve_openapi();
        }
        // `prepare` resolved the tenant of every keyed route.
        let Some(tenant) = tenant else {
            return json::error_response(&Error::not_found("route"));
        };
        // Every route's future but `start`'s is boxed: the adapters box this whole future on
        // each request, and unboxed the largest branch (the callback's exchange) would make
        // it kilobytes for every `start` too.
        let result = match (route, &parts.method) {
            (Route::Apps, &Method::POST) => Box::pin(self.serve_create_app(tenant, parts, body)).await,
            (Route::Apps, _) => Box::pin(self.serve_list_apps(tenant, parts.uri.query())).await,
            (Route::App(id), &Method::GET) => Box::pin(self.serve_get_app(tenant, id)).await,
            (Route::App(id), &Method::PATCH) => Box::pin(self.serve_patch_app(tenant, id, parts, body)).await,
            (Route::App(id), _) => Box::pin(self.serve_delete_app(tenant, id, parts.uri.query())).await,
            (Route::Start(provider), _) => self.serve_start(tenant, provider, parts.uri.query()).await,
            (Route::Accounts, &Method::POST) => Box::pin(self.serve_create_account(tenant, parts, body)).await,
            (Route::Accounts, _) => Box::pin(self.serve_list_accounts(tenant, parts.uri.query())).await,
            (Route::Account(id), &Method::GET) => Box::pin(self.serve_get_account(tenant, id)).await,
            (Route::Account(id), _) => Box::pin(self.serve_delete_account(tenant, id)).await,
            (Route::Providers, _) => self.serve_list_providers(parts.uri.query()),
            (Route::Selection(id), &Method::POST) => Box::pin(self.serve_choose_targets(tenant, id, parts, body)).await,
            (Route::Selection(id), _) => Box::pin(self.serve_get_selection(tenant, id)).await,
            (Route::Callback(_) | Route::Hop(_) | Route::OpenApi, _) => Err(Error::not_found("route")),
        };
        result.unwrap_or_else(|e| json::error_response(&e))
    }
}

/// A request [`Connect::prepare`] let through: its route, the tenant a keyed route acts
/// for, and the CORS origin its answer is decorated for.
pub(crate) struct Prepared<'a> {
    route: Route<'a>,
    /// `Some` exactly on keyed routes.
    tenant: Option<TenantId>,
    cors_origin: Option<http::HeaderValue>,
}

/// The `Content-Length` the request declares, when it declares one number.
fn declared_len(headers: &http::HeaderMap) -> Option<usize> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    // Too long for a `usize` is over any limit.
    value.to_str().ok()?.parse::<u128>().ok().map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Every `Cookie` header of the request, joined as one (HTTP/2 may split them).
fn cookie_header(headers: &http::HeaderMap) -> Option<String> {
    let parts: Vec<&str> = headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

impl Connect {
    /// The 413 answer: for a declared length over the limit, and for adapters whose body
    /// reader stopped at it.
    pub(crate) fn payload_too_large_response(&self) -> Response<Bytes> {
        json::error_response(&json::payload_too_large(self.max_body_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_exactly_and_nothing_else() {
        assert_eq!(Route::parse("/oauth-apps"), Some(Route::Apps));
        assert_eq!(Route::parse("/oauth-apps/app_1"), Some(Route::App("app_1")));
        assert_eq!(Route::parse("/oauth/x/start"), Some(Route::Start("x")));
        assert_eq!(Route::parse("/oauth/x/callback"), Some(Route::Callback("x")));
        assert_eq!(Route::parse("/oauth/x/go"), Some(Route::Hop("x")));
        assert_eq!(Route::parse("/accounts"), Some(Route::Accounts));
        assert_eq!(Route::parse("/accounts/acc_1"), Some(Route::Account("acc_1")));
        assert_eq!(Route::parse("/providers"), Some(Route::Providers));
        assert_eq!(Route::parse("/providers/x"), None);
        assert_eq!(Route::parse("/oauth/selections/sel_1"), Some(Route::Selection("sel_1")));
        assert_eq!(Route::parse("/oauth/selections/sel_1/x"), None);
        assert_eq!(Route::parse("/oauth/selections/"), None);
        for bad in [
            "",
            "/",
            "/oauth-apps/",
            "/oauth-apps/a/b",
            "/oauth/x",
            "/oauth/x/go/",
            "/oauth//start",
            "/accountsx",
            "/accounts/",
            "oauth-apps",
        ] {
            assert_eq!(Route::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_the_listed_methods_are_allowed() {
        assert!(Route::Apps.allows(&Method::POST));
        assert!(!Route::Apps.allows(&Method::DELETE));
        assert!(Route::App("a").allows(&Method::PATCH));
        assert!(!Route::Start("x").allows(&Method::POST));
        assert!(!Route::Account("a").allows(&Method::PATCH));
    }
}
