//! Secrets at rest: AES-256-GCM with a random nonce, a key id for rotation, and the row id
//! and field name bound as associated data.
//!
//! # Format
//!
//! A [`Sealed`] value is:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, `1` |
//! | 1 | key id length `n`, 1 to 8 |
//! | n | key id (ASCII) |
//! | 12 | random nonce |
//! | len | ciphertext |
//! | 16 | GCM tag |
//!
//! The associated data is a label, then the row id and the field name, each prefixed with
//! its length (`u64` big-endian), then the version, key id length and key id. A ciphertext
//! moved to another row, or to another field of the same row, fails to open.
//!
//! Random 96-bit nonces are safe for up to about 2³² seals under one key (NIST SP 800-38D
//! §8.3); rotating keys resets the count.

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::AeadInPlace as _;
use aes_gcm::{Aes256Gcm, KeyInit as _};
use rand::RngCore as _;
use zeroize::Zeroize as _;

use crate::ids::KeyId;
use crate::keys::{KeyError, KeyLength, KeyRing};
use crate::secret::Secret;

/// Format version, the first byte of every sealed value.
const VERSION: u8 = 1;
/// Domain separation for the associated data.
const LABEL: &[u8] = b"dravo-connect/secret-box/v1";
/// AES-256 key length.
const KEY_LEN: usize = 32;
/// Longest key id ([`KeyId`] allows 1 to 8 characters).
const MAX_KEY_ID_LEN: usize = 8;
/// GCM's standard 96-bit nonce.
const NONCE_LEN: usize = 12;
/// GCM's full 128-bit tag.
const TAG_LEN: usize = 16;

type Nonce = aes_gcm::Nonce<aes_gcm::aead::consts::U12>;
type Tag = aes_gcm::Tag<aes_gcm::aead::consts::U16>;

/// Encrypts secrets for storage (client secrets, access and refresh tokens).
///
/// The first key seals; every listed key opens, so keys rotate by putting a new key first,
/// keeping the old one, and re-sealing what [`needs_reseal`](Self::needs_reseal). Cloning is
/// cheap (one reference count). `Debug` prints the key ids only.
///
/// ```
/// use dravo_connect_core::secret_box::SecretBox;
/// use dravo_connect_core::{KeyId, Secret};
///
/// // In production the key comes from config (`encryption_key` / `encryption_keys`).
/// let secret_box = SecretBox::new([(KeyId::zero(), Secret::new(vec![7u8; 32]))])?;
///
/// let sealed = secret_box.seal("acc_123", "access_token", b"ya29.token");
/// let token = secret_box.open_string("acc_123", "access_token", &sealed)?;
/// assert_eq!(token.expose_secret(), "ya29.token");
///
/// // Bound to its row and field.
/// assert!(secret_box.open("acc_456", "access_token", &sealed).is_err());
/// assert!(secret_box.open("acc_123", "refresh_token", &sealed).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SecretBox {
    /// Ciphers with their key schedules, built once.
    keys: Arc<KeyRing<Aes256Gcm>>,
}

impl SecretBox {
    /// Builds a secret box from `(key id, key)` pairs. The first key seals; all of them
    /// open.
    ///
    /// # Errors
    /// [`KeyError::NoKeys`] for an empty list, [`KeyError::DuplicateKeyId`] when two keys
    /// share an id, [`KeyError::WrongLength`] for a key that is not exactly 32 bytes.
    ///
    /// # Security
    /// Only the ciphers are kept; the key bytes are zeroised when dropped here.
    pub fn new<I>(keys: I) -> Result<Self, KeyError>
    where
        I: IntoIterator<Item = (KeyId, Secret<Vec<u8>>)>,
    {
        let ring = KeyRing::build(keys, KeyLength::Exactly(KEY_LEN), |id, bytes| {
            Aes256Gcm::new_from_slice(bytes).map_err(|_| KeyError::WrongLength {
                key_id: id.clone(),
                expected: KEY_LEN,
                got: bytes.len(),
            })
        })?;
        Ok(Self { keys: Arc::new(ring) })
    }

