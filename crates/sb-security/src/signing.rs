//! Ed25519 signatures for the audit trail's digests (ring; no home-made crypto).
//! Key storage is the caller's: this module only turns bytes into keys and signatures.

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("the signing key is not a valid Ed25519 PKCS#8 key")]
    BadKey,
    #[error("the system random source failed")]
    Random,
}

/// A private signing key.
pub struct Signer {
    pair: Ed25519KeyPair,
}

impl Signer {
    /// A new key, as PKCS#8 bytes to keep.
    pub fn generate_pkcs8() -> Result<Vec<u8>, SigningError> {
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| SigningError::Random)
    }

    pub fn from_pkcs8(bytes: &[u8]) -> Result<Self, SigningError> {
        Ed25519KeyPair::from_pkcs8(bytes)
            .map(|pair| Signer { pair })
            .map_err(|_| SigningError::BadKey)
    }

    /// The public key, hex.
    pub fn public_key(&self) -> String {
        hex::encode(self.pair.public_key().as_ref())
    }

    /// A short name for the key: the first 16 hex digits of its public key's SHA-256.
    pub fn key_id(&self) -> String {
        key_id(&self.public_key())
    }

    /// Hex signature.
    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.pair.sign(message).as_ref())
    }
}

pub fn key_id(public_key_hex: &str) -> String {
    hex::encode(Sha256::digest(public_key_hex.as_bytes()))[..16].to_string()
}

/// Whether `signature_hex` is `public_key_hex`'s signature of `message`.
pub fn verify(public_key_hex: &str, message: &[u8], signature_hex: &str) -> bool {
    let (Ok(key), Ok(signature)) = (hex::decode(public_key_hex), hex::decode(signature_hex)) else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, key)
        .verify(message, &signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_key_and_message() {
        let signer = Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap();
        let other = Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap();
        let sig = signer.sign(b"digest 7");
        assert!(verify(&signer.public_key(), b"digest 7", &sig));
        assert!(!verify(&signer.public_key(), b"digest 8", &sig));
        assert!(!verify(&other.public_key(), b"digest 7", &sig));
        assert!(!verify(&signer.public_key(), b"digest 7", "00"));
        assert!(!verify("zz", b"digest 7", &sig));
        assert_eq!(signer.key_id().len(), 16);
        assert!(Signer::from_pkcs8(b"not a key").is_err());
    }
}
