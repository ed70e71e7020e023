//! The graph model: nodes in topological order, the shape rules of the gates, and the
//! forward pass.
//!
//! A [`Graph`] can only be made through [`Graph::with_operations`] (or [`Graph::new`], in
//! the four gates' terms), which enforces every rule of the gate semantics (operands come
//! earlier, shapes agree, `matvec` takes a weight leaf, losses are never operands, at least
//! one loss, finite non-empty leaves). Everything downstream can therefore evaluate and
//! differentiate without error cases.

use crate::gate::forward_in;
pub use crate::lecture::{Node, Op};
use crate::op::{Arg, ShapeError, output_shape};
pub use crate::op::{GateKind, GateSet, LeafKind, Operation};
use crate::precision::Precision;
use crate::value::Value;
pub use crate::value::{NodeId, Shape};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Index;
use std::sync::OnceLock;

/// A rule of the gate semantics that a list of nodes breaks, naming the node (none when the
/// rule is about the whole graph).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    pub node: Option<String>,
    pub message: String,
    /// The shape rule broken, when it is one.
    pub shape: Option<Box<ShapeError>>,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Some(node) => write!(f, "node `{node}`: {}", self.message),
            None => write!(f, "key `nodes`: {}", self.message),
        }
    }
}

impl std::error::Error for GraphError {}

/// Every node's value after the forward pass, indexed by node number. Leaves are borrowed
/// from the graph rather than copied: a 256×256 weight is half a megabyte, and copying it
/// cost as much as the product it feeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Values<'g> {
    slots: Vec<Cow<'g, Value>>,
    /// A matrix's entries in row-major order, made the first time they are asked for (a
    /// vector's are its column's).
    row_major: Vec<OnceLock<Vec<f64>>>,
}

impl Values<'_> {
    /// A node's entries in row-major order (the order of the case format, of reports and of
    /// every oracle): a vector's and a scalar's as they are, a matrix's row after row.
    pub fn entries(&self, id: NodeId) -> &[f64] {
        match &*self.slots[id.0] {
            Value::Matrix(m) => self.row_major[id.0].get_or_init(|| {
                let mut entries = Vec::with_capacity(m.nrows() * m.ncols());
                for i in 0..m.nrows() {
                    entries.extend((0..m.ncols()).map(|j| m[(i, j)]));
                }
                entries
            }),
            value => crate::value::entries(value),
        }
    }

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
        let row_major = values.iter().map(|_| OnceLock::new()).collect();
        Values {
            slots: values.into_iter().map(Cow::Owned).collect(),
            row_major,
        }
    }
}

/// A valid computation graph, nodes in topological order (operands before users).
#[derive(Clone)]
pub struct Graph {
    names: Vec<String>,
    operations: Vec<Operation>,
    shapes: Vec<Shape>,
    /// Per node: whether every gate that takes it takes it as a `matvec`'s weight, and one
    /// does.
    matvec_weight_only: Vec<bool>,
    /// The nodes in the four gates' terms, made the first time an engine asks
    /// ([`Graph::nodes`]): gradfuzz itself reads the operations.
    lecture: OnceLock<Vec<Node>>,
}

impl PartialEq for Graph {
    fn eq(&self, other: &Graph) -> bool {
        self.names == other.names && self.operations == other.operations
    }
}

/// The nodes as a case file writes them (`x0: {input: [0.5, -1.0]}`, numbers in shortest
/// round-trip form), so that a failing proptest or `assert_eq!` shows a graph in a few lines
/// that can be pasted under `nodes:` in a case file, rather than the nested structure of
/// every matrix.
impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Graph with {} nodes:", self.len())?;
        for id in self.ids() {
            let body = self.operation(id).text(|id| self.name(id).to_string());
            writeln!(f, "  {}: {{{body}}}", self.name(id))?;
        }
        Ok(())
    }
}

impl Graph {
    /// A graph of the four gates, from nodes in their terms; `nodes` must be in topological
    /// order. (Every rule is checked as by [`Graph::with_operations`].)
    pub fn new(nodes: Vec<Node>) -> Result<Graph, GraphError> {
        Graph::with_operations(
            nodes
                .into_iter()
                .map(|node| (node.name, node.op.operation()))
                .collect(),
        )
    }

    /// Checks every rule of the gate semantics; `nodes` (name and operation) must be in
    /// topological order.
    pub fn with_operations(nodes: Vec<(String, Operation)>) -> Result<Graph, GraphError> {
        let mut shapes = Vec::with_capacity(nodes.len());
        for (index, (name, operation)) in nodes.iter().enumerate() {
            let fail = |message: String, shape: Option<Box<ShapeError>>| GraphError {
                node: Some(name.clone()),
                message,
                shape,
            };
            let shape = match operation {
                Operation::Leaf(kind, value) => {
                    leaf_shape(*kind, value).map_err(|message| fail(message, None))?
                }
                gate => gate_shape(gate, index, &nodes, &shapes)
                    .map_err(|(message, shape)| fail(message, shape))?,
            };
            shapes.push(shape);
        }
        if !nodes.iter().any(|(_, operation)| operation.is_loss()) {
            return Err(GraphError {
                node: None,
                message: "the graph has no `sqerr` node, so it has no loss".into(),
                shape: None,
            });
        }
        let (names, operations): (Vec<String>, Vec<Operation>) = nodes.into_iter().unzip();
        let matvec_weight_only = matvec_weight_only(&operations);
        Ok(Graph {
            names,
            operations,
            shapes,
            matvec_weight_only,
            lecture: OnceLock::new(),
        })
    }

