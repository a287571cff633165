//! What deploying a spec would change, resource by resource, like a terraform plan.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::InstanceSpec;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<ResourceChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// Spec section, e.g. `queues`.
    pub kind: String,
    pub name: String,
    pub action: ChangeAction,
    /// For `change`: each field that differs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Add,
    Change,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

impl Plan {
    /// The plan that turns `deployed` (nothing, for a first deploy) into `wanted`.
    pub fn between(deployed: Option<&InstanceSpec>, wanted: &InstanceSpec) -> Plan {
        let old = deployed.map(to_object).unwrap_or_default();
        let new = to_object(wanted);
        let mut changes = Vec::new();
        for (kind, new_section) in &new {
            let old_section = old.get(kind);
            match new_section {
                // Keyed sections: queues, users, flows, ...
                Value::Object(resources) => {
                    let empty = Map::new();
                    let before = old_section.and_then(Value::as_object).unwrap_or(&empty);
                    diff_section(kind, before, resources, &mut changes);
                }
                // Singletons: instance, security.
                singleton => match old_section {
                    None => changes.push(ResourceChange {
                        kind: kind.clone(),
                        name: kind.clone(),
                        action: ChangeAction::Add,
                        fields: vec![],
                    }),
                    Some(before) if before != singleton => changes.push(ResourceChange {
                        kind: kind.clone(),
                        name: kind.clone(),
                        action: ChangeAction::Change,
                        fields: field_changes(before, singleton),
                    }),
                    Some(_) => {}
                },
            }
        }
        Plan { changes }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn count(&self, action: ChangeAction) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// One line for the version history: "2 to add, 1 to change, 0 to remove".
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "no changes".into();
        }
        format!(
            "{} to add, {} to change, {} to remove",
            self.count(ChangeAction::Add),
            self.count(ChangeAction::Change),
            self.count(ChangeAction::Remove)
        )
    }
}

fn to_object(spec: &InstanceSpec) -> Map<String, Value> {
    match serde_json::to_value(spec).expect("a spec always serialises") {
        Value::Object(map) => map,
        _ => unreachable!("InstanceSpec serialises to an object"),
    }
}

fn diff_section(
    kind: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    out: &mut Vec<ResourceChange>,
) {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for name in names {
        let change = |action, fields| ResourceChange {
            kind: kind.to_string(),
            name: name.clone(),
            action,
            fields,
        };
        match (before.get(name), after.get(name)) {
            (None, Some(_)) => out.push(change(ChangeAction::Add, vec![])),
            (Some(_), None) => out.push(change(ChangeAction::Remove, vec![])),
            (Some(a), Some(b)) if a != b => {
                out.push(change(ChangeAction::Change, field_changes(a, b)))
            }
            _ => {}
        }
    }
}

fn field_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    diff_value(String::new(), Some(old), Some(new), &mut out);
    out
}

/// Keys by which list items are matched, so that inserting one flow action does not
/// show every later action as changed. A list is matched by key only when every item
/// has one and no two share it (two Monday shifts do not); otherwise by equality.
const ITEM_KEYS: &[&str] = &["Identifier", "name", "username", "queue", "day"];

fn item_key(value: &Value) -> Option<String> {
    let object = value.as_object()?;
    let mut parts = Vec::new();
    for key in ITEM_KEYS {
        if let Some(Value::String(s)) = object.get(*key) {
            parts.push(s.clone());
            if let Some(Value::String(channel)) = object.get("channel") {
                parts.push(channel.clone());
            }
            return Some(parts.join("/"));
        }
    }
    None
}

/// Each item with its key, if all items have distinct keys.
fn keyed_items(list: &[Value]) -> Option<Vec<(String, &Value)>> {
    let keyed: Vec<(String, &Value)> = list
        .iter()
        .map(|v| item_key(v).map(|k| (k, v)))
        .collect::<Option<_>>()?;
    let distinct: BTreeSet<&String> = keyed.iter().map(|(k, _)| k).collect();
    (distinct.len() == keyed.len()).then_some(keyed)
}

fn join(path: &str, part: &str) -> String {
    if path.is_empty() {
        part.to_string()
    } else if part.starts_with('[') {
        format!("{path}{part}")
    } else {
        format!("{path}.{part}")
    }
}

fn diff_value(path: String, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Some(a), Some(b)) if a == b => {}
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                diff_value(join(&path, key), a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => match (keyed_items(a), keyed_items(b)) {
            (Some(ka), Some(kb)) => {
                let mut keys: Vec<&String> = Vec::new();
                for (k, _) in ka.iter().chain(kb.iter()) {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                for key in keys {
                    let (x, y) = (find_keyed(&ka, key), find_keyed(&kb, key));
                    diff_value(join(&path, &format!("[{key}]")), x, y, out);
                }
            }
            _ => diff_list(&path, a, b, out),
        },
        _ => out.push(FieldChange {
            path,
            old: old.cloned(),
            new: new.cloned(),
        }),
    }
}

