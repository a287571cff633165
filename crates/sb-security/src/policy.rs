//! IAM-like policies: statements with an effect, actions, resources and conditions
//! (second factor present, source address, time of day). Nothing is allowed unless a
//! statement allows it, and an explicit deny beats any allow. Built-in roles are
//! policies too (one unconditional allow), so every decision goes through one
//! evaluator.

use std::net::IpAddr;

use sb_model::config::{PolicyEffect, PolicyStatement, RoleSpec};
use sb_model::hours::Weekday;

use crate::Action;

/// What a request carries besides its action, for conditions and resources.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request's path below `/v1/` (`contacts/abc/transcript`), or the path itself
    /// for operational endpoints (`metrics`).
    pub resource: String,
    pub mfa_present: bool,
    pub source: Option<IpAddr>,
    pub now: jiff::Timestamp,
}

impl RequestContext {
    /// A context in which no condition can fail: for checking what a role may ever do.
    pub fn unconditional() -> RequestContext {
        RequestContext {
            resource: "*".into(),
            mfa_present: true,
            source: None,
            now: jiff::Timestamp::UNIX_EPOCH,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// An explicit deny applied: statement index (from 0).
    DeniedBy(usize),
    /// No statement allows it.
    NotAllowed,
}

#[derive(Debug, Clone)]
enum ActionPattern {
    Any,
    Service(String),
    Exact(Action),
}

impl ActionPattern {
    fn parse(text: &str) -> Result<ActionPattern, String> {
        if text == "*" {
            return Ok(ActionPattern::Any);
        }
        if let Some(service) = text.strip_suffix(":*") {
            if Action::ALL.iter().any(|a| a.service() == service) {
                return Ok(ActionPattern::Service(service.to_string()));
            }
            return Err(format!("no action belongs to service '{service}'"));
        }
        Action::parse(text)
            .map(ActionPattern::Exact)
            .ok_or_else(|| format!("unknown action '{text}' (see docs/security.md for the list)"))
    }

    fn matches(&self, action: Action) -> bool {
        match self {
            ActionPattern::Any => true,
            ActionPattern::Service(s) => action.service() == s,
            ActionPattern::Exact(a) => *a == action,
        }
    }
}

/// An address block: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    address: IpAddr,
    bits: u8,
}

impl Cidr {
    fn parse(text: &str) -> Result<Cidr, String> {
        let bad =
            || format!("'{text}' is not an IP address or CIDR block (10.0.0.0/8, 2001:db8::/32)");
        let (address, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let address: IpAddr = address.trim().parse().map_err(|_| bad())?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { address, bits })
    }

    fn contains(&self, other: IpAddr) -> bool {
        let other = match (self.address, other) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4),
            _ => Some(other),
        };
        match (self.address, other) {
            (IpAddr::V4(a), Some(IpAddr::V4(b))) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), Some(IpAddr::V6(b))) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
struct Window {
    zone: jiff::tz::TimeZone,
    days: Vec<Weekday>,
    after: u16,
    before: u16,
}

impl Window {
    /// Whether `now` falls in the window; a window whose end is before its start runs
    /// past midnight (22:00 to 06:00), counted on the day it starts.
    fn contains(&self, now: jiff::Timestamp) -> bool {
        let local = now.to_zoned(self.zone.clone());
        let minute = (local.hour() as u16) * 60 + local.minute() as u16;
        let day = Weekday::from_jiff(local.weekday());
        let yesterday = Weekday::from_jiff(local.weekday().wrapping_sub(1));
        let on = |d: Weekday| self.days.is_empty() || self.days.contains(&d);
        if self.after <= self.before {
            on(day) && (self.after..self.before).contains(&minute)
        } else {
            (on(day) && minute >= self.after) || (on(yesterday) && minute < self.before)
        }
    }
}

#[derive(Debug, Clone)]
struct Statement {
    effect: PolicyEffect,
    actions: Vec<ActionPattern>,
    resources: Vec<String>,
    mfa_present: Option<bool>,
    sources: Vec<Cidr>,
    window: Option<Window>,
}

impl Statement {
    fn applies(&self, action: Action, ctx: &RequestContext) -> bool {
        self.actions.iter().any(|a| a.matches(action))
            && self.resources.iter().any(|r| glob(r, &ctx.resource))
            && self.mfa_present.is_none_or(|m| m == ctx.mfa_present)
            && (self.sources.is_empty()
                || ctx
                    .source
                    .is_some_and(|s| self.sources.iter().any(|c| c.contains(s))))
            && self.window.as_ref().is_none_or(|w| w.contains(ctx.now))
    }

    fn unconditional(&self) -> bool {
        self.mfa_present.is_none()
            && self.sources.is_empty()
            && self.window.is_none()
            && self.resources.iter().any(|r| r == "*")
    }
}

/// `*` matches any run of characters (including `/`); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// A compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

