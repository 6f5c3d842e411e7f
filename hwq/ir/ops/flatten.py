"""Flatten: ``(C, ...)`` to ``(C*...,)`` in row-major (C-order) element order; raws unchanged.

Pure layout: the output format must equal the input format (``y.flat[i] = x.flat[i]``), so no
arithmetic happens and emitters may alias the buffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .common import check_arity, op_error


@register
@dataclass
class Flatten(Op):
    """Row-major flatten of ``(C, ...)`` to ``(C*...,)``; pure layout, formats must match."""

    kind = "flatten"

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x, y = graph.tensor(self.inputs[0]), graph.tensor(self.output)
        if y.shape != (x.size,):
            raise op_error(self, f"output {y.name!r} has shape {y.shape}, expected ({x.size},)")
        if x.fmt != y.fmt:
            raise op_error(self, f"is a pure layout op: output format {y.fmt} must equal input format {x.fmt}")


def evaluate(op: Flatten, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, C, ...) -> y raw (B, C*...), raws unchanged."""
    (x,) = args
    return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))
