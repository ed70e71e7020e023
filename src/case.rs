//! Case files: a graph with its numbers in YAML, loaded with validation and saved so that it
//! reads back bit-for-bit.
//!
//! Parsing is done by `serde-saphyr` (a panic-free YAML parser with located errors, which
//! also rejects duplicate keys); everything it cannot know (references, cycles, shapes,
//! gradients) is checked here, and every message names the file and the node or key.

use crate::check::Tolerance;
use crate::engine::Gradients;
use crate::gate::{Gate, Value};
use crate::graph::{Graph, LeafKind, Node, NodeId, Op};
use faer::{Col, Mat};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// What a case expects of its check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Every entry within tolerance (the default).
    Pass,
    /// At least one mismatch: the case records a bug that must stay detected.
    Mismatch,
}

impl Expect {
    pub fn name(self) -> &'static str {
        match self {
            Expect::Pass => "pass",
            Expect::Mismatch => "mismatch",
        }
    }
}

/// A loaded, valid case.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub name: String,
    pub description: Option<String>,
    /// The engine named in the file, if any.
    pub engine: Option<String>,
    pub expect: Expect,
    /// The tolerance overrides written in the file, if any.
    pub tolerance: Option<Tolerance>,
    pub graph: Graph,
    /// Claimed gradients, checked instead of an engine's when present.
    pub gradients: Option<Gradients>,
}

/// Size limits for loaded cases, so that a hostile file cannot exhaust memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeLimits {
    pub max_bytes: usize,
    pub max_nodes: usize,
    /// The longest vector or matrix side.
    pub max_dim: usize,
}

impl Default for SizeLimits {
    fn default() -> Self {
        SizeLimits {
            max_bytes: 64 << 20,
            max_nodes: 10_000,
            max_dim: 4_096,
        }
    }
}

/// A case file that cannot be loaded: the file, where in it, and the rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseError {
    pub file: String,
    /// The line (1-based), when known.
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for CaseError {}

/// Loads and validates a case file with the default size limits.
pub fn load(path: &Path) -> Result<Case, CaseError> {
    load_with_limits(path, &SizeLimits::default())
}

/// Loads and validates a case file.
pub fn load_with_limits(path: &Path, limits: &SizeLimits) -> Result<Case, CaseError> {
    let file = path.display().to_string();
    let error = |message: String| CaseError {
        file: file.clone(),
        line: None,
        message,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| error(format!("cannot read: {e}")))?
        .len();
    if size > limits.max_bytes as u64 {
        return Err(error(format!(
            "the file has {size} bytes, above the limit of {}",
            limits.max_bytes
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| error(format!("cannot read: {e}")))?;
    let stem = path
        .file_stem()
        .map_or_else(|| "case".to_string(), |s| s.to_string_lossy().into_owned());
    parse(&bytes, &file, &stem, limits)
}

/// Parses and validates case text. `file` names the source in messages; `default_name` is
/// the name when the text has no `name:` key.
pub fn parse(
    bytes: &[u8],
    file: &str,
    default_name: &str,
    limits: &SizeLimits,
) -> Result<Case, CaseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| CaseError {
        file: file.to_string(),
        line: None,
        message: format!("not UTF-8 text: {e}"),
    })?;
    let raw: RawCase = serde_saphyr::from_str(text).map_err(|e| CaseError {
        file: file.to_string(),
        line: e.location().map(|l| l.line()),
        // The parser's advice is addressed to programs that embed it, not to our users.
        message: e
            .to_string()
            .replace(", set DuplicateKeyPolicy in Options if acceptable", ""),
    })?;
    Validator { file, limits }.case(raw, default_name)
}

// ---------------------------------------------------------------------------------------
// The file's shape, as serde sees it.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: Option<String>,
    description: Option<String>,
    engine: Option<String>,
    expect: Option<Spanned<String>>,
    tolerance: Option<Spanned<RawTolerance>>,
    nodes: Ordered<Spanned<RawOp>>,
    gradients: Option<Ordered<Spanned<RawArray>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTolerance {
    rtol: Option<f64>,
    atol: Option<f64>,
}

/// A node: exactly one op key.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum RawOp {
    Input(Vec<f64>),
    Weight(Vec<Vec<f64>>),
    Target(Vec<f64>),
    Add(Vec<String>),
    Matvec(Vec<String>),
    Sigmoid(String),
    Sqerr(Vec<String>),
}

