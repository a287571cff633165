//! The instance resources a flow names: queues, flows, modules, functions, hours, prompts.
//!
//! In a spec, flows refer to resources by name. A value that starts with `$.` is
//! dynamic and resolved at run time, so it is not a reference here.

use serde_json::Value;

use crate::FlowDocument;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReferenceKind {
    Queue,
    Flow,
    Module,
    Function,
    Hours,
    Prompt,
    User,
}

impl ReferenceKind {
    pub fn noun(self) -> &'static str {
        match self {
            ReferenceKind::Queue => "queue",
            ReferenceKind::Flow => "flow",
            ReferenceKind::Module => "flow module",
            ReferenceKind::Function => "external function",
            ReferenceKind::Hours => "hours of operation",
            ReferenceKind::Prompt => "prompt",
            ReferenceKind::User => "user",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub action: String,
    /// Where in the action, e.g. `Parameters.QueueId`.
    pub location: String,
    pub kind: ReferenceKind,
    pub target: String,
}

/// Parameters that name another resource, per action type.
const REFERENCE_PARAMETERS: &[(&str, &str, ReferenceKind)] = &[
    ("UpdateContactTargetQueue", "QueueId", ReferenceKind::Queue),
    ("UpdateContactTargetQueue", "AgentId", ReferenceKind::User),
    ("TransferContactToQueue", "QueueId", ReferenceKind::Queue),
    (
        "DequeueContactAndTransferToQueue",
        "QueueId",
        ReferenceKind::Queue,
    ),
    ("CheckMetricData", "QueueId", ReferenceKind::Queue),
    ("GetMetricData", "QueueId", ReferenceKind::Queue),
    ("TransferToFlow", "ContactFlowId", ReferenceKind::Flow),
    ("CreateTask", "ContactFlowId", ReferenceKind::Flow),
    ("InvokeFlowModule", "FlowModuleId", ReferenceKind::Module),
    (
        "InvokeLambdaFunction",
        "LambdaFunctionARN",
        ReferenceKind::Function,
    ),
    (
        "CheckHoursOfOperation",
        "HoursOfOperationId",
        ReferenceKind::Hours,
    ),
    ("MessageParticipant", "PromptId", ReferenceKind::Prompt),
    ("GetParticipantInput", "PromptId", ReferenceKind::Prompt),
];

pub fn is_dynamic(value: &str) -> bool {
    value.starts_with("$.")
}

pub fn references(flow: &FlowDocument) -> Vec<Reference> {
    let mut found = Vec::new();
    for action in &flow.actions {
        for (kind_of_action, parameter, kind) in REFERENCE_PARAMETERS {
            if action.kind != *kind_of_action {
                continue;
            }
            if let Some(Value::String(target)) = action.parameters.get(*parameter) {
                if !is_dynamic(target) {
                    found.push(Reference {
                        action: action.identifier.clone(),
                        location: format!("Parameters.{parameter}"),
                        kind: *kind,
                        target: target.clone(),
                    });
                }
            }
        }
        // A loop of messages names a prompt in each: {"Messages": [{"PromptId": ...}]}.
        if action.kind == "MessageParticipantIteratively" {
            if let Some(Value::Array(messages)) = action.parameters.get("Messages") {
                for (i, message) in messages.iter().enumerate() {
                    if let Some(Value::String(target)) = message.get("PromptId") {
                        if !is_dynamic(target) {
                            found.push(Reference {
                                action: action.identifier.clone(),
                                location: format!("Parameters.Messages[{i}].PromptId"),
                                kind: ReferenceKind::Prompt,
                                target: target.clone(),
                            });
                        }
                    }
                }
            }
        }
        // Event hooks name flows: {"CustomerQueue": "<flow>", "AgentWhisper": ...}.
        if action.kind == "UpdateContactEventHooks" {
            if let Some(Value::Object(hooks)) = action.parameters.get("EventHooks") {
                for (hook, value) in hooks {
                    if let Value::String(target) = value {
                        if !is_dynamic(target) {
                            found.push(Reference {
                                action: action.identifier.clone(),
                                location: format!("Parameters.EventHooks.{hook}"),
                                kind: ReferenceKind::Flow,
                                target: target.clone(),
                            });
                        }
                    }
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Newcomer review D7: the prompts of a message loop are references like any.
    #[test]
    fn the_prompts_of_a_message_loop_are_references() {
        let flow = crate::parse(
            &serde_json::json!({
                "Version": "2019-10-30",
                "StartAction": "loop",
                "Actions": [{
                    "Identifier": "loop",
                    "Type": "MessageParticipantIteratively",
                    "Parameters": {"Messages": [
                        {"Text": "Please hold"},
                        {"PromptId": "NoSuchPrompt"},
                        {"PromptId": "$.Attributes.prompt"}
                    ]},
                    "Transitions": {}
                }]
            })
            .to_string(),
        )
        .unwrap();
        let found = references(&flow);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, ReferenceKind::Prompt);
        assert_eq!(found[0].target, "NoSuchPrompt");
        assert_eq!(found[0].location, "Parameters.Messages[1].PromptId");
    }
}
