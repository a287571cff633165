//! One YAML file of a spec. Any file may hold any sections; the loader merges them.

use sb_model::config::*;
use sb_model::hours::HoursOfOperation;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_norway::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpecDocument {
    #[serde(default)]
    pub instance: Option<InstanceSettings>,
    #[serde(default)]
    pub security: Option<SecuritySettings>,
    #[serde(default)]
    pub hours_of_operation: Vec<HoursOfOperation>,
    #[serde(default)]
    pub queues: Vec<Queue>,
    #[serde(default)]
    pub routing_profiles: Vec<RoutingProfile>,
    #[serde(default)]
    pub agent_statuses: Vec<AgentStatus>,
    #[serde(default)]
    pub predefined_attributes: Vec<PredefinedAttribute>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub prompts: Vec<Prompt>,
    #[serde(default)]
    pub flows: Vec<FlowEntry>,
    #[serde(default)]
    pub functions: Vec<ExternalFunction>,
    #[serde(default)]
    pub quick_connects: Vec<QuickConnect>,
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
}

/// One thing wrong with a file: where (a path such as `queues[Orders].hours`, a line
/// such as `line 4 column 12`, or both) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileProblem {
    pub path: String,
    pub line: Option<String>,
    pub message: String,
}

impl FileProblem {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FileProblem {
            path: path.into(),
            line: None,
            message: message.into(),
        }
    }

    /// `queues[Orders].hours, line 4 column 12`, `queues[Orders].hours`, `line 5 column
    /// 17`, or nothing (the whole file).
    pub(crate) fn location(&self) -> String {
        match (&self.line, self.path.is_empty()) {
            (Some(line), true) => line.clone(),
            (Some(line), false) => format!("{}, {line}", self.path),
            (None, _) => self.path.clone(),
        }
    }

    /// Whether `other`, found resource by resource, is this (the parser's) problem. The
    /// parser names list items by index and the resource pass by name, so indices are
    /// not compared; an unknown section the parser reports without a path, by name.
    fn is_same_place(&self, other: &FileProblem) -> bool {
        if self.path.is_empty() {
            return self.message.contains(&format!("`{}`", other.path));
        }
        without_indices(&self.path) == without_indices(&other.path)
    }
}

pub(crate) fn parse(text: &str) -> Result<SpecDocument, Vec<FileProblem>> {
    // An empty file (or one with only comments) is an empty document, not an error.
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(SpecDocument::default());
    }
    // Nothing costly reaches the parser: no aliases to expand, no deep nesting.
    crate::yaml_guard::check(text).map_err(|e| vec![FileProblem::new("", e.to_string())])?;
    let first = match serde_norway::from_str(text) {
        Ok(doc) => return Ok(doc),
        Err(e) => e,
    };
    // The parser stops at the first problem; the file is read again as plain YAML and
    // each resource judged on its own, so that every problem in it is named at once.
    let value = match serde_norway::from_str::<Value>(text) {
        Ok(value) => value,
        // Not YAML: a parser cannot go on past broken syntax, so this is the one problem
        // the file can report, and it is the syntax, not what the typed read met first
        // (an unclosed `[` reads as a list where text was expected).
        Err(syntax) => {
            let mut problem = located(&syntax);
            problem.message = format!(
                "{} (the rest of this file is checked once it parses)",
                problem.message
            );
            return Err(vec![problem]);
        }
    };
    let mut problems = every_problem(value);
    let first = located(&first);
    match problems.iter_mut().find(|p| first.is_same_place(p)) {
        // The same problem, found again: it keeps its resource's name, and gains a line.
        Some(same) => same.line = first.line,
        None => problems.insert(0, first),
    }
    Err(problems)
}

/// The parser's error with its line and column apart from the message.
fn located(error: &serde_norway::Error) -> FileProblem {
    let text = error.to_string();
    let Some(place) = error.location() else {
        return FileProblem::new("", text);
    };
    let line = format!("line {} column {}", place.line(), place.column());
    let text = text.replacen(&format!(" at {line}"), "", 1);
    // serde_norway puts the path first: `queues[0].hours: invalid type …`.
    let (path, message) = match text.split_once(": ") {
        Some((path, message)) if !path.contains(' ') => (path.to_string(), message.to_string()),
        _ => (String::new(), text),
    };
    FileProblem {
        path,
        line: Some(line),
        message,
    }
}

