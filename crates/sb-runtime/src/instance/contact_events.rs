//! The types of event on the public `contact-events` stream: Amazon Connect's contact
//! event types, and Switchboard's extensions, each documented in docs/metrics.md. The
//! owner can write no other (an internal effect is not a public event).

/// One type of contact event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContactEventType {
    // Connect's.
    Initiated,
    ConnectedToSystem,
    Queued,
    ConnectedToAgent,
    Disconnected,
    // Switchboard's extensions.
    AttributesUpdated,
    Transferred,
    FlowError,
    CallbackAttemptFailed,
    RecordingBehavior,
}

impl ContactEventType {
    #[cfg(test)]
    pub(crate) const ALL: [ContactEventType; 10] = [
        ContactEventType::Initiated,
        ContactEventType::ConnectedToSystem,
        ContactEventType::Queued,
        ContactEventType::ConnectedToAgent,
        ContactEventType::Disconnected,
        ContactEventType::AttributesUpdated,
        ContactEventType::Transferred,
        ContactEventType::FlowError,
        ContactEventType::CallbackAttemptFailed,
        ContactEventType::RecordingBehavior,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ContactEventType::Initiated => "INITIATED",
            ContactEventType::ConnectedToSystem => "CONNECTED_TO_SYSTEM",
            ContactEventType::Queued => "QUEUED",
            ContactEventType::ConnectedToAgent => "CONNECTED_TO_AGENT",
            ContactEventType::Disconnected => "DISCONNECTED",
            ContactEventType::AttributesUpdated => "ATTRIBUTES_UPDATED",
            ContactEventType::Transferred => "TRANSFERRED",
            ContactEventType::FlowError => "FLOW_ERROR",
            ContactEventType::CallbackAttemptFailed => "CALLBACK_ATTEMPT_FAILED",
            ContactEventType::RecordingBehavior => "RECORDING_BEHAVIOR",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/metrics.md lists every type the stream carries, each extension with what
    /// its payload holds.
    #[test]
    fn every_contact_event_type_is_documented() {
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md"),
        )
        .unwrap();
        for kind in ContactEventType::ALL {
            assert!(
                docs.contains(&format!("| `{}` |", kind.as_str())),
                "docs/metrics.md has no row for contact event {}",
                kind.as_str()
            );
        }
    }
}
