//! The unperturbed point every perturbation starts from: the forward values, a bound on
//! their own rounding error (in `f64`, [`crate::tolerance::forward_errors`]), and what each
//! sigmoid's difference rule reuses for every perturbation, so that a perturbed entry costs
//! no exponential of its own.

use crate::gate::{Gate, Value};
use crate::graph::{Graph, NodeId, Values};
use crate::precision::Precision;
use crate::tolerance::{ForwardErrors, OWN_SUMMATION, curvature_max, forward_errors, slope_max};

/// The forward values of a graph with everything derived from them once.
pub struct Base<'a> {
    pub values: &'a Values<'a>,
    /// The rounding error of each forward value, in `f64`.
    pub errors: ForwardErrors,
    /// Per node (empty unless a sigmoid): per entry, from the sigmoid's input `y`.
    pub sigmoids: Vec<SigmoidBase>,
}

/// A sigmoid node's per-entry constants.
#[derive(Clone, Debug, Default)]
pub struct SigmoidBase {
    /// `e^(−|y|)`, from which `σ(y + d)` follows with one `expm1(−d)`.
    pub exp_neg_abs: Vec<f64>,
    /// `σ(−y)`, computed without `1 − σ(y)`.
    pub complement: Vec<f64>,
    /// The steepest slope of σ within the round-off of `y`.
    pub slope: Vec<f64>,
    /// The largest `|σ''|` within the round-off of `y`.
    pub curvature: Vec<f64>,
}

impl<'a> Base<'a> {
    pub fn new(graph: &Graph, values: &'a Values<'a>) -> Self {
        Base::with_errors(
            graph,
            values,
            forward_errors(graph, values, Precision::F64, OWN_SUMMATION),
        )
    }

    /// [`Base::new`] with the forward values' error bounds (in `f64`) at hand.
    pub fn with_errors(graph: &Graph, values: &'a Values<'a>, errors: ForwardErrors) -> Self {
        let sigmoids = graph
            .ids()
            .map(|id| match graph.gate(id) {
                Some(Gate::Sigmoid(s)) => {
                    let y = crate::gate::vector(&values[s.0]);
                    let e_y = errors.of(*s);
                    let mut table = SigmoidBase::default();
                    for i in 0..y.nrows() {
                        let e = (-y[i].abs()).exp();
                        let (big, small) = (1.0 / (1.0 + e), e / (1.0 + e));
                        table.exp_neg_abs.push(e);
                        table.complement.push(if y[i] >= 0.0 { small } else { big });
                        table.slope.push(slope_max(y[i], e_y[i]));
                        table.curvature.push(curvature_max(y[i], e_y[i]));
                    }
                    table
                }
                _ => SigmoidBase::default(),
            })
            .collect();
        Base {
            values,
            errors,
            sigmoids,
        }
    }

    pub fn value(&self, id: NodeId) -> &Value {
        &self.values[id.0]
    }
}
