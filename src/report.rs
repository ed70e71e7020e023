//! Text rendering of reports. Everything here is deterministic (no timings), so that the same
//! seed and flags print the same report.

use crate::blame::Blame;
use crate::case;
use crate::check::{EntryCheck, Oracle, Report, Undecided, Verdict, worst_first};
use crate::fuzz::{Budget, Failure, FuzzConfig, FuzzSummary, Mode, SavedAs, SavedFiles};
use crate::gate::Value;
use crate::graph::Graph;
use crate::op::GateSet;
use std::fmt::Write;

/// At most this many entry lines per graph; the rest are counted.
pub const ENTRY_LINES: usize = 10;

/// One checked entry: where, both values, the error and how it compares with the tolerance.
pub fn entry_line(graph: &Graph, entry: &EntryCheck) -> String {
    let oracle = match entry.oracle {
        Oracle::CentralDifference => "",
        Oracle::ForwardMode => " (forward mode)",
        Oracle::PreciseForwardMode => " (forward mode, double-double)",
        Oracle::BothSidesOfKink => " (forward mode, both sides of a kink)",
    };
    let numeric = if entry.oracle == Oracle::BothSidesOfKink {
        format!(
            "any of [{:+.12e}, {:+.12e}]",
            entry.numeric - entry.kink_radius,
            entry.numeric + entry.kink_radius
        )
    } else {
        format!("{:+.12e}", entry.numeric)
    };
    let values = format!(
        "{}: analytic {:+.12e}, numeric {numeric}{oracle}",
        entry.label(graph),
        entry.analytic,
    );
    match entry.verdict {
        // No tolerance stands for an unchecked entry (an error "= inf × tolerance NaN" says
        // nothing): the reason does.
        Verdict::Unchecked(why) => format!("{values}; unchecked: {}", unchecked_why(graph, why)),
        _ => format!(
            "{values}, error {:.3e} = {} × tolerance {:.3e}",
            entry.error,
            ratio(entry.ratio()),
            entry.tolerance,
        ),
    }
}

/// Why an entry is unchecked, naming the node where the reason has one.
fn unchecked_why(graph: &Graph, why: Undecided) -> String {
    match why {
        Undecided::Kink(node) => format!(
            "(kink) the argument of `{}` is on either side of its kink, and the derivatives the sides allow could not be bounded",
            graph.name(node)
        ),
        why => why.describe(),
    }
}

/// An error ratio for people: two significant digits, `inf` when it is.
pub fn ratio(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value >= 100.0 {
        format!("{value:.3e}")
    } else {
        format!("{value:.2}")
    }
}

/// The failing entries of a graph, worst first, at most [`ENTRY_LINES`] of them.
pub fn failing_entries(graph: &Graph, report: &Report, indent: &str) -> String {
    let mut out = String::new();
    if let Some(loss) = &report.loss_mismatch {
        let _ = writeln!(
            out,
            "{indent}FORWARD MISMATCH loss: the engine says {:+.12e}, the forward pass {:+.12e}, tolerance {:.3e}",
            loss.claimed, loss.computed, loss.tolerance
        );
    }
    for entry in &report.unchecked {
        let _ = writeln!(
            out,
            "{indent}UNCHECKED {}: analytic {:+.12e}; {}",
            entry.label(graph),
            entry.analytic,
            match entry.verdict {
                Verdict::Unchecked(why) => unchecked_why(graph, why),
                _ => unreachable!("only unchecked entries are listed as such"),
            }
        );
    }
    for entry in &report.non_finite {
        let _ = writeln!(
            out,
            "{indent}NON-FINITE {}: analytic {:+.12e}, numeric {:+.12e}",
            entry.label(graph),
            entry.analytic,
            entry.numeric
        );
    }
    let worst = worst_first(&report.mismatches);
    for entry in worst.iter().take(ENTRY_LINES) {
        let _ = writeln!(out, "{indent}MISMATCH {}", entry_line(graph, entry));
    }
    if worst.len() > ENTRY_LINES {
        let _ = writeln!(
            out,
            "{indent}… and {} more mismatched entries",
            worst.len() - ENTRY_LINES
        );
    }
    out
}

/// The blame, and the other gates that failed alone.
pub fn blame_lines(blame: &Blame, indent: &str) -> String {
    let mut out = format!("{indent}blame: {}\n", blame.culprit);
    if blame.failing_gates.len() > 1 {
        out.push_str(&format!(
            "{indent}       (gates failing alone: {})\n",
            blame.failing_gates.join(", ")
        ));
    }
    out
}

