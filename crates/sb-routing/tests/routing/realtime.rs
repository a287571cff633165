//! Real-time metrics over a small center: each metric's definition, groupings, filters.
#![allow(clippy::identity_op)] // `1 * S` reads as "one second" beside `3 * S`

use sb_model::Channel;
use sb_routing::realtime::{current_metrics, Grouping, MetricFilter, MetricRow};
use sb_routing::*;

use crate::support::*;

fn center() -> Engine {
    let mut e = Engine::new(config(
        &[("Sales", None), ("Support", None)],
        vec![
            profile(
                "Front",
                [1, 2, 0],
                vec![
                    entry("Sales", Channel::Voice, 1, 0),
                    entry("Sales", Channel::Chat, 1, 0),
                ],
            ),
            profile(
                "Back",
                [1, 0, 0],
                vec![entry("Support", Channel::Voice, 1, 0)],
            ),
        ],
    ))
    .unwrap();
    e.login(0, "ann", agent("Front"), AgentStatus::available())
        .unwrap();
    e.login(
        0,
        "bob",
        agent("Front"),
        AgentStatus::Custom("Break".into()),
    )
    .unwrap();
    e.login(0, "cat", agent("Back"), AgentStatus::available())
        .unwrap();
    e
}

fn one(rows: &[MetricRow], metric: &str) -> u64 {
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0].metrics[metric]
}

#[test]
fn each_metric_follows_its_definition() {
    let mut e = center();
    // ann takes a chat (one of her two chat slots); cat's voice contact waits for him
    // to accept; two voice calls wait in Sales, where only ann (busy on chat, no
    // cross-channel) could take them.
    e.enqueue(
        1 * S,
        "chat-1",
        "Sales",
        Channel::Chat,
        EnqueueOptions::default(),
    )
    .unwrap();
    e.accept(2 * S, "ann", "chat-1").unwrap();
    e.enqueue(
        3 * S,
        "call-1",
        "Sales",
        Channel::Voice,
        EnqueueOptions::default(),
    )
    .unwrap();
    e.enqueue(
        5 * S,
        "call-2",
        "Sales",
        Channel::Voice,
        EnqueueOptions::default(),
    )
    .unwrap();
    e.enqueue(
        6 * S,
        "call-3",
        "Support",
        Channel::Voice,
        EnqueueOptions::default(),
    )
    .unwrap();
    let snapshot = e.realtime_snapshot(1);
    let all = current_metrics(&snapshot, &MetricFilter::default(), &[], 10 * S);
    assert_eq!(one(&all, "AGENTS_ONLINE"), 3);
    assert_eq!(one(&all, "AGENTS_NON_PRODUCTIVE"), 1, "bob on Break");
    assert_eq!(
        one(&all, "AGENTS_STAFFED"),
        2,
        "ann and cat; bob's break is not staffed"
    );
    assert_eq!(one(&all, "AGENTS_ON_CONTACT"), 1, "ann");
    assert_eq!(
        one(&all, "AGENTS_AVAILABLE"),
        1,
        "ann still has a chat slot; cat is offered"
    );
    assert_eq!(
        one(&all, "CONTACTS_IN_QUEUE"),
        3,
        "two calls waiting, one offered"
    );
    assert_eq!(
        one(&all, "OLDEST_CONTACT_AGE"),
        7,
        "call-1 since 3 s, seen at 10 s"
    );
    assert_eq!(one(&all, "SLOTS_ACTIVE"), 2, "ann's chat and cat's offer");
    assert_eq!(one(&all, "SLOTS_AVAILABLE"), 1, "ann's second chat slot");
    assert_eq!(one(&all, "AGENTS_ERROR"), 0);

    // cat lets the offer expire: he is in error (missed), and the call waits again.
    e.tick(30 * S);
    let rows = current_metrics(
        &e.realtime_snapshot(2),
        &MetricFilter::default(),
        &[],
        30 * S,
    );
    assert_eq!(one(&rows, "AGENTS_ERROR"), 1);
    assert_eq!(one(&rows, "SLOTS_ACTIVE"), 1);

    // ann, on her chat, chooses Break for after it: she is offered nothing new, so she
    // is not available and her second chat slot is not free (the engine's own test of
    // an agent that takes contacts, not a second definition of it).
    e.set_status(31 * S, "ann", AgentStatus::Custom("Break".into()))
        .unwrap();
    let rows = current_metrics(
        &e.realtime_snapshot(3),
        &MetricFilter::default(),
        &[],
        31 * S,
    );
    assert_eq!(one(&rows, "AGENTS_AVAILABLE"), 0, "{rows:?}");
    assert_eq!(one(&rows, "SLOTS_AVAILABLE"), 0, "{rows:?}");
    assert_eq!(one(&rows, "AGENTS_ON_CONTACT"), 1, "still on her chat");
}

