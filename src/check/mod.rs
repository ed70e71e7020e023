//! Analytic against numeric: the verdict on each entry, and the per-graph [`Report`].
//!
//! The engine's precision comes first: the graph's leaves are rounded to it, so that the
//! engine and the oracles differentiate the same function. For each entry, the
//! *allowance* ([`crate::tolerance`]) is
//!
//! ```text
//! atol + rtol·max(|analytic|, |numeric|) + engine bound + SAFETY·oracle bound
//! ```
//!
//! where the engine bound is the error a textbook backward pass in the engine's precision
//! can make at this entry, and the oracle bound the oracle's own rounding error, both from
//! running error analyses. The primary oracle passes an entry when
//! `|analytic − numeric| ≤ allowance + truncation`, its truncation estimate is within the
//! allowance, and its own uncertainty is at most `PRIMARY_SHARE` times what the engine
//! and the user are allowed. Otherwise (a flagged entry, a primary too coarse, or too
//! imprecise) the forward-mode oracle decides, against the allowance alone, unless the
//! primary's pass was the sharper of the two. An entry that neither oracle
//! can decide is *unchecked*; one where a gradient is NaN or infinite is *non-finite*.
//! Neither is ever a pass.
//!
//! The full check (`full.rs`) decides every entry (`decide.rs`); the fast check ([`fast`])
//! checks a few random directions and falls back to the full check; both start from one
//! preparation (`prepare.rs`).

mod decide;
pub mod fast;
mod full;
mod prepare;

use crate::engine::{Engine, EngineError};
use crate::graph::{Graph, NodeId, Shape};
use crate::precision::Precision;
use full::analyse;

pub use crate::tolerance::Tolerance;

/// Which oracle gave an entry's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oracle {
    /// The cancellation-free central difference (the primary).
    CentralDifference,
    /// Forward mode with dual numbers (asked when the primary flags an entry or is too coarse).
    ForwardMode,
    /// Forward mode in double-double arithmetic (asked when the allowance is tighter than
    /// what the other two can vouch for).
    PreciseForwardMode,
    /// Forward mode on both sides of a kink: the claim judged against the interval of
    /// derivatives the sides allow (SPEC §7, "Kinks").
    BothSidesOfKink,
}

/// The outcome for one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Mismatch,
    /// A gradient is NaN or infinite (the engine's, or the forward function's).
    NonFinite,
    /// No verdict can be given, for the reason it holds.
    Unchecked(Undecided),
}

/// Why an entry has no verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undecided {
    /// No oracle is precise enough: their perturbations or their error bounds overflowed.
    OraclesImprecise,
    /// The gradient, or a value it is made of, lies beyond the range of the engine's
    /// precision, so the engine cannot represent it.
    BeyondRange(Precision),
    /// Forward values underflowed (to subnormal numbers or to zero), and the numeric
    /// derivative lost with them cannot tell a right gradient from a wrong one.
    Underflow,
    /// A gate with a kink (`relu`) in the entry's cone has its argument on either side of
    /// it, and the derivatives the sides allow could not be bounded.
    Kink(NodeId),
}

impl Undecided {
    /// A line on why, for reports.
    pub fn describe(self) -> String {
        match self {
            Undecided::OraclesImprecise => "no oracle is precise enough for a verdict here".into(),
            Undecided::BeyondRange(p) => {
                format!("the gradient or a value it is made of is beyond the range of {p}")
            }
            Undecided::Underflow => {
                "forward values underflowed, and the numeric derivative with them".into()
            }
            Undecided::Kink(_) => {
                "an argument of a gate with a kink is on either side of it, and the derivatives the sides allow could not be bounded".into()
            }
        }
    }

    /// A short name, for JSON.
    pub fn name(self) -> &'static str {
        match self {
            Undecided::OraclesImprecise => "oracles-imprecise",
            Undecided::BeyondRange(_) => "beyond-range",
            Undecided::Underflow => "underflow",
            Undecided::Kink(_) => "kink",
        }
    }
}

/// One leaf entry, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryCheck {
    pub leaf: NodeId,
    /// The entry in row-major order.
    pub entry: usize,
    pub analytic: f64,
    pub numeric: f64,
    /// `|analytic − numeric|`.
    pub error: f64,
    pub tolerance: f64,
    pub verdict: Verdict,
    pub oracle: Oracle,
    /// The bound on the deciding oracle's own rounding error.
    pub oracle_error: f64,
    /// At a kink ([`Oracle::BothSidesOfKink`]): half the width of the interval of derivatives
    /// the sides allow, centred on `numeric`; 0 elsewhere.
    pub kink_radius: f64,
}

