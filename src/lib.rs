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
//! - [`gate`]: the forward and backward rule of every gate (all the calculus);
//! - [`graph`]: nodes, shape rules, the forward pass;
//! - [`kernels`]: the dense products, in a fixed order, so every machine computes the
//!   same bits;
//! - [`engine`]: the [`Engine`] trait and the reference reverse-mode engine;
//! - [`oracle`]: central finite differences with an error estimate;
//! - [`check`](mod@check): the tolerance model and the per-graph [`Report`];
//! - [`recipe`] and [`generate`]: random graphs from a seed, through a total builder;
//! - [`case`]: case files (YAML), loaded with validation and saved bit-exactly;
//! - [`fuzz`]: many random graphs and a summary;
//! - [`blame`] and [`shrink`]: which rule is wrong, and the smallest graph that shows it;
//! - [`report`]: text rendering;
//! - for your own tests: [`assert`](mod@assert) (`assert_gradients`, `assert_engine`) and [`strategy`]
//!   (proptest strategies for graphs).
//!
//! To check your own backward code, implement [`Engine`] (one method: gradients of a
//! [`Graph`]'s loss with respect to its leaves) and call [`check()`], or one of the assertions.

pub mod arithmetic;
pub mod assert;
pub mod bench;
pub mod blame;
pub mod case;
pub mod check;
pub mod dot;
pub mod engine;
pub mod fuzz;
pub mod gate;
pub mod generate;
pub mod graph;
pub mod json;
pub mod junit;
pub mod kernels;
pub mod merge;
pub mod oracle;
pub mod precision;
pub mod recipe;
pub mod report;
pub mod shrink;
#[cfg(feature = "proptest")]
pub mod strategy;
pub mod suite;
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
pub use graph::{Graph, LeafKind, NodeId, Op, Shape};
pub use precision::Precision;
