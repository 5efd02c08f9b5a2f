//! [`Secret`]: a value that must never be printed, logged or serialised by accident.

use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroize;

/// A secret value: a client secret, an access or refresh token, an API key, a PKCE verifier
/// or a key.
///
/// `Debug` prints `Secret([redacted])` and `Display` prints `[redacted]`, so a secret inside a
/// struct that is logged or formatted never shows. It implements `Deserialize` (so it can sit
/// in a config struct) but deliberately not `Serialize` and not `PartialEq` (compare secrets in
/// constant time, with `subtle`, on their digests). The value is zeroised when dropped.
///
/// ```
/// use dravo_connect_core::Secret;
/// let s = Secret::new(String::from("hunter2"));
/// assert_eq!(format!("{s:?}"), "Secret([redacted])");
/// assert_eq!(s.expose_secret(), "hunter2");
/// ```
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Reads the secret value.
    ///
    /// # Security
    /// Everything done with the returned reference is outside the redaction this type
    /// gives: never log it, put it in an error message or a URL that is logged.
    pub fn expose_secret(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<Vec<u8>> for Secret<Vec<u8>> {
    fn from(value: Vec<u8>) -> Self {
        Self(value)
    }
}

impl<'de, T: Zeroize + Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new(String::from("top-secret-value"));
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(format!("{s}"), "[redacted]");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            secret: Secret<String>,
        }
        let h = Holder { secret: s.clone() };
        assert!(!format!("{h:?}").contains("top-secret"));
        assert_eq!(s.expose_secret(), "top-secret-value");
    }

    #[test]
    fn deserializes_from_a_plain_string() {
        let s: Secret<String> = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(s.expose_secret(), "abc");
    }
}
