//! The exec engine: any program, in any language, that computes gradients.
//!
//! The program (a shell command line, run as `sh -c COMMAND`) is started on first use and
//! kept running. For each graph gradfuzz writes one JSON line, `{"nodes":{...}}` (the case
//! format's `nodes` mapping, leaves with their values, in topological order), and reads one
//! JSON line back: `{"gradients": {"x": [...], "W": [[...]]}, "loss": E}` (the loss is
//! optional) or `{"error": "..."}`. Every fault (the program cannot start, exits, hangs past
//! the timeout, writes something else, answers for the wrong leaves or shapes) is an
//! [`EngineError`] that says what the program did, and the program is killed.
//!
//! With several worker threads, each thread that needs the engine gets a program of its own
//! (at most one per thread at a time), so `--jobs N` runs N copies.
//!
//! **The hello.** The first line every program gets is [`HELLO`]: a graph any engine computes
//! (an `input`, a `target` and their `sqerr`), marked with a `hello` key. A program written
//! before the hello answers it as it answers any graph, and that answer is set aside: the
//! program is then taken to compute the four gates in `f64`, as before. A program that
//! declares itself answers instead with `{"engine": {"name": "numpy", "precision": "f32",
//! "gates": ["add", "matvec", "sigmoid", "sqerr", "batch"]}}` (every key optional), read as
//! [`Declaration`]; `--precision` and `--gates` still override what it declares. Because the
//! hello is sent before any graph is made, the gates declared decide which graphs `fuzz`
//! makes, the same on every run.

use super::validation::{self, AnswerError};
use super::{Engine, EngineError, Gradients};
use crate::gate::Value;
use crate::graph::{Graph, Operation, Shape};
use crate::op::GateSet;
use crate::precision::Precision;
use faer::{Col, Mat};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value as Json;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Lines of the program's stderr kept for error messages.
const STDERR_LINES: usize = 20;

/// How many times the per-graph timeout a program's first answer may take: it includes the
/// program's start-up (importing PyTorch or JAX, a JIT's first compilation), which on a
/// loaded machine took more than the default 10 s, and is not an answer that hangs.
pub const STARTUP_FACTOR: u32 = 6;

/// The first line written to every program: a graph of one `sqerr` that any engine computes,
/// with a `hello` key that a program declaring itself answers with `{"engine": {...}}`.
pub const HELLO: &str = concat!(
    r#"{"hello":{"gradfuzz":""#,
    env!("CARGO_PKG_VERSION"),
    r#""},"nodes":{"x":{"input":[0.5,-0.25]},"t":{"target":[0.25,0.0]},"E":{"sqerr":["x","t"]}}}"#,
    "\n"
);

/// What a program says of itself in answer to the [`HELLO`]: `{"engine": {"name": ...,
/// "precision": ..., "gates": ...}}`, each key optional. `None` where it says nothing: the
/// engine's defaults (its command line's script for a name, `f64`, the four gates) stand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declaration {
    /// A short name for saved cases and reports (`numpy`, `torch-f32`).
    pub name: Option<String>,
    pub precision: Option<Precision>,
    /// Gate names and `batch`, as `--gates` takes them, in a list or a comma-separated string.
    pub gates: Option<GateSet>,
}

