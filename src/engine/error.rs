//! How an engine fails to produce gradients.

use super::validation::AnswerError;
use crate::precision::Precision;
use std::fmt;

/// An engine could not produce gradients for a graph (the reference engine never fails).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// The engine's own failure, in its words: what a user's engine returns
    /// (`EngineError::failed("…")`, or `?` on a `String`).
    Failed(String),
    /// The engine panicked; caught, so that a run stops with its report.
    Panicked { engine: String, message: String },
    /// An exec program that could not start, died, timed out, reported an error, or wrote
    /// something other than an answer.
    Exec { command: String, problem: String },
    /// Gradients that are not those of the graph's differentiable leaves.
    Answer {
        /// The exec program's command, when the answer came from one.
        command: Option<String>,
        error: AnswerError,
    },
    /// A leaf the engine's precision cannot hold: the graph cannot be checked in it.
    Unrepresentable {
        precision: Precision,
        problem: String,
    },
    /// The graph has a gate (or a batch) the engine does not declare it computes
    /// ([`super::Engine::gates`]).
    Lacks {
        engine: String,
        /// The gate's name, or `batch`.
        what: String,
        /// The node that needs it.
        node: String,
        declared: crate::op::GateSet,
    },
}

impl EngineError {
    /// An engine's own failure, as a user's engine reports one.
    pub fn failed(message: impl Into<String>) -> Self {
        EngineError::Failed(message.into())
    }
}

impl From<String> for EngineError {
    fn from(message: String) -> Self {
        EngineError::Failed(message)
    }
}

impl From<&str> for EngineError {
    fn from(message: &str) -> Self {
        EngineError::Failed(message.into())
    }
}

impl From<AnswerError> for EngineError {
    fn from(error: AnswerError) -> Self {
        EngineError::Answer {
            command: None,
            error,
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Failed(message) => f.write_str(message),
            EngineError::Panicked { engine, message } => {
                write!(f, "engine `{engine}` panicked: {message}")
            }
            EngineError::Exec { command, problem } => {
                write!(f, "exec engine `{command}`: {problem}")
            }
            EngineError::Answer {
                command: Some(command),
                error,
            } => write!(f, "exec engine `{command}`'s answer: {error}"),
            EngineError::Answer {
                command: None,
                error,
            } => write!(f, "{error}"),
            EngineError::Unrepresentable { precision, problem } => {
                write!(f, "{problem}: the graph cannot be checked in {precision}")
            }
            EngineError::Lacks {
                engine,
                what,
                node,
                declared,
            } if what == "batch" => write!(
                f,
                "engine `{engine}` does not declare batches (`{node}` is a matrix beyond a \
                 matvec's weight): it declares `{declared}`; an engine that computes them \
                 declares `batch` (see `--gates`)"
            ),
            EngineError::Lacks {
                engine,
                what,
                node,
                declared,
            } => write!(
                f,
                "engine `{engine}` does not declare the gate `{what}` (node `{node}`): it \
                 declares `{declared}` (see `--gates`)"
            ),
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EngineError::Answer { error, .. } => Some(error),
            _ => None,
        }
    }
}
