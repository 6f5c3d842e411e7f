"""IR graphs for the Verilog tests: digits-sized MLPs, every output rounding/overflow mode, random chains."""

from __future__ import annotations

import numpy as np

from hwq.formats import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, parse
from hwq.ir import Dense, Graph, ReLU
from hwq.ir.random_graph import random_graph


def lossless_acc(x_fmt, w_fmt, weight: np.ndarray, bias_raw, bias_fmt, extra_frac: int = 0) -> FixedFormat:
    """A WRAP accumulator wide enough for every sum of this layer (so it never wraps)."""
    frac = x_fmt.frac_bits + w_fmt.frac_bits + extra_frac
    xmag = max(abs(x_fmt.raw_min), abs(x_fmt.raw_max))
    bound = int(np.abs(weight).sum(axis=1).max()) * xmag << extra_frac
    shift = frac - bias_fmt.frac_bits
    bmag = int(np.abs(bias_raw).max()) if np.size(bias_raw) else 0
    bound += bmag << shift if shift >= 0 else (bmag >> -shift) + 1
    width = bound.bit_length() + 1
    return FixedFormat(width, width - frac, True)


def mlp(
    sizes: list[int], x_fmt: str, w_fmt: str, out_fmt: str, relu_fmt: str | None, seed: int = 0, name: str = "mlp"
) -> Graph:
    """Dense layers with random weights (full range of ``w_fmt``), ReLU between them, lossless WRAP accs."""
    rng = np.random.default_rng(seed)
    g = Graph(name, ["x"], [])
    g.add_tensor("x", (sizes[0],), x_fmt)
    wf, bf = parse(w_fmt), parse("fixed<12,4>")
    cur = "x"
    for k, (n, m) in enumerate(zip(sizes[:-1], sizes[1:])):
        raw = rng.integers(-(1 << 12), 1 << 12, size=(m, n))
        w = np.asarray(wf.cast_raw(raw >> max(0, 12 - wf.width), wf.frac_bits), dtype=np.int64)
        b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(m,))
        xf = g.tensor(cur).fmt
        y = f"fc{k}_out"
        g.add_tensor(y, (m,), out_fmt)
        g.add_op(
            Dense(
                f"fc{k}", [cur], y, weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=lossless_acc(xf, wf, w, b, bf)
            )
        )
        cur = y
        if relu_fmt and k < len(sizes) - 2:
            r = f"relu{k}_out"
            g.add_tensor(r, (m,), relu_fmt)
            g.add_op(ReLU(f"relu{k}", [cur], r))
            cur = r
    g.outputs = [cur]
    g.validate()
    return g


def digits_mlp(kind: str, seed: int = 0) -> Graph:
    """The digits-sized MLP 64-64-32-10 in 8-bit or 4-bit fixed point, or with CSD k=2 weights."""
    sizes = [64, 64, 32, 10]
    if kind == "fixed8":
        return mlp(sizes, "ufixed<8,4>", "fixed<8,1>", "fixed<8,4,RND,SAT>", "ufixed<8,4,RND,SAT>", seed, "mlp8")
    if kind == "fixed4":
        return mlp(sizes, "ufixed<4,3>", "fixed<4,1>", "fixed<4,3,RND_CONV,SAT>", "ufixed<4,3>", seed, "mlp4")
    if kind == "csd2":
        return mlp(sizes, "ufixed<8,4>", "csd<8,1,2>", "fixed<8,4,RND,SAT>", "ufixed<8,4,RND,SAT>", seed, "mlp_csd2")
    raise ValueError(kind)


