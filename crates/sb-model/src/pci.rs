//! Card numbers (PCI DSS 3.3.1 / 3.4.1). Applied to everything a customer, an agent or
//! an integration can put into a contact (messages, attributes, flow input, function
//! results) before anything is stored or logged.
//!
//! A *run* is a stretch of digit groups joined by short separators, the way people type
//! card numbers: one or two of space, no-break space, dash, dot or slash between groups
//! of at least two digits; ASCII or full-width digits. A run that contains a card
//! number — 13 to 19 consecutive digits passing the Luhn check — is shown with each
//! card number's first six and last four digits, and every other digit of the run
//! (a CVV, an expiry date, a reference typed next to it) as `*`.
//!
//! Where a card number sits inside a run is searched twice: first among windows that
//! begin and end at group boundaries (`4111 1111 1111 1111 123`), then among windows
//! that begin or end a group of more than 16 digits typed without separators
//! (`4111111111111111123`). The second search can mask a long number that is not a
//! card; that is the safe side.

use std::borrow::Cow;

const MIN_DIGITS: usize = 13;
const MAX_DIGITS: usize = 19;
/// Most separator characters between two groups of one run (`4111  1111`).
const MAX_SEPARATOR_CHARS: usize = 2;
/// A group typed without separators is searched inside only when it is longer than
/// this: a 16-digit number that fails the check is not a card with something appended,
/// but a longer one may be (`4111111111111111123`).
const LONGEST_COMMON_CARD: usize = 16;
/// Fewest digits in a group that a separator may join to its neighbour: a list of
/// single digits (`1 2 3 4 …`) is not a card number.
const MIN_JOINED_GROUP: usize = 2;

/// Whether `digits` (values 0 to 9) pass the Luhn check.
pub fn luhn_valid(digits: &[u8]) -> bool {
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

/// The value of a digit as customers type it: ASCII or full-width.
fn digit_value(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '\u{FF10}'..='\u{FF19}' => Some((c as u32 - 0xFF10) as u8),
        _ => None,
    }
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{00A0}' // no-break space
            | '\u{2007}' // figure space
            | '\u{2009}' // thin space
            | '\u{202F}' // narrow no-break space
            | '-'
            | '\u{2010}' // hyphen
            | '\u{2011}' // non-breaking hyphen
            | '\u{2013}' // en dash
            | '.'
            | '/'
    )
}

/// One digit of a run: its value and where it stands in the text.
#[derive(Clone, Copy)]
struct Digit {
    value: u8,
    start: usize,
    end: usize,
}

/// A run of groups: its digits, and the indexes (into `digits`) where each group starts.
struct Run {
    digits: Vec<Digit>,
    group_starts: Vec<usize>,
}

impl Run {
    fn text_range(&self) -> (usize, usize) {
        (self.digits[0].start, self.digits[self.digits.len() - 1].end)
    }

    fn is_group_start(&self, index: usize) -> bool {
        self.group_starts.binary_search(&index).is_ok()
    }

    fn is_group_end(&self, index_after: usize) -> bool {
        index_after == self.digits.len() || self.is_group_start(index_after)
    }

    fn luhn(&self, start: usize, len: usize) -> bool {
        let values: Vec<u8> = self.digits[start..start + len]
            .iter()
            .map(|d| d.value)
            .collect();
        luhn_valid(&values)
    }

    /// Every Luhn-valid window the two searches consider, as (first digit, length,
    /// from the first search), overlapping ones included: windows that begin and end at
    /// group boundaries, earliest then longest first; then windows that begin or end a
    /// group typed without separators.
    fn candidate_windows(&self) -> Vec<(usize, usize, bool)> {
        let n = self.digits.len();
        let mut found = Vec::new();
        for &s in &self.group_starts {
            for len in (MIN_DIGITS..=MAX_DIGITS).rev() {
                if s + len <= n && self.is_group_end(s + len) && self.luhn(s, len) {
                    found.push((s, len, true));
                }
            }
        }
        for (g, &gs) in self.group_starts.iter().enumerate() {
            let ge = self.group_starts.get(g + 1).copied().unwrap_or(n);
            if ge - gs <= LONGEST_COMMON_CARD {
                continue;
            }
            for len in (MIN_DIGITS..=MAX_DIGITS.min(ge - gs)).rev() {
                for s in [gs, ge - len] {
                    if self.luhn(s, len) {
                        found.push((s, len, false));
                    }
                }
            }
        }
        found
    }
}

