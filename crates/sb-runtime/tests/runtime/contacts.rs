//! The contact runtime through its handle, on the real store and event log, without
//! HTTP: agents dropping mid-offer, offers no longer held, floods, read receipts,
//! callbacks, and what a restart must give back (agents' contacts and statuses, timers
//! counted from when they began, agent queues, transferred chats).

use std::time::Duration;

use sb_runtime::instance::{
    AgentAction, AgentFrame, CustomerEvent, CustomerFrame, NewChat, NewTask, RuntimeError,
};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::harness::*;

#[tokio::test]
async fn an_agent_gone_mid_offer_gives_its_offers_back_in_their_places() {
    let instance = Instance::start(steady_acme(120)).await;
    let rt = instance.rt();
    let a = instance.chat_to_billing("Ana").await;
    let b = instance.chat_to_billing("Ben").await;
    let c = instance.chat_to_billing("Cy").await;

    // Carol has two chat slots: the first two in line are offered to her.
    let mut carol = instance.agent("carol").await;
    instance.act(&carol, status("Available")).await.unwrap();
    let mut offered = offers(&mut carol, 2).await;
    offered.sort();
    let mut first_two = vec![a.contact.clone(), b.contact.clone()];
    first_two.sort();
    assert_eq!(offered, first_two);

    // Her socket drops: the offers are withdrawn and the chats are back where they were.
    rt.detach_agent(carol.user.clone(), carol.session).await;
    instance.wait_for_stage(&a.contact, "queued").await;
    instance.wait_for_stage(&b.contact, "queued").await;
    assert_eq!(instance.stage(&a.contact).await.unwrap().1, Some(1));
    assert_eq!(instance.stage(&b.contact).await.unwrap().1, Some(2));
    assert_eq!(instance.stage(&c.contact).await.unwrap().1, Some(3));

    // Her desktop reconnects at once: she is Available again, as she had chosen, and
    // offered the same two; the third still waits.
    let mut carol = instance.agent("carol").await;
    let mut offered = offers(&mut carol, 2).await;
    offered.sort();
    assert_eq!(offered, first_two);
    assert_eq!(instance.stage(&c.contact).await.unwrap().1, Some(1));

    // She takes a break: the offers are withdrawn, and one she no longer holds cannot
    // be taken; trying changes nothing.
    instance.act(&carol, status("Break")).await.unwrap();
    instance.wait_for_stage(&a.contact, "queued").await;
    let refused = instance
        .act(
            &carol,
            AgentAction::Accept {
                contact: a.contact.clone(),
            },
        )
        .await;
    // The engine's refusal keeps its kind on the way out of the runtime.
    assert!(
        matches!(
            refused,
            Err(RuntimeError::Routing(
                sb_routing::RoutingError::NoSuchOffer { .. }
            ))
        ),
        "{refused:?}"
    );
    assert_eq!(
        instance.stage(&a.contact).await.unwrap(),
        ("queued".into(), Some(1))
    );
}

