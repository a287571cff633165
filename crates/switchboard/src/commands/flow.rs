//! `switchboard flow run` (the offline simulator) and `switchboard flow import`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use sb_flow::import::{guess_type, map_arns};
use sb_flow::interpret::{Effect, Env, Flow, Input, Next};
use sb_flow::simulate::{simulate, Script, Simulation, SimulationEnd, StandaloneEnv};
use sb_flow::{FlowDocument, Severity};
use sb_model::config::FlowType;
use sb_spec::flow_env::{MetricValues, ScriptedFigures};
use sb_spec::{load, FlowSet, InstanceSpec, SourceBundle, SpecEnv};

use crate::cli::{FlowImportArgs, FlowRunArgs};

fn read_flow(path: &Path) -> anyhow::Result<FlowDocument> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    sb_flow::parse(&text).with_context(|| format!("{} is not a flow", path.display()))
}

fn parse_type(text: &str) -> anyhow::Result<FlowType> {
    let normalised = text.trim().to_uppercase().replace('-', "_");
    serde_json::from_value(serde_json::Value::String(normalised)).map_err(|_| {
        anyhow!("unknown flow type '{text}': use CONTACT_FLOW, CUSTOMER_QUEUE, CUSTOMER_HOLD, CUSTOMER_WHISPER, AGENT_WHISPER, AGENT_HOLD, OUTBOUND_WHISPER, AGENT_TRANSFER, QUEUE_TRANSFER or MODULE")
    })
}

fn key_value<'a>(text: &'a str, what: &str) -> anyhow::Result<(&'a str, &'a str)> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| anyhow!("{what} '{text}' is not of the form NAME=VALUE"))
}

fn parse_time(text: &str) -> anyhow::Result<jiff::Timestamp> {
    text.parse::<jiff::Timestamp>()
        .or_else(|_| text.parse::<jiff::Zoned>().map(|z| z.timestamp()))
        .map_err(|_| anyhow!("--at '{text}' is not a timestamp such as 2026-11-30T14:00:00Z"))
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "flow".into())
}

fn load_instance(dir: &Path) -> anyhow::Result<InstanceSpec> {
    let bundle = SourceBundle::read_dir(dir)
        .with_context(|| format!("reading the instance {}", dir.display()))?;
    load(&bundle)
        .map(|(spec, _)| spec)
        .map_err(|problems| anyhow!("the instance {} is invalid:\n{problems}", dir.display()))
}

/// The spec flow whose file is `file`, if any.
fn spec_flow_for(spec: &InstanceSpec, dir: &Path, file: &Path) -> Option<(String, FlowType)> {
    let wanted = file.canonicalize().ok()?;
    spec.flows.iter().find_map(|(name, f)| {
        let path = dir.join(&f.entry.file).canonicalize().ok()?;
        (path == wanted).then(|| (name.to_string(), f.entry.kind))
    })
}

