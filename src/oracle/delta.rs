//! The change of each node under a perturbation, in several lanes at once, kept sparse
//! while it stays sparse.
//!
//! A perturbation moves one or more leaves by a real step in each of [`LANES`] lanes (the
//! full check: one entry by `+h, −h, +2h, −2h`; the fast check: two directions by `±t`).
//! A [`Delta`] holds, for the entries that change, each lane's change `v(θ + s) − v(θ)`
//! from the unperturbed value, and one bound on the magnitudes of the terms those changes
//! are made of (the same rules on absolute values, see [`super::base`]); unchanged entries
//! keep their forward value. Perturbing one leaf entry changes one entry of the leaf; an
//! `add` or a `sigmoid` keeps the set of changed entries, a `matvec` by a perturbed weight
//! entry changes one entry of its output, and only a `matvec` of a changed vector makes the
//! change dense, where the lanes are the columns of one matrix product. Buffers are reused
//! from one perturbation to the next, so no entry allocates.
//!
//! The rules are exact algebra (no subtraction of nearby values), so a lane's loss change is
//! a true `E(θ + s) − E(θ)` of the forward function, not a linearisation, only computed
//! without cancellation:
//!
//! - `add`: `Δ(a + b) = Δa + Δb`;
//! - `matvec`: `Δ(W o) = W Δo + ΔW (o + Δo)`;
//! - `sigmoid`: `σ(y + d) − σ(y) = σ(y + d) · σ(−y) · (−expm1(−d))`, with `σ(−y)` and the
//!   `e^(−|y|)` that gives `σ(y + d)` computed once per graph ([`super::base::Base`]);
//! - `sqerr`: `½‖r + Δr‖² − ½‖r‖² = ½ Σ Δr (2r + Δr)`, with `r = o − t`, `Δr = Δo − Δt`.

use super::base::{Base, sigmoid_bound_factor};
use crate::gate::{Gate, Value, sigmoid};
use crate::graph::{Graph, NodeId};
use crate::kernels;
use faer::Mat;

/// Perturbations carried side by side.
pub const LANES: usize = 4;

/// One entry's change in every lane.
pub type Lanes = [f64; LANES];

const NONE: Lanes = [0.0; LANES];

/// How a delta's changed entries are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Layout {
    /// The entries at `index` (increasing) changed.
    #[default]
    Sparse,
    /// Every entry changed (a weight's in row-major order).
    Dense,
    /// A weight moved along a rank-one direction in each lane: entry `(i, j)` changes by
    /// `rows[i][lane] · cols[j][lane]`, with bound `row_bound[i] · col_bound[j]`.
    RankOne,
}

/// The changed entries of one node.
#[derive(Clone, Debug, Default)]
pub struct Delta {
    layout: Layout,
    index: Vec<usize>,
    change: Vec<Lanes>,
    bound: Vec<f64>,
    rows: Vec<Lanes>,
    cols: Vec<Lanes>,
    row_bound: Vec<f64>,
    col_bound: Vec<f64>,
}

impl Delta {
    fn start(&mut self, layout: Layout) {
        self.layout = layout;
        self.index.clear();
        self.change.clear();
        self.bound.clear();
        self.rows.clear();
        self.cols.clear();
        self.row_bound.clear();
        self.col_bound.clear();
    }

    fn start_dense_zero(&mut self, len: usize) {
        self.start(Layout::Dense);
        self.change.resize(len, NONE);
        self.bound.resize(len, 0.0);
    }

    fn push(&mut self, position: usize, change: Lanes, bound: f64) {
        self.index.push(position);
        self.change.push(change);
        self.bound.push(bound);
    }

    /// The number of stored entries (not meaningful for a rank-one weight).
    fn entries(&self) -> usize {
        self.change.len()
    }

    fn position(&self, k: usize) -> usize {
        match self.layout {
            Layout::Sparse => self.index[k],
            _ => k,
        }
    }

