//! The public provider conformance suite: what every OAuth code-flow provider, built-in or
//! third-party, must do with the requests it sends and the answers it reads.
// Test code: a failed check panics, with the case's name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use dravo_connect_core::Secret;
use dravo_connect_core::http_client::{HttpClient, HttpError};
use dravo_connect_core::provider::{
    AuthorizeRequest, Capabilities, ClientAuth, ClientCredentials, CodeFlow, GrantTokens, LoginMethod, Provider,
    ProviderContext, ProviderErrorKind, RefreshModel, Renewal,
};

/// What the provider's network answers, in its own shapes, for the suite to replay: the
/// suite sends nothing anywhere, it hands these to the provider as its HTTP client's answers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProviderAnswers {
    /// The body of a successful token response (code exchange, refresh or re-exchange),
    /// with an access token and, for a provider that renews with a refresh grant, a
    /// refresh token.
    pub token: String,
    /// The body of a successful profile response for the access token of `token`.
    pub profile: String,
    /// The account id [`CodeFlow::fetch_profile`] must read from `profile`.
    pub profile_id: String,
    /// The bodies of the successful calls a provider makes, in order, before its profile
    /// call (Twitch validates the token first); none for most.
    pub before_profile: Vec<String>,
}

impl ProviderAnswers {
    /// Answers with a standard RFC 6749 token response (`access_token` `a1`, `refresh_token`
    /// `r1`, an hour's lifetime) and `profile`, from which the provider reads `profile_id`.
    pub fn new(profile: impl Into<String>, profile_id: impl Into<String>) -> Self {
        Self {
            token: r#"{"access_token":"a1","token_type":"bearer","expires_in":3600,"refresh_token":"r1"}"#.to_owned(),
            profile: profile.into(),
            profile_id: profile_id.into(),
            before_profile: Vec::new(),
        }
    }

    /// The same with the answer of one more call made before the profile call.
    pub fn with_before_profile(mut self, body: impl Into<String>) -> Self {
        self.before_profile.push(body.into());
        self
    }

    /// The same with another token response body.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }
}

const CLIENT_ID: &str = "conformance-client";
const CLIENT_SECRET: &str = "conformance-secret";
const REDIRECT_URI: &str = "https://connect.example.com/v1/oauth/p/callback";
const STATE: &str = "conformance-state";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Runs the conformance cases against `provider` with its network's `answers`, and panics
/// on the first failure with a message naming the case. The provider is called with a
/// replaying HTTP client: nothing leaves the process.
///
/// The cases, for a provider with an OAuth code flow ([`Provider::code_flow`]):
/// - its [`Capabilities`] describe the parts it implements ([`Capabilities::of`]);
/// - the authorize URL carries the client id, the exact redirect URI and state, the
///   requested scopes, and the PKCE S256 challenge exactly when it uses PKCE;
/// - the code exchange sends the code, the redirect URI and the verifier (exactly when it
///   uses PKCE), authenticates the client as its capabilities say, and reads the tokens;
/// - a refused exchange (`400 invalid_grant`) is `Rejected`, a `5xx` is `Unavailable`, an
///   answer that is not a token response is `InvalidResponse`, and no error shows the
///   client secret;
/// - the profile is read from `answers.profile`, with or without the app's credentials
///   ([`CodeFlow::fetch_profile_with`]: the same account, and never the client secret in a
///   profile call), and a refused token is `Rejected`;
/// - renewal sends exactly one request of its kind (a refresh grant, a re-exchange), or
///   none without renewal;
/// - revocation sends requests exactly when its capabilities say it revokes.
///
/// A provider without a code flow (a password login) is checked for its description only.
///
/// ```no_run
/// # async fn run(my_provider: std::sync::Arc<dyn dravo_connect_core::provider::Provider>) {
/// use dravo_connect_testing::{ProviderAnswers, provider_conformance};
/// let answers = ProviderAnswers::new(r#"{"sub":"42","name":"Ada"}"#, "42");
/// provider_conformance(my_provider.as_ref(), &answers).await;
/// # }
/// ```
pub async fn provider_conformance(provider: &dyn Provider, answers: &ProviderAnswers) {
    let id = provider.id().to_string();
    capabilities_describe_the_parts(provider, &id);
    let Some(flow) = provider.code_flow() else {
        assert!(provider.password_login().is_some(), "{id}: a provider needs a code flow or a password login");
        return;
    };
    let caps = provider.capabilities();
    the_authorize_url_carries_the_request(flow, &caps, &id);
    the_code_exchange_sends_what_the_row_says(flow, &caps, answers, &id).await;
    exchange_failures_are_classified(flow, &id).await;
    the_profile_is_read(flow, answers, &id).await;
    renewal_sends_one_request_of_its_kind(flow, answers, &id).await;
    revocation_matches_the_row(flow, &caps, &id).await;
}

