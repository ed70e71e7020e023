//! Validation: from the raw file to a valid case, rule by rule, each message naming the
//! file and the node or key.

use super::raw::{Ordered, RawArray, RawBody, RawCase, RawOp, RawTolerance};
use super::{Case, CaseError, CaseErrorKind, Expect, SizeLimits};
use crate::check::Tolerance;
use crate::engine::{Gradients, validation};
use crate::graph::{Graph, NodeId};
use crate::op::{GateKind, LeafKind, Operation};
use crate::value::Value;
use faer::{Col, Mat};
use serde_saphyr::Spanned;

/// Which numbers an array may hold: leaves are finite; a claimed gradient may be anything.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Numbers {
    Finite,
    Any,
}
use std::collections::HashMap;

pub(super) struct Validator<'a> {
    pub(super) file: &'a str,
    pub(super) limits: &'a SizeLimits,
}

impl Validator<'_> {
    fn error(&self, line: Option<u64>, message: impl Into<String>) -> CaseError {
        CaseError {
            file: self.file.to_string(),
            // A JSON file's keys have no location (line 0).
            line: line.filter(|&line| line > 0),
            kind: CaseErrorKind::Invalid,
            message: message.into(),
        }
    }

    /// Beyond a size limit.
    fn too_large(&self, line: Option<u64>, message: impl Into<String>) -> CaseError {
        CaseError {
            kind: CaseErrorKind::TooLarge,
            ..self.error(line, message)
        }
    }

    /// The case a raw file describes, or the first rule it breaks.
    pub(super) fn case(&self, raw: RawCase, default_name: &str) -> Result<Case, CaseError> {
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
        let precision = raw
            .precision
            .map(|p| {
                p.value.parse().map_err(|e| {
                    self.error(Some(p.referenced.line()), format!("key `precision`: {e}"))
                })
            })
            .transpose()?;
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
            precision,
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
            return Err(self.too_large(
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
            nodes.push((key.value.clone(), op));
        }
        Graph::with_operations(nodes).map_err(|e| {
            let line = e
                .node
                .as_deref()
                .and_then(|node| index_of.get(node))
                .map(|&i| entries[i].0.referenced.line());
            self.error(line, e.to_string())
        })
    }

    /// The operand names of a gate, with its arity checked (none for a leaf).
    fn operand_names(
        &self,
        node: &str,
        op: &RawOp,
        line: Option<u64>,
    ) -> Result<Vec<String>, CaseError> {
        let RawBody::Operands(names) = &op.body else {
            return Ok(Vec::new());
        };
        let gate = GateKind::by_name(&op.op).expect("the parser knows the op");
        let arity = gate.arity();
        if names.len() != arity {
            let plural = if arity == 1 { "argument" } else { "arguments" };
            return Err(self.error(
                line,
                format!(
                    "node `{node}`: `{gate}` takes {arity} {plural}, but {} are given",
                    names.len()
                ),
            ));
        }
        Ok(names.clone())
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
    ) -> Result<Operation, CaseError> {
        let what = format!("node `{node}`");
        let numbers = match &op.body {
            RawBody::Operands(_) => {
                let gate = GateKind::by_name(&op.op).expect("the parser knows the op");
                return Ok(gate.on(ids).expect("the arity was checked"));
            }
            RawBody::Numbers(numbers) => numbers,
        };
        let kind = LeafKind::by_name(&op.op).expect("the parser knows the op");
        let value = match (kind, numbers) {
            (LeafKind::Weight, RawArray::Matrix(rows)) => {
                self.matrix(&what, kind.name(), rows, line, Numbers::Finite)?
            }
            (LeafKind::Weight, RawArray::Vector(v)) if v.is_empty() => {
                return Err(self.error(line, format!("{what}: `weight` is empty")));
            }
            (LeafKind::Weight, RawArray::Vector(_)) => {
                return Err(self.error(
                    line,
                    format!("{what}: a `weight` is a list of rows, as `[[1.0, 2.0], [3.0, 4.0]]`"),
                ));
            }
            (_, RawArray::Vector(v)) => {
                self.vector(&what, kind.name(), v, line, Numbers::Finite)?
            }
            // A batch: one example a row.
            (_, RawArray::Matrix(rows)) => {
                self.matrix(&what, kind.name(), rows, line, Numbers::Finite)?
            }
        };
        Ok(Operation::Leaf(kind, value))
    }

    fn check_dim(&self, what: &str, len: usize, line: Option<u64>) -> Result<(), CaseError> {
        if len > self.limits.max_dim {
            return Err(self.too_large(
                line,
                format!(
                    "{what}: {len} entries along one side, above the limit of {}",
                    self.limits.max_dim
                ),
            ));
        }
        Ok(())
    }

    /// `what` is the subject of messages: "node `x`", or "key `gradients.x`".
    fn vector(
        &self,
        what: &str,
        key: &str,
        numbers: &[f64],
        line: Option<u64>,
        allowed: Numbers,
    ) -> Result<Value, CaseError> {
        self.check_dim(what, numbers.len(), line)?;
        if numbers.is_empty() {
            return Err(self.error(line, format!("{what}: `{key}` is empty")));
        }
        if allowed == Numbers::Finite {
            self.finite(what, numbers.iter(), line)?;
        }
        Ok(Value::Vector(Col::from_fn(numbers.len(), |i| numbers[i])))
    }

    /// `what` is the subject of messages: "node `x`", or "key `gradients.x`".
    fn matrix(
        &self,
        what: &str,
        key: &str,
        rows: &[Vec<f64>],
        line: Option<u64>,
        allowed: Numbers,
    ) -> Result<Value, CaseError> {
        self.check_dim(what, rows.len(), line)?;
        let cols = rows.first().map_or(0, Vec::len);
        self.check_dim(what, cols, line)?;
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
        if allowed == Numbers::Finite {
            self.finite(what, rows.iter().flatten(), line)?;
        }
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
            let leaf = validation::leaf_named(graph, name)
                .map_err(|e| self.error(line, format!("{what}: {e}")))?;
            let value = match &array.value {
                // A claimed gradient may be NaN or infinite: that is a verdict of its own
                // (non-finite), not an invalid file.
                RawArray::Vector(v) => self.vector(&what, "gradient", v, line, Numbers::Any),
                RawArray::Matrix(rows) => self.matrix(&what, "gradient", rows, line, Numbers::Any),
            }?;
            validation::shaped(graph, leaf, &value)
                .map_err(|e| self.error(line, format!("{what}: {e}")))?;
            gradients.set(leaf, value);
        }
        validation::validate(graph, &gradients)
            .map_err(|e| self.error(None, format!("key `gradients`: {e}")))?;
        Ok(gradients)
    }
}
