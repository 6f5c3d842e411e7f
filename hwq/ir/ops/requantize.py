"""Requantize: an explicit change of number format, in one of two modes.

``mode="cast"`` (fixed point and minifloat): ``y = cast_out(x)``, i.e. the output format's
``cast_raw`` of x's raws at F_x fractional bits: the output's rounding then overflow for fixed point
(shift, round, saturate or wrap), nearest-representable rounding for minifloats.

``mode="dyadic"`` (CMSIS-NN / TFLite integer requantisation; raws are taken as plain integers, the real
scale lives in the multiplier): per channel c (first non-batch axis; ``multiplier``/``shift`` of length
C, or 1 for per-tensor), with x in int32 range, m = multiplier[c] (Q31, 0 <= m < 2**31), s = shift[c]
(-31 <= s <= 30), scale = m * 2**(s - 31)::

    default build (arm_nn_requantize, double rounding):
        v = wrap32(x * 2**max(s, 0))                       # int32 multiply
        h = wrap32((v * m + 2**30) >> 31)                  # doubling high multiply; ties toward +inf
        r = h / 2**max(-s, 0) rounded half away from zero  # arm_nn_divide_by_power_of_two
    single_rounding=True (CMSIS_NN_USE_SINGLE_ROUNDING):
        r = (wrap32((x * m) >> (30 - s)) + 1) >> 1         # 64-bit product, arithmetic shifts
    y = clamp(r + out_offset, act_min, act_max)          # act_min/act_max default to the output range

``mode="dyadic_s64"`` (CMSIS-NN int16 activations, ``arm_nn_requantize_s64`` as used by
``arm_convolve_s16`` / ``arm_fully_connected_s16`` with an int64 bias): x is an int64 accumulator (input
raws in int64 range), m a Q31 multiplier as above, s in [-31, 14]; the kernel first reduces the
multiplier to 16 bits (``REDUCE_MULTIPLIER``)::

    rm = (m + 2**15) >> 16  if m < 0x7FFF0000  else  0x7FFF
    r  = wrap32(wrap64(x * rm) >> (14 - s))            # 64-bit product, arithmetic shift, to int32
    r  = wrap32(r + 1) >> 1                             # last shift with rounding, ties toward +inf
    y  = clamp(r + out_offset, act_min, act_max)      # out_offset is 0 for CMSIS-NN s16

This mode has a single build (``single_rounding`` is ignored). int16 activations use it; int8 ones use
``dyadic``.

The result is already a raw of the output format (no further cast). The dyadic arithmetic is
``dyadic_requantize`` (``hwq.formats.requant.requantize``), written from the documented CMSIS-NN behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.formats.requant import requantize, wrap32

from ..graph import Graph, Op, register
from .common import check_arity, op_error

MODES = ("cast", "dyadic", "dyadic_s64")
_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


#: CMSIS-NN ``arm_nn_requantize`` of int32 values (int64 arrays; multiplier/shift broadcast), both builds
#: (module docstring); the one implementation lives in ``hwq.formats.requant`` (also used by the MCU tests)
dyadic_requantize = requantize


def reduce_multiplier(m) -> np.ndarray:
    """CMSIS-NN ``REDUCE_MULTIPLIER``: a Q31 multiplier rounded to the 16-bit one of the s16 kernels."""
    m = np.asarray(m, dtype=np.int64)
    return np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)


def dyadic_requantize_s64(x, multiplier, shift) -> np.ndarray:
    """CMSIS-NN ``arm_nn_requantize_s64`` of int64 values with the reduced ``multiplier`` (Q31 given).

    See the module docstring (mode ``dyadic_s64``). Returns int64 values in int32 range.
    """
    rm = reduce_multiplier(multiplier)
    s = np.asarray(shift, dtype=np.int64)
    xo = np.asarray(x).astype(object)
    prod = xo * rm.astype(object)
    prod = ((prod + (1 << 63)) % (1 << 64)) - (1 << 63)  # wrap64, as C int64
    sh = (14 - s).astype(object)
    r = wrap32(np.asarray(prod >> sh).astype(object))
    r = (wrap32(r + 1)) >> 1
    return np.asarray(r).astype(np.int64)


@register
@dataclass
class Requantize(Op):
    """Explicit format change: ``cast`` (fixed/minifloat) or CMSIS-NN ``dyadic`` (module docstring)."""

    kind = "requantize"
    mode: str = "cast"
    multiplier: np.ndarray = None  # dyadic: int64 (C,) or (1,), Q31
    shift: np.ndarray = None  # dyadic: int64 (C,) or (1,)
    single_rounding: bool = False
    out_offset: int = 0
    act_min: int | None = None
    act_max: int | None = None

    def params(self) -> dict[str, np.ndarray]:
        if self.mode in ("dyadic", "dyadic_s64"):
            return {"multiplier": self.multiplier, "shift": self.shift}
        return {}

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x, y = graph.tensor(self.inputs[0]), graph.tensor(self.output)
        if x.shape != y.shape:
            raise op_error(self, f"input {x.name!r} {x.shape} and output {y.name!r} {y.shape} shapes differ")
        if self.mode not in MODES:
            raise op_error(self, f"unknown mode {self.mode!r}; expected one of {', '.join(MODES)}")
        if self.mode == "cast":
            return
        c = x.shape[0] if x.shape else 1
        for what, arr in (("multiplier", self.multiplier), ("shift", self.shift)):
            if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iu" or arr.shape not in ((c,), (1,)):
                raise op_error(self, f"{what} must be an integer array of shape ({c},) or (1,)")
        if arr.size and (self.multiplier.min() < 0 or self.multiplier.max() > _I32_MAX):
            raise op_error(self, "multiplier must be a Q31 value in [0, 2**31 - 1]")
        smax = 14 if self.mode == "dyadic_s64" else 30
        if self.shift.min() < -31 or self.shift.max() > smax:
            raise op_error(self, f"shift must be in [-31, {smax}]")
        lo, hi = getattr(x.fmt, "raw_min", None), getattr(x.fmt, "raw_max", None)
        if self.mode == "dyadic_s64":
            if lo is None or lo < -(1 << 63) or hi > (1 << 63) - 1:
                raise op_error(self, f"dyadic_s64 mode needs int64 input raws; input format {x.fmt} is wider")
        elif lo is None or lo < _I32_MIN or hi > _I32_MAX:
            raise op_error(self, f"dyadic mode needs int32 input raws; input format {x.fmt} is wider")
        ylo, yhi = y.fmt.raw_min, y.fmt.raw_max
        amin = ylo if self.act_min is None else int(self.act_min)
        amax = yhi if self.act_max is None else int(self.act_max)
        if not ylo <= amin <= amax <= yhi:
            raise op_error(self, f"act_min/act_max [{amin}, {amax}] must lie within the output range [{ylo}, {yhi}]")
        if not isinstance(self.out_offset, (int, np.integer)) or not _I32_MIN <= self.out_offset <= _I32_MAX:
            raise op_error(self, f"out_offset must be an int32 integer, got {self.out_offset!r}")


def evaluate(op: Requantize, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, ...) -> y raw (B, ...) in the output format."""
    (x,) = args
    xf, yf = graph.tensor(op.inputs[0]).fmt, graph.tensor(op.output).fmt
    if op.mode == "cast":
        return yf.cast_raw(x, xf.frac_bits)
    bshape = (1, -1) + (1,) * (x.ndim - 2)
    m = np.asarray(op.multiplier).reshape(bshape)
    s = np.asarray(op.shift).reshape(bshape)
    if op.mode == "dyadic_s64":
        r = dyadic_requantize_s64(x, m, s) + int(op.out_offset)
    else:
        r = dyadic_requantize(x, m, s, bool(op.single_rounding)) + int(op.out_offset)
    amin = yf.raw_min if op.act_min is None else int(op.act_min)
    amax = yf.raw_max if op.act_max is None else int(op.act_max)
    y = np.clip(r, amin, amax).astype(np.int64)
    return y.astype(object) if getattr(yf, "width", 0) > 62 else y
