//! The unperturbed point every perturbation starts from: the forward values, their
//! magnitudes (which bound their round-off), and what each sigmoid's difference rule reuses
//! for every perturbation, so that a perturbed entry costs no exponential of its own.

use crate::gate::{Gate, Value, sigmoid};
use crate::graph::{Graph, NodeId, Op, Values};
use crate::kernels;
use faer::Col;

/// The forward values of a graph with everything derived from them once.
pub struct Base<'a> {
    pub values: &'a Values<'a>,
    /// See [`magnitudes`].
    pub magnitudes: Magnitudes,
    /// Per node (empty unless a sigmoid): per entry, from the sigmoid's input `y`.
    pub sigmoids: Vec<SigmoidBase>,
}

/// A sigmoid node's per-entry constants.
#[derive(Clone, Debug, Default)]
pub struct SigmoidBase {
    /// `e^(−|y|)`, from which `σ(y + d)` follows with one `expm1(−d)`.
    pub exp_neg_abs: Vec<f64>,
    /// `σ(−y)`, computed without `1 − σ(y)`.
    pub complement: Vec<f64>,
    /// [`sigmoid_bound_factor`] at `y`.
    pub bound_factor: Vec<f64>,
}

impl<'a> Base<'a> {
    pub fn new(graph: &Graph, values: &'a Values<'a>) -> Self {
        let magnitudes = magnitudes(graph, values);
        let sigmoids = graph
            .ids()
            .map(|id| match graph.gate(id) {
                Some(Gate::Sigmoid(s)) => {
                    let y = crate::gate::vector(&values[s.0]);
                    let m = magnitudes.vector(*s);
                    let mut table = SigmoidBase::default();
                    for i in 0..y.nrows() {
                        let e = (-y[i].abs()).exp();
                        let (big, small) = (1.0 / (1.0 + e), e / (1.0 + e));
                        table.exp_neg_abs.push(e);
                        table.complement.push(if y[i] >= 0.0 { small } else { big });
                        table
                            .bound_factor
                            .push(sigmoid_bound_factor_from(e, y[i], m[i]));
                    }
                    table
                }
                _ => SigmoidBase::default(),
            })
            .collect();
        Base {
            values,
            magnitudes,
            sigmoids,
        }
    }

    pub fn value(&self, id: NodeId) -> &Value {
        &self.values[id.0]
    }
}

/// The magnitude of every vector and scalar node's value (see [`magnitudes`]). A weight's
/// magnitude is `|w|`, taken entry by entry by the products that need it, not stored.
pub struct Magnitudes {
    by_node: Vec<Option<Value>>,
}

impl Magnitudes {
    /// The magnitude of a vector node, or a scalar node as one entry.
    pub fn vector(&self, id: NodeId) -> &[f64] {
        match &self.by_node[id.0] {
            Some(value) => super::delta::slice(value),
            None => unreachable!("a weight's magnitude is taken entry by entry"),
        }
    }
}

/// The magnitude of every node's value: the forward pass on absolute values, which bounds
/// the absolute round-off of the value by a small multiple of `ε` times it.
pub fn magnitudes(graph: &Graph, values: &Values) -> Magnitudes {
    let mut magnitudes: Vec<Option<Value>> = Vec::with_capacity(graph.len());
    for id in graph.ids() {
        let magnitude = match &graph.node(id).op {
            // A leaf's in one pass: saturating is a no-op on the finite values it holds.
            Op::Leaf(_, Value::Vector(v)) => Value::Vector(v.map(|x| saturate(x.abs()))),
            Op::Leaf(_, Value::Matrix(_)) => {
                magnitudes.push(None);
                continue;
            }
            Op::Leaf(_, Value::Scalar(x)) => Value::Scalar(saturate(x.abs())),
            Op::Gate(Gate::Add(a, b)) => saturated(Value::Vector(
                magnitude_of(*a, &magnitudes) + magnitude_of(*b, &magnitudes),
            )),
            Op::Gate(Gate::Matvec { weight, vector: o }) => {
                saturated(Value::Vector(kernels::abs_matvec(
                    crate::gate::matrix(&values[weight.0]),
                    magnitude_of(*o, &magnitudes),
                )))
            }
            Op::Gate(Gate::Sigmoid(s)) => {
                // σ is computed to a few ulps of itself, plus the input's round-off times the
                // steepest slope within that round-off of y: an input that is pure round-off
                // (a sum that cancelled) can put σ anywhere, which the slope at y alone
                // (zero, for a saturated sigmoid) would hide.
                let y = crate::gate::vector(&values[s.0]);
                let m = magnitude_of(*s, &magnitudes);
                Value::Vector(Col::from_fn(y.nrows(), |i| {
                    saturate(sigmoid(y[i]) + slope_within_roundoff(y[i], m[i]) * m[i])
                }))
            }
            Op::Gate(Gate::Sqerr { .. }) => {
                Value::Scalar(saturate(crate::gate::scalar(&values[id.0])))
            }
        };
        magnitudes.push(Some(magnitude));
    }
    Magnitudes {
        by_node: magnitudes,
    }
}

