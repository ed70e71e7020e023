"""The exec protocol for a Python backward function: bad answers become protocol errors that
name the leaf; nothing hangs."""
import io
import json
import subprocess
import sys

import numpy as np
import pytest

import gradfuzz

REQUEST = json.dumps(
    {
        "nodes": {
            "x": {"input": [1.0, 2.0]},
            "W": {"weight": [[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]]},
            "s": {"matvec": ["W", "x"]},
            "t": {"target": [0.0, 0.0, 1.0]},
            "E": {"sqerr": ["s", "t"]},
        }
    }
)


def right(graph):
    x, W, t = graph["x"].value, graph["W"].value, graph["t"].value
    r = W @ x - t
    return {"x": W.T @ r, "W": np.outer(r, x)}, 0.5 * float(r @ r)


def reply(backward, request=REQUEST):
    return json.loads(gradfuzz.answer_line(backward, request))


def test_the_graph_is_given_in_topological_order_with_arrays():
    seen = {}

    def backward(graph):
        seen["names"] = [n.name for n in graph.nodes]
        seen["W"] = graph["W"].value
        seen["leaves"] = sorted(graph.leaves)
        seen["losses"] = graph.losses
        seen["s"] = graph["s"].inputs
        return right(graph)

    shuffled = json.loads(REQUEST)
    shuffled["nodes"] = dict(reversed(list(shuffled["nodes"].items())))
    answer = reply(backward, json.dumps(shuffled))
    assert "gradients" in answer
    names = seen["names"]
    assert names.index("W") < names.index("s") and names.index("x") < names.index("s")
    assert names.index("s") < names.index("E") and names.index("t") < names.index("E")
    assert seen["W"].shape == (3, 2) and seen["W"].dtype == np.float64
    assert seen["leaves"] == ["W", "x"] and seen["losses"] == ["E"] and seen["s"] == ("W", "x")


def test_a_right_answer_carries_gradients_and_loss():
    answer = reply(right)
    assert answer["gradients"]["W"] == [[1.0, 2.0], [-1.5, -3.0], [3.0, 6.0]]
    assert answer["loss"] == pytest.approx(0.5 * (1 + 1.5**2 + 9))


@pytest.mark.parametrize(
    "backward, message",
    [
        (lambda g: {"x": np.zeros(2)}, "no gradient for leaf `W` (weight of shape (3, 2))"),
        (lambda g: {"x": np.zeros(2), "W": np.zeros((2, 3))}, "the gradient for leaf `W` has shape (2, 3)"),
        (lambda g: {"x": np.zeros(2), "W": np.zeros((3, 2)), "q": [1.0]}, "`q`, which is not a node"),
        (lambda g: {"x": np.zeros(2), "W": np.zeros((3, 2)), "s": [1.0]}, "`s`, a matvec node"),
        (lambda g: {"x": ["a", 0.0], "W": np.zeros((3, 2))}, "leaf `x` is not numeric"),
        (lambda g: [1.0, 2.0], "backward returned a list"),
        (lambda g: 1 / 0, "backward raised ZeroDivisionError: division by zero at "),
    ],
)
def test_a_bad_answer_is_a_protocol_error_naming_the_leaf(backward, message):
    answer = reply(backward)
    assert set(answer) == {"error"}, answer
    assert message in answer["error"], answer["error"]


def test_nan_and_infinity_are_answers_not_errors():
    # gradfuzz reports them as non-finite entries (and a non-finite loss as a forward
    # mismatch), as it does for a Rust engine's.
    line = gradfuzz._serve.answer_line(
        lambda g: ({"x": [np.nan, -np.inf], "W": np.zeros((3, 2))}, float("inf")), REQUEST
    )
    assert '"x": [NaN, -Infinity]' in line and '"loss": Infinity' in line, line


def test_a_target_gradient_is_not_an_error():
    answer = reply(lambda g: {**right(g)[0], "t": np.zeros(3)})
    assert set(answer["gradients"]) == {"x", "W"}


def test_a_request_that_is_not_a_graph_is_answered_with_an_error():
    assert "not a graph" in reply(right, "[1, 2]")["error"]
    assert "not a graph" in reply(right, '{"nodes": {"a": {"add": ["a", "a"]}}}')["error"]
    assert "not a graph" in reply(right, "{not json")["error"]


def test_serve_answers_every_line_and_ends_with_its_input():
    out = io.StringIO()
    gradfuzz.serve(right, stdin=io.StringIO(REQUEST + "\n\n" + REQUEST + "\n"), stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all("gradients" in json.loads(line) for line in lines)


HELLO = '{"hello": {"gradfuzz": "0"}, "nodes": {"x": {"input": [0.5]}, "t": {"target": [0.25]}, "E": {"sqerr": ["x", "t"]}}}'


def test_serve_answers_the_hello_with_what_it_declares():
    out = io.StringIO()
    gradfuzz.serve(right, "f32", stdin=io.StringIO(HELLO + "\n" + REQUEST + "\n"), stdout=out, gates=["lecture", "batch"], name="mine")
    hello, graph = (json.loads(line) for line in out.getvalue().splitlines())
    assert hello == {"engine": {"precision": "f32", "gates": "lecture,batch", "name": "mine"}}
    assert "gradients" in graph
    # Without a declaration to give, answer_line takes the hello for the graph it also is.
    assert "engine" not in reply(right, HELLO)
    with pytest.raises(ValueError, match="precision"):
        gradfuzz.serve(right, "f33", stdin=io.StringIO(""), stdout=io.StringIO())


def test_serve_in_a_program_keeps_serving_after_an_error():
    program = (
        "import gradfuzz\n"
        "def backward(g):\n"
        "    if len(g.leaves) == 2: raise ValueError('first')\n"
        "    return {}\n"
        "gradfuzz.serve(backward, precision='f32')\n"
    )
    one_leaf = json.dumps({"nodes": {"t": {"target": [1.0]}, "u": {"target": [2.0]}, "E": {"sqerr": ["t", "u"]}}})
    done = subprocess.run(
        [sys.executable, "-c", program], input=REQUEST + "\n" + one_leaf + "\n", capture_output=True,
        text=True, timeout=60,
    )
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert "ValueError: first" in first["error"]
    assert second == {"gradients": {}}


def test_the_losses_of_a_graph_are_its_sqerr_and_mse_nodes():
    graph = gradfuzz.Graph.from_request(
        {
            "nodes": {
                "X": {"input": [[1.0, 2.0], [3.0, 4.0]]},
                "T": {"target": [[0.0, 0.0], [0.0, 0.0]]},
                "E": {"mse": ["X", "T"]},
                "F": {"sqerr": ["X", "T"]},
            }
        }
    )
    assert sorted(graph.losses) == ["E", "F"]
