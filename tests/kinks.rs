//! ReLU's kink at 0 (SPEC §7, "Kinks"): engines that take 0, ½ or 1 there are never a false
//! alarm, on random graphs in every value mode and on cases whose every relu argument is
//! exactly 0; a claim outside what the sides of the kinks allow is still a mismatch, and the
//! rules that are wrong away from the kink are caught.

use gradfuzz::case;
use gradfuzz::check::{Oracle, Tolerance, Verdict, check, check_with_entries};
use gradfuzz::engine::{self, Claimed, Engine, Gradients};
use gradfuzz::fuzz::{Budget, FuzzConfig, fuzz};
use gradfuzz::generate::ValueMode;
use gradfuzz::graph::Graph;
use gradfuzz::op::{GateKind, GateSet};
use std::path::{Path, PathBuf};

/// The three conventions at 0: the reference's 0, ½ and 1.
const CONVENTIONS: [&str; 3] = [
    "reference",
    "mutant:relu-at-zero=0.5",
    "mutant:relu-at-zero=1",
];

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn kink_cases() -> Vec<(String, Graph)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(manifest("cases/kinks"))
        .expect("cases/kinks")
        .map(|entry| entry.expect("readable").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 3, "cases/kinks holds {} cases", paths.len());
    paths
        .into_iter()
        .map(|path| {
            let case = case::load(&path).unwrap_or_else(|e| panic!("{e}"));
            (path.display().to_string(), case.graph)
        })
        .collect()
}

#[test]
fn every_convention_at_zero_passes_random_graphs_with_relu_in_every_value_mode() {
    for name in CONVENTIONS {
        let engine = engine::by_name(name).expect("a valid engine");
        let mut kinks_met = 0;
        for values in [ValueMode::Normal, ValueMode::Wide, ValueMode::Extreme] {
            let config = FuzzConfig {
                seed: 11,
                budget: Budget::Graphs(1500),
                values,
                ops: GateSet::all(),
                keep_failures: 1,
                jobs: 2,
                ..FuzzConfig::default()
            };
            assert!(config.gates_for(engine.as_ref()).contains(GateKind::Relu));
            let summary = fuzz(engine.as_ref(), &config);
            assert!(
                summary.passed(),
                "{name}, {values:?}: {:?}",
                summary.failures.first().map(|f| &f.report)
            );
            assert_eq!(summary.unchecked_kink_entries, 0, "{name}, {values:?}");
            kinks_met += summary.at_kink_entries;
        }
        // The runs met kinks (extreme values make exact zeros): the verdict was exercised.
        assert!(kinks_met > 0, "{name}: no entry was judged at a kink");
    }
}

#[test]
fn every_convention_passes_the_cases_whose_relu_arguments_are_exactly_zero() {
    for (path, graph) in kink_cases() {
        for name in CONVENTIONS {
            let engine = engine::by_name(name).expect("a valid engine");
            let report = check(engine.as_ref(), &graph, &Tolerance::default()).expect("runs");
            assert!(report.passed(), "{name} on {path}: {report:?}");
            assert!(
                report.at_kink > 0 || report.by_forward_mode < report.scalars,
                "{name} on {path}: no entry was judged at a kink"
            );
        }
    }
}