    /// Encrypts `plaintext` with the first key and a fresh random nonce, bound to `row_id`
    /// (such as `app_…` or `acc_…`) and `field` (such as `client_secret`, `access_token`,
    /// `refresh_token`).
    ///
    /// # Security
    /// Open it with the same `row_id` and `field`, or it fails. AES-GCM refuses plaintexts
    /// or associated data over 2³⁶ bytes (64 GiB); for such an input (unreachable behind the
    /// crate's size limits) the result is a value that never opens, rather than a panic.
    #[must_use]
    pub fn seal(&self, row_id: &str, field: &str, plaintext: &[u8]) -> Sealed {
        self.try_seal(row_id, field, plaintext).unwrap_or_else(|| Sealed(Vec::new()))
    }

    fn try_seal(&self, row_id: &str, field: &str, plaintext: &[u8]) -> Option<Sealed> {
        let key = self.keys.first();
        let key_id = key.id.as_str().as_bytes();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);

        let mut out = Vec::with_capacity(2 + key_id.len() + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(VERSION);
        out.push(u8::try_from(key_id.len()).ok()?);
        out.extend_from_slice(key_id);
        let aad = associated_data(row_id, field, &out);
        out.extend_from_slice(&nonce);
        let body_start = out.len();
        out.extend_from_slice(plaintext);

        let tag = out
            .get_mut(body_start..)
            .and_then(|body| key.key.encrypt_in_place_detached(&Nonce::from(nonce), &aad, body).ok());
        match tag {
            Some(tag) => {
                out.extend_from_slice(&tag);
                Some(Sealed(out))
            }
            None => {
                // The buffer may still hold plaintext.
                out.zeroize();
                None
            }
        }
    }

    /// Decrypts `sealed`, checking that it was sealed for this `row_id` and `field`.
    ///
    /// # Errors
    /// An [`OpenError`] whose [`kind`](OpenError::kind) is [`OpenErrorKind::Malformed`],
    /// [`OpenErrorKind::UnknownKey`] (its key is not configured here) or
    /// [`OpenErrorKind::Decrypt`] (altered, sealed for another row or field, or with
    /// another key of the same id).
    ///
    /// # Security
    /// The tag is checked (in constant time) before anything is decrypted; no plaintext
    /// exists on failure. The error never carries the input.
    pub fn open(&self, row_id: &str, field: &str, sealed: &Sealed) -> Result<Secret<Vec<u8>>, OpenError> {
        self.open_raw(row_id, field, sealed).map(Secret::new)
    }

    /// [`open`](Self::open), for a secret that is text.
    ///
    /// # Errors
    /// As [`open`](Self::open), plus [`OpenErrorKind::NotUtf8`] when the plaintext is not
    /// UTF-8.
    ///
    /// # Security
    /// A non-UTF-8 plaintext is zeroised before the error is returned.
    pub fn open_string(&self, row_id: &str, field: &str, sealed: &Sealed) -> Result<Secret<String>, OpenError> {
        let bytes = self.open_raw(row_id, field, sealed)?;
        String::from_utf8(bytes).map(Secret::new).map_err(|err| {
            err.into_bytes().zeroize();
            OpenError::NOT_UTF8
        })
    }

    fn open_raw(&self, row_id: &str, field: &str, sealed: &Sealed) -> Result<Vec<u8>, OpenError> {
        let parts = Parts::parse(&sealed.0).ok_or(OpenError::MALFORMED)?;
        let key = self.keys.find(parts.key_id.as_bytes()).ok_or(OpenError::UNKNOWN_KEY)?;
        let aad = associated_data(row_id, field, parts.header);
        let mut buf = parts.ciphertext.to_vec();
        match key.key.decrypt_in_place_detached(&Nonce::from(parts.nonce), &aad, &mut buf, &Tag::from(parts.tag)) {
            Ok(()) => Ok(buf),
            Err(_) => Err(OpenError::DECRYPT),
        }
    }

