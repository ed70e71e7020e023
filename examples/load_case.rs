//! Loads case files and says what they hold, without checking them: the load alone, for
//! measuring its time and peak memory (`/usr/bin/time -v cargo run --release --example
//! load_case -- FILE`) apart from the check's.

use std::time::Instant;

fn main() {
    let mut status = 0;
    for path in std::env::args_os().skip(1) {
        let path = std::path::PathBuf::from(path);
        let start = Instant::now();
        match gradfuzz::case::load(&path) {
            Ok(case) => {
                let numbers: usize = case
                    .graph
                    .operations()
                    .filter_map(|(_, op)| match op {
                        gradfuzz::op::Operation::Leaf(_, value) => Some(value.len()),
                        _ => None,
                    })
                    .sum();
                let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                let seconds = start.elapsed().as_secs_f64();
                println!(
                    "{}: {numbers} numbers in the leaves, {bytes} bytes, loaded in {seconds:.3} s ({:.0} MB/s)",
                    path.display(),
                    bytes as f64 / seconds / 1e6
                );
            }
            Err(e) => {
                eprintln!("{e}");
                status = 2;
            }
        }
    }
    std::process::exit(status);
}
