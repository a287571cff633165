//! Importing a flow exported from Connect: its parameters name resources by ARN; a
//! spec names them by name. Each ARN is mapped once, here, using the name the export's
//! own metadata gives it (the designer stores `{"id": arn, "text": name}`), the
//! function name inside a Lambda ARN, or the caller's table of known ARNs.

use std::collections::BTreeMap;

use sb_model::config::FlowType;
use serde::Serialize;
use serde_json::Value;

use crate::references::ReferenceKind;
use crate::FlowDocument;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArnMapping {
    pub action: String,
    /// Where in the action, e.g. `Parameters.QueueId`.
    pub location: String,
    pub arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The name it was mapped to.
    pub name: String,
    /// No name was found, so one was made from the ARN's resource id: the spec must
    /// declare a resource of that name (or the flow be edited to use another).
    pub derived: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub mappings: Vec<ArnMapping>,
}

impl ImportReport {
    /// Mappings whose name had to be made up from the ARN.
    pub fn derived(&self) -> impl Iterator<Item = &ArnMapping> {
        self.mappings.iter().filter(|m| m.derived)
    }
}

/// The kind of resource an ARN names, from its resource path.
pub fn arn_kind(arn: &str) -> Option<ReferenceKind> {
    if arn.starts_with("arn:aws:lambda:") {
        return Some(ReferenceKind::Function);
    }
    if !arn.starts_with("arn:aws:connect:") {
        return None;
    }
    let kinds = [
        ("/queue/", ReferenceKind::Queue),
        ("/contact-flow/", ReferenceKind::Flow),
        ("/flow-module/", ReferenceKind::Module),
        ("/prompt/", ReferenceKind::Prompt),
        ("/operating-hours/", ReferenceKind::Hours),
        ("/hours-of-operation/", ReferenceKind::Hours),
        ("/agent/", ReferenceKind::User),
    ];
    kinds
        .iter()
        .find(|(part, _)| arn.contains(part))
        .map(|(_, k)| *k)
}

/// `arn:aws:lambda:region:account:function:NAME[:qualifier]` → NAME.
pub fn lambda_function_name(arn: &str) -> Option<&str> {
    if !arn.starts_with("arn:aws:lambda:") {
        return None;
    }
    let rest = arn.split(":function:").nth(1)?;
    rest.split(':').next().filter(|n| !n.is_empty())
}

/// A name for an ARN nothing names: its kind and the first 8 characters of its id,
/// e.g. `flow-7bd5637b`.
fn derived_name(kind: ReferenceKind, arn: &str) -> String {
    let id: String = arn
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default()
        .chars()
        .take(8)
        .collect();
    let prefix = match kind {
        ReferenceKind::Queue => "queue",
        ReferenceKind::Flow => "flow",
        ReferenceKind::Module => "module",
        ReferenceKind::Function => "function",
        ReferenceKind::Hours => "hours",
        ReferenceKind::Prompt => "prompt",
        ReferenceKind::User => "agent",
    };
    format!("{prefix}-{id}")
}

