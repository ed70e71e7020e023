//! The tolerance: how far an engine's gradient may be from the oracles' before it is wrong.
//!
//! An entry passes when `|analytic − numeric|` is within
//!
//! ```text
//! atol + rtol·max(|analytic|, |numeric|) + SAFETY·(engine bound + oracle bound) (+ truncation)
//! ```
//!
//! The two bounds are *running error analyses* (Wilkinson; Higham, *Accuracy and Stability
//! of Numerical Algorithms*, §3.3): every value carries a bound on its own rounding error,
//! propagated to first order by the rule of the operation that made it, in the standard
//! model `fl(x ∘ y) = (x ∘ y)(1 + δ) + η'`, `|δ| ≤ u`, `|η'| ≤ η` (gradual underflow):
//!
//! - a sum's error is the sum of its parts' plus `u·|sum|`;
//! - a product's is `|a|·e_b + |b|·e_a + u·|ab|`, and a dot product of `n` terms, taken in
//!   any order, adds `γ(n)·Σ|a_i b_i|` ([`Precision::gamma`]);
//! - an elementwise function adds a few `u` of its value to its input's error times its
//!   steepest slope within that error (the sigmoid: or the smallest normal number where its
//!   value may lie below it, [`crate::function::sigmoid::engine_floor`]); its backward rule,
//!   a slope taken from a rounded output (the sigmoid's `o(1 − o)`), carries what that
//!   output's error moves it by (`|1 − 2o|·e_o`) besides;
//! - where a node feeds several gates, the sum of its partials (in any order) adds
//!   `γ(k − 1)` times the sum of their magnitudes.
//!
//! Wherever a magnitude enters a bound, it is the magnitude of the *computed* value,
//! `|v| + e_v`, which keeps the bound sound when the errors are no longer small.
//!
//! Relative errors so add along a chain, rather than magnitudes multiplying (as a bound
//! built from the rules applied to `|W|` and `|o|` would).
//!
//! [`EngineBounds`] bounds the error of a *textbook* reverse-mode engine in the engine's
//! precision: one forward pass and one backward pass of this analysis over the graph, then
//! for each gradient entry, its own rule. It holds for any order of summation, with or
//! without fused multiply-adds, and for functions computed to within a few units of
//! round-off of their value ([`crate::function::sigmoid::ENGINE_ROUNDINGS`]). The oracles bound their own
//! error in `f64` the same way, per entry, beside the derivative they compute
//! ([`crate::oracle`]).
//!
//! [`SAFETY`] covers what a first-order analysis leaves out (products of two errors beyond
//! those the magnitudes hold, and the rounding of the bound's own arithmetic).

mod rules;
#[doc(hidden)]
pub mod signed_bounds;

pub use rules::{
    OWN_SUMMATION, Summation, dot_error, matrix_product_errors, product_dot_error, residual_error,
};

use crate::function::Function;
use crate::graph::{Graph, NodeId, Operation, Values};
use crate::kernels;
use crate::op::{Binary, Rearrange};
use crate::precision::Precision;
use crate::value::entries;
use crate::value::{Shape, Value, broadcast_entry, matrix, transposed_entries, vector};

/// Slack on top of the round-off bounds: an absolute and a relative part. Both are zero by
/// default, since the bounds are sound by themselves; a user who wants to ignore errors
/// below some size (a gradient checker's usual `rtol`, `atol`) sets them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

/// The factor on the first-order round-off bounds.
pub const SAFETY: f64 = 2.0;

/// How many units of round-off of its magnitude a value's or adjoint's bound may reach
/// before [`EngineBounds::sharpen`] computes the signed bounds (a 40-layer chain of 3×3
/// matrix-vector products reaches 1e11; the fuzzer's small graphs rarely reach this).
pub(crate) const LOOSE: f64 = 4096.0;

/// [`LOOSE`] for graphs of the gates beyond the lecture's (batches, matrix products,
/// reductions): their values cancel more often (a sum over a batch of mixed signs, a bias
/// gradient near zero), where the signed bounds, whose roundings are bounded by the same
/// magnitudes, gain little and cost much (fuzzing with every gate ran at two thirds of its
/// speed with [`LOOSE`]); where products compound through `|W|` (a chain of 20 by 4×4
/// weights reaches 1e7 units) they are taken.
pub(crate) const LOOSE_BEYOND_LECTURE: f64 = 1_048_576.0;

/// A bound on the rounding error of every entry of every node's value, in row-major order
/// (leaves are exact: they were rounded to the precision before the check, and their bounds,
/// zeros, are not stored: a 256×256 weight would cost as much as its product).
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct ForwardErrors {
    precision: Precision,
    by_node: Vec<Vec<f64>>,
    /// Per node, its number of entries.
    lens: Vec<usize>,
    /// Zeros, as many as the largest leaf has entries, shared by the clones (the engine's
    /// bounds in `f64` start from a clone of the oracles' own: copying a 256×256 weight's
    /// zeros was a twentieth of a fast check).
    zeros: std::sync::Arc<[f64]>,
}

