//! The central difference, carried through the graph without cancellation.
//!
//! For a perturbation of one leaf entry from `θ − h` to `θ + h`, every node in the leaf's
//! downstream cone is evaluated at `θ − h` (its *minus* value) together with its difference
//! `v(θ+h) − v(θ−h)`, computed by exact algebra rather than by subtracting two values:
//!
//! - `add`: `d(a + b) = da + db`;
//! - `matvec`: `d(W o) = W⁻ do + dW o⁻ + dW do`;
//! - `sigmoid`: `σ(y + d) − σ(y) = σ(y + d) · σ(−y) · (−expm1(−d))`;
//! - `sqerr`: `½‖r + dr‖² − ½‖r‖² = ½ Σ dr (2r + dr)`, with `r = o − t`, `dr = do − dt`.
//!
//! The numeric derivative is `Σ (loss differences) / (θ₊ − θ₋)`. It is a true central
//! difference of the forward function (no linearisation), only computed without the
//! catastrophic cancellation of `E(θ+h) − E(θ−h)`. Alongside, each difference carries a
//! *bound*: the same rules applied to magnitudes, which bounds the sum of the magnitudes of
//! the terms the derivative is made of, the scale of its round-off.
//!
//! The bound also accounts for the round-off already in the forward values it multiplies:
//! wherever a forward value enters (the `o` of `dW o`, the residual `r` of `sqerr`), its
//! *magnitude* is used, the same forward pass on absolute values (`|W|·|o|` for `W o`,
//! `|o| + |t|` for `o − t`), since a value computed by cancellation, like a residual that is
//! nearly zero, carries an absolute error of order `ε` times its magnitude, not its value.
//!
//! Nodes outside the cone keep their values and have difference zero, so only the cone is
//! evaluated, and only the losses in it are summed.

use super::{Estimate, RELATIVE_STEP};
use crate::gate::{Gate, Value, sigmoid};
use crate::graph::{Graph, NodeId, Op};
use faer::Col;

/// A node at `θ − h`, with its difference and the bound on the difference's terms.
#[derive(Clone, Debug)]
struct Perturbed {
    minus: Value,
    difference: Value,
    bound: Value,
}

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
                // σ is computed to a few ulps of itself, plus the input's round-off times σ'.
                let y = crate::gate::vector(&values[s.0]);
                let m = vector(*s, &magnitudes);
                Value::Vector(Col::from_fn(y.nrows(), |i| {
                    sigmoid(y[i]) + sigmoid(y[i]) * sigmoid(-y[i]) * m[i]
                }))
            }
            Op::Gate(Gate::Sqerr { .. }) => Value::Scalar(crate::gate::scalar(&values[id.0])),
        };
        magnitudes.push(saturated(magnitude));
    }
    magnitudes
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

/// The primary oracle for every entry of one leaf; `magnitudes` from [`magnitudes`].
pub fn leaf_estimates(
    graph: &Graph,
    values: &[Value],
    magnitudes: &[Value],
    leaf: NodeId,
) -> Vec<Estimate> {
    let cone = graph.downstream(leaf);
    let reaches_loss = cone.iter().any(|&n| graph.is_loss(n));
    let mut state: Vec<Option<Perturbed>> = vec![None; graph.len()];
    (0..values[leaf.0].len())
        .map(|entry| {
            if !reaches_loss {
                // No loss depends on this leaf: E is constant in it, exactly.
                return Estimate {
                    derivative: 0.0,
                    truncation: 0.0,
                    scale: 0.0,
                    depth: 0,
                };
            }
            let theta = values[leaf.0].entry(entry);
            let h = RELATIVE_STEP * theta.abs().max(1.0);
            let (at_h, scale) =
                central(graph, values, magnitudes, leaf, &cone, entry, h, &mut state);
            let (at_2h, _) = central(
                graph,
                values,
                magnitudes,
                leaf,
                &cone,
                entry,
                2.0 * h,
                &mut state,
            );
            Estimate {
                derivative: at_h,
                truncation: (at_h - at_2h).abs(),
                scale,
                depth: cone.len(),
            }
        })
        .collect()
}

/// The central difference at step `h` for one entry, and its contribution scale.
#[allow(clippy::too_many_arguments)]
fn central(
    graph: &Graph,
    values: &[Value],
    magnitudes: &[Value],
    leaf: NodeId,
    cone: &[NodeId],
    entry: usize,
    h: f64,
    state: &mut [Option<Perturbed>],
) -> (f64, f64) {
    let theta = values[leaf.0].entry(entry);
    let (up, down) = (theta + h, theta - h);
    let step = up - down; // the step actually taken, after rounding
    let mut minus = values[leaf.0].clone();
    *minus.entry_mut(entry) = down;
    let mut difference = values[leaf.0].zeros_like();
    *difference.entry_mut(entry) = step;
    let mut bound = difference.zeros_like();
    *bound.entry_mut(entry) = step.abs();
    state[leaf.0] = Some(Perturbed {
        minus,
        difference,
        bound,
    });
    let (mut loss_difference, mut loss_bound) = (0.0, 0.0);
    for &node in cone {
        let Op::Gate(gate) = &graph.node(node).op else {
            continue;
        };
        let perturbed = propagate(gate, values, magnitudes, state);
        if let (Value::Scalar(d), Value::Scalar(b)) = (&perturbed.difference, &perturbed.bound) {
            loss_difference += d;
            loss_bound += b;
        }
        state[node.0] = Some(perturbed);
    }
    state[leaf.0] = None;
    for &node in cone {
        state[node.0] = None;
    }
    (loss_difference / step, loss_bound / step.abs())
}

