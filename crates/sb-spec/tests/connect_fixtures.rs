//! The forty real flows exported from Amazon Connect (fixtures/connect-flows in the repository):
//! each imports and validates, or fails only by naming unsupported action types; each
//! whose types are all supported runs to an outcome in the simulator along every menu
//! branch, without panicking.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use sb_flow::import::{guess_type, map_arns};
use sb_flow::interpret::Flow;
use sb_flow::references::ReferenceKind;
use sb_flow::simulate::{simulate, Script};
use sb_model::config::FlowType;
use sb_model::Channel;
use sb_spec::flow_env::{MetricValues, ScriptedFigures};
use sb_spec::{load, FlowSet, SourceBundle, SpecEnv};

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/connect-flows");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the Connect fixtures at {} are missing: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// The flow type, from the export's file name where it says, else from its actions.
fn flow_type(file: &str, doc: &sb_flow::FlowDocument) -> FlowType {
    let f = file.to_lowercase();
    if f.contains("outbound-whisper") {
        FlowType::OutboundWhisper
    } else if f.contains("agent-whisper") || f.contains("agentwhisper") {
        FlowType::AgentWhisper
    } else if f.contains("customer-queue")
        || f.contains("customerqueue")
        || f.contains("inqueue-option")
    {
        FlowType::CustomerQueue
    } else if f.contains("queue-transfer") {
        FlowType::QueueTransfer
    } else {
        guess_type(doc)
    }
}

fn yaml_list(items: &BTreeSet<String>, render: impl Fn(&str) -> String) -> String {
    items.iter().map(|n| render(n)).collect::<Vec<_>>().join("")
}

fn quoted(name: &str) -> String {
    serde_json::to_string(name).unwrap()
}

/// A spec holding the imported flow and a stub of every resource it names.
fn instance_for(name: &str, kind: FlowType, doc: &sb_flow::FlowDocument) -> SourceBundle {
    let mut wanted: BTreeMap<ReferenceKind, BTreeSet<String>> = BTreeMap::new();
    for r in sb_flow::references(doc) {
        wanted.entry(r.kind).or_default().insert(r.target);
    }
    let get = |k| wanted.get(&k).cloned().unwrap_or_default();
    let mut queues = get(ReferenceKind::Queue);
    queues.insert("Fixture Queue".into());
    let stub = |module: bool| {
        let end = if module {
            "EndFlowModuleExecution"
        } else {
            "DisconnectParticipant"
        };
        format!(
            r#"{{"Version":"2019-10-30","StartAction":"e","Actions":[{{"Identifier":"e","Type":"{end}","Parameters":{{}},"Transitions":{{}}}}]}}"#
        )
    };
    let mut bundle = SourceBundle::default();
    let mut flows = format!(
        "flows:\n  - {{ name: {}, type: {}, file: flows/main.json }}\n",
        quoted(name),
        serde_json::to_value(kind).unwrap().as_str().unwrap()
    );
    for (i, f) in get(ReferenceKind::Flow)
        .iter()
        .filter(|f| *f != name)
        .enumerate()
    {
        flows += &format!(
            "  - {{ name: {}, type: CONTACT_FLOW, file: flows/stub{i}.json }}\n",
            quoted(f)
        );
        bundle
            .insert(format!("flows/stub{i}.json"), stub(false).into_bytes())
            .unwrap();
    }
    for (i, m) in get(ReferenceKind::Module).iter().enumerate() {
        flows += &format!(
            "  - {{ name: {}, type: MODULE, file: flows/module{i}.json }}\n",
            quoted(m)
        );
        bundle
            .insert(format!("flows/module{i}.json"), stub(true).into_bytes())
            .unwrap();
    }
    let yaml = format!(
        "instance: {{ name: fixture }}\n\
         agent_statuses:\n  - {{ name: Available, type: ROUTABLE }}\n  - {{ name: Offline, type: OFFLINE }}\n\
         hours_of_operation:\n  - {{ name: Always, time_zone: UTC, weekly: [{{ day: MONDAY, start: \"00:00\", end: \"24:00\" }}] }}\n{}\
         queues:\n{}\
         prompts:\n  - {{ name: Fixture Prompt, text: hello }}\n{}\
         functions:\n  - {{ name: fixture-function, url: \"https://localhost/f\", timeout_seconds: 8, max_concurrency: 1 }}\n{}\
         routing_profiles:\n  - {{ name: Fixture Profile, concurrency: {{ voice: 1 }}, default_outbound_queue: Fixture Queue, queues: [{{ queue: Fixture Queue, channel: VOICE, priority: 1 }}] }}\n\
         users:\n  - {{ username: fixture-agent, role: Agent, routing_profile: Fixture Profile }}\n{}",
        yaml_list(&get(ReferenceKind::Hours), |n| format!("  - {{ name: {}, time_zone: UTC, weekly: [] }}\n", quoted(n))),
        yaml_list(&queues, |n| format!("  - {{ name: {}, hours: Always }}\n", quoted(n))),
        yaml_list(&get(ReferenceKind::Prompt), |n| format!("  - {{ name: {}, text: stub }}\n", quoted(n))),
        yaml_list(&get(ReferenceKind::Function), |n| format!("  - {{ name: {}, url: \"https://localhost/f\", timeout_seconds: 8, max_concurrency: 1 }}\n", quoted(n))),
        yaml_list(&get(ReferenceKind::User), |n| format!("  - {{ username: {}, role: Agent, routing_profile: Fixture Profile }}\n", quoted(n))),
    );
    bundle
        .insert("instance.yaml".into(), yaml.into_bytes())
        .unwrap();
    bundle
        .insert("flows.yaml".into(), flows.into_bytes())
        .unwrap();
    bundle
        .insert(
            "flows/main.json".into(),
            serde_json::to_vec_pretty(doc).unwrap(),
        )
        .unwrap();
    bundle
}