#[tokio::test]
async fn an_agent_back_after_a_restart_has_the_status_it_chose() {
    let mut instance = Instance::start(steady_acme(120)).await;
    // Bob works through the REST desk, and has a chat when the server restarts.
    let chat = NewChat {
        display_name: "Cy".into(),
        ..Default::default()
    };
    let (cy, _) = instance.chat_at_menu(chat).await;
    instance.say(&cy, "1").await.unwrap();
    let bob = |action| instance.rt().agent_desk("bob".into(), Some(action));
    bob(status("Available")).await.unwrap();
    bob(AgentAction::Accept {
        contact: cy.contact.clone(),
    })
    .await
    .unwrap();
    let carol = instance.agent("carol").await;
    instance.act(&carol, status("Break")).await.unwrap();
    let alice = instance.agent("alice").await;
    instance.act(&alice, status("Available")).await.unwrap();
    instance.restart().await;

    // Before they reconnect nobody can be offered anything (bob is back only to hold
    // his chat).
    let agents = instance.rt().list_agents().await.unwrap();
    assert!(
        agents
            .iter()
            .all(|a| a.status == sb_routing::AgentStatus::Offline),
        "{agents:?}"
    );
    let ana = instance.chat_to_billing("Ana").await;
    let mut carol = instance.agent("carol").await;
    let state = next_frame(&mut carol.frames, |f| matches!(f, AgentFrame::State { .. })).await;
    let AgentFrame::State { snapshot } = state else {
        unreachable!()
    };
    assert_eq!(
        snapshot.status,
        sb_routing::AgentStatus::Custom("Break".into())
    );
    let alice = instance.agent("alice").await;
    let agents = instance.rt().list_agents().await.unwrap();
    let alice_now = agents.iter().find(|a| a.agent == alice.user).unwrap();
    assert_eq!(alice_now.status, sb_routing::AgentStatus::available());

    // A script working through the REST desk is back in its status as well, with its
    // chat.
    let desk = instance.rt().agent_desk("bob".into(), None).await.unwrap();
    assert_eq!(desk.snapshot.status, sb_routing::AgentStatus::available());
    assert_eq!(desk.contacts[0].contact, cy.contact);

    // Back from her break, carol takes the chat that waited.
    instance.act(&carol, status("Available")).await.unwrap();
    assert_eq!(
        offers(&mut carol, 1).await,
        std::slice::from_ref(&ana.contact)
    );
}

#[tokio::test]
async fn a_flooding_customer_is_held_to_the_rate_and_the_chat_goes_on() {
    let instance = Instance::start(steady_acme(120)).await;
    let mut ana = instance.chat_to_billing("Ana").await;
    let (mut accepted, mut limited) = (0u32, 0u32);
    for n in 0..60 {
        match instance.say(&ana, &format!("flood {n}")).await {
            Ok(()) => accepted += 1,
            Err(RuntimeError::RateLimited { per_second: 5 }) => limited += 1,
            Err(e) => panic!("{e}"),
        }
    }
    // A burst of 20 (the menu's "3" took one), and no more while the clock stands.
    assert_eq!((accepted, limited), (19, 41));

    // Only the accepted messages are in the chat, each once.
    let mut echoed = 0;
    while let Ok(Some(frame)) =
        tokio::time::timeout(Duration::from_millis(500), ana.frames.recv()).await
    {
        if matches!(&frame, CustomerFrame::Message(m) if m.text.starts_with("flood ")) {
            echoed += 1;
        }
    }
    assert_eq!(echoed, accepted);

    // Then 5 a second: a fifth of a second later the customer is heard once more.
    instance.advance(199).await;
    assert!(instance.say(&ana, "still there?").await.is_err());
    instance.advance(1).await;
    instance.say(&ana, "still there?").await.unwrap();
    assert!(instance.say(&ana, "hello?").await.is_err());
    assert_eq!(
        instance.stage(&ana.contact).await.unwrap().0,
        "queued",
        "the chat goes on"
    );
}

