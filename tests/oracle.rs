//! The oracles against closed forms, the tolerance model's two numbers (the smallest bug it
//! catches, how often it cries wolf), and the outcomes that are neither pass nor mismatch.

use gradfuzz::case::{self, SizeLimits};
use gradfuzz::check::{Tolerance, check};
use gradfuzz::engine::{self, Engine, EngineError, Gradients, Reference};
use gradfuzz::fuzz::{Budget, FuzzConfig, fuzz};
use gradfuzz::generate::ValueMode;
use gradfuzz::graph::Graph;
use gradfuzz::oracle::{finite_differences, forward_mode};
use std::path::Path;

fn seed_case(name: &str) -> case::Case {
    case::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("cases/seed/{name}.yaml")))
        .expect("seed case")
}

/// Both oracles reproduce the lecture's closed-form gradients of the two-layer network to
/// within a few units of round-off (the closed forms are computed in `tests/seed_cases.rs`).
#[test]
fn both_oracles_match_the_closed_form_to_round_off() {
    for name in ["two-layer", "matvec", "sigmoid", "add-fanout", "sqerr"] {
        let case = seed_case(name);
        let closed_form = case.gradients.as_ref().expect("seed gradients");
        let values = case.graph.forward();
        for (leaf, estimates) in finite_differences(&case.graph, &values).by_leaf {
            let exact = closed_form.get(leaf).expect("every leaf");
            for (entry, estimate) in estimates.iter().enumerate() {
                let truth = exact.entry(entry);
                let scale = estimate.error.max(truth.abs());
                let primary = (estimate.derivative - truth).abs() / scale;
                assert!(
                    primary < 1e-13,
                    "{name} {entry}: central difference off by {primary:e}"
                );
                let (second, _) = forward_mode::derivative(&case.graph, &values, leaf, entry);
                let second_error = (second - truth).abs() / scale;
                assert!(
                    second_error < 1e-14,
                    "{name} {entry}: forward mode off by {second_error:e}"
                );
            }
        }
    }
}

/// A loss of about 5e7 with a gradient entry of 1: a plain central difference would lose
/// about ε·E/h ≈ 1e-3 to cancellation; the carried difference does not.
#[test]
fn a_large_loss_does_not_blur_a_small_gradient() {
    // E = ½(x0 − 1e4)² + ½(x1 − 1)², x = [0, 2]: dE/dx = [−1e4, 1].
    let yaml =
        "nodes:\n  x: {input: [0.0, 2.0]}\n  t: {target: [10000.0, 1.0]}\n  E: {sqerr: [x, t]}\n";
    let graph = case::parse(yaml.as_bytes(), "big.yaml", "big", &SizeLimits::default())
        .expect("valid")
        .graph;
    let values = graph.forward();
    let numeric = &finite_differences(&graph, &values).by_leaf[0].1;
    assert!(
        (numeric[0].derivative + 1e4).abs() < 1e-9,
        "{}",
        numeric[0].derivative
    );
    assert!(
        (numeric[1].derivative - 1.0).abs() < 1e-12,
        "{}",
        numeric[1].derivative
    );
}

/// The reference engine wrong by a relative 1e-9 is caught with the default settings.
#[test]
fn a_relative_error_of_1e9_is_caught_and_the_reference_is_not_flagged() {
    let scaled = engine::by_name("mutant:scale=1e-9").expect("a valid delta");
    for values in [ValueMode::Normal, ValueMode::Wide, ValueMode::Extreme] {
        let config = FuzzConfig {
            seed: 9,
            budget: Budget::Graphs(2000),
            values,
            jobs: 2,
            ..FuzzConfig::default()
        };
        let reference = fuzz(&Reference, &config);
        assert!(
            reference.passed(),
            "{values:?}: {:?}",
            reference.failures.first().map(|f| &f.report)
        );
        assert_eq!(reference.unchecked_entries, 0);
        let caught = fuzz(scaled.as_ref(), &config);
        assert!(caught.failing_graphs > 0, "{values:?}: scale=1e-9 escaped");
    }
}

/// Gradients that are NaN, from an engine.
struct NanEngine;

impl Engine for NanEngine {
    fn name(&self) -> String {
        "nan".into()
    }
    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        let mut gradients = Reference.gradients(graph)?;
        let leaf = graph.differentiable_leaves().next().expect("a leaf");
        let mut value = gradients.get(leaf).expect("gradient").clone();
        *value.entry_mut(0) = f64::NAN;
        gradients.set(leaf, value);
        Ok(gradients)
    }
}

#[test]
fn nan_from_an_engine_is_non_finite_never_a_pass_or_a_plain_mismatch() {
    let case = seed_case("two-layer");
    let report = check(&NanEngine, &case.graph, &Tolerance::default()).expect("runs");
    assert_eq!(report.non_finite.len(), 1);
    assert!(report.mismatches.is_empty());
    assert!(!report.passed());
}