impl ForwardErrors {
    /// The bound for each entry of a node's value (a scalar as one entry), row-major.
    pub fn of(&self, id: NodeId) -> &[f64] {
        let (errors, len) = (&self.by_node[id.0], self.lens[id.0]);
        if errors.len() == len {
            errors
        } else {
            &self.zeros[..len]
        }
    }
}

/// Whether a computed value is a nonzero subnormal number.
fn subnormal(x: f64) -> bool {
    x != 0.0 && x.abs() < f64::MIN_POSITIVE
}

/// Whether values with these error bounds, or the terms of the sums that made them, may
/// reach beyond the precision's largest number: a value with its error beyond it, or an
/// error bound of `u` times it, which every sum whose terms reach it has (the terms of a
/// sum may overflow where the sum would not).
fn beyond(precision: Precision, values: &[f64], errors: &[f64]) -> bool {
    let limit = precision.max_finite();
    let u = precision.unit_roundoff();
    values
        .iter()
        .zip(errors)
        .any(|(v, e)| v.abs() + e >= limit || *e >= u * limit || v.is_nan() || e.is_nan())
}

/// The forward errors of a computation in `precision` whose exact values are (to within
/// their own small error) `values`.
#[doc(hidden)]
pub fn forward_errors(
    graph: &Graph,
    values: &Values,
    precision: Precision,
    summation: Summation,
) -> ForwardErrors {
    let u = precision.unit_roundoff();
    let eta = precision.underflow_unit();
    let lens: Vec<usize> = graph.ids().map(|id| graph.shape_len(id)).collect();
    let largest_leaf = graph
        .ids()
        .filter(|&id| graph.leaf(id).is_some())
        .map(|id| lens[id.0])
        .max()
        .unwrap_or(0);
    let mut errors = ForwardErrors {
        precision,
        by_node: Vec::with_capacity(graph.len()),
        lens,
        zeros: vec![0.0; largest_leaf].into(),
    };
    for id in graph.ids() {
        let by_node = &errors;
        let node_errors = match graph.operation(id) {
            Operation::Leaf(..) => Vec::new(),
            gate => {
                let value = values.entries(id);
                match *gate {
                    Operation::Leaf(..) => unreachable!("leaves are matched above"),
                    Operation::Binary(Binary::Add, a, b) => {
                        let (ea, eb) = (by_node.of(a), by_node.of(b));
                        if a == b {
                            // x + x = 2x is exact in binary, barring overflow.
                            ea.iter().map(|e| 2.0 * e).collect()
                        } else {
                            // A vector added to every row reads its entry for each column.
                            let out = graph.shape(id);
                            let (sa, sb) = (graph.shape(a), graph.shape(b));
                            value
                                .iter()
                                .enumerate()
                                .map(|(k, c)| {
                                    let ea = ea[broadcast_entry(sa, out, k)];
                                    let eb = eb[broadcast_entry(sb, out, k)];
                                    ea + eb + u * (c.abs() + ea + eb) + eta
                                })
                                .collect()
                        }
                    }
                    // â·b̂ for values off by e_a and e_b: (|a| + e_a)·e_b + e_a·|b| carried, and
                    // one rounding of the product (a vector on every row read per column).
                    Operation::Binary(Binary::Mul, a, b) => {
                        let (xa, xb) = (values.entries(a), values.entries(b));
                        let (ea, eb) = (by_node.of(a), by_node.of(b));
                        let out = graph.shape(id);
                        let (sa, sb) = (graph.shape(a), graph.shape(b));
                        value
                            .iter()
                            .enumerate()
                            .map(|(k, c)| {
                                let (i, j) =
                                    (broadcast_entry(sa, out, k), broadcast_entry(sb, out, k));
                                let carried = (xa[i].abs() + ea[i]) * eb[j] + ea[i] * xb[j].abs();
                                carried + u * (c.abs() + carried) + eta
                            })
                            .collect()
                    }
                    // Each entry a dot product of a row of A and a column of B, both with errors.
                    Operation::Binary(Binary::Matmul, a, b) => {
                        let ((m, k), (_, n)) = (graph.shape(a).dims(), graph.shape(b).dims());
                        let a = (values.entries(a), by_node.of(a));
                        let b = (values.entries(b), by_node.of(b));
                        matrix_product_errors(precision, summation, a, b, (m, k, n)).1
                    }
                    // Entries moved: their errors move with them.
                    Operation::Rearrange(Rearrange::Transpose, a) => {
                        let (m, n) = graph.shape(a).dims();
                        transposed_entries(by_node.of(a), m, n)
                    }
                    // A column sum's error: its terms', and the roundings of a sum of m
                    // terms, as a dot product with ones (a running bound for an engine that
                    // sums in order, γ_m·Σ|a| in any order); a mean's then divided, one more.
                    Operation::Reduce(op, a) => {
                        let (rows, cols) = graph.shape(a).dims();
                        let (x, e) = (values.entries(a), by_node.of(a));
                        let divisor = op.divisor(rows);
                        (0..cols)
                            .map(|j| {
                                let column =
                                    (0..rows).map(|i| (1.0, x[i * cols + j], e[i * cols + j]));
                                let (carried, rounding) = dot_error(precision, summation, column);
                                let error = carried + rounding;
                                if divisor == 1.0 {
                                    error
                                } else {
                                    error / divisor + u * (value[j].abs() + error / divisor) + eta
                                }
                            })
                            .collect()
                    }
                    Operation::Binary(Binary::Matvec, weight, o) => {
                        let w = matrix(&values[weight.0]);
                        let (o_value, e_o) = (values.entries(o), by_node.of(o));
                        match summation {
                            Summation::AnyOrder => {
                                let gamma = precision.gamma(w.ncols());
                                // |W| (e_o + γ(n)·(|o| + e_o)) + n·η, as one product.
                                let spread: Vec<f64> = o_value
                                    .iter()
                                    .zip(e_o)
                                    .map(|(o, e)| e + gamma * (o.abs() + e))
                                    .collect();
                                let mut errors = vec![w.ncols() as f64 * eta; w.nrows()];
                                kernels::abs_matvec_add(&mut errors, w, &spread);
                                errors
                            }
                            Summation::Sequential => {
                                rules::matvec_errors_in_order(precision, w, o_value, e_o)
                            }
                        }
                    }
                    Operation::Unary(op, s) => {
                        // The function's value within its input's error times its steepest
                        // slope there, and its own roundings (relative, and absolute near
                        // underflow).
                        let function = Function::of(op).expect("an elementwise gate");
                        let (y, e_y) = (values.entries(s), by_node.of(s));
                        let roundings = function.engine_roundings();
                        y.iter()
                            .zip(e_y)
                            .map(|(&y, &e)| {
                                let spread = function.slope_max(y, e) * e;
                                let o = function.value(y).abs() + spread;
                                spread + roundings * u * o + function.engine_floor(precision, o)
                            })
                            .collect()
                    }
                    Operation::Loss(loss, output, target) => {
                        let (o, t) = (values.entries(output), values.entries(target));
                        let (e_o, e_t) = (by_node.of(output), by_node.of(target));
                        let gamma = precision.gamma(o.len() + 1);
                        let (mut first_order, mut squares) = (0.0, 0.0);
                        for i in 0..o.len() {
                            let e_r = residual_error(o[i] - t[i], e_o[i], e_t[i], u, eta);
                            let r = (o[i] - t[i]).abs() + e_r;
                            first_order += r * e_r;
                            squares += 0.5 * r * r;
                        }
                        let error = first_order + gamma * squares + o.len() as f64 * eta;
                        // mse: the sum divided by the rows, one rounding more.
                        match loss.divisor(graph.shape(output)) {
                            1.0 => vec![error],
                            rows => vec![error / rows + u * (squares / rows) + eta],
                        }
                    }
                }
            }
        };
        errors.by_node.push(node_errors);
    }
    errors
}

