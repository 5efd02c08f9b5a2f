//! Bluesky (`bluesky`) through an **app password**: AT Protocol sessions, no OAuth.
//!
//! AT Protocol OAuth (PAR, DPoP, a client-metadata URL as client id) does not fit the
//! client-id-and-secret model and comes later; until then an account is connected with an
//! app password the user creates in Bluesky's settings (`xxxx-xxxx-xxxx-xxxx`):
//!
//! - **Login**: `POST {service}/xrpc/com.atproto.server.createSession`, JSON
//!   `{"identifier","password"}` (the identifier is a handle, a DID or an email) →
//!   `accessJwt`, `refreshJwt`, `did`, `handle` (plus `didDoc`, `email`, `emailConfirmed`,
//!   `active`, `status`). The password is sent once and never stored. Errors are XRPC's
//!   `{"error":<name>,"message":…}`: `401 AuthenticationRequired` for a wrong identifier or
//!   password, `401 AuthFactorTokenRequired` when the account asks for an emailed sign-in code
//!   (the *main* password was given: app passwords skip it), `400 InvalidRequest`,
//!   `400 AccountTakedown`, `429 RateLimitExceeded`.
//! - **Profile**: `GET {service}/xrpc/app.bsky.actor.getProfile?actor={did}` with
//!   `Authorization: Bearer {accessJwt}` → `did`, `handle`, `displayName`, `avatar`. The
//!   account id is the **DID** (stable; handles change), the username the handle.
//! - **Refresh**: `POST {service}/xrpc/com.atproto.server.refreshSession` with
//!   `Authorization: Bearer {refreshJwt}` and no body, no client credentials
//!   ([`RefreshModel::Session`]). It **rotates**: the answer
//!   has a new `accessJwt` and a new `refreshJwt`, and the old refresh token stops working.
//!   `ExpiredToken` and `InvalidToken` (400 or 401) mean the session is gone for good.
//! - **Revocation**: `POST {service}/xrpc/com.atproto.server.deleteSession` with
//!   `Authorization: Bearer {refreshJwt}`.
//! - **Lifetimes**: the session responses carry no `expires_in`; the access token's own
//!   `exp` claim is read (see [`BlueskyProvider::access_token_expires_at`]). Typical values
//!   (unverified: not documented; the reference PDS issues access tokens for about two hours
//!   and refresh tokens for about 90 days) are in the capability table.
//!
//! The service is `https://bsky.social` (Bluesky's entryway, which routes to each account's
//! PDS) unless `service_url` is configured, e.g. for a self-hosted PDS.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{Method, StatusCode};
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;
use zeroize::Zeroizing;

use super::config::{BuiltinOverrides, parse_endpoint, provider_error};
use super::generic::{USER_AGENT_VALUE, bearer_authorization, request_not_built};
use super::{
    GrantTokens, PasswordLogin, PasswordSession, Profile, Provider, ProviderError, ProviderErrorKind, TokenSet,
};
use crate::{Capabilities, ClientAuth, LoginMethod, RefreshModel, RefreshTokenRequirement, Rotation};
use dravo_connect_core::ConfigError;
use dravo_connect_core::ProviderId;
use dravo_connect_core::Secret;
use dravo_connect_core::http_client::HttpClient;

/// The built-in id.
pub const ID: &str = "bluesky";
/// The default service: Bluesky's entryway.
pub const DEFAULT_SERVICE_URL: &str = "https://bsky.social";

const CREATE_SESSION: &str = "com.atproto.server.createSession";
const REFRESH_SESSION: &str = "com.atproto.server.refreshSession";
const DELETE_SESSION: &str = "com.atproto.server.deleteSession";
const GET_PROFILE: &str = "app.bsky.actor.getProfile";

/// Typical access-token lifetime (unverified, see the module docs).
const ACCESS_TOKEN_LIFETIME_SECS: u64 = 2 * 3600;
/// Typical refresh-token lifetime (unverified, see the module docs).
const REFRESH_TOKEN_LIFETIME_SECS: u64 = 90 * 86_400;

/// Bluesky through app passwords (see the module docs).
#[derive(Debug, Clone)]
pub struct BlueskyProvider {
    id: ProviderId,
    /// The service URL, without a trailing slash.
    service: String,
}

