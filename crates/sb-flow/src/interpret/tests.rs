use std::collections::HashMap;

use sb_model::config::FlowType;
use sb_model::Channel;
use serde_json::json;

use super::*;

#[derive(Default)]
struct TestEnv {
    flows: HashMap<String, Flow>,
    open: bool,
    metrics: HashMap<String, f64>,
    now_ms: std::cell::Cell<i64>,
}

impl TestEnv {
    fn with(mut self, name: &str, kind: FlowType, json: &str) -> Self {
        let doc = crate::parse(json).unwrap_or_else(|e| panic!("{name}: {e}"));
        self.flows.insert(name.into(), Flow::new(name, kind, doc));
        self
    }
}

impl Env for TestEnv {
    fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.get(name)
    }
    fn hours_open(&self, hours: &str) -> Option<bool> {
        (hours == "Office").then_some(self.open)
    }
    fn queue_hours(&self, _queue: &str) -> Option<String> {
        Some("Office".into())
    }
    fn queue_exists(&self, queue: &str) -> bool {
        ["Sales", "Support"].contains(&queue)
    }
    fn agent_exists(&self, agent: &str) -> bool {
        agent == "alice"
    }
    fn prompt_exists(&self, prompt: &str) -> bool {
        prompt == "Greeting"
    }
    fn function_named(&self, reference: &str) -> Option<String> {
        (reference == "lookup").then(|| reference.to_string())
    }
    fn metric(&self, _queue: &str, metric: &str) -> Option<f64> {
        self.metrics.get(metric).copied()
    }
    fn tracing(&self) -> bool {
        true
    }
    fn now_ms(&self) -> i64 {
        self.now_ms.get()
    }
}

/// Build a flow from compact action tuples: (id, type, parameters, transitions).
fn flow(start: &str, actions: &[(&str, &str, serde_json::Value, serde_json::Value)]) -> String {
    let actions: Vec<_> = actions
        .iter()
        .map(|(id, kind, params, transitions)| {
            json!({"Identifier": id, "Type": kind, "Parameters": params, "Transitions": transitions})
        })
        .collect();
    json!({"Version": "2019-10-30", "StartAction": start, "Actions": actions}).to_string()
}

fn menu_flow() -> String {
    flow(
        "hello",
        &[
            (
                "hello",
                "MessageParticipant",
                json!({"PromptId": "Greeting"}),
                json!({"NextAction": "hours"}),
            ),
            (
                "hours",
                "CheckHoursOfOperation",
                json!({"HoursOfOperationId": "Office"}),
                json!({"Conditions": [
                    {"NextAction": "lookup", "Condition": {"Operator": "Equals", "Operands": ["True"]}},
                    {"NextAction": "bye", "Condition": {"Operator": "Equals", "Operands": ["False"]}}]}),
            ),
            (
                "lookup",
                "InvokeLambdaFunction",
                json!({"LambdaFunctionARN": "lookup", "InvocationTimeLimitSeconds": "3",
                       "LambdaInvocationAttributes": {"caller": "$.CustomerEndpoint.Address"}}),
                json!({"NextAction": "save", "Errors": [{"NextAction": "menu", "ErrorType": "NoMatchingError"}]}),
            ),
            (
                "save",
                "UpdateContactAttributes",
                json!({"Attributes": {"tier": "$.External.tier"}}),
                json!({"NextAction": "menu"}),
            ),
            (
                "menu",
                "GetParticipantInput",
                json!({"Text": "Hi $.Attributes.tier customer. Press 1 or 2.", "InputTimeLimitSeconds": "5"}),
                json!({"Conditions": [
                    {"NextAction": "sales", "Condition": {"Operator": "Equals", "Operands": ["1"]}},
                    {"NextAction": "support", "Condition": {"Operator": "Equals", "Operands": ["2"]}}],
                    "Errors": [
                    {"NextAction": "again", "ErrorType": "InputTimeLimitExceeded"},
                    {"NextAction": "again", "ErrorType": "NoMatchingCondition"}]}),
            ),
            (
                "again",
                "Loop",
                json!({"LoopCount": "1"}),
                json!({"Conditions": [
                    {"NextAction": "menu", "Condition": {"Operator": "Equals", "Operands": ["ContinueLooping"]}},
                    {"NextAction": "bye", "Condition": {"Operator": "Equals", "Operands": ["DoneLooping"]}}]}),
            ),
            (
                "sales",
                "UpdateContactTargetQueue",
                json!({"QueueId": "Sales"}),
                json!({"NextAction": "transfer"}),
            ),
            (
                "support",
                "UpdateContactTargetQueue",
                json!({"QueueId": "Support"}),
                json!({"NextAction": "transfer"}),
            ),
            (
                "transfer",
                "TransferContactToQueue",
                json!({}),
                json!({"Errors": [{"NextAction": "full", "ErrorType": "QueueAtCapacity"}]}),
            ),
            (
                "full",
                "MessageParticipant",
                json!({"Text": "We are busy."}),
                json!({"NextAction": "bye"}),
            ),
            ("bye", "DisconnectParticipant", json!({}), json!({})),
        ],
    )
}

