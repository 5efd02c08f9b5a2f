//! `GET {prefix}/openapi.json` (no key): the OpenAPI 3.1 document of every route, kept equal
//! to the router by `tests::the_document_lists_exactly_the_routers_routes_and_methods` and to
//! the responses by the flow tests (every JSON response they see is validated against it).

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::Value;

use super::json;
use crate::connect::Connect;

/// The document, with `servers` set to `/v1` (replaced per instance when served).
pub(crate) const DOCUMENT: &str = include_str!("openapi.json");

impl Connect {
    pub(super) fn serve_openapi(&self) -> Response<Bytes> {
        let mut doc: Value = match serde_json::from_str(DOCUMENT) {
            Ok(v) => v,
            Err(e) => return json::error_response(&crate::Error::server(e)),
        };
        let server = format!("{}{}", self.public_base_url(), self.prefix());
        if let Some(s) = doc.pointer_mut("/servers/0/url") {
            *s = Value::String(server);
        }
        json::json(StatusCode::OK, &doc)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::Route;
    use super::*;

    /// A template path of the document for each route. The match is exhaustive: a new route
    /// does not compile until it is listed here (and so in the document).
    fn template(route: Route<'_>) -> &'static str {
        match route {
            Route::Apps => "/oauth-apps",
            Route::App(_) => "/oauth-apps/{id}",
            Route::Start(_) => "/oauth/{provider}/start",
            Route::Callback(_) => "/oauth/{provider}/callback",
            Route::Hop(_) => "/oauth/{provider}/go",
            Route::Accounts => "/accounts",
            Route::Account(_) => "/accounts/{id}",
            Route::OpenApi => "/openapi.json",
            Route::Providers => "/providers",
            Route::Selection(_) => "/oauth/selections/{id}",
        }
    }

    const SAMPLES: [Route<'static>; 10] = [
        Route::Apps,
        Route::App("app_1"),
        Route::Start("x"),
        Route::Callback("x"),
        Route::Hop("x"),
        Route::Accounts,
        Route::Account("acc_1"),
        Route::OpenApi,
        Route::Providers,
        Route::Selection("sel_1"),
    ];

    #[test]
    fn the_document_lists_exactly_the_routers_routes_and_methods() {
        let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        let mut from_router = BTreeSet::new();
        for route in SAMPLES {
            let t = template(route);
            // The template, filled in, parses back to this route.
            let filled = t.replace("{id}", "id_1").replace("{provider}", "x");
            assert_eq!(Route::parse(&filled).map(template), Some(t));
            for m in route.allow().split(", ") {
                from_router.insert((t.to_owned(), m.to_ascii_lowercase()));
            }
        }
        let mut from_doc = BTreeSet::new();
        for (path, item) in paths {
            for m in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
                from_doc.insert((path.clone(), m.clone()));
            }
        }
        assert_eq!(from_router, from_doc);
    }

    #[test]
    fn every_error_code_is_in_the_documents_enum() {
        let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
        let codes: Vec<&str> = doc
            .pointer("/components/schemas/Error/properties/error/properties/code/enum")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = crate::ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes, ours);
    }
}
