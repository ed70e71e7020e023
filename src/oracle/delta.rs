//! The change of each node under a perturbation, kept sparse while it stays sparse.
//!
//! Perturbing one entry of a leaf changes one entry of the leaf; an `add` or a `sigmoid`
//! keeps the set of changed entries, a `matvec` by a perturbed weight entry changes one entry
//! of its output, and only a `matvec` of a changed vector makes the change dense. A [`Delta`]
//! holds, for the changed entries only, the value at `θ − h` (*minus*), the difference
//! `v(θ+h) − v(θ−h)` and the bound on the difference's terms; unchanged entries keep their
//! forward value. Buffers are reused from one perturbation to the next, so no entry allocates.
//!
//! The difference rules (exact algebra, no subtraction of nearby values):
//!
//! - `add`: `d(a + b) = da + db`;
//! - `matvec`: `d(W o) = W⁻ do + dW o⁻ + dW do`;
//! - `sigmoid`: `σ(y + d) − σ(y) = σ(y + d) · σ(−y) · (−expm1(−d))`;
//! - `sqerr`: `½‖r + dr‖² − ½‖r‖² = ½ Σ dr (2r + dr)`, with `r = o − t`, `dr = do − dt`.

use super::difference::sigmoid_bound_factor;
use crate::gate::{Gate, Value};
use crate::graph::{Graph, NodeId};
use faer::Mat;

/// The changed entries of one node (all of them when `dense`).
#[derive(Clone, Debug, Default)]
pub struct Delta {
    dense: bool,
    /// Changed positions, increasing (unused when dense).
    index: Vec<usize>,
    minus: Vec<f64>,
    diff: Vec<f64>,
    bound: Vec<f64>,
}

impl Delta {
    fn start_sparse(&mut self) {
        self.dense = false;
        self.index.clear();
        self.minus.clear();
        self.diff.clear();
        self.bound.clear();
    }

    fn start_dense(&mut self, base: &[f64]) {
        self.start_sparse();
        self.dense = true;
        self.minus.extend_from_slice(base);
        self.diff.resize(base.len(), 0.0);
        self.bound.resize(base.len(), 0.0);
    }

    fn push(&mut self, position: usize, minus: f64, diff: f64, bound: f64) {
        self.index.push(position);
        self.minus.push(minus);
        self.diff.push(diff);
        self.bound.push(bound);
    }

    fn entries(&self) -> usize {
        self.minus.len()
    }

    fn position(&self, k: usize) -> usize {
        if self.dense { k } else { self.index[k] }
    }

    /// The stored slot of `position`, if it changed.
    fn slot(&self, position: usize) -> Option<usize> {
        if self.dense {
            Some(position)
        } else {
            self.index.binary_search(&position).ok()
        }
    }

    /// A single changed entry: the perturbation of one leaf entry.
    pub fn set_single(&mut self, position: usize, minus: f64, diff: f64) {
        self.start_sparse();
        self.push(position, minus, diff, diff.abs());
    }

    /// Every entry changed (a leaf moved along a direction): `fill` pushes each entry's
    /// minus value and difference into the emptied buffers, a weight's column by column;
    /// bounds follow.
    pub fn set_dense(&mut self, fill: impl FnOnce(&mut Vec<f64>, &mut Vec<f64>)) {
        self.start_sparse();
        self.dense = true;
        fill(&mut self.minus, &mut self.diff);
        self.bound.extend(self.diff.iter().map(|d| d.abs()));
    }
}

/// A node's forward value as a flat slice (row-major for a weight's magnitude is not needed:
/// weights are read through `Mat`).
pub fn slice(value: &Value) -> &[f64] {
    match value {
        Value::Vector(v) => v
            .try_as_col_major()
            .expect("an owned column is contiguous")
            .as_slice(),
        Value::Scalar(x) => std::slice::from_ref(x),
        Value::Matrix(_) => unreachable!("weights are read as matrices"),
    }
}

/// `(σ(y), σ(−y), σ(y + d), expm1(−d))` from one `exp` and one `expm1`, none computed as
/// `1 −` another: with `e = e^(−|y|) ≤ 1` and `m = expm1(−d)` (so `e^(−d) = 1 + m`),
/// `σ(y + d) = 1 / (1 + e(1 + m))` for `y ≥ 0` and `e / ((1 + m) + e)` for `y < 0`.
fn sigmoid_step(y: f64, d: f64) -> (f64, f64, f64, f64) {
    let e = (-y.abs()).exp();
    let m = (-d).exp_m1();
    let (big, small) = (1.0 / (1.0 + e), e / (1.0 + e));
    if y >= 0.0 {
        (big, small, 1.0 / (1.0 + e * (1.0 + m)), m)
    } else {
        (small, big, e / ((1.0 + m) + e), m)
    }
}