/// A claimed gradient: a list of numbers or a list of rows.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "expected a list of numbers (a vector) or a list of rows of numbers (a matrix)"
)]
enum RawArray {
    Vector(Vec<f64>),
    Matrix(Vec<Vec<f64>>),
}

/// A mapping kept in file order, each key with the line it is on.
struct Ordered<T>(Vec<(Spanned<String>, T)>);

/// What the keys of an [`Ordered`] mapping are, for messages.
trait KeyRole {
    fn describe(key: &str) -> String;
}

impl KeyRole for Spanned<RawOp> {
    fn describe(key: &str) -> String {
        format!("node `{key}`")
    }
}

impl KeyRole for Spanned<RawArray> {
    fn describe(key: &str) -> String {
        format!("key `gradients.{key}`")
    }
}

impl<'de, T: Deserialize<'de> + KeyRole> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + KeyRole> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping from node ids")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<T>().map_err(|e| {
                        de::Error::custom(format_args!("{}: {e}", T::describe(&key.value)))
                    })?;
                    entries.push((key, value));
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(std::marker::PhantomData))
    }
}

// ---------------------------------------------------------------------------------------
// Validation: from the raw file to a valid case.

struct Validator<'a> {
    file: &'a str,
    limits: &'a SizeLimits,
}

