//! Envelope encryption at rest: a key-encryption key (KEK) per instance wraps one data
//! key per owner (a contact, the user directory); data keys seal fields with
//! AES-256-GCM (ring).
//!
//! Nonces never repeat under a key: every sealed value gets its own key, derived with
//! HKDF-SHA256 from the data key and a fresh 128-bit salt kept beside the ciphertext,
//! and that derived key is used exactly once (with the zero nonce). Wrapping uses the
//! KEK directly with random 96-bit nonces; a KEK wraps one key per contact, far below
//! the 2^32 messages NIST allows for random nonces, and `keys rotate` starts a new KEK.
//!
//! Destroying a data key (privacy erasure) makes everything it sealed unreadable;
//! re-wrapping data keys under a new KEK (rotation) never touches the sealed data.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Sealed values start with this, so readers can tell them from clear text.
pub const SEALED_PREFIX: &str = "sb1:";
const SALT_LEN: usize = 16;
const KEY_LEN: usize = 32;
const FIELD_INFO: &[u8] = b"switchboard sealed field v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("a key-encryption key must be 32 bytes (base64 of 32 random bytes); got {0} bytes")]
    KekLength(usize),
    #[error("the data key is wrapped by key-encryption key {0}, which is not loaded; supply it (key file, SWITCHBOARD_KEK or the key command) until `keys rotate` has re-wrapped everything")]
    UnknownKek(String),
    #[error("a wrapped data key does not open: it was altered, or belongs to another owner")]
    BadWrap,
    #[error("a sealed value does not open: altered, or sealed under another data key")]
    BadSeal,
    #[error("not a sealed value")]
    NotSealed,
    #[error("the system random source failed")]
    Random,
}

fn random<const N: usize>() -> Result<[u8; N], EnvelopeError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| EnvelopeError::Random)?;
    Ok(bytes)
}

fn aead_key(bytes: &[u8]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte AES-256 key"))
}

/// A key-encryption key and its id (derived from the key, so any source of the same
/// key names it the same way, and the id reveals nothing of it).
#[derive(Clone)]
pub struct Kek {
    id: String,
    key: LessSafeKey,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.id)
    }
}

impl Kek {
    /// 32 fresh random bytes for a new KEK.
    pub fn generate_secret() -> Result<[u8; KEY_LEN], EnvelopeError> {
        random()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Kek, EnvelopeError> {
        if bytes.len() != KEY_LEN {
            return Err(EnvelopeError::KekLength(bytes.len()));
        }
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, bytes),
            b"switchboard kek id",
        );
        Ok(Kek {
            id: hex::encode(&tag.as_ref()[..8]),
            key: aead_key(bytes),
        })
    }

    /// A KEK written as base64 (the environment variable and key command's form).
    pub fn from_base64(text: &str) -> Result<Kek, EnvelopeError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| EnvelopeError::KekLength(0))?;
        Kek::from_bytes(&bytes)
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A data key wrapped by a KEK, as stored: which KEK, and nonce ‖ ciphertext ‖ tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub kek_id: String,
    pub bytes: Vec<u8>,
}

/// The KEKs loaded: the current one wraps new data keys; older ones still unwrap
/// until they are retired.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: Kek,
    older: Vec<Kek>,
}

impl Keyring {
    pub fn new(current: Kek, older: Vec<Kek>) -> Keyring {
        let older = older.into_iter().filter(|k| k.id != current.id).collect();
        Keyring { current, older }
    }

    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    pub fn ids(&self) -> Vec<&str> {
        std::iter::once(self.current.id.as_str())
            .chain(self.older.iter().map(|k| k.id.as_str()))
            .collect()
    }

    fn find(&self, id: &str) -> Option<&Kek> {
        std::iter::once(&self.current)
            .chain(&self.older)
            .find(|k| k.id == id)
    }

