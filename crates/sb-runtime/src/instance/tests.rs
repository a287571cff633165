//! The owner alone: no tokio, no SQLite, no sockets. Each test calls the owner's
//! methods with the time, as the driver does, and reads what it decided from its
//! outputs, so what the owner does is checked apart from how it is driven.

use std::path::PathBuf;
use std::sync::Arc;

use sb_security::envelope::{Kek, Keyring};

use super::output::{Effect, EndpointId, Output};
use super::{AgentFrame, Clock, CustomerEvent, CustomerFrame, NewChat, Owner};
use crate::live::DeployedConfig;
use crate::vault::Vault;

pub(super) const START_MS: i64 = 1_795_000_000_000;

/// The sample instance, its main menu open around the clock.
pub(super) fn sample() -> Arc<DeployedConfig> {
    static SAMPLE: std::sync::OnceLock<Arc<DeployedConfig>> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(read_sample).clone()
}

fn read_sample() -> Arc<DeployedConfig> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme");
    let mut bundle = sb_spec::SourceBundle::read_dir(&dir).unwrap();
    let flow = bundle.text("flows/main-ivr.json").unwrap().replacen(
        "\"HoursOfOperationId\": \"Store Hours\"",
        "\"HoursOfOperationId\": \"Around The Clock\"",
        1,
    );
    bundle
        .insert("flows/main-ivr.json".into(), flow.into_bytes())
        .unwrap();
    let (spec, _) = sb_spec::load(&bundle).unwrap();
    Arc::new(DeployedConfig::new(1, spec))
}

/// A vault whose keys live in memory only.
pub(super) fn vault() -> Arc<Vault> {
    let ring = Keyring::new(Kek::from_bytes(&[7; 32]).unwrap(), vec![]);
    Arc::new(Vault::in_memory(ring).unwrap())
}

fn owner() -> Owner {
    let vault = vault();
    let mut owner = Owner::new(vault, Clock::manual(START_MS), START_MS);
    assert!(owner.take_config(sample()));
    owner
}

/// Everything the owner decided since last asked, with the turn's end.
fn outputs(owner: &mut Owner) -> Vec<Output> {
    owner.end_turn();
    std::iter::from_fn(|| owner.poll_output()).collect()
}

fn customer_frames(outputs: &[Output], to: EndpointId) -> Vec<&CustomerFrame> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Effect(Effect::ToCustomer(e, frame)) if *e == to => Some(frame),
            _ => None,
        })
        .collect()
}

fn closed(outputs: &[Output]) -> Vec<EndpointId> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Effect(Effect::Close(e)) => Some(*e),
            _ => None,
        })
        .collect()
}

/// A chat started and its customer attached: the contact's id, token and endpoint.
fn chat(owner: &mut Owner) -> (String, String, EndpointId) {
    let started = owner
        .start_chat(NewChat {
            display_name: "Ann".into(),
            ..Default::default()
        })
        .unwrap();
    let session = owner
        .attach_customer(&started.contact_id, &started.participant_token, 0)
        .unwrap();
    (
        started.contact_id,
        started.participant_token,
        EndpointId(session),
    )
}

#[test]
fn a_chat_writes_its_events_before_any_effect_that_follows_from_them() {
    let mut owner = owner();
    let (contact, _, endpoint) = chat(&mut owner);
    let out = outputs(&mut owner);
    let first_effect = out
        .iter()
        .position(|o| matches!(o, Output::Effect(_)))
        .expect("the chat has effects");
    let events: Vec<&str> = out[..first_effect]
        .iter()
        .filter_map(|o| match o {
            Output::Append(e) if e.key == contact => Some(e.kind.as_str()),
            _ => None,
        })
        .collect();
    assert!(events.contains(&"INITIATED"), "{events:?}");
    // The flow's first message is in the log (sealed) and on its way to the socket.
    assert!(out.iter().any(
        |o| matches!(o, Output::Append(e) if e.stream == "chat" && e.key == contact && !e.payload.contains("Welcome"))
    ));
    let frames = customer_frames(&out, endpoint);
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, CustomerFrame::Message(_))),
        "{frames:?}"
    );
}

#[test]
fn a_second_socket_for_a_chat_closes_the_first_and_gets_what_was_said() {
    let mut owner = owner();
    let (contact, token, first) = chat(&mut owner);
    let said_before = customer_frames(&outputs(&mut owner), first).len();
    let second = EndpointId(owner.attach_customer(&contact, &token, 0).unwrap());
    let out = outputs(&mut owner);
    assert_eq!(closed(&out), vec![first]);
    assert_eq!(customer_frames(&out, second).len(), said_before);
    // The first socket's session no longer speaks for the customer.
    let old = owner.customer_event(
        &contact,
        first.0,
        CustomerEvent::Message { text: "hi".into() },
    );
    assert_eq!(old, Err(super::RuntimeError::BadToken));
}

