//! The return-URL allowlist (SECURITY.md, "Open redirect").
//!
//! A tenant lists the URLs its users may be sent back to after a connect flow, and
//! every `return_url` is checked against that list twice: at `start` and again at the
//! callback, against the list as it is then. Only the [`Url`] that [`check`] returns is
//! ever redirected to, never the raw input.
//!
//! The check runs in two stages, because a URL parser repairs a lot of input silently
//! (it strips tabs and newlines, trims spaces, reads `\` as `/`, accepts `https:host`
//! and `https:///host`, resolves `%2e%2e`), so a check on the parsed URL alone can be
//! fooled:
//!
//! 1. The raw string is inspected first and anything two parsers could read
//!    differently is refused: backslashes, control, whitespace and invisible
//!    characters, anything but exactly `http://` or `https://` at the start, any `@` in
//!    the authority, a percent sign, an empty label or a trailing dot in the host, and in
//!    the path `//`, `.`/`..` segments (also `..;`) and the encodings `%2e`, `%2f`, `%5c`,
//!    `%25`.
//! 2. The string is then parsed once with [`Url::parse`], and the parsed parts are
//!    compared with the entries: scheme, host (lower-case, IDNA to punycode), effective
//!    port (`443`/`80` equal no port) and the path on a segment boundary
//!    (`core::prefix::path_has_prefix`). The query and the fragment take no part in
//!    matching.
//!
//! Entries are indexed by origin, and an entry path is found by looking up the
//! candidate's own segment-boundary prefixes, so a check costs the same with one entry
//! or ten thousand.
//!
//! [`check`]: ReturnUrlAllowlist::check

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use percent_encoding::percent_decode_str;
use url::{Host, Url};

use crate::prefix::path_has_prefix;

/// The longest return URL (and allowlist entry) accepted, in bytes.
const MAX_LEN: usize = 4096;

/// Options for building a [`ReturnUrlAllowlist`].
///
/// The default is the strict setting: `http` only for loopback hosts.
///
/// ```rust
/// use dravo_connect_core::allowlist::{AllowlistOptions, ReturnUrlAllowlist};
///
/// let options = AllowlistOptions::default().allow_http(true);
/// let allowlist = ReturnUrlAllowlist::with_options(["http://intranet.example/connect"], options)?;
/// assert!(allowlist.check("http://intranet.example/connect/done").is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct AllowlistOptions {
    /// Accept `http` entries and return URLs for any host, not only for loopback
    /// hosts (`localhost`, `127.0.0.0/8`, `[::1]`). Off by default: a plain-http
    /// return URL sends the flow's result over the network in clear text.
    pub allow_http: bool,
}

impl AllowlistOptions {
    /// Sets [`allow_http`](AllowlistOptions#structfield.allow_http): whether `http`
    /// entries and return URLs are accepted beyond loopback hosts.
    #[must_use]
    pub fn allow_http(mut self, yes: bool) -> Self {
        self.allow_http = yes;
        self
    }
}

/// The scheme and effective port of an origin; the host is the outer map's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SchemePort {
    https: bool,
    port: u16,
}

/// The allowlist of URLs a connect flow may return the browser to.
///
/// Built once (at startup, or when an app's `allowed_return_urls` are saved) with
/// [`new`](Self::new) or [`with_options`](Self::with_options); every `return_url` then
/// goes through [`check`](Self::check), and only the [`Url`] it returns is redirected
/// to. Entries are URLs, never patterns: there are no wildcards for hosts, ports or
/// paths.
///
/// Cloning copies the entries (not the candidates it remembers, below); the type has no
/// cap on their number (the HTTP API caps an app at 100 entries of 2 KiB).
///
/// An allowlist remembers the last four candidates it accepted (each at most 256 bytes)
/// and answers the same string again without parsing it: the answer for a string never
/// changes, since an allowlist never does. Refusals are not remembered.
#[derive(Clone)]
pub struct ReturnUrlAllowlist {
    /// Normalised entries, in the order given, without duplicates.
    entries: Vec<String>,
    /// host → (scheme, effective port) → entry paths.
    index: HashMap<Box<str>, HashMap<SchemePort, HashSet<Box<str>>>>,
    options: AllowlistOptions,
    /// The last few candidates accepted, each with the URL it was accepted as.
    accepted: Accepted,
}

/// How many accepted candidates an allowlist remembers, and the longest it remembers.
const ACCEPTED_SLOTS: usize = 4;
const ACCEPTED_MAX_LEN: usize = 256;

/// The last [`ACCEPTED_SLOTS`] candidates [`ReturnUrlAllowlist::check`] accepted, with the
/// URL it returned for each. A host sends its users back to one or a few return URLs, and
/// parsing one (IDNA included) is the dearest part of the check; the answer for the same
/// string and the same (immutable) allowlist never changes, so a byte-for-byte equal
/// candidate is answered from here. Refusals are never remembered. Written by hand: a
/// four-slot cache under a mutex that is only ever tried, never waited for (a busy slot
/// means the full check runs), is less than any cache crate does.
///
/// Kept for a goal figure (BENCHMARKS.md): it takes about a fifth of a `start`'s
/// instructions (the URL parse with IDNA), and the `start` throughput against a hello
/// route, at least 60%, is met on actix only narrowly with it.
#[derive(Default)]
struct Accepted(Mutex<AcceptedSlots>);

#[derive(Default)]
struct AcceptedSlots {
    slots: [Option<(Box<str>, Url)>; ACCEPTED_SLOTS],
    /// The slot the next accepted candidate replaces (round robin).
    next: usize,
}

impl Accepted {
    fn get(&self, candidate: &str) -> Option<Url> {
        let slots = self.0.try_lock().ok()?;
        slots.slots.iter().flatten().find(|(raw, _)| **raw == *candidate).map(|(_, url)| url.clone())
    }

    fn put(&self, candidate: &str, url: &Url) {
        if candidate.len() > ACCEPTED_MAX_LEN {
            return;
        }
        let Ok(mut slots) = self.0.try_lock() else { return };
        let next = slots.next;
        if let Some(slot) = slots.slots.get_mut(next) {
            *slot = Some((candidate.into(), url.clone()));
        }
        slots.next = (next + 1) % ACCEPTED_SLOTS;
    }
}

/// A clone starts with nothing remembered.
impl Clone for Accepted {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl fmt::Debug for ReturnUrlAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReturnUrlAllowlist").field("entries", &self.entries).field("options", &self.options).finish()
    }
}

impl ReturnUrlAllowlist {
    /// The longest return URL, and the longest entry, accepted: 4096 bytes.
    pub const MAX_URL_LEN: usize = MAX_LEN;

