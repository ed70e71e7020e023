//! `gradfuzz fuzz`: many random graphs, a summary, progress on a terminal.

use super::args::{FuzzArgs, ReportFormat};
use crate::{INVALID, MISMATCH};
use gradfuzz::case;
use gradfuzz::engine;
use gradfuzz::fuzz::{
    Budget, FuzzConfig, Progress, SavedAs, SavedFiles, cases_to_save, diagnose, fuzz_with_progress,
};
use gradfuzz::report;
use gradfuzz::tolerance::Tolerance;
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

pub fn run(args: FuzzArgs) -> Result<ExitCode, String> {
    let defaults = FuzzConfig::default();
    let budget = match (args.graphs, args.time) {
        (Some(n), _) => Budget::Graphs(n),
        (None, Some(t)) => Budget::Time(t),
        (None, None) => defaults.budget,
    };
    let engine = args.talk.declare(
        engine::by_name_with_timeout(&args.engine, args.talk.timeout)
            .map_err(|e| format!("--engine: {e}"))?,
    );
    let format = args.format.format;
    let save = args.save;
    let config = FuzzConfig {
        seed: args.seed,
        budget,
        limits: args.limits.limits(),
        values: args.limits.values.into(),
        tolerance: Tolerance {
            rtol: args.rtol,
            atol: args.atol,
        },
        jobs: args.jobs.unwrap_or(defaults.jobs),
        shard: args.shard.unwrap_or(defaults.shard),
        mode: args.mode.into(),
        shrink_candidates: args.shrink.shrink_candidates,
        ops: args.ops,
        ..defaults
    };
    let gates = config.gates_for(engine.as_ref());
    if !gates.contains(gradfuzz::GateKind::Sqerr) {
        return Err(format!(
            "--ops {}: random graphs end in an sqerr loss, and of these gates the engine {} computes only {gates}",
            args.ops,
            engine.name()
        ));
    }
    let progress = &PROGRESS;
    let done = std::sync::atomic::AtomicBool::new(false);
    stop_on_signals();
    let mut summary = std::thread::scope(|scope| {
        let (finished, finished_rx) = std::sync::mpsc::channel();
        if show_progress() {
            scope.spawn(|| progress_display(&config, progress, &done));
        } else {
            let config = &config;
            scope.spawn(move || slow_run_note(config, progress, finished_rx));
        }
        let summary = fuzz_with_progress(engine.as_ref(), &config, progress);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(finished);
        summary
    });
    let signal = SIGNAL.load(std::sync::atomic::Ordering::Relaxed);
    if summary.interrupted {
        eprintln!(
            "gradfuzz: {}: reporting the {} graphs checked (blaming and shrinking what failed; the same signal again ends at once)",
            signal_name(signal),
            summary.graphs
        );
    }
    // Timed before diagnosis, so that the figure is the checking rate alone.
    let throughput = report::throughput(&summary);
    diagnose(engine.as_ref(), &config, &mut summary);
    if args.save_claims {
        gradfuzz::fuzz::keep_claims(engine.as_ref(), &mut summary);
    }
    // The cases are written before the report, so that it can name the file that stands
    // for each failing graph; a file that cannot be written is said after the report, which
    // is printed whatever happens.
    let mut saved = SavedFiles::new();
    let mut save_lines = Vec::new();
    let mut save_error = None;
    if let Some(dir) = save {
        match std::fs::create_dir_all(&dir) {
            Err(e) => save_error = Some(format!("--save {}: cannot create: {e}", dir.display())),
            Ok(()) => {
                for (case, indices) in &cases_to_save(&summary, &engine.name(), &config) {
                    let format = case::CaseFormat::from(args.save_format);
                    let path = dir.join(format!("{}.{}", case.name, format.extension()));
                    let claimed_without_engine = case.gradients.is_some() && case.engine.is_none();
                    // The engine stays on record, where `check` will not run it: a comment in
                    // YAML, the end of the description in JSON (which has no comments).
                    let note = format!(
                        "claimed by engine: {} (the gradients below are its answer; \
                         `gradfuzz check` replays them without it)",
                        engine.name()
                    );
                    let yaml = match format {
                        case::CaseFormat::Yaml if claimed_without_engine => {
                            format!("# {note}\n{}", case::to_yaml(case))
                        }
                        case::CaseFormat::Json if claimed_without_engine => {
                            let mut described = case.clone();
                            described.description = Some(match &case.description {
                                Some(description) => format!("{description}; {note}"),
                                None => note,
                            });
                            case::to_json(&described)
                        }
                        _ => format.write(case),
                    };
                    if let Err(e) = std::fs::write(&path, yaml) {
                        save_error = Some(format!("--save: cannot write {}: {e}", path.display()));
                        break;
                    }
                    for &index in indices {
                        saved.insert(
                            index,
                            SavedAs {
                                file: path.display().to_string(),
                                kept: indices[0],
                            },
                        );
                    }
                    let also = match &indices[1..] {
                        [] => String::new(),
                        [one] => format!(
                            " (holds graph {}'s case; graph {one} shrank to it too)",
                            indices[0]
                        ),
                        more => format!(
                            " (holds graph {}'s case; {} more failing graphs shrank to it)",
                            indices[0],
                            more.len()
                        ),
                    };
                    save_lines.push(format!("saved {}{also}", path.display()));
                }
            }
        }
    }
    match format {
        ReportFormat::Text => out!(
            "{}",
            report::fuzz_text_saved(&engine.name(), &config, &summary, &saved)
        ),
        ReportFormat::Json => outln!(
            "{:#}",
            super::json::fuzz(&engine.name(), &config, &summary, &saved)
        ),
        ReportFormat::Junit => out!("{}", super::junit::fuzz(&engine.name(), &config, &summary)),
    }
    eprintln!("{throughput}");
    if let Some((index, error)) = &summary.stopped_by {
        eprintln!("gradfuzz: stopped at graph {index}: {error}");
    }
    for line in save_lines {
        // Only the text report has room for these lines; the others are documents.
        match format {
            ReportFormat::Text => outln!("{line}"),
            ReportFormat::Json | ReportFormat::Junit => eprintln!("{line}"),
        }
    }
    if let Some(error) = save_error {
        return Err(error);
    }
    Ok(if summary.stopped_by.is_some() {
        ExitCode::from(INVALID)
    } else if !summary.passed() {
        ExitCode::from(MISMATCH)
    } else if summary.interrupted {
        // The shell's convention for a program ended by a signal: the run did not finish.
        ExitCode::from(128 + signal.clamp(1, 127) as u8)
    } else {
        ExitCode::SUCCESS
    })
}

