"""Drop-in quantised layers whose forward pass computes exactly the IR arithmetic.

Every tensor the hardware stores passes through a quantiser: weights, biases, the result of every
layer, element-wise paths (residual adds, BatchNorm scale/shift). A quantiser's output tensor is
tagged with its format (``hwq_fmt``); a layer reading a tagged input knows the exact width of its
sum and computes it in float32 when every partial sum fits float32's 24-bit mantissa, in float64
(53 bits) otherwise. So the emulator is exact in training and in eval, and equals ``hwq.ir.run``.

Dense / Conv (hls4ml order, lossless accumulator ``lossless_acc``):
    acc = bias + sum_i x[i] * w[i]       every product and partial sum exact (acc holds them)
    y   = cast_out(acc)                  the output quantiser (its rounding and overflow)
BatchNorm after a conv is folded into it (``QConv2d(..., bn=True)``): training uses batch statistics
(Jacob et al. 2018) and quantises the folded weight and bias, eval uses the running statistics.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hwq.formats import FixedFormat

from .quantizers import Quantizer

FMT_ATTR = "hwq_fmt"


def tag(t: torch.Tensor, fmt) -> torch.Tensor:
    """Attach a format to a tensor (the values must be on its grid)."""
    if isinstance(t, torch.Tensor):
        setattr(t, FMT_ATTR, fmt)
    return t


def fmt_of(t) -> FixedFormat | None:
    """The format a quantiser attached to ``t``, or None."""
    return getattr(t, FMT_ATTR, None)


def _signed_int_bits(f) -> int:
    """Integer bits of the smallest signed format holding every value of ``f`` (any format kind)."""
    if not isinstance(f, FixedFormat):
        from hwq.formats import as_fixed

        f = as_fixed(f)
    return f.int_bits if f.signed else f.int_bits + 1


def lossless_acc(x_fmt, w_fmt, b_fmt, n_terms: int) -> FixedFormat:
    """The accumulator ``fixed<W,I>`` (WRAP, never wraps) that holds the bias, every product and every
    partial sum of ``n_terms`` products exactly: F = max(F_x + F_w, F_b),
    I = max(I_x + I_w + ceil(log2 n), I_b) + 1 (signed integer bits)."""
    frac = x_fmt.frac_bits + w_fmt.frac_bits
    top = _signed_int_bits(x_fmt) + _signed_int_bits(w_fmt) - 1 + max(math.ceil(math.log2(max(n_terms, 1))), 0)
    if b_fmt is not None:
        frac = max(frac, b_fmt.frac_bits)
        top = max(top, _signed_int_bits(b_fmt))
    top += 1
    return FixedFormat(top + frac, top, True, "TRN", "WRAP")


def _sum_dtype(x: torch.Tensor, bits: int | None) -> torch.dtype:
    if bits is not None and bits <= 24 and x.dtype == torch.float32:
        return torch.float32
    if bits is not None and bits > 53:
        raise ValueError(f"a {bits}-bit accumulator cannot be emulated exactly in float64 (limit 53 bits)")
    return torch.float64


def _out(q: Quantizer, y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Apply the output quantiser and return to ``like``'s dtype where that is exact."""
    out = q(y)
    f = q.fmt()
    if like.dtype == torch.float32 and out.dtype != torch.float32 and f.width <= 24 and abs(f.frac_bits) <= 60:
        out = out.float()
    return tag(out, f)


class QInput(nn.Module):
    """Input quantiser: real inputs to the graph-input format (the IR input tensor's format)."""

    def __init__(self, q: Quantizer) -> None:
        super().__init__()
        self.q = q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _out(self.q, x, x)


