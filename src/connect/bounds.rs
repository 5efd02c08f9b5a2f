//! Bounds on what a provider answers, enforced once by the engine at every place it takes
//! provider output (the callback's code exchange, profile and target listing; a refresh or
//! re-exchange; an app-password session; the profile read for a registered token), so a
//! hostile or broken provider (a Mastodon instance is chosen by whoever calls `start`), a
//! built-in one or a third party's, cannot make the store keep megabytes per account.
//!
//! Over a bound the answer is refused as a whole: nothing of it is stored. The one
//! exception is an avatar URL, which is decoration: one that is not an absolute http(s) URL
//! of at most [`MAX_AVATAR_URL_BYTES`] is dropped (`None`), not a failure.

use std::collections::HashSet;
use std::fmt;

use url::Url;

use crate::Secret;
use crate::provider::{Profile, Target, TokenSet};

/// An access or refresh token, in bytes (the bound `POST /accounts` puts on a host's token).
pub(crate) const MAX_TOKEN_BYTES: usize = 8192;
/// Granted scopes an answer may list.
pub(crate) const MAX_SCOPES: usize = 100;
/// One granted scope, in bytes.
pub(crate) const MAX_SCOPE_BYTES: usize = 256;
/// A profile's (or target's) id, username or display name, in bytes.
pub(crate) const MAX_PROFILE_TEXT_BYTES: usize = 1024;
/// An avatar URL, in bytes; a longer one is dropped.
pub(crate) const MAX_AVATAR_URL_BYTES: usize = 2048;
/// Targets a selection holds at most (more are dropped, in the provider's order, after
/// repeated ids are dropped).
pub(crate) const MAX_TARGETS: usize = 500;

/// The bound a provider answer broke: which field, and its limit. For logs and error
/// sources; it never holds the offending value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cap {
    /// The field (`access_token`, `scope`, `profile.username`, `target.id`, …).
    pub(crate) field: &'static str,
    /// What was allowed.
    pub(crate) limit: &'static str,
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the provider's {} is over its bound ({})", self.field, self.limit)
    }
}

impl std::error::Error for Cap {}

const TOKEN_LIMIT: &str = "1 to 8192 bytes";
const TEXT_LIMIT: &str = "at most 1024 bytes";
const ID_LIMIT: &str = "1 to 1024 bytes";

fn cap(field: &'static str, limit: &'static str) -> Cap {
    Cap { field, limit }
}

fn token_ok(token: &Secret<String>) -> bool {
    (1..=MAX_TOKEN_BYTES).contains(&token.expose_secret().len())
}

fn text_ok(text: Option<&String>) -> bool {
    text.is_none_or(|t| t.len() <= MAX_PROFILE_TEXT_BYTES)
}

fn id_ok(id: &str) -> bool {
    (1..=MAX_PROFILE_TEXT_BYTES).contains(&id.len())
}

/// A token set within the bounds: an access token of 1 to [`MAX_TOKEN_BYTES`], a refresh
/// token of at most that, at most [`MAX_SCOPES`] granted scopes of at most
/// [`MAX_SCOPE_BYTES`] each.
///
/// # Errors
/// The first bound it breaks.
pub(crate) fn check_tokens(tokens: &TokenSet) -> Result<(), Cap> {
    if !token_ok(&tokens.access_token) {
        return Err(cap("access_token", TOKEN_LIMIT));
    }
    if tokens.refresh_token.as_ref().is_some_and(|t| t.expose_secret().len() > MAX_TOKEN_BYTES) {
        return Err(cap("refresh_token", "at most 8192 bytes"));
    }
    if let Some(scopes) = &tokens.scopes {
        if scopes.len() > MAX_SCOPES {
            return Err(cap("scope", "at most 100 scopes"));
        }
        if scopes.iter().any(|s| s.len() > MAX_SCOPE_BYTES) {
            return Err(cap("scope", "at most 256 bytes a scope"));
        }
    }
    Ok(())
}

