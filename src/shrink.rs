//! Shrinking: the smallest graph that still fails with the same blame.
//!
//! A failure found by fuzzing is first shrunk through its recipe (dropping steps and
//! shrinking raw dimensions, so that every candidate is still built by the total builder);
//! then, as for a case file, through the graph itself: fewer nodes (drop a loss, replace a
//! gate by one of its operands or by a leaf holding its value, drop what no loss uses), fewer
//! entries (delete one index along a whole class of tied dimensions), then simpler numbers
//! (0, ±1, ±2, ±0.5, or fewer decimals). A candidate is kept when the engine still fails on
//! it and the blame has the same signature (same gate kind, or fan-out).

use crate::blame::{Signature, blame, live_nodes};
use crate::check::{Tolerance, check};
use crate::engine::Engine;
use crate::graph::{Graph, LeafKind, NodeId, Operation, Shape};
use crate::op::{Arg, Axis, output_shape};
use crate::recipe::{Limits, Recipe, Step, build};
use crate::value::Value;
use faer::{Col, Mat};

/// At most this many candidate checks per shrink: each costs one check and one blame.
pub const MAX_CANDIDATES: usize = 4_000;

/// The failure to preserve while shrinking.
pub struct Shrinker<'e> {
    engine: &'e dyn Engine,
    tolerance: Tolerance,
    signature: Signature,
    candidates_tried: usize,
    budget: usize,
}

impl<'e> Shrinker<'e> {
    /// A shrinker for graphs that fail on `engine` with the blame signature of `graph`; `None`
    /// when `graph` does not fail (or the engine errs).
    pub fn for_failure(
        engine: &'e dyn Engine,
        graph: &Graph,
        tolerance: &Tolerance,
    ) -> Option<Self> {
        let report = check(engine, graph, tolerance).ok()?;
        if report.passed() {
            return None;
        }
        let culprit = blame(engine, graph, tolerance).ok()?.culprit;
        Some(Shrinker {
            engine,
            tolerance: *tolerance,
            signature: culprit.signature(),
            candidates_tried: 0,
            budget: MAX_CANDIDATES,
        })
    }

    /// At most `candidates` candidate graphs are checked (by default [`MAX_CANDIDATES`]);
    /// shrinking then keeps the smallest graph found so far. A count, not a time, so that
    /// the shrunk graph is the same on every machine.
    pub fn with_budget(mut self, candidates: usize) -> Self {
        self.budget = candidates;
        self
    }

    /// Whether the budget ran out before shrinking was done.
    pub fn budget_spent(&self) -> bool {
        self.candidates_tried >= self.budget
    }

    /// Whether the candidate still fails in the same way (and the budget allows the check).
    fn still_fails(&mut self, graph: &Graph) -> bool {
        if self.candidates_tried >= self.budget {
            return false;
        }
        self.candidates_tried += 1;
        let fails = check(self.engine, graph, &self.tolerance).is_ok_and(|r| !r.passed());
        fails
            && blame(self.engine, graph, &self.tolerance)
                .is_ok_and(|b| b.culprit.signature() == self.signature)
    }

    /// The smallest recipe found that still fails, and its graph shrunk further.
    pub(crate) fn shrink_recipe(&mut self, recipe: &Recipe, limits: &Limits) -> Graph {
        let mut best = recipe.clone();
        let mut progress = true;
        while progress {
            progress = false;
            for candidate in recipe_candidates(&best) {
                if self.still_fails(&build(&candidate, limits)) {
                    best = candidate;
                    progress = true;
                    break;
                }
            }
        }
        self.shrink_graph(&build(&best, limits))
    }

    /// The smallest graph found that still fails.
    pub fn shrink_graph(&mut self, graph: &Graph) -> Graph {
        let mut best = graph.clone();
        loop {
            let smaller = structure_candidates(&best)
                .into_iter()
                .chain(dimension_candidates(&best))
                .find(|candidate| self.still_fails(candidate));
            match smaller {
                Some(candidate) => best = candidate,
                None => break,
            }
        }
        self.simplify_values(best)
    }

