"""Reshape to the output tensor's shape, keeping row-major (C-order) element order; raws unchanged.

Pure layout: sizes must match and the output format must equal the input format
(``y.flat[i] = x.flat[i]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .common import check_arity, op_error


@register
@dataclass
class Reshape(Op):
    """Row-major reshape to the output tensor's shape; pure layout, formats must match."""

    kind = "reshape"

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x, y = graph.tensor(self.inputs[0]), graph.tensor(self.output)
        if x.size != y.size:
            raise op_error(self, f"cannot reshape {x.name!r} {x.shape} ({x.size} values) to {y.shape} ({y.size})")
        if x.fmt != y.fmt:
            raise op_error(self, f"is a pure layout op: output format {y.fmt} must equal input format {x.fmt}")


def evaluate(op: Reshape, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, ...) -> y raw (B, *out_shape), raws unchanged."""
    (x,) = args
    return x.reshape((x.shape[0], *graph.tensor(op.output).shape))
