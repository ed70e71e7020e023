//! The case format spelled in JSON (`*.json`): the same cases as YAML, bit for bit, read
//! wherever a case is read, written by `fuzz --save-format json`, and refused as YAML is, with
//! exit status 2 and the file and node named.

mod common;

use common::{gradfuzz, outcome, scratch};
use gradfuzz::case::{self, Case, Expect, SizeLimits};
use gradfuzz::engine::Gradients;
use gradfuzz::fuzz::graph_with;
use gradfuzz::generate::ValueMode;
use gradfuzz::op::GateSet;
use gradfuzz::recipe::Limits;

/// A case's JSON read back: the YAML writer prints every number in shortest round-trip
/// form (and tells −0 from 0 and NaN from NaN, which `==` does not), so equal YAML means the
/// same case, bit for bit.
fn assert_round_trip(case: &Case, what: &str) {
    let json = case::to_json(case);
    let back = case::parse_json(json.as_bytes(), what, "x", &SizeLimits::default())
        .unwrap_or_else(|e| panic!("{what}: the JSON written does not load: {e}\n{json}"));
    assert_eq!(case::to_yaml(&back), case::to_yaml(case), "{what}:\n{json}");
}

#[test]
fn every_checked_in_case_reads_back_the_same_from_its_json() {
    let files = common::checked_in_cases();
    assert!(files.len() >= 20, "{files:?}");
    for file in &files {
        let case = case::load(file).expect("a checked-in case loads");
        assert_round_trip(&case, &file.display().to_string());
    }
}

#[test]
fn random_graphs_of_every_gate_with_awkward_claims_read_back_bit_for_bit() {
    // Claims of every kind of number: NaN, both infinities, −0, the smallest subnormal, the
    // largest finite number and 17-digit ones.
    let awkward = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        5e-324,
        f64::MAX,
        0.1 + 0.2,
        -1.0 / 3.0,
    ];
    for index in 0..300 {
        let values = [ValueMode::Normal, ValueMode::Wide, ValueMode::Extreme][index % 3];
        let graph = graph_with(7, index as u64, &Limits::default(), values, GateSet::all());
        let mut gradients = Gradients::empty(graph.len());
        for leaf in graph.differentiable_leaves() {
            let entries: Vec<f64> = (0..graph.shape_len(leaf))
                .map(|k| awkward[(k + index) % awkward.len()])
                .collect();
            gradients
                .set_row_major(&graph, leaf, &entries)
                .expect("as many entries as the leaf");
        }
        let case = Case {
            name: format!("graph \"{index}\"\n"),
            description: Some("a description with ünïcode and a \\ backslash".into()),
            engine: None,
            expect: Expect::Mismatch,
            tolerance: Some(gradfuzz::check::Tolerance {
                rtol: 1e-9,
                atol: 0.0,
            }),
            precision: Some("f32".parse().expect("a precision")),
            graph,
            gradients: Some(gradients),
        };
        assert_round_trip(&case, &format!("graph {index}"));
    }
}

/// `fuzz` with a mutant, saving what it finds as JSON in a fresh folder: the folder and the
/// report (the mutant must be caught).
fn fuzz_saving_json(
    test: &str,
    mutant: &str,
    seed: &str,
    more: &[&str],
) -> (std::path::PathBuf, String) {
    let save = scratch(test).join("found");
    let save_arg = save.to_str().expect("utf-8").to_string();
    let mut args = vec![
        "fuzz",
        "--engine",
        mutant,
        "--seed",
        seed,
        "--graphs",
        "200",
        "--save",
        &save_arg,
        "--save-format",
        "json",
    ];
    args.extend_from_slice(more);
    let (code, stdout, stderr) = outcome(&gradfuzz(&args));
    assert_eq!(code, 1, "{stdout}{stderr}");
    (save, stdout)
}

