//! Exact gradients, for measuring: the forward and reverse pass of every gate in 400-bit
//! binary floating point (dashu-float, whose exponential is correctly rounded), so that what
//! comes back, rounded to `f64`, is the true gradient of the graph's function to the last
//! bit, whatever the conditioning of the graph. Written apart from the rules under test and
//! from the oracles: values are flat, row-major, with their shape.

use dashu_float::FBig;
use dashu_float::round::mode::HalfEven;
use gradfuzz::graph::{Graph, NodeId, Operation, Shape};
use gradfuzz::op::{Binary, Loss, Rearrange, Reduce, Unary};

type Big = FBig<HalfEven, 2>;

/// Working precision in bits: far beyond what cancellation in the test graphs can eat.
const BITS: usize = 400;

fn big(x: f64) -> Big {
    Big::try_from(x)
        .expect("finite leaves")
        .with_precision(BITS)
        .value()
}

fn zero() -> Big {
    big(0.0)
}

fn sigmoid(s: &Big) -> Big {
    let one = big(1.0);
    &one / (&one + (-s.clone()).exp())
}

/// tanh: near 0 its series (`(1 − e^(−2s))/(1 + e^(−2s))` would cancel there), elsewhere
/// `2σ(2s) − 1` for `s ≥ 0` and its odd mirror, which lose nothing once `|s| ≥ 2⁻⁵⁰`.
fn tanh(s: &Big) -> Big {
    let magnitude = if *s < zero() { -s.clone() } else { s.clone() };
    if magnitude < big(2f64.powi(-50)) {
        // s − s³/3 + 2s⁵/15 − 17s⁷/315: the next term is below 2⁻⁴⁵⁰ of the first.
        let s2 = s * s;
        let terms = [
            big(1.0),
            big(-1.0) / big(3.0),
            big(2.0) / big(15.0),
            big(-17.0) / big(315.0),
        ];
        let mut sum = zero();
        let mut power = s.clone();
        for t in &terms {
            sum += &power * t;
            power = &power * &s2;
        }
        return sum;
    }
    let positive = big(2.0) * sigmoid(&(big(2.0) * &magnitude)) - big(1.0);
    if *s < zero() { -positive } else { positive }
}

/// tanh'(s) = 4σ(2s)σ(−2s): `1 − tanh²` would cancel far out.
fn tanh_slope(s: &Big) -> Big {
    let twice = big(2.0) * s;
    big(4.0) * sigmoid(&twice) * sigmoid(&-twice)
}

/// What a loss divides `½‖o − t‖²` by: the rows of a batch for `mse` (written here apart
/// from `Loss::divisor`, which the oracles read).
fn divisor(loss: Loss, shape: Shape) -> f64 {
    match (loss, shape) {
        (Loss::Mse, Shape::Matrix(rows, _)) => rows as f64,
        _ => 1.0,
    }
}

/// A node's exact value: its entries, row-major, and its shape.
#[derive(Clone)]
struct Exact {
    entries: Vec<Big>,
    shape: Shape,
}

impl Exact {
    /// The entry a value broadcast to `shape` puts at `k`: a vector repeated on every row of
    /// a matrix takes its entry of `k`'s column.
    fn at(&self, k: usize, shape: Shape) -> &Big {
        match (self.shape, shape) {
            (Shape::Vector(_), Shape::Matrix(_, cols)) => &self.entries[k % cols],
            _ => &self.entries[k],
        }
    }

    /// The partial of an operand of shape `self.shape` from a gradient of `shape`: summed
    /// over the rows where it was broadcast.
    fn unbroadcast(&self, gradient: &[Big], shape: Shape) -> Vec<Big> {
        match (self.shape, shape) {
            (Shape::Vector(n), Shape::Matrix(_, cols)) => (0..n)
                .map(|j| {
                    gradient
                        .iter()
                        .skip(j)
                        .step_by(cols)
                        .fold(zero(), |s, g| s + g)
                })
                .collect(),
            _ => gradient.to_vec(),
        }
    }
}

fn elementwise(a: &Exact, b: &Exact, shape: Shape, f: impl Fn(&Big, &Big) -> Big) -> Exact {
    Exact {
        entries: (0..shape.len())
            .map(|k| f(a.at(k, shape), b.at(k, shape)))
            .collect(),
        shape,
    }
}

/// The exact product of two matrices, row-major.
fn product(a: &Exact, b: &Exact) -> Vec<Big> {
    let ((m, k), (_, n)) = (a.shape.dims(), b.shape.dims());
    (0..m * n)
        .map(|index| {
            let (i, j) = (index / n, index % n);
            (0..k).fold(zero(), |s, p| {
                s + &a.entries[i * k + p] * &b.entries[p * n + j]
            })
        })
        .collect()
}