/// A `matvec` whose weight changed in every entry (a direction of the fast check): with
/// `W⁻`, `dW` and its bound as matrices (a dense weight delta is stored column-major, faer's
/// layout, unlike the row-major entry positions of a sparse one), `W⁻ o⁻`, `W⁻ do + dW (o⁻ + do)` and
/// `|W| bo + |dW| (|o| + bo)` are five matrix-vector products.
fn matvec_dense_weight(
    out: &mut Delta,
    dw: &Delta,
    dv: Option<&Delta>,
    abs_w: &Mat<f64>,
    base_o: &[f64],
    mag_o: &[f64],
) {
    let (rows, cols) = (abs_w.nrows(), abs_w.ncols());
    fn column_major(entries: &[f64], rows: usize, cols: usize) -> faer::MatRef<'_, f64> {
        faer::MatRef::from_column_major_slice(entries, rows, cols)
    }
    let mut o_minus = base_o.to_vec();
    let mut o_diff = vec![0.0; cols];
    let mut o_bound = vec![0.0; cols];
    if let Some(dv) = dv {
        for k in 0..dv.entries() {
            let p = dv.position(k);
            (o_minus[p], o_diff[p], o_bound[p]) = (dv.minus[k], dv.diff[k], dv.bound[k]);
        }
    }
    let o_plus: Vec<f64> = o_minus.iter().zip(&o_diff).map(|(m, d)| m + d).collect();
    let bound_factor: Vec<f64> = mag_o.iter().zip(&o_bound).map(|(m, b)| m + b).collect();
    out.start_sparse();
    out.dense = true;
    out.minus.resize(rows, 0.0);
    out.diff.resize(rows, 0.0);
    out.bound.resize(rows, 0.0);
    product(
        &mut out.minus,
        faer::Accum::Replace,
        column_major(&dw.minus, rows, cols),
        &o_minus,
    );
    product(
        &mut out.diff,
        faer::Accum::Replace,
        column_major(&dw.minus, rows, cols),
        &o_diff,
    );
    product(
        &mut out.diff,
        faer::Accum::Add,
        column_major(&dw.diff, rows, cols),
        &o_plus,
    );
    product(
        &mut out.bound,
        faer::Accum::Replace,
        abs_w.as_ref(),
        &o_bound,
    );
    product(
        &mut out.bound,
        faer::Accum::Add,
        column_major(&dw.bound, rows, cols),
        &bound_factor,
    );
}

/// `out (=|+=) matrix · x`, by faer's matrix product.
fn product(out: &mut [f64], accum: faer::Accum, matrix: faer::MatRef<'_, f64>, x: &[f64]) {
    faer::linalg::matmul::matmul(
        faer::col::ColMut::from_slice_mut(out).as_mat_mut(),
        accum,
        matrix,
        faer::col::ColRef::from_slice(x).as_mat(),
        1.0,
        faer::Par::Seq,
    );
}

/// `out = w · x`, by faer's matrix product.
fn matvec_into(out: &mut [f64], w: &Mat<f64>, x: &[f64]) {
    faer::linalg::matmul::matmul(
        faer::col::ColMut::from_slice_mut(out).as_mat_mut(),
        faer::Accum::Replace,
        w.as_ref(),
        faer::col::ColRef::from_slice(x).as_mat(),
        1.0,
        faer::Par::Seq,
    );
}

/// Reads an operand's (minus, diff, bound) at increasing positions.
struct Cursor<'a> {
    delta: Option<&'a Delta>,
    base: &'a [f64],
    next: usize,
}

impl<'a> Cursor<'a> {
    fn new(delta: Option<&'a Delta>, base: &'a [f64]) -> Self {
        Cursor {
            delta,
            base,
            next: 0,
        }
    }

    fn at(&mut self, position: usize) -> (f64, f64, f64) {
        match self.delta {
            Some(d) if d.dense => (d.minus[position], d.diff[position], d.bound[position]),
            Some(d) => {
                while self.next < d.index.len() && d.index[self.next] < position {
                    self.next += 1;
                }
                if self.next < d.index.len() && d.index[self.next] == position {
                    (d.minus[self.next], d.diff[self.next], d.bound[self.next])
                } else {
                    (self.base[position], 0.0, 0.0)
                }
            }
            None => (self.base[position], 0.0, 0.0),
        }
    }
}

