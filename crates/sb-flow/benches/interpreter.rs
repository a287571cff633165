//! Interpreter speed: one action, and a menu round trip (input arrives → next wait
//! decided). Targets: ≤ 1 µs per action, ≤ 10 µs per menu round trip (median).
//!
//! Run: cargo bench -p sb-flow --bench interpreter

use std::collections::HashMap;

use divan::counter::ItemsCount;
use divan::{black_box, Bencher};
use sb_flow::interpret::{resume, ContactData, Env, Flow, FlowRun, Input};
use sb_model::config::FlowType;
use sb_model::Channel;
use serde_json::json;

fn main() {
    divan::main();
}

struct BenchEnv {
    flows: HashMap<String, Flow>,
}

impl Env for BenchEnv {
    fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.get(name)
    }
    fn hours_open(&self, _: &str) -> Option<bool> {
        Some(true)
    }
    fn queue_hours(&self, _: &str) -> Option<String> {
        Some("Store Hours".into())
    }
    fn queue_exists(&self, q: &str) -> bool {
        matches!(q, "Orders" | "Returns" | "Billing" | "Escalations")
    }
    fn agent_exists(&self, _: &str) -> bool {
        true
    }
    fn prompt_exists(&self, _: &str) -> bool {
        true
    }
    fn function_named(&self, reference: &str) -> Option<String> {
        Some(reference.to_string())
    }
    fn metric(&self, _: &str, _: &str) -> Option<f64> {
        Some(1.0)
    }
}

const ACTIONS_PER_RUN: usize = 240;

/// A flow of 240 ordinary actions (set attributes, compare, message) in a row.
fn long_flow() -> Flow {
    let mut actions = Vec::new();
    for i in 0..ACTIONS_PER_RUN {
        let id = format!("a{i}");
        let next = format!("a{}", i + 1);
        let action = match i % 3 {
            0 => json!({"Identifier": id, "Type": "UpdateContactAttributes",
                "Parameters": {"Attributes": {"step": "$.Channel"}}, "Transitions": {"NextAction": next}}),
            1 => {
                json!({"Identifier": id, "Type": "Compare", "Parameters": {"ComparisonValue": "$.Attributes.step"},
                "Transitions": {"Conditions": [{"NextAction": next, "Condition": {"Operator": "Equals", "Operands": ["CHAT"]}}],
                    "Errors": [{"NextAction": next, "ErrorType": "NoMatchingCondition"}]}})
            }
            _ => {
                json!({"Identifier": id, "Type": "MessageParticipant", "Parameters": {"Text": "Step $.Attributes.step"},
                "Transitions": {"NextAction": next}})
            }
        };
        actions.push(action);
    }
    actions.push(json!({"Identifier": format!("a{ACTIONS_PER_RUN}"), "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}}));
    let doc = json!({"Version": "2019-10-30", "StartAction": "a0", "Actions": actions});
    Flow::new(
        "Long",
        FlowType::ContactFlow,
        serde_json::from_value(doc).unwrap(),
    )
}

fn acme_main() -> Flow {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/acme/flows/main-ivr.json"
    );
    let doc = sb_flow::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    Flow::new("Main IVR", FlowType::ContactFlow, doc)
}

fn env_with(flow: Flow) -> BenchEnv {
    BenchEnv {
        flows: HashMap::from([(flow.name.clone(), flow)]),
    }
}

#[divan::bench]
fn per_action(bencher: Bencher) {
    let env = env_with(long_flow());
    let contact = ContactData::new("c-1", Channel::Chat);
    bencher
        .counter(ItemsCount::new(ACTIONS_PER_RUN + 1))
        .with_inputs(|| (FlowRun::start("Long"), contact.clone()))
        .bench_local_refs(|(run, contact)| black_box(resume(&env, run, contact, Input::Begin)));
}

/// The sample IVR waiting at its main menu; the customer presses 3.
#[divan::bench]
fn menu_round_trip(bencher: Bencher) {
    let env = env_with(acme_main());
    let mut run = FlowRun::start("Main IVR");
    let mut contact = ContactData::new("c-1", Channel::Voice);
    resume(&env, &mut run, &mut contact, Input::Begin);
    let response = json!({"tier": "gold", "account_number": "1234"});
    resume(
        &env,
        &mut run,
        &mut contact,
        Input::FunctionResult {
            result: sb_flow::interpret::FunctionResult::Ok { response },
        },
    );
    assert!(run.waiting.is_some(), "waiting at the menu");
    bencher
        .with_inputs(|| (run.clone(), contact.clone()))
        .bench_local_refs(|(run, contact)| {
            black_box(resume(
                &env,
                run,
                contact,
                Input::Customer { text: "3".into() },
            ))
        });
}
