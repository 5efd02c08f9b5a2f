//! Test utilities (feature `test-util`): the test kit, `dravo-connect-testing`, re-exported.
//!
//! [`MockProvider`] is a strict OAuth 2.0 authorization server served in-process on
//! loopback, for testing a connect flow end to end without leaving the machine: it
//! enforces client authentication, exact `redirect_uri` matching, single-use codes and
//! PKCE S256 (including the downgrade defence of RFC 9700 §4.8.2), and its failure modes
//! are switched on at run time with [`MockBehavior`]. The crate's demo app serves it as
//! the built-in `demo` provider. [`store_conformance`] and [`provider_conformance`] are the public
//! conformance suites of stores and providers.
//!
//! ```rust,no_run
//! use dravo_connect::test_util::{MockBehavior, MockProvider};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mock = MockProvider::start().await?;
//! mock.set_behavior(MockBehavior::default().with_deny(true));
//! assert_eq!(mock.counts().token, 0);
//! # Ok(())
//! # }
//! ```

#[doc(inline)]
pub use dravo_connect_testing::*;