/// The card numbers of a run, as (first digit, length), none overlapping: from the
/// first search the longest free window at each group start, from the second every
/// free one.
fn card_windows(candidates: &[(usize, usize, bool)]) -> Vec<(usize, usize)> {
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut last_start = None;
    for &(s, len, first_search) in candidates {
        if first_search && last_start == Some(s) {
            continue;
        }
        if found.iter().all(|&(fs, fl)| s + len <= fs || fs + fl <= s) {
            found.push((s, len));
            if first_search {
                last_start = Some(s);
            }
        }
    }
    found.sort_unstable();
    found
}

/// For each of a run's `n` digits, whether it is in the middle (past the first six,
/// before the last four) of *some* candidate window. Which of two overlapping windows
/// is the real card cannot be known, so a digit is shown only where it would be shown
/// whichever it is.
fn hidden_digits(n: usize, candidates: &[(usize, usize, bool)]) -> Vec<bool> {
    let mut hidden = vec![false; n];
    for &(s, len, _) in candidates {
        for h in &mut hidden[s + 6..s + len - 4] {
            *h = true;
        }
    }
    hidden
}

/// Splits `text` into runs of digit groups (see the module's comment).
fn runs(text: &str) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut digits: Vec<Digit> = Vec::new();
    let mut group_starts: Vec<usize> = Vec::new();
    let mut separators = 0; // separator characters since the last digit
    let mut group_len = 0;
    let mut close = |digits: &mut Vec<Digit>, group_starts: &mut Vec<usize>| {
        if digits.len() >= MIN_DIGITS {
            runs.push(Run {
                digits: std::mem::take(digits),
                group_starts: std::mem::take(group_starts),
            });
        } else {
            digits.clear();
            group_starts.clear();
        }
    };
    for (at, c) in text.char_indices() {
        if let Some(value) = digit_value(c) {
            let joined = separators == 0 && !digits.is_empty();
            if !joined {
                let may_join = !digits.is_empty()
                    && separators <= MAX_SEPARATOR_CHARS
                    && group_len >= MIN_JOINED_GROUP
                    && {
                        // The group that starts here must be long enough too.
                        let next = text[at..].chars().take_while(|&c| digit_value(c).is_some());
                        next.count() >= MIN_JOINED_GROUP
                    };
                if !may_join {
                    close(&mut digits, &mut group_starts);
                }
                group_starts.push(digits.len());
                group_len = 0;
            }
            digits.push(Digit {
                value,
                start: at,
                end: at + c.len_utf8(),
            });
            group_len += 1;
            separators = 0;
        } else if is_separator(c) && !digits.is_empty() {
            separators += 1;
        } else {
            close(&mut digits, &mut group_starts);
            separators = 0;
            group_len = 0;
        }
    }
    close(&mut digits, &mut group_starts);
    runs
}

/// How a run is shown: each card number's first six and last four digits with its
/// separators removed; every other digit `*`, its separators kept.
fn masked_run(text: &str, run: &Run, windows: &[(usize, usize)], hidden: &[bool]) -> String {
    let mut out = String::new();
    let mut i = 0;
    let mut windows = windows.iter().peekable();
    while i < run.digits.len() {
        if let Some(&&(s, len)) = windows.peek() {
            if s == i {
                windows.next();
                for (k, d) in run.digits[s..s + len].iter().enumerate() {
                    if (k < 6 || k >= len - 4) && !hidden[s + k] {
                        out.push(char::from(b'0' + d.value));
                    } else {
                        out.push('*');
                    }
                }
                i = s + len;
                if i < run.digits.len() {
                    out.push_str(&text[run.digits[i - 1].end..run.digits[i].start]);
                }
                continue;
            }
        }
        out.push('*');
        if i + 1 < run.digits.len() {
            out.push_str(&text[run.digits[i].end..run.digits[i + 1].start]);
        }
        i += 1;
    }
    out
}

