"""Multiplier-free weights: fixed point restricted to at most k non-zero signed digits (CSD).

``csd<W,I,k>`` is ``fixed<W,I>`` whose raw integers have at most k non-zero digits in canonical signed
digit form (digits in {-1, 0, +1}, no two adjacent non-zero), so a product with such a weight is at most
k shifted adds/subtracts. ``k = 1`` gives signed powers of two (and 0); ``pow2<W,I>`` = ``csd<W,I,1>``.
``ucsd<W,I,k>`` is unsigned. W is at most 48.

Projection (``cast_raw``, ``to_raw``, ``quantize``): the EXACT input value goes to the nearest value of
the set (the raws in ``fixed<W,I>``'s range with at most k digits), saturating at the ends. Ties (an input
exactly midway between two neighbours of the set) go to the one with FEWER non-zero digits, then to the
one of smaller magnitude (toward zero). The set is symmetric, so the projection is odd for signed
formats. There is no intermediate rounding to the fixed grid: 6.1 LSB goes to 8, not to 4 (via 6).

``csd_digits(n)`` gives the canonical signed-digit decomposition ``[(sign, shift), ...]`` of any integer
(least significant first), which has the minimal number of non-zero digits among all signed-digit
representations; emitters print one shifted add/sub per digit.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass

import numpy as np

from .fixed import FixedFormat


def csd_digits(n: int) -> list[tuple[int, int]]:
    """Canonical signed digits of integer n: ``[(sign, shift)]``, sign in {+1, -1}, shifts ascending.

    ``sum(sign << shift) == n``; no two shifts are adjacent; the count is minimal over all
    signed-digit forms (the non-adjacent form).
    """
    n = int(n)
    out = []
    shift = 0
    while n != 0:
        if n & 1:
            d = 2 - (n & 3)  # +1 if n = 1 mod 4, -1 if n = 3 mod 4
            out.append((d, shift))
            n -= d
        n >>= 1
        shift += 1
    return out


def csd_digit_count(values) -> np.ndarray:
    """Number of non-zero CSD digits of every integer of ``values`` (int64 array; the one implementation
    that the quantisers, the cost model and the Verilog emitter's adder graphs all use).

    Equals ``len(csd_digits(v))`` element-wise: the non-adjacent form of |v| has a +1 digit at every set bit
    of ``(|v| + |v|>>1) & c`` and a -1 digit at every set bit of ``(|v|>>1) & c``, where
    ``c = (|v| + |v|>>1) ^ (|v|>>1)``. Needs NumPy >= 2 (``np.bitwise_count``); |v| < 2**62.
    """
    v = np.abs(np.asarray(values, dtype=np.int64))
    h = v >> 1
    t = v + h
    c = h ^ t
    return np.bitwise_count(t & c).astype(np.int64) + np.bitwise_count(h & c)


def csd_weight(n: int) -> int:
    """Number of non-zero CSD digits of the integer n (its minimal signed-digit weight)."""
    return len(csd_digits(n))


@functools.lru_cache(maxsize=64)
def _allowed_values(width: int, k: int, lo: int, hi: int) -> tuple[int, ...]:
    """Sorted integers in [lo, hi] with at most k non-zero CSD digits.

    Enumerates non-adjacent digit positions (the CSD form is unique, so each value appears once).
    """
    top = max(abs(lo), abs(hi)).bit_length() + 1  # highest digit position that can matter
    vals: list[int] = []

    def grow(value: int, next_pos: int, left: int) -> None:
        if lo <= value <= hi:
            vals.append(value)
        if left == 0:
            return
        for pos in range(next_pos, top + 1):
            for sign in (1, -1):
                grow(value + sign * (1 << pos), pos + 2, left - 1)

    grow(0, 0, k)
    return tuple(sorted(set(vals)))


MAX_WIDTH = 48


@functools.lru_cache(maxsize=32)
def _set_arrays(k: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(allowed values ascending, their CSD weights) as read-only int64 arrays."""
    vals = np.array(_allowed_values(max(abs(lo), abs(hi)).bit_length(), k, lo, hi), dtype=np.int64)
    weights = np.array([csd_weight(int(v)) for v in vals], dtype=np.int64)
    vals.flags.writeable = False
    weights.flags.writeable = False
    return vals, weights


def nearest_in_set(num, shift: int, k: int, lo: int, hi: int) -> np.ndarray:
    """Nearest value (int64 raws) of the k-digit set in [lo, hi] to ``num / 2**shift`` (exact integers).

    ``num``: int64 or object array; ``shift`` >= 0. Ties: fewer digits, then smaller magnitude.
    """
    vals, weights = _set_arrays(k, lo, hi)
    num = np.asarray(num)
    # Clamp far-out numerators (keeps int64 arithmetic safe; the nearest is then an end of the set).
    lim = (max(abs(lo), abs(hi)) + 2) << shift
    if num.dtype == object or shift > 60 - max(abs(lo), abs(hi)).bit_length():
        res = [_nearest_scalar(int(v), shift, vals, weights) for v in num.ravel()]
        return np.array(res, dtype=np.int64).reshape(num.shape)
    num = np.clip(num.astype(np.int64), -lim, lim)
    t = num >> shift  # floor(num / 2**shift)
    exact = (t << shift) == num
    i_below = np.searchsorted(vals, t, side="right") - 1  # largest value <= num / 2**shift
    i_above = np.searchsorted(vals, np.where(exact, t, t + 1), side="left")  # smallest value >= it
    i_below_c = np.clip(i_below, 0, len(vals) - 1)
    i_above_c = np.clip(i_above, 0, len(vals) - 1)
    i_below_c = np.where(i_below < 0, i_above_c, i_below_c)
    i_above_c = np.where(i_above >= len(vals), i_below_c, i_above_c)
    below, above = vals[i_below_c], vals[i_above_c]
    d_below = np.abs(num - (below << shift))
    d_above = np.abs((above << shift) - num)
    w_below, w_above = weights[i_below_c], weights[i_above_c]
    pick_above = (d_above < d_below) | (
        (d_above == d_below) & ((w_above < w_below) | ((w_above == w_below) & (np.abs(above) < np.abs(below))))
    )
    return np.where(pick_above, above, below)


def _nearest_scalar(num: int, shift: int, vals: np.ndarray, weights: np.ndarray) -> int:
    """Python-int version of ``nearest_in_set`` for one value."""
    t = num >> shift
    exact = (t << shift) == num
    i = bisect.bisect_right(vals.tolist(), t) - 1
    j = bisect.bisect_left(vals.tolist(), t if exact else t + 1)
    cands = [c for c in (i, j) if 0 <= c < len(vals)]
    best = min(cands, key=lambda c: (abs(num - (int(vals[c]) << shift)), int(weights[c]), abs(int(vals[c]))))
    return int(vals[best])


def project_to_csd(raw, k: int, lo: int, hi: int) -> np.ndarray:
    """Nearest integer in [lo, hi] with at most k CSD digits to integers ``raw``; ties as documented."""
    return nearest_in_set(raw, 0, k, lo, hi)


@dataclass(frozen=True)
class CsdFormat:
    """``csd<W,I,k>``: a ``fixed<W,I>`` whose raws have at most k non-zero CSD digits (W <= 48)."""

    width: int
    int_bits: int
    digits: int
    signed: bool = True

    kind = "csd"

    def __post_init__(self) -> None:
        FixedFormat(self.width, self.int_bits, self.signed)  # validates W and I
        if not isinstance(self.digits, int) or self.digits < 1:
            raise ValueError(f"{self}: the digit budget k must be an integer >= 1, got {self.digits!r}")
        if self.width > MAX_WIDTH:
            raise ValueError(f"{self}: CSD formats support W <= {MAX_WIDTH}")
        if self.width > 24 and self.digits > 3:
            raise ValueError(f"{self}: k > 3 is supported up to W = 24 (the value set grows as W**k)")

    def __str__(self) -> str:
        return f"{'csd' if self.signed else 'ucsd'}<{self.width},{self.int_bits},{self.digits}>"

    @property
    def base(self) -> FixedFormat:
        """The register type, ``fixed<W,I>`` (TRN, WRAP: every CSD value fits it exactly)."""
        return FixedFormat(self.width, self.int_bits, self.signed)

    @property
    def frac_bits(self) -> int:
        return self.width - self.int_bits

    def _set(self) -> np.ndarray:
        b = self.base
        return _set_arrays(self.digits, b.raw_min, b.raw_max)[0]

    @property
    def raw_max(self) -> int:
        """Largest representable raw (at most k digits, within the fixed range)."""
        return int(self._set()[-1])

    @property
    def raw_min(self) -> int:
        return int(self._set()[0])

    @property
    def max(self) -> float:
        return float(np.ldexp(float(self.raw_max), -self.frac_bits))

    @property
    def min(self) -> float:
        return float(np.ldexp(float(self.raw_min), -self.frac_bits))

    @property
    def step(self) -> float:
        return self.base.step

    @property
    def needs_object_ints(self) -> bool:
        return False

    def values_raw(self) -> np.ndarray:
        """Every representable raw integer, ascending (int64)."""
        return self._set().copy()

    def project(self, raw) -> np.ndarray:
        """Nearest representable raws to integers ``raw`` (units of this format's LSB)."""
        b = self.base
        return nearest_in_set(raw, 0, self.digits, b.raw_min, b.raw_max)

    def cast_raw(self, raw, from_frac_bits: int) -> np.ndarray:
        """Nearest representable raws to the exact values ``raw * 2**-from_frac_bits`` (int64 out)."""
        b = self.base
        arr = np.asarray(raw)
        shift = int(from_frac_bits) - self.frac_bits
        if shift < 0:
            lim = max(abs(b.raw_min), abs(b.raw_max)) + 2  # beyond this the nearest value is an end of the set
            clipped = (
                np.clip(arr, -lim, lim)
                if arr.dtype != object
                else np.array([max(-lim, min(lim, int(v))) for v in arr.ravel()], dtype=np.int64).reshape(arr.shape)
            )
            return nearest_in_set(np.asarray(clipped, dtype=np.int64) << -shift, 0, self.digits, b.raw_min, b.raw_max)
        return nearest_in_set(arr, shift, self.digits, b.raw_min, b.raw_max)

    def to_raw(self, x, nan: str = "raise") -> np.ndarray:
        """Nearest representable raws to real values (exact for every float64; +-inf saturate).

        The exact position is taken from floor and ceiling of x * 2**(F+2) (exact ap_fixed conversions),
        which locate x relative to every midpoint of the set (midpoints lie on the half-LSB grid).
        """
        x = np.asarray(x)
        fine = FixedFormat(self.width + 4, self.int_bits + 2, self.signed or True, "TRN", "SAT")
        x = np.asarray(x, dtype=np.float64)
        lo4 = fine.to_raw(x, nan=nan)  # floor(4y), saturated
        hi4 = -fine.to_raw(-x, nan=nan)  # ceil(4y), saturated
        num = np.where(lo4 == hi4, 2 * lo4, 2 * lo4 + 1)  # exact point, or a point strictly inside (lo4, hi4)
        b = self.base
        return nearest_in_set(num, 3, self.digits, b.raw_min, b.raw_max)

    def from_raw(self, raw) -> np.ndarray:
        return self.base.from_raw(raw)

    def quantize(self, x, nan: str = "raise") -> np.ndarray:
        return self.from_raw(self.to_raw(x, nan=nan))

    def to_bits(self, raw):
        """W-bit two's complement register patterns (as the base fixed format)."""
        return self.base.to_bits(raw)

    def from_bits(self, bits):
        return self.base.from_bits(bits)

    def digits_of(self, raw: int) -> list[tuple[int, int]]:
        """CSD digits ``[(sign, shift)]`` of one raw weight (shift in LSBs of this format)."""
        return csd_digits(raw)

    def random_raw(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Uniformly random representable raws (each allowed value equally likely)."""
        vals = self._set()
        return vals[rng.integers(0, len(vals), size=shape)]
