use sb_model::Channel;
use sb_routing::*;

pub(crate) const S: Millis = 1000;

pub(crate) fn entry(queue: &str, channel: Channel, priority: u8, delay_s: i64) -> ProfileEntry {
    ProfileEntry {
        queue: queue.into(),
        channel,
        priority,
        delay_ms: delay_s * S,
    }
}

pub(crate) fn config(
    queues: &[(&str, Option<u32>)],
    profiles: Vec<ProfileConfig>,
) -> RoutingConfig {
    RoutingConfig {
        queues: queues
            .iter()
            .map(|(n, m)| QueueConfig {
                name: (*n).into(),
                max_contacts: *m,
            })
            .collect(),
        profiles,
        offer_timeout_ms: [20 * S; 3],
        agent_queue_limit: 10,
        custom_statuses: vec!["Break".into(), "Lunch".into()],
    }
}

pub(crate) fn profile(
    name: &str,
    concurrency: [u8; 3],
    entries: Vec<ProfileEntry>,
) -> ProfileConfig {
    ProfileConfig {
        name: name.into(),
        concurrency,
        cross_channel: false,
        entries,
    }
}

pub(crate) fn agent(profile: &str) -> AgentConfig {
    AgentConfig {
        routing_profile: profile.into(),
        proficiencies: vec![],
        acw_timeout_ms: None,
    }
}

/// Offers in the outputs, as (contact, agent).
pub(crate) fn offers(outputs: &[Output]) -> Vec<(String, String)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Offer { contact, agent, .. } => Some((contact.clone(), agent.clone())),
            _ => None,
        })
        .collect()
}

pub(crate) fn pair(contact: &str, agent: &str) -> (String, String) {
    (contact.to_string(), agent.to_string())
}

pub(crate) fn voice() -> Channel {
    Channel::Voice
}

pub(crate) fn checked(engine: &Engine) {
    if let Err(broken) = engine.check_invariants() {
        panic!("invariant broken: {broken}");
    }
}
