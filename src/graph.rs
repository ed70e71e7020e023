//! The graph model: nodes in topological order, the shape rules of the four gates, and the
//! forward pass.
//!
//! A [`Graph`] can only be made through [`Graph::new`], which enforces every rule of the
//! gate semantics (operands come earlier, shapes agree, `matvec` takes a weight leaf, losses
//! are never operands, at least one loss, finite non-empty leaves). Everything downstream
//! can therefore evaluate and differentiate without error cases.

use crate::gate::Gate;
use crate::precision::Precision;
pub use crate::value::{NodeId, Shape};
use crate::value::{Value, flow_list};
use std::borrow::Cow;
use std::fmt;
use std::ops::Index;

/// The three kinds of leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeafKind {
    /// A differentiable vector.
    Input,
    /// A differentiable matrix.
    Weight,
    /// A constant vector: no gradient is asked for it.
    Target,
}

impl LeafKind {
    pub fn name(self) -> &'static str {
        match self {
            LeafKind::Input => "input",
            LeafKind::Weight => "weight",
            LeafKind::Target => "target",
        }
    }

    /// Whether the engine must report a gradient for leaves of this kind.
    pub fn is_differentiable(self) -> bool {
        !matches!(self, LeafKind::Target)
    }
}

/// What a node is: a leaf with its value, or a gate.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Leaf(LeafKind, Value),
    Gate(Gate),
}

impl Op {
    /// Whether this is a `weight` leaf (the only operand `matvec` takes as its matrix).
    pub fn is_weight(&self) -> bool {
        matches!(self, Op::Leaf(LeafKind::Weight, _))
    }
}

impl Node {
    /// The node's op as `KEY: ARGS` in the case format (`input: [..]`, `add: [a, b]`,
    /// `sigmoid: s`), with names written by the caller.
    pub fn op_text(&self, name_of: impl Fn(NodeId) -> String) -> String {
        match &self.op {
            Op::Leaf(kind, value) => format!("{}: {}", kind.name(), flow_list(value)),
            Op::Gate(gate) => {
                let names: Vec<String> = gate.operands().iter().map(|&id| name_of(id)).collect();
                let args = match names.as_slice() {
                    [one] => one.clone(),
                    many => format!("[{}]", many.join(", ")),
                };
                format!("{}: {args}", gate.kind().name())
            }
        }
    }
}

/// A named node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: Op,
}

/// A rule of the gate semantics that a list of nodes breaks, naming the node (none when the
/// rule is about the whole graph).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    pub node: Option<String>,
    pub message: String,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Some(node) => write!(f, "node `{node}`: {}", self.message),
            None => write!(f, "key `nodes`: {}", self.message),
        }
    }
}

/// Every node's value after the forward pass, indexed by node number. Leaves are borrowed
/// from the graph rather than copied: a 256×256 weight is half a megabyte, and copying it
/// cost as much as the product it feeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Values<'g> {
    slots: Vec<Cow<'g, Value>>,
}

impl Values<'_> {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Value> {
        self.slots.iter().map(|value| &**value)
    }
}

impl Index<usize> for Values<'_> {
    type Output = Value;

    fn index(&self, node: usize) -> &Value {
        &self.slots[node]
    }
}

/// Values computed some other way (one per node, in node order).
impl From<Vec<Value>> for Values<'static> {
    fn from(values: Vec<Value>) -> Self {
        Values {
            slots: values.into_iter().map(Cow::Owned).collect(),
        }
    }
}

/// A valid computation graph, nodes in topological order (operands before users).
#[derive(Clone, PartialEq)]
pub struct Graph {
    nodes: Vec<Node>,
    shapes: Vec<Shape>,
}

