//! The OAuth `state` parameter: a short, opaque, HMAC-signed token that carries a flow id
//! and an expiry, and is bound to the provider whose callback receives it.
//!
//! # Format
//!
//! The state is `URL_SAFE_NO_PAD` base64 of these bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, `1` |
//! | 1 | key id length `n`, 1 to 8 |
//! | n | key id (ASCII) |
//! | 20 | flow id |
//! | 8 | expiry, unix seconds, unsigned big-endian |
//! | 16 | HMAC-SHA256 tag, truncated to its first 16 bytes |
//!
//! That is 47 to 54 bytes, so 63 to 72 characters: well under the 200 the crate
//! promises (X refuses states over 500). The tag covers a 64-byte domain-separation label,
//! the provider id (length-prefixed; it is not in the state, so a state presented at
//! another provider's callback fails its tag) and every byte before the tag.
//! `HMAC(key, label ‖ len(provider) ‖ provider ‖ version ‖ key id len ‖ key id ‖ flow id ‖ expiry)`.
//!
//! Why 16 bytes of tag are enough: a forger must guess 128 bits, one online request per
//! guess, against a state that lives 10 minutes and whose flow id must also name a live
//! pending flow. Truncating HMAC to half the hash output is the floor RFC 2104 §5
//! recommends (and at least 80 bits); NIST SP 800-107r1 allows shorter still. The verification still runs
//! in constant time over all 16 bytes (`Mac::verify_truncated_left`). The shorter tag also
//! keeps `sign`/`verify` cheap: base64 and the constant-time compare are most of their
//! cost beyond the HMAC itself.
//!
//! The PKCE verifier is never in the state: it stays in the pending flow.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::ids::{FlowId, KeyId, ProviderId};
use crate::keys::{KeyError, KeyLength, KeyRing};
use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Format version, the first byte of every state.
const VERSION: u8 = 1;
/// Domain separation: these tags are state tags and nothing else, even if a key were reused.
/// Exactly one SHA-256 block (the type checks the 64 bytes), absorbed once in `new`, so it
/// costs no compression per call: each tag then hashes only the provider and the state.
const LABEL: [u8; 64] = *b"dravo-connect/state/v1: one 64-byte SHA-256 block of separation.";
/// Minimum state key length in bytes (the HMAC-SHA256 output size).
const MIN_KEY_LEN: usize = 32;
/// Longest key id ([`KeyId`] allows 1 to 8 characters).
const MAX_KEY_ID_LEN: usize = 8;
/// Expiry as unix seconds, `u64` big-endian.
const EXPIRY_LEN: usize = 8;
/// HMAC-SHA256 truncated to 128 bits (see the module docs for why that is safe).
const TAG_LEN: usize = 16;
/// Version, key id length, flow id, expiry and tag: everything but the key id.
const FIXED_LEN: usize = 1 + 1 + FlowId::LEN + EXPIRY_LEN + TAG_LEN;
const MIN_RAW_LEN: usize = FIXED_LEN + 1;
const MAX_RAW_LEN: usize = FIXED_LEN + MAX_KEY_ID_LEN;
/// Unpadded base64 length of `n` bytes.
const fn encoded_len(n: usize) -> usize {
    (n * 8).div_ceil(6)
}
const MIN_ENCODED_LEN: usize = encoded_len(MIN_RAW_LEN);
const MAX_ENCODED_LEN: usize = encoded_len(MAX_RAW_LEN);
/// Room for `MAX_ENCODED_LEN` characters decoded (whole groups of four characters).
const DECODE_BUF_LEN: usize = MAX_ENCODED_LEN.div_ceil(4) * 3;