    /// Wrap `key` for `owner` under the current KEK. The owner is authenticated data:
    /// a wrapped key copied to another owner does not open.
    pub fn wrap(&self, owner: &str, key: &DataKey) -> Result<WrappedKey, EnvelopeError> {
        let nonce_bytes: [u8; NONCE_LEN] = random()?;
        let mut bytes = key.secret.to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(owner.as_bytes()),
                &mut bytes,
            )
            .map_err(|_| EnvelopeError::BadWrap)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&bytes);
        Ok(WrappedKey {
            kek_id: self.current.id.clone(),
            bytes: out,
        })
    }

    pub fn unwrap(&self, owner: &str, wrapped: &WrappedKey) -> Result<DataKey, EnvelopeError> {
        let kek = self
            .find(&wrapped.kek_id)
            .ok_or_else(|| EnvelopeError::UnknownKek(wrapped.kek_id.clone()))?;
        if wrapped.bytes.len() != NONCE_LEN + KEY_LEN + AES_256_GCM.tag_len() {
            return Err(EnvelopeError::BadWrap);
        }
        let (nonce, sealed) = wrapped.bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| EnvelopeError::BadWrap)?;
        let mut buffer = sealed.to_vec();
        let secret = kek
            .key
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut buffer)
            .map_err(|_| EnvelopeError::BadWrap)?;
        let mut out = [0u8; KEY_LEN];
        out.copy_from_slice(secret);
        Ok(DataKey { secret: out })
    }

    /// Wrap `key` again under the current KEK (rotation): the data it sealed is not
    /// touched.
    pub fn rewrap(&self, owner: &str, wrapped: &WrappedKey) -> Result<WrappedKey, EnvelopeError> {
        let key = self.unwrap(owner, wrapped)?;
        self.wrap(owner, &key)
    }
}

/// One owner's data key. Kept in memory only while its owner is live; on disk only
/// wrapped.
#[derive(Clone)]
pub struct DataKey {
    secret: [u8; KEY_LEN],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl DataKey {
    pub fn generate() -> Result<DataKey, EnvelopeError> {
        Ok(DataKey { secret: random()? })
    }

    fn field_key(&self, salt: &[u8]) -> LessSafeKey {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&self.secret);
        let mut bytes = [0u8; KEY_LEN];
        prk.expand(&[FIELD_INFO], Len(KEY_LEN))
            .and_then(|okm| okm.fill(&mut bytes))
            .expect("HKDF output of 32 bytes");
        aead_key(&bytes)
    }

    /// Seal `plaintext` as `sb1:<base64(salt ‖ ciphertext ‖ tag)>`.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, EnvelopeError> {
        let salt: [u8; SALT_LEN] = random()?;
        // Salt, text and tag in one buffer, sealed where it lies: this runs on every
        // change of a live contact's state.
        let mut out = Vec::with_capacity(SALT_LEN + plaintext.len() + AES_256_GCM.tag_len());
        out.extend_from_slice(&salt);
        out.extend_from_slice(plaintext);
        let tag = self
            .field_key(&salt)
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([0; NONCE_LEN]),
                Aad::empty(),
                &mut out[SALT_LEN..],
            )
            .map_err(|_| EnvelopeError::BadSeal)?;
        out.extend_from_slice(tag.as_ref());
        let mut sealed = String::with_capacity(SEALED_PREFIX.len() + out.len().div_ceil(3) * 4);
        sealed.push_str(SEALED_PREFIX);
        STANDARD_NO_PAD.encode_string(&out, &mut sealed);
        Ok(sealed)
    }

    pub fn seal_str(&self, plaintext: &str) -> Result<String, EnvelopeError> {
        self.seal(plaintext.as_bytes())
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, EnvelopeError> {
        let body = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or(EnvelopeError::NotSealed)?;
        let bytes = STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| EnvelopeError::BadSeal)?;
        if bytes.len() < SALT_LEN + AES_256_GCM.tag_len() {
            return Err(EnvelopeError::BadSeal);
        }
        let (salt, sealed) = bytes.split_at(SALT_LEN);
        let mut buffer = sealed.to_vec();
        let plain = self
            .field_key(salt)
            .open_in_place(
                Nonce::assume_unique_for_key([0; NONCE_LEN]),
                Aad::empty(),
                &mut buffer,
            )
            .map_err(|_| EnvelopeError::BadSeal)?;
        Ok(plain.to_vec())
    }

    pub fn open_str(&self, sealed: &str) -> Result<String, EnvelopeError> {
        String::from_utf8(self.open(sealed)?).map_err(|_| EnvelopeError::BadSeal)
    }

    /// A keyed hash of `value` (a blind index): equal values give equal tags, and the
    /// tag says nothing of the value without the key.
    pub fn blind_index(&self, value: &str) -> String {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &self.secret),
            value.as_bytes(),
        );
        hex::encode(&tag.as_ref()[..16])
    }
}

