//! # dravo-connect-sqlx
//!
//! The SQL stores of [dravo-connect](https://docs.rs/dravo-connect), on sqlx:
//! [`SqliteStore`] (feature `sqlite`), one embedded file, and [`PostgresStore`] (feature
//! `postgres`), for any number of app instances sharing one database. Both implement the
//! public store traits of `dravo-connect-core` and pass its conformance suite; they create
//! and migrate their own tables (prefixed `dravo_`, migrations tracked in
//! `dravo_connect_migrations`).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

// The store contract and its records, which both stores implement and read back.
#[allow(unused_imports)]
use dravo_connect_core::store::*;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[macro_use]
mod sql;

#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
mod sqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
