//! `gradfuzz merge`: several runs' `--save` folders into one folder of cases, each bug once.

use super::flags::Flags;
use gradfuzz::merge::{Merge, apply, plan};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(mut args: Flags) -> Result<ExitCode, String> {
    let into = args
        .value("--into")?
        .map(PathBuf::from)
        .ok_or("merge needs --into DIR, the folder the cases are merged into")?;
    let dry_run = args.switch("--dry-run");
    let sources: Vec<PathBuf> = args.positional()?.into_iter().map(PathBuf::from).collect();
    if sources.is_empty() {
        return Err("merge takes one or more folders (or files) of saved cases".into());
    }
    let steps = plan(&sources, &into).map_err(|e| e.to_string())?;
    if !dry_run {
        apply(&steps, &into).map_err(|e| e.to_string())?;
    }
    let (mut new, mut known, mut duplicate) = (0, 0, 0);
    for step in &steps {
        match step {
            Merge::New { from, to } => {
                new += 1;
                println!("new        {} (from {})", to.display(), from.display());
            }
            Merge::Known { from, name } => {
                known += 1;
                println!(
                    "known      {} (`{name}` is in {})",
                    from.display(),
                    into.display()
                );
            }
            Merge::Duplicate { from, first } => {
                duplicate += 1;
                println!(
                    "duplicate  {} (the same as {})",
                    from.display(),
                    first.display()
                );
            }
        }
    }
    let verb = if dry_run { "would add" } else { "added" };
    println!(
        "{} files: {verb} {new} new, {known} already known, {duplicate} duplicates",
        steps.len()
    );
    Ok(ExitCode::SUCCESS)
}
