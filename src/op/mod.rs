//! The gates: the closed set of operations a graph is made of, in families, with one table of
//! what is known about each (`table.rs`: name, operand roles, how random graphs use it) and
//! one shape rule each (`shape.rs`). Parsing, validation, the graph, the recipe builder,
//! generation, shrinking, the fuzz targets and the reports read these; nothing else keeps a
//! list of gates.
//!
//! The families are what code that only moves operands around sees: a gate takes one or two
//! operands, and a loss two. Each family names its ops in an enum of its own, so that the
//! calculus (`gate.rs`), which must treat every op, is one exhaustive `match`, and an op added
//! to a family does not compile until the calculus has its rules.

mod set;
mod shape;
mod table;

pub use set::GateSet;
pub use shape::{Arg, Axis, ShapeError, output_shape};
pub use table::{Facts, Family};

use crate::value::{NodeId, Value, flow_list};
use std::fmt;

/// The three kinds of leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeafKind {
    /// A differentiable vector or matrix (a matrix input is a batch, one example a row).
    Input,
    /// A differentiable matrix.
    Weight,
    /// A constant vector or matrix: no gradient is asked for it.
    Target,
}

impl LeafKind {
    pub fn name(self) -> &'static str {
        match self {
            LeafKind::Input => "input",
            LeafKind::Weight => "weight",
            LeafKind::Target => "target",
        }
    }

    /// Every kind, in the order case files document them.
    pub const ALL: [LeafKind; 3] = [LeafKind::Input, LeafKind::Weight, LeafKind::Target];

    /// The kind a case file names `name`.
    pub fn by_name(name: &str) -> Option<LeafKind> {
        LeafKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Whether the engine must report a gradient for leaves of this kind.
    pub fn is_differentiable(self) -> bool {
        !matches!(self, LeafKind::Target)
    }
}

/// The gates of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Unary {
    /// `σ(s) = 1 / (1 + e^(−s))`, elementwise.
    Sigmoid,
    /// `tanh(s)`, elementwise.
    Tanh,
    /// `max(0, s)`, elementwise: the first gate with a kink (at 0).
    Relu,
}

/// The reductions over the rows of a batch: a matrix `m×n` to a vector of length `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Reduce {
    /// The sum of each column.
    Sum,
    /// The mean of each column.
    Mean,
}

impl Reduce {
    /// What the column sums are divided by, for `rows` rows.
    pub fn divisor(self, rows: usize) -> f64 {
        match self {
            Reduce::Sum => 1.0,
            Reduce::Mean => rows as f64,
        }
    }
}

/// The gates of two operands that are not losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Binary {
    /// `a + b`.
    Add,
    /// `W o`: a `weight` leaf times a vector.
    Matvec,
    /// `a ⊙ b`, the elementwise product.
    Mul,
    /// `A B`, the product of two matrices (weights, batches or gate outputs).
    Matmul,
}

/// The gates that move a matrix's entries without arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Rearrange {
    /// `Aᵀ`.
    Transpose,
}

/// The losses: two operands, a scalar value, never an operand themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Loss {
    /// `½‖o − t‖²`.
    Sqerr,
    /// `(1/m) Σ_rows ½‖o_r − t_r‖²`, the mean over the `m` rows of a batch.
    Mse,
}

impl Loss {
    /// What the loss divides `½‖o − t‖²` by, for an output of shape `shape`: 1 for `sqerr`,
    /// the rows of a batch for `mse` (a vector is one row).
    pub fn divisor(self, shape: crate::value::Shape) -> f64 {
        match (self, shape) {
            (Loss::Sqerr, _) => 1.0,
            (Loss::Mse, crate::value::Shape::Matrix(rows, _)) => rows as f64,
            (Loss::Mse, _) => 1.0,
        }
    }
}

/// Every gate, by name: what reports, blame and the table speak of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum GateKind {
    Add,
    Matvec,
    Sigmoid,
    Sqerr,
    Tanh,
    Mse,
    Sum,
    Mean,
    Mul,
    Matmul,
    Transpose,
    Relu,
}

impl GateKind {
    /// Every gate, in the table's order.
    pub const ALL: [GateKind; 12] = [
        GateKind::Add,
        GateKind::Matvec,
        GateKind::Sigmoid,
        GateKind::Sqerr,
        GateKind::Tanh,
        GateKind::Mse,
        GateKind::Sum,
        GateKind::Mean,
        GateKind::Mul,
        GateKind::Matmul,
        GateKind::Transpose,
        GateKind::Relu,
    ];

    /// The four gates of the lecture (SPEC §1), which every engine is assumed to have.
    pub const LECTURE: [GateKind; 4] = [
        GateKind::Add,
        GateKind::Matvec,
        GateKind::Sigmoid,
        GateKind::Sqerr,
    ];

