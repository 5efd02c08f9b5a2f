//! Typed identifiers. Each is a newtype with a private field, built through `FromStr` (or
//! generated), so a `TenantId` never fits where an `AppId` is expected.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An identifier that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct InvalidId {
    kind: &'static str,
    reason: &'static str,
}

impl InvalidId {
    pub(crate) const fn new(kind: &'static str, reason: &'static str) -> Self {
        Self { kind, reason }
    }

    /// Which kind of identifier was refused (`"tenant id"`, `"app id"`, …).
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

/// Lower-case base32 (RFC 4648 alphabet, lower-cased, no padding) of 16 random bytes: 26
/// characters, 128 bits. Written by hand because it is eight lines; a crate for it would be
/// more code to review than this.
fn random_token() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let mut acc: u128 = u128::from_be_bytes(bytes);
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET.get((acc & 31) as usize).copied().unwrap_or(b'a');
        acc >>= 5;
    }
    out.iter().map(|&b| b as char).collect()
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$meta])*
        // `Arc<str>`: ids are cloned into every record a request builds; a clone is a
        // reference count, not an allocation.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The identifier as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let check: fn(&str) -> Result<(), &'static str> = $check;
                check(s).map_err(|reason| InvalidId::new($kind, reason))?;
                Ok(Self(Arc::from(s)))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                let check: fn(&str) -> Result<(), &'static str> = $check;
                check(&s).map_err(|reason| InvalidId::new($kind, reason))?;
                Ok(Self(Arc::from(s)))
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Hash and Eq are those of the string, so a map keyed by the id can be searched
        // with a `&str`, without building an id.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::try_from(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        string_id!($(#[$meta])* $name, $kind, |s| {
            let rest = s.strip_prefix($prefix).ok_or(concat!("must start with `", $prefix, "`"))?;
            if rest.is_empty() || rest.len() > 64 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err("malformed");
            }
            Ok(())
        });

        impl $name {
            /// A new random identifier (128 bits).
            pub fn generate() -> Self {
                Self(Arc::from(format!("{}{}", $prefix, random_token())))
            }
        }
    };
}

string_id!(
    /// The tenant that owns apps, accounts and flows. An API key resolves to one tenant.
    /// 1 to 128 characters of `[A-Za-z0-9_.:@-]`.
    TenantId,
    "tenant id",
    |s| {
        if s.is_empty() || s.len() > 128 {
            return Err("must be 1 to 128 characters");
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:@-".contains(&b)) {
            return Err("may only contain A-Z a-z 0-9 _ . : @ -");
        }
        Ok(())
    }
);

string_id!(
    /// A provider id such as `x`, `linkedin` or a generic provider's configured id:
    /// `[a-z0-9_]{1,32}`. Built-in ids are part of registered callback URLs and never change.
    ProviderId,
    "provider id",
    |s| {
        if s.is_empty() || s.len() > 32 {
            return Err("must be 1 to 32 characters");
        }
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err("may only contain a-z 0-9 _");
        }
        Ok(())
    }
);

string_id!(
    /// A key id for state keys and encryption keys: `[A-Za-z0-9_-]{1,8}`.
    KeyId,
    "key id",
    |s| {
        if s.is_empty() || s.len() > 8 {
            return Err("must be 1 to 8 characters");
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err("may only contain A-Z a-z 0-9 _ -");
        }
        Ok(())
    }
);

