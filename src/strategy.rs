//! Proptest strategies for graphs, for property tests of your own engine.
//!
//! A strategy draws a [`Recipe`] and builds it, so proptest shrinks the recipe (fewer steps,
//! smaller raw choices, numbers towards zero) and every shrunk value is still a valid graph.
//!
//! ```
//! use gradfuzz::strategy::{GraphStrategy, graphs};
//! use gradfuzz::{Reference, Tolerance, check};
//! use proptest::prelude::*;
//!
//! proptest!(|(graph in graphs(GraphStrategy { max_nodes: 8, ..GraphStrategy::default() }))| {
//!     let report = check(&Reference, &graph, &Tolerance::default()).unwrap();
//!     prop_assert!(report.passed());
//! });
//! ```

use crate::gate::GateKind;
use crate::generate::ValueMode;
use crate::graph::Graph;
use crate::recipe::{Limits, Recipe, Step, build};
use proptest::prelude::*;

/// The knobs of [`graphs`].
#[derive(Clone, Debug, PartialEq)]
pub struct GraphStrategy {
    /// At most this many nodes (at least 3).
    pub max_nodes: usize,
    /// Vector lengths and matrix sides in `1..=max_dim`.
    pub max_dim: usize,
    /// The gates steps may add (`sqerr` is always there: every graph has a loss).
    pub gates: Vec<GateKind>,
    /// How numbers are drawn (uniform stand-ins for the fuzzer's distributions: `Normal`
    /// is uniform in ±3, `Wide` in ±100, `Extreme` log-uniform magnitudes from 1e-4 to 40).
    pub values: ValueMode,
}

impl Default for GraphStrategy {
    fn default() -> Self {
        GraphStrategy {
            max_nodes: Limits::default().max_nodes,
            max_dim: Limits::default().max_dim,
            gates: vec![
                GateKind::Add,
                GateKind::Matvec,
                GateKind::Sigmoid,
                GateKind::Sqerr,
            ],
            values: ValueMode::Normal,
        }
    }
}

/// Graphs built from random recipes.
pub fn graphs(config: GraphStrategy) -> impl Strategy<Value = Graph> {
    let limits = Limits {
        max_nodes: config.max_nodes,
        max_dim: config.max_dim,
        ..Limits::default()
    }
    .sanitized();
    recipes(config).prop_map(move |recipe| build(&recipe, &limits))
}

/// The recipes behind [`graphs`], for properties of the builder itself.
pub fn recipes(config: GraphStrategy) -> impl Strategy<Value = Recipe> {
    let limits = Limits {
        max_nodes: config.max_nodes,
        max_dim: config.max_dim,
        ..Limits::default()
    }
    .sanitized();
    let steps = prop::collection::vec(step(config.gates.clone()), 1..=limits.max_nodes);
    let numbers = prop::collection::vec(
        number(config.values),
        1..=(limits.max_nodes * limits.max_dim * limits.max_dim).min(512),
    );
    (steps, numbers).prop_map(|(steps, numbers)| Recipe { steps, numbers })
}

fn step(gates: Vec<GateKind>) -> impl Strategy<Value = Step> {
    let raw = || any::<u16>();
    let mut choices: Vec<BoxedStrategy<Step>> = vec![
        raw().prop_map(|dim| Step::Input { dim }).boxed(),
        raw().prop_map(|dim| Step::Target { dim }).boxed(),
        (raw(), raw())
            .prop_map(|(output, target)| Step::sqerr(output, target))
            .boxed(),
    ];
    for gate in gates {
        if gate == GateKind::Sqerr {
            continue;
        }
        // Only the choices the builder reads: an unused one would be shrunk for nothing.
        let step = match crate::recipe::choices(gate, false).0 {
            1 => raw().prop_map(move |a| Step::gate(gate, [a, 0, 0])).boxed(),
            2 => (raw(), raw())
                .prop_map(move |(a, b)| Step::gate(gate, [a, b, 0]))
                .boxed(),
            _ => (raw(), raw(), raw())
                .prop_map(move |choices| Step::gate(gate, choices.into()))
                .boxed(),
        };
        choices.push(step);
    }
    proptest::strategy::Union::new(choices)
}

fn number(values: ValueMode) -> BoxedStrategy<f64> {
    match values {
        ValueMode::Normal => (-3.0..3.0f64).boxed(),
        ValueMode::Wide => (-100.0..100.0f64).boxed(),
        ValueMode::Extreme => (any::<bool>(), -4.0..40f64.log10())
            .prop_map(|(negative, exponent)| {
                let magnitude = 10f64.powf(exponent);
                if negative { -magnitude } else { magnitude }
            })
            .boxed(),
    }
}