#[test]
fn an_overflowing_forward_pass_is_non_finite() {
    // s = W x = 1e200 · 1e200 overflows to infinity, and so does the loss.
    let yaml = "nodes:\n  x: {input: [1.0e200]}\n  W: {weight: [[1.0e200]]}\n  s: {matvec: [W, x]}\n  t: {target: [0.0]}\n  E: {sqerr: [s, t]}\n";
    let graph = case::parse(
        yaml.as_bytes(),
        "overflow.yaml",
        "overflow",
        &SizeLimits::default(),
    )
    .expect("valid")
    .graph;
    let report = check(&Reference, &graph, &Tolerance::default()).expect("runs");
    assert_eq!(report.non_finite.len(), 2, "{report:?}");
    assert!(!report.passed());
}

/// The sigmoid's difference rule takes `expm1` of tiny changes from a polynomial: it must
/// agree with the library to within one unit in the last place wherever it is used.
#[test]
fn the_polynomial_expm1_agrees_with_the_library() {
    use gradfuzz::function::sigmoid::expm1;
    let mut worst = 0.0f64;
    for k in 0..20_000 {
        // From 1e-300 up to just below 1e-4, both signs.
        let magnitude = 10f64.powf(-300.0 + 296.0 * (k as f64 / 20_000.0)) * 0.999;
        for x in [magnitude, -magnitude] {
            let (ours, library) = (expm1(x), x.exp_m1());
            let ulp = library.abs() * f64::EPSILON;
            worst = worst.max((ours - library).abs() / ulp);
        }
    }
    assert!(worst <= 1.0, "the polynomial is off by {worst} ulps");
}

/// A sigmoid whose input moves by 1e5 under the perturbation (a weight of 1e12): the
/// difference rule's `e^(−|y|)·e^(−d)` overflows to 0·∞, and the plain subtraction takes
/// over; the derivative is the exact 0 of a saturated sigmoid, decided by the primary.
#[test]
fn a_sigmoid_change_beyond_the_exponent_range_stays_finite() {
    let yaml = "nodes:\n  x: {input: [1.0]}\n  W: {weight: [[1.0e12]]}\n  s: {matvec: [W, x]}\n  o: {sigmoid: s}\n  t: {target: [0.5]}\n  E: {sqerr: [o, t]}\n";
    let graph = case::parse(yaml.as_bytes(), "wide.yaml", "wide", &SizeLimits::default())
        .expect("valid")
        .graph;
    let values = graph.forward();
    for (_, estimates) in finite_differences(&graph, &values).by_leaf {
        for estimate in estimates {
            assert_eq!((estimate.derivative, estimate.truncation), (0.0, 0.0));
        }
    }
    let report = check(&Reference, &graph, &Tolerance::default()).expect("runs");
    assert!(report.passed());
}

/// An `f16` engine whose sum `Σ_j W[j]·ḡ[j]` has terms beyond 65504 (the largest `f16`)
/// that cancel to −400: it returns NaN for `x`, whose true gradient, about −79, fits. That is
/// the precision's limit, not a bug: unchecked, beyond the range of `f16`, never non-finite
/// or a mismatch. (Found by `gradfuzz fuzz --engine reference@f16 --values extreme`.)
#[test]
fn a_narrow_engine_whose_sum_terms_overflow_is_unchecked_beyond_range() {
    use gradfuzz::check::{Undecided, Verdict};
    use gradfuzz::precision::Precision;
    let yaml = "nodes:\n  x: {input: [1.0]}\n  o: {sigmoid: x}\n  W: {weight: [[-20.0], [-20.0]]}\n  s: {matvec: [W, o]}\n  t: {target: [-3994.0, 3946.0]}\n  E: {sqerr: [s, t]}\n";
    let graph = case::parse(yaml.as_bytes(), "f16.yaml", "f16", &SizeLimits::default())
        .expect("valid")
        .graph;
    let engine = engine::by_name("reference@f16").expect("an engine");
    let report = check(engine.as_ref(), &graph, &Tolerance::default()).expect("runs");
    assert!(report.non_finite.is_empty(), "{report:?}");
    assert!(report.mismatches.is_empty(), "{report:?}");
    assert_eq!(report.unchecked.len(), 1, "{report:?}");
    assert_eq!(
        report.unchecked[0].verdict,
        Verdict::Unchecked(Undecided::BeyondRange(Precision::F16))
    );
    assert!(report.unchecked[0].analytic.is_nan());
}

/// A user's engine that panics on graphs with a sigmoid.
struct PanicsOnSigmoids;

impl Engine for PanicsOnSigmoids {
    fn name(&self) -> String {
        "panics-on-sigmoids".into()
    }
    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        let has_sigmoid = graph
            .ids()
            .any(|id| matches!(graph.gate(id), Some(gradfuzz::gate::Gate::Sigmoid(_))));
        assert!(!has_sigmoid, "sigmoids are not implemented yet");
        Reference.gradients(graph)
    }
}

