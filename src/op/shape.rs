//! The shape rule of every gate, written once: the graph checks it, the recipe builder picks
//! operands that satisfy it, and the shrinker learns from it which dimensions must stay equal
//! (every equality a rule checks, it also reports as a tie between two axes).

use super::GateKind;
use crate::value::Shape;
use std::fmt;

/// What a rule knows of one operand.
#[derive(Clone, Copy, Debug)]
pub struct Arg<'a> {
    /// The operand's node name, for messages.
    pub name: &'a str,
    pub shape: Shape,
    /// Whether the operand is a `weight` leaf.
    pub is_weight: bool,
}

/// One dimension of an operand or of the output: `dim` 0 is a vector's length or a matrix's
/// rows, 1 a matrix's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    /// The operand's position, or `None` for the output.
    pub operand: Option<usize>,
    pub dim: usize,
}

impl Axis {
    const fn of(operand: usize, dim: usize) -> Axis {
        Axis {
            operand: Some(operand),
            dim,
        }
    }

    const fn output(dim: usize) -> Axis {
        Axis { operand: None, dim }
    }
}

/// A shape rule an operand breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeError {
    /// The operand in `role` must be a vector.
    NotAVector {
        gate: GateKind,
        role: &'static str,
        operand: String,
        found: Shape,
    },
    /// The operand in `role` must be a `weight` leaf.
    NotAWeight {
        gate: GateKind,
        role: &'static str,
        operand: String,
    },
    /// Two operands must have equal lengths.
    UnequalLengths {
        gate: GateKind,
        first: (String, usize),
        second: (String, usize),
    },
    /// Two operands must have equal shapes, or be a matrix and a vector as long as its
    /// rows, added to every row (`broadcast` says whether the gate allows that).
    UnequalShapes {
        gate: GateKind,
        first: (String, Shape),
        second: (String, Shape),
        broadcast: bool,
    },
    /// The operand in `role` must be a vector or a matrix (not a loss's scalar).
    NotAnArray {
        gate: GateKind,
        role: &'static str,
        operand: String,
    },
    /// The operand in `role` is a `weight` leaf, which only a product takes.
    WeightOperand {
        gate: GateKind,
        role: &'static str,
        operand: String,
    },
    /// The operand in `role` must be a batch: a matrix that is not a `weight`.
    NotABatch {
        gate: GateKind,
        role: &'static str,
        operand: String,
        found: Shape,
    },
    /// The operand in `role` must be a matrix (a weight, a batch or a gate's matrix).
    NotAMatrix {
        gate: GateKind,
        role: &'static str,
        operand: String,
        found: Shape,
    },
    /// A product's inner dimensions differ.
    InnerDimensions {
        gate: GateKind,
        left: (String, Shape),
        right: (String, Shape),
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::NotAVector {
                gate,
                role,
                operand,
                found,
            } => write!(
                f,
                "`{gate}` needs a vector as its {role}, but `{operand}` is a {found}"
            ),
            ShapeError::NotAWeight {
                gate,
                role,
                operand,
            } => write!(
                f,
                "`{gate}` needs a `weight` leaf as its {role}, but `{operand}` is not one"
            ),
            ShapeError::UnequalLengths {
                gate,
                first,
                second,
            } => write!(
                f,
                "`{gate}` needs vectors of equal length, but `{}` has {} and `{}` has {}",
                first.0, first.1, second.0, second.1
            ),
            ShapeError::UnequalShapes {
                gate,
                first,
                second,
                broadcast,
            } => {
                let rule = if *broadcast {
                    "operands of equal shape, or a matrix and a vector of its row length (added \
                     to every row)"
                } else {
                    "operands of equal shape"
                };
                write!(
                    f,
                    "`{gate}` needs {rule}, but `{}` is a {} and `{}` a {}",
                    first.0, first.1, second.0, second.1
                )
            }
            ShapeError::NotAnArray {
                gate,
                role,
                operand,
            } => write!(
                f,
                "`{gate}` needs a vector or a matrix as its {role}, but `{operand}` is a scalar"
            ),
            ShapeError::WeightOperand {
                gate,
                role,
                operand,
            } => write!(
                f,
                "`{gate}` needs a vector or a batch as its {role}, but `{operand}` is a `weight` \
                 leaf (weights are operands of `matvec`, `matmul` and `transpose` only)"
            ),
            ShapeError::NotABatch {
                gate,
                role,
                operand,
                found,
            } => write!(
                f,
                "`{gate}` needs a batch (a matrix, not a `weight`) as its {role}, but `{operand}` \
                 is a {found}"
            ),
            ShapeError::NotAMatrix {
                gate,
                role,
                operand,
                found,
            } => write!(
                f,
                "`{gate}` needs a matrix as its {role}, but `{operand}` is a {found}"
            ),
            ShapeError::InnerDimensions { gate, left, right } => {
                let (rows, cols) = match (left.1, right.1) {
                    (Shape::Matrix(rows, cols), Shape::Vector(_)) => (rows, cols),
                    (Shape::Matrix(_, cols), Shape::Matrix(rows, _)) => {
                        return write!(
                            f,
                            "`{gate}` multiplies `{}`, a {}, by `{}`, a {}: the columns of the \
                             first ({cols}) must be as many as the rows of the second ({rows})",
                            left.0, left.1, right.0, right.1
                        );
                    }
                    _ => {
                        return write!(
                            f,
                            "`{gate}` multiplies `{}`, a {}, by `{}`, a {}: the inner \
                             dimensions differ",
                            left.0, left.1, right.0, right.1
                        );
                    }
                };
                let len = right.1.len();
                write!(
                    f,
                    "`{gate}` multiplies the {rows}×{cols} weight `{}` by `{}` of length {len}; \
                     the length must be {cols}",
                    left.0, right.0
                )
            }
        }
    }
}

