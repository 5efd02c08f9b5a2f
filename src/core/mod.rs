//! The pure core: return-URL allowlist, signed state, PKCE, secrets at rest and API-key
//! authentication. No I/O and no web framework in here.

pub mod allowlist;
pub mod auth;
pub mod keys;
pub mod pkce;
pub(crate) mod prefix;
pub mod same_origin;
pub mod secret_box;
pub mod state;

pub use allowlist::{AllowlistError, AllowlistOptions, ReturnUrlAllowlist, ReturnUrlError, ReturnUrlErrorKind};
pub use auth::{ApiKeyAuth, AuthError, Authenticator};
pub use keys::{KeyError, decode_key_material};
pub use pkce::{METHOD as PKCE_METHOD, PkceError, PkceVerifier, s256_challenge};
pub use same_origin::{InvalidOrigin, SameOrigin, same_origin};
pub use secret_box::{OpenError, OpenErrorKind, Sealed, SecretBox};
pub use state::{StateError, StateErrorKind, StateSigner, VerifiedState};
