//! The validated, merged spec of one instance.

use std::collections::BTreeMap;

use sb_flow::FlowDocument;
use sb_model::config::*;
use sb_model::hours::HoursOfOperation;
use sb_model::Name;
use serde::{Deserialize, Serialize};

use crate::document;
use crate::problem::Problems;
use crate::source::SourceBundle;

/// Everything an instance is configured with, keyed by name. Built only by [`load`],
/// so holding one means it passed validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceSpec {
    pub instance: InstanceSettings,
    pub security: SecuritySettings,
    pub hours_of_operation: BTreeMap<Name, HoursOfOperation>,
    pub queues: BTreeMap<Name, Queue>,
    pub routing_profiles: BTreeMap<Name, RoutingProfile>,
    pub agent_statuses: BTreeMap<Name, AgentStatus>,
    pub predefined_attributes: BTreeMap<Name, PredefinedAttribute>,
    pub users: BTreeMap<Name, User>,
    pub prompts: BTreeMap<Name, Prompt>,
    pub flows: BTreeMap<Name, LoadedFlow>,
    pub functions: BTreeMap<Name, ExternalFunction>,
    pub quick_connects: BTreeMap<Name, QuickConnect>,
    /// Custom roles (IAM-like policies) beside the built-in ones.
    #[serde(default)]
    pub roles: BTreeMap<Name, RoleSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedFlow {
    pub entry: FlowEntry,
    pub document: FlowDocument,
}