impl Default for BlueskyProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl BlueskyProvider {
    /// Bluesky at `https://bsky.social`.
    pub fn new() -> Self {
        Self { id: ProviderId::from_static(ID), service: DEFAULT_SERVICE_URL.to_owned() }
    }

    /// Bluesky at another service (a self-hosted PDS, or a local server in tests).
    ///
    /// # Errors
    /// [`ConfigError::Provider`] when the URL is not https (http only for a loopback host),
    /// has userinfo, a query or a fragment.
    pub fn with_service_url(url: &str) -> Result<Self, ConfigError> {
        let parsed: Url = parse_endpoint(ID, "service_url", url)?;
        if parsed.query().is_some() {
            return Err(provider_error(ID, "service_url: must not contain a query"));
        }
        let service = parsed.as_str().trim_end_matches('/').to_owned();
        Ok(Self { service, ..Self::new() })
    }

    /// The provider with the `[[providers]]` entry of id `bluesky` applied: it takes
    /// `service_url` only.
    pub(crate) fn with_overrides(config: &BuiltinOverrides) -> Result<Self, ConfigError> {
        let mut extra = Vec::new();
        for (set, name) in [
            (config.authorize_url.is_some(), "authorize_url"),
            (config.token_url.is_some(), "token_url"),
            (config.userinfo_url.is_some(), "userinfo_url"),
            (config.revoke_url.is_some(), "revoke_url"),
            (config.exchange_url.is_some(), "exchange_url"),
            (config.refresh_url.is_some(), "refresh_url"),
            (config.targets_url.is_some(), "targets_url"),
            (config.user_agent.is_some(), "user_agent"),
        ] {
            if set {
                extra.push(name);
            }
        }
        if !extra.is_empty() {
            return Err(provider_error(
                ID,
                format!(
                    "bluesky takes only service_url (its XRPC endpoints follow from it); remove {}",
                    extra.join(", ")
                ),
            ));
        }
        match &config.service_url {
            Some(url) => Self::with_service_url(url),
            None => Ok(Self::new()),
        }
    }

    /// The service URL, without a trailing slash.
    pub fn service_url(&self) -> &str {
        &self.service
    }

    fn xrpc(&self, method: &str) -> String {
        format!("{}/xrpc/{method}", self.service)
    }

    /// A `POST` of an XRPC procedure with a bearer token and no body.
    fn bearer_post(&self, method: &str, token: &Secret<String>) -> Result<http::Request<Bytes>, ProviderError> {
        http::Request::builder()
            .method(Method::POST)
            .uri(self.xrpc(method))
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(AUTHORIZATION, bearer_authorization(token)?)
            .body(Bytes::new())
            .map_err(|_| request_not_built())
    }

    /// `getProfile` of `did` with the session's access token.
    async fn get_profile(
        &self,
        http: &dyn HttpClient,
        access_token: &Secret<String>,
        did: &str,
    ) -> Result<Profile, ProviderError> {
        let mut url = Url::parse(&self.xrpc(GET_PROFILE)).map_err(|_| request_not_built())?;
        url.query_pairs_mut().append_pair("actor", did);
        let request = http::Request::builder()
            .method(Method::GET)
            .uri(url.as_str())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(AUTHORIZATION, bearer_authorization(access_token)?)
            .body(Bytes::new())
            .map_err(|_| request_not_built())?;
        let response = http.send(request).await?;
        let json = success_json(&response)?;
        let id = did_of(&json).ok_or_else(|| invalid("the profile has no DID"))?;
        if id != did {
            return Err(invalid("the profile is of another DID"));
        }
        Ok(Profile {
            id: id.to_owned(),
            username: text(&json, "handle"),
            display_name: text(&json, "displayName"),
            avatar_url: text(&json, "avatar"),
        })
    }
}

impl Provider for BlueskyProvider {
    fn id(&self) -> &ProviderId {
        &self.id
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::unknown(false);
        caps.login = LoginMethod::AppPassword;
        caps.client_auth = ClientAuth::None;
        caps.refresh_token = RefreshTokenRequirement::Always;
        caps.refresh = RefreshModel::Session { rotation: Rotation::Always };
        caps.access_token_lifetime_secs = Some(ACCESS_TOKEN_LIFETIME_SECS);
        caps.refresh_token_lifetime_secs = Some(REFRESH_TOKEN_LIFETIME_SECS);
        caps.revocation = true;
        caps
    }