/// The full account of one graph: forward values, every leaf entry worst first, the blame.
pub fn explain_text(
    graph: &Graph,
    engine: &str,
    report: &Report,
    entries: &[EntryCheck],
    blame: Option<&Blame>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "forward values");
    let values = graph.forward();
    for id in graph.ids() {
        let operation = graph.operation(id);
        let role = match (operation.leaf(), operation.kind()) {
            (Some((kind, _)), _) => kind.name(),
            (None, kind) => kind.expect("a gate").name(),
        };
        let _ = writeln!(
            out,
            "  {:<12} {:<8} {}",
            graph.name(id),
            role,
            value_text(&values[id.0])
        );
    }
    let _ = writeln!(out, "loss E = {:e}", graph.loss(&values));
    let _ = writeln!(out, "gradients (engine {engine}), worst first");
    let worst = worst_first(entries);
    for entry in worst {
        let verdict = match entry.verdict {
            Verdict::NonFinite => "NON-FINITE",
            Verdict::Mismatch => "MISMATCH",
            Verdict::Unchecked(_) => "UNCHECKED",
            Verdict::Pass => "ok",
        };
        let _ = writeln!(out, "  {verdict:<10} {}", entry_line(graph, entry));
    }
    let _ = writeln!(
        out,
        "{} scalars: {} mismatched, {} non-finite, {} unchecked; {} decided by forward mode",
        report.scalars,
        report.mismatches.len(),
        report.non_finite.len(),
        report.unchecked.len(),
        report.by_forward_mode
    );
    if report.at_kink > 0 {
        let _ = writeln!(
            out,
            "{} entries judged on both sides of a kink: any claim between the sides' derivatives passes",
            report.at_kink
        );
    }
    if let Some(blame) = blame {
        out.push_str(&blame_lines(blame, ""));
    }
    out
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Scalar(x) => format!("{x:e}"),
        Value::Vector(v) => format!(
            "[{}]",
            v.iter()
                .map(|x| format!("{x:.6e}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Matrix(m) => {
            let rows: Vec<String> = (0..m.nrows())
                .map(|i| {
                    format!(
                        "[{}]",
                        (0..m.ncols())
                            .map(|j| format!("{:.6e}", m[(i, j)]))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .collect();
            format!("[{}]", rows.join(", "))
        }
    }
}

/// What made a graph fail, naming only what did: "2 mismatched entries, 1 non-finite",
/// "the engine's loss differs from the forward pass".
pub fn what_failed(report: &Report) -> String {
    let count = |n: usize, what: &str| match n {
        0 => None,
        1 => Some(format!("1 {what} entry")),
        n => Some(format!("{n} {what} entries")),
    };
    let parts: Vec<String> = [
        count(report.mismatches.len(), "mismatched"),
        count(report.non_finite.len(), "non-finite"),
        count(report.unchecked.len(), "unchecked"),
        report
            .loss_mismatch
            .as_ref()
            .map(|_| "the engine's loss differs from the forward pass".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    parts.join(", ")
}

/// The report of a fuzz run: each failing graph kept, then the summary.
pub fn fuzz_text(engine: &str, config: &FuzzConfig, summary: &FuzzSummary) -> String {
    fuzz_text_saved(engine, config, summary, &SavedFiles::new())
}

/// [`fuzz_text`] for a run whose failures were saved (`--save`): each failing graph names
/// the file that stands for it.
pub fn fuzz_text_saved(
    engine: &str,
    config: &FuzzConfig,
    summary: &FuzzSummary,
    saved: &SavedFiles,
) -> String {
    let mut out = String::new();
    for failure in &summary.failures {
        out.push_str(&failure_text(engine, config, failure));
        match saved.get(&failure.index) {
            Some(SavedAs { file, kept }) if *kept == failure.index => {
                let _ = writeln!(out, "  saved as {file}");
            }
            Some(SavedAs { file, kept }) => {
                let _ = writeln!(
                    out,
                    "  saved as {file}, which holds graph {kept}'s case: the same blame, shrunk \
                     to the same structure (its values differ from the case above)"
                );
            }
            None => {}
        }
    }
    out.push_str(&fuzz_summary_text(engine, config, summary));
    out
}

/// One failing graph of a fuzz run: what failed, worst entries, blame, the shrunk case, and
/// the command that reproduces the graph.
pub fn failure_text(engine: &str, config: &FuzzConfig, failure: &Failure) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "graph {} ({} nodes, largest dim {}): {}",
        failure.index,
        failure.graph.len(),
        failure.graph.largest_dim(),
        what_failed(&failure.report),
    );
    out.push_str(&failing_entries(&failure.graph, &failure.report, "  "));
    if let Some(blame) = &failure.blame {
        out.push_str(&blame_lines(blame, "  "));
    }
    if let Some(shrunk) = &failure.shrunk {
        let _ = writeln!(
            out,
            "  shrunk to {} nodes, largest dim {}:",
            shrunk.graph.len(),
            shrunk.graph.largest_dim()
        );
        out.push_str(&failing_entries(&shrunk.graph, &shrunk.report, "    "));
        out.push_str(&blame_lines(&shrunk.blame, "    "));
        for line in case::to_yaml(&failure.to_case(engine, config)).lines() {
            let _ = writeln!(out, "    | {line}");
        }
    }
    let _ = writeln!(
        out,
        "  reproduce: gradfuzz gen --seed {} --index {}{} > case.yaml",
        config.seed,
        failure.index,
        crate::fuzz::generation_flags(config, failure.gates),
    );
    out
}

/// The end of a fuzz run's report: what was not kept, why it stopped, and the summary.
pub fn fuzz_summary_text(engine: &str, config: &FuzzConfig, summary: &FuzzSummary) -> String {
    let mut out = String::new();
    if summary.failing_graphs > summary.failures.len() as u64 {
        let _ = writeln!(
            out,
            "… and {} more failing graphs",
            summary.failing_graphs - summary.failures.len() as u64
        );
    }
    if let Some((index, error)) = &summary.stopped_by {
        let _ = writeln!(out, "stopped: the engine failed on graph {index}: {error}");
    }
    if summary.interrupted {
        let _ = writeln!(
            out,
            "interrupted: stopped by a signal after {} graphs; this report covers them",
            summary.graphs
        );
    }
    let mut budget = match config.budget {
        Budget::Graphs(n) => format!("{n} graphs"),
        Budget::Time(t) => format!("{} s", t.as_secs_f64()),
    };
    if config.shard.count > 1 {
        budget.push_str(&format!(
            " of shard {}/{}",
            config.shard.index + 1,
            config.shard.count
        ));
    }
    let _ = writeln!(out, "summary");
    let _ = writeln!(
        out,
        "  run:          engine {engine} in {}, seed {}, {budget}, max {} nodes, dims 1..={}, values {}, mode {}, rtol {:e}, atol {:e}",
        summary.precision,
        config.seed,
        config.limits.max_nodes,
        config.limits.max_dim,
        config.values.name(),
        config.mode.name(),
        config.tolerance.rtol,
        config.tolerance.atol
    );
    if summary.gates != GateSet::LECTURE {
        // Said only when the run went beyond the lecture, whose reports read as they did.
        let batches = if summary.gates.batches() {
            format!(", batches of 1..={} rows", config.limits.max_batch)
        } else {
            String::new()
        };
        let _ = writeln!(out, "  gates:        {}{batches}", summary.gates);
    }
    let _ = writeln!(out, "  graphs:       {}", summary.graphs);
    if config.mode == Mode::Fast {
        let _ = writeln!(
            out,
            "  directions:   {} checked; largest error {} of its tolerance where they agreed; {} graphs checked in full after a disagreement",
            summary.directions,
            ratio(summary.worst_direction),
            summary.fast_fallbacks
        );
    }
    if config.mode == Mode::Fast {
        let _ = writeln!(
            out,
            "  scalars:      {} (in the graphs checked in full)",
            summary.scalars
        );
    } else {
        let _ = writeln!(out, "  scalars:      {}", summary.scalars);
    }
    if let Some(closest) = &summary.closest {
        let _ = writeln!(
            out,
            "  largest error: {} of its tolerance ({} in graph {})",
            ratio(closest.entry.ratio()),
            closest.label,
            closest.index
        );
    }
    let _ = writeln!(
        out,
        "  mismatches:   {} entries in {} graphs",
        summary.mismatched_entries, summary.mismatched_graphs
    );
    let _ = writeln!(
        out,
        "  non-finite:   {} entries",
        summary.non_finite_entries
    );
    let _ = writeln!(out, "  unchecked:    {} entries", summary.unchecked_entries);
    let _ = writeln!(out, "  failing:      {} graphs", summary.failing_graphs);
    if summary.unrepresentable_graphs > 0 {
        let _ = writeln!(
            out,
            "  skipped:      {} generated graphs with a leaf entry {} cannot hold",
            summary.unrepresentable_graphs, summary.precision
        );
    }
    if summary.loss_mismatches > 0 {
        let _ = writeln!(
            out,
            "  forward:      {} graphs where the engine's loss differs from the forward pass",
            summary.loss_mismatches
        );
    }
    let _ = writeln!(
        out,
        "  second oracle: {} entries decided by forward mode",
        summary.by_forward_mode
    );
    if summary.at_kink_entries + summary.unchecked_kink_entries > 0 {
        let share = |n: u64| 100.0 * n as f64 / summary.scalars.max(1) as f64;
        let _ = writeln!(
            out,
            "  kinks:        {} entries ({:.3}%) judged on both sides of a kink, {} ({:.3}%) unchecked (kink)",
            summary.at_kink_entries,
            share(summary.at_kink_entries),
            summary.unchecked_kink_entries,
            share(summary.unchecked_kink_entries),
        );
    }
    let verdict = if summary.stopped_by.is_some() {
        "STOPPED"
    } else if !summary.passed() {
        "FAIL"
    } else if summary.interrupted {
        "PASS so far (interrupted)"
    } else {
        "PASS"
    };
    let _ = writeln!(out, "  result:       {verdict}");
    out
}

/// The timing line of a run (kept apart from the deterministic report): graphs and checked
/// scalars per second, and directions per second in fast mode, where few scalars are
/// checked one by one.
pub fn throughput(summary: &FuzzSummary) -> String {
    let seconds = summary.elapsed.as_secs_f64().max(1e-9);
    let rate = |count: u64| count as f64 / seconds;
    let mut line = format!(
        "time: {seconds:.2} s, {:.0} graphs/s, {:.0} scalars/s",
        rate(summary.graphs),
        rate(summary.scalars)
    );
    if summary.directions > 0 {
        line.push_str(&format!(", {:.0} directions/s", rate(summary.directions)));
    }
    line
}