/// For each node, whether its value underflowed somewhere: a sigmoid below the smallest
/// normal number, a product of nonzero numbers that is, or a sum that is a nonzero
/// subnormal. (Only the verdict asks, to tell a derivative lost to underflow.)
pub(crate) fn underflowed_nodes(graph: &Graph, values: &Values) -> Vec<bool> {
    graph
        .ids()
        .map(|id| {
            let value = values.entries(id);
            match *graph.operation(id) {
                Operation::Binary(Binary::Add, ..) => value.iter().any(|&c| subnormal(c)),
                Operation::Binary(Binary::Mul, a, b) => {
                    let out = graph.shape(id);
                    let (sa, sb) = (graph.shape(a), graph.shape(b));
                    let (xa, xb) = (values.entries(a), values.entries(b));
                    (0..value.len()).any(|k| {
                        let (x, y) = (
                            xa[broadcast_entry(sa, out, k)],
                            xb[broadcast_entry(sb, out, k)],
                        );
                        x != 0.0 && y != 0.0 && (x * y).abs() < f64::MIN_POSITIVE
                    })
                }
                Operation::Binary(Binary::Matvec, weight, vector) => {
                    value.iter().any(|&c| subnormal(c))
                        || products_underflow(matrix(&values[weight.0]), values.entries(vector))
                }
                Operation::Unary(op, _) => {
                    let function = Function::of(op).expect("an elementwise gate");
                    value.iter().any(|&o| function.underflows(o))
                }
                Operation::Binary(Binary::Matmul, a, b) => {
                    let ((m, k), (_, n)) = (graph.shape(a).dims(), graph.shape(b).dims());
                    let (xa, xb) = (values.entries(a), values.entries(b));
                    value.iter().any(|&c| subnormal(c))
                        || (0..m * k).any(|index| {
                            let x = xa[index];
                            let p = index % k;
                            x != 0.0
                                && (0..n).any(|j| {
                                    let y = xb[p * n + j];
                                    y != 0.0 && (x * y).abs() < f64::MIN_POSITIVE
                                })
                        })
                }
                Operation::Reduce(..) => value.iter().any(|&c| subnormal(c)),
                // Moved entries underflowed where they were made.
                Operation::Rearrange(..) | Operation::Loss(..) | Operation::Leaf(..) => false,
            }
        })
        .collect()
}

