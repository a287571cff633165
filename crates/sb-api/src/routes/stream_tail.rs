//! One reader per stream for the newest events, shared by every live subscriber.
//!
//! Without it, each of a thousand subscribers would read and render every new event
//! itself. The tail reads each new event once, renders it once, and broadcasts it;
//! a subscriber that falls behind the broadcast's bounded buffer (or joins with a
//! backlog) reads the store on its own until it catches up. Either way the runtime
//! never waits on a subscriber.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use sb_store::{PublicStream, Store};
use tokio::sync::{broadcast, watch};

use super::sse_gzip::DeflatePiece;

/// Batches the broadcast keeps for slow subscribers before they must catch up from
/// the store.
const TAIL_BUFFER: usize = 256;
const TAIL_PAGE: usize = 1_000;
/// The tail reads at most once per window, so that each subscriber gets one write per
/// window rather than one per commit: a thousand subscribers of a busy stream cost a
/// thousand writes every 25 ms, not every commit. Shorter than the agent feed's 50 ms
/// window, so that each of the feed's bursts is read as soon as it commits.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(25);

/// One event, rendered once as a complete server-sent-event frame.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub seq: u64,
    pub frame: Bytes,
}

/// Consecutive events of a stream, every one after position `prev`, rendered into one
/// buffer so that a subscriber sends a whole batch (or its tail) in one write.
#[derive(Debug)]
pub(crate) struct TailBatch {
    pub prev: u64,
    seqs: Vec<u64>,
    offsets: Vec<usize>,
    bytes: Bytes,
    /// The whole batch deflated, made by the first gzip subscriber that sends it and
    /// shared by the rest.
    deflated: std::sync::OnceLock<DeflatePiece>,
}

impl TailBatch {
    pub(crate) fn new(prev: u64, events: Vec<Rendered>) -> Self {
        let mut buffer = Vec::with_capacity(events.iter().map(|e| e.frame.len()).sum());
        let mut seqs = Vec::with_capacity(events.len());
        let mut offsets = Vec::with_capacity(events.len());
        for e in events {
            seqs.push(e.seq);
            offsets.push(buffer.len());
            buffer.extend_from_slice(&e.frame);
        }
        TailBatch {
            prev,
            seqs,
            offsets,
            bytes: Bytes::from(buffer),
            deflated: std::sync::OnceLock::new(),
        }
    }

    /// The whole batch as one deflate piece, compressed once for every subscriber.
    pub(crate) fn deflated(&self) -> &DeflatePiece {
        self.deflated.get_or_init(|| DeflatePiece::of(&self.bytes))
    }

    pub(crate) fn last(&self) -> u64 {
        self.seqs.last().copied().unwrap_or(self.prev)
    }

    /// The frames of the events after position `after`, without copying.
    pub(crate) fn after(&self, after: u64) -> Bytes {
        let first = self.seqs.partition_point(|&s| s <= after);
        match self.offsets.get(first) {
            Some(&start) => self.bytes.slice(start..),
            None => Bytes::new(),
        }
    }
}

#[derive(Default)]
pub struct StreamTails {
    tails: Mutex<HashMap<PublicStream, broadcast::Sender<Arc<TailBatch>>>>,
}

impl StreamTails {
    /// Receive the stream's new events as they become durable, starting the stream's
    /// tail reader on first use.
    pub(crate) fn subscribe(
        &self,
        stream: PublicStream,
        store: Arc<dyn Store>,
        committed: watch::Receiver<u64>,
        render: fn(PublicStream, sb_store::EventRecord) -> Rendered,
    ) -> broadcast::Receiver<Arc<TailBatch>> {
        let mut tails = self.tails.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = tails.get(&stream) {
            return sender.subscribe();
        }
        let (sender, receiver) = broadcast::channel(TAIL_BUFFER);
        tails.insert(stream, sender.clone());
        tokio::spawn(tail(stream, store, committed, sender, render));
        receiver
    }
}

async fn tail(
    stream: PublicStream,
    store: Arc<dyn Store>,
    mut committed: watch::Receiver<u64>,
    sender: broadcast::Sender<Arc<TailBatch>>,
    render: fn(PublicStream, sb_store::EventRecord) -> Rendered,
) {
    // Everything durable now is history, which subscribers read themselves.
    let mut after = *committed.borrow_and_update();
    let mut next_read = tokio::time::Instant::now();
    loop {
        if committed.changed().await.is_err() {
            return;
        }
        // Leading edge: a commit after a quiet window is read at once; commits that
        // follow within the window wait for its end and go out together. A fixed wait
        // after every commit would put the whole window on every event's latency
        // whenever commits come in bursts (the agent feed's are 50 ms apart).
        tokio::time::sleep_until(next_read).await;
        next_read = tokio::time::Instant::now() + COALESCE;
        loop {
            let reader = store.clone();
            let page = match tokio::task::spawn_blocking(move || {
                reader.read_stream(stream, after, TAIL_PAGE)
            })
            .await
            {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    tracing::warn!(%stream, error = %e, "stream tail cannot read; subscribers fall back to the store");
                    break;
                }
                Err(_) => return,
            };
            if page.events.is_empty() {
                break;
            }
            let batch = TailBatch::new(
                after,
                page.events.into_iter().map(|e| render(stream, e)).collect(),
            );
            after = batch.last();
            // No subscriber right now is fine: the next one starts from the store.
            let _ = sender.send(Arc::new(batch));
        }
    }
}
