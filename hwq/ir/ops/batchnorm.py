"""BatchNorm as a per-channel integer scale and shift (inference form), one rounding at the end.

Operands: x raw in the input format (F_x fractional bits), any shape ``(C, ...)``; channel c is the
first non-batch axis (for a 1-D tensor every element is its own channel). ``scale`` raw ``(C,)`` in
``scale_fmt`` (F_s); ``bias`` raw ``(C,)`` in ``bias_fmt`` (F_b). With F = max(F_x + F_s, F_b)::

    y[c, ...] = cast_out(x[c, ...] * scale[c] * 2**(F - F_x - F_s) + bias[c] * 2**(F - F_b))

The product and the sum are exact (full precision, as ap_fixed computes ``x*scale + bias``); the only
rounding and overflow are the output format's, applied once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .add import aligned
from .common import cast_to, check_arity, check_int_param, exact_mul, op_error


@register
@dataclass
class BatchNorm(Op):
    """Per-channel ``x * scale[c] + bias[c]``, exact then one cast (see the module docstring)."""

    kind = "batchnorm"
    scale: np.ndarray = None  # int64 (C,), units of scale_fmt's LSB
    bias: np.ndarray = None  # int64 (C,), units of bias_fmt's LSB
    scale_fmt: object = None
    bias_fmt: object = None

    def params(self) -> dict[str, np.ndarray]:
        return {"scale": self.scale, "bias": self.bias}

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x, y = graph.tensor(self.inputs[0]), graph.tensor(self.output)
        if x.shape != y.shape:
            raise op_error(self, f"input {x.name!r} {x.shape} and output {y.name!r} {y.shape} shapes differ")
        if not x.shape:
            raise op_error(self, "needs a tensor with a channel axis")
        c = x.shape[0]
        check_int_param(self, "scale", self.scale, self.scale_fmt, (c,))
        check_int_param(self, "bias", self.bias, self.bias_fmt, (c,))


def evaluate(op: BatchNorm, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, C, ...) -> y raw (B, C, ...) in the output format."""
    (x,) = args
    xf = graph.tensor(op.inputs[0]).fmt
    bshape = (1, -1) + (1,) * (x.ndim - 2)  # broadcast over (B, C, ...)
    prod = exact_mul(x, np.asarray(op.scale).reshape(bshape))
    bias = np.asarray(op.bias).reshape(bshape)
    p, b, f = aligned(prod, xf.frac_bits + op.scale_fmt.frac_bits, bias, op.bias_fmt.frac_bits)
    return cast_to(p + b, f, graph.tensor(op.output).fmt)
