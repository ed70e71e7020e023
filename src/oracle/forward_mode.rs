//! The second oracle: forward-mode differentiation with dual numbers.
//!
//! Every value carries a tangent, `v + v'·ε` with `ε² = 0`, and the leaf entry being
//! differentiated is seeded with tangent 1; the loss's tangent is then `dE/dθ`, exact up to
//! round-off, with no step at all: nothing to truncate, and nothing to underflow when the
//! perturbation meets tiny weights (a step-based method, the complex step included, loses a
//! derivative entirely once `step × weight` falls below the smallest number; fuzzing found
//! such a graph, `cases/findings/underflow-subnormal-weight.yaml`).
//!
//! Value and tangent each carry a bound on their own rounding error, by the rules of a
//! running error analysis ([`crate::tolerance`]), operation by operation, so that the
//! derivative comes with a bound on its own error.
//!
//! The rules here are forward (tangent) rules written out for this oracle alone; it shares
//! no code with the gate rules beyond the graph and the logistic function.

use super::delta::U;
use super::kinks::KinkBands;
use crate::function::Function;
use crate::graph::{Graph, NodeId, Operation, Values};
use crate::op::{Binary, Rearrange};
use crate::precision::Precision;
use crate::tolerance::{ForwardErrors, OWN_SUMMATION, forward_errors};
use crate::value::{Shape, broadcast_entry, transposed_entries, transposed_entry};
use std::borrow::Cow;

/// The smallest subnormal: what a rounding in the subnormal range may lose.
const ETA: f64 = 5e-324;

/// A value and its tangent, each with a bound on its rounding error.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Dual {
    value: f64,
    tangent: f64,
    error: f64,
    tangent_error: f64,
    /// Half the width of the tangents the sides of kinks upstream allow, around `tangent`
    /// (0 where no kink is met): the tangent is an interval, `tangent ± kink`, besides its
    /// rounding error.
    kink: f64,
}

impl Dual {
    fn constant(value: f64, error: f64) -> Dual {
        Dual {
            value,
            tangent: 0.0,
            error,
            tangent_error: 0.0,
            kink: 0.0,
        }
    }

    fn plus(self, other: Dual) -> Dual {
        let (value, tangent) = (self.value + other.value, self.tangent + other.tangent);
        Dual {
            value,
            tangent,
            error: self.error + other.error + U * value.abs() + ETA,
            tangent_error: self.tangent_error + other.tangent_error + U * tangent.abs() + ETA,
            kink: self.kink + other.kink,
        }
    }

    fn minus(self, other: Dual) -> Dual {
        self.plus(other.negated())
    }

    fn negated(self) -> Dual {
        Dual {
            value: -self.value,
            tangent: -self.tangent,
            ..self
        }
    }

    fn times(self, other: Dual) -> Dual {
        let (a, b) = (self, other);
        let value = a.value * b.value;
        let (left, right) = (a.tangent * b.value, a.value * b.tangent);
        let ma = a.value.abs() + a.error;
        let (ta, tb) = (
            a.tangent.abs() + a.tangent_error,
            b.tangent.abs() + b.tangent_error,
        );
        Dual {
            value,
            tangent: left + right,
            error: ma * b.error + a.error * b.value.abs() + U * value.abs() + ETA,
            tangent_error: ta * b.error
                + a.tangent_error * b.value.abs()
                + ma * b.tangent_error
                + a.error * tb
                + 2.0 * U * (left.abs() + right.abs())
                + ETA,
            // Each side's interval scaled by the other's value (with its error).
            kink: a.kink * (b.value.abs() + b.error) + (a.value.abs() + a.error) * b.kink,
        }
    }

    /// Times one half: exact but for underflow, and without a `value × 0` cross term (which
    /// is NaN for an overflowed value even when the tangent is finite).
    fn halved(self) -> Dual {
        Dual {
            value: self.value * 0.5,
            tangent: self.tangent * 0.5,
            error: self.error * 0.5 + ETA,
            tangent_error: self.tangent_error * 0.5 + ETA,
            kink: self.kink * 0.5,
        }
    }

    /// Divided by an exact count `n`, each quotient rounded.
    fn divided(self, n: f64) -> Dual {
        let (value, tangent) = (self.value / n, self.tangent / n);
        Dual {
            value,
            tangent,
            error: self.error / n + U * value.abs() + ETA,
            tangent_error: self.tangent_error / n + U * tangent.abs() + ETA,
            kink: self.kink / n,
        }
    }

