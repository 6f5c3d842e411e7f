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
