//! API keys: `sb_<id>.<secret>`. The id is public (it names the key in logs and audit);
//! the secret has 256 bits of entropy and only its SHA-256 is ever stored. A fast hash
//! is right here, unlike for passwords: nobody can guess 256 random bits.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "sb_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("malformed credential: expected sb_<id>.<secret>")]
    Malformed,
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// A key as presented by a caller.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A freshly issued key: `token` is shown to its owner once; `secret_sha256` is stored.
pub struct IssuedApiKey {
    pub id: String,
    pub token: String,
    pub secret_sha256: String,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], ApiKeyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ApiKeyError::Random(e.to_string()))?;
    Ok(bytes)
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A random 256-bit bearer secret (a customer's participant token, say) and the SHA-256
/// to keep instead of it.
pub fn issue_secret() -> Result<(String, String), ApiKeyError> {
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
    let digest = digest(&secret);
    Ok((secret, digest))
}

/// Whether `secret` is the one whose SHA-256 is `stored_sha256` (constant time).
pub fn secret_matches(secret: &str, stored_sha256: &str) -> bool {
    digest(secret)
        .as_bytes()
        .ct_eq(stored_sha256.as_bytes())
        .into()
}

/// A random identifier (128 bits, hex), for contacts and the like.
pub fn random_id() -> Result<String, ApiKeyError> {
    Ok(hex::encode(random_bytes::<16>()?))
}

/// A unique identifier that sorts by creation time: 48 bits of milliseconds then 80
/// random bits, 32 hex digits like [`random_id`]. Rows keyed by it are appended at the
/// end of their index instead of landing on a random page, which keeps the pages a
/// busy store rewrites per commit few. (It tells when it was made, as the record does.)
pub fn time_ordered_id(now_ms: i64) -> Result<String, ApiKeyError> {
    Ok(format!(
        "{:012x}{}",
        (now_ms.max(0) as u64) & 0xffff_ffff_ffff,
        hex::encode(random_bytes::<10>()?)
    ))
}

impl ApiKey {
    pub fn issue() -> Result<IssuedApiKey, ApiKeyError> {
        let id = format!("K{}", hex::encode_upper(random_bytes::<8>()?));
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
        Ok(IssuedApiKey {
            token: format!("{PREFIX}{id}.{secret}"),
            secret_sha256: digest(&secret),
            id,
        })
    }

    pub fn parse(token: &str) -> Result<Self, ApiKeyError> {
        let rest = token.strip_prefix(PREFIX).ok_or(ApiKeyError::Malformed)?;
        let (id, secret) = rest.split_once('.').ok_or(ApiKeyError::Malformed)?;
        let id_ok =
            id.len() == 17 && id.starts_with('K') && id[1..].bytes().all(|b| b.is_ascii_hexdigit());
        let secret_ok = secret.len() == 43
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok || !secret_ok {
            return Err(ApiKeyError::Malformed);
        }
        Ok(Self {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }

    /// Compare against a stored digest in constant time.
    pub fn matches(&self, stored_sha256: &str) -> bool {
        digest(&self.secret)
            .as_bytes()
            .ct_eq(stored_sha256.as_bytes())
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ordered_ids_sort_by_time_and_differ() {
        let a = time_ordered_id(1_764_000_000_000).unwrap();
        let b = time_ordered_id(1_764_000_000_001).unwrap();
        let c = time_ordered_id(1_764_000_000_001).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a < b && a < c);
        assert_ne!(b, c, "80 random bits apart");
        assert!(a.chars().all(|ch| ch.is_ascii_hexdigit()));
    }

    #[test]
    fn issued_keys_parse_and_match_only_their_digest() {
        let issued = ApiKey::issue().unwrap();
        let key = ApiKey::parse(&issued.token).unwrap();
        assert_eq!(key.id, issued.id);
        assert!(key.matches(&issued.secret_sha256));
        let other = ApiKey::issue().unwrap();
        assert!(!key.matches(&other.secret_sha256));
        assert!(
            !format!("{key:?}").contains(&issued.token[21..]),
            "Debug must not leak the secret"
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let issued = ApiKey::issue().unwrap();
        let mut altered = issued.token.clone();
        altered.push('x');
        for bad in [
            "",
            "sb_",
            "Bearer x",
            "sb_K00.short",
            altered.as_str(),
            &issued.token[3..],
        ] {
            assert_eq!(ApiKey::parse(bad), Err(ApiKeyError::Malformed), "{bad}");
        }
    }
}
