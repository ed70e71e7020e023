//! The one check of an answer: gradients for exactly the graph's differentiable leaves, each
//! of its leaf's shape. A Rust engine's [`Gradients`], an exec program's JSON line and a case
//! file's `gradients:` key all arrive here, so that the three say the same thing about the
//! same mistake, each adding only where it was made (the program, the file and line).

use super::Gradients;
use crate::graph::{Graph, LeafKind, NodeId, Operation};
use crate::value::{Shape, Value};
use std::fmt;

/// What is wrong with an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// A gradient named for something that is not a node of the graph.
    NotANode { name: String },
    /// A gradient for a target, which is a constant.
    Target { name: String },
    /// A gradient for a gate: gradients are asked for leaves only.
    Gate { name: String },
    /// A differentiable leaf without a gradient.
    Missing { leaf: String },
    /// A gradient whose shape is not its leaf's.
    WrongShape {
        leaf: String,
        found: Shape,
        expected: Shape,
    },
    /// A gradient that cannot be read as numbers of its leaf's shape (an exec program's
    /// JSON): `problem` says how, as in "has 2 entries where 4 are needed".
    Unreadable { leaf: String, problem: String },
    /// Gradients made for a graph of another size ([`Gradients::empty`] with the wrong
    /// count).
    NodeCount { found: usize, expected: usize },
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::NotANode { name } => {
                write!(f, "a gradient for `{name}`, which is not a node")
            }
            AnswerError::Target { name } => {
                write!(
                    f,
                    "a gradient for the target `{name}`, which has no gradient"
                )
            }
            AnswerError::Gate { name } => {
                write!(f, "a gradient for the gate `{name}`, not a leaf")
            }
            AnswerError::Missing { leaf } => write!(f, "no gradient for leaf `{leaf}`"),
            AnswerError::WrongShape {
                leaf,
                found,
                expected,
            } => write!(
                f,
                "the gradient for `{leaf}` is a {found}, but the leaf is a {expected}"
            ),
            AnswerError::Unreadable { leaf, problem } => {
                write!(f, "the gradient for `{leaf}` {problem}")
            }
            AnswerError::NodeCount { found, expected } => write!(
                f,
                "gradients for {found} nodes, but the graph has {expected}"
            ),
        }
    }
}

impl std::error::Error for AnswerError {}

/// The differentiable leaf a gradient is named for.
pub fn leaf_named(graph: &Graph, name: &str) -> Result<NodeId, AnswerError> {
    let Some(leaf) = graph.find(name) else {
        return Err(AnswerError::NotANode { name: name.into() });
    };
    differentiable(graph, leaf)
}

/// `id`, when it is a differentiable leaf (a gradient may be given for it).
fn differentiable(graph: &Graph, id: NodeId) -> Result<NodeId, AnswerError> {
    let name = || graph.name(id).to_string();
    match graph.operation(id) {
        Operation::Leaf(kind, _) if kind.is_differentiable() => Ok(id),
        Operation::Leaf(LeafKind::Target, _) => Err(AnswerError::Target { name: name() }),
        _ => Err(AnswerError::Gate { name: name() }),
    }
}

/// A gradient of its leaf's shape.
pub fn shaped(graph: &Graph, leaf: NodeId, gradient: &Value) -> Result<(), AnswerError> {
    let (found, expected) = (gradient.shape(), graph.shape(leaf));
    match found == expected {
        true => Ok(()),
        false => Err(AnswerError::WrongShape {
            leaf: graph.name(leaf).to_string(),
            found,
            expected,
        }),
    }
}

/// Exactly the differentiable leaves have a gradient, each of its leaf's shape.
pub fn validate(graph: &Graph, gradients: &Gradients) -> Result<(), AnswerError> {
    if gradients.len() != graph.len() {
        return Err(AnswerError::NodeCount {
            found: gradients.len(),
            expected: graph.len(),
        });
    }
    // By id, not by name: this runs for every graph a fuzz run checks.
    for id in graph.ids() {
        if gradients.get(id).is_some() {
            differentiable(graph, id)?;
        }
    }
    for leaf in graph.differentiable_leaves() {
        let Some(gradient) = gradients.get(leaf) else {
            return Err(AnswerError::Missing {
                leaf: graph.name(leaf).to_string(),
            });
        };
        shaped(graph, leaf, gradient)?;
    }
    Ok(())
}
