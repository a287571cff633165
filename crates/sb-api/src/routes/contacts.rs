//! Contacts and their records: the live list, stopping one, why it is where it is,
//! a record, search, flow logs.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sb_security::Principal;
use sb_store::{RecordCursor, RecordFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::server::AppState;

/// Every live contact with its stage, queue, agent, and position and estimated wait.
#[utoipa::path(get, path = "/v1/contacts/live", tag = "contacts", responses((status = 200, body = Vec<Object>)))]
pub(crate) async fn live_contacts(
    State(state): State<AppState>,
) -> Result<Json<Vec<crate::wire::LiveContact>>, ApiError> {
    let contacts = state.runtime.list_contacts().await?;
    Ok(Json(contacts.into_iter().map(Into::into).collect()))
}

/// End a live contact wherever it is (Connect's StopContact): in a flow, scheduled, in
/// line or offered it ends at once; with an agent it ends and the agent does its
/// after-contact work; in after-contact work the work is completed. The record's
/// DisconnectReason is `API`.
#[utoipa::path(post, path = "/v1/contacts/{contact}/stop", tag = "contacts",
    params(("contact" = String, Path)),
    responses((status = 200, body = Object, description = "`contact_id`, the stage it `was` in, the one it is in `now`"),
        (status = 404, body = ErrorBody, description = "no live contact by this id (it may have ended)")))]
pub(crate) async fn stop_contact(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(contact): Path<String>,
) -> Result<Json<crate::socket_frames::ContactStoppedView>, ApiError> {
    Ok(Json(
        state
            .runtime
            .stop_contact(contact, principal.user.clone())
            .await?
            .into(),
    ))
}

/// Why a contact is where it is: its place in line, and each agent's reason for not
/// taking it; for an offered contact, why that agent got it.
#[utoipa::path(get, path = "/v1/contacts/{contact}/routing", tag = "contacts",
    params(("contact" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn explain(
    State(state): State<AppState>,
    Path(contact): Path<String>,
) -> Result<Json<crate::wire::RoutingAnswer>, ApiError> {
    Ok(Json(state.runtime.explain(contact).await?.into()))
}

/// A contact's record (Connect's field names); for a contact still going on, its
/// record so far.
#[utoipa::path(get, path = "/v1/contacts/{contact}", tag = "contacts",
    params(("contact" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_contact(
    State(state): State<AppState>,
    Path(contact): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let id = contact.clone();
    let stored = super::blocking(move || store.contact_record(&id)).await?;
    if let Some(json) = stored {
        let value: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| ApiError::Internal(e.to_string()))?;
        return Ok(Json(value).into_response());
    }
    Ok(Json(state.runtime.live_record(contact).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchQuery {
    /// Initiated at or after (RFC 3339). Default: 24 hours ago.
    from: Option<String>,
    /// Initiated before (RFC 3339). Default: now.
    to: Option<String>,
    queue: Option<String>,
    agent: Option<String>,
    /// VOICE, CHAT or TASK.
    channel: Option<String>,
    /// `key:value`: the attribute must have this value.
    attribute: Option<String>,
    /// At most this many (1 to 1000, default 100).
    limit: Option<usize>,
    /// The `next_token` of the page before: the records after it, in the time window
    /// of the search's first page (`from` and `to` may be left out).
    next_token: Option<String>,
}

/// A page of contact records.
#[derive(Serialize, ToSchema)]
pub(crate) struct ContactPage {
    /// Records in Connect's field names, by initiation time.
    #[schema(value_type = Vec<Object>)]
    contacts: Vec<serde_json::Value>,
    /// Present when there may be more: pass it as `next_token` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn cursor_of_token(token: &str) -> Result<RecordCursor, ApiError> {
    RecordCursor::from_token(token).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "next_token '{token}' is not one this search gave; start again without it"
        ))
    })
}

/// Search contact records by time, queue, agent, channel and attribute, a page at a
/// time.
#[utoipa::path(get, path = "/v1/contacts", tag = "contacts", params(SearchQuery),
    responses((status = 200, body = ContactPage), (status = 400, body = ErrorBody)))]
