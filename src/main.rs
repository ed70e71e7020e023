//! The `gradfuzz` command line: parses flags and calls the library.

// `print!` and `println!` that end the program quietly, as ripgrep does, when the reader of
// our output has gone away (`gradfuzz fuzz | head`), instead of panicking on the broken
// pipe. (Restoring SIGPIPE's default action instead would also kill us when an exec engine
// dies with our request unread.)
macro_rules! print {
    ($($arg:tt)*) => { emit(&format!($($arg)*)) };
}
macro_rules! println {
    () => { emit("\n") };
    ($($arg:tt)*) => { emit(&format!("{}\n", format_args!($($arg)*))) };
}

use gradfuzz::blame::blame;
use gradfuzz::case::{self, Case, Expect};
use gradfuzz::check::{Tolerance, check_with_entries};
use gradfuzz::engine;
use gradfuzz::engine::Engine;
use gradfuzz::fuzz::{
    Budget, FuzzConfig, Mode, Progress, Shard, diagnose, fuzz_with_progress, graph_for,
};
use gradfuzz::generate::ValueMode;
use gradfuzz::json;
use gradfuzz::recipe::Limits;
use gradfuzz::report;
use gradfuzz::shrink::Shrinker;
use gradfuzz::suite::{CaseOutcome, case_files, engine_for, run_case};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
gradfuzz: a gradient-checking harness and fuzzer for backpropagation

usage:
  gradfuzz fuzz  [--seed N] [--graphs N | --time SECS] [--max-nodes N] [--max-dim N]
                 [--values normal|wide|extreme] [--engine E] [--jobs N]
                 [--mode full|fast] [--rtol X] [--atol X] [--save DIR] [--shard K/N]
                 [--timeout SECS]
  gradfuzz check PATH... [--engine E]      check case files, or folders of them
  gradfuzz shrink FILE [--engine E]        the smallest graph that still fails, as YAML
  gradfuzz explain FILE [--engine E]       values, gradients worst first, errors, blame
  gradfuzz import FILE                     a fuzz artifact (raw bytes) as a YAML case
  gradfuzz dot FILE [--engine E]           the graph as Graphviz DOT, the blame highlighted
  gradfuzz bench [PATH...] [--graphs N]    timings on cases/bench (or PATH), and fuzzing rate
  (every command that takes --engine also takes --timeout SECS for exec: engines;
   fuzz, check and explain take --format text|json)
  gradfuzz gen   [--seed N] [--index I] [--max-nodes N] [--max-dim N] [--values V]
                                           one random case (graph I of seed N) as YAML
  gradfuzz engines                         list the engines

exit status: 0 nothing wrong, 1 a mismatch was found, 2 bad usage or invalid input";

/// Exit statuses of the command line contract.
const MISMATCH: u8 = 1;
const INVALID: u8 = 2;

/// Writes to stdout; a closed stdout ends the program with status 0.
fn emit(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("gradfuzz: cannot write to stdout: {error}");
            std::process::exit(INVALID.into());
        }
        std::process::exit(0);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("gradfuzz: {message}");
            ExitCode::from(INVALID)
        }
    }
}

