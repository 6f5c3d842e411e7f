"""Small IR graphs for the cost-model tests (independent of the calibration design set)."""

from __future__ import annotations

import numpy as np

from hwq.formats import FixedFormat, parse
from hwq.ir import Dense, Graph, ReLU


def dense_graph(weight, x_fmt: str = "fixed<8,3>", w_fmt: str = "fixed<6,1>", relu: bool = True, name: str = "g"):
    """x -> Dense(weight, bias 0..) -> saturating cast -> [ReLU]; a WRAP accumulator that never wraps."""
    w = np.asarray(weight, dtype=np.int64)
    m, n = w.shape
    xf, wf, bf = parse(x_fmt), parse(w_fmt), parse("fixed<8,3>")
    b = np.arange(m, dtype=np.int64) * 3 - m
    frac = xf.frac_bits + wf.frac_bits
    bound = (int(np.abs(w).sum(axis=1).max()) + 1) * (1 << xf.width) + (int(np.abs(b).max()) << max(0, frac))
    width = bound.bit_length() + 2
    g = Graph(name, ["x"], [])
    g.add_tensor("x", (n,), xf)
    g.add_tensor("y", (m,), "fixed<8,3,RND,SAT>")
    g.add_op(
        Dense(
            "fc", ["x"], "y", weight=w, bias=b, weight_fmt=wf, bias_fmt=bf,
            acc_fmt=FixedFormat(width, width - frac, True),
        )
    )  # fmt: skip
    out = "y"
    if relu:
        g.add_tensor("r", (m,), "ufixed<6,3,RND,SAT>")
        g.add_op(ReLU("relu", ["y"], "r"))
        out = "r"
    g.outputs = [out]
    g.validate()
    return g


def random_dense(n_out: int, n_in: int, seed: int, w_fmt: str = "fixed<6,1>", **kw):
    """``dense_graph`` with random full-range weights of ``w_fmt``."""
    rng = np.random.default_rng(seed)
    wf = parse(w_fmt)
    raw = rng.integers(wf.raw_min, wf.raw_max + 1, size=(n_out, n_in))
    w = np.asarray(wf.cast_raw(raw, wf.frac_bits), dtype=np.int64)
    return dense_graph(w, w_fmt=w_fmt, **kw)
