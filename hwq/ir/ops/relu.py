"""ReLU: ``y = cast_out(x > 0 ? x : 0)``, as hls4ml computes it.

x raw in the input format (F_x fractional bits); the comparison is on the exact value; the cast to
the output format uses the output format's rounding and overflow modes. Any shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, GraphError, Op, register
from .common import cast_to


@register
@dataclass
class ReLU(Op):
    """``cast_out(x > 0 ? x : 0)``."""

    kind = "relu"

    def check(self, graph: Graph) -> None:
        if len(self.inputs) != 1:
            raise GraphError(f"op {self.name!r} (relu): takes 1 input, got {len(self.inputs)}")
        if graph.tensor(self.inputs[0]).shape != graph.tensor(self.output).shape:
            raise GraphError(f"op {self.name!r} (relu): input and output shapes differ")


def evaluate(op: ReLU, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, ...) -> y raw (B, ...) in the output format."""
    (x,) = args
    xf = graph.tensor(op.inputs[0]).fmt
    y = np.where(x > 0, x, 0).astype(x.dtype)
    return cast_to(y, xf.frac_bits, graph.tensor(op.output).fmt)
