//! Engines: what computes the analytic gradients under test.
//!
//! Gates are a closed set; engines are an open one. The [`Engine`] trait is what a user
//! implements for their own backward code; gradfuzz ships the [`reference`](mod@reference) engine and the
//! engine that replays gradients claimed in a case file ([`Claimed`]).

mod error;
#[cfg(unix)]
pub mod exec;
pub mod mutant;
pub mod reference;
pub mod validation;

use crate::gate::Value;
use crate::graph::{Graph, NodeId};
use crate::op::GateSet;
use crate::precision::Precision;
pub use crate::precision::Summation;

pub use error::EngineError;
pub use mutant::Mutant;
pub use reference::{Reference, ReferenceIn};
pub use validation::AnswerError;

/// Something that computes `dE/d(leaf)` for every `input` and `weight` of a graph.
///
/// An adapter for a tensor library builds the graph's function in that library, node by
/// node (operands come before their users), asks it for the gradients, and hands them back.
/// [`Value::to_row_major`] gives a leaf's entries in the layout tensor libraries take, and
/// [`Gradients::set_row_major`] takes a gradient back in it. Here the "library" is plain
/// vectors and a hand-written backward pass, the shape every adapter has:
///
/// ```
/// use gradfuzz::{Engine, EngineError, Gate, Gradients, Graph, Op, Shape, check, Tolerance};
///
/// /// The four gates in plain `Vec<f64>`s, row-major, as a tensor library would hold them.
/// struct PlainVectors;
///
/// impl Engine for PlainVectors {
///     fn name(&self) -> String {
///         "plain-vectors".into()
///     }
///
///     fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
///         // Forward, in node order: each node's entries, row-major.
///         let mut value: Vec<Vec<f64>> = Vec::new();
///         for node in graph.nodes() {
///             value.push(match &node.op {
///                 Op::Leaf(_, leaf) => leaf.to_row_major(),
///                 Op::Gate(Gate::Add(a, b)) => {
///                     value[a.0].iter().zip(&value[b.0]).map(|(x, y)| x + y).collect()
///                 }
///                 Op::Gate(Gate::Matvec { weight, vector }) => {
///                     let o = &value[vector.0];
///                     value[weight.0].chunks(o.len())
///                         .map(|row| row.iter().zip(o).map(|(w, x)| w * x).sum())
///                         .collect()
///                 }
///                 Op::Gate(Gate::Sigmoid(s)) => {
///                     value[s.0].iter().map(|s| 1.0 / (1.0 + (-s).exp())).collect()
///                 }
///                 Op::Gate(Gate::Sqerr { output, target }) => {
///                     let sum: f64 = value[output.0].iter().zip(&value[target.0])
///                         .map(|(o, t)| (o - t) * (o - t)).sum();
///                     vec![0.5 * sum]
///                 }
///             });
///         }
///         // Backward, in reverse node order, summing partials at fan-out (`+=`).
///         let mut grad: Vec<Vec<f64>> = value.iter().map(|v| vec![0.0; v.len()]).collect();
///         for id in graph.ids().rev() {
///             let Op::Gate(gate) = &graph.node(id).op else { continue };
///             let g = grad[id.0].clone();
///             match *gate {
///                 Gate::Add(a, b) => {
///                     for k in 0..g.len() {
///                         grad[a.0][k] += g[k];
///                         grad[b.0][k] += g[k];
///                     }
///                 }
///                 Gate::Matvec { weight, vector } => {
///                     let n = value[vector.0].len();
///                     for (i, gi) in g.iter().enumerate() {
///                         for j in 0..n {
///                             grad[weight.0][i * n + j] += gi * value[vector.0][j];
///                             grad[vector.0][j] += value[weight.0][i * n + j] * gi;
///                         }
///                     }
///                 }
///                 Gate::Sigmoid(s) => {
///                     for (k, o) in value[id.0].iter().enumerate() {
///                         grad[s.0][k] += g[k] * o * (1.0 - o);
///                     }
///                 }
///                 Gate::Sqerr { output, target } => {
///                     // The loss is the sum of the sqerr nodes: its own gradient is 1.
///                     for k in 0..value[output.0].len() {
///                         let r = value[output.0][k] - value[target.0][k];
///                         grad[output.0][k] += r;
///                         grad[target.0][k] -= r;
///                     }
///                 }
///             }
///         }
///         let mut gradients = Gradients::empty(graph.len());
///         for leaf in graph.differentiable_leaves() {
///             gradients.set_row_major(graph, leaf, &grad[leaf.0])?;
///         }
///         Ok(gradients)
///     }
/// }
///
/// let graph = gradfuzz::fuzz::graph_for(7, 0, &Default::default(), Default::default());
/// assert!(check(&PlainVectors, &graph, &Tolerance::default())?.passed());
/// # let _ = Shape::Scalar;
/// # Ok::<(), EngineError>(())
/// ```
///
/// Engines are `Sync` because a fuzz run checks graphs on several threads at once, each
/// calling `gradients` on the same engine. An engine with per-call state (a device handle,
/// a scratch buffer) keeps it behind a `Mutex`, or in a `thread_local!`, or creates it in
/// `gradients`; with `FuzzConfig { jobs: 1, .. }` nothing runs concurrently, but the bound
/// stays, so that one engine type serves both.
pub trait Engine: Sync {
    /// The name used on the command line and in reports.
    fn name(&self) -> String;

