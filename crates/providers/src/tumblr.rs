//! Tumblr (`tumblr`): OAuth 2.0 authorization-code flow, the connected person being the
//! Tumblr user and the blogs they post to the targets of the selection step.
//!
//! Verified (December 2026) against Tumblr's own API documentation,
//! <https://www.tumblr.com/docs/en/api/v2> (source `github.com/tumblr/docs`, `api.md`,
//! sections "OAuth2 Authorization", "`/user/info`", "Blog Identifiers", "`/avatar`",
//! "Request User Agent", "Response Format"):
//!
//! - Authorize at `https://www.tumblr.com/oauth2/authorize` with `client_id`,
//!   `response_type=code`, a **space-separated** `scope` and `state` (both required) and
//!   `redirect_uri` (required when several are registered; always sent here). Scopes are
//!   `basic`, `write` and `offline_access`; the default is all three: `write` to publish,
//!   `offline_access` for a refresh token. **No PKCE**: the documentation has none, so no
//!   challenge is sent.
//! - Exchange and refresh at `https://api.tumblr.com/v2/oauth2/token` with `client_id` and
//!   `client_secret` **in the body** (the documented parameters; no Basic auth) and the
//!   `redirect_uri` repeated. The documentation shows multipart bodies and accepts
//!   `application/x-www-form-urlencoded` on every endpoint that takes a body, which is what
//!   is sent. The answer is `access_token`, `expires_in` (2520 s, 42 minutes, in the
//!   example), `token_type: bearer`, the granted `scope` and, with `offline_access`, a
//!   `refresh_token`; it also carries `"id_token": false`, which is ignored.
//! - A refresh (`grant_type=refresh_token`) answers **a new access token and a new refresh
//!   token**, which is stored (treated as rotating: whether the old refresh token still
//!   works is not documented); a `401` means the refresh token expired (the account is
//!   then `expired` and the user reconnects).
//! - The person is `GET https://api.tumblr.com/v2/user/info` with `Authorization: Bearer`:
//!   `response.user.name` (the user's short name, the username) and `response.user.blogs`,
//!   every blog the user may post to (`name`, `title`, `url`, `primary`, and, as on every
//!   blog object, `uuid`). The account id is the **primary blog's `uuid`** (`t:…`), which
//!   unlike the name survives a rename (the user's name, when there is no uuid); the display
//!   name is the primary blog's `title`.
//! - Avatars: a blog's `avatar` list when the answer has one, else the documented public
//!   image endpoint `https://api.tumblr.com/v2/blog/{name}/avatar/128`, which answers with
//!   the image (meant for `img` tags).
//! - Targets: every blog of `response.user.blogs` (the same endpoint, read again at the
//!   selection step; overridable as `targets_url`), as [`TargetType::Blog`] accounts whose
//!   `provider_account_id` is the blog's `uuid` (a stable blog identifier the API takes
//!   wherever it takes a blog name), holding a copy of the person's tokens. A user always
//!   has a primary blog, so a connect always ends in a selection.
//! - Every request carries the same `User-Agent` (Tumblr requires one and suspends apps that
//!   vary it). API errors are `{"meta":{"status","msg"},"response":[],"errors":[{"title",
//!   "code","detail"}]}`: a 401 or 403 is `invalid_token`, others `http_<status>`; the text
//!   is never kept. Rate limits answer `429`, which is temporary.
//!
//! Not documented, so not relied on: a denial's `error` value (the callback is said to
//! carry an `error` parameter; `access_denied` maps to `oauth_error=access_denied`, any
//! other value to `provider_error`); the token endpoint's error body (a string `error` is
//! kept as the code, otherwise `http_<status>`). **Tumblr documents no revocation
//! endpoint**: a disconnect forgets the tokens and the user removes the app in Tumblr's
//! settings.

use async_trait::async_trait;
use bytes::Bytes;
use http::Method;
use http::header::{ACCEPT, AUTHORIZATION, USER_AGENT};
use serde_json::Value;
use url::Url;

use super::generic::{
    GenericProvider, RenewalKnob, bearer_authorization, error_for_status, invalid, request_not_built,
};
use super::{
    AuthorizeRequest, BuiltinOverrides, CodeFlow, GrantTokens, Profile, ProfilePointers, Provider, ProviderContext,
    ProviderError, Renewal, Target, TargetListing, TokenAuth, TokenSet,
};
use crate::{Capabilities, RefreshTokenRequirement, Rotation, TargetType};
use dravo_connect_core::http_client::HttpClient;
use dravo_connect_core::{ConfigError, ProviderId, Secret};

