//! The third oracle: forward mode in double-double arithmetic ([`crate::function::double_double`]).
//!
//! Asked only where the other two cannot decide: where the engine's allowance is tighter
//! than their own uncertainty. That happens where `f64` error bounds compound, as along a
//! chain of 40 matrix-vector products, whose componentwise bound grows like `‖|W|‖⁴⁰` while
//! the real error stays at a few units of round-off: the bound of this oracle compounds in
//! the same way, but from a unit round-off of `2⁻¹⁰⁰` instead of `2⁻⁵³`, so it stays far
//! below any `f64` engine's.
//!
//! The forward values are computed once per graph, every node from the leaves, each with
//! a bound on its error; then each entry's tangent is carried through the leaf's downstream
//! cone, with a bound of its own, by the same rules as [`super::forward_mode`]'s. The last
//! rounding, to `f64`, adds half an ulp of the derivative.

use crate::function::Function;
use crate::function::double_double::{DoubleDouble as Dd, UNIT};
use crate::graph::{Graph, NodeId, Operation, Values};
use crate::op::{Binary, Rearrange};
use crate::value::{broadcast_entry, matrix, transposed_entries};

/// What one operation may lose in the subnormal range (the low word of a double-double
/// underflows long before the high word does).
const ETA: f64 = 1e-322;

/// The unit round-off of the final rounding to `f64`.
const F64_UNIT: f64 = f64::EPSILON / 2.0;

/// `γ(n) = n·UNIT/(1 − n·UNIT)`: a sum of `n` terms, or a dot product, in any order.
fn gamma(n: usize) -> f64 {
    let nu = n as f64 * UNIT;
    nu / (1.0 - nu)
}

/// A value in double-double with a bound on its error.
#[derive(Clone, Copy, Debug, Default)]
struct Bounded {
    value: Dd,
    error: f64,
}

impl Bounded {
    fn exact(x: f64) -> Bounded {
        Bounded {
            value: Dd::from(x),
            error: 0.0,
        }
    }

    fn magnitude(&self) -> f64 {
        self.value.abs() + self.error
    }

    /// `x·y`, one rounding.
    fn times(&self, other: &Bounded) -> Bounded {
        let value = self.value.times(other.value);
        Bounded {
            value,
            error: self.magnitude() * other.error
                + self.error * other.value.abs()
                + UNIT * value.abs()
                + ETA,
        }
    }

    /// `x + x`: exact in binary, barring overflow.
    fn doubled(&self) -> Bounded {
        Bounded {
            value: self.value.scaled(2.0),
            error: 2.0 * self.error,
        }
    }

    /// `x + y`, one rounding.
    fn plus(&self, other: &Bounded) -> Bounded {
        let value = self.value.plus(other.value);
        Bounded {
            value,
            error: self.error + other.error + UNIT * value.abs() + ETA,
        }
    }
}

/// The column sums of a batch's entries `a` (rows × cols, row-major), each then divided by
/// `divisor` (a mean's rows), with one rounding per sum and per quotient.
fn column_sums(a: &[Bounded], rows: usize, cols: usize, divisor: f64) -> Vec<Bounded> {
    (0..cols)
        .map(|j| {
            let sum = (0..rows).fold(Bounded::exact(0.0), |sum, i| sum.plus(&a[i * cols + j]));
            if divisor == 1.0 {
                sum
            } else {
                let value = sum.value.over(Dd::from(divisor));
                Bounded {
                    value,
                    error: sum.error / divisor + UNIT * value.abs() + ETA,
                }
            }
        })
        .collect()
}

/// `A B` of row-major entries `a` (m×k) and `b` (k×n), each entry summed in increasing order
/// of the inner index, every product and sum one rounding.
fn matrix_product(a: &[Bounded], b: &[Bounded], (m, k, n): (usize, usize, usize)) -> Vec<Bounded> {
    (0..m * n)
        .map(|index| {
            let (i, j) = (index / n, index % n);
            (0..k).fold(Bounded::exact(0.0), |sum, p| {
                sum.plus(&a[i * k + p].times(&b[p * n + j]))
            })
        })
        .collect()
}

/// Every node's value in double-double, row-major, with error bounds (but a weight that only
/// `matvec` takes: a leaf, exact, read from the graph's values).
pub struct PreciseValues {
    by_node: Vec<Vec<Bounded>>,
}

