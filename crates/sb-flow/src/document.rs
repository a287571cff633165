//! The flow document as Connect exports it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const FLOW_LANGUAGE_VERSION: &str = "2019-10-30";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FlowDocument {
    pub version: String,
    pub start_action: String,
    /// Designer layout and names. Not interpreted, but kept: import reads resource
    /// names from it, and a round trip must not lose the designer's layout.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub metadata: Value,
    pub actions: Vec<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Action {
    pub identifier: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    #[serde(default)]
    pub transitions: Transitions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Transitions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionalTransition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorTransition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ConditionalTransition {
    pub next_action: String,
    pub condition: Condition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Condition {
    pub operator: String,
    pub operands: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ErrorTransition {
    pub next_action: String,
    pub error_type: String,
}

impl Transitions {
    /// Every action this one can lead to, with where in the transitions it is named.
    pub fn targets(&self) -> impl Iterator<Item = (String, &str)> {
        let next = self
            .next_action
            .iter()
            .map(|t| ("Transitions.NextAction".to_string(), t.as_str()));
        let conditions = self.conditions.iter().enumerate().map(|(i, c)| {
            (
                format!("Transitions.Conditions[{i}].NextAction"),
                c.next_action.as_str(),
            )
        });
        let errors = self.errors.iter().map(|e| {
            (
                format!("Transitions.Errors[{}].NextAction", e.error_type),
                e.next_action.as_str(),
            )
        });
        next.chain(conditions).chain(errors)
    }
}

impl FlowDocument {
    pub fn action(&self, identifier: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.identifier == identifier)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid flow document: {message} (line {line}, column {column})")]
pub struct ParseError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// Parse a flow exported from Connect. Only the shape is checked here; [`crate::validate`]
/// checks the meaning.
pub fn parse(json: &str) -> Result<FlowDocument, ParseError> {
    serde_json::from_str(json).map_err(|e| ParseError {
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string(),
        line: e.line(),
        column: e.column(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_flow() {
        let doc = parse(
            r#"{"Version":"2019-10-30","StartAction":"a","Actions":[
                {"Identifier":"a","Type":"DisconnectParticipant","Parameters":{},"Transitions":{}}]}"#,
        )
        .unwrap();
        assert_eq!(doc.actions[0].kind, "DisconnectParticipant");
    }

    #[test]
    fn unknown_top_level_field_is_an_error_with_position() {
        let err = parse(r#"{"Version":"2019-10-30","StartAction":"a","Actions":[],"Extra":1}"#)
            .unwrap_err();
        assert!(err.message.contains("unknown field `Extra`"), "{err}");
        assert_eq!(err.line, 1);
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(parse("{\"Version\": ").is_err());
    }

    /// The designer writes positions with 17 significant digits (a real export has
    /// `1765.6000000000001`); parsing them to the nearest double, not one a bit off, is
    /// what keeps the layout the same through an import and an export (the fuzzer found
    /// one drifting by a last digit).
    #[test]
    fn designer_positions_come_back_exactly() {
        let positions = [
            "1765.6000000000001",
            "880.8000000000001",
            "8916.800000000001",
            "0.1",
            "-568",
            "2349.6",
            "1.7976931348623157e308",
            "5e-324",
        ];
        for y in positions {
            let text = format!(
                r#"{{"Version":"2019-10-30","StartAction":"a","Metadata":{{"ActionMetadata":{{"a":{{"position":{{"x":1,"y":{y}}}}}}}}},"Actions":[
                {{"Identifier":"a","Type":"DisconnectParticipant","Parameters":{{}},"Transitions":{{}}}}]}}"#
            );
            let first = parse(&text).unwrap();
            let again = parse(&serde_json::to_string(&first).unwrap()).unwrap();
            assert_eq!(again, first, "{y}");
            let read = first.metadata["ActionMetadata"]["a"]["position"]["y"]
                .as_f64()
                .unwrap();
            assert_eq!(read, y.parse::<f64>().unwrap(), "{y} read as {read}");
        }
    }
}
