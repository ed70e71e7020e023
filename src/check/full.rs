//! The full check: every entry of every leaf, each decided by the oracles it needs.

use super::decide::{Context, allowance, decide};
use super::prepare::Prepared;
use super::{EntryCheck, LossMismatch, Tolerance, Undecided, Verdict};
use crate::engine::{Engine, EngineError};
use crate::graph::Graph;
use crate::oracle::CentralDifferences;
use crate::oracle::forward_mode::LeafTangents;
use crate::oracle::kinks::KinkBands;
use crate::oracle::precise::PreciseValues;
use crate::precision::Precision;
use crate::tolerance::{EngineBounds, underflowed_nodes};
use std::borrow::Cow;

/// How many entries of a leaf are differenced at a time: enough for every thread to have a
/// long run of them, few enough that their estimates are a small part of a big case's memory.
const BLOCK: usize = 1 << 17;

/// Each entry, given to `record` in leaf and entry order as it is decided (a big case's
/// entries are never all held at once), and the engine's loss if it gave one that differs
/// from the forward pass.
pub(super) fn analyse(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
    record: &mut dyn FnMut(EntryCheck),
) -> Result<Option<LossMismatch>, EngineError> {
    let precision = engine.precision();
    let graph = crate::engine::rounded_for(engine, graph)?;
    let Prepared {
        graph,
        analytic,
        values,
        own_errors,
        bounds,
    } = Prepared::new(engine, graph.as_ref(), true)?;
    let loss_mismatch = analytic.loss.and_then(|claimed| {
        let computed = graph.loss(&values);
        let own: f64 = graph
            .ids()
            .filter(|&id| graph.is_loss(id))
            .map(|id| own_errors.of(id)[0])
            .sum();
        let allowance = allowance(tolerance, 1.0, computed.abs(), bounds.loss(), own);
        let off = !claimed.is_finite() || (claimed - computed).abs() > allowance;
        off.then_some(LossMismatch {
            claimed,
            computed,
            tolerance: allowance,
        })
    });
    let differences = CentralDifferences::new(graph, &values, &own_errors);
    let forward_finite = values.iter().all(|v| v.is_finite());
    let underflowed = reaches_underflow(graph, &underflowed_nodes(graph, &values));
    let kinks = KinkBands::new(graph, &values, &own_errors, Some(bounds.forward()));
    // The third oracle's forward pass, computed the first time an entry needs it.
    let precise = std::cell::OnceCell::new();
    for leaf in graph.differentiable_leaves() {
        let claimed = analytic
            .get(leaf)
            .expect("validated: every leaf has a gradient");
        // Forward mode's values over the leaf's cone, computed the first time one of its
        // entries needs the second oracle, and shared by the rest.
        let tangents = std::cell::OnceCell::new();
        let kink = kinks.first_reached(graph, leaf);
        let len = values[leaf.0].len();
        for block in (0..len)
            .step_by(BLOCK)
            .map(|start| start..(start + BLOCK).min(len))
        {
            let estimates = differences.of(leaf, block.clone());
            for (entry, estimate) in block.zip(&estimates) {
                let second_oracle = || {
                    tangents
                        .get_or_init(|| {
                            let kinks = Cow::Borrowed(&kinks);
                            LeafTangents::across_kinks(graph, &values, &own_errors, kinks, leaf)
                        })
                        .derivative_across_kinks(entry)
                };
                let context = Context {
                    engine_bound: bounds.entry(&values, leaf, entry),
                    forward_finite,
                    underflowed: underflowed[leaf.0],
                    kink,
                };
                // Double-double forward mode takes one slope per gate: not asked across a kink.
                let third_oracle = || match kink {
                    Some(_) => (f64::NAN, f64::INFINITY),
                    None => precise
                        .get_or_init(|| PreciseValues::new(graph, &values))
                        .derivative(graph, &values, leaf, entry),
                };
                let mut decided = decide(
                    claimed.entry(entry),
                    estimate,
                    &context,
                    tolerance,
                    second_oracle,
                    third_oracle,
                );
                decided.verdict = within_range(&decided, context.engine_bound, precision, &bounds);
                decided.leaf = leaf;
                decided.entry = entry;
                record(decided);
            }
        }
    }
    Ok(loss_mismatch)
}

/// For each leaf, whether the oracles' differences through its cone meet an underflowed
/// value: at a node of the cone that reaches a loss, or an operand of one.
fn reaches_underflow(graph: &Graph, underflowed: &[bool]) -> Vec<bool> {
    let mut reaches = vec![false; graph.len()];
    if !underflowed.contains(&true) {
        return reaches;
    }
    let mut live = vec![false; graph.len()];
    for id in graph.ids().rev() {
        if graph.is_loss(id) || live[id.0] {
            live[id.0] = true;
            for &op in graph.operation(id).operands().iter() {
                live[op.0] = true;
            }
        }
    }
    for leaf in graph.differentiable_leaves() {
        reaches[leaf.0] = graph.downstream(leaf).iter().any(|&node| {
            live[node.0]
                && (underflowed[node.0]
                    || graph
                        .operation(node)
                        .operands()
                        .iter()
                        .any(|&op| underflowed[op.0]))
        });
    }
    reaches
}

/// The verdict, unless the engine's precision cannot hold the gradient: an engine in a
/// narrow precision whose gradient overflowed where the values it is made of, or the terms
/// of its own sum (whose error bound `engine_bound` is then at least `u` times the largest
/// number), lie beyond that precision's range is not wrong.
fn within_range(
    entry: &EntryCheck,
    engine_bound: f64,
    precision: Precision,
    bounds: &EngineBounds,
) -> Verdict {
    let limit = precision.max_finite();
    let beyond_range = precision != Precision::F64
        && (bounds.overflows()
            || entry.numeric.abs() >= limit
            || engine_bound >= precision.unit_roundoff() * limit);
    match entry.verdict {
        Verdict::NonFinite if !entry.analytic.is_finite() && beyond_range => {
            Verdict::Unchecked(Undecided::BeyondRange(precision))
        }
        verdict => verdict,
    }
}