    /// Builds an allowlist from absolute `http(s)://host[:port][/path]` URLs, with the
    /// default [`AllowlistOptions`] (`http` only for loopback hosts).
    ///
    /// An entry with an empty path covers its whole origin (the path is `/`). An entry
    /// whose path ends in `/` covers what is below it but not the bare name
    /// (`https://app.acme.com/connect/` covers `/connect/done`, not `/connect`); one
    /// without covers both (`/connect` covers `/connect`, `/connect/` and
    /// `/connect/done`, but not `/connectx`).
    ///
    /// ```rust
    /// use dravo_connect_core::allowlist::ReturnUrlAllowlist;
    ///
    /// let allowlist = ReturnUrlAllowlist::new([
    ///     "https://App.Acme.Com:443/connect",
    ///     "https://bücher.example/",
    ///     "http://localhost:3000/cb",
    /// ])?;
    /// assert_eq!(
    ///     allowlist.entries(),
    ///     [
    ///         "https://app.acme.com/connect",
    ///         "https://xn--bcher-kva.example/",
    ///         "http://localhost:3000/cb",
    ///     ]
    /// );
    /// assert!(ReturnUrlAllowlist::new(["https://*.acme.com/"]).is_err());
    /// assert!(ReturnUrlAllowlist::new(["http://app.acme.com/"]).is_err());
    /// # Ok::<(), dravo_connect_core::allowlist::AllowlistError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`AllowlistError::InvalidEntry`], naming the first entry refused and why, when an
    /// entry is not an absolute `http` or `https` URL; has userinfo, a query, a fragment
    /// or a `*`; has a `.`/`..` segment, `//`, or `%2e`, `%2f`, `%5c` or `%25` in its
    /// path; has a trailing-dot, empty-label or percent-encoded host; contains a
    /// backslash, control, whitespace or invisible character; is longer than
    /// [`MAX_URL_LEN`](Self::MAX_URL_LEN) bytes; or uses `http` for a host that is not
    /// loopback.
    ///
    /// # Security
    ///
    /// Entries are checked as strictly as return URLs, so that an entry means the same
    /// thing to every parser. Entries are never patterns: `*` is refused rather than
    /// interpreted, and hosts, ports and paths are compared exactly (paths on a segment
    /// boundary). `http` is refused beyond loopback unless
    /// [`AllowlistOptions::allow_http`] is set with [`with_options`](Self::with_options).
    pub fn new<I, S>(entries: I) -> Result<Self, AllowlistError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_options(entries, AllowlistOptions::default())
    }

    /// Builds an allowlist like [`new`](Self::new), with the given options.
    ///
    /// # Errors
    ///
    /// As for [`new`](Self::new); with
    /// [`allow_http`](AllowlistOptions#structfield.allow_http) set, `http` entries for
    /// any host are accepted.
    pub fn with_options<I, S>(entries: I, options: AllowlistOptions) -> Result<Self, AllowlistError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut allowlist =
            Self { entries: Vec::new(), index: HashMap::default(), options, accepted: Accepted::default() };
        for entry in entries {
            let raw = entry.as_ref();
            let url = parse_entry(raw, options)
                .map_err(|reason| AllowlistError::InvalidEntry { entry: raw.to_owned(), reason })?;
            allowlist.insert(&url).map_err(|reason| AllowlistError::InvalidEntry { entry: raw.to_owned(), reason })?;
        }
        Ok(allowlist)
    }

    fn insert(&mut self, url: &Url) -> Result<(), &'static str> {
        let (host, origin) = origin_of(url).ok_or(ReturnUrlErrorKind::Malformed.reason())?;
        let paths = self.index.entry(Box::from(host)).or_default().entry(origin).or_default();
        if paths.insert(Box::from(url.path())) {
            self.entries.push(url.as_str().to_owned());
        }
        Ok(())
    }

    /// Checks a candidate return URL and returns it parsed, ready to redirect to.
    ///
    /// The candidate must be an absolute `http` or `https` URL whose scheme, host
    /// (case-insensitive, IDNA-normalised) and effective port equal an entry's, and
    /// whose path continues the entry's path on a segment boundary (case-sensitive).
    /// The query and the fragment are kept but take no part in matching.
    ///
    /// ```rust
    /// use dravo_connect_core::allowlist::{ReturnUrlAllowlist, ReturnUrlErrorKind};
    ///
    /// let allowlist = ReturnUrlAllowlist::new(["https://app.acme.com/connect"])?;
    ///
    /// let url = allowlist.check("HTTPS://App.Acme.Com:443/connect/done?tab=2#top")?;
    /// assert_eq!(url.as_str(), "https://app.acme.com/connect/done?tab=2#top");
    ///
    /// for refused in [
    ///     "https://app.acme.com/connectx",
    ///     "https://app.acme.com/connect/../admin",
    ///     "https://app.acme.com@evil.com/connect",
    ///     "https://app.acme.com.evil.com/connect",
    ///     "/connect",
    ///     "//evil.com",
    /// ] {
    ///     assert!(allowlist.check(refused).is_err(), "{refused}");
    /// }
    /// let err = allowlist.check("https://evil.com/connect").unwrap_err();
    /// assert_eq!(err.kind(), ReturnUrlErrorKind::NotInAllowlist);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ReturnUrlError`] whose [`kind`](ReturnUrlError::kind) says why the candidate
    /// was refused: it is too long, malformed, not absolute, not `http(s)`, plain `http`
    /// to a host that is not loopback, has userinfo, a forbidden character, an invalid
    /// host, an encoded separator, a dot segment or an empty segment in its path, or it
    /// is simply not covered by any entry. The error's message never repeats the
    /// candidate.
    ///
    /// # Security
    ///
    /// Redirect to the returned [`Url`] (its serialisation), never to the input string:
    /// the returned value is what was checked. The raw string is inspected before it is
    /// parsed, and whatever two URL parsers (or a browser and a server) could read
    /// differently is refused rather than repaired: backslashes, control and whitespace
    /// characters (raw or percent-encoded), `scheme:host` and `scheme:///host`, any `@`
    /// before the path, `//`, `.`, `..` and `..;` in the path, and `%2e`, `%2f`, `%5c` or
    /// `%25` in the path, and (raw or encoded) any non-ASCII character in the path that a
    /// server folding it with NFKC would read as `.`, `/`, `\`, `%` or `;` (`‥` reads as
    /// `..`). There is no port wildcard, even for loopback hosts.
    pub fn check(&self, candidate: &str) -> Result<Url, ReturnUrlError> {
        if let Some(url) = self.accepted.get(candidate) {
            return Ok(url);
        }
        let url = self.check_uncached(candidate)?;
        self.accepted.put(candidate, &url);
        Ok(url)
    }

    /// [`check`](Self::check) without the accepted candidates remembered.
    fn check_uncached(&self, candidate: &str) -> Result<Url, ReturnUrlError> {
        let raw_host = check_raw(candidate)?;
        let url = Url::parse(candidate).map_err(|_| ReturnUrlErrorKind::Malformed)?;
        // The serialisation is what is stored and re-checked at callback time; percent-
        // encoding can make it longer than the input (found by fuzzing: an input under the
        // cap whose serialisation was over it passed `start` and failed every callback).
        if url.as_str().len() > MAX_LEN {
            return Err(ReturnUrlErrorKind::TooLong.into());
        }
        check_parsed(&url, raw_host)?;
        if url.scheme() == "http" && !self.options.allow_http && !is_loopback(&url) {
            return Err(ReturnUrlErrorKind::HttpNotAllowed.into());
        }
        let (host, origin) = origin_of(&url).ok_or(ReturnUrlErrorKind::Malformed)?;
        let paths =
            self.index.get(host).and_then(|origins| origins.get(&origin)).ok_or(ReturnUrlErrorKind::NotInAllowlist)?;
        if covers(paths, url.path()) { Ok(url) } else { Err(ReturnUrlErrorKind::NotInAllowlist.into()) }
    }

    /// The entries, normalised (scheme and host lower-case, IDNA hosts in punycode,
    /// default port dropped, empty path as `/`, path kept as given), in the order given,
    /// duplicates removed.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// The number of distinct entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the allowlist has no entries (it then refuses every return URL).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Why an allowlist entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllowlistError {
    /// An entry is not an acceptable return URL.
    #[error("invalid allowlist entry {entry:?}: {reason}")]
    InvalidEntry {
        /// The entry as given.
        entry: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

/// Why a candidate return URL was refused.
///
/// Its message is a short, fixed reason: it never repeats the candidate, which may
/// come from an attacker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("return URL refused: {kind}")]
pub struct ReturnUrlError {
    kind: ReturnUrlErrorKind,
}

impl ReturnUrlError {
    /// What was wrong with the candidate.
    pub fn kind(&self) -> ReturnUrlErrorKind {
        self.kind
    }
}

impl From<ReturnUrlErrorKind> for ReturnUrlError {
    fn from(kind: ReturnUrlErrorKind) -> Self {
        Self { kind }
    }
}

/// The kinds of [`ReturnUrlError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReturnUrlErrorKind {
    /// The URL cannot be parsed: a bad port, a bad percent-encoding or one that is not
    /// UTF-8, an invalid IDNA host, and the like.
    Malformed,
    /// Not an absolute URL beginning with exactly `scheme://` and a host: a relative or
    /// protocol-relative URL, `https:host`, `https:///host`.
    NotAbsolute,
    /// A scheme other than `http` or `https` (`javascript:`, `data:`, `ftp:` …).
    SchemeNotAllowed,
    /// Plain `http` to a host that is not loopback, without
    /// [`AllowlistOptions::allow_http`].
    HttpNotAllowed,
    /// An `@` in the authority (userinfo), however it is spelled.
    Userinfo,
    /// A backslash, or a control, whitespace or invisible character anywhere (raw), or
    /// a control, invisible or look-alike separator character in the path (raw or
    /// percent-encoded): a non-ASCII character whose compatibility form (NFKC) holds `.`,
    /// `/`, `\`, `%` or `;` (`‥`, `／`, `％` …), or a "best fit" look-alike (`∕`, `⧵` …).
    ForbiddenCharacter,
    /// An empty host, a host with an empty label or a trailing dot, a percent sign in
    /// the host, or an IPv4 address not written in its usual dotted form.
    InvalidHost,
    /// An encoded `.`, `/`, `\` or `%` (`%2e`, `%2f`, `%5c`, `%25`) in the path.
    EncodedSeparator,
    /// A `.` or `..` segment in the path, also with a `;` parameter (`..;`).
    DotSegment,
    /// `//` in the path.
    EmptySegment,
    /// A well-formed URL that no entry covers.
    NotInAllowlist,
    /// Longer than [`ReturnUrlAllowlist::MAX_URL_LEN`] bytes.
    TooLong,
}

impl ReturnUrlErrorKind {
    /// A short reason, worded for both return URLs and allowlist entries.
    fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed URL",
            Self::NotAbsolute => "not an absolute URL beginning with http:// or https:// and a host",
            Self::SchemeNotAllowed => "only http and https URLs are allowed",
            Self::HttpNotAllowed => "http is only allowed for loopback hosts (localhost, 127.0.0.0/8, [::1])",
            Self::Userinfo => "userinfo ('@' before the path) is not allowed",
            Self::ForbiddenCharacter => "contains a backslash, or a control, whitespace or invisible character",
            Self::InvalidHost => "invalid host (empty, percent-encoded, empty label or trailing dot)",
            Self::EncodedSeparator => "encoded '.', '/', '\\' or '%' in the path",
            Self::DotSegment => "'.' or '..' segment in the path",
            Self::EmptySegment => "'//' in the path",
            Self::NotInAllowlist => "not in the allowlist",
            Self::TooLong => "longer than 4096 bytes",
        }
    }
}

impl fmt::Display for ReturnUrlErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// Parses and validates one allowlist entry.
fn parse_entry(raw: &str, options: AllowlistOptions) -> Result<Url, &'static str> {
    if raw.len() > MAX_LEN {
        return Err(ReturnUrlErrorKind::TooLong.reason());
    }
    if raw.contains('*') {
        return Err("contains '*': entries are URLs, never patterns");
    }
    let raw_host = check_raw(raw).map_err(ReturnUrlErrorKind::reason)?;
    // The raw check has refused '?' and '#' inside the authority, so any '?' starts a
    // query and any '#' a fragment.
    if raw.contains('?') {
        return Err("has a query: entries cannot carry one");
    }
    if raw.contains('#') {
        return Err("has a fragment: entries cannot carry one");
    }
    let url = Url::parse(raw).map_err(|_| ReturnUrlErrorKind::Malformed.reason())?;
    check_parsed(&url, raw_host).map_err(ReturnUrlErrorKind::reason)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("has a query or a fragment: entries cannot carry one");
    }
    if url.scheme() == "http" && !options.allow_http && !is_loopback(&url) {
        return Err("http is only allowed for loopback hosts (localhost, 127.0.0.0/8, [::1]) unless allow_http is set");
    }
    Ok(url)
}

