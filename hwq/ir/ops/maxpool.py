"""Max pooling over ``(C, L)`` or ``(C, H, W)`` windows; padded positions are never selected.

x raw in the input format (F_x fractional bits). ``kernel``, ``stride``: one int per spatial axis;
``padding``: (lo, hi) per spatial axis, each smaller than the kernel so that every window holds at
least one real element. For channel c and output position p::

    y[c, p] = cast_out(max(x[c, q] for q in window(p) inside the input))

The maximum is exact (comparison of raws); the cast uses the output format's rounding and overflow.
Affine integer formats (CMSIS-NN ``arm_max_pool_s8``): input and output must have the same format and
the raws are copied (no cast). The CMSIS-NN kernel's act_min/act_max clamp is the identity here (its
input is already clamped by the producing requantize): an MCU emitter passes the output raw range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from ._pool import check_geometry, window_max
from .common import cast_to, check_arity, is_affine, op_error


@register
@dataclass
class MaxPool(Op):
    """Max pooling; padded positions never win (formula in the module docstring)."""

    kind = "maxpool"
    kernel: tuple[int, ...] = (2, 2)
    stride: tuple[int, ...] = (2, 2)
    padding: tuple[int, ...] = (0, 0, 0, 0)

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x, y = graph.tensor(self.inputs[0]), graph.tensor(self.output)
        check_geometry(self, x.shape, y.shape, pad_must_be_smaller=True)
        if (is_affine(x.fmt) or is_affine(y.fmt)) and str(x.fmt) != str(y.fmt):
            raise op_error(self, f"affine formats need the same input and output format, got {x.fmt} and {y.fmt}")


def evaluate(op: MaxPool, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, C, *spatial) -> y raw (B, C, *out_spatial)."""
    (x,) = args
    xf = graph.tensor(op.inputs[0]).fmt
    if x.dtype == object:
        pad = (int(x.min()) - 1) if x.size else 0
    else:
        pad = np.iinfo(np.int64).min
    y = window_max(x, tuple(op.kernel), tuple(op.stride), tuple(op.padding), pad)
    if is_affine(xf):
        return y
    return cast_to(y, xf.frac_bits, graph.tensor(op.output).fmt)
