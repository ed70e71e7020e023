//! The cargo-fuzz targets' functions (`gradfuzz::targets`), replayed as ordinary tests: over
//! every checked-in case, over the local fuzz corpus and artifacts when there are any, and
//! over seeded pseudo-random byte strings. `cargo fuzz` explores far more; this keeps the
//! properties in every `cargo test`.
#![cfg(feature = "arbitrary")]

use gradfuzz::targets::{build_invariants, check_reference, load_case};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn random_bytes(seed: u64, count: usize) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let len = rng.random_range(0..300);
            (0..len).map(|_| rng.random::<u8>()).collect()
        })
        .collect()
}

#[test]
fn load_case_holds_on_every_case_and_its_corruptions() {
    let cases = files_under(&root().join("cases"));
    assert!(cases.len() >= 20);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for path in cases
        .iter()
        .chain(&files_under(&root().join("fuzz/corpus/load_case")))
    {
        // A running fuzzer may remove corpus files as it minimises them.
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        load_case(&bytes);
        for _ in 0..50 {
            let mut corrupted = bytes.clone();
            let at = rng.random_range(0..corrupted.len().max(1));
            if let Some(byte) = corrupted.get_mut(at) {
                *byte = rng.random();
            }
            load_case(&corrupted);
        }
    }
}

#[test]
fn check_reference_holds_on_random_bytes_and_the_artifacts() {
    for bytes in random_bytes(1, 3000) {
        check_reference(&bytes);
    }
    for path in files_under(&root().join("fuzz/artifacts/check_reference")) {
        check_reference(&std::fs::read(path).expect("readable"));
    }
}

#[test]
fn build_invariants_hold_on_random_bytes() {
    for bytes in random_bytes(2, 5000) {
        build_invariants(&bytes);
    }
}

/// The crashes `cargo fuzz run check_reference` found, kept under tests/data because
/// fuzz/artifacts is not checked in: an overflow that made blame panic (21 bytes),
/// subnormal weights under which every step-based derivative underflowed (23 bytes), a
/// true gradient beyond the largest double (32 bytes), which the target first took for a bug,
/// weights near 1e307 under which every oracle's perturbation overflows though the true
/// gradient is 0 (42 bytes): unchecked, not non-finite; and a sigmoid whose input is pure
/// round-off (73 bytes; `cases/findings/cancelled-sigmoid-input.yaml`), and a sigmoid slope
/// taken at a rounded input (`cases/findings/rounded-sigmoid-slope.yaml`).
#[test]
fn the_kept_artifacts_hold() {
    for name in [
        "check_reference-overflow.bin",
        "check_reference-underflow.bin",
        "check_reference-gradient-overflow.bin",
        "check_reference-perturbation-overflow.bin",
        "check_reference-cancelled-sigmoid.bin",
        "check_reference-rounded-slope.bin",
    ] {
        let artifact =
            std::fs::read(root().join("tests/data").join(name)).expect("a kept artifact");
        check_reference(&artifact);
    }
}
