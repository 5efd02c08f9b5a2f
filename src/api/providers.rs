//! `GET /providers`: the providers this instance knows, so a front end can draw its connect
//! buttons.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde::Serialize;

use super::json;
use crate::Error;
use crate::connect::Connect;
use crate::provider::Capabilities;

/// One provider as listed.
#[derive(Serialize)]
struct ProviderView<'a> {
    id: &'a str,
    default_scopes: &'a [String],
    pkce: bool,
    capabilities: Capabilities,
}

/// The list, in the usual list shape (never paged: the registry is small and fixed).
#[derive(Serialize)]
struct ProviderList<'a> {
    data: Vec<ProviderView<'a>>,
    next_cursor: Option<String>,
}

impl Connect {
    pub(super) fn serve_list_providers(&self, query: Option<&str>) -> Result<Response<Bytes>, Error> {
        // No parameters, but a malformed or duplicated one is still refused.
        json::Query::parse(query)?;
        let providers = self.providers();
        let data = providers
            .iter()
            .map(|p| {
                // The scopes a flow asks for when the app names none: those registered at a
                // server where the provider registers clients, else its code flow's.
                let default_scopes = match (p.registration(), p.code_flow()) {
                    (Some(registration), _) => registration.default_scopes(),
                    (None, Some(flow)) => flow.default_scopes(),
                    (None, None) => &[],
                };
                let capabilities = p.capabilities();
                ProviderView { id: p.id().as_str(), default_scopes, pkce: capabilities.pkce, capabilities }
            })
            .collect();
        Ok(json::json(StatusCode::OK, &ProviderList { data, next_cursor: None }))
    }
}
