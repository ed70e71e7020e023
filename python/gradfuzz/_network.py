"""Checking a fixed network (the lecture's two layers, a student's MLP) without writing case
files: a template gives the network's nodes as a case file does, each leaf with its shape in
size names (``{"W1": {"weight": ["h", "n"]}}``), and the sizes' ranges; gradfuzz draws
``graphs`` networks of random sizes (the first with every size at its smallest, a batch of one
among them) and values of a value mode, and checks ``backward`` on each.

The graphs keep the template's node names and ops, so a backward function that knows only its
own network answers every one. Failing networks are reported smallest first, by their sizes
(``network-0003 (n 1, h 2, m 1)``), in place of shrinking, which would change the network."""
import json
import os
import tempfile
from typing import Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from ._layer import _numbers
from ._report import Report

LEAVES = ("input", "weight", "target")
Size = Union[int, Tuple[int, int], range]


class NetworkError(ValueError):
    """A template gradfuzz cannot draw networks from: its message names the node or size."""


class Network:
    """A network template: ``nodes``, a case file's nodes in order (a dict from name to
    ``{op: operands}``) whose leaves give their shape as a list of one or two sizes, each a
    size name or a number (``{"x": {"input": ["n"]}}``, ``{"X": {"input": ["batch", "n"]}}``);
    ``sizes``, each size name's range, a number or an inclusive pair ``(low, high)`` or a
    ``range``; a name without one ranges over 1 to 6."""

    def __init__(self, nodes: Mapping[str, Mapping], sizes: Optional[Mapping[str, Size]] = None):
        if not isinstance(nodes, Mapping) or not nodes:
            raise NetworkError("network: expected a dict of nodes, name to {op: operands}")
        self.nodes: Dict[str, Tuple[str, object]] = {}
        for name, node in nodes.items():
            if not (isinstance(node, Mapping) and len(node) == 1):
                raise NetworkError(
                    f"network: node `{name}`: expected one op, as {{\"sigmoid\": \"s\"}} or "
                    f"{{\"input\": [\"n\"]}}; got {node!r}"
                )
            ((op, operands),) = node.items()
            self.nodes[str(name)] = (str(op), operands)
        self.shapes: Dict[str, List[Union[str, int]]] = {}
        for name, (op, operands) in self.nodes.items():
            if op in LEAVES:
                self.shapes[name] = _leaf_shape(name, op, operands)
        if not self.shapes:
            raise NetworkError("network: no leaf (input, weight or target) to draw values for")
        self.ranges: Dict[str, Tuple[int, int]] = {}
        for size in dict.fromkeys(d for shape in self.shapes.values() for d in shape):
            if isinstance(size, str):
                self.ranges[size] = _size_range(size, (sizes or {}).get(size, (1, 6)))
        for size in sizes or {}:
            if size not in self.ranges:
                raise NetworkError(
                    f"network: size `{size}` is given a range but no leaf's shape uses it "
                    f"(sizes in use: {', '.join(self.ranges) or 'none'})"
                )

    def gates(self) -> str:
        """The gates its graphs use, as ``--gates`` takes them (``batch`` when a leaf other
        than a weight is a matrix)."""
        ops = [op for op, _ in self.nodes.values() if op not in LEAVES]
        batch = any(
            len(self.shapes[name]) == 2
            for name, (op, _) in self.nodes.items()
            if op in ("input", "target")
        )
        return ",".join(list(dict.fromkeys(ops)) + (["batch"] if batch else []))

    def draw_sizes(self, rng: np.random.Generator, first: bool) -> Dict[str, int]:
        """Each size: its smallest for the first network, uniform in its range after."""
        return {
            size: low if first else int(rng.integers(low, high + 1))
            for size, (low, high) in self.ranges.items()
        }

    def case(self, name: str, sizes: Dict[str, int], rng, values: str) -> dict:
        """A case of the template at ``sizes``, its leaves' values drawn in ``values`` mode
        (a weight divided by the square root of its fan-in, as gradfuzz's graphs do)."""
        nodes = {}
        for node, (op, operands) in self.nodes.items():
            if op not in LEAVES:
                nodes[node] = {op: operands}
                continue
            shape = tuple(d if isinstance(d, int) else sizes[d] for d in self.shapes[node])
            value = _numbers(rng, shape, values)
            if op == "weight":
                value = value / np.sqrt(self._fan_in(node, shape))
            nodes[node] = {op: value.tolist()}
        description = "a network of gradfuzz.check(network=...) at " + _sizes_text(sizes)
        return {"name": name, "description": description, "expect": "pass", "nodes": nodes}

    def entries(self, sizes: Dict[str, int]) -> int:
        """How many numbers its leaves hold at ``sizes``: what "smallest" means."""
        return sum(
            int(np.prod([d if isinstance(d, int) else sizes[d] for d in shape]))
            for shape in self.shapes.values()
        )

    def _fan_in(self, weight: str, shape) -> int:
        """A weight's fan-in: its columns where it multiplies from the left (``W x``, ``W·A``),
        its rows where it is the right factor of a matmul (``X·W``)."""
        for op, operands in self.nodes.values():
            if op == "matmul" and isinstance(operands, list) and operands[1:2] == [weight]:
                return shape[0]
        return shape[-1]