fn is_unsupported_problem(message: &str) -> bool {
    message.contains("is not supported by Switchboard")
        || message.contains("refers to a Lex bot result")
}

/// Operands of every menu condition in the flow: the inputs that take each branch.
fn menu_inputs(doc: &sb_flow::FlowDocument) -> BTreeSet<String> {
    doc.actions
        .iter()
        .filter(|a| a.kind == "GetParticipantInput")
        .flat_map(|a| a.transitions.conditions.iter())
        .filter_map(|c| c.condition.operands.first().cloned())
        .collect()
}

#[test]
fn every_connect_fixture_imports_validates_and_runs() {
    let files = fixtures();
    assert_eq!(files.len(), 40, "the fixture set has forty flows");
    let (mut valid, mut unsupported, mut simulated) = (0, 0, 0);
    let mut failures = Vec::new();
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let mut doc = sb_flow::parse(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        map_arns(&mut doc, &BTreeMap::new());
        let kind = flow_type(&file, &doc);
        let name = file.trim_end_matches(".json").to_string();
        let bundle = instance_for(&name, kind, &doc);
        let spec = match load(&bundle) {
            Ok((spec, _warnings)) => spec,
            Err(problems) => {
                let other: Vec<String> = problems
                    .errors()
                    .filter(|p| !is_unsupported_problem(&p.message))
                    .map(|p| p.to_string())
                    .collect();
                if other.is_empty() {
                    unsupported += 1;
                } else {
                    failures.push(format!("{file} ({kind:?}):\n  {}", other.join("\n  ")));
                }
                continue;
            }
        };
        valid += 1;
        let mut flows = FlowSet::compile(&spec);
        flows.insert(Flow::new(
            &name,
            kind,
            spec.flows[name.as_str()].document.clone(),
        ));
        let metrics = MetricValues::new();
        let defaults = BTreeMap::new();
        let figures = ScriptedFigures {
            values: &metrics,
            defaults: &defaults,
        };
        let env = SpecEnv {
            spec: &spec,
            flows: &flows,
            now: jiff::Timestamp::now(),
            figures: &figures,
            tracing: true,
        };
        let mut scripts = vec![Script::default()];
        for input in menu_inputs(&doc) {
            scripts.push(Script {
                inputs: std::iter::repeat_n(input, 20).collect(),
                ..Script::default()
            });
        }
        for script in scripts {
            for channel in [Channel::Voice, Channel::Chat] {
                let run = simulate(&env, &name, channel, BTreeMap::new(), script.clone());
                assert!(!run.trace.is_empty(), "{file}: nothing executed");
                simulated += 1;
            }
        }
    }
    eprintln!("{valid} valid, {unsupported} refused for unsupported action types, {simulated} simulations");
    assert!(
        failures.is_empty(),
        "fixtures failing for other reasons:\n{}",
        failures.join("\n")
    );
    assert!(
        valid >= 20,
        "most fixtures use only supported types ({valid})"
    );
}
