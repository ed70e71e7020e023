//! The exec protocol: an engine in another language, and every way such a program can
//! misbehave (each a clear message, exit 2, the report so far, no process left behind).

mod common;

use common::{gradfuzz, outcome, saved_names, scratch};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether python3 can import `module`. Where it cannot, the test that asked is skipped with
/// a message, or fails when `GRADFUZZ_REQUIRE_PYTHON` is set (CI sets it, after installing
/// what these tests need, so that a missing package is a red run and not a silent pass).
fn python_has(module: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let message = format!("python3 with {module} is not installed");
        assert!(
            std::env::var_os("GRADFUZZ_REQUIRE_PYTHON").is_none(),
            "{message}, and GRADFUZZ_REQUIRE_PYTHON is set"
        );
        eprintln!("SKIPPED: {message}");
    }
    found
}

fn has_numpy() -> bool {
    python_has("numpy")
}

fn numpy_engine() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/engines/numpy_engine.py");
    format!("exec:python3 {}", script.display())
}

#[test]
fn the_numpy_engine_passes_and_with_its_bug_is_caught_shrunk_and_blamed() {
    if !has_numpy() {
        return;
    }
    let engine = numpy_engine();
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "fuzz", "--engine", &engine, "--seed", "3", "--graphs", "500",
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("result:       PASS"), "{stdout}");
    let buggy = format!("{engine} --bug matvec-no-transpose");
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "fuzz", "--engine", &buggy, "--seed", "3", "--graphs", "500",
    ]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("blame: the `matvec` rule"), "{stdout}");
    assert!(stdout.contains("shrunk to"), "{stdout}");
}

/// An engine that declares itself needs no `--precision`: the numpy engine in float32 says
/// `f32` in answer to the hello, passes, and its saved cases are named for its short name; the
/// flag still overrides the declaration, with a note saying so.
#[test]
fn an_engine_declares_its_precision_and_name_in_answer_to_the_hello() {
    if !has_numpy() {
        return;
    }
    let single = format!("{} --dtype float32", numpy_engine());
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "fuzz", "--engine", &single, "--seed", "3", "--graphs", "500", "--values", "wide",
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("in f32, seed 3"), "{stdout}");
    let dir = scratch("declared");
    let saved = dir.join("saved");
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "fuzz",
        "--engine",
        &single,
        "--seed",
        "3",
        "--graphs",
        "100",
        "--precision",
        "f64",
        "--save",
        saved.to_str().expect("utf-8"),
    ]));
    assert_eq!(
        code, 1,
        "held to f64, a float32 engine fails: {stdout}{stderr}"
    );
    assert!(
        stderr.contains("--precision f64: checking exec:")
            && stderr.contains("where it declares f32"),
        "{stderr}"
    );
    let names = saved_names(&saved);
    assert!(
        !names.is_empty()
            && names
                .iter()
                .all(|n| n.starts_with("numpy-f32-") && n.len() < 50),
        "{names:?}"
    );
}

/// A program written before the hello answers it as the graph it also is: it is then taken
/// to compute the four gates in f64, as always (here the numpy engine behind a filter that
/// drops the `hello` key, so that it cannot know).
#[test]
fn an_engine_written_before_the_hello_keeps_working() {
    if !has_numpy() {
        return;
    }
    let dir = scratch("before-hello");
    let filter = "import json,sys\nfor l in sys.stdin:\n    r=json.loads(l); r.pop('hello', None); print(json.dumps(r), flush=True)";
    let script = |dtype: &str| {
        format!(
            "python3 -u -c \"{filter}\" | python3 {} --dtype {dtype}\n",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/engines/numpy_engine.py")
                .display()
        )
    };
    let old = fault(&dir, "old64", &script("float64"));
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "fuzz", "--engine", &old, "--seed", "3", "--graphs", "300",
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stderr.contains("declares"), "{stderr}");
    // Undeclared, a float32 engine is held to f64 and fails, unless told `--precision f32`.
    let old = fault(&dir, "old32", &script("float32"));
    let run = |more: &[&str]| {
        let mut args = vec!["fuzz", "--engine", &old, "--seed", "3", "--graphs", "300"];
        args.extend_from_slice(more);
        outcome(&gradfuzz(&args))
    };
    assert_eq!(run(&[]).0, 1);
    let (code, stdout, stderr) = run(&["--precision", "f32"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        !stderr.contains("declares"),
        "no declaration to override: {stderr}"
    );
}

