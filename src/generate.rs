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
pub(crate) fn graph_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// How leaf numbers are drawn (the builder then divides weights by √fan-in).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ValueMode {
    /// Standard normal.
    #[default]
    Normal,
    /// Normal with a random scale from 0.01 to 100 per graph: large weights, sigmoids often
    /// saturated, gradients from tiny to large.
    Wide,
    /// Magnitudes log-uniform from 1e-4 to 40, random signs, one number in 20 exactly zero:
    /// sigmoid inputs up to about ±40 and beyond (fully saturated), gradients spanning many
    /// orders of magnitude, exact zeros and ties.
    Extreme,
}

impl ValueMode {
    pub fn name(self) -> &'static str {
        match self {
            ValueMode::Normal => "normal",
            ValueMode::Wide => "wide",
            ValueMode::Extreme => "extreme",
        }
    }

    pub fn by_name(name: &str) -> Option<ValueMode> {
        [ValueMode::Normal, ValueMode::Wide, ValueMode::Extreme]
            .into_iter()
            .find(|mode| mode.name() == name)
    }

    fn numbers(self, rng: &mut ChaCha8Rng, count: usize) -> Vec<f64> {
        let scale = match self {
            ValueMode::Wide => 10f64.powf(rng.random_range(-2.0..=2.0)),
            _ => 1.0,
        };
        (0..count)
            .map(|_| match self {
                ValueMode::Normal | ValueMode::Wide => scale * rng.sample::<f64, _>(StandardNormal),
                ValueMode::Extreme => {
                    if rng.random_range(0..20) == 0 {
                        return 0.0;
                    }
                    let magnitude = 10f64.powf(rng.random_range(-4.0..=40f64.log10()));
                    if rng.random_bool(0.5) {
                        magnitude
                    } else {
                        -magnitude
                    }
                }
            })
            .collect()
    }
}

/// The recipe of graph `index` of a run with `seed`.
pub fn recipe_for(seed: u64, index: u64, limits: &Limits, values: ValueMode) -> Recipe {
    random_recipe(&mut graph_rng(seed, index), limits, values)
}

/// A random recipe: up to `max_nodes` steps, a mix of every gate, operand choices uniform
/// over the candidates, and numbers drawn as `values` says.
pub(crate) fn random_recipe(rng: &mut ChaCha8Rng, limits: &Limits, values: ValueMode) -> Recipe {
    let limits = limits.sanitized();
    let step_count = rng.random_range(1..=limits.max_nodes);
    let steps = (0..step_count).map(|_| random_step(rng)).collect();
    // Enough numbers that no leaf entry repeats another in graphs of the default size
    // (repeats could hide bugs that need asymmetry, such as a missing transpose).
    let number_count = (limits.max_nodes * limits.max_dim * limits.max_dim).min(4096);
    let numbers = values.numbers(rng, number_count);
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
