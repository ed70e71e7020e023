//! The central difference, carried through the graph without cancellation.
//!
//! For a perturbation of one leaf entry from `θ − h` to `θ + h`, every node in the leaf's
//! downstream cone is evaluated at `θ − h` (its *minus* value) together with its difference
//! `v(θ+h) − v(θ−h)`, computed by exact algebra rather than by subtracting two values (the
//! rules are in [`super::delta`]). The numeric derivative is
//! `Σ (loss differences) / (θ₊ − θ₋)`: a true central difference of the forward function
//! (no linearisation), only computed without the catastrophic cancellation of
//! `E(θ+h) − E(θ−h)`. Alongside, each difference carries a *bound*: the same rules applied to
//! magnitudes, which bounds the sum of the magnitudes of the terms the derivative is made of,
//! the scale of its round-off.
//!
//! The bound also accounts for the round-off already in the forward values it multiplies:
//! wherever a forward value enters (the `o` of `dW o`, the residual `r` of `sqerr`), its
//! *magnitude* is used, the same forward pass on absolute values (`|W|·|o|` for `W o`,
//! `|o| + |t|` for `o − t`), since a value computed by cancellation, like a residual that is
//! nearly zero, carries an absolute error of order `ε` times its magnitude, not its value.
//!
//! Only the perturbed leaf's downstream cone is evaluated, only the entries a perturbation
//! changes are computed (see [`super::delta`]), and only the losses in the cone are summed.

use super::delta::Workspace;
use super::{Estimate, RELATIVE_STEP};
use crate::gate::{Gate, Value, sigmoid};
use crate::graph::{Graph, NodeId, Op};
use faer::Col;
use std::ops::Range;

/// The magnitude of every node's value: the forward pass on absolute values, which bounds
/// the absolute round-off of the value by a small multiple of `ε` times it.
pub fn magnitudes(graph: &Graph, values: &[Value]) -> Vec<Value> {
    let mut magnitudes: Vec<Value> = Vec::with_capacity(graph.len());
    for id in graph.ids() {
        let vector =
            |id: NodeId, magnitudes: &[Value]| crate::gate::vector(&magnitudes[id.0]).clone();
        let magnitude = match &graph.node(id).op {
            Op::Leaf(_, Value::Vector(v)) => Value::Vector(v.map(|x| x.abs())),
            Op::Leaf(_, Value::Matrix(m)) => Value::Matrix(m.map(|x| x.abs())),
            Op::Leaf(_, Value::Scalar(x)) => Value::Scalar(x.abs()),
            Op::Gate(Gate::Add(a, b)) => {
                Value::Vector(vector(*a, &magnitudes) + vector(*b, &magnitudes))
            }
            Op::Gate(Gate::Matvec { weight, vector: o }) => {
                Value::Vector(crate::gate::matrix(&magnitudes[weight.0]) * vector(*o, &magnitudes))
            }
            Op::Gate(Gate::Sigmoid(s)) => {
                // σ is computed to a few ulps of itself, plus the input's round-off times the
                // steepest slope within that round-off of y: an input that is pure round-off
                // (a sum that cancelled) can put σ anywhere, which the slope at y alone
                // (zero, for a saturated sigmoid) would hide.
                let y = crate::gate::vector(&values[s.0]);
                let m = vector(*s, &magnitudes);
                Value::Vector(Col::from_fn(y.nrows(), |i| {
                    sigmoid(y[i]) + slope_within_roundoff(y[i], m[i]) * m[i]
                }))
            }
            Op::Gate(Gate::Sqerr { .. }) => Value::Scalar(crate::gate::scalar(&values[id.0])),
        };
        magnitudes.push(saturated(magnitude));
    }
    magnitudes
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
    let uncertainty = UNCERTAINTY_UNITS * f64::EPSILON * magnitude;
    let nearest = (y.abs() - uncertainty).max(0.0);
    if uncertainty > 1e-3 || nearest <= PEAK {
        return sigmoid(y).max(slope_within_roundoff(y, magnitude))
            + curvature_near(nearest) * magnitude;
    }
    // The common case, from one exponential: beyond the peak, σ' and |σ''| at |y| − δ exceed
    // their values at |y| by a factor of at most e^(2δ) < 1 + 3δ for δ ≤ 1e-3.
    let e = (-y.abs()).exp();
    let (big, small) = (1.0 / (1.0 + e), e / (1.0 + e));
    let widen = 1.0 + 3.0 * uncertainty;
    let value = if y >= 0.0 { big } else { small };
    value.max(big * small * widen) + big * small * (big - small) * widen * magnitude
}

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
fn saturated(value: Value) -> Value {
    match value {
        Value::Scalar(x) => Value::Scalar(x.min(f64::MAX)),
        Value::Vector(v) => Value::Vector(v.map(|x| x.min(f64::MAX))),
        Value::Matrix(m) => Value::Matrix(m.map(|x| x.min(f64::MAX))),
    }
}

/// The primary oracle for a range of entries of one leaf; `magnitudes` from [`magnitudes`].
pub fn leaf_estimates(
    graph: &Graph,
    values: &[Value],
    magnitudes: &[Value],
    leaf: NodeId,
    entries: Range<usize>,
    workspace: &mut Workspace,
) -> Vec<Estimate> {
    let cone = graph.downstream(leaf);
    if !cone.iter().any(|&n| graph.is_loss(n)) {
        // No loss depends on this leaf: E is constant in it, exactly.
        let zero = Estimate {
            derivative: 0.0,
            truncation: 0.0,
            scale: 0.0,
            depth: 0,
        };
        return vec![zero; entries.len()];
    }
    let gates: Vec<(NodeId, &Gate)> = cone
        .iter()
        .filter_map(|&id| graph.gate(id).map(|g| (id, g)))
        .collect();
    let perturbation = Perturbation {
        values,
        magnitudes,
        leaf,
        gates: &gates,
    };
    entries
        .map(|entry| {
            let theta = values[leaf.0].entry(entry);
            let h = RELATIVE_STEP * theta.abs().max(1.0);
            let (at_h, scale) = perturbation.central(entry, h, workspace);
            let (at_2h, _) = perturbation.central(entry, 2.0 * h, workspace);
            Estimate {
                derivative: at_h,
                truncation: (at_h - at_2h).abs(),
                scale,
                depth: cone.len(),
            }
        })
        .collect()
}

/// One leaf's perturbations and the gates they reach, in order.
struct Perturbation<'a> {
    values: &'a [Value],
    magnitudes: &'a [Value],
    leaf: NodeId,
    gates: &'a [(NodeId, &'a Gate)],
}

impl Perturbation<'_> {
    /// The central difference at step `h` for one entry, and its contribution scale.
    fn central(&self, entry: usize, h: f64, workspace: &mut Workspace) -> (f64, f64) {
        let theta = self.values[self.leaf.0].entry(entry);
        let (up, down) = (theta + h, theta - h);
        let step = up - down; // the step actually taken, after rounding
        workspace.leaf(self.leaf).set_single(entry, down, step);
        let (mut loss_difference, mut loss_bound) = (0.0, 0.0);
        for &(id, gate) in self.gates {
            if let Some((difference, bound)) =
                workspace.propagate(id, gate, self.values, self.magnitudes)
            {
                loss_difference += difference;
                loss_bound += bound;
            }
        }
        workspace.reset(std::iter::once(self.leaf).chain(self.gates.iter().map(|&(id, _)| id)));
        (loss_difference / step, loss_bound / step.abs())
    }
}