fn env(open: bool) -> TestEnv {
    TestEnv {
        open,
        ..Default::default()
    }
    .with("Main", FlowType::ContactFlow, &menu_flow())
}

fn contact() -> ContactData {
    let mut c = ContactData::new("contact-1", Channel::Voice);
    c.customer_endpoint = Some("+15555550123".into());
    c
}

#[test]
fn menu_round_trip_to_a_queue() {
    let env = env(true);
    let mut run = FlowRun::start("Main");
    let mut c = contact();
    let step = resume(&env, &mut run, &mut c, Input::Begin);
    assert_eq!(
        step.effects,
        vec![Effect::Message(Message {
            text: None,
            ssml: None,
            prompt: Some("Greeting".into())
        })]
    );
    let Next::Function {
        function,
        event,
        timeout_seconds,
        ..
    } = step.next
    else {
        panic!("{:?}", step.next)
    };
    assert_eq!((function.as_str(), timeout_seconds), ("lookup", 3.0));
    assert_eq!(event["Details"]["Parameters"]["caller"], "+15555550123");
    assert_eq!(event["Details"]["ContactData"]["Channel"], "VOICE");

    let step = resume(
        &env,
        &mut run,
        &mut c,
        Input::FunctionResult {
            result: FunctionResult::Ok {
                response: json!({"tier": "gold"}),
            },
        },
    );
    assert_eq!(c.attributes["tier"], "gold");
    assert_eq!(
        step.effects,
        vec![Effect::Message(Message {
            text: Some("Hi gold customer. Press 1 or 2.".into()),
            ssml: None,
            prompt: None
        })]
    );
    assert!(matches!(
        step.next,
        Next::Input {
            timeout_seconds: 5,
            ..
        }
    ));

    let step = resume(&env, &mut run, &mut c, Input::Customer { text: "2".into() });
    assert_eq!(
        step.next,
        Next::Enqueue {
            queue: "Support".into(),
            from_queue_flow: false
        }
    );
    let step = resume(&env, &mut run, &mut c, Input::Enqueue { accepted: true });
    assert_eq!(
        step.next,
        Next::Done(Outcome::TransferredToQueue {
            queue: "Support".into()
        })
    );
    assert!(run.finished);
}

#[test]
fn trace_names_each_action_and_branch() {
    let env = env(false);
    let mut run = FlowRun::start("Main");
    let step = resume(&env, &mut run, &mut contact(), Input::Begin);
    let taken: Vec<(&str, &str)> = step
        .trace
        .iter()
        .map(|e| (e.identifier.as_str(), e.branch.as_str()))
        .collect();
    assert_eq!(
        taken,
        [
            ("hello", "next"),
            ("hours", "condition:False"),
            ("bye", "end")
        ]
    );
    assert_eq!(step.next, Next::Done(Outcome::Disconnected));
}