impl PreciseValues {
    /// The forward pass of `graph` in double-double, from its leaves (`values` gives the
    /// leaves; the `f64` values of the gates are not used).
    pub fn new(graph: &Graph, values: &Values) -> PreciseValues {
        let mut by_node: Vec<Vec<Bounded>> = Vec::with_capacity(graph.len());
        for id in graph.ids() {
            let node = match *graph.operation(id) {
                Operation::Leaf(..) if graph.is_matvec_weight_only(id) => Vec::new(),
                Operation::Leaf(..) => values
                    .entries(id)
                    .iter()
                    .map(|&x| Bounded::exact(x))
                    .collect(),
                Operation::Reduce(op, a) => {
                    let (rows, cols) = graph.shape(a).dims();
                    column_sums(&by_node[a.0], rows, cols, op.divisor(rows))
                }
                Operation::Binary(Binary::Add, a, b) if a == b => {
                    by_node[a.0].iter().map(Bounded::doubled).collect()
                }
                Operation::Binary(Binary::Add, a, b) => {
                    let (out, sa, sb) = (graph.shape(id), graph.shape(a), graph.shape(b));
                    (0..out.len())
                        .map(|k| {
                            let x = &by_node[a.0][broadcast_entry(sa, out, k)];
                            x.plus(&by_node[b.0][broadcast_entry(sb, out, k)])
                        })
                        .collect()
                }
                Operation::Binary(Binary::Mul, a, b) => {
                    let (out, sa, sb) = (graph.shape(id), graph.shape(a), graph.shape(b));
                    (0..out.len())
                        .map(|k| {
                            let x = &by_node[a.0][broadcast_entry(sa, out, k)];
                            x.times(&by_node[b.0][broadcast_entry(sb, out, k)])
                        })
                        .collect()
                }
                Operation::Binary(Binary::Matmul, a, b) => {
                    let ((m, k), (_, n)) = (graph.shape(a).dims(), graph.shape(b).dims());
                    matrix_product(&by_node[a.0], &by_node[b.0], (m, k, n))
                }
                Operation::Rearrange(Rearrange::Transpose, a) => {
                    let (m, n) = graph.shape(a).dims();
                    transposed_entries(&by_node[a.0], m, n)
                }
                Operation::Binary(Binary::Matvec, weight, vector) => {
                    let w = matrix(&values[weight.0]);
                    let o = &by_node[vector.0];
                    let g = gamma(w.ncols());
                    (0..w.nrows())
                        .map(|i| {
                            let (mut sum, mut spread) = (Dd::ZERO, 0.0);
                            for (j, x) in o.iter().enumerate() {
                                let wij = w[(i, j)];
                                sum = sum.plus(Dd::from(wij).times(x.value));
                                spread += wij.abs() * (x.error + g * x.magnitude());
                            }
                            Bounded {
                                value: sum,
                                error: spread + 2.0 * w.ncols() as f64 * ETA,
                            }
                        })
                        .collect()
                }
                Operation::Unary(op, s) => {
                    let function = Function::of(op).expect("an elementwise gate");
                    by_node[s.0]
                        .iter()
                        .map(|y| {
                            let (center, e) = (y.value.to_f64(), y.error);
                            let value = function.double_double(y.value);
                            Bounded {
                                value,
                                error: function.slope_max(center, e) * e
                                    + function.double_double_units() * UNIT * value.abs()
                                    + 8.0 * ETA,
                            }
                        })
                        .collect()
                }
                // The loss's value is not needed: only its tangent.
                Operation::Loss(..) => vec![Bounded::default()],
            };
            by_node.push(node);
        }
        PreciseValues { by_node }
    }

