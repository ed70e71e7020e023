//! The command line's contract: exit statuses, deterministic reports, usage errors.

mod common;

use common::{gradfuzz, outcome, saved_names, scratch};

#[test]
fn check_passes_the_seed_cases_with_exit_0() {
    let (code, stdout, _) = outcome(&gradfuzz(&["check", "cases/seed"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("5 cases: 5 as expected"), "{stdout}");
}

#[test]
fn a_wrong_claimed_gradient_exits_1_and_names_the_entry() {
    // dE/do = o − t = [−0.2, 0.2, 0.1]; claim −0.3 for o[0] instead.
    let dir = scratch("wrong-claim");
    let path = dir.join("wrong.yaml");
    let text = "nodes:\n  o: {input: [0.8, 0.2, 0.6]}\n  t: {target: [1.0, 0.0, 0.5]}\n  E: {sqerr: [o, t]}\ngradients:\n  o: [-0.3, 0.2, 0.1]\n";
    std::fs::write(&path, text).expect("write");
    let (code, stdout, _) = outcome(&gradfuzz(&["check", path.to_str().expect("utf-8")]));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("MISMATCH o[0]"), "{stdout}");
    assert!(
        !stdout.contains("o[1]") && !stdout.contains("o[2]"),
        "{stdout}"
    );
}

#[test]
fn an_expected_mismatch_that_happens_exits_0() {
    let dir = scratch("expected-mismatch");
    let path = dir.join("known-bug.yaml");
    let text = "expect: mismatch\nnodes:\n  o: {input: [0.8]}\n  t: {target: [1.0]}\n  E: {sqerr: [o, t]}\ngradients:\n  o: [0.2]\n";
    std::fs::write(&path, text).expect("write");
    let (code, stdout, _) = outcome(&gradfuzz(&["check", path.to_str().expect("utf-8")]));
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn an_invalid_file_exits_2() {
    let dir = scratch("invalid");
    let path = dir.join("cycle.yaml");
    std::fs::write(&path, "nodes:\n  a: {sigmoid: a}\n  E: {sqerr: [a, a]}\n").expect("write");
    let (code, _, stderr) = outcome(&gradfuzz(&["check", path.to_str().expect("utf-8")]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cycle.yaml") && stderr.contains("node `a`"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_and_commands_exit_2_with_a_message_naming_them() {
    let cases: &[(&[&str], &str)] = &[
        (&["fuzz", "--graphs", "many"], "--graphs"),
        (&["fuzz", "--colour"], "--colour"),
        (&["fuzz", "--seed"], "--seed"),
        (&["fuzz", "--graphs", "1", "--time", "1"], "--time"),
        (&["fuzz", "--max-nodes", "2"], "--max-nodes"),
        (&["fuzz", "--max-dim", "0"], "--max-dim"),
        (&["fuzz", "--jobs", "0"], "--jobs"),
        (&["fuzz", "--engine", "nonsense"], "nonsense"),
        (&["fuzz", "--rtol", "-1"], "--rtol"),
        (&["fuzz", "--seed", "1", "--seed", "2"], "--seed"),
        (&["check"], "check"),
        (&["check", "cases", "--verbose"], "--verbose"),
        (&["gen", "--index", "-1"], "--index"),
        (&["engines", "extra"], "extra"),
        (&["explain"], "explain"),
        (&["shrink", "a.yaml", "b.yaml"], "shrink"),
        (&["fuzz", "--engine", "mutant:nonsense"], "nonsense"),
        (&["fuzz", "--engine", "mutant:scale=abc"], "abc"),
        (&["fuzz", "--precision", "f8"], "--precision"),
        (&["fuzz", "--engine", "reference@f128"], "f128"),
        (
            &["fuzz", "--engine", "exec:x", "--precision"],
            "--precision",
        ),
        (
            &["explain", "cases/seed/sqerr.yaml", "--precision", "double"],
            "--precision",
        ),
        (&["frobnicate"], "frobnicate"),
        (&[], "command"),
    ];
    for (args, word) in cases {
        let (code, _, stderr) = outcome(&gradfuzz(args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(word),
            "{args:?}: `{word}` missing from {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn fuzz_passes_the_reference_and_prints_the_same_report_whatever_the_jobs() {
    let args = ["fuzz", "--seed", "7", "--graphs", "2000"];
    let (code, one_job, _) = outcome(&gradfuzz(&[&args[..], &["--jobs", "1"]].concat()));
    assert_eq!(code, 0, "{one_job}");
    for needle in [
        "graphs:       2000",
        "scalars:",
        "largest error:",
        "mismatches:   0 entries",
        "result:       PASS",
    ] {
        assert!(
            one_job.contains(needle),
            "`{needle}` missing from {one_job}"
        );
    }
    let (_, two_jobs, stderr) = outcome(&gradfuzz(&[&args[..], &["--jobs", "2"]].concat()));
    assert_eq!(one_job, two_jobs);
    assert!(stderr.contains("graphs/s"), "{stderr}");
}

#[test]
fn gen_writes_a_case_that_check_accepts_and_that_differs_by_seed() {
    let dir = scratch("gen");
    let (code, first, _) = outcome(&gradfuzz(&["gen", "--seed", "3", "--index", "4"]));
    assert_eq!(code, 0);
    let (_, again, _) = outcome(&gradfuzz(&["gen", "--seed", "3", "--index", "4"]));
    assert_eq!(first, again, "same seed, same case");
    let (_, other, _) = outcome(&gradfuzz(&["gen", "--seed", "4", "--index", "4"]));
    assert_ne!(first, other, "another seed, another case");
    let path = dir.join("generated.yaml");
    std::fs::write(&path, &first).expect("write");
    let (code, stdout, stderr) = outcome(&gradfuzz(&["check", path.to_str().expect("utf-8")]));
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn engines_lists_the_reference() {
    let (code, stdout, _) = outcome(&gradfuzz(&["engines"]));
    assert_eq!(code, 0);
    assert!(
        stdout.lines().any(|l| l.starts_with("reference")),
        "{stdout}"
    );
}

#[test]
fn fuzz_with_a_mutant_exits_1_blames_shrinks_and_saves_cases_that_replay() {
    let dir = scratch("save");
    let save = dir.join("found");
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "fuzz",
        "--engine",
        "mutant:sigmoid-no-one-minus",
        "--seed",
        "1",
        "--graphs",
        "200",
        "--save",
        save.to_str().expect("utf-8"),
    ]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    for needle in [
        "MISMATCH",
        "blame: the `sigmoid` rule",
        "shrunk to",
        "result:       FAIL",
        "saved ",
    ] {
        assert!(stdout.contains(needle), "`{needle}` missing from {stdout}");
    }
    let saved: Vec<_> = std::fs::read_dir(&save).expect("saved cases").collect();
    assert!(!saved.is_empty());
    // The saved cases expect a mismatch with the mutant, so checking them passes (exit 0).
    let (code, stdout, _) = outcome(&gradfuzz(&["check", save.to_str().expect("utf-8")]));
    assert_eq!(code, 0, "{stdout}");
    // With the reference engine they pass, against their `expect: mismatch`: exit 1.
    let (code, stdout, _) = outcome(&gradfuzz(&[
        "check",
        save.to_str().expect("utf-8"),
        "--engine",
        "reference",
    ]));
    assert_eq!(code, 1, "{stdout}");
}

#[test]
fn explain_prints_values_entries_worst_first_and_the_blame() {
    let (code, stdout, _) = outcome(&gradfuzz(&[
        "explain",
        "cases/mutants/matvec-no-transpose.yaml",
    ]));
    assert_eq!(code, 1, "{stdout}");
    let forward = stdout.find("forward values").expect("values");
    let worst = stdout.find("MISMATCH   x0[0]").expect("the mismatch");
    let ok = stdout.find("ok ").expect("passing entries");
    assert!(forward < worst && worst < ok, "{stdout}");
    assert!(stdout.contains("blame: the `matvec` rule"), "{stdout}");
    let (code, stdout, _) = outcome(&gradfuzz(&["explain", "cases/seed/two-layer.yaml"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        !stdout.contains("MISMATCH") && !stdout.contains("blame"),
        "{stdout}"
    );
}

#[test]
fn shrink_writes_a_smaller_case_with_the_same_blame() {
    let dir = scratch("shrink");
    let (_, generated, _) = outcome(&gradfuzz(&["gen", "--seed", "1", "--index", "16"]));
    let path = dir.join("big.yaml");
    std::fs::write(&path, &generated).expect("write");
    let (code, shrunk, stderr) = outcome(&gradfuzz(&[
        "shrink",
        path.to_str().expect("utf-8"),
        "--engine",
        "mutant:matvec-no-transpose",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("blame: the `matvec` rule"), "{stderr}");
    assert!(
        shrunk.lines().count() < generated.lines().count(),
        "{shrunk}"
    );
    let small = dir.join("small.yaml");
    std::fs::write(&small, &shrunk).expect("write");
    let (code, stdout, _) = outcome(&gradfuzz(&["check", small.to_str().expect("utf-8")]));
    assert_eq!(code, 0, "the shrunk case still shows the bug: {stdout}");
    // Claimed gradients belong to one graph: shrinking them without an engine is refused.
    let (code, _, stderr) = outcome(&gradfuzz(&["shrink", "cases/seed/sqerr.yaml"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--engine"), "{stderr}");
}

#[test]
fn an_overflowing_graph_is_reported_non_finite_and_blamed_without_a_panic() {
    let case = "cases/findings/overflow-non-finite-blame.yaml";
    let (code, stdout, stderr) = outcome(&gradfuzz(&["explain", case]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("NON-FINITE") && stdout.contains("blame:"),
        "{stdout}"
    );
    let (code, _, stderr) = outcome(&gradfuzz(&["shrink", case]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn import_turns_fuzzer_bytes_into_a_case_that_loads() {
    let dir = scratch("import");
    let artifact = dir.join("crash-0123");
    std::fs::write(
        &artifact,
        [
            7u8, 200, 3, 0, 99, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        ],
    )
    .expect("write");
    let (code, yaml, stderr) = outcome(&gradfuzz(&["import", artifact.to_str().expect("utf-8")]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        yaml.contains("imported-crash-0123") && yaml.contains("sqerr"),
        "{yaml}"
    );
    let case = dir.join("imported.yaml");
    std::fs::write(&case, &yaml).expect("write");
    let (code, _, stderr) = outcome(&gradfuzz(&["check", case.to_str().expect("utf-8")]));
    assert_ne!(code, 2, "{stderr}");
    let (code, _, stderr) = outcome(&gradfuzz(&["import", "no/such/artifact"]));
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn dot_draws_the_graph_with_shapes_on_edges_and_the_blame_highlighted() {
    let (code, dot, _) = outcome(&gradfuzz(&["dot", "cases/seed/two-layer.yaml"]));
    assert_eq!(code, 0);
    assert!(dot.starts_with("digraph \"seed-two-layer\""), "{dot}");
    assert!(dot.contains("\"W1\" -> \"s1\" [label=\"4×3\"]"), "{dot}");
    assert!(
        !dot.contains("fillcolor"),
        "a passing graph has nothing highlighted: {dot}"
    );
    let (code, dot, _) = outcome(&gradfuzz(&[
        "dot",
        "cases/mutants/matvec-no-transpose.yaml",
    ]));
    assert_eq!(code, 0);
    let blamed = dot
        .lines()
        .find(|l| l.starts_with("  \"s0\" ["))
        .expect("the matvec node");
    assert!(blamed.contains("#f4a3a3"), "{blamed}");
    let failing = dot
        .lines()
        .find(|l| l.starts_with("  \"x0\" ["))
        .expect("the failing leaf");
    assert!(failing.contains("#ffd98a"), "{failing}");
}

#[test]
fn format_json_and_its_flag_errors() {
    let (code, _, stderr) = outcome(&gradfuzz(&["fuzz", "--format", "yaml"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("--format"), "{stderr}");
    let (code, stdout, _) = outcome(&gradfuzz(&["fuzz", "--graphs", "10", "--format", "json"]));
    assert_eq!(code, 0);
    assert!(
        stdout.trim_start().starts_with('{') && stdout.trim_end().ends_with('}'),
        "{stdout}"
    );
}

#[test]
fn an_engine_in_f32_passes_in_f32_and_fails_when_it_claims_f64() {
    let args = [
        "fuzz",
        "--seed",
        "3",
        "--graphs",
        "500",
        "--engine",
        "reference@f32",
    ];
    let (code, stdout, _) = outcome(&gradfuzz(&args));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("engine reference@f32 in f32"), "{stdout}");
    let (code, stdout, _) = outcome(&gradfuzz(&[&args[..], &["--precision", "f64"]].concat()));
    assert_eq!(code, 1, "{stdout}");
    // And the f64 reference declared as f32 passes: it is more precise than it says.
    let (code, stdout, _) = outcome(&gradfuzz(&[
        "fuzz",
        "--seed",
        "3",
        "--graphs",
        "500",
        "--precision",
        "f32",
    ]));
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn a_case_in_f32_is_checked_in_f32_and_a_leaf_beyond_f16_is_refused() {
    let dir = scratch("precision-case");
    // dE/do = o − t in f32: 0.1 − 0.3 rounded to f32 and back is not −0.2 in f64.
    let o = 0.1f32 as f64;
    let t = 0.3f32 as f64;
    let claimed = (0.1f32 - 0.3f32) as f64;
    let path = dir.join("f32.yaml");
    let text = format!(
        "precision: f32\nnodes:\n  o: {{input: [{o:?}]}}\n  t: {{target: [{t:?}]}}\n  E: {{sqerr: [o, t]}}\ngradients:\n  o: [{claimed:?}]\n"
    );
    std::fs::write(&path, &text).expect("write");
    let file = path.to_str().expect("utf-8");
    let (code, stdout, _) = outcome(&gradfuzz(&["check", file]));
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, _) = outcome(&gradfuzz(&["check", file, "--precision", "f64"]));
    assert_eq!(code, 1, "{stdout}");
    let big = dir.join("f16.yaml");
    std::fs::write(
        &big,
        "precision: f16\nnodes:\n  x: {input: [70000.0]}\n  t: {target: [0.0]}\n  E: {sqerr: [x, t]}\n",
    )
    .expect("write");
    let (code, _, stderr) = outcome(&gradfuzz(&["check", big.to_str().expect("utf-8")]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("node `x`") && stderr.contains("f16"),
        "{stderr}"
    );
}

#[test]
fn a_generated_graph_a_narrow_precision_cannot_hold_is_skipped_and_counted() {
    // One of the first 300 graphs of seed 1 of the four gates (which new gates do not
    // change) with wide values up to 32 wide has a leaf entry beyond f16's range: the run
    // goes on, and says so, instead of stopping at it.
    let args = [
        "fuzz",
        "--ops",
        "lecture",
        "--seed",
        "1",
        "--graphs",
        "300",
        "--values",
        "wide",
        "--engine",
        "reference@f16",
        "--max-dim",
        "32",
    ];
    let (code, stdout, stderr) = outcome(&gradfuzz(&args));
    assert_ne!(code, 2, "{stdout}{stderr}");
    assert!(
        stdout.contains("skipped:") && stdout.contains("f16 cannot hold"),
        "{stdout}"
    );
    assert!(!stdout.contains("STOPPED"), "{stdout}");
    let (_, json, _) = outcome(&gradfuzz(&[&args[..], &["--format", "json"]].concat()));
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let summary = &report["summary"];
    let skipped = summary["unrepresentable_graphs"].as_u64().expect("a count");
    assert!(skipped > 0, "{summary}");
    assert_eq!(summary["graphs"].as_u64(), Some(300 - skipped));
}

/// Claimed gradients answer for their own graph only: explain and dot report their
/// mismatches without a blame (it would ask them about other graphs), and do not fail.
#[test]
fn explain_and_dot_work_on_claimed_gradients_that_mismatch() {
    let dir = scratch("claimed-explain");
    let path = dir.join("claimed.yaml");
    // dE/dW = (s − t) xᵀ = 2.5·[0.5, 1.0] = [1.25, 2.5]; the file claims 9.0 for W[0,1].
    let text = "nodes:\n  x: {input: [0.5, 1.0]}\n  W: {weight: [[1.0, 2.0]]}\n  s: {matvec: [W, x]}\n  t: {target: [0.0]}\n  E: {sqerr: [s, t]}\ngradients:\n  x: [2.5, 5.0]\n  W: [[1.25, 9.0]]\n";
    std::fs::write(&path, text).expect("write");
    let file = path.to_str().expect("utf-8");
    let (code, stdout, stderr) = outcome(&gradfuzz(&["explain", file]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("MISMATCH   W[0,1]"), "{stdout}");
    assert!(
        stdout.contains("blame: none: claimed gradients"),
        "{stdout}"
    );
    let (code, stdout, stderr) = outcome(&gradfuzz(&["dot", file]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("digraph"), "{stdout}");
    let (code, _, stderr) = outcome(&gradfuzz(&["explain", file, "--format", "json"]));
    assert_eq!(code, 1, "{stderr}");
}

/// A shrunk graph is never larger than the graph as found (rebuilding a shrunk recipe adds a
/// closing loss, which made "shrunk from 3 to 4 nodes" possible), and a graph that does not
/// shrink says so instead of "shrunk from 3 to 3" (one that keeps its nodes with fewer
/// scalars says how many).
#[test]
fn shrinking_never_grows_a_graph_and_says_when_it_did_not_shrink() {
    let (code, json, _) = outcome(&gradfuzz(&[
        "fuzz",
        "--engine",
        "mutant:sqerr-sign",
        "--graphs",
        "6",
        "--seed",
        "1",
        "--format",
        "json",
    ]));
    assert_eq!(code, 1, "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let failures = report["failures"].as_array().expect("failures");
    // Of the six graphs, those with an `sqerr` fail (one of seed 1 ends in `mse` alone).
    assert!(failures.len() >= 5, "{json}");
    for failure in failures {
        let (nodes, shrunk) = (&failure["nodes"], &failure["shrunk"]);
        assert!(shrunk["nodes"].as_u64() <= nodes.as_u64(), "{failure}");
        let case = shrunk["case"].as_str().expect("a case");
        if shrunk["nodes"] == *nodes {
            // As many nodes: not shrunk, or shrunk to fewer scalars (a smaller batch or
            // vectors), which it says.
            assert!(
                case.contains("no smaller graph fails the same way") || case.contains(" scalars"),
                "{case}"
            );
        } else {
            assert!(case.contains("shrunk from"), "{case}");
        }
    }
}

/// A fast run that passes reports its closest directional call below 1: a disagreement is
/// re-checked in full, and its directional error is not a near miss (a PASS used to print
/// "largest error 5.763e2 of its tolerance" here).
#[test]
fn a_passing_fast_run_reports_its_closest_agreeing_direction() {
    let (code, stdout, _) = outcome(&gradfuzz(&[
        "fuzz", "--mode", "fast", "--graphs", "2000", "--seed", "1", "--values", "extreme",
    ]));
    assert_eq!(code, 0, "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("directions:"))
        .expect("a directions line");
    assert!(line.contains("where they agreed"), "{line}");
    let fallbacks: u64 = line
        .split("; ")
        .nth(2)
        .and_then(|part| part.split_whitespace().next()?.parse().ok())
        .expect("a count of graphs checked in full");
    assert!(fallbacks > 0, "no disagreement to leave out: {line}");
    let ratio: f64 = line
        .split("largest error ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("a ratio");
    assert!(ratio <= 1.0, "{line}");
}

/// A report and the files `--save` wrote agree: every failing graph names the file that
/// stands for it, and a file that stands for several graphs says which one's case it holds
/// and which others it stands for.
#[test]
fn the_report_names_the_file_saved_for_each_failure_and_the_file_says_which_graph_it_holds() {
    let dir = scratch("saved-as");
    let save = dir.join("found");
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "fuzz",
        "--engine",
        "mutant:fanout-overwrite",
        "--seed",
        "2",
        "--graphs",
        "400",
        "--save",
        save.to_str().expect("utf-8"),
    ]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let mut graph = None;
    let (mut named, mut shared) = (0, 0);
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("graph ") {
            graph = rest.split_whitespace().next().map(str::to_string);
        }
        let Some(rest) = line.strip_prefix("  saved as ") else {
            continue;
        };
        let index = graph.take().expect("a failing graph before its file");
        let file = rest.split(", which holds").next().expect("a path");
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        named += 1;
        match rest.split("which holds graph ").nth(1) {
            None => assert!(
                text.contains(&format!(": graph {index};")),
                "{file} for {index}: {text}"
            ),
            Some(kept) => {
                shared += 1;
                let kept = kept.split('\'').next().expect("an index");
                assert!(text.contains(&format!(": graph {kept};")), "{file}: {text}");
                assert!(text.contains("stands for graph"), "{file}: {text}");
                assert!(text.contains(&index), "{file} names graph {index}: {text}");
            }
        }
    }
    let failures = stdout.lines().filter(|l| l.starts_with("graph ")).count();
    assert!(
        named > 0 && named == failures,
        "{named} of {failures}: {stdout}"
    );
    assert!(shared > 0, "no file stands for two graphs: {stdout}");
}

#[test]
fn two_shards_save_the_same_bug_under_one_name_and_merge_keeps_each_bug_once() {
    let dir = scratch("shards");
    let mut folders = Vec::new();
    for shard in ["1/2", "2/2"] {
        let save = dir.join(format!("found-{}", &shard[..1]));
        let (code, stdout, stderr) = outcome(&gradfuzz(&[
            "fuzz",
            "--engine",
            "mutant:fanout-overwrite",
            "--seed",
            "1",
            "--graphs",
            "3000",
            "--shard",
            shard,
            "--save",
            save.to_str().expect("utf-8"),
        ]));
        assert_eq!(code, 1, "{stdout}{stderr}");
        // More failing graphs than files: failures that shrank alike share one file.
        let failing: usize = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("failing:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no failing count in {stdout}"));
        assert!(failing > saved_names(&save).len(), "{stdout}");
        assert!(stdout.contains("shrank to it"), "{stdout}");
        folders.push(save);
    }
    let (first, second) = (saved_names(&folders[0]), saved_names(&folders[1]));
    assert!(!first.is_empty());
    for name in &first {
        assert!(
            name.starts_with("mutant-fanout-overwrite-fan-out-"),
            "{name}"
        );
    }
    // A bug both shards found shrinks to one graph and is saved under one name.
    let both: Vec<&String> = first.iter().filter(|name| second.contains(name)).collect();
    assert!(!both.is_empty(), "no bug in common: {first:?} {second:?}");
    let mut union = [first.clone(), second.clone()].concat();
    union.sort();
    union.dedup();

    let into = dir.join("cases");
    let path = |p: &std::path::Path| p.to_str().expect("utf-8").to_string();
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "merge",
        &path(&folders[0]),
        &path(&folders[1]),
        "--into",
        &path(&into),
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "{} files: added {} new, 0 already known, {} duplicates",
            first.len() + second.len(),
            union.len(),
            both.len()
        )),
        "{stdout}"
    );
    assert_eq!(saved_names(&into), union);
    // Merged again, everything is known and nothing is written.
    let (code, stdout, _) = outcome(&gradfuzz(&[
        "merge",
        &path(&folders[1]),
        "--into",
        &path(&into),
    ]));
    assert_eq!(code, 0);
    let n = second.len();
    assert!(
        stdout.contains(&format!("{n} files: added 0 new, {n} already known")),
        "{stdout}"
    );
    // The merged cases replay: each still fails with the mutant, as it expects.
    let (code, stdout, _) = outcome(&gradfuzz(&["check", &path(&into)]));
    assert_eq!(code, 0, "{stdout}");

    // A broken source file stops the merge before anything is written, naming the file.
    std::fs::write(folders[1].join("broken.yaml"), "nodes: [").expect("write");
    let fresh = dir.join("fresh");
    let (code, _, stderr) = outcome(&gradfuzz(&[
        "merge",
        &path(&folders[0]),
        &path(&folders[1]),
        "--into",
        &path(&fresh),
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("broken.yaml"), "{stderr}");
    assert!(!fresh.exists());
    let (code, _, stderr) = outcome(&gradfuzz(&["merge", &path(&folders[0])]));
    assert_eq!(code, 2);
    assert!(stderr.contains("--into"), "{stderr}");
}

/// Starts `gradfuzz fuzz ARGS`, sends `signal` after a second, and returns what it printed.
fn fuzz_stopped_by(signal: libc::c_int, args: &[&str]) -> (i32, String, String) {
    fuzz_stopped_after(signal, 1500, args)
}

/// Starts `gradfuzz fuzz ARGS`, sends `signal` after `millis`, and returns what it printed.
fn fuzz_stopped_after(signal: libc::c_int, millis: u64, args: &[&str]) -> (i32, String, String) {
    use std::process::{Command, Stdio};
    let child = Command::new(common::binary())
        .arg("fuzz")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gradfuzz binary runs");
    std::thread::sleep(std::time::Duration::from_millis(millis));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let output = child.wait_with_output().expect("the run ends");
    assert!(
        output.status.code().is_some(),
        "the run was killed by the signal instead of reporting: {output:?}"
    );
    outcome(&output)
}

/// A run that will take long (a slow engine meets the default of 100,000 graphs) says so
/// once, off a terminal, after ten seconds, with the flags that bound it; a short one never.
#[test]
fn a_long_run_says_how_long_it_will_take_and_how_to_bound_it() {
    let (code, stdout, stderr) = fuzz_stopped_after(
        libc::SIGINT,
        11_500,
        &["--seed", "3", "--graphs", "1000000000", "--jobs", "1"],
    );
    assert_eq!(code, 130, "{stdout}{stderr}");
    let notes: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("will take about"))
        .collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    assert!(
        notes[0].contains("the 1000000000 graphs asked") && notes[0].contains("--time SECS"),
        "{stderr}"
    );
    let (code, _, stderr) = outcome(&gradfuzz(&["fuzz", "--seed", "3", "--graphs", "2000"]));
    assert_eq!(code, 0);
    assert!(!stderr.contains("will take"), "{stderr}");
}

#[test]
fn a_run_stopped_by_sigint_or_sigterm_reports_what_it_checked() {
    let (code, stdout, stderr) = fuzz_stopped_by(
        libc::SIGINT,
        &["--seed", "3", "--graphs", "1000000000", "--jobs", "1"],
    );
    assert_eq!(code, 130, "{stdout}{stderr}");
    assert!(
        stdout.contains("interrupted: stopped by a signal after")
            && stdout.contains("result:       PASS so far (interrupted)"),
        "{stdout}"
    );
    assert!(stderr.contains("interrupted (SIGINT)"), "{stderr}");
    let graphs: u64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("graphs:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no graph count in {stdout}"));
    assert!(graphs > 0 && graphs < 1_000_000_000, "{stdout}");

    // A failing engine stopped by SIGTERM: the failures found are blamed, shrunk and
    // reported, and the exit status says a mismatch was found.
    let (code, stdout, stderr) = fuzz_stopped_by(
        libc::SIGTERM,
        &[
            "--engine",
            "mutant:sigmoid-of-input",
            "--graphs",
            "1000000000",
            "--jobs",
            "1",
        ],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    for needle in [
        "interrupted:",
        "blame: the `sigmoid` rule",
        "shrunk to",
        "FAIL",
    ] {
        assert!(stdout.contains(needle), "`{needle}` missing from {stdout}");
    }
    assert!(stderr.contains("terminated (SIGTERM)"), "{stderr}");
}

#[test]
fn every_command_that_takes_engine_takes_timeout_and_precision_anywhere() {
    let case = "cases/mutants/sqerr-sign.yaml";
    for command in ["explain", "dot", "shrink", "check"] {
        for args in [
            vec![command, case, "--timeout", "5", "--precision", "f64"],
            vec![command, "--timeout", "5", case, "--precision", "f64"],
            vec![command, "--precision", "f64", "--timeout", "5", case],
        ] {
            let (code, stdout, stderr) = outcome(&gradfuzz(&args));
            assert!(code < 2, "{args:?}: exit {code}: {stdout}{stderr}");
        }
    }
}

#[test]
fn a_shrink_budget_stops_shrinking_and_says_so() {
    let (code, stdout, _) = outcome(&gradfuzz(&[
        "fuzz",
        "--engine",
        "mutant:sigmoid-of-input",
        "--graphs",
        "50",
        "--shrink-candidates",
        "2",
    ]));
    assert_eq!(code, 1);
    assert!(
        stdout.contains("candidates ran out")
            || stdout.contains("not shrunk within the budget of 2 candidates"),
        "{stdout}"
    );
    let (code, _, stderr) = outcome(&gradfuzz(&[
        "shrink",
        "cases/bench/net-64-64-16.yaml",
        "--engine",
        "mutant:scale=1e-7",
        "--shrink-candidates",
        "3",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("in 3 candidate checks (the budget, --shrink-candidates, ran out"),
        "{stderr}"
    );
    // Without the budget, the same failure shrinks to the smallest graph.
    let (_, stdout, _) = outcome(&gradfuzz(&[
        "fuzz",
        "--engine",
        "mutant:sigmoid-of-input",
        "--graphs",
        "50",
    ]));
    assert!(
        !stdout.contains("ran out") && !stdout.contains("within the budget"),
        "{stdout}"
    );
}

/// SPEC §7, which gates an engine has: `--ops` narrows the engine's gates, a set random
/// graphs cannot close (no `sqerr`) is a usage error naming the flag, and `check` refuses a
/// batch case for an engine declared to compute the four gates only, naming the node.
#[test]
fn ops_and_gates_narrow_what_is_generated_and_what_is_checked() {
    let (code, _, stderr) = outcome(&gradfuzz(&[
        "fuzz",
        "--ops",
        "add,sigmoid",
        "--graphs",
        "5",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--ops") && stderr.contains("sqerr"),
        "{stderr}"
    );
    let (code, _, stderr) = outcome(&gradfuzz(&["fuzz", "--ops", "softmaxx"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("softmaxx"), "{stderr}");

    let batch = "cases/mutants/bias-mean.yaml";
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "check",
        batch,
        "--engine",
        "reference",
        "--gates",
        "lecture",
    ]));
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("`X0`") && stderr.contains("batch"),
        "{stderr}"
    );
    let (code, stdout, stderr) = outcome(&gradfuzz(&["check", batch]));
    assert_eq!(code, 0, "{stdout}{stderr}");

    // The same seed with the lecture's gates makes graphs of vectors (and weights) only; with
    // every gate, batches too, and the report says so.
    let matrices_beyond_weights = |ops: &str| {
        (0..40).any(|index| {
            let (_, yaml, _) = outcome(&gradfuzz(&[
                "gen",
                "--seed",
                "5",
                "--index",
                &index.to_string(),
                "--ops",
                ops,
            ]));
            yaml.lines().any(|line| {
                (line.contains("{input: [[") || line.contains("{target: [["))
                    && !line.contains("weight")
            })
        })
    };
    assert!(!matrices_beyond_weights("lecture"));
    assert!(matrices_beyond_weights("all"));
    let (code, stdout, _) = outcome(&gradfuzz(&["fuzz", "--seed", "5", "--graphs", "300"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("gates:        all, batches of 1..=8 rows"),
        "{stdout}"
    );
    let (_, stdout, _) = outcome(&gradfuzz(&[
        "fuzz", "--seed", "5", "--graphs", "300", "--ops", "lecture",
    ]));
    assert!(!stdout.contains("gates:"), "{stdout}");
}

/// `explain` says why an unchecked entry has no verdict, not an error ratio against a
/// tolerance that does not exist for it (`= inf × tolerance NaN`).
#[test]
fn explain_says_why_an_entry_is_unchecked_instead_of_a_ratio() {
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "explain",
        "cases/findings/perturbation-overflow-unchecked.yaml",
    ]));
    // An unchecked entry is no pass: exit 1.
    assert_eq!(code, 1, "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("UNCHECKED"))
        .unwrap_or_else(|| panic!("no unchecked entry: {stdout}"));
    assert!(
        line.contains("; unchecked: no oracle is precise enough"),
        "{line}"
    );
    assert!(!line.contains("tolerance"), "{line}");
}
