//! The `gradfuzz` command line: parses flags and calls the library.

// `out!` and `outln!` print to stdout as `print!` and `println!` do, but end the program
// quietly, as ripgrep does, when the reader of our output has gone away (`gradfuzz fuzz |
// head`), instead of panicking on the broken pipe. (Restoring SIGPIPE's default action instead
// would also kill us when an exec engine dies with our request unread.) Every command writes
// stdout through them.
macro_rules! out {
    ($($arg:tt)*) => { $crate::emit(&format!($($arg)*)) };
}
macro_rules! outln {
    () => { $crate::emit("\n") };
    ($($arg:tt)*) => { $crate::emit(&format!("{}\n", format_args!($($arg)*))) };
}

mod cli;

use clap::{CommandFactory, Parser};
use cli::args::{Cli, Command};
use gradfuzz::engine;
use std::process::ExitCode;

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
    // A usage error exits with status 2 naming the flag (clap's convention is ours);
    // --help and --version exit 0.
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("gradfuzz: {message}");
            ExitCode::from(INVALID)
        }
    }
}

fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Fuzz(args) => cli::fuzz::run(args),
        Command::Check(args) => cli::check::run(args),
        Command::Gen(args) => cli::new_case::generate(args),
        Command::Shrink(args) => cli::one_case::shrink(args),
        Command::Explain(args) => cli::one_case::explain(args),
        Command::Import(args) => cli::new_case::import(args),
        Command::Merge(args) => cli::merge::run(args),
        Command::Bench(args) => cli::bench::run(args),
        Command::Dot(args) => cli::one_case::dot(args),
        Command::Gates(args) => cli::gates::run(args),
        Command::Engines => {
            for (name, about) in engine::catalogue() {
                outln!("{name:<28} {about}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(args) => {
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "gradfuzz", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Ok(ExitCode::SUCCESS)
        }
    }
}
