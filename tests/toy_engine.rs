//! A user's own engine, written from scratch as someone outside gradfuzz would (plain
//! `Vec<f64>`, a `HashMap` of gradients), with the classic bug: `insert` instead of `+=`
//! where a node feeds several gates. Both a plain `#[test]` with gradfuzz's assertion and a
//! proptest property catch it, and both show a small graph that still fails.
#![cfg(feature = "proptest")]

use gradfuzz::engine::{Engine, EngineError, Gradients};
use gradfuzz::gate::{Gate, Value};
use gradfuzz::graph::{Graph, NodeId, Op};
use gradfuzz::strategy::{GraphStrategy, graphs};
use gradfuzz::{Tolerance, check};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::collections::HashMap;

/// The toy engine. `overwrite_at_fan_out` is the bug.
struct Toy {
    overwrite_at_fan_out: bool,
}

fn entries(value: &Value) -> Vec<f64> {
    (0..value.len()).map(|k| value.entry(k)).collect()
}

impl Engine for Toy {
    fn name(&self) -> String {
        "toy".into()
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        // Forward, as flat row-major vectors.
        let mut value: Vec<Vec<f64>> = Vec::new();
        let mut cols: Vec<usize> = Vec::new();
        for node in graph.nodes() {
            let (v, c) = match &node.op {
                Op::Leaf(_, Value::Matrix(m)) => (entries(&Value::Matrix(m.clone())), m.ncols()),
                Op::Leaf(_, leaf) => (entries(leaf), 1),
                Op::Gate(Gate::Add(a, b)) => (
                    value[a.0]
                        .iter()
                        .zip(&value[b.0])
                        .map(|(x, y)| x + y)
                        .collect(),
                    1,
                ),
                Op::Gate(Gate::Matvec { weight, vector }) => {
                    let n = cols[weight.0];
                    (
                        value[weight.0]
                            .chunks(n)
                            .map(|row| row.iter().zip(&value[vector.0]).map(|(w, x)| w * x).sum())
                            .collect(),
                        1,
                    )
                }
                Op::Gate(Gate::Sigmoid(s)) => (
                    value[s.0]
                        .iter()
                        .map(|x| 1.0 / (1.0 + (-x).exp()))
                        .collect(),
                    1,
                ),
                Op::Gate(Gate::Sqerr { output, target }) => (
                    vec![
                        value[output.0]
                            .iter()
                            .zip(&value[target.0])
                            .map(|(o, t)| 0.5 * (o - t) * (o - t))
                            .sum(),
                    ],
                    1,
                ),
            };
            value.push(v);
            cols.push(c);
        }
        // Backward.
        let mut grad: HashMap<usize, Vec<f64>> = HashMap::new();
        let overwrite = self.overwrite_at_fan_out;
        let give = |grad: &mut HashMap<usize, Vec<f64>>, node: NodeId, g: Vec<f64>| {
            if overwrite {
                grad.insert(node.0, g); // the bug: should add to what is there
            } else {
                let slot = grad.entry(node.0).or_insert_with(|| vec![0.0; g.len()]);
                slot.iter_mut().zip(&g).for_each(|(s, x)| *s += x);
            }
        };
        for (i, node) in graph.nodes().iter().enumerate().rev() {
            let Op::Gate(gate) = &node.op else { continue };
            if let Gate::Sqerr { output, target } = *gate {
                let r: Vec<f64> = value[output.0]
                    .iter()
                    .zip(&value[target.0])
                    .map(|(o, t)| o - t)
                    .collect();
                give(&mut grad, target, r.iter().map(|x| -x).collect());
                give(&mut grad, output, r);
                continue;
            }
            let Some(g) = grad.get(&i).cloned() else {
                continue;
            };
            match *gate {
                Gate::Add(a, b) => {
                    give(&mut grad, a, g.clone());
                    give(&mut grad, b, g);
                }
                Gate::Matvec { weight, vector } => {
                    let n = cols[weight.0];
                    let w = &value[weight.0];
                    let o = value[vector.0].clone();
                    give(
                        &mut grad,
                        vector,
                        (0..n)
                            .map(|j| (0..g.len()).map(|r| w[r * n + j] * g[r]).sum())
                            .collect(),
                    );
                    give(
                        &mut grad,
                        weight,
                        g.iter()
                            .flat_map(|gr| o.iter().map(move |oj| gr * oj))
                            .collect(),
                    );
                }
                Gate::Sigmoid(s) => give(
                    &mut grad,
                    s,
                    g.iter()
                        .zip(&value[i])
                        .map(|(g, o)| g * o * (1.0 - o))
                        .collect(),
                ),
                Gate::Sqerr { .. } => unreachable!("handled above"),
            }
        }
        let mut gradients = Gradients::empty(graph.len());
        for leaf in graph.differentiable_leaves() {
            let mut zero = graph.forward()[leaf.0].zeros_like();
            if let Some(g) = grad.get(&leaf.0) {
                g.iter()
                    .enumerate()
                    .for_each(|(k, x)| *zero.entry_mut(k) = *x);
            }
            gradients.set(leaf, zero);
        }
        Ok(gradients)
    }
}

