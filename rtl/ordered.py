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
"""

from __future__ import annotations

from .constmul import add_values, const_mul
from .datapath import Datapath, Value


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
        what = f"{op.name} ({op.kind}) output {j}"
        acc = Value(dp.const(f"{prefix}_o{j}_b", bias_acc[j], f"{what}: bias in {acc_fmt}").name, acc_fmt.frac_bits)
        for i, w in enumerate(row):
            if w == 0:
                continue
            step = f"{what}, input {i}"
            p = const_mul(dp, f"{prefix}_o{j}_p{i}", xs[i], w, fw, f"{step}: x * {w}")
            p = dp.cast(f"{prefix}_o{j}_c{i}", p, acc_fmt, f"{step}: product -> {acc_fmt}")
            s = add_values(dp, f"{prefix}_o{j}_s{i}", acc, p, f"{step}: acc + product")
            acc = dp.cast(f"{prefix}_o{j}_a{i}", s, acc_fmt, f"{step}: sum -> {acc_fmt}")
            if acc.node != s.node:  # the saturation shares the adder's stage: one level per step
                dp.nodes[acc.node].level = dp.nodes[s.node].level
        outs.append(acc)
    return outs