/// `relu(x) − relu(−x)` at `x = 0`, under `½(s + 3)²`: the sides of the two kinks allow
/// `3·(c₁ + c₂)` for slopes `c₁, c₂` in `[0, 1]`, so every claim in `[0, 6]` passes (the
/// function's own slope, 3, among them) and any claim outside it is a mismatch.
#[test]
fn a_claim_outside_what_the_sides_of_the_kinks_allow_is_a_mismatch() {
    let graph = case::load(&manifest("cases/kinks/relu-odd-sum.yaml"))
        .expect("valid")
        .graph;
    let x = graph.find("x").expect("named");
    let with_claim = |claim: f64| {
        let mut gradients = Gradients::empty(graph.len());
        for leaf in graph.differentiable_leaves() {
            let value = graph.forward()[leaf.0].clone();
            let mut zero = value.clone();
            for k in 0..zero.len() {
                *zero.entry_mut(k) = 0.0;
            }
            gradients.set(leaf, zero);
        }
        let mut value = gradients.get(x).expect("set").clone();
        *value.entry_mut(0) = claim;
        gradients.set(x, value);
        let (_, entries) =
            check_with_entries(&Claimed(gradients), &graph, &Tolerance::default()).expect("runs");
        entries
            .into_iter()
            .find(|e| e.leaf == x)
            .expect("x is checked")
    };
    for inside in [0.0, 1.5, 3.0, 6.0] {
        let entry = with_claim(inside);
        assert_eq!(entry.verdict, Verdict::Pass, "claim {inside}: {entry:?}");
    }
    for outside in [-0.01, 6.01, 12.0] {
        let entry = with_claim(outside);
        assert_eq!(
            (entry.verdict, entry.oracle),
            (Verdict::Mismatch, Oracle::BothSidesOfKink),
            "claim {outside}: {entry:?}"
        );
    }
    // The interval reported is the exact one, to round-off.
    let entry = with_claim(0.0);
    let (low, high) = (
        entry.numeric - entry.kink_radius,
        entry.numeric + entry.kink_radius,
    );
    assert!(
        low.abs() < 1e-14 && (high - 6.0).abs() < 1e-14,
        "[{low}, {high}]"
    );
}

#[test]
fn the_rules_wrong_away_from_the_kink_are_caught_where_an_argument_is_clear_of_it() {
    let graph = case::load(&manifest("cases/kinks/relu-chain-at-zero.yaml"))
        .expect("valid")
        .graph;
    let engine = engine::by_name("mutant:relu-no-mask").expect("catalogued");
    let report = check(engine.as_ref(), &graph, &Tolerance::default()).expect("runs");
    // x[3] = −2: its gradient is 0, the mutant passes the upstream through.
    let labels: Vec<String> = report.mismatches.iter().map(|m| m.label(&graph)).collect();
    assert_eq!(labels, ["x[3]"], "{report:?}");
}

/// The bench network with ReLU for its sigmoids, every gradient wrong by a relative 1e-9:
/// at least 99% of its entries are flagged.
#[test]
fn a_relative_error_of_1e_9_is_flagged_on_a_relu_version_of_the_bench_network() {
    let text = std::fs::read_to_string(manifest("cases/bench/net-64-64-16.yaml"))
        .expect("the bench network");
    let relu = text.replace("sigmoid:", "relu:");
    assert_ne!(relu, text);
    let graph = case::parse(
        relu.as_bytes(),
        "net-64-64-16 with relu",
        "relu-net",
        &case::SizeLimits::default(),
    )
    .expect("valid")
    .graph;
    let scaled = engine::by_name("mutant:scale=1e-9").expect("valid");
    let report = check(scaled.as_ref(), &graph, &Tolerance::default()).expect("runs");
    // A gradient entry of exactly 0 (a unit off for every example) stays 0 when scaled.
    let gradients = engine::Reference.gradients(&graph).expect("never errs");
    let nonzero = graph
        .differentiable_leaves()
        .map(|leaf| {
            let g = gradients.get(leaf).expect("every leaf");
            (0..g.len()).filter(|&k| g.entry(k) != 0.0).count()
        })
        .sum::<usize>();
    eprintln!(
        "relu bench network: {} of {} entries flagged ({} nonzero)",
        report.mismatches.len(),
        report.scalars,
        nonzero
    );
    assert!(
        report.mismatches.len() * 100 >= nonzero * 99,
        "{} of {} nonzero entries flagged",
        report.mismatches.len(),
        nonzero
    );
    let reference = check(&engine::Reference, &graph, &Tolerance::default()).expect("runs");
    assert!(reference.passed(), "{reference:?}");
}