impl Validator<'_> {
    fn error(&self, line: Option<u64>, message: impl Into<String>) -> CaseError {
        CaseError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }

    fn case(&self, raw: RawCase, default_name: &str) -> Result<Case, CaseError> {
        if let Some(engine) = &raw.engine {
            crate::engine::by_name(engine)
                .map_err(|e| self.error(None, format!("key `engine`: {e}")))?;
        }
        let expect = match raw
            .expect
            .as_ref()
            .map(|e| (e.value.as_str(), e.referenced.line()))
        {
            None | Some(("pass", _)) => Expect::Pass,
            Some(("mismatch", _)) => Expect::Mismatch,
            Some((other, line)) => {
                return Err(self.error(
                    Some(line),
                    format!("key `expect`: `{other}` is neither `pass` nor `mismatch`"),
                ));
            }
        };
        let tolerance = raw.tolerance.map(|t| self.tolerance(t)).transpose()?;
        let graph = self.graph(raw.nodes)?;
        let gradients = raw
            .gradients
            .map(|g| self.gradients(&graph, g))
            .transpose()?;
        Ok(Case {
            name: raw.name.unwrap_or_else(|| default_name.to_string()),
            description: raw.description,
            engine: raw.engine,
            expect,
            tolerance,
            graph,
            gradients,
        })
    }

    fn tolerance(&self, raw: Spanned<RawTolerance>) -> Result<Tolerance, CaseError> {
        let defaults = Tolerance::default();
        let line = Some(raw.referenced.line());
        let checked = |key: &str, value: Option<f64>, default: f64| match value {
            None => Ok(default),
            Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
            Some(v) => Err(self.error(
                line,
                format!("key `tolerance.{key}`: {v} is not a finite, non-negative number"),
            )),
        };
        Ok(Tolerance {
            rtol: checked("rtol", raw.value.rtol, defaults.rtol)?,
            atol: checked("atol", raw.value.atol, defaults.atol)?,
        })
    }

    fn graph(&self, raw: Ordered<Spanned<RawOp>>) -> Result<Graph, CaseError> {
        let entries = raw.0;
        if entries.len() > self.limits.max_nodes {
            return Err(self.error(
                None,
                format!(
                    "key `nodes`: {} nodes, above the limit of {}",
                    entries.len(),
                    self.limits.max_nodes
                ),
            ));
        }
        let index_of: HashMap<&str, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, (key, _))| (key.value.as_str(), i))
            .collect();
        // Resolve every reference by file position, then order operands first.
        let mut operands: Vec<Vec<usize>> = Vec::with_capacity(entries.len());
        for (key, op) in &entries {
            let line = Some(key.referenced.line());
            let names = self.operand_names(&key.value, &op.value, line)?;
            let mut resolved = Vec::with_capacity(names.len());
            for name in names {
                match index_of.get(name.as_str()) {
                    Some(&i) => resolved.push(i),
                    None => {
                        return Err(self.error(
                            line,
                            format!(
                                "node `{}`: refers to `{name}`, which is not a node",
                                key.value
                            ),
                        ));
                    }
                }
            }
            operands.push(resolved);
        }
        let order = self.topological_order(&entries, &operands)?;
        let mut position = vec![0; entries.len()];
        for (new, &old) in order.iter().enumerate() {
            position[old] = new;
        }
        let mut nodes = Vec::with_capacity(entries.len());
        for &old in &order {
            let (key, op) = &entries[old];
            let line = Some(key.referenced.line());
            let ids: Vec<NodeId> = operands[old].iter().map(|&i| NodeId(position[i])).collect();
            let op = self.op(&key.value, &op.value, &ids, line)?;
            nodes.push(Node {
                name: key.value.clone(),
                op,
            });
        }
        Graph::new(nodes).map_err(|e| {
            let line = e
                .node
                .as_deref()
                .and_then(|node| index_of.get(node))
                .map(|&i| entries[i].0.referenced.line());
            self.error(line, e.to_string())
        })
    }

    /// The operand names of a gate, with its arity checked.
    fn operand_names(
        &self,
        node: &str,
        op: &RawOp,
        line: Option<u64>,
    ) -> Result<Vec<String>, CaseError> {
        let (gate, names, arity) = match op {
            RawOp::Input(_) | RawOp::Weight(_) | RawOp::Target(_) => return Ok(Vec::new()),
            RawOp::Add(names) => ("add", names.clone(), 2),
            RawOp::Matvec(names) => ("matvec", names.clone(), 2),
            RawOp::Sqerr(names) => ("sqerr", names.clone(), 2),
            RawOp::Sigmoid(name) => ("sigmoid", vec![name.clone()], 1),
        };
        if names.len() != arity {
            return Err(self.error(
                line,
                format!(
                    "node `{node}`: `{gate}` takes {arity} arguments, but {} are given",
                    names.len()
                ),
            ));
        }
        Ok(names)
    }

    /// File positions with every node after its operands (file order where it already is).
    fn topological_order(
        &self,
        entries: &[(Spanned<String>, Spanned<RawOp>)],
        operands: &[Vec<usize>],
    ) -> Result<Vec<usize>, CaseError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let mut mark = vec![Mark::New; entries.len()];
        let mut order = Vec::with_capacity(entries.len());
        for root in 0..entries.len() {
            // Iterative depth-first search: a deep chain must not overflow the stack.
            let mut stack = vec![(root, 0usize)];
            while let Some((node, next)) = stack.pop() {
                if next == 0 {
                    match mark[node] {
                        Mark::Done => continue,
                        Mark::Open => unreachable!("open nodes are on the stack"),
                        Mark::New => mark[node] = Mark::Open,
                    }
                }
                if let Some(&operand) = operands[node].get(next) {
                    stack.push((node, next + 1));
                    match mark[operand] {
                        Mark::Done => {}
                        Mark::New => stack.push((operand, 0)),
                        Mark::Open => {
                            let (key, _) = &entries[node];
                            return Err(self.error(
                                Some(key.referenced.line()),
                                format!(
                                    "node `{}`: refers to `{}`, which depends on it: a cycle",
                                    key.value, entries[operand].0.value
                                ),
                            ));
                        }
                    }
                } else {
                    mark[node] = Mark::Done;
                    order.push(node);
                }
            }
        }
        Ok(order)
    }

    fn op(
        &self,
        node: &str,
        op: &RawOp,
        ids: &[NodeId],
        line: Option<u64>,
    ) -> Result<Op, CaseError> {
        Ok(match op {
            RawOp::Input(v) => Op::Leaf(LeafKind::Input, self.vector(node, "input", v, line)?),
            RawOp::Target(v) => Op::Leaf(LeafKind::Target, self.vector(node, "target", v, line)?),
            RawOp::Weight(rows) => {
                Op::Leaf(LeafKind::Weight, self.matrix(node, "weight", rows, line)?)
            }
            RawOp::Add(_) => Op::Gate(Gate::Add(ids[0], ids[1])),
            RawOp::Matvec(_) => Op::Gate(Gate::Matvec {
                weight: ids[0],
                vector: ids[1],
            }),
            RawOp::Sigmoid(_) => Op::Gate(Gate::Sigmoid(ids[0])),
            RawOp::Sqerr(_) => Op::Gate(Gate::Sqerr {
                output: ids[0],
                target: ids[1],
            }),
        })
    }

    fn check_dim(&self, what: &str, len: usize, line: Option<u64>) -> Result<(), CaseError> {
        if len > self.limits.max_dim {
            return Err(self.error(
                line,
                format!(
                    "{what}: {len} entries along one side, above the limit of {}",
                    self.limits.max_dim
                ),
            ));
        }
        Ok(())
    }

    fn vector(
        &self,
        node: &str,
        key: &str,
        numbers: &[f64],
        line: Option<u64>,
    ) -> Result<Value, CaseError> {
        let what = format!("node `{node}`");
        self.check_dim(&what, numbers.len(), line)?;
        if numbers.is_empty() {
            return Err(self.error(line, format!("{what}: `{key}` is empty")));
        }
        self.finite(&what, numbers.iter(), line)?;
        Ok(Value::Vector(Col::from_fn(numbers.len(), |i| numbers[i])))
    }

    fn matrix(
        &self,
        node: &str,
        key: &str,
        rows: &[Vec<f64>],
        line: Option<u64>,
    ) -> Result<Value, CaseError> {
        let what = format!("node `{node}`");
        self.check_dim(&what, rows.len(), line)?;
        let cols = rows.first().map_or(0, Vec::len);
        self.check_dim(&what, cols, line)?;
        if cols == 0 {
            return Err(self.error(line, format!("{what}: `{key}` is empty")));
        }
        if let Some(r) = rows.iter().position(|row| row.len() != cols) {
            return Err(self.error(
                line,
                format!(
                    "{what}: ragged rows: row 0 has {cols} entries, row {r} has {}",
                    rows[r].len()
                ),
            ));
        }
        self.finite(&what, rows.iter().flatten(), line)?;
        Ok(Value::Matrix(Mat::from_fn(rows.len(), cols, |i, j| {
            rows[i][j]
        })))
    }

    fn finite<'n>(
        &self,
        what: &str,
        mut numbers: impl Iterator<Item = &'n f64>,
        line: Option<u64>,
    ) -> Result<(), CaseError> {
        match numbers.find(|x| !x.is_finite()) {
            Some(x) => Err(self.error(line, format!("{what}: {x} is not a finite number"))),
            None => Ok(()),
        }
    }

    fn gradients(
        &self,
        graph: &Graph,
        raw: Ordered<Spanned<RawArray>>,
    ) -> Result<Gradients, CaseError> {
        let mut gradients = Gradients::empty(graph.len());
        for (key, array) in raw.0 {
            let line = Some(key.referenced.line());
            let name = &key.value;
            let what = format!("key `gradients.{name}`");
            let Some(leaf) = graph.find(name) else {
                return Err(self.error(line, format!("{what}: `{name}` is not a node")));
            };
            match &graph.node(leaf).op {
                Op::Leaf(kind, _) if kind.is_differentiable() => {}
                Op::Leaf(..) => {
                    return Err(self.error(
                        line,
                        format!("{what}: `{name}` is a target, which has no gradient"),
                    ));
                }
                Op::Gate(_) => {
                    return Err(self.error(line, format!("{what}: `{name}` is a gate, not a leaf")));
                }
            }
            let value = match &array.value {
                RawArray::Vector(v) => self.vector(name, "gradient", v, line),
                RawArray::Matrix(rows) => self.matrix(name, "gradient", rows, line),
            }
            .map_err(|e| {
                self.error(
                    line,
                    e.message.replacen(&format!("node `{name}`"), &what, 1),
                )
            })?;
            if value.shape() != graph.shape(leaf) {
                return Err(self.error(
                    line,
                    format!(
                        "{what}: a {}, but `{name}` is a {}",
                        value.shape(),
                        graph.shape(leaf)
                    ),
                ));
            }
            gradients.set(leaf, value);
        }
        if let Some(missing) = graph
            .differentiable_leaves()
            .find(|&l| gradients.get(l).is_none())
        {
            return Err(self.error(
                None,
                format!(
                    "key `gradients`: no gradient for leaf `{}`",
                    graph.node(missing).name
                ),
            ));
        }
        Ok(gradients)
    }
}

