//! Semantic checks across the whole spec: references, ranges, flows.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use sb_flow::{ReferenceKind, Severity};
use sb_model::config::*;
use sb_model::hours::{ClockTime, HoursOfOperation};
use sb_model::Name;

use crate::instance::{Draft, LoadedFlow};
use crate::problem::Problems;
use crate::source::SourceBundle;

/// Connect's limit on (queue, channel) entries in a routing profile.
const MAX_PROFILE_QUEUES: usize = 50;

struct Ctx<'a> {
    draft: &'a Draft,
    problems: &'a mut Problems,
}

impl Ctx<'_> {
    fn file(&self, section: &'static str, name: &str) -> String {
        self.draft
            .origins
            .get(&(section, name.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    fn error(&mut self, section: &'static str, name: &str, field: &str, message: String) {
        let file = self.file(section, name);
        let location = if field.is_empty() {
            format!("{section}[{name}]")
        } else {
            format!("{section}[{name}].{field}")
        };
        self.problems.error(file, location, message);
    }

    /// Check that `target` names an existing resource of `kind`.
    fn reference<T>(
        &mut self,
        section: &'static str,
        name: &str,
        field: &str,
        target: &Name,
        kind: &str,
        map: &BTreeMap<Name, T>,
    ) {
        if !map.contains_key(target) {
            self.error(
                section,
                name,
                field,
                format!(
                    "unknown {kind} '{target}'{}",
                    suggestion(target.as_str(), map.keys())
                ),
            );
        }
    }
}

fn suggestion<'a>(wanted: &str, names: impl Iterator<Item = &'a Name>) -> String {
    let names: Vec<&Name> = names.collect();
    if names.is_empty() {
        return String::from(" (none are declared)");
    }
    let lower = wanted.to_lowercase();
    if let Some(close) = names.iter().find(|n| n.as_str().to_lowercase() == lower) {
        return format!(" (did you mean '{close}'?)");
    }
    let listed: Vec<String> = names.iter().take(8).map(|n| format!("'{n}'")).collect();
    format!(" (declared: {})", listed.join(", "))
}

pub(crate) fn check(draft: &mut Draft, bundle: &SourceBundle, problems: &mut Problems) {
    load_flows(draft, bundle, problems);
    if draft.instance.is_none() {
        problems.error(
            "",
            "instance",
            "no file sets the instance section (instance: {name: ...})",
        );
    }
    let mut ctx = Ctx { draft, problems };
    check_instance(&mut ctx);
    check_security(&mut ctx);
    for hours in ctx.draft.spec.hours_of_operation.values() {
        check_hours(&mut ctx, hours);
    }
    check_queues(&mut ctx);
    check_routing_profiles(&mut ctx);
    check_agent_statuses(&mut ctx);
    check_users(&mut ctx);
    check_prompts(&mut ctx, bundle);
    check_functions(&mut ctx);
    check_quick_connects(&mut ctx);
    check_roles(&mut ctx);
    check_flows(&mut ctx);
}

/// Built-in roles and the spec's custom ones.
fn role_names(spec: &crate::InstanceSpec) -> Vec<String> {
    BUILT_IN_ROLES
        .iter()
        .map(|r| r.to_string())
        .chain(spec.roles.keys().map(|r| r.to_string()))
        .collect()
}

fn check_roles(ctx: &mut Ctx<'_>) {
    let s = "roles";
    let roles: Vec<_> = ctx.draft.spec.roles.values().cloned().collect();
    for role in roles {
        let n = role.name.as_str();
        if BUILT_IN_ROLES.contains(&n) {
            ctx.error(
                s,
                n,
                "name",
                format!("'{n}' is a built-in role; give the custom role another name"),
            );
        }
        if let Err(problems) = sb_security::policy::Policy::compile(&role) {
            for (place, message) in problems {
                ctx.error(s, n, &place, message);
            }
        }
    }
}

fn load_flows(draft: &mut Draft, bundle: &SourceBundle, problems: &mut Problems) {
    for (name, entry) in std::mem::take(&mut draft.flow_entries) {
        let declared_in = draft
            .origins
            .get(&("flows", name.to_string()))
            .cloned()
            .unwrap_or_default();
        if let Err(e) = crate::source::check_path(&entry.file) {
            problems.error(declared_in, format!("flows[{name}].file"), e.to_string());
            continue;
        }
        let Some(text) = bundle.text(&entry.file) else {
            problems.error(
                declared_in,
                format!("flows[{name}].file"),
                bundle.missing_file(&entry.file, "flow"),
            );
            continue;
        };
        match sb_flow::parse(text) {
            Ok(document) => {
                for finding in sb_flow::validate(&document, entry.kind) {
                    match finding.severity {
                        Severity::Error => {
                            problems.error(&entry.file, finding.location, finding.message)
                        }
                        Severity::Warning => {
                            problems.warning(&entry.file, finding.location, finding.message)
                        }
                    }
                }
                draft
                    .spec
                    .flows
                    .insert(name, LoadedFlow { entry, document });
            }
            Err(e) => problems.error(
                &entry.file,
                format!("line {} column {}", e.line, e.column),
                e.message,
            ),
        }
    }
}

fn check_instance(ctx: &mut Ctx<'_>) {
    let Some((file, settings)) = &ctx.draft.instance else {
        return;
    };
    let file = file.clone();
    if let Some(flow) = &settings.default_inbound_flow {
        match ctx.draft.spec.flows.get(flow) {
            None if !ctx.draft.origins.contains_key(&("flows", flow.to_string())) => {
                ctx.problems.error(
                    &file,
                    "instance.default_inbound_flow",
                    format!("unknown flow '{flow}'"),
                )
            }
            Some(f) if f.entry.kind != FlowType::ContactFlow => ctx.problems.error(
                &file,
                "instance.default_inbound_flow",
                format!(
                    "flow '{flow}' is a {:?} flow; the inbound flow must be a CONTACT_FLOW",
                    f.entry.kind
                ),
            ),
            _ => {}
        }
    }
    if !(1..=32_768).contains(&settings.chat_message_max_chars) {
        ctx.problems.error(
            &file,
            "instance.chat_message_max_chars",
            "must be between 1 and 32768",
        );
    }
    if !(1..=90).contains(&settings.task_expiry_days) {
        ctx.problems.error(
            &file,
            "instance.task_expiry_days",
            "must be between 1 and 90 days",
        );
    }
    if !(5..=600).contains(&settings.agent_silence_limit_seconds) {
        ctx.problems.error(
            &file,
            "instance.agent_silence_limit_seconds",
            "must be between 5 and 600 seconds",
        );
    }
    if !(30..=604_800).contains(&settings.chat_customer_absence_limit_seconds) {
        ctx.problems.error(
            &file,
            "instance.chat_customer_absence_limit_seconds",
            "must be between 30 seconds and 7 days (604800)",
        );
    }
    let r = &settings.stream_retention_days;
    for (stream, days) in [
        ("contact_events", r.contact_events),
        ("agent_events", r.agent_events),
        ("contact_records", r.contact_records),
        ("flow_logs", r.flow_logs),
    ] {
        if !(1..=3650).contains(&days) {
            ctx.problems.error(
                &file,
                format!("instance.stream_retention_days.{stream}"),
                "must be between 1 and 3650 days",
            );
        }
    }
}

fn check_security(ctx: &mut Ctx<'_>) {
    let Some((file, s)) = &ctx.draft.security else {
        return;
    };
    let file = file.clone();
    for (i, name) in s.sensitive_attributes.iter().enumerate() {
        let ok = !name.is_empty()
            && name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            ctx.problems.error(
                &file,
                format!("security.sensitive_attributes[{i}]"),
                format!("'{name}' must be 1 to 128 letters, digits, '_', '-' or '.'"),
            );
        }
    }
    if !(15..=720).contains(&s.session_duration_minutes) {
        ctx.problems.error(
            &file,
            "security.session_duration_minutes",
            format!(
                "{} is outside 15 to 720 minutes",
                s.session_duration_minutes
            ),
        );
    }
    if !(1..=15).contains(&s.idle_timeout_minutes) {
        ctx.problems.error(
            &file,
            "security.idle_timeout_minutes",
            format!(
                "{} is outside 1 to 15 minutes (PCI DSS 8.2.8)",
                s.idle_timeout_minutes
            ),
        );
    }
    if s.password_min_length < 12 {
        ctx.problems.error(
            &file,
            "security.password_min_length",
            format!(
                "{} is below 12 characters (PCI DSS 8.3.6)",
                s.password_min_length
            ),
        );
    }
    if s.audit_retention_days < 365 {
        ctx.problems.error(
            &file,
            "security.audit_retention_days",
            format!(
                "{} is below 365 days (PCI DSS 10.5.1 keeps audit logs a year)",
                s.audit_retention_days
            ),
        );
    }
    if s.audit_online_days < 90 || s.audit_online_days > s.audit_retention_days {
        ctx.problems.error(
            &file,
            "security.audit_online_days",
            format!(
                "{} is outside 90 days (PCI DSS 10.5.1: three months at once) to audit_retention_days ({})",
                s.audit_online_days, s.audit_retention_days
            ),
        );
    }
    let known = role_names(&ctx.draft.spec);
    for role in &s.mfa_required_roles {
        if !known.iter().any(|k| k == role.as_str()) {
            ctx.problems.error(
                &file,
                "security.mfa_required_roles",
                format!("unknown role '{role}' (roles: {})", known.join(", ")),
            );
        }
    }
}

