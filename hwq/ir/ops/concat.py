"""Concatenation along one non-batch axis; each input is cast to the output format first.

Inputs x_0 .. x_{n-1} (formats may differ) with equal shapes except along ``axis`` (0 = the first
non-batch axis, e.g. channels of ``(C, H, W)``)::

    y = concatenate([cast_out(x_0), ..., cast_out(x_{n-1})], axis)

Each cast uses the output format's rounding and overflow (as hls4ml's concatenate casts to res_T).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .common import cast_to, check_arity, op_error


@register
@dataclass
class Concat(Op):
    """Concatenation along non-batch ``axis`` of inputs cast to the output format."""

    kind = "concat"
    axis: int = 0

    def check(self, graph: Graph) -> None:
        check_arity(self, None)
        xs = [graph.tensor(n) for n in self.inputs]
        y = graph.tensor(self.output)
        rank = len(y.shape)
        if not isinstance(self.axis, (int, np.integer)) or not 0 <= self.axis < rank:
            raise op_error(self, f"axis must be in 0..{rank - 1} (non-batch axes), got {self.axis!r}")
        for t in xs:
            if len(t.shape) != rank or any(t.shape[a] != y.shape[a] for a in range(rank) if a != self.axis):
                raise op_error(self, f"input {t.name!r} {t.shape} does not fit output {y.shape} along axis {self.axis}")
        if sum(t.shape[self.axis] for t in xs) != y.shape[self.axis]:
            raise op_error(self, f"input sizes along axis {self.axis} do not add up to the output's {y.shape}")


def evaluate(op: Concat, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """raws (B, ...) of each input -> y raw (B, ...) in the output format."""
    yf = graph.tensor(op.output).fmt
    parts = [cast_to(a, graph.tensor(n).fmt.frac_bits, yf) for a, n in zip(args, op.inputs)]
    if any(p.dtype == object for p in parts):
        parts = [p.astype(object) for p in parts]
    return np.concatenate(parts, axis=int(op.axis) + 1)
