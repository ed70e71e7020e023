"""A reverse-mode engine in numpy for gradfuzz's gates on batches (SPEC §7 as far as gradfuzz
has it: add and mul with a vector on every row, matvec, matmul, transpose, sigmoid, tanh,
relu, sum, mean, sqerr and mse), written against gradfuzz.Graph, and checked with gradfuzz,
declaring its gates.

    python batches.py                      # check it on 1,000 random graphs of every gate
    python batches.py --bug bias-first-row

--bug NAME plants a mistake people make with batches:
  bias-first-row   a vector added to every row receives row 0 of G, not the sum over rows
  mse-no-divide    mse's gradient is o − t, without the division by the batch's rows
  mul-self         mul's first operand receives g ⊙ a, its own value, instead of g ⊙ b
  matmul-no-transpose  matmul's first operand receives G B instead of G Bᵀ (B square)
  relu-mask-from-upstream  relu's mask taken from g > 0 instead of the input's s > 0
"""
import sys

import numpy as np

import gradfuzz

BUGS = ("bias-first-row", "mse-no-divide", "mul-self", "matmul-no-transpose", "relu-mask-from-upstream")
# The gates this engine computes, on batches too: what it declares to gradfuzz.
GATES = "add,mul,matvec,matmul,transpose,sigmoid,tanh,relu,sum,mean,sqerr,mse,batch"


def sigmoid(s):
    # exp of a negative number only: no overflow for large |s|.
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1 / (1 + e), e / (1 + e))


def rows(value):
    """The rows of a batch; a vector is one row."""
    return value.shape[0] if value.ndim == 2 else 1


def forward(graph):
    """Every node's value, and the loss (the sum of the loss nodes)."""
    values, loss = {}, 0.0
    for node in graph.nodes:
        x = [values[name] for name in node.inputs]
        if node.is_leaf:
            value = node.value
        elif node.op == "add":
            value = x[0] + x[1]  # numpy broadcasts a vector over the rows
        elif node.op == "mul":
            value = x[0] * x[1]
        elif node.op in ("matvec", "matmul"):
            value = x[0] @ x[1]
        elif node.op == "transpose":
            value = x[0].T
        elif node.op == "sigmoid":
            value = sigmoid(x[0])
        elif node.op == "tanh":
            value = np.tanh(x[0])
        elif node.op == "relu":
            value = np.where(x[0] > 0, x[0], 0.0)
        elif node.op == "sum":
            value = x[0].sum(axis=0)
        elif node.op == "mean":
            value = x[0].sum(axis=0) / x[0].shape[0]
        elif node.op in ("sqerr", "mse"):
            r = (x[0] - x[1]).ravel()
            value = 0.5 * (r @ r)
            if node.op == "mse":
                value = value / rows(x[0])
            loss = loss + value
        else:
            raise ValueError(f"node {node.name}: op {node.op} is not one of {GATES}")
        values[node.name] = value
    return values, loss


def unbroadcast(g, like):
    """The gradient of an operand of `like`'s shape from `g`: a vector on every row of a
    matrix receives the sum over the rows."""
    if g.ndim == 2 and like.ndim == 1:
        return g.sum(axis=0)
    return g


def make_backward(bug=None):
    """The backward function, with ``bug`` planted (None: correct)."""

    def backward(graph):
        values, loss = forward(graph)
        grads = {}

        def send(name, g):
            # Where a node feeds several gates, the gradients they send back are summed.
            grads[name] = grads[name] + g if name in grads else g

        for node in reversed(graph.nodes):
            x = [values[name] for name in node.inputs]
            if node.op in ("sqerr", "mse"):
                r = x[0] - x[1]  # dE/do = o − t (mse: divided by the rows)
                if node.op == "mse" and bug != "mse-no-divide":
                    r = r / rows(x[0])
                send(node.inputs[0], r)
                send(node.inputs[1], -r)
                continue
            if node.is_leaf or node.name not in grads:
                continue  # a leaf, or a node that reaches no loss
            g = grads[node.name]
            a = node.inputs[0]
            if node.op == "add":
                for name, value in zip(node.inputs, x):
                    if bug == "bias-first-row" and g.ndim == 2 and value.ndim == 1:
                        send(name, g[0])
                    else:
                        send(name, unbroadcast(g, value))
            elif node.op == "mul":
                first = x[0] if bug == "mul-self" else x[1]
                send(a, unbroadcast(g * first, x[0]))
                send(node.inputs[1], unbroadcast(g * x[0], x[1]))
            elif node.op == "matvec":
                send(a, np.outer(g, x[1]))  # dE/dW = g oᵀ
                send(node.inputs[1], x[0].T @ g)  # dE/do = Wᵀ g
            elif node.op == "matmul":
                square = x[1].shape[0] == x[1].shape[1]
                right = x[1] if bug == "matmul-no-transpose" and square else x[1].T
                send(a, g @ right)  # dE/dA = G Bᵀ
                send(node.inputs[1], x[0].T @ g)  # dE/dB = Aᵀ G
            elif node.op == "transpose":
                send(a, g.T)
            elif node.op == "sigmoid":
                o = values[node.name]
                send(a, g * o * (1 - o))
            elif node.op == "tanh":
                o = values[node.name]
                send(a, g * (1 - o * o))
            elif node.op == "relu":
                # Slope 1 where s > 0, 0 elsewhere (0 at s = 0 itself: any of [0, 1] passes).
                mask = (g if bug == "relu-mask-from-upstream" else x[0]) > 0
                send(a, g * mask)
            elif node.op in ("sum", "mean"):
                share = g if node.op == "sum" else g / x[0].shape[0]
                send(a, np.broadcast_to(share, x[0].shape).copy())
        gradients = {name: grads.get(name, np.zeros_like(v)) for name, v in graph.leaves.items()}
        return gradients, loss

    return backward


def main(argv):
    bug = None
    if argv[:1] == ["--bug"] and len(argv) == 2 and argv[1] in BUGS:
        bug = argv[1]
    elif argv:
        sys.exit(f"usage: batches.py [--bug {'|'.join(BUGS)}]")
    report = gradfuzz.check(make_backward(bug), graphs=1000, seed=1, gates=GATES)
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
