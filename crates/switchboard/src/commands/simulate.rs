//! `switchboard simulate`: a staffing what-if on the real routing engine.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use sb_routing::sim::{run as simulate, Arrivals, Behaviour, SimConfig};
use sb_routing::{AgentConfig, RoutingConfig};
use sb_spec::{load, SourceBundle};

use crate::cli::SimulateArgs;

pub(crate) fn run(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    if !(args.arrivals > 0.0 && args.aht > 0.0 && args.hours > 0.0)
        || args.patience.is_some_and(|p| p <= 0.0)
        || args.acw < 0.0
    {
        bail!("--arrivals, --aht, --hours and --patience must be positive, --acw not negative");
    }
    let bundle = SourceBundle::read_dir(&args.instance)
        .with_context(|| format!("reading {}", args.instance.display()))?;
    let (spec, _) = load(&bundle).map_err(|p| anyhow!("the instance is invalid:\n{p}"))?;
    let routing = RoutingConfig::from_model(
        spec.queues.values(),
        spec.routing_profiles.values(),
        spec.agent_statuses.values(),
    );
    if routing.profiles.is_empty() {
        bail!("the instance has no routing profiles to simulate");
    }
    let agents: Vec<(String, AgentConfig)> = match args.agents {
        Some(n) => (0..n)
            .map(|i| {
                let profile = &routing.profiles[i % routing.profiles.len()].name;
                (
                    format!("sim-agent-{i}"),
                    AgentConfig {
                        routing_profile: profile.clone(),
                        proficiencies: vec![],
                        acw_timeout_ms: None,
                    },
                )
            })
            .collect(),
        None => spec
            .users
            .values()
            .filter_map(|u| {
                let profile = u.routing_profile.as_ref()?;
                Some((
                    u.username.to_string(),
                    AgentConfig {
                        routing_profile: profile.to_string(),
                        proficiencies: u.proficiencies.clone(),
                        acw_timeout_ms: None,
                    },
                ))
            })
            .collect(),
    };
    if agents.is_empty() {
        bail!("no agents to simulate: pass --agents N");
    }
    let mut served: Vec<(String, sb_model::Channel)> = Vec::new();
    for p in &routing.profiles {
        for e in &p.entries {
            if !served.contains(&(e.queue.clone(), e.channel)) {
                served.push((e.queue.clone(), e.channel));
            }
        }
    }
    let share = args.arrivals / served.len() as f64;
    let arrivals = served
        .into_iter()
        .map(|(queue, channel)| Arrivals {
            queue,
            channel,
            per_hour: share,
        })
        .collect();
    let config = SimConfig {
        routing,
        agents,
        arrivals,
        aht_seconds: args.aht,
        patience_seconds: args.patience,
        hours: args.hours,
        seed: args.seed,
        behaviour: Behaviour {
            acw_seconds: args.acw,
            ..Behaviour::ideal()
        },
        service_level_thresholds: args.thresholds.clone(),
        check_invariants: false,
    };
    let origin = Instant::now();
    let report =
        simulate(&config, &mut || origin.elapsed().as_nanos() as u64).map_err(|e| anyhow!(e))?;
    let pct = |q| report.decision_percentile(q).unwrap_or(0) as f64 / 1000.0;
    if args.json {
        let value = serde_json::json!({
            "seed": report.seed,
            "agents": config.agents.len(),
            "queues": report.queues,
            "occupancy": report.occupancy,
            "engine_commands": report.engine_commands,
            "decision_microseconds": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)},
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Simulated {} h with {} agents, {:.0} arrivals/h, AHT {:.0} s, seed {}.",
        args.hours,
        config.agents.len(),
        args.arrivals,
        args.aht,
        args.seed
    );
    let thresholds: Vec<String> = args.thresholds.iter().map(|t| format!("SL{t}s")).collect();
    println!(
        "{:<24} {:>8} {:>8} {:>9} {:>8} {}",
        "QUEUE",
        "OFFERED",
        "HANDLED",
        "ABANDONED",
        "ASA s",
        thresholds
            .iter()
            .map(|t| format!("{t:>7}"))
            .collect::<String>()
    );
    for q in &report.queues {
        let sl: String = q
            .service_level
            .iter()
            .map(|(_, v)| format!("{:>6.1}%", v * 100.0))
            .collect();
        println!(
            "{:<24} {:>8} {:>8} {:>9} {:>8.1} {sl}",
            q.queue, q.offered, q.handled, q.abandoned, q.average_speed_of_answer_seconds
        );
    }
    println!("Occupancy {:.1}%. Engine: {} commands, decision time p50 {:.2} µs, p90 {:.2} µs, p99 {:.2} µs.", report.occupancy * 100.0, report.engine_commands, pct(0.5), pct(0.9), pct(0.99));
    Ok(ExitCode::SUCCESS)
}