/// Whether some product `w_ij·o_j` of nonzero numbers falls below the smallest normal
/// number (checked entry by entry only where the smallest factors are small enough for
/// that to happen).
fn products_underflow(w: &faer::Mat<f64>, o: &[f64]) -> bool {
    let smallest = |x: &mut dyn Iterator<Item = &f64>| {
        x.filter(|x| **x != 0.0)
            .fold(f64::INFINITY, |m, x| m.min(x.abs()))
    };
    let small_o = smallest(&mut o.iter());
    let small_w = smallest(&mut (0..w.ncols()).flat_map(|j| w.col_as_slice(j).iter()));
    if small_o * small_w >= f64::MIN_POSITIVE {
        return false;
    }
    (0..w.ncols()).any(|j| {
        o[j] != 0.0
            && w.col_as_slice(j)
                .iter()
                .any(|&x| x != 0.0 && (x * o[j]).abs() < f64::MIN_POSITIVE)
    })
}

/// The partial a vector added to every row of a matrix receives, `Σ_rows Ḡ`, and its error
/// bound: each column a sum of `m` terms (the rows), each off by its own bound, in any order;
/// or, for an engine that sums from the first row to the last, the running bound of that
/// order.
fn row_sum(
    shape: Shape,
    upstream: &[f64],
    error: &[f64],
    precision: Precision,
    summation: Summation,
) -> (Vec<f64>, Vec<f64>) {
    let (rows, cols) = shape.dims();
    if summation == Summation::Sequential {
        let column =
            |j: usize| (0..rows).map(move |i| (1.0, upstream[i * cols + j], error[i * cols + j]));
        return (0..cols)
            .map(|j| {
                let (carried, rounding) = dot_error(precision, summation, column(j));
                (
                    column(j).map(|(_, g, _)| g).sum::<f64>(),
                    carried + rounding,
                )
            })
            .unzip();
    }
    let eta = precision.underflow_unit();
    let gamma = precision.gamma(rows.saturating_sub(1));
    let (mut sum, mut carried, mut magnitude) = (vec![0.0; cols], vec![0.0; cols], vec![0.0; cols]);
    for (k, (g, e)) in upstream.iter().zip(error).enumerate() {
        let j = k % cols;
        sum[j] += g;
        carried[j] += e;
        magnitude[j] += g.abs() + e;
    }
    let bound = carried
        .iter()
        .zip(&magnitude)
        .map(|(e, m)| e + gamma * m + rows as f64 * eta)
        .collect();
    (sum, bound)
}

/// What a textbook reverse-mode engine in a precision can get wrong: a bound on the error of
/// each of its gradient entries.
#[doc(hidden)]
pub struct EngineBounds {
    precision: Precision,
    summation: Summation,
    forward: ForwardErrors,
    /// Per node: the adjoint `dE/dv` (in `f64`, the engine's to within the bound).
    adjoint: Vec<Option<Vec<f64>>>,
    /// Per node: the bound on the engine's adjoint.
    adjoint_error: Vec<Vec<f64>>,
    /// Per weight that `matvec` and other gates take: the magnitudes of the other gates'
    /// partials (empty elsewhere).
    adjoint_magnitude: Vec<Vec<f64>>,
    /// Per weight: the `matvec` nodes that use it and reach a loss.
    weight_uses: Vec<Vec<(NodeId, NodeId)>>,
    /// The bound on the engine's loss.
    loss_error: f64,
    /// Whether a forward value, with its error, reaches beyond the precision's largest number.
    values_overflow: bool,
    /// Per leaf: the sharper bounds of [`signed_bounds`], where computed.
    signed: Vec<Option<Vec<f64>>>,
}

/// The partials arriving at one node: their sum, the sum of their error bounds, the sum of
/// their magnitudes, and their count.
#[derive(Clone, Default)]
struct Incoming {
    sum: Vec<f64>,
    error: Vec<f64>,
    magnitude: Vec<f64>,
    count: usize,
}

impl Incoming {
    fn add(&mut self, value: &[f64], error: &[f64]) {
        if self.count == 0 {
            self.sum = value.to_vec();
            self.error = error.to_vec();
            self.magnitude = value.iter().zip(error).map(|(v, e)| v.abs() + e).collect();
        } else {
            for i in 0..value.len() {
                self.sum[i] += value[i];
                self.error[i] += error[i];
                self.magnitude[i] += value[i].abs() + error[i];
            }
        }
        self.count += 1;
    }

    /// The adjoint and its bound once every partial is in: summing `k` partials in any order
    /// adds `γ(k − 1)` times the sum of their magnitudes.
    fn finish(self, precision: Precision) -> Option<(Vec<f64>, Vec<f64>)> {
        if self.count == 0 {
            return None;
        }
        let gamma = precision.gamma(self.count - 1);
        let error = self
            .error
            .iter()
            .zip(&self.magnitude)
            .map(|(e, m)| e + gamma * m)
            .collect();
        Some((self.sum, error))
    }
}

impl EngineBounds {
    /// The analysis of `graph` (whose `f64` forward values are `values`) for an engine in
    /// `precision`.
    pub fn new(graph: &Graph, values: &Values, precision: Precision, summation: Summation) -> Self {
        let forward = forward_errors(graph, values, precision, summation);
        EngineBounds::with_forward(graph, values, forward, summation)
    }

