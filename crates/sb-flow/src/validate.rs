//! Deploy-time validation of a flow: every problem at once, each with its location.

use std::collections::{HashMap, HashSet, VecDeque};

use sb_model::config::FlowType;
use serde_json::Value;

use crate::catalog::{self, ActionSupport};
use crate::document::{FlowDocument, FLOW_LANGUAGE_VERSION};

pub const MAX_ACTIONS: usize = 250;
pub const MAX_IDENTIFIER_LEN: usize = 50;
/// Connect caps a synchronous function call at 8 seconds.
pub const MAX_FUNCTION_SECONDS: f64 = 8.0;

const ERROR_TYPES: &[&str] = &[
    "NoMatchingError",
    "NoMatchingCondition",
    "InputTimeLimitExceeded",
    "TimeLimitExceeded",
    "QueueAtCapacity",
    "InvalidPhoneNumber",
    "InvalidCallbackNumber",
    "CallbackNumberNotDialable",
    "ConnectionTimeLimitExceeded",
    "CallFailed",
    "MultipleFound",
    "NoneFound",
    "MultipleFoundError",
    "NoneFoundError",
    "ContactNotLinked",
    "InvalidInput",
    "ContinueLooping",
    "DoneLooping",
];

const OPERATORS: &[&str] = &[
    "Equals",
    "NumberLessThan",
    "NumberGreaterThan",
    "NumberLessOrEqualTo",
    "NumberGreaterOrEqualTo",
    "StartsWith",
    "Contains",
    "TextStartsWith",
    "TextContains",
    "TextEndsWith",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Where in the flow, e.g. `Actions[menu-1].Transitions.NextAction`.
    pub location: String,
    pub message: String,
}

struct Findings(Vec<Finding>);

impl Findings {
    fn error(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.0.push(Finding {
            severity: Severity::Error,
            location: location.into(),
            message: message.into(),
        });
    }
    fn warning(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.0.push(Finding {
            severity: Severity::Warning,
            location: location.into(),
            message: message.into(),
        });
    }
}

/// Check a flow's structure and meaning for a flow of `flow_type`. References to other
/// resources are checked by the spec, which knows the instance (see [`crate::references`]).
pub fn validate(flow: &FlowDocument, flow_type: FlowType) -> Vec<Finding> {
    let mut out = Findings(Vec::new());
    if flow.version != FLOW_LANGUAGE_VERSION {
        out.error(
            "Version",
            format!(
                "unsupported flow-language version '{}': expected '{FLOW_LANGUAGE_VERSION}'",
                flow.version
            ),
        );
    }
    if flow.actions.is_empty() {
        out.error("Actions", "a flow needs at least one action");
    }
    if flow.actions.len() > MAX_ACTIONS {
        out.error(
            "Actions",
            format!(
                "{} actions: a flow may have at most {MAX_ACTIONS}",
                flow.actions.len()
            ),
        );
    }

    let mut seen: HashMap<&str, usize> = HashMap::new();
    for action in &flow.actions {
        let at = format!("Actions[{}]", action.identifier);
        let id = &action.identifier;
        if id.is_empty() || id.chars().count() > MAX_IDENTIFIER_LEN {
            out.error(
                &at,
                format!("an identifier must be 1 to {MAX_IDENTIFIER_LEN} characters"),
            );
        }
        if id.chars().any(char::is_control) {
            out.error(&at, "an identifier must not contain control characters");
        }
        *seen.entry(id.as_str()).or_default() += 1;
        check_action(action, flow_type, &at, &mut out);
    }
    for (id, count) in &seen {
        if *count > 1 {
            out.error(
                format!("Actions[{id}]"),
                format!("identifier used by {count} actions; identifiers must be unique"),
            );
        }
    }

    if !seen.contains_key(flow.start_action.as_str()) {
        out.error(
            "StartAction",
            format!(
                "StartAction '{}' is not an action of this flow",
                flow.start_action
            ),
        );
    }
    for action in &flow.actions {
        for (place, target) in action.transitions.targets() {
            if !seen.contains_key(target) {
                out.error(
                    format!("Actions[{}].{place}", action.identifier),
                    format!("transition to '{target}', which is not an action of this flow"),
                );
            }
        }
    }
    warn_unreachable(flow, &mut out);
    out.0
}