/// The positions where `a` or `b` changed, increasing; every position if either is dense.
fn union(a: Option<&Delta>, b: Option<&Delta>, len: usize, out: &mut Vec<usize>) -> bool {
    out.clear();
    if a.is_some_and(|d| d.dense) || b.is_some_and(|d| d.dense) {
        out.extend(0..len);
        return true;
    }
    let empty: &[usize] = &[];
    let (x, y) = (a.map_or(empty, |d| &d.index), b.map_or(empty, |d| &d.index));
    let (mut i, mut j) = (0, 0);
    while i < x.len() || j < y.len() {
        let next = match (x.get(i), y.get(j)) {
            (Some(&p), Some(&q)) => p.min(q),
            (Some(&p), None) => p,
            (None, Some(&q)) => q,
            (None, None) => unreachable!("the loop condition"),
        };
        i += (x.get(i) == Some(&next)) as usize;
        j += (y.get(j) == Some(&next)) as usize;
        out.push(next);
    }
    false
}

/// Per-graph buffers for propagating deltas.
pub struct Workspace {
    deltas: Vec<Delta>,
    active: Vec<bool>,
    positions: Vec<usize>,
}

impl Workspace {
    pub fn new(graph: &Graph) -> Self {
        Workspace {
            deltas: vec![Delta::default(); graph.len()],
            active: vec![false; graph.len()],
            positions: Vec::new(),
        }
    }

    /// The delta of a leaf, to be set by the caller, marked active.
    pub fn leaf(&mut self, id: NodeId) -> &mut Delta {
        self.active[id.0] = true;
        &mut self.deltas[id.0]
    }

    /// Forgets every delta (their buffers are kept).
    pub fn reset(&mut self, nodes: impl IntoIterator<Item = NodeId>) {
        for id in nodes {
            self.active[id.0] = false;
        }
    }

    fn delta(&self, id: NodeId) -> Option<&Delta> {
        self.active[id.0].then(|| &self.deltas[id.0])
    }

    /// Evaluates `gate` (node `id`) on its operands' deltas. For an `sqerr`, returns the loss
    /// difference and its bound; other gates store their delta and return `None`.
    pub fn propagate(
        &mut self,
        id: NodeId,
        gate: &Gate,
        values: &[Value],
        magnitudes: &[Value],
    ) -> Option<(f64, f64)> {
        if gate.operands().iter().all(|op| !self.active[op.0]) {
            return None; // unchanged (cannot happen inside a cone, but costs nothing)
        }
        let mut out = std::mem::take(&mut self.deltas[id.0]);
        let loss = match *gate {
            Gate::Add(a, b) => {
                self.add(&mut out, a, b, values);
                None
            }
            Gate::Sigmoid(s) => {
                self.sigmoid(&mut out, s, magnitudes);
                None
            }
            Gate::Matvec { weight, vector } => {
                self.matvec(
                    &mut out,
                    weight,
                    vector,
                    values,
                    magnitudes,
                    slice(&values[id.0]),
                );
                None
            }
            Gate::Sqerr { output, target } => Some(self.sqerr(output, target, values, magnitudes)),
        };
        self.deltas[id.0] = out;
        self.active[id.0] = loss.is_none();
        loss
    }

    fn add(&mut self, out: &mut Delta, a: NodeId, b: NodeId, values: &[Value]) {
        let (base_a, base_b) = (slice(&values[a.0]), slice(&values[b.0]));
        let mut positions = std::mem::take(&mut self.positions);
        let dense = union(self.delta(a), self.delta(b), base_a.len(), &mut positions);
        out.start_sparse();
        out.dense = dense;
        let (mut ca, mut cb) = (
            Cursor::new(self.delta(a), base_a),
            Cursor::new(self.delta(b), base_b),
        );
        for &p in &positions {
            let ((am, ad, ab), (bm, bd, bb)) = (ca.at(p), cb.at(p));
            if dense {
                out.minus.push(am + bm);
                out.diff.push(ad + bd);
                out.bound.push(ab + bb);
            } else {
                out.push(p, am + bm, ad + bd, ab + bb);
            }
        }
        self.positions = positions;
    }

