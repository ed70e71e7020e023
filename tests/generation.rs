//! The recipe builder is total and respects its limits; generated graphs round-trip through
//! YAML bit for bit.

use gradfuzz::case::{self, Case, Expect, SizeLimits};
use gradfuzz::fuzz::graph_for;
use gradfuzz::gate::{Gate, Value};
use gradfuzz::generate::{ValueMode, recipe_with};
use gradfuzz::graph::{Graph, Op};
use gradfuzz::op::GateSet;
use gradfuzz::recipe::{Limits, Recipe, Step, build};
use gradfuzz::targets::same_bits;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A recipe of arbitrary raw values, numbers included NaN, infinities and extremes.
fn arbitrary_recipe(rng: &mut ChaCha8Rng) -> Recipe {
    let steps = (0..rng.random_range(0..40))
        .map(|_| {
            let mut raw = || rng.random::<u16>();
            match raw() % 6 {
                0 => Step::Input { dim: raw() },
                1 => Step::Target { dim: raw() },
                2 => Step::add(raw(), raw()),
                3 => Step::matvec(raw(), raw(), raw()),
                4 => Step::sigmoid(raw()),
                _ => Step::sqerr(raw(), raw()),
            }
        })
        .collect();
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        -0.0,
        5e-324,
    ];
    let numbers = (0..rng.random_range(0..20))
        .map(|_| {
            if rng.random_bool(0.3) {
                specials[rng.random_range(0..specials.len())]
            } else {
                rng.random::<f64>() * 4.0 - 2.0
            }
        })
        .collect();
    Recipe { steps, numbers }
}

#[test]
fn any_recipe_builds_a_valid_graph_within_its_limits() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..5000 {
        let recipe = arbitrary_recipe(&mut rng);
        let limits = Limits {
            max_nodes: rng.random_range(0..20),
            max_dim: rng.random_range(0..9),
            max_batch: rng.random_range(0..5),
        };
        let graph = build(&recipe, &limits); // Graph::new inside checks every shape rule
        let sane = limits.sanitized();
        assert!(
            graph.len() <= sane.max_nodes,
            "{} nodes > {}",
            graph.len(),
            sane.max_nodes
        );
        assert!(graph.largest_dim() <= sane.max_dim);
        assert!(graph.ids().any(|id| graph.is_loss(id)));
        for node in graph.nodes() {
            if let Op::Leaf(_, value) = &node.op {
                assert!(value.is_finite(), "{}: non-finite leaf", node.name);
            }
        }
    }
}

/// Whether some loss of the graph other than `sqerr(v, v)` (zero whatever `v`) depends on
/// an input or a weight.
fn has_live_loss(graph: &Graph) -> bool {
    graph.differentiable_leaves().any(|leaf| {
        graph.downstream(leaf).iter().any(|&id| {
            matches!(graph.gate(id), Some(Gate::Sqerr { output, target }) if output != target)
        })
    })
}

#[test]
fn every_graph_has_a_loss_that_depends_on_an_input_or_a_weight() {
    // Graph 0 of seed 0 used to be `sqerr(t1, t2)` alone: nothing to differentiate, and
    // engines built on autograd libraries refuse such a graph.
    let limits = Limits::default();
    for values in [ValueMode::Normal, ValueMode::Extreme] {
        for index in 0..20_000 {
            let graph = graph_for(0, index, &limits, values);
            assert!(has_live_loss(&graph), "graph {index}: no live loss");
        }
    }
    // Steps that make only targets and a loss between them, or only sqerr(x, x).
    for steps in [
        vec![
            Step::Target { dim: 1 },
            Step::Target { dim: 1 },
            Step::sqerr(0, 1),
        ],
        vec![Step::Input { dim: 1 }, Step::sqerr(0, 0)],
    ] {
        let recipe = Recipe {
            steps,
            numbers: vec![0.5, -1.0],
        };
        let graph = build(&recipe, &limits);
        assert!(has_live_loss(&graph), "{:?}", graph.nodes());
        assert!(graph.len() <= limits.max_nodes);
    }
}

