//! Assertions for plain `#[test]`s: check an engine and panic with a readable report, the
//! blame and the smallest graph that still fails.
//!
//! ```should_panic
//! use gradfuzz::engine::{Engine, EngineError, Gradients, Reference};
//! use gradfuzz::fuzz::FuzzConfig;
//! use gradfuzz::Graph;
//!
//! /// An engine whose sigmoid forgets the `(1 − o)` factor: here the reference with every
//! /// gradient doubled stands in for it.
//! struct Doubling;
//!
//! impl Engine for Doubling {
//!     fn name(&self) -> String {
//!         "doubling".into()
//!     }
//!     fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
//!         let mut gradients = Reference.gradients(graph)?;
//!         for leaf in graph.differentiable_leaves() {
//!             let mut g = gradients.get(leaf).unwrap().clone();
//!             for k in 0..g.len() {
//!                 *g.entry_mut(k) *= 2.0;
//!             }
//!             gradients.set(leaf, g);
//!         }
//!         Ok(gradients)
//!     }
//! }
//!
//! // Panics: "gradfuzz: engine `doubling` fails graph 0 ... shrunk to 3 nodes ..."
//! gradfuzz::assert::assert_engine(&Doubling, &FuzzConfig { jobs: 1, ..FuzzConfig::default() });
//! ```

use crate::blame::blame;
use crate::case::{self, Case, Expect};
use crate::check::{Tolerance, check};
use crate::engine::Engine;
use crate::fuzz::{FuzzConfig, diagnose, fuzz};
use crate::graph::Graph;
use crate::report;
use crate::shrink::Shrinker;

/// Panics, with the failing entries, the blame and the shrunk graph as a case file, unless
/// `engine` passes the check of `graph`.
pub fn assert_gradients(engine: &dyn Engine, graph: &Graph, tolerance: &Tolerance) {
    let report = match check(engine, graph, tolerance) {
        Ok(report) => report,
        Err(error) => panic!("gradfuzz: engine `{}` failed: {error}", engine.name()),
    };
    if report.passed() {
        return;
    }
    let mut message = format!("gradfuzz: engine `{}` fails this graph:\n", engine.name());
    message.push_str(&report::failing_entries(graph, &report, "  "));
    if let Ok(blame) = blame(engine, graph, tolerance) {
        message.push_str(&report::blame_lines(&blame, "  "));
    }
    if let Some(mut shrinker) = Shrinker::for_failure(engine, graph, tolerance) {
        let shrunk = shrinker.shrink_graph(graph);
        message.push_str(&format!("  shrunk to {} nodes:\n", shrunk.len()));
        let case = Case {
            name: "shrunk".into(),
            description: None,
            engine: None,
            expect: Expect::Mismatch,
            tolerance: None,
            precision: None,
            graph: shrunk,
            gradients: None,
        };
        for line in case::to_yaml(&case).lines() {
            message.push_str(&format!("    | {line}\n"));
        }
    }
    panic!("{message}");
}

/// Fuzzes `engine` as `gradfuzz fuzz` would with `config`, and panics with the report of the
/// failing graphs (blamed and shrunk) if there are any.
pub fn assert_engine(engine: &dyn Engine, config: &FuzzConfig) {
    let mut summary = fuzz(engine, config);
    if summary.passed() {
        return;
    }
    diagnose(engine, config, &mut summary);
    panic!(
        "gradfuzz: engine `{}` fails:\n{}",
        engine.name(),
        report::fuzz_text(&engine.name(), config, &summary)
    );
}
