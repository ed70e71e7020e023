//! Recipes: the raw material of a random graph, and the total builder that turns any recipe
//! into a valid [`Graph`].
//!
//! A [`Recipe`] is a flat list of construction steps plus a pool of raw numbers. [`build`]
//! never fails: dimensions are wrapped into `1..=max_dim`, operands are picked modulo the
//! shape-compatible earlier nodes (a fresh leaf when there is none), non-finite numbers
//! become 0, and a loss is appended when the steps made none that depends on an input or a
//! weight. Every source of randomness (a seeded RNG, a proptest strategy, fuzzer bytes)
//! therefore only has to produce a recipe, and every shrunk or mutated recipe still builds.

use crate::graph::{Graph, LeafKind, NodeId, Operation, Shape};
use crate::op::{Arg, GateKind, output_shape};
use crate::value::Value;
use faer::{Col, Mat};

/// One construction step. Raw choices are taken modulo the candidates.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Step {
    /// A fresh `input` of length `1 + dim % max_dim`.
    Input { dim: u16 },
    /// A fresh `target` of length `1 + dim % max_dim`.
    Target { dim: u16 },
    /// A fresh batch: an `input` matrix of `1 + rows % max_batch` rows (examples) and
    /// `1 + dim % max_dim` columns (features). A recipe with one builds a graph of batches,
    /// whose gates may take matrices.
    Batch { rows: u16, dim: u16 },
    /// A gate of kind `kind`, its operands picked by the raw `choices` as the builder's rule
    /// for that gate says (`Step::add`, `Step::matvec`, … document each).
    Gate { kind: GateKind, choices: [u16; 3] },
}

impl Step {
    /// `add(a, b)`: `a` among the vectors, `b` among the vectors of `a`'s length (which
    /// include `a` itself, so `add(x, x)` happens).
    pub fn add(a: u16, b: u16) -> Step {
        Step::gate(GateKind::Add, [a, b, 0])
    }

    /// `matvec(W, o)`: `o` among the vectors; `W` among the weights with as many columns as
    /// `o` has entries, or a fresh `(1 + rows % max_dim)×len(o)` weight (the last choice).
    pub fn matvec(vector: u16, weight: u16, rows: u16) -> Step {
        Step::gate(GateKind::Matvec, [vector, weight, rows])
    }

    /// `sigmoid(s)`, `s` among the vectors.
    pub fn sigmoid(input: u16) -> Step {
        Step::gate(GateKind::Sigmoid, [input, 0, 0])
    }

    /// `sqerr(o, t)`: `o` among the vectors; `t` among the targets and computed vectors of
    /// `o`'s length, or a fresh target (the last choice).
    pub fn sqerr(output: u16, target: u16) -> Step {
        Step::gate(GateKind::Sqerr, [output, target, 0])
    }

    /// A gate step with its raw choices.
    pub fn gate(kind: GateKind, choices: [u16; 3]) -> Step {
        Step::Gate { kind, choices }
    }

    /// The most nodes this step can add: its own node and the fresh leaves it may need.
    fn most_nodes(&self, batches: bool) -> usize {
        match self {
            Step::Input { .. } | Step::Target { .. } | Step::Batch { .. } => 1,
            Step::Gate { kind, .. } => 1 + fresh_leaves(*kind, batches),
        }
    }
}

/// How many raw choices the builder reads for a gate (the generator draws as many), in a
/// graph of vectors or of batches, and which of them, if any, is the size of a fresh leaf
/// (shrinking sets it to its smallest).
pub(crate) fn choices(kind: GateKind, batches: bool) -> (usize, Option<usize>) {
    match kind {
        // On batches, the third choice puts a broadcast vector first or second.
        GateKind::Add | GateKind::Mul if batches => (3, None),
        GateKind::Add | GateKind::Mul | GateKind::Sqerr | GateKind::Mse => (2, None),
        GateKind::Matvec | GateKind::Matmul => (3, Some(2)),
        GateKind::Sigmoid
        | GateKind::Tanh
        | GateKind::Relu
        | GateKind::Sum
        | GateKind::Mean
        | GateKind::Transpose => (1, None),
    }
}