    /// Replaces each leaf entry by the simplest number that keeps the failure.
    fn simplify_values(&mut self, mut best: Graph) -> Graph {
        for id in best.ids().collect::<Vec<_>>() {
            let Some((_, value)) = best.leaf(id) else {
                continue;
            };
            for entry in 0..value.len() {
                let current = leaf_entry(&best, id, entry);
                for simple in simpler_numbers(current) {
                    let candidate = with_leaf_entry(&best, id, entry, simple);
                    if self.still_fails(&candidate) {
                        best = candidate;
                        break;
                    }
                }
            }
        }
        best
    }

    pub fn candidates_tried(&self) -> usize {
        self.candidates_tried
    }
}

/// Recipes one step smaller: a step removed, a raw dimension set to its smallest.
fn recipe_candidates(recipe: &Recipe) -> Vec<Recipe> {
    let mut candidates = Vec::new();
    for at in (0..recipe.steps.len()).rev() {
        let mut fewer = recipe.clone();
        fewer.steps.remove(at);
        candidates.push(fewer);
    }
    let batches = crate::recipe::of_batches(recipe);
    for at in 0..recipe.steps.len() {
        let smaller: Vec<Step> = match recipe.steps[at] {
            Step::Input { dim } if dim != 0 => vec![Step::Input { dim: 0 }],
            Step::Target { dim } if dim != 0 => vec![Step::Target { dim: 0 }],
            // One example fewer to the smallest batch, and the fewest features, apart.
            Step::Batch { rows, dim } => [(0, dim), (rows, 0)]
                .into_iter()
                .filter(|&(r, d)| (r, d) != (rows, dim))
                .map(|(rows, dim)| Step::Batch { rows, dim })
                .collect(),
            Step::Gate { kind, mut choices } => match crate::recipe::choices(kind, batches).1 {
                Some(size) if choices[size] != 0 => {
                    choices[size] = 0;
                    vec![Step::Gate { kind, choices }]
                }
                _ => continue,
            },
            _ => continue,
        };
        for step in smaller {
            let mut candidate = recipe.clone();
            candidate.steps[at] = step;
            candidates.push(candidate);
        }
    }
    candidates
}

/// Graphs with fewer nodes.
fn structure_candidates(graph: &Graph) -> Vec<Graph> {
    let mut candidates = Vec::new();
    let losses: Vec<NodeId> = graph.ids().filter(|&id| graph.is_loss(id)).collect();
    if losses.len() > 1 {
        for &loss in &losses {
            let mut keep = vec![true; graph.len()];
            keep[loss.0] = false;
            candidates.extend(rebuild(graph.to_operations(), &keep));
        }
    }
    let values = graph.forward();
    for id in graph.ids().rev() {
        let gate = graph.operation(id);
        if !graph.is_gate(id) || graph.is_loss(id) {
            continue;
        }
        // Replace the gate by an operand of the same shape.
        for &operand in gate.operands().iter() {
            if graph.shape(operand) == graph.shape(id) {
                candidates.extend(redirect(graph, id, operand));
            }
        }
        // Give one operand slot another earlier node of the same shape (which may leave
        // the old operand unused, and so removable).
        for (slot, &operand) in gate.operands().iter().enumerate() {
            for other in graph.ids().take(id.0) {
                let same_kind =
                    graph.operation(other).is_weight() == graph.operation(operand).is_weight();
                if other != operand
                    && same_kind
                    && graph.shape(other) == graph.shape(operand)
                    && !graph.is_loss(other)
                {
                    candidates.extend(with_operand(graph, id, slot, other));
                }
            }
        }
        // Replace the gate by a leaf holding its value.
        let mut nodes = graph.to_operations();
        nodes[id.0].1 = Operation::Leaf(LeafKind::Input, values[id.0].clone());
        candidates.extend(rebuild(nodes, &vec![true; graph.len()]));
    }
    candidates
}

/// The graph with operand `slot` of gate `id` replaced by `to`.
fn with_operand(graph: &Graph, id: NodeId, slot: usize, to: NodeId) -> Option<Graph> {
    let mut nodes = graph.to_operations();
    let mut position = 0;
    nodes[id.0].1 = nodes[id.0].1.map_operands(|o| {
        position += 1;
        if position == slot + 1 { to } else { o }
    });
    rebuild(nodes, &vec![true; graph.len()])
}

