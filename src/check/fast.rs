//! The fast check: a few random directions instead of every entry.
//!
//! For a direction `v` over every entry of every `input` and `weight`, drawn from a seed,
//! the directional derivative `∇E · v` is compared with `(E(θ + t v) − E(θ − t v)) / 2t`,
//! each side's change carried through the whole graph without cancellation, exactly as the
//! primary oracle does for one entry (see [`crate::oracle::difference`]). Two directions
//! share one pass, as four lanes.
//!
//! An input moves along a vector of continuous random numbers (each a random sign times a
//! uniform number in [1, 2)); a weight along a rank-one matrix `a bᵀ` of such numbers, whose
//! product with a vector costs `rows + cols` instead of a matrix product, and which still
//! catches any wrong weight gradient `G` with probability one: `aᵀ (G − ∇) b` is zero only
//! on a set of measure zero when `G ≠ ∇`. A direction that disagrees does not decide anything by itself: the caller
//! falls back to the full check, which localises and reports. A direction sums every
//! entry's contribution, so an error confined to entries far smaller than the rest of the
//! gradient can stay within the sum's tolerance (`tests/mutants.rs` measures how often).

use super::decide::allowance;
use super::prepare::Prepared;
use crate::engine::{Engine, EngineError};
use crate::graph::{Graph, NodeId, Operation};
use crate::kernels;
use crate::oracle::base::Base;
use crate::oracle::delta::{EXACT, LANES, Lanes, U, Workspace};
use crate::precision::Precision;
use crate::tolerance::Tolerance;
use crate::value::{Value, entries};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Directions checked per graph by default.
pub const DIRECTIONS: usize = 2;

/// Directions carried in one pass (each takes a `+t` and a `−t` lane).
const PER_PASS: usize = LANES / 2;

/// The step along a direction. Absolute: the change is carried without cancellation
/// whatever the size of the values, so only truncation (`t²E‴/6`, not estimated here)
/// depends on it, and a smaller step only makes that smaller. At 1e-9 it exceeds the
/// allowance only where the directional derivative nearly vanishes beside a large third
/// derivative (27 graphs in 300,000 of `--values extreme`; the full check they fall back to
/// estimates it); the earlier step, `1e-7·max|θ|` with random signs, sent 11,341 there.
const STEP: f64 = 1e-9;

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

/// The analytic side of up to [`PER_PASS`] directions.
#[derive(Default)]
struct Analytic {
    /// `∇E · v`.
    directional: [f64; PER_PASS],
    /// `Σ |v_k|`: what an absolute tolerance per entry adds up to along `v`.
    length: [f64; PER_PASS],
    /// `Σ |∇E_k v_k|`: the scale of the round-off of the sum `∇E · v`.
    magnitude: [f64; PER_PASS],
    /// `Σ |v_k|·bound_k`: the engine's error bound along `v`.
    engine: [f64; PER_PASS],
    /// The number of terms of `∇E · v`.
    count: usize,
}

