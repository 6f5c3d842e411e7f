"""Element-wise multiplication of two tensors, ap_fixed style: exact full-precision product, one cast.

Operands: a raw in format A (F_a fractional bits), b raw in format B (F_b), same shape (any layout)::

    y = cast_out(a * b)                                     # product exact at F_a + F_b fractional bits

The cast uses the output format's rounding and overflow. The formats of a and b may differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .common import cast_to, check_elementwise_shapes, exact_mul


@register
@dataclass
class Multiply(Op):
    """Element-wise a * b, exact then one cast to the output format (see the module docstring)."""

    kind = "mul"

    def check(self, graph: Graph) -> None:
        check_elementwise_shapes(self, graph)


def evaluate(op: Multiply, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """a raw (B, ...), b raw (B, ...) -> y raw (B, ...) in the output format."""
    a, b = args
    fa, fb = (graph.tensor(n).fmt.frac_bits for n in op.inputs)
    return cast_to(exact_mul(a, b), fa + fb, graph.tensor(op.output).fmt)
