//! # dravo-connect-core
//!
//! The contracts of [dravo-connect](https://docs.rs/dravo-connect): what a store, a provider
//! and the engine agree on. A third party writes a store or a provider with exactly what the
//! built-in ones use, and nothing more:
//!
//! - ids ([`TenantId`], [`ProviderId`], …), [`Secret`], the injected [`Clock`] and the
//!   errors ([`Error`], [`ErrorCode`], [`OAuthErrorReason`], [`ConfigError`]);
//! - [`store`]: the [`store::Store`] trait, its records and the in-memory reference store;
//! - [`provider`]: the provider traits and the records a provider answers with;
//! - [`http_client`]: the outbound [`http_client::HttpClient`] every provider call goes
//!   through, and the default reqwest client (feature `reqwest`);
//! - the security primitives: the signed [`state`], the return-URL [`allowlist`], [`pkce`],
//!   sealed secrets at rest ([`secret_box`]) and key material ([`keys`]).
//!
//! No web framework, no database and no provider's name in here. Most hosts never depend on
//! this crate directly: `dravo-connect` re-exports what a host needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

pub mod allowlist;
mod clock;
mod error;
pub mod http_client;
mod ids;
pub mod keys;
pub mod pkce;
pub mod prefix;
pub mod provider;
mod secret;
pub mod secret_box;
pub mod state;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ConfigError, Error, ErrorCode, OAuthErrorReason};
pub use ids::{AccountId, AppId, ExternalId, FlowId, InvalidId, KeyId, ProviderId, SelectionId, TenantId};
pub use secret::Secret;
