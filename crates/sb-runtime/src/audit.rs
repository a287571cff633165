//! The tamper-evident audit trail: records go through the event log (durable before the
//! call they describe is answered, hash-chained by the log's writer), a keeper signs
//! the chain's end every minute (and the server at a clean stop) with a key kept
//! outside the data directory and ages the trail behind a signed floor, and [`verify`]
//! finds a record edited, deleted, reordered or forged, a missing digest, records cut
//! from either end, and — as its own finding — an end not yet signed.

use std::sync::Arc;
use std::time::Duration;

use sb_security::signing::{self, Signer};
use sb_store::audit::{AuditDigest, AuditRow, RowHash, AUDIT_STREAM};
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
    /// The server's id of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The id the client sent (`X-Request-Id`), cleaned and kept apart from ours.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_request_id: Option<String>,
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

/// A signed digest of chain position `seq` with hash `hash`, made now.
fn sign_position(signer: &Signer, seq: u64, hash: &str) -> AuditDigest {
    let at_ms = jiff::Timestamp::now().as_millisecond();
    AuditDigest {
        audit_seq: seq,
        at_ms,
        signature: signer.sign(&AuditDigest::signed_bytes(seq, at_ms, hash)),
        chain_hash: hash.to_string(),
        key_id: signer.key_id(),
    }
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
    let digest = sign_position(signer, seq, &hash);
    store.insert_audit_digest(&digest)?;
    Ok(Some(digest))
}

/// Archive audit records past `audit_online_days` and remove those past
/// `audit_retention_days`, as of `now_ms`, the new floor signed by `signer`.
pub fn age(
    store: &dyn Store,
    signer: &Signer,
    security: &sb_model::config::SecuritySettings,
    now_ms: i64,
) -> Result<sb_store::audit::AuditAging, StoreError> {
    let day = 86_400_000;
    let online_before = now_ms - i64::from(security.audit_online_days) * day;
    let remove_before = now_ms - i64::from(security.audit_retention_days) * day;
    store.age_audit(online_before, remove_before, &|seq, hash| {
        sign_position(signer, seq, hash)
    })
}

/// How often the keeper applies audit retention.
const AGE_EVERY: Duration = Duration::from_secs(600);

/// While the server runs: sign the chain every [`DIGEST_EVERY`], and apply the deployed
/// audit retention every ten minutes.
pub fn spawn_keeper(store: Arc<dyn Store>, signer: Arc<Signer>, live: crate::LiveConfig) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DIGEST_EVERY);
        let mut last_aged: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            let security = live
                .current()
                .filter(|_| last_aged.is_none_or(|at| at.elapsed() >= AGE_EVERY))
                .map(|c| c.spec.security.clone());
            if security.is_some() {
                last_aged = Some(std::time::Instant::now());
            }
            let (store, signer) = (store.clone(), signer.clone());
            let done = tokio::task::spawn_blocking(move || {
                if let Some(security) = security {
                    let now = jiff::Timestamp::now().as_millisecond();
                    match age(&*store, &signer, &security, now) {
                        Ok(aged) if aged.archived > 0 || aged.removed > 0 => tracing::info!(
                            archived = aged.archived,
                            removed = aged.removed,
                            "audit retention archived and removed old records"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "audit retention could not run"),
                    }
                }
                digest_now(&*store, &signer)
            })
            .await;
            if let Ok(Err(e)) = done {
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
    /// Each sign of tampering, with the chain position it is at.
    pub problems: Vec<String>,
    /// The newest records, past the grace period, that no signed digest covers: left
    /// by a server that stopped without signing (a crash), or rewritten after the last
    /// digest — the trail alone cannot tell which. Signing them now (`audit digest`)
    /// vouches for them as they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsigned_tail: Option<UnsignedTail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_digest: Option<ExportedDigest>,
}

