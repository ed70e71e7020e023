//! Sharper engine bounds for small graphs: errors kept as signed sums of their sources.
//!
//! [`crate::tolerance::EngineBounds`] bounds every value's error by a number and carries it
//! through `|W|`: sound, but along a chain of matrix-vector products the bound grows like
//! `‖|W_L|⋯|W_1|‖` while the error itself grows like `‖W_L⋯W_1‖`, and with weights of mixed
//! signs the two part by a factor of about 2 per layer (4e11 after 40 layers of 3×3).
//!
//! Here every rounding of the textbook reverse-mode engine is a *site*, whose error lies in
//! `[−b, b]` for the bound `b` of its own rule (the same rules as `EngineBounds`), and each
//! value's error is kept, to first order, as a signed combination of the sites' errors: a
//! row of a generator matrix per entry (an affine form; a zonotope). A matrix-vector product
//! maps the rows through `W` itself, a sigmoid scales them by its slope, and a site's
//! contribution to a gradient entry is bounded only at the end, by the absolute value of its
//! coefficient there: so `W_L⋯W_1` enters, not `|W_L|⋯|W_1|`. What is not linear (the
//! sigmoid's curvature, products of two errors) is bounded from the errors' own bounds and
//! becomes a site of its own.
//!
//! The cost is a product of the graph's size and its number of sites, so it is done only
//! where that is small (`BUDGET`); the verdict takes the smaller of the two bounds, both
//! of which hold.

use super::rules::{Summation, dot_error};
use crate::function::Function;
use crate::graph::{Graph, NodeId, Operation, Values};
use crate::op::{Binary, Loss};
use crate::precision::Precision;
use crate::value::entries;
use crate::value::{Value, matrix};

/// The most work (multiply-adds over generator rows) spent on one graph: a few
/// milliseconds.
pub(crate) const BUDGET: usize = 4_000_000;

/// The errors of a vector's entries: one generator row of `sites` coefficients per entry.
#[derive(Clone)]
struct Form {
    rows: Vec<f64>,
    sites: usize,
}

impl Form {
    fn zero(len: usize, sites: usize) -> Form {
        Form {
            rows: vec![0.0; len * sites],
            sites,
        }
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.rows[i * self.sites..(i + 1) * self.sites]
    }

    fn row_mut(&mut self, i: usize) -> &mut [f64] {
        &mut self.rows[i * self.sites..(i + 1) * self.sites]
    }

    fn len(&self) -> usize {
        self.rows.len() / self.sites.max(1)
    }

    /// The bound on each entry's error: the absolute row sums.
    fn bounds(&self) -> Vec<f64> {
        (0..self.len())
            .map(|i| self.row(i).iter().map(|c| c.abs()).sum())
            .collect()
    }

    /// `self += factor · other`.
    fn add_scaled(&mut self, other: &Form, factor: f64) {
        for (a, b) in self.rows.iter_mut().zip(&other.rows) {
            *a += factor * b;
        }
    }
}

/// Hands out the sites' columns in order.
struct Sites {
    next: usize,
    total: usize,
}

impl Sites {
    /// One new site per entry, with bounds `b`: adds `b_i` at a fresh column of row `i`.
    /// (`None` if the columns counted beforehand ran out, which [`count_sites`] rules out.)
    fn add(&mut self, form: &mut Form, bounds: &[f64]) -> Option<()> {
        if self.next + bounds.len() > self.total {
            return None;
        }
        for (i, &b) in bounds.iter().enumerate() {
            form.row_mut(i)[self.next + i] += b;
        }
        self.next += bounds.len();
        Some(())
    }
}