fn run(args: Vec<String>) -> Result<ExitCode, String> {
    let mut args = Flags::new(args);
    let Some(command) = args.command() else {
        return Err(format!("no command given\n\n{USAGE}"));
    };
    match command.as_str() {
        "fuzz" => fuzz_command(args),
        "check" => check_command(args),
        "gen" => gen_command(args),
        "shrink" => shrink_command(args),
        "explain" => explain_command(args),
        "import" => import_command(args),
        "bench" => bench_command(args),
        "dot" => dot_command(args),
        "engines" => {
            args.finish()?;
            for (name, about) in engine::catalogue() {
                println!("{name:<28} {about}");
            }
            Ok(ExitCode::SUCCESS)
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "--version" | "-V" => {
            println!("gradfuzz {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    }
}

fn limits(args: &mut Flags) -> Result<Limits, String> {
    let defaults = Limits::default();
    let limits = Limits {
        max_nodes: args
            .number("--max-nodes")?
            .unwrap_or(defaults.max_nodes as u64) as usize,
        max_dim: args.number("--max-dim")?.unwrap_or(defaults.max_dim as u64) as usize,
    };
    if limits.max_nodes < 3 || limits.max_nodes > 10_000 {
        return Err(
            "--max-nodes must be between 3 and 10000 (an input, a target and a loss at least)"
                .into(),
        );
    }
    if limits.max_dim < 1 || limits.max_dim > 1024 {
        return Err("--max-dim must be between 1 and 1024".into());
    }
    Ok(limits)
}

fn tolerance(args: &mut Flags, defaults: Tolerance) -> Result<Tolerance, String> {
    let mut part = |name: &str, default: f64| match args.value(name)? {
        None => Ok(default),
        Some(v) => match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
            _ => Err(format!(
                "{name} takes a finite, non-negative number, not `{v}`"
            )),
        },
    };
    Ok(Tolerance {
        rtol: part("--rtol", defaults.rtol)?,
        atol: part("--atol", defaults.atol)?,
    })
}

fn fuzz_command(mut args: Flags) -> Result<ExitCode, String> {
    let defaults = FuzzConfig::default();
    let seed = args.number("--seed")?.unwrap_or(defaults.seed);
    let graphs = args.number("--graphs")?;
    let time = args.seconds("--time")?;
    let budget = match (graphs, time) {
        (Some(_), Some(_)) => return Err("--graphs and --time exclude each other".into()),
        (Some(n), None) => Budget::Graphs(n),
        (None, Some(t)) => Budget::Time(t),
        (None, None) => defaults.budget,
    };
    let limits = limits(&mut args)?;
    let values = values(&mut args)?;
    let engine_name = args
        .value("--engine")?
        .unwrap_or_else(|| "reference".into());
    let timeout = timeout(&mut args)?;
    let engine = engine::by_name_with_timeout(&engine_name, timeout)
        .map_err(|e| format!("--engine: {e}"))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.number("--jobs")?.map_or(cores, |n| n as usize);
    if jobs == 0 {
        return Err("--jobs must be at least 1".into());
    }
    let tolerance = tolerance(&mut args, defaults.tolerance)?;
    let save = args.value("--save")?.map(PathBuf::from);
    let shard = shard(&mut args)?;
    let format = format(&mut args)?;
    let mode = match args.value("--mode")?.as_deref() {
        None | Some("full") => Mode::Full,
        Some("fast") => Mode::Fast,
        Some(other) => return Err(format!("--mode takes full or fast, not `{other}`")),
    };
    args.finish()?;
    let config = FuzzConfig {
        seed,
        budget,
        limits,
        values,
        tolerance,
        jobs,
        shard,
        mode,
        ..defaults
    };
    let progress = Progress::default();
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut summary = std::thread::scope(|scope| {
        if show_progress() {
            scope.spawn(|| progress_display(&config, &progress, &done));
        }
        let summary = fuzz_with_progress(engine.as_ref(), &config, &progress);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        summary
    });
    // Timed before diagnosis, so that the figure is the checking rate alone.
    let throughput = report::throughput(&summary);
    diagnose(engine.as_ref(), &config, &mut summary);
    match format {
        Format::Text => print!("{}", report::fuzz_text(&engine.name(), &config, &summary)),
        Format::Json => println!(
            "{:#}",
            gradfuzz::json::fuzz(&engine.name(), &config, &summary)
        ),
    }
    eprintln!("{throughput}");
    if let Some((index, error)) = &summary.stopped_by {
        eprintln!("gradfuzz: stopped at graph {index}: {error}");
    }
    if let Some(dir) = save {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("--save {}: cannot create: {e}", dir.display()))?;
        for failure in &summary.failures {
            let case = failure.to_case(&engine.name(), &config);
            let path = dir.join(format!("{}.yaml", case.name));
            std::fs::write(&path, case::to_yaml(&case))
                .map_err(|e| format!("--save: cannot write {}: {e}", path.display()))?;
            match format {
                Format::Text => println!("saved {}", path.display()),
                Format::Json => eprintln!("saved {}", path.display()),
            }
        }
    }
    Ok(if summary.stopped_by.is_some() {
        ExitCode::from(INVALID)
    } else if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(MISMATCH)
    })
}

/// Progress goes to stderr only when a person is watching it: a terminal, outside CI.
fn show_progress() -> bool {
    // SAFETY: isatty(2) only inspects a file descriptor.
    let terminal = unsafe { libc::isatty(2) == 1 };
    terminal && std::env::var_os("CI").is_none()
}

/// One line on stderr, redrawn four times a second until `done`, then erased.
fn progress_display(
    config: &FuzzConfig,
    progress: &Progress,
    done: &std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let start = std::time::Instant::now();
    while !done.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        let (graphs, failing) = (
            progress.graphs.load(Relaxed),
            progress.failing.load(Relaxed),
        );
        let elapsed = start.elapsed().as_secs_f64();
        let rate = graphs as f64 / elapsed.max(1e-9);
        let left = match config.budget {
            Budget::Graphs(n) => (n.saturating_sub(graphs)) as f64 / rate.max(1e-9),
            Budget::Time(t) => (t.as_secs_f64() - elapsed).max(0.0),
        };
        eprint!(
            "\r\x1b[2Kgradfuzz: {graphs} graphs, {rate:.0}/s, {failing} failing, {left:.0} s left"
        );
    }
    eprint!("\r\x1b[2K");
}

