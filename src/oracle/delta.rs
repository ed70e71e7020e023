//! The change of each node under a perturbation, in several lanes at once, kept sparse
//! while it stays sparse.
//!
//! A perturbation moves one or more leaves by a real step in each of [`LANES`] lanes (the
//! full check: one entry by `+h, −h, +2h, −2h`; the fast check: two directions by `±t`).
//! A [`Delta`] holds, for the entries that change, each lane's change `v(θ + s) − v(θ)`
//! from the unperturbed value, and a [`Bound`] on the rounding error of those changes in the
//! lanes it covers (the full check's `±h`, whose difference is the derivative; every lane in
//! the fast check): a running error analysis of this very
//! computation ([`crate::tolerance`]), which includes the round-off of the forward values
//! the changes are computed from; unchanged entries keep their forward value. Perturbing one leaf entry changes one entry of the leaf; an
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
//! - `mul`: `Δ(a ⊙ b) = Δa ⊙ (b + Δb) + a ⊙ Δb`;
//! - `matvec`: `Δ(W o) = W Δo + ΔW (o + Δo)`;
//! - `matmul`: `Δ(A B) = ΔA (B + ΔB) + A ΔB`, over the rows of `A` and the columns of `B`
//!   that changed; `transpose` moves the changes as it moves the entries;
//! - an elementwise function: its own rule ([`crate::function`]; for `sigmoid`,
//!   `σ(y + d) − σ(y) = σ(y + d) · σ(−y) · (−expm1(−d))`), with the constants it reuses
//!   computed once per graph ([`super::base::Base`]);
//! - `sqerr`: `½‖r + Δr‖² − ½‖r‖² = ½ Σ Δr (2r + Δr)`, with `r = o − t`, `Δr = Δo − Δt`.

use super::base::Base;
use crate::function::Function;
use crate::graph::{Graph, NodeId, Operation};
use crate::kernels;
use crate::op::{Binary, Loss, Rearrange, Reduce};
use crate::precision::Precision;
use crate::value::{Shape, broadcast_entry, transposed_entry};
use faer::Mat;

/// Perturbations carried side by side.
pub const LANES: usize = 4;

/// One entry's change in every lane.
pub type Lanes = [f64; LANES];

const NONE: Lanes = [0.0; LANES];

/// A bound on the rounding error of a change in the lanes it covers.
pub type Bound = f64;

/// The bound of an exact change.
pub const EXACT: Bound = 0.0;

/// The unit round-off and underflow unit of the oracle's own arithmetic (`f64`).
pub const U: f64 = f64::EPSILON / 2.0;
const ETA: f64 = 5e-324;

/// The largest change among the first `covered` lanes (two or four). Plain comparisons
/// rather than `f64::max`, whose NaN rules cost a fifth of the whole check here: a NaN change
/// makes the derivative NaN, a non-finite verdict, whatever its bound.
#[inline(always)]
fn reach(change: Lanes, covered: usize) -> f64 {
    let larger = |a: f64, b: f64| if a < b { b } else { a };
    let first = larger(change[0].abs(), change[1].abs());
    if covered <= 2 {
        first
    } else {
        larger(first, larger(change[2].abs(), change[3].abs()))
    }
}

/// How a delta's changed entries are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Layout {
    /// The entries at `index` (increasing) changed.
    #[default]
    Sparse,
    /// Every entry changed (a weight's in row-major order).
    Dense,
    /// A weight moved along a rank-one direction in each lane: entry `(i, j)` changes by
    /// `rows[i][lane] · cols[j][lane]`, each factor with a bound of its own.
    RankOne,
}