/// The number of sites of `graph`, counted as [`sharpened`] creates them.
fn count_sites(graph: &Graph) -> usize {
    let mut sites = 0;
    let mut incoming = vec![0usize; graph.len()];
    for id in graph.ids() {
        let len = graph.shape_len(id);
        match *graph.operation(id) {
            Operation::Binary(Binary::Add, a, b) => {
                if a != b {
                    sites += len;
                }
                incoming[a.0] += 1;
                incoming[b.0] += 1;
            }
            Operation::Binary(Binary::Matvec, _, vector) => {
                sites += len + graph.shape_len(vector);
                incoming[vector.0] += 1;
            }
            Operation::Unary(_, s) => {
                // Forward: rounding and curvature; backward: the remainder.
                sites += 3 * len;
                incoming[s.0] += 1;
            }
            Operation::Loss(_, output, target) => {
                sites += graph.shape_len(output);
                incoming[output.0] += 1;
                incoming[target.0] += 1;
            }
            // Only in graphs [`affordable`] leaves to the componentwise bounds.
            Operation::Reduce(_, a) => incoming[a.0] += 1,
            Operation::Binary(Binary::Mul | Binary::Matmul, a, b) => {
                incoming[a.0] += 1;
                incoming[b.0] += 1;
            }
            Operation::Rearrange(_, a) => incoming[a.0] += 1,
            Operation::Leaf(..) => {}
        }
    }
    sites
        + graph
            .ids()
            .filter(|id| incoming[id.0] > 1)
            .map(|id| graph.shape_len(id))
            .sum::<usize>()
}

/// The work [`sharpened`] would do on `graph` with `sites` sites.
fn work(graph: &Graph, sites: usize) -> usize {
    let per_site: usize = graph
        .ids()
        .map(|id| match *graph.operation(id) {
            Operation::Binary(Binary::Matvec, weight, _) => 2 * graph.shape_len(weight),
            _ => 4 * graph.shape_len(id),
        })
        .sum();
    per_site.saturating_mul(sites)
}

/// A finished adjoint: its value, its generator and the bound on each entry's error.
type Adjoint = (Vec<f64>, Form, Vec<f64>);

/// Whether [`sharpened`] fits [`BUDGET`] on `graph` (and has anything to do).
/// Graphs of batches are not sharpened yet (their bounds are the componentwise ones, sound
/// by themselves): the signed forms here follow vectors, and weights only into `matvec`.
pub(crate) fn affordable(graph: &Graph) -> bool {
    // Batches, the losses beyond `sqerr`, products of two computed values and matrices that
    // are not weights are bounded componentwise only.
    let componentwise_only = graph.ids().any(|id| {
        matches!(graph.operation(id), Operation::Loss(loss, ..) if *loss != Loss::Sqerr)
            || matches!(
                graph.operation(id),
                Operation::Binary(Binary::Mul | Binary::Matmul, ..) | Operation::Rearrange(..)
            )
    });
    if graph.first_batch().is_some() || componentwise_only {
        return false;
    }
    let total = count_sites(graph);
    total > 0 && work(graph, total) <= BUDGET
}

/// The partials arriving at one node, with their generators.
struct Partial {
    value: Vec<f64>,
    form: Form,
}

