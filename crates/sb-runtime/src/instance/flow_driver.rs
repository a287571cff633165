//! Driving a contact's flow: each input (a message, a timer, a function's answer)
//! resumes the interpreter, and what the flow asks for is carried out — messages said,
//! tasks and callbacks created, functions called, timers set, a queue joined — until
//! the flow waits again or is done.

use sb_flow::interpret::{
    resume, Effect, FlowRun, Input, Message, Next, Outcome, ThirdPartyResult,
};
use sb_model::record::DisconnectReason;
use sb_model::Channel;
use sb_store::NewEvent;
use serde_json::json;

use super::contacts::{mask_attributes, mask_value, Stage};
use super::env::EngineFigures;
use super::output::{Effect as OwnerEffect, FunctionCall};
use super::{NewTask, Owner, Timer};
use crate::live::DeployedConfig;

/// What a message says in a chat: its text, else its SSML, else its prompt's text.
pub(super) fn text_of(config: &DeployedConfig, m: &Message) -> String {
    let prompt = || {
        let name = m.prompt.as_deref()?;
        let prompt = config.spec.prompts.get(name)?;
        Some(
            prompt
                .text
                .clone()
                .unwrap_or_else(|| format!("[audio: {name}]")),
        )
    };
    m.text
        .clone()
        .or_else(|| m.ssml.clone())
        .or_else(prompt)
        .unwrap_or_default()
}

impl Owner {
    /// A function's answer, if the flow still waits for this call (`epoch`).
    pub(super) fn function_done(
        &mut self,
        contact: &str,
        epoch: u64,
        result: sb_flow::interpret::FunctionResult,
    ) {
        // A late answer, to a call the flow has stopped waiting for, is dropped.
        if self
            .contacts
            .get(contact)
            .is_none_or(|c| c.function_epoch != epoch)
        {
            return;
        }
        let result = match result {
            sb_flow::interpret::FunctionResult::Ok { mut response } => {
                mask_value(&mut response);
                sb_flow::interpret::FunctionResult::Ok { response }
            }
            failed => failed,
        };
        self.drive(contact, Input::FunctionResult { result });
    }

    pub(crate) fn set_timer(&mut self, id: &str, at: i64) -> u64 {
        let timer = self.new_id();
        self.timers.insert((at, timer, Timer::Flow(id.to_string())));
        if let Some(c) = self.contacts.get_mut(id) {
            c.timer = Some(timer);
            c.timer_at = Some(at);
        }
        timer
    }

    pub(crate) fn timer_fired(&mut self, which: &Timer, timer: u64) {
        let key = match which {
            Timer::CustomerAbsent(id) => return self.customer_absence_elapsed(id),
            Timer::TaskExpiry(id) => {
                if self.contacts.contains_key(id) {
                    self.end_contact(id, DisconnectReason::Expired);
                }
                return;
            }
            Timer::Flow(id) => id.as_str(),
        };
        let Some(c) = self.contacts.get_mut(key) else {
            return;
        };
        if c.timer != Some(timer) {
            return;
        }
        c.timer = None;
        let waiting = c.flow.as_ref().and_then(|f| f.waiting);
        match (&c.stage, waiting) {
            (Stage::Scheduled, _) => {
                c.stage = Stage::InFlow;
                self.drive(key, Input::Begin);
            }
            (_, Some(sb_flow::interpret::Waiting::Input)) => self.drive(key, Input::InputTimeout),
            (_, Some(_)) => self.drive(key, Input::TimerElapsed),
            _ => {}
        }
    }