/// Whether `text` is a sealed value.
pub fn is_sealed(text: &str) -> bool {
    text.starts_with(SEALED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(Kek::from_bytes(&[7; 32]).unwrap(), vec![])
    }

    #[test]
    fn a_sealed_value_opens_only_under_its_key() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal_str("4111 card? no: a secret").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("secret"));
        assert_eq!(key.open_str(&sealed).unwrap(), "4111 card? no: a secret");
        let other = DataKey::generate().unwrap();
        assert_eq!(other.open_str(&sealed), Err(EnvelopeError::BadSeal));
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let key = DataKey::generate().unwrap();
        assert_ne!(key.seal_str("same").unwrap(), key.seal_str("same").unwrap());
    }

    #[test]
    fn a_flipped_bit_is_refused() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal_str("hello").unwrap();
        let mut bytes = STANDARD_NO_PAD
            .decode(sealed.strip_prefix(SEALED_PREFIX).unwrap())
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = format!("{SEALED_PREFIX}{}", STANDARD_NO_PAD.encode(bytes));
        assert_eq!(key.open(&altered), Err(EnvelopeError::BadSeal));
        assert_eq!(key.open("hello"), Err(EnvelopeError::NotSealed));
    }

    #[test]
    fn a_wrapped_key_opens_for_its_owner_only() {
        let ring = keyring();
        let key = DataKey::generate().unwrap();
        let sealed = key.seal_str("x").unwrap();
        let wrapped = ring.wrap("contact-1", &key).unwrap();
        let back = ring.unwrap("contact-1", &wrapped).unwrap();
        assert_eq!(back.open_str(&sealed).unwrap(), "x");
        assert_eq!(
            ring.unwrap("contact-2", &wrapped).unwrap_err(),
            EnvelopeError::BadWrap
        );
    }

    #[test]
    fn rotation_rewraps_without_touching_sealed_data() {
        let old = Kek::from_bytes(&[1; 32]).unwrap();
        let new = Kek::from_bytes(&[2; 32]).unwrap();
        let before = Keyring::new(old.clone(), vec![]);
        let key = DataKey::generate().unwrap();
        let sealed = key.seal_str("kept").unwrap();
        let wrapped = before.wrap("c", &key).unwrap();
        let during = Keyring::new(new.clone(), vec![old]);
        let rewrapped = during.rewrap("c", &wrapped).unwrap();
        assert_eq!(rewrapped.kek_id, new.id());
        let after = Keyring::new(new, vec![]);
        assert_eq!(
            after.unwrap("c", &wrapped).unwrap_err(),
            EnvelopeError::UnknownKek(wrapped.kek_id.clone())
        );
        let key = after.unwrap("c", &rewrapped).unwrap();
        assert_eq!(key.open_str(&sealed).unwrap(), "kept");
    }

    #[test]
    fn kek_ids_depend_on_the_key_only() {
        let a = Kek::from_bytes(&[9; 32]).unwrap();
        let b =
            Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([9u8; 32])).unwrap();
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), Kek::from_bytes(&[8; 32]).unwrap().id());
        assert_eq!(
            Kek::from_bytes(&[0; 16]).unwrap_err(),
            EnvelopeError::KekLength(16)
        );
    }

    #[test]
    fn blind_indexes_match_equal_values_only() {
        let key = DataKey::generate().unwrap();
        assert_eq!(key.blind_index("+15550100"), key.blind_index("+15550100"));
        assert_ne!(key.blind_index("+15550100"), key.blind_index("+15550101"));
    }
}
