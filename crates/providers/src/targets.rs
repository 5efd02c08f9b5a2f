//! Listing the publishable targets behind a person's token (the selection step): Facebook
//! Pages, Instagram business accounts linked to Pages, Pinterest boards, LinkedIn
//! organisations, Google Business Profile locations, Discord servers. Each is a
//! [`TargetSource`] knob of a built-in [`GenericProvider`]. Targets the code exchange's
//! answer itself grants (Discord's webhook) are [`GrantedTargets`].

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use http::Method;
use http::header::{ACCEPT, AUTHORIZATION, USER_AGENT};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use url::Url;
use zeroize::Zeroizing;

use super::generic::{
    APPSECRET_PROOF_PARAM, GenericProvider, bearer_authorization, error_for_status, invalid, request_not_built,
};
use super::{ClientCredentials, Profile, ProviderError, Target, TokenSet};
use crate::TargetType;
use dravo_connect_core::Secret;
use dravo_connect_core::http_client::HttpClient;

/// Pages of a paginated listing followed at most (100 targets a page).
const MAX_PAGES: usize = 5;
/// LinkedIn organisations whose names are looked up at most.
const MAX_ORGANIZATIONS: usize = 50;
/// Longest id, name and URL kept from a listing.
const MAX_TEXT_CHARS: usize = 255;
const MAX_URL_BYTES: usize = 2048;
/// The `LinkedIn-Version` of the `/rest` calls (`YYYYMM`).
pub(super) const LINKEDIN_VERSION: &str = "202508";
/// The LinkedIn scopes that make organisations targets.
const LINKEDIN_ORG_SCOPES: &[&str] = &["w_organization_social", "rw_organization_admin"];
/// Google Business Profile accounts whose locations are listed at most.
const MAX_GOOGLE_ACCOUNTS: usize = 20;
/// Where Google Business Profile locations are listed (`{account}/locations` below it),
/// unless `targets_url` moved the account listing elsewhere: then on its origin.
const GOOGLE_LOCATIONS_BASE: &str = "https://mybusinessbusinessinformation.googleapis.com/v1/";
const GOOGLE_ACCOUNTS_HOST: &str = "mybusinessaccountmanagement.googleapis.com";
/// The Discord permission bits that let a member manage a server (`ADMINISTRATOR`,
/// `MANAGE_GUILD`): only such servers are targets.
const DISCORD_MANAGE: u64 = (1 << 3) | (1 << 5);
/// Grants whose granted targets are kept at once at most (oldest dropped).
const MAX_KEPT_GRANTS: usize = 64;

/// Where a built-in provider finds its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TargetSource {
    /// Facebook: `GET /me/accounts?fields=id,name,username,access_token,picture{url}`, each
    /// Page with its own Page token.
    FacebookPages,
    /// Instagram through Facebook Login: the same listing with
    /// `instagram_business_account{…}`; only Pages with a linked account, each with the
    /// Page's token.
    InstagramAccounts,
    /// Pinterest: `GET /v5/boards` (paged by `bookmark`), the person's token.
    PinterestBoards,
    /// LinkedIn: `GET /rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED`
    /// and each organisation's name, the person's token; only with an organisation scope.
    LinkedinOrganizations,
    /// Google Business Profile: `GET /v1/accounts` (paged by `pageToken`), then each
    /// account's `GET /v1/{account}/locations?readMask=name,title` (paged), the person's token.
    GoogleLocations,
    /// Discord: the webhook of the code exchange's answer ([`GrantedTargets`]), and with the
    /// `guilds` scope `GET /users/@me/guilds` (paged by `after`): the servers the person owns
    /// or manages, the person's token.
    DiscordGuilds,
}

/// Targets granted by a code exchange's answer itself (Discord's `webhook` object), kept
/// from the exchange until the target listing of the same callback takes them.
///
/// The provider seam hands [`TargetListing::list_targets`](crate::TargetListing) the
/// [`TokenSet`] the exchange returned, which has no room for anything else of the answer;
/// both calls run one after the other on this same provider in one callback, so the
/// targets wait here, keyed by the SHA-256 of the access token, taken (removed) when
/// listed. At most 64 grants wait at once; the oldest is dropped first (a grant whose
/// callback failed before its listing waits until then). The tokens stay `Secret`s.
pub(super) struct GrantedTargets {
    /// Reads the targets out of the exchange's JSON answer.
    parse: fn(&Value) -> Vec<Target>,
    kept: Mutex<VecDeque<([u8; 32], Vec<Target>)>>,
}