impl std::error::Error for ShapeError {}

/// The shape of `gate`'s value on operands `args` (as many as its arity), or the rule they
/// break; `tie` hears every pair of axes the rule requires to be equal.
pub fn output_shape(
    gate: GateKind,
    args: &[Arg],
    tie: &mut dyn FnMut(Axis, Axis),
) -> Result<Shape, ShapeError> {
    let vector_len = |k: usize| match args[k].shape {
        Shape::Vector(n) => Ok(n),
        found => Err(ShapeError::NotAVector {
            gate,
            role: gate.facts().roles[k],
            operand: args[k].name.to_string(),
            found,
        }),
    };
    // A product whose inner dimensions differ.
    let inner_dimensions = || ShapeError::InnerDimensions {
        gate,
        left: (args[0].name.to_string(), args[0].shape),
        right: (args[1].name.to_string(), args[1].shape),
    };
    // Any matrix, a weight's included.
    let matrix_dims = |k: usize| match args[k].shape {
        Shape::Matrix(m, n) => Ok((m, n)),
        found => Err(ShapeError::NotAMatrix {
            gate,
            role: gate.facts().roles[k],
            operand: args[k].name.to_string(),
            found,
        }),
    };
    let array = |k: usize| match args[k].shape {
        Shape::Scalar => Err(ShapeError::NotAnArray {
            gate,
            role: gate.facts().roles[k],
            operand: args[k].name.to_string(),
        }),
        _ if args[k].is_weight => Err(ShapeError::WeightOperand {
            gate,
            role: gate.facts().roles[k],
            operand: args[k].name.to_string(),
        }),
        shape => Ok(shape),
    };
    // Equal shapes (each axis tied), or with `broadcast` a matrix m×n and a vector of length n
    // in either order, the vector added to every row (its length tied to the columns).
    let elementwise = |broadcast: bool, tie: &mut dyn FnMut(Axis, Axis)| {
        let (first, second) = (array(0)?, array(1)?);
        match (first, second) {
            (a, b) if a == b => {
                tie(Axis::of(0, 0), Axis::of(1, 0));
                tie(Axis::of(0, 0), Axis::output(0));
                if let Shape::Matrix(..) = a {
                    tie(Axis::of(0, 1), Axis::of(1, 1));
                    tie(Axis::of(0, 1), Axis::output(1));
                }
                Ok(a)
            }
            (Shape::Vector(n), Shape::Vector(m)) => Err(ShapeError::UnequalLengths {
                gate,
                first: (args[0].name.to_string(), n),
                second: (args[1].name.to_string(), m),
            }),
            (Shape::Matrix(rows, cols), Shape::Vector(n)) if broadcast && n == cols => {
                tie(Axis::of(0, 0), Axis::output(0));
                tie(Axis::of(0, 1), Axis::of(1, 0));
                tie(Axis::of(0, 1), Axis::output(1));
                Ok(Shape::Matrix(rows, cols))
            }
            (Shape::Vector(n), Shape::Matrix(rows, cols)) if broadcast && n == cols => {
                tie(Axis::of(1, 0), Axis::output(0));
                tie(Axis::of(1, 1), Axis::of(0, 0));
                tie(Axis::of(1, 1), Axis::output(1));
                Ok(Shape::Matrix(rows, cols))
            }
            (a, b) => Err(ShapeError::UnequalShapes {
                gate,
                first: (args[0].name.to_string(), a),
                second: (args[1].name.to_string(), b),
                broadcast,
            }),
        }
    };
    match gate {
        GateKind::Add | GateKind::Mul => elementwise(true, tie),
        GateKind::Matvec => {
            let (rows, cols) = match (args[0].is_weight, args[0].shape) {
                (true, Shape::Matrix(m, n)) => (m, n),
                _ => {
                    return Err(ShapeError::NotAWeight {
                        gate,
                        role: gate.facts().roles[0],
                        operand: args[0].name.to_string(),
                    });
                }
            };
            let len = vector_len(1)?;
            if len != cols {
                return Err(inner_dimensions());
            }
            tie(Axis::of(0, 1), Axis::of(1, 0));
            tie(Axis::of(0, 0), Axis::output(0));
            Ok(Shape::Vector(rows))
        }
        GateKind::Matmul => {
            let (m, k) = matrix_dims(0)?;
            let (rows, n) = matrix_dims(1)?;
            if rows != k {
                return Err(inner_dimensions());
            }
            tie(Axis::of(0, 1), Axis::of(1, 0));
            tie(Axis::of(0, 0), Axis::output(0));
            tie(Axis::of(1, 1), Axis::output(1));
            Ok(Shape::Matrix(m, n))
        }
        GateKind::Transpose => {
            let (m, n) = matrix_dims(0)?;
            tie(Axis::of(0, 0), Axis::output(1));
            tie(Axis::of(0, 1), Axis::output(0));
            Ok(Shape::Matrix(n, m))
        }
        GateKind::Sigmoid | GateKind::Tanh | GateKind::Relu => {
            let shape = array(0)?;
            tie(Axis::of(0, 0), Axis::output(0));
            if let Shape::Matrix(..) = shape {
                tie(Axis::of(0, 1), Axis::output(1));
            }
            Ok(shape)
        }
        GateKind::Sum | GateKind::Mean => match args[0].shape {
            Shape::Matrix(_, cols) if !args[0].is_weight => {
                tie(Axis::of(0, 1), Axis::output(0));
                Ok(Shape::Vector(cols))
            }
            found => Err(ShapeError::NotABatch {
                gate,
                role: gate.facts().roles[0],
                operand: args[0].name.to_string(),
                found,
            }),
        },
        GateKind::Sqerr | GateKind::Mse => {
            // The output's ties only: a scalar has no axes to tie.
            elementwise(false, &mut |a, b| {
                if a.operand.is_some() && b.operand.is_some() {
                    tie(a, b)
                }
            })?;
            Ok(Shape::Scalar)
        }
    }
}