    /// `f(y)`, with the tangent `f'(y)·t`.
    fn apply(self, function: Function) -> Dual {
        let (y, e) = (self.value, self.error);
        let o = function.value(y);
        let tangent = function.slope(y) * self.tangent;
        let (slope, curvature) = (function.slope_max(y, e), function.curvature_max(y, e));
        let roundings = function.value_roundings();
        Dual {
            value: o,
            tangent,
            error: slope * e + roundings * (U * o.abs() + ETA),
            // f'(y)·t from a y off by e and a t off by its error; the slope takes the
            // function twice and two products.
            tangent_error: slope * self.tangent_error
                + curvature * e * self.tangent.abs()
                + 2.0 * (roundings + 1.0) * (U * tangent.abs() + ETA),
            kink: function.slope_max(y, e) * self.kink,
        }
    }

    /// `f(y)` for a function with kinks, whose argument lies within `band` of one: the slope
    /// may be either side's, so the tangent is the hull of `0` and the incoming interval
    /// `t ± kink` (relu: slope 0 or 1), as a midpoint and a half-width; elsewhere
    /// [`Dual::apply`].
    fn apply_near_kink(self, function: Function, band: f64) -> Dual {
        if !function.kink_within(self.value, band) {
            return self.apply(function);
        }
        let (low, high) = (
            (self.tangent - self.kink).min(0.0),
            (self.tangent + self.kink).max(0.0),
        );
        let tangent = 0.5 * (low + high);
        let e = self.error;
        Dual {
            value: function.value(self.value),
            tangent,
            error: function.slope_max(self.value, e) * e,
            // The interval's ends move with the incoming tangent's error; the midpoint and
            // the half-width take a rounding each.
            tangent_error: self.tangent_error + U * (tangent.abs() + 0.5 * (high - low)) + ETA,
            kink: 0.5 * (high - low),
        }
    }
}

/// A node's value in dual numbers: a loss, or the entries of a vector or a matrix in
/// row-major order (the graph has the shape).
#[derive(Clone, Debug)]
enum Duals {
    Scalar(Dual),
    Array(Vec<Dual>),
}

impl Duals {
    fn array(self) -> Vec<Dual> {
        match self {
            Duals::Array(entries) => entries,
            Duals::Scalar(x) => vec![x],
        }
    }
}

/// `dE/dθ` for entry `entry` (row-major) of `leaf`, by forward mode over the leaf's cone,
/// and a bound on its rounding error.
pub fn derivative(graph: &Graph, values: &Values, leaf: NodeId, entry: usize) -> (f64, f64) {
    let errors = forward_errors(graph, values, Precision::F64, OWN_SUMMATION);
    derivative_with(graph, values, &errors, leaf, entry)
}

/// [`derivative`] with the forward values' error bounds already at hand.
pub fn derivative_with(
    graph: &Graph,
    values: &Values,
    errors: &ForwardErrors,
    leaf: NodeId,
    entry: usize,
) -> (f64, f64) {
    let kinks = KinkBands::new(graph, values, errors, None);
    let found = derivative_across_kinks(graph, values, errors, &kinks, leaf, entry);
    (found.derivative, found.error + found.kink_radius)
}

/// A derivative by forward mode that may have met kinks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForwardDerivative {
    /// The midpoint of the derivatives the sides of the kinks allow (the derivative itself
    /// where no kink was met).
    pub derivative: f64,
    /// The bound on its rounding error.
    pub error: f64,
    /// Half the width of the interval of derivatives the sides of kinks allow around
    /// `derivative`: every claim a chain rule could make taking either side's slope (or any
    /// slope between them) at each kink lies within it. 0 where no kink was met.
    pub kink_radius: f64,
}

impl From<(f64, f64)> for ForwardDerivative {
    /// A derivative and its error bound, clear of kinks.
    fn from((derivative, error): (f64, f64)) -> Self {
        ForwardDerivative {
            derivative,
            error,
            kink_radius: 0.0,
        }
    }
}

