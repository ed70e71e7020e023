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
//! row of a generator matrix per entry (an affine form; a zonotope), every value a vector or
//! a row-major matrix. A matrix-vector or matrix product maps the rows through `W` itself
//! (`matmul`: through both factors, each with its own form), a broadcast bias's gradient
//! sums them over the batch, a transpose moves them, a sigmoid scales them by its slope, and
//! a site's
//! contribution to a gradient entry is bounded only at the end, by the absolute value of its
//! coefficient there: so `W_L⋯W_1` enters, not `|W_L|⋯|W_1|`. What is not linear (the
//! sigmoid's curvature, products of two errors) is bounded from the errors' own bounds and
//! becomes a site of its own.
//!
//! The cost is a product of the graph's size and its number of sites, so it is done only
//! where that is small (`BUDGET`); the verdict takes the smaller of the two bounds, both
//! of which hold. Graphs with `mul`, and weights that a `matvec` multiplies by and another
//! gate uses too, keep the componentwise bounds alone.

use super::rules::{Summation, dot_error, product_dot_parts};
use crate::function::Function;
use crate::graph::{Graph, NodeId, Operation, Values};
use crate::op::{Binary, Rearrange};
use crate::precision::Precision;
use crate::value::{Shape, Value, broadcast_entry, matrix, transposed_entries};

/// The most work (multiply-adds over generator rows) spent on one graph: a few
/// milliseconds (the chain of 20 products by 4×4 weights of `tests/tightness.rs`, about
/// 6.6 million, takes 3.2 ms on the 2-core machine CI runs on; a chain of 40 `matvec`s by
/// 3×3 weights 0.2 ms).
pub(crate) const BUDGET: usize = 8_000_000;

/// The errors of a vector's entries: one generator row of `sites` coefficients per entry.
#[derive(Clone)]
struct Form {
    rows: Vec<f64>,
    sites: usize,
    /// Whether every coefficient is known to be zero (a leaf's: exact), so that a product
    /// need not walk it.
    exact: bool,
}

impl Form {
    fn zero(len: usize, sites: usize) -> Form {
        Form {
            rows: vec![0.0; len * sites],
            sites,
            exact: true,
        }
    }

    /// The form of the transpose of a `rows`×`cols` matrix whose form this is.
    fn transposed(&self, rows: usize, cols: usize) -> Form {
        let mut moved = Form::zero(rows * cols, self.sites);
        moved.exact = self.exact;
        if !self.exact {
            for i in 0..rows {
                for j in 0..cols {
                    moved
                        .row_mut(j * rows + i)
                        .copy_from_slice(self.row(i * cols + j));
                }
            }
        }
        moved
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.rows[i * self.sites..(i + 1) * self.sites]
    }

    fn row_mut(&mut self, i: usize) -> &mut [f64] {
        self.exact = false;
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
        if other.exact {
            return;
        }
        self.exact = false;
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
        form.exact = false;
        for (i, &b) in bounds.iter().enumerate() {
            form.rows[i * form.sites + self.next + i] += b;
        }
        self.next += bounds.len();
        Some(())
    }
}

/// A matrix factor of a product: its entries, their form and their bounds, row-major.
struct Factor<'a> {
    value: &'a [f64],
    form: &'a Form,
    bound: &'a [f64],
}

impl<'a> Factor<'a> {
    /// A node's value as a factor, with its form and bounds (`None` if it has no form).
    fn of(
        values: &'a Values,
        forward: &'a [Option<Form>],
        bound: &'a [Vec<f64>],
        id: NodeId,
    ) -> Option<Factor<'a>> {
        Some(Factor {
            value: values.entries(id),
            form: forward[id.0].as_ref()?,
            bound: &bound[id.0],
        })
    }

    /// The transpose of a `rows`×`cols` factor, as owned parts.
    fn transposed(&self, rows: usize, cols: usize) -> (Vec<f64>, Form, Vec<f64>) {
        (
            transposed_entries(self.value, rows, cols),
            self.form.transposed(rows, cols),
            transposed_entries(self.bound, rows, cols),
        )
    }
}