#[test]
fn a_waiting_action_logs_how_long_it_waited() {
    let env = env(true);
    env.now_ms.set(1_000);
    let mut run = FlowRun::start("Main");
    let mut c = contact();
    let step = resume(&env, &mut run, &mut c, Input::Begin);
    let lookup = step.trace.last().expect("trace");
    assert_eq!(
        (lookup.identifier.as_str(), lookup.branch.as_str()),
        ("lookup", "wait")
    );
    assert_eq!(lookup.duration_ms, 0);
    // The function answers 240 ms later: the lookup's entry carries the wait; the
    // actions after it decide at once.
    env.now_ms.set(1_240);
    let answer = FunctionResult::Ok {
        response: json!({"tier": "gold"}),
    };
    let step = resume(
        &env,
        &mut run,
        &mut c,
        Input::FunctionResult { result: answer },
    );
    let timed: Vec<(&str, u64)> = step
        .trace
        .iter()
        .map(|e| (e.identifier.as_str(), e.duration_ms))
        .collect();
    assert_eq!(timed, [("lookup", 240), ("save", 0), ("menu", 0)]);
    // The pending wait's start survives serialisation (a restart mid-wait).
    let restored: FlowRun = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
    assert_eq!(restored.waiting_since_ms, Some(1_240));
}

#[test]
fn timeouts_and_wrong_keys_retry_then_give_up() {
    let env = env(true);
    let mut run = FlowRun::start("Main");
    let mut c = contact();
    resume(&env, &mut run, &mut c, Input::Begin);
    resume(
        &env,
        &mut run,
        &mut c,
        Input::FunctionResult {
            result: FunctionResult::Failed {
                reason: "timeout".into(),
            },
        },
    );
    let step = resume(&env, &mut run, &mut c, Input::InputTimeout);
    assert!(
        matches!(step.next, Next::Input { .. }),
        "one retry: {:?}",
        step.next
    );
    let step = resume(&env, &mut run, &mut c, Input::Customer { text: "9".into() });
    assert_eq!(step.next, Next::Done(Outcome::Disconnected));
}

#[test]
fn a_string_map_function_answering_nested_json_takes_the_error_branch() {
    let env = env(true);
    let mut run = FlowRun::start("Main");
    let mut c = contact();
    resume(&env, &mut run, &mut c, Input::Begin);
    let step = resume(
        &env,
        &mut run,
        &mut c,
        Input::FunctionResult {
            result: FunctionResult::Ok {
                response: json!({"tier": {"nested": 1}}),
            },
        },
    );
    assert!(c.external.is_empty());
    assert!(matches!(step.next, Next::Input { .. }));
}

#[test]
fn a_full_queue_takes_the_capacity_branch() {
    let env = env(true);
    let mut run = FlowRun::start("Main");
    let mut c = contact();
    resume(&env, &mut run, &mut c, Input::Begin);
    resume(
        &env,
        &mut run,
        &mut c,
        Input::FunctionResult {
            result: FunctionResult::Failed { reason: "x".into() },
        },
    );
    resume(&env, &mut run, &mut c, Input::Customer { text: "1".into() });
    let step = resume(&env, &mut run, &mut c, Input::Enqueue { accepted: false });
    assert_eq!(step.effects.len(), 1);
    assert_eq!(step.next, Next::Done(Outcome::Disconnected));
}

#[test]
fn state_survives_serialisation_mid_flow() {
    let env = env(true);
    let mut run = FlowRun::start("Main");
    let mut c = contact();
    resume(&env, &mut run, &mut c, Input::Begin);
    resume(
        &env,
        &mut run,
        &mut c,
        Input::FunctionResult {
            result: FunctionResult::Ok {
                response: json!({"tier": "silver"}),
            },
        },
    );
    let saved = serde_json::to_string(&(&run, &c)).unwrap();
    let (mut run2, mut c2): (FlowRun, ContactData) = serde_json::from_str(&saved).unwrap();
    let a = resume(&env, &mut run, &mut c, Input::Customer { text: "1".into() });
    let b = resume(
        &env,
        &mut run2,
        &mut c2,
        Input::Customer { text: "1".into() },
    );
    assert_eq!(a, b);
    assert_eq!((run, c), (run2, c2));
}

#[test]
fn an_unexpected_input_leaves_the_wait_unchanged() {
    let env = env(true);
    let mut run = FlowRun::start("Main");
    let mut c = contact();
    let first = resume(&env, &mut run, &mut c, Input::Begin);
    let before = (run.clone(), c.clone());
    let again = resume(
        &env,
        &mut run,
        &mut c,
        Input::Customer {
            text: "hello".into(),
        },
    );
    assert_eq!(again.next, first.next);
    assert!(again.effects.is_empty());
    assert_eq!((run, c), before);
}

