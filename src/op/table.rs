//! The table of facts: one entry per gate, everything else iterates (ripgrep's `FLAGS`).

use super::GateKind;

/// A gate's family: what code that only moves operands needs to know of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// One operand, elementwise.
    Unary,
    /// One batch, reduced over its rows to a vector.
    Reduce,
    /// One matrix, its entries moved without arithmetic.
    Rearrange,
    /// Two operands, not a loss.
    Binary,
    /// Two operands; a scalar term of the loss, never an operand.
    Loss,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Unary => "unary",
            Family::Reduce => "reduce",
            Family::Rearrange => "rearrange",
            Family::Binary => "binary",
            Family::Loss => "loss",
        }
    }
}

/// What is known about one gate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Facts {
    pub kind: GateKind,
    /// Its name in case files, the exec protocol and reports.
    pub name: &'static str,
    pub family: Family,
    /// Each operand's role, in the written order (`matvec: [W, o]`), as messages name it.
    pub roles: &'static [&'static str],
    /// The case file's syntax, with the roles' usual names.
    pub syntax: &'static str,
    /// What it computes, in a line.
    pub value: &'static str,
    /// Its backward rule, in a line.
    pub backward: &'static str,
    /// Whether it is one of the four gates of the lecture (SPEC §1).
    pub lecture: bool,
    /// The share of random steps that make it (out of the total of the steps in use: the
    /// lecture's gates and the two leaf steps add up to 100).
    pub generation_weight: u32,
    /// The prefix of the names the recipe builder gives its nodes (`s0`, `s1`, …).
    pub name_prefix: &'static str,
}

const TABLE: [Facts; 12] = [
    Facts {
        kind: GateKind::Add,
        name: "add",
        family: Family::Binary,
        roles: &["first argument", "second argument"],
        syntax: "add: [a, b]",
        value: "a + b: equal shapes, or a matrix m×n and a vector of length n (either order), the vector added to every row",
        backward: "dE/da += g, dE/db += g; a vector added to every row receives Σ_rows G",
        lecture: true,
        generation_weight: 15,
        name_prefix: "a",
    },
    Facts {
        kind: GateKind::Matvec,
        name: "matvec",
        family: Family::Binary,
        roles: &["first argument", "second argument"],
        syntax: "matvec: [W, o]",
        value: "W o, W a weight (m×n), o of length n",
        backward: "dE/do += Wᵀ g, dE/dW += g ⊗ o",
        lecture: true,
        generation_weight: 30,
        name_prefix: "s",
    },
    Facts {
        kind: GateKind::Sigmoid,
        name: "sigmoid",
        family: Family::Unary,
        roles: &["argument"],
        syntax: "sigmoid: s",
        value: "σ(s) = 1/(1 + e^(−s)), elementwise, on a vector or a matrix",
        backward: "dE/ds += g ⊙ o ⊙ (1 − o)",
        lecture: true,
        generation_weight: 22,
        name_prefix: "o",
    },
    Facts {
        kind: GateKind::Sqerr,
        name: "sqerr",
        family: Family::Loss,
        roles: &["first argument", "second argument"],
        syntax: "sqerr: [o, t]",
        value: "½‖o − t‖² over every entry, o and t of equal shape (a loss)",
        backward: "dE/do += o − t, dE/dt += t − o",
        lecture: true,
        generation_weight: 18,
        name_prefix: "E",
    },
    Facts {
        kind: GateKind::Tanh,
        name: "tanh",
        family: Family::Unary,
        roles: &["argument"],
        syntax: "tanh: s",
        value: "tanh(s), elementwise, on a vector or a matrix",
        backward: "dE/ds += g ⊙ (1 − o²)",
        lecture: false,
        generation_weight: 12,
        name_prefix: "h",
    },
    Facts {
        kind: GateKind::Mse,
        name: "mse",
        family: Family::Loss,
        roles: &["first argument", "second argument"],
        syntax: "mse: [o, t]",
        value: "(1/m) Σ_rows ½‖o_r − t_r‖², o and t of equal shape with m rows (a vector is one row; a loss)",
        backward: "dE/do += (o − t)/m, dE/dt += (t − o)/m",
        lecture: false,
        generation_weight: 10,
        name_prefix: "E",
    },
    Facts {
        kind: GateKind::Sum,
        name: "sum",
        family: Family::Reduce,
        roles: &["argument"],
        syntax: "sum: A",
        value: "the sum of each column of a batch A (m×n): a vector of length n",
        backward: "every row of dE/dA += g",
        lecture: false,
        generation_weight: 6,
        name_prefix: "r",
    },
    Facts {
        kind: GateKind::Mean,
        name: "mean",
        family: Family::Reduce,
        roles: &["argument"],
        syntax: "mean: A",
        value: "the mean of each column of a batch A (m×n) over its m rows: a vector of length n",
        backward: "every row of dE/dA += g/m",
        lecture: false,
        generation_weight: 6,
        name_prefix: "r",
    },
    Facts {
        kind: GateKind::Mul,
        name: "mul",
        family: Family::Binary,
        roles: &["first argument", "second argument"],
        syntax: "mul: [a, b]",
        value: "a ⊙ b, elementwise: equal shapes, or a matrix m×n and a vector of length n (either order), the vector multiplying every row",
        backward: "dE/da += g ⊙ b, dE/db += g ⊙ a; a vector on every row receives Σ_rows of its partial",
        lecture: false,
        generation_weight: 8,
        name_prefix: "p",
    },
    Facts {
        kind: GateKind::Matmul,
        name: "matmul",
        family: Family::Binary,
        roles: &["first argument", "second argument"],
        syntax: "matmul: [A, B]",
        value: "A B, A an m×k and B a k×n matrix (weights, batches or gate outputs): an m×n matrix",
        backward: "dE/dA += G Bᵀ, dE/dB += Aᵀ G",
        lecture: false,
        generation_weight: 14,
        name_prefix: "m",
    },
    Facts {
        kind: GateKind::Transpose,
        name: "transpose",
        family: Family::Rearrange,
        roles: &["argument"],
        syntax: "transpose: A",
        value: "Aᵀ, A an m×n matrix (a weight too): an n×m matrix",
        backward: "dE/dA += Gᵀ",
        lecture: false,
        generation_weight: 5,
        name_prefix: "T",
    },
    Facts {
        kind: GateKind::Relu,
        name: "relu",
        family: Family::Unary,
        roles: &["argument"],
        syntax: "relu: s",
        value: "max(0, s), elementwise, on a vector or a matrix (a kink at 0)",
        backward: "dE/ds += g ⊙ [s > 0] (at s = 0 any slope in [0, 1] passes)",
        lecture: false,
        generation_weight: 10,
        name_prefix: "z",
    },
];

pub(super) fn facts(kind: GateKind) -> &'static Facts {
    let facts = &TABLE[kind as usize];
    debug_assert_eq!(facts.kind, kind, "the table is in GateKind's order");
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_the_order_of_the_kinds_and_names_are_unique() {
        for (i, kind) in GateKind::ALL.into_iter().enumerate() {
            assert_eq!(TABLE[i].kind, kind);
            assert_eq!(GateKind::by_name(kind.name()), Some(kind));
        }
        assert_eq!(TABLE.len(), GateKind::ALL.len());
        for kind in GateKind::ALL {
            let on = kind.on(&vec![crate::value::NodeId(0); kind.arity()]);
            assert_eq!(on.and_then(|op| op.kind()), Some(kind));
        }
    }
}