string_id!(
    /// The host's own reference to its end user (at most 255 characters, no control
    /// characters). Given at `start`, kept on the flow and the account.
    ExternalId,
    "external id",
    |s| {
        if s.is_empty() || s.chars().count() > 255 {
            return Err("must be 1 to 255 characters");
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(())
    }
);

prefixed_id!(
    /// An OAuth app's id: `app_` and 26 random characters.
    AppId,
    "app_",
    "app id"
);

prefixed_id!(
    /// A connected account's id: `acc_` and 26 random characters.
    AccountId,
    "acc_",
    "account id"
);

prefixed_id!(
    /// A pending target selection's id: `sel_` and 26 random characters. Opaque, and useless
    /// without the tenant's key.
    SelectionId,
    "sel_",
    "selection id"
);

impl ProviderId {
    /// A provider id written in the source, as `http::HeaderValue::from_static` takes a
    /// header value: for a provider's own id, known to be valid when it is written.
    ///
    /// # Panics
    /// When `s` is not a valid provider id (see [`FromStr`]); use `parse` for any id that
    /// is not a literal.
    #[allow(clippy::panic)]
    pub fn from_static(s: &'static str) -> Self {
        match s.parse() {
            Ok(id) => id,
            Err(e) => panic!("invalid provider id {s:?}: {e}"),
        }
    }
}

impl KeyId {
    /// The key id `0`, used when a single secret is configured.
    pub fn zero() -> Self {
        Self(Arc::from("0"))
    }
}

/// A pending flow's id: 20 random bytes (160 bits), as RFC 6749 §10.10 recommends. It is
/// the random part of the state; shown as 27 characters of base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowId([u8; FlowId::LEN]);

impl FlowId {
    /// Length in bytes.
    pub const LEN: usize = 20;

    /// A new random flow id, from the thread-local CSPRNG (a userspace ChaCha generator
    /// seeded from the OS; one syscall per flow would cost more than the rest of `start`).
    pub fn generate() -> Self {
        let mut bytes = [0u8; Self::LEN];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Builds a flow id from its bytes.
    pub const fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }
}

impl FlowId {
    /// Length of the text form (base64url without padding of [`LEN`](Self::LEN) bytes).
    pub(crate) const TEXT_LEN: usize = 27;

    /// The text form, on the stack: what `to_string` gives, without an allocation.
    pub(crate) fn text(&self) -> FlowIdText {
        let mut out = [0u8; Self::TEXT_LEN];
        // 20 bytes are exactly 27 characters: the slice always fits.
        let written = URL_SAFE_NO_PAD.encode_slice(self.0, &mut out);
        debug_assert_eq!(written, Ok(Self::TEXT_LEN));
        FlowIdText(out)
    }
}

/// A [`FlowId`]'s text form (27 characters of base64url), on the stack.
#[derive(Clone, Copy)]
pub(crate) struct FlowIdText([u8; FlowId::TEXT_LEN]);

impl FlowIdText {
    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        // Base64url is ASCII; the fallback is never taken.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

impl fmt::Debug for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FlowId({self})")
    }
}

impl FromStr for FlowId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidId::new("flow id", "not base64url"))?;
        let arr: [u8; Self::LEN] = bytes.try_into().map_err(|_| InvalidId::new("flow id", "wrong length"))?;
        Ok(Self(arr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_their_prefix_and_parse_back() {
        let app = AppId::generate();
        assert!(app.as_str().starts_with("app_"));
        assert_eq!(app.as_str().len(), 30);
        assert_eq!(app.as_str().parse::<AppId>().unwrap(), app);
        let acc = AccountId::generate();
        assert!(acc.as_str().starts_with("acc_"));
        assert!(acc.as_str().parse::<AppId>().is_err());
    }

    #[test]
    fn provider_and_key_ids_are_validated() {
        assert!("x".parse::<ProviderId>().is_ok());
        assert!("my_provider2".parse::<ProviderId>().is_ok());
        assert!("X".parse::<ProviderId>().is_err());
        assert!("".parse::<ProviderId>().is_err());
        assert!("a/b".parse::<ProviderId>().is_err());
        assert!("k1-_A".parse::<KeyId>().is_ok());
        assert!("123456789".parse::<KeyId>().is_err());
        assert!("a b".parse::<TenantId>().is_err());
        assert!("line\nbreak".parse::<ExternalId>().is_err());
        assert!("user 42 (ü)".parse::<ExternalId>().is_ok());
    }

    #[test]
    fn flow_ids_round_trip_and_differ() {
        let a = FlowId::generate();
        let b = FlowId::generate();
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 27);
        assert_eq!(a.to_string().parse::<FlowId>().unwrap(), a);
        assert!("short".parse::<FlowId>().is_err());
        for id in std::iter::repeat_with(FlowId::generate)
            .take(500)
            .chain([FlowId::from_bytes([0; 20]), FlowId::from_bytes([0xff; 20])])
        {
            assert_eq!(id.text().as_str(), URL_SAFE_NO_PAD.encode(id.as_bytes()));
        }
    }
}
