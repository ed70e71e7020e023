//! The reference engine: reverse-mode differentiation of a [`Graph`].
//!
//! The nodes are visited in reverse topological order; each gate's backward rule turns the
//! upstream gradient into partials, and [`accumulate`] adds each partial into its operand's
//! gradient. That one function is the only place where gradients are summed, so every kind of
//! fan-out (a vector used by several gates, `add(x, x)`, a weight shared by several `matvec`
//! gates, a computed `sqerr` target) is handled by the same line.

use super::{Engine, EngineError, Gradients};
use crate::gate::Value;
use crate::graph::{Graph, Op};

/// The project's own reverse-mode engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reference;

impl Engine for Reference {
    fn name(&self) -> String {
        "reference".into()
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        Ok(backpropagate(graph))
    }
}

/// `dE/d(leaf)` for every differentiable leaf, by reverse mode.
pub fn backpropagate(graph: &Graph) -> Gradients {
    let values = graph.forward();
    let mut gradient_of: Vec<Option<Value>> = vec![None; graph.len()];
    for id in graph.ids().rev() {
        let Op::Gate(gate) = &graph.node(id).op else {
            continue;
        };
        // The loss is the plain sum of the `sqerr` nodes, so each receives dE/dE_k = 1.
        let upstream = if graph.is_loss(id) {
            Value::Scalar(1.0)
        } else {
            match gradient_of[id.0].take() {
                Some(upstream) => upstream,
                None => continue, // reaches no loss: its gradient, and its share upstream, are 0
            }
        };
        for partial in gate.backward(|n| &values[n.0], &values[id.0], &upstream) {
            accumulate(&mut gradient_of[partial.operand.0], partial.gradient);
        }
    }
    leaf_gradients(graph, &values, gradient_of)
}

/// The one place where partials are summed: each use of a node adds its share.
pub fn accumulate(gradient: &mut Option<Value>, partial: Value) {
    match gradient {
        Some(sum) => sum.add_assign(&partial),
        None => *gradient = Some(partial),
    }
}

/// The gradients of the differentiable leaves; a leaf that reaches no loss gets zeros.
pub(crate) fn leaf_gradients(
    graph: &Graph,
    values: &[Value],
    mut gradient_of: Vec<Option<Value>>,
) -> Gradients {
    let mut gradients = Gradients::empty(graph.len());
    for leaf in graph.differentiable_leaves() {
        let gradient = gradient_of[leaf.0]
            .take()
            .unwrap_or_else(|| values[leaf.0].zeros_like());
        gradients.set(leaf, gradient);
    }
    gradients
}
