//! Random recipes from a seed: the command line's door into the recipe builder.
//!
//! Graph `i` of a run with seed `s` is generated from its own ChaCha8 stream, keyed by
//! `(s, i)`, so a graph does not depend on how many graphs came before it or on which worker
//! made it: the same seed and flags give the same graphs on every machine.

use crate::op::{GateKind, GateSet};
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

/// The recipe of graph `index` of a run with `seed`, of the four gates of the lecture.
pub fn recipe_for(seed: u64, index: u64, limits: &Limits, values: ValueMode) -> Recipe {
    recipe_with(seed, index, limits, values, GateSet::LECTURE)
}

/// The recipe of graph `index` of a run with `seed`, of the gates of `gates` (on batches if
/// it says so).
pub fn recipe_with(
    seed: u64,
    index: u64,
    limits: &Limits,
    values: ValueMode,
    gates: GateSet,
) -> Recipe {
    random_recipe(&mut graph_rng(seed, index), limits, values, gates)
}

/// A random recipe: up to `max_nodes` steps, a mix of `gates`, operand choices uniform over
/// the candidates, and numbers drawn as `values` says. The four gates of the lecture on
/// vectors draw exactly what they always drew, so their seeds give the same graphs.
pub(crate) fn random_recipe(
    rng: &mut ChaCha8Rng,
    limits: &Limits,
    values: ValueMode,
    gates: GateSet,
) -> Recipe {
    let limits = limits.sanitized();
    let step_count = rng.random_range(1..=limits.max_nodes);
    let kinds: Vec<GateKind> = gates.kinds().collect();
    let steps = (0..step_count)
        .map(|_| random_step(rng, &kinds, gates.batches()))
        .collect();
    // Enough numbers that no leaf entry repeats another in graphs of the default size
    // (repeats could hide bugs that need asymmetry, such as a missing transpose).
    let number_count = if gates.batches() {
        let side = limits.max_dim.max(limits.max_batch);
        (limits.max_nodes * limits.max_dim * side).min(8192)
    } else {
        (limits.max_nodes * limits.max_dim * limits.max_dim).min(4096)
    };
    let numbers = values.numbers(rng, number_count);
    Recipe { steps, numbers }
}

/// The shares of random steps that make a fresh `input` and a fresh `target` (the gates'
/// shares are in the table of facts), and, in graphs of batches, a fresh batch: fresh leaves
/// come both from these steps and from operand choices.
const INPUT_WEIGHT: u32 = 10;
const TARGET_WEIGHT: u32 = 5;
const BATCH_WEIGHT: u32 = 10;

/// A step: its kind drawn by the shares of the leaves and of `gates` (out of their total:
/// 100 for the four gates on vectors, where matvec and sigmoid make layers and add and sqerr
/// make fan-out), then as many raw choices as the builder reads for it.
fn random_step(rng: &mut ChaCha8Rng, gates: &[GateKind], batches: bool) -> Step {
    let mut raw = || rng.random::<u16>();
    let batch_weight = if batches { BATCH_WEIGHT } else { 0 };
    let total: u32 = INPUT_WEIGHT
        + TARGET_WEIGHT
        + batch_weight
        + gates
            .iter()
            .map(|g| g.facts().generation_weight)
            .sum::<u32>();
    let mut draw = u32::from(raw()) % total;
    if draw < INPUT_WEIGHT {
        return Step::Input { dim: raw() };
    }
    draw -= INPUT_WEIGHT;
    if draw < TARGET_WEIGHT {
        return Step::Target { dim: raw() };
    }
    draw -= TARGET_WEIGHT;
    if draw < batch_weight {
        return Step::Batch {
            rows: raw(),
            dim: raw(),
        };
    }
    draw -= batch_weight;
    let mut kind = *gates.last().expect("at least one gate");
    for &gate in gates {
        let weight = gate.facts().generation_weight;
        if draw < weight {
            kind = gate;
            break;
        }
        draw -= weight;
    }
    let (count, _) = crate::recipe::choices(kind, batches);
    let mut choices = [0u16; 3];
    for choice in &mut choices[..count] {
        *choice = raw();
    }
    Step::gate(kind, choices)
}
