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

use super::validation::{self, AnswerError};
use super::{Engine, EngineError, Gradients};
use crate::gate::Value;
use crate::graph::{Graph, Operation, Shape};
use faer::{Col, Mat};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value as Json;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Lines of the program's stderr kept for error messages.
const STDERR_LINES: usize = 20;

/// How many times the per-graph timeout a program's first answer may take: it includes the
/// program's start-up (importing PyTorch or JAX, a JIT's first compilation), which on a
/// loaded machine took more than the default 10 s, and is not an answer that hangs.
pub const STARTUP_FACTOR: u32 = 6;

/// An external program as an engine.
pub struct Exec {
    command: String,
    timeout: Duration,
    /// Programs not in use; a caller takes one (or starts one) and puts it back.
    idle: Mutex<Vec<Program>>,
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
        }
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

impl Engine for Exec {
    fn name(&self) -> String {
        format!("exec:{}", self.command)
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        let taken = self.idle.lock().expect("idle programs").pop();
        let mut program = match taken {
            Some(program) => program,
            None => self.start()?,
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
