"""gradfuzz for Python: check a backward function with random computation graphs.

A backward function takes a :class:`Graph` (nodes in topological order, leaf values as
numpy arrays) and returns the gradient of its loss, the sum of its ``sqerr`` nodes, with
respect to every input and weight::

    import gradfuzz

    def backward(graph):
        ...
        return {name: gradient for name in graph.leaves}

    report = gradfuzz.check(backward, graphs=1000)   # or gradfuzz.assert_backward(...)
    print(report)

:func:`serve` speaks gradfuzz's exec protocol for such a function over standard input and
output, for ``gradfuzz fuzz --engine 'exec:python3 your_script.py'``; ``python -m gradfuzz``
runs the command line. :func:`check_layer` checks one layer written as a pair of functions
(``forward(x, w, b) -> (out, cache)``, ``backward(dout, cache) -> (dx, dw, db)``);
``check(backward, network=..., sizes=...)`` checks a backward function that knows one fixed
network on random sizes and values of it (:class:`Network`).
"""
from ._binary import BinaryNotFound, find_binary
from ._check import GradfuzzError, assert_backward, check
from ._graph import Graph, Node, RequestError
from ._layer import LayerError, LayerReport, assert_layer, check_layer
from ._network import Network, NetworkError, check_network
from ._report import Entry, Failure, Report
from ._serve import AnswerError, answer_line, gradients_of, serve

__all__ = [
    "AnswerError",
    "BinaryNotFound",
    "Entry",
    "Failure",
    "Graph",
    "GradfuzzError",
    "LayerError",
    "LayerReport",
    "Network",
    "NetworkError",
    "Node",
    "Report",
    "RequestError",
    "answer_line",
    "assert_backward",
    "assert_layer",
    "check",
    "check_layer",
    "check_network",
    "find_binary",
    "gradients_of",
    "serve",
]
__version__ = "0.1.0"
