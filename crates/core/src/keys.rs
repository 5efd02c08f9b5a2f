//! Key material shared by the state signer and the secret box: decoding configured keys and
//! checking a key list (at least one key, unique ids, the right length).

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use crate::ids::KeyId;
use crate::secret::Secret;

/// A key-configuration error. It names the key id, never the key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key list is empty: at least one key is required.
    #[error("no keys configured: at least one key is required")]
    NoKeys,
    /// Two keys share an id.
    #[error("duplicate key id `{0}`")]
    DuplicateKeyId(KeyId),
    /// A key is shorter than the minimum.
    #[error("key `{key_id}` is too short: {got} bytes, at least {min} required")]
    TooShort {
        /// The key's id.
        key_id: KeyId,
        /// The minimum length in bytes.
        min: usize,
        /// The key's length in bytes.
        got: usize,
    },
    /// A key does not have the exact length its algorithm needs.
    #[error("key `{key_id}` must be exactly {expected} bytes, got {got}")]
    WrongLength {
        /// The key's id.
        key_id: KeyId,
        /// The required length in bytes.
        expected: usize,
        /// The key's length in bytes.
        got: usize,
    },
    /// A key is not valid base64 (standard or URL-safe alphabet).
    #[error("key `{key_id}` is not valid base64 (standard or URL-safe alphabet, padding optional)")]
    NotBase64 {
        /// The key's id.
        key_id: KeyId,
    },
}

/// Padding optional on decode; trailing bits must still be canonical.
const ANY_PADDING: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, ANY_PADDING);
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, ANY_PADDING);

/// Decodes a configured key: base64 in the standard or the URL-safe alphabet, padding
/// optional, surrounding whitespace trimmed. Keys from `openssl rand -base64 32` and from
/// URL-safe generators both work. The length is not checked here; [`StateSigner::new`] and
/// [`SecretBox::new`] check it.
///
/// [`StateSigner::new`]: crate::state::StateSigner::new
/// [`SecretBox::new`]: crate::secret_box::SecretBox::new
///
/// # Errors
/// [`KeyError::NotBase64`] when `text` is not base64 in either alphabet (a mix of both
/// alphabets is refused too).
///
/// # Security
/// The decoded bytes only ever live in zeroised buffers; the error names the key id and never
/// the text.
pub fn decode_key_material(key_id: &KeyId, text: &str) -> Result<Secret<Vec<u8>>, KeyError> {
    let text = text.trim();
    let mut buf = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(text.len())]);
    let len = STANDARD_ANY_PADDING
        .decode_slice(text, &mut buf)
        .or_else(|_| URL_SAFE_ANY_PADDING.decode_slice(text, &mut buf))
        .map_err(|_| KeyError::NotBase64 { key_id: key_id.clone() })?;
    buf.truncate(len);
    // `Secret` zeroises the whole allocation, spare capacity included, when dropped.
    Ok(Secret::new(std::mem::take(&mut *buf)))
}

/// The length rule a key list enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyLength {
    /// At least this many bytes (HMAC keys).
    AtLeast(usize),
    /// Exactly this many bytes (AEAD keys).
    Exactly(usize),
}

/// One prepared key (a keyed MAC, a cipher) and its id.
#[derive(Clone)]
pub(crate) struct KeyEntry<T> {
    pub(crate) id: KeyId,
    pub(crate) key: T,
}

/// A non-empty list of prepared keys with unique ids. The first one signs or seals; all of
/// them verify or open. `Debug` prints the ids only.
#[derive(Clone)]
pub(crate) struct KeyRing<T> {
    first: KeyEntry<T>,
    rest: Vec<KeyEntry<T>>,
}

impl<T> KeyRing<T> {
    /// Checks the list (non-empty, unique ids, lengths) and prepares each key once. The raw
    /// key bytes are dropped (and zeroised) as soon as `prepare` has used them.
    pub(crate) fn build<I, F>(keys: I, length: KeyLength, mut prepare: F) -> Result<Self, KeyError>
    where
        I: IntoIterator<Item = (KeyId, Secret<Vec<u8>>)>,
        F: FnMut(&KeyId, &[u8]) -> Result<T, KeyError>,
    {
        let mut entries: Vec<KeyEntry<T>> = Vec::new();
        for (id, secret) in keys {
            if entries.iter().any(|e| e.id == id) {
                return Err(KeyError::DuplicateKeyId(id));
            }
            let bytes = secret.expose_secret().as_slice();
            let got = bytes.len();
            match length {
                KeyLength::AtLeast(min) if got < min => {
                    return Err(KeyError::TooShort { key_id: id, min, got });
                }
                KeyLength::Exactly(expected) if got != expected => {
                    return Err(KeyError::WrongLength { key_id: id, expected, got });
                }
                _ => {}
            }
            let key = prepare(&id, bytes)?;
            entries.push(KeyEntry { id, key });
        }
        let mut entries = entries.into_iter();
        let first = entries.next().ok_or(KeyError::NoKeys)?;
        Ok(Self { first, rest: entries.collect() })
    }

    /// The key that signs or seals.
    pub(crate) fn first(&self) -> &KeyEntry<T> {
        &self.first
    }

    /// The key with this id (as raw bytes, straight from a state or a ciphertext). Key ids
    /// are public, so a plain comparison is fine.
    pub(crate) fn find(&self, id: &[u8]) -> Option<&KeyEntry<T>> {
        self.iter().find(|e| e.id.as_str().as_bytes() == id)
    }