#[test]
fn a_runaway_loop_is_stopped_by_the_step_budget() {
    let looping = flow(
        "a",
        &[
            (
                "a",
                "UpdateFlowAttributes",
                json!({"FlowAttributes": {"x": {"Value": "1"}}}),
                json!({"NextAction": "b"}),
            ),
            (
                "b",
                "Compare",
                json!({"ComparisonValue": "$.FlowAttributes.x"}),
                json!({"Conditions": [{"NextAction": "a", "Condition": {"Operator": "Equals", "Operands": ["1"]}}]}),
            ),
        ],
    );
    let env = TestEnv::default().with("Spin", FlowType::ContactFlow, &looping);
    let mut run = FlowRun::start("Spin");
    let step = resume(&env, &mut run, &mut contact(), Input::Begin);
    let Next::Done(Outcome::Error { reason }) = step.next else {
        panic!("{:?}", step.next)
    };
    assert!(reason.contains("step budget exceeded"), "{reason}");
}

#[test]
fn modules_return_to_the_caller() {
    let main = flow(
        "call",
        &[
            (
                "call",
                "InvokeFlowModule",
                json!({"FlowModuleId": "Greet"}),
                json!({"NextAction": "end", "Errors": [{"NextAction": "end", "ErrorType": "NoMatchingError"}]}),
            ),
            ("end", "DisconnectParticipant", json!({}), json!({})),
        ],
    );
    let module = flow(
        "say",
        &[
            (
                "say",
                "MessageParticipant",
                json!({"Text": "from the module"}),
                json!({"NextAction": "done"}),
            ),
            ("done", "EndFlowModuleExecution", json!({}), json!({})),
        ],
    );
    let env = TestEnv::default()
        .with("Main", FlowType::ContactFlow, &main)
        .with("Greet", FlowType::Module, &module);
    let mut run = FlowRun::start("Main");
    let step = resume(&env, &mut run, &mut contact(), Input::Begin);
    let path: Vec<_> = step
        .trace
        .iter()
        .map(|e| format!("{}/{}", e.flow, e.identifier))
        .collect();
    assert_eq!(path, ["Main/call", "Greet/say", "Greet/done", "Main/end"]);
    assert_eq!(step.next, Next::Done(Outcome::Disconnected));
}

/// Newcomer review D10: a module run on its own ends normally at its
/// EndFlowModuleExecution.
#[test]
fn a_module_run_alone_ends_at_its_end() {
    let module = flow(
        "say",
        &[
            (
                "say",
                "MessageParticipant",
                json!({"Text": "Hello from the module"}),
                json!({"NextAction": "done", "Errors": []}),
            ),
            ("done", "EndFlowModuleExecution", json!({}), json!({})),
        ],
    );
    let env = TestEnv::default().with("M", FlowType::Module, &module);
    let mut run = FlowRun::start("M");
    let mut c = contact();
    let step = resume(&env, &mut run, &mut c, Input::Begin);
    assert_eq!(step.next, Next::Done(Outcome::Ended));
}

#[test]
fn dynamic_transfers_are_limited_in_depth() {
    let ping = flow(
        "go",
        &[
            (
                "go",
                "TransferToFlow",
                json!({"ContactFlowId": "$.Attributes.next"}),
                json!({"Errors": [{"NextAction": "stop", "ErrorType": "NoMatchingError"}]}),
            ),
            ("stop", "DisconnectParticipant", json!({}), json!({})),
        ],
    );
    let env = TestEnv::default().with("Ping", FlowType::ContactFlow, &ping);
    let mut c = contact();
    c.attributes.insert("next".into(), "Ping".into());
    let mut run = FlowRun::start("Ping");
    let step = resume(&env, &mut run, &mut c, Input::Begin);
    assert_eq!(step.next, Next::Done(Outcome::Disconnected));
    assert_eq!(run.depth, MAX_FLOW_DEPTH);
}

