"""Result formats of exact arithmetic, as ap_fixed's operators give them (full precision, no rounding).

For ``a = fixed<W1,I1>`` (signedness S1, fractional bits F1 = W1 - I1) and ``b = fixed<W2,I2>``:

    a * b   fixed<W1+W2, I1+I2>,                 signed if S1 or S2
    a + b   I = max(I1 + (S2 and not S1), I2 + (S1 and not S2)) + 1,  F = max(F1, F2),  signed if S1 or S2
    a - b   same width as a + b, always signed

(``ap_fixed_base::RType``). Results use TRN/WRAP modes: the exact result never overflows them.
Minifloat and CSD operands are first widened to the smallest fixed format that holds every value
(``as_fixed``), which is how the interpreter multiplies them (exact products at a common scale).
``accumulator_format`` sizes a lossless accumulator for a sum of n products (plus an optional bias).
"""

from __future__ import annotations

import math

import numpy as np

from .fixed import FixedFormat


def as_fixed(fmt) -> FixedFormat:
    """The smallest ``fixed``/``ufixed`` (TRN, WRAP) holding every value of ``fmt`` exactly.

    FixedFormat: itself with TRN/WRAP modes. Other kinds (minifloat, CSD, power-of-two int): from their
    ``frac_bits`` and raw range.
    """
    if isinstance(fmt, FixedFormat):
        return FixedFormat(fmt.width, fmt.int_bits, fmt.signed)
    lo, hi = int(fmt.raw_min), int(fmt.raw_max)
    return fixed_for_range(lo, hi, fmt.frac_bits)


def fixed_for_range(raw_lo: int, raw_hi: int, frac_bits: int) -> FixedFormat:
    """The narrowest fixed (signed iff raw_lo < 0) with ``frac_bits`` holding the raw range [raw_lo, raw_hi]."""
    if raw_lo > raw_hi:
        raise ValueError(f"empty range [{raw_lo}, {raw_hi}]")
    signed = raw_lo < 0
    if signed:
        w = max((raw_hi).bit_length(), (-raw_lo - 1).bit_length()) + 1
    else:
        w = max(raw_hi.bit_length(), 1)
    return FixedFormat(w, w - frac_bits, signed)


def _signed_of(fmt) -> bool:
    return bool(getattr(fmt, "signed", True)) if isinstance(fmt, FixedFormat) else int(fmt.raw_min) < 0


def mul_format(a, b) -> FixedFormat:
    """Full-precision product format of ``a * b`` (ap_fixed rule); any formats with frac_bits."""
    fa, fb = as_fixed(a), as_fixed(b)
    return FixedFormat(fa.width + fb.width, fa.int_bits + fb.int_bits, fa.signed or fb.signed)


def _sum_int_bits(fa: FixedFormat, fb: FixedFormat) -> int:
    return max(fa.int_bits + (fb.signed and not fa.signed), fb.int_bits + (fa.signed and not fb.signed)) + 1


def add_format(a, b) -> FixedFormat:
    """Full-precision sum format of ``a + b`` (ap_fixed rule)."""
    fa, fb = as_fixed(a), as_fixed(b)
    i = _sum_int_bits(fa, fb)
    f = max(fa.frac_bits, fb.frac_bits)
    return FixedFormat(i + f, i, fa.signed or fb.signed)


def sub_format(a, b) -> FixedFormat:
    """Full-precision difference format of ``a - b`` (ap_fixed rule: always signed)."""
    fa, fb = as_fixed(a), as_fixed(b)
    i = _sum_int_bits(fa, fb)
    f = max(fa.frac_bits, fb.frac_bits)
    return FixedFormat(i + f, i, True)


def accumulator_format(
    x_fmt,
    w_fmt,
    n_terms: int,
    bias_fmt=None,
    weight_raw=None,
    rounding: str = "TRN",
    overflow: str = "WRAP",
) -> FixedFormat:
    """A lossless accumulator for ``bias + sum_{i<n} x_i * w_i`` (every partial sum fits; no overflow).

    Without ``weight_raw``: n terms each in [min(0, min x*w), max(0, max x*w)] over the full operand
    ranges, plus the bias range, at ``F = max(F_x + F_w, F_bias)`` fractional bits. With ``weight_raw``
    (int array, last axis = the n terms, in units of ``w_fmt``'s LSB; other axes = outputs): per output,
    term i lies in [min(0, w_i*x_lo, w_i*x_hi), max(0, ...)], the tightest lossless choice for those
    weights. Each term's interval contains 0, so every partial sum of any in-order accumulation (bias
    first, as hls4ml does) lies in the same range: no partial sum can overflow.
    """
    if n_terms < 1:
        raise ValueError(f"accumulator_format: n_terms must be >= 1, got {n_terms}")
    fx, fw = as_fixed(x_fmt), as_fixed(w_fmt)
    xlo, xhi = fx.raw_min, fx.raw_max
    f = fx.frac_bits + fw.frac_bits
    if weight_raw is None:
        wlo, whi = fw.raw_min, fw.raw_max
        prods = [xlo * wlo, xlo * whi, xhi * wlo, xhi * whi]
        neg, pos = n_terms * min(0, min(prods)), n_terms * max(0, max(prods))
    else:
        w = np.asarray(weight_raw).astype(object).reshape(-1, np.shape(weight_raw)[-1])
        if w.shape[1] != n_terms:
            raise ValueError(f"accumulator_format: weight_raw has {w.shape[1]} terms per output, n_terms={n_terms}")
        neg, pos = 0, 0
        for row in w:
            lo_row = sum(min(0, int(v) * xlo, int(v) * xhi) for v in row)
            hi_row = sum(max(0, int(v) * xlo, int(v) * xhi) for v in row)
            neg, pos = min(neg, lo_row), max(pos, hi_row)
    if bias_fmt is not None:
        fbias = as_fixed(bias_fmt)
        fb = fbias.frac_bits
        if fb > f:
            neg, pos, f = neg << (fb - f), pos << (fb - f), fb
            blo, bhi = fbias.raw_min, fbias.raw_max
        else:
            blo, bhi = fbias.raw_min << (f - fb), fbias.raw_max << (f - fb)
        neg, pos = neg + min(0, blo), pos + max(0, bhi)
    acc = fixed_for_range(min(neg, 0), pos, f)
    signed = acc.signed or _signed_of(x_fmt) or _signed_of(w_fmt)
    width = acc.width + (1 if signed and not acc.signed else 0)
    return FixedFormat(width, width - f, signed, rounding, overflow)


def log2_accumulator_format(x_fmt, w_fmt, n_terms: int) -> FixedFormat:
    """The common rule of thumb ``W = W_x + W_w + ceil(log2 n)`` (signed, same F as the product)."""
    p = mul_format(x_fmt, w_fmt)
    extra = math.ceil(math.log2(n_terms)) if n_terms > 1 else 0
    return FixedFormat(p.width + extra, p.int_bits + extra, p.signed)
