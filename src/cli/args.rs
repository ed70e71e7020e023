//! The command line's grammar: one typed struct per command, parsed by clap (flags in any
//! order, `--help` on every command with its defaults, suggestions for a mistyped flag,
//! completions). Every check of a flag's value happens here, in its parser, so that a bad
//! value is a usage error (exit status 2) naming the flag before anything runs.

use clap::{Args, Parser, Subcommand, ValueEnum};
use gradfuzz::fuzz::{Mode, Shard};
use gradfuzz::generate::ValueMode;
use gradfuzz::op::GateSet;
use gradfuzz::precision::Precision;
use gradfuzz::recipe::Limits;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "gradfuzz",
    version,
    about = "gradfuzz: a gradient-checking harness and fuzzer for backpropagation",
    long_about = "gradfuzz: a gradient-checking harness and fuzzer for backpropagation.\n\n\
        Random graphs of four gates (add, matvec, sigmoid, sqerr), an engine's analytic \
        gradients against central differences and forward mode, a sound tolerance, and a \
        report of every mismatch with the gate to blame and a minimal YAML case.",
    after_help = "Engines: `gradfuzz engines` lists them (reference and mutant:NAME, each with \
        an optional @PRECISION, and exec:COMMAND).\n\
        Exit status: 0 nothing wrong, 1 a mismatch was found, 2 bad usage or invalid input.",
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check an engine on many random graphs and report every failing one.
    Fuzz(FuzzArgs),
    /// Check case files, or folders of them, each against what it expects.
    Check(CheckArgs),
    /// Write the smallest graph that still fails, as YAML.
    Shrink(ShrinkArgs),
    /// Show one case in full: values, gradients worst first, errors, blame.
    Explain(ExplainArgs),
    /// Write a fuzz artifact (raw bytes) as a YAML case.
    Import(ImportArgs),
    /// Merge several runs' --save folders into one, each bug once.
    Merge(MergeArgs),
    /// Draw a case as Graphviz DOT, the blamed gate highlighted.
    Dot(DotArgs),
    /// Time the full check on the benchmark graphs, and the fuzzing rate.
    Bench(BenchArgs),
    /// Write one random case (graph I of seed N) as YAML.
    Gen(GenArgs),
    /// List the engines.
    Engines,
    /// List the gates: name, family, case syntax, value and backward rule.
    Gates(GatesArgs),
    /// Print a shell completion script.
    ///
    /// For example `gradfuzz completions bash >
    /// ~/.local/share/bash-completion/completions/gradfuzz`, or `gradfuzz completions zsh >
    /// ~/.zfunc/_gradfuzz`, or `gradfuzz completions fish >
    /// ~/.config/fish/completions/gradfuzz.fish`.
    Completions(CompletionsArgs),
}

/// The engine to check and how to talk to it (`--engine` optional: a case's own engine).
#[derive(Args)]
pub struct CaseEngineArgs {
    /// The engine (see `gradfuzz engines`) [default: the case's `engine:`, else its claimed
    /// gradients, else the reference]
    #[arg(long, value_name = "E")]
    pub engine: Option<String>,
    #[command(flatten)]
    pub talk: EngineTalkArgs,
}

/// How an engine is reached and what precision it computes in.
#[derive(Args)]
pub struct EngineTalkArgs {
    /// Seconds an exec: engine may take to answer one graph (its first answer, start-up
    /// included, six times that)
    #[arg(long, value_name = "SECS", value_parser = seconds, default_value = "10", allow_negative_numbers = true)]
    pub timeout: Duration,
    /// The precision the engine computes in [default: the engine's own, as in reference@f32]
    #[arg(long, value_name = "P", value_parser = precision)]
    pub precision: Option<Precision>,
    /// The gates the engine computes: gate names and `batch` (matrices), or `lecture`, or
    /// `all` [default: the engine's own: all for reference and mutants, the four gates of
    /// the lecture for an exec program that does not declare more]
    #[arg(long, value_name = "LIST", value_parser = gate_set)]
    pub gates: Option<GateSet>,
}

impl EngineTalkArgs {
    /// `engine`, checked as declared by these flags.
    pub fn declare(&self, engine: Box<dyn gradfuzz::Engine>) -> Box<dyn gradfuzz::Engine> {
        // The flags win; where they overrule what the engine says of itself, say so, since
        // checking an engine as computing in another precision (or other gates) than it
        // declares changes every verdict.
        if engine.declares_itself() {
            let name = engine.name();
            if let Some(precision) = self.precision
                && precision != engine.precision()
            {
                eprintln!(
                    "gradfuzz: --precision {precision}: checking {name} as computing in {precision}, \
                     where it declares {}",
                    engine.precision()
                );
            }
            if let Some(gates) = self.gates
                && gates != engine.gates()
            {
                eprintln!(
                    "gradfuzz: --gates {gates}: checking {name} as computing {gates}, where it \
                     declares {}",
                    engine.gates()
                );
            }
        }
        gradfuzz::engine::declared_gates(
            gradfuzz::engine::declared(engine, self.precision),
            self.gates,
        )
    }
}