    /// The analytic gradient of the loss with respect to every differentiable leaf.
    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError>;

    /// The precision the engine computes in (by default `f64`). The leaves are rounded to
    /// it before the engine sees them, and the allowance of every entry is the error a
    /// textbook backward pass in this precision can make there.
    fn precision(&self) -> Precision {
        Precision::F64
    }

    /// How the engine sums the terms of each matrix-vector product (by default in any order:
    /// the allowance then holds for every order). An engine that sums each row from its
    /// first column to its last, one term at a time, as the reference does, may say
    /// [`Summation::Sequential`], and its allowance on wide layers is then the far tighter
    /// running bound of that order; said of an engine that sums otherwise (in blocks, in
    /// SIMD lanes, pairwise), it can fail a correct engine.
    fn summation(&self) -> Summation {
        Summation::AnyOrder
    }

    /// The gates the engine computes, and whether on batches (by default the four gates of
    /// SPEC §1 on vectors, [`GateSet::LECTURE`], so that an engine written before the later
    /// gates is only handed graphs it can compute). `fuzz` generates only graphs of these
    /// gates, and `check` refuses a case with others, naming the gate.
    fn gates(&self) -> GateSet {
        GateSet::LECTURE
    }

    /// A short name for the files a run saves (by default [`Engine::name`]; an exec engine's
    /// is the name it declares, or its script's stem, where its name is the whole command).
    fn short_name(&self) -> String {
        self.name()
    }

    /// Whether [`Engine::precision`] and [`Engine::gates`] are the engine's own word (true
    /// of every Rust engine; an exec program that answered the hello as a graph declared
    /// nothing, and has the defaults). `--precision` and `--gates` say so when they override
    /// an engine's own word.
    fn declares_itself(&self) -> bool {
        true
    }

    /// Whether the engine computes gradients for any graph (by default it does). Claimed
    /// gradients answer for their own graph only, so blame, which re-checks each gate in a
    /// small graph of its own, and shrinking cannot ask them.
    fn answers_any_graph(&self) -> bool {
        true
    }
}

/// Whether `engine` declares every gate `graph` has (and batches, if it has them): the
/// first thing it lacks is an error naming it and the node that needs it.
pub fn computes(engine: &dyn Engine, graph: &Graph) -> Result<(), EngineError> {
    let declared = engine.gates();
    let lacks = |what: String, node: crate::graph::NodeId| EngineError::Lacks {
        engine: engine.name(),
        what,
        node: graph.name(node).to_string(),
        declared,
    };
    for id in graph.ids() {
        if let Some(kind) = graph.operation(id).kind()
            && !declared.contains(kind)
        {
            return Err(lacks(kind.name().to_string(), id));
        }
    }
    match graph.first_batch() {
        Some(id) if !declared.batches() => Err(lacks("batch".into(), id)),
        _ => Ok(()),
    }
}

/// The engine's gradients of `graph`, checked for shape, with a panic inside the engine
/// turned into an [`EngineError`]: a user's engine that panics on some graph stops a run
/// the way a failing external program does, with what was checked until then reported,
/// instead of ending the process.
pub fn answer(engine: &dyn Engine, graph: &Graph) -> Result<Gradients, EngineError> {
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.gradients(graph)))
        .map_err(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            EngineError::Panicked {
                engine: engine.name(),
                message,
            }
        })??;
    answer.validate(graph)?;
    Ok(answer)
}

/// `graph` with its leaves rounded to the engine's precision, the function the engine and
/// the oracles then differentiate alike; a leaf the precision cannot hold is an error.
pub fn rounded_for<'g>(
    engine: &dyn Engine,
    graph: &'g Graph,
) -> Result<std::borrow::Cow<'g, Graph>, EngineError> {
    let precision = engine.precision();
    graph
        .rounded_to(precision)
        .map_err(|e| EngineError::Unrepresentable {
            precision,
            problem: e.to_string(),
        })
}