/// Signs and verifies OAuth `state` values.
///
/// The first key signs; every listed key verifies, so keys rotate by putting a new key first
/// and keeping the old one until the states it signed have expired (10 minutes by default).
/// Cloning is cheap (one reference count). `Debug` prints the key ids only.
///
/// ```
/// use dravo_connect_core::state::StateSigner;
/// use dravo_connect_core::{FlowId, KeyId, ProviderId, Secret};
///
/// // In production the key comes from config (`state_secret` / `state_keys`).
/// let signer = StateSigner::new([(KeyId::zero(), Secret::new(vec![7u8; 32]))])?;
/// let provider: ProviderId = "x".parse()?;
/// let flow_id = FlowId::generate();
/// let expires_at = time::OffsetDateTime::from_unix_timestamp(1_900_000_000)?;
///
/// let state = signer.sign(&provider, &flow_id, expires_at);
/// assert!(state.len() < 200);
///
/// let verified = signer.verify(&provider, &state)?;
/// assert_eq!(verified.flow_id, flow_id);
/// assert_eq!(verified.expires_at, expires_at);
/// // The caller compares `verified.expires_at` with its clock.
///
/// let other: ProviderId = "linkedin".parse()?;
/// assert!(signer.verify(&other, &state).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct StateSigner {
    /// HMAC states keyed and fed the label once, in `new`: each call clones one instead of
    /// re-keying.
    keys: std::sync::Arc<KeyRing<HmacSha256>>,
}

impl StateSigner {
    /// The longest state [`sign`](Self::sign) ever returns (72 characters, with an
    /// 8-character key id). [`verify`](Self::verify) refuses anything longer without
    /// decoding it.
    pub const MAX_LEN: usize = MAX_ENCODED_LEN;

    /// Builds a signer from `(key id, secret)` pairs. The first key signs; all of them
    /// verify.
    ///
    /// # Errors
    /// [`KeyError::NoKeys`] for an empty list, [`KeyError::DuplicateKeyId`] when two keys
    /// share an id, [`KeyError::TooShort`] for a secret under 32 bytes.
    ///
    /// # Security
    /// Only the keyed HMAC states are kept; the secrets are zeroised when dropped here.
    pub fn new<I>(keys: I) -> Result<Self, KeyError>
    where
        I: IntoIterator<Item = (KeyId, Secret<Vec<u8>>)>,
    {
        let ring = KeyRing::build(keys, KeyLength::AtLeast(MIN_KEY_LEN), |id, bytes| {
            // HMAC takes keys of any length, so this never fails.
            let mut mac = HmacSha256::new_from_slice(bytes).map_err(|_| KeyError::TooShort {
                key_id: id.clone(),
                min: MIN_KEY_LEN,
                got: bytes.len(),
            })?;
            // The label is the same for every tag: absorb it once, here.
            mac.update(&LABEL);
            Ok(mac)
        })?;
        Ok(Self { keys: std::sync::Arc::new(ring) })
    }

    /// Signs a state for `flow_id` at `provider`'s callback, with the first key.
    ///
    /// `expires_at` is kept in whole seconds (rounded down). A time before 1970 is stored as
    /// 1970-01-01, which is just as expired.
    #[must_use]
    pub fn sign(&self, provider: &ProviderId, flow_id: &FlowId, expires_at: OffsetDateTime) -> String {
        // `new` only accepts `KeyId`s (at most 8 bytes), so the state always fits its buffer
        // and `try_sign` never fails. Were it to, the empty string fails verification.
        self.try_sign(provider, flow_id, expires_at).unwrap_or_default()
    }

    fn try_sign(&self, provider: &ProviderId, flow_id: &FlowId, expires_at: OffsetDateTime) -> Option<String> {
        let key = self.keys.first();
        let key_id = key.id.as_str().as_bytes();
        let key_id_len = u8::try_from(key_id.len()).ok()?;
        let expiry = u64::try_from(expires_at.unix_timestamp()).unwrap_or(0);

        let mut raw = [0u8; MAX_RAW_LEN];
        let mut len = 0;
        for part in [&[VERSION, key_id_len][..], key_id, flow_id.as_bytes(), &expiry.to_be_bytes()] {
            let end = len + part.len();
            raw.get_mut(len..end)?.copy_from_slice(part);
            len = end;
        }
        let (signed, rest) = raw.split_at_mut_checked(len)?;
        let tag = tag_for(key.key.clone(), provider, signed).finalize().into_bytes();
        rest.get_mut(..TAG_LEN)?.copy_from_slice(tag.get(..TAG_LEN)?);
        Some(URL_SAFE_NO_PAD.encode(raw.get(..len + TAG_LEN)?))
    }

