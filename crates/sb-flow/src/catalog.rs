//! Which action types exist, which Switchboard runs, and which flow types may use them.

use sb_model::config::FlowType;

/// Action types of the Connect flow language that Switchboard runs.
pub const SUPPORTED_ACTION_TYPES: &[&str] = &[
    "CheckHoursOfOperation",
    "CheckMetricData",
    "Compare",
    "CreateCallbackContact",
    "CreateTask",
    "DequeueContactAndTransferToQueue",
    "DisconnectParticipant",
    "DistributeByPercentage",
    "EndFlowExecution",
    "EndFlowModuleExecution",
    "GetMetricData",
    "GetParticipantInput",
    "InvokeFlowModule",
    "InvokeLambdaFunction",
    "Loop",
    "MessageParticipant",
    "MessageParticipantIteratively",
    "TagContact",
    "TransferContactToAgent",
    "TransferContactToQueue",
    "TransferParticipantToThirdParty",
    "TransferToFlow",
    "UpdateContactAttributes",
    "UpdateContactCallbackNumber",
    "UpdateContactData",
    "UpdateContactEventHooks",
    "UpdateContactRecordingBehavior",
    "UpdateContactRoutingBehavior",
    "UpdateContactRoutingCriteria",
    "UpdateContactTargetQueue",
    "UpdateContactTextToSpeechVoice",
    "UpdateFlowAttributes",
    "UpdateFlowLoggingBehavior",
    "UpdateRoutingCriteria",
    "Wait",
];

