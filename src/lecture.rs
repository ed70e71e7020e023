//! The four gates of the lecture (SPEC §1) as the types an engine written for them reads:
//! `match &node.op { Op::Leaf(..) => …, Op::Gate(Gate::Add(a, b)) => …, … }`. These types are
//! kept exactly as they were before the later gates arrived, so that such an engine compiles
//! and runs unchanged; gradfuzz itself works on [`Operation`], the form every gate has, and
//! hands an engine only graphs of the gates it declares ([`crate::engine::Engine::gates`]).
//!
//! A graph shows itself in these types through [`crate::graph::Graph::nodes`]. A node of a
//! later gate has no such view: there its `op` is [`Op::NOT_A_LECTURE_GATE`], a constant no
//! graph holds otherwise, and [`crate::graph::Graph::operation`] says what it is.

use crate::op::{Binary, LeafKind, Loss, Operation, Unary};
use crate::value::{NodeId, Value};

/// One of the four gates and its operands, as node ids of earlier nodes.
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

/// What a node is in the four gates' terms: a leaf with its value, or one of the four gates.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Leaf(LeafKind, Value),
    Gate(Gate),
}

/// A named node, in the four gates' terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: Op,
}

impl Gate {
    /// The gate's kind.
    pub fn kind(&self) -> crate::op::GateKind {
        self.operation().kind().expect("a gate")
    }

    /// The operands in their written order (`add: [a, b]`, `matvec: [W, o]`, `sqerr: [o, t]`).
    pub fn operands(&self) -> crate::op::Operands {
        self.operation().operands()
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

    /// The gate as an [`Operation`].
    pub fn operation(&self) -> Operation {
        match *self {
            Gate::Add(a, b) => Operation::Binary(Binary::Add, a, b),
            Gate::Matvec { weight, vector } => Operation::Binary(Binary::Matvec, weight, vector),
            Gate::Sigmoid(s) => Operation::Unary(Unary::Sigmoid, s),
            Gate::Sqerr { output, target } => Operation::Loss(Loss::Sqerr, output, target),
        }
    }

    /// The gate an [`Operation`] is, if it is one of the four.
    pub fn of(operation: &Operation) -> Option<Gate> {
        Some(match *operation {
            Operation::Leaf(..)
            | Operation::Reduce(..)
            | Operation::Rearrange(..)
            | Operation::Binary(Binary::Mul | Binary::Matmul, ..)
            | Operation::Unary(Unary::Tanh | Unary::Relu, _)
            | Operation::Loss(Loss::Mse, ..) => return None,
            Operation::Binary(Binary::Add, a, b) => Gate::Add(a, b),
            Operation::Binary(Binary::Matvec, weight, vector) => Gate::Matvec { weight, vector },
            Operation::Unary(Unary::Sigmoid, s) => Gate::Sigmoid(s),
            Operation::Loss(Loss::Sqerr, output, target) => Gate::Sqerr { output, target },
        })
    }
}

impl Op {
    /// The `op` of a node whose gate is not one of the four (SPEC §7): a `target` holding a
    /// NaN scalar, which no valid graph has, so that it cannot be mistaken for a real leaf
    /// (and [`crate::graph::Graph::new`] refuses it).
    pub const NOT_A_LECTURE_GATE: Op = Op::Leaf(LeafKind::Target, Value::Scalar(f64::NAN));

    /// Whether this is a `weight` leaf (the only operand `matvec` takes as its matrix).
    pub fn is_weight(&self) -> bool {
        matches!(self, Op::Leaf(LeafKind::Weight, _))
    }

    /// The op as an [`Operation`].
    pub fn operation(&self) -> Operation {
        match self {
            Op::Leaf(kind, value) => Operation::Leaf(*kind, value.clone()),
            Op::Gate(gate) => gate.operation(),
        }
    }

    /// The view of an [`Operation`]: itself for a leaf or one of the four gates,
    /// [`Op::NOT_A_LECTURE_GATE`] for a later gate.
    pub fn of(operation: &Operation) -> Op {
        match operation {
            Operation::Leaf(kind, value) => Op::Leaf(*kind, value.clone()),
            gate => Gate::of(gate).map_or(Op::NOT_A_LECTURE_GATE, Op::Gate),
        }
    }
}

impl Node {
    /// The node's op as `KEY: ARGS` in the case format (`input: [..]`, `add: [a, b]`,
    /// `sigmoid: s`), with names written by the caller.
    pub fn op_text(&self, name_of: impl Fn(NodeId) -> String) -> String {
        self.op.operation().text(name_of)
    }
}