/// `dE/dθ` for entry `entry` of `leaf` by forward mode, judging the gates with kinks whose
/// arguments lie within `kinks`' bands by both sides.
pub fn derivative_across_kinks(
    graph: &Graph,
    values: &Values,
    errors: &ForwardErrors,
    kinks: &KinkBands,
    leaf: NodeId,
    entry: usize,
) -> ForwardDerivative {
    let mut duals: Vec<Option<Duals>> = vec![None; graph.len()];
    let mut seeded = lift(values.entries(leaf), &[]);
    let seed = match &mut seeded {
        Duals::Array(entries) => &mut entries[entry],
        Duals::Scalar(x) => x,
    };
    seed.tangent = 1.0;
    duals[leaf.0] = Some(seeded);
    let mut loss = Dual::constant(0.0, 0.0);
    for node in graph.downstream(leaf) {
        let value = forward(graph, node, values, errors, kinks, &duals);
        if let Duals::Scalar(e) = &value {
            loss = loss.plus(*e);
        }
        duals[node.0] = Some(value);
    }
    ForwardDerivative {
        derivative: loss.tangent,
        error: loss.tangent_error,
        kink_radius: loss.kink,
    }
}

/// A forward value's entries as constants, each with its error bound (none given: exact, as
/// leaves are).
fn lift(entries: &[f64], errors: &[f64]) -> Duals {
    let error = |k: usize| errors.get(k).copied().unwrap_or(0.0);
    Duals::Array(
        entries
            .iter()
            .enumerate()
            .map(|(k, &x)| Dual::constant(x, error(k)))
            .collect(),
    )
}

fn forward(
    graph: &Graph,
    node: NodeId,
    values: &Values,
    errors: &ForwardErrors,
    kinks: &KinkBands,
    duals: &[Option<Duals>],
) -> Duals {
    let get = |id: NodeId| {
        duals[id.0]
            .clone()
            .unwrap_or_else(|| lift(values.entries(id), errors.of(id)))
            .array()
    };
    match *graph.operation(node) {
        Operation::Leaf(..) => lift(values.entries(node), &[]),
        // x + x = 2x is exact in binary: no rounding to bound.
        Operation::Binary(Binary::Add, a, b) if a == b => Duals::Array(
            get(a)
                .into_iter()
                .map(|x| Dual {
                    value: 2.0 * x.value,
                    tangent: 2.0 * x.tangent,
                    error: 2.0 * x.error,
                    tangent_error: 2.0 * x.tangent_error,
                    kink: 2.0 * x.kink,
                })
                .collect(),
        ),
        // Equal shapes, or a vector added to every row of a matrix.
        Operation::Binary(Binary::Add, a, b) => {
            let out = graph.shape(node);
            let (sa, sb) = (graph.shape(a), graph.shape(b));
            let (a, b) = (get(a), get(b));
            Duals::Array(
                (0..out.len())
                    .map(|k| {
                        let (x, y) = (
                            a[broadcast_entry(sa, out, k)],
                            b[broadcast_entry(sb, out, k)],
                        );
                        x.plus(y)
                    })
                    .collect(),
            )
        }
        // Equal shapes, or a vector multiplying every row of a matrix.
        Operation::Binary(Binary::Mul, a, b) => {
            let out = graph.shape(node);
            let (sa, sb) = (graph.shape(a), graph.shape(b));
            let (a, b) = (get(a), get(b));
            Duals::Array(
                (0..out.len())
                    .map(|k| a[broadcast_entry(sa, out, k)].times(b[broadcast_entry(sb, out, k)]))
                    .collect(),
            )
        }
        Operation::Binary(Binary::Matvec, weight, o) => {
            let (_, cols) = graph.shape(weight).dims();
            let (entries, o) = (get(weight), get(o));
            Duals::Array(
                entries
                    .chunks(cols)
                    .map(|row| {
                        row.iter()
                            .zip(&o)
                            .fold(Dual::constant(0.0, 0.0), |sum, (w, x)| {
                                sum.plus(w.times(*x))
                            })
                    })
                    .collect(),
            )
        }
        // Each entry's products summed in increasing order of the inner index, as the rules do.
        Operation::Binary(Binary::Matmul, a, b) => {
            let ((m, k), (_, n)) = (graph.shape(a).dims(), graph.shape(b).dims());
            let (a, b) = (get(a), get(b));
            Duals::Array(
                (0..m * n)
                    .map(|index| {
                        let (i, j) = (index / n, index % n);
                        (0..k).fold(Dual::constant(0.0, 0.0), |sum, p| {
                            sum.plus(a[i * k + p].times(b[p * n + j]))
                        })
                    })
                    .collect(),
            )
        }
        // Entries moved, nothing rounded.
        Operation::Rearrange(Rearrange::Transpose, a) => {
            let (m, n) = graph.shape(a).dims();
            Duals::Array(transposed_entries(&get(a), m, n))
        }
        Operation::Unary(op, s) => {
            let function = Function::of(op).expect("an elementwise gate");
            let input = get(s).into_iter();
            if function.has_kinks() {
                let near_kink =
                    |(k, x): (usize, Dual)| x.apply_near_kink(function, kinks.band(node, k));
                Duals::Array(input.enumerate().map(near_kink).collect())
            } else {
                Duals::Array(input.map(|x| x.apply(function)).collect())
            }
        }
        // Each column summed from the first row to the last (a mean then divided).
        Operation::Reduce(op, a) => {
            let (rows, cols) = graph.shape(a).dims();
            let a = get(a);
            let divisor = op.divisor(rows);
            Duals::Array(
                (0..cols)
                    .map(|j| {
                        let sum = (0..rows)
                            .fold(Dual::constant(0.0, 0.0), |sum, i| sum.plus(a[i * cols + j]));
                        if divisor == 1.0 {
                            sum
                        } else {
                            sum.divided(divisor)
                        }
                    })
                    .collect(),
            )
        }
        Operation::Loss(loss, output, target) => {
            let (o, t) = (get(output), get(target));
            let sum = o
                .iter()
                .zip(&t)
                .fold(Dual::constant(0.0, 0.0), |sum, (o, t)| {
                    let r = o.minus(*t);
                    sum.plus(r.times(r))
                });
            let half = sum.halved();
            match loss.divisor(graph.shape(output)) {
                1.0 => Duals::Scalar(half),
                rows => Duals::Scalar(half.divided(rows)),
            }
        }
    }
}