/// Names the export's metadata gives ARNs: any object with an ARN `id` and a `text`,
/// `name` or `displayName`.
fn metadata_names(metadata: &Value) -> BTreeMap<String, String> {
    fn walk(value: &Value, out: &mut BTreeMap<String, String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(id)) = map.get("id") {
                    let name = ["text", "name", "displayName"]
                        .iter()
                        .find_map(|k| map.get(*k).and_then(Value::as_str))
                        .map(str::trim)
                        .filter(|n| !n.is_empty() && !n.starts_with("arn:"));
                    if let (true, Some(name)) = (id.starts_with("arn:"), name) {
                        out.insert(id.clone(), name.to_string());
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(metadata, &mut out);
    out
}

/// Replace every ARN in the flow's parameters with a name. `known` maps ARNs the
/// instance already declares (e.g. a function's `arns`) to names and wins over the
/// metadata. ARNs of services Switchboard does not run (Lex) are left alone.
pub fn map_arns(flow: &mut FlowDocument, known: &BTreeMap<String, String>) -> ImportReport {
    let from_metadata = metadata_names(&flow.metadata);
    let mut report = ImportReport::default();
    for action in &mut flow.actions {
        let identifier = action.identifier.clone();
        for (key, value) in action.parameters.iter_mut() {
            map_value(
                value,
                &format!("Parameters.{key}"),
                &identifier,
                known,
                &from_metadata,
                &mut report,
            );
        }
    }
    report
}

fn map_value(
    value: &mut Value,
    location: &str,
    action: &str,
    known: &BTreeMap<String, String>,
    from_metadata: &BTreeMap<String, String>,
    report: &mut ImportReport,
) {
    match value {
        Value::String(s) if s.starts_with("arn:") => {
            let Some(kind) = arn_kind(s) else { return };
            let found = known
                .get(s.as_str())
                .or_else(|| from_metadata.get(s.as_str()))
                .cloned()
                .or_else(|| {
                    (kind == ReferenceKind::Function)
                        .then(|| lambda_function_name(s).map(str::to_string))
                        .flatten()
                });
            let derived = found.is_none();
            let name = found.unwrap_or_else(|| derived_name(kind, s));
            report.mappings.push(ArnMapping {
                action: action.to_string(),
                location: location.to_string(),
                arn: s.clone(),
                kind: Some(kind.noun()),
                name: name.clone(),
                derived,
            });
            *s = name;
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                map_value(
                    v,
                    &format!("{location}.{k}"),
                    action,
                    known,
                    from_metadata,
                    report,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                map_value(
                    v,
                    &format!("{location}[{i}]"),
                    action,
                    known,
                    from_metadata,
                    report,
                );
            }
        }
        _ => {}
    }
}

/// The flow type an export most likely is, from the actions only some types may use.
pub fn guess_type(flow: &FlowDocument) -> FlowType {
    let has = |kind: &str| flow.actions.iter().any(|a| a.kind == kind);
    if has("EndFlowModuleExecution") {
        FlowType::Module
    } else if has("DequeueContactAndTransferToQueue") || has("MessageParticipantIteratively") {
        FlowType::CustomerQueue
    } else {
        FlowType::ContactFlow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_arns_from_metadata_and_lambda_names() {
        let queue = "arn:aws:connect:us-east-1:1:instance/i/queue/q1";
        let flow_arn = "arn:aws:connect:us-east-1:1:instance/i/contact-flow/f1";
        let json = serde_json::json!({
            "Version": "2019-10-30", "StartAction": "a",
            "Metadata": {"ActionMetadata": {"a": {"queue": {"id": queue, "text": "Billing"}}}},
            "Actions": [
                {"Identifier": "a", "Type": "UpdateContactTargetQueue", "Parameters": {"QueueId": queue}, "Transitions": {"NextAction": "b"}},
                {"Identifier": "b", "Type": "InvokeLambdaFunction", "Parameters": {"LambdaFunctionARN": "arn:aws:lambda:us-east-1:1:function:lookup:prod"}, "Transitions": {"NextAction": "c"}},
                {"Identifier": "c", "Type": "TransferToFlow", "Parameters": {"ContactFlowId": flow_arn}, "Transitions": {}}
            ]
        });
        let mut doc: FlowDocument = serde_json::from_value(json).unwrap();
        let report = map_arns(&mut doc, &BTreeMap::new());
        assert_eq!(doc.actions[0].parameters["QueueId"], "Billing");
        assert_eq!(doc.actions[1].parameters["LambdaFunctionARN"], "lookup");
        assert_eq!(
            doc.actions[2].parameters["ContactFlowId"], "flow-f1",
            "no name: one made from the id"
        );
        let derived: Vec<_> = report.derived().map(|m| m.arn.as_str()).collect();
        assert_eq!(derived, [flow_arn]);
    }

    #[test]
    fn known_arns_win() {
        let flow_arn = "arn:aws:connect:us-east-1:1:instance/i/contact-flow/f1";
        let json = serde_json::json!({"Version": "2019-10-30", "StartAction": "c", "Actions": [
            {"Identifier": "c", "Type": "TransferToFlow", "Parameters": {"ContactFlowId": flow_arn}, "Transitions": {}}]});
        let mut doc: FlowDocument = serde_json::from_value(json).unwrap();
        let known = BTreeMap::from([(flow_arn.to_string(), "Main".to_string())]);
        let report = map_arns(&mut doc, &known);
        assert_eq!(doc.actions[0].parameters["ContactFlowId"], "Main");
        assert_eq!(report.derived().count(), 0);
    }
}
