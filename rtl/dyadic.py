"""IR Requantize, mode ``"dyadic"`` (CMSIS-NN ``arm_nn_requantize``), as exact shift-and-add hardware.

Raws are plain integers (x in int32 range); per channel c = channel_of(j): m = multiplier[c] (Q31),
s = shift[c] (``hwq.ir.ops.requantize``). Every step maps onto an exact datapath primitive:

default build (double rounding)::

    v = wrap32(x << max(s, 0))                   cast to fixed<32,32,TRN,WRAP> of x at LSB 2**max(s,0)
    h = wrap32((v * m + 2**30) >> 31)            CSD product v*m, then cast with RND (floor(p/2**31 + 1/2)), WRAP
    r = h / 2**max(-s, 0), ties away from zero   cast with RND_INF (ap_fixed round half away from zero)

single_rounding::

    r = wrap32((x * m) >> (30 - s))              CSD product, cast with TRN (floor), WRAP to 32 bits
    r = wrap32(r + 1) >> 1                       + 1, then bits [31:1]: cast of (r + 1) / 2 with TRN, WRAP to 31 bits

then ``y = clamp(r + out_offset, act_min, act_max)`` (an adder and a clamp), already a raw of the output
format. A cast whose range proves it cannot wrap or round is no node at all.
"""

from __future__ import annotations

from hwq.formats import FixedFormat
from hwq.ir.graph import Graph

from .constmul import add_const, const_mul
from .datapath import Datapath, Value


def _int(width: int, rounding: str) -> FixedFormat:
    """Signed integer format of ``width`` bits (LSB 1) with ``rounding`` and WRAP overflow."""
    return FixedFormat(width, width, True, rounding, "WRAP")


def build_dyadic(dp: Datapath, graph: Graph, op, args: list[list[Value]], k: int, channel_of) -> list[Value]:
    """Nodes of a dyadic IR Requantize (see the module docstring); per-tensor when multiplier has 1 entry."""
    yf = graph.tensor(op.output).fmt
    amin = yf.raw_min if op.act_min is None else int(op.act_min)
    amax = yf.raw_max if op.act_max is None else int(op.act_max)
    per_tensor = len(op.multiplier) == 1
    raw_fmt = FixedFormat(yf.width, yf.int_bits, yf.signed, "TRN", "WRAP")  # yf's raws, never altered
    outs = []
    for j, x in enumerate(args[0]):
        c = 0 if per_tensor else channel_of(j)
        m, s = int(op.multiplier[c]), int(op.shift[c])
        what = f"{op.name} (requantize dyadic) element {j}, channel {c}: m={m}, shift={s}"
        n = f"q{k}_{j}"
        xi = Value(x.node, 0)  # dyadic requantisation reads raws as plain integers
        if op.single_rounding:
            p = const_mul(dp, f"{n}_p", xi, m, 0, f"{what}: x * m")
            p = Value(p.node, p.frac_bits + 30 - s)
            r = dp.cast(f"{n}_r", p, _int(32, "TRN"), f"{what}: wrap32(p >> {30 - s})")
            r1 = add_const(dp, f"{n}_r1", r, 1, 0, f"{what}: r + 1")
            r = dp.cast(f"{n}_h", Value(r1.node, r1.frac_bits + 1), _int(31, "TRN"), f"{what}: wrap32(r + 1) >> 1")
        else:
            left, right = max(s, 0), max(-s, 0)
            v = dp.cast(f"{n}_v", Value(x.node, -left), _int(32, "TRN"), f"{what}: wrap32(x << {left})")
            p = const_mul(dp, f"{n}_p", v, m, 0, f"{what}: v * m")
            h = dp.cast(f"{n}_h", Value(p.node, p.frac_bits + 31), _int(32, "RND"), f"{what}: (p + 2**30) >> 31")
            r = dp.cast(
                f"{n}_r", Value(h.node, right), _int(34, "RND_INF"), f"{what}: h / 2**{right}, ties away from zero"
            )
        y = add_const(dp, f"{n}_o", Value(r.node, 0), int(op.out_offset), 0, f"{what}: + out_offset")
        # the clamped value is the output raw as it is: no cast (an output SAT_SYM would move raw_min)
        y = dp.clip(f"{n}_y", Value(y.node, yf.frac_bits), amin, amax, raw_fmt, f"{what}: clamp [{amin}, {amax}]")
        outs.append(y)
    return outs
