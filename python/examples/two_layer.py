"""The lecture's two-layer network, x → W1 → σ → W2 → σ → sqerr(t), differentiated by the
update rules of 20.4 written out by hand, and checked with gradfuzz on networks of random
sizes and values drawn from a template of it (no case files).

    python two_layer.py                          # check 200 networks of random sizes and values
    python two_layer.py --bug update-direction   # watch gradfuzz catch a planted mistake

--bug NAME plants a mistake:
  update-direction    the hidden layer's gradient is written as its update, η(Σ δ w)…,
                      whose sign is the opposite of the gradient's
  no-output-slope     the output layer's δ leaves out o2(1 − o2)
"""
import sys

import numpy as np

import gradfuzz

BUGS = ("update-direction", "no-output-slope")


def sigmoid(s):
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1 / (1 + e), e / (1 + e))


def make_backward(bug=None):
    def backward(graph):
        # The lecture's network, by its node names: x, W1, W2 and t.
        shape = [(n.name, n.op) for n in graph.nodes]
        expected = [("x", "input"), ("W1", "weight"), ("s1", "matvec"), ("o1", "sigmoid"),
                    ("W2", "weight"), ("s2", "matvec"), ("o2", "sigmoid"), ("t", "target"),
                    ("E", "sqerr")]
        if shape != expected:
            raise ValueError("this backward knows the two-layer network only")
        x, W1, W2, t = (graph[name].value for name in ("x", "W1", "W2", "t"))
        o1 = sigmoid(W1 @ x)
        o2 = sigmoid(W2 @ o1)
        # Output layer: δ_k = −∂E/∂s2_k = (t_k − o2_k) o2_k (1 − o2_k).
        delta = (t - o2) * (1.0 if bug == "no-output-slope" else o2 * (1 - o2))
        # ∂E/∂w2_{j,k} = −δ_k o1_j; W2 has a row per output unit k.
        dW2 = -np.outer(delta, o1)
        # Hidden layer: ∂E/∂w1_{i,j} = −(Σ_k δ_k w2_{j,k}) o1_j (1 − o1_j) x_i.
        back = (W2.T @ delta) * o1 * (1 - o1)
        dW1 = np.outer(back, x) if bug == "update-direction" else -np.outer(back, x)
        dx = -(W1.T @ back)
        loss = 0.5 * float((o2 - t) @ (o2 - t))
        return {"x": dx, "W1": dW1, "W2": dW2}, loss

    return backward


# The network as a template: its nodes as a case file has them, each leaf's shape in sizes
# (n inputs, h hidden units, m outputs), drawn from 1 to 6 for every network.
TWO_LAYER = {
    "x": {"input": ["n"]},
    "W1": {"weight": ["h", "n"]},
    "s1": {"matvec": ["W1", "x"]},
    "o1": {"sigmoid": "s1"},
    "W2": {"weight": ["m", "h"]},
    "s2": {"matvec": ["W2", "o1"]},
    "o2": {"sigmoid": "s2"},
    "t": {"target": ["m"]},
    "E": {"sqerr": ["o2", "t"]},
}
SIZES = {"n": (1, 6), "h": (1, 6), "m": (1, 6)}


def main(argv):
    bug = None
    if argv[:1] == ["--bug"] and len(argv) == 2 and argv[1] in BUGS:
        bug = argv[1]
    elif argv:
        sys.exit(f"usage: two_layer.py [--bug {'|'.join(BUGS)}]")
    report = gradfuzz.check(make_backward(bug), network=TWO_LAYER, sizes=SIZES, graphs=200)
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
