"""The graph a backward function is asked about: its nodes in topological order, with the
values of its leaves as numpy arrays."""
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

LEAVES = ("input", "weight", "target")
GATES = ("add", "matvec", "sigmoid", "sqerr", "tanh", "mse", "sum", "mean", "mul", "matmul", "transpose", "relu")
# The gates of one operand, written `op: s` rather than `op: [a, b]`.
UNARY = ("sigmoid", "tanh", "sum", "mean", "transpose", "relu")


class Node:
    """One node. ``op`` is ``input``, ``weight`` or ``target`` for a leaf, whose ``value`` is
    a vector (an array of shape ``(n,)``) or, for a weight, a matrix ``(rows, cols)``; or
    ``add``, ``matvec``, ``sigmoid`` or ``sqerr`` for a gate, whose ``inputs`` are its
    operands' names in the gate's order: ``add(a, b)``, ``matvec(W, o)`` (``s = W o``),
    ``sigmoid(s)``, ``sqerr(o, t)`` (``E = ½‖o − t‖²``)."""

    __slots__ = ("name", "op", "inputs", "value")

    def __init__(self, name: str, op: str, inputs: Tuple[str, ...], value: Optional[np.ndarray]):
        self.name = name
        self.op = op
        self.inputs = inputs
        self.value = value

    @property
    def is_leaf(self) -> bool:
        return self.op in LEAVES

    def __repr__(self) -> str:
        if self.is_leaf:
            return f"Node({self.name!r}, {self.op}, shape {self.value.shape})"
        return f"Node({self.name!r}, {self.op}{self.inputs})"


class RequestError(ValueError):
    """A request that is not a graph of the four gates."""


class Graph:
    """A computation graph of the four gates. ``nodes`` lists every node after its operands;
    ``graph["W1"]`` is a node by name. The loss is the sum of the ``sqerr`` nodes; a backward
    function returns its gradient with respect to every leaf in ``graph.leaves`` (inputs and
    weights; targets are constants)."""

    def __init__(self, nodes: List[Node]):
        self.nodes = nodes
        self._by_name = {node.name: node for node in nodes}

    @classmethod
    def from_request(cls, request: dict, dtype=np.float64) -> "Graph":
        """The graph of an exec-protocol request, ``{"nodes": {name: {op: args}}}``, with
        leaf values as arrays of ``dtype``."""
        raw = request.get("nodes") if isinstance(request, dict) else None
        if not isinstance(raw, dict):
            raise RequestError("a request is an object with a `nodes` object")
        parsed: Dict[str, Node] = {}
        for name, spec in raw.items():
            if not (isinstance(spec, dict) and len(spec) == 1):
                raise RequestError(f"node `{name}`: expected one op")
            ((op, args),) = spec.items()
            if op in LEAVES:
                value = np.array(args, dtype=dtype)
                # A weight is a matrix; an input or a target a vector, or a matrix (a batch,
                # SPEC §7) for an engine that declares batches.
                if value.ndim not in ((2,) if op == "weight" else (1, 2)):
                    raise RequestError(f"node `{name}`: a {op} of shape {value.shape}")
                parsed[name] = Node(name, op, (), value)
            elif op in GATES:
                inputs = (args,) if op in UNARY else tuple(args)
                parsed[name] = Node(name, op, inputs, None)
            else:
                raise RequestError(f"node `{name}`: unknown op `{op}`")
        return cls(_topological(parsed))

    def __getitem__(self, name: str) -> Node:
        return self._by_name[name]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def leaves(self) -> Dict[str, np.ndarray]:
        """The inputs and weights, by name: the gradient is asked with respect to these."""
        return {n.name: n.value for n in self.nodes if n.op in ("input", "weight")}

    @property
    def losses(self) -> List[str]:
        """The names of the loss nodes (``sqerr``, ``mse``), whose sum is the loss."""
        return [n.name for n in self.nodes if n.op in ("sqerr", "mse")]

    def users(self, name: str) -> List[str]:
        """The gates that take node ``name`` as an operand (more than one: a fan-out, whose
        gradients are summed)."""
        return [n.name for n in self.nodes if name in n.inputs]

    def __repr__(self) -> str:
        return "Graph(" + ", ".join(map(repr, self.nodes)) + ")"


def _topological(nodes: Dict[str, Node]) -> List[Node]:
    order: List[Node] = []
    state: Dict[str, str] = {}
    for root in nodes:
        stack = [(root, False)]
        while stack:
            name, finished = stack.pop()
            if name not in nodes:
                raise RequestError(f"an operand `{name}` that is not a node")
            if finished:
                if state[name] != "done":
                    state[name] = "done"
                    order.append(nodes[name])
                continue
            if state.get(name) == "done":
                continue
            if state.get(name) == "open":
                raise RequestError(f"a cycle through `{name}`")
            state[name] = "open"
            stack.append((name, True))
            stack.extend((operand, False) for operand in reversed(nodes[name].inputs))
    return order