/// Forward mode for every entry of one leaf, sharing what does not depend on the entry.
///
/// Values and their error bounds never depend on a tangent, so they are computed once over
/// the leaf's cone (by the same dual arithmetic as [`derivative_with`], bit for bit); each
/// entry then carries tangents only where its seed can reach (a weight entry moves one row
/// of its product, an input entry one entry of each operand, until a product spreads it).
/// On a 256×256 weight that is a few hundred operations per entry instead of the whole
/// product: checking every entry of a failing `256→256→16` network this way takes seconds
/// where [`derivative_with`] per entry took minutes.
///
/// A tangent the seed cannot reach is an exact zero, and adding or multiplying exact zeros
/// rounds nothing; leaving them out keeps the bound sound and makes it a little smaller than
/// [`derivative_with`]'s (which adds `ETA` for every operation on them, and `u·|sum|` when a
/// running sum meets a zero term). Where some value or bound in the cone is not finite, a
/// zero tangent can be `0·∞ = NaN`, which only the entry-by-entry path reproduces: then it
/// is used.
pub struct LeafTangents<'a> {
    graph: &'a Graph,
    values: &'a Values<'a>,
    errors: &'a ForwardErrors,
    leaf: NodeId,
    cone: Vec<NodeId>,
    /// For each vector node the cone reads or makes: its values and their error bounds.
    primal: Vec<Option<Vec<Dual>>>,
    /// For each elementwise node of the cone, per entry: `f'(y)`, the steepest slope and
    /// curvature within the input's error, and that error.
    elementwise: Vec<Option<Vec<[f64; 4]>>>,
    /// For each `sqerr` node of the cone: the residuals `o − t`.
    residual: Vec<Option<Vec<Dual>>>,
    /// Some value or bound is not finite, or the cone meets a kink: every entry goes through
    /// [`derivative_across_kinks`].
    entry_by_entry: bool,
    kinks: Cow<'a, KinkBands>,
}

/// The tangents of one node: those its seed can reach, by entry index (ascending), each
/// with its error bound.
#[derive(Clone, Debug, Default)]
struct Reached {
    index: Vec<usize>,
    tangent: Vec<f64>,
    error: Vec<f64>,
}

impl Reached {
    fn push(&mut self, index: usize, (tangent, error): (f64, f64)) {
        self.index.push(index);
        self.tangent.push(tangent);
        self.error.push(error);
    }
}

/// A tangent and the bound on its error.
type Tangent = (f64, f64);

