//! Random recipes from a seed: the command line's door into the recipe builder.
//!
//! Graph `i` of a run with seed `s` is generated from its own ChaCha8 stream, keyed by
//! `(s, i)`, so a graph does not depend on how many graphs came before it or on which worker
//! made it: the same seed and flags give the same graphs on every machine.

use crate::recipe::{Limits, Recipe, Step};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The RNG for graph `index` of a run with `seed`.
pub fn graph_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// The recipe of graph `index` of a run with `seed`.
pub fn recipe_for(seed: u64, index: u64, limits: &Limits) -> Recipe {
    random_recipe(&mut graph_rng(seed, index), limits)
}

/// A random recipe: up to `max_nodes` steps, a mix of every gate, operand choices uniform
/// over the candidates, and standard normal numbers (the builder scales weights by fan-in).
pub fn random_recipe(rng: &mut ChaCha8Rng, limits: &Limits) -> Recipe {
    let limits = limits.sanitized();
    let step_count = rng.random_range(1..=limits.max_nodes);
    let steps = (0..step_count).map(|_| random_step(rng)).collect();
    // Enough numbers that no leaf entry repeats another in graphs of the default size
    // (repeats could hide bugs that need asymmetry, such as a missing transpose).
    let number_count = (limits.max_nodes * limits.max_dim * limits.max_dim).min(4096);
    let numbers = (0..number_count)
        .map(|_| rng.sample::<f64, _>(StandardNormal))
        .collect();
    Recipe { steps, numbers }
}

fn random_step(rng: &mut ChaCha8Rng) -> Step {
    let mut raw = || rng.random::<u16>();
    // Percentages of each step kind: matvec and sigmoid make layers; add and sqerr make
    // fan-out; fresh leaves come both from these steps and from operand choices.
    match raw() % 100 {
        0..10 => Step::Input { dim: raw() },
        10..15 => Step::Target { dim: raw() },
        15..30 => Step::Add { a: raw(), b: raw() },
        30..60 => Step::Matvec {
            vector: raw(),
            weight: raw(),
            rows: raw(),
        },
        60..82 => Step::Sigmoid { input: raw() },
        _ => Step::Sqerr {
            output: raw(),
            target: raw(),
        },
    }
}
