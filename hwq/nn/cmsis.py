"""The CMSIS-NN quantisation profile (config ``quant.profile = "cmsis-nn"``): TFLite/CMSIS-NN integer arithmetic.

Formats (``hwq.formats.IntFormat``; a stored integer q means ``scale * (q - zero_point)``):

- weights: symmetric per output channel, real-valued scales, ``int<8,narrow,axis=0,scale=[...]>``
  (``weights = "int4"``: ``int<4,narrow,...>``, raws in [-7, 7], CMSIS-NN's ``_s4`` kernels); per layer
  with ``[quant.layers.<layer>] weights = "int4" | "int8"`` (layer = the dense/conv module's name, e.g.
  ``fc1``, ``conv2``; inside a residual block ``<block>_<module>``), overriding the profile-wide ``weights``:
  the graph then mixes ``int<8,narrow>`` and ``int<4,narrow>`` weight formats layer by layer and the MCU
  generator picks the ``_s8`` or ``_s4`` kernel for each (``hwq.train.profiles.cmsis_config`` builds such a run config);
- activations: per tensor with a zero point, ``int<8,scale=s,zp=z>`` (asymmetric: after a ReLU the
  range starts at 0 so z = -128); ``activations = "int16"``: ``int<16,scale=s>`` with zero point 0
  (CMSIS-NN ``_s16`` kernels), int8 weights, int64 biases;
- biases: ``int32`` (int64 for int16 activations) with scale ``s_in * s_w[c]``;
- every layer output through the dyadic ``requantize`` (Q31 multiplier and shift from
  ``hwq.formats.quantize_multiplier`` of ``s_in * s_w[c] / s_out``), ReLU fused into ``act_min``.

Integer arithmetic of one dense / conv layer (the IR: ``dense``/``conv2d`` with ``input_offset = -z_in``
then ``requantize`` mode ``dyadic`` (int8) or ``dyadic_s64`` (int16), see those op docstrings)::

    acc[c] = wrap32(b[c] + sum w[c, i] * (x[i] - z_in))          # padded taps contribute 0
    y[c]   = clamp(rq(acc[c], m[c], shift[c]) + z_out, act_min, act_max)

Pooling keeps the input's scale and zero point (``maxpool``; ``avgpool`` mode ``cmsis``: rounded half away
from zero over the valid elements). A residual ``x + f(x)`` is the ``add_dyadic`` op with TFLite's
parameters (left_shift 20 for int8, 15 for int16; input multipliers ``s_i / (2 max(s_1, s_2))``, output
multiplier ``2 max(s_1, s_2) / (2**left_shift s_out)``).

Two forward paths: in training mode a fake-quantised float path (straight-through rounding, LSQ-style
learned scales in the log domain, zero points fixed at calibration); in eval mode the exact integer path
(torch int64, written independently of the IR interpreter) whose output is the dequantised int8/int16
logits tagged with their ``IntFormat``, so ``hwq.nn.emulate_raw(model, x) == hwq.ir.run(graph, x)``.
PTQ: ``calibrate(model, x, calibrator)`` with the ``minmax``, ``percentile`` and ``mse`` calibrators
(weights per channel, activations layer by layer with the earlier layers already quantised).
References followed: the TFLite quantisation spec and CMSIS-NN's documented kernel arithmetic.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwq.formats import FixedFormat, IntFormat, quantize_multiplier
from hwq.formats.requant import quantize_multipliers

from .layers import tag

PROFILE = "cmsis-nn"
WEIGHTS = ("int8", "int4")
ACTIVATIONS = ("int8", "int16")
CALIBRATORS = ("minmax", "percentile", "mse")
_Q31 = 1 << 31


class CmsisError(ValueError):
    """A model or option the CMSIS-NN profile cannot take; the message names it."""


# ----------------------------------------------------------------------------- float helpers


def _round_ste(v: torch.Tensor) -> torch.Tensor:
    """Round half away from zero with a straight-through gradient."""
    r = torch.sign(v) * torch.floor(torch.abs(v) + 0.5)
    return v + (r - v).detach()


def _grad_scale(p: torch.Tensor, g: float) -> torch.Tensor:
    """``p`` in the forward pass, gradient multiplied by ``g`` (LSQ's step-size gradient scale)."""
    return p * g + (p - p * g).detach()


def fake_quant(x: torch.Tensor, scale: torch.Tensor, zp, qmin: int, qmax: int) -> torch.Tensor:
    """Affine fake quantisation ``(clamp(round(x / scale) + zp, qmin, qmax) - zp) * scale`` with STE
    rounding; gradients reach ``scale`` as in LSQ (Esser et al. 2020)."""
    v = torch.clamp(_round_ste(x / scale) + zp, qmin, qmax)
    return (v - zp) * scale


def _safe_scale(s: float, zp: int) -> float:
    """A scale that is never exactly 2**-F with zero point 0 (such a format would be read as fixed
    point by the IR); moved by one ulp when it is."""
    if zp == 0 and math.frexp(s)[0] == 0.5:
        return math.nextafter(s, math.inf)
    return s


# ----------------------------------------------------------------------------- quantisers


class ActQuant(nn.Module):
    """Per-tensor affine activation quantiser: learned log-scale, zero point fixed at calibration.

    bits 8: ``int<8,scale=s,zp=z>``; bits 16: symmetric, ``int<16,scale=s>`` (zero point 0).
    """

    def __init__(self, bits: int = 8, fixed: tuple[float, int] | None = None) -> None:
        super().__init__()
        self.bits = bits
        self.qmin, self.qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        self.symmetric = bits == 16
        self.log_scale = nn.Parameter(torch.tensor(0.0), requires_grad=fixed is None)
        self.register_buffer("zero_point", torch.tensor(0.0))
        self.fixed = fixed is not None
        if fixed is not None:
            with torch.no_grad():
                self.log_scale.fill_(math.log(fixed[0]))
                self.zero_point.fill_(float(fixed[1]))
            self._fixed_scale = float(fixed[0])

    def scale_value(self) -> float:
        """The real scale (float64) as stated in the IR format."""
        if self.fixed:
            return self._fixed_scale
        return _safe_scale(float(torch.exp(self.log_scale.detach().double())), int(self.zero_point))

    def fmt(self) -> IntFormat:
        """The activation format ``int<bits,scale=s,zp=z>``."""
        return IntFormat(self.bits, True, scale=self.scale_value(), zero_point=int(self.zero_point))

    def set_range(self, lo: float, hi: float) -> None:
        """Scale and zero point covering [lo, hi] (widened to include 0), TFLite's nudging of the zero point."""
        lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
        if self.symmetric:
            s, zp = max(abs(lo), abs(hi)) / self.qmax, 0
        else:
            s = (hi - lo) / (self.qmax - self.qmin)
            s = max(s, 1e-8)
            zp = int(np.clip(round(self.qmin - lo / s), self.qmin, self.qmax))
        s = max(s, 1e-8)
        with torch.no_grad():
            self.log_scale.fill_(math.log(s))
            self.zero_point.fill_(float(zp))

    def calibrate(self, x: torch.Tensor, calibrator: str, percentile: float) -> None:
        """Set the range from observed float values ``x`` with one of ``CALIBRATORS``."""
        v = x.detach().double().flatten()
        if v.numel() > 200_000:
            v = v[torch.randperm(v.numel(), generator=torch.Generator().manual_seed(0))[:200_000]]
        lo, hi = float(v.min()), float(v.max())
        if calibrator == "percentile":
            lo = float(torch.quantile(v, 1 - percentile / 100)) if lo < 0 else lo
            hi = float(torch.quantile(v, percentile / 100))
        elif calibrator == "mse":
            best = None
            for r in np.linspace(0.2, 1.0, 33):
                self.set_range(lo * r, hi * r)
                err = float(((self.forward(v) - v) ** 2).mean())
                if best is None or err < best[0]:
                    best = (err, r)
            lo, hi = lo * best[1], hi * best[1]
        self.set_range(lo, hi)

    def scale_tensor(self) -> torch.Tensor:
        """The scale as a differentiable tensor (gradient-scaled for LSQ)."""
        return torch.exp(self.log_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quantised x (float)."""
        if self.fixed:
            s = torch.tensor(self._fixed_scale, dtype=x.dtype)
        else:
            s = _grad_scale(self.scale_tensor(), 1.0 / math.sqrt(max(x[0].numel(), 1) * self.qmax)).to(x.dtype)
        return fake_quant(x, s, self.zero_point.to(x.dtype), self.qmin, self.qmax)


class WeightQuant(nn.Module):
    """Symmetric per-output-channel weight quantiser (narrow range), learned log-scales."""

    def __init__(self, channels: int, bits: int = 8) -> None:
        super().__init__()
        self.bits = bits
        self.qmax = (1 << (bits - 1)) - 1
        self.log_scale = nn.Parameter(torch.zeros(channels))

    def scales(self) -> tuple[float, ...]:
        """Per-channel real scales (float64), as stated in the IR weight format."""
        return tuple(float(v) for v in torch.exp(self.log_scale.detach().double()))

    def fmt(self) -> IntFormat:
        """``int<bits,narrow,axis=0,scale=[...]>``."""
        return IntFormat(self.bits, True, scale=self.scales(), zero_point=0, axis=0, narrow=True)

    def calibrate(self, w: torch.Tensor, calibrator: str, percentile: float) -> None:
        """Per-channel scales: max |w| (minmax), a percentile of |w|, or the MSE-best clipping."""
        a = w.detach().double().reshape(w.shape[0], -1).abs()
        amax = a.max(dim=1).values.clamp_min(1e-8)
        if calibrator == "percentile":
            amax = torch.quantile(a, percentile / 100, dim=1).clamp_min(1e-8)
        elif calibrator == "mse":
            best_err = torch.full_like(amax, float("inf"))
            best = amax.clone()
            wf = w.detach().double().reshape(w.shape[0], -1)
            for r in np.linspace(0.3, 1.0, 36):
                s = (amax * r / self.qmax)[:, None]
                err = ((fake_quant(wf, s, 0.0, -self.qmax, self.qmax) - wf) ** 2).mean(dim=1)
                better = err < best_err
                best_err = torch.where(better, err, best_err)
                best = torch.where(better, amax * r, best)
            amax = best
        with torch.no_grad():
            self.log_scale.copy_(torch.log(amax / self.qmax).float())

    def scale_tensor(self) -> torch.Tensor:
        """Per-channel scales as a differentiable tensor."""
        return torch.exp(self.log_scale)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """Fake-quantised weights."""
        g = 1.0 / math.sqrt(max(w[0].numel(), 1) * self.qmax)
        s = _grad_scale(self.scale_tensor(), g).reshape(-1, *([1] * (w.dim() - 1))).to(w.dtype)
        return fake_quant(w, s, 0.0, -self.qmax, self.qmax)


# ----------------------------------------------------------------------------- integer helpers (torch int64)


def _wrap(v: torch.Tensor, bits: int = 32) -> torch.Tensor:
    if bits >= 64:
        return v  # int64 tensors are already two's complement 64-bit
    half = 1 << (bits - 1)
    return torch.remainder(v + half, 1 << bits) - half


def requant_int(acc: torch.Tensor, m: torch.Tensor, s: torch.Tensor, single: bool) -> torch.Tensor:
    """CMSIS-NN ``arm_nn_requantize`` on int64 tensors holding int32 values (both builds)."""
    if single:
        r = _wrap(torch.bitwise_right_shift(acc * m, 30 - s))
        return torch.bitwise_right_shift(_wrap(r + 1), 1)
    left = torch.clamp(s, min=0)
    right = torch.clamp(-s, min=0)
    v = _wrap(torch.bitwise_left_shift(acc, left))
    h = _wrap(torch.bitwise_right_shift(v * m + (1 << 30), 31))
    mask = torch.bitwise_left_shift(torch.ones_like(right), right) - 1
    q = torch.bitwise_right_shift(h, right)
    thr = torch.bitwise_right_shift(mask, 1) + (q < 0).long()
    return q + (torch.bitwise_and(h, mask) > thr).long()


def requant_int_s64(acc: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """CMSIS-NN ``arm_nn_requantize_s64`` (multiplier reduced to 16 bits) on int64 tensors."""
    rm = torch.where(m < 0x7FFF0000, torch.bitwise_right_shift(m + (1 << 15), 16), torch.full_like(m, 0x7FFF))
    r = _wrap(torch.bitwise_right_shift(acc * rm, 14 - s))
    return torch.bitwise_right_shift(_wrap(r + 1), 1)


def _int_mm(fn, q: torch.Tensor, w: np.ndarray, *args) -> torch.Tensor:
    """Exact integer conv/linear through float64 (every partial sum is far below 2**53 here)."""
    y = fn(q.double(), torch.from_numpy(w.astype(np.float64)), None, *args)
    return torch.round(y).long()


# ----------------------------------------------------------------------------- nodes


class _Node(nn.Module):
    """One CMSIS-NN kernel call. float_forward(x, fin) -> (x, fin_quant); int_forward(q, fin) -> (q, fout)."""

    name: str = ""

    def out_quant(self, in_quant: ActQuant) -> ActQuant:
        """The quantiser (scale, zero point) of this node's output, given its input's."""
        return in_quant


class CMac(_Node):
    """Fully connected or 2-D convolution (depthwise via groups) with fused ReLU and requantisation."""

    def __init__(
        self,
        name: str,
        kind: str,
        weight: torch.Tensor,
        bias: torch.Tensor,
        stride: tuple[int, int] = (1, 1),
        padding: tuple[int, int] = (0, 0),
        groups: int = 1,
        relu: bool = False,
        opts: dict | None = None,
    ) -> None:
        """kind "dense" (weight (out, in)) or "conv2d" (weight (out, in/groups, kh, kw), padding (h, w));
        float weight/bias (BatchNorm already folded); opts: the checked profile options."""
        super().__init__()
        self.name, self.kind, self.relu = name, kind, relu
        self.stride, self.padding, self.groups = tuple(stride), tuple(padding), int(groups)
        self.weight = nn.Parameter(weight.detach().clone().float())
        self.bias = nn.Parameter(bias.detach().clone().float())
        self.opts = opts
        self.weights = (opts.get("layers") or {}).get(name, opts["weights"])  # per-layer override
        self.wq = WeightQuant(weight.shape[0], 4 if self.weights == "int4" else 8)
        self.act = ActQuant(16 if opts["activations"] == "int16" else 8)

    def out_quant(self, in_quant):
        """The quantiser (scale, zero point) of this node's output, given its input's."""
        return self.act

    def _f(self, x, w, b):
        if self.kind == "dense":
            return F.linear(x, w, b)
        return F.conv2d(x, w, b, self.stride, self.padding, 1, self.groups)

    def float_forward(self, x, fin: ActQuant, calib=None):
        """Fake-quantised layer; with ``calib`` = (calibrator, percentile) the output range is set first."""
        w = self.wq(self.weight)
        sb = fin.scale_tensor().detach() * self.wq.scale_tensor()
        b = _round_ste(self.bias / sb) * sb
        y = self._f(x, w, b)
        if self.relu:
            y = F.relu(y)
        if calib is not None:
            self.act.calibrate(y, *calib)
        return self.act(y)

    def export(self, fin: IntFormat) -> dict:
        """The integer parameters of this layer given its input format (one source for the emulator and IR)."""
        wfmt = self.wq.fmt()
        fout = self.act.fmt()
        s16 = self.opts["activations"] == "int16"
        qw = wfmt.to_raw(self.weight.detach().double().numpy())
        sx = fin.scale[0]
        sw = np.array(wfmt.scale)
        bscale = sx * sw
        blim = (1 << 63) - 1 if s16 else (1 << 31) - 1
        qb = np.clip(np.round(self.bias.detach().double().numpy() / bscale), -blim, blim).astype(np.int64)
        m, sh = quantize_multipliers(bscale / fout.scale[0])
        if s16:
            sh = np.minimum(sh, 14)
        lo, hi = fout.raw_min, fout.raw_max
        return {
            "weight": qw.astype(np.int64),
            "bias": qb,
            "weight_fmt": wfmt,
            "bias_fmt": FixedFormat(64, 64) if s16 else IntFormat(32),
            "acc_fmt": FixedFormat(64, 64, True, "TRN", "WRAP") if s16 else FixedFormat(32, 32, True, "TRN", "WRAP"),
            "input_offset": -fin.zero_point[0],
            "multiplier": m.astype(np.int64),
            "shift": sh.astype(np.int64),
            "out_offset": fout.zero_point[0],
            "act_min": max(lo, fout.zero_point[0]) if self.relu else lo,
            "act_max": hi,
            "fout": fout,
            "s16": s16,
        }

    def int_forward(self, q, fin: IntFormat):
        """Exact integers: input raws ``q`` (int64, batch first) in format ``fin`` -> (output raws, format)."""
        e = self.export(fin)
        x = q + e["input_offset"]
        if self.kind == "dense":
            acc = _int_mm(F.linear, x, e["weight"])
        else:
            acc = _int_mm(F.conv2d, x, e["weight"], self.stride, self.padding, 1, self.groups)
        shape = (1, -1) + (1,) * (acc.dim() - 2)
        acc = _wrap(acc + torch.from_numpy(e["bias"]).reshape(shape), 64 if e["s16"] else 32)
        m = torch.from_numpy(e["multiplier"]).reshape(shape)
        s = torch.from_numpy(e["shift"]).reshape(shape)
        r = requant_int_s64(acc, m, s) if e["s16"] else requant_int(acc, m, s, self.opts["single_rounding"])
        return torch.clamp(r + e["out_offset"], e["act_min"], e["act_max"]), e["fout"]

    def lower(self, low, x: str, fin: IntFormat, shape) -> tuple[str, IntFormat]:
        """Add this node's IR ops to ``low.g`` reading tensor ``x`` (format ``fin``); returns (output name, format)."""
        from hwq.ir import ops as O

        e = self.export(fin)
        acc = low.tensor(f"{self.name}_acc", shape, e["acc_fmt"])
        common = (e["weight"], e["bias"], e["weight_fmt"], e["bias_fmt"], e["acc_fmt"])
        if self.kind == "dense":
            low.g.add_op(O.Dense(f"{self.name}", [x], acc, *common, e["input_offset"]))
        else:
            low.g.add_op(
                O.Conv2d(
                    f"{self.name}", [x], acc, *common, self.stride, (self.padding[0],) * 2 + (self.padding[1],) * 2,
                    (1, 1), self.groups, e["input_offset"],
                )
            )  # fmt: skip
        y = low.tensor(f"{self.name}_out", shape, e["fout"])
        mode = "dyadic_s64" if e["s16"] else "dyadic"
        low.g.add_op(
            O.Requantize(
                f"{self.name}_rq", [acc], y, mode, e["multiplier"], e["shift"], bool(self.opts["single_rounding"]),
                e["out_offset"], e["act_min"], e["act_max"],
            )
        )  # fmt: skip
        return y, e["fout"]


class CPool(_Node):
    """Max or average pooling (kernel = stride, no padding); output keeps the input scale and zero point."""

    def __init__(self, name: str, kind: str, kernel: int) -> None:
        """kind "max" or "avg"; kernel = stride (square)."""
        super().__init__()
        self.name, self.kind, self.kernel = name, kind, int(kernel)

    def float_forward(self, x, fin, calib=None):
        """Fake-quantised float forward (training, calibration); ``fin`` quantises the input."""
        if self.kind == "max":
            return F.max_pool2d(x, self.kernel)
        return fin(F.avg_pool2d(x, self.kernel))  # back on the input grid

    def int_forward(self, q, fin):
        """Exact integers: input raws ``q`` (int64, batch first) in format ``fin`` -> (output raws, format)."""
        if self.kind == "max":
            return torch.round(F.max_pool2d(q.double(), self.kernel)).long(), fin
        k = self.kernel
        s = torch.round(F.avg_pool2d(q.double(), k, divisor_override=1)).long()
        n = k * k
        avg = torch.where(
            s > 0, torch.div(s + n // 2, n, rounding_mode="trunc"), torch.div(s - n // 2, n, rounding_mode="trunc")
        )
        return torch.clamp(avg, fin.raw_min, fin.raw_max), fin

    def lower(self, low, x, fin, shape):
        """Add this node's IR ops to ``low.g`` reading tensor ``x`` (format ``fin``); returns (output name, format)."""
        from hwq.ir import ops as O

        y = low.tensor(self.name, shape, fin)
        k = (self.kernel, self.kernel)
        if self.kind == "max":
            low.g.add_op(O.MaxPool(self.name, [x], y, k, k, (0, 0, 0, 0)))
        else:
            low.g.add_op(O.AvgPool(self.name, [x], y, k, k, (0, 0, 0, 0), None, 1, 0, "cmsis", None, None))
        return y, fin


class CFlatten(_Node):
    """Flatten (C, H, W) -> (C*H*W,) in row-major order: a view."""

    def __init__(self, name: str) -> None:
        """A flatten node named ``name``."""
        super().__init__()
        self.name = name

    def float_forward(self, x, fin, calib=None):
        """Fake-quantised float forward (training, calibration); ``fin`` quantises the input."""
        return x.flatten(1)

    def int_forward(self, q, fin):
        """Exact integers: input raws ``q`` (int64, batch first) in format ``fin`` -> (output raws, format)."""
        return q.flatten(1), fin

    def lower(self, low, x, fin, shape):
        """Add this node's IR ops to ``low.g`` reading tensor ``x`` (format ``fin``); returns (output name, format)."""
        from hwq.ir import ops as O

        y = low.tensor(self.name, shape, fin)
        low.g.add_op(O.Flatten(self.name, [x], y))
        return y, fin


def add_params(s1: float, s2: float, s_out: float, bits: int) -> dict:
    """TFLite/CMSIS-NN element-wise add parameters for input scales s1, s2 and output scale s_out."""
    left_shift = 20 if bits == 8 else 15
    twice_max = 2 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * s_out))
    return {"left_shift": left_shift, "m1": m1, "s1": sh1, "m2": m2, "s2": sh2, "mo": mo, "so": sho}


class CResidual(_Node):
    """``relu?(body(x) + x)``: the body's nodes, then CMSIS-NN's element-wise add (``add_dyadic``)."""

    def __init__(self, name: str, body: list[_Node], relu: bool, opts: dict) -> None:
        """body: the converted nodes of the residual branch; relu: a ReLU after the sum (fused)."""
        super().__init__()
        self.name, self.relu, self.opts = name, relu, opts
        self.body = nn.ModuleList(body)
        self.act = ActQuant(16 if opts["activations"] == "int16" else 8)

    def out_quant(self, in_quant):
        """The quantiser (scale, zero point) of this node's output, given its input's."""
        return self.act

    def float_forward(self, x, fin, calib=None):
        """Fake-quantised float forward (training, calibration); ``fin`` quantises the input."""
        y, q = x, fin
        for n in self.body:
            y = n.float_forward(y, q, calib)
            q = n.out_quant(q)
        z = y + x
        if self.relu:
            z = F.relu(z)
        if calib is not None:
            self.act.calibrate(z, *calib)
        return self.act(z)

    def _export(self, fin, fbody):
        fout = self.act.fmt()
        p = add_params(fin.scale[0], fbody.scale[0], fout.scale[0], fout.width)
        lo = fout.raw_min
        return p, fout, (max(lo, fout.zero_point[0]) if self.relu else lo), fout.raw_max

    def int_forward(self, q, fin):
        """Exact integers: input raws ``q`` (int64, batch first) in format ``fin`` -> (output raws, format)."""
        y, f = q, fin
        for n in self.body:
            y, f = n.int_forward(y, f)
        p, fout, amin, amax = self._export(fin, f)
        sr = self.opts["single_rounding"]

        def side(v, off, m, s):
            return requant_int(
                _wrap(torch.bitwise_left_shift(v + off, p["left_shift"])), torch.tensor(m), torch.tensor(s), sr
            )

        a = side(q, -fin.zero_point[0], p["m1"], p["s1"])
        b = side(y, -f.zero_point[0], p["m2"], p["s2"])
        r = requant_int(_wrap(a + b), torch.tensor(p["mo"]), torch.tensor(p["so"]), sr) + fout.zero_point[0]
        return torch.clamp(r, amin, amax), fout

    def lower(self, low, x, fin, shape):
        """Add this node's IR ops to ``low.g`` reading tensor ``x`` (format ``fin``); returns (output name, format)."""
        from hwq.ir import ops as O

        y, f = x, fin
        for n in self.body:
            y, f = n.lower(low, y, f, shape)
        p, fout, amin, amax = self._export(fin, f)
        out = low.tensor(f"{self.name}_add", shape, fout)
        low.g.add_op(
            O.AddDyadic(
                f"{self.name}_add", [x, y], out, -fin.zero_point[0], p["m1"], p["s1"], -f.zero_point[0], p["m2"],
                p["s2"], p["left_shift"], p["mo"], p["so"], fout.zero_point[0], amin, amax,
                bool(self.opts["single_rounding"]),
            )
        )  # fmt: skip
        return out, fout


# ----------------------------------------------------------------------------- the model


def input_format(activations: str) -> tuple[float, int]:
    """(scale, zero point) of the graph input: digits pixels k/16 (k = 0..16) map exactly to
    int8 ``15 k - 128`` (scale 1/240, zp -128) or int16 ``1920 k`` (scale 1/30720, zp 0)."""
    return (1 / 240, -128) if activations == "int8" else (1 / 30720, 0)


class CmsisNet(nn.Module):
    """A model in the CMSIS-NN profile: training mode = fake-quantised float, eval mode = exact integers.

    ``lower_to_ir(example, name)`` gives the IR graph (``hwq.ir.lower.lower`` calls it).
    """

    def __init__(self, nodes: list[_Node], opts: dict) -> None:
        super().__init__()
        self.opts = dict(opts)
        self.nodes = nn.ModuleList(nodes)
        self.inq = ActQuant(16 if opts["activations"] == "int16" else 8, fixed=input_format(opts["activations"]))

    def float_forward(self, x: torch.Tensor, calib=None) -> torch.Tensor:
        """Fake-quantised forward (differentiable); with ``calib`` each activation range is set on the way."""
        x = self.inq(x.float())
        q = self.inq
        for n in self.nodes:
            x = n.float_forward(x, q, calib)
            q = n.out_quant(q)
        return x

    def int_forward(self, x) -> tuple[torch.Tensor, IntFormat]:
        """Exact integer forward: float input -> (int64 output raws, output format)."""
        fin = self.inq.fmt()
        xn = x.detach().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
        q = torch.from_numpy(fin.to_raw(xn))
        f = fin
        for n in self.nodes:
            q, f = n.int_forward(q, f)
        return q, f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Training mode: fake-quantised float logits. Eval mode: the exact integer outputs, dequantised and
        tagged with their ``IntFormat`` (read back as raws by ``hwq.nn.emulate_raw``)."""
        if self.training:
            return self.float_forward(x)
        with torch.no_grad():
            q, f = self.int_forward(x)
        y = (q - f.zero_point[0]).double() * f.scale[0]
        return tag(y, f)

    def lower_to_ir(self, example: torch.Tensor, name: str):
        """The IR graph of this model (shapes from ``example``), validated."""
        from hwq.ir import Graph
        from hwq.ir.passes import validate

        low = _Low(Graph(name, ["input"], []))
        fin = self.inq.fmt()
        low.tensor("input", tuple(example.shape[1:]), fin)
        with torch.no_grad():
            q = torch.from_numpy(fin.to_raw(example.detach().double().numpy()))
            x, f = "input", fin
            for n in self.nodes:
                q, fq = n.int_forward(q, f)
                x, f = n.lower(low, x, f, tuple(q.shape[1:]))
        low.g.outputs = [x]
        low.g.meta["cmsis_nn"] = {
            "profile": PROFILE,
            "single_rounding": bool(self.opts["single_rounding"]),
            "weights": self.opts["weights"],
            "activations": self.opts["activations"],
        }
        if self.opts.get("layers"):  # mixed precision: every dense/conv layer's weights
            low.g.meta["cmsis_nn"]["layer_weights"] = {m.name: m.weights for m in self.modules() if isinstance(m, CMac)}
        return validate(low.g)


class _Low:
    def __init__(self, g):
        self.g = g

    def tensor(self, name, shape, fmt) -> str:
        """Add a tensor to the graph; returns its name."""
        self.g.add_tensor(name, tuple(int(s) for s in shape), fmt)
        return name


# ----------------------------------------------------------------------------- conversion, calibration


def check_options(q: dict, where: str = "quant") -> dict:
    """Validate the profile options of a ``quant`` table; returns them with defaults filled in."""
    allowed = {"profile", "weights", "activations", "single_rounding", "layers"}
    for k in q:
        if k not in allowed:
            raise CmsisError(f"{where}.{k}: unknown key for profile {PROFILE!r}; allowed: {', '.join(sorted(allowed))}")
    if q.get("profile") != PROFILE:
        raise CmsisError(f"{where}.profile: expected {PROFILE!r}, got {q.get('profile')!r}")
    opts = {"weights": q.get("weights", "int8"), "activations": q.get("activations", "int8")}
    opts["single_rounding"] = q.get("single_rounding", False)
    if opts["weights"] not in WEIGHTS:
        raise CmsisError(f"{where}.weights: expected one of {', '.join(WEIGHTS)}, got {opts['weights']!r}")
    if opts["activations"] not in ACTIVATIONS:
        raise CmsisError(f"{where}.activations: expected one of {', '.join(ACTIVATIONS)}, got {opts['activations']!r}")
    if not isinstance(opts["single_rounding"], bool):
        raise CmsisError(f"{where}.single_rounding: must be true or false, got {opts['single_rounding']!r}")
    opts["layers"] = _check_layers(q.get("layers", {}), f"{where}.layers")
    return opts


def _check_layers(layers, where: str = "quant.layers") -> dict[str, str]:
    """The ``quant.layers`` table (``{layer: {"weights": "int8"|"int4"}}``) as ``{layer: weights}``; the
    already-flat form ``{layer: "int4"}`` is accepted too. Layer names are checked against the model by
    ``cmsis_from_float``."""
    if not isinstance(layers, dict):
        raise CmsisError(f"{where}: expected a table of layer names")
    out = {}
    for name, over in layers.items():
        w = over
        if isinstance(over, dict):
            for k in over:
                if k != "weights":
                    raise CmsisError(f"{where}.{name}.{k}: unknown key for profile {PROFILE!r}; allowed: weights")
            if "weights" not in over:
                raise CmsisError(f"{where}.{name}: missing key 'weights' (int8 or int4)")
            w = over["weights"]
        elif not isinstance(over, str):
            raise CmsisError(f"{where}.{name}: expected a table with key 'weights'")
        if w not in WEIGHTS:
            raise CmsisError(f"{where}.{name}.weights: expected one of {', '.join(WEIGHTS)}, got {w!r}")
        out[str(name)] = w
    return out


def mac_layer_names(net: CmsisNet) -> list[str]:
    """Names of the dense/conv layers of a ``CmsisNet`` in execution order (the keys of ``quant.layers``)."""
    return [m.name for m in net.modules() if isinstance(m, CMac)]


def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    if bn is None:
        return w, b
    k = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + bn.eps)
    return w * k.reshape(-1, 1, 1, 1), (b - bn.running_mean.detach().double()) * k + bn.bias.detach().double()


def _convert_seq(mods: list[tuple[str, nn.Module]], opts: dict, prefix: str = "") -> list[_Node]:
    nodes: list[_Node] = []
    i = 0
    while i < len(mods):
        name, m = mods[i]
        nxt = [mm for _, mm in mods[i + 1 : i + 3]]
        full = f"{prefix}{name}"
        if isinstance(m, (nn.Dropout, nn.Identity)):
            i += 1
        elif isinstance(m, nn.Linear):
            relu = bool(nxt) and isinstance(nxt[0], nn.ReLU)
            nodes.append(CMac(full, "dense", m.weight.detach(), _bias(m), relu=relu, opts=opts))
            i += 2 if relu else 1
        elif isinstance(m, nn.Conv2d):
            bn = nxt[0] if nxt and isinstance(nxt[0], nn.BatchNorm2d) else None
            after = nxt[1 if bn is not None else 0 :]
            relu = bool(after) and isinstance(after[0], nn.ReLU)
            if m.dilation != (1, 1) or isinstance(m.padding, str):
                raise CmsisError(f"module {full!r} (Conv2d): dilation and string padding are not supported")
            w, b = _fold_bn(m, bn)
            nodes.append(CMac(full, "conv2d", w, b, m.stride, m.padding, m.groups, relu, opts))
            i += 1 + (bn is not None) + relu
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            st = m.stride if isinstance(m.stride, int) else m.stride[0]
            if st != k or (m.padding not in (0, (0, 0))):
                raise CmsisError(f"module {full!r} ({type(m).__name__}): only kernel == stride, no padding")
            nodes.append(CPool(full, "max" if isinstance(m, nn.MaxPool2d) else "avg", k))
            i += 1
        elif isinstance(m, nn.Flatten):
            nodes.append(CFlatten(full))
            i += 1
        elif isinstance(m, _residual_type()):
            body = _convert_seq(list(m.body.named_children()), opts, f"{full}_")
            nodes.append(CResidual(full, body, bool(m.relu), opts))
            i += 1
        else:
            raise CmsisError(f"module {full!r} ({type(m).__name__}): not supported by the {PROFILE} profile")
    return nodes


def _residual_type() -> type:
    from hwq.train.models import Residual

    return Residual


def _bias(m: nn.Linear) -> torch.Tensor:
    return m.bias.detach() if m.bias is not None else torch.zeros(m.out_features)


def cmsis_from_float(model: nn.Module, options: dict) -> CmsisNet:
    """Convert a float ``nn.Sequential`` (Linear/Conv2d(+BatchNorm)(+ReLU), pools, Flatten, Residual blocks)
    into a ``CmsisNet`` (BatchNorm folded, ReLU fused). ``options``: the ``quant`` table or checked options.
    Call ``calibrate`` before use."""
    opts = check_options(options) if "profile" in options else dict(options)
    opts.setdefault("weights", "int8")
    opts.setdefault("activations", "int8")
    opts.setdefault("single_rounding", False)
    opts["layers"] = _check_layers(opts.get("layers") or {})
    if not isinstance(model, nn.Sequential):
        raise CmsisError(f"model: the {PROFILE} profile converts nn.Sequential models, not {type(model).__name__}")
    model = copy.deepcopy(model).eval()
    net = CmsisNet(_convert_seq(list(model.named_children()), opts), opts)
    macs = mac_layer_names(net)
    for name in opts["layers"]:
        if name not in macs:
            raise CmsisError(f"quant.layers.{name}: unknown layer; the model's dense/conv layers are {', '.join(macs)}")
    return net


def calibrate(model: CmsisNet, x: torch.Tensor, calibrator: str = "minmax", percentile: float = 99.99) -> CmsisNet:
    """PTQ: per-channel weight scales, then activation ranges layer by layer (earlier layers quantised)."""
    if calibrator not in CALIBRATORS:
        raise CmsisError(f"calibrator {calibrator!r}: expected one of {', '.join(CALIBRATORS)}")
    for m in model.modules():
        if isinstance(m, CMac):
            m.wq.calibrate(m.weight, calibrator, percentile)
    with torch.no_grad():
        model.float_forward(torch.as_tensor(x).float(), calib=(calibrator, percentile))
    return model


__all__ = [
    "ACTIVATIONS",
    "CALIBRATORS",
    "PROFILE",
    "WEIGHTS",
    "ActQuant",
    "CmsisError",
    "CmsisNet",
    "WeightQuant",
    "add_params",
    "calibrate",
    "check_options",
    "cmsis_from_float",
    "fake_quant",
    "input_format",
    "mac_layer_names",
    "requant_int",
    "requant_int_s64",
]
