//! # dravo-connect-providers
//!
//! The built-in providers of [dravo-connect](https://docs.rs/dravo-connect): the generic
//! OAuth 2.0 provider described by configuration ([`GenericProvider`]) and the social
//! networks (X, LinkedIn, Facebook, Instagram, Threads, TikTok, YouTube, Pinterest, Reddit,
//! Mastodon, Bluesky, Tumblr, Snapchat, Google Business Profile, Discord, Twitch). Each is
//! written against the public provider traits of `dravo-connect-core`, exactly as a
//! third-party provider would be.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

// What every provider module implements and answers with.
#[allow(unused_imports)]
use dravo_connect_core::provider::*;

pub mod bluesky;
#[cfg(test)]
mod capabilities_tests;
mod config;
#[cfg(test)]
mod fixtures;
mod generic;
mod google;
mod targets;

pub mod discord;
pub mod facebook;
pub mod google_business;
pub mod instagram;
pub mod instagram_facebook;
pub mod linkedin;
pub mod mastodon;
pub mod pinterest;
pub mod reddit;
pub mod snapchat;
pub mod threads;
pub mod tiktok;
pub mod tumblr;
pub mod twitch;
pub mod x;
pub mod youtube;

pub use bluesky::BlueskyProvider;
pub use config::{
    BuiltinOverrides, GenericConfig, ProfilePointers, ProviderConfig, TokenAuth, build_registry, build_registry_on,
    builtin,
};
pub use generic::GenericProvider;
pub use mastodon::MastodonProvider;
pub use tumblr::TumblrProvider;
