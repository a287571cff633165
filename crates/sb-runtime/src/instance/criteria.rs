//! Connect's routing criteria JSON (set by UpdateContactRoutingCriteria) as the routing
//! engine's criteria: steps of proficiency conditions with AND/OR, each with an expiry.

use sb_routing::{Expression, RoutingCriteria, RoutingStep};
use serde_json::Value;

/// Convert `{"Steps":[{"Expression":{...},"Expiry":{"DurationInSeconds":N}}]}`.
/// Preferred agents (`MatchCriteria.AgentsCriteria`) are agents by user name. Anything
/// Switchboard cannot evaluate is an error, so the caller can say so rather than route
/// on a weaker rule silently.
pub(crate) fn from_connect(value: &Value) -> Result<RoutingCriteria, String> {
    let steps = value
        .get("Steps")
        .and_then(Value::as_array)
        .ok_or("routing criteria need Steps")?;
    let steps = steps
        .iter()
        .map(|step| {
            let expression =
                expression(step.get("Expression").ok_or("a step needs an Expression")?)?;
            let expires_after_ms = match step.get("Expiry").and_then(|e| e.get("DurationInSeconds"))
            {
                None => None,
                Some(v) => Some(
                    number(v).ok_or("Expiry.DurationInSeconds must be a number")? as i64 * 1000,
                ),
            };
            Ok(RoutingStep {
                expression,
                expires_after_ms,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(RoutingCriteria { steps })
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.trim().parse().ok())
}

fn expression(e: &Value) -> Result<Expression, String> {
    if let Some(all) = e.get("AndExpression").and_then(Value::as_array) {
        return Ok(Expression::And(
            all.iter().map(expression).collect::<Result<_, _>>()?,
        ));
    }
    if let Some(any) = e.get("OrExpression").and_then(Value::as_array) {
        return Ok(Expression::Or(
            any.iter().map(expression).collect::<Result<_, _>>()?,
        ));
    }
    let c = e
        .get("AttributeCondition")
        .ok_or("an expression needs AttributeCondition, AndExpression or OrExpression")?;
    if let Some(m) = c.get("MatchCriteria") {
        // Preferred agents: Connect names them by id or ARN; here an agent is its user
        // name, the last part of an ARN (…/agent/carol) included.
        let ids = m
            .pointer("/AgentsCriteria/AgentIds")
            .and_then(Value::as_array)
            .ok_or("MatchCriteria needs AgentsCriteria.AgentIds")?;
        let agents: Vec<String> = ids
            .iter()
            .filter_map(Value::as_str)
            .map(|id| id.rsplit('/').next().unwrap_or(id).to_string())
            .collect();
        if agents.is_empty() {
            return Err("AgentsCriteria.AgentIds names no agent".into());
        }
        return Ok(Expression::Agents(agents));
    }
    let text = |k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or(format!("AttributeCondition needs {k}"))
    };
    let level = c.get("ProficiencyLevel").and_then(number).unwrap_or(1.0);
    let min_level = match c
        .get("ComparisonOperator")
        .and_then(Value::as_str)
        .unwrap_or("NumberGreaterOrEqualTo")
    {
        "NumberGreaterOrEqualTo" => level,
        "NumberGreaterThan" => level + 1.0,
        other => return Err(format!("comparison operator {other} is not supported")),
    };
    Ok(Expression::Attribute {
        name: text("Name")?,
        value: text("Value")?,
        min_level: min_level.clamp(1.0, 5.0) as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_steps_with_and_or_and_expiry() {
        let v = json!({"Steps": [
            {"Expiry": {"DurationInSeconds": 30}, "Expression": {"AndExpression": [
                {"AttributeCondition": {"Name": "Language", "Value": "French", "ProficiencyLevel": 4, "ComparisonOperator": "NumberGreaterOrEqualTo"}},
                {"AttributeCondition": {"Name": "Product", "Value": "Footwear", "ProficiencyLevel": "2", "ComparisonOperator": "NumberGreaterThan"}}]}},
            {"Expression": {"OrExpression": [
                {"AttributeCondition": {"Name": "Language", "Value": "French", "ProficiencyLevel": 1}}]}}]});
        let c = from_connect(&v).unwrap();
        assert_eq!(c.steps.len(), 2);
        assert_eq!(c.steps[0].expires_after_ms, Some(30_000));
        assert_eq!(
            c.steps[0].expression,
            Expression::And(vec![
                Expression::Attribute {
                    name: "Language".into(),
                    value: "French".into(),
                    min_level: 4
                },
                Expression::Attribute {
                    name: "Product".into(),
                    value: "Footwear".into(),
                    min_level: 3
                },
            ])
        );
        assert_eq!(c.steps[1].expires_after_ms, None);
    }

    #[test]
    fn preferred_agents_are_named_by_user_or_arn() {
        let v = json!({"Steps": [{"Expiry": {"DurationInSeconds": 20}, "Expression": {"AttributeCondition": {"ComparisonOperator": "Match", "MatchCriteria": {"AgentsCriteria": {"AgentIds": ["carol", "arn:aws:connect:us-east-1:1:instance/i/agent/bob"]}}}}}]});
        let c = from_connect(&v).unwrap();
        assert_eq!(
            c.steps[0].expression,
            Expression::Agents(vec!["carol".into(), "bob".into()])
        );
        let empty = json!({"Steps": [{"Expression": {"AttributeCondition": {"MatchCriteria": {"AgentsCriteria": {"AgentIds": []}}}}}]});
        assert!(from_connect(&empty).unwrap_err().contains("names no agent"));
        assert!(from_connect(&json!({})).is_err());
    }
}