def mode_chain(overflow: str, seed: int = 0) -> Graph:
    """Seven 4x4 Dense layers in a chain; layer k casts its (lossless) accumulator to a narrow output
    format with rounding mode k and the given overflow mode, so every rounding x overflow pair is used
    on values of both signs that need rounding and overflow."""
    rng = np.random.default_rng(seed)
    g = Graph(f"modes_{overflow.lower()}", ["x"], [])
    g.add_tensor("x", (4,), "fixed<6,2>")
    wf, bf = parse("fixed<5,2>"), parse("fixed<6,2>")
    cur = "x"
    for k, q in enumerate(ROUNDING_MODES):
        w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(4, 4))
        b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(4,))
        xf = g.tensor(cur).fmt
        y = f"l{k}_out"
        g.add_tensor(y, (4,), FixedFormat(6, 2, True, q, overflow))
        g.add_op(
            Dense(
                f"l{k}", [cur], y, weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=lossless_acc(xf, wf, w, b, bf)
            )
        )
        cur = y
    g.outputs = [cur]
    g.validate()
    return g


def elementwise_chain(seed: int = 0) -> Graph:
    """(2, 3) input -> flatten -> dense -> clip -> requantize (cast) -> dense -> ReLU6 (clip) -> reshape."""
    from hwq.ir.ops import Clip, Flatten, Requantize, Reshape

    rng = np.random.default_rng(seed)
    g = Graph("elementwise", ["x"], ["out"])
    g.add_tensor("x", (2, 3), "fixed<6,2>")
    g.add_tensor("flat", (6,), "fixed<6,2>")
    g.add_op(Flatten("flat", ["x"], "flat"))
    wf, bf = parse("fixed<5,2>"), parse("fixed<6,2>")
    cur = "flat"
    for k, (n, m) in enumerate([(6, 5), (5, 4)]):
        w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(m, n))
        b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(m,))
        xf = g.tensor(cur).fmt
        g.add_tensor(f"d{k}", (m,), "fixed<10,5,RND_ZERO,SAT_ZERO>")
        acc = lossless_acc(xf, wf, w, b, bf)
        g.add_op(Dense(f"fc{k}", [cur], f"d{k}", weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=acc))
        cur = f"d{k}"
        if k == 0:
            g.add_tensor("c0", (m,), "fixed<9,5,RND_MIN_INF,SAT>")
            g.add_op(Clip("clip0", [cur], "c0", -200, 150))
            g.add_tensor("q0", (m,), "fixed<5,3,RND_INF,SAT_SYM>")
            g.add_op(Requantize("rq0", ["c0"], "q0"))
            cur = "q0"
    g.add_tensor("r6", (4,), "ufixed<6,3,RND_CONV,WRAP>")
    g.add_op(Clip("relu6", [cur], "r6", 0, 6 << 5))
    g.add_tensor("out", (2, 2), "ufixed<6,3,RND_CONV,WRAP>")
    g.add_op(Reshape("reshape", ["r6"], "out"))
    g.validate()
    return g


def random_chain(seed: int) -> Graph:
    """``hwq.ir.random_graph`` Dense/ReLU chain with its accumulators made implementable: products at
    least as fine as the accumulator's LSB, WRAP overflow (narrow WRAP accumulators stay narrow)."""
    g = random_graph(seed, ops=["dense", "relu", "dense", "relu", "dense"], max_width=12)
    for op in g.ops:
        if op.kind != "dense":
            continue
        xf = g.tensor(op.inputs[0]).fmt
        a = op.acc_fmt
        need = xf.frac_bits + op.weight_fmt.frac_bits - a.frac_bits
        width = a.width + max(need, 0)
        op.acc_fmt = FixedFormat(width, a.int_bits, True, a.rounding, "WRAP" if a.overflow != "WRAP" else a.overflow)
    g.validate()
    return g


def _conv_op(cls, g, name, x, y, y_shape, y_fmt, w_shape, wf, bf, rng, **geom):
    """Add a conv op with random full-range weights/biases and a lossless WRAP accumulator."""
    g.add_tensor(y, y_shape, y_fmt)
    w = rng.integers(wf.raw_min, wf.raw_max + 1, size=w_shape)
    w = np.asarray(wf.cast_raw(w, wf.frac_bits), dtype=np.int64)  # CSD formats: nearest CSD value
    b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(w_shape[0],))
    acc = lossless_acc(g.tensor(x).fmt, wf, w.reshape(w_shape[0], -1), b, bf)
    g.add_op(cls(name, [x], y, weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=acc, **geom))


