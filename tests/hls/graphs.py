"""Graphs for the HLS tests: hand-built MLP/CNN models and merged random IR graphs.

Not a test module. Expected outputs always come from ``hwq.ir.run`` (the golden interpreter), never from
the emitter under test.
"""

from __future__ import annotations

import copy

import numpy as np

from hwq.formats import parse
from hwq.ir import Dense, Graph, ReLU


def mlp(bits: int, seed: int = 0, sizes=(64, 32, 16, 10), name: str = "mlp", csd: int = 0) -> Graph:
    """A digits-style MLP with ``bits``-bit weights and activations (RND/SAT activations).

    csd=k: multiplier-free weights ``csd<bits,1,k>`` (random raws projected to at most k signed digits)."""
    rng = np.random.default_rng(seed)
    g = Graph(name, ["x"], [])
    g.add_tensor("x", (sizes[0],), parse(f"ufixed<{bits},{max(1, bits // 2)}>"))
    x = "x"
    wf = parse(f"fixed<{bits},1>")
    for k, (n, m) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = k == len(sizes) - 2
        xf = g.tensor(x).fmt
        h = f"fc{k}_out"
        g.add_tensor(
            h, (m,), parse(f"fixed<{2 * bits},{bits}>" if last else f"fixed<{bits + 4},{bits // 2 + 3},RND,SAT>")
        )
        bf = parse(f"fixed<{2 * bits},{bits // 2 + 2}>")
        acc_frac = xf.frac_bits + wf.frac_bits
        acc = parse(f"fixed<{acc_frac + bits + 8},{bits + 8},TRN,{'SAT' if k % 2 else 'WRAP'}>")
        w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(m, n))
        if csd:
            cf = parse(f"csd<{bits},1,{csd}>")
            w = np.asarray(cf.project(w), dtype=np.int64)
        b = rng.integers(bf.raw_min // 4, bf.raw_max // 4 + 1, size=(m,))
        g.add_op(Dense(f"fc{k}", [x], h, weight=w, bias=b, weight_fmt=cf if csd else wf, bias_fmt=bf, acc_fmt=acc))
        x = h
        if not last:
            r = f"relu{k}_out"
            g.add_tensor(r, (m,), parse(f"ufixed<{bits},{bits // 2}>" if bits > 2 else "ufixed<2,1,RND,SAT>"))
            g.add_op(ReLU(f"relu{k}", [x], r))
            x = r
    g.outputs = [x]
    g.validate()
    return g


def merge(graphs: list[Graph], name: str = "merged") -> Graph:
    """One graph holding every graph side by side (names prefixed g<k>_): one g++ build tests them all."""
    out = Graph(name, [], [])
    for k, g in enumerate(graphs):
        pre = f"g{k}_"
        for t in g.tensors.values():
            out.add_tensor(pre + t.name, t.shape, t.fmt)
        for op in g.ops:
            o = copy.copy(op)
            o.name = pre + op.name
            o.inputs = [pre + i for i in op.inputs]
            o.output = pre + op.output
            out.add_op(o)
        out.inputs += [pre + i for i in g.inputs]
        out.outputs += [pre + o for o in g.outputs]
    out.validate()
    return out


def mini_mlp(seed: int = 0, name: str = "mini_mlp") -> Graph:
    """A minifloat MLP: e4m3fn inputs, weights and hidden activations, e5m2 outputs; products exact, fixed
    accumulators, one rounding per output (as FPGA minifloat MACs do)."""
    rng = np.random.default_rng(seed)
    g = Graph(name, ["x"], ["y"])
    e4, e5 = parse("e4m3fn"), parse("e5m2")
    g.add_tensor("x", (16,), e4)
    g.add_tensor("h", (12,), e4)
    g.add_tensor("r", (12,), e4)
    g.add_tensor("y", (5,), e5)
    acc = parse(f"fixed<{2 * e4.frac_bits + 26},26,RND,SAT>")  # products at F_x + F_w, no rounding
    for k, (n, m, x, out) in enumerate([(16, 12, "x", "h"), (12, 5, "r", "y")]):
        w = e4.random_raw(rng, (m, n))
        b = rng.integers(-200, 200, size=(m,))
        g.add_op(Dense(f"fc{k}", [x], out, weight=np.asarray(w, dtype=np.int64), bias=b, weight_fmt=e4,
                       bias_fmt=parse("fixed<12,4>"), acc_fmt=acc))  # fmt: skip
        if k == 0:
            g.add_op(ReLU("relu0", ["h"], "r"))
    g.ops = [g.ops[0], g.ops[2], g.ops[1]] if g.ops[1].kind == "dense" else g.ops
    g.validate()
    return g