fn check_hours(ctx: &mut Ctx<'_>, hours: &HoursOfOperation) {
    let name = hours.name.as_str();
    let s = "hours_of_operation";
    if let Err(e) = hours.zone() {
        ctx.error(s, name, "time_zone", e.to_string());
    }
    let mut by_day: BTreeMap<_, Vec<(ClockTime, ClockTime)>> = BTreeMap::new();
    for (i, r) in hours.weekly.iter().enumerate() {
        if r.end <= r.start {
            ctx.error(s, name, &format!("weekly[{i}]"), format!("{:?} ends at {} before it starts at {}: split a range past midnight into two days", r.day, r.end, r.start));
        }
        by_day.entry(r.day).or_default().push((r.start, r.end));
    }
    for (day, ranges) in by_day {
        if let Some((a, b)) = first_overlap(ranges) {
            ctx.error(
                s,
                name,
                "weekly",
                format!("{day:?} ranges {}-{} and {}-{} overlap", a.0, a.1, b.0, b.1),
            );
        }
    }
    let mut dates = HashSet::new();
    for o in &hours.overrides {
        let at = format!("overrides[{}]", o.date);
        if !dates.insert(o.date) {
            ctx.error(s, name, &at, "the date has more than one override".into());
        }
        if o.closed != o.ranges.is_empty() {
            ctx.error(
                s,
                name,
                &at,
                "an override is either `closed: true` or has `ranges`, not both or neither".into(),
            );
        }
        for r in &o.ranges {
            if r.end <= r.start {
                ctx.error(
                    s,
                    name,
                    &at,
                    format!("range {}-{} ends before it starts", r.start, r.end),
                );
            }
        }
        if let Some((a, b)) = first_overlap(o.ranges.iter().map(|r| (r.start, r.end)).collect()) {
            ctx.error(
                s,
                name,
                &at,
                format!("ranges {}-{} and {}-{} overlap", a.0, a.1, b.0, b.1),
            );
        }
    }
}

