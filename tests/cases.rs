//! Every case checked in under `cases/` is replayed and must end as it expects.

use gradfuzz::suite::{CaseOutcome, case_files, run_case};
use std::path::PathBuf;

#[test]
fn every_checked_in_case_meets_its_expectation() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/cases"));
    let files = case_files(&[root]).expect("cases/ is readable");
    assert!(files.len() >= 5, "the seed cases at least: {files:?}");
    for file in &files {
        match run_case(file, None, gradfuzz::engine::DEFAULT_TIMEOUT, None) {
            CaseOutcome::Checked { met, report, .. } => {
                assert!(met, "{}: {:?}", file.display(), report.mismatches);
                assert!(
                    report.scalars > 0,
                    "{}: nothing was checked",
                    file.display()
                );
            }
            other => panic!("{}: {other:?}", file.display()),
        }
    }
}
