//! The rules of round-off every bound is built from: how a dot product's error grows with its
//! order of summation, how a sigmoid's error and slope and curvature behave within an error
//! of its input. A leaf of the tolerance: the engine's bounds ([`super::EngineBounds`]), their
//! signed refinement ([`super::signed_bounds`]) and the oracles' own error bounds all apply
//! these, and none of them is needed here.

use crate::gate::sigmoid;
use crate::precision::Precision;

/// The units of round-off, relative to its value, within which an engine computes a
/// sigmoid: `1/(1 + e^(−s))` takes an exponential (within one unit in the last place, two
/// units of round-off), a sum and a division, and the exponential's error is damped by
/// `e/(1 + e) ≤ 1` on the way; six leaves room for a library exponential of a few ulps.
pub const SIGMOID_ROUNDINGS: f64 = 6.0;

/// How an engine sums the terms of each matrix-vector product.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Summation {
    /// In any order, fused or not: the bound is `γ(n)·Σ|terms|`, which holds for every order.
    #[default]
    AnyOrder,
    /// Each row from its first column to its last, one term at a time (a fused multiply-add
    /// or a product and a sum): the bound is the running error bound of that order,
    /// `u·Σ_k |partial sum k|`, which for terms of mixed signs is about `√n` times smaller.
    Sequential,
}

/// How gradfuzz's own forward pass sums (`src/kernels.rs`, and `src/arithmetic.rs` in a
/// narrow precision): each row in order.
pub const OWN_SUMMATION: Summation = Summation::Sequential;

/// The bound on the error of `Σ_j w_j·o_j` computed in `precision` and summed as
/// `summation`, from operands `o_j` with error bounds `e_j` (the weights are exact): the
/// part the operands' errors carry, `Σ|w_j|·e_j`, and the part of the sum's own roundings.
pub fn dot_error(
    precision: Precision,
    summation: Summation,
    terms: impl Iterator<Item = (f64, f64, f64)> + Clone,
) -> (f64, f64) {
    let u = precision.unit_roundoff();
    let eta = precision.underflow_unit();
    match summation {
        Summation::AnyOrder => {
            let (mut carried, mut magnitude, mut n) = (0.0, 0.0, 0usize);
            for (w, o, e) in terms {
                carried += w.abs() * e;
                magnitude += w.abs() * (o.abs() + e);
                n += 1;
            }
            (carried, precision.gamma(n) * magnitude + n as f64 * eta)
        }
        Summation::Sequential => {
            // Step k rounds its partial sum once (and its product once, unless fused): off
            // by u times the computed partial sum, which is the exact one (here, ours)
            // within the errors so far. The bound for any order holds too, and is the
            // smaller one for a few terms.
            let any_order = dot_error(precision, Summation::AnyOrder, terms.clone()).1;
            let (mut sum, mut carried, mut rounding) = (0.0, 0.0, 0.0);
            for (w, o, e) in terms {
                let term = w * o;
                sum += term;
                carried += w.abs() * e;
                let so_far = carried + rounding;
                rounding += u * (sum.abs() + so_far) * (1.0 + u)
                    + u * (term.abs() + w.abs() * e)
                    + 2.0 * eta;
            }
            (carried, rounding.min(any_order))
        }
    }
}

/// The absolute part of a sigmoid's error, for a value of at most `largest`: the smallest
/// normal number where the value may lie below it, since the textbook `1/(1 + e^(−s))`
/// returns 0 there once `e^(−s)` overflows (PyTorch's sigmoid does, in `f32` below
/// `s ≈ −88.7` and in `f64` below `s ≈ −709.8`), and flush-to-zero arithmetic returns 0
/// for any result below it; [`SIGMOID_ROUNDINGS`] underflow units elsewhere.
pub fn sigmoid_floor(precision: Precision, largest: f64) -> f64 {
    if largest < precision.smallest_normal() {
        precision.smallest_normal()
    } else {
        SIGMOID_ROUNDINGS * precision.underflow_unit()
    }
}

/// The error of a residual `o − t` computed from `o` and `t` with errors `e_o`, `e_t`.
pub fn residual_error(residual: f64, e_o: f64, e_t: f64, u: f64, eta: f64) -> f64 {
    e_o + e_t + u * (residual.abs() + e_o + e_t) + eta
}

/// The steepest slope of σ within `error` of `y`: `σ'(max(|y| − error, 0))`.
pub fn slope_max(y: f64, error: f64) -> f64 {
    let nearest = (y.abs() - error).max(0.0);
    sigmoid(nearest) * sigmoid(-nearest)
}

/// `√3/18`, the largest |σ''| (at `|y| = ln(2 + √3)`), rounded up.
const LARGEST_CURVATURE: f64 = 0.096_225_044_864_937_64;

/// Where |σ''| peaks: `ln(2 + √3)`.
const PEAK: f64 = 1.316_957_896_924_816_6;

/// The largest `|σ''|` within `reach` of `y`: σ'' = σ(1 − σ)(1 − 2σ) grows in `|y|` up to
/// its peak at `ln(2 + √3)` and falls beyond it.
pub fn curvature_max(y: f64, reach: f64) -> f64 {
    let (near, far) = ((y.abs() - reach).max(0.0), y.abs() + reach);
    let z = if far < PEAK {
        far
    } else if near > PEAK {
        near
    } else {
        return LARGEST_CURVATURE;
    };
    let (o, complement) = (sigmoid(z), sigmoid(-z));
    o * complement * (o - complement).abs()
}