/// The row-major entries of the transpose of a matrix of `shape`.
fn transposed(entries: &[Big], shape: Shape) -> Vec<Big> {
    let (m, n) = shape.dims();
    // Its own index arithmetic: the exact gradients share nothing with what they judge.
    (0..m * n)
        .map(|index| entries[(index % m) * n + index / m].clone())
        .collect()
}

fn flipped(shape: Shape) -> Shape {
    let (m, n) = shape.dims();
    Shape::Matrix(n, m)
}

/// `dE/d(leaf)` for every differentiable leaf (row-major), and the loss, exactly, then
/// rounded to nearest `f64`.
pub fn gradients(graph: &Graph) -> (Vec<(NodeId, Vec<f64>)>, f64) {
    let mut values: Vec<Exact> = Vec::with_capacity(graph.len());
    for id in graph.ids() {
        let shape = graph.shape(id);
        let value = match *graph.operation(id) {
            Operation::Leaf(_, ref value) => Exact {
                entries: (0..value.len()).map(|k| big(value.entry(k))).collect(),
                shape,
            },
            Operation::Binary(Binary::Add, a, b) => {
                elementwise(&values[a.0], &values[b.0], shape, |x, y| x + y)
            }
            Operation::Binary(Binary::Mul, a, b) => {
                elementwise(&values[a.0], &values[b.0], shape, |x, y| x * y)
            }
            Operation::Binary(Binary::Matvec, weight, vector) => {
                let (w, o) = (&values[weight.0], &values[vector.0]);
                let cols = o.entries.len();
                Exact {
                    entries: w
                        .entries
                        .chunks(cols)
                        .map(|row| {
                            row.iter()
                                .zip(&o.entries)
                                .fold(zero(), |s, (w, o)| s + w * o)
                        })
                        .collect(),
                    shape,
                }
            }
            Operation::Binary(Binary::Matmul, a, b) => Exact {
                entries: product(&values[a.0], &values[b.0]),
                shape,
            },
            Operation::Rearrange(Rearrange::Transpose, a) => Exact {
                entries: transposed(&values[a.0].entries, values[a.0].shape),
                shape,
            },
            Operation::Reduce(op, a) => {
                let a = &values[a.0];
                let (rows, cols) = a.shape.dims();
                let divisor = big(match op {
                    Reduce::Sum => 1.0,
                    Reduce::Mean => rows as f64,
                });
                Exact {
                    entries: (0..cols)
                        .map(|j| {
                            (0..rows).fold(zero(), |s, i| s + &a.entries[i * cols + j]) / &divisor
                        })
                        .collect(),
                    shape,
                }
            }
            Operation::Unary(op, s) => Exact {
                entries: values[s.0]
                    .entries
                    .iter()
                    .map(|s| match op {
                        Unary::Sigmoid => sigmoid(s),
                        Unary::Tanh => tanh(s),
                        Unary::Relu if *s > zero() => s.clone(),
                        Unary::Relu => zero(),
                    })
                    .collect(),
                shape,
            },
            Operation::Loss(loss, output, target) => {
                let (o, t) = (&values[output.0], &values[target.0]);
                let sum = o.entries.iter().zip(&t.entries).fold(zero(), |s, (o, t)| {
                    let r = o - t;
                    s + &r * &r
                });
                Exact {
                    entries: vec![sum / big(2.0) / big(divisor(loss, o.shape))],
                    shape,
                }
            }
        };
        values.push(value);
    }
    let mut adjoint: Vec<Option<Vec<Big>>> = vec![None; graph.len()];
    let add_into = |slot: &mut Option<Vec<Big>>, partial: Vec<Big>| {
        *slot = Some(match slot.take() {
            None => partial,
            Some(a) => a.iter().zip(&partial).map(|(x, y)| x + y).collect(),
        });
    };
    let mut loss = zero();
    for id in graph.ids().rev() {
        let operation = graph.operation(id);
        if let Operation::Loss(kind, output, target) = *operation {
            loss += &values[id.0].entries[0];
            let (o, t) = (&values[output.0], &values[target.0]);
            let m = big(divisor(kind, o.shape));
            let r: Vec<Big> = o
                .entries
                .iter()
                .zip(&t.entries)
                .map(|(o, t)| (o - t) / &m)
                .collect();
            let negated: Vec<Big> = r.iter().map(|r| -r.clone()).collect();
            add_into(&mut adjoint[output.0], r);
            add_into(&mut adjoint[target.0], negated);
            continue;
        }
        let Some(g) = adjoint[id.0].clone() else {
            continue;
        };
        let shape = graph.shape(id);
        match *operation {
            Operation::Leaf(..) => {}
            Operation::Binary(Binary::Add, a, b) => {
                let (da, db) = (
                    values[a.0].unbroadcast(&g, shape),
                    values[b.0].unbroadcast(&g, shape),
                );
                add_into(&mut adjoint[a.0], da);
                add_into(&mut adjoint[b.0], db);
            }
            // g ⊙ b to a, g ⊙ a to b, each summed over the rows where it was broadcast.
            Operation::Binary(Binary::Mul, a, b) => {
                let (x, y) = (&values[a.0], &values[b.0]);
                let times = |other: &Exact| -> Vec<Big> {
                    g.iter()
                        .enumerate()
                        .map(|(k, gk)| gk * other.at(k, shape))
                        .collect()
                };
                let (da, db) = (
                    x.unbroadcast(&times(y), shape),
                    y.unbroadcast(&times(x), shape),
                );
                add_into(&mut adjoint[a.0], da);
                add_into(&mut adjoint[b.0], db);
            }
            // G Bᵀ to A, Aᵀ G to B.
            Operation::Binary(Binary::Matmul, a, b) => {
                let (x, y) = (&values[a.0], &values[b.0]);
                let g = Exact {
                    entries: g.clone(),
                    shape,
                };
                let y_t = Exact {
                    entries: transposed(&y.entries, y.shape),
                    shape: flipped(y.shape),
                };
                let x_t = Exact {
                    entries: transposed(&x.entries, x.shape),
                    shape: flipped(x.shape),
                };
                add_into(&mut adjoint[a.0], product(&g, &y_t));
                add_into(&mut adjoint[b.0], product(&x_t, &g));
            }
            Operation::Rearrange(Rearrange::Transpose, a) => {
                add_into(&mut adjoint[a.0], transposed(&g, shape));
            }
            Operation::Binary(Binary::Matvec, weight, vector) => {
                let (w, o) = (&values[weight.0], &values[vector.0]);
                let cols = o.entries.len();
                let outer = g
                    .iter()
                    .flat_map(|gi| o.entries.iter().map(move |oj| gi * oj))
                    .collect();
                let transposed = (0..cols)
                    .map(|j| {
                        w.entries
                            .chunks(cols)
                            .zip(&g)
                            .fold(zero(), |s, (row, gi)| s + &row[j] * gi)
                    })
                    .collect();
                add_into(&mut adjoint[weight.0], outer);
                add_into(&mut adjoint[vector.0], transposed);
            }
            Operation::Reduce(op, a) => {
                let (rows, cols) = values[a.0].shape.dims();
                let divisor = big(match op {
                    Reduce::Sum => 1.0,
                    Reduce::Mean => rows as f64,
                });
                let share: Vec<Big> = g.iter().map(|g| g / &divisor).collect();
                let partial = (0..rows * cols).map(|k| share[k % cols].clone()).collect();
                add_into(&mut adjoint[a.0], partial);
            }
            Operation::Unary(op, s) => {
                // The slope from the input: σ'(s) = σ(s)·σ(−s), `o·(1 − o)` would lose `1 − o`
                // to cancellation once e^−|s| falls below 2^−400 (|s| > 277), and call a
                // gradient of 1e-169 exactly zero; tanh alike.
                let input = &values[s.0].entries;
                let local = g
                    .iter()
                    .zip(input)
                    .map(|(g, s)| match op {
                        Unary::Sigmoid => g * sigmoid(s) * sigmoid(&-s.clone()),
                        Unary::Tanh => g * tanh_slope(s),
                        // Exactly at the kink there is no derivative: slope 0 is taken (the
                        // measurements keep arguments away from 0 and say how far).
                        Unary::Relu if *s > zero() => g.clone(),
                        Unary::Relu => zero(),
                    })
                    .collect();
                add_into(&mut adjoint[s.0], local);
            }
            Operation::Loss(..) => unreachable!("handled above"),
        }
    }
    let rounded = |x: &Big| x.to_f64().value();
    let gradients = graph
        .differentiable_leaves()
        .map(|leaf| {
            let entries = match &adjoint[leaf.0] {
                Some(v) => v.iter().map(rounded).collect(),
                None => vec![0.0; graph.shape(leaf).len()],
            };
            (leaf, entries)
        })
        .collect();
    (gradients, rounded(&loss))
}
