"""Pass ``fold_batchnorm``: fold a BatchNorm that follows a dense / conv layer into its weights and bias.

Pattern: op P (dense, conv1d, conv2d) whose output tensor t is read only by a BatchNorm B (and is not a
graph output). P and B compute::

    acc = sum(x * w) + b                # in P's acc_fmt
    t   = cast_t(acc)                   # P's output format
    y   = cast_y(t * s[o] + beta[o])    # B, exact then one cast

The folded op computes ``y = cast_y(sum(x * (w * s[o])) + (b * s[o] + beta[o]))`` with integer weights
``w * s[o]`` in the exact product format (F_w + F_s fractional bits), an exact bias at
max(F_b + F_s, F_beta) fractional bits, and the narrowest lossless accumulator (see
``infer_accumulators``), keeping P's accumulator modes.

Exactness: the fold is bit-exact if and only if nothing is rounded or saturated on P's path for any
input, i.e. P's accumulator is lossless (no product rounding, no partial-sum overflow) and its output
format holds every reachable accumulator value exactly (enough fractional bits, enough range). With
``require_exact=True`` (the default) a fold that would change the arithmetic raises ``PassError`` naming
both ops; with ``require_exact=False`` it folds anyway, removing P's intermediate rounding (the usual
float-style folding; results may then differ from the unfolded graph).
"""

from __future__ import annotations

import numpy as np

from hwq.formats import FixedFormat

from ..graph import Graph
from ._common import MAC_KINDS, PassError, copy_graph, lossless_acc, mac_value_range, signed_bits


def _int_fmt_for(values: np.ndarray, frac: int) -> FixedFormat:
    """The narrowest signed fixed format (TRN/WRAP) holding the integers ``values`` at ``frac`` bits."""
    lo = min(int(values.min()), 0) if values.size else 0
    hi = max(int(values.max()), 0) if values.size else 0
    w = signed_bits(lo, hi)
    return FixedFormat(w, w - frac)


def exactness_problem(p, graph: Graph, ranges: dict | None = None) -> str | None:
    """Why folding after op ``p`` would change results (None when the fold is exact)."""
    lo, hi, f = mac_value_range(p, graph, ranges)
    acc = p.acc_fmt
    if acc.frac_bits < f:
        return f"its accumulator {acc} has {acc.frac_bits} fractional bits, the products need {f}"
    scale = 1 << (acc.frac_bits - f)
    alo, ahi = acc.raw_min, acc.raw_max
    if acc.overflow == "SAT_SYM" and acc.signed:
        alo = -ahi
    if lo * scale < alo or hi * scale > ahi:
        return f"its accumulator {acc} can overflow (values reach [{lo}, {hi}] * 2**-{f})"
    out = graph.tensor(p.output).fmt
    if not isinstance(out, FixedFormat):
        return f"its output format {out} is not fixed point (exactness is not provable)"
    if out.frac_bits < f:
        return f"its output format {out} rounds the accumulator ({out.frac_bits} < {f} fractional bits)"
    oscale = 1 << (out.frac_bits - f)
    olo, ohi = out.raw_min, out.raw_max
    if out.overflow == "SAT_SYM" and out.signed:
        olo = -ohi
    if lo * oscale < olo or hi * oscale > ohi:
        return f"its output format {out} cannot hold every accumulator value [{lo}, {hi}] * 2**-{f}"
    return None


def fold_batchnorm(graph: Graph, require_exact: bool = True, input_ranges: dict | None = None) -> Graph:
    """A copy of ``graph`` with every foldable BatchNorm folded into the preceding dense/conv op."""
    g = copy_graph(graph)
    changed = True
    while changed:
        changed = False
        for bn in list(g.ops):
            if bn.kind != "batchnorm":
                continue
            p = g.producer(bn.inputs[0])
            if p is None or p.kind not in MAC_KINDS:
                continue
            t = p.output
            if len(g.consumers(t)) != 1 or t in g.outputs:
                continue
            if not isinstance(p.acc_fmt, FixedFormat):
                raise PassError(f"fold_batchnorm: op {p.name!r} ({p.kind}) has no fixed accumulator format")
            if require_exact:
                why = exactness_problem(p, g, input_ranges)
                if why:
                    raise PassError(
                        f"fold_batchnorm: folding {bn.name!r} into {p.name!r} ({p.kind}) would change results: "
                        f"{why}; pass require_exact=False to fold anyway"
                    )
            _fold(g, p, bn, input_ranges)
            changed = True
            break
    g.validate()
    return g


def _fold(g: Graph, p, bn, ranges) -> None:
    s = np.asarray(bn.scale).astype(object)
    beta = np.asarray(bn.bias).astype(object)
    w = np.asarray(p.weight).astype(object)
    cout = w.shape[0]
    if s.shape != (cout,):
        raise PassError(f"fold_batchnorm: {bn.name!r} has {s.shape[0]} channels, {p.name!r} produces {cout}")
    new_w = w * s.reshape((cout,) + (1,) * (w.ndim - 1))
    wf_frac = p.weight_fmt.frac_bits + bn.scale_fmt.frac_bits
    bf_frac = max(p.bias_fmt.frac_bits + bn.scale_fmt.frac_bits, bn.bias_fmt.frac_bits)
    b = np.asarray(p.bias).astype(object) * s * (1 << (bf_frac - p.bias_fmt.frac_bits - bn.scale_fmt.frac_bits))
    new_b = b + beta * (1 << (bf_frac - bn.bias_fmt.frac_bits))
    wfmt, bfmt = _int_fmt_for(new_w, wf_frac), _int_fmt_for(new_b, bf_frac)
    p.weight = _ints(new_w, wfmt)
    p.bias = _ints(new_b, bfmt)
    p.weight_fmt, p.bias_fmt = wfmt, bfmt
    # the folded op writes B's output; B and the intermediate tensor disappear
    del g.tensors[p.output]
    p.output = bn.output
    g.ops.remove(bn)
    lo, hi, f = mac_value_range(p, g, ranges)
    p.acc_fmt = lossless_acc(lo, hi, f, p.acc_fmt)


def _ints(values: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    return values.astype(np.int64) if fmt.width <= 62 else values