fn small_graphs() -> GraphStrategy {
    GraphStrategy {
        max_nodes: 10,
        max_dim: 4,
        ..GraphStrategy::default()
    }
}

#[test]
fn the_correct_toy_passes_the_assertion() {
    let config = gradfuzz::fuzz::FuzzConfig {
        budget: gradfuzz::fuzz::Budget::Graphs(2000),
        jobs: 2,
        ..Default::default()
    };
    gradfuzz::assert::assert_engine(
        &Toy {
            overwrite_at_fan_out: false,
        },
        &config,
    );
}

#[test]
fn a_plain_test_with_the_assertion_catches_the_bug_and_shows_the_shrunk_graph() {
    let config = gradfuzz::fuzz::FuzzConfig {
        budget: gradfuzz::fuzz::Budget::Graphs(200),
        jobs: 1,
        ..Default::default()
    };
    let panic = std::panic::catch_unwind(|| {
        gradfuzz::assert::assert_engine(
            &Toy {
                overwrite_at_fan_out: true,
            },
            &config,
        )
    })
    .expect_err("the bug is caught");
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(message.contains("engine `toy` fails"), "{message}");
    assert!(message.contains("blame: fan-out at"), "{message}");
    assert!(
        message.contains("shrunk to 4 nodes") || message.contains("shrunk to 3 nodes"),
        "{message}"
    );
    assert!(
        message.contains("| nodes:"),
        "the shrunk graph is shown as a case: {message}"
    );
}

#[test]
fn a_proptest_property_catches_the_bug_and_shrinks_it_to_a_small_graph() {
    // A fixed seed: the search and its shrinking are the same on every run.
    let config = Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&graphs(small_graphs()), |graph| {
        let report = check(
            &Toy {
                overwrite_at_fan_out: true,
            },
            &graph,
            &Tolerance::default(),
        )
        .expect("the toy never errs");
        if report.passed() {
            Ok(())
        } else {
            Err(TestCaseError::fail("gradients differ"))
        }
    });
    let Err(TestError::Fail(_, minimal)) = result else {
        panic!("proptest did not catch the bug: {result:?}")
    };
    let case = gradfuzz::case::Case {
        name: "proptest-minimal".into(),
        description: None,
        engine: None,
        expect: gradfuzz::case::Expect::Mismatch,
        tolerance: None,
        precision: None,
        graph: minimal.clone(),
        gradients: None,
    };
    eprintln!(
        "proptest's minimal failing graph:\n{}",
        gradfuzz::case::to_yaml(&case)
    );
    assert!(
        minimal.len() <= 6,
        "shrunk to {} nodes:\n{}",
        minimal.len(),
        gradfuzz::case::to_yaml(&case)
    );
}
