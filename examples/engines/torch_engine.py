#!/usr/bin/env python3
"""gradfuzz's four gates built from PyTorch operations, differentiated by torch.autograd, and
relu as torch.relu (autograd's own backward: slope 0 at 0).

Run as:  gradfuzz fuzz --engine 'exec:python3 examples/engines/torch_engine.py'

Each gate is a custom torch.autograd.Function with a hand-written backward, the way people
write their own layers; autograd does the bookkeeping (including summing at fan-out).
--bug sigmoid-of-input makes the sigmoid's backward use s(1 - s) from its input instead
of o(1 - o), so that you can watch gradfuzz catch it. --dtype float32 (or float16, bfloat16)
runs every tensor in that precision; tell gradfuzz with --precision f32 (f16, bf16). The
engine declares nothing, so gradfuzz asks it about the four gates; `--gates
add,matvec,sigmoid,sqerr,relu` asks it about relu too:

         gradfuzz fuzz --engine 'exec:python3 examples/engines/torch_engine.py --dtype float32' --precision f32
"""
import json
import sys

import torch

DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
ARGS = sys.argv[1:]
BUG = False
DTYPE = torch.float64
while ARGS:
    if ARGS[:2] == ["--bug", "sigmoid-of-input"]:
        BUG = True
    elif len(ARGS) >= 2 and ARGS[0] == "--dtype" and ARGS[1] in DTYPES:
        DTYPE = DTYPES[ARGS[1]]
    else:
        sys.exit("usage: torch_engine.py [--bug sigmoid-of-input] [--dtype " + "|".join(DTYPES) + "]")
    ARGS = ARGS[2:]
torch.set_default_dtype(torch.float64 if DTYPE in (torch.float16, torch.bfloat16) else DTYPE)


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s):
        o = torch.sigmoid(s)
        ctx.save_for_backward(s, o)
        return o

    @staticmethod
    def backward(ctx, g):
        s, o = ctx.saved_tensors
        local = s * (1 - s) if BUG else o * (1 - o)
        return g * local


class MatVec(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, o):
        ctx.save_for_backward(w, o)
        return w @ o

    @staticmethod
    def backward(ctx, g):
        w, o = ctx.saved_tensors
        return torch.outer(g, o), w.T @ g


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
    values, leaves, loss = {}, {}, torch.zeros((), dtype=DTYPE)
    for name in order(nodes):
        (op, args), = nodes[name].items()
        if op in ("input", "weight"):
            values[name] = torch.tensor(args, dtype=DTYPE, requires_grad=True)
            leaves[name] = values[name]
        elif op == "target":
            values[name] = torch.tensor(args, dtype=DTYPE)
        elif op == "add":
            values[name] = values[args[0]] + values[args[1]]
        elif op == "matvec":
            values[name] = MatVec.apply(values[args[0]], values[args[1]])
        elif op == "sigmoid":
            values[name] = Sigmoid.apply(values[args])
        elif op == "relu":
            values[name] = torch.relu(values[args])
        elif op == "sqerr":
            r = values[args[0]] - values[args[1]]
            values[name] = 0.5 * (r * r).sum()
            loss = loss + values[name]
    # A loss that depends on no input or weight (possible in a hand-written case) has
    # zero gradients; torch.autograd.grad refuses it.
    grads = (
        torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
        if loss.requires_grad
        else [None] * len(leaves)
    )
    out = {}
    for (name, leaf), g in zip(leaves.items(), grads):
        out[name] = (torch.zeros_like(leaf) if g is None else g).tolist()
    return {"gradients": out, "loss": float(loss)}


for line in sys.stdin:
    try:
        reply = answer(json.loads(line))
    except Exception as error:
        reply = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(reply), flush=True)
