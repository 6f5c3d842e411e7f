"""Clip (covers ReLU6 and hard bounds): clamp to raw bounds of the input format, then cast.

x raw in the input format (F_x fractional bits), any shape. ``lo`` / ``hi``: bounds as raws of the input
format (Python ints; ``None`` = unbounded on that side), ``lo <= hi``::

    y = cast_out(min(max(x, lo), hi))

ReLU6 on ``fixed<W,I>`` input: ``lo = 0``, ``hi = 6 * 2**F_x``. The comparison is exact; the cast uses
the output format's rounding and overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .common import cast_to, check_arity, op_error


@register
@dataclass
class Clip(Op):
    """Clamp to raw bounds ``lo``/``hi`` of the input format, then cast (ReLU6: lo=0, hi=6*2**F_x)."""

    kind = "clip"
    lo: int | None = None  # raw bound in the input format's LSB units
    hi: int | None = None

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x, y = graph.tensor(self.inputs[0]), graph.tensor(self.output)
        if x.shape != y.shape:
            raise op_error(self, f"input {x.name!r} {x.shape} and output {y.name!r} {y.shape} shapes differ")
        for what, v in (("lo", self.lo), ("hi", self.hi)):
            if v is not None and not isinstance(v, (int, np.integer)):
                raise op_error(self, f"{what} must be an integer raw bound or None, got {v!r}")
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise op_error(self, f"lo={self.lo} is above hi={self.hi}")


def evaluate(op: Clip, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, ...) -> y raw (B, ...) in the output format."""
    (x,) = args
    xf = graph.tensor(op.inputs[0]).fmt
    rmin, rmax = getattr(xf, "raw_min", None), getattr(xf, "raw_max", None)
    y = x
    if op.lo is not None and (rmin is None or int(op.lo) > rmin):  # a bound outside the format is a no-op
        y = np.where(y < int(op.lo), int(op.lo), y).astype(x.dtype)
    if op.hi is not None and (rmax is None or int(op.hi) < rmax):
        y = np.where(y > int(op.hi), int(op.hi), y).astype(x.dtype)
    return cast_to(y, xf.frac_bits, graph.tensor(op.output).fmt)
