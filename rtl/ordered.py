"""Ordered accumulation: a Dense/Conv/AvgPool accumulator evaluated step by step in the IR's order.

Used when the shared adder graph would not be exact: a saturating accumulator (SAT, SAT_SYM, SAT_ZERO)
that can saturate for some input, or products that the accumulator rounds one by one (F_acc < F_x + F_w).
Per output j, exactly as ``hwq.ir.ops.dense`` / ``common.mac`` (inputs in row-major order, which is the
IR's order for convolutions and pooling windows too)::

    acc = cast_acc(bias[j])
    for i in 0 .. N-1 with w[j, i] != 0:         # a zero weight adds cast_acc(0) = 0: no step
        p   = cast_acc(x[i] * w[j, i])           # CSD constant product, then the accumulator's modes
        acc = cast_acc(acc + p)                  # exact sum, then the accumulator's overflow

Nothing is shared between outputs (the order matters). A step that provably cannot round or overflow
adds no cast node, and the steps before the first one whose sum can leave the accumulator's range (for
any input: the exact interval of ``bias + c_0 + ... + c_i`` with independent inputs) never saturate, so
that exact prefix ``bias + sum c_i`` is summed by a shallow adder tree (same adders, log depth); only the
remaining steps form the chain (one level per step: the saturation's compare-and-select sits in its
adder's stage), which the PIPELINE parameter registers like any other datapath.

Each product is computed just in time: its nodes are moved to the levels right before the step that
adds it (``_just_in_time``), so the pipeline delays the input x[i] (one delay line shared by every
output, see ``layer.TAPS_MIN_STAGES``) instead of carrying every output's product through the stages
before its step (M x N delay lines). Exact either way: a level only decides where registers go.
"""

from __future__ import annotations

from itertools import islice

import numpy as np

from hwq.formats import shift_round

from .constmul import add_const, add_values, const_mul, sum_terms
from .datapath import Datapath, Value


def _just_in_time(dp: Datapath, names: list[str], p: Value, ready: int) -> None:
    """Move the nodes ``names`` (one product and its cast, ending in ``p``) up by the same number of
    levels, so that ``p`` sits at level ``ready`` (the accumulator's) when it is lower: the step's adder
    keeps its level, the product is formed in the stages just before it."""
    node = dp.nodes[p.node]
    shift = ready - node.level
    if shift <= 0 or not names or node.const:
        return
    for name in names:
        n = dp.nodes[name]
        if not n.const:
            n.level += shift


def _wiring_shares_level(dp: Datapath, v: Value) -> None:
    """A cast that is only wiring (bit selection, sign extension: no operator in its body) takes its
    operand's level instead of a level of its own, so it adds no pipeline crossing."""
    n = dp.nodes[v.node]
    if n.const or len(n.operands) != 1 or dp.nodes[n.operands[0]].const:
        return
    src = dp.nodes[n.operands[0]]
    if n.level != src.level + 1:
        return
    if all(_only_assign(line) for line in n.body):
        n.level = src.level


def _only_assign(line: str) -> bool:
    """True for a body line whose only ``=`` is the assignment (no arithmetic or comparison operator)."""
    rhs = line.split("=", 1)[1] if "=" in line else line
    return not any(c in rhs for c in "+-?<>=!&|^~*")


def _sat_limits(acc_fmt) -> tuple[int, int]:
    """The raw range a saturating cast to ``acc_fmt`` leaves unchanged (SAT_SYM: symmetric)."""
    lo, hi = acc_fmt.raw_min, acc_fmt.raw_max
    if acc_fmt.overflow == "SAT_SYM" and acc_fmt.signed:
        lo = -hi
    return lo, hi


def exact_prefix(bias: int, ranges: list[tuple[int, int]], limits: tuple[int, int]) -> int:
    """How many leading steps of a chain ``acc = sat(acc + c_i)`` (``acc`` starting at ``bias``, ``c_i`` in
    ``ranges[i]``, each from its own input) provably never saturate: every partial sum
    ``bias + c_0 + ... + c_k`` (k below the returned count) lies inside ``limits`` for every input."""
    lo = hi = bias
    for k, (a, b) in enumerate(ranges):
        lo, hi = lo + a, hi + b
        if lo < limits[0] or hi > limits[1]:
            return k
    return len(ranges)


def _cast_range(lo: int, hi: int, frac: int, fmt) -> tuple[int, int]:
    """A sound range of ``fmt``'s cast of integers in [lo, hi] with ``frac`` fractional bits (rounding is
    monotone; SAT clips; SAT_ZERO or WRAP past the range: anything in the format)."""
    s = frac - fmt.frac_bits
    if s > 0:
        r = shift_round(np.array([lo, hi], dtype=object), s, fmt.rounding)
        lo, hi = int(r[0]), int(r[1])
    elif s < 0:
        lo, hi = lo << -s, hi << -s
    flo, fhi = _sat_limits(fmt)
    if flo <= lo and hi <= fhi:
        return lo, hi
    if fmt.overflow in ("SAT", "SAT_SYM"):
        return max(min(lo, fhi), flo), min(max(hi, flo), fhi)
    return min(fmt.raw_min, 0), max(fmt.raw_max, 0)


