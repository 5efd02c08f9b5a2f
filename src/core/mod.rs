//! The engine's side of the security primitives: API-key authentication and the
//! same-origin check live here; the signed state, the allowlist, PKCE and sealed secrets
//! come from `dravo-connect-core`.

pub(crate) mod auth;
pub(crate) mod same_origin;

pub(crate) use dravo_connect_core::{allowlist, keys, pkce, secret_box, state};

pub(crate) use dravo_connect_core::allowlist::AllowlistError;
