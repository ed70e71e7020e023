//! How tight the tolerance is, measured against exact gradients (400-bit arithmetic):
//! for each graph family and precision, the reference engine's real error, the allowance
//! divided by it (the *tightness*), the smallest relative error the check catches, and
//! whether exact gradients pass and slightly wrong ones fail.
//!
//! `cargo run --release --example tightness` prints the README's table;
//! `-- --precision f32` (or f16, bf16) measures that precision only, `-- --graph NAME` the
//! families whose name contains NAME.

#[path = "support/exact.rs"]
mod exact;
#[path = "support/families.rs"]
mod families;

use gradfuzz::case;
use gradfuzz::check::{Tolerance, Verdict, check, check_with_entries};
use gradfuzz::engine::{Claimed, Engine, Gradients, ReferenceIn, WithPrecision};
use gradfuzz::graph::Graph;
use gradfuzz::precision::{ALL, Precision};
use std::path::Path;

/// What one family measured at one precision.
struct Row {
    entries: usize,
    worst_real_error: f64,
    median_tightness: f64,
    worst_tightness: f64,
    median_caught: f64,
    caught_at: (f64, usize, usize),
    exact_verdict: String,
    reference_verdict: String,
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The exact gradients as claimed gradients, each entry times `1 + delta`.
fn claimed(graph: &Graph, exact: &[(gradfuzz::graph::NodeId, Vec<f64>)], delta: f64) -> Claimed {
    let mut gradients = Gradients::empty(graph.len());
    let values = graph.forward();
    for (leaf, entries) in exact {
        let mut value = values[leaf.0].clone();
        for (k, g) in entries.iter().enumerate() {
            *value.entry_mut(k) = g * (1.0 + delta);
        }
        gradients.set(*leaf, value);
    }
    Claimed(gradients)
}

fn verdict(engine: &dyn Engine, graph: &Graph) -> String {
    let report = check(engine, graph, &Tolerance::default()).expect("runs");
    if report.passed() {
        "pass".into()
    } else {
        format!(
            "{} mismatched, {} unchecked",
            report.mismatches.len(),
            report.unchecked.len()
        )
    }
}

fn measure(graph: &Graph, precision: Precision, delta: f64) -> Row {
    let engine = ReferenceIn(precision);
    let rounded = graph.rounded_to(precision).expect("fits").into_owned();
    let (exact, _) = exact::gradients(&rounded);
    let analytic = engine
        .gradients(&rounded)
        .expect("the reference never errs");
    let (_, entries) = check_with_entries(&engine, &rounded, &Tolerance::default()).expect("runs");
    let u = precision.unit_roundoff();
    let (mut tightness, mut caught) = (Vec::new(), Vec::new());
    let mut worst_real_error = 0.0f64;
    for entry in &entries {
        let (_, truth) = exact
            .iter()
            .find(|(l, _)| *l == entry.leaf)
            .expect("every leaf");
        let truth = truth[entry.entry];
        let ours = analytic
            .get(entry.leaf)
            .expect("every leaf")
            .entry(entry.entry);
        let error = (ours - truth).abs();
        if truth != 0.0 {
            worst_real_error = worst_real_error.max(error / truth.abs());
            caught.push(entry.tolerance / truth.abs());
        }
        let floor = error.max(u * truth.abs());
        if floor > 0.0 && matches!(entry.verdict, Verdict::Pass) {
            tightness.push(entry.tolerance / floor);
        }
    }
    fn in_precision(claimed: &Claimed, precision: Precision) -> WithPrecision<&Claimed> {
        WithPrecision {
            engine: claimed,
            precision,
        }
    }
    let exact_claimed = claimed(&rounded, &exact, 0.0);
    let wrong = claimed(&rounded, &exact, delta);
    let wrong_report = check(
        &in_precision(&wrong, precision),
        &rounded,
        &Tolerance::default(),
    )
    .expect("runs");
    let nonzero = exact
        .iter()
        .flat_map(|(_, g)| g)
        .filter(|g| **g != 0.0)
        .count();
    Row {
        entries: entries.len(),
        worst_real_error,
        median_tightness: median(tightness.clone()),
        worst_tightness: tightness.iter().copied().fold(0.0, f64::max),
        median_caught: median(caught),
        caught_at: (delta, wrong_report.mismatches.len(), nonzero),
        exact_verdict: verdict(&in_precision(&exact_claimed, precision), &rounded),
        reference_verdict: verdict(&engine, &rounded),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let precisions: Vec<Precision> = match args.iter().position(|a| a == "--precision") {
        Some(i) => vec![args[i + 1].parse().expect("a precision")],
        None => vec![Precision::F64, Precision::F32],
    };
    let only = args
        .iter()
        .position(|a| a == "--graph")
        .map(|i| args[i + 1].clone());
    let mut graphs = families::all();
    for bench in ["net-64-64-16", "net-256-256-16"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("cases/bench/{bench}.yaml"));
        graphs.push((
            format!("bench {bench}"),
            case::load(&path).expect("bench case").graph,
        ));
    }
    println!(
        "| graph | precision | entries | reference's worst relative error | median tightness | worst tightness | median smallest relative error caught | exact×(1+δ) flagged | exact gradients | reference |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for precision in precisions {
        assert!(ALL.contains(&precision));
        for (name, graph) in &graphs {
            if only
                .as_ref()
                .is_some_and(|only| !name.contains(only.as_str()))
            {
                continue;
            }
            let delta = match precision {
                Precision::F64 if name.starts_with("bench") => 1e-9,
                Precision::F64 => 1e-8,
                Precision::F32 => 1e-4,
                _ => 1e-1, // f16 and bf16 (ALL, asserted above, holds no flushing format)
            };
            if let Err(e) = graph.rounded_to(precision) {
                println!("| {name} | {precision} | does not fit: {} |", e.message);
                continue;
            }
            let row = measure(graph, precision, delta);
            let (delta, flagged, nonzero) = row.caught_at;
            println!(
                "| {name} | {precision} | {} | {:.1e} | {:.0} | {:.0} | {:.1e} | δ = {delta:e}: {flagged} of {nonzero} | {} | {} |",
                row.entries,
                row.worst_real_error,
                row.median_tightness,
                row.worst_tightness,
                row.median_caught,
                row.exact_verdict,
                row.reference_verdict,
            );
        }
    }
}
