//! Properties over generated graphs (proptest, shrinking through the recipe).
#![cfg(feature = "proptest")]

use gradfuzz::case::{self, Case, Expect, SizeLimits};
use gradfuzz::engine::{self, Reference};
use gradfuzz::gate::{Gate, GateKind};
use gradfuzz::generate::ValueMode;
use gradfuzz::graph::Op;
use gradfuzz::recipe::{Limits, Recipe, Step, build};
use gradfuzz::strategy::{GraphStrategy, graphs, recipes};
use gradfuzz::targets::violations;
use gradfuzz::{Tolerance, check};
use proptest::prelude::*;

fn any_recipe() -> impl Strategy<Value = (Recipe, Limits)> {
    let step = prop_oneof![
        any::<u16>().prop_map(|dim| Step::Input { dim }),
        any::<u16>().prop_map(|dim| Step::Target { dim }),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Step::add(a, b)),
        (any::<u16>(), any::<u16>(), any::<u16>())
            .prop_map(|(vector, weight, rows)| Step::matvec(vector, weight, rows)),
        any::<u16>().prop_map(Step::sigmoid),
        (any::<u16>(), any::<u16>()).prop_map(|(output, target)| Step::sqerr(output, target)),
    ];
    let numbers = prop::collection::vec(any::<f64>(), 0..40); // NaN, infinities, subnormals
    let limits =
        (0usize..30, 0usize..10, 0usize..5).prop_map(|(max_nodes, max_dim, max_batch)| Limits {
            max_nodes,
            max_dim,
            max_batch,
        });
    (prop::collection::vec(step, 0..60), numbers, limits)
        .prop_map(|(steps, numbers, limits)| (Recipe { steps, numbers }, limits))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn building_is_total_and_obeys_the_gate_rules((recipe, limits) in any_recipe()) {
        let graph = build(&recipe, &limits);
        prop_assert_eq!(violations(&graph, &limits), Ok(()));
    }

    #[test]
    fn the_reference_engine_passes_every_generated_graph(
        graph in graphs(GraphStrategy::default()),
    ) {
        let report = check(&Reference, &graph, &Tolerance::default()).expect("the reference never errs");
        prop_assert!(report.passed(), "{:?}", report.mismatches);
    }

    #[test]
    fn the_reference_passes_extreme_values_too(
        graph in graphs(GraphStrategy { values: ValueMode::Extreme, ..GraphStrategy::default() }),
    ) {
        let report = check(&Reference, &graph, &Tolerance::default()).expect("the reference never errs");
        prop_assert!(report.passed(), "{:?}", report.mismatches);
    }

    #[test]
    fn yaml_round_trips_bit_for_bit(graph in graphs(GraphStrategy { values: ValueMode::Wide, ..GraphStrategy::default() })) {
        let case = Case { name: "p".into(), description: None, engine: None, expect: Expect::Pass, tolerance: None, precision: None, graph, gradients: None };
        let text = case::to_yaml(&case);
        let back = case::parse(text.as_bytes(), "p.yaml", "p", &SizeLimits::default()).expect("valid");
        prop_assert_eq!(back.graph.len(), case.graph.len());
        for (a, b) in case.graph.nodes().iter().zip(back.graph.nodes()) {
            prop_assert_eq!(&a.name, &b.name);
            match (&a.op, &b.op) {
                (Op::Leaf(ka, va), Op::Leaf(kb, vb)) => {
                    prop_assert_eq!(ka, kb);
                    prop_assert_eq!(va.shape(), vb.shape());
                    for k in 0..va.len() {
                        prop_assert_eq!(va.entry(k).to_bits(), vb.entry(k).to_bits());
                    }
                }
                (ga, gb) => prop_assert_eq!(ga, gb),
            }
        }
    }

    #[test]
    fn restricting_the_gates_restricts_the_graphs(
        graph in graphs(GraphStrategy { gates: vec![GateKind::Sigmoid], ..GraphStrategy::default() }),
    ) {
        let only_sigmoids = graph.ids().all(|id| !matches!(graph.gate(id), Some(Gate::Add(..) | Gate::Matvec { .. })));
        prop_assert!(only_sigmoids);
    }
}

/// A mutant is caught, and proptest shrinks the graph (through its recipe) to a small one.
#[test]
fn a_mutant_is_caught_and_shrunk_to_a_small_graph() {
    use proptest::test_runner::{
        Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
    };
    let engine = engine::by_name("mutant:sigmoid-no-one-minus").expect("catalogued");
    // A fixed seed: the search and its shrinking are the same on every run.
    let config = Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&graphs(GraphStrategy::default()), |graph| {
        let report = check(engine.as_ref(), &graph, &Tolerance::default()).expect("runs");
        if report.passed() {
            Ok(())
        } else {
            Err(TestCaseError::fail("mismatch"))
        }
    });
    let Err(TestError::Fail(_, minimal)) = result else {
        panic!("not caught: {result:?}")
    };
    // proptest shrinks greedily through the recipe, so it may stop above the smallest such
    // graph (input, sigmoid, target, sqerr: 4 nodes); it must still get as small as
    // gradfuzz's own shrinker promises.
    assert!(minimal.len() <= 6, "{minimal:?}");
    assert!(minimal.largest_dim() <= 2, "{minimal:?}");
}

#[test]
fn recipes_respect_the_step_limit() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::default();
    for _ in 0..100 {
        let recipe = recipes(GraphStrategy {
            max_nodes: 5,
            ..GraphStrategy::default()
        })
        .new_tree(&mut runner)
        .expect("a value")
        .current();
        assert!(recipe.steps.len() <= 5 && !recipe.numbers.is_empty());
    }
}
