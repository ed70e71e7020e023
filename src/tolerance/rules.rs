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

/// [`dot_error`]'s in-order bound (carried part plus roundings) for every row of `w o`, the
/// same numbers row by row, computed a column at a time: `w` is stored by columns, and
/// walking a row of a 256×256 weight touches a new cache line per entry, which made this
/// bound most of the time of a fast check.
pub fn matvec_errors_in_order(
    precision: Precision,
    w: &faer::Mat<f64>,
    o: &[f64],
    e: &[f64],
) -> Vec<f64> {
    let u = precision.unit_roundoff();
    let eta = precision.underflow_unit();
    let rows = w.nrows();
    let (mut sum, mut carried) = (vec![0.0; rows], vec![0.0; rows]);
    let (mut rounding, mut magnitude) = (vec![0.0; rows], vec![0.0; rows]);
    for j in 0..w.ncols() {
        let (o, e) = (o[j], e[j]);
        let rows_state = sum
            .iter_mut()
            .zip(carried.iter_mut())
            .zip(rounding.iter_mut().zip(magnitude.iter_mut()));
        for (((sum, carried), (rounding, magnitude)), &w) in rows_state.zip(w.col_as_slice(j)) {
            let term = w * o;
            *sum += term;
            *carried += w.abs() * e;
            *magnitude += w.abs() * (o.abs() + e);
            let so_far = *carried + *rounding;
            *rounding +=
                u * (sum.abs() + so_far) * (1.0 + u) + u * (term.abs() + w.abs() * e) + 2.0 * eta;
        }
    }
    let n = w.ncols();
    (0..rows)
        .map(|i| {
            let any_order = precision.gamma(n) * magnitude[i] + n as f64 * eta;
            carried[i] + rounding[i].min(any_order)
        })
        .collect()
}

/// The bound on the error of `Σ_p a_p·b_p` computed in `precision` and summed as `summation`,
/// from factors that both carry errors: terms `(a, e_a, b, e_b)`. The part the factors'
/// errors carry, `Σ (|a| + e_a)·e_b + e_a·|b|`, plus the sum's own roundings as in
/// [`dot_error`], for the terms the computed factors make (in order: each partial sum off by
/// `u` times the computed one; in any order `γ(n)·Σ|â b̂|`).
pub fn product_dot_error(
    precision: Precision,
    summation: Summation,
    terms: impl Iterator<Item = (f64, f64, f64, f64)> + Clone,
) -> f64 {
    let (carried, rounding) = product_dot_parts(precision, summation, terms);
    carried + rounding
}

/// [`product_dot_error`] in its two parts: what the factors' errors carry (with the products
/// of two errors, `e_a·e_b`), and the sum's own roundings.
pub fn product_dot_parts(
    precision: Precision,
    summation: Summation,
    terms: impl Iterator<Item = (f64, f64, f64, f64)> + Clone,
) -> (f64, f64) {
    let u = precision.unit_roundoff();
    let eta = precision.underflow_unit();
    let (mut carried, mut magnitude, mut n) = (0.0, 0.0, 0usize);
    let (mut sum, mut rounding) = (0.0, 0.0);
    for (a, e_a, b, e_b) in terms {
        let (ma, mb) = (a.abs() + e_a, b.abs() + e_b);
        let term_error = ma * e_b + e_a * b.abs();
        carried += term_error;
        magnitude += ma * mb;
        n += 1;
        if summation == Summation::Sequential {
            let term = a * b;
            sum += term;
            rounding += u * (sum.abs() + carried + rounding) * (1.0 + u)
                + u * (term.abs() + term_error)
                + 2.0 * eta;
        }
    }
    let any_order = precision.gamma(n) * magnitude + n as f64 * eta;
    match summation {
        Summation::AnyOrder => (carried, any_order),
        Summation::Sequential => (carried, rounding.min(any_order)),
    }
}

/// `A B` from row-major entries with error bounds, `A` m×k and `B` k×n: each entry's value
/// (summed over the inner index in order) and its bound by [`product_dot_error`].
pub fn matrix_product_errors(
    precision: Precision,
    summation: Summation,
    (a, e_a): (&[f64], &[f64]),
    (b, e_b): (&[f64], &[f64]),
    (m, k, n): (usize, usize, usize),
) -> (Vec<f64>, Vec<f64>) {
    (0..m * n)
        .map(|index| {
            let (i, j) = (index / n, index % n);
            let terms =
                (0..k).map(|p| (a[i * k + p], e_a[i * k + p], b[p * n + j], e_b[p * n + j]));
            let value = terms.clone().map(|(a, _, b, _)| a * b).sum::<f64>();
            (value, product_dot_error(precision, summation, terms))
        })
        .unzip()
}

/// The error of a residual `o − t` computed from `o` and `t` with errors `e_o`, `e_t`.
pub fn residual_error(residual: f64, e_o: f64, e_t: f64, u: f64, eta: f64) -> f64 {
    e_o + e_t + u * (residual.abs() + e_o + e_t) + eta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_by_columns_is_the_bound_by_rows_bit_for_bit() {
        // Deterministic values of every sign and many magnitudes, some errors zero.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            (unit - 0.5) * 10f64.powi((state % 9) as i32 - 4)
        };
        for (rows, cols) in [(1, 1), (3, 7), (17, 5), (64, 64)] {
            let w = faer::Mat::from_fn(rows, cols, |_, _| next());
            let o: Vec<f64> = (0..cols).map(|_| next()).collect();
            let e: Vec<f64> = (0..cols)
                .map(|j| {
                    if j % 3 == 0 {
                        0.0
                    } else {
                        next().abs() * 1e-12
                    }
                })
                .collect();
            for precision in [Precision::F64, Precision::F32, Precision::Bf16] {
                let by_columns = matvec_errors_in_order(precision, &w, &o, &e);
                for (i, by_column) in by_columns.iter().enumerate() {
                    let row = (0..cols).map(|j| (w[(i, j)], o[j], e[j]));
                    let (carried, rounding) = dot_error(precision, Summation::Sequential, row);
                    assert_eq!(
                        by_column.to_bits(),
                        (carried + rounding).to_bits(),
                        "{rows}×{cols} in {precision}, row {i}"
                    );
                }
            }
        }
    }
}
