"""IR graphs for the Verilog tests of BatchNorm, Add, Mul, Concat, LUT, dyadic Requantize, non-power-of-two
average pooling and saturating accumulators (tests/rtl/test_ops.py). Weights are random integers drawn
from a seeded generator; expected outputs always come from ``hwq.ir.run``."""

from __future__ import annotations

import numpy as np

from hwq.formats import FixedFormat, parse
from hwq.ir import Graph
from hwq.ir.ops import (
    LUT,
    Add,
    AvgPool,
    BatchNorm,
    Concat,
    Dense,
    Flatten,
    GlobalAvgPool,
    Multiply,
    ReLU,
    Requantize,
    Reshape,
    reciprocal,
    sigmoid_table,
    table_for,
    tanh_table,
)

from .graphs import lossless_acc


def _dense(g: Graph, rng, name: str, x: str, m: int, out_fmt, w_fmt="fixed<5,2>", b_fmt="fixed<6,2>", acc=None):
    """Add a Dense op ``x -> name`` with m outputs, random full-range weights, lossless WRAP acc by default."""
    wf, bf = parse(w_fmt), parse(b_fmt)
    n = g.tensor(x).shape[0]
    w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(m, n))
    b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(m,))
    acc = acc or lossless_acc(g.tensor(x).fmt, wf, w, b, bf)
    g.add_tensor(name, (m,), out_fmt)
    g.add_op(Dense(f"{name}_fc", [x], name, weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=acc))
    return name


#: output formats of the element-wise ops: (rounding, overflow) pairs over every mode of each kind.
MODES = [("RND", "SAT"), ("TRN", "WRAP"), ("RND_CONV", "SAT_SYM"), ("RND_ZERO", "SAT_ZERO"), ("RND_MIN_INF", "SAT")]


def residual_block(variant: int, seed: int = 0) -> Graph:
    """x (8,) -> dense -> ReLU -> dense, + x (Add, a residual branch in one layer) -> dense (4)."""
    rng = np.random.default_rng(seed)
    q, o = MODES[variant % len(MODES)]
    g = Graph(f"residual{variant}", ["x"], [])
    g.add_tensor("x", (8,), ["fixed<7,3>", "fixed<6,2>", "ufixed<6,3>"][variant % 3])
    _dense(g, rng, "h1", "x", 8, "fixed<9,4,RND,SAT>")
    g.add_tensor("r1", (8,), "ufixed<7,3,RND,SAT>")
    g.add_op(ReLU("relu1", ["h1"], "r1"))
    _dense(g, rng, "h2", "r1", 8, "fixed<8,4,TRN,SAT>")
    g.add_tensor("res", (8,), f"fixed<7,3,{q},{o}>")
    g.add_op(Add("add", ["h2", "x"], "res"))
    _dense(g, rng, "out", "res", 4, "fixed<9,5,RND,SAT>")
    g.outputs = ["out"]
    g.validate()
    return g


def concat_branches(variant: int, seed: int = 0) -> Graph:
    """x (6,) -> two dense branches (4 and 3 outputs, different formats) -> Concat -> (7,)."""
    rng = np.random.default_rng(seed)
    q, o = MODES[variant % len(MODES)]
    g = Graph(f"concat{variant}", ["x"], [])
    g.add_tensor("x", (6,), "fixed<6,2>")
    _dense(g, rng, "a", "x", 4, "fixed<10,6,RND,WRAP>")
    _dense(g, rng, "b", "x", 3, "fixed<7,2,TRN,SAT>")
    g.add_tensor("out", (7,), f"fixed<6,3,{q},{o}>")
    g.add_op(Concat("cat", ["a", "b"] if variant % 2 == 0 else ["b", "a"], "out", axis=0))
    g.outputs = ["out"]
    g.validate()
    return g