def small_cnn(variant: int, seed: int = 0) -> Graph:
    """1xSxS -> conv3x3 Cch (+ReLU) -> maxpool -> conv3x3 8ch -> flatten -> dense 10, random integer
    weights. variant 0: 1x8x8, 4 channels, no padding, maxpool 2x2, output RND/SAT; variant 1: 1x6x6,
    2 channels, stride-1 3x3 maxpool with padding 1, TRN_ZERO/WRAP, unsigned 4-bit input; variant 2:
    1x8x8, 2 channels, 'same' padding, CSD weights, grouped conv2 (stride 2, dilation (1, 2), asymmetric
    padding), RND_CONV/SAT_SYM."""
    from hwq.ir import Conv2d, Flatten, MaxPool

    rng = np.random.default_rng(seed)
    x_fmt = ["fixed<6,2>", "ufixed<4,2>", "fixed<5,1>"][variant]
    wf = parse(["fixed<5,1>", "fixed<4,2>", "csd<6,1,2>"][variant])
    bf = parse("fixed<6,2>")
    out_q = ["RND,SAT", "TRN_ZERO,WRAP", "RND_CONV,SAT_SYM"][variant]
    size, ch = [(8, 4), (6, 2), (8, 2)][variant]
    g = Graph(f"cnn{variant}", ["x"], [])
    g.add_tensor("x", (1, size, size), x_fmt)
    pad1 = (1, 1, 1, 1) if variant == 2 else (0, 0, 0, 0)
    s1 = size if variant == 2 else size - 2
    c1_shape = (ch, s1, s1)
    _conv_op(Conv2d, g, "conv1", "x", "c1", c1_shape, f"fixed<8,4,{out_q}>", (ch, 1, 3, 3), wf, bf, rng, padding=pad1)
    g.add_tensor("r1", c1_shape, "ufixed<6,3,RND,SAT>")
    g.add_op(ReLU("relu1", ["c1"], "r1"))
    if variant == 1:
        pool = dict(kernel=(3, 3), stride=(1, 1), padding=(1, 1, 1, 1))
        s2 = s1
    else:
        pool = dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0, 0, 0))
        s2 = s1 // 2
    g.add_tensor("p1", (ch, s2, s2), "ufixed<6,3,RND,SAT>")
    g.add_op(MaxPool("pool1", ["r1"], "p1", **pool))
    if variant == 2:
        geom = dict(stride=(2, 2), dilation=(1, 2), padding=(1, 0, 1, 1), groups=2)
        w_shape, s3 = (8, 1, 3, 3), (2, 1)
    else:
        geom = dict()
        w_shape, s3 = (8, ch, 3, 3), (s2 - 2, s2 - 2)
    _conv_op(Conv2d, g, "conv2", "p1", "c2", (8, *s3), f"fixed<8,4,{out_q}>", w_shape, wf, bf, rng, **geom)
    n = 8 * s3[0] * s3[1]
    g.add_tensor("flat", (n,), f"fixed<8,4,{out_q}>")
    g.add_op(Flatten("flatten", ["c2"], "flat"))
    w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(10, n))
    w = np.asarray(wf.cast_raw(w, wf.frac_bits), dtype=np.int64)
    b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(10,))
    acc = lossless_acc(g.tensor("flat").fmt, wf, w, b, bf)
    g.add_tensor("out", (10,), f"fixed<10,6,{out_q}>")
    g.add_op(Dense("fc", ["flat"], "out", weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=acc))
    g.outputs = ["out"]
    g.validate()
    return g


