//! Random command sequences, including nonsense ones: every command either works or
//! returns a typed error, and every invariant holds after each.

use proptest::prelude::*;
use sb_model::Channel;
use sb_routing::*;

use crate::support::*;

#[derive(Debug, Clone)]
enum Op {
    Login(usize, usize),
    Logout(usize),
    Status(usize, u8),
    Enqueue(usize, usize, usize, u8),
    EnqueueForAgent(usize, usize),
    Accept(usize, usize),
    Reject(usize, usize),
    End(usize),
    AfterWork(usize, usize),
    Transfer(usize, usize, usize),
    Tick(u16),
}

const AGENTS: usize = 6;
const CONTACTS: usize = 30;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..AGENTS, 0..3usize).prop_map(|(a, p)| Op::Login(a, p)),
        (0..AGENTS).prop_map(Op::Logout),
        (0..AGENTS, 0..4u8).prop_map(|(a, s)| Op::Status(a, s)),
        (0..CONTACTS, 0..3usize, 0..2usize, 1..8u8)
            .prop_map(|(c, q, ch, p)| Op::Enqueue(c, q, ch, p)),
        (0..CONTACTS, 0..AGENTS).prop_map(|(c, a)| Op::EnqueueForAgent(c, a)),
        (0..AGENTS, 0..CONTACTS).prop_map(|(a, c)| Op::Accept(a, c)),
        (0..AGENTS, 0..CONTACTS).prop_map(|(a, c)| Op::Reject(a, c)),
        (0..CONTACTS).prop_map(Op::End),
        (0..AGENTS, 0..CONTACTS).prop_map(|(a, c)| Op::AfterWork(a, c)),
        (0..CONTACTS, 0..CONTACTS, 0..3usize).prop_map(|(c, n, q)| Op::Transfer(c, n, q)),
        (0..40_000u16).prop_map(Op::Tick),
    ]
}

fn engine() -> Engine {
    let queues = [("A", Some(8)), ("B", None), ("C", Some(3))];
    let profiles = vec![
        profile(
            "One",
            [1, 2, 0],
            vec![
                entry("A", Channel::Voice, 1, 0),
                entry("B", Channel::Voice, 2, 10),
                entry("A", Channel::Chat, 1, 0),
            ],
        ),
        ProfileConfig {
            cross_channel: true,
            ..profile(
                "Two",
                [1, 3, 0],
                vec![
                    entry("B", Channel::Chat, 1, 0),
                    entry("C", Channel::Voice, 1, 5),
                    entry("B", Channel::Voice, 1, 0),
                ],
            )
        },
        profile(
            "Three",
            [1, 1, 0],
            vec![
                entry("C", Channel::Voice, 3, 0),
                entry("C", Channel::Chat, 1, 0),
                entry("A", Channel::Voice, 2, 30),
            ],
        ),
    ];
    let mut cfg = config(&queues, profiles);
    cfg.offer_timeout_ms = [8_000, 8_000, 8_000];
    let mut e = Engine::new(cfg).unwrap();
    e.enable_offer_audit();
    e
}

fn apply(e: &mut Engine, now: &mut Millis, op: &Op) {
    let agent = |a: usize| format!("agent{a}");
    let contact = |c: usize| format!("contact{c}");
    let queue = |q: usize| ["A", "B", "C"][q];
    let channel = |ch: usize| [Channel::Voice, Channel::Chat][ch];
    let statuses = [
        AgentStatus::available(),
        AgentStatus::Custom("Break".into()),
        AgentStatus::Offline,
        AgentStatus::Custom("Undefined".into()),
    ];
    let profiles = ["One", "Two", "Three"];
    *now += 250;
    // Errors are fine (the point is that they are typed and change nothing); panics are not.
    let _ = match op {
        Op::Login(a, p) => e.login(
            *now,
            &agent(*a),
            AgentConfig {
                acw_timeout_ms: Some(15_000),
                ..crate::support::agent(profiles[*p])
            },
            AgentStatus::available(),
        ),
        Op::Logout(a) => e.logout(*now, &agent(*a)),
        Op::Status(a, s) => e.set_status(*now, &agent(*a), statuses[*s as usize].clone()),
        Op::Enqueue(c, q, ch, p) => e.enqueue(
            *now,
            &contact(*c),
            queue(*q),
            channel(*ch),
            EnqueueOptions {
                priority: Some(*p as u32),
                ..Default::default()
            },
        ),
        Op::EnqueueForAgent(c, a) => e.enqueue_for_agent(
            *now,
            &contact(*c),
            &agent(*a),
            "A",
            Channel::Voice,
            EnqueueOptions::default(),
        ),
        Op::Accept(a, c) => e.accept(*now, &agent(*a), &contact(*c)),
        Op::Reject(a, c) => e.reject(*now, &agent(*a), &contact(*c)),
        Op::End(c) => e.end(*now, &contact(*c)),
        Op::AfterWork(a, c) => e.after_work_done(*now, &agent(*a), &contact(*c)),
        Op::Transfer(c, n, q) => e.transfer(
            *now,
            &contact(*c),
            &format!("moved{n}"),
            queue(*q),
            EnqueueOptions::default(),
        ),
        Op::Tick(dt) => {
            *now += Millis::from(*dt);
            e.tick(*now);
            Ok(())
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_command(ops in proptest::collection::vec(op(), 1..120)) {
        let mut e = engine();
        let mut now = 0;
        for (i, op) in ops.iter().enumerate() {
            apply(&mut e, &mut now, op);
            e.drain_outputs();
            if let Some(broken) = e.take_offer_audit().first() {
                prop_assert!(false, "during op {i} {op:?}: {broken}");
            }
            if let Err(broken) = e.check_invariants() {
                prop_assert!(false, "after op {i} {op:?}: {broken}");
            }
        }
    }

    #[test]
    fn the_same_commands_give_the_same_outputs(ops in proptest::collection::vec(op(), 1..80)) {
        let (mut a, mut b) = (engine(), engine());
        let (mut ta, mut tb) = (0, 0);
        for op in &ops {
            apply(&mut a, &mut ta, op);
            apply(&mut b, &mut tb, op);
            prop_assert_eq!(a.drain_outputs(), b.drain_outputs());
        }
    }
}