#[test]
fn a_declaration_that_is_wrong_is_refused_naming_what() {
    let dir = scratch("bad-declaration");
    for (name, declared, words) in [
        (
            "typo",
            r#"{"engine": {"precison": "f32"}}"#,
            &["answered the hello", "`precison`"][..],
        ),
        (
            "precision",
            r#"{"engine": {"precision": "f33"}}"#,
            &["unknown precision `f33`"][..],
        ),
        (
            "gates",
            r#"{"engine": {"gates": ["add", "tahn"]}}"#,
            &["unknown gate `tahn`"][..],
        ),
        (
            "name",
            r#"{"engine": {"name": ""}}"#,
            &["1 to 64 characters"][..],
        ),
    ] {
        let script =
            format!("read line\necho '{declared}'\nwhile read line; do echo '{{}}'; done\n");
        assert_fault(&fault(&dir, name, &script), words);
    }
}

/// NaN failures from an exec engine in f32 are blamed and shrunk, and saved as one case:
/// the numpy engine's composed sigmoid slope, inf/inf where exp(−s) overflows.
#[test]
fn nan_failures_of_an_f32_engine_are_blamed_shrunk_and_saved_once() {
    if !has_numpy() {
        return;
    }
    let dir = scratch("nan-blamed");
    let save = dir.join("saved");
    let engine = format!("{} --bug sigmoid-composed --dtype float32", numpy_engine());
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "fuzz",
        "--engine",
        &engine,
        "--seed",
        "1",
        "--graphs",
        "3000",
        "--values",
        "wide",
        "--save",
        save.to_str().expect("utf-8"),
    ]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("non-finite entries"), "{stdout}");
    let names = saved_names(&save);
    assert_eq!(
        names,
        ["numpy-f32-sigmoid-composed-sigmoid-9df08fa16b51d184.yaml"],
        "{stdout}"
    );
}

