"""Hand-built CMSIS-style IR graphs for the MCU generator tests (helper C's tests)."""

from __future__ import annotations

import numpy as np

from hwq.formats import FixedFormat, parse
from hwq.ir.graph import Graph
from hwq.ir.ops import Conv2d, Dense, Flatten, MaxPool, ReLU, Requantize

ACC = FixedFormat(32, 32, True, "TRN", "WRAP")
I8 = "fixed<8,8,TRN,SAT>"


def _rq(g, name, x, y, c, rng, single, act=(None, None), shape=None, fmt=I8):
    t = g.tensor(x)
    g.add_tensor(y, shape or t.shape, fmt)
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=(c,), endpoint=True, dtype=np.int64)
    shift = rng.integers(-10, -4, size=(c,), endpoint=True, dtype=np.int64)
    off = int(rng.integers(-20, 20))
    g.add_op(Requantize(name, [x], y, "dyadic", mult, shift, single, off, act[0], act[1]))
    return y


def dense_graph(seed=0, n=24, m=10, single=False, per_channel=False, name="dense", in_fmt=I8, relu=True):
    """int8 dense -> dyadic requantize (act clamp) [-> relu]."""
    rng = np.random.default_rng(seed)
    g = Graph(name, ["x"], [])
    g.add_tensor("x", (n,), in_fmt)
    g.add_tensor("acc", (m,), ACC)
    w = rng.integers(-127, 128, size=(m, n), dtype=np.int64)
    b = rng.integers(-5000, 5000, size=(m,), dtype=np.int64)
    g.add_op(Dense("fc", ["x"], "acc", w, b, parse("fixed<8,8>"), ACC, ACC))
    y = _rq(g, "fc_rq", "acc", "y", m if per_channel else 1, rng, single)
    if relu:
        g.add_tensor("z", (m,), I8)
        g.add_op(ReLU("relu", [y], "z"))
        y = "z"
    g.outputs = [y]
    g.validate()
    return g


def conv_graph(seed=0, cin=3, h=7, w=6, cout=4, k=3, stride=(1, 1), padding=(1, 1, 1, 1), groups=1, single=False,
               pool=True, dense=True, name="conv", wbits=8):  # fmt: skip
    """conv2d (or depthwise) -> requantize -> [maxpool] -> flatten -> [dense -> requantize]."""
    rng = np.random.default_rng(seed)
    g = Graph(name, ["x"], [])
    g.add_tensor("x", (cin, h, w), I8)
    lim = 8 if wbits == 4 else 128
    wt = rng.integers(-lim + 1, lim, size=(cout, cin // groups, k, k), dtype=np.int64)
    b = rng.integers(-3000, 3000, size=(cout,), dtype=np.int64)
    ho = (h + padding[0] + padding[1] - k) // stride[0] + 1
    wo = (w + padding[2] + padding[3] - k) // stride[1] + 1
    g.add_tensor("acc", (cout, ho, wo), ACC)
    wf = parse("fixed<4,4>") if wbits == 4 else parse("fixed<8,8>")
    g.add_op(Conv2d("conv", ["x"], "acc", wt, b, wf, ACC, ACC, stride, padding, (1, 1), groups))
    y = _rq(g, "conv_rq", "acc", "c1", cout, rng, single, act=(-100, 120))
    if pool and ho >= 2 and wo >= 2:
        po = ((ho - 2) // 2 + 1, (wo - 2) // 2 + 1)
        g.add_tensor("p1", (cout, *po), I8)
        g.add_op(MaxPool("pool", [y], "p1", (2, 2), (2, 2), (0, 0, 0, 0)))
        y = "p1"
    n = int(np.prod(g.tensor(y).shape))
    g.add_tensor("f", (n,), I8)
    g.add_op(Flatten("flat", [y], "f"))
    y = "f"
    if dense:
        g.add_tensor("acc2", (5,), ACC)
        w2 = rng.integers(-127, 128, size=(5, n), dtype=np.int64)
        g.add_op(Dense("fc", ["f"], "acc2", w2, rng.integers(-999, 999, size=(5,)), parse("fixed<8,8>"), ACC, ACC))
        y = _rq(g, "fc_rq", "acc2", "out", 1, rng, single)
    g.outputs = [y]
    g.validate()
    return g
