//! The second oracle: forward-mode differentiation with dual numbers.
//!
//! Every value carries a tangent, `v + v'·ε` with `ε² = 0`, and the leaf entry being
//! differentiated is seeded with tangent 1; the loss's tangent is then `dE/dθ`, exact up to
//! round-off, with no step at all: nothing to truncate, and nothing to underflow when the
//! perturbation meets tiny weights (a step-based method, the complex step included, loses a
//! derivative entirely once `step × weight` falls below the smallest number; fuzzing found
//! such a graph, `cases/findings/underflow-subnormal-weight.yaml`).
//!
//! The rules here are forward (tangent) rules written out for this oracle alone; it shares
//! no code with the gate rules beyond the graph and the logistic function.

use super::base::{sigmoid_bound_factor, slope_within_roundoff};
use crate::gate::{Gate, Value, sigmoid};
use crate::graph::{Graph, NodeId, Op, Values};

/// A value, its tangent, the magnitude of the value (the forward pass on absolute values)
/// and a bound on the magnitudes of the terms the tangent is made of (the same rules on
/// absolute values), whose `ε` multiple is the tangent's round-off.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Dual {
    value: f64,
    tangent: f64,
    magnitude: f64,
    bound: f64,
}

impl Dual {
    fn constant(value: f64) -> Dual {
        Dual {
            value,
            tangent: 0.0,
            magnitude: value.abs(),
            bound: 0.0,
        }
    }

    fn plus(self, other: Dual) -> Dual {
        Dual {
            value: self.value + other.value,
            tangent: self.tangent + other.tangent,
            magnitude: self.magnitude + other.magnitude,
            bound: self.bound + other.bound,
        }
    }

    fn minus(self, other: Dual) -> Dual {
        Dual {
            value: self.value - other.value,
            tangent: self.tangent - other.tangent,
            magnitude: self.magnitude + other.magnitude,
            bound: self.bound + other.bound,
        }
    }

    fn times(self, other: Dual) -> Dual {
        Dual {
            value: self.value * other.value,
            tangent: self.tangent * other.value + self.value * other.tangent,
            magnitude: self.magnitude * other.magnitude,
            bound: self.bound * other.magnitude + self.magnitude * other.bound,
        }
    }

    /// Times a constant, without a `value × 0` cross term (which is NaN for an overflowed
    /// value even when the tangent is finite).
    fn scaled(self, factor: f64) -> Dual {
        Dual {
            value: self.value * factor,
            tangent: self.tangent * factor,
            magnitude: self.magnitude * factor.abs(),
            bound: self.bound * factor.abs(),
        }
    }

    fn sigmoid(self) -> Dual {
        let (o, complement) = (sigmoid(self.value), sigmoid(-self.value));
        Dual {
            value: o,
            tangent: o * complement * self.tangent,
            magnitude: o + slope_within_roundoff(self.value, self.magnitude) * self.magnitude,
            bound: sigmoid_bound_factor(self.value, self.magnitude) * self.bound,
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
/// and the contribution scale of that derivative.
pub fn derivative(graph: &Graph, values: &Values, leaf: NodeId, entry: usize) -> (f64, f64) {
    let mut duals: Vec<Option<Duals>> = vec![None; graph.len()];
    let mut seeded = lift(&values[leaf.0]);
    let seed = match &mut seeded {
        Duals::Vector(v) => &mut v[entry],
        Duals::Matrix { entries, .. } => &mut entries[entry],
        Duals::Scalar(x) => x,
    };
    (seed.tangent, seed.bound) = (1.0, 1.0);
    duals[leaf.0] = Some(seeded);
    let (mut loss, mut scale) = (0.0, 0.0);
    for node in graph.downstream(leaf) {
        let Op::Gate(gate) = &graph.node(node).op else {
            continue;
        };
        let value = forward(gate, values, &duals);
        if let Duals::Scalar(e) = &value {
            loss += e.tangent;
            scale += e.bound;
        }
        duals[node.0] = Some(value);
    }
    (loss, scale)
}

fn lift(value: &Value) -> Duals {
    match value {
        Value::Scalar(x) => Duals::Scalar(Dual::constant(*x)),
        Value::Vector(v) => Duals::Vector(v.iter().map(|&x| Dual::constant(x)).collect()),
        Value::Matrix(m) => Duals::Matrix {
            cols: m.ncols(),
            entries: (0..m.nrows() * m.ncols())
                .map(|k| Dual::constant(value.entry(k)))
                .collect(),
        },
    }
}

fn forward(gate: &Gate, values: &Values, duals: &[Option<Duals>]) -> Duals {
    let get = |id: NodeId| duals[id.0].clone().unwrap_or_else(|| lift(&values[id.0]));
    let vector = |value: Duals| match value {
        Duals::Vector(v) => v,
        _ => unreachable!("shapes checked at build time"),
    };
    match *gate {
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
                            .fold(Dual::constant(0.0), |sum, (w, x)| sum.plus(w.times(*x)))
                    })
                    .collect(),
            )
        }
        Gate::Sigmoid(s) => Duals::Vector(vector(get(s)).into_iter().map(Dual::sigmoid).collect()),
        Gate::Sqerr { output, target } => {
            let (o, t) = (vector(get(output)), vector(get(target)));
            let sum = o.iter().zip(&t).fold(Dual::constant(0.0), |sum, (o, t)| {
                let r = o.minus(*t);
                sum.plus(r.times(r))
            });
            Duals::Scalar(sum.scaled(0.5))
        }
    }
}