def conv1d_chain(seed: int = 0) -> Graph:
    """(2, 16) -> conv1d k3 4ch stride 2 pad (1, 1) -> ReLU -> maxpool k3 s2 pad (1, 1) -> conv1d k2
    dilation 2 groups 2 (4ch, pad (0, 1)) -> clip, random integer weights."""
    from hwq.ir import Clip, Conv1d, MaxPool

    rng = np.random.default_rng(seed)
    wf, bf = parse("fixed<5,2>"), parse("fixed<6,2>")
    g = Graph("conv1d_chain", ["x"], [])
    g.add_tensor("x", (2, 16), "fixed<6,2>")
    _conv_op(
        Conv1d,
        g,
        "conv_a",
        "x",
        "a",
        (4, 8),
        "fixed<8,4,RND_INF,SAT>",
        (4, 2, 3),
        wf,
        bf,
        rng,
        stride=2,
        padding=(1, 1),
    )
    g.add_tensor("ar", (4, 8), "ufixed<6,3,RND_MIN_INF,SAT>")
    g.add_op(ReLU("relu_a", ["a"], "ar"))
    g.add_tensor("ap", (4, 4), "ufixed<5,3,RND,SAT>")
    g.add_op(MaxPool("pool_a", ["ar"], "ap", kernel=(3,), stride=(2,), padding=(1, 1)))
    _conv_op(
        Conv1d,
        g,
        "conv_b",
        "ap",
        "b",
        (4, 3),
        "fixed<7,4,RND_ZERO,WRAP>",
        (4, 2, 2),
        wf,
        bf,
        rng,
        dilation=2,
        padding=(0, 1),
        groups=2,
    )
    g.add_tensor("out", (4, 3), "fixed<6,3,TRN,SAT>")
    g.add_op(Clip("clip_b", ["b"], "out", -40, 30))
    g.outputs = ["out"]
    g.validate()
    return g


def avgpool_chain(seed: int = 0) -> Graph:
    """(1, 4, 4) -> conv3x3 4ch 'same' -> AvgPool 2x2 stride 2 with padding (1, 0, 1, 0) (zeros counted,
    SAT accumulator that cannot saturate) -> GlobalAvgPool (WRAP accumulator) -> (4,); power-of-two
    windows, so both reciprocals are shifts (``reciprocal(4) == (1, 2)``)."""
    from hwq.ir import AvgPool, Conv2d, GlobalAvgPool
    from hwq.ir.ops.avgpool import reciprocal

    rng = np.random.default_rng(seed)
    wf, bf = parse("fixed<5,2>"), parse("fixed<6,2>")
    g = Graph("avgpool_chain", ["x"], [])
    g.add_tensor("x", (1, 4, 4), "fixed<6,2>")
    _conv_op(
        Conv2d, g, "conv", "x", "c", (4, 4, 4), "fixed<8,4,RND,SAT>", (4, 1, 3, 3), wf, bf, rng, padding=(1, 1, 1, 1)
    )
    r, rf = reciprocal(4)
    g.add_tensor("ap", (4, 2, 2), "fixed<7,3,RND_CONV,SAT>")
    g.add_op(
        AvgPool(
            "avg",
            ["c"],
            "ap",
            kernel=(2, 2),
            stride=(2, 2),
            padding=(1, 0, 1, 0),
            acc_fmt=parse("fixed<11,7,TRN,SAT>"),
            recip=r,
            recip_frac_bits=rf,
        )
    )
    g.add_tensor("out", (4,), "fixed<6,3,RND_ZERO,SAT_SYM>")
    g.add_op(GlobalAvgPool("gap", ["ap"], "out", acc_fmt=parse("fixed<10,6,TRN,WRAP>"), recip=r, recip_frac_bits=rf))
    g.outputs = ["out"]
    g.validate()
    return g


__all__ = [
    "OVERFLOW_MODES",
    "avgpool_chain",
    "conv1d_chain",
    "small_cnn",
    "digits_mlp",
    "elementwise_chain",
    "mode_chain",
    "mlp",
    "random_chain",
]
