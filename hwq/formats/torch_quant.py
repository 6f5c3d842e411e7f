"""Bit-exact quantisers for torch tensors (CPU, any float dtype), and straight-through-estimator variants.

The only module of ``hwq.formats`` that imports torch. Every function here returns exactly the values
of the numpy path, ``fmt.quantize(x.numpy())`` (fixed, CSD, affine int: ``fmt.from_raw(fmt.to_raw(x))``),
for every input value, including ties, far out-of-range values, subnormals and +-inf:

    quantize_tensor(x, fmt, out=None)      real values on fmt's grid (dtype: see below)
    quantize_tensor_raw(x, fmt)            int64 raw integers (units of fmt's LSB), as ``fmt.to_raw``
    ste_quantize(x, fmt, clip_grad=True)   forward = quantize_tensor; backward = straight-through
                                           (gradient 1 inside [fmt.min, fmt.max], 0 outside with clip_grad)

Output dtype: ``x.dtype`` when every value of the format is exactly representable in it (checked),
otherwise float64. ``out=`` (preallocated, same shape, that dtype) avoids allocation; it may be ``x``.

Fast paths (elementwise torch ops, exact by construction, run over chunks of ``CHUNK`` elements so that
their passes hit cache; everything else goes through numpy):
- fixed point with SAT or SAT_SYM, F >= 0, W within the dtype's mantissa: clamp, then round (clamping
  to the bounds first commutes with every monotone rounding mode), scaling by powers of two (exact);
  floor/trunc/round for TRN/TRN_ZERO/RND_CONV, and an exact two-step form for the directed-tie modes
  (``floor(y + 0.5)`` is NOT exact in floating point: 0.5 - 2**-25 + 0.5 rounds to 1.0 in float32;
  ``ceil(floor(2y) / 2)`` is exact). 4 passes for RND_CONV, 6 for RND.
- minifloats with RNE from float32/float64: per-element magic-constant rounding, ``(x + K) - K`` with
  ``K = 1.5 * 2**(p + g)`` built from x's exponent bits (g = the target spacing exponent, p = the dtype's
  mantissa bits), then overflow by scaling so that exactly the values beyond max become inf (ieee, fnuz),
  a clamp (saturating) or a NaN fill (fn).
- CSD (W <= 16): ``floor(4y) + ceil(4y)`` locates y against every midpoint of the value set (midpoints
  lie on the half-LSB grid); a table indexed by it holds the nearest value.

NaN: fixed/int/CSD formats raise ValueError on NaN unless ``nan="zero"`` (NaN -> 0) or ``nan="propagate"``
(fast: NaN in -> NaN out, no check); minifloats follow their policy (NaN out where the format has NaN).
Stochastic rounding (``SR`` minifloats) uses the numpy path with the same ``seed``/generator, so it is
bit-identical to ``FloatFormat.quantize(..., seed=seed)``.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from .csd import CsdFormat, nearest_in_set
from .fixed import FixedFormat
from .minifloat import FloatFormat

# dtype -> (mantissa bits p, exponent bits, int view dtype, min normal exponent)
_FLOAT_INFO = {
    torch.float16: (10, 5, torch.int16, -14),
    torch.bfloat16: (7, 8, torch.int16, -126),
    torch.float32: (23, 8, torch.int32, -126),
    torch.float64: (52, 11, torch.int64, -1022),
}


def _exact_in(fmt, dtype: torch.dtype) -> bool:
    """True when every finite value of ``fmt`` is exactly representable in ``dtype``."""
    p, ebits, _, emin = _FLOAT_INFO[dtype]
    emax = (1 << (ebits - 1)) - 1
    lsb_exp = -fmt.frac_bits  # every value is a multiple of 2**lsb_exp
    if lsb_exp < emin - p:
        return False
    top = max(abs(int(fmt.raw_min)), abs(int(fmt.raw_max)))
    if isinstance(fmt, FloatFormat):
        sig_bits = fmt.man_bits + 1
    else:
        sig_bits = top.bit_length()
    if sig_bits > p + 1:
        return False
    return top.bit_length() + lsb_exp <= emax  # |value| < 2**(emax+1)


def _out_dtype(fmt, x: torch.Tensor) -> torch.dtype:
    if x.dtype in _FLOAT_INFO and _exact_in(fmt, x.dtype):
        return x.dtype
    return torch.float64


def quantize_tensor(x: torch.Tensor, fmt, out: torch.Tensor | None = None, nan: str = "raise", seed: int = 0):
    """Round a float tensor to ``fmt``'s values, bit-identical to the numpy path (see module docstring).

    ``fmt``: a format object (fixed, float, csd, int) or its string. ``out``: optional preallocated result.
    Returns a tensor of real values (no gradient; use ``ste_quantize`` for training).
    """
    from .parse import parse

    fmt = parse(fmt)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fmt}: quantize_tensor expects a torch.Tensor, got {type(x).__name__}")
    if x.device.type != "cpu":
        raise ValueError(f"{fmt}: quantize_tensor runs on CPU tensors, got device {x.device}")
    if not x.is_floating_point():
        x = x.to(torch.float64)
    dtype = _out_dtype(fmt, x)
    if out is not None and (out.shape != x.shape or out.dtype != dtype):
        raise ValueError(
            f"{fmt}: out must have shape {tuple(x.shape)} and dtype {dtype}, got {tuple(out.shape)} {out.dtype}"
        )
    if out is not None and not out.is_contiguous():
        res = quantize_tensor(x, fmt, nan=nan, seed=seed)
        return out.copy_(res)
    with torch.no_grad():
        xd = x.detach().contiguous()
        if isinstance(fmt, FixedFormat) and _fixed_fast_ok(fmt, xd, dtype):
            return _chunked(_fixed_fast, xd, out, fmt, nan)
        if isinstance(fmt, CsdFormat) and _csd_fast_ok(fmt, xd, dtype):
            return _chunked(_csd_fast, xd, out, fmt, "raise" if nan == "propagate" else nan)
        if (
            isinstance(fmt, FloatFormat)
            and fmt.rounding == "RNE"
            and xd.dtype in (torch.float32, torch.float64)
            and dtype == xd.dtype
            and _float_fast_ok(fmt, xd.dtype)
        ):
            return _chunked(_float_fast, xd, out, fmt, nan)
        return _numpy_path(xd, fmt, out, dtype, nan, seed)


#: Elements per chunk of the fast paths: their 4-7 elementwise passes then run on cache-resident data
#: (2**18 float32 = 1 MiB per buffer), so memory traffic is close to one read and one write.
CHUNK = 1 << 18


def _chunked(fn, x: torch.Tensor, out: torch.Tensor | None, fmt, nan: str) -> torch.Tensor:
    """Run a fast path ``fn(x_chunk, fmt, out_chunk, nan)`` over contiguous chunks of x into ``out``."""
    if out is None:
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
    xf, of = x.view(-1), out.view(-1)
    for i in range(0, xf.numel(), CHUNK):
        fn(xf[i : i + CHUNK], fmt, of[i : i + CHUNK], nan)
    return out


def quantize_tensor_raw(x: torch.Tensor, fmt, nan: str = "raise", seed: int = 0) -> torch.Tensor:
    """int64 raw integers of ``x`` in ``fmt`` (units of its LSB), equal to ``fmt.to_raw(x.numpy())``.

    Minifloats: overflow saturates (the raw protocol has no inf/NaN), as ``FloatFormat.to_raw``.
    """
    from .parse import parse

    fmt = parse(fmt)
    arr = x.detach().cpu().to(torch.float64).numpy()
    kw = {"seed": seed} if isinstance(fmt, FloatFormat) else {}
    raw = fmt.to_raw(arr, nan=nan, **kw)
    if raw.dtype == object:
        raise ValueError(f"{fmt}: raw integers exceed int64; use fmt.to_raw on numpy arrays")
    return torch.from_numpy(np.ascontiguousarray(raw, dtype=np.int64))


# ---------------------------------------------------------------------------- straight-through estimator
class _SteQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fmt, clip_grad, nan, seed):
        q = quantize_tensor(x, fmt, nan=nan, seed=seed)
        if clip_grad:
            lo, hi = fmt.min, fmt.max
            ctx.save_for_backward((x >= lo) & (x <= hi))
        ctx.clip_grad = clip_grad
        ctx.in_dtype = x.dtype
        return q

    @staticmethod
    def backward(ctx, grad):
        g = grad.to(ctx.in_dtype)
        if ctx.clip_grad:
            (inside,) = ctx.saved_tensors
            g = g * inside
        return g, None, None, None, None


def ste_quantize(x: torch.Tensor, fmt, clip_grad: bool = True, nan: str = "raise", seed: int = 0) -> torch.Tensor:
    """Quantise with a straight-through gradient. Forward value: exactly ``quantize_tensor(x, fmt)``.

    Backward: ``dL/dx = dL/dq`` where ``fmt.min <= x <= fmt.max`` and 0 outside when ``clip_grad`` (the
    clipped STE of QAT); ``clip_grad=False`` passes the gradient everywhere. Gradients are in x's dtype.
    """
    from .parse import parse

    return _SteQuantize.apply(x, parse(fmt), clip_grad, nan, seed)


# ---------------------------------------------------------------------------- fixed point fast path
def _fixed_fast_ok(fmt: FixedFormat, x: torch.Tensor, dtype: torch.dtype) -> bool:
    if fmt.overflow not in ("SAT", "SAT_SYM") or x.dtype != dtype or dtype not in _FLOAT_INFO:
        return False
    p, ebits, _, _ = _FLOAT_INFO[dtype]
    f = fmt.frac_bits
    # F >= 0: scaling up by 2**(F+1) never loses bits (overflow to inf is then clamped);
    # 2*raw bounds must be exact integers in the dtype.
    return 0 <= f and f + 2 < (1 << (ebits - 1)) - 1 and fmt.width + 1 <= p


def _fixed_fast(x: torch.Tensor, fmt: FixedFormat, out, nan: str, raw: bool = False) -> torch.Tensor:
    """Fixed-point quantisation in elementwise torch ops; ``raw=True`` stops at the raw integers (as floats)."""
    lo, hi = fmt.raw_min, fmt.raw_max
    if fmt.overflow == "SAT_SYM" and fmt.signed and fmt.width > 1:
        lo = -hi
    f = fmt.frac_bits
    q = fmt.rounding
    if nan not in ("raise", "zero", "propagate"):
        raise ValueError(f"nan option must be 'raise', 'zero' or 'propagate', got {nan!r}")
    step = 2.0**-f
    # clamp first (to the real bounds; exact, and commutes with every monotone rounding), then round
    r = torch.clamp(x, lo * step, hi * step, out=out) if out is not None else torch.clamp(x, lo * step, hi * step)
    round_lsb_(r, q, f)
    if not raw:
        r.mul_(step)
    # NaN survives clamp and rounding; a sum is a cheap read-only probe (the bounded values cannot sum to NaN
    # unless partial sums overflow both ways, in which case the exact test below decides).
    if nan != "propagate" and torch.isnan(r.sum()) and torch.isnan(r).any():
        if nan == "raise":
            raise ValueError(f"{fmt}: NaN input cannot be quantised (pass nan='zero' or nan='propagate')")
        r.nan_to_num_(nan=0.0)
    return r


# ---------------------------------------------------------------------------- exact rounding in LSB units
#: integers of this many bits (incl. sign) are exact in the dtype
MANT_BITS = {torch.float64: 53, torch.float32: 24, torch.float16: 11, torch.bfloat16: 8}


def round_lsb_(r: torch.Tensor, rounding: str, exp: int = 0) -> torch.Tensor:
    """In place: ``r = round(r * 2**exp)`` to integral floats with an ap_fixed rounding mode; returns ``r``.

    TRN floor; TRN_ZERO toward 0; RND ties +inf; RND_ZERO ties toward 0; RND_INF ties away from 0;
    RND_MIN_INF ties -inf; RND_CONV ties to even. Exact for every float as long as ``r * 2**(exp+1)``
    does not overflow the dtype (powers of two scale exactly). The directed-tie modes use
    ``floor(y + 1/2) = ceil(floor(2y) / 2)`` and ``ceil(y - 1/2) = floor(ceil(2y) / 2)``: ``y + 0.5``
    itself is NOT exact (0.5 - 2**-25 + 0.5 rounds to 1.0 in float32).
    """
    if rounding == "TRN":
        r.mul_(2.0**exp).floor_()
    elif rounding == "TRN_ZERO":
        r.mul_(2.0**exp).trunc_()
    elif rounding == "RND_CONV":
        r.mul_(2.0**exp).round_()  # IEEE round-half-even: exact
    elif rounding == "RND":
        r.mul_(2.0 ** (exp + 1)).floor_().mul_(0.5).ceil_()
    elif rounding == "RND_MIN_INF":
        r.mul_(2.0 ** (exp + 1)).ceil_().mul_(0.5).floor_()
    elif rounding == "RND_INF":  # ties away from zero: sign(y) * floor(|y| + 1/2)
        sign = torch.sign(r)
        r.abs_().mul_(2.0 ** (exp + 1)).floor_().mul_(0.5).ceil_().mul_(sign)
    elif rounding == "RND_ZERO":  # ties toward zero: sign(y) * ceil(|y| - 1/2)
        sign = torch.sign(r)
        r.abs_().mul_(2.0 ** (exp + 1)).ceil_().mul_(0.5).floor_().mul_(sign)
    else:
        raise ValueError(f"unknown rounding mode {rounding!r}")
    return r


def round_lsb(y: torch.Tensor, rounding: str) -> torch.Tensor:
    """``y`` (floats in units of the target LSB) rounded to integral floats with an ap_fixed mode (new tensor)."""
    return round_lsb_(y.clone(), rounding)


def overflow_lsb(r: torch.Tensor, fmt: FixedFormat) -> torch.Tensor:
    """Apply ``fmt``'s overflow mode to integral floats ``r`` (units of fmt's LSB); exact (new tensor)."""
    lo, hi = float(fmt.raw_min), float(fmt.raw_max)
    if fmt.overflow == "SAT":
        return torch.clamp(r, lo, hi)
    if fmt.overflow == "SAT_SYM":
        return torch.clamp(r, -hi if fmt.signed else lo, hi)
    if fmt.overflow == "SAT_ZERO":
        return torch.where((r < lo) | (r > hi), torch.zeros_like(r), r)
    if fmt.overflow == "WRAP":
        span = float(2**fmt.width)
        m = torch.remainder(r, span)  # exact, in [0, span); lo is a multiple of span or 0
        return torch.where(m > hi, m - span, m)
    raise ValueError(f"unknown overflow mode {fmt.overflow!r}")


# ---------------------------------------------------------------------------- CSD fast path
_CSD_TABLES: dict = {}


def _csd_fast_ok(fmt: CsdFormat, x: torch.Tensor, dtype: torch.dtype) -> bool:
    if x.dtype != dtype or dtype not in _FLOAT_INFO or fmt.width > 16:
        return False
    p, ebits, _, _ = _FLOAT_INFO[dtype]
    f = fmt.frac_bits
    return 0 <= f and f + 4 < (1 << (ebits - 1)) - 1 and fmt.width + 4 <= p


def _csd_fast(x: torch.Tensor, fmt: CsdFormat, out, nan: str) -> torch.Tensor:
    """num = floor(4y) + ceil(4y) locates y against every midpoint of the set (they lie on the half-LSB
    grid); a table indexed by num holds the nearest value (the same ``nearest_in_set`` as numpy)."""
    base = fmt.base
    lo, hi = base.raw_min, base.raw_max
    key = (fmt, x.dtype)
    vals = _CSD_TABLES.get(key)
    if vals is None:
        nums = np.arange(8 * lo, 8 * hi + 1, dtype=np.int64)
        table = nearest_in_set(nums, 3, fmt.digits, lo, hi)
        vals = torch.from_numpy(np.ldexp(table.astype(np.float64), -base.frac_bits)).to(x.dtype)
        _CSD_TABLES[key] = vals
    step = base.step
    r = torch.clamp(x, lo * step, hi * step, out=out) if out is not None else torch.clamp(x, lo * step, hi * step)
    if nan != "propagate" and torch.isnan(r.sum()) and torch.isnan(r).any():
        if nan == "raise":
            raise ValueError(f"{fmt}: NaN input cannot be quantised (pass nan='zero')")
        r.nan_to_num_(nan=0.0)
    r.mul_(4.0 / step)
    fl = torch.floor(r, out=_workspace(r.numel(), r.dtype).view(r.shape))
    r.ceil_().add_(fl)  # floor(4y) + ceil(4y), exact small integers
    idx = r.to(torch.int32).sub_(8 * lo)
    torch.index_select(vals, 0, idx.view(-1), out=r.view(-1))
    return r


# ---------------------------------------------------------------------------- minifloat fast path
def _float_fast_ok(fmt: FloatFormat, dtype: torch.dtype) -> bool:
    p, ebits, _, emin_d = _FLOAT_INFO[dtype]
    emax_d = (1 << (ebits - 1)) - 1
    emin = 1 - fmt.bias
    emax = fmt.raw_max.bit_length() - 1 - fmt.frac_bits  # binade of max
    return (
        fmt.man_bits + 2 < p
        and emin - fmt.man_bits > emin_d  # spacing is a normal power of two in the dtype
        and emax + 2 + p - fmt.man_bits < emax_d  # K stays finite
    )


_WORK = threading.local()


def _workspace(numel: int, dtype: torch.dtype) -> torch.Tensor:
    """A per-thread scratch buffer, reused across calls (avoids page faults of fresh large allocations)."""
    buf = getattr(_WORK, "buf", None)
    nbytes = numel * torch.empty((), dtype=dtype).element_size()
    if buf is None or buf.numel() < nbytes:
        buf = torch.empty(nbytes, dtype=torch.uint8)
        _WORK.buf = buf
    return buf[:nbytes].view(dtype)


def release_workspace() -> None:
    """Free this thread's scratch buffer (it grows to the largest minifloat tensor quantised)."""
    _WORK.buf = None


