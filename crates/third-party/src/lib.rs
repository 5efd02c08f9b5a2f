//! A store and a provider written the way a third party would write them: outside the
//! project's crates, against the public traits of `dravo-connect-core` only.
//!
//! - [`CountingStore`] wraps any store and counts the calls of the core [`Store`] contract
//!   (a pattern for metrics, tracing or fault injection), forwarding the opt-in traits of
//!   the store it wraps.
//! - [`ChirpProvider`] is a provider for Chirp, a made-up social network with an OAuth 2.0
//!   code flow (PKCE S256, client authentication with HTTP Basic), a refresh grant and token
//!   revocation.
//!
//! Its tests run both through the public conformance suites of `dravo-connect-testing` and
//! through a full connect flow of `dravo-connect` against its in-process mock provider.
//!
//! [`Store`]: dravo_connect_core::store::Store

mod chirp;
mod counting_store;

pub use chirp::{ChirpEndpoints, ChirpProvider};
pub use counting_store::CountingStore;