/// `C = A B` (`A` m×k, `B` k×n) with its form: `Σ_p B_pj·(A_ip's form) + A_ip·(B_pj's form)`,
/// and one site per entry for what is not linear in the errors, the sum's own roundings (as
/// [`product_dot_parts`] bounds them for the engine's order) and the products of two errors.
fn product(
    precision: Precision,
    summation: Summation,
    (a, b): (Factor, Factor),
    (m, k, n): (usize, usize, usize),
    sites: &mut Sites,
) -> Option<(Vec<f64>, Form)> {
    let mut form = Form::zero(m * n, a.form.sites);
    let mut value = Vec::with_capacity(m * n);
    let mut rest = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let index = i * n + j;
            let (mut sum, mut second_order) = (0.0, 0.0);
            for p in 0..k {
                let (x, y) = (a.value[i * k + p], b.value[p * n + j]);
                sum += x * y;
                second_order += a.bound[i * k + p] * b.bound[p * n + j];
                if !a.form.exact && y != 0.0 {
                    let row = &mut form.rows[index * form.sites..(index + 1) * form.sites];
                    for (r, c) in row.iter_mut().zip(a.form.row(i * k + p)) {
                        *r += y * c;
                    }
                }
                if !b.form.exact && x != 0.0 {
                    let row = &mut form.rows[index * form.sites..(index + 1) * form.sites];
                    for (r, c) in row.iter_mut().zip(b.form.row(p * n + j)) {
                        *r += x * c;
                    }
                }
            }
            let terms = (0..k).map(|p| {
                (
                    a.value[i * k + p],
                    a.bound[i * k + p],
                    b.value[p * n + j],
                    b.bound[p * n + j],
                )
            });
            value.push(sum);
            rest.push(second_order + product_dot_parts(precision, summation, terms).1);
        }
    }
    form.exact = a.form.exact && b.form.exact;
    sites.add(&mut form, &rest)?;
    Some((value, form))
}

/// The sum over the rows of a `shape` matrix (a vector added to every row receives it), with
/// its form and one site per entry for the sum's roundings in the engine's order.
fn row_sum(
    precision: Precision,
    summation: Summation,
    shape: Shape,
    (value, form, bound): (&[f64], &Form, &[f64]),
    sites: &mut Sites,
) -> Option<Partial> {
    let (rows, cols) = shape.dims();
    let mut sum = Form::zero(cols, form.sites);
    let mut total = vec![0.0; cols];
    let mut rounding = Vec::with_capacity(cols);
    for j in 0..cols {
        for i in 0..rows {
            total[j] += value[i * cols + j];
            if !form.exact {
                for (r, c) in sum.row_mut(j).iter_mut().zip(form.row(i * cols + j)) {
                    *r += c;
                }
            }
        }
        let column = (0..rows).map(|i| (1.0, value[i * cols + j], bound[i * cols + j]));
        rounding.push(dot_error(precision, summation, column).1);
    }
    sites.add(&mut sum, &rounding)?;
    Some(Partial {
        value: total,
        form: sum,
    })
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
                    // A vector added to every row: the rounding of its sum over the rows.
                    for operand in [a, b] {
                        if graph.shape(operand) != graph.shape(id) {
                            sites += graph.shape_len(operand);
                        }
                    }
                }
                incoming[a.0] += 1;
                incoming[b.0] += 1;
            }
            Operation::Binary(Binary::Matvec, _, vector) => {
                sites += len + graph.shape_len(vector);
                incoming[vector.0] += 1;
            }
            // Forward: one per entry of the product; backward: one per entry of each partial.
            Operation::Binary(Binary::Matmul, a, b) => {
                sites += len + graph.shape_len(a) + graph.shape_len(b);
                incoming[a.0] += 1;
                incoming[b.0] += 1;
            }
            Operation::Rearrange(Rearrange::Transpose, a) => incoming[a.0] += 1,
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
            // Forward: the column sums' roundings; backward: a mean's division per entry.
            Operation::Reduce(op, a) => {
                sites += len;
                let (rows, cols) = graph.shape(a).dims();
                if op.divisor(rows) != 1.0 {
                    sites += rows * cols;
                }
                incoming[a.0] += 1;
            }
            // Only in graphs [`affordable`] leaves to the componentwise bounds.
            Operation::Binary(Binary::Mul, a, b) => {
                incoming[a.0] += 1;
                incoming[b.0] += 1;
            }
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
            // The product walks each factor's form unless it is exact (a leaf's, or its
            // transpose's), each partial the adjoint's and the other factor's; the partials'
            // factors are transposes.
            Operation::Binary(Binary::Matmul, a, b) => {
                let ((m, k), (_, n)) = (graph.shape(a).dims(), graph.shape(b).dims());
                let computed = |id: NodeId| usize::from(!exact_form(graph, id));
                let walks = 2 * (computed(a) + computed(b)) + 2;
                walks * m * k * n + graph.shape_len(a) + graph.shape_len(b)
            }
            Operation::Reduce(_, a) => 4 * graph.shape_len(a),
            _ => 4 * graph.shape_len(id),
        })
        .sum();
    per_site.saturating_mul(sites)
}