impl Declaration {
    /// The declaration in an answer to the hello, `None` if the answer is not one (a program
    /// written before the hello answers it as a graph), or what is wrong with it.
    pub fn from_answer(line: &str) -> Result<Option<Declaration>, String> {
        let Ok(Json::Object(answer)) = serde_json::from_str::<Json>(line) else {
            return Ok(None);
        };
        let Some(engine) = answer.get("engine") else {
            return Ok(None);
        };
        let Json::Object(engine) = engine else {
            return Err(format!(
                "declared `engine: {engine}`, which is not an object"
            ));
        };
        let mut declaration = Declaration::default();
        for (key, value) in engine {
            match key.as_str() {
                "name" => {
                    let name = value.as_str().map(str::trim).unwrap_or_default();
                    if name.is_empty() || name.len() > 64 {
                        return Err(format!(
                            "declared the name {value}: a name is a string of 1 to 64 characters"
                        ));
                    }
                    declaration.name = Some(name.to_string());
                }
                "precision" => {
                    let Some(name) = value.as_str() else {
                        return Err(format!(
                            "declared the precision {value}, which is not a string"
                        ));
                    };
                    declaration.precision = Some(
                        name.parse()
                            .map_err(|e| format!("declared the precision: {e}"))?,
                    );
                }
                "gates" => {
                    let list = match value {
                        Json::String(list) => list.clone(),
                        Json::Array(names) => names
                            .iter()
                            .map(|name| {
                                name.as_str().map(str::to_string).ok_or_else(|| {
                                    format!("declared the gate {name}, which is not a string")
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()?
                            .join(","),
                        other => {
                            return Err(format!(
                                "declared the gates {other}: a list of gate names is needed"
                            ));
                        }
                    };
                    declaration.gates = Some(
                        GateSet::parse(&list).map_err(|e| format!("declared the gates: {e}"))?,
                    );
                }
                other => {
                    return Err(format!(
                        "declared an unknown key `{other}` (an engine declares `name`, `precision` \
                         and `gates`)"
                    ));
                }
            }
        }
        Ok(Some(declaration))
    }
}

/// An external program as an engine.
pub struct Exec {
    command: String,
    timeout: Duration,
    /// Programs not in use; a caller takes one (or starts one) and puts it back.
    idle: Mutex<Vec<Program>>,
    /// What the first program started said of itself (`None`: nothing), or why it could
    /// not be asked; every later copy must say the same.
    declaration: OnceLock<Result<Option<Declaration>, EngineError>>,
}

/// One running copy of the program.
struct Program {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<std::io::Result<String>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// Signalled when the program's stderr has been read to its end.
    stderr_closed: Receiver<()>,
    /// Whether it has answered once (until then it is also starting up).
    answered: bool,
}

impl Exec {
    pub fn new(command: &str, timeout: Duration) -> Exec {
        Exec {
            command: command.to_string(),
            timeout,
            idle: Mutex::new(Vec::new()),
            declaration: OnceLock::new(),
        }
    }

    /// What the program declares of itself: asked once, of the first copy started (which is
    /// then kept for the first graph).
    pub fn declaration(&self) -> Result<Option<&Declaration>, &EngineError> {
        let asked = self.declaration.get_or_init(|| {
            let (program, declaration) = self.start_and_greet()?;
            self.idle.lock().expect("idle programs").push(program);
            Ok(declaration)
        });
        asked.as_ref().map(Option::as_ref)
    }

    /// Starts a copy of the program and reads its answer to the [`HELLO`].
    fn start_and_greet(&self) -> Result<(Program, Option<Declaration>), EngineError> {
        let mut program = self.start()?;
        let line = self.ask(&mut program, HELLO)?;
        let declaration = Declaration::from_answer(&line)
            .map_err(|problem| self.fail(format!("answered the hello: it {problem}")))?;
        Ok((program, declaration))
    }

    /// A copy for another worker, which must declare what the first did.
    fn start_another(&self) -> Result<Program, EngineError> {
        let first = self.declaration().map_err(Clone::clone)?.cloned();
        let (program, declaration) = self.start_and_greet()?;
        if declaration != first {
            return Err(self.fail(format!(
                "declared {} when started again (for another worker, --jobs), where its first \
                 copy declared {}",
                describe(declaration.as_ref()),
                describe(first.as_ref())
            )));
        }
        Ok(program)
    }

    /// The short name saved cases are named for: the declared one, or the stem of the
    /// script or program the command line runs (`numpy_engine` for `python3
    /// examples/engines/numpy_engine.py --dtype float32`).
    fn short_name(&self) -> String {
        if let Ok(Some(Declaration {
            name: Some(name), ..
        })) = self.declaration()
        {
            return name.clone();
        }
        script_stem(&self.command)
    }

    fn start(&self) -> Result<Program, EngineError> {
        // A process group of its own, so that ending it also ends whatever it started.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.fail(format!("cannot start `sh -c {}`: {e}", self.command)))?;
        let stdin = child.stdin.take().expect("stdin was piped");
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr_pipe = child.stderr.take().expect("stderr was piped");
        let (sender, lines) = channel();
        // Readers on threads of their own, so that a silent program cannot block us past
        // the timeout; they end when the program's pipes close.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr);
        let (closed, stderr_closed) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                let mut tail = tail.lock().expect("stderr tail");
                if tail.len() == STDERR_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            let _ = closed.send(());
        });
        Ok(Program {
            child,
            stdin,
            lines,
            stderr,
            stderr_closed,
            answered: false,
        })
    }

    fn fail(&self, problem: String) -> EngineError {
        EngineError::Exec {
            command: self.command.clone(),
            problem,
        }
    }

    /// An answer that is not gradients of the graph.
    fn wrong(&self, error: AnswerError) -> EngineError {
        EngineError::Answer {
            command: Some(self.command.clone()),
            error,
        }
    }

    /// Sends one graph and reads one answer line.
    fn ask(&self, program: &mut Program, request: &str) -> Result<String, EngineError> {
        let sent = program
            .stdin
            .write_all(request.as_bytes())
            .and_then(|()| program.stdin.flush());
        if let Err(error) = sent {
            return Err(self.died(program, &format!("stopped reading its input ({error})")));
        }
        let (wait, what) = if program.answered {
            let seconds = self.timeout.as_secs_f64();
            (
                self.timeout,
                format!("no answer within {seconds} s (the per-graph timeout, --timeout)"),
            )
        } else {
            let wait = self.timeout * STARTUP_FACTOR;
            let seconds = wait.as_secs_f64();
            let what = format!(
                "no first answer within {seconds} s ({STARTUP_FACTOR} times the per-graph \
                 timeout, --timeout, for its start-up)"
            );
            (wait, what)
        };
        match program.lines.recv_timeout(wait) {
            Ok(Ok(line)) => {
                program.answered = true;
                Ok(line)
            }
            Ok(Err(error)) => Err(self.fail(format!("unreadable output: {error}"))),
            Err(RecvTimeoutError::Timeout) => Err(self.fail(what)),
            Err(RecvTimeoutError::Disconnected) => {
                Err(self.died(program, "closed its output without answering"))
            }
        }
    }

    /// An error for a program that went away, with its exit status and last stderr lines.
    fn died(&self, program: &mut Program, what: &str) -> EngineError {
        // Give it a moment to finish exiting so the status is known.
        let mut status = None;
        for _ in 0..50 {
            if let Ok(Some(s)) = program.child.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = status.map_or("still running".to_string(), |s| s.to_string());
        // Its last words may still be in the pipe: wait (briefly) for the reader to finish.
        let _ = program.stderr_closed.recv_timeout(Duration::from_secs(1));
        let stderr = program.stderr.lock().expect("stderr tail");
        let tail = if stderr.is_empty() {
            String::new()
        } else {
            format!(
                "; its stderr ends with:\n  {}",
                stderr.iter().cloned().collect::<Vec<_>>().join("\n  ")
            )
        };
        self.fail(format!("the program {what} ({status}){tail}"))
    }
}

/// A declaration as a message shows it.
fn describe(declaration: Option<&Declaration>) -> String {
    match declaration {
        None => "nothing (it answered the hello as a graph)".into(),
        Some(d) => format!(
            "name {}, precision {}, gates {}",
            d.name.as_deref().unwrap_or("(none)"),
            d.precision.map_or("(none)".into(), |p| p.to_string()),
            d.gates.map_or("(none)".into(), |g| g.to_string()),
        ),
    }
}

/// The stem of the first word of `command` that names a script (a word with a file
/// extension, not a flag), else of the program: `numpy_engine` for `python3
/// engines/numpy_engine.py --dtype float32`, `engine` for `./bin/engine --fast`.
pub fn script_stem(command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let stem = |word: &str| -> String {
        let file = word.rsplit('/').next().unwrap_or(word);
        file.split_once('.')
            .map_or(file, |(stem, _)| stem)
            .to_string()
    };
    let script = words.iter().find(|word| {
        !word.starts_with('-')
            && word
                .rsplit('/')
                .next()
                .and_then(|file| file.rsplit_once('.'))
                .is_some_and(|(stem, ext)| {
                    !stem.is_empty()
                        && ext.chars().all(|c| c.is_ascii_alphanumeric())
                        && !ext.is_empty()
                })
    });
    let chosen = script
        .or(words.first())
        .map(|word| stem(word))
        .unwrap_or_default();
    if chosen.is_empty() {
        "exec".into()
    } else {
        chosen
    }
}

impl Engine for Exec {
    fn name(&self) -> String {
        format!("exec:{}", self.command)
    }

    fn short_name(&self) -> String {
        Exec::short_name(self)
    }

    fn precision(&self) -> Precision {
        match self.declaration() {
            Ok(Some(Declaration {
                precision: Some(precision),
                ..
            })) => *precision,
            _ => Precision::F64,
        }
    }

    fn gates(&self) -> GateSet {
        match self.declaration() {
            Ok(Some(Declaration {
                gates: Some(gates), ..
            })) => *gates,
            Ok(_) => GateSet::LECTURE,
            // A program that could not be asked is refused nothing here, so that the first
            // graph reaches `gradients`, which says what went wrong (not that a gate is
            // missing).
            Err(_) => GateSet::all(),
        }
    }

    fn declares_itself(&self) -> bool {
        matches!(self.declaration(), Ok(Some(_)))
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        // A program that could not be asked (it did not start, or died on the hello) fails
        // the first graph, so that the run stops with its report.
        self.declaration().map_err(Clone::clone)?;
        let taken = self.idle.lock().expect("idle programs").pop();
        let mut program = match taken {
            Some(program) => program,
            None => self.start_another()?,
        };
        let answer = self
            .ask(&mut program, &request(graph))
            .and_then(|line| self.parse(graph, &line));
        match answer {
            Ok(gradients) => {
                self.idle.lock().expect("idle programs").push(program);
                Ok(gradients)
            }
            Err(error) => {
                // A program that misbehaved once is not trusted again; `Drop` ends it.
                drop(program);
                Err(error)
            }
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // The whole group: `sh -c` may have started the program as a child of its own.
        if let Ok(group) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals that process group; it touches no
            // memory of ours.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The request line: `{"nodes":{...}}` in topological order, then a newline.
pub fn request(graph: &Graph) -> String {
    let mut line = serde_json::to_string(&Request(graph)).expect("a graph always serializes");
    line.push('\n');
    line
}

/// The request as serde sees it: maps written in the graph's order (serde_json's own map
/// would sort the keys, and the protocol promises topological order).
struct Request<'g>(&'g Graph);
struct Nodes<'g>(&'g Graph);
struct NodeBody<'g>(&'g Graph, &'g Operation);
struct Entries<'v>(&'v Value);

impl Serialize for Request<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("nodes", &Nodes(self.0))?;
        map.end()
    }
}

impl Serialize for Nodes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let graph = self.0;
        let mut map = serializer.serialize_map(Some(graph.len()))?;
        for (name, operation) in graph.operations() {
            map.serialize_entry(name, &NodeBody(graph, operation))?;
        }
        map.end()
    }
}