/// `url`, serialised as the URL standard does, when it is an absolute http(s) URL with a
/// host, of at most [`MAX_AVATAR_URL_BYTES`] (before and after), without whitespace or
/// control characters (which a URL parser would silently strip); else `None`.
fn avatar(url: Option<String>) -> Option<String> {
    let url = url?;
    if url.len() > MAX_AVATAR_URL_BYTES || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let parsed = Url::parse(&url).ok()?;
    let ok = matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some();
    Some(String::from(parsed)).filter(|u| ok && u.len() <= MAX_AVATAR_URL_BYTES)
}

/// A profile within the bounds: an id of 1 to [`MAX_PROFILE_TEXT_BYTES`], a username and
/// display name of at most that; a bad avatar URL becomes `None`.
///
/// # Errors
/// The first bound it breaks.
pub(crate) fn check_profile(profile: Profile) -> Result<Profile, Cap> {
    if !id_ok(&profile.id) {
        return Err(cap("profile.id", ID_LIMIT));
    }
    if !text_ok(profile.username.as_ref()) {
        return Err(cap("profile.username", TEXT_LIMIT));
    }
    if !text_ok(profile.display_name.as_ref()) {
        return Err(cap("profile.display_name", TEXT_LIMIT));
    }
    Ok(Profile { avatar_url: avatar(profile.avatar_url), ..profile })
}

/// A target within the bounds: as [`check_profile`] for its id, names and avatar, and its
/// own token (if any) as an access token in [`check_tokens`].
///
/// # Errors
/// The first bound it breaks.
pub(crate) fn check_target(target: Target) -> Result<Target, Cap> {
    if !id_ok(&target.id) {
        return Err(cap("target.id", ID_LIMIT));
    }
    if !text_ok(target.username.as_ref()) {
        return Err(cap("target.username", TEXT_LIMIT));
    }
    if !text_ok(target.display_name.as_ref()) {
        return Err(cap("target.display_name", TEXT_LIMIT));
    }
    if target.access_token.as_ref().is_some_and(|t| !token_ok(t)) {
        return Err(cap("target.access_token", TOKEN_LIMIT));
    }
    Ok(Target { avatar_url: avatar(target.avatar_url), ..target })
}

