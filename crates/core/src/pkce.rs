//! PKCE (RFC 7636) with the `S256` method only: `plain` is never offered.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::secret::Secret;

/// The `code_challenge_method` this crate sends: always `S256`.
pub const METHOD: &str = "S256";

/// Shortest verifier RFC 7636 §4.1 allows.
const MIN_LEN: usize = 43;
/// Longest verifier RFC 7636 §4.1 allows.
const MAX_LEN: usize = 128;
/// Random bytes in a generated verifier: 256 bits, 43 characters of base64url.
const RANDOM_BYTES: usize = 32;

/// A PKCE code verifier. It stays in the pending flow (never in the state, never in a URL);
/// only its [`challenge`](Self::challenge) goes to the provider.
///
/// `Debug` prints `PkceVerifier([redacted])`.
///
/// ```
/// use dravo_connect_core::pkce::PkceVerifier;
/// use dravo_connect_core::Secret;
///
/// let verifier = PkceVerifier::generate();
/// assert_eq!(verifier.secret().expose_secret().len(), 43);
/// let challenge = verifier.challenge(); // goes into the authorize URL, with `S256`
/// assert_eq!(challenge.len(), 43);
///
/// // RFC 7636, Appendix B.
/// let rfc = PkceVerifier::from_secret(Secret::new(
///     "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned(),
/// ))?;
/// assert_eq!(rfc.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PkceVerifier(Secret<String>);

impl PkceVerifier {
    /// A new verifier: 32 bytes from the thread-local CSPRNG (`rand::rng()`, a userspace
    /// ChaCha generator seeded from the OS), as 43 characters of base64url.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; RANDOM_BYTES]);
        rand::rng().fill_bytes(&mut *bytes);
        Self(Secret::new(URL_SAFE_NO_PAD.encode(&bytes[..])))
    }

    /// Wraps a verifier read back from storage, after checking it is 43 to 128 characters
    /// of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
    ///
    /// # Errors
    /// [`PkceError::Length`] or [`PkceError::Charset`]. Neither carries the verifier.
    pub fn from_secret(secret: Secret<String>) -> Result<Self, PkceError> {
        let text = secret.expose_secret();
        if !(MIN_LEN..=MAX_LEN).contains(&text.len()) {
            return Err(PkceError::Length { len: text.len() });
        }
        if !text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')) {
            return Err(PkceError::Charset);
        }
        Ok(Self(secret))
    }

    /// The `S256` code challenge: `BASE64URL(SHA256(verifier))`, 43 characters.
    #[must_use]
    pub fn challenge(&self) -> String {
        s256_challenge(self.0.expose_secret())
    }

    /// The verifier, for storing in the pending flow and for the token request.
    ///
    /// # Security
    /// It must never appear in a URL, the state, a log line or an error.
    pub fn secret(&self) -> &Secret<String> {
        &self.0
    }
}

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier([redacted])")
    }
}

/// The `S256` code challenge of `verifier`: `BASE64URL(SHA256(ASCII(verifier)))` (RFC 7636
/// §4.2). It does not check the verifier's form; [`PkceVerifier::from_secret`] does.
#[must_use]
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A stored PKCE verifier that breaks RFC 7636 §4.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkceError {
    /// Not 43 to 128 characters long.
    #[error("a PKCE verifier must be 43 to 128 characters long, not {len}")]
    Length {
        /// The length that was found, in bytes.
        len: usize,
    },
    /// A character outside `[A-Za-z0-9-._~]`.
    #[error("a PKCE verifier may only contain A-Z a-z 0-9 - . _ ~")]
    Charset,
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn from(s: &str) -> Result<PkceVerifier, PkceError> {
        PkceVerifier::from_secret(Secret::new(s.to_owned()))
    }

    fn is_unreserved(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"-._~".contains(&b)
    }

    #[test]
    fn the_rfc_7636_appendix_b_vector_gives_its_challenge() {
        let v = from("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(v.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(METHOD, "S256");
    }

    #[test]
    fn a_generated_verifier_is_43_unreserved_characters_and_parses_back() {
        let v = PkceVerifier::generate();
        let text = v.secret().expose_secret();
        assert_eq!(text.len(), 43);
        assert!(text.bytes().all(is_unreserved));
        assert!(PkceVerifier::from_secret(v.secret().clone()).is_ok());
        let challenge = v.challenge();
        assert_eq!(challenge.len(), 43);
        assert_ne!(&challenge, text);
    }

    #[test]
    fn ten_thousand_generated_verifiers_are_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let v = PkceVerifier::generate();
            assert!(seen.insert(v.secret().expose_secret().clone()));
        }
    }

    #[test]
    fn verifiers_of_43_to_128_characters_are_accepted() {
        for len in [43, 44, 100, 128] {
            assert!(from(&"a".repeat(len)).is_ok(), "{len}");
        }
        assert!(from("AZaz09-._~AZaz09-._~AZaz09-._~AZaz09-._~xyz").is_ok());
    }

    #[test]
    fn verifiers_outside_43_to_128_characters_are_refused() {
        for len in [0, 1, 42, 129, 1000] {
            assert_eq!(from(&"a".repeat(len)).unwrap_err(), PkceError::Length { len });
        }
    }

    #[test]
    fn verifiers_with_characters_outside_the_unreserved_set_are_refused() {
        let base = "a".repeat(43);
        for c in ["+", "/", "=", " ", "%", "\n", "!", "é"] {
            let bad = format!("{}{c}", &base[..42]);
            let err = from(&bad).unwrap_err();
            // "é" is two bytes, so it makes the text 44 bytes, still in range.
            assert_eq!(err, PkceError::Charset, "{c:?}");
            assert!(!err.to_string().contains(&bad));
        }
    }

    #[test]
    fn debug_never_shows_the_verifier() {
        let v = PkceVerifier::generate();
        let debug = format!("{v:?}");
        assert_eq!(debug, "PkceVerifier([redacted])");
        assert!(!debug.contains(v.secret().expose_secret().as_str()));
    }
}