impl std::fmt::Debug for GrantedTargets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantedTargets").finish_non_exhaustive()
    }
}

impl GrantedTargets {
    /// Targets read from exchange answers with `parse`.
    pub(super) fn new(parse: fn(&Value) -> Vec<Target>) -> Self {
        Self { parse, kept: Mutex::new(VecDeque::new()) }
    }

    fn digest(access_token: &Secret<String>) -> [u8; 32] {
        Sha256::digest(access_token.expose_secret().as_bytes()).into()
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, VecDeque<([u8; 32], Vec<Target>)>> {
        // A panic elsewhere while holding the lock leaves a queue that is still whole.
        self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps what the exchange's `answer` grants, if anything, for `access_token`.
    pub(super) fn keep(&self, access_token: &Secret<String>, answer: &[u8]) {
        let Ok(json) = serde_json::from_slice::<Value>(answer) else { return };
        let targets = (self.parse)(&json);
        if targets.is_empty() {
            return;
        }
        let key = Self::digest(access_token);
        let mut kept = self.kept();
        kept.retain(|(k, _)| *k != key);
        while kept.len() >= MAX_KEPT_GRANTS {
            kept.pop_front();
        }
        kept.push_back((key, targets));
    }

    /// Takes what was kept for `access_token` (nothing the second time).
    pub(super) fn take(&self, access_token: &Secret<String>) -> Vec<Target> {
        let key = Self::digest(access_token);
        let mut kept = self.kept();
        match kept.iter().position(|(k, _)| *k == key) {
            Some(i) => kept.remove(i).map(|(_, targets)| targets).unwrap_or_default(),
            None => Vec::new(),
        }
    }
}

/// Discord: the `webhook` object of a `webhook.incoming` code exchange, a target with its
/// own token (`POST /webhooks/{id}/{token}` executes it; it does not expire).
pub(super) fn discord_webhook(answer: &Value) -> Vec<Target> {
    let Some(hook) = answer.get("webhook") else { return Vec::new() };
    let (Some(id), Some(token)) = (id_of(hook.get("id")), hook.get("token").and_then(Value::as_str)) else {
        return Vec::new();
    };
    if token.is_empty() || token.len() > 512 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Vec::new();
    }
    vec![Target {
        id,
        target_type: TargetType::Webhook,
        username: None,
        display_name: text(hook.get("name")),
        avatar_url: None,
        access_token: Some(Secret::new(token.to_owned())),
    }]
}

/// A cleaned text field: trimmed, without control characters, at most
/// [`MAX_TEXT_CHARS`]; `None` when empty.
fn text(value: Option<&Value>) -> Option<String> {
    let cleaned: String = value?.as_str()?.trim().chars().filter(|c| !c.is_control()).take(MAX_TEXT_CHARS).collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

/// An id: a non-empty string or integer without control characters.
fn id_of(value: Option<&Value>) -> Option<String> {
    let id = match value? {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => return None,
    };
    (!id.is_empty() && id.chars().count() <= MAX_TEXT_CHARS && !id.chars().any(char::is_control)).then_some(id)
}

/// An http(s) URL of at most [`MAX_URL_BYTES`].
fn url_of(value: Option<&Value>) -> Option<String> {
    let url = Url::parse(value?.as_str()?.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some() && url.as_str().len() <= MAX_URL_BYTES)
        .then(|| url.into())
}

/// Whether `next` is on the same origin and path as `base` (a `paging.next` is followed
/// only then: the provider's URL must not send our token elsewhere).
fn same_endpoint(base: &Url, next: &Url) -> bool {
    base.scheme() == next.scheme()
        && base.host_str() == next.host_str()
        && base.port_or_known_default() == next.port_or_known_default()
        && base.path() == next.path()
}

/// What every call of a listing needs: the client, and the app's client id when known (for
/// its `User-Agent`).
#[derive(Clone, Copy)]
struct Call<'a> {
    http: &'a dyn HttpClient,
    client_id: Option<&'a str>,
}

impl GenericProvider {
    /// The targets behind `tokens`, from this provider's [`TargetSource`] (none without one);
    /// with the app's `credentials`, the calls carry what they sign (the `appsecret_proof`,
    /// the app's `User-Agent`).
    pub(super) async fn find_targets(
        &self,
        http: &dyn HttpClient,
        tokens: &TokenSet,
        profile: &Profile,
        credentials: Option<ClientCredentials<'_>>,
    ) -> Result<Vec<Target>, ProviderError> {
        let _ = profile;
        let call = Call { http, client_id: credentials.map(|c| c.client_id) };
        let (Some(source), Some(url)) = (self.knobs.targets, self.knobs.targets_url.as_deref()) else {
            return Ok(Vec::new());
        };
        let base = Url::parse(url).map_err(|_| request_not_built())?;
        match source {
            TargetSource::FacebookPages | TargetSource::InstagramAccounts => {
                let proof = self.appsecret_proof(credentials, &tokens.access_token)?;
                self.meta_pages(call, &base, &tokens.access_token, proof.as_deref().map(String::as_str), source).await
            }
            TargetSource::PinterestBoards => self.pinterest_boards(call, &base, &tokens.access_token).await,
            TargetSource::LinkedinOrganizations => {
                let granted = tokens.scopes.as_deref().unwrap_or_default();
                if !granted.iter().any(|s| LINKEDIN_ORG_SCOPES.contains(&s.as_str())) {
                    return Ok(Vec::new());
                }
                self.linkedin_organizations(call, &base, &tokens.access_token).await
            }
            TargetSource::GoogleLocations => self.google_locations(call, &base, &tokens.access_token).await,
            TargetSource::DiscordGuilds => {
                let mut targets = match &self.knobs.granted_targets {
                    Some(granted) => granted.take(&tokens.access_token),
                    None => Vec::new(),
                };
                let granted = tokens.scopes.as_deref().unwrap_or_default();
                if granted.iter().any(|s| s == "guilds") {
                    targets.extend(self.discord_guilds(call, &base, &tokens.access_token).await?);
                }
                Ok(targets)
            }
        }
    }

