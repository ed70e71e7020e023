//! `--format json` output of `fuzz`, `check` and `explain`, validated against
//! `docs/report.schema.json` by a small validator of the JSON Schema keywords the schema uses
//! (`type`, `required`, `properties`, `items`, `enum`, `const`, `oneOf`, local `$ref`).

mod common;

use common::{gradfuzz, outcome};
use serde_json::Value;

fn schema() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/report.schema.json"
    ))
    .expect("the schema");
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        other => panic!("the validator does not know type `{other}`"),
    }
}

/// The first violation of `schema` by `value`, with its JSON path.
fn violation(root: &Value, schema: &Value, value: &Value, path: &str) -> Option<String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/$defs/")
            .expect("a local reference");
        return violation(root, &root["$defs"][name], value, path);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|o| violation(root, o, value, path).is_none())
            .count();
        if matching != 1 {
            return Some(format!(
                "{path}: matches {matching} of the oneOf alternatives"
            ));
        }
    }
    if let Some(expected) = schema.get("type") {
        let names: Vec<&str> = match expected {
            Value::String(name) => vec![name],
            Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type keyword"),
        };
        if !names.iter().any(|n| type_matches(n, value)) {
            return Some(format!("{path}: {value} is not of type {names:?}"));
        }
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        return Some(format!("{path}: {value} is not {constant}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Some(format!("{path}: {value} is not one of {options:?}"));
    }
    if let Value::Object(object) = value {
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = key.as_str().expect("a key");
            if !object.contains_key(key) {
                return Some(format!("{path}: missing `{key}`"));
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (key, sub) in properties {
                if let Some(child) = object.get(key)
                    && let Some(v) = violation(root, sub, child, &format!("{path}.{key}"))
                {
                    return Some(v);
                }
            }
        }
    }
    if let (Value::Array(items), Some(sub)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            if let Some(v) = violation(root, sub, item, &format!("{path}[{i}]")) {
                return Some(v);
            }
        }
    }
    None
}

fn assert_valid(args: &[&str]) -> Value {
    let (_, stdout, stderr) = outcome(&gradfuzz(args));
    let document: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}):\n{stdout}\n{stderr}"));
    let schema = schema();
    if let Some(problem) = violation(&schema, &schema, &document, "$") {
        panic!("{args:?}: {problem}");
    }
    document
}

#[test]
fn fuzz_json_follows_the_schema_passing_and_failing() {
    let pass = assert_valid(&["fuzz", "--seed", "1", "--graphs", "200", "--format", "json"]);
    assert_eq!(pass["summary"]["result"], "pass");
    let fail = assert_valid(&[
        "fuzz",
        "--seed",
        "1",
        "--graphs",
        "200",
        "--format",
        "json",
        "--engine",
        "mutant:add-first-only",
    ]);
    assert_eq!(fail["summary"]["result"], "fail");
    let shrunk = &fail["failures"][0]["shrunk"];
    assert!(
        shrunk["case"]
            .as_str()
            .is_some_and(|c| c.contains("expect: mismatch")),
        "{shrunk}"
    );
    assert_eq!(fail["failures"][0]["blame"]["gate"], "add");
    let fast = assert_valid(&[
        "fuzz", "--seed", "1", "--graphs", "200", "--format", "json", "--mode", "fast",
    ]);
    assert_eq!(fast["run"]["mode"], "fast");
}

#[test]
fn check_json_follows_the_schema_with_valid_and_invalid_cases() {
    let document = assert_valid(&["check", "cases/seed", "cases/mutants", "--format", "json"]);
    assert!(
        document["summary"]["cases"]
            .as_u64()
            .is_some_and(|n| n >= 19)
    );
    let dir = common::scratch("json-invalid");
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "nodes: {x: {input: []}}\n").expect("write");
    let document = assert_valid(&["check", bad.to_str().expect("utf-8"), "--format", "json"]);
    assert_eq!(document["summary"]["invalid"], 1);
}

#[test]
fn explain_json_follows_the_schema() {
    let document = assert_valid(&[
        "explain",
        "cases/mutants/matvec-no-transpose.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(document["blame"]["gate"], "matvec");
    assert_eq!(document["entries"][0]["verdict"], "mismatch");
    assert_valid(&[
        "explain",
        "cases/findings/overflow-non-finite-blame.yaml",
        "--format",
        "json",
    ]);
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    let schema = schema();
    let mut document: Value = serde_json::from_str(
        &outcome(&gradfuzz(&[
            "explain",
            "cases/seed/sqerr.yaml",
            "--format",
            "json",
        ]))
        .1,
    )
    .expect("JSON");
    assert!(violation(&schema, &schema, &document, "$").is_none());
    document["entries"][0]["verdict"] = Value::from("maybe");
    assert!(violation(&schema, &schema, &document, "$").is_some());
    document.as_object_mut().expect("object").remove("report");
    assert!(violation(&schema, &schema, &document, "$").is_some());
}