/// Checks `directions` seeded random directions of `graph`.
pub fn fast_check(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
    directions: usize,
    seed: u64,
) -> Result<FastOutcome, EngineError> {
    let graph = crate::engine::rounded_for(engine, graph)?;
    let Prepared {
        graph,
        analytic,
        values,
        own_errors,
        bounds,
    } = Prepared::new(engine, graph.as_ref(), false)?;
    let base = Base::with_errors(graph, &values, &own_errors);
    let leaves: Vec<NodeId> = graph.differentiable_leaves().collect();
    let t = STEP;
    let gates: Vec<(NodeId, &Operation)> = graph
        .ids()
        .filter(|&id| graph.is_gate(id))
        .map(|id| (id, graph.operation(id)))
        .collect();
    let mut workspace = Workspace::new(graph);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut outcome = FastOutcome {
        directions,
        agreed: true,
        worst_ratio: 0.0,
    };
    let mut remaining = directions;
    while remaining > 0 {
        let pass = remaining.min(PER_PASS);
        remaining -= pass;
        // A lone direction leaves its partner's lanes at zero.
        let unit: Lanes = std::array::from_fn(|lane| match (lane / 2 < pass, lane % 2) {
            (false, _) => 0.0,
            (true, 0) => 1.0,
            (true, _) => -1.0,
        });
        let mut sides = Analytic::default();
        for &leaf in &leaves {
            let gradient = analytic.get(leaf).expect("validated");
            match gradient {
                // A weight only `matvec` takes moves along a rank-one direction; every other
                // leaf, matrices included, along a dense one.
                Value::Matrix(g) if graph.is_matvec_weight_only(leaf) => {
                    let (a, b) = (draws(&mut rng, g.nrows()), draws(&mut rng, g.ncols()));
                    analytic_rank_one(g, &a, &b, &mut sides);
                    for d in 0..PER_PASS {
                        let (a, b): (Vec<f64>, Vec<f64>) = (
                            a.iter().map(|a| a[d].abs()).collect(),
                            b.iter().map(|b| b[d].abs()).collect(),
                        );
                        sides.engine[d] += bounds.weight_along(&values, leaf, &a, &b);
                    }
                    // A row factor is a rounded product t·a; a column factor is exact.
                    workspace
                        .leaf(leaf)
                        .set_rank_one(|rows, row_bound, cols, col_bound| {
                            for a in &a {
                                rows.push(lanes(a, unit, t));
                                row_bound.push(U * t * a[0].abs().max(a[1].abs()));
                            }
                            for b in &b {
                                cols.push(lanes(b, unit.map(f64::abs), 1.0));
                                col_bound.push(EXACT);
                            }
                        });
                }
                array => {
                    let row_major;
                    let g = match array {
                        Value::Matrix(_) => {
                            row_major = array.to_row_major();
                            &row_major[..]
                        }
                        _ => entries(array),
                    };
                    let v = draws(&mut rng, g.len());
                    sides.count += g.len();
                    for (k, (g, v)) in g.iter().zip(&v).enumerate() {
                        let bound = bounds.entry(&values, leaf, k);
                        for (d, v) in v.iter().enumerate() {
                            sides.directional[d] += g * v;
                            sides.length[d] += v.abs();
                            sides.magnitude[d] += (g * v).abs();
                            sides.engine[d] += v.abs() * bound;
                        }
                    }
                    // Each entry's change is a rounded product t·v.
                    workspace.leaf(leaf).set_dense(|change, bound| {
                        for v in &v {
                            change.push(lanes(v, unit, t));
                            bound.push(U * t * v[0].abs().max(v[1].abs()));
                        }
                    });
                }
            }
        }
        let (change, bound) = workspace.loss_change(&gates, &base);
        for d in 0..pass {
            let numeric = (change[2 * d] - change[2 * d + 1]) / (2.0 * t);
            let directional = sides.directional[d];
            // A direction that disagrees only sends the graph to the full check. The
            // allowance is the engine's bound along the direction, the oracle's own error,
            // and the round-off of the sum ∇E·v.
            let oracle_error = 2.0 * bound / (2.0 * t) + 2.0 * U * numeric.abs();
            let sum_error = Precision::F64.gamma(sides.count) * sides.magnitude[d];
            let largest = directional.abs().max(numeric.abs());
            let allowed = allowance(
                tolerance,
                sides.length[d],
                largest,
                sides.engine[d],
                oracle_error + sum_error,
            );
            let error = (directional - numeric).abs();
            let ratio = if error == 0.0 { 0.0 } else { error / allowed };
            // A NaN ratio (a non-finite side) disagrees too.
            if ratio.is_nan() || ratio > 1.0 {
                outcome.agreed = false;
            }
            let ratio = if ratio.is_nan() { f64::INFINITY } else { ratio };
            outcome.worst_ratio = outcome.worst_ratio.max(ratio);
        }
    }
    Ok(outcome)
}

/// `count` random pairs, one number per direction of the pass: a random sign times a
/// uniform magnitude in [1, 2), from one 64-bit draw each. Any continuous distribution makes
/// a wrong gradient's error cancel along the direction with probability zero; signs alone
/// would let two equal errors cancel half the time.
fn draws(rng: &mut ChaCha8Rng, count: usize) -> Vec<[f64; PER_PASS]> {
    (0..count)
        .map(|_| {
            std::array::from_fn(|_| {
                let bits = rng.next_u64();
                // 52 bits of mantissa from the top, the sign from the lowest bit.
                let magnitude = f64::from_bits(0x3ff0_0000_0000_0000 | (bits >> 12));
                if bits & 1 == 1 { -magnitude } else { magnitude }
            })
        })
        .collect()
}

/// Each lane's multiple of its direction's number: `unit[lane] · scale · v[direction]`.
fn lanes(v: &[f64; PER_PASS], unit: Lanes, scale: f64) -> Lanes {
    std::array::from_fn(|lane| unit[lane] * scale * v[lane / 2])
}

/// `aᵀ G b` for each direction (as `G b`, one product over the directions' lanes), and
/// the directions' `Σ |a_i b_j|`.
fn analytic_rank_one(
    g: &faer::Mat<f64>,
    a: &[[f64; PER_PASS]],
    b: &[[f64; PER_PASS]],
    sides: &mut Analytic,
) {
    let mut products = vec![[0.0; PER_PASS]; g.nrows()];
    kernels::matvec_lanes_add(&mut products, g, b);
    for (product, a) in products.iter().zip(a) {
        for d in 0..PER_PASS {
            sides.directional[d] += a[d] * product[d];
        }
    }
    let b_abs: Vec<[f64; PER_PASS]> = b.iter().map(|b| b.map(f64::abs)).collect();
    let mut magnitudes = vec![[0.0; PER_PASS]; g.nrows()];
    kernels::abs_matvec_lanes_add(&mut magnitudes, g, &b_abs);
    for (magnitude, a) in magnitudes.iter().zip(a) {
        for d in 0..PER_PASS {
            sides.magnitude[d] += a[d].abs() * magnitude[d];
        }
    }
    sides.count += g.nrows() * g.ncols();
    for d in 0..PER_PASS {
        let sum_a: f64 = a.iter().map(|a| a[d].abs()).sum();
        sides.length[d] += sum_a * b.iter().map(|b| b[d].abs()).sum::<f64>();
    }
}
