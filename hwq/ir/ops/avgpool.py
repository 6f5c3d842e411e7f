"""Average pooling over ``(C, L)`` or ``(C, H, W)`` windows: ordered sum in an accumulator, then a
fixed-point reciprocal (a pure shift when the window size is a power of two), then one cast.

x raw in the input format (F_x fractional bits); accumulator ``acc_fmt`` (fixed, F_acc); ``recip`` a
non-negative integer with ``recip_frac_bits`` R (use ``reciprocal(n)``: exactly ``(1, log2 n)`` for a
power-of-two window n, else an 18-bit round(2**R / n)). Zero padding counts towards the window
(``count_include_pad``): the divisor is always n = prod(kernel). For channel c, output position p::

    acc = cast_acc(0)
    for q in window(p), row-major (kh, kw):       # padded positions hold 0
        acc = cast_acc(acc + cast_acc(x[c, q]))
    y[c, p] = cast_out(acc * recip)                # product exact at F_acc + R fractional bits

So for a power-of-two window y = cast_out(acc * 2**-log2(n)): the shift is exact and the output
format's rounding is the only rounding after the accumulator.

``mode="cmsis"`` (CMSIS-NN ``arm_avgpool_s8`` / ``_s16``; ``acc_fmt``/``recip`` unused): raws are plain
integers (input and output usually the same affine ``int<8,...>`` format: averaging raws is exact affine
arithmetic); padded positions are left out of both the sum and the count; C int32 division truncating
toward zero::

    s   = sum(x[c, q] for q in window(p) inside the input);  n = number of such q
    avg = (s + n // 2) // n  if s > 0  else  -((-s + n // 2) // n)      # rounded half away from zero
    y[c, p] = clamp(avg, act_min, act_max)     # act_min/act_max default to the output raw range

Global average pooling in the CMSIS-NN profile is this op with the kernel covering the whole input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwq.formats import FixedFormat

from ..graph import Graph, Op, register
from ._pool import check_geometry, reciprocal, windows
from .common import cast_to, check_arity, check_format, exact_mul, mac, op_error

__all__ = ["AvgPool", "evaluate", "reciprocal", "window_mean"]


@register
@dataclass
class AvgPool(Op):
    """Average pooling: ordered window sum in ``acc_fmt``, times ``recip`` * 2**-recip_frac_bits, one cast."""

    kind = "avgpool"
    kernel: tuple[int, ...] = (2, 2)
    stride: tuple[int, ...] = (2, 2)
    padding: tuple[int, ...] = (0, 0, 0, 0)
    acc_fmt: FixedFormat = None
    recip: int = 1
    recip_frac_bits: int = 2
    mode: str = field(default="recip", metadata={"omit_default": True})  # "recip" or "cmsis"
    act_min: int | None = field(default=None, metadata={"omit_default": True})  # cmsis mode clamp
    act_max: int | None = field(default=None, metadata={"omit_default": True})

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x, y = graph.tensor(self.inputs[0]), graph.tensor(self.output)
        check_geometry(self, x.shape, y.shape, pad_must_be_smaller=True)
        if self.mode == "cmsis":
            from .add_dyadic import check_clamp, check_int32_raws

            check_int32_raws(self, graph)
            check_clamp(self, graph)
            return
        if self.mode != "recip":
            raise op_error(self, f"unknown mode {self.mode!r}; expected 'recip' or 'cmsis'")
        if self.act_min is not None or self.act_max is not None:
            raise op_error(self, "act_min/act_max apply to mode='cmsis' only")
        check_format(self, "acc_fmt", self.acc_fmt, fixed=True)
        check_recip(self)


def check_recip(op) -> None:
    """Raise naming the op unless ``recip`` is a non-negative integer and ``recip_frac_bits`` an integer."""
    if not isinstance(op.recip, (int, np.integer)) or op.recip < 0:
        raise op_error(op, f"recip must be a non-negative integer, got {op.recip!r}")
    if not isinstance(op.recip_frac_bits, (int, np.integer)):
        raise op_error(op, f"recip_frac_bits must be an integer, got {op.recip_frac_bits!r}")


def window_mean(w: np.ndarray, x_frac: int, acc_fmt: FixedFormat, recip: int, recip_frac: int, out_fmt):
    """Ordered window sums then reciprocal: w raw ``(B, C, P, K)`` -> output raws ``(B, C, P)``."""
    b, c, p, k = w.shape
    ones = np.ones((c, 1, k), dtype=np.int64)
    zeros = np.zeros((c, 1), dtype=np.int64)
    acc = mac(w, ones, x_frac, zeros, 0, acc_fmt)[:, :, 0, :]  # (B, C, P)
    return cast_to(exact_mul(acc, np.int64(recip)), acc_fmt.frac_bits + int(recip_frac), out_fmt)


def evaluate(op: AvgPool, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, C, *spatial) -> y raw (B, C, *out_spatial); see the module docstring."""
    (x,) = args
    if op.mode == "cmsis":
        return _cmsis_mean(op, x, graph)
    xf = graph.tensor(op.inputs[0]).fmt
    w = windows(x, op.kernel, op.stride, op.padding, 0)  # (B, C, *out, K)
    out_spatial = w.shape[2:-1]
    wf = w.reshape(w.shape[0], w.shape[1], int(np.prod(out_spatial)), w.shape[-1])
    y = window_mean(wf, xf.frac_bits, op.acc_fmt, op.recip, op.recip_frac_bits, graph.tensor(op.output).fmt)
    return y.reshape(y.shape[0], y.shape[1], *out_spatial)


def _cmsis_mean(op: AvgPool, x: np.ndarray, graph: Graph) -> np.ndarray:
    """``mode="cmsis"``: mean over the valid window elements, rounded half away from zero, clamped."""
    from .add_dyadic import check_clamp

    x = np.asarray(x).astype(np.int64)
    w = windows(x, op.kernel, op.stride, op.padding, 0)  # (B, C, *out, K), padding holds 0
    ones = np.ones((1, 1, *x.shape[2:]), dtype=np.int64)
    n = windows(ones, op.kernel, op.stride, op.padding, 0).sum(axis=-1)  # (1, 1, *out): valid count
    s = w.sum(axis=-1)
    half = n // 2
    avg = np.where(s > 0, (s + half) // n, -((-s + half) // n))
    amin, amax = check_clamp(op, graph)
    return np.clip(avg, amin, amax).astype(np.int64)