/// Whether a node's value is exact, so that its form is zero: a leaf, or a leaf's transpose.
fn exact_form(graph: &Graph, id: NodeId) -> bool {
    match *graph.operation(id) {
        Operation::Leaf(..) => true,
        Operation::Rearrange(Rearrange::Transpose, a) => exact_form(graph, a),
        _ => false,
    }
}

/// Per node, whether it is a weight some `matvec` multiplies by: such a weight's gradient is
/// bounded at the end from the products' adjoints, and it has no form.
fn matvec_weights(graph: &Graph) -> Vec<bool> {
    let mut weights = vec![false; graph.len()];
    for id in graph.ids() {
        if let Operation::Binary(Binary::Matvec, weight, _) = *graph.operation(id) {
            weights[weight.0] = true;
        }
    }
    weights
}

/// A finished adjoint: its value, its generator and the bound on each entry's error.
type Adjoint = (Vec<f64>, Form, Vec<f64>);

/// Whether [`sharpened`] fits [`BUDGET`] on `graph` (and has anything to do).
pub(crate) fn affordable(graph: &Graph) -> bool {
    // Elementwise products, and a weight that a `matvec` multiplies by and something else
    // uses too, are bounded componentwise only.
    let weights = matvec_weights(graph);
    let users = graph.users();
    let componentwise_only = graph.ids().any(|id| {
        matches!(graph.operation(id), Operation::Binary(Binary::Mul, ..))
            || (weights[id.0]
            && users[id.0]
                .iter()
                .any(|&user| !matches!(graph.operation(user), Operation::Binary(Binary::Matvec, w, _) if *w == id)))
    });
    if componentwise_only {
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
    let weights = matvec_weights(graph);
    // Forward: the errors of the values.
    let mut forward: Vec<Option<Form>> = vec![None; graph.len()];
    let mut forward_bound: Vec<Vec<f64>> = vec![Vec::new(); graph.len()];
    for id in graph.ids() {
        let form = match graph.operation(id) {
            Operation::Leaf(..) if weights[id.0] => continue,
            Operation::Leaf(_, value) => Form::zero(value.len(), total),
            gate => {
                let value = values.entries(id);
                match *gate {
                    Operation::Leaf(..) => unreachable!("leaves are matched above"),
                    Operation::Binary(Binary::Add, a, b) if a == b => {
                        let mut form = Form::zero(value.len(), total);
                        form.add_scaled(forward[a.0].as_ref()?, 2.0);
                        form
                    }
                    // A vector added to every row reads its entry for each column.
                    Operation::Binary(Binary::Add, a, b) => {
                        let out = graph.shape(id);
                        let (sa, sb) = (graph.shape(a), graph.shape(b));
                        let (fa, fb) = (forward[a.0].as_ref()?, forward[b.0].as_ref()?);
                        let (ea, eb) = (&forward_bound[a.0], &forward_bound[b.0]);
                        let mut form = Form::zero(value.len(), total);
                        let mut rounding = Vec::with_capacity(value.len());
                        for k in 0..value.len() {
                            let (i, j) = (broadcast_entry(sa, out, k), broadcast_entry(sb, out, k));
                            if !(fa.exact && fb.exact) {
                                let row = form.row_mut(k);
                                for ((r, x), y) in row.iter_mut().zip(fa.row(i)).zip(fb.row(j)) {
                                    *r = x + y;
                                }
                            }
                            rounding.push(u * (value[k].abs() + ea[i] + eb[j]) + eta);
                        }
                        sites.add(&mut form, &rounding)?;
                        form
                    }
                    Operation::Binary(Binary::Matmul, a, b) => {
                        let ((m, k), (_, n)) = (graph.shape(a).dims(), graph.shape(b).dims());
                        let factor = |id| Factor::of(values, &forward, &forward_bound, id);
                        let factors = (factor(a)?, factor(b)?);
                        product(precision, summation, factors, (m, k, n), &mut sites)?.1
                    }
                    // Entries moved: their errors move with them.
                    Operation::Rearrange(Rearrange::Transpose, a) => {
                        let (m, n) = graph.shape(a).dims();
                        forward[a.0].as_ref()?.transposed(m, n)
                    }
                    Operation::Binary(Binary::Matvec, weight, vector) => {
                        let w = matrix(&values[weight.0]);
                        let (o, f_o, e_o) = (
                            values.entries(vector),
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
                            values.entries(s),
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
                    // Each column summed (a mean's then divided by the m rows): the terms'
                    // forms summed, and a site for the sum's roundings in the engine's order
                    // and the quotient's, as the componentwise bound has them.
                    Operation::Reduce(op, a) => {
                        let (rows, cols) = graph.shape(a).dims();
                        let divisor = op.divisor(rows);
                        let (x, f_a, e_a) = (
                            values.entries(a),
                            forward[a.0].as_ref()?,
                            &forward_bound[a.0],
                        );
                        let mut form = Form::zero(cols, total);
                        let mut rounding = Vec::with_capacity(cols);
                        for j in 0..cols {
                            if !f_a.exact {
                                let row = form.row_mut(j);
                                for i in 0..rows {
                                    for (r, c) in row.iter_mut().zip(f_a.row(i * cols + j)) {
                                        *r += c / divisor;
                                    }
                                }
                            }
                            let column =
                                (0..rows).map(|i| (1.0, x[i * cols + j], e_a[i * cols + j]));
                            let (carried, sum_rounding) = dot_error(precision, summation, column);
                            rounding.push(if divisor == 1.0 {
                                sum_rounding
                            } else {
                                let error = carried + sum_rounding;
                                sum_rounding / divisor
                                    + u * (value[j].abs() + error / divisor)
                                    + eta
                            });
                        }
                        sites.add(&mut form, &rounding)?;
                        form
                    }
                    Operation::Loss(..) => continue,
                    Operation::Binary(Binary::Mul, ..) => return None,
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
            Operation::Binary(Binary::Mul, ..) => return None,
            // Every row receives ḡ (a mean's ḡ/m, with the two roundings the componentwise
            // bound allows: the quotient, and 1/m where an engine multiplies by it).
            Operation::Reduce(op, a) => {
                let (rows, cols) = graph.shape(a).dims();
                let divisor = op.divisor(rows);
                let mut form = Form::zero(rows * cols, total);
                let mut value = Vec::with_capacity(rows * cols);
                let mut rounding = Vec::with_capacity(rows * cols);
                for i in 0..rows {
                    for j in 0..cols {
                        let share = upstream[j] / divisor;
                        value.push(share);
                        for (r, c) in form.row_mut(i * cols + j).iter_mut().zip(b_up.row(j)) {
                            *r = c / divisor;
                        }
                        rounding.push(2.0 * u * share.abs() + eta);
                    }
                }
                if divisor != 1.0 {
                    sites.add(&mut form, &rounding)?;
                }
                incoming[a.0].push(Partial { value, form });
            }
            // The residual o − t (mse: divided by the m rows, with the two roundings the
            // componentwise bound allows there: the quotient, and 1/m where an engine
            // multiplies by it).
            Operation::Loss(loss, output, target) => {
                let (o, t) = (values.entries(output), values.entries(target));
                let rows = loss.divisor(graph.shape(output));
                let mut form = Form::zero(o.len(), total);
                form.add_scaled(forward[output.0].as_ref()?, 1.0 / rows);
                form.add_scaled(forward[target.0].as_ref()?, -1.0 / rows);
                let (e_o, e_t) = (&forward_bound[output.0], &forward_bound[target.0]);
                let residual: Vec<f64> = o.iter().zip(t).map(|(o, t)| (o - t) / rows).collect();
                let rounding: Vec<f64> = (0..o.len())
                    .map(|i| {
                        let difference = u * ((o[i] - t[i]).abs() + e_o[i] + e_t[i]) + eta;
                        if rows == 1.0 {
                            difference
                        } else {
                            difference / rows + 2.0 * u * residual[i].abs() + eta
                        }
                    })
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
                    let partial = if graph.shape(operand) == graph.shape(id) {
                        Partial {
                            value: upstream.clone(),
                            form: b_up.clone(),
                        }
                    } else {
                        let g = (upstream.as_slice(), &b_up, e_up.as_slice());
                        row_sum(precision, summation, graph.shape(id), g, &mut sites)?
                    };
                    incoming[operand.0].push(partial);
                }
            }
            // ∂/∂A = Ḡ Bᵀ, ∂/∂B = Aᵀ Ḡ, products of the adjoint and the factors' values, each
            // with its error.
            Operation::Binary(Binary::Matmul, a, b) => {
                let ((m, k), (_, n)) = (graph.shape(a).dims(), graph.shape(b).dims());
                let factor = |id| Factor::of(values, &forward, &forward_bound, id);
                let g = || Factor {
                    value: &upstream,
                    form: &b_up,
                    bound: &e_up,
                };
                let (b_t, f_b_t, e_b_t) = factor(b)?.transposed(k, n);
                let (a_t, f_a_t, e_a_t) = factor(a)?.transposed(m, k);
                let b_t = Factor {
                    value: &b_t,
                    form: &f_b_t,
                    bound: &e_b_t,
                };
                let a_t = Factor {
                    value: &a_t,
                    form: &f_a_t,
                    bound: &e_a_t,
                };
                let (value, form) =
                    product(precision, summation, (g(), b_t), (m, n, k), &mut sites)?;
                incoming[a.0].push(Partial { value, form });
                let (value, form) =
                    product(precision, summation, (a_t, g()), (k, m, n), &mut sites)?;
                incoming[b.0].push(Partial { value, form });
            }
            // Ḡᵀ (Ḡ is n×m): moved, not rounded.
            Operation::Rearrange(Rearrange::Transpose, a) => {
                let (m, n) = graph.shape(a).dims();
                incoming[a.0].push(Partial {
                    value: transposed_entries(&upstream, n, m),
                    form: b_up.transposed(n, m),
                });
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
                let o = values.entries(id);
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
            Value::Matrix(w) if weights[leaf.0] => {
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
                                values.entries(o)[j],
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
