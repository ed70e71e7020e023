//! The rules of round-off every bound is built from: how a dot product's error grows with its
//! order of summation, and a residual's. A leaf of the tolerance: the engine's bounds
//! ([`super::EngineBounds`]), their signed refinement ([`super::signed_bounds`]) and the
//! oracles' own error bounds all apply these, and none of them is needed here. (What is known
//! of each function a gate applies, its slope, curvature and rounding, is in
//! [`crate::function`].)

use crate::precision::Precision;
pub use crate::precision::Summation;

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

/// The error of a residual `o − t` computed from `o` and `t` with errors `e_o`, `e_t`.
pub fn residual_error(residual: f64, e_o: f64, e_t: f64, u: f64, eta: f64) -> f64 {
    e_o + e_t + u * (residual.abs() + e_o + e_t) + eta
}
