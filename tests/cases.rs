//! Every case checked in under `cases/` is replayed and must end as it expects.

use gradfuzz::case::{self, Expect};
use gradfuzz::check;
use std::path::{Path, PathBuf};

fn case_files(folder: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .expect("readable")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            case_files(&entry, files);
        } else if entry.extension().is_some_and(|ext| ext == "yaml") {
            files.push(entry);
        }
    }
}

#[test]
fn every_checked_in_case_meets_its_expectation() {
    let mut files = Vec::new();
    case_files(
        &PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/cases")),
        &mut files,
    );
    assert!(files.len() >= 5, "the seed cases at least: {files:?}");
    for file in &files {
        let case = case::load(file).unwrap_or_else(|e| panic!("{e}"));
        let engine = case
            .engine_for(None, gradfuzz::engine::DEFAULT_TIMEOUT, None)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let tolerance = case.tolerance.unwrap_or_default();
        let report = check(engine.as_ref(), &case.graph, &tolerance)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let met = report.passed() == (case.expect == Expect::Pass);
        assert!(met, "{}: {:?}", file.display(), report.mismatches);
        assert!(
            report.scalars > 0,
            "{}: nothing was checked",
            file.display()
        );
    }
}
