"""Torch quantisers for every tensor the hardware stores, with straight-through gradients.

A quantiser maps real values to the nearest values of its current number format (with that format's
rounding and overflow) and returns them as real values of the input dtype (float64 when the format is
too wide for float32's mantissa). ``fmt()`` is the exact format the IR receives for the tensor, and
``to_raw(x)`` the int64 raw integers, in units of the format's LSB, that the lowering writes.

- ``FixedQuantizer``: ``fixed<W,I>`` / ``ufixed<W,I>`` with a static or learned binary point (QFX / LSQ
  style: a continuous ``int_bits`` parameter, rounded in forward, gradient through the quantisation
  error) and optionally a learned width with a bit-cost penalty.
- ``CSDQuantizer``: ``fixed<W,I>`` restricted to values with at most ``digits`` non-zero canonical
  signed digits (``digits=1``: signed powers of two), nearest-value projection; multiplier-free weights.
- ``MinifloatQuantizer``: ``float<E,M>`` values (round to nearest even, saturating), learned or
  calibrated exponent bias; its format is ``hwq.formats.FloatFormat`` (raw = value * 2**(bias + M - 1)).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from hwq.formats import FixedFormat, csd_digit_count
from hwq.formats.torch_quant import MANT_BITS, overflow_lsb, round_lsb

LN2 = math.log(2.0)


def _work_dtype(x: torch.Tensor, bits: int, frac_bits: int = 0) -> torch.dtype:
    """x's dtype if its mantissa holds ``bits``-bit integers exactly (and 2**frac_bits is far from its
    exponent limits), else float64."""
    if x.dtype == torch.float64 or (bits <= MANT_BITS.get(x.dtype, 0) and abs(frac_bits) <= 60):
        return x.dtype
    return torch.float64


class Quantizer(nn.Module):
    """Base of the quantisers. Subclasses define ``fmt()``, ``forward`` and ``bits``.

    ``calibratable``: False when the user fixed the binary point (or exponent bias); PTQ calibrators
    then leave the quantiser alone.
    """

    kind = "quantizer"
    calibratable = True

    def fmt(self):
        raise NotImplementedError

    @property
    def bits(self) -> int:
        """Stored bits per element of the current format."""
        return int(self.fmt().width)

    def to_raw(self, x: torch.Tensor) -> np.ndarray:
        """Raw int64 integers (units of ``fmt()``'s LSB) of ``forward(x)``, exact."""
        with torch.no_grad():
            q = self.forward(x.detach().double()).cpu().numpy()
        f = self.fmt()
        raw = np.ldexp(q, f.frac_bits)
        out = raw.astype(np.int64)
        if not np.array_equal(out.astype(np.float64), raw):  # pragma: no cover - would be a quantiser bug
            raise AssertionError(f"{self}: quantised values are not on the grid of {f}")
        return out

    def observe(self, x: torch.Tensor) -> None:
        """Initialise the binary point (exponent bias) from the largest magnitude of ``x`` (min/max)."""
        m = float(x.detach().abs().max()) if x.numel() else 0.0
        self.set_point(self.point_for_max(m))

    # The "point" is the calibratable scale: I for fixed point and CSD, -bias for minifloats. One step
    # doubles the range. Calibrators search it; ``point_for_max`` is the min/max choice.
    def point(self) -> int:
        raise NotImplementedError

    def set_point(self, p: int) -> None:
        raise NotImplementedError

    def point_for_max(self, max_abs: float) -> int:
        raise NotImplementedError

    def extra_repr(self) -> str:
        try:
            return str(self.fmt())
        except Exception:  # noqa: BLE001 - uninitialised quantisers have no format yet
            return "uninitialised"


# --------------------------------------------------------------------------------------- fixed point
class _FixedSTE(torch.autograd.Function):
    """q = s * overflow(round(x / s)) with s = 2**-F; gradients for x and for the binary point.

    Returns q; backward gives grad_x (straight-through inside the range, zero where SAT clips) and the
    gradient of q w.r.t. the int-bits parameter ``i`` and (learned width) the frac-bits parameter ``f``:

    fixed width W (F = W - I):   in range  dq/dI = (round(x/s) - x/s) * s * ln2
                                 clipped   dq/dI = q * ln2           (q = raw_min*s or raw_max*s)
    learned width (I, F free):   in range  dq/dF = -(round(x/s) - x/s) * s * ln2,  dq/dI = 0
                                 clipped   dq/dI = q * ln2 (the bound is +-2**(I-1)), dq/dF = 0
    The int-bits gradients are scaled by ``gscale`` (LSQ: 1/sqrt(numel * raw_max)).
    """

    @staticmethod
    def forward(ctx, x, i_param, f_param, fmt: FixedFormat, gscale: float, learn_width: bool):
        dtype = _work_dtype(x, fmt.width, fmt.frac_bits)
        s = 2.0**-fmt.frac_bits
        y = x.to(dtype) * (2.0**fmt.frac_bits)
        r = round_lsb(y, fmt.rounding)
        rq = overflow_lsb(r, fmt)
        need_point = i_param is not None or f_param is not None
        if fmt.overflow != "WRAP" or need_point:
            inside = r == rq
            ctx.save_for_backward(inside, y if need_point else None, rq if need_point else None)
        ctx.fmt, ctx.gscale, ctx.learn_width = fmt, gscale, learn_width
        ctx.has_i, ctx.has_f = i_param is not None, f_param is not None
        ctx.xdtype = x.dtype
        return rq * s

    @staticmethod
    def backward(ctx, g):
        fmt = ctx.fmt
        if fmt.overflow == "WRAP" and not (ctx.has_i or ctx.has_f):
            return g.to(ctx.xdtype), None, None, None, None, None
        inside, y, rq = ctx.saved_tensors
        s = 2.0**-fmt.frac_bits
        if y is not None:
            g = g.to(y.dtype)
        gin = torch.where(inside, g, torch.zeros((), dtype=g.dtype))
        gx = g if fmt.overflow == "WRAP" else gin
        gi = gf = None
        if ctx.has_i or ctx.has_f:
            gf_flat, gin_flat = g.reshape(-1), gin.reshape(-1)
            # sum over the tensor of g * (rq - y) inside the range and g * rq where clipped
            sum_g_rq = torch.dot(gf_flat, rq.reshape(-1))
            sum_gin_y = torch.dot(gin_flat, y.reshape(-1))
            if ctx.learn_width:
                sum_gin_rq = torch.dot(gin_flat, rq.reshape(-1))
                if ctx.has_i:  # clipped values: dq/dI = q ln2 (the clip bound is +-2**(I-1))
                    gi = ((sum_g_rq - sum_gin_rq) * s * LN2 * ctx.gscale).reshape(1)
                if ctx.has_f:  # -(rounding error) ln2 inside the range
                    gf = (-(sum_gin_rq - sum_gin_y) * s * LN2 * ctx.gscale).reshape(1)
            elif ctx.has_i:
                gi = ((sum_g_rq - sum_gin_y) * s * LN2 * ctx.gscale).reshape(1)
        return gx.to(ctx.xdtype), gi, gf, None, None, None


@lru_cache(maxsize=4096)
def _fixed_format(width: int, int_bits: int, signed: bool, rounding: str, overflow: str) -> FixedFormat:
    return FixedFormat(width, int_bits, signed, rounding, overflow)


def minmax_int_bits(max_abs: float, signed: bool) -> int:
    """Smallest I such that ``fixed<W,I>`` (ufixed) reaches ``max_abs`` to within one LSB."""
    if not math.isfinite(max_abs) or max_abs <= 0:
        return 1 if signed else 0
    return int(math.ceil(math.log2(max_abs))) + (1 if signed else 0)


class FixedQuantizer(Quantizer):
    """``fixed<W,I,rounding,overflow>`` (``ufixed`` if not ``signed``) with a static or learned binary point.

    width: W (>= 1, <= 53 for exact emulation). int_bits: I, or None to initialise from the first batch
    seen (min/max). learn_int_bits: make I a trainable parameter (rounded with STE in forward).
    learn_width: make W trainable too (as I + F, both learned; add ``bit_cost()`` to the loss).
    """

    kind = "fixed"

    def __init__(
        self,
        width: int,
        int_bits: int | None = None,
        signed: bool = True,
        rounding: str = "RND_CONV",
        overflow: str = "SAT",
        learn_int_bits: bool = False,
        learn_width: bool = False,
        min_width: int = 2,
        max_width: int = 16,
    ) -> None:
        super().__init__()
        FixedFormat(int(width), 0 if int_bits is None else int(int_bits), signed, rounding, overflow)  # validates
        self.signed, self.rounding, self.overflow = signed, rounding, overflow
        self.learn_int_bits = bool(learn_int_bits or learn_width)
        self.learn_width = bool(learn_width)
        self.min_width, self.max_width = int(min_width), int(max_width)
        #: activations: True (elements per sample are stored); weights: False. Set by quantize_model.
        self.per_sample = False
        self.stored_elements = 1
        self.register_buffer("initialized", torch.tensor(int_bits is not None))
        self.calibratable = int_bits is None or self.learn_int_bits
        i0 = torch.tensor([float(0 if int_bits is None else int_bits)])
        if self.learn_int_bits:
            self.int_bits = nn.Parameter(i0)
        else:
            self.register_buffer("int_bits", i0)
        w0 = torch.tensor([float(width)])
        if self.learn_width:
            self.frac_bits = nn.Parameter(w0 - i0)
        else:
            self.register_buffer("width_", w0)

    # -- current format
    def _iw(self) -> tuple[int, int]:
        i = round(self.int_bits.item())  # Python's round: ties to even, as torch.round
        if self.learn_width:
            f = round(self.frac_bits.item())
            w = min(max(i + f, self.min_width), self.max_width)
        else:
            w = int(self.width_.item())
        return w, i

    def fmt(self) -> FixedFormat:
        if not bool(self.initialized):
            raise RuntimeError("quantiser has no binary point yet: run a calibration batch or set int_bits")
        return _fixed_format(*self._iw(), self.signed, self.rounding, self.overflow)

    def set_int_bits(self, int_bits: int) -> None:
        """Set I, keeping the width W (a learned width keeps its current rounded value)."""
        with torch.no_grad():
            if self.learn_width:
                w = int(torch.round(self.frac_bits + self.int_bits).item())
                self.frac_bits.fill_(float(w - int_bits))
            self.int_bits.fill_(float(int_bits))
            self.initialized.fill_(True)

    def point(self) -> int:
        return self._iw()[1]

    def set_point(self, p: int) -> None:
        self.set_int_bits(int(p))

    def point_for_max(self, max_abs: float) -> int:
        return minmax_int_bits(max_abs, self.signed)

    def bit_cost(self) -> torch.Tensor:
        """Differentiable width for a hardware-cost penalty (a constant when W is static).

        Its value is I + F, but only F (the precision) receives the penalty's gradient: the range (I) is
        left to the task loss, which sees what clipping costs."""
        if self.learn_width:
            return self.int_bits.detach().sum() + self.frac_bits.sum()
        return self.width_.sum()

    def wrap_floor(self, x: torch.Tensor) -> None:
        """Training with a WRAP format whose binary point comes from data (learned or first-batch): raise I
        so that every value of ``x`` fits. A wrapped value lands far from the data (a large positive
        pre-activation becomes negative), so a WRAP range that shrinks below the data collapses training
        (MLP 16-64-32-32-5, WRAP pre-activations: 23 % against 93 % with SAT); the learned-I gradient of
        wrapped values cannot repair it. A user-fixed I is left alone."""
        if self.overflow != "WRAP" or not self.calibratable or not x.numel():
            return
        m = float(x.detach().abs().max())
        if not math.isfinite(m):
            return
        w, i = self._iw()
        need = max(i, minmax_int_bits(m, self.signed))
        while m * 2.0 ** (w - need) > _fixed_format(w, need, self.signed, self.rounding, "WRAP").raw_max + 0.5:
            need += 1  # the rounded maximum must not reach the wrap point
        if need > i:
            self.set_int_bits(need)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.initialized):
            self.observe(x)
        if self.learn_width:
            self.stored_elements = int(x[0].numel() if self.per_sample and x.dim() > 1 else x.numel())
        if self.training and self.overflow == "WRAP":
            self.wrap_floor(x)
        fmt = self.fmt()
        if not (self.training and self.learn_int_bits) or not torch.is_grad_enabled():
            return _FixedSTE.apply(x, None, None, fmt, 1.0, False)
        gscale = 1.0 if self.learn_width else 1.0 / math.sqrt(max(x.numel(), 1) * max(fmt.raw_max, 1))
        return _FixedSTE.apply(
            x, self.int_bits, self.frac_bits if self.learn_width else None, fmt, gscale, self.learn_width
        )