/// An operand's minus value, difference and bound (zero difference outside the cone).
fn operand<'s>(
    values: &'s [Value],
    state: &'s [Option<Perturbed>],
    id: NodeId,
) -> (&'s Value, Option<(&'s Value, &'s Value)>) {
    match &state[id.0] {
        Some(p) => (&p.minus, Some((&p.difference, &p.bound))),
        None => (&values[id.0], None),
    }
}

/// The difference rules of the four gates.
fn propagate(
    gate: &Gate,
    values: &[Value],
    magnitudes: &[Value],
    state: &[Option<Perturbed>],
) -> Perturbed {
    let vector = crate::gate::vector;
    let matrix = crate::gate::matrix;
    match *gate {
        Gate::Add(a, b) => {
            let (a_minus, a_diff) = operand(values, state, a);
            let (b_minus, b_diff) = operand(values, state, b);
            let n = vector(a_minus).nrows();
            let zero = Col::zeros(n);
            let diff = |d: Option<(&Value, &Value)>, bound: bool| -> Col<f64> {
                d.map_or_else(
                    || zero.clone(),
                    |(d, b)| vector(if bound { b } else { d }).clone(),
                )
            };
            Perturbed {
                minus: Value::Vector(vector(a_minus) + vector(b_minus)),
                difference: Value::Vector(diff(a_diff, false) + diff(b_diff, false)),
                bound: Value::Vector(diff(a_diff, true) + diff(b_diff, true)),
            }
        }
        Gate::Matvec { weight, vector: o } => {
            let (w_minus, w_diff) = operand(values, state, weight);
            let (o_minus, o_diff) = operand(values, state, o);
            let (w, x) = (matrix(w_minus), vector(o_minus));
            let mut difference = Col::<f64>::zeros(w.nrows());
            let mut bound = Col::<f64>::zeros(w.nrows());
            let abs_w = w.map(|v| v.abs());
            let abs_x = vector(&magnitudes[o.0]);
            if let Some((dx, bx)) = o_diff {
                difference += w * vector(dx);
                bound += &abs_w * vector(bx);
            }
            if let Some((dw, bw)) = w_diff {
                difference += matrix(dw) * x;
                bound += matrix(bw) * abs_x;
                if let Some((dx, bx)) = o_diff {
                    difference += matrix(dw) * vector(dx);
                    bound += matrix(bw) * vector(bx);
                }
            }
            Perturbed {
                minus: Value::Vector(w * x),
                difference: Value::Vector(difference),
                bound: Value::Vector(bound),
            }
        }
        Gate::Sigmoid(s) => {
            let (s_minus, s_diff) = operand(values, state, s);
            let y = vector(s_minus);
            let (dy, by) = s_diff
                .map(|(d, b)| (vector(d), vector(b)))
                .expect("a gate in the cone has a perturbed operand");
            let difference = Col::from_fn(y.nrows(), |i| {
                sigmoid(y[i] + dy[i]) * sigmoid(-y[i]) * -(-dy[i]).exp_m1()
            });
            // The bound's local factor is σ(y), not the slope σ(y)σ(−y): engines compute the
            // slope as o(1 − o) from a rounded o, whose absolute error is of order ε·o, so a
            // saturated sigmoid (o ≈ 1) leaves round-off of order ε·o however small 1 − o is.
            let bound = Col::from_fn(y.nrows(), |i| sigmoid(y[i]) * by[i]);
            Perturbed {
                minus: Value::Vector(y.map(|&v| sigmoid(v))),
                difference: Value::Vector(difference),
                bound: Value::Vector(bound),
            }
        }
        Gate::Sqerr { output, target } => {
            let (o_minus, o_diff) = operand(values, state, output);
            let (t_minus, t_diff) = operand(values, state, target);
            let residual = vector(o_minus) - vector(t_minus);
            let n = residual.nrows();
            let part = |d: Option<(&Value, &Value)>, bound: bool| -> Col<f64> {
                d.map_or_else(
                    || Col::zeros(n),
                    |(d, b)| vector(if bound { b } else { d }).clone(),
                )
            };
            let d_residual = part(o_diff, false) - part(t_diff, false);
            let b_residual = part(o_diff, true) + part(t_diff, true);
            // The residual's round-off is of order ε·(|o| + |t|) in magnitude, however small
            // the residual itself: a nearly met target is a cancellation.
            let residual_magnitude = vector(&magnitudes[output.0]) + vector(&magnitudes[target.0]);
            let (mut difference, mut bound) = (0.0, 0.0);
            for i in 0..n {
                difference += 0.5 * d_residual[i] * (2.0 * residual[i] + d_residual[i]);
                bound += 0.5 * b_residual[i] * (2.0 * residual_magnitude[i] + b_residual[i]);
            }
            Perturbed {
                minus: Value::Scalar(0.5 * residual.squared_norm_l2()),
                difference: Value::Scalar(difference),
                bound: Value::Scalar(bound),
            }
        }
    }
}