/// `{"input": [..]}` for a leaf, `{"sigmoid": "s"}` or `{"matvec": ["W", "o"]}` for a gate.
impl Serialize for NodeBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        let operation = self.1;
        match (operation, operation.kind()) {
            (Operation::Leaf(kind, value), _) => {
                map.serialize_entry(kind.name(), &Entries(value))?
            }
            (_, kind) => {
                let kind = kind.expect("a gate").name();
                let names: Vec<&str> = operation
                    .operands()
                    .iter()
                    .map(|&id| self.0.name(id))
                    .collect();
                match names.as_slice() {
                    [one] => map.serialize_entry(kind, one)?,
                    many => map.serialize_entry(kind, many)?,
                }
            }
        }
        map.end()
    }
}

/// A scalar, a vector as a list, a matrix as a list of rows.
impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Scalar(x) => serializer.serialize_f64(*x),
            Value::Vector(v) => serializer.collect_seq(v.iter()),
            Value::Matrix(m) => serializer.collect_seq(
                (0..m.nrows()).map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect::<Vec<f64>>()),
            ),
        }
    }
}

impl Exec {
    /// Reads an answer line into gradients, or says exactly what is wrong with it.
    fn parse(&self, graph: &Graph, line: &str) -> Result<Gradients, EngineError> {
        let shown: String = line.chars().take(200).collect();
        let answer: Json = serde_json::from_str(&non_finite_as_strings(line)).map_err(|e| {
            self.fail(format!(
                "answered with a line that is not JSON ({e}): {shown}"
            ))
        })?;
        let Json::Object(answer) = answer else {
            return Err(self.fail(format!("answered with JSON that is not an object: {shown}")));
        };
        if let Some(message) = answer.get("error") {
            let message = message
                .as_str()
                .map_or_else(|| message.to_string(), str::to_string);
            return Err(self.fail(format!("reported an error: {message}")));
        }
        if let Some(key) = answer
            .keys()
            .find(|k| !matches!(k.as_str(), "gradients" | "loss"))
        {
            return Err(self.fail(format!(
                "answered with an unknown key `{key}` (expected `gradients`, `loss` or `error`)"
            )));
        }
        let Some(Json::Object(claimed)) = answer.get("gradients") else {
            return Err(self.fail(format!("answered without a `gradients` object: {shown}")));
        };
        let mut gradients = Gradients::empty(graph.len());
        for (name, array) in claimed {
            let leaf = validation::leaf_named(graph, name).map_err(|e| self.wrong(e))?;
            let value = json_value(array, graph.shape(leaf)).map_err(|problem| {
                self.wrong(AnswerError::Unreadable {
                    leaf: name.clone(),
                    problem,
                })
            })?;
            gradients.set(leaf, value);
        }
        validation::validate(graph, &gradients).map_err(|e| self.wrong(e))?;
        if let Some(loss) = answer.get("loss") {
            // A non-finite loss is the engine's answer, checked like a Rust engine's: a
            // loss mismatch in the report, not a broken protocol.
            match number(loss) {
                Some(loss) => gradients.loss = Some(loss),
                None => {
                    return Err(self.fail(format!(
                        "answered with a `loss` that is not a number: {loss}"
                    )));
                }
            }
        }
        Ok(gradients)
    }
}