impl Policy {
    /// One unconditional allow of `actions` on every resource: a built-in role.
    pub fn allowing(actions: impl IntoIterator<Item = Action>) -> Policy {
        Policy {
            statements: vec![Statement {
                effect: PolicyEffect::Allow,
                actions: actions.into_iter().map(ActionPattern::Exact).collect(),
                resources: vec!["*".into()],
                mfa_present: None,
                sources: vec![],
                window: None,
            }],
        }
    }

    /// Compile a custom role; every problem is reported, each with its place
    /// (`statements[1].actions[0]`).
    pub fn compile(role: &RoleSpec) -> Result<Policy, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut statements = Vec::new();
        if role.statements.is_empty() {
            problems.push((
                "statements".into(),
                "a role needs at least one statement".into(),
            ));
        }
        for (i, s) in role.statements.iter().enumerate() {
            match compile_statement(s) {
                Ok(c) => statements.push(c),
                Err(mut found) => {
                    for (place, problem) in found.drain(..) {
                        problems.push((format!("statements[{i}].{place}"), problem));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(Policy { statements })
        } else {
            Err(problems)
        }
    }

    pub fn decide(&self, action: Action, ctx: &RequestContext) -> Decision {
        let mut allowed = false;
        for (i, s) in self.statements.iter().enumerate() {
            if s.applies(action, ctx) {
                match s.effect {
                    PolicyEffect::Deny => return Decision::DeniedBy(i),
                    PolicyEffect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allowed
        } else {
            Decision::NotAllowed
        }
    }

    /// Whether some request could be allowed `action`: some allow names it and no
    /// unconditional deny of every resource does. What a token exchange compares.
    pub fn may_ever(&self, action: Action) -> bool {
        let allows = self.statements.iter().any(|s| {
            s.effect == PolicyEffect::Allow && s.actions.iter().any(|a| a.matches(action))
        });
        let always_denied = self.statements.iter().any(|s| {
            s.effect == PolicyEffect::Deny
                && s.unconditional()
                && s.actions.iter().any(|a| a.matches(action))
        });
        allows && !always_denied
    }
}

fn compile_statement(s: &PolicyStatement) -> Result<Statement, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let mut actions = Vec::new();
    if s.actions.is_empty() {
        problems.push(("actions".into(), "name at least one action".into()));
    }
    for (i, a) in s.actions.iter().enumerate() {
        match ActionPattern::parse(a) {
            Ok(p) => actions.push(p),
            Err(e) => problems.push((format!("actions[{i}]"), e)),
        }
    }
    if s.resources.is_empty() {
        problems.push((
            "resources".into(),
            "name at least one resource (or `*`)".into(),
        ));
    }
    let mut sources = Vec::new();
    for (i, c) in s.conditions.source_addresses.iter().enumerate() {
        match Cidr::parse(c) {
            Ok(c) => sources.push(c),
            Err(e) => problems.push((format!("conditions.source_addresses[{i}]"), e)),
        }
    }
    let window = match &s.conditions.time {
        None => None,
        Some(t) => match jiff::tz::TimeZone::get(&t.time_zone) {
            Err(_) => {
                problems.push((
                    "conditions.time.time_zone".into(),
                    format!(
                        "unknown time zone '{}': use an IANA name such as Europe/Paris",
                        t.time_zone
                    ),
                ));
                None
            }
            Ok(zone) if t.after == t.before => {
                problems.push((
                    "conditions.time".into(),
                    format!("the window from {} to {} is empty", t.after, t.before),
                ));
                drop(zone);
                None
            }
            Ok(zone) => Some(Window {
                zone,
                days: t.days.clone(),
                after: t.after.minutes(),
                before: t.before.minutes(),
            }),
        },
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Statement {
        effect: s.effect,
        actions,
        resources: s.resources.clone(),
        mfa_present: s.conditions.mfa_present,
        sources,
        window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_model::config::{PolicyConditions, PolicyTimeWindow};
    use sb_model::hours::ClockTime;

    fn statement(effect: PolicyEffect, actions: &[&str]) -> PolicyStatement {
        PolicyStatement {
            effect,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            resources: vec!["*".into()],
            conditions: PolicyConditions::default(),
        }
    }

    fn role(statements: Vec<PolicyStatement>) -> Policy {
        Policy::compile(&RoleSpec {
            name: sb_model::Name::new("Custom").unwrap(),
            description: None,
            statements,
        })
        .unwrap()
    }

    fn ctx(resource: &str) -> RequestContext {
        RequestContext {
            resource: resource.into(),
            mfa_present: false,
            source: Some("10.1.2.3".parse().unwrap()),
            now: "2026-11-26T15:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn nothing_is_allowed_by_default_and_a_deny_beats_an_allow() {
        let p = role(vec![
            statement(PolicyEffect::Allow, &["contact:*", "privacy:Export"]),
            statement(PolicyEffect::Deny, &["contact:ReadTranscript"]),
        ]);
        assert_eq!(
            p.decide(Action::ContactRead, &ctx("contacts")),
            Decision::Allowed
        );
        assert_eq!(
            p.decide(Action::PrivacyExport, &ctx("privacy/export")),
            Decision::Allowed
        );
        assert_eq!(
            p.decide(Action::ContactReadTranscript, &ctx("contacts/c/transcript")),
            Decision::DeniedBy(1)
        );
        assert_eq!(
            p.decide(Action::ConfigApply, &ctx("config/apply")),
            Decision::NotAllowed
        );
        assert!(p.may_ever(Action::ContactRead));
        assert!(!p.may_ever(Action::ContactReadTranscript));
        assert!(!p.may_ever(Action::QueryRun));
    }

    #[test]
    fn resources_match_with_wildcards() {
        let mut s = statement(PolicyEffect::Allow, &["stream:Read"]);
        s.resources = vec![
            "streams/agent-events*".into(),
            "contacts/*/flow-logs".into(),
        ];
        let p = role(vec![s]);
        assert_eq!(
            p.decide(Action::StreamRead, &ctx("streams/agent-events")),
            Decision::Allowed
        );
        assert_eq!(
            p.decide(Action::StreamRead, &ctx("streams/agent-events/subscribe")),
            Decision::Allowed
        );
        assert_eq!(
            p.decide(Action::StreamRead, &ctx("streams/contact-events")),
            Decision::NotAllowed
        );
        assert!(glob("contacts/*/flow-logs", "contacts/abc/flow-logs"));
        assert!(!glob("contacts/*/flow-logs", "contacts/abc/transcript"));
        assert!(glob("*", ""));
    }

    #[test]
    fn conditions_on_mfa_address_and_time() {
        let mut s = statement(PolicyEffect::Allow, &["query:Run"]);
        s.conditions = PolicyConditions {
            mfa_present: Some(true),
            source_addresses: vec!["10.0.0.0/8".into(), "2001:db8::/32".into()],
            time: Some(PolicyTimeWindow {
                time_zone: "Europe/Paris".into(),
                days: vec![Weekday::Thursday],
                after: ClockTime::parse("09:00").unwrap(),
                before: ClockTime::parse("18:00").unwrap(),
            }),
        };
        let p = role(vec![s]);
        let mut c = ctx("query");
        assert_eq!(
            p.decide(Action::QueryRun, &c),
            Decision::NotAllowed,
            "no MFA"
        );
        c.mfa_present = true;
        assert_eq!(
            p.decide(Action::QueryRun, &c),
            Decision::Allowed,
            "Thursday 16:00 in Paris"
        );
        c.source = Some("192.168.0.1".parse().unwrap());
        assert_eq!(
            p.decide(Action::QueryRun, &c),
            Decision::NotAllowed,
            "outside the block"
        );
        c.source = Some("2001:db8::7".parse().unwrap());
        assert_eq!(p.decide(Action::QueryRun, &c), Decision::Allowed);
        c.source = Some("::ffff:10.9.9.9".parse().unwrap());
        assert_eq!(
            p.decide(Action::QueryRun, &c),
            Decision::Allowed,
            "IPv4-mapped"
        );
        c.now = "2026-11-26T18:30:00Z".parse().unwrap();
        assert_eq!(
            p.decide(Action::QueryRun, &c),
            Decision::NotAllowed,
            "19:30 in Paris"
        );
        c.now = "2026-11-27T10:00:00Z".parse().unwrap();
        assert_eq!(
            p.decide(Action::QueryRun, &c),
            Decision::NotAllowed,
            "a Friday"
        );
    }

    #[test]
    fn a_window_past_midnight_counts_on_the_day_it_starts() {
        let w = Window {
            zone: jiff::tz::TimeZone::UTC,
            days: vec![Weekday::Thursday],
            after: 22 * 60,
            before: 6 * 60,
        };
        assert!(w.contains("2026-11-26T23:00:00Z".parse().unwrap()));
        assert!(w.contains("2026-11-27T05:59:00Z".parse().unwrap()));
        assert!(
            !w.contains("2026-11-27T23:00:00Z".parse().unwrap()),
            "Friday night"
        );
        assert!(!w.contains("2026-11-26T12:00:00Z".parse().unwrap()));
    }

    #[test]
    fn every_problem_is_named_with_its_place() {
        let mut s = statement(PolicyEffect::Allow, &["contact:Raed", "nope:*"]);
        s.conditions.source_addresses = vec!["10.0.0.0/33".into()];
        s.conditions.time = Some(PolicyTimeWindow {
            time_zone: "Mars/Olympus".into(),
            days: vec![],
            after: ClockTime::parse("09:00").unwrap(),
            before: ClockTime::parse("17:00").unwrap(),
        });
        let problems = Policy::compile(&RoleSpec {
            name: sb_model::Name::new("Bad").unwrap(),
            description: None,
            statements: vec![s],
        })
        .unwrap_err();
        let places: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            places,
            [
                "statements[0].actions[0]",
                "statements[0].actions[1]",
                "statements[0].conditions.source_addresses[0]",
                "statements[0].conditions.time.time_zone"
            ]
        );
    }
}
