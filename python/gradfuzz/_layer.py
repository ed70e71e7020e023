"""Checking one layer as students write it (CS231n's ``affine_forward(x, w, b) -> (out,
cache)`` and ``affine_backward(dout, cache) -> (dx, dw, db)``), without writing a graph walker.

Each trial is a case file of the layer's graph at random sizes (a batch of one first) and
values: the layer's gates on its arguments, then ``sqerr(out, t)`` with a random target, so
that the upstream gradient is ``dout = out − t``. gradfuzz asks for the gradients of each case
through the same relay as :func:`gradfuzz.check`; here they come from the user's two
functions: ``forward`` on the case's arguments (its ``out`` also gives the loss, which
gradfuzz compares with its own forward pass), then ``backward(out − t, cache)``. The verdicts
are gradfuzz's: its oracles, its tolerance, entries named after the arguments (``db[3]``,
``w[1,2]``)."""
import html
import json
import os
import tempfile
from typing import Callable, Dict, List, Optional

import numpy as np

from ._check import check
from ._report import Report, _entries_html


class _Layer:
    """A layer: its arguments (the names its entries are reported under), the graph that
    computes it from them (case-file nodes), and the gates gradfuzz must ask about."""

    def __init__(self, arguments, nodes, gates, shapes):
        self.arguments = arguments
        self.nodes = nodes
        self.gates = gates
        self.shapes = shapes


def _elementwise(op):
    return _Layer(
        arguments=("x",),
        nodes=lambda: {"out": {op: "x"}},
        gates=f"{op},sqerr,batch",
        shapes=lambda n, d, m: {"x": (n, d), "out": (n, d)},
    )


LAYERS: Dict[str, _Layer] = {
    # out = x·w + b, the bias added to every row: matmul, then add.
    "affine": _Layer(
        arguments=("x", "w", "b"),
        nodes=lambda: {"s": {"matmul": ["x", "w"]}, "out": {"add": ["s", "b"]}},
        gates="matmul,add,sqerr,batch",
        shapes=lambda n, d, m: {"x": (n, d), "w": (d, m), "b": (m,), "out": (n, m)},
    ),
    "sigmoid": _elementwise("sigmoid"),
    "tanh": _elementwise("tanh"),
    "relu": _elementwise("relu"),
}


def _numbers(rng: np.random.Generator, shape, values: str) -> np.ndarray:
    """Numbers of one value mode, as ``gradfuzz fuzz --values`` draws them."""
    if values == "normal":
        return rng.standard_normal(shape)
    if values == "wide":
        return rng.standard_normal(shape) * 10.0 ** rng.uniform(-2, 2)
    if values == "extreme":
        magnitude = 10.0 ** rng.uniform(-4, np.log10(40), shape)
        sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
        return np.where(rng.random(shape) < 0.05, 0.0, sign * magnitude)
    raise ValueError(f"values {values!r}: expected normal, wide or extreme")


def _trial_shapes(rng: np.random.Generator, trials: int, max_batch: int, max_dim: int):
    """(rows, inputs, outputs) per trial: the first trial a batch of one, a square layer
    (where a missing transpose has the right shape) one time in three."""
    shapes = []
    for k in range(trials):
        n = 1 if k == 0 else int(rng.integers(1, max_batch + 1))
        d = int(rng.integers(1, max_dim + 1))
        m = d if rng.random() < 1 / 3 else int(rng.integers(1, max_dim + 1))
        shapes.append((n, d, m))
    return shapes


def _case_text(layer: _Layer, name: str, shape, rng, values: str) -> str:
    sizes = layer.shapes(*shape)
    lines = [f"name: {json.dumps(name)}", "expect: pass", "nodes:"]

    def array(value: np.ndarray) -> str:
        return json.dumps(value.tolist())

    for argument in layer.arguments:
        value = _numbers(rng, sizes[argument], values)
        if argument == "w":
            value = value / np.sqrt(sizes["w"][0])  # divided by √(fan-in), as gradfuzz does
            lines.append(f"  {argument}: {{weight: {array(value)}}}")
        else:
            lines.append(f"  {argument}: {{input: {array(value)}}}")
    for node, op in layer.nodes().items():
        lines.append(f"  {node}: {json.dumps(op)}")
    lines.append(f"  t: {{target: {array(rng.standard_normal(sizes['out']))}}}")
    lines.append("  E: {sqerr: [out, t]}")
    return "\n".join(lines) + "\n"


class LayerError(ValueError):
    """A layer function that answered badly: its name, the argument and the shape it must
    have."""