/// `queues.hours` for `queues[Orders].hours`.
fn without_indices(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '[' => inside = true,
            ']' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// The sections a spec file may hold, for the message about an unknown one.
const SECTIONS: &[&str] = &[
    "instance",
    "security",
    "hours_of_operation",
    "queues",
    "routing_profiles",
    "agent_statuses",
    "predefined_attributes",
    "users",
    "prompts",
    "flows",
    "functions",
    "quick_connects",
    "roles",
];

fn every_problem(value: Value) -> Vec<FileProblem> {
    let mut problems = Vec::new();
    let Value::Mapping(sections) = value else {
        problems.push(FileProblem::new(
            "",
            "a spec file is a mapping of sections (queues:, users:, flows:, …)",
        ));
        return problems;
    };
    for (key, section) in sections {
        let Some(name) = key.as_str() else {
            problems.push(FileProblem::new("", "a section name must be text"));
            continue;
        };
        let out = &mut problems;
        match name {
            "instance" => one::<InstanceSettings>(name, section, out),
            "security" => one::<SecuritySettings>(name, section, out),
            "hours_of_operation" => each::<HoursOfOperation>(name, section, out),
            "queues" => each::<Queue>(name, section, out),
            "routing_profiles" => each::<RoutingProfile>(name, section, out),
            "agent_statuses" => each::<AgentStatus>(name, section, out),
            "predefined_attributes" => each::<PredefinedAttribute>(name, section, out),
            "users" => each::<User>(name, section, out),
            "prompts" => each::<Prompt>(name, section, out),
            "flows" => each::<FlowEntry>(name, section, out),
            "functions" => each::<ExternalFunction>(name, section, out),
            "quick_connects" => each::<QuickConnect>(name, section, out),
            "roles" => each::<RoleSpec>(name, section, out),
            unknown => out.push(FileProblem::new(
                unknown,
                format!(
                    "unknown section `{unknown}`, expected one of {}",
                    SECTIONS.join(", ")
                ),
            )),
        }
    }
    problems
}

/// A section holding one resource (`instance:`, `security:`).
fn one<T: DeserializeOwned>(name: &str, value: Value, out: &mut Vec<FileProblem>) {
    if let Err(e) = judge::<T>(value) {
        out.push(FileProblem::new(join(name, &e.0), e.1));
    }
}

/// A section holding a list of resources: each is judged alone, named by its `name`.
fn each<T: DeserializeOwned>(name: &str, value: Value, out: &mut Vec<FileProblem>) {
    if value.is_null() {
        return;
    }
    let Value::Sequence(items) = value else {
        out.push(FileProblem::new(
            name,
            format!("`{name}` is a list (each item starting with `- `)"),
        ));
        return;
    };
    for (index, item) in items.into_iter().enumerate() {
        let label = ["name", "username"]
            .iter()
            .find_map(|k| item.get(k).and_then(Value::as_str))
            .map(str::to_string)
            .unwrap_or_else(|| index.to_string());
        if let Err((path, message)) = judge::<T>(item) {
            out.push(FileProblem::new(
                join(&format!("{name}[{label}]"), &path),
                message,
            ));
        }
    }
}

/// Deserialises one resource; on failure, the path inside it and the message.
fn judge<T: DeserializeOwned>(value: Value) -> Result<(), (String, String)> {
    serde_path_to_error::deserialize::<_, T>(value)
        .map(drop)
        .map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            (path, e.into_inner().to_string())
        })
}

fn join(base: &str, path: &str) -> String {
    match path {
        "" => base.to_string(),
        p if p.starts_with('[') => format!("{base}{p}"),
        p => format!("{base}.{p}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_resource_in_a_file_is_named_with_its_place() {
        let text = "queues:\n  - name: A\n    hours: [x]\n  - name: B\n    hours: y\n  - name: C\n    hours: [z]\n";
        let problems = parse(text).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].location(), "queues[A].hours, line 3 column 12");
        assert_eq!(
            problems[0].message,
            "invalid type: sequence, expected a string"
        );
        assert_eq!(problems[1].location(), "queues[C].hours");
    }

    #[test]
    fn a_syntax_error_has_its_line_as_the_location() {
        let problems = parse("queues:\n  - name: \"A\n").unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].location().starts_with("line "), "{problems:?}");
        assert!(
            problems[0]
                .message
                .starts_with("found unexpected end of stream, while")
                && problems[0].message.ends_with("checked once it parses)"),
            "{problems:?}"
        );
    }

    #[test]
    fn an_unknown_section_is_named() {
        let problems = parse("queue:\n  - name: A\n").unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].location(), "queue, line 1 column 1");
        assert!(problems[0].message.contains("queues"), "{problems:?}");
    }

    #[test]
    fn a_section_that_is_no_list_says_so() {
        let problems = parse("queues:\n  name: A\n").unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].location().starts_with("queues"), "{problems:?}");
    }

    /// A resource whose name holds `line ` (`Online Sales`) keeps its whole name.
    #[test]
    fn a_name_that_contains_line_is_not_taken_for_a_position() {
        let text = "queues:\n  - name: Online Sales\n    hours: [x]\n";
        let problems = parse(text).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].location(),
            "queues[Online Sales].hours, line 3 column 12"
        );
    }
}