def _leaf_shape(name: str, op: str, shape) -> List[Union[str, int]]:
    if isinstance(shape, (str, int)) and not isinstance(shape, bool):
        shape = [shape]
    ok = isinstance(shape, list) and len(shape) in (1, 2) and all(
        (isinstance(d, str) and d) or (isinstance(d, int) and not isinstance(d, bool) and d >= 1)
        for d in shape
    )
    if not ok or (op == "weight" and len(shape) != 2):
        wanted = "two sizes, rows and columns" if op == "weight" else "one or two sizes"
        raise NetworkError(
            f"network: node `{name}`: a {op}'s shape is {wanted}, each a size name or a "
            f"number ≥ 1 (as [\"h\", \"n\"]); got {shape!r}"
        )
    return list(shape)


def _size_range(size: str, given: Size) -> Tuple[int, int]:
    if isinstance(given, range) and given.step == 1 and len(given) > 0:
        low, high = given.start, given.stop - 1
    elif isinstance(given, int) and not isinstance(given, bool):
        low = high = given
    elif (
        isinstance(given, tuple)
        and len(given) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in given)
    ):
        low, high = given
    else:
        raise NetworkError(
            f"network: size `{size}`: expected a number, a pair (low, high) or a range; "
            f"got {given!r}"
        )
    if not 1 <= low <= high:
        raise NetworkError(f"network: size `{size}`: {given!r} is not a range of sizes ≥ 1")
    return low, high


def _sizes_text(sizes: Dict[str, int]) -> str:
    return ", ".join(f"{size} {n}" for size, n in sizes.items())


def check_network(
    backward: Callable,
    network: Union[Network, Mapping[str, Mapping]],
    sizes: Optional[Mapping[str, Size]] = None,
    *,
    graphs: int = 200,
    seed: int = 0,
    values: str = "normal",
    gates: Union[None, str, List[str]] = None,
    **options,
) -> Report:
    """:func:`gradfuzz.check` of ``backward`` on ``graphs`` networks drawn from a template
    (see :class:`Network`); ``options`` as for :func:`gradfuzz.check` (``precision``,
    ``jobs``, ``args``...). The report's failures are the failing networks, smallest first;
    ``report.smallest`` is the sizes of the smallest."""
    from ._check import check

    if not isinstance(network, Network):
        network = Network(network, sizes)
    elif sizes is not None:
        network = Network({n: {op: operands} for n, (op, operands) in network.nodes.items()}, sizes)
    if not (isinstance(graphs, int) and graphs >= 1):
        raise ValueError(f"graphs: expected a number ≥ 1; got {graphs!r}")
    rng = np.random.default_rng(seed)
    drawn: Dict[str, Dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="gradfuzz-network-") as folder:
        paths = []
        for k in range(graphs):
            name = f"network-{k:04d}"
            drawn[name] = network.draw_sizes(rng, first=k == 0)
            path = os.path.join(folder, f"{name}.json")
            with open(path, "w") as file:
                json.dump(network.case(name, drawn[name], rng, values), file)
            paths.append(path)
        report = check(backward, cases=paths, gates=gates or network.gates(), **options)
        for case in report.json.get("cases", []):
            if "error" in case:
                message = case["error"].replace(case.get("file", "") + ": ", "")
                raise NetworkError(f"network: {message}")
    failing = []
    for failure in report.failures:
        sizes_drawn = drawn[failure.raw.get("name", "")]
        failure.where = f"{failure.raw['name']} ({_sizes_text(sizes_drawn)})"
        failing.append((network.entries(sizes_drawn), failure))
    failing.sort(key=lambda f: f[0])
    report.failures = [failure for _, failure in failing]
    report.smallest = drawn[failing[0][1].raw["name"]] if failing else None
    return report