#[test]
fn attributes_over_32_kb_change_nothing() {
    let big = "x".repeat(20_000);
    let f = flow(
        "a",
        &[
            (
                "a",
                "UpdateContactAttributes",
                json!({"Attributes": {"one": big, "two": big}}),
                json!({"NextAction": "ok", "Errors": [{"NextAction": "bad", "ErrorType": "NoMatchingError"}]}),
            ),
            ("ok", "DisconnectParticipant", json!({}), json!({})),
            ("bad", "EndFlowExecution", json!({}), json!({})),
        ],
    );
    let env = TestEnv::default().with("A", FlowType::ContactFlow, &f);
    let mut c = contact();
    let step = resume(&env, &mut FlowRun::start("A"), &mut c, Input::Begin);
    assert_eq!(step.next, Next::Done(Outcome::Ended));
    assert!(c.attributes.is_empty());
}

#[test]
fn percentages_are_deterministic_and_roughly_right() {
    let f = flow(
        "split",
        &[
            (
                "split",
                "DistributeByPercentage",
                json!({}),
                json!({
            "Conditions": [{"NextAction": "a", "Condition": {"Operator": "NumberLessThan", "Operands": ["31"]}}],
            "Errors": [{"NextAction": "b", "ErrorType": "NoMatchingCondition"}]}),
            ),
            ("a", "EndFlowExecution", json!({}), json!({})),
            ("b", "DisconnectParticipant", json!({}), json!({})),
        ],
    );
    let env = TestEnv::default().with("S", FlowType::ContactFlow, &f);
    let outcome = |id: usize| {
        let mut c = ContactData::new(format!("contact-{id}"), Channel::Chat);
        resume(&env, &mut FlowRun::start("S"), &mut c, Input::Begin).next
    };
    let to_a = (0..2000)
        .filter(|&i| outcome(i) == Next::Done(Outcome::Ended))
        .count();
    assert!(
        (500..700).contains(&to_a),
        "30% of 2000 expected, got {to_a}"
    );
    assert_eq!(outcome(7), outcome(7));
}

#[test]
fn stored_input_respects_length_and_terminator() {
    let f = flow(
        "ask",
        &[
            (
                "ask",
                "GetParticipantInput",
                json!({"StoreInput": "True", "InputTimeLimitSeconds": "5",
            "DTMFConfiguration": {"InputTerminationSequence": "#"}, "InputValidation": {"CustomValidation": {"MaximumLength": "4"}},
            "InputEncryption": {"EncryptionKeyId": "k"}}),
                json!({"NextAction": "say"}),
            ),
            (
                "say",
                "MessageParticipant",
                json!({"Text": "You typed $.StoredCustomerInput"}),
                json!({"NextAction": "end"}),
            ),
            ("end", "DisconnectParticipant", json!({}), json!({})),
        ],
    );
    let env = TestEnv::default().with("F", FlowType::ContactFlow, &f);
    let mut run = FlowRun::start("F");
    let mut c = contact();
    let step = resume(&env, &mut run, &mut c, Input::Begin);
    assert!(
        matches!(
            step.next,
            Next::Input {
                max_digits: Some(4),
                encrypt: true,
                ..
            }
        ),
        "{:?}",
        step.next
    );
    let step = resume(
        &env,
        &mut run,
        &mut c,
        Input::Customer {
            text: "123456#".into(),
        },
    );
    assert_eq!(c.stored_input.as_deref(), Some("1234"));
    assert!(c.stored_input_encrypted);
    let say = step.trace.iter().find(|e| e.identifier == "say").unwrap();
    assert_eq!(
        say.parameters["Text"], "***",
        "encrypted input is never traced"
    );
}

#[test]
fn the_customers_number_is_never_traced() {
    let f = flow(
        "number",
        &[
            (
                "number",
                "UpdateContactCallbackNumber",
                json!({"CallbackNumber": "$.CustomerEndpoint.Address"}),
                json!({"NextAction": "say", "Errors": []}),
            ),
            (
                "say",
                "MessageParticipant",
                json!({"Text": "We will call $.CallbackNumber"}),
                json!({"NextAction": "end", "Errors": []}),
            ),
            ("end", "DisconnectParticipant", json!({}), json!({})),
        ],
    );
    let env = TestEnv::default().with("F", FlowType::ContactFlow, &f);
    let mut run = FlowRun::start("F");
    let mut c = contact();
    let step = resume(&env, &mut run, &mut c, Input::Begin);
    assert_eq!(c.callback_number.as_deref(), Some("+15555550123"));
    let traced = serde_json::to_string(&step.trace).unwrap();
    assert!(!traced.contains("5555550123"), "{traced}");
    assert!(traced.contains("***"), "{traced}");
}