/// An engine checked as computing in a precision other than the one it declares
/// (`--precision`, or a case file's `precision:`): `WithPrecision { engine: &claimed,
/// precision: Precision::F32 }`, or over a `Box<dyn Engine>`.
pub struct WithPrecision<E> {
    pub engine: E,
    pub precision: Precision,
}

impl<E: Engine> Engine for WithPrecision<E> {
    fn name(&self) -> String {
        self.engine.name()
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        self.engine.gradients(graph)
    }

    fn precision(&self) -> Precision {
        self.precision
    }

    fn summation(&self) -> Summation {
        self.engine.summation()
    }

    fn gates(&self) -> GateSet {
        self.engine.gates()
    }

    fn answers_any_graph(&self) -> bool {
        self.engine.answers_any_graph()
    }

    fn short_name(&self) -> String {
        self.engine.short_name()
    }

    fn declares_itself(&self) -> bool {
        self.engine.declares_itself()
    }
}

/// A borrowed engine is an engine.
impl<E: Engine + ?Sized> Engine for &E {
    fn name(&self) -> String {
        (**self).name()
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        (**self).gradients(graph)
    }

    fn precision(&self) -> Precision {
        (**self).precision()
    }
    fn summation(&self) -> Summation {
        (**self).summation()
    }
    fn gates(&self) -> GateSet {
        (**self).gates()
    }
    fn answers_any_graph(&self) -> bool {
        (**self).answers_any_graph()
    }
    fn short_name(&self) -> String {
        (**self).short_name()
    }
    fn declares_itself(&self) -> bool {
        (**self).declares_itself()
    }
}

/// A boxed engine is an engine.
impl<E: Engine + ?Sized> Engine for Box<E> {
    fn name(&self) -> String {
        (**self).name()
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        (**self).gradients(graph)
    }

    fn precision(&self) -> Precision {
        (**self).precision()
    }
    fn summation(&self) -> Summation {
        (**self).summation()
    }
    fn gates(&self) -> GateSet {
        (**self).gates()
    }
    fn answers_any_graph(&self) -> bool {
        (**self).answers_any_graph()
    }
    fn short_name(&self) -> String {
        (**self).short_name()
    }
    fn declares_itself(&self) -> bool {
        (**self).declares_itself()
    }
}

/// Gradients by node: `Some` for every differentiable leaf, `None` elsewhere.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    by_node: Vec<Option<Value>>,
    /// The loss as the engine computed it, when it says (external engines may); checked
    /// against gradfuzz's own forward pass.
    pub loss: Option<f64>,
}

impl Gradients {
    /// Gradients for a graph of `len` nodes, none set yet.
    pub fn empty(len: usize) -> Self {
        Gradients {
            by_node: vec![None; len],
            loss: None,
        }
    }

    pub fn set(&mut self, leaf: NodeId, gradient: Value) {
        self.by_node[leaf.0] = Some(gradient);
    }

    /// Sets `leaf`'s gradient from its entries in row-major order (a tensor library's
    /// `to_vec` of the gradient, converted to `f64`); an error naming the leaf when the
    /// count does not fit its shape.
    pub fn set_row_major(
        &mut self,
        graph: &Graph,
        leaf: NodeId,
        entries: &[f64],
    ) -> Result<(), EngineError> {
        let shape = graph.shape(leaf);
        let value =
            Value::from_row_major(shape, entries).ok_or_else(|| AnswerError::Unreadable {
                leaf: graph.name(leaf).to_string(),
                problem: format!("has {} entries, but the leaf is a {shape}", entries.len()),
            })?;
        self.set(leaf, value);
        Ok(())
    }

    pub fn get(&self, leaf: NodeId) -> Option<&Value> {
        self.by_node.get(leaf.0).and_then(Option::as_ref)
    }

    /// The number of nodes these gradients are for.
    pub fn len(&self) -> usize {
        self.by_node.len()
    }

    /// Whether these are gradients for an empty graph (no graph is).
    pub fn is_empty(&self) -> bool {
        self.by_node.is_empty()
    }

    /// Checks that exactly the differentiable leaves have a gradient of their own shape
    /// ([`validation::validate`]).
    pub fn validate(&self, graph: &Graph) -> Result<(), AnswerError> {
        validation::validate(graph, self)
    }
}

/// Gradients written in a case file (`gradients:`), e.g. exported from another framework,
/// checked in place of an engine's.
pub struct Claimed(pub Gradients);

impl Engine for Claimed {
    fn name(&self) -> String {
        "claimed".into()
    }

    fn gradients(&self, _graph: &Graph) -> Result<Gradients, EngineError> {
        Ok(self.0.clone())
    }

