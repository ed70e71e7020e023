//! The finite-difference oracle: numeric `dE/d(leaf entry)` from the forward pass alone.
//!
//! It never calls a backward rule or an engine, so it cannot share an engine's mistakes.
//!
//! # Error model
//!
//! For a step `h`, the central difference `D(h) = (E(θ+h) − E(θ−h)) / 2h` differs from
//! `E'(θ)` by a truncation error `h² E'''(θ)/6 + O(h⁴)` and a round-off error of about
//! `δE / h`, where `δE` is the absolute rounding error of one evaluation of `E`. The step
//! `h = ε^(1/3)·max(|θ|, 1)` (about 6e-6 for |θ| ≤ 1) balances the two for well-scaled
//! functions. Every entry is differenced at `h` and at `2h`: since
//! `D(2h) − D(h) ≈ 3·h² E'''/6`, `|D(h) − D(2h)|` bounds the truncation error of `D(h)` three
//! times over, and it also measures the round-off noise actually present (the two
//! differences have independent rounding errors). Because that measure can be small by
//! coincidence, a floor of `64·ε·|E|/h` is added for round-off.
//!
//! Only the perturbed leaf's downstream cone is re-evaluated, and only the loss terms in
//! that cone are summed: the other terms are mathematically unchanged, so leaving them out
//! computes the same difference without subtracting their (possibly large) sum from itself.

use crate::gate::{Value, scalar};
use crate::graph::{Graph, NodeId, Op};

/// `ε^(1/3)`: the relative step that balances truncation against round-off.
pub const RELATIVE_STEP: f64 = 6.055_454_452_393_343e-6;

/// How many units of `ε·|E|/h` the round-off floor allows.
const ROUNDOFF_UNITS: f64 = 64.0;

/// A numeric derivative and a bound on its own error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The central difference at step `h`.
    pub derivative: f64,
    /// An estimate of `|derivative − true derivative|` (truncation and round-off).
    pub error: f64,
}

/// Numeric gradients of every differentiable leaf, entries in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct NumericGradients {
    pub by_leaf: Vec<(NodeId, Vec<Estimate>)>,
}

/// Central differences for every entry of every `input` and `weight`.
pub fn finite_differences(graph: &Graph, values: &[Value]) -> NumericGradients {
    let by_leaf = graph
        .differentiable_leaves()
        .map(|leaf| (leaf, leaf_differences(graph, values, leaf)))
        .collect();
    NumericGradients { by_leaf }
}

fn leaf_differences(graph: &Graph, values: &[Value], leaf: NodeId) -> Vec<Estimate> {
    let cone = graph.downstream(leaf);
    let losses: Vec<NodeId> = cone.iter().copied().filter(|&n| graph.is_loss(n)).collect();
    let entries = values[leaf.0].len();
    if losses.is_empty() {
        // No loss depends on this leaf: E is constant in it, exactly.
        let zero = Estimate {
            derivative: 0.0,
            error: 0.0,
        };
        return vec![zero; entries];
    }
    let loss_scale: f64 = losses.iter().map(|&n| scalar(&values[n.0]).abs()).sum();
    let mut scratch = values.to_vec();
    let mut affected_loss_at = |entry: usize, point: f64| -> f64 {
        *scratch[leaf.0].entry_mut(entry) = point;
        for &node in &cone {
            if let Op::Gate(gate) = &graph.node(node).op {
                let value = gate.forward(|id| &scratch[id.0]);
                scratch[node.0] = value;
            }
        }
        let loss = losses.iter().map(|&n| scalar(&scratch[n.0])).sum();
        // Leave the leaf as it was: the next entry perturbs a different coordinate.
        *scratch[leaf.0].entry_mut(entry) = values[leaf.0].entry(entry);
        loss
    };
    let mut estimates = Vec::with_capacity(entries);
    for entry in 0..entries {
        let theta = values[leaf.0].entry(entry);
        let h = RELATIVE_STEP * theta.abs().max(1.0);
        let mut central = |step: f64| {
            // Difference over the step actually taken, which rounding may have changed.
            let (up, down) = (theta + step, theta - step);
            (affected_loss_at(entry, up) - affected_loss_at(entry, down)) / (up - down)
        };
        let at_h = central(h);
        let at_2h = central(2.0 * h);
        let roundoff = ROUNDOFF_UNITS * f64::EPSILON * loss_scale / h;
        estimates.push(Estimate {
            derivative: at_h,
            error: (at_h - at_2h).abs() + roundoff,
        });
    }
    estimates
}