    /// The change and bound at `position`, zero where it did not change.
    fn at(&self, position: usize) -> (Lanes, f64) {
        match self.layout {
            Layout::Dense => (self.change[position], self.bound[position]),
            Layout::Sparse => match self.index.binary_search(&position) {
                Ok(k) => (self.change[k], self.bound[k]),
                Err(_) => (NONE, 0.0),
            },
            Layout::RankOne => unreachable!("rank-one deltas are weights, read as such"),
        }
    }

    /// A single changed entry (a perturbation of one leaf entry).
    pub fn set_single(&mut self, position: usize, change: Lanes, bound: f64) {
        self.start(Layout::Sparse);
        self.push(position, change, bound);
    }

    /// Every entry of a vector changed: `fill` pushes each entry's lanes and bound.
    pub fn set_dense(&mut self, fill: impl FnOnce(&mut Vec<Lanes>, &mut Vec<f64>)) {
        self.start(Layout::Dense);
        fill(&mut self.change, &mut self.bound);
    }

    /// A weight moved along rank-one directions: `fill` pushes the row factors with their
    /// bounds, then the column factors with theirs.
    pub fn set_rank_one(
        &mut self,
        fill: impl FnOnce(&mut Vec<Lanes>, &mut Vec<f64>, &mut Vec<Lanes>, &mut Vec<f64>),
    ) {
        self.start(Layout::RankOne);
        fill(
            &mut self.rows,
            &mut self.row_bound,
            &mut self.cols,
            &mut self.col_bound,
        );
    }
}

/// A node's forward value as a flat slice (weights are read through `Mat`).
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

/// Below this, `expm1` by its Taylor polynomial is exact to round-off: the first omitted
/// term, `x⁶/720`, is below `1e-22·|x|`.
const TAYLOR_REACH: f64 = 1e-4;

fn expm1_taylor(x: f64) -> f64 {
    x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0)))))
}

/// `expm1(x)`: by its Taylor polynomial where that is exact to round-off, by the library
/// elsewhere. The steps of a perturbation make `|x|` tiny nearly always, so this saves the
/// library call.
pub fn expm1(x: f64) -> f64 {
    if x.abs() < TAYLOR_REACH {
        expm1_taylor(x)
    } else {
        x.exp_m1()
    }
}

/// `σ(y + d) − σ(y)` in every lane, from `e = e^(−|y|)` and `complement = σ(−y)`, and
/// `reach = max |d|`: with `m = expm1(−d)` (so `e^(−d) = 1 + m`), `σ(y + d) = 1 / (1 + e(1 + m))`
/// for `y ≥ 0` and `e / ((1 + m) + e)` for `y < 0`, none computed as `1 −` another. Where
/// that overflows (a change beyond ±709), the plain subtraction, which has nothing left to
/// cancel. Written lane by lane without branches, so that the lanes are computed together.
fn sigmoid_change(y: f64, e: f64, complement: f64, d: Lanes, reach: f64) -> Lanes {
    let mut m = d;
    if reach < TAYLOR_REACH {
        for m in &mut m {
            *m = expm1_taylor(-*m);
        }
    } else {
        for m in &mut m {
            *m = (-*m).exp_m1();
        }
    }
    let mut change = m;
    if y >= 0.0 {
        for c in &mut change {
            *c = complement * -*c / (1.0 + e * (1.0 + *c));
        }
    } else {
        for c in &mut change {
            *c = e * complement * -*c / ((1.0 + *c) + e);
        }
    }
    if change.iter().all(|c| c.is_finite()) {
        change
    } else {
        subtracted(y, d, change)
    }
}

/// The plain subtraction for the lanes where the rule overflowed. Kept out of line: inlined,
/// the compiler computes its exponentials on every call, the common case included.
#[cold]
#[inline(never)]
fn subtracted(y: f64, d: Lanes, mut change: Lanes) -> Lanes {
    for (c, d) in change.iter_mut().zip(d) {
        if !c.is_finite() && d.is_finite() {
            *c = sigmoid(y + d) - sigmoid(y);
        }
    }
    change
}

