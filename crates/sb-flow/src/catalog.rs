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

/// Whether a flow of `flow_type` may contain an action of `action_type`, following
/// Connect's block availability per flow type: queue-only, module-only and
/// contact-routing actions are refused where Connect refuses them.
pub fn allowed_in(flow_type: FlowType, action_type: &str) -> bool {
    use FlowType::*;
    let routes_contact = matches!(
        action_type,
        "TransferContactToQueue" | "TransferContactToAgent" | "CreateCallbackContact"
    );
    match action_type {
        "DequeueContactAndTransferToQueue" => flow_type == CustomerQueue,
        "EndFlowModuleExecution" => flow_type == Module,
        _ => match flow_type {
            CustomerWhisper | AgentWhisper | OutboundWhisper | CustomerHold | AgentHold => {
                !routes_contact
                    && !matches!(
                        action_type,
                        "GetParticipantInput"
                            | "TransferToFlow"
                            | "Wait"
                            | "UpdateContactTargetQueue"
                    )
            }
            CustomerQueue => !routes_contact || action_type == "CreateCallbackContact",
            ContactFlow | AgentTransfer | QueueTransfer | Module => true,
        },
    }
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
}