class QLinear(nn.Linear):
    """Linear layer: quantised weight (``weight_q``), bias (``bias_q``) and result (``out_q``). IR: ``dense``."""

    def __init__(
        self, in_features: int, out_features: int, weight_q: Quantizer, out_q: Quantizer, bias_q: Quantizer | None
    ) -> None:
        super().__init__(in_features, out_features, bias=bias_q is not None)
        self.weight_q, self.bias_q, self.out_q = weight_q, bias_q, out_q

    def quantized_params(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Real values of the quantised weight (out, in) and bias (out,)."""
        w = self.weight_q(self.weight)
        b = self.bias_q(self.bias) if self.bias_q is not None else None
        return w, b

    def acc_fmt(self, x_fmt: FixedFormat) -> FixedFormat:
        return lossless_acc(x_fmt, self.weight_q.fmt(), self.bias_q.fmt() if self.bias_q else None, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.quantized_params()
        xf = fmt_of(x)
        dt = _sum_dtype(x, self.acc_fmt(xf).width if xf is not None else None)
        acc = F.linear(x.to(dt), w.to(dt), None if b is None else b.to(dt))
        return _out(self.out_q, acc, x)


class _QConvNd(nn.Module):
    """Shared body of QConv1d / QConv2d (optionally with a folded BatchNorm)."""

    dims = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        weight_q: Quantizer,
        out_q: Quantizer,
        bias_q: Quantizer | None,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bn: bool = False,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        conv_cls = nn.Conv2d if self.dims == 2 else nn.Conv1d
        has_bias = bias_q is not None
        self.conv = conv_cls(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=has_bias and not bn
        )
        self.bn = nn.BatchNorm2d(out_channels, bn_eps, bn_momentum) if bn and self.dims == 2 else None
        if bn and self.dims == 1:
            self.bn = nn.BatchNorm1d(out_channels, bn_eps, bn_momentum)
        if bn and bias_q is None:
            raise ValueError("a conv with folded BatchNorm needs a bias quantiser (the folded shift is a bias)")
        self.weight_q, self.bias_q, self.out_q = weight_q, bias_q, out_q

    # -- geometry, as the IR needs it
    @property
    def in_channels(self) -> int:
        return self.conv.in_channels

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    def _conv(self, x, w, b):
        c = self.conv
        fn = F.conv2d if self.dims == 2 else F.conv1d
        return fn(x, w, b, c.stride, c.padding, c.dilation, c.groups)

    def folded_float_params(self, x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Float weight and bias after folding the BatchNorm (batch statistics of ``x`` in training)."""
        w, b = self.conv.weight, self.conv.bias
        if self.bn is None:
            return w, b
        bn = self.bn
        if self.training and x is not None:
            with torch.no_grad():
                z = self._conv(x, w.to(x.dtype), None)
                dims = [0] + list(range(2, z.dim()))
                mean = z.mean(dims)
                var = z.var(dims, unbiased=False)
                n = z.numel() / z.shape[1]
                bn.num_batches_tracked += 1
                bn.running_mean.mul_(1 - bn.momentum).add_(bn.momentum * mean)
                bn.running_var.mul_(1 - bn.momentum).add_(bn.momentum * var * n / max(n - 1, 1))
        else:
            mean, var = bn.running_mean, bn.running_var
        inv = bn.weight / torch.sqrt(var + bn.eps)
        shape = (-1,) + (1,) * (w.dim() - 1)
        return w * inv.reshape(shape), bn.bias - mean * inv

    def quantized_params(self, x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Real values of the quantised (folded) weight and bias."""
        w, b = self.folded_float_params(x)
        return self.weight_q(w), (self.bias_q(b) if self.bias_q is not None and b is not None else None)

    def n_terms(self) -> int:
        c = self.conv
        return (c.in_channels // c.groups) * math.prod(c.kernel_size)

    def acc_fmt(self, x_fmt: FixedFormat) -> FixedFormat:
        return lossless_acc(x_fmt, self.weight_q.fmt(), self.bias_q.fmt() if self.bias_q else None, self.n_terms())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.quantized_params(x)
        xf = fmt_of(x)
        dt = _sum_dtype(x, self.acc_fmt(xf).width if xf is not None else None)
        acc = self._conv(x.to(dt), w.to(dt), None if b is None else b.to(dt))
        return _out(self.out_q, acc, x)


class QConv2d(_QConvNd):
    """2-D convolution (groups = in_channels: depthwise), optional folded BatchNorm. IR: ``conv2d``."""

    dims = 2


class QConv1d(_QConvNd):
    """1-D convolution, optional folded BatchNorm. IR: ``conv1d``."""

    dims = 1


class QBatchNorm(nn.Module):
    """Stand-alone BatchNorm as a quantised affine map: ``y = cast_out(x * scale + shift)`` per channel.

    scale = gamma / sqrt(var + eps) quantised with ``scale_q``, shift = beta - mean * scale quantised with
    ``shift_q``; product and sum exact. Channels on axis 1. IR: ``batchnorm`` (scale, shift integers).
    """

    def __init__(self, num_features: int, scale_q: Quantizer, shift_q: Quantizer, out_q: Quantizer, eps=1e-5):
        super().__init__()
        self.bn = nn.BatchNorm1d(num_features, eps=eps)
        self.scale_q, self.shift_q, self.out_q = scale_q, shift_q, out_q

    def quantized_params(self, x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        bn = self.bn
        if self.training and x is not None:
            dims = [0] + list(range(2, x.dim()))
            with torch.no_grad():
                mean, var = x.mean(dims), x.var(dims, unbiased=False)
                n = x.numel() / x.shape[1]
                bn.running_mean.mul_(1 - bn.momentum).add_(bn.momentum * mean)
                bn.running_var.mul_(1 - bn.momentum).add_(bn.momentum * var * n / max(n - 1, 1))
                bn.num_batches_tracked += 1
        else:
            mean, var = bn.running_mean, bn.running_var
        scale = bn.weight / torch.sqrt(var + bn.eps)
        shift = bn.bias - mean * scale
        return self.scale_q(scale), self.shift_q(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, t = self.quantized_params(x)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        y = x.double() * s.double().reshape(shape) + t.double().reshape(shape)
        return _out(self.out_q, y, x)


class QReLU(nn.Module):
    """``y = cast_out(max(x, 0))``. IR: ``relu``."""

    def __init__(self, out_q: Quantizer) -> None:
        super().__init__()
        self.out_q = out_q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _out(self.out_q, torch.relu(x), x)


class QReLU6(nn.Module):
    """``y = cast_out(min(max(x, 0), 6))``. Lowered to IR ``clip`` with lo = 0 and hi = 6 (raw
    ``6 * 2**F_x`` of the input format, which must hold 6 exactly), then the output cast."""

    def __init__(self, out_q: Quantizer) -> None:
        super().__init__()
        self.out_q = out_q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _out(self.out_q, torch.clamp(x, 0.0, 6.0), x)


class QAdd(nn.Module):
    """Element-wise (residual) add: ``y = cast_out(a + b)``, the sum exact. IR: ``add``."""

    def __init__(self, out_q: Quantizer) -> None:
        super().__init__()
        self.out_q = out_q

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _out(self.out_q, a.double() + b.double(), a)


class QMaxPool2d(nn.MaxPool2d):
    """Max pooling; the output keeps the input format (a max of grid values is on the grid). IR: ``maxpool2d``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tag(super().forward(x), fmt_of(x))


class QMaxPool1d(nn.MaxPool1d):
    """1-D max pooling; keeps the input format. IR: ``maxpool1d``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tag(super().forward(x), fmt_of(x))


class QAvgPool2d(nn.Module):
    """Average pooling over k x k windows (no padding), as the IR ``avgpool`` op computes it:
    ``y = cast_out(sum * recip * 2**-R)`` with ``(recip, R) = reciprocal(k*k)`` (a pure shift when k*k is a
    power of two, else an 18-bit rounded reciprocal); the sum and the product are exact."""

    dims = 2

    def __init__(self, kernel_size: int, out_q: Quantizer, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = int(kernel_size), int(stride or kernel_size)
        self.out_q = out_q

    def reciprocal(self) -> tuple[int, int]:
        """``(recip, R)`` of the window size k**dims (``hwq.ir.ops._pool.reciprocal``)."""
        from hwq.ir.ops._pool import reciprocal

        return reciprocal(self.kernel_size**self.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        recip, r = self.reciprocal()
        s = F.avg_pool2d(x.double(), self.kernel_size, self.stride, divisor_override=1)
        return _out(self.out_q, s * float(recip) * 2.0**-r, x)


class QAvgPool1d(QAvgPool2d):
    """1-D average pooling over windows of k (no padding) on ``(B, C, L)``; arithmetic as ``QAvgPool2d``
    with ``(recip, R) = reciprocal(k)``. IR: ``avgpool`` with a 1-D kernel."""

    dims = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        recip, r = self.reciprocal()
        s = x.double().unfold(-1, self.kernel_size, self.stride).sum(-1)  # exact sums of grid values
        return _out(self.out_q, s * float(recip) * 2.0**-r, x)


class QGlobalAvgPool(nn.Module):
    """Global average pooling of ``(B, C, L)`` or ``(B, C, H, W)``: the mean of each channel, as the IR
    ``global_avgpool`` op computes it, ``y = cast_out(sum * recip * 2**-R)`` with ``(recip, R) =
    reciprocal(n)`` for n positions per channel (a shift when n is a power of two); sum and product exact.

    Output ``(B, C)``; with ``keepdim=True`` ``(B, C, 1)`` / ``(B, C, 1, 1)`` as ``nn.AdaptiveAvgPool1d(1)`` /
    ``nn.AdaptiveAvgPool2d(1)`` give (lowered as ``global_avgpool`` then ``reshape``).
    """

    def __init__(self, out_q: Quantizer, keepdim: bool = False) -> None:
        super().__init__()
        self.out_q, self.keepdim = out_q, bool(keepdim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from hwq.ir.ops._pool import reciprocal

        if x.dim() not in (3, 4):
            raise ValueError(f"QGlobalAvgPool: expected (B, C, L) or (B, C, H, W), got shape {tuple(x.shape)}")
        n = int(math.prod(x.shape[2:]))
        recip, r = reciprocal(n)
        s = x.double().sum(dim=tuple(range(2, x.dim())), keepdim=self.keepdim)
        return _out(self.out_q, s * float(recip) * 2.0**-r, x)


class QFlatten(nn.Flatten):
    """Flatten (channels-first order, as the IR); keeps the input format. IR: ``flatten``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tag(super().forward(x), fmt_of(x))


def quantizers_of(model: nn.Module) -> dict[str, Quantizer]:
    """Every quantiser of a model by qualified name (``fc1.weight_q`` ...)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, Quantizer)}
