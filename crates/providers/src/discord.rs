//! Discord (`discord`): the OAuth2 authorization code grant, the connected account being
//! the **user** (`identify`), and what the app is granted to publish to as targets: the
//! channel **webhook** of `webhook.incoming`, and, only when the app asks for the `guilds`
//! scope, the **servers** the user can add a bot to.
//!
//! - Authorize at `https://discord.com/oauth2/authorize`, space-separated scopes, default
//!   `identify webhook.incoming` (the user picks a channel on the consent screen and Discord
//!   creates a webhook in it; a new one on every grant). PKCE S256 is sent: Discord's
//!   authorization server takes `code_challenge` (documented for its public clients), and
//!   the design asks for PKCE wherever it is accepted. `prompt` is left at its default
//!   (`webhook.incoming` always shows the consent screen).
//! - Exchange and refresh at `https://discord.com/api/oauth2/token`, form bodies only, with
//!   HTTP Basic client authentication (Discord takes Basic or the body). Access tokens last
//!   7 days (`expires_in: 604800`); **every refresh answers a new refresh token**, which
//!   is stored. Errors are RFC 6749 (`invalid_grant`…).
//! - Revocation at `https://discord.com/api/oauth2/token/revoke` (form `token` and
//!   `token_type_hint`): revoking either token revokes the whole authorization, so one call
//!   (the refresh token, else the access token) is the whole revocation. It does not delete
//!   a webhook: that is `DELETE /webhooks/{id}/{token}`, the host's call.
//! - The user is `GET https://discord.com/api/v10/users/@me`: `id`, `username`,
//!   `global_name` (the display name; may be null), `avatar` (an image hash, made
//!   `https://cdn.discordapp.com/avatars/{id}/{hash}.png`; none without one).
//! - The webhook comes **in the code exchange's answer** (`webhook`: `id`, `token`, `name`,
//!   `channel_id`, `guild_id`, `url`), and nowhere else: it is kept from the exchange until
//!   the target listing of the same callback takes it (the provider seam gives the listing
//!   only the token set; see `GrantedTargets` in the crate source). It becomes a
//!   [`TargetType::Webhook`] account whose `provider_account_id` is the webhook id and
//!   whose access token is the **webhook token** (it does not expire; execute it with
//!   `POST https://discord.com/api/webhooks/{id}/{token}`), its parent the user.
//! - Servers: only when the granted scopes include `guilds`,
//!   `GET https://discord.com/api/v10/users/@me/guilds?limit=200` (paged by `after`, at
//!   most 5 pages): those the user owns or holds `ADMINISTRATOR` or `MANAGE_GUILD` in
//!   ([`TargetType::Guild`] accounts holding a copy of the user's token; posting there is
//!   the app's bot's job). The `bot` scope's `guild` answer is not read.
//! - When there is any webhook or server, the callback redirects with `selection_id`;
//!   otherwise a plain `connected`.
//! - Denials: `error=access_denied` → `oauth_error=access_denied`.
//!
//! Endpoint overrides: `authorize_url`, `token_url`, `userinfo_url`, `revoke_url` and
//! `targets_url` (the server listing).
//!
//! Verified (Dec 2026) against Discord's own documentation, the `discord/discord-api-docs`
//! repository (`developers/topics/oauth2.mdx`, published at
//! `https://discord.com/developers/docs/topics/oauth2`: URLs, scopes, Basic or body client
//! authentication, the token, refresh, revocation and webhook answers). Taken from the same
//! documentation's other pages without re-reading them here: Get Current User and Get
//! Current User Guilds (`limit` up to 200, `after`), the CDN image paths, the permission
//! bits (`ADMINISTRATOR` 1<<3, `MANAGE_GUILD` 1<<5), and PKCE (documented for the Social
//! SDK's public clients; unverified for confidential web clients).

use super::generic::{GenericProvider, RenewalKnob, RevokeStyle};
use super::targets::{GrantedTargets, TargetSource, discord_webhook};
use super::{ProfilePointers, TokenAuth};
use crate::{RefreshTokenRequirement, Rotation, TargetType};

/// The built-in id.
pub const ID: &str = "discord";
const AUTHORIZE_URL: &str = "https://discord.com/oauth2/authorize";
const TOKEN_URL: &str = "https://discord.com/api/oauth2/token";
const REVOKE_URL: &str = "https://discord.com/api/oauth2/token/revoke";
const USERINFO_URL: &str = "https://discord.com/api/v10/users/@me";
const GUILDS_URL: &str = "https://discord.com/api/v10/users/@me/guilds";
const AVATAR_URL: &str = "https://cdn.discordapp.com/avatars/{id}/{hash}.png";
/// The user, and a webhook into the channel the user picks.
pub const DEFAULT_SCOPES: &[&str] = &["identify", "webhook.incoming"];

