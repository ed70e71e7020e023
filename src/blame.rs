//! Blame: which gate's backward rule, or which fan-out, makes a graph fail.
//!
//! The engine is a black box that only returns leaf gradients, so each suspect is re-checked
//! in a small graph of its own, at the values it had in the failing graph:
//!
//! - a gate: its operands become separate leaves (so `add(x, x)` becomes `add(x, x#2)`, with
//!   no fan-out left), and its output `y` feeds `sqerr(y, y − g)`, whose gradient with respect
//!   to `y` is a random upstream `g`. The `sqerr` gates are checked first, since every other
//!   check goes through one; a failing `sqerr` is blamed before anything else.
//! - a fan-out node (used twice or more): the node as a leaf, each of its users with fresh
//!   leaves for their other operands, each wrapped the same way. When every gate passes alone
//!   but this fails, the gradients from the node's uses were combined wrongly.

use crate::check::{Tolerance, check};
use crate::engine::{Engine, EngineError};
use crate::graph::{Graph, LeafKind, NodeId, Operation, Values};
use crate::op::{Family, GateKind, Loss};
use crate::value::Value;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::fmt;

/// What the blame points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Culprit {
    /// This gate's backward rule fails on its own.
    Gate { node: String, kind: GateKind },
    /// Every gate passes alone, but the gradients from this node's several uses are combined
    /// wrongly.
    FanOut { node: String },
    /// Nothing fails alone: the failure needs more of the graph than one gate or fan-out.
    Unlocated,
}

/// What a culprit is, whichever node it is: what must stay the same while shrinking, and
/// what names a saved failure (`matvec`, `fan-out`, `unlocated`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signature {
    Gate(GateKind),
    FanOut,
    Unlocated,
}

impl Signature {
    /// The name a saved failure carries.
    pub fn name(self) -> &'static str {
        match self {
            Signature::Gate(kind) => kind.name(),
            Signature::FanOut => "fan-out",
            Signature::Unlocated => "unlocated",
        }
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A signature is its name: `signature == "matvec"`.
impl PartialEq<&str> for Signature {
    fn eq(&self, name: &&str) -> bool {
        self.name() == *name
    }
}

impl Culprit {
    /// What must stay the same while shrinking: the gate kind, or fan-out, or neither.
    pub fn signature(&self) -> Signature {
        match self {
            Culprit::Gate { kind, .. } => Signature::Gate(*kind),
            Culprit::FanOut { .. } => Signature::FanOut,
            Culprit::Unlocated => Signature::Unlocated,
        }
    }
}

impl fmt::Display for Culprit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Culprit::Gate { node, kind } => {
                write!(
                    f,
                    "the `{}` rule: gate `{node}` fails when checked alone",
                    kind.name()
                )
            }
            Culprit::FanOut { node } => write!(
                f,
                "fan-out at `{node}`: every gate passes alone, but the gradients from its uses are combined wrongly"
            ),
            Culprit::Unlocated => write!(f, "no single gate or fan-out fails alone"),
        }
    }
}

/// The blame for a graph, with every gate that failed alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blame {
    pub culprit: Culprit,
    /// The gates whose check alone failed, in the order they were checked.
    pub failing_gates: Vec<String>,
}

