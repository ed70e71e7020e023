#!/usr/bin/env python3
"""A reverse-mode engine for gradfuzz's four gates, in numpy.

Run as:  gradfuzz fuzz --engine 'exec:python3 examples/engines/numpy_engine.py'
   or, in single precision:
         gradfuzz fuzz --engine 'exec:python3 examples/engines/numpy_engine.py --dtype float32'

Protocol: one JSON line per graph on stdin, {"nodes": {...}} (leaves with their values);
one JSON line back on stdout, {"gradients": {leaf: [...]}, "loss": E} or {"error": "..."}.
The first line, marked "hello", is answered with what the engine declares of itself:
{"engine": {"name": ..., "precision": ..., "gates": ...}}.

--dtype float64|float32|float16 is the precision every array and operation is in (float64 by
default); the engine declares it in its answer to the hello, so gradfuzz needs no --precision.

--bug NAME injects a realistic mistake, so that you can watch gradfuzz catch it:
  fanout-overwrite   a node used by several gates keeps the last gradient (= instead of +=)
  matvec-no-transpose  the vector's gradient is W g instead of W^T g
  sigmoid-composed   the sigmoid's slope as autograd takes it from 1/(1+exp(-s)):
                     exp(-s)/(1+exp(-s))^2, which is inf/inf = NaN where exp(-s) overflows
"""
import json
import sys

import numpy as np

BUGS = ("fanout-overwrite", "matvec-no-transpose", "sigmoid-composed")
DTYPES = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
PRECISIONS = {np.float64: "f64", np.float32: "f32", np.float16: "f16"}


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
    return [args] if op in ("sigmoid", "relu") else list(args)


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
        elif op == "relu":
            values[name] = np.maximum(values[args], dtype(0))
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
        elif op == "relu":
            add(args, g * (values[args] > 0))
        elif op == "sigmoid":
            o = values[name]
            if bug == "sigmoid-composed":
                e = np.exp(-values[args])
                add(args, g * e / ((1 + e) * (1 + e)))
            else:
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


def declaration(bug, dtype):
    """The answer to gradfuzz's hello: a short name for saved cases, the precision, the gates."""
    name = "numpy" + (f"-{PRECISIONS[dtype]}" if dtype is not np.float64 else "") + (f"-{bug}" if bug else "")
    return {"engine": {"name": name, "precision": PRECISIONS[dtype], "gates": "lecture"}}


def serve(bug, dtype):
    for line in sys.stdin:
        try:
            request = json.loads(line)
            reply = declaration(bug, dtype) if "hello" in request else answer(request, bug, dtype)
        except Exception as error:  # report, keep serving
            reply = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