/// The built-in id.
pub const ID: &str = "tumblr";
const AUTHORIZE_URL: &str = "https://www.tumblr.com/oauth2/authorize";
const TOKEN_URL: &str = "https://api.tumblr.com/v2/oauth2/token";
const USER_INFO_URL: &str = "https://api.tumblr.com/v2/user/info";
/// The public avatar endpoint of a blog (`{blog}` is its name).
const AVATAR_BASE: &str = "https://api.tumblr.com/v2/blog/";
/// The avatar size asked of the avatar endpoint, and preferred in an `avatar` list.
const AVATAR_SIZE: u64 = 128;
/// Read the account, publish, and be issued a refresh token.
pub const DEFAULT_SCOPES: &[&str] = &["basic", "write", "offline_access"];
/// Longest id, name or URL kept from an answer.
const MAX_TEXT_CHARS: usize = 255;
const MAX_URL_BYTES: usize = 2048;

/// Tumblr with its production endpoints (see the module docs): the standard code flow of
/// [`GenericProvider`], with the person and the blogs read from `/v2/user/info`.
#[derive(Debug, Clone)]
pub struct TumblrProvider {
    inner: GenericProvider,
}

/// Tumblr with its production endpoints.
pub fn provider() -> TumblrProvider {
    // The pointers only name the id for the generic parts; the profile is read here.
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        USER_INFO_URL,
        ProfilePointers::new("/response/user/name"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.pkce = false;
    p.token_auth = TokenAuth::Body;
    p.knobs.renewal = RenewalKnob::Grant(Rotation::Always);
    p.knobs.refresh_token = RefreshTokenRequirement::Scope { scope: "offline_access".to_owned() };
    p.knobs.access_token_lifetime_secs = Some(2520);
    p.knobs.target_selection = Some(TargetType::Blog);
    p.knobs.targets_url = Some(USER_INFO_URL.to_owned());
    TumblrProvider { inner: p }
}

impl TumblrProvider {
    /// Applies the endpoint overrides of a `[[providers]]` entry with `id = "tumblr"`
    /// (`authorize_url`, `token_url`, `userinfo_url`, `revoke_url`, `targets_url`).
    pub(crate) fn apply_overrides(&mut self, config: &BuiltinOverrides) -> Result<(), ConfigError> {
        self.inner.apply_overrides(config)
    }

    /// `GET url` with the bearer token: the JSON of a 2xx answer, the mapped error otherwise.
    async fn user_info(
        &self,
        http: &dyn HttpClient,
        url: &str,
        token: &Secret<String>,
    ) -> Result<Value, ProviderError> {
        let request = http::Request::builder()
            .method(Method::GET)
            .uri(url)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, self.inner.user_agent(None)?)
            .header(AUTHORIZATION, bearer_authorization(token)?)
            .body(Bytes::new())
            .map_err(|_| request_not_built())?;
        let response = http.send(request).await?;
        let status = response.status();
        if status == http::StatusCode::UNAUTHORIZED || status == http::StatusCode::FORBIDDEN {
            return Err(ProviderError::rejected("invalid_token"));
        }
        if !status.is_success() {
            return Err(error_for_status(status, response.body()));
        }
        serde_json::from_slice(response.body()).map_err(|_| invalid("the user info is not JSON"))
    }
}

/// `response.user` of a `/user/info` answer.
fn user_of(json: &Value) -> Result<&Value, ProviderError> {
    json.pointer("/response/user").filter(|u| u.is_object()).ok_or_else(|| invalid("the user info has no user"))
}