    /// [`EngineBounds::new`], reusing `own`, the `f64` forward errors the oracles computed,
    /// when the engine's precision is `f64` too.
    pub(crate) fn reusing(
        graph: &Graph,
        values: &Values,
        precision: Precision,
        summation: Summation,
        own: &ForwardErrors,
    ) -> Self {
        if precision == Precision::F64 && summation == OWN_SUMMATION {
            EngineBounds::with_forward(graph, values, own.clone(), summation)
        } else {
            EngineBounds::new(graph, values, precision, summation)
        }
    }

    /// [`EngineBounds::new`] from the forward errors of the engine's precision.
    pub(crate) fn with_forward(
        graph: &Graph,
        values: &Values,
        forward: ForwardErrors,
        summation: Summation,
    ) -> Self {
        let precision = forward.precision;
        let u = precision.unit_roundoff();
        let eta = precision.underflow_unit();
        let mut incoming: Vec<Incoming> = vec![Incoming::default(); graph.len()];
        let mut adjoint: Vec<Option<Vec<f64>>> = vec![None; graph.len()];
        let mut adjoint_error: Vec<Vec<f64>> = vec![Vec::new(); graph.len()];
        let mut weight_uses: Vec<Vec<(NodeId, NodeId)>> = vec![Vec::new(); graph.len()];
        let mut losses: Vec<f64> = Vec::new();
        let mut loss_error = 0.0;
        let uses: Vec<usize> = graph.users().iter().map(Vec::len).collect();
        for id in graph.ids().rev() {
            let gate = graph.operation(id);
            if !graph.is_gate(id) {
                continue;
            }
            let (upstream, upstream_error) = if graph.is_loss(id) {
                losses.push(crate::value::scalar(&values[id.0]));
                loss_error += forward.of(id)[0];
                (vec![1.0], vec![0.0])
            } else {
                match std::mem::take(&mut incoming[id.0]).finish(precision) {
                    Some(finished) => finished,
                    None => continue, // reaches no loss: its partials are exact zeros
                }
            };
            match *gate {
                Operation::Leaf(..) => unreachable!("gates only"),
                Operation::Loss(loss, output, target) => {
                    let (o, t) = (values.entries(output), values.entries(target));
                    let (e_o, e_t) = (forward.of(output), forward.of(target));
                    let mut residual: Vec<f64> = o.iter().zip(t).map(|(o, t)| o - t).collect();
                    let mut error: Vec<f64> = (0..o.len())
                        .map(|i| residual_error(residual[i], e_o[i], e_t[i], u, eta))
                        .collect();
                    // mse: each partial divided by the rows, after its product with the
                    // upstream 1 (exact) and with two roundings (the quotient, and `1/m`
                    // where an engine multiplies by it).
                    let rows = loss.divisor(graph.shape(output));
                    if rows != 1.0 {
                        for (r, e) in residual.iter_mut().zip(&mut error) {
                            *r /= rows;
                            *e = *e / rows + 2.0 * u * r.abs() + eta;
                        }
                    }
                    let negated: Vec<f64> = residual.iter().map(|r| -r).collect();
                    incoming[output.0].add(&residual, &error);
                    incoming[target.0].add(&negated, &error);
                }
                // Every row of the batch receives ḡ (a mean's: ḡ/m, one rounding more, and one
                // for an engine that multiplies by a rounded 1/m).
                Operation::Reduce(op, a) => {
                    let (rows, cols) = graph.shape(a).dims();
                    let divisor = op.divisor(rows);
                    let (mut partial, mut error) = (Vec::with_capacity(rows * cols), Vec::new());
                    for _ in 0..rows {
                        for j in 0..cols {
                            let share = upstream[j] / divisor;
                            partial.push(share);
                            error.push(if divisor == 1.0 {
                                upstream_error[j]
                            } else {
                                upstream_error[j] / divisor + 2.0 * u * share.abs() + eta
                            });
                        }
                    }
                    incoming[a.0].add(&partial, &error);
                }
                // A node whose only two uses are this `add(x, x)` receives ḡ + ḡ = 2ḡ,
                // exact in binary, whatever the order.
                Operation::Binary(Binary::Add, a, b) if a == b && uses[a.0] == 2 => {
                    let doubled = |v: &[f64]| v.iter().map(|x| 2.0 * x).collect::<Vec<f64>>();
                    incoming[a.0].add(&doubled(&upstream), &doubled(&upstream_error));
                }
                Operation::Binary(Binary::Add, a, b) => {
                    for operand in [a, b] {
                        if graph.shape(operand) == graph.shape(id) {
                            incoming[operand.0].add(&upstream, &upstream_error);
                        } else {
                            // A vector added to every row: the sum of the rows of Ḡ.
                            let (partial, error) = row_sum(
                                graph.shape(id),
                                &upstream,
                                &upstream_error,
                                precision,
                                summation,
                            );
                            incoming[operand.0].add(&partial, &error);
                        }
                    }
                }
                // ∂/∂a = ḡ ⊙ b, ∂/∂b = ḡ ⊙ a: each product of an adjoint off by ē and a value
                // off by its forward error, rounded once; an operand on every row then receives
                // the sum over the rows.
                Operation::Binary(Binary::Mul, a, b) => {
                    let out = graph.shape(id);
                    for (operand, other) in [(a, b), (b, a)] {
                        let (x, e_x) = (values.entries(other), forward.of(other));
                        let so = graph.shape(other);
                        let (partial, error): (Vec<f64>, Vec<f64>) = (0..out.len())
                            .map(|k| {
                                let i = broadcast_entry(so, out, k);
                                let (g, e_g) = (upstream[k], upstream_error[k]);
                                let magnitude = (g.abs() + e_g) * (x[i].abs() + e_x[i]);
                                let error = e_g * (x[i].abs() + e_x[i]) + g.abs() * e_x[i];
                                (g * x[i], error + u * magnitude + eta)
                            })
                            .unzip();
                        if graph.shape(operand) == out {
                            incoming[operand.0].add(&partial, &error);
                        } else {
                            let (partial, error) =
                                row_sum(out, &partial, &error, precision, summation);
                            incoming[operand.0].add(&partial, &error);
                        }
                    }
                }
                // ∂/∂A = Ḡ Bᵀ, ∂/∂B = Aᵀ Ḡ: dot products (summed as the engine says) of an
                // adjoint off by ē and a value off by its forward error.
                Operation::Binary(Binary::Matmul, a, b) => {
                    let ((m, k), (_, n)) = (graph.shape(a).dims(), graph.shape(b).dims());
                    let g = (upstream.as_slice(), upstream_error.as_slice());
                    let moved = |id: NodeId, (rows, cols): (usize, usize)| {
                        let (x, e) = (values.entries(id), forward.of(id));
                        (
                            transposed_entries(x, rows, cols),
                            transposed_entries(e, rows, cols),
                        )
                    };
                    let (b_t, e_b_t) = moved(b, (k, n));
                    let (a_t, e_a_t) = moved(a, (m, k));
                    let (partial_a, error_a) =
                        matrix_product_errors(precision, summation, g, (&b_t, &e_b_t), (m, n, k));
                    let (partial_b, error_b) =
                        matrix_product_errors(precision, summation, (&a_t, &e_a_t), g, (k, m, n));
                    incoming[a.0].add(&partial_a, &error_a);
                    incoming[b.0].add(&partial_b, &error_b);
                }
                // Ḡᵀ: moved, not rounded.
                Operation::Rearrange(Rearrange::Transpose, a) => {
                    // Ḡ is n×m.
                    let (m, n) = graph.shape(a).dims();
                    incoming[a.0].add(
                        &transposed_entries(&upstream, n, m),
                        &transposed_entries(&upstream_error, n, m),
                    );
                }
                Operation::Binary(Binary::Matvec, weight, o) => {
                    let w = matrix(&values[weight.0]);
                    let gamma = precision.gamma(w.nrows());
                    let g = faer::Col::from_fn(upstream.len(), |i| upstream[i]);
                    let partial = kernels::transposed_matvec(w, &g);
                    // |W|ᵀ (ē_s + γ(m)·(|ā_s| + ē_s)) + m·η
                    let spread: Vec<f64> = upstream
                        .iter()
                        .zip(&upstream_error)
                        .map(|(g, e)| e + gamma * (g.abs() + e))
                        .collect();
                    let mut error = vec![0.0; w.ncols()];
                    kernels::abs_transposed_matvec_into(&mut error, w, &spread);
                    for e in &mut error {
                        *e += w.nrows() as f64 * eta;
                    }
                    incoming[o.0].add(kernels::slice(&partial), &error);
                    weight_uses[weight.0].push((id, o));
                }
                Operation::Unary(op, s) => {
                    let function = Function::of(op).expect("an elementwise gate");
                    let o = values.entries(id);
                    let e_o = forward.of(id);
                    let mut partial = Vec::with_capacity(o.len());
                    let mut error = Vec::with_capacity(o.len());
                    let (y, e_y) = (values.entries(s), forward.of(s));
                    for i in 0..o.len() {
                        // The rule's slope from its output (σ: o(1 − o)), off by what an o off
                        // by e_o moves it (σ: (|1 − 2o| + e_o)·e_o); the rule's three roundings
                        // follow.
                        let (mut slope, slope_error) = function.slope_from_output(o[i], e_o[i]);
                        // Where the argument may be on either side of a kink (within twice the
                        // engine's forward bound, which holds the oracles' band: their own
                        // bound is never above the engine's), the oracles judge both sides;
                        // the engine's rounding is bounded on the side with more to round,
                        // relu's slope 1 (every bound grows with the magnitudes it sums).
                        if function.kink_within(y[i], 2.0 * e_y[i]) {
                            slope = function.slope_max(y[i], 2.0 * e_y[i]);
                        }
                        let slope_magnitude = slope + slope_error;
                        let g = upstream[i].abs() + upstream_error[i];
                        partial.push(upstream[i] * slope);
                        error.push(
                            slope_magnitude * upstream_error[i]
                                + g * slope_error
                                + function.rule_rounding(o[i], slope_magnitude, u * g, eta),
                        );
                    }
                    incoming[s.0].add(&partial, &error);
                }
            }
            adjoint[id.0] = Some(upstream);
            adjoint_error[id.0] = upstream_error;
        }
        let mut adjoint_magnitude: Vec<Vec<f64>> = vec![Vec::new(); graph.len()];
        for leaf in graph.differentiable_leaves() {
            let partials = std::mem::take(&mut incoming[leaf.0]);
            // A weight that `matvec` takes and some other gate too: the other partials'
            // magnitudes, for the sum of all of them (`EngineBounds::weight_entry`).
            if !weight_uses[leaf.0].is_empty() && partials.count > 0 {
                adjoint_magnitude[leaf.0] = partials.magnitude.clone();
            }
            if let Some((sum, error)) = partials.finish(precision) {
                adjoint[leaf.0] = Some(sum);
                adjoint_error[leaf.0] = error;
            }
        }
        let total: f64 = losses.iter().map(|e| e.abs()).sum::<f64>() + loss_error;
        loss_error += precision.gamma(losses.len().saturating_sub(1)) * total;
        // Leaves are finite numbers the precision holds; the loss is not part of the
        // gradient, and its overflow harms no entry.
        let values_overflow = graph.ids().any(|id| {
            !(graph.leaf(id).is_some() || graph.is_loss(id))
                && beyond(precision, values.entries(id), forward.of(id))
        });
        EngineBounds {
            summation,
            signed: Vec::new(),
            values_overflow,
            precision,
            forward,
            adjoint,
            adjoint_error,
            adjoint_magnitude,
            weight_uses,
            loss_error,
        }
    }

