//! The four gates: every forward and backward rule of gradfuzz, side by side.
//!
//! This file is all the calculus there is. Each rule is one arm of a `match` over the
//! closed [`Gate`] enum, so a new gate does not compile until it has both a forward and a
//! backward rule. A backward rule returns one [`Partial`] per operand and never touches a
//! gradient store: summing partials at fan-out is the engine's job, done in one place.

use crate::precision::Precision;
use crate::value::NodeId;
// Values are the gates' operands and results; re-exported here, where the rules that make
// them are.
pub use crate::value::{Value, matrix, scalar, vector};

/// A gate and its operands, as node ids of earlier nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gate {
    /// `a + b`.
    Add(NodeId, NodeId),
    /// `s = W o`, with `W` a weight leaf (m×n) and `o` a vector of length n.
    Matvec { weight: NodeId, vector: NodeId },
    /// `σ(s) = 1 / (1 + e^(−s))`, elementwise.
    Sigmoid(NodeId),
    /// `½‖o − t‖²`, a scalar loss term.
    Sqerr { output: NodeId, target: NodeId },
}

/// The gradient a backward rule sends to one operand.
#[derive(Clone, Debug, PartialEq)]
pub struct Partial {
    pub operand: NodeId,
    pub gradient: Value,
}

/// The kinds of gate, for reports and blame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GateKind {
    Add,
    Matvec,
    Sigmoid,
    Sqerr,
}

impl GateKind {
    pub fn name(self) -> &'static str {
        match self {
            GateKind::Add => "add",
            GateKind::Matvec => "matvec",
            GateKind::Sigmoid => "sigmoid",
            GateKind::Sqerr => "sqerr",
        }
    }
}

impl Gate {
    pub fn kind(&self) -> GateKind {
        match self {
            Gate::Add(..) => GateKind::Add,
            Gate::Matvec { .. } => GateKind::Matvec,
            Gate::Sigmoid(..) => GateKind::Sigmoid,
            Gate::Sqerr { .. } => GateKind::Sqerr,
        }
    }

    /// The operands in their written order (`add: [a, b]`, `matvec: [W, o]`, `sqerr: [o, t]`).
    pub fn operands(&self) -> Operands {
        match *self {
            Gate::Add(a, b) => Operands::two(a, b),
            Gate::Matvec { weight, vector } => Operands::two(weight, vector),
            Gate::Sigmoid(s) => Operands::one(s),
            Gate::Sqerr { output, target } => Operands::two(output, target),
        }
    }

    /// The same gate with its operands renamed (used when nodes are renumbered).
    pub fn map_operands(&self, mut rename: impl FnMut(NodeId) -> NodeId) -> Gate {
        match *self {
            Gate::Add(a, b) => Gate::Add(rename(a), rename(b)),
            Gate::Matvec { weight, vector } => Gate::Matvec {
                weight: rename(weight),
                vector: rename(vector),
            },
            Gate::Sigmoid(s) => Gate::Sigmoid(rename(s)),
            Gate::Sqerr { output, target } => Gate::Sqerr {
                output: rename(output),
                target: rename(target),
            },
        }
    }