    fn password_login(&self) -> Option<&dyn PasswordLogin> {
        Some(self)
    }
}

#[async_trait]
impl PasswordLogin for BlueskyProvider {
    async fn create_session(
        &self,
        http: &dyn HttpClient,
        identifier: &str,
        password: &Secret<String>,
    ) -> Result<PasswordSession, ProviderError> {
        let body = Zeroizing::new(
            serde_json::to_vec(&serde_json::json!({
                "identifier": identifier,
                "password": password.expose_secret(),
            }))
            .map_err(|_| request_not_built())?,
        );
        let request = http::Request::builder()
            .method(Method::POST)
            .uri(self.xrpc(CREATE_SESSION))
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .body(Bytes::copy_from_slice(&body))
            .map_err(|_| request_not_built())?;
        let response = http.send(request).await?;
        let json = success_json(&response)?;
        if json.get("active").and_then(Value::as_bool) == Some(false) {
            // A deactivated, suspended or taken-down account gets a session it cannot use.
            return Err(ProviderError::rejected("AccountInactive"));
        }
        let (tokens, session_profile) = session_of(&json)?;
        // The display name and avatar come from the profile. The session already proved the
        // credentials, so a profile that cannot be read leaves just the DID and handle.
        let profile = match self.get_profile(http, &tokens.access_token, &session_profile.id).await {
            Ok(p) => Profile { username: p.username.or(session_profile.username), ..p },
            Err(e) => {
                tracing::warn!(error = %e, "bluesky profile unavailable; keeping the session's DID and handle");
                session_profile
            }
        };
        Ok(PasswordSession::new(tokens, profile))
    }

    /// An app password as Bluesky issues them: four groups of four letters or digits joined
    /// by hyphens (19 characters). Anything else, notably an account's main password, is
    /// refused before it is sent anywhere.
    fn check_password(&self, password: &Secret<String>) -> Result<(), &'static str> {
        let p = password.expose_secret();
        let ok = p.len() == 19
            && p.split('-').count() == 4
            && p.split('-').all(|group| group.len() == 4 && group.bytes().all(|b| b.is_ascii_alphanumeric()));
        match ok {
            true => Ok(()),
            false => Err("app_password must be an app password (xxxx-xxxx-xxxx-xxxx: four groups of four letters \
                          or digits); create one in the account's settings, the main password is not accepted"),
        }
    }

    fn refusal_message(&self, error: &ProviderError) -> Option<&'static str> {
        match error.oauth_error()? {
            "AuthFactorTokenRequired" => Some(
                "the provider asks for a sign-in code sent by email, so this is not an app password: \
                 create an app password in the account's settings and use it",
            ),
            "AccountTakedown" | "AccountInactive" => {
                Some("the account is suspended, taken down or deactivated at the provider")
            }
            _ => None,
        }
    }

    async fn refresh_session(
        &self,
        http: &dyn HttpClient,
        refresh_token: &Secret<String>,
    ) -> Result<TokenSet, ProviderError> {
        let request = self.bearer_post(REFRESH_SESSION, refresh_token)?;
        let response = http.send(request).await?;
        let json = success_json(&response)?;
        let (tokens, _) = session_of(&json)?;
        Ok(tokens)
    }

    async fn end_session(&self, http: &dyn HttpClient, tokens: GrantTokens<'_>) -> Result<(), ProviderError> {
        // The session ends with its refresh token (which also ends its access tokens).
        let Some(token) = tokens.refresh_token else {
            return Err(ProviderError::new(ProviderErrorKind::Unsupported, "a session ends with its refresh token"));
        };
        let request = self.bearer_post(DELETE_SESSION, token)?;
        let response = http.send(request).await?;
        success_json(&response).map(|_| ())
    }

    /// The access token's `exp` claim.
    ///
    /// The JWT's signature is **not** verified, on purpose: the PDS signs access tokens
    /// with its own key (HS256 with a server secret on the reference PDS), which a client
    /// neither holds nor needs; the token is opaque to us and the PDS stays the authority on
    /// it. The claim only schedules the refresh: a wrong one makes Connect refresh early or
    /// hand out a token the PDS then refuses, nothing more.
    fn access_token_expires_at(&self, access_token: &Secret<String>) -> Option<OffsetDateTime> {
        let exp = jwt_claims(access_token)?.get("exp")?.as_i64()?;
        OffsetDateTime::from_unix_timestamp(exp).ok()
    }
}

