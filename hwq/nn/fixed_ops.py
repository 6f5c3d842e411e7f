"""Exact ap_fixed rounding and overflow on float torch tensors (no autograd; the quantisers add it).

A float tensor ``y`` holds values in units of the target LSB (``y = x * 2**F``, exact because the
scale is a power of two). ``round_lsb`` rounds it to integers with an ap_fixed rounding mode and
``overflow_lsb`` applies an overflow mode to the integers ``[raw_min, raw_max]``. Both are exact for
every finite float: the rounding decision looks only at ``y - floor(y)``, which is exact, just as
``hwq.formats.fixed`` decides from the dropped bits. The results equal ``FixedFormat.to_raw``.
"""

from __future__ import annotations

import torch

from hwq.formats import FixedFormat

#: integers of this many bits (incl. sign) are exact in the dtype
_MANT_BITS = {torch.float64: 53, torch.float32: 24, torch.float16: 11, torch.bfloat16: 8}


def round_lsb(y: torch.Tensor, rounding: str) -> torch.Tensor:
    """Round float values ``y`` (units of the target LSB) to integral floats with an ap_fixed mode.

    TRN floor; TRN_ZERO toward 0; RND ties +inf; RND_ZERO ties toward 0; RND_INF ties away from 0;
    RND_MIN_INF ties -inf; RND_CONV ties to even. Exact for every finite float.
    """
    if rounding == "TRN":
        return torch.floor(y)
    if rounding == "TRN_ZERO":
        return torch.trunc(y)
    if rounding == "RND_CONV":
        return torch.round(y)  # IEEE round-half-even: exact
    f = torch.floor(y)
    d = y - f  # exact: f and y share the exponent range
    if rounding == "RND":
        return f + (d >= 0.5).to(y.dtype)
    if rounding == "RND_MIN_INF":
        return f + (d > 0.5).to(y.dtype)
    if rounding == "RND_ZERO":
        return f + ((d > 0.5) | ((d == 0.5) & (y < 0))).to(y.dtype)
    if rounding == "RND_INF":
        return f + ((d > 0.5) | ((d == 0.5) & (y > 0))).to(y.dtype)
    raise ValueError(f"unknown rounding mode {rounding!r}")


def overflow_lsb(r: torch.Tensor, fmt: FixedFormat) -> torch.Tensor:
    """Apply ``fmt``'s overflow mode to integral floats ``r`` (units of fmt's LSB)."""
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


def exact_dtype(bits: int) -> torch.dtype:
    """The float dtype that holds every integer of ``bits`` bits (incl. sign) exactly."""
    if bits <= 24:
        return torch.float32
    if bits <= 53:
        return torch.float64
    raise ValueError(f"{bits}-bit intermediate values cannot be emulated exactly in float64 (limit 53 bits)")


def quantize_fixed_raw(x: torch.Tensor, fmt: FixedFormat) -> torch.Tensor:
    """Raw integers (as floats) of ``fmt`` for real values ``x``: ``overflow(round(x * 2**F))``."""
    y = x * (2.0**fmt.frac_bits) if fmt.frac_bits else x  # power of two: exact
    return overflow_lsb(round_lsb(y, fmt.rounding), fmt)


def quantize_fixed(x: torch.Tensor, fmt: FixedFormat) -> torch.Tensor:
    """Real values of ``x`` quantised to ``fmt`` (same dtype as ``x``; exact while W fits its mantissa)."""
    if fmt.width > _MANT_BITS.get(x.dtype, 0):
        x = x.double()
    r = quantize_fixed_raw(x, fmt)
    return r * (2.0**-fmt.frac_bits) if fmt.frac_bits else r
