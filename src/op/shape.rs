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
            ShapeError::InnerDimensions { gate, left, right } => {
                let (Shape::Matrix(rows, cols), Shape::Vector(len)) = (left.1, right.1) else {
                    return write!(
                        f,
                        "`{gate}` multiplies `{}`, a {}, by `{}`, a {}: the inner dimensions differ",
                        left.0, left.1, right.0, right.1
                    );
                };
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
    let equal_lengths = |tie: &mut dyn FnMut(Axis, Axis)| {
        let (first, second) = (vector_len(0)?, vector_len(1)?);
        if first != second {
            return Err(ShapeError::UnequalLengths {
                gate,
                first: (args[0].name.to_string(), first),
                second: (args[1].name.to_string(), second),
            });
        }
        tie(Axis::of(0, 0), Axis::of(1, 0));
        Ok(first)
    };
    match gate {
        GateKind::Add => {
            let len = equal_lengths(tie)?;
            tie(Axis::of(0, 0), Axis::output(0));
            Ok(Shape::Vector(len))
        }
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
                return Err(ShapeError::InnerDimensions {
                    gate,
                    left: (args[0].name.to_string(), args[0].shape),
                    right: (args[1].name.to_string(), args[1].shape),
                });
            }
            tie(Axis::of(0, 1), Axis::of(1, 0));
            tie(Axis::of(0, 0), Axis::output(0));
            Ok(Shape::Vector(rows))
        }
        GateKind::Sigmoid => {
            let len = vector_len(0)?;
            tie(Axis::of(0, 0), Axis::output(0));
            Ok(Shape::Vector(len))
        }
        GateKind::Sqerr => {
            equal_lengths(tie)?;
            Ok(Shape::Scalar)
        }
    }
}
