"""Dense (fully connected) layer, with hls4ml's exact accumulation order.

Operands: x raw ``(N,)`` in the input tensor's format (F_x fractional bits); ``weight`` raw
``(M, N)`` in ``weight_fmt`` (F_w); ``bias`` raw ``(M,)`` in ``bias_fmt``; accumulator ``acc_fmt``
(a FixedFormat); result in the output tensor's format.

For each output j::

    acc = cast_acc(bias[j])                         # bias_fmt -> acc_fmt
    for i in 0 .. N-1:                              # in this order
        p   = cast_acc(x[i] * weight[j, i])         # exact product at F_x + F_w bits, then acc modes
        acc = cast_acc(acc + p)                     # exact sum, then acc_fmt's overflow mode
    y[j] = cast_out(acc)                            # acc_fmt -> output format (its rounding, overflow)

With a WRAP accumulator the per-step wrap equals one wrap of the exact sum (arithmetic mod 2**W),
so it is evaluated vectorised; SAT-like accumulators are evaluated step by step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.formats import FixedFormat

from ..graph import Graph, GraphError, Op, register
from .common import accumulate_products, cast_to


@register
@dataclass
class Dense(Op):
    kind = "dense"
    weight: np.ndarray = None  # int64 (M, N), units of weight_fmt's LSB
    bias: np.ndarray = None  # int64 (M,), units of bias_fmt's LSB
    weight_fmt: object = None
    bias_fmt: object = None
    acc_fmt: FixedFormat = None

    def params(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "bias": self.bias}

    def check(self, graph: Graph) -> None:
        x = graph.tensor(self.inputs[0])
        y = graph.tensor(self.output)
        if len(self.inputs) != 1:
            raise GraphError(f"op {self.name!r} (dense): takes 1 input, got {len(self.inputs)}")
        if self.weight is None or self.weight.ndim != 2:
            raise GraphError(f"op {self.name!r} (dense): weight must be a 2-D integer array (out, in)")
        m, n = self.weight.shape
        if x.shape != (n,):
            raise GraphError(f"op {self.name!r} (dense): input {x.name!r} has shape {x.shape}, weight expects ({n},)")
        if y.shape != (m,):
            raise GraphError(f"op {self.name!r} (dense): output {y.name!r} has shape {y.shape}, weight gives ({m},)")
        if self.bias is None or self.bias.shape != (m,):
            raise GraphError(f"op {self.name!r} (dense): bias must have shape ({m},)")
        if not isinstance(self.acc_fmt, FixedFormat):
            raise GraphError(f"op {self.name!r} (dense): acc_fmt must be a fixed format, got {self.acc_fmt}")


def evaluate(op: Dense, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, N) -> y raw (B, M); see the module docstring for the arithmetic."""
    (x,) = args
    xf = graph.tensor(op.inputs[0]).fmt
    # products laid out as (B, M, N): output j, term i
    prod_frac = xf.frac_bits + op.weight_fmt.frac_bits
    acc = accumulate_products(
        x[:, None, :],
        op.weight[None, :, :],
        prod_frac,
        op.bias[None, :],
        op.bias_fmt.frac_bits,
        op.acc_fmt,
    )
    return cast_to(acc, op.acc_fmt.frac_bits, graph.tensor(op.output).fmt)
