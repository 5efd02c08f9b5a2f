//! # dravo-connect
//!
//! Let your users connect their social accounts (X, LinkedIn, Facebook, Instagram, …) to
//! your backend through OAuth, end to end, from your own web app: with an API key and no
//! dashboard. Connect is embeddable middleware: a tower layer or an axum router in an axum
//! app, a scope in an actix-web app, or [`Connect::handle`] anywhere else.
//!
//! This page is the guide: [the flow](#the-flow), [mounting](#mounting),
//! [configuration](#configuration), [stores](#stores), [providers](#providers),
//! [errors](#errors), [security](#security), [crates](#crates) and [non-goals](#non-goals). To see it work,
//! run `cargo run --example axum_host` and open `http://127.0.0.1:3000`.
//!
//! ## The flow
//! 1. The host stores its own OAuth app for a provider (`POST /v1/oauth-apps`, or
//!    [`Connect::create_app`]) with the `allowed_return_urls` its users may come back to.
//!    The client secret is encrypted at rest and never returned. The answer carries the
//!    `redirect_uri` to register at the provider:
//!    `{public_base_url}{prefix}/oauth/{provider}/callback` ([`Connect::redirect_uri`]).
//! 2. `GET /v1/oauth/{provider}/start?return_url=…` ([`Connect::start`]) answers
//!    `{"authorize_url": …}`; the host sends its user's browser there.
//! 3. The user consents at the provider, which calls Connect's callback (no key: the signed
//!    state is the credential). Connect checks the state, exchanges the code with the PKCE
//!    verifier, reads the profile, stores the account with its tokens encrypted, and
//!    redirects the browser to `return_url?connected={provider}&account_id={id}`, or
//!    `return_url?oauth_error={reason}` (see [`OAuthErrorReason`]). When the login can
//!    publish as several targets (Facebook Pages, Instagram business accounts, Pinterest
//!    boards, LinkedIn organisations), the person is stored and the browser goes to
//!    `return_url?selection_id=sel_…` instead: the host reads the targets with
//!    `GET /v1/oauth/selections/{id}` ([`Connect::selection`]) and picks some with `POST`
//!    ([`Connect::choose_targets`]) within 10 minutes; each becomes an account with a
//!    `target_type` and a `parent_account_id`.
//! 4. `GET /v1/accounts` ([`Connect::accounts`]) lists the connected accounts;
//!    [`Connect::access_token`] hands out a fresh token to publish with (refreshing it when
//!    it is near expiry), and [`Connect::disconnect`] (`DELETE /v1/accounts/{id}`) removes
//!    one and revokes its tokens at the provider where it can (the refresh token, then the
//!    access token).
//!
//! The whole flow, in-process, against the crate's mock provider (feature `test-util`),
//! with no server: the callback request goes straight to [`Connect::handle`].
//!
//! ```
//! # #[cfg(all(feature = "test-util", feature = "reqwest"))]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use dravo_connect::store::MemoryStore;
//! use dravo_connect::test_util::MockProvider;
//! use dravo_connect::{Connect, KeyId, NewApp, Secret, StartParams, TenantId};
//!
//! let provider = MockProvider::start().await?; // an OAuth server on 127.0.0.1
//! let acme: TenantId = "acme".parse()?;
//! let connect = Connect::builder()
//!     .public_base_url("http://127.0.0.1:3000")
//!     .api_key("sk_test_0123456789abcdef", acme.clone())
//!     .state_key(KeyId::zero(), Secret::new(vec![1u8; 32])) // from your secret store
//!     .encryption_key(KeyId::zero(), Secret::new(vec![2u8; 32]))
//!     .store(MemoryStore::new())
//!     .provider_config(provider.provider_config("demo"))
//!     .outbound_loopback_only(true)
//!     .build()?;
//!
//! // 1. The host's OAuth app, and where its users may come back to.
//! let return_url = "http://127.0.0.1:3000/settings/accounts";
//! let (client_id, client_secret) = (provider.config().client_id.clone(), provider.config().client_secret.clone());
//! connect.create_app(&acme, NewApp::new("demo".parse()?, client_id, client_secret, vec![return_url.into()])).await?;
//!
//! // 2. Start: the browser goes to `authorize_url`.
//! let started = connect.start(&acme, &"demo".parse()?, StartParams::new(return_url)).await?;
//!
//! // 3. The user consents; the provider sends the browser to Connect's callback.
//! let callback = provider.consent(&started.authorize_url).await?;
//! let request = http::Request::get(callback.as_str()).body(bytes::Bytes::new())?;
//! let response = connect.handle(request).await;
//! assert_eq!(response.status(), 302);
//! let back = response.headers()["location"].to_str()?;
//! assert!(back.starts_with("http://127.0.0.1:3000/settings/accounts?connected=demo&account_id=acc_"));
//!
//! // 4. The account, and a token to publish with.
//! let accounts = connect.accounts(&acme, Default::default(), Default::default()).await?;
//! assert_eq!(accounts.data[0].display_name.as_deref(), Some("Mock User"));
//! let token = connect.access_token(&acme, &accounts.data[0].id).await?;
//! assert!(!token.expose_secret().is_empty());
//! # Ok(()) }
//! # #[cfg(not(all(feature = "test-util", feature = "reqwest")))]
//! # fn main() {}
//! ```
//!
//! ## Mounting
//! Connect answers its routes under a prefix (`/v1` by default) and leaves every other
//! request to the host. All adapters call the same router, [`Connect::handle`], so they
//! behave the same.
//!
//! **As a tower layer** (feature `axum`): [`ConnectLayer`] wraps any tower service, an axum
//! `Router` or a plain `tower::service_fn` (see `examples/tower_hyper.rs`). It answers
//! requests whose path is a Connect route, `405` for a Connect route with the wrong method,
//! and passes everything else, even other paths under the prefix, to the inner service.
//! ```no_run
//! use dravo_connect::{Connect, ConnectLayer, KeyId, Secret, TenantId, store::MemoryStore};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let connect = Connect::builder()
//!     .public_base_url("https://api.example.com")
//!     .api_key("sk_live_0123456789abcdef", "acme".parse::<TenantId>()?)
//!     .state_key(KeyId::zero(), Secret::new(vec![1u8; 32]))       // from your secret store
//!     .encryption_key(KeyId::zero(), Secret::new(vec![2u8; 32]))  // idem
//!     .store(MemoryStore::new())
//!     .build()?;
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "my app" }))
//!     .layer(ConnectLayer::new(connect));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//! `Router::layer` makes axum box every route once more; in front of a whole axum app,
//! [`Connect::wrap`] does the same for one path check per host request (the README's mount;
//! BENCHMARKS.md has both, per request).
//!
//! **As an axum router** (feature `axum`): `Router::new().merge(connect.axum_router())`
//! ([`Connect::axum_router`]), generic over the host's router state; unknown paths under the
//! prefix get Connect's `404 not_found`. `examples/axum_custom_auth.rs` mounts it this way.
//!
//! **In actix-web** (feature `actix`): `App::new().service(connect.actix_scope())`
//! ([`Connect::actix_scope`]), or [`Connect::actix_configure`] inside an outer scope; see
//! `examples/actix_host.rs`.
//!
//! **Anywhere else**: read the request's body under [`Connect::max_body_bytes`], call
//! [`Connect::handle`] with an `http::Request<Bytes>`, and write back the
//! `http::Response<Bytes>` it answers.
//!
//! Connect's own adapters answer a request refused on its head (no key, a wrong route or
//! method, a declared length over the limit) before reading its body; every server should
//! still bound how long it waits for a body (the README's "Bound the body read").
//!
//! `public_base_url` includes any outer path the host mounts Connect under: the callback URL
//! is built from it and the prefix, never from `Host` or `X-Forwarded-*` headers.
//!
//! **Who is calling.** Keyed routes resolve the request to a tenant through an
//! [`Authenticator`](auth::Authenticator): by default [`ApiKeyAuth`](auth::ApiKeyAuth) (`Authorization: Bearer <key>`). A host with its
//! own users and sessions brings its own ([`ConnectBuilder::authenticator`]) and, when it
//! trusts a cookie, wraps it in [`auth::SameOrigin`] so that no other site can use the
//! cookie (`examples/axum_custom_auth.rs`). A host that calls the Rust API from its own
//! routes needs neither: [`Connect::start`], [`Connect::accounts`] and the others take the
//! tenant as an argument (as `examples/axum_host.rs` does, so no key reaches the browser).
//!
//! ## Configuration
//! Build [`Connect`] with [`Connect::builder`], or deserialize a [`ConnectConfig`] from any
//! serde format (TOML, JSON, environment) and turn it into a builder. Every value is checked
//! once, when [`ConnectBuilder::build`] runs, never per request.
//! ```
//! use dravo_connect::{ConnectConfig, store::MemoryStore};
//!
//! let config: ConnectConfig = toml::from_str(r#"
//!     public_base_url = "https://api.example.com"
//!     prefix = "/v1"
//!     state_secret = "c3RhdGUtc2VjcmV0LWZvci10aGUtZG9jLXRlc3QtMDEyMzQ1"    # 32+ bytes, base64
//!     encryption_key = "ZW5jcnlwdGlvbi1rZXktZm9yLXRoZS1kb2MtdGVzdDA"      # exactly 32 bytes
//!
//!     [api_keys]
//!     "sk_live_0123456789abcdef" = "acme"
//!
//!     [[providers]]      # a generic OAuth 2.0 provider
//!     id = "acme_social"
//!     authorize_url = "https://social.example/oauth/authorize"
//!     token_url = "https://social.example/oauth/token"
//!     userinfo_url = "https://social.example/api/me"
//!     scopes = ["profile"]
//!     pkce = true
//!     token_auth = "basic"
//!     [providers.profile]
//!     id = "/id"
//!     username = "/login"
//! "#)?;
//! let connect = config.into_builder()?.store(MemoryStore::new()).build()?;
//! assert_eq!(connect.redirect_uri(&"acme_social".parse()?), "https://api.example.com/v1/oauth/acme_social/callback");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! State and encryption keys rotate: list several (`state_keys`, `encryption_keys`), the
//! first signs or seals and all of them verify or open. Limits (`state_ttl_secs`,
//! `max_body_bytes`, `max_url_bytes`, `http_timeout_secs`, `max_pending_flows`,
//! `expired_flow_retention_secs`) have safe defaults.
//!
//! ## Stores
//! Apps, accounts and pending flows live in a [`store::Store`]: [`store::MemoryStore`] for
//! tests and demos, `store::SqliteStore` (feature `sqlite`, default) for one process,
//! `store::PostgresStore` (feature `postgres`) for any number of app instances behind a load
//! balancer, or your own implementation of the trait. The SQL stores keep their own
//! `dravo_`-prefixed tables and migrations table, so they sit beside the host's own in one
//! database. `Store` itself holds apps, accounts and flows; selections, the refresh lease,
//! maintenance walks and provider state are small opt-in traits a store announces through
//! provided accessors (`Store::selections`, …), and [`ConnectBuilder::build`] refuses a
//! configured provider whose needs the store cannot meet. Every store must pass the same
//! public suite, `test_util::store_conformance` (feature `test-util`), which runs the cases
//! of each trait the store implements. Secrets and tokens reach the store already sealed, so
//! a store never sees a plaintext secret.
//!
//! Instances share the database, the state and encryption keys and the public base URL, and
//! nothing else: a flow started on one completes on any other, and a token is refreshed once
//! across them (a lease in the store). Keys rotate by listing the new one first on every
//! instance, then moving stored secrets to it with [`Connect::reseal_secrets`].
//!
//! ## Providers
//! Built in: `x`, `linkedin`, `facebook`, `instagram`, `instagram_facebook`, `threads`,
//! `youtube`, `tiktok`, `pinterest`, `reddit`, `tumblr`, `snapchat` (Login Kit identity only),
//! `mastodon` on any instance (`start` takes `instance=`; a client is registered at each
//! instance on first use), `bluesky`, `google_business` (Business Profile locations as
//! targets), `discord` (the granted webhook, and servers with `guilds`, as targets) and
//! `twitch` (the channel), each with
//! its quirks in its own module of [`provider`] and its [`provider::Capabilities`] (login
//! method, PKCE, client auth, scope separator, refresh model, lifetimes, revocation). Their
//! ids never change, since they are part of registered callback URLs. `GET /v1/providers`
//! lists them for a front end. Bluesky connects with an app password rather than OAuth:
//! `POST /v1/accounts` with `identifier` and `app_password`
//! ([`Connect::register_app_password_account`], [`provider::bluesky`]).
//!
//! Any standard OAuth 2.0 provider can be described in configuration
//! ([`provider::ProviderConfig`], run by [`provider::GenericProvider`]); an entry with a
//! built-in's id overrides only its endpoints. A provider with its own rules implements
//! [`provider::Provider`] and the small traits for what it does: the OAuth code flow with the
//! renewal it answers ([`provider::CodeFlow`]), a password login ([`provider::PasswordLogin`]),
//! client registration per server ([`provider::ClientRegistration`]), target listing
//! ([`provider::TargetListing`]). `Connect` asks a provider for these parts and never for its
//! id; its [`provider::Capabilities`] only describe it. [`ConnectBuilder::provider`] adds one
//! (replacing a provider with the same id), [`ConnectBuilder::providers`] chooses the set in
//! place of the built-in ones, and [`ConnectBuilder::without_provider`] turns one off. Outbound HTTP goes
//! through [`http_client::HttpClient`] ([`http_client::ReqwestClient`] by default: no
//! redirects, timeouts, capped responses). Whatever a provider answers is bounded before it is
//! stored (tokens 8 KiB, 100 scopes, names 1 KiB), built-in or not. A provider of your own
//! runs the public suite every built-in code-flow provider passes,
//! `test_util::provider_conformance` (feature `test-util`), against its network's answers;
//! `crates/third-party` in the repository is a worked example of a provider and a store
//! written with nothing but the public API.
//!
//! ## Hooks
//! [`hooks::ConnectHooks`] runs the host's own code when an account is connected,
//! reconnected or disconnected, after the store write and under a timeout.
//!
//! ## Errors
//! Every error answered over HTTP is `{"error":{"code":"…","message":"…"}}` with a code from
//! the fixed set [`ErrorCode`] (each with its status); the Rust API returns the same as an
//! [`Error`] ([`Error::code`]). A failed connect flow is not an error response but a redirect
//! to the return URL with `?oauth_error=` and one of [`OAuthErrorReason`]; a provider's own
//! error text is never echoed. Startup problems are [`ConfigError`]s.
//!
//! ## Security
//! Return URLs are matched against a strict allowlist ([`ReturnUrlAllowlist`]); states are
//! short, HMAC-signed, single-use and expire in 10 minutes ([`StateSigner`](dravo_connect_core::state::StateSigner)); PKCE S256
//! on every provider that takes it; secrets and tokens are sealed with AES-256-GCM bound to
//! their row ([`SecretBox`](dravo_connect_core::secret_box::SecretBox)); API keys are compared by digest in constant time;
//! outbound HTTP never follows redirects. No secret appears in any log line, error or
//! response ([`Secret`]). A cookie-based authenticator must apply the same-origin check
//! ([`auth::same_origin`]) on every state-changing route.
//! With browser binding (on by default for an https
//! `public_base_url`, [`ConnectBuilder::browser_binding`]) a flow only completes in the
//! first browser that opened its `authorize_url`, which the hop binds once. A tenant has at
//! most `max_pending_flows` unfinished flows ([`ConnectBuilder::max_pending_flows`]). The
//! threat model is in `SECURITY.md`.
//!
//! ## Crates
//! This crate is the engine, the router and the adapters; what a store or a provider
//! implements lives in member crates that never depend on it, so a third party writes one
//! with exactly what the built-in ones use:
//!
//! | crate | what it holds | reached from here as |
//! |---|---|---|
//! | `dravo-connect-core` | ids, records, errors, `Secret`, `Clock`, the store and provider traits, `HttpClient`, signed state, allowlist, PKCE, sealed secrets | the crate root, [`store`], [`provider`], [`http_client`] |
//! | `dravo-connect-providers` | the generic provider and the built-in networks | [`provider`] |
//! | `dravo-connect-sqlx` | `SqliteStore`, `PostgresStore` (features `sqlite`, `postgres`) | [`store`] |
//! | `dravo-connect-testing` | `MockProvider`, the store and provider conformance suites (feature `test-util`) | `test_util` |
//!
//! ## Non-goals
//! - No dashboard and no user accounts of its own: the host owns its users, its login and
//!   its UI; Connect is an API key (or the host's [`Authenticator`](auth::Authenticator)) and a few routes.
//! - No hosted service and no outbound calls but to the providers the host configured.
//! - Not a sign-in library (it connects accounts to a user the host already knows) and not
//!   a publishing SDK: it hands out tokens ([`Connect::access_token`]); what the host posts
//!   with them is the host's business.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod adapters;
mod api;
mod binding;
mod config;
mod connect;
mod core;
pub mod hooks;
mod model;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test_util;