/// Records `from..=to`, at the chain's end, covered by no signed digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UnsignedTail {
    pub from: u64,
    pub to: u64,
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
    let genuine = |d: &AuditDigest| {
        d.key_id == key_id
            && signing::verify(
                public_key,
                &AuditDigest::signed_bytes(d.audit_seq, d.at_ms, &d.chain_hash),
                &d.signature,
            )
    };
    let hash_at = |seq: u64| rows.iter().find(|r| r.seq == seq).map(|r| r.hash.as_str());
    // Every stored digest is checked, wherever it points.
    for d in &digests {
        report.digests_checked += 1;
        if d.key_id != key_id {
            report.problems.push(format!(
                "digest at {}: signed by key {}, not the verifying key {key_id}",
                d.audit_seq, d.key_id
            ));
        } else if !genuine(d) {
            report.problems.push(format!(
                "digest at {}: the signature is not valid (forged digest)",
                d.audit_seq
            ));
        } else if d.audit_seq > head {
            report.problems.push(format!(
                "the trail ends at record {head}, but a signed digest covers record {}: records were removed from the end",
                d.audit_seq
            ));
        } else if d.audit_seq == floor {
            if d.chain_hash != floor_hash {
                report.problems.push(format!(
                    "record {floor}: the retention floor does not match its signed digest"
                ));
            }
        } else if hash_at(d.audit_seq).is_some_and(|h| h != d.chain_hash) {
            report.problems.push(format!(
                "record {}: the chain does not match its signed digest (records up to it were rewritten)",
                d.audit_seq
            ));
        }
    }
    // Records before the floor were removed by retention only if it signed the floor.
    if floor > 0
        && !digests
            .iter()
            .any(|d| d.audit_seq == floor && d.chain_hash == floor_hash && genuine(d))
    {
        report.problems.push(format!(
            "records 1 to {floor} are gone, and no signed digest vouches for the retention floor at {floor}: they were deleted"
        ));
    }
    // Every record past the grace period must be covered by a digest made soon after
    // it, judged by the record's own time (which its hash covers).
    let covering: Vec<&AuditDigest> = digests
        .iter()
        .filter(|d| d.audit_seq > floor && d.audit_seq <= head && genuine(d))
        .collect();
    let mut missing_reported = false;
    for row in &rows {
        let at_ms = recorded_at_ms(row);
        if now_ms - at_ms < DIGEST_GRACE_MS {
            continue;
        }
        match covering.iter().find(|d| d.audit_seq >= row.seq) {
            Some(d) if d.at_ms - at_ms <= DIGEST_GRACE_MS => {}
            Some(_) => {
                if !missing_reported {
                    missing_reported = true;
                    report.problems.push(format!(
                        "record {}: no digest signed within {} minutes after it (a digest is missing)",
                        row.seq,
                        DIGEST_GRACE_MS / 60_000
                    ));
                }
            }
            None => {
                let tail = report.unsigned_tail.get_or_insert(UnsignedTail {
                    from: row.seq,
                    to: row.seq,
                });
                tail.to = row.seq;
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
        } else if kept.audit_seq <= floor {
            report.problems.push(format!(
                "the kept digest covers record {}, which is behind the retention floor at {floor}: keep a newer digest",
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

/// When a record was made, by its own `at` (inside what its hash covers); the row's
/// time only for a record that does not say.
fn recorded_at_ms(row: &AuditRow) -> i64 {
    serde_json::from_str::<serde_json::Value>(&row.record)
        .ok()
        .and_then(|r| r.get("at")?.as_str()?.parse::<jiff::Timestamp>().ok())
        .map_or(row.at_ms, |t| t.as_millisecond())
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
    // Rows hashed before positions and times were hashed come first, if at all.
    let mut seen_current = false;
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
        match row.hashed() {
            RowHash::Current => seen_current = true,
            RowHash::Legacy if !seen_current => {}
            RowHash::Legacy => problems.push(format!(
                "record {}: hashed without its position and time after records hashed with them (rewritten)",
                row.seq
            )),
            RowHash::Mismatch => {
                problems.push(format!("record {}: its content was edited", row.seq))
            }
        }
        prev_hash = Some(&row.hash);
        expected_seq = row.seq + 1;
    }
    if expected_seq <= to {
        problems.push(format!("records {expected_seq} to {to}: missing"));
    }
}
