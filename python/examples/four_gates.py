"""A reverse-mode engine for gradfuzz's four gates in numpy, written against
gradfuzz.Graph, and checked with gradfuzz.

    python four_gates.py                     # check it on 1,000 random graphs
    python four_gates.py --bug fanout-overwrite
    gradfuzz fuzz --engine 'exec:python four_gates.py --serve'   # or serve it to the CLI

--bug NAME plants a mistake people make, to watch gradfuzz catch, blame and shrink it:
  fanout-overwrite     a node used by several gates keeps the last gradient (= for +=)
  matvec-no-transpose  the vector's gradient is W g instead of Wᵀ g
  sigmoid-of-input     the sigmoid's slope is s(1 − s), from its input, not o(1 − o)
"""
import sys

import numpy as np

import gradfuzz

BUGS = ("fanout-overwrite", "matvec-no-transpose", "sigmoid-of-input")


def sigmoid(s):
    # exp of a negative number only: no overflow for large |s|.
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1 / (1 + e), e / (1 + e))


def forward(graph):
    """Every node's value, and the loss (the sum of the sqerr nodes)."""
    values, loss = {}, 0.0
    for node in graph.nodes:
        if node.is_leaf:
            values[node.name] = node.value
        elif node.op == "add":
            a, b = node.inputs
            values[node.name] = values[a] + values[b]
        elif node.op == "matvec":
            w, o = node.inputs
            values[node.name] = values[w] @ values[o]
        elif node.op == "sigmoid":
            values[node.name] = sigmoid(values[node.inputs[0]])
        elif node.op == "sqerr":
            o, t = node.inputs
            r = values[o] - values[t]
            values[node.name] = 0.5 * (r @ r)
            loss = loss + values[node.name]
    return values, loss


def make_backward(bug=None):
    """The backward function, with ``bug`` planted (None: correct)."""

    def backward(graph):
        values, loss = forward(graph)
        grads = {}

        def send(name, g):
            # Where a node feeds several gates, the gradients they send back are summed.
            if name in grads and bug != "fanout-overwrite":
                grads[name] = grads[name] + g
            else:
                grads[name] = g

        for node in reversed(graph.nodes):
            if node.op == "sqerr":
                o, t = node.inputs
                r = values[o] - values[t]  # dE/do = o − t
                send(o, r)
                send(t, -r)
                continue
            if node.is_leaf or node.name not in grads:
                continue  # a leaf, or a node that reaches no loss
            g = grads[node.name]
            if node.op == "add":
                a, b = node.inputs
                send(a, g)
                send(b, g)
            elif node.op == "matvec":
                w, o = node.inputs
                W = values[w]
                send(w, np.outer(g, values[o]))  # dE/dW = g oᵀ
                wrong = bug == "matvec-no-transpose" and W.shape[0] == W.shape[1]
                send(o, (W if wrong else W.T) @ g)  # dE/do = Wᵀ g
            elif node.op == "sigmoid":
                o = values[node.name]
                if bug == "sigmoid-of-input":
                    o = values[node.inputs[0]]
                send(node.inputs[0], g * o * (1 - o))  # dE/ds = o(1 − o) ⊙ g
        gradients = {name: grads.get(name, np.zeros_like(v)) for name, v in graph.leaves.items()}
        return gradients, loss

    return backward


def main(argv):
    bug = None
    serve = "--serve" in argv
    argv = [a for a in argv if a != "--serve"]
    if argv[:1] == ["--bug"] and len(argv) == 2 and argv[1] in BUGS:
        bug = argv[1]
    elif argv:
        sys.exit(f"usage: four_gates.py [--serve] [--bug {'|'.join(BUGS)}]")
    backward = make_backward(bug)
    if serve:
        gradfuzz.serve(backward)
        return 0
    report = gradfuzz.check(backward, graphs=1000, seed=1)
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
