//! Card-number masking over generated text: whatever surrounds a card number, and
//! however it is spelled, its digits never come back whole.

use proptest::prelude::*;
use sb_model::pci::redact_card_numbers;

/// A Luhn-valid 16-digit number with a plausible first digit.
fn card_number() -> impl Strategy<Value = String> {
    (2u8..=6, proptest::collection::vec(0u8..=9, 14)).prop_map(|(first, rest)| {
        let mut digits = vec![first];
        digits.extend(rest);
        // The check digit that makes the whole pass.
        let check = (0..=9)
            .find(|&d| {
                let mut all = digits.clone();
                all.push(d);
                sb_model::pci::luhn_valid(&all)
            })
            .expect("one digit always completes a Luhn sum");
        digits.push(check);
        digits.iter().map(|d| char::from(b'0' + d)).collect()
    })
}

/// The card spelled in groups of four with one separator kind.
fn spelled(card: &str, separator: &str) -> String {
    card.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(separator)
}

/// Whether `shown` can be had from `allowed` by leaving characters out.
fn is_subsequence(shown: &str, allowed: &str) -> bool {
    let mut rest = allowed.chars();
    shown.chars().all(|c| rest.any(|a| a == c))
}

fn surrounding() -> impl Strategy<Value = String> {
    "[0-9 a-z./-]{0,12}"
}

proptest! {
    #[test]
    fn a_card_number_never_survives_whole(
        card in card_number(),
        separator in prop::sample::select(vec!["", " ", "-", ".", "/", "  ", "\u{a0}"]),
        before in surrounding(),
        after in surrounding(),
    ) {
        let text = format!("{before} {} {after}", spelled(&card, separator));
        let masked = redact_card_numbers(&text);
        let digits: String = masked.chars().filter(char::is_ascii_digit).collect();
        prop_assert!(!digits.contains(&card), "{text:?} -> {masked:?}");
        // Every digit shown is one the rules allow, in order: those around the card (or
        // fewer, where they are masked with it), and the card's first six and last four.
        // (Comparing against the middle six alone is wrong: first six and last four
        // side by side can spell them by chance.)
        let only_digits = |t: &str| t.chars().filter(char::is_ascii_digit).collect::<String>();
        let allowed = format!(
            "{}{}{}{}",
            only_digits(&before),
            &card[..6],
            &card[card.len() - 4..],
            only_digits(&after)
        );
        prop_assert!(is_subsequence(&digits, &allowed), "{text:?} -> {masked:?}");
    }

    #[test]
    fn masking_is_idempotent_and_never_panics(text in "\\PC{0,80}") {
        let once = redact_card_numbers(&text).into_owned();
        let twice = redact_card_numbers(&once).into_owned();
        prop_assert_eq!(twice, once);
    }
}