def concat_2d(axis: int, seed: int = 0) -> Graph:
    """x (6,) -> dense (6) -> reshape (2, 3); a ReLU branch (2, 3); Concat along ``axis`` (0: (4, 3),
    1: (2, 6)), so the row-major index mapping of a non-leading axis is exercised."""
    rng = np.random.default_rng(seed)
    g = Graph(f"concat2d_{axis}", ["x"], [])
    g.add_tensor("x", (6,), "fixed<6,2>")
    _dense(g, rng, "d", "x", 6, "fixed<9,5,RND,SAT>")
    g.add_tensor("d2", (2, 3), "fixed<9,5,RND,SAT>")
    g.add_op(Reshape("rs", ["d"], "d2"))
    g.add_tensor("r", (2, 3), "ufixed<6,4,RND_INF,SAT>")
    g.add_op(ReLU("relu", ["d2"], "r"))
    shape = (4, 3) if axis == 0 else (2, 6)
    g.add_tensor("out", shape, "fixed<7,4,RND_CONV,SAT>")
    g.add_op(Concat("cat", ["d2", "r"], "out", axis=axis))
    g.outputs = ["out"]
    g.validate()
    return g


def mul_branches(variant: int, seed: int = 0) -> Graph:
    """x (6,) -> dense a (5), dense b (5) (variant 1: b through a ReLU, unsigned) -> Mul -> (5,)."""
    rng = np.random.default_rng(seed)
    q, o = MODES[variant % len(MODES)]
    g = Graph(f"mul{variant}", ["x"], [])
    g.add_tensor("x", (6,), "fixed<6,2>")
    _dense(g, rng, "a", "x", 5, ["fixed<8,4,RND,SAT>", "fixed<10,5,RND,SAT>", "fixed<5,3,TRN,WRAP>"][variant % 3])
    _dense(g, rng, "b", "x", 5, ["fixed<6,3,RND,SAT>", "fixed<7,4,RND,SAT>", "fixed<9,4,TRN,SAT>"][variant % 3])
    b = "b"
    if variant % 3 == 1:
        g.add_tensor("br", (5,), "ufixed<6,3,RND,SAT>")
        g.add_op(ReLU("relu_b", ["b"], "br"))
        b = "br"
    g.add_tensor("out", (5,), f"fixed<9,6,{q},{o}>")
    g.add_op(Multiply("mul", ["a", b], "out"))
    g.outputs = ["out"]
    g.validate()
    return g


def batchnorm_graph(variant: int, seed: int = 0) -> Graph:
    """x (8,) -> dense (8) -> reshape (2, 4) -> BatchNorm (2 channels) -> flatten -> dense (3); variant 1
    applies BatchNorm on the 1-D tensor (every element its own channel)."""
    rng = np.random.default_rng(seed)
    q, o = MODES[variant % len(MODES)]
    g = Graph(f"bn{variant}", ["x"], [])
    g.add_tensor("x", (8,), "fixed<6,2>")
    _dense(g, rng, "d", "x", 8, "fixed<8,4,RND,SAT>")
    sf, bf = parse(["fixed<8,2>", "fixed<10,1>"][variant % 2]), parse("fixed<7,3>")
    if variant % 2 == 0:
        g.add_tensor("d2", (2, 4), "fixed<8,4,RND,SAT>")
        g.add_op(Reshape("rs", ["d"], "d2"))
        src, shape, c = "d2", (2, 4), 2
    else:
        src, shape, c = "d", (8,), 8
    scale = rng.integers(sf.raw_min, sf.raw_max + 1, size=(c,))
    bias = rng.integers(bf.raw_min, bf.raw_max + 1, size=(c,))
    g.add_tensor("bn", shape, f"fixed<8,4,{q},{o}>")
    g.add_op(BatchNorm("bnorm", [src], "bn", scale=scale, bias=bias, scale_fmt=sf, bias_fmt=bf))
    cur = "bn"
    if variant % 2 == 0:
        g.add_tensor("flat", (8,), f"fixed<8,4,{q},{o}>")
        g.add_op(Flatten("flatten", ["bn"], "flat"))
        cur = "flat"
    _dense(g, rng, "out", cur, 3, "fixed<10,6,RND,SAT>")
    g.outputs = ["out"]
    g.validate()
    return g


