//! Passwords: argon2id hashes (the argon2 crate's defaults, PHC strings with their own
//! salt) and the PCI DSS v4 policy — at least 12 characters with letters and digits,
//! none of the last four reused.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// How many earlier passwords may not come back (PCI DSS 8.3.7).
pub const REMEMBERED: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {0} characters")]
    TooShort(usize),
    #[error("a password needs both letters and digits")]
    NotMixed,
    #[error("that password was one of the last {REMEMBERED}; choose another")]
    Reused,
    #[error("could not hash the password: {0}")]
    Hash(String),
}

pub fn hash(password: &str) -> Result<String, PasswordError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PasswordError::Hash("the system random source failed".into()))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` is the one `phc` was made from.
pub fn matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Check a new password against the policy and the hashes of the ones before it.
pub fn check_policy(
    password: &str,
    min_length: usize,
    previous: &[String],
) -> Result<(), PasswordError> {
    if password.chars().count() < min_length.max(12) {
        return Err(PasswordError::TooShort(min_length.max(12)));
    }
    let letters = password.chars().any(char::is_alphabetic);
    let digits = password.chars().any(|c| c.is_ascii_digit());
    if !(letters && digits) {
        return Err(PasswordError::NotMixed);
    }
    if previous
        .iter()
        .rev()
        .take(REMEMBERED)
        .any(|p| matches(password, p))
    {
        return Err(PasswordError::Reused);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash("correct horse 42 battery").unwrap();
        let b = hash("correct horse 42 battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(matches("correct horse 42 battery", &a));
        assert!(!matches("correct horse 43 battery", &a));
        assert!(!matches("anything", "not a hash"));
    }

    #[test]
    fn the_policy_is_pci_dss_v4() {
        assert_eq!(
            check_policy("short1", 12, &[]),
            Err(PasswordError::TooShort(12))
        );
        assert_eq!(
            check_policy("onlyletterslong", 12, &[]),
            Err(PasswordError::NotMixed)
        );
        assert_eq!(
            check_policy("123456789012345", 12, &[]),
            Err(PasswordError::NotMixed)
        );
        assert!(check_policy("letters4and2digits", 12, &[]).is_ok());
        let old = hash("letters4and2digits").unwrap();
        assert_eq!(
            check_policy("letters4and2digits", 12, &[old]),
            Err(PasswordError::Reused)
        );
        assert_eq!(
            check_policy("letters4and2digits", 20, &[]),
            Err(PasswordError::TooShort(20))
        );
    }
}
