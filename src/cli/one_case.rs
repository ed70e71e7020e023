//! The commands on one case file: `shrink`, `explain` and `dot`.

use super::args::{CaseEngineArgs, DotArgs, ExplainArgs, Format, ShrinkArgs};
use super::json;
use crate::MISMATCH;
use gradfuzz::blame::blame;
use gradfuzz::case::{self, Case, Expect};
use gradfuzz::check::check_with_entries;
use gradfuzz::engine::Engine;
use gradfuzz::report;
use gradfuzz::shrink::Shrinker;
use std::path::Path;
use std::process::ExitCode;

/// A case file and the engine to check it with (see [`Case::engine_for`]).
fn case_and_engine(path: &Path, args: &CaseEngineArgs) -> Result<(Case, Box<dyn Engine>), String> {
    let case = case::load(path).map_err(|e| e.to_string())?;
    let engine = case
        .engine_for(
            args.engine.as_deref(),
            args.talk.timeout,
            args.talk.precision,
        )
        .map_err(|e| format!("--engine: {e}"))?;
    Ok((
        case,
        gradfuzz::engine::declared_gates(engine, args.talk.gates),
    ))
}

pub fn shrink(args: ShrinkArgs) -> Result<ExitCode, String> {
    let budget = args.shrink.shrink_candidates;
    let path = &args.file;
    let (case, engine) = case_and_engine(path, &args.engine)?;
    if !engine.answers_any_graph() {
        return Err(format!(
            "{}: claimed gradients belong to this graph only, so a smaller graph cannot be \
             checked against them; give --engine",
            path.display()
        ));
    }
    let tolerance = case.tolerance.unwrap_or_default();
    let Some(shrinker) = Shrinker::for_failure(engine.as_ref(), &case.graph, &tolerance) else {
        eprintln!(
            "gradfuzz: {}: passes with engine {}: nothing to shrink",
            path.display(),
            engine.name()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let mut shrinker = shrinker.with_budget(budget);
    let graph = shrinker.shrink_graph(&case.graph);
    let blame = blame(engine.as_ref(), &graph, &tolerance).map_err(|e| e.to_string())?;
    let spent = if shrinker.budget_spent() {
        " (the budget, --shrink-candidates, ran out: a larger one may shrink further)"
    } else {
        ""
    };
    eprintln!(
        "shrunk {} from {} to {} nodes (largest dim {} to {}) in {} candidate checks{spent}; blame: {}",
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
    out!("{}", case::to_yaml(&shrunk));
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
    // Claimed gradients cannot be asked about the small graphs blame checks.
    let blame = match report.passed() || !engine.answers_any_graph() {
        true => None,
        false => Some(blame(engine, &case.graph, &tolerance).map_err(failed)?),
    };
    Ok((report, entries, blame))
}

pub fn explain(args: ExplainArgs) -> Result<ExitCode, String> {
    let (case, engine) = case_and_engine(&args.file, &args.engine)?;
    let (report, entries, blame) = check_and_blame(engine.as_ref(), &case)?;
    let (graph, name) = (&case.graph, engine.name());
    match args.format {
        Format::Text => {
            out!(
                "{}",
                report::explain_text(graph, &name, &report, &entries, blame.as_ref())
            );
            if !report.passed() && !engine.answers_any_graph() {
                outln!(
                    "blame: none: claimed gradients answer for this graph only; give --engine \
                     to blame an engine's rules"
                );
            }
        }
        Format::Json => outln!(
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

pub fn dot(args: DotArgs) -> Result<ExitCode, String> {
    let (case, engine) = case_and_engine(&args.file, &args.engine)?;
    let (report, _, blame) = check_and_blame(engine.as_ref(), &case)?;
    let failure = blame.as_ref().map(|b| (&report, b));
    out!("{}", super::dot::dot(&case.graph, &case.name, failure));
    Ok(ExitCode::SUCCESS)
}