// ---------------------------------------------------------------------------------------
// Saving.

/// The case as YAML in the format above; numbers in shortest round-trip form, so that
/// loading the text gives back the same bits.
pub fn to_yaml(case: &Case) -> String {
    let mut out = String::new();
    out.push_str(&format!("name: {}\n", quoted(&case.name)));
    if let Some(description) = &case.description {
        out.push_str(&format!("description: {}\n", quoted(description)));
    }
    if let Some(engine) = &case.engine {
        out.push_str(&format!("engine: {}\n", quoted(engine)));
    }
    if case.expect != Expect::Pass {
        out.push_str(&format!("expect: {}\n", case.expect.name()));
    }
    if let Some(t) = &case.tolerance {
        out.push_str(&format!(
            "tolerance: {{rtol: {}, atol: {}}}\n",
            number(t.rtol),
            number(t.atol)
        ));
    }
    out.push_str("nodes:\n");
    let graph = &case.graph;
    let name = |id: NodeId| key(&graph.node(id).name);
    for node in graph.nodes() {
        let body = node.op_text("", name, array);
        out.push_str(&format!("  {}: {{{body}}}\n", key(&node.name)));
    }
    if let Some(gradients) = &case.gradients {
        out.push_str("gradients:\n");
        for leaf in graph.differentiable_leaves() {
            if let Some(gradient) = gradients.get(leaf) {
                out.push_str(&format!("  {}: {}\n", name(leaf), array(gradient)));
            }
        }
    }
    out
}