    /// Checks a state's format, key id and tag (in constant time), for `provider`'s callback.
    ///
    /// It does **not** check the expiry: the caller compares
    /// [`VerifiedState::expires_at`] with its injected clock, because an expired state with
    /// a valid tag (which still redirects to its return URL with `state_expired`) must be
    /// told apart from a forged one.
    ///
    /// Input of the wrong length (over [`MAX_LEN`](Self::MAX_LEN), say) is refused before
    /// any decoding, and a character outside `[A-Za-z0-9_-]` before any MAC work.
    ///
    /// # Errors
    /// A [`StateError`] whose [`kind`](StateError::kind) is [`StateErrorKind::Malformed`]
    /// (wrong length, alphabet, padding, version or layout), [`StateErrorKind::UnknownKey`]
    /// (a key id not configured here) or [`StateErrorKind::BadTag`] (forged, altered, or made
    /// for another provider).
    ///
    /// # Security
    /// The tag is compared in constant time (`Mac::verify_truncated_left`, the truncated
    /// form of `Mac::verify_slice`). The error never echoes the input.
    pub fn verify(&self, provider: &ProviderId, state: &str) -> Result<VerifiedState, StateError> {
        let input = state.as_bytes();
        if !(MIN_ENCODED_LEN..=MAX_ENCODED_LEN).contains(&input.len()) {
            return Err(StateError::MALFORMED);
        }
        let mut buf = [0u8; DECODE_BUF_LEN];
        // The decoder is the alphabet check: `URL_SAFE_NO_PAD` refuses any character outside
        // `[A-Za-z0-9_-]`, padding, and non-canonical trailing bits (so no two strings
        // decode alike), all before any MAC work. The length check above keeps the decoded
        // length within `buf`; a longer one would be an error here, never a panic.
        let n = URL_SAFE_NO_PAD.decode_slice(input, &mut buf).map_err(|_| StateError::MALFORMED)?;
        let raw = buf.get(..n).ok_or(StateError::MALFORMED)?;

        let signed_len = n.checked_sub(TAG_LEN).ok_or(StateError::MALFORMED)?;
        let (signed, tag) = raw.split_at_checked(signed_len).ok_or(StateError::MALFORMED)?;
        let (&version, rest) = signed.split_first().ok_or(StateError::MALFORMED)?;
        if version != VERSION {
            return Err(StateError::MALFORMED);
        }
        let (&key_id_len, rest) = rest.split_first().ok_or(StateError::MALFORMED)?;
        let key_id_len = usize::from(key_id_len);
        if !(1..=MAX_KEY_ID_LEN).contains(&key_id_len) {
            return Err(StateError::MALFORMED);
        }
        let (key_id, rest) = rest.split_at_checked(key_id_len).ok_or(StateError::MALFORMED)?;
        let (flow_id, expiry) = rest.split_at_checked(FlowId::LEN).ok_or(StateError::MALFORMED)?;
        let flow_id: [u8; FlowId::LEN] = flow_id.try_into().map_err(|_| StateError::MALFORMED)?;
        // Exactly `EXPIRY_LEN` bytes must remain: this also pins the total length.
        let expiry: [u8; EXPIRY_LEN] = expiry.try_into().map_err(|_| StateError::MALFORMED)?;

        let key = self.keys.find(key_id).ok_or(StateError::UNKNOWN_KEY)?;
        // `tag` is exactly `TAG_LEN` bytes (the layout above pins it), so a short guess can
        // never be checked against a prefix of the real tag.
        tag_for(key.key.clone(), provider, signed).verify_truncated_left(tag).map_err(|_| StateError::BAD_TAG)?;

        // Authentic from here on: a value out of range means a key signed nonsense.
        let expiry = i64::try_from(u64::from_be_bytes(expiry)).map_err(|_| StateError::MALFORMED)?;
        let expires_at = OffsetDateTime::from_unix_timestamp(expiry).map_err(|_| StateError::MALFORMED)?;
        Ok(VerifiedState { flow_id: FlowId::from_bytes(flow_id), expires_at, key_id: key.id.clone() })
    }

    /// The id of the key that signs.
    pub fn signing_key_id(&self) -> &KeyId {
        &self.keys.first().id
    }

    /// The ids of all keys, the signing key first.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.ids()
    }
}

/// Feeds the rest of the tag's input to a keyed HMAC that has already absorbed the label:
/// the provider id (length-prefixed), then the state's bytes before the tag (which are
/// self-delimiting).
fn tag_for(mut mac: HmacSha256, provider: &ProviderId, signed: &[u8]) -> HmacSha256 {
    let provider = provider.as_str().as_bytes();
    // A `ProviderId` is at most 32 bytes, so the length always fits one byte.
    mac.update(&[u8::try_from(provider.len()).unwrap_or(u8::MAX)]);
    mac.update(provider);
    mac.update(signed);
    mac
}

