//! # dravo-connect-testing
//!
//! The test kit of [dravo-connect](https://docs.rs/dravo-connect), for its own tests and for
//! anyone writing a store or a provider:
//!
//! - [`MockProvider`]: a strict OAuth 2.0 authorization server served in-process on
//!   loopback, for testing a connect flow end to end without leaving the machine. It
//!   enforces client authentication, exact `redirect_uri` matching, single-use codes and
//!   PKCE S256 (including the downgrade defence of RFC 9700 §4.8.2), and its failure modes
//!   are switched on at run time with [`MockBehavior`].
//! - [`store_conformance`]: the public conformance suite every store passes;
//! - [`provider_conformance`]: the public conformance suite every OAuth code-flow provider
//!   passes, against its network's answers replayed in process.
//!
//! ```rust,no_run
//! use dravo_connect_testing::{MockBehavior, MockProvider};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mock = MockProvider::start().await?;
//! // Point your provider configuration at `mock.authorize_url()`, `mock.token_url()`
//! // and `mock.userinfo_url()`, with `mock.config().client_id` / `client_secret`.
//! mock.set_behavior(MockBehavior::default().with_deny(true));
//! assert_eq!(mock.counts().token, 0);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod mock_provider;
pub use mock_provider::*;

mod provider_conformance;
pub use provider_conformance::{ProviderAnswers, provider_conformance};

mod store_conformance;
pub use store_conformance::store_conformance;
