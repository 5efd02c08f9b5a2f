//! Framework adapters. The contract every adapter keeps (and the reason each one is short):
//!
//! 1. Convert the framework's request line and headers into `http::request::Parts` and call
//!    `Connect::prepare` BEFORE reading the body: a request refused on its head (no or a bad
//!    key, an unknown route, a wrong method, a declared length over the limit) is answered
//!    without reading a byte of it.
//! 2. Read the body under [`Connect::max_body_bytes`](crate::Connect::max_body_bytes); a body
//!    over the limit is answered with Connect's own JSON `413` (never the framework's), a
//!    body that cannot be read with `400 invalid_request`.
//! 3. Call `Connect::finish` with what `prepare` returned (the tenant is not authenticated
//!    again), and convert the `http::Response<Bytes>` back, keeping status, headers and body
//!    as they are.
//!
//! An adapter never picks a status, never writes JSON and holds no route logic.

#[cfg(feature = "actix")]
pub(crate) mod actix;
#[cfg(feature = "axum")]
pub(crate) mod axum;
#[cfg(feature = "axum")]
pub(crate) mod tower;
