//! Stream retention: events older than each stream's configured days are trimmed, in
//! the background, off the runtime's path.

use std::sync::Arc;
use std::time::Duration;

use sb_model::config::StreamRetention;
use sb_store::{PublicStream, Store};

use crate::LiveConfig;

/// How often retention runs; also once at start.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

fn days(retention: &StreamRetention, stream: PublicStream) -> u32 {
    match stream {
        PublicStream::ContactEvents => retention.contact_events,
        PublicStream::AgentEvents => retention.agent_events,
        PublicStream::ContactRecords => retention.contact_records,
        PublicStream::FlowLogs => retention.flow_logs,
    }
}

/// Trim every public stream to its retention as of `now_ms`; returns events removed.
pub fn sweep(store: &dyn Store, retention: &StreamRetention, now_ms: i64) -> u64 {
    let mut removed = 0;
    for stream in PublicStream::ALL {
        let cutoff = now_ms - i64::from(days(retention, stream)) * 86_400_000;
        match store.trim_stream(stream, cutoff) {
            Ok(n) => removed += n,
            Err(e) => tracing::warn!(%stream, error = %e, "retention could not trim the stream"),
        }
    }
    removed
}

/// Run [`sweep`] now and every ten minutes with the deployed retention, until the
/// runtime stops.
pub(crate) fn spawn(live: LiveConfig, store: Arc<dyn Store>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tick.tick().await;
            let Some(config) = live.current() else {
                continue;
            };
            let retention = config.spec.instance.stream_retention_days.clone();
            let store = store.clone();
            let now = jiff::Timestamp::now().as_millisecond();
            let removed = tokio::task::spawn_blocking(move || sweep(&*store, &retention, now))
                .await
                .unwrap_or_default();
            if removed > 0 {
                tracing::info!(removed, "stream retention trimmed old events");
            }
        }
    });
}
