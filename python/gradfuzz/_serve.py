"""The exec protocol, spoken for a Python backward function: one JSON request per line in,
one JSON answer per line out. Every way a backward function can answer badly becomes a
protocol error that names the leaf, so gradfuzz reports it and nothing hangs."""
import json
import sys
import traceback
from pathlib import Path
from typing import Callable, Dict, Optional, TextIO, Tuple

import numpy as np

from ._graph import Graph, RequestError

DTYPES = {"f64": np.float64, "f32": np.float32, "f16": np.float16, "bf16": np.float64}


class AnswerError(ValueError):
    """A backward function's answer that is not a gradient of the graph."""


def dtype_of(precision: str):
    """The numpy dtype leaf values are given in for an engine in ``precision`` (numpy has
    no bfloat16: a bf16 engine gets float64 arrays, already rounded to bf16, to cast)."""
    # "f32-ftz": the same arrays; the arithmetic flushes subnormal numbers to zero.
    base = precision[: -len("-ftz")] if precision.endswith("-ftz") else precision
    try:
        return DTYPES[base]
    except KeyError:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(DTYPES)}") from None


def gradients_of(graph: Graph, answer) -> Tuple[Dict[str, list], Optional[float]]:
    """The checked gradients (as nested lists) and loss in a backward function's answer:
    a mapping from leaf name to array, or a pair ``(gradients, loss)``."""
    loss = None
    if isinstance(answer, tuple) and len(answer) == 2:
        answer, loss = answer
    if not hasattr(answer, "items"):
        raise AnswerError(
            f"backward returned a {type(answer).__name__}; expected a dict from leaf name to "
            "gradient, or a pair (gradients, loss)"
        )
    leaves = graph.leaves
    out = {}
    for name, gradient in answer.items():
        if name in leaves:
            continue
        node = graph._by_name.get(name)
        if node is None:
            raise AnswerError(f"a gradient for `{name}`, which is not a node of the graph")
        if node.op != "target":
            raise AnswerError(f"a gradient for `{name}`, a {node.op} node, not an input or weight")
        # A target's gradient is never asked; computing it is not an error.
    for name, value in leaves.items():
        if name not in answer:
            kind = graph[name].op
            raise AnswerError(f"no gradient for leaf `{name}` ({kind} of shape {value.shape})")
        try:
            gradient = np.asarray(answer[name], dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise AnswerError(f"the gradient for leaf `{name}` is not numeric: {error}") from None
        if gradient.shape != value.shape:
            raise AnswerError(
                f"the gradient for leaf `{name}` has shape {gradient.shape}; the leaf has {value.shape}"
            )
        # A NaN or infinite entry is the function's answer: json writes it as NaN or
        # Infinity, and gradfuzz reports it as a non-finite entry, as for a Rust engine.
        out[name] = gradient.tolist()
    if loss is not None:
        try:
            loss = float(loss)
        except (TypeError, ValueError):
            raise AnswerError(f"the loss {loss!r} is not a number") from None
    return out, loss


def declaration(precision: str = "f64", gates=None, name: Optional[str] = None) -> dict:
    """What an engine says of itself in answer to gradfuzz's first line (the ``hello``): its
    precision, its gates (a list or a comma-separated string, as ``--gates`` takes them; the
    four gates of the lecture when not given) and a short name for the cases a run saves."""
    dtype_of(precision)  # refuses an unknown precision here, not in gradfuzz
    engine = {"precision": precision}
    if gates is not None:
        engine["gates"] = gates if isinstance(gates, str) else ",".join(gates)
    if name:
        engine["name"] = str(name)[:64]
    return {"engine": engine}


def answer_line(backward: Callable, line: str, dtype=np.float64, declared: Optional[dict] = None) -> str:
    """The protocol's answer (one JSON line, without its newline) to one request line: to the
    hello, ``declared`` (see :func:`declaration`) when given."""
    try:
        request = json.loads(line)
        if declared is not None and isinstance(request, dict) and "hello" in request:
            return json.dumps(declared)
        graph = Graph.from_request(request, dtype)
    except (ValueError, RequestError) as error:
        return json.dumps({"error": f"a request that is not a graph: {error}"})
    try:
        with np.errstate(all="ignore"):
            answer = backward(graph)
    except Exception as error:  # the engine's own failure: report it, keep serving
        frames = traceback.extract_tb(error.__traceback__)
        at = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        return json.dumps({"error": f"backward raised {type(error).__name__}: {error}{at}"})
    try:
        gradients, loss = gradients_of(graph, answer)
    except AnswerError as error:
        return json.dumps({"error": str(error)})
    reply = {"gradients": gradients}
    if loss is not None:
        reply["loss"] = loss
    return json.dumps(reply)


def serve(
    backward: Callable,
    precision: str = "f64",
    stdin: Optional[TextIO] = None,
    stdout: Optional[TextIO] = None,
    *,
    gates=None,
    name: Optional[str] = None,
) -> None:
    """Answer exec-protocol requests for ``backward`` until the input ends.

    ``backward(graph)`` takes a :class:`Graph` and returns its gradients, a dict from each
    leaf's name (every input and weight) to an array of that leaf's shape, or a pair
    ``(gradients, loss)``, the loss being checked too. Leaf values are numpy arrays of the
    dtype of ``precision`` (``f64``, ``f32``, ``f16``; ``bf16`` gets float64). Run a script
    that calls it as ``gradfuzz fuzz --engine 'exec:python3 script.py'``.

    The engine declares ``precision``, ``gates`` (gate names, ``"batch"``, ``"lecture"``; by
    default the four gates on vectors) and ``name`` (by default the script's stem, for the
    names of saved cases) in its answer to gradfuzz's first line, so the command line needs
    neither ``--precision`` nor ``--gates``.
    """
    dtype = dtype_of(precision)
    if name is None:
        script = sys.argv[0] if sys.argv else ""
        name = Path(script).stem if script and Path(script).is_file() else getattr(backward, "__qualname__", None)
    declared = declaration(precision, gates, name)
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    for line in stdin:
        if not line.strip():
            continue
        stdout.write(answer_line(backward, line, dtype, declared) + "\n")
        stdout.flush()