impl EntryCheck {
    /// The error as a fraction of the tolerance: above 1 is a mismatch. Not a number when
    /// either side is not finite.
    pub fn ratio(&self) -> f64 {
        if self.tolerance > 0.0 {
            self.error / self.tolerance
        } else if self.error == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    }

    /// Whether either gradient is NaN or infinite: never a pass, never a plain mismatch.
    pub fn is_non_finite(&self) -> bool {
        self.verdict == Verdict::NonFinite
    }

    pub fn is_mismatch(&self) -> bool {
        self.verdict == Verdict::Mismatch
    }

    /// `x[3]` for a vector leaf, `W1[1,2]` for a weight.
    pub fn label(&self, graph: &Graph) -> String {
        entry_label(graph, self.leaf, self.entry)
    }
}

/// `name[i]` or `name[row,col]` for entry `entry` (row-major) of a leaf.
pub fn entry_label(graph: &Graph, leaf: NodeId, entry: usize) -> String {
    let name = graph.name(leaf);
    match graph.shape(leaf) {
        Shape::Matrix(_, cols) => format!("{name}[{},{}]", entry / cols, entry % cols),
        _ => format!("{name}[{entry}]"),
    }
}

/// What checking one graph found.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Report {
    /// Leaf entries compared.
    pub scalars: usize,
    /// Entries whose error exceeds their tolerance, in leaf and entry order.
    pub mismatches: Vec<EntryCheck>,
    /// Entries where either side is NaN or infinite.
    pub non_finite: Vec<EntryCheck>,
    /// Entries no oracle could decide at the requested tolerance.
    pub unchecked: Vec<EntryCheck>,
    /// Entries the forward-mode oracle decided.
    pub by_forward_mode: usize,
    /// Entries decided on both sides of a kink (counted in `by_forward_mode` too).
    pub at_kink: usize,
    /// The engine's own loss, when it gave one that differs from the forward pass.
    pub loss_mismatch: Option<LossMismatch>,
    /// The entry with the largest error-to-tolerance ratio among the finite ones.
    pub closest: Option<EntryCheck>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
            && self.non_finite.is_empty()
            && self.unchecked.is_empty()
            && self.loss_mismatch.is_none()
    }
}

/// Entries worst first: by error as a fraction of tolerance, largest first (NaN first), as
/// every report lists them.
pub fn worst_first<'e>(entries: impl IntoIterator<Item = &'e EntryCheck>) -> Vec<&'e EntryCheck> {
    let mut worst: Vec<&EntryCheck> = entries.into_iter().collect();
    worst.sort_by(|a, b| b.ratio().total_cmp(&a.ratio()));
    worst
}

/// Checks an engine's gradients of `graph` against central finite differences.
pub fn check(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
) -> Result<Report, EngineError> {
    let mut report = Report::default();
    report.loss_mismatch = analyse(engine, graph, tolerance, &mut |entry| report.record(entry))?;
    Ok(report)
}

/// An engine's own loss that differs from gradfuzz's forward pass: a forward mismatch,
/// distinct from a gradient mismatch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossMismatch {
    pub claimed: f64,
    pub computed: f64,
    pub tolerance: f64,
}

/// The report and every checked entry, from one evaluation (for `explain`).
pub fn check_with_entries(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
) -> Result<(Report, Vec<EntryCheck>), EngineError> {
    let (mut report, mut entries) = (Report::default(), Vec::new());
    report.loss_mismatch = analyse(engine, graph, tolerance, &mut |entry| {
        report.record(entry.clone());
        entries.push(entry);
    })?;
    Ok((report, entries))
}

impl Report {
    fn record(&mut self, entry: EntryCheck) {
        self.scalars += 1;
        self.by_forward_mode += (entry.oracle != Oracle::CentralDifference) as usize;
        self.at_kink += (entry.oracle == Oracle::BothSidesOfKink) as usize;
        match entry.verdict {
            Verdict::NonFinite => return self.non_finite.push(entry),
            Verdict::Unchecked(_) => return self.unchecked.push(entry),
            Verdict::Pass | Verdict::Mismatch => {}
        }
        if self
            .closest
            .as_ref()
            .is_none_or(|closest| entry.ratio() > closest.ratio())
        {
            self.closest = Some(entry.clone());
        }
        if entry.is_mismatch() {
            self.mismatches.push(entry);
        }
    }
}