/// An engine that panics is an engine error, the same path as an external program that
/// fails: `check` returns the error, and a fuzz run stops at that graph with what it checked
/// until then, instead of the process ending.
#[test]
fn an_engine_that_panics_is_an_engine_error_naming_the_graph() {
    let error = check(
        &PanicsOnSigmoids,
        &seed_case("two-layer").graph,
        &Tolerance::default(),
    )
    .expect_err("a panic is an error");
    assert!(
        matches!(&error, EngineError::Panicked { message, .. } if message.contains("sigmoids are not implemented yet")),
        "{error:?}"
    );
    assert!(error.to_string().contains("panicked"), "{error}");
    // Graph 0 of seed 3 has no sigmoid; a later one has.
    let config = FuzzConfig {
        seed: 3,
        budget: Budget::Graphs(1000),
        jobs: 1,
        ..FuzzConfig::default()
    };
    let summary = fuzz(&PanicsOnSigmoids, &config);
    let (index, error) = summary.stopped_by.as_ref().expect("stopped by the panic");
    assert!(matches!(error, EngineError::Panicked { .. }), "{error:?}");
    assert_eq!(summary.graphs, *index, "the graphs before it were checked");
    assert!(summary.graphs > 0 && summary.failing_graphs == 0);
}

/// An `f32` engine whose sigmoid slope is taken from `1/(1 + exp(−s))` as autograd composes
/// it, `exp(−s)/(1 + exp(−s))²`: where `exp(−s)` overflows `f32` (s < −88.7) that is
/// inf/inf, and every gradient through it is NaN (here: every gradient of the graph, where
/// a sigmoid the loss depends on overflows).
struct ComposedSigmoidF32;

impl Engine for ComposedSigmoidF32 {
    fn name(&self) -> String {
        "composed-sigmoid-f32".into()
    }
    fn precision(&self) -> gradfuzz::Precision {
        gradfuzz::Precision::F32
    }
    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        let mut gradients = engine::ReferenceIn(gradfuzz::Precision::F32).gradients(graph)?;
        let values = graph.forward_in(gradfuzz::Precision::F32);
        // Only a sigmoid the loss depends on is differentiated.
        let live = gradfuzz::blame::live_nodes(graph);
        let overflows = graph.ids().any(|id| {
            let operation = graph.operation(id);
            live[id.0]
                && operation.kind() == Some(gradfuzz::GateKind::Sigmoid)
                && operation.operands().iter().any(|s| {
                    let s = &values[s.0];
                    (0..s.len()).any(|k| (-(s.entry(k) as f32)).exp().is_infinite())
                })
        });
        if overflows {
            for leaf in graph.differentiable_leaves().collect::<Vec<_>>() {
                let mut value = gradients.get(leaf).expect("gradient").clone();
                for k in 0..value.len() {
                    *value.entry_mut(k) = f64::NAN;
                }
                gradients.set(leaf, value);
            }
        }
        Ok(gradients)
    }
}

/// A NaN failure is blamed like any other: on the gate that makes it. Checked alone, the
/// sigmoid's neighbours hold the values the engine saw, in its precision (in f64 the
/// sigmoid's output, 1e-71, is a number f32 cannot hold, and blame could not run: such
/// failures were saved unblamed and unshrunk).
#[test]
fn a_nan_failure_in_f32_is_blamed_on_the_gate_that_makes_it_and_shrinks() {
    let yaml = "nodes:\n  x: {input: [-2.0, 1.5]}\n  W: {weight: [[60.0, 10.0], [0.5, -0.25]]}\n  s: {matvec: [W, x]}\n  o: {sigmoid: s}\n  u: {add: [o, x]}\n  t: {target: [0.0, 1.0]}\n  E: {sqerr: [u, t]}\n";
    let graph = case::parse(yaml.as_bytes(), "nan.yaml", "nan", &SizeLimits::default())
        .expect("valid")
        .graph;
    let report = check(&ComposedSigmoidF32, &graph, &Tolerance::default()).expect("runs");
    assert!(!report.non_finite.is_empty(), "{report:?}");
    let blame = gradfuzz::blame::blame(&ComposedSigmoidF32, &graph, &Tolerance::default())
        .expect("blame runs in the engine's precision");
    assert_eq!(blame.culprit.signature(), "sigmoid", "{blame:?}");
    // And through a fuzz run: every failure blamed, shrunk, and none saved unblamed.
    let config = FuzzConfig {
        seed: 1,
        budget: Budget::Graphs(3000),
        values: ValueMode::Wide,
        jobs: 1,
        ..FuzzConfig::default()
    };
    let mut summary = fuzz(&ComposedSigmoidF32, &config);
    assert!(
        summary.non_finite_entries > 0,
        "no overflow in 3,000 graphs"
    );
    gradfuzz::fuzz::diagnose(&ComposedSigmoidF32, &config, &mut summary);
    for failure in &summary.failures {
        let shrunk = failure.shrunk.as_ref().expect("shrunk");
        assert_eq!(
            shrunk.blame.culprit.signature(),
            "sigmoid",
            "graph {}",
            failure.index
        );
        assert!(
            shrunk.graph.len() <= 4,
            "graph {}: {} nodes",
            failure.index,
            shrunk.graph.len()
        );
    }
}