/// Bounds on the engine's error for every entry of every differentiable leaf (row-major,
/// without the safety factor), or `None` where the graph is too large for `BUDGET`.
// Rows and columns index the weight, the values and the generators alike.
#[allow(clippy::needless_range_loop)]
pub fn sharpened(
    graph: &Graph,
    values: &Values,
    precision: Precision,
    summation: Summation,
) -> Option<Vec<Option<Vec<f64>>>> {
    let total = count_sites(graph);
    if !affordable(graph) {
        return None;
    }
    let u = precision.unit_roundoff();
    let eta = precision.underflow_unit();
    let mut sites = Sites { next: 0, total };
    // Forward: the errors of the values.
    let mut forward: Vec<Option<Form>> = vec![None; graph.len()];
    let mut forward_bound: Vec<Vec<f64>> = vec![Vec::new(); graph.len()];
    for id in graph.ids() {
        let form = match graph.operation(id) {
            Operation::Leaf(_, Value::Matrix(_)) => continue,
            Operation::Leaf(_, value) => Form::zero(value.len(), total),
            gate => {
                let value = entries(&values[id.0]);
                match *gate {
                    Operation::Leaf(..) => unreachable!("leaves are matched above"),
                    Operation::Binary(Binary::Add, a, b) if a == b => {
                        let mut form = Form::zero(value.len(), total);
                        form.add_scaled(forward[a.0].as_ref()?, 2.0);
                        form
                    }
                    Operation::Binary(Binary::Add, a, b) => {
                        let mut form = forward[a.0].clone()?;
                        form.add_scaled(forward[b.0].as_ref()?, 1.0);
                        let (ea, eb) = (&forward_bound[a.0], &forward_bound[b.0]);
                        let rounding: Vec<f64> = (0..value.len())
                            .map(|i| u * (value[i].abs() + ea[i] + eb[i]) + eta)
                            .collect();
                        sites.add(&mut form, &rounding)?;
                        form
                    }
                    Operation::Binary(Binary::Matvec, weight, vector) => {
                        let w = matrix(&values[weight.0]);
                        let (o, f_o, e_o) = (
                            entries(&values[vector.0]),
                            forward[vector.0].as_ref()?,
                            &forward_bound[vector.0],
                        );
                        let mut form = Form::zero(w.nrows(), total);
                        let mut rounding = Vec::with_capacity(w.nrows());
                        for i in 0..w.nrows() {
                            let row = form.row_mut(i);
                            for j in 0..w.ncols() {
                                let wij = w[(i, j)];
                                if wij != 0.0 {
                                    for (r, c) in row.iter_mut().zip(f_o.row(j)) {
                                        *r += wij * c;
                                    }
                                }
                            }
                            // The roundings of the sum itself (the operands' errors are in
                            // the form already, through W).
                            let terms = (0..w.ncols()).map(|j| (w[(i, j)], o[j], e_o[j]));
                            rounding.push(dot_error(precision, summation, terms).1);
                        }
                        sites.add(&mut form, &rounding)?;
                        form
                    }
                    Operation::Unary(op, s) => {
                        let function = Function::of(op).expect("an elementwise gate");
                        let roundings = function.engine_roundings();
                        let (y, f_y, e_y) = (
                            entries(&values[s.0]),
                            forward[s.0].as_ref()?,
                            &forward_bound[s.0],
                        );
                        let mut form = Form::zero(y.len(), total);
                        let mut rounding = Vec::with_capacity(y.len());
                        let mut curvature = Vec::with_capacity(y.len());
                        for i in 0..y.len() {
                            // On either side of a kink the error is not linear in its sources:
                            // the plain bounds hold there, these would not.
                            if function.kink_within(y[i], 2.0 * e_y[i]) {
                                return None;
                            }
                            let slope = function.slope(y[i]);
                            for (r, c) in form.row_mut(i).iter_mut().zip(f_y.row(i)) {
                                *r = slope * c;
                            }
                            let largest = function.value(y[i]).abs()
                                + function.slope_max(y[i], e_y[i]) * e_y[i];
                            rounding.push(
                                roundings * u * largest + function.engine_floor(precision, largest),
                            );
                            // f(y + ε) − f(y) − f'(y)ε ≤ ½·max|f''|·ε².
                            let curvature_max = function.curvature_max(y[i], e_y[i]);
                            curvature.push(0.5 * curvature_max * e_y[i] * e_y[i]);
                        }
                        sites.add(&mut form, &rounding)?;
                        sites.add(&mut form, &curvature)?;
                        form
                    }
                    Operation::Loss(..) => continue,
                    Operation::Reduce(..)
                    | Operation::Rearrange(..)
                    | Operation::Binary(Binary::Mul | Binary::Matmul, ..) => return None,
                }
            }
        };
        forward_bound[id.0] = form.bounds();
        forward[id.0] = Some(form);
    }
    // Backward: the errors of the adjoints.
    let mut incoming: Vec<Vec<Partial>> = (0..graph.len()).map(|_| Vec::new()).collect();
    let mut adjoint: Vec<Option<Adjoint>> = vec![None; graph.len()];
    let uses: Vec<usize> = graph.users().iter().map(Vec::len).collect();
    let finish = |parts: Vec<Partial>, sites: &mut Sites| -> Option<Adjoint> {
        let mut parts = parts.into_iter();
        let first = parts.next()?;
        let (mut value, mut form) = (first.value, first.form);
        let mut magnitude: Vec<f64> = {
            let bounds = form.bounds();
            value
                .iter()
                .zip(&bounds)
                .map(|(v, e)| v.abs() + e)
                .collect()
        };
        let mut count = 1;
        for part in parts {
            let bounds = part.form.bounds();
            for i in 0..value.len() {
                value[i] += part.value[i];
                magnitude[i] += part.value[i].abs() + bounds[i];
            }
            form.add_scaled(&part.form, 1.0);
            count += 1;
        }
        if count > 1 {
            let gamma = precision.gamma(count - 1);
            let rounding: Vec<f64> = magnitude.iter().map(|m| gamma * m).collect();
            sites.add(&mut form, &rounding)?;
        }
        let bounds = form.bounds();
        Some((value, form, bounds))
    };
    for id in graph.ids().rev() {
        let gate = graph.operation(id);
        if !graph.is_gate(id) {
            continue;
        }
        let (upstream, b_up, e_up) = if graph.is_loss(id) {
            (vec![1.0], Form::zero(1, total), vec![0.0])
        } else {
            match finish(std::mem::take(&mut incoming[id.0]), &mut sites) {
                Some(finished) => finished,
                None => continue,
            }
        };
        match *gate {
            Operation::Leaf(..) => unreachable!("gates only"),
            // Not bounded here yet ([`affordable`] says so): the componentwise bounds stand.
            Operation::Loss(Loss::Mse, ..)
            | Operation::Reduce(..)
            | Operation::Rearrange(..)
            | Operation::Binary(Binary::Mul | Binary::Matmul, ..) => return None,
            Operation::Loss(Loss::Sqerr, output, target) => {
                let (o, t) = (entries(&values[output.0]), entries(&values[target.0]));
                let mut form = forward[output.0].clone()?;
                form.add_scaled(forward[target.0].as_ref()?, -1.0);
                let (e_o, e_t) = (&forward_bound[output.0], &forward_bound[target.0]);
                let residual: Vec<f64> = o.iter().zip(t).map(|(o, t)| o - t).collect();
                let rounding: Vec<f64> = (0..o.len())
                    .map(|i| u * (residual[i].abs() + e_o[i] + e_t[i]) + eta)
                    .collect();
                sites.add(&mut form, &rounding)?;
                let mut negated = Form::zero(o.len(), total);
                negated.add_scaled(&form, -1.0);
                incoming[target.0].push(Partial {
                    value: residual.iter().map(|r| -r).collect(),
                    form: negated,
                });
                incoming[output.0].push(Partial {
                    value: residual,
                    form,
                });
            }
            Operation::Binary(Binary::Add, a, b) if a == b && uses[a.0] == 2 => {
                let mut form = Form::zero(upstream.len(), total);
                form.add_scaled(&b_up, 2.0);
                incoming[a.0].push(Partial {
                    value: upstream.iter().map(|g| 2.0 * g).collect(),
                    form,
                });
            }
            Operation::Binary(Binary::Add, a, b) => {
                for operand in [a, b] {
                    incoming[operand.0].push(Partial {
                        value: upstream.clone(),
                        form: b_up.clone(),
                    });
                }
            }
            Operation::Binary(Binary::Matvec, weight, vector) => {
                let w = matrix(&values[weight.0]);
                let gamma = precision.gamma(w.nrows());
                let mut form = Form::zero(w.ncols(), total);
                let mut value = vec![0.0; w.ncols()];
                let mut rounding = vec![w.nrows() as f64 * eta; w.ncols()];
                for i in 0..w.nrows() {
                    let b_row = b_up.row(i);
                    for j in 0..w.ncols() {
                        let wij = w[(i, j)];
                        value[j] += wij * upstream[i];
                        rounding[j] += gamma * wij.abs() * (upstream[i].abs() + e_up[i]);
                        if wij != 0.0 {
                            for (r, c) in form.row_mut(j).iter_mut().zip(b_row) {
                                *r += wij * c;
                            }
                        }
                    }
                }
                sites.add(&mut form, &rounding)?;
                incoming[vector.0].push(Partial { value, form });
            }
            Operation::Unary(op, s) => {
                let function = Function::of(op).expect("an elementwise gate");
                let o = entries(&values[id.0]);
                let (f_o, e_o) = (forward[id.0].as_ref()?, &forward_bound[id.0]);
                let mut form = Form::zero(o.len(), total);
                let mut value = Vec::with_capacity(o.len());
                let mut remainder = Vec::with_capacity(o.len());
                let bend = function.output_slope_bend();
                for i in 0..o.len() {
                    // The rule's slope from its output, s(o) (σ: o(1 − o)), and its tilt
                    // s'(o) (σ: 1 − 2o).
                    let (slope, tilt) = function.output_slope(o[i]);
                    let row = form.row_mut(i);
                    // ḡ·s(o) moves by s(o)·(ḡ's error) + ḡ·s'(o)·(o's error).
                    for ((r, b), f) in row.iter_mut().zip(b_up.row(i)).zip(f_o.row(i)) {
                        *r = slope * b + upstream[i] * tilt * f;
                    }
                    let slope_error = (tilt.abs() + bend * e_o[i]) * e_o[i];
                    let g = upstream[i].abs() + e_up[i];
                    value.push(upstream[i] * slope);
                    // ḡ·½s''·ε_o² (σ: −ḡ·ε_o²), the product of the two errors, and the rule's
                    // three roundings.
                    remainder.push(
                        upstream[i].abs() * (bend * e_o[i]) * e_o[i]
                            + e_up[i] * slope_error
                            + function.rule_rounding(o[i], slope + slope_error, u * g, eta),
                    );
                }
                sites.add(&mut form, &remainder)?;
                incoming[s.0].push(Partial { value, form });
            }
        }
        adjoint[id.0] = Some((upstream, b_up, e_up));
    }
    let mut by_leaf: Vec<Option<Vec<f64>>> = vec![None; graph.len()];
    let users = graph.users();
    for leaf in graph.differentiable_leaves() {
        let bounds = match &values[leaf.0] {
            Value::Matrix(w) => {
                let products: Vec<(NodeId, NodeId)> = users[leaf.0]
                    .iter()
                    .filter_map(|&s| match *graph.operation(s) {
                        Operation::Binary(Binary::Matvec, _, vector) if adjoint[s.0].is_some() => {
                            Some((s, vector))
                        }
                        _ => None,
                    })
                    .collect();
                let gamma = precision.gamma(products.len().saturating_sub(1));
                let mut bounds = Vec::with_capacity(w.nrows() * w.ncols());
                let mut linear = vec![0.0; total];
                for i in 0..w.nrows() {
                    for j in 0..w.ncols() {
                        linear.iter_mut().for_each(|c| *c = 0.0);
                        let (mut remainder, mut magnitude) = (0.0, 0.0);
                        for &(s, o) in &products {
                            let (g, b_s, e_s) = adjoint[s.0].as_ref()?;
                            let (x, f_o, e_o) = (
                                entries(&values[o.0])[j],
                                forward[o.0].as_ref()?,
                                forward_bound[o.0][j],
                            );
                            for ((c, b), f) in linear.iter_mut().zip(b_s.row(i)).zip(f_o.row(j)) {
                                *c += x * b + g[i] * f;
                            }
                            let term = (g[i].abs() + e_s[i]) * (x.abs() + e_o);
                            remainder += e_s[i] * e_o + u * term + eta;
                            magnitude += term;
                        }
                        let linear_bound: f64 = linear.iter().map(|c| c.abs()).sum();
                        bounds.push(linear_bound + remainder + gamma * magnitude);
                    }
                }
                bounds
            }
            _ => match finish(std::mem::take(&mut incoming[leaf.0]), &mut sites) {
                Some((_, _, bounds)) => bounds,
                None => vec![0.0; values[leaf.0].len()],
            },
        };
        // Where the second-order terms ran to infinity and met a zero (a deep chain in a
        // narrow precision), a bound is NaN: not computed, the componentwise one stands.
        by_leaf[leaf.0] = bounds.iter().all(|b| !b.is_nan()).then_some(bounds);
    }
    Some(by_leaf)
}