    /// Adds the sharper bounds of [`signed_bounds`] where these bounds are loose
    /// (some value's or adjoint's bound above [`LOOSE`] units of round-off of its magnitude,
    /// as compounding through `|W|` or cancellation make it) and the graph is small enough;
    /// [`EngineBounds::entry`] then takes the smaller of the two.
    pub fn sharpen(&mut self, graph: &Graph, values: &Values) {
        if !self.loose(graph, values)
            || !signed_bounds::affordable(graph)
            || self.near_a_kink(graph, values)
        {
            return;
        }
        let sharpened = signed_bounds::sharpened(graph, values, self.precision, self.summation);
        if let Some(signed) = sharpened {
            self.signed = signed;
        }
    }

    /// Whether some argument of a gate with kinks may be on either side of one (within twice
    /// its forward bound, as the backward pass takes it): the signed bounds, linear in the
    /// errors, do not hold across a kink.
    fn near_a_kink(&self, graph: &Graph, values: &Values) -> bool {
        graph.ids().any(|id| match *graph.operation(id) {
            Operation::Unary(op, s) => Function::of(op).is_some_and(|function| {
                let (y, e_y) = (values.entries(s), self.forward.of(s));
                function.has_kinks()
                    && (0..y.len()).any(|k| function.kink_within(y[k], 2.0 * e_y[k]))
            }),
            _ => false,
        })
    }