/// `--format text|json`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

fn format(args: &mut Flags) -> Result<Format, String> {
    match args.value("--format")?.as_deref() {
        None | Some("text") => Ok(Format::Text),
        Some("json") => Ok(Format::Json),
        Some(other) => Err(format!("--format takes text or json, not `{other}`")),
    }
}

/// `--shard K/N`: the K-th of N disjoint slices of the seed's graphs (K from 1).
fn shard(args: &mut Flags) -> Result<Shard, String> {
    let Some(text) = args.value("--shard")? else {
        return Ok(Shard::WHOLE);
    };
    let parsed = text
        .split_once('/')
        .and_then(|(k, n)| Some((k.parse::<u64>().ok()?, n.parse::<u64>().ok()?)));
    match parsed {
        Some((k, n)) if (1..=n).contains(&k) => Ok(Shard {
            index: k - 1,
            count: n,
        }),
        _ => Err(format!(
            "--shard takes K/N with 1 <= K <= N, as in 2/8, not `{text}`"
        )),
    }
}

fn timeout(args: &mut Flags) -> Result<Duration, String> {
    Ok(args
        .seconds("--timeout")?
        .unwrap_or(gradfuzz::engine::exec::DEFAULT_TIMEOUT))
}

fn values(args: &mut Flags) -> Result<ValueMode, String> {
    match args.value("--values")? {
        None => Ok(ValueMode::Normal),
        Some(name) => ValueMode::by_name(&name)
            .ok_or_else(|| format!("--values takes normal, wide or extreme, not `{name}`")),
    }
}

fn gen_command(mut args: Flags) -> Result<ExitCode, String> {
    let seed = args.number("--seed")?.unwrap_or(0);
    let index = args.number("--index")?.unwrap_or(0);
    let limits = limits(&mut args)?;
    let values = values(&mut args)?;
    args.finish()?;
    let graph = graph_for(seed, index, &limits, values);
    let description = format!(
        "gradfuzz gen --seed {seed} --index {index} --max-nodes {} --max-dim {} --values {}",
        limits.max_nodes,
        limits.max_dim,
        values.name()
    );
    print_case(format!("seed-{seed}-graph-{index}"), description, graph)
}

/// Prints a graph as a case that expects to pass, with its name and origin.
fn print_case(
    name: String,
    description: String,
    graph: gradfuzz::Graph,
) -> Result<ExitCode, String> {
    let case = Case {
        name,
        description: Some(description),
        engine: None,
        expect: Expect::Pass,
        tolerance: None,
        graph,
        gradients: None,
    };
    print!("{}", case::to_yaml(&case));
    Ok(ExitCode::SUCCESS)
}

/// A case file and the engine to check it with (see [`engine_for`]).
fn case_and_engine(
    args: &mut Flags,
    command: &str,
) -> Result<(Case, Box<dyn Engine>, PathBuf), String> {
    let engine_name = args.value("--engine")?;
    let mut paths = args.positional()?;
    if paths.len() != 1 {
        return Err(format!("{command} takes exactly one case file"));
    }
    let path = PathBuf::from(paths.remove(0));
    let case = case::load(&path).map_err(|e| e.to_string())?;
    let timeout = timeout(args)?;
    let engine =
        engine_for(&case, engine_name.as_deref(), timeout).map_err(|e| format!("--engine: {e}"))?;
    Ok((case, engine, path))
}

