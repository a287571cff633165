//! What a spec file may not do before it reaches the YAML parser, so that a small file
//! can never cost much to parse (spec files come from CI roles through `config:Plan`):
//!
//! - no aliases (`*name`): one anchored list replayed a thousand times turns 84 KB
//!   into a gigabyte, and spec files have no need of them — write the value out;
//! - nesting at most [`MAX_DEPTH`] deep, by flow brackets, by `- ` entries on one line
//!   and by indentation: the parser's cost grows with the square of the depth;
//! - at most [`MAX_FILE_BYTES`].
//!
//! A scan of the text, not a parse: quoted scalars, comments and block scalars (`|`,
//! `>`) are skipped, so their contents never count. Limits are on what the parser
//! would have to hold, and any real spec file is far inside them.

/// Deepest nesting a spec file may have; real ones are under ten.
pub const MAX_DEPTH: usize = 64;
/// Widest indentation, in columns.
pub const MAX_INDENT: usize = 256;
/// Largest spec file.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Why a file was refused, with the 1-based line where it was seen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlRefusal {
    #[error("line {line}: YAML aliases (*{name}) are not accepted in spec files; write the value out where it is used")]
    Alias { line: usize, name: String },
    #[error("line {line}: nested more than {MAX_DEPTH} levels deep")]
    TooDeep { line: usize },
    #[error("line {line}: indented more than {MAX_INDENT} columns")]
    TooIndented { line: usize },
    #[error("the file is {bytes} bytes; a spec file may have at most {MAX_FILE_BYTES}")]
    TooLarge { bytes: usize },
}

/// Whether `c` can be part of an anchor or alias name.
fn is_name_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}')
}

/// Checks `text` against the limits above.
pub fn check(text: &str) -> Result<(), YamlRefusal> {
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlRefusal::TooLarge { bytes: text.len() });
    }
    let mut flow_depth: usize = 0;
    // While inside a block scalar: the indentation of the line that opened it.
    let mut block_scalar_of: Option<usize> = None;
    // Inside a quoted scalar that runs past the end of its line.
    let mut open_quote: Option<char> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(opener) = block_scalar_of {
            if line.trim().is_empty() || indent > opener {
                continue;
            }
            block_scalar_of = None;
        }
        if open_quote.is_none() && indent > MAX_INDENT {
            return Err(YamlRefusal::TooIndented { line: number });
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        // At the start of a node: where an alias, a `- ` entry or a bracket may begin.
        let mut node_start = open_quote.is_none();
        let mut entries_on_line = 0;
        let mut last_significant: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            if let Some(quote) = open_quote {
                if c == quote {
                    if quote == '\'' && chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    open_quote = None;
                    last_significant = Some(c);
                } else if c == '\\' && quote == '"' {
                    i += 1;
                }
                i += 1;
                continue;
            }
            match c {
                ' ' | '\t' => {
                    i += 1;
                    continue;
                }
                '#' if i == 0 || chars[i - 1] == ' ' || chars[i - 1] == '\t' => break,
                '"' | '\'' if node_start => {
                    open_quote = Some(c);
                    node_start = false;
                }
                '*' if node_start => {
                    let name: String = chars[i + 1..]
                        .iter()
                        .take_while(|&&c| is_name_char(c))
                        .collect();
                    return Err(YamlRefusal::Alias { line: number, name });
                }
                '[' | '{' if node_start || flow_depth > 0 => {
                    flow_depth += 1;
                    if flow_depth > MAX_DEPTH {
                        return Err(YamlRefusal::TooDeep { line: number });
                    }
                    node_start = true;
                }
                ']' | '}' if flow_depth > 0 => {
                    flow_depth -= 1;
                    node_start = false;
                }
                ',' if flow_depth > 0 => node_start = true,
                '-' | '?'
                    if node_start && chars.get(i + 1).is_none_or(|n| *n == ' ' || *n == '\t') =>
                {
                    entries_on_line += 1;
                    if indent + entries_on_line > MAX_INDENT || entries_on_line > MAX_DEPTH {
                        return Err(YamlRefusal::TooDeep { line: number });
                    }
                }
                ':' if chars.get(i + 1).is_none_or(|n| *n == ' ' || *n == '\t')
                    || flow_depth > 0 =>
                {
                    node_start = true;
                }
                '&' | '!' if node_start => {
                    // An anchor or a tag comes before its node: skip its name.
                    while i < chars.len() && is_name_char(chars[i]) {
                        i += 1;
                    }
                    last_significant = Some(c);
                    continue;
                }
                _ => node_start = false,
            }
            last_significant = Some(c);
            i += 1;
        }
        // `key: |` or `- >-`: the lines indented further are text.
        let trimmed = line.split(" #").next().unwrap_or("").trim_end();
        let indicator =
            trimmed.trim_end_matches(|c: char| c == '+' || c == '-' || c.is_ascii_digit());
        if open_quote.is_none()
            && flow_depth == 0
            && (indicator.ends_with('|') || indicator.ends_with('>'))
            && matches!(last_significant, Some('|' | '>' | '+' | '-' | '0'..='9'))
            && {
                let before = indicator[..indicator.len() - 1].trim_end();
                before.is_empty() || before.ends_with(':') || before.ends_with('-')
            }
        {
            block_scalar_of = Some(indent);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_spec_files_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert_eq!(check(&text), Ok(()), "{}", path.display());
            }
        }
    }

    #[test]
    fn text_that_only_looks_like_an_alias_passes() {
        for text in [
            "description: a *starred* word\n",
            "description: \"*not an alias\"\n",
            "description: '*nor this'\n",
            "description: |\n  * a bullet\n  *emphasis* at the start\nnext: 1\n",
            "description: >-\n  *folded*\n",
            "note: x # *a comment\n",
            "list: [a, 'b*', c]\n",
            "glob: contacts/*/transcript\n",
            "resources: [\"streams/*\"]\n",
            "key: \"multi\n  line *with star\"\n",
        ] {
            assert_eq!(check(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn aliases_are_refused_where_a_node_begins() {
        for (text, line) in [
            ("s: &s [1, 2]\nt: *s\n", 2),
            ("roles:\n  - statements: *s\n", 2),
            ("- *a\n", 1),
            ("x: [1, *a]\n", 1),
            ("x: {k: *a}\n", 1),
            ("description: |\n  text\nx: *a\n", 3),
        ] {
            assert!(
                matches!(check(text), Err(YamlRefusal::Alias { line: l, .. }) if l == line),
                "{text}: {:?}",
                check(text)
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let brackets = format!("queues: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(check(&brackets), Err(YamlRefusal::TooDeep { line: 1 }));
        let dashes = format!("{}x\n", "- ".repeat(1_000));
        assert_eq!(check(&dashes), Err(YamlRefusal::TooDeep { line: 1 }));
        let indented = format!("a:\n{}b: 1\n", " ".repeat(1_000));
        assert_eq!(check(&indented), Err(YamlRefusal::TooIndented { line: 2 }));
        let fine = format!("x: {}1{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(check(&fine), Ok(()));
        let big = "#".repeat(MAX_FILE_BYTES + 1);
        assert!(matches!(check(&big), Err(YamlRefusal::TooLarge { .. })));
    }
}
