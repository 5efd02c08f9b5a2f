//! The objects of the API, as the routes answer them and as the host-side Rust API returns
//! them. None of them ever holds a secret or a token.

use serde::Serialize;
use time::OffsetDateTime;

use crate::Secret;
use crate::provider::TargetType;
use crate::store::{AccountRecord, AccountStatus, AppRecord, SelectionRecord};
use crate::{AccountId, AppId, ExternalId, ProviderId, SelectionId};

/// An OAuth app as returned: never the secret, in no form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct App {
    /// `app_…`
    pub id: AppId,
    /// The provider.
    pub provider: ProviderId,
    /// The display name.
    pub name: Option<String>,
    /// The provider's client id.
    pub client_id: String,
    /// The return-URL allowlist (normalised).
    pub allowed_return_urls: Vec<String>,
    /// The scopes requested (empty: the provider's defaults).
    pub scopes: Vec<String>,
    /// The callback URL to register at the provider.
    pub redirect_uri: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl App {
    pub(crate) fn from_record(r: AppRecord, redirect_uri: String) -> Self {
        Self {
            id: r.id,
            provider: r.provider,
            name: r.name,
            client_id: r.client_id,
            allowed_return_urls: r.allowed_return_urls,
            scopes: r.scopes,
            redirect_uri,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A connected account as returned: never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// `acc_…`
    pub id: AccountId,
    /// The provider.
    pub provider: ProviderId,
    /// The account's id at the provider.
    pub provider_account_id: String,
    /// The handle.
    pub username: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// The avatar URL.
    pub avatar_url: Option<String>,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// `active`, `expired` or `revoked`.
    pub status: AccountStatus,
    /// The app whose credentials obtained the tokens.
    pub app_id: Option<AppId>,
    /// The host's reference to its end user.
    pub external_id: Option<ExternalId>,
    /// When first connected.
    #[serde(with = "time::serde::rfc3339")]
    pub connected_at: OffsetDateTime,
    /// When the access token expires, where known.
    #[serde(with = "time::serde::rfc3339::option")]
    pub token_expires_at: Option<OffsetDateTime>,
    /// When the user must have reconnected the account: set for an expiring token that no
    /// refresh token can renew (LinkedIn's and Meta's 60-day tokens, a Reddit grant without
    /// `duration=permanent`), so the host can ask its user in time. It is the token's expiry
    /// (a provider that renews by re-exchange moves both forward).
    #[serde(with = "time::serde::rfc3339::option")]
    pub reconnect_by: Option<OffsetDateTime>,
    /// What the account publishes as: `person` (the identity that logged in), or a target
    /// picked after consent (`page`, `organization`, `instagram_account`, `board`,
    /// `location`, `guild`, `webhook`).
    pub target_type: TargetType,
    /// For a picked target, the person account it was picked through; `null` for a person.
    pub parent_account_id: Option<AccountId>,
}

impl From<AccountRecord> for Account {
    fn from(r: AccountRecord) -> Self {
        Self {
            id: r.id,
            provider: r.provider,
            provider_account_id: r.provider_account_id,
            username: r.username,
            display_name: r.display_name,
            avatar_url: r.avatar_url,
            scopes: r.scopes,
            status: r.status,
            app_id: r.app_id,
            external_id: r.external_id,
            connected_at: r.connected_at,
            reconnect_by: r.token_expires_at.filter(|_| r.refresh_token.is_none()),
            token_expires_at: r.token_expires_at,
            target_type: r.target_type,
            parent_account_id: r.parent_account_id,
        }
    }
}

/// A pending target selection as returned by `GET /oauth/selections/{id}`: never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// `sel_…`
    pub id: SelectionId,
    /// The provider.
    pub provider: ProviderId,
    /// The person account the targets were found through (it is connected already).
    pub parent_account_id: AccountId,
    /// When it stops being readable or choosable (10 minutes after the callback).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The targets to choose from, in the provider's order.
    pub targets: Vec<SelectionChoice>,
}

/// One target of a [`Selection`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelectionChoice {
    /// The target's id at the provider (pass it in `target_ids`).
    pub id: String,
    /// What kind of target it is.
    pub target_type: TargetType,
    /// The handle, where the target has one.
    pub username: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// The avatar URL.
    pub avatar_url: Option<String>,
}

impl From<SelectionRecord> for Selection {
    fn from(r: SelectionRecord) -> Self {
        Self {
            id: r.id,
            provider: r.provider,
            parent_account_id: r.account_id,
            expires_at: r.expires_at,
            targets: r
                .targets
                .into_iter()
                .map(|t| SelectionChoice {
                    id: t.id,
                    target_type: t.target_type,
                    username: t.username,
                    display_name: t.display_name,
                    avatar_url: t.avatar_url,
                })
                .collect(),
        }
    }
}

/// One page of a list: `{"data":[…],"next_cursor":"…"|null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct List<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass as `?cursor=` to read the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A new OAuth app (`POST /oauth-apps`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewApp {
    /// The provider id.
    pub provider: ProviderId,
    /// A display name (at most 200 characters).
    pub name: Option<String>,
    /// The provider's client id.
    pub client_id: String,
    /// The client secret; encrypted at rest, never returned.
    pub client_secret: Secret<String>,
    /// 1 to 100 return-URL allowlist entries of at most 2 KiB.
    pub allowed_return_urls: Vec<String>,
    /// Scopes to request instead of the provider's defaults.
    pub scopes: Option<Vec<String>>,
}

