//! What the full and the fast check both start from: the graph rounded to the engine's
//! precision, the engine's answer, gradfuzz's own forward pass with the bounds on its
//! round-off, and the bounds on the engine's.

use crate::engine::{Engine, EngineError, Gradients};
use crate::graph::{Graph, Values};
use crate::precision::Precision;
use crate::tolerance::{EngineBounds, ForwardErrors, OWN_SUMMATION, forward_errors};

/// A graph prepared for checking an engine on it.
pub(crate) struct Prepared<'g> {
    /// The graph, its leaves rounded to the engine's precision.
    pub(crate) graph: &'g Graph,
    /// The engine's gradients, validated.
    pub(crate) analytic: Gradients,
    /// gradfuzz's forward pass, in `f64`.
    pub(crate) values: Values<'g>,
    /// The bounds on the round-off of `values` (gradfuzz's own arithmetic).
    pub(crate) own_errors: ForwardErrors,
    /// The bounds on the engine's round-off.
    pub(crate) bounds: EngineBounds,
}

impl<'g> Prepared<'g> {
    /// Asks the engine about `graph`, whose leaves are already rounded to its precision
    /// ([`crate::engine::rounded_for`]), and analyses both sides' round-off; `sharpen` adds
    /// the signed bounds where the plain ones are loose (the full check does; the fast
    /// check's directions sum over many entries and do not need them).
    pub(crate) fn new(
        engine: &dyn Engine,
        graph: &'g Graph,
        sharpen: bool,
    ) -> Result<Prepared<'g>, EngineError> {
        crate::engine::computes(engine, graph)?;
        let analytic = crate::engine::answer(engine, graph)?;
        let values = graph.forward();
        let own_errors = forward_errors(graph, &values, Precision::F64, OWN_SUMMATION);
        let mut bounds = EngineBounds::reusing(
            graph,
            &values,
            engine.precision(),
            engine.summation(),
            &own_errors,
        );
        if sharpen {
            bounds.sharpen(graph, &values);
        }
        Ok(Prepared {
            graph,
            analytic,
            values,
            own_errors,
            bounds,
        })
    }
}
