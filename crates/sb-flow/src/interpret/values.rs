//! Dynamic values: `$.Attributes.x`, `$.External.a.b`, `$.StoredCustomerInput`, ...
//! A parameter that is exactly a path resolves to its value; text parameters may also
//! embed paths (`"Hello $.Attributes.first_name"`), which are substituted.

use serde_json::Value;

use super::state::ContactData;

fn json_to_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The value at `path` (which starts with `$.`), or `None` when it has none.
pub fn resolve_path(contact: &ContactData, path: &str) -> Option<String> {
    let rest = path.strip_prefix("$.")?;
    let (head, tail) = match rest.split_once('.') {
        Some((h, t)) => (h, Some(t)),
        None => (rest, None),
    };
    let from_map =
        |map: &std::collections::BTreeMap<String, String>| tail.and_then(|k| map.get(k).cloned());
    match (head, tail) {
        ("Attributes", _) => from_map(&contact.attributes),
        ("FlowAttributes", _) => from_map(&contact.flow_attributes),
        ("Metrics", _) => from_map(&contact.metrics),
        ("Tags", _) => from_map(&contact.tags),
        ("External", Some(tail)) => {
            let mut parts = tail.split('.');
            let mut current = contact.external.get(parts.next()?)?;
            for part in parts {
                current = current.get(part)?;
            }
            Some(json_to_text(current))
        }
        ("StoredCustomerInput", None) => contact.stored_input.clone(),
        ("CustomerEndpoint", Some("Address")) => contact.customer_endpoint.clone(),
        ("CustomerEndpoint", Some("Type")) => contact
            .customer_endpoint
            .as_ref()
            .map(|_| "TELEPHONE_NUMBER".into()),
        ("SystemEndpoint", Some("Address")) => contact.system_endpoint.clone(),
        ("SystemEndpoint", Some("Type")) => contact
            .system_endpoint
            .as_ref()
            .map(|_| "TELEPHONE_NUMBER".into()),
        ("Channel", None) => Some(contact.channel.as_str().to_string()),
        ("ContactId", None) => Some(contact.contact_id.clone()),
        ("InitialContactId", None) => Some(contact.initial_contact_id.clone()),
        ("Name", None) => contact.name.clone(),
        ("Description", None) => contact.description.clone(),
        ("LanguageCode", None) => contact.language_code.clone(),
        ("TextToSpeechVoice", None) => contact.voice.clone(),
        ("Queue", Some("Name")) => contact.target_queue.clone(),
        // Beyond Connect: where the contact stands in line, for queue flows to tell.
        ("Queue", Some("Position")) => contact.queue_position.map(|p| p.to_string()),
        ("Queue", Some("EstimatedWaitSeconds")) => {
            contact.queue_wait_seconds.map(|s| s.to_string())
        }
        ("Queue", Some("EstimatedWaitMinutes")) => contact
            .queue_wait_seconds
            .map(|s| s.div_ceil(60).max(1).to_string()),
        ("CallbackNumber", None) => contact.callback_number.clone(),
        _ => None,
    }
}

/// Resolve a parameter: a whole path gives its value (empty when unset), anything else
/// is taken as text with embedded paths substituted.
pub(crate) fn resolve(contact: &ContactData, raw: &str) -> String {
    if !raw.contains("$.") {
        return raw.to_string();
    }
    if raw.starts_with("$.") && !raw.contains(char::is_whitespace) {
        return resolve_path(contact, raw).unwrap_or_default();
    }
    interpolate(contact, raw)
}

/// Whether a byte may continue a `$.` path: letters, digits, `_`, `-`, `.`.
fn path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

fn interpolate(contact: &ContactData, text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'.') {
            let mut end = i + 2;
            while end < bytes.len() && path_byte(bytes[end]) {
                end += 1;
            }
            // A sentence's full stop is not part of the path.
            while end > i + 2 && bytes[end - 1] == b'.' {
                end -= 1;
            }
            let path = &text[i..end];
            // A value that is not there reads as nothing, as a whole path does (and as
            // Connect speaks it): a customer never sees a raw `$.` reference.
            if let Some(value) = resolve_path(contact, path) {
                out.push_str(&value);
            }
            i = end;
        } else {
            let ch = text[i..].chars().next().expect("inside the string");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_model::Channel;

    fn contact() -> ContactData {
        let mut c = ContactData::new("c-1", Channel::Voice);
        c.attributes.insert("first_name".into(), "Ana".into());
        c.external = serde_json::from_str(r#"{"tier":"gold","account":{"id":42}}"#).unwrap();
        c.customer_endpoint = Some("+15555550123".into());
        c.target_queue = Some("Billing".into());
        c
    }

    #[test]
    fn resolves_whole_paths() {
        let c = contact();
        assert_eq!(resolve(&c, "$.Attributes.first_name"), "Ana");
        assert_eq!(resolve(&c, "$.External.tier"), "gold");
        assert_eq!(resolve(&c, "$.External.account.id"), "42");
        assert_eq!(resolve(&c, "$.CustomerEndpoint.Address"), "+15555550123");
        assert_eq!(resolve(&c, "$.Channel"), "VOICE");
        assert_eq!(resolve(&c, "$.Queue.Name"), "Billing");
        assert_eq!(resolve(&c, "$.Attributes.missing"), "");
        assert_eq!(resolve(&c, "plain"), "plain");
    }

    #[test]
    fn interpolates_text() {
        let c = contact();
        assert_eq!(resolve(&c, "Hello $.Attributes.first_name."), "Hello Ana.");
        assert_eq!(
            resolve(&c, "You are in $.Queue.Name, tier $.External.tier!"),
            "You are in Billing, tier gold!"
        );
        assert_eq!(resolve(&c, "Price: $5 ü"), "Price: $5 ü");
        assert_eq!(
            resolve(&c, "You are number $.Queue.Position in line."),
            "You are number  in line."
        );
    }

    #[test]
    fn the_place_in_line_reads_when_known() {
        let mut c = contact();
        assert_eq!(resolve(&c, "$.Queue.Position"), "");
        c.queue_position = Some(3);
        c.queue_wait_seconds = Some(61);
        assert_eq!(
            resolve(&c, "Number $.Queue.Position, about $.Queue.EstimatedWaitMinutes min ($.Queue.EstimatedWaitSeconds s)"),
            "Number 3, about 2 min (61 s)"
        );
    }
}