/// Action types of the Connect flow language that Switchboard does not run, because
/// they depend on AWS services it does not reimplement. A flow using one is refused
/// at validation with the type named, never accepted and skipped at run time.
/// This is the one documented list (see docs/flows.md).
pub const UNSUPPORTED_ACTION_TYPES: &[(&str, &str)] = &[
    ("ConnectParticipantWithLexBot", "Amazon Lex bots"),
    ("CheckVoiceId", "Voice ID"),
    ("StartVoiceIdStream", "Voice ID"),
    ("CreateCase", "Cases"),
    ("GetCase", "Cases"),
    ("UpdateCase", "Cases"),
    ("CreateCustomerProfile", "Customer Profiles"),
    ("GetCustomerProfile", "Customer Profiles"),
    ("UpdateCustomerProfile", "Customer Profiles"),
    ("AssociateContactToCustomerProfile", "Customer Profiles"),
    (
        "GetCalculatedAttributesForCustomerProfile",
        "Customer Profiles",
    ),
    ("ShowView", "agent workspace views"),
    (
        "UpdateContactMediaStreamingBehavior",
        "Kinesis media streaming",
    ),
    ("GetCustomerProfileObject", "Customer Profiles"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionSupport {
    Supported,
    /// Known to the flow language; needs the named AWS capability.
    Unsupported(&'static str),
    Unknown,
}

pub fn support(action_type: &str) -> ActionSupport {
    if SUPPORTED_ACTION_TYPES.contains(&action_type) {
        return ActionSupport::Supported;
    }
    UNSUPPORTED_ACTION_TYPES
        .iter()
        .find(|(name, _)| *name == action_type)
        .map_or(ActionSupport::Unknown, |(_, why)| {
            ActionSupport::Unsupported(why)
        })
}

/// Flow types where an action may appear, per Connect's block pages ("Flow types") and
/// the flow-language reference ("Restrictions"). Types not listed here run in every
/// flow type (Connect lists them as "All flows": Loop, Compare, attributes, Lambda...).
/// Modules share the inbound flow's palette (Connect builds them from it).
const FLOW_TYPES_BY_ACTION: &[(&str, &[FlowType])] = {
    use FlowType::*;
    // Inbound, both transfer flows: where a contact is routed from.
    const ROUTING: &[FlowType] = &[ContactFlow, AgentTransfer, QueueTransfer, Module];
    // The same, plus the customer queue flow.
    const ROUTING_AND_QUEUE: &[FlowType] = &[
        ContactFlow,
        CustomerQueue,
        AgentTransfer,
        QueueTransfer,
        Module,
    ];
    &[
        ("CheckHoursOfOperation", ROUTING_AND_QUEUE),
        ("CheckMetricData", ROUTING_AND_QUEUE),
        ("GetMetricData", ROUTING_AND_QUEUE),
        ("DisconnectParticipant", ROUTING_AND_QUEUE),
        ("GetParticipantInput", ROUTING_AND_QUEUE),
        ("UpdateContactRoutingBehavior", ROUTING_AND_QUEUE),
        ("UpdateContactRoutingCriteria", ROUTING_AND_QUEUE),
        ("UpdateRoutingCriteria", ROUTING_AND_QUEUE),
        ("UpdateContactCallbackNumber", ROUTING_AND_QUEUE),
        ("CreateCallbackContact", ROUTING_AND_QUEUE),
        ("TransferToFlow", ROUTING),
        ("UpdateContactTargetQueue", ROUTING),
        ("TransferContactToQueue", ROUTING),
        ("TransferContactToAgent", ROUTING),
        ("TransferParticipantToThirdParty", ROUTING),
        ("InvokeFlowModule", ROUTING_AND_QUEUE),
        ("DequeueContactAndTransferToQueue", &[CustomerQueue]),
        ("EndFlowModuleExecution", &[Module]),
        (
            "MessageParticipantIteratively",
            &[CustomerQueue, CustomerHold, AgentHold],
        ),
        ("Wait", &[ContactFlow, CustomerQueue, Module]),
        (
            "MessageParticipant",
            &[
                ContactFlow,
                CustomerQueue,
                CustomerWhisper,
                AgentWhisper,
                OutboundWhisper,
                AgentTransfer,
                QueueTransfer,
                Module,
            ],
        ),
        // Set hold / whisper / customer queue / disconnect flow blocks.
        (
            "UpdateContactEventHooks",
            &[
                ContactFlow,
                CustomerQueue,
                OutboundWhisper,
                AgentTransfer,
                QueueTransfer,
                Module,
            ],
        ),
    ]
};

/// Whether a flow of `flow_type` may contain an action of `action_type`.
pub fn allowed_in(flow_type: FlowType, action_type: &str) -> bool {
    FLOW_TYPES_BY_ACTION
        .iter()
        .find(|(name, _)| *name == action_type)
        .is_none_or(|(_, types)| types.contains(&flow_type))
}

/// The flow types an action is restricted to, for error messages; `None` when the
/// action may appear in any flow type.
pub fn restricted_to(action_type: &str) -> Option<&'static [FlowType]> {
    FLOW_TYPES_BY_ACTION
        .iter()
        .find(|(name, _)| *name == action_type)
        .map(|(_, types)| *types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_do_not_overlap() {
        for (name, _) in UNSUPPORTED_ACTION_TYPES {
            assert!(
                !SUPPORTED_ACTION_TYPES.contains(name),
                "{name} in both lists"
            );
        }
    }

    #[test]
    fn classifies_types() {
        assert_eq!(support("Compare"), ActionSupport::Supported);
        assert_eq!(
            support("ConnectParticipantWithLexBot"),
            ActionSupport::Unsupported("Amazon Lex bots")
        );
        assert_eq!(support("Nonsense"), ActionSupport::Unknown);
    }

    #[test]
    fn queue_only_and_module_only_actions() {
        assert!(allowed_in(
            FlowType::CustomerQueue,
            "DequeueContactAndTransferToQueue"
        ));
        assert!(!allowed_in(
            FlowType::ContactFlow,
            "DequeueContactAndTransferToQueue"
        ));
        assert!(!allowed_in(FlowType::ContactFlow, "EndFlowModuleExecution"));
        assert!(!allowed_in(
            FlowType::AgentWhisper,
            "TransferContactToQueue"
        ));
        assert!(allowed_in(FlowType::AgentWhisper, "MessageParticipant"));
    }

    #[test]
    fn hold_and_whisper_flows_cannot_route_or_ask() {
        for flow_type in [
            FlowType::CustomerHold,
            FlowType::AgentHold,
            FlowType::CustomerWhisper,
            FlowType::AgentWhisper,
        ] {
            for action in [
                "GetParticipantInput",
                "TransferToFlow",
                "CheckHoursOfOperation",
                "UpdateContactTargetQueue",
                "Wait",
            ] {
                assert!(!allowed_in(flow_type, action), "{action} in {flow_type:?}");
            }
            assert!(allowed_in(flow_type, "Loop"));
            assert!(allowed_in(flow_type, "InvokeLambdaFunction"));
        }
        assert!(allowed_in(
            FlowType::AgentHold,
            "MessageParticipantIteratively"
        ));
        assert!(!allowed_in(
            FlowType::ContactFlow,
            "MessageParticipantIteratively"
        ));
        assert!(!allowed_in(FlowType::CustomerQueue, "TransferToFlow"));
    }

    #[test]
    fn every_restricted_action_is_supported() {
        for (name, types) in FLOW_TYPES_BY_ACTION {
            assert!(SUPPORTED_ACTION_TYPES.contains(name), "{name}");
            assert!(!types.is_empty(), "{name}");
        }
    }
}
