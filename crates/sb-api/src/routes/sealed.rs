//! Reading what is sealed at rest, each behind its own action: a contact's transcript,
//! its sensitive fields, and a customer's privacy export and erasure.

use axum::extract::{Path, Query, State};
use axum::Json;
use sb_model::record::ContactRecord;
use sb_runtime::vault::{open_json, open_record, OpenedFields};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::blocking;
use crate::error::{ApiError, ErrorBody};
use crate::server::AppState;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// The contact's chat transcript, opened. 404 for an unknown contact; 410 once the
/// customer's data was erased.
#[utoipa::path(get, path = "/v1/contacts/{contact}/transcript", tag = "contacts",
    params(("contact" = String, Path)),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub(crate) async fn transcript(
    State(state): State<AppState>,
    Path(contact): Path<String>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let (store, vault) = (state.store.clone(), state.vault.clone());
    blocking(move || {
        let key = vault
            .contact_key(store.as_ref(), &contact)
            .map_err(internal)?;
        let lines = store
            .events_for(sb_store::CHAT_STREAM, &contact, usize::MAX >> 1)
            .map_err(internal)?;
        if key.is_none()
            && lines.is_empty()
            && store.contact_record(&contact).map_err(internal)?.is_none()
        {
            return Err(ApiError::NotFound(format!("no contact {contact}")));
        }
        // Without a key, only lines stored before encryption at rest (in the clear) open;
        // a sealed line whose key was destroyed means the customer was erased.
        lines
            .iter()
            .map(|e| match open_json(key.as_ref(), &e.event.payload) {
                Ok(line) => Ok(line),
                Err(_) if key.is_none() => Err(ApiError::Erased(format!(
                    "the data of contact {contact} was erased"
                ))),
                Err(e) => Err(internal(e)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Json)
    })
    .await
}

/// The record's sealed fields opened: sensitive attributes and the customer endpoint.
#[utoipa::path(get, path = "/v1/contacts/{contact}/sensitive", tag = "contacts",
    params(("contact" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn sensitive_fields(
    State(state): State<AppState>,
    Path(contact): Path<String>,
) -> Result<Json<OpenedFields>, ApiError> {
    let stored = {
        let (store, id) = (state.store.clone(), contact.clone());
        blocking(move || store.contact_record(&id).map_err(internal)).await?
    };
    let record: ContactRecord = match stored {
        Some(json) => serde_json::from_str(&json).map_err(internal)?,
        None => state.runtime.live_record(contact.clone()).await?,
    };
    let (store, vault) = (state.store.clone(), state.vault.clone());
    blocking(move || {
        let key = vault
            .contact_key(store.as_ref(), &contact)
            .map_err(internal)?;
        Ok::<_, ApiError>(Json(open_record(key.as_ref(), &record)))
    })
    .await
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerQuery {
    /// The customer's endpoint: an email address or an E.164 telephone number.
    customer: String,
}

fn check_customer(customer: &str) -> Result<(), ApiError> {
    if customer.trim().is_empty() || customer.len() > 254 {
        return Err(ApiError::BadRequest(
            "customer must be an email address or telephone number (1 to 254 characters)".into(),
        ));
    }
    Ok(())
}

/// Everything held about a customer (GDPR access, CCPA): their contacts' records,
/// sensitive fields, transcripts and flow logs.
#[utoipa::path(get, path = "/v1/privacy/export", tag = "privacy", params(CustomerQuery),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub(crate) async fn privacy_export(
    State(state): State<AppState>,
    Query(q): Query<CustomerQuery>,
) -> Result<Json<sb_runtime::privacy::Export>, ApiError> {
    check_customer(&q.customer)?;
    let (store, vault) = (state.store.clone(), state.vault.clone());
    blocking(move || {
        sb_runtime::privacy::export(store.as_ref(), &vault, &q.customer)
            .map(Json)
            .map_err(internal)
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EraseRequest {
    /// The customer's endpoint: an email address or an E.164 telephone number.
    customer: String,
}

/// Erase a customer (GDPR, CCPA): their finished contacts' data keys are destroyed, so
/// transcripts and sensitive fields can never be read again; counts and durations stay.
#[utoipa::path(post, path = "/v1/privacy/erase", tag = "privacy", request_body = EraseRequest,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub(crate) async fn privacy_erase(
    State(state): State<AppState>,
    Json(r): Json<EraseRequest>,
) -> Result<Json<sb_runtime::privacy::Erasure>, ApiError> {
    check_customer(&r.customer)?;
    let (store, vault) = (state.store.clone(), state.vault.clone());
    blocking(move || {
        sb_runtime::privacy::erase(store.as_ref(), &vault, &r.customer)
            .map(Json)
            .map_err(internal)
    })
    .await
}