/// `text` with every card number masked (`411111******1111`); borrowed when there is none.
pub fn redact_card_numbers(text: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    for run in runs(text) {
        let candidates = run.candidate_windows();
        let windows = card_windows(&candidates);
        if windows.is_empty() {
            continue;
        }
        let (start, end) = run.text_range();
        let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
        o.push_str(&text[copied..start]);
        let hidden = hidden_digits(run.digits.len(), &candidates);
        o.push_str(&masked_run(text, &run, &windows, &hidden));
        copied = end;
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
            ("4111.1111.1111.1111", "411111******1111"),
            ("4111  1111  1111  1111", "411111******1111"),
            ("4111\u{a0}1111\u{a0}1111\u{a0}1111", "411111******1111"),
            ("4111/1111/1111/1111", "411111******1111"),
            ("４１１１ １１１１ １１１１ １１１１", "411111******1111"),
            ("4111 1111-1111.1111", "411111******1111"),
        ] {
            assert_eq!(redact_card_numbers(given), shown, "{given}");
        }
    }

    #[test]
    fn masks_a_card_number_with_other_digits_next_to_it_and_those_digits_too() {
        for (given, shown) in [
            ("4111 1111 1111 1111 123", "411111******1111 ***"),
            (
                "with cvv 4111 1111 1111 1111 123",
                "with cvv 411111******1111 ***",
            ),
            (
                "exp 4111-1111-1111-1111 12 25",
                "exp 411111******1111 ** **",
            ),
            ("ref 12 4111111111111111", "ref ** 411111******1111"),
            ("4111111111111111123", "411111******1111***"),
            ("99 4111111111111111", "** 411111******1111"),
            (
                "6011111111111117 4012888888881881",
                "601111******1117 401288******1881",
            ),
        ] {
            assert_eq!(redact_card_numbers(given), shown, "{given}");
        }
    }

    /// Found by the property test: `433` typed before a card makes another Luhn-valid
    /// window (`433554525545920`) that overlaps it; whichever is the card, none of the
    /// card's middle digits may show.
    #[test]
    fn overlapping_windows_show_only_what_every_one_of_them_allows() {
        let masked = redact_card_numbers("433 5545 2554 5920 0003 ");
        let digits: String = masked.chars().filter(char::is_ascii_digit).collect();
        assert!(!digits.contains("545920"), "{masked}");
        assert!(!masked.contains("5920"), "{masked}");
    }

    #[test]
    fn leaves_everything_else_alone() {
        for text in [
            "order A-1001, call +1 555 010 0199",
            "4111111111111112", // fails Luhn, and so do its 13-15-digit ends
            "411111111111",     // 12 digits
            "2026-11-26 10:00",
            "1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 7 8", // single digits are not groups
            "",
            "ünïcödé 4111",
        ] {
            assert!(
                matches!(redact_card_numbers(text), Cow::Borrowed(_)),
                "{text}: {}",
                redact_card_numbers(text)
            );
        }
    }

    #[test]
    fn no_digit_of_a_card_number_is_shown_beyond_its_first_six_and_last_four() {
        // Every prefix and suffix of digits that might be typed next to the card.
        for extra in ["", "12", "123", "1225", "0000"] {
            for sep in ["", " ", "-", "  ", "/"] {
                for text in [
                    format!("4111111111111111{sep}{extra}"),
                    format!("{extra}{sep}4111111111111111"),
                ] {
                    let masked = redact_card_numbers(&text);
                    let digits: String = masked.chars().filter(char::is_ascii_digit).collect();
                    assert!(
                        !masked.contains("4111111111111111") && digits.len() <= 10,
                        "{text:?} -> {masked:?}"
                    );
                }
            }
        }
    }
}