def _float_fast(x: torch.Tensor, fmt: FloatFormat, out, nan: str) -> torch.Tensor:
    p, ebits, itype, _ = _FLOAT_INFO[x.dtype]
    dbias = (1 << (ebits - 1)) - 1
    m = fmt.man_bits
    emin = 1 - fmt.bias
    emax = fmt.raw_max.bit_length() - 1 - fmt.frac_bits
    if fmt.policy == "finite" and nan != "zero" and torch.isnan(x).any():
        raise ValueError(f"{fmt}: has no NaN encoding; pass nan='zero' to map NaN to 0")
    if nan == "zero":
        x = torch.nan_to_num(x, nan=0.0, posinf=float("inf"), neginf=float("-inf"))
    # K = 1.5 * 2**(p + g), g = max(E(x), emin) - m, E clamped to emax + 1 (anything above overflows anyway)
    exp_mask = ((1 << ebits) - 1) << p
    xc = x.contiguous()
    kbits = _workspace(xc.numel(), itype).view(xc.shape)
    torch.bitwise_and(xc.view(itype), exp_mask, out=kbits)  # 2**E(x) as a float (0 for subnormals, inf)
    k = kbits.view(x.dtype).clamp_(2.0**emin, 2.0 ** (emax + 1))  # 2**max(E(x), emin), capped: exact
    c = 1.5 * 2.0 ** (p - m)  # K = c * k; c * k is exact, so x + c*k rounds once, as x + K
    r = torch.add(xc, k, alpha=c, out=out) if out is not None else torch.add(xc, k, alpha=c)
    r.sub_(k, alpha=c)
    max_v = fmt.max
    if fmt.satfinite:
        r.clamp_(-max_v, max_v)
    elif fmt.policy == "fn":  # overflow (the first value beyond max is not a power of two) -> NaN
        r.masked_fill_(r.abs() > max_v, float("nan"))
    else:
        # ieee / fnuz: the first value beyond max is 2**(emax+1); scale so that exactly it (and all
        # above) become inf, then scale back (exact for every finite value)
        up = 2.0 ** (dbias - emax)
        r.mul_(up)
        if fmt.policy == "ieee":
            r.mul_(1.0 / up)
        else:  # fnuz: overflow is NaN; inf - inf = NaN, finite - finite = 0
            t = torch.sub(r, r, out=k)
            r.mul_(1.0 / up).add_(t)
    if not fmt.subnormals:
        r.masked_fill_(r.abs() < fmt.smallest_normal, 0.0)
    if fmt.policy == "fnuz":
        r.add_(0.0)  # -0 -> +0
    return r


# ---------------------------------------------------------------------------- exact general path
def _numpy_path(x: torch.Tensor, fmt, out, dtype: torch.dtype, nan: str, seed: int) -> torch.Tensor:
    arr = x.cpu().to(torch.float64).numpy()
    if isinstance(fmt, FloatFormat):
        q = fmt.quantize(arr, nan="keep" if nan in ("raise", "propagate") else nan, seed=seed)
    else:
        if nan == "propagate":
            nan_mask = np.isnan(arr)
            q = fmt.quantize(np.where(nan_mask, 0.0, arr))
            q = np.where(nan_mask, np.nan, q)
        else:
            q = fmt.quantize(arr, nan=nan)
    res = torch.from_numpy(np.ascontiguousarray(q, dtype=np.float64)).to(dtype)
    if out is not None:
        out.copy_(res)
        return out
    return res
