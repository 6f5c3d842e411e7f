"""CMSIS-NN element-wise addition (kind ``add_dyadic``): ``arm_elementwise_add_s8`` / ``_s16``.

Operands: a, b raw of the same shape (any layout) in integer formats (usually affine ``int<8,...>``;
raws are taken as plain integers, the real scales live in the multipliers). All arithmetic is C int32
(``wrap32`` = two's complement wrap to 32 bits) and ``rq(v, m, s)`` is ``dyadic_requantize`` (CMSIS-NN's
``arm_nn_requantize``, the default double-rounding build or, with ``single_rounding``, the
``CMSIS_NN_USE_SINGLE_ROUNDING`` build)::

    a' = rq(wrap32((a + input1_offset) << left_shift), input1_multiplier, input1_shift)
    b' = rq(wrap32((b + input2_offset) << left_shift), input2_multiplier, input2_shift)
    r  = rq(wrap32(a' + b'), out_multiplier, out_shift) + out_offset
    y  = clamp(r, act_min, act_max)          # act_min/act_max default to the output format's raw range

All attributes are per-tensor Python ints: offsets are minus the zero points (``input1_offset =
-zp_a``, ``out_offset = zp_y``); multipliers Q31 in [0, 2**31 - 1]; shifts in [-31, 30]; left_shift in
[0, 31] (TFLite uses 20 for int8 and 15 for int16). Written from CMSIS-NN's documented arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .common import add_offset, check_elementwise_shapes, check_offset, op_error, shift_left, wrap_int
from .requantize import dyadic_requantize

_I32_MAX = (1 << 31) - 1


def check_dyadic_scalar(op, what: str, m, s) -> None:
    """Raise naming the op unless (m, s) is a Q31 multiplier in [0, 2**31-1] and a shift in [-31, 30]."""
    m = check_offset(op, f"{what}_multiplier", m)
    s = check_offset(op, f"{what}_shift", s)
    if not 0 <= m <= _I32_MAX:
        raise op_error(op, f"{what}_multiplier must be a Q31 value in [0, 2**31 - 1], got {m}")
    if not -31 <= s <= 30:
        raise op_error(op, f"{what}_shift must be in [-31, 30], got {s}")


def check_clamp(op, graph: Graph) -> tuple[int, int]:
    """The op's [act_min, act_max] (defaults: the output raw range); raise unless inside that range."""
    yf = graph.tensor(op.output).fmt
    lo, hi = yf.raw_min, yf.raw_max
    amin = lo if op.act_min is None else check_offset(op, "act_min", op.act_min)
    amax = hi if op.act_max is None else check_offset(op, "act_max", op.act_max)
    if not lo <= amin <= amax <= hi:
        raise op_error(op, f"act_min/act_max [{amin}, {amax}] must lie within the output range [{lo}, {hi}]")
    return amin, amax


def check_int32_raws(op, graph: Graph) -> None:
    """Raise unless every input and the output format hold raws in the int32 range."""
    for name in [*op.inputs, op.output]:
        f = graph.tensor(name).fmt
        lo, hi = getattr(f, "raw_min", None), getattr(f, "raw_max", None)
        if lo is None or lo < -(1 << 31) or hi > _I32_MAX:
            raise op_error(op, f"tensor {name!r} format {f} must hold int32 raws")


@register
@dataclass
class AddDyadic(Op):
    """CMSIS-NN element-wise add (``arm_elementwise_add_s8``); formula in the module docstring."""

    kind = "add_dyadic"
    input1_offset: int = 0
    input1_multiplier: int = 1 << 30
    input1_shift: int = 0
    input2_offset: int = 0
    input2_multiplier: int = 1 << 30
    input2_shift: int = 0
    left_shift: int = 0
    out_multiplier: int = 1 << 30
    out_shift: int = 0
    out_offset: int = 0
    act_min: int | None = None
    act_max: int | None = None
    single_rounding: bool = False

    def check(self, graph: Graph) -> None:
        check_elementwise_shapes(self, graph)
        check_int32_raws(self, graph)
        for what in ("input1_offset", "input2_offset", "out_offset"):
            check_offset(self, what, getattr(self, what))
        ls = check_offset(self, "left_shift", self.left_shift)
        if not 0 <= ls <= 31:
            raise op_error(self, f"left_shift must be in [0, 31], got {ls}")
        for what in ("input1", "input2", "out"):
            check_dyadic_scalar(self, what, getattr(self, f"{what}_multiplier"), getattr(self, f"{what}_shift"))
        check_clamp(self, graph)


def evaluate(op: AddDyadic, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """a raw (B, ...), b raw (B, ...) -> y raw (B, ...); see the module docstring."""
    a, b = (np.asarray(v).astype(np.int64) for v in args)
    sr = bool(op.single_rounding)
    ls = int(op.left_shift)
    a1 = wrap_int(shift_left(add_offset(a, int(op.input1_offset)), ls))
    b1 = wrap_int(shift_left(add_offset(b, int(op.input2_offset)), ls))
    a2 = dyadic_requantize(np.asarray(a1).astype(np.int64), op.input1_multiplier, op.input1_shift, sr)
    b2 = dyadic_requantize(np.asarray(b1).astype(np.int64), op.input2_multiplier, op.input2_shift, sr)
    r = dyadic_requantize(wrap_int(a2 + b2), op.out_multiplier, op.out_shift, sr) + int(op.out_offset)
    amin, amax = check_clamp(op, graph)
    return np.clip(r, amin, amax).astype(np.int64)
