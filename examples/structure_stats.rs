//! How often each graph structure occurs in generated graphs, for the README.
//!
//! `cargo run --release --example structure_stats -- [GRAPHS] [SEED]`

use gradfuzz::fuzz::graph_for;
use gradfuzz::gate::Gate;
use gradfuzz::generate::ValueMode;
use gradfuzz::graph::{Graph, LeafKind, NodeId, Op, Shape};
use gradfuzz::recipe::Limits;

/// Whether a graph has a structure.
type Test = fn(&Graph) -> bool;

/// The structures counted, with a test for each graph.
fn structures() -> Vec<(&'static str, Test)> {
    vec![
        ("a square weight", |g| weights(g).any(|(m, n)| m == n)),
        ("a non-square weight", |g| weights(g).any(|(m, n)| m != n)),
        ("a vector used by two or more gates (fan-out)", |g| {
            let users = g.users();
            g.ids()
                .any(|id| !matches!(g.shape(id), Shape::Matrix(..)) && users[id.0].len() >= 2)
        }),
        ("add(x, x), one node twice in one add", |g| {
            g.ids()
                .any(|id| matches!(g.gate(id), Some(Gate::Add(a, b)) if a == b))
        }),
        ("a weight shared by two or more matvecs", |g| {
            let users = g.users();
            g.ids()
                .any(|id| matches!(g.shape(id), Shape::Matrix(..)) && users[id.0].len() >= 2)
        }),
        ("two or more losses", |g| {
            g.ids().filter(|&id| g.is_loss(id)).count() >= 2
        }),
        ("sqerr against a target leaf", |g| {
            sqerr_targets(g).any(|t| is_target(g, t))
        }),
        ("sqerr against a computed vector or input", |g| {
            sqerr_targets(g).any(|t| !is_target(g, t))
        }),
        ("a dead branch (a node that reaches no loss)", |g| {
            g.ids()
                .any(|id| !g.is_loss(id) && !g.downstream(id).iter().any(|&d| g.is_loss(d)))
        }),
        ("a sigmoid", |g| {
            g.ids()
                .any(|id| matches!(g.gate(id), Some(Gate::Sigmoid(_))))
        }),
        ("a matvec", |g| {
            g.ids()
                .any(|id| matches!(g.gate(id), Some(Gate::Matvec { .. })))
        }),
        ("an add", |g| {
            g.ids().any(|id| matches!(g.gate(id), Some(Gate::Add(..))))
        }),
    ]
}

fn weights(graph: &Graph) -> impl Iterator<Item = (usize, usize)> + '_ {
    graph.ids().filter_map(|id| match graph.shape(id) {
        Shape::Matrix(m, n) => Some((m, n)),
        _ => None,
    })
}

fn sqerr_targets(graph: &Graph) -> impl Iterator<Item = NodeId> + '_ {
    graph.ids().filter_map(|id| match graph.gate(id) {
        Some(Gate::Sqerr { target, .. }) => Some(*target),
        _ => None,
    })
}

fn is_target(graph: &Graph, id: NodeId) -> bool {
    matches!(graph.node(id).op, Op::Leaf(LeafKind::Target, _))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let graphs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let limits = Limits::default();
    let tests = structures();
    let mut counts = vec![0u64; tests.len()];
    let (mut nodes, mut scalars) = (0u64, 0u64);
    for index in 0..graphs {
        let graph = graph_for(seed, index, &limits, ValueMode::Normal);
        nodes += graph.len() as u64;
        scalars += graph
            .differentiable_leaves()
            .map(|id| match graph.shape(id) {
                Shape::Vector(n) => n as u64,
                Shape::Matrix(m, n) => (m * n) as u64,
                Shape::Scalar => 1,
            })
            .sum::<u64>();
        for (count, (_, test)) in counts.iter_mut().zip(&tests) {
            *count += test(&graph) as u64;
        }
    }
    println!(
        "{graphs} graphs, seed {seed}, max {} nodes, dims 1..={}: {:.1} nodes and {:.1} checked scalars per graph",
        limits.max_nodes,
        limits.max_dim,
        nodes as f64 / graphs as f64,
        scalars as f64 / graphs as f64
    );
    println!("| structure | graphs with it |");
    println!("|---|---|");
    for (count, (name, _)) in counts.iter().zip(&tests) {
        println!("| {name} | {:.1}% |", 100.0 * *count as f64 / graphs as f64);
    }
}
