//! One table of gates (`src/op/`): every list of gates outside the library is held equal to
//! it, so that a new gate cannot be forgotten in the Python package, the report schema, the
//! fuzz dictionary or `gradfuzz gates`.

mod common;

use common::{gradfuzz, outcome};
use gradfuzz::op::{GateKind, LeafKind};

fn names() -> Vec<&'static str> {
    GateKind::ALL.iter().map(|kind| kind.name()).collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The quoted words of the first line of `text` that starts with `prefix`.
fn quoted_after(text: &str, prefix: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starts with {prefix}"));
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn gates_as_json_lists_the_table() {
    let (code, stdout, stderr) = outcome(&gradfuzz(&["gates", "--format", "json"]));
    assert_eq!(code, 0, "{stderr}");
    let document: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let listed: Vec<&str> = document["gates"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|gate| gate["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(listed, names());
    for (gate, kind) in document["gates"]
        .as_array()
        .expect("a list")
        .iter()
        .zip(GateKind::ALL)
    {
        assert_eq!(gate["arity"], kind.arity());
        assert_eq!(gate["loss"], kind.is_loss());
    }
    let leaves: Vec<&str> = LeafKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(document["leaves"], serde_json::json!(leaves));
}

#[test]
fn the_python_package_knows_every_gate() {
    let source = read("python/gradfuzz/_graph.py");
    assert_eq!(quoted_after(&source, "GATES = ("), names());
    let leaves: Vec<&str> = LeafKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(quoted_after(&source, "LEAVES = ("), leaves);
}

#[test]
fn the_report_schema_names_every_gate() {
    let schema = read("docs/report.schema.json");
    let words = quoted_after(&schema, "\"gate\": {\"enum\":");
    assert_eq!(words[2..], names()[..], "the schema's `gate` enum");
}

#[test]
fn the_fuzz_dictionary_has_every_op_key() {
    let dictionary = read("fuzz/load_case.dict");
    let words: Vec<&str> = dictionary
        .lines()
        .filter_map(|line| line.strip_prefix('"')?.strip_suffix('"'))
        .collect();
    let leaves = LeafKind::ALL.map(|k| k.name());
    for op in leaves.iter().copied().chain(names()) {
        let key = format!("{op}:");
        assert!(
            words.contains(&key.as_str()),
            "fuzz/load_case.dict lacks \"{key}\""
        );
    }
}
