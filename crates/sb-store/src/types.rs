use serde::{Deserialize, Serialize};

/// One entry of the configuration history, without its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSummary {
    pub version: u64,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Who applied it: a user name or credential id.
    pub actor: String,
    /// "3 to add, 1 to change, 0 to remove", or "rollback to version 2: ...".
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
    /// SHA-256 of the bundle, so identical content is recognisable across versions.
    pub content_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigVersion {
    pub summary: VersionSummary,
    /// The spec's source bundle, as JSON.
    pub bundle_json: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    pub actor: String,
    pub summary: String,
    pub rollback_of: Option<u64>,
    pub bundle_json: String,
}

/// An API credential as stored: the secret itself never is, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    pub id: String,
    pub secret_sha256: String,
    pub principal: String,
    pub role: String,
    pub description: String,
    pub created_at: String,
}

/// A search over contact records; every field narrows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFilter {
    /// Initiation time range, [from, to) in Unix milliseconds.
    pub from_ms: i64,
    pub to_ms: i64,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub channel: Option<String>,
    /// An attribute key and the value it must have.
    pub attribute: Option<(String, String)>,
    pub limit: usize,
    /// Only records after this place in the search's order (the `next` of the page
    /// before).
    pub after: Option<RecordPlace>,
}

/// Where a record stands in a search's order: by initiation time, then contact id (so
/// that contacts initiated in the same millisecond still page without gaps or repeats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPlace {
    pub initiation_ms: i64,
    pub contact_id: String,
}

impl RecordPlace {
    /// The place as a caller carries it between pages: `<initiation ms>.<contact id>`.
    /// Opaque to callers.
    pub fn token(&self) -> String {
        format!("{}.{}", self.initiation_ms, self.contact_id)
    }

    /// A place from a token a caller brings back; `None` for anything `token` did not
    /// make (it comes from outside, so it is checked, not trusted).
    pub fn from_token(token: &str) -> Option<RecordPlace> {
        let (ms, id) = token.split_once('.')?;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let ms_ok = !ms.is_empty() && ms.len() <= 19 && ms.bytes().all(|b| b.is_ascii_digit());
        if !(id_ok && ms_ok) {
            return None;
        }
        Some(RecordPlace {
            initiation_ms: ms.parse().ok()?,
            contact_id: id.to_string(),
        })
    }
}

/// One page of a record search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPage {
    /// The records (JSON, Connect's field names), oldest first.
    pub records: Vec<String>,
    /// Where the next page starts, when there may be one.
    pub next: Option<RecordPlace>,
}

/// A user's sign-in state: password hashes (argon2id PHC strings), TOTP enrolment and
/// the failure count behind lockout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserLogin {
    pub user: String,
    pub password_hash: String,
    /// Earlier hashes, oldest first, for the no-reuse rule.
    #[serde(default)]
    pub previous: Vec<String>,
    /// Base32; present once enrolled.
    #[serde(default)]
    pub totp_secret: Option<String>,
    /// The last TOTP step accepted, so a code works once.
    #[serde(default)]
    pub totp_last_step: Option<i64>,
    /// SHA-256 (hex) of each unused recovery code.
    #[serde(default)]
    pub recovery_code_hashes: Vec<String>,
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub locked_until_ms: i64,
}