/// The fresh leaves a gate's step may make besides its own node.
fn fresh_leaves(kind: GateKind, batches: bool) -> usize {
    match kind {
        // On batches: its first operand, and a bias for it.
        GateKind::Add | GateKind::Mul if batches => 2,
        // A vector operand when there is none yet; `add`'s second operand can be its first.
        GateKind::Add
        | GateKind::Mul
        | GateKind::Sigmoid
        | GateKind::Tanh
        | GateKind::Relu
        | GateKind::Sum
        | GateKind::Mean
        | GateKind::Transpose => 1,
        // The vector (or batch) and the weight; the output and the target.
        GateKind::Matvec | GateKind::Matmul | GateKind::Sqerr | GateKind::Mse => 2,
    }
}

/// The raw material of a graph. `Arbitrary` makes one from fuzzer bytes: running out of
/// bytes gives shorter lists, never an error, and any recipe builds.
#[derive(Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Recipe {
    pub steps: Vec<Step>,
    /// Leaf entries are taken from here in order, cycling; weights are divided by the
    /// square root of their fan-in (column count) when they are built.
    pub numbers: Vec<f64>,
}

/// Bounds on the size of a built graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// At most this many nodes (at least 3: an input, a target and a loss).
    pub max_nodes: usize,
    /// Vector lengths and matrix sides are in `1..=max_dim` (but a batch's rows).
    pub max_dim: usize,
    /// A batch has `1..=max_batch` rows (examples).
    pub max_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_nodes: 12,
            max_dim: 6,
            max_batch: 8,
        }
    }
}

impl Limits {
    /// The limits, raised to the smallest values that still allow a graph.
    pub fn sanitized(self) -> Limits {
        Limits {
            max_nodes: self.max_nodes.max(3),
            max_dim: self.max_dim.max(1),
            max_batch: self.max_batch.max(1),
        }
    }
}

/// The nodes the closing loss may need: a fresh input (when no vector depends on an input
/// or a weight yet), a fresh target and the loss.
const NODES_FOR_CLOSING_LOSS: usize = 3;

/// Builds the graph a recipe describes. Total: every recipe gives a valid graph.
pub fn build(recipe: &Recipe, limits: &Limits) -> Graph {
    let limits = limits.sanitized();
    let mut builder = Builder::new(recipe, limits);
    for step in &recipe.steps {
        // Skip a step that might not leave room for the closing loss; a cheaper one later
        // may still fit.
        let most = step.most_nodes(builder.batches);
        if builder.nodes.len() + most + NODES_FOR_CLOSING_LOSS <= limits.max_nodes {
            builder.step(step);
        }
    }
    builder.close();
    Graph::with_operations(builder.nodes).expect("the recipe builder only makes valid graphs")
}

/// Whether a recipe builds a graph of batches: it has a batch step, or a gate that takes
/// nothing but matrices. (A recipe of the four gates and vectors builds what it always built,
/// and so does one with the elementwise gates and losses beyond them: an engine that declares
/// `tanh` or `relu` without `batch` is asked about vectors only.)
pub fn of_batches(recipe: &Recipe) -> bool {
    recipe.steps.iter().any(|step| match step {
        Step::Batch { .. } => true,
        Step::Gate { kind, .. } => takes_matrices_only(*kind),
        Step::Input { .. } | Step::Target { .. } => false,
    })
}

/// Whether a gate has no form on vectors (a matvec's weight aside): the reductions over a
/// batch's rows, products of matrices, and the transpose.
fn takes_matrices_only(kind: GateKind) -> bool {
    match kind {
        GateKind::Sum | GateKind::Mean | GateKind::Matmul | GateKind::Transpose => true,
        GateKind::Add
        | GateKind::Matvec
        | GateKind::Sigmoid
        | GateKind::Sqerr
        | GateKind::Tanh
        | GateKind::Mse
        | GateKind::Mul
        | GateKind::Relu => false,
    }
}

struct Builder<'r> {
    numbers: &'r [f64],
    next_number: usize,
    limits: Limits,
    nodes: Vec<(String, Operation)>,
    shapes: Vec<Shape>,
    /// Per node: whether its value depends on an input or a weight.
    live: Vec<bool>,
    /// Whether gates may take matrices (see [`of_batches`]).
    batches: bool,
    /// Per name prefix, the next number (gates may share a prefix, names never repeat).
    counters: Vec<(&'static str, usize)>,
}

impl<'r> Builder<'r> {
    fn new(recipe: &'r Recipe, limits: Limits) -> Self {
        Builder {
            numbers: &recipe.numbers,
            next_number: 0,
            limits,
            nodes: Vec::new(),
            shapes: Vec::new(),
            live: Vec::new(),
            counters: Vec::new(),
            batches: of_batches(recipe),
        }
    }

