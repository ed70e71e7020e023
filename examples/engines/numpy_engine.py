#!/usr/bin/env python3
"""A reverse-mode engine for gradfuzz's four gates, in numpy.

Run as:  gradfuzz fuzz --engine 'exec:python3 examples/engines/numpy_engine.py'
   or, in single precision:
         gradfuzz fuzz --engine 'exec:python3 examples/engines/numpy_engine.py --dtype float32' --precision f32

Protocol: one JSON line per graph on stdin, {"nodes": {...}} (leaves with their values);
one JSON line back on stdout, {"gradients": {leaf: [...]}, "loss": E} or {"error": "..."}.

--dtype float64|float32|float16 is the precision every array and operation is in (float64 by
default); tell gradfuzz with --precision f64|f32|f16.

--bug NAME injects a realistic mistake, so that you can watch gradfuzz catch it:
  fanout-overwrite   a node used by several gates keeps the last gradient (= instead of +=)
  matvec-no-transpose  the vector's gradient is W g instead of W^T g
"""
import json
import sys

import numpy as np

BUGS = ("fanout-overwrite", "matvec-no-transpose")
DTYPES = {"float64": np.float64, "float32": np.float32, "float16": np.float16}


def topological(nodes):
    """Node ids with every operand before its users (the request is already in that order,
    but the protocol allows any)."""
    order, state = [], {}

    def visit(name):
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            raise ValueError(f"cycle at {name}")
        state[name] = "open"
        for operand in operands(nodes[name]):
            visit(operand)
        state[name] = "done"
        order.append(name)

    for name in nodes:
        visit(name)
    return order


def operands(node):
    (op, args), = node.items()
    if op in ("input", "weight", "target"):
        return []
    return [args] if op == "sigmoid" else list(args)


def forward(nodes, order, dtype):
    values = {}
    for name in order:
        (op, args), = nodes[name].items()
        if op in ("input", "target"):
            values[name] = np.array(args, dtype=dtype)
        elif op == "weight":
            values[name] = np.array(args, dtype=dtype).reshape(len(args), -1)
        elif op == "add":
            values[name] = values[args[0]] + values[args[1]]
        elif op == "matvec":
            values[name] = values[args[0]] @ values[args[1]]
        elif op == "sigmoid":
            s = values[args]
            values[name] = np.where(s >= 0, 1 / (1 + np.exp(-np.abs(s))), np.exp(-np.abs(s)) / (1 + np.exp(-np.abs(s))))
        elif op == "sqerr":
            r = values[args[0]] - values[args[1]]
            values[name] = dtype(0.5) * (r @ r)
        else:
            raise ValueError(f"unknown op {op}")
    return values


def backward(nodes, order, values, bug):
    grads = {}

    def add(name, g):
        if name in grads and bug != "fanout-overwrite":
            grads[name] = grads[name] + g
        else:
            grads[name] = g

    for name in reversed(order):
        (op, args), = nodes[name].items()
        if op == "sqerr":
            r = values[args[0]] - values[args[1]]
            add(args[0], r)
            add(args[1], -r)
            continue
        if name not in grads:
            continue  # reaches no loss
        g = grads[name]
        if op == "add":
            add(args[0], g)
            add(args[1], g)
        elif op == "matvec":
            w, o = values[args[0]], values[args[1]]
            add(args[0], np.outer(g, o))
            wrong = bug == "matvec-no-transpose" and w.shape[0] == w.shape[1]
            add(args[1], (w if wrong else w.T) @ g)
        elif op == "sigmoid":
            o = values[name]
            add(args, g * o * (1 - o))
    return grads


def answer(request, bug, dtype):
    nodes = request["nodes"]
    order = topological(nodes)
    values = forward(nodes, order, dtype)
    grads = backward(nodes, order, values, bug)
    leaves = {}
    for name, node in nodes.items():
        (op, _), = node.items()
        if op in ("input", "weight"):
            leaves[name] = grads.get(name, np.zeros_like(values[name])).tolist()
    loss = sum(values[n] for n, node in nodes.items() if "sqerr" in node)
    return {"gradients": leaves, "loss": float(loss)}


def main():
    bug, dtype = None, np.float64
    args = sys.argv[1:]
    usage = f"usage: numpy_engine.py [--bug {'|'.join(BUGS)}] [--dtype {'|'.join(DTYPES)}]"
    while args:
        if len(args) >= 2 and args[0] == "--bug" and args[1] in BUGS:
            bug = args[1]
        elif len(args) >= 2 and args[0] == "--dtype" and args[1] in DTYPES:
            dtype = DTYPES[args[1]]
        else:
            sys.exit(usage)
        args = args[2:]
    with np.errstate(over="ignore", under="ignore"):
        serve(bug, dtype)


def serve(bug, dtype):
    for line in sys.stdin:
        try:
            reply = answer(json.loads(line), bug, dtype)
        except Exception as error:  # report, keep serving
            reply = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