/// The entries two nodes' seeds reached, walked together in index order: each index with
/// its tangent and bound from either side (`None` where that side was not reached).
fn by_index<'r>(
    a: &'r Reached,
    b: &'r Reached,
) -> impl Iterator<Item = (usize, Option<Tangent>, Option<Tangent>)> + 'r {
    let (mut i, mut j) = (0, 0);
    std::iter::from_fn(move || {
        let (ia, ib) = (
            a.index.get(i).copied().unwrap_or(usize::MAX),
            b.index.get(j).copied().unwrap_or(usize::MAX),
        );
        if ia == usize::MAX && ib == usize::MAX {
            return None;
        }
        let index = ia.min(ib);
        let from_a = (ia == index).then(|| (a.tangent[i], a.error[i]));
        let from_b = (ib == index).then(|| (b.tangent[j], b.error[j]));
        i += from_a.is_some() as usize;
        j += from_b.is_some() as usize;
        Some((index, from_a, from_b))
    })
}

/// A vector operand's reached entries as the entries of the output it is added to every row
/// of; an operand of the output's shape as it is.
fn broadcast(reached: &Reached, operand: Shape, output: Shape) -> Cow<'_, Reached> {
    match (operand, output) {
        (Shape::Vector(_), Shape::Matrix(rows, cols)) => {
            let mut spread = Reached::default();
            for row in 0..rows {
                for (k, &j) in reached.index.iter().enumerate() {
                    spread.push(row * cols + j, (reached.tangent[k], reached.error[k]));
                }
            }
            Cow::Owned(spread)
        }
        _ => Cow::Borrowed(reached),
    }
}

/// `Dual::times` on the tangent parts: the tangent of `x·y` and its bound, from the values
/// (with their errors) and the tangents (with theirs).
fn product_tangent(x: Dual, (tx, ex): Tangent, y: Dual, (ty, ey): Tangent) -> Tangent {
    let (left, right) = (tx * y.value, x.value * ty);
    let error = (tx.abs() + ex) * y.error
        + ex * y.value.abs()
        + (x.value.abs() + x.error) * ey
        + x.error * (ty.abs() + ey)
        + 2.0 * U * (left.abs() + right.abs())
        + ETA;
    (left + right, error)
}

/// `Dual::plus` on the tangent parts: a running sum's tangent and bound, and a term's.
fn tangent_sum((t, te): (f64, f64), (term, term_error): (f64, f64)) -> (f64, f64) {
    let sum = t + term;
    (sum, te + term_error + U * sum.abs() + ETA)
}