impl fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateSigner").field("key_ids", &*self.keys).finish()
    }
}

/// What a state with a valid tag carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedState {
    /// The pending flow's id.
    pub flow_id: FlowId,
    /// When the state expires (UTC, whole seconds). Not checked by
    /// [`StateSigner::verify`]: compare it with the clock.
    pub expires_at: OffsetDateTime,
    /// The key that signed the state.
    pub key_id: KeyId,
}

/// Why a state was refused. Opaque; see [`kind`](Self::kind). Its message is short and never
/// echoes the input.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .kind.message())]
pub struct StateError {
    kind: StateErrorKind,
}

impl StateError {
    const MALFORMED: Self = Self { kind: StateErrorKind::Malformed };
    const UNKNOWN_KEY: Self = Self { kind: StateErrorKind::UnknownKey };
    const BAD_TAG: Self = Self { kind: StateErrorKind::BadTag };

    /// What went wrong.
    pub fn kind(&self) -> StateErrorKind {
        self.kind
    }
}

/// The kind of a [`StateError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateErrorKind {
    /// Not a state this crate makes: wrong length, alphabet, padding, version or layout.
    Malformed,
    /// Well-formed, but signed with a key id that is not configured.
    UnknownKey,
    /// The tag does not verify: forged, altered, or made for another provider.
    BadTag,
}