/// The positions where `a` or `b` changed, increasing; every position if either is dense.
fn union(a: Option<&Delta>, b: Option<&Delta>, len: usize, out: &mut Vec<usize>) -> bool {
    out.clear();
    let dense = |d: Option<&Delta>| d.is_some_and(|d| d.layout != Layout::Sparse);
    if dense(a) || dense(b) {
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

/// Reads an operand's change at increasing positions.
struct Cursor<'a> {
    delta: Option<&'a Delta>,
    next: usize,
}

impl<'a> Cursor<'a> {
    fn new(delta: Option<&'a Delta>) -> Self {
        Cursor { delta, next: 0 }
    }

    fn at(&mut self, position: usize) -> (Lanes, f64) {
        match self.delta {
            Some(d) if d.layout == Layout::Sparse => {
                while self.next < d.index.len() && d.index[self.next] < position {
                    self.next += 1;
                }
                if self.next < d.index.len() && d.index[self.next] == position {
                    (d.change[self.next], d.bound[self.next])
                } else {
                    (NONE, 0.0)
                }
            }
            Some(d) => (d.change[position], d.bound[position]),
            None => (NONE, 0.0),
        }
    }
}

fn add_lanes(a: Lanes, b: Lanes) -> Lanes {
    std::array::from_fn(|l| a[l] + b[l])
}

/// Per-graph buffers for propagating deltas.
pub struct Workspace {
    deltas: Vec<Delta>,
    active: Vec<bool>,
    positions: Vec<usize>,
    halves: Halves,
    /// The leaves set since the last [`Workspace::loss_change`], to forget after it.
    seeded: Vec<NodeId>,
}

/// The even lanes of a change and their product, for a change whose odd lanes are its even
/// ones negated (reused, like every buffer here).
#[derive(Default)]
struct Halves {
    change: Vec<[f64; 2]>,
    product: Vec<[f64; 2]>,
}

impl Workspace {
    pub fn new(graph: &Graph) -> Self {
        Workspace {
            deltas: vec![Delta::default(); graph.len()],
            active: vec![false; graph.len()],
            positions: Vec::new(),
            halves: Halves::default(),
            seeded: Vec::new(),
        }
    }

    /// The delta of a leaf, to be set by the caller, marked active.
    pub fn leaf(&mut self, id: NodeId) -> &mut Delta {
        self.active[id.0] = true;
        self.seeded.push(id);
        &mut self.deltas[id.0]
    }

    /// Propagates the seeded leaves' changes through `gates` (in node order) and returns
    /// the loss change in every lane with its bound; then forgets every delta (their buffers
    /// are kept) for the next perturbation.
    pub fn loss_change(&mut self, gates: &[(NodeId, &Gate)], base: &Base) -> (Lanes, f64) {
        let (mut change, mut bound) = (NONE, 0.0);
        for &(id, gate) in gates {
            if let Some((loss_change, loss_bound)) = self.propagate(id, gate, base) {
                for (total, c) in change.iter_mut().zip(loss_change) {
                    *total += c;
                }
                bound += loss_bound;
            }
        }
        for &(id, _) in gates {
            self.active[id.0] = false;
        }
        for id in self.seeded.drain(..) {
            self.active[id.0] = false;
        }
        (change, bound)
    }

    /// Evaluates `gate` (node `id`) on its operands' deltas. For an `sqerr`, returns the
    /// loss change in every lane and its bound; other gates store their delta and return
    /// `None`.
    fn propagate(&mut self, id: NodeId, gate: &Gate, base: &Base) -> Option<(Lanes, f64)> {
        if gate.operands().iter().all(|op| !self.active[op.0]) {
            return None; // unchanged (cannot happen inside a cone, but costs nothing)
        }
        // Operands come before their users, so the node's own buffer is split off from
        // theirs rather than moved out and back.
        let (before, rest) = self.deltas.split_at_mut(id.0);
        let out = &mut rest[0];
        let earlier = Earlier {
            deltas: before,
            active: &self.active,
        };
        let positions = &mut self.positions;
        let loss = match *gate {
            Gate::Add(a, b) => {
                earlier.add(out, a, b, base, positions);
                None
            }
            Gate::Sigmoid(s) => {
                earlier.sigmoid(out, id, s, base);
                None
            }
            Gate::Matvec { weight, vector } => {
                earlier.matvec(out, weight, vector, base, &mut self.halves);
                None
            }
            Gate::Sqerr { output, target } => Some(earlier.sqerr(output, target, base, positions)),
        };
        self.active[id.0] = loss.is_none();
        loss
    }
}

/// The deltas of the nodes before the one being evaluated.
struct Earlier<'a> {
    deltas: &'a [Delta],
    active: &'a [bool],
}