/// Re-checks every live gate and fan-out of `graph` alone and names the culprit.
pub fn blame(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
) -> Result<Blame, EngineError> {
    // The values the engine saw: its leaves rounded to its precision, every gate computed in
    // it. In f64 they would hold numbers the precision cannot (a sigmoid's 1e-71 is 0 in
    // f32), and no gate near an overflow could be checked alone.
    let precision = engine.precision();
    let rounded = graph.rounded_to(precision);
    let graph: &Graph = rounded.as_deref().unwrap_or(graph);
    let values = graph.forward_in(precision);
    let live = live_nodes(graph);
    let gates: Vec<NodeId> = graph
        .ids()
        .filter(|&id| live[id.0] && graph.is_gate(id))
        .collect();
    // The losses first: every other check passes through an sqerr.
    let (losses, others): (Vec<NodeId>, Vec<NodeId>) =
        gates.iter().partition(|&&id| graph.is_loss(id));
    let mut failing_gates = Vec::new();
    for &id in losses.iter().chain(&others) {
        // A gate whose operands overflowed cannot be checked alone: its leaves would not be
        // finite numbers.
        let Some(local) = LocalGraph::new(graph, &values, id).of_gate(id) else {
            continue;
        };
        let mut passes = alone(engine, &local, tolerance)? != Some(false);
        // An elementwise rule that takes its mask from the upstream (relu's `g > 0`) is right
        // for every entry whose random upstream has the sign it needs: checked once more with
        // every upstream negated, such a rule is wrong for the rest. (A rule linear in the
        // upstream, as every other mistake is, gets the same verdict both times.)
        let elementwise = graph.operation(id).kind().map(GateKind::family) == Some(Family::Unary);
        if passes && elementwise {
            let negated = LocalGraph::new(graph, &values, id).with_upstream_negated();
            if let Some(local) = negated.of_gate(id) {
                passes = alone(engine, &local, tolerance)? != Some(false);
            }
        }
        if !passes {
            failing_gates.push(id);
        }
    }
    let culprit = match failing_gates.first() {
        Some(&id) => Culprit::Gate {
            node: graph.name(id).to_string(),
            kind: graph.operation(id).kind().expect("a gate"),
        },
        None => fan_out_culprit(engine, graph, &values, &live, tolerance)?,
    };
    Ok(Blame {
        culprit,
        failing_gates: failing_gates
            .iter()
            .map(|&id| graph.name(id).to_string())
            .collect(),
    })
}

fn fan_out_culprit(
    engine: &dyn Engine,
    graph: &Graph,
    values: &Values,
    live: &[bool],
    tolerance: &Tolerance,
) -> Result<Culprit, EngineError> {
    let users = graph.users();
    for id in graph.ids() {
        let is_target = graph.operation(id).is_target();
        if is_target || users[id.0].len() < 2 || !live[id.0] {
            continue;
        }
        let Some(local) = LocalGraph::new(graph, values, id).of_fan_out(id, &users[id.0]) else {
            continue;
        };
        if alone(engine, &local, tolerance)? == Some(false) {
            return Ok(Culprit::FanOut {
                node: graph.name(id).to_string(),
            });
        }
    }
    Ok(Culprit::Unlocated)
}