#[test]
fn a_stopped_chat_tells_its_socket_it_ended_then_lets_go_of_it() {
    let mut owner = owner();
    let (contact, _, endpoint) = chat(&mut owner);
    outputs(&mut owner);
    owner.stop_contact(&contact, "erin").unwrap();
    let out = outputs(&mut owner);
    let ended = out
        .iter()
        .position(|o| matches!(o, Output::Effect(Effect::ToCustomer(e, CustomerFrame::Ended)) if *e == endpoint))
        .expect("the customer hears the end");
    let close = out
        .iter()
        .position(|o| matches!(o, Output::Effect(Effect::Close(e)) if *e == endpoint))
        .expect("the endpoint is let go");
    assert!(ended < close);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Append(e) if e.key == contact && e.kind == "CONTACT_RECORD")));
}

#[test]
fn an_agent_socket_gets_its_state_and_is_let_go_when_it_leaves() {
    let mut owner = owner();
    let session = owner.attach_agent("carol", true).unwrap();
    let endpoint = EndpointId(session);
    let out = outputs(&mut owner);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Effect(Effect::ToAgent { endpoint: e, frame: AgentFrame::State { .. }, .. }) if *e == endpoint
    )));
    owner.detach_agent("carol", session);
    assert_eq!(closed(&outputs(&mut owner)), vec![endpoint]);
    // A REST log-in has no socket: nothing to send to, nothing to close.
    owner.attach_agent("carol", false).unwrap();
    let out = outputs(&mut owner);
    assert!(closed(&out).is_empty());
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Effect(Effect::ToAgent { .. }))));
}

#[test]
fn a_function_call_leaves_as_an_output_and_its_answer_moves_the_flow_to_a_timer() {
    let mut owner = owner();
    let (contact, _, endpoint) = chat(&mut owner);
    let out = outputs(&mut owner);
    let call = out
        .iter()
        .find_map(|o| match o {
            Output::Effect(Effect::CallFunction(call)) => Some(call),
            _ => None,
        })
        .expect("the main menu looks the customer up first");
    assert_eq!(call.contact, contact);
    assert!(call.answer_wanted);
    owner.function_done(
        &contact,
        call.epoch,
        sb_flow::interpret::FunctionResult::Failed {
            reason: "unreachable".into(),
        },
    );
    let out = outputs(&mut owner);
    let menu = customer_frames(&out, endpoint);
    assert!(
        menu.iter()
            .any(|f| matches!(f, CustomerFrame::Message(m) if m.text.contains("press 3"))),
        "{menu:?}"
    );
    // The menu waits for input: its time limit is the owner's next deadline. Before
    // it nothing fires; at it the flow moves on, and its new state is written for a
    // restart.
    let due = owner.poll_timeout().expect("the menu waits for input");
    assert!(due > START_MS);
    let moved = |out: &[Output]| {
        out.iter().any(|o| {
            matches!(o, Output::Append(e) if e.key == contact && e.stream == sb_store::LIVE_STREAM)
        })
    };
    owner.set_now(due - 1);
    owner.fire_due();
    assert!(!moved(&outputs(&mut owner)));
    owner.set_now(due);
    owner.fire_due();
    assert!(moved(&outputs(&mut owner)));
}

/// A chat taken to carol: through the menu's billing choice to her offer, accepted.
fn chat_with_carol(owner: &mut Owner) -> (String, String, EndpointId) {
    let (contact, token, endpoint) = chat(owner);
    let epoch = owner.contacts[&contact].function_epoch;
    let failed = sb_flow::interpret::FunctionResult::Failed {
        reason: "unreachable".into(),
    };
    owner.function_done(&contact, epoch, failed);
    owner
        .customer_event(
            &contact,
            endpoint.0,
            CustomerEvent::Message { text: "3".into() },
        )
        .unwrap();
    owner.attach_agent("carol", true).unwrap();
    let available = super::AgentAction::SetStatus {
        status: "Available".into(),
    };
    owner.agent_action("carol", available).unwrap();
    let accept = super::AgentAction::Accept {
        contact: contact.clone(),
    };
    owner.agent_action("carol", accept).unwrap();
    outputs(owner);
    (contact, token, endpoint)
}

#[test]
fn a_customer_back_after_the_agent_ended_the_chat_hears_it_and_is_let_go() {
    let mut owner = owner();
    let (contact, token, _) = chat_with_carol(&mut owner);
    let end = super::AgentAction::End {
        contact: contact.clone(),
    };
    owner.agent_action("carol", end).unwrap();
    outputs(&mut owner);
    // Carol is in after-contact work: the contact is still live, the chat is over.
    let again = EndpointId(owner.attach_customer(&contact, &token, 0).unwrap());
    let out = outputs(&mut owner);
    let frames = customer_frames(&out, again);
    assert!(
        matches!(frames.last(), Some(CustomerFrame::Ended)),
        "{frames:?}"
    );
    assert!(frames.len() > 1, "the transcript comes first: {frames:?}");
    assert_eq!(closed(&out), vec![again]);
}
