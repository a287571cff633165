//! Connect's routing rules, one scenario each.
#![allow(clippy::identity_op)] // `1 * S` keeps the timelines readable.

use sb_model::Channel;
use sb_routing::*;

use crate::support::*;

fn one_queue() -> Engine {
    Engine::new(config(
        &[("Sales", Some(3))],
        vec![profile(
            "P",
            [1, 2, 1],
            vec![
                entry("Sales", voice(), 1, 0),
                entry("Sales", Channel::Chat, 1, 0),
            ],
        )],
    ))
    .unwrap()
}

#[test]
fn a_contact_goes_to_an_available_agent_and_through_after_contact_work() {
    let mut e = one_queue();
    e.login(0, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    e.drain_outputs();
    e.enqueue(1 * S, "c1", "Sales", voice(), EnqueueOptions::default())
        .unwrap();
    assert_eq!(offers(&e.drain_outputs()), [pair("c1", "ann")]);
    e.accept(2 * S, "ann", "c1").unwrap();
    let out = e.drain_outputs();
    assert!(out.contains(&Output::Dequeued {
        contact: "c1".into(),
        queue: "Sales".into(),
        reason: DequeueReason::ConnectedToAgent
    }));
    e.end(60 * S, "c1").unwrap();
    let snapshot = e.agent_snapshot("ann").unwrap();
    assert_eq!(snapshot.contacts[0].state, SlotState::AfterContactWork);
    e.enqueue(61 * S, "c2", "Sales", voice(), EnqueueOptions::default())
        .unwrap();
    assert!(
        offers(&e.drain_outputs()).is_empty(),
        "no offer during after-contact work on the only voice slot"
    );
    e.after_work_done(70 * S, "ann", "c1").unwrap();
    assert_eq!(offers(&e.drain_outputs()), [pair("c2", "ann")]);
    checked(&e);
}

#[test]
fn the_agent_available_longest_gets_the_contact() {
    let mut e = one_queue();
    e.login(0, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    e.login(5 * S, "bob", agent("P"), AgentStatus::available())
        .unwrap();
    e.login(9 * S, "cat", agent("P"), AgentStatus::available())
        .unwrap();
    e.set_status(10 * S, "ann", AgentStatus::Custom("Break".into()))
        .unwrap();
    e.set_status(11 * S, "ann", AgentStatus::available())
        .unwrap();
    e.drain_outputs();
    e.enqueue(12 * S, "c1", "Sales", voice(), EnqueueOptions::default())
        .unwrap();
    assert_eq!(
        offers(&e.drain_outputs()),
        [pair("c1", "bob")],
        "bob has been available since 5 s; ann only since 11 s"
    );
    checked(&e);
}

#[test]
fn fifo_within_a_queue_adjusted_by_priority_and_time_adjustment() {
    let mut e = Engine::new(config(
        &[("Sales", None)],
        vec![profile(
            "P",
            [1, 2, 1],
            vec![
                entry("Sales", voice(), 1, 0),
                entry("Sales", Channel::Chat, 1, 0),
            ],
        )],
    ))
    .unwrap();
    for (i, (id, opts)) in [
        ("old", EnqueueOptions::default()),
        ("new", EnqueueOptions::default()),
        (
            "vip",
            EnqueueOptions {
                priority: Some(1),
                ..Default::default()
            },
        ),
        (
            "aged",
            EnqueueOptions {
                time_adjustment_seconds: 600,
                ..Default::default()
            },
        ),
    ]
    .into_iter()
    .enumerate()
    {
        e.enqueue(i as i64 * S, id, "Sales", Channel::Chat, opts)
            .unwrap_or_else(|err| panic!("{id}: {err}"));
    }
    e.login(
        20 * S,
        "ann",
        AgentConfig {
            routing_profile: "P".into(),
            proficiencies: vec![],
            acw_timeout_ms: None,
        },
        AgentStatus::available(),
    )
    .unwrap();
    let order: Vec<String> = offers(&e.drain_outputs())
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert_eq!(
        order,
        ["vip", "aged"],
        "two chat slots: priority first, then the adjusted time"
    );
    checked(&e);
}

#[test]
fn queue_capacity_refuses_with_queue_at_capacity() {
    let mut e = one_queue();
    for i in 0..3 {
        e.enqueue(
            0,
            &format!("c{i}"),
            "Sales",
            voice(),
            EnqueueOptions::default(),
        )
        .unwrap();
    }
    let err = e
        .enqueue(0, "c3", "Sales", voice(), EnqueueOptions::default())
        .unwrap_err();
    assert_eq!(
        err,
        RoutingError::QueueAtCapacity {
            queue: "Sales".into(),
            max: 3
        }
    );
    assert_eq!(
        e.enqueue(0, "c0", "Sales", voice(), EnqueueOptions::default())
            .unwrap_err(),
        RoutingError::DuplicateContact("c0".into())
    );
    checked(&e);
}

#[test]
fn priority_beats_delay_and_delay_holds_contacts_back() {
    let cfg = config(
        &[("Billing", None), ("Orders", None)],
        vec![profile(
            "Billing Specialist",
            [1, 0, 0],
            vec![
                entry("Billing", voice(), 1, 0),
                entry("Orders", voice(), 2, 120),
            ],
        )],
    );
    let mut e = Engine::new(cfg).unwrap();
    e.enqueue(0, "order-1", "Orders", voice(), EnqueueOptions::default())
        .unwrap();
    e.login(
        10 * S,
        "carol",
        agent("Billing Specialist"),
        AgentStatus::available(),
    )
    .unwrap();
    assert!(
        offers(&e.drain_outputs()).is_empty(),
        "Orders is delayed 120 s for this profile"
    );
    e.enqueue(
        30 * S,
        "bill-1",
        "Billing",
        voice(),
        EnqueueOptions::default(),
    )
    .unwrap();
    assert_eq!(offers(&e.drain_outputs()), [pair("bill-1", "carol")]);
    e.accept(31 * S, "carol", "bill-1").unwrap();
    e.end(100 * S, "bill-1").unwrap();
    e.enqueue(
        110 * S,
        "bill-2",
        "Billing",
        voice(),
        EnqueueOptions::default(),
    )
    .unwrap();
    e.after_work_done(125 * S, "carol", "bill-1").unwrap();
    assert_eq!(
        offers(&e.drain_outputs()),
        [pair("bill-2", "carol")],
        "priority 1 Billing before the older (and now eligible) order"
    );
    e.reject(126 * S, "carol", "bill-2").unwrap();
    let out = offers(&e.drain_outputs());
    assert_eq!(
        out,
        [pair("order-1", "carol")],
        "after rejecting, the order (waited ≥ 120 s) is next: {out:?}"
    );
    checked(&e);
}

#[test]
fn a_delay_passing_routes_the_contact_by_itself() {
    let cfg = config(
        &[("Orders", None)],
        vec![profile(
            "Late",
            [1, 0, 0],
            vec![entry("Orders", voice(), 1, 30)],
        )],
    );
    let mut e = Engine::new(cfg).unwrap();
    e.login(0, "dan", agent("Late"), AgentStatus::available())
        .unwrap();
    e.enqueue(0, "c", "Orders", voice(), EnqueueOptions::default())
        .unwrap();
    e.tick(29 * S);
    assert!(offers(&e.drain_outputs()).is_empty());
    checked(&e);
    e.tick(30 * S);
    assert_eq!(offers(&e.drain_outputs()), [pair("c", "dan")]);
}

#[test]
fn a_contact_back_after_a_restart_keeps_its_wait_for_places_and_delays() {
    let cfg = config(
        &[("Orders", None)],
        vec![profile(
            "Late",
            [1, 0, 0],
            vec![entry("Orders", voice(), 1, 30)],
        )],
    );
    let mut e = Engine::new(cfg).unwrap();
    e.login(100 * S, "dan", agent("Late"), AgentStatus::available())
        .unwrap();
    // Back in line at 100 s: "old" had waited 20 s, "new" 5 s; "new" comes back first.
    let waited = |s: i64| EnqueueOptions {
        waited_ms: s * S,
        ..EnqueueOptions::default()
    };
    e.enqueue(100 * S, "new", "Orders", voice(), waited(5))
        .unwrap();
    e.enqueue(100 * S, "old", "Orders", voice(), waited(20))
        .unwrap();
    assert_eq!(e.position("old").unwrap().position, 1);
    // The profile's 30 s delay counts the wait before: "old" is offered at 110 s.
    e.tick(109 * S);
    assert!(offers(&e.drain_outputs()).is_empty());
    e.tick(110 * S);
    assert_eq!(offers(&e.drain_outputs()), [pair("old", "dan")]);
    checked(&e);
}

#[test]
fn a_missed_offer_keeps_the_contacts_place_and_parks_the_agent() {
    let mut e = one_queue();
    e.login(0, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    e.enqueue(1 * S, "first", "Sales", voice(), EnqueueOptions::default())
        .unwrap();
    e.enqueue(2 * S, "second", "Sales", voice(), EnqueueOptions::default())
        .unwrap();
    e.drain_outputs();
    e.tick(22 * S);
    let out = e.drain_outputs();
    assert!(out.iter().any(|o| matches!(
        o,
        Output::OfferWithdrawn {
            reason: WithdrawReason::Missed,
            ..
        }
    )));
    assert!(e.agent_snapshot("ann").unwrap().missed);
    assert!(
        offers(&out).is_empty(),
        "the agent who missed is not routable"
    );
    e.login(23 * S, "bob", agent("P"), AgentStatus::available())
        .unwrap();
    assert_eq!(
        offers(&e.drain_outputs()),
        [pair("first", "bob")],
        "first keeps its place ahead of second"
    );
    e.set_status(24 * S, "ann", AgentStatus::available())
        .unwrap();
    assert_eq!(offers(&e.drain_outputs()), [pair("second", "ann")]);
    checked(&e);
}

#[test]
fn a_next_status_waits_for_the_contact_to_finish() {
    let mut e = one_queue();
    e.login(0, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    e.enqueue(0, "c1", "Sales", Channel::Chat, EnqueueOptions::default())
        .unwrap();
    e.accept(1 * S, "ann", "c1").unwrap();
    e.set_status(2 * S, "ann", AgentStatus::Custom("Lunch".into()))
        .unwrap();
    e.drain_outputs();
    let snap = e.agent_snapshot("ann").unwrap();
    assert_eq!(
        (snap.status, snap.next_status),
        (
            AgentStatus::available(),
            Some(AgentStatus::Custom("Lunch".into()))
        )
    );
    e.enqueue(
        3 * S,
        "c2",
        "Sales",
        Channel::Chat,
        EnqueueOptions::default(),
    )
    .unwrap();
    assert!(
        offers(&e.drain_outputs()).is_empty(),
        "no new contacts once a next status is set"
    );
    e.end(4 * S, "c1").unwrap();
    e.after_work_done(5 * S, "ann", "c1").unwrap();
    assert_eq!(
        e.agent_snapshot("ann").unwrap().status,
        AgentStatus::Custom("Lunch".into())
    );
    assert_eq!(
        e.set_status(6 * S, "ann", AgentStatus::Custom("Nap".into()))
            .unwrap_err(),
        RoutingError::UnknownStatus("Nap".into())
    );
    checked(&e);
}

#[test]
fn after_contact_work_ends_at_the_users_timeout() {
    let mut e = one_queue();
    e.login(
        0,
        "ann",
        AgentConfig {
            acw_timeout_ms: Some(30 * S),
            ..agent("P")
        },
        AgentStatus::available(),
    )
    .unwrap();
    e.enqueue(0, "c1", "Sales", voice(), EnqueueOptions::default())
        .unwrap();
    e.accept(1 * S, "ann", "c1").unwrap();
    e.end(10 * S, "c1").unwrap();
    e.tick(39 * S);
    assert_eq!(e.agent_snapshot("ann").unwrap().contacts.len(), 1);
    e.tick(40 * S);
    assert!(e
        .drain_outputs()
        .iter()
        .any(|o| matches!(o, Output::AfterContactWorkTimedOut { .. })));
    assert!(e.agent_snapshot("ann").unwrap().contacts.is_empty());
    checked(&e);
}

#[test]
fn adopted_after_contact_work_keeps_its_time_limit_from_when_it_began() {
    let mut e = one_queue();
    let ann = AgentConfig {
        acw_timeout_ms: Some(30 * S),
        ..agent("P")
    };
    e.login(100 * S, "ann", ann, AgentStatus::Offline).unwrap();
    let held = |contact, since| HeldContact {
        contact,
        queue: "Sales",
        channel: voice(),
        connected_since: 0,
        after_work_since: Some(since),
    };
    // Began at 80 s: 10 s of its 30 are left. Began at 60 s: already over.
    e.adopt(100 * S, "ann", held("late", 80 * S)).unwrap();
    e.adopt(100 * S, "ann", held("over", 60 * S)).unwrap();
    e.tick(100 * S);
    let timed_out = |e: &mut Engine| -> Vec<String> {
        e.drain_outputs()
            .into_iter()
            .filter_map(|o| match o {
                Output::AfterContactWorkTimedOut { contact, .. } => Some(contact),
                _ => None,
            })
            .collect()
    };
    assert_eq!(timed_out(&mut e), ["over"]);
    e.tick(109 * S);
    assert!(timed_out(&mut e).is_empty());
    e.tick(110 * S);
    assert_eq!(timed_out(&mut e), ["late"]);
    assert!(e.agent_snapshot("ann").unwrap().contacts.is_empty());
    checked(&e);
}

#[test]
fn concurrency_and_cross_channel() {
    let mut e = one_queue();
    e.login(0, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    for i in 0..3 {
        e.enqueue(
            0,
            &format!("chat{i}"),
            "Sales",
            Channel::Chat,
            EnqueueOptions::default(),
        )
        .unwrap();
    }
    assert_eq!(offers(&e.drain_outputs()).len(), 2, "chat concurrency 2");
    e.accept(1 * S, "ann", "chat0").unwrap();
    e.accept(1 * S, "ann", "chat1").unwrap();
    e.end(2 * S, "chat2").unwrap();
    e.enqueue(2 * S, "call", "Sales", voice(), EnqueueOptions::default())
        .unwrap();
    assert!(
        offers(&e.drain_outputs()).is_empty(),
        "no voice while on chats without cross-channel routing"
    );
    checked(&e);
}

#[test]
fn agent_queues_go_to_one_agent_and_hold_ten() {
    let mut e = one_queue();
    e.login(0, "ann", agent("P"), AgentStatus::Custom("Break".into()))
        .unwrap();
    e.login(0, "bob", agent("P"), AgentStatus::available())
        .unwrap();
    for i in 0..10 {
        e.enqueue_for_agent(
            1 * S,
            &format!("p{i}"),
            "ann",
            "Sales",
            voice(),
            EnqueueOptions::default(),
        )
        .unwrap();
    }
    let err = e
        .enqueue_for_agent(
            1 * S,
            "p10",
            "ann",
            "Sales",
            voice(),
            EnqueueOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, RoutingError::QueueAtCapacity { .. }), "{err}");
    assert!(
        offers(&e.drain_outputs()).is_empty(),
        "bob never gets ann's contacts"
    );
    checked(&e);
    e.set_status(2 * S, "ann", AgentStatus::available())
        .unwrap();
    assert_eq!(offers(&e.drain_outputs()), [pair("p0", "ann")]);
    checked(&e);
}

#[test]
fn routing_criteria_steps_then_anyone() {
    let cfg = config(
        &[("Support", None)],
        vec![profile(
            "P",
            [1, 0, 0],
            vec![entry("Support", voice(), 1, 0)],
        )],
    );
    let mut e = Engine::new(cfg).unwrap();
    let french = |level| AgentConfig {
        proficiencies: vec![sb_model::config::Proficiency {
            name: sb_model::Name::new("Language").unwrap(),
            value: "French".into(),
            level,
        }],
        ..agent("P")
    };
    e.login(0, "novice", french(2), AgentStatus::available())
        .unwrap();
    e.login(0, "nobody", agent("P"), AgentStatus::available())
        .unwrap();
    let criteria = RoutingCriteria {
        steps: vec![
            RoutingStep {
                expression: Expression::Attribute {
                    name: "Language".into(),
                    value: "French".into(),
                    min_level: 4,
                },
                expires_after_ms: Some(30 * S),
            },
            RoutingStep {
                expression: Expression::Attribute {
                    name: "Language".into(),
                    value: "French".into(),
                    min_level: 2,
                },
                expires_after_ms: Some(30 * S),
            },
        ],
    };
    e.enqueue(
        0,
        "c",
        "Support",
        voice(),
        EnqueueOptions {
            criteria: Some(criteria),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(offers(&e.drain_outputs()).is_empty());
    let why = e.explain_contact("c").unwrap();
    assert!(
        why.agents_by_reason
            .iter()
            .any(|(r, n)| r.contains("lacks the proficiencies") && *n == 2),
        "{why:?}"
    );
    checked(&e);
    e.tick(30 * S);
    assert_eq!(
        offers(&e.drain_outputs()),
        [pair("c", "novice")],
        "step 2 admits level 2"
    );
    e.reject(31 * S, "novice", "c").unwrap();
    e.tick(60 * S);
    assert_eq!(
        offers(&e.drain_outputs()),
        [pair("c", "nobody")],
        "after the last step, anyone"
    );
    checked(&e);
}

/// Preferred agents: only they may take the contact while the step lasts — even when
/// another agent has been available longer — then the queue's agents do.
#[test]
fn preferred_agents_first_then_the_queue() {
    let mut e = one_queue();
    e.login(0, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    e.login(5 * S, "bea", agent("P"), AgentStatus::available())
        .unwrap();
    e.set_status(6 * S, "bea", AgentStatus::Offline).unwrap();
    let criteria = RoutingCriteria {
        steps: vec![RoutingStep {
            expression: Expression::Agents(vec!["bea".into()]),
            expires_after_ms: Some(30 * S),
        }],
    };
    e.enqueue(
        10 * S,
        "c",
        "Sales",
        voice(),
        EnqueueOptions {
            criteria: Some(criteria),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        offers(&e.drain_outputs()).is_empty(),
        "ann waits longest but is not preferred"
    );
    let why = e.explain_contact("c").unwrap();
    assert!(
        why.agents_by_reason
            .iter()
            .any(|(r, n)| r.contains("not a preferred agent") && *n == 1),
        "{why:?}"
    );
    e.set_status(20 * S, "bea", AgentStatus::available())
        .unwrap();
    assert_eq!(offers(&e.drain_outputs()), [pair("c", "bea")]);
    checked(&e);
    e.reject(21 * S, "bea", "c").unwrap();
    e.tick(40 * S);
    assert_eq!(
        offers(&e.drain_outputs()),
        [pair("c", "ann")],
        "the step expired: the queue's agents"
    );
    checked(&e);
}

#[test]
fn queued_callbacks_wait_then_retry_then_expire() {
    let mut e = one_queue();
    e.login(0, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    let cb = EnqueueOptions {
        not_before: Some(60 * S),
        callback: Some(CallbackPolicy {
            attempts_left: 2,
            retry_gap_ms: 300 * S,
        }),
        ..Default::default()
    };
    e.enqueue(0, "cb", "Sales", voice(), cb).unwrap();
    assert!(offers(&e.drain_outputs()).is_empty(), "initial delay");
    e.tick(60 * S);
    let out = e.drain_outputs();
    assert!(out.contains(&Output::CallbackDue {
        contact: "cb".into(),
        queue: "Sales".into()
    }));
    assert_eq!(offers(&out), [pair("cb", "ann")]);
    e.accept(61 * S, "ann", "cb").unwrap();
    e.callback_failed(90 * S, "cb").unwrap();
    e.tick(389 * S);
    assert!(
        offers(&e.drain_outputs()).is_empty(),
        "minimum gap between attempts"
    );
    e.tick(390 * S);
    assert_eq!(offers(&e.drain_outputs()), [pair("cb", "ann")]);
    e.accept(391 * S, "ann", "cb").unwrap();
    e.callback_failed(400 * S, "cb").unwrap();
    assert!(e.drain_outputs().contains(&Output::Dequeued {
        contact: "cb".into(),
        queue: "Sales".into(),
        reason: DequeueReason::Expired
    }));
    checked(&e);
}

#[test]
fn transfers_and_bad_commands() {
    let cfg = config(
        &[("Sales", None), ("Billing", None)],
        vec![profile(
            "P",
            [1, 0, 0],
            vec![
                entry("Sales", voice(), 1, 0),
                entry("Billing", voice(), 2, 0),
            ],
        )],
    );
    let mut e = Engine::new(cfg).unwrap();
    e.login(0, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    e.login(0, "bob", agent("P"), AgentStatus::available())
        .unwrap();
    e.enqueue(0, "c", "Sales", voice(), EnqueueOptions::default())
        .unwrap();
    e.accept(1 * S, "ann", "c").unwrap();
    e.drain_outputs();
    e.transfer(2 * S, "c", "c-2", "Billing", EnqueueOptions::default())
        .unwrap();
    assert_eq!(offers(&e.drain_outputs()), [pair("c-2", "bob")]);
    assert_eq!(
        e.agent_snapshot("ann").unwrap().contacts[0].state,
        SlotState::AfterContactWork
    );
    assert_eq!(
        e.accept(3 * S, "ann", "c-2").unwrap_err(),
        RoutingError::NoSuchOffer {
            agent: "ann".into(),
            contact: "c-2".into()
        }
    );
    assert_eq!(
        e.accept(3 * S, "zed", "c-2").unwrap_err(),
        RoutingError::UnknownAgent("zed".into())
    );
    assert_eq!(
        e.end(3 * S, "nope").unwrap_err(),
        RoutingError::UnknownContact("nope".into())
    );
    assert_eq!(
        e.enqueue(3 * S, "x", "Nowhere", voice(), EnqueueOptions::default())
            .unwrap_err(),
        RoutingError::UnknownQueue("Nowhere".into())
    );
    assert_eq!(
        e.logout(3 * S, "ann").unwrap_err(),
        RoutingError::AgentBusy("ann".into())
    );
    checked(&e);
}

#[test]
fn removing_a_queue_with_contacts_drains_it() {
    let cfg = config(
        &[("Old", None), ("New", None)],
        vec![profile(
            "P",
            [1, 0, 0],
            vec![entry("Old", voice(), 1, 0), entry("New", voice(), 1, 0)],
        )],
    );
    let mut e = Engine::new(cfg).unwrap();
    e.enqueue(0, "stuck", "Old", voice(), EnqueueOptions::default())
        .unwrap();
    let smaller = config(
        &[("New", None)],
        vec![profile("P", [1, 0, 0], vec![entry("New", voice(), 1, 0)])],
    );
    e.reconfigure(1 * S, smaller).unwrap();
    assert_eq!(
        e.enqueue(2 * S, "late", "Old", voice(), EnqueueOptions::default())
            .unwrap_err(),
        RoutingError::QueueDraining("Old".into())
    );
    e.login(3 * S, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    assert_eq!(
        offers(&e.drain_outputs()),
        [pair("stuck", "ann")],
        "never dropped: still served"
    );
    checked(&e);
}

#[test]
fn positions_and_estimated_waits() {
    let mut e = one_queue();
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        e.enqueue(
            i as i64 * S,
            id,
            "Sales",
            voice(),
            EnqueueOptions::default(),
        )
        .unwrap();
    }
    let (a, c) = (e.position("a").unwrap(), e.position("c").unwrap());
    assert_eq!((a.position, c.position), (1, 3));
    assert_eq!(
        (a.estimated_wait_ms, c.estimated_wait_ms),
        (None, None),
        "nobody staffed: the wait is unknown, not a guess"
    );
    // Ann logs in and takes a (one voice contact at a time): she is staffed, so the
    // two behind her get estimates, the later one longer.
    e.login(5 * S, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    assert_eq!(offers(&e.drain_outputs()), [pair("a", "ann")]);
    e.accept(6 * S, "ann", "a").unwrap();
    let (b, c) = (e.position("b").unwrap(), e.position("c").unwrap());
    assert_eq!((b.position, c.position), (1, 2));
    assert!(b.estimated_wait_ms.is_some(), "{b:?}");
    assert!(c.estimated_wait_ms > b.estimated_wait_ms, "{b:?} {c:?}");
    e.end(7 * S, "b").unwrap();
    assert_eq!(e.position("c").unwrap().position, 1, "the line moves");
}

#[test]
fn each_offer_is_explained() {
    let mut e = one_queue();
    e.login(0, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    e.enqueue(1 * S, "c1", "Sales", voice(), EnqueueOptions::default())
        .unwrap();
    let why = e.explain_offer("c1").unwrap();
    assert_eq!((why.agent.as_str(), why.queue.as_str()), ("ann", "Sales"));
    // In spans people read (newcomer review D36: it said "since 1796633292270 ms").
    assert!(
        why.reason().contains("had been available for 1.0 s"),
        "{}",
        why.reason()
    );
}

#[test]
fn a_restarted_runtime_gives_agents_their_contacts_back() {
    let mut e = one_queue();
    e.login(0, "ann", agent("P"), AgentStatus::available())
        .unwrap();
    let held = |contact| HeldContact {
        contact,
        queue: "Sales",
        channel: voice(),
        connected_since: 0,
        after_work_since: None,
    };
    e.adopt(S, "ann", held("ongoing")).unwrap();
    e.enqueue(2 * S, "next", "Sales", voice(), EnqueueOptions::default())
        .unwrap();
    assert!(
        offers(&e.drain_outputs()).is_empty(),
        "the adopted call fills ann's voice slot"
    );
    e.end(3 * S, "ongoing").unwrap();
    e.after_work_done(4 * S, "ann", "ongoing").unwrap();
    assert_eq!(offers(&e.drain_outputs()), [pair("next", "ann")]);
    assert_eq!(
        e.adopt(5 * S, "ann", held("next")).unwrap_err(),
        RoutingError::DuplicateContact("next".into())
    );
    checked(&e);
}

/// DequeueContactAndTransferToQueue: a waiting contact moves to another queue under its
/// own id and is offered from there; a full queue refuses it and nothing changes; one
/// being offered stays with its offer.
#[test]
fn a_queue_flow_moves_a_waiting_contact_to_another_queue() {
    let mut e = Engine::new(config(
        &[("Orders", None), ("Escalations", Some(1))],
        vec![profile(
            "Esc",
            [1, 1, 1],
            vec![entry("Escalations", Channel::Chat, 1, 0)],
        )],
    ))
    .unwrap();
    e.enqueue(0, "c1", "Orders", Channel::Chat, EnqueueOptions::default())
        .unwrap();
    e.enqueue(
        0,
        "c0",
        "Escalations",
        Channel::Chat,
        EnqueueOptions::default(),
    )
    .unwrap();
    e.drain_outputs();
    // Escalations is full (one at most): c1 stays in Orders.
    assert!(matches!(
        e.move_to_queue(1 * S, "c1", "Escalations", EnqueueOptions::default()),
        Err(RoutingError::QueueAtCapacity { .. })
    ));
    assert!(e.drain_outputs().is_empty(), "nothing changed");
    e.end(2 * S, "c0").unwrap();
    e.move_to_queue(3 * S, "c1", "Escalations", EnqueueOptions::default())
        .unwrap();
    let out = e.drain_outputs();
    assert!(out.contains(&Output::Dequeued {
        contact: "c1".into(),
        queue: "Orders".into(),
        reason: DequeueReason::Transferred
    }));
    e.login(4 * S, "eve", agent("Esc"), AgentStatus::available())
        .unwrap();
    assert_eq!(offers(&e.drain_outputs()), [pair("c1", "eve")]);
    assert!(matches!(
        e.move_to_queue(5 * S, "c1", "Orders", EnqueueOptions::default()),
        Err(RoutingError::NotWaiting(_))
    ));
    checked(&e);
}

/// Newcomer review D28: a contact in a queue no profile serves on its channel, or one
/// no agent of a serving profile is logged in for, is explained as such.
#[test]
fn an_unserved_or_unstaffed_line_is_explained() {
    let mut e = one_queue();
    e.enqueue(0, "t", "Sales", Channel::Task, EnqueueOptions::default())
        .unwrap();
    let why = e.explain_contact("t").unwrap();
    assert_eq!(
        why.note.as_deref(),
        Some("no routing profile serves Sales for TASK: the contact is never offered; add the queue to a profile or transfer the contact"),
        "{why:?}"
    );
    e.enqueue(0, "v", "Sales", voice(), EnqueueOptions::default())
        .unwrap();
    let why = e.explain_contact("v").unwrap();
    assert_eq!(
        why.note.as_deref(),
        Some("no agent whose routing profile serves Sales for VOICE is logged in"),
        "{why:?}"
    );
    e.login(
        1 * S,
        "ann",
        agent("P"),
        AgentStatus::Custom("Break".into()),
    )
    .unwrap();
    let why = e.explain_contact("v").unwrap();
    assert_eq!(why.note, None, "{why:?}");
    assert_eq!(why.agents_by_reason, vec![("in status Break".into(), 1)]);
}
