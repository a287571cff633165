//! Reading the audit trail (itself an audited read).

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::server::AppState;

const MAX_RECORDS: u64 = 1_000;

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct AuditQuery {
    /// First chain position (default: the oldest record still online, within the
    /// instance's `audit_online_days`).
    from: Option<u64>,
    /// At most this many records (1 to 1,000; default 100).
    limit: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEntry {
    seq: u64,
    #[schema(value_type = Object)]
    record: serde_json::Value,
    prev_hash: String,
    hash: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    records: Vec<AuditEntry>,
    /// The chain's last position.
    head: u64,
}

/// Audit records in chain order: who did what, when, from where, and how it ended.
#[utoipa::path(get, path = "/v1/audit", tag = "operations",
    params(AuditQuery), responses((status = 200, body = AuditPage)))]
pub(crate) async fn read_audit(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_RECORDS).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_RECORDS}, not {limit}"
        )));
    }
    let from = query.from.unwrap_or(1).max(1);
    let store = state.store.clone();
    let (rows, head) = super::blocking(move || {
        let (head, _) = store.audit_head()?;
        // The online records only; archived ones are read with `switchboard audit`.
        let from = from.max(store.audit_first_online()?);
        let rows = store.audit_rows(from, from.saturating_add(limit - 1))?;
        Ok::<_, sb_store::StoreError>((rows, head))
    })
    .await?;
    Ok(Json(AuditPage {
        records: rows
            .into_iter()
            .map(|r| AuditEntry {
                seq: r.seq,
                record: serde_json::from_str(&r.record).unwrap_or(serde_json::Value::Null),
                prev_hash: r.prev_hash,
                hash: r.hash,
            })
            .collect(),
        head,
    }))
}
