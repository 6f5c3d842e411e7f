"""Global average pooling: ``(C, ...)`` to ``(C,)``, the mean of each channel's positions.

Arithmetic as ``avgpool`` with one window covering every position of the channel (row-major order)::

    acc = cast_acc(0)
    for q in positions of channel c, row-major:   acc = cast_acc(acc + cast_acc(x[c, q]))
    y[c] = cast_out(acc * recip)                  # exact product at F_acc + recip_frac_bits

``recip``/``recip_frac_bits`` from ``reciprocal(n)`` with n = positions per channel: a pure shift
when n is a power of two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.formats import FixedFormat

from ..graph import Graph, Op, register
from .avgpool import check_recip, window_mean
from .common import check_arity, check_format, op_error


@register
@dataclass
class GlobalAvgPool(Op):
    """Mean of every position of each channel: ordered sum in ``acc_fmt``, reciprocal, one cast."""

    kind = "global_avgpool"
    acc_fmt: FixedFormat = None
    recip: int = 1
    recip_frac_bits: int = 0

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x, y = graph.tensor(self.inputs[0]), graph.tensor(self.output)
        if len(x.shape) < 2:
            raise op_error(self, f"input {x.name!r} must be (C, ...) with spatial axes, got {x.shape}")
        if y.shape != (x.shape[0],):
            raise op_error(self, f"output {y.name!r} has shape {y.shape}, expected ({x.shape[0]},)")
        check_format(self, "acc_fmt", self.acc_fmt, fixed=True)
        check_recip(self)


def evaluate(op: GlobalAvgPool, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, C, ...) -> y raw (B, C)."""
    (x,) = args
    xf = graph.tensor(op.inputs[0]).fmt
    w = x.reshape(x.shape[0], x.shape[1], 1, int(np.prod(x.shape[2:])))  # (B, C, 1, n)
    y = window_mean(w, xf.frac_bits, op.acc_fmt, op.recip, op.recip_frac_bits, graph.tensor(op.output).fmt)
    return y[:, :, 0]
