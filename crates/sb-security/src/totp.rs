//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): six digits, 30-second
//! steps, HMAC-SHA1 as every authenticator app uses, computed with ring. A code is good
//! for its step and one step either side (clock drift), and once only: the caller keeps
//! the last step accepted and passes it back.

use base64::Engine;
use ring::hmac;

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps either side of now a code may come from.
pub const DRIFT_STEPS: i64 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("the code is not six digits")]
    Malformed,
    #[error("the code is wrong")]
    Wrong,
    #[error("the code was already used")]
    Reused,
    #[error("the secret is not valid base32")]
    BadSecret,
    #[error("the system random source failed")]
    Random,
}

/// A shared secret, as raw bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl TotpSecret {
    /// 160 random bits, the size RFC 4226 recommends.
    pub fn generate() -> Result<Self, TotpError> {
        use ring::rand::SecureRandom;
        let mut bytes = vec![0u8; 20];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| TotpError::Random)?;
        Ok(TotpSecret(bytes))
    }

    /// The secret as authenticator apps take it (RFC 4648 base32, no padding).
    pub fn base32(&self) -> String {
        let mut out = String::new();
        let mut buffer: u32 = 0;
        let mut bits = 0;
        for &byte in &self.0 {
            buffer = (buffer << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                out.push(BASE32[((buffer >> (bits - 5)) & 31) as usize] as char);
                bits -= 5;
            }
        }
        if bits > 0 {
            out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    pub fn from_base32(text: &str) -> Result<Self, TotpError> {
        let mut bytes = Vec::new();
        let mut buffer: u32 = 0;
        let mut bits = 0;
        for c in text.chars().filter(|c| !matches!(c, ' ' | '=' | '-')) {
            let value = BASE32
                .iter()
                .position(|&b| b == c.to_ascii_uppercase() as u8)
                .ok_or(TotpError::BadSecret)? as u32;
            buffer = (buffer << 5) | value;
            bits += 5;
            if bits >= 8 {
                bytes.push((buffer >> (bits - 8)) as u8);
                bits -= 8;
            }
        }
        if bytes.is_empty() {
            return Err(TotpError::BadSecret);
        }
        Ok(TotpSecret(bytes))
    }

    /// The `otpauth://` URI an authenticator app scans.
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{issuer}:{account}");
        format!(
            "otpauth://totp/{}?secret={}&issuer={}&digits={DIGITS}&period={STEP_SECONDS}",
            percent(&label),
            self.base32(),
            percent(issuer)
        )
    }

    /// The code for time step `step` (RFC 4226 dynamic truncation).
    pub fn code_at_step(&self, step: i64) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let mac = hmac::sign(&key, &step.to_be_bytes());
        let mac = mac.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let binary = (u32::from(mac[offset] & 0x7f) << 24)
            | (u32::from(mac[offset + 1]) << 16)
            | (u32::from(mac[offset + 2]) << 8)
            | u32::from(mac[offset + 3]);
        format!("{:06}", binary % 10u32.pow(DIGITS))
    }

    /// Check `code` at Unix time `now`; returns the step it matched, which the caller
    /// stores and passes as `last_used` next time so the code cannot be replayed.
    pub fn verify(&self, code: &str, now: i64, last_used: Option<i64>) -> Result<i64, TotpError> {
        let code = code.trim();
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TotpError::Malformed);
        }
        let current = now.div_euclid(STEP_SECONDS);
        for step in current - DRIFT_STEPS..=current + DRIFT_STEPS {
            let expected = self.code_at_step(step);
            if bool::from(subtle::ConstantTimeEq::ct_eq(
                expected.as_bytes(),
                code.as_bytes(),
            )) {
                if last_used.is_some_and(|used| step <= used) {
                    return Err(TotpError::Reused);
                }
                return Ok(step);
            }
        }
        Err(TotpError::Wrong)
    }
}

fn percent(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What is kept of a recovery code: its SHA-256, hex. The codes carry 80 random bits,
/// so a fast hash is enough.
pub fn recovery_code_hash(code: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(code.trim().as_bytes()))
}

/// Recovery codes: ten random codes shown once; only their hashes are kept.
pub fn recovery_codes() -> Result<Vec<String>, TotpError> {
    (0..10)
        .map(|_| {
            use ring::rand::SecureRandom;
            let mut bytes = [0u8; 10];
            ring::rand::SystemRandom::new()
                .fill(&mut bytes)
                .map_err(|_| TotpError::Random)?;
            Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 column, truncated to six digits (the RFC shows eight).
    #[test]
    fn matches_the_rfc_6238_test_vectors() {
        let secret = TotpSecret(b"12345678901234567890".to_vec());
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(secret.code_at_step(time / 30), eight[2..], "t = {time}");
        }
    }

    #[test]
    fn a_code_works_once_within_its_window() {
        let secret = TotpSecret::generate().unwrap();
        let now = 1_800_000_000;
        let code = secret.code_at_step(now / 30);
        let step = secret.verify(&code, now, None).unwrap();
        assert_eq!(
            secret.verify(&code, now, Some(step)),
            Err(TotpError::Reused)
        );
        // A neighbouring step's code passes once (drift); two steps away does not.
        let next = secret.code_at_step(now / 30 + 1);
        assert!(secret.verify(&next, now, Some(step)).is_ok());
        let far = secret.code_at_step(now / 30 + 3);
        assert_eq!(secret.verify(&far, now, None), Err(TotpError::Wrong));
        assert_eq!(secret.verify("12345", now, None), Err(TotpError::Malformed));
        assert_eq!(
            secret.verify("abcdef", now, None),
            Err(TotpError::Malformed)
        );
    }

    #[test]
    fn base32_round_trips_and_the_uri_names_it() {
        let secret = TotpSecret::generate().unwrap();
        assert_eq!(TotpSecret::from_base32(&secret.base32()).unwrap(), secret);
        assert_eq!(
            TotpSecret::from_base32("JBSWY3DPEHPK3PXP").unwrap().0,
            b"Hello!\xde\xad\xbe\xef"
        );
        assert!(TotpSecret::from_base32("not base32!").is_err());
        let uri = secret.uri("Acme Support", "alice");
        assert!(
            uri.starts_with("otpauth://totp/Acme%20Support%3Aalice?secret="),
            "{uri}"
        );
        assert_eq!(format!("{secret:?}"), "TotpSecret(***)");
        let codes = recovery_codes().unwrap();
        assert_eq!(codes.len(), 10);
    }
}