fn invalid(detail: &'static str) -> ProviderError {
    ProviderError::new(ProviderErrorKind::InvalidResponse, detail)
}

/// The JSON of a 2xx answer (an empty body counts as `{}`: `deleteSession` has none), or
/// the error for any other status: a 4xx is a refusal carrying the XRPC error name (or
/// `http_<status>`), a 429 (`RateLimitExceeded`), a 3xx (never followed) or a 5xx means the
/// provider is unavailable. No message holds the body.
fn success_json(response: &http::Response<Bytes>) -> Result<Value, ProviderError> {
    let status = response.status();
    let body = response.body();
    if status.is_success() {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(serde_json::Map::new()));
        }
        return serde_json::from_slice::<Value>(body)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| invalid("the answer is not a JSON object"));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(ProviderError::new(ProviderErrorKind::Unavailable, "rate limited (http_429)"));
    }
    if status.is_client_error() {
        let name = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|j| j.get("error").and_then(Value::as_str).map(str::to_owned))
            .filter(|e| (1..=64).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        return Err(ProviderError::rejected(name));
    }
    Err(ProviderError::new(ProviderErrorKind::Unavailable, format!("http_{}", status.as_u16())))
}

/// The tokens and the DID and handle of a `createSession` or `refreshSession` answer.
fn session_of(json: &Value) -> Result<(TokenSet, Profile), ProviderError> {
    let token = |name: &str| {
        json.get(name)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| Secret::new(t.to_owned()))
            .ok_or_else(|| invalid("the session has no accessJwt or refreshJwt"))
    };
    let access_token = token("accessJwt")?;
    let refresh_token = token("refreshJwt")?;
    let did = did_of(json).ok_or_else(|| invalid("the session has no DID"))?;
    let tokens = TokenSet { access_token, refresh_token: Some(refresh_token), expires_in: None, scopes: None };
    let profile = Profile { id: did.to_owned(), username: text(json, "handle"), display_name: None, avatar_url: None };
    Ok((tokens, profile))
}

fn did_of(json: &Value) -> Option<&str> {
    json.get("did").and_then(Value::as_str).filter(|d| is_did(d))
}

/// `did:<method>:<id>`, at most 2 KiB, visible ASCII (the DID syntax, loosely).
fn is_did(s: &str) -> bool {
    s.len() <= 2048
        && s.bytes().all(|b| b.is_ascii_graphic())
        && s.strip_prefix("did:").and_then(|rest| rest.split_once(':')).is_some_and(|(method, id)| {
            !method.is_empty() && method.bytes().all(|b| b.is_ascii_lowercase()) && !id.is_empty()
        })
}

/// A non-empty string field, at most 2 KiB.
fn text(json: &Value, name: &str) -> Option<String> {
    json.get(name).and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 2048).map(str::to_owned)
}