    /// Feed the contact's flow and carry out what it decides.
    pub(crate) fn drive(&mut self, id: &str, input: Input) {
        let now = self.now;
        let step = {
            let Some(c) = self.contacts.get_mut(id) else {
                return;
            };
            let Some(run) = c.flow.as_mut() else { return };
            // A queue flow can tell the customer where they stand (worked out only
            // when some flow asks: it walks the queue).
            let reads = c.config.flows.reads_queue_standing();
            let (position, wait_seconds) = match c.stage {
                Stage::Queued if reads => self
                    .engine
                    .position(id)
                    .map(|p| {
                        let wait = p.estimated_wait_ms.map(|ms| (ms.max(0) / 1000) as u64);
                        (Some(p.position as u64), wait)
                    })
                    .unwrap_or((None, None)),
                // Offered to an agent: first in line, with no wait left to tell.
                Stage::Offered(_) if reads => (Some(1), Some(0)),
                _ => (None, None),
            };
            c.data.queue_position = position;
            c.data.queue_wait_seconds = wait_seconds;
            c.function_epoch += 1;
            c.timer = None;
            let figures = EngineFigures(&self.engine);
            let env = sb_spec::SpecEnv {
                spec: &c.config.spec,
                flows: &c.config.flows,
                now: jiff::Timestamp::from_millisecond(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
                figures: &figures,
                tracing: false,
            };
            let step = resume(&env, run, &mut c.data, input);
            // Whatever a flow put there is masked before it is kept (function results
            // were masked when they arrived).
            mask_attributes(&mut c.data.attributes);
            c.record.attributes = c.data.attributes.clone();
            step
        };
        self.touch(id);
        let logging = self
            .contacts
            .get(id)
            .and_then(|c| c.flow.as_ref())
            .is_some_and(|f| f.logging);
        if logging && !step.trace.is_empty() {
            self.out.event(NewEvent {
                at_ms: now,
                stream: sb_store::FLOW_LOG_STREAM.into(),
                key: id.into(),
                kind: "ACTIONS".into(),
                payload: {
                    let mut trace = serde_json::to_value(&step.trace).unwrap_or_default();
                    mask_value(&mut trace);
                    trace.to_string()
                },
            });
        }
        let config = self.contacts.get(id).map(|c| c.config.clone());
        for effect in step.effects {
            match effect {
                Effect::Message(m) => {
                    let text = config
                        .as_deref()
                        .map(|c| text_of(c, &m))
                        .unwrap_or_default();
                    self.say(id, super::ChatSender::System, None, text)
                }
                Effect::CreateTask {
                    name,
                    description,
                    flow,
                    attributes,
                } => {
                    let task = NewTask {
                        name,
                        description,
                        flow: Some(flow),
                        attributes,
                        ..NewTask::default()
                    };
                    if let Err(e) = self.create_task(task) {
                        tracing::warn!(contact = id, error = %e, "flow could not create a task");
                    }
                }
                Effect::CreateCallback {
                    queue,
                    number,
                    initial_delay_seconds,
                    max_attempts,
                    retry_delay_seconds,
                } => {
                    let request = super::callbacks::CallbackRequest {
                        queue,
                        number,
                        initial_delay_seconds,
                        max_attempts,
                        retry_delay_seconds,
                    };
                    if let Err(e) = self.create_callback(id, request) {
                        tracing::warn!(contact = id, error = %e, "flow could not create a callback");
                    }
                }
                Effect::SetRecording { behavior } => {
                    if let (Some(c), Some(recorded)) =
                        (self.contacts.get_mut(id), recorded_participants(&behavior))
                    {
                        c.data.recorded_participants = recorded;
                    }
                    self.contact_event(
                        id,
                        super::contact_events::ContactEventType::RecordingBehavior,
                        behavior,
                    );
                }
                Effect::InvokeFunctionAsync { function, event } => self.call_function(
                    id,
                    function,
                    event,
                    8.0,
                    sb_flow::interpret::ResponseType::Json,
                    false,
                ),
                // The rest change nothing outside the flow (its own logging, for one):
                // internal, and no public event (the flow log shows the action).
                other => tracing::debug!(contact = id, effect = ?other, "flow effect"),
            }
        }
        match step.next {
            Next::Input {
                timeout_seconds, ..
            } => {
                self.set_timer(id, now + i64::from(timeout_seconds) * 1000);
            }
            Next::Timer { seconds } => {
                self.set_timer(id, now + seconds as i64 * 1000);
            }
            Next::MessageLoop {
                messages,
                interrupt_seconds,
            } => {
                for m in &messages {
                    let text = config.as_deref().map(|c| text_of(c, m)).unwrap_or_default();
                    self.say(id, super::ChatSender::System, None, text);
                }
                if let Some(s) = interrupt_seconds {
                    self.set_timer(id, now + s as i64 * 1000);
                }
            }
            Next::Function {
                function,
                event,
                timeout_seconds,
                response,
            } => self.call_function(id, function, event, timeout_seconds, response, true),
            Next::Enqueue {
                queue,
                from_queue_flow,
            } => {
                let waiting = self
                    .contacts
                    .get(id)
                    .is_some_and(|c| c.stage == Stage::Queued);
                let accepted = if from_queue_flow && waiting {
                    self.move_to_queue(id, &queue)
                } else {
                    self.enqueue(id, &queue)
                };
                self.drive(id, Input::Enqueue { accepted });
            }
            Next::ThirdParty { .. } => self.drive(
                id,
                Input::ThirdParty {
                    result: ThirdPartyResult::Failed,
                },
            ),
            Next::Done(outcome) => self.flow_done(id, outcome),
        }
    }

    fn call_function(
        &mut self,
        id: &str,
        function: String,
        event: serde_json::Value,
        timeout_seconds: f64,
        response: sb_flow::interpret::ResponseType,
        wait: bool,
    ) {
        let Some(c) = self.contacts.get(id) else {
            return;
        };
        // The call leaves the process only once what led to it is durable.
        self.out.effect(OwnerEffect::CallFunction(FunctionCall {
            contact: id.to_string(),
            epoch: c.function_epoch,
            function,
            event,
            timeout: std::time::Duration::try_from_secs_f64(timeout_seconds)
                .unwrap_or(std::time::Duration::from_secs(8)),
            response,
            answer_wanted: wait,
        }));
    }

    fn flow_done(&mut self, id: &str, outcome: Outcome) {
        let Some(c) = self.contacts.get_mut(id) else {
            return;
        };
        c.flow = None;
        let stage = c.stage.clone();
        match outcome {
            Outcome::TransferredToQueue { queue } => {
                // While it waits, the queue's customer-queue flow keeps the customer company.
                let queue_flow = c
                    .config
                    .spec
                    .queues
                    .get(queue.as_str())
                    .and_then(|q| q.customer_queue_flow.clone());
                if let (Some(flow), Channel::Chat) = (queue_flow, c.data.channel) {
                    c.flow = Some(FlowRun::start(flow.as_str()));
                    self.route();
                    if self
                        .contacts
                        .get(id)
                        .is_some_and(|c| c.stage == Stage::Queued)
                    {
                        self.drive(id, Input::Begin);
                    }
                    return;
                }
                self.route();
            }
            Outcome::TransferredToAgent { .. } => self.route(),
            Outcome::Ended
                if matches!(
                    stage,
                    Stage::Queued | Stage::Offered(_) | Stage::Connected(_) | Stage::AfterWork(_)
                ) => {}
            Outcome::Ended | Outcome::Disconnected => {
                self.end_contact(id, DisconnectReason::ContactFlowDisconnect)
            }
            Outcome::TransferredToThirdParty { .. } => {
                self.end_contact(id, DisconnectReason::ThirdPartyDisconnect)
            }
            Outcome::Error { reason } => {
                tracing::warn!(contact = id, reason, "flow ended in error");
                self.contact_event(
                    id,
                    super::contact_events::ContactEventType::FlowError,
                    json!({"reason": reason}),
                );
                self.end_contact(id, DisconnectReason::ContactFlowError);
            }
        }
    }
}

/// The participants whose chat lines are stored, from UpdateContactRecordingBehavior's
/// `RecordingBehavior.RecordedParticipants` (`[]` stops recording); `None` when the
/// block does not say (it changes analytics only).
pub(super) fn recorded_participants(behavior: &serde_json::Value) -> Option<Vec<String>> {
    let list = behavior.pointer("/RecordingBehavior/RecordedParticipants")?;
    Some(
        list.as_array()?
            .iter()
            .filter_map(|p| p.as_str().map(|p| p.to_ascii_uppercase()))
            .collect(),
    )
}