/// The nodes as a case file writes them (`x0: {input: [0.5, -1.0]}`, numbers in shortest
/// round-trip form), so that a failing proptest or `assert_eq!` shows a graph in a few lines
/// that can be pasted under `nodes:` in a case file, rather than the nested structure of
/// every matrix.
impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Graph with {} nodes:", self.nodes.len())?;
        for node in &self.nodes {
            let body = node.op_text(|id| self.nodes[id.0].name.clone());
            writeln!(f, "  {}: {{{body}}}", node.name)?;
        }
        Ok(())
    }
}

impl Graph {
    /// Checks every rule of the gate semantics; `nodes` must be in topological order.
    pub fn new(nodes: Vec<Node>) -> Result<Graph, GraphError> {
        let mut shapes = Vec::with_capacity(nodes.len());
        for (index, node) in nodes.iter().enumerate() {
            let fail = |message: String| GraphError {
                node: Some(node.name.clone()),
                message,
            };
            let shape = match &node.op {
                Op::Leaf(kind, value) => leaf_shape(*kind, value).map_err(fail)?,
                Op::Gate(gate) => gate_shape(gate, index, &nodes, &shapes).map_err(fail)?,
            };
            shapes.push(shape);
        }
        if !nodes
            .iter()
            .any(|n| matches!(n.op, Op::Gate(Gate::Sqerr { .. })))
        {
            return Err(GraphError {
                node: None,
                message: "the graph has no `sqerr` node, so it has no loss".into(),
            });
        }
        Ok(Graph { nodes, shapes })
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    pub fn shape(&self, id: NodeId) -> Shape {
        self.shapes[id.0]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).map(NodeId)
    }

