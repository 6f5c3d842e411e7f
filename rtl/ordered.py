"""Ordered accumulation: a Dense/Conv/AvgPool accumulator evaluated step by step in the IR's order.

Used when the shared adder graph would not be exact: a saturating accumulator (SAT, SAT_SYM, SAT_ZERO)
that can saturate for some input, or products that the accumulator rounds one by one (F_acc < F_x + F_w).
Per output j, exactly as ``hwq.ir.ops.dense`` / ``common.mac`` (inputs in row-major order, which is the
IR's order for convolutions and pooling windows too)::

    acc = cast_acc(bias[j])
    for i in 0 .. N-1 with w[j, i] != 0:         # a zero weight adds cast_acc(0) = 0: no step
        p   = cast_acc(x[i] * w[j, i])           # CSD constant product, then the accumulator's modes
        acc = cast_acc(acc + p)                  # exact sum, then the accumulator's overflow

Nothing is shared between outputs (the order matters); the chain is deep (one level per step: the
saturation's compare-and-select sits in its adder's stage), and the PIPELINE parameter registers it like
any other datapath. A step that provably cannot round or overflow adds no cast node.

Each product is computed just in time: its nodes are moved to the levels right before the step that
adds it (``_just_in_time``), so the pipeline delays the input x[i] (one delay line shared by every
output, see ``layer.TAPS_MIN_STAGES``) instead of carrying every output's product through the stages
before its step (M x N delay lines). Exact either way: a level only decides where registers go.
"""

from __future__ import annotations

from itertools import islice

from .constmul import add_values, const_mul
from .datapath import Datapath, Value


def _just_in_time(dp: Datapath, count: int, p: Value, ready: int) -> None:
    """Move the ``count`` newest nodes (one product and its cast, ending in ``p``) up by the same number of
    levels, so that ``p`` sits at level ``ready`` (the accumulator's) when it is lower: the step's adder
    keeps its level, the product is formed in the stages just before it."""
    node = dp.nodes[p.node]
    shift = ready - node.level
    if shift <= 0 or count <= 0 or node.const:
        return
    for name in islice(reversed(dp.nodes), count):
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


def ordered_accumulate(
    dp: Datapath, op, xs: list[Value], weights: list[list[int]], bias_acc: list[int], prefix: str
) -> list[Value]:
    """Accumulator value (raw at ``op.acc_fmt``'s LSB) of every output row of ``weights`` over inputs
    ``xs``. ``op`` is a ``matrix.DenseSpec``: the weight raws have ``op.weight_frac`` fractional bits;
    ``bias_acc``: the bias already cast to the accumulator."""
    acc_fmt = op.acc_fmt
    fw = op.weight_frac
    outs = []
    for j, row in enumerate(weights):
        # one comment names the chain; its nodes are named <prefix>_o<j>_{p,c,s,a}<i>: product x[i] * w,
        # product cast, sum, sum cast (short comments: a wide layer has tens of thousands of them)
        what = f"{op.name} ({op.kind}) output {j}"
        chain = f"{what}: bias in {acc_fmt}; per input i: p<i> = x[i] * w, c<i> = cast(p<i>), s<i> = acc + c<i>"
        chain += ", a<i> = cast(s<i>) (casts to the accumulator, only where they can round or saturate)"
        acc = Value(dp.const(f"{prefix}_o{j}_b", bias_acc[j], chain).name, acc_fmt.frac_bits)
        for i, w in enumerate(row):
            if w == 0:
                continue
            before = len(dp.nodes)
            p = const_mul(dp, f"{prefix}_o{j}_p{i}", xs[i], w, fw, f"x[{i}] * {w}")
            p = dp.cast(f"{prefix}_o{j}_c{i}", p, acc_fmt, "")
            _wiring_shares_level(dp, p)
            _just_in_time(dp, len(dp.nodes) - before, p, dp.nodes[acc.node].level)
            s = add_values(dp, f"{prefix}_o{j}_s{i}", acc, p, "")
            acc = dp.cast(f"{prefix}_o{j}_a{i}", s, acc_fmt, "")
            if acc.node != s.node:  # the saturation shares the adder's stage: one level per step
                dp.nodes[acc.node].level = dp.nodes[s.node].level
        outs.append(acc)
    return outs