/// The changed entries of one node.
#[derive(Clone, Debug, Default)]
pub struct Delta {
    layout: Layout,
    index: Vec<usize>,
    change: Vec<Lanes>,
    bound: Vec<Bound>,
    rows: Vec<Lanes>,
    cols: Vec<Lanes>,
    row_bound: Vec<Bound>,
    col_bound: Vec<Bound>,
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
        self.bound.resize(len, EXACT);
    }

    fn push(&mut self, position: usize, change: Lanes, bound: Bound) {
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
    fn at(&self, position: usize) -> (Lanes, Bound) {
        match self.layout {
            Layout::Dense => (self.change[position], self.bound[position]),
            Layout::Sparse => match self.index.binary_search(&position) {
                Ok(k) => (self.change[k], self.bound[k]),
                Err(_) => (NONE, EXACT),
            },
            Layout::RankOne => unreachable!("rank-one deltas are weights, read as such"),
        }
    }

    /// A single changed entry (a perturbation of one leaf entry).
    pub fn set_single(&mut self, position: usize, change: Lanes, bound: Bound) {
        self.start(Layout::Sparse);
        self.push(position, change, bound);
    }

    /// Every entry of a vector changed: `fill` pushes each entry's lanes and bound.
    pub fn set_dense(&mut self, fill: impl FnOnce(&mut Vec<Lanes>, &mut Vec<Bound>)) {
        self.start(Layout::Dense);
        fill(&mut self.change, &mut self.bound);
    }

    /// A weight moved along rank-one directions: `fill` pushes the row factors with their
    /// bounds, then the column factors with theirs.
    pub fn set_rank_one(
        &mut self,
        fill: impl FnOnce(&mut Vec<Lanes>, &mut Vec<Bound>, &mut Vec<Lanes>, &mut Vec<Bound>),
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

    fn at(&mut self, position: usize) -> (Lanes, Bound) {
        match self.delta {
            Some(d) if d.layout == Layout::Sparse => {
                while self.next < d.index.len() && d.index[self.next] < position {
                    self.next += 1;
                }
                if self.next < d.index.len() && d.index[self.next] == position {
                    (d.change[self.next], d.bound[self.next])
                } else {
                    (NONE, EXACT)
                }
            }
            Some(d) => (d.change[position], d.bound[position]),
            None => (NONE, EXACT),
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
    products: ProductScratch,
    /// The leaves set since the last [`Workspace::loss_change`], to forget after it.
    seeded: Vec<NodeId>,
    /// The lanes the bounds cover, the first ones.
    covered: usize,
}

/// Where a matrix product's operands changed: per row of the first, the range of its
/// changed entries in the delta; per column of the second, its changed entries (reused).
#[derive(Default)]
struct ProductScratch {
    rows: Vec<(usize, usize)>,
    cols: Vec<Vec<usize>>,
    changed_cols: Vec<usize>,
}

/// The even lanes of a change and their product, for a change whose odd lanes are its even
/// ones negated, and the spread of a change's bound through a product (reused, like every
/// buffer here).
#[derive(Default)]
struct Halves {
    change: Vec<[f64; 2]>,
    product: Vec<[f64; 2]>,
    spread: Vec<Bound>,
}

impl Workspace {
    pub fn new(graph: &Graph) -> Self {
        Workspace {
            deltas: vec![Delta::default(); graph.len()],
            active: vec![false; graph.len()],
            positions: Vec::new(),
            halves: Halves::default(),
            products: ProductScratch::default(),
            seeded: Vec::new(),
            covered: LANES,
        }
    }

    /// Bounds cover only the first `lanes` lanes from now on (the full check's `±h`: the
    /// `±2h` lanes only estimate truncation).
    pub fn cover(&mut self, lanes: usize) {
        self.covered = lanes.clamp(1, LANES);
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
    pub fn loss_change(&mut self, gates: &[(NodeId, &Operation)], base: &Base) -> (Lanes, Bound) {
        let (mut change, mut bound) = (NONE, EXACT);
        for &(id, gate) in gates {
            if let Some((loss_change, loss_bound)) = self.propagate(id, gate, base) {
                for (total, c) in change.iter_mut().zip(loss_change) {
                    *total += c;
                }
                bound += loss_bound + U * reach(change, self.covered);
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
    fn propagate(&mut self, id: NodeId, gate: &Operation, base: &Base) -> Option<(Lanes, Bound)> {
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
            covered: self.covered,
        };
        let positions = &mut self.positions;
        let loss = match *gate {
            Operation::Leaf(..) => None,
            Operation::Binary(Binary::Add, a, b) => {
                earlier.add(out, id, a, b, base, positions);
                None
            }
            Operation::Binary(Binary::Mul, a, b) => {
                earlier.mul(out, id, a, b, base, positions);
                None
            }
            Operation::Unary(op, s) => {
                let function = Function::of(op).expect("an elementwise gate");
                earlier.elementwise(out, function, id, s, base);
                None
            }
            Operation::Binary(Binary::Matvec, weight, vector) => {
                earlier.matvec(out, weight, vector, base, &mut self.halves);
                None
            }
            Operation::Binary(Binary::Matmul, a, b) => {
                earlier.matmul(out, a, b, base, &mut self.products);
                None
            }
            Operation::Rearrange(Rearrange::Transpose, a) => {
                earlier.transpose(out, a, base, positions);
                None
            }
            Operation::Reduce(op, a) => {
                earlier.reduce(out, op, a, base);
                None
            }
            Operation::Loss(Loss::Sqerr, output, target) => {
                Some(earlier.sqerr(output, target, base, positions))
            }
            // mse: sqerr's change divided by the rows, one rounding more in each lane.
            Operation::Loss(Loss::Mse, output, target) => {
                let (change, bound) = earlier.sqerr(output, target, base, positions);
                let rows = Loss::Mse.divisor(base.shapes[output.0]);
                let change = change.map(|c| c / rows);
                Some((change, bound / rows + U * reach(change, self.covered) + ETA))
            }
        };
        self.active[id.0] = loss.is_none();
        loss
    }
}

/// The deltas of the nodes before the one being evaluated.
struct Earlier<'a> {
    deltas: &'a [Delta],
    active: &'a [bool],
    covered: usize,
}

impl<'a> Earlier<'a> {
    fn delta(&self, id: NodeId) -> Option<&'a Delta> {
        self.active[id.0].then(|| &self.deltas[id.0])
    }

    fn add(
        &self,
        out: &mut Delta,
        id: NodeId,
        a: NodeId,
        b: NodeId,
        base: &Base,
        positions: &mut Vec<usize>,
    ) {
        let (shape, sa, sb) = (base.shapes[id.0], base.shapes[a.0], base.shapes[b.0]);
        if sa != sb {
            // A vector added to every row of a matrix, in either order.
            let (matrix, vector) = match sa {
                Shape::Vector(_) => (b, a),
                _ => (a, b),
            };
            return self.broadcast_add(out, matrix, vector, shape);
        }
        let len = shape.len();
        let dense = union(self.delta(a), self.delta(b), len, positions);
        out.start(if dense { Layout::Dense } else { Layout::Sparse });
        let (mut ca, mut cb) = (Cursor::new(self.delta(a)), Cursor::new(self.delta(b)));
        for &p in positions.iter() {
            let ((da, ba), (db, bb)) = (ca.at(p), cb.at(p));
            let change = add_lanes(da, db);
            // The parts' errors and one rounding of the sum; a change doubled is exact.
            let bound = if a == b {
                2.0 * ba
            } else {
                ba + bb + U * reach(change, self.covered) + ETA
            };
            if dense {
                out.change.push(change);
                out.bound.push(bound);
            } else {
                out.push(p, change, bound);
            }
        }
    }

    /// A matrix plus a vector added to every row: where the vector did not change, the
    /// matrix's changes; where it did, every entry.
    fn broadcast_add(&self, out: &mut Delta, matrix: NodeId, vector: NodeId, shape: Shape) {
        let (matrix, vector) = (self.delta(matrix), self.delta(vector));
        let (_, cols) = shape.dims();
        let none = |d: Option<&Delta>, p: usize| d.map_or((NONE, EXACT), |d| d.at(p));
        let bound =
            |ba: Bound, bb: Bound, change: Lanes| ba + bb + U * reach(change, self.covered) + ETA;
        match vector {
            None => {
                let matrix = matrix.expect("a changed operand");
                out.start(matrix.layout);
                for k in 0..matrix.entries() {
                    let (p, change, b) = (matrix.position(k), matrix.change[k], matrix.bound[k]);
                    out.change.push(change);
                    out.bound.push(bound(b, EXACT, change));
                    if matrix.layout == Layout::Sparse {
                        out.index.push(p);
                    }
                }
            }
            Some(vector) => {
                out.start(Layout::Dense);
                for p in 0..shape.len() {
                    let ((dm, bm), (dv, bv)) = (none(matrix, p), vector.at(p % cols));
                    let change = add_lanes(dm, dv);
                    out.change.push(change);
                    out.bound.push(bound(bm, bv, change));
                }
            }
        }
    }

    /// `Δ(a ⊙ b) = Δa ⊙ (b + Δb) + a ⊙ Δb` where either operand changed (every entry of a
    /// matrix whose vector operand on every row changed).
    fn mul(
        &self,
        out: &mut Delta,
        id: NodeId,
        a: NodeId,
        b: NodeId,
        base: &Base,
        positions: &mut Vec<usize>,
    ) {
        let (shape, sa, sb) = (base.shapes[id.0], base.shapes[a.0], base.shapes[b.0]);
        let (da, db) = (self.delta(a), self.delta(b));
        let dense = if sa == sb {
            union(da, db, shape.len(), positions)
        } else {
            // The matrix's changed entries, or every entry if the vector changed.
            let (matrix, vector) = if sa == shape { (da, db) } else { (db, da) };
            positions.clear();
            match (matrix, vector) {
                (Some(m), None) if m.layout == Layout::Sparse => {
                    positions.extend_from_slice(&m.index);
                    false
                }
                _ => {
                    positions.extend(0..shape.len());
                    true
                }
            }
        };
        let (xa, xb) = (base.values.entries(a), base.values.entries(b));
        let (ea, eb) = (base.errors.of(a), base.errors.of(b));
        let covered = self.covered;
        let at = |d: Option<&Delta>, p: usize| d.map_or((NONE, EXACT), |d| d.at(p));
        out.start(if dense { Layout::Dense } else { Layout::Sparse });
        for &p in positions.iter() {
            let (i, j) = (broadcast_entry(sa, shape, p), broadcast_entry(sb, shape, p));
            let ((ca, ba), (cb, bb)) = (at(da, i), at(db, j));
            let shifted: Lanes = std::array::from_fn(|l| xb[j] + cb[l]);
            let change: Lanes = std::array::from_fn(|l| ca[l] * shifted[l] + xa[i] * cb[l]);
            // Δa off by ba times |b + Δb|, and |Δa| times b + Δb's error (b's forward error,
            // Δb's bound and a rounding); a off by e_a times |Δb|, |a| times Δb's bound; four
            // roundings per lane.
            let (reach_a, reach_b, reach_shifted) = (
                reach(ca, covered),
                reach(cb, covered),
                reach(shifted, covered),
            );
            let shifted_error = eb[j] + bb + U * reach_shifted;
            let bound = ba * reach_shifted * (1.0 + 2.0 * U)
                + (reach_a + ba) * shifted_error
                + ea[i] * reach_b
                + (xa[i].abs() + ea[i]) * bb
                + Precision::F64.gamma(3) * (reach_a * reach_shifted + xa[i].abs() * reach_b)
                + 3.0 * ETA;
            if dense {
                out.change.push(change);
                out.bound.push(bound);
            } else {
                out.push(p, change, bound);
            }
        }
    }

    /// `Δ(A B) = ΔA (B + ΔB) + A ΔB` at every entry in a changed row of `A` or a changed
    /// column of `B`, as one sum of the terms that are not exact zeros: `ΔA_ip (B + ΔB)_pj`
    /// off by `bound(ΔA)·|B + ΔB|` and `|ΔA|·(e_B + bound(ΔB) + u|B + ΔB|)`, `A_ip ΔB_pj` off
    /// by `e_A·|ΔB|` and `|A|·bound(ΔB)`, and the sum's roundings.
    fn matmul(
        &self,
        out: &mut Delta,
        a: NodeId,
        b: NodeId,
        base: &Base,
        scratch: &mut ProductScratch,
    ) {
        let ((m, k), (_, n)) = (base.shapes[a.0].dims(), base.shapes[b.0].dims());
        let (da, db) = (self.delta(a), self.delta(b));
        let (xa, xb) = (base.values.entries(a), base.values.entries(b));
        let (ea, eb) = (base.errors.of(a), base.errors.of(b));
        let covered = self.covered;
        scratch.rows.clear();
        scratch.rows.resize(m, (0, 0));
        if let Some(da) = da {
            // Changed entries come in increasing row-major position: each row's are adjacent.
            for e in 0..da.entries() {
                let row = &mut scratch.rows[da.position(e) / k];
                if row.0 == row.1 {
                    *row = (e, e + 1);
                } else {
                    row.1 = e + 1;
                }
            }
        }
        scratch
            .cols
            .resize_with(n.max(scratch.cols.len()), Vec::new);
        for col in &mut scratch.cols[..n] {
            col.clear();
        }
        if let Some(db) = db {
            for e in 0..db.entries() {
                scratch.cols[db.position(e) % n].push(e);
            }
        }
        let (rows, cols) = (&scratch.rows, &scratch.cols[..n]);
        let dense = rows.iter().all(|r| r.0 < r.1) || cols.iter().all(|c| !c.is_empty());
        out.start(if dense { Layout::Dense } else { Layout::Sparse });
        // The entries that change, in row-major order: every column of a changed row, the
        // changed columns of the others (walked without visiting the unchanged entries).
        scratch.changed_cols.clear();
        scratch
            .changed_cols
            .extend((0..n).filter(|&j| !cols[j].is_empty()));
        let every_col: &[usize] = &[];
        for (i, &(first, last)) in rows.iter().enumerate() {
            let row_changed = first < last;
            let (all, some) = if row_changed {
                (0..n, every_col)
            } else {
                (0..0, scratch.changed_cols.as_slice())
            };
            for j in all.chain(some.iter().copied()) {
                let col = &cols[j];
                let (mut change, mut bound, mut magnitude, mut terms) = (NONE, 0.0, 0.0, 0usize);
                let mut running = 0.0;
                if let Some(da) = da {
                    for e in first..last {
                        let p = da.position(e) % k;
                        let (ca, ba) = (da.change[e], da.bound[e]);
                        let (cb, bb) = db.map_or((NONE, EXACT), |db| db.at(p * n + j));
                        let shifted: Lanes = std::array::from_fn(|l| xb[p * n + j] + cb[l]);
                        for l in 0..LANES {
                            change[l] += ca[l] * shifted[l];
                        }
                        let (reach_a, reach_shifted) =
                            (reach(ca, covered), reach(shifted, covered));
                        let shifted_error = eb[p * n + j] + bb + U * reach_shifted;
                        bound +=
                            ba * reach_shifted * (1.0 + 2.0 * U) + (reach_a + ba) * shifted_error;
                        magnitude += reach_a * reach_shifted;
                        running += U * (reach(change, covered) + bound + running) * (1.0 + U)
                            + U * reach_a * reach_shifted;
                        terms += 1;
                    }
                }
                if let Some(db) = db {
                    for &e in col {
                        let p = db.position(e) / n;
                        let (cb, bb) = (db.change[e], db.bound[e]);
                        let (x, e_x) = (xa[i * k + p], ea[i * k + p]);
                        for l in 0..LANES {
                            change[l] += x * cb[l];
                        }
                        let reach_b = reach(cb, covered);
                        bound += e_x * reach_b + (x.abs() + e_x) * bb;
                        magnitude += x.abs() * reach_b;
                        running += U * (reach(change, covered) + bound + running) * (1.0 + U)
                            + U * x.abs() * reach_b;
                        terms += 1;
                    }
                }
                // The sum's roundings: the running bound of the order taken (each partial sum
                // off by u of itself, each product by u of it), or γ(terms + 1)·Σ|term| for
                // any order, the smaller.
                let any_order = Precision::F64.gamma(terms + 1) * magnitude;
                bound += running.min(any_order) + (2 * terms) as f64 * ETA;
                if dense {
                    out.change.push(change);
                    out.bound.push(bound);
                } else {
                    out.push(i * n + j, change, bound);
                }
            }
        }
    }

    /// `Δ(Aᵀ) = (ΔA)ᵀ`: the same changes and bounds at the moved positions (exact).
    fn transpose(&self, out: &mut Delta, a: NodeId, base: &Base, positions: &mut Vec<usize>) {
        let input = self.delta(a).expect("a changed operand");
        let (m, n) = base.shapes[a.0].dims();
        // Entry p of A is entry `transposed_entry(n, m, p)` of Aᵀ (n×m).
        let moved = |p: usize| transposed_entry(n, m, p);
        match input.layout {
            Layout::Dense => {
                out.start_dense_zero(m * n);
                for p in 0..m * n {
                    out.change[moved(p)] = input.change[p];
                    out.bound[moved(p)] = input.bound[p];
                }
            }
            Layout::Sparse => {
                // Sorted by their new positions.
                positions.clear();
                positions.extend(0..input.entries());
                positions.sort_unstable_by_key(|&e| moved(input.index[e]));
                out.start(Layout::Sparse);
                for &e in positions.iter() {
                    out.push(moved(input.index[e]), input.change[e], input.bound[e]);
                }
            }
            Layout::RankOne => unreachable!("a weight a transpose takes is not matvec's only"),
        }
    }

    /// The column sums (or means) of a batch's changes: the change of a sum is the sum of
    /// the changes, off by their bounds and the roundings of that sum, `γ_k·Σ|Δ|` for `k`
    /// terms; a mean's then divided by the rows, one rounding more.
    fn reduce(&self, out: &mut Delta, op: Reduce, a: NodeId, base: &Base) {
        let input = self.delta(a).expect("a changed operand");
        let (rows, cols) = base.shapes[a.0].dims();
        let (mut change, mut bound) = (vec![NONE; cols], vec![EXACT; cols]);
        let (mut magnitude, mut terms) = (vec![0.0; cols], vec![0usize; cols]);
        for k in 0..input.entries() {
            let j = input.position(k) % cols;
            change[j] = add_lanes(change[j], input.change[k]);
            bound[j] += input.bound[k];
            magnitude[j] += reach(input.change[k], LANES);
            terms[j] += 1;
        }
        let divisor = op.divisor(rows);
        out.start(Layout::Sparse);
        for j in (0..cols).filter(|&j| terms[j] > 0) {
            let mut b =
                bound[j] + Precision::F64.gamma(terms[j]) * magnitude[j] + terms[j] as f64 * ETA;
            let mut c = change[j];
            if divisor != 1.0 {
                c = c.map(|c| c / divisor);
                b = b / divisor + U * reach(c, self.covered) + ETA;
            }
            out.push(j, c, b);
        }
    }

    /// `f(y + d) − f(y)`, entry by entry, by the function's own cancellation-free rule.
    fn elementwise(&self, out: &mut Delta, function: Function, id: NodeId, s: NodeId, base: &Base) {
        let input = self.delta(s).expect("a changed operand");
        let y = base.values.entries(s);
        let e_y = base.errors.of(s);
        let points = &base.points[id.0];
        let roundings = function.change_roundings();
        out.start(input.layout);
        for k in 0..input.entries() {
            let p = input.position(k);
            let (d, b) = (input.change[k], input.bound[k]);
            let reach_in = reach(d, self.covered);
            let widest = reach(d, LANES);
            let change = function.change(y[p], &points[p], d, widest);
            let reach_out = reach(change, self.covered);
            // f(y + d) − f(y) from a d that is off by b and a y that is off by e_y is off by
            // f'(y + d)·b + (f'(y + d) − f'(y))·e_y, besides its own roundings.
            let (slope, curvature) = function.along_step(y[p], e_y[p], &points[p], reach_in);
            // A step that may cross a kink (relu's 0): the change moves by as much as y's
            // error there, its slope being either side's.
            let across_kink = if function.kink_within(y[p], e_y[p] + reach_in) {
                e_y[p]
            } else {
                0.0
            };
            let bound = slope * b
                + curvature * e_y[p] * reach_in
                + across_kink
                + roundings * (U * reach_out + ETA);
            out.change.push(change);
            out.bound.push(bound);
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
        let w: &Mat<f64> = crate::value::matrix(base.value(weight));
        let (o, e_o) = (base.values.entries(vector), base.errors.of(vector));
        let (dw, dv) = (self.delta(weight), self.delta(vector));
        let (rows, cols) = (w.nrows(), w.ncols());
        // One perturbed weight entry and an unchanged vector: one output entry changes, by
        // one product, whose error is the step's times |o| and the step times o's, and one
        // rounding.
        if let (Some(dw), None) = (dw, dv)
            && dw.layout == Layout::Sparse
            && dw.entries() == 1
        {
            let (j, i) = (dw.index[0] / cols, dw.index[0] % cols);
            let change = dw.change[0].map(|c| c * o[i]);
            let covered = self.covered;
            let (step, step_bound) = (reach(dw.change[0], covered), dw.bound[0]);
            let bound = step * e_o[i] + step_bound * o[i].abs() + U * reach(change, covered) + ETA;
            out.start(Layout::Sparse);
            out.push(j, change, bound);
            return;
        }
        out.start_dense_zero(rows);
        // Each output entry is one sum of the n products of W Δo and the products of
        // ΔW (o + Δo): γ(n + terms) bounds its roundings in any order.
        let terms = match dw {
            Some(dw) if dw.layout == Layout::RankOne => 1,
            Some(dw) => dw.entries(),
            None => 0,
        };
        let gamma = Precision::F64.gamma(cols + terms + 1);
        for bound in &mut out.bound {
            *bound = (cols + terms) as f64 * ETA;
        }
        let covered = self.covered;
        // W Δo, off by |W| (bound(Δo) + γ·|Δo|).
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
                halves.spread.clear();
                halves.spread.extend(
                    dv.change
                        .iter()
                        .zip(&dv.bound)
                        .map(|(c, b)| b + gamma * reach(*c, covered)),
                );
                kernels::abs_matvec_add(&mut out.bound, w, &halves.spread);
            } else {
                for k in 0..dv.entries() {
                    let p = dv.position(k);
                    let (d, b) = (dv.change[k], dv.bound[k]);
                    let spread = b + gamma * reach(d, covered);
                    let rows = out.change.iter_mut().zip(out.bound.iter_mut());
                    for ((change, bound), &wij) in rows.zip(w.col_as_slice(p)) {
                        for (c, d) in change.iter_mut().zip(d) {
                            *c += wij * d;
                        }
                        *bound += wij.abs() * spread;
                    }
                }
            }
        }
        // ΔW (o + Δo): each product off by |ΔW| (e_o + bound(Δo)) + bound(ΔW)·|o + Δo|,
        // besides its roundings.
        let Some(dw) = dw else { return };
        let operand = |i: usize| -> (Lanes, f64, Bound) {
            let (d, b) = dv.map_or((NONE, EXACT), |dv| dv.at(i));
            let shifted = d.map(|d| o[i] + d);
            (
                shifted,
                reach(shifted, covered),
                e_o[i] + b + U * o[i].abs(),
            )
        };
        if dw.layout == Layout::RankOne {
            // Σ_j cols[j] (o + Δo)[j] per lane, then a column of row factors.
            let (mut sums, mut sum_bound, mut sum_magnitude) = (NONE, 0.0, 0.0);
            for (i, (factor, factor_bound)) in dw.cols.iter().zip(&dw.col_bound).enumerate() {
                let (shifted, shifted_reach, shifted_error) = operand(i);
                for lane in 0..LANES {
                    sums[lane] += factor[lane] * shifted[lane];
                }
                let factor_reach = reach(*factor, covered);
                sum_bound += factor_reach * shifted_error + factor_bound * shifted_reach;
                sum_magnitude += factor_reach * shifted_reach;
            }
            let sums_reach = reach(sums, covered);
            let sum_bound = sum_bound + Precision::F64.gamma(cols) * sum_magnitude;
            for (j, (factor, factor_bound)) in dw.rows.iter().zip(&dw.row_bound).enumerate() {
                for lane in 0..LANES {
                    out.change[j][lane] += factor[lane] * sums[lane];
                }
                let factor_reach = reach(*factor, covered);
                out.bound[j] += factor_reach * sum_bound
                    + factor_bound * sums_reach
                    + gamma * factor_reach * sums_reach;
            }
            return;
        }
        for k in 0..dw.entries() {
            let flat = dw.position(k);
            let (j, i) = (flat / cols, flat % cols);
            let (shifted, shifted_reach, shifted_error) = operand(i);
            let step = dw.change[k];
            for (lane, total) in out.change[j].iter_mut().enumerate() {
                *total += step[lane] * shifted[lane];
            }
            let step_reach = reach(step, covered);
            out.bound[j] += step_reach * shifted_error
                + dw.bound[k] * shifted_reach
                + gamma * step_reach * shifted_reach;
        }
    }

    fn sqerr(
        &self,
        output: NodeId,
        target: NodeId,
        base: &Base,
        positions: &mut Vec<usize>,
    ) -> (Lanes, Bound) {
        let (o, t) = (base.values.entries(output), base.values.entries(target));
        let (e_o, e_t) = (base.errors.of(output), base.errors.of(target));
        union(self.delta(output), self.delta(target), o.len(), positions);
        let (mut co, mut ct) = (
            Cursor::new(self.delta(output)),
            Cursor::new(self.delta(target)),
        );
        let (mut change, mut bound, mut magnitude, mut running) = (NONE, 0.0, 0.0, 0.0);
        for &p in positions.iter() {
            let ((d_o, b_o), (d_t, b_t)) = (co.at(p), ct.at(p));
            let residual = o[p] - t[p];
            let mut term = NONE;
            let mut d_residual = NONE;
            for lane in 0..LANES {
                d_residual[lane] = d_o[lane] - d_t[lane];
                term[lane] = 0.5 * d_residual[lane] * (2.0 * residual + d_residual[lane]);
                change[lane] += term[lane];
            }
            // ½Δr(2r + Δr) is off by |r + Δr|·bound(Δr) + |Δr|·e_r, with r = o − t computed
            // from forward values off by e_o and e_t: a nearly met target is a cancellation,
            // whose error is of the order of the values, not of the residual.
            let e_residual = e_o[p] + e_t[p] + U * residual.abs();
            let reach_dr = reach(d_residual, self.covered);
            let b_dr = b_o + b_t + U * reach_dr;
            bound += (residual.abs() + reach_dr) * b_dr + reach_dr * e_residual;
            let reach_term = reach(term, self.covered);
            magnitude += reach_term;
            // In order: this partial sum off by u of itself (computed, so with the error so
            // far), the term by its own three roundings.
            running += U * (reach(change, self.covered) + bound + running) * (1.0 + U)
                + Precision::F64.gamma(3) * reach_term;
        }
        // Each term's own three roundings and the sum over positions, each of which may
        // also lose up to the underflow unit: in the order taken, or in any order, the
        // smaller.
        let count = positions.len() + 3;
        let gamma = Precision::F64.gamma(count);
        let rounding = running.min(gamma * magnitude);
        (change, bound + rounding + (3 * count) as f64 * ETA)
    }
}