/// Whether a suspect's local graph passes; `None` where its leaves cannot be held in the
/// engine's precision (a value at the edge of its range), so that it cannot be checked alone.
fn alone(
    engine: &dyn Engine,
    local: &Graph,
    tolerance: &Tolerance,
) -> Result<Option<bool>, EngineError> {
    match check(engine, local, tolerance) {
        Ok(report) => Ok(Some(report.passed())),
        Err(EngineError::Unrepresentable { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Whether each node reaches a loss (a loss reaches itself).
pub fn live_nodes(graph: &Graph) -> Vec<bool> {
    let mut live: Vec<bool> = graph.ids().map(|id| graph.is_loss(id)).collect();
    for id in graph.ids().rev() {
        if live[id.0] {
            for &operand in graph.operation(id).operands().iter() {
                live[operand.0] = true;
            }
        }
    }
    live
}

/// A small graph built around one suspect, with leaves holding the original values.
struct LocalGraph<'g> {
    graph: &'g Graph,
    values: &'g Values<'g>,
    nodes: Vec<(String, Operation)>,
    rng: ChaCha8Rng,
    /// 1, or −1 to negate every random upstream.
    upstream_sign: f64,
}

impl<'g> LocalGraph<'g> {
    fn new(graph: &'g Graph, values: &'g Values<'g>, suspect: NodeId) -> Self {
        LocalGraph {
            graph,
            values,
            nodes: Vec::new(),
            // The upstream gradients depend only on the suspect, so blame is reproducible.
            rng: ChaCha8Rng::seed_from_u64(suspect.0 as u64),
            upstream_sign: 1.0,
        }
    }

    /// The same local graph with every upstream gradient negated.
    fn with_upstream_negated(self) -> Self {
        LocalGraph {
            upstream_sign: -1.0,
            ..self
        }
    }

    /// The gate alone: one fresh leaf per operand slot, then the upstream loss; `None` when
    /// an operand's value is not finite (an overflow upstream), so no leaf can hold it.
    fn of_gate(mut self, id: NodeId) -> Option<Graph> {
        let gate = self.graph.operation(id).clone();
        let mut slot = 0;
        let local_gate = gate.map_operands(|operand| {
            slot += 1;
            let suffix = if slot == 2 && gate.operands()[0] == operand {
                "#2"
            } else {
                ""
            };
            self.leaf_copy(operand, suffix)
        });
        self.gate_with_upstream(id, local_gate, "");
        Graph::with_operations(self.nodes).ok()
    }

    /// The node as a leaf and each of its users, their other operands as fresh leaves.
    fn of_fan_out(mut self, id: NodeId, users: &[NodeId]) -> Option<Graph> {
        let shared = self.leaf_copy(id, "");
        let mut seen = Vec::new();
        for &user in users {
            if seen.contains(&user) {
                continue; // add(x, x): one user, both slots already point at the shared leaf
            }
            seen.push(user);
            let gate = self.graph.operation(user).clone();
            let suffix = format!("@{}", self.graph.name(user));
            let local_gate = gate.map_operands(|operand| {
                if operand == id {
                    shared
                } else {
                    self.leaf_copy(operand, &suffix)
                }
            });
            self.gate_with_upstream(user, local_gate, &suffix);
        }
        Graph::with_operations(self.nodes).ok()
    }

    /// A leaf with the value `operand` had: constant if it was a target, else differentiable.
    fn leaf_copy(&mut self, operand: NodeId, suffix: &str) -> NodeId {
        let value = self.values[operand.0].clone();
        let kind = match (self.graph.operation(operand), &value) {
            (Operation::Leaf(LeafKind::Target, _), _) => LeafKind::Target,
            // A weight stays one (`matvec` takes nothing else); any other value, a matrix a
            // gate made included, becomes an input.
            (Operation::Leaf(LeafKind::Weight, _), _) => LeafKind::Weight,
            _ => LeafKind::Input,
        };
        let name = format!("{}{suffix}", self.graph.name(operand));
        self.push(name, Operation::Leaf(kind, value))
    }

    /// The gate, and unless it is a loss, `sqerr(y, y − g)` with a random upstream `g`.
    fn gate_with_upstream(&mut self, original: NodeId, gate: Operation, suffix: &str) {
        let name = format!("{}{suffix}", self.graph.name(original));
        let output = self.push(name.clone(), gate);
        let y = &self.values[original.0];
        if let Value::Scalar(_) = y {
            return;
        }
        // dE/dy = y − t = g when t = y − g (each entry in row-major order).
        let mut target = y.clone();
        for k in 0..target.len() {
            let upstream: f64 = StandardNormal.sample(&mut self.rng);
            *target.entry_mut(k) = y.entry(k) - self.upstream_sign * upstream;
        }
        let target = self.push(
            format!("{name}.upstream"),
            Operation::Leaf(LeafKind::Target, target),
        );
        self.push(
            format!("{name}.loss"),
            Operation::Loss(Loss::Sqerr, output, target),
        );
    }

    fn push(&mut self, name: String, operation: Operation) -> NodeId {
        self.nodes.push((name, operation));
        NodeId(self.nodes.len() - 1)
    }
}
