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

/// A search between its pages: the time window, fixed when the first page was asked
/// for, and the last record given. Carrying the window keeps a search whose window was
/// left to its defaults (the last 24 hours) from moving with the clock while a caller
/// pages through it, which could skip records at its older end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCursor {
    /// The window, [from, to) in Unix milliseconds.
    pub from_ms: i64,
    pub to_ms: i64,
    pub after: RecordPlace,
}

impl RecordCursor {
    /// The cursor as a caller carries it between pages:
    /// `<from ms>.<to ms>.<initiation ms>.<contact id>`. Opaque to callers.
    pub fn token(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.from_ms, self.to_ms, self.after.initiation_ms, self.after.contact_id
        )
    }

    /// A cursor from a token a caller brings back; `None` for anything `token` did not
    /// make (it comes from outside, so it is checked, not trusted).
    pub fn from_token(token: &str) -> Option<RecordCursor> {
        let mut parts = token.splitn(4, '.');
        let from_ms = millis(parts.next()?)?;
        let to_ms = millis(parts.next()?)?;
        let initiation_ms = millis(parts.next()?)?;
        let id = parts.next()?;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        id_ok.then(|| RecordCursor {
            from_ms,
            to_ms,
            after: RecordPlace {
                initiation_ms,
                contact_id: id.to_string(),
            },
        })
    }
}

/// Milliseconds as `i64`'s `Display` writes them, and nothing else (no `+`, no spaces).
fn millis(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let plain =
        !digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| text.parse().ok()).flatten()
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
    /// Raised to end every session the user has: a sign-in token carries the epoch it
    /// was issued in and is refused once this moves past it (a new password, "sign out
    /// everywhere", a lockout).
    #[serde(default)]
    pub session_epoch: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(from_ms: i64, to_ms: i64, initiation_ms: i64, id: &str) -> RecordCursor {
        RecordCursor {
            from_ms,
            to_ms,
            after: RecordPlace {
                initiation_ms,
                contact_id: id.to_string(),
            },
        }
    }

    #[test]
    fn a_cursor_comes_back_from_its_token() {
        for c in [
            cursor(
                1_795_000_000_000,
                1_795_086_400_000,
                1_795_000_000_123,
                "019a6b3c-2d1e",
            ),
            cursor(-86_400_000, 0, -1, "a"),
            cursor(i64::MIN, i64::MAX, 0, &"f".repeat(64)),
        ] {
            assert_eq!(RecordCursor::from_token(&c.token()), Some(c));
        }
    }

    #[test]
    fn tokens_the_search_did_not_give_are_refused() {
        for token in [
            "",
            "garbage",
            "1795000000000.019a6b3c",
            "1.2.3.",
            "1.2.3.id.with.dots",
            "+1.2.3.id",
            " 1.2.3.id",
            "1.2.99999999999999999999.id",
            "-.2.3.id",
            "1.2.3.id with space",
            &format!("1.2.3.{}", "f".repeat(65)),
        ] {
            assert_eq!(RecordCursor::from_token(token), None, "{token:?}");
        }
    }
}