    /// Gradients written for the case's own graph, whatever its gates.
    fn gates(&self) -> GateSet {
        GateSet::all()
    }

    fn answers_any_graph(&self) -> bool {
        false
    }
}

/// `engine`, checked as computing in `precision` when that is given and differs from its
/// own.
pub fn declared(engine: Box<dyn Engine>, precision: Option<Precision>) -> Box<dyn Engine> {
    match precision {
        Some(precision) if precision != engine.precision() => {
            Box::new(WithPrecision { engine, precision })
        }
        _ => engine,
    }
}

/// An engine checked as computing the gates `gates` (`--gates`), whatever it declares.
pub struct WithGates<E> {
    pub engine: E,
    pub gates: GateSet,
}

impl<E: Engine> Engine for WithGates<E> {
    fn name(&self) -> String {
        self.engine.name()
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        self.engine.gradients(graph)
    }

    fn precision(&self) -> Precision {
        self.engine.precision()
    }

    fn summation(&self) -> Summation {
        self.engine.summation()
    }

    fn gates(&self) -> GateSet {
        self.gates
    }

    fn answers_any_graph(&self) -> bool {
        self.engine.answers_any_graph()
    }

    fn short_name(&self) -> String {
        self.engine.short_name()
    }

    fn declares_itself(&self) -> bool {
        self.engine.declares_itself()
    }
}

/// `engine`, checked as computing `gates` when that is given.
pub fn declared_gates(engine: Box<dyn Engine>, gates: Option<GateSet>) -> Box<dyn Engine> {
    match gates {
        Some(gates) => Box::new(WithGates { engine, gates }),
        None => engine,
    }
}

/// The names `--engine` accepts, with a line on each.
pub fn catalogue() -> Vec<(String, &'static str)> {
    let mut engines = vec![
        (
            "reference".to_string(),
            "the project's own reverse-mode implementation of the four gates (the default)",
        ),
        (
            "reference@P".to_string(),
            "the reference with every operation rounded to P (f32, f16 or bf16; P-ftz flushes subnormal results to zero); also mutant:NAME@P",
        ),
    ];
    for (name, _, about) in mutant::CATALOGUE {
        engines.push((format!("mutant:{name}"), about));
    }
    for (name, about) in mutant::PARAMETERISED {
        engines.push((format!("mutant:{name}"), about));
    }
    engines
}

/// How long an `exec:` engine may take to answer for one graph, unless told otherwise.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The engine for a name given to `--engine` or in a case file's `engine:` key, with the
/// default timeout for external programs.
pub fn by_name(name: &str) -> Result<Box<dyn Engine>, String> {
    by_name_with_timeout(name, DEFAULT_TIMEOUT)
}

#[cfg(unix)]
fn exec_engine(command: &str, timeout: std::time::Duration) -> Result<Box<dyn Engine>, String> {
    Ok(Box::new(exec::Exec::new(command, timeout)))
}

/// An exec engine runs in a process group of its own, so that it and everything it started
/// end with it: a Unix facility, which the exec engine needs.
#[cfg(not(unix))]
fn exec_engine(command: &str, _timeout: std::time::Duration) -> Result<Box<dyn Engine>, String> {
    Err(format!(
        "`exec:{command}`: exec engines run on Unix-like systems only (Linux, macOS, the BSDs)"
    ))
}

/// The engine for a name; `timeout` bounds each answer of an `exec:` program.
pub fn by_name_with_timeout(
    name: &str,
    timeout: std::time::Duration,
) -> Result<Box<dyn Engine>, String> {
    if !name.starts_with("exec:")
        && let Some((base, precision)) = name.rsplit_once('@')
    {
        let precision: Precision = precision.parse()?;
        return match base {
            "reference" => Ok(Box::new(ReferenceIn(precision))),
            _ if base.starts_with("mutant:") => {
                let mut mutant = Mutant::by_name(&base["mutant:".len()..])?;
                mutant.precision = precision;
                Ok(Box::new(mutant))
            }
            _ => Err(format!(
                "`@{precision}` goes with `reference` and `mutant:NAME` only; for another engine, \
                 say `--precision {precision}`"
            )),
        };
    }
    match name {
        "reference" => Ok(Box::new(Reference)),
        _ if name.starts_with("exec:") => {
            let command = name["exec:".len()..].trim();
            if command.is_empty() {
                return Err("`exec:` needs a command, as in `exec:python3 my_engine.py`".into());
            }
            exec_engine(command, timeout)
        }
        _ if name.starts_with("mutant:") => {
            Ok(Box::new(Mutant::by_name(&name["mutant:".len()..])?))
        }
        other => Err(format!(
            "unknown engine `{other}` (run `gradfuzz engines` for the list)"
        )),
    }
}