    /// True when `sealed` was not sealed with the current (first) key, so it should be
    /// opened and sealed again after a key rotation. Also true for a malformed value.
    pub fn needs_reseal(&self, sealed: &Sealed) -> bool {
        sealed.key_id() != self.sealing_key_id().as_str()
    }

    /// The id of the key that seals.
    pub fn sealing_key_id(&self) -> &KeyId {
        &self.keys.first().id
    }
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox").field("key_ids", &*self.keys).finish()
    }
}

/// Label, row id and field (each length-prefixed), then the header (version, key id length,
/// key id), which ends the input so needs no prefix.
fn associated_data(row_id: &str, field: &str, header: &[u8]) -> Vec<u8> {
    // usize is at most 64 bits on every target Rust supports.
    let (row_len, field_len) = ((row_id.len() as u64).to_be_bytes(), (field.len() as u64).to_be_bytes());
    [LABEL, &row_len, row_id.as_bytes(), &field_len, field.as_bytes(), header].concat()
}

/// The fields of a well-formed sealed value.
struct Parts<'a> {
    /// Version, key id length and key id.
    header: &'a [u8],
    key_id: &'a str,
    nonce: [u8; NONCE_LEN],
    ciphertext: &'a [u8],
    tag: [u8; TAG_LEN],
}

impl<'a> Parts<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        let (&version, rest) = bytes.split_first()?;
        if version != VERSION {
            return None;
        }
        let (&key_id_len, rest) = rest.split_first()?;
        let key_id_len = usize::from(key_id_len);
        if !(1..=MAX_KEY_ID_LEN).contains(&key_id_len) {
            return None;
        }
        let (key_id, rest) = rest.split_at_checked(key_id_len)?;
        // The `KeyId` grammar, so `key_id()` is a real key id.
        if !key_id.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return None;
        }
        let key_id = std::str::from_utf8(key_id).ok()?;
        let (header, _) = bytes.split_at_checked(2 + key_id_len)?;
        let (nonce, rest) = rest.split_at_checked(NONCE_LEN)?;
        let (ciphertext, tag) = rest.split_at_checked(rest.len().checked_sub(TAG_LEN)?)?;
        Some(Self { header, key_id, nonce: nonce.try_into().ok()?, ciphertext, tag: tag.try_into().ok()? })
    }
}

/// A sealed secret as stored: version, key id, random 96-bit nonce, ciphertext and tag (see
/// the [module docs](self)). Store it with [`as_bytes`](Self::as_bytes) or
/// [`into_bytes`](Self::into_bytes) and read it back with [`from_bytes`](Self::from_bytes).
/// `Debug` prints its length and key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    /// Wraps stored bytes, checking their format only (not the tag: that is
    /// [`SecretBox::open`]'s job).
    ///
    /// # Errors
    /// An [`OpenError`] of kind [`OpenErrorKind::Malformed`] when the bytes are not in the
    /// sealed format.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, OpenError> {
        match Parts::parse(&bytes) {
            Some(_) => Ok(Self(bytes)),
            None => Err(OpenError::MALFORMED),
        }
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes to store, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The id of the key that sealed it (empty for the value [`SecretBox::seal`] returns on
    /// its unreachable failure path).
    pub fn key_id(&self) -> &str {
        Parts::parse(&self.0).map_or("", |p| p.key_id)
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed").field("key_id", &self.key_id()).field("len", &self.0.len()).finish()
    }
}

/// Why a sealed value did not open. Opaque; see [`kind`](Self::kind). Its message is short
/// and never carries the input.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .kind.message())]
pub struct OpenError {
    kind: OpenErrorKind,
}

