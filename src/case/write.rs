//! Saving: a case as YAML in the format [`super`] reads, numbers in shortest round-trip
//! form, so that loading the text gives back the same bits.

use super::{Case, Expect};
use crate::graph::NodeId;
use crate::value::{flow_list, number};

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
    let name = |id: NodeId| key(graph.name(id));
    for (node, operation) in graph.operations() {
        let body = operation.text(name);
        out.push_str(&format!("  {}: {{{body}}}\n", key(node)));
    }
    if let Some(gradients) = &case.gradients {
        out.push_str("gradients:\n");
        for leaf in graph.differentiable_leaves() {
            if let Some(gradient) = gradients.get(leaf) {
                out.push_str(&format!("  {}: {}\n", name(leaf), flow_list(gradient)));
            }
        }
    }
    out
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
pub(super) fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serializes")
}
