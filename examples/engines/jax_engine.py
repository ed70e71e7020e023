#!/usr/bin/env python3
"""gradfuzz's four gates built from JAX operations, differentiated by jax.grad, and relu as
jax.nn.relu (asked about it with --gates add,matvec,sigmoid,sqerr,relu: the engine declares
nothing, so gradfuzz asks it about the four gates).

Run as:  gradfuzz fuzz --engine 'exec:python3 examples/engines/jax_engine.py'

The loss is a plain Python function of the leaves, written with jax.numpy (jax.nn.sigmoid,
@, sum), and jax.grad differentiates it: the way JAX users write models. --bug
sigmoid-of-input swaps in a sigmoid whose custom derivative takes s(1 - s) from its input
instead of o(1 - o), so that you can watch gradfuzz catch it. --dtype float32 runs every
array in float32 (JAX's default); tell gradfuzz with --precision f32:

         gradfuzz fuzz --engine 'exec:python3 examples/engines/jax_engine.py --dtype float32' --precision f32

float64 (the default here) turns on jax_enable_x64. Install with: pip install "jax[cpu]".
"""
import json
import sys

ARGS = sys.argv[1:]
BUG = False
DTYPE_NAME = "float64"
while ARGS:
    if ARGS[:2] == ["--bug", "sigmoid-of-input"]:
        BUG = True
    elif len(ARGS) >= 2 and ARGS[0] == "--dtype" and ARGS[1] in ("float64", "float32"):
        DTYPE_NAME = ARGS[1]
    else:
        sys.exit("usage: jax_engine.py [--bug sigmoid-of-input] [--dtype float64|float32]")
    ARGS = ARGS[2:]

import jax  # noqa: E402  (after the flags: jax_enable_x64 must be set before any array)

jax.config.update("jax_enable_x64", DTYPE_NAME == "float64")
jax.config.update("jax_platforms", "cpu")
import jax.numpy as jnp  # noqa: E402

DTYPE = jnp.float64 if DTYPE_NAME == "float64" else jnp.float32


@jax.custom_vjp
def sigmoid_of_input_bug(s):
    return jax.nn.sigmoid(s)


def _forward(s):
    return jax.nn.sigmoid(s), s


def _backward(s, g):
    return (g * s * (1 - s),)


sigmoid_of_input_bug.defvjp(_forward, _backward)
SIGMOID = sigmoid_of_input_bug if BUG else jax.nn.sigmoid


def order(nodes):
    done, out = set(), []

    def visit(name):
        if name in done:
            return
        (op, args), = nodes[name].items()
        if op not in ("input", "weight", "target"):
            for a in ([args] if op in ("sigmoid", "relu") else args):
                visit(a)
        done.add(name)
        out.append(name)

    for name in nodes:
        visit(name)
    return out


def answer(request):
    nodes = request["nodes"]
    names = order(nodes)
    leaves = {
        name: jnp.asarray(args, dtype=DTYPE)
        for name in names
        for op, args in nodes[name].items()
        if op in ("input", "weight")
    }

    def loss_of(leaves):
        values, loss = dict(leaves), jnp.zeros((), dtype=DTYPE)
        for name in names:
            (op, args), = nodes[name].items()
            if op == "target":
                values[name] = jnp.asarray(args, dtype=DTYPE)
            elif op == "add":
                values[name] = values[args[0]] + values[args[1]]
            elif op == "matvec":
                values[name] = values[args[0]] @ values[args[1]]
            elif op == "sigmoid":
                values[name] = SIGMOID(values[args])
            elif op == "relu":
                values[name] = jax.nn.relu(values[args])
            elif op == "sqerr":
                r = values[args[0]] - values[args[1]]
                values[name] = 0.5 * jnp.sum(r * r)
                loss = loss + values[name]
        return loss

    # jax.grad gives zeros for a leaf the loss does not depend on, and for a loss that
    # depends on no leaf at all.
    loss, grads = jax.value_and_grad(loss_of)(leaves)
    return {
        "gradients": {name: grads[name].tolist() for name in leaves},
        "loss": float(loss),
    }


for line in sys.stdin:
    try:
        reply = answer(json.loads(line))
    except Exception as error:
        reply = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(reply), flush=True)
