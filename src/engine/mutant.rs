//! Mutant engines: the reference with exactly one deliberate, realistic bug each, so that
//! gradfuzz can prove on every run that it finds the bugs people write.
//!
//! Each mutant reuses the reference driver and changes one thing: one gate's partials, the
//! summation at fan-out, or the gradients handed back.

use super::reference::{Rules, backpropagate, sum_into};
use super::{Engine, EngineError, Gradients, Summation};
use crate::gate::{Partial, Value, backward_in, matrix, vector};
use crate::graph::{Graph, NodeId, Values};
use crate::op::{Binary, GateSet, Loss, Operation, Rearrange, Reduce, Unary};
use crate::precision::Precision;

/// The bug a mutant carries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bug {
    FanoutOverwrite,
    AddFirstOnly,
    AddSelfOnce,
    MatvecNoTranspose,
    MatvecOuterTransposed,
    SigmoidOfInput,
    SigmoidNoOneMinus,
    SqerrSign,
    SqerrNoHalf,
    SqerrSecondDropped,
    WeightTyingLast,
    LastEntryZero,
    /// Every gradient times `1 + delta`.
    Scale(f64),
    SigmoidF32,
    BiasFirstRow,
    BiasMean,
    TanhAsSigmoid,
    MseNoDivide,
    MeanNoDivide,
    MulSelf,
    MatmulNoTranspose,
    MatmulSwapped,
    TransposeSkipped,
    ReluNoMask,
    ReluMaskFromUpstream,
    /// Not a bug: relu's slope at exactly 0 taken as `c` (the reference takes 0), a
    /// convention every check must pass.
    ReluAtZero(f64),
}

/// Every named mutant with a line on its bug.
pub const CATALOGUE: &[(&str, Bug, &str)] = &[
    (
        "fanout-overwrite",
        Bug::FanoutOverwrite,
        "a vector that feeds several gates keeps the last gradient instead of the sum",
    ),
    (
        "add-first-only",
        Bug::AddFirstOnly,
        "add passes the gradient to its first argument only",
    ),
    (
        "add-self-once",
        Bug::AddSelfOnce,
        "add(x, x) gives x the gradient once instead of twice",
    ),
    (
        "matvec-no-transpose",
        Bug::MatvecNoTranspose,
        "the vector's gradient is W g instead of Wᵀ g (square W only)",
    ),
    (
        "matvec-outer-transposed",
        Bug::MatvecOuterTransposed,
        "the weight's gradient is (g ⊗ o)ᵀ (square W only)",
    ),
    (
        "sigmoid-of-input",
        Bug::SigmoidOfInput,
        "σ' computed as s(1 − s) from the gate's input instead of o(1 − o)",
    ),
    (
        "sigmoid-no-one-minus",
        Bug::SigmoidNoOneMinus,
        "sigmoid's backward is g ⊙ o, without (1 − o)",
    ),
    (
        "sqerr-sign",
        Bug::SqerrSign,
        "sqerr's gradient is t − o instead of o − t",
    ),
    (
        "sqerr-no-half",
        Bug::SqerrNoHalf,
        "sqerr's gradient is 2(o − t), as if the loss had no ½",
    ),
    (
        "sqerr-second-dropped",
        Bug::SqerrSecondDropped,
        "no gradient flows into a computed second argument of sqerr",
    ),
    (
        "weight-tying-last",
        Bug::WeightTyingLast,
        "a weight used by several matvecs keeps only the last gradient",
    ),
    (
        "last-entry-zero",
        Bug::LastEntryZero,
        "the last entry of every leaf gradient is 0 (an off-by-one bound)",
    ),
    (
        "scale-1e-6",
        Bug::Scale(1e-6),
        "every gradient times (1 + 1e-6)",
    ),
    (
        "sigmoid-f32",
        Bug::SigmoidF32,
        "sigmoid's backward computed in single precision",
    ),
    (
        "bias-first-row",
        Bug::BiasFirstRow,
        "a vector added to every row of a batch receives row 0 of G, not the sum over the rows",
    ),
    (
        "bias-mean",
        Bug::BiasMean,
        "a vector added to every row of a batch receives the mean over the rows, not the sum",
    ),
    (
        "tanh-as-sigmoid",
        Bug::TanhAsSigmoid,
        "tanh's backward is the sigmoid's, g ⊙ o ⊙ (1 − o), instead of g ⊙ (1 − o²)",
    ),
    (
        "mse-no-divide",
        Bug::MseNoDivide,
        "mse's backward is o − t, without the division by the batch's rows",
    ),
    (
        "mean-no-divide",
        Bug::MeanNoDivide,
        "mean's backward gives every row g, without the division by the rows",
    ),
    (
        "mul-self",
        Bug::MulSelf,
        "mul's first operand receives g ⊙ a, its own value, instead of g ⊙ b",
    ),
    (
        "matmul-no-transpose",
        Bug::MatmulNoTranspose,
        "matmul's first operand receives G B instead of G Bᵀ (where B is square)",
    ),
    (
        "matmul-swapped",
        Bug::MatmulSwapped,
        "matmul's first operand receives Bᵀ G instead of G Bᵀ (where every side is equal)",
    ),
    (
        "transpose-skipped",
        Bug::TransposeSkipped,
        "transpose's operand receives G itself instead of Gᵀ (where A is square)",
    ),
    (
        "relu-no-mask",
        Bug::ReluNoMask,
        "relu passes the upstream gradient through everywhere, without the mask",
    ),
    (
        "relu-mask-from-upstream",
        Bug::ReluMaskFromUpstream,
        "relu's mask taken from the upstream gradient (g > 0) instead of its input (s > 0)",
    ),
];