/// The graph with every use of `from` pointing at `to` instead.
fn redirect(graph: &Graph, from: NodeId, to: NodeId) -> Option<Graph> {
    let nodes = graph
        .operations()
        .map(|(name, operation)| {
            let renamed = operation.map_operands(|o| if o == from { to } else { o });
            (name.to_string(), renamed)
        })
        .collect();
    rebuild(nodes, &vec![true; graph.len()])
}

/// The kept nodes, renumbered, without the nodes that no loss uses; `None` if invalid.
fn rebuild(nodes: Vec<(String, Operation)>, keep: &[bool]) -> Option<Graph> {
    let graph = renumber(nodes, |i| keep[i])?;
    let live = live_nodes(&graph);
    renumber(graph.to_operations(), |i| live[i])
}

/// Keeps the nodes at the positions `keep` accepts, renumbering the operands; `None` when a
/// kept gate uses a dropped node or the result breaks a shape rule.
fn renumber(nodes: Vec<(String, Operation)>, keep: impl Fn(usize) -> bool) -> Option<Graph> {
    let mut position: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut kept = Vec::new();
    for (i, slot) in position.iter_mut().enumerate() {
        if keep(i) {
            *slot = Some(kept.len());
            kept.push(i);
        }
    }
    let mut renumbered = Vec::with_capacity(kept.len());
    for &i in &kept {
        let (name, operation) = &nodes[i];
        let mut valid = true;
        let operation = operation.map_operands(|o| match position.get(o.0).copied().flatten() {
            Some(p) => NodeId(p),
            None => {
                valid = false;
                o
            }
        });
        if !valid {
            return None;
        }
        renumbered.push((name.clone(), operation));
    }
    Graph::with_operations(renumbered).ok()
}

/// Graphs with one index deleted along a class of dimensions that must stay equal.
fn dimension_candidates(graph: &Graph) -> Vec<Graph> {
    let axes = Axes::of(graph);
    let mut candidates = Vec::new();
    for class in axes.classes() {
        let size = axes.size_of(graph, class);
        if size < 2 {
            continue;
        }
        for index in (0..size).rev() {
            candidates.extend(axes.delete(graph, &[class], index));
        }
    }
    // Then two classes of equal size at once: a bug that shows only on square matrices (a
    // missing transpose) stays when both sides lose the same index.
    let sized: Vec<(usize, usize)> = axes
        .classes()
        .into_iter()
        .map(|class| (class, axes.size_of(graph, class)))
        .filter(|&(_, size)| size >= 2)
        .collect();
    for (k, &(first, size)) in sized.iter().enumerate() {
        for &(second, _) in sized[k + 1..].iter().filter(|(_, other)| *other == size) {
            for index in (0..size).rev() {
                candidates.extend(axes.delete(graph, &[first, second], index));
            }
        }
    }
    candidates
}

/// Which dimensions of which nodes are tied together by the shape rules (union-find).
struct Axes {
    parent: Vec<usize>,
    /// For each node: its vector axis, or its (row, column) axes.
    of_node: Vec<(usize, usize)>,
}

impl Axes {
    fn of(graph: &Graph) -> Axes {
        let mut axes = Axes {
            parent: (0..2 * graph.len()).collect(),
            of_node: (0..graph.len()).map(|i| (2 * i, 2 * i + 1)).collect(),
        };
        for id in graph.ids() {
            let operation = graph.operation(id);
            let Some(kind) = operation.kind() else {
                continue;
            };
            let operands = operation.operands();
            let args: Vec<Arg> = operands
                .iter()
                .map(|&n| Arg {
                    name: graph.name(n),
                    shape: graph.shape(n),
                    is_weight: graph.operation(n).is_weight(),
                })
                .collect();
            // Axis `dim` of a node: 2n for a vector's length or a matrix's rows, 2n + 1 for
            // a matrix's columns.
            let node_axis = |axis: Axis| {
                let node = axis.operand.map_or(id, |k| operands[k]);
                2 * node.0 + axis.dim
            };
            let mut ties = Vec::new();
            output_shape(kind, &args, &mut |a, b| {
                ties.push((node_axis(a), node_axis(b)))
            })
            .expect("a valid graph's shapes");
            for (a, b) in ties {
                axes.union(a, b);
            }
        }
        axes
    }