/// The raw-string stage of the check, shared by entries and candidates. It accepts
/// nothing a URL parser would have to repair. Returns the host as written.
fn check_raw(input: &str) -> Result<&str, ReturnUrlErrorKind> {
    if input.len() > MAX_LEN {
        return Err(ReturnUrlErrorKind::TooLong);
    }
    if input.chars().any(is_forbidden_raw) {
        return Err(ReturnUrlErrorKind::ForbiddenCharacter);
    }

    // Exactly `scheme://` followed by something that is not a `/`.
    let (scheme, rest) = input.split_once(':').ok_or(ReturnUrlErrorKind::NotAbsolute)?;
    if !is_scheme(scheme) {
        return Err(ReturnUrlErrorKind::NotAbsolute);
    }
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return Err(ReturnUrlErrorKind::SchemeNotAllowed);
    }
    let after = rest.strip_prefix("//").ok_or(ReturnUrlErrorKind::NotAbsolute)?;
    if after.is_empty() || after.starts_with('/') {
        return Err(ReturnUrlErrorKind::NotAbsolute);
    }

    // The authority runs to the first `/`, `?` or `#` (`\` is already refused).
    let authority_end = after.bytes().position(|b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(after.len());
    let (authority, tail) = after.split_at_checked(authority_end).ok_or(ReturnUrlErrorKind::Malformed)?;
    if authority.as_bytes().contains(&b'@') {
        return Err(ReturnUrlErrorKind::Userinfo);
    }
    let (host, port) = split_host_port(authority)?;
    check_raw_host(host)?;
    if let Some(port) = port {
        // No empty port, no sign, no spaces: digits only (the parser checks the range).
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReturnUrlErrorKind::Malformed);
        }
    }

    let path_end = tail.bytes().position(|b| matches!(b, b'?' | b'#')).unwrap_or(tail.len());
    let path = tail.get(..path_end).ok_or(ReturnUrlErrorKind::Malformed)?;
    check_raw_path(path)?;
    Ok(host)
}

/// Characters refused anywhere in the raw string.
fn is_forbidden_raw(c: char) -> bool {
    c == '\\' || c.is_control() || c.is_whitespace() || is_invisible(c)
}

/// Default-ignorable and bidirectional-control code points: invisible when shown,
/// and dropped by some normalisers, so a string holding one reads differently to
/// different readers.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// The ASCII characters that give a path its structure once a server has folded it with
/// Unicode compatibility normalisation (NFKC): `.` and `/` make dot segments, `\` a
/// separator, `%` a second percent-decoding (`％2e` folds to `%2e`) and `;` a path parameter
/// (`..﹔` folds to `..;`).
const FOLDED_SEPARATORS: [char; 5] = ['.', '/', '\\', '%', ';'];

/// Characters that some servers fold into a separator or a dot; refused in the path:
/// every non-ASCII code point whose NFKC form holds one of [`FOLDED_SEPARATORS`] (`‥`
/// U+2025 and `︰` U+FE30 fold to `..`, `／` U+FF0F to `/`, `％` U+FF05 to `%`), derived
/// from the Unicode data, and the few "best fit" look-alikes that NFKC leaves alone.
/// ASCII characters are judged by the other rules only.
fn is_lookalike_separator(c: char) -> bool {
    !c.is_ascii() && (folds_to_separator(c) || is_best_fit_separator(c))
}

/// Whether the NFKC form of `c` holds one of [`FOLDED_SEPARATORS`]. NFKC is the
/// compatibility decomposition recomposed, and no composition takes in or gives one of
/// these ASCII characters, so the decomposition (a table lookup) answers as NFKC does; a
/// test checks that for every code point.
fn folds_to_separator(c: char) -> bool {
    let mut hit = false;
    unicode_normalization::char::decompose_compatible(c, |d| hit |= FOLDED_SEPARATORS.contains(&d));
    hit
}

/// Look-alikes of `/`, `\` and `.` without a compatibility decomposition, which "best fit"
/// code-page conversions and IDNA-style mappings still turn into the ASCII character (a
/// test checks that NFKC does not already cover them).
fn is_best_fit_separator(c: char) -> bool {
    matches!(
        c,
        '\u{2044}' // fraction slash
            | '\u{2215}' // division slash
            | '\u{2216}' // set minus
            | '\u{29F5}' // reverse solidus operator
            | '\u{29F8}' // big solidus
            | '\u{29F9}' // big reverse solidus
            | '\u{3002}' // ideographic full stop
            | '\u{FF61}' // halfwidth ideographic full stop (NFKC: U+3002)
    )
}

/// RFC 3986 `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Splits `host[:port]` (the host may be a bracketed IPv6 literal).
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), ReturnUrlErrorKind> {
    let (host, rest) = if authority.starts_with('[') {
        let close = authority.find(']').ok_or(ReturnUrlErrorKind::Malformed)?;
        authority.split_at_checked(close + 1).ok_or(ReturnUrlErrorKind::Malformed)?
    } else {
        authority.find(':').and_then(|colon| authority.split_at_checked(colon)).unwrap_or((authority, ""))
    };
    if rest.is_empty() {
        Ok((host, None))
    } else {
        rest.strip_prefix(':').map(|port| (host, Some(port))).ok_or(ReturnUrlErrorKind::Malformed)
    }
}

fn check_raw_host(host: &str) -> Result<(), ReturnUrlErrorKind> {
    if host.is_empty()
        || host.as_bytes().contains(&b'%')
        || host.starts_with('.')
        || host.ends_with('.')
        || has_ascii(host, *b"..")
    {
        return Err(ReturnUrlErrorKind::InvalidHost);
    }
    Ok(())
}

fn check_raw_path(path: &str) -> Result<(), ReturnUrlErrorKind> {
    if has_ascii(path, *b"//") {
        return Err(ReturnUrlErrorKind::EmptySegment);
    }
    if has_ascii(path, *b"..;") {
        return Err(ReturnUrlErrorKind::DotSegment);
    }

    // Percent-encodings: well-formed, and none of `.`, `/`, `\`, `%`.
    let bytes = path.as_bytes();
    let mut escaped = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let decoded = bytes
                .get(i + 1)
                .and_then(|&h| hex_value(h))
                .zip(bytes.get(i + 2).and_then(|&l| hex_value(l)))
                .map(|(h, l)| (h << 4) | l)
                .ok_or(ReturnUrlErrorKind::Malformed)?;
            if matches!(decoded, b'.' | b'/' | b'\\' | b'%') {
                return Err(ReturnUrlErrorKind::EncodedSeparator);
            }
            escaped = true;
            i += 3;
        } else {
            i += 1;
        }
    }
    // Decoded, the path must be UTF-8 (no overlong forms of `.` or `/`) and hold no
    // control, invisible or look-alike separator character (`/%09/evil.com`).
    if escaped || !path.is_ascii() {
        let decoded = percent_decode_str(path).decode_utf8().map_err(|_| ReturnUrlErrorKind::Malformed)?;
        let forbidden = |c: char| {
            if c.is_ascii() {
                c.is_ascii_control()
            } else {
                c.is_control() || is_invisible(c) || is_lookalike_separator(c)
            }
        };
        if decoded.chars().any(forbidden) {
            return Err(ReturnUrlErrorKind::ForbiddenCharacter);
        }
    }

    if path.split('/').any(is_dot_segment) {
        return Err(ReturnUrlErrorKind::DotSegment);
    }
    Ok(())
}

/// Whether `s` holds `needle` (ASCII bytes, so a byte match is a substring match). A
/// fixed-size window compare in one pass: on these short strings `str::contains` with a
/// string needle spends more setting up its substring search than this whole loop costs.
fn has_ascii<const N: usize>(s: &str, needle: [u8; N]) -> bool {
    s.as_bytes().windows(N).any(|w| <[u8; N]>::try_from(w).is_ok_and(|w| w == needle))
}

/// `.` or `..`, also followed by a `;` parameter (which Tomcat and Spring strip), raw
/// or encoded as `%3b`.
fn is_dot_segment(segment: &str) -> bool {
    let name = segment.strip_prefix("..").or_else(|| segment.strip_prefix('.'));
    name.is_some_and(|rest| {
        rest.is_empty() || rest.starts_with(';') || rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%3b"))
    })
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The parsed stage: what the raw stage cannot see (IDNA mappings, IPv4 spellings) or
/// should already have refused, checked again on the parsed URL. `raw_host` is the
/// host as written.
fn check_parsed(url: &Url, raw_host: &str) -> Result<(), ReturnUrlErrorKind> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ReturnUrlErrorKind::SchemeNotAllowed);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ReturnUrlErrorKind::Userinfo);
    }
    let host = url.host_str().ok_or(ReturnUrlErrorKind::NotAbsolute)?;
    // IDNA maps `。` and friends to `.`, so the host is checked again once mapped.
    check_raw_host(host)?;
    // `127.1`, `0x7f.0.0.1` and `2130706433` all parse as 127.0.0.1: only the usual
    // dotted form is accepted, so that an address reads the same everywhere.
    if let Some(Host::Ipv4(ip)) = url.host()
        && raw_host.parse::<Ipv4Addr>() != Ok(ip)
    {
        return Err(ReturnUrlErrorKind::InvalidHost);
    }
    let path = url.path();
    if has_ascii(path, *b"//") {
        return Err(ReturnUrlErrorKind::EmptySegment);
    }
    if path.split('/').any(is_dot_segment) {
        return Err(ReturnUrlErrorKind::DotSegment);
    }
    Ok(())
}

/// `localhost`, `127.0.0.0/8` or `[::1]`.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The normalised host and the scheme with the effective port.
fn origin_of(url: &Url) -> Option<(&str, SchemePort)> {
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    Some((host, SchemePort { https, port }))
}