impl<'a> LeafTangents<'a> {
    pub fn new(
        graph: &'a Graph,
        values: &'a Values<'a>,
        errors: &'a ForwardErrors,
        leaf: NodeId,
    ) -> LeafTangents<'a> {
        let kinks = KinkBands::new(graph, values, errors, None);
        LeafTangents::across_kinks(graph, values, errors, Cow::Owned(kinks), leaf)
    }

    /// [`LeafTangents::new`], judging the gates with kinks whose arguments lie within
    /// `kinks`' bands by both sides.
    pub fn across_kinks(
        graph: &'a Graph,
        values: &'a Values<'a>,
        errors: &'a ForwardErrors,
        kinks: Cow<'a, KinkBands>,
        leaf: NodeId,
    ) -> LeafTangents<'a> {
        let cone = graph.downstream(leaf);
        let meets_a_kink = kinks.first_reached(graph, leaf).is_some();
        let mut tangents = LeafTangents {
            graph,
            values,
            errors,
            leaf,
            cone,
            primal: vec![None; graph.len()],
            elementwise: vec![None; graph.len()],
            residual: vec![None; graph.len()],
            entry_by_entry: meets_a_kink,
            kinks,
        };
        let finite = |duals: &[Dual]| {
            duals
                .iter()
                .all(|d| d.value.is_finite() && d.error.is_finite())
        };
        let mut duals: Vec<Option<Duals>> = vec![None; graph.len()];
        for &node in &tangents.cone {
            let gate = graph.operation(node);
            // Every operand's values, but a matvec's weight's (read from the graph's values).
            let weight_slot = matches!(gate, Operation::Binary(Binary::Matvec, ..));
            for (slot, &operand) in gate.operands().iter().enumerate() {
                if tangents.primal[operand.0].is_none() && !(weight_slot && slot == 0) {
                    let lifted = match duals[operand.0].clone() {
                        Some(duals) => duals.array(),
                        None => lift(values.entries(operand), errors.of(operand)).array(),
                    };
                    tangents.entry_by_entry |= !finite(&lifted);
                    tangents.primal[operand.0] = Some(lifted);
                }
            }
            let value = forward(graph, node, values, errors, &tangents.kinks, &duals);
            match *gate {
                Operation::Unary(op, s) if Function::of(op).is_some() => {
                    let function = Function::of(op).expect("an elementwise gate");
                    let input = tangents.primal[s.0].as_ref().expect("lifted above");
                    tangents.elementwise[node.0] = Some(
                        input
                            .iter()
                            .map(|d| {
                                let (y, e) = (d.value, d.error);
                                [
                                    function.slope(y),
                                    function.slope_max(y, e),
                                    function.curvature_max(y, e),
                                    e,
                                ]
                            })
                            .collect(),
                    );
                }
                Operation::Loss(_, output, target) => {
                    let (o, t) = (
                        tangents.primal[output.0].as_ref().expect("lifted above"),
                        tangents.primal[target.0].as_ref().expect("lifted above"),
                    );
                    let residual: Vec<Dual> = o.iter().zip(t).map(|(o, t)| o.minus(*t)).collect();
                    tangents.entry_by_entry |= !finite(&residual);
                    tangents.residual[node.0] = Some(residual);
                }
                _ => {}
            }
            match &value {
                Duals::Array(v) => {
                    tangents.entry_by_entry |= !finite(v);
                    tangents.primal[node.0] = Some(v.clone());
                }
                Duals::Scalar(e) => tangents.entry_by_entry |= !finite(&[*e]),
            }
            duals[node.0] = Some(value);
        }
        tangents.entry_by_entry |= !values[leaf.0].is_finite();
        tangents
    }

    /// `dE/dθ` for entry `entry` (row-major) of the leaf, and a bound on its rounding error.
    pub fn derivative(&self, entry: usize) -> (f64, f64) {
        let found = self.derivative_across_kinks(entry);
        (found.derivative, found.error + found.kink_radius)
    }

    /// [`derivative_across_kinks`] for entry `entry` (row-major) of the leaf.
    pub fn derivative_across_kinks(&self, entry: usize) -> ForwardDerivative {
        if self.entry_by_entry {
            let (graph, values, errors) = (self.graph, self.values, self.errors);
            return derivative_across_kinks(graph, values, errors, &self.kinks, self.leaf, entry);
        }
        let (derivative, error) = self.derivative_clear_of_kinks(entry);
        ForwardDerivative {
            derivative,
            error,
            kink_radius: 0.0,
        }
    }

    fn derivative_clear_of_kinks(&self, entry: usize) -> (f64, f64) {
        let mut reached: Vec<Option<Reached>> = vec![None; self.graph.len()];
        // In a matvec, a weight's seed is one entry of one product; elsewhere a leaf's seed is
        // a tangent of its own.
        let weight_seed = match self.graph.shape(self.leaf) {
            Shape::Matrix(_, cols) => Some((entry / cols, entry % cols)),
            _ => None,
        };
        let mut seed = Reached::default();
        seed.push(entry, (1.0, 0.0));
        reached[self.leaf.0] = Some(seed);
        let none = Reached::default();
        let mut loss = (0.0, 0.0);
        for &node in &self.cone {
            let gate = self.graph.operation(node);
            let of = |id: NodeId| reached[id.0].as_ref().unwrap_or(&none);
            let primal = |id: NodeId| self.primal[id.0].as_deref().expect("computed in new");
            let mut out = Reached::default();
            match *gate {
                Operation::Leaf(..) => continue,
                // x + x = 2x is exact in binary.
                Operation::Binary(Binary::Add, a, b) if a == b => {
                    let a = of(a);
                    for (k, &index) in a.index.iter().enumerate() {
                        out.push(index, (2.0 * a.tangent[k], 2.0 * a.error[k]));
                    }
                }
                Operation::Binary(Binary::Add, a, b) => {
                    // A side the seed did not reach adds an exact zero; a vector added to every
                    // row reaches its columns in every row.
                    let out_shape = self.graph.shape(node);
                    let (a, b) = (
                        broadcast(of(a), self.graph.shape(a), out_shape),
                        broadcast(of(b), self.graph.shape(b), out_shape),
                    );
                    for (index, a, b) in by_index(&a, &b) {
                        out.push(
                            index,
                            match (a, b) {
                                (Some(a), Some(b)) => tangent_sum(a, b),
                                (Some(only), None) | (None, Some(only)) => only,
                                (None, None) => unreachable!("an index of either side"),
                            },
                        );
                    }
                }
                // `Dual::times` where either side was reached (an exact zero tangent on the
                // other side): a vector on every row reaches its columns in every row.
                Operation::Binary(Binary::Mul, a, b) => {
                    let out_shape = self.graph.shape(node);
                    let (sa, sb) = (self.graph.shape(a), self.graph.shape(b));
                    let (xa, xb) = (primal(a), primal(b));
                    let (ra, rb) = (
                        broadcast(of(a), sa, out_shape),
                        broadcast(of(b), sb, out_shape),
                    );
                    for (index, ta, tb) in by_index(&ra, &rb) {
                        let x = xa[broadcast_entry(sa, out_shape, index)];
                        let y = xb[broadcast_entry(sb, out_shape, index)];
                        out.push(
                            index,
                            product_tangent(
                                x,
                                ta.unwrap_or((0.0, 0.0)),
                                y,
                                tb.unwrap_or((0.0, 0.0)),
                            ),
                        );
                    }
                }
                // `Dual::plus` down each column over the entries the seed reached (an exact
                // zero elsewhere adds nothing), as the dense pass sums; a mean then divided.
                Operation::Reduce(op, a) => {
                    let (rows, cols) = self.graph.shape(a).dims();
                    let divisor = op.divisor(rows);
                    let mut sums: Vec<Option<Tangent>> = vec![None; cols];
                    let reached_a = of(a);
                    for (k, &index) in reached_a.index.iter().enumerate() {
                        let slot = &mut sums[index % cols];
                        let (t0, e0) = slot.unwrap_or((0.0, 0.0));
                        let t = t0 + reached_a.tangent[k];
                        *slot = Some((t, e0 + reached_a.error[k] + U * t.abs() + ETA));
                    }
                    for (j, sum) in sums.into_iter().enumerate() {
                        if let Some((t, e)) = sum {
                            if divisor == 1.0 {
                                out.push(j, (t, e));
                            } else {
                                let t = t / divisor;
                                out.push(j, (t, e / divisor + U * t.abs() + ETA));
                            }
                        }
                    }
                }
                Operation::Binary(Binary::Matvec, weight, vector) => {
                    let w = crate::value::matrix(&self.values[weight.0]);
                    let (o, reached_o) = (primal(vector), of(vector));
                    let seed = weight_seed.filter(|_| weight == self.leaf);
                    // `Dual::times` with a weight entry (tangent `at`, exact) and an operand
                    // entry, then `Dual::plus` into the row's running sum, in column order.
                    let term = |wv: f64, at: f64, b: Dual, bt: f64, bte: f64| {
                        let (left, right) = (at * b.value, wv * bt);
                        let error = at.abs() * b.error
                            + wv.abs() * bte
                            + 2.0 * U * (left.abs() + right.abs())
                            + ETA;
                        (left + right, error)
                    };
                    let rows: Vec<usize> = if reached_o.index.is_empty() {
                        seed.map(|(i, _)| vec![i]).unwrap_or_default()
                    } else {
                        (0..w.nrows()).collect()
                    };
                    for r in rows {
                        // The seed's column, in this row only.
                        let mut seeded = Reached::default();
                        if let Some((_, j)) = seed.filter(|&(i, _)| i == r) {
                            seeded.push(j, (1.0, 0.0));
                        }
                        let mut sum = (0.0, 0.0);
                        for (c, at, b) in by_index(&seeded, reached_o) {
                            let (bt, bte) = b.unwrap_or((0.0, 0.0));
                            let at = at.map_or(0.0, |(t, _)| t);
                            sum = tangent_sum(sum, term(w[(r, c)], at, o[c], bt, bte));
                        }
                        out.push(r, sum);
                    }
                }
                // `Dual::times` and `Dual::plus` down the inner index, over the terms whose
                // tangent the seed reached on either side (exact zeros elsewhere), at every
                // entry of a reached row of A or a reached column of B.
                Operation::Binary(Binary::Matmul, a, b) => {
                    let ((m, k), (_, n)) = (self.graph.shape(a).dims(), self.graph.shape(b).dims());
                    let (xa, xb) = (primal(a), primal(b));
                    let (ra, rb) = (of(a), of(b));
                    let mut rows = vec![Reached::default(); m];
                    for (e, &index) in ra.index.iter().enumerate() {
                        rows[index / k].push(index % k, (ra.tangent[e], ra.error[e]));
                    }
                    let mut cols = vec![Reached::default(); n];
                    for (e, &index) in rb.index.iter().enumerate() {
                        cols[index % n].push(index / n, (rb.tangent[e], rb.error[e]));
                    }
                    // Every column of a reached row, the reached columns of the others.
                    let reached_cols: Vec<usize> =
                        (0..n).filter(|&j| !cols[j].index.is_empty()).collect();
                    let every_col: Vec<usize> = (0..n).collect();
                    for (i, row) in rows.iter().enumerate() {
                        let js = if row.index.is_empty() {
                            &reached_cols
                        } else {
                            &every_col
                        };
                        for &j in js {
                            let col = &cols[j];
                            let mut sum = (0.0, 0.0);
                            for (p, ta, tb) in by_index(row, col) {
                                let term = product_tangent(
                                    xa[i * k + p],
                                    ta.unwrap_or((0.0, 0.0)),
                                    xb[p * n + j],
                                    tb.unwrap_or((0.0, 0.0)),
                                );
                                sum = tangent_sum(sum, term);
                            }
                            out.push(i * n + j, sum);
                        }
                    }
                }
                Operation::Rearrange(Rearrange::Transpose, a) => {
                    let (m, n) = self.graph.shape(a).dims();
                    let reached_a = of(a);
                    let mut moved: Vec<(usize, Tangent)> = reached_a
                        .index
                        .iter()
                        .enumerate()
                        .map(|(e, &p)| {
                            (
                                // Entry p of A is entry `transposed_entry(n, m, p)` of Aᵀ.
                                transposed_entry(n, m, p),
                                (reached_a.tangent[e], reached_a.error[e]),
                            )
                        })
                        .collect();
                    moved.sort_unstable_by_key(|&(p, _)| p);
                    for (p, tangent) in moved {
                        out.push(p, tangent);
                    }
                }
                Operation::Unary(op, s) => {
                    let function = Function::of(op).expect("an elementwise gate");
                    let roundings = function.value_roundings();
                    let input = of(s);
                    let factors = self.elementwise[node.0]
                        .as_deref()
                        .expect("computed in new");
                    for (k, &index) in input.index.iter().enumerate() {
                        let [factor, slope, curvature, e] = factors[index];
                        let (t, te) = (input.tangent[k], input.error[k]);
                        let tangent = factor * t;
                        let error = slope * te
                            + curvature * e * t.abs()
                            + 2.0 * (roundings + 1.0) * (U * tangent.abs() + ETA);
                        out.push(index, (tangent, error));
                    }
                }
                Operation::Loss(loss_kind, output, target) => {
                    let residual = self.residual[node.0].as_deref().expect("computed in new");
                    let mut sum = (0.0, 0.0);
                    for (k, o, t) in by_index(of(output), of(target)) {
                        // The residual's tangent `o' − t'`, as `Dual::minus` makes it.
                        let rt = match (o, t) {
                            (Some(o), Some(t)) => tangent_sum(o, (-t.0, t.1)),
                            (Some(o), None) => o,
                            (None, Some(t)) => (-t.0, t.1),
                            (None, None) => unreachable!("an index of either side"),
                        };
                        // `Dual::times` of the residual with itself.
                        let r = residual[k];
                        let (left, right) = (rt.0 * r.value, r.value * rt.0);
                        let tr = rt.0.abs() + rt.1;
                        let mr = r.value.abs() + r.error;
                        let error = tr * r.error
                            + rt.1 * r.value.abs()
                            + mr * rt.1
                            + r.error * tr
                            + 2.0 * U * (left.abs() + right.abs())
                            + ETA;
                        sum = tangent_sum(sum, (left + right, error));
                    }
                    // Halved, as `Dual::halved` (and for mse divided by the rows, as
                    // `Dual::divided`); then added to the loss.
                    let (mut tangent, mut error) = (sum.0 * 0.5, sum.1 * 0.5 + ETA);
                    let rows = loss_kind.divisor(self.graph.shape(output));
                    if rows != 1.0 {
                        tangent /= rows;
                        error = error / rows + U * tangent.abs() + ETA;
                    }
                    loss = tangent_sum(loss, (tangent, error));
                    continue;
                }
            }
            reached[node.0] = Some(out);
        }
        loss
    }
}