    /// One GET; the JSON body of a 2xx, the mapped error otherwise.
    async fn get_json(
        &self,
        call: Call<'_>,
        url: &str,
        bearer: Option<&Secret<String>>,
        linkedin: bool,
    ) -> Result<Value, ProviderError> {
        let mut builder = http::Request::builder()
            .method(Method::GET)
            .uri(url)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, self.user_agent(call.client_id)?);
        if let Some(token) = bearer {
            builder = builder.header(AUTHORIZATION, bearer_authorization(token)?);
        }
        if linkedin {
            builder = builder.header("LinkedIn-Version", LINKEDIN_VERSION).header("X-Restli-Protocol-Version", "2.0.0");
        }
        let request = builder.body(Bytes::new()).map_err(|_| request_not_built())?;
        let response = call.http.send(request).await?;
        if let Some(err) = self.graph_error(&response) {
            return Err(err);
        }
        let status = response.status();
        if status == http::StatusCode::UNAUTHORIZED || status == http::StatusCode::FORBIDDEN {
            return Err(ProviderError::rejected("invalid_token"));
        }
        if !status.is_success() {
            return Err(error_for_status(status, response.body()));
        }
        serde_json::from_slice(response.body()).map_err(|_| invalid("the target listing is not JSON"))
    }

    /// Facebook's `/me/accounts`, following `paging.next` (same endpoint only) a bounded
    /// number of pages; the token goes as the documented `access_token` query parameter,
    /// with the `appsecret_proof` when given.
    async fn meta_pages(
        &self,
        call: Call<'_>,
        base: &Url,
        token: &Secret<String>,
        proof: Option<&str>,
        source: TargetSource,
    ) -> Result<Vec<Target>, ProviderError> {
        let fields = match source {
            TargetSource::InstagramAccounts => {
                "id,name,access_token,instagram_business_account{id,username,name,profile_picture_url}"
            }
            _ => "id,name,username,access_token,picture{url}",
        };
        let mut first = base.clone();
        first
            .query_pairs_mut()
            .append_pair("fields", fields)
            .append_pair("limit", "100")
            .append_pair("access_token", token.expose_secret());
        if let Some(proof) = proof {
            first.query_pairs_mut().append_pair(APPSECRET_PROOF_PARAM, proof);
        }
        let mut next = Some(Zeroizing::new(String::from(first)));
        let mut targets = Vec::new();
        for _ in 0..MAX_PAGES {
            let Some(url) = next.take() else { break };
            let page = self.get_json(call, &url, None, false).await?;
            let items = page.get("data").and_then(Value::as_array).ok_or_else(|| invalid("no `data` list"))?;
            for item in items {
                // A Page without its own token cannot be published to.
                let Some(page_token) = text(item.get("access_token")) else { continue };
                let target = match source {
                    TargetSource::InstagramAccounts => {
                        let Some(ig) = item.get("instagram_business_account") else { continue };
                        let Some(id) = id_of(ig.get("id")) else { continue };
                        Target {
                            id,
                            target_type: TargetType::InstagramAccount,
                            username: text(ig.get("username")),
                            display_name: text(ig.get("name")),
                            avatar_url: url_of(ig.get("profile_picture_url")),
                            access_token: Some(Secret::new(page_token)),
                        }
                    }
                    _ => {
                        let Some(id) = id_of(item.get("id")) else { continue };
                        Target {
                            id,
                            target_type: TargetType::Page,
                            username: text(item.get("username")),
                            display_name: text(item.get("name")),
                            avatar_url: url_of(item.pointer("/picture/data/url")),
                            access_token: Some(Secret::new(page_token)),
                        }
                    }
                };
                targets.push(target);
            }
            next = page
                .pointer("/paging/next")
                .and_then(Value::as_str)
                .and_then(|n| Url::parse(n).ok())
                .filter(|n| same_endpoint(base, n))
                .map(|mut n| {
                    // Our token and proof, whatever the provider's URL carries.
                    let kept: Vec<(String, String)> = n
                        .query_pairs()
                        .filter(|(k, _)| k != "access_token" && k != APPSECRET_PROOF_PARAM)
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    let mut q = n.query_pairs_mut();
                    q.clear().extend_pairs(kept).append_pair("access_token", token.expose_secret());
                    if let Some(proof) = proof {
                        q.append_pair(APPSECRET_PROOF_PARAM, proof);
                    }
                    drop(q);
                    Zeroizing::new(String::from(n))
                });
        }
        Ok(targets)
    }