fn check_action(action: &crate::Action, flow_type: FlowType, at: &str, out: &mut Findings) {
    match catalog::support(&action.kind) {
        ActionSupport::Supported => {}
        ActionSupport::Unsupported(needs) => {
            out.error(
                format!("{at}.Type"),
                format!(
                    "action type {} is not supported by Switchboard (it needs {needs}); see the list in docs/flows.md",
                    action.kind
                ),
            );
            return;
        }
        ActionSupport::Unknown => {
            out.error(
                format!("{at}.Type"),
                format!("unknown action type '{}'", action.kind),
            );
            return;
        }
    }
    if !catalog::allowed_in(flow_type, &action.kind) {
        out.error(
            format!("{at}.Type"),
            format!(
                "action type {} is not allowed in a {flow_type:?} flow (allowed in: {})",
                action.kind,
                catalog::restricted_to(&action.kind)
                    .unwrap_or_default()
                    .iter()
                    .map(|t| format!("{t:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    for error in &action.transitions.errors {
        if !ERROR_TYPES.contains(&error.error_type.as_str()) {
            out.error(
                format!("{at}.Transitions.Errors"),
                format!("unknown error type '{}'", error.error_type),
            );
        }
    }
    for (i, c) in action.transitions.conditions.iter().enumerate() {
        if !OPERATORS.contains(&c.condition.operator.as_str()) {
            out.error(
                format!("{at}.Transitions.Conditions[{i}].Condition.Operator"),
                format!("unknown operator '{}'", c.condition.operator),
            );
        }
    }
    check_lex_references(&action.parameters, &format!("{at}.Parameters"), out);
    check_parameters(action, at, out);
}

/// `$.Lex.*` only has a value after a Lex bot ran, and Switchboard runs none: refusing
/// it here beats a comparison that silently never matches at run time.
fn check_lex_references(params: &serde_json::Map<String, Value>, at: &str, out: &mut Findings) {
    fn walk(value: &Value, at: &str, out: &mut Findings) {
        match value {
            Value::String(s) if s.starts_with("$.Lex.") => out.error(
                at,
                format!("'{s}' refers to a Lex bot result; Switchboard runs no bot engine"),
            ),
            Value::Object(map) => {
                for (k, v) in map {
                    walk(v, &format!("{at}.{k}"), out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{at}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    for (k, v) in params {
        walk(v, &format!("{at}.{k}"), out);
    }
}

fn check_parameters(action: &crate::Action, at: &str, out: &mut Findings) {
    let p = &action.parameters;
    let mut require = |name: &str| {
        if !p.contains_key(name) {
            out.error(
                format!("{at}.Parameters"),
                format!("{} requires the parameter {name}", action.kind),
            );
        }
    };
    match action.kind.as_str() {
        "InvokeLambdaFunction" => require("LambdaFunctionARN"),
        "TransferToFlow" => require("ContactFlowId"),
        "InvokeFlowModule" => require("FlowModuleId"),
        "Compare" => require("ComparisonValue"),
        "UpdateContactAttributes" => require("Attributes"),
        "UpdateFlowAttributes" => require("FlowAttributes"),
        "Loop" => require("LoopCount"),
        "UpdateContactTargetQueue" if !p.contains_key("AgentId") => require("QueueId"),
        _ => {}
    }
    let number = |name: &str| -> Option<Result<f64, String>> {
        let value = p.get(name)?;
        let text = match value {
            Value::String(s) if crate::references::is_dynamic(s) => return None,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => return Some(Err(other.to_string())),
        };
        Some(text.trim().parse::<f64>().map_err(|_| text))
    };
    for name in ["InputTimeLimitSeconds", "LoopCount", "TimeLimitSeconds"] {
        if let Some(Err(text)) = number(name) {
            out.error(
                format!("{at}.Parameters.{name}"),
                format!("{name} must be a number, not '{text}'"),
            );
        }
    }
    if action.kind == "InvokeLambdaFunction" {
        match number("InvocationTimeLimitSeconds") {
            Some(Ok(s)) if s <= 0.0 || s > MAX_FUNCTION_SECONDS => out.error(
                format!("{at}.Parameters.InvocationTimeLimitSeconds"),
                format!("InvocationTimeLimitSeconds is {s}: it must be above 0 and at most {MAX_FUNCTION_SECONDS}"),
            ),
            Some(Err(text)) => out.error(
                format!("{at}.Parameters.InvocationTimeLimitSeconds"),
                format!("InvocationTimeLimitSeconds must be a number, not '{text}'"),
            ),
            _ => {}
        }
    }
}

fn warn_unreachable(flow: &FlowDocument, out: &mut Findings) {
    let by_id: HashMap<&str, &crate::Action> = flow
        .actions
        .iter()
        .map(|a| (a.identifier.as_str(), a))
        .collect();
    let mut reached: HashSet<&str> = HashSet::new();
    let mut queue: VecDeque<&str> = VecDeque::new();
    if by_id.contains_key(flow.start_action.as_str()) {
        queue.push_back(flow.start_action.as_str());
    }
    while let Some(id) = queue.pop_front() {
        if !reached.insert(id) {
            continue;
        }
        if let Some(action) = by_id.get(id) {
            for (_, target) in action.transitions.targets() {
                if by_id.contains_key(target) && !reached.contains(target) {
                    queue.push_back(target);
                }
            }
        }
    }
    for action in &flow.actions {
        if !reached.contains(action.identifier.as_str()) {
            out.warning(
                format!("Actions[{}]", action.identifier),
                "unreachable: no path from StartAction leads here",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn findings(json: &str) -> Vec<Finding> {
        validate(&parse(json).unwrap(), FlowType::ContactFlow)
    }

    fn errors(json: &str) -> Vec<String> {
        findings(json)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| format!("{}: {}", f.location, f.message))
            .collect()
    }

    #[test]
    fn a_correct_flow_has_no_findings() {
        let flow = r#"{"Version":"2019-10-30","StartAction":"hello","Actions":[
            {"Identifier":"hello","Type":"MessageParticipant","Parameters":{"Text":"Hi"},
             "Transitions":{"NextAction":"bye","Errors":[{"NextAction":"bye","ErrorType":"NoMatchingError"}]}},
            {"Identifier":"bye","Type":"DisconnectParticipant","Parameters":{},"Transitions":{}}]}"#;
        assert_eq!(findings(flow), vec![]);
    }

    #[test]
    fn reports_every_structural_problem_at_once() {
        let flow = r#"{"Version":"2017-01-01","StartAction":"nowhere","Actions":[
            {"Identifier":"a","Type":"MessageParticipant","Parameters":{},"Transitions":{"NextAction":"ghost"}},
            {"Identifier":"a","Type":"Teleport","Parameters":{},"Transitions":{}},
            {"Identifier":"b","Type":"ConnectParticipantWithLexBot","Parameters":{},"Transitions":{}}]}"#;
        let errs = errors(flow).join("\n");
        for expected in [
            "Version: unsupported flow-language version '2017-01-01'",
            "StartAction: StartAction 'nowhere' is not an action",
            "Actions[a].Transitions.NextAction: transition to 'ghost'",
            "Actions[a].Type: unknown action type 'Teleport'",
            "Actions[a]: identifier used by 2 actions",
            "Actions[b].Type: action type ConnectParticipantWithLexBot is not supported by Switchboard (it needs Amazon Lex bots)",
        ] {
            assert!(errs.contains(expected), "missing «{expected}» in:\n{errs}");
        }
    }

    #[test]
    fn function_time_limit_is_at_most_eight_seconds() {
        let flow = r#"{"Version":"2019-10-30","StartAction":"f","Actions":[
            {"Identifier":"f","Type":"InvokeLambdaFunction","Parameters":{"LambdaFunctionARN":"lookup","InvocationTimeLimitSeconds":"9"},"Transitions":{}}]}"#;
        assert!(errors(flow)[0].contains("at most 8"), "{:?}", errors(flow));
    }

    #[test]
    fn lex_values_and_unreachable_actions() {
        let flow = r#"{"Version":"2019-10-30","StartAction":"c","Actions":[
            {"Identifier":"c","Type":"Compare","Parameters":{"ComparisonValue":"$.Lex.IntentName"},"Transitions":{}},
            {"Identifier":"orphan","Type":"DisconnectParticipant","Parameters":{},"Transitions":{}}]}"#;
        let all = findings(flow);
        assert!(all
            .iter()
            .any(|f| f.severity == Severity::Error && f.message.contains("Lex bot")));
        assert!(all
            .iter()
            .any(|f| f.severity == Severity::Warning && f.location == "Actions[orphan]"));
    }

    #[test]
    fn too_many_actions() {
        let actions: Vec<String> = (0..251)
            .map(|i| format!(r#"{{"Identifier":"a{i}","Type":"DisconnectParticipant","Parameters":{{}},"Transitions":{{}}}}"#))
            .collect();
        let flow = format!(
            r#"{{"Version":"2019-10-30","StartAction":"a0","Actions":[{}]}}"#,
            actions.join(",")
        );
        assert!(errors(&flow).iter().any(|e| e.contains("at most 250")));
    }
}