/// The blogs of `response.user.blogs` (none when absent).
fn blogs_of(user: &Value) -> &[Value] {
    user.get("blogs").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// A cleaned text field: trimmed, without control characters, at most
/// [`MAX_TEXT_CHARS`]; `None` when empty.
fn text(value: Option<&Value>) -> Option<String> {
    let cleaned: String = value?.as_str()?.trim().chars().filter(|c| !c.is_control()).take(MAX_TEXT_CHARS).collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

/// An http(s) URL of at most [`MAX_URL_BYTES`].
fn url_of(value: Option<&Value>) -> Option<String> {
    let url = Url::parse(value?.as_str()?.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some() && url.as_str().len() <= MAX_URL_BYTES)
        .then(|| url.into())
}

/// A blog's stable id: its `uuid`, else its name.
fn blog_id(blog: &Value) -> Option<String> {
    text(blog.get("uuid")).or_else(|| text(blog.get("name")))
}

/// A blog's avatar: the `AVATAR_SIZE` entry (else the first usable one) of its `avatar`
/// list, else the public avatar endpoint for its name.
fn blog_avatar(blog: &Value) -> Option<String> {
    let listed = blog.get("avatar").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let sized = listed.iter().find(|a| a.get("width").and_then(Value::as_u64) == Some(AVATAR_SIZE));
    if let Some(url) = sized.into_iter().chain(listed).find_map(|a| url_of(a.get("url"))) {
        return Some(url);
    }
    let name = text(blog.get("name"))?;
    let mut url = Url::parse(AVATAR_BASE).ok()?;
    url.path_segments_mut().ok()?.pop_if_empty().push(&name).push("avatar").push(&AVATAR_SIZE.to_string());
    Some(url.into())
}

/// The person behind a `/user/info` answer (see the module docs).
fn person(json: &Value) -> Result<Profile, ProviderError> {
    let user = user_of(json)?;
    let name = text(user.get("name"));
    let blogs = blogs_of(user);
    let primary = blogs.iter().find(|b| b.get("primary").and_then(Value::as_bool) == Some(true));
    let id = primary
        .and_then(|b| text(b.get("uuid")))
        .or_else(|| name.clone())
        .ok_or_else(|| invalid("the user info has neither a primary blog uuid nor a name"))?;
    Ok(Profile {
        id,
        username: name,
        display_name: primary.and_then(|b| text(b.get("title"))),
        avatar_url: primary.and_then(blog_avatar),
    })
}

impl Provider for TumblrProvider {
    fn id(&self) -> &ProviderId {
        self.inner.id()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn code_flow(&self) -> Option<&dyn CodeFlow> {
        Some(self)
    }

    fn targets(&self) -> Option<&dyn TargetListing> {
        Some(self)
    }
}

#[async_trait]
impl CodeFlow for TumblrProvider {
    fn default_scopes(&self) -> &[String] {
        self.inner.default_scopes()
    }

    fn uses_pkce(&self) -> bool {
        self.inner.uses_pkce()
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        self.inner.authorize_url(request)
    }

    async fn exchange_code(
        &self,
        ctx: ProviderContext<'_>,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: Option<&Secret<String>>,
    ) -> Result<TokenSet, ProviderError> {
        self.inner.exchange_code(ctx, code, redirect_uri, pkce_verifier).await
    }

    async fn fetch_profile(
        &self,
        http: &dyn HttpClient,
        access_token: &Secret<String>,
    ) -> Result<Profile, ProviderError> {
        let json = self.user_info(http, &self.inner.userinfo_url, access_token).await?;
        person(&json)
    }

    fn renewal(&self) -> Renewal<'_> {
        self.inner.renewal()
    }

    async fn revoke(&self, ctx: ProviderContext<'_>, tokens: GrantTokens<'_>) -> Result<(), ProviderError> {
        // None documented: `Unsupported`, unless an override gives an RFC 7009 endpoint.
        self.inner.revoke(ctx, tokens).await
    }
}

#[async_trait]
impl TargetListing for TumblrProvider {
    fn target_type(&self) -> TargetType {
        TargetType::Blog
    }

    /// Every blog the user may post to, from `/v2/user/info`, with the person's token.
    async fn list_targets(
        &self,
        http: &dyn HttpClient,
        tokens: &TokenSet,
        profile: &Profile,
    ) -> Result<Vec<Target>, ProviderError> {
        let _ = profile;
        let url = self.inner.knobs.targets_url.as_deref().unwrap_or(USER_INFO_URL);
        let json = self.user_info(http, url, &tokens.access_token).await?;
        let blogs = blogs_of(user_of(&json)?);
        Ok(blogs
            .iter()
            .filter_map(|blog| {
                Some(Target {
                    id: blog_id(blog)?,
                    target_type: TargetType::Blog,
                    username: text(blog.get("name")),
                    display_name: text(blog.get("title")),
                    avatar_url: blog_avatar(blog),
                    access_token: None,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderErrorKind;
    use crate::fixtures::*;
    use dravo_connect_core::OAuthErrorReason;

    /// `POST /v2/oauth2/token` as the documentation shows it.
    const TOKEN: &str = r#"{"access_token":"tumblr-at-1","expires_in":2520,"id_token":false,"refresh_token":"tumblr-rt-1","scope":"basic write offline_access","token_type":"bearer"}"#;
    /// `GET /v2/user/info`: the documented fields, with the `uuid` and `avatar` every blog
    /// object carries; the primary blog second.
    const USER_INFO: &str = r#"{"meta":{"status":200,"msg":"OK"},"response":{"user":{"following":263,"default_post_format":"html","name":"derekg","likes":606,"blogs":[{"name":"ihatehipstrz","title":"I Hate Hipstrz","url":"https://ihatehipstrz.tumblr.com/","tweet":"N","primary":false,"followers":10,"type":"public","uuid":"t:hIpStRz0aY0xL2Fi1OFJg"},{"name":"derekg","title":"Derek Gottfrid","url":"https://derekg.org/","tweet":"auto","primary":true,"followers":33004929,"type":"public","uuid":"t:0aY0xL2Fi1OFJg4YxpmegQ","avatar":[{"width":512,"height":512,"url":"https://64.media.tumblr.com/avatar_512.png"},{"width":128,"height":128,"url":"https://64.media.tumblr.com/avatar_128.png"}]}]}}}"#;
    /// The documented example as printed: no `uuid`, no `avatar`.
    const USER_INFO_BARE: &str = r#"{"meta":{"status":200,"msg":"OK"},"response":{"user":{"following":263,"default_post_format":"html","name":"derekg","likes":606,"blogs":[{"name":"derekg","title":"Derek Gottfrid","url":"https://derekg.org/","tweet":"auto","primary":true,"followers":33004929}]}}}"#;
    /// An API refusal (`meta` plus `errors`).
    const UNAUTHORIZED: &str = r#"{"meta":{"status":401,"msg":"Unauthorized"},"response":[],"errors":[{"title":"Unauthorized","code":1016,"detail":"Unable to authorize"}]}"#;

    #[test]
    fn the_authorize_url_has_space_separated_scopes_state_and_no_pkce() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "response_type"), Some("code"));
        assert_eq!(param(&pairs, "client_id"), Some(CLIENT_ID));
        assert_eq!(param(&pairs, "scope"), Some("basic write offline_access"));
        assert_eq!(param(&pairs, "state"), Some("k0.state"));
        assert_eq!(param(&pairs, "redirect_uri"), Some(REDIRECT_URI));
        assert_eq!(param(&pairs, "code_challenge"), None);
    }

    #[tokio::test]
    async fn the_token_response_is_parsed_and_the_credentials_go_in_the_body() {
        let (http, seen) = replay(&[(200, TOKEN)]);
        let s = secret();
        let tokens = provider().exchange_code(ctx(&http, &s), "c0de", REDIRECT_URI, None).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "tumblr-at-1");
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "tumblr-rt-1");
        assert_eq!(tokens.expires_in, Some(2520));
        assert_eq!(tokens.scopes.unwrap(), DEFAULT_SCOPES);
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), TOKEN_URL);
        assert!(header(request, "authorization").is_none());
        let body = form(request);
        assert_eq!(param(&body, "grant_type"), Some("authorization_code"));
        assert_eq!(param(&body, "client_id"), Some(CLIENT_ID));
        assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
        assert_eq!(param(&body, "redirect_uri"), Some(REDIRECT_URI));
        assert_eq!(param(&body, "code_verifier"), None);
    }

    #[tokio::test]
    async fn the_person_is_the_user_with_the_primary_blogs_uuid_title_and_avatar() {
        let (http, seen) = replay(&[(200, USER_INFO), (200, USER_INFO_BARE)]);
        let profile = provider().fetch_profile(&http, &token("tumblr-at")).await.unwrap();
        assert_eq!(
            profile,
            Profile {
                id: "t:0aY0xL2Fi1OFJg4YxpmegQ".into(),
                username: Some("derekg".into()),
                display_name: Some("Derek Gottfrid".into()),
                avatar_url: Some("https://64.media.tumblr.com/avatar_128.png".into()),
            }
        );
        // The documented example as printed: the name is the id, the avatar the endpoint.
        let bare = provider().fetch_profile(&http, &token("tumblr-at")).await.unwrap();
        assert_eq!(bare.id, "derekg");
        assert_eq!(bare.avatar_url.as_deref(), Some("https://api.tumblr.com/v2/blog/derekg/avatar/128"));
        let sent = requests(&seen);
        assert_eq!(sent[0].uri(), USER_INFO_URL);
        assert_eq!(header(&sent[0], "authorization"), Some("Bearer tumblr-at"));
        assert_eq!(header(&sent[0], "user-agent"), header(&sent[1], "user-agent"));
        assert!(header(&sent[0], "user-agent").unwrap().starts_with("dravo-connect/"));
    }

    #[tokio::test]
    async fn every_blog_is_a_target_with_the_persons_token() {
        let (http, seen) = replay(&[(200, USER_INFO)]);
        let p = provider();
        let person =
            Profile { id: "t:0aY0xL2Fi1OFJg4YxpmegQ".into(), username: None, display_name: None, avatar_url: None };
        let tokens = TokenSet { access_token: token("tumblr-at"), refresh_token: None, expires_in: None, scopes: None };
        let targets = p.list_targets(&http, &tokens, &person).await.unwrap();
        let seen_targets: Vec<(&str, Option<&str>, Option<&str>)> =
            targets.iter().map(|t| (t.id.as_str(), t.username.as_deref(), t.display_name.as_deref())).collect();
        assert_eq!(
            seen_targets,
            [
                ("t:hIpStRz0aY0xL2Fi1OFJg", Some("ihatehipstrz"), Some("I Hate Hipstrz")),
                ("t:0aY0xL2Fi1OFJg4YxpmegQ", Some("derekg"), Some("Derek Gottfrid")),
            ]
        );
        assert!(targets.iter().all(|t| t.target_type == TargetType::Blog && t.access_token.is_none()));
        assert_eq!(targets[0].avatar_url.as_deref(), Some("https://api.tumblr.com/v2/blog/ihatehipstrz/avatar/128"));
        assert_eq!(p.target_type(), TargetType::Blog);
        assert_eq!(p.capabilities().target_selection, Some(TargetType::Blog));
        let request = &requests(&seen)[0];
        assert_eq!(request.uri(), USER_INFO_URL);
        assert_eq!(header(request, "authorization"), Some("Bearer tumblr-at"));
    }

    #[tokio::test]
    async fn a_refresh_rotates_and_errors_map_to_the_fixed_reasons() {
        let (http, seen) = replay(&[
            (
                200,
                r#"{"access_token":"tumblr-at-2","expires_in":2520,"id_token":false,"refresh_token":"tumblr-rt-2","scope":"basic write offline_access","token_type":"bearer"}"#,
            ),
            (401, r#"{"error":"invalid_grant","error_description":"The refresh token is invalid."}"#),
            (401, UNAUTHORIZED),
            (200, r#"{"meta":{"status":200,"msg":"OK"},"response":{"user":{"blogs":[]}}}"#),
            (429, r#"{"meta":{"status":429,"msg":"Limit Exceeded"},"response":[]}"#),
        ]);
        let s = secret();
        let p = provider();
        let Renewal::RefreshGrant(grant) = p.renewal() else { panic!("tumblr renews with the refresh grant") };
        let tokens = grant.refresh(ctx(&http, &s), &token("tumblr-rt-1")).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "tumblr-rt-2", "a new refresh token to store");
        let expired = grant.refresh(ctx(&http, &s), &token("tumblr-rt-0")).await.unwrap_err();
        assert_eq!((expired.kind(), expired.oauth_error()), (ProviderErrorKind::Rejected, Some("invalid_grant")));
        let refused = p.fetch_profile(&http, &token("bad")).await.unwrap_err();
        assert_eq!(refused.oauth_error(), Some("invalid_token"));
        assert!(!refused.to_string().contains("Unable to authorize"));
        let nameless = p.fetch_profile(&http, &token("t")).await.unwrap_err();
        assert_eq!(nameless.kind(), ProviderErrorKind::InvalidResponse);
        assert_eq!(p.fetch_profile(&http, &token("t")).await.unwrap_err().kind(), ProviderErrorKind::Unavailable);
        let sent = requests(&seen);
        let body = form(&sent[0]);
        assert_eq!(endpoint(&sent[0]), TOKEN_URL);
        assert_eq!(param(&body, "grant_type"), Some("refresh_token"));
        assert_eq!(param(&body, "refresh_token"), Some("tumblr-rt-1"));
        assert_eq!(param(&body, "client_secret"), Some(CLIENT_SECRET));
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }

    #[tokio::test]
    async fn there_is_no_revocation_and_no_call_is_made() {
        let (http, seen) = replay(&[]);
        let s = secret();
        let err = provider()
            .revoke(ctx(&http, &s), GrantTokens::new(&token("tumblr-at"), Some(&token("tumblr-rt"))))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unsupported);
        assert!(!provider().capabilities().revocation);
        assert!(requests(&seen).is_empty());
    }
}