    fn step(&mut self, step: &Step) {
        match *step {
            Step::Input { dim } => {
                self.leaf(LeafKind::Input, self.dim(dim), 0);
            }
            Step::Target { dim } => {
                self.leaf(LeafKind::Target, self.dim(dim), 0);
            }
            Step::Batch { rows, dim } => {
                let rows = 1 + rows as usize % self.limits.max_batch;
                self.leaf_shaped(LeafKind::Input, Shape::Matrix(rows, self.dim(dim)));
            }
            Step::Gate { kind, choices } => {
                let operands = self.operands(kind, choices);
                self.gate(kind, &operands);
            }
        }
    }

    /// The operands of a gate step, picked by its raw choices (fresh leaves made as needed).
    fn operands(&mut self, kind: GateKind, choices: [u16; 3]) -> Vec<NodeId> {
        if self.batches {
            return self.batch_operands(kind, choices);
        }
        let [first, second, third] = choices;
        match kind {
            GateKind::Add | GateKind::Mul => {
                let a = self.vector(first, None);
                let b = self.vector(second, Some(self.len_of(a)));
                vec![a, b]
            }
            GateKind::Matvec => self.matvec_operands(first, second, third),
            GateKind::Sigmoid | GateKind::Tanh | GateKind::Relu => vec![self.vector(first, None)],
            // Matrices only: a recipe with them builds batches.
            GateKind::Sum | GateKind::Mean | GateKind::Matmul | GateKind::Transpose => {
                self.batch_operands(kind, choices)
            }
            GateKind::Sqerr | GateKind::Mse => {
                let output = self.vector(first, None);
                let len = self.len_of(output);
                let candidates = self.vectors_of_len(Some(len), true);
                let target = match pick(&candidates, second) {
                    Some(id) => id,
                    None => self.leaf(LeafKind::Target, len, 0),
                };
                vec![output, target]
            }
        }
    }

    /// The operands of a gate step in a graph of batches: vectors and matrices alike, a vector
    /// added to every row of a matrix on either side.
    fn batch_operands(&mut self, kind: GateKind, [first, second, third]: [u16; 3]) -> Vec<NodeId> {
        match kind {
            GateKind::Add | GateKind::Mul => {
                let a = self.array(first);
                let b = self.partner(second, a, true);
                if third % 2 == 1 {
                    vec![b, a]
                } else {
                    vec![a, b]
                }
            }
            GateKind::Matvec => self.matvec_operands(first, second, third),
            GateKind::Sigmoid | GateKind::Tanh | GateKind::Relu => vec![self.array(first)],
            GateKind::Sum | GateKind::Mean => vec![self.batch(first)],
            GateKind::Matmul => {
                let a = self.batch(first);
                let (_, inner) = self.shapes[a.0].dims();
                vec![a, self.right_factor(second, third, inner)]
            }
            GateKind::Transpose => vec![self.any_matrix(first)],
            GateKind::Sqerr | GateKind::Mse => {
                let output = self.array(first);
                let shape = self.shapes[output.0];
                let candidates = self.arrays_shaped(shape, true);
                let target = match pick(&candidates, second) {
                    Some(id) => id,
                    None => self.leaf_shaped(LeafKind::Target, shape),
                };
                vec![output, target]
            }
        }
    }

    /// `matvec`'s operands, on vectors in either mode: see [`Step::matvec`].
    fn matvec_operands(&mut self, vector: u16, weight: u16, rows: u16) -> Vec<NodeId> {
        let vector = self.vector(vector, None);
        let cols = self.len_of(vector);
        let weight = self.weight(weight, rows, cols);
        vec![weight, vector]
    }

    /// The vectors and matrices (not losses, not weights) of `shape`; targets when asked.
    fn arrays_shaped(&self, shape: Shape, with_targets: bool) -> Vec<NodeId> {
        self.arrays(with_targets)
            .into_iter()
            .filter(|id| self.shapes[id.0] == shape)
            .collect()
    }

