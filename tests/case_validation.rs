//! Every rule of the case format: a file that breaks it is rejected with a message naming
//! the node or key, `gradfuzz check` exits 2, and nothing panics.

mod common;

use common::{gradfuzz, outcome, scratch};
use gradfuzz::case::{self, SizeLimits};

const GOOD_NODES: &str =
    "nodes:\n  x: {input: [1.0, 2.0]}\n  t: {target: [0.0, 1.0]}\n  E: {sqerr: [x, t]}\n";

/// (what the file breaks, the file, words the message must contain)
fn malformed() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let with = |extra: &str| format!("{GOOD_NODES}{extra}");
    vec![
        ("not YAML", "nodes: {x: [1, 2\n".into(), vec!["line 1"]),
        ("not a mapping", "- 1\n- 2\n".into(), vec!["line 1"]),
        ("unknown op", "nodes:\n  x: {inptu: [1.0]}\n".into(), vec!["node `x`", "inptu"]),
        ("unknown key", with("colour: blue\n"), vec!["colour"]),
        ("no nodes key", "name: empty\n".into(), vec!["nodes"]),
        ("node with no op", "nodes:\n  x: {}\n  E: {sqerr: [x, x]}\n".into(), vec!["node `x`"]),
        ("node that is null", "nodes:\n  x:\n  E: {sqerr: [x, x]}\n".into(), vec!["node `x`"]),
        ("node with two ops", "nodes:\n  x: {input: [1.0], target: [1.0]}\n  E: {sqerr: [x, x]}\n".into(), vec!["node `x`"]),
        ("node id given twice", "nodes:\n  x: {input: [1.0]}\n  x: {input: [2.0]}\n  E: {sqerr: [x, x]}\n".into(), vec!["duplicate", "x"]),
        ("add with three arguments", "nodes:\n  x: {input: [1.0]}\n  a: {add: [x, x, x]}\n  E: {sqerr: [a, x]}\n".into(), vec!["node `a`", "2 arguments"]),
        ("sqerr with one argument", "nodes:\n  x: {input: [1.0]}\n  E: {sqerr: [x]}\n".into(), vec!["node `E`", "2 arguments"]),
        ("sigmoid with a list", "nodes:\n  x: {input: [1.0]}\n  o: {sigmoid: [x, x]}\n  E: {sqerr: [o, x]}\n".into(), vec!["node `o`"]),
        ("missing node", "nodes:\n  x: {input: [1.0]}\n  E: {sqerr: [x, y]}\n".into(), vec!["node `E`", "`y`"]),
        ("cycle", "nodes:\n  x: {input: [1.0]}\n  a: {add: [b, x]}\n  b: {add: [a, x]}\n  E: {sqerr: [a, x]}\n".into(), vec!["cycle", "`a`", "`b`"]),
        ("self loop", "nodes:\n  x: {input: [1.0]}\n  a: {add: [a, x]}\n  E: {sqerr: [a, x]}\n".into(), vec!["cycle", "`a`"]),
        ("add of unequal lengths", "nodes:\n  x: {input: [1.0]}\n  y: {input: [1.0, 2.0]}\n  a: {add: [x, y]}\n  E: {sqerr: [a, x]}\n".into(), vec!["node `a`", "equal length"]),
        ("matvec of the wrong length", "nodes:\n  W: {weight: [[1.0, 2.0]]}\n  x: {input: [1.0]}\n  s: {matvec: [W, x]}\n  E: {sqerr: [s, x]}\n".into(), vec!["node `s`", "`W`", "`x`"]),
        ("sqerr of unequal lengths", "nodes:\n  x: {input: [1.0]}\n  t: {target: [1.0, 2.0]}\n  E: {sqerr: [x, t]}\n".into(), vec!["node `E`", "equal length"]),
        ("weight where a vector is needed", "nodes:\n  W: {weight: [[1.0]]}\n  o: {sigmoid: W}\n  E: {sqerr: [o, o]}\n".into(), vec!["node `o`", "`W`", "vector"]),
        ("weight as the matvec vector", "nodes:\n  W: {weight: [[1.0]]}\n  s: {matvec: [W, W]}\n  E: {sqerr: [s, s]}\n".into(), vec!["node `s`", "`W`"]),
        ("vector where the weight is needed", "nodes:\n  x: {input: [1.0]}\n  s: {matvec: [x, x]}\n  E: {sqerr: [s, x]}\n".into(), vec!["node `s`", "weight", "`x`"]),
        ("sqerr where a vector is needed", "nodes:\n  x: {input: [1.0]}\n  E: {sqerr: [x, x]}\n  o: {sigmoid: E}\n  F: {sqerr: [o, x]}\n".into(), vec!["node `o`", "`E`"]),
        ("ragged rows", "nodes:\n  W: {weight: [[1.0, 2.0], [3.0]]}\n  x: {input: [1.0, 1.0]}\n  s: {matvec: [W, x]}\n  E: {sqerr: [s, s]}\n".into(), vec!["node `W`", "ragged"]),
        ("empty vector", "nodes:\n  x: {input: []}\n  E: {sqerr: [x, x]}\n".into(), vec!["node `x`", "empty"]),
        ("empty matrix", "nodes:\n  W: {weight: []}\n  x: {input: [1.0]}\n  s: {matvec: [W, x]}\n  E: {sqerr: [x, x]}\n".into(), vec!["node `W`", "empty"]),
        ("matrix of empty rows", "nodes:\n  W: {weight: [[], []]}\n  x: {input: [1.0]}\n  E: {sqerr: [x, x]}\n".into(), vec!["node `W`", "empty"]),
        ("NaN", "nodes:\n  x: {input: [1.0, .nan]}\n  E: {sqerr: [x, x]}\n".into(), vec!["node `x`", "NaN"]),
        ("infinity", "nodes:\n  x: {input: [1.0]}\n  t: {target: [-.inf]}\n  E: {sqerr: [x, t]}\n".into(), vec!["node `t`"]),
        ("a string for a number", "nodes:\n  x: {input: [1.0, one]}\n  E: {sqerr: [x, x]}\n".into(), vec!["node `x`"]),
        ("a quoted number", "nodes:\n  W: {weight: [[1.0, \"2\"]]}\n  x: {input: [1.0, 1.0]}\n  s: {matvec: [W, x]}\n  E: {sqerr: [s, s]}\n".into(), vec!["node `W`", "string \"2\"", "line 2, column"]),
        ("numbers and rows in one list", "nodes:\n  x: {input: [1.0, [2.0]]}\n  E: {sqerr: [x, x]}\n".into(), vec!["node `x`", "numbers and rows in one list"]),
        ("a row within a row", "nodes:\n  W: {weight: [[1.0, [2.0]]]}\n  x: {input: [1.0, 1.0]}\n  s: {matvec: [W, x]}\n  E: {sqerr: [s, s]}\n".into(), vec!["node `W`", "a row within a row"]),
        ("no sqerr", "nodes:\n  x: {input: [1.0]}\n  o: {sigmoid: x}\n".into(), vec!["sqerr"]),
        ("gradient for a node that does not exist", with("gradients:\n  t: [0.0, 0.0]\n").replace("t: [0.0, 0.0]", "y: [0.0]"), vec!["`y`"]),
        ("gradients missing a leaf", format!("{}gradients:\n  x: [1.0, 1.0]\n", GOOD_NODES.replace("  E:", "  y: {input: [3.0]}\n  E:")), vec!["gradients", "`y`"]),
        ("gradient for a gate", with("gradients:\n  x: [1.0, 1.0]\n  E: [1.0]\n"), vec!["gradients.E", "gate"]),
        ("gradient for a target", with("gradients:\n  x: [1.0, 1.0]\n  t: [1.0, 1.0]\n"), vec!["gradients.t", "target"]),
        ("gradient of the wrong shape", with("gradients:\n  x: [1.0, 1.0, 1.0]\n"), vec!["gradients.x", "length 2"]),
        ("gradient as a matrix for a vector", with("gradients:\n  x: [[1.0, 1.0]]\n"), vec!["gradients.x"]),
        ("gradient given twice", with("gradients:\n  x: [1.0, 1.0]\n  x: [1.0, 1.0]\n"), vec!["duplicate", "x"]),
        ("unknown engine", with("engine: magic\n"), vec!["engine", "magic"]),
        ("unknown expect", with("expect: maybe\n"), vec!["expect", "maybe"]),
        ("negative tolerance", with("tolerance: {rtol: -1.0e-7}\n"), vec!["tolerance.rtol"]),
        ("unknown tolerance key", with("tolerance: {rtool: 1.0e-7}\n"), vec!["rtool"]),
        ("unknown precision", with("precision: f8\n"), vec!["precision", "f8"]),
        ("unknown engine precision", with("engine: reference@f8\n"), vec!["engine", "f8"]),
    ]
}

