//! `--format json`: one JSON document on stdout for `fuzz`, `check` and `explain`.
//!
//! The schema is `docs/report.schema.json` (a test validates every command's output against
//! it). Field names are stable; new fields may be added.

use gradfuzz::blame::{Blame, Culprit};
use gradfuzz::case::{self, Case};
use gradfuzz::check::{EntryCheck, Oracle, Report, Undecided, Verdict, worst_first};
use gradfuzz::fuzz::{Budget, FuzzConfig, FuzzSummary, SavedFiles};
use gradfuzz::graph::Graph;
use serde_json::{Value as Json, json};

/// A number, or `null` when it is NaN or infinite (JSON has no such numbers).
fn number(x: f64) -> Json {
    if x.is_finite() { json!(x) } else { Json::Null }
}

/// One entry: leaf, index, values, error, tolerance, verdict and the oracle that decided.
pub fn entry(graph: &Graph, entry: &EntryCheck) -> Json {
    let index: Vec<usize> = match graph.shape(entry.leaf) {
        gradfuzz::graph::Shape::Matrix(_, cols) => vec![entry.entry / cols, entry.entry % cols],
        _ => vec![entry.entry],
    };
    json!({
        "leaf": graph.name(entry.leaf),
        "index": index,
        "label": entry.label(graph),
        "analytic": number(entry.analytic),
        "numeric": number(entry.numeric),
        "error": number(entry.error),
        "tolerance": number(entry.tolerance),
        "ratio": number(entry.ratio()),
        "verdict": match entry.verdict {
            Verdict::Pass => "pass",
            Verdict::Mismatch => "mismatch",
            Verdict::NonFinite => "non-finite",
            Verdict::Unchecked(_) => "unchecked",
        },
        "oracle": match entry.oracle {
            Oracle::CentralDifference => "central-difference",
            Oracle::ForwardMode => "forward-mode",
            Oracle::PreciseForwardMode => "forward-mode-double-double",
            Oracle::BothSidesOfKink => "forward-mode-both-sides-of-kink",
        },
        "kink_interval": (entry.oracle == Oracle::BothSidesOfKink).then(|| json!([
            number(entry.numeric - entry.kink_radius), number(entry.numeric + entry.kink_radius),
        ])),
        "kink_node": match entry.verdict {
            Verdict::Unchecked(Undecided::Kink(node)) => Some(graph.name(node).to_string()),
            _ => None,
        },
        "unchecked_because": match entry.verdict {
            Verdict::Unchecked(why) => Json::from(why.name()),
            _ => Json::Null,
        },
    })
}

pub fn blame(blame: &Blame) -> Json {
    let (kind, node, gate) = match &blame.culprit {
        Culprit::Gate { node, kind } => ("gate", Some(node.clone()), Some(kind.name())),
        Culprit::FanOut { node } => ("fan-out", Some(node.clone()), None),
        Culprit::Unlocated => ("unlocated", None, None),
    };
    json!({
        "culprit": kind,
        "node": node,
        "gate": gate,
        "text": blame.culprit.to_string(),
        "failing_gates": blame.failing_gates,
    })
}

/// A graph's report: counts, and every entry that did not pass, worst first.
pub fn report(graph: &Graph, report: &Report) -> Json {
    let failing = worst_first(
        report
            .mismatches
            .iter()
            .chain(&report.non_finite)
            .chain(&report.unchecked),
    );
    json!({
        "passed": report.passed(),
        "scalars": report.scalars,
        "mismatches": report.mismatches.len(),
        "non_finite": report.non_finite.len(),
        "unchecked": report.unchecked.len(),
        "by_forward_mode": report.by_forward_mode,
        "at_kink": report.at_kink,
        "loss_mismatch": report.loss_mismatch.map(|l| json!({
            "claimed": number(l.claimed), "computed": number(l.computed), "tolerance": number(l.tolerance),
        })),
        "failing_entries": failing.iter().map(|e| entry(graph, e)).collect::<Vec<_>>(),
    })
}