impl NewApp {
    /// A new app with the required fields.
    pub fn new(
        provider: ProviderId,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret<String>>,
        allowed_return_urls: Vec<String>,
    ) -> Self {
        Self {
            provider,
            name: None,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            allowed_return_urls,
            scopes: None,
        }
    }

    /// Sets the display name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the scopes.
    #[must_use]
    pub fn scopes(mut self, scopes: Vec<String>) -> Self {
        self.scopes = Some(scopes);
        self
    }
}

/// Changes to an app (`PATCH /oauth-apps/{id}`): an absent field is unchanged.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AppPatch {
    /// `Some(None)` clears the name.
    pub name: Option<Option<String>>,
    /// A new client id.
    pub client_id: Option<String>,
    /// A new client secret.
    pub client_secret: Option<Secret<String>>,
    /// A new allowlist.
    pub allowed_return_urls: Option<Vec<String>>,
    /// New scopes.
    pub scopes: Option<Vec<String>>,
}

/// The parameters of `start`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StartParams {
    /// Where the browser goes afterwards; must pass the app's allowlist.
    pub return_url: String,
    /// Which app, when the tenant has several for the provider.
    pub app_id: Option<AppId>,
    /// A subset of the app's scopes.
    pub scopes: Option<Vec<String>>,
    /// The host's reference to the end user starting the flow.
    pub external_id: Option<ExternalId>,
    /// The server of a per-instance provider (Mastodon): `mastodon.social` or
    /// `https://mastodon.social`. Required for `mastodon`, refused for every other provider.
    pub instance: Option<String>,
}

impl StartParams {
    /// Parameters with a return URL.
    pub fn new(return_url: impl Into<String>) -> Self {
        Self { return_url: return_url.into(), app_id: None, scopes: None, external_id: None, instance: None }
    }

    /// The instance of a per-instance provider (Mastodon).
    #[must_use]
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Chooses the app.
    #[must_use]
    pub fn app_id(mut self, app_id: AppId) -> Self {
        self.app_id = Some(app_id);
        self
    }

    /// Narrows the scopes.
    #[must_use]
    pub fn scopes(mut self, scopes: Vec<String>) -> Self {
        self.scopes = Some(scopes);
        self
    }

    /// Attributes the flow (and the account it creates) to the host's end user.
    #[must_use]
    pub fn external_id(mut self, external_id: ExternalId) -> Self {
        self.external_id = Some(external_id);
        self
    }
}

/// The answer of `start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Started {
    /// Send the user's browser here.
    pub authorize_url: String,
    /// When the flow's state stops being accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub state_expires_at: OffsetDateTime,
}

/// An account registered from a token the caller already holds (`POST /accounts`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewAccount {
    /// The provider id.
    pub provider: ProviderId,
    /// The access token; checked by a profile call.
    pub access_token: Secret<String>,
    /// A refresh token.
    pub refresh_token: Option<Secret<String>>,
    /// When the access token expires.
    pub expires_at: Option<OffsetDateTime>,
    /// The app whose credentials issued the token (needed to refresh or revoke).
    pub app_id: Option<AppId>,
    /// The host's reference to its end user.
    pub external_id: Option<ExternalId>,
}

impl NewAccount {
    /// A new account from an access token.
    pub fn new(provider: ProviderId, access_token: impl Into<Secret<String>>) -> Self {
        Self {
            provider,
            access_token: access_token.into(),
            refresh_token: None,
            expires_at: None,
            app_id: None,
            external_id: None,
        }
    }
}

/// An account registered with an app password (`POST /accounts` with `identifier` and
/// `app_password`; Bluesky): Connect creates a session at the provider and stores the
/// session's tokens. The password is used once and never stored.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewAppPasswordAccount {
    /// The provider id (one with a [`PasswordLogin`](crate::provider::PasswordLogin)).
    pub provider: ProviderId,
    /// The handle, DID or email the user signs in with.
    pub identifier: String,
    /// The app password (`xxxx-xxxx-xxxx-xxxx`).
    pub app_password: Secret<String>,
    /// The host's reference to its end user.
    pub external_id: Option<ExternalId>,
}

impl NewAppPasswordAccount {
    /// A new account from an identifier and an app password.
    pub fn new(provider: ProviderId, identifier: impl Into<String>, app_password: impl Into<Secret<String>>) -> Self {
        Self { provider, identifier: identifier.into(), app_password: app_password.into(), external_id: None }
    }

    /// Sets the host's reference to its end user.
    #[must_use]
    pub fn with_external_id(mut self, external_id: ExternalId) -> Self {
        self.external_id = Some(external_id);
        self
    }
}

/// What happened at the provider when an account was disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    /// The provider accepted every revocation sent: the refresh token (where there is one)
    /// and the access token, or the one token its endpoint takes.
    Revoked,
    /// The provider has no revocation endpoint (or the account has no app to revoke with).
    Unsupported,
    /// A revocation call failed (either token's, even when the other was revoked), or a
    /// token could not be opened; the account was deleted anyway.
    Failed,
}