    fn find(&mut self, mut a: usize) -> usize {
        while self.parent[a] != a {
            self.parent[a] = self.parent[self.parent[a]];
            a = self.parent[a];
        }
        a
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        self.parent[ra] = rb;
    }

    fn classes(&self) -> Vec<usize> {
        let mut roots: Vec<usize> = (0..self.parent.len()).map(|a| self.root(a)).collect();
        roots.sort_unstable();
        roots.dedup();
        roots
    }

    fn root(&self, mut a: usize) -> usize {
        while self.parent[a] != a {
            a = self.parent[a];
        }
        a
    }

    /// The size of a class's dimension, from any vector or matrix in it.
    fn size_of(&self, graph: &Graph, class: usize) -> usize {
        for id in graph.ids() {
            let (row, col) = self.of_node[id.0];
            match graph.shape(id) {
                Shape::Vector(n) if self.root(row) == class => return n,
                Shape::Matrix(m, _) if self.root(row) == class => return m,
                Shape::Matrix(_, n) if self.root(col) == class => return n,
                _ => {}
            }
        }
        0
    }

    /// The graph with `index` deleted along every dimension in `classes`.
    fn delete(&self, graph: &Graph, classes: &[usize], index: usize) -> Option<Graph> {
        let cut = |axis: usize| classes.contains(&self.root(axis));
        let nodes = graph
            .operations()
            .enumerate()
            .map(|(i, (name, operation))| {
                let (row, col) = self.of_node[i];
                let (cut_rows, cut_cols) = (cut(row), cut(col));
                let operation = match operation {
                    Operation::Leaf(kind, Value::Vector(v)) if cut_rows => Operation::Leaf(
                        *kind,
                        Value::Vector(Col::from_fn(v.nrows() - 1, |k| v[skip(k, index)])),
                    ),
                    Operation::Leaf(kind, Value::Matrix(m)) if cut_rows || cut_cols => {
                        let rows = m.nrows() - cut_rows as usize;
                        let cols = m.ncols() - cut_cols as usize;
                        let r = |k| if cut_rows { skip(k, index) } else { k };
                        let c = |k| if cut_cols { skip(k, index) } else { k };
                        Operation::Leaf(
                            *kind,
                            Value::Matrix(Mat::from_fn(rows, cols, |i, j| m[(r(i), c(j))])),
                        )
                    }
                    other => other.clone(),
                };
                (name.to_string(), operation)
            })
            .collect();
        Graph::with_operations(nodes).ok()
    }
}

/// Position `k` in a sequence from which `deleted` was removed.
fn skip(k: usize, deleted: usize) -> usize {
    if k < deleted { k } else { k + 1 }
}

fn leaf_entry(graph: &Graph, id: NodeId, entry: usize) -> f64 {
    match graph.leaf(id) {
        Some((_, value)) => value.entry(entry),
        None => unreachable!("only leaves are simplified"),
    }
}

fn with_leaf_entry(graph: &Graph, id: NodeId, entry: usize, number: f64) -> Graph {
    let mut nodes = graph.to_operations();
    if let Operation::Leaf(_, value) = &mut nodes[id.0].1 {
        *value.entry_mut(entry) = number;
    }
    Graph::with_operations(nodes).expect("changing a finite leaf entry keeps a graph valid")
}

/// Simpler numbers to try in place of `x`, simplest first, all different from `x`.
fn simpler_numbers(x: f64) -> Vec<f64> {
    let mut candidates = vec![0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, x.round()];
    candidates.extend([1.0, 2.0].map(|digits: f64| {
        let scale = 10f64.powf(digits);
        (x * scale).round() / scale
    }));
    let mut seen = Vec::new();
    candidates.retain(|&c| {
        let fresh = c != x && !seen.contains(&c);
        seen.push(c);
        fresh
    });
    candidates
}
