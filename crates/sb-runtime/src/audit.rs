//! The tamper-evident audit trail: records go through the event log (durable before the
//! call they describe is answered, hash-chained by the log's writer), a digester signs
//! the chain's end every minute with a key kept outside the data directory, and
//! [`verify`] finds a record edited, deleted, reordered or forged, and a missing digest.

use std::sync::Arc;
use std::time::Duration;

use sb_security::signing::{self, Signer};
use sb_store::audit::{chain_hash, AuditDigest, AuditRow, AUDIT_STREAM};
use sb_store::{EventLog, NewEvent, Store, StoreError};
use serde::{Deserialize, Serialize};

/// How often the chain's end is signed (when it moved).
pub const DIGEST_EVERY: Duration = Duration::from_secs(60);
/// A record must be covered by a digest made within this long after it.
pub const DIGEST_GRACE_MS: i64 = 3 * 60_000;

/// One audited event, as stored (JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339.
    pub at: String,
    /// `config:Apply`, `query:Run`, `auth:Denied`, `credential:Create`, …
    pub action: String,
    /// `allowed`, `denied`, `failed` or `error`.
    pub outcome: String,
    /// HTTP status when the record is of a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Who: credential id and user, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// How the caller authenticated: `api_key`, `cli` (local data directory), `none`.
    pub authenticated_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Request parameters with secrets redacted.
    #[serde(skip_serializing_if = "serde_json::Value::is_null", default)]
    pub parameters: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AuditRecord {
    pub fn now(action: &str) -> Self {
        AuditRecord {
            at: jiff::Timestamp::now().to_string(),
            action: action.into(),
            outcome: "allowed".into(),
            authenticated_by: "none".into(),
            ..Default::default()
        }
    }
}

/// Append `record`; resolves once it is durable and chained.
pub async fn append(log: &EventLog, record: &AuditRecord) -> Result<(), StoreError> {
    let payload = serde_json::to_string(record).expect("audit records serialise");
    log.append(vec![NewEvent {
        at_ms: jiff::Timestamp::now().as_millisecond(),
        stream: AUDIT_STREAM.into(),
        key: record.action.clone(),
        kind: "AUDIT".into(),
        payload,
    }])
    .await
    .map(|_| ())
}

/// Sign the chain's end if it moved since the last digest.
pub fn digest_now(store: &dyn Store, signer: &Signer) -> Result<Option<AuditDigest>, StoreError> {
    let (seq, hash) = store.audit_head()?;
    if seq == 0 {
        return Ok(None);
    }
    let last = store.audit_digests()?.last().map_or(0, |d| d.audit_seq);
    if last >= seq {
        return Ok(None);
    }
    let at_ms = jiff::Timestamp::now().as_millisecond();
    let digest = AuditDigest {
        audit_seq: seq,
        at_ms,
        signature: signer.sign(&AuditDigest::signed_bytes(seq, at_ms, &hash)),
        chain_hash: hash,
        key_id: signer.key_id(),
    };
    store.insert_audit_digest(&digest)?;
    Ok(Some(digest))
}

/// Sign the chain every [`DIGEST_EVERY`] while the server runs.
pub fn spawn_digester(store: Arc<dyn Store>, signer: Arc<Signer>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DIGEST_EVERY);
        loop {
            tick.tick().await;
            let (store, signer) = (store.clone(), signer.clone());
            let signed = tokio::task::spawn_blocking(move || digest_now(&*store, &signer)).await;
            if let Ok(Err(e)) = signed {
                tracing::error!(error = %e, "cannot sign the audit chain");
            }
        }
    });
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub records_checked: u64,
    pub digests_checked: u64,
    /// Each problem, with the chain position it is at.
    pub problems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_digest: Option<ExportedDigest>,
}

/// A digest as exported for keeping outside (to detect truncation later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedDigest {
    pub audit_seq: u64,
    pub at_ms: i64,
    pub chain_hash: String,
    pub key_id: String,
    pub signature: String,
    pub public_key: String,
}

impl ExportedDigest {
    pub fn of(d: &AuditDigest, public_key: &str) -> Self {
        ExportedDigest {
            audit_seq: d.audit_seq,
            at_ms: d.at_ms,
            chain_hash: d.chain_hash.clone(),
            key_id: d.key_id.clone(),
            signature: d.signature.clone(),
            public_key: public_key.into(),
        }
    }
}