def _odd_part(w: int) -> tuple[int, int]:
    """(odd, k) with w == odd * 2**k (w != 0)."""
    k = (w & -w).bit_length() - 1
    return w >> k, k


def ordered_accumulate(
    dp: Datapath, op, xs: list[Value], weights: list[list[int]], bias_acc: list[int], prefix: str
) -> list[Value]:
    """Accumulator value (raw at ``op.acc_fmt``'s LSB) of every output row of ``weights`` over inputs
    ``xs``. ``op`` is a ``matrix.DenseSpec``: the weight raws have ``op.weight_frac`` fractional bits;
    ``bias_acc``: the bias already cast to the accumulator.

    The exact prefix (``exact_prefix``) of each chain is an adder tree over products shared by every
    output: ``x[i] * odd`` once per input and odd factor (``x[i] * w`` is it shifted, a free wire) and
    its cast to the accumulator once per input and weight. The remaining steps are the chain, with
    products of their own formed just in time."""
    acc_fmt = op.acc_fmt
    fw = op.weight_frac
    fa = acc_fmt.frac_bits
    limits = _sat_limits(acc_fmt)
    raw_memo: dict[tuple[int, int], Value] = {}
    cast_memo: dict[tuple[int, int], Value] = {}

    def shared_product(i: int, w: int) -> Value:
        """cast_acc(x[i] * w), built once per (input, weight) for every output's exact prefix."""
        key = (i, w)
        if key not in cast_memo:
            odd, k = _odd_part(w)
            tag = f"{prefix}_x{i}_{'n' if odd < 0 else 'k'}{abs(odd)}"
            if (i, odd) not in raw_memo:
                raw_memo[(i, odd)] = const_mul(dp, tag, xs[i], odd, 0, f"x[{i}] * {odd}")
            p = raw_memo[(i, odd)]
            p = Value(p.node, p.frac_bits - k + fw)  # times 2**k, in units of 2**-(F_x + F_w)
            c = dp.cast(f"{prefix}_x{i}_c{'n' if w < 0 else ''}{abs(w)}", p, acc_fmt, f"cast(x[{i}] * {w})")
            _wiring_shares_level(dp, c)
            cast_memo[key] = c
        return cast_memo[key]

    outs = []
    for j, row in enumerate(weights):
        # one comment names the chain; its nodes are named <prefix>_o<j>_{p,c,s,a}<i>: product x[i] * w,
        # product cast, sum, sum cast (short comments: a wide layer has tens of thousands of them)
        what = f"{op.name} ({op.kind}) output {j}"
        chain = f"{what}: bias in {acc_fmt}; per input i: p<i> = x[i] * w, c<i> = cast(p<i>), s<i> = acc + c<i>"
        chain += ", a<i> = cast(s<i>) (casts to the accumulator, only where they can round or saturate)"
        steps = [(i, w) for i, w in enumerate(row) if w != 0]
        ranges = []
        for i, w in steps:
            xlo, xhi = dp.nodes[xs[i].node].lo, dp.nodes[xs[i].node].hi
            ranges.append(_cast_range(min(w * xlo, w * xhi), max(w * xlo, w * xhi), xs[i].frac_bits + fw, acc_fmt))
        n_tree = exact_prefix(bias_acc[j], ranges, limits)
        bias = bias_acc[j]
        tree = []
        for i, w in steps[:n_tree]:
            c = shared_product(i, w)
            if dp.nodes[c.node].const:  # a constant product joins the bias (no saturation here: exact)
                bias += dp.nodes[c.node].lo << (fa - c.frac_bits)
            else:
                tree.append((c.node, c.frac_bits - fa, 1))
        if tree:
            term = sum_terms(dp, f"{prefix}_o{j}_t", tree, "")
            acc = add_const(dp, f"{prefix}_o{j}_b", Value(term[0], fa - term[1]), bias, fa, "")
            if acc.node.startswith(f"{prefix}_o{j}_"):  # not a shared product itself
                note = f"{chain}; bias + c<i> of the first {n_tree} steps: an adder tree (never saturates)"
                dp.nodes[acc.node].comment = note
        else:
            acc = Value(dp.const(f"{prefix}_o{j}_b", bias, chain).name, fa)
        for i, w in steps[n_tree:]:
            before = len(dp.nodes)
            p = const_mul(dp, f"{prefix}_o{j}_p{i}", xs[i], w, fw, f"x[{i}] * {w}")
            p = dp.cast(f"{prefix}_o{j}_c{i}", p, acc_fmt, "")
            _wiring_shares_level(dp, p)
            _just_in_time(dp, list(islice(reversed(dp.nodes), len(dp.nodes) - before)), p, dp.nodes[acc.node].level)
            s = add_values(dp, f"{prefix}_o{j}_s{i}", acc, p, "")
            acc = dp.cast(f"{prefix}_o{j}_a{i}", s, acc_fmt, "")
            if acc.node != s.node:  # the saturation shares the adder's stage: one level per step
                dp.nodes[acc.node].level = dp.nodes[s.node].level
        outs.append(acc)
    return outs