    /// The nodes in the four gates' terms, for an engine written for them: a node of another
    /// gate shows [`Op::NOT_A_LECTURE_GATE`] (read [`Graph::operation`] for it).
    pub fn nodes(&self) -> &[Node] {
        self.lecture.get_or_init(|| {
            self.ids()
                .map(|id| Node {
                    name: self.name(id).to_string(),
                    op: Op::of(self.operation(id)),
                })
                .collect()
        })
    }

    /// A node in the four gates' terms ([`Graph::nodes`]).
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes()[id.0]
    }

    /// The node's name.
    pub fn name(&self, id: NodeId) -> &str {
        &self.names[id.0]
    }

    /// What the node computes.
    pub fn operation(&self, id: NodeId) -> &Operation {
        &self.operations[id.0]
    }

    /// Every node's name and operation, in node order.
    pub fn operations(&self) -> impl ExactSizeIterator<Item = (&str, &Operation)> + '_ {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.operations.iter())
    }

    /// The nodes as names and operations, to change and rebuild with
    /// [`Graph::with_operations`].
    pub fn to_operations(&self) -> Vec<(String, Operation)> {
        self.names
            .iter()
            .cloned()
            .zip(self.operations.iter().cloned())
            .collect()
    }

    pub fn shape(&self, id: NodeId) -> Shape {
        self.shapes[id.0]
    }

    pub fn len(&self) -> usize {
        self.operations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    pub fn ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator + '_ {
        (0..self.operations.len()).map(NodeId)
    }

    /// The id of the node with this name.
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.names.iter().position(|n| n == name).map(NodeId)
    }

    /// The leaves whose gradient is asked for (`input` and `weight`), in node order.
    pub fn differentiable_leaves(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.ids().filter(|&id| match self.operation(id) {
            Operation::Leaf(kind, _) => kind.is_differentiable(),
            _ => false,
        })
    }

    /// The node as one of the four gates, if it is one.
    pub fn gate(&self, id: NodeId) -> Option<&crate::lecture::Gate> {
        match &self.node(id).op {
            Op::Gate(gate) => Some(gate),
            Op::Leaf(..) => None,
        }
    }

    /// Whether every gate that takes this node takes it as a `matvec`'s weight (and one does):
    /// its gradient is then a sum of outer products, which the oracles and bounds compute entry
    /// by entry, never as an array.
    pub fn is_matvec_weight_only(&self, id: NodeId) -> bool {
        self.matvec_weight_only[id.0]
    }

    /// The leaf's kind and value, if the node is a leaf.
    pub fn leaf(&self, id: NodeId) -> Option<(LeafKind, &Value)> {
        self.operation(id).leaf()
    }

    /// Whether the node is a gate (not a leaf).
    pub fn is_gate(&self, id: NodeId) -> bool {
        self.operation(id).kind().is_some()
    }

    /// Whether the node is a loss term.
    pub fn is_loss(&self, id: NodeId) -> bool {
        self.operation(id).is_loss()
    }

    /// The gates the graph uses, each once.
    pub fn gate_kinds(&self) -> BTreeSet<GateKind> {
        self.operations.iter().filter_map(Operation::kind).collect()
    }

    /// What an engine must compute to answer for this graph: its gates, and batches where a
    /// matrix is more than `matvec`'s weight (an input or target matrix, a gate whose value
    /// is a matrix, a weight any other gate takes).
    pub fn gates_needed(&self) -> GateSet {
        GateSet::of(self.gate_kinds(), self.first_batch().is_some())
    }

    /// The first node that makes this graph one of batches (see [`Graph::gates_needed`]).
    pub fn first_batch(&self) -> Option<NodeId> {
        self.ids().find(|&id| {
            let matrix = matches!(self.shape(id), Shape::Matrix(..));
            match self.operation(id) {
                Operation::Leaf(kind, _) => matrix && *kind != LeafKind::Weight,
                gate => {
                    let weight_slot = matches!(gate.kind(), Some(GateKind::Matvec));
                    matrix
                        || gate.operands().iter().enumerate().any(|(slot, &operand)| {
                            matches!(self.shape(operand), Shape::Matrix(..))
                                && !(weight_slot && slot == 0)
                        })
                }
            }
        })
    }

    /// The number of scalars in a node's value.
    pub fn shape_len(&self, id: NodeId) -> usize {
        self.shape(id).len()
    }

    /// How large the graph is, as shrinking orders graphs: its nodes, then the scalars of all
    /// its values (a batch of fewer rows is smaller with as many nodes).
    pub fn size(&self) -> (usize, usize) {
        (self.len(), self.shapes.iter().map(|s| s.len()).sum())
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
            slots: Vec::with_capacity(self.len()),
            row_major: (0..self.len()).map(|_| OnceLock::new()).collect(),
        };
        for operation in &self.operations {
            let value = match operation {
                Operation::Leaf(_, value) => Cow::Borrowed(value),
                gate => Cow::Owned(forward_in(gate, precision, |id| &values[id.0])),
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
            .operations
            .iter()
            .any(|op| matches!(op, Operation::Leaf(_, value) if changes(value)));
        if !leaves_change {
            return Ok(Cow::Borrowed(self));
        }
        let mut operations = self.operations.clone();
        for operation in &mut operations {
            if let Operation::Leaf(_, value) = operation {
                *value = value.rounded(precision);
            }
        }
        Ok(Cow::Owned(Graph {
            names: self.names.clone(),
            operations,
            shapes: self.shapes.clone(),
            matvec_weight_only: self.matvec_weight_only.clone(),
            lecture: OnceLock::new(),
        }))
    }

    /// Whether `precision` holds every leaf entry: the first entry beyond its range, or
    /// nonzero and rounding to zero, is an error naming its node. (Checked without copying
    /// the graph: the fuzz loop asks it of every graph in a narrow precision.)
    pub fn fits(&self, precision: Precision) -> Result<(), GraphError> {
        for (name, operation) in self.operations() {
            let Operation::Leaf(kind, value) = operation else {
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
                    node: Some(name.to_string()),
                    message: format!("`{}` entry {k}, {x:e}, {why}", kind.name()),
                    shape: None,
                });
            }
        }
        Ok(())
    }

    /// The loss: the sum of the loss nodes, in node order.
    pub fn loss(&self, values: &Values) -> f64 {
        self.ids()
            .filter(|&id| self.is_loss(id))
            .map(|id| crate::value::scalar(&values[id.0]))
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
            let operation = self.operation(id);
            match (operation, operation.kind()) {
                (Operation::Leaf(kind, _), _) => eat(*kind as u64),
                (_, kind) => {
                    eat(16 + kind.expect("a gate") as u64);
                    for operand in operation.operands().iter() {
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
        let mut users = vec![Vec::new(); self.len()];
        for id in self.ids() {
            for &operand in self.operation(id).operands().iter() {
                users[operand.0].push(id);
            }
        }
        users
    }

    /// The nodes whose value depends on `source` (not `source` itself), in node order.
    pub fn downstream(&self, source: NodeId) -> Vec<NodeId> {
        let mut reached = vec![false; self.len()];
        reached[source.0] = true;
        let mut cone = Vec::new();
        for id in self.ids().skip(source.0 + 1) {
            if self.operation(id).operands().iter().any(|op| reached[op.0]) {
                reached[id.0] = true;
                cone.push(id);
            }
        }
        cone
    }
}

/// Per node, whether every use is as a `matvec`'s weight, and there is one.
fn matvec_weight_only(operations: &[Operation]) -> Vec<bool> {
    let (mut as_weight, mut otherwise) =
        (vec![false; operations.len()], vec![false; operations.len()]);
    for operation in operations {
        let weight_slot = matches!(operation.kind(), Some(GateKind::Matvec));
        for (slot, &operand) in operation.operands().iter().enumerate() {
            if weight_slot && slot == 0 {
                as_weight[operand.0] = true;
            } else {
                otherwise[operand.0] = true;
            }
        }
    }
    as_weight
        .iter()
        .zip(&otherwise)
        .map(|(&w, &o)| w && !o)
        .collect()
}

fn leaf_shape(kind: LeafKind, value: &Value) -> Result<Shape, String> {
    let shape = match (kind, value) {
        // A matrix input or target is a batch, one example a row.
        (LeafKind::Input | LeafKind::Target, Value::Vector(v)) => Shape::Vector(v.nrows()),
        (_, Value::Matrix(m)) => Shape::Matrix(m.nrows(), m.ncols()),
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

/// The gate's shape, or why its operands break a rule (with the shape rule, when it is one).
fn gate_shape(
    gate: &Operation,
    index: usize,
    nodes: &[(String, Operation)],
    shapes: &[Shape],
) -> Result<Shape, (String, Option<Box<ShapeError>>)> {
    let kind = gate.kind().expect("a gate");
    let name = kind.name();
    for &operand in gate.operands().iter() {
        if operand.0 >= index {
            return Err((
                format!("`{name}` uses a node that does not come before it"),
                None,
            ));
        }
        let (operand_name, operand_op) = &nodes[operand.0];
        if let Some(loss) = operand_op.kind().filter(|k| k.is_loss()) {
            return Err((
                format!(
                    "`{name}` uses the `{loss}` node `{operand_name}`; losses are never arguments"
                ),
                None,
            ));
        }
    }
    let args: Vec<Arg> = gate
        .operands()
        .iter()
        .map(|&id| Arg {
            name: &nodes[id.0].0,
            shape: shapes[id.0],
            is_weight: nodes[id.0].1.is_weight(),
        })
        .collect();
    output_shape(kind, &args, &mut |_, _| {}).map_err(|e| (e.to_string(), Some(Box::new(e))))
}
