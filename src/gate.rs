//! The rules under test: every forward and backward rule of gradfuzz, side by side.
//!
//! This file is all the calculus of the engines: [`forward_in`] and [`backward_in`] are one
//! `match` each over the closed families of [`Operation`], so a new gate does not compile
//! until it has both rules. A backward rule returns one [`Partial`] per operand and never
//! touches a gradient store: summing partials at fan-out is the engine's job, done in one
//! place. The oracles and the tolerance know the same functions through modules of their own
//! ([`crate::function`]) and never call these rules.

use crate::op::{Binary, Loss, Operation, Rearrange, Unary};
use crate::precision::Precision;
use crate::value::NodeId;
// The four gates' view, and the values the rules take and make, re-exported here where the
// rules are.
pub use crate::lecture::Gate;
pub use crate::op::{GateKind, Operands};
pub use crate::value::{Value, matrix, scalar, vector};

/// The gradient a backward rule sends to one operand.
#[derive(Clone, Debug, PartialEq)]
pub struct Partial {
    pub operand: NodeId,
    pub gradient: Value,
}

impl Partial {
    pub fn new(operand: NodeId, gradient: Value) -> Self {
        Partial { operand, gradient }
    }
}

/// The forward rule with every operation in `precision`. `value_of` returns the value of an
/// earlier node; shapes were checked when the graph was built, so a shape error here is a bug
/// in the graph builder. A leaf is its own value.
pub fn forward_in<'v>(
    operation: &Operation,
    precision: Precision,
    value_of: impl Fn(NodeId) -> &'v Value,
) -> Value {
    match *operation {
        Operation::Leaf(_, ref value) => value.clone(),
        Operation::Binary(Binary::Add, a, b) => match (value_of(a), value_of(b)) {
            (Value::Vector(a), Value::Vector(b)) => Value::Vector(precision.add(a, b)),
            // Matrices, or a vector added to every row of a matrix.
            (a, b) => precision.zip(a, b, |x, y| x + y),
        },
        Operation::Binary(Binary::Matvec, weight, o) => {
            Value::Vector(precision.matvec(matrix(value_of(weight)), vector(value_of(o))))
        }
        Operation::Binary(Binary::Mul, a, b) => {
            precision.zip(value_of(a), value_of(b), |x, y| x * y)
        }
        Operation::Binary(Binary::Matmul, a, b) => {
            Value::Matrix(precision.matmul(matrix(value_of(a)), matrix(value_of(b))))
        }
        Operation::Rearrange(Rearrange::Transpose, a) => Value::Matrix(transposed(value_of(a))),
        Operation::Unary(Unary::Sigmoid, s) => precision.map(value_of(s), |s| precision.sigmoid(s)),
        Operation::Unary(Unary::Tanh, s) => precision.map(value_of(s), |s| precision.tanh(s)),
        // max(0, s) is exact in every precision; NaN passes through rather than becoming 0.
        Operation::Unary(Unary::Relu, s) => {
            precision.map(value_of(s), |s| if s <= 0.0 { 0.0 } else { s })
        }
        // Each column summed from the first row to the last; the mean then divided by the rows.
        Operation::Reduce(op, a) => {
            let a = matrix(value_of(a));
            let rows = op.divisor(a.nrows());
            Value::Vector(faer::Col::from_fn(a.ncols(), |j| {
                let sum = (0..a.nrows()).fold(0.0, |sum, i| precision.round(sum + a[(i, j)]));
                if rows == 1.0 {
                    sum
                } else {
                    precision.round(sum / rows)
                }
            }))
        }
        Operation::Loss(Loss::Sqerr, output, target) => {
            let residual = residual(precision, value_of(output), value_of(target));
            Value::Scalar(precision.half_sum_of_squares_of(&residual))
        }
        // The mean over the rows: the sum, then divided by their number.
        Operation::Loss(Loss::Mse, output, target) => {
            let (o, t) = (value_of(output), value_of(target));
            let rows = Loss::Mse.divisor(o.shape());
            let sum = precision.half_sum_of_squares_of(&residual(precision, o, t));
            Value::Scalar(precision.round(sum / rows))
        }
    }
}