    /// The forward rule in `f64`. `value_of` returns the value of an earlier node; shapes
    /// were checked when the graph was built, so a shape error here is a bug in the graph
    /// builder.
    pub fn forward<'v>(&self, value_of: impl Fn(NodeId) -> &'v Value) -> Value {
        self.forward_in(Precision::F64, value_of)
    }

    /// The forward rule with every operation in `precision`.
    pub fn forward_in<'v>(
        &self,
        precision: Precision,
        value_of: impl Fn(NodeId) -> &'v Value,
    ) -> Value {
        match *self {
            Gate::Add(a, b) => {
                Value::Vector(precision.add(vector(value_of(a)), vector(value_of(b))))
            }
            Gate::Matvec { weight, vector: o } => {
                Value::Vector(precision.matvec(matrix(value_of(weight)), vector(value_of(o))))
            }
            Gate::Sigmoid(s) => Value::Vector(vector(value_of(s)).map(|&s| precision.sigmoid(s))),
            Gate::Sqerr { output, target } => {
                let residual = precision.sub(vector(value_of(output)), vector(value_of(target)));
                Value::Scalar(precision.half_sum_of_squares(&residual))
            }
        }
    }

    /// The backward rule in `f64`: given the upstream gradient `dE/d(this gate's output)`,
    /// the partial gradient for each operand, in operand order. `output` is this gate's
    /// forward value.
    pub fn backward<'v>(
        &self,
        value_of: impl Fn(NodeId) -> &'v Value,
        output: &Value,
        upstream: &Value,
    ) -> Vec<Partial> {
        self.backward_in(Precision::F64, value_of, output, upstream)
    }

    /// The backward rule with every operation in `precision`.
    pub fn backward_in<'v>(
        &self,
        precision: Precision,
        value_of: impl Fn(NodeId) -> &'v Value,
        output: &Value,
        upstream: &Value,
    ) -> Vec<Partial> {
        match *self {
            // c = a + b: the Jacobian with respect to either operand is the identity.
            Gate::Add(a, b) => vec![
                Partial::new(a, upstream.clone()),
                Partial::new(b, upstream.clone()),
            ],
            // s = W o: ds/do = W, so dE/do = Wᵀ g; ds_j/dW[j,i] = o_i, so dE/dW = g ⊗ o.
            Gate::Matvec { weight, vector: o } => {
                let g = vector(upstream);
                let w = matrix(value_of(weight));
                vec![
                    Partial::new(
                        weight,
                        Value::Matrix(precision.outer(g, vector(value_of(o)))),
                    ),
                    Partial::new(o, Value::Vector(precision.matvec_transposed(w, g))),
                ]
            }
            // o = σ(s): the Jacobian is diagonal with σ'(s_i) = o_i (1 − o_i), taken from the
            // output, which is both cheaper and what the lecture's rule says.
            Gate::Sigmoid(s) => {
                let local = precision.sigmoid_slope_times(vector(upstream), vector(output));
                vec![Partial::new(s, Value::Vector(local))]
            }
            // E = ½‖o − t‖²: dE/do = (o − t), dE/dt = (t − o), both times the upstream scalar.
            Gate::Sqerr { output, target } => {
                let g = scalar(upstream);
                let residual = precision.sub(vector(value_of(output)), vector(value_of(target)));
                vec![
                    Partial::new(output, Value::Vector(precision.scale(&residual, g))),
                    Partial::new(target, Value::Vector(precision.scale(&residual, -g))),
                ]
            }
        }
    }
}

impl Partial {
    pub fn new(operand: NodeId, gradient: Value) -> Self {
        Partial { operand, gradient }
    }
}

/// Up to two operand ids, usable as a slice.
#[derive(Clone, Copy, Debug)]
pub struct Operands {
    ids: [NodeId; 2],
    len: usize,
}

impl Operands {
    fn one(a: NodeId) -> Self {
        Operands {
            ids: [a, a],
            len: 1,
        }
    }
    fn two(a: NodeId, b: NodeId) -> Self {
        Operands {
            ids: [a, b],
            len: 2,
        }
    }
}

impl std::ops::Deref for Operands {
    type Target = [NodeId];
    fn deref(&self) -> &[NodeId] {
        &self.ids[..self.len]
    }
}

/// The logistic function, written so that neither branch overflows: for very negative `s`,
/// `e^(−s)` would be infinite, so the algebraically equal `e^s / (1 + e^s)` is used.
pub fn sigmoid(s: f64) -> f64 {
    if s >= 0.0 {
        1.0 / (1.0 + (-s).exp())
    } else {
        let e = s.exp();
        e / (1.0 + e)
    }
}