#[tokio::test]
async fn after_a_restart_an_agent_finds_its_chat_and_its_work_times_out_on_time() {
    // Carol's after-contact work ends by itself after 120 s.
    let mut instance = Instance::start(steady_acme(120)).await;
    let talking = instance.chat_to_billing("Ana").await;
    let wrapping_up = instance.chat_to_billing("Ben").await;
    let mut carol = instance.agent("carol").await;
    instance.act(&carol, status("Available")).await.unwrap();
    for contact in offers(&mut carol, 2).await {
        instance
            .act(&carol, AgentAction::Accept { contact })
            .await
            .unwrap();
    }
    instance
        .act(
            &carol,
            AgentAction::End {
                contact: wrapping_up.contact.clone(),
            },
        )
        .await
        .unwrap();
    let ended = instance
        .record(&wrapping_up.contact, |r| {
            r["DisconnectTimestamp"].is_string()
        })
        .await;

    // A minute passes, then the server restarts.
    instance.advance(60_000).await;
    instance.restart().await;

    // Carol is back with both contacts before her desktop reconnects.
    let agents = instance.rt().list_agents().await.unwrap();
    let snapshot = agents
        .iter()
        .find(|a| a.agent == "carol")
        .expect("carol is back");
    assert_eq!(snapshot.contacts.len(), 2, "{snapshot:?}");
    assert_eq!(
        instance.stage(&talking.contact).await.unwrap().0,
        "connected"
    );

    // She does not come back; the work she left ends at its time limit, counted from
    // when it began (a minute before the restart), not from the restart.
    instance.advance(59_999).await;
    assert_eq!(
        instance.stage(&wrapping_up.contact).await.unwrap().0,
        "after_contact_work"
    );
    instance.advance(1).await;
    let done = instance
        .record(&wrapping_up.contact, |r| {
            r["Agent"]["AfterContactWorkEndTimestamp"].is_string()
        })
        .await;
    let at = |v: &Value| v.as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    let work = at(&done["Agent"]["AfterContactWorkEndTimestamp"])
        .duration_since(at(&ended["DisconnectTimestamp"]))
        .as_secs_f64();
    assert_eq!(work, 120.0);

    // When she reconnects, her chat is there with what was said, and she finishes it.
    let mut carol = instance.agent("carol").await;
    let connected = next_frame(
        &mut carol.frames,
        |f| matches!(f, AgentFrame::Connected { contact, .. } if *contact == talking.contact),
    )
    .await;
    let AgentFrame::Connected { transcript, .. } = connected else {
        unreachable!()
    };
    assert!(
        transcript.iter().any(|line| line.text == "3"),
        "{transcript:?}"
    );
    instance
        .act(
            &carol,
            AgentAction::End {
                contact: talking.contact.clone(),
            },
        )
        .await
        .unwrap();
    instance
        .act(
            &carol,
            AgentAction::Complete {
                contact: talking.contact.clone(),
            },
        )
        .await
        .unwrap();
    let record = instance
        .record(&talking.contact, |r| {
            r["Agent"]["AfterContactWorkEndTimestamp"].is_string()
        })
        .await;
    assert_eq!(record["Agent"]["Username"], "carol");
    assert!(instance.rt().list_contacts().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_chat_waiting_in_an_agents_queue_waits_through_a_restart() {
    let mut instance = Instance::start(steady_acme(120)).await;
    let ana = instance.chat_to_billing("Ana").await;
    let carol = instance.agent_on_next_chat("carol").await;
    instance
        .act(
            &carol,
            AgentAction::Transfer {
                contact: ana.contact.clone(),
                queue: None,
                agent: Some("alice".into()),
                quick_connect: None,
            },
        )
        .await
        .unwrap();
    let waiting = instance
        .rt()
        .list_contacts()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.queue.as_deref() == Some("agent:alice"))
        .expect("the transferred chat waits for alice");

    instance.restart().await;
    assert_eq!(
        instance.stage(&waiting.contact_id).await.unwrap().0,
        "queued",
        "still waiting for alice after the restart"
    );

    // The customer comes back with the token it had, and is heard by alice.
    let (tx, mut frames) = mpsc::channel(1024);
    let session = instance
        .rt()
        .attach_customer(waiting.contact_id.clone(), ana.token.clone(), 0, tx)
        .await
        .expect("the customer's token still opens the transferred chat");
    next_frame(
        &mut frames,
        |f| matches!(f, CustomerFrame::Message(m) if m.text == "3"),
    )
    .await;
    let mut alice = instance.agent("alice").await;
    instance.act(&alice, status("Available")).await.unwrap();
    assert_eq!(
        offers(&mut alice, 1).await,
        std::slice::from_ref(&waiting.contact_id)
    );
    instance
        .act(
            &alice,
            AgentAction::Accept {
                contact: waiting.contact_id.clone(),
            },
        )
        .await
        .unwrap();
    instance
        .rt()
        .customer(
            waiting.contact_id.clone(),
            session,
            CustomerEvent::Message {
                text: "hello again".into(),
            },
        )
        .await
        .unwrap();
    next_frame(
        &mut alice.frames,
        |f| matches!(f, AgentFrame::Message { item, .. } if item.text == "hello again"),
    )
    .await;
}

#[tokio::test]
async fn a_menu_waiting_for_input_times_out_on_time_after_a_restart() {
    // The sample's menu waits 8 s for an answer.
    let mut instance = Instance::start(acme_with(120, 8)).await;
    let chat = NewChat {
        display_name: "Ana".into(),
        ..Default::default()
    };
    let (ana, first) = instance.chat_at_menu(chat).await;
    let is_menu =
        |f: &CustomerFrame| matches!(f, CustomerFrame::Message(m) if m.text.contains("press 3"));

    // Half the menu's time limit passes, then the server restarts.
    instance.advance(4_000).await;
    instance.restart().await;

    // The customer reconnects after the last line it saw; the menu, unanswered, asks
    // again once its time limit is up, counted from when it asked, not from the restart.
    let (tx, mut frames) = mpsc::channel(1024);
    instance
        .rt()
        .attach_customer(ana.contact.clone(), ana.token.clone(), first.seq, tx)
        .await
        .unwrap();
    instance.advance(3_999).await;
    assert!(frames.try_recv().is_err(), "asked again early");
    instance.advance(1).await;
    let CustomerFrame::Message(again) = next_frame(&mut frames, is_menu).await else {
        unreachable!()
    };
    assert!(again.seq > first.seq);
    let at = |t: &str| t.parse::<jiff::Timestamp>().unwrap();
    let waited = at(&again.at).duration_since(at(&first.at)).as_secs_f64();
    assert_eq!(waited, 8.0);
}

#[tokio::test]
async fn a_callback_waits_for_its_time_through_a_restart_and_is_tried_until_its_attempts_end() {
    // The sample's callback: first call 60 s after the request, 3 attempts, 600 s apart.
    let mut instance = Instance::start(steady_acme(120)).await;

    // A customer in chat asks for a call back (menu option 4).
    let chat = NewChat {
        display_name: "Ana".into(),
        customer_endpoint: Some(sb_model::record::Endpoint {
            address: "+15555550123".into(),
            kind: sb_model::record::EndpointType::TelephoneNumber,
        }),
        ..Default::default()
    };
    let (mut ana, _) = instance.chat_at_menu(chat).await;
    instance.say(&ana, "4").await.unwrap();
    next_frame(&mut ana.frames, |f| matches!(f, CustomerFrame::Ended)).await;
    let callback = instance
        .rt()
        .list_contacts()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.channel == sb_model::Channel::Voice)
        .expect("a callback waits");
    assert_eq!(
        (callback.stage.as_str(), callback.queue.as_deref()),
        ("queued", Some("Orders"))
    );
    let id = callback.contact_id;

    // The server restarts before the call is due; an agent waiting is not offered it
    // early.
    instance.advance(30_000).await;
    instance.restart().await;
    let mut alice = instance.agent("alice").await;
    instance.act(&alice, status("Available")).await.unwrap();
    instance.advance(29_999).await;
    assert_eq!(instance.stage(&id).await.unwrap().0, "queued");
    instance.advance(1).await;
    let offer = next_frame(
        &mut alice.frames,
        |f| matches!(f, AgentFrame::Offer { contact, .. } if *contact == id),
    )
    .await;
    let AgentFrame::Offer {
        channel,
        callback_number,
        ..
    } = offer
    else {
        unreachable!()
    };
    assert_eq!(channel, sb_model::Channel::Voice);
    assert_eq!(callback_number.as_deref(), Some("+15555550123"));
    let record = instance.rt().live_record(id.clone()).await.unwrap();
    assert_eq!(
        record.previous_contact_id.as_deref(),
        Some(ana.contact.as_str())
    );

    // Calls that do not reach the customer: the agent is free at once, and the callback
    // comes back after its 600 s gap, until its third attempt.
    let accept = || AgentAction::Accept {
        contact: id.clone(),
    };
    let failed = || AgentAction::CallbackFailed {
        contact: id.clone(),
    };
    instance.act(&alice, accept()).await.unwrap();
    let refused = instance
        .act(
            &alice,
            AgentAction::Message {
                contact: id.clone(),
                text: "hello?".into(),
            },
        )
        .await;
    assert!(
        matches!(refused, Err(RuntimeError::Invalid(_))),
        "{refused:?}"
    );
    for _ in 0..2 {
        instance.act(&alice, failed()).await.unwrap();
        assert_eq!(instance.stage(&id).await.unwrap().0, "queued");
        let desk = instance
            .rt()
            .agent_desk("alice".into(), None)
            .await
            .unwrap();
        assert!(desk.snapshot.contacts.is_empty(), "{desk:?}");
        instance.advance(599_999).await;
        assert_eq!(instance.stage(&id).await.unwrap().0, "queued");
        instance.advance(1).await;
        assert_eq!(offers(&mut alice, 1).await, std::slice::from_ref(&id));
        instance.act(&alice, accept()).await.unwrap();
    }
    instance.act(&alice, failed()).await.unwrap();

    // No attempts left: the callback ends, and its record says why.
    let record = instance
        .record(&id, |r| r["DisconnectReason"] == "EXPIRED")
        .await;
    assert_eq!(record["InitiationMethod"], "CALLBACK");
    assert_eq!(record["Channel"], "VOICE");
    assert_eq!(record["AgentConnectionAttempts"], 3);
    assert!(instance.rt().list_contacts().await.unwrap().is_empty());
}