/// `line` with the non-finite numbers that JSON has no spelling for, but that Python's
/// `json.dumps` and others write (`NaN`, `Infinity`, `-Infinity`), turned into the strings
/// `"nan"`, `"inf"`, `"-inf"` outside of strings, so that the line parses and [`number`]
/// reads them. An exec engine's NaN is then a non-finite entry in the report, as a Rust
/// engine's is, rather than an error that stops the run.
fn non_finite_as_strings(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains("NaN") && !line.contains("Infinity") {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else {
            let token = [
                ("-Infinity", "\"-inf\""),
                ("Infinity", "\"inf\""),
                ("NaN", "\"nan\""),
            ]
            .into_iter()
            .find(|(token, _)| rest.starts_with(token));
            if let Some((token, replacement)) = token {
                out.push_str(replacement);
                rest = &rest[token.len()..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}

/// A gradient entry or loss: a JSON number, or a non-finite one (`NaN`, `Infinity`,
/// `-Infinity` as written by Python, read through [`non_finite_as_strings`]; `null`, which
/// JavaScript's `JSON.stringify` writes for them, as NaN).
fn number(x: &Json) -> Option<f64> {
    match x {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        Json::Null => Some(f64::NAN),
        _ => None,
    }
}

/// A JSON array as a value of the given shape, or what is wrong with it.
fn json_value(array: &Json, shape: Shape) -> Result<Value, String> {
    let numbers = |row: &Json, len: usize| -> Result<Vec<f64>, String> {
        let Json::Array(items) = row else {
            return Err(format!("is not a list of numbers: {row}"));
        };
        if items.len() != len {
            return Err(format!(
                "has {} entries where {len} are needed",
                items.len()
            ));
        }
        items
            .iter()
            .map(|x| number(x).ok_or_else(|| format!("has an entry that is not a number: {x}")))
            .collect()
    };
    match shape {
        Shape::Vector(n) => {
            let v = numbers(array, n)?;
            Ok(Value::Vector(Col::from_fn(n, |i| v[i])))
        }
        Shape::Matrix(m, n) => {
            let Json::Array(rows) = array else {
                return Err(format!("is not a list of rows: {array}"));
            };
            if rows.len() != m {
                return Err(format!("has {} rows where {m} are needed", rows.len()));
            }
            let rows: Vec<Vec<f64>> = rows
                .iter()
                .map(|r| numbers(r, n))
                .collect::<Result<_, _>>()?;
            Ok(Value::Matrix(Mat::from_fn(m, n, |i, j| rows[i][j])))
        }
        Shape::Scalar => Err("is for a scalar, which has no gradient".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine's numbers are read correctly rounded, to the bit: serde_json's default
    /// parser reads some 17-digit numbers an ulp off (these two among them), which the case
    /// format's round-trip test found; its `float_roundtrip` feature reads them exactly.
    #[test]
    fn an_answer_is_read_to_the_bit() {
        use crate::graph::NodeId;
        use crate::op::{LeafKind, Loss};
        let vector = |x: [f64; 2]| Value::Vector(Col::from_fn(2, |i| x[i]));
        let graph = Graph::with_operations(vec![
            (
                "x".into(),
                Operation::Leaf(LeafKind::Input, vector([1.0, 2.0])),
            ),
            (
                "t".into(),
                Operation::Leaf(LeafKind::Target, vector([0.0, 0.0])),
            ),
            (
                "E".into(),
                Operation::Loss(Loss::Sqerr, NodeId(0), NodeId(1)),
            ),
        ])
        .expect("a valid graph");
        let written = ["0.010228907401581779", "-0.011594934625901401"];
        let line = format!(
            r#"{{"gradients": {{"x": [{}, {}]}}}}"#,
            written[0], written[1]
        );
        let exec = Exec::new("true", Duration::from_secs(1));
        let gradients = exec.parse(&graph, &line).expect("a valid answer");
        let x = gradients.get(NodeId(0)).expect("x's gradient");
        for (k, text) in written.iter().enumerate() {
            let exact: f64 = text.parse().expect("a number");
            assert_eq!(x.entry(k).to_bits(), exact.to_bits(), "{text}");
        }
    }

    #[test]
    fn a_declaration_reads_its_keys_and_an_answer_as_a_graph_is_none() {
        let declared = Declaration::from_answer(
            r#"{"engine": {"name": "numpy", "precision": "f32", "gates": ["lecture", "batch"]}}"#,
        );
        assert_eq!(
            declared,
            Ok(Some(Declaration {
                name: Some("numpy".into()),
                precision: Some(Precision::F32),
                gates: Some(GateSet::LECTURE.with_batches(true)),
            }))
        );
        assert_eq!(
            Declaration::from_answer(r#"{"engine": {"gates": "add,sqerr"}}"#)
                .map(|d| d.and_then(|d| d.gates)),
            Ok(GateSet::parse("add,sqerr").ok())
        );
        for old in [
            r#"{"gradients": {"x": [0.25, -0.25]}}"#,
            r#"{"error": "no"}"#,
            "hello",
        ] {
            assert_eq!(Declaration::from_answer(old), Ok(None), "{old}");
        }
        for (wrong, word) in [
            (r#"{"engine": "numpy"}"#, "not an object"),
            (r#"{"engine": {"precision": 32}}"#, "not a string"),
            (r#"{"engine": {"gates": [1]}}"#, "not a string"),
            (r#"{"engine": {"dtype": "f32"}}"#, "`dtype`"),
        ] {
            let error = Declaration::from_answer(wrong).expect_err(wrong);
            assert!(error.contains(word), "{wrong}: {error}");
        }
    }

    #[test]
    fn a_script_stem_names_the_script_not_the_interpreter_or_a_flag() {
        for (command, stem) in [
            (
                "python3 examples/engines/numpy_engine.py --dtype float32",
                "numpy_engine",
            ),
            ("python3 -u /tmp/a b/engine.py", "engine"),
            ("node --stack-size=9000 ./adapter.mjs", "adapter"),
            ("./bin/engine --fast", "engine"),
            ("julia -e 'run()'", "julia"),
        ] {
            assert_eq!(script_stem(command), stem, "{command}");
        }
    }

    /// Each worker's copy is asked again, and one that declares other than the first copy did
    /// is refused, naming both.
    #[test]
    fn a_copy_that_declares_differently_is_refused() {
        let dir = std::env::temp_dir().join(format!("gradfuzz-copies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch");
        let started = dir.join("started");
        let _ = std::fs::remove_file(&started);
        let script = dir.join("engine.sh");
        std::fs::write(
            &script,
            format!(
                "if [ -e {c} ]; then p=f32; else p=f64; touch {c}; fi\n\
                 read line\necho \"{{\\\"engine\\\": {{\\\"precision\\\": \\\"$p\\\"}}}}\"\n\
                 while read line; do echo '{{}}'; done\n",
                c = started.display()
            ),
        )
        .expect("script");
        let exec = Exec::new(&format!("sh {}", script.display()), Duration::from_secs(10));
        assert_eq!(exec.precision(), Precision::F64);
        assert!(exec.declares_itself());
        let error = match exec.start_another() {
            Err(EngineError::Exec { problem, .. }) => problem,
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("a copy that declares f32 after one that declared f64 was accepted"),
        };
        assert!(
            error.contains("when started again")
                && error.contains("precision f32")
                && error.contains("precision f64"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