/// A list whose items have no key: items equal in both are matched in order (a longest
/// common subsequence), and between two matches the items that differ are compared one
/// to one, the rest shown as removed or added. The path's index is the item's place in
/// the new list (in the old one for a removed item).
fn diff_list(path: &str, a: &[Value], b: &[Value], out: &mut Vec<FieldChange>) {
    // Lists in a spec are short (days, shifts, queues of a profile); the quadratic table
    // is bounded by the spec's own size limits.
    let (n, m) = (a.len(), b.len());
    let mut common = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let (mut removed, mut added): (Vec<usize>, Vec<usize>) = (vec![], vec![]);
    let flush = |removed: &mut Vec<usize>, added: &mut Vec<usize>, out: &mut Vec<FieldChange>| {
        let paired = removed.len().min(added.len());
        for (&x, &y) in removed.iter().zip(added.iter()) {
            diff_value(join(path, &format!("[{y}]")), Some(&a[x]), Some(&b[y]), out);
        }
        for &x in &removed[paired..] {
            diff_value(join(path, &format!("[{x}]")), Some(&a[x]), None, out);
        }
        for &y in &added[paired..] {
            diff_value(join(path, &format!("[{y}]")), None, Some(&b[y]), out);
        }
        removed.clear();
        added.clear();
    };
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            flush(&mut removed, &mut added, out);
            i += 1;
            j += 1;
        } else if j < m && (i == n || common[i][j + 1] >= common[i + 1][j]) {
            added.push(j);
            j += 1;
        } else {
            removed.push(i);
            i += 1;
        }
    }
    flush(&mut removed, &mut added, out);
}

fn find_keyed<'v>(list: &[(String, &'v Value)], key: &str) -> Option<&'v Value> {
    list.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

/// A value for one line of the plan. Changes are shown down to the field that differs,
/// so only a long whole value (an added flow action, say) is cut, and `--json` has it.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 160 {
        let cut: String = text.chars().take(150).collect();
        format!("{cut}… (whole in --json)")
    } else {
        text
    }
}

fn singular(kind: &str) -> &str {
    match kind {
        "hours_of_operation" => "hours_of_operation",
        "queues" => "queue",
        "routing_profiles" => "routing_profile",
        "agent_statuses" => "agent_status",
        "predefined_attributes" => "predefined_attribute",
        "users" => "user",
        "prompts" => "prompt",
        "flows" => "flow",
        "functions" => "function",
        "quick_connects" => "quick_connect",
        "roles" => "role",
        other => other,
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "No changes. The deployed version matches the spec.");
        }
        for c in &self.changes {
            let sign = match c.action {
                ChangeAction::Add => "+",
                ChangeAction::Change => "~",
                ChangeAction::Remove => "-",
            };
            writeln!(f, "  {sign} {} \"{}\"", singular(&c.kind), c.name)?;
            for field in &c.fields {
                match (&field.old, &field.new) {
                    (Some(o), Some(n)) => {
                        writeln!(f, "      {}: {} → {}", field.path, short(o), short(n))?
                    }
                    (None, Some(n)) => writeln!(f, "      + {}: {}", field.path, short(n))?,
                    (Some(o), None) => writeln!(f, "      - {}: {}", field.path, short(o))?,
                    (None, None) => {}
                }
            }
        }
        writeln!(f, "\nPlan: {}.", self.summary())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn changes(old: Value, new: Value) -> Vec<(String, Option<Value>, Option<Value>)> {
        field_changes(&old, &new)
            .into_iter()
            .map(|c| (c.path, c.old, c.new))
            .collect()
    }

    #[test]
    fn an_item_inserted_into_an_unkeyed_list_is_one_addition() {
        let old = json!({"shifts": [{"day": "MONDAY", "start": "08:00"}, {"day": "MONDAY", "start": "13:00"}]});
        let new = json!({"shifts": [{"day": "MONDAY", "start": "08:00"}, {"day": "MONDAY", "start": "11:00"}, {"day": "MONDAY", "start": "13:00"}]});
        assert_eq!(
            changes(old, new),
            vec![(
                "shifts[1]".into(),
                None,
                Some(json!({"day": "MONDAY", "start": "11:00"}))
            )]
        );
    }

    #[test]
    fn an_edited_item_among_removals_is_shown_field_by_field() {
        let old = json!({"l": [1, {"a": 1, "b": 2}, 3, 4]});
        let new = json!({"l": [1, {"a": 1, "b": 5}]});
        assert_eq!(
            changes(old, new),
            vec![
                ("l[1].b".into(), Some(json!(2)), Some(json!(5))),
                ("l[2]".into(), Some(json!(3)), None),
                ("l[3]".into(), Some(json!(4)), None),
            ]
        );
    }

    #[test]
    fn a_removed_keyed_item_is_named_by_its_key() {
        let old = json!({"q": [{"name": "A"}, {"name": "B"}]});
        let new = json!({"q": [{"name": "B"}]});
        assert_eq!(
            changes(old, new),
            vec![("q[A]".into(), Some(json!({"name": "A"})), None)]
        );
    }
}
