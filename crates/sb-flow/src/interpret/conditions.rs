//! Condition operators, as Connect evaluates them.

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Whether `value` satisfies `operator` against `operand`. Numeric operators are false
/// when either side is not a number.
pub(crate) fn holds(operator: &str, value: &str, operand: &str) -> bool {
    let numeric = |f: fn(f64, f64) -> bool| match (number(value), number(operand)) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    };
    match operator {
        "Equals" => value == operand,
        "NumberLessThan" => numeric(|a, b| a < b),
        "NumberGreaterThan" => numeric(|a, b| a > b),
        "NumberLessOrEqualTo" => numeric(|a, b| a <= b),
        "NumberGreaterOrEqualTo" => numeric(|a, b| a >= b),
        "StartsWith" | "TextStartsWith" => value.starts_with(operand),
        "Contains" | "TextContains" => value.contains(operand),
        "TextEndsWith" => value.ends_with(operand),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::holds;

    #[test]
    fn operators() {
        assert!(holds("Equals", "1", "1"));
        assert!(!holds("Equals", "1", "01"));
        assert!(holds("NumberLessThan", "3", "10"));
        assert!(!holds("NumberLessThan", "abc", "10"));
        assert!(holds("NumberGreaterOrEqualTo", "10", "10.0"));
        assert!(holds("TextStartsWith", "+44 20", "+44"));
        assert!(holds("Contains", "refund please", "refund"));
        assert!(!holds("Bogus", "a", "a"));
    }
}