/// The shape of random graphs.
#[derive(Args)]
pub struct LimitArgs {
    /// Nodes per graph at most (3..=10000)
    #[arg(long, value_name = "N", value_parser = max_nodes, default_value_t = Limits::default().max_nodes, allow_negative_numbers = true)]
    pub max_nodes: usize,
    /// Largest vector or matrix dimension (1..=1024)
    #[arg(long, value_name = "N", value_parser = max_dim, default_value_t = Limits::default().max_dim, allow_negative_numbers = true)]
    pub max_dim: usize,
    /// The magnitudes of the random values
    #[arg(long, value_name = "V", value_enum, default_value_t = Values::Normal)]
    pub values: Values,
    /// Rows (examples) of a batch at most, in graphs of batches (1..=4096)
    #[arg(long, value_name = "N", value_parser = max_batch, default_value_t = Limits::default().max_batch, allow_negative_numbers = true)]
    pub max_batch: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_nodes: self.max_nodes,
            max_dim: self.max_dim,
            max_batch: self.max_batch,
        }
    }
}

#[derive(Args)]
pub struct FuzzArgs {
    /// The seed: the same seed and flags give the same graphs and the same report
    #[arg(long, value_name = "N", value_parser = whole, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
    /// Graphs to check [default: 100000]
    #[arg(long, value_name = "N", value_parser = whole, conflicts_with = "time", allow_negative_numbers = true)]
    pub graphs: Option<u64>,
    /// Check graphs for this many seconds instead of a count
    #[arg(long, value_name = "SECS", value_parser = seconds, allow_negative_numbers = true)]
    pub time: Option<Duration>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The engine (see `gradfuzz engines`)
    #[arg(long, value_name = "E", default_value = "reference")]
    pub engine: String,
    #[command(flatten)]
    pub talk: EngineTalkArgs,
    /// Threads checking graphs (the report does not depend on it) [default: the number of
    /// cores]
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pub jobs: Option<usize>,
    /// full: every entry of every leaf; fast: random directions, the full check only after
    /// a disagreement
    #[arg(long, value_enum, default_value_t = ModeArg::Full)]
    pub mode: ModeArg,
    /// Relative error ignored on top of the sound bound
    #[arg(long, value_name = "X", value_parser = non_negative, default_value_t = 0.0, allow_negative_numbers = true)]
    pub rtol: f64,
    /// Absolute error ignored on top of the sound bound
    #[arg(long, value_name = "X", value_parser = non_negative, default_value_t = 0.0, allow_negative_numbers = true)]
    pub atol: f64,
    /// Write each bug found, shrunk, as a case file in DIR (one file per bug)
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// With --save: write the engine's gradients into each case (`gradients:`), so that the
    /// case shows and replays the finding without the engine (`engine:` kept as a comment)
    #[arg(long, requires = "save")]
    pub save_claims: bool,
    /// With --save: the format of the case files (the same case format, spelled in YAML or
    /// JSON; `check` reads both)
    #[arg(long, value_enum, requires = "save", default_value_t = SaveFormat::Yaml)]
    pub save_format: SaveFormat,
    /// Check only the K-th of N disjoint slices of the seed's graphs, as in 2/8
    #[arg(long, value_name = "K/N", value_parser = shard)]
    pub shard: Option<Shard>,
    #[command(flatten)]
    pub shrink: ShrinkBudgetArgs,
    /// The gates random graphs use, of those the engine computes: gate names and `batch`, or
    /// `lecture` (the four gates of SPEC §1, on vectors), or `all`
    #[arg(long, value_name = "LIST", value_parser = gate_set, default_value = "all")]
    pub ops: GateSet,
    #[command(flatten)]
    pub format: ReportFormatArgs,
}

#[derive(Args)]
pub struct ShrinkBudgetArgs {
    /// Candidate graphs checked at most while shrinking one failure
    #[arg(long, value_name = "N", value_parser = at_least_one, default_value_t = gradfuzz::shrink::MAX_CANDIDATES, allow_negative_numbers = true)]
    pub shrink_candidates: usize,
}

