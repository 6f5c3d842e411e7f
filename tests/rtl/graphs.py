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


__all__ = ["OVERFLOW_MODES", "digits_mlp", "elementwise_chain", "mode_chain", "mlp", "random_chain"]
