//! The fuzz targets on stable, as CI runs them: each over its seeds (for flows also the
//! forty real Connect exports) and thousands of mutants of them (bits flipped, bytes set
//! to JSON and YAML punctuation, ranges cut, doubled or spliced from another seed, the
//! end cut off). A panic in any parser fails the test and prints the input that made
//! it, ready to become a seed. Coverage-guided runs are `cargo fuzz`'s, from /fuzz (see
//! its README).

use std::path::Path;

/// Mutants per seed; a spec load reads the whole sample, and the Connect exports are
/// forty large flows, so fewer of those.
const MUTANTS: usize = 2_000;
const MUTANTS_OF_SPECS: usize = 300;
const MUTANTS_OF_EXPORTS: usize = 500;

/// SplitMix64: the same mutants on every run, so a failure here replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PUNCTUATION: &[u8] = b"{}[]\":,\\\n-.09 #&*!|>'\0\xff";

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                data[at] = PUNCTUATION[rng.below(PUNCTUATION.len())];
            }
            2 if len > 0 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(16)).min(len);
                data.drain(from..to);
            }
            3 if len > 0 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(64)).min(len);
                let copy = data[from..to].to_vec();
                let at = rng.below(len);
                data.splice(at..at, copy);
            }
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let to = (from + 1 + rng.below(128)).min(other.len());
                let at = rng.below(len + 1);
                data.splice(at..at, other[from..to].iter().copied());
            }
            5 if len > 0 => data.truncate(rng.below(len)),
            _ => {
                let at = rng.below(len + 1);
                data.insert(at, PUNCTUATION[rng.below(PUNCTUATION.len())]);
            }
        }
    }
    data
}

fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// Each target's seeds: the sample's own flows and spec files, the real Connect exports
/// in the repository (fixtures/connect-flows), and the hand-made ones under `seeds/`.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = sb_fuzz::sample_dir();
    match target {
        "flow_document" => files_in(&sample.join("flows")),
        "connect_export" => files_in(&here.join("../../fixtures/connect-flows")),
        "spec_file" => sb_fuzz::SPEC_FILES
            .iter()
            .enumerate()
            .map(|(i, file)| {
                let mut data = vec![i as u8];
                data.extend(std::fs::read(sample.join(file)).unwrap());
                data
            })
            .collect(),
        other => files_in(&here.join("seeds").join(other)),
    }
}

fn run(name: &str, target: fn(&[u8]), mutants: usize) {
    let seeds = seeds(name);
    assert!(!seeds.is_empty(), "{name} has no seeds");
    let mut rng = Rng(0x5b_f022 ^ name.len() as u64);
    let mut inputs = 0;
    for (i, seed) in seeds.iter().enumerate() {
        let other = &seeds[(i + 1) % seeds.len()];
        let mut cases = vec![seed.clone()];
        cases.extend((0..mutants).map(|_| mutate(&mut rng, seed, other)));
        for case in cases {
            let outcome = std::panic::catch_unwind(|| target(&case));
            if outcome.is_err() {
                panic!(
                    "{name} panicked on this input ({} bytes): {:?}",
                    case.len(),
                    String::from_utf8_lossy(&case)
                );
            }
            inputs += 1;
        }
    }
    eprintln!("{name}: {inputs} inputs");
}

#[test]
fn flow_documents_never_panic() {
    run("flow_document", sb_fuzz::flow_document, MUTANTS);
}

#[test]
fn exported_connect_flows_never_panic() {
    run("connect_export", sb_fuzz::flow_document, MUTANTS_OF_EXPORTS);
}

#[test]
fn spec_files_never_panic() {
    run("spec_file", sb_fuzz::spec_file, MUTANTS_OF_SPECS);
}

#[test]
fn socket_frames_never_panic() {
    run("socket_frame", sb_fuzz::socket_frame, MUTANTS);
}

#[test]
fn credentials_never_panic() {
    run("credential", sb_fuzz::credential, MUTANTS);
}

#[test]
fn record_tokens_never_panic() {
    run("record_token", sb_fuzz::record_token, MUTANTS);
}

#[test]
fn card_texts_never_panic() {
    run("card_text", sb_fuzz::card_text, MUTANTS);
}

#[test]
fn sql_queries_never_panic() {
    run("sql_query", sb_fuzz::sql_query, MUTANTS);
}

#[test]
fn yaml_texts_never_panic() {
    run("yaml_text", sb_fuzz::yaml_text, MUTANTS);
}

#[test]
fn every_target_is_run_here() {
    let here: [&str; 8] = [
        "flow_document",
        "spec_file",
        "socket_frame",
        "credential",
        "record_token",
        "card_text",
        "sql_query",
        "yaml_text",
    ];
    let listed: Vec<&str> = sb_fuzz::TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(listed, here);
}