def _adapter(gate: str, layer: _Layer, forward: Callable, backward: Callable) -> Callable:
    """A backward function over the layer's graphs, from the user's two functions."""
    forward_name = getattr(forward, "__name__", "forward")
    backward_name = getattr(backward, "__name__", "backward")

    def call(function, name, *args, shapes):
        """The user's function on ``args``; an exception it raises, as a LayerError naming
        the function and the shapes it was given."""
        try:
            return function(*args)
        except Exception as error:
            raise LayerError(
                f"{gate} layer: {name} raised {type(error).__name__}: {error} (for {shapes})"
            ) from error

    def walk(graph):
        arguments = [graph[name].value for name in layer.arguments]
        shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(layer.arguments, arguments))
        result = call(forward, forward_name, *arguments, shapes=shapes)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise LayerError(
                f"{gate} layer: {forward_name} returned {type(result).__name__}; expected "
                "(out, cache)"
            )
        out, cache = result
        t = graph["t"].value
        out = np.asarray(out)
        if out.shape != t.shape:
            raise LayerError(
                f"{gate} layer: {forward_name} returned out of shape {out.shape}; expected "
                f"{t.shape} for {shapes}"
            )
        # dE/d(out) of the trial's loss ½‖out − t‖², in the precision of the arguments.
        dout = (out - t).astype(t.dtype)
        grads = call(backward, backward_name, dout, cache, shapes=f"{shapes}, dout {dout.shape}")
        if len(layer.arguments) == 1:
            grads = (grads,)
        if not (isinstance(grads, tuple) and len(grads) == len(layer.arguments)):
            names = ", ".join("d" + a for a in layer.arguments)
            raise LayerError(f"{gate} layer: {backward_name} must return ({names})")
        gradients = {}
        for name, grad, argument in zip(layer.arguments, grads, arguments):
            grad = np.asarray(grad, dtype=np.float64)
            if grad.shape != argument.shape:
                raise LayerError(
                    f"{gate} layer: {backward_name} returned d{name} of shape {grad.shape}; "
                    f"expected {argument.shape}, the shape of {name}"
                )
            gradients[name] = grad
        loss = 0.5 * float(np.sum(np.asarray(dout, dtype=np.float64) ** 2))
        return gradients, loss

    walk.__qualname__ = f"{gate}:{forward_name}/{backward_name}"
    return walk


class LayerReport:
    """The outcome of :func:`check_layer`: ``passed``; ``report``, gradfuzz's
    :class:`Report` of the trials; ``smallest``, the shapes of the smallest failing trial (by
    entries), with its failing ``entries``; ``error``, a layer function's own error that
    stopped the run (a wrong shape, an exception), naming the function and the argument."""

    def __init__(self, gate: str, report: Report, shapes: Dict[str, dict]):
        self.gate = gate
        self.report = report
        self.passed = report.passed
        self.error: Optional[str] = report.stopped if report.status == 2 else None
        failing = []
        for failure in report.failures:
            name = failure.raw.get("name", "")
            if name in shapes:
                size = sum(int(np.prod(s)) for s in shapes[name].values())
                failing.append((size, name, failure))
        failing.sort(key=lambda f: f[0])
        self.failing_trials = len(failing)
        self.smallest: Optional[dict] = shapes[failing[0][1]] if failing else None
        self.entries = failing[0][2].entries if failing else []

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        """In a notebook: the verdict, and the smallest failing trial's entries as a table."""
        lines = self.text().split("\n")
        parts = [f"<p><b>{html.escape(lines[0])}</b></p>"]
        if self.smallest is not None and not self.error:
            parts.append(f"<p>{html.escape(lines[1].strip())}</p>")
            parts.append(_entries_html(self.entries))
        return "".join(parts)

    def text(self) -> str:
        trials = self.report.graphs
        if self.error:
            return f"{self.gate} layer: stopped: {self.error}"
        if self.passed:
            return f"{self.gate} layer: {trials} trials, all pass"
        lines = [f"{self.gate} layer: {self.failing_trials} of {trials} trials fail"]
        if self.smallest is not None:
            shape = ", ".join(f"{k} {v}" for k, v in self.smallest.items() if k != "out")
            lines.append(f"  smallest failing: {shape}")
            lines += ["    " + e.line() for e in self.entries[:10]]
        return "\n".join(lines)


def check_layer(
    gate: str,
    forward: Callable,
    backward: Callable,
    *,
    trials: int = 50,
    seed: int = 0,
    values: str = "normal",
    max_batch: int = 8,
    max_dim: int = 6,
    precision: str = "f64",
) -> LayerReport:
    """Check a layer's ``forward`` and ``backward`` with gradfuzz on ``trials`` random sizes
    and values of ``seed`` (``values`` as for ``gradfuzz fuzz``; the first trial a batch of
    one).

    ``gate`` is ``"affine"`` (``forward(x, w, b) -> (out, cache)`` with ``out = x·w + b``, ``x``
    a batch N×D, ``w`` D×M, ``b`` of length M; ``backward(dout, cache) -> (dx, dw, db)``), or
    ``"sigmoid"``, ``"tanh"``, ``"relu"`` (``forward(x) -> (out, cache)``, ``backward(dout,
    cache) -> dx``). ``cache`` is passed through untouched. The forward pass is checked through
    the loss against gradfuzz's own, the gradients entry by entry against its oracles."""
    try:
        layer = LAYERS[gate]
    except KeyError:
        raise ValueError(f"gate {gate!r}: expected one of {', '.join(LAYERS)}") from None
    rng = np.random.default_rng(seed)
    shapes: Dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="gradfuzz-layer-") as folder:
        paths: List[str] = []
        for k, shape in enumerate(_trial_shapes(rng, trials, max_batch, max_dim)):
            name = f"{gate}-trial-{k:04d}"
            shapes[name] = layer.shapes(*shape)
            path = os.path.join(folder, f"{name}.yaml")
            with open(path, "w") as file:
                file.write(_case_text(layer, name, shape, rng, values))
            paths.append(path)
        report = check(
            _adapter(gate, layer, forward, backward),
            cases=paths,
            gates=layer.gates,
            precision=precision,
        )
    return LayerReport(gate, report, shapes)


def assert_layer(gate: str, forward: Callable, backward: Callable, **options) -> LayerReport:
    """:func:`check_layer`, raising ``AssertionError`` with its text unless it passed."""
    report = check_layer(gate, forward, backward, **options)
    if not report.passed:
        raise AssertionError("gradfuzz: " + report.text())
    return report
