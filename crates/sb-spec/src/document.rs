//! One YAML file of a spec. Any file may hold any sections; the loader merges them.

use sb_model::config::*;
use sb_model::hours::HoursOfOperation;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpecDocument {
    #[serde(default)]
    pub instance: Option<InstanceSettings>,
    #[serde(default)]
    pub security: Option<SecuritySettings>,
    #[serde(default)]
    pub hours_of_operation: Vec<HoursOfOperation>,
    #[serde(default)]
    pub queues: Vec<Queue>,
    #[serde(default)]
    pub routing_profiles: Vec<RoutingProfile>,
    #[serde(default)]
    pub agent_statuses: Vec<AgentStatus>,
    #[serde(default)]
    pub predefined_attributes: Vec<PredefinedAttribute>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub prompts: Vec<Prompt>,
    #[serde(default)]
    pub flows: Vec<FlowEntry>,
    #[serde(default)]
    pub functions: Vec<ExternalFunction>,
    #[serde(default)]
    pub quick_connects: Vec<QuickConnect>,
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
}

pub(crate) fn parse(text: &str) -> Result<SpecDocument, String> {
    // An empty file (or one with only comments) is an empty document, not an error.
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(SpecDocument::default());
    }
    // Nothing costly reaches the parser: no aliases to expand, no deep nesting.
    crate::yaml_guard::check(text).map_err(|e| e.to_string())?;
    serde_norway::from_str(text).map_err(|e| e.to_string())
}