    /// Whether some value's or adjoint's bound exceeds [`LOOSE`] units of round-off of its
    /// magnitude ([`LOOSE_BEYOND_LECTURE`] in a graph of other gates or of batches; the
    /// gradient entries' bounds are made of these).
    fn loose(&self, graph: &Graph, values: &Values) -> bool {
        let lecture_only = graph.ids().all(|id| {
            graph
                .operation(id)
                .kind()
                .is_none_or(|kind| kind.facts().lecture)
        });
        let units = if lecture_only && graph.first_batch().is_none() {
            LOOSE
        } else {
            LOOSE_BEYOND_LECTURE
        };
        let limit = units * self.precision.unit_roundoff();
        // Beyond the lecture's gates, an exact zero (a product by a zero entry, a relu
        // below its kink) is not looseness the signed bounds can take away: its bound is
        // absolute in both.
        let zeros_count = units == LOOSE;
        let beyond = |value: &[f64], error: &[f64]| {
            value
                .iter()
                .zip(error)
                .any(|(v, e)| *e > limit * v.abs() && (zeros_count || *v != 0.0))
        };
        graph.ids().any(|id| {
            // Leaves are exact.
            let forward = !(graph.leaf(id).is_some() || graph.is_loss(id))
                && beyond(values.entries(id), self.forward.of(id));
            forward
                || self.adjoint[id.0]
                    .as_ref()
                    .is_some_and(|a| beyond(a, &self.adjoint_error[id.0]))
        })
    }

    /// The bound, with [`SAFETY`], on the engine's error in entry `entry` (row-major) of the
    /// gradient of `leaf`.
    pub fn entry(&self, values: &Values, leaf: NodeId, entry: usize) -> f64 {
        let componentwise = match &values[leaf.0] {
            Value::Matrix(w) if !self.weight_uses[leaf.0].is_empty() => {
                self.weight_entry(values, leaf, entry / w.ncols(), entry % w.ncols())
            }
            _ => self.adjoint_error[leaf.0]
                .get(entry)
                .copied()
                .unwrap_or(0.0),
        };
        let signed = self
            .signed
            .get(leaf.0)
            .and_then(|bounds| bounds.as_ref()?.get(entry).copied())
            .unwrap_or(f64::INFINITY);
        // NaN from an overflowed analysis is never the smaller.
        SAFETY
            * if signed < componentwise {
                signed
            } else {
                componentwise
            }
    }