impl OpenError {
    const MALFORMED: Self = Self { kind: OpenErrorKind::Malformed };
    const UNKNOWN_KEY: Self = Self { kind: OpenErrorKind::UnknownKey };
    const DECRYPT: Self = Self { kind: OpenErrorKind::Decrypt };
    const NOT_UTF8: Self = Self { kind: OpenErrorKind::NotUtf8 };

    /// What went wrong.
    pub fn kind(&self) -> OpenErrorKind {
        self.kind
    }
}

/// The kind of an [`OpenError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenErrorKind {
    /// Not in the sealed format.
    Malformed,
    /// Sealed with a key id that is not configured.
    UnknownKey,
    /// The tag does not verify: altered, sealed for another row or field, or with another
    /// key under the same id.
    Decrypt,
    /// Opened, but the plaintext is not UTF-8 (from [`SecretBox::open_string`]).
    NotUtf8,
}

impl OpenErrorKind {
    fn message(self) -> &'static str {
        match self {
            Self::Malformed => "malformed sealed value",
            Self::UnknownKey => "sealed with an unknown key",
            Self::Decrypt => "sealed value does not open",
            Self::NotUtf8 => "sealed value is not UTF-8",
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn associated_data_is_the_label_then_the_prefixed_ids_then_the_header() {
        for (row_id, field) in [("app_x", "client_secret"), ("", ""), (&*"r".repeat(200), "f")] {
            let header = [VERSION, 2, b'k', b'1'];
            let mut expected = LABEL.to_vec();
            for part in [row_id.as_bytes(), field.as_bytes()] {
                expected.extend_from_slice(&(part.len() as u64).to_be_bytes());
                expected.extend_from_slice(part);
            }
            expected.extend_from_slice(&header);
            assert_eq!(associated_data(row_id, field, &header).as_slice(), expected.as_slice());
        }
        let boxes = SecretBox::new([(KeyId::zero(), Secret::new(vec![7u8; 32]))]).unwrap();
        let long_row = "r".repeat(300);
        let sealed = boxes.seal(&long_row, "f", b"secret");
        assert_eq!(boxes.open(&long_row, "f", &sealed).unwrap().expose_secret(), b"secret");
        assert!(boxes.open(&"r".repeat(299), "f", &sealed).is_err());
    }

    fn kid(s: &str) -> KeyId {
        s.parse().unwrap()
    }

    fn sbox(keys: &[(&str, u8)]) -> SecretBox {
        SecretBox::new(keys.iter().map(|&(id, fill)| (kid(id), Secret::new(vec![fill; 32])))).unwrap()
    }

    fn kind<T: fmt::Debug>(result: Result<T, OpenError>) -> OpenErrorKind {
        result.unwrap_err().kind()
    }

    #[test]
    fn a_sealed_secret_opens_with_the_same_row_and_field() {
        let b = sbox(&[("k1", 1)]);
        let sealed = b.seal("acc_1", "access_token", b"token-value");
        assert_eq!(b.open("acc_1", "access_token", &sealed).unwrap().expose_secret(), b"token-value");
        assert_eq!(b.open_string("acc_1", "access_token", &sealed).unwrap().expose_secret(), "token-value");
        assert_eq!(sealed.key_id(), "k1");
        assert_eq!(sealed.as_bytes().len(), 2 + 2 + 12 + 11 + 16);
    }

    #[test]
    fn an_empty_plaintext_round_trips() {
        let b = sbox(&[("k1", 1)]);
        let sealed = b.seal("app_1", "client_secret", b"");
        assert!(b.open("app_1", "client_secret", &sealed).unwrap().expose_secret().is_empty());
    }

    #[test]
    fn the_ciphertext_does_not_contain_the_plaintext_and_nonces_differ() {
        let b = sbox(&[("k1", 1)]);
        let one = b.seal("acc_1", "access_token", b"plaintext-plaintext");
        let two = b.seal("acc_1", "access_token", b"plaintext-plaintext");
        assert_ne!(one, two);
        assert!(!one.as_bytes().windows(9).any(|w| w == b"plaintext"));
    }

    #[test]
    fn opening_with_another_row_id_fails() {
        let b = sbox(&[("k1", 1)]);
        let sealed = b.seal("acc_1", "access_token", b"t");
        assert_eq!(kind(b.open("acc_2", "access_token", &sealed)), OpenErrorKind::Decrypt);
        assert_eq!(kind(b.open("", "access_token", &sealed)), OpenErrorKind::Decrypt);
    }

    #[test]
    fn opening_with_another_field_of_the_same_row_fails() {
        let b = sbox(&[("k1", 1)]);
        let sealed = b.seal("acc_1", "access_token", b"t");
        assert_eq!(kind(b.open("acc_1", "refresh_token", &sealed)), OpenErrorKind::Decrypt);
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_fails_even_when_the_bytes_line_up() {
        // Without length prefixes ("ab","c") and ("a","bc") would share associated data.
        let b = sbox(&[("k1", 1)]);
        let sealed = b.seal("ab", "c", b"t");
        assert_eq!(kind(b.open("a", "bc", &sealed)), OpenErrorKind::Decrypt);
        let stored = sealed.clone().into_bytes();
        let moved = Sealed::from_bytes(stored).unwrap();
        assert_eq!(kind(b.open("acc_other", "c", &moved)), OpenErrorKind::Decrypt);
        assert!(b.open("ab", "c", &moved).is_ok());
    }

    #[test]
    fn every_tampered_byte_fails_to_open() {
        let b = sbox(&[("k1", 1)]);
        let sealed = b.seal("acc_1", "access_token", b"some token");
        let bytes = sealed.as_bytes().to_vec();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                let opened = Sealed::from_bytes(bad)
                    .map_err(|e| e.kind())
                    .and_then(|s| b.open("acc_1", "access_token", &s).map_err(|e| e.kind()));
                assert!(opened.is_err(), "byte {i} bit {bit}");
            }
        }
        for end in 0..bytes.len() {
            let short = Sealed(bytes[..end].to_vec());
            assert!(b.open("acc_1", "access_token", &short).is_err(), "truncated to {end}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(kind(b.open("acc_1", "access_token", &Sealed(long))), OpenErrorKind::Decrypt);
    }

    #[test]
    fn rotation_keeps_old_values_open_and_seals_with_the_new_key() {
        let old = sbox(&[("old", 1)]);
        let rotated = sbox(&[("new", 2), ("old", 1)]);
        assert_eq!(rotated.sealing_key_id(), &kid("new"));

        let old_sealed = old.seal("app_1", "client_secret", b"s3cret");
        assert_eq!(rotated.open("app_1", "client_secret", &old_sealed).unwrap().expose_secret(), b"s3cret");
        assert!(rotated.needs_reseal(&old_sealed));
        assert!(!old.needs_reseal(&old_sealed));

        let new_sealed = rotated.seal("app_1", "client_secret", b"s3cret");
        assert_eq!(new_sealed.key_id(), "new");
        assert!(!rotated.needs_reseal(&new_sealed));
        assert_eq!(kind(old.open("app_1", "client_secret", &new_sealed)), OpenErrorKind::UnknownKey);
    }

    #[test]
    fn another_key_under_the_same_id_fails_to_decrypt() {
        let a = sbox(&[("k1", 1)]);
        let b = sbox(&[("k1", 2)]);
        let sealed = a.seal("acc_1", "access_token", b"t");
        assert_eq!(kind(b.open("acc_1", "access_token", &sealed)), OpenErrorKind::Decrypt);
    }

    #[test]
    fn keys_of_the_wrong_length_are_refused() {
        for len in [0, 16, 31, 33, 64] {
            let err = SecretBox::new([(kid("k1"), Secret::new(vec![1; len]))]).unwrap_err();
            assert_eq!(err, KeyError::WrongLength { key_id: kid("k1"), expected: 32, got: len });
        }
        assert_eq!(SecretBox::new([]).unwrap_err(), KeyError::NoKeys);
        let dup =
            SecretBox::new([(kid("a"), Secret::new(vec![1; 32])), (kid("a"), Secret::new(vec![2; 32]))]).unwrap_err();
        assert_eq!(dup, KeyError::DuplicateKeyId(kid("a")));
    }

    #[test]
    fn a_non_utf8_plaintext_fails_open_string_but_opens_as_bytes() {
        let b = sbox(&[("k1", 1)]);
        let sealed = b.seal("acc_1", "access_token", &[0xff, 0xfe]);
        assert_eq!(kind(b.open_string("acc_1", "access_token", &sealed)), OpenErrorKind::NotUtf8);
        assert!(b.open("acc_1", "access_token", &sealed).is_ok());
    }

    #[test]
    fn from_bytes_checks_the_format() {
        for bad in [
            vec![],
            vec![1],
            vec![2, 1, b'a'],
            [vec![1, 0], vec![0; 28]].concat(),
            [vec![1, 9], b"123456789".to_vec(), vec![0; 28]].concat(),
            [vec![1, 1, b'!'], vec![0; 28]].concat(),
            [vec![1, 1, b'a'], vec![0; 27]].concat(),
        ] {
            assert_eq!(kind(Sealed::from_bytes(bad)), OpenErrorKind::Malformed);
        }
        let minimal = [vec![1, 1, b'a'], vec![0; 28]].concat();
        let sealed = Sealed::from_bytes(minimal).unwrap();
        assert_eq!(sealed.key_id(), "a");
        assert_eq!(kind(sbox(&[("k1", 1)]).open("r", "f", &sealed)), OpenErrorKind::UnknownKey);
        assert_eq!(kind(sbox(&[("a", 1)]).open("r", "f", &sealed)), OpenErrorKind::Decrypt);
    }

    #[test]
    fn debug_shows_key_ids_and_lengths_only() {
        let b = SecretBox::new([
            (kid("new"), Secret::new(b"0123456789abcdef0123456789abcdef".to_vec())),
            (kid("old"), Secret::new(vec![0xab; 32])),
        ])
        .unwrap();
        assert_eq!(format!("{b:?}"), r#"SecretBox { key_ids: ["new", "old"] }"#);
        let sealed = b.seal("acc_1", "access_token", b"visible?");
        assert_eq!(format!("{sealed:?}"), r#"Sealed { key_id: "new", len: 41 }"#);
        let err = b.open("acc_2", "access_token", &sealed).unwrap_err();
        assert_eq!(err.to_string(), "sealed value does not open");
    }

    proptest! {
        #[test]
        fn any_plaintext_round_trips_for_any_row_and_field(
            plaintext in prop::collection::vec(any::<u8>(), 0..512),
            row in ".{0,40}",
            field in ".{0,20}",
        ) {
            let b = sbox(&[("k1", 1)]);
            let sealed = b.seal(&row, &field, &plaintext);
            let again = Sealed::from_bytes(sealed.into_bytes()).unwrap();
            let opened = b.open(&row, &field, &again).unwrap();
            prop_assert_eq!(opened.expose_secret(), &plaintext);
        }

        #[test]
        fn a_ciphertext_moved_to_any_other_row_or_field_fails(
            plaintext in prop::collection::vec(any::<u8>(), 0..64),
            row in "[a-z_0-9]{0,12}",
            field in "[a-z_]{0,12}",
            other_row in "[a-z_0-9]{0,12}",
            other_field in "[a-z_]{0,12}",
        ) {
            prop_assume!((&row, &field) != (&other_row, &other_field));
            let b = sbox(&[("k1", 1)]);
            let sealed = b.seal(&row, &field, &plaintext);
            prop_assert_eq!(
                b.open(&other_row, &other_field, &sealed).unwrap_err().kind(),
                OpenErrorKind::Decrypt
            );
        }
    }
}