    /// What the table knows of this gate.
    pub fn facts(self) -> &'static Facts {
        table::facts(self)
    }

    /// The op's name in case files, the exec protocol and reports.
    pub fn name(self) -> &'static str {
        self.facts().name
    }

    /// The gate a case file names `name`.
    pub fn by_name(name: &str) -> Option<GateKind> {
        GateKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// How many operands it takes.
    pub fn arity(self) -> usize {
        self.facts().roles.len()
    }

    /// Its family.
    pub fn family(self) -> Family {
        self.facts().family
    }

    /// Whether it is a loss (its value is a term of the graph's loss, and it is never an
    /// operand).
    pub fn is_loss(self) -> bool {
        self.family() == Family::Loss
    }

    /// The gate of this kind on `operands` (as many as [`GateKind::arity`]; `None`
    /// otherwise).
    pub fn on(self, operands: &[NodeId]) -> Option<Operation> {
        if operands.len() != self.arity() {
            return None;
        }
        let (a, b) = (operands[0], operands.get(1).copied().unwrap_or(operands[0]));
        Some(match self {
            GateKind::Sigmoid => Operation::Unary(Unary::Sigmoid, a),
            GateKind::Tanh => Operation::Unary(Unary::Tanh, a),
            GateKind::Relu => Operation::Unary(Unary::Relu, a),
            GateKind::Add => Operation::Binary(Binary::Add, a, b),
            GateKind::Matvec => Operation::Binary(Binary::Matvec, a, b),
            GateKind::Mul => Operation::Binary(Binary::Mul, a, b),
            GateKind::Matmul => Operation::Binary(Binary::Matmul, a, b),
            GateKind::Transpose => Operation::Rearrange(Rearrange::Transpose, a),
            GateKind::Sqerr => Operation::Loss(Loss::Sqerr, a, b),
            GateKind::Mse => Operation::Loss(Loss::Mse, a, b),
            GateKind::Sum => Operation::Reduce(Reduce::Sum, a),
            GateKind::Mean => Operation::Reduce(Reduce::Mean, a),
        })
    }
}

impl fmt::Display for GateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a node computes: a leaf with its value, or a gate on earlier nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    Leaf(LeafKind, Value),
    Unary(Unary, NodeId),
    Reduce(Reduce, NodeId),
    Rearrange(Rearrange, NodeId),
    Binary(Binary, NodeId, NodeId),
    Loss(Loss, NodeId, NodeId),
}

impl Operation {
    /// The gate's kind; `None` for a leaf.
    pub fn kind(&self) -> Option<GateKind> {
        Some(match self {
            Operation::Leaf(..) => return None,
            Operation::Unary(Unary::Sigmoid, _) => GateKind::Sigmoid,
            Operation::Unary(Unary::Tanh, _) => GateKind::Tanh,
            Operation::Unary(Unary::Relu, _) => GateKind::Relu,
            Operation::Binary(Binary::Add, ..) => GateKind::Add,
            Operation::Binary(Binary::Matvec, ..) => GateKind::Matvec,
            Operation::Binary(Binary::Mul, ..) => GateKind::Mul,
            Operation::Binary(Binary::Matmul, ..) => GateKind::Matmul,
            Operation::Rearrange(Rearrange::Transpose, _) => GateKind::Transpose,
            Operation::Loss(Loss::Sqerr, ..) => GateKind::Sqerr,
            Operation::Loss(Loss::Mse, ..) => GateKind::Mse,
            Operation::Reduce(Reduce::Sum, _) => GateKind::Sum,
            Operation::Reduce(Reduce::Mean, _) => GateKind::Mean,
        })
    }

    /// The operands in their written order (`add: [a, b]`, `matvec: [W, o]`, `sqerr: [o, t]`);
    /// none for a leaf.
    pub fn operands(&self) -> Operands {
        match *self {
            Operation::Leaf(..) => Operands::none(),
            Operation::Unary(_, a) | Operation::Reduce(_, a) | Operation::Rearrange(_, a) => {
                Operands::one(a)
            }
            Operation::Binary(_, a, b) | Operation::Loss(_, a, b) => Operands::two(a, b),
        }
    }

    /// The same operation with its operands renamed (when nodes are renumbered or replaced).
    pub fn map_operands(&self, mut rename: impl FnMut(NodeId) -> NodeId) -> Operation {
        match self {
            Operation::Leaf(..) => self.clone(),
            Operation::Unary(op, a) => Operation::Unary(*op, rename(*a)),
            Operation::Reduce(op, a) => Operation::Reduce(*op, rename(*a)),
            Operation::Rearrange(op, a) => Operation::Rearrange(*op, rename(*a)),
            Operation::Binary(op, a, b) => {
                let a = rename(*a);
                Operation::Binary(*op, a, rename(*b))
            }
            Operation::Loss(op, a, b) => {
                let a = rename(*a);
                Operation::Loss(*op, a, rename(*b))
            }
        }
    }

    /// The leaf's kind and value, if it is one.
    pub fn leaf(&self) -> Option<(LeafKind, &Value)> {
        match self {
            Operation::Leaf(kind, value) => Some((*kind, value)),
            _ => None,
        }
    }

    /// Whether it is a loss.
    pub fn is_loss(&self) -> bool {
        matches!(self, Operation::Loss(..))
    }

    /// Whether it is a `weight` leaf (the only matrix `matvec` takes).
    pub fn is_weight(&self) -> bool {
        matches!(self, Operation::Leaf(LeafKind::Weight, _))
    }

    /// Whether it is a `target` leaf.
    pub fn is_target(&self) -> bool {
        matches!(self, Operation::Leaf(LeafKind::Target, _))
    }

    /// The operation as `KEY: ARGS` in the case format (`input: [..]`, `add: [a, b]`,
    /// `sigmoid: s`), with operand names written by the caller.
    pub fn text(&self, name_of: impl Fn(NodeId) -> String) -> String {
        let kind = match (self, self.kind()) {
            (Operation::Leaf(kind, value), _) => {
                return format!("{}: {}", kind.name(), flow_list(value));
            }
            (_, kind) => kind.expect("a gate has a kind"),
        };
        let names: Vec<String> = self.operands().iter().map(|&id| name_of(id)).collect();
        let args = match names.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        format!("{}: {args}", kind.name())
    }
}

/// Up to two operand ids, usable as a slice.
#[derive(Clone, Copy, Debug)]
pub struct Operands {
    ids: [NodeId; 2],
    len: usize,
}

impl Operands {
    fn none() -> Self {
        Operands {
            ids: [NodeId(0); 2],
            len: 0,
        }
    }

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
