//! Routing criteria: steps of proficiency expressions, each active until it expires.
//! After the last step expires, any agent of the queue qualifies.

use sb_model::config::Proficiency;
use serde::{Deserialize, Serialize};

use crate::types::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingCriteria {
    pub steps: Vec<RoutingStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingStep {
    pub expression: Expression,
    /// How long this step stays active once it starts; `None`: until the contact is served.
    pub expires_after_ms: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expression {
    /// The agent has proficiency `name` = `value` at `min_level` or above (1–5).
    Attribute {
        name: String,
        value: String,
        min_level: u8,
    },
    /// The agent is one of these (Connect's preferred agents, `AgentsCriteria`).
    Agents(Vec<String>),
    And(Vec<Expression>),
    Or(Vec<Expression>),
}

impl Expression {
    /// Whether agent `agent`, with `proficiencies`, satisfies the expression.
    pub fn matches(&self, agent: &str, proficiencies: &[Proficiency]) -> bool {
        match self {
            Expression::Attribute {
                name,
                value,
                min_level,
            } => proficiencies
                .iter()
                .any(|p| p.name.as_str() == name && &p.value == value && p.level >= *min_level),
            Expression::Agents(ids) => ids.iter().any(|id| id == agent),
            Expression::And(all) => all.iter().all(|e| e.matches(agent, proficiencies)),
            Expression::Or(any) => any.iter().any(|e| e.matches(agent, proficiencies)),
        }
    }
}

impl RoutingCriteria {
    /// The step active `waited` ms after the criteria started, or `None` when every
    /// step has expired (any agent qualifies).
    pub fn active_step(&self, waited: Millis) -> Option<(usize, &RoutingStep)> {
        let mut start = 0;
        for (i, step) in self.steps.iter().enumerate() {
            match step.expires_after_ms {
                None => return Some((i, step)),
                Some(d) if waited < start + d => return Some((i, step)),
                Some(d) => start += d,
            }
        }
        None
    }

    /// When (ms after start) the active step changes next, if ever.
    pub fn next_change(&self, waited: Millis) -> Option<Millis> {
        let mut end = 0;
        for step in &self.steps {
            end += step.expires_after_ms?;
            if waited < end {
                return Some(end);
            }
        }
        None
    }

    pub fn admits(&self, waited: Millis, agent: &str, proficiencies: &[Proficiency]) -> bool {
        self.active_step(waited)
            .is_none_or(|(_, s)| s.expression.matches(agent, proficiencies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prof(name: &str, value: &str, level: u8) -> Proficiency {
        Proficiency {
            name: sb_model::Name::new(name).unwrap(),
            value: value.into(),
            level,
        }
    }

    fn attr(name: &str, value: &str, min_level: u8) -> Expression {
        Expression::Attribute {
            name: name.into(),
            value: value.into(),
            min_level,
        }
    }

    #[test]
    fn steps_expire_in_turn_then_anyone_qualifies() {
        let criteria = RoutingCriteria {
            steps: vec![
                RoutingStep {
                    expression: attr("Language", "French", 5),
                    expires_after_ms: Some(30_000),
                },
                RoutingStep {
                    expression: Expression::Or(vec![
                        attr("Language", "French", 3),
                        attr("Language", "English", 4),
                    ]),
                    expires_after_ms: Some(60_000),
                },
            ],
        };
        let novice = [prof("Language", "French", 3)];
        let nobody: [Proficiency; 0] = [];
        assert!(!criteria.admits(0, "a", &novice));
        assert!(criteria.admits(30_000, "a", &novice));
        assert!(!criteria.admits(30_000, "a", &nobody));
        assert!(criteria.admits(90_000, "a", &nobody), "all steps expired");
        assert_eq!(criteria.next_change(10_000), Some(30_000));
        assert_eq!(criteria.next_change(40_000), Some(90_000));
        assert_eq!(criteria.next_change(95_000), None);
    }

    #[test]
    fn and_needs_every_part() {
        let e = Expression::And(vec![
            attr("Language", "Spanish", 2),
            attr("Product", "Footwear", 1),
        ]);
        assert!(e.matches(
            "a",
            &[
                prof("Language", "Spanish", 4),
                prof("Product", "Footwear", 1)
            ]
        ));
        assert!(!e.matches("a", &[prof("Language", "Spanish", 4)]));
    }

    #[test]
    fn preferred_agents_first_then_anyone_with_the_skill() {
        let criteria = RoutingCriteria {
            steps: vec![
                RoutingStep {
                    expression: Expression::Agents(vec!["carol".into()]),
                    expires_after_ms: Some(20_000),
                },
                RoutingStep {
                    expression: attr("Language", "French", 3),
                    expires_after_ms: Some(60_000),
                },
            ],
        };
        let french = [prof("Language", "French", 4)];
        assert!(criteria.admits(0, "carol", &[]));
        assert!(!criteria.admits(0, "alice", &french), "only carol at first");
        assert!(criteria.admits(25_000, "alice", &french));
        assert!(!criteria.admits(25_000, "carol", &[]), "then by skill");
    }
}