    /// The vectors and matrices (not losses, not weights); targets when asked.
    fn arrays(&self, with_targets: bool) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| self.shapes[i] != Shape::Scalar)
            .filter(|&i| !self.nodes[i].1.is_weight())
            .filter(|&i| with_targets || !self.nodes[i].1.is_target())
            .map(NodeId)
            .collect()
    }

    /// A differentiable vector or matrix picked by `raw`, or a fresh input (a batch when
    /// there is none).
    fn array(&mut self, raw: u16) -> NodeId {
        let candidates = match self.arrays(false) {
            candidates if candidates.is_empty() => self.arrays(true),
            candidates => candidates,
        };
        match candidates.get(raw as usize % candidates.len().max(1)) {
            Some(&id) => id,
            None => {
                let rows = 1 + raw as usize % self.limits.max_batch;
                self.leaf_shaped(LeafKind::Input, Shape::Matrix(rows, self.dim(raw)))
            }
        }
    }

    /// A batch (a matrix, not a weight) picked by `raw`, or a fresh one.
    fn batch(&mut self, raw: u16) -> NodeId {
        let candidates: Vec<NodeId> = self
            .arrays(true)
            .into_iter()
            .filter(|id| matches!(self.shapes[id.0], Shape::Matrix(..)))
            .collect();
        match pick(&candidates, raw) {
            Some(id) => id,
            None => {
                let rows = 1 + raw as usize % self.limits.max_batch;
                self.leaf_shaped(LeafKind::Input, Shape::Matrix(rows, self.dim(raw)))
            }
        }
    }

    /// A matrix with `rows` rows to multiply a batch by, picked by `raw` among the weights and
    /// the other matrices (so that a weight serves several products), or a fresh
    /// `rows × n` weight (the last choice): `n` from `size`, or `rows` (a square weight, as in
    /// layers of equal width, where a missing transpose has the right shape).
    fn right_factor(&mut self, raw: u16, size: u16, rows: usize) -> NodeId {
        let candidates: Vec<NodeId> = (0..self.nodes.len())
            .filter(|&i| matches!(self.shapes[i], Shape::Matrix(m, _) if m == rows))
            .map(NodeId)
            .collect();
        match pick(&candidates, raw) {
            Some(id) => id,
            None => {
                let cols = if size % 4 == 3 { rows } else { self.dim(size) };
                self.weight_leaf(rows, cols, rows)
            }
        }
    }

    /// A matrix of any kind (a weight, a batch, a target, a gate's) picked by `raw`, or a
    /// fresh batch.
    fn any_matrix(&mut self, raw: u16) -> NodeId {
        let candidates: Vec<NodeId> = (0..self.nodes.len())
            .filter(|&i| matches!(self.shapes[i], Shape::Matrix(..)))
            .map(NodeId)
            .collect();
        match candidates.get(raw as usize % candidates.len().max(1)) {
            Some(&id) => id,
            None => {
                let rows = 1 + raw as usize % self.limits.max_batch;
                self.leaf_shaped(LeafKind::Input, Shape::Matrix(rows, self.dim(raw)))
            }
        }
    }

    /// An operand to combine with `a` entry by entry: one of its shape, or with `broadcast` a
    /// vector of its row length (for a matrix) or a matrix of that row length (for a vector);
    /// or a fresh input (the last choice): a vector of the row length, a bias.
    fn partner(&mut self, raw: u16, a: NodeId, broadcast: bool) -> NodeId {
        let shape = self.shapes[a.0];
        let (_, cols) = shape.dims();
        let candidates: Vec<NodeId> = self
            .arrays(true)
            .into_iter()
            .filter(|id| {
                let other = self.shapes[id.0];
                other == shape
                    || (broadcast
                        && match (shape, other) {
                            (Shape::Matrix(_, n), Shape::Vector(m)) => n == m,
                            (Shape::Vector(n), Shape::Matrix(_, m)) => n == m,
                            _ => false,
                        })
            })
            .collect();
        match pick(&candidates, raw) {
            Some(id) => id,
            None => self.leaf_shaped(LeafKind::Input, Shape::Vector(cols)),
        }
    }

    /// Closes the graph with a loss on the last node, so that the last steps are not all
    /// dead weight, and so that some loss depends on an input or a weight: a graph whose
    /// every loss depends on targets alone (or is `sqerr(v, v)`) has nothing to
    /// differentiate, and engines built on autograd libraries refuse it. Dead branches
    /// stay. At most [`NODES_FOR_CLOSING_LOSS`] nodes.
    fn close(&mut self) {
        let last = self.nodes.len().checked_sub(1).map(NodeId);
        // `sqerr(v, v)` is zero whatever `v`: it does not count.
        let has_live_loss = (0..self.nodes.len()).any(|i| {
            let operation = &self.nodes[i].1;
            self.live[i] && operation.is_loss() && {
                let operands = operation.operands();
                operands[0] != operands[1]
            }
        });
        let last_is_loss = last.is_some_and(|id| self.shapes[id.0] == Shape::Scalar);
        if last_is_loss && has_live_loss {
            return;
        }
        if self.batches {
            return self.close_batches(last, has_live_loss);
        }
        // The usual closing: the last node, or a vector picked as a step would pick one.
        let usual = match last {
            Some(id) if matches!(self.shapes[id.0], Shape::Vector(_)) => Some(id),
            Some(id) if self.shapes[id.0] == Shape::Scalar => None,
            _ => self.existing_vector(u16::MAX),
        };
        let output = match usual {
            Some(id) if has_live_loss || self.live[id.0] => id,
            // Otherwise the newest vector that depends on an input or a weight, or a fresh
            // input.
            _ => match (0..self.nodes.len())
                .rev()
                .find(|&i| self.live[i] && matches!(self.shapes[i], Shape::Vector(_)))
            {
                Some(i) => NodeId(i),
                None => self.leaf(LeafKind::Input, self.dim(u16::MAX), 0),
            },
        };
        let target = self.leaf(LeafKind::Target, self.len_of(output), 0);
        self.gate(GateKind::Sqerr, &[output, target]);
    }

    /// [`Builder::close`] for a graph of batches: the last node if it is a vector or matrix
    /// (a weight aside), or the newest such node that depends on an input or a weight.
    fn close_batches(&mut self, last: Option<NodeId>, has_live_loss: bool) {
        let usable = |b: &Builder, id: NodeId| {
            b.shapes[id.0] != Shape::Scalar && !b.nodes[id.0].1.is_weight()
        };
        let output = match last {
            Some(id) if usable(self, id) && (has_live_loss || self.live[id.0]) => id,
            _ => match (0..self.nodes.len())
                .rev()
                .map(NodeId)
                .find(|&id| self.live[id.0] && usable(self, id))
            {
                Some(id) => id,
                // Nothing depends on an input: a fresh batch (never a target, whose loss
                // would have nothing to differentiate).
                None => {
                    let rows = 1 + u16::MAX as usize % self.limits.max_batch;
                    self.leaf_shaped(LeafKind::Input, Shape::Matrix(rows, self.dim(u16::MAX)))
                }
            },
        };
        let target = self.leaf_shaped(LeafKind::Target, self.shapes[output.0]);
        self.gate(GateKind::Sqerr, &[output, target]);
    }

    /// The vector [`Builder::vector`] would pick for `raw` among the existing nodes, if any.
    fn existing_vector(&self, raw: u16) -> Option<NodeId> {
        let candidates = match self.vectors_of_len(None, false) {
            candidates if candidates.is_empty() => self.vectors_of_len(None, true),
            candidates => candidates,
        };
        candidates
            .get(raw as usize % candidates.len().max(1))
            .copied()
    }

    fn dim(&self, raw: u16) -> usize {
        1 + raw as usize % self.limits.max_dim
    }

    fn len_of(&self, id: NodeId) -> usize {
        match self.shapes[id.0] {
            Shape::Vector(n) => n,
            _ => unreachable!("only vectors are picked as vector operands"),
        }
    }

    /// Vector nodes (not losses, not weights) of the given length; targets only when asked.
    fn vectors_of_len(&self, len: Option<usize>, with_targets: bool) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| matches!(self.shapes[i], Shape::Vector(n) if len.is_none_or(|l| l == n)))
            .filter(|&i| with_targets || !self.nodes[i].1.is_target())
            .map(NodeId)
            .collect()
    }

    /// A differentiable vector picked by `raw`, or a fresh input when there is none.
    fn vector(&mut self, raw: u16, len: Option<usize>) -> NodeId {
        let candidates = self.vectors_of_len(len, false);
        let candidates = if candidates.is_empty() {
            // Targets can still carry a computation (their own gradient is never asked).
            self.vectors_of_len(len, true)
        } else {
            candidates
        };
        match candidates.get(raw as usize % candidates.len().max(1)) {
            Some(&id) => id,
            None => {
                let dim = len.unwrap_or_else(|| self.dim(raw));
                self.leaf(LeafKind::Input, dim, 0)
            }
        }
    }

    /// A weight with `cols` columns picked by `raw`, or a fresh one (the last choice).
    fn weight(&mut self, raw: u16, rows: u16, cols: usize) -> NodeId {
        let candidates: Vec<NodeId> = (0..self.nodes.len())
            .filter(|&i| matches!(self.shapes[i], Shape::Matrix(_, n) if n == cols))
            .filter(|&i| self.nodes[i].1.is_weight())
            .map(NodeId)
            .collect();
        match pick(&candidates, raw) {
            Some(id) => id,
            None => self.leaf(LeafKind::Weight, self.dim(rows), cols),
        }
    }

    /// A fresh input or target of `shape`, a vector or a matrix (a batch), its numbers as they
    /// come.
    fn leaf_shaped(&mut self, kind: LeafKind, shape: Shape) -> NodeId {
        match shape {
            Shape::Matrix(rows, cols) => {
                let mut entries = Vec::with_capacity(rows * cols);
                for _ in 0..rows * cols {
                    entries.push(self.next_number());
                }
                let value = Value::Matrix(Mat::from_fn(rows, cols, |i, j| entries[i * cols + j]));
                let prefix = if kind == LeafKind::Target { "t" } else { "X" };
                self.push(prefix, Operation::Leaf(kind, value), shape)
            }
            _ => self.leaf(kind, shape.len(), 0),
        }
    }

    /// A fresh leaf; `cols` is used by weights only.
    fn leaf(&mut self, kind: LeafKind, rows: usize, cols: usize) -> NodeId {
        let value = match kind {
            LeafKind::Input | LeafKind::Target => {
                Value::Vector(Col::from_fn(rows, |_| self.next_number()))
            }
            // `W o`'s fan-in is W's columns.
            LeafKind::Weight => return self.weight_leaf(rows, cols, cols),
        };
        let shape = value.shape();
        let prefix = match kind {
            LeafKind::Input => "x",
            LeafKind::Weight => "W",
            LeafKind::Target => "t",
        };
        self.push(prefix, Operation::Leaf(kind, value), shape)
    }

    /// A fresh `rows × cols` weight, divided by √`fan_in` so that its product keeps the scale
    /// of its operand.
    fn weight_leaf(&mut self, rows: usize, cols: usize, fan_in: usize) -> NodeId {
        let scale = 1.0 / (fan_in as f64).sqrt();
        let mut entries = Vec::with_capacity(rows * cols);
        for _ in 0..rows * cols {
            entries.push(self.next_number() * scale);
        }
        let value = Value::Matrix(Mat::from_fn(rows, cols, |i, j| entries[i * cols + j]));
        self.push(
            "W",
            Operation::Leaf(LeafKind::Weight, value),
            Shape::Matrix(rows, cols),
        )
    }

    /// The gate on `operands`, named and shaped by the table.
    fn gate(&mut self, kind: GateKind, operands: &[NodeId]) -> NodeId {
        let args: Vec<Arg> = operands
            .iter()
            .map(|&id| Arg {
                name: &self.nodes[id.0].0,
                shape: self.shapes[id.0],
                is_weight: self.nodes[id.0].1.is_weight(),
            })
            .collect();
        let shape = output_shape(kind, &args, &mut |_, _| {})
            .expect("the builder picks operands of the shapes a gate takes");
        let operation = kind
            .on(operands)
            .expect("as many operands as the gate takes");
        self.push(kind.facts().name_prefix, operation, shape)
    }

    fn next_number(&mut self) -> f64 {
        if self.numbers.is_empty() {
            return 0.5;
        }
        let raw = self.numbers[self.next_number % self.numbers.len()];
        self.next_number += 1;
        if raw.is_finite() { raw } else { 0.0 }
    }

    fn push(&mut self, prefix: &'static str, operation: Operation, shape: Shape) -> NodeId {
        let count = match self.counters.iter_mut().find(|(p, _)| *p == prefix) {
            Some((_, count)) => count,
            None => {
                self.counters.push((prefix, 0));
                &mut self.counters.last_mut().expect("just pushed").1
            }
        };
        let name = format!("{prefix}{count}");
        *count += 1;
        let live = match &operation {
            Operation::Leaf(kind, _) => kind.is_differentiable(),
            gate => gate.operands().iter().any(|o| self.live[o.0]),
        };
        self.nodes.push((name, operation));
        self.live.push(live);
        self.shapes.push(shape);
        NodeId(self.nodes.len() - 1)
    }
}

/// `candidates[raw % (len + 1)]`, where the extra last choice means "a fresh leaf".
fn pick(candidates: &[NodeId], raw: u16) -> Option<NodeId> {
    candidates
        .get(raw as usize % (candidates.len() + 1))
        .copied()
}