#[test]
fn groups_by_queue_and_channel_and_filters_by_profile() {
    let mut e = center();
    e.enqueue(
        1 * S,
        "chat-1",
        "Sales",
        Channel::Chat,
        EnqueueOptions::default(),
    )
    .unwrap();
    e.accept(2 * S, "ann", "chat-1").unwrap();
    e.enqueue(
        3 * S,
        "call-1",
        "Sales",
        Channel::Voice,
        EnqueueOptions::default(),
    )
    .unwrap();
    let snapshot = e.realtime_snapshot(1);
    let rows = current_metrics(
        &snapshot,
        &MetricFilter::default(),
        &[Grouping::Queue, Grouping::Channel],
        4 * S,
    );
    let find = |queue: &str, channel: &str| {
        rows.iter()
            .find(|r| {
                r.dimensions[&Grouping::Queue] == queue
                    && r.dimensions[&Grouping::Channel] == channel
            })
            .unwrap_or_else(|| panic!("no row {queue}/{channel}: {rows:?}"))
    };
    assert_eq!(
        rows.len(),
        3,
        "Sales voice, Sales chat, Support voice: {rows:?}"
    );
    let sales_chat = find("Sales", "CHAT");
    assert_eq!(sales_chat.metrics["AGENTS_ONLINE"], 2, "ann and bob");
    assert_eq!(sales_chat.metrics["SLOTS_ACTIVE"], 1);
    assert_eq!(sales_chat.metrics["SLOTS_AVAILABLE"], 1);
    let sales_voice = find("Sales", "VOICE");
    assert_eq!(sales_voice.metrics["CONTACTS_IN_QUEUE"], 1);
    assert_eq!(
        sales_voice.metrics["SLOTS_AVAILABLE"], 0,
        "ann is on chat, no cross-channel"
    );
    let support = find("Support", "VOICE");
    assert_eq!(
        support.metrics["AGENTS_AVAILABLE"], 1,
        "cat, with zeros elsewhere"
    );
    assert_eq!(support.metrics["CONTACTS_IN_QUEUE"], 0);

    let back_only = MetricFilter {
        routing_profiles: Some(["Back".to_string()].into()),
        ..MetricFilter::default()
    };
    let rows = current_metrics(&snapshot, &back_only, &[Grouping::RoutingProfile], 4 * S);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].dimensions[&Grouping::RoutingProfile], "Back");
    assert_eq!(rows[0].metrics["AGENTS_ONLINE"], 1);
    assert_eq!(
        rows[0].metrics["CONTACTS_IN_QUEUE"], 0,
        "the Sales call is not Back's"
    );
}

#[test]
fn scheduled_callbacks_count_until_due() {
    let mut e = center();
    let callback = EnqueueOptions {
        not_before: Some(60 * S),
        callback: Some(CallbackPolicy {
            attempts_left: 1,
            retry_gap_ms: 60 * S,
        }),
        ..EnqueueOptions::default()
    };
    e.enqueue(0, "cb-1", "Support", Channel::Voice, callback)
        .unwrap();
    let rows = current_metrics(&e.realtime_snapshot(1), &MetricFilter::default(), &[], S);
    assert_eq!(one(&rows, "CONTACTS_SCHEDULED"), 1);
    assert_eq!(one(&rows, "CONTACTS_IN_QUEUE"), 0);
}
