use std::fmt;

/// One thing wrong (or worth a warning) in a spec, pointing at the file and the place in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// The file, relative to the spec directory; absent (empty) for a problem of the
    /// whole spec, such as a missing instance section.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// Where inside the file: `queues[Billing].hours`, `queues[Orders].hours, line 4
    /// column 12`, `line 5 column 17`, `Actions[menu]...`; absent when the whole file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.warning { "warning" } else { "error" };
        if self.file.is_empty() {
            // About the whole spec, not one file.
            write!(f, "{kind}: {}", self.message)
        } else if self.location.is_empty() {
            write!(f, "{kind}: {}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{kind}: {}: {}: {}",
                self.file, self.location, self.message
            )
        }
    }
}

/// Every problem found in a spec. Validation never stops at the first one.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub(crate) fn error(
        &mut self,
        file: impl Into<String>,
        location: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(file.into(), location.into(), message.into(), false);
    }

    pub(crate) fn warning(
        &mut self,
        file: impl Into<String>,
        location: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(file.into(), location.into(), message.into(), true);
    }

    fn push(&mut self, file: String, location: String, message: String, warning: bool) {
        self.0.push(Problem {
            file,
            location,
            message,
            warning,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|p| !p.warning)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter().filter(|p| !p.warning)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter().filter(|p| p.warning)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        write!(f, "{errors} error(s), {warnings} warning(s)")
    }
}

impl std::error::Error for Problems {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Newcomer review D14: a problem about the whole spec names no empty file.
    #[test]
    fn a_problem_of_no_file_says_no_file() {
        let mut problems = Problems::default();
        problems.warning("", "", "cross-reference checks skipped");
        problems.error("queues.yaml", "queues[0]", "bad");
        let text = problems.to_string();
        assert!(
            text.contains("warning: cross-reference checks skipped"),
            "{text}"
        );
        assert!(!text.contains(": :"), "{text}");
        assert!(
            text.contains("error: queues.yaml: queues[0]: bad"),
            "{text}"
        );
    }
}
