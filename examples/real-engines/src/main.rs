//! Runs gradfuzz against third-party autodiff libraries through `gradfuzz::Engine` adapters,
//! as a user of those libraries would write them (`candle_engine.rs`, `burn_engine.rs`).
//!
//! ```text
//! gradfuzz-real-engines ENGINE [--precision f64|f32] [--seed N] [--graphs N]
//!                       [--values normal|wide|extreme] [--max-nodes N] [--max-dim N]
//!                       [--ops LIST] [--jobs N] [--save DIR]
//! gradfuzz-real-engines ENGINE --case FILE [--write FILE]
//! ENGINE: candle, burn-ndarray, burn-flex
//! ```
//!
//! The first form fuzzes (the report of `gradfuzz fuzz`, exit 1 on a failure; `--save`
//! writes each failure as a case with the engine's claimed gradients, which `gradfuzz check`
//! replays without the engine). The second checks one case file with the engine, and
//! `--write` saves the case with the engine's gradients as `gradients:`. Each engine computes
//! the four gates and `relu` (the library's own) on vectors; `--ops` picks among them (the
//! four gates by default, `--ops add,matvec,sigmoid,sqerr,relu` for relu too).

mod burn_engine;
mod candle_engine;

use gradfuzz::check::{Tolerance, check};
use gradfuzz::fuzz::{self, Budget, FuzzConfig, diagnose, fuzz};
use gradfuzz::generate::ValueMode;
use gradfuzz::op::GateSet;
use gradfuzz::recipe::Limits;
use gradfuzz::{Engine, Precision, case, engine, report};
use std::path::PathBuf;
use std::process::ExitCode;

fn engine_for(name: &str, precision: Precision) -> Result<Box<dyn Engine>, String> {
    if !matches!(precision, Precision::F64 | Precision::F32) {
        return Err(format!(
            "--precision takes f64 or f32 here, not {precision}"
        ));
    }
    Ok(match name {
        "candle" => Box::new(candle_engine::Candle { precision }),
        "burn-ndarray" => Box::new(burn_engine::Burn {
            backend: burn_engine::Backend::NdArray,
            precision,
        }),
        "burn-flex" => Box::new(burn_engine::Burn {
            backend: burn_engine::Backend::Flex,
            precision,
        }),
        other => {
            return Err(format!(
                "unknown engine `{other}` (candle, burn-ndarray, burn-flex)"
            ));
        }
    })
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("gradfuzz-real-engines: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(mut args: Vec<String>) -> Result<ExitCode, String> {
    let mut flag = |name: &str| -> Result<Option<String>, String> {
        let Some(at) = args.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if at + 1 >= args.len() {
            return Err(format!("{name} needs a value"));
        }
        let value = args.remove(at + 1);
        args.remove(at);
        Ok(Some(value))
    };
    let number = |value: Option<String>, name: &str| -> Result<Option<u64>, String> {
        value
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("{name} takes a whole number, not `{v}`"))
            })
            .transpose()
    };
    let precision: Precision = flag("--precision")?
        .map(|p| p.parse().map_err(|e| format!("--precision: {e}")))
        .transpose()?
        .unwrap_or(Precision::F64);
    let case_file = flag("--case")?.map(PathBuf::from);
    let write = flag("--write")?.map(PathBuf::from);
    let save = flag("--save")?.map(PathBuf::from);
    let defaults = FuzzConfig::default();
    let seed = number(flag("--seed")?, "--seed")?.unwrap_or(0);
    let graphs = number(flag("--graphs")?, "--graphs")?.unwrap_or(10_000);
    let jobs = number(flag("--jobs")?, "--jobs")?.map_or(defaults.jobs, |n| n.max(1) as usize);
    let limits = Limits {
        max_nodes: number(flag("--max-nodes")?, "--max-nodes")?
            .map_or(Limits::default().max_nodes, |n| n as usize),
        max_dim: number(flag("--max-dim")?, "--max-dim")?
            .map_or(Limits::default().max_dim, |n| n as usize),
        ..Limits::default()
    };
    let ops = match flag("--ops")? {
        None => GateSet::LECTURE,
        Some(list) => GateSet::parse(&list).map_err(|e| format!("--ops: {e}"))?,
    };
    let values = match flag("--values")? {
        None => ValueMode::Normal,
        Some(v) => ValueMode::by_name(&v).ok_or(format!("--values: unknown `{v}`"))?,
    };
    let [name] = args.as_slice() else {
        return Err(format!(
            "one engine expected, got {args:?} (candle, burn-ndarray, burn-flex)"
        ));
    };
    let engine = engine_for(name, precision)?;

    if let Some(path) = case_file {
        let mut case = case::load(&path).map_err(|e| e.to_string())?;
        let engine = engine::declared(engine, case.precision);
        let report = check(engine.as_ref(), &case.graph, &Tolerance::default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        print!("{}", report::failing_entries(&case.graph, &report, "  "));
        println!(
            "{}: {} with {}",
            path.display(),
            if report.passed() { "PASS" } else { "FAIL" },
            engine.name()
        );
        if let Some(out) = write {
            let graph =
                engine::rounded_for(engine.as_ref(), &case.graph).map_err(|e| e.to_string())?;
            case.gradients =
                Some(engine::answer(engine.as_ref(), &graph).map_err(|e| e.to_string())?);
            case.engine = None;
            std::fs::write(&out, case::to_yaml(&case))
                .map_err(|e| format!("{}: cannot write: {e}", out.display()))?;
            println!(
                "wrote {} with the gradients of {}",
                out.display(),
                engine.name()
            );
        }
        return Ok(if report.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }

    let config = FuzzConfig {
        seed,
        budget: Budget::Graphs(graphs),
        limits,
        values,
        jobs,
        ops,
        ..defaults
    };
    let mut summary = fuzz(engine.as_ref(), &config);
    let throughput = report::throughput(&summary);
    diagnose(engine.as_ref(), &config, &mut summary);
    print!("{}", report::fuzz_text(&engine.name(), &config, &summary));
    eprintln!("{throughput}");
    if let Some(dir) = save {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (case, _) in fuzz::cases_to_save(&summary, &engine.name(), &config) {
            let path = dir.join(format!("{}.yaml", case.name));
            std::fs::write(&path, case::to_yaml(&case))
                .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
            println!("saved {}", path.display());
        }
    }
    Ok(if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
