//! The `gradfuzz` command line: parses flags and calls the library.

// `print!` and `println!` that end the program quietly, as ripgrep does, when the reader of
// our output has gone away (`gradfuzz fuzz | head`), instead of panicking on the broken
// pipe. (Restoring SIGPIPE's default action instead would also kill us when an exec engine
// dies with our request unread.)
macro_rules! print {
    ($($arg:tt)*) => { $crate::emit(&format!($($arg)*)) };
}
macro_rules! println {
    () => { $crate::emit("\n") };
    ($($arg:tt)*) => { $crate::emit(&format!("{}\n", format_args!($($arg)*))) };
}

mod cli;

use cli::flags::Flags;
use gradfuzz::engine;
use std::process::ExitCode;

const USAGE: &str = "\
gradfuzz: a gradient-checking harness and fuzzer for backpropagation

usage:
  gradfuzz fuzz  [--seed N] [--graphs N | --time SECS] [--max-nodes N] [--max-dim N]
                 [--values normal|wide|extreme] [--engine E] [--jobs N]
                 [--mode full|fast] [--rtol X] [--atol X] [--save DIR] [--shard K/N]
                 [--timeout SECS] [--shrink-candidates N]
  gradfuzz check PATH... [--engine E]      check case files, or folders of them
  gradfuzz shrink FILE [--engine E] [--shrink-candidates N]
                                           the smallest graph that still fails, as YAML
  gradfuzz explain FILE [--engine E]       values, gradients worst first, errors, blame
  gradfuzz import FILE                     a fuzz artifact (raw bytes) as a YAML case
  gradfuzz merge DIR... --into DIR [--dry-run]
                                           several runs' --save folders into one, each bug once
  gradfuzz dot FILE [--engine E]           the graph as Graphviz DOT, the blame highlighted
  gradfuzz bench [PATH...] [--graphs N]    timings on cases/bench (or PATH), and fuzzing rate
  (every command that takes --engine also takes --timeout SECS for exec: engines;
   fuzz, check and explain take --format text|json)
  gradfuzz gen   [--seed N] [--index I] [--max-nodes N] [--max-dim N] [--values V]
                                           one random case (graph I of seed N) as YAML
  gradfuzz engines                         list the engines

exit status: 0 nothing wrong, 1 a mismatch was found, 2 bad usage or invalid input";

/// Exit statuses of the command line contract.
pub const MISMATCH: u8 = 1;
pub const INVALID: u8 = 2;

/// Writes to stdout; a closed stdout ends the program with status 0.
pub fn emit(text: &str) {
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
        "fuzz" => cli::fuzz::run(args),
        "check" => cli::check::run(args),
        "gen" => cli::new_case::generate(args),
        "shrink" => cli::one_case::shrink(args),
        "explain" => cli::one_case::explain(args),
        "import" => cli::new_case::import(args),
        "merge" => cli::merge::run(args),
        "bench" => cli::bench::run(args),
        "dot" => cli::one_case::dot(args),
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