/// `--save-claims` writes the engine's gradients into the saved case, with the engine as a
/// comment: the case replays, and still fails, with no engine at all.
#[test]
fn save_claims_writes_the_engines_gradients_and_the_case_replays_without_it() {
    if !has_numpy() {
        return;
    }
    let dir = scratch("save-claims");
    let save = dir.join("saved");
    let engine = format!("{} --bug matvec-no-transpose", numpy_engine());
    let (code, stdout, stderr) = outcome(&gradfuzz(&[
        "fuzz",
        "--engine",
        &engine,
        "--seed",
        "3",
        "--graphs",
        "500",
        "--save",
        save.to_str().expect("utf-8"),
        "--save-claims",
    ]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let names = saved_names(&save);
    assert!(!names.is_empty(), "{stdout}");
    for name in &names {
        let text = std::fs::read_to_string(save.join(name)).expect("saved case");
        assert!(text.starts_with("# claimed by engine: exec:"), "{text}");
        assert!(
            text.contains("\ngradients:\n") && !text.contains("\nengine:"),
            "{text}"
        );
    }
    let (code, stdout, stderr) = outcome(&gradfuzz(&["check", save.to_str().expect("utf-8")]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("engine claimed"), "{stdout}");
    assert!(stdout.contains("0 not as expected"), "{stdout}");
}

/// A fault program as a shell script in a scratch folder; returns `exec:sh SCRIPT`.
fn fault(dir: &Path, name: &str, script: &str) -> String {
    let path = dir.join(format!("{name}.sh"));
    std::fs::write(&path, script).expect("write the fault script");
    format!("exec:sh {}", path.display())
}

fn run_fault(engine: &str) -> (i32, String, String) {
    outcome(&gradfuzz(&[
        "fuzz",
        "--engine",
        engine,
        "--seed",
        "1",
        "--graphs",
        "50",
        "--jobs",
        "1",
        "--timeout",
        "2",
    ]))
}

fn assert_fault(engine: &str, words: &[&str]) -> String {
    let (code, stdout, stderr) = run_fault(engine);
    assert_eq!(code, 2, "{engine}: {stdout}{stderr}");
    assert!(
        stdout.contains("result:       STOPPED"),
        "{engine}: the report is still printed: {stdout}"
    );
    for word in words {
        assert!(
            stderr.contains(word),
            "{engine}: `{word}` missing from {stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    stdout
}

#[test]
fn a_program_that_cannot_start() {
    assert_fault(
        "exec:/no/such/engine --flag",
        &["/no/such/engine", "127", "not found"],
    );
    // Checking a case of batches, the message is that it cannot start, not that it lacks
    // the gates a program that never answered could not declare.
    let (code, _, stderr) = outcome(&gradfuzz(&[
        "check",
        "cases/bench/mlp-batch-64.yaml",
        "--engine",
        "exec:/no/such/engine",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("not found") && !stderr.contains("does not declare"),
        "{stderr}"
    );
}

#[test]
fn a_program_that_exits_after_a_few_graphs_keeps_what_was_checked() {
    if !has_numpy() {
        return;
    }
    let dir = scratch("exits");
    // Answers the hello and three graphs (one engine process each), then exits with status 3.
    let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/engines/numpy_engine.py");
    let script = format!(
        "i=0\nwhile read line; do\n  i=$((i+1))\n  [ $i -gt 4 ] && exit 3\n  echo \"$line\" | python3 {}\ndone\n",
        engine.display()
    );
    let stdout = assert_fault(
        &fault(&dir, "exits", &script),
        &["closed its output", "exit status: 3", "graph 3"],
    );
    assert!(
        stdout.contains("graphs:       3"),
        "the three graphs answered are reported: {stdout}"
    );
}

#[test]
fn a_program_that_crashes() {
    let dir = scratch("crash");
    assert_fault(
        &fault(
            &dir,
            "crash",
            "read line\necho 'about to crash' >&2\nkill -SEGV $$\n",
        ),
        &["closed its output", "about to crash"],
    );
}

#[test]
fn a_program_that_hangs_is_timed_out_and_killed_with_what_it_started() {
    let dir = scratch("hang");
    let pid_file = dir.join("sleeper.pid");
    let script = format!("sleep 300 &\necho $! > {}\nsleep 300\n", pid_file.display());
    assert_fault(
        &fault(&dir, "hang", &script),
        &["no first answer within 12 s", "--timeout"],
    );
    let pid = std::fs::read_to_string(&pid_file).expect("the script wrote its sleeper's pid");
    let alive = PathBuf::from(format!("/proc/{}", pid.trim()));
    // The kill is synchronous for the group leader; give the kernel a moment for the rest.
    for _ in 0..50 {
        if !alive.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let zombie = std::fs::read_to_string(alive.join("stat")).is_ok_and(|s| s.contains(") Z "));
    assert!(
        !alive.exists() || zombie,
        "the program's own child {} was left running",
        pid.trim()
    );
}

#[test]
fn a_program_that_writes_garbage() {
    let dir = scratch("garbage");
    assert_fault(
        &fault(
            &dir,
            "garbage",
            "while read line; do echo 'hello there'; done\n",
        ),
        &["not JSON", "hello there"],
    );
}

#[test]
fn a_program_that_reports_an_error() {
    let dir = scratch("error");
    assert_fault(
        &fault(
            &dir,
            "error",
            "while read line; do echo '{\"error\": \"out of memory\"}'; done\n",
        ),
        &["reported an error", "out of memory"],
    );
}

#[test]
fn a_program_that_answers_for_the_wrong_leaves() {
    let dir = scratch("leaves");
    assert_fault(
        &fault(
            &dir,
            "missing",
            "while read line; do echo '{\"gradients\": {}}'; done\n",
        ),
        &["answer: no gradient for leaf `x0`"],
    );
    assert_fault(
        &fault(
            &dir,
            "unknown",
            "while read line; do echo '{\"gradients\": {\"zz\": [1]}}'; done\n",
        ),
        &["`zz`", "not a node"],
    );
}

#[test]
fn a_program_that_answers_with_wrong_shapes_or_a_loss_that_is_not_a_number() {
    // Graph 0 of seed 1 starts with x0, an input of length 4.
    let dir = scratch("shapes");
    assert_fault(
        &fault(
            &dir,
            "shape",
            "while read line; do echo '{\"gradients\": {\"x0\": [1, 2]}}'; done\n",
        ),
        &["`x0`", "2 entries where 4 are needed"],
    );
    assert_fault(
        &fault(
            &dir,
            "loss",
            "while read line; do echo '{\"gradients\": {\"x0\": [1, 1, 1, 1]}, \"loss\": \"big\"}'; done\n",
        ),
        &["loss"],
    );
}

#[test]
fn a_wrong_loss_is_a_forward_mismatch() {
    if !has_numpy() {
        return;
    }
    // The numpy engine's answer with its loss doubled.
    let dir = scratch("loss");
    let script = format!(
        "python3 {} | python3 -c \"import json,sys\nfor l in sys.stdin:\n    a=json.loads(l)\n    if 'loss' in a: a['loss']*=2\n    print(json.dumps(a), flush=True)\"\n",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/engines/numpy_engine.py")
            .display()
    );
    let (code, stdout, stderr) = run_fault(&fault(&dir, "double-loss", &script));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("FORWARD MISMATCH loss"), "{stdout}");
    assert!(
        stdout.contains("mismatches:   0 entries"),
        "gradients are right: {stdout}"
    );
    // A failing graph's heading names what failed, and only that.
    assert!(
        stdout.contains("): the engine's loss differs from the forward pass\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("0 mismatched"), "{stdout}");
}

#[test]
fn check_explain_and_shrink_work_with_an_exec_engine() {
    if !has_numpy() {
        return;
    }
    let engine = numpy_engine();
    let (code, stdout, _) = outcome(&gradfuzz(&["check", "cases/seed", "--engine", &engine]));
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, _) = outcome(&gradfuzz(&[
        "explain",
        "cases/seed/two-layer.yaml",
        "--engine",
        &engine,
    ]));
    assert_eq!(code, 0, "{stdout}");
    let buggy = format!("{engine} --bug fanout-overwrite");
    let (code, shrunk, stderr) = outcome(&gradfuzz(&[
        "shrink",
        "cases/seed/add-fanout.yaml",
        "--engine",
        &buggy,
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("fan-out"), "{stderr}");
    assert!(shrunk.contains("expect: mismatch"), "{shrunk}");
}

/// A program's first answer includes its start-up (PyTorch or JAX imports take seconds):
/// it may take six times `--timeout`; past that it is timed out, naming the allowance.
#[test]
fn a_program_slow_to_start_gets_six_times_the_timeout_for_its_first_answer() {
    if !has_numpy() {
        return;
    }
    let slow = numpy_engine().replacen("exec:", "exec:sleep 3; exec ", 1);
    let run = |timeout: &str| {
        outcome(&gradfuzz(&[
            "fuzz",
            "--engine",
            &slow,
            "--seed",
            "2",
            "--graphs",
            "20",
            "--jobs",
            "1",
            "--timeout",
            timeout,
        ]))
    };
    let (code, stdout, stderr) = run("1");
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, _, stderr) = run("0.25");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no first answer within 1.5 s"), "{stderr}");
}

#[test]
fn jobs_start_one_program_per_worker_and_report_the_same() {
    if !has_numpy() {
        return;
    }
    let engine = numpy_engine();
    let run = |jobs: &str| {
        outcome(&gradfuzz(&[
            "fuzz", "--engine", &engine, "--seed", "5", "--graphs", "300", "--jobs", jobs,
        ]))
    };
    let (one_code, one, _) = run("1");
    let (two_code, two, _) = run("2");
    assert_eq!((one_code, two_code), (0, 0));
    assert_eq!(one, two);
}

/// A Python engine under `examples/engines/`: it passes in f64 and, with `--dtype
/// float32 --precision f32`, on wide values; its float32 version declared f64 fails; and its
/// `--bug sigmoid-of-input` is caught and blamed on the sigmoid.
fn assert_python_engine(script: &str, graphs: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/engines")
        .join(script);
    let engine = format!("exec:python3 {}", script.display());
    let fuzz = |engine: &str, more: &[&str]| {
        let mut args = vec![
            "fuzz", "--engine", engine, "--seed", "4", "--graphs", graphs,
        ];
        args.extend_from_slice(more);
        outcome(&gradfuzz(&args))
    };
    let (code, stdout, stderr) = fuzz(&engine, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // In f32, with values wide enough for sigmoids that flush to zero.
    let single = format!("{engine} --dtype float32");
    let (code, stdout, stderr) = fuzz(&single, &["--precision", "f32", "--values", "wide"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The same float32 engine declared f64 is held to f64's round-off, and fails.
    let (code, stdout, _) = fuzz(&single, &[]);
    assert_eq!(code, 1, "{stdout}");
    let (code, stdout, _) = fuzz(&format!("{engine} --bug sigmoid-of-input"), &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("blame: the `sigmoid` rule"), "{stdout}");
}

#[test]
fn the_torch_engine_passes_in_f64_and_f32_and_its_bug_is_caught() {
    if python_has("torch") {
        assert_python_engine("torch_engine.py", "300");
    }
}

#[test]
fn the_jax_engine_passes_in_f64_and_f32_and_its_bug_is_caught() {
    if python_has("jax") {
        assert_python_engine("jax_engine.py", "100");
    }
}

/// The Python engines with their library's own relu (numpy's `maximum`, `torch.relu`,
/// `jax.nn.relu`, each with slope 0 at 0), asked about relu with `--gates`, pass in f64 and
/// f32 under extreme values, whose exact zeros put relu arguments on the kink.
#[test]
fn the_python_engines_pass_with_their_own_relu_in_f64_and_f32() {
    let mut kinks_met = false;
    for (module, script, graphs) in [
        ("numpy", "numpy_engine.py", "600"),
        ("torch", "torch_engine.py", "300"),
        ("jax", "jax_engine.py", "100"),
    ] {
        if !python_has(module) {
            continue;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/engines")
            .join(script);
        for (dtype, precision) in [("float64", "f64"), ("float32", "f32")] {
            let engine = format!("exec:python3 {} --dtype {dtype}", script.display());
            let (code, stdout, stderr) = outcome(&gradfuzz(&[
                "fuzz",
                "--engine",
                &engine,
                "--precision",
                precision,
                "--gates",
                "add,matvec,sigmoid,sqerr,relu",
                "--values",
                "extreme",
                "--seed",
                "5",
                "--graphs",
                graphs,
            ]));
            assert_eq!(code, 0, "{module} in {precision}: {stdout}{stderr}");
            assert!(
                stdout.contains("relu"),
                "{module}: relu not asked: {stdout}"
            );
            kinks_met |= stdout.contains("judged on both sides of a kink");
        }
    }
    if python_has("numpy") {
        assert!(kinks_met, "no run met a kink");
    }
}

#[test]
fn a_program_that_answers_nan_or_infinity_gets_the_verdict_a_rust_engine_gets() {
    // NaN, Infinity and -Infinity as Python's json writes them, and null as JavaScript's
    // does: non-finite entries in the report (exit 1), the same lines as the same numbers
    // claimed in a case file, not an error that stops the run.
    let dir = scratch("non-finite");
    let graph = "nodes:\n  x0: {input: [0.5, 2.0, 1.0]}\n  t: {target: [1.0, 1.0, 1.0]}\n  E: {sqerr: [x0, t]}\n";
    let case = dir.join("case.yaml");
    std::fs::write(&case, graph).expect("write");
    let engine = fault(
        &dir,
        "non-finite",
        "while read line; do echo '{\"gradients\": {\"x0\": [NaN, -Infinity, null]}, \"loss\": Infinity}'; done\n",
    );
    let (code, exec, stderr) = outcome(&gradfuzz(&[
        "check",
        case.to_str().expect("utf-8"),
        "--engine",
        &engine,
    ]));
    assert_eq!(code, 1, "{exec}{stderr}");
    assert!(
        exec.contains("FORWARD MISMATCH loss: the engine says +inf"),
        "{exec}"
    );
    let claimed = dir.join("claimed.yaml");
    std::fs::write(
        &claimed,
        format!("{graph}gradients:\n  x0: [.nan, -.inf, .nan]\n"),
    )
    .expect("write");
    let (code, rust, _) = outcome(&gradfuzz(&["check", claimed.to_str().expect("utf-8")]));
    assert_eq!(code, 1, "{rust}");
    let non_finite = |report: &str| -> Vec<String> {
        report
            .lines()
            .filter(|l| l.contains("NON-FINITE"))
            .map(|l| l.trim().to_string())
            .collect()
    };
    assert_eq!(non_finite(&exec).len(), 3, "{exec}");
    assert_eq!(non_finite(&exec), non_finite(&rust));
    // Inside a string, the words are left alone: an error message may say NaN.
    let engine = fault(
        &dir,
        "nan-in-error",
        "while read line; do echo '{\"error\": \"got NaN and -Infinity\"}'; done\n",
    );
    let (code, _, stderr) = outcome(&gradfuzz(&[
        "check",
        case.to_str().expect("utf-8"),
        "--engine",
        &engine,
    ]));
    assert_eq!(code, 2);
    assert!(stderr.contains("got NaN and -Infinity"), "{stderr}");
}
