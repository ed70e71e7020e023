//! The tolerance against exact gradients (400-bit arithmetic, `examples/support/exact.rs`):
//! sound (the reference engine's real error, in every precision, stays within the bound the
//! analysis gives it, so exact gradients pass), and tight (slightly wrong gradients fail,
//! and the allowance stays within a small factor of the real error) on deep chains, wide
//! layers and extreme values that the fuzzer never draws.

#[path = "../examples/support/exact.rs"]
mod exact;
#[path = "../examples/support/families.rs"]
mod families;

use gradfuzz::case;
use gradfuzz::check::{Tolerance, Verdict, check, check_with_entries};
use gradfuzz::engine::{Claimed, Engine, Gradients, ReferenceIn, WithPrecision};
use gradfuzz::generate::{ValueMode, recipe_for};
use gradfuzz::graph::{Graph, NodeId};
use gradfuzz::op::GateSet;
use gradfuzz::oracle::forward_mode::{self, LeafTangents};
use gradfuzz::oracle::precise::PreciseValues;
use gradfuzz::precision::Precision;
use gradfuzz::recipe::{Limits, build};
use gradfuzz::tolerance::{EngineBounds, OWN_SUMMATION, SAFETY, Summation, forward_errors};
use std::path::Path;

type Exact = Vec<(NodeId, Vec<f64>)>;

/// The exact gradients, each entry times `1 + delta`, as claimed gradients.
fn claimed(graph: &Graph, exact: &Exact, delta: f64) -> Claimed {
    let values = graph.forward();
    let mut gradients = Gradients::empty(graph.len());
    for (leaf, entries) in exact {
        let mut value = values[leaf.0].clone();
        for (k, g) in entries.iter().enumerate() {
            *value.entry_mut(k) = g * (1.0 + delta);
        }
        gradients.set(*leaf, value);
    }
    Claimed(gradients)
}

/// How many entries of the exact gradients are not zero (a relative error of zero is no
/// error).
fn nonzero_entries(exact: &Exact) -> usize {
    exact
        .iter()
        .flat_map(|(_, g)| g)
        .filter(|g| **g != 0.0)
        .count()
}

/// Asserts that every entry of `reference@precision`'s gradient is within the engine bound
/// of the exact one, and returns the largest ratio of real error to bound.
fn assert_bound_holds(name: &str, graph: &Graph, precision: Precision) -> f64 {
    let rounded = graph.rounded_to(precision).expect("fits").into_owned();
    let (exact, _) = exact::gradients(&rounded);
    let ours = ReferenceIn(precision)
        .gradients(&rounded)
        .expect("never errs");
    let values = rounded.forward();
    // The reference sums each row in order, and says so.
    let mut bounds = EngineBounds::new(&rounded, &values, precision, Summation::Sequential);
    // The signed bounds where they are computed: the smaller of the two is used.
    bounds.sharpen(&rounded, &values);
    // And the signed bounds alone, wherever the graph is small enough for them, whether or
    // not the componentwise ones are loose enough to ask for them.
    let signed = gradfuzz::tolerance::signed_bounds::sharpened(
        &rounded,
        &values,
        precision,
        Summation::Sequential,
    );
    let mut worst = 0.0f64;
    for (leaf, truth) in &exact {
        let gradient = ours.get(*leaf).expect("every leaf");
        for (k, truth) in truth.iter().enumerate() {
            let error = (gradient.entry(k) - truth).abs();
            // Rounding the exact value to f64 is part of the comparison, half an ulp.
            let ulp = f64::EPSILON * truth.abs();
            let bound = bounds.entry(&values, *leaf, k) + ulp;
            assert!(
                error <= bound,
                "{name} in {precision}: {}[{k}] is off by {error:e}, beyond its bound {bound:e} (exact {truth:e})",
                rounded.node(*leaf).name
            );
            if let Some(signed) = signed.as_ref().and_then(|s| s[leaf.0].as_ref()) {
                let bound = SAFETY * signed[k] + ulp;
                assert!(
                    error <= bound,
                    "{name} in {precision}: {}[{k}] is off by {error:e}, beyond its signed bound {bound:e} (exact {truth:e})",
                    rounded.node(*leaf).name
                );
            }
            if bound > 0.0 {
                worst = worst.max(error / bound);
            }
        }
    }
    worst
}