/// The `fuzz` document.
pub fn fuzz(engine: &str, config: &FuzzConfig, summary: &FuzzSummary, saved: &SavedFiles) -> Json {
    let failures: Vec<Json> = summary
        .failures
        .iter()
        .map(|f| {
            json!({
                "graph": f.index,
                "nodes": f.graph.len(),
                "saved": saved.get(&f.index).map(|s| json!({"file": s.file, "holds_graph": s.kept})),
                "report": report(&f.graph, &f.report),
                "blame": f.blame.as_ref().map(blame),
                "shrunk": f.shrunk.as_ref().map(|s| json!({
                    "nodes": s.graph.len(),
                    "largest_dim": s.graph.largest_dim(),
                    "report": report(&s.graph, &s.report),
                    "blame": blame(&s.blame),
                    "case": case::to_yaml(&f.to_case(engine, config)),
                })),
            })
        })
        .collect();
    json!({
        "command": "fuzz",
        "run": {
            "engine": engine,
            "precision": summary.precision.name(),
            "seed": config.seed,
            "graphs": match config.budget { Budget::Graphs(n) => json!(n), Budget::Time(_) => Json::Null },
            "seconds": match config.budget { Budget::Time(t) => json!(t.as_secs_f64()), Budget::Graphs(_) => Json::Null },
            "max_nodes": config.limits.max_nodes,
            "max_dim": config.limits.max_dim,
            "max_batch": config.limits.max_batch,
            "gates": summary.gates.to_string(),
            "values": config.values.name(),
            "mode": config.mode.name(),
            "shard": format!("{}/{}", config.shard.index + 1, config.shard.count),
            "rtol": config.tolerance.rtol,
            "atol": config.tolerance.atol,
        },
        "summary": {
            "graphs": summary.graphs,
            "scalars": summary.scalars,
            "failing_graphs": summary.failing_graphs,
            "mismatched_graphs": summary.mismatched_graphs,
            "mismatched_entries": summary.mismatched_entries,
            "non_finite_entries": summary.non_finite_entries,
            "unchecked_entries": summary.unchecked_entries,
            "loss_mismatches": summary.loss_mismatches,
            "unrepresentable_graphs": summary.unrepresentable_graphs,
            "by_forward_mode": summary.by_forward_mode,
            "at_kink_entries": summary.at_kink_entries,
            "unchecked_kink_entries": summary.unchecked_kink_entries,
            "directions": summary.directions,
            "largest_error": summary.closest.as_ref().map(|c| json!({
                "ratio": number(c.entry.ratio()), "entry": c.label, "graph": c.index,
            })),
            "stopped_by": summary.stopped_by.as_ref().map(|(i, e)| json!({"graph": i, "error": e.to_string()})),
            "interrupted": summary.interrupted,
            "result": if summary.stopped_by.is_some() { "stopped" } else if summary.passed() { "pass" } else { "fail" },
            "seconds": summary.elapsed.as_secs_f64(),
        },
        "failures": failures,
    })
}

/// One case of the `check` document.
pub fn checked_case(file: &str, case: &Case, engine: &str, report: &Report, met: bool) -> Json {
    json!({
        "file": file,
        "name": case.name,
        "engine": engine,
        "expect": case.expect.name(),
        "met": met,
        "report": self::report(&case.graph, report),
    })
}

/// A case `check` could not run.
/// The document of `gradfuzz check`: each case's, and the counts.
pub fn check(cases: Vec<Json>, total: usize, met: usize, unmet: usize, invalid: usize) -> Json {
    json!({
        "command": "check",
        "cases": cases,
        "summary": {"cases": total, "as_expected": met, "not_as_expected": unmet, "invalid": invalid},
    })
}

pub fn invalid_case(file: &str, error: &str) -> Json {
    json!({ "file": file, "error": error })
}

/// The `explain` document.
pub fn explain(
    graph: &Graph,
    engine: &str,
    report: &Report,
    entries: &[EntryCheck],
    blame: Option<&Blame>,
) -> Json {
    let values = graph.forward();
    let worst = worst_first(entries);
    json!({
        "command": "explain",
        "engine": engine,
        "loss": number(graph.loss(&values)),
        "nodes": graph.ids().map(|id| {
            let value = &values[id.0];
            json!({
                "node": graph.name(id),
                "value": (0..value.len()).map(|k| number(value.entry(k))).collect::<Vec<_>>(),
                "shape": graph.shape(id).to_string(),
            })
        }).collect::<Vec<_>>(),
        "entries": worst.iter().map(|e| entry(graph, e)).collect::<Vec<_>>(),
        "report": self::report(graph, report),
        "blame": blame.map(self::blame),
    })
}
