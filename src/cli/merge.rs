//! `gradfuzz merge`: several runs' `--save` folders into one folder of cases, each bug once.

use super::args::MergeArgs;
use super::saved::{Merge, apply, plan};
use std::process::ExitCode;

pub fn run(args: MergeArgs) -> Result<ExitCode, String> {
    let MergeArgs {
        sources,
        into,
        dry_run,
    } = args;
    let steps = plan(&sources, &into).map_err(|e| e.to_string())?;
    if !dry_run {
        apply(&steps, &into).map_err(|e| e.to_string())?;
    }
    let (mut new, mut known, mut duplicate) = (0, 0, 0);
    for step in &steps {
        match step {
            Merge::New { from, to } => {
                new += 1;
                outln!("new        {} (from {})", to.display(), from.display());
            }
            Merge::Known { from, name } => {
                known += 1;
                outln!(
                    "known      {} (`{name}` is in {})",
                    from.display(),
                    into.display()
                );
            }
            Merge::Duplicate { from, first } => {
                duplicate += 1;
                outln!(
                    "duplicate  {} (the same as {})",
                    from.display(),
                    first.display()
                );
            }
        }
    }
    let verb = if dry_run { "would add" } else { "added" };
    outln!(
        "{} files: {verb} {new} new, {known} already known, {duplicate} duplicates",
        steps.len()
    );
    Ok(ExitCode::SUCCESS)
}
