//! `gradfuzz dot`: a graph as Graphviz DOT, shapes on the edges, and, for a failing graph,
//! the blamed gate (or fan-out node) and the leaves with failing entries highlighted.

use gradfuzz::blame::{Blame, Culprit};
use gradfuzz::check::Report;
use gradfuzz::graph::{Graph, LeafKind, Operation, Shape};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The DOT text. `failure` is the report and blame of a failing check, if any.
pub fn dot(graph: &Graph, name: &str, failure: Option<(&Report, &Blame)>) -> String {
    let failing_leaves: BTreeSet<usize> = failure
        .map(|(report, _)| {
            report
                .mismatches
                .iter()
                .chain(&report.non_finite)
                .chain(&report.unchecked)
                .map(|e| e.leaf.0)
                .collect()
        })
        .unwrap_or_default();
    let blamed = failure.and_then(|(_, blame)| match &blame.culprit {
        Culprit::Gate { node, .. } | Culprit::FanOut { node } => Some(node.as_str()),
        Culprit::Unlocated => None,
    });
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(name));
    let _ = writeln!(
        out,
        "  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];"
    );
    for id in graph.ids() {
        let name = graph.name(id);
        let operation = graph.operation(id);
        let (shape, kind) = match (operation, operation.kind()) {
            (Operation::Leaf(LeafKind::Input, _), _) => ("box", "input"),
            (Operation::Leaf(LeafKind::Weight, _), _) => ("box3d", "weight"),
            (Operation::Leaf(LeafKind::Target, _), _) => ("note", "target"),
            (gate, Some(kind)) if gate.is_loss() => ("doubleoctagon", kind.name()),
            (_, kind) => ("ellipse", kind.expect("a gate").name()),
        };
        let mut style = String::new();
        if blamed == Some(name) {
            style.push_str(", style=filled, fillcolor=\"#f4a3a3\", color=\"#b00000\", penwidth=2");
        } else if failing_leaves.contains(&id.0) {
            style.push_str(", style=filled, fillcolor=\"#ffd98a\"");
        }
        let label = format!("{name}\\n{kind} {}", shape_text(graph.shape(id)));
        let _ = writeln!(
            out,
            "  {} [shape={shape}, label={}{style}];",
            quote(name),
            quote(&label)
        );
    }
    for id in graph.ids() {
        for &operand in graph.operation(id).operands().iter() {
            let _ = writeln!(
                out,
                "  {} -> {} [label={}];",
                quote(graph.name(operand)),
                quote(graph.name(id)),
                quote(&shape_text(graph.shape(operand)))
            );
        }
    }
    out.push_str("}\n");
    out
}

fn shape_text(shape: Shape) -> String {
    match shape {
        Shape::Scalar => "scalar".into(),
        Shape::Vector(n) => n.to_string(),
        Shape::Matrix(m, n) => format!("{m}×{n}"),
    }
}

/// A DOT double-quoted string.
fn quote(text: &str) -> String {
    format!(
        "\"{}\"",
        text.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace("\\\\n", "\\n")
    )
}
