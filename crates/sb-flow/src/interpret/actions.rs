//! Executing actions: one method per action type, plus the transitions they take.

use std::collections::BTreeMap;

use sb_model::config::FlowType;
use sb_model::Channel;
use serde_json::{json, Map, Value};

use super::conditions::holds;
use super::state::{ContactData, FlowRun, ModuleReturn, Waiting};
use super::values::resolve;
use super::{
    Effect, Env, Executed, Flow, FunctionResult, Input, Message, Next, Outcome, ResponseType, Step,
    ThirdPartyResult, MAX_ATTRIBUTE_BYTES, MAX_FLOW_DEPTH, STEP_BUDGET,
};
use crate::document::Action;

/// What an action decided.
enum Control {
    Goto(String),
    Wait(Waiting, Next),
    Finish(Outcome),
}

pub(super) struct Machine<'a> {
    env: &'a dyn Env,
    run: &'a mut FlowRun,
    contact: &'a mut ContactData,
    effects: Vec<Effect>,
    trace: Vec<Executed>,
    tracing: bool,
    /// The branch the current action took, for the trace.
    branch: String,
}

fn param<'p>(action: &'p Action, name: &str) -> Option<&'p str> {
    action.parameters.get(name).and_then(Value::as_str)
}

fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn is_e164(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// FNV-1a: a stable, seedless hash, so percentage draws replay exactly.
fn stable_hash(parts: &[&str]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

impl<'a> Machine<'a> {
    pub(super) fn new(
        env: &'a dyn Env,
        run: &'a mut FlowRun,
        contact: &'a mut ContactData,
    ) -> Self {
        let tracing = env.tracing() || run.logging;
        Machine {
            env,
            run,
            contact,
            effects: Vec::new(),
            trace: Vec::new(),
            tracing,
            branch: String::new(),
        }
    }

    fn flow(&self) -> Option<&'a Flow> {
        self.env.flow(&self.run.flow)
    }

    fn step(self, next: Next) -> Step {
        Step {
            effects: self.effects,
            trace: self.trace,
            next,
        }
    }

    pub(super) fn resume(mut self, input: Input) -> Step {
        if self.run.finished {
            return self.step(Next::Done(Outcome::Error {
                reason: "the flow has already finished".into(),
            }));
        }
        let control = match (self.run.waiting, input) {
            (None, Input::Begin) if self.run.action.is_empty() => match self.flow() {
                Some(flow) => Control::Goto(flow.document.start_action.clone()),
                None => Control::Finish(Outcome::Error {
                    reason: format!("flow '{}' does not exist", self.run.flow),
                }),
            },
            (None, Input::Begin) => Control::Goto(self.run.action.clone()),
            (Some(waiting), input) => match self.deliver(waiting, input) {
                Some(control) => control,
                // An input the flow is not waiting for (a chat message during a
                // function call): ignored, and the same wait stands.
                None => return self.repeat_wait(waiting),
            },
            (None, _) => {
                return self.step(Next::Done(Outcome::Error {
                    reason: "input arrived before the flow began".into(),
                }))
            }
        };
        self.run_from(control)
    }

    /// The wait the flow is in, rebuilt from the action it waits at.
    fn repeat_wait(mut self, waiting: Waiting) -> Step {
        let action = self.flow().and_then(|f| f.action(&self.run.action));
        let control = match action {
            Some(action) => self.execute(action),
            None => Control::Finish(Outcome::Error {
                reason: format!("action '{}' vanished", self.run.action),
            }),
        };
        self.effects.clear();
        match control {
            Control::Wait(w, next) if w == waiting => self.step(next),
            other => self.run_from(other),
        }
    }

    fn run_from(mut self, mut control: Control) -> Step {
        let mut budget = STEP_BUDGET;
        loop {
            match control {
                Control::Finish(outcome) => {
                    self.run.finished = true;
                    self.run.waiting = None;
                    self.run.waiting_since_ms = None;
                    return self.step(Next::Done(outcome));
                }
                Control::Wait(waiting, next) => {
                    self.run.waiting = Some(waiting);
                    self.run.waiting_since_ms = Some(self.env.now_ms());
                    return self.step(next);
                }
                Control::Goto(identifier) => {
                    if budget == 0 {
                        control = Control::Finish(Outcome::Error {
                            reason: format!(
                                "step budget exceeded: {STEP_BUDGET} actions ran without waiting for anything; stopped before '{identifier}' in flow '{}'",
                                self.run.flow
                            ),
                        });
                        continue;
                    }
                    budget -= 1;
                    let Some(flow) = self.flow() else {
                        control = Control::Finish(Outcome::Error {
                            reason: format!("flow '{}' does not exist", self.run.flow),
                        });
                        continue;
                    };
                    let Some(action) = flow.action(&identifier) else {
                        control = Control::Finish(Outcome::Error {
                            reason: format!("flow '{}' has no action '{identifier}'", flow.name),
                        });
                        continue;
                    };
                    self.run.action = identifier;
                    self.run.waiting = None;
                    self.run.executed += 1;
                    self.branch.clear();
                    control = self.execute(action);
                    if self.tracing {
                        self.record(flow, action, &control);
                    }
                }
            }
        }
    }

    fn record(&mut self, flow: &Flow, action: &Action, control: &Control) {
        let branch = match control {
            Control::Wait(..) => "wait".to_string(),
            Control::Finish(_) if self.branch.is_empty() => "end".to_string(),
            _ => std::mem::take(&mut self.branch),
        };
        let parameters = self.redacted(&Value::Object(action.parameters.clone()));
        self.trace.push(Executed {
            flow: flow.name.clone(),
            identifier: action.identifier.clone(),
            kind: action.kind.clone(),
            branch,
            parameters,
            duration_ms: 0,
            effects_so_far: self.effects.len(),
        });
    }

    /// Parameters with dynamic values resolved, except sensitive ones, which show as `***`:
    /// sensitive attributes (read, or set under their name), encrypted input, and the
    /// customer's number or address (sealed everywhere else it is kept).
    fn redacted(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => {
                let sensitive = self
                    .contact
                    .sensitive_attributes
                    .iter()
                    .any(|k| s.contains(&format!("$.Attributes.{k}")))
                    || (self.contact.stored_input_encrypted && s.contains("$.StoredCustomerInput"))
                    || s.contains("$.CustomerEndpoint")
                    || s.contains("$.CallbackNumber");
                if sensitive {
                    Value::String("***".into())
                } else {
                    Value::String(resolve(self.contact, s))
                }
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        // `{"account_number": "$.External.account_number"}` sets a
                        // sensitive attribute from a value that is not itself marked.
                        let sets_sensitive = self.contact.sensitive_attributes.contains(k)
                            && !v.is_object()
                            && !v.is_array();
                        let shown = if sets_sensitive {
                            Value::String("***".into())
                        } else {
                            self.redacted(v)
                        };
                        (k.clone(), shown)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.redacted(v)).collect()),
            other => other.clone(),
        }
    }

    // ---- transitions -------------------------------------------------------------

    fn next(&mut self, action: &Action) -> Control {
        self.branch = "next".into();
        match &action.transitions.next_action {
            Some(next) => Control::Goto(next.clone()),
            None => Control::Finish(Outcome::Error {
                reason: format!(
                    "action '{}' ({}) has no next action",
                    action.identifier, action.kind
                ),
            }),
        }
    }

    /// Take the error branch for `error_type`, falling back to `NoMatchingError`.
    fn error(&mut self, action: &Action, error_type: &str) -> Control {
        let errors = &action.transitions.errors;
        let chosen = errors
            .iter()
            .find(|e| e.error_type == error_type)
            .or_else(|| errors.iter().find(|e| e.error_type == "NoMatchingError"));
        match chosen {
            Some(e) => {
                self.branch = format!("error:{}", e.error_type);
                Control::Goto(e.next_action.clone())
            }
            None => Control::Finish(Outcome::Error {
                reason: format!(
                    "action '{}' ({}) failed with {error_type} and has no error branch for it",
                    action.identifier, action.kind
                ),
            }),
        }
    }

    /// The first condition `value` satisfies, else `NoMatchingCondition`.
    fn branch_on(&mut self, action: &Action, value: &str) -> Control {
        for c in &action.transitions.conditions {
            let Some(operand) = c.condition.operands.first() else {
                continue;
            };
            let operand = resolve(self.contact, operand);
            if holds(&c.condition.operator, value, &operand) {
                self.branch = format!("condition:{operand}");
                return Control::Goto(c.next_action.clone());
            }
        }
        self.error(action, "NoMatchingCondition")
    }

    /// The condition whose operand is exactly `name` (Loop, Wait, iterative messages).
    fn named_condition(&mut self, action: &Action, name: &str) -> Option<Control> {
        let c = action
            .transitions
            .conditions
            .iter()
            .find(|c| c.condition.operands.first().is_some_and(|o| o == name))?;
        self.branch = format!("condition:{name}");
        Some(Control::Goto(c.next_action.clone()))
    }

    // ---- inputs ------------------------------------------------------------------

    fn deliver(&mut self, waiting: Waiting, input: Input) -> Option<Control> {
        let flow = self.flow()?;
        let action = flow.action(&self.run.action)?;
        self.branch.clear();
        let control = match (waiting, input) {
            (Waiting::Input, Input::Customer { text }) => self.customer_input(action, text),
            (Waiting::Input, Input::InputTimeout) => self.error(action, "InputTimeLimitExceeded"),
            (Waiting::Function, Input::FunctionResult { result }) => {
                self.function_result(action, result)
            }
            (Waiting::Timer, Input::TimerElapsed) => self
                .named_condition(action, "WaitCompleted")
                .or_else(|| {
                    action
                        .transitions
                        .errors
                        .iter()
                        .any(|e| e.error_type == "TimeLimitExceeded")
                        .then(|| self.error(action, "TimeLimitExceeded"))
                })
                .unwrap_or_else(|| self.next(action)),
            (Waiting::Timer, Input::Customer { .. }) => {
                self.named_condition(action, "CustomerReturned")?
            }
            (Waiting::MessageLoop, Input::TimerElapsed) => self
                .named_condition(action, "MessagesInterrupted")
                .unwrap_or_else(|| self.next(action)),
            (Waiting::Enqueue, Input::Enqueue { accepted: true }) => {
                let outcome = match (&self.contact.target_agent, &self.contact.target_queue) {
                    (Some(agent), _) => Outcome::TransferredToAgent {
                        agent: agent.clone(),
                    },
                    (None, Some(queue)) => Outcome::TransferredToQueue {
                        queue: queue.clone(),
                    },
                    (None, None) => Outcome::Error {
                        reason: "no target queue".into(),
                    },
                };
                self.branch = "next".into();
                Control::Finish(outcome)
            }
            (Waiting::Enqueue, Input::Enqueue { accepted: false }) => {
                self.error(action, "QueueAtCapacity")
            }
            (Waiting::ThirdParty, Input::ThirdParty { result }) => match result {
                ThirdPartyResult::Connected => self.next(action),
                ThirdPartyResult::TimedOut => self.error(action, "ConnectionTimeLimitExceeded"),
                ThirdPartyResult::Failed => self.error(action, "CallFailed"),
            },
            _ => return None,
        };
        self.run.waiting = None;
        let waited_since = self.run.waiting_since_ms.take();
        if self.tracing {
            let duration_ms = waited_since.map_or(0, |since| {
                self.env.now_ms().saturating_sub(since).max(0) as u64
            });
            let label = if self.branch.is_empty() {
                "end".into()
            } else {
                self.branch.clone()
            };
            self.trace.push(Executed {
                flow: flow.name.clone(),
                identifier: action.identifier.clone(),
                kind: action.kind.clone(),
                branch: label,
                parameters: Value::Null,
                duration_ms,
                effects_so_far: self.effects.len(),
            });
        }
        Some(control)
    }

    fn customer_input(&mut self, action: &Action, text: String) -> Control {
        if is_true(param(action, "StoreInput")) {
            let mut input = text;
            if let Some(terminator) = dtmf_setting(action, "InputTerminationSequence") {
                if let Some(cut) = input.find(&terminator) {
                    input.truncate(cut);
                }
            }
            if let Some(max) = max_length(action) {
                input = input.chars().take(max).collect();
            }
            self.contact.stored_input_encrypted = action.parameters.contains_key("InputEncryption");
            self.contact.stored_input = Some(input);
            return self.next(action);
        }
        let text = text.trim().to_string();
        self.branch_on(action, &text)
    }

    fn function_result(&mut self, action: &Action, result: FunctionResult) -> Control {
        let response = match result {
            FunctionResult::Ok { response } => response,
            FunctionResult::Failed { .. } => return self.error(action, "NoMatchingError"),
        };
        let Value::Object(map) = response else {
            return self.error(action, "NoMatchingError");
        };
        if response_type(action) == ResponseType::StringMap && !map.values().all(Value::is_string) {
            return self.error(action, "NoMatchingError");
        }
        self.contact.external = map;
        self.next(action)
    }

    // ---- actions -----------------------------------------------------------------

    fn execute(&mut self, action: &Action) -> Control {
        match action.kind.as_str() {
            "MessageParticipant" => self.message(action),
            "MessageParticipantIteratively" => self.message_loop(action),
            "GetParticipantInput" => self.get_input(action),
            "Compare" => {
                let value = resolve(
                    self.contact,
                    param(action, "ComparisonValue").unwrap_or_default(),
                );
                self.branch_on(action, &value)
            }
            "UpdateContactAttributes" => self.update_attributes(action),
            "UpdateFlowAttributes" => self.update_flow_attributes(action),
            "UpdateContactData" => self.update_contact_data(action),
            "UpdateContactTargetQueue" => self.set_target(action),
            "TransferContactToQueue" => self.transfer_to_queue(action),
            "DequeueContactAndTransferToQueue" => self.dequeue_and_transfer(action),
            "TransferToFlow" => self.transfer_to_flow(action),
            "InvokeFlowModule" => self.invoke_module(action),
            "EndFlowModuleExecution" => self.end_module(action),
            "CheckHoursOfOperation" => self.check_hours(action),
            "CheckMetricData" => self.check_metric(action),
            "GetMetricData" => self.get_metrics(action),
            "DistributeByPercentage" => self.distribute(action),
            "Loop" => self.looping(action),
            "Wait" => self.wait(action),
            "InvokeLambdaFunction" => self.invoke_function(action),
            "UpdateContactRecordingBehavior" => {
                self.effects.push(Effect::SetRecording {
                    behavior: Value::Object(action.parameters.clone()),
                });
                self.next(action)
            }
            "UpdateFlowLoggingBehavior" => {
                let enabled = param(action, "FlowLoggingBehavior")
                    .is_some_and(|v| v.eq_ignore_ascii_case("Enabled"));
                self.run.logging = enabled;
                self.tracing = self.tracing || enabled;
                self.effects.push(Effect::SetLogging { enabled });
                self.next(action)
            }
            "UpdateContactRoutingBehavior" => self.routing_behavior(action),
            "UpdateContactRoutingCriteria" | "UpdateRoutingCriteria" => {
                let criteria = action
                    .parameters
                    .get("RoutingCriteria")
                    .map(|c| self.resolved(c));
                self.contact.routing_criteria = criteria;
                self.next(action)
            }
            "UpdateContactEventHooks" => self.event_hooks(action),
            "UpdateContactTextToSpeechVoice" => {
                if let Some(voice) = param(action, "TextToSpeechVoice") {
                    self.contact.voice = Some(resolve(self.contact, voice));
                }
                self.next(action)
            }
            "UpdateContactCallbackNumber" => {
                let number = resolve(
                    self.contact,
                    param(action, "CallbackNumber").unwrap_or_default(),
                );
                if is_e164(&number) {
                    self.contact.callback_number = Some(number);
                    self.next(action)
                } else {
                    self.error(action, "InvalidCallbackNumber")
                }
            }
            "CreateCallbackContact" => self.create_callback(action),
            "CreateTask" => self.create_task(action),
            "TagContact" => {
                if let Some(Value::Object(tags)) = action.parameters.get("Tags") {
                    for (k, v) in tags {
                        if let Some(v) = v.as_str() {
                            self.contact
                                .tags
                                .insert(k.clone(), resolve(self.contact, v));
                        }
                    }
                }
                self.next(action)
            }
            "TransferContactToAgent" => match self.contact.target_agent.clone() {
                Some(agent) => {
                    self.branch = "next".into();
                    Control::Finish(Outcome::TransferredToAgent { agent })
                }
                None => self.error(action, "NoMatchingError"),
            },
            "TransferParticipantToThirdParty" => self.third_party(action),
            "DisconnectParticipant" => Control::Finish(Outcome::Disconnected),
            "EndFlowExecution" => Control::Finish(Outcome::Ended),
            other => Control::Finish(Outcome::Error {
                reason: format!("action type {other} is not supported"),
            }),
        }
    }

    fn resolved(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(resolve(self.contact, s)),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.resolved(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.resolved(v)).collect()),
            other => other.clone(),
        }
    }

    fn message_from(&self, params: &Map<String, Value>) -> Option<Message> {
        let get = |k: &str| {
            params
                .get(k)
                .and_then(Value::as_str)
                .map(|v| resolve(self.contact, v))
        };
        let message = Message {
            text: get("Text"),
            ssml: get("SSML"),
            prompt: get("PromptId"),
        };
        (message.text.is_some() || message.ssml.is_some() || message.prompt.is_some())
            .then_some(message)
    }

    fn prompt_ok(&self, message: &Message) -> bool {
        message
            .prompt
            .as_deref()
            .is_none_or(|p| self.env.prompt_exists(p))
    }

    fn message(&mut self, action: &Action) -> Control {
        match self.message_from(&action.parameters) {
            Some(m) if self.prompt_ok(&m) => {
                self.effects.push(Effect::Message(m));
                self.next(action)
            }
            _ => self.error(action, "NoMatchingError"),
        }
    }

    fn message_loop(&mut self, action: &Action) -> Control {
        let Some(Value::Array(items)) = action.parameters.get("Messages") else {
            return self.error(action, "NoMatchingError");
        };
        let mut messages = Vec::new();
        for item in items {
            match item.as_object().and_then(|m| self.message_from(m)) {
                Some(m) if self.prompt_ok(&m) => messages.push(m),
                _ => return self.error(action, "NoMatchingError"),
            }
        }
        let interrupt_seconds = param(action, "InterruptFrequencySeconds")
            .and_then(|s| resolve(self.contact, s).parse().ok());
        Control::Wait(
            Waiting::MessageLoop,
            Next::MessageLoop {
                messages,
                interrupt_seconds,
            },
        )
    }

    fn get_input(&mut self, action: &Action) -> Control {
        if let Some(message) = self.message_from(&action.parameters) {
            if !self.prompt_ok(&message) {
                return self.error(action, "NoMatchingError");
            }
            self.effects.push(Effect::Message(message));
        }
        let timeout = param(action, "InputTimeLimitSeconds")
            .map(|v| resolve(self.contact, v))
            .map_or(Some(5), |v| v.trim().parse::<u32>().ok());
        let Some(timeout_seconds) = timeout else {
            return self.error(action, "NoMatchingError");
        };
        let store = is_true(param(action, "StoreInput"));
        Control::Wait(
            Waiting::Input,
            Next::Input {
                timeout_seconds,
                max_digits: if store {
                    max_length(action).map(|m| m as u32)
                } else {
                    None
                },
                terminator: dtmf_setting(action, "InputTerminationSequence"),
                encrypt: action.parameters.contains_key("InputEncryption"),
            },
        )
    }

    fn update_attributes(&mut self, action: &Action) -> Control {
        let Some(Value::Object(attributes)) = action.parameters.get("Attributes") else {
            return self.error(action, "NoMatchingError");
        };
        let mut updated = self.contact.attributes.clone();
        for (key, value) in attributes {
            let value = match value {
                Value::String(s) => resolve(self.contact, s),
                other => other.to_string(),
            };
            updated.insert(key.clone(), value);
        }
        let bytes: usize = updated.iter().map(|(k, v)| k.len() + v.len()).sum();
        if bytes > MAX_ATTRIBUTE_BYTES {
            // All or nothing: attributes stay as they were.
            return self.error(action, "NoMatchingError");
        }
        self.contact.attributes = updated;
        self.next(action)
    }

    fn update_flow_attributes(&mut self, action: &Action) -> Control {
        let Some(Value::Object(attributes)) = action.parameters.get("FlowAttributes") else {
            return self.error(action, "NoMatchingError");
        };
        for (key, value) in attributes {
            let raw = match value {
                Value::String(s) => s.as_str(),
                Value::Object(o) => o.get("Value").and_then(Value::as_str).unwrap_or_default(),
                _ => "",
            };
            let resolved = resolve(self.contact, raw);
            self.contact.flow_attributes.insert(key.clone(), resolved);
        }
        self.next(action)
    }

    fn update_contact_data(&mut self, action: &Action) -> Control {
        let get = |contact: &ContactData, k: &str| param(action, k).map(|v| resolve(contact, v));
        let (language, name, description) = (
            get(self.contact, "LanguageCode"),
            get(self.contact, "Name"),
            get(self.contact, "Description"),
        );
        if language.is_some() {
            self.contact.language_code = language;
        }
        if name.is_some() {
            self.contact.name = name;
        }
        if description.is_some() {
            self.contact.description = description;
        }
        self.next(action)
    }

    fn set_target(&mut self, action: &Action) -> Control {
        if let Some(agent) = param(action, "AgentId") {
            let agent = resolve(self.contact, agent);
            if !self.env.agent_exists(&agent) {
                return self.error(action, "NoMatchingError");
            }
            self.contact.target_agent = Some(agent);
            return self.next(action);
        }
        let queue = resolve(self.contact, param(action, "QueueId").unwrap_or_default());
        if !self.env.queue_exists(&queue) {
            return self.error(action, "NoMatchingError");
        }
        self.contact.target_queue = Some(queue);
        self.contact.target_agent = None;
        self.next(action)
    }

    fn transfer_to_queue(&mut self, action: &Action) -> Control {
        let queue = match (&self.contact.target_agent, &self.contact.target_queue) {
            (Some(agent), _) => format!("agent:{agent}"),
            (None, Some(queue)) => queue.clone(),
            (None, None) => return self.error(action, "NoMatchingError"),
        };
        Control::Wait(
            Waiting::Enqueue,
            Next::Enqueue {
                queue,
                from_queue_flow: false,
            },
        )
    }

    fn dequeue_and_transfer(&mut self, action: &Action) -> Control {
        let queue = resolve(self.contact, param(action, "QueueId").unwrap_or_default());
        if !self.env.queue_exists(&queue) {
            return self.error(action, "NoMatchingError");
        }
        self.contact.target_queue = Some(queue.clone());
        self.contact.target_agent = None;
        Control::Wait(
            Waiting::Enqueue,
            Next::Enqueue {
                queue,
                from_queue_flow: true,
            },
        )
    }

    /// Switch to flow `name`, returning its start action, if it exists, is (or is not)
    /// a module as wanted, and the depth limit allows.
    fn enter_flow(&mut self, name: &str, want_module: bool) -> Option<String> {
        let target = self.env.flow(name)?;
        if (target.kind == FlowType::Module) != want_module || self.run.depth >= MAX_FLOW_DEPTH {
            return None;
        }
        self.run.depth += 1;
        self.run.flow = target.name.clone();
        self.branch = format!("flow:{}", target.name);
        Some(target.document.start_action.clone())
    }

    fn transfer_to_flow(&mut self, action: &Action) -> Control {
        let name = resolve(
            self.contact,
            param(action, "ContactFlowId").unwrap_or_default(),
        );
        match self.enter_flow(&name, false) {
            Some(start) => Control::Goto(start),
            None => self.error(action, "NoMatchingError"),
        }
    }

    fn invoke_module(&mut self, action: &Action) -> Control {
        let name = resolve(
            self.contact,
            param(action, "FlowModuleId").unwrap_or_default(),
        );
        let caller = ModuleReturn {
            flow: self.run.flow.clone(),
            action: action.identifier.clone(),
        };
        match self.enter_flow(&name, true) {
            Some(start) => {
                self.run.modules.push(caller);
                Control::Goto(start)
            }
            None => self.error(action, "NoMatchingError"),
        }
    }

    fn end_module(&mut self, _action: &Action) -> Control {
        // A module run on its own (the simulator's `--type MODULE`) has no caller to
        // return to: its end is the run's end, not an error.
        let Some(caller) = self.run.modules.pop() else {
            return Control::Finish(Outcome::Ended);
        };
        self.run.flow = caller.flow;
        let invoke = self.flow().and_then(|f| f.action(&caller.action));
        match invoke {
            Some(invoke) => self.next(invoke),
            None => Control::Finish(Outcome::Error {
                reason: format!("module return point '{}' vanished", caller.action),
            }),
        }
    }

    fn check_hours(&mut self, action: &Action) -> Control {
        let hours = match param(action, "HoursOfOperationId") {
            Some(h) => Some(resolve(self.contact, h)),
            None => self
                .contact
                .target_queue
                .as_deref()
                .and_then(|q| self.env.queue_hours(q)),
        };
        match hours.and_then(|h| self.env.hours_open(&h)) {
            Some(open) => self.branch_on(action, if open { "True" } else { "False" }),
            None => self.error(action, "NoMatchingError"),
        }
    }

    fn metric_queue(&self, action: &Action) -> Option<String> {
        match param(action, "QueueId") {
            Some(q) => Some(resolve(self.contact, q)),
            None => self.contact.target_queue.clone(),
        }
    }

    fn check_metric(&mut self, action: &Action) -> Control {
        let metric = param(action, "MetricType").unwrap_or_default();
        let value = self
            .metric_queue(action)
            .and_then(|q| self.env.metric(&q, metric));
        match value {
            Some(v) => self.branch_on(action, &v.to_string()),
            None => self.error(action, "NoMatchingError"),
        }
    }

    fn get_metrics(&mut self, action: &Action) -> Control {
        let Some(queue) = self.metric_queue(action) else {
            return self.error(action, "NoMatchingError");
        };
        if !self.env.queue_exists(&queue) {
            return self.error(action, "NoMatchingError");
        }
        const PATHS: &[(&str, &str)] = &[
            ("Agents.Online.Count", "NumberOfAgentsOnline"),
            ("Agents.Available.Count", "NumberOfAgentsAvailable"),
            ("Agents.Staffed.Count", "NumberOfAgentsStaffed"),
            ("Agents.OnContact.Count", "NumberOfAgentsOnContact"),
            (
                "Agents.AfterContactWork.Count",
                "NumberOfAgentsAfterContactWork",
            ),
            ("Agents.NonProductive.Count", "NumberOfAgentsNonProductive"),
            ("Queue.Size", "NumberOfContactsInQueue"),
            ("Queue.OldestContactAge", "OldestContactInQueueAgeSeconds"),
        ];
        self.contact
            .metrics
            .insert("Queue.Name".into(), queue.clone());
        for (path, metric) in PATHS {
            if let Some(v) = self.env.metric(&queue, metric) {
                self.contact.metrics.insert((*path).into(), v.to_string());
            }
        }
        self.next(action)
    }

    fn distribute(&mut self, action: &Action) -> Control {
        let count = self.run.executed.to_string();
        let draw = stable_hash(&[&self.contact.contact_id, &action.identifier, &count]) % 100 + 1;
        self.branch_on(action, &draw.to_string())
    }

    fn looping(&mut self, action: &Action) -> Control {
        let Some(count) = param(action, "LoopCount")
            .and_then(|c| resolve(self.contact, c).trim().parse::<u32>().ok())
        else {
            return self.error(action, "NoMatchingError");
        };
        let key = format!("{}/{}", self.run.flow, action.identifier);
        let done = self.run.loops.get(&key).copied().unwrap_or(0);
        if done < count {
            self.run.loops.insert(key, done + 1);
            self.named_condition(action, "ContinueLooping")
                .unwrap_or_else(|| self.next(action))
        } else {
            self.run.loops.remove(&key);
            self.named_condition(action, "DoneLooping")
                .unwrap_or_else(|| self.next(action))
        }
    }

    fn wait(&mut self, action: &Action) -> Control {
        let seconds = param(action, "TimeLimitSeconds").map(|s| resolve(self.contact, s));
        match seconds.and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(seconds) => Control::Wait(Waiting::Timer, Next::Timer { seconds }),
            None => self.error(action, "NoMatchingError"),
        }
    }

    fn invoke_function(&mut self, action: &Action) -> Control {
        let reference = resolve(
            self.contact,
            param(action, "LambdaFunctionARN").unwrap_or_default(),
        );
        let Some(function) = self.env.function_named(&reference) else {
            return self.error(action, "NoMatchingError");
        };
        let parameters = action
            .parameters
            .get("LambdaInvocationAttributes")
            .map(|p| self.resolved(p))
            .unwrap_or_else(|| json!({}));
        let event = function_event(self.contact, parameters);
        if param(action, "InvocationType").is_some_and(|t| t.eq_ignore_ascii_case("ASYNCHRONOUS")) {
            self.effects
                .push(Effect::InvokeFunctionAsync { function, event });
            return self.next(action);
        }
        let timeout_seconds = param(action, "InvocationTimeLimitSeconds")
            .and_then(|s| resolve(self.contact, s).trim().parse::<f64>().ok())
            .unwrap_or(8.0)
            .clamp(0.1, 8.0);
        Control::Wait(
            Waiting::Function,
            Next::Function {
                function,
                event,
                timeout_seconds,
                response: response_type(action),
            },
        )
    }

    fn routing_behavior(&mut self, action: &Action) -> Control {
        if let Some(p) = param(action, "QueuePriority") {
            match resolve(self.contact, p).trim().parse::<u32>() {
                Ok(p) if p >= 1 => self.contact.queue_priority = p,
                _ => return self.error(action, "NoMatchingError"),
            }
        }
        if let Some(t) = param(action, "QueueTimeAdjustmentSeconds") {
            match resolve(self.contact, t).trim().parse::<i64>() {
                Ok(t) => self.contact.queue_time_adjustment_seconds = t,
                Err(_) => return self.error(action, "NoMatchingError"),
            }
        }
        self.next(action)
    }

    fn event_hooks(&mut self, action: &Action) -> Control {
        let Some(Value::Object(hooks)) = action.parameters.get("EventHooks") else {
            return self.error(action, "NoMatchingError");
        };
        let mut resolved = BTreeMap::new();
        for (hook, flow) in hooks {
            let flow = resolve(self.contact, flow.as_str().unwrap_or_default());
            if flow.is_empty() || self.env.flow(&flow).is_none() {
                return self.error(action, "NoMatchingError");
            }
            resolved.insert(hook.clone(), flow);
        }
        self.contact.event_hooks.extend(resolved);
        self.next(action)
    }

    fn create_callback(&mut self, action: &Action) -> Control {
        let number = self
            .contact
            .callback_number
            .clone()
            .or_else(|| self.contact.customer_endpoint.clone());
        let (Some(queue), Some(number)) = (self.contact.target_queue.clone(), number) else {
            return self.error(action, "NoMatchingError");
        };
        let number_param = |k: &str, default: u64| {
            param(action, k)
                .map(|v| resolve(self.contact, v).trim().parse::<u64>().ok())
                .unwrap_or(Some(default))
        };
        let (Some(delay), Some(attempts), Some(retry)) = (
            number_param("InitialCallDelaySeconds", 0),
            number_param("MaximumConnectionAttempts", 1),
            number_param("RetryDelaySeconds", 600),
        ) else {
            return self.error(action, "NoMatchingError");
        };
        self.effects.push(Effect::CreateCallback {
            queue,
            number,
            initial_delay_seconds: delay,
            max_attempts: attempts.max(1) as u32,
            retry_delay_seconds: retry,
        });
        self.next(action)
    }

    fn create_task(&mut self, action: &Action) -> Control {
        let get = |k: &str| {
            param(action, k)
                .map(|v| resolve(self.contact, v))
                .unwrap_or_default()
        };
        let flow = get("ContactFlowId");
        if self.env.flow(&flow).is_none() {
            return self.error(action, "NoMatchingError");
        }
        let mut attributes = BTreeMap::new();
        if let Some(Value::Object(map)) = action.parameters.get("Attributes") {
            for (k, v) in map {
                attributes.insert(
                    k.clone(),
                    resolve(self.contact, v.as_str().unwrap_or_default()),
                );
            }
        }
        self.effects.push(Effect::CreateTask {
            name: get("Name"),
            description: get("Description"),
            flow,
            attributes,
        });
        self.next(action)
    }

    fn third_party(&mut self, action: &Action) -> Control {
        if self.contact.channel != Channel::Voice {
            return self.error(action, "NoMatchingError");
        }
        let number = resolve(
            self.contact,
            param(action, "ThirdPartyPhoneNumber").unwrap_or_default(),
        );
        if !is_e164(&number) {
            return self.error(action, "InvalidPhoneNumber");
        }
        let timeout_seconds = param(action, "ThirdPartyConnectionTimeLimitSeconds")
            .and_then(|v| resolve(self.contact, v).trim().parse().ok())
            .unwrap_or(30);
        if is_true(param(action, "ContinueFlowExecution")) {
            return Control::Wait(
                Waiting::ThirdParty,
                Next::ThirdParty {
                    number,
                    timeout_seconds,
                    continue_flow: true,
                },
            );
        }
        self.branch = "next".into();
        Control::Finish(Outcome::TransferredToThirdParty { number })
    }
}

