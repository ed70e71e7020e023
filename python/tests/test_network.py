"""gradfuzz.check(backward, network=...) on fixed networks whose backward functions know only
their own network: the lecture's two layers (examples/two_layer.py) and a batched MLP written
here, with their classic bugs caught, the failing entry named and the smallest failing sizes
reported; templates gradfuzz cannot use refused with the node or size named."""
import numpy as np
import pytest

import gradfuzz
import two_layer

# A batched MLP, X·W1 + b1 → tanh → ·W2 + b2 → mse, as a student writes it after CS231n.
MLP = {
    "X": {"input": ["batch", "n"]},
    "W1": {"weight": ["n", "h"]},
    "b1": {"input": ["h"]},
    "S1": {"matmul": ["X", "W1"]},
    "A1": {"add": ["S1", "b1"]},
    "H": {"tanh": "A1"},
    "W2": {"weight": ["h", "m"]},
    "b2": {"input": ["m"]},
    "S2": {"matmul": ["H", "W2"]},
    "Y": {"add": ["S2", "b2"]},
    "T": {"target": ["batch", "m"]},
    "E": {"mse": ["Y", "T"]},
}
MLP_SIZES = {"batch": (1, 8), "n": (1, 5), "h": (1, 5), "m": (1, 4)}


def mlp_backward(bug=None):
    def backward(graph):
        X, W1, b1, W2, b2, T = (graph[k].value for k in ("X", "W1", "b1", "W2", "b2", "T"))
        H = np.tanh(X @ W1 + b1)
        Y = H @ W2 + b2
        N = X.shape[0]
        dY = (Y - T) / (1 if bug == "mse-no-divide" else N)
        db2 = dY[0] if bug == "bias-first-row" else dY.sum(axis=0)
        dW2 = H.T @ dY
        dA = (dY @ W2.T) * (1 - H**2)
        gradients = {"X": dA @ W1.T, "W1": X.T @ dA, "b1": dA.sum(axis=0), "W2": dW2, "b2": db2}
        return gradients, 0.5 * float(np.sum((Y - T) ** 2)) / N

    return backward


def test_the_lecture_network_passes_from_its_template_without_case_files():
    report = gradfuzz.check(
        two_layer.make_backward(), network=two_layer.TWO_LAYER, sizes=two_layer.SIZES, graphs=100
    )
    assert report.passed, report.text()
    assert report.graphs == 100
    assert report.smallest is None


@pytest.mark.parametrize("bug, leaf", [("update-direction", "W1"), ("no-output-slope", "W2")])
def test_each_planted_bug_of_the_lecture_network_is_caught_on_its_weight(bug, leaf):
    report = gradfuzz.check(
        two_layer.make_backward(bug), network=two_layer.TWO_LAYER, sizes=two_layer.SIZES, graphs=50
    )
    assert not report.passed
    # The first network has every size at its smallest, and both bugs show there.
    assert report.smallest == {"n": 1, "h": 1, "m": 1}
    assert report.failures[0].where.startswith("network-0000 (n 1, h 1, m 1)")
    assert any(e.leaf == leaf for e in report.failures[0].entries), report.text()


def test_a_batched_mlp_passes_and_its_bias_bugs_are_caught_on_the_bias():
    right = gradfuzz.check(mlp_backward(), network=MLP, sizes=MLP_SIZES, graphs=60, seed=3)
    assert right.passed, right.text()
    wrong = gradfuzz.check(
        mlp_backward("bias-first-row"), network=MLP, sizes=MLP_SIZES, graphs=60, seed=3
    )
    assert not wrong.passed
    # db2 from the first row only is right for a batch of one: every failing network has a
    # batch of two or more, and the smallest failing one is listed first.
    assert all(e.leaf == "b2" for f in wrong.failures for e in f.entries), wrong.text()
    batches = [int(f.where.split("batch ")[1].split(",")[0]) for f in wrong.failures]
    assert min(batches) >= 2 and wrong.smallest["batch"] >= 2
    sizes = [sum(np.prod(s) for s in _leaf_sizes(f.where)) for f in wrong.failures]
    assert sizes == sorted(sizes)
    only_one_row = gradfuzz.check(
        mlp_backward("bias-first-row"), network=MLP, sizes={**MLP_SIZES, "batch": 1}, graphs=30
    )
    assert only_one_row.passed, only_one_row.text()


def _leaf_sizes(where):
    """The leaves' shapes of an MLP network from its report line's sizes."""
    sizes = dict(part.split(" ") for part in where.split("(", 1)[1].rstrip(")").split(", "))
    s = {k: int(v) for k, v in sizes.items()}
    return [(s["batch"], s["n"]), (s["n"], s["h"]), (s["h"],), (s["h"], s["m"]), (s["m"],),
            (s["batch"], s["m"])]


def test_a_missing_divide_by_the_batch_is_caught_on_every_leaf_but_not_for_a_batch_of_one():
    report = gradfuzz.check(
        mlp_backward("mse-no-divide"), network=MLP, sizes=MLP_SIZES, graphs=40, seed=5
    )
    assert not report.passed
    assert report.smallest["batch"] >= 2
    leaves = {e.leaf for f in report.failures for e in f.entries}
    assert leaves == {"X", "W1", "b1", "W2", "b2"}, leaves


def test_the_same_seed_draws_the_same_networks_and_the_same_report():
    first, second = (
        gradfuzz.check(mlp_backward("bias-first-row"), network=MLP, sizes=MLP_SIZES, graphs=20)
        for _ in range(2)
    )
    assert first.text() == second.text()
    other = gradfuzz.check(
        mlp_backward("bias-first-row"), network=MLP, sizes=MLP_SIZES, graphs=20, seed=1
    )
    assert other.text() != first.text()


@pytest.mark.parametrize(
    "nodes, sizes, message",
    [
        ({"x": {"input": ["n", "m", "k"]}}, None, "node `x`: a input's shape is one or two sizes"),
        ({"W": {"weight": ["n"]}}, None, "node `W`: a weight's shape is two sizes"),
        ({"x": {"input": [0]}}, None, "node `x`"),
        ({"x": "input"}, None, "node `x`: expected one op"),
        ({"x": {"input": ["n"]}}, {"n": (3, 2)}, "size `n`: (3, 2) is not a range"),
        ({"x": {"input": ["n"]}}, {"n": "big"}, "size `n`: expected a number"),
        ({"x": {"input": ["n"]}}, {"h": 3}, "size `h` is given a range but no leaf's shape"),
        ({"E": {"sqerr": ["o", "t"]}}, None, "no leaf"),
    ],
)
def test_a_template_gradfuzz_cannot_draw_from_is_refused_naming_the_node_or_size(
    nodes, sizes, message
):
    with pytest.raises(gradfuzz.NetworkError) as error:
        gradfuzz.check(two_layer.make_backward(), network=nodes, sizes=sizes)
    assert message in str(error.value)


def test_a_template_whose_shapes_do_not_agree_is_refused_with_gradfuzz_s_message():
    nodes = dict(two_layer.TWO_LAYER, W2={"weight": ["m", "n"]})  # W2 must be m×h
    with pytest.raises(gradfuzz.NetworkError) as error:
        gradfuzz.check(two_layer.make_backward(), network=nodes, sizes={"n": 2, "h": 3, "m": 1})
    text = str(error.value)
    assert "node `s2`" in text and "matvec" in text and "gradfuzz-network-" not in text, text
