"""Independent exact oracles for the format tests: plain Python ints and fractions.Fraction only.

Written from the specifications (ap_fixed's documented modes, IEEE-style minifloat definitions), not from
hwq's code: no numpy, no shifting tricks, one value at a time.
"""

from __future__ import annotations

import bisect
import math
from fractions import Fraction


def round_fraction(v: Fraction, mode: str) -> int:
    """Round an exact rational to an integer with an ap_fixed rounding mode."""
    fl = math.floor(v)
    frac = v - fl
    half = Fraction(1, 2)
    if mode == "TRN":
        return fl
    if mode == "TRN_ZERO":
        return fl if v >= 0 or frac == 0 else fl + 1
    if frac != half:
        return fl + (1 if frac > half else 0)
    # exact tie between fl and fl + 1
    return {
        "RND": fl + 1,  # toward +inf
        "RND_ZERO": fl + 1 if v < 0 else fl,  # toward zero
        "RND_INF": fl + 1 if v > 0 else fl,  # away from zero
        "RND_MIN_INF": fl,  # toward -inf
        "RND_CONV": fl + (fl % 2),  # to even
    }[mode]


def fixed_bounds(width: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(2 ** (width - 1)), 2 ** (width - 1) - 1
    return 0, 2**width - 1


def overflow_int(n: int, width: int, signed: bool, mode: str) -> int:
    """Apply an ap_fixed overflow mode to an integer at the target LSB."""
    lo, hi = fixed_bounds(width, signed)
    if lo <= n <= hi and not (mode == "SAT_SYM" and signed and width > 1 and n == lo):
        return n
    if mode == "WRAP":
        m = n % 2**width
        return m - 2**width if signed and m > hi else m
    if mode == "SAT_ZERO":
        return 0
    if mode == "SAT":
        return hi if n > hi else lo
    if mode == "SAT_SYM":
        if not signed or width == 1:
            return hi if n > hi else lo
        return hi if n > hi else -hi
    raise ValueError(mode)


def fixed_oracle(value: Fraction, width: int, int_bits: int, signed: bool, q: str, o: str) -> int:
    """Raw integer of ``value`` converted to fixed<width,int_bits,q,o> (exact)."""
    scaled = value * Fraction(2) ** (width - int_bits)
    return overflow_int(round_fraction(scaled, q), width, signed, o)


def minifloat_values(exp_bits: int, man_bits: int, bias: int, max_code: int, subnormals: bool = True):
    """Every non-negative finite value (Fraction) of a minifloat, indexed by magnitude code 0..max_code."""
    out = []
    for code in range(max_code + 1):
        e, m = divmod(code, 2**man_bits)
        if e == 0:
            v = Fraction(m, 2**man_bits) * Fraction(2) ** (1 - bias) if subnormals else Fraction(0)
        else:
            v = (1 + Fraction(m, 2**man_bits)) * Fraction(2) ** (e - bias)
        out.append(v)
    return out


def minifloat_rne(value: Fraction, values: list[Fraction]) -> tuple[Fraction, bool]:
    """Round |value| to the nearest of ``values`` (ascending, indexed by code), ties to the even code.

    Returns (magnitude, overflowed), where overflow means the value rounds beyond the largest value:
    with a virtual next value at max + spacing(max) in the same binade pattern (as IEEE defines).
    """
    a = abs(value)
    top = values[-1]
    # the virtual next value above max: the next code's value if the binade continued
    spacing = top - values[-2]
    nxt = top + spacing
    if a >= nxt:
        return top, True
    cands = values + [nxt]
    i = bisect.bisect_left(cands, a)  # cands[i-1] < a <= cands[i]
    best = None
    for code in (i - 1, i):
        if not 0 <= code < len(cands):
            continue
        v = cands[code]
        d = abs(a - v)
        if best is None or d < best[0] or (d == best[0] and code % 2 == 0):
            best = (d, code, v)
    _, code, v = best
    return (top, True) if code == len(values) else (v, False)
