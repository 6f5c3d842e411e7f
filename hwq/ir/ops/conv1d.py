"""1-D convolution (stride, zero padding, dilation, groups incl. depthwise), hls4ml accumulation order.

Operands: x raw ``(Cin, L)`` in the input tensor's format (F_x fractional bits); ``weight`` raw
``(Cout, Cin/groups, K)`` in ``weight_fmt`` (F_w); ``bias`` raw ``(Cout,)`` in ``bias_fmt``; accumulator
``acc_fmt`` (a fixed format); result raw ``(Cout, Lo)`` in the output format, with
``Lo = (L + pad_left + pad_right - dilation*(K-1) - 1) // stride + 1``.

``padding = (left, right)``; padded positions hold 0. For output channel o in group g and position i::

    acc = cast_acc(bias[o])
    for c in 0 .. Cin/groups-1, k in 0 .. K-1:                          # row-major (c, k)
        xv  = x[g*Cin/groups + c, i*stride + k*dilation - left]
        acc = cast_acc(acc + cast_acc(xv * weight[o, c, k]))           # products exact at F_x + F_w bits
    y[o, i] = cast_out(acc)

Casts use the target format's rounding and overflow (WRAP: mod 2**W at every partial sum; SAT: in this
order). Evaluated as a 2-D convolution of height 1.

``input_offset`` (default 0; CMSIS-NN's ``input_offset = -zero_point_in``): every real input position
contributes ``(xv + input_offset) * weight``; padded positions contribute 0. Affine formats, int4 weights
and int16 activations: as in ``dense`` (module docstring there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwq.formats import FixedFormat

from ..graph import Graph, Op, register
from ._conv import conv2d_raw, out_size
from .common import (
    add_offset,
    cast_to,
    check_arity,
    check_format,
    check_int_param,
    check_offset,
    int_tuple,
    op_error,
    raw_frac_bits,
)


@register
@dataclass
class Conv1d(Op):
    """1-D convolution, hls4ml accumulation order; formula in the module docstring."""

    kind = "conv1d"
    weight: np.ndarray = None  # int64 (Cout, Cin/groups, K), units of weight_fmt's LSB
    bias: np.ndarray = None  # int64 (Cout,), units of bias_fmt's LSB
    weight_fmt: object = None
    bias_fmt: object = None
    acc_fmt: FixedFormat = None
    stride: int = 1
    padding: tuple[int, int] = (0, 0)  # left, right
    dilation: int = 1
    groups: int = 1
    input_offset: int = field(default=0, metadata={"omit_default": True})  # added to real input raws

    def params(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "bias": self.bias}

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x = graph.tensor(self.inputs[0])
        y = graph.tensor(self.output)
        if not isinstance(self.weight, np.ndarray) or self.weight.ndim != 3:
            raise op_error(self, "weight must be a 3-D integer array (Cout, Cin/groups, K)")
        cout, cg, k = self.weight.shape
        (stride,) = int_tuple(self, "stride", (self.stride,), 1, 1)
        (dilation,) = int_tuple(self, "dilation", (self.dilation,), 1, 1)
        padding = int_tuple(self, "padding (left, right)", self.padding, 2, 0)
        if not isinstance(self.groups, (int, np.integer)) or self.groups < 1:
            raise op_error(self, f"groups must be a positive integer, got {self.groups!r}")
        if len(x.shape) != 2:
            raise op_error(self, f"input {x.name!r} must be (C, L), got shape {x.shape}")
        cin, n = x.shape
        if cin % self.groups or cout % self.groups:
            raise op_error(self, f"groups={self.groups} must divide Cin={cin} and Cout={cout}")
        if cg != cin // self.groups:
            raise op_error(self, f"weight has {cg} input channels per group, input gives {cin // self.groups}")
        lo = out_size(n, k, stride, padding[0], padding[1], dilation)
        if lo < 1:
            raise op_error(self, f"kernel {k} does not fit the padded input length {n}")
        if y.shape != (cout, lo):
            raise op_error(self, f"output {y.name!r} has shape {y.shape}, expected {(cout, lo)}")
        check_int_param(self, "weight", self.weight, self.weight_fmt, affine=True)
        check_int_param(self, "bias", self.bias, self.bias_fmt, (cout,), affine=True)
        check_format(self, "acc_fmt", self.acc_fmt, fixed=True)
        check_offset(self, "input_offset", self.input_offset)


def evaluate(op: Conv1d, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, Cin, L) -> y raw (B, Cout, Lo); see the module docstring for the arithmetic."""
    (x,) = args
    xf = graph.tensor(op.inputs[0]).fmt
    x = add_offset(x, int(op.input_offset))  # before padding: padded positions still hold 0
    cout, cg, k = op.weight.shape
    acc = conv2d_raw(
        x[:, :, None, :],
        op.weight.reshape(cout, cg, 1, k),
        op.bias,
        raw_frac_bits(xf),
        raw_frac_bits(op.weight_fmt),
        raw_frac_bits(op.bias_fmt),
        op.acc_fmt,
        (1, int(op.stride)),
        (0, 0, int(op.padding[0]), int(op.padding[1])),
        (1, int(op.dilation)),
        int(op.groups),
    )
    return cast_to(acc[:, :, 0, :], op.acc_fmt.frac_bits, graph.tensor(op.output).fmt)