/// Whether one of `paths` covers `path` on a segment boundary. Instead of scanning
/// the entries, this looks up each segment-boundary prefix of `path` (`/a/b` gives
/// `/`, `/a`, `/a/`, `/a/b`), so its cost depends on the candidate, not on the list.
fn covers(paths: &HashSet<Box<str>>, path: &str) -> bool {
    let hit = |prefix: &str| paths.contains(prefix) && path_has_prefix(path, prefix);
    if hit(path) {
        return true;
    }
    path.match_indices('/')
        .any(|(i, _)| path.get(..i).is_some_and(|p| !p.is_empty() && hit(p)) || path.get(..=i).is_some_and(hit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ACME: &str = "https://app.acme.com/connect";

    fn allowlist(entries: &[&str]) -> ReturnUrlAllowlist {
        ReturnUrlAllowlist::new(entries.iter().copied()).unwrap()
    }

    fn kind_of(list: &ReturnUrlAllowlist, candidate: &str) -> Option<ReturnUrlErrorKind> {
        list.check(candidate).err().map(|e| e.kind())
    }

    fn entry_reason(entry: &str) -> &'static str {
        match ReturnUrlAllowlist::new([entry]) {
            Err(AllowlistError::InvalidEntry { entry: e, reason }) => {
                assert_eq!(e, entry);
                reason
            }
            Ok(list) => panic!("entry {entry:?} was accepted as {:?}", list.entries()),
        }
    }

    use ReturnUrlErrorKind as K;

    /// Every known bypass (open-redirect write-ups and CVEs of other OAuth clients), against the entry
    /// `https://app.acme.com/connect`, with the kind of refusal expected.
    const REJECTED: &[(&str, ReturnUrlErrorKind)] = &[
        // oauth2-proxy CVE-2020-5233: `/\` read as `//` by browsers; any raw backslash.
        ("/\\evil.com", K::ForbiddenCharacter),
        ("https://app.acme.com\\@evil.com", K::ForbiddenCharacter),
        ("https://app.acme.com/connect\\..\\admin", K::ForbiddenCharacter),
        ("https:\\\\evil.com/connect", K::ForbiddenCharacter),
        ("https://evil.com\\app.acme.com/connect", K::ForbiddenCharacter),
        // CVE-2020-11053: whitespace the browser strips; raw TAB, LF, CR and friends.
        ("/\t/evil.com", K::ForbiddenCharacter),
        ("https://app.acme.com/con\tnect", K::ForbiddenCharacter),
        ("https://app.acme.com/con\nnect", K::ForbiddenCharacter),
        ("https://app.acme.com/con\rnect", K::ForbiddenCharacter),
        ("https://app.acme.com/connect\r\nSet-Cookie: x=y", K::ForbiddenCharacter),
        ("htt\tps://app.acme.com/connect", K::ForbiddenCharacter),
        ("https://app.acme.com/connect ", K::ForbiddenCharacter),
        (" https://app.acme.com/connect", K::ForbiddenCharacter),
        ("https://app.acme.com/connect\u{0b}", K::ForbiddenCharacter),
        ("https://app.acme.com/connect\u{0c}", K::ForbiddenCharacter),
        ("https://app.acme.com/connect\u{00}", K::ForbiddenCharacter),
        ("https://app.acme.com/connect\u{7f}", K::ForbiddenCharacter),
        ("https://app.acme.com/connect\u{85}", K::ForbiddenCharacter),
        ("https://app.acme.com/connect\u{a0}", K::ForbiddenCharacter),
        ("https://app.acme.com/connect\u{2028}", K::ForbiddenCharacter),
        ("https://app.acme.com/connect\u{3000}", K::ForbiddenCharacter),
        ("https://app.acme.com/connect?q=a b", K::ForbiddenCharacter),
        ("https://app.acme.com/connect#a\tb", K::ForbiddenCharacter),
        ("https://app.acme\u{200b}.com/connect", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/\u{202e}nimda", K::ForbiddenCharacter),
        ("\u{feff}https://app.acme.com/connect", K::ForbiddenCharacter),
        ("https://app.ac\u{ad}me.com/connect", K::ForbiddenCharacter),
        // ... and percent-encoded in the path.
        ("https://app.acme.com/connect/%09/evil.com", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/%0a", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/%0B", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/%0d%0aLocation:%20x", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/%00", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/%7f", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/%C2%85", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/%E2%80%8B", K::ForbiddenCharacter),
        // Look-alike separators that "best fit" or NFKC mappings turn into `/` or `.`.
        ("https://app.acme.com/connect/\u{ff0e}\u{ff0e}/admin", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/%EF%BC%8E%EF%BC%8E/admin", K::ForbiddenCharacter),
        ("https://app.acme.com/connect\u{ff0f}..\u{ff0f}admin", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/..%E2%88%95admin", K::ForbiddenCharacter),
        // ... derived from NFKC: `‥` (U+2025) and `︰` (U+FE30) fold to `..`, `％` to `%`,
        // `﹔` to `;`, `℀` to `a/c`.
        ("https://app.acme.com/connect/\u{2025}/admin", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/%E2%80%A5/admin", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/\u{fe30}/admin", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/%EF%B8%B0/admin", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/\u{2024}\u{2024}/admin", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/\u{ff05}2e\u{ff05}2e/admin", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/..\u{fe54}/admin", K::ForbiddenCharacter),
        ("https://app.acme.com/connect/\u{2100}", K::ForbiddenCharacter),
        // CVE-2020-4037 and mod_auth_openidc: relative forms; we take absolute URLs only.
        ("/connect", K::NotAbsolute),
        ("connect", K::NotAbsolute),
        ("/./../../evil.com", K::NotAbsolute),
        ("/%09/evil.com", K::NotAbsolute),
        ("/%2f%2fevil.com", K::NotAbsolute),
        ("", K::NotAbsolute),
        ("?next=https://app.acme.com/connect", K::NotAbsolute),
        ("#https://app.acme.com/connect", K::NotAbsolute),
        ("app.acme.com/connect", K::NotAbsolute),
        // bitly #478, protocol-relative.
        ("//evil.com", K::NotAbsolute),
        ("//app.acme.com/connect", K::NotAbsolute),
        ("///evil.com", K::NotAbsolute),
        // Not exactly `scheme://`: shapes the parser would repair.
        ("https:evil.com", K::NotAbsolute),
        ("https:app.acme.com/connect", K::NotAbsolute),
        ("https:/app.acme.com/connect", K::NotAbsolute),
        ("https:///evil.com", K::NotAbsolute),
        ("https:///app.acme.com/connect", K::NotAbsolute),
        ("https:////app.acme.com/connect", K::NotAbsolute),
        ("https://", K::NotAbsolute),
        ("1https://app.acme.com/connect", K::NotAbsolute),
        // Other schemes.
        ("javascript:alert(1)", K::SchemeNotAllowed),
        ("JavaScript://app.acme.com/connect%0aalert(1)", K::SchemeNotAllowed),
        ("data:text/html,<script>alert(1)</script>", K::SchemeNotAllowed),
        ("ftp://app.acme.com/connect", K::SchemeNotAllowed),
        ("wss://app.acme.com/connect", K::SchemeNotAllowed),
        ("httpss://app.acme.com/connect", K::SchemeNotAllowed),
        ("file:///etc/passwd", K::SchemeNotAllowed),
        // NextAuth CVE-2022-24858 and userinfo tricks (Pocket ID, Keycloak CVE-2026-7504).
        ("https://app.acme.com@evil.com/connect", K::Userinfo),
        ("https://app.acme.com:443@evil.com/connect", K::Userinfo),
        ("https://user:pass@app.acme.com/connect", K::Userinfo),
        ("https://@app.acme.com/connect", K::Userinfo),
        ("https://a@b@evil.com/connect", K::Userinfo),
        ("https://app.acme.com%40evil.com/connect", K::InvalidHost),
        // Keycloak CVE-2023-6291: the encoded host is userinfo.
        ("https://app%2eacme%2ecom%2fconnect%2f:y@evil.com", K::Userinfo),
        ("https://app%2eacme%2ecom/connect", K::InvalidHost),
        // Keycloak CVE-2024-8883 is tested against its own entry below.
        // Host look-alikes: CVE-2021-21291, NextAuth CVE-2022-24858.
        ("https://app.acme.com.evil.com/connect", K::NotInAllowlist),
        ("https://badacme.com/connect", K::NotInAllowlist),
        ("https://evilapp.acme.com/connect", K::NotInAllowlist),
        ("https://acme.com/connect", K::NotInAllowlist),
        ("https://evil.com/connect", K::NotInAllowlist),
        ("https://evil.com/?https://app.acme.com/connect", K::NotInAllowlist),
        ("https://evil.com#https://app.acme.com/connect", K::NotInAllowlist),
        // Trailing dot and empty labels in the host, raw or IDNA-mapped.
        ("https://app.acme.com./connect", K::InvalidHost),
        ("https://app.acme.com.:443/connect", K::InvalidHost),
        ("https://app.acme.com\u{3002}/connect", K::InvalidHost),
        ("https://.app.acme.com/connect", K::InvalidHost),
        ("https://app..acme.com/connect", K::InvalidHost),
        ("https://:443/connect", K::InvalidHost),
        ("https://app.acme.com%2e/connect", K::InvalidHost),
        // Ports: no wildcard, a number only.
        ("https://app.acme.com:8443/connect", K::NotInAllowlist),
        ("https://app.acme.com:80/connect", K::NotInAllowlist),
        ("https://app.acme.com:/connect", K::Malformed),
        ("https://app.acme.com:+443/connect", K::Malformed),
        ("https://app.acme.com:99999/connect", K::Malformed),
        ("https://app.acme.com:443:443/connect", K::Malformed),
        // Keycloak CVE-2024-1132 / CVE-2022-3782: encoded and double-encoded traversal.
        ("https://app.acme.com/connect/%2e%2e/admin", K::EncodedSeparator),
        ("https://app.acme.com/connect/%2E%2E/admin", K::EncodedSeparator),
        ("https://app.acme.com/connect/.%2e/admin", K::EncodedSeparator),
        ("https://app.acme.com/connect/%2e/admin", K::EncodedSeparator),
        ("https://app.acme.com/connect/..%2fadmin", K::EncodedSeparator),
        ("https://app.acme.com/connect%2f..%2fadmin", K::EncodedSeparator),
        ("https://app.acme.com/connect%2F", K::EncodedSeparator),
        ("https://app.acme.com/connect/%5c..%5cadmin", K::EncodedSeparator),
        ("https://app.acme.com/connect/%5C", K::EncodedSeparator),
        ("https://app.acme.com/connect/%252e%252e/admin", K::EncodedSeparator),
        ("https://app.acme.com/connect/%252f..", K::EncodedSeparator),
        ("https://app.acme.com/connect/%25", K::EncodedSeparator),
        // Bad or non-UTF-8 percent-encodings (overlong `.` and `/`).
        ("https://app.acme.com/connect/%", K::Malformed),
        ("https://app.acme.com/connect/%2", K::Malformed),
        ("https://app.acme.com/connect/%zz", K::Malformed),
        ("https://app.acme.com/connect/%c0%ae%c0%ae/admin", K::Malformed),
        ("https://app.acme.com/connect/%c0%af", K::Malformed),
        ("https://app.acme.com/connect/%ff", K::Malformed),
        // Keycloak CVE-2026-3872: `..;` (and `.;`, `..%3b`).
        ("https://app.acme.com/connect/..;/admin", K::DotSegment),
        ("https://app.acme.com/connect/..;jsessionid=x/admin", K::DotSegment),
        ("https://app.acme.com/connect/x..;/admin", K::DotSegment),
        ("https://app.acme.com/connect/.;/x", K::DotSegment),
        ("https://app.acme.com/connect/..%3b/admin", K::DotSegment),
        ("https://app.acme.com/connect/..%3B/admin", K::DotSegment),
        // Homakov 2014: literal dot segments are refused, not resolved.
        ("https://app.acme.com/connect/../admin", K::DotSegment),
        ("https://app.acme.com/connect/../../../x", K::DotSegment),
        ("https://app.acme.com/connect/./done", K::DotSegment),
        ("https://app.acme.com/connect/..", K::DotSegment),
        ("https://app.acme.com/connect/.", K::DotSegment),
        ("https://app.acme.com/./connect", K::DotSegment),
        ("https://app.acme.com/connect/..?x=1", K::DotSegment),
        ("https://app.acme.com/connect/..#x", K::DotSegment),
        // `//` in the path.
        ("https://app.acme.com//connect", K::EmptySegment),
        ("https://app.acme.com/connect//evil.com", K::EmptySegment),
        ("https://app.acme.com/connect//", K::EmptySegment),
        // Segment boundary and case (ory/fosite CVE-2020-15234).
        ("https://app.acme.com/connectx", K::NotInAllowlist),
        ("https://app.acme.com/connect-evil", K::NotInAllowlist),
        ("https://app.acme.com/connect.html", K::NotInAllowlist),
        ("https://app.acme.com/CONNECT", K::NotInAllowlist),
        ("https://app.acme.com/Connect/done", K::NotInAllowlist),
        ("https://app.acme.com/", K::NotInAllowlist),
        ("https://app.acme.com", K::NotInAllowlist),
        ("https://app.acme.com/admin", K::NotInAllowlist),
        ("https://app.acme.com/con", K::NotInAllowlist),
        ("https://app.acme.com/connect;x/done", K::NotInAllowlist),
        // The query and fragment never make a candidate match.
        ("https://app.acme.com/?/connect", K::NotInAllowlist),
        ("https://app.acme.com/#/connect", K::NotInAllowlist),
        // http beyond loopback.
        ("http://app.acme.com/connect", K::HttpNotAllowed),
        ("HTTP://app.acme.com/connect", K::HttpNotAllowed),
        // Unparseable hosts.
        ("https://[::1/connect", K::Malformed),
        ("https://[::1]x/connect", K::Malformed),
        ("https://app.acme.com\u{ff0f}evil.com/connect", K::Malformed),
        ("https://xn--a.example/connect", K::Malformed),
    ];

    const ACCEPTED: &[(&str, &str)] = &[
        ("https://app.acme.com/connect", "https://app.acme.com/connect"),
        ("https://app.acme.com/connect/", "https://app.acme.com/connect/"),
        ("https://app.acme.com/connect/done", "https://app.acme.com/connect/done"),
        ("https://app.acme.com/connect/a/b/c/", "https://app.acme.com/connect/a/b/c/"),
        // Scheme and host case, default port.
        ("HTTPS://App.Acme.Com:443/connect", "https://app.acme.com/connect"),
        ("https://APP.ACME.COM/connect", "https://app.acme.com/connect"),
        ("https://app.acme.com:0443/connect", "https://app.acme.com/connect"),
        // The query plays no part in matching and is kept.
        ("https://app.acme.com/connect?next=//evil.com", "https://app.acme.com/connect?next=//evil.com"),
        ("https://app.acme.com/connect?a=%2e%2e%2f", "https://app.acme.com/connect?a=%2e%2e%2f"),
        ("https://app.acme.com/connect?@evil.com", "https://app.acme.com/connect?@evil.com"),
        // The fragment plays no part in matching and is kept.
        ("https://app.acme.com/connect#tab", "https://app.acme.com/connect#tab"),
        ("https://app.acme.com/connect/done?a=1#/../x", "https://app.acme.com/connect/done?a=1#/../x"),
        ("https://app.acme.com/connect#@evil.com", "https://app.acme.com/connect#@evil.com"),
        // Ordinary path content.
        ("https://app.acme.com/connect/caf%C3%A9", "https://app.acme.com/connect/caf%C3%A9"),
        ("https://app.acme.com/connect/café", "https://app.acme.com/connect/caf%C3%A9"),
        ("https://app.acme.com/connect/my%20page", "https://app.acme.com/connect/my%20page"),
        ("https://app.acme.com/connect/a@b", "https://app.acme.com/connect/a@b"),
        ("https://app.acme.com/connect/...", "https://app.acme.com/connect/..."),
        ("https://app.acme.com/connect/.well-known", "https://app.acme.com/connect/.well-known"),
        ("https://app.acme.com/connect/a..b", "https://app.acme.com/connect/a..b"),
        ("https://app.acme.com/connect/;x", "https://app.acme.com/connect/;x"),
        // IDNA-mapped host, the redirect goes to its ASCII form.
        ("https://app\u{3002}acme\u{3002}com/connect", "https://app.acme.com/connect"),
    ];

    #[test]
    fn has_ascii_is_contains() {
        for s in ["", ".", "..", "a..b", "a.b.", "/a//b", "é..", "..;", "a.;", "\u{2024}\u{2024}"] {
            assert_eq!(has_ascii(s, *b".."), s.contains(".."), "{s:?}");
            assert_eq!(has_ascii(s, *b"//"), s.contains("//"), "{s:?}");
            assert_eq!(has_ascii(s, *b"..;"), s.contains("..;"), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn has_ascii_is_contains_on_any_string(s in r"[./;a\u{e9}]{0,12}|\PC{0,12}") {
            prop_assert_eq!(has_ascii(&s, *b".."), s.contains(".."));
            prop_assert_eq!(has_ascii(&s, *b"//"), s.contains("//"));
            prop_assert_eq!(has_ascii(&s, *b"..;"), s.contains("..;"));
        }
    }

    #[test]
    fn only_accepted_candidates_are_remembered_four_at_most_and_none_too_long() {
        let list = allowlist(&["https://app.acme.com/connect"]);
        let ok: Vec<String> = (0..5).map(|i| format!("https://app.acme.com/connect/{i}")).collect();
        let long = format!("https://app.acme.com/connect/{}", "a".repeat(ACCEPTED_MAX_LEN));
        assert!(list.check("https://evil.com/connect").is_err());
        assert!(list.accepted.get("https://evil.com/connect").is_none());
        assert!(list.check(&long).is_ok());
        assert!(list.accepted.get(&long).is_none());
        for url in &ok[..4] {
            assert_eq!(list.check(url).unwrap().as_str(), url.as_str());
        }
        assert!(ok[..4].iter().all(|url| list.accepted.get(url).is_some()));
        // A fifth replaces the first.
        assert!(list.check(&ok[4]).is_ok());
        assert!(list.accepted.get(&ok[0]).is_none());
        assert!(ok[1..].iter().all(|url| list.accepted.get(url).is_some()));
        // Answered from memory: the same URL, byte for byte, and in its normalised form.
        let upper = "HTTPS://App.Acme.Com:443/connect/x";
        assert_eq!(list.check(upper).unwrap().as_str(), "https://app.acme.com/connect/x");
        assert_eq!(list.accepted.get(upper).unwrap().as_str(), "https://app.acme.com/connect/x");
        // A clone starts with nothing remembered.
        assert!(list.clone().accepted.get(upper).is_none());
    }

    #[test]
    fn every_known_bypass_is_rejected_with_its_reason() {
        let list = allowlist(&[ACME]);
        let mut wrong = Vec::new();
        for &(candidate, expected) in REJECTED {
            match list.check(candidate) {
                Ok(url) => wrong.push(format!("{candidate:?} accepted as {url}")),
                Err(e) if e.kind() != expected => {
                    wrong.push(format!("{candidate:?}: {:?}, expected {expected:?}", e.kind()));
                }
                Err(_) => {}
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn allowed_candidates_are_returned_in_their_normalised_form() {
        let list = allowlist(&[ACME]);
        for &(candidate, expected) in ACCEPTED {
            let url = list.check(candidate).unwrap_or_else(|e| panic!("{candidate:?} refused: {e}"));
            assert_eq!(url.as_str(), expected, "{candidate:?}");
        }
    }

    #[test]
    fn every_bypass_is_also_rejected_by_an_allowlist_covering_the_whole_origin() {
        // With `/` as the entry's path, only path-independent checks can refuse; the
        // cases that relied on the path prefix must still be refused for their own reason.
        let list = allowlist(&["https://app.acme.com"]);
        for &(candidate, kind) in REJECTED {
            let path_only = kind == K::NotInAllowlist
                && (candidate.starts_with("https://app.acme.com/") || candidate == "https://app.acme.com");
            if !path_only {
                assert!(list.check(candidate).is_err(), "{candidate:?}");
            }
        }
    }

    #[test]
    fn a_port_on_loopback_is_not_a_wildcard_and_userinfo_cannot_fake_it() {
        // Keycloak CVE-2024-8883.
        let list = allowlist(&["http://127.0.0.1/cb"]);
        assert_eq!(kind_of(&list, "http://127.0.0.1:49152@evil.example/cb"), Some(K::Userinfo));
        assert_eq!(kind_of(&list, "http://127.0.0.1:49152/cb"), Some(K::NotInAllowlist));
        assert_eq!(kind_of(&list, "http://127.0.0.1:80@evil.example/cb"), Some(K::Userinfo));
        assert_eq!(kind_of(&list, "http://evil.example/cb"), Some(K::HttpNotAllowed));
        assert_eq!(list.check("http://127.0.0.1/cb").unwrap().as_str(), "http://127.0.0.1/cb");
        assert_eq!(list.check("http://127.0.0.1:80/cb/x").unwrap().as_str(), "http://127.0.0.1/cb/x");
        for other_spelling in [
            "http://127.1/cb",
            "http://0x7f.0.0.1/cb",
            "http://2130706433/cb",
            "http://0177.0.0.1/cb",
            "http://127.0.0.01/cb",
        ] {
            assert_eq!(kind_of(&list, other_spelling), Some(K::InvalidHost), "{other_spelling}");
        }

        let list = allowlist(&["http://localhost:3000/cb"]);
        assert!(list.check("http://localhost:3000/cb").is_ok());
        assert!(list.check("http://LOCALHOST:3000/cb/done").is_ok());
        assert_eq!(kind_of(&list, "http://localhost/cb"), Some(K::NotInAllowlist));
        assert_eq!(kind_of(&list, "http://localhost:3001/cb"), Some(K::NotInAllowlist));
        assert_eq!(kind_of(&list, "https://localhost:3000/cb"), Some(K::NotInAllowlist));
    }

    #[test]
    fn http_is_accepted_for_loopback_hosts() {
        let list = allowlist(&[
            "http://localhost/cb",
            "http://127.0.0.1:8080/cb",
            "http://127.10.20.30/cb",
            "http://[::1]:3000/cb",
        ]);
        for candidate in [
            "http://localhost/cb",
            "http://127.0.0.1:8080/cb/done",
            "http://127.10.20.30/cb",
            "http://[::1]:3000/cb",
            "http://[0:0:0:0:0:0:0:1]:3000/cb",
        ] {
            assert!(list.check(candidate).is_ok(), "{candidate}");
        }
    }

    #[test]
    fn http_to_a_host_that_is_not_loopback_is_refused_unless_allowed() {
        let list = allowlist(&[ACME, "http://localhost/cb"]);
        for candidate in [
            "http://app.acme.com/connect",
            "http://128.0.0.1/cb",
            "http://localhost.evil.com/cb",
            "http://[::2]/cb",
            "http://[::ffff:127.0.0.1]/cb",
            "http://10.0.0.1/cb",
        ] {
            assert_eq!(kind_of(&list, candidate), Some(K::HttpNotAllowed), "{candidate}");
        }

        let options = AllowlistOptions::default().allow_http(true);
        let list = ReturnUrlAllowlist::with_options([ACME, "http://intranet.example/cb"], options).unwrap();
        assert!(list.check("http://intranet.example/cb/done").is_ok());
        // allow_http does not turn an https entry into an http one.
        assert_eq!(kind_of(&list, "http://app.acme.com/connect"), Some(K::NotInAllowlist));
    }

    #[test]
    fn https_and_http_are_different_origins() {
        let list = allowlist(&["https://localhost/cb"]);
        assert_eq!(kind_of(&list, "http://localhost/cb"), Some(K::NotInAllowlist));
        assert_eq!(kind_of(&list, "http://localhost:443/cb"), Some(K::NotInAllowlist));
        assert!(list.check("https://localhost:443/cb").is_ok());
    }

    #[test]
    fn the_default_port_equals_no_port_both_ways() {
        let list = allowlist(&["https://app.acme.com:443/connect", "http://localhost:80/cb"]);
        assert_eq!(list.entries(), ["https://app.acme.com/connect", "http://localhost/cb"]);
        assert!(list.check("https://app.acme.com/connect").is_ok());
        assert!(list.check("https://app.acme.com:443/connect").is_ok());
        assert!(list.check("http://localhost/cb").is_ok());
        assert!(list.check("http://localhost:80/cb").is_ok());

        let list = allowlist(&["https://app.acme.com/connect"]);
        assert_eq!(list.check("https://app.acme.com:443/connect").unwrap().as_str(), "https://app.acme.com/connect");
    }

    #[test]
    fn a_non_default_port_must_match_exactly() {
        let list = allowlist(&["https://app.acme.com:8443/connect"]);
        assert!(list.check("https://app.acme.com:8443/connect/x").is_ok());
        assert_eq!(kind_of(&list, "https://app.acme.com/connect"), Some(K::NotInAllowlist));
        assert_eq!(kind_of(&list, "https://app.acme.com:8444/connect"), Some(K::NotInAllowlist));
    }

    #[test]
    fn a_unicode_host_and_its_punycode_form_are_the_same_host() {
        let unicode = allowlist(&["https://bücher.example/"]);
        assert_eq!(unicode.entries(), ["https://xn--bcher-kva.example/"]);
        let url = unicode.check("https://xn--bcher-kva.example/x").unwrap();
        assert_eq!(url.as_str(), "https://xn--bcher-kva.example/x");
        assert!(unicode.check("https://BÜCHER.example/x").is_ok());

        let punycode = allowlist(&["https://xn--bcher-kva.example/"]);
        let url = punycode.check("https://bücher.example/x").unwrap();
        assert_eq!(url.as_str(), "https://xn--bcher-kva.example/x");
        assert_eq!(kind_of(&punycode, "https://bucher.example/x"), Some(K::NotInAllowlist));
    }

    #[test]
    fn an_entry_ending_in_a_slash_covers_what_is_below_it_but_not_the_bare_name() {
        let list = allowlist(&["https://app.acme.com/connect/"]);
        assert!(list.check("https://app.acme.com/connect/").is_ok());
        assert!(list.check("https://app.acme.com/connect/done").is_ok());
        assert_eq!(kind_of(&list, "https://app.acme.com/connect"), Some(K::NotInAllowlist));
        assert_eq!(kind_of(&list, "https://app.acme.com/connectx/"), Some(K::NotInAllowlist));
    }

    #[test]
    fn an_entry_without_a_path_covers_the_whole_origin() {
        let list = allowlist(&["https://app.acme.com"]);
        assert_eq!(list.entries(), ["https://app.acme.com/"]);
        for candidate in ["https://app.acme.com", "https://app.acme.com/", "https://app.acme.com/any/path?q#f"] {
            assert!(list.check(candidate).is_ok(), "{candidate}");
        }
        assert_eq!(kind_of(&list, "https://sub.app.acme.com/"), Some(K::NotInAllowlist));
    }

    #[test]
    fn the_longest_matching_entry_is_not_needed_any_entry_will_do() {
        let list = allowlist(&["https://app.acme.com/a/b/c", "https://app.acme.com/x/", ACME]);
        assert!(list.check("https://app.acme.com/a/b/c/d").is_ok());
        assert!(list.check("https://app.acme.com/x/y").is_ok());
        assert!(list.check("https://app.acme.com/connect/z").is_ok());
        assert_eq!(kind_of(&list, "https://app.acme.com/a/b"), Some(K::NotInAllowlist));
        assert_eq!(kind_of(&list, "https://app.acme.com/x"), Some(K::NotInAllowlist));
    }

    #[test]
    fn entries_are_normalised_deduplicated_and_kept_in_order() {
        let list = allowlist(&[
            "https://b.example/z",
            "HTTPS://App.Acme.Com:443/connect",
            "https://app.acme.com/connect",
            "https://a.example",
            "https://b.example/z",
            "https://a.example/",
        ]);
        assert_eq!(list.entries(), ["https://b.example/z", "https://app.acme.com/connect", "https://a.example/"]);
        assert_eq!(list.len(), 3);
        assert!(!list.is_empty());
    }

    #[test]
    fn an_entry_path_keeps_its_case_and_is_matched_case_sensitively() {
        let list = allowlist(&["https://app.acme.com/Connect"]);
        assert_eq!(list.entries(), ["https://app.acme.com/Connect"]);
        assert!(list.check("https://app.acme.com/Connect/x").is_ok());
        assert_eq!(kind_of(&list, "https://app.acme.com/connect/x"), Some(K::NotInAllowlist));
    }

    #[test]
    fn an_empty_allowlist_refuses_everything() {
        let list = ReturnUrlAllowlist::new(Vec::<String>::new()).unwrap();
        assert!(list.is_empty());
        assert_eq!(list.len(), 0);
        assert_eq!(kind_of(&list, ACME), Some(K::NotInAllowlist));
    }

    #[test]
    fn entry_validation_rejects_patterns_queries_fragments_userinfo_and_bad_schemes() {
        for entry in [
            "https://*.acme.com/",
            "https://app.acme.com/*",
            "https://app.acme.com:*/connect",
            "*",
            "https://app.acme.com/connect?x=1",
            "https://app.acme.com/connect?",
            "https://app.acme.com/connect#frag",
            "https://app.acme.com/connect#",
            "https://user@app.acme.com/connect",
            "https://user:pw@app.acme.com/connect",
            "/connect",
            "app.acme.com/connect",
            "//app.acme.com/connect",
            "https:app.acme.com/connect",
            "https:///app.acme.com/connect",
            "ftp://app.acme.com/",
            "javascript:alert(1)",
            "http://app.acme.com/connect",
            "http://192.168.1.1/cb",
            "http://localhost.acme.com/cb",
            "https://app.acme.com./connect",
            "https://app.acme.com/connect/../admin",
            "https://app.acme.com/connect/./x",
            "https://app.acme.com/connect/..;/x",
            "https://app.acme.com//connect",
            "https://app.acme.com/connect%2fx",
            "https://app.acme.com/connect/%2e%2e",
            "https://app.acme.com/connect/%5c",
            "https://app.acme.com/connect/%252e",
            "https://app.acme.com/connect\\x",
            "https://app.acme.com/connect/\u{2025}/admin",
            "https://app.acme.com/connect/%E2%80%A5",
            "https://app.acme.com/connect/\u{fe30}",
            "https://app.acme.com/con nect",
            "https://app.acme.com/con\tnect",
            "https://app%2eacme.com/",
            "http://127.1/cb",
            "",
        ] {
            let reason = entry_reason(entry);
            assert!(!reason.is_empty(), "{entry:?}");
        }
        assert!(entry_reason("https://*.acme.com/").contains("pattern"));
        assert!(entry_reason("https://app.acme.com/connect?x=1").contains("query"));
        assert!(entry_reason("https://app.acme.com/connect#frag").contains("fragment"));
        assert!(entry_reason("https://user@app.acme.com/connect").contains("userinfo"));
        assert!(entry_reason("http://app.acme.com/connect").contains("loopback"));
        assert!(entry_reason("ftp://app.acme.com/").contains("http"));
    }

    #[test]
    fn an_invalid_entry_error_names_the_entry_and_the_first_bad_one_wins() {
        let err = ReturnUrlAllowlist::new([ACME, "https://*.evil.com/", "ftp://x/"]).unwrap_err();
        let AllowlistError::InvalidEntry { entry, reason } = &err;
        assert_eq!(entry, "https://*.evil.com/");
        assert!(reason.contains("pattern"));
        assert!(err.to_string().contains("\"https://*.evil.com/\""));
    }

    #[test]
    fn entries_longer_than_the_cap_are_refused() {
        let long = format!("https://app.acme.com/{}", "a".repeat(MAX_LEN));
        assert!(entry_reason(&long).contains("4096"));
    }

    #[test]
    fn a_candidate_whose_serialisation_outgrows_the_cap_is_refused() {
        // Found by the `return_url` fuzz target: `>` and `{` are percent-encoded when
        // serialised, tripling their length.
        let list = ReturnUrlAllowlist::new(["https://app.acme.com/connect"]).unwrap();
        let base = "https://app.acme.com/connect/";
        let raw = format!("{base}{}", ">".repeat(MAX_LEN - base.len()));
        assert_eq!(raw.len(), MAX_LEN);
        assert_eq!(kind_of(&list, &raw), Some(ReturnUrlErrorKind::TooLong));
        let fits = format!("{base}{}", ">".repeat(100));
        let url = list.check(&fits).unwrap();
        assert!(list.check(url.as_str()).is_ok());
    }

    #[test]
    fn candidates_longer_than_the_cap_are_refused() {
        let list = allowlist(&[ACME]);
        let base = "https://app.acme.com/connect/";
        let fits = format!("{base}{}", "a".repeat(MAX_LEN - base.len()));
        assert_eq!(fits.len(), MAX_LEN);
        assert!(list.check(&fits).is_ok());
        let too_long = format!("{fits}a");
        assert_eq!(kind_of(&list, &too_long), Some(K::TooLong));
        assert_eq!(kind_of(&list, &"\\".repeat(1 << 20)), Some(K::TooLong));
    }

    #[test]
    fn error_messages_never_echo_the_candidate() {
        let list = allowlist(&[ACME]);
        for candidate in [
            "https://evil.com/<script>alert(1)</script>",
            "https://evil.com/\r\nSet-Cookie:x",
            "javascript:alert('evilmarker')",
            "https://evilmarker@app.acme.com/connect",
        ] {
            let err = list.check(candidate).unwrap_err();
            let shown = format!("{err} {err:?}");
            for needle in ["evil", "script", "Set-Cookie"] {
                assert!(!shown.contains(needle), "{shown}");
            }
        }
    }

    #[test]
    fn every_kind_has_a_message() {
        for kind in [
            K::Malformed,
            K::NotAbsolute,
            K::SchemeNotAllowed,
            K::HttpNotAllowed,
            K::Userinfo,
            K::ForbiddenCharacter,
            K::InvalidHost,
            K::EncodedSeparator,
            K::DotSegment,
            K::EmptySegment,
            K::NotInAllowlist,
            K::TooLong,
        ] {
            let err = ReturnUrlError::from(kind);
            assert_eq!(err.kind(), kind);
            assert!(err.to_string().starts_with("return URL refused: "));
            assert!(err.to_string().len() > "return URL refused: ".len());
        }
    }

    #[test]
    fn many_entries_are_indexed_by_origin() {
        let entries: Vec<String> = (0..10_000).map(|i| format!("https://app{i}.example/connect/{i}")).collect();
        let list = ReturnUrlAllowlist::new(&entries).unwrap();
        assert_eq!(list.len(), 10_000);
        assert_eq!(list.index.len(), 10_000);
        assert!(list.check("https://app9999.example/connect/9999/done").is_ok());
        assert_eq!(kind_of(&list, "https://app9999.example/connect/9998"), Some(K::NotInAllowlist));

        let same_origin: Vec<String> = (0..10_000).map(|i| format!("https://app.example/p{i}/")).collect();
        let list = ReturnUrlAllowlist::new(&same_origin).unwrap();
        assert_eq!(list.index.len(), 1);
        assert!(list.check("https://app.example/p4242/x").is_ok());
        assert_eq!(kind_of(&list, "https://app.example/p4242"), Some(K::NotInAllowlist));
        assert_eq!(kind_of(&list, "https://app.example/p10000/x"), Some(K::NotInAllowlist));
    }

    #[test]
    fn debug_output_lists_the_entries() {
        let list = allowlist(&[ACME]);
        let shown = format!("{list:?}");
        assert!(shown.contains("https://app.acme.com/connect"), "{shown}");
    }

    /// What the NFKC rule says of `c`, computed with full NFKC (not the decomposition the
    /// check uses).
    fn nfkc_holds_a_separator(c: char) -> bool {
        use unicode_normalization::UnicodeNormalization;
        std::iter::once(c).nfkc().any(|d| matches!(d, '.' | '/' | '\\' | '%' | ';'))
    }

    /// `c` in the middle of a path segment, raw and percent-encoded.
    fn path_with(c: char) -> [String; 2] {
        let encoded: String = c.to_string().bytes().map(|b| format!("%{b:02X}")).collect();
        [format!("https://app.acme.com/connect/a{c}b"), format!("https://app.acme.com/connect/a{encoded}b")]
    }

    /// Whether a non-ASCII `c` is refused by the rules other than the NFKC one: raw, any
    /// control, whitespace or invisible character; encoded, a control or invisible one;
    /// either way, a best-fit look-alike.
    fn refused_otherwise(c: char, raw: bool) -> bool {
        is_best_fit_separator(c) || c.is_control() || is_invisible(c) || (raw && c.is_whitespace())
    }

    /// The NFKC property for one non-ASCII character, through the whole check, on a
    /// candidate and on an entry, raw and percent-encoded.
    fn check_nfkc_rule(list: &ReturnUrlAllowlist, c: char) -> Result<(), String> {
        for (url, raw) in path_with(c).iter().zip([true, false]) {
            let refused = nfkc_holds_a_separator(c) || refused_otherwise(c, raw);
            let want = refused.then_some(K::ForbiddenCharacter);
            let kind = list.check_uncached(url).err().map(|e| e.kind());
            if kind != want {
                return Err(format!("U+{:04X} in {url:?}: {kind:?}, expected {want:?}", u32::from(c)));
            }
            if ReturnUrlAllowlist::new([url]).is_ok() == refused {
                return Err(format!("U+{:04X} in the entry {url:?}: expected refused = {refused}", u32::from(c)));
            }
        }
        Ok(())
    }

    #[test]
    fn the_decomposition_answers_as_full_nfkc_for_every_code_point() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(folds_to_separator(c), nfkc_holds_a_separator(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn every_non_ascii_code_point_is_refused_in_a_path_iff_its_nfkc_form_holds_a_separator() {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let list = allowlist(&[ACME]);
        let (mut raw, mut encoded) = (String::new(), String::new());
        let mut refused = 0;
        for c in (0x80..=0x10FFFF).filter_map(char::from_u32) {
            // The path stage, where the rule lives, for every code point, raw and encoded
            // (the whole check costs too much to run two million times unoptimised) ...
            raw.clear();
            raw.push_str("/connect/a");
            raw.push(c);
            encoded.clear();
            encoded.push_str("/connect/a");
            for b in c.encode_utf8(&mut [0; 4]).bytes() {
                encoded.extend(['%', char::from(HEX[usize::from(b >> 4)]), char::from(HEX[usize::from(b & 15)])]);
            }
            let folds = nfkc_holds_a_separator(c);
            let want = (folds || refused_otherwise(c, false)).then_some(K::ForbiddenCharacter);
            assert_eq!(check_raw_path(&raw).err(), want, "U+{:04X} raw", u32::from(c));
            assert_eq!(check_raw_path(&encoded).err(), want, "U+{:04X} encoded", u32::from(c));
            // ... and the whole check, candidates and entries, for those the rule refuses.
            if folds {
                check_nfkc_rule(&list, c).unwrap();
                refused += 1;
            }
        }
        // `‥`, `︰`, `…`, `⒈`, `％`, `﹔`, `／`, `＼`, `℀` and their kin (44 in Unicode 14).
        assert!((40..200).contains(&refused), "{refused}");
    }

    #[test]
    fn the_best_fit_list_holds_only_what_nfkc_misses() {
        for c in ['\u{2044}', '\u{2215}', '\u{2216}', '\u{29F5}', '\u{29F8}', '\u{29F9}', '\u{3002}', '\u{FF61}'] {
            assert!(is_best_fit_separator(c) && !nfkc_holds_a_separator(c), "U+{:04X}", u32::from(c));
        }
        for c in ['\u{2024}', '\u{2025}', '\u{FE30}', '\u{FE52}', '\u{FE68}', '\u{FF0E}', '\u{FF0F}', '\u{FF3C}'] {
            assert!(!is_best_fit_separator(c) && is_lookalike_separator(c), "U+{:04X}", u32::from(c));
        }
    }

    proptest! {
        #[test]
        fn a_non_ascii_character_is_refused_in_a_path_iff_its_nfkc_form_holds_a_separator(
            c in prop_oneof![
                any::<char>(),
                // The blocks where most compatibility forms of punctuation live.
                (0x2000u32..0x2500).prop_filter_map("a char", char::from_u32),
                (0xFE10u32..0xFF70).prop_filter_map("a char", char::from_u32),
            ].prop_filter("non-ASCII", |c| !c.is_ascii()),
        ) {
            let list = allowlist(&[ACME]);
            prop_assert_eq!(check_nfkc_rule(&list, c), Ok(()));
        }
    }

    // ---- property tests -------------------------------------------------------------

    /// Hosts as written, with their canonical form (`None`: the host is invalid).
    const HOSTS: &[(&str, Option<&str>)] = &[
        ("app.acme.com", Some("app.acme.com")),
        ("APP.Acme.com", Some("app.acme.com")),
        ("app.acme.com.", None),
        ("app.acme.com.evil.com", Some("app.acme.com.evil.com")),
        ("evilapp.acme.com", Some("evilapp.acme.com")),
        ("bücher.example", Some("xn--bcher-kva.example")),
        ("xn--bcher-kva.example", Some("xn--bcher-kva.example")),
        ("localhost", Some("localhost")),
        ("LocalHost", Some("localhost")),
        ("127.0.0.1", Some("127.0.0.1")),
        ("127.0.0.2", Some("127.0.0.2")),
        ("[::1]", Some("[::1]")),
        ("10.0.0.1", Some("10.0.0.1")),
    ];

    const SCHEMES: &[&str] = &["https", "http", "HTTPS", "Http"];
    const PORTS: &[&str] = &["", ":443", ":80", ":8443", ":3000"];
    const USERINFO: &[&str] = &["u@", "app.acme.com@", "u:p@", "127.0.0.1:3000@", "@"];

    /// Path segments, with whether they are forbidden wherever they appear.
    const SEGMENTS: &[(&str, bool)] = &[
        ("connect", false),
        ("CONNECT", false),
        ("connectx", false),
        ("done", false),
        ("cb", false),
        ("a", false),
        ("", false), // an empty segment: `//` unless it is the last one
        ("x;y", false),
        ("caf%C3%A9", false),
        ("...", false),
        (".", true),
        ("..", true),
        ("..;", true),
        ("..;x", true),
        (".;", true),
        ("%2e", true),
        ("%2E%2e", true),
        ("a%2fb", true),
        ("%2F", true),
        ("%5c", true),
        ("%252e", true),
        ("%252f", true),
        ("%25", true),
        ("%09", true),
        ("%0a", true),
        ("\u{2025}", true),
        ("%E2%80%A5", true),
        ("x\u{fe30}", true),
        ("\u{ff0f}", true),
    ];
    /// How many of the first `SEGMENTS` are the plausible ones.
    const PLAUSIBLE_SEGMENTS: usize = 7;

    /// (scheme, host index, port) near the model's entries, so that accepted URLs are
    /// common enough for the model test to mean something.
    const NEAR_ORIGINS: &[(&str, usize, &str)] = &[
        ("https", 0, ""),
        ("HTTPS", 1, ":443"),
        ("https", 0, ":8443"),
        ("https", 5, ""),
        ("https", 6, ":443"),
        ("http", 7, ""),
        ("Http", 8, ":80"),
        ("http", 9, ":3000"),
        ("https", 11, ""),
    ];
    const QUERIES: &[&str] = &["", "?a=1", "?next=//evil.com", "?x=/../"];
    const FRAGMENTS: &[&str] = &["", "#tab", "#/../x", "#@evil.com"];

    const MODEL_ENTRIES: &[&str] = &[
        "https://app.acme.com/connect",
        "https://app.acme.com:8443/connect/",
        "https://bücher.example/",
        "http://localhost/cb",
        "http://127.0.0.1:3000/cb",
        "https://[::1]/a/connect",
    ];

    #[derive(Debug, Clone)]
    struct Generated {
        scheme: &'static str,
        userinfo: &'static str,
        host: usize,
        port: &'static str,
        segments: Vec<usize>,
        query: &'static str,
        fragment: &'static str,
    }

    impl Generated {
        fn url(&self) -> String {
            let mut url = format!("{}://{}{}{}", self.scheme, self.userinfo, HOSTS[self.host].0, self.port);
            for &s in &self.segments {
                url.push('/');
                url.push_str(SEGMENTS[s].0);
            }
            url.push_str(self.query);
            url.push_str(self.fragment);
            url
        }
    }

    fn generated() -> impl Strategy<Value = Generated> {
        let origin = prop_oneof![
            2 => prop::sample::select(NEAR_ORIGINS),
            1 => (prop::sample::select(SCHEMES), 0..HOSTS.len(), prop::sample::select(PORTS)),
        ];
        (
            origin,
            prop_oneof![4 => Just(""), 1 => prop::sample::select(USERINFO)],
            prop::collection::vec(
                prop_oneof![
                    // Mostly plausible segments, so that accepted URLs are common.
                    3 => 0..PLAUSIBLE_SEGMENTS,
                    1 => 0..SEGMENTS.len(),
                ],
                0..4,
            ),
            prop::sample::select(QUERIES),
            prop::sample::select(FRAGMENTS),
        )
            .prop_map(|((scheme, host, port), userinfo, segments, query, fragment)| Generated {
                scheme,
                userinfo,
                host,
                port,
                segments,
                query,
                fragment,
            })
    }

    /// The reference model: an entry as (https, canonical host, effective port, path
    /// segments after the leading `/`).
    fn model_entries() -> Vec<(bool, &'static str, u16, Vec<&'static str>)> {
        vec![
            (true, "app.acme.com", 443, vec!["connect"]),
            (true, "app.acme.com", 8443, vec!["connect", ""]),
            (true, "xn--bcher-kva.example", 443, vec![""]),
            (false, "localhost", 80, vec!["cb"]),
            (false, "127.0.0.1", 3000, vec!["cb"]),
            (true, "[::1]", 443, vec!["a", "connect"]),
        ]
    }

    fn model_accepts(g: &Generated, allow_http: bool) -> bool {
        if !g.userinfo.is_empty() {
            return false;
        }
        let Some(host) = HOSTS[g.host].1 else {
            return false;
        };
        let https = g.scheme.eq_ignore_ascii_case("https");
        let loopback = matches!(host, "localhost" | "[::1]") || host.starts_with("127.");
        if !https && !loopback && !allow_http {
            return false;
        }
        let port = match g.port.strip_prefix(':') {
            Some(p) => p.parse::<u16>().unwrap(),
            None if https => 443,
            None => 80,
        };
        // The candidate's segments; an empty path is `/`, i.e. one empty segment.
        let segs: Vec<&str> =
            if g.segments.is_empty() { vec![""] } else { g.segments.iter().map(|&s| SEGMENTS[s].0).collect() };
        let last = segs.len() - 1;
        for (i, &s) in g.segments.iter().enumerate() {
            let (text, forbidden) = SEGMENTS[s];
            if forbidden || (text.is_empty() && i != last) {
                return false;
            }
        }
        model_entries().iter().any(|(e_https, e_host, e_port, e_segs)| {
            if *e_https != https || *e_host != host || *e_port != port {
                return false;
            }
            match e_segs.split_last() {
                // Trailing slash: the candidate continues past the named segments.
                Some((&"", named)) => segs.len() > named.len() && segs[..named.len()] == *named,
                _ => segs.len() >= e_segs.len() && segs[..e_segs.len()] == e_segs[..],
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn check_agrees_with_the_reference_model(g in generated()) {
            let list = allowlist(MODEL_ENTRIES);
            let url = g.url();
            prop_assert_eq!(list.check(&url).is_ok(), model_accepts(&g, false), "{}", url);
        }

        #[test]
        fn check_agrees_with_the_reference_model_when_http_is_allowed(g in generated()) {
            let list = ReturnUrlAllowlist::with_options(
                MODEL_ENTRIES.iter().copied(),
                AllowlistOptions::default().allow_http(true),
            ).unwrap();
            let url = g.url();
            prop_assert_eq!(list.check(&url).is_ok(), model_accepts(&g, true), "{}", url);
        }

        /// One allowlist used for a run of candidates (so accepted ones are answered from
        /// what it remembers, and slots are replaced) answers each exactly as a fresh one
        /// does; so does its clone.
        #[test]
        fn remembered_candidates_are_answered_as_a_fresh_allowlist_answers(gs in prop::collection::vec(generated(), 1..24), repeats in prop::collection::vec(0usize..24, 0..24)) {
            let shared = allowlist(MODEL_ENTRIES);
            let urls: Vec<String> = gs.iter().map(Generated::url).collect();
            let order = urls.iter().chain(repeats.iter().filter_map(|&i| urls.get(i))).chain(urls.iter());
            for url in order {
                let fresh = allowlist(MODEL_ENTRIES).check(url);
                let answered = shared.check(url);
                prop_assert_eq!(answered.as_ref().map(Url::as_str), fresh.as_ref().map(Url::as_str), "{}", url);
                prop_assert_eq!(answered.err().map(|e| e.kind()), fresh.err().map(|e| e.kind()), "{}", url);
                let cloned = shared.clone().check(url);
                prop_assert_eq!(cloned.ok().map(String::from), allowlist(MODEL_ENTRIES).check(url).ok().map(String::from));
            }
        }

        #[test]
        fn an_accepted_url_is_accepted_again_in_its_serialised_form(g in generated()) {
            let list = allowlist(MODEL_ENTRIES);
            if let Ok(url) = list.check(&g.url()) {
                let again = list.check(url.as_str()).unwrap();
                prop_assert_eq!(again.as_str(), url.as_str());
            }
        }

        #[test]
        fn inserting_a_forbidden_character_anywhere_gets_a_url_refused(
            g in generated(),
            position in any::<prop::sample::Index>(),
            bad in prop::sample::select(&['\\', '\t', '\n', '\r', ' ', '\u{0}', '\u{7f}', '\u{a0}', '\u{200b}', '\u{2028}'][..]),
        ) {
            let list = allowlist(MODEL_ENTRIES);
            let mut url = g.url();
            let boundaries: Vec<usize> = (0..=url.len()).filter(|&i| url.is_char_boundary(i)).collect();
            url.insert(*position.get(&boundaries), bad);
            prop_assert_eq!(kind_of(&list, &url), Some(K::ForbiddenCharacter), "{:?}", url);
        }

        #[test]
        fn check_never_panics_on_arbitrary_strings(s in any::<String>()) {
            let _ = allowlist(MODEL_ENTRIES).check(&s);
            let _ = ReturnUrlAllowlist::new([&s]);
        }

        #[test]
        fn check_never_panics_on_url_shaped_strings(
            s in r"[hHtTpPsS:/\\@%.\[\]0-9a-fA-F?#;]{0,40}",
            t in r"(https?://)?[a-z.:@%\[\]0-9]{0,16}(/[a-z.;%0-9]{0,6}){0,4}[?#]?.{0,6}",
        ) {
            let list = allowlist(MODEL_ENTRIES);
            let _ = list.check(&s);
            let _ = list.check(&t);
            let _ = ReturnUrlAllowlist::new([&s, &t]);
        }

        #[test]
        fn whatever_check_accepts_is_covered_by_an_entry_by_parsed_parts(s in r"https?://[a-zA-Z.:@%\[\]0-9]{0,20}(/[a-z.;%0-9]{0,6}){0,4}") {
            let list = allowlist(MODEL_ENTRIES);
            if let Ok(url) = list.check(&s) {
                let covered = list.entries().iter().any(|e| {
                    let e = Url::parse(e).unwrap();
                    e.scheme() == url.scheme()
                        && e.host_str() == url.host_str()
                        && e.port_or_known_default() == url.port_or_known_default()
                        && path_has_prefix(url.path(), e.path())
                });
                prop_assert!(covered, "{} -> {}", s, url);
                prop_assert!(url.username().is_empty() && url.password().is_none());
            }
        }
    }
}