#[tokio::test]
async fn read_receipts_go_both_ways() {
    let instance = Instance::start(steady_acme(120)).await;
    let mut ana = instance.chat_to_billing("Ana").await;
    let mut carol = instance.agent_on_next_chat("carol").await;
    instance
        .act(
            &carol,
            AgentAction::Message {
                contact: ana.contact.clone(),
                text: "Hello Ana".into(),
            },
        )
        .await
        .unwrap();
    let CustomerFrame::Message(hello) = next_frame(
        &mut ana.frames,
        |f| matches!(f, CustomerFrame::Message(m) if m.text == "Hello Ana"),
    )
    .await
    else {
        unreachable!()
    };

    // The customer has read the agent's line: the agent is told.
    let read = CustomerEvent::Read { seq: hello.seq };
    instance
        .rt()
        .customer(ana.contact.clone(), ana.session, read)
        .await
        .unwrap();
    next_frame(
        &mut carol.frames,
        |f| matches!(f, AgentFrame::Read { seq, .. } if *seq == hello.seq),
    )
    .await;

    // And the other way.
    instance
        .act(
            &carol,
            AgentAction::Read {
                contact: ana.contact.clone(),
                seq: hello.seq,
            },
        )
        .await
        .unwrap();
    next_frame(
        &mut ana.frames,
        |f| matches!(f, CustomerFrame::Read { seq } if *seq == hello.seq),
    )
    .await;

    // A line not said yet cannot have been read.
    let too_far = CustomerEvent::Read { seq: hello.seq + 1 };
    let refused = instance
        .rt()
        .customer(ana.contact.clone(), ana.session, too_far)
        .await;
    assert!(
        matches!(refused, Err(RuntimeError::Invalid(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_offer_not_taken_in_20_seconds_is_missed_and_the_chats_keep_their_places() {
    let instance = Instance::start(steady_acme(120)).await;
    let a = instance.chat_to_billing("Ana").await;
    let b = instance.chat_to_billing("Ben").await;
    let mut carol = instance.agent("carol").await;
    instance.act(&carol, status("Available")).await.unwrap();
    assert_eq!(offers(&mut carol, 2).await.len(), 2);

    instance.advance(19_999).await;
    assert_eq!(instance.stage(&a.contact).await.unwrap().0, "offered");
    instance.advance(1).await;
    for _ in 0..2 {
        next_frame(&mut carol.frames, |f| {
            matches!(
                f,
                AgentFrame::OfferWithdrawn {
                    reason: sb_routing::WithdrawReason::Missed,
                    ..
                }
            )
        })
        .await;
    }
    assert_eq!(
        instance.stage(&a.contact).await.unwrap(),
        ("queued".into(), Some(1))
    );
    assert_eq!(
        instance.stage(&b.contact).await.unwrap(),
        ("queued".into(), Some(2))
    );
    let agents = instance.rt().list_agents().await.unwrap();
    assert!(agents[0].missed, "carol is parked: {agents:?}");

    // Nothing more is offered to her until she says she is there.
    instance.advance(60_000).await;
    assert_eq!(instance.stage(&a.contact).await.unwrap().0, "queued");
    instance.act(&carol, status("Available")).await.unwrap();
    assert_eq!(offers(&mut carol, 2).await.len(), 2);
    let record = instance.rt().live_record(a.contact.clone()).await.unwrap();
    assert_eq!(record.agent_connection_attempts, 2);
}

#[tokio::test]
async fn a_task_starts_at_its_time_and_expires_after_its_days_through_restarts() {
    let mut instance = Instance::start(steady_acme(120)).await;
    let now = instance.clock.now_ms();
    let at = |ms: i64| jiff::Timestamp::from_millisecond(ms).unwrap().to_string();
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    let soon = instance
        .rt()
        .create_task(NewTask {
            name: "Call back about order A-1001".into(),
            scheduled_at: Some(at(now + HOUR)),
            ..Default::default()
        })
        .await
        .unwrap();
    // Scheduled past the sample's 7-day expiry: it expires before it ever starts.
    let late = instance
        .rt()
        .create_task(NewTask {
            name: "Review the return of order A-1002".into(),
            scheduled_at: Some(at(now + 8 * DAY)),
            ..Default::default()
        })
        .await
        .unwrap();

    instance.advance(HOUR / 2).await;
    instance.restart().await;
    instance.advance(HOUR / 2 - 1).await;
    assert_eq!(instance.stage(&soon).await.unwrap().0, "scheduled");
    instance.advance(1).await;
    assert_ne!(instance.stage(&soon).await.unwrap().0, "scheduled");

    instance.advance(3 * DAY).await;
    instance.restart().await;
    instance.advance(7 * DAY - 3 * DAY - HOUR - 1).await;
    assert_eq!(instance.stage(&late).await.unwrap().0, "scheduled");
    instance.advance(1).await;
    let record = instance
        .record(&late, |r| r["DisconnectReason"] == "EXPIRED")
        .await;
    assert_eq!(record["Channel"], "TASK");
}

#[tokio::test]
async fn a_chat_transferred_twice_across_restarts_is_found_by_its_first_id() {
    let mut instance = Instance::start(steady_acme(120)).await;
    let ana = instance.chat_to_billing("Ana").await;
    // The agent takes the chat, transfers it to `queue` and wraps up.
    async fn pass_on(instance: &Instance, user: &str, queue: &str) -> String {
        let mut agent = instance.agent(user).await;
        instance.act(&agent, status("Available")).await.unwrap();
        let contact = offers(&mut agent, 1).await.remove(0);
        for action in [
            AgentAction::Accept {
                contact: contact.clone(),
            },
            AgentAction::Transfer {
                contact: contact.clone(),
                queue: Some(queue.into()),
                agent: None,
                quick_connect: None,
            },
            AgentAction::Complete {
                contact: contact.clone(),
            },
        ] {
            instance.act(&agent, action).await.unwrap();
        }
        contact
    }
    let x = pass_on(&instance, "carol", "Returns").await;
    assert_eq!(x, ana.contact);
    instance.restart().await;
    pass_on(&instance, "alice", "Billing").await;
    for restarted in [false, true] {
        if restarted {
            // Now two finished contacts lie between the first id and the chat.
            instance.restart().await;
        }
        let (tx, mut frames) = mpsc::channel(1024);
        instance
            .rt()
            .attach_customer(x.clone(), ana.token.clone(), 0, tx)
            .await
            .expect("the first id still reaches the chat");
        next_frame(
            &mut frames,
            |f| matches!(f, CustomerFrame::Message(m) if m.text == "3"),
        )
        .await;
    }
}

#[tokio::test]
async fn the_agent_event_stream_follows_logins_heartbeats_and_logouts() {
    let instance = Instance::start(steady_acme(120)).await;
    let carol = instance.agent("carol").await;
    instance.act(&carol, status("Available")).await.unwrap();
    // Changes go out at the end of a short window (coalesced); then two minutes
    // without a change, and a heartbeat says where carol is.
    instance.advance(1_000).await;
    instance.advance(120_000).await;
    instance
        .rt()
        .detach_agent(carol.user.clone(), carol.session)
        .await;
    let carol = instance.agent("carol").await;
    instance.act(&carol, status("Break")).await.unwrap();
    instance.advance(1_000).await;
    let page = instance
        .store
        .read_stream(sb_store::PublicStream::AgentEvents, 0, 100)
        .unwrap();
    let kinds: Vec<String> = page
        .events
        .iter()
        .map(|e| {
            let event: Value = serde_json::from_str(&e.event.payload).unwrap();
            let status = &event["CurrentAgentSnapshot"]["AgentStatus"]["Name"];
            format!(
                "{} {}",
                event["AgentEventType"].as_str().unwrap(),
                status.as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "LOGIN Offline",
            "STATE_CHANGE Available",
            "HEART_BEAT Available",
            "LOGOUT Offline",
            // Back within two minutes: in the status it had chosen.
            "LOGIN Available",
            "STATE_CHANGE Break",
        ]
    );
}

/// Newcomer review D3: while an offer is pending, the queue flow's "You are number
/// $.Queue.Position in line…" reaches the customer with values, and nothing any flow
/// sends a customer holds a raw `$.` reference.
#[tokio::test]
async fn a_customer_is_never_sent_a_raw_placeholder() {
    let instance = Instance::start(steady_acme(120)).await;
    // In line first: the queue flow tells the place, then waits 30 s.
    let mut ana = instance.chat_to_billing("Ana").await;
    next_frame(
        &mut ana.frames,
        |f| matches!(f, CustomerFrame::Message(m) if m.text.starts_with("You are number")),
    )
    .await;
    instance.advance(25_000).await;
    // Offered to carol 25 s in, who does not answer: the offer is still pending when
    // the hold loop comes round at 30 s.
    let mut carol = instance.agent("carol").await;
    instance.act(&carol, status("Available")).await.unwrap();
    offers(&mut carol, 1).await;
    let mut said = Vec::new();
    for _ in 0..8 {
        instance.advance(1_000).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        while let Ok(frame) = ana.frames.try_recv() {
            if let CustomerFrame::Message(line) = frame {
                said.push(line.text);
            }
        }
    }
    // The loop's second round came while the offer was pending.
    let told: Vec<&String> = said
        .iter()
        .filter(|t| t.starts_with("You are number"))
        .collect();
    assert!(!told.is_empty(), "{said:?}");
    assert!(
        told.iter()
            .all(|t| t.starts_with("You are number 1 in line")),
        "{said:?}"
    );
    assert!(!said.iter().any(|t| t.contains("$.")), "{said:?}");
}

/// Newcomer review D4: the sample's queue flow, its hold loops spent, moves the chat to
/// Escalations (DequeueContactAndTransferToQueue), as Connect and the simulator do.
#[tokio::test]
async fn the_queue_flow_escalates_a_long_wait_to_another_queue() {
    let mut bundle = steady_acme(120);
    for (from, to) in [
        ("\"LoopCount\": \"20\"", "\"LoopCount\": \"1\""),
        (
            "\"TimeLimitSeconds\": \"30\"",
            "\"TimeLimitSeconds\": \"5\"",
        ),
    ] {
        let text = bundle
            .text("flows/queue-hold.json")
            .unwrap()
            .replace(from, to);
        bundle
            .insert("flows/queue-hold.json".into(), text.into_bytes())
            .unwrap();
    }
    let instance = Instance::start(bundle).await;
    let ana = instance.chat_to_billing("Ana").await;
    for _ in 0..12 {
        instance.advance(1_000).await;
    }
    let mut queue = None;
    for _ in 0..200 {
        let live = instance.rt().list_contacts().await.unwrap();
        queue = live
            .iter()
            .find(|c| c.contact_id == ana.contact)
            .and_then(|c| c.queue.clone());
        if queue.as_deref() == Some("Escalations") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(queue.as_deref(), Some("Escalations"));
    assert_eq!(
        instance.stage(&ana.contact).await.map(|s| s.0).as_deref(),
        Some("queued")
    );
}

/// Newcomer review D37: a chat whose customer closed the window and never came back
/// ends after the instance's absence limit (ten minutes by default), in line or not;
/// one whose customer comes back in time goes on.
#[tokio::test]
async fn a_chat_whose_customer_is_gone_ends_after_the_absence_limit() {
    let instance = Instance::start(steady_acme(120)).await;
    let gone = instance.chat_to_billing("Ana").await;
    let back = instance.chat_to_billing("Bea").await;
    instance
        .rt()
        .detach_customer(gone.contact.clone(), gone.session)
        .await;
    instance
        .rt()
        .detach_customer(back.contact.clone(), back.session)
        .await;
    // A question answered after the detaches: the owner has taken them before the
    // clock moves.
    instance.stage(&back.contact).await;
    instance.advance(300_000).await;
    let (tx, _frames) = mpsc::channel(64);
    instance
        .rt()
        .attach_customer(back.contact.clone(), back.token.clone(), 0, tx)
        .await
        .unwrap();
    instance.advance(301_000).await;
    let record = instance
        .record(&gone.contact, |r| r["DisconnectReason"].is_string())
        .await;
    assert_eq!(record["DisconnectReason"], "CUSTOMER_DISCONNECT");
    assert!(
        instance.stage(&back.contact).await.is_some(),
        "the customer who came back is still in line"
    );
}

/// Newcomer review D27: a transfer to a queue that does not exist is bad input (400),
/// like one to an unknown agent or quick connect, not a conflict.
#[tokio::test]
async fn a_transfer_to_an_unknown_queue_is_invalid() {
    let instance = Instance::start(steady_acme(120)).await;
    let ana = instance.chat_to_billing("Ana").await;
    let carol = instance.agent_on_next_chat("carol").await;
    let refused = instance
        .act(
            &carol,
            AgentAction::Transfer {
                contact: ana.contact.clone(),
                queue: Some("Nowhere".into()),
                agent: None,
                quick_connect: None,
            },
        )
        .await;
    assert!(
        matches!(&refused, Err(RuntimeError::Invalid(m)) if m.contains("no queue named 'Nowhere'")),
        "{refused:?}"
    );
    assert_eq!(
        instance.stage(&ana.contact).await.map(|s| s.0).as_deref(),
        Some("connected")
    );
}