fn capabilities_describe_the_parts(provider: &dyn Provider, id: &str) {
    let caps = provider.capabilities();
    let derived = Capabilities::of(provider);
    assert_eq!(caps.login, derived.login, "capabilities_describe_the_parts: {id}: login");
    assert_eq!(caps.pkce, derived.pkce, "capabilities_describe_the_parts: {id}: PKCE");
    assert_eq!(
        std::mem::discriminant(&caps.refresh),
        std::mem::discriminant(&derived.refresh),
        "capabilities_describe_the_parts: {id}: renewal kind"
    );
    assert_eq!(caps.target_selection, derived.target_selection, "capabilities_describe_the_parts: {id}: targets");
    let expected = if provider.code_flow().is_some() { LoginMethod::OAuth2 } else { LoginMethod::AppPassword };
    assert_eq!(caps.login, expected, "capabilities_describe_the_parts: {id}: login method");
}

fn the_authorize_url_carries_the_request(flow: &dyn CodeFlow, caps: &Capabilities, id: &str) {
    let case = "the_authorize_url_carries_the_request";
    let scopes: Vec<String> = vec!["read".to_owned(), "write".to_owned()];
    let challenge = flow.uses_pkce().then_some(CHALLENGE);
    let request = AuthorizeRequest {
        client_id: CLIENT_ID,
        redirect_uri: REDIRECT_URI,
        scopes: &scopes,
        state: STATE,
        code_challenge: challenge,
    };
    let url = flow.authorize_url(&request).unwrap_or_else(|e| panic!("{case}: {id}: {e}"));
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    assert!(url.scheme() == "https" || loopback, "{case}: {id}: not https: {url}");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(param("response_type"), Some("code"), "{case}: {id}: response_type");
    assert_eq!(param(&caps.client_id_param), Some(CLIENT_ID), "{case}: {id}: client id");
    assert_eq!(param("redirect_uri"), Some(REDIRECT_URI), "{case}: {id}: redirect_uri");
    assert_eq!(param("state"), Some(STATE), "{case}: {id}: state");
    assert_eq!(param("scope"), Some(scopes.join(&caps.scope_separator).as_str()), "{case}: {id}: scope");
    assert_eq!(param("code_challenge"), challenge, "{case}: {id}: code_challenge");
    assert_eq!(param("code_challenge_method"), challenge.map(|_| "S256"), "{case}: {id}: challenge method");
    for name in ["state", "redirect_uri", "code_challenge"] {
        let n = pairs.iter().filter(|(k, _)| k == name).count();
        assert!(n <= 1, "{case}: {id}: {name} appears {n} times");
    }
}