fn magnitude_of(id: NodeId, magnitudes: &[Option<Value>]) -> &Col<f64> {
    match &magnitudes[id.0] {
        Some(value) => crate::gate::vector(value),
        None => unreachable!("a vector operand"),
    }
}

/// How many units of `ε·magnitude` a value's round-off may reach, for the sigmoid's slope.
const UNCERTAINTY_UNITS: f64 = 64.0;

/// The steepest slope of σ within the round-off of `y` (whose magnitude is `magnitude`):
/// an input that is pure round-off (a sum that cancelled) can put σ anywhere.
pub fn slope_within_roundoff(y: f64, magnitude: f64) -> f64 {
    let nearest = (y.abs() - UNCERTAINTY_UNITS * f64::EPSILON * magnitude).max(0.0);
    sigmoid(nearest) * sigmoid(-nearest)
}

/// The factor a sigmoid applies to the bound of a difference or tangent through it:
/// σ(y), because engines compute the slope as o(1 − o) from a rounded o, whose absolute
/// error is of order ε·o however small 1 − o is (or the steepest slope within the round-off
/// of y, when that is larger); plus |σ''|·|y|'s magnitude, because the slope itself is taken
/// at a y that carries round-off of order ε·magnitude, which moves it by |σ''| times that
/// (found by cargo fuzz: an input of −20.2 computed from terms near 7e8 left 4e-8 of the
/// gradient to the rounding of y; `cases/findings/rounded-sigmoid-slope.yaml`).
pub fn sigmoid_bound_factor(y: f64, magnitude: f64) -> f64 {
    sigmoid_bound_factor_from((-y.abs()).exp(), y, magnitude)
}

/// [`sigmoid_bound_factor`] from `e = e^(−|y|)`, which the caller already has.
pub fn sigmoid_bound_factor_from(e: f64, y: f64, magnitude: f64) -> f64 {
    let uncertainty = UNCERTAINTY_UNITS * f64::EPSILON * magnitude;
    let nearest = (y.abs() - uncertainty).max(0.0);
    if uncertainty > 1e-3 {
        return sigmoid(y).max(slope_within_roundoff(y, magnitude))
            + curvature_near(nearest) * magnitude;
    }
    // The common case, from `e` alone: σ' and |σ''| at |y| − δ exceed their values at |y| by
    // a factor of at most e^(2δ) < 1 + 3δ for δ ≤ 1e-3 (σ' falls with |y| at a relative
    // rate of at most 1, |σ''| beyond its peak at most 1.16); up to the peak, |σ''| is
    // bounded by its largest value.
    let (big, small) = (1.0 / (1.0 + e), e / (1.0 + e));
    let widen = 1.0 + 3.0 * uncertainty;
    let value = if y >= 0.0 { big } else { small };
    let curvature = if nearest <= PEAK {
        LARGEST_CURVATURE
    } else {
        big * small * (big - small) * widen
    };
    value.max(big * small * widen) + curvature * magnitude
}

/// `√3/18`, the largest |σ''| (at `|y| = ln(2 + √3)`), rounded up.
const LARGEST_CURVATURE: f64 = 0.096_225_044_864_937_64;

/// Where |σ''| peaks: `ln(2 + √3)`.
const PEAK: f64 = 1.316_957_896_924_816_6;

/// The largest |σ''| at or beyond `|y| = nearest`: σ'' = σ(1 − σ)(1 − 2σ) peaks at
/// |y| = ln(2 + √3) ≈ 1.317, with |σ''| = √3/18 ≈ 0.0962.
fn curvature_near(nearest: f64) -> f64 {
    let z = nearest.max(PEAK);
    let (o, complement) = (sigmoid(z), sigmoid(-z));
    o * complement * (o - complement).abs()
}

/// Infinite magnitudes (sums of terms near 1e308) clamped to the largest finite number, so
/// that an entry a perturbation does not reach (bound 0) contributes 0, not 0·∞ = NaN.
fn saturated(mut value: Value) -> Value {
    if let Value::Vector(v) = &mut value {
        for x in v.iter_mut() {
            *x = saturate(*x);
        }
    }
    value
}

/// `x`, or the largest finite number for `+∞` and NaN (as `f64::min` treats NaN).
fn saturate(x: f64) -> f64 {
    x.min(f64::MAX)
}