    /// All keys, the first one first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &KeyEntry<T>> {
        std::iter::once(&self.first).chain(self.rest.iter())
    }

    /// All key ids, the first one first.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &KeyId> {
        self.iter().map(|e| &e.id)
    }
}

impl<T> fmt::Debug for KeyRing<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ids().map(KeyId::as_str)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kid(s: &str) -> KeyId {
        s.parse().unwrap()
    }

    fn decode(text: &str) -> Result<Vec<u8>, KeyError> {
        decode_key_material(&kid("k1"), text).map(|s| s.expose_secret().clone())
    }

    /// 32 bytes whose base64 uses `+` and `/` (standard) or `-` and `_` (URL-safe).
    const BYTES: [u8; 32] = [
        0xfb, 0xff, 0xbf, 0xfb, 0xef, 0xfe, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
        0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0xff,
    ];

    #[test]
    fn standard_base64_decodes_with_and_without_padding() {
        let padded = base64::engine::general_purpose::STANDARD.encode(BYTES);
        assert!(padded.ends_with('=') && padded.contains('+') && padded.contains('/'));
        assert_eq!(decode(&padded).unwrap(), BYTES);
        assert_eq!(decode(padded.trim_end_matches('=')).unwrap(), BYTES);
    }

    #[test]
    fn url_safe_base64_decodes_with_and_without_padding() {
        let padded = base64::engine::general_purpose::URL_SAFE.encode(BYTES);
        assert!(padded.ends_with('=') && padded.contains('-') && padded.contains('_'));
        assert_eq!(decode(&padded).unwrap(), BYTES);
        assert_eq!(decode(padded.trim_end_matches('=')).unwrap(), BYTES);
    }

    #[test]
    fn openssl_rand_output_with_its_newline_decodes() {
        // What `openssl rand -base64 32` prints: 44 characters and a newline.
        let text = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n";
        assert_eq!(decode(text).unwrap().len(), 32);
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        let text = base64::engine::general_purpose::STANDARD.encode(BYTES);
        assert_eq!(decode(&format!("  \t{text}\r\n ")).unwrap(), BYTES);
    }

    #[test]
    fn text_that_is_not_base64_is_refused_with_the_key_id_only() {
        for bad in ["not base64!", "abc$def", "q83vEjRWeJCrze8SNFZ4kKvN7xI0Vni Qq83vEjRWeJA=", "a", "a==="] {
            let err = decode(bad).unwrap_err();
            assert_eq!(err, KeyError::NotBase64 { key_id: kid("k1") }, "{bad:?}");
            if bad.len() > 4 {
                assert!(!err.to_string().contains(bad));
            }
        }
    }

    #[test]
    fn a_mix_of_both_alphabets_is_refused() {
        assert!(matches!(decode("ab+c-def"), Err(KeyError::NotBase64 { .. })));
    }

    #[test]
    fn non_canonical_trailing_bits_are_refused() {
        // "AB" decodes to one byte with 4 leftover bits; "AA" is the canonical form.
        assert!(decode("AA").is_ok());
        assert!(matches!(decode("AB"), Err(KeyError::NotBase64 { .. })));
    }

    fn ring(keys: Vec<(&str, Vec<u8>)>, length: KeyLength) -> Result<KeyRing<usize>, KeyError> {
        KeyRing::build(keys.into_iter().map(|(id, k)| (kid(id), Secret::new(k))), length, |_, bytes| Ok(bytes.len()))
    }

    #[test]
    fn a_too_short_key_is_refused() {
        let err = ring(vec![("k1", vec![1; 31])], KeyLength::AtLeast(32)).unwrap_err();
        assert_eq!(err, KeyError::TooShort { key_id: kid("k1"), min: 32, got: 31 });
        assert!(ring(vec![("k1", vec![1; 32])], KeyLength::AtLeast(32)).is_ok());
        assert!(ring(vec![("k1", vec![1; 64])], KeyLength::AtLeast(32)).is_ok());
    }

    #[test]
    fn a_key_of_the_wrong_length_is_refused() {
        for len in [0, 16, 31, 33, 64] {
            let err = ring(vec![("k1", vec![1; len])], KeyLength::Exactly(32)).unwrap_err();
            assert_eq!(err, KeyError::WrongLength { key_id: kid("k1"), expected: 32, got: len });
        }
    }

    #[test]
    fn an_empty_key_list_is_refused() {
        assert_eq!(ring(vec![], KeyLength::AtLeast(32)).unwrap_err(), KeyError::NoKeys);
    }

    #[test]
    fn duplicate_key_ids_are_refused() {
        let err =
            ring(vec![("a", vec![1; 32]), ("b", vec![2; 32]), ("a", vec![3; 32])], KeyLength::AtLeast(32)).unwrap_err();
        assert_eq!(err, KeyError::DuplicateKeyId(kid("a")));
    }

    #[test]
    fn the_ring_keeps_order_finds_by_id_and_debugs_ids_only() {
        let r = ring(vec![("new", vec![1; 40]), ("old", vec![2; 32])], KeyLength::AtLeast(32)).unwrap();
        assert_eq!(r.first().id.as_str(), "new");
        assert_eq!(r.find(b"old").unwrap().key, 32);
        assert!(r.find(b"nope").is_none());
        let ids: Vec<&str> = r.ids().map(KeyId::as_str).collect();
        assert_eq!(ids, ["new", "old"]);
        assert_eq!(format!("{r:?}"), r#"["new", "old"]"#);
    }
}
