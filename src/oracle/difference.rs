//! The central difference, carried through the graph without cancellation.
//!
//! A leaf entry `θ` is moved by the real steps `+h, −h, +2h, −2h` at once (four lanes, see
//! [`super::delta`]), and every node in the leaf's downstream cone carries its change
//! `v(θ + s) − v(θ)` in each lane, computed by exact algebra rather than by subtracting two
//! values. The numeric derivative is `(ΔE(+h) − ΔE(−h)) / 2h`: a true central difference of
//! the forward function (no linearisation), only computed without the catastrophic
//! cancellation of `E(θ+h) − E(θ−h)`; the `±2h` lanes give the same at twice the step, whose
//! distance from it estimates the truncation error. Alongside, each change carries a bound
//! on its own rounding error (a running error analysis of the computation, see
//! [`super::delta`]), which also accounts for the round-off already in the forward values
//! it starts from: wherever a forward value enters (the `o` of `ΔW o`, the residual `r` of
//! `sqerr`, the `y` of a sigmoid), its error bound does.
//!
//! Only the perturbed leaf's downstream cone is evaluated, only the entries a perturbation
//! changes are computed, and only the losses in the cone are summed.

use super::base::Base;
use super::delta::{EXACT, U, Workspace};
use super::{Estimate, RELATIVE_STEP};
use crate::graph::{Graph, NodeId, Operation};
use std::ops::Range;

/// The primary oracle for a range of entries of one leaf.
pub fn leaf_estimates(
    graph: &Graph,
    base: &Base,
    leaf: NodeId,
    entries: Range<usize>,
    workspace: &mut Workspace,
) -> Vec<Estimate> {
    let largest = largest_magnitude(&base.values[leaf.0]);
    estimates_with_scale(graph, base, leaf, entries, largest, workspace)
}

/// The largest magnitude among a leaf's entries: the scale of the step at an entry that is 0.
pub fn largest_magnitude(value: &crate::value::Value) -> f64 {
    (0..value.len()).fold(0.0f64, |m, k| m.max(value.entry(k).abs()))
}

/// [`leaf_estimates`] with the leaf's [`largest_magnitude`] at hand, so that a leaf taken in
/// blocks of entries is scanned once, not once a block.
pub fn estimates_with_scale(
    graph: &Graph,
    base: &Base,
    leaf: NodeId,
    entries: Range<usize>,
    largest: f64,
    workspace: &mut Workspace,
) -> Vec<Estimate> {
    let cone = graph.downstream(leaf);
    if !cone.iter().any(|&n| graph.is_loss(n)) {
        // No loss depends on this leaf: E is constant in it, exactly.
        let zero = Estimate {
            derivative: 0.0,
            truncation: 0.0,
            error: 0.0,
        };
        return vec![zero; entries.len()];
    }
    let gates: Vec<(NodeId, &Operation)> = cone
        .iter()
        .filter(|&&id| graph.is_gate(id))
        .map(|&id| (id, graph.operation(id)))
        .collect();
    // The bounds cover the ±h lanes, whose difference is the derivative.
    workspace.cover(2);
    let leaf_value = &base.values[leaf.0];
    entries
        .map(|entry| {
            let h = step(leaf_value.entry(entry), largest);
            // The steps themselves are exact: the leaf moves by h, whatever θ + h rounds to.
            workspace
                .leaf(leaf)
                .set_single(entry, [h, -h, 2.0 * h, -2.0 * h], EXACT);
            let (change, bound) = workspace.loss_change(&gates, base);
            let at_h = (change[0] - change[1]) / (2.0 * h);
            let at_2h = (change[2] - change[3]) / (4.0 * h);
            Estimate {
                derivative: at_h,
                truncation: (at_h - at_2h).abs(),
                // Each of the two loss changes is off by at most the bound; the subtraction
                // and the division round once each.
                error: 2.0 * bound / (2.0 * h) + 2.0 * U * at_h.abs(),
            }
        })
        .collect()
}

/// The step for an entry `θ` of a leaf whose largest entry is `largest`: relative to the
/// entry itself, so that a tiny entry is not moved by many times its size (which would
/// measure the function somewhere else, where its derivative may even change sign); a zero
/// entry takes the leaf's scale, and a leaf of zeros the unit. The difference is carried
/// without cancellation, so a small step costs no precision; it only has to stay clear of
/// underflow, which the oracle's error bound then reports.
pub fn step(theta: f64, largest: f64) -> f64 {
    let scale = if theta != 0.0 {
        theta.abs()
    } else if largest > 0.0 {
        largest
    } else {
        1.0
    };
    RELATIVE_STEP * scale.max(MIN_SCALE)
}

/// The smallest scale a step is taken relative to: steps stay normal numbers well above the
/// subnormal range, whatever they are multiplied by on the way to the loss.
const MIN_SCALE: f64 = 1e-280;
