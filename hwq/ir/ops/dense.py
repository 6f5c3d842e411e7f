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

``input_offset`` (default 0; CMSIS-NN's ``input_offset = -zero_point_in``) is added to every input raw
before its product: ``p = cast_acc((x[i] + input_offset) * weight[j, i])``, i.e. CMSIS-NN's
``acc = bias + sum_i w[j, i] * (x[i] + input_offset)`` (``arm_fully_connected_s8`` / ``_s16`` / ``_s4``).

Affine formats (``int<W,...>``, e.g. the CMSIS-NN profile's ``int<8,scale=s,zp=z>`` activations,
``int<8,narrow,axis=0,scale=[...]>`` per-channel weights and ``int<32>`` biases) are read through
``common.raw_frac_bits``: their raws are plain integers (F = 0) unless the scale is a power of two with
zero point 0; the real scales live in the following dyadic ``requantize``. int4 weights need no IR
change: ``weight_fmt = int<4,narrow,...>`` (raws in [-7, 7]); packing two per byte for CMSIS-NN's
``_s4`` kernels is the MCU emitter's business. int16 activations: an ``int<16,...>`` input, int8
weights, an int64 bias/accumulator (``fixed<64,64>``) and ``requantize(mode="dyadic_s64")``.

With a WRAP accumulator the per-step wrap equals one wrap of the exact sum (arithmetic mod 2**W),
so it is evaluated as one integer matrix product; so is a saturating accumulator that provably cannot
overflow for the actual inputs; otherwise the accumulation is evaluated step by step in this order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwq.formats import FixedFormat

from ..graph import Graph, GraphError, Op, register
from .common import add_offset, cast_to, check_format, check_int_param, check_offset, mac, raw_frac_bits


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
    input_offset: int = field(default=0, metadata={"omit_default": True})  # added to every input raw

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
        check_int_param(self, "weight", self.weight, self.weight_fmt, affine=True)
        check_int_param(self, "bias", self.bias, self.bias_fmt, (m,), affine=True)
        check_format(self, "acc_fmt", self.acc_fmt, fixed=True)
        check_offset(self, "input_offset", self.input_offset)


def evaluate(op: Dense, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, N) -> y raw (B, M); see the module docstring for the arithmetic."""
    (x,) = args
    xf = graph.tensor(op.inputs[0]).fmt
    x = add_offset(x, int(op.input_offset))
    # one group, one position: cols (B, 1, 1, N), weight (1, M, N) -> acc (B, 1, M, 1)
    prod_frac = raw_frac_bits(xf) + raw_frac_bits(op.weight_fmt)
    bias_frac = raw_frac_bits(op.bias_fmt)
    acc = mac(x[:, None, None, :], op.weight[None], prod_frac, op.bias[None], bias_frac, op.acc_fmt)
    acc = acc.reshape(x.shape[0], op.weight.shape[0])
    return cast_to(acc, op.acc_fmt.frac_bits, graph.tensor(op.output).fmt)