/// The run's counters, static so that the signal handler can ask the run to stop.
static PROGRESS: Progress = Progress::new();
/// The signal that stopped the run (0: none).
static SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

#[cfg(unix)]
extern "C" fn request_stop(signal: libc::c_int) {
    // Only atomic stores: all a signal handler may safely do.
    SIGNAL.store(signal, std::sync::atomic::Ordering::Relaxed);
    PROGRESS
        .stop_requested
        .store(true, std::sync::atomic::Ordering::Relaxed);
}

/// SIGINT and SIGTERM stop the run after the graphs in hand, and the report of what was
/// checked is printed (nothing found is lost). The handler is reset to the default once it
/// has run, so a second signal ends the program at once, during blame and shrinking too.
#[cfg(unix)]
fn stop_on_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only stores to atomics.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = request_stop as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Elsewhere a run cannot be stopped with its report (Ctrl-C ends it at once).
#[cfg(not(unix))]
fn stop_on_signals() {}

fn signal_name(signal: i32) -> &'static str {
    #[cfg(unix)]
    match signal {
        libc::SIGINT => return "interrupted (SIGINT)",
        libc::SIGTERM => return "terminated (SIGTERM)",
        _ => {}
    }
    let _ = signal;
    "stopped by a signal"
}

/// Progress goes to stderr only when a person is watching it: a terminal, outside CI.
fn show_progress() -> bool {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
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
        let hint = match long_run(config, graphs, elapsed) {
            Some(_) => " (--time SECS bounds the run)",
            None => "",
        };
        eprint!(
            "\r\x1b[2Kgradfuzz: {graphs} graphs, {rate:.0}/s, {failing} failing, {} left{hint}",
            duration(left)
        );
    }
    eprint!("\r\x1b[2K");
}

/// How long a run of a graph budget will take at the rate so far, once a few seconds have
/// shown the rate, when that is more than ten minutes: a slow engine (one that compiles a
/// kernel per graph checks a few dozen graphs a second) meets the default of 100,000 graphs.
fn long_run(config: &FuzzConfig, graphs: u64, elapsed: f64) -> Option<f64> {
    let Budget::Graphs(budget) = config.budget else {
        return None;
    };
    if elapsed < 5.0 || graphs == 0 {
        return None;
    }
    let total = elapsed * budget as f64 / graphs as f64;
    (total > 600.0).then_some(total)
}

/// Seconds as people read them: `42 s`, `17 min`, `2.3 h`.
fn duration(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// Off a terminal there is no progress line: a run that will take long says so once, on
/// stderr, after ten seconds, with the flag that bounds it (`finished` ends the wait: it is
/// dropped when the run is done).
fn slow_run_note(config: &FuzzConfig, progress: &Progress, finished: Receiver<()>) {
    let wait = Duration::from_secs(10);
    if finished.recv_timeout(wait) != Err(RecvTimeoutError::Timeout) {
        return;
    }
    let graphs = progress.graphs.load(std::sync::atomic::Ordering::Relaxed);
    let elapsed = wait.as_secs_f64();
    if let (Some(total), Budget::Graphs(budget)) =
        (long_run(config, graphs, elapsed), config.budget)
    {
        eprintln!(
            "gradfuzz: {graphs} graphs in {elapsed:.0} s: the {budget} graphs asked will take about {} \
             at this rate (--graphs N or --time SECS bounds the run; a stopped run still reports)",
            duration(total)
        );
    }
}