#[test]
fn the_empty_recipe_builds_the_smallest_graph() {
    let graph = build(&Recipe::default(), &Limits::default());
    assert_eq!(graph.len(), 3, "an input, a target and a loss");
}

fn round_trip(graph: Graph) -> Graph {
    let case = Case {
        name: "round-trip".into(),
        description: Some("quotes \" and colons: and\nnewlines".into()),
        engine: Some("reference".into()),
        expect: Expect::Mismatch,
        precision: None,
        tolerance: Some(gradfuzz::check::Tolerance {
            rtol: 1e-9,
            atol: 0.0,
        }),
        graph,
        gradients: None,
    };
    let yaml = case::to_yaml(&case);
    let back = case::parse(
        yaml.as_bytes(),
        "round-trip.yaml",
        "x",
        &SizeLimits::default(),
    )
    .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(
        (
            &back.name,
            &back.description,
            &back.engine,
            back.expect,
            back.tolerance
        ),
        (
            &case.name,
            &case.description,
            &case.engine,
            case.expect,
            case.tolerance
        )
    );
    back.graph
}

#[test]
fn generated_graphs_round_trip_bit_for_bit() {
    for index in 0..500 {
        let graph = graph_for(5, index, &Limits::default(), ValueMode::Extreme);
        let back = round_trip(graph.clone());
        assert!(same_bits(&graph, &back), "graph {index}");
    }
}

#[test]
fn extreme_numbers_round_trip_bit_for_bit() {
    let extremes = [
        0.1,
        -0.0,
        5e-324,
        2.2250738585072014e-308,
        f64::MAX,
        -f64::MAX,
        1e-7,
        123456789012345680.0,
        1.0 / 3.0,
        f64::EPSILON,
    ];
    let yaml = {
        let items: Vec<String> = extremes.iter().map(|x| format!("{x:?}")).collect();
        format!(
            "nodes:\n  x: {{input: [{}]}}\n  E: {{sqerr: [x, x]}}\n",
            items.join(", ")
        )
    };
    let graph = case::parse(
        yaml.as_bytes(),
        "extremes.yaml",
        "x",
        &SizeLimits::default(),
    )
    .expect("valid")
    .graph;
    let back = round_trip(graph.clone());
    assert!(same_bits(&graph, &back));
    let Op::Leaf(_, Value::Vector(v)) = &back.nodes()[0].op else {
        panic!("x is a vector")
    };
    for (k, x) in extremes.iter().enumerate() {
        assert_eq!(v[k].to_bits(), x.to_bits(), "entry {k}");
    }
}

#[test]
fn node_ids_that_need_quoting_round_trip() {
    let yaml = "nodes:\n  \"a b\": {input: [1.0]}\n  \"true\": {sigmoid: \"a b\"}\n  \"1\": {target: [0.5]}\n  \"x: y\": {sqerr: [\"true\", \"1\"]}\n";
    let graph = case::parse(yaml.as_bytes(), "quoted.yaml", "x", &SizeLimits::default())
        .expect("valid")
        .graph;
    let back = round_trip(graph.clone());
    assert!(same_bits(&graph, &back));
}

/// An engine that declares gates beyond the lecture's but not `batch` (an exec program with
/// `--gates add,matvec,sigmoid,sqerr,relu`) is asked only what it computes: every graph of
/// the elementwise gates and losses on vectors is one of vectors, none with a matrix but a
/// matvec's weight, and the gates it meets are all among them.
#[test]
fn gates_declared_without_batches_make_graphs_of_vectors_only() {
    let gates = GateSet::parse("add,matvec,sigmoid,sqerr,tanh,relu,mse,mul").expect("valid");
    assert!(!gates.batches());
    let limits = Limits::default();
    let mut met = std::collections::BTreeSet::new();
    for index in 0..3000 {
        let recipe = recipe_with(7, index, &limits, ValueMode::Normal, gates);
        let graph = build(&recipe, &limits);
        assert_eq!(graph.first_batch(), None, "graph {index} has a batch");
        assert!(gates.covers(graph.gates_needed()), "graph {index}");
        met.extend(graph.gate_kinds());
    }
    assert_eq!(met.len(), 8, "every declared gate was drawn: {met:?}");
}