    /// Pinterest's `/v5/boards`, paged by `bookmark`, with the person's token.
    async fn pinterest_boards(
        &self,
        call: Call<'_>,
        base: &Url,
        token: &Secret<String>,
    ) -> Result<Vec<Target>, ProviderError> {
        let mut targets = Vec::new();
        let mut bookmark: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = base.clone();
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("page_size", "100");
                if let Some(b) = &bookmark {
                    q.append_pair("bookmark", b);
                }
            }
            let page = self.get_json(call, url.as_str(), Some(token), false).await?;
            let items = page.get("items").and_then(Value::as_array).ok_or_else(|| invalid("no `items` list"))?;
            for item in items {
                let Some(id) = id_of(item.get("id")) else { continue };
                targets.push(Target {
                    id,
                    target_type: TargetType::Board,
                    username: None,
                    display_name: text(item.get("name")),
                    avatar_url: url_of(item.pointer("/media/image_cover_url")),
                    access_token: None,
                });
            }
            bookmark = text(page.get("bookmark"));
            if bookmark.is_none() {
                break;
            }
        }
        Ok(targets)
    }

    /// Google Business Profile: the accounts the person can reach, then each one's
    /// locations; a location reached through several accounts is listed once. The target id
    /// is `accounts/{a}/locations/{l}`, the path posts are made under.
    async fn google_locations(
        &self,
        call: Call<'_>,
        base: &Url,
        token: &Secret<String>,
    ) -> Result<Vec<Target>, ProviderError> {
        let is_digits = |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit());
        let mut accounts: Vec<String> = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = base.clone();
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("pageSize", "20");
                if let Some(t) = &page_token {
                    q.append_pair("pageToken", t);
                }
            }
            let page = self.get_json(call, url.as_str(), Some(token), false).await?;
            // Google leaves an empty list out of its answers.
            for account in page.get("accounts").and_then(Value::as_array).into_iter().flatten() {
                let Some(name) = account.get("name").and_then(Value::as_str) else { continue };
                if name.strip_prefix("accounts/").is_some_and(is_digits) && !accounts.iter().any(|a| a == name) {
                    accounts.push(name.to_owned());
                }
            }
            page_token = text(page.get("nextPageToken"));
            if page_token.is_none() {
                break;
            }
        }
        let locations_base = match base.host_str() {
            Some(GOOGLE_ACCOUNTS_HOST) => Url::parse(GOOGLE_LOCATIONS_BASE),
            _ => base.join("/v1/"),
        }
        .map_err(|_| request_not_built())?;
        let mut targets: Vec<Target> = Vec::new();
        for account in accounts.iter().take(MAX_GOOGLE_ACCOUNTS) {
            let list = locations_base.join(&format!("{account}/locations")).map_err(|_| request_not_built())?;
            let mut page_token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let mut url = list.clone();
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("readMask", "name,title").append_pair("pageSize", "100");
                    if let Some(t) = &page_token {
                        q.append_pair("pageToken", t);
                    }
                }
                let page = self.get_json(call, url.as_str(), Some(token), false).await?;
                for location in page.get("locations").and_then(Value::as_array).into_iter().flatten() {
                    let Some(name) = location.get("name").and_then(Value::as_str) else { continue };
                    if !name.strip_prefix("locations/").is_some_and(is_digits) {
                        continue;
                    }
                    let id = format!("{account}/{name}");
                    if targets.iter().any(|t| t.id.ends_with(&format!("/{name}"))) {
                        continue;
                    }
                    targets.push(Target {
                        id,
                        target_type: TargetType::Location,
                        username: None,
                        display_name: text(location.get("title")),
                        avatar_url: None,
                        access_token: None,
                    });
                }
                page_token = text(page.get("nextPageToken"));
                if page_token.is_none() {
                    break;
                }
            }
        }
        Ok(targets)
    }

    /// Discord: `GET /users/@me/guilds?limit=200` (paged by `after`, the last id), the
    /// servers the person owns or has `ADMINISTRATOR` or `MANAGE_GUILD` in (where they can
    /// add the app's bot, which is what posts there).
    async fn discord_guilds(
        &self,
        call: Call<'_>,
        base: &Url,
        token: &Secret<String>,
    ) -> Result<Vec<Target>, ProviderError> {
        let mut targets = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = base.clone();
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("limit", "200");
                if let Some(a) = &after {
                    q.append_pair("after", a);
                }
            }
            let page = self.get_json(call, url.as_str(), Some(token), false).await?;
            let guilds = page.as_array().ok_or_else(|| invalid("the server listing is not a list"))?;
            for guild in guilds {
                let Some(id) = id_of(guild.get("id")) else { continue };
                let permissions = match guild.get("permissions") {
                    Some(Value::String(p)) => p.parse::<u64>().unwrap_or(0),
                    Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
                    _ => 0,
                };
                let owner = guild.get("owner").and_then(Value::as_bool) == Some(true);
                if !owner && permissions & DISCORD_MANAGE == 0 {
                    continue;
                }
                let icon = guild
                    .get("icon")
                    .and_then(Value::as_str)
                    .filter(|h| {
                        !h.is_empty() && h.len() <= 64 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    })
                    .map(|h| format!("https://cdn.discordapp.com/icons/{id}/{h}.png"));
                targets.push(Target {
                    id,
                    target_type: TargetType::Guild,
                    username: None,
                    display_name: text(guild.get("name")),
                    avatar_url: icon,
                    access_token: None,
                });
            }
            // Fewer than a full page: the last one.
            if guilds.len() < 200 {
                break;
            }
            after = guilds.last().and_then(|g| id_of(g.get("id")));
            if after.is_none() {
                break;
            }
        }
        Ok(targets)
    }

    /// LinkedIn: the organisations the member administers (`organizationAcls`), then each
    /// one's name (`/rest/organizations/{id}`), with the person's token.
    async fn linkedin_organizations(
        &self,
        call: Call<'_>,
        base: &Url,
        token: &Secret<String>,
    ) -> Result<Vec<Target>, ProviderError> {
        let mut url = base.clone();
        url.query_pairs_mut()
            .append_pair("q", "roleAssignee")
            .append_pair("role", "ADMINISTRATOR")
            .append_pair("state", "APPROVED");
        let acls = self.get_json(call, url.as_str(), Some(token), true).await?;
        let elements = acls.get("elements").and_then(Value::as_array).ok_or_else(|| invalid("no `elements` list"))?;
        let mut ids: Vec<String> = Vec::new();
        for element in elements {
            let Some(urn) = element.get("organization").and_then(Value::as_str) else { continue };
            let Some(id) = urn.strip_prefix("urn:li:organization:") else { continue };
            if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !ids.iter().any(|i| i == id) {
                ids.push(id.to_owned());
            }
        }
        let mut targets = Vec::new();
        for id in ids.into_iter().take(MAX_ORGANIZATIONS) {
            let mut org_url = base.clone();
            org_url.set_query(None);
            org_url.set_path(&format!("/rest/organizations/{id}"));
            let org = self.get_json(call, org_url.as_str(), Some(token), true).await?;
            targets.push(Target {
                username: text(org.get("vanityName")),
                display_name: text(org.get("localizedName")),
                avatar_url: None,
                id,
                target_type: TargetType::Organization,
                access_token: None,
            });
        }
        Ok(targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TargetListing as _;
    use crate::fixtures::*;

    fn tokens(access: &str, scopes: Option<&[&str]>) -> TokenSet {
        TokenSet {
            access_token: token(access),
            refresh_token: None,
            expires_in: None,
            scopes: scopes.map(|s| s.iter().map(|x| (*x).to_owned()).collect()),
        }
    }

    fn person() -> Profile {
        Profile { id: "p1".into(), username: None, display_name: None, avatar_url: None }
    }

    /// `GET /me/accounts` (Facebook's fields), first page: two Pages, one without a token;
    /// `paging.next` on the same endpoint.
    const PAGES_1: &str = r#"{"data":[{"id":"1011","name":"Ada's Bakery","username":"adasbakery","access_token":"EAAPage1","picture":{"data":{"url":"https://scontent.xx.fbcdn.net/p1.jpg"}}},{"id":"1012","name":"No task here","picture":{"data":{"url":"https://scontent.xx.fbcdn.net/p2.jpg"}}}],"paging":{"cursors":{"before":"QVFI","after":"QVFJ"},"next":"https://graph.facebook.com/v25.0/me/accounts?access_token=EAAOther&fields=id%2Cname&limit=100&after=QVFJ"}}"#;
    /// The second page; its `next` points elsewhere and is not followed.
    const PAGES_2: &str = r#"{"data":[{"id":"1013","name":"Ada's Shop","access_token":"EAAPage3","picture":{"data":{"url":"not a url"}}}],"paging":{"cursors":{"before":"QVFK","after":"QVFL"},"next":"https://evil.example/v25.0/me/accounts?after=QVFL"}}"#;

    #[tokio::test]
    async fn facebook_lists_pages_with_their_own_tokens_across_pages_on_the_same_endpoint() {
        let (http, seen) = replay(&[(200, PAGES_1), (200, PAGES_2)]);
        let p = crate::facebook::provider();
        let targets = p.list_targets(&http, &tokens("EAALong", None), &person()).await.unwrap();
        let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["1011", "1013"], "a Page without its token is left out");
        assert_eq!(targets[0].target_type, TargetType::Page);
        assert_eq!(targets[0].username.as_deref(), Some("adasbakery"));
        assert_eq!(targets[0].display_name.as_deref(), Some("Ada's Bakery"));
        assert_eq!(targets[0].avatar_url.as_deref(), Some("https://scontent.xx.fbcdn.net/p1.jpg"));
        assert_eq!(targets[0].access_token.as_ref().unwrap().expose_secret(), "EAAPage1");
        assert_eq!(targets[1].avatar_url, None);
        let sent = requests(&seen);
        assert_eq!(sent.len(), 2, "the foreign `next` is not followed");
        assert_eq!(endpoint(&sent[0]), "https://graph.facebook.com/v25.0/me/accounts");
        let q = query(&sent[0]);
        assert_eq!(param(&q, "fields"), Some("id,name,username,access_token,picture{url}"));
        assert_eq!(param(&q, "limit"), Some("100"));
        assert_eq!(param(&q, "access_token"), Some("EAALong"));
        assert_eq!(param(&query(&sent[1]), "after"), Some("QVFJ"));
        assert_eq!(param(&query(&sent[1]), "access_token"), Some("EAALong"));
    }

    #[tokio::test]
    async fn every_page_of_the_meta_listing_carries_the_appsecret_proof_and_never_the_providers() {
        // `hmac.new(b"shh-secret", b"EAALong", hashlib.sha256).hexdigest()`
        const PROOF: &str = "aef23164b3db2ea8fb0cc440b0c5fd4af0dbed63e13cbae5f3b5bb6f372bf697";
        let first_page = PAGES_1.replace("access_token=EAAOther", "access_token=EAAOther&appsecret_proof=f00d");
        let s = secret();
        for p in [crate::facebook::provider(), crate::instagram_facebook::provider()] {
            let (http, seen) = replay(&[(200, first_page.as_str()), (200, PAGES_2)]);
            p.list_targets_with(ctx(&http, &s), &tokens("EAALong", None), &person()).await.unwrap();
            let sent = requests(&seen);
            assert_eq!(sent.len(), 2);
            for request in &sent {
                let q = query(request);
                let proofs: Vec<&str> =
                    q.iter().filter(|(k, _)| k == "appsecret_proof").map(|(_, v)| v.as_str()).collect();
                assert_eq!(proofs, [PROOF], "{}", request.uri().path());
                assert_eq!(param(&q, "access_token"), Some("EAALong"));
            }
            assert_eq!(param(&query(&sent[1]), "after"), Some("QVFJ"));
        }
        // Listings outside the Graph API carry none.
        let (http, seen) = replay(&[(200, BOARDS_2)]);
        crate::pinterest::provider().list_targets_with(ctx(&http, &s), &tokens("pina", None), &person()).await.unwrap();
        assert_eq!(param(&query(&requests(&seen)[0]), "appsecret_proof"), None);
    }

    #[tokio::test]
    async fn facebook_with_no_pages_lists_nothing_and_a_graph_error_is_a_refusal() {
        let (http, _) = replay(&[(200, r#"{"data":[]}"#)]);
        let p = crate::facebook::provider();
        assert!(p.list_targets(&http, &tokens("t", None), &person()).await.unwrap().is_empty());
        let (http, _) = replay(&[(
            400,
            r#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"fbtrace_id":"Ab"}}"#,
        )]);
        let err = p.list_targets(&http, &tokens("t", None), &person()).await.unwrap_err();
        assert_eq!(err.kind(), crate::ProviderErrorKind::Rejected);
        let (http, _) = replay(&[(200, "not json")]);
        let err = p.list_targets(&http, &tokens("t", None), &person()).await.unwrap_err();
        assert_eq!(err.kind(), crate::ProviderErrorKind::InvalidResponse);
    }

    /// `GET /me/accounts` with the Instagram fields: the first Page has no linked account.
    const IG_PAGES: &str = r#"{"data":[{"id":"101","name":"Bakery (no IG)","access_token":"EAAPage101"},{"id":"102","name":"Ada's Page","access_token":"EAAPage102","instagram_business_account":{"id":"17841405822304914","username":"ada.codes","name":"Ada","profile_picture_url":"https://scontent.xx.fbcdn.net/v/t51.2885-15/ada.jpg"}}],"paging":{"cursors":{"before":"MTAx","after":"MTAy"}}}"#;

    #[tokio::test]
    async fn instagram_lists_only_linked_accounts_each_with_its_pages_token() {
        let (http, seen) = replay(&[(200, IG_PAGES)]);
        let p = crate::instagram_facebook::provider();
        let targets = p.list_targets(&http, &tokens("EAALong", None), &person()).await.unwrap();
        assert_eq!(targets.len(), 1);
        let t = &targets[0];
        assert_eq!(t.id, "17841405822304914");
        assert_eq!(t.target_type, TargetType::InstagramAccount);
        assert_eq!(t.username.as_deref(), Some("ada.codes"));
        assert_eq!(t.display_name.as_deref(), Some("Ada"));
        assert_eq!(t.access_token.as_ref().unwrap().expose_secret(), "EAAPage102");
        let q = query(&requests(&seen)[0]);
        assert_eq!(
            param(&q, "fields"),
            Some("id,name,access_token,instagram_business_account{id,username,name,profile_picture_url}")
        );
    }

    const BOARDS_1: &str = r#"{"items":[{"id":"549755885175","created_at":"2020-06-03T15:27:00","board_pins_modified_at":"2020-06-03T15:27:00","name":"Summer Recipes","description":"My favourite summer recipes","collaborator_count":0,"pin_count":5,"follower_count":2,"media":{"image_cover_url":"https://i.pinimg.com/400x300/summer.jpg","pin_thumbnail_urls":[]},"owner":{"username":"ada"},"privacy":"PUBLIC"}],"bookmark":"Y2JVSG81V2sxcmNHRlpWM1J"}"#;
    const BOARDS_2: &str = r#"{"items":[{"id":"549755885176","name":"Winter","owner":{"username":"ada"},"privacy":"SECRET"}],"bookmark":null}"#;

    #[tokio::test]
    async fn pinterest_lists_boards_by_bookmark_with_the_persons_token() {
        let (http, seen) = replay(&[(200, BOARDS_1), (200, BOARDS_2)]);
        let p = crate::pinterest::provider();
        let targets = p.list_targets(&http, &tokens("pina", None), &person()).await.unwrap();
        let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["549755885175", "549755885176"]);
        assert_eq!(targets[0].target_type, TargetType::Board);
        assert_eq!(targets[0].display_name.as_deref(), Some("Summer Recipes"));
        assert_eq!(targets[0].avatar_url.as_deref(), Some("https://i.pinimg.com/400x300/summer.jpg"));
        assert!(targets.iter().all(|t| t.access_token.is_none()), "boards use the person's token");
        let sent = requests(&seen);
        assert_eq!(endpoint(&sent[0]), "https://api.pinterest.com/v5/boards");
        assert_eq!(header(&sent[0], "authorization"), Some("Bearer pina"));
        assert_eq!(param(&query(&sent[0]), "page_size"), Some("100"));
        assert_eq!(param(&query(&sent[0]), "bookmark"), None);
        assert_eq!(param(&query(&sent[1]), "bookmark"), Some("Y2JVSG81V2sxcmNHRlpWM1J"));
    }

    const ACLS: &str = r#"{"paging":{"start":0,"count":10,"links":[]},"elements":[{"roleAssignee":"urn:li:person:abc123","state":"APPROVED","role":"ADMINISTRATOR","organization":"urn:li:organization:2414183"},{"roleAssignee":"urn:li:person:abc123","state":"APPROVED","role":"ADMINISTRATOR","organization":"urn:li:organization:5509810"}]}"#;
    const ORG_1: &str = r#"{"vanityName":"dravo","localizedName":"Dravo","id":2414183,"name":{"localized":{"en_US":"Dravo"},"preferredLocale":{"country":"US","language":"en"}}}"#;
    const ORG_2: &str = r#"{"vanityName":"ada-labs","localizedName":"Ada Labs","id":5509810}"#;

    #[tokio::test]
    async fn linkedin_lists_administered_organisations_only_with_an_organisation_scope() {
        let p = crate::linkedin::provider();
        let (http, seen) = replay(&[]);
        let member_only = tokens("li", Some(&["openid", "profile", "w_member_social"]));
        assert!(p.list_targets(&http, &member_only, &person()).await.unwrap().is_empty());
        assert!(requests(&seen).is_empty(), "no call without an organisation scope");

        let (http, seen) = replay(&[(200, ACLS), (200, ORG_1), (200, ORG_2)]);
        let with_orgs = tokens("li", Some(&["openid", "profile", "w_member_social", "w_organization_social"]));
        let targets = p.list_targets(&http, &with_orgs, &person()).await.unwrap();
        let names: Vec<(&str, Option<&str>, Option<&str>)> =
            targets.iter().map(|t| (t.id.as_str(), t.username.as_deref(), t.display_name.as_deref())).collect();
        assert_eq!(names, [("2414183", Some("dravo"), Some("Dravo")), ("5509810", Some("ada-labs"), Some("Ada Labs"))]);
        assert!(targets.iter().all(|t| t.target_type == TargetType::Organization && t.access_token.is_none()));
        let sent = requests(&seen);
        assert_eq!(endpoint(&sent[0]), "https://api.linkedin.com/rest/organizationAcls");
        let q = query(&sent[0]);
        assert_eq!(param(&q, "q"), Some("roleAssignee"));
        assert_eq!(param(&q, "role"), Some("ADMINISTRATOR"));
        assert_eq!(param(&q, "state"), Some("APPROVED"));
        assert_eq!(endpoint(&sent[1]), "https://api.linkedin.com/rest/organizations/2414183");
        for request in &sent {
            assert_eq!(header(request, "authorization"), Some("Bearer li"));
            assert_eq!(header(request, "linkedin-version"), Some(LINKEDIN_VERSION));
            assert_eq!(header(request, "x-restli-protocol-version"), Some("2.0.0"));
        }
    }

    #[tokio::test]
    async fn providers_without_a_target_source_list_nothing() {
        let (http, seen) = replay(&[]);
        for p in [crate::reddit::provider(), crate::threads::provider()] {
            assert!(p.list_targets(&http, &tokens("t", None), &person()).await.unwrap().is_empty());
        }
        assert!(requests(&seen).is_empty());
    }
}