/// Discord with its production endpoints (see the module docs).
pub fn provider() -> GenericProvider {
    let mut p = GenericProvider::builtin(
        ID,
        AUTHORIZE_URL,
        TOKEN_URL,
        USERINFO_URL,
        ProfilePointers::new("/id")
            .with_username("/username")
            .with_display_name("/global_name")
            .with_avatar_url("/avatar"),
    )
    .with_default_scopes(DEFAULT_SCOPES);
    p.revoke_url = Some(REVOKE_URL.to_owned());
    p.knobs.revoke_style = RevokeStyle::OneTokenEndsTheGrant;
    p.pkce = true;
    p.token_auth = TokenAuth::Basic;
    p.knobs.avatar_template = Some(AVATAR_URL);
    p.knobs.renewal = RenewalKnob::Grant(Rotation::Always);
    p.knobs.refresh_token = RefreshTokenRequirement::Always;
    p.knobs.access_token_lifetime_secs = Some(604_800);
    p.knobs.target_selection = Some(TargetType::Webhook);
    p.knobs.targets = Some(TargetSource::DiscordGuilds);
    p.knobs.targets_url = Some(GUILDS_URL.to_owned());
    p.knobs.granted_targets = Some(std::sync::Arc::new(GrantedTargets::new(discord_webhook)));
    p
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::fixtures::*;
    use crate::{CodeFlow as _, Profile, ProviderErrorKind, RefreshGrant as _, TargetListing as _, TokenSet};
    use dravo_connect_core::OAuthErrorReason;

    /// The `webhook.incoming` code exchange, as Discord's OAuth2 page shows it.
    const WEBHOOK_TOKEN: &str = r#"{"token_type":"Bearer","access_token":"GNaVzEtATqdh173tNHEXY9ZYAuhiYxvy","scope":"identify webhook.incoming","expires_in":604800,"refresh_token":"PvPL7ELyMDc1836457XCDh1Y8jPbRm","webhook":{"application_id":"310954232226357250","name":"testwebhook","url":"https://discord.com/api/webhooks/347114750880120863/kKDdjXa1g9tKNs0-_yOwLyALC9gydEWP6gr9sHabuK1vuofjhQDDnlOclJeRIvYK-pj_","channel_id":"345626669224982402","token":"kKDdjXa1g9tKNs0-_yOwLyALC9gydEWP6gr9sHabuK1vuofjhQDDnlOclJeRIvYK-pj_","type":1,"avatar":null,"guild_id":"290926792226357250","id":"347114750880120863"}}"#;
    /// A plain exchange (`identify guilds`).
    const TOKEN: &str = r#"{"access_token":"6qrZcUqja7812RVdnEKjpzOL4CvHBFG","token_type":"Bearer","expires_in":604800,"refresh_token":"D43f5y0ahjqew82jZ4NViEr2YafMKhue","scope":"identify guilds"}"#;
    /// `GET /users/@me`.
    const ME: &str = r#"{"id":"80351110224678912","username":"nelly","discriminator":"0","global_name":"Nelly","avatar":"8342729096ea3675442027381ff50dfe","verified":true,"flags":64,"banner":"06c16474723fe537c283b8efa61a30c8","accent_color":16711680,"premium_type":1,"public_flags":64}"#;
    /// `GET /users/@me/guilds`: owned, managed, administered, and one only joined.
    const GUILDS: &str = r#"[{"id":"80351110224678912","name":"1337 Krew","icon":"8342729096ea3675442027381ff50dfe","owner":true,"permissions":"36953089","features":["COMMUNITY","NEWS"]},{"id":"90351110224678913","name":"Managed","icon":null,"owner":false,"permissions":"32","features":[]},{"id":"90351110224678914","name":"Admin","icon":"a_1269e74af4df7417b13759eae50c83dc","owner":false,"permissions":"8","features":[]},{"id":"90351110224678915","name":"Just a member","icon":null,"owner":false,"permissions":"104324673","features":[]}]"#;

    fn tokens(access: &str, scopes: &[&str]) -> TokenSet {
        TokenSet {
            access_token: token(access),
            refresh_token: None,
            expires_in: None,
            scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    fn person() -> Profile {
        Profile { id: "80351110224678912".into(), username: None, display_name: None, avatar_url: None }
    }

    #[test]
    fn the_authorize_url_asks_for_the_user_and_a_webhook_with_pkce() {
        let (base, pairs) = authorize(&provider());
        assert_eq!(base, AUTHORIZE_URL);
        assert_eq!(param(&pairs, "scope"), Some("identify webhook.incoming"));
        assert_eq!(param(&pairs, "response_type"), Some("code"));
        assert_eq!(param(&pairs, "code_challenge"), Some(CHALLENGE));
        assert_eq!(param(&pairs, "prompt"), None);
    }

    #[tokio::test]
    async fn the_token_response_is_parsed_with_basic_auth_and_the_verifier() {
        let (http, seen) = replay(&[(200, TOKEN)]);
        let s = secret();
        let tokens =
            provider().exchange_code(ctx(&http, &s), "NhhvTDYsFcdg", REDIRECT_URI, Some(&token("v"))).await.unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "6qrZcUqja7812RVdnEKjpzOL4CvHBFG");
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "D43f5y0ahjqew82jZ4NViEr2YafMKhue");
        assert_eq!(tokens.expires_in, Some(604_800));
        assert_eq!(tokens.scopes.unwrap(), ["identify", "guilds"]);
        let request = &requests(&seen)[0];
        assert_eq!(endpoint(request), TOKEN_URL);
        assert_eq!(header(request, "content-type"), Some("application/x-www-form-urlencoded"));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
        assert_eq!(header(request, "authorization"), Some(format!("Basic {basic}").as_str()));
        let body = form(request);
        assert_eq!(param(&body, "code_verifier"), Some("v"));
        assert_eq!(param(&body, "client_secret"), None);
    }

    #[tokio::test]
    async fn the_user_is_the_account_with_an_avatar_built_from_its_hash() {
        let (http, seen) = replay(&[
            (200, ME),
            (200, r#"{"id":"1","username":"plain","global_name":null,"avatar":null}"#),
            (200, r#"{"id":"2","username":"odd","avatar":"../../x?y"}"#),
        ]);
        let p = provider();
        assert_eq!(
            p.fetch_profile(&http, &token("at")).await.unwrap(),
            Profile {
                id: "80351110224678912".into(),
                username: Some("nelly".into()),
                display_name: Some("Nelly".into()),
                avatar_url: Some(
                    "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png".into()
                ),
            }
        );
        let plain = p.fetch_profile(&http, &token("at")).await.unwrap();
        assert_eq!((plain.display_name, plain.avatar_url), (None, None));
        assert_eq!(p.fetch_profile(&http, &token("at")).await.unwrap().avatar_url, None, "not a hash: no URL");
        let request = &requests(&seen)[0];
        assert_eq!(request.uri(), USERINFO_URL);
        assert_eq!(header(request, "authorization"), Some("Bearer at"));
    }

    #[tokio::test]
    async fn the_webhook_of_the_exchange_is_the_target_of_that_grant_once() {
        let (http, seen) = replay(&[(200, WEBHOOK_TOKEN)]);
        let s = secret();
        let p = provider();
        let tokens = p.exchange_code(ctx(&http, &s), "code", REDIRECT_URI, Some(&token("v"))).await.unwrap();
        let targets = p.list_targets(&http, &tokens, &person()).await.unwrap();
        assert_eq!(targets.len(), 1);
        let hook = &targets[0];
        assert_eq!(hook.id, "347114750880120863");
        assert_eq!(hook.target_type, TargetType::Webhook);
        assert_eq!(hook.display_name.as_deref(), Some("testwebhook"));
        assert_eq!(
            hook.access_token.as_ref().unwrap().expose_secret(),
            "kKDdjXa1g9tKNs0-_yOwLyALC9gydEWP6gr9sHabuK1vuofjhQDDnlOclJeRIvYK-pj_"
        );
        assert!(!format!("{hook:?}").contains("kKDdjXa1g9tKNs0"), "the webhook token stays a secret");
        assert_eq!(requests(&seen).len(), 1, "no listing call without the guilds scope");
        // Taken: a second listing of the same grant, or another grant's, finds nothing.
        assert!(p.list_targets(&http, &tokens, &person()).await.unwrap().is_empty());
        assert!(p.list_targets(&http, &tokens_of("other"), &person()).await.unwrap().is_empty());
    }

    fn tokens_of(access: &str) -> TokenSet {
        tokens(access, &["identify", "webhook.incoming"])
    }

    #[tokio::test]
    async fn granted_webhooks_wait_for_a_bounded_number_of_grants() {
        let p = provider();
        let s = secret();
        for i in 0..70 {
            let answer = WEBHOOK_TOKEN.replace("GNaVzEtATqdh173tNHEXY9ZYAuhiYxvy", &format!("at{i}"));
            let (http, _) = replay(&[(200, answer.as_str())]);
            p.exchange_code(ctx(&http, &s), "c", REDIRECT_URI, Some(&token("v"))).await.unwrap();
        }
        let (http, _) = replay(&[]);
        assert!(p.list_targets(&http, &tokens_of("at0"), &person()).await.unwrap().is_empty(), "the oldest dropped");
        assert_eq!(p.list_targets(&http, &tokens_of("at69"), &person()).await.unwrap().len(), 1);
        assert_eq!(p.list_targets(&http, &tokens_of("at6"), &person()).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn servers_are_listed_only_with_the_guilds_scope_and_only_those_the_user_manages() {
        let (http, seen) = replay(&[(200, GUILDS)]);
        let p = provider();
        let targets = p.list_targets(&http, &tokens("at", &["identify", "guilds"]), &person()).await.unwrap();
        let listed: Vec<(&str, Option<&str>, Option<&str>)> =
            targets.iter().map(|t| (t.id.as_str(), t.display_name.as_deref(), t.avatar_url.as_deref())).collect();
        assert_eq!(
            listed,
            [
                (
                    "80351110224678912",
                    Some("1337 Krew"),
                    Some("https://cdn.discordapp.com/icons/80351110224678912/8342729096ea3675442027381ff50dfe.png")
                ),
                ("90351110224678913", Some("Managed"), None),
                (
                    "90351110224678914",
                    Some("Admin"),
                    Some("https://cdn.discordapp.com/icons/90351110224678914/a_1269e74af4df7417b13759eae50c83dc.png")
                ),
            ]
        );
        assert!(targets.iter().all(|t| t.target_type == TargetType::Guild && t.access_token.is_none()));
        let sent = requests(&seen);
        assert_eq!(sent.len(), 1, "a short page is the last");
        assert_eq!(endpoint(&sent[0]), GUILDS_URL);
        assert_eq!(param(&query(&sent[0]), "limit"), Some("200"));
        assert_eq!(header(&sent[0], "authorization"), Some("Bearer at"));
        let (http, seen) = replay(&[]);
        assert!(p.list_targets(&http, &tokens("at", &["identify"]), &person()).await.unwrap().is_empty());
        assert!(requests(&seen).is_empty());
    }

    #[tokio::test]
    async fn errors_denials_a_rotating_refresh_and_revocation_behave() {
        let (http, seen) = replay(&[
            (400, r#"{"error":"invalid_grant","error_description":"Invalid \"code\" in request."}"#),
            (401, r#"{"message":"401: Unauthorized","code":0}"#),
            (
                200,
                r#"{"access_token":"at2","token_type":"Bearer","expires_in":604800,"refresh_token":"rt2","scope":"identify"}"#,
            ),
            (200, "{}"),
        ]);
        let s = secret();
        let p = provider();
        let err = p.exchange_code(ctx(&http, &s), "c", REDIRECT_URI, Some(&token("v"))).await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (ProviderErrorKind::Rejected, Some("invalid_grant")));
        let err = p.fetch_profile(&http, &token("at")).await.unwrap_err();
        assert_eq!(err.oauth_error(), Some("invalid_token"));
        let tokens = p.refresh(ctx(&http, &s), &token("rt1")).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "rt2");
        p.revoke(ctx(&http, &s), GrantTokens::new(&token("at2"), Some(&token("rt2")))).await.unwrap();
        let sent = requests(&seen);
        assert_eq!(sent.len(), 4, "one revocation ends the authorization");
        assert_eq!(param(&form(&sent[2]), "grant_type"), Some("refresh_token"));
        assert_eq!(endpoint(&sent[3]), REVOKE_URL);
        assert_eq!(param(&form(&sent[3]), "token"), Some("rt2"));
        assert_eq!(param(&form(&sent[3]), "token_type_hint"), Some("refresh_token"));
        assert_eq!(OAuthErrorReason::from_provider_error("access_denied"), OAuthErrorReason::AccessDenied);
    }
}