/// The mutants that take a number, `mutant:NAME=NUMBER`, with a line on each.
pub const PARAMETERISED: &[(&str, &str)] = &[
    ("scale=DELTA", "every gradient times (1 + DELTA)"),
    (
        "relu-at-zero=C",
        "not a bug: relu's slope at exactly 0 taken as C in [0, 1] (the reference takes 0); every check must pass it",
    ),
];

/// A mutant engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mutant {
    pub name: &'static str,
    pub bug: Bug,
    /// The precision of every operation (`mutant:NAME@f32`; `f64` by default).
    pub precision: Precision,
}

impl Mutant {
    /// The mutant for `NAME` in `mutant:NAME`, including the parameterised `scale=DELTA`.
    pub fn by_name(name: &str) -> Result<Mutant, String> {
        if let Some(delta) = name.strip_prefix("scale=") {
            return match delta.parse::<f64>() {
                Ok(d) if d.is_finite() => Ok(Mutant {
                    name: "scale=DELTA",
                    bug: Bug::Scale(d),
                    precision: Precision::F64,
                }),
                _ => Err(format!(
                    "`mutant:scale=DELTA` needs a finite number, not `{delta}`"
                )),
            };
        }
        if let Some(slope) = name.strip_prefix("relu-at-zero=") {
            return match slope.parse::<f64>() {
                Ok(c) if (0.0..=1.0).contains(&c) => Ok(Mutant {
                    name: "relu-at-zero=C",
                    bug: Bug::ReluAtZero(c),
                    precision: Precision::F64,
                }),
                _ => Err(format!(
                    "`mutant:relu-at-zero=C` needs a number from 0 to 1, not `{slope}`"
                )),
            };
        }
        CATALOGUE
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|&(name, bug, _)| Mutant {
                name,
                bug,
                precision: Precision::F64,
            })
            .ok_or_else(|| format!("unknown mutant `{name}` (run `gradfuzz engines` for the list)"))
    }
}

impl Engine for Mutant {
    fn name(&self) -> String {
        let name = match self.bug {
            Bug::Scale(delta) if self.name == "scale=DELTA" => format!("mutant:scale={delta:e}"),
            Bug::ReluAtZero(c) => format!("mutant:relu-at-zero={c}"),
            _ => format!("mutant:{}", self.name),
        };
        match self.precision {
            Precision::F64 => name,
            p => format!("{name}@{p}"),
        }
    }

