//! Exact gradients, for measuring: the forward and reverse pass of the four gates in
//! 400-bit binary floating point (dashu-float, whose exponential is correctly rounded), so
//! that what comes back, rounded to `f64`, is the true gradient of the graph's function to
//! the last bit, whatever the conditioning of the graph.

use dashu_float::FBig;
use dashu_float::round::mode::HalfEven;
use gradfuzz::gate::{Gate, Value};
use gradfuzz::graph::{Graph, NodeId, Op};

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

/// A node's exact value: a vector, or a weight's rows.
#[derive(Clone)]
enum Exact {
    Vector(Vec<Big>),
    Matrix(Vec<Vec<Big>>),
    Scalar(Big),
}

impl Exact {
    fn vector(&self) -> &[Big] {
        match self {
            Exact::Vector(v) => v,
            _ => unreachable!("a vector operand"),
        }
    }

    fn matrix(&self) -> &[Vec<Big>] {
        match self {
            Exact::Matrix(m) => m,
            _ => unreachable!("a weight operand"),
        }
    }
}

fn lift(value: &Value) -> Exact {
    match value {
        Value::Scalar(x) => Exact::Scalar(big(*x)),
        Value::Vector(v) => Exact::Vector(v.iter().map(|&x| big(x)).collect()),
        Value::Matrix(m) => Exact::Matrix(
            (0..m.nrows())
                .map(|i| (0..m.ncols()).map(|j| big(m[(i, j)])).collect())
                .collect(),
        ),
    }
}

/// `dE/d(leaf)` for every differentiable leaf (row-major), and the loss, exactly, then
/// rounded to nearest `f64`.
pub fn gradients(graph: &Graph) -> (Vec<(NodeId, Vec<f64>)>, f64) {
    let mut values: Vec<Exact> = Vec::with_capacity(graph.len());
    for id in graph.ids() {
        let value = match &graph.node(id).op {
            Op::Leaf(_, value) => lift(value),
            Op::Gate(gate) => match *gate {
                Gate::Add(a, b) => Exact::Vector(
                    values[a.0]
                        .vector()
                        .iter()
                        .zip(values[b.0].vector())
                        .map(|(x, y)| x + y)
                        .collect(),
                ),
                Gate::Matvec { weight, vector } => {
                    let (w, o) = (values[weight.0].matrix(), values[vector.0].vector());
                    Exact::Vector(
                        w.iter()
                            .map(|row| row.iter().zip(o).fold(zero(), |s, (w, o)| s + w * o))
                            .collect(),
                    )
                }
                Gate::Sigmoid(s) => {
                    Exact::Vector(values[s.0].vector().iter().map(sigmoid).collect())
                }
                Gate::Sqerr { output, target } => {
                    let (o, t) = (values[output.0].vector(), values[target.0].vector());
                    let sum = o.iter().zip(t).fold(zero(), |s, (o, t)| {
                        let r = o - t;
                        s + &r * &r
                    });
                    Exact::Scalar(sum / big(2.0))
                }
            },
        };
        values.push(value);
    }
    let mut adjoint: Vec<Option<Exact>> = vec![None; graph.len()];
    let add_into = |slot: &mut Option<Exact>, partial: Exact| {
        *slot = Some(match (slot.take(), partial) {
            (None, p) => p,
            (Some(Exact::Vector(a)), Exact::Vector(b)) => {
                Exact::Vector(a.iter().zip(&b).map(|(x, y)| x + y).collect())
            }
            (Some(Exact::Matrix(a)), Exact::Matrix(b)) => Exact::Matrix(
                a.iter()
                    .zip(&b)
                    .map(|(r, s)| r.iter().zip(s).map(|(x, y)| x + y).collect())
                    .collect(),
            ),
            _ => unreachable!("shapes agree"),
        });
    };
    let mut loss = zero();
    for id in graph.ids().rev() {
        let Some(gate) = graph.gate(id) else { continue };
        if let Gate::Sqerr { output, target } = *gate {
            if let Exact::Scalar(e) = &values[id.0] {
                loss += e;
            }
            let (o, t) = (values[output.0].vector(), values[target.0].vector());
            let r: Vec<Big> = o.iter().zip(t).map(|(o, t)| o - t).collect();
            let negated: Vec<Big> = r.iter().map(|r| -r.clone()).collect();
            add_into(&mut adjoint[output.0], Exact::Vector(r));
            add_into(&mut adjoint[target.0], Exact::Vector(negated));
            continue;
        }
        let Some(upstream) = adjoint[id.0].clone() else {
            continue;
        };
        let g = upstream.vector();
        match *gate {
            Gate::Add(a, b) => {
                add_into(&mut adjoint[a.0], Exact::Vector(g.to_vec()));
                add_into(&mut adjoint[b.0], Exact::Vector(g.to_vec()));
            }
            Gate::Matvec { weight, vector } => {
                let (w, o) = (values[weight.0].matrix(), values[vector.0].vector());
                let outer = g
                    .iter()
                    .map(|gi| o.iter().map(|oj| gi * oj).collect())
                    .collect();
                let transposed = (0..o.len())
                    .map(|j| {
                        w.iter()
                            .zip(g)
                            .fold(zero(), |s, (row, gi)| s + &row[j] * gi)
                    })
                    .collect();
                add_into(&mut adjoint[weight.0], Exact::Matrix(outer));
                add_into(&mut adjoint[vector.0], Exact::Vector(transposed));
            }
            Gate::Sigmoid(s) => {
                // σ'(s) = σ(s)·σ(−s), each side computed from s: `o·(1 − o)` would lose
                // `1 − o` to cancellation once e^−|s| falls below 2^−400 (|s| > 277), and
                // call a gradient of 1e-169 exactly zero.
                let o = values[id.0].vector();
                let input = values[s.0].vector();
                let local = g
                    .iter()
                    .zip(o)
                    .zip(input)
                    .map(|((g, o), s)| g * o * sigmoid(&-s.clone()))
                    .collect();
                add_into(&mut adjoint[s.0], Exact::Vector(local));
            }
            Gate::Sqerr { .. } => unreachable!("handled above"),
        }
    }
    let rounded = |x: &Big| x.to_f64().value();
    let gradients = graph
        .differentiable_leaves()
        .map(|leaf| {
            let entries = match (&adjoint[leaf.0], &values[leaf.0]) {
                (Some(Exact::Vector(v)), _) => v.iter().map(rounded).collect(),
                (Some(Exact::Matrix(m)), _) => m.iter().flatten().map(rounded).collect(),
                (None, value) => vec![0.0; graph_len(value)],
                _ => unreachable!("leaves are vectors or matrices"),
            };
            (leaf, entries)
        })
        .collect();
    (gradients, rounded(&loss))
}

fn graph_len(value: &Exact) -> usize {
    match value {
        Exact::Vector(v) => v.len(),
        Exact::Matrix(m) => m.len() * m[0].len(),
        Exact::Scalar(_) => 1,
    }
}