/// The targets a selection keeps: repeated ids dropped, then the first [`MAX_TARGETS`],
/// each within the bounds of [`check_target`].
///
/// # Errors
/// The first bound a kept target breaks (the listing is refused as a whole).
pub(crate) fn check_targets(targets: Vec<Target>) -> Result<Vec<Target>, Cap> {
    let mut seen = HashSet::new();
    targets.into_iter().filter(|t| seen.insert(t.id.clone())).take(MAX_TARGETS).map(check_target).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::TargetType;

    fn tokens(access: usize, refresh: Option<usize>, scopes: Option<Vec<String>>) -> TokenSet {
        TokenSet {
            access_token: Secret::new("a".repeat(access)),
            refresh_token: refresh.map(|n| Secret::new("r".repeat(n))),
            expires_in: None,
            scopes,
        }
    }

    fn profile(id: usize, name: usize, avatar: Option<&str>) -> Profile {
        Profile {
            id: "i".repeat(id),
            username: Some("u".repeat(name)),
            display_name: Some("d".repeat(name)),
            avatar_url: avatar.map(str::to_owned),
        }
    }

    fn target(id: &str, name: usize, token: Option<usize>) -> Target {
        Target {
            id: id.to_owned(),
            target_type: TargetType::Page,
            username: Some("u".repeat(name)),
            display_name: None,
            avatar_url: Some("javascript:alert(1)".to_owned()),
            access_token: token.map(|n| Secret::new("t".repeat(n))),
        }
    }

    #[test]
    fn tokens_at_the_bounds_pass_and_one_byte_or_scope_over_fails() {
        let scopes = |n: usize, len: usize| Some(vec!["s".repeat(len); n]);
        assert_eq!(check_tokens(&tokens(8192, Some(8192), scopes(100, 256))), Ok(()));
        assert_eq!(check_tokens(&tokens(8193, None, None)).unwrap_err().field, "access_token");
        assert_eq!(check_tokens(&tokens(0, None, None)).unwrap_err().field, "access_token");
        assert_eq!(check_tokens(&tokens(1, Some(8193), None)).unwrap_err().field, "refresh_token");
        assert_eq!(check_tokens(&tokens(1, None, scopes(101, 1))).unwrap_err().field, "scope");
        assert_eq!(check_tokens(&tokens(1, None, scopes(1, 257))).unwrap_err().field, "scope");
    }

    #[test]
    fn a_profile_over_a_text_bound_fails_and_a_bad_avatar_becomes_none() {
        let ok = check_profile(profile(1024, 1024, Some("https://cdn.example/a.png"))).unwrap();
        assert_eq!(ok.avatar_url.as_deref(), Some("https://cdn.example/a.png"));
        assert_eq!(check_profile(profile(1025, 1, None)).unwrap_err().field, "profile.id");
        assert_eq!(check_profile(profile(0, 1, None)).unwrap_err().field, "profile.id");
        let mut p = profile(1, 1, None);
        p.username = Some("é".repeat(513)); // 1026 bytes, 513 characters
        assert_eq!(check_profile(p).unwrap_err().field, "profile.username");
        assert_eq!(check_profile(profile(1, 1025, None)).unwrap_err().field, "profile.username");
        let long = format!("https://cdn.example/{}", "a".repeat(2048 - 20));
        assert_eq!(long.len(), 2048);
        assert_eq!(check_profile(profile(1, 1, Some(&long))).unwrap().avatar_url, Some(long.clone()));
        // Stored as the URL standard serialises it.
        let normalised = check_profile(profile(1, 1, Some("HTTPS://CDN.example"))).unwrap().avatar_url;
        assert_eq!(normalised.as_deref(), Some("https://cdn.example/"));
        for bad in [
            format!("{long}a"),
            "javascript:alert(1)".to_owned(),
            "data:image/png;base64,AAAA".to_owned(),
            "/relative.png".to_owned(),
            "https://cdn.example/a\n.png".to_owned(),
            " https://cdn.example/a.png".to_owned(),
            "file:///etc/passwd".to_owned(),
            "https://".to_owned(),
        ] {
            assert_eq!(check_profile(profile(1, 1, Some(&bad))).unwrap().avatar_url, None, "{bad:?}");
        }
    }

    #[test]
    fn targets_are_deduplicated_cut_at_the_maximum_and_each_checked() {
        let many: Vec<Target> = (0..MAX_TARGETS + 10).map(|i| target(&i.to_string(), 1, None)).collect();
        let mut listed = vec![target("0", 1, None)];
        listed.extend(many);
        let kept = check_targets(listed).unwrap();
        assert_eq!(kept.len(), MAX_TARGETS);
        assert!(kept.iter().all(|t| t.avatar_url.is_none()), "a javascript: avatar is dropped");
        // Beyond the maximum a bad target is never looked at.
        let mut past: Vec<Target> = (0..MAX_TARGETS).map(|i| target(&i.to_string(), 1, None)).collect();
        past.push(target("late", 2000, None));
        assert_eq!(check_targets(past).map(|t| t.len()), Ok(MAX_TARGETS));
        assert_eq!(check_targets(vec![target("a", 1025, None)]).unwrap_err().field, "target.username");
        assert_eq!(check_targets(vec![target("a", 1, Some(8193))]).unwrap_err().field, "target.access_token");
        assert_eq!(check_targets(vec![target("", 1, None)]).unwrap_err().field, "target.id");
        assert!(check_targets(vec![target("a", 1024, Some(8192))]).is_ok());
    }
}