/// The backward rule with every operation in `precision`: given the upstream gradient
/// `dE/d(this gate's output)`, the partial gradient for each operand, in operand order.
/// `output` is this gate's forward value. A leaf has no operands, and no partials.
pub fn backward_in<'v>(
    operation: &Operation,
    precision: Precision,
    value_of: impl Fn(NodeId) -> &'v Value,
    output: &Value,
    upstream: &Value,
) -> Vec<Partial> {
    match *operation {
        Operation::Leaf(..) => Vec::new(),
        // c = a + b: the Jacobian with respect to either operand is the identity; a vector
        // added to every row of a matrix receives the sum of the rows of G (the bias rule).
        Operation::Binary(Binary::Add, a, b) => vec![
            Partial::new(a, precision.unbroadcast(value_of(a), upstream)),
            Partial::new(b, precision.unbroadcast(value_of(b), upstream)),
        ],
        // s = W o: ds/do = W, so dE/do = Wᵀ g; ds_j/dW[j,i] = o_i, so dE/dW = g ⊗ o.
        Operation::Binary(Binary::Matvec, weight, o) => {
            let g = vector(upstream);
            let w = matrix(value_of(weight));
            vec![
                Partial::new(
                    weight,
                    Value::Matrix(precision.outer(g, vector(value_of(o)))),
                ),
                Partial::new(o, Value::Vector(precision.transposed_matvec(w, g))),
            ]
        }
        // c = a ⊙ b: dc/da = diag(b), dc/db = diag(a); an operand broadcast over the rows
        // receives the sum over the rows of its partial, as for add.
        Operation::Binary(Binary::Mul, a, b) => {
            let (a_value, b_value) = (value_of(a), value_of(b));
            let times = |x: f64, y: f64| x * y;
            vec![
                Partial::new(
                    a,
                    precision.unbroadcast(a_value, &precision.zip(upstream, b_value, times)),
                ),
                Partial::new(
                    b,
                    precision.unbroadcast(b_value, &precision.zip(upstream, a_value, times)),
                ),
            ]
        }
        // C = A B: dC_ij/dA_ip = B_pj and dC_ij/dB_pj = A_ip, so dE/dA = G Bᵀ and
        // dE/dB = Aᵀ G.
        Operation::Binary(Binary::Matmul, a, b) => {
            let g = matrix(upstream);
            let (a_value, b_value) = (matrix(value_of(a)), matrix(value_of(b)));
            vec![
                Partial::new(
                    a,
                    Value::Matrix(precision.matmul(g, &b_value.transpose().to_owned())),
                ),
                Partial::new(
                    b,
                    Value::Matrix(precision.matmul(&a_value.transpose().to_owned(), g)),
                ),
            ]
        }
        // B = Aᵀ moves entry (i, j) to (j, i): dE/dA = Gᵀ.
        Operation::Rearrange(Rearrange::Transpose, a) => {
            vec![Partial::new(a, Value::Matrix(transposed(upstream)))]
        }
        // o = σ(s): the Jacobian is diagonal with σ'(s_i) = o_i (1 − o_i), taken from the
        // output, which is both cheaper and what the lecture's rule says.
        Operation::Unary(Unary::Sigmoid, s) => {
            let local = match (upstream, output) {
                (Value::Vector(g), Value::Vector(o)) => {
                    Value::Vector(precision.sigmoid_slope_times(g, o))
                }
                (g, o) => precision.zip(g, o, |g, o| {
                    precision.round(precision.round(g * o) * precision.round(1.0 - o))
                }),
            };
            vec![Partial::new(s, local)]
        }
        // o = tanh(s): the Jacobian is diagonal with tanh'(s_i) = 1 − o_i², from the output.
        Operation::Unary(Unary::Tanh, s) => vec![Partial::new(
            s,
            precision.zip(upstream, output, |g, o| {
                precision.round(g * precision.round(1.0 - precision.round(o * o)))
            }),
        )],
        // z = max(0, s): the Jacobian is diagonal with 1 where s > 0 and 0 where s < 0; at
        // s = 0 it has none, and this rule takes 0 there (any slope in [0, 1] is a valid
        // choice, and the check accepts each). The mask is the input's, not the upstream's.
        Operation::Unary(Unary::Relu, s) => vec![Partial::new(
            s,
            precision.zip(upstream, value_of(s), |g, s| if s > 0.0 { g } else { 0.0 }),
        )],
        // y_j = Σ_i a_ij (mean: / m): every row of the operand receives g (mean: g / m).
        Operation::Reduce(op, a) => {
            let g = vector(upstream);
            let (rows, cols) = value_of(a).shape().dims();
            let divisor = op.divisor(rows);
            let share = |j: usize| {
                if divisor == 1.0 {
                    g[j]
                } else {
                    precision.round(g[j] / divisor)
                }
            };
            vec![Partial::new(
                a,
                Value::Matrix(faer::Mat::from_fn(rows, cols, |_, j| share(j))),
            )]
        }
        // E = ½‖o − t‖² (over every entry): dE/do = (o − t), dE/dt = (t − o), both times the
        // upstream scalar.
        Operation::Loss(Loss::Sqerr, output, target) => {
            let g = scalar(upstream);
            let residual = residual(precision, value_of(output), value_of(target));
            vec![
                Partial::new(output, precision.map(&residual, |r| precision.round(r * g))),
                Partial::new(
                    target,
                    precision.map(&residual, |r| precision.round(r * -g)),
                ),
            ]
        }
        // E = (1/m) Σ_rows ½‖o_r − t_r‖²: the same, each entry divided by the m rows.
        Operation::Loss(Loss::Mse, output, target) => {
            let g = scalar(upstream);
            let (o, t) = (value_of(output), value_of(target));
            let rows = Loss::Mse.divisor(o.shape());
            let residual = residual(precision, o, t);
            let partial = |sign: f64| {
                precision.map(&residual, |r| {
                    precision.round(precision.round(r * (sign * g)) / rows)
                })
            };
            vec![
                Partial::new(output, partial(1.0)),
                Partial::new(target, partial(-1.0)),
            ]
        }
    }
}