async fn the_code_exchange_sends_what_the_row_says(
    flow: &dyn CodeFlow,
    caps: &Capabilities,
    answers: &ProviderAnswers,
    id: &str,
) {
    let case = "the_code_exchange_sends_what_the_row_says";
    let http = Replay::new(&[(200, answers.token.as_str()), (200, answers.token.as_str())]);
    let secret = Secret::new(CLIENT_SECRET.to_owned());
    let verifier = Secret::new("v".repeat(43));
    let tokens = flow
        .exchange_code(ctx(&http, &secret), "the-code", REDIRECT_URI, flow.uses_pkce().then_some(&verifier))
        .await
        .unwrap_or_else(|e| panic!("{case}: {id}: {e}"));
    assert!(!tokens.access_token.expose_secret().is_empty(), "{case}: {id}: no access token");
    let sent = http.sent();
    assert_eq!(sent.len(), if caps.long_lived_exchange { 2 } else { 1 }, "{case}: {id}: requests");
    let first = &sent[0];
    assert_eq!(first.method(), http::Method::POST, "{case}: {id}: method");
    let form: Vec<(String, String)> = form_urlencoded::parse(first.body()).into_owned().collect();
    let param = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(param("grant_type"), Some("authorization_code"), "{case}: {id}: grant_type");
    assert_eq!(param("code"), Some("the-code"), "{case}: {id}: code");
    assert_eq!(param("redirect_uri"), Some(REDIRECT_URI), "{case}: {id}: redirect_uri");
    let sent_verifier = param("code_verifier");
    assert_eq!(sent_verifier.is_some(), flow.uses_pkce(), "{case}: {id}: code_verifier");
    let authorization = first.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match caps.client_auth {
        ClientAuth::Basic => {
            assert!(authorization.is_some_and(|a| a.starts_with("Basic ")), "{case}: {id}: Basic auth");
            assert_eq!(param("client_secret"), None, "{case}: {id}: secret in the body too");
        }
        ClientAuth::Body => {
            assert_eq!(param("client_secret"), Some(CLIENT_SECRET), "{case}: {id}: secret in the body");
            assert!(authorization.is_none(), "{case}: {id}: Authorization header too");
        }
        ClientAuth::None => {
            assert_eq!(param("client_secret"), None, "{case}: {id}: a public client sends no secret");
            assert!(authorization.is_none(), "{case}: {id}: a public client sends no Authorization");
        }
        other => panic!("{case}: {id}: unknown client auth {other:?}"),
    }
}