fn shrink_command(mut args: Flags) -> Result<ExitCode, String> {
    let (case, engine, path) = case_and_engine(&mut args, "shrink")?;
    if engine.name() == "claimed" {
        return Err(format!(
            "{}: claimed gradients belong to this graph only, so a smaller graph cannot be \
             checked against them; give --engine",
            path.display()
        ));
    }
    let tolerance = case.tolerance.unwrap_or_default();
    let Some(mut shrinker) = Shrinker::for_failure(engine.as_ref(), &case.graph, &tolerance) else {
        eprintln!(
            "gradfuzz: {}: passes with engine {}: nothing to shrink",
            path.display(),
            engine.name()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let graph = shrinker.shrink_graph(&case.graph);
    let blame = blame(engine.as_ref(), &graph, &tolerance).map_err(|e| e.to_string())?;
    eprintln!(
        "shrunk {} from {} to {} nodes (largest dim {} to {}) in {} candidate checks; blame: {}",
        path.display(),
        case.graph.len(),
        graph.len(),
        case.graph.largest_dim(),
        graph.largest_dim(),
        shrinker.candidates_tried(),
        blame.culprit
    );
    let shrunk = Case {
        name: format!("{}-shrunk", case.name),
        description: Some(format!("shrunk by gradfuzz shrink from {}", path.display())),
        engine: Some(engine.name()),
        expect: Expect::Mismatch,
        graph,
        gradients: None,
        ..case
    };
    print!("{}", case::to_yaml(&shrunk));
    Ok(ExitCode::SUCCESS)
}

/// The report of a case, and its blame when it fails.
fn check_and_blame(
    engine: &dyn Engine,
    case: &Case,
) -> Result<
    (
        gradfuzz::Report,
        Vec<gradfuzz::check::EntryCheck>,
        Option<gradfuzz::blame::Blame>,
    ),
    String,
> {
    let tolerance = case.tolerance.unwrap_or_default();
    let failed = |e: gradfuzz::engine::EngineError| format!("the engine failed: {e}");
    let (report, entries) = check_with_entries(engine, &case.graph, &tolerance).map_err(failed)?;
    let blame = match report.passed() {
        true => None,
        false => Some(blame(engine, &case.graph, &tolerance).map_err(failed)?),
    };
    Ok((report, entries, blame))
}

fn explain_command(mut args: Flags) -> Result<ExitCode, String> {
    let format = format(&mut args)?;
    let (case, engine, _) = case_and_engine(&mut args, "explain")?;
    let (report, entries, blame) = check_and_blame(engine.as_ref(), &case)?;
    let (graph, name) = (&case.graph, engine.name());
    match format {
        Format::Text => print!(
            "{}",
            report::explain_text(graph, &name, &report, &entries, blame.as_ref())
        ),
        Format::Json => println!(
            "{:#}",
            json::explain(graph, &name, &report, &entries, blame.as_ref())
        ),
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(MISMATCH)
    })
}

fn dot_command(mut args: Flags) -> Result<ExitCode, String> {
    let (case, engine, _) = case_and_engine(&mut args, "dot")?;
    let (report, _, blame) = check_and_blame(engine.as_ref(), &case)?;
    let failure = blame.as_ref().map(|b| (&report, b));
    print!("{}", gradfuzz::dot::dot(&case.graph, &case.name, failure));
    Ok(ExitCode::SUCCESS)
}

fn bench_command(mut args: Flags) -> Result<ExitCode, String> {
    let graphs = args.number("--graphs")?.unwrap_or(100_000);
    let mut paths: Vec<PathBuf> = args.positional()?.into_iter().map(PathBuf::from).collect();
    if paths.is_empty() {
        paths.push(PathBuf::from("cases/bench"));
    }
    let mut cases = Vec::new();
    for file in case_files(&paths)? {
        cases.push(case::load(&file).map_err(|e| e.to_string())?);
    }
    print!("{}", gradfuzz::bench::run(&cases, graphs));
    Ok(ExitCode::SUCCESS)
}

fn import_command(mut args: Flags) -> Result<ExitCode, String> {
    let mut paths = args.positional()?;
    if paths.len() != 1 {
        return Err("import takes exactly one fuzz artifact".into());
    }
    let path = PathBuf::from(paths.remove(0));
    let bytes =
        std::fs::read(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let limits = gradfuzz::recipe::Limits::default();
    let graph = gradfuzz::recipe::build(&gradfuzz::targets::recipe_from_bytes(&bytes), &limits);
    let stem = path
        .file_stem()
        .map_or("artifact".into(), |s| s.to_string_lossy().into_owned());
    let description = format!(
        "imported by gradfuzz import from the fuzz artifact {} ({} bytes, read as a recipe at the default limits)",
        path.display(),
        bytes.len()
    );
    print_case(format!("imported-{stem}"), description, graph)
}

fn check_command(mut args: Flags) -> Result<ExitCode, String> {
    let engine_name = args.value("--engine")?;
    let timeout = timeout(&mut args)?;
    let format = format(&mut args)?;
    let text = format == Format::Text;
    let mut documents = Vec::new();
    let engine = match &engine_name {
        Some(name) => Some(
            engine::by_name_with_timeout(name, timeout).map_err(|e| format!("--engine: {e}"))?,
        ),
        None => None,
    };
    let paths: Vec<PathBuf> = args.positional()?.into_iter().map(PathBuf::from).collect();
    if paths.is_empty() {
        return Err("check needs at least one case file or folder".into());
    }
    let files = case_files(&paths)?;
    let (mut met, mut unmet, mut invalid) = (0, 0, 0);
    for file in &files {
        match run_case(file, engine.as_deref(), timeout) {
            CaseOutcome::Invalid(error) => {
                invalid += 1;
                if text {
                    println!("INVALID   {}", file.display());
                }
                eprintln!("gradfuzz: {error}");
                documents.push(json::invalid_case(
                    &file.display().to_string(),
                    &error.to_string(),
                ));
            }
            CaseOutcome::EngineFailed(_, error) => {
                invalid += 1;
                let message = format!("the engine failed: {error}");
                if text {
                    println!("ERROR     {}: {message}", file.display());
                }
                eprintln!("gradfuzz: {}: {message}", file.display());
                documents.push(json::invalid_case(&file.display().to_string(), &message));
            }
            CaseOutcome::Checked {
                case,
                engine,
                report,
                met: ok,
            } => {
                documents.push(json::checked_case(
                    &file.display().to_string(),
                    &case,
                    &engine,
                    &report,
                    ok,
                ));
                let outcome = if report.passed() { "pass" } else { "mismatch" };
                let status = if ok { "ok" } else { "UNEXPECTED" };
                if text {
                    println!(
                        "{status:<9} {} ({}: {outcome}, expected {}; {} scalars, engine {engine})",
                        file.display(),
                        case.name,
                        case.expect.name(),
                        report.scalars
                    );
                    if !report.passed() {
                        print!(
                            "{}",
                            report::failing_entries(&case.graph, &report, "          ")
                        );
                    }
                }
                if ok {
                    met += 1;
                } else {
                    unmet += 1;
                }
            }
        }
    }
    if text {
        println!(
            "{} cases: {met} as expected, {unmet} not as expected, {invalid} invalid",
            files.len()
        );
    } else {
        let document = serde_json::json!({
            "command": "check",
            "cases": documents,
            "summary": {"cases": files.len(), "as_expected": met, "not_as_expected": unmet, "invalid": invalid},
        });
        println!("{document:#}");
    }
    Ok(if invalid > 0 {
        ExitCode::from(INVALID)
    } else if unmet > 0 {
        ExitCode::from(MISMATCH)
    } else {
        ExitCode::SUCCESS
    })
}

/// A minimal flag parser: `--name value` or `--name=value`; everything else positional.
struct Flags {
    args: Vec<String>,
}

impl Flags {
    fn new(args: Vec<String>) -> Self {
        Flags { args }
    }

    fn command(&mut self) -> Option<String> {
        (!self.args.is_empty()).then(|| self.args.remove(0))
    }

    /// The value of `--name`, removing it from the arguments.
    fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        let prefix = format!("{name}=");
        let Some(at) = self
            .args
            .iter()
            .position(|a| a == name || a.starts_with(&prefix))
        else {
            return Ok(None);
        };
        let arg = self.args.remove(at);
        let value = if let Some(value) = arg.strip_prefix(&prefix) {
            value.to_string()
        } else if at < self.args.len() {
            self.args.remove(at)
        } else {
            return Err(format!("{name} needs a value"));
        };
        if self
            .args
            .iter()
            .any(|a| a == name || a.starts_with(&prefix))
        {
            return Err(format!("{name} is given twice"));
        }
        Ok(Some(value))
    }

    fn number(&mut self, name: &str) -> Result<Option<u64>, String> {
        self.value(name)?
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("{name} takes a whole number, not `{v}`"))
            })
            .transpose()
    }

    fn seconds(&mut self, name: &str) -> Result<Option<Duration>, String> {
        self.value(name)?
            .map(|v| match v.parse::<f64>() {
                Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
                _ => Err(format!(
                    "{name} takes a positive number of seconds, not `{v}`"
                )),
            })
            .transpose()
    }

    /// The remaining arguments, all positional; an unknown flag is an error.
    fn positional(&mut self) -> Result<Vec<String>, String> {
        if let Some(flag) = self.args.iter().find(|a| a.starts_with("--")) {
            return Err(format!("unknown flag `{flag}`"));
        }
        Ok(std::mem::take(&mut self.args))
    }

    /// Errors on anything left over.
    fn finish(self) -> Result<(), String> {
        match self.args.first() {
            None => Ok(()),
            Some(arg) if arg.starts_with('-') => Err(format!("unknown flag `{arg}`")),
            Some(arg) => Err(format!("unexpected argument `{arg}`")),
        }
    }
}
