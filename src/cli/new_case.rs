//! The commands that write a new case: `gen` (a random graph) and `import` (a fuzz
//! artifact).

use super::args::{GenArgs, ImportArgs};
use gradfuzz::case::{self, Case, Expect};
use gradfuzz::fuzz::{FuzzConfig, generation_flags, graph_with};

use std::process::ExitCode;

pub fn generate(args: GenArgs) -> Result<ExitCode, String> {
    let (seed, index) = (args.seed, args.index);
    let limits = args.limits.limits();
    let values = args.limits.values.into();
    let graph = graph_with(seed, index, &limits, values, args.ops);
    let flags = generation_flags(
        &FuzzConfig {
            limits,
            values,
            ..FuzzConfig::default()
        },
        args.ops,
    );
    let description = format!("gradfuzz gen --seed {seed} --index {index}{flags}");
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
        precision: None,
        graph,
        gradients: None,
    };
    out!("{}", case::to_yaml(&case));
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "arbitrary"))]
pub fn import(_args: ImportArgs) -> Result<ExitCode, String> {
    Err("import reads fuzzer bytes as a recipe, which needs gradfuzz built with the `arbitrary` feature (a default feature)".into())
}

#[cfg(feature = "arbitrary")]
pub fn import(args: ImportArgs) -> Result<ExitCode, String> {
    let path = args.file;
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