    fn precision(&self) -> Precision {
        self.precision
    }

    /// The reference's arithmetic: each row in order.
    fn summation(&self) -> Summation {
        Summation::Sequential
    }

    fn gates(&self) -> GateSet {
        GateSet::all()
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        let mut gradients = backpropagate(graph, self);
        match self.bug {
            Bug::LastEntryZero | Bug::Scale(_) => {
                for leaf in graph.differentiable_leaves() {
                    let mut gradient = gradients.get(leaf).expect("every leaf").clone();
                    let len = gradient.len();
                    match self.bug {
                        Bug::LastEntryZero => *gradient.entry_mut(len - 1) = 0.0,
                        Bug::Scale(delta) => (0..len).for_each(|k| {
                            let scaled = self.precision.round(gradient.entry(k) * (1.0 + delta));
                            *gradient.entry_mut(k) = scaled;
                        }),
                        _ => unreachable!("only the output-stage bugs reach here"),
                    }
                    gradients.set(leaf, gradient);
                }
            }
            _ => {}
        }
        Ok(gradients)
    }
}

impl Rules for Mutant {
    fn precision(&self) -> Precision {
        self.precision
    }

    fn partials(
        &self,
        gate: &Operation,
        values: &Values,
        output: &Value,
        upstream: &Value,
    ) -> Vec<Partial> {
        let p = self.precision;
        let mut partials = backward_in(gate, p, |n| &values[n.0], output, upstream);
        match (self.bug, gate) {
            (Bug::AddFirstOnly, Operation::Binary(Binary::Add, ..)) => partials.truncate(1),
            (Bug::AddSelfOnce, Operation::Binary(Binary::Add, a, b)) if a == b => {
                partials.truncate(1)
            }
            (Bug::MatvecNoTranspose, &Operation::Binary(Binary::Matvec, weight, _)) => {
                let w = matrix(&values[weight.0]);
                if w.nrows() == w.ncols() {
                    partials[1].gradient = Value::Vector(p.matvec(w, vector(upstream)));
                }
            }
            (Bug::MatvecOuterTransposed, Operation::Binary(Binary::Matvec, ..)) => {
                let outer = matrix(&partials[0].gradient);
                if outer.nrows() == outer.ncols() {
                    partials[0].gradient = Value::Matrix(outer.transpose().to_owned());
                }
            }
            (Bug::SigmoidOfInput, &Operation::Unary(Unary::Sigmoid, s)) => {
                // The lecture's rule with the input where the output belongs.
                partials[0].gradient = p.zip(upstream, &values[s.0], |g, s| {
                    p.round(p.round(g * s) * p.round(1.0 - s))
                });
            }
            (Bug::SigmoidNoOneMinus, Operation::Unary(Unary::Sigmoid, _)) => {
                partials[0].gradient = p.zip(upstream, output, |g, o| g * o);
            }
            (Bug::SigmoidF32, Operation::Unary(Unary::Sigmoid, _)) => {
                partials[0].gradient = p.zip(upstream, output, |g, o| {
                    let (g, o) = (g as f32, o as f32);
                    (g * o * (1.0 - o)) as f64
                });
            }
            (Bug::TanhAsSigmoid, Operation::Unary(Unary::Tanh, _)) => {
                partials[0].gradient = p.zip(upstream, output, |g, o| {
                    p.round(p.round(g * o) * p.round(1.0 - o))
                });
            }
            (Bug::ReluNoMask, Operation::Unary(Unary::Relu, _)) => {
                partials[0].gradient = upstream.clone();
            }
            (Bug::ReluMaskFromUpstream, Operation::Unary(Unary::Relu, _)) => {
                partials[0].gradient = p.map(upstream, |g| if g > 0.0 { g } else { 0.0 });
            }
            (Bug::ReluAtZero(c), &Operation::Unary(Unary::Relu, s)) => {
                let (mask, slope_at_zero) = (&values[s.0], c);
                partials[0].gradient = p.zip(upstream, mask, |g, s| {
                    if s > 0.0 {
                        g
                    } else if s == 0.0 {
                        g * slope_at_zero
                    } else {
                        0.0
                    }
                });
            }
            (Bug::MseNoDivide, &Operation::Loss(Loss::Mse, output, _)) => {
                let rows = Loss::Mse.divisor(values[output.0].shape());
                for partial in &mut partials {
                    scale(&mut partial.gradient, rows);
                }
            }
            (Bug::MulSelf, &Operation::Binary(Binary::Mul, a, _)) => {
                let a_value = &values[a.0];
                let own = p.zip(upstream, a_value, |g, a| g * a);
                partials[0].gradient = p.unbroadcast(a_value, &own);
            }
            (Bug::MatmulNoTranspose, &Operation::Binary(Binary::Matmul, _, b)) => {
                let (b, g) = (matrix(&values[b.0]), matrix(upstream));
                if b.nrows() == b.ncols() {
                    partials[0].gradient = Value::Matrix(p.matmul(g, b));
                }
            }
            (Bug::MatmulSwapped, &Operation::Binary(Binary::Matmul, a, b)) => {
                let (a, b, g) = (matrix(&values[a.0]), matrix(&values[b.0]), matrix(upstream));
                if a.nrows() == a.ncols() && b.nrows() == b.ncols() && a.nrows() == b.nrows() {
                    partials[0].gradient = Value::Matrix(p.matmul(&b.transpose().to_owned(), g));
                }
            }
            (Bug::TransposeSkipped, &Operation::Rearrange(Rearrange::Transpose, a)) => {
                if let Value::Matrix(m) = &values[a.0]
                    && m.nrows() == m.ncols()
                {
                    partials[0].gradient = upstream.clone();
                }
            }
            (Bug::MeanNoDivide, &Operation::Reduce(Reduce::Mean, a)) => {
                let (rows, _) = values[a.0].shape().dims();
                for partial in &mut partials {
                    scale(&mut partial.gradient, rows as f64);
                }
            }
            (Bug::SqerrSign, Operation::Loss(Loss::Sqerr, ..)) => {
                for partial in &mut partials {
                    scale(&mut partial.gradient, -1.0);
                }
            }
            (Bug::SqerrNoHalf, Operation::Loss(Loss::Sqerr, ..)) => {
                for partial in &mut partials {
                    scale(&mut partial.gradient, 2.0);
                }
            }
            (Bug::SqerrSecondDropped, Operation::Loss(Loss::Sqerr, ..)) => partials.truncate(1),
            (Bug::BiasFirstRow | Bug::BiasMean, &Operation::Binary(Binary::Add, ..)) => {
                let Value::Matrix(g) = upstream else {
                    return partials;
                };
                for partial in &mut partials {
                    if let Value::Vector(_) = values[partial.operand.0] {
                        partial.gradient =
                            Value::Vector(faer::Col::from_fn(g.ncols(), |j| match self.bug {
                                Bug::BiasFirstRow => g[(0, j)],
                                _ => {
                                    let sum =
                                        (0..g.nrows()).fold(0.0, |s, i| p.round(s + g[(i, j)]));
                                    p.round(sum / g.nrows() as f64)
                                }
                            }));
                    }
                }
            }
            _ => {}
        }
        partials
    }

    fn accumulate(
        &self,
        graph: &Graph,
        node: NodeId,
        gradient: &mut Option<Value>,
        partial: Value,
    ) {
        let is_weight = graph.operation(node).is_weight();
        let overwrite = match self.bug {
            Bug::FanoutOverwrite => !is_weight,
            Bug::WeightTyingLast => is_weight,
            _ => false,
        };
        if overwrite {
            *gradient = Some(partial);
        } else {
            sum_into(gradient, partial, self.precision);
        }
    }
}

fn scale(value: &mut Value, factor: f64) {
    match value {
        Value::Scalar(x) => *x *= factor,
        Value::Vector(v) => *v = &*v * faer::Scale(factor),
        Value::Matrix(m) => *m = &*m * faer::Scale(factor),
    }
}
