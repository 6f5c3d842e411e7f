"""Element-wise addition of two tensors, ap_fixed style: exact full-precision sum, then one cast.

Operands: a raw in format A (F_a fractional bits), b raw in format B (F_b), same shape (any layout).
With F = max(F_a, F_b)::

    y = cast_out(a * 2**(F - F_a) + b * 2**(F - F_b))      # sum exact at F fractional bits

The cast uses the output format's rounding and overflow. The formats of a and b may differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .common import as_ints, cast_to, check_elementwise_shapes, max_abs, shift_left


@register
@dataclass
class Add(Op):
    """Element-wise a + b, exact then one cast to the output format (see the module docstring)."""

    kind = "add"

    def check(self, graph: Graph) -> None:
        check_elementwise_shapes(self, graph)


def aligned(a: np.ndarray, fa: int, b: np.ndarray, fb: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``a`` and ``b`` shifted to their common frac bits F = max(fa, fb); returns (a', b', F)."""
    f = max(fa, fb)
    a2, b2 = shift_left(a, f - fa), shift_left(b, f - fb)
    bits = max(max_abs(a2).bit_length(), max_abs(b2).bit_length()) + 1
    return as_ints(a2, bits), as_ints(b2, bits), f


def evaluate(op: Add, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """a raw (B, ...), b raw (B, ...) -> y raw (B, ...) in the output format."""
    a, b = args
    fa, fb = (graph.tensor(n).fmt.frac_bits for n in op.inputs)
    a2, b2, f = aligned(a, fa, b, fb)
    return cast_to(a2 + b2, f, graph.tensor(op.output).fmt)