def lut_graph(fn: str, w_in: int, seed: int = 0) -> Graph:
    """x (6,) -> dense (4) into a ``w_in``-bit format -> LUT (sigmoid, tanh or a random table) -> dense (3)."""
    rng = np.random.default_rng(seed)
    g = Graph(f"lut_{fn}{w_in}", ["x"], [])
    g.add_tensor("x", (6,), "fixed<6,2>")
    xf = FixedFormat(w_in, 3, True, "RND", "SAT")
    _dense(g, rng, "d", "x", 4, xf)
    yf = parse("ufixed<8,0,RND,SAT>") if fn == "sigmoid" else parse("fixed<8,1,RND,SAT>")
    if fn == "sigmoid":
        table = sigmoid_table(xf, yf)
    elif fn == "tanh":
        table = tanh_table(xf, yf)
    elif fn == "square":
        table = table_for(np.square, xf, yf)
    else:
        table = rng.integers(yf.raw_min, yf.raw_max + 1, size=(1 << w_in,))
    g.add_tensor("act", (4,), yf)
    g.add_op(LUT("act_lut", ["d"], "act", table=np.asarray(table, dtype=np.int64), function=fn))
    _dense(g, rng, "out", "act", 3, "fixed<10,5,RND,SAT>")
    g.outputs = ["out"]
    g.validate()
    return g


#: extreme (multiplier, shift) pairs: largest/smallest Q31 multipliers, 0 and 1, every shift extreme.
EXTREME_REQUANT = [
    ((1 << 31) - 1, 30),
    (1 << 30, -31),
    ((1 << 31) - 1, -31),
    (1 << 30, 30),
    (0, 0),
    (1, 0),
    ((1 << 31) - 1, 0),
    (1518500250, -1),
    (1 << 30, 1),
    (1431655765, -12),
    (2147483000, 5),
    (1073741825, -30),
]


def dyadic_graph(single_rounding: bool, per_channel: bool, source: str, seed: int = 0) -> Graph:
    """Dyadic Requantize (CMSIS-NN) to int8 (offset, activation clamp), per tensor or per channel.

    source ``"int32"``: the graph input is the int32 accumulator itself (full int32 range, so wrap32 and
    the saturation/rounding edge cases are driven) with the 12 extreme (multiplier, shift) pairs, one per
    channel, into an int32 output (no clamp hides the requantised value); ``"dense"``: x int8 -> dense
    (int weights, int32 WRAP accumulator) -> (2, 3) -> requantize
    with realistic per-channel scales."""
    rng = np.random.default_rng(seed)
    name = f"dyadic_{'single' if single_rounding else 'double'}_{'pc' if per_channel else 'pt'}_{source}"
    g = Graph(name, ["x"], [])
    yf = FixedFormat(32 if source == "int32" else 8, 32 if source == "int32" else 8, True)
    if source == "int32":
        c = len(EXTREME_REQUANT)
        g.add_tensor("x", (c,), FixedFormat(32, 32, True))
        src, shape = "x", (c,)
        pairs = EXTREME_REQUANT if per_channel else [(1431655765, -12)]
        mult = np.array([p[0] for p in pairs], dtype=np.int64)
        shift = np.array([p[1] for p in pairs], dtype=np.int64)
        act = (None, None)
    else:
        g.add_tensor("x", (8,), FixedFormat(8, 8, True))
        acc = FixedFormat(32, 32, True)
        _dense(g, rng, "acc", "x", 6, FixedFormat(32, 32, True), "fixed<8,8>", "fixed<16,16>", acc)
        g.add_tensor("acc2", (2, 3), FixedFormat(32, 32, True))
        g.add_op(Reshape("rs", ["acc"], "acc2"))
        src, shape = "acc2", (2, 3)
        c = 2 if per_channel else 1
        mult = rng.integers(1 << 30, (1 << 31) - 1, size=(c,), endpoint=True, dtype=np.int64)
        shift = rng.integers(-11, -9, size=(c,), endpoint=True, dtype=np.int64)
        act = (-30, 35)
    g.add_tensor("out", shape, yf)
    g.add_op(Requantize("rq", [src], "out", "dyadic", mult, shift, single_rounding, 5, *act))
    g.outputs = ["out"]
    g.validate()
    return g


