//! The case format in JSON: the same keys, nodes and numbers as the YAML form, for cases as
//! big as real layers (a JSON number is read several times faster than a YAML scalar, and
//! the file is read as a stream, never held whole in memory).
//!
//! JSON has no literal for a non-finite number, so a claimed gradient's NaN or infinity is
//! written as the string `"NaN"`, `"Infinity"` or `"-Infinity"` (what JavaScript prints),
//! and read back as the number.

use super::write::quoted as string;
use super::{Case, Expect};
use crate::graph::NodeId;
use crate::op::Operation;
use crate::value::Value;

/// The case as JSON in the format [`super::load`] reads from a `.json` file; numbers in
/// shortest round-trip form, so that loading the text gives back the same bits.
pub fn to_json(case: &Case) -> String {
    let mut fields: Vec<String> = vec![format!("\"name\": {}", string(&case.name))];
    if let Some(description) = &case.description {
        fields.push(format!("\"description\": {}", string(description)));
    }
    if let Some(engine) = &case.engine {
        fields.push(format!("\"engine\": {}", string(engine)));
    }
    if case.expect != Expect::Pass {
        fields.push(format!("\"expect\": \"{}\"", case.expect.name()));
    }
    if let Some(p) = case.precision {
        fields.push(format!("\"precision\": \"{p}\""));
    }
    if let Some(t) = &case.tolerance {
        fields.push(format!(
            "\"tolerance\": {{\"rtol\": {}, \"atol\": {}}}",
            number(t.rtol),
            number(t.atol)
        ));
    }
    let graph = &case.graph;
    let name = |id: NodeId| string(graph.name(id));
    let nodes: Vec<String> = graph
        .operations()
        .map(|(node, operation)| format!("    {}: {{{}}}", string(node), body(operation, name)))
        .collect();
    fields.push(format!("\"nodes\": {{\n{}\n  }}", nodes.join(",\n")));
    if let Some(gradients) = &case.gradients {
        let claimed: Vec<String> = graph
            .differentiable_leaves()
            .filter_map(|leaf| {
                let gradient = gradients.get(leaf)?;
                Some(format!("    {}: {}", name(leaf), array(gradient)))
            })
            .collect();
        fields.push(format!("\"gradients\": {{\n{}\n  }}", claimed.join(",\n")));
    }
    format!("{{\n  {}\n}}\n", fields.join(",\n  "))
}

/// An operation as `"KEY": ARGUMENTS`.
fn body(operation: &Operation, name_of: impl Fn(NodeId) -> String) -> String {
    if let Operation::Leaf(kind, value) = operation {
        return format!("\"{}\": {}", kind.name(), array(value));
    }
    let kind = operation.kind().expect("a gate has a kind");
    let names: Vec<String> = operation.operands().iter().map(|&id| name_of(id)).collect();
    let arguments = match names.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    format!("\"{}\": {arguments}", kind.name())
}

/// A value as a JSON list of numbers or of rows.
fn array(value: &Value) -> String {
    crate::value::list_with(value, number)
}

/// A number in shortest round-trip form; a non-finite one as the string JSON readers of
/// gradfuzz's files take for it.
fn number(x: f64) -> String {
    if x.is_nan() {
        "\"NaN\"".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        }
        .into()
    } else {
        format!("{x:?}")
    }
}

/// The number a non-finite string stands for (`"NaN"`, `"Infinity"`, `"-Infinity"`).
pub(super) fn non_finite(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}
