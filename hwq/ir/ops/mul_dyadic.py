"""CMSIS-NN element-wise multiplication (kind ``mul_dyadic``): ``arm_elementwise_mul_s8`` / ``_s16``.

Operands: a, b raw of the same shape in integer formats (raws taken as plain integers). C int32
arithmetic (``wrap32``), ``rq`` = ``dyadic_requantize`` (CMSIS-NN ``arm_nn_requantize``, both builds via
``single_rounding``)::

    p = wrap32((a + input1_offset) * (b + input2_offset))
    y = clamp(rq(p, out_multiplier, out_shift) + out_offset, act_min, act_max)

Attributes are per-tensor Python ints (offsets = minus the input zero points, ``out_offset`` = the output
zero point, Q31 multiplier, shift in [-31, 30]); act_min/act_max default to the output raw range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .add_dyadic import check_clamp, check_dyadic_scalar, check_int32_raws
from .common import check_elementwise_shapes, check_offset, wrap_int
from .requantize import dyadic_requantize


@register
@dataclass
class MulDyadic(Op):
    """CMSIS-NN element-wise multiply (``arm_elementwise_mul_s8``); formula in the module docstring."""

    kind = "mul_dyadic"
    input1_offset: int = 0
    input2_offset: int = 0
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
        check_dyadic_scalar(self, "out", self.out_multiplier, self.out_shift)
        check_clamp(self, graph)


def evaluate(op: MulDyadic, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """a raw (B, ...), b raw (B, ...) -> y raw (B, ...); see the module docstring."""
    a, b = (np.asarray(v).astype(np.int64) for v in args)
    p = wrap_int((a + int(op.input1_offset)) * (b + int(op.input2_offset)))
    r = dyadic_requantize(p, op.out_multiplier, op.out_shift, bool(op.single_rounding)) + int(op.out_offset)
    amin, amax = check_clamp(op, graph)
    return np.clip(r, amin, amax).astype(np.int64)