fn dtmf_setting(action: &Action, key: &str) -> Option<String> {
    action
        .parameters
        .get("DTMFConfiguration")?
        .get(key)?
        .as_str()
        .map(str::to_string)
}

fn max_length(action: &Action) -> Option<usize> {
    let value = action
        .parameters
        .get("InputValidation")?
        .get("CustomValidation")?
        .get("MaximumLength")?;
    match value {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        _ => None,
    }
}

fn response_type(action: &Action) -> ResponseType {
    let declared = action
        .parameters
        .get("ResponseValidation")
        .and_then(|v| v.get("ResponseType"))
        .and_then(Value::as_str);
    match declared {
        Some("JSON") => ResponseType::Json,
        _ => ResponseType::StringMap,
    }
}

/// The event an external function receives, shaped like Connect's Lambda event.
fn function_event(contact: &ContactData, parameters: Value) -> Value {
    let endpoint = |address: &Option<String>| {
        address.as_ref().map_or(
            Value::Null,
            |a| json!({ "Address": a, "Type": "TELEPHONE_NUMBER" }),
        )
    };
    json!({
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "Attributes": contact.attributes,
                "Channel": contact.channel.as_str(),
                "ContactId": contact.contact_id,
                "InitialContactId": contact.initial_contact_id,
                "CustomerEndpoint": endpoint(&contact.customer_endpoint),
                "SystemEndpoint": endpoint(&contact.system_endpoint),
                "Queue": contact.target_queue.as_ref().map_or(Value::Null, |q| json!({ "Name": q })),
                "LanguageCode": contact.language_code,
                "Name": contact.name,
                "Description": contact.description,
            },
            "Parameters": parameters,
        }
    })
}