#[test]
fn every_malformed_file_is_rejected_by_check_with_exit_2_naming_the_node_or_key() {
    let dir = scratch("malformed");
    for (index, (rule, text, words)) in malformed().into_iter().enumerate() {
        let path = dir.join(format!("case-{index}.yaml"));
        std::fs::write(&path, &text).expect("write case");
        let (code, _, stderr) = outcome(&gradfuzz(&["check", path.to_str().expect("utf-8 path")]));
        assert_eq!(code, 2, "{rule}: exit status, stderr:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{rule}: panicked:\n{stderr}");
        assert!(
            stderr.contains(&format!("case-{index}.yaml")),
            "{rule}: file not named:\n{stderr}"
        );
        for word in words {
            assert!(
                stderr.contains(word),
                "{rule}: `{word}` missing from:\n{stderr}"
            );
        }
    }
}

#[test]
fn the_good_nodes_of_the_table_do_load() {
    // The table's malformed files are variations of this one: it must itself be valid.
    let case = case::parse(
        GOOD_NODES.as_bytes(),
        "good.yaml",
        "good",
        &SizeLimits::default(),
    )
    .expect("valid");
    assert_eq!(case.name, "good");
    assert_eq!(case.graph.len(), 3);
}

#[test]
fn sizes_above_the_configured_limits_are_rejected() {
    let limits = SizeLimits {
        max_bytes: 1 << 20,
        max_nodes: 2,
        max_dim: 4,
    };
    let error =
        case::parse(GOOD_NODES.as_bytes(), "big.yaml", "big", &limits).expect_err("3 nodes > 2");
    assert!(error.message.contains("limit"), "{error}");
    let wide = "nodes:\n  x: {input: [1, 2, 3, 4, 5]}\n  E: {sqerr: [x, x]}\n";
    let limits = SizeLimits {
        max_nodes: 10,
        ..limits
    };
    let error = case::parse(wide.as_bytes(), "wide.yaml", "wide", &limits).expect_err("5 > 4");
    assert!(
        error.message.contains("node `x`") && error.message.contains("limit"),
        "{error}"
    );
    let dir = scratch("limits");
    let path = dir.join("huge.yaml");
    std::fs::write(&path, vec![b'#'; 2000]).expect("write");
    let limits = SizeLimits {
        max_bytes: 1000,
        ..limits
    };
    let error = case::load_with_limits(&path, &limits).expect_err("2000 bytes > 1000");
    assert!(error.message.contains("bytes"), "{error}");
}