pub(crate) fn run(args: &FlowRunArgs) -> anyhow::Result<ExitCode> {
    let document = read_flow(&args.file)?;
    let mut script = Script {
        inputs: args.inputs.iter().cloned().collect(),
        full_queues: args.full_queues.iter().cloned().collect(),
        ..Script::default()
    };
    for f in &args.functions {
        let (name, json) = key_value(f, "--function")?;
        let value = serde_json::from_str(json)
            .with_context(|| format!("--function {name}: the response is not JSON"))?;
        script.functions.insert(name.to_string(), value);
    }
    let mut attributes = BTreeMap::new();
    for a in &args.attributes {
        let (k, v) = key_value(a, "--attr")?;
        attributes.insert(k.to_string(), v.to_string());
    }
    let mut metric_defaults = BTreeMap::new();
    for m in &args.metrics {
        let (name, value) = key_value(m, "--metric")?;
        let value: f64 = value
            .parse()
            .map_err(|_| anyhow!("--metric {name}: '{value}' is not a number"))?;
        metric_defaults.insert(name.to_string(), value);
    }
    let now = match &args.at {
        Some(at) => parse_time(at)?,
        None => jiff::Timestamp::now(),
    };
    let declared_type = args.r#type.as_deref().map(parse_type).transpose()?;

    let (simulation, prompts) = match &args.instance {
        Some(dir) => {
            let spec = load_instance(dir)?;
            let (name, kind) = match spec_flow_for(&spec, dir, &args.file) {
                Some(found) => found,
                None => (
                    file_stem(&args.file),
                    declared_type.unwrap_or_else(|| guess_type(&document)),
                ),
            };
            check_flow(&document, kind)?;
            let mut flows = FlowSet::compile(&spec);
            flows.insert(Flow::new(&name, kind, document));
            let metrics = MetricValues::new();
            let figures = ScriptedFigures {
                values: &metrics,
                defaults: &metric_defaults,
            };
            let env = SpecEnv {
                spec: &spec,
                flows: &flows,
                now,
                figures: &figures,
                tracing: true,
            };
            let simulation = simulate(
                &env as &dyn Env,
                &name,
                args.channel.channel(),
                attributes,
                script,
            );
            (simulation, prompt_texts(&spec))
        }
        None => {
            let name = file_stem(&args.file);
            let kind = declared_type.unwrap_or_else(|| guess_type(&document));
            check_flow(&document, kind)?;
            let env = StandaloneEnv {
                flows: BTreeMap::from([(name.clone(), Flow::new(&name, kind, document))]),
                closed: args.closed,
                metrics: metric_defaults,
            };
            let simulation = simulate(&env, &name, args.channel.channel(), attributes, script);
            (simulation, PromptTexts::new())
        }
    };
    if args.json {
        print_json(&simulation);
    } else {
        print_text(&simulation, &prompts);
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuse a flow with validation errors: simulating it would only show the same errors late.
fn check_flow(document: &FlowDocument, kind: FlowType) -> anyhow::Result<()> {
    let errors: Vec<String> = sb_flow::validate(document, kind)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("  {}: {}", f.location, f.message))
        .collect();
    if !errors.is_empty() {
        bail!(
            "the flow is invalid as a {kind:?} flow:\n{}",
            errors.join("\n")
        );
    }
    Ok(())
}

fn print_json(simulation: &Simulation) {
    for e in &simulation.trace {
        println!("{}", serde_json::to_string(e).expect("trace serialises"));
    }
    let mut end = serde_json::to_value(&simulation.end).expect("outcome serialises");
    if let Some(map) = end.as_object_mut() {
        map.insert(
            "attributes".into(),
            serde_json::to_value(&simulation.contact.attributes).expect("map"),
        );
        map.insert("actions_executed".into(), simulation.trace.len().into());
    }
    println!("{end}");
}

/// A message as the customer gets it: a prompt by its text when the instance has it.
fn describe_message(m: &sb_flow::interpret::Message, prompts: &PromptTexts) -> String {
    match (&m.text, &m.ssml, &m.prompt) {
        (Some(t), _, _) => t.clone(),
        (_, Some(s), _) => format!("(SSML) {s}"),
        (_, _, Some(p)) => match prompts.get(p.as_str()) {
            Some(PromptText::Spoken(text)) => format!("{text}  (prompt {p})"),
            Some(PromptText::Audio(file)) => format!("(prompt {p}: audio {file})"),
            None => format!("(prompt) {p}"),
        },
        _ => String::new(),
    }
}

/// What each prompt of the instance says, for the trace (empty without `--instance`).
type PromptTexts = BTreeMap<String, PromptText>;

enum PromptText {
    Spoken(String),
    Audio(String),
}

fn prompt_texts(spec: &InstanceSpec) -> PromptTexts {
    spec.prompts
        .values()
        .filter_map(|p| {
            let said = match (&p.text, &p.audio) {
                (Some(text), _) => PromptText::Spoken(text.clone()),
                (None, Some(file)) => PromptText::Audio(file.clone()),
                (None, None) => return None,
            };
            Some((p.name.to_string(), said))
        })
        .collect()
}

fn print_effect(effect: &Effect, prompts: &PromptTexts) {
    match effect {
        Effect::Message(m) => println!("      » {}", describe_message(m, prompts)),
        other => println!(
            "      · {}",
            serde_json::to_string(other).expect("effect serialises")
        ),
    }
}

fn print_text(simulation: &Simulation, prompts: &PromptTexts) {
    let main_flow = simulation
        .trace
        .first()
        .map(|e| e.flow.clone())
        .unwrap_or_default();
    for (step, answer) in &simulation.steps {
        // Each action's line, then what it sent or did.
        let mut shown = 0;
        for e in &step.trace {
            let place = if e.flow == main_flow {
                e.identifier.clone()
            } else {
                format!("[{}] {}", e.flow, e.identifier)
            };
            println!("  {place:<40} {:<34} → {}", e.kind, e.branch);
            let upto = e.effects_so_far.clamp(shown, step.effects.len());
            for effect in &step.effects[shown..upto] {
                print_effect(effect, prompts);
            }
            shown = upto;
        }
        for effect in &step.effects[shown..] {
            print_effect(effect, prompts);
        }
        let said = match (&step.next, answer) {
            (
                Next::Input {
                    timeout_seconds, ..
                },
                Some(Input::Customer { text }),
            ) => format!("waits up to {timeout_seconds} s for input: «{text}»"),
            (
                Next::Input {
                    timeout_seconds, ..
                },
                _,
            ) => format!("waits up to {timeout_seconds} s for input: none (timeout)"),
            (Next::Function { function, .. }, Some(Input::FunctionResult { result })) => format!(
                "calls function {function}: {}",
                serde_json::to_string(result).expect("json")
            ),
            (Next::Timer { seconds }, _) => format!("waits {seconds} s"),
            (
                Next::MessageLoop {
                    interrupt_seconds, ..
                },
                _,
            ) => match interrupt_seconds {
                Some(s) => format!("plays messages in a loop, interrupted every {s} s"),
                None => "plays messages in a loop until an agent answers".into(),
            },
            (Next::Enqueue { queue, .. }, Some(Input::Enqueue { accepted })) => format!(
                "enqueues in {queue}: {}",
                if *accepted { "accepted" } else { "queue full" }
            ),
            (Next::ThirdParty { number, .. }, _) => format!("dials {number}: connected"),
            _ => String::new(),
        };
        if !said.is_empty() {
            println!("      … {said}");
        }
    }
    use sb_flow::interpret::Outcome;
    let outcome = match &simulation.end {
        SimulationEnd::Finished(Outcome::Disconnected) => "disconnected".to_string(),
        SimulationEnd::Finished(Outcome::Ended) => "ended".to_string(),
        SimulationEnd::Finished(Outcome::TransferredToQueue { queue }) => {
            format!("transferred to queue {queue}")
        }
        SimulationEnd::Finished(Outcome::TransferredToAgent { agent }) => {
            format!("transferred to agent {agent}")
        }
        SimulationEnd::Finished(Outcome::TransferredToThirdParty { number }) => {
            format!("transferred to {number}")
        }
        SimulationEnd::Finished(Outcome::Error { reason }) => format!("error: {reason}"),
        SimulationEnd::StillRunning { waits: 0, .. } => {
            "still running: waiting in a queue flow for an agent".to_string()
        }
        SimulationEnd::StillRunning { waits, .. } => format!("still running after {waits} waits"),
    };
    println!("Outcome: {outcome}");
    if !simulation.unused_inputs.is_empty() {
        println!(
            "Note: {} scripted input(s) were never asked for: {} (the flow took another branch; for a flow that checks hours, --at chooses the time)",
            simulation.unused_inputs.len(),
            simulation.unused_inputs.join(", ")
        );
    }
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "flow".into()
    } else {
        out
    }
}