/// The claims of a JWT, decoded but **not verified** (see
/// [`BlueskyProvider::access_token_expires_at`] for why that is enough here).
fn jwt_claims(token: &Secret<String>) -> Option<serde_json::Map<String, Value>> {
    let mut parts = token.expose_secret().split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || payload.len() > 8192 {
        return None;
    }
    let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(payload).ok()?);
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    const DID: &str = "did:plc:z72i7hdynmk6r22z27h6tvur";

    /// A JWT with the given payload (the header and signature are the shapes the reference
    /// PDS issues; neither is read).
    fn jwt(typ: &str, payload: &Value) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(format!(r#"{{"typ":"{typ}","alg":"HS256"}}"#)),
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            "c2lnbmF0dXJlLW5vdC1jaGVja2Vk"
        )
    }

    fn access_jwt(exp: i64) -> String {
        jwt(
            "at+jwt",
            &serde_json::json!({"scope":"com.atproto.appPass","sub":DID,"iat":exp - 7200,"exp":exp,"aud":"did:web:puffball.us-east.host.bsky.network"}),
        )
    }

    fn refresh_jwt(jti: &str) -> String {
        jwt(
            "refresh+jwt",
            &serde_json::json!({"scope":"com.atproto.refresh","sub":DID,"aud":"did:web:bsky.social","jti":jti,"iat":1_764_547_200,"exp":1_772_323_200}),
        )
    }

    /// `createSession` as bsky.social answers it (the JWTs rebuilt with known claims).
    fn create_session_answer() -> String {
        serde_json::json!({
            "did": DID,
            "didDoc": {
                "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1", "https://w3id.org/security/suites/secp256k1-2019/v1"],
                "id": DID,
                "alsoKnownAs": ["at://bsky.app"],
                "verificationMethod": [{"id": format!("{DID}#atproto"), "type": "Multikey", "controller": DID, "publicKeyMultibase": "zQ3shQo6TF2moaqMTrUZEM1jeuYRQXeHEx4evX9751y2qPqRA"}],
                "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://puffball.us-east.host.bsky.network"}]
            },
            "handle": "bsky.app",
            "email": "support@bsky.app",
            "emailConfirmed": true,
            "emailAuthFactor": false,
            "accessJwt": access_jwt(1_764_554_400),
            "refreshJwt": refresh_jwt("8yGYfIBEzIlBzGX+8aQ3sUsMuGlLPIiuu9TRj7tCqvo"),
            "active": true
        })
        .to_string()
    }

    /// `app.bsky.actor.getProfile` (`profileViewDetailed`).
    const PROFILE: &str = r#"{"did":"did:plc:z72i7hdynmk6r22z27h6tvur","handle":"bsky.app","displayName":"Bluesky","avatar":"https://cdn.bsky.app/img/avatar/plain/did:plc:z72i7hdynmk6r22z27h6tvur/bafkreihagr2cmvl2jt4mgx3sppwe2it3fwolkrbtjrhcnwjk4jdijhsoze@jpeg","associated":{"lists":8,"feedgens":0,"starterPacks":1,"labeler":false},"labels":[],"createdAt":"2023-04-12T04:53:57.057Z","description":"official Bluesky account","indexedAt":"2024-11-27T19:00:16.942Z","banner":"https://cdn.bsky.app/img/banner/plain/did:plc:z72i7hdynmk6r22z27h6tvur/bafkreichzyovokfzmymz36p5jibbjrhsur6n7hjnzxrpbt5jaydp2szvna@jpeg","followersCount":32936823,"followsCount":7,"postsCount":771,"pinnedPost":{"cid":"bafyreiasdfasdfasdf","uri":"at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3l6oveex3ii2l"},"viewer":{"muted":false,"blockedBy":false}}"#;
    const WRONG_PASSWORD: &str = r#"{"error":"AuthenticationRequired","message":"Invalid identifier or password"}"#;
    const TWO_FACTOR: &str =
        r#"{"error":"AuthFactorTokenRequired","message":"A sign in code has been sent to your email address"}"#;
    const RATE_LIMITED: &str = r#"{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}"#;
    const BAD_REQUEST: &str = r#"{"error":"InvalidRequest","message":"Input/identifier must be a string"}"#;
    const EXPIRED: &str = r#"{"error":"ExpiredToken","message":"Token has expired"}"#;
    const INVALID: &str = r#"{"error":"InvalidToken","message":"Token could not be verified"}"#;
    const UPSTREAM: &str = r#"{"error":"InternalServerError","message":"Internal Server Error"}"#;

    fn local() -> BlueskyProvider {
        BlueskyProvider::with_service_url("http://127.0.0.1:4000/").unwrap()
    }

    #[tokio::test]
    async fn create_session_posts_json_then_reads_the_profile() {
        let answer = create_session_answer();
        let (http, seen) = replay(&[(200, &answer), (200, PROFILE)]);
        let password = token("abcd-efgh-ijkl-mnop");
        let session = local().create_session(&http, "bsky.app", &password).await.unwrap();
        assert_eq!(session.profile.id, DID);
        assert_eq!(session.profile.username.as_deref(), Some("bsky.app"));
        assert_eq!(session.profile.display_name.as_deref(), Some("Bluesky"));
        assert!(session.profile.avatar_url.unwrap().starts_with("https://cdn.bsky.app/img/avatar/"));
        assert_eq!(session.tokens.access_token.expose_secret(), &access_jwt(1_764_554_400));
        assert!(session.tokens.refresh_token.is_some());
        assert_eq!(session.tokens.expires_in, None);
        let sent = requests(&seen);
        assert_eq!(endpoint(&sent[0]), "http://127.0.0.1:4000/xrpc/com.atproto.server.createSession");
        assert_eq!(sent[0].method(), Method::POST);
        assert_eq!(header(&sent[0], "content-type"), Some("application/json"));
        assert_eq!(header(&sent[0], "authorization"), None);
        let body: Value = serde_json::from_slice(sent[0].body()).unwrap();
        assert_eq!(body, serde_json::json!({"identifier": "bsky.app", "password": "abcd-efgh-ijkl-mnop"}));
        assert_eq!(endpoint(&sent[1]), "http://127.0.0.1:4000/xrpc/app.bsky.actor.getProfile");
        assert_eq!(param(&query(&sent[1]), "actor"), Some(DID));
        assert_eq!(header(&sent[1], "authorization"), Some(format!("Bearer {}", access_jwt(1_764_554_400)).as_str()));
    }

    #[tokio::test]
    async fn an_unreadable_profile_keeps_the_sessions_did_and_handle() {
        let answer = create_session_answer();
        let (http, _) = replay(&[(200, &answer), (502, UPSTREAM)]);
        let session = local().create_session(&http, "bsky.app", &token("abcd-efgh-ijkl-mnop")).await.unwrap();
        assert_eq!(
            session.profile,
            Profile { id: DID.into(), username: Some("bsky.app".into()), display_name: None, avatar_url: None }
        );
        // A profile of another DID is not taken.
        let other = PROFILE.replace("z72i7hdynmk6r22z27h6tvur\",\"handle", "other\",\"handle");
        let (http, _) = replay(&[(200, &answer), (200, &other)]);
        let session = local().create_session(&http, "bsky.app", &token("abcd-efgh-ijkl-mnop")).await.unwrap();
        assert_eq!(session.profile.display_name, None);
    }

    #[tokio::test]
    async fn login_errors_keep_the_xrpc_error_name() {
        let (http, _) = replay(&[
            (401, WRONG_PASSWORD),
            (401, TWO_FACTOR),
            (400, BAD_REQUEST),
            (429, RATE_LIMITED),
            (500, UPSTREAM),
            (200, "<html>"),
            (200, r#"{"did":"did:plc:x","handle":"a.b","accessJwt":"a"}"#),
            (200, r#"{"did":"not-a-did","handle":"a.b","accessJwt":"a","refreshJwt":"r"}"#),
            (
                200,
                r#"{"did":"did:plc:x","handle":"a.b","accessJwt":"a","refreshJwt":"r","active":false,"status":"takendown"}"#,
            ),
        ]);
        let p = local();
        let pw = token("abcd-efgh-ijkl-mnop");
        let mut outcomes = Vec::new();
        for _ in 0..9 {
            let e = p.create_session(&http, "a.b", &pw).await.unwrap_err();
            outcomes.push((e.kind(), e.oauth_error().map(str::to_owned)));
        }
        let rejected = |name: &str| (ProviderErrorKind::Rejected, Some(name.to_owned()));
        assert_eq!(
            outcomes,
            [
                rejected("AuthenticationRequired"),
                rejected("AuthFactorTokenRequired"),
                rejected("InvalidRequest"),
                (ProviderErrorKind::Unavailable, None),
                (ProviderErrorKind::Unavailable, None),
                (ProviderErrorKind::InvalidResponse, None),
                (ProviderErrorKind::InvalidResponse, None),
                (ProviderErrorKind::InvalidResponse, None),
                rejected("AccountInactive"),
            ]
        );
        // No error message repeats the provider's text.
        let (http, _) = replay(&[(401, WRONG_PASSWORD)]);
        let e = p.create_session(&http, "a.b", &pw).await.unwrap_err();
        assert!(!e.to_string().contains("Invalid identifier"), "{e}");
    }

    #[tokio::test]
    async fn refresh_rotates_with_the_refresh_token_as_bearer_and_no_client_credentials() {
        let rotated = serde_json::json!({
            "did": DID, "handle": "bsky.app", "active": true,
            "accessJwt": access_jwt(1_764_561_600), "refreshJwt": refresh_jwt("second"),
        })
        .to_string();
        let (http, seen) = replay(&[(200, &rotated), (400, EXPIRED), (401, INVALID), (502, UPSTREAM)]);
        let _s = secret();
        let p = local();
        let old = token(&refresh_jwt("first"));
        let tokens = p.refresh_session(&http, &old).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), &refresh_jwt("second"));
        assert_eq!(
            p.access_token_expires_at(&tokens.access_token),
            Some(OffsetDateTime::from_unix_timestamp(1_764_561_600).unwrap())
        );
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), "http://127.0.0.1:4000/xrpc/com.atproto.server.refreshSession");
        assert_eq!(request.method(), Method::POST);
        assert_eq!(header(request, "authorization"), Some(format!("Bearer {}", refresh_jwt("first")).as_str()));
        assert!(request.body().is_empty());
        let expired = p.refresh_session(&http, &old).await.unwrap_err();
        assert_eq!((expired.kind(), expired.oauth_error()), (ProviderErrorKind::Rejected, Some("ExpiredToken")));
        let invalid = p.refresh_session(&http, &old).await.unwrap_err();
        assert_eq!((invalid.kind(), invalid.oauth_error()), (ProviderErrorKind::Rejected, Some("InvalidToken")));
        assert_eq!(p.refresh_session(&http, &old).await.unwrap_err().kind(), ProviderErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn end_session_deletes_the_session_with_its_refresh_token() {
        let (http, seen) = replay(&[(200, "")]);
        let p = local();
        p.end_session(&http, GrantTokens::new(&token("a1"), Some(&token("r1")))).await.unwrap();
        let sent = requests(&seen);
        assert_eq!(endpoint(&sent[0]), "http://127.0.0.1:4000/xrpc/com.atproto.server.deleteSession");
        assert_eq!(header(&sent[0], "authorization"), Some("Bearer r1"));
        // Without a refresh token nothing can end it, and nothing is sent.
        let (http, seen) = replay(&[]);
        let e = p.end_session(&http, GrantTokens::new(&token("a1"), None)).await.unwrap_err();
        assert_eq!(e.kind(), ProviderErrorKind::Unsupported);
        assert!(requests(&seen).is_empty());
    }

    #[test]
    fn the_expiry_is_the_unverified_exp_claim() {
        let p = BlueskyProvider::new();
        let t = token(&access_jwt(1_764_554_400));
        assert_eq!(p.access_token_expires_at(&t), Some(OffsetDateTime::from_unix_timestamp(1_764_554_400).unwrap()));
        for bad in ["", "a.b", "a.!!!.c", "a.e30.c.d", &jwt("at+jwt", &serde_json::json!({"exp": "soon"}))] {
            assert_eq!(p.access_token_expires_at(&token(bad)), None, "{bad}");
        }
    }

    #[test]
    fn there_is_no_oauth_flow_and_the_service_is_configurable() {
        let p = BlueskyProvider::new();
        assert_eq!(p.service_url(), DEFAULT_SERVICE_URL);
        assert_eq!(p.xrpc(CREATE_SESSION), "https://bsky.social/xrpc/com.atproto.server.createSession");
        assert!(p.code_flow().is_none() && p.registration().is_none() && p.targets().is_none());
        let caps = p.capabilities();
        assert_eq!(caps.login, LoginMethod::AppPassword);
        assert_eq!(caps.refresh, RefreshModel::Session { rotation: Rotation::Always });
        assert!(caps.revocation);
        for bad in ["http://pds.example.com", "https://u:p@pds.example.com", "https://pds.example.com/?a=1", "nope"] {
            assert!(BlueskyProvider::with_service_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            BlueskyProvider::with_service_url("https://pds.example.com/").unwrap().service_url(),
            "https://pds.example.com"
        );
        let refused = BlueskyProvider::with_overrides(&BuiltinOverrides::new(ID).with_token_url("https://x.example/t"));
        assert!(refused.unwrap_err().to_string().contains("token_url"));
    }
}
