use serde::{Deserialize, Deserializer, Serialize};

/// The name of a configured resource (queue, flow, prompt, ...).
///
/// Names are how specs refer to each other, so they must survive being written in
/// YAML, shown in a plan and used in a URL path: 1 to 127 characters, no control
/// characters, no leading or trailing white space, and no `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Name(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name must not be empty")]
    Empty,
    #[error("a name must be at most {max} characters, this one has {len}", max = Name::MAX_LEN)]
    TooLong { len: usize },
    #[error("a name must not start or end with white space")]
    OuterWhitespace,
    #[error("a name must not contain control characters or '/'")]
    ForbiddenCharacter,
}

impl Name {
    pub const MAX_LEN: usize = 127;

    pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
        let value = value.into();
        let len = value.chars().count();
        if len == 0 {
            return Err(NameError::Empty);
        }
        if len > Self::MAX_LEN {
            return Err(NameError::TooLong { len });
        }
        if value.trim() != value {
            return Err(NameError::OuterWhitespace);
        }
        if value.chars().any(|c| c.is_control() || c == '/') {
            return Err(NameError::ForbiddenCharacter);
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Name::new(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        assert_eq!(
            Name::new("Billing Queue").unwrap().as_str(),
            "Billing Queue"
        );
        assert!(Name::new("Ünïcode-ok_1").is_ok());
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(Name::new(""), Err(NameError::Empty));
        assert_eq!(Name::new(" x"), Err(NameError::OuterWhitespace));
        assert_eq!(Name::new("a/b"), Err(NameError::ForbiddenCharacter));
        assert_eq!(Name::new("a\nb"), Err(NameError::ForbiddenCharacter));
        assert!(matches!(
            Name::new("x".repeat(128)),
            Err(NameError::TooLong { len: 128 })
        ));
    }
}