# --------------------------------------------------------------------------------------- CSD / powers of two
@lru_cache(maxsize=64)
def csd_grid(width: int, signed: bool, digits: int) -> np.ndarray:
    """Sorted raw integers of ``fixed<width,*>`` with at most ``digits`` non-zero CSD digits."""
    if width > 20:
        raise ValueError(f"csd weights: width {width} too large (at most 20 bits)")
    lo = -(1 << (width - 1)) if signed else 0
    hi = (1 << (width - 1)) - 1 if signed else (1 << width) - 1
    vals = np.arange(lo, hi + 1, dtype=np.int64)
    return vals[csd_digit_count(vals) <= digits]


def project_to_grid(y: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Nearest grid value to each element of ``y`` (units of the LSB); ties go to the smaller magnitude."""
    idx = torch.bucketize(y, grid).clamp(1, len(grid) - 1)
    lo, hi = grid[idx - 1], grid[idx]
    dlo, dhi = (y - lo).abs(), (hi - y).abs()
    pick_hi = (dhi < dlo) | ((dhi == dlo) & (hi.abs() < lo.abs()))
    out = torch.where(pick_hi, hi, lo)
    return torch.where(y <= grid[0], grid[0], torch.where(y >= grid[-1], grid[-1], out))


class _GridSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, grid, frac_bits: int, gscale: float):
        dtype = torch.float64 if x.dtype == torch.float64 else x.dtype
        y = x.to(dtype) * (2.0**frac_bits)
        q = project_to_grid(y, grid.to(dtype))
        inside = (y >= grid[0]) & (y <= grid[-1])
        ctx.save_for_backward(inside)
        return q * (2.0**-frac_bits)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return g * inside.to(g.dtype), None, None, None


class CSDQuantizer(Quantizer):
    """Weights in ``fixed<W,I>`` with at most ``digits`` non-zero signed digits (1 = powers of two).

    Forward: nearest value of that set (ties to the smaller magnitude), STE gradient inside the range.
    ``digits`` may be changed between epochs (a digit-count schedule: start wider, end at the target).
    I is set by ``observe`` (min/max of the weights) unless given.
    """

    kind = "csd"

    def __init__(self, width: int, digits: int, int_bits: int | None = None, signed: bool = True) -> None:
        super().__init__()
        if digits < 1:
            raise ValueError(f"csd quantiser: digits must be >= 1, got {digits}")
        FixedFormat(int(width), 0 if int_bits is None else int(int_bits), signed)
        self.width, self.signed, self.digits, self.target_digits = int(width), signed, int(digits), int(digits)
        self.register_buffer("initialized", torch.tensor(int_bits is not None))
        self.calibratable = int_bits is None
        self.register_buffer("int_bits", torch.tensor([float(0 if int_bits is None else int_bits)]))

    def fmt(self):
        """``csd<W,I,digits>`` (hwq.formats.CsdFormat) with the current digit limit."""
        if not bool(self.initialized):
            raise RuntimeError("csd quantiser has no binary point yet")
        from hwq.formats import CsdFormat

        return CsdFormat(self.width, int(self.int_bits.item()), self.digits, self.signed)

    def point(self) -> int:
        return int(self.int_bits.item())

    def set_point(self, p: int) -> None:
        with torch.no_grad():
            self.int_bits.fill_(float(p))
            self.initialized.fill_(True)

    def point_for_max(self, max_abs: float) -> int:
        return minmax_int_bits(max_abs, self.signed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.initialized):
            self.observe(x)
        fmt = self.fmt()
        grid = torch.from_numpy(csd_grid(self.width, self.signed, self.digits).astype(np.float64))
        return _GridSTE.apply(x, grid, fmt.frac_bits, 1.0)


# --------------------------------------------------------------------------------------- minifloat
#: minifloat encoding policies (as hwq.formats.FloatFormat): which top codes are not finite numbers
MINIFLOAT_POLICIES = ("ieee", "fn", "fnuz", "finite")


def default_policy(exp_bits: int) -> str:
    """ml_dtypes' convention: ``fn`` (e4m3fn, e5m2fn...) for E >= 4, ``finite`` (e3m2fn, e2m1fn) below."""
    return "fn" if exp_bits >= 4 else "finite"


def minifloat_values(exp_bits: int, man_bits: int, bias: int, policy: str = "fn") -> np.ndarray:
    """All non-negative finite values of float<E,M> (exponent bias ``bias``, with subnormals), ascending,
    as float64; index k is the value of magnitude code k.

    policy: ``ieee`` (exponent all ones is inf/NaN), ``fn`` (only the all-ones magnitude is NaN),
    ``fnuz`` / ``finite`` (every magnitude code is a number).
    """
    if policy not in MINIFLOAT_POLICIES:
        raise ValueError(f"unknown minifloat policy {policy!r}; expected one of {', '.join(MINIFLOAT_POLICIES)}")
    vals = []
    top_e, top_m = (1 << exp_bits) - 1, (1 << man_bits) - 1
    for e in range(1 << exp_bits):
        for m in range(1 << man_bits):
            if policy == "ieee" and e == top_e:
                continue
            if policy == "fn" and e == top_e and m == top_m:
                continue
            if e == 0:
                v = m * 2.0 ** (1 - bias - man_bits)
            else:
                v = (1 + m / (1 << man_bits)) * 2.0 ** (e - bias)
            vals.append(v)
    return np.array(vals)


class _MinifloatSTE(torch.autograd.Function):
    """Round |x| to the nearest of the non-negative values ``v`` (code order), ties to the even code,
    saturate at v[-1], restore the sign. STE gradient inside the range."""

    @staticmethod
    def forward(ctx, x, v):
        dtype = torch.float64 if x.dtype == torch.float64 else x.dtype
        v = v.to(dtype)
        a = x.to(dtype).abs()
        idx = torch.bucketize(a, v).clamp(1, len(v) - 1)  # v[idx-1] < a <= v[idx]
        lo, hi = v[idx - 1], v[idx]
        dlo, dhi = a - lo, hi - a
        hi_even = (idx % 2) == 0
        pick_hi = (dhi < dlo) | ((dhi == dlo) & hi_even)
        m = torch.where(pick_hi, hi, lo)
        m = torch.where(a >= v[-1], v[-1], m)
        inside = a <= v[-1]
        ctx.save_for_backward(inside)
        return torch.where(x < 0, -m, m)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return g * inside.to(g.dtype), None


class MinifloatQuantizer(Quantizer):
    """``float<E,M>`` (sign + E exponent + M mantissa bits, subnormals, saturating, round to nearest even).

    bias: exponent bias, or None to calibrate it from the first batch (largest value just covered);
    learn_bias: adjust the bias during training from the clipping/rounding error (like a learned binary
    point). policy: which top codes are numbers (``fn`` for E >= 4, else ``finite``, as ml_dtypes).
    """

    kind = "float"

    def __init__(
        self,
        exp_bits: int,
        man_bits: int,
        bias: int | None = None,
        learn_bias: bool = False,
        policy: str | None = None,
    ) -> None:
        super().__init__()
        if exp_bits < 1 or man_bits < 0:
            raise ValueError(f"float<{exp_bits},{man_bits}>: need E >= 1 and M >= 0")
        self.exp_bits, self.man_bits = int(exp_bits), int(man_bits)
        self.policy = policy or default_policy(self.exp_bits)
        minifloat_values(1, 0, 0, self.policy)  # validates the policy
        self.learn_bias = bool(learn_bias)
        self.register_buffer("initialized", torch.tensor(bias is not None))
        self.calibratable = bias is None or self.learn_bias
        b0 = torch.tensor([float(bias if bias is not None else (1 << (exp_bits - 1)) - 1)])
        if learn_bias:
            self.bias = nn.Parameter(b0)
        else:
            self.register_buffer("bias", b0)

    def _bias(self) -> int:
        return int(torch.round(self.bias.detach()).item())

    def values(self) -> np.ndarray:
        return minifloat_values(self.exp_bits, self.man_bits, self._bias(), self.policy)

    def fmt(self):
        """The ``FloatFormat`` (RNE; the IR saturates minifloat casts) with the current exponent bias."""
        from hwq.formats import FloatFormat

        return FloatFormat(self.exp_bits, self.man_bits, self.policy, self._bias())

    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    def point(self) -> int:
        return -self._bias()

    def set_point(self, p: int) -> None:
        with torch.no_grad():
            self.bias.fill_(float(-p))
            self.initialized.fill_(True)

    def point_for_max(self, max_abs: float) -> int:
        """-bias of the smallest range whose largest value is >= max_abs."""
        if not math.isfinite(max_abs) or max_abs <= 0:
            return -((1 << (self.exp_bits - 1)) - 1)
        top = minifloat_values(self.exp_bits, self.man_bits, 0, self.policy).max()
        return -int(math.floor(math.log2(top / max_abs)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.initialized):
            self.observe(x)
        v = self.values()
        q = _MinifloatSTE.apply(x, torch.from_numpy(v))
        if self.learn_bias and self.training and torch.is_grad_enabled():
            # q = 2**-b * Q0(x * 2**b): dq/db = ln2 * (x - q) inside the range, -ln2 * q where clipped
            inside = x.detach().abs() <= float(v.max())
            d = torch.where(inside, LN2 * (x.detach() - q.detach()), -LN2 * q.detach())
            gscale = 1.0 / math.sqrt(max(x.numel(), 1))
            q = q + (self.bias - self.bias.detach()) * d * gscale
        return q