    /// `dE/dθ` for entry `entry` (row-major) of `leaf`, and a bound on its error.
    pub fn derivative(
        &self,
        graph: &Graph,
        values: &Values,
        leaf: NodeId,
        entry: usize,
    ) -> (f64, f64) {
        // Tangents of the nodes in the cone (None elsewhere: zero).
        let mut tangents: Vec<Option<Vec<Bounded>>> = vec![None; graph.len()];
        // A weight that only `matvec` takes is seeded in its products.
        if !graph.is_matvec_weight_only(leaf) {
            let mut seed = vec![Bounded::default(); values[leaf.0].len()];
            seed[entry] = Bounded::exact(1.0);
            tangents[leaf.0] = Some(seed);
        }
        let (mut loss, mut loss_error, mut loss_magnitude, mut losses) = (Dd::ZERO, 0.0, 0.0, 0);
        for id in graph.downstream(leaf) {
            let gate = graph.operation(id);
            let zero = |n: usize| vec![Bounded::default(); n];
            let tangent = |of: NodeId| -> Vec<Bounded> {
                tangents[of.0]
                    .clone()
                    .unwrap_or_else(|| zero(self.by_node[of.0].len()))
            };
            let result = match *gate {
                Operation::Leaf(..) => continue,
                Operation::Reduce(op, a) => {
                    let (rows, cols) = graph.shape(a).dims();
                    column_sums(&tangent(a), rows, cols, op.divisor(rows))
                }
                Operation::Binary(Binary::Add, a, b) if a == b => {
                    tangent(a).iter().map(Bounded::doubled).collect()
                }
                Operation::Binary(Binary::Add, a, b) => {
                    let (out, sa, sb) = (graph.shape(id), graph.shape(a), graph.shape(b));
                    let (ta, tb) = (tangent(a), tangent(b));
                    (0..out.len())
                        .map(|k| {
                            let x = &ta[broadcast_entry(sa, out, k)];
                            x.plus(&tb[broadcast_entry(sb, out, k)])
                        })
                        .collect()
                }
                // (a ⊙ b)' = a' ⊙ b + a ⊙ b'.
                Operation::Binary(Binary::Mul, a, b) => {
                    let (out, sa, sb) = (graph.shape(id), graph.shape(a), graph.shape(b));
                    let (ta, tb) = (tangent(a), tangent(b));
                    let (xa, xb) = (&self.by_node[a.0], &self.by_node[b.0]);
                    (0..out.len())
                        .map(|k| {
                            let (i, j) = (broadcast_entry(sa, out, k), broadcast_entry(sb, out, k));
                            ta[i].times(&xb[j]).plus(&xa[i].times(&tb[j]))
                        })
                        .collect()
                }
                // (A B)' = A' B + A B'.
                Operation::Binary(Binary::Matmul, a, b) => {
                    let ((m, k), (_, n)) = (graph.shape(a).dims(), graph.shape(b).dims());
                    let (ta, tb) = (tangent(a), tangent(b));
                    let (xa, xb) = (&self.by_node[a.0], &self.by_node[b.0]);
                    let left = matrix_product(&ta, xb, (m, k, n));
                    let right = matrix_product(xa, &tb, (m, k, n));
                    left.iter().zip(&right).map(|(x, y)| x.plus(y)).collect()
                }
                Operation::Rearrange(Rearrange::Transpose, a) => {
                    let (m, n) = graph.shape(a).dims();
                    transposed_entries(&tangent(a), m, n)
                }
                Operation::Binary(Binary::Matvec, weight, vector) => {
                    let w = matrix(&values[weight.0]);
                    let (o, t_o) = (&self.by_node[vector.0], tangent(vector));
                    let g = gamma(w.ncols() + 1);
                    let seed = (weight == leaf).then(|| (entry / w.ncols(), entry % w.ncols()));
                    (0..w.nrows())
                        .map(|i| {
                            let (mut sum, mut spread) = (Dd::ZERO, 0.0);
                            for (j, t) in t_o.iter().enumerate() {
                                let wij = w[(i, j)];
                                sum = sum.plus(Dd::from(wij).times(t.value));
                                spread += wij.abs() * (t.error + g * (t.value.abs() + t.error));
                            }
                            if let Some((row, col)) = seed
                                && row == i
                            {
                                // dW/dθ is 1 at (row, col): the term o[col].
                                sum = sum.plus(o[col].value);
                                spread += o[col].error + g * o[col].magnitude();
                            }
                            Bounded {
                                value: sum,
                                error: spread + 2.0 * (w.ncols() + 1) as f64 * ETA,
                            }
                        })
                        .collect()
                }
                Operation::Unary(op, s) => {
                    let function = Function::of(op).expect("an elementwise gate");
                    let (y, t_y, o) = (&self.by_node[s.0], tangent(s), &self.by_node[id.0]);
                    (0..y.len())
                        .map(|i| {
                            let (center, e) = (y[i].value.to_f64(), y[i].error);
                            // The slope from a rounded o: off by the change of f' within
                            // y's error, and by o's own error through the slope's formula.
                            let (slope, from_output) =
                                function.double_double_slope(y[i].value, o[i].value, o[i].error);
                            // At a kink no slope holds: this oracle declines (the check
                            // does not ask it there, see `oracle::kinks`).
                            let across_kink = if function.kink_within(center, e) {
                                f64::INFINITY
                            } else {
                                0.0
                            };
                            let slope_error = function.curvature_max(center, e) * e
                                + from_output
                                + 3.0 * UNIT * slope.abs()
                                + across_kink;
                            let value = slope.times(t_y[i].value);
                            Bounded {
                                value,
                                error: (function.slope_max(center, e) + slope_error) * t_y[i].error
                                    + slope_error * t_y[i].value.abs()
                                    + UNIT * value.abs()
                                    + 2.0 * ETA,
                            }
                        })
                        .collect()
                }
                Operation::Loss(loss_kind, output, target) => {
                    let (o, t) = (&self.by_node[output.0], &self.by_node[target.0]);
                    let (t_o, t_t) = (tangent(output), tangent(target));
                    let (mut sum, mut error, mut magnitude) = (Dd::ZERO, 0.0, 0.0);
                    for i in 0..o.len() {
                        let r = o[i].value.minus(t[i].value);
                        let e_r = o[i].error + t[i].error + UNIT * r.abs() + ETA;
                        let dr = t_o[i].value.minus(t_t[i].value);
                        let e_dr = t_o[i].error + t_t[i].error + UNIT * dr.abs() + ETA;
                        let term = r.times(dr);
                        sum = sum.plus(term);
                        error += r.abs() * e_dr + e_r * (dr.abs() + e_dr) + ETA;
                        magnitude += term.abs();
                    }
                    error += gamma(2 * o.len()) * magnitude;
                    // mse: divided by the rows, one double-double rounding more.
                    let rows = loss_kind.divisor(graph.shape(output));
                    if rows != 1.0 {
                        sum = sum.over(Dd::from(rows));
                        error = error / rows + UNIT * sum.abs();
                    }
                    loss = loss.plus(sum);
                    loss_error += error;
                    loss_magnitude += sum.abs() + error;
                    losses += 1;
                    continue;
                }
            };
            tangents[id.0] = Some(result);
        }
        let derivative = loss.to_f64();
        let error = loss_error + gamma(losses) * loss_magnitude + F64_UNIT * derivative.abs() + ETA;
        (derivative, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::LeafKind;
    use crate::value::Value;
    use faer::{Col, Mat};

    #[test]
    fn a_sigmoid_unit_matches_its_closed_form() {
        // E = ½(σ(w·x) − t)², dE/dw = (o − t)·o(1 − o)·x.
        let vector = |x: f64| Value::Vector(Col::from_fn(1, |_| x));
        let graph = Graph::with_operations(vec![
            ("x".into(), Operation::Leaf(LeafKind::Input, vector(0.75))),
            (
                "W".into(),
                Operation::Leaf(
                    LeafKind::Weight,
                    Value::Matrix(Mat::from_fn(1, 1, |_, _| -1.5)),
                ),
            ),
            (
                "s".into(),
                Operation::Binary(Binary::Matvec, NodeId(1), NodeId(0)),
            ),
            (
                "o".into(),
                Operation::Unary(crate::op::Unary::Sigmoid, NodeId(2)),
            ),
            ("t".into(), Operation::Leaf(LeafKind::Target, vector(0.25))),
            (
                "E".into(),
                Operation::Loss(crate::op::Loss::Sqerr, NodeId(3), NodeId(4)),
            ),
        ])
        .expect("a valid graph");
        let values = graph.forward();
        let precise = PreciseValues::new(&graph, &values);
        // The closed form in double-double: o − t cancels to 0.0049 from 0.245, which
        // plain f64 would get wrong in the 14th digit.
        let o = crate::function::sigmoid::double_double(Dd::from(-1.125));
        let delta = o.minus(Dd::from(0.25)).times(o.times(Dd::ONE.minus(o)));
        let (dw, error) = precise.derivative(&graph, &values, NodeId(1), 0);
        let expected = delta.times(Dd::from(0.75)).to_f64();
        assert!(
            (dw - expected).abs() <= f64::EPSILON * expected.abs(),
            "{dw} {expected}"
        );
        assert!(error < 2.0 * f64::EPSILON * dw.abs(), "{error}");
        let (dx, _) = precise.derivative(&graph, &values, NodeId(0), 0);
        let expected = delta.times(Dd::from(-1.5)).to_f64();
        assert!((dx - expected).abs() <= f64::EPSILON * expected.abs());
    }
}