/// Check the chain over positions `from..=to` (default: all) against the digests
/// signed by `public_key`, and optionally against a digest kept outside.
pub fn verify(
    store: &dyn Store,
    public_key: &str,
    from: Option<u64>,
    to: Option<u64>,
    kept: Option<&ExportedDigest>,
    now_ms: i64,
) -> Result<VerifyReport, StoreError> {
    let (head, _) = store.audit_head()?;
    // Records before the floor were removed by retention; the chain continues from the
    // last removed record's hash.
    let (floor, floor_hash) = store.audit_floor()?;
    let from = from.unwrap_or(1).max(floor + 1);
    let to = to.unwrap_or(head).min(head);
    let rows = if to >= from {
        store.audit_rows(from, to)?
    } else {
        Vec::new()
    };
    let mut report = VerifyReport {
        records_checked: rows.len() as u64,
        ..Default::default()
    };
    let start_hash = (from == floor + 1).then_some(floor_hash.as_str());
    check_chain(&rows, from, to, start_hash, &mut report.problems);

    let key_id = signing::key_id(public_key);
    let digests = store.audit_digests()?;
    let hash_at = |seq: u64| rows.iter().find(|r| r.seq == seq).map(|r| r.hash.as_str());
    for d in digests
        .iter()
        .filter(|d| (from..=to).contains(&d.audit_seq))
    {
        report.digests_checked += 1;
        if d.key_id != key_id {
            report.problems.push(format!(
                "digest at {}: signed by key {}, not the verifying key {key_id}",
                d.audit_seq, d.key_id
            ));
            continue;
        }
        let message = AuditDigest::signed_bytes(d.audit_seq, d.at_ms, &d.chain_hash);
        if !signing::verify(public_key, &message, &d.signature) {
            report.problems.push(format!(
                "digest at {}: the signature is not valid (forged digest)",
                d.audit_seq
            ));
        } else if hash_at(d.audit_seq).is_some_and(|h| h != d.chain_hash) {
            report.problems.push(format!(
                "record {}: the chain does not match its signed digest (records up to it were rewritten)",
                d.audit_seq
            ));
        }
    }
    // Every record old enough must be covered by a digest made soon after it.
    let mut covering = digests.iter().filter(|d| d.key_id == key_id).peekable();
    for row in &rows {
        if now_ms - row.at_ms < DIGEST_GRACE_MS {
            break;
        }
        while covering.peek().is_some_and(|d| d.audit_seq < row.seq) {
            covering.next();
        }
        match covering.peek() {
            Some(d) if d.at_ms - row.at_ms <= DIGEST_GRACE_MS => {}
            _ => {
                report.problems.push(format!(
                    "record {}: no digest signed within {} minutes after it (a digest is missing)",
                    row.seq,
                    DIGEST_GRACE_MS / 60_000
                ));
                break;
            }
        }
    }
    if let Some(kept) = kept {
        let message = AuditDigest::signed_bytes(kept.audit_seq, kept.at_ms, &kept.chain_hash);
        if kept.public_key != public_key || !signing::verify(public_key, &message, &kept.signature)
        {
            report
                .problems
                .push("the kept digest is not signed by the verifying key".into());
        } else if kept.audit_seq > head {
            report.problems.push(format!(
                "the trail ends at record {head}, but a kept digest covers record {}: records were removed from the end",
                kept.audit_seq
            ));
        } else {
            let stored = store.audit_rows(kept.audit_seq, kept.audit_seq)?;
            if stored.first().map(|r| r.hash.as_str()) != Some(kept.chain_hash.as_str()) {
                report.problems.push(format!(
                    "record {}: the chain does not match the kept digest",
                    kept.audit_seq
                ));
            }
        }
    }
    report.newest_digest = digests
        .iter()
        .rfind(|d| d.key_id == key_id)
        .map(|d| ExportedDigest::of(d, public_key));
    Ok(report)
}

/// The chain's own consistency: positions without gaps, each record linked to the one
/// before and hashing to what it says.
fn check_chain(
    rows: &[AuditRow],
    from: u64,
    to: u64,
    start_hash: Option<&str>,
    problems: &mut Vec<String>,
) {
    let mut expected_seq = from;
    let mut prev_hash: Option<&str> = start_hash;
    for row in rows {
        if row.seq != expected_seq {
            problems.push(format!(
                "record {}: missing (the next stored record is {}; records were deleted)",
                expected_seq, row.seq
            ));
            prev_hash = None;
        }
        if let Some(prev) = prev_hash {
            if row.prev_hash != prev {
                problems.push(format!(
                    "record {}: not linked to the record before it (deleted, reordered or inserted)",
                    row.seq
                ));
            }
        }
        if chain_hash(&row.prev_hash, &row.record) != row.hash {
            problems.push(format!("record {}: its content was edited", row.seq));
        }
        prev_hash = Some(&row.hash);
        expected_seq = row.seq + 1;
    }
    if expected_seq <= to {
        problems.push(format!("records {expected_seq} to {to}: missing"));
    }
}