/// Review H2b: a sensitive attribute set from a value that is not itself marked (a
/// function's result) is not shown in the flow log under its name.
#[test]
fn a_sensitive_attribute_set_by_a_flow_is_never_traced() {
    let f = flow(
        "save",
        &[
            (
                "save",
                "UpdateContactAttributes",
                json!({"Attributes": {"account_number": "$.Attributes.typed", "tier": "gold"}}),
                json!({"NextAction": "end", "Errors": []}),
            ),
            ("end", "DisconnectParticipant", json!({}), json!({})),
        ],
    );
    let env = TestEnv::default().with("F", FlowType::ContactFlow, &f);
    let mut run = FlowRun::start("F");
    let mut c = contact();
    c.sensitive_attributes = vec!["account_number".into()];
    c.attributes.insert("typed".into(), "ACCT-5150".into());
    let step = resume(&env, &mut run, &mut c, Input::Begin);
    assert_eq!(
        c.attributes["account_number"], "ACCT-5150",
        "set all the same"
    );
    let traced = serde_json::to_string(&step.trace).unwrap();
    assert!(!traced.contains("ACCT-5150"), "{traced}");
    assert!(traced.contains("\"account_number\":\"***\""), "{traced}");
    assert!(traced.contains("\"tier\":\"gold\""), "{traced}");
}

#[test]
fn metrics_drive_check_metric_data() {
    let f = flow(
        "check",
        &[
            (
                "q",
                "UpdateContactTargetQueue",
                json!({"QueueId": "Sales"}),
                json!({"NextAction": "check"}),
            ),
            (
                "check",
                "CheckMetricData",
                json!({"MetricType": "NumberOfAgentsAvailable", "QueueId": "Sales"}),
                json!({
            "Conditions": [{"NextAction": "yes", "Condition": {"Operator": "NumberGreaterThan", "Operands": ["0"]}}],
            "Errors": [{"NextAction": "no", "ErrorType": "NoMatchingCondition"}, {"NextAction": "no", "ErrorType": "NoMatchingError"}]}),
            ),
            ("yes", "EndFlowExecution", json!({}), json!({})),
            ("no", "DisconnectParticipant", json!({}), json!({})),
        ],
    );
    let mut env = TestEnv::default().with("M", FlowType::ContactFlow, &f);
    let run =
        |env: &TestEnv| resume(env, &mut FlowRun::start("M"), &mut contact(), Input::Begin).next;
    assert_eq!(
        run(&env),
        Next::Done(Outcome::Disconnected),
        "unknown metric takes the error branch"
    );
    env.metrics.insert("NumberOfAgentsAvailable".into(), 3.0);
    assert_eq!(run(&env), Next::Done(Outcome::Ended));
    env.metrics.insert("NumberOfAgentsAvailable".into(), 0.0);
    assert_eq!(run(&env), Next::Done(Outcome::Disconnected));
}

#[test]
fn a_flow_says_whether_it_reads_the_queue_standing() {
    let flow = |text: &str| {
        let json = format!(
            r#"{{"Version":"2019-10-30","StartAction":"m","Actions":[
            {{"Identifier":"m","Type":"MessageParticipant","Parameters":{{"Text":"{text}"}},"Transitions":{{"NextAction":"x"}}}},
            {{"Identifier":"x","Type":"DisconnectParticipant","Parameters":{{}},"Transitions":{{}}}}]}}"#
        );
        Flow::new("f", FlowType::CustomerQueue, crate::parse(&json).unwrap())
    };
    assert!(flow("You are number $.Queue.Position").reads_queue_standing());
    assert!(flow("About $.Queue.EstimatedWaitMinutes minutes").reads_queue_standing());
    assert!(!flow("Queue $.Queue.Name is busy").reads_queue_standing());
    assert!(!flow("Please hold").reads_queue_standing());
}