/// A number in the shortest form that reads back to the same `f64`.
fn number(x: f64) -> String {
    // Rust's `{:?}` prints the shortest round-trip digits ("0.1", "1e-7", "-0.0").
    format!("{x:?}")
}

/// A value as a flow list (`[..]` or `[[..], ..]`) of shortest round-trip numbers: the same
/// text is valid YAML and JSON, so the exec protocol writes leaves with it too.
pub fn array(value: &Value) -> String {
    let row = |entries: &mut dyn Iterator<Item = f64>| {
        let items: Vec<String> = entries.map(number).collect();
        format!("[{}]", items.join(", "))
    };
    match value {
        Value::Scalar(x) => number(*x),
        Value::Vector(v) => row(&mut v.iter().copied()),
        Value::Matrix(m) => {
            let rows: Vec<String> = (0..m.nrows())
                .map(|i| row(&mut (0..m.ncols()).map(|j| m[(i, j)])))
                .collect();
            format!("[{}]", rows.join(", "))
        }
    }
}

/// A node id as a YAML key or flow item: plain when it is a simple identifier that YAML
/// would not read as a boolean, null or number.
fn key(name: &str) -> String {
    const RESERVED: [&str; 11] = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "nan", "inf",
    ];
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !RESERVED.contains(&name.to_ascii_lowercase().as_str());
    if plain {
        name.to_string()
    } else {
        quoted(name)
    }
}

/// A JSON string is a valid YAML double-quoted scalar with the same meaning.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serializes")
}