    /// The id of the node with this name.
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name).map(NodeId)
    }

    /// The leaves whose gradient is asked for (`input` and `weight`), in node order.
    pub fn differentiable_leaves(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.ids().filter(|&id| match self.node(id).op {
            Op::Leaf(kind, _) => kind.is_differentiable(),
            Op::Gate(_) => false,
        })
    }

    /// The gate of a node, if it is one.
    pub fn gate(&self, id: NodeId) -> Option<&Gate> {
        match &self.node(id).op {
            Op::Gate(gate) => Some(gate),
            Op::Leaf(..) => None,
        }
    }

    /// Whether the node is a loss term.
    pub fn is_loss(&self, id: NodeId) -> bool {
        matches!(self.gate(id), Some(Gate::Sqerr { .. }))
    }

    /// The number of scalars in a node's value.
    pub fn shape_len(&self, id: NodeId) -> usize {
        match self.shape(id) {
            Shape::Scalar => 1,
            Shape::Vector(n) => n,
            Shape::Matrix(m, n) => m * n,
        }
    }

    /// The largest vector length or matrix side in the graph.
    pub fn largest_dim(&self) -> usize {
        self.shapes
            .iter()
            .map(|s| match *s {
                Shape::Scalar => 1,
                Shape::Vector(n) => n,
                Shape::Matrix(m, n) => m.max(n),
            })
            .max()
            .unwrap_or(0)
    }

    /// The forward pass: the value of every node, in node order.
    pub fn forward(&self) -> Values<'_> {
        self.forward_in(Precision::F64)
    }

    /// The forward pass with every operation in `precision` (the leaves as they are).
    pub fn forward_in(&self, precision: Precision) -> Values<'_> {
        let mut values = Values {
            slots: Vec::with_capacity(self.nodes.len()),
        };
        for node in &self.nodes {
            let value = match &node.op {
                Op::Leaf(_, value) => Cow::Borrowed(value),
                Op::Gate(gate) => Cow::Owned(gate.forward_in(precision, |id| &values[id.0])),
            };
            values.slots.push(value);
        }
        values
    }

    /// The same graph with every leaf value (inputs, weights and targets) rounded to nearest
    /// in `precision`, so that an engine in that precision and the oracles differentiate the
    /// same function; borrowed when nothing changes. A leaf beyond the format's range, or one
    /// that is not zero but rounds to zero, is an error naming it: either would change the
    /// function beyond a rounding.
    pub fn rounded_to(&self, precision: Precision) -> Result<Cow<'_, Graph>, GraphError> {
        if precision == Precision::F64 {
            return Ok(Cow::Borrowed(self));
        }
        self.fits(precision)?;
        let changes = |value: &Value| {
            (0..value.len()).any(|k| precision.round(value.entry(k)) != value.entry(k))
        };
        let leaves_change = self
            .nodes
            .iter()
            .any(|n| matches!(&n.op, Op::Leaf(_, value) if changes(value)));
        if !leaves_change {
            return Ok(Cow::Borrowed(self));
        }
        let mut nodes = self.nodes.clone();
        for node in &mut nodes {
            if let Op::Leaf(_, value) = &mut node.op {
                *value = value.rounded(precision);
            }
        }
        Ok(Cow::Owned(Graph {
            nodes,
            shapes: self.shapes.clone(),
        }))
    }

    /// Whether `precision` holds every leaf entry: the first entry beyond its range, or
    /// nonzero and rounding to zero, is an error naming its node. (Checked without copying
    /// the graph: the fuzz loop asks it of every graph in a narrow precision.)
    pub fn fits(&self, precision: Precision) -> Result<(), GraphError> {
        for node in &self.nodes {
            let Op::Leaf(kind, value) = &node.op else {
                continue;
            };
            for k in 0..value.len() {
                let (x, rounded) = (value.entry(k), precision.round(value.entry(k)));
                if rounded.is_finite() && (rounded != 0.0 || x == 0.0) {
                    continue;
                }
                let why = if rounded == 0.0 {
                    format!("rounds to 0 in {precision}")
                } else {
                    let range = precision.max_finite();
                    format!("is beyond the range of {precision} (largest {range:e})")
                };
                return Err(GraphError {
                    node: Some(node.name.clone()),
                    message: format!("`{}` entry {k}, {x:e}, {why}", kind.name()),
                });
            }
        }
        Ok(())
    }

    /// The loss: the sum of the `sqerr` nodes, in node order.
    pub fn loss(&self, values: &Values) -> f64 {
        self.ids()
            .filter(|&id| self.is_loss(id))
            .map(|id| crate::gate::scalar(&values[id.0]))
            .sum()
    }

    /// A fingerprint of the graph's structure: each node's kind (leaf kind or gate), its
    /// operands by position and its shape, not its name or numbers. Two graphs that differ
    /// only in their values (the same bug shrunk to the same graph on two machines, say)
    /// share it. FNV-1a over a fixed byte encoding, so it is the same on every machine and
    /// in every version that keeps this encoding.
    pub fn structure_fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |word: u64| {
            for byte in word.to_le_bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for id in self.ids() {
            match &self.nodes[id.0].op {
                Op::Leaf(kind, _) => eat(*kind as u64),
                Op::Gate(gate) => {
                    eat(16 + gate.kind() as u64);
                    for operand in gate.operands().iter() {
                        eat(operand.0 as u64);
                    }
                }
            }
            match self.shape(id) {
                Shape::Scalar => eat(0),
                Shape::Vector(n) => eat(n as u64),
                Shape::Matrix(m, n) => {
                    eat(m as u64);
                    eat(n as u64);
                }
            }
            eat(u64::MAX);
        }
        hash
    }

    /// For each node, the nodes that use it as an operand (once per use), in node order.
    pub fn users(&self) -> Vec<Vec<NodeId>> {
        let mut users = vec![Vec::new(); self.nodes.len()];
        for id in self.ids() {
            if let Some(gate) = self.gate(id) {
                for &operand in gate.operands().iter() {
                    users[operand.0].push(id);
                }
            }
        }
        users
    }

    /// The nodes whose value depends on `source` (not `source` itself), in node order.
    pub fn downstream(&self, source: NodeId) -> Vec<NodeId> {
        let mut reached = vec![false; self.nodes.len()];
        reached[source.0] = true;
        let mut cone = Vec::new();
        for id in self.ids().skip(source.0 + 1) {
            if let Some(gate) = self.gate(id)
                && gate.operands().iter().any(|op| reached[op.0])
            {
                reached[id.0] = true;
                cone.push(id);
            }
        }
        cone
    }
}

