//! Segment-boundary path prefixes.
//!
//! One helper shared by the return-URL allowlist (an entry's path covers a
//! candidate's path) and by the HTTP layer (a route prefix such as `/v1` covers a
//! request path). A plain `str::starts_with` is wrong for both: `/v1` must not cover
//! `/v10`, and `/connect` must not cover `/connectx`.
//!
//! The rules, for a `prefix` and a `path` (both normally starting with `/`):
//!
//! - `""` and `"/"` cover every path.
//! - A prefix that does not end in `/` (`/connect`) covers the path equal to it and
//!   every path that continues it with a `/` (`/connect/`, `/connect/done`), but not
//!   `/connectx`.
//! - A prefix that ends in `/` (`/connect/`) covers every path that starts with it
//!   (`/connect/`, `/connect/done`), but not the bare name (`/connect`).
//!
//! Comparison is byte-wise and case-sensitive: `/CONNECT` is not covered by
//! `/connect`. Nothing is decoded or normalised here; callers hand in paths that are
//! already in their canonical form.

/// Whether `prefix` covers `path` on a segment boundary (see the module docs).
///
/// `/v1` covers `/v1`, `/v1/` and `/v1/x`, but not `/v10`; `/v1/` covers `/v1/` and
/// `/v1/x`, but not `/v1`; `""` and `/` cover everything.
pub fn path_has_prefix(path: &str, prefix: &str) -> bool {
    strip_path_prefix(path, prefix).is_some()
}

