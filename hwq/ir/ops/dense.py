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
so it is evaluated as one integer matrix product; so is a saturating accumulator that provably cannot
overflow for the actual inputs; otherwise the accumulation is evaluated step by step in this order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.formats import FixedFormat

from ..graph import Graph, GraphError, Op, register
from .common import cast_to, check_format, check_int_param, mac


@register
@dataclass
class Dense(Op):
    """Fully connected layer, hls4ml accumulation order; formula in the module docstring."""

    kind = "dense"
    weight: np.ndarray = None  # int64 (M, N), units of weight_fmt's LSB
    bias: np.ndarray = None  # int64 (M,), units of bias_fmt's LSB
    weight_fmt: object = None
    bias_fmt: object = None
    acc_fmt: FixedFormat = None

    def params(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "bias": self.bias}

    def check(self, graph: Graph) -> None:
        if len(self.inputs) != 1:
            raise GraphError(f"op {self.name!r} (dense): takes 1 input, got {len(self.inputs)}")
        x = graph.tensor(self.inputs[0])
        y = graph.tensor(self.output)
        if self.weight is None or self.weight.ndim != 2:
            raise GraphError(f"op {self.name!r} (dense): weight must be a 2-D integer array (out, in)")
        m, n = self.weight.shape
        if x.shape != (n,):
            raise GraphError(f"op {self.name!r} (dense): input {x.name!r} has shape {x.shape}, weight expects ({n},)")
        if y.shape != (m,):
            raise GraphError(f"op {self.name!r} (dense): output {y.name!r} has shape {y.shape}, weight gives ({m},)")
        if self.bias is None or self.bias.shape != (m,):
            raise GraphError(f"op {self.name!r} (dense): bias must have shape ({m},)")
        check_int_param(self, "weight", self.weight, self.weight_fmt)
        check_int_param(self, "bias", self.bias, self.bias_fmt, (m,))
        check_format(self, "acc_fmt", self.acc_fmt, fixed=True)


def evaluate(op: Dense, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, N) -> y raw (B, M); see the module docstring for the arithmetic."""
    (x,) = args
    xf = graph.tensor(op.inputs[0]).fmt
    # one group, one position: cols (B, 1, 1, N), weight (1, M, N) -> acc (B, 1, M, 1)
    prod_frac = xf.frac_bits + op.weight_fmt.frac_bits
    acc = mac(x[:, None, None, :], op.weight[None], prod_frac, op.bias[None], op.bias_fmt.frac_bits, op.acc_fmt)
    acc = acc.reshape(x.shape[0], op.weight.shape[0])
    return cast_to(acc, op.acc_fmt.frac_bits, graph.tensor(op.output).fmt)