/// Outbound HTTP: the [`HttpClient`](http_client::HttpClient) every provider call goes
/// through, and the default [`ReqwestClient`](http_client::ReqwestClient) (feature
/// `reqwest`). From `dravo-connect-core`.
pub mod http_client {
    #[doc(inline)]
    pub use dravo_connect_core::http_client::*;
}

/// Providers: the provider traits and records (from `dravo-connect-core`), the generic
/// OAuth 2.0 provider described by configuration and the built-in social networks (from
/// `dravo-connect-providers`).
pub mod provider {
    #[doc(inline)]
    pub use dravo_connect_core::provider::*;
    #[doc(inline)]
    pub use dravo_connect_providers::*;
}

/// Storage: the store traits and records and the in-memory store (from
/// `dravo-connect-core`), and the SQL stores (from `dravo-connect-sqlx`, features `sqlite`
/// and `postgres`).
pub mod store {
    #[doc(inline)]
    pub use dravo_connect_core::store::*;
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    #[doc(inline)]
    pub use dravo_connect_sqlx::PostgresStore;
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    #[doc(inline)]
    pub use dravo_connect_sqlx::SqliteStore;
}

#[doc(inline)]
pub use config::{ApiKeys, ConnectConfig, KeyConfig};
#[doc(inline)]
pub use connect::{Connect, ConnectBuilder, ResealReport};
#[doc(inline)]
pub use dravo_connect_core::allowlist::{
    AllowlistError, AllowlistOptions, ReturnUrlAllowlist, ReturnUrlError, ReturnUrlErrorKind,
};
#[doc(inline)]
pub use dravo_connect_core::{
    AccountId, AppId, Clock, ConfigError, Error, ErrorCode, ExternalId, FlowId, InvalidId, KeyId, ManualClock,
    OAuthErrorReason, ProviderId, Secret, SelectionId, SystemClock, TenantId,
};
#[doc(inline)]
pub use model::{
    Account, App, AppPatch, List, NewAccount, NewApp, NewAppPasswordAccount, Revocation, Selection, SelectionChoice,
    StartParams, Started,
};

/// The tower layer, the wrapped axum app and the axum router (feature `axum`).
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum {
    pub use crate::adapters::axum::{Wrapped, WrappedFuture};
    pub use crate::adapters::tower::{ConnectBody, ConnectLayer, ConnectService, ResponseFuture};
}
#[cfg(feature = "axum")]
#[doc(inline)]
pub use adapters::tower::ConnectLayer;

/// Authentication of keyed routes: API keys, custom authenticators, and the same-origin
/// check that a cookie-based authenticator needs on every route that changes state.
pub mod auth {
    #[doc(inline)]
    pub use crate::core::auth::{ApiKeyAuth, AuthError, Authenticator};
    #[doc(inline)]
    pub use crate::core::same_origin::{InvalidOrigin, SameOrigin, same_origin};
}

pub use http;
pub use url;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