#[test]
fn check_reads_json_files_in_folders_and_fuzz_saves_them_on_request() {
    let (save, stdout) = fuzz_saving_json("json-save", "mutant:sigmoid-no-one-minus", "1", &[]);
    let saved = common::saved_names(&save);
    assert!(!saved.is_empty(), "{stdout}");
    assert!(
        saved.iter().all(|name| name.ends_with(".json")),
        "{saved:?}"
    );
    assert!(
        stdout.contains(".json"),
        "the report names the files: {stdout}"
    );
    // They expect a mismatch with the mutant: checking the folder passes (exit 0)...
    let (code, stdout, _) = outcome(&gradfuzz(&["check", save.to_str().expect("utf-8")]));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(&format!("{} cases:", saved.len())),
        "{stdout}"
    );
    // ... and with the reference they pass, against their `expect`: exit 1.
    let (code, stdout, _) = outcome(&gradfuzz(&[
        "check",
        save.to_str().expect("utf-8"),
        "--engine",
        "reference",
    ]));
    assert_eq!(code, 1, "{stdout}");
}

#[test]
fn claims_saved_as_json_keep_the_engine_in_the_description() {
    let (save, _) = fuzz_saving_json(
        "json-claims",
        "mutant:add-first-only",
        "2",
        &["--save-claims"],
    );
    let first = &common::saved_names(&save)[0];
    let text = std::fs::read_to_string(save.join(first)).expect("saved");
    assert!(
        text.contains("claimed by engine: mutant:add-first-only (the gradients below"),
        "{text}"
    );
    // Replayed without the engine, the claims still fail as they did.
    let (code, stdout, _) = outcome(&gradfuzz(&["check", save.to_str().expect("utf-8")]));
    assert_eq!(code, 0, "{stdout}");
}

/// Malformed JSON cases, each with what the message must say.
const MALFORMED: &[(&str, &str, &str)] = &[
    (
        "a syntax error",
        "{\"nodes\": {\n  \"x\": {\"input\": [1.0, 2.0,]}\n}}",
        ":2: ",
    ),
    (
        "an unknown key",
        r#"{"nodes": {"x": {"input": [1.0]}, "E": {"sqerr": ["x", "x"]}}, "colour": "red"}"#,
        "unknown field `colour`",
    ),
    (
        "a node given twice",
        r#"{"nodes": {"x": {"input": [1.0]}, "x": {"input": [2.0]}, "E": {"sqerr": ["x", "x"]}}}"#,
        "node `x` is given twice",
    ),
    (
        "a non-finite leaf",
        r#"{"nodes": {"x": {"input": [1.0, "NaN"]}, "t": {"target": [1.0, 2.0]}, "E": {"sqerr": ["x", "t"]}}}"#,
        "NaN is not a finite number",
    ),
    (
        "a string for a number",
        r#"{"nodes": {"x": {"input": [1.0, "2"]}, "E": {"sqerr": ["x", "x"]}}}"#,
        "the string \"2\" is not a number",
    ),
    (
        "an unknown op",
        r#"{"nodes": {"x": {"input": [1.0]}, "E": {"sqrt": "x"}}}"#,
        "unknown op `sqrt`",
    ),
    (
        "a shape mismatch",
        r#"{"nodes": {"x": {"input": [1.0]}, "t": {"target": [1.0, 2.0]}, "E": {"sqerr": ["x", "t"]}}}"#,
        "node `E`",
    ),
    ("not a case at all", "[1, 2, 3]", "invalid type"),
    ("an empty file", "", "EOF"),
];

#[test]
fn every_malformed_json_case_is_refused_with_exit_2_naming_the_file() {
    let dir = scratch("json-malformed");
    for (i, (what, text, needle)) in MALFORMED.iter().enumerate() {
        let file = dir.join(format!("case-{i}.json"));
        std::fs::write(&file, text).expect("written");
        let (code, stdout, stderr) = outcome(&gradfuzz(&["check", file.to_str().expect("utf-8")]));
        assert_eq!(code, 2, "{what}: {stdout}{stderr}");
        let file_name = format!("case-{i}.json");
        assert!(stderr.contains(&file_name), "{what}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{what}: `{needle}` missing from {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}