pub(crate) async fn search_contacts(
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let time = |t: &Option<String>, default: jiff::Timestamp| -> Result<i64, ApiError> {
        match t {
            None => Ok(default.as_millisecond()),
            Some(text) => text
                .parse::<jiff::Timestamp>()
                .map(|t| t.as_millisecond())
                .map_err(|_| ApiError::BadRequest(format!("'{text}' is not an RFC 3339 time"))),
        }
    };
    let now = jiff::Timestamp::now();
    let from = time(&q.from, now - jiff::SignedDuration::from_hours(24))?;
    let to = time(&q.to, now + jiff::SignedDuration::from_secs(1))?;
    let cursor = q.next_token.as_deref().map(cursor_of_token).transpose()?;
    // A later page keeps the first page's window; a window given again must be the same.
    let (from, to) = match &cursor {
        None => (from, to),
        Some(c) => {
            let moved =
                (q.from.is_some() && from != c.from_ms) || (q.to.is_some() && to != c.to_ms);
            if moved {
                let at = |ms: i64| {
                    jiff::Timestamp::from_millisecond(ms).map_or(ms.to_string(), |t| t.to_string())
                };
                return Err(ApiError::BadRequest(format!(
                    "next_token continues the search from {} to {}: leave out from and to, \
                     give those, or start again without next_token",
                    at(c.from_ms),
                    at(c.to_ms)
                )));
            }
            (c.from_ms, c.to_ms)
        }
    };
    if let Some(c) = &q.channel {
        if !["VOICE", "CHAT", "TASK"].contains(&c.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "channel '{c}' is not VOICE, CHAT or TASK"
            )));
        }
    }
    let attribute = match &q.attribute {
        None => None,
        Some(a) => Some(
            a.split_once(':')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| ApiError::BadRequest("attribute must be key:value".into()))?,
        ),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 1000".into()));
    }
    let first_page = cursor.is_none();
    let (named_queue, named_agent): (Vec<String>, Vec<String>) = (
        q.queue.iter().cloned().collect(),
        q.agent.iter().cloned().collect(),
    );
    let filter = RecordFilter {
        from_ms: from,
        to_ms: to,
        queue: q.queue,
        agent: q.agent,
        channel: q.channel,
        attribute,
        limit,
        after: cursor.map(|c| c.after),
    };
    let store = state.store.clone();
    let page = super::blocking(move || store.search_records(&filter)).await?;
    super::refuse_unknown_names_when_empty(
        &state,
        first_page && page.records.is_empty(),
        &named_queue,
        &named_agent,
    )?;
    Ok(Json(ContactPage {
        contacts: page
            .records
            .iter()
            .filter_map(|r| serde_json::from_str(r).ok())
            .collect(),
        next_token: page.next.map(|after| {
            RecordCursor {
                from_ms: from,
                to_ms: to,
                after,
            }
            .token()
        }),
    })
    .into_response())
}

/// The contact's flow log: each executed action with its resolved parameters (sensitive
/// values redacted) and the branch it took, for every step while logging was enabled
/// (UpdateFlowLoggingBehavior).
#[utoipa::path(get, path = "/v1/contacts/{contact}/flow-logs", tag = "contacts",
    params(("contact" = String, Path)), responses((status = 200, body = Vec<Object>)))]
pub(crate) async fn flow_logs(
    State(state): State<AppState>,
    Path(contact): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let rows =
        super::blocking(move || store.events_for(sb_store::FLOW_LOG_STREAM, &contact, 10_000))
            .await?;
    let mut entries = Vec::new();
    for row in rows {
        let actions: Vec<serde_json::Value> =
            serde_json::from_str(&row.event.payload).unwrap_or_default();
        let at = jiff::Timestamp::from_millisecond(row.event.at_ms)
            .map(|t| t.to_string())
            .unwrap_or_default();
        for mut action in actions {
            if let Some(map) = action.as_object_mut() {
                map.insert("at".into(), serde_json::Value::String(at.clone()));
            }
            entries.push(action);
        }
    }
    Ok(Json(entries).into_response())
}
