//! gradfuzz: a gradient-checking harness and fuzzer for reverse-mode backpropagation over
//! four gates (`add`, `matvec`, `sigmoid`, `sqerr`).
//!
//! The pipeline:
//!
//! ```text
//! seed ──► Recipe ──build (total)──► Graph ──► engine.gradients ──► analytic ─┐
//!                                      └──► finite differences ──► numeric ──┴─► check ─► Report
//! ```
//!
//! - [`value`]: values, shapes and node ids;
//! - [`op`]: the gates, in families, with the table of what is known about each and their
//!   shape rules; the four gates' own types ([`Gate`], [`Op`], [`Node`]), which engines
//!   written for them read, are re-exported from [`gate`] and [`graph`];
//! - [`gate`]: the forward and backward rule of every gate (all the calculus of the engines);
//! - [`graph`]: nodes, shape rules, the forward pass;
//! - [`engine`]: the [`Engine`] trait, the reference reverse-mode engine, the mutants, exec
//!   engines (Unix), and what an engine's failure is ([`EngineError`]);
//! - [`check`](mod@check): the verdict on every entry of a graph, a [`Report`]; [`tolerance`]:
//!   how far an engine may be off in its precision ([`Precision`]);
//! - [`recipe`] and [`generate`]: random graphs from a seed, through a total builder;
//! - [`case`]: case files (YAML), loaded with validation and saved bit-exactly;
//! - [`fuzz`]: many random graphs and a summary; [`blame`] and [`shrink`]: which rule is
//!   wrong, and the smallest graph that shows it;
//! - [`report`]: the text reports (the command line adds JSON, JUnit and Graphviz DOT);
//! - for your own tests: [`assert`](mod@assert) (`assert_gradients`, `assert_engine`) and
//!   [`strategy`] (proptest strategies for graphs).
//!
//! To check your own backward code, implement [`Engine`] (one method: gradients of a
//! [`Graph`]'s loss with respect to its leaves) and call [`check()`], or one of the
//! assertions. The reference engine on a case file, as `gradfuzz check` does it:
//!
//! ```
//! use gradfuzz::{Reference, Tolerance, case, check};
//!
//! let case = case::load("cases/seed/two-layer.yaml".as_ref())?;
//! let report = check(&Reference, &case.graph, &Tolerance::default())?;
//! assert!(report.passed(), "{report:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The oracles, what they know of each function (`function`) and the dense kernels are
//! internals: public for the test suite, hidden from this documentation, and free to change.

pub(crate) mod arithmetic;
pub mod assert;
pub mod blame;
pub mod case;
pub mod check;
pub mod engine;
#[doc(hidden)]
pub mod function;
pub mod fuzz;
pub mod gate;
pub mod generate;
pub mod graph;
mod lecture;
// Internals, public only for the test suite and the measurement examples: hidden from the
// documentation, not part of the API, free to change.
#[doc(hidden)]
pub mod kernels;
pub mod op;
#[doc(hidden)]
pub mod oracle;
pub mod precision;
pub mod recipe;
pub mod report;
pub mod shrink;
#[cfg(feature = "proptest")]
pub mod strategy;
pub mod targets;
pub mod tolerance;
pub mod value;

pub use check::{Report, Tolerance, check};
pub use engine::{Engine, EngineError, Gradients, Reference};
/// The dense linear algebra gradfuzz's values are made of (`Value::Vector` holds a
/// `faer::Col<f64>`, `Value::Matrix` a `faer::Mat<f64>`), re-exported so that an adapter
/// needs no dependency of its own to read them.
pub use faer;
pub use gate::{Gate, Value};
pub use graph::{Graph, LeafKind, Node, NodeId, Op, Shape};
pub use op::{GateKind, Operation};
pub use precision::Precision;
