use serde::{Deserialize, Serialize};

/// A contact's channel, spelled as Amazon Connect spells it in records and flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    Voice,
    Chat,
    Task,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Voice, Channel::Chat, Channel::Task];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "VOICE",
            Channel::Chat => "CHAT",
            Channel::Task => "TASK",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
