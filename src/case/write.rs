//! Saving: a case as YAML in the format [`super`] reads, numbers in shortest round-trip
//! form, so that loading the text gives back the same bits.

use super::{Case, Expect};
use crate::gate::Value;
use crate::graph::NodeId;

/// The case as YAML in the format above; numbers in shortest round-trip form, so that
/// loading the text gives back the same bits.
pub fn to_yaml(case: &Case) -> String {
    let mut out = String::new();
    out.push_str(&format!("name: {}\n", quoted(&case.name)));
    if let Some(description) = &case.description {
        out.push_str(&format!("description: {}\n", quoted(description)));
    }
    if let Some(engine) = &case.engine {
        out.push_str(&format!("engine: {}\n", quoted(engine)));
    }
    if case.expect != Expect::Pass {
        out.push_str(&format!("expect: {}\n", case.expect.name()));
    }
    if let Some(p) = case.precision {
        out.push_str(&format!("precision: {p}\n"));
    }
    if let Some(t) = &case.tolerance {
        out.push_str(&format!(
            "tolerance: {{rtol: {}, atol: {}}}\n",
            number(t.rtol),
            number(t.atol)
        ));
    }
    out.push_str("nodes:\n");
    let graph = &case.graph;
    let name = |id: NodeId| key(&graph.node(id).name);
    for node in graph.nodes() {
        let body = node.op_text("", name, array);
        out.push_str(&format!("  {}: {{{body}}}\n", key(&node.name)));
    }
    if let Some(gradients) = &case.gradients {
        out.push_str("gradients:\n");
        for leaf in graph.differentiable_leaves() {
            if let Some(gradient) = gradients.get(leaf) {
                out.push_str(&format!("  {}: {}\n", name(leaf), array(gradient)));
            }
        }
    }
    out
}

/// A number in the shortest form that reads back to the same `f64` (NaN and the infinities
/// in YAML's spelling, `.nan`, `.inf`, `-.inf`: a claimed gradient may be one).
fn number(x: f64) -> String {
    if x.is_nan() {
        ".nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { ".inf" } else { "-.inf" }.into()
    } else {
        // Rust's `{:?}` prints the shortest round-trip digits ("0.1", "1e-7", "-0.0").
        format!("{x:?}")
    }
}

/// A value as a flow list (`[..]` or `[[..], ..]`) of shortest round-trip numbers: the same
/// text is valid YAML and JSON, so the exec protocol writes leaves with it too.
pub fn array(value: &Value) -> String {
    let row = |entries: &mut dyn Iterator<Item = f64>| {
        let items: Vec<String> = entries.map(number).collect();
        format!("[{}]", items.join(", "))
    };
    match value {
        Value::Scalar(x) => number(*x),
        Value::Vector(v) => row(&mut v.iter().copied()),
        Value::Matrix(m) => {
            let rows: Vec<String> = (0..m.nrows())
                .map(|i| row(&mut (0..m.ncols()).map(|j| m[(i, j)])))
                .collect();
            format!("[{}]", rows.join(", "))
        }
    }
}

/// A node id as a YAML key or flow item: plain when it is a simple identifier that YAML
/// would not read as a boolean, null or number.
fn key(name: &str) -> String {
    const RESERVED: [&str; 11] = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "nan", "inf",
    ];
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !RESERVED.contains(&name.to_ascii_lowercase().as_str());
    if plain {
        name.to_string()
    } else {
        quoted(name)
    }
}

/// A JSON string is a valid YAML double-quoted scalar with the same meaning.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serializes")
}
