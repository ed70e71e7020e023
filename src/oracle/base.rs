//! The unperturbed point every perturbation starts from: the forward values, a bound on
//! their own rounding error (in `f64`, [`crate::tolerance::forward_errors`]), and what each
//! elementwise function's change rule reuses for every perturbation
//! ([`crate::function::Point`]), so that a perturbed entry costs no exponential of its own.

use crate::function::{Function, Point};
use crate::graph::{Graph, NodeId, Operation, Values};
use crate::precision::Precision;
use crate::tolerance::{ForwardErrors, OWN_SUMMATION, forward_errors};
use crate::value::{Shape, Value};
use std::borrow::Cow;

/// The forward values of a graph with everything derived from them once.
pub struct Base<'a> {
    pub values: &'a Values<'a>,
    /// The rounding error of each forward value, in `f64`.
    pub errors: Cow<'a, ForwardErrors>,
    /// Per node (empty unless it applies a function elementwise): per entry, the function's
    /// constants at its input.
    pub points: Vec<Vec<Point>>,
    /// Every node's shape.
    pub shapes: Vec<Shape>,
}

impl<'a> Base<'a> {
    pub fn new(graph: &Graph, values: &'a Values<'a>) -> Self {
        let errors = forward_errors(graph, values, Precision::F64, OWN_SUMMATION);
        Base::of(graph, values, Cow::Owned(errors))
    }

    /// [`Base::new`] with the forward values' error bounds (in `f64`) at hand.
    pub fn with_errors(graph: &Graph, values: &'a Values<'a>, errors: &'a ForwardErrors) -> Self {
        Base::of(graph, values, Cow::Borrowed(errors))
    }

    fn of(graph: &Graph, values: &'a Values<'a>, errors: Cow<'a, ForwardErrors>) -> Self {
        let points = graph
            .ids()
            .map(|id| match graph.operation(id) {
                &Operation::Unary(op, s) => match Function::of(op) {
                    Some(function) => {
                        let (y, e_y) = (values.entries(s), errors.of(s));
                        (0..y.len()).map(|i| function.point(y[i], e_y[i])).collect()
                    }
                    None => Vec::new(),
                },
                _ => Vec::new(),
            })
            .collect();
        Base {
            values,
            errors,
            points,
            shapes: graph.ids().map(|id| graph.shape(id)).collect(),
        }
    }

    pub fn value(&self, id: NodeId) -> &Value {
        &self.values[id.0]
    }
}