type Span = (ClockTime, ClockTime);

fn first_overlap(mut ranges: Vec<Span>) -> Option<(Span, Span)> {
    ranges.sort();
    ranges
        .windows(2)
        .find(|w| w[1].0 < w[0].1)
        .map(|w| (w[0], w[1]))
}

fn check_flow_kind(
    ctx: &mut Ctx<'_>,
    section: &'static str,
    name: &str,
    field: &str,
    flow: &Name,
    wanted: &[FlowType],
) {
    match ctx.draft.spec.flows.get(flow) {
        Some(f) if !wanted.contains(&f.entry.kind) => {
            let message = format!(
                "flow '{flow}' is of type {:?}; expected {:?}",
                f.entry.kind, wanted
            );
            ctx.error(section, name, field, message);
        }
        Some(_) => {}
        // A flow that failed to parse was reported already; do not report it twice.
        None if ctx.draft.origins.contains_key(&("flows", flow.to_string())) => {}
        None => {
            let message = format!(
                "unknown flow '{flow}'{}",
                suggestion(flow.as_str(), ctx.draft.spec.flows.keys())
            );
            ctx.error(section, name, field, message);
        }
    }
}

fn check_queues(ctx: &mut Ctx<'_>) {
    let spec = &ctx.draft.spec;
    for q in spec.queues.values() {
        let n = q.name.as_str();
        // A queue no routing profile serves holds its contacts for ever.
        let served: Vec<&str> = spec
            .routing_profiles
            .values()
            .flat_map(|p| p.queues.iter())
            .filter(|entry| entry.queue == q.name)
            .map(|entry| entry.channel.as_str())
            .collect();
        if served.is_empty() {
            let file = ctx.file("queues", n);
            ctx.problems.warning(
                file,
                format!("queues[{n}]"),
                "no routing profile serves this queue: contacts put in it are never offered to an agent".to_string(),
            );
        }
        ctx.reference(
            "queues",
            n,
            "hours",
            &q.hours,
            "hours of operation",
            &ctx.draft.spec.hours_of_operation,
        );
        if q.max_contacts == Some(0) {
            ctx.error(
                "queues",
                n,
                "max_contacts",
                "must be at least 1 (omit it for no limit)".into(),
            );
        }
        if let Some(flow) = &q.customer_queue_flow {
            check_flow_kind(
                ctx,
                "queues",
                n,
                "customer_queue_flow",
                flow,
                &[FlowType::CustomerQueue],
            );
        }
        if let Some(caller) = &q.outbound_caller_id {
            if !is_e164(&caller.number) {
                ctx.error(
                    "queues",
                    n,
                    "outbound_caller_id.number",
                    format!(
                        "'{}' is not an E.164 number such as +15555550100",
                        caller.number
                    ),
                );
            }
        }
        for qc in &q.quick_connects {
            ctx.reference(
                "queues",
                n,
                "quick_connects",
                qc,
                "quick connect",
                &ctx.draft.spec.quick_connects,
            );
        }
    }
}

fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn check_routing_profiles(ctx: &mut Ctx<'_>) {
    let s = "routing_profiles";
    for p in ctx.draft.spec.routing_profiles.values() {
        let n = p.name.as_str();
        let c = p.concurrency;
        if c.voice > 1 {
            ctx.error(
                s,
                n,
                "concurrency.voice",
                format!(
                    "{} voice contacts at once: an agent takes at most 1",
                    c.voice
                ),
            );
        }
        if c.chat > 10 {
            ctx.error(
                s,
                n,
                "concurrency.chat",
                format!("{} chats at once: at most 10", c.chat),
            );
        }
        if c.task > 10 {
            ctx.error(
                s,
                n,
                "concurrency.task",
                format!("{} tasks at once: at most 10", c.task),
            );
        }
        if c.voice + c.chat + c.task == 0 {
            ctx.error(
                s,
                n,
                "concurrency",
                "every channel is 0: agents with this profile could take no contact".into(),
            );
        }
        ctx.reference(
            s,
            n,
            "default_outbound_queue",
            &p.default_outbound_queue,
            "queue",
            &ctx.draft.spec.queues,
        );
        if p.queues.is_empty() {
            ctx.error(
                s,
                n,
                "queues",
                "a routing profile needs at least one queue".into(),
            );
        }
        if p.queues.len() > MAX_PROFILE_QUEUES {
            ctx.error(
                s,
                n,
                "queues",
                format!(
                    "{} entries: at most {MAX_PROFILE_QUEUES} (queue, channel) pairs",
                    p.queues.len()
                ),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, e) in p.queues.iter().enumerate() {
            let at = format!("queues[{i}]");
            ctx.reference(
                s,
                n,
                &format!("{at}.queue"),
                &e.queue,
                "queue",
                &ctx.draft.spec.queues,
            );
            if !(1..=99).contains(&e.priority) {
                ctx.error(
                    s,
                    n,
                    &format!("{at}.priority"),
                    format!("priority {} is outside 1 to 99", e.priority),
                );
            }
            if e.delay_seconds > 9_999 {
                ctx.error(
                    s,
                    n,
                    &format!("{at}.delay_seconds"),
                    "at most 9999 seconds".into(),
                );
            }
            if c.for_channel(e.channel) == 0 {
                ctx.error(
                    s,
                    n,
                    &at,
                    format!(
                        "queue '{}' on {} but the profile's {} concurrency is 0",
                        e.queue, e.channel, e.channel
                    ),
                );
            }
            if !seen.insert((e.queue.clone(), e.channel)) {
                ctx.error(
                    s,
                    n,
                    &at,
                    format!("queue '{}' on {} is listed twice", e.queue, e.channel),
                );
            }
        }
    }
}

fn check_agent_statuses(ctx: &mut Ctx<'_>) {
    let statuses = &ctx.draft.spec.agent_statuses;
    let routable = statuses
        .values()
        .filter(|s| s.kind == AgentStatusKind::Routable)
        .count();
    let offline = statuses
        .values()
        .filter(|s| s.kind == AgentStatusKind::Offline)
        .count();
    let file = ctx
        .draft
        .origins
        .iter()
        .find(|((s, _), _)| *s == "agent_statuses")
        .map(|(_, f)| f.clone())
        .unwrap_or_default();
    if routable == 0 {
        ctx.problems.error(
            &file,
            "agent_statuses",
            "declare at least one ROUTABLE status (agents must be able to take contacts)",
        );
    }
    if offline != 1 {
        ctx.problems.error(
            &file,
            "agent_statuses",
            format!("declare exactly one OFFLINE status, found {offline}"),
        );
    }
}

fn check_users(ctx: &mut Ctx<'_>) {
    let s = "users";
    let known = role_names(&ctx.draft.spec);
    for u in ctx.draft.spec.users.values() {
        let n = u.username.as_str();
        if !known.iter().any(|k| k == u.role.as_str()) {
            ctx.error(
                s,
                n,
                "role",
                format!("unknown role '{}' (roles: {})", u.role, known.join(", ")),
            );
        }
        match &u.routing_profile {
            Some(p) => ctx.reference(
                s,
                n,
                "routing_profile",
                p,
                "routing profile",
                &ctx.draft.spec.routing_profiles,
            ),
            None if u.role.as_str() == "Agent" => ctx.error(
                s,
                n,
                "routing_profile",
                "an Agent needs a routing profile".into(),
            ),
            None => {}
        }
        let mut seen = BTreeSet::new();
        for (i, p) in u.proficiencies.iter().enumerate() {
            let at = format!("proficiencies[{i}]");
            if !(1..=5).contains(&p.level) {
                ctx.error(
                    s,
                    n,
                    &format!("{at}.level"),
                    format!("level {} is outside 1 to 5", p.level),
                );
            }
            match ctx.draft.spec.predefined_attributes.get(&p.name) {
                None => {
                    let message = format!(
                        "unknown proficiency '{}'{}",
                        p.name,
                        suggestion(p.name.as_str(), ctx.draft.spec.predefined_attributes.keys())
                    );
                    ctx.error(s, n, &format!("{at}.name"), message);
                }
                Some(attr) if !attr.values.contains(&p.value) => {
                    let message = format!(
                        "'{}' is not a value of '{}' (values: {})",
                        p.value,
                        p.name,
                        attr.values.join(", ")
                    );
                    ctx.error(s, n, &format!("{at}.value"), message);
                }
                Some(_) => {}
            }
            if !seen.insert((&p.name, &p.value)) {
                ctx.error(
                    s,
                    n,
                    &at,
                    format!("proficiency {}={} is listed twice", p.name, p.value),
                );
            }
        }
    }
}

fn check_prompts(ctx: &mut Ctx<'_>, bundle: &SourceBundle) {
    for p in ctx.draft.spec.prompts.values() {
        let n = p.name.as_str();
        match (&p.text, &p.audio) {
            (Some(_), None) => {}
            (None, Some(file)) => {
                if let Err(e) = crate::source::check_path(file) {
                    ctx.error("prompts", n, "audio", e.to_string());
                } else if !bundle.files.contains_key(file) {
                    ctx.error("prompts", n, "audio", bundle.missing_file(file, "audio"));
                }
            }
            _ => ctx.error(
                "prompts",
                n,
                "",
                "set exactly one of `text` and `audio`".into(),
            ),
        }
    }
}

fn check_functions(ctx: &mut Ctx<'_>) {
    for f in ctx.draft.spec.functions.values() {
        let n = f.name.as_str();
        if !f.url.starts_with("https://") || f.url.len() <= "https://".len() {
            ctx.error(
                "functions",
                n,
                "url",
                format!(
                    "'{}' is not an https:// URL (functions are called over TLS only)",
                    f.url
                ),
            );
        }
        if !(1..=8).contains(&f.timeout_seconds) {
            ctx.error(
                "functions",
                n,
                "timeout_seconds",
                format!("{} is outside 1 to 8 seconds", f.timeout_seconds),
            );
        }
        if f.max_concurrency == 0 {
            ctx.error(
                "functions",
                n,
                "max_concurrency",
                "must be at least 1".into(),
            );
        }
    }
}

fn check_quick_connects(ctx: &mut Ctx<'_>) {
    let s = "quick_connects";
    for qc in ctx.draft.spec.quick_connects.values() {
        let n = qc.name.as_str();
        match &qc.target {
            QuickConnectTarget::Queue { queue, flow } => {
                ctx.reference(s, n, "target.queue", queue, "queue", &ctx.draft.spec.queues);
                check_flow_kind(ctx, s, n, "target.flow", flow, &[FlowType::QueueTransfer]);
            }
            QuickConnectTarget::User { user, flow } => {
                ctx.reference(s, n, "target.user", user, "user", &ctx.draft.spec.users);
                check_flow_kind(ctx, s, n, "target.flow", flow, &[FlowType::AgentTransfer]);
            }
            QuickConnectTarget::PhoneNumber { number } => {
                if !is_e164(number) {
                    ctx.error(
                        s,
                        n,
                        "target.number",
                        format!("'{number}' is not an E.164 number"),
                    );
                }
            }
        }
    }
}

fn check_flows(ctx: &mut Ctx<'_>) {
    let spec = &ctx.draft.spec;
    let mut edges: BTreeMap<&Name, Vec<&Name>> = BTreeMap::new();
    let mut found = Vec::new();
    for (name, flow) in &spec.flows {
        for r in sb_flow::references(&flow.document) {
            let location = format!("Actions[{}].{}", r.action, r.location);
            let exists = match r.kind {
                ReferenceKind::Queue => spec.queues.contains_key(r.target.as_str()),
                ReferenceKind::Hours => spec.hours_of_operation.contains_key(r.target.as_str()),
                ReferenceKind::Prompt => spec.prompts.contains_key(r.target.as_str()),
                ReferenceKind::Function => spec.functions.contains_key(r.target.as_str()),
                ReferenceKind::User => spec.users.contains_key(r.target.as_str()),
                // A declared flow whose file was refused was reported already; the
                // flows that name it are not wrong, so no second error about them.
                ReferenceKind::Flow | ReferenceKind::Module => {
                    spec.flows.contains_key(r.target.as_str())
                        || ctx
                            .draft
                            .origins
                            .contains_key(&("flows", r.target.to_string()))
                }
            };
            if !exists {
                let hint = if r.target.starts_with("arn:") {
                    " (an ARN: run `switchboard flow import` to map ARNs to names)"
                } else {
                    ""
                };
                found.push((
                    flow.entry.file.clone(),
                    location,
                    format!("unknown {} '{}'{hint}", r.kind.noun(), r.target),
                ));
                continue;
            }
            if let Some((target_name, target)) = spec.flows.get_key_value(r.target.as_str()) {
                let is_module = target.entry.kind == FlowType::Module;
                if r.kind == ReferenceKind::Module && !is_module {
                    found.push((
                        flow.entry.file.clone(),
                        location,
                        format!("flow '{}' is not a MODULE", r.target),
                    ));
                } else if r.kind == ReferenceKind::Flow && is_module {
                    found.push((
                        flow.entry.file.clone(),
                        location,
                        format!(
                            "'{}' is a MODULE: invoke it with InvokeFlowModule",
                            r.target
                        ),
                    ));
                } else if r.location == "Parameters.ContactFlowId"
                    || r.kind == ReferenceKind::Module
                {
                    edges.entry(name).or_default().push(target_name);
                }
            }
        }
    }
    for (file, location, message) in found {
        ctx.problems.error(file, location, message);
    }
    if let Some(cycle) = find_cycle(&edges) {
        let path: Vec<String> = cycle.iter().map(|n| n.to_string()).collect();
        let file = spec.flows[cycle[0]].entry.file.clone();
        ctx.problems.error(
            file,
            "",
            format!(
                "flows transfer to each other in a cycle: {}",
                path.join(" → ")
            ),
        );
    }
}

/// A cycle in the flow → flow transfer graph, as the names along it (first repeated last).
fn find_cycle<'a>(edges: &BTreeMap<&'a Name, Vec<&'a Name>>) -> Option<Vec<&'a Name>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        node: &'a Name,
        edges: &BTreeMap<&'a Name, Vec<&'a Name>>,
        marks: &mut BTreeMap<&'a Name, Mark>,
        stack: &mut Vec<&'a Name>,
    ) -> Option<Vec<&'a Name>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(node);
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node, Mark::Visiting);
        stack.push(node);
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in edges.keys() {
        if let Some(c) = visit(node, edges, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}
