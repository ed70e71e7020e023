//! The fast check: a few random directions instead of every entry.
//!
//! For a direction `v` (random signs over every entry of every `input` and `weight`, from a seed),
//! the directional derivative `∇E · v` is compared with `(E(θ + t v) − E(θ − t v)) / 2t`, the
//! difference carried through the whole graph without cancellation, exactly as the primary
//! oracle does for one entry (see [`crate::oracle::difference`]). One pass per direction,
//! whatever the number of entries. A direction that disagrees does not decide anything by
//! itself: the caller falls back to the full check, which localises and reports.

use crate::check::{ROUNDOFF_UNITS, Tolerance};
use crate::engine::{Engine, EngineError};
use crate::gate::Value;
use crate::graph::{Graph, NodeId};
use crate::oracle::delta::Workspace;
use crate::oracle::difference::magnitudes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Directions checked per graph by default.
pub const DIRECTIONS: usize = 2;

/// The relative step along a direction (scaled by the largest leaf entry).
const STEP: f64 = 1e-7;

/// What the fast check saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FastOutcome {
    /// Directions checked.
    pub directions: usize,
    /// Whether every direction agreed within its tolerance.
    pub agreed: bool,
    /// The largest error as a fraction of its tolerance.
    pub worst_ratio: f64,
}

/// Checks `directions` seeded random directions of `graph`.
pub fn fast_check(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
    directions: usize,
    seed: u64,
) -> Result<FastOutcome, EngineError> {
    let analytic = engine.gradients(graph)?;
    analytic.validate(graph)?;
    let values = graph.forward();
    let magnitudes = magnitudes(graph, &values);
    // Each leaf's values and gradient, flat (a weight column by column, as the dense delta
    // of a weight is laid out), read once per direction.
    let leaves: Vec<(NodeId, Vec<f64>, Vec<f64>)> = graph
        .differentiable_leaves()
        .map(|leaf| {
            let gradient = analytic.get(leaf).expect("validated");
            (leaf, flat(&values[leaf.0]), flat(gradient))
        })
        .collect();
    let largest = leaves
        .iter()
        .flat_map(|(_, value, _)| value.iter())
        .fold(1.0f64, |m, x| m.max(x.abs()));
    let t = STEP * largest;
    let gates: Vec<_> = graph
        .ids()
        .filter_map(|id| graph.gate(id).map(|g| (id, g)))
        .collect();
    let mut workspace = Workspace::new(graph);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut outcome = FastOutcome {
        directions,
        agreed: true,
        worst_ratio: 0.0,
    };
    for _ in 0..directions {
        // ∇E·d, with d the steps actually taken (rounded), so both sides use the same d.
        let (mut directional, mut analytic_scale) = (0.0, 0.0);
        for (leaf, value, gradient) in &leaves {
            workspace.leaf(*leaf).set_dense(|minus, diff| {
                let mut signs = 0u64;
                for (k, (&x, &g)) in value.iter().zip(gradient).enumerate() {
                    // Random signs: as good as Gaussian directions here, and 64 per draw.
                    if k % 64 == 0 {
                        signs = rng.next_u64();
                    }
                    let step = if (signs >> (k % 64)) & 1 == 1 { t } else { -t };
                    let (up, down) = (x + step, x - step);
                    minus.push(down);
                    diff.push(up - down);
                    directional += g * (up - down);
                    analytic_scale += (g * (up - down)).abs();
                }
            });
        }
        let (mut numeric, mut bound) = (0.0, 0.0);
        for &(id, gate) in &gates {
            if let Some((difference, b)) = workspace.propagate(id, gate, &values, &magnitudes) {
                numeric += difference;
                bound += b;
            }
        }
        workspace.reset(
            leaves
                .iter()
                .map(|(leaf, _, _)| *leaf)
                .chain(gates.iter().map(|&(id, _)| id)),
        );
        // Both sides in units of the step: the truncation of a step of 1e-7 is far below the
        // round-off allowance for a graph's worth of terms, and a direction that disagrees
        // only sends the graph to the full check.
        let roundoff = ROUNDOFF_UNITS
            * (graph.len() + graph.largest_dim() + 2) as f64
            * f64::EPSILON
            * bound.max(analytic_scale);
        let allowed = tolerance.atol * 2.0 * t
            + tolerance.rtol * directional.abs().max(numeric.abs())
            + roundoff;
        let error = (directional - numeric).abs();
        let ratio = if error == 0.0 { 0.0 } else { error / allowed };
        // A NaN ratio (a non-finite side) disagrees too.
        if ratio.is_nan() || ratio > 1.0 {
            outcome.agreed = false;
        }
        outcome.worst_ratio =
            outcome
                .worst_ratio
                .max(if ratio.is_nan() { f64::INFINITY } else { ratio });
    }
    Ok(outcome)
}

/// A value's entries, a matrix's column by column.
fn flat(value: &Value) -> Vec<f64> {
    match value {
        Value::Matrix(m) => (0..m.ncols())
            .flat_map(|j| m.col_as_slice(j).iter().copied())
            .collect(),
        other => crate::oracle::delta::slice(other).to_vec(),
    }
}
