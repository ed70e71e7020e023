//! `gradfuzz dot`: a graph as Graphviz DOT, shapes on the edges, and, for a failing graph,
//! the blamed gate (or fan-out node) and the leaves with failing entries highlighted.

use crate::blame::{Blame, Culprit};
use crate::check::Report;
use crate::graph::{Graph, LeafKind, Op, Shape};
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
        let node = graph.node(id);
        let (shape, kind) = match &node.op {
            Op::Leaf(LeafKind::Input, _) => ("box", "input"),
            Op::Leaf(LeafKind::Weight, _) => ("box3d", "weight"),
            Op::Leaf(LeafKind::Target, _) => ("note", "target"),
            Op::Gate(gate) if graph.is_loss(id) => ("doubleoctagon", gate.kind().name()),
            Op::Gate(gate) => ("ellipse", gate.kind().name()),
        };
        let mut style = String::new();
        if blamed == Some(node.name.as_str()) {
            style.push_str(", style=filled, fillcolor=\"#f4a3a3\", color=\"#b00000\", penwidth=2");
        } else if failing_leaves.contains(&id.0) {
            style.push_str(", style=filled, fillcolor=\"#ffd98a\"");
        }
        let label = format!("{}\\n{kind} {}", node.name, shape_text(graph.shape(id)));
        let _ = writeln!(
            out,
            "  {} [shape={shape}, label={}{style}];",
            quote(&node.name),
            quote(&label)
        );
    }
    for id in graph.ids() {
        let Some(gate) = graph.gate(id) else { continue };
        for &operand in gate.operands().iter() {
            let _ = writeln!(
                out,
                "  {} -> {} [label={}];",
                quote(&graph.node(operand).name),
                quote(&graph.node(id).name),
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
