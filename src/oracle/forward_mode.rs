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
use crate::gate::{Gate, Value, sigmoid};
use crate::graph::{Graph, NodeId, Op, Values};
use crate::precision::Precision;
use crate::tolerance::{ForwardErrors, OWN_SUMMATION, curvature_max, forward_errors, slope_max};

/// The smallest subnormal: what a rounding in the subnormal range may lose.
const ETA: f64 = 5e-324;

/// The roundings of the library's logistic function relative to its value (an exponential,
/// a sum, a division).
const SIGMOID_ROUNDINGS: f64 = 4.0;

/// A value and its tangent, each with a bound on its rounding error.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Dual {
    value: f64,
    tangent: f64,
    error: f64,
    tangent_error: f64,
}

impl Dual {
    fn constant(value: f64, error: f64) -> Dual {
        Dual {
            value,
            tangent: 0.0,
            error,
            tangent_error: 0.0,
        }
    }

    fn plus(self, other: Dual) -> Dual {
        let (value, tangent) = (self.value + other.value, self.tangent + other.tangent);
        Dual {
            value,
            tangent,
            error: self.error + other.error + U * value.abs() + ETA,
            tangent_error: self.tangent_error + other.tangent_error + U * tangent.abs() + ETA,
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
        }
    }

    fn sigmoid(self) -> Dual {
        let (y, e) = (self.value, self.error);
        let (o, complement) = (sigmoid(y), sigmoid(-y));
        let tangent = o * complement * self.tangent;
        let (slope, curvature) = (slope_max(y, e), curvature_max(y, e));
        Dual {
            value: o,
            tangent,
            error: slope * e + SIGMOID_ROUNDINGS * (U * o + ETA),
            // σ'(y)·t from a y off by e and a t off by its error; the slope takes two
            // sigmoids and two products.
            tangent_error: slope * self.tangent_error
                + curvature * e * self.tangent.abs()
                + 2.0 * (SIGMOID_ROUNDINGS + 1.0) * (U * tangent.abs() + ETA),
        }
    }
}

/// A node's value in dual numbers: a vector, a weight (row-major) or a loss.
#[derive(Clone, Debug)]
enum Duals {
    Scalar(Dual),
    Vector(Vec<Dual>),
    Matrix { cols: usize, entries: Vec<Dual> },
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
    let mut duals: Vec<Option<Duals>> = vec![None; graph.len()];
    let mut seeded = lift(&values[leaf.0], &[]);
    let seed = match &mut seeded {
        Duals::Vector(v) => &mut v[entry],
        Duals::Matrix { entries, .. } => &mut entries[entry],
        Duals::Scalar(x) => x,
    };
    seed.tangent = 1.0;
    duals[leaf.0] = Some(seeded);
    let mut loss = Dual::constant(0.0, 0.0);
    for node in graph.downstream(leaf) {
        let Op::Gate(gate) = &graph.node(node).op else {
            continue;
        };
        let value = forward(gate, values, errors, &duals);
        if let Duals::Scalar(e) = &value {
            loss = loss.plus(*e);
        }
        duals[node.0] = Some(value);
    }
    (loss.tangent, loss.tangent_error)
}

/// A forward value as constants, each with its error bound (none for a weight: leaves are
/// exact).
fn lift(value: &Value, errors: &[f64]) -> Duals {
    let error = |k: usize| errors.get(k).copied().unwrap_or(0.0);
    match value {
        Value::Scalar(x) => Duals::Scalar(Dual::constant(*x, error(0))),
        Value::Vector(v) => Duals::Vector(
            v.iter()
                .enumerate()
                .map(|(k, &x)| Dual::constant(x, error(k)))
                .collect(),
        ),
        Value::Matrix(m) => Duals::Matrix {
            cols: m.ncols(),
            entries: (0..m.nrows() * m.ncols())
                .map(|k| Dual::constant(value.entry(k), 0.0))
                .collect(),
        },
    }
}

fn forward(gate: &Gate, values: &Values, errors: &ForwardErrors, duals: &[Option<Duals>]) -> Duals {
    let get = |id: NodeId| {
        duals[id.0]
            .clone()
            .unwrap_or_else(|| lift(&values[id.0], errors.of(id)))
    };
    let vector = |value: Duals| match value {
        Duals::Vector(v) => v,
        _ => unreachable!("shapes checked at build time"),
    };
    match *gate {
        // x + x = 2x is exact in binary: no rounding to bound.
        Gate::Add(a, b) if a == b => Duals::Vector(
            vector(get(a))
                .into_iter()
                .map(|x| Dual {
                    value: 2.0 * x.value,
                    tangent: 2.0 * x.tangent,
                    error: 2.0 * x.error,
                    tangent_error: 2.0 * x.tangent_error,
                })
                .collect(),
        ),
        Gate::Add(a, b) => {
            let (a, b) = (vector(get(a)), vector(get(b)));
            Duals::Vector(a.iter().zip(&b).map(|(x, y)| x.plus(*y)).collect())
        }
        Gate::Matvec { weight, vector: o } => {
            let Duals::Matrix { cols, entries } = get(weight) else {
                unreachable!("shapes checked at build time")
            };
            let o = vector(get(o));
            Duals::Vector(
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
        Gate::Sigmoid(s) => Duals::Vector(vector(get(s)).into_iter().map(Dual::sigmoid).collect()),
        Gate::Sqerr { output, target } => {
            let (o, t) = (vector(get(output)), vector(get(target)));
            let sum = o
                .iter()
                .zip(&t)
                .fold(Dual::constant(0.0, 0.0), |sum, (o, t)| {
                    let r = o.minus(*t);
                    sum.plus(r.times(r))
                });
            Duals::Scalar(sum.halved())
        }
    }
}