/// The part of `path` below `prefix`, when `prefix` covers `path` (see
/// [`path_has_prefix`]); `None` otherwise.
///
/// The rest keeps its leading `/`, so it can be routed as a path of its own:
///
/// | path          | prefix      | result          |
/// |---------------|-------------|-----------------|
/// | `/v1`         | `/v1`       | `Some("")`      |
/// | `/v1/`        | `/v1`       | `Some("/")`     |
/// | `/v1/x`       | `/v1`       | `Some("/x")`    |
/// | `/v10`        | `/v1`       | `None`          |
/// | `/v1/x`       | `/v1/`      | `Some("/x")`    |
/// | `/v1/`        | `/v1/`      | `Some("/")`     |
/// | `/v1`         | `/v1/`      | `None`          |
/// | `/x`          | `/` or `""` | `Some("/x")`    |
///
/// An exact match gives `Some("")` (not `Some("/")`), so a caller can tell `/v1`
/// from `/v1/`; a router that wants a path there treats `""` as `/`. With the prefix
/// `""` or `/` the whole path is returned unchanged.
pub fn strip_path_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() || prefix == "/" {
        return Some(path);
    }
    match prefix.strip_suffix('/') {
        // `/connect/`: the path must continue `/connect` with a `/`; the rest keeps it.
        Some(base) => path.strip_prefix(base).filter(|rest| rest.starts_with('/')),
        // `/connect`: either the whole path, or a continuation starting with `/`.
        None => path.strip_prefix(prefix).filter(|rest| rest.is_empty() || rest.starts_with('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::{path_has_prefix, strip_path_prefix};

    #[test]
    fn a_prefix_covers_itself_and_what_is_below_it() {
        for path in ["/connect", "/connect/", "/connect/done", "/connect/a/b"] {
            assert!(path_has_prefix(path, "/connect"), "{path}");
        }
    }

    #[test]
    fn a_prefix_does_not_cover_a_longer_segment_name() {
        for path in ["/connectx", "/connect-x", "/connect.json", "/connect%2f"] {
            assert!(!path_has_prefix(path, "/connect"), "{path}");
        }
        assert!(!path_has_prefix("/v10", "/v1"));
        assert!(!path_has_prefix("/v10/x", "/v1"));
    }

    #[test]
    fn a_prefix_does_not_cover_a_shorter_or_different_path() {
        assert!(!path_has_prefix("/conn", "/connect"));
        assert!(!path_has_prefix("/", "/connect"));
        assert!(!path_has_prefix("", "/connect"));
        assert!(!path_has_prefix("/other/connect", "/connect"));
    }

    #[test]
    fn matching_is_case_sensitive() {
        assert!(!path_has_prefix("/CONNECT", "/connect"));
        assert!(!path_has_prefix("/Connect/done", "/connect"));
        assert!(!path_has_prefix("/connect", "/CONNECT"));
    }

    #[test]
    fn a_prefix_ending_in_a_slash_covers_what_is_below_it_but_not_the_bare_name() {
        assert!(path_has_prefix("/connect/", "/connect/"));
        assert!(path_has_prefix("/connect/done", "/connect/"));
        assert!(path_has_prefix("/connect/a/b/", "/connect/"));
        assert!(!path_has_prefix("/connect", "/connect/"));
        assert!(!path_has_prefix("/connectx/", "/connect/"));
        assert!(!path_has_prefix("/connectx", "/connect/"));
    }

    #[test]
    fn the_root_and_the_empty_prefix_cover_everything() {
        for path in ["/", "/x", "/x/y/", "", "/connectx"] {
            assert!(path_has_prefix(path, "/"), "{path}");
            assert!(path_has_prefix(path, ""), "{path}");
        }
    }

    #[test]
    fn strip_returns_the_rest_with_its_leading_slash() {
        assert_eq!(strip_path_prefix("/v1", "/v1"), Some(""));
        assert_eq!(strip_path_prefix("/v1/", "/v1"), Some("/"));
        assert_eq!(strip_path_prefix("/v1/x", "/v1"), Some("/x"));
        assert_eq!(strip_path_prefix("/v1/x/y", "/v1"), Some("/x/y"));
        assert_eq!(strip_path_prefix("/v1/x", "/v1/"), Some("/x"));
        assert_eq!(strip_path_prefix("/v1/", "/v1/"), Some("/"));
        assert_eq!(strip_path_prefix("/api/v1/x", "/api/v1"), Some("/x"));
    }

    #[test]
    fn strip_refuses_what_the_prefix_does_not_cover() {
        assert_eq!(strip_path_prefix("/v10", "/v1"), None);
        assert_eq!(strip_path_prefix("/v10/x", "/v1"), None);
        assert_eq!(strip_path_prefix("/v1", "/v1/"), None);
        assert_eq!(strip_path_prefix("/V1/x", "/v1"), None);
        assert_eq!(strip_path_prefix("/", "/v1"), None);
    }

    #[test]
    fn strip_with_the_root_or_empty_prefix_returns_the_whole_path() {
        assert_eq!(strip_path_prefix("/x", "/"), Some("/x"));
        assert_eq!(strip_path_prefix("/x", ""), Some("/x"));
        assert_eq!(strip_path_prefix("/", "/"), Some("/"));
        assert_eq!(strip_path_prefix("", ""), Some(""));
    }

    #[test]
    fn strip_agrees_with_has_prefix_on_a_grid_of_paths() {
        let paths = ["", "/", "/a", "/a/", "/ab", "/a/b", "/a/b/", "/ab/c", "/A", "a", "a/", "a/b", "//"];
        let prefixes = ["", "/", "/a", "/a/", "/ab", "/a/b", "/a/b/", "a", "a/", "//"];
        for path in paths {
            for prefix in prefixes {
                let stripped = strip_path_prefix(path, prefix);
                assert_eq!(stripped.is_some(), path_has_prefix(path, prefix));
                if let Some(rest) = stripped {
                    // What was stripped plus the rest gives the path back.
                    assert!(path.ends_with(rest), "{path} {prefix} {rest}");
                    assert!(
                        prefix.is_empty() || prefix == "/" || rest.is_empty() || rest.starts_with('/'),
                        "{path} {prefix} {rest}"
                    );
                }
            }
        }
    }
}
