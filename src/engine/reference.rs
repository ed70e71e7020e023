//! The reference engine: reverse-mode differentiation of a [`Graph`].
//!
//! The nodes are visited in reverse topological order; each gate's backward rule turns the
//! upstream gradient into partials, and `sum_into` (through `Rules::accumulate`) adds
//! each partial into its operand's gradient. That one function is the only place where
//! gradients are summed, so every kind of fan-out (a vector used by several gates,
//! `add(x, x)`, a weight shared by several `matvec` gates, a computed `sqerr` target) is
//! handled by the same line.
//!
//! The driver is generic over `Rules` so that the mutant engines can reuse it with one
//! deliberate change; the reference uses the gate rules and the sum as they are.

use super::{Engine, EngineError, Gradients, Summation};
use crate::gate::{Partial, Value, backward_in};
use crate::graph::{Graph, NodeId, Values};
use crate::op::{GateSet, Operation};
use crate::precision::Precision;

/// The project's own reverse-mode engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reference;

impl Engine for Reference {
    fn name(&self) -> String {
        "reference".into()
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        Ok(backpropagate(graph, &Reference))
    }

    /// Each row in order (`src/kernels.rs`).
    fn summation(&self) -> Summation {
        Summation::Sequential
    }

    fn gates(&self) -> GateSet {
        GateSet::all()
    }
}

/// The reference rules with every operation rounded to a narrower precision
/// (`reference@f32`, `reference@f16`, `reference@bf16`): a textbook engine in that format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReferenceIn(pub Precision);

impl Engine for ReferenceIn {
    fn name(&self) -> String {
        match self.0 {
            Precision::F64 => "reference".into(),
            p => format!("reference@{p}"),
        }
    }

    fn precision(&self) -> Precision {
        self.0
    }

    /// Each row in order (`src/arithmetic.rs`).
    fn summation(&self) -> Summation {
        Summation::Sequential
    }

    fn gates(&self) -> GateSet {
        GateSet::all()
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        Ok(backpropagate(graph, self))
    }
}

impl Rules for ReferenceIn {
    fn precision(&self) -> Precision {
        self.0
    }
}

/// The pieces of reverse mode that an engine may change.
pub(crate) trait Rules {
    /// The precision of every operation (by default `f64`).
    fn precision(&self) -> Precision {
        Precision::F64
    }

    /// The partials of one gate (by default, the gate's own backward rule).
    fn partials(
        &self,
        gate: &Operation,
        values: &Values,
        output: &Value,
        upstream: &Value,
    ) -> Vec<Partial> {
        backward_in(gate, self.precision(), |n| &values[n.0], output, upstream)
    }

    /// Adds a partial into a node's gradient (by default, the sum).
    fn accumulate(
        &self,
        _graph: &Graph,
        _node: NodeId,
        gradient: &mut Option<Value>,
        partial: Value,
    ) {
        sum_into(gradient, partial, self.precision());
    }
}

impl Rules for Reference {}

/// The one place where partials are summed: each use of a node adds its share.
pub(crate) fn sum_into(gradient: &mut Option<Value>, partial: Value, precision: Precision) {
    match gradient {
        Some(sum) => sum.add_assign_in(precision, &partial),
        None => *gradient = Some(partial),
    }
}

/// `dE/d(leaf)` for every differentiable leaf, by reverse mode with the given rules.
pub(crate) fn backpropagate(graph: &Graph, rules: &impl Rules) -> Gradients {
    let values = graph.forward_in(rules.precision());
    let mut gradient_of: Vec<Option<Value>> = vec![None; graph.len()];
    for id in graph.ids().rev() {
        let gate = graph.operation(id);
        if !graph.is_gate(id) {
            continue;
        }
        // The loss is the plain sum of the loss nodes, so each receives dE/dE_k = 1.
        let upstream = if graph.is_loss(id) {
            Value::Scalar(1.0)
        } else {
            match gradient_of[id.0].take() {
                Some(upstream) => upstream,
                None => continue, // reaches no loss: its gradient, and its share upstream, are 0
            }
        };
        for partial in rules.partials(gate, &values, &values[id.0], &upstream) {
            let node = partial.operand;
            rules.accumulate(graph, node, &mut gradient_of[node.0], partial.gradient);
        }
    }
    let mut gradients = Gradients::empty(graph.len());
    for leaf in graph.differentiable_leaves() {
        // A leaf that reaches no loss has gradient zero.
        let gradient = gradient_of[leaf.0]
            .take()
            .unwrap_or_else(|| values[leaf.0].zeros_like());
        gradients.set(leaf, gradient);
    }
    gradients
}
