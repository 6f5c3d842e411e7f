"""2-D convolution (stride, zero padding, dilation, groups incl. depthwise), hls4ml accumulation order.

Operands: x raw ``(Cin, H, W)`` in the input tensor's format (F_x fractional bits); ``weight`` raw
``(Cout, Cin/groups, kH, kW)`` in ``weight_fmt`` (F_w); ``bias`` raw ``(Cout,)`` in ``bias_fmt``;
accumulator ``acc_fmt`` (a fixed format); result raw ``(Cout, Ho, Wo)`` in the output format, with
``Ho = (H + pad_top + pad_bottom - dilation[0]*(kH-1) - 1) // stride[0] + 1`` (likewise Wo).

``padding = (top, bottom, left, right)``; padded positions hold 0 and contribute 0 (their products are
0). For output channel o in group g = o // (Cout/groups) and position (i, j)::

    acc = cast_acc(bias[o])
    for c in 0 .. Cin/groups-1, kh in 0 .. kH-1, kw in 0 .. kW-1:       # row-major (c, kh, kw)
        xv  = x[g*Cin/groups + c, i*stride[0] + kh*dilation[0] - top, j*stride[1] + kw*dilation[1] - left]
        acc = cast_acc(acc + cast_acc(xv * weight[o, c, kh, kw]))      # products exact at F_x + F_w bits
    y[o, i, j] = cast_out(acc)

Each cast uses the target format's rounding and overflow, so a narrow WRAP accumulator wraps at every
partial sum (mod 2**W, evaluated as one exact sum) and a SAT accumulator saturates in this order.
Depthwise: ``groups == Cin`` and weight ``(Cin*mult, 1, kH, kW)``.

``input_offset`` (default 0; CMSIS-NN's ``input_offset = -zero_point_in``): every real input position
contributes ``(xv + input_offset) * weight``; padded positions contribute 0 (as ``arm_convolve_s8`` /
``arm_depthwise_conv_s8``: ``acc = bias + sum w * (x + input_offset)`` over the valid taps only).
Affine formats, int4 weights and int16 activations: as in ``dense`` (module docstring there).
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
class Conv2d(Op):
    """2-D convolution, hls4ml accumulation order; formula in the module docstring."""

    kind = "conv2d"
    weight: np.ndarray = None  # int64 (Cout, Cin/groups, kH, kW), units of weight_fmt's LSB
    bias: np.ndarray = None  # int64 (Cout,), units of bias_fmt's LSB
    weight_fmt: object = None
    bias_fmt: object = None
    acc_fmt: FixedFormat = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, bottom, left, right
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    input_offset: int = field(default=0, metadata={"omit_default": True})  # added to real input raws

    def params(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "bias": self.bias}

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x = graph.tensor(self.inputs[0])
        y = graph.tensor(self.output)
        if not isinstance(self.weight, np.ndarray) or self.weight.ndim != 4:
            raise op_error(self, "weight must be a 4-D integer array (Cout, Cin/groups, kH, kW)")
        cout, cg, kh, kw = self.weight.shape
        stride = int_tuple(self, "stride", self.stride, 2, 1)
        padding = int_tuple(self, "padding (top, bottom, left, right)", self.padding, 4, 0)
        dilation = int_tuple(self, "dilation", self.dilation, 2, 1)
        if not isinstance(self.groups, (int, np.integer)) or self.groups < 1:
            raise op_error(self, f"groups must be a positive integer, got {self.groups!r}")
        if len(x.shape) != 3:
            raise op_error(self, f"input {x.name!r} must be (C, H, W), got shape {x.shape}")
        cin, h, w = x.shape
        if cin % self.groups or cout % self.groups:
            raise op_error(self, f"groups={self.groups} must divide Cin={cin} and Cout={cout}")
        if cg != cin // self.groups:
            raise op_error(self, f"weight has {cg} input channels per group, input gives {cin // self.groups}")
        ho = out_size(h, kh, stride[0], padding[0], padding[1], dilation[0])
        wo = out_size(w, kw, stride[1], padding[2], padding[3], dilation[1])
        if ho < 1 or wo < 1:
            raise op_error(self, f"kernel {kh}x{kw} does not fit the padded input {h}x{w}")
        if y.shape != (cout, ho, wo):
            raise op_error(self, f"output {y.name!r} has shape {y.shape}, expected {(cout, ho, wo)}")
        check_int_param(self, "weight", self.weight, self.weight_fmt, affine=True)
        check_int_param(self, "bias", self.bias, self.bias_fmt, (cout,), affine=True)
        check_format(self, "acc_fmt", self.acc_fmt, fixed=True)
        check_offset(self, "input_offset", self.input_offset)


def evaluate(op: Conv2d, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, Cin, H, W) -> y raw (B, Cout, Ho, Wo); see the module docstring for the arithmetic."""
    (x,) = args
    xf = graph.tensor(op.inputs[0]).fmt
    x = add_offset(x, int(op.input_offset))  # before padding: padded positions still hold 0
    acc = conv2d_raw(
        x,
        op.weight,
        op.bias,
        raw_frac_bits(xf),
        raw_frac_bits(op.weight_fmt),
        raw_frac_bits(op.bias_fmt),
        op.acc_fmt,
        tuple(op.stride),
        tuple(op.padding),
        tuple(op.dilation),
        int(op.groups),
    )
    return cast_to(acc, op.acc_fmt.frac_bits, graph.tensor(op.output).fmt)