/// Where each named resource was declared, for error messages.
pub(crate) type Origins = BTreeMap<(&'static str, String), String>;

pub(crate) struct Draft {
    pub instance: Option<(String, InstanceSettings)>,
    pub security: Option<(String, SecuritySettings)>,
    pub spec: InstanceSpec,
    /// Flow entries whose documents check() has yet to read from the bundle.
    pub flow_entries: BTreeMap<Name, FlowEntry>,
    pub origins: Origins,
}

/// Validate a bundle and build its spec. On failure, every problem found is returned;
/// warnings come back with the spec on success.
pub fn load(bundle: &SourceBundle) -> Result<(InstanceSpec, Problems), Problems> {
    let mut problems = Problems::default();
    if let Err(e) = bundle.check() {
        problems.error("", "", e.to_string());
        return Err(problems);
    }
    let mut draft = Draft {
        instance: None,
        security: None,
        spec: InstanceSpec::empty(),
        flow_entries: BTreeMap::new(),
        origins: Origins::new(),
    };
    let mut yaml_files = 0;
    for (path, _) in bundle.files.iter().filter(|(p, _)| is_yaml(p)) {
        yaml_files += 1;
        let Some(text) = bundle.text(path) else {
            problems.error(path, "", "not UTF-8 text");
            continue;
        };
        match document::parse(text) {
            Ok(doc) => merge(&mut draft, path, doc, &mut problems),
            Err(found) => {
                for problem in found {
                    problems.error(path, problem.location(), problem.message);
                }
            }
        }
    }
    if yaml_files == 0 {
        problems.error(
            "",
            "",
            "no .yaml files found: a spec directory holds the instance's YAML files",
        );
        return Err(problems);
    }
    if problems.has_errors() {
        // Resources in a file that did not parse are missing, so every reference to
        // them would be reported as unknown: noise that hides the real problem.
        problems.warning(
            "",
            "",
            "cross-reference checks skipped until the files above parse",
        );
        return Err(problems);
    }
    crate::check::check(&mut draft, bundle, &mut problems);
    match draft.instance {
        Some((_, settings)) if !problems.has_errors() => {
            draft.spec.instance = settings;
            draft.spec.security = draft.security.map(|(_, s)| s).unwrap_or_default();
            Ok((draft.spec, problems))
        }
        _ => Err(problems),
    }
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

impl InstanceSpec {
    fn empty() -> Self {
        InstanceSpec {
            instance: InstanceSettings {
                name: Name::new("unnamed").expect("literal name"),
                description: None,
                default_inbound_flow: None,
                chat_message_max_chars: 1024,
                task_expiry_days: 7,
                agent_silence_limit_seconds: 90,
                chat_customer_absence_limit_seconds: 600,
                stream_retention_days: Default::default(),
            },
            security: SecuritySettings::default(),
            hours_of_operation: BTreeMap::new(),
            queues: BTreeMap::new(),
            routing_profiles: BTreeMap::new(),
            agent_statuses: BTreeMap::new(),
            predefined_attributes: BTreeMap::new(),
            users: BTreeMap::new(),
            prompts: BTreeMap::new(),
            flows: BTreeMap::new(),
            functions: BTreeMap::new(),
            quick_connects: BTreeMap::new(),
            roles: BTreeMap::new(),
        }
    }

    /// The function a flow means by `reference`: its name, one of the ARNs it declares,
    /// or a Lambda ARN whose function name is an instance function's name. Flows can
    /// compute the reference at run time (`$.Attributes.fn`), so this answers then too.
    pub fn function_for(&self, reference: &str) -> Option<&Name> {
        if let Some((name, _)) = self.functions.get_key_value(reference) {
            return Some(name);
        }
        if let Some(f) = self
            .functions
            .values()
            .find(|f| f.arns.iter().any(|arn| arn == reference))
        {
            return Some(&f.name);
        }
        let by_lambda_name = sb_flow::import::lambda_function_name(reference)?;
        self.functions
            .get_key_value(by_lambda_name)
            .map(|(name, _)| name)
    }
}

/// Put one file's resources into the draft, refusing a name declared twice.
fn merge(draft: &mut Draft, path: &str, doc: document::SpecDocument, problems: &mut Problems) {
    fn add<T>(
        map: &mut BTreeMap<Name, T>,
        origins: &mut Origins,
        section: &'static str,
        path: &str,
        items: Vec<T>,
        name_of: impl Fn(&T) -> &Name,
        problems: &mut Problems,
    ) {
        for item in items {
            let name = name_of(&item).clone();
            let key = (section, name.to_string());
            if let Some(first) = origins.get(&key) {
                problems.error(
                    path,
                    format!("{section}[{name}]"),
                    format!("duplicate name '{name}': already declared in {first}"),
                );
                continue;
            }
            origins.insert(key, path.to_string());
            map.insert(name, item);
        }
    }
    let o = &mut draft.origins;
    let s = &mut draft.spec;
    add(
        &mut s.hours_of_operation,
        o,
        "hours_of_operation",
        path,
        doc.hours_of_operation,
        |x| &x.name,
        problems,
    );
    add(
        &mut s.queues,
        o,
        "queues",
        path,
        doc.queues,
        |x| &x.name,
        problems,
    );
    add(
        &mut s.routing_profiles,
        o,
        "routing_profiles",
        path,
        doc.routing_profiles,
        |x| &x.name,
        problems,
    );
    add(
        &mut s.agent_statuses,
        o,
        "agent_statuses",
        path,
        doc.agent_statuses,
        |x| &x.name,
        problems,
    );
    add(
        &mut s.predefined_attributes,
        o,
        "predefined_attributes",
        path,
        doc.predefined_attributes,
        |x| &x.name,
        problems,
    );
    add(
        &mut s.users,
        o,
        "users",
        path,
        doc.users,
        |x| &x.username,
        problems,
    );
    add(
        &mut s.prompts,
        o,
        "prompts",
        path,
        doc.prompts,
        |x| &x.name,
        problems,
    );
    add(
        &mut s.functions,
        o,
        "functions",
        path,
        doc.functions,
        |x| &x.name,
        problems,
    );
    add(
        &mut s.quick_connects,
        o,
        "quick_connects",
        path,
        doc.quick_connects,
        |x| &x.name,
        problems,
    );
    add(
        &mut s.roles,
        o,
        "roles",
        path,
        doc.roles,
        |x| &x.name,
        problems,
    );
    add(
        &mut draft.flow_entries,
        o,
        "flows",
        path,
        doc.flows,
        |x| &x.name,
        problems,
    );
    if let Some(v) = doc.instance {
        set_once(&mut draft.instance, "instance", path, v, problems);
    }
    if let Some(v) = doc.security {
        set_once(&mut draft.security, "security", path, v, problems);
    }
}

fn set_once<T>(
    slot: &mut Option<(String, T)>,
    section: &str,
    path: &str,
    value: T,
    problems: &mut Problems,
) {
    match slot {
        Some((first, _)) => problems.error(
            path,
            section,
            format!("the {section} section is already set in {first}; set it once"),
        ),
        None => *slot = Some((path.to_string(), value)),
    }
}