/// Real layer sizes load: a 600×600 weight (360,000 numbers, which the YAML parser's own
/// budget of 250,000 nodes refused as `budget breached: Nodes { nodes: 250001 }`) and a
/// claimed gradient of it; the byte limit is the one limit, set by GRADFUZZ_MAX_CASE_BYTES,
/// and a file beyond it is refused naming the file, the limit and the variable.
#[test]
fn a_case_as_big_as_a_real_layer_loads_and_the_size_limit_is_a_setting() {
    let n = 600;
    let row = |i: usize| -> String {
        let entries: Vec<String> = (0..n)
            .map(|j| format!("{:.17e}", ((i * n + j) as f64 * 0.618).sin() / 25.0))
            .collect();
        format!("[{}]", entries.join(", "))
    };
    let rows: Vec<String> = (0..n).map(row).collect();
    let vector: Vec<String> = (0..n).map(|j| format!("{:.6}", (j as f64).cos())).collect();
    let yaml = format!(
        "nodes:\n  x: {{input: [{v}]}}\n  W: {{weight: [{w}]}}\n  s: {{matvec: [W, x]}}\n  \
         t: {{target: [{v}]}}\n  E: {{sqerr: [s, t]}}\ngradients:\n  x: [{v}]\n  W: [{w}]\n",
        v = vector.join(", "),
        w = rows.join(", ")
    );
    let dir = scratch("layer-size");
    let path = dir.join("layer-600.yaml");
    std::fs::write(&path, &yaml).expect("write");
    let case = case::load(&path).unwrap_or_else(|e| panic!("{e}"));
    // x, W, s, t and the scalar E.
    assert_eq!(case.graph.size().1, n * n + 3 * n + 1);
    let file = path.to_str().expect("utf-8");
    let limited = common::binary_with_env(&["check", file], &[("GRADFUZZ_MAX_CASE_BYTES", "1M")]);
    let (code, _, stderr) = outcome(&limited);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("layer-600.yaml")
            && stderr.contains("above the limit of 1048576")
            && stderr.contains("GRADFUZZ_MAX_CASE_BYTES"),
        "{stderr}"
    );
    assert!(!stderr.contains("budget breached"), "{stderr}");
    let wrong = common::binary_with_env(&["check", file], &[("GRADFUZZ_MAX_CASE_BYTES", "lots")]);
    let (code, _, stderr) = outcome(&wrong);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("GRADFUZZ_MAX_CASE_BYTES=lots"), "{stderr}");
}