    fn sigmoid(&self, out: &mut Delta, s: NodeId, magnitudes: &[Value]) {
        let input = self.delta(s).expect("a changed operand");
        let magnitude = slice(&magnitudes[s.0]);
        out.start_sparse();
        out.dense = input.dense;
        for k in 0..input.entries() {
            let (y, d, b) = (input.minus[k], input.diff[k], input.bound[k]);
            let (o, complement, shifted, m) = sigmoid_step(y, d);
            let diff = shifted * complement * -m;
            let bound = sigmoid_bound_factor(y, magnitude[input.position(k)]) * b;
            if input.dense {
                out.minus.push(o);
                out.diff.push(diff);
                out.bound.push(bound);
            } else {
                out.push(input.index[k], o, diff, bound);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn matvec(
        &self,
        out: &mut Delta,
        weight: NodeId,
        vector: NodeId,
        values: &[Value],
        magnitudes: &[Value],
        base_out: &[f64],
    ) {
        let w: &Mat<f64> = crate::gate::matrix(&values[weight.0]);
        let abs_w: &Mat<f64> = crate::gate::matrix(&magnitudes[weight.0]);
        let (base_o, mag_o) = (slice(&values[vector.0]), slice(&magnitudes[vector.0]));
        let (dw, dv) = (self.delta(weight), self.delta(vector));
        let cols = w.ncols();
        // One perturbed weight entry and an unchanged vector: one output entry changes.
        if let (Some(dw), None) = (dw, dv)
            && !dw.dense
            && dw.entries() == 1
        {
            let (flat, w_minus, w_diff, w_bound) =
                (dw.index[0], dw.minus[0], dw.diff[0], dw.bound[0]);
            let (j, i) = (flat / cols, flat % cols);
            out.start_sparse();
            let shift = w_minus - w[(j, i)];
            out.push(
                j,
                base_out[j] + shift * base_o[i],
                w_diff * base_o[i],
                w_bound * mag_o[i],
            );
            return;
        }
        if let Some(dw) = dw.filter(|d| d.dense) {
            matvec_dense_weight(out, dw, dv, abs_w, base_o, mag_o);
            return;
        }
        out.start_dense(base_out);
        if let Some(dv) = dv.filter(|d| d.dense) {
            // A dense change: three matrix-vector products, the minus value a true W·o⁻.
            matvec_into(&mut out.minus, w, &dv.minus);
            matvec_into(&mut out.diff, w, &dv.diff);
            matvec_into(&mut out.bound, abs_w, &dv.bound);
        } else if let Some(dv) = dv {
            for k in 0..dv.entries() {
                let p = dv.position(k);
                let (shift, d, b) = (dv.minus[k] - base_o[p], dv.diff[k], dv.bound[k]);
                let (column, abs_column) = (w.col_as_slice(p), abs_w.col_as_slice(p));
                for row in 0..out.minus.len() {
                    out.minus[row] += column[row] * shift;
                    out.diff[row] += column[row] * d;
                    out.bound[row] += abs_column[row] * b;
                }
            }
        }
        if let Some(dw) = dw {
            for k in 0..dw.entries() {
                let flat = dw.position(k);
                let (j, i) = (flat / cols, flat % cols);
                let (shift, w_diff, w_bound) = (dw.minus[k] - w[(j, i)], dw.diff[k], dw.bound[k]);
                let (o_minus, o_diff, o_bound) = match dv.and_then(|d| d.slot(i).map(|s| (d, s))) {
                    Some((d, s)) => (d.minus[s], d.diff[s], d.bound[s]),
                    None => (base_o[i], 0.0, 0.0),
                };
                out.minus[j] += shift * o_minus;
                out.diff[j] += shift * o_diff + w_diff * (o_minus + o_diff);
                out.bound[j] += shift.abs() * o_bound + w_bound * (mag_o[i] + o_bound);
            }
        }
    }

    fn sqerr(
        &mut self,
        output: NodeId,
        target: NodeId,
        values: &[Value],
        magnitudes: &[Value],
    ) -> (f64, f64) {
        let (base_o, base_t) = (slice(&values[output.0]), slice(&values[target.0]));
        let (mag_o, mag_t) = (slice(&magnitudes[output.0]), slice(&magnitudes[target.0]));
        let mut positions = std::mem::take(&mut self.positions);
        union(
            self.delta(output),
            self.delta(target),
            base_o.len(),
            &mut positions,
        );
        let (mut co, mut ct) = (
            Cursor::new(self.delta(output), base_o),
            Cursor::new(self.delta(target), base_t),
        );
        let (mut difference, mut bound) = (0.0, 0.0);
        for &p in &positions {
            let ((om, od, ob), (tm, td, tb)) = (co.at(p), ct.at(p));
            let (residual, d_residual, b_residual) = (om - tm, od - td, ob + tb);
            difference += 0.5 * d_residual * (2.0 * residual + d_residual);
            // The residual's round-off is of order ε·(|o| + |t|) in magnitude, however small
            // the residual itself: a nearly met target is a cancellation.
            bound += 0.5 * b_residual * (2.0 * (mag_o[p] + mag_t[p]) + b_residual);
        }
        self.positions = positions;
        (difference, bound)
    }
}
