//! Every case checked in under `cases/` is replayed and must end as it expects.

mod common;

use gradfuzz::case::{self, Expect};
use gradfuzz::check;

#[test]
fn every_checked_in_case_meets_its_expectation() {
    let files = common::checked_in_cases();
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