impl<'a> Earlier<'a> {
    fn delta(&self, id: NodeId) -> Option<&'a Delta> {
        self.active[id.0].then(|| &self.deltas[id.0])
    }

    fn add(&self, out: &mut Delta, a: NodeId, b: NodeId, base: &Base, positions: &mut Vec<usize>) {
        let len = slice(base.value(a)).len();
        let dense = union(self.delta(a), self.delta(b), len, positions);
        out.start(if dense { Layout::Dense } else { Layout::Sparse });
        let (mut ca, mut cb) = (Cursor::new(self.delta(a)), Cursor::new(self.delta(b)));
        for &p in positions.iter() {
            let ((da, ba), (db, bb)) = (ca.at(p), cb.at(p));
            if dense {
                out.change.push(add_lanes(da, db));
                out.bound.push(ba + bb);
            } else {
                out.push(p, add_lanes(da, db), ba + bb);
            }
        }
    }

    fn sigmoid(&self, out: &mut Delta, id: NodeId, s: NodeId, base: &Base) {
        let input = self.delta(s).expect("a changed operand");
        let y = slice(base.value(s));
        let magnitude = base.magnitudes.vector(s);
        let table = &base.sigmoids[id.0];
        out.start(input.layout);
        for k in 0..input.entries() {
            let p = input.position(k);
            let (d, b) = (input.change[k], input.bound[k]);
            let (e, complement) = (table.exp_neg_abs[p], table.complement[p]);
            let reach = d.iter().fold(0.0f64, |r, d| r.max(d.abs()));
            let change = sigmoid_change(y[p], e, complement, d, reach);
            // The factor at y holds along the whole step when the step is small: σ, σ' and
            // |σ''| change by a factor of at most e^(2|d|) < 1 + 3|d| for |d| ≤ 1e-3.
            let factor = if reach <= 1e-3 {
                table.bound_factor[p] * (1.0 + 3.0 * reach)
            } else {
                d.iter().fold(table.bound_factor[p], |f, d| {
                    f.max(sigmoid_bound_factor(y[p] + d, magnitude[p]))
                })
            };
            out.change.push(change);
            out.bound.push(factor * b);
            if input.layout == Layout::Sparse {
                out.index.push(p);
            }
        }
    }

    fn matvec(
        &self,
        out: &mut Delta,
        weight: NodeId,
        vector: NodeId,
        base: &Base,
        halves: &mut Halves,
    ) {
        let w: &Mat<f64> = crate::gate::matrix(base.value(weight));
        let (o, mag_o) = (slice(base.value(vector)), base.magnitudes.vector(vector));
        let (dw, dv) = (self.delta(weight), self.delta(vector));
        let (rows, cols) = (w.nrows(), w.ncols());
        // One perturbed weight entry and an unchanged vector: one output entry changes.
        if let (Some(dw), None) = (dw, dv)
            && dw.layout == Layout::Sparse
            && dw.entries() == 1
        {
            let (j, i) = (dw.index[0] / cols, dw.index[0] % cols);
            out.start(Layout::Sparse);
            out.push(j, dw.change[0].map(|c| c * o[i]), dw.bound[0] * mag_o[i]);
            return;
        }
        out.start_dense_zero(rows);
        // W Δo, with bound |W| bound(Δo).
        if let Some(dv) = dv {
            if dv.layout == Layout::Dense {
                // The lanes as the columns of one matrix product.
                if dv.change.iter().all(|c| c[1] == -c[0] && c[3] == -c[2]) {
                    // Each odd lane is its even neighbour negated (a leaf moved by ±t):
                    // half the product, then negated, which rounding leaves exact.
                    halves.change.clear();
                    halves.change.extend(dv.change.iter().map(|c| [c[0], c[2]]));
                    halves.product.clear();
                    halves.product.resize(rows, [0.0; 2]);
                    kernels::matvec_lanes_add(&mut halves.product, w, &halves.change);
                    for (out, p) in out.change.iter_mut().zip(&halves.product) {
                        *out = [p[0], -p[0], p[1], -p[1]];
                    }
                } else {
                    kernels::matvec_lanes_add(&mut out.change, w, &dv.change);
                }
                kernels::abs_matvec_add(&mut out.bound, w, &dv.bound);
            } else {
                for k in 0..dv.entries() {
                    let p = dv.position(k);
                    let (d, b) = (dv.change[k], dv.bound[k]);
                    let rows = out.change.iter_mut().zip(out.bound.iter_mut());
                    for ((change, bound), &wij) in rows.zip(w.col_as_slice(p)) {
                        for (c, d) in change.iter_mut().zip(d) {
                            *c += wij * d;
                        }
                        *bound += wij.abs() * b;
                    }
                }
            }
        }
        // ΔW (o + Δo), with bound bound(ΔW) (|o| + bound(Δo)).
        let Some(dw) = dw else { return };
        let operand = |i: usize| -> (Lanes, f64) {
            let (d, b) = dv.map_or((NONE, 0.0), |dv| dv.at(i));
            (d.map(|d| o[i] + d), mag_o[i] + b)
        };
        if dw.layout == Layout::RankOne {
            // Σ_j cols[j] (o + Δo)[j] per lane, then a column of row factors.
            let (mut sums, mut bound_sum) = (NONE, 0.0);
            for (i, (factor, factor_bound)) in dw.cols.iter().zip(&dw.col_bound).enumerate() {
                let (shifted, shifted_bound) = operand(i);
                for lane in 0..LANES {
                    sums[lane] += factor[lane] * shifted[lane];
                }
                bound_sum += factor_bound * shifted_bound;
            }
            for (j, (factor, factor_bound)) in dw.rows.iter().zip(&dw.row_bound).enumerate() {
                for lane in 0..LANES {
                    out.change[j][lane] += factor[lane] * sums[lane];
                }
                out.bound[j] += factor_bound * bound_sum;
            }
            return;
        }
        for k in 0..dw.entries() {
            let flat = dw.position(k);
            let (j, i) = (flat / cols, flat % cols);
            let (shifted, shifted_bound) = operand(i);
            let step = dw.change[k];
            for (lane, total) in out.change[j].iter_mut().enumerate() {
                *total += step[lane] * shifted[lane];
            }
            out.bound[j] += dw.bound[k] * shifted_bound;
        }
    }

    fn sqerr(
        &self,
        output: NodeId,
        target: NodeId,
        base: &Base,
        positions: &mut Vec<usize>,
    ) -> (Lanes, f64) {
        let (o, t) = (slice(base.value(output)), slice(base.value(target)));
        let (mag_o, mag_t) = (
            base.magnitudes.vector(output),
            base.magnitudes.vector(target),
        );
        union(self.delta(output), self.delta(target), o.len(), positions);
        let (mut co, mut ct) = (
            Cursor::new(self.delta(output)),
            Cursor::new(self.delta(target)),
        );
        let (mut change, mut bound) = (NONE, 0.0);
        for &p in positions.iter() {
            let ((d_o, b_o), (d_t, b_t)) = (co.at(p), ct.at(p));
            let residual = o[p] - t[p];
            for lane in 0..LANES {
                let d_residual = d_o[lane] - d_t[lane];
                change[lane] += 0.5 * d_residual * (2.0 * residual + d_residual);
            }
            // The residual's round-off is of order ε·(|o| + |t|) in magnitude, however small
            // the residual itself: a nearly met target is a cancellation.
            let b_residual = b_o + b_t;
            bound += 0.5 * b_residual * (2.0 * (mag_o[p] + mag_t[p]) + b_residual);
        }
        (change, bound)
    }
}