pub(crate) fn import(args: &FlowImportArgs) -> anyhow::Result<ExitCode> {
    let mut document = read_flow(&args.file)?;
    let dir = &args.instance;
    if !dir.is_dir() {
        bail!("the instance directory {} does not exist", dir.display());
    }
    let bundle = SourceBundle::read_dir(dir)
        .with_context(|| format!("reading the instance {}", dir.display()))?;
    let existing = load(&bundle).ok().map(|(spec, _)| spec);
    let mut known = BTreeMap::new();
    if let Some(spec) = &existing {
        for f in spec.functions.values() {
            for arn in &f.arns {
                known.insert(arn.clone(), f.name.to_string());
            }
        }
        if spec
            .flows
            .keys()
            .any(|n| Some(n.as_str()) == args.name.as_deref())
        {
            bail!(
                "the instance already has a flow named '{}'",
                args.name.as_deref().unwrap_or_default()
            );
        }
    }
    let report = map_arns(&mut document, &known);
    let name = args.name.clone().unwrap_or_else(|| file_stem(&args.file));
    sb_model::Name::new(name.clone()).map_err(|e| anyhow!("flow name '{name}': {e}"))?;
    let guessed = args.r#type.is_none();
    let kind = match &args.r#type {
        Some(t) => parse_type(t)?,
        None => guess_type(&document),
    };
    let relative = format!("flows/{}.json", slug(&name));
    let target: PathBuf = dir.join(&relative);
    if target.exists() {
        bail!(
            "{} already exists: pass --name to import under another name",
            target.display()
        );
    }
    let index = dir.join("imported-flows.yaml");
    // The type as the spec spells it (CONTACT_FLOW, AGENT_WHISPER, …).
    let spelled = serde_json::to_value(kind)
        .expect("flow type")
        .as_str()
        .expect("string")
        .to_string();
    let entry = format!(
        "  - {{ name: {}, type: {spelled}, file: {relative} }}\n",
        serde_json::to_string(&name).expect("string"),
    );
    let mut index_text = std::fs::read_to_string(&index).unwrap_or_else(|_| {
        "# Flows imported with `switchboard flow import`.\nflows:\n".to_string()
    });
    index_text.push_str(&entry);
    std::fs::create_dir_all(dir.join("flows")).context("creating the flows directory")?;
    let json = serde_json::to_string_pretty(&document).expect("flows serialise") + "\n";
    std::fs::write(&target, json).with_context(|| format!("writing {}", target.display()))?;
    std::fs::write(&index, index_text).with_context(|| format!("writing {}", index.display()))?;

    println!("Imported '{name}' ({spelled}) as {relative}, listed in imported-flows.yaml.");
    if guessed {
        println!(
            "  ! the type {spelled} was guessed from the actions the flow uses (an export does not say); if it is a whisper, queue, transfer or module flow, import again with --type"
        );
    }
    for m in &report.mappings {
        let kind = m.kind.unwrap_or("resource");
        if m.derived {
            println!("  ! {}: {} {} has no name in the export; called it '{}': declare a {kind} of that name or edit the flow", m.action, m.location, m.arn, m.name);
        } else {
            println!("  {}: {} → {kind} '{}'", m.action, m.location, m.name);
        }
    }
    match load(&SourceBundle::read_dir(dir)?) {
        Ok((_, warnings)) => println!(
            "The instance is valid ({} warning(s)).",
            warnings.warnings().count()
        ),
        Err(problems) => println!("The instance does not validate yet; still to do:\n{problems}"),
    }
    Ok(ExitCode::SUCCESS)
}
