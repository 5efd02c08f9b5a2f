//! # dravo-connect
//!
//! Let your users connect their social accounts (X, LinkedIn, Facebook, Instagram, …) to
//! your backend through OAuth, end to end, from your own web app: with an API key and no
//! dashboard. Connect is embeddable middleware: a tower layer or an axum router in an axum
//! app, a scope in an actix-web app, or [`Connect::handle`] anywhere else.
//!
//! ## The flow
//! 1. The host stores its own OAuth app for a provider (`POST /v1/oauth-apps`, or
//!    [`Connect::create_app`]) with the `allowed_return_urls` its users may come back to.
//!    The client secret is encrypted at rest and never returned. The answer carries the
//!    `redirect_uri` to register at the provider.
//! 2. `GET /v1/oauth/{provider}/start?return_url=…` ([`Connect::start`]) answers
//!    `{"authorize_url": …}`; the host sends its user's browser there.
//! 3. The provider calls Connect's callback (no key: the signed state is the credential).
//!    Connect checks the state, exchanges the code with the PKCE verifier, reads the
//!    profile, stores the account with its tokens encrypted, and redirects the browser to
//!    `return_url?connected={provider}&account_id={id}`, or `return_url?oauth_error={reason}`
//!    (see [`OAuthErrorReason`]).
//! 4. `GET /v1/accounts` ([`Connect::accounts`]) lists the connected accounts;
//!    [`Connect::access_token`] hands out a fresh token to publish with.
//!
//! ## Mounting in axum
//! ```no_run
//! use dravo_connect::{Connect, ConnectLayer, TenantId, store::MemoryStore, Secret, KeyId};
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
//! Or merge the routes: `Router::new().merge(connect.axum_router())`.
//!
//! ## Configuration
//! [`ConnectConfig`] is serde-deserialisable (TOML, JSON, env…): public base URL, prefix,
//! API keys, state and encryption keys (rotatable), limits, and generic providers or
//! endpoint overrides of built-in ones.
//!
//! ## Errors
//! Every error is `{"error":{"code":"…","message":"…"}}` with a code from [`ErrorCode`].
//!
//! ## Security
//! Return URLs are matched against a strict allowlist ([`ReturnUrlAllowlist`]); states are
//! short, HMAC-signed, single-use and expire in 10 minutes ([`core::StateSigner`]); PKCE S256
//! on every provider that takes it; secrets and tokens are sealed with AES-256-GCM bound to
//! their row ([`core::SecretBox`]); API keys are compared by digest in constant time;
//! outbound HTTP never follows redirects. No secret appears in any log line, error or
//! response ([`Secret`]). With browser binding (on by default for an https
//! `public_base_url`, [`ConnectBuilder::browser_binding`]) a flow only completes in the
//! browser that opened its `authorize_url`. The threat model is in `SECURITY.md`.
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
mod clock;
mod config;
mod connect;
pub mod core;
mod error;
pub mod http_client;
mod ids;
mod model;
pub mod provider;
mod secret;
pub mod store;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test_util;

#[doc(inline)]
pub use clock::{Clock, ManualClock, SystemClock};
#[doc(inline)]
pub use config::{ApiKeys, ConnectConfig, KeyConfig};
#[doc(inline)]
pub use connect::{Connect, ConnectBuilder};
#[doc(inline)]
pub use core::allowlist::{AllowlistError, AllowlistOptions, ReturnUrlAllowlist, ReturnUrlError, ReturnUrlErrorKind};
#[doc(inline)]
pub use core::auth::{ApiKeyAuth, AuthError, Authenticator};
#[doc(inline)]
pub use error::{ConfigError, Error, ErrorCode, OAuthErrorReason};
#[doc(inline)]
pub use ids::{AccountId, AppId, ExternalId, FlowId, InvalidId, KeyId, ProviderId, TenantId};
#[doc(inline)]
pub use model::{Account, App, AppPatch, List, NewAccount, NewApp, Revocation, StartParams, Started};
#[doc(inline)]
pub use secret::Secret;

/// The tower layer and axum router (feature `axum`).
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum {
    pub use crate::adapters::tower::{ConnectBody, ConnectLayer, ConnectService, ResponseFuture};
}
#[cfg(feature = "axum")]
#[doc(inline)]
pub use adapters::tower::ConnectLayer;

pub use http;
pub use url;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
