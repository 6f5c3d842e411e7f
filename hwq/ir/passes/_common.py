"""Helpers shared by the passes: the pass error, graph copies, and MAC value bounds."""

from __future__ import annotations

import copy

import numpy as np

from hwq.formats import FixedFormat

from ..graph import Graph, GraphError

#: op kinds that multiply-accumulate weights (weight, bias, weight_fmt, bias_fmt, acc_fmt).
MAC_KINDS = ("dense", "conv1d", "conv2d")
#: op kinds that sum windows of their input into an accumulator (acc_fmt, recip).
POOL_KINDS = ("avgpool", "global_avgpool")


class PassError(GraphError):
    """A pass's precondition does not hold; the message names the pass and the op."""


def copy_graph(graph: Graph) -> Graph:
    """A deep copy (tensors, ops and their parameter arrays): passes never mutate their input."""
    return copy.deepcopy(graph)


def input_range(graph: Graph, tensor: str, ranges: dict | None) -> tuple[int, int]:
    """Raw range [lo, hi] of a tensor (given in ``ranges`` by name, else its format's), widened to hold 0."""
    if ranges and tensor in ranges:
        lo, hi = (int(v) for v in ranges[tensor])
    else:
        fmt = graph.tensor(tensor).fmt
        lo, hi = getattr(fmt, "raw_min", None), getattr(fmt, "raw_max", None)
        if lo is None or hi is None:
            raise PassError(f"tensor {tensor!r}: format {fmt} has no raw range (raw_min/raw_max)")
    return min(int(lo), 0), max(int(hi), 0)


def signed_bits(lo: int, hi: int, symmetric: bool = False) -> int:
    """Fewest bits W of a signed integer holding [lo, hi] (``symmetric``: within [-(2**(W-1)-1), 2**(W-1)-1])."""
    need = 1
    for v in (lo, hi):
        if v >= 0:
            need = max(need, v.bit_length() + 1)
        else:
            need = max(need, ((-v) if symmetric else (-v - 1)).bit_length() + 1)
    return need


def mac_terms(op) -> tuple[np.ndarray, np.ndarray]:
    """Weights as ``(Cout, K)`` (one row per output channel) and the bias ``(Cout,)``."""
    w = np.asarray(op.weight)
    return w.reshape(w.shape[0], -1), np.asarray(op.bias)


def mac_value_range(op, graph: Graph, ranges: dict | None = None, frac: int | None = None) -> tuple[int, int, int]:
    """(lo, hi, F): bounds, in units of 2**-F, of every value a MAC op's accumulator can hold.

    F defaults to the lossless max(F_x + F_w, F_b). With x in [x_lo, x_hi] (0 included) every product
    term of output o lies in [t_lo, t_hi] with t_lo <= 0 <= t_hi, so every partial sum (bias first, any
    subset of terms) lies in [b_o + sum t_lo, b_o + sum t_hi] and every single term in
    [sum t_lo, sum t_hi]. Exact Python-int arithmetic.
    """
    x_lo, x_hi = input_range(graph, op.inputs[0], ranges)
    xf = graph.tensor(op.inputs[0]).fmt
    prod_frac = xf.frac_bits + op.weight_fmt.frac_bits
    f = max(prod_frac, op.bias_fmt.frac_bits) if frac is None else frac
    w, b = mac_terms(op)
    wo = w.astype(object)
    wpos = np.where(wo > 0, wo, 0).sum(axis=1)
    wneg = np.where(wo < 0, wo, 0).sum(axis=1)
    s = f - prod_frac
    sb = f - op.bias_fmt.frac_bits
    if s < 0 or sb < 0:
        raise PassError(
            f"op {op.name!r} ({op.kind}): bounds need at least {max(prod_frac, op.bias_fmt.frac_bits)} "
            f"fractional bits, got {f}"
        )
    t_hi = (wpos * x_hi + wneg * x_lo) * (1 << s)
    t_lo = (wpos * x_lo + wneg * x_hi) * (1 << s)
    bb = b.astype(object) * (1 << sb)
    lo = min(int(np.min(np.minimum(bb + t_lo, t_lo))), 0) if len(bb) else 0
    hi = max(int(np.max(np.maximum(bb + t_hi, t_hi))), 0) if len(bb) else 0
    return lo, hi, f


def pool_value_range(op, graph: Graph, ranges: dict | None = None) -> tuple[int, int, int]:
    """(lo, hi, F_x): bounds of every partial window sum of an average-pooling op."""
    x_lo, x_hi = input_range(graph, op.inputs[0], ranges)
    t = graph.tensor(op.inputs[0])
    n = int(np.prod(op.kernel)) if op.kind == "avgpool" else t.size // t.shape[0]
    return n * x_lo, n * x_hi, t.fmt.frac_bits


def lossless_acc(lo: int, hi: int, frac: int, like: FixedFormat | None) -> FixedFormat:
    """The narrowest signed fixed format holding [lo, hi] at ``frac`` fractional bits, with the modes of
    ``like`` (TRN/WRAP when None)."""
    rounding = like.rounding if like is not None else "TRN"
    overflow = like.overflow if like is not None else "WRAP"
    w = signed_bits(lo, hi, symmetric=overflow == "SAT_SYM")
    return FixedFormat(w, w - frac, True, rounding, overflow)
