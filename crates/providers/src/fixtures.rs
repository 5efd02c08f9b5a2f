//! Test helpers for the provider modules: a closure [`HttpClient`] that replays recorded
//! responses in order and keeps the requests, and shorthands for reading them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

pub(crate) use super::GrantTokens;
use super::{AuthorizeRequest, ClientCredentials, Provider, ProviderContext};
use dravo_connect_core::Secret;
use dravo_connect_core::http_client::{HttpClient, HttpError};

pub(crate) type Seen = Arc<Mutex<Vec<http::Request<Bytes>>>>;

/// The client id of the fixtures.
pub(crate) const CLIENT_ID: &str = "client-1";
/// The client secret of the fixtures.
pub(crate) const CLIENT_SECRET: &str = "shh-secret";
/// The callback of the fixtures.
pub(crate) const REDIRECT_URI: &str = "https://app.example.com/v1/oauth/p/callback";
/// A PKCE challenge.
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// An `HttpClient` answering each request with the next `(status, body)`, and a 500 when
/// they run out.
pub(crate) fn replay(answers: &[(u16, &str)]) -> (impl HttpClient, Seen) {
    let queue: Arc<Mutex<VecDeque<(u16, String)>>> =
        Arc::new(Mutex::new(answers.iter().map(|(s, b)| (*s, (*b).to_owned())).collect()));
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let client = move |request: http::Request<Bytes>| {
        log.lock().unwrap().push(request);
        let (status, body) = queue.lock().unwrap().pop_front().unwrap_or((500, String::new()));
        async move {
            Ok::<_, HttpError>(
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Bytes::from(body))
                    .unwrap(),
            )
        }
    };
    (client, seen)
}

/// The recorded requests, taken out.
pub(crate) fn requests(seen: &Seen) -> Vec<http::Request<Bytes>> {
    std::mem::take(&mut *seen.lock().unwrap())
}

/// The client secret of the fixtures, as a `Secret`.
pub(crate) fn secret() -> Secret<String> {
    Secret::new(CLIENT_SECRET.to_owned())
}

/// A context with the fixtures' credentials.
pub(crate) fn ctx<'a>(http: &'a dyn HttpClient, secret: &'a Secret<String>) -> ProviderContext<'a> {
    ProviderContext { http, credentials: ClientCredentials { client_id: CLIENT_ID, client_secret: secret } }
}

/// The authorize URL of `provider` for its default scopes, with a challenge when it uses
/// PKCE: the URL without query, and the query pairs.
pub(crate) fn authorize(provider: &dyn Provider) -> (String, Vec<(String, String)>) {
    let provider = provider.code_flow().expect("a provider with a code flow");
    let url = provider
        .authorize_url(&AuthorizeRequest {
            client_id: CLIENT_ID,
            redirect_uri: REDIRECT_URI,
            scopes: provider.default_scopes(),
            state: "k0.state",
            code_challenge: provider.uses_pkce().then_some(CHALLENGE),
        })
        .unwrap();
    let base = url.as_str().split('?').next().unwrap().to_owned();
    (base, url.query_pairs().into_owned().collect())
}

/// The value of `name` in `pairs`.
pub(crate) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The form body of a request.
pub(crate) fn form(request: &http::Request<Bytes>) -> Vec<(String, String)> {
    form_urlencoded::parse(request.body()).into_owned().collect()
}

/// The query of a request.
pub(crate) fn query(request: &http::Request<Bytes>) -> Vec<(String, String)> {
    form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes()).into_owned().collect()
}

/// The request's URL without its query.
pub(crate) fn endpoint(request: &http::Request<Bytes>) -> String {
    request.uri().to_string().split('?').next().unwrap().to_owned()
}

/// A header of a request, as text.
pub(crate) fn header<'a>(request: &'a http::Request<Bytes>, name: &str) -> Option<&'a str> {
    request.headers().get(name).map(|v| v.to_str().unwrap())
}

/// The access token of a `Secret`.
pub(crate) fn token(s: &str) -> Secret<String> {
    Secret::new(s.to_owned())
}

/// An account's tokens: an access token and no refresh token.
pub(crate) fn access_only(access: &Secret<String>) -> GrantTokens<'_> {
    GrantTokens::new(access, None)
}
