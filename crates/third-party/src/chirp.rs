//! [`ChirpProvider`]: Chirp, a made-up social network, through its OAuth 2.0 code flow.
//!
//! Chirp's API, as this provider reads it: authorize at `authorize`, exchange and refresh at
//! `token` (RFC 6749, the client authenticated with HTTP Basic, PKCE S256 required),
//! the account at `userinfo` (`{"sub","preferred_username","name","picture"}`, a bearer
//! token), and RFC 7009 revocation at `revoke`.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use dravo_connect_core::ProviderId;
use dravo_connect_core::Secret;
use dravo_connect_core::http_client::HttpClient;
use dravo_connect_core::provider::{
    AuthorizeRequest, Capabilities, CodeFlow, GrantTokens, Profile, Provider, ProviderContext, ProviderError,
    ProviderErrorKind, RefreshGrant, Renewal, TokenSet,
};
use serde::Deserialize;
use url::Url;

/// Where Chirp's endpoints are (a test points them at a mock on loopback).
#[derive(Debug, Clone)]
pub struct ChirpEndpoints {
    /// The authorization endpoint.
    pub authorize: Url,
    /// The token endpoint.
    pub token: Url,
    /// The profile endpoint.
    pub userinfo: Url,
    /// The revocation endpoint.
    pub revoke: Url,
}

/// The Chirp provider, under the id `chirp`.
#[derive(Debug)]
pub struct ChirpProvider {
    id: ProviderId,
    endpoints: ChirpEndpoints,
    scopes: Vec<String>,
}

impl ChirpProvider {
    /// Chirp at `endpoints`, asking for `chirp.read chirp.write` when an app names no scopes.
    pub fn new(endpoints: ChirpEndpoints) -> Self {
        Self {
            id: ProviderId::from_static("chirp"),
            endpoints,
            scopes: vec!["chirp.read".to_owned(), "chirp.write".to_owned()],
        }
    }

    async fn post_form(
        &self,
        ctx: &ProviderContext<'_>,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<Bytes, ProviderError> {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let basic =
            STANDARD.encode(format!("{}:{}", ctx.credentials.client_id, ctx.credentials.client_secret.expose_secret()));
        let request = http::Request::post(url.as_str())
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Bytes::from(body))
            .map_err(|e| ProviderError::new(ProviderErrorKind::InvalidResponse, e.to_string()))?;
        let response = ctx.http.send(request).await?;
        answer(response)
    }

    async fn token_request(&self, ctx: &ProviderContext<'_>, form: &[(&str, &str)]) -> Result<TokenSet, ProviderError> {
        let body = self.post_form(ctx, &self.endpoints.token, form).await?;
        #[derive(Deserialize)]
        struct Answer {
            access_token: Option<String>,
            refresh_token: Option<String>,
            expires_in: Option<u64>,
            scope: Option<String>,
            error: Option<String>,
        }
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|_| ProviderError::new(ProviderErrorKind::InvalidResponse, "not a token response"))?;
        if let Some(error) = answer.error {
            return Err(ProviderError::rejected(error));
        }
        let access_token = answer
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ProviderError::new(ProviderErrorKind::InvalidResponse, "no access_token"))?;
        Ok(TokenSet {
            access_token: Secret::new(access_token),
            refresh_token: answer.refresh_token.map(Secret::new),
            expires_in: answer.expires_in,
            scopes: answer.scope.map(|s| s.split(' ').map(str::to_owned).collect()),
        })
    }
}

/// The body of a 2xx answer; a 4xx is a refusal (with its OAuth `error` when it has one), a
/// 5xx the network being down.
fn answer(response: http::Response<Bytes>) -> Result<Bytes, ProviderError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response.into_body());
    }
    if status.is_server_error() {
        return Err(ProviderError::new(ProviderErrorKind::Unavailable, format!("status {status}")));
    }
    #[derive(Deserialize)]
    struct Refusal {
        error: String,
    }
    match serde_json::from_slice::<Refusal>(response.body()) {
        Ok(refusal) => Err(ProviderError::rejected(refusal.error)),
        Err(_) => Err(ProviderError::new(ProviderErrorKind::Rejected, format!("status {status}"))),
    }
}

impl Provider for ChirpProvider {
    fn id(&self) -> &ProviderId {
        &self.id
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::of(self);
        caps.revocation = true;
        caps
    }

    fn code_flow(&self) -> Option<&dyn CodeFlow> {
        Some(self)
    }
}

#[async_trait]
impl CodeFlow for ChirpProvider {
    fn default_scopes(&self) -> &[String] {
        &self.scopes
    }

    fn uses_pkce(&self) -> bool {
        true
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        let mut url = self.endpoints.authorize.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", request.client_id)
                .append_pair("redirect_uri", request.redirect_uri)
                .append_pair("scope", &request.scopes.join(" "))
                .append_pair("state", request.state);
            if let Some(challenge) = request.code_challenge {
                query.append_pair("code_challenge", challenge).append_pair("code_challenge_method", "S256");
            }
        }
        Ok(url)
    }

    async fn exchange_code(
        &self,
        ctx: ProviderContext<'_>,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: Option<&Secret<String>>,
    ) -> Result<TokenSet, ProviderError> {
        let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)];
        if let Some(verifier) = pkce_verifier {
            form.push(("code_verifier", verifier.expose_secret()));
        }
        self.token_request(&ctx, &form).await
    }

    async fn fetch_profile(
        &self,
        http: &dyn HttpClient,
        access_token: &Secret<String>,
    ) -> Result<Profile, ProviderError> {
        let request = http::Request::get(self.endpoints.userinfo.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::AUTHORIZATION, format!("Bearer {}", access_token.expose_secret()))
            .body(Bytes::new())
            .map_err(|e| ProviderError::new(ProviderErrorKind::InvalidResponse, e.to_string()))?;
        let body = answer(http.send(request).await?)?;
        #[derive(Deserialize)]
        struct Me {
            sub: String,
            preferred_username: Option<String>,
            name: Option<String>,
            picture: Option<String>,
        }
        let me: Me = serde_json::from_slice(&body)
            .map_err(|_| ProviderError::new(ProviderErrorKind::InvalidResponse, "not a Chirp profile"))?;
        Ok(Profile { id: me.sub, username: me.preferred_username, display_name: me.name, avatar_url: me.picture })
    }

    fn renewal(&self) -> Renewal<'_> {
        Renewal::RefreshGrant(self)
    }

    async fn revoke(&self, ctx: ProviderContext<'_>, tokens: GrantTokens<'_>) -> Result<(), ProviderError> {
        let mut first_failure = None;
        for (token, hint) in tokens
            .refresh_token
            .map(|t| (t, "refresh_token"))
            .into_iter()
            .chain([(tokens.access_token, "access_token")])
        {
            let form = [("token", token.expose_secret().as_str()), ("token_type_hint", hint)];
            if let Err(e) = self.post_form(&ctx, &self.endpoints.revoke, &form).await {
                first_failure.get_or_insert(e);
            }
        }
        first_failure.map_or(Ok(()), Err)
    }
}

#[async_trait]
impl RefreshGrant for ChirpProvider {
    async fn refresh(
        &self,
        ctx: ProviderContext<'_>,
        refresh_token: &Secret<String>,
    ) -> Result<TokenSet, ProviderError> {
        self.token_request(&ctx, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose_secret())])
            .await
    }
}
