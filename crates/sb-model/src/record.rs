//! The contact record, with Amazon Connect's field names, so dashboards and pipelines
//! built on Connect's contact trace records keep working.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Channel;

/// Why a contact ended, as its record's `DisconnectReason` and its DISCONNECTED event
/// say it: Connect's values, and two of Switchboard's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DisconnectReason {
    CustomerDisconnect,
    AgentDisconnect,
    ContactFlowDisconnect,
    ThirdPartyDisconnect,
    /// Ended by a supervisor or a program (StopContact).
    Api,
    /// A task or callback past its expiry.
    Expired,
    Other,
    /// Switchboard: the flow failed in a way that has no error branch.
    ContactFlowError,
    /// Switchboard: after a restart the contact's stored state could not be read back.
    RecoveryFailed,
}

impl DisconnectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::CustomerDisconnect => "CUSTOMER_DISCONNECT",
            DisconnectReason::AgentDisconnect => "AGENT_DISCONNECT",
            DisconnectReason::ContactFlowDisconnect => "CONTACT_FLOW_DISCONNECT",
            DisconnectReason::ThirdPartyDisconnect => "THIRD_PARTY_DISCONNECT",
            DisconnectReason::Api => "API",
            DisconnectReason::Expired => "EXPIRED",
            DisconnectReason::Other => "OTHER",
            DisconnectReason::ContactFlowError => "CONTACT_FLOW_ERROR",
            DisconnectReason::RecoveryFailed => "RECOVERY_FAILED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InitiationMethod {
    Inbound,
    Outbound,
    Transfer,
    QueueTransfer,
    Callback,
    Api,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContactRecord {
    pub contact_id: String,
    pub initial_contact_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_contact_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_contact_id: Option<String>,
    pub channel: Channel,
    pub initiation_method: InitiationMethod,
    /// RFC 3339.
    pub initiation_timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_to_system_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect_timestamp: Option<String>,
    pub last_update_timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentInfo>,
    pub agent_connection_attempts: u32,
    /// Who the customer is, when known (an email address or a telephone number). Kept
    /// sealed at rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_endpoint: Option<Endpoint>,
    pub attributes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recordings: Vec<String>,
    /// Switchboard extension: the configuration version the contact ran on.
    pub configuration_version: u64,
}

/// Connect's endpoint shape: `{"Address": ..., "Type": "EMAIL_ADDRESS"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Endpoint {
    pub address: String,
    #[serde(rename = "Type")]
    pub kind: EndpointType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndpointType {
    TelephoneNumber,
    EmailAddress,
}

/// One spelling for an address, however it was written: an email address trimmed and
/// in lower case; a telephone number without spaces, dashes, dots or parentheses.
pub fn normalize_address(address: &str) -> String {
    let address = address.trim();
    if address.contains('@') {
        address.to_lowercase()
    } else {
        address
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect()
    }
}

impl Endpoint {
    /// Check the address has the shape its type says (a `+` and digits for a
    /// telephone number, E.164; something@domain for an email address).
    pub fn check(&self) -> Result<(), String> {
        let a = self.address.trim();
        let ok = match self.kind {
            EndpointType::TelephoneNumber => {
                let digits = normalize_address(a);
                digits.starts_with('+')
                    && (8..=16).contains(&digits.len())
                    && digits[1..].chars().all(|c| c.is_ascii_digit())
            }
            EndpointType::EmailAddress => {
                a.len() <= 254
                    && a.split_once('@').is_some_and(|(local, domain)| {
                        !local.is_empty() && domain.contains('.') && !domain.contains('@')
                    })
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "customer endpoint '{a}' is not a valid {}",
                match self.kind {
                    EndpointType::TelephoneNumber =>
                        "E.164 telephone number (+ and 7 to 15 digits)",
                    EndpointType::EmailAddress => "email address",
                }
            ))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueInfo {
    pub name: String,
    pub enqueue_timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dequeue_timestamp: Option<String>,
    /// Seconds in queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentInfo {
    pub username: String,
    pub routing_profile: String,
    pub connected_to_agent_timestamp: String,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_interaction_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_contact_work_start_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_contact_work_end_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_contact_work_duration: Option<u64>,
    pub customer_hold_duration: u64,
    pub number_of_holds: u32,
    pub longest_hold_duration: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_through_json() {
        let record = ContactRecord {
            contact_id: "c".into(),
            initial_contact_id: "c".into(),
            previous_contact_id: None,
            next_contact_id: None,
            channel: Channel::Chat,
            initiation_method: InitiationMethod::Api,
            initiation_timestamp: "2026-11-26T00:00:00Z".into(),
            connected_to_system_timestamp: None,
            disconnect_timestamp: None,
            last_update_timestamp: "2026-11-26T00:00:00Z".into(),
            disconnect_reason: None,
            queue: None,
            agent: None,
            agent_connection_attempts: 0,
            customer_endpoint: None,
            attributes: BTreeMap::new(),
            recordings: vec![],
            configuration_version: 1,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains("\"ContactId\":\"c\""), "{json}");
        assert_eq!(
            serde_json::from_str::<ContactRecord>(&json).unwrap(),
            record
        );
    }
}

#[cfg(test)]
mod disconnect_reason_tests {
    use super::DisconnectReason;

    /// The text a record carries is serde's spelling of the same value.
    #[test]
    fn the_spelling_is_the_serialised_one() {
        for reason in [
            DisconnectReason::CustomerDisconnect,
            DisconnectReason::AgentDisconnect,
            DisconnectReason::ContactFlowDisconnect,
            DisconnectReason::ThirdPartyDisconnect,
            DisconnectReason::Api,
            DisconnectReason::Expired,
            DisconnectReason::Other,
            DisconnectReason::ContactFlowError,
            DisconnectReason::RecoveryFailed,
        ] {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::Value::String(reason.as_str().into())
            );
        }
    }
}