#[test]
fn missing_files_and_non_utf8_bytes_are_rejected_with_exit_2() {
    let (code, _, stderr) = outcome(&gradfuzz(&["check", "no/such/case.yaml"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("no/such/case.yaml"), "{stderr}");
    let dir = scratch("bytes");
    let path = dir.join("binary.yaml");
    std::fs::write(&path, [0xff, 0xfe, 0x00, 0x80]).expect("write");
    let (code, _, stderr) = outcome(&gradfuzz(&["check", path.to_str().expect("utf-8 path")]));
    assert_eq!(code, 2);
    assert!(stderr.contains("UTF-8"), "{stderr}");
}

/// Every prefix, and many single-byte corruptions, of a real case: loading never panics.
#[test]
fn truncated_and_corrupted_cases_never_panic() {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/cases/seed/two-layer.yaml"
    ))
    .expect("seed case");
    let limits = SizeLimits::default();
    for end in 0..text.len() {
        let _ = case::parse(&text[..end], "prefix.yaml", "prefix", &limits);
    }
    let replacements = [
        b'[', b']', b'{', b'}', b':', b',', b'-', b'\n', b' ', b'"', b'&', b'*', b'!', 0xff,
    ];
    for at in 0..text.len() {
        for &byte in &replacements {
            let mut corrupted = text.clone();
            corrupted[at] = byte;
            let _ = case::parse(&corrupted, "corrupted.yaml", "corrupted", &limits);
        }
    }
}

/// A claimed gradient may be NaN or infinite (a verdict of its own, non-finite), and is
/// written so that it loads again; a leaf may not, and is refused naming its node.
#[test]
fn non_finite_claimed_gradients_are_written_so_they_load_and_leaves_are_refused() {
    let dir = scratch("non-finite");
    let text = "nodes:\n  x: {input: [1.0, 2.0, 3.0]}\n  t: {target: [0.0, 0.0, 0.0]}\n  E: {sqerr: [x, t]}\ngradients:\n  x: [.nan, .inf, -.inf]\n";
    let path = dir.join("claimed.yaml");
    std::fs::write(&path, text).expect("write");
    let case = case::load(&path).expect("a NaN gradient loads");
    let written = case::to_yaml(&case);
    assert!(written.contains("[.nan, .inf, -.inf]"), "{written}");
    let again = dir.join("again.yaml");
    std::fs::write(&again, &written).expect("write");
    let reloaded = case::load(&again).expect("what was written loads");
    let gradient = reloaded
        .gradients
        .as_ref()
        .and_then(|g| g.get(reloaded.graph.find("x").expect("x")))
        .expect("x's gradient")
        .clone();
    assert!(gradient.entry(0).is_nan());
    assert_eq!(
        (gradient.entry(1), gradient.entry(2)),
        (f64::INFINITY, f64::NEG_INFINITY)
    );
    let (code, stdout, _) = outcome(&gradfuzz(&["check", again.to_str().expect("utf-8")]));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("NON-FINITE x[0]"), "{stdout}");
    let leaf = dir.join("leaf.yaml");
    std::fs::write(
        &leaf,
        "nodes:\n  x: {input: [.nan]}\n  t: {target: [0.0]}\n  E: {sqerr: [x, t]}\n",
    )
    .expect("write");
    let (code, _, stderr) = outcome(&gradfuzz(&["check", leaf.to_str().expect("utf-8")]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("node `x`") && stderr.contains("not a finite number"),
        "{stderr}"
    );
}