/// A matrix value's transpose (no arithmetic, so no precision).
fn transposed(value: &Value) -> faer::Mat<f64> {
    matrix(value).transpose().to_owned()
}

/// `o − t`, entry by entry (vectors through the vector kernel, as before matrices came).
fn residual(precision: Precision, o: &Value, t: &Value) -> Value {
    match (o, t) {
        (Value::Vector(o), Value::Vector(t)) => Value::Vector(precision.sub(o, t)),
        (o, t) => precision.zip(o, t, |o, t| o - t),
    }
}

/// The four gates' rules, as they were called before every gate became an [`Operation`].
impl Gate {
    /// The forward rule in `f64`.
    pub fn forward<'v>(&self, value_of: impl Fn(NodeId) -> &'v Value) -> Value {
        forward_in(&self.operation(), Precision::F64, value_of)
    }

    /// The forward rule with every operation in `precision`.
    pub fn forward_in<'v>(
        &self,
        precision: Precision,
        value_of: impl Fn(NodeId) -> &'v Value,
    ) -> Value {
        forward_in(&self.operation(), precision, value_of)
    }

    /// The backward rule in `f64`.
    pub fn backward<'v>(
        &self,
        value_of: impl Fn(NodeId) -> &'v Value,
        output: &Value,
        upstream: &Value,
    ) -> Vec<Partial> {
        backward_in(
            &self.operation(),
            Precision::F64,
            value_of,
            output,
            upstream,
        )
    }

    /// The backward rule with every operation in `precision`.
    pub fn backward_in<'v>(
        &self,
        precision: Precision,
        value_of: impl Fn(NodeId) -> &'v Value,
        output: &Value,
        upstream: &Value,
    ) -> Vec<Partial> {
        backward_in(&self.operation(), precision, value_of, output, upstream)
    }
}