#[test]
fn the_reference_engine_stays_within_its_bound_on_every_family_and_precision() {
    for (name, graph) in families::all() {
        for precision in [
            Precision::F64,
            Precision::F32,
            Precision::F16,
            Precision::Bf16,
            // Arithmetic that flushes subnormal results to zero, as XLA and GPUs do.
            Precision::F32.flushing_subnormals(),
            Precision::Bf16.flushing_subnormals(),
        ] {
            if graph.rounded_to(precision).is_err() {
                continue; // the family's leaves do not fit the format
            }
            assert_bound_holds(&name, &graph, precision);
        }
    }
}

#[test]
fn the_reference_engine_stays_within_its_bound_on_fuzzed_graphs() {
    let limits = Limits::default();
    let mut worst = 0.0f64;
    for values in [ValueMode::Normal, ValueMode::Wide, ValueMode::Extreme] {
        for index in 0..150 {
            let graph = build(&recipe_for(7, index, &limits, values), &limits);
            for precision in [
                Precision::F64,
                Precision::F32,
                Precision::Bf16,
                Precision::F32.flushing_subnormals(),
                Precision::Bf16.flushing_subnormals(),
            ] {
                let rounded = match graph.rounded_to(precision) {
                    Ok(rounded) => rounded.into_owned(),
                    Err(_) => continue,
                };
                // Values that overflow the narrow format leave nothing to bound.
                let bounds_finite = rounded
                    .forward()
                    .iter()
                    .all(|v| (0..v.len()).all(|k| v.entry(k).abs() < precision.max_finite() / 4.0));
                if bounds_finite {
                    let label = format!("{values:?} graph {index}");
                    worst = worst.max(assert_bound_holds(&label, &rounded, precision));
                }
            }
        }
    }
    // The bound is not vacuous: somewhere the real error comes within a factor of ten.
    assert!(worst > 0.1, "the largest error was {worst} of its bound");
}

/// Graphs of every gate (batches, broadcast biases, matrix products, transposes, reductions):
/// the reference within its bound, and within the signed bounds alone wherever those are
/// computed, in each precision; and the signed bounds computed on enough of them to be tested.
#[test]
fn the_reference_engine_stays_within_its_bound_on_fuzzed_graphs_of_every_gate() {
    let limits = Limits::default();
    let (mut worst, mut signed_graphs) = (0.0f64, 0usize);
    for values in [ValueMode::Normal, ValueMode::Wide, ValueMode::Extreme] {
        for index in 0..120 {
            let graph = gradfuzz::fuzz::graph_with(17, index, &limits, values, GateSet::all());
            for precision in [Precision::F64, Precision::F32, Precision::Bf16] {
                let Ok(rounded) = graph.rounded_to(precision) else {
                    continue;
                };
                let rounded = rounded.into_owned();
                let bounds_finite = rounded
                    .forward()
                    .iter()
                    .all(|v| (0..v.len()).all(|k| v.entry(k).abs() < precision.max_finite() / 4.0));
                if !bounds_finite {
                    continue;
                }
                let forward = rounded.forward();
                let signed = gradfuzz::tolerance::signed_bounds::sharpened(
                    &rounded,
                    &forward,
                    precision,
                    Summation::Sequential,
                );
                signed_graphs += usize::from(signed.is_some());
                let label = format!("{values:?} graph {index} of every gate");
                worst = worst.max(assert_bound_holds(&label, &rounded, precision));
            }
        }
    }
    assert!(worst > 0.1, "the largest error was {worst} of its bound");
    // Most small graphs of every gate are within the signed bounds' budget (those with `mul`
    // are not).
    eprintln!("signed bounds computed on {signed_graphs} graphs of every gate");
    assert!(
        signed_graphs >= 300,
        "signed bounds on {signed_graphs} graphs only"
    );
}