fn leaf_shape(kind: LeafKind, value: &Value) -> Result<Shape, String> {
    let shape = match (kind, value) {
        (LeafKind::Input | LeafKind::Target, Value::Vector(v)) => Shape::Vector(v.nrows()),
        (LeafKind::Weight, Value::Matrix(m)) => Shape::Matrix(m.nrows(), m.ncols()),
        (kind, _) => {
            return Err(format!(
                "a `{}` leaf holds the wrong kind of value",
                kind.name()
            ));
        }
    };
    if value.is_empty() {
        return Err(format!("`{}` is empty", kind.name()));
    }
    if let Some(k) = (0..value.len()).find(|&k| !value.entry(k).is_finite()) {
        return Err(format!(
            "`{}` entry {k} is {}, not a finite number",
            kind.name(),
            value.entry(k)
        ));
    }
    Ok(shape)
}

fn gate_shape(
    gate: &Gate,
    index: usize,
    nodes: &[Node],
    shapes: &[Shape],
) -> Result<Shape, String> {
    let name = gate.kind().name();
    for &operand in gate.operands().iter() {
        if operand.0 >= index {
            return Err(format!("`{name}` uses a node that does not come before it"));
        }
        if matches!(nodes[operand.0].op, Op::Gate(Gate::Sqerr { .. })) {
            return Err(format!(
                "`{name}` uses the `sqerr` node `{}`; losses are never arguments",
                nodes[operand.0].name
            ));
        }
    }
    let vector_len = |id: crate::graph::NodeId, role: &str| match shapes[id.0] {
        Shape::Vector(n) => Ok(n),
        other => Err(format!(
            "`{name}` needs a vector as its {role}, but `{}` is a {other}",
            nodes[id.0].name
        )),
    };
    match *gate {
        Gate::Add(a, b) => {
            let (la, lb) = (
                vector_len(a, "first argument")?,
                vector_len(b, "second argument")?,
            );
            if la != lb {
                return Err(format!(
                    "`add` needs vectors of equal length, but `{}` has {la} and `{}` has {lb}",
                    nodes[a.0].name, nodes[b.0].name
                ));
            }
            Ok(Shape::Vector(la))
        }
        Gate::Matvec { weight, vector } => {
            let (rows, cols) = match (&nodes[weight.0].op, shapes[weight.0]) {
                (Op::Leaf(LeafKind::Weight, _), Shape::Matrix(m, n)) => (m, n),
                _ => {
                    return Err(format!(
                        "`matvec` needs a `weight` leaf as its first argument, but `{}` is not one",
                        nodes[weight.0].name
                    ));
                }
            };
            let len = vector_len(vector, "second argument")?;
            if len != cols {
                return Err(format!(
                    "`matvec` multiplies the {rows}×{cols} weight `{}` by `{}` of length {len}; \
                     the length must be {cols}",
                    nodes[weight.0].name, nodes[vector.0].name
                ));
            }
            Ok(Shape::Vector(rows))
        }
        Gate::Sigmoid(s) => Ok(Shape::Vector(vector_len(s, "argument")?)),
        Gate::Sqerr { output, target } => {
            let lo = vector_len(output, "first argument")?;
            let lt = vector_len(target, "second argument")?;
            if lo != lt {
                return Err(format!(
                    "`sqerr` needs vectors of equal length, but `{}` has {lo} and `{}` has {lt}",
                    nodes[output.0].name, nodes[target.0].name
                ));
            }
            Ok(Shape::Scalar)
        }
    }
}
