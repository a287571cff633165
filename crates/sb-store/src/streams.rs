//! The public event streams: which internal event-log streams consumers may read, where
//! each one starts after retention trimmed it, and consumers' named checkpoints.
//!
//! The event log numbers every event once (`seq`), across streams; a public stream is
//! the subsequence of one internal stream, so its sequence numbers only grow and a
//! consumer resumes by "after = the last seq it processed".

use serde::{Deserialize, Serialize};

/// A stream consumers can read. Names are the URL's; each maps to one internal stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PublicStream {
    /// INITIATED, CONNECTED_TO_SYSTEM, QUEUED, CONNECTED_TO_AGENT, DISCONNECTED, ...
    ContactEvents,
    /// LOGIN, STATE_CHANGE, HEART_BEAT, LOGOUT, per agent.
    AgentEvents,
    /// Every contact record as written (again when it changes later).
    ContactRecords,
    /// Executed flow actions of contacts with logging on.
    FlowLogs,
}

impl PublicStream {
    pub const ALL: [PublicStream; 4] = [
        PublicStream::ContactEvents,
        PublicStream::AgentEvents,
        PublicStream::ContactRecords,
        PublicStream::FlowLogs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PublicStream::ContactEvents => "contact-events",
            PublicStream::AgentEvents => "agent-events",
            PublicStream::ContactRecords => "contact-records",
            PublicStream::FlowLogs => "flow-logs",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The event-log stream it reads.
    pub fn internal(self) -> &'static str {
        match self {
            PublicStream::ContactEvents => crate::CONTACT_EVENT_STREAM,
            PublicStream::AgentEvents => crate::AGENT_EVENT_STREAM,
            PublicStream::ContactRecords => crate::RECORD_STREAM,
            PublicStream::FlowLogs => crate::FLOW_LOG_STREAM,
        }
    }

    /// The public stream an event-log stream feeds, if any.
    pub fn of_internal(internal: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.internal() == internal)
    }

    /// Its place in [`PublicStream::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The SQL that reads a page of it. The stream is a literal (from this fixed list)
    /// so that SQLite uses the partial index kept for public streams.
    pub(crate) fn page_sql(self) -> &'static str {
        match self {
            PublicStream::ContactEvents => "SELECT seq, at_ms, stream, key, kind, payload FROM events WHERE stream = 'contact' AND seq > ?1 ORDER BY seq LIMIT ?2",
            PublicStream::AgentEvents => "SELECT seq, at_ms, stream, key, kind, payload FROM events WHERE stream = 'agent' AND seq > ?1 ORDER BY seq LIMIT ?2",
            PublicStream::ContactRecords => "SELECT seq, at_ms, stream, key, kind, payload FROM events WHERE stream = 'record' AND seq > ?1 ORDER BY seq LIMIT ?2",
            PublicStream::FlowLogs => "SELECT seq, at_ms, stream, key, kind, payload FROM events WHERE stream = 'flow-log' AND seq > ?1 ORDER BY seq LIMIT ?2",
        }
    }
}

impl std::fmt::Display for PublicStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One page read from a public stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPage {
    pub events: Vec<crate::EventRecord>,
    /// Positions at or below this were trimmed by retention: `after` must be at least
    /// this (0 when nothing was ever trimmed).
    pub floor: u64,
}

/// A read asked for a position retention has already removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position {after} of stream {stream} is before retention; the earliest available is after={floor}")]
pub struct BeforeRetention {
    pub stream: PublicStream,
    pub after: u64,
    pub floor: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in PublicStream::ALL {
            assert_eq!(PublicStream::parse(s.name()), Some(s));
            assert!(s
                .page_sql()
                .contains(&format!("stream = '{}'", s.internal())));
        }
        for (i, s) in PublicStream::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(PublicStream::of_internal(s.internal()), Some(s));
        }
        assert_eq!(PublicStream::of_internal("live"), None);
        assert_eq!(PublicStream::parse("chat"), None);
        assert_eq!(PublicStream::parse("live"), None);
    }
}