async fn exchange_failures_are_classified(flow: &dyn CodeFlow, id: &str) {
    let case = "exchange_failures_are_classified";
    let secret = Secret::new(CLIENT_SECRET.to_owned());
    let verifier = Secret::new("v".repeat(43));
    let pkce = flow.uses_pkce().then_some(&verifier);
    let cases: [(u16, &str, ProviderErrorKind); 3] = [
        (400, r#"{"error":"invalid_grant"}"#, ProviderErrorKind::Rejected),
        (503, "unavailable", ProviderErrorKind::Unavailable),
        (200, "<html>not a token</html>", ProviderErrorKind::InvalidResponse),
    ];
    for (status, body, kind) in cases {
        let http = Replay::new(&[(status, body)]);
        let err = flow.exchange_code(ctx(&http, &secret), "the-code", REDIRECT_URI, pkce).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{case}: {id}: a {status} answer");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(CLIENT_SECRET), "{case}: {id}: the error shows the client secret");
    }
}

async fn the_profile_is_read(flow: &dyn CodeFlow, answers: &ProviderAnswers, id: &str) {
    let case = "the_profile_is_read";
    let calls: Vec<(u16, &str)> =
        answers.before_profile.iter().chain([&answers.profile]).map(|body| (200, body.as_str())).collect();
    let http = Replay::new(&calls);
    let profile =
        flow.fetch_profile(&http, &Secret::new("a1".to_owned())).await.unwrap_or_else(|e| panic!("{case}: {id}: {e}"));
    assert_eq!(profile.id, answers.profile_id, "{case}: {id}: account id");
    let sent = http.sent();
    assert!(!sent.is_empty(), "{case}: {id}: no request");
    let http = Replay::new(&[(401, r#"{"error":"invalid_token"}"#)]);
    let err = flow.fetch_profile(&http, &Secret::new("a1".to_owned())).await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Rejected, "{case}: {id}: a refused token");
    // With the app's credentials at hand (what `Connect` does when it knows the app), the
    // same account is read, and the secret itself never travels with a profile call.
    let secret = Secret::new(CLIENT_SECRET.to_owned());
    let http = Replay::new(&[(200, answers.profile.as_str())]);
    let profile = flow
        .fetch_profile_with(ctx(&http, &secret), &Secret::new("a1".to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{case}: {id}: with credentials: {e}"));
    assert_eq!(profile.id, answers.profile_id, "{case}: {id}: account id with credentials");
    for request in http.sent() {
        let shown = format!("{} {:?} {}", request.uri(), request.headers(), String::from_utf8_lossy(request.body()));
        assert!(!shown.contains(CLIENT_SECRET), "{case}: {id}: a profile call carries the client secret");
    }
}

async fn renewal_sends_one_request_of_its_kind(flow: &dyn CodeFlow, answers: &ProviderAnswers, id: &str) {
    let case = "renewal_sends_one_request_of_its_kind";
    let secret = Secret::new(CLIENT_SECRET.to_owned());
    let http = Replay::new(&[(200, answers.token.as_str())]);
    match flow.renewal() {
        Renewal::RefreshGrant(grant) => {
            let tokens = grant.refresh(ctx(&http, &secret), &Secret::new("r0".to_owned())).await;
            tokens.unwrap_or_else(|e| panic!("{case}: {id}: {e}"));
            let sent = http.sent();
            assert_eq!(sent.len(), 1, "{case}: {id}: requests");
            let form: Vec<(String, String)> = form_urlencoded::parse(sent[0].body()).into_owned().collect();
            let grant_type = form.iter().find(|(k, _)| k == "grant_type").map(|(_, v)| v.as_str());
            assert_eq!(grant_type, Some("refresh_token"), "{case}: {id}: grant_type");
        }
        Renewal::Reexchange(swap) => {
            swap.reexchange(ctx(&http, &secret), &Secret::new("a0".to_owned()))
                .await
                .unwrap_or_else(|e| panic!("{case}: {id}: {e}"));
            assert_eq!(http.sent().len(), 1, "{case}: {id}: requests");
        }
        Renewal::None => assert!(http.sent().is_empty(), "{case}: {id}"),
        other => panic!("{case}: {id}: unknown renewal {other:?}"),
    }
}

async fn revocation_matches_the_row(flow: &dyn CodeFlow, caps: &Capabilities, id: &str) {
    let case = "revocation_matches_the_row";
    let secret = Secret::new(CLIENT_SECRET.to_owned());
    let http = Replay::new(&[(200, "{}"), (200, "{}")]);
    let access = Secret::new("a1".to_owned());
    let refresh = Secret::new("r1".to_owned());
    let refresh = matches!(caps.refresh, RefreshModel::Grant { .. }).then_some(&refresh);
    let revoked = flow.revoke(ctx(&http, &secret), GrantTokens::new(&access, refresh)).await;
    assert_eq!(revoked.is_ok(), caps.revocation, "{case}: {id}: {revoked:?}");
    assert_eq!(!http.sent().is_empty(), caps.revocation, "{case}: {id}: requests");
    if !caps.revocation {
        assert_eq!(revoked.unwrap_err().kind(), ProviderErrorKind::Unsupported, "{case}: {id}");
    }
}

fn ctx<'a>(http: &'a dyn HttpClient, secret: &'a Secret<String>) -> ProviderContext<'a> {
    ProviderContext { http, credentials: ClientCredentials { client_id: CLIENT_ID, client_secret: secret } }
}

/// An [`HttpClient`] that answers with recorded responses in order (then `503`), and keeps
/// the requests.
struct Replay {
    answers: Mutex<VecDeque<(u16, String)>>,
    sent: Mutex<Vec<http::Request<Bytes>>>,
}

impl Replay {
    fn new(answers: &[(u16, &str)]) -> Self {
        Self {
            answers: Mutex::new(answers.iter().map(|(s, b)| (*s, (*b).to_owned())).collect()),
            sent: Mutex::new(Vec::new()),
        }
    }

    fn sent(&self) -> Vec<http::Request<Bytes>> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl HttpClient for Replay {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).push(request);
        let (status, body) =
            self.answers.lock().unwrap_or_else(PoisonError::into_inner).pop_front().unwrap_or((503, String::new()));
        let mut response = http::Response::new(Bytes::from(body));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        Ok(response)
    }
}
