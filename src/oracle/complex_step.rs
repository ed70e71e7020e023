//! The complex-step derivative: `dE/dθ = Im E(θ + i·h) / h + O(h²)`.
//!
//! All four gates are analytic, so evaluating the forward pass in complex arithmetic with a
//! tiny imaginary step gives the derivative without any subtraction: its only error is
//! round-off of order `ε` times the contribution scale, and truncation of order `h²` with
//! `h = 1e-20·max(|θ|, 1)`, far below it. `sqerr` is `½ Σ (o − t)²` without conjugation,
//! which keeps it analytic. The forward rules here are written out again for complex
//! numbers on purpose: this oracle shares no code with the gate rules beyond the graph.

use crate::gate::Gate;
use crate::gate::Value;
use crate::graph::{Graph, NodeId, Op};
use faer::c64;

/// The relative imaginary step.
pub const RELATIVE_STEP: f64 = 1e-20;

/// A node's value in complex arithmetic.
#[derive(Clone, Debug)]
enum Complex {
    Scalar(c64),
    Vector(Vec<c64>),
    Matrix { cols: usize, entries: Vec<c64> },
}

/// The complex-step derivative of the loss with respect to entry `entry` of `leaf`.
pub fn derivative(graph: &Graph, values: &[Value], leaf: NodeId, entry: usize) -> f64 {
    let cone = graph.downstream(leaf);
    let theta = values[leaf.0].entry(entry);
    let h = RELATIVE_STEP * theta.abs().max(1.0);
    let mut complex: Vec<Option<Complex>> = vec![None; graph.len()];
    let mut perturbed = lift(&values[leaf.0]);
    match &mut perturbed {
        Complex::Vector(v) => v[entry].im = h,
        Complex::Matrix { entries, .. } => entries[entry].im = h,
        Complex::Scalar(x) => x.im = h,
    }
    complex[leaf.0] = Some(perturbed);
    let mut loss = 0.0;
    for &node in &cone {
        let Op::Gate(gate) = &graph.node(node).op else {
            continue;
        };
        let value = forward(gate, values, &complex);
        if let Complex::Scalar(e) = &value {
            loss += e.im;
        }
        complex[node.0] = Some(value);
    }
    loss / h
}

fn lift(value: &Value) -> Complex {
    match value {
        Value::Scalar(x) => Complex::Scalar(c64::new(*x, 0.0)),
        Value::Vector(v) => Complex::Vector(v.iter().map(|&x| c64::new(x, 0.0)).collect()),
        Value::Matrix(m) => Complex::Matrix {
            cols: m.ncols(),
            entries: (0..m.nrows() * m.ncols())
                .map(|k| c64::new(value.entry(k), 0.0))
                .collect(),
        },
    }
}

fn forward(gate: &Gate, values: &[Value], complex: &[Option<Complex>]) -> Complex {
    let get = |id: NodeId| complex[id.0].clone().unwrap_or_else(|| lift(&values[id.0]));
    let as_vector = |value: Complex| match value {
        Complex::Vector(v) => v,
        _ => unreachable!("shapes checked at build time"),
    };
    match *gate {
        Gate::Add(a, b) => {
            let (a, b) = (as_vector(get(a)), as_vector(get(b)));
            Complex::Vector(a.iter().zip(&b).map(|(x, y)| x + y).collect())
        }
        Gate::Matvec { weight, vector } => {
            let Complex::Matrix { cols, entries } = get(weight) else {
                unreachable!("shapes checked at build time")
            };
            let o = as_vector(get(vector));
            Complex::Vector(
                entries
                    .chunks(cols)
                    .map(|row| row.iter().zip(&o).map(|(w, x)| w * x).sum())
                    .collect(),
            )
        }
        Gate::Sigmoid(s) => Complex::Vector(as_vector(get(s)).into_iter().map(sigmoid).collect()),
        Gate::Sqerr { output, target } => {
            let (o, t) = (as_vector(get(output)), as_vector(get(target)));
            let half_sum: c64 = o.iter().zip(&t).map(|(o, t)| (o - t) * (o - t)).sum();
            Complex::Scalar(half_sum * 0.5)
        }
    }
}

/// The logistic function of a complex number, with the exponent's real part never positive.
fn sigmoid(z: c64) -> c64 {
    let one = c64::new(1.0, 0.0);
    if z.re >= 0.0 {
        one / (one + (-z).exp())
    } else {
        let e = z.exp();
        e / (one + e)
    }
}