/// The median over entries of the allowance divided by the real error (at least one
/// rounding of the exact value), with the real error of the reference.
fn median_tightness(graph: &Graph, precision: Precision) -> f64 {
    let engine = ReferenceIn(precision);
    let rounded = graph.rounded_to(precision).expect("fits").into_owned();
    let (exact, _) = exact::gradients(&rounded);
    let ours = engine.gradients(&rounded).expect("never errs");
    let (_, entries) = check_with_entries(&engine, &rounded, &Tolerance::default()).expect("runs");
    let mut ratios: Vec<f64> = entries
        .iter()
        .filter_map(|entry| {
            let (_, truth) = exact.iter().find(|(l, _)| *l == entry.leaf)?;
            let truth = truth[entry.entry];
            let error = (ours.get(entry.leaf)?.entry(entry.entry) - truth).abs();
            let floor = error.max(precision.unit_roundoff() * truth.abs());
            (floor > 0.0).then(|| entry.tolerance / floor)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// Asserts [`median_tightness`] is at most `limit`, printing it.
fn assert_tightness_within(name: &str, graph: &Graph, precision: Precision, limit: f64) {
    let tightness = median_tightness(graph, precision);
    eprintln!("{name} in {precision}: median tightness {tightness:.0}");
    assert!(
        tightness <= limit,
        "{name} in {precision}: median tightness {tightness}"
    );
}

#[test]
fn exact_gradients_pass_and_gradients_wrong_by_1e_8_fail_on_chains_layers_and_extremes() {
    let families = [
        ("unit with 4,096 inputs", families::wide_unit(4096, 1)),
        ("10 sigmoid layers", families::sigmoid_chain(10, 10)),
        ("60 sigmoid layers", families::sigmoid_chain(60, 60)),
        ("500 add(x, x)", families::doubling_chain(500)),
        (
            "weights 1e-300 then 1e278",
            families::extreme_weights(1e-300, 1e278),
        ),
        ("60 tanh layers", families::tanh_chain(60, 160)),
        (
            "batch of 64×8, biases, tanh",
            families::batch_layer(64, 8, 64),
        ),
        (
            "batch of 256×16, biases, tanh",
            families::batch_layer(256, 16, 256),
        ),
        ("batch of 300×7, mse", families::batch_mse(300, 7, 300)),
        (
            "batch of 200×6, mean and sum",
            families::batch_reductions(200, 6, 200),
        ),
        (
            "batch of 128×9, products",
            families::batch_products(128, 9, 128),
        ),
        ("MLP 64×16→32→8", families::mlp(64, 16, 32, 8, 64)),
        ("MLP 1×5→3→2", families::mlp(1, 5, 3, 2, 5)),
        ("tied layers 32×8, Vᵀ", families::tied_layers(32, 8, 4, 32)),
    ];
    for (name, graph) in &families {
        let (exact, _) = exact::gradients(graph);
        let right = check(&claimed(graph, &exact, 0.0), graph, &Tolerance::default()).unwrap();
        assert!(right.passed(), "{name}: exact gradients fail: {right:?}");
        let wrong = check(&claimed(graph, &exact, 1e-8), graph, &Tolerance::default()).unwrap();
        let nonzero = nonzero_entries(&exact);
        assert_eq!(
            wrong.mismatches.len(),
            nonzero,
            "{name}: a relative error of 1e-8 is not caught everywhere"
        );
    }
}

/// ReLU away from its kink is exact in every precision (`max(0, y)` of a rounded `y`, a mask
/// times the upstream): its allowance is what the products and sums around it make. Exact
/// gradients pass, a relative 1e-8 is caught on every nonzero entry, the reference passes,
/// and the allowance stays within a thousand times the real error, on MLPs of batch 1, 8 and
/// 64 (measured: 96, 197, 676 in f64; 22, 89, 333 in f32), none of whose relu arguments lies
/// within its kink band.
#[test]
fn relu_mlps_are_checked_tightly_against_exact_gradients() {
    let families = [
        ("relu MLP 1×5→3→2", families::relu_mlp(1, 5, 3, 2, 5)),
        ("relu MLP 8×8→16→4", families::relu_mlp(8, 8, 16, 4, 8)),
        ("relu MLP 64×16→32→8", families::relu_mlp(64, 16, 32, 8, 64)),
    ];
    for (name, graph) in &families {
        let (exact, _) = exact::gradients(graph);
        let right = check(&claimed(graph, &exact, 0.0), graph, &Tolerance::default()).unwrap();
        assert!(right.passed(), "{name}: exact gradients fail: {right:?}");
        assert_eq!(right.at_kink, 0, "{name}: an argument is near its kink");
        let reference = check(&gradfuzz::Reference, graph, &Tolerance::default()).unwrap();
        assert!(
            reference.passed(),
            "{name}: the reference fails: {reference:?}"
        );
        let wrong = check(&claimed(graph, &exact, 1e-8), graph, &Tolerance::default()).unwrap();
        let nonzero = nonzero_entries(&exact);
        assert!(nonzero > 0, "{name}: every unit is off");
        assert_eq!(
            wrong.mismatches.len(),
            nonzero,
            "{name}: a relative error of 1e-8 is not caught everywhere"
        );
        for precision in [Precision::F64, Precision::F32] {
            assert_tightness_within(name, graph, precision, 1000.0);
        }
    }
}

/// A deep relu chain of matrix products: sound (exact gradients and the reference pass, no
/// argument near its kink), but loose: beyond the signed bounds' budget, its componentwise
/// bounds compound through `|W|`: of 952
/// nonzero entries, a relative 1e-8 was caught on 147, 1e-6 on 360, 1e-4 on 718, 1e-2 on 936
/// when measured (the last 16 are gradients far smaller than the sums they come from). What
/// this test holds is that looseness as a floor, so that a change that makes it worse shows.
#[test]
fn a_deep_relu_chain_is_sound_and_its_looseness_is_measured() {
    let graph = families::relu_chain(24, 16, 8, 24);
    let (exact, _) = exact::gradients(&graph);
    let right = check(&claimed(&graph, &exact, 0.0), &graph, &Tolerance::default()).unwrap();
    assert!(right.passed(), "exact gradients fail: {right:?}");
    assert_eq!(right.at_kink, 0, "an argument is near its kink");
    let reference = check(&gradfuzz::Reference, &graph, &Tolerance::default()).unwrap();
    assert!(reference.passed(), "the reference fails: {reference:?}");
    let nonzero = nonzero_entries(&exact);
    for (delta, floor) in [(1e-8, 140), (1e-6, 350), (1e-4, 700), (1e-2, 930)] {
        let wrong = check(
            &claimed(&graph, &exact, delta),
            &graph,
            &Tolerance::default(),
        )
        .unwrap();
        let caught = wrong.mismatches.len();
        eprintln!(
            "24 relu layers: a relative {delta:e} caught on {caught} of {nonzero} nonzero entries"
        );
        assert!(
            caught >= floor,
            "{delta:e}: caught on {caught}, fewer than {floor}"
        );
    }
    let tightness = median_tightness(&graph, Precision::F64);
    eprintln!("24 relu layers in f64: median tightness {tightness:.0}");
    assert!(tightness.is_finite());
}

/// Where tanh saturates (|s| ≥ 19.5 here) the rule from the output, `g·(1 − o²)`, loses its
/// every digit in `f64` (`o` rounds to ±1, and the exact slope, below 1e-16, is smaller than
/// the rounding of `o²`): an engine that follows it must pass there, exact gradients too, and
/// a 1e-8 error cannot be told apart. Where tanh is linear (0, ±1e-200, a subnormal), it must.
#[test]
fn tanh_passes_exact_and_saturated_gradients_and_catches_1e_8_where_it_is_linear() {
    let graph = families::tanh_extremes();
    let (exact, _) = exact::gradients(&graph);
    let right = check(&claimed(&graph, &exact, 0.0), &graph, &Tolerance::default()).unwrap();
    assert!(right.passed(), "exact gradients fail: {right:?}");
    let reference = check(&gradfuzz::Reference, &graph, &Tolerance::default()).unwrap();
    assert!(reference.passed(), "the reference fails: {reference:?}");
    let wrong = check(
        &claimed(&graph, &exact, 1e-8),
        &graph,
        &Tolerance::default(),
    )
    .unwrap();
    let caught: Vec<usize> = wrong.mismatches.iter().map(|m| m.entry).collect();
    for linear in 4..8 {
        assert!(
            caught.contains(&linear),
            "X[0,{linear}] not caught: {caught:?}"
        );
    }
}

#[test]
fn the_allowance_stays_within_a_thousand_times_the_real_error_on_deep_chains() {
    // Measured: 173, 172, 178, 844 (f64) and 76, 197, 129, 135 (f32) for 10 to 60 layers;
    // 114 for the extreme weights; 16 for the doublings.
    for depth in [10, 20, 30, 60] {
        let graph = families::sigmoid_chain(depth, depth as u64);
        for precision in [Precision::F64, Precision::F32] {
            let tightness = median_tightness(&graph, precision);
            assert!(
                tightness <= 1000.0,
                "{depth} layers in {precision}: median tightness {tightness}"
            );
        }
    }
    let extreme = families::extreme_weights(1e-300, 1e278);
    assert!(median_tightness(&extreme, Precision::F64) <= 1000.0);
    // tanh and batches with broadcast biases (SPEC §7).
    for (name, graph) in [
        ("10 tanh layers", families::tanh_chain(10, 110)),
        ("batch of 64×8", families::batch_layer(64, 8, 64)),
        ("batch of 256×16", families::batch_layer(256, 16, 256)),
        ("batch of 300×7, mse", families::batch_mse(300, 7, 300)),
        (
            "batch of 200×6, mean and sum",
            families::batch_reductions(200, 6, 200),
        ),
        (
            "batch of 128×9, products",
            families::batch_products(128, 9, 128),
        ),
    ] {
        for precision in [Precision::F64, Precision::F32] {
            assert_tightness_within(name, &graph, precision, 1000.0);
        }
    }
    // 60 tanh layers: tanh's slope is 1 near 0 where σ's is ¼, so nothing damps the
    // allowance of each layer's tanh (an engine's within 3 ulp) on its way down; measured
    // 1,158 in f64 (60 sigmoid layers: 844).
    let tanh_60 = median_tightness(&families::tanh_chain(60, 160), Precision::F64);
    assert!(
        tanh_60 <= 1500.0,
        "60 tanh layers: median tightness {tanh_60}"
    );
    // Products of matrices (SPEC §7): a two-layer perceptron on batches of 1, 8, 64 and 256,
    // one weight in two layers with a product by a transpose, a chain of products. Measured
    // (f64 / f32): 138 / 43, 302 / 151, 1,102 / 596, 3,025 / 1,814, 982 / 619, and 192 / 60
    // for the chain (6.2e6 / 1.5e6 with the componentwise bounds alone, which compound
    // through |W|: the signed bounds take matrix products since they follow each error's
    // sign through W itself). The aim is 1,000 everywhere; the componentwise bounds miss it
    // on wide batches (each sum over 64 or 256 rows of mixed signs is bounded as if none
    // cancelled, and in f64 the oracles' own f64 bounds, as loose, are half the allowance),
    // which are beyond the signed bounds' budget. The limits hold the figures measured, with
    // a margin, so that a looser bound fails here.
    for (name, graph, [f64_limit, f32_limit]) in [
        (
            "MLP 1×5→3→2",
            families::mlp(1, 5, 3, 2, 5),
            [1000.0, 1000.0],
        ),
        (
            "MLP 8×8→16→4",
            families::mlp(8, 8, 16, 4, 8),
            [1000.0, 1000.0],
        ),
        (
            "MLP 64×16→32→8",
            families::mlp(64, 16, 32, 8, 64),
            [1500.0, 1000.0],
        ),
        (
            "MLP 256×64→64→10",
            families::mlp(256, 64, 64, 10, 256),
            [4000.0, 2500.0],
        ),
        (
            "tied layers 32×8, Vᵀ",
            families::tied_layers(32, 8, 4, 32),
            [1300.0, 1000.0],
        ),
        (
            "20 matmuls of 4×4",
            families::matmul_chain(20, 4, 20),
            [1000.0, 1000.0],
        ),
    ] {
        for (precision, limit) in [(Precision::F64, f64_limit), (Precision::F32, f32_limit)] {
            assert_tightness_within(name, &graph, precision, limit);
        }
    }
    // x + x is exact: the 500 doublings cost the allowance nothing (measured: 12; 16 before the oracles took the running bound of their own loss sum).
    assert!(median_tightness(&families::doubling_chain(500), Precision::F64) <= 100.0);
}

/// Asserts that the third oracle (forward mode in double-double) is within its own error
/// bound of the exact gradient at every entry, and returns the largest bound relative to
/// the gradient.
fn assert_precise_oracle_holds(name: &str, graph: &Graph) -> f64 {
    let (exact, _) = exact::gradients(graph);
    let values = graph.forward();
    let precise = PreciseValues::new(graph, &values);
    let mut widest = 0.0f64;
    for (leaf, truth) in &exact {
        for (k, truth) in truth.iter().enumerate() {
            let (derivative, bound) = precise.derivative(graph, &values, *leaf, k);
            // Rounding the exact value to f64 is part of the comparison, half an ulp.
            let allowed = bound + f64::EPSILON / 2.0 * truth.abs();
            assert!(
                (derivative - truth).abs() <= allowed,
                "{name}: {}[{k}]: {derivative:e} against exact {truth:e}, bound {bound:e}",
                graph.node(*leaf).name
            );
            if *truth != 0.0 {
                widest = widest.max(bound / truth.abs());
            }
        }
    }
    widest
}

#[test]
fn the_double_double_oracle_stays_within_its_bound_and_far_below_f64_round_off() {
    for (name, graph) in families::all() {
        let widest = assert_precise_oracle_holds(&name, &graph);
        // Half an ulp from the last rounding, plus what compounds: the chains of matvecs
        // have ill-conditioned entries, where it is larger.
        if !name.contains("matvecs") && !name.contains("bench") {
            assert!(
                widest < 1e-15,
                "{name}: a bound of {widest:e} of the gradient"
            );
        }
    }
    let limits = Limits {
        max_nodes: 30,
        max_dim: 5,
        ..Limits::default()
    };
    for values in [ValueMode::Normal, ValueMode::Wide, ValueMode::Extreme] {
        for index in 0..100 {
            let graph = build(&recipe_for(9, index, &limits, values), &limits);
            if graph.forward().iter().all(|v| v.is_finite()) {
                assert_precise_oracle_holds(&format!("{values:?} graph {index}"), &graph);
            }
        }
    }
}

/// Forward mode shared over a leaf's entries (`LeafTangents`, what the check uses) gives the
/// derivative of forward mode entry by entry, with a bound no larger, and within that bound
/// (and the check's safety factor) of the exact gradient. Returns how many entries it saw.
fn assert_shared_forward_mode_holds(name: &str, graph: &Graph) -> usize {
    let (exact, _) = exact::gradients(graph);
    let values = graph.forward();
    let errors = forward_errors(graph, &values, Precision::F64, OWN_SUMMATION);
    let mut seen = 0;
    for (leaf, truth) in &exact {
        let shared = LeafTangents::new(graph, &values, &errors, *leaf);
        for (k, truth) in truth.iter().enumerate() {
            let (derivative, bound) = shared.derivative(k);
            let (alone, alone_bound) =
                forward_mode::derivative_with(graph, &values, &errors, *leaf, k);
            let at = format!("{name}: {}[{k}]", graph.node(*leaf).name);
            assert!(
                derivative == alone || (derivative.is_nan() && alone.is_nan()),
                "{at}: {derivative:e} shared, {alone:e} entry by entry"
            );
            assert!(
                bound <= alone_bound,
                "{at}: bound {bound:e} above {alone_bound:e}"
            );
            if derivative.is_finite() && bound.is_finite() {
                let allowed = SAFETY * bound + f64::EPSILON / 2.0 * truth.abs();
                assert!(
                    (derivative - truth).abs() <= allowed,
                    "{at}: {derivative:e} against exact {truth:e}, bound {bound:e}"
                );
            }
            seen += 1;
        }
    }
    seen
}

#[test]
fn forward_mode_shared_over_a_leaf_matches_it_entry_by_entry_and_holds_its_bound() {
    let mut seen = 0;
    for (name, graph) in families::all() {
        if !name.contains("bench") {
            seen += assert_shared_forward_mode_holds(&name, &graph);
        }
    }
    // Weight tying, fan-out into both operands of an add and of an sqerr, and a weight
    // used twice in one chain: the shapes where reached tangents merge.
    let tied = "nodes:\n  x: {input: [0.5, -1.0]}\n  W: {weight: [[0.3, -0.7], [1.1, 0.2]]}\n  s: {matvec: [W, x]}\n  o: {sigmoid: s}\n  u: {matvec: [W, o]}\n  a: {add: [u, o]}\n  d: {add: [a, a]}\n  E: {sqerr: [d, u]}\n";
    let tied = case::parse(tied.as_bytes(), "tied.yaml", "tied", &Default::default())
        .expect("valid")
        .graph;
    seen += assert_shared_forward_mode_holds("tied", &tied);
    let limits = Limits {
        max_nodes: 30,
        max_dim: 5,
        ..Limits::default()
    };
    for values in [ValueMode::Normal, ValueMode::Wide, ValueMode::Extreme] {
        for index in 0..100 {
            let graph = build(&recipe_for(13, index, &limits, values), &limits);
            seen += assert_shared_forward_mode_holds(&format!("{values:?} graph {index}"), &graph);
        }
    }
    assert!(seen > 10_000, "only {seen} entries");
}

#[test]
fn chains_of_matvecs_are_checked_to_a_few_hundred_units_of_round_off() {
    // Componentwise bounds compound like |W|^40 here (median tightness 4e11 before the
    // signed bounds); measured: 92 for 40 layers of 3×3. The other chains were not tuned.
    for (depth, dim, seed) in [(40, 3, 40), (25, 5, 7), (60, 2, 11)] {
        let graph = families::matvec_chain(depth, dim, seed);
        let name = format!("{depth} matvecs of {dim}×{dim}");
        for precision in [Precision::F64, Precision::F32] {
            let tightness = median_tightness(&graph, precision);
            assert!(
                tightness <= 1000.0,
                "{name} in {precision}: median tightness {tightness}"
            );
        }
        let (exact, _) = exact::gradients(&graph);
        let right = check(&claimed(&graph, &exact, 0.0), &graph, &Tolerance::default()).unwrap();
        assert!(right.passed(), "{name}: exact gradients fail: {right:?}");
        let wrong = check(
            &claimed(&graph, &exact, 1e-8),
            &graph,
            &Tolerance::default(),
        )
        .unwrap();
        let entries: usize = exact.iter().map(|(_, g)| g.len()).sum();
        assert!(
            wrong.mismatches.len() * 100 >= entries * 99,
            "{name}: a relative error of 1e-8 caught in {} of {entries} entries",
            wrong.mismatches.len()
        );
    }
}

#[test]
fn an_engine_that_sums_each_row_in_order_gets_the_running_bound_of_that_order() {
    // A sum of 4,096 terms: γ(n)·Σ|terms| holds for any order, but is about √n times the
    // running bound u·Σ|partial sums| of the reference's order. Measured: 527 (f64) and 546
    // (f32), against 29,670 and 33,264 for an engine that does not say how it sums.
    let graph = families::wide_unit(4096, 1);
    for precision in [Precision::F64, Precision::F32] {
        let tightness = median_tightness(&graph, precision);
        assert!(
            tightness <= 1000.0,
            "in {precision}: median tightness {tightness}"
        );
    }
    let median_allowance = |engine: &dyn Engine| {
        let (_, entries) = check_with_entries(engine, &graph, &Tolerance::default()).unwrap();
        let mut allowances: Vec<f64> = entries.iter().map(|e| e.tolerance).collect();
        allowances.sort_by(f64::total_cmp);
        allowances[allowances.len() / 2]
    };
    let (exact, _) = exact::gradients(&graph);
    let any_order = median_allowance(&claimed(&graph, &exact, 0.0));
    let in_order = median_allowance(&ReferenceIn(Precision::F64));
    assert!(
        any_order > 20.0 * in_order,
        "any order {any_order:e}, in order {in_order:e}"
    );
}

#[test]
fn a_relative_error_of_1e_4_is_caught_in_f32_on_deep_chains() {
    for depth in [10, 30] {
        let graph = families::sigmoid_chain(depth, depth as u64);
        let rounded = graph.rounded_to(Precision::F32).unwrap().into_owned();
        let (exact, _) = exact::gradients(&rounded);
        let in_f32 = |claimed: &Claimed| {
            let engine = WithPrecision {
                engine: claimed,
                precision: Precision::F32,
            };
            check(&engine, &rounded, &Tolerance::default()).unwrap()
        };
        assert!(in_f32(&claimed(&rounded, &exact, 0.0)).passed());
        let wrong = in_f32(&claimed(&rounded, &exact, 1e-4));
        assert_eq!(wrong.mismatches.len(), depth + 1, "{depth} layers");
    }
}

/// The bench network with every gradient wrong by a relative 1e-9: at least 99% of its
/// entries are flagged (all 5,184 when measured).
#[test]
fn a_relative_error_of_1e_9_is_flagged_on_the_bench_network() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/bench/net-64-64-16.yaml");
    let graph = case::load(&path).unwrap().graph;
    let engine = gradfuzz::engine::by_name("mutant:scale=1e-9").unwrap();
    let report = check(engine.as_ref(), &graph, &Tolerance::default()).unwrap();
    assert!(
        report.mismatches.len() * 100 >= report.scalars * 99,
        "{} of {} flagged",
        report.mismatches.len(),
        report.scalars
    );
}

/// Where forward values underflow, an exact gradient is never a mismatch: it passes within
/// what a double can hold, or is unchecked, saying why.
#[test]
fn exact_gradients_through_underflowed_values_are_never_mismatches() {
    let graphs = [
        // σ(−800) is 0 in f64; a weight of 1e300 after it brings the gradient back to 1e-48.
        "nodes:\n  x: {input: [-800.0]}\n  o: {sigmoid: x}\n  W: {weight: [[1.0e300]]}\n  s: {matvec: [W, o]}\n  t: {target: [1.0]}\n  E: {sqerr: [s, t]}\n",
        // A product of 1.6e-320, a subnormal with a few digits.
        "nodes:\n  x: {input: [4.0e-161]}\n  W: {weight: [[4.0e-160]]}\n  s: {matvec: [W, x]}\n  V: {weight: [[1.0e300]]}\n  u: {matvec: [V, s]}\n  t: {target: [0.5]}\n  E: {sqerr: [u, t]}\n",
    ];
    for yaml in graphs {
        let graph = case::parse(yaml.as_bytes(), "u.yaml", "u", &Default::default())
            .unwrap()
            .graph;
        let (exact, _) = exact::gradients(&graph);
        let report = check(&claimed(&graph, &exact, 0.0), &graph, &Tolerance::default()).unwrap();
        assert!(report.mismatches.is_empty(), "{yaml}: {report:?}");
        assert!(report.non_finite.is_empty(), "{yaml}: {report:?}");
        for entry in &report.unchecked {
            assert!(
                matches!(entry.verdict, Verdict::Unchecked(_)),
                "{yaml}: {entry:?}"
            );
        }
    }
}

#[test]
fn exact_gradients_keep_a_saturated_sigmoid_slope() {
    // dE/dx for E = ½σ(x)² is σ(x)²σ(−x) ≈ e^−x at large x. Taken as o(1 − o) in 400 bits,
    // the slope was lost beyond x = 277 and the "exact" gradient was zero (a fuzzed graph
    // with a slope of e^−393 showed it).
    for x in [300.0f64, 400.0, 700.0] {
        let yaml = format!(
            "nodes:\n  x: {{input: [{x:?}]}}\n  o: {{sigmoid: x}}\n  t: {{target: [0.0]}}\n  E: {{sqerr: [o, t]}}\n"
        );
        let graph = case::parse(yaml.as_bytes(), "s.yaml", "s", &Default::default())
            .expect("valid")
            .graph;
        let (exact, _) = exact::gradients(&graph);
        let gradient = exact[0].1[0];
        let expected = (-x).exp();
        assert!(
            ((gradient - expected) / expected).abs() < 1e-12,
            "x = {x}: {gradient:e}, expected {expected:e}"
        );
    }
}