/// `--format` for the commands with a per-case report.
#[derive(Args)]
pub struct ReportFormatArgs {
    /// text for people, json for programs, junit for CI systems (one test case per case
    /// file or failing graph)
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Junit,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaveFormat {
    Yaml,
    Json,
}

impl From<SaveFormat> for gradfuzz::case::CaseFormat {
    fn from(format: SaveFormat) -> gradfuzz::case::CaseFormat {
        match format {
            SaveFormat::Yaml => gradfuzz::case::CaseFormat::Yaml,
            SaveFormat::Json => gradfuzz::case::CaseFormat::Json,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Full,
    Fast,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Mode {
        match mode {
            ModeArg::Full => Mode::Full,
            ModeArg::Fast => Mode::Fast,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Values {
    /// Standard normal
    Normal,
    /// Normal with a random scale from 0.01 to 100 per graph
    Wide,
    /// Log-uniform from 1e-4 to 40, random signs, one in 20 exactly zero
    Extreme,
}

impl From<Values> for ValueMode {
    fn from(values: Values) -> ValueMode {
        match values {
            Values::Normal => ValueMode::Normal,
            Values::Wide => ValueMode::Wide,
            Values::Extreme => ValueMode::Extreme,
        }
    }
}

#[derive(Args)]
pub struct CheckArgs {
    /// Case files, or folders searched for *.yaml, *.yml and *.json
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub engine: CaseEngineArgs,
    #[command(flatten)]
    pub format: ReportFormatArgs,
}

#[derive(Args)]
pub struct ShrinkArgs {
    /// The failing case
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub engine: CaseEngineArgs,
    #[command(flatten)]
    pub shrink: ShrinkBudgetArgs,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// The case
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub engine: CaseEngineArgs,
    /// text for people, json for programs
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args)]
pub struct DotArgs {
    /// The case
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub engine: CaseEngineArgs,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The fuzz artifact (raw bytes, read as a recipe at the default limits)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Args)]
pub struct MergeArgs {
    /// Folders (or files) of saved cases
    #[arg(value_name = "DIR", required = true)]
    pub sources: Vec<PathBuf>,
    /// The folder the cases are merged into
    #[arg(long, value_name = "DIR", required = true)]
    pub into: PathBuf,
    /// Say what would be copied, and copy nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Benchmark case files or folders [default: cases/bench]
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Graphs fuzzed for the fuzzing rate
    #[arg(long, value_name = "N", value_parser = whole, default_value_t = 100_000, allow_negative_numbers = true)]
    pub graphs: u64,
}

#[derive(Args)]
pub struct GenArgs {
    /// The seed of the fuzz run
    #[arg(long, value_name = "N", value_parser = whole, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
    /// Which of the run's graphs (from 0)
    #[arg(long, value_name = "I", value_parser = whole, default_value_t = 0, allow_negative_numbers = true)]
    pub index: u64,
    /// The gates of the run (as `fuzz --ops` made them, of its engine's)
    #[arg(long, value_name = "LIST", value_parser = gate_set, default_value = "lecture")]
    pub ops: GateSet,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Args)]
pub struct GatesArgs {
    /// text for people, json for programs (engines in other languages, the Python package)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

// The value parsers: each message says what the flag takes (clap names the flag).

fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err("takes a positive number of seconds".into()),
    }
}

fn whole(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| "takes a whole number (0 or more)".to_string())
}

fn precision(text: &str) -> Result<Precision, String> {
    text.parse()
}

fn max_nodes(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (3..=10_000).contains(&n) => Ok(n),
        _ => Err(
            "must be a whole number from 3 to 10000 (an input, a target and a loss at least)"
                .into(),
        ),
    }
}

fn gate_set(text: &str) -> Result<GateSet, String> {
    GateSet::parse(text)
}

fn max_batch(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err("must be a whole number from 1 to 4096".into()),
    }
}

fn max_dim(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err("must be a whole number from 1 to 1024".into()),
    }
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number, at least 1".into()),
    }
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err("takes a finite, non-negative number".into()),
    }
}

/// `K/N`: the K-th of N disjoint slices (K from 1).
fn shard(text: &str) -> Result<Shard, String> {
    let parsed = text
        .split_once('/')
        .and_then(|(k, n)| Some((k.parse::<u64>().ok()?, n.parse::<u64>().ok()?)));
    match parsed {
        Some((k, n)) if (1..=n).contains(&k) => Ok(Shard {
            index: k - 1,
            count: n,
        }),
        _ => Err("takes K/N with 1 <= K <= N, as in 2/8".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_default_timeout_is_the_librarys() {
        let cli = Cli::try_parse_from(["gradfuzz", "dot", "case.yaml"]).expect("parses");
        let Command::Dot(dot) = cli.command else {
            panic!("not dot")
        };
        assert_eq!(dot.engine.talk.timeout, gradfuzz::engine::DEFAULT_TIMEOUT);
    }
}
