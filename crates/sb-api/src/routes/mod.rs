pub(crate) mod agent_desk;
pub(crate) mod audit;
pub(crate) mod auth_token;
pub(crate) mod config;
pub(crate) mod contacts;
pub(crate) mod historical;
pub(crate) mod login;
pub(crate) mod metrics;
pub(crate) mod ops;
pub(crate) mod query;
pub(crate) mod sealed;
pub(crate) mod sse_gzip;
pub(crate) mod stream_tail;
pub(crate) mod streams;

/// A comma-separated query parameter as its items, blanks dropped; `None` when absent.
pub(crate) fn comma_list(value: &Option<String>) -> Option<Vec<String>> {
    value.as_ref().map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
}

/// Run store or deployment work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::error::ApiError> + Send + 'static,
) -> Result<T, crate::error::ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?
}
