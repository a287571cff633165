//! Sealing at rest on the hot path: every live contact's state (about 1 KB of JSON) is
//! sealed each time it changes, several times per chat.
//!
//! Run: cargo bench -p sb-security --bench envelope

use divan::{black_box, Bencher};
use sb_security::envelope::DataKey;

fn main() {
    divan::main();
}

/// A contact's persisted state is about this long.
const STATE_BYTES: usize = 1_000;

#[divan::bench]
fn seal_a_contact_state(bencher: Bencher) {
    let key = DataKey::generate().unwrap();
    let state = vec![b'x'; STATE_BYTES];
    bencher.bench_local(|| key.seal(black_box(&state)).unwrap());
}

#[divan::bench]
fn open_a_contact_state(bencher: Bencher) {
    let key = DataKey::generate().unwrap();
    let sealed = key.seal(&vec![b'x'; STATE_BYTES]).unwrap();
    bencher.bench_local(|| key.open(black_box(&sealed)).unwrap());
}