    /// A weight's entry `(row, col)`: each use `s = W o` gives `ā_s[row]·o[col]`, with its
    /// own error and one rounding, and the uses are summed (with the partials of the other
    /// gates that take the weight, when there are: one more term of the sum).
    fn weight_entry(&self, values: &Values, weight: NodeId, row: usize, col: usize) -> f64 {
        let (error, magnitude) = self.weight_uses_bound(values, weight, row, col);
        let uses = self.weight_uses[weight.0].len();
        let others = &self.adjoint_magnitude[weight.0];
        if others.is_empty() {
            return error + self.precision.gamma(uses.saturating_sub(1)) * magnitude;
        }
        let entry = row * matrix(&values[weight.0]).ncols() + col;
        let (other_error, other_magnitude) = (self.adjoint_error[weight.0][entry], others[entry]);
        error + other_error + self.precision.gamma(uses) * (magnitude + other_magnitude)
    }

    /// The matvec uses' part of [`EngineBounds::weight_entry`]: the error of their partials
    /// and the sum of their magnitudes.
    fn weight_uses_bound(
        &self,
        values: &Values,
        weight: NodeId,
        row: usize,
        col: usize,
    ) -> (f64, f64) {
        let u = self.precision.unit_roundoff();
        let eta = self.precision.underflow_unit();
        let uses = &self.weight_uses[weight.0];
        let (mut error, mut magnitude) = (0.0, 0.0);
        for &(product, operand) in uses {
            let Some(g) = &self.adjoint[product.0] else {
                continue;
            };
            let e_g = self.adjoint_error[product.0][row];
            let o = vector(&values[operand.0])[col];
            let e_o = self.forward.of(operand)[col];
            let (g_magnitude, o_magnitude) = (g[row].abs() + e_g, o.abs() + e_o);
            error += g_magnitude * e_o + e_g * o.abs() + u * g_magnitude * o_magnitude + eta;
            magnitude += g_magnitude * o_magnitude;
        }
        (error, magnitude)
    }

    /// The bound, with [`SAFETY`], on the engine's error along a rank-one direction of a
    /// weight: `Σ_ij alpha_i beta_j bound_ij`, for nonnegative `alpha` (per row) and `beta`
    /// (per column), in `rows + cols` operations per use, since each use's bound is a sum of
    /// outer products.
    pub(crate) fn weight_along(
        &self,
        values: &Values,
        weight: NodeId,
        alpha: &[f64],
        beta: &[f64],
    ) -> f64 {
        let u = self.precision.unit_roundoff();
        let eta = self.precision.underflow_unit();
        let uses = &self.weight_uses[weight.0];
        let dot = |x: &mut dyn Iterator<Item = f64>, weights: &[f64]| -> f64 {
            x.zip(weights).map(|(x, w)| x * w).sum()
        };
        let (alpha_sum, beta_sum): (f64, f64) = (alpha.iter().sum(), beta.iter().sum());
        let (mut error, mut magnitude) = (0.0, 0.0);
        for &(product, operand) in uses {
            let Some(g) = &self.adjoint[product.0] else {
                continue;
            };
            let e_g = &self.adjoint_error[product.0];
            let o = entries(&values[operand.0]);
            let e_o = self.forward.of(operand);
            let g_magnitude = dot(&mut g.iter().zip(e_g).map(|(g, e)| g.abs() + e), alpha);
            let g_error = dot(&mut e_g.iter().copied(), alpha);
            let o_magnitude = dot(&mut o.iter().zip(e_o).map(|(o, e)| o.abs() + e), beta);
            let (o_error, o_value) = (
                dot(&mut e_o.iter().copied(), beta),
                dot(&mut o.iter().map(|o| o.abs()), beta),
            );
            error += g_magnitude * o_error
                + g_error * o_value
                + u * g_magnitude * o_magnitude
                + eta * alpha_sum * beta_sum;
            magnitude += g_magnitude * o_magnitude;
        }
        SAFETY * (error + self.precision.gamma(uses.len().saturating_sub(1)) * magnitude)
    }

    /// The bound, with [`SAFETY`], on the engine's loss (the sum of its `sqerr` nodes).
    pub fn loss(&self) -> f64 {
        SAFETY * self.loss_error
    }

    /// The adjoint `dE/dv` of a vector node or a leaf, in `f64` (`None` when it reaches no
    /// loss).
    pub fn adjoint(&self, id: NodeId) -> Option<&[f64]> {
        self.adjoint[id.0].as_deref()
    }

    /// The precision analysed.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Whether a forward value or an adjoint, or a term of the sums that make them, may
    /// reach beyond the largest number of the precision.
    pub fn overflows(&self) -> bool {
        self.adjoint
            .iter()
            .zip(&self.adjoint_error)
            .any(|(a, e)| a.as_ref().is_some_and(|a| beyond(self.precision, a, e)))
            || self.values_overflow
    }

    /// The forward errors of the analysis.
    pub fn forward(&self) -> &ForwardErrors {
        &self.forward
    }
}
