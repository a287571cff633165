//! Card numbers (PCI DSS): a run of 13 to 19 digits, optionally split by single spaces
//! or dashes, that passes the Luhn check, is shown as its first six and last four
//! digits only. Applied to everything a customer or an integration can put into a
//! contact (messages, attributes) before anything is stored or logged.

use std::borrow::Cow;

const MIN_DIGITS: usize = 13;
const MAX_DIGITS: usize = 19;

fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// `text` with every card number masked (`411111******1111`); borrowed when there is none.
pub fn redact_card_numbers(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // A candidate starts at a digit not preceded by a digit.
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = Vec::new();
        let mut end = i;
        let mut j = i;
        while j < bytes.len() && digits.len() < MAX_DIGITS + 1 {
            match bytes[j] {
                b'0'..=b'9' => {
                    digits.push(bytes[j] - b'0');
                    j += 1;
                    end = j;
                }
                b' ' | b'-'
                    if j + 1 < bytes.len()
                        && bytes[j + 1].is_ascii_digit()
                        && bytes[j - 1].is_ascii_digit() =>
                {
                    j += 1
                }
                _ => break,
            }
        }
        let followed_by_digit = bytes.get(end).is_some_and(u8::is_ascii_digit);
        if (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len())
            && !followed_by_digit
            && luhn_valid(&digits)
        {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..start]);
            let shown: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            o.push_str(&shown[..6]);
            o.push_str(&"*".repeat(digits.len() - 10));
            o.push_str(&shown[shown.len() - 4..]);
            copied = end;
        }
        i = end.max(i + 1);
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_luhn_valid_card_numbers_in_any_common_spelling() {
        for (given, shown) in [
            ("4111111111111111", "411111******1111"),
            (
                "my card is 4111 1111 1111 1111, thanks",
                "my card is 411111******1111, thanks",
            ),
            ("5500-0000-0000-0004", "550000******0004"),
            ("amex 378282246310005.", "amex 378282*****0005."),
            (
                "6011111111111117 and 4012888888881881",
                "601111******1117 and 401288******1881",
            ),
            ("4111111111111111110", "411111*********1110"),
        ] {
            assert_eq!(redact_card_numbers(given), shown, "{given}");
        }
    }

    #[test]
    fn leaves_everything_else_alone() {
        for text in [
            "order A-1001, call +1 555 010 0199",
            "4111111111111112",     // fails Luhn
            "411111111111",         // 12 digits
            "41111111111111111111", // 20 digits: not a card number
            "2026-11-26 10:00",
            "",
            "ünïcödé 4111",
        ] {
            assert!(
                matches!(redact_card_numbers(text), Cow::Borrowed(_)),
                "{text}"
            );
        }
    }
}