def avgpool_graph(acc_overflow: str = "WRAP") -> Graph:
    """x (2, 7, 11) -> AvgPool 3x3 stride 2, padding (1, 1, 0, 0) (zeros counted, window 9: the reciprocal
    ``reciprocal(9)`` is an 18-bit CSD constant) -> (2, 4, 5). ``acc_overflow`` other than WRAP gives a
    narrow accumulator that saturates (ordered window sums)."""
    g = Graph(f"avgpool3x3_{acc_overflow.lower()}", ["x"], [])
    g.add_tensor("x", (2, 7, 11), "fixed<6,2>")
    r, rf = reciprocal(9)
    acc = FixedFormat(9, 5, True, "TRN", acc_overflow) if acc_overflow != "WRAP" else parse("fixed<12,8>")
    g.add_tensor("ap", (2, 4, 5), "fixed<7,3,RND_CONV,SAT>")
    geom = dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1, 0, 0))
    g.add_op(AvgPool("avg", ["x"], "ap", **geom, acc_fmt=acc, recip=r, recip_frac_bits=rf))
    g.outputs = ["ap"]
    g.validate()
    return g


def global_avgpool_graph(seed: int = 0) -> Graph:
    """x (3, 3, 5) -> GlobalAvgPool over 3x5 = 15 positions (reciprocal ``reciprocal(15)``) -> (3,) -> dense."""
    rng = np.random.default_rng(seed)
    g = Graph("gap15", ["x"], [])
    g.add_tensor("x", (3, 3, 5), "fixed<6,2>")
    r, rf = reciprocal(15)
    g.add_tensor("gap", (3,), "fixed<8,3,RND,SAT>")
    g.add_op(GlobalAvgPool("gap_op", ["x"], "gap", acc_fmt=parse("fixed<11,7,TRN,SAT>"), recip=r, recip_frac_bits=rf))
    _dense(g, rng, "out", "gap", 2, "fixed<9,5,RND,SAT>")
    g.outputs = ["out"]
    g.validate()
    return g


def sat_dense(overflow: str, seed: int = 0, rounded_products: bool = False) -> Graph:
    """x (8,) -> Dense (6) with a narrow ``overflow`` accumulator that saturates for many inputs (large
    weights of one sign per row) -> (6,). ``rounded_products``: the accumulator also has 2 fractional bits
    fewer than the products, so every product is rounded (acc rounding RND_CONV) before it is added."""
    rng = np.random.default_rng(seed)
    g = Graph(f"sat_{overflow.lower()}{'_rp' if rounded_products else ''}", ["x"], [])
    xf, wf, bf = parse("fixed<6,2>"), parse("fixed<6,2>"), parse("fixed<6,2>")
    g.add_tensor("x", (8,), xf)
    w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(6, 8))
    w[0] = np.abs(w[0]) + 5  # rows of one sign: partial sums run far beyond the accumulator
    w[1] = -np.abs(w[1]) - 5
    w[2, ::2] = 0  # zero weights: no step in the chain
    w = np.clip(w, wf.raw_min, wf.raw_max)
    b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(6,))
    frac = xf.frac_bits + wf.frac_bits - (2 if rounded_products else 0)
    acc = FixedFormat(frac + 4, 4, True, "RND_CONV" if rounded_products else "TRN", overflow)
    g.add_tensor("y", (6,), "fixed<8,4,RND,SAT>")
    g.add_op(Dense("fc", ["x"], "y", weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=acc))
    g.outputs = ["y"]
    g.validate()
    return g


def count_saturations(graph: Graph, x: np.ndarray) -> int:
    """Independent count of accumulation steps of ``graph``'s first Dense op that hit the accumulator's
    saturation (the exact sum lies outside the format), by the IR's ordered formula in Python ints."""
    op = next(o for o in graph.ops if o.kind == "dense")
    af = op.acc_fmt
    fx = graph.tensor(op.inputs[0]).fmt.frac_bits
    lo, hi = af.raw_min, af.raw_max
    if af.overflow == "SAT_SYM":
        lo = -hi
    hits = 0
    bias = [int(v) for v in np.asarray(af.cast_raw(np.asarray(op.bias, dtype=object), op.bias_fmt.frac_bits))]
    for vec in x:
        for j, row in enumerate(op.weight):
            acc = bias[j]
            for xi, w in zip(vec, row):
                p = int(af.cast_raw(np.array([int(xi) * int(w)], dtype=object), fx + op.weight_fmt.frac_bits)[0])
                s = acc + p
                hits += not lo <= s <= hi
                acc = int(af.cast_raw(np.array([s], dtype=object), af.frac_bits)[0])
    return hits