impl StateErrorKind {
    fn message(self) -> &'static str {
        match self {
            Self::Malformed => "malformed state",
            Self::UnknownKey => "state signed with an unknown key",
            Self::BadTag => "state signature does not verify",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn kid(s: &str) -> KeyId {
        s.parse().unwrap()
    }

    fn provider(s: &str) -> ProviderId {
        s.parse().unwrap()
    }

    fn signer(keys: &[(&str, u8)]) -> StateSigner {
        StateSigner::new(keys.iter().map(|&(id, fill)| (kid(id), Secret::new(vec![fill; 32])))).unwrap()
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    fn kind(result: Result<VerifiedState, StateError>) -> StateErrorKind {
        result.unwrap_err().kind()
    }

    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    #[test]
    fn a_signed_state_verifies_and_gives_back_its_flow_id_expiry_and_key() {
        let s = signer(&[("k1", 1)]);
        let flow = FlowId::generate();
        let state = s.sign(&provider("x"), &flow, at(1_900_000_000));
        let v = s.verify(&provider("x"), &state).unwrap();
        assert_eq!(v.flow_id, flow);
        assert_eq!(v.expires_at, at(1_900_000_000));
        assert_eq!(v.key_id, kid("k1"));
    }

    #[test]
    fn the_expiry_is_kept_in_whole_seconds_and_clamped_at_1970() {
        let s = signer(&[("k1", 1)]);
        let p = provider("x");
        let flow = FlowId::generate();
        let precise = at(1_900_000_000) + time::Duration::milliseconds(999);
        let v = s.verify(&p, &s.sign(&p, &flow, precise)).unwrap();
        assert_eq!(v.expires_at, at(1_900_000_000));
        let v = s.verify(&p, &s.sign(&p, &flow, at(-5))).unwrap();
        assert_eq!(v.expires_at, at(0));
        let v = s.verify(&p, &s.sign(&p, &flow, at(253_402_300_799))).unwrap();
        assert_eq!(v.expires_at, at(253_402_300_799));
    }

    #[test]
    fn an_expired_state_still_verifies_so_the_caller_can_tell_it_from_a_forgery() {
        let s = signer(&[("k1", 1)]);
        let state = s.sign(&provider("x"), &FlowId::generate(), at(1));
        assert_eq!(s.verify(&provider("x"), &state).unwrap().expires_at, at(1));
    }

    #[test]
    fn a_state_presented_at_another_providers_callback_fails_its_tag() {
        let s = signer(&[("k1", 1)]);
        let state = s.sign(&provider("x"), &FlowId::generate(), at(1_900_000_000));
        for other in ["linkedin", "x_", "xx", "facebook"] {
            assert_eq!(kind(s.verify(&provider(other), &state)), StateErrorKind::BadTag);
        }
    }

    #[test]
    fn a_state_with_an_unknown_key_id_fails() {
        let a = signer(&[("a", 1)]);
        let b = signer(&[("b", 1)]);
        let state = a.sign(&provider("x"), &FlowId::generate(), at(1_900_000_000));
        assert_eq!(kind(b.verify(&provider("x"), &state)), StateErrorKind::UnknownKey);
    }

    #[test]
    fn a_state_signed_by_another_secret_under_the_same_key_id_fails() {
        let a = signer(&[("k1", 1)]);
        let b = signer(&[("k1", 2)]);
        let state = a.sign(&provider("x"), &FlowId::generate(), at(1_900_000_000));
        assert_eq!(kind(b.verify(&provider("x"), &state)), StateErrorKind::BadTag);
    }

    #[test]
    fn rotated_keys_verify_old_states_and_sign_with_the_new_key() {
        let p = provider("x");
        let old = signer(&[("old", 1)]);
        let rotated = signer(&[("new", 2), ("old", 1)]);
        assert_eq!(rotated.signing_key_id(), &kid("new"));
        assert_eq!(rotated.key_ids().map(KeyId::as_str).collect::<Vec<_>>(), ["new", "old"]);

        let old_state = old.sign(&p, &FlowId::generate(), at(1_900_000_000));
        assert_eq!(rotated.verify(&p, &old_state).unwrap().key_id, kid("old"));

        let new_state = rotated.sign(&p, &FlowId::generate(), at(1_900_000_000));
        assert_eq!(rotated.verify(&p, &new_state).unwrap().key_id, kid("new"));
        assert_eq!(kind(old.verify(&p, &new_state)), StateErrorKind::UnknownKey);
    }

    #[test]
    fn every_single_bit_flip_of_the_decoded_state_fails() {
        let s = signer(&[("k1", 1)]);
        let p = provider("x");
        let state = s.sign(&p, &FlowId::generate(), at(1_900_000_000));
        let raw = URL_SAFE_NO_PAD.decode(&state).unwrap();
        for i in 0..raw.len() {
            for bit in 0..8 {
                let mut bad = raw.clone();
                bad[i] ^= 1 << bit;
                let bad = URL_SAFE_NO_PAD.encode(&bad);
                assert!(s.verify(&p, &bad).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn every_character_substitution_at_every_position_fails() {
        let s = signer(&[("12345678", 1)]);
        let p = provider("x");
        let state = s.sign(&p, &FlowId::generate(), at(1_900_000_000));
        for i in 0..state.len() {
            for &c in ALPHABET.iter().chain(b"=+/.~ \0") {
                if state.as_bytes()[i] == c {
                    continue;
                }
                let mut bad = state.clone().into_bytes();
                bad[i] = c;
                let bad = String::from_utf8(bad).unwrap();
                assert!(s.verify(&p, &bad).is_err(), "position {i} char {c}");
            }
        }
    }

    #[test]
    fn truncated_or_extended_states_fail() {
        let s = signer(&[("k1", 1)]);
        let p = provider("x");
        let state = s.sign(&p, &FlowId::generate(), at(1_900_000_000));
        for end in 0..state.len() {
            assert!(s.verify(&p, &state[..end]).is_err(), "prefix of {end}");
            assert!(s.verify(&p, &state[end + 1..]).is_err(), "suffix from {}", end + 1);
        }
        for &c in ALPHABET.iter().chain(b"=") {
            let longer = format!("{state}{}", c as char);
            assert!(s.verify(&p, &longer).is_err());
        }
        assert!(s.verify(&p, &format!("{state}AAAA")).is_err());
        assert!(s.verify(&p, &format!("{state}{state}")).is_err());
    }

    #[test]
    fn a_state_is_always_under_200_characters_with_an_8_character_key_id() {
        let s = signer(&[("abcdefgh", 1)]);
        let longest_provider = provider(&"p".repeat(32));
        for expiry in [0, 1, 1_900_000_000, 253_402_300_799] {
            let state = s.sign(&longest_provider, &FlowId::generate(), at(expiry));
            assert_eq!(state.len(), StateSigner::MAX_LEN);
            assert!(state.len() < 200);
        }
        assert_eq!(StateSigner::MAX_LEN, 72);
        let short = signer(&[("0", 1)]).sign(&provider("x"), &FlowId::generate(), at(0));
        assert_eq!(short.len(), MIN_ENCODED_LEN);
        assert_eq!(MIN_ENCODED_LEN, 63);
    }

    #[test]
    fn ten_thousand_states_are_distinct_and_carry_at_least_16_random_bytes() {
        let s = signer(&[("k1", 1)]);
        let p = provider("x");
        let mut states = HashSet::new();
        let mut flows = HashSet::new();
        for _ in 0..10_000 {
            let state = s.sign(&p, &FlowId::generate(), at(1_900_000_000));
            let flow = s.verify(&p, &state).unwrap().flow_id;
            assert!(flow.as_bytes().len() >= 16);
            // The flow id sits right after the version, key id length and key id.
            let raw = URL_SAFE_NO_PAD.decode(&state).unwrap();
            assert_eq!(&raw[4..4 + FlowId::LEN], flow.as_bytes());
            assert!(flows.insert(flow));
            assert!(states.insert(state));
        }
    }

    #[test]
    fn a_state_only_ever_contains_base64url_characters() {
        let s = signer(&[("k-_9Z", 1)]);
        for _ in 0..1_000 {
            let state = s.sign(&provider("x"), &FlowId::generate(), at(1_900_000_000));
            assert!(state.bytes().all(|b| ALPHABET.contains(&b)), "{state}");
        }
    }

    #[test]
    fn garbage_empty_and_huge_input_is_malformed_and_never_panics() {
        let s = signer(&[("k1", 1)]);
        let p = provider("x");
        let huge = "A".repeat(10 * 1024 * 1024);
        let almost = "A".repeat(MAX_ENCODED_LEN);
        let cases = ["", "=", "A", "AAAA", "not a state", "é", "\0\0\0", huge.as_str(), almost.as_str(), "%41%41%41"];
        for case in cases {
            assert_eq!(kind(s.verify(&p, case)), StateErrorKind::Malformed, "{:.20}", case);
        }
        // One character outside the alphabet in an otherwise valid state.
        let state = s.sign(&p, &FlowId::generate(), at(1_900_000_000));
        for c in ["+", "/", "=", ".", " ", "%"] {
            let bad = format!("{}{c}{}", &state[..10], &state[11..]);
            assert_eq!(kind(s.verify(&p, &bad)), StateErrorKind::Malformed, "{c:?}");
        }
        // Right length and alphabet, but not a state.
        let zeros = URL_SAFE_NO_PAD.encode([0u8; MAX_RAW_LEN]);
        assert_eq!(kind(s.verify(&p, &zeros)), StateErrorKind::Malformed);
    }

    #[test]
    fn a_wrong_version_or_key_id_length_is_malformed() {
        let s = signer(&[("k1", 1)]);
        let p = provider("x");
        let raw = URL_SAFE_NO_PAD.decode(s.sign(&p, &FlowId::generate(), at(1_900_000_000))).unwrap();
        let mut bad = raw.clone();
        bad[0] = 2;
        assert_eq!(kind(s.verify(&p, &URL_SAFE_NO_PAD.encode(&bad))), StateErrorKind::Malformed);
        for len in [0u8, 3, 9, 255] {
            let mut bad = raw.clone();
            bad[1] = len;
            assert_eq!(kind(s.verify(&p, &URL_SAFE_NO_PAD.encode(&bad))), StateErrorKind::Malformed);
        }
    }

    #[test]
    fn errors_are_short_and_never_echo_the_input() {
        let s = signer(&[("k1", 1)]);
        let err = s.verify(&provider("x"), "<script>alert(1)</script>").unwrap_err();
        assert_eq!(err.to_string(), "malformed state");
        assert!(!format!("{err:?}").contains("script"));
    }

    #[test]
    fn new_refuses_short_keys_duplicates_and_an_empty_list() {
        let short = StateSigner::new([(kid("k1"), Secret::new(vec![1; 31]))]).unwrap_err();
        assert!(matches!(short, KeyError::TooShort { min: 32, got: 31, .. }));
        let dup = StateSigner::new([(kid("k1"), Secret::new(vec![1; 32])), (kid("k1"), Secret::new(vec![2; 32]))])
            .unwrap_err();
        assert_eq!(dup, KeyError::DuplicateKeyId(kid("k1")));
        assert_eq!(StateSigner::new([]).unwrap_err(), KeyError::NoKeys);
        assert!(StateSigner::new([(kid("k1"), Secret::new(vec![1; 100]))]).is_ok());
    }

    #[test]
    fn debug_shows_key_ids_and_never_key_material() {
        let s = StateSigner::new([
            (kid("new"), Secret::new(b"0123456789abcdef0123456789abcdef".to_vec())),
            (kid("old"), Secret::new(vec![0xab; 32])),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        assert_eq!(debug, r#"StateSigner { key_ids: ["new", "old"] }"#);
    }

    #[test]
    fn the_tag_is_the_hmac_of_label_provider_and_header() {
        // Pins the format: an independent HMAC over the documented input.
        let s = signer(&[("k1", 1)]);
        let flow = FlowId::from_bytes([9; FlowId::LEN]);
        let state = s.sign(&provider("x"), &flow, at(1_900_000_000));
        let raw = URL_SAFE_NO_PAD.decode(&state).unwrap();
        let (signed, tag) = raw.split_at(raw.len() - 16);
        let mut expected_signed = vec![1u8, 2, b'k', b'1'];
        expected_signed.extend_from_slice(&[9; FlowId::LEN]);
        expected_signed.extend_from_slice(&1_900_000_000u64.to_be_bytes());
        assert_eq!(signed, expected_signed);
        let mut mac = HmacSha256::new_from_slice(&[1; 32]).unwrap();
        mac.update(b"dravo-connect/state/v1: one 64-byte SHA-256 block of separation.");
        mac.update(&[1, b'x']);
        mac.update(signed);
        assert_eq!(tag, &mac.finalize().into_bytes()[..16]);
    }

    proptest! {
        #[test]
        fn any_flow_id_expiry_and_provider_round_trips(
            flow in any::<[u8; FlowId::LEN]>(),
            expiry in 0i64..=253_402_300_799,
            p in "[a-z0-9_]{1,32}",
            key_id in "[A-Za-z0-9_-]{1,8}",
        ) {
            let s = StateSigner::new([(kid(&key_id), Secret::new(vec![3; 32]))]).unwrap();
            let p = provider(&p);
            let flow = FlowId::from_bytes(flow);
            let state = s.sign(&p, &flow, at(expiry));
            prop_assert!(state.len() < 200);
            let v = s.verify(&p, &state).unwrap();
            prop_assert_eq!(v.flow_id, flow);
            prop_assert_eq!(v.expires_at, at(expiry));
            prop_assert_eq!(v.key_id, kid(&key_id));
        }

        #[test]
        fn any_mutation_of_any_byte_of_the_state_fails(
            flow in any::<[u8; FlowId::LEN]>(),
            expiry in 0i64..=253_402_300_799,
            index in any::<prop::sample::Index>(),
            replacement in any::<u8>(),
        ) {
            let s = signer(&[("k1", 1)]);
            let p = provider("x");
            let state = s.sign(&p, &FlowId::from_bytes(flow), at(expiry));
            let i = index.index(state.len());
            prop_assume!(state.as_bytes()[i] != replacement);
            let mut bad = state.into_bytes();
            bad[i] = replacement;
            let bad = String::from_utf8_lossy(&bad);
            prop_assert!(s.verify(&p, &bad).is_err());
        }

        #[test]
        fn any_mutation_of_any_decoded_byte_fails(
            flow in any::<[u8; FlowId::LEN]>(),
            index in any::<prop::sample::Index>(),
            xor in 1u8..=255,
        ) {
            let s = signer(&[("k1", 1)]);
            let p = provider("x");
            let state = s.sign(&p, &FlowId::from_bytes(flow), at(1_900_000_000));
            let mut raw = URL_SAFE_NO_PAD.decode(&state).unwrap();
            let i = index.index(raw.len());
            raw[i] ^= xor;
            prop_assert!(s.verify(&p, &URL_SAFE_NO_PAD.encode(&raw)).is_err());
        }

        #[test]
        fn arbitrary_input_never_verifies_and_never_panics(input in ".{0,200}") {
            let s = signer(&[("k1", 1)]);
            prop_assert!(s.verify(&provider("x"), &input).is_err());
        }
    }
}
